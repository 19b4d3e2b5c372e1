/*
 * a2a/server.c - the tasks other agent systems give our agents
 * (a2a/a2a.h): a2a.agents, a2a.tasks.send, a2a.tasks.get and
 * a2a.tasks.cancel.
 *
 * A task is one turn of a local agent.  a2a.tasks.send stores the task
 * (working) on the bus worker, then a pool thread (a2a/pool.c) asks for
 * the turn with agents.message -- the operation the native message route
 * uses, so the turn is load-balanced, locked, recorded and metered like
 * any other -- and writes its outcome.  A cancel marks the task canceled
 * at once and stops its turn; the turn's late outcome then leaves it
 * canceled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "a2a/a2a.h"
#include "bus.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "turn/turn.h"

#define A2A_TS(col)							\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS " col

#define A2A_TASK_COLUMNS						\
	"id::text AS id, direction, context_id, agent_id::text AS agent_id, " \
	"peer_id::text AS peer_id, remote_id, state, input, message, "	\
	"response, error, " A2A_TS("created_at") ", "			\
	A2A_TS("updated_at") ", " A2A_TS("completed_at")

#define A2A_CONTEXT_MAX	256

static const char SQL_AGENTS[] =
	"SELECT id::text AS id, name, "
	"coalesce(manifest->>'description', '') AS description, "
	"coalesce(manifest->'tags', '[]'::jsonb) AS tags "
	"FROM agents ORDER BY created_at, id";

/* The named agent (by id or name), or the oldest one when none is named. */
static const char SQL_AGENT_PICK[] =
	"SELECT id::text FROM agents "
	"WHERE $1::text IS NULL OR id::text = lower($1) OR name = $1 "
	"ORDER BY (id::text = lower(coalesce($1, ''))) DESC, created_at, id "
	"LIMIT 1";

static const char SQL_INSERT[] =
	"INSERT INTO a2a_tasks (id, direction, context_id, agent_id, state, "
	"input, message) VALUES ($1, 'in', $2, $3, 'working', $4, $5::jsonb)";

static const char SQL_FINISH[] =
	"UPDATE a2a_tasks SET state = $2, response = $3, error = $4, "
	"updated_at = now(), completed_at = now() "
	"WHERE id = $1 AND state IN ('submitted', 'working')";

static const char SQL_GET[] =
	"SELECT " A2A_TASK_COLUMNS " FROM a2a_tasks WHERE id = $1";

/* A task still working long after its turn must have ended (the replica
 * running it died): failed, so no reader waits for it forever. */
static const char SQL_REAP[] =
	"UPDATE a2a_tasks SET state = 'failed', error = 'the task was lost: "
	"its turn did not end in time (did its agent-runtime stop?)', "
	"updated_at = now(), completed_at = now() WHERE id = $1 AND "
	"direction = 'in' AND state IN ('submitted', 'working') AND "
	"created_at < now() - make_interval(secs => $2::bigint)";

static const char SQL_CANCEL[] =
	"UPDATE a2a_tasks SET state = 'canceled', updated_at = now(), "
	"completed_at = now() WHERE id = $1 AND direction = 'in' AND "
	"state IN ('submitted', 'working') "
	"RETURNING agent_id::text AS agent_id, context_id";

/*
 * The session of an A2A context: each context a peer opens is a
 * conversation of its own with the agent (its tasks share the history),
 * kept apart from the agent's current session, and a cancel stops
 * exactly its turn.  0, or -1 (agent_id is not a uuid).
 */
static int
context_session(const char *agent_id, const char *ctx,
    char sid[UTIL_UUID_LEN])
{
	char	name[A2A_CONTEXT_MAX + 8];

	snprintf(name, sizeof(name), "a2a:%s", ctx);
	return (util_uuid5(agent_id, name, sid) == 0 ? 0 : -1);
}

json_t *
a2a_task_get(struct db *db, const char *id, int *errp)
{
	const char	*p[1] = { id };

	if (!util_uuid_valid(id)) {
		*errp = SH_ENOTFOUND;
		return (NULL);
	}
	return (db_one_json(db_exec(db, SQL_GET, 1, p), errp));
}

/* ---- a2a.agents --------------------------------------------------------- */

