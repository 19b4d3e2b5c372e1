/*
 * ad_ws.h - the adapters' WebSocket client (RFC 6455), for the platforms
 * whose events come over one (Discord's Gateway, Mattermost's WebSocket
 * API; Slack's Socket Mode next), inside the library's poll loop,
 * without a third-party library.
 *
 * A struct ad_ws is one connection over ad_conn (TLS optional, every
 * address SSRF-checked, loopback and private addresses only with the
 * allow-loopback switch): the HTTP/1.1 Upgrade handshake (its answer
 * read by ad_http's response parser; Sec-WebSocket-Accept checked
 * against the key sent, SHA-1 and base64 by OpenSSL), then frames:
 * ours masked, the server's unmasked; text, binary and continuation
 * frames reassembled into whole messages up to a size limit; a ping
 * answered with a pong; the close handshake (the peer's code and reason
 * echoed, ours answered or timed out).
 *
 * Callbacks (struct ad_ws_cb) run from ad_ws_io() and ad_ws_tick(),
 * never inside the call that caused them: on_open once the handshake is
 * done, on_message for each whole message, on_close exactly once per
 * ad_ws_open() that was accepted, last, with the connection already
 * closed: code is the peer's close code (1005 when its close frame had
 * none), or 1006 when the connection ended without a close frame (a
 * drop, a failed connect or handshake, a protocol error, a timeout),
 * and reason says what happened.  on_close may open the client again;
 * on_open and on_message may send, close or abort, not open.
 *
 * The frame parser (struct ad_ws_parser) is separate and takes bytes in
 * pieces of any size, so it is unit-tested without sockets
 * (tests/unit/t_ad_ws.c).
 *
 * Single-threaded, like the rest of the library.
 */
#ifndef AD_WS_H
#define AD_WS_H

#include <stddef.h>
#include <stdint.h>

#include "ad_conn.h"
#include "ad_http.h"

#define AD_WS_OP_CONT		0x0
#define AD_WS_OP_TEXT		0x1
#define AD_WS_OP_BINARY		0x2
#define AD_WS_OP_CLOSE		0x8
#define AD_WS_OP_PING		0x9
#define AD_WS_OP_PONG		0xa

#define AD_WS_CLOSE_NORMAL	1000
#define AD_WS_CLOSE_PROTOCOL	1002
#define AD_WS_CLOSE_TOOBIG	1009
#define AD_WS_CLOSE_NONE	1005	/* a close frame without a code */
#define AD_WS_CLOSE_DROPPED	1006	/* no close frame at all */

#define AD_WS_HANDSHAKE_MS	15000	/* connect and handshake */
#define AD_WS_CLOSE_WAIT_MS	2000	/* for the peer's close frame */

/* ---- the frame parser ---------------------------------------------------- */

/*
 * What the parser hands out: a whole message (AD_WS_OP_TEXT or _BINARY,
 * fragments joined), a ping or pong (its payload), or a close (code
 * 1005 when it had none; reason is the rest, NUL-terminated).  data is
 * borrowed for the call.
 */
typedef void (*ad_ws_frame_fn)(void *arg, int opcode, const char *data,
    size_t n, int code);

struct ad_ws_parser {
	unsigned char	 wp_head[14];	/* a frame's head so far */
	size_t		 wp_headlen;
	size_t		 wp_headneed;	/* 2, then the whole head's */
	int		 wp_fin;
	int		 wp_op;
	int		 wp_masked;
	unsigned char	 wp_mask[4];
	uint64_t	 wp_plen;	/* this frame's payload */
	uint64_t	 wp_pgot;
	int		 wp_msgop;	/* the message being joined, 0 none */
	char		*wp_msg;	/* owned; data then control payload */
	size_t		 wp_msglen;
	size_t		 wp_msgcap;
	char		 wp_ctl[126];	/* a control frame's payload */
	size_t		 wp_max;	/* a message's limit */
	int		 wp_server;	/* frames must be masked (a server's
					   side: the tests' peer) */
	int		 wp_err;	/* the close code to send, 0 none */
	const char	*wp_why;	/* why wp_err (static) */
};

/* Ready for a server's frames (unmasked), messages up to max bytes. */
void	 ad_ws_parser_init(struct ad_ws_parser *p, size_t max);
void	 ad_ws_parser_release(struct ad_ws_parser *p);
/*
 * Feeds n bytes; fn gets each message and control frame completed.  0,
 * or -1 when the stream broke the protocol (wp_err: 1002, 1009 too
 * large, 1007 text not UTF-8; wp_why says why) after which nothing more
 * is parsed.
 */
