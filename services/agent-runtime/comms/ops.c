/*
 * comms/ops.c - comms.topology, comms.events, comms.send and comms.task
 * (the spec's "Comms & Network Endpoints"), and the asynchronous
 * agents.message calls behind the last two.
 *
 * A call's reply arrives on an nng thread, which must not block: its
 * callback only queues the call.  One comms thread (a libshared pool of
 * one, pool.h), with a database connection of its own, answers the
 * deferred request (which may block briefly), records TaskCompleted and
 * frees the call.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "bus.h"
#include "cfg.h"
#include "comms/comms.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "pool.h"
#include "services.h"
#include "util.h"

#define COMMS_TS(col)							\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const char SQL_NODES[] =
	"SELECT id::text AS id, name, state, summary AS summary_json, "
	"    parent_id::text AS parent_id "
	"FROM agents ORDER BY created_at, id";
static const char SQL_EVENTS[] =
	"SELECT id::text AS id, " COMMS_TS("at") " AS timestamp, kind, "
	"    source_id::text AS source_id, source_name, "
	"    target_id::text AS target_id, target_name, detail "
	"FROM comms_events ORDER BY seq DESC LIMIT $1::bigint";
static const char SQL_COUNT[] =
	"SELECT count(*)::bigint AS n FROM comms_events";
static const char SQL_PAIR[] =
	"SELECT id::text AS id FROM agents WHERE id IN ($1::uuid, $2::uuid)";

/* One comms.send or comms.task waiting for its agents.message reply. */
struct comms_call {
	struct pool_job		 cc_job;	/* first: the pool's */
	struct comms_call	*cc_next;	/* in flight */
	struct comms_call	**cc_pprev;
	struct bus_call		*cc_call;	/* NULL once freed */
	struct svc_pending	*cc_pending;
	int			 cc_task;	/* comms.task, else send */
	char			 cc_event[UTIL_UUID_LEN];
	char			 cc_from[UTIL_UUID_LEN];
	char			 cc_to[UTIL_UUID_LEN];
	int			 cc_err;	/* of the call; 0: cc_rep */
	struct msg_rep		 cc_rep;
};

static struct {
	pthread_mutex_t		 mtx;		/* inflight, quit */
	struct agent_state	*as;
	struct pool		*pool;		/* the comms thread */
	struct comms_call	*inflight;
	int			 quit;
} cm = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL, NULL, 0 };

/* ---- input ---------------------------------------------------------- */

/* body.key, an agent id, lowercased into out; 400 otherwise. */
static int
comms_agent_arg(json_t *body, const char *key, char out[UTIL_UUID_LEN],
    struct svc_reply *rp)
{
	json_t		*v = json_object_get(body, key);
	const char	*s = json_string_value(v);
	size_t		 i;

	if (v == NULL) {
		svc_reply_error(rp, 400, "'%s' is required", key);
		return (-1);
	}
	if (s == NULL || !util_uuid_valid(s)) {
		svc_reply_error(rp, 400, "'%s' must be an agent ID (a UUID)",
		    key);
		return (-1);
	}
	for (i = 0; i < UTIL_UUID_LEN; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	return (0);
}

/*
 * The body of comms.send ({from, to, message}) or comms.task ({from,
 * to, prompt}): both agents exist and differ, the text is 1 byte to
 * COMMS_MESSAGE_MAX without NUL.  *text is borrowed from rq.  0, or -1
 * after replying (400, 404, 503).
 */
static int
comms_check(struct svc_ctx *c, const struct msg_req *rq, const char *textkey,
    char from[UTIL_UUID_LEN], char to[UTIL_UUID_LEN], const char **text,
    struct svc_reply *rp)
{
	const char *const keys[] = { "from", "to", textkey, NULL };
	const char	*p[2];
	PGresult	*res;
	json_t		*v;
	int		 n;

