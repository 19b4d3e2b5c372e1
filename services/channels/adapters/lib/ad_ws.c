/*
 * ad_ws.c - the adapters' WebSocket client (ad_ws.h): the Upgrade
 * handshake over ad_conn, frames parsed from bytes in any pieces, ours
 * built masked, the close handshake.
 */
#include <sys/random.h>

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* SHA1_Init() and friends, deprecated in OpenSSL 3 for the EVP calls,
 * hash without fetching an algorithm from a provider: SHA1() and EVP
 * load the default provider's tables, over 1 MB of PSS that a plain
 * ws:// adapter otherwise never touches (t8130 measures it). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ad_ws.h"
#include "log.h"
#include "util.h"

#define AD_WS_GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define AD_WS_HEAD_BODY	(16 * 1024)	/* a refused handshake's body */

/* ---- the frame parser ---------------------------------------------------- */

void
ad_ws_parser_init(struct ad_ws_parser *p, size_t max)
{
	memset(p, 0, sizeof(*p));
	p->wp_max = max;
	p->wp_headneed = 2;
}

void
ad_ws_parser_release(struct ad_ws_parser *p)
{
	free(p->wp_msg);
	p->wp_msg = NULL;
	p->wp_msglen = p->wp_msgcap = 0;
}

static int
ad_wp_fail(struct ad_ws_parser *p, int code, const char *why)
{
	p->wp_err = code;
	p->wp_why = why;
	return (-1);
}

/* Whether n bytes of s are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing past U+10FFFF). */
static int
ad_wp_utf8(const unsigned char *s, size_t n)
{
	size_t		i = 0, k, j;
	uint32_t	cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			k = 1;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			k = 2;
			cp = s[i] & 0x0f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			k = 3;
			cp = s[i] & 0x07;
		} else
			return (0);
		if (n - i <= k)
			return (0);
		for (j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return (0);
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return (0);
		i += k + 1;
	}
	return (1);
}

/* The head is whole: what it says checked. */
static int
ad_wp_head(struct ad_ws_parser *p)
{
	const unsigned char	*h = p->wp_head;
	size_t			 off = 2;
	uint64_t		 len;
	int			 i;

	len = h[1] & 0x7f;
	if (len == 126) {
		len = ((uint64_t)h[2] << 8) | h[3];
		off = 4;
		if (len < 126)
			return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
			    "a length not in its shortest form"));
	} else if (len == 127) {
		len = 0;
		for (i = 0; i < 8; i++)
			len = (len << 8) | h[2 + i];
		off = 10;
		if (len >> 63)
			return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
			    "a length with its top bit set"));
		if (len < 65536)
			return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
			    "a length not in its shortest form"));
	}
	if (p->wp_masked)
		memcpy(p->wp_mask, h + off, 4);
	p->wp_plen = len;
	p->wp_pgot = 0;
	if (p->wp_op & 0x8) {
		if (len > 125)
			return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
			    "a control frame longer than 125 bytes"));
		return (0);
	}
	if (len > p->wp_max || p->wp_msglen > p->wp_max - len)
		return (ad_wp_fail(p, AD_WS_CLOSE_TOOBIG,
		    "a message past the size limit"));
	if (p->wp_msglen + len + 1 > p->wp_msgcap) {
		size_t	 cap = p->wp_msgcap ? p->wp_msgcap : 1024;
		char	*nb;

		while (cap < p->wp_msglen + len + 1)
			cap *= 2;
		if ((nb = realloc(p->wp_msg, cap)) == NULL)
			return (ad_wp_fail(p, AD_WS_CLOSE_TOOBIG,
			    "out of memory"));
		p->wp_msg = nb;
		p->wp_msgcap = cap;
	}
	return (0);
}

/* The first two bytes: the frame's kind checked. */
static int
ad_wp_first(struct ad_ws_parser *p)
{
	const unsigned char	*h = p->wp_head;
	int			 len7;

	if (h[0] & 0x70)
		return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
		    "reserved bits set"));
	p->wp_fin = (h[0] & 0x80) != 0;
	p->wp_op = h[0] & 0x0f;
	p->wp_masked = (h[1] & 0x80) != 0;
	len7 = h[1] & 0x7f;
	switch (p->wp_op) {
	case AD_WS_OP_CONT:
		if (p->wp_msgop == 0)
			return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
			    "a continuation without a message"));
		break;
	case AD_WS_OP_TEXT:
	case AD_WS_OP_BINARY:
		if (p->wp_msgop != 0)
			return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
			    "a new message inside a fragmented one"));
		break;
	case AD_WS_OP_CLOSE:
	case AD_WS_OP_PING:
	case AD_WS_OP_PONG:
		if (!p->wp_fin)
			return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
			    "a fragmented control frame"));
		break;
	default:
		return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
		    "an unknown opcode"));
	}
	if (p->wp_masked != p->wp_server)
		return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL, p->wp_server ?
		    "an unmasked frame from the client" :
		    "a masked frame from the server"));
	p->wp_headneed = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
	    (p->wp_masked ? 4 : 0);
	return (0);
}

