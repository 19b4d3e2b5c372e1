/*
 * dream.c - auto-dream (notes/extensions.md 9.2): an agent consolidates
 * its memory in a turn of its own.
 *
 * POST /api/auto-dream/agents/{id}/trigger records a dream (a row of
 * memory.dreams, status running), answers {fired, agent_id, task_id,
 * reason} at once, and runs the turn: agents.message on agent-runtime,
 * asynchronously, in a session of its own (made for the dream), with the
 * four-phase prompt (orient, gather, consolidate, prune) and the agent's
 * proactive memories in it, and only the memory tools (caller
 * tool_allow); the dream's task id is the turn's idempotency key, so a
 * resent trigger never runs two turns.  When the turn ends the row is
 * completed (with the agent's answer, usage and tool calls) or failed,
 * and a DreamConsolidation audit entry commits with it.  Dreams live in
 * PostgreSQL, not in one process, so any replica's status shows every
 * dream; at most one runs per agent (a unique index), which is the lock.
 *
 * Gates: [auto_dream] enabled (default false); the agent's opt-in: its
 * manifest's auto_dream_enabled, unless PUT /api/auto-dream/agents/{id}/
 * enabled set ours (memory.dream_agents); and on a schedule, min_hours
 * since its last completed dream and min_sessions sessions touched since
 * then (0: no such gate), each the manifest's auto_dream_min_* when set.
 * agent-runtime answers the manifest's fields and the session counts
 * (agents.dream): we never read its tables.  Every check_interval_secs
 * each replica's tick claims, under one advisory lock, the due agents,
 * so any number of replicas dream an agent once per window; a manual
 * trigger ignores the time and session gates, as upstream.
 *
 * A manual dream can be aborted (POST .../abort): the row is aborted at
 * once (the lock released) and its session interrupted.  A dream still
 * running after timeout_secs (600) is failed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "audit.h"
#include "buf.h"
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
#define DREAM_CONTEXT_ITEMS	"50"
#define DREAM_TEXT_MAX		8000
#define DREAM_LOST_GRACE	"30"	/* s past timeout_secs before a dream
					   no callback recorded is failed */
#define DREAM_CALL_MS		5000	/* agents.dream, sessions.interrupt */

static const char DREAM_PROMPT[] =
	"[AUTO-DREAM] Memory consolidation. Work in four phases.\n"
	"1. Orient: review what you remember (memory_list, memory_recall).\n"
	"2. Gather: note facts that repeat, conflict or are stale.\n"
	"3. Consolidate: store merged, corrected facts (memory_store).\n"
	"4. Prune: drop what no longer matters (memory_forget).\n"
	"End with a short summary of what you changed.\n";

/* The tools a dream's turn may call (by either name; the manifest's
 * grants still apply): upstream's three, and forget for the prune. */
static const char *const dream_tools[] = {
	"memory_store", "memory_recall", "memory_list", "memory_forget", NULL
};

static const char SQL_CONTEXT[] =
	"SELECT count(*) OVER (), content FROM items WHERE agent_id = "
	"$1::uuid AND deleted_at IS NULL ORDER BY confidence DESC, "
	"accessed_at DESC LIMIT " DREAM_CONTEXT_ITEMS;
/* A manual dream; nothing when one already runs (the unique index). */
static const char SQL_START[] =
	"INSERT INTO dreams (task_id, agent_id, status, before_count, manual, "
	"    session_id) "
	"SELECT $1::uuid, $2::uuid, 'running', count(*), true, $3::uuid "
	"FROM items WHERE agent_id = $2::uuid AND deleted_at IS NULL "
	"ON CONFLICT (agent_id) WHERE status = 'running' DO NOTHING "
	"RETURNING task_id";
/*
 * Every way a dream ends sets these and returns the same columns, which
 * dream_end() turns into the DreamConsolidation entries.  touched: the
 * KV keys and items of the agent changed since the dream started (at
 * most 100).
 */
#define DREAM_END_SET							\
	"ended_at = clock_timestamp(), after_count = (SELECT count(*) "	\
	"FROM items WHERE agent_id = dreams.agent_id AND deleted_at IS "\
	"NULL), touched = (SELECT coalesce(jsonb_agg(m), '[]') FROM ("	\
	"SELECT 'kv:' || k.key AS m FROM kv k WHERE k.agent_id = "	\
	"dreams.agent_id AND k.updated_at >= dreams.started_at UNION "	\
	"SELECT h.item_id::text FROM item_history h JOIN items i ON "	\
	"i.id = h.item_id WHERE i.agent_id = dreams.agent_id AND "	\
	"h.created_at >= dreams.started_at LIMIT 100) t) "