	if (!json_is_object(rq->mr_body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object "
		    "{\"from\", \"to\", \"%s\"}", textkey);
		return (-1);
	}
	if (agent_body_keys(rq->mr_body, keys, rp) != 0 ||
	    comms_agent_arg(rq->mr_body, "from", from, rp) != 0 ||
	    comms_agent_arg(rq->mr_body, "to", to, rp) != 0)
		return (-1);
	v = json_object_get(rq->mr_body, textkey);
	if (!json_is_string(v)) {
		svc_reply_error(rp, 400, v == NULL ? "'%s' is required" :
		    "'%s' must be a string", textkey);
		return (-1);
	}
	if (json_string_length(v) == 0 ||
	    json_string_length(v) > COMMS_MESSAGE_MAX) {
		svc_reply_error(rp, 400, "'%s' must be 1 to %d bytes", textkey,
		    COMMS_MESSAGE_MAX);
		return (-1);
	}
	*text = json_string_value(v);
	if (strlen(*text) != json_string_length(v)) {
		svc_reply_error(rp, 400, "'%s' contains a NUL character",
		    textkey);
		return (-1);
	}
	/* The agent_send tool refuses it too: a turn messaging its own
	 * agent would wait on its own session. */
	if (strcmp(from, to) == 0) {
		svc_reply_error(rp, 400, "'from' and 'to' must be different "
		    "agents");
		return (-1);
	}
	p[0] = from;
	p[1] = to;
	if ((res = db_exec(c->sc_db, SQL_PAIR, 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	n = PQntuples(res);
	if (n < 2) {
		/* Which one is missing, for the message. */
		if (n == 1 && strcmp(PQgetvalue(res, 0, 0), from) == 0)
			svc_reply_error(rp, 404, "Agent not found: '%s' "
			    "(to)", to);
		else
			svc_reply_error(rp, 404, "Agent not found: '%s' "
			    "(from)", from);
		PQclear(res);
		return (-1);
	}
	PQclear(res);
	return (0);
}

/* ---- the calls ------------------------------------------------------ */

static void comms_job(struct pool_job *pj, struct db *db);

/* On an nng thread: hand the call to the comms thread. */
static void
comms_call_cb(void *arg, int err, struct msg_rep *rep)
{
	struct comms_call	*cc = arg;

	pthread_mutex_lock(&cm.mtx);
	if ((*cc->cc_pprev = cc->cc_next) != NULL)
		cc->cc_next->cc_pprev = cc->cc_pprev;
	cc->cc_next = NULL;
	cc->cc_pprev = NULL;
	cc->cc_err = err;
	if (err == 0)
		cc->cc_rep = *rep;	/* owned by cc from here */
	/*
	 * Never refused: the queue has no bound, and comms_stop() closes
	 * the pool only once no call is in flight.  Queued under the lock
	 * that unlisted it, so comms_stop() cannot see the list empty and
	 * close the pool between the two.
	 */
	cc->cc_job.pj_fn = comms_job;
	if (pool_queue(cm.pool, &cc->cc_job) != 0)
		fatalx("%s: the comms pool refused a call's answer", __func__);
	pthread_mutex_unlock(&cm.mtx);
}

static json_int_t
comms_int(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	return (json_is_integer(v) ? json_integer_value(v) : 0);
}

/* Answers cc's request, records a task's answer, frees cc.  db may be
 * NULL (then nothing is recorded). */
static void
comms_finish(struct comms_call *cc, struct db *db)
{
	json_t		*body = NULL, *resp;
	int		 status = 200;

	bus_call_free(cc->cc_call);
	if (cc->cc_err != 0) {
		status = cc->cc_err == SH_ETIMEDOUT ? 504 : 503;
		body = msg_error_body(cc->cc_err == SH_ETIMEDOUT ? "the "
		    "target agent did not answer in time" : "agent-runtime "
		    "unavailable");
	} else if (cc->cc_rep.mp_status != 200) {
		/* The turn's own error (404, 429, 503, ...), as it is. */
		status = cc->cc_rep.mp_status;
		body = json_incref(cc->cc_rep.mp_body);
	} else if (!cc->cc_task)
		body = json_pack("{s:s, s:s}", "status", "sent", "event_id",
		    cc->cc_event);
	else {
		resp = json_object_get(cc->cc_rep.mp_body, "response");
		body = json_pack("{s:s, s:s, s:{s:I, s:I}}", "status",
		    "completed", "response", json_is_string(resp) ?
		    json_string_value(resp) : "", "usage", "input_tokens",
		    comms_int(cc->cc_rep.mp_body, "input_tokens"),
		    "output_tokens", comms_int(cc->cc_rep.mp_body,
		    "output_tokens"));
		if (db != NULL && json_is_string(resp))
			json_decref(comms_record(db, cm.as, "TaskCompleted",
			    cc->cc_to, cc->cc_from, json_string_value(resp)));
	}
	(void)svc_pending_reply(cc->cc_pending, status, body);
	if (cc->cc_err == 0)
		msg_rep_release(&cc->cc_rep);
	free(cc);
}

/* On the comms thread.  Without a connection (out of memory), task
 * answers are not recorded; the rest works. */
static void
comms_job(struct pool_job *pj, struct db *db)
{
	comms_finish((struct comms_call *)(void *)pj, db);
}

void
comms_start(struct agent_state *as)
{
	char	conninfo[1024];

	cm.as = as;
	db_conninfo(as->as_cfg->database_url, as->as_cfg->home_dir, conninfo,
	    sizeof(conninfo));
	cm.quit = 0;
	if ((cm.pool = pool_open("comms", 1, 0, conninfo, "runtime")) == NULL)
		log_warnx("%s: could not start the comms thread; comms.send "
		    "and comms.task are off", __func__);
	explicit_bzero(conninfo, sizeof(conninfo));
}

void
comms_stop(void)
{
	struct comms_call	*cc;
	struct bus_call		*call;

	if (cm.pool == NULL)
		return;
	pthread_mutex_lock(&cm.mtx);
	cm.quit = 1;
	pthread_mutex_unlock(&cm.mtx);
	/* Calls still running: cancelling runs their callbacks, which queue
	 * them; the comms thread answers them (503) before the pool
	 * closes. */
	for (;;) {
		pthread_mutex_lock(&cm.mtx);
		if ((cc = cm.inflight) != NULL) {
			call = cc->cc_call;
			cc->cc_call = NULL;
		}
		pthread_mutex_unlock(&cm.mtx);
		if (cc == NULL)
			break;
		bus_call_free(call);
	}
	pool_close(cm.pool);
	cm.pool = NULL;
}

/*
 * Starts agents.message on agent to with text, as agent from, for a
 * deferred request.  The caller's comms_event tells comms_on_message()
 * that the event is recorded.  On failure replies (503) itself.
 */
static void
comms_call_start(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, int task, const char *event_id, const char *from,
    const char *to, const char *text)
{
	struct comms_call	*cc = NULL;
	struct agent_state	*as = c->sc_arg;
	char			 principal[64];
	json_t			*env = NULL;
	long long		 secs;
	int			 timeout_ms;

	secs = c->sc_cfg->turn_timeout_secs;
	if (secs <= 0 || secs > 86400)
		secs = 300;
	timeout_ms = (int)(secs * 1000);
	snprintf(principal, sizeof(principal), "agent:%s", from);
	env = msg_request(OP_AGENTS_MESSAGE, NULL, util_wall_ms() + timeout_ms,
	    json_pack("{s:s, s:i, s:s, s:s}", "principal", principal, "depth",
	    1, "comms_event", event_id, "request_id", rq->mr_id != NULL ?
	    rq->mr_id : ""), json_pack("{s:s}", PARAM_ID, to), NULL,
	    json_pack("{s:s}", "message", text));
	if (env == NULL || (cc = calloc(1, sizeof(*cc))) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	if (cm.pool == NULL || as->as_bus == NULL) {
		svc_reply_error(rp, 503, "agent-to-agent messages are "
		    "unavailable (no bus client)");
		goto done;
	}
	cc->cc_task = task;
	snprintf(cc->cc_event, sizeof(cc->cc_event), "%s", event_id);
	snprintf(cc->cc_from, sizeof(cc->cc_from), "%s", from);
	snprintf(cc->cc_to, sizeof(cc->cc_to), "%s", to);
	if ((cc->cc_pending = svc_defer(rq, rp)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	/*
	 * Listed and started under the lock: a reply that comes at once
	 * waits in the callback until cc_call is set.
	 */
	pthread_mutex_lock(&cm.mtx);
	if (cm.quit) {
		pthread_mutex_unlock(&cm.mtx);
		(void)svc_pending_reply(cc->cc_pending, 503, msg_error_body(
		    "agent-runtime is shutting down"));
		goto done;
	}
	if ((cc->cc_next = cm.inflight) != NULL)
		cc->cc_next->cc_pprev = &cc->cc_next;
	cc->cc_pprev = &cm.inflight;
	cm.inflight = cc;
	cc->cc_call = bus_call_start(as->as_bus, SVC_AGENT_RUNTIME, env,
	    timeout_ms, comms_call_cb, cc);
	if (cc->cc_call == NULL) {
		if ((*cc->cc_pprev = cc->cc_next) != NULL)
			cc->cc_next->cc_pprev = cc->cc_pprev;
		pthread_mutex_unlock(&cm.mtx);
		(void)svc_pending_reply(cc->cc_pending, 503, msg_error_body(
		    "agent-runtime unavailable on the bus"));
		goto done;
	}
	cc = NULL;
	pthread_mutex_unlock(&cm.mtx);
 done:
	free(cc);
	json_decref(env);
}

/* ---- operations ----------------------------------------------------- */

static void
op_send(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 from[UTIL_UUID_LEN], to[UTIL_UUID_LEN];
	const char	*text, *eid;
	json_t		*ev;

	if (comms_check(c, rq, "message", from, to, &text, rp) != 0)
		return;
	if ((ev = comms_record(c->sc_db, c->sc_arg, "AgentMessage", from, to,
	    text)) == NULL ||
	    (eid = json_string_value(json_object_get(ev, "id"))) == NULL) {
		svc_reply_db_error(rp, c);
		json_decref(ev);
		return;
	}
	comms_call_start(c, rq, rp, 0, eid, from, to, text);
	json_decref(ev);
}

static void
op_task(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 from[UTIL_UUID_LEN], to[UTIL_UUID_LEN];
	const char	*text, *eid;
	json_t		*ev;

	if (comms_check(c, rq, "prompt", from, to, &text, rp) != 0)
		return;
	if ((ev = comms_record(c->sc_db, c->sc_arg, "TaskPosted", from, to,
	    text)) == NULL ||
	    (eid = json_string_value(json_object_get(ev, "id"))) == NULL) {
		svc_reply_db_error(rp, c);
		json_decref(ev);
		return;
	}
	comms_call_start(c, rq, rp, 1, eid, from, to, text);
	json_decref(ev);
}

static void
op_events(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*s, *p[1];
	char		 lim[24];
	long long	 n = COMMS_LIMIT_DEFAULT, total;
	PGresult	*res = NULL;
	json_t		*list = NULL, *row;
	int		 i, err;

	s = json_string_value(json_object_get(rq->mr_query, "limit"));
	if (s != NULL && util_strtonum(s, 1, 1000000000LL, &n) != 0) {
		svc_reply_error(rp, 400, "'limit' must be a positive integer");
		return;
	}
	if (n > COMMS_LIMIT_MAX)
		n = COMMS_LIMIT_MAX;
	snprintf(lim, sizeof(lim), "%lld", n);
	p[0] = lim;
	if ((res = db_exec(c->sc_db, SQL_EVENTS, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		svc_list_add(&list, db_row_json(res, i));
	PQclear(res);
	if ((row = db_one_json(db_exec(c->sc_db, SQL_COUNT, 0, NULL),
	    &err)) == NULL) {
		json_decref(list);
		svc_reply_db_error(rp, c);
		return;
	}
	total = (long long)comms_int(row, "n");
	json_decref(row);
	svc_reply_json(rp, 200, list == NULL ? NULL : json_pack("{s:o, s:I}",
	    "events", list, "total", (json_int_t)total));
}

/* "running" -> "Running", as agents.get shows it. */
static json_t *
comms_state(const char *s)
{
	char	buf[32];

	snprintf(buf, sizeof(buf), "%s", s != NULL ? s : "");
	buf[0] = (char)toupper((unsigned char)buf[0]);
	return (json_string(buf));
}

static void
op_topology(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*nodes, *edges, *row;
	const char	*parent;
	int		 i;

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_NODES, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	nodes = json_array();
	edges = json_array();
	for (i = 0; i < PQntuples(res); i++) {
		if ((row = db_row_json(res, i)) == NULL) {
			json_decref(nodes);
			nodes = NULL;
			break;
		}
		svc_list_add(&nodes, json_pack("{s:O, s:O, s:o, s:s}", "id",
		    json_object_get(row, "id"), "name", json_object_get(row,
		    "name"), "state", comms_state(json_string_value(
		    json_object_get(row, "state"))), "model",
		    agent_model_shown(c, json_object_get(row,
		    "summary_json")) ?: ""));
		parent = json_string_value(json_object_get(row, "parent_id"));
		if (parent != NULL)
			svc_list_add(&edges, json_pack("{s:s, s:O, s:s}",
			    "from", parent, "to", json_object_get(row, "id"),
			    "kind", "ParentChild"));
		json_decref(row);
	}
	PQclear(res);
	if (nodes == NULL || edges == NULL) {
		json_decref(nodes);
		json_decref(edges);
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:o, s:o}", "nodes", nodes,
	    "edges", edges));
}

const struct svc_op comms_ops[] = {
	{ OP_COMMS_TOPOLOGY, op_topology },
	{ OP_COMMS_EVENTS, op_events },
	{ OP_COMMS_SEND, op_send },
	{ OP_COMMS_TASK, op_task },
	{ NULL, NULL }
};
