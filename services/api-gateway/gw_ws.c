/*
 * gw_ws.c - GET /api/agents/{id}/ws: chat with an agent over a WebSocket
 * (RFC 6455; the protocol of notes agent-core.md 4.12 and the reference's
 * "WebSocket Protocol").
 *
 * The handshake is an ordinary request: the headers are checked, the
 * agent is looked up with agents.get (a JSON 400/404 when it is bad or
 * unknown), then a 101 is queued with libmicrohttpd's upgrade API and its
 * handler hands the socket to the one WebSocket thread.  That thread owns
 * every socket: one epoll set, an eventfd that bus callbacks write to
 * when they have left something for a socket, and a timer for the shared
 * agents_updated poller (one agents.list every 5 s for all sockets).
 *
 * Client -> server (text frames):
 *	{"type":"message","content":"..","message_id"?:..}  (or plain text)
 *	{"type":"command","command":"new|reset|..","args"?:".."}
 *	{"type":"ping"}
 *	plain text or content "/name args" for a known command name
 * Server -> client:
 *	connected {agent_id, agent_name}, thinking, text_delta {content},
 *	thinking_delta {content}, tool_start {tool, id}, tool_end {tool, id,
 *	input}, tool_result {tool, id, input, result, is_error}, phase
 *	{phase, detail}, response {content, input_tokens, output_tokens,
 *	iterations, cost_usd, ..} or silent_complete, error {content},
 *	command_result {command, message}, pong, agents_updated {agents}.
 *	response, silent_complete, error and command_result echo the
 *	client's message_id.
 *
 * One turn runs per socket at a time; messages sent meanwhile wait in a
 * short queue.  Protocol errors close the socket with RFC 6455 codes:
 * 1002 (bad framing, unmasked frame), 1003 (binary), 1007 (invalid
 * UTF-8), 1009 (message over GW_WS_MAX_MSG).
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bus.h"
#include "err.h"
#include "gateway.h"
#include "log.h"
#include "services.h"

#define GW_WS_MAX_MSG		(1024 * 1024)	/* one client message */
#define GW_WS_MAX_OUT		(16 * 1024 * 1024)	/* unsent bytes */
#define GW_WS_QUEUE_MAX		8	/* messages waiting for a turn */
#define GW_WS_OPS_MAX		8	/* commands in flight */
#define GW_WS_POLL_MS		5000	/* agents_updated */
#define GW_WS_CLOSE_MS		1000	/* wait for the peer's close */
#define GW_WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa
};

struct gw_ws;

/* A slash command waiting on the bus. */
struct gw_wsop {
	struct gw_wsop		*o_next;	/* w_ops, WebSocket thread */
	struct gw_ws		*o_ws;
	struct bus_call		*o_call;
	char			 o_cmd[16];
	char			*o_args;
	json_t			*o_msgid;
	int			 o_done;	/* under w_mtx */
	int			 o_err;
	struct msg_rep		 o_rep;
};

struct gw_ws {
	struct gw_ws		*w_next;	/* the thread's list */
	struct gw_ws		*w_prev;
	struct gw_ws		*w_dnext;	/* dirty list, gw_ws_mtx */
	int			 w_dirty;	/* under gw_ws_mtx */
	int			 w_fd;
	struct MHD_UpgradeResponseHandle *w_urh;
	char			*w_agent_id;
	char			*w_agent_name;
	char			*w_session;	/* ?session_id= or NULL */
	char			*w_proto;	/* sub-protocol echoed */
	char			 w_accept[32];
	char			 w_ip[64];

	/* WebSocket thread only */
	unsigned char		*w_in;		/* bytes not yet parsed */
	size_t			 w_inlen;
	size_t			 w_incap;
	struct buf		 w_msg;		/* a fragmented message */
	int			 w_msgop;	/* its opcode; 0: none */
	struct buf		 w_out;
	size_t			 w_outoff;
	int			 w_pollout;
	int			 w_closing;	/* close frame sent */
	uint64_t		 w_close_at;
	int			 w_dead;	/* drop after this pass */
	int			 w_verbose;	/* 0 off, 1 on, 2 full */
	json_t			*w_queue;	/* [{content, message_id}] */
	struct gw_wsop		*w_ops;
	int			 w_nops;
	struct gw_turn		*w_turn;

	/* shared with bus callbacks, under w_mtx */
	pthread_mutex_t		 w_mtx;
	struct buf		 w_pending;	/* frames for w_out */
	json_t			*w_msgid;	/* the turn's message_id */
	int			 w_turn_over;
	int			 w_tverbose;
};

static const struct sh_config	*gw_ws_cfg;
static struct bus_client	*gw_ws_bus;
static pthread_t		 gw_ws_thr;
static int			 gw_ws_started;
static int			 gw_ws_epfd = -1;
static int			 gw_ws_evfd = -1;
static atomic_int		 gw_ws_quit;
static atomic_llong		 gw_ws_n;

/* Under gw_ws_mtx: what other threads hand to the WebSocket thread. */
static pthread_mutex_t		 gw_ws_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct gw_ws		*gw_ws_new;	/* upgraded, not yet seen */
static struct gw_ws		*gw_ws_dirty;
static json_t			*gw_ws_agents;	/* a fresh agents_updated */
static int			 gw_ws_poll_done;
static int			 gw_ws_accepting;

/* WebSocket thread only. */
static struct gw_ws		*gw_ws_head;
static struct bus_call		*gw_ws_poll;

/* ---- small helpers ---------------------------------------------------- */

static void
gw_ws_kick(void)
{
	uint64_t	one = 1;

	if (write(gw_ws_evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("%s: %s", __func__, strerror(errno));
}

/* Queues ws for the thread's next pass. */
static void
gw_ws_mark(struct gw_ws *ws)
{
	pthread_mutex_lock(&gw_ws_mtx);
	if (!ws->w_dirty) {
		ws->w_dirty = 1;
		ws->w_dnext = gw_ws_dirty;
		gw_ws_dirty = ws;
	}
	pthread_mutex_unlock(&gw_ws_mtx);
	gw_ws_kick();
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int
gw_utf8_valid(const unsigned char *s, size_t len)
{
	size_t		i = 0, n, k;
	uint32_t	c;

	while (i < len) {
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			c &= 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			c &= 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			c &= 0x07;
		} else
			return (0);
		if (len - i <= n)
			return (0);
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return (0);
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
		    (n == 3 && (c < 0x10000 || c > 0x10ffff)))
			return (0);
		i += n + 1;
	}
	return (1);
}

/* Appends one unmasked frame to b.  0 or SH_ETOOBIG / SH_ENOMEM. */
static int
gw_ws_frame(struct buf *b, int op, const void *data, size_t len)
{
	unsigned char	h[10];
	size_t		hl;
	int		i, rv;

	h[0] = (unsigned char)(0x80 | op);
	if (len < 126) {
		h[1] = (unsigned char)len;
		hl = 2;
	} else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)len >>
			    (56 - 8 * i));
		hl = 10;
	}
	if ((rv = buf_add(b, h, hl)) != 0)
		return (rv);
	return (buf_add(b, data, len));
}