/* A frame is whole. */
static int
ad_wp_done(struct ad_ws_parser *p, ad_ws_frame_fn fn, void *arg)
{
	char	reason[126];
	size_t	n = (size_t)p->wp_plen;
	int	code, op = p->wp_op;

	p->wp_headlen = 0;
	p->wp_headneed = 2;
	if (op == AD_WS_OP_CLOSE) {
		if (n == 1)
			return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
			    "a close frame of one byte"));
		code = AD_WS_CLOSE_NONE;
		reason[0] = '\0';
		if (n >= 2) {
			code = ((unsigned char)p->wp_ctl[0] << 8) |
			    (unsigned char)p->wp_ctl[1];
			if (code < 1000 || code >= 5000 || code == 1004 ||
			    code == 1005 || code == 1006 || code == 1015 ||
			    (code >= 1016 && code < 3000))
				return (ad_wp_fail(p, AD_WS_CLOSE_PROTOCOL,
				    "a close code not to be sent"));
			if (!ad_wp_utf8((unsigned char *)p->wp_ctl + 2, n - 2))
				return (ad_wp_fail(p, 1007,
				    "a close reason not UTF-8"));
			memcpy(reason, p->wp_ctl + 2, n - 2);
			reason[n - 2] = '\0';
		}
		fn(arg, op, reason, strlen(reason), code);
		return (0);
	}
	if (op == AD_WS_OP_PING || op == AD_WS_OP_PONG) {
		fn(arg, op, p->wp_ctl, n, 0);
		return (0);
	}
	if (op != AD_WS_OP_CONT)
		p->wp_msgop = op;
	if (!p->wp_fin)
		return (0);
	op = p->wp_msgop;
	p->wp_msgop = 0;
	if (op == AD_WS_OP_TEXT && !ad_wp_utf8((unsigned char *)p->wp_msg,
	    p->wp_msglen))
		return (ad_wp_fail(p, 1007, "a text message not UTF-8"));
	if (p->wp_msg != NULL)
		p->wp_msg[p->wp_msglen] = '\0';
	fn(arg, op, p->wp_msg != NULL ? p->wp_msg : "", p->wp_msglen, 0);
	p->wp_msglen = 0;
	/* A large message's buffer is not kept. */
	if (p->wp_msgcap > 64 * 1024) {
		free(p->wp_msg);
		p->wp_msg = NULL;
		p->wp_msgcap = 0;
	}
	return (0);
}

int
ad_ws_parse(struct ad_ws_parser *p, const char *data, size_t n,
    ad_ws_frame_fn fn, void *arg)
{
	const unsigned char	*d = (const unsigned char *)data;
	size_t			 i = 0, k, j;
	char			*dst;

	if (p->wp_err != 0)
		return (-1);
	while (i < n) {
		if (p->wp_headlen < p->wp_headneed) {
			p->wp_head[p->wp_headlen++] = d[i++];
			if (p->wp_headlen == 2 && ad_wp_first(p) != 0)
				return (-1);
			if (p->wp_headlen < p->wp_headneed)
				continue;
			if (ad_wp_head(p) != 0)
				return (-1);
			if (p->wp_plen == 0 && ad_wp_done(p, fn, arg) != 0)
				return (-1);
			continue;
		}
		k = n - i;
		if (k > p->wp_plen - p->wp_pgot)
			k = (size_t)(p->wp_plen - p->wp_pgot);
		dst = (p->wp_op & 0x8) ? p->wp_ctl + p->wp_pgot :
		    p->wp_msg + p->wp_msglen;
		for (j = 0; j < k; j++)
			dst[j] = (char)(d[i + j] ^ (p->wp_masked ?
			    p->wp_mask[(p->wp_pgot + j) & 3] : 0));
		if (!(p->wp_op & 0x8))
			p->wp_msglen += k;
		p->wp_pgot += k;
		i += k;
		if (p->wp_pgot == p->wp_plen && ad_wp_done(p, fn, arg) != 0)
			return (-1);
		if (p->wp_err != 0)
			return (-1);
	}
	return (0);
}