static void
op_agents(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*list = json_array();
	int		 i;

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_AGENTS, 0, NULL)) == NULL) {
		json_decref(list);
		svc_reply_db_error(rp, c);
		return;
	}
	for (i = 0; i < PQntuples(res); i++)
		svc_list_add(&list, db_row_json(res, i));
	PQclear(res);
	svc_reply_list(rp, "agents", list);
}

/* ---- a2a.tasks.send ----------------------------------------------------- */

/* Runs on a pool thread: the turn, then its outcome on the task. */
static void
task_run(struct agent_state *as, struct db *db, struct svc_pending *sp,
    json_t *arg)
{
	struct msg_rep	 rep;
	json_t		*req, *task = NULL, *events = NULL;
	const char	*id = json_string_value(json_object_get(arg, "id"));
	const char	*state = "failed", *resp = NULL, *err = NULL;
	const char	*p[4];
	long long	 timeout;
	int		 rv = SH_EUNAVAIL, e;
	char		 why[160];

	memset(&rep, 0, sizeof(rep));
	timeout = json_integer_value(json_object_get(arg, "timeout_ms"));
	/* A streamed send's caller (stream, stream_id) goes on to the turn,
	 * which publishes its events there. */
	/* So is the Idempotency-Key of the client's request: a retried
	 * send is a new task whose turn gives the first one's answer. */
	req = msg_request(OP_AGENTS_MESSAGE, NULL, util_wall_ms() + timeout,
	    json_pack("{s:s, s:b, s:O?, s:O?, s:O?, s:O?, s:O?}", "principal",
	    "a2a", "session_create", 1, "stream", json_object_get(arg,
	    "stream"), "stream_id", json_object_get(arg, "stream_id"),
	    "idempotency_key", json_object_get(arg, "idempotency_key"),
	    "idempotency_fingerprint", json_object_get(arg,
	    "idempotency_fingerprint"), "idempotency_ttl_secs",
	    json_object_get(arg, "idempotency_ttl_secs")),
	    json_pack("{s:O}", PARAM_ID, json_object_get(arg, "agent_id")),
	    NULL, json_pack("{s:O, s:O}", "message", json_object_get(arg,
	    "text"), "session_id", json_object_get(arg, "session_id")));
	if (req != NULL && as->as_bus != NULL)
		rv = bus_call(as->as_bus, SVC_AGENT_RUNTIME, req, (int)timeout,
		    &rep);
	json_decref(req);
	if (rv != 0) {
		snprintf(why, sizeof(why), "the agent's turn did not run (%s)",
		    sh_strerror(rv));
		err = why;
	} else if (rep.mp_status == 200) {
		state = "completed";
		resp = json_string_value(json_object_get(rep.mp_body,
		    "response"));
	} else if ((err = json_string_value(json_object_get(rep.mp_body,
	    "error"))) == NULL) {
		snprintf(why, sizeof(why), "the agent's turn failed (%d)",
		    rep.mp_status);
		err = why;
	}
	p[0] = id;
	p[1] = state;
	p[2] = resp != NULL ? resp : (rv == 0 && rep.mp_status == 200 ? "" :
	    NULL);
	p[3] = err;
	if (db_cmd(db, SQL_FINISH, 4, p) != 0)
		log_warnx("%s: could not store the outcome of A2A task '%s': "
		    "%s", __func__, id, db_errmsg(db));
	if (rv == 0) {
		/* The events the turn published: a streamed caller waits
		 * for them all (gw_turns.c). */
		events = json_incref(json_object_get(rep.mp_body, "events"));
		msg_rep_release(&rep);
	}
	if ((task = a2a_task_get(db, id, &e)) == NULL)
		svc_pending_reply(sp, 503, msg_error_body("could not read A2A "
		    "task '%s' back", id));
	else {
		if (json_is_integer(events))
			json_object_set(task, "events", events);
		svc_pending_reply(sp, 200, task);
	}
	json_decref(events);
}

/*
 * body: {text, agent_id?, context_id?, message?, task_id?}.  task_id (a
 * uuid, 409 when taken) lets a caller that streams know the task before
 * the reply.  A caller with stream and stream_id has the turn's events
 * published there.  The reply (200) is the task once the turn has ended,
 * whatever its outcome, with "events": N when the turn counted them.
 */
