/*
 * workflow/run.c - where runs execute: a bounded pool of threads that
 * claim runs from scheduler.workflow_runs, and a watch thread that renews
 * their leases and answers the callers waiting for a run's end.
 *
 * Claims.  POST /api/workflows/{id}/run inserts the run pending and
 * claimed by this replica (claimed_by = its host:pid) for one lease, so
 * the replica that was asked runs it first; a pool thread claims it
 * under a token of its own (host:pid#n), which fences every later write:
 * a run taken over by another replica is no longer ours, and our next
 * save says so.  Once the pre-claim lapses, or the lease of a running
 * run does (its replica died, or lost the database), any replica's pool
 * takes it: FOR UPDATE SKIP LOCKED, no leader.  A run taken over resumes
 * from its last saved step, unless it was lost more than
 * workflow_max_takeovers times or resume is off: then it is failed with
 * the reason.
 *
 * The watch thread renews only the leases of runs a pool thread is
 * executing here and now (their tokens), so a run this replica gave up
 * on expires even while the replica lives.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "core/sched.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "services.h"
#include "util.h"
#include "workflow/workflow.h"

#define WF_MAX_THREADS		64
#define WF_POLL_MS		2000	/* an idle pool thread looks this
					   often for runs to take over */
#define WF_EVENT_TEXT_MAX	4096	/* bytes of a run's output or error
					   in its end's event */

struct wf_call {
	int		 c_refs;	/* the waiter and the callback */
	int		 c_done;
	int		 c_status;
	json_t		*c_body;
};

/* A caller waiting for a run's end. */
struct waiter {
	struct waiter		*w_next;
	char			 w_id[UTIL_UUID_LEN];
	struct svc_pending	*w_sp;
	int64_t			 w_deadline;	/* wall ms */
};

static struct {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 work;		/* the pool: a run to take */
	pthread_cond_t	 watch;		/* the watch thread */
	pthread_cond_t	 calls;		/* turns ending, sleeps */
	pthread_t	 threads[WF_MAX_THREADS];
	pthread_t	 watcher;
	int		 nthreads;
	int		 watching;
	int		 quit;		/* the pool stops */
	int		 wquit;		/* the watch thread stops */
	int		 nudges;
	unsigned long	 claims;
	char		 tokens[WF_MAX_THREADS][128];	/* "": idle */
	struct waiter	*waiters;
	long long	 lease_secs;
	long long	 max_takeovers;
	long long	 default_total;
	long long	 runs_kept;	/* per workflow, ended ones */
	int		 resume;
} wf = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.watch = PTHREAD_COND_INITIALIZER,
	.calls = PTHREAD_COND_INITIALIZER,
};

static const char SQL_CLAIM[] =
	"WITH c AS (SELECT id, state AS was FROM workflow_runs"
	" WHERE state IN ('pending', 'running') AND (lease_until IS NULL"
	" OR lease_until < clock_timestamp()"
	" OR (state = 'pending' AND claimed_by = $1))"
	" ORDER BY (claimed_by IS NOT DISTINCT FROM $1) DESC, started_at"
	" LIMIT 1 FOR UPDATE SKIP LOCKED)"
	" UPDATE workflow_runs r SET state = 'running', claimed_by = $2,"
	" lease_until = clock_timestamp() + make_interval(secs => $3::int),"
	" takeovers = r.takeovers + (c.was = 'running')::int"
	" FROM c WHERE r.id = c.id"
	" RETURNING r.id::text AS id, r.workflow_id::text AS workflow_id,"
	" c.was, r.input, r.def_json,"
	" r.step_index, r.ctx_json, r.step_results_json, r.takeovers,"
	" r.depth, (extract(epoch FROM r.deadline) * 1000)::bigint"
	" AS deadline_ms";

static const char SQL_SAVE[] =
	"UPDATE workflow_runs SET step_index = $3, ctx_json = $4::jsonb,"
	" step_results_json = $5::jsonb WHERE id = $1 AND claimed_by = $2"
	" AND state = 'running' RETURNING id";

static const char SQL_FINISH[] =
	"UPDATE workflow_runs SET state = $3, output = $4, error = $5,"
	" step_index = $6, ctx_json = $7::jsonb,"
	" step_results_json = $8::jsonb, completed_at = clock_timestamp(),"
	" claimed_by = NULL, lease_until = NULL"
	" WHERE id = $1 AND claimed_by = $2 AND state = 'running'"
	" RETURNING id";