#define DREAM_END_RETURNING						\
	" RETURNING task_id, agent_id, status, coalesce(error, ''), "	\
	"before_count, after_count, jsonb_array_length(touched), "	\
	"coalesce(session_id::text, '')"
static const char SQL_END[] =
	"UPDATE dreams SET status = $2, response = $3, error = $4, "
	"input_tokens = $5::bigint, output_tokens = $6::bigint, iterations = "
	"$7::integer, cost_usd = $8::float8, tool_use_count = "
	"coalesce($9::integer, 0), " DREAM_END_SET
	"WHERE task_id = $1::uuid AND status = 'running'" DREAM_END_RETURNING;
static const char SQL_FAIL[] =
	"UPDATE dreams SET status = 'failed', error = $2, " DREAM_END_SET
	"WHERE task_id = $1::uuid AND status = 'running'" DREAM_END_RETURNING;
/* Abort: manual dreams only. */
static const char SQL_ABORT[] =
	"UPDATE dreams SET status = 'aborted', error = 'aborted', "
	DREAM_END_SET "WHERE agent_id = $1::uuid AND status = 'running' AND "
	"manual" DREAM_END_RETURNING;
/* Dreams no callback recorded in time (their replica died, or its call
 * was lost): failed, so the agent's lock is released. */
static const char SQL_REAP[] =
	"UPDATE dreams SET status = 'failed', error = 'timed out after ' || "
	"$1::text || ' s', " DREAM_END_SET "WHERE status = 'running' AND "
	"started_at < clock_timestamp() - make_interval(secs => $1::float8 "
	"+ " DREAM_LOST_GRACE ")" DREAM_END_RETURNING;
static const char SQL_RUNNING[] =
	"SELECT manual FROM dreams WHERE agent_id = $1::uuid AND status = "
	"'running'";
/* {agent id: ms of its last completed dream}, for agents.dream. */
static const char SQL_SINCE[] =
	"SELECT coalesce(json_object_agg(agent_id, ms), '{}') FROM (SELECT "
	"agent_id, (extract(epoch FROM max(ended_at)) * 1000)::bigint AS ms "
	"FROM dreams WHERE status = 'completed' GROUP BY agent_id) x";
/* {agent id: our opt-in}, for the schedule. */
static const char SQL_OPTS[] =
	"SELECT coalesce(json_object_agg(agent_id, enabled), '{}') FROM "
	"dream_agents";
/* The scheduled pass (under SQL_TICK_LOCK, in a transaction): of the
 * agents the gates left ($1, with their min_hours in seconds in $2),
 * those with no dream running and none completed in their window get a
 * running dream row each. */
static const char SQL_TICK_LOCK[] =
	"SELECT pg_advisory_xact_lock(hashtext('memory.dream'))";
static const char SQL_CLAIM[] =
	"INSERT INTO dreams (task_id, agent_id, status, before_count, "
	"    session_id) "
	"SELECT gen_random_uuid(), c.id, 'running', (SELECT count(*) "
	"    FROM items i WHERE i.agent_id = c.id AND i.deleted_at IS NULL), "
	"    gen_random_uuid() "
	"FROM unnest($1::uuid[], $2::float8[]) AS c(id, secs) WHERE NOT "
	"    EXISTS (SELECT 1 FROM dreams d WHERE d.agent_id = c.id AND "
	"    (d.status = 'running' OR (d.status = 'completed' AND d.ended_at "
	"    > clock_timestamp() - make_interval(secs => c.secs)))) "
	"LIMIT 16 ON CONFLICT (agent_id) WHERE status = 'running' DO NOTHING "
	"RETURNING task_id, agent_id, session_id";
/* An agent agent-runtime no longer knows is no longer opted in. */
static const char SQL_FORGET[] =
	"DELETE FROM dream_agents WHERE agent_id = (SELECT agent_id FROM "
	"dreams WHERE task_id = $1::uuid)";
static const char SQL_OPTED[] =
	"SELECT enabled FROM dream_agents WHERE agent_id = $1::uuid";
static const char SQL_ENABLE[] =
	"INSERT INTO dream_agents (agent_id, enabled) VALUES ($1::uuid, "
	"$2::boolean) ON CONFLICT (agent_id) DO UPDATE SET enabled = "
	"EXCLUDED.enabled, updated_at = clock_timestamp()";
/* Per agent: our opt-in (null: the manifest's), last completed dream,
 * last dream of any kind. */
