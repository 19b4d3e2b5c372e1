/*
 * search.c - finding items: search (global and per agent), near-duplicate
 * pairs, and consolidation (merging them).
 *
 * Search is PostgreSQL full-text search plus pg_trgm.  The query goes
 * through websearch_to_tsquery, which accepts any text (quotes, '-',
 * "or", stray operators) and never raises a syntax error, so a user's
 * string cannot break it.  Candidates are the FTS matches (GIN on the
 * generated tsvector) and, only when those are fewer than the limit, the
 * trigram word-similarity matches (GIN on content, which finds typos and
 * partial words FTS misses; the costlier scan, so skipped when FTS alone
 * fills the answer), each window bounded; they are ranked by ts_rank +
 * word_similarity, and each result
 * says why it matched: match {fts_rank, similarity, terms}, terms being
 * the query's lexemes the item contains.  Recall bumps accessed_at and
 * access_count (notes 7.2) in the same statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"
#include "log.h"
#include "memory.h"
#include "msg.h"
#include "ops.h"
#include "svc.h"
#include "util.h"

#define SEARCH_LIMIT_MAX	100
#define SEARCH_WINDOW		"200"	/* candidates per method */
#define DUP_PAIRS_MAX		"100"
#define MERGES_MAX		100	/* per consolidation (notes 7.2) */

/* $1 query, $2 agent or NULL, $3 level or NULL, $4 min confidence,
 * $5 limit. */
static const char SQL_SEARCH[] =
	"WITH q AS (SELECT websearch_to_tsquery('english', $1) AS tq, "
	"    tsvector_to_array(to_tsvector('english', $1)) AS lex), "
	"f AS (SELECT i.id FROM items i, q WHERE i.deleted_at IS NULL "
	"    AND i.tsv @@ q.tq "
	"    AND ($2::uuid IS NULL OR i.agent_id = $2::uuid) "
	"    AND ($3::text IS NULL OR i.level = $3) "
	"    AND i.confidence >= $4::float8 "
	"    ORDER BY ts_rank(i.tsv, q.tq) DESC LIMIT " SEARCH_WINDOW "), "
	"c AS (SELECT id FROM f UNION "
	"    SELECT i.id FROM items i WHERE (SELECT count(*) FROM f) < "
	"        $5::int AND i.deleted_at IS NULL AND $1 <% i.content "
	"        AND ($2::uuid IS NULL OR i.agent_id = $2::uuid) "
	"        AND ($3::text IS NULL OR i.level = $3) "
	"        AND i.confidence >= $4::float8 "
	"        LIMIT " SEARCH_WINDOW "), "
	"r AS (SELECT i.*, ts_rank(i.tsv, q.tq) AS fts, "
	"    word_similarity($1, i.content) AS sim, "
	"    ARRAY(SELECT unnest(q.lex) INTERSECT "
	"    SELECT unnest(tsvector_to_array(i.tsv))) AS terms "
	"    FROM items i JOIN c USING (id), q), "
	"top AS (SELECT * FROM r ORDER BY fts + sim DESC, confidence DESC, "
	"    id LIMIT $5::int), "
	"bump AS (UPDATE items SET accessed_at = clock_timestamp(), "
	"    access_count = access_count + 1 "
	"    WHERE id IN (SELECT id FROM top)) "
	"SELECT coalesce(json_agg(json_build_object('id', t.id, "
	"    'content', t.content, 'level', t.level, 'category', t.category, "
	"    'metadata', t.metadata, 'source', t.source, "
	"    'confidence', t.confidence, 'agent_id', t.agent_id, "
	"    'user_id', t.user_id, "
	"    'created_at', " MEM_TS("t.created_at") ", "
	"    'updated_at', " MEM_TS("t.updated_at") ", "
	"    'access_count', t.access_count + 1, "
	"    'score', round((t.fts + t.sim)::numeric, 6), "
	"    'match', json_build_object("
	"        'fts_rank', round(t.fts::numeric, 6), "
	"        'similarity', round(t.sim::numeric, 6), "
	"        'terms', to_json(t.terms))) "
	"    ORDER BY t.fts + t.sim DESC, t.confidence DESC, t.id), "
	"    '[]'::json) FROM top t";

/* Pairs of live items of agent $1 with similarity >= $2, best first. */
static const char SQL_DUPS[] =
	"SELECT a.id, b.id, a.content, b.content, a.confidence, "
	"    b.confidence, round(similarity(a.content, b.content)::numeric, "
	"    4) AS sim "
	"FROM items a JOIN items b ON b.agent_id = a.agent_id "
	"    AND a.id < b.id AND a.content % b.content "
	"WHERE a.agent_id = $1::uuid AND a.deleted_at IS NULL "
	"    AND b.deleted_at IS NULL "
	"    AND similarity(a.content, b.content) >= $2::float8 "
	"ORDER BY sim DESC, a.id, b.id LIMIT " DUP_PAIRS_MAX;

