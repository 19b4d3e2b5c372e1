/*
 * a2a/hook.c - the inbound webhooks' side here (POST /hooks/wake and
 * POST /hooks/agent, kernel.md 8.6): hooks.wake and hooks.agent.
 *
 * The gateway (gw_hooks.c) has already checked LIBREFANG_WEBHOOK_TOKEN;
 * these operations check the body and act:
 *	hooks.wake   publishes a Custom event {type: "webhook.wake", source:
 *		     "webhook", mode, text} on TOPIC_EVENTS, the way a cron
 *		     job's system_event does, so the scheduler's triggers
 *		     (content_match, all) fire on it;
 *	hooks.agent  runs one turn of the named agent (id or name; the
 *		     oldest agent when none is named) with agents.message on
 *		     the A2A inbound lane (a pool thread waits for the turn,
 *		     never a bus worker), and answers the reference's shape
 *		     {status: "completed", agent_id, response, usage}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "a2a/a2a.h"
#include "bus.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "services.h"

#define HOOK_WAKE_TEXT_MAX	4096
#define HOOK_MESSAGE_MAX	16384
#define HOOK_TIMEOUT_DEFAULT	120
#define HOOK_TIMEOUT_MAX	600

static const char SQL_AGENT_PICK[] =
	"SELECT id::text FROM agents "
	"WHERE $1::text IS NULL OR id::text = lower($1) OR name = $1 "
	"ORDER BY (id::text = lower(coalesce($1, ''))) DESC, created_at, id "
	"LIMIT 1";

/* body[key] as a string of 1..max bytes without NUL; -1 with 400 sent. */
static int
hook_text(json_t *body, const char *key, size_t max, const char **out,
    struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key);

	if (!json_is_string(v) || json_string_length(v) == 0) {
		svc_reply_error(rp, 400, "'%s' must be a non-empty string",
		    key);
		return (-1);
	}
	if (json_string_length(v) > max) {
		svc_reply_error(rp, 400, "'%s' is longer than %zu bytes", key,
		    max);
		return (-1);
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		svc_reply_error(rp, 400, "'%s' contains a NUL character",
		    key);
		return (-1);
	}
	*out = json_string_value(v);
	return (0);
}

static void
op_wake(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct agent_state	*as = c->sc_arg;
	json_t			*body = rq->mr_body, *ev, *v;
	const char		*text, *mode = "now";
	int			 rv;

	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "request body must be a JSON object");
		return;
	}
	if (hook_text(body, "text", HOOK_WAKE_TEXT_MAX, &text, rp) != 0)
		return;
	if ((v = json_object_get(body, "mode")) != NULL && !json_is_null(v)) {
		mode = json_string_value(v);
		if (mode == NULL || (strcmp(mode, "now") != 0 &&
		    strcmp(mode, "next_heartbeat") != 0 &&
		    strcmp(mode, "event") != 0)) {
			svc_reply_error(rp, 400, "'mode' must be \"now\", "
			    "\"next_heartbeat\" or \"event\"");
			return;
		}
	}
	ev = msg_event("", "Custom", json_pack("{s:s, s:s, s:s, s:s}", "type",
	    "webhook.wake", "source", "webhook", "mode", mode, "text", text),
	    0);
	if (ev == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	pthread_mutex_lock(&as->as_pub_mtx);
	rv = bus_publish(as->as_pub, TOPIC_EVENTS, ev);
	pthread_mutex_unlock(&as->as_pub_mtx);
	if (rv != 0) {
		log_warnx("%s: could not publish the wake event", __func__);
		json_decref(ev);
		svc_reply_error(rp, 503, "the event could not be published");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:O}", "status",
	    "accepted", "mode", mode, "event_id", json_object_get(ev, "id")));
	json_decref(ev);
}

