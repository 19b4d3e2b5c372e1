/*
 * a2a/client.c - the external agents we call (a2a/a2a.h): a2a.discover,
 * a2a.peers.list, a2a.peers.get, a2a.send, a2a.out.get, a2a.out.status.
 *
 * The operations check their input on the bus worker and queue the
 * outbound work on the pool's outbound lane (a2a/pool.c); a2a/peer.c does
 * the talking (SSRF rules, dialects), this file keeps the peers
 * (runtime.a2a_peers, by base URL) and the tasks given to them
 * (runtime.a2a_tasks, direction 'out').
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "a2a/a2a.h"
#include "audit.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "ops.h"

#define A2A_PEER_COLUMNS						\
	"id::text AS id, url, name, description, card"

static const char SQL_PEER_UPSERT[] =
	"INSERT INTO a2a_peers (id, url, name, description, card) "
	"VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (url) DO UPDATE SET "
	"name = EXCLUDED.name, description = EXCLUDED.description, "
	"card = EXCLUDED.card, updated_at = now() "
	"RETURNING " A2A_PEER_COLUMNS;
static const char SQL_PEER_LIST[] =
	"SELECT " A2A_PEER_COLUMNS " FROM a2a_peers ORDER BY created_at, id";
static const char SQL_PEER_BY_ID[] =
	"SELECT " A2A_PEER_COLUMNS " FROM a2a_peers WHERE id = $1";
static const char SQL_PEER_BY_URL[] =
	"SELECT " A2A_PEER_COLUMNS " FROM a2a_peers WHERE url = $1";
static const char SQL_OUT_INSERT[] =
	"INSERT INTO a2a_tasks (id, direction, context_id, peer_id, "
	"remote_id, state, input, response, completed_at) "
	"VALUES ($1, 'out', $2, $3, $4, $5, $6, $7, CASE WHEN $5 IN "
	"('completed', 'failed', 'canceled', 'rejected') THEN now() END)";
static const char SQL_OUT_UPDATE[] =
	"UPDATE a2a_tasks SET state = $2, response = coalesce($3, response), "
	"updated_at = now(), completed_at = CASE WHEN $2 IN ('completed', "
	"'failed', 'canceled', 'rejected') THEN now() END WHERE id = $1";

static const char *
str_of(json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

/* ---- cards and peers ---------------------------------------------------- */

/* The peer as shown by the API (new): skills as names. */
static json_t *
peer_view(json_t *row)
{
	json_t		*card = json_object_get(row, "card"), *skills, *e;
	const char	*s;
	size_t		 i;

	skills = json_array();
	json_array_foreach(json_object_get(card, "skills"), i, e) {
		if ((s = str_of(e, "name")) != NULL ||
		    (s = str_of(e, "id")) != NULL ||
		    (s = json_string_value(e)) != NULL)
			json_array_append_new(skills, json_string(s));
	}
	return (json_pack("{s:O, s:O, s:O, s:O, s:o, s:O}",
	    "id", json_object_get(row, "id"),
	    "name", json_object_get(row, "name"),
	    "url", json_object_get(row, "url"),
	    "description", json_object_get(row, "description"),
	    "skills", skills,
	    "card", card));
}

/* Fetches and stores the card of base (a URL, or the card's own URL when
 * it ends in .json).  The peer row (new), or NULL with err and *httperr. */
