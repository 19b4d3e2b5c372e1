/*
 * job/ops.c - the operations behind /api/schedules and /api/cron/jobs
 * (job/job.h): the store and the two views of one job (the bodies are
 * parsed in spec.c).
 *
 * Both views read and write the same rows.  The cron view is the full
 * job (schedule and action as tagged unions, as notes/kernel.md 3.2) with
 * the reference's cron_expr and prompt; the schedules view is the
 * dashboard's flat shape (cron, prompt).  A body may name only the keys
 * its view knows: anything else is a 400, so a typo never goes unseen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/sched.h"
#include "err.h"
#include "job/job.h"
#include "log.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "util.h"

/* How long a create waits for agent-runtime to say the agent exists:
 * within the gateway's bus.request_timeout_ms (5 s by default). */
#define JOB_CHECK_MS	4000

static const char *
str_of(json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

#define TS(col)	"to_char(" col " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
/* Every column a view needs, with timestamps as RFC 3339 text. */
#define JOB_COLS \
	"id, agent_id, name, enabled, kind, cron_expr, tz, every_secs, " \
	TS("at_time") " AS at_time, " \
	"floor(extract(epoch FROM at_time))::bigint AS at_epoch, " \
	"one_shot, action, message, workflow_id, workflow_input_json, " \
	"timeout_secs, session_mode, catch_up, " \
	"max_failures, delivery_json, delivery_targets_json, peer_id, " \
	TS("created_at") " AS created_at, " TS("updated_at") " AS updated_at, " \
	TS("next_run") " AS next_run, " TS("last_run") " AS last_run, " \
	"last_status, last_error, run_count, consecutive_errors, " \
	"auto_disabled, disabled_reason, missed_fires"

/* ---- the agent ------------------------------------------------------- */

/* Asks agent-runtime whether agent id exists: 0 yes, else the HTTP status
 * to answer (400 unknown, 503 unreachable) with err. */
static int
agent_check(const char *id, char *err, size_t errlen)
{
	struct msg_rep	 rep;
	json_t		*req;
	int		 rv, status;

	if (sched.s_bus == NULL) {
		snprintf(err, errlen, "agent-runtime is unreachable");
		return (503);
	}
	req = msg_request(OP_AGENTS_GET, NULL, util_wall_ms() + JOB_CHECK_MS,
	    json_pack("{s:s}", "principal", "scheduler"),
	    json_pack("{s:s}", PARAM_ID, id), NULL, NULL);
	if (req == NULL) {
		snprintf(err, errlen, "out of memory");
		return (503);
	}
	rv = bus_call(sched.s_bus, SVC_AGENT_RUNTIME, req, JOB_CHECK_MS, &rep);
	json_decref(req);
	if (rv != 0) {
		snprintf(err, errlen, "could not check the agent with "
		    "agent-runtime");
		return (503);
	}
	status = rep.mp_status;
	msg_rep_release(&rep);
	if (status == 200)
		return (0);
	if (status == 404 || status == 400) {
		snprintf(err, errlen, "agent '%s' not found", id);
		return (400);
	}
	snprintf(err, errlen, "could not check the agent with agent-runtime "
	    "(status %d)", status);
	return (503);
}

/* ---- views ----------------------------------------------------------- */

static json_t *
jstr_or_null(json_t *row, const char *key)
{
	json_t	*v = json_object_get(row, key);

	return (v != NULL ? json_incref(v) : json_null());
}

/* "every 60s", "at <ts>" or the cron text (new). */
static json_t *
view_cron_text(json_t *row)
{
	const char	*kind = str_of(row, "kind");

	if (strcmp(kind, "every") == 0)
		return (json_sprintf("every %llds", (long long)
		    json_integer_value(json_object_get(row, "every_secs"))));
	if (strcmp(kind, "at") == 0)
		return (json_sprintf("at %s", str_of(row, "at_time")));
	return (json_string(str_of(row, "cron_expr")));
}

static json_t *
view_schedule(json_t *row)
{
	const char	*kind = str_of(row, "kind");

	if (strcmp(kind, "every") == 0)
		return (json_pack("{s:s, s:O}", "kind", "every", "every_secs",
		    json_object_get(row, "every_secs")));
	if (strcmp(kind, "at") == 0)
		return (json_pack("{s:s, s:s}", "kind", "at", "at",
		    str_of(row, "at_time")));
	return (json_pack("{s:s, s:s, s:o}", "kind", "cron", "expr",
	    str_of(row, "cron_expr"), "tz", jstr_or_null(row, "tz")));
}

/* The fields both views share (new). */
static json_t *
view_common(json_t *row)
{
	json_t		*o;
	const char	*keys[] = { "id", "agent_id", "name", "enabled",
			    "session_mode", "catch_up", "one_shot",
			    "created_at", "updated_at", "last_run", "next_run",
			    "last_status", "last_error", "run_count",
			    "consecutive_errors", "auto_disabled",
			    "disabled_reason", "missed_fires", "peer_id",
			    NULL };
	const char	**k;

	if ((o = json_object()) == NULL)
		return (NULL);
	for (k = keys; *k != NULL; k++)
		json_object_set_new(o, *k, jstr_or_null(row, *k));
	json_object_set_new(o, "max_consecutive_failures",
	    json_is_integer(json_object_get(row, "max_failures")) ?
	    json_incref(json_object_get(row, "max_failures")) :
	    json_integer(job_conf.jc_max_failures));
	json_object_set_new(o, "delivery", jstr_or_null(row,
	    "delivery_json"));
	json_object_set_new(o, "delivery_targets", jstr_or_null(row,
	    "delivery_targets_json"));
	return (o);
}

static json_t *
view(enum job_view v, json_t *row)
{
	json_t		*o;
	int		 turn = strcmp(str_of(row, "action"), "agent_turn") == 0;

	if ((o = view_common(row)) == NULL)
		return (NULL);
	if (v == VIEW_SCHED) {
		json_object_set_new(o, "cron", view_cron_text(row));
		json_object_set_new(o, "tz", jstr_or_null(row, "tz"));
		json_object_set_new(o, "schedule", view_schedule(row));
		json_object_set_new(o, "prompt", jstr_or_null(row, "message"));
		json_object_set_new(o, "message", jstr_or_null(row,
		    "message"));
		json_object_set_new(o, "workflow_id", jstr_or_null(row,
		    "workflow_id"));
		json_object_set_new(o, "action", json_string(str_of(row,
		    "action")));
		return (o);
	}
	json_object_set_new(o, "schedule", view_schedule(row));
	json_object_set_new(o, "cron_expr", view_cron_text(row));
	json_object_set_new(o, "prompt", jstr_or_null(row, "message"));
	if (turn)
		json_object_set_new(o, "action", json_pack("{s:s, s:O, s:o}",
		    "kind", "agent_turn", "message",
		    json_object_get(row, "message"), "timeout_secs",
		    jstr_or_null(row, "timeout_secs")));
	else if (strcmp(str_of(row, "action"), "workflow") == 0)
		json_object_set_new(o, "action", json_pack("{s:s, s:o, s:o, "
		    "s:o}", "kind", "workflow", "workflow_id",
		    jstr_or_null(row, "workflow_id"), "input",
		    jstr_or_null(row, "workflow_input_json"), "timeout_secs",
		    jstr_or_null(row, "timeout_secs")));
	else
		json_object_set_new(o, "action", json_pack("{s:s, s:O}",
		    "kind", "system_event", "text",
		    json_object_get(row, "message")));
	return (o);
}

/* ---- the store ------------------------------------------------------- */

/* The id param as a lowercase uuid into id: 0, or -1 after a 400. */
static int
param_id(const struct msg_req *rq, struct svc_reply *rp, const char *what,
    char id[UTIL_UUID_LEN])
{
	if (svc_uuid_lower(str_of(rq->mr_params, PARAM_ID), id) != 0) {
		svc_reply_error(rp, 400, "Invalid %s ID", what);
		return (-1);
	}
	return (0);
}

/* The row of job id (new), or NULL after a 404 or 503 in rp. */
static json_t *
job_fetch(struct svc_ctx *c, struct svc_reply *rp, const char *what,
    const char *id)
{
	const char	*p[1] = { id };
	json_t		*row;
	int		 e = 0;

	row = db_one_json(db_exec(c->sc_db, "SELECT " JOB_COLS
	    " FROM jobs WHERE id = $1", 1, p), &e);
	if (row == NULL) {
		if (e == SH_ENOTFOUND)
			svc_reply_not_found(rp, what, id);
		else
			svc_reply_db_error(rp, c);
	}
	return (row);
}

static void
fmt_ll(char *buf, size_t len, long long v)
{
	snprintf(buf, len, "%lld", v);
}

/*
 * Writes job id from sp, inserting when insert, else updating every
 * column from sp (complete by now).  next is the next slot, or -1 for
 * none; reset clears the failure state (an enable).  0, -1 (db) or
 * SH_ENOTFOUND (no such job to update: deleted meanwhile).
 */
static int
job_write(struct db *db, int insert, const char *id, const struct job_spec *sp,
    int64_t next, int reset)
{
	char		 every[24], at[24], nxt[24], tmo[24], mf[24];
	char		*dj = NULL, *tj = NULL, *wj = NULL;
	const char	*p[24];
	const struct job_sched *s = &sp->sp_sched;
	PGresult	*res;
	int		 cron = strcmp(s->js_kind, "cron") == 0, rv;

	fmt_ll(every, sizeof(every), s->js_every);
	fmt_ll(at, sizeof(at), s->js_at);
	fmt_ll(nxt, sizeof(nxt), next);
	fmt_ll(tmo, sizeof(tmo), sp->sp_timeout);
	fmt_ll(mf, sizeof(mf), sp->sp_max_failures);
	if (sp->sp_delivery != NULL && !json_is_null(sp->sp_delivery))
		dj = json_dumps(sp->sp_delivery, MSG_JSON_FLAGS);
	if (sp->sp_targets != NULL)
		tj = json_dumps(sp->sp_targets, MSG_JSON_FLAGS);
	if (sp->sp_wf_input != NULL)
		wj = json_dumps(sp->sp_wf_input, MSG_JSON_FLAGS);

	p[0] = id;
	p[1] = sp->sp_agent;
	p[2] = sp->sp_name;
	p[3] = sp->sp_enabled ? "true" : "false";
	p[4] = s->js_kind;
	p[5] = cron ? s->js_expr : NULL;
	p[6] = cron ? s->js_tz : NULL;
	p[7] = strcmp(s->js_kind, "every") == 0 ? every : NULL;
	p[8] = strcmp(s->js_kind, "at") == 0 ? at : NULL;
	p[9] = sp->sp_one_shot ? "true" : "false";
	p[10] = sp->sp_action;
	p[11] = sp->sp_message;
	p[12] = sp->sp_timeout > 0 ? tmo : NULL;
	p[13] = sp->sp_session_mode;
	p[14] = sp->sp_catch_up;
	p[15] = sp->sp_max_failures > 0 ? mf : NULL;
	p[16] = dj;
	p[17] = tj != NULL ? tj : "[]";
	p[18] = sp->sp_peer_id;
	p[19] = next >= 0 ? nxt : NULL;
	p[20] = sp->sp_workflow;
	p[21] = wj;
	p[22] = reset ? "true" : "false";
	if (insert)
		res = db_exec(db, "INSERT INTO jobs (id, agent_id, name, "
		    "enabled, kind, cron_expr, tz, every_secs, at_time, "
		    "one_shot, action, message, timeout_secs, session_mode, "
		    "catch_up, max_failures, delivery_json, "
		    "delivery_targets_json, peer_id, next_run, workflow_id, "
		    "workflow_input_json) VALUES ($1, $2, $3, $4, $5, $6, $7, "
		    "$8, to_timestamp($9), $10, $11, $12, $13, $14, $15, $16, "
		    "$17, $18, $19, to_timestamp($20), $21, $22)", 22, p);
	else
		res = db_exec(db, "UPDATE jobs SET agent_id = $2, name = $3, "
		    "enabled = $4, kind = $5, cron_expr = $6, tz = $7, "
		    "every_secs = $8, at_time = to_timestamp($9), "
		    "one_shot = $10, action = $11, message = $12, "
		    "timeout_secs = $13, session_mode = $14, catch_up = $15, "
		    "max_failures = $16, delivery_json = $17, "
		    "delivery_targets_json = $18, peer_id = $19, "
		    "next_run = to_timestamp($20), workflow_id = $21, "
		    "workflow_input_json = $22, updated_at = now(), "
		    "consecutive_errors = CASE WHEN $23 THEN 0 ELSE "
		    "consecutive_errors END, auto_disabled = CASE WHEN $23 "
		    "THEN false ELSE auto_disabled END, disabled_reason = "
		    "CASE WHEN $23 THEN NULL ELSE disabled_reason END "
		    "WHERE id = $1", 23, p);
	rv = res == NULL ? -1 : strcmp(PQcmdTuples(res), "0") == 0 ?
	    SH_ENOTFOUND : 0;
	PQclear(res);
	free(dj);
	free(tj);
	free(wj);
	return (rv);
}

/* ---- operations ------------------------------------------------------ */

static const char *
view_what(enum job_view v)
{
	return (v == VIEW_CRON ? "cron job" : "schedule");
}

static void
op_list(enum job_view v, struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*list, *row;
	const char	*agent = str_of(rq->mr_query, "agent_id");
	const char	*p[1];
	int		 i;

	if (agent != NULL && *agent != '\0' && !util_uuid_valid(agent)) {
		svc_reply_error(rp, 400, "'agent_id' must be an agent's UUID");
		return;
	}
	p[0] = agent != NULL && *agent != '\0' ? agent : NULL;
	res = db_exec(c->sc_db, "SELECT " JOB_COLS " FROM jobs WHERE "
	    "$1::uuid IS NULL OR agent_id = $1::uuid ORDER BY seq",
	    1, p);
	if (res == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	list = json_array();
	for (i = 0; i < PQntuples(res); i++) {
		row = db_row_json(res, i);
		svc_list_add(&list, row != NULL ? view(v, row) : NULL);
		json_decref(row);
	}
	PQclear(res);
	svc_reply_list(rp, v == VIEW_CRON ? "jobs" : "schedules", list);
}

/* Counts against the caps: 0, or -1 after a 400/503. */
static int
check_caps(struct svc_ctx *c, struct svc_reply *rp, const char *agent)
{
	PGresult	*res;
	const char	*p[1] = { agent };
	long long	 all, mine;

	res = db_exec(c->sc_db, "SELECT count(*), count(*) FILTER (WHERE "
	    "agent_id = $1) FROM jobs", 1, p);
	if (res == NULL) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	all = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	mine = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	if (all >= job_conf.jc_max_jobs) {
		svc_reply_error(rp, 400, "too many jobs (max_jobs is %lld)",
		    job_conf.jc_max_jobs);
		return (-1);
	}
	if (mine >= job_conf.jc_max_per_agent) {
		svc_reply_error(rp, 400, "agent '%s' has too many jobs "
		    "(max_jobs_per_agent is %lld)", agent,
		    job_conf.jc_max_per_agent);
		return (-1);
	}
	return (0);
}

static void
op_create(enum job_view v, struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct job_spec	 sp;
	char		 id[UTIL_UUID_LEN], name[JOB_NAME_MAX + 1];
	char		 err[256], deflt[JOB_NAME_MAX + 64];
	int64_t		 next;
	json_t		*row, *out;
	int		 st;

	job_spec_init(&sp);
	if (job_spec_parse(v, rq->mr_body, &sp, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return;
	}
	if (sp.sp_agent[0] == '\0') {
		if (sp.sp_action == NULL ||
		    strcmp(sp.sp_action, "workflow") != 0) {
			svc_reply_error(rp, 400, "'agent_id' is required");
			return;
		}
		snprintf(sp.sp_agent, sizeof(sp.sp_agent), JOB_SHARED_AGENT);
	}
	if (!sp.sp_has_sched) {
		svc_reply_error(rp, 400, v == VIEW_CRON ? "'schedule' is "
		    "required" : "'cron' is required");
		return;
	}
	util_uuid4(id);
	if (sp.sp_name == NULL) {
		snprintf(name, sizeof(name), "%s-%.8s", v == VIEW_CRON ?
		    "job" : "schedule", id);
		sp.sp_name = name;
	}
	if (sp.sp_action == NULL) {
		if (v == VIEW_CRON) {
			svc_reply_error(rp, 400, "'prompt' or 'action' is "
			    "required");
			return;
		}
		sp.sp_action = "agent_turn";
	}
	if (strcmp(sp.sp_action, "agent_turn") == 0 &&
	    (sp.sp_message == NULL || *sp.sp_message == '\0')) {
		if (v == VIEW_CRON) {
			svc_reply_error(rp, 400, "'prompt' must not be empty");
			return;
		}
		snprintf(deflt, sizeof(deflt), "[Scheduled task '%s' "
		    "triggered]", sp.sp_name);
		sp.sp_message = deflt;
	}
	if (sp.sp_enabled < 0)
		sp.sp_enabled = 1;
	if (sp.sp_one_shot < 0)
		sp.sp_one_shot = strcmp(sp.sp_sched.js_kind, "at") == 0;
	if (strcmp(sp.sp_sched.js_kind, "at") == 0)
		sp.sp_one_shot = 1;
	/* No session_mode: the agent's manifest decides at each fire. */
	if (sp.sp_catch_up == NULL)
		sp.sp_catch_up = "once";
	if (job_next_slot(&sp.sp_sched, time(NULL), &next, err,
	    sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return;
	}
	/* The workflow is looked up when it runs (a missing one is a
	 * recorded failure); the shared owner is no agent to check. */
	if (strcmp(sp.sp_agent, JOB_SHARED_AGENT) != 0 &&
	    (st = agent_check(sp.sp_agent, err, sizeof(err))) != 0) {
		svc_reply_error(rp, st, "%s", err);
		return;
	}
	if (check_caps(c, rp, sp.sp_agent) != 0)
		return;
	/* The job and its audit entry commit together (core/sched.h). */
	if (sched_tx_begin(c->sc_db) != 0 ||
	    job_write(c->sc_db, 1, id, &sp, next, 0) != 0 ||
	    sched_tx_commit(c->sc_db, sp.sp_agent, "%s: %s '%s' (%s)",
	    rq->mr_op, view_what(v), sp.sp_name, id) != 0) {
		sched_tx_rollback(c->sc_db);
		svc_reply_db_error(rp, c);
		return;
	}
	if ((row = job_fetch(c, rp, view_what(v), id)) == NULL)
		return;
	out = view(v, row);
	json_decref(row);
	if (out != NULL) {
		json_object_set_new(out, "status", json_string("created"));
		if (v == VIEW_CRON)
			json_object_set_new(out, "job_id", json_string(id));
	}
	svc_reply_json(rp, 201, out);
}

static void
op_update(enum job_view v, struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct job_spec	 sp, up;
	char		 id[UTIL_UUID_LEN], err[256];
	json_t		*row = NULL, *row2 = NULL, *out;
	int64_t		 next = -1;
	int		 st, was_enabled, resched;

	if (param_id(rq, rp, view_what(v), id) != 0)
		return;
	job_spec_init(&up);
	if (job_spec_parse(v, rq->mr_body, &up, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return;
	}
	if ((row = job_fetch(c, rp, view_what(v), id)) == NULL)
		return;
	job_spec_of_row(row, &sp);
	was_enabled = sp.sp_enabled;
	if (up.sp_agent[0] != '\0' && strcmp(up.sp_agent, sp.sp_agent) != 0) {
		if ((st = agent_check(up.sp_agent, err, sizeof(err))) != 0) {
			svc_reply_error(rp, st, "%s", err);
			goto done;
		}
		memcpy(sp.sp_agent, up.sp_agent, sizeof(sp.sp_agent));
	}
	if (up.sp_name != NULL)
		sp.sp_name = up.sp_name;
	if (up.sp_enabled >= 0)
		sp.sp_enabled = up.sp_enabled;
	if (up.sp_has_sched)
		sp.sp_sched = up.sp_sched;
	if (up.sp_action != NULL) {
		sp.sp_action = up.sp_action;
		sp.sp_message = up.sp_message;
		sp.sp_workflow = up.sp_workflow;
		sp.sp_wf_input = up.sp_wf_input;
		if (up.sp_timeout >= 0)
			sp.sp_timeout = up.sp_timeout;
	}
	if (strcmp(sp.sp_action, "agent_turn") == 0 && *sp.sp_message == '\0') {
		svc_reply_error(rp, 400, "'prompt' must not be empty");
		goto done;
	}
	if (up.sp_session_mode != NULL)
		sp.sp_session_mode = up.sp_session_mode;
	if (up.sp_catch_up != NULL)
		sp.sp_catch_up = up.sp_catch_up;
	if (up.sp_max_failures >= 0)
		sp.sp_max_failures = up.sp_max_failures;
	if (up.sp_one_shot >= 0)
		sp.sp_one_shot = up.sp_one_shot;
	if (strcmp(sp.sp_sched.js_kind, "at") == 0)
		sp.sp_one_shot = 1;
	if (up.sp_delivery != NULL)
		sp.sp_delivery = up.sp_delivery;
	if (up.sp_targets != NULL)
		sp.sp_targets = up.sp_targets;
	if (up.sp_has_peer)
		sp.sp_peer_id = up.sp_peer_id;
	/*
	 * A new schedule, or a job switched back on, starts from now; else
	 * the slot already due stays (an edit must not skip or re-fire it).
	 */
	resched = up.sp_has_sched || (sp.sp_enabled && !was_enabled);
	if (resched) {
		if (job_next_slot(&sp.sp_sched, time(NULL), &next, err,
		    sizeof(err)) != 0) {
			svc_reply_error(rp, 400, "%s", err);
			goto done;
		}
	} else if (json_is_string(json_object_get(row, "next_run")) &&
	    job_parse_time(str_of(row, "next_run"), &next) != 0)
		next = -1;
	if (sched_tx_begin(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if ((st = job_write(c->sc_db, 0, id, &sp, next, sp.sp_enabled &&
	    !was_enabled)) != 0 || sched_tx_commit(c->sc_db, sp.sp_agent,
	    "%s: %s '%s' (%s)%s", rq->mr_op, view_what(v), sp.sp_name, id,
	    sp.sp_enabled == was_enabled ? "" : sp.sp_enabled ? " enabled" :
	    " disabled") != 0) {
		sched_tx_rollback(c->sc_db);
		if (st == SH_ENOTFOUND)
			svc_reply_not_found(rp, view_what(v), id);
		else
			svc_reply_db_error(rp, c);
		goto done;
	}
	if ((row2 = job_fetch(c, rp, view_what(v), id)) == NULL)
		goto done;
	if ((out = view(v, row2)) != NULL)
		json_object_set_new(out, "status", json_string("updated"));
	svc_reply_json(rp, 200, out);
done:
	json_decref(row);
	json_decref(row2);
}

static void
op_get(enum job_view v, struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char	 id[UTIL_UUID_LEN];
	json_t	*row;

	if (param_id(rq, rp, view_what(v), id) != 0 ||
	    (row = job_fetch(c, rp, view_what(v), id)) == NULL)
		return;
	svc_reply_json(rp, 200, view(v, row));
	json_decref(row);
}

static void
op_delete(enum job_view v, struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1] = { id };
	PGresult	*res;
	int		 n = 0;

	if (param_id(rq, rp, view_what(v), id) != 0)
		return;
	/* A job already gone changed nothing: no entry. */
	if (sched_tx_begin(c->sc_db) != 0 ||
	    (res = db_exec(c->sc_db, "DELETE FROM jobs WHERE id = $1 "
	    "RETURNING agent_id, name", 1, p)) == NULL) {
		sched_tx_rollback(c->sc_db);
		svc_reply_db_error(rp, c);
		return;
	}
	if ((n = PQntuples(res)) == 0)
		sched_tx_rollback(c->sc_db);
	else if (sched_tx_commit(c->sc_db, PQgetvalue(res, 0, 0),
	    "%s: %s '%s' (%s)", rq->mr_op, view_what(v), PQgetvalue(res, 0, 1),
	    id) != 0) {
		PQclear(res);
		svc_reply_db_error(rp, c);
		return;
	}
	PQclear(res);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", n > 0 ?
	    "deleted" : "already-deleted", "id", id));
}

static void
cron_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	op_list(VIEW_CRON, c, rq, rp);
}
static void
cron_create(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	op_create(VIEW_CRON, c, rq, rp);
}
static void
cron_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	op_get(VIEW_CRON, c, rq, rp);
}
static void
cron_update(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	op_update(VIEW_CRON, c, rq, rp);
}
static void
cron_delete(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	op_delete(VIEW_CRON, c, rq, rp);
}
static void
sched_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	op_list(VIEW_SCHED, c, rq, rp);
}
static void
sched_create(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	op_create(VIEW_SCHED, c, rq, rp);
}
static void
sched_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	op_get(VIEW_SCHED, c, rq, rp);
}
static void
sched_update(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	op_update(VIEW_SCHED, c, rq, rp);
}
static void
sched_delete(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	op_delete(VIEW_SCHED, c, rq, rp);
}

