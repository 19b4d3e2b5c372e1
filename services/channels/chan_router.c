/*
 * chan_router.c - turns for committed inbound messages.
 *
 * A few threads, each with its own database connection, claim inbound
 * rows (FOR UPDATE SKIP LOCKED, a lease renewed by the supervisor every
 * CHAN_RENEW_MS) and ask agent-runtime for the bound agent's turn with
 * agents.message -- the gateway's blocking turn -- under caller
 * idempotency_key "channels:inbound:<row id>".  A turn asked again (the
 * claimer died, the service was killed, the reply was lost) is therefore
 * answered from agent-runtime's key instead of running twice, and 409
 * turn_in_progress means "still running": asked again a little later.
 * The answer goes into the outbox in the statement that marks the row
 * done; the outbox's unique inbound_id makes a second answer a no-op.
 *
 * Any replica's threads take any channel's rows; the outbox row is sent
 * by the replica that holds the channel's lease.  The turn is waited for
 * on this thread (an asynchronous call and a condition variable, so a
 * stop does not wait for the turn), never on a bus worker.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "bus.h"
#include "channels.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "util.h"

#define ROUTER_THREADS_MAX	8
#define ROUTER_IDLE_MS		1000	/* look for rows without a wake */
#define ROUTER_RETRY_SECS	"3"	/* a turn that did not complete */
#define ROUTER_ATTEMPTS_MAX	20	/* then the row fails */
#define ROUTER_LIST_MS		10000

struct chan_router;

/* A router thread: any row's turn, or approvals' decisions only. */
struct router_worker {
	struct chan_router	*w_r;
	int			 w_decisions;
};

struct chan_router {
	pthread_t		 r_threads[ROUTER_THREADS_MAX + 1];
	struct router_worker	 r_workers[ROUTER_THREADS_MAX + 1];
	int			 r_n;
	pthread_mutex_t		 r_mtx;
	pthread_cond_t		 r_cond;	/* wakes, call completions */
	int			 r_quit;	/* under r_mtx */
	unsigned int		 r_wakes;	/* under r_mtx */
	struct bus_client	*r_bus;
	struct chan_sup		*r_sup;
	char			 r_conninfo[1024];
	int			 r_turn_ms;
};

/* One call under way: filled by the callback, waited for by a thread. */
struct router_call {
	struct chan_router	*rc_r;
	int			 rc_done;	/* under r_mtx */
	int			 rc_err;
	int			 rc_status;
	json_t			*rc_body;
};

/* The oldest row due that matches WHERE, claimed. */
#define SQL_CLAIM_WHERE(WHERE)						\
	"UPDATE inbound SET state = 'running', claimed_by = $1, "	\
	"    lease_until = clock_timestamp() + interval '10 seconds', "	\
	"    attempts = attempts + 1 "					\
	"WHERE id = (SELECT id FROM inbound WHERE "			\
	"    ((state = 'pending' AND next_at <= clock_timestamp()) OR "	\
	"    (state = 'running' AND lease_until < clock_timestamp())) "	\
	WHERE								\
	"    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "		\
	SQL_CLAIMED

/* What a claim returns (router_turn() reads the columns by number). */
#define SQL_CLAIMED							\
	"RETURNING id, channel, coalesce(agent, ''), user_id, user_name, "	\
	"    channel_id, is_group, text, attempts, thread_id, "	\
	"    frame->'params'->>'message_id', "	\
	"    coalesce(frame->'params'->'metadata'->'was_mentioned' = "	\
	"    'true'::jsonb, false), "	\
	"    left(text, 1) = '/' OR "	\
	"    coalesce(frame->'params'->'content' ? 'Command', false), "	\
	"    coalesce((SELECT a.capabilities ?| "	\
	"    array['streaming', 'reaction'] FROM adapter_status a "	\
	"    WHERE a.channel = inbound.channel), false), "	\
	"    frame->'params'->'content'->'ButtonCallback'->>'action'"

static const char SQL_CLAIM[] = SQL_CLAIM_WHERE("");

