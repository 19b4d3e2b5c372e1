/*
 * approval/gate.c - a turn that waits for a human (approval/approval.h).
 *
 * A paused turn is one entry in a list: no job, no thread.  One listener
 * thread receives the decisions announced on TOPIC_APPROVALS (by any
 * replica) and wakes the turn waiting on that request; every
 * APPROVAL_POLL_MS it also wakes each waiter for a read of its row (an
 * announcement lost on PUB/SUB only delays), and at once a waiter whose
 * request has expired or whose turn was interrupted.  To wake is to
 * unlink the entry and queue the turn's resume job; the job reads the
 * row (approval_resume()) and either goes on or waits again.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approval/approval.h"
#include "agent/agent.h"
#include "bus.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "tool/tool.h"
#include "turn/pool.h"
#include "turn/turn.h"
#include "util.h"

#define GATE_PROMPT_MS	3000	/* channels.approval_prompt */

struct approval_waiter {
	struct approval_waiter	*w_next;
	struct turn		*w_turn;
	approval_resume_fn	 w_fn;
	uint64_t		 w_poll;	/* monotonic ms: next read */
};

static struct {
	pthread_mutex_t		 mtx;		/* list */
	struct approval_waiter	*list;
	struct bus_sub		*sub;
	pthread_t		 thread;
	int			 running;
	atomic_int		 stop;
} ag = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
};

/* t waits (again) on t->t_appr_id; fn resumes it. */
static void
approval_wait(struct turn *t, approval_resume_fn fn)
{
	struct approval_waiter	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		/* No entry: poll by a delayed job instead. */
		if (turn_queue(t, fn, APPROVAL_POLL_MS) != 0)
			log_warnx("%s: out of memory: turn %s lost", __func__,
			    t->t_session_id);
		return;
	}
	w->w_turn = t;
	w->w_fn = fn;
	w->w_poll = util_now_ms() + APPROVAL_POLL_MS;
	pthread_mutex_lock(&ag.mtx);
	/* The first waiter: the listener waits without a deadline while
	 * none waits, and its checks start now. */
	if (ag.list == NULL)
		bus_sub_wake(ag.sub);
	w->w_next = ag.list;
	ag.list = w;
	pthread_mutex_unlock(&ag.mtx);
}

/*
 * Wakes the waiters on id (NULL: those due for a poll, expired or
 * interrupted; all: every one).  Their jobs are queued after the list's
 * lock is let go.
 */
static void
approval_wake(const char *id, int all)
{
	struct approval_waiter	**wp, *w, *woke = NULL;
	uint64_t		  now = util_now_ms();
	int64_t			  wall = util_wall_ms();
	struct turn		 *t;

	pthread_mutex_lock(&ag.mtx);
	for (wp = &ag.list; (w = *wp) != NULL;) {
		t = w->w_turn;
		if (all || (id != NULL && strcmp(t->t_appr_id, id) == 0) ||
		    (id == NULL && (w->w_poll <= now ||
		    wall >= t->t_appr_expires || t->t_interrupted))) {
			*wp = w->w_next;
			w->w_next = woke;
			woke = w;
		} else
			wp = &w->w_next;
	}
	pthread_mutex_unlock(&ag.mtx);
	while ((w = woke) != NULL) {
		woke = w->w_next;
		if (turn_queue(w->w_turn, w->w_fn, 0) != 0)
			log_warnx("%s: out of memory: turn %s lost", __func__,
			    w->w_turn->t_session_id);
		free(w);
	}
}

static void *
approval_main(void *arg)
{
	char		*topic;
	json_t		*body;
	const char	*id;
	int		 wait;

	(void)arg;
	while (!atomic_load(&ag.stop)) {
		/* Waiters are checked every 100 ms; with none, nothing is
		 * due until the first comes or a stop (bus_sub_wake()). */
		pthread_mutex_lock(&ag.mtx);
		wait = ag.list != NULL ? 100 : -1;
		pthread_mutex_unlock(&ag.mtx);
		if (ag.sub == NULL)
			util_sleep_ms(100);
		else if (bus_sub_recv(ag.sub, wait, &topic, &body) == 0) {
			if ((id = json_string_value(json_object_get(body,
			    "id"))) != NULL)
				approval_wake(id, 0);
			free(topic);
			json_decref(body);
		}
		approval_wake(NULL, 0);
	}
	return (NULL);
}

