/*
 * dream.c - auto-dream (notes/extensions.md 9.2): an agent consolidates
 * its memory in a turn of its own.
 *
 * POST /api/auto-dream/agents/{id}/trigger records a dream (a row of
 * memory.dreams, status running), answers {fired, agent_id, task_id,
 * reason} at once, and runs the turn: agents.message on agent-runtime,
 * asynchronously, with the four-phase prompt (orient, gather,
 * consolidate, prune) and the agent's proactive memories in it; the
 * dream's task id is the turn's idempotency key, so a resent trigger
 * never runs two turns.  When the turn ends the row is completed (with
 * the agent's answer) or failed.  Dreams live in PostgreSQL, not in one
 * process, so any replica's status shows every dream.
 *
 * Gates: [auto_dream] enabled (default false) and the agent's opt-in
 * (PUT /api/auto-dream/agents/{id}/enabled, kept in memory.dream_agents).
 * On a schedule: every check_interval_secs each replica's tick claims,
 * under one advisory lock, the opted-in agents with no dream running and
 * none completed within min_hours, and dreams them; a manual trigger
 * ignores the time gate, as upstream.  The min_sessions gate is not
 * applied (sessions are agent-runtime's).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bus.h"
#include "cfg.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "memory.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "svc.h"
#include "util.h"

#define DREAM_MAX_RUNNING	64
#define DREAM_TIMEOUT_MS	600000		/* timeout_secs 600 */
#define DREAM_CONTEXT_ITEMS	"50"
#define DREAM_TEXT_MAX		8000

static const char DREAM_PROMPT[] =
	"[AUTO-DREAM] Memory consolidation. Work in four phases.\n"
	"1. Orient: review what you remember (memory_list, memory_recall).\n"
	"2. Gather: note facts that repeat, conflict or are stale.\n"
	"3. Consolidate: store merged, corrected facts (memory_store).\n"
	"4. Prune: drop what no longer matters.\n"
	"End with a short summary of what you changed.\n";

static const char SQL_CONTEXT[] =
	"SELECT count(*) OVER (), content FROM items WHERE agent_id = "
	"$1::uuid AND deleted_at IS NULL ORDER BY confidence DESC, "
	"accessed_at DESC LIMIT " DREAM_CONTEXT_ITEMS;
static const char SQL_START[] =
	"INSERT INTO dreams (task_id, agent_id, status, before_count) "
	"SELECT $1::uuid, $2::uuid, 'running', count(*) FROM items "
	"WHERE agent_id = $2::uuid AND deleted_at IS NULL";
static const char SQL_END[] =
	"UPDATE dreams SET status = $2, ended_at = clock_timestamp(), "
	"response = $3, error = $4, after_count = (SELECT count(*) FROM items "
	"WHERE agent_id = dreams.agent_id AND deleted_at IS NULL) "
	"WHERE task_id = $1::uuid AND status = 'running'";
/* The scheduled pass (under SQL_TICK_LOCK, in a transaction): opted-in
 * agents with no dream running and none completed in the last $1
 * seconds (min_hours) get a running dream row each. */
static const char SQL_TICK_LOCK[] =
	"SELECT pg_advisory_xact_lock(hashtext('memory.dream'))";
static const char SQL_CLAIM[] =
	"INSERT INTO dreams (task_id, agent_id, status, before_count) "
	"SELECT gen_random_uuid(), o.agent_id, 'running', (SELECT count(*) "
	"    FROM items i WHERE i.agent_id = o.agent_id AND i.deleted_at IS "
	"    NULL) FROM dream_agents o WHERE o.enabled AND NOT EXISTS "
	"    (SELECT 1 FROM dreams d WHERE d.agent_id = o.agent_id AND "
	"    (d.status = 'running' OR (d.status = 'completed' AND d.ended_at "
	"    > clock_timestamp() - make_interval(secs => $1::float8)))) "
	"LIMIT 16 RETURNING task_id, agent_id";
/* An agent agent-runtime no longer knows is no longer opted in, so the
 * schedule does not fail on it forever. */
