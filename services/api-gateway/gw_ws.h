/*
 * gw_ws.h - the WebSocket of GET /api/agents/{id}/ws, in three parts:
 *
 *	gw_wscodec.c	RFC 6455 itself: the opening handshake's checks and
 *			accept key, frames out, frames in (unmasking,
 *			fragments, control frames, close codes), UTF-8
 *	gw_ws.c		the sockets: the handshake as an HTTP request, the
 *			one thread that owns every upgraded socket (epoll,
 *			an eventfd for other threads), buffers, the closing
 *			handshake
 *	gw_wschat.c	what is said on them: the chat protocol (messages,
 *			turns, slash commands, agents_updated)
 *
 * The codec knows no socket, the socket thread no message type, the chat
 * no frame.  Internal to these three files; gateway.h has the rest of the
 * gateway's view (gw_ws_start, gw_ws_stop, gw_ws_agent, gw_ws_auth).
 */
#ifndef GW_WS_H
#define GW_WS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "cfg.h"

struct bus_client;

#define GW_WS_MAX_MSG		(1024 * 1024)	/* one client message */
#define GW_WS_POLL_MS		5000	/* agents_updated */
#define GW_WS_ACCEPT_LEN	32	/* base64 of a SHA-1, NUL included */

enum {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa
};

/* ---- the codec (gw_wscodec.c) --------------------------------------- */

/* The opening handshake's verdicts. */
enum gw_wsc_hs {
	WSC_HS_OK = 0,
	WSC_HS_NOT_WS,		/* no "Upgrade: websocket" + "Connection:
				   upgrade": 426 with Upgrade: websocket */
	WSC_HS_VERSION,		/* not version 13: 426 with
				   Sec-WebSocket-Version: 13 */
	WSC_HS_KEY		/* a bad Sec-WebSocket-Key: 400 */
};

/*
 * The opening handshake (RFC 6455 4.2.1) from the request's headers (any
 * may be NULL): WSC_HS_OK with the Sec-WebSocket-Accept value in accept,
 * or what is wrong, *why saying it (static).
 */
enum gw_wsc_hs	 gw_wsc_handshake(const char *upgrade, const char *connection,
		    const char *version, const char *key,
		    char accept[GW_WS_ACCEPT_LEN], const char **why);
/* Whether the comma-separated header value h holds token (any case). */
int		 gw_wsc_has_token(const char *h, const char *token);
/* The "bearer.<key>" entry of a Sec-WebSocket-Protocol value, written
 * whole into out; NULL when there is none (or it does not fit). */
const char	*gw_wsc_bearer(const char *protocols, char *out, size_t outlen);

/* Appends one unmasked frame to b.  0 or SH_ETOOBIG / SH_ENOMEM. */
int		 gw_wsc_frame(struct buf *b, int op, const void *data,
		    size_t len);
/* Appends v (stolen) as a text frame of compact JSON.  0 or SH_E*. */
int		 gw_wsc_json(struct buf *b, json_t *v);
/* Appends a close frame with code and reason (cut to fit).  0 or SH_E*. */
int		 gw_wsc_close(struct buf *b, int code, const char *reason);

/* What gw_wsc_next() found. */
enum gw_wsc_kind {
	WSC_MORE = 0,	/* an incomplete frame: e_need bytes make it whole */
	WSC_NONE,	/* a frame with nothing to deliver (fragment, pong) */
	WSC_TEXT,	/* a whole text message: e_data, e_len */
	WSC_PING,	/* e_data, e_len: the payload to answer */
	WSC_CLOSE,	/* the peer's close frame: e_code (1000 if none) */
	WSC_FAIL	/* a protocol error: close with e_code, e_reason */
};

struct gw_wsc_event {
	enum gw_wsc_kind	 e_kind;
	int			 e_code;
	const char		*e_reason;	/* static */
	const unsigned char	*e_data;	/* borrowed, see below */
	size_t			 e_len;
	size_t			 e_used;	/* bytes of input consumed */
	size_t			 e_need;
};

/* A connection's incoming messages: the fragments of one so far. */
struct gw_wsc {
	struct buf	 c_msg;
	int		 c_msgop;	/* its opcode; 0: none */
};

void		 gw_wsc_init(struct gw_wsc *c);
void		 gw_wsc_release(struct gw_wsc *c);
/*
 * Reads the first frame of the avail client bytes at p (unmasking them in
 * place) into ev.  e_data points into p or into c, valid until the next
 * call.  After WSC_FAIL the connection must be closed.
 */
void		 gw_wsc_next(struct gw_wsc *c, unsigned char *p, size_t avail,
		    struct gw_wsc_event *ev);

/* ---- the sockets (gw_ws.c), for the chat ---------------------------- */

struct gw_ws;
struct gw_chat;

/* WebSocket thread: sends v (stolen) now. */
void		 gw_ws_send(struct gw_ws *ws, json_t *v);
/* Any thread: queues v (stolen) for the thread's next pass and wakes it.
 * -1 when too much is queued already: the socket is then closed. */
int		 gw_ws_post(struct gw_ws *ws, json_t *v);
/* Any thread: gw_chat_service() of ws runs on the thread's next pass;
 * ws NULL just wakes the thread (gw_chat_poll() then runs). */
void		 gw_ws_wake(struct gw_ws *ws);
/* WebSocket thread: v (borrowed) to every open socket. */
void		 gw_ws_broadcast(json_t *v);
const char	*gw_ws_ip(const struct gw_ws *ws);

/* ---- the chat (gw_wschat.c), for the WebSocket thread ---------------- */

void		 gw_chat_init(const struct sh_config *cfg,
		    struct bus_client *bc);
/* A new conversation on ws with the agent (strings copied); NULL on
 * ENOMEM.  gw_chat_open() sends "connected". */
struct gw_chat	*gw_chat_new(struct gw_ws *ws, const char *agent_id,
		    const char *agent_name, const char *session);
void		 gw_chat_open(struct gw_chat *ch);
/* One complete text message from the client (valid UTF-8). */
void		 gw_chat_text(struct gw_chat *ch, const char *data, size_t len);
/* What callbacks left (turn over, commands answered), after a wake;
 * open: the socket still takes messages (not closing), so a queued
 * message may start the next turn. */
void		 gw_chat_service(struct gw_chat *ch, int open);
/* Cancels its turn and commands (no callback runs after) and frees. */
void		 gw_chat_free(struct gw_chat *ch);
/* The agents_updated poller: a list every GW_WS_POLL_MS while any
 * socket is open (open: there is one); *next is when to call again. */
void		 gw_chat_poll(uint64_t now, uint64_t *next, int open);
/* At the thread's end: the poll in flight cancelled. */
void		 gw_chat_poll_stop(void);

#endif /* GW_WS_H */