/* A workflow keeps its newest runs_kept ended runs. */
static const char SQL_PRUNE[] =
	"DELETE FROM workflow_runs WHERE workflow_id = $1"
	" AND state IN ('completed', 'failed', 'cancelled') AND id NOT IN"
	" (SELECT id FROM workflow_runs WHERE workflow_id = $1"
	" ORDER BY started_at DESC LIMIT $2::int)";

static const char SQL_RENEW[] =
	"UPDATE workflow_runs SET lease_until = clock_timestamp() +"
	" make_interval(secs => $2::int) WHERE claimed_by = ANY($1::text[])"
	" AND state = 'running'";

/* Stopping: what we claimed (host:pid, host:pid#n) goes to whoever
 * comes next, at once. */
static const char SQL_RELEASE[] =
	"UPDATE workflow_runs SET lease_until = clock_timestamp()"
	" WHERE (claimed_by = $1 OR left(claimed_by, length($1) + 1) ="
	" $1 || '#') AND state IN ('pending', 'running')";

static const char SQL_ENDED[] =
	"SELECT id::text AS id, state, output, error, step_results_json"
	" FROM workflow_runs WHERE id = ANY($1::uuid[])"
	" AND state IN ('completed', 'failed', 'cancelled')";

/* ---- turns and sleeps ------------------------------------------------- */

static void
call_unref(struct wf_call *c)
{
	/* Called with wf.mtx held. */
	if (--c->c_refs == 0) {
		json_decref(c->c_body);
		free(c);
	}
}

/* Core's completion thread: the turn ended (or was cancelled). */
static void
call_done(void *arg, struct db *db, int status, json_t *body)
{
	struct wf_call	*c = arg;

	(void)db;
	/* A copy of its own: the run's thread must share no reference
	 * count with core's, which jansson reads without a barrier. */
	body = json_deep_copy(body);
	pthread_mutex_lock(&wf.mtx);
	c->c_status = status;
	c->c_body = body;
	c->c_done = 1;
	pthread_cond_broadcast(&wf.calls);
	call_unref(c);
	pthread_mutex_unlock(&wf.mtx);
}

struct wf_call *
wf_call_start(const struct sched_turn *t)
{
	struct wf_call	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->c_refs = 2;
	if (sched_turn_start(t, call_done, c) != 0) {
		free(c);
		return (NULL);
	}
	return (c);
}

int
wf_call_wait(struct wf_call *c, json_t **body)
{
	int	 status = -1;

	*body = NULL;
	pthread_mutex_lock(&wf.mtx);
	while (!c->c_done && !wf.quit)
		pthread_cond_wait(&wf.calls, &wf.mtx);
	if (c->c_done) {
		status = c->c_status;
		/* Ours alone from here: the callback has let go. */
		*body = c->c_body;
		c->c_body = NULL;
		if (*body == NULL)
			*body = json_pack("{s:s}", "error", "out of memory");
	}
	/* Stopping, the callback frees it when the turn ends. */
	call_unref(c);
	pthread_mutex_unlock(&wf.mtx);
	return (status);
}

int
wf_stopping(void)
{
	int	 q;

	pthread_mutex_lock(&wf.mtx);
	q = wf.quit;
	pthread_mutex_unlock(&wf.mtx);
	return (q);
}

/* An absolute CLOCK_REALTIME time ms from now, for timed waits. */
static struct timespec
abstime(long long ms)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return (ts);
}

int
wf_sleep(long long ms)
{
	struct timespec	 ts = abstime(ms > 0 ? ms : 0);
	int		 q;

	pthread_mutex_lock(&wf.mtx);
	while (!wf.quit && pthread_cond_timedwait(&wf.calls, &wf.mtx,
	    &ts) != ETIMEDOUT)
		;
	q = wf.quit;
	pthread_mutex_unlock(&wf.mtx);
	return (q);
}

/* ---- a run's row ------------------------------------------------------ */

static json_t *
run_ctx(const struct wf_run *r)
{
	return (json_pack("{s:s?, s:O, s:i, s:i, s:O, s:s?}", "current_input",
	    r->r_cur, "variables", r->r_vars, "n_outputs", r->r_nout,
	    "loop_iter", r->r_iter, "failed", r->r_failed, "last_output",
	    r->r_last));
}

/* A run's state as SQL_SAVE and SQL_FINISH write it: its step, and its
 * context and step results as JSON text. */
