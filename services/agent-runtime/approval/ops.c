/*
 * approval/ops.c - approvals.* : GET|POST /api/approvals, GET
 * /api/approvals/{id}, POST .../{id}/approve|reject|modify, POST
 * /api/approvals/batch, GET /api/approvals/count, GET
 * /api/approvals/audit, GET /api/approvals/session/{session_id}
 * (notes/kernel.md 4.3; spec 000 and 002, "Approval Endpoints").
 *
 * Every read first times out the requests past their time (one
 * statement), so what is listed as pending can still be decided.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "approval/approval.h"
#include "approval/totp.h"
#include "audit.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "services.h"

#define APPROVAL_LIST_DEFAULT	100
#define APPROVAL_LIST_MAX	1000

static const char SQL_ROW[] =
    "SELECT " APPROVAL_JSON " FROM approvals p JOIN agents ag ON "
    "ag.id = p.agent_id WHERE p.id = $1";

/* $1 status ('all': any), $2 agent, $3 limit.  The total comes with
 * each row (counted before the LIMIT), so the page and its total are one
 * snapshot: a request made between two queries cannot be counted and
 * missing from the page. */
static const char SQL_LIST[] =
    "SELECT " APPROVAL_JSON ", count(*) OVER () FROM approvals p JOIN "
    "agents ag ON ag.id = p.agent_id WHERE ($1 = 'all' OR "
    "p.status = $1) AND ($2::uuid IS NULL OR p.agent_id = $2::uuid) "
    "ORDER BY p.requested_at DESC, p.id LIMIT $3::int";

static const char SQL_COUNT[] =
    "SELECT count(*) FROM approvals WHERE status = 'pending'";

static const char SQL_SESSION[] =
    "SELECT " APPROVAL_JSON " FROM approvals p JOIN agents ag ON "
    "ag.id = p.agent_id WHERE p.session_id = $1 AND p.status = 'pending' "
    "ORDER BY p.requested_at, p.id";

/* $1 agent, $2 approval, $3 limit, $4 offset. */
static const char SQL_AUDIT[] =
    "SELECT json_build_object('id', n, 'approval_id', approval_id, "
    "'request_id', approval_id, 'agent_id', agent_id, 'tool_name', "
    "tool_name, 'risk_level', risk_level, 'decision', decision, "
    "'decided_by', decided_by, 'reason', reason, 'second_factor_used', "
    "second_factor_used, 'timestamp', to_char(at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) FROM approval_audit "
    "WHERE ($1::uuid IS NULL OR agent_id = $1::uuid) AND "
    "($2::uuid IS NULL OR approval_id = $2::uuid) "
    "ORDER BY n DESC LIMIT $3::int OFFSET $4::bigint";
static const char SQL_AUDIT_COUNT[] =
    "SELECT count(*) FROM approval_audit "
    "WHERE ($1::uuid IS NULL OR agent_id = $1::uuid) AND "
    "($2::uuid IS NULL OR approval_id = $2::uuid)";

/* $1 ids (uuid[]), $2 status, $3 reason: every one or none. */
static const char SQL_BATCH[] =
    "WITH d AS (UPDATE approvals SET status = $2, decided_at = "
    "clock_timestamp(), decided_by = 'api', reason = $3 WHERE id = "
    "ANY ($1::uuid[]) AND status = 'pending' AND expires_at > "
    "clock_timestamp() RETURNING *), "
    "au AS (INSERT INTO approval_audit (approval_id, agent_id, tool_name, "
    "risk_level, decision, decided_by, reason) SELECT id, agent_id, "
    "tool_name, risk_level, status, decided_by, reason FROM d) "
    "SELECT " APPROVAL_JSON " FROM d p JOIN agents ag ON ag.id = p.agent_id";

/* ---- input ------------------------------------------------------------ */

/* body.key as a string of at most max bytes without NUL (absent or null:
 * *out NULL).  0, or -1 after a 400. */