static void
op_tasks_send(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct agent_state	*as = c->sc_arg;
	json_t		*body = rq->mr_body, *v, *arg, *row;
	const char	*text, *agent = NULL, *ctx = NULL, *tid = NULL, *p[5];
	const char	*stream, *stream_id;
	char		 id[UTIL_UUID_LEN], cid[UTIL_UUID_LEN], *msg = NULL;
	char		 sid[UTIL_UUID_LEN];
	int		 err, i;
	long long	 timeout;
	static const char *const idem_fields[] = { "idempotency_key",
	    "idempotency_fingerprint", "idempotency_ttl_secs", NULL };

	v = json_object_get(body, "text");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		svc_reply_error(rp, 400, "the message has no text part");
		return;
	}
	if (json_string_length(v) > A2A_TEXT_MAX) {
		svc_reply_error(rp, 413, "message too large (max %d bytes)",
		    A2A_TEXT_MAX);
		return;
	}
	text = json_string_value(v);
	if (strlen(text) != json_string_length(v)) {
		svc_reply_error(rp, 400, "the message contains a NUL "
		    "character");
		return;
	}
	if (agent_get_str(body, "agent_id", 1, 256, &agent, rp) != 0 ||
	    agent_get_str(body, "context_id", 1, A2A_CONTEXT_MAX, &ctx,
	    rp) != 0 ||
	    agent_get_str(body, "task_id", 1, 64, &tid, rp) != 0)
		return;
	if (tid != NULL && !util_uuid_valid(tid)) {
		svc_reply_error(rp, 400, "'task_id' must be a uuid");
		return;
	}
	p[0] = agent;
	row = db_one_json(db_exec(c->sc_db, SQL_AGENT_PICK, 1, p), &err);
	if (row == NULL) {
		if (err == SH_ENOTFOUND)
			svc_reply_error(rp, 404, agent != NULL ?
			    "agent not found" : "no agent to run the task");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	if (tid != NULL)
		snprintf(id, sizeof(id), "%s", tid);
	else
		util_uuid4(id);
	if (ctx == NULL) {
		util_uuid4(cid);
		ctx = cid;
	}
	/* The request's message is kept for its ids (history shows the
	 * client's messageId), not for bulk: a huge one is dropped. */
	v = json_object_get(body, "message");
	msg = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
	if (msg != NULL && strlen(msg) > A2A_TEXT_MAX) {
		free(msg);
		msg = NULL;
	}
	p[0] = id;
	p[1] = ctx;
	p[2] = json_string_value(json_object_get(row, "id"));
	p[3] = text;
	p[4] = msg;
	if (db_cmd(c->sc_db, SQL_INSERT, 5, p) != 0) {
		free(msg);
		json_decref(row);
		if (strcmp(db_sqlstate(c->sc_db), "23505") == 0)
			svc_reply_error(rp, 409, "task '%s' exists", id);
		else
			svc_reply_db_error(rp, c);
		return;
	}
	free(msg);
	timeout = as->as_cfg->turn_timeout_secs * 1000;
	if (rq->mr_deadline > 0 && rq->mr_deadline - util_wall_ms() < timeout)
		timeout = rq->mr_deadline - util_wall_ms();
	if (timeout < 1)
		timeout = 1;
	if (context_session(json_string_value(json_object_get(row, "id")),
	    ctx, sid) != 0) {
		json_decref(row);
		svc_reply_error(rp, 500, "the agent's id is not a uuid");
		return;
	}
	arg = json_pack("{s:s, s:O, s:O, s:I, s:s}", "id", id, "agent_id",
	    json_object_get(row, "id"), "text", json_object_get(body, "text"),
	    "timeout_ms", timeout, "session_id", sid);
	json_decref(row);
	stream = json_string_value(json_object_get(rq->mr_caller, "stream"));
	stream_id = json_string_value(json_object_get(rq->mr_caller,
	    "stream_id"));
	if (arg != NULL && stream != NULL && stream_id != NULL &&
	    (json_object_set_new(arg, "stream", json_string(stream)) != 0 ||
	    json_object_set_new(arg, "stream_id", json_string(stream_id)) !=
	    0)) {
		json_decref(arg);
		arg = NULL;
	}
	for (i = 0; arg != NULL && idem_fields[i] != NULL; i++)
		if ((v = json_object_get(rq->mr_caller, idem_fields[i])) !=
		    NULL && json_object_set(arg, idem_fields[i], v) != 0) {
			json_decref(arg);
			arg = NULL;
		}
	if (arg == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	(void)a2a_queue(rq, rp, A2A_LANE_IN, task_run, arg);
}

/* ---- a2a.tasks.list -------------------------------------------------------- */

#define A2A_PAGE_MAX	100
#define A2A_PAGE_DEFAULT 50

/* Inbound tasks, newest first, with the count of all that match. */
static const char SQL_LIST[] =
	"SELECT " A2A_TASK_COLUMNS ", count(*) OVER () AS total "
	"FROM a2a_tasks WHERE direction = 'in' "
	"AND ($1::text IS NULL OR context_id = $1) "
	"AND ($2::text IS NULL OR state = $2) "
	"AND ($3::timestamptz IS NULL OR updated_at >= $3::timestamptz) "
	"ORDER BY created_at DESC, id LIMIT $4::integer OFFSET $5::bigint";
/* The same count, for a page past the end (which has no row to carry
 * it). */
static const char SQL_LIST_COUNT[] =
	"SELECT count(*) FROM a2a_tasks WHERE direction = 'in' "
	"AND ($1::text IS NULL OR context_id = $1) "
	"AND ($2::text IS NULL OR state = $2) "
	"AND ($3::timestamptz IS NULL OR updated_at >= $3::timestamptz)";

static const char *const list_states[] = {
	"submitted", "working", "input-required", "completed", "canceled",
	"failed", "rejected", "auth-required", NULL
};

static const char *const list_keys[] = {
	"context_id", "state", "updated_after", "page_size", "offset", NULL
};

/*
 * body: {context_id?, state? (a lowercase v0.3 state), updated_after?
 * (RFC 3339), page_size? (1..100, default 50), offset?}.  200 {tasks,
 * total, next_offset (null on the last page)}.
 */
static void
op_tasks_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*body = rq->mr_body, *v, *list = json_array(), *row;
	const char	*ctx = NULL, *state = NULL, *after = NULL, *p[5];
	char		 size[16], off[24];
	long long	 n = A2A_PAGE_DEFAULT, o = 0, total = 0;
	int64_t		 ms;
	PGresult	*res;
	int		 i;

	if (agent_body_keys(body, list_keys, rp) != 0 ||
	    agent_get_str(body, "context_id", 1, A2A_CONTEXT_MAX, &ctx,
	    rp) != 0 ||
	    agent_get_str(body, "state", 1, 32, &state, rp) != 0 ||
	    agent_get_str(body, "updated_after", 1, 64, &after, rp) != 0)
		goto fail;
	if (state != NULL && !agent_in_list(state, list_states)) {
		svc_reply_error(rp, 400, "unknown task state '%s'", state);
		goto fail;
	}
	if (after != NULL && util_rfc3339_parse(after, &ms) != 0) {
		svc_reply_error(rp, 400, "'updated_after' must be an RFC 3339 "
		    "time");
		goto fail;
	}
	if ((v = json_object_get(body, "page_size")) != NULL &&
	    (!json_is_integer(v) || (n = json_integer_value(v)) < 1 ||
	    n > A2A_PAGE_MAX)) {
		svc_reply_error(rp, 400, "'page_size' must be 1..%d",
		    A2A_PAGE_MAX);
		goto fail;
	}
	if ((v = json_object_get(body, "offset")) != NULL &&
	    (!json_is_integer(v) || (o = json_integer_value(v)) < 0 ||
	    o > INT32_MAX)) {
		svc_reply_error(rp, 400, "'offset' must be a non-negative "
		    "integer");
		goto fail;
	}
	snprintf(size, sizeof(size), "%lld", n);
	snprintf(off, sizeof(off), "%lld", o);
	p[0] = ctx;
	p[1] = state;
	p[2] = after;
	p[3] = size;
	p[4] = off;
	if ((res = db_exec(c->sc_db, SQL_LIST, 5, p)) == NULL) {
		svc_reply_db_error(rp, c);
		goto fail;
	}
	for (i = 0; i < PQntuples(res); i++) {
		row = db_row_json(res, i);
		total = json_integer_value(json_object_get(row, "total"));
		json_object_del(row, "total");
		svc_list_add(&list, row);
	}
	if (PQntuples(res) == 0 && o > 0) {
		PQclear(res);
		if ((res = db_exec(c->sc_db, SQL_LIST_COUNT, 3, p)) == NULL) {
			svc_reply_db_error(rp, c);
			goto fail;
		}
		(void)util_strtonum(PQgetvalue(res, 0, 0), 0, INT64_MAX,
		    &total);
	}
	PQclear(res);
	if (list == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:o, s:I, s:o}", "tasks", list,
	    "total", (json_int_t)total, "next_offset", o + n < total ?
	    json_integer(o + n) : json_null()));
	return;