struct run_text {
	char	 rt_step[16];
	char	*rt_ctx;	/* new */
	char	*rt_results;	/* new */
};

/* 0, or -1 (out of memory); run_text_release() either way. */
static int
run_text_init(struct run_text *rt, const struct wf_run *r)
{
	json_t	*ctx;

	snprintf(rt->rt_step, sizeof(rt->rt_step), "%d", r->r_step);
	rt->rt_ctx = rt->rt_results = NULL;
	if ((ctx = run_ctx(r)) != NULL)
		rt->rt_ctx = json_dumps(ctx, MSG_JSON_FLAGS);
	json_decref(ctx);
	if (rt->rt_ctx != NULL)
		rt->rt_results = json_dumps(r->r_results, MSG_JSON_FLAGS);
	return (rt->rt_results != NULL ? 0 : -1);
}

static void
run_text_release(struct run_text *rt)
{
	free(rt->rt_ctx);
	free(rt->rt_results);
	rt->rt_ctx = rt->rt_results = NULL;
}

int
wf_run_save(struct wf_run *r)
{
	struct run_text	 rt;
	PGresult	*res = NULL;
	const char	*p[5];
	int		 rv = -1;

	if (run_text_init(&rt, r) != 0)
		goto done;
	p[0] = r->r_id;
	p[1] = r->r_token;
	p[2] = rt.rt_step;
	p[3] = rt.rt_ctx;
	p[4] = rt.rt_results;
	if ((res = db_exec(r->r_db, SQL_SAVE, 5, p)) == NULL)
		log_warnx("%s: could not save run '%s': %s", __func__,
		    r->r_id, db_errmsg(r->r_db));
	else if (PQntuples(res) != 1)
		log_warnx("%s: run '%s' is no longer ours; left to the "
		    "replica that took it", __func__, r->r_id);
	else
		rv = 0;
 done:
	PQclear(res);
	run_text_release(&rt);
	return (rv);
}

/*
 * A run's end, once (only the claimer whose fenced write ended it gets
 * here), on TOPIC_EVENTS: a Custom event {type: "workflow.completed" or
 * "workflow.failed", workflow_id, workflow_name, run_id, output or
 * error} at the run's depth (the trigger chain that started it).  The
 * texts are cut to WF_EVENT_TEXT_MAX bytes.
 */
static void
run_announce(struct wf_run *r, const char *state, const char *error)
{
	const char	*text = error != NULL ? error : r->r_cur;
	size_t		 n = text != NULL ? strlen(text) : 0;
	json_t		*data, *ev;

	if (n > WF_EVENT_TEXT_MAX) {
		n = WF_EVENT_TEXT_MAX;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
	}
	data = json_pack("{s:s, s:s, s:s, s:s?, s:s%}", "type",
	    strcmp(state, "completed") == 0 ? "workflow.completed" :
	    "workflow.failed", "workflow_id", r->r_workflow_id, "run_id",
	    r->r_id, "workflow_name", json_string_value(json_object_get(
	    r->r_def, "name")), error != NULL ? "error" : "output",
	    text != NULL ? text : "", n);
	if ((ev = msg_event("", "Custom", data, r->r_depth)) == NULL)
		return;
	sched_publish(TOPIC_EVENTS, ev);
	json_decref(ev);
}

/* Ends r as completed or failed (error); 0, or -1 when it is not ours. */
static int
run_finish(struct wf_run *r, const char *state, const char *error)
{
	struct run_text	 rt;
	PGresult	*res = NULL;
	char		 kept[24];
	const char	*p[8];
	int		 rv = -1;

	if (run_text_init(&rt, r) != 0)
		goto done;
	p[0] = r->r_id;
	p[1] = r->r_token;
	p[2] = state;
	p[3] = error == NULL ? r->r_cur : NULL;
	p[4] = error;
	p[5] = rt.rt_step;
	p[6] = rt.rt_ctx;
	p[7] = rt.rt_results;
	if ((res = db_exec(r->r_db, SQL_FINISH, 8, p)) == NULL)
		log_warnx("%s: could not end run '%s': %s", __func__,
		    r->r_id, db_errmsg(r->r_db));
	else if (PQntuples(res) == 1)
		rv = 0;
	if (rv == 0) {
		run_announce(r, state, error);
		snprintf(kept, sizeof(kept), "%lld", wf.runs_kept);
		p[0] = r->r_workflow_id;
		p[1] = kept;
		if (db_cmd(r->r_db, SQL_PRUNE, 2, p) != 0)
			log_warnx("%s: could not prune the runs of workflow "
			    "'%s': %s", __func__, r->r_workflow_id,
			    db_errmsg(r->r_db));
	}
 done:
	PQclear(res);
	run_text_release(&rt);
	return (rv);
}

