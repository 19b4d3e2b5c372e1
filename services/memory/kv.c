/*
 * kv.c - per-agent key-value memory: memory.kv.get, .set, .delete, .list,
 * .pairs (the route's {kv_pairs}), .export and .import.
 *
 * Table memory.kv (sql/002_kv.sql): (agent_id, key) -> value jsonb.
 * params.id is the agent id (a UUID), params.key the key; set takes
 * body {"value": <any JSON>}.  Whether an agent may touch a key is the
 * caller's business (the runtime checks the manifest's memory globs);
 * here only the shapes are checked.
 *
 * Every write is published on TOPIC_EVENTS as MemoryUpdate {operation
 * (created, updated, deleted), key, agent_id} (notes/kernel.md 2.1), at
 * the depth of the caller's event_depth (a trigger's turn), for the
 * triggers' memory patterns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"
#include "err.h"
#include "memory.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "svc.h"
#include "util.h"

#define KV_KEY_MAX	1024
#define KV_VALUE_MAX	(1024 * 1024)
#define KV_LIST_MAX	1000

#define KV_TS								\
	"to_char(updated_at AT TIME ZONE 'UTC', "			\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS updated_at"

static const char SQL_GET[] =
	"SELECT key, value, " KV_TS " FROM kv "
	"WHERE agent_id = $1::uuid AND key = $2";
static const char SQL_SET[] =
	"INSERT INTO kv (agent_id, key, value) VALUES ($1::uuid, $2, $3::jsonb) "
	"ON CONFLICT (agent_id, key) DO UPDATE SET value = EXCLUDED.value, "
	"    updated_at = clock_timestamp() "
	"RETURNING (xmax = 0)";		/* true: the row is new */
static const char SQL_DELETE[] =
	"DELETE FROM kv WHERE agent_id = $1::uuid AND key = $2 RETURNING key";
static const char SQL_LIST[] =
	"SELECT key FROM kv WHERE agent_id = $1::uuid ORDER BY key "
	"LIMIT $2::bigint OFFSET $3::bigint";
static const char SQL_COUNT[] =
	"SELECT count(*) FROM kv WHERE agent_id = $1::uuid";
static const char SQL_PAIRS[] =
	"SELECT key, value FROM kv WHERE agent_id = $1::uuid ORDER BY key "
	"LIMIT $2::bigint OFFSET $3::bigint";
static const char SQL_EXPORT[] =
	"SELECT coalesce(json_object_agg(key, value ORDER BY key), "
	"'{}'::json) FROM kv WHERE agent_id = $1::uuid";
static const char SQL_CLEAR[] =
	"DELETE FROM kv WHERE agent_id = $1::uuid";

/* The MemoryUpdate event of a write, on TOPIC_EVENTS. */
static void
kv_publish(const struct msg_req *rq, const char *id, const char *op,
    const char *key)
{
	json_t	*ev, *v = json_object_get(rq->mr_caller, "event_depth");
	int	 depth = 0;

	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= 1000)
		depth = (int)json_integer_value(v);
	if ((ev = msg_event(id, "MemoryUpdate", json_pack("{s:s, s:s, s:s}",
	    "operation", op, "key", key, "agent_id", id), depth)) == NULL)
		return;
	memory_publish(TOPIC_EVENTS, ev);
	json_decref(ev);
}

/* params.key: 1..KV_KEY_MAX bytes, no control characters. */
static const char *
kv_param_key(const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*v = json_object_get(rq->mr_params, PARAM_KEY);
	const char	*s = json_string_value(v);
	size_t		 i, n;

	if (s == NULL || (n = json_string_length(v)) == 0 || n > KV_KEY_MAX ||
	    strlen(s) != n) {
		svc_reply_error(rp, 400, "'key' must be a string of 1-%d bytes",
		    KV_KEY_MAX);
		return (NULL);
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			svc_reply_error(rp, 400, "'key' must not contain "
			    "control characters");
			return (NULL);
		}
	return (s);
}

/* params.id into id and params.key (borrowed) into *keyp: 0, or -1 after
 * a 400. */
static int
kv_params(const struct msg_req *rq, char id[UTIL_UUID_LEN], const char **keyp,
    struct svc_reply *rp)
{
	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    (*keyp = kv_param_key(rq, rp)) == NULL)
		return (-1);
	return (0);
}

/* Runs sql ($1 params.id, $2 params.key): its rows, with the agent in id
 * and the key in *keyp, or NULL after a 400, a 503 or a 404 (no row). */