int
approval_start(const struct sh_config *cfg)
{
	if ((ag.sub = bus_sub_open(cfg->bus_url)) == NULL ||
	    bus_subscribe(ag.sub, TOPIC_APPROVALS) != 0) {
		log_warnx("%s: could not listen on '%s'; paused turns learn "
		    "of decisions by polling", __func__, TOPIC_APPROVALS);
		bus_sub_close(ag.sub);
		ag.sub = NULL;
	}
	atomic_store(&ag.stop, 0);
	if (pthread_create(&ag.thread, NULL, approval_main, NULL) != 0) {
		log_warnx("%s: could not start the approvals listener",
		    __func__);
		bus_sub_close(ag.sub);
		ag.sub = NULL;
		return (-1);
	}
	ag.running = 1;
	return (0);
}

void
approval_stop(void)
{
	struct approval_waiter	*w;
	struct bus_sub		*sub;

	if (ag.running) {
		atomic_store(&ag.stop, 1);
		bus_sub_wake(ag.sub);
		pthread_join(ag.thread, NULL);
		ag.running = 0;
	}
	/* Unset under the lock a new waiter wakes it under. */
	pthread_mutex_lock(&ag.mtx);
	sub = ag.sub;
	ag.sub = NULL;
	pthread_mutex_unlock(&ag.mtx);
	bus_sub_close(sub);
	/* turn_shutdown() ended every turn; what is left has no pool. */
	pthread_mutex_lock(&ag.mtx);
	while ((w = ag.list) != NULL) {
		ag.list = w->w_next;
		free(w);
	}
	pthread_mutex_unlock(&ag.mtx);
}

/* ---- the turn's side ------------------------------------------------------ */

/* A stream event of t about its request. */
static void
approval_event(struct turn *t, json_t *ev)
{
	if (ev == NULL)
		return;
	turn_event(t, ev);
	json_decref(ev);
}

/* The call's hash: $1 tool, $2 input (JSON text), normalised. */
static const char SQL_HASH[] = "SELECT md5($1 || ':' || $2::jsonb::text)";

static const char SQL_FIND[] =
    "SELECT id, status, timeout_secs, fallback, "
    "(extract(epoch FROM expires_at) * 1000)::bigint FROM approvals "
    "WHERE agent_id = $1 AND turn_key = $2 AND call_hash = $3 "
    "ORDER BY requested_at DESC LIMIT 1";

static const char SQL_HOLD[] =
    "UPDATE approvals SET holder = $2, session_id = coalesce($3::uuid, "
    "session_id) WHERE id = $1 AND status = 'pending'";

static const char SQL_READ[] =
    "SELECT status, expires_at <= clock_timestamp(), reason, feedback, "
    "timeout_secs, fallback, tool_name FROM approvals WHERE id = $1";

/* What the model is told of a decided request (r set), or APPROVAL_RUN
 * when approved. */
static enum approval_verdict
approval_outcome(struct turn *t, const char *status, const char *tool,
    const char *reason, const char *feedback, int timeout, int skip,
    struct tool_result *r)
{
	json_t	*ev;

	ev = json_pack("{s:s, s:s, s:s}", "type", "approval_resolved",
	    "approval_id", t->t_appr_id, "decision", status);
	approval_event(t, ev);
	if (strcmp(status, "approved") == 0)
		return (APPROVAL_RUN);
	if (strcmp(status, "rejected") == 0)
		(void)tool_result_set(r, 1, 0, "Denied: the user rejected this "
		    "call to '%s' (approval %s)%s%.1024s. Do not retry it "
		    "unchanged.", tool, t->t_appr_id, reason != NULL &&
		    *reason != '\0' ? ": " : "", reason != NULL ? reason : "");
	else if (strcmp(status, "modified") == 0)
		(void)tool_result_set(r, 1, 0, "Not run: the user asked for a "
		    "change instead (approval %s): %.1024s. Adjust the call "
		    "and try again.", t->t_appr_id, feedback != NULL ?
		    feedback : "");
	else if (strcmp(status, "timed_out") == 0 && !skip)
		(void)tool_result_set(r, 1, 0, "Denied: no decision on the "
		    "approval request for '%s' within %d s (approval %s timed "
		    "out).", tool, timeout, t->t_appr_id);
	else
		(void)tool_result_set(r, 1, 0, "Skipped: the call to '%s' was "
		    "not run (approval %s %s).", tool, t->t_appr_id,
		    strcmp(status, "timed_out") == 0 ? "timed out" : status);
	return (r->tr_content != NULL ? APPROVAL_RESULT : APPROVAL_ERROR);
}