static int
approval_str(json_t *body, const char *key, size_t max, const char **out,
    struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v)) {
		svc_reply_error(rp, 400, "'%s' must be a string", key);
		return (-1);
	}
	if (json_string_length(v) > max) {
		svc_reply_error(rp, 400, "'%s' is longer than %zu bytes", key,
		    max);
		return (-1);
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		svc_reply_error(rp, 400, "'%s' contains a NUL character", key);
		return (-1);
	}
	*out = json_string_value(v);
	return (0);
}

/* A body that may be absent (null) or an object of allowed keys. */
static int
approval_body(const struct msg_req *rq, const char *const *allowed,
    struct svc_reply *rp)
{
	if (json_is_null(rq->mr_body) || rq->mr_body == NULL)
		return (0);
	return (agent_body_keys(rq->mr_body, allowed, rp));
}

/* A tool name: 1..APPROVAL_TOOL_MAX of [A-Za-z0-9_]. */
static int
approval_tool_ok(const char *s)
{
	size_t	n = 0;

	for (; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' &&
		    s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') ||
		    s[n] == '_'))
			return (0);
	return (n > 0 && n <= APPROVAL_TOOL_MAX);
}

/* query.key as a UUID (lowercased into id), absent: *p NULL. */
static int
approval_query_uuid(const struct msg_req *rq, const char *key,
    char id[UTIL_UUID_LEN], const char **p, struct svc_reply *rp)
{
	json_t	*v = json_object_get(rq->mr_query, key);

	*p = NULL;
	if (v == NULL)
		return (0);
	if (svc_uuid_lower(json_string_value(v), id) != 0) {
		svc_reply_error(rp, 400, "'%s' must be a UUID", key);
		return (-1);
	}
	*p = id;
	return (0);
}

