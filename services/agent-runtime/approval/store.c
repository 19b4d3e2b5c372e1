/*
 * approval/store.c - the statements every part of the gate shares:
 * create a request, decide it once, time out the late ones, and tell the
 * others (approval/approval.h).
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "approval/approval.h"
#include "audit.h"
#include "bus.h"
#include "err.h"
#include "log.h"
#include "services.h"

/* The agent's pending requests are counted under this lock class with
 * the agent (the two-int advisory form; turn.c's keys use 7011). */
#define APPROVAL_LOCK	"SELECT pg_advisory_xact_lock(7012, hashtext($1))"

/* $1 id, $2 agent (id or name), $3 tool, $4 description, $5 summary,
 * $6 risk, $7 payload, $8 origin, $9 timeout, $10 fallback, $11 session,
 * $12 tool_use_id, $13 turn key, $14 call hash, $15 holder, $16 max,
 * $17 chat origin. */
static const char SQL_CREATE[] =
    "WITH a AS (SELECT id FROM agents WHERE id::text = $2 OR "
    "(name = $2 AND $2 !~ '^[0-9a-f-]{36}$') ORDER BY id::text = $2 DESC "
    "LIMIT 1), "
    "n AS (SELECT count(*) AS n FROM approvals p, a WHERE p.agent_id = "
    "a.id AND p.status = 'pending' AND p.expires_at > clock_timestamp()), "
    "i AS (INSERT INTO approvals (id, agent_id, tool_name, description, "
    "action_summary, risk_level, payload, origin, timeout_secs, "
    "expires_at, fallback, session_id, tool_use_id, turn_key, call_hash, "
    "holder, chat_origin) SELECT $1, a.id, $3, $4, $5, $6, $7::jsonb, $8, "
    "$9::int, "
    "clock_timestamp() + make_interval(secs => $9::int), $10, "
    "$11::uuid, $12, $13, $14, $15, $17::jsonb FROM a, n "
    "WHERE n.n < $16::int "
    "RETURNING id, agent_id, tool_name, risk_level), "
    "au AS (INSERT INTO approval_audit (approval_id, agent_id, tool_name, "
    "risk_level, decision, decided_by) SELECT id, agent_id, tool_name, "
    "risk_level, 'pending', $8 FROM i) "
    "SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM i), "
    "(SELECT id FROM a)";

/* $1 id, $2 status, $3 by, $4 reason, $5 feedback, $6 second factor. */
static const char SQL_DECIDE[] =
    "WITH d AS (UPDATE approvals SET status = $2, decided_at = "
    "clock_timestamp(), decided_by = $3, reason = $4, feedback = $5, "
    "second_factor_used = $6::boolean WHERE id = $1 AND status = 'pending' "
    "AND ($2 = 'timed_out' OR expires_at > clock_timestamp()) "
    "RETURNING *), "
    "au AS (INSERT INTO approval_audit (approval_id, agent_id, tool_name, "
    "risk_level, decision, decided_by, reason, second_factor_used) "
    "SELECT id, agent_id, tool_name, risk_level, status, decided_by, "
    "coalesce(reason, feedback), second_factor_used FROM d) "
    "SELECT " APPROVAL_JSON " FROM d p JOIN agents ag ON ag.id = p.agent_id";

/* Why a decision did not happen: the row's status and whether it is
 * past its time. */
static const char SQL_STATE[] =
    "SELECT " APPROVAL_JSON ", p.expires_at <= clock_timestamp() "
    "FROM approvals p JOIN agents ag ON ag.id = p.agent_id WHERE p.id = $1";

static const char SQL_SWEEP[] =
    "WITH d AS (UPDATE approvals SET status = 'timed_out', decided_at = "
    "clock_timestamp(), decided_by = 'timeout' WHERE status = 'pending' "
    "AND expires_at <= clock_timestamp() RETURNING *), "
    "au AS (INSERT INTO approval_audit (approval_id, agent_id, tool_name, "
    "risk_level, decision, decided_by) SELECT id, agent_id, tool_name, "
    "risk_level, 'timed_out', 'timeout' FROM d) "
    "SELECT id, agent_id, tool_name FROM d";