static const char SQL_STATUS[] =
	"SELECT coalesce(json_object_agg(a.id, json_build_object("
	"    'opt', o.enabled, "
	"    'last_ms', (SELECT (extract(epoch FROM max(ended_at)) * 1000)"
	"        ::bigint FROM dreams d WHERE d.agent_id = a.id "
	"        AND d.status = 'completed'), "
	"    'last', (SELECT json_build_object('task_id', d.task_id, "
	"        'agent_id', d.agent_id, 'status', d.status, "
	"        'started_at_ms', (extract(epoch FROM d.started_at) * 1000)"
	"        ::bigint, 'ended_at_ms', (extract(epoch FROM d.ended_at) * "
	"        1000)::bigint, 'text', d.response, 'error', d.error, "
	"        'before', d.before_count, 'after', d.after_count, "
	"        'manual', d.manual, 'tool_use_count', d.tool_use_count, "
	"        'touched', d.touched, 'input_tokens', d.input_tokens, "
	"        'output_tokens', d.output_tokens, 'iterations', "
	"        d.iterations, 'cost_usd', d.cost_usd, 'latency_ms', "
	"        (extract(epoch FROM d.ended_at - d.started_at) * 1000)"
	"        ::bigint) "
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
	struct svc_tick	*tick;		/* the schedule */
	struct dream	*run[DREAM_MAX_RUNNING];
	int		 enabled;	/* [auto_dream] enabled */
	double		 min_hours;
	long long	 min_sessions;
	long long	 check_interval;
	long long	 timeout_secs;
} dream = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.min_hours = 24,
	.min_sessions = 5,
	.check_interval = 86400,
	.timeout_secs = 600,
};

static void	 dream_tick(void *);

void
dream_start(const struct sh_config *cfg)
{
	json_t	*sec = json_object_get(cfg->cf_doc, "auto_dream"), *v;
	char	 conninfo[1024];

	dream.enabled = json_is_true(json_object_get(sec, "enabled"));
	if (json_is_number(v = json_object_get(sec, "min_hours")) &&
	    json_number_value(v) >= 0 && json_number_value(v) <= 24 * 3650)
		dream.min_hours = json_number_value(v);
	if (json_is_integer(v = json_object_get(sec, "min_sessions")) &&
	    json_integer_value(v) >= 0 && json_integer_value(v) <= 1000000)
		dream.min_sessions = json_integer_value(v);
	if (json_is_integer(v = json_object_get(sec, "check_interval_secs")) &&
	    json_integer_value(v) >= 0 && json_integer_value(v) <= 86400 * 365)
		dream.check_interval = json_integer_value(v);
	if (json_is_integer(v = json_object_get(sec, "timeout_secs")) &&
	    json_integer_value(v) >= 1 && json_integer_value(v) <= 86400)
		dream.timeout_secs = json_integer_value(v);
	db_conninfo(cfg->database_url, cfg->home_dir, conninfo,
	    sizeof(conninfo));
	if ((dream.db = db_open(conninfo, "memory")) == NULL)
		log_warnx("%s: could not open a database handle; dreams are "
		    "not recorded when they end", __func__);
	if (!dream.enabled || dream.check_interval <= 0)
		return;
	if ((dream.tick_db = db_open(conninfo, "memory")) == NULL ||
	    (dream.tick = svc_tick_start("the dream schedule",
	    dream.check_interval * 1000, 0, dream_tick, NULL)) == NULL)
		log_warnx("%s: could not start the schedule; only manual "
		    "dreams run", __func__);
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
	svc_tick_stop(dream.tick);
	dream.tick = NULL;
	db_close(dream.tick_db);
	dream.tick_db = NULL;
	dream_reap(1);
	db_close(dream.db);
	dream.db = NULL;
}

/*
 * Runs sql (an UPDATE ending dreams, DREAM_END_RETURNING) on db and, in
 * the same transaction, records a DreamConsolidation entry for each
 * dream it ended.  0 with the rows in *out (new; NULL: not wanted), or
 * -1 (db_errmsg; nothing changed).
 */
static int
dream_end(struct db *db, const char *sql, int n, const char *const *p,
    PGresult **out)
{
	PGresult	*res = NULL;
	char		 detail[512];
	const char	*st, *err;
	int		 i, ret = -1;

	if (out != NULL)
		*out = NULL;
	if (mem_begin(db) != 0)
		return (-1);
	if ((res = db_exec(db, sql, n, p)) == NULL)
		goto done;
	for (i = 0; i < PQntuples(res); i++) {
		st = PQgetvalue(res, i, 2);
		err = PQgetvalue(res, i, 3);
		snprintf(detail, sizeof(detail), "Auto-dream %s %s%s%.200s%s; "
		    "memories %s -> %s, %s touched", PQgetvalue(res, i, 0), st,
		    *err != '\0' ? " (" : "", err, *err != '\0' ? ")" : "",
		    PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
		    PQgetvalue(res, i, 6));
		if (audit_record(db, AUDIT_DREAM_CONSOLIDATION,
		    PQgetvalue(res, i, 1), detail, strcmp(st, "completed") ==
		    0 ? "ok" : st) != 0)
			goto done;
	}
	if (mem_commit(db) != 0)
		goto done;
	ret = 0;
 done:
	if (ret != 0)
		mem_rollback(db);
	if (ret == 0 && out != NULL)
		*out = res;
	else
		PQclear(res);
	return (ret);
}

