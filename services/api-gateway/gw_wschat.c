/*
 * gw_wschat.c - what is said on the agent's WebSocket: the chat protocol
 * of notes agent-core.md 4.12 and the reference's "WebSocket Protocol"
 * (see gw_ws.h for the socket and codec parts).
 *
 * Client -> server (text messages):
 *	{"type":"message","content":"..","message_id"?:..,
 *	 "idempotency_key"?:".."}  (or plain text)
 *	{"type":"command","command":"new|reset|..","args"?:".."}
 *	{"type":"ping"}
 *	plain text or content "/name args" for a known command name
 * Server -> client:
 *	connected {agent_id, agent_name}, thinking, text_delta {content},
 *	thinking_delta {content}, tool_start {tool, id}, tool_end {tool, id,
 *	input}, tool_result {tool, id, input, result, is_error}, phase
 *	{phase, detail}, approval_requested {approval_id, tool_name,
 *	risk_level, description, timeout_secs}, approval_resolved
 *	{approval_id, decision}, response {content, input_tokens, output_tokens,
 *	iterations, cost_usd, ..} or silent_complete, error {content, code?},
 *	command_result {command, message}, pong, agents_updated {agents}.
 *	response, silent_complete, error and command_result echo the
 *	client's message_id.
 *
 * One turn runs per socket at a time; messages sent meanwhile wait in a
 * short queue.  A turn's events arrive on the turn subscriber's thread
 * and its reply on an nng thread: they are turned into messages there and
 * posted to the socket (gw_ws_post); what needs the WebSocket thread
 * (ending the turn, starting the next, answering a command) is done in
 * gw_chat_service() after a wake.  One agents.list every GW_WS_POLL_MS
 * feeds agents_updated to every socket.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bus.h"
#include "err.h"
#include "gateway.h"
#include "gw_ws.h"
#include "log.h"
#include "services.h"

#define GW_CHAT_QUEUE_MAX	8	/* messages waiting for a turn */
#define GW_CHAT_OPS_MAX		8	/* commands in flight */

/* A slash command waiting on the bus. */
struct gw_wsop {
	struct gw_wsop		*o_next;	/* c_ops, WebSocket thread */
	struct gw_chat		*o_chat;
	struct bus_call		*o_call;
	char			 o_cmd[16];
	char			*o_args;
	json_t			*o_msgid;
	int			 o_done;	/* under c_mtx */
	int			 o_err;
	struct msg_rep		 o_rep;
};

struct gw_chat {
	struct gw_ws		*c_ws;
	char			*c_agent_id;
	char			*c_agent_name;
	char			*c_session;	/* ?session_id= or NULL */

	/* WebSocket thread only */
	int			 c_verbose;	/* 0 off, 1 on, 2 full */
	json_t			*c_queue;	/* [{content, message_id}] */
	struct gw_wsop		*c_ops;
	int			 c_nops;
	struct gw_turn		*c_turn;

	/* shared with the turn's and the commands' callbacks */
	pthread_mutex_t		 c_mtx;
	json_t			*c_msgid;	/* the turn's message_id */
	int			 c_turn_over;
	int			 c_tverbose;	/* c_verbose at its start */
};

static const struct sh_config	*gw_chat_cfg;
static struct bus_client	*gw_chat_bus;

/* The agents_updated poller: the call on the WebSocket thread, its
 * result under gw_chat_mtx. */
static struct bus_call		*gw_chat_pollc;
static pthread_mutex_t		 gw_chat_mtx = PTHREAD_MUTEX_INITIALIZER;
static json_t			*gw_chat_agents;
static int			 gw_chat_polled;

void
gw_chat_init(const struct sh_config *cfg, struct bus_client *bc)
{
	gw_chat_cfg = cfg;
	gw_chat_bus = bc;
}

/* Adds "message_id" to v (a new object) when msgid is set. */
static json_t *
gw_chat_with_id(json_t *v, json_t *msgid)
{
	if (v != NULL && msgid != NULL)
		json_object_set(v, "message_id", msgid);
	return (v);
}

