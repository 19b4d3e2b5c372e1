/*
 * task/task.c - tasks.* (task/task.h): post, claim, complete, get, list,
 * status counts, cancel and retry.
 *
 * A task is {id, title, description, status, priority, assigned_to,
 * created_by, result, retry_count, created_at, claimed_at, completed_at,
 * finished_at}; assigned_to "" is anyone's.  Transitions (notes 4.2):
 * post -> pending; claim pending -> in_progress; complete in_progress ->
 * completed; cancel anything but completed or cancelled -> cancelled;
 * retry completed or failed -> pending; the sweeper in_progress ->
 * pending or failed.  Each is one conditional UPDATE, so a transition
 * that lost a race answers 409 instead of overwriting the winner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/sched.h"
#include "db.h"
#include "err.h"
#include "goal/goal.h"
#include "log.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "svc.h"
#include "task/task.h"
#include "util.h"

#define TASK_TITLE_MAX		256	/* characters */
#define TASK_DESC_MAX		16384
#define TASK_WHO_MAX		256	/* assigned_to, created_by, names */
#define TASK_RESULT_MAX		65536
#define TASK_LIST_MAX		1000
#define TASK_PRIORITY_MAX	1000	/* either way */

#define TASK_COLS							\
	"id, title, description, status, priority, assigned_to, "	\
	"created_by, result, retry_count, " GOAL_TS("created_at") ", "	\
	GOAL_TS("claimed_at") ", " GOAL_TS("completed_at") ", "		\
	GOAL_TS("finished_at")

static const char SQL_POST[] =
	"INSERT INTO tasks (id, title, description, assigned_to, created_by, "
	"    priority) "
	"VALUES ($1::uuid, $2, $3, coalesce($4, ''), coalesce($5, ''), "
	"    coalesce($6::integer, 0)) RETURNING " TASK_COLS;
/*
 * The claim: the subquery picks and locks one row other claimers are not
 * holding; the outer condition is the compare-and-set.
 */
static const char SQL_CLAIM[] =
	"UPDATE tasks SET status = 'in_progress', assigned_to = $1, "
	"    claimed_at = clock_timestamp() "
	"WHERE id = (SELECT id FROM tasks WHERE status = 'pending' "
	"    AND assigned_to IN ($1, coalesce($2, $1), '') "
	"    ORDER BY priority DESC, created_at, id "
	"    LIMIT 1 FOR UPDATE SKIP LOCKED) "
	"  AND status = 'pending' RETURNING " TASK_COLS;
static const char SQL_COMPLETE[] =
	"UPDATE tasks SET status = 'completed', result = $2, "
	"    completed_at = clock_timestamp(), finished_at = clock_timestamp() "
	"WHERE id = $1::uuid AND status = 'in_progress' "
	"  AND ($3::text IS NULL OR assigned_to IN ($3, coalesce($4, $3))) "
	"RETURNING " TASK_COLS;
static const char SQL_GET[] =
	"SELECT " TASK_COLS " FROM tasks WHERE id = $1::uuid";
static const char SQL_STATUS_OF[] =
	"SELECT status, assigned_to FROM tasks WHERE id = $1::uuid";
/* $1 status, $2 assignee (svc_page()), $3 limit, $4 offset. */
#define TASK_WHERE							\
	"WHERE ($1::text IS NULL OR status = $1) "			\
	"  AND ($2::text IS NULL OR assigned_to = $2) "
static const char SQL_LIST[] =
	"SELECT " TASK_COLS " FROM tasks " TASK_WHERE
	"ORDER BY created_at DESC, id LIMIT $3::bigint OFFSET $4::bigint";
static const char SQL_COUNT[] =
	"SELECT count(*) FROM tasks " TASK_WHERE;
static const char SQL_COUNTS[] =
	"SELECT count(*), "
	"    count(*) FILTER (WHERE status = 'pending'), "
	"    count(*) FILTER (WHERE status = 'in_progress'), "
	"    count(*) FILTER (WHERE status = 'completed'), "
	"    count(*) FILTER (WHERE status = 'failed') FROM tasks";
static const char SQL_CANCEL[] =
	"UPDATE tasks SET status = 'cancelled', "
	"    finished_at = clock_timestamp() "
	"WHERE id = $1::uuid AND status NOT IN ('completed', 'cancelled') "
	"RETURNING title";
