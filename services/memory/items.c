/*
 * items.c - proactive memory items (notes/kernel.md 7.2): add, list (all,
 * by user, by agent), update, delete, edit history, bulk delete, clear an
 * agent (or one level of it), count, stats, cleanup, decay, export and
 * import.  Search, duplicates and consolidation are in search.c.
 *
 * Table memory.items (sql/003_items.sql).  Every change also writes an
 * item_history row in the same statement or transaction, so the history
 * never misses an edit.  Deletes are soft (deleted_at); cleanup purges.
 * Items are built as JSON by PostgreSQL (ITEM_JSON), so every answer
 * carries the same fields: {id, content, level, category, metadata,
 * source, confidence, agent_id, user_id, created_at, updated_at,
 * accessed_at, access_count}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"
#include "err.h"
#include "log.h"
#include "memory.h"
#include "msg.h"
#include "ops.h"
#include "svc.h"
#include "util.h"

#define ITEMS_LIST_MAX		1000
#define ITEMS_ADD_MAX		100	/* messages in one add */
#define ITEMS_BULK_MAX		1000	/* ids in one bulk delete */
#define ITEMS_IMPORT_MAX	10000	/* items in one import */
#define ITEMS_DUP_THRESHOLD	"0.85"	/* duplicate_threshold (7.2) */

#define ITEM_JSON(t)							\
	"json_build_object('id', " t ".id, 'content', " t ".content, "	\
	"'level', " t ".level, 'category', " t ".category, "		\
	"'metadata', " t ".metadata, 'source', " t ".source, "		\
	"'confidence', " t ".confidence, 'agent_id', " t ".agent_id, "	\
	"'user_id', " t ".user_id, "					\
	"'created_at', " MEM_TS(t ".created_at") ", "			\
	"'updated_at', " MEM_TS(t ".updated_at") ", "			\
	"'accessed_at', " MEM_TS(t ".accessed_at") ", "		\
	"'access_count', " t ".access_count)"

/*
 * Add one item unless a near-duplicate (pg_trgm similarity at least the
 * duplicate threshold, same agent) exists: then that one is answered with
 * event NOOP.  $1 id, $2 agent, $3 user, $4 level, $5 content, $6
 * category, $7 metadata, $8 source, $9 confidence.
 */
static const char SQL_ADD[] =
	"WITH dup AS (SELECT id FROM items WHERE deleted_at IS NULL "
	"    AND agent_id IS NOT DISTINCT FROM $2::uuid AND content % $5 "
	"    AND similarity(content, $5) >= " ITEMS_DUP_THRESHOLD " "
	"    ORDER BY similarity(content, $5) DESC LIMIT 1), "
	"ins AS (INSERT INTO items (id, agent_id, user_id, level, content, "
	"    category, metadata, source, confidence) "
	"    SELECT $1::uuid, $2::uuid, $3, $4, $5, $6, "
	"    coalesce($7::jsonb, '{}'::jsonb), $8, "
	"    coalesce($9::float8, 1.0) "
	"    WHERE NOT EXISTS (SELECT 1 FROM dup) RETURNING *), "
	"h AS (INSERT INTO item_history (item_id, event, new_content) "
	"    SELECT id, 'ADD', content FROM ins) "
	"SELECT 'ADD' AS event, " ITEM_JSON("ins") " AS item FROM ins "
	"UNION ALL SELECT 'NOOP', " ITEM_JSON("i") " FROM items i "
	"    WHERE i.id = (SELECT id FROM dup)";

/* $1 agent, $2 user, $3 level, $4 category, $5 limit, $6 offset. */
static const char SQL_LIST[] =
	"WITH f AS (SELECT * FROM items WHERE deleted_at IS NULL "
	"    AND ($1::uuid IS NULL OR agent_id = $1::uuid) "
	"    AND ($2::text IS NULL OR user_id = $2) "
	"    AND ($3::text IS NULL OR level = $3) "
	"    AND ($4::text IS NULL OR category = $4)) "
	"SELECT (SELECT count(*) FROM f) AS total, "
	"    (SELECT coalesce(json_agg(" ITEM_JSON("x") " ORDER BY "
	"    x.created_at DESC, x.id), '[]'::json) FROM (SELECT * FROM f "
	"    ORDER BY created_at DESC, id LIMIT $5::bigint "
	"    OFFSET $6::bigint) x) AS memories";