int
approval_create(struct db *db, const struct approval_new *an,
    char id[UTIL_UUID_LEN])
{
	PGresult	*res = NULL;
	const char	*p[17];
	char		 to[16], max[16], detail[512];
	enum approval_risk risk = approval_risk(an->an_tool);
	int		 rv = -1, found, made;

	util_uuid4(id);
	snprintf(to, sizeof(to), "%d", an->an_timeout_secs);
	snprintf(max, sizeof(max), "%d", APPROVAL_PENDING_MAX);
	p[0] = id;
	p[1] = an->an_agent_id;
	p[2] = an->an_tool;
	p[3] = an->an_description != NULL ? an->an_description : "";
	p[4] = an->an_summary != NULL ? an->an_summary : an->an_tool;
	p[5] = approval_risk_name(risk);
	p[6] = an->an_payload;
	p[7] = an->an_origin;
	p[8] = to;
	p[9] = an->an_fallback_skip ? "skip" : "deny";
	p[10] = an->an_session_id;
	p[11] = an->an_tool_use_id;
	p[12] = an->an_turn_key;
	p[13] = an->an_call_hash;
	p[14] = svc_instance();
	p[15] = max;
	p[16] = an->an_chat_origin;
	if (db_cmd(db, "BEGIN", 0, NULL) != 0 ||
	    db_cmd(db, APPROVAL_LOCK, 1, &an->an_agent_id) != 0 ||
	    (res = db_exec(db, SQL_CREATE, 17, p)) == NULL ||
	    PQntuples(res) != 1)
		goto fail;
	found = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	made = strcmp(PQgetvalue(res, 0, 1), "1") == 0;
	if (!found || !made) {
		PQclear(res);
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
		return (found ? 1 : SH_ENOTFOUND);
	}
	snprintf(detail, sizeof(detail), "approval %s requested: tool "
	    "'%.64s' (risk %s, %s)", id, an->an_tool, approval_risk_name(risk),
	    an->an_origin);
	if (audit_record(db, AUDIT_CAPABILITY_CHECK, PQgetvalue(res, 0, 2),
	    detail, "pending") != 0 || db_cmd(db, "COMMIT", 0, NULL) != 0)
		goto fail;
	rv = 0;
	PQclear(res);
	return (rv);
 fail:
	if (!db_unavailable(db))
		log_warnx("%s: could not create an approval for '%s': %s",
		    __func__, an->an_agent_id, db_errmsg(db));
	PQclear(res);
	(void)db_cmd(db, "ROLLBACK", 0, NULL);
	return (-1);
}

/* The one JSON column col of res's first row (new), or NULL. */
static json_t *
approval_col(PGresult *res, int col)
{
	json_error_t	je;

	if (res == NULL || PQntuples(res) < 1 || PQgetisnull(res, 0, col))
		return (NULL);
	return (json_loads(PQgetvalue(res, 0, col), 0, &je));
}