/* Runs on an nng thread when the turn ends: records how.  The write is
 * short, on the dreams' own connection, under the lock. */
static void
dream_done(void *arg, int err, struct msg_rep *rep)
{
	struct dream	*d = arg;
	const char	*p[9], *text = NULL;
	char		 ebuf[256], num[5][32];
	json_t		*b = rep != NULL ? rep->mp_body : NULL;

	memset(p, 0, sizeof(p));
	p[0] = d->dr_task;
	p[1] = "failed";
	p[3] = ebuf;
	if (err == SH_ETIMEDOUT)
		snprintf(ebuf, sizeof(ebuf), "timed out after %lld s",
		    dream.timeout_secs);
	else if (err != 0)
		snprintf(ebuf, sizeof(ebuf), "agent-runtime did not answer "
		    "(%s)", sh_strerror(err));
	else if (rep->mp_status != 200) {
		text = json_string_value(json_object_get(b, "error"));
		snprintf(ebuf, sizeof(ebuf), "the turn failed (%d): %.200s",
		    rep->mp_status, text != NULL ? text : "");
	} else {
		p[1] = "completed";
		p[2] = json_string_value(json_object_get(b, "response"));
		p[3] = NULL;
		/* What the turn reports, for the status' usage. */
		snprintf(num[0], sizeof(num[0]), "%lld", (long long)
		    json_integer_value(json_object_get(b, "input_tokens")));
		snprintf(num[1], sizeof(num[1]), "%lld", (long long)
		    json_integer_value(json_object_get(b, "output_tokens")));
		snprintf(num[2], sizeof(num[2]), "%lld", (long long)
		    json_integer_value(json_object_get(b, "iterations")));
		snprintf(num[3], sizeof(num[3]), "%.17g",
		    json_number_value(json_object_get(b, "cost_usd")));
		/* One decision trace per tool call the turn made. */
		snprintf(num[4], sizeof(num[4]), "%zu",
		    json_array_size(json_object_get(b, "decision_traces")));
		p[4] = num[0];
		p[5] = num[1];
		p[6] = num[2];
		p[7] = json_is_number(json_object_get(b, "cost_usd")) ?
		    num[3] : NULL;
		p[8] = num[4];
	}
	pthread_mutex_lock(&dream.mtx);
	if (dream.db != NULL && dream_end(dream.db, SQL_END, 9, p, NULL) != 0)
		log_warnx("%s: could not record dream '%s': %s", __func__,
		    d->dr_task, db_errmsg(dream.db));
	if (dream.db != NULL && err == 0 && rep->mp_status == 404)
		(void)db_cmd(dream.db, SQL_FORGET, 1, p);
	d->dr_done = 1;
	pthread_mutex_unlock(&dream.mtx);
	if (rep != NULL)
		msg_rep_release(rep);
}

/* Fails the dreams no callback recorded in time (on db). */
static void
dream_reap_lost(struct db *db)
{
	char		 secs[32];
	const char	*p[1] = { secs };

	snprintf(secs, sizeof(secs), "%lld", dream.timeout_secs);
	if (dream_end(db, SQL_REAP, 1, p, NULL) != 0)
		log_warnx("%s: could not fail lost dreams: %s", __func__,
		    db_errmsg(db));
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

/* The caller meta of a dream's turn (new): run once per task, in the
 * dream's own session (made for it), with the memory tools only. */
static json_t *
dream_caller(const char *task)
{
	json_t	*o, *tools;
	int	 i;

	if ((tools = json_array()) == NULL)
		return (NULL);
	for (i = 0; dream_tools[i] != NULL; i++)
		json_array_append_new(tools, json_string(dream_tools[i]));
	o = json_pack("{s:s, s:s, s:b, s:o}", "principal", "auto-dream",
	    "idempotency_key", task, "session_create", 1, "tool_allow", tools);
	return (o);
}

/*
 * Starts the turn of dream task (its row already running, in session
 * sid) for agent id: 0, or -1 when it could not start (the row is then
 * failed, with why in err).  db is the caller's connection.
 */
static int
dream_launch(struct db *db, const char *id, const char *task,
    const char *sid, char *err, size_t errlen)
{
	struct dream	*d = NULL;
	const char	*p[2];
	char		*msg = NULL;
	json_t		*req = NULL;
	int		 i, slot = -1, ret = -1;
	int64_t		 ms = dream.timeout_secs * 1000;

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
	req = msg_request(OP_AGENTS_MESSAGE, NULL, util_wall_ms() + ms,
	    dream_caller(task), json_pack("{s:s}", PARAM_ID, id), NULL,
	    json_pack("{s:s, s:s}", "message", msg, "session_id", sid));
	/* The lock keeps the callback (which marks dr_done) from racing
	 * the store of dr_call. */
	pthread_mutex_lock(&dream.mtx);
	if (req != NULL && memory_bus() != NULL)
		d->dr_call = bus_call_start(memory_bus(), SVC_AGENT_RUNTIME,
		    req, ms, dream_done, d);
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
		(void)dream_end(db, SQL_FAIL, 2, p, NULL);
	}
	json_decref(req);
	free(msg);
	free(d);
	return (ret);
}