int	 ad_ws_parse(struct ad_ws_parser *p, const char *data, size_t n,
	    ad_ws_frame_fn fn, void *arg);
/*
 * One frame (fin set) of opcode with payload data, n bytes, masked with
 * mask (4 bytes) unless mask is NULL, into out (n + 14 bytes room).  The
 * frame's length.
 */
size_t	 ad_ws_frame(char *out, int opcode, const char *data, size_t n,
	    const unsigned char *mask);
/* The Sec-WebSocket-Accept that key (base64, NUL-ended) asks for, into
 * out (29 bytes room).  0, or -1. */
/*
 * The handshake's request for path on hosthdr with key, plus extra (more
 * header lines, each ending "\r\n", or NULL) into out.  Its length, or
 * -1 when it does not fit.
 */
int	 ad_ws_handshake(char *out, size_t outlen, const char *path,
	    const char *hosthdr, const char *key, const char *extra);
int	 ad_ws_accept_for(const char *key, char *out, size_t outlen);

/* ---- the client ------------------------------------------------------------ */

struct ad_ws_cb {
	void	(*on_open)(void *arg);
	void	(*on_message)(void *arg, int binary, const char *data,
		    size_t n);
	void	(*on_close)(void *arg, int code, const char *reason);
};

enum ad_ws_state {
	AD_WS_CLOSED = 0,
	AD_WS_HANDSHAKE,	/* the Upgrade sent, its answer awaited */
	AD_WS_OPEN,
	AD_WS_CLOSING,		/* our close sent, the peer's awaited */
};

struct ad_ws {
	struct ad		*ws_ad;
	struct ad_conn		 ws_conn;
	enum ad_ws_state	 ws_state;
	int			 ws_watched;	/* the fd watched, or -1 */
	int			 ws_flags;	/* AD_CONN_* */
	const char		*ws_ca_file;	/* borrowed */
	size_t			 ws_max;
	char			 ws_key[32];
	struct ad_http_parser	 ws_hp;
	struct ad_ws_parser	 ws_p;
	const struct ad_ws_cb	*ws_cb;
	void			*ws_arg;
	uint64_t		 ws_deadline;	/* handshake or close wait */
	int			 ws_pending;	/* 1: on_close due from tick */
	int			 ws_close_code;
	char			 ws_why[256];
	int			 ws_in_io;	/* inside a callback */
	const char		*ws_extra;	/* more handshake header
						   lines, borrowed */
	uint64_t		 ws_msgs_in;
	uint64_t		 ws_msgs_out;
};

void	 ad_ws_init(struct ad_ws *w, struct ad *a);
/* More header lines for every handshake from now on (each ending
 * "\r\n"; borrowed for the client's life; NULL for none): an
 * Authorization of a platform that takes its token on the upgrade
 * (Mattermost, so that a connection it knows can be resumed). */
void	 ad_ws_set_headers(struct ad_ws *w, const char *extra);
/*
 * Connects to url (ws:// or wss://; its path and query are the
 * request's), flags AD_CONN_NOVERIFY and AD_CONN_ALLOW_PRIVATE as
 * ad_conn's, ca_file borrowed, messages up to max bytes; cb and arg
 * borrowed for the connection's life.  0 (on_open or on_close follow),
 * or -1 with why in err (a bad URL; nothing follows).  A connection
 * that cannot be made is on_close (1006) from ad_ws_tick().
 */
int	 ad_ws_open(struct ad_ws *w, const char *url, int flags,
	    const char *ca_file, size_t max, const struct ad_ws_cb *cb,
	    void *arg, char *err, size_t errlen);
/* A text (binary 0) or binary message.  0, or -1 (not open, or the
 * output queue is full). */
int	 ad_ws_send(struct ad_ws *w, int binary, const char *data, size_t n);
/*
 * Starts the close handshake with code and reason (at most 123 bytes):
 * on_close follows once the peer answers or AD_WS_CLOSE_WAIT_MS later.
 */
void	 ad_ws_close(struct ad_ws *w, int code, const char *reason);
/* Drops the connection at once, without a close frame and without
 * on_close (the caller knows). */
void	 ad_ws_abort(struct ad_ws *w);
int	 ad_ws_owns(const struct ad_ws *w, int fd);
void	 ad_ws_io(struct ad_ws *w, int revents);
/* When ad_ws_tick() is next due (ms, util_now_ms()), 0 for never. */
uint64_t ad_ws_deadline(const struct ad_ws *w);
void	 ad_ws_tick(struct ad_ws *w);
int	 ad_ws_is_open(const struct ad_ws *w);

#endif /* AD_WS_H */