/* Appends a JSON text frame (v is stolen).  0 or SH_E*. */
static int
gw_ws_json(struct buf *b, json_t *v)
{
	char	*js;
	int	 rv;

	if (v == NULL)
		return (SH_ENOMEM);
	js = json_dumps(v, MSG_JSON_FLAGS);
	json_decref(v);
	if (js == NULL)
		return (SH_ENOMEM);
	rv = gw_ws_frame(b, WS_OP_TEXT, js, strlen(js));
	free(js);
	return (rv);
}

/* Adds "message_id" to v (a new object) when msgid is set. */
static json_t *
gw_ws_with_id(json_t *v, json_t *msgid)
{
	if (v != NULL && msgid != NULL)
		json_object_set(v, "message_id", msgid);
	return (v);
}

/* ---- output (WebSocket thread) --------------------------------------- */

static void
gw_ws_want_out(struct gw_ws *ws, int on)
{
	struct epoll_event	ev;

	if (ws->w_pollout == on)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0);
	ev.data.ptr = ws;
	if (epoll_ctl(gw_ws_epfd, EPOLL_CTL_MOD, ws->w_fd, &ev) == 0)
		ws->w_pollout = on;
}

static void
gw_ws_flush(struct gw_ws *ws)
{
	ssize_t	n;

	while (ws->w_outoff < ws->w_out.b_len) {
		n = send(ws->w_fd, ws->w_out.b_data + ws->w_outoff,
		    ws->w_out.b_len - ws->w_outoff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				gw_ws_want_out(ws, 1);
				return;
			}
			ws->w_dead = 1;
			return;
		}
		ws->w_outoff += (size_t)n;
	}
	buf_reset(&ws->w_out);
	ws->w_outoff = 0;
	gw_ws_want_out(ws, 0);
}

/* Sends a JSON message now (v stolen). */
static void
gw_ws_send(struct gw_ws *ws, json_t *v)
{
	if (ws->w_closing || ws->w_dead) {
		json_decref(v);
		return;
	}
	if (gw_ws_json(&ws->w_out, v) != 0) {
		log_info("websocket from %s: too much unsent output, closing",
		    ws->w_ip);
		ws->w_dead = 1;
		return;
	}
	gw_ws_flush(ws);
}

/* Starts the closing handshake with code and reason. */
static void
gw_ws_close(struct gw_ws *ws, int code, const char *reason)
{
	unsigned char	p[125];
	size_t		rl = strlen(reason);

	if (ws->w_closing || ws->w_dead)
		return;
	if (rl > sizeof(p) - 2)
		rl = sizeof(p) - 2;
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	memcpy(p + 2, reason, rl);
	if (gw_ws_frame(&ws->w_out, WS_OP_CLOSE, p, rl + 2) != 0) {
		ws->w_dead = 1;
		return;
	}
	ws->w_closing = 1;
	ws->w_close_at = util_now_ms() + GW_WS_CLOSE_MS;
	gw_ws_flush(ws);
	/* No more data from us: the peer sees the close, then EOF. */
	if (!ws->w_pollout)
		shutdown(ws->w_fd, SHUT_WR);
	log_debug("websocket from %s: closing %d (%s)", ws->w_ip, code,
	    reason);
}

/* ---- turns ----------------------------------------------------------- */

/* Runs on the subscriber thread: one event of the socket's turn. */
static void
gw_ws_turn_event(void *arg, json_t *ev)
{
	struct gw_ws	*ws = arg;
	const char	*type;
	json_t		*out = NULL, *name, *id, *input;
	int		 verbose;

	type = json_string_value(json_object_get(ev, "type"));
	name = json_object_get(ev, "name");
	id = json_object_get(ev, "id");
	input = json_object_get(ev, "input");
	pthread_mutex_lock(&ws->w_mtx);
	verbose = ws->w_tverbose;
	if (strcmp(type, "text_delta") == 0 ||
	    strcmp(type, "thinking_delta") == 0) {
		if (json_is_string(json_object_get(ev, "text")))
			out = json_pack("{s:s, s:O}", "type", type, "content",
			    json_object_get(ev, "text"));
	} else if (strcmp(type, "tool_use") == 0) {
		out = json_pack("{s:s, s:O, s:O}", "type", "tool_start",
		    "tool", name != NULL ? name : json_null(), "id",
		    id != NULL ? id : json_null());
	} else if (strcmp(type, "tool_result") == 0) {
		out = json_pack("{s:s, s:O, s:O, s:O}", "type", "tool_end",
		    "tool", name != NULL ? name : json_null(), "id",
		    id != NULL ? id : json_null(), "input",
		    input != NULL ? input : json_null());
		if (out != NULL && gw_ws_json(&ws->w_pending, out) != 0)
			ws->w_turn_over = 1;
		out = json_pack("{s:s, s:O, s:O, s:O, s:b}", "type",
		    "tool_result", "tool", name != NULL ? name : json_null(),
		    "id", id != NULL ? id : json_null(), "input",
		    input != NULL ? input : json_null(), "is_error",
		    json_is_true(json_object_get(ev, "is_error")));
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
	}
	if (out != NULL && gw_ws_json(&ws->w_pending, out) != 0)
		ws->w_turn_over = 1;	/* the thread closes it */
	pthread_mutex_unlock(&ws->w_mtx);
	gw_ws_mark(ws);
}

