/*
 * goal/goal.c - goals.* (goal/goal.h): list, create, get, update, delete,
 * children and the static templates.
 *
 * A goal is {id, title, description, parent_id, status, progress,
 * agent_id, due_at, created_at, updated_at}.  An empty parent_id or
 * agent_id string is taken as absent (notes 4.1); on update, null or ""
 * clears it.  An agent_id must name an agent agent-runtime knows (asked
 * over the bus: the scheduler never reads its tables).
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
#include "util.h"

#define GOAL_TITLE_MAX		256	/* characters */
#define GOAL_DESC_MAX		4096
#define GOAL_LIST_MAX		1000	/* ?limit= */
#define GOAL_ALL_MAX		10000	/* rows of one unpaged answer */
#define GOAL_AGENT_MS		5000	/* agents.get, at most */

#define GOAL_COLS							\
	"id, title, description, parent_id, status, progress, agent_id, " \
	GOAL_TS("due_at") ", " GOAL_TS("created_at") ", "		\
	GOAL_TS("updated_at")

/* The fields an update may change, one bit each, in the order of
 * SQL_UPDATE's parameters $3.. */
enum {
	GF_TITLE, GF_DESC, GF_STATUS, GF_PROGRESS, GF_PARENT, GF_AGENT,
	GF_DUE, GF_N
};

static const char *const goal_fields[] = {
	"title", "description", "status", "progress", "parent_id",
	"agent_id", "due_at", NULL
};

/* $1 status, $2 agent (svc_page()), $3 limit, $4 offset. */
#define GOAL_WHERE							\
	"WHERE ($1::text IS NULL OR status = $1) "			\
	"  AND ($2::uuid IS NULL OR agent_id = $2::uuid) "
static const char SQL_LIST[] =
	"SELECT " GOAL_COLS " FROM goals " GOAL_WHERE
	"ORDER BY created_at, id LIMIT $3::bigint OFFSET $4::bigint";
static const char SQL_COUNT[] =
	"SELECT count(*) FROM goals " GOAL_WHERE;
static const char SQL_CREATE[] =
	"INSERT INTO goals (id, title, description, status, progress, "
	"    parent_id, agent_id, due_at) "
	"VALUES ($1::uuid, $2, coalesce($3, ''), coalesce($4, 'pending'), "
	"    coalesce($5::integer, 0), $6::uuid, $7::uuid, $8::timestamptz) "
	"RETURNING " GOAL_COLS;
static const char SQL_GET[] =
	"SELECT " GOAL_COLS " FROM goals WHERE id = $1::uuid";
static const char SQL_EXISTS[] =
	"SELECT 1 FROM goals WHERE id = $1::uuid";
/* $2 is the mask of fields set (1 << GF_*). */
static const char SQL_UPDATE[] =
	"UPDATE goals SET "
	"  title = CASE WHEN $2::int & 1 <> 0 THEN $3 ELSE title END, "
	"  description = CASE WHEN $2::int & 2 <> 0 THEN $4 "
	"      ELSE description END, "
	"  status = CASE WHEN $2::int & 4 <> 0 THEN $5 ELSE status END, "
	"  progress = CASE WHEN $2::int & 8 <> 0 THEN $6::integer "
	"      ELSE progress END, "
	"  parent_id = CASE WHEN $2::int & 16 <> 0 THEN $7::uuid "
	"      ELSE parent_id END, "
	"  agent_id = CASE WHEN $2::int & 32 <> 0 THEN $8::uuid "
	"      ELSE agent_id END, "
	"  due_at = CASE WHEN $2::int & 64 <> 0 THEN $9::timestamptz "
	"      ELSE due_at END, "
	"  updated_at = clock_timestamp() "
	"WHERE id = $1::uuid RETURNING " GOAL_COLS;
/*
 * Whether $1 is among the ancestors of $2 or $2 itself (then making $2
 * the parent of $1 closes a cycle), and whether $2 exists.  UNION, not
 * UNION ALL: a cycle already in the table could not loop the walk.
 */
static const char SQL_CYCLE[] =
	"WITH RECURSIVE up(id) AS ("
	"  SELECT $2::uuid "
	"  UNION SELECT g.parent_id FROM goals g JOIN up ON g.id = up.id "
	"    WHERE g.parent_id IS NOT NULL) "
	"SELECT EXISTS (SELECT 1 FROM up WHERE id = $1::uuid), "
	"    EXISTS (SELECT 1 FROM goals WHERE id = $2::uuid)";