/* PUT /api/cron/jobs/{id}/enable {enabled}: switching on clears the
 * failure state and starts the schedule from now. */
static void
cron_enable(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct job_spec	 sp;
	struct job_sched s;
	char		 id[UTIL_UUID_LEN], nxt[24];
	const char	*p[2];
	const char	*k;
	PGresult	*res;
	json_t		*row, *x;
	int64_t		 next;
	int		 on, n;

	if (param_id(rq, rp, "cron job", id) != 0)
		return;
	if (!json_is_object(rq->mr_body) ||
	    !json_is_boolean(json_object_get(rq->mr_body, "enabled"))) {
		svc_reply_error(rp, 400, "'enabled' (true or false) is "
		    "required");
		return;
	}
	json_object_foreach(rq->mr_body, k, x) {
		if (strcmp(k, "enabled") != 0) {
			svc_reply_error(rp, 400, "unknown field '%.64s'", k);
			return;
		}
	}
	on = json_is_true(json_object_get(rq->mr_body, "enabled"));
	if ((row = job_fetch(c, rp, "cron job", id)) == NULL)
		return;
	job_spec_of_row(row, &sp);
	s = sp.sp_sched;
	p[0] = id;
	p[1] = NULL;
	if (on && job_next_slot(&s, time(NULL), &next, NULL, 0) == 0) {
		fmt_ll(nxt, sizeof(nxt), next);
		p[1] = nxt;
	}
	if (sched_tx_begin(c->sc_db) != 0 ||
	    (res = db_exec(c->sc_db, on ? "UPDATE jobs SET enabled = true, "
	    "auto_disabled = false, disabled_reason = NULL, "
	    "consecutive_errors = 0, next_run = to_timestamp($2), "
	    "updated_at = now() WHERE id = $1" : "UPDATE jobs SET "
	    "enabled = false, updated_at = now() WHERE id = $1",
	    on ? 2 : 1, p)) == NULL) {
		sched_tx_rollback(c->sc_db);
		svc_reply_db_error(rp, c);
		goto done;
	}
	n = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	if (n == 0) {
		/* Deleted since the fetch: nothing changed, no entry. */
		sched_tx_rollback(c->sc_db);
		svc_reply_not_found(rp, "cron job", id);
	} else if (sched_tx_commit(c->sc_db, sp.sp_agent, "%s: cron job "
	    "'%s' (%s) %s", rq->mr_op, sp.sp_name, id, on ? "enabled" :
	    "disabled") != 0)
		svc_reply_db_error(rp, c);
	else
		svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:b}", "status",
		    "ok", "id", id, "enabled", on));