/* The decision thread's: what chan_approve_parse() may take for an
 * approval's decision (it has the last word). */
static const char SQL_CLAIM_DECISION[] = SQL_CLAIM_WHERE(
	"    AND (text ~ '^\\s*/(approve|reject)(\\s|$)' OR "
	"    frame->'params'->'content'->'ButtonCallback'->>'action' ~ "
	"    '^(approve|reject):')");

/*
 * The answer, the agent's notices to the owner ($5: notify_owner's, one
 * row for each of the channel's notification_recipients, keyed by the
 * inbound row and the recipient's place) and the row done, at once.
 * claimed_by fences a claimer whose lease another took: its answer still
 * lands once (inbound_id and idem_key are unique), but it does not mark a
 * row it no longer holds.
 */
static const char SQL_ANSWER[] =
	"WITH o AS (INSERT INTO outbox (inbound_id, idem_key, channel, "
	"    agent_id, channel_id, recipient, thread_id, text) "
	"    SELECT id, 'channels:outbox:' || id, channel, $2::uuid, "
	"    channel_id, user_name, thread_id, $3 FROM inbound "
	"    WHERE id = $1::bigint AND $3::text IS NOT NULL "
	"    ON CONFLICT (inbound_id) DO NOTHING RETURNING 1), "
	"n AS (INSERT INTO outbox (idem_key, channel, agent_id, channel_id, "
	"    recipient, text, kind) "
	"    SELECT 'channels:notice:' || i.id || ':' || r.ord, i.channel, "
	"    $2::uuid, r.u->>'platform_id', "
	"    coalesce(r.u->>'display_name', ''), $5, 'notice' "
	"    FROM inbound i JOIN adapter_status a ON a.channel = i.channel, "
	"    jsonb_array_elements(a.recipients) WITH ORDINALITY r(u, ord) "
	"    WHERE i.id = $1::bigint AND $5::text IS NOT NULL "
	"    AND jsonb_typeof(r.u->'platform_id') = 'string' "
	"    ON CONFLICT (idem_key) DO NOTHING RETURNING 1) "
	"UPDATE inbound SET state = 'done', claimed_by = NULL, error = NULL "
	"WHERE id = $1::bigint AND claimed_by = $4";

static const char SQL_RETRY[] =
	"UPDATE inbound SET state = 'pending', claimed_by = NULL, "
	"    next_at = clock_timestamp() + interval '" ROUTER_RETRY_SECS
	"    seconds', error = $3 "
	"WHERE id = $1::bigint AND claimed_by = $2";

/* A message the channel's dm_policy or group_policy leaves alone. */
static const char SQL_IGNORE[] =
	"UPDATE inbound SET state = 'ignored', claimed_by = NULL, error = $3 "
	"WHERE id = $1::bigint AND claimed_by = $2";

static const char SQL_FAIL[] =
	"UPDATE inbound SET state = 'failed', claimed_by = NULL, error = $3 "
	"WHERE id = $1::bigint AND claimed_by = $2";

static void
router_cb(void *arg, int err, struct msg_rep *rep)
{
	struct router_call	*rc = arg;

	pthread_mutex_lock(&rc->rc_r->r_mtx);
	rc->rc_err = err;
	if (err == 0) {
		rc->rc_status = rep->mp_status;
		rc->rc_body = json_incref(rep->mp_body);
		msg_rep_release(rep);
	}
	rc->rc_done = 1;
	pthread_cond_broadcast(&rc->rc_r->r_cond);
	pthread_mutex_unlock(&rc->rc_r->r_mtx);
}

/*
 * Calls op on agent-runtime and waits for the answer or a stop.  Returns
 * the status (body in *body, new) or -1 (*body NULL): the call failed or
 * the router stops.
 */