fail:
	json_decref(list);
}

/* ---- a2a.tasks.get, a2a.tasks.cancel ------------------------------------ */

/* Fails id if it is still working A2A_REAP_GRACE seconds past the turn
 * deadline (task_run's bus call gives up at that deadline and writes the
 * outcome, so only a task whose replica died is still working). */
static void
task_reap(struct svc_ctx *c, const char *id)
{
	struct agent_state	*as = c->sc_arg;
	const char		*p[2];
	char			 secs[32];

	if (!util_uuid_valid(id))
		return;
	snprintf(secs, sizeof(secs), "%lld",
	    as->as_cfg->turn_timeout_secs + A2A_REAP_GRACE);
	p[0] = id;
	p[1] = secs;
	if (db_cmd(c->sc_db, SQL_REAP, 2, p) != 0)
		log_warnx("%s: could not check A2A task '%s': %s", __func__, id,
		    db_errmsg(c->sc_db));
}

static void
reply_task(struct svc_ctx *c, struct svc_reply *rp, const char *id)
{
	json_t	*task;
	int	 err;

	task_reap(c, id);
	if ((task = a2a_task_get(c->sc_db, id, &err)) != NULL)
		svc_reply_json(rp, 200, task);
	else if (err == SH_ENOTFOUND)
		svc_reply_error(rp, 404, "Task not found");
	else
		svc_reply_db_error(rp, c);
}