static void
run_release(struct wf_run *r)
{
	json_decref(r->r_def);
	free(r->r_input);
	free(r->r_cur);
	json_decref(r->r_vars);
	json_decref(r->r_results);
	json_decref(r->r_failed);
	free(r->r_last);
	free(r->r_error);
}

/* Fills r from a claimed row (borrowed).  0, or -1 on ENOMEM or a row
 * that cannot be a run. */
static int
run_load(struct wf_run *r, json_t *row)
{
	json_t		*ctx = json_object_get(row, "ctx_json"), *v;
	const char	*cur;

	snprintf(r->r_id, sizeof(r->r_id), "%s",
	    json_string_value(json_object_get(row, "id")));
	snprintf(r->r_workflow_id, sizeof(r->r_workflow_id), "%s",
	    json_string_value(json_object_get(row, "workflow_id")));
	r->r_def = json_incref(json_object_get(row, "def_json"));
	r->r_steps = json_object_get(r->r_def, "steps");
	r->r_input = strdup(json_string_value(json_object_get(row,
	    "input")));
	r->r_step = (int)json_integer_value(json_object_get(row,
	    "step_index"));
	r->r_iter = (int)json_integer_value(json_object_get(ctx,
	    "loop_iter"));
	r->r_nout = (int)json_integer_value(json_object_get(ctx,
	    "n_outputs"));
	if ((cur = json_string_value(json_object_get(ctx,
	    "current_input"))) != NULL && (r->r_cur = strdup(cur)) == NULL)
		return (-1);
	v = json_object_get(ctx, "variables");
	r->r_vars = json_is_object(v) ? json_deep_copy(v) : json_object();
	v = json_object_get(row, "step_results_json");
	r->r_results = json_is_array(v) ? json_deep_copy(v) : json_array();
	v = json_object_get(ctx, "failed");
	r->r_failed = json_is_array(v) ? json_deep_copy(v) : json_array();
	if ((cur = json_string_value(json_object_get(ctx,
	    "last_output"))) != NULL && (r->r_last = strdup(cur)) == NULL)
		return (-1);
	r->r_deadline = json_integer_value(json_object_get(row,
	    "deadline_ms"));
	r->r_total_secs = json_integer_value(json_object_get(r->r_def,
	    "total_timeout_secs"));
	if (r->r_total_secs == 0)
		r->r_total_secs = wf.default_total;
	r->r_depth = (int)json_integer_value(json_object_get(row, "depth"));
	if (!json_is_array(r->r_steps) || r->r_input == NULL ||
	    r->r_vars == NULL || r->r_results == NULL || r->r_failed == NULL)
		return (-1);
	return (0);
}

/*
 * Claims one run and executes it on this thread (slot, for the token).
 * 1 if it claimed one, 0 if there was none, -1 on a database error.
 */