/* Runs on a pool thread: the turn, then the reference's answer. */
static void
hook_run(struct agent_state *as, struct db *db, struct svc_pending *sp,
    json_t *arg)
{
	struct msg_rep	 rep;
	json_t		*req, *out, *b;
	const char	*aid = json_string_value(json_object_get(arg, "id"));
	long long	 timeout;
	int		 rv = SH_EUNAVAIL;

	(void)db;
	memset(&rep, 0, sizeof(rep));
	timeout = json_integer_value(json_object_get(arg, "timeout_ms"));
	req = msg_request(OP_AGENTS_MESSAGE, NULL, util_wall_ms() + timeout,
	    json_pack("{s:s}", "principal", "webhook"),
	    json_pack("{s:s}", PARAM_ID, aid), NULL,
	    json_pack("{s:O}", "message", json_object_get(arg, "message")));
	if (req != NULL && as->as_bus != NULL)
		rv = bus_call(as->as_bus, SVC_AGENT_RUNTIME, req, (int)timeout,
		    &rep);
	json_decref(req);
	if (rv != 0) {
		svc_pending_reply(sp, rv == SH_ETIMEDOUT ? 504 : 503,
		    msg_error_body("the agent's turn did not run (%s)",
		    sh_strerror(rv)));
		return;
	}
	b = rep.mp_body;
	if (rep.mp_status != 200)
		out = json_incref(b);
	else if ((out = json_pack("{s:s, s:s, s:s, s:{s:I, s:I}}", "status",
	    "completed", "agent_id", aid, "response", json_string_value(
	    json_object_get(b, "response")) ?: "", "usage", "input_tokens",
	    json_integer_value(json_object_get(b, "input_tokens")),
	    "output_tokens", json_integer_value(json_object_get(b,
	    "output_tokens")))) == NULL)
		out = msg_error_body("out of memory");
	svc_pending_reply(sp, rep.mp_status == 200 &&
	    json_object_get(out, "error") != NULL ? 500 : rep.mp_status, out);
	msg_rep_release(&rep);
}

static void
op_agent(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t			*body = rq->mr_body, *row, *v, *arg;
	const char		*msg, *agent = NULL, *p[1];
	long long		 timeout = HOOK_TIMEOUT_DEFAULT;
	int			 err;

	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "request body must be a JSON object");
		return;
	}
	if (hook_text(body, "message", HOOK_MESSAGE_MAX, &msg, rp) != 0)
		return;
	if ((v = json_object_get(body, "agent")) != NULL && !json_is_null(v) &&
	    hook_text(body, "agent", 256, &agent, rp) != 0)
		return;
	if ((v = json_object_get(body, "timeout_secs")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > HOOK_TIMEOUT_MAX) {
			svc_reply_error(rp, 400, "'timeout_secs' must be an "
			    "integer from 1 to %d", HOOK_TIMEOUT_MAX);
			return;
		}
		timeout = json_integer_value(v);
	}
	p[0] = agent;
	row = db_one_json(db_exec(c->sc_db, SQL_AGENT_PICK, 1, p), &err);
	if (row == NULL) {
		if (err == SH_ENOTFOUND && agent != NULL)
			svc_reply_error(rp, 404, "agent '%s' not found",
			    agent);
		else if (err == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "no agent to run the "
			    "message");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	timeout *= 1000;
	if (rq->mr_deadline > 0 && rq->mr_deadline - util_wall_ms() < timeout)
		timeout = rq->mr_deadline - util_wall_ms();
	if (timeout < 1)
		timeout = 1;
	arg = json_pack("{s:O, s:s, s:I}", "id", json_object_get(row, "id"),
	    "message", msg, "timeout_ms", (json_int_t)timeout);
	json_decref(row);
	if (arg == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	(void)a2a_queue(rq, rp, A2A_LANE_IN, hook_run, arg);
}

const struct svc_op a2a_hook_ops[] = {
	{ OP_HOOKS_WAKE,	op_wake },
	{ OP_HOOKS_AGENT,	op_agent },
	{ NULL, NULL },
};