/* Serialises changes of parent across replicas (any constant key; the
 * scheduler's other modules use their own). */
static const char SQL_TREE_LOCK[] =
	"SELECT pg_advisory_xact_lock(hashtext('scheduler.goals.tree'))";
static const char SQL_DELETE[] =
	"DELETE FROM goals WHERE id = $1::uuid RETURNING title, "
	"    agent_id::text";
static const char SQL_CHILDREN[] =
	"SELECT " GOAL_COLS " FROM goals WHERE parent_id = $1::uuid "
	"ORDER BY created_at, id LIMIT 10000";

/* The templates of GET /api/goals/templates: starting points a client
 * copies into POST /api/goals, parent first. */
static const char goal_templates[] =
	"[{\"id\": \"product-launch\", \"name\": \"Product launch\", "
	"\"category\": \"business\", "
	"\"description\": \"Take a product from plan to public release\", "
	"\"goals\": [{\"title\": \"Launch the product\", \"description\": "
	"\"Ship the release and announce it\", \"children\": ["
	"{\"title\": \"Freeze the feature list\", \"description\": \"\"}, "
	"{\"title\": \"Write the release notes\", \"description\": \"\"}, "
	"{\"title\": \"Prepare the announcement\", \"description\": \"\"}]}]}, "
	"{\"id\": \"research-report\", \"name\": \"Research report\", "
	"\"category\": \"research\", "
	"\"description\": \"Survey a topic and write up the findings\", "
	"\"goals\": [{\"title\": \"Publish the report\", \"description\": "
	"\"A sourced summary of the topic\", \"children\": ["
	"{\"title\": \"Collect sources\", \"description\": \"\"}, "
	"{\"title\": \"Summarise each source\", \"description\": \"\"}, "
	"{\"title\": \"Draft and review the report\", "
	"\"description\": \"\"}]}]}, "
	"{\"id\": \"bug-triage\", \"name\": \"Bug triage\", "
	"\"category\": \"engineering\", "
	"\"description\": \"Bring the open bug list under control\", "
	"\"goals\": [{\"title\": \"Triage the open bugs\", \"description\": "
	"\"Every open bug has an owner and a priority\", \"children\": ["
	"{\"title\": \"Reproduce the new reports\", \"description\": \"\"}, "
	"{\"title\": \"Close duplicates\", \"description\": \"\"}, "
	"{\"title\": \"Assign owners\", \"description\": \"\"}]}]}, "
	"{\"id\": \"daily-operations\", \"name\": \"Daily operations\", "
	"\"category\": \"operations\", "
	"\"description\": \"Keep recurring work moving\", "
	"\"goals\": [{\"title\": \"Run the daily checks\", \"description\": "
	"\"\", \"children\": ["
	"{\"title\": \"Review the inbox\", \"description\": \"\"}, "
	"{\"title\": \"Clear the task queue\", \"description\": \"\"}]}]}]";

int
goal_query_num(const struct msg_req *rq, const char *key, long long min,
    long long max, long long def, long long *out, struct svc_reply *rp)
{
	json_t	*v = json_object_get(rq->mr_query, key);

	*out = def;
	if (v == NULL)
		return (0);
	if (json_is_string(v) && util_strtonum(json_string_value(v), min,
	    max, out) == 0)
		return (0);
	svc_reply_error(rp, 400, "'%s' must be an integer in %lld..%lld", key,
	    min, max);
	return (-1);
}

void
goal_reply_row(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, const char *sql, const char *what, const char *noun)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1] = { id };
	json_t		*row;
	int		 err;

	if (svc_param_uuid(rq, PARAM_ID, what, id, rp) != 0)
		return;
	row = db_one_json(db_exec(c->sc_db, sql, 1, p), &err);
	if (row != NULL)
		svc_reply_json(rp, 200, row);
	else if (err == SH_ENOTFOUND)
		svc_reply_error(rp, 404, "%s '%s' not found", noun, id);
	else
		svc_reply_db_error(rp, c);
}

json_t *
goal_body(const struct msg_req *rq, const char *const *known,
    struct svc_reply *rp)
{
	const char		*k;
	const char *const	*kn;
	json_t			*v;