done:
	json_decref(row);
}

/* GET /api/cron/jobs/{id}/status: the job's state and its recent fires. */
static void
cron_status(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1] = { id };
	json_t		*row, *out, *fires;
	const char	*keys[] = { "id", "name", "enabled", "last_run",
			    "next_run", "run_count", "last_error",
			    "last_status", "consecutive_errors",
			    "auto_disabled", "disabled_reason",
			    "missed_fires", NULL };
	const char	**k;

	if (param_id(rq, rp, "cron job", id) != 0 ||
	    (row = job_fetch(c, rp, "cron job", id)) == NULL)
		return;
	out = json_object();
	for (k = keys; *k != NULL; k++)
		json_object_set_new(out, *k, jstr_or_null(row, *k));
	json_decref(row);
	fires = svc_rows(c, "SELECT id, " TS("slot") " AS slot, manual, "
	    "state, attempts, claimed_by, " TS("fired_at") " AS fired_at, "
	    TS("finished_at") " AS finished_at, duration_ms, error "
	    "FROM job_fires WHERE job_id = $1 ORDER BY fired_at DESC "
	    "LIMIT 20", 1, p, NULL, rp);
	if (fires == NULL) {
		json_decref(out);
		return;
	}
	if (out != NULL)
		json_object_set_new(out, "recent_fires", fires);
	else
		json_decref(fires);
	svc_reply_json(rp, 200, out);
}