static void
op_tasks_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	reply_task(c, rp, json_string_value(json_object_get(rq->mr_params,
	    PARAM_ID)) ?: "");
}

static void
op_tasks_cancel(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*id = json_string_value(json_object_get(rq->mr_params,
			    PARAM_ID)) ?: "";
	json_t		*task;
	char		 sid[UTIL_UUID_LEN];
	int		 err;

	if (!util_uuid_valid(id)) {
		svc_reply_error(rp, 404, "Task not found");
		return;
	}
	task = db_one_json(db_exec(c->sc_db, SQL_CANCEL, 1, &id), &err);
	if (task != NULL) {
		/* Its turn stops too, on whichever replica runs it; the
		 * turn's late outcome leaves the task canceled. */
		if (context_session(json_string_value(json_object_get(task,
		    "agent_id")) ?: "", json_string_value(json_object_get(task,
		    "context_id")) ?: "", sid) == 0)
			turn_control(c->sc_arg, json_string_value(
			    json_object_get(task, "agent_id")), sid);
		json_decref(task);
		reply_task(c, rp, id);
		return;
	}
	if (err != SH_ENOTFOUND) {
		svc_reply_db_error(rp, c);
		return;
	}
	if ((task = a2a_task_get(c->sc_db, id, &err)) == NULL) {
		if (err == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "Task not found");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_error(rp, 409, "Task cannot be canceled: it is %s",
	    json_string_value(json_object_get(task, "state")));
	json_decref(task);
}

const struct svc_op a2a_ops[] = {
	{ OP_A2A_AGENTS, op_agents },
	{ OP_A2A_TASKS_SEND, op_tasks_send },
	{ OP_A2A_TASKS_GET, op_tasks_get },
	{ OP_A2A_TASKS_CANCEL, op_tasks_cancel },
	{ OP_A2A_TASKS_LIST, op_tasks_list },
	{ OP_A2A_DISCOVER, a2a_op_discover },
	{ OP_A2A_PEERS_LIST, a2a_op_peers_list },
	{ OP_A2A_PEERS_GET, a2a_op_peers_get },
	{ OP_A2A_SEND, a2a_op_send },
	{ OP_A2A_OUT_GET, a2a_op_out_get },
	{ OP_A2A_OUT_STATUS, a2a_op_out_status },
	{ NULL, NULL }
};