	if (!json_is_object(rq->mr_body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return (NULL);
	}
	json_object_foreach(rq->mr_body, k, v) {
		for (kn = known; *kn != NULL; kn++)
			if (strcmp(*kn, k) == 0)
				break;
		if (*kn == NULL) {
			svc_reply_error(rp, 400, "unknown field '%.100s'", k);
			return (NULL);
		}
	}
	return (rq->mr_body);
}

int
goal_text(json_t *body, const char *key, size_t min, size_t max,
    const char **out, struct svc_reply *rp)
{
	json_t			*v = json_object_get(body, key);
	const unsigned char	*s;
	size_t			 len, n = 0, i, step;

	*out = NULL;
	if ((v == NULL || json_is_null(v)) && min == 0)
		return (0);
	if (!json_is_string(v))
		goto bad;
	s = (const unsigned char *)json_string_value(v);
	len = json_string_length(v);
	if (strlen((const char *)s) != len)
		goto bad;		/* an embedded NUL */
	/* jansson has checked the UTF-8; this counts characters. */
	for (i = 0; i < len; i += step, n++)
		if ((step = util_utf8_len(s + i, len - i)) == 0)
			goto bad;
	if (n < min || n > max)
		goto bad;
	*out = (const char *)s;
	return (0);
 bad:
	if (min > 0)
		svc_reply_error(rp, 400, "'%s' must be a string of %zu to %zu "
		    "characters", key, min, max);
	else
		svc_reply_error(rp, 400, "'%s' must be a string of at most "
		    "%zu characters", key, max);
	return (-1);
}

/*
 * body[key] as a goal or agent reference: absent, null and "" give *set 1
 * with id[0] '\0' (none) when present, 0 when absent; a UUID is copied,
 * lowercased.  0, or -1 after a 400.
 */
static int
goal_ref(json_t *body, const char *key, char id[UTIL_UUID_LEN], int *set,
    struct svc_reply *rp)
{
	json_t		*v = json_object_get(body, key);
	const char	*s;

	id[0] = '\0';
	*set = v != NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if ((s = json_string_value(v)) != NULL && *s == '\0')
		return (0);
	if (svc_uuid_lower(s, id) != 0) {
		svc_reply_error(rp, 400, "'%s' must be a UUID", key);
		return (-1);
	}
	return (0);
}

static int
goal_status_ok(const char *s)
{
	return (strcmp(s, "pending") == 0 || strcmp(s, "in_progress") == 0 ||
	    strcmp(s, "completed") == 0 || strcmp(s, "cancelled") == 0);
}

/*
 * Reads the writable fields of body into vals[GF_*] (text for SQL,
 * borrowed from body or from the buffers given) and returns their mask,
 * or -1 after a 400.  The title is required when create is set.
 */
static int
goal_parse(json_t *body, int create, const char *vals[GF_N],
    char parent[UTIL_UUID_LEN], char agent[UTIL_UUID_LEN], char prog[16],
    struct svc_reply *rp)
{
	json_t		*v;
	const char	*s;
	int		 mask = 0, set;