static const char SQL_RETRY[] =
	"UPDATE tasks SET status = 'pending', result = NULL, "
	"    claimed_at = NULL, completed_at = NULL, finished_at = NULL "
	"WHERE id = $1::uuid AND status IN ('completed', 'failed') "
	"RETURNING title";

static const char *const task_post_fields[] = {
	"title", "description", "assigned_to", "created_by", "priority", NULL
};
static const char *const task_claim_fields[] = {
	"agent_id", "agent_name", NULL
};
static const char *const task_complete_fields[] = {
	"result", "agent_id", "agent_name", NULL
};

static int
task_status_ok(const char *s)
{
	return (strcmp(s, "pending") == 0 || strcmp(s, "in_progress") == 0 ||
	    strcmp(s, "completed") == 0 || strcmp(s, "failed") == 0 ||
	    strcmp(s, "cancelled") == 0);
}

/* The trigger chain the caller continues (caller event_depth: a tool in
 * a triggered turn), for the events this request causes. */
static int
task_depth(const struct msg_req *rq)
{
	json_int_t	d;

	d = json_integer_value(json_object_get(rq->mr_caller, "event_depth"));
	return (d > 0 && d < 1000 ? (int)d : 0);
}

/*
 * Publishes System <variant> about task row: data is {event, task_id,
 * <fields of row named in keys>}, where an empty assignee or creator is
 * left out (notes 2.1: they are optional).  who (borrowed) is the agent
 * the event is about, or NULL.
 */
static void
task_event(const char *variant, json_t *row, const char *const *keys,
    const char *who, int depth)
{
	json_t		*data, *ev, *v;
	const char	*s;

	if ((data = json_pack("{s:s, s:O}", "event", variant, "task_id",
	    json_object_get(row, "id"))) == NULL)
		return;
	for (; *keys != NULL; keys++) {
		v = json_object_get(row, *keys);
		if (v == NULL || json_is_null(v) ||
		    ((s = json_string_value(v)) != NULL && *s == '\0' &&
		    strcmp(*keys, "result") != 0))
			continue;
		json_object_set(data, *keys, v);
	}
	if (who == NULL || !util_uuid_valid(who))
		who = "";
	if ((ev = msg_event(who, "System", data, depth)) == NULL)
		return;
	sched_publish(TOPIC_EVENTS, ev);
	json_decref(ev);
}

static void
task_op_post(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const ev_keys[] = {
		"title", "assigned_to", "created_by", NULL
	};
	char		 id[UTIL_UUID_LEN], prio[16];
	const char	*p[6], *title, *desc, *to, *by;
	json_t		*body, *v, *row;
	int		 err;

	if ((body = goal_body(rq, task_post_fields, rp)) == NULL ||
	    goal_text(body, "title", 1, TASK_TITLE_MAX, &title, rp) != 0 ||
	    goal_text(body, "assigned_to", 0, TASK_WHO_MAX, &to, rp) != 0 ||
	    goal_text(body, "created_by", 0, TASK_WHO_MAX, &by, rp) != 0)
		return;
	/* Required, but may be empty (notes 4.2). */
	if (!json_is_string(json_object_get(body, "description"))) {
		svc_reply_error(rp, 400, "'description' is required (a "
		    "string, may be empty)");
		return;
	}
	if (goal_text(body, "description", 0, TASK_DESC_MAX, &desc, rp) != 0)
		return;
	p[5] = NULL;
	if ((v = json_object_get(body, "priority")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) <
		    -TASK_PRIORITY_MAX || json_integer_value(v) >
		    TASK_PRIORITY_MAX) {
			svc_reply_error(rp, 400, "'priority' must be an "
			    "integer in %d..%d", -TASK_PRIORITY_MAX,
			    TASK_PRIORITY_MAX);
			return;
		}
		snprintf(prio, sizeof(prio), "%d", (int)json_integer_value(v));
		p[5] = prio;
	}
	util_uuid4(id);
	p[0] = id;
	p[1] = title;
	p[2] = desc;
	p[3] = to;
	p[4] = by;
	if ((row = db_one_json(db_exec(c->sc_db, SQL_POST, 6, p), &err)) ==
	    NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	task_event("TaskPosted", row, ev_keys, by, task_depth(rq));
	json_decref(row);
	svc_reply_json(rp, 201, json_pack("{s:s, s:s}", "id", id, "status",
	    "pending"));
}