/* $1 id, $2 content, $3 metadata, $4 category, $5 level, $6 confidence. */
static const char SQL_UPDATE[] =
	"WITH old AS (SELECT id, content FROM items WHERE id = $1::uuid "
	"    AND deleted_at IS NULL FOR UPDATE), "
	"up AS (UPDATE items i SET content = coalesce($2, i.content), "
	"    metadata = coalesce($3::jsonb, i.metadata), "
	"    category = coalesce($4, i.category), "
	"    level = coalesce($5, i.level), "
	"    confidence = coalesce($6::float8, i.confidence), "
	"    updated_at = clock_timestamp() FROM old WHERE i.id = old.id "
	"    RETURNING i.*, old.content AS old_content), "
	"h AS (INSERT INTO item_history (item_id, event, old_content, "
	"    new_content) SELECT id, 'UPDATE', old_content, content FROM up) "
	"SELECT " ITEM_JSON("up") " AS item FROM up";

/* Soft deletes with a history row: $1 the ids (uuid[] text), $2 the
 * agent they must belong to, or NULL. */
static const char SQL_DELETE_IDS[] =
	"WITH d AS (UPDATE items SET deleted_at = clock_timestamp() "
	"    WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL "
	"    AND ($2::uuid IS NULL OR agent_id = $2::uuid) "
	"    RETURNING id, content), "
	"h AS (INSERT INTO item_history (item_id, event, old_content) "
	"    SELECT id, 'DELETE', content FROM d) "
	"SELECT count(*) FROM d";

/* $1 agent, $2 level or NULL. */
static const char SQL_CLEAR[] =
	"WITH d AS (UPDATE items SET deleted_at = clock_timestamp() "
	"    WHERE agent_id = $1::uuid AND deleted_at IS NULL "
	"    AND ($2::text IS NULL OR level = $2) RETURNING id, content), "
	"h AS (INSERT INTO item_history (item_id, event, old_content) "
	"    SELECT id, 'DELETE', content FROM d) "
	"SELECT count(*) FROM d";

static const char SQL_HISTORY[] =
	"SELECT EXISTS (SELECT 1 FROM items WHERE id = $1::uuid) AS found, "
	"    (SELECT coalesce(json_agg(json_build_object('event', event, "
	"    'old_content', old_content, 'new_content', new_content, "
	"    'created_at', " MEM_TS("created_at") ") ORDER BY seq), "
	"    '[]'::json) FROM item_history WHERE item_id = $1::uuid) "
	"    AS history";

static const char SQL_COUNT[] =
	"SELECT count(*) FROM items WHERE agent_id = $1::uuid "
	"AND deleted_at IS NULL";

/* $1 agent or NULL. */
static const char SQL_STATS[] =
	"SELECT json_build_object('total', count(*), "
	"    'by_level', json_build_object("
	"        'user', count(*) FILTER (WHERE level = 'user'), "
	"        'session', count(*) FILTER (WHERE level = 'session'), "
	"        'agent', count(*) FILTER (WHERE level = 'agent')), "
	"    'agents', count(DISTINCT agent_id), "
	"    'users', count(DISTINCT user_id), "
	"    'avg_confidence', coalesce(round(avg(confidence)::numeric, 4), 0), "
	"    'total_accesses', coalesce(sum(access_count), 0), "
	"    'oldest', " MEM_TS("min(created_at)") ", "
	"    'newest', " MEM_TS("max(created_at)") ", "
	"    'deleted', (SELECT count(*) FROM items d WHERE d.deleted_at IS "
	"        NOT NULL AND ($1::uuid IS NULL OR d.agent_id = $1::uuid)), "
	"    'relations', (SELECT count(*) FROM relations r WHERE "
	"        $1::uuid IS NULL OR r.agent_id = $1::uuid)) AS stats "
	"FROM items WHERE deleted_at IS NULL "
	"    AND ($1::uuid IS NULL OR agent_id = $1::uuid)";

/*
 * Cleanup: session-level items not accessed for $1 hours are deleted
 * (soft, with history); soft-deleted items older than $2 days are purged.
 */