/* Merge: drop $1 into $2 (the keeper takes the higher confidence and the
 * sum of the accesses), with a MERGE history row on both. */
static const char SQL_MERGE[] =
	"WITH d AS (UPDATE items SET deleted_at = clock_timestamp() "
	"    WHERE id = $1::uuid AND deleted_at IS NULL "
	"    RETURNING id, content, confidence, access_count), "
	"k AS (UPDATE items k SET confidence = greatest(k.confidence, "
	"    d.confidence), access_count = k.access_count + d.access_count, "
	"    updated_at = clock_timestamp() FROM d WHERE k.id = $2::uuid "
	"    RETURNING k.id, k.content), "
	"h AS (INSERT INTO item_history (item_id, event, old_content, "
	"    new_content) SELECT d.id, 'MERGE', d.content, k.content "
	"    FROM d, k UNION ALL SELECT k.id, 'MERGE', d.content, k.content "
	"    FROM d, k) "
	"SELECT count(*) FROM k";

/* One consolidation of an agent at a time, across every replica: the
 * second waits, then finds the pairs the first left. */
static const char SQL_LOCK[] =
	"SELECT pg_advisory_xact_lock(hashtext('memory.consolidate'), "
	"hashtext($1))";

/*
 * GET /api/memory/search and /api/memory/agents/{id}/search: query q
 * (required, 1-1000 bytes), limit (1-100, 10), level, min_confidence
 * (0-1), agent_id (global route) -> {query, memories: [item + score +
 * match], total}.
 */
static void
search_op(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 agent[UTIL_UUID_LEN], lim[16], conf[32];
	const char	*q = NULL, *level = NULL, *aq = NULL, *p[5];
	long long	 limit = 10;
	double		 minc = 0;
	PGresult	*res;
	json_t		*list;

	agent[0] = '\0';
	if (json_object_get(rq->mr_params, PARAM_ID) != NULL &&
	    svc_param_agent_id(rq, rp, agent) != 0)
		return;
	if (mem_query_str(rq, "q", MEM_QUERY_MAX, &q, rp) != 0 ||
	    mem_query_str(rq, "level", 16, &level, rp) != 0 ||
	    mem_query_str(rq, "agent_id", 64, &aq, rp) != 0 ||
	    mem_query_num(rq, "limit", 1, SEARCH_LIMIT_MAX, &limit, rp) != 0 ||
	    mem_query_real(rq, "min_confidence", 0, 1, &minc, rp) != 0)
		return;
	if (q == NULL) {
		svc_reply_error(rp, 400, "query parameter 'q' is required");
		return;
	}
	if (level != NULL && !mem_level_ok(level)) {
		svc_reply_error(rp, 400, "'level' must be one of user, "
		    "session, agent");
		return;
	}
	if (aq != NULL && agent[0] == '\0') {
		if (!util_uuid_valid(aq)) {
			svc_reply_error(rp, 400, "Invalid agent ID");
			return;
		}
		snprintf(agent, sizeof(agent), "%s", aq);
	}
	if (json_object_get(rq->mr_params, PARAM_ID) != NULL &&
	    mem_agent_known(agent, rp) != 0)
		return;
	snprintf(lim, sizeof(lim), "%lld", limit);
	snprintf(conf, sizeof(conf), "%.6f", minc);
	p[0] = q;
	p[1] = agent[0] != '\0' ? agent : NULL;
	p[2] = level;
	p[3] = conf;
	p[4] = lim;
	if ((res = db_exec(c->sc_db, SQL_SEARCH, 5, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	list = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	svc_reply_json(rp, 200, json_pack("{s:s, s:I, s:o}", "query", q,
	    "total", (json_int_t)json_array_size(list), "memories", list));
}

/* The near-duplicate pairs of agent id at threshold t (text): rows, or
 * NULL after a 503. */
static PGresult *
dup_pairs(struct svc_ctx *c, const char *id, const char *t,
    struct svc_reply *rp)
{
	const char	*p[2] = { id, t };
	PGresult	*res;

	if ((res = db_exec(c->sc_db, SQL_DUPS, 2, p)) == NULL)
		svc_reply_db_error(rp, c);
	return (res);
}

/* threshold from the query (duplicates) or the body (consolidate):
 * 0.3-1, since pg_trgm's % operator (the index) finds nothing below its
 * 0.3 default. */
static int
dup_threshold(const struct msg_req *rq, double def, char out[32],
    struct svc_reply *rp)
{
	double	t = def;

	if (mem_query_real(rq, "threshold", 0.3, 1, &t, rp) != 0 ||
	    (json_is_object(rq->mr_body) && mem_obj_real(rq->mr_body,
	    "threshold", 0.3, 1, &t, rp) != 0))
		return (-1);
	snprintf(out, 32, "%.4f", t);
	return (0);
}

/* GET /api/memory/agents/{id}/duplicates?threshold=0.85 -> {agent_id,
 * threshold, duplicates: [{a: {id, content}, b: {...}, similarity}],
 * count}. */
static void
dups_op(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], t[32];
	PGresult	*res;
	json_t		*list;
	int		 i;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    dup_threshold(rq, 0.85, t, rp) != 0 ||
	    mem_agent_known(id, rp) != 0 ||
	    (res = dup_pairs(c, id, t, rp)) == NULL)
		return;
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		svc_list_add(&list, json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, "
		    "s:f}", "a", "id", PQgetvalue(res, i, 0), "content",
		    PQgetvalue(res, i, 2), "b", "id", PQgetvalue(res, i, 1),
		    "content", PQgetvalue(res, i, 3), "similarity",
		    strtod(PQgetvalue(res, i, 6), NULL)));
	PQclear(res);
	if (list == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:f, s:I, s:o}", "agent_id",
	    id, "threshold", strtod(t, NULL), "count",
	    (json_int_t)json_array_size(list), "duplicates", list));
}