static int
claim_and_run(struct db *db, int slot)
{
	struct wf_run	 r;
	PGresult	*res;
	json_t		*row = NULL;
	const char	*p[3], *was;
	char		 lease[16], token[128], why[128];
	long long	 takeovers;
	enum wf_outcome	 o;
	int		 err;

	pthread_mutex_lock(&wf.mtx);
	snprintf(token, sizeof(token), "%s#%lu", sched.s_replica,
	    ++wf.claims);
	pthread_mutex_unlock(&wf.mtx);
	snprintf(lease, sizeof(lease), "%lld", wf.lease_secs);
	p[0] = sched.s_replica;
	p[1] = token;
	p[2] = lease;
	if ((res = db_exec(db, SQL_CLAIM, 3, p)) == NULL)
		return (-1);
	if ((row = db_one_json(res, &err)) == NULL)
		return (err == SH_ENOTFOUND ? 0 : -1);
	memset(&r, 0, sizeof(r));
	r.r_db = db;
	snprintf(r.r_token, sizeof(r.r_token), "%s", token);
	pthread_mutex_lock(&wf.mtx);
	snprintf(wf.tokens[slot], sizeof(wf.tokens[slot]), "%s", token);
	pthread_mutex_unlock(&wf.mtx);
	was = json_string_value(json_object_get(row, "was"));
	takeovers = json_integer_value(json_object_get(row, "takeovers"));
	if (run_load(&r, row) != 0) {
		/* Ended as failed, with what could be read of it. */
		if (r.r_vars == NULL)
			r.r_vars = json_object();
		if (r.r_results == NULL)
			r.r_results = json_array();
		if (r.r_failed == NULL)
			r.r_failed = json_array();
		o = WF_FAILED;
		r.r_error = strdup("the run's stored state is unreadable");
	} else if (strcmp(was, "running") == 0 && (!wf.resume ||
	    takeovers > wf.max_takeovers)) {
		/* Lost too often (or resume is off): fail it, say why. */
		o = WF_FAILED;
		snprintf(why, sizeof(why), "the replica running it was lost "
		    "(%lld time%s); not resumed", takeovers,
		    takeovers == 1 ? "" : "s");
		r.r_error = strdup(why);
	} else {
		if (strcmp(was, "running") == 0)
			log_info("workflow run %s: resumed at step %d after "
			    "its replica was lost", r.r_id, r.r_step);
		o = wf_exec(&r);
	}
	if (o == WF_COMPLETED) {
		if (run_finish(&r, "completed", NULL) == 0)
			log_info("workflow run %s: completed", r.r_id);
	} else if (o == WF_FAILED) {
		if (run_finish(&r, "failed", r.r_error != NULL ? r.r_error :
		    "out of memory") == 0)
			log_info("workflow run %s: failed: %s", r.r_id,
			    r.r_error != NULL ? r.r_error : "out of memory");
	}
	pthread_mutex_lock(&wf.mtx);
	wf.tokens[slot][0] = '\0';
	/* A waiter may be waiting for it. */
	pthread_cond_signal(&wf.watch);
	pthread_mutex_unlock(&wf.mtx);
	run_release(&r);
	json_decref(row);
	return (1);
}

static void *
pool_main(void *arg)
{
	struct db	*db;
	struct timespec	 ts;
	int		 slot = (int)(long)arg, again = 0, rc;

	db = sched_db_open();
	pthread_mutex_lock(&wf.mtx);
	while (!wf.quit) {
		if (!again && wf.nudges == 0) {
			/* Spread the idle polls of the pool's threads. */
			ts = abstime(WF_POLL_MS + slot * 97);
			pthread_cond_timedwait(&wf.work, &wf.mtx, &ts);
			if (wf.quit)
				break;
		}
		if (wf.nudges > 0)
			wf.nudges--;
		pthread_mutex_unlock(&wf.mtx);
		rc = db != NULL ? claim_and_run(db, slot) : -1;
		again = rc == 1;
		pthread_mutex_lock(&wf.mtx);
	}
	pthread_mutex_unlock(&wf.mtx);
	db_close(db);
	return (NULL);
}

/* ---- the watch thread -------------------------------------------------- */

/* The tokens of the runs executing here as a text[] literal (new). */
static char *
tokens_literal(void)
{
	struct buf	 b = BUF_INIT(WF_MAX_THREADS * 140 + 8);
	int		 i, n = 0;

	pthread_mutex_lock(&wf.mtx);
	buf_adds(&b, "{");
	for (i = 0; i < wf.nthreads; i++) {
		if (wf.tokens[i][0] == '\0')
			continue;
		/* host:pid#n: quoted, it needs no escapes ('"', '\\' and
		 * ',' cannot be in a host name). */
		buf_addf(&b, "%s\"%s\"", n++ ? "," : "", wf.tokens[i]);
	}
	pthread_mutex_unlock(&wf.mtx);
	if (buf_adds(&b, "}") != 0)
		return (NULL);
	return (buf_detach(&b));
}

static void
renew_leases(struct db *db)
{
	char		*toks, lease[16];
	const char	*p[2];

	if ((toks = tokens_literal()) == NULL)
		return;
	snprintf(lease, sizeof(lease), "%lld", wf.lease_secs);
	p[0] = toks;
	p[1] = lease;
	if (strcmp(toks, "{}") != 0 && db_cmd(db, SQL_RENEW, 2, p) != 0)
		log_warnx("%s: could not renew the leases of workflow runs: "
		    "%s", __func__, db_errmsg(db));
	free(toks);
}