size_t
ad_ws_frame(char *out, int opcode, const char *data, size_t n,
    const unsigned char *mask)
{
	unsigned char	*o = (unsigned char *)out;
	size_t		 h = 2, i;

	o[0] = (unsigned char)(0x80 | (opcode & 0x0f));
	if (n < 126)
		o[1] = (unsigned char)n;
	else if (n < 65536) {
		o[1] = 126;
		o[2] = (unsigned char)(n >> 8);
		o[3] = (unsigned char)n;
		h = 4;
	} else {
		o[1] = 127;
		for (i = 0; i < 8; i++)
			o[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		h = 10;
	}
	if (mask != NULL) {
		o[1] |= 0x80;
		memcpy(o + h, mask, 4);
		h += 4;
	}
	for (i = 0; i < n; i++)
		o[h + i] = (unsigned char)data[i] ^
		    (mask != NULL ? mask[i & 3] : 0);
	return (h + n);
}

int
ad_ws_accept_for(const char *key, char *out, size_t outlen)
{
	unsigned char	md[SHA_DIGEST_LENGTH];
	SHA_CTX		ctx;
	char		buf[128];
	int		n;

	n = snprintf(buf, sizeof(buf), "%s%s", key, AD_WS_GUID);
	if (n < 0 || (size_t)n >= sizeof(buf) || outlen < 29)
		return (-1);
	if (SHA1_Init(&ctx) != 1 || SHA1_Update(&ctx, buf, (size_t)n) != 1 ||
	    SHA1_Final(md, &ctx) != 1)
		return (-1);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
	return (0);
}

/* ---- the client ------------------------------------------------------------ */

void
ad_ws_init(struct ad_ws *w, struct ad *a)
{
	memset(w, 0, sizeof(*w));
	w->ws_ad = a;
	w->ws_watched = -1;
	ad_conn_init(&w->ws_conn);
	ad_http_parser_init(&w->ws_hp, 0, 0);
	ad_ws_parser_init(&w->ws_p, 0);
}

static void
ad_ws_rewatch(struct ad_ws *w)
{
	int	fd = ad_conn_fd(&w->ws_conn);

	if (w->ws_ad == NULL)
		return;
	if (w->ws_watched != fd) {
		ad_watch(w->ws_ad, w->ws_watched, 0);
		w->ws_watched = fd;
	}
	if (fd >= 0)
		ad_watch(w->ws_ad, fd, ad_conn_events(&w->ws_conn));
}

/* Closes the socket and forgets the session; no callback. */
static void
ad_ws_drop(struct ad_ws *w)
{
	if (w->ws_ad != NULL)
		ad_watch(w->ws_ad, w->ws_watched, 0);
	w->ws_watched = -1;
	ad_conn_close(&w->ws_conn);
	ad_http_parser_release(&w->ws_hp);
	ad_ws_parser_release(&w->ws_p);
	w->ws_state = AD_WS_CLOSED;
	w->ws_deadline = 0;
	w->ws_pending = 0;
}

void
ad_ws_abort(struct ad_ws *w)
{
	w->ws_cb = NULL;
	if (w->ws_in_io) {
		/* Inside ad_conn_io(): ad_ws_io() closes it after. */
		w->ws_state = AD_WS_CLOSED;
		w->ws_pending = 0;
		return;
	}
	ad_ws_drop(w);
}

/* The end: the socket closed, then on_close, after which w is the
 * callback's. */
static void
ad_ws_finish(struct ad_ws *w, int code, const char *why)
{
	const struct ad_ws_cb	*cb = w->ws_cb;
	void			*arg = w->ws_arg;
	char			 reason[256];

	snprintf(reason, sizeof(reason), "%s", why);
	ad_conn_flush(&w->ws_conn);
	ad_ws_drop(w);
	w->ws_cb = NULL;
	if (cb != NULL && cb->on_close != NULL)
		cb->on_close(arg, code, reason);
}

/* Ends it from ad_ws_tick(): the caller's call returns first. */
static void
ad_ws_later(struct ad_ws *w, int code, const char *why)
{
	/* Inside ad_conn_io() the connection is ad_ws_io()'s to close. */
	if (!w->ws_in_io) {
		ad_conn_flush(&w->ws_conn);
		if (w->ws_ad != NULL)
			ad_watch(w->ws_ad, w->ws_watched, 0);
		w->ws_watched = -1;
		ad_conn_close(&w->ws_conn);
	}
	w->ws_pending = 1;
	w->ws_close_code = code;
	snprintf(w->ws_why, sizeof(w->ws_why), "%s", why);
}

/* n random bytes from the kernel (not OpenSSL's DRBG: on a plain ws://
 * connection it would load libcrypto's providers, over 1 MB of PSS). */
static int
ad_ws_random(void *buf, size_t n)
{
	return (getrandom(buf, n, 0) == (ssize_t)n ? 0 : -1);
}

/* Queues one frame of ours, masked. */
static int
ad_ws_put(struct ad_ws *w, int op, const char *data, size_t n)
{
	unsigned char	 mask[4];
	char		*buf;
	size_t		 len;
	int		 rv;

	if (ad_ws_random(mask, sizeof(mask)) != 0)
		return (-1);
	if ((buf = malloc(n + 14)) == NULL)
		return (-1);
	len = ad_ws_frame(buf, op, data, n, mask);
	rv = ad_conn_write(&w->ws_conn, buf, len);
	free(buf);
	return (rv == 0 ? 0 : -1);
}

static void
ad_ws_put_close(struct ad_ws *w, int code, const char *reason)
{
	char	buf[125];
	size_t	rl = reason != NULL ? strlen(reason) : 0;

	if (rl > 123)
		rl = 123;
	if (code == AD_WS_CLOSE_NONE) {
		(void)ad_ws_put(w, AD_WS_OP_CLOSE, "", 0);
		return;
	}
	buf[0] = (char)(code >> 8);
	buf[1] = (char)code;
	if (rl > 0)
		memcpy(buf + 2, reason, rl);
	(void)ad_ws_put(w, AD_WS_OP_CLOSE, buf, 2 + rl);
}

int
ad_ws_handshake(char *out, size_t outlen, const char *path,
    const char *hosthdr, const char *key, const char *extra)
{
	int	n;

	n = snprintf(out, outlen, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
	    "User-Agent: librefang-adapter\r\n%s\r\n", path, hosthdr, key,
	    extra != NULL ? extra : "");
	if (n < 0 || (size_t)n >= outlen)
		return (-1);
	return (n);
}

void
ad_ws_set_headers(struct ad_ws *w, const char *extra)
{
	w->ws_extra = extra;
}

int
ad_ws_open(struct ad_ws *w, const char *url, int flags, const char *ca_file,
    size_t max, const struct ad_ws_cb *cb, void *arg, char *err,
    size_t errlen)
{
	struct ad_url	 u;
	unsigned char	 raw[16];
	const char	*why;
	char		 hurl[2048], req[3072], cerr[256];
	int		 n;

	ad_ws_drop(w);
	if (strncasecmp(url, "wss://", 6) == 0)
		n = snprintf(hurl, sizeof(hurl), "https://%s", url + 6);
	else if (strncasecmp(url, "ws://", 5) == 0)
		n = snprintf(hurl, sizeof(hurl), "http://%s", url + 5);
	else {
		snprintf(err, errlen, "the URL is not ws:// or wss://");
		return (-1);
	}
	if (n < 0 || (size_t)n >= sizeof(hurl)) {
		snprintf(err, errlen, "the URL is too long");
		return (-1);
	}
	if (ad_url_parse(hurl, &u, &why) != 0) {
		snprintf(err, errlen, "%s", why);
		return (-1);
	}
	if (ad_ws_random(raw, sizeof(raw)) != 0) {
		snprintf(err, errlen, "no random bytes for the key");
		return (-1);
	}
	EVP_EncodeBlock((unsigned char *)w->ws_key, raw, sizeof(raw));
	n = ad_ws_handshake(req, sizeof(req), u.au_path, u.au_hosthdr,
	    w->ws_key, w->ws_extra);
	if (n < 0) {
		snprintf(err, errlen, "the URL is too long");
		return (-1);
	}
	w->ws_flags = (flags & ~AD_CONN_TLS) | (u.au_tls ? AD_CONN_TLS : 0);
	w->ws_ca_file = ca_file;
	w->ws_max = max;
	w->ws_cb = cb;
	w->ws_arg = arg;
	ad_http_parser_init(&w->ws_hp, AD_WS_HEAD_BODY, 0);
	w->ws_hp.hp_upgrade = 1;
	ad_ws_parser_init(&w->ws_p, max);
	w->ws_state = AD_WS_HANDSHAKE;
	w->ws_deadline = util_now_ms() + AD_WS_HANDSHAKE_MS;
	if (ad_conn_open(&w->ws_conn, u.au_host, u.au_port, w->ws_flags,
	    ca_file, cerr, sizeof(cerr)) != 0) {
		ad_ws_later(w, AD_WS_CLOSE_DROPPED, cerr);
		return (0);
	}
	ad_conn_raw(&w->ws_conn, SIZE_MAX);
	if (ad_conn_write(&w->ws_conn, req, (size_t)n) != 0) {
		ad_ws_later(w, AD_WS_CLOSE_DROPPED, "could not queue the "
		    "handshake");
		return (0);
	}
	ad_ws_rewatch(w);
	return (0);
}

int
ad_ws_send(struct ad_ws *w, int binary, const char *data, size_t n)
{
	if (w->ws_state != AD_WS_OPEN || w->ws_pending)
		return (-1);
	if (ad_ws_put(w, binary ? AD_WS_OP_BINARY : AD_WS_OP_TEXT, data,
	    n) != 0)
		return (-1);
	w->ws_msgs_out++;
	if (!w->ws_in_io)
		ad_ws_rewatch(w);
	return (0);
}

void
ad_ws_close(struct ad_ws *w, int code, const char *reason)
{
	if (w->ws_pending)
		return;
	if (w->ws_state == AD_WS_HANDSHAKE) {
		ad_ws_later(w, AD_WS_CLOSE_DROPPED, "closed before the "
		    "handshake was done");
		return;
	}
	if (w->ws_state != AD_WS_OPEN)
		return;
	ad_ws_put_close(w, code, reason);
	w->ws_state = AD_WS_CLOSING;
	w->ws_deadline = util_now_ms() + AD_WS_CLOSE_WAIT_MS;
	if (!w->ws_in_io)
		ad_ws_rewatch(w);
}

int
ad_ws_owns(const struct ad_ws *w, int fd)
{
	return (fd >= 0 && fd == w->ws_watched);
}

int
ad_ws_is_open(const struct ad_ws *w)
{
	return (w->ws_state == AD_WS_OPEN && !w->ws_pending);
}

uint64_t
ad_ws_deadline(const struct ad_ws *w)
{
	if (w->ws_pending)
		return (1);
	if (w->ws_state == AD_WS_HANDSHAKE || w->ws_state == AD_WS_CLOSING)
		return (w->ws_deadline);
	return (0);
}

/* A message or control frame of the server's. */
static void
ad_ws_on_frame(void *arg, int op, const char *data, size_t n, int code)
{
	struct ad_ws	*w = arg;
	char		 why[200];

	if (w->ws_pending || w->ws_state == AD_WS_CLOSED)
		return;
	switch (op) {
	case AD_WS_OP_TEXT:
	case AD_WS_OP_BINARY:
		if (w->ws_state != AD_WS_OPEN)
			return;	/* after our close: not read */
		w->ws_msgs_in++;
		if (w->ws_cb != NULL && w->ws_cb->on_message != NULL)
			w->ws_cb->on_message(w->ws_arg,
			    op == AD_WS_OP_BINARY, data, n);
		break;
	case AD_WS_OP_PING:
		if (w->ws_state == AD_WS_OPEN)
			(void)ad_ws_put(w, AD_WS_OP_PONG, data, n);
		break;
	case AD_WS_OP_PONG:
		break;
	case AD_WS_OP_CLOSE:
		/* Theirs first: ours echoes the code; or theirs answers
		 * ours.  Either way the close is done. */
		if (w->ws_state == AD_WS_OPEN)
			ad_ws_put_close(w, code, data);
		snprintf(why, sizeof(why), "closed by the server (%d%s%.*s)",
		    code, n > 0 ? ": " : "", (int)(n > 120 ? 120 : n), data);
		ad_ws_later(w, code, why);
		break;
	}
}

/* The handshake's answer is whole: checked. */
static int
ad_ws_handshake_done(struct ad_ws *w, char *why, size_t whylen)
{
	struct ad_http_parser	*hp = &w->ws_hp;
	char			 want[32];

	if (hp->hp_status != 101) {
		snprintf(why, whylen, "the server refused the WebSocket "
		    "(HTTP %d%s%.100s)", hp->hp_status, hp->hp_len > 0 ?
		    ": " : "", hp->hp_body != NULL ? hp->hp_body : "");
		return (-1);
	}
	if (!hp->hp_up_ws || !hp->hp_conn_up) {
		snprintf(why, whylen, "the server's 101 lacks Upgrade: "
		    "websocket or Connection: upgrade");
		return (-1);
	}
	if (ad_ws_accept_for(w->ws_key, want, sizeof(want)) != 0 ||
	    strcmp(want, hp->hp_ws_accept) != 0) {
		snprintf(why, whylen, "the server's Sec-WebSocket-Accept is "
		    "not the key's");
		return (-1);
	}
	return (0);
}

/* Bytes as ad_conn reads them (raw mode). */
static void
ad_ws_on_bytes(void *arg, const char *data, size_t n)
{
	struct ad_ws	*w = arg;
	char		 why[300];
	size_t		 used;
	int		 rv;

	if (w->ws_pending || w->ws_state == AD_WS_CLOSED)
		return;
	if (w->ws_state == AD_WS_HANDSHAKE) {
		rv = ad_http_parse(&w->ws_hp, data, n, &used);
		if (rv == 0)
			return;
		if (rv < 0) {
			snprintf(why, sizeof(why), "the handshake's answer: "
			    "%s", w->ws_hp.hp_err);
			ad_ws_later(w, AD_WS_CLOSE_DROPPED, why);
			return;
		}
		if (ad_ws_handshake_done(w, why, sizeof(why)) != 0) {
			ad_ws_later(w, AD_WS_CLOSE_DROPPED, why);
			return;
		}
		ad_http_parser_release(&w->ws_hp);
		w->ws_state = AD_WS_OPEN;
		w->ws_deadline = 0;
		if (w->ws_cb != NULL && w->ws_cb->on_open != NULL)
			w->ws_cb->on_open(w->ws_arg);
		if (w->ws_pending || w->ws_state == AD_WS_CLOSED)
			return;
		data += used;
		n -= used;
	}
	if (n == 0 || w->ws_state == AD_WS_CLOSED)
		return;
	if (ad_ws_parse(&w->ws_p, data, n, ad_ws_on_frame, w) != 0 &&
	    !w->ws_pending) {
		snprintf(why, sizeof(why), "a WebSocket protocol error: %s",
		    w->ws_p.wp_why);
		ad_ws_put_close(w, w->ws_p.wp_err, w->ws_p.wp_why);
		ad_ws_later(w, AD_WS_CLOSE_DROPPED, why);
	}
}

void
ad_ws_io(struct ad_ws *w, int revents)
{
	char	err[256], why[300];
	int	rv;

	if (w->ws_state == AD_WS_CLOSED || w->ws_pending)
		return;
	err[0] = '\0';
	w->ws_in_io = 1;
	rv = ad_conn_io(&w->ws_conn, revents, ad_ws_on_bytes, w, err,
	    sizeof(err));
	w->ws_in_io = 0;
	if (w->ws_state == AD_WS_CLOSED && !w->ws_pending) {
		ad_ws_drop(w);	/* aborted from a callback */
		return;
	}
	if (w->ws_pending) {
		w->ws_pending = 0;
		ad_ws_finish(w, w->ws_close_code, w->ws_why);
		return;
	}
	if (rv != 0) {
		snprintf(why, sizeof(why), "the connection ended without a "
		    "close frame: %s", err);
		ad_ws_finish(w, AD_WS_CLOSE_DROPPED, why);
		return;
	}
	ad_ws_rewatch(w);
}

void
ad_ws_tick(struct ad_ws *w)
{
	if (w->ws_pending) {
		w->ws_pending = 0;
		ad_ws_finish(w, w->ws_close_code, w->ws_why);
		return;
	}
	if (w->ws_deadline == 0 || util_now_ms() < w->ws_deadline)
		return;
	if (w->ws_state == AD_WS_HANDSHAKE)
		ad_ws_finish(w, AD_WS_CLOSE_DROPPED, "no WebSocket handshake "
		    "within its time");
	else if (w->ws_state == AD_WS_CLOSING)
		ad_ws_finish(w, AD_WS_CLOSE_DROPPED, "no answer to our close "
		    "within its time");
}