static const char SQL_CLEANUP[] =
	"WITH d AS (UPDATE items SET deleted_at = clock_timestamp() "
	"    WHERE deleted_at IS NULL AND level = 'session' "
	"    AND accessed_at < clock_timestamp() - make_interval(hours => "
	"    $1::int) RETURNING id, content), "
	"h AS (INSERT INTO item_history (item_id, event, old_content) "
	"    SELECT id, 'DELETE', content FROM d), "
	"p AS (DELETE FROM items WHERE deleted_at < clock_timestamp() - "
	"    make_interval(days => $2::int) RETURNING id) "
	"SELECT (SELECT count(*) FROM d) AS removed, "
	"    (SELECT count(*) FROM p) AS purged";

/*
 * Confidence decay (7.2, mechanism 1): every item not accessed for more
 * than a day, except level user (never decays), gets conf x exp(-r x
 * days) with r = $1 / min(1 + log2(max(access_count, 1)), 4).
 */
static const char SQL_DECAY[] =
	"WITH u AS (UPDATE items SET confidence = greatest(0, least(1, "
	"    confidence * exp(-($1::float8 / least(1 + log(2, "
	"    greatest(access_count, 1)::numeric)::float8, 4)) * "
	"    extract(epoch FROM clock_timestamp() - accessed_at) / 86400))) "
	"    WHERE deleted_at IS NULL AND level <> 'user' "
	"    AND accessed_at < clock_timestamp() - interval '1 day' "
	"    RETURNING 1) SELECT count(*) FROM u";

static const char SQL_EXPORT[] =
	"SELECT count(*) AS count, coalesce(json_agg(json_build_object("
	"    'content', content, 'level', level, 'category', category, "
	"    'confidence', confidence, 'created_at', " MEM_TS("created_at")
	", 'updated_at', " MEM_TS("updated_at") ", 'metadata', metadata) "
	"    ORDER BY created_at, id), '[]'::json) AS memories "
	"FROM items WHERE agent_id = $1::uuid AND deleted_at IS NULL";

/* $1 agent, $2 the checked items as a JSON array. */
static const char SQL_IMPORT[] =
	"WITH ins AS (INSERT INTO items (id, agent_id, content, level, "
	"    category, confidence, metadata, created_at, updated_at) "
	"    SELECT gen_random_uuid(), $1::uuid, x.content, "
	"    coalesce(x.level, 'session'), x.category, "
	"    coalesce(x.confidence, 1.0), coalesce(x.metadata, '{}'::jsonb), "
	"    coalesce(x.created_at, clock_timestamp()), "
	"    coalesce(x.updated_at, x.created_at, clock_timestamp()) "
	"    FROM jsonb_to_recordset($2::jsonb) AS x(content text, "
	"    level text, category text, confidence float8, metadata jsonb, "
	"    created_at timestamptz, updated_at timestamptz) "
	"    RETURNING id, content), "
	"h AS (INSERT INTO item_history (item_id, event, new_content) "
	"    SELECT id, 'ADD', content FROM ins) "
	"SELECT count(*) FROM ins";

/* ---- checks ----------------------------------------------------------- */

/* The fields an item may carry, checked: content (required unless
 * partial), level, category, source, confidence, metadata. */
struct item_in {
	const char	*ii_content;
	const char	*ii_level;
	const char	*ii_category;
	const char	*ii_source;
	double		 ii_confidence;	/* < 0: absent */
	char		*ii_metadata;	/* new JSON text, or NULL */
};

static void
item_in_release(struct item_in *ii)
{
	free(ii->ii_metadata);
	ii->ii_metadata = NULL;
}

/* Checks o's item fields into ii: 0, or -1 after a 4xx. */
static int
item_in_parse(json_t *o, int need_content, struct item_in *ii,
    struct svc_reply *rp)
{
	memset(ii, 0, sizeof(*ii));
	ii->ii_confidence = -1;
	if (mem_obj_str(o, "content", MEM_CONTENT_MAX, &ii->ii_content,
	    rp) != 0 ||
	    mem_obj_str(o, "level", 16, &ii->ii_level, rp) != 0 ||
	    mem_obj_str(o, "category", 128, &ii->ii_category, rp) != 0 ||
	    mem_obj_str(o, "source", 256, &ii->ii_source, rp) != 0 ||
	    mem_obj_real(o, "confidence", 0, 1, &ii->ii_confidence, rp) != 0)
		return (-1);
	if (need_content && ii->ii_content == NULL) {
		svc_reply_error(rp, 400, "'content' is required");
		return (-1);
	}
	if (ii->ii_level != NULL && !mem_level_ok(ii->ii_level)) {
		svc_reply_error(rp, 400, "'level' must be one of user, "
		    "session, agent");
		return (-1);
	}
	return (mem_metadata_text(json_object_get(o, "metadata"),
	    &ii->ii_metadata, rp));
}