static json_t *
peer_discover(const struct sh_config *cfg, struct db *db, const char *base,
    int *httperr, char *err, size_t errlen)
{
	json_t		*card = NULL, *row = NULL;
	const char	*p[5], *name;
	char		 url[A2A_URL_MAX + 64], id[UTIL_UUID_LEN], *text = NULL;
	char		 detail[512];
	size_t		 n = strlen(base);
	long		 status;
	int		 e;
	enum a2a_dialect d;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n >= 5 && strncmp(base + n - 5, ".json", 5) == 0)
		snprintf(url, sizeof(url), "%.*s", (int)n, base);
	else
		snprintf(url, sizeof(url), "%.*s/.well-known/agent-card.json",
		    (int)n, base);
	card = a2a_http(cfg, url, NULL, "1.0", &status, httperr, err, errlen);
	if (card == NULL && status == 404) {
		/* The reference's (and pre-0.3 peers') location. */
		snprintf(url, sizeof(url), "%.*s/.well-known/agent.json",
		    (int)n, base);
		card = a2a_http(cfg, url, NULL, "0.3", &status, httperr, err,
		    errlen);
	}
	if (card == NULL)
		return (NULL);
	name = str_of(card, "name");
	if (name == NULL || *name == '\0' || strlen(name) > 256) {
		snprintf(err, errlen, "the peer at %.300s sent an invalid "
		    "agent card: no name", url);
		*httperr = 502;
		goto done;
	}
	if (a2a_card_endpoint(card, &d) == NULL) {
		snprintf(err, errlen, "the peer at %.300s sent an invalid "
		    "agent card: no JSON-RPC url", url);
		*httperr = 502;
		goto done;
	}
	if ((text = json_dumps(card, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		*httperr = 500;
		goto done;
	}
	util_uuid4(id);
	/* A peer is known by its base URL, without trailing slashes. */
	snprintf(url, sizeof(url), "%.*s", (int)n, base);
	p[0] = id;
	p[1] = url;
	p[2] = name;
	p[3] = str_of(card, "description") != NULL ?
	    str_of(card, "description") : "";
	p[4] = text;
	/* The peer and its A2aDiscovered entry commit together. */
	snprintf(detail, sizeof(detail), "A2A peer '%.128s' discovered at "
	    "%.256s", name, url);
	if (db_cmd(db, "BEGIN", 0, NULL) != 0 ||
	    (row = db_one_json(db_exec(db, SQL_PEER_UPSERT, 5, p), &e)) ==
	    NULL ||
	    audit_record(db, AUDIT_A2A_DISCOVERED, NULL, detail, "ok") != 0 ||
	    db_cmd(db, "COMMIT", 0, NULL) != 0) {
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
		json_decref(row);
		row = NULL;
		snprintf(err, errlen, "could not store the peer");
		*httperr = 503;
	}
 done:
	free(text);
	json_decref(card);
	return (row);
}

/* ---- the jobs ----------------------------------------------------------- */

static void
job_discover(struct agent_state *as, struct db *db, struct svc_pending *sp,
    json_t *arg)
{
	json_t	*row;
	char	 err[512];
	int	 status = 502;

	row = peer_discover(as->as_cfg, db, str_of(arg, "url"), &status, err,
	    sizeof(err));
	if (row == NULL) {
		svc_pending_reply(sp, status, msg_error_body("%s", err));
		return;
	}
	svc_pending_reply(sp, 200, peer_view(row));
	json_decref(row);
}

/* The outbound task as the API shows it (new). */
static json_t *
out_view(json_t *row)
{
	return (json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O,"
	    " s:O, s:O}",
	    "task_id", json_object_get(row, "id"),
	    "id", json_object_get(row, "id"),
	    "remote_task_id", json_object_get(row, "remote_id"),
	    "agent_id", json_object_get(row, "peer_id"),
	    "context_id", json_object_get(row, "context_id"),
	    "status", json_object_get(row, "state"),
	    "message", json_object_get(row, "input"),
	    "response", json_object_get(row, "response"),
	    "result", json_object_get(row, "response"),
	    "error", json_object_get(row, "error"),
	    "created_at", json_object_get(row, "created_at"),
	    "updated_at", json_object_get(row, "updated_at")));
}