/* The turn's reply (nng or subscriber thread). */
static void
gw_ws_turn_done(void *arg, int err, struct msg_rep *rep)
{
	struct gw_ws	*ws = arg;
	json_t		*out, *body, *v;
	const char	*k, *msg;

	pthread_mutex_lock(&ws->w_mtx);
	if (err != 0)
		out = json_pack("{s:s, s:s}", "type", "error", "content",
		    err == SH_ETIMEDOUT ? "The agent did not answer in time" :
		    "agent-runtime is unavailable");
	else if (rep->mp_status >= 400) {
		msg = json_string_value(json_object_get(rep->mp_body,
		    "error"));
		out = json_pack("{s:s, s:s}", "type", "error", "content",
		    msg != NULL ? msg : "The turn failed");
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
	if (gw_ws_json(&ws->w_pending, gw_ws_with_id(out, ws->w_msgid)) != 0)
		log_debug("%s: a reply frame was lost", __func__);
	ws->w_turn_over = 1;
	pthread_mutex_unlock(&ws->w_mtx);
	gw_ws_mark(ws);
}

static const struct gw_turn_ops gw_ws_turn_ops = {
	gw_ws_turn_event, gw_ws_turn_done, NULL
};

static void
gw_ws_error(struct gw_ws *ws, json_t *msgid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
gw_ws_error(struct gw_ws *ws, json_t *msgid, const char *fmt, ...)
{
	va_list	ap;
	char	msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_ws_send(ws, gw_ws_with_id(json_pack("{s:s, s:s}", "type", "error",
	    "content", msg), msgid));
}

/* Starts the turn for msg ({content, message_id?, ..}, borrowed). */
static void
gw_ws_turn_begin(struct gw_ws *ws, json_t *msg)
{
	static const char *const pass[] = { "attachments", "thinking",
	    "show_thinking", "session_id", "ephemeral", NULL };
	char		 rid[UTIL_UUID_LEN];
	json_t		*body, *msgid;
	int		 i, err;

	msgid = json_object_get(msg, "message_id");
	body = json_pack("{s:O}", "message", json_object_get(msg, "content"));
	if (body == NULL) {
		gw_ws_error(ws, msgid, "out of memory");
		return;
	}
	if (ws->w_session != NULL)
		json_object_set_new(body, "session_id",
		    json_string(ws->w_session));
	for (i = 0; pass[i] != NULL; i++)
		if (json_object_get(msg, pass[i]) != NULL)
			json_object_set(body, pass[i],
			    json_object_get(msg, pass[i]));
	pthread_mutex_lock(&ws->w_mtx);
	json_decref(ws->w_msgid);
	ws->w_msgid = json_incref(msgid);
	ws->w_turn_over = 0;
	ws->w_tverbose = ws->w_verbose;
	pthread_mutex_unlock(&ws->w_mtx);
	gw_ws_send(ws, json_pack("{s:s}", "type", "thinking"));
	util_uuid4(rid);
	ws->w_turn = gw_turn_start(ws->w_agent_id, body, ws->w_ip, "owner",
	    rid, &gw_ws_turn_ops, ws, &err);
	if (ws->w_turn == NULL)
		gw_ws_error(ws, msgid, "%s", err == SH_EUNAVAIL ?
		    "agent-runtime is unavailable" : "out of memory");
}

/* A message from the client: now, or after the running turn. */
static void
gw_ws_message(struct gw_ws *ws, json_t *msg)
{
	if (ws->w_turn == NULL) {
		gw_ws_turn_begin(ws, msg);
		return;
	}
	if (json_array_size(ws->w_queue) >= GW_WS_QUEUE_MAX) {
		gw_ws_error(ws, json_object_get(msg, "message_id"),
		    "Too many messages waiting: the agent is still answering");
		return;
	}
	json_array_append(ws->w_queue, msg);
}

/* ---- slash commands -------------------------------------------------- */

static void
gw_ws_result(struct gw_ws *ws, const char *cmd, json_t *msgid,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
gw_ws_result(struct gw_ws *ws, const char *cmd, json_t *msgid,
    const char *fmt, ...)
{
	va_list	ap;
	char	msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_ws_send(ws, gw_ws_with_id(json_pack("{s:s, s:s, s:s}", "type",
	    "command_result", "command", cmd, "message", msg), msgid));
}

static void
gw_ws_op_cb(void *arg, int err, struct msg_rep *rep)
{
	struct gw_wsop	*o = arg;
	struct gw_ws	*ws = o->o_ws;

	pthread_mutex_lock(&ws->w_mtx);
	o->o_err = err;
	if (err == 0)
		o->o_rep = *rep;
	o->o_done = 1;
	pthread_mutex_unlock(&ws->w_mtx);
	gw_ws_mark(ws);
}

/* Sends op for command cmd; the answer is formatted by gw_ws_op_result. */
static void
gw_ws_op_start(struct gw_ws *ws, const char *cmd, const char *args,
    json_t *msgid, const char *op, json_t *body, int turn)
{
	struct gw_wsop	*o;
	json_t		*env;
	int		 timeout;

	if (ws->w_nops >= GW_WS_OPS_MAX) {
		json_decref(body);
		gw_ws_result(ws, cmd, msgid, "Too many commands in flight");
		return;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		json_decref(body);
		gw_ws_result(ws, cmd, msgid, "Out of memory");
		return;
	}
	o->o_ws = ws;
	snprintf(o->o_cmd, sizeof(o->o_cmd), "%s", cmd);
	o->o_args = args != NULL ? strdup(args) : NULL;
	o->o_msgid = json_incref(msgid);
	timeout = turn ? (int)(gw_ws_cfg->turn_timeout_secs * 1000) :
	    (int)gw_ws_cfg->bus_timeout_ms;
	env = msg_request(op, NULL, util_wall_ms() + timeout,
	    json_pack("{s:s, s:s}", "ip", ws->w_ip, "principal", "owner"),
	    json_pack("{s:s}", "id", ws->w_agent_id), json_object(), body);
	o->o_next = ws->w_ops;
	ws->w_ops = o;
	ws->w_nops++;
	if (env != NULL)
		o->o_call = bus_call_start(gw_ws_bus, SVC_AGENT_RUNTIME, env,
		    timeout, gw_ws_op_cb, o);
	json_decref(env);
	if (o->o_call == NULL) {
		o->o_err = SH_EUNAVAIL;
		o->o_done = 1;
		gw_ws_mark(ws);
	}
}

/* The text of a reply body: its "message", "status" or "error". */
static const char *
gw_ws_rep_text(json_t *body)
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
gw_ws_op_result(struct gw_ws *ws, struct gw_wsop *o)
{
	json_t		*b, *m;
	const char	*cmd = o->o_cmd, *t;

	if (o->o_err != 0) {
		gw_ws_result(ws, cmd, o->o_msgid, "Error: %s",
		    o->o_err == SH_ETIMEDOUT ? "agent-runtime did not answer "
		    "in time" : "agent-runtime is unavailable");
		return;
	}
	b = o->o_rep.mp_body;
	if (o->o_rep.mp_status >= 400) {
		t = json_string_value(json_object_get(b, "error"));
		gw_ws_result(ws, cmd, o->o_msgid, "Error: %s",
		    t != NULL ? t : "the command failed");
		return;
	}
	if (strcmp(cmd, "model") == 0 && o->o_args == NULL) {
		m = json_object_get(b, "model");
		gw_ws_result(ws, cmd, o->o_msgid,
		    "Current model: %s (provider: %s)",
		    json_string_value(json_object_get(m, "model")) != NULL ?
		    json_string_value(json_object_get(m, "model")) : "unknown",
		    json_string_value(json_object_get(m, "provider")) != NULL ?
		    json_string_value(json_object_get(m, "provider")) :
		    "unknown");
	} else if (strcmp(cmd, "model") == 0)
		gw_ws_result(ws, cmd, o->o_msgid, "Model switched to: %s",
		    o->o_args);
	else if (strcmp(cmd, "new") == 0)
		gw_ws_result(ws, cmd, o->o_msgid, "New session created.%s%s",
		    json_is_string(json_object_get(b, "session_id")) ?
		    " Session: " : "",
		    json_is_string(json_object_get(b, "session_id")) ?
		    json_string_value(json_object_get(b, "session_id")) : "");
	else if (strcmp(cmd, "reset") == 0 || strcmp(cmd, "reboot") == 0)
		gw_ws_result(ws, cmd, o->o_msgid, "Session %s. Chat history "
		    "cleared.", strcmp(cmd, "reset") == 0 ? "reset" :
		    "rebooted");
	else if (strcmp(cmd, "stop") == 0)
		gw_ws_result(ws, cmd, o->o_msgid, "%s",
		    (t = gw_ws_rep_text(b)) != NULL ? t : "Run cancelled.");
	else if (strcmp(cmd, "compact") == 0)
		gw_ws_result(ws, cmd, o->o_msgid, "%s",
		    (t = gw_ws_rep_text(b)) != NULL ? t : "Session compacted.");
	else if (strcmp(cmd, "usage") == 0) {
		m = json_object_get(b, "tokens");
		gw_ws_result(ws, cmd, o->o_msgid, "Usage: %lld turns, %lld "
		    "input + %lld output tokens, $%.4f",
		    (long long)json_integer_value(json_object_get(b, "turns")),
		    (long long)json_integer_value(json_object_get(m, "input")),
		    (long long)json_integer_value(json_object_get(m,
		    "output")), json_number_value(json_object_get(b,
		    "cost_usd")));
	}
	else
		gw_ws_result(ws, cmd, o->o_msgid, "%s",
		    (t = gw_ws_rep_text(b)) != NULL ? t : "Done.");
}

/* Completed commands: answer and free.  WebSocket thread. */
static void
gw_ws_ops_reap(struct gw_ws *ws, int all)
{
	struct gw_wsop	**op, *o;
	int		 done;

	for (op = &ws->w_ops; (o = *op) != NULL; ) {
		pthread_mutex_lock(&ws->w_mtx);
		done = o->o_done;
		pthread_mutex_unlock(&ws->w_mtx);
		if (!done && !all) {
			op = &o->o_next;
			continue;
		}
		*op = o->o_next;
		ws->w_nops--;
		bus_call_free(o->o_call);	/* cancels, waits */
		if (done && !all)
			gw_ws_op_result(ws, o);
		if (o->o_done && o->o_err == 0)
			msg_rep_release(&o->o_rep);
		json_decref(o->o_msgid);
		free(o->o_args);
		free(o);
	}
}

static const char *const gw_ws_commands[] = { "new", "reset", "reboot",
	"compact", "stop", "model", "usage", "context", "verbose", "queue",
	"budget", "peers", NULL };

static int
gw_ws_known_command(const char *name, size_t len)
{
	int	i;

	for (i = 0; gw_ws_commands[i] != NULL; i++)
		if (strlen(gw_ws_commands[i]) == len &&
		    strncmp(gw_ws_commands[i], name, len) == 0)
			return (1);
	return (0);
}

static void
gw_ws_command(struct gw_ws *ws, const char *cmd, const char *args,
    json_t *msgid)
{
	const char	*lvl[] = { "off", "on", "full" };
	int		 i, n;

	if (args != NULL && *args == '\0')
		args = NULL;
	if (strcmp(cmd, "new") == 0)
		gw_ws_op_start(ws, cmd, args, msgid, "sessions.create",
		    json_object(), 0);
	else if (strcmp(cmd, "reset") == 0 || strcmp(cmd, "reboot") == 0)
		/* Reset saves no summary to memory (yet), so a reboot is
		 * the same operation. */
		gw_ws_op_start(ws, cmd, args, msgid, "sessions.reset",
		    json_null(), 0);
	else if (strcmp(cmd, "compact") == 0)
		gw_ws_op_start(ws, cmd, args, msgid, "sessions.compact",
		    json_null(), 1);
	else if (strcmp(cmd, "stop") == 0)
		gw_ws_op_start(ws, cmd, args, msgid, "agents.stop",
		    json_null(), 0);
	else if (strcmp(cmd, "model") == 0 && args != NULL)
		gw_ws_op_start(ws, cmd, args, msgid, "agents.set_model",
		    json_pack("{s:s}", "model", args), 0);
	else if (strcmp(cmd, "model") == 0)
		gw_ws_op_start(ws, cmd, args, msgid, "agents.get",
		    json_null(), 0);
	else if (strcmp(cmd, "usage") == 0)
		gw_ws_op_start(ws, cmd, args, msgid, "agents.metrics",
		    json_null(), 0);
	else if (strcmp(cmd, "verbose") == 0) {
		n = (ws->w_verbose + 1) % 3;
		for (i = 0; args != NULL && i < 3; i++)
			if (strcasecmp(args, lvl[i]) == 0)
				n = i;
		if (args != NULL && i == 3 && n == (ws->w_verbose + 1) % 3 &&
		    strcasecmp(args, lvl[n]) != 0) {
			gw_ws_result(ws, cmd, msgid, "Usage: /verbose "
			    "[off|on|full]");
			return;
		}
		ws->w_verbose = n;
		gw_ws_result(ws, cmd, msgid, "Verbose mode: %s", lvl[n]);
	} else if (strcmp(cmd, "queue") == 0) {
		if (ws->w_turn == NULL)
			gw_ws_result(ws, cmd, msgid, "The agent is idle.");
		else
			gw_ws_result(ws, cmd, msgid, "The agent is busy (%zu "
			    "message(s) queued here).",
			    json_array_size(ws->w_queue));
	} else if (strcmp(cmd, "context") == 0)
		gw_ws_result(ws, cmd, msgid, "The context report is not "
		    "available yet.");
	else if (strcmp(cmd, "budget") == 0)
		gw_ws_result(ws, cmd, msgid, "Budget information is not "
		    "available yet.");
	else if (strcmp(cmd, "peers") == 0)
		gw_ws_result(ws, cmd, msgid, "No peers: the peer network is "
		    "not available.");
	else
		gw_ws_result(ws, cmd, msgid, "Unknown command: /%s", cmd);
}

/* "/name args" in a chat message: a command when the name is known. */
static int
gw_ws_slash(struct gw_ws *ws, const char *text, json_t *msgid)
{
	char		 cmd[16];
	const char	*p = text + 1, *args;
	size_t		 n;

	if (text[0] != '/')
		return (0);
	n = strcspn(p, " \t\r\n");
	if (n == 0 || n >= sizeof(cmd) || !gw_ws_known_command(p, n))
		return (0);
	memcpy(cmd, p, n);
	cmd[n] = '\0';
	for (args = p + n; isspace((unsigned char)*args); args++)
		;
	gw_ws_command(ws, cmd, args, msgid);
	return (1);
}

/* One complete text message from the client. */
static void
gw_ws_text(struct gw_ws *ws, const char *data, size_t len)
{
	json_t		*j, *content, *msgid, *args, *msg;
	const char	*type, *cmd;
	char		 joined[1024];
	size_t		 i, off;

	if ((j = json_loadb(data, len, 0, NULL)) == NULL ||
	    !json_is_object(j)) {
		/* Plain text is a message. */
		json_decref(j);
		if (len == 0 || gw_ws_slash(ws, data, NULL))
			return;
		if ((msg = json_pack("{s:s%}", "content", data, len)) != NULL)
			gw_ws_message(ws, msg);
		json_decref(msg);
		return;
	}
	type = json_string_value(json_object_get(j, "type"));
	msgid = json_object_get(j, "message_id");
	if (type == NULL)
		gw_ws_error(ws, msgid, "Missing 'type'");
	else if (strcmp(type, "ping") == 0)
		gw_ws_send(ws, json_pack("{s:s}", "type", "pong"));
	else if (strcmp(type, "message") == 0) {
		content = json_object_get(j, "content");
		if (!json_is_string(content) ||
		    json_string_length(content) == 0)
			gw_ws_error(ws, msgid, "A message needs a non-empty "
			    "string 'content'");
		else if (!gw_ws_slash(ws, json_string_value(content), msgid))
			gw_ws_message(ws, j);
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
			gw_ws_error(ws, msgid, "A command needs a string "
			    "'command'");
		else if (strlen(cmd) >= 16 ||
		    !gw_ws_known_command(cmd, strlen(cmd)))
			gw_ws_result(ws, cmd, msgid, "Unknown command: /%.64s",
			    cmd);
		else
			gw_ws_command(ws, cmd, joined, msgid);
	} else
		gw_ws_error(ws, msgid, "Unknown message type '%s'", type);
	json_decref(j);
}

/* ---- input (WebSocket thread) ---------------------------------------- */

/* Parses complete frames from w_in.  Returns bytes consumed. */
static size_t
gw_ws_parse(struct gw_ws *ws, unsigned char *p, size_t avail)
{
	size_t		 used = 0, hl, i;
	uint64_t	 len;
	unsigned char	*f, *pl, mask[4];
	int		 fin, op, code;

	while (!ws->w_dead && avail - used >= 2) {
		f = p + used;
		fin = f[0] & 0x80;
		op = f[0] & 0x0f;
		if (f[0] & 0x70) {
			gw_ws_close(ws, 1002, "reserved bits set");
			return (avail);
		}
		if (!(f[1] & 0x80)) {
			gw_ws_close(ws, 1002, "client frames must be masked");
			return (avail);
		}
		len = f[1] & 0x7f;
		hl = 2;
		if (len == 126) {
			if (avail - used < 4)
				break;
			len = ((uint64_t)f[2] << 8) | f[3];
			hl = 4;
		} else if (len == 127) {
			if (avail - used < 10)
				break;
			for (len = 0, i = 0; i < 8; i++)
				len = (len << 8) | f[2 + i];
			hl = 10;
		}
		if (op >= 0x8) {
			if (op > WS_OP_PONG || !fin || len > 125) {
				gw_ws_close(ws, 1002, "bad control frame");
				return (avail);
			}
		} else if (op > WS_OP_BINARY) {
			gw_ws_close(ws, 1002, "unknown opcode");
			return (avail);
		} else if (len > GW_WS_MAX_MSG ||
		    ws->w_msg.b_len + len > GW_WS_MAX_MSG) {
			gw_ws_close(ws, 1009, "message too big");
			return (avail);
		}
		if (avail - used < hl + 4 + len) {
			/* Room for the whole frame (bounded above). */
			if (hl + 4 + len > ws->w_incap) {
				pl = realloc(ws->w_in, hl + 4 + len);
				if (pl == NULL) {
					ws->w_dead = 1;
					return (avail);
				}
				/* p pointed into the old buffer. */
				ws->w_in = pl;
				ws->w_incap = hl + 4 + len;
			}
			break;
		}
		memcpy(mask, f + hl, 4);
		pl = f + hl + 4;
		for (i = 0; i < len; i++)
			pl[i] ^= mask[i & 3];
		used += hl + 4 + len;
		if (ws->w_closing && op != WS_OP_CLOSE)
			continue;	/* draining until the peer's close */
		switch (op) {
		case WS_OP_PING:
			if (gw_ws_frame(&ws->w_out, WS_OP_PONG, pl, len) != 0)
				ws->w_dead = 1;
			else
				gw_ws_flush(ws);
			break;
		case WS_OP_PONG:
			break;
		case WS_OP_CLOSE:
			if (ws->w_closing) {
				ws->w_dead = 1;	/* handshake complete */
				return (avail);
			}
			code = 1000;
			if (len == 1) {
				gw_ws_close(ws, 1002, "bad close frame");
				return (avail);
			}
			if (len >= 2) {
				code = (pl[0] << 8) | pl[1];
				if (code < 1000 || code >= 5000 ||
				    (code >= 1004 && code <= 1006) ||
				    (code >= 1015 && code < 3000)) {
					gw_ws_close(ws, 1002, "bad close code");
					return (avail);
				}
				if (!gw_utf8_valid(pl + 2, len - 2)) {
					gw_ws_close(ws, 1007, "bad close "
					    "reason");
					return (avail);
				}
			}
			gw_ws_close(ws, code, "");
			if (!ws->w_pollout)
				ws->w_dead = 1;	/* answered: done */
			return (avail);
		case WS_OP_CONT:
			if (ws->w_msgop == 0) {
				gw_ws_close(ws, 1002, "continuation without "
				    "a message");
				return (avail);
			}
			if (buf_add(&ws->w_msg, pl, len) != 0) {
				gw_ws_close(ws, 1009, "message too big");
				return (avail);
			}
			break;
		default:	/* text, binary */
			if (ws->w_msgop != 0) {
				gw_ws_close(ws, 1002, "a new message inside "
				    "a fragmented one");
				return (avail);
			}
			ws->w_msgop = op;
			buf_reset(&ws->w_msg);
			if (buf_add(&ws->w_msg, pl, len) != 0) {
				gw_ws_close(ws, 1009, "message too big");
				return (avail);
			}
			break;
		}
		if ((op == WS_OP_CONT || op == WS_OP_TEXT ||
		    op == WS_OP_BINARY) && fin) {
			op = ws->w_msgop;
			ws->w_msgop = 0;
			if (op == WS_OP_BINARY) {
				gw_ws_close(ws, 1003, "binary messages are "
				    "not supported");
				return (avail);
			}
			if (!gw_utf8_valid((unsigned char *)ws->w_msg.b_data,
			    ws->w_msg.b_len)) {
				gw_ws_close(ws, 1007, "invalid UTF-8");
				return (avail);
			}
			gw_ws_text(ws, ws->w_msg.b_data != NULL ?
			    ws->w_msg.b_data : "", ws->w_msg.b_len);
			buf_reset(&ws->w_msg);
		}
	}
	return (used);
}

/* Moves consumed input out and parses what arrived. */
static void
gw_ws_input(struct gw_ws *ws, const void *data, size_t len)
{
	unsigned char	*n;
	size_t		 used;

	if (len > 0) {
		if (ws->w_inlen + len > ws->w_incap) {
			if ((n = realloc(ws->w_in, ws->w_inlen + len)) ==
			    NULL) {
				ws->w_dead = 1;
				return;
			}
			ws->w_in = n;
			ws->w_incap = ws->w_inlen + len;
		}
		memcpy(ws->w_in + ws->w_inlen, data, len);
		ws->w_inlen += len;
	}
	used = gw_ws_parse(ws, ws->w_in, ws->w_inlen);
	if (used >= ws->w_inlen)
		ws->w_inlen = 0;
	else if (used > 0) {
		memmove(ws->w_in, ws->w_in + used, ws->w_inlen - used);
		ws->w_inlen -= used;
	}
}

static void
gw_ws_read(struct gw_ws *ws)
{
	unsigned char	b[16384];
	ssize_t		n;
	int		i;

	/* A bounded number of reads per pass: no socket starves others. */
	for (i = 0; i < 16 && !ws->w_dead; i++) {
		n = recv(ws->w_fd, b, sizeof(b), 0);
		if (n == 0) {
			ws->w_dead = 1;	/* EOF */
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ws->w_dead = 1;
			return;
		}
		gw_ws_input(ws, b, (size_t)n);
	}
}

/* ---- sockets (WebSocket thread) -------------------------------------- */

static void
gw_ws_free(struct gw_ws *ws)
{
	if (ws == NULL)
		return;
	free(ws->w_agent_id);
	free(ws->w_agent_name);
	free(ws->w_session);
	free(ws->w_proto);
	free(ws->w_in);
	buf_release(&ws->w_msg);
	buf_release(&ws->w_out);
	buf_release(&ws->w_pending);
	json_decref(ws->w_queue);
	json_decref(ws->w_msgid);
	pthread_mutex_destroy(&ws->w_mtx);
	free(ws);
}

static void
gw_ws_drop(struct gw_ws *ws)
{
	struct gw_ws	**pp;

	epoll_ctl(gw_ws_epfd, EPOLL_CTL_DEL, ws->w_fd, NULL);
	/* No callback runs after these. */
	gw_turn_free(ws->w_turn);
	ws->w_turn = NULL;
	gw_ws_ops_reap(ws, 1);
	pthread_mutex_lock(&gw_ws_mtx);
	if (ws->w_dirty) {
		for (pp = &gw_ws_dirty; *pp != NULL; pp = &(*pp)->w_dnext)
			if (*pp == ws) {
				*pp = ws->w_dnext;
				break;
			}
	}
	pthread_mutex_unlock(&gw_ws_mtx);
	if (ws->w_prev != NULL)
		ws->w_prev->w_next = ws->w_next;
	else
		gw_ws_head = ws->w_next;
	if (ws->w_next != NULL)
		ws->w_next->w_prev = ws->w_prev;
	shutdown(ws->w_fd, SHUT_RDWR);
	/* libmicrohttpd closes the socket and ends the request. */
	MHD_upgrade_action(ws->w_urh, MHD_UPGRADE_ACTION_CLOSE);
	atomic_fetch_sub(&gw_ws_n, 1);
	log_debug("websocket from %s closed", ws->w_ip);
	gw_ws_free(ws);
}

/* A socket handed over by the upgrade handler. */
static void
gw_ws_adopt(struct gw_ws *ws)
{
	struct epoll_event	ev;
	int			one = 1, fl;

	if ((fl = fcntl(ws->w_fd, F_GETFL)) != -1)
		fcntl(ws->w_fd, F_SETFL, fl | O_NONBLOCK);
	setsockopt(ws->w_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((ws->w_next = gw_ws_head) != NULL)
		ws->w_next->w_prev = ws;
	ws->w_prev = NULL;
	gw_ws_head = ws;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = ws;
	if (epoll_ctl(gw_ws_epfd, EPOLL_CTL_ADD, ws->w_fd, &ev) != 0) {
		log_warnx("%s: epoll_ctl: %s", __func__, strerror(errno));
		ws->w_dead = 1;
		return;
	}
	log_debug("websocket from %s for agent %s", ws->w_ip,
	    ws->w_agent_id);
	gw_ws_send(ws, json_pack("{s:s, s:s, s:s}", "type", "connected",
	    "agent_id", ws->w_agent_id, "agent_name", ws->w_agent_name));
	/* Bytes that came with the handshake. */
	if (ws->w_inlen > 0)
		gw_ws_input(ws, NULL, 0);
}

/* What bus callbacks left for ws. */
static void
gw_ws_service(struct gw_ws *ws)
{
	json_t	*next;
	int	 over;

	pthread_mutex_lock(&ws->w_mtx);
	if (ws->w_pending.b_len > 0 && !ws->w_closing &&
	    buf_add(&ws->w_out, ws->w_pending.b_data, ws->w_pending.b_len) !=
	    0)
		ws->w_dead = 1;
	buf_reset(&ws->w_pending);
	over = ws->w_turn_over;
	pthread_mutex_unlock(&ws->w_mtx);
	gw_ws_flush(ws);
	gw_ws_ops_reap(ws, 0);
	if (over && ws->w_turn != NULL) {
		gw_turn_free(ws->w_turn);
		ws->w_turn = NULL;
		pthread_mutex_lock(&ws->w_mtx);
		ws->w_turn_over = 0;
		pthread_mutex_unlock(&ws->w_mtx);
		if (json_array_size(ws->w_queue) > 0 && !ws->w_closing &&
		    !ws->w_dead) {
			next = json_incref(json_array_get(ws->w_queue, 0));
			json_array_remove(ws->w_queue, 0);
			gw_ws_turn_begin(ws, next);
			json_decref(next);
		}
	}
}

/* ---- the agents_updated poller --------------------------------------- */

static void
gw_ws_poll_cb(void *arg, int err, struct msg_rep *rep)
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
	pthread_mutex_lock(&gw_ws_mtx);
	json_decref(gw_ws_agents);
	gw_ws_agents = agents;
	gw_ws_poll_done = 1;
	pthread_mutex_unlock(&gw_ws_mtx);
	gw_ws_kick();
}

static void
gw_ws_poll_tick(uint64_t now, uint64_t *next)
{
	struct gw_ws	*ws;
	json_t		*agents = NULL, *env;
	int		 done;

	pthread_mutex_lock(&gw_ws_mtx);
	done = gw_ws_poll_done;
	if (done) {
		agents = gw_ws_agents;
		gw_ws_agents = NULL;
		gw_ws_poll_done = 0;
	}
	pthread_mutex_unlock(&gw_ws_mtx);
	if (done) {
		bus_call_free(gw_ws_poll);
		gw_ws_poll = NULL;
		for (ws = gw_ws_head; agents != NULL && ws != NULL;
		    ws = ws->w_next)
			gw_ws_send(ws, json_pack("{s:s, s:O}", "type",
			    "agents_updated", "agents", agents));
		json_decref(agents);
	}
	if (now < *next || gw_ws_poll != NULL)
		return;
	*next = now + GW_WS_POLL_MS;
	if (gw_ws_head == NULL)
		return;
	env = msg_request("agents.list", NULL, util_wall_ms() +
	    gw_ws_cfg->bus_timeout_ms, json_pack("{s:s, s:s}", "ip",
	    "gateway", "principal", "owner"), json_object(), json_object(),
	    json_null());
	if (env != NULL)
		gw_ws_poll = bus_call_start(gw_ws_bus, SVC_AGENT_RUNTIME, env,
		    (int)gw_ws_cfg->bus_timeout_ms, gw_ws_poll_cb, NULL);
	json_decref(env);
}

/* ---- the thread ------------------------------------------------------ */

static void *
gw_ws_main(void *arg)
{
	struct epoll_event	 evs[64];
	struct gw_ws		*ws, *next, *batch;
	uint64_t		 now, poll_next, buf;
	int			 n, i, timeout;

	(void)arg;
	poll_next = util_now_ms() + GW_WS_POLL_MS;
	while (!atomic_load(&gw_ws_quit)) {
		now = util_now_ms();
		timeout = poll_next > now ? (int)(poll_next - now) : 0;
		if (gw_ws_head == NULL && gw_ws_poll == NULL)
			timeout = -1;	/* a new socket kicks the eventfd */
		for (ws = gw_ws_head; ws != NULL; ws = ws->w_next)
			if (ws->w_closing && timeout > GW_WS_CLOSE_MS)
				timeout = GW_WS_CLOSE_MS;
		n = epoll_wait(gw_ws_epfd, evs, 64, timeout);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				if (read(gw_ws_evfd, &buf, sizeof(buf)) < 0 &&
				    errno != EAGAIN)
					log_debug("%s: eventfd: %s", __func__,
					    strerror(errno));
				continue;
			}
			ws = evs[i].data.ptr;
			if (ws->w_dead)
				continue;
			if (evs[i].events & EPOLLOUT)
				gw_ws_flush(ws);
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
			    EPOLLERR))
				gw_ws_read(ws);
		}

		pthread_mutex_lock(&gw_ws_mtx);
		batch = gw_ws_new;
		gw_ws_new = NULL;
		pthread_mutex_unlock(&gw_ws_mtx);
		for (ws = batch; ws != NULL; ws = next) {
			next = ws->w_next;
			gw_ws_adopt(ws);
		}

		pthread_mutex_lock(&gw_ws_mtx);
		batch = gw_ws_dirty;
		gw_ws_dirty = NULL;
		for (ws = batch; ws != NULL; ws = ws->w_dnext)
			ws->w_dirty = 0;
		pthread_mutex_unlock(&gw_ws_mtx);
		/* w_dnext stays valid: only this thread frees sockets. */
		for (ws = batch; ws != NULL; ws = next) {
			next = ws->w_dnext;
			if (!ws->w_dead)
				gw_ws_service(ws);
		}

		now = util_now_ms();
		gw_ws_poll_tick(now, &poll_next);
		for (ws = gw_ws_head; ws != NULL; ws = next) {
			next = ws->w_next;
			if (ws->w_closing && !ws->w_pollout)
				shutdown(ws->w_fd, SHUT_WR);
			if (ws->w_dead || (ws->w_closing &&
			    now >= ws->w_close_at))
				gw_ws_drop(ws);
		}
	}

	/* Stopping: a close frame for everyone, then drop. */
	pthread_mutex_lock(&gw_ws_mtx);
	gw_ws_accepting = 0;
	batch = gw_ws_new;
	gw_ws_new = NULL;
	pthread_mutex_unlock(&gw_ws_mtx);
	for (ws = batch; ws != NULL; ws = next) {
		next = ws->w_next;
		gw_ws_adopt(ws);
	}
	for (ws = gw_ws_head; ws != NULL; ws = next) {
		next = ws->w_next;
		gw_ws_close(ws, 1001, "the gateway is shutting down");
		gw_ws_drop(ws);
	}
	bus_call_free(gw_ws_poll);
	gw_ws_poll = NULL;
	pthread_mutex_lock(&gw_ws_mtx);
	json_decref(gw_ws_agents);
	gw_ws_agents = NULL;
	gw_ws_poll_done = 0;
	pthread_mutex_unlock(&gw_ws_mtx);
	return (NULL);
}

