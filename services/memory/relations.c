/*
 * relations.c - the knowledge graph of an agent's memory: triples
 * (source) -[relation]-> (target), stored and queried per agent.
 *
 * Table memory.relations (sql/003_items.sql), unique per (agent, source,
 * relation, target): storing a triple again updates its confidence and
 * metadata.  A batch is checked whole, then written by one statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"
#include "memory.h"
#include "msg.h"
#include "ops.h"
#include "svc.h"
#include "util.h"

#define REL_BATCH_MAX	1000
#define REL_LIST_MAX	1000

/* $1 agent, $2 the triples (JSON array).  DISTINCT ON: a triple twice in
 * one batch would make ON CONFLICT touch a row twice, an error; the last
 * one wins, as if stored one after the other. */
static const char SQL_STORE[] =
	"WITH e AS (SELECT j->>'source' AS source, j->>'relation' AS "
	"    relation, j->>'target' AS target, (j->>'confidence')::float8 "
	"    AS confidence, nullif(j->'metadata', 'null') AS metadata, n "
	"    FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(j, n)), "
	"x AS (SELECT DISTINCT ON (source, relation, target) * FROM e "
	"    ORDER BY source, relation, target, n DESC), "
	"ins AS (INSERT INTO relations (id, agent_id, source, relation, "
	"    target, confidence, metadata) SELECT gen_random_uuid(), "
	"    $1::uuid, source, relation, target, coalesce(confidence, 1.0), "
	"    coalesce(metadata, '{}'::jsonb) FROM x "
	"    ON CONFLICT (agent_id, source, relation, target) DO UPDATE "
	"    SET confidence = EXCLUDED.confidence, "
	"    metadata = EXCLUDED.metadata RETURNING 1) "
	"SELECT count(*) FROM ins";

/* $1 agent, $2 entity or NULL, $3 relation or NULL, $4 limit. */
static const char SQL_QUERY[] =
	"WITH r AS (SELECT * FROM relations WHERE agent_id = $1::uuid "
	"    AND ($2::text IS NULL OR source = $2 OR target = $2) "
	"    AND ($3::text IS NULL OR relation = $3) "
	"    ORDER BY created_at, id LIMIT $4::int) "
	"SELECT coalesce((SELECT json_agg(json_build_object('id', id, "
	"    'source', source, 'relation', relation, 'target', target, "
	"    'confidence', confidence, 'metadata', metadata, "
	"    'created_at', " MEM_TS("created_at") ") ORDER BY created_at, id) "
	"    FROM r), '[]'::json), "
	"    coalesce((SELECT json_agg(DISTINCT e) FROM (SELECT source AS e "
	"    FROM r UNION SELECT target FROM r) n), '[]'::json)";

/* Checks one triple: 0, or -1 after a 400. */
static int
rel_check(json_t *t, size_t i, struct svc_reply *rp)
{
	static const char *const fields[] = { "source", "relation", "target",
	    "confidence", "metadata", NULL };
	const char	*k, *s;
	json_t		*v;
	size_t		 j;
	double		 conf;
	char		*md = NULL;

	if (!json_is_object(t)) {
		svc_reply_error(rp, 400, "relations[%zu] must be an object "
		    "{source, relation, target}", i);
		return (-1);
	}
	json_object_foreach(t, k, v) {
		for (j = 0; fields[j] != NULL && strcmp(fields[j], k) != 0;
		    j++)
			;
		if (fields[j] == NULL) {
			svc_reply_error(rp, 400, "relations[%zu]: unknown "
			    "field '%.64s'", i, k);
			return (-1);
		}
	}
	for (j = 0; j < 3; j++) {
		s = NULL;
		if (mem_obj_str(t, fields[j], j == 1 ? 128 : 512, &s, rp) != 0)
			return (-1);
		if (s == NULL) {
			svc_reply_error(rp, 400, "relations[%zu]: '%s' is "
			    "required", i, fields[j]);
			return (-1);
		}
	}
	if (mem_obj_real(t, "confidence", 0, 1, &conf, rp) != 0 ||
	    mem_metadata_text(json_object_get(t, "metadata"), &md, rp) != 0)
		return (-1);
	free(md);
	return (0);
}

/* POST /api/memory/agents/{id}/relations {relations: [{source, relation,
 * target, confidence?, metadata?}]} (or one triple) -> {agent_id,
 * stored}. */
static void
rel_op_store(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], *text;
	const char	*p[2];
	json_t		*list, *t;
	size_t		 i;
	PGresult	*res;

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	if (!json_is_object(rq->mr_body)) {
		svc_reply_error(rp, 400, "body must be {\"relations\": "
		    "[{source, relation, target}]}");
		return;
	}
	if ((list = json_object_get(rq->mr_body, "relations")) != NULL) {
		if (json_object_size(rq->mr_body) != 1) {
			svc_reply_error(rp, 400, "body must be {\"relations\": "
			    "[...]} alone");
			return;
		}
		json_incref(list);
	} else
		list = json_pack("[O]", rq->mr_body);
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > REL_BATCH_MAX) {
		json_decref(list);
		svc_reply_error(rp, 400, "'relations' must be an array of 1-%d "
		    "triples", REL_BATCH_MAX);
		return;
	}
	json_array_foreach(list, i, t)
		if (rel_check(t, i, rp) != 0) {
			json_decref(list);
			return;
		}
	if (mem_agent_known(id, rp) != 0) {
		json_decref(list);
		return;
	}
	text = json_dumps(list, MSG_JSON_FLAGS);
	json_decref(list);
	if (text == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	p[0] = id;
	p[1] = text;
	res = db_exec(c->sc_db, SQL_STORE, 2, p);
	free(text);
	if (res == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:I}", "agent_id", id,
	    "stored", (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
	PQclear(res);
}

/* GET /api/memory/agents/{id}/relations?entity=&relation=&limit= ->
 * {agent_id, relations, entities, count}. */
static void
rel_op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], lim[16];
	const char	*entity = NULL, *rel = NULL, *p[4];
	long long	 limit = 200;
	PGresult	*res;
	json_t		*r, *e;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    mem_query_str(rq, "entity", 512, &entity, rp) != 0 ||
	    mem_query_str(rq, "relation", 128, &rel, rp) != 0 ||
	    mem_query_num(rq, "limit", 1, REL_LIST_MAX, &limit, rp) != 0 ||
	    mem_agent_known(id, rp) != 0)
		return;
	snprintf(lim, sizeof(lim), "%lld", limit);
	p[0] = id;
	p[1] = entity;
	p[2] = rel;
	p[3] = lim;
	if ((res = db_exec(c->sc_db, SQL_QUERY, 4, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	r = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	e = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	PQclear(res);
	svc_reply_json(rp, 200, json_pack("{s:s, s:I, s:o, s:o}", "agent_id",
	    id, "count", (json_int_t)json_array_size(r), "relations", r,
	    "entities", e));
}

const struct svc_op relations_ops[] = {
	{ OP_MEMORY_RELATIONS_GET, rel_op_get },
	{ OP_MEMORY_RELATIONS_STORE, rel_op_store },
	{ NULL, NULL }
};