/* 1 if s is among the n ids of v. */
static int
seen(char (*v)[UTIL_UUID_LEN], int n, const char *s)
{
	int	i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return (1);
	return (0);
}

/*
 * POST /api/memory/agents/{id}/consolidate {threshold?: 0.9} -> {agent_id,
 * merged, merges: [{kept, removed, similarity}]}.  Pairs are taken best
 * first; an item merged away (or already kept) in this run is not touched
 * again, so chains never drop both sides.  One transaction, under a lock
 * per agent (SQL_LOCK).
 */
static void
consolidate_op(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], t[32];
	char		 (*touched)[UTIL_UUID_LEN] = NULL;
	const char	*a, *b, *keep, *drop, *p[2];
	PGresult	*res = NULL, *r2;
	json_t		*merges = NULL;
	int		 i, nt = 0, intx = 0;

	if (!json_is_null(rq->mr_body) && !json_is_object(rq->mr_body)) {
		svc_reply_error(rp, 400, "body must be a JSON object");
		return;
	}
	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    dup_threshold(rq, 0.9, t, rp) != 0 ||
	    mem_agent_known(id, rp) != 0)
		return;
	if ((merges = json_array()) == NULL ||
	    (touched = calloc(2 * MERGES_MAX, sizeof(*touched))) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	if (mem_begin(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	intx = 1;
	p[0] = id;
	if ((r2 = db_exec(c->sc_db, SQL_LOCK, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	PQclear(r2);
	if ((res = dup_pairs(c, id, t, rp)) == NULL)
		goto done;
	for (i = 0; i < PQntuples(res) && nt + 2 <= 2 * MERGES_MAX; i++) {
		a = PQgetvalue(res, i, 0);
		b = PQgetvalue(res, i, 1);
		if (seen(touched, nt, a) || seen(touched, nt, b))
			continue;
		/* Keep the higher confidence; on a tie, the first. */
		if (strtod(PQgetvalue(res, i, 5), NULL) >
		    strtod(PQgetvalue(res, i, 4), NULL)) {
			keep = b;
			drop = a;
		} else {
			keep = a;
			drop = b;
		}
		p[0] = drop;
		p[1] = keep;
		if ((r2 = db_exec(c->sc_db, SQL_MERGE, 2, p)) == NULL) {
			svc_reply_db_error(rp, c);
			goto done;
		}
		PQclear(r2);
		snprintf(touched[nt++], UTIL_UUID_LEN, "%s", a);
		snprintf(touched[nt++], UTIL_UUID_LEN, "%s", b);
		svc_list_add(&merges, json_pack("{s:s, s:s, s:f}", "kept",
		    keep, "removed", drop, "similarity",
		    strtod(PQgetvalue(res, i, 6), NULL)));
	}
	if (merges == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	if (mem_commit(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	intx = 0;
	svc_reply_json(rp, 200, json_pack("{s:s, s:f, s:I, s:O}", "agent_id",
	    id, "threshold", strtod(t, NULL), "merged",
	    (json_int_t)json_array_size(merges), "merges", merges));
 done:
	if (intx)
		mem_rollback(c->sc_db);
	PQclear(res);
	json_decref(merges);
	free(touched);
}

const struct svc_op search_ops[] = {
	{ OP_MEMORY_SEARCH, search_op },
	{ OP_MEMORY_DUPLICATES, dups_op },
	{ OP_MEMORY_CONSOLIDATE, consolidate_op },
	{ NULL, NULL }
};