static int
router_call(struct chan_router *r, json_t *req, int timeout_ms, json_t **body)
{
	struct router_call	 rc;
	struct bus_call		*call;
	int			 status = -1;

	*body = NULL;
	memset(&rc, 0, sizeof(rc));
	rc.rc_r = r;
	if ((call = bus_call_start(r->r_bus, SVC_AGENT_RUNTIME, req,
	    timeout_ms, router_cb, &rc)) == NULL)
		return (-1);
	pthread_mutex_lock(&r->r_mtx);
	while (!rc.rc_done && !r->r_quit)
		pthread_cond_wait(&r->r_cond, &r->r_mtx);
	pthread_mutex_unlock(&r->r_mtx);
	/* Cancels a call still under way and waits for its callback. */
	bus_call_free(call);
	if (rc.rc_done && rc.rc_err == 0) {
		status = rc.rc_status;
		*body = rc.rc_body;
	} else
		json_decref(rc.rc_body);
	return (status);
}

/* The id of agent (a UUID, or a name looked up), into id; 0, 1 when no
 * agent has that name, -1 when agent-runtime did not answer. */
static int
router_agent(struct chan_router *r, const char *agent, char *id, size_t len)
{
	json_t	*req, *body = NULL, *a;
	size_t	 i;
	int	 status, rv = 1;

	if (util_uuid_valid(agent)) {
		snprintf(id, len, "%.36s", agent);
		return (0);
	}
	if ((req = msg_request(OP_AGENTS_LIST, NULL, util_wall_ms() +
	    ROUTER_LIST_MS, NULL, NULL, NULL, NULL)) == NULL)
		return (-1);
	status = router_call(r, req, ROUTER_LIST_MS, &body);
	json_decref(req);
	if (status != 200 || !json_is_array(body)) {
		json_decref(body);
		return (-1);
	}
	json_array_foreach(body, i, a) {
		if (json_string_value(json_object_get(a, "name")) != NULL &&
		    strcmp(json_string_value(json_object_get(a, "name")),
		    agent) == 0 && json_string_value(json_object_get(a,
		    "id")) != NULL) {
			snprintf(id, len, "%s", json_string_value(
			    json_object_get(a, "id")));
			rv = 0;
			break;
		}
	}
	json_decref(body);
	return (rv);
}

static void
router_mark(struct db *db, const char *sql, const char *row,
    const char *why)
{
	const char	*p[3] = { row, svc_instance(), why };

	if (db_cmd(db, sql, 3, p) != 0)
		log_warnx("%s: could not update message %s: %s", __func__,
		    row, db_errmsg(db));
}

static void
router_why(char *why, size_t len, int status, json_t *body)
{
	const char	*e = json_string_value(json_object_get(body, "error"));

	snprintf(why, len, "the turn answered %d: %s", status,
	    e != NULL ? e : "");
}

/* The agent's lifecycle as reactions on the platform's message (when it
 * has an id): an adapter without the "reaction" capability gets none. */
static void
router_react(struct chan_router *r, PGresult *res, const char *phase)
{
	if (PQgetisnull(res, 0, 10))
		return;
	chan_sup_notify(r->r_sup, PQgetvalue(res, 0, 1), "reaction",
	    chan_cmd_reaction(PQgetvalue(res, 0, 5), PQgetvalue(res, 0, 10),
	    chan_phase_emoji(phase), phase, NULL));
}

/* Why the channel's policies leave the claimed row res alone, or NULL.
 * A channel this replica is not configured with passes: the replica that
 * runs its adapter filtered nothing, and the row is answered. */
static const char *
router_policy(PGresult *res)
{
	const struct chan_conf	*conf;
	size_t			 i, n;

	conf = chan_confs(&n);
	for (i = 0; i < n; i++)
		if (strcmp(conf[i].cc_name, PQgetvalue(res, 0, 1)) == 0)
			return (chan_policy_drop(&conf[i],
			    *PQgetvalue(res, 0, 6) == 't', PQgetvalue(res, 0,
			    3), PQgetvalue(res, 0, 4), *PQgetvalue(res, 0,
			    11) == 't', *PQgetvalue(res, 0, 12) == 't'));
	return (NULL);
}