/* The agent of a request: params.id (a per-agent route), else body or
 * query agent_id; "" when none.  0, or -1 after a 400 or 404. */
static int
req_agent(const struct msg_req *rq, json_t *from, char id[UTIL_UUID_LEN],
    struct svc_reply *rp)
{
	const char	*s;

	id[0] = '\0';
	if (json_object_get(rq->mr_params, PARAM_ID) != NULL)
		return (svc_param_agent_id(rq, rp, id));
	if ((s = json_string_value(json_object_get(from, "agent_id"))) ==
	    NULL) {
		if (json_object_get(from, "agent_id") != NULL &&
		    !json_is_null(json_object_get(from, "agent_id"))) {
			svc_reply_error(rp, 400, "Invalid agent ID");
			return (-1);
		}
		return (0);
	}
	if (!util_uuid_valid(s)) {
		svc_reply_error(rp, 400, "Invalid agent ID");
		return (-1);
	}
	snprintf(id, UTIL_UUID_LEN, "%s", s);
	return (0);
}

/* ---- operations ------------------------------------------------------- */

/* Adds one item in the open transaction: its {event, item} (new) or NULL
 * after a reply. */
static json_t *
add_one(struct svc_ctx *c, const char *agent, const char *user,
    const struct item_in *ii, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], conf[32];
	const char	*p[9];
	PGresult	*res;
	json_t		*o;

	util_uuid4(id);
	snprintf(conf, sizeof(conf), "%.6f", ii->ii_confidence);
	p[0] = id;
	p[1] = agent[0] != '\0' ? agent : NULL;
	p[2] = user;
	p[3] = ii->ii_level != NULL ? ii->ii_level : "session";
	p[4] = ii->ii_content;
	p[5] = ii->ii_category;
	p[6] = ii->ii_metadata;
	p[7] = ii->ii_source;
	p[8] = ii->ii_confidence >= 0 ? conf : NULL;
	if ((res = db_exec(c->sc_db, SQL_ADD, 9, p)) == NULL ||
	    PQntuples(res) != 1) {
		PQclear(res);
		svc_reply_db_error(rp, c);
		return (NULL);
	}
	o = db_row_json(res, 0);
	PQclear(res);
	if (o == NULL)
		svc_reply_error(rp, 500, "out of memory");
	return (o);
}

/*
 * POST /api/memory: {content | messages: [{role, content}], agent_id?,
 * user_id?, level?, category?, metadata?, source?, confidence?} ->
 * {added, memories: [item + event]}.  Rule-based extraction: each
 * non-empty message (any role but system) is one candidate; a candidate
 * that nearly duplicates a kept item is not added again (event NOOP).
 * All or nothing: one transaction.
 */