static void
job_send(struct agent_state *as, struct db *db, struct svc_pending *sp,
    json_t *arg)
{
	const struct sh_config *cfg = as->as_cfg;
	json_t		*peer = NULL, *params = NULL, *res = NULL, *rt = NULL;
	json_t		*row = NULL;
	const char	*p[7], *url, *ctx = str_of(arg, "context_id");
	const char	*pid = str_of(arg, "agent_id");
	enum a2a_dialect d;
	char		 err[512], id[UTIL_UUID_LEN], cid[UTIL_UUID_LEN];
	int		 status = 502, e;

	if (pid != NULL) {
		p[0] = pid;
		peer = util_uuid_valid(pid) ? db_one_json(db_exec(db,
		    SQL_PEER_BY_ID, 1, p), &e) : NULL;
		if (peer == NULL) {
			snprintf(err, sizeof(err), "external agent not found; "
			    "discover it first (POST /api/a2a/discover)");
			status = 404;
			goto fail;
		}
	} else {
		/* A URL: the known peer, or discovered now. */
		p[0] = str_of(arg, "url");
		peer = db_one_json(db_exec(db, SQL_PEER_BY_URL, 1, p), &e);
		if (peer == NULL && (peer = peer_discover(cfg, db,
		    str_of(arg, "url"), &status, err, sizeof(err))) == NULL)
			goto fail;
	}
	if ((url = a2a_card_endpoint(json_object_get(peer, "card"), &d)) ==
	    NULL) {
		snprintf(err, sizeof(err), "the external agent's card names "
		    "no JSON-RPC url");
		goto fail;
	}
	params = a2a_send_params(d, str_of(arg, "text"), ctx);
	if ((res = a2a_rpc_call(cfg, url, d, a2a_send_methods[d], params,
	    &status, err, sizeof(err))) == NULL)
		goto fail;
	if ((rt = a2a_remote_task(res)) == NULL) {
		snprintf(err, sizeof(err), "the peer sent an invalid A2A "
		    "response: the result is neither a task nor a message");
		status = 502;
		goto fail;
	}
	util_uuid4(id);
	if (str_of(rt, "context_id") == NULL && ctx == NULL)
		util_uuid4(cid);
	p[0] = id;
	p[1] = str_of(rt, "context_id") != NULL ? str_of(rt, "context_id") :
	    ctx != NULL ? ctx : cid;
	p[2] = str_of(peer, "id");
	p[3] = str_of(rt, "remote_id");
	p[4] = str_of(rt, "state");
	p[5] = str_of(arg, "text");
	p[6] = str_of(rt, "response");
	if (db_cmd(db, SQL_OUT_INSERT, 7, p) != 0 ||
	    (row = a2a_task_get(db, id, &e)) == NULL) {
		snprintf(err, sizeof(err), "could not store the task");
		status = 503;
		goto fail;
	}
	svc_pending_reply(sp, 200, out_view(row));
	goto done;
 fail:
	svc_pending_reply(sp, status, msg_error_body("%s", err));
 done:
	json_decref(row);
	json_decref(rt);
	json_decref(res);
	json_decref(params);
	json_decref(peer);
}

/* Asks the peer for a task that was not final yet, then answers. */
static void
job_refresh(struct agent_state *as, struct db *db, struct svc_pending *sp,
    json_t *arg)
{
	json_t		*row = NULL, *peer = NULL, *res = NULL, *rt = NULL;
	json_t		*params = NULL;
	const char	*p[3], *url, *id = str_of(arg, "id");
	enum a2a_dialect d;
	char		 err[512];
	int		 e, status;

	if ((row = a2a_task_get(db, id, &e)) == NULL) {
		svc_pending_reply(sp, e == SH_ENOTFOUND ? 404 : 503,
		    msg_error_body(e == SH_ENOTFOUND ? "Task not found" :
		    "database unavailable"));
		return;
	}
	p[0] = str_of(row, "peer_id");
	if (p[0] != NULL && str_of(row, "remote_id") != NULL &&
	    (peer = db_one_json(db_exec(db, SQL_PEER_BY_ID, 1, p), &e)) !=
	    NULL && (url = a2a_card_endpoint(json_object_get(peer, "card"),
	    &d)) != NULL) {
		params = json_pack("{s:s}", "id", str_of(row, "remote_id"));
		res = a2a_rpc_call(as->as_cfg, url, d, a2a_get_methods[d],
		    params, &status, err, sizeof(err));
		if (res != NULL && (rt = a2a_remote_task(res)) != NULL) {
			p[0] = id;
			p[1] = str_of(rt, "state");
			p[2] = *str_of(rt, "response") != '\0' ?
			    str_of(rt, "response") : NULL;
			if (db_cmd(db, SQL_OUT_UPDATE, 3, p) == 0) {
				json_decref(row);
				row = a2a_task_get(db, id, &e);
			}
		} else if (res == NULL)
			log_debug("%s: task '%s': %s", __func__, id, err);
	}
	if (row == NULL)
		svc_pending_reply(sp, 503, msg_error_body("database "
		    "unavailable"));
	else
		svc_pending_reply(sp, 200, out_view(row));
	json_decref(row);
	json_decref(peer);
	json_decref(params);
	json_decref(res);
	json_decref(rt);
}

/* ---- the operations ----------------------------------------------------- */

/* body.key: a URL string of at most A2A_URL_MAX bytes.  0 with *out, or
 * -1 after a 400. */
static int
body_url(json_t *body, const char *key, int required, const char **out,
    struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			svc_reply_error(rp, 400, "'%s' is required", key);
		return (required ? -1 : 0);
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > A2A_URL_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		svc_reply_error(rp, 400, "'%s' must be a URL of at most %d "
		    "bytes", key, A2A_URL_MAX);
		return (-1);
	}
	*out = json_string_value(v);
	return (0);
}