static const char SQL_FORGET[] =
	"DELETE FROM dream_agents WHERE agent_id = (SELECT agent_id FROM "
	"dreams WHERE task_id = $1::uuid)";
static const char SQL_OPTED[] =
	"SELECT enabled FROM dream_agents WHERE agent_id = $1::uuid";
static const char SQL_ENABLE[] =
	"INSERT INTO dream_agents (agent_id, enabled) VALUES ($1::uuid, "
	"$2::boolean) ON CONFLICT (agent_id) DO UPDATE SET enabled = "
	"EXCLUDED.enabled, updated_at = clock_timestamp()";
/* Per agent: opt-in, last completed dream, last dream of any kind. */
static const char SQL_STATUS[] =
	"SELECT coalesce(json_object_agg(a.id, json_build_object("
	"    'enabled', coalesce(o.enabled, false), "
	"    'last_ms', (SELECT (extract(epoch FROM max(ended_at)) * 1000)"
	"        ::bigint FROM dreams d WHERE d.agent_id = a.id "
	"        AND d.status = 'completed'), "
	"    'last', (SELECT json_build_object('task_id', d.task_id, "
	"        'agent_id', d.agent_id, 'status', d.status, "
	"        'started_at_ms', (extract(epoch FROM d.started_at) * 1000)"
	"        ::bigint, 'ended_at_ms', (extract(epoch FROM d.ended_at) * "
	"        1000)::bigint, 'text', d.response, 'error', d.error, "
	"        'before', d.before_count, 'after', d.after_count) "
	"        FROM dreams d WHERE d.agent_id = a.id "
	"        ORDER BY d.started_at DESC LIMIT 1))), '{}'::json) "
	"FROM unnest($1::uuid[]) AS a(id) "
	"LEFT JOIN dream_agents o ON o.agent_id = a.id";

/* One running dream: its call and what the callback records. */
struct dream {
	struct bus_call	*dr_call;
	char		 dr_task[UTIL_UUID_LEN];
	int		 dr_done;	/* the callback ran */
};

static struct {
	pthread_mutex_t	 mtx;
	struct db	*db;		/* the callbacks' connection */
	struct db	*tick_db;	/* the tick thread's */
	pthread_t	 tick;
	int		 ticking;	/* tick was started */
	int		 stopping;	/* under mtx; tick_cv wakes it */
	pthread_cond_t	 tick_cv;
	struct dream	*run[DREAM_MAX_RUNNING];
	int		 enabled;	/* [auto_dream] enabled */
	double		 min_hours;
	long long	 min_sessions;
	long long	 check_interval;
} dream = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.tick_cv = PTHREAD_COND_INITIALIZER,
	.min_hours = 24,
	.min_sessions = 5,
	.check_interval = 86400,
};

static void	*dream_tick(void *);

void
dream_start(const struct sh_config *cfg)
{
	json_t	*sec = json_object_get(cfg->cf_doc, "auto_dream"), *v;
	char	 conninfo[1024];

	dream.enabled = json_is_true(json_object_get(sec, "enabled"));
	if (json_is_number(v = json_object_get(sec, "min_hours")) &&
	    json_number_value(v) >= 0 && json_number_value(v) <= 24 * 3650)
		dream.min_hours = json_number_value(v);
	if (json_is_integer(v = json_object_get(sec, "min_sessions")))
		dream.min_sessions = json_integer_value(v);
	if (json_is_integer(v = json_object_get(sec, "check_interval_secs")) &&
	    json_integer_value(v) >= 0 && json_integer_value(v) <= 86400 * 365)
		dream.check_interval = json_integer_value(v);
	db_conninfo(cfg->database_url, cfg->home_dir, conninfo,
	    sizeof(conninfo));
	if ((dream.db = db_open(conninfo, "memory")) == NULL)
		log_warnx("%s: could not open a database handle; dreams are "
		    "not recorded when they end", __func__);
	if (!dream.enabled || dream.check_interval <= 0)
		return;
	if ((dream.tick_db = db_open(conninfo, "memory")) == NULL ||
	    pthread_create(&dream.tick, NULL, dream_tick, NULL) != 0) {
		log_warnx("%s: could not start the schedule; only manual "
		    "dreams run", __func__);
		return;
	}
	dream.ticking = 1;
}