	memset(vals, 0, sizeof(*vals) * GF_N);
	if (goal_text(body, "title", create ? 1 : 0, GOAL_TITLE_MAX,
	    &vals[GF_TITLE], rp) != 0)
		return (-1);
	/* On update a present title must not be empty either. */
	if (!create && json_object_get(body, "title") != NULL &&
	    goal_text(body, "title", 1, GOAL_TITLE_MAX, &vals[GF_TITLE],
	    rp) != 0)
		return (-1);
	if (goal_text(body, "description", 0, GOAL_DESC_MAX, &vals[GF_DESC],
	    rp) != 0)
		return (-1);
	if ((v = json_object_get(body, "status")) != NULL) {
		if ((s = json_string_value(v)) == NULL || !goal_status_ok(s)) {
			svc_reply_error(rp, 400, "'status' must be one of "
			    "pending, in_progress, completed, cancelled");
			return (-1);
		}
		vals[GF_STATUS] = s;
	}
	if ((v = json_object_get(body, "progress")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 100) {
			svc_reply_error(rp, 400, "'progress' must be an "
			    "integer in 0..100");
			return (-1);
		}
		snprintf(prog, 16, "%d", (int)json_integer_value(v));
		vals[GF_PROGRESS] = prog;
	}
	if (goal_ref(body, "parent_id", parent, &set, rp) != 0)
		return (-1);
	if (set)
		mask |= 1 << GF_PARENT;
	vals[GF_PARENT] = parent[0] != '\0' ? parent : NULL;
	if (goal_ref(body, "agent_id", agent, &set, rp) != 0)
		return (-1);
	if (set)
		mask |= 1 << GF_AGENT;
	vals[GF_AGENT] = agent[0] != '\0' ? agent : NULL;
	if ((v = json_object_get(body, "due_at")) != NULL) {
		mask |= 1 << GF_DUE;
		/* The shape here, the calendar to PostgreSQL (which would
		 * also take words such as "now"). */
		s = json_string_value(v);
		if (!json_is_null(v) && (s == NULL || strlen(s) < 10 ||
		    strlen(s) > 40 || s[4] != '-' || s[7] != '-' ||
		    strspn(s, "0123456789") != 4)) {
			svc_reply_error(rp, 400, "'due_at' must be an RFC "
			    "3339 time or null");
			return (-1);
		}
		vals[GF_DUE] = s;
	}
	if (vals[GF_TITLE] != NULL)
		mask |= 1 << GF_TITLE;
	if (vals[GF_DESC] != NULL)
		mask |= 1 << GF_DESC;
	if (vals[GF_STATUS] != NULL)
		mask |= 1 << GF_STATUS;
	if (vals[GF_PROGRESS] != NULL)
		mask |= 1 << GF_PROGRESS;
	return (mask);
}

/*
 * A goal's agent must exist: agent-runtime is asked (agents.get), within
 * the request's own deadline.  0, or -1 after a 404 (no such agent) or a
 * 503 (agent-runtime did not answer).
 */
static int
goal_agent_check(const struct msg_req *rq, const char *agent,
    struct svc_reply *rp)
{
	struct msg_rep	 rep;
	json_t		*req;
	int64_t		 left;
	int		 rv, status;

	left = rq->mr_deadline > 0 ? rq->mr_deadline - util_wall_ms() :
	    GOAL_AGENT_MS;
	if (left > GOAL_AGENT_MS)
		left = GOAL_AGENT_MS;
	if (left < 100)
		left = 100;
	if (sched.s_bus == NULL || (req = msg_request(OP_AGENTS_GET, NULL,
	    util_wall_ms() + left, json_pack("{s:s}", "principal",
	    "scheduler"), json_pack("{s:s}", PARAM_ID, agent), NULL,
	    NULL)) == NULL) {
		svc_reply_error(rp, 503, "could not ask agent-runtime about "
		    "agent '%s'", agent);
		return (-1);
	}
	rv = bus_call(sched.s_bus, SVC_AGENT_RUNTIME, req, (int)left, &rep);
	json_decref(req);
	if (rv != 0) {
		svc_reply_error(rp, 503, "agent-runtime did not answer about "
		    "agent '%s' (%s)", agent, sh_strerror(rv));
		return (-1);
	}
	status = rep.mp_status;
	msg_rep_release(&rep);
	if (status == 200)
		return (0);
	if (status == 404 || status == 400)
		svc_reply_error(rp, 404, "Agent '%s' not found", agent);
	else
		svc_reply_error(rp, 503, "agent-runtime answered %d about "
		    "agent '%s'", status, agent);
	return (-1);
}

/* A failed write: 404 for a missing parent, 400 for a time PostgreSQL
 * could not read, 503 otherwise. */
static void
goal_write_error(struct svc_ctx *c, struct svc_reply *rp, const char *parent)
{
	const char	*st = db_sqlstate(c->sc_db);

	if (strcmp(st, "23503") == 0)
		svc_reply_error(rp, 404, "Parent goal '%s' not found",
		    parent != NULL ? parent : "");
	else if (strncmp(st, "22", 2) == 0)
		svc_reply_error(rp, 400, "'due_at' must be an RFC 3339 time "
		    "or null");
	else
		svc_reply_db_error(rp, c);
}

static void
goal_op_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct svc_page	 pg = { .pg_count = SQL_COUNT, .pg_list = SQL_LIST,
			    .pg_n = 2 };
	const char	*status, *agent;
	long long	 total;
	json_t		*items, *jlimit;

