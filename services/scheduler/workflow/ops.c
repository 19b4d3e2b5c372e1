/*
 * workflow/ops.c - the workflow operations (proto/messages.md,
 * "scheduler: workflows"): definitions, starting a run, a workflow's runs.
 *
 * workflows.run is both POST /api/workflows/{id}/run and what another
 * module asks over the bus (a schedule's or a trigger's workflow action,
 * with body.workflow_id and an idempotency_key so that its fire is one
 * run however often it is asked).  It inserts the run and leaves it to
 * the pool (run.c); by default the caller waits for the end, as the
 * reference answers, until shortly before its request's deadline, then
 * gets 202 with the run id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/sched.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "ops.h"
#include "svc.h"
#include "util.h"
#include "workflow/workflow.h"

#define SQLSTATE_UNIQUE	"23505"
#define WF_MAX_IDEM_KEY	256
#define WF_RUNS_LISTED	200

#define WF_TS(col)							\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

static const char SQL_LIST[] =
	"SELECT id::text AS id, name, description,"
	" jsonb_array_length(def_json->'steps') AS steps,"
	" " WF_TS("created_at") " AS created_at"
	" FROM workflows ORDER BY created_at, id";

static const char SQL_GET[] =
	"SELECT id::text AS id, def_json, " WF_TS("created_at")
	" AS created_at FROM workflows WHERE id = $1";

static const char SQL_INSERT[] =
	"INSERT INTO workflows (id, name, description, def_json)"
	" VALUES ($1, $2, $3, $4::jsonb)";

static const char SQL_UPDATE[] =
	"UPDATE workflows SET name = $2, description = $3, def_json = $4,"
	" updated_at = now() WHERE id = $1"
	" RETURNING " WF_TS("created_at") " AS created_at";

static const char SQL_DELETE[] =
	"DELETE FROM workflows WHERE id = $1 RETURNING id, name";

/* Pending and claimed by this replica for one lease (run.c). */
static const char SQL_RUN_INSERT[] =
	"INSERT INTO workflow_runs (id, workflow_id, workflow_name, def_json,"
	" input, state, claimed_by, lease_until, deadline, depth, idem_key)"
	" SELECT $1, w.id, w.name, w.def_json, $3, 'pending', $4,"
	" clock_timestamp() + make_interval(secs => $5::int),"
	" clock_timestamp() + make_interval(secs =>"
	" COALESCE((w.def_json->>'total_timeout_secs')::bigint,"
	" NULLIF($6::bigint, 0))), $7, $8"
	" FROM workflows w WHERE w.id = $2 RETURNING id, workflow_name";

static const char SQL_BY_NAME[] =
	"SELECT id::text AS id FROM workflows WHERE lower(name) = lower($1)"
	" ORDER BY created_at, id LIMIT 1";

static const char SQL_RUN_BY_KEY[] =
	"SELECT id::text AS id FROM workflow_runs WHERE idem_key = $1";

/* Texts are cut at 64 KiB here: 200 runs of 1 MiB inputs would make a
 * list no client wants (the whole output is in the run's own answer). */
static const char SQL_RUNS[] =
	"SELECT id::text AS id, workflow_name, state,"
	" jsonb_array_length(step_results_json) AS steps_completed,"
	" left(input, 65536) AS input, left(output, 65536) AS output,"
	" left(error, 65536) AS error, takeovers AS resumed,"
	" " WF_TS("started_at") " AS started_at,"
	" " WF_TS("completed_at") " AS completed_at"
	" FROM workflow_runs WHERE workflow_id = $1"
	" ORDER BY started_at DESC, id LIMIT 200";

/* params.id as a lowercase workflow id: 0, or -1 after a 400. */
static int
param_id(const struct msg_req *rq, struct svc_reply *rp, json_t *alt,
    char id[UTIL_UUID_LEN])
{
	const char	*s = json_string_value(json_object_get(rq->mr_params,
			    PARAM_ID));

	if (s == NULL)
		s = json_string_value(alt);
	if (svc_uuid_lower(s, id) != 0) {
		svc_reply_error(rp, 400, "Invalid workflow ID");
		return (-1);
	}
	return (0);
}

static void
op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t	*list;

	(void)rq;
	if ((list = svc_rows(c, SQL_LIST, 0, NULL, NULL, rp)) != NULL)
		svc_reply_json(rp, 200, list);
}

/*
 * The body made a definition whose agents exist: new, or NULL after a
 * reply (400 with the reason, 503 when agent-runtime cannot say).
 */