/*
 * Asks agent-runtime (agents.dream) for the auto-dream view of agent id
 * (NULL: of every agent): its manifest's gates and the sessions it
 * touched since since[id] (borrowed; NULL: ever).  0 with the array in
 * *agents (new), or -1 after a 404 or 503 in rp (when not NULL).
 */
static int
dream_info(const char *id, json_t *since, json_t **agents,
    struct svc_reply *rp)
{
	struct bus_client	*bc = memory_bus();
	struct msg_rep		 rep;
	json_t			*req;
	int			 rv, ret = -1;

	*agents = NULL;
	if (bc == NULL) {
		if (rp != NULL)
			svc_reply_error(rp, 503, "agent-runtime is "
			    "unavailable");
		return (-1);
	}
	if ((req = msg_request(OP_AGENTS_DREAM, NULL, util_wall_ms() +
	    DREAM_CALL_MS, json_pack("{s:s}", "principal", "memory"),
	    id != NULL ? json_pack("{s:s}", PARAM_ID, id) : NULL, NULL,
	    since != NULL ? json_pack("{s:O}", "since", since) : NULL)) ==
	    NULL) {
		if (rp != NULL)
			svc_reply_error(rp, 500, "out of memory");
		return (-1);
	}
	rv = bus_call(bc, SVC_AGENT_RUNTIME, req, DREAM_CALL_MS, &rep);
	json_decref(req);
	if (rv != 0) {
		if (rp != NULL)
			svc_reply_error(rp, 503, "agent-runtime did not "
			    "answer (%s)", sh_strerror(rv));
		return (-1);
	}
	if (rep.mp_status == 200 && json_is_array(json_object_get(
	    rep.mp_body, "agents"))) {
		*agents = json_incref(json_object_get(rep.mp_body, "agents"));
		ret = 0;
	} else if (rp != NULL && (rep.mp_status == 404 ||
	    rep.mp_status == 400))
		svc_reply_error(rp, 404, "Agent not found");
	else if (rp != NULL)
		svc_reply_error(rp, 503, "agent-runtime answered %d",
		    rep.mp_status);
	msg_rep_release(&rep);
	return (ret);
}

/* The agent's effective gates: our opt-in opt (JSON null or absent: the
 * manifest's), min_hours and min_sessions (the manifest's when set). */
static int
dream_opted(json_t *a, json_t *opt)
{
	if (json_is_boolean(opt))
		return (json_is_true(opt));
	return (json_is_true(json_object_get(a, "auto_dream_enabled")));
}

static double
dream_min_hours(json_t *a)
{
	json_t	*v = json_object_get(a, "min_hours");

	/* Bounded as the config's, so the window stays an interval
	 * PostgreSQL can compute. */
	return (json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) <= 24 * 3650 ? json_number_value(v) :
	    dream.min_hours);
}

static long long
dream_min_sessions(json_t *a)
{
	json_t	*v = json_object_get(a, "min_sessions");

	return (json_is_integer(v) && json_integer_value(v) >= 0 ?
	    (long long)json_integer_value(v) : dream.min_sessions);
}

/* A JSON document that db answers (sql, no parameters), or NULL. */
static json_t *
dream_json(struct db *db, const char *sql)
{
	PGresult	*res;
	json_t		*o;

	if ((res = db_exec(db, sql, 0, NULL)) == NULL)
		return (NULL);
	o = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	return (o);
}

/* POST /api/auto-dream/agents/{id}/trigger -> {fired, agent_id, task_id,
 * reason}.  A manual dream ignores the time and session gates, as
 * upstream. */
