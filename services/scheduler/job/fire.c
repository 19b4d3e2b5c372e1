/*
 * job/fire.c - the fire engine (job/job.h): the ticker thread that claims
 * due slots, the turns it starts, their outcomes, leases and recovery.
 *
 * A tick, on the ticker's own connection:
 *  1. renews the lease of every fire whose turn this replica has in
 *     flight (one UPDATE over their ids);
 *  2. claims the due jobs in batches: one transaction locks them FOR
 *     UPDATE SKIP LOCKED, inserts each fire row (job_id, slot) and
 *     advances next_run by the catch-up policy; after the COMMIT the
 *     turns start (asynchronously: the ticker never waits for one);
 *  3. takes over the running fires whose lease expired (their replica
 *     died) and asks for their turns again under the same idempotency
 *     key.
 * Outcomes arrive on core's completion thread (fire_done), which records
 * them on the fire row and the job in one statement.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "core/sched.h"
#include "job/job.h"
#include "log.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "util.h"

/* The namespace of the per-fire sessions of session_mode "new". */
#define JOB_SESSION_NS	"3c5e0f2a-8d41-5b7c-9e13-6a0f4d2b7c81"
#define JOB_BATCH	64	/* jobs claimed per transaction */
#define JOB_RECLAIM	32	/* expired fires taken per tick */
#define JOB_SLOTS_MAX	100000	/* slots counted after a downtime */
#define JOB_RETRY_SECS	2	/* a 409 (turn still running): ask again */
#define JOB_KEEP_DAYS	"7"	/* finished fires kept */

struct job_conf	job_conf;

/* One fire whose turn is in flight here. */
struct fire {
	struct fire	*f_next;		/* on fe.inflight */
	char		 f_id[UTIL_UUID_LEN];
	char		 f_job[UTIL_UUID_LEN];
	uint64_t	 f_start_ms;		/* monotonic */
	struct svc_pending *f_pending;		/* a run-now request */
};