int
gw_ws_start(const struct sh_config *cfg, struct bus_client *bc)
{
	struct epoll_event	ev;

	gw_ws_cfg = cfg;
	gw_ws_bus = bc;
	if ((gw_ws_epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (gw_ws_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		log_warn("%s: epoll/eventfd", __func__);
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(gw_ws_epfd, EPOLL_CTL_ADD, gw_ws_evfd, &ev) != 0) {
		log_warn("%s: epoll_ctl", __func__);
		goto fail;
	}
	atomic_store(&gw_ws_quit, 0);
	gw_ws_accepting = 1;
	if (pthread_create(&gw_ws_thr, NULL, gw_ws_main, NULL) != 0) {
		log_warnx("%s: could not start the WebSocket thread",
		    __func__);
		goto fail;
	}
	gw_ws_started = 1;
	return (0);
 fail:
	gw_ws_accepting = 0;
	if (gw_ws_epfd >= 0)
		close(gw_ws_epfd);
	if (gw_ws_evfd >= 0)
		close(gw_ws_evfd);
	gw_ws_epfd = gw_ws_evfd = -1;
	return (-1);
}

void
gw_ws_stop(void)
{
	if (!gw_ws_started)
		return;
	pthread_mutex_lock(&gw_ws_mtx);
	gw_ws_accepting = 0;
	pthread_mutex_unlock(&gw_ws_mtx);
	atomic_store(&gw_ws_quit, 1);
	gw_ws_kick();
	pthread_join(gw_ws_thr, NULL);
	gw_ws_started = 0;
	close(gw_ws_epfd);
	close(gw_ws_evfd);
	gw_ws_epfd = gw_ws_evfd = -1;
}

long long
gw_ws_count(void)
{
	return (atomic_load(&gw_ws_n));
}

/* ---- the handshake (MHD threads) ------------------------------------- */

/* Whether the comma-separated header value h holds token (any case). */
static int
gw_ws_has_token(const char *h, const char *token)
{
	size_t	tl = strlen(token), n;

	while (h != NULL && *h != '\0') {
		h += strspn(h, " \t,");
		n = strcspn(h, " \t,");
		if (n == tl && strncasecmp(h, token, tl) == 0)
			return (1);
		h += n;
	}
	return (0);
}

/* The "bearer.<key>" entry of Sec-WebSocket-Protocol, or NULL.  Writes
 * the whole entry into out. */
static const char *
gw_ws_bearer(struct MHD_Connection *c, char *out, size_t outlen)
{
	const char	*h, *p;
	size_t		 n;

	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "Sec-WebSocket-Protocol");
	for (p = h; p != NULL && *p != '\0'; p += n) {
		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n > 7 && n < outlen && strncmp(p, "bearer.", 7) == 0) {
			memcpy(out, p, n);
			out[n] = '\0';
			return (out);
		}
	}
	return (NULL);
}