static void
items_op_add(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const fields[] = { "content", "messages",
	    "agent_id", "user_id", "level", "category", "metadata", "source",
	    "confidence", NULL };
	char		 agent[UTIL_UUID_LEN];
	struct item_in	 ii, mi;
	const char	*user = NULL, *role;
	json_t		*b = rq->mr_body, *msgs, *m, *out = NULL, *r;
	size_t		 i;
	long long	 added = 0;
	int		 intx = 0;

	memset(&ii, 0, sizeof(ii));
	if (!json_is_object(b)) {
		svc_reply_error(rp, 400, "body must be a JSON object");
		return;
	}
	msgs = json_object_get(b, "messages");
	if (svc_known_fields(b, fields, rp) != 0 ||
	    req_agent(rq, b, agent, rp) != 0 ||
	    mem_obj_str(b, "user_id", 256, &user, rp) != 0 ||
	    item_in_parse(b, msgs == NULL, &ii, rp) != 0)
		goto done;
	if (msgs != NULL && (!json_is_array(msgs) ||
	    json_array_size(msgs) == 0 ||
	    json_array_size(msgs) > ITEMS_ADD_MAX)) {
		svc_reply_error(rp, 400, "'messages' must be an array of 1-%d "
		    "messages", ITEMS_ADD_MAX);
		goto done;
	}
	if (agent[0] != '\0' && mem_agent_known(agent, rp) != 0)
		goto done;
	if ((out = json_array()) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	if (mem_begin(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	intx = 1;
	if (msgs == NULL) {
		if ((r = add_one(c, agent, user, &ii, rp)) == NULL)
			goto done;
		json_array_append_new(out, r);
	}
	json_array_foreach(msgs, i, m) {
		role = json_string_value(json_object_get(m, "role"));
		if (!json_is_object(m)) {
			svc_reply_error(rp, 400, "messages[%zu] must be an "
			    "object {role, content}", i);
			goto done;
		}
		mi = ii;
		mi.ii_content = NULL;
		if (mem_obj_str(m, "content", MEM_CONTENT_MAX, &mi.ii_content,
		    rp) != 0)
			goto done;
		if (mi.ii_content == NULL || (role != NULL &&
		    strcmp(role, "system") == 0))
			continue;
		if ((r = add_one(c, agent, user, &mi, rp)) == NULL)
			goto done;
		json_array_append_new(out, r);
	}
	if (mem_commit(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	intx = 0;
	json_array_foreach(out, i, r)
		if (strcmp(json_string_value(json_object_get(r, "event")),
		    "ADD") == 0)
			added++;
	svc_reply_json(rp, 200, json_pack("{s:I, s:O}", "added",
	    (json_int_t)added, "memories", out));
 done:
	if (intx)
		mem_rollback(c->sc_db);
	json_decref(out);
	item_in_release(&ii);
}

/*
 * GET /api/memory, /api/memory/user/{user_id}, /api/memory/agents/{id}:
 * {memories, total, limit, offset} (and agent_id or user_id when the
 * path names one); query level, category, limit (1-1000, 50), offset;
 * on /api/memory also agent_id and user_id.
 */
static void
items_op_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 agent[UTIL_UUID_LEN], lim[24], off[24];
	const char	*user = NULL, *level = NULL, *cat = NULL, *p[6];
	long long	 limit = 50, offset = 0;
	PGresult	*res;
	json_t		*o, *uv;

	if (req_agent(rq, rq->mr_query, agent, rp) != 0 ||
	    mem_query_str(rq, "user_id", 256, &user, rp) != 0 ||
	    mem_query_str(rq, "level", 16, &level, rp) != 0 ||
	    mem_query_str(rq, "category", 128, &cat, rp) != 0 ||
	    mem_query_num(rq, "limit", 1, ITEMS_LIST_MAX, &limit, rp) != 0 ||
	    mem_query_num(rq, "offset", 0, 1000000000LL, &offset, rp) != 0)
		return;
	if ((uv = json_object_get(rq->mr_params, "user_id")) != NULL) {
		user = json_string_value(uv);
		if (user == NULL || *user == '\0' || strlen(user) > 256) {
			svc_reply_error(rp, 400, "Invalid user ID");
			return;
		}
	}
	if (level != NULL && !mem_level_ok(level)) {
		svc_reply_error(rp, 400, "'level' must be one of user, "
		    "session, agent");
		return;
	}
	if (json_object_get(rq->mr_params, PARAM_ID) != NULL &&
	    mem_agent_known(agent, rp) != 0)
		return;
	snprintf(lim, sizeof(lim), "%lld", limit);
	snprintf(off, sizeof(off), "%lld", offset);
	p[0] = agent[0] != '\0' ? agent : NULL;
	p[1] = user;
	p[2] = level;
	p[3] = cat;
	p[4] = lim;
	p[5] = off;
	if ((res = db_exec(c->sc_db, SQL_LIST, 6, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	o = db_row_json(res, 0);
	PQclear(res);
	if (o != NULL) {
		json_object_set_new(o, "limit", json_integer(limit));
		json_object_set_new(o, "offset", json_integer(offset));
		if (json_object_get(rq->mr_params, PARAM_ID) != NULL)
			json_object_set_new(o, "agent_id", json_string(agent));
		if (uv != NULL)
			json_object_set_new(o, "user_id", json_string(user));
	}
	svc_reply_json(rp, 200, o);
}

/* PUT /api/memory/items/{memory_id} {content?, metadata?, category?,
 * level?, confidence?} -> the item; 404 when there is none. */
static void
items_op_update(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const fields[] = { "content", "metadata",
	    "category", "level", "confidence", NULL };
	char		 id[UTIL_UUID_LEN], conf[32];
	struct item_in	 ii;
	const char	*p[6];
	PGresult	*res;
	json_t		*item;

	memset(&ii, 0, sizeof(ii));
	if (svc_param_uuid(rq, "memory_id", "memory ID", id, rp) != 0)
		return;
	if (!json_is_object(rq->mr_body) || json_object_size(rq->mr_body) ==
	    0) {
		svc_reply_error(rp, 400, "body must be an object with at "
		    "least one of content, metadata, category, level, "
		    "confidence");
		return;
	}
	if (svc_known_fields(rq->mr_body, fields, rp) != 0 ||
	    item_in_parse(rq->mr_body, 0, &ii, rp) != 0)
		goto done;
	snprintf(conf, sizeof(conf), "%.6f", ii.ii_confidence);
	p[0] = id;
	p[1] = ii.ii_content;
	p[2] = ii.ii_metadata;
	p[3] = ii.ii_category;
	p[4] = ii.ii_level;
	p[5] = ii.ii_confidence >= 0 ? conf : NULL;
	if ((res = db_exec(c->sc_db, SQL_UPDATE, 6, p)) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		svc_reply_error(rp, 404, "Memory not found");
		goto done;
	}
	item = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	svc_reply_json(rp, 200, item);
 done:
	item_in_release(&ii);
}

/* Soft-deletes the ids in arr (text "{a,b}") of agent (NULL: any): the
 * count, or -1 (503). */
static long long
delete_ids(struct svc_ctx *c, const char *arr, const char *agent,
    struct svc_reply *rp)
{
	const char	*p[2] = { arr, agent };
	PGresult	*res;
	long long	 n;

	if ((res = db_exec(c->sc_db, SQL_DELETE_IDS, 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (n);
}

/* DELETE /api/memory/items/{memory_id} -> {status: "deleted", id}.  With
 * params.id (an agent's own tool) only that agent's item is deleted:
 * another's is "not found". */
static void
items_op_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], arr[UTIL_UUID_LEN + 2];
	char		 agent[UTIL_UUID_LEN];
	long long	 n;

	if (svc_param_uuid(rq, "memory_id", "memory ID", id, rp) != 0 ||
	    req_agent(rq, NULL, agent, rp) != 0)
		return;
	snprintf(arr, sizeof(arr), "{%s}", id);
	if ((n = delete_ids(c, arr, agent[0] != '\0' ? agent : NULL, rp)) < 0)
		return;
	if (n == 0)
		svc_reply_error(rp, 404, "Memory not found");
	else
		svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status",
		    "deleted", "id", id));
}

/* GET /api/memory/items/{memory_id}/history -> {memory_id, history:
 * [{event, old_content, new_content, created_at}]}. */
static void
items_op_history(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1];
	PGresult	*res;
	json_t		*o;

	if (svc_param_uuid(rq, "memory_id", "memory ID", id, rp) != 0)
		return;
	p[0] = id;
	if ((res = db_exec(c->sc_db, SQL_HISTORY, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQgetvalue(res, 0, 0)[0] != 't') {
		PQclear(res);
		svc_reply_error(rp, 404, "Memory not found");
		return;
	}
	o = json_pack("{s:s, s:o}", "memory_id", id, "history",
	    json_loads(PQgetvalue(res, 0, 1), 0, NULL));
	PQclear(res);
	svc_reply_json(rp, 200, o);
}

/* POST /api/memory/bulk-delete {ids: [uuid, ...]} -> {deleted,
 * requested}.  Every id is checked before anything is deleted. */
static void
items_op_bulk_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const fields[] = { "ids", NULL };
	json_t		*ids = json_object_get(rq->mr_body, "ids"), *v;
	char		*arr = NULL;
	size_t		 i, n, off = 0;
	long long	 del;

	if (!json_is_object(rq->mr_body) ||
	    svc_known_fields(rq->mr_body, fields, rp) != 0)
		goto bad;
	if (!json_is_array(ids) || (n = json_array_size(ids)) == 0 ||
	    n > ITEMS_BULK_MAX) {
		svc_reply_error(rp, 400, "'ids' must be an array of 1-%d "
		    "memory IDs", ITEMS_BULK_MAX);
		return;
	}
	json_array_foreach(ids, i, v)
		if (!json_is_string(v) ||
		    !util_uuid_valid(json_string_value(v))) {
			svc_reply_error(rp, 400, "ids[%zu] is not a memory ID",
			    i);
			return;
		}
	if ((arr = malloc(n * UTIL_UUID_LEN + 3)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	arr[off++] = '{';
	json_array_foreach(ids, i, v)
		off += (size_t)snprintf(arr + off, UTIL_UUID_LEN + 1, "%s%s",
		    i > 0 ? "," : "", json_string_value(v));
	arr[off++] = '}';
	arr[off] = '\0';
	if ((del = delete_ids(c, arr, NULL, rp)) >= 0)
		svc_reply_json(rp, 200, json_pack("{s:I, s:I}", "deleted",
		    (json_int_t)del, "requested", (json_int_t)n));
	free(arr);
	return;
 bad:
	if (rp->sr_body == NULL)
		svc_reply_error(rp, 400, "body must be {\"ids\": [...]}");
}

/* DELETE /api/memory/agents/{id} and /api/memory/agents/{id}/level/{level}
 * -> {agent_id, level?, deleted}. */
static void
items_op_clear(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*level = NULL, *p[2];
	json_t		*lv = json_object_get(rq->mr_params, "level"), *o;
	PGresult	*res;

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	if (lv != NULL && !mem_level_ok(level = json_string_value(lv))) {
		svc_reply_error(rp, 400, "level must be one of user, session, "
		    "agent");
		return;
	}
	if (mem_agent_known(id, rp) != 0)
		return;
	p[0] = id;
	p[1] = level;
	if ((res = db_exec(c->sc_db, SQL_CLEAR, 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	o = json_pack("{s:s, s:I}", "agent_id", id, "deleted",
	    (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10));
	PQclear(res);
	if (o != NULL && level != NULL)
		json_object_set_new(o, "level", json_string(level));
	svc_reply_json(rp, 200, o);
}

/* GET /api/memory/agents/{id}/count -> {agent_id, count}. */
static void
items_op_count(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	PGresult	*res;

	if ((res = mem_agent_exec(c, rq, SQL_COUNT, id, rp)) == NULL)
		return;
	svc_reply_json(rp, 200, json_pack("{s:s, s:I}", "agent_id", id,
	    "count", (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
	PQclear(res);
}

/* GET /api/memory/stats and /api/memory/agents/{id}/stats. */
static void
items_op_stats(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1];
	PGresult	*res;
	json_t		*o;

	if (req_agent(rq, NULL, id, rp) != 0 ||
	    (id[0] != '\0' && mem_agent_known(id, rp) != 0))
		return;
	p[0] = id[0] != '\0' ? id : NULL;
	if ((res = db_exec(c->sc_db, SQL_STATS, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	o = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (o != NULL && id[0] != '\0')
		json_object_set_new(o, "agent_id", json_string(id));
	svc_reply_json(rp, 200, o);
}

/* POST /api/memory/cleanup {session_ttl_hours?: 24, retention_days?: 30}
 * -> {removed, purged}. */
static void
items_op_cleanup(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const fields[] = { "session_ttl_hours",
	    "retention_days", NULL };
	double		 ttl = 24, ret = 30;
	char		 a[24], b[24];
	const char	*p[2];
	json_t		*body = rq->mr_body;
	PGresult	*res;

	if (!json_is_null(body) && !json_is_object(body)) {
		svc_reply_error(rp, 400, "body must be a JSON object");
		return;
	}
	if ((json_is_object(body) && svc_known_fields(body, fields, rp) != 0) ||
	    mem_obj_real(body, "session_ttl_hours", 1, 87600, &ttl, rp) != 0 ||
	    mem_obj_real(body, "retention_days", 0, 3650, &ret, rp) != 0)
		return;
	snprintf(a, sizeof(a), "%d", (int)ttl);
	snprintf(b, sizeof(b), "%d", (int)ret);
	p[0] = a;
	p[1] = b;
	if ((res = db_exec(c->sc_db, SQL_CLEANUP, 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, db_row_json(res, 0));
	PQclear(res);
}

int
items_decay(struct db *db, double rate, long long *n)
{
	char		 r[32];
	const char	*p[1];
	PGresult	*res;

	snprintf(r, sizeof(r), "%.6f", rate);
	p[0] = r;
	if ((res = db_exec(db, SQL_DECAY, 1, p)) == NULL)
		return (-1);
	*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (0);
}

/* POST /api/memory/decay {rate?: 0.01} -> {decayed, rate}. */
static void
items_op_decay(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const fields[] = { "rate", NULL };
	double		 rate = 0.01;
	long long	 n;
	json_t		*body = rq->mr_body;

	if (!json_is_null(body) && !json_is_object(body)) {
		svc_reply_error(rp, 400, "body must be a JSON object");
		return;
	}
	if ((json_is_object(body) && svc_known_fields(body, fields, rp) != 0) ||
	    mem_obj_real(body, "rate", 0, 10, &rate, rp) != 0)
		return;
	if (items_decay(c->sc_db, rate, &n) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:I, s:f}", "decayed",
	    (json_int_t)n, "rate", rate));
}

/* GET /api/memory/agents/{id}/export -> {agent_id, count, memories}. */
static void
items_op_export(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	PGresult	*res;
	json_t		*o;

	if ((res = mem_agent_exec(c, rq, SQL_EXPORT, id, rp)) == NULL)
		return;
	o = db_row_json(res, 0);
	PQclear(res);
	if (o != NULL)
		json_object_set_new(o, "agent_id", json_string(id));
	svc_reply_json(rp, 200, o);
}

/* 1 if o[k] is absent, null or an RFC 3339 string. */
static int
ts_ok(json_t *o, const char *k)
{
	json_t	*v = json_object_get(o, k);
	int64_t	 ms;

	if (v == NULL || json_is_null(v))
		return (1);
	return (json_is_string(v) &&
	    util_rfc3339_parse(json_string_value(v), &ms) == 0);
}

/*
 * POST /api/memory/agents/{id}/import, a JSON array of exported items
 * -> {imported, agent_id}.  Every item is checked first; then one
 * statement inserts them all, so a bad item writes nothing.
 */
static void
items_op_import(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const fields[] = { "content", "level", "category",
	    "confidence", "created_at", "updated_at", "metadata", NULL };
	char		 id[UTIL_UUID_LEN], *text = NULL;
	struct item_in	 ii;
	const char	*p[2];
	json_t		*arr = rq->mr_body, *it, *clean = NULL, *o;
	size_t		 i;
	PGresult	*res;

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	if (!json_is_array(arr) || json_array_size(arr) > ITEMS_IMPORT_MAX) {
		svc_reply_error(rp, 400, "body must be a JSON array of at most "
		    "%d memories", ITEMS_IMPORT_MAX);
		return;
	}
	if ((clean = json_array()) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	json_array_foreach(arr, i, it) {
		if (!json_is_object(it)) {
			svc_reply_error(rp, 400, "memories[%zu] must be an "
			    "object", i);
			goto done;
		}
		if (svc_known_fields(it, fields, rp) != 0 ||
		    item_in_parse(it, 1, &ii, rp) != 0)
			goto done;
		item_in_release(&ii);
		if (!ts_ok(it, "created_at") || !ts_ok(it, "updated_at")) {
			svc_reply_error(rp, 400, "memories[%zu]: timestamps "
			    "must be RFC 3339", i);
			goto done;
		}
		if (json_array_append(clean, it) != 0) {
			svc_reply_error(rp, 500, "out of memory");
			goto done;
		}
	}
	if (mem_agent_known(id, rp) != 0)
		goto done;
	if ((text = json_dumps(clean, MSG_JSON_FLAGS)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	p[0] = id;
	p[1] = text;
	if ((res = db_exec(c->sc_db, SQL_IMPORT, 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	o = json_pack("{s:I, s:s}", "imported",
	    (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10), "agent_id",
	    id);
	PQclear(res);
	svc_reply_json(rp, 200, o);
 done:
	free(text);
	json_decref(clean);
}

const struct svc_op items_ops[] = {
	{ OP_MEMORY_ITEMS_ADD, items_op_add },
	{ OP_MEMORY_ITEMS_LIST, items_op_list },
	{ OP_MEMORY_ITEMS_UPDATE, items_op_update },
	{ OP_MEMORY_ITEMS_DELETE, items_op_delete },
	{ OP_MEMORY_ITEMS_HISTORY, items_op_history },
	{ OP_MEMORY_ITEMS_BULK_DELETE, items_op_bulk_delete },
	{ OP_MEMORY_ITEMS_CLEAR, items_op_clear },
	{ OP_MEMORY_ITEMS_COUNT, items_op_count },
	{ OP_MEMORY_STATS, items_op_stats },
	{ OP_MEMORY_CLEANUP, items_op_cleanup },
	{ OP_MEMORY_DECAY, items_op_decay },
	{ OP_MEMORY_EXPORT, items_op_export },
	{ OP_MEMORY_IMPORT, items_op_import },
	{ NULL, NULL }
};