/* A short text of the call for a human: "Execute: <command>" for the
 * shell, else the tool and its input. */
static void
approval_describe(const char *name, json_t *input, char *out, size_t outlen)
{
	const char	*cmd = json_string_value(json_object_get(input,
			    "command"));
	char		*s;

	if (strcmp(name, "shell_exec") == 0 && cmd != NULL) {
		snprintf(out, outlen, "Execute: %s", cmd);
		return;
	}
	s = json_dumps(input != NULL ? input : json_null(), JSON_COMPACT |
	    JSON_ENCODE_ANY | JSON_SORT_KEYS);
	snprintf(out, outlen, "%s %s", name, s != NULL ? s : "");
	free(s);
}

/* Cuts s to at most max bytes on a UTF-8 character boundary. */
static void
approval_cut(char *s, size_t max)
{
	size_t	n = strlen(s);

	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	s[n] = '\0';
}

/* t starts waiting on t_appr_id: the pending event, then the list. */
static enum approval_verdict
approval_pause(struct turn *t, const char *name, const char *risk,
    const char *desc, approval_resume_fn resume)
{
	json_t	*ev;

	ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "type",
	    "approval_requested", "approval_id", t->t_appr_id, "tool_name",
	    name, "risk_level", risk, "description", desc, "timeout_secs",
	    t->t_appr_timeout);
	approval_event(t, ev);
	log_info("turn of agent %s waits for approval %s (tool '%s')",
	    t->t_agent_id, t->t_appr_id, name);
	approval_wait(t, resume);
	return (APPROVAL_PAUSED);
}

/* A request's stored timeout_secs, checked (the column is validated on
 * the way in; a value out of bounds reads as the longest allowed). */
static int
gate_secs(const char *s)
{
	long long	v;

	if (util_strtonum(s, APPROVAL_TIMEOUT_MIN, APPROVAL_TIMEOUT_MAX,
	    &v) != 0)
		v = APPROVAL_TIMEOUT_MAX;
	return ((int)v);
}

/* The chat origin's string key (borrowed), or NULL. */
static const char *
gate_origin(const struct turn *t, const char *key)
{
	return (json_string_value(json_object_get(t->t_chat_origin, key)));
}

/*
 * A request of a turn the channels router started is asked in its chat:
 * channels.approval_prompt queues the question (buttons, or the
 * /approve text) in the channels' outbox, sent by whichever replica runs
 * the channel's adapter.  Best effort: the request stands (and is
 * decided over the API) when the channels service does not answer.
 * outcome "timed_out": the chat is told nobody decided in time.
 */
static void
gate_prompt(struct turn *t, const char *tool, const char *risk,
    const char *summary, int timeout_secs, const char *outcome)
{
	struct msg_rep	 rep;
	json_t		*req;
	int		 rv;

	if (t->t_chat_origin == NULL || t->t_as == NULL ||
	    t->t_as->as_bus == NULL)
		return;
	req = msg_request(OP_CHANNELS_APPROVAL_PROMPT, NULL, util_wall_ms() +
	    GATE_PROMPT_MS, json_pack("{s:s}", "principal", "agent-runtime"),
	    NULL, NULL, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:O, s:s*}",
	    "approval_id", t->t_appr_id, "agent_id", t->t_agent_id,
	    "tool_name", tool, "risk_level", risk, "summary", summary,
	    "timeout_secs", timeout_secs, "origin", t->t_chat_origin,
	    "outcome", outcome));
	if (req == NULL)
		return;
	rv = bus_call(t->t_as->as_bus, SVC_CHANNELS, req, GATE_PROMPT_MS,
	    &rep);
	json_decref(req);
	if (rv != 0) {
		log_warnx("approval %s: the chat of channel '%s' was not "
		    "reached: %s", t->t_appr_id, gate_origin(t, "channel") ?: "?",
		    sh_strerror(rv));
		return;
	}
	if (rep.mp_status != 200)
		log_warnx("approval %s: the chat of channel '%s' was not "
		    "reached: %d", t->t_appr_id, gate_origin(t, "channel") ?: "?",
		    rep.mp_status);
	msg_rep_release(&rep);
}