static PGresult *
kv_key_exec(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp,
    const char *sql, char id[UTIL_UUID_LEN], const char **keyp)
{
	const char	*key, *p[2];
	PGresult	*res;

	if (kv_params(rq, id, &key, rp) != 0)
		return (NULL);
	p[0] = id;
	p[1] = key;
	if ((res = db_exec(c->sc_db, sql, 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return (NULL);
	}
	if (PQntuples(res) == 0) {
		svc_reply_error(rp, 404, "Key '%.200s' not found", key);
		PQclear(res);
		return (NULL);
	}
	*keyp = key;
	return (res);
}

static void
kv_op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*key;
	PGresult	*res;

	if ((res = kv_key_exec(c, rq, rp, SQL_GET, id, &key)) == NULL)
		return;
	svc_reply_json(rp, 200, db_row_json(res, 0));
	PQclear(res);
}

static void
kv_op_set(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], *text;
	const char	*key, *p[3], *k;
	json_t		*v;
	PGresult	*res;

	if (kv_params(rq, id, &key, rp) != 0)
		return;
	if (!json_is_object(rq->mr_body) ||
	    (v = json_object_get(rq->mr_body, "value")) == NULL) {
		svc_reply_error(rp, 400, "body must be {\"value\": <any "
		    "JSON>}");
		return;
	}
	json_object_foreach(rq->mr_body, k, v)
		if (strcmp(k, "value") != 0) {
			svc_reply_error(rp, 400, "unknown field '%s'", k);
			return;
		}
	v = json_object_get(rq->mr_body, "value");
	if ((text = json_dumps(v, MSG_JSON_FLAGS)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	if (strlen(text) > KV_VALUE_MAX) {
		free(text);
		svc_reply_error(rp, 413, "value larger than %d bytes",
		    KV_VALUE_MAX);
		return;
	}
	/* jsonb cannot hold \u0000 */
	if (strstr(text, "\\u0000") != NULL) {
		free(text);
		svc_reply_error(rp, 400, "value must not contain NUL "
		    "characters");
		return;
	}
	p[0] = id;
	p[1] = key;
	p[2] = text;
	if ((res = db_exec(c->sc_db, SQL_SET, 3, p)) == NULL) {
		free(text);
		svc_reply_db_error(rp, c);
		return;
	}
	free(text);
	kv_publish(rq, id, PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] ==
	    't' ? "created" : "updated", key);
	PQclear(res);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "stored",
	    "key", key));
}

static void
kv_op_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*key;
	PGresult	*res;

	if ((res = kv_key_exec(c, rq, rp, SQL_DELETE, id, &key)) == NULL)
		return;
	kv_publish(rq, id, "deleted", key);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "deleted",
	    "key", key));
	PQclear(res);
}

/* A row of SQL_LIST as its key. */
static json_t *
kv_row_key(PGresult *res, int row)
{
	return (json_string(PQgetvalue(res, row, 0)));
}

/* A row of SQL_PAIRS as {key, value}. */
static json_t *
kv_row_pair(PGresult *res, int row)
{
	return (json_pack("{s:s, s:o}", "key", PQgetvalue(res, row, 0),
	    "value", json_loads(PQgetvalue(res, row, 1), JSON_DECODE_ANY,
	    NULL)));
}

/* params.id into id, query limit (1-KV_LIST_MAX; pg's as the default)
 * and offset into pg: 0, or -1 after a 400. */
static int
kv_page_params(const struct msg_req *rq, char id[UTIL_UUID_LEN],
    struct svc_page *pg, struct svc_reply *rp)
{
	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    mem_query_num(rq, "limit", 1, KV_LIST_MAX, &pg->pg_limit,
	    rp) != 0 ||
	    mem_query_num(rq, "offset", 0, 1000000000LL, &pg->pg_offset,
	    rp) != 0)
		return (-1);
	return (0);
}

/* memory.kv.list (the agent tool memory_list) -> {keys, total} (query
 * limit 1-1000, 100; offset). */
static void
kv_op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	struct svc_page	 pg = { .pg_count = SQL_COUNT, .pg_list = SQL_LIST,
			    .pg_filters = { id }, .pg_n = 1, .pg_limit = 100,
			    .pg_row = kv_row_key };
	long long	 total;
	json_t		*keys;

	if (kv_page_params(rq, id, &pg, rp) == 0 &&
	    (keys = svc_page(c, &pg, &total, rp)) != NULL)
		svc_reply_json(rp, 200, json_pack("{s:o, s:I}", "keys", keys,
		    "total", (json_int_t)total));
}