int
gw_ws_auth(struct gw_req *gr)
{
	const char	*key = gw_ws_cfg != NULL ? gw_ws_cfg->api_key : "";
	char		 proto[600];

	if (*key == '\0' || gw_ws_bearer(gr->gr_mhd, proto,
	    sizeof(proto)) == NULL)
		return (-1);
	return (util_ct_equal(proto + 7, strlen(proto + 7), key,
	    strlen(key)) ? 0 : -1);
}

/* Runs on the MHD thread once the 101 is out: the socket is ours. */
static void
gw_ws_upgraded(void *cls, struct MHD_Connection *c, void *con_cls,
    const char *extra, size_t extra_len, MHD_socket sock,
    struct MHD_UpgradeResponseHandle *urh)
{
	struct gw_ws	*ws = cls;
	struct gw_req	*gr = con_cls;
	int		 ok;

	(void)c;
	if (gr != NULL && gr->gr_ctx == ws)
		gr->gr_ctx = NULL;	/* the thread owns it now */
	ws->w_fd = sock;
	ws->w_urh = urh;
	if (extra_len > 0 && (ws->w_in = malloc(extra_len)) != NULL) {
		memcpy(ws->w_in, extra, extra_len);
		ws->w_inlen = ws->w_incap = extra_len;
	}
	pthread_mutex_lock(&gw_ws_mtx);
	if ((ok = gw_ws_accepting)) {
		ws->w_next = gw_ws_new;
		gw_ws_new = ws;
		atomic_fetch_add(&gw_ws_n, 1);
	}
	pthread_mutex_unlock(&gw_ws_mtx);
	if (!ok) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		gw_ws_free(ws);
		return;
	}
	gw_ws_kick();
}