/* Frees the dreams whose callback ran (all of them, cancelling, when
 * all is set).  Called without the lock: bus_call_free() waits for a
 * running callback, which takes the lock. */
static void
dream_reap(int all)
{
	struct dream	*done[DREAM_MAX_RUNNING];
	int		 i, n = 0;

	pthread_mutex_lock(&dream.mtx);
	for (i = 0; i < DREAM_MAX_RUNNING; i++)
		if (dream.run[i] != NULL && (all || dream.run[i]->dr_done)) {
			done[n++] = dream.run[i];
			dream.run[i] = NULL;
		}
	pthread_mutex_unlock(&dream.mtx);
	for (i = 0; i < n; i++) {
		bus_call_free(done[i]->dr_call);
		free(done[i]);
	}
}

void
dream_stop(void)
{
	if (dream.ticking) {
		pthread_mutex_lock(&dream.mtx);
		dream.stopping = 1;
		pthread_cond_signal(&dream.tick_cv);
		pthread_mutex_unlock(&dream.mtx);
		pthread_join(dream.tick, NULL);
		dream.ticking = 0;
	}
	db_close(dream.tick_db);
	dream.tick_db = NULL;
	dream_reap(1);
	db_close(dream.db);
	dream.db = NULL;
}

/* Runs on an nng thread when the turn ends: records how.  The write is
 * short, on the dreams' own connection, under the lock. */
static void
dream_done(void *arg, int err, struct msg_rep *rep)
{
	struct dream	*d = arg;
	const char	*p[4], *text = NULL;
	char		 ebuf[256];

	p[0] = d->dr_task;
	p[1] = "failed";
	p[2] = NULL;
	p[3] = ebuf;
	if (err != 0)
		snprintf(ebuf, sizeof(ebuf), "agent-runtime did not answer "
		    "(%s)", sh_strerror(err));
	else if (rep->mp_status != 200) {
		text = json_string_value(json_object_get(rep->mp_body,
		    "error"));
		snprintf(ebuf, sizeof(ebuf), "the turn failed (%d): %.200s",
		    rep->mp_status, text != NULL ? text : "");
	} else {
		p[1] = "completed";
		p[2] = json_string_value(json_object_get(rep->mp_body,
		    "response"));
		p[3] = NULL;
	}
	pthread_mutex_lock(&dream.mtx);
	if (dream.db != NULL && db_cmd(dream.db, SQL_END, 4, p) != 0)
		log_warnx("%s: could not record dream '%s': %s", __func__,
		    d->dr_task, db_errmsg(dream.db));
	if (dream.db != NULL && err == 0 && rep->mp_status == 404)
		(void)db_cmd(dream.db, SQL_FORGET, 1, p);
	d->dr_done = 1;
	pthread_mutex_unlock(&dream.mtx);
	if (rep != NULL)
		msg_rep_release(rep);
}

/* The dream's message: the prompt and the agent's memories (new). */
static char *
dream_message(PGresult *ctx)
{
	char	*out;
	size_t	 len, cap = sizeof(DREAM_PROMPT) + DREAM_TEXT_MAX + 128;
	int	 i;

	if ((out = malloc(cap)) == NULL)
		return (NULL);
	len = (size_t)snprintf(out, cap, "%s\nYour proactive memories (%s "
	    "in all, the strongest first):\n", DREAM_PROMPT,
	    PQntuples(ctx) > 0 ? PQgetvalue(ctx, 0, 0) : "0");
	for (i = 0; i < PQntuples(ctx) && len < cap - 1; i++)
		len += (size_t)snprintf(out + len, cap - len, "- %.300s\n",
		    PQgetvalue(ctx, i, 1));
	return (out);
}