/*
 * 1 when the sender of the claimed row res is one the channel trusts to
 * decide approvals: in its allowed_users (id or name), or one of the
 * notification_recipients (its owners) its adapter declared.
 */
static int
router_trusted(struct db *db, PGresult *res)
{
	const struct chan_conf	*conf;
	const char		*p[2], *u;
	PGresult		*r;
	json_t			*v;
	size_t			 i, j, n;
	int			 ok = 0;

	conf = chan_confs(&n);
	for (i = 0; i < n; i++)
		if (strcmp(conf[i].cc_name, PQgetvalue(res, 0, 1)) == 0)
			json_array_foreach(conf[i].cc_allowed_users, j, v)
				if ((u = json_string_value(v)) != NULL &&
				    (strcmp(u, PQgetvalue(res, 0, 3)) == 0 ||
				    strcmp(u, PQgetvalue(res, 0, 4)) == 0))
					return (1);
	p[0] = PQgetvalue(res, 0, 1);
	p[1] = PQgetvalue(res, 0, 3);
	if ((r = db_exec(db, "SELECT 1 FROM adapter_status WHERE channel = $1 "
	    "AND recipients @> jsonb_build_array(jsonb_build_object("
	    "'platform_id', $2::text))", 2, p)) != NULL)
		ok = PQntuples(r) == 1;
	PQclear(r);
	return (ok);
}

/*
 * The claimed row res is an approval's decision (cmd): asked of
 * agent-runtime as the platform user -- approvals.approve|reject, the
 * path of the HTTP routes -- and answered in the chat.  No turn runs.
 */
static void
router_approve(struct chan_router *r, struct db *db, PGresult *res,
    const struct chan_approve_cmd *cmd)
{
	const char	*row = PQgetvalue(res, 0, 0);
	const char	*channel = PQgetvalue(res, 0, 1);
	const char	*p[5], *agent;
	char		 why[256], *text = NULL;
	json_t		*req, *body = NULL, *caller, *b;
	int		 status = 0, attempts;

	attempts = (int)strtol(PQgetvalue(res, 0, 8), NULL, 10);
	if (!cmd->ac_bad) {
		caller = json_pack("{s:s, s:{s:s, s:s, s:b}}", "principal",
		    "channels", "chat_decider", "channel", channel, "user_id",
		    PQgetvalue(res, 0, 3), "trusted", router_trusted(db, res));
		if (cmd->ac_approve)
			b = cmd->ac_arg[0] != '\0' ? json_pack("{s:s}",
			    "totp_code", cmd->ac_arg) : json_object();
		else
			b = cmd->ac_arg[0] != '\0' ? json_pack("{s:s}",
			    "reason", cmd->ac_arg) : json_object();
		req = msg_request(cmd->ac_approve ? OP_APPROVALS_APPROVE :
		    OP_APPROVALS_REJECT, NULL, util_wall_ms() + ROUTER_LIST_MS,
		    caller, json_pack("{s:s}", PARAM_ID, cmd->ac_id), NULL, b);
		if (req == NULL) {
			router_mark(db, SQL_RETRY, row, "out of memory");
			return;
		}
		status = router_call(r, req, ROUTER_LIST_MS, &body);
		json_decref(req);
		if (status < 0 || status >= 500) {
			if (status < 0)
				snprintf(why, sizeof(why), "agent-runtime did "
				    "not answer (approval %s)", cmd->ac_id);
			else
				router_why(why, sizeof(why), status, body);
			log_warnx("channel '%s': message %s: %s", channel, row,
			    why);
			json_decref(body);
			if (attempts < ROUTER_ATTEMPTS_MAX) {
				router_mark(db, SQL_RETRY, row, why);
				return;
			}
			body = json_pack("{s:s}", "error", "approvals are "
			    "unavailable; try again later");
		}
	}
	log_info("channel '%s': message %s: %s %s by %s: %d", channel, row,
	    cmd->ac_approve ? "approve" : "reject", cmd->ac_bad ? "(no id)" :
	    cmd->ac_id, PQgetvalue(res, 0, 3), status);
	text = chan_approve_answer(cmd, status, body, PQgetvalue(res, 0, 4));
	agent = json_string_value(json_object_get(body, "agent_id"));
	p[0] = row;
	p[1] = agent != NULL && util_uuid_valid(agent) ? agent : NULL;
	p[2] = text;
	p[3] = svc_instance();
	p[4] = NULL;
	if (text == NULL)
		router_mark(db, SQL_RETRY, row, "out of memory");
	else if (db_cmd(db, SQL_ANSWER, 5, p) != 0)
		log_warnx("%s: could not queue the answer to message %s: %s",
		    __func__, row, db_errmsg(db));
	else
		chan_sup_wake(r->r_sup);
	free(text);
	json_decref(body);
}