static void
dream_op_trigger(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], task[UTIL_UUID_LEN];
	char		 sid[UTIL_UUID_LEN], err[128];
	const char	*p[3];
	json_t		*agents = NULL, *opt;
	PGresult	*res;
	int		 on, fresh;

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	if (!dream.enabled) {
		not_fired(rp, id, "auto-dream is disabled in config");
		return;
	}
	if (dream_info(id, NULL, &agents, rp) != 0)
		return;
	p[0] = id;
	if ((res = db_exec(c->sc_db, SQL_OPTED, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	opt = PQntuples(res) == 0 ? json_null() :
	    json_boolean(PQgetvalue(res, 0, 0)[0] == 't');
	on = dream_opted(json_array_get(agents, 0), opt);
	json_decref(opt);
	PQclear(res);
	if (!on) {
		not_fired(rp, id, "agent has not opted in to auto-dream");
		goto done;
	}
	dream_reap_lost(c->sc_db);
	util_uuid4(task);
	util_uuid4(sid);
	p[0] = task;
	p[1] = id;
	p[2] = sid;
	if ((res = db_exec(c->sc_db, SQL_START, 3, p)) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	fresh = PQntuples(res) == 1;
	PQclear(res);
	if (!fresh)
		not_fired(rp, id, "a dream is already running for this agent");
	else if (dream_launch(c->sc_db, id, task, sid, err, sizeof(err)) != 0)
		svc_reply_error(rp, 503, "%s", err);
	else
		svc_reply_json(rp, 200, json_pack("{s:b, s:s, s:s, s:s}",
		    "fired", 1, "agent_id", id, "task_id", task, "reason",
		    "triggered manually"));
 done:
	json_decref(agents);
}

/*
 * The agents the gates leave, as two PostgreSQL arrays: their ids (ids)
 * and min_hours in seconds (secs), from agent-runtime's view (agents)
 * and our opt-ins (opts).  0, or -1 (ENOMEM).
 */
static int
dream_due(json_t *agents, json_t *opts, char **ids, char **secs)
{
	struct buf	 bi = BUF_INIT(1024 * 1024), bs = BUF_INIT(1024 * 1024);
	json_t		*a;
	const char	*id;
	long long	 ms;
	size_t		 i;
	int		 n = 0;

	*ids = *secs = NULL;
	if (buf_adds(&bi, "{") != 0 || buf_adds(&bs, "{") != 0)
		goto fail;
	json_array_foreach(agents, i, a) {
		id = json_string_value(json_object_get(a, "id"));
		if (!util_uuid_valid(id) || !dream_opted(a,
		    json_object_get(opts, id)))
			continue;
		ms = dream_min_sessions(a);
		if (ms > 0 && json_integer_value(json_object_get(a,
		    "sessions_since")) < ms)
			continue;
		if (buf_addf(&bi, "%s%s", n > 0 ? "," : "", id) != 0 ||
		    buf_addf(&bs, "%s%.3f", n > 0 ? "," : "",
		    dream_min_hours(a) * 3600) != 0)
			goto fail;
		n++;
	}
	if (buf_adds(&bi, "}") != 0 || buf_adds(&bs, "}") != 0)
		goto fail;
	*ids = buf_detach(&bi);
	*secs = buf_detach(&bs);
	if (*ids != NULL && *secs != NULL)
		return (0);
	free(*ids);
	free(*secs);
	*ids = *secs = NULL;
	return (-1);
 fail:
	buf_release(&bi);
	buf_release(&bs);
	return (-1);
}

/* One scheduled pass: fails lost dreams, asks agent-runtime for the
 * agents' gates, claims the due dreams (one replica at a time, under the
 * advisory lock, so two replicas never dream the same agent twice) and
 * starts them. */
static void
dream_scheduled(void)
{
	struct db	*db = dream.tick_db;
	char		 err[128], *ids = NULL, *secs = NULL;
	const char	*p[2];
	json_t		*since = NULL, *opts = NULL, *agents = NULL;
	PGresult	*res = NULL;
	int		 i;

	dream_reap_lost(db);
	if ((since = dream_json(db, SQL_SINCE)) == NULL ||
	    (opts = dream_json(db, SQL_OPTS)) == NULL) {
		log_warnx("%s: could not read the dreams: %s", __func__,
		    db_errmsg(db));
		goto done;
	}
	if (dream_info(NULL, since, &agents, NULL) != 0) {
		log_warnx("%s: agent-runtime did not say which agents may "
		    "dream", __func__);
		goto done;
	}
	if (dream_due(agents, opts, &ids, &secs) != 0)
		goto done;
	p[0] = ids;
	p[1] = secs;
	if (mem_begin(db) != 0 || db_cmd(db, SQL_TICK_LOCK, 0, NULL) != 0 ||
	    (res = db_exec(db, SQL_CLAIM, 2, p)) == NULL ||
	    mem_commit(db) != 0) {
		log_warnx("%s: could not claim due dreams: %s", __func__,
		    db_errmsg(db));
		mem_rollback(db);
		PQclear(res);
		res = NULL;
		goto done;
	}
	for (i = 0; i < PQntuples(res); i++)
		if (dream_launch(db, PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 0), PQgetvalue(res, i, 2), err,
		    sizeof(err)) != 0)
			log_warnx("%s: could not start dream '%s': %s",
			    __func__, PQgetvalue(res, i, 0), err);
 done:
	PQclear(res);
	free(ids);
	free(secs);
	json_decref(since);
	json_decref(opts);
	json_decref(agents);
}

/* The schedule: every check_interval_secs, until dream_stop(). */
static void
dream_tick(void *arg)
{
	(void)arg;
	dream_scheduled();
}

/* PUT /api/auto-dream/agents/{id}/enabled {enabled} -> {agent_id,
 * enabled}; our opt-in overrides the manifest's from now on, and is a
 * ConfigChange. */
static void
dream_op_enable(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], detail[128];
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
	snprintf(detail, sizeof(detail), "auto-dream %s for the agent",
	    json_is_true(v) ? "enabled" : "disabled");
	if (audit_cmd(c->sc_db, SQL_ENABLE, 2, p, AUDIT_CONFIG_CHANGE, id,
	    detail, "ok") != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:b}", "agent_id", id,
	    "enabled", json_is_true(v)));
}