/* body.agent_id (a UUID, lowercased into buf) and body.agent_name
 * (optional text, borrowed): 0, or -1 after a 400.  required: agent_id
 * must be there. */
static int
task_agent(json_t *body, int required, char buf[UTIL_UUID_LEN],
    const char **idp, const char **namep, struct svc_reply *rp)
{
	const char	*id;

	*idp = NULL;
	if (goal_text(body, "agent_name", 0, TASK_WHO_MAX, namep, rp) != 0)
		return (-1);
	id = json_string_value(json_object_get(body, "agent_id"));
	if (id == NULL && !required &&
	    json_object_get(body, "agent_id") == NULL)
		return (0);
	/* assigned_to compares text: one spelling of each id. */
	if (svc_uuid_lower(id, buf) != 0) {
		svc_reply_error(rp, 400, "'agent_id' must be an agent's UUID");
		return (-1);
	}
	*idp = buf;
	return (0);
}

static void
task_op_claim(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const ev_keys[] = {
		"claimed_by", "created_by", NULL
	};
	char		 abuf[UTIL_UUID_LEN];
	const char	*p[2], *aid, *name;
	json_t		*body, *row;
	int		 err;

	if ((body = goal_body(rq, task_claim_fields, rp)) == NULL ||
	    task_agent(body, 1, abuf, &aid, &name, rp) != 0)
		return;
	p[0] = aid;
	p[1] = name;
	row = db_one_json(db_exec(c->sc_db, SQL_CLAIM, 2, p), &err);
	if (row == NULL && err == SH_ENOTFOUND) {
		svc_reply_json(rp, 200, json_pack("{s:n}", "task"));
		return;
	}
	if (row == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	log_debug("%s: agent '%s' claimed task '%s'", __func__, aid,
	    json_string_value(json_object_get(row, "id")));
	json_object_set_new(row, "claimed_by", json_string(aid));
	task_event("TaskClaimed", row, ev_keys, aid, task_depth(rq));
	json_object_del(row, "claimed_by");
	svc_reply_json(rp, 200, json_pack("{s:o}", "task", row));
}

/*
 * A conditional update of task id matched no row: 404 when there is no
 * such task, else 409 naming its status.
 */
static void
task_conflict(struct svc_ctx *c, const char *id, const char *what,
    struct svc_reply *rp)
{
	const char	*p[1];
	PGresult	*res;

	p[0] = id;
	if ((res = db_exec(c->sc_db, SQL_STATUS_OF, 1, p)) == NULL)
		svc_reply_db_error(rp, c);
	else if (PQntuples(res) == 0)
		svc_reply_error(rp, 404, "Task '%s' not found", id);
	else
		svc_reply_error(rp, 409, "Task '%s' is %s and cannot be %s",
		    id, PQgetvalue(res, 0, 0), what);
	PQclear(res);
}

static void
task_op_complete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const ev_keys[] = {
		"completed_by", "result", "created_by", NULL
	};
	char		 id[UTIL_UUID_LEN], abuf[UTIL_UUID_LEN];
	const char	*p[4], *aid, *name, *result;
	json_t		*body, *row;
	int		 err;

	if (svc_param_uuid(rq, PARAM_ID, "task ID", id, rp) != 0 ||
	    (body = goal_body(rq, task_complete_fields, rp)) == NULL ||
	    task_agent(body, 0, abuf, &aid, &name, rp) != 0 ||
	    goal_text(body, "result", 0, TASK_RESULT_MAX, &result, rp) != 0)
		return;
	if (result == NULL) {
		svc_reply_error(rp, 400, "'result' is required");
		return;
	}
	p[0] = id;
	p[1] = result;
	p[2] = aid;
	p[3] = name;
	row = db_one_json(db_exec(c->sc_db, SQL_COMPLETE, 4, p), &err);
	if (row == NULL && err == SH_ENOTFOUND) {
		task_conflict(c, id, aid != NULL ? "completed by this agent" :
		    "completed", rp);
		return;
	}
	if (row == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	json_object_set_new(row, "completed_by", json_string(aid != NULL ?
	    aid : json_string_value(json_object_get(row, "assigned_to"))));
	task_event("TaskCompleted", row, ev_keys, aid, task_depth(rq));
	json_object_del(row, "completed_by");
	svc_reply_json(rp, 200, row);
}

static void
task_op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	goal_reply_row(c, rq, rp, SQL_GET, "task ID", "Task");
}