/* GET /api/memory/agents/{id}/kv -> {kv_pairs: [{key, value}]} (query
 * limit 1-1000, 1000; offset). */
static void
kv_op_pairs(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	struct svc_page	 pg = { .pg_list = SQL_PAIRS, .pg_filters = { id },
			    .pg_n = 1, .pg_limit = KV_LIST_MAX,
			    .pg_row = kv_row_pair };
	json_t		*pairs;

	if (kv_page_params(rq, id, &pg, rp) == 0 &&
	    (pairs = svc_page(c, &pg, NULL, rp)) != NULL)
		svc_reply_json(rp, 200, json_pack("{s:o}", "kv_pairs", pairs));
}

/* GET /api/agents/{id}/memory/export -> {agent_id, version: 1, kv}. */
static void
kv_op_export(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	PGresult	*res;

	if ((res = mem_agent_exec(c, rq, SQL_EXPORT, id, rp)) == NULL)
		return;
	svc_reply_json(rp, 200, json_pack("{s:s, s:i, s:o}", "agent_id", id,
	    "version", 1, "kv", json_loads(PQgetvalue(res, 0, 0), 0, NULL)));
	PQclear(res);
}

/* 1 if key is a storable KV key (kv_param_key()'s rules). */
static int
kv_key_ok(const char *k)
{
	size_t	i, n = strlen(k);

	if (n == 0 || n > KV_KEY_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
			return (0);
	return (1);
}

/*
 * POST /api/agents/{id}/memory/import {kv: {key: value, ...},
 * clear_existing?: false} -> {status: "imported"} or {status: "partial",
 * failed_keys} when some keys or values were refused (the others are
 * stored).  One transaction: the clear and the stores land together.
 */
static void
kv_op_import(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], *text;
	const char	*k, *p[3];
	json_t		*kv, *v, *clear, *failed = NULL;
	PGresult	*res;
	int		 intx = 0, n = 0;

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	kv = json_object_get(rq->mr_body, "kv");
	clear = json_object_get(rq->mr_body, "clear_existing");
	if (!json_is_object(rq->mr_body) || !json_is_object(kv) ||
	    (clear != NULL && !json_is_boolean(clear)) ||
	    json_object_size(rq->mr_body) != 1u + (clear != NULL)) {
		svc_reply_error(rp, 400, "body must be {\"kv\": {key: value, "
		    "...}, \"clear_existing\": bool?}");
		return;
	}
	if (json_object_size(kv) > 10000) {
		svc_reply_error(rp, 413, "at most 10000 keys per import");
		return;
	}
	if (mem_agent_known(id, rp) != 0)
		return;
	if ((failed = json_array()) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	if (mem_begin(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	intx = 1;
	p[0] = id;
	if (json_is_true(clear) && db_cmd(c->sc_db, SQL_CLEAR, 1, p) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	json_object_foreach(kv, k, v) {
		text = NULL;
		if (!kv_key_ok(k) || mem_json_depth(v) > 64 ||
		    (text = json_dumps(v, MSG_JSON_FLAGS | JSON_ENCODE_ANY)) ==
		    NULL || strlen(text) > KV_VALUE_MAX ||
		    strstr(text, "\\u0000") != NULL) {
			free(text);
			json_array_append_new(failed, json_string(k));
			continue;
		}
		p[1] = k;
		p[2] = text;
		res = db_exec(c->sc_db, SQL_SET, 3, p);
		free(text);
		if (res == NULL) {
			svc_reply_db_error(rp, c);
			goto done;
		}
		PQclear(res);
		n++;
	}
	if (mem_commit(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	intx = 0;
	if (json_array_size(failed) == 0)
		svc_reply_json(rp, 200, json_pack("{s:s, s:i}", "status",
		    "imported", "imported", n));
	else
		svc_reply_json(rp, 200, json_pack("{s:s, s:i, s:O}", "status",
		    "partial", "imported", n, "failed_keys", failed));
 done:
	if (intx)
		mem_rollback(c->sc_db);
	json_decref(failed);
}

const struct svc_op kv_ops[] = {
	{ OP_MEMORY_KV_GET, kv_op_get },
	{ OP_MEMORY_KV_SET, kv_op_set },
	{ OP_MEMORY_KV_DELETE, kv_op_delete },
	{ OP_MEMORY_KV_LIST, kv_op_list },
	{ OP_MEMORY_KV_PAIRS, kv_op_pairs },
	{ OP_MEMORY_KV_EXPORT, kv_op_export },
	{ OP_MEMORY_KV_IMPORT, kv_op_import },
	{ NULL, NULL }
};