/* {aborted: false, agent_id, task_id: null, reason}. */
static void
not_aborted(struct svc_reply *rp, const char *id, const char *reason)
{
	svc_reply_json(rp, 200, json_pack("{s:b, s:s, s:n, s:s}", "aborted",
	    0, "agent_id", id, "task_id", "reason", reason));
}

/* Stops the turn of dream task (agent id, session sid) on whichever
 * agent-runtime replica runs it; logged when it cannot (the turn then
 * ends by its deadline). */
static void
dream_interrupt(const char *id, const char *sid, const char *task)
{
	struct bus_client	*bc = memory_bus();
	struct msg_rep		 rep;
	json_t			*req;
	int			 rv = SH_ENOMEM;

	if (bc != NULL && (req = msg_request(OP_SESSIONS_INTERRUPT, NULL,
	    util_wall_ms() + DREAM_CALL_MS, json_pack("{s:s}", "principal",
	    "auto-dream"), json_pack("{s:s, s:s}", PARAM_ID, id,
	    PARAM_SESSION_ID, sid), NULL, NULL)) != NULL) {
		rv = bus_call(bc, SVC_AGENT_RUNTIME, req, DREAM_CALL_MS, &rep);
		json_decref(req);
	}
	if (rv != 0 || rep.mp_status >= 300)
		log_warnx("%s: could not stop the turn of dream '%s' (%s %d); "
		    "it ends by its deadline", __func__, task, sh_strerror(rv),
		    rv == 0 ? rep.mp_status : 0);
	if (rv == 0)
		msg_rep_release(&rep);
}

/*
 * POST /api/auto-dream/agents/{id}/abort -> {aborted, agent_id, task_id,
 * reason}: the agent's running manual dream is aborted (its row, with
 * its DreamConsolidation entry: the lock is released at once), then its
 * turn is stopped (sessions.interrupt on the dream's session; a turn
 * that does not stop still ends by its deadline, and its late answer
 * leaves the row aborted).
 */
static void
dream_op_abort(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1];
	PGresult	*res = NULL;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    mem_agent_known(id, rp) != 0)
		return;
	p[0] = id;
	if (dream_end(c->sc_db, SQL_ABORT, 1, p, &res) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if (PQntuples(res) == 1) {
		dream_interrupt(id, PQgetvalue(res, 0, 7),
		    PQgetvalue(res, 0, 0));
		svc_reply_json(rp, 200, json_pack("{s:b, s:s, s:s, s:s}",
		    "aborted", 1, "agent_id", id, "task_id",
		    PQgetvalue(res, 0, 0), "reason", "aborted"));
		goto done;
	}
	PQclear(res);
	if ((res = db_exec(c->sc_db, SQL_RUNNING, 1, p)) == NULL)
		svc_reply_db_error(rp, c);
	else
		not_aborted(rp, id, PQntuples(res) > 0 ? "the running dream "
		    "is scheduled: only manual dreams can be aborted" :
		    "no dream is running for this agent");
 done:
	PQclear(res);
}