/* caller.chat_origin of the claimed row res's turn (when it names its
 * sender and chat): {channel, user_id, channel_id, user_name?,
 * thread_id?}, each at most 256 bytes. */
static void
router_origin(json_t *caller, PGresult *res)
{
	static const struct {
		const char	*key;
		int		 col;
	} f[] = {
		{ "channel", 1 }, { "user_id", 3 }, { "channel_id", 5 },
		{ "user_name", 4 }, { "thread_id", 9 },
	};
	json_t		*o;
	const char	*v;
	size_t		 i;

	if ((o = json_object()) == NULL)
		return;
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		v = PQgetisnull(res, 0, f[i].col) ? "" : PQgetvalue(res, 0,
		    f[i].col);
		if (*v == '\0' || strlen(v) > 256) {
			if (i < 3) {
				json_decref(o);
				return;
			}
			continue;
		}
		json_object_set_new(o, f[i].key, json_string(v));
	}
	json_object_set_new(caller, "chat_origin", o);
}

/* Runs the turn of the claimed row res (row 0). */
static void
router_turn(struct chan_router *r, struct db *db, PGresult *res)
{
	const char	*row = PQgetvalue(res, 0, 0);
	const char	*channel = PQgetvalue(res, 0, 1);
	const char	*agent = PQgetvalue(res, 0, 2);
	const char	*reply, *notice, *p[5], *drop;
	char		 id[UTIL_UUID_LEN + 8], key[64], why[256], bound[260];
	char		 sid[CHAN_NAME_MAX + 24];
	json_t		*req, *body = NULL, *caller, *b;
	struct chan_approve_cmd cmd;
	int		 status, attempts, rv;

	attempts = (int)strtol(PQgetvalue(res, 0, 8), NULL, 10);
	/* An approval decided in the chat: no turn, whatever the
	 * policies (the decider is checked instead). */
	if (chan_approve_parse(PQgetvalue(res, 0, 7), PQgetisnull(res, 0,
	    14) ? NULL : PQgetvalue(res, 0, 14), &cmd) == 1) {
		router_approve(r, db, res, &cmd);
		return;
	}
	if ((drop = router_policy(res)) != NULL) {
		log_info("channel '%s': message %s not answered: %s", channel,
		    row, drop);
		router_mark(db, SQL_IGNORE, row, drop);
		return;
	}
	/* A binding that matches beats the channel's own agent. */
	if (chan_bind_match(db, channel, PQgetvalue(res, 0, 3),
	    PQgetvalue(res, 0, 5), PQgetisnull(res, 0, 9) ? NULL :
	    PQgetvalue(res, 0, 9), *PQgetvalue(res, 0, 6) == 't', bound,
	    sizeof(bound)) == 1)
		agent = bound;
	if (*agent == '\0') {
		router_mark(db, SQL_FAIL, row, "no agent is bound to the "
		    "channel");
		log_warnx("channel '%s': message %s dropped: no agent is bound "
		    "to the channel", channel, row);
		return;
	}
	if ((rv = router_agent(r, agent, id, sizeof(id))) != 0) {
		if (rv > 0)
			snprintf(why, sizeof(why), "no agent is named '%.128s'",
			    agent);
		else
			snprintf(why, sizeof(why), "agent-runtime did not "
			    "answer (looking up '%.128s')", agent);
		log_warnx("channel '%s': message %s: %s", channel, row, why);
		router_mark(db, attempts >= ROUTER_ATTEMPTS_MAX ? SQL_FAIL :
		    SQL_RETRY, row, why);
		return;
	}
	/* "typing" while the turn runs, for an adapter that takes it. */
	chan_sup_notify(r->r_sup, channel, "typing",
	    chan_cmd_typing(PQgetvalue(res, 0, 5)));
	router_react(r, res, "thinking");
	snprintf(key, sizeof(key), "channels:inbound:%s", row);
	caller = json_pack("{s:s, s:s}", "principal", "channels",
	    "idempotency_key", key);
	/* Where the message came from: an approval the turn needs is asked
	 * there (chan_approve.c). */
	if (caller != NULL)
		router_origin(caller, res);
	/* The turn's events go to whichever replica runs the adapter, when
	 * it streams or reacts to them (chan_stream.c); the same stream_id
	 * however often the turn is asked. */
	if (caller != NULL && *PQgetvalue(res, 0, 13) == 't') {
		chan_stream_id(sid, sizeof(sid), channel, strtoll(row, NULL,
		    10));
		json_object_set_new(caller, "stream",
		    json_string(TOPIC_CHAN_STREAM));
		json_object_set_new(caller, "stream_id", json_string(sid));
	}
	b = json_pack("{s:s, s:s, s:s, s:s, s:b}", "message",
	    PQgetvalue(res, 0, 7), "sender_id", PQgetvalue(res, 0, 3),
	    "sender_name", PQgetvalue(res, 0, 4), "channel_type", channel,
	    "is_group", *PQgetvalue(res, 0, 6) == 't');
	req = msg_request(OP_AGENTS_MESSAGE, NULL, util_wall_ms() +
	    r->r_turn_ms, caller, json_pack("{s:s}", PARAM_ID, id), NULL, b);
	if (req == NULL) {
		router_mark(db, SQL_RETRY, row, "out of memory");
		return;
	}
	status = router_call(r, req, r->r_turn_ms, &body);
	json_decref(req);
	if (status == 200) {
		/* A silent turn (or an empty answer) sends nothing. */
		reply = json_string_value(json_object_get(body, "response"));
		if (json_is_true(json_object_get(body, "silent")) ||
		    (reply != NULL && *reply == '\0'))
			reply = NULL;
		/* notify_owner's notices, to the channel's recipients. */
		notice = json_string_value(json_object_get(body,
		    "owner_notice"));
		if (notice != NULL && *notice == '\0')
			notice = NULL;
		p[0] = row;
		p[1] = id;
		p[2] = reply;
		p[3] = svc_instance();
		p[4] = notice;
		if (notice != NULL)
			log_info("channel '%s': message %s: the agent notifies "
			    "the owner (the channel's notification_recipients)",
			    channel, row);
		if (db_cmd(db, SQL_ANSWER, 5, p) != 0)
			/* The turn's key keeps the answer: the row's lease
			 * runs out and the next claim reads it. */
			log_warnx("%s: could not queue the reply to message "
			    "%s: %s", __func__, row, db_errmsg(db));
		else {
			/* The supervisor reacts "done" with the reply it
			 * sends; a silent turn sends none. */
			if (reply == NULL)
				router_react(r, res, "done");
			chan_sup_wake(r->r_sup);
		}
	} else if (status < 0 || status == 409 || status >= 500) {
		if (status < 0)
			snprintf(why, sizeof(why), "the turn did not "
			    "complete");
		else
			router_why(why, sizeof(why), status, body);
		if (status != 409)
			log_warnx("channel '%s': message %s: %s", channel, row,
			    why);
		/* 409 is the key's turn still running: not an attempt. */
		router_mark(db, attempts >= ROUTER_ATTEMPTS_MAX &&
		    status != 409 ? SQL_FAIL : SQL_RETRY, row, why);
	} else {
		router_why(why, sizeof(why), status, body);
		log_warnx("channel '%s': message %s: %s", channel, row, why);
		router_mark(db, SQL_FAIL, row, why);
		router_react(r, res, "error");
	}
	json_decref(body);
}