/* POST /api/schedules/{id}/run: fires the job now, answering when done. */
static void
sched_run(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char	 id[UTIL_UUID_LEN];
	json_t	*row;

	if (param_id(rq, rp, "schedule", id) != 0 ||
	    (row = job_fetch(c, rp, "schedule", id)) == NULL)
		return;
	(void)job_run_now(c, rq, rp, row);
	json_decref(row);
}

const struct svc_op job_ops[] = {
	{ OP_CRON_JOBS_LIST,	cron_list },
	{ OP_CRON_JOBS_CREATE,	cron_create },
	{ OP_CRON_JOBS_GET,	cron_get },
	{ OP_CRON_JOBS_UPDATE,	cron_update },
	{ OP_CRON_JOBS_DELETE,	cron_delete },
	{ OP_CRON_JOBS_ENABLE,	cron_enable },
	{ OP_CRON_JOBS_STATUS,	cron_status },
	{ OP_SCHEDULES_LIST,	sched_list },
	{ OP_SCHEDULES_CREATE,	sched_create },
	{ OP_SCHEDULES_GET,	sched_get },
	{ OP_SCHEDULES_UPDATE,	sched_update },
	{ OP_SCHEDULES_DELETE,	sched_delete },
	{ OP_SCHEDULES_RUN,	sched_run },
	{ NULL, NULL }
};