static void
task_op_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct svc_page	 pg = { .pg_count = SQL_COUNT, .pg_list = SQL_LIST,
			    .pg_n = 2 };
	const char	*status, *to;
	long long	 total;
	json_t		*items;

	if (goal_query_num(rq, "limit", 1, TASK_LIST_MAX, 100, &pg.pg_limit,
	    rp) != 0 || goal_query_num(rq, "offset", 0, 1000000000LL, 0,
	    &pg.pg_offset, rp) != 0)
		return;
	status = json_string_value(json_object_get(rq->mr_query, "status"));
	if (status != NULL && !task_status_ok(status)) {
		svc_reply_error(rp, 400, "'status' must be one of pending, "
		    "in_progress, completed, failed, cancelled");
		return;
	}
	to = json_string_value(json_object_get(rq->mr_query, "assigned_to"));
	if (to != NULL && strlen(to) > TASK_WHO_MAX) {
		svc_reply_error(rp, 400, "'assigned_to' must be at most %d "
		    "bytes", TASK_WHO_MAX);
		return;
	}
	pg.pg_filters[0] = status;
	pg.pg_filters[1] = to;
	if ((items = svc_page(c, &pg, &total, rp)) != NULL)
		svc_reply_json(rp, 200, json_pack("{s:o, s:I}", "tasks",
		    items, "total", (json_int_t)total));
}

static void
task_op_status(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_COUNTS, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:I, s:I, s:I, s:I, s:I}",
	    "total", (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10),
	    "pending", (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10),
	    "in_progress", (json_int_t)strtoll(PQgetvalue(res, 0, 2), NULL,
	    10),
	    "completed", (json_int_t)strtoll(PQgetvalue(res, 0, 3), NULL, 10),
	    "failed", (json_int_t)strtoll(PQgetvalue(res, 0, 4), NULL, 10)));
	PQclear(res);
}

/* Runs sql ($1 the task id of params.id); a row is success, none a 404
 * or 409 from task_conflict(). */
static int
task_transition(struct svc_ctx *c, const struct msg_req *rq,
    const char *sql, const char *what, char id[UTIL_UUID_LEN],
    struct svc_reply *rp)
{
	const char	*p[1];
	PGresult	*res;
	int		 n;

	if (svc_param_uuid(rq, PARAM_ID, "task ID", id, rp) != 0)
		return (-1);
	p[0] = id;
	/* An operator overriding the board is audited, in the change's
	 * transaction (README.md, "Audit"); a refused one leaves none. */
	if (sched_tx_begin(c->sc_db) != 0 ||
	    (res = db_exec(c->sc_db, sql, 1, p)) == NULL) {
		sched_tx_rollback(c->sc_db);
		svc_reply_db_error(rp, c);
		return (-1);
	}
	if ((n = PQntuples(res)) == 0) {
		PQclear(res);
		sched_tx_rollback(c->sc_db);
		task_conflict(c, id, what, rp);
		return (-1);
	}
	n = sched_tx_commit(c->sc_db, NULL, "%s: task '%.200s' (%s) %s",
	    rq->mr_op, PQgetvalue(res, 0, 0), id, what);
	PQclear(res);
	if (n != 0) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	return (0);
}

static void
task_op_cancel(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char	id[UTIL_UUID_LEN];

	if (task_transition(c, rq, SQL_CANCEL, "cancelled", id, rp) == 0)
		svc_reply_json(rp, 204, json_null());
}

static void
task_op_retry(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char	id[UTIL_UUID_LEN];

	if (task_transition(c, rq, SQL_RETRY, "retried", id, rp) == 0)
		svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status",
		    "retried", "id", id));
}

const struct svc_op task_ops[] = {
	{ OP_TASKS_POST,	task_op_post },
	{ OP_TASKS_CLAIM,	task_op_claim },
	{ OP_TASKS_COMPLETE,	task_op_complete },
	{ OP_TASKS_GET,		task_op_get },
	{ OP_TASKS_LIST,	task_op_list },
	{ OP_TASKS_STATUS,	task_op_status },
	{ OP_TASKS_CANCEL,	task_op_cancel },
	{ OP_TASKS_RETRY,	task_op_retry },
	{ NULL,			NULL }
};
