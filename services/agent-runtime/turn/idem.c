/*
 * turn/idem.c - idempotent turns: agents.message with caller
 * idempotency_key runs at most once per key (sql/010_turn_keys.sql), and
 * the sessions named by caller session_key.
 *
 * The key is claimed by an insert before the turn starts, on the replica
 * that takes the request, which holds the key's advisory lock on its lock
 * connection (turn_key_lock()) until the turn has ended.  The turn's end
 * stores its answer on the row in the one statement that saves its
 * exchange (agent/obs.c), so the two never diverge.  A later request with
 * the key reads the row instead of running anything; if the row still
 * says running but the lock is free, the replica that ran it died before
 * its end, nothing of it was answered or saved as an answer, and the
 * request takes the key over and runs the turn afresh (turn/machine.c
 * drops the dead run's part of the exchange): one answer, never two.
 *
 * The HTTP Idempotency-Key header comes the same way (the gateway's
 * gw_idem.c): its key is scoped to the route and the principal, and
 * carries caller.idempotency_fingerprint (the request, hashed), which a
 * reuse must match (else 422), and caller.idempotency_ttl_secs, after
 * which the key counts as unused.  Service callers' keys carry neither
 * and live a week.  A key is never reclaimed while its turn may still
 * run (before its deadline).  Expired keys are pruned by the claims
 * themselves, a few at a time, so the table stays bounded with no timer.
 *
 * Spawn-like operations (agents.spawn, agents.clone, agents.bulk_create)
 * take a key too (turn_idem_op()): its row has no agent, and holds the
 * operation's answer, so a retried spawn names the agent made first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "agent/agent.h"
#include "log.h"
#include "msg.h"
#include "turn/turn.h"
#include "util.h"

/* How long past its deadline a running key waits for the turn's answer
 * before it counts as lost (the answer is stored as the turn ends). */
#define TURN_KEY_GRACE_MS	5000
/* A service caller's key (no caller.idempotency_ttl_secs) lives a week;
 * the caller's own ttl is bounded by 30 days. */
#define TURN_KEY_TTL_SECS	(7 * 86400)
#define TURN_KEY_TTL_MAX	(30 * 86400)

/* The claim first prunes a few expired keys (not its own: one statement
 * may not touch a row twice), then inserts, or takes over its own key
 * once that expired and its turn can no longer be running. */
static const char SQL_CLAIM[] =
	"WITH old AS (DELETE FROM turn_keys WHERE key IN ("
	"    SELECT key FROM turn_keys "
	"    WHERE expires_at < clock_timestamp() AND key <> $1 "
	"    AND (state = 'done' OR deadline < clock_timestamp()) "
	"    LIMIT 8)) "
	"INSERT INTO turn_keys (key, agent_id, deadline, fingerprint, "
	"    expires_at) "
	"VALUES ($1, $2::uuid, to_timestamp($3::bigint / 1000.0), $4, "
	"    clock_timestamp() + make_interval(secs => $5::integer)) "
	"ON CONFLICT (key) DO UPDATE SET agent_id = EXCLUDED.agent_id, "
	"    state = 'running', status = NULL, reply = NULL, "
	"    deadline = EXCLUDED.deadline, fingerprint = EXCLUDED.fingerprint, "
	"    expires_at = EXCLUDED.expires_at, created_at = clock_timestamp(), "
	"    run = gen_random_uuid() "
	"WHERE turn_keys.expires_at < clock_timestamp() AND "
	"    (turn_keys.state = 'done' OR turn_keys.deadline < "
	"    clock_timestamp()) "
	"RETURNING run::text";
static const char SQL_READ[] =
	"SELECT state, status, reply::text, deadline < clock_timestamp(), "
	"    coalesce(agent_id::text, ''), fingerprint "
	"FROM turn_keys WHERE key = $1";
static const char SQL_LOST[] =
	"UPDATE turn_keys SET state = 'done', status = 503, "
	"    reply = jsonb_build_object('error', 'the turn under this "
	"idempotency key was lost: no answer came before its deadline') "
	"WHERE key = $1 AND state = 'running' RETURNING reply::text";
static const char SQL_RELEASE[] =
	"DELETE FROM turn_keys WHERE key = $1 AND state = 'running'";