json_t *
wf_run_reply(json_t *row, int *status)
{
	const char	*state = json_string_value(json_object_get(row,
			    "state"));
	const char	*id = json_string_value(json_object_get(row, "id"));

	if (state != NULL && strcmp(state, "completed") == 0) {
		*status = 200;
		return (json_pack("{s:s, s:O, s:s, s:O}", "run_id", id,
		    "output", json_object_get(row, "output"), "status",
		    "completed", "step_results", json_object_get(row,
		    "step_results_json")));
	}
	if (state != NULL && (strcmp(state, "failed") == 0 ||
	    strcmp(state, "cancelled") == 0)) {
		*status = 422;
		return (json_pack("{s:s, s:O, s:s, s:s}", "error",
		    "workflow_failed", "detail", json_object_get(row, "error"),
		    "run_id", id, "status", state));
	}
	*status = 202;
	return (json_pack("{s:s, s:s, s:s}", "run_id", id, "status",
	    "running", "message", "the run is still in progress; see GET "
	    "/api/workflows/{id}/runs"));
}

/* Answers the waiters whose run ended; with final, all of them. */
static void
check_waiters(struct db *db, int final)
{
	struct waiter	*w, **wp, *done = NULL;
	struct buf	 b = BUF_INIT(1024 * 1024);
	PGresult	*res = NULL;
	json_t		*rows = NULL, *row, *body;
	const char	*p[1];
	int64_t		 now = util_wall_ms();
	int		 n = 0, i, status;

	pthread_mutex_lock(&wf.mtx);
	buf_adds(&b, "{");
	for (w = wf.waiters; w != NULL; w = w->w_next)
		buf_addf(&b, "%s%s", n++ ? "," : "", w->w_id);
	pthread_mutex_unlock(&wf.mtx);
	if (n == 0 || buf_adds(&b, "}") != 0) {
		buf_release(&b);
		return;
	}
	p[0] = b.b_data;
	if ((res = db_exec(db, SQL_ENDED, 1, p)) != NULL &&
	    (rows = json_array()) != NULL)
		for (i = 0; i < PQntuples(res); i++)
			json_array_append_new(rows, db_row_json(res, i));
	PQclear(res);
	buf_release(&b);
	/* Take out those to answer, then answer outside the lock. */
	pthread_mutex_lock(&wf.mtx);
	for (wp = &wf.waiters; (w = *wp) != NULL; ) {
		int	 ended = 0;

		json_array_foreach(rows, i, row)
			if (strcmp(json_string_value(json_object_get(row,
			    "id")), w->w_id) == 0)
				ended = 1;
		if (ended || final || now >= w->w_deadline) {
			*wp = w->w_next;
			w->w_next = done;
			done = w;
		} else
			wp = &w->w_next;
	}
	pthread_mutex_unlock(&wf.mtx);
	while ((w = done) != NULL) {
		done = w->w_next;
		body = NULL;
		json_array_foreach(rows, i, row)
			if (strcmp(json_string_value(json_object_get(row,
			    "id")), w->w_id) == 0)
				body = wf_run_reply(row, &status);
		if (body == NULL) {
			row = json_pack("{s:s, s:s}", "id", w->w_id, "state",
			    "running");
			body = wf_run_reply(row, &status);
			json_decref(row);
		}
		svc_pending_reply(w->w_sp, status, body);
		free(w);
	}
	json_decref(rows);
}

static void *
watch_main(void *arg)
{
	struct db	*db;
	struct timespec	 ts;
	uint64_t	 next_renew = 0;

	(void)arg;
	db = sched_db_open();
	pthread_mutex_lock(&wf.mtx);
	while (!wf.wquit) {
		ts = abstime(wf.waiters != NULL ? 200 : 1000);
		pthread_cond_timedwait(&wf.watch, &wf.mtx, &ts);
		if (wf.wquit)
			break;
		pthread_mutex_unlock(&wf.mtx);
		if (util_now_ms() >= next_renew) {
			renew_leases(db);
			next_renew = util_now_ms() +
			    (uint64_t)wf.lease_secs * 1000 / 3;
		}
		check_waiters(db, 0);
		pthread_mutex_lock(&wf.mtx);
	}
	pthread_mutex_unlock(&wf.mtx);
	/* The pool has stopped: the runs it left, and those claimed
	 * before a thread took them, go to the next replica at once. */
	if (db != NULL) {
		const char	*p[1] = { sched.s_replica };

		if (db_cmd(db, SQL_RELEASE, 1, p) != 0)
			log_warnx("%s: could not release claimed workflow "
			    "runs: %s", __func__, db_errmsg(db));
		check_waiters(db, 1);
	}
	db_close(db);
	return (NULL);
}