/* {fired: false, agent_id, task_id: null, reason}. */
static void
not_fired(struct svc_reply *rp, const char *id, const char *reason)
{
	svc_reply_json(rp, 200, json_pack("{s:b, s:s, s:n, s:s}", "fired", 0,
	    "agent_id", id, "task_id", "reason", reason));
}

/* The dream's message for agent id (new), built from its memories on
 * db; NULL on a database error or ENOMEM. */
static char *
dream_prompt(struct db *db, const char *id)
{
	const char	*p[1] = { id };
	PGresult	*res;
	char		*msg;

	if ((res = db_exec(db, SQL_CONTEXT, 1, p)) == NULL)
		return (NULL);
	msg = dream_message(res);
	PQclear(res);
	return (msg);
}

/*
 * Starts the turn of dream task (its row already running) for agent id:
 * 0, or -1 when it could not start (the row is then failed, with why in
 * err).  db is the caller's connection.
 */
static int
dream_launch(struct db *db, const char *id, const char *task, char *err,
    size_t errlen)
{
	struct dream	*d = NULL;
	const char	*p[2];
	char		*msg = NULL;
	json_t		*req = NULL;
	int		 i, slot = -1, ret = -1;

	snprintf(err, errlen, "out of memory");
	if ((msg = dream_prompt(db, id)) == NULL) {
		snprintf(err, errlen, "could not read the agent's memories");
		goto done;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto done;
	snprintf(d->dr_task, sizeof(d->dr_task), "%s", task);
	dream_reap(0);
	pthread_mutex_lock(&dream.mtx);
	for (i = 0; i < DREAM_MAX_RUNNING && slot < 0; i++)
		if (dream.run[i] == NULL)
			slot = i;
	if (slot >= 0)
		dream.run[slot] = d;	/* reserved; dr_call set below */
	pthread_mutex_unlock(&dream.mtx);
	if (slot < 0) {
		snprintf(err, errlen, "too many dreams running");
		goto done;
	}
	req = msg_request(OP_AGENTS_MESSAGE, NULL, util_wall_ms() +
	    DREAM_TIMEOUT_MS, json_pack("{s:s, s:s}", "principal",
	    "auto-dream", "idempotency_key", task), json_pack("{s:s}",
	    PARAM_ID, id), NULL, json_pack("{s:s}", "message", msg));
	/* The lock keeps the callback (which marks dr_done) from racing
	 * the store of dr_call. */
	pthread_mutex_lock(&dream.mtx);
	if (req != NULL && memory_bus() != NULL)
		d->dr_call = bus_call_start(memory_bus(), SVC_AGENT_RUNTIME,
		    req, DREAM_TIMEOUT_MS, dream_done, d);
	if (d->dr_call == NULL)
		dream.run[slot] = NULL;
	pthread_mutex_unlock(&dream.mtx);
	if (d->dr_call == NULL) {
		snprintf(err, errlen, "could not reach agent-runtime");
		goto done;
	}
	d = NULL;
	ret = 0;
 done:
	if (ret != 0) {
		p[0] = task;
		p[1] = err;
		(void)db_cmd(db, "UPDATE dreams SET status = 'failed', "
		    "ended_at = clock_timestamp(), error = $2 WHERE task_id = "
		    "$1::uuid AND status = 'running'", 2, p);
	}
	json_decref(req);
	free(msg);
	free(d);
	return (ret);
}

/* POST /api/auto-dream/agents/{id}/trigger -> {fired, agent_id, task_id,
 * reason}.  A manual dream ignores the time gate, as upstream. */
static void
dream_op_trigger(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], task[UTIL_UUID_LEN], err[128];
	const char	*p[2];
	PGresult	*res;

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	if (!dream.enabled) {
		not_fired(rp, id, "auto-dream is disabled in config");
		return;
	}
	if (mem_agent_known(id, rp) != 0)
		return;
	p[0] = id;
	if ((res = db_exec(c->sc_db, SQL_OPTED, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 0 || PQgetvalue(res, 0, 0)[0] != 't') {
		PQclear(res);
		not_fired(rp, id, "agent has not opted in to auto-dream");
		return;
	}
	PQclear(res);
	util_uuid4(task);
	p[0] = task;
	p[1] = id;
	if (db_cmd(c->sc_db, SQL_START, 2, p) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (dream_launch(c->sc_db, id, task, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 503, "%s", err);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:b, s:s, s:s, s:s}", "fired", 1,
	    "agent_id", id, "task_id", task, "reason", "triggered manually"));
}

/* One scheduled pass: claims the due dreams (one replica at a time, under
 * the advisory lock, so two replicas never dream the same agent twice)
 * and starts them. */
static void
dream_scheduled(void)
{
	struct db	*db = dream.tick_db;
	char		 secs[32], err[128];
	const char	*p[1];
	PGresult	*res = NULL;
	int		 i;

	snprintf(secs, sizeof(secs), "%.3f", dream.min_hours * 3600);
	p[0] = secs;
	if (mem_begin(db) != 0 || db_cmd(db, SQL_TICK_LOCK, 0, NULL) != 0 ||
	    (res = db_exec(db, SQL_CLAIM, 1, p)) == NULL ||
	    mem_commit(db) != 0) {
		log_warnx("%s: could not claim due dreams: %s", __func__,
		    db_errmsg(db));
		mem_rollback(db);
		PQclear(res);
		return;
	}
	for (i = 0; i < PQntuples(res); i++)
		if (dream_launch(db, PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 0), err, sizeof(err)) != 0)
			log_warnx("%s: could not start dream '%s': %s",
			    __func__, PQgetvalue(res, i, 0), err);
	PQclear(res);
}