/* ---- turns ----------------------------------------------------------- */

/* Runs on the subscriber thread: one event of the chat's turn. */
static void
gw_chat_turn_event(void *arg, json_t *ev)
{
	struct gw_chat	*ch = arg;
	const char	*type;
	json_t		*out = NULL, *end = NULL, *name, *id, *input;
	int		 verbose;

	if ((type = json_string_value(json_object_get(ev, "type"))) == NULL)
		return;
	name = json_object_get(ev, "name");
	id = json_object_get(ev, "id");
	input = json_object_get(ev, "input");
	if (name == NULL)
		name = json_null();
	if (id == NULL)
		id = json_null();
	if (input == NULL)
		input = json_null();
	pthread_mutex_lock(&ch->c_mtx);
	verbose = ch->c_tverbose;
	pthread_mutex_unlock(&ch->c_mtx);
	if (strcmp(type, "text_delta") == 0 ||
	    strcmp(type, "thinking_delta") == 0) {
		if (json_is_string(json_object_get(ev, "text")))
			out = json_pack("{s:s, s:O}", "type", type, "content",
			    json_object_get(ev, "text"));
	} else if (strcmp(type, "tool_use") == 0) {
		out = json_pack("{s:s, s:O, s:O}", "type", "tool_start",
		    "tool", name, "id", id);
	} else if (strcmp(type, "tool_result") == 0) {
		end = json_pack("{s:s, s:O, s:O, s:O}", "type", "tool_end",
		    "tool", name, "id", id, "input", input);
		out = json_pack("{s:s, s:O, s:O, s:O, s:b}", "type",
		    "tool_result", "tool", name, "id", id, "input", input,
		    "is_error", json_is_true(json_object_get(ev, "is_error")));
		if (out != NULL && verbose > 0 &&
		    json_object_get(ev, "content") != NULL)
			json_object_set(out, "result",
			    json_object_get(ev, "content"));
	} else if (strcmp(type, "phase") == 0) {
		out = json_pack("{s:s, s:O, s:O}", "type", "phase", "phase",
		    json_object_get(ev, "phase") != NULL ?
		    json_object_get(ev, "phase") : json_null(), "detail",
		    json_object_get(ev, "detail") != NULL ?
		    json_object_get(ev, "detail") : json_null());
	} else if (strcmp(type, "approval_requested") == 0 ||
	    strcmp(type, "approval_resolved") == 0) {
		if ((out = json_copy(ev)) != NULL) {
			json_object_del(out, "stream_id");
			json_object_del(out, "seq");
		}
	}
	/* A socket that cannot take more is closed by its thread. */
	if (end != NULL)
		gw_ws_post(ch->c_ws, end);
	if (out != NULL)
		gw_ws_post(ch->c_ws, out);
}

/* The turn's reply (nng or subscriber thread). */
static void
gw_chat_turn_done(void *arg, int err, struct msg_rep *rep)
{
	struct gw_chat	*ch = arg;
	json_t		*out, *body, *v, *msgid;
	const char	*k, *msg;

	if (err != 0)
		out = json_pack("{s:s, s:s}", "type", "error", "content",
		    err == SH_ETIMEDOUT ? "The agent did not answer in time" :
		    "agent-runtime is unavailable");
	else if (rep->mp_status >= 400) {
		msg = json_string_value(json_object_get(rep->mp_body,
		    "error"));
		/* With its code, when it has one (turn_in_progress: the
		 * message's key is running; ask again later). */
		out = json_pack("{s:s, s:s, s:O*}", "type", "error",
		    "content", msg != NULL ? msg : "The turn failed", "code",
		    json_object_get(rep->mp_body, "code"));
	} else {
		body = rep->mp_body;
		out = json_pack("{s:s, s:O}", "type",
		    json_is_true(json_object_get(body, "silent")) ?
		    "silent_complete" : "response", "content",
		    json_object_get(body, "response") != NULL ?
		    json_object_get(body, "response") : json_string(""));
		json_object_foreach(body, k, v) {
			if (out != NULL && strcmp(k, "response") != 0 &&
			    strcmp(k, "events") != 0 &&
			    strcmp(k, "type") != 0)
				json_object_set(out, k, v);
		}
	}
	pthread_mutex_lock(&ch->c_mtx);
	msgid = json_incref(ch->c_msgid);
	pthread_mutex_unlock(&ch->c_mtx);
	if (gw_ws_post(ch->c_ws, gw_chat_with_id(out, msgid)) != 0)
		log_debug("%s: a reply frame was lost", __func__);
	json_decref(msgid);
	/* After the reply's frame: the next turn starts behind it. */
	pthread_mutex_lock(&ch->c_mtx);
	ch->c_turn_over = 1;
	pthread_mutex_unlock(&ch->c_mtx);
	gw_ws_wake(ch->c_ws);
}