/* ---- start, stop, submit ------------------------------------------------ */

/* [scheduler] key as an integer in [min, max] into *out (dflt when
 * absent); 0, or -1 (logged) when it is something else. */
static int
cfg_int(const char *key, long long dflt, long long min, long long max,
    long long *out)
{
	json_t	*v = json_object_get(json_object_get(sched.s_cfg->cf_doc,
		    "scheduler"), key);

	*out = dflt;
	if (v == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		log_warnx("config: scheduler.%s must be an integer from %lld "
		    "to %lld", key, min, max);
		return (-1);
	}
	*out = json_integer_value(v);
	return (0);
}

int
wf_start(void)
{
	json_t		*v;
	long long	 n;
	int		 i, e;

	if (cfg_int("workflow_threads", 4, 1, WF_MAX_THREADS, &n) != 0 ||
	    cfg_int("workflow_lease_secs", 30, 2, 3600, &wf.lease_secs) != 0 ||
	    cfg_int("workflow_max_takeovers", 3, 0, 100,
	    &wf.max_takeovers) != 0 ||
	    cfg_int("workflow_default_total_timeout_secs", 0, 0,
	    WF_MAX_TIMEOUT_SECS, &wf.default_total) != 0 ||
	    cfg_int("workflow_runs_kept", 1000, 10, 1000000,
	    &wf.runs_kept) != 0)
		return (-1);
	wf.nthreads = (int)n;
	v = json_object_get(json_object_get(sched.s_cfg->cf_doc,
	    "scheduler"), "workflow_resume");
	if (v != NULL && !json_is_boolean(v)) {
		log_warnx("config: scheduler.workflow_resume must be true or "
		    "false");
		return (-1);
	}
	wf.resume = v == NULL || json_is_true(v);
	wf.quit = wf.wquit = 0;
	for (i = 0; i < wf.nthreads; i++)
		if ((e = pthread_create(&wf.threads[i], NULL, pool_main,
		    (void *)(long)i)) != 0) {
			log_warnx("%s: could not start a workflow thread: %s",
			    __func__, strerror(e));
			wf.nthreads = i;
			return (-1);
		}
	if ((e = pthread_create(&wf.watcher, NULL, watch_main, NULL)) != 0) {
		log_warnx("%s: could not start the workflow watch thread: %s",
		    __func__, strerror(e));
		return (-1);
	}
	wf.watching = 1;
	return (0);
}

void
wf_stop(void)
{
	int	 i;

	pthread_mutex_lock(&wf.mtx);
	wf.quit = 1;
	pthread_cond_broadcast(&wf.work);
	pthread_cond_broadcast(&wf.calls);
	pthread_mutex_unlock(&wf.mtx);
	for (i = 0; i < wf.nthreads; i++)
		pthread_join(wf.threads[i], NULL);
	if (wf.watching) {
		pthread_mutex_lock(&wf.mtx);
		wf.wquit = 1;
		pthread_cond_signal(&wf.watch);
		pthread_mutex_unlock(&wf.mtx);
		pthread_join(wf.watcher, NULL);
		wf.watching = 0;
	}
	/* Only now: the watch thread reads it. */
	wf.nthreads = 0;
}

long long
wf_lease_secs(void)
{
	return (wf.lease_secs > 0 ? wf.lease_secs : 30);
}

long long
wf_default_total(void)
{
	return (wf.default_total);
}

int
wf_run_submit(const char *id, struct svc_pending *sp, int64_t deadline_ms)
{
	struct waiter	*w = NULL;

	if (sp != NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			return (-1);
		snprintf(w->w_id, sizeof(w->w_id), "%s", id);
		w->w_sp = sp;
		w->w_deadline = deadline_ms;
	}
	pthread_mutex_lock(&wf.mtx);
	if (wf.quit) {
		pthread_mutex_unlock(&wf.mtx);
		free(w);
		return (-1);
	}
	if (w != NULL) {
		w->w_next = wf.waiters;
		wf.waiters = w;
		pthread_cond_signal(&wf.watch);
	}
	wf.nudges++;
	pthread_cond_signal(&wf.work);
	pthread_mutex_unlock(&wf.mtx);
	return (0);
}
