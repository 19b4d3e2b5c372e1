/*
 * gw_wscodec.c - RFC 6455 on its own: the opening handshake's checks and
 * accept key, frames out, frames in, UTF-8.  No sockets and no threads:
 * gw_ws.c feeds it bytes and acts on what it finds (see gw_ws.h).
 *
 * Frames in are checked as soon as their header is complete, before the
 * payload arrives: reserved bits (none are negotiated), the client's mask
 * (required), control frames (final, at most 125 bytes), opcodes, and the
 * size of the message they belong to (GW_WS_MAX_MSG, so a client cannot
 * make the gateway wait for or keep more).  Fragments are joined in
 * struct gw_wsc; a message is delivered whole, once it is known to be
 * text (binary is refused, 1003) and valid UTF-8 (else 1007).
 */
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "err.h"
#include "gw_ws.h"
#include "msg.h"
#include "util.h"

#define GW_WS_GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- the opening handshake ------------------------------------------- */

int
gw_wsc_has_token(const char *h, const char *token)
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

const char *
gw_wsc_bearer(const char *protocols, char *out, size_t outlen)
{
	const char	*p;
	size_t		 n;

	for (p = protocols; p != NULL && *p != '\0'; p += n) {
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

enum gw_wsc_hs
gw_wsc_handshake(const char *upgrade, const char *connection,
    const char *version, const char *key, char accept[GW_WS_ACCEPT_LEN],
    const char **why)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen;
	char		in[128];

	if (!gw_wsc_has_token(upgrade, "websocket") ||
	    !gw_wsc_has_token(connection, "upgrade")) {
		*why = "this endpoint is a WebSocket: send 'Connection: "
		    "Upgrade' and 'Upgrade: websocket'";
		return (WSC_HS_NOT_WS);
	}
	if (version == NULL || strcmp(version, "13") != 0) {
		*why = "unsupported WebSocket version: only 13 is spoken";
		return (WSC_HS_VERSION);
	}
	/* 16 random bytes in base64: 24 characters ending "==". */
	*why = "missing or malformed Sec-WebSocket-Key";
	if (key == NULL || strlen(key) != 24 || key[22] != '=' ||
	    key[23] != '=' || EVP_DecodeBlock(md, (const unsigned char *)key,
	    24) != 18)
		return (WSC_HS_KEY);
	snprintf(in, sizeof(in), "%s%s", key, GW_WS_GUID);
	if (EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    4 * ((mdlen + 2) / 3) >= GW_WS_ACCEPT_LEN)
		return (WSC_HS_KEY);
	EVP_EncodeBlock((unsigned char *)accept, md, (int)mdlen);
	*why = NULL;
	return (WSC_HS_OK);
}

/* ---- UTF-8 ------------------------------------------------------------ */

/* ---- frames out -------------------------------------------------------- */

int
gw_wsc_frame(struct buf *b, int op, const void *data, size_t len)
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

int
gw_wsc_json(struct buf *b, json_t *v)
{
	char	*js;
	int	 rv;

	if (v == NULL)
		return (SH_ENOMEM);
	js = json_dumps(v, MSG_JSON_FLAGS);
	json_decref(v);
	if (js == NULL)
		return (SH_ENOMEM);
	rv = gw_wsc_frame(b, WS_OP_TEXT, js, strlen(js));
	free(js);
	return (rv);
}

int
gw_wsc_close(struct buf *b, int code, const char *reason)
{
	unsigned char	p[125];
	size_t		rl = strlen(reason);

	if (rl > sizeof(p) - 2)
		rl = sizeof(p) - 2;
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	memcpy(p + 2, reason, rl);
	return (gw_wsc_frame(b, WS_OP_CLOSE, p, rl + 2));
}

/* ---- frames in ---------------------------------------------------------- */

void
gw_wsc_init(struct gw_wsc *c)
{
	buf_init(&c->c_msg, GW_WS_MAX_MSG);
	c->c_msgop = 0;
}

void
gw_wsc_release(struct gw_wsc *c)
{
	buf_release(&c->c_msg);
	c->c_msgop = 0;
}

static void
gw_wsc_fail(struct gw_wsc_event *ev, int code, const char *reason)
{
	ev->e_kind = WSC_FAIL;
	ev->e_code = code;
	ev->e_reason = reason;
}

/* A close frame's payload: a valid code and a UTF-8 reason, or none. */
static void
gw_wsc_peer_close(const unsigned char *pl, size_t len,
    struct gw_wsc_event *ev)
{
	int	code = 1000;

	if (len == 1) {
		gw_wsc_fail(ev, 1002, "bad close frame");
		return;
	}
	if (len >= 2) {
		code = (pl[0] << 8) | pl[1];
		if (code < 1000 || code >= 5000 ||
		    (code >= 1004 && code <= 1006) ||
		    (code >= 1015 && code < 3000)) {
			gw_wsc_fail(ev, 1002, "bad close code");
			return;
		}
		if (!util_utf8_valid(pl + 2, len - 2)) {
			gw_wsc_fail(ev, 1007, "bad close reason");
			return;
		}
	}
	ev->e_kind = WSC_CLOSE;
	ev->e_code = code;
}

void
gw_wsc_next(struct gw_wsc *c, unsigned char *p, size_t avail,
    struct gw_wsc_event *ev)
{
	size_t		 hl, i;
	uint64_t	 len;
	unsigned char	*pl;
	int		 fin, op;

	memset(ev, 0, sizeof(ev[0]));
	if (c->c_msgop == 0)
		buf_reset(&c->c_msg);	/* the last message was delivered */
	if (avail < 2)
		return;			/* WSC_MORE */
	fin = p[0] & 0x80;
	op = p[0] & 0x0f;
	if (p[0] & 0x70) {
		gw_wsc_fail(ev, 1002, "reserved bits set");
		return;
	}
	if (!(p[1] & 0x80)) {
		gw_wsc_fail(ev, 1002, "client frames must be masked");
		return;
	}
	len = p[1] & 0x7f;
	hl = 2;
	if (len == 126) {
		if (avail < 4)
			return;
		len = ((uint64_t)p[2] << 8) | p[3];
		hl = 4;
	} else if (len == 127) {
		if (avail < 10)
			return;
		for (len = 0, i = 0; i < 8; i++)
			len = (len << 8) | p[2 + i];
		hl = 10;
	}
	if (op >= 0x8) {
		if (op > WS_OP_PONG || !fin || len > 125) {
			gw_wsc_fail(ev, 1002, "bad control frame");
			return;
		}
	} else if (op > WS_OP_BINARY) {
		gw_wsc_fail(ev, 1002, "unknown opcode");
		return;
	} else if (len > GW_WS_MAX_MSG ||
	    c->c_msg.b_len + len > GW_WS_MAX_MSG) {
		gw_wsc_fail(ev, 1009, "message too big");
		return;
	}
	if (avail < hl + 4 + len) {
		ev->e_need = hl + 4 + len;	/* bounded just above */
		return;
	}
	pl = p + hl + 4;
	for (i = 0; i < len; i++)
		pl[i] ^= p[hl + (i & 3)];
	ev->e_used = hl + 4 + len;
	ev->e_kind = WSC_NONE;

	switch (op) {
	case WS_OP_PING:
		ev->e_kind = WSC_PING;
		ev->e_data = pl;
		ev->e_len = len;
		return;
	case WS_OP_PONG:
		return;
	case WS_OP_CLOSE:
		gw_wsc_peer_close(pl, len, ev);
		return;
	case WS_OP_CONT:
		if (c->c_msgop == 0) {
			gw_wsc_fail(ev, 1002, "continuation without a "
			    "message");
			return;
		}
		break;
	default:	/* text, binary */
		if (c->c_msgop != 0) {
			gw_wsc_fail(ev, 1002, "a new message inside a "
			    "fragmented one");
			return;
		}
		c->c_msgop = op;
		break;
	}
	if (buf_add(&c->c_msg, pl, len) != 0) {
		gw_wsc_fail(ev, 1009, "message too big");
		return;
	}
	if (!fin)
		return;
	op = c->c_msgop;
	c->c_msgop = 0;
	if (op == WS_OP_BINARY)
		gw_wsc_fail(ev, 1003, "binary messages are not supported");
	else if (!util_utf8_valid((unsigned char *)c->c_msg.b_data,
	    c->c_msg.b_len))
		gw_wsc_fail(ev, 1007, "invalid UTF-8");
	else {
		ev->e_kind = WSC_TEXT;
		ev->e_data = c->c_msg.b_data != NULL ?
		    (unsigned char *)c->c_msg.b_data : (const unsigned char *)"";
		ev->e_len = c->c_msg.b_len;
	}
}