int
approval_decide(struct db *db, const char *id, const char *status,
    const char *by, const char *reason, const char *feedback,
    int second_factor, json_t **row)
{
	PGresult	*res = NULL;
	const char	*p[6];
	char		 detail[640];
	json_t		*r;
	int		 rv = -1;

	*row = NULL;
	p[0] = id;
	p[1] = status;
	p[2] = by;
	p[3] = reason;
	p[4] = feedback;
	p[5] = second_factor ? "true" : "false";
	if (db_cmd(db, "BEGIN", 0, NULL) != 0 ||
	    (res = db_exec(db, SQL_DECIDE, 6, p)) == NULL)
		goto fail;
	if (PQntuples(res) == 1) {
		if ((r = approval_col(res, 0)) == NULL)
			goto fail;
		snprintf(detail, sizeof(detail), "approval %s of tool '%.64s' "
		    "%s by %.64s%s%.256s (second factor: %s)", id,
		    json_string_value(json_object_get(r, "tool_name")) ?: "",
		    status, by != NULL ? by : "api", reason != NULL ? ": " :
		    "", reason != NULL ? reason : "", second_factor ? "yes" :
		    "no");
		if (audit_record(db, AUDIT_CAPABILITY_CHECK,
		    json_string_value(json_object_get(r, "agent_id")), detail,
		    status) != 0 || db_cmd(db, "COMMIT", 0, NULL) != 0) {
			json_decref(r);
			goto fail;
		}
		PQclear(res);
		*row = r;
		return (0);
	}
	PQclear(res);
	(void)db_cmd(db, "ROLLBACK", 0, NULL);
	if ((res = db_exec(db, SQL_STATE, 1, p)) == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return (SH_ENOTFOUND);
	}
	*row = approval_col(res, 0);
	rv = strcmp(json_string_value(json_object_get(*row, "status")) ?: "",
	    "pending") == 0 && strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? 2 : 1;
	PQclear(res);
	return (rv);
 fail:
	if (!db_unavailable(db))
		log_warnx("%s: could not decide approval %s: %s", __func__, id,
		    db_errmsg(db));
	PQclear(res);
	(void)db_cmd(db, "ROLLBACK", 0, NULL);
	return (-1);
}

int
approval_sweep(struct db *db)
{
	PGresult	*res = NULL;
	char		 detail[256];
	int		 i;

	if (db_cmd(db, "BEGIN", 0, NULL) != 0 ||
	    (res = db_exec(db, SQL_SWEEP, 0, NULL)) == NULL)
		goto fail;
	for (i = 0; i < PQntuples(res); i++) {
		snprintf(detail, sizeof(detail), "approval %s of tool '%.64s' "
		    "timed_out", PQgetvalue(res, i, 0), PQgetvalue(res, i, 2));
		if (audit_record(db, AUDIT_CAPABILITY_CHECK,
		    PQgetvalue(res, i, 1), detail, "timed_out") != 0)
			goto fail;
	}
	if (db_cmd(db, "COMMIT", 0, NULL) != 0)
		goto fail;
	PQclear(res);
	return (0);
 fail:
	PQclear(res);
	(void)db_cmd(db, "ROLLBACK", 0, NULL);
	return (-1);
}

/* Publishes ev (stolen) on topic. */
static void
approval_publish(struct agent_state *as, const char *topic, json_t *ev)
{
	if (ev == NULL)
		return;
	if (as == NULL || as->as_pub == NULL) {
		json_decref(ev);
		return;
	}
	pthread_mutex_lock(&as->as_pub_mtx);
	if (bus_publish(as->as_pub, topic, ev) != 0)
		log_debug("%s: could not publish on '%s'", __func__, topic);
	pthread_mutex_unlock(&as->as_pub_mtx);
	json_decref(ev);
}

void
approval_announce(struct agent_state *as, json_t *row)
{
	const char	*id = json_string_value(json_object_get(row, "id"));
	const char	*aid = json_string_value(json_object_get(row,
			    "agent_id"));
	const char	*st = json_string_value(json_object_get(row, "status"));

	if (id == NULL || aid == NULL || st == NULL)
		return;
	approval_publish(as, TOPIC_APPROVALS, json_pack("{s:s, s:s, s:s}",
	    "id", id, "agent_id", aid, "status", st));
	approval_publish(as, TOPIC_EVENTS, msg_event(aid, "ApprovalResolved",
	    json_pack("{s:s, s:s, s:s, s:s}", "request_id", id, "agent_id",
	    aid, "decision", st, "tool_name", json_string_value(
	    json_object_get(row, "tool_name")) ?: ""), 0));
}

void
approval_announce_request(struct agent_state *as, const char *id,
    const char *agent_id, const char *tool, const char *risk,
    const char *description, int timeout_secs)
{
	approval_publish(as, TOPIC_EVENTS, msg_event(agent_id,
	    "ApprovalRequested", json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}",
	    "request_id", id, "agent_id", agent_id, "tool_name", tool,
	    "risk_level", risk, "description", description != NULL ?
	    description : "", "timeout_secs", timeout_secs), 0));
}