/* The progress of dream last (our row's JSON), notes 9.2's shape. */
static json_t *
dream_progress(json_t *last)
{
	json_t		*p, *u;
	const char	*st = json_string_value(json_object_get(last,
			    "status"));
	json_int_t	 tools = json_integer_value(json_object_get(last,
			    "tool_use_count"));

	if (!json_is_object(last) || st == NULL)
		return (json_null());
	p = json_pack("{s:O, s:O, s:O, s:O, s:s, s:s, s:I, s:o, s:[{s:O, "
	    "s:I}], s:O}",
	    "task_id", json_object_get(last, "task_id"),
	    "agent_id", json_object_get(last, "agent_id"),
	    "started_at_ms", json_object_get(last, "started_at_ms"),
	    "ended_at_ms", json_object_get(last, "ended_at_ms"),
	    "status", st,
	    "phase", strcmp(st, "running") == 0 ? "consolidate" : "done",
	    "tool_use_count", tools,
	    "memories_touched", json_is_array(json_object_get(last,
	    "touched")) ? json_incref(json_object_get(last, "touched")) :
	    json_array(),
	    "turns", "text", json_object_get(last, "text"), "tool_use_count",
	    tools,
	    "error", json_object_get(last, "error"));
	/* Usage once the turn reported it (a completed dream). */
	if (p != NULL && json_is_integer(json_object_get(last,
	    "input_tokens"))) {
		u = json_pack("{s:O, s:O, s:i, s:i, s:O, s:O}",
		    "input_tokens", json_object_get(last, "input_tokens"),
		    "output_tokens", json_object_get(last, "output_tokens"),
		    "cache_read_input_tokens", 0,
		    "cache_creation_input_tokens", 0,
		    "iterations", json_object_get(last, "iterations"),
		    "latency_ms", json_object_get(last, "latency_ms"));
		if (u != NULL && json_is_number(json_object_get(last,
		    "cost_usd")))
			json_object_set(u, "cost_usd", json_object_get(last,
			    "cost_usd"));
		if (u != NULL)
			json_object_set_new(p, "usage", u);
	}
	return (p != NULL ? p : json_null());
}

/* One agent's status entry from agent-runtime's view a and our row s,
 * at now (ms). */
static json_t *
dream_agent(json_t *a, json_t *s, int64_t now)
{
	json_t		*last = json_object_get(s, "last"), *o;
	json_t		*lm = json_object_get(s, "last_ms");
	int		 on = dream_opted(a, json_object_get(s, "opt"));
	double		 mh = dream_min_hours(a);
	json_int_t	 lms = on && json_is_integer(lm) ?
			    json_integer_value(lm) : 0;

	o = json_pack("{s:O, s:O, s:b, s:I, s:I, s:f, s:I, s:s, s:o, s:b}",
	    "agent_id", json_object_get(a, "id"),
	    "agent_name", json_object_get(a, "name"),
	    "auto_dream_enabled", on,
	    "last_consolidated_at_ms", lms,
	    "sessions_since_last", on ? json_integer_value(json_object_get(a,
	    "sessions_since")) : (json_int_t)0,
	    "effective_min_hours", on ? mh : 0.0,
	    "effective_min_sessions", (json_int_t)(on ?
	    dream_min_sessions(a) : 0),
	    "lock_path", "",
	    "progress", dream_progress(last),
	    "can_abort", json_is_true(json_object_get(last, "manual")) &&
	    strcmp(json_string_value(json_object_get(last, "status")) ?: "",
	    "running") == 0);
	/* Omitted until there was a consolidation. */
	if (o != NULL && lms > 0) {
		json_object_set_new(o, "next_eligible_at_ms", json_integer(
		    lms + (json_int_t)(mh * 3600000)));
		json_object_set_new(o, "hours_since_last", json_real(
		    (double)(now - lms) / 3600000.0));
	}
	return (o);
}

/* GET /api/auto-dream/status (notes/extensions.md 9.2). */
static void
dream_op_status(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t			*a, *agents = NULL, *rows = NULL, *since = NULL;
	json_t			*info = NULL;
	char			*arr = NULL;
	const char		*p[1];
	size_t			 i, n, off = 0;
	PGresult		*res;
	int64_t			 now = util_wall_ms();

	(void)rq;
	dream_reap_lost(c->sc_db);
	if ((since = dream_json(c->sc_db, SQL_SINCE)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (dream_info(NULL, since, &info, rp) != 0)
		goto done;
	n = json_array_size(info);
	if ((arr = malloc(n * UTIL_UUID_LEN + 3)) == NULL)
		goto oom;
	arr[off++] = '{';
	json_array_foreach(info, i, a)
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
	json_array_foreach(info, i, a)
		svc_list_add(&agents, dream_agent(a, json_object_get(rows,
		    json_string_value(json_object_get(a, "id"))), now));
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
	json_decref(since);
	json_decref(info);
	free(arr);
}

const struct svc_op dream_ops[] = {
	{ OP_AUTODREAM_STATUS, dream_op_status },
	{ OP_AUTODREAM_TRIGGER, dream_op_trigger },
	{ OP_AUTODREAM_ENABLE, dream_op_enable },
	{ OP_AUTODREAM_ABORT, dream_op_abort },
	{ NULL, NULL }
};