static json_t *
checked_def(const struct msg_req *rq, struct svc_reply *rp)
{
	json_t	*def, *agents;
	char	 err[1024];

	if ((def = wf_def_parse(rq->mr_body, err, sizeof(err))) == NULL) {
		svc_reply_error(rp, 400, "%s", err);
		return (NULL);
	}
	if ((agents = wf_agents_list(err, sizeof(err))) == NULL) {
		json_decref(def);
		svc_reply_error(rp, 503, "%s", err);
		return (NULL);
	}
	if (wf_def_check_agents(def, agents, err, sizeof(err)) != 0) {
		json_decref(agents);
		json_decref(def);
		svc_reply_error(rp, 400, "%s", err);
		return (NULL);
	}
	json_decref(agents);
	return (def);
}

static void
op_create(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*def;
	char		 id[UTIL_UUID_LEN], *text = NULL;
	const char	*p[4];

	if ((def = checked_def(rq, rp)) == NULL)
		return;
	util_uuid4(id);
	if ((text = json_dumps(def, MSG_JSON_FLAGS)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	p[0] = id;
	p[1] = json_string_value(json_object_get(def, "name"));
	p[2] = json_string_value(json_object_get(def, "description"));
	p[3] = text;
	/* The workflow and its audit entry commit together. */
	if (sched_tx_begin(c->sc_db) != 0 ||
	    db_cmd(c->sc_db, SQL_INSERT, 4, p) != 0 ||
	    sched_tx_commit(c->sc_db, NULL, "%s: workflow '%s' (%s)",
	    rq->mr_op, p[1], id) != 0) {
		sched_tx_rollback(c->sc_db);
		svc_reply_db_error(rp, c);
		goto done;
	}
	log_info("workflow %s '%s' created (%zu steps)", id, p[1],
	    json_array_size(json_object_get(def, "steps")));
	svc_reply_json(rp, 201, json_pack("{s:s}", "workflow_id", id));
 done:
	free(text);
	json_decref(def);
}

/* The workflow row {id, def_json, created_at} (new), or NULL after a
 * 404 or 503. */
static json_t *
fetch(struct svc_ctx *c, const char *id, struct svc_reply *rp)
{
	const char	*p[1] = { id };
	json_t		*row;
	int		 err;

	if ((row = db_one_json(db_exec(c->sc_db, SQL_GET, 1, p),
	    &err)) != NULL)
		return (row);
	if (err == SH_ENOTFOUND)
		svc_reply_error(rp, 404, "Workflow not found");
	else
		svc_reply_db_error(rp, c);
	return (NULL);
}

static void
op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char	 id[UTIL_UUID_LEN];
	json_t	*row;

	if (param_id(rq, rp, NULL, id) != 0 || (row = fetch(c, id,
	    rp)) == NULL)
		return;
	svc_reply_json(rp, 200, wf_def_view(id, json_object_get(row,
	    "def_json"), json_string_value(json_object_get(row,
	    "created_at"))));
	json_decref(row);
}

static void
op_update(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], *text = NULL;
	const char	*p[4];
	json_t		*def, *row;
	int		 err;

	if (param_id(rq, rp, NULL, id) != 0 ||
	    (def = checked_def(rq, rp)) == NULL)
		return;
	if ((text = json_dumps(def, MSG_JSON_FLAGS)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	p[0] = id;
	p[1] = json_string_value(json_object_get(def, "name"));
	p[2] = json_string_value(json_object_get(def, "description"));
	p[3] = text;
	if (sched_tx_begin(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if ((row = db_one_json(db_exec(c->sc_db, SQL_UPDATE, 4, p),
	    &err)) == NULL) {
		sched_tx_rollback(c->sc_db);
		if (err == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "Workflow not found");
		else
			svc_reply_db_error(rp, c);
		goto done;
	}
	if (sched_tx_commit(c->sc_db, NULL, "%s: workflow '%s' (%s)",
	    rq->mr_op, p[1], id) != 0) {
		json_decref(row);
		svc_reply_db_error(rp, c);
		goto done;
	}
	/* Runs already started keep the definition they copied. */
	svc_reply_json(rp, 200, wf_def_view(id, def,
	    json_string_value(json_object_get(row, "created_at"))));
	json_decref(row);
 done:
	free(text);
	json_decref(def);
}

static void
op_delete(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1] = { id };
	json_t		*row;
	int		 err, rv;

	if (param_id(rq, rp, NULL, id) != 0)
		return;
	if (sched_tx_begin(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	if ((row = db_one_json(db_exec(c->sc_db, SQL_DELETE, 1, p),
	    &err)) == NULL) {
		sched_tx_rollback(c->sc_db);
		if (err == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "Workflow not found");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	rv = sched_tx_commit(c->sc_db, NULL, "%s: workflow '%s' (%s)",
	    rq->mr_op, json_string_value(json_object_get(row, "name")), id);
	json_decref(row);
	if (rv != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	/* Its runs stay (history); those still running finish. */
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "deleted",
	    "workflow_id", id));
}

/*
 * The workflow a run names: params.id (HTTP), or body.workflow_id, which
 * a trigger may give as a name (kernel.md 2.2: case-insensitive, the
 * oldest of that name).  0, or -1 after a reply.
 */
static int
by_name(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp,
    char id[UTIL_UUID_LEN])
{
	json_t		*w = json_object_get(rq->mr_body, "workflow_id"), *row;
	const char	*name = json_string_value(w);
	int		 err;

	if (json_object_get(rq->mr_params, PARAM_ID) != NULL ||
	    name == NULL || util_uuid_valid(name))
		return (param_id(rq, rp, w, id));
	if (*name == '\0' || strlen(name) > WF_MAX_NAME) {
		svc_reply_error(rp, 400, "workflow_id must be a workflow's id "
		    "or name");
		return (-1);
	}
	if ((row = db_one_json(db_exec(c->sc_db, SQL_BY_NAME, 1, &name),
	    &err)) == NULL) {
		if (err == SH_ENOTFOUND)
			svc_reply_not_found(rp, "Workflow", name);
		else
			svc_reply_db_error(rp, c);
		return (-1);
	}
	snprintf(id, UTIL_UUID_LEN, "%s", json_string_value(
	    json_object_get(row, "id")));
	json_decref(row);
	return (0);
}

/*
 * Who starts a run by hand (over HTTP, or any caller but the scheduler's
 * own fires): its principal, or "caller"; such a run is audited.  NULL
 * for a schedule's or a trigger's run: that is recorded as the fire
 * (job_fires, trigger_fires).
 */
static const char *
by_hand(const struct msg_req *rq)
{
	const char	*who = json_string_value(json_object_get(rq->mr_caller,
			    "principal"));

	if (who == NULL)
		return ("caller");
	if (strcmp(who, "cron") == 0 || strcmp(who, "trigger") == 0)
		return (NULL);
	return (who);
}

/* ?wait= / body.wait: 1 (the default) or 0. */
static int
wants_wait(const struct msg_req *rq)
{
	const char	*q = json_string_value(json_object_get(rq->mr_query,
			    "wait"));
	json_t		*b = json_object_get(rq->mr_body, "wait");

	if (q != NULL)
		return (strcmp(q, "false") != 0 && strcmp(q, "0") != 0);
	if (json_is_boolean(b))
		return (json_is_true(b));
	return (1);
}

static void
op_run(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct svc_pending	*sp;
	json_t			*body = rq->mr_body, *in, *row;
	const char		*key = NULL, *p[8], *hand = by_hand(rq);
	char			 id[UTIL_UUID_LEN], run[UTIL_UUID_LEN],
				 lease[16], dtotal[24], depth[16], *input =
				 NULL;
	int64_t			 deadline;
	int			 err, wait, unique;
	json_t			*v;

	if (!json_is_null(body) && !json_is_object(body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return;
	}
	if (by_name(c, rq, rp, id) != 0)
		return;
	in = json_object_get(body, "input");
	if (json_is_string(in))
		input = strdup(json_string_value(in));
	else if (json_is_object(in))
		input = json_dumps(in, MSG_JSON_FLAGS);
	else
		input = strdup("");
	if (input == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	if (strlen(input) > WF_MAX_INPUT) {
		svc_reply_error(rp, 400, "input is too large (at most %d "
		    "bytes)", WF_MAX_INPUT);
		goto done;
	}
	v = json_object_get(body, "idempotency_key");
	if (v != NULL && (!json_is_string(v) || *json_string_value(v) ==
	    '\0' || strlen(json_string_value(v)) > WF_MAX_IDEM_KEY)) {
		svc_reply_error(rp, 400, "idempotency_key must be a string of "
		    "1 to %d bytes", WF_MAX_IDEM_KEY);
		goto done;
	}
	key = json_string_value(v);
	/* A trigger's workflow action carries its chain's event_depth. */
	v = json_object_get(rq->mr_caller, "event_depth");
	util_uuid4(run);
	snprintf(lease, sizeof(lease), "%lld", wf_lease_secs());
	snprintf(dtotal, sizeof(dtotal), "%lld", wf_default_total());
	snprintf(depth, sizeof(depth), "%d", json_is_integer(v) &&
	    json_integer_value(v) >= 0 && json_integer_value(v) < 1000 ?
	    (int)json_integer_value(v) : 0);
	p[0] = run;
	p[1] = id;
	p[2] = input;
	p[3] = sched.s_replica;
	p[4] = lease;
	p[5] = dtotal;
	p[6] = depth;
	p[7] = key;
	if (hand != NULL && sched_tx_begin(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if ((row = db_one_json(db_exec(c->sc_db, SQL_RUN_INSERT, 8, p),
	    &err)) == NULL) {
		unique = strcmp(db_sqlstate(c->sc_db), SQLSTATE_UNIQUE) == 0;
		if (hand != NULL)
			sched_tx_rollback(c->sc_db);
		if (err == SH_ENOTFOUND) {
			svc_reply_error(rp, 404, "Workflow not found");
			goto done;
		}
		/* The same key asked before: that run is the answer (and
		 * its entry is the first request's). */
		if (key == NULL || !unique ||
		    (row = db_one_json(db_exec(c->sc_db, SQL_RUN_BY_KEY, 1,
		    &key), &err)) == NULL) {
			svc_reply_db_error(rp, c);
			goto done;
		}
		snprintf(run, sizeof(run), "%s", json_string_value(
		    json_object_get(row, "id")));
	} else if (hand != NULL && sched_tx_commit(c->sc_db, NULL, "%s: "
	    "workflow '%s' (%s) run %s started by %.64s", rq->mr_op,
	    json_string_value(json_object_get(row, "workflow_name")), id, run,
	    hand) != 0) {
		json_decref(row);
		svc_reply_db_error(rp, c);
		goto done;
	}
	json_decref(row);
	wait = wants_wait(rq);
	if (!wait) {
		if (wf_run_submit(run, NULL, 0) != 0)
			log_info("workflow run %s: left for another replica "
			    "(stopping)", run);
		svc_reply_json(rp, 202, json_pack("{s:s, s:s}", "run_id", run,
		    "status", "pending"));
		goto done;
	}
	/* Answer a second before the caller stops waiting. */
	deadline = rq->mr_deadline > 0 ? rq->mr_deadline - 1000 :
	    util_wall_ms() + 600000;
	if ((sp = svc_defer(rq, rp)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	if (wf_run_submit(run, sp, deadline) != 0)
		svc_pending_reply(sp, 202, json_pack("{s:s, s:s, s:s}",
		    "run_id", run, "status", "pending", "message",
		    "this scheduler replica is stopping; another will run "
		    "it"));
 done:
	free(input);
}

static const char *const run_states[][2] = {
	{ "pending", "Pending" }, { "running", "Running" },
	{ "completed", "Completed" }, { "failed", "Failed" },
	{ "cancelled", "Cancelled" },
};

static void
op_runs(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1] = { id }, *st;
	PGresult	*res;
	json_t		*list, *row;
	size_t		 k;
	int		 i;

	if (param_id(rq, rp, NULL, id) != 0)
		return;
	if ((res = db_exec(c->sc_db, SQL_RUNS, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		/* No runs: 404 only when there is no such workflow. */
		if ((row = fetch(c, id, rp)) != NULL) {
			json_decref(row);
			svc_reply_json(rp, 200, json_array());
		}
		return;
	}
	list = json_array();
	for (i = 0; i < PQntuples(res); i++) {
		if ((row = db_row_json(res, i)) != NULL &&
		    (st = json_string_value(json_object_get(row,
		    "state"))) != NULL)
			/* The reference's runs list names states as the
			 * enum does ("Completed"). */
			for (k = 0; k < sizeof(run_states) /
			    sizeof(run_states[0]); k++)
				if (strcmp(st, run_states[k][0]) == 0) {
					/* st is freed by the set. */
					json_object_set_new(row, "state",
					    json_string(run_states[k][1]));
					break;
				}
		svc_list_add(&list, row);
	}
	PQclear(res);
	svc_reply_json(rp, 200, list);
}

const struct svc_op wf_ops[] = {
	{ OP_WORKFLOWS_LIST,	op_list },
	{ OP_WORKFLOWS_CREATE,	op_create },
	{ OP_WORKFLOWS_GET,	op_get },
	{ OP_WORKFLOWS_UPDATE,	op_update },
	{ OP_WORKFLOWS_DELETE,	op_delete },
	{ OP_WORKFLOWS_RUN,	op_run },
	{ OP_WORKFLOWS_RUNS,	op_runs },
	{ NULL,			NULL }
};