/* The schedule: every check_interval_secs, until dream_stop(). */
static void *
dream_tick(void *arg)
{
	struct timespec	 ts;

	(void)arg;
	pthread_mutex_lock(&dream.mtx);
	while (!dream.stopping) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += dream.check_interval;
		(void)pthread_cond_timedwait(&dream.tick_cv, &dream.mtx, &ts);
		if (dream.stopping)
			break;
		pthread_mutex_unlock(&dream.mtx);
		dream_scheduled();
		pthread_mutex_lock(&dream.mtx);
	}
	pthread_mutex_unlock(&dream.mtx);
	return (NULL);
}

/* PUT /api/auto-dream/agents/{id}/enabled {enabled} -> {agent_id,
 * enabled}. */
static void
dream_op_enable(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[2];
	json_t		*v = json_object_get(rq->mr_body, "enabled");

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	if (!json_is_object(rq->mr_body) || !json_is_boolean(v) ||
	    json_object_size(rq->mr_body) != 1) {
		svc_reply_error(rp, 400, "body must be {\"enabled\": bool}");
		return;
	}
	if (mem_agent_known(id, rp) != 0)
		return;
	p[0] = id;
	p[1] = json_is_true(v) ? "true" : "false";
	if (db_cmd(c->sc_db, SQL_ENABLE, 2, p) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:b}", "agent_id", id,
	    "enabled", json_is_true(v)));
}