	if (goal_query_num(rq, "limit", 1, GOAL_LIST_MAX, GOAL_ALL_MAX,
	    &pg.pg_limit, rp) != 0 || goal_query_num(rq, "offset", 0,
	    1000000000LL, 0, &pg.pg_offset, rp) != 0)
		return;
	status = json_string_value(json_object_get(rq->mr_query, "status"));
	agent = json_string_value(json_object_get(rq->mr_query, "agent_id"));
	if (status != NULL && !goal_status_ok(status)) {
		svc_reply_error(rp, 400, "'status' must be one of pending, "
		    "in_progress, completed, cancelled");
		return;
	}
	if (agent != NULL && !util_uuid_valid(agent)) {
		svc_reply_error(rp, 400, "Invalid agent ID");
		return;
	}
	pg.pg_filters[0] = status;
	pg.pg_filters[1] = agent;
	if ((items = svc_page(c, &pg, &total, rp)) == NULL)
		return;
	/* limit is null unless the caller paged (notes 4.1). */
	jlimit = json_object_get(rq->mr_query, "limit") != NULL ?
	    json_integer(pg.pg_limit) : json_null();
	svc_reply_json(rp, 200, json_pack("{s:o, s:I, s:I, s:o}", "items",
	    items, "total", (json_int_t)total, "offset",
	    (json_int_t)pg.pg_offset, "limit", jlimit));
}

static void
goal_op_create(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], parent[UTIL_UUID_LEN];
	char		 agent[UTIL_UUID_LEN], prog[16];
	const char	*vals[GF_N], *p[8];
	json_t		*body, *row;
	int		 err;

	if ((body = goal_body(rq, goal_fields, rp)) == NULL ||
	    goal_parse(body, 1, vals, parent, agent, prog, rp) < 0)
		return;
	if (vals[GF_AGENT] != NULL &&
	    goal_agent_check(rq, vals[GF_AGENT], rp) != 0)
		return;
	util_uuid4(id);
	p[0] = id;
	p[1] = vals[GF_TITLE];
	p[2] = vals[GF_DESC];
	p[3] = vals[GF_STATUS];
	p[4] = vals[GF_PROGRESS];
	p[5] = vals[GF_PARENT];
	p[6] = vals[GF_AGENT];
	p[7] = vals[GF_DUE];
	/* The goal and its audit entry commit together (core/sched.h). */
	if (sched_tx_begin(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	row = db_one_json(db_exec(c->sc_db, SQL_CREATE, 8, p), &err);
	if (row == NULL) {
		goal_write_error(c, rp, vals[GF_PARENT]);
		sched_tx_rollback(c->sc_db);
		return;
	}
	if (sched_tx_commit(c->sc_db, vals[GF_AGENT], "%s: goal '%s' (%s)",
	    rq->mr_op, vals[GF_TITLE], id) != 0) {
		json_decref(row);
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 201, row);
}

static void
goal_op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	goal_reply_row(c, rq, rp, SQL_GET, "goal ID", "Goal");
}

/*
 * A change of parent: under the tree lock, refuses a cycle (400) or a
 * missing parent (404).  0 to go on with the update in the same
 * transaction, -1 after a reply.
 */
static int
goal_check_parent(struct svc_ctx *c, const char *id, const char *parent,
    struct svc_reply *rp)
{
	const char	*p[2];
	PGresult	*res;
	int		 cycle, exists;