/* A running key whose owner died (its lock free): the retry owns it. */
static const char SQL_TAKEOVER[] =
	"UPDATE turn_keys SET deadline = to_timestamp($2::bigint / 1000.0), "
	"    created_at = clock_timestamp() "
	"WHERE key = $1 AND state = 'running' RETURNING run::text";
static const char SQL_STATE[] =
	"SELECT state = 'running' FROM turn_keys WHERE key = $1";
static const char SQL_FINISH[] =
	"UPDATE turn_keys SET state = 'done', status = $2::integer, "
	"    reply = $3::jsonb WHERE key = $1";

/* Answers rp with a stored reply (status, text). */
static void
reply_stored(struct svc_reply *rp, int status, const char *text)
{
	json_t	*body;

	if ((body = json_loads(text, 0, NULL)) == NULL)
		body = msg_error_body("the stored answer of this turn is "
		    "unreadable");
	svc_reply_json(rp, status, body);
}

int
turn_idem_claim(struct svc_ctx *c, const struct msg_req *rq, const char *key,
    const char *agent_id, char run[UTIL_UUID_LEN], struct svc_reply *rp)
{
	PGresult	*res = NULL;
	const char	*p[5], *fp;
	char		 dl[24], ttl[24];
	json_t		*v;
	long long	 status;
	int64_t		 deadline_ms = rq->mr_deadline;
	int		 rv = -1, locked;

	if (deadline_ms <= 0)
		deadline_ms = util_wall_ms() + (int64_t)c->sc_cfg->
		    turn_timeout_secs * 1000;
	snprintf(dl, sizeof(dl), "%lld", (long long)deadline_ms +
	    TURN_KEY_GRACE_MS);
	v = json_object_get(rq->mr_caller, "idempotency_ttl_secs");
	snprintf(ttl, sizeof(ttl), "%lld", json_is_integer(v) &&
	    json_integer_value(v) > 0 && json_integer_value(v) <=
	    TURN_KEY_TTL_MAX ? (long long)json_integer_value(v) :
	    (long long)TURN_KEY_TTL_SECS);
	fp = json_string_value(json_object_get(rq->mr_caller,
	    "idempotency_fingerprint"));
	p[0] = key;
	p[1] = agent_id;
	p[2] = dl;
	p[3] = fp;
	p[4] = ttl;
	/* The lock first: a key claimed is always locked by its owner, so
	 * a free lock on a running key means a dead owner. */
	if ((locked = turn_key_lock(key)) < 0) {
		svc_reply_error(rp, 503, "database unavailable");
		return (-1);
	}
	if (locked) {
		if ((res = db_exec(c->sc_db, SQL_CLAIM, 5, p)) == NULL) {
			svc_reply_db_error(rp, c);
			goto done;
		}
		if (PQntuples(res) == 1) {
			if (run != NULL)
				snprintf(run, UTIL_UUID_LEN, "%s",
				    PQgetvalue(res, 0, 0));
			rv = 1;
			goto done;
		}
		PQclear(res);
	}
	if ((res = db_exec(c->sc_db, SQL_READ, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	rv = 0;
	if (PQntuples(res) != 1) {
		/* Pruned or its agent deleted between the two statements. */
		svc_reply_error(rp, 409, "idempotency key '%s' changed while "
		    "it was read; ask again", key);
	} else if (fp != NULL && !PQgetisnull(res, 0, 5) &&
	    strcmp(PQgetvalue(res, 0, 5), fp) != 0) {
		/* The IETF draft's answer to a key reused for another
		 * request: 422, and the first request's answer kept. */
		svc_reply_json(rp, 422, json_pack("{s:s, s:s}", "error",
		    "this Idempotency-Key was already used for a different "
		    "request (another path, agent or body): use a new key",
		    "code", "idempotency_key_reused"));
	} else if (strcmp(PQgetvalue(res, 0, 4), agent_id ?: "") != 0) {
		svc_reply_error(rp, 409, "idempotency key '%s' belongs to a "
		    "turn of another agent", key);
	} else if (strcmp(PQgetvalue(res, 0, 0), "done") == 0) {
		if (util_strtonum(PQgetvalue(res, 0, 1), 100, 599,
		    &status) != 0)
			status = 500;
		reply_stored(rp, (int)status, PQgetvalue(res, 0, 2));
	} else if (locked && agent_id != NULL) {
		/* Running, and its owner's lock was free: the replica that
		 * ran it died before the turn's end stored anything.  (A
		 * spawn-like operation is not run again: it may have made
		 * its agent before its owner died.) */
		PQclear(res);
		if ((res = db_exec(c->sc_db, SQL_TAKEOVER, 2, (const char *[])
		    { key, dl })) == NULL) {
			svc_reply_db_error(rp, c);
			rv = -1;
		} else if (PQntuples(res) == 1) {
			log_info("idempotency key '%s': its first run's replica "
			    "died before its end; running it again", key);
			if (run != NULL)
				snprintf(run, UTIL_UUID_LEN, "%s",
				    PQgetvalue(res, 0, 0));
			rv = 2;
		} else
			svc_reply_error(rp, 409, "the turn with idempotency "
			    "key '%s' has just ended; ask again", key);
	} else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
		/* Told apart from a stored 409 (a busy session) by its
		 * code: the caller asks again later. */
		svc_reply_json(rp, 409, json_pack("{s:s+, s:s}", "error",
		    "a turn with this idempotency key is still running: ",
		    key, "code", "turn_in_progress"));
	} else {
		/* Past its deadline with its owner's lock still held: the
		 * owner is alive but cut off (or stuck).  Lost. */
		PQclear(res);
		if ((res = db_exec(c->sc_db, SQL_LOST, 1, p)) == NULL) {
			svc_reply_db_error(rp, c);
			rv = -1;
		} else if (PQntuples(res) == 1)
			reply_stored(rp, 503, PQgetvalue(res, 0, 0));
		else	/* answered just now */
			svc_reply_error(rp, 409, "the turn with idempotency "
			    "key '%s' has just ended; ask again", key);
	}
done:
	PQclear(res);
	if (rv < 1 && locked)
		turn_key_unlock(key);
	return (rv);
}

void
turn_idem_op(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, svc_op_fn fn)
{
	const char	*key;

	if (agent_get_str(rq->mr_caller, "idempotency_key", 1,
	    TURN_IDEM_KEY_MAX, &key, rp) != 0)
		return;
	if (key == NULL) {
		fn(c, rq, rp);
		return;
	}
	if (*key == '\0') {
		svc_reply_error(rp, 400, "'idempotency_key' must not be empty");
		return;
	}
	if (turn_idem_claim(c, rq, key, NULL, NULL, rp) < 1)
		return;
	fn(c, rq, rp);
	/* A 5xx (the database away) is not an answer to keep: the key is
	 * let go, and a retry runs the operation again. */
	if (rp->sr_status < 500)
		turn_idem_finish(c->sc_db, key, rp->sr_status, rp->sr_body);
	else if (db_cmd(c->sc_db, SQL_RELEASE, 1, &key) != 0)
		log_warnx("%s: could not release idempotency key '%s': %s",
		    __func__, key, db_errmsg(c->sc_db));
	turn_key_unlock(key);
}

int
turn_key_running(struct db *db, const char *key)
{
	PGresult	*res;
	int		 rv;

	if ((res = db_exec(db, SQL_STATE, 1, &key)) == NULL)
		return (-1);
	rv = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return (rv);
}

void
turn_idem_finish(struct db *db, const char *key, int status, json_t *body)
{
	const char	*p[3];
	char		 st[8], *js;

	snprintf(st, sizeof(st), "%d", status);
	if ((js = json_dumps(body, JSON_COMPACT)) == NULL)
		js = strdup("{\"error\":\"out of memory\"}");
	p[0] = key;
	p[1] = st;
	p[2] = js;
	if (js == NULL || db_cmd(db, SQL_FINISH, 3, p) != 0)
		log_warnx("%s: could not store the answer of the turn under "
		    "idempotency key '%s': %s", __func__, key, js == NULL ?
		    "out of memory" : db_errmsg(db));
	free(js);
}

int
turn_key_session(const char *agent_id, const char *key,
    char out[UTIL_UUID_LEN])
{
	char	name[TURN_IDEM_KEY_MAX + 16];

	snprintf(name, sizeof(name), "session:%s", key);
	return (util_uuid5(agent_id, name, out) == 0 ? 0 : -1);
}