void
a2a_op_discover(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*url;

	(void)c;
	if (!json_is_object(rq->mr_body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return;
	}
	if (body_url(rq->mr_body, "url", 1, &url, rp) != 0)
		return;
	(void)a2a_queue(rq, rp, A2A_LANE_OUT, job_discover,
	    json_pack("{s:s}", "url", url));
}

void
a2a_op_peers_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*list = json_array(), *row;
	int		 i;

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_PEER_LIST, 0, NULL)) == NULL) {
		json_decref(list);
		svc_reply_db_error(rp, c);
		return;
	}
	for (i = 0; i < PQntuples(res); i++) {
		row = db_row_json(res, i);
		svc_list_add(&list, row != NULL ? peer_view(row) : NULL);
		json_decref(row);
	}
	PQclear(res);
	svc_reply_list(rp, "agents", list);
}

void
a2a_op_peers_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*id = str_of(rq->mr_params, PARAM_ID);
	json_t		*row;
	int		 e = SH_ENOTFOUND;

	row = id != NULL && util_uuid_valid(id) ? db_one_json(db_exec(
	    c->sc_db, SQL_PEER_BY_ID, 1, &id), &e) : NULL;
	if (row == NULL) {
		if (e == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "External agent not found");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, peer_view(row));
	json_decref(row);
}

/*
 * body: {agent_id | url | agent_url, message, context_id?}; message is a
 * string or an A2A message whose text parts are sent.
 */
void
a2a_op_send(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*body = rq->mr_body, *m, *arg;
	const char	*url, *pid = NULL, *ctx = NULL;
	struct buf	 b;

	(void)c;
	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return;
	}
	if (agent_get_str(body, "agent_id", 1, 64, &pid, rp) != 0 ||
	    agent_get_str(body, "context_id", 1, 256, &ctx, rp) != 0 ||
	    body_url(body, "url", 0, &url, rp) != 0 ||
	    (url == NULL && body_url(body, "agent_url", 0, &url, rp) != 0))
		return;
	if (pid == NULL && url == NULL) {
		svc_reply_error(rp, 400, "'agent_id' or 'url' is required");
		return;
	}
	m = json_object_get(body, "message");
	buf_init(&b, A2A_TEXT_MAX);
	if (json_is_string(m))
		(void)buf_add(&b, json_string_value(m), json_string_length(m));
	else if (json_is_object(m))
		a2a_parts_text(json_object_get(m, "parts"), &b);
	if (b.b_len == 0 || memchr(b.b_data, '\0', b.b_len) != NULL) {
		buf_release(&b);
		svc_reply_error(rp, 400, "'message' must be a non-empty string "
		    "(or an A2A message with text parts) of at most %d bytes",
		    A2A_TEXT_MAX);
		return;
	}
	arg = json_pack("{s:s?, s:s?, s:s?, s:s%}", "agent_id", pid, "url",
	    url, "context_id", ctx, "text", b.b_data, b.b_len);
	buf_release(&b);
	if (arg == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	(void)a2a_queue(rq, rp, A2A_LANE_OUT, job_send, arg);
}

static json_t *
out_fetch(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*id = str_of(rq->mr_params, PARAM_ID);
	json_t		*row = NULL;
	int		 e = SH_ENOTFOUND;

	if (id != NULL)
		row = a2a_task_get(c->sc_db, id, &e);
	if (row != NULL && strcmp(str_of(row, "direction"), "out") != 0) {
		json_decref(row);
		row = NULL;
		e = SH_ENOTFOUND;
	}
	if (row == NULL) {
		if (e == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "Task not found");
		else
			svc_reply_db_error(rp, c);
	}
	return (row);
}

void
a2a_op_out_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t	*row;

	if ((row = out_fetch(c, rq, rp)) == NULL)
		return;
	svc_reply_json(rp, 200, out_view(row));
	json_decref(row);
}

void
a2a_op_out_status(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*row;
	const char	*st;

	if ((row = out_fetch(c, rq, rp)) == NULL)
		return;
	st = str_of(row, "state");
	if (strcmp(st, "submitted") == 0 || strcmp(st, "working") == 0 ||
	    strcmp(st, "unknown") == 0)
		(void)a2a_queue(rq, rp, A2A_LANE_OUT, job_refresh,
		    json_pack("{s:O}", "id", json_object_get(row, "id")));
	else
		svc_reply_json(rp, 200, out_view(row));
	json_decref(row);
}