	if (strcmp(id, parent) == 0) {
		svc_reply_error(rp, 400, "Circular parent reference detected");
		return (-1);
	}
	if (db_cmd(c->sc_db, SQL_TREE_LOCK, 0, NULL) != 0) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	p[0] = id;
	p[1] = parent;
	if ((res = db_exec(c->sc_db, SQL_CYCLE, 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	cycle = PQgetvalue(res, 0, 0)[0] == 't';
	exists = PQgetvalue(res, 0, 1)[0] == 't';
	PQclear(res);
	if (!exists) {
		svc_reply_error(rp, 404, "Parent goal '%s' not found", parent);
		return (-1);
	}
	if (cycle) {
		svc_reply_error(rp, 400, "Circular parent reference detected");
		return (-1);
	}
	return (0);
}

static void
goal_op_update(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], parent[UTIL_UUID_LEN];
	char		 agent[UTIL_UUID_LEN], prog[16], mask[16];
	char		 changed[128] = "";
	const char	*vals[GF_N], *p[9];
	json_t		*body, *row = NULL;
	int		 m, i, err, intx = 0;

	if (svc_param_uuid(rq, PARAM_ID, "goal ID", id, rp) != 0 ||
	    (body = goal_body(rq, goal_fields, rp)) == NULL ||
	    (m = goal_parse(body, 0, vals, parent, agent, prog, rp)) < 0)
		return;
	if (vals[GF_AGENT] != NULL &&
	    goal_agent_check(rq, vals[GF_AGENT], rp) != 0)
		return;
	/* The write and its audit entry share a transaction; only a new
	 * parent can close a cycle: its check takes the tree lock in it. */
	if (sched_tx_begin(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	intx = 1;
	if (vals[GF_PARENT] != NULL &&
	    goal_check_parent(c, id, vals[GF_PARENT], rp) != 0)
		goto done;
	snprintf(mask, sizeof(mask), "%d", m);
	p[0] = id;
	p[1] = mask;
	for (i = 0; i < GF_N; i++) {
		p[2 + i] = vals[i];
		if (m & (1 << i))
			(void)snprintf(changed + strlen(changed),
			    sizeof(changed) - strlen(changed), "%s%s",
			    *changed != '\0' ? ", " : "", goal_fields[i]);
	}
	row = db_one_json(db_exec(c->sc_db, SQL_UPDATE, 9, p), &err);
	if (row == NULL) {
		if (err == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "Goal '%s' not found", id);
		else
			goal_write_error(c, rp, vals[GF_PARENT]);
		goto done;
	}
	intx = 0;	/* committed, or rolled back on failure */
	if (sched_tx_commit(c->sc_db, json_string_value(json_object_get(row,
	    "agent_id")), "%s: goal '%s' (%s) %s", rq->mr_op,
	    json_string_value(json_object_get(row, "title")), id,
	    *changed != '\0' ? changed : "unchanged") != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	svc_reply_json(rp, 200, row);
	row = NULL;
 done:
	if (intx)
		sched_tx_rollback(c->sc_db);
	json_decref(row);
}

static void
goal_op_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1];
	PGresult	*res;

	if (svc_param_uuid(rq, PARAM_ID, "goal ID", id, rp) != 0)
		return;
	p[0] = id;
	/* The foreign key takes the descendants with it; one entry
	 * records the subtree's delete. */
	if (sched_tx_begin(c->sc_db) != 0 ||
	    (res = db_exec(c->sc_db, SQL_DELETE, 1, p)) == NULL) {
		sched_tx_rollback(c->sc_db);
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 0) {
		sched_tx_rollback(c->sc_db);
		svc_reply_error(rp, 404, "Goal '%s' not found", id);
	} else if (sched_tx_commit(c->sc_db, PQgetisnull(res, 0, 1) ? NULL :
	    PQgetvalue(res, 0, 1), "%s: goal '%s' (%s) and its subgoals",
	    rq->mr_op, PQgetvalue(res, 0, 0), id) != 0)
		svc_reply_db_error(rp, c);
	else
		svc_reply_json(rp, 204, json_null());
	PQclear(res);
}

static void
goal_op_children(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1];
	PGresult	*res;
	json_t		*items;
	int		 n;

	if (svc_param_uuid(rq, PARAM_ID, "goal ID", id, rp) != 0)
		return;
	p[0] = id;
	if ((res = db_exec(c->sc_db, SQL_EXISTS, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		svc_reply_error(rp, 404, "Goal '%s' not found", id);
		return;
	}
	if ((items = svc_rows(c, SQL_CHILDREN, 1, p, NULL, rp)) != NULL)
		svc_reply_list(rp, "children", items);
}

static void
goal_op_templates(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_error_t	 je;
	json_t		*list;

	(void)c;
	(void)rq;
	if ((list = json_loads(goal_templates, 0, &je)) == NULL)
		log_warnx("%s: could not parse the templates: %s", __func__,
		    je.text);
	svc_reply_list(rp, "templates", list);
}

const struct svc_op goal_ops[] = {
	{ OP_GOALS_LIST,	goal_op_list },
	{ OP_GOALS_CREATE,	goal_op_create },
	{ OP_GOALS_GET,		goal_op_get },
	{ OP_GOALS_UPDATE,	goal_op_update },
	{ OP_GOALS_DELETE,	goal_op_delete },
	{ OP_GOALS_CHILDREN,	goal_op_children },
	{ OP_GOALS_TEMPLATES,	goal_op_templates },
	{ NULL,			NULL }
};