static void *
router_main(void *arg)
{
	struct router_worker	*w = arg;
	struct chan_router	*r = w->w_r;
	struct db		*db;
	PGresult		*res;
	struct timespec		 ts;
	const char		*p[1] = { svc_instance() };
	unsigned int		 seen;
	int			 quit;

	if ((db = db_open(r->r_conninfo, "channels")) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (NULL);
	}
	for (;;) {
		pthread_mutex_lock(&r->r_mtx);
		quit = r->r_quit;
		seen = r->r_wakes;
		pthread_mutex_unlock(&r->r_mtx);
		if (quit)
			break;
		res = db_exec(db, w->w_decisions ? SQL_CLAIM_DECISION :
		    SQL_CLAIM, 1, p);
		if (res != NULL && PQntuples(res) == 1) {
			router_turn(r, db, res);
			PQclear(res);
			continue;
		}
		if (res == NULL)
			log_debug("%s: could not claim a message: %s",
			    __func__, db_errmsg(db));
		PQclear(res);
		/* Nothing to do: wait for a wake or the idle poll. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)ROUTER_IDLE_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&r->r_mtx);
		while (!r->r_quit && r->r_wakes == seen)
			if (pthread_cond_timedwait(&r->r_cond, &r->r_mtx,
			    &ts) == ETIMEDOUT)
				break;
		pthread_mutex_unlock(&r->r_mtx);
	}
	db_close(db);
	return (NULL);
}

struct chan_router *
chan_router_start(const struct sh_config *cfg, struct chan_sup *sup,
    int nthreads)
{
	struct chan_router	*r;
	long long		 secs;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (NULL);
	}
	pthread_mutex_init(&r->r_mtx, NULL);
	pthread_cond_init(&r->r_cond, NULL);
	r->r_sup = sup;
	secs = cfg->turn_timeout_secs;
	if (secs <= 0 || secs > 86400)
		secs = 300;
	r->r_turn_ms = (int)(secs * 1000);
	db_conninfo(cfg->database_url, cfg->home_dir, r->r_conninfo,
	    sizeof(r->r_conninfo));
	if ((r->r_bus = bus_client_open(cfg->bus_url)) == NULL) {
		log_warnx("%s: could not open a bus client on '%s'", __func__,
		    cfg->bus_url);
		chan_router_stop(r);
		return (NULL);
	}
	if (nthreads > ROUTER_THREADS_MAX)
		nthreads = ROUTER_THREADS_MAX;
	/* nthreads for any row, and one more for approvals' decisions
	 * only: a decision never waits behind the turns it would resume
	 * (each holds its thread while it waits for one). */
	for (r->r_n = 0; r->r_n <= nthreads; r->r_n++) {
		r->r_workers[r->r_n].w_r = r;
		r->r_workers[r->r_n].w_decisions = r->r_n == nthreads;
		if (pthread_create(&r->r_threads[r->r_n], NULL, router_main,
		    &r->r_workers[r->r_n]) != 0) {
			log_warnx("%s: could not start a turn thread",
			    __func__);
			chan_router_stop(r);
			return (NULL);
		}
	}
	return (r);
}

void
chan_router_wake(struct chan_router *r)
{
	pthread_mutex_lock(&r->r_mtx);
	r->r_wakes++;
	pthread_cond_broadcast(&r->r_cond);
	pthread_mutex_unlock(&r->r_mtx);
}

void
chan_router_stop(struct chan_router *r)
{
	int	i;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->r_mtx);
	r->r_quit = 1;
	pthread_cond_broadcast(&r->r_cond);
	pthread_mutex_unlock(&r->r_mtx);
	for (i = 0; i < r->r_n; i++)
		pthread_join(r->r_threads[i], NULL);
	bus_client_close(r->r_bus);
	pthread_cond_destroy(&r->r_cond);
	pthread_mutex_destroy(&r->r_mtx);
	free(r);
}