enum approval_verdict
approval_gate(struct turn *t, struct db *db, const char *id,
    const char *name, json_t *input, struct tool_result *r,
    approval_resume_fn resume)
{
	struct approval_policy	 pol;
	struct approval_new	 an;
	PGresult		*res;
	const char		*p[4];
	char			 hash[40] = "", desc[APPROVAL_DESC_MAX + 1];
	char			 summary[APPROVAL_SUMMARY_MAX + 1], *in;
	char			*origin = NULL;
	const char		*risk = approval_risk_name(approval_risk(name));
	int			 rv;

	approval_policy(t->t_manifest, &pol);
	if (!approval_needed(&pol, name, gate_origin(t, "user_id"),
	    gate_origin(t, "channel")))
		return (APPROVAL_RUN);
	t->t_appr_id[0] = '\0';
	if ((in = json_dumps(input != NULL ? input : json_object(),
	    JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return (APPROVAL_ERROR);
	p[0] = name;
	p[1] = in;
	res = db_exec(db, SQL_HASH, 2, p);
	free(in);
	if (res == NULL)
		return (APPROVAL_ERROR);
	snprintf(hash, sizeof(hash), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	/* A keyed turn retried: its dead run's request for this call. */
	if (t->t_idem_key[0] != '\0') {
		p[0] = t->t_agent_id;
		p[1] = t->t_idem_key;
		p[2] = hash;
		if ((res = db_exec(db, SQL_FIND, 3, p)) == NULL)
			return (APPROVAL_ERROR);
		if (PQntuples(res) == 1) {
			snprintf(t->t_appr_id, sizeof(t->t_appr_id), "%s",
			    PQgetvalue(res, 0, 0));
			t->t_appr_timeout = gate_secs(PQgetvalue(res, 0, 2));
			t->t_appr_skip = strcmp(PQgetvalue(res, 0, 3),
			    "skip") == 0;
			t->t_appr_expires = strtoll(PQgetvalue(res, 0, 4),
			    NULL, 10);
			PQclear(res);
			p[0] = t->t_appr_id;
			p[1] = svc_instance();
			p[2] = t->t_ephemeral ? NULL : t->t_session_id;
			(void)db_cmd(db, SQL_HOLD, 3, p);
			log_info("turn of agent %s (key %s) takes up approval "
			    "%s", t->t_agent_id, t->t_idem_key, t->t_appr_id);
			return (approval_resume(t, db, r, resume));
		}
		PQclear(res);
	}
	approval_describe(name, input, desc, sizeof(desc));
	approval_cut(desc, APPROVAL_DESC_MAX);
	memcpy(summary, desc, sizeof(summary) - 1);
	summary[sizeof(summary) - 1] = '\0';
	approval_cut(summary, APPROVAL_SUMMARY_MAX);
	memset(&an, 0, sizeof(an));
	an.an_agent_id = t->t_agent_id;
	an.an_tool = name;
	an.an_description = desc;
	an.an_summary = summary;
	an.an_origin = "turn";
	an.an_timeout_secs = pol.ap_timeout_secs;
	an.an_fallback_skip = pol.ap_fallback_skip;
	an.an_session_id = t->t_ephemeral ? NULL : t->t_session_id;
	an.an_tool_use_id = id;
	an.an_turn_key = t->t_idem_key[0] != '\0' ? t->t_idem_key : NULL;
	an.an_call_hash = hash;
	if (t->t_chat_origin != NULL && (origin = json_dumps(
	    t->t_chat_origin, JSON_COMPACT)) == NULL)
		return (APPROVAL_ERROR);
	an.an_chat_origin = origin;
	rv = approval_create(db, &an, t->t_appr_id);
	free(origin);
	if (rv < 0 && rv != SH_ENOTFOUND)
		return (APPROVAL_ERROR);
	if (rv != 0) {
		t->t_appr_id[0] = '\0';
		(void)tool_result_set(r, 1, 0, "Denied: '%s' needs an approval "
		    "and %s", name, rv == 1 ? "this agent already has "
		    "the most pending approval requests allowed; try again "
		    "later" : "the agent is gone");
		return (r->tr_content != NULL ? APPROVAL_RESULT :
		    APPROVAL_ERROR);
	}
	t->t_appr_timeout = pol.ap_timeout_secs;
	t->t_appr_skip = pol.ap_fallback_skip;
	t->t_appr_expires = util_wall_ms() + (int64_t)pol.ap_timeout_secs *
	    1000;
	approval_announce_request(t->t_as, t->t_appr_id, t->t_agent_id, name,
	    risk, desc, pol.ap_timeout_secs);
	gate_prompt(t, name, risk, summary, pol.ap_timeout_secs, NULL);
	return (approval_pause(t, name, risk, desc, resume));
}

enum approval_verdict
approval_resume(struct turn *t, struct db *db, struct tool_result *r,
    approval_resume_fn resume)
{
	PGresult		*res;
	const char		*p[1] = { t->t_appr_id };
	char			 status[16], tool[APPROVAL_TOOL_MAX + 1];
	char			*reason, *feedback;
	json_t			*row = NULL;
	enum approval_verdict	 v;
	int			 expired, rv, tries;

	for (tries = 0; tries < 2; tries++) {
		if ((res = db_exec(db, SQL_READ, 1, p)) == NULL)
			return (APPROVAL_ERROR);
		if (PQntuples(res) == 0) {
			PQclear(res);
			(void)tool_result_set(r, 1, 0, "Denied: approval "
			    "request %s is gone", t->t_appr_id);
			return (r->tr_content != NULL ? APPROVAL_RESULT :
			    APPROVAL_ERROR);
		}
		snprintf(status, sizeof(status), "%s", PQgetvalue(res, 0, 0));
		expired = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		t->t_appr_timeout = gate_secs(PQgetvalue(res, 0, 4));
		t->t_appr_skip = strcmp(PQgetvalue(res, 0, 5), "skip") == 0;
		snprintf(tool, sizeof(tool), "%s", PQgetvalue(res, 0, 6));
		if (strcmp(status, "pending") != 0) {
			reason = PQgetisnull(res, 0, 2) ? NULL :
			    PQgetvalue(res, 0, 2);
			feedback = PQgetisnull(res, 0, 3) ? NULL :
			    PQgetvalue(res, 0, 3);
			v = approval_outcome(t, status, tool, reason, feedback,
			    t->t_appr_timeout, t->t_appr_skip, r);
			PQclear(res);
			/* The chat that was asked hears that time ran out
			 * (whoever marked it: the key makes it once). */
			if (strcmp(status, "timed_out") == 0)
				gate_prompt(t, tool, approval_risk_name(
				    approval_risk(tool)), "", t->t_appr_timeout,
				    "timed_out");
			return (v);
		}
		PQclear(res);
		if (turn_stopping()) {
			/* Left pending: a keyed retry elsewhere takes it up. */
			(void)tool_result_set(r, 1, 0, "Skipped: agent-runtime "
			    "is shutting down while approval %s is pending",
			    t->t_appr_id);
			return (APPROVAL_RESULT);
		}
		if (!expired && !t->t_interrupted)
			break;
		rv = approval_decide(db, t->t_appr_id, t->t_interrupted ?
		    "skipped" : "timed_out", t->t_interrupted ? "interrupt" :
		    "timeout", NULL, NULL, 0, &row);
		if (rv == 0)
			approval_announce(t->t_as, row);
		json_decref(row);
		row = NULL;
		if (rv < 0 && rv != SH_ENOTFOUND)
			return (APPROVAL_ERROR);
		/* Decided here or by someone just before: read it again. */
	}
	if (tries == 2) {
		(void)tool_result_set(r, 1, 0, "Denied: approval %s could not "
		    "be settled", t->t_appr_id);
		return (APPROVAL_RESULT);
	}
	approval_wait(t, resume);
	return (APPROVAL_PAUSED);
}