static void
gw_ws_req_cleanup(struct gw_req *gr)
{
	/* Never upgraded (refused, or the client left first). */
	gw_ws_free(gr->gr_ctx);
	gr->gr_ctx = NULL;
}

static enum MHD_Result
gw_ws_queue(struct gw_req *gr)
{
	struct gw_ws		*ws = gr->gr_ctx;
	struct MHD_Response	*resp;

	if ((resp = MHD_create_response_for_upgrade(gw_ws_upgraded, ws)) ==
	    NULL) {
		gr->gr_phase = GR_DONE;	/* the connection closes */
		return (MHD_NO);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", ws->w_accept);
	if (ws->w_proto != NULL)
		MHD_add_response_header(resp, "Sec-WebSocket-Protocol",
		    ws->w_proto);
	return (gw_queue_response(gr, MHD_HTTP_SWITCHING_PROTOCOLS, resp));
}

/* agents.get answered (nng thread). */
static void
gw_ws_got_agent(struct gw_req *gr, int err, struct msg_rep *rep)
{
	struct gw_ws	*ws = gr->gr_ctx;
	const char	*id, *name;

	if (err != 0) {
		gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
		return;
	}
	if (rep->mp_status != 200)
		gw_reply_relay(gr, rep);
	else {
		id = json_string_value(json_object_get(rep->mp_body, "id"));
		name = json_string_value(json_object_get(rep->mp_body,
		    "name"));
		if (id == NULL ||
		    (ws->w_agent_id = strdup(id)) == NULL ||
		    (ws->w_agent_name = strdup(name != NULL ? name : "")) ==
		    NULL)
			gw_reply_error(gr, 502, "agent-runtime sent an agent "
			    "without an id");
		/* else: gr_status stays 0 and gw_ws_queue() answers 101 */
	}
	msg_rep_release(rep);
}

int
gw_ws_agent(struct gw_req *gr)
{
	struct MHD_Connection	*c = gr->gr_mhd;
	struct gw_ws		*ws;
	const char		*h, *key;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	char			 in[128], proto[600];
	json_t			*params, *query;
	const char		*sid;

	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_UPGRADE);
	if (h == NULL || !gw_ws_has_token(h, "websocket") ||
	    !gw_ws_has_token(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONNECTION), "upgrade")) {
		gw_reply_error(gr, 426, "this endpoint is a WebSocket: send "
		    "'Connection: Upgrade' and 'Upgrade: websocket'");
		gr->gr_rheaders = json_pack("{s:s}", "Upgrade", "websocket");
		return (0);
	}
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "Sec-WebSocket-Version");
	if (h == NULL || strcmp(h, "13") != 0) {
		gw_reply_error(gr, 426, "unsupported WebSocket version: "
		    "only 13 is spoken");
		gr->gr_rheaders = json_pack("{s:s}", "Sec-WebSocket-Version",
		    "13");
		return (0);
	}
	key = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "Sec-WebSocket-Key");
	if (key == NULL || strlen(key) != 24 || key[22] != '=' ||
	    key[23] != '=' || EVP_DecodeBlock(md, (const unsigned char *)key,
	    24) != 18) {
		gw_reply_error(gr, 400, "missing or malformed "
		    "Sec-WebSocket-Key");
		return (0);
	}
	if ((params = gw_route_params(gr->gr_route, gr->gr_path)) == NULL) {
		gw_reply_error(gr, 400, "malformed path parameter");
		return (0);
	}
	query = gw_query_parse(gr->gr_query);
	sid = json_string_value(json_object_get(query, "session_id"));
	if (query == NULL || (sid != NULL && !util_uuid_valid(sid))) {
		json_decref(params);
		json_decref(query);
		gw_reply_error(gr, 400, "malformed query string: session_id "
		    "must be a UUID");
		return (0);
	}
	if ((ws = calloc(1, sizeof(*ws))) == NULL) {
		json_decref(params);
		json_decref(query);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	pthread_mutex_init(&ws->w_mtx, NULL);
	ws->w_fd = -1;
	buf_init(&ws->w_msg, GW_WS_MAX_MSG);
	buf_init(&ws->w_out, GW_WS_MAX_OUT);
	buf_init(&ws->w_pending, GW_WS_MAX_OUT);
	ws->w_queue = json_array();
	snprintf(ws->w_ip, sizeof(ws->w_ip), "%s", gw_conn_ip(gr->gr_conn));
	if (sid != NULL)
		ws->w_session = strdup(sid);
	if (gw_ws_bearer(c, proto, sizeof(proto)) != NULL)
		ws->w_proto = strdup(proto);
	json_decref(query);
	snprintf(in, sizeof(in), "%s%s", key, GW_WS_GUID);
	if (EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    ws->w_queue == NULL) {
		gw_ws_free(ws);
		json_decref(params);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	EVP_EncodeBlock((unsigned char *)ws->w_accept, md, (int)mdlen);
	gr->gr_ctx = ws;
	gr->gr_cleanup = gw_ws_req_cleanup;
	gr->gr_queue = gw_ws_queue;
	return (gw_call(gr, SVC_AGENT_RUNTIME, "agents.get", params, NULL,
	    NULL, gw_ws_got_agent));
}