static const struct gw_turn_ops gw_chat_turn_ops = {
	gw_chat_turn_event, gw_chat_turn_done, NULL
};

static void
gw_chat_error(struct gw_chat *ch, json_t *msgid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
gw_chat_error(struct gw_chat *ch, json_t *msgid, const char *fmt, ...)
{
	va_list	ap;
	char	msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_ws_send(ch->c_ws, gw_chat_with_id(json_pack("{s:s, s:s}", "type",
	    "error", "content", msg), msgid));
}

/* Starts the turn for msg ({content, message_id?, ..}, borrowed). */
static void
gw_chat_turn_begin(struct gw_chat *ch, json_t *msg)
{
	static const char *const pass[] = { "attachments", "thinking",
	    "show_thinking", "session_id", "ephemeral", NULL };
	char		 rid[UTIL_UUID_LEN];
	json_t		*body, *msgid, *key, *idem = NULL;
	const char	*bad;
	int		 i, err;

	msgid = json_object_get(msg, "message_id");
	body = json_pack("{s:O}", "message", json_object_get(msg, "content"));
	if (body == NULL) {
		gw_chat_error(ch, msgid, "out of memory");
		return;
	}
	if (ch->c_session != NULL)
		json_object_set_new(body, "session_id",
		    json_string(ch->c_session));
	for (i = 0; pass[i] != NULL; i++)
		if (json_object_get(msg, pass[i]) != NULL)
			json_object_set(body, pass[i],
			    json_object_get(msg, pass[i]));
	/* A message sent again under its idempotency_key (a client that
	 * lost its socket before the answer) runs once: the runtime answers
	 * a repeat with the first one's answer, or 409 turn_in_progress. */
	if ((key = json_object_get(msg, "idempotency_key")) != NULL) {
		if (!json_is_string(key))
			bad = "must be a string";
		else
			idem = gw_idem_chat(ch->c_agent_id,
			    json_string_value(key), body, &bad);
		if (idem == NULL) {
			gw_chat_error(ch, msgid, "'idempotency_key' %s", bad);
			json_decref(body);
			return;
		}
	}
	pthread_mutex_lock(&ch->c_mtx);
	json_decref(ch->c_msgid);
	ch->c_msgid = json_incref(msgid);
	ch->c_turn_over = 0;
	ch->c_tverbose = ch->c_verbose;
	pthread_mutex_unlock(&ch->c_mtx);
	gw_ws_send(ch->c_ws, json_pack("{s:s}", "type", "thinking"));
	util_uuid4(rid);
	ch->c_turn = gw_turn_start(ch->c_agent_id, body, gw_ws_ip(ch->c_ws),
	    "owner", rid, idem, &gw_chat_turn_ops, ch, &err);
	json_decref(idem);
	if (ch->c_turn == NULL)
		gw_chat_error(ch, msgid, "%s", err == SH_EUNAVAIL ?
		    "agent-runtime is unavailable" : "out of memory");
}

/* A message from the client: now, or after the running turn. */
static void
gw_chat_message(struct gw_chat *ch, json_t *msg)
{
	if (ch->c_turn == NULL) {
		gw_chat_turn_begin(ch, msg);
		return;
	}
	if (json_array_size(ch->c_queue) >= GW_CHAT_QUEUE_MAX) {
		gw_chat_error(ch, json_object_get(msg, "message_id"),
		    "Too many messages waiting: the agent is still answering");
		return;
	}
	json_array_append(ch->c_queue, msg);
}

/* ---- slash commands -------------------------------------------------- */

static void
gw_chat_result(struct gw_chat *ch, const char *cmd, json_t *msgid,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
gw_chat_result(struct gw_chat *ch, const char *cmd, json_t *msgid,
    const char *fmt, ...)
{
	va_list	ap;
	char	msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_ws_send(ch->c_ws, gw_chat_with_id(json_pack("{s:s, s:s, s:s}",
	    "type", "command_result", "command", cmd, "message", msg), msgid));
}

static void
gw_chat_op_cb(void *arg, int err, struct msg_rep *rep)
{
	struct gw_wsop	*o = arg;
	struct gw_chat	*ch = o->o_chat;

	pthread_mutex_lock(&ch->c_mtx);
	o->o_err = err;
	if (err == 0)
		o->o_rep = *rep;
	o->o_done = 1;
	pthread_mutex_unlock(&ch->c_mtx);
	gw_ws_wake(ch->c_ws);
}

/* Sends op for command cmd; the answer is formatted by gw_chat_op_result. */
static void
gw_chat_op_start(struct gw_chat *ch, const char *cmd, const char *args,
    json_t *msgid, const char *op, json_t *body, int turn)
{
	struct gw_wsop	*o;
	json_t		*env;
	int		 timeout;

	if (ch->c_nops >= GW_CHAT_OPS_MAX) {
		json_decref(body);
		gw_chat_result(ch, cmd, msgid, "Too many commands in flight");
		return;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		json_decref(body);
		gw_chat_result(ch, cmd, msgid, "Out of memory");
		return;
	}
	o->o_chat = ch;
	snprintf(o->o_cmd, sizeof(o->o_cmd), "%s", cmd);
	o->o_args = args != NULL ? strdup(args) : NULL;
	o->o_msgid = json_incref(msgid);
	timeout = turn ? (int)(gw_chat_cfg->turn_timeout_secs * 1000) :
	    (int)gw_chat_cfg->bus_timeout_ms;
	env = msg_request(op, NULL, util_wall_ms() + timeout,
	    json_pack("{s:s, s:s}", "ip", gw_ws_ip(ch->c_ws), "principal",
	    "owner"), json_pack("{s:s}", "id", ch->c_agent_id), json_object(),
	    body);
	o->o_next = ch->c_ops;
	ch->c_ops = o;
	ch->c_nops++;
	if (env != NULL)
		o->o_call = bus_call_start(gw_chat_bus, SVC_AGENT_RUNTIME, env,
		    timeout, gw_chat_op_cb, o);
	json_decref(env);
	if (o->o_call == NULL) {
		o->o_err = SH_EUNAVAIL;
		o->o_done = 1;
		gw_ws_wake(ch->c_ws);
	}
}

/* The text of a reply body: its "message", "status" or "error". */
static const char *
gw_chat_rep_text(json_t *body)
{
	const char	*s;

	if ((s = json_string_value(json_object_get(body, "message"))) !=
	    NULL || (s = json_string_value(json_object_get(body, "error"))) !=
	    NULL || (s = json_string_value(json_object_get(body, "status"))) !=
	    NULL)
		return (s);
	return (NULL);
}

static void
gw_chat_op_result(struct gw_chat *ch, struct gw_wsop *o)
{
	json_t		*b, *m;
	const char	*cmd = o->o_cmd, *t;

	if (o->o_err != 0) {
		gw_chat_result(ch, cmd, o->o_msgid, "Error: %s",
		    o->o_err == SH_ETIMEDOUT ? "agent-runtime did not answer "
		    "in time" : "agent-runtime is unavailable");
		return;
	}
	b = o->o_rep.mp_body;
	if (o->o_rep.mp_status >= 400) {
		t = json_string_value(json_object_get(b, "error"));
		gw_chat_result(ch, cmd, o->o_msgid, "Error: %s",
		    t != NULL ? t : "the command failed");
		return;
	}
	if (strcmp(cmd, "model") == 0 && o->o_args == NULL) {
		m = json_object_get(b, "model");
		gw_chat_result(ch, cmd, o->o_msgid,
		    "Current model: %s (provider: %s)",
		    json_string_value(json_object_get(m, "model")) != NULL ?
		    json_string_value(json_object_get(m, "model")) : "unknown",
		    json_string_value(json_object_get(m, "provider")) != NULL ?
		    json_string_value(json_object_get(m, "provider")) :
		    "unknown");
	} else if (strcmp(cmd, "model") == 0)
		gw_chat_result(ch, cmd, o->o_msgid, "Model switched to: %s",
		    o->o_args);
	else if (strcmp(cmd, "new") == 0)
		gw_chat_result(ch, cmd, o->o_msgid, "New session created.%s%s",
		    json_is_string(json_object_get(b, "session_id")) ?
		    " Session: " : "",
		    json_is_string(json_object_get(b, "session_id")) ?
		    json_string_value(json_object_get(b, "session_id")) : "");
	else if (strcmp(cmd, "reset") == 0 || strcmp(cmd, "reboot") == 0)
		gw_chat_result(ch, cmd, o->o_msgid, "Session %s. Chat history "
		    "cleared.", strcmp(cmd, "reset") == 0 ? "reset" :
		    "rebooted");
	else if (strcmp(cmd, "stop") == 0)
		gw_chat_result(ch, cmd, o->o_msgid, "%s",
		    (t = gw_chat_rep_text(b)) != NULL ? t : "Run cancelled.");
	else if (strcmp(cmd, "compact") == 0)
		gw_chat_result(ch, cmd, o->o_msgid, "%s",
		    (t = gw_chat_rep_text(b)) != NULL ? t :
		    "Session compacted.");
	else if (strcmp(cmd, "usage") == 0) {
		m = json_object_get(b, "tokens");
		gw_chat_result(ch, cmd, o->o_msgid, "Usage: %lld turns, %lld "
		    "input + %lld output tokens, $%.4f",
		    (long long)json_integer_value(json_object_get(b, "turns")),
		    (long long)json_integer_value(json_object_get(m, "input")),
		    (long long)json_integer_value(json_object_get(m,
		    "output")), json_number_value(json_object_get(b,
		    "cost_usd")));
	}
	else
		gw_chat_result(ch, cmd, o->o_msgid, "%s",
		    (t = gw_chat_rep_text(b)) != NULL ? t : "Done.");
}

/* Completed commands (all: every one, cancelled): answer and free. */
static void
gw_chat_ops_reap(struct gw_chat *ch, int all)
{
	struct gw_wsop	**op, *o;
	int		 done;

	for (op = &ch->c_ops; (o = *op) != NULL; ) {
		pthread_mutex_lock(&ch->c_mtx);
		done = o->o_done;
		pthread_mutex_unlock(&ch->c_mtx);
		if (!done && !all) {
			op = &o->o_next;
			continue;
		}
		*op = o->o_next;
		ch->c_nops--;
		bus_call_free(o->o_call);	/* cancels, waits */
		if (done && !all)
			gw_chat_op_result(ch, o);
		if (o->o_done && o->o_err == 0)
			msg_rep_release(&o->o_rep);
		json_decref(o->o_msgid);
		free(o->o_args);
		free(o);
	}
}

static const char *const gw_chat_commands[] = { "new", "reset", "reboot",
	"compact", "stop", "model", "usage", "context", "verbose", "queue",
	"budget", "peers", NULL };

static int
gw_chat_known_command(const char *name, size_t len)
{
	int	i;

	for (i = 0; gw_chat_commands[i] != NULL; i++)
		if (strlen(gw_chat_commands[i]) == len &&
		    strncmp(gw_chat_commands[i], name, len) == 0)
			return (1);
	return (0);
}

static void
gw_chat_command(struct gw_chat *ch, const char *cmd, const char *args,
    json_t *msgid)
{
	const char	*lvl[] = { "off", "on", "full" };
	int		 i, n;

	if (args != NULL && *args == '\0')
		args = NULL;
	if (strcmp(cmd, "new") == 0)
		gw_chat_op_start(ch, cmd, args, msgid, OP_SESSIONS_CREATE,
		    json_object(), 0);
	else if (strcmp(cmd, "reset") == 0 || strcmp(cmd, "reboot") == 0)
		/* Reset saves no summary to memory (yet), so a reboot is
		 * the same operation. */
		gw_chat_op_start(ch, cmd, args, msgid, OP_SESSIONS_RESET,
		    json_null(), 0);
	else if (strcmp(cmd, "compact") == 0)
		gw_chat_op_start(ch, cmd, args, msgid, OP_SESSIONS_COMPACT,
		    json_null(), 1);
	else if (strcmp(cmd, "stop") == 0)
		gw_chat_op_start(ch, cmd, args, msgid, OP_AGENTS_STOP,
		    json_null(), 0);
	else if (strcmp(cmd, "model") == 0 && args != NULL)
		gw_chat_op_start(ch, cmd, args, msgid, OP_AGENTS_SET_MODEL,
		    json_pack("{s:s}", "model", args), 0);
	else if (strcmp(cmd, "model") == 0)
		gw_chat_op_start(ch, cmd, args, msgid, OP_AGENTS_GET,
		    json_null(), 0);
	else if (strcmp(cmd, "usage") == 0)
		gw_chat_op_start(ch, cmd, args, msgid, OP_AGENTS_METRICS,
		    json_null(), 0);
	else if (strcmp(cmd, "verbose") == 0) {
		n = (ch->c_verbose + 1) % 3;
		for (i = 0; args != NULL && i < 3; i++)
			if (strcasecmp(args, lvl[i]) == 0)
				n = i;
		if (args != NULL && i == 3 && n == (ch->c_verbose + 1) % 3 &&
		    strcasecmp(args, lvl[n]) != 0) {
			gw_chat_result(ch, cmd, msgid, "Usage: /verbose "
			    "[off|on|full]");
			return;
		}
		ch->c_verbose = n;
		gw_chat_result(ch, cmd, msgid, "Verbose mode: %s", lvl[n]);
	} else if (strcmp(cmd, "queue") == 0) {
		if (ch->c_turn == NULL)
			gw_chat_result(ch, cmd, msgid, "The agent is idle.");
		else
			gw_chat_result(ch, cmd, msgid, "The agent is busy "
			    "(%zu message(s) queued here).",
			    json_array_size(ch->c_queue));
	} else if (strcmp(cmd, "context") == 0)
		gw_chat_result(ch, cmd, msgid, "The context report is not "
		    "available yet.");
	else if (strcmp(cmd, "budget") == 0)
		gw_chat_result(ch, cmd, msgid, "Budget information is not "
		    "available yet.");
	else if (strcmp(cmd, "peers") == 0)
		gw_chat_result(ch, cmd, msgid, "No peers: the peer network is "
		    "not available.");
	else
		gw_chat_result(ch, cmd, msgid, "Unknown command: /%s", cmd);
}

/* "/name args" in a chat message: a command when the name is known. */
static int
gw_chat_slash(struct gw_chat *ch, const char *text, json_t *msgid)
{
	char		 cmd[16];
	const char	*p = text + 1, *args;
	size_t		 n;

	if (text[0] != '/')
		return (0);
	n = strcspn(p, " \t\r\n");
	if (n == 0 || n >= sizeof(cmd) || !gw_chat_known_command(p, n))
		return (0);
	memcpy(cmd, p, n);
	cmd[n] = '\0';
	for (args = p + n; isspace((unsigned char)*args); args++)
		;
	gw_chat_command(ch, cmd, args, msgid);
	return (1);
}

void
gw_chat_text(struct gw_chat *ch, const char *data, size_t len)
{
	json_t		*j, *content, *msgid, *args, *msg;
	const char	*type, *cmd;
	char		 joined[1024];
	size_t		 i, off;

	if ((j = json_loadb(data, len, 0, NULL)) == NULL ||
	    !json_is_object(j)) {
		/* Plain text is a message. */
		json_decref(j);
		if (len == 0 || gw_chat_slash(ch, data, NULL))
			return;
		if ((msg = json_pack("{s:s%}", "content", data, len)) != NULL)
			gw_chat_message(ch, msg);
		json_decref(msg);
		return;
	}
	type = json_string_value(json_object_get(j, "type"));
	msgid = json_object_get(j, "message_id");
	if (type == NULL)
		gw_chat_error(ch, msgid, "Missing 'type'");
	else if (strcmp(type, "ping") == 0)
		gw_ws_send(ch->c_ws, json_pack("{s:s}", "type", "pong"));
	else if (strcmp(type, "message") == 0) {
		content = json_object_get(j, "content");
		if (!json_is_string(content) ||
		    json_string_length(content) == 0)
			gw_chat_error(ch, msgid, "A message needs a non-empty "
			    "string 'content'");
		else if (!gw_chat_slash(ch, json_string_value(content),
		    msgid))
			gw_chat_message(ch, j);
	} else if (strcmp(type, "command") == 0) {
		cmd = json_string_value(json_object_get(j, "command"));
		args = json_object_get(j, "args");
		if (cmd != NULL && *cmd == '/')
			cmd++;
		joined[0] = '\0';
		if (json_is_array(args)) {
			for (i = 0, off = 0; i < json_array_size(args); i++) {
				if (!json_is_string(json_array_get(args, i)))
					continue;
				off += (size_t)snprintf(joined + off,
				    sizeof(joined) - off, "%s%s", off ? " " :
				    "", json_string_value(json_array_get(args,
				    i)));
				if (off >= sizeof(joined))
					break;
			}
		} else if (json_is_string(args))
			snprintf(joined, sizeof(joined), "%s",
			    json_string_value(args));
		if (cmd == NULL || *cmd == '\0')
			gw_chat_error(ch, msgid, "A command needs a string "
			    "'command'");
		else if (strlen(cmd) >= 16 ||
		    !gw_chat_known_command(cmd, strlen(cmd)))
			gw_chat_result(ch, cmd, msgid, "Unknown command: "
			    "/%.64s", cmd);
		else
			gw_chat_command(ch, cmd, joined, msgid);
	} else
		gw_chat_error(ch, msgid, "Unknown message type '%s'", type);
	json_decref(j);
}

/* ---- a conversation ---------------------------------------------------- */

struct gw_chat *
gw_chat_new(struct gw_ws *ws, const char *agent_id, const char *agent_name,
    const char *session)
{
	struct gw_chat	*ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return (NULL);
	pthread_mutex_init(&ch->c_mtx, NULL);
	ch->c_ws = ws;
	ch->c_agent_id = strdup(agent_id);
	ch->c_agent_name = strdup(agent_name != NULL ? agent_name : "");
	ch->c_session = session != NULL ? strdup(session) : NULL;
	ch->c_queue = json_array();
	if (ch->c_agent_id == NULL || ch->c_agent_name == NULL ||
	    ch->c_queue == NULL || (session != NULL && ch->c_session == NULL)) {
		gw_chat_free(ch);
		return (NULL);
	}
	return (ch);
}

void
gw_chat_open(struct gw_chat *ch)
{
	gw_ws_send(ch->c_ws, json_pack("{s:s, s:s, s:s}", "type",
	    "connected", "agent_id", ch->c_agent_id, "agent_name",
	    ch->c_agent_name));
}

void
gw_chat_service(struct gw_chat *ch, int open)
{
	json_t	*next;
	int	 over;

	gw_chat_ops_reap(ch, 0);
	pthread_mutex_lock(&ch->c_mtx);
	over = ch->c_turn_over;
	ch->c_turn_over = 0;
	pthread_mutex_unlock(&ch->c_mtx);
	if (!over || ch->c_turn == NULL)
		return;
	gw_turn_free(ch->c_turn);
	ch->c_turn = NULL;
	if (open && json_array_size(ch->c_queue) > 0) {
		next = json_incref(json_array_get(ch->c_queue, 0));
		json_array_remove(ch->c_queue, 0);
		gw_chat_turn_begin(ch, next);
		json_decref(next);
	}
}

void
gw_chat_free(struct gw_chat *ch)
{
	if (ch == NULL)
		return;
	/* No callback runs after these. */
	gw_turn_free(ch->c_turn);
	gw_chat_ops_reap(ch, 1);
	free(ch->c_agent_id);
	free(ch->c_agent_name);
	free(ch->c_session);
	json_decref(ch->c_queue);
	json_decref(ch->c_msgid);
	pthread_mutex_destroy(&ch->c_mtx);
	free(ch);
}

/* ---- the agents_updated poller ---------------------------------------- */

static void
gw_chat_poll_cb(void *arg, int err, struct msg_rep *rep)
{
	json_t	*list, *agents, *a, *item;
	size_t	 i;

	(void)arg;
	agents = NULL;
	if (err == 0 && rep->mp_status == 200) {
		list = rep->mp_body;
		if (json_is_object(list))
			list = json_is_array(json_object_get(list, "agents")) ?
			    json_object_get(list, "agents") :
			    json_object_get(list, "items");
		if (json_is_array(list) && (agents = json_array()) != NULL) {
			json_array_foreach(list, i, a) {
				item = json_pack("{s:O?, s:O?, s:O?, s:O?, "
				    "s:O?}", "id", json_object_get(a, "id"),
				    "name", json_object_get(a, "name"),
				    "state", json_object_get(a, "state"),
				    "model_provider", json_object_get(a,
				    "model_provider"), "model_name",
				    json_object_get(a, "model_name"));
				json_array_append_new(agents, item);
			}
		}
	}
	if (rep != NULL)
		msg_rep_release(rep);
	pthread_mutex_lock(&gw_chat_mtx);
	json_decref(gw_chat_agents);
	gw_chat_agents = agents;
	gw_chat_polled = 1;
	pthread_mutex_unlock(&gw_chat_mtx);
	gw_ws_wake(NULL);
}

void
gw_chat_poll(uint64_t now, uint64_t *next, int open)
{
	json_t	*agents = NULL, *env;
	int	 done;

	pthread_mutex_lock(&gw_chat_mtx);
	if ((done = gw_chat_polled)) {
		agents = gw_chat_agents;
		gw_chat_agents = NULL;
		gw_chat_polled = 0;
	}
	pthread_mutex_unlock(&gw_chat_mtx);
	if (done) {
		bus_call_free(gw_chat_pollc);
		gw_chat_pollc = NULL;
		if (agents != NULL) {
			env = json_pack("{s:s, s:O}", "type",
			    "agents_updated", "agents", agents);
			gw_ws_broadcast(env);
			json_decref(env);
		}
		json_decref(agents);
	}
	if (now < *next || gw_chat_pollc != NULL)
		return;
	*next = now + GW_WS_POLL_MS;
	if (!open)
		return;
	env = msg_request(OP_AGENTS_LIST, NULL, util_wall_ms() +
	    gw_chat_cfg->bus_timeout_ms, json_pack("{s:s, s:s}", "ip",
	    "gateway", "principal", "owner"), json_object(), json_object(),
	    json_null());
	if (env != NULL)
		gw_chat_pollc = bus_call_start(gw_chat_bus, SVC_AGENT_RUNTIME,
		    env, (int)gw_chat_cfg->bus_timeout_ms, gw_chat_poll_cb,
		    NULL);
	json_decref(env);
}

void
gw_chat_poll_stop(void)
{
	bus_call_free(gw_chat_pollc);
	gw_chat_pollc = NULL;
	pthread_mutex_lock(&gw_chat_mtx);
	json_decref(gw_chat_agents);
	gw_chat_agents = NULL;
	gw_chat_polled = 0;
	pthread_mutex_unlock(&gw_chat_mtx);
}