/* One agent's status entry from its summary a and our row s. */
static json_t *
dream_agent(json_t *a, json_t *s)
{
	json_t	*last = json_object_get(s, "last"), *prog = json_null(), *o;
	int	 on = json_is_true(json_object_get(s, "enabled"));

	if (json_is_object(last))
		prog = json_pack("{s:O, s:O, s:O, s:O, s:O, s:s, s:i, s:[], "
		    "s:[{s:O, s:i}], s:O}",
		    "task_id", json_object_get(last, "task_id"),
		    "agent_id", json_object_get(last, "agent_id"),
		    "started_at_ms", json_object_get(last, "started_at_ms"),
		    "ended_at_ms", json_object_get(last, "ended_at_ms"),
		    "status", json_object_get(last, "status"),
		    "phase", strcmp(json_string_value(json_object_get(last,
		    "status")), "running") == 0 ? "consolidate" : "done",
		    "tool_use_count", 0, "memories_touched", "turns", "text",
		    json_object_get(last, "text"), "tool_use_count", 0,
		    "error", json_object_get(last, "error"));
	o = json_pack("{s:O, s:O, s:b, s:I, s:i, s:f, s:I, s:s, s:o, s:b}",
	    "agent_id", json_object_get(a, "id"),
	    "agent_name", json_object_get(a, "name"),
	    "auto_dream_enabled", on,
	    "last_consolidated_at_ms", on && json_is_integer(json_object_get(s,
	    "last_ms")) ? (json_int_t)json_integer_value(json_object_get(s,
	    "last_ms")) : (json_int_t)0,
	    "sessions_since_last", 0,
	    "effective_min_hours", on ? dream.min_hours : 0.0,
	    "effective_min_sessions", (json_int_t)(on ? dream.min_sessions :
	    0),
	    "lock_path", "",
	    "progress", prog ? prog : json_null(),
	    "can_abort", 0);
	return (o);
}

/* GET /api/auto-dream/status (notes/extensions.md 9.2). */
static void
dream_op_status(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct bus_client	*bc = memory_bus();
	struct msg_rep		 rep;
	json_t			*req, *a, *agents = NULL, *rows = NULL;
	char			*arr = NULL;
	const char		*p[1];
	size_t			 i, n, off = 0;
	PGresult		*res;
	int			 rv;

	(void)rq;
	if (bc == NULL) {
		svc_reply_error(rp, 503, "agent-runtime is unavailable");
		return;
	}
	if ((req = msg_request(OP_AGENTS_LIST, NULL, util_wall_ms() + 5000,
	    json_pack("{s:s}", "principal", "memory"), NULL, NULL, NULL)) ==
	    NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	rv = bus_call(bc, SVC_AGENT_RUNTIME, req, 5000, &rep);
	json_decref(req);
	if (rv != 0 || rep.mp_status != 200 || !json_is_array(rep.mp_body)) {
		if (rv == 0)
			msg_rep_release(&rep);
		svc_reply_error(rp, 503, "agent-runtime did not list agents");
		return;
	}
	n = json_array_size(rep.mp_body);
	if ((arr = malloc(n * UTIL_UUID_LEN + 3)) == NULL)
		goto oom;
	arr[off++] = '{';
	json_array_foreach(rep.mp_body, i, a)
		if (util_uuid_valid(json_string_value(json_object_get(a,
		    "id"))))
			off += (size_t)snprintf(arr + off, UTIL_UUID_LEN + 1,
			    "%s%s", off > 1 ? "," : "",
			    json_string_value(json_object_get(a, "id")));
	arr[off++] = '}';
	arr[off] = '\0';
	p[0] = arr;
	if ((res = db_exec(c->sc_db, SQL_STATUS, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	rows = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if ((agents = json_array()) == NULL)
		goto oom;
	json_array_foreach(rep.mp_body, i, a)
		svc_list_add(&agents, dream_agent(a, json_object_get(rows,
		    json_string_value(json_object_get(a, "id")))));
	if (agents == NULL)
		goto oom;
	svc_reply_json(rp, 200, json_pack("{s:b, s:f, s:I, s:I, s:s, s:o}",
	    "enabled", dream.enabled, "min_hours", dream.min_hours,
	    "min_sessions", (json_int_t)dream.min_sessions,
	    "check_interval_secs", (json_int_t)dream.check_interval,
	    "lock_dir", "", "agents", agents));
	agents = NULL;
	goto done;
 oom:
	svc_reply_error(rp, 500, "out of memory");
 done:
	json_decref(agents);
	json_decref(rows);
	free(arr);
	msg_rep_release(&rep);
}

const struct svc_op dream_ops[] = {
	{ OP_AUTODREAM_STATUS, dream_op_status },
	{ OP_AUTODREAM_TRIGGER, dream_op_trigger },
	{ OP_AUTODREAM_ENABLE, dream_op_enable },
	{ NULL, NULL }
};