/* Sweeps, then runs sql: 200 its one JSON column (or 404 what). */
static void
approval_reply_row(struct svc_ctx *c, struct svc_reply *rp, const char *id)
{
	PGresult	*res;
	json_t		*v = NULL;
	json_error_t	 je;

	(void)approval_sweep(c->sc_db);
	if ((res = db_exec(c->sc_db, SQL_ROW, 1, &id)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 1)
		v = json_loads(PQgetvalue(res, 0, 0), 0, &je);
	else {
		PQclear(res);
		svc_reply_not_found(rp, "Approval", id);
		return;
	}
	PQclear(res);
	svc_reply_json(rp, 200, v);
}

/* A row as JSON: its one column parsed. */
static json_t *
approval_row_json(PGresult *res, int row)
{
	json_error_t	je;

	return (json_loads(PQgetvalue(res, row, 0), 0, &je));
}

/* ---- operations ------------------------------------------------------- */

static void
op_approvals_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const statuses[] = { "pending", "approved",
		"rejected", "timed_out", "skipped", "modified", "all", NULL };
	const char	*status, *p[3];
	char		 aid[UTIL_UUID_LEN], lim[24];
	long long	 limit, total;
	json_t		*list, *v;
	PGresult	*res;
	int		 i;

	v = json_object_get(rq->mr_query, "status");
	status = v != NULL ? json_string_value(v) : "pending";
	if (status == NULL || !agent_in_list(status, statuses)) {
		svc_reply_error(rp, 400, "'status' must be one of pending, "
		    "approved, rejected, timed_out, skipped, modified, all");
		return;
	}
	if (approval_query_uuid(rq, "agent_id", aid, &p[1], rp) != 0 ||
	    svc_query_int(rq, "limit", 1, APPROVAL_LIST_MAX,
	    APPROVAL_LIST_DEFAULT, &limit, rp) != 0)
		return;
	snprintf(lim, sizeof(lim), "%lld", limit);
	p[0] = status;
	p[2] = lim;
	(void)approval_sweep(c->sc_db);
	if ((res = db_exec(c->sc_db, SQL_LIST, 3, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		svc_list_add(&list, approval_row_json(res, i));
	total = PQntuples(res) > 0 ? strtoll(PQgetvalue(res, 0, 1), NULL,
	    10) : 0;
	PQclear(res);
	if (list == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_list(rp, "approvals", list);
	if (rp->sr_status == 200)
		json_object_set_new(rp->sr_body, "total", json_integer(total));
}

static void
op_approvals_create(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const keys[] = { "agent_id", "tool_name", "action",
		"description", "action_summary", "payload", "timeout_secs",
		"session_id", NULL };
	struct approval_new	 an;
	struct approval_policy	 pol;
	const char		*tool, *action, *sid;
	char			 id[UTIL_UUID_LEN], sidl[UTIL_UUID_LEN];
	char			*payload = NULL;
	json_t			*v;
	long long		 to;
	int			 rv;

	memset(&an, 0, sizeof(an));
	if (agent_body_keys(rq->mr_body, keys, rp) != 0 ||
	    approval_str(rq->mr_body, "agent_id", 256, &an.an_agent_id,
	    rp) != 0 ||
	    approval_str(rq->mr_body, "tool_name", 256, &tool, rp) != 0 ||
	    approval_str(rq->mr_body, "action", 256, &action, rp) != 0 ||
	    approval_str(rq->mr_body, "description", APPROVAL_DESC_MAX,
	    &an.an_description, rp) != 0 ||
	    approval_str(rq->mr_body, "action_summary", APPROVAL_SUMMARY_MAX,
	    &an.an_summary, rp) != 0 ||
	    approval_str(rq->mr_body, "session_id", 64, &sid, rp) != 0)
		return;
	if (an.an_agent_id == NULL || *an.an_agent_id == '\0') {
		svc_reply_error(rp, 400, "'agent_id' is required");
		return;
	}
	if (tool == NULL)
		tool = action;
	if (tool == NULL || !approval_tool_ok(tool)) {
		svc_reply_error(rp, 400, "'tool_name' (or 'action') is "
		    "required: 1 to %d characters of A-Z, a-z, 0-9 and _",
		    APPROVAL_TOOL_MAX);
		return;
	}
	if (sid != NULL && svc_uuid_lower(sid, sidl) != 0) {
		svc_reply_error(rp, 400, "'session_id' must be a UUID");
		return;
	}
	approval_policy(NULL, &pol);
	to = pol.ap_timeout_secs;
	if ((v = json_object_get(rq->mr_body, "timeout_secs")) != NULL) {
		to = json_integer_value(v);
		if (!json_is_integer(v) || to < APPROVAL_TIMEOUT_MIN ||
		    to > APPROVAL_TIMEOUT_MAX) {
			svc_reply_error(rp, 400, "'timeout_secs' must be an "
			    "integer from %d to %d", APPROVAL_TIMEOUT_MIN,
			    APPROVAL_TIMEOUT_MAX);
			return;
		}
	}
	if ((v = json_object_get(rq->mr_body, "payload")) != NULL &&
	    !json_is_null(v) && (payload = json_dumps(v, JSON_COMPACT |
	    JSON_ENCODE_ANY)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	if (payload != NULL && strlen(payload) > 64 * 1024) {
		free(payload);
		svc_reply_error(rp, 400, "'payload' is larger than 64 KiB");
		return;
	}
	an.an_tool = tool;
	an.an_payload = payload;
	an.an_origin = "manual";
	an.an_timeout_secs = (int)to;
	an.an_fallback_skip = pol.ap_fallback_skip;
	an.an_session_id = sid != NULL ? sidl : NULL;
	rv = approval_create(c->sc_db, &an, id);
	free(payload);
	if (rv == SH_ENOTFOUND) {
		svc_reply_not_found(rp, "Agent", an.an_agent_id);
		return;
	}
	if (rv == 1) {
		svc_reply_error(rp, 429, "agent already has %d pending "
		    "approval requests", APPROVAL_PENDING_MAX);
		return;
	}
	if (rv != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	log_info("approval %s requested for tool '%s'", id, tool);
	approval_reply_row(c, rp, id);
	if (rp->sr_status == 200) {
		rp->sr_status = 201;
		approval_announce_request(c->sc_arg, id, json_string_value(
		    json_object_get(rp->sr_body, "agent_id")) ?: "", tool,
		    approval_risk_name(approval_risk(tool)), an.an_description,
		    (int)to);
	}
}

static void
op_approvals_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char	id[UTIL_UUID_LEN];

	if (svc_param_uuid(rq, PARAM_ID, "approval ID", id, rp) != 0)
		return;
	approval_reply_row(c, rp, id);
}

/*
 * 1 when approving request id needs the second factor (approval/totp.h):
 * its agent's policy says second_factor totp|both and names its tool in
 * totp_tools.  0 when not, or no such request (the decision answers
 * 404); -1 with rp answered.
 */
static int
approval_totp_needed(struct svc_ctx *c, const char *id, struct svc_reply *rp)
{
	struct approval_policy	 pol;
	PGresult		*res;
	json_t			*agent;
	char			 tool[APPROVAL_TOOL_MAX + 1];
	int			 rv, e;

	if ((res = db_exec(c->sc_db, "SELECT agent_id::text, tool_name FROM "
	    "approvals WHERE id = $1", 1, &id)) == NULL) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (0);
	}
	snprintf(tool, sizeof(tool), "%s", PQgetvalue(res, 0, 1));
	agent = agent_store_get(c->sc_db, PQgetvalue(res, 0, 0), 0, &e);
	PQclear(res);
	if (agent == NULL && e != SH_ENOTFOUND) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	approval_policy(json_object_get(agent, "manifest"), &pol);
	rv = approval_needs_totp(&pol, tool);
	json_decref(agent);
	return (rv);
}

/* The second factor of approving request id, when it needs one: code
 * checked and spent under "approval:<id>".  0 (go on; *used when a code
 * was checked), or -1 with rp answered. */
static int
approval_second_factor(struct svc_ctx *c, const char *id, const char *code,
    struct svc_reply *rp, int *used)
{
	char	bind[64], err[256];
	int	rv;

	*used = 0;
	if ((rv = approval_totp_needed(c, id, rp)) <= 0)
		return (rv);
	snprintf(bind, sizeof(bind), "approval:%s", id);
	if ((rv = totp_gate(c->sc_db, bind, code, err, sizeof(err))) != 0) {
		svc_reply_error(rp, rv, "%s", err);
		return (-1);
	}
	*used = code != NULL && *code != '\0';
	return (0);
}

/*
 * A decision the channels service relays from a chat (caller.chat_decider
 * {channel, user_id, trusted}): only on a request asked in that channel,
 * by the person whose message started the turn or one the channel trusts
 * (its allowlist, its owners).  0 with the decider's name in by ("" for
 * an API decision), or -1 with rp answered (403, 404).
 */
static int
approval_chat_decider(struct svc_ctx *c, const struct msg_req *rq,
    const char *id, char *by, size_t len, struct svc_reply *rp)
{
	json_t		*d = json_object_get(rq->mr_caller, "chat_decider");
	const char	*chan, *user, *p[3];
	PGresult	*res;
	int		 ok;

	*by = '\0';
	if (d == NULL)
		return (0);
	chan = json_string_value(json_object_get(d, "channel"));
	user = json_string_value(json_object_get(d, "user_id"));
	if (chan == NULL || user == NULL || *chan == '\0' || *user == '\0') {
		svc_reply_error(rp, 400, "'chat_decider' must name channel and "
		    "user_id");
		return (-1);
	}
	p[0] = id;
	p[1] = chan;
	p[2] = json_is_true(json_object_get(d, "trusted")) ? NULL : user;
	if ((res = db_exec(c->sc_db, "SELECT chat_origin->>'channel' = $2 "
	    "AND ($3::text IS NULL OR chat_origin->>'user_id' = $3) "
	    "FROM approvals WHERE id = $1", 3, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		svc_reply_not_found(rp, "Approval", id);
		return (-1);
	}
	ok = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!ok) {
		log_info("approval %s: %s:%s may not decide it", id, chan, user);
		svc_reply_error(rp, 403, "you may not decide approval %s: only "
		    "the person who asked, or one the channel trusts, can", id);
		return (-1);
	}
	snprintf(by, len, "%s:%s", chan, user);
	return (0);
}

/* Decides params.id as status (approved: after its second factor, code);
 * answers {id, status, decided_at, ...}. */
static void
approval_decide_op(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, const char *status, const char *reason,
    const char *feedback, const char *code)
{
	char		 id[UTIL_UUID_LEN], by[600];
	json_t		*row = NULL;
	const char	*st;
	int		 rv, used = 0;

	if (svc_param_uuid(rq, PARAM_ID, "approval ID", id, rp) != 0 ||
	    approval_chat_decider(c, rq, id, by, sizeof(by), rp) != 0)
		return;
	if (strcmp(status, "approved") == 0 &&
	    approval_second_factor(c, id, code, rp, &used) != 0)
		return;
	(void)approval_sweep(c->sc_db);
	rv = approval_decide(c->sc_db, id, status, *by != '\0' ? by : "api",
	    reason, feedback, used, &row);
	switch (rv) {
	case 0:
		log_info("approval %s %s by %s", id, status, *by != '\0' ?
		    by : "api");
		approval_announce(c->sc_arg, row);
		svc_reply_json(rp, 200, row);
		return;
	case SH_ENOTFOUND:
		svc_reply_not_found(rp, "Approval", id);
		return;
	case 1:
		st = json_string_value(json_object_get(row, "status"));
		svc_reply_error(rp, 409, "approval %s was already decided: %s",
		    id, st != NULL ? st : "?");
		break;
	case 2:
		svc_reply_error(rp, 409, "approval %s has expired", id);
		break;
	default:
		svc_reply_db_error(rp, c);
		break;
	}
	json_decref(row);
}

static void
op_approvals_approve(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const keys[] = { "totp_code", "code", NULL };
	const char	*code;

	if (approval_body(rq, keys, rp) != 0 ||
	    approval_str(rq->mr_body, "totp_code", 16, &code, rp) != 0)
		return;
	approval_decide_op(c, rq, rp, "approved", NULL, NULL, code);
}

static void
op_approvals_reject(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const keys[] = { "reason", NULL };
	const char	*reason;

	if (approval_body(rq, keys, rp) != 0 ||
	    approval_str(rq->mr_body, "reason", APPROVAL_REASON_MAX, &reason,
	    rp) != 0)
		return;
	approval_decide_op(c, rq, rp, "rejected", reason, NULL, NULL);
}

static void
op_approvals_modify(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const keys[] = { "feedback", NULL };
	const char	*fb;

	if (agent_body_keys(rq->mr_body, keys, rp) != 0 ||
	    approval_str(rq->mr_body, "feedback", APPROVAL_REASON_MAX, &fb,
	    rp) != 0)
		return;
	if (fb == NULL || *fb == '\0') {
		svc_reply_error(rp, 400, "'feedback' is required");
		return;
	}
	approval_decide_op(c, rq, rp, "modified", NULL, fb, NULL);
}

/* POST /api/approvals/batch {ids, decision: approve|reject, reason?}:
 * every request decided, or none (409 naming one that is not pending). */
static void
op_approvals_batch(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const keys[] = { "ids", "decision", "action",
		"reason", NULL };
	const char	*dec, *reason, *status, *p[3];
	char		 id[UTIL_UUID_LEN], detail[256];
	json_t		*ids, *v, *list = NULL, *row;
	struct buf	 arr = BUF_INIT(APPROVAL_BATCH_MAX * 40 + 8);
	PGresult	*res = NULL;
	size_t		 i, n;
	int		 k;

	if (agent_body_keys(rq->mr_body, keys, rp) != 0 ||
	    approval_str(rq->mr_body, "decision", 32, &dec, rp) != 0 ||
	    approval_str(rq->mr_body, "reason", APPROVAL_REASON_MAX, &reason,
	    rp) != 0)
		return;
	if (dec == NULL)
		dec = json_string_value(json_object_get(rq->mr_body,
		    "action"));
	if (dec != NULL && (strcmp(dec, "approve") == 0 ||
	    strcmp(dec, "approved") == 0))
		status = "approved";
	else if (dec != NULL && (strcmp(dec, "reject") == 0 ||
	    strcmp(dec, "rejected") == 0))
		status = "rejected";
	else {
		svc_reply_error(rp, 400, "'decision' must be 'approve' or "
		    "'reject'");
		return;
	}
	ids = json_object_get(rq->mr_body, "ids");
	n = json_array_size(ids);
	if (!json_is_array(ids) || n == 0 || n > APPROVAL_BATCH_MAX) {
		svc_reply_error(rp, 400, "'ids' must be a list of 1 to %d "
		    "approval IDs", APPROVAL_BATCH_MAX);
		return;
	}
	(void)buf_adds(&arr, "{");
	json_array_foreach(ids, i, v) {
		if (svc_uuid_lower(json_string_value(v), id) != 0) {
			buf_release(&arr);
			svc_reply_error(rp, 400, "Invalid approval ID in 'ids' "
			    "(item %zu)", i);
			return;
		}
		(void)buf_addf(&arr, "%s%s", i > 0 ? "," : "", id);
	}
	if (buf_adds(&arr, "}") != 0) {
		buf_release(&arr);
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	/* A request whose approval needs a TOTP code is approved alone,
	 * with its code (notes 4.3: no batch approval under TOTP). */
	json_array_foreach(ids, i, v) {
		if (strcmp(status, "approved") != 0)
			break;
		(void)svc_uuid_lower(json_string_value(v), id);
		if ((k = approval_totp_needed(c, id, rp)) != 0) {
			buf_release(&arr);
			if (k > 0)
				svc_reply_error(rp, 403, "approval %s needs a "
				    "TOTP code: approve it alone with "
				    "'totp_code'; none was decided", id);
			return;
		}
	}
	p[0] = arr.b_data;
	p[1] = status;
	p[2] = reason;
	(void)approval_sweep(c->sc_db);
	if (db_cmd(c->sc_db, "BEGIN", 0, NULL) != 0 ||
	    (res = db_exec(c->sc_db, SQL_BATCH, 3, p)) == NULL)
		goto dberr;
	/* Duplicates in ids count once. */
	{
		PGresult	*u;
		const char	*q[1] = { arr.b_data };

		u = db_exec(c->sc_db, "SELECT count(DISTINCT x) FROM "
		    "unnest($1::uuid[]) x", 1, q);
		if (u == NULL)
			goto dberr;
		n = (size_t)strtoll(PQgetvalue(u, 0, 0), NULL, 10);
		PQclear(u);
	}
	if ((size_t)PQntuples(res) != n) {
		PQclear(res);
		res = NULL;
		(void)db_cmd(c->sc_db, "ROLLBACK", 0, NULL);
		buf_release(&arr);
		svc_reply_error(rp, 409, "not every approval in 'ids' is "
		    "pending: none was decided");
		return;
	}
	list = json_array();
	for (k = 0; k < PQntuples(res); k++) {
		row = approval_row_json(res, k);
		snprintf(detail, sizeof(detail), "approval %s of tool '%.64s' "
		    "%s by api (batch)", json_string_value(json_object_get(row,
		    "id")) ?: "", json_string_value(json_object_get(row,
		    "tool_name")) ?: "", status);
		if (audit_record(c->sc_db, AUDIT_CAPABILITY_CHECK,
		    json_string_value(json_object_get(row, "agent_id")), detail,
		    status) != 0) {
			json_decref(row);
			json_decref(list);
			goto dberr;
		}
		svc_list_add(&list, row);
	}
	if (db_cmd(c->sc_db, "COMMIT", 0, NULL) != 0) {
		json_decref(list);
		goto dberr;
	}
	PQclear(res);
	buf_release(&arr);
	for (i = 0; i < json_array_size(list); i++)
		approval_announce(c->sc_arg, json_array_get(list, i));
	log_info("%zu approvals %s in a batch", json_array_size(list), status);
	svc_reply_list(rp, "results", list);
	if (rp->sr_status == 200) {
		json_object_set_new(rp->sr_body, "decided", json_integer(
		    (json_int_t)n));
		json_object_set_new(rp->sr_body, "status", json_string(status));
	}
	return;
 dberr:
	PQclear(res);
	(void)db_cmd(c->sc_db, "ROLLBACK", 0, NULL);
	buf_release(&arr);
	svc_reply_db_error(rp, c);
}

static void
op_approvals_count(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;
	long long	 n;

	(void)rq;
	(void)approval_sweep(c->sc_db);
	if ((res = db_exec(c->sc_db, SQL_COUNT, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	svc_reply_json(rp, 200, json_pack("{s:I, s:I}", "pending",
	    (json_int_t)n, "count", (json_int_t)n));
}

static void
op_approvals_audit(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct svc_page	 pg;
	char		 aid[UTIL_UUID_LEN], rid[UTIL_UUID_LEN];
	long long	 limit, offset, total = 0;
	const char	*a, *r;
	json_t		*list;

	if (approval_query_uuid(rq, "agent_id", aid, &a, rp) != 0 ||
	    approval_query_uuid(rq, "approval_id", rid, &r, rp) != 0 ||
	    svc_query_int(rq, "limit", 1, APPROVAL_LIST_MAX,
	    APPROVAL_LIST_DEFAULT, &limit, rp) != 0 ||
	    svc_query_int(rq, "offset", 0, 1000000000LL, 0, &offset,
	    rp) != 0)
		return;
	(void)approval_sweep(c->sc_db);
	memset(&pg, 0, sizeof(pg));
	pg.pg_count = SQL_AUDIT_COUNT;
	pg.pg_list = SQL_AUDIT;
	pg.pg_filters[0] = a;
	pg.pg_filters[1] = r;
	pg.pg_n = 2;
	pg.pg_limit = limit;
	pg.pg_offset = offset;
	pg.pg_row = approval_row_json;
	if ((list = svc_page(c, &pg, &total, rp)) == NULL)
		return;
	svc_reply_list(rp, "entries", list);
	if (rp->sr_status == 200) {
		json_object_set_new(rp->sr_body, "total", json_integer(total));
		json_object_set_new(rp->sr_body, "limit", json_integer(limit));
		json_object_set_new(rp->sr_body, "offset",
		    json_integer(offset));
	}
}

static void
op_approvals_session(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 sid[UTIL_UUID_LEN];
	const char	*p[1] = { sid };
	json_t		*list;
	size_t		 n;

	if (svc_param_uuid(rq, PARAM_SESSION_ID, "session ID", sid, rp) != 0)
		return;
	(void)approval_sweep(c->sc_db);
	if ((list = svc_rows(c, SQL_SESSION, 1, p, approval_row_json, rp)) ==
	    NULL)
		return;
	n = json_array_size(list);
	svc_reply_json(rp, 200, json_pack("{s:s, s:o, s:I, s:b}",
	    "session_id", sid, "pending", list, "count", (json_int_t)n,
	    "has_pending", n > 0));
}

const struct svc_op approval_ops[] = {
	{ OP_APPROVALS_LIST, op_approvals_list },
	{ OP_APPROVALS_CREATE, op_approvals_create },
	{ OP_APPROVALS_GET, op_approvals_get },
	{ OP_APPROVALS_APPROVE, op_approvals_approve },
	{ OP_APPROVALS_REJECT, op_approvals_reject },
	{ OP_APPROVALS_MODIFY, op_approvals_modify },
	{ OP_APPROVALS_BATCH, op_approvals_batch },
	{ OP_APPROVALS_COUNT, op_approvals_count },
	{ OP_APPROVALS_AUDIT, op_approvals_audit },
	{ OP_APPROVALS_SESSION, op_approvals_session },
	{ NULL, NULL }
};