static struct {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	pthread_t	 thread;
	int		 started;
	int		 quit;
	int		 stopping;	/* outcomes are left to the lease */
	struct fire	*inflight;
	struct db	*db;
} fe = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static const char *
str_of(json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

/* ---- configuration --------------------------------------------------- */

static const struct {
	const char	*key;
	long long	*target;
	long long	 def, min, max;
} job_conf_keys[] = {
	{ "min_interval_secs", &job_conf.jc_min_interval, 60, 1, 86400 },
	{ "max_consecutive_failures", &job_conf.jc_max_failures, 5, 1, 1000 },
	{ "tick_ms", &job_conf.jc_tick_ms, 250, 20, 60000 },
	{ "lease_secs", &job_conf.jc_lease_secs, 30, 2, 3600 },
	{ "max_catch_up", &job_conf.jc_max_catch_up, 10, 1, 1000 },
	{ "misfire_grace_secs", &job_conf.jc_grace_secs, 30, 0, 86400 },
	{ "max_jobs", &job_conf.jc_max_jobs, 500, 1, 1000000 },
	{ "max_jobs_per_agent", &job_conf.jc_max_per_agent, 50, 1, 1000000 },
	{ NULL, NULL, 0, 0, 0 }
};

/* Reads this module's keys of [scheduler]: 0, or -1 (logged) on a bad
 * value.  Other keys of the table belong to the other modules. */
static int
job_conf_load(const struct sh_config *cfg)
{
	json_t	*tbl = json_object_get(cfg->cf_doc, "scheduler"), *v;
	int	 i;

	for (i = 0; job_conf_keys[i].key != NULL; i++) {
		*job_conf_keys[i].target = job_conf_keys[i].def;
		if ((v = json_object_get(tbl, job_conf_keys[i].key)) == NULL)
			continue;
		if (!json_is_integer(v) ||
		    json_integer_value(v) < job_conf_keys[i].min ||
		    json_integer_value(v) > job_conf_keys[i].max) {
			log_warnx("%s: [scheduler] %s must be an integer from "
			    "%lld to %lld", __func__, job_conf_keys[i].key,
			    job_conf_keys[i].min, job_conf_keys[i].max);
			return (-1);
		}
		*job_conf_keys[i].target = json_integer_value(v);
	}
	return (0);
}

/* ---- in flight ------------------------------------------------------- */

static void
inflight_add(struct fire *f)
{
	pthread_mutex_lock(&fe.mtx);
	f->f_next = fe.inflight;
	fe.inflight = f;
	pthread_mutex_unlock(&fe.mtx);
}

static void
inflight_del(struct fire *f)
{
	struct fire	**pp;

	pthread_mutex_lock(&fe.mtx);
	for (pp = &fe.inflight; *pp != NULL; pp = &(*pp)->f_next)
		if (*pp == f) {
			*pp = f->f_next;
			break;
		}
	pthread_mutex_unlock(&fe.mtx);
}

/* 1 if fire id is in flight here. */
static int
inflight_has(const char *id)
{
	struct fire	*f;
	int		 has = 0;

	pthread_mutex_lock(&fe.mtx);
	for (f = fe.inflight; f != NULL && !has; f = f->f_next)
		has = strcmp(f->f_id, id) == 0;
	pthread_mutex_unlock(&fe.mtx);
	return (has);
}

/* Renews the leases of the fires in flight here. */
static void
lease_renew(struct db *db)
{
	struct fire	*f;
	char		*ids = NULL, secs[24];
	const char	*p[3];
	size_t		 n = 0, len = 2;

	pthread_mutex_lock(&fe.mtx);
	for (f = fe.inflight; f != NULL; f = f->f_next)
		n++;
	if (n > 0 && (ids = malloc(len + n * UTIL_UUID_LEN)) != NULL) {
		ids[0] = '{';
		len = 1;
		for (f = fe.inflight; f != NULL; f = f->f_next) {
			memcpy(ids + len, f->f_id, UTIL_UUID_LEN - 1);
			len += UTIL_UUID_LEN - 1;
			ids[len++] = ',';
		}
		ids[len - 1] = '}';
		ids[len] = '\0';
	}
	pthread_mutex_unlock(&fe.mtx);
	if (ids == NULL)
		return;
	snprintf(secs, sizeof(secs), "%lld", job_conf.jc_lease_secs);
	p[0] = ids;
	p[1] = secs;
	p[2] = sched.s_replica;
	if (db_cmd(db, "UPDATE job_fires SET lease_until = now() + "
	    "make_interval(secs => $2::int), claimed_by = $3 WHERE id = ANY "
	    "($1::uuid[]) AND state = 'running'", 3, p) != 0)
		log_warnx("%s: could not renew the leases of %zu fires: %s",
		    __func__, n, db_errmsg(db));
	free(ids);
}

/* ---- outcomes -------------------------------------------------------- */

/* Cuts s to at most max bytes on a UTF-8 character boundary (new). */
static char *
cut(const char *s, size_t max)
{
	size_t	 n = strlen(s);
	char	*out;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if ((out = malloc(n + 1)) == NULL)
		return (NULL);
	memcpy(out, s, n);
	out[n] = '\0';
	return (out);
}

/*
 * Records the end of fire id on its row and on its job in one statement:
 * result (ok) or error; a failure that makes max consecutive ones
 * disables the job and says why.  0, or -1 (logged).
 */
static int
fire_record(struct db *db, const char *id, int ok, long long duration_ms,
    const char *result, const char *error)
{
	char		 dur[24], maxf[24], *res = NULL, *err = NULL;
	char		 status[JOB_ERROR_MAX + 16];
	const char	*p[7];
	int		 rv;

	snprintf(dur, sizeof(dur), "%lld", duration_ms);
	snprintf(maxf, sizeof(maxf), "%lld", job_conf.jc_max_failures);
	if (result != NULL)
		res = cut(result, JOB_RESULT_MAX);
	if (error != NULL)
		err = cut(error, JOB_ERROR_MAX);
	snprintf(status, sizeof(status), ok ? "ok" : "error: %s",
	    err != NULL ? err : "");
	p[0] = id;
	p[1] = ok ? "ok" : "error";
	p[2] = dur;
	p[3] = res;
	p[4] = ok ? NULL : (err != NULL ? err : "unknown error");
	p[5] = status;
	p[6] = maxf;
	rv = db_cmd(db, "WITH f AS (UPDATE job_fires SET state = $2, "
	    "finished_at = clock_timestamp(), duration_ms = $3, result = $4, "
	    "error = $5, lease_until = NULL WHERE id = $1 AND "
	    "state = 'running' RETURNING job_id, fired_at) "
	    "UPDATE jobs j SET last_run = f.fired_at, "
	    "run_count = j.run_count + 1, last_status = $6, last_error = $5, "
	    "consecutive_errors = CASE WHEN $2 = 'ok' THEN 0 ELSE "
	    "j.consecutive_errors + 1 END, "
	    "enabled = j.enabled AND NOT ($2 <> 'ok' AND "
	    "j.consecutive_errors + 1 >= coalesce(j.max_failures, $7::int)), "
	    "auto_disabled = j.auto_disabled OR ($2 <> 'ok' AND "
	    "j.consecutive_errors + 1 >= coalesce(j.max_failures, $7::int)), "
	    "disabled_reason = CASE WHEN $2 <> 'ok' AND "
	    "j.consecutive_errors + 1 >= coalesce(j.max_failures, $7::int) "
	    "THEN format('disabled after %s consecutive failures; the last: "
	    "%s', j.consecutive_errors + 1, $5) ELSE j.disabled_reason END, "
	    "updated_at = now() FROM f WHERE j.id = f.job_id", 7, p);
	if (rv != 0)
		log_warnx("%s: could not record fire '%s': %s", __func__, id,
		    db_errmsg(db));
	free(res);
	free(err);
	return (rv);
}

/* The error text of a reply body into out: its error (or
 * error.message), and its detail when it has one (a failed run). */
static void
body_error(json_t *body, char *out, size_t len)
{
	json_t		*e = json_object_get(body, "error");
	const char	*msg = "the turn failed", *detail;

	if (json_is_string(e))
		msg = json_string_value(e);
	else if (json_is_string(json_object_get(e, "message")))
		msg = str_of(e, "message");
	if ((detail = str_of(body, "detail")) != NULL)
		snprintf(out, len, "%s: %s", msg, detail);
	else
		snprintf(out, len, "%s", msg);
}

/* A turn ended (core's completion thread, with its connection). */
static void
fire_done(void *arg, struct db *db, int status, json_t *body)
{
	struct fire	*f = arg;
	const char	*p[2];
	char		 secs[24];
	const char	*s;
	json_t		*res;
	char		 why[JOB_ERROR_MAX + 64];
	long long	 dur = (long long)(util_now_ms() - f->f_start_ms);
	int		 stopping;

	inflight_del(f);
	pthread_mutex_lock(&fe.mtx);
	stopping = fe.stopping;
	pthread_mutex_unlock(&fe.mtx);
	if (stopping && status != 200) {
		/* Cancelled by the shutdown: the fire stays running and
		 * its lease, no longer renewed, hands it to a replica
		 * that asks again under the same key. */
		if (f->f_pending != NULL)
			(void)svc_pending_reply(f->f_pending, 503,
			    msg_error_body("the scheduler is shutting down"));
		free(f);
		return;
	}
	if (status == 409 && (s = str_of(body, "code")) != NULL &&
	    strcmp(s, "turn_in_progress") == 0) {
		/* agent-runtime still runs the first turn of this key: let
		 * the claim go for a later try.  (Any other 409 is the
		 * turn's own outcome, recorded below.) */
		snprintf(secs, sizeof(secs), "%d", JOB_RETRY_SECS);
		p[0] = f->f_id;
		p[1] = secs;
		if (db_cmd(db, "UPDATE job_fires SET lease_until = now() + "
		    "make_interval(secs => $2::int) WHERE id = $1 AND "
		    "state = 'running'", 2, p) != 0)
			log_warnx("%s: could not release fire '%s': %s",
			    __func__, f->f_id, db_errmsg(db));
		if (f->f_pending != NULL)
			(void)svc_pending_reply(f->f_pending, 409,
			    msg_error_body("the run is still in progress"));
		free(f);
		return;
	}
	/* A turn answers {response}; a workflow run {output} (202: still
	 * running when its time was up). */
	if ((res = json_object_get(body, "response")) == NULL)
		res = json_object_get(body, "output");
	if (status == 202)
		snprintf(why, sizeof(why), "the workflow run '%s' was still "
		    "running when the fire's time was up", str_of(body,
		    "run_id") != NULL ? str_of(body, "run_id") : "?");
	else
		body_error(body, why, sizeof(why));
	(void)fire_record(db, f->f_id, status == 200, dur,
	    status == 200 ? json_string_value(res) : NULL,
	    status == 200 ? NULL : why);
	if (f->f_pending != NULL) {
		if (status == 200)
			(void)svc_pending_reply(f->f_pending, 200, json_pack(
			    "{s:s, s:s, s:s, s:s, s:O?, s:O?, s:O?, s:I}",
			    "status", "triggered", "id", f->f_job,
			    "schedule_id", f->f_job, "run_id", f->f_id,
			    "response", res, "output", res, "workflow_run_id",
			    json_object_get(body, "run_id"),
			    "duration_ms", (json_int_t)dur));
		else
			(void)svc_pending_reply(f->f_pending, 500, json_pack(
			    "{s:s, s:s, s:s, s:s}", "status", "failed",
			    "id", f->f_job, "run_id", f->f_id, "error", why));
	}
	free(f);
}

/* ---- starting a fire ------------------------------------------------- */

/* What a fire needs of its job, from a claim's row. */
struct fire_job {
	const char	*fj_id;
	const char	*fj_agent;
	const char	*fj_name;
	const char	*fj_action;
	const char	*fj_message;
	const char	*fj_session;	/* NULL: the agent's current one */
	int		 fj_follow;	/* no session_mode of its own: the
					   manifest's (caller session_key) */
	long long	 fj_timeout;	/* seconds, 0: default */
	const char	*fj_workflow;	/* action workflow: id or name */
	json_t		*fj_wf_input;	/* and its input, or NULL */
};

/* How long a workflow fire waits for its run by default (notes 3.2). */
#define JOB_WORKFLOW_SECS	300

/* The request of a workflow fire (new): workflows.run, waiting for the
 * run's end, under the fire's id as idempotency key so that a fire asked
 * again (a replica taking over) is one run. */
static json_t *
workflow_request(const char *fire_id, const struct fire_job *j,
    int timeout_ms)
{
	json_t	*body;

	if ((body = json_pack("{s:s, s:b, s:s}", "workflow_id",
	    j->fj_workflow, "wait", 1, "idempotency_key", fire_id)) == NULL)
		return (NULL);
	if (j->fj_wf_input != NULL)
		json_object_set(body, "input", j->fj_wf_input);
	return (msg_request(OP_WORKFLOWS_RUN, NULL, util_wall_ms() +
	    timeout_ms, json_pack("{s:s, s:s}", "principal", "cron",
	    "idempotency_key", fire_id), json_object(), NULL, body));
}

/*
 * Starts fire fire_id of job j: a Custom event (recorded at once on db),
 * or the agent's turn (recorded by fire_done).  pending, when not NULL,
 * is answered with the outcome.  0, or -1 when the turn could not start
 * (pending untouched, the fire left to its lease).
 */
static int
fire_start(struct db *db, const char *fire_id, const struct fire_job *j,
    struct svc_pending *pending)
{
	struct sched_turn	 t;
	struct fire		*f;
	json_t			*ev, *req;
	int			 rv, ms;

	if (strcmp(j->fj_action, "system_event") == 0) {
		ev = msg_event("", "Custom", json_pack("{s:s+, s:s, s:s}",
		    "type", "cron.", j->fj_name, "text", j->fj_message,
		    "job_id", j->fj_id), 0);
		if (ev != NULL)
			sched_publish(TOPIC_EVENTS, ev);
		json_decref(ev);
		(void)fire_record(db, fire_id, 1, 0, j->fj_message, NULL);
		if (pending != NULL)
			(void)svc_pending_reply(pending, 200, json_pack(
			    "{s:s, s:s, s:s, s:s, s:s}", "status", "triggered",
			    "id", j->fj_id, "schedule_id", j->fj_id,
			    "run_id", fire_id, "response", j->fj_message));
		return (0);
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (-1);
	snprintf(f->f_id, sizeof(f->f_id), "%s", fire_id);
	snprintf(f->f_job, sizeof(f->f_job), "%s", j->fj_id);
	f->f_start_ms = util_now_ms();
	f->f_pending = pending;
	memset(&t, 0, sizeof(t));
	t.st_agent_id = j->fj_agent;
	t.st_message = j->fj_message;
	t.st_session_id = j->fj_session;
	t.st_session_create = j->fj_session != NULL;
	if (j->fj_session == NULL && j->fj_follow)
		t.st_session_key = fire_id;
	t.st_principal = "cron";
	t.st_idempotency_key = fire_id;
	t.st_timeout_ms = (int)(j->fj_timeout * 1000);
	/* Listed first: the outcome may come before the call returns. */
	inflight_add(f);
	if (strcmp(j->fj_action, "workflow") == 0) {
		ms = (int)((j->fj_timeout > 0 ? j->fj_timeout :
		    JOB_WORKFLOW_SECS) * 1000);
		rv = -1;
		if ((req = workflow_request(fire_id, j, ms)) != NULL)
			rv = sched_call_start(SVC_SCHEDULER, req, ms + 2000,
			    fire_done, f);
		json_decref(req);
	} else
		rv = sched_turn_start(&t, fire_done, f);
	if (rv != 0) {
		inflight_del(f);
		free(f);
		log_warnx("%s: could not start the turn of fire '%s' (job "
		    "'%s')", __func__, fire_id, j->fj_id);
		return (-1);
	}
	return (0);
}

/* The fire_job of a claim's row (strings borrowed from row); session
 * gets the per-fire session of mode "new". */
static void
fire_job_of(json_t *row, struct fire_job *j, char session[UTIL_UUID_LEN])
{
	json_t	*x;

	memset(j, 0, sizeof(*j));
	j->fj_id = str_of(row, "job_id");
	j->fj_agent = str_of(row, "agent_id");
	j->fj_name = str_of(row, "name");
	j->fj_action = str_of(row, "action");
	j->fj_message = str_of(row, "message");
	j->fj_workflow = str_of(row, "workflow_id");
	if (json_is_object(x = json_object_get(row, "workflow_input_json")) ||
	    json_is_string(x))
		j->fj_wf_input = x;
	x = json_object_get(row, "timeout_secs");
	j->fj_timeout = json_is_integer(x) ? json_integer_value(x) : 0;
	if (str_of(row, "session_id") != NULL) {
		snprintf(session, UTIL_UUID_LEN, "%s", str_of(row,
		    "session_id"));
		j->fj_session = session;
	}
	j->fj_follow = str_of(row, "session_mode") == NULL;
}

/* The session of a fire of job in mode "new"; NULL for "persistent"
 * and for none (the manifest's, decided by agent-runtime). */
static const char *
fire_session(const char *job, const char *mode, const char *slot,
    char out[UTIL_UUID_LEN])
{
	char	name[128];

	if (mode == NULL || strcmp(mode, "new") != 0)
		return (NULL);
	snprintf(name, sizeof(name), "%s:%s", job, slot);
	if (util_uuid5(JOB_SESSION_NS, name, out) != 0)
		return (NULL);
	return (out);
}

int
job_run_now(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, json_t *job)
{
	struct svc_pending	*sp;
	struct fire_job		 j;
	char			 fid[UTIL_UUID_LEN], sess[UTIL_UUID_LEN];
	char			 slot[48], lease[24];
	const char		*p[5];

	util_uuid4(fid);
	snprintf(slot, sizeof(slot), "manual-%s", fid);
	snprintf(lease, sizeof(lease), "%lld", job_conf.jc_lease_secs);
	memset(&j, 0, sizeof(j));
	j.fj_id = str_of(job, "id");
	j.fj_agent = str_of(job, "agent_id");
	j.fj_name = str_of(job, "name");
	j.fj_action = str_of(job, "action");
	j.fj_message = str_of(job, "message");
	j.fj_workflow = str_of(job, "workflow_id");
	if (json_is_object(json_object_get(job, "workflow_input_json")) ||
	    json_is_string(json_object_get(job, "workflow_input_json")))
		j.fj_wf_input = json_object_get(job, "workflow_input_json");
	j.fj_timeout = json_integer_value(json_object_get(job,
	    "timeout_secs"));
	j.fj_session = fire_session(j.fj_id, str_of(job, "session_mode"),
	    slot, sess);
	j.fj_follow = str_of(job, "session_mode") == NULL;
	p[0] = fid;
	p[1] = j.fj_id;
	p[2] = sched.s_replica;
	p[3] = lease;
	p[4] = j.fj_session;
	/* A manual run is a fire like any other, at the current instant. */
	if (db_cmd(c->sc_db, "INSERT INTO job_fires (id, job_id, slot, "
	    "manual, state, claimed_by, lease_until, session_id) VALUES "
	    "($1, $2, clock_timestamp(), true, 'running', $3, now() + "
	    "make_interval(secs => $4::int), $5)", 5, p) != 0) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	if ((sp = svc_defer(rq, rp)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return (-1);
	}
	if (fire_start(c->sc_db, fid, &j, sp) != 0) {
		(void)fire_record(c->sc_db, fid, 0, 0, NULL,
		    "agent-runtime is unreachable on the bus");
		(void)svc_pending_reply(sp, 503, msg_error_body(
		    "agent-runtime is unreachable on the bus"));
		return (-1);
	}
	return (0);
}

/* ---- claiming -------------------------------------------------------- */

/* A claimed slot, started after the COMMIT. */
struct claim {
	char		 c_fire[UTIL_UUID_LEN];
	json_t		*c_row;		/* the job's row, owned */
	int		 c_inserted;	/* its fire row is new */
};

void
job_decide(const struct job_sched *s, const char *policy, int one_shot,
    int64_t first, int64_t now, int64_t *fire, int64_t *next,
    long long *missed)
{
	int64_t		 latest = first, t, nth;
	long long	 k = 1, skip = 0, i;

	/* How many slots are due, and the latest. */
	if (strcmp(s->js_kind, "every") == 0 && s->js_every > 0) {
		k = (now - first) / s->js_every + 1;
		latest = first + (k - 1) * s->js_every;
	} else if (strcmp(s->js_kind, "cron") == 0) {
		while (k < JOB_SLOTS_MAX &&
		    job_next_slot(s, latest, &t, NULL, 0) == 0 && t <= now) {
			latest = t;
			k++;
		}
	}
	*missed = 0;
	*fire = latest;
	if (strcmp(policy, "all") == 0) {
		/* Every slot, oldest first, one per pass (the job stays
		 * due until it has caught up); only the last max_catch_up
		 * of a long downtime. */
		if (k > job_conf.jc_max_catch_up)
			skip = k - job_conf.jc_max_catch_up;
		nth = first;
		for (i = 0; i < skip; i++) {
			if (strcmp(s->js_kind, "every") == 0)
				nth += s->js_every;
			else if (job_next_slot(s, nth, &nth, NULL, 0) != 0)
				break;
		}
		*fire = nth;
		*missed = skip;
	} else if (strcmp(policy, "skip") == 0 && (k > 1 ||
	    now - latest > job_conf.jc_grace_secs)) {
		/* Only a slot on time fires: none of a downtime's. */
		*fire = -1;
		*missed = k;
	} else
		*missed = k - 1;
	if (one_shot || strcmp(s->js_kind, "at") == 0)
		*next = -1;
	else if (job_next_slot(s, *fire >= 0 ? *fire : latest, next,
	    NULL, 0) != 0)
		*next = -1;
}

/* job_decide() for a due job's row of claim_batch(). */
static void
claim_decide(json_t *row, int64_t now, int64_t *fire, int64_t *next,
    long long *missed)
{
	struct job_sched s;

	memset(&s, 0, sizeof(s));
	snprintf(s.js_kind, sizeof(s.js_kind), "%s", str_of(row, "kind"));
	s.js_expr = str_of(row, "cron_expr");
	s.js_tz = str_of(row, "tz");
	s.js_every = json_integer_value(json_object_get(row, "every_secs"));
	s.js_at = json_integer_value(json_object_get(row, "at_epoch"));
	job_decide(&s, str_of(row, "catch_up"),
	    json_is_true(json_object_get(row, "one_shot")),
	    json_integer_value(json_object_get(row, "due")), now, fire, next,
	    missed);
}

/* Column arrays of one batch, as PostgreSQL array literals. */
enum { A_JOB, A_NEXT, A_MISSED, A_FIRE, A_FJOB, A_SLOT, A_SESS, A_N };

/* Appends v (NULL: SQL NULL) to array a. */
static int
arr_add(struct buf *a, const char *v)
{
	return (buf_adds(a, a->b_len == 0 ? "{" : ",") != 0 ||
	    buf_adds(a, v != NULL ? v : "NULL") != 0 ? -1 : 0);
}

/* The literal of a (borrowed): "{}" when empty, closed otherwise. */
static const char *
arr_end(struct buf *a)
{
	if (a->b_len == 0 ? buf_adds(a, "{}") != 0 : buf_adds(a, "}") != 0)
		return (NULL);
	return (a->b_data);
}

/*
 * One batch: locks up to JOB_BATCH due jobs, advances them and inserts
 * their fires (two statements over arrays, whatever the batch's size),
 * commits; then starts the fires.  Returns the number of jobs claimed
 * (0: none due), or -1 on a database error.
 */
static int
claim_batch(struct db *db)
{
	PGresult	*res = NULL, *ins = NULL;
	struct claim	 cl[JOB_BATCH];
	struct buf	 a[A_N];
	struct fire_job	 j;
	char		 num[24], lease[24], sess[UTIL_UUID_LEN];
	const char	*p[A_N + 2], *sid;
	json_t		*row;
	int64_t		 now, fire, next;
	long long	 missed;
	int		 n = 0, i, k, nc = 0, rv = -1, err = 0;

	for (i = 0; i < A_N; i++)
		buf_init(&a[i], JOB_BATCH * 64 + 64);
	if (db_cmd(db, "BEGIN", 0, NULL) != 0)
		goto done;
	res = db_exec(db, "SELECT id AS job_id, agent_id, name, kind, "
	    "cron_expr, tz, every_secs, "
	    "floor(extract(epoch FROM at_time))::bigint AS at_epoch, "
	    "one_shot, action, message, workflow_id, workflow_input_json, "
	    "timeout_secs, session_mode, catch_up, "
	    "floor(extract(epoch FROM next_run))::bigint AS due, "
	    "floor(extract(epoch FROM now()))::bigint AS now "
	    "FROM jobs WHERE enabled AND next_run <= now() ORDER BY next_run "
	    "LIMIT 64 FOR UPDATE SKIP LOCKED", 0, NULL);	/* JOB_BATCH */
	if (res == NULL)
		goto done;
	n = PQntuples(res);
	for (i = 0; i < n && i < JOB_BATCH && !err; i++) {
		if ((row = db_row_json(res, i)) == NULL) {
			err = 1;
			break;
		}
		now = json_integer_value(json_object_get(row, "now"));
		claim_decide(row, now, &fire, &next, &missed);
		err |= arr_add(&a[A_JOB], str_of(row, "job_id"));
		snprintf(num, sizeof(num), "%lld", (long long)next);
		err |= arr_add(&a[A_NEXT], next >= 0 ? num : NULL);
		snprintf(num, sizeof(num), "%lld", missed);
		err |= arr_add(&a[A_MISSED], num);
		if (fire < 0) {
			json_decref(row);
			continue;
		}
		util_uuid4(cl[nc].c_fire);
		snprintf(num, sizeof(num), "%lld", (long long)fire);
		sid = fire_session(str_of(row, "job_id"), str_of(row,
		    "session_mode"), num, sess);
		if (sid != NULL)
			json_object_set_new(row, "session_id", json_string(sid));
		err |= arr_add(&a[A_FIRE], cl[nc].c_fire);
		err |= arr_add(&a[A_FJOB], str_of(row, "job_id"));
		err |= arr_add(&a[A_SLOT], num);
		err |= arr_add(&a[A_SESS], sid);
		cl[nc].c_row = row;
		cl[nc++].c_inserted = 0;
	}
	for (i = 0; i < A_N && !err; i++)
		if ((p[i] = arr_end(&a[i])) == NULL)
			err = 1;
	if (err) {
		log_warnx("%s: out of memory", __func__);
		goto done;
	}
	if (n > 0 && db_cmd(db, "UPDATE jobs j SET next_run = "
	    "to_timestamp(v.next), missed_fires = j.missed_fires + v.missed "
	    "FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS "
	    "v(id, next, missed) WHERE j.id = v.id", 3, p) != 0)
		goto done;
	if (nc > 0) {
		snprintf(lease, sizeof(lease), "%lld", job_conf.jc_lease_secs);
		/* $1..$6: the fire arrays, then these two. */
		p[A_N] = sched.s_replica;
		p[A_N + 1] = lease;
		/* A slot already fired (a job edited back to a past slot)
		 * inserts nothing and starts nothing. */
		if ((ins = db_exec(db, "INSERT INTO job_fires (id, job_id, "
		    "slot, state, claimed_by, lease_until, session_id) "
		    "SELECT v.id, v.job_id, to_timestamp(v.slot), 'running', "
		    "$5, now() + make_interval(secs => $6::int), v.sess "
		    "FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], "
		    "$4::uuid[]) AS v(id, job_id, slot, sess) "
		    "ON CONFLICT (job_id, slot) DO NOTHING RETURNING id::text",
		    6, p + A_FIRE)) == NULL)
			goto done;
		for (k = 0; k < PQntuples(ins); k++)
			for (i = 0; i < nc; i++)
				if (strcmp(cl[i].c_fire,
				    PQgetvalue(ins, k, 0)) == 0)
					cl[i].c_inserted = 1;
	}
	if (db_cmd(db, "COMMIT", 0, NULL) != 0)
		goto done;
	rv = n;
	for (i = 0; i < nc; i++) {
		if (!cl[i].c_inserted)
			continue;
		fire_job_of(cl[i].c_row, &j, sess);
		if (fire_start(db, cl[i].c_fire, &j, NULL) != 0)
			log_warnx("%s: fire '%s' waits for its lease",
			    __func__, cl[i].c_fire);
	}
done:
	if (rv < 0) {
		/* An outage is logged once (db.h), not once a tick. */
		if (!err && !db_unavailable(db))
			log_warnx("%s: could not claim due jobs: %s",
			    __func__, db_errmsg(db));
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
	}
	for (i = 0; i < nc; i++)
		json_decref(cl[i].c_row);
	for (i = 0; i < A_N; i++)
		buf_release(&a[i]);
	PQclear(res);
	PQclear(ins);
	return (rv);
}

/* Takes over the running fires whose lease expired and asks for their
 * turns again under the same key. */
static void
reclaim(struct db *db)
{
	PGresult	*res;
	struct fire_job	 j;
	char		 lease[24], sess[UTIL_UUID_LEN];
	const char	*p[2];
	json_t		*row;
	int		 i;

	snprintf(lease, sizeof(lease), "%lld", job_conf.jc_lease_secs);
	p[0] = sched.s_replica;
	p[1] = lease;
	res = db_exec(db, "UPDATE job_fires f SET claimed_by = $1, "
	    "lease_until = now() + make_interval(secs => $2::int), "
	    "attempts = f.attempts + 1 FROM jobs j WHERE j.id = f.job_id AND "
	    "f.id IN (SELECT id FROM job_fires WHERE state = 'running' AND "
	    "lease_until < now() ORDER BY lease_until LIMIT 32 "
	    "FOR UPDATE SKIP LOCKED) RETURNING f.id AS fire_id, "
	    "f.job_id, f.session_id, j.agent_id, j.name, j.action, "
	    "j.message, j.workflow_id, j.workflow_input_json, j.timeout_secs, "
	    "j.session_mode",
	    2, p);
	if (res == NULL) {
		if (!db_unavailable(db))
			log_warnx("%s: could not take over expired fires: %s",
			    __func__, db_errmsg(db));
		return;
	}
	for (i = 0; i < PQntuples(res); i++) {
		if ((row = db_row_json(res, i)) == NULL)
			continue;
		if (!inflight_has(str_of(row, "fire_id"))) {
			fire_job_of(row, &j, sess);
			log_info("fire '%s' of job '%s': its lease expired; "
			    "asking again", str_of(row, "fire_id"), j.fj_id);
			(void)fire_start(db, str_of(row, "fire_id"), &j, NULL);
		}
		json_decref(row);
	}
	PQclear(res);
}

/* ---- the ticker ------------------------------------------------------ */

static void *
ticker_main(void *arg)
{
	struct timespec	 ts;
	uint64_t	 renewed = 0, pruned = 0, now;
	long long	 wait;
	int		 n, passes;

	(void)arg;
	pthread_mutex_lock(&fe.mtx);
	while (!fe.quit) {
		pthread_mutex_unlock(&fe.mtx);
		now = util_now_ms();
		if (now - renewed >= (uint64_t)job_conf.jc_lease_secs * 1000 /
		    3) {
			lease_renew(fe.db);
			renewed = now;
		}
		/* Batches until nothing is due, bounded so a stop is
		 * heard. */
		for (passes = 0; passes < 100; passes++)
			if ((n = claim_batch(fe.db)) <= 0)
				break;
		reclaim(fe.db);
		if (now - pruned >= 60000) {
			if (db_cmd(fe.db, "DELETE FROM job_fires WHERE "
			    "state <> 'running' AND finished_at < now() - "
			    "interval '" JOB_KEEP_DAYS " days'", 0, NULL) != 0)
				log_warnx("%s: could not prune fires: %s",
				    __func__, db_errmsg(fe.db));
			pruned = now;
		}
		pthread_mutex_lock(&fe.mtx);
		if (fe.quit)
			break;
		/*
		 * tick_ms, less up to a fifth at random: replicas that
		 * started together would otherwise keep their phase, and
		 * the one whose tick comes first after each slot would
		 * claim every due job (a batch holds 64) while the others
		 * find none.
		 */
		wait = job_conf.jc_tick_ms - (long long)arc4random_uniform(
		    (uint32_t)(job_conf.jc_tick_ms / 5 + 1));
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(wait % 1000) * 1000000L;
		ts.tv_sec += (time_t)(wait / 1000) +
		    ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		(void)pthread_cond_timedwait(&fe.cond, &fe.mtx, &ts);
	}
	pthread_mutex_unlock(&fe.mtx);
	return (NULL);
}

int
job_start(void)
{
	int	e;

	if (job_conf_load(sched.s_cfg) != 0)
		return (-1);
	if ((fe.db = sched_db_open()) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	if ((e = pthread_create(&fe.thread, NULL, ticker_main, NULL)) != 0) {
		log_warnx("%s: could not start the ticker: %s", __func__,
		    strerror(e));
		return (-1);
	}
	fe.started = 1;
	return (0);
}

void
job_stop(void)
{
	pthread_mutex_lock(&fe.mtx);
	fe.quit = 1;
	fe.stopping = 1;
	pthread_cond_signal(&fe.cond);
	pthread_mutex_unlock(&fe.mtx);
	if (fe.started)
		pthread_join(fe.thread, NULL);
	fe.started = 0;
	db_close(fe.db);
	fe.db = NULL;
}
