/*
 * t_ad_ws.c - the adapters' WebSocket pieces (services/channels/adapters/
 * lib/ad_ws.c): frames built and parsed back, a server's stream fed in
 * pieces of every size from 1 up and in odd-sized pieces (so every
 * boundary falls inside a head, an extended length and a payload once):
 * fragmented messages joined, control frames between fragments, the
 * 16- and 64-bit lengths, close codes and reasons, the size limit, every
 * protocol violation refused with its close code, and the handshake's
 * Sec-WebSocket-Accept (RFC 6455 1.3's example) and its 101 read by
 * ad_http's parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_ws.h"
#include "tap.h"

/* What the parser handed out, one line per frame. */
struct got {
	char	log[200000];
	size_t	len;
	int	n;
};

static void
on_frame(void *arg, int op, const char *data, size_t n, int code)
{
	struct got	*g = arg;
	int		 k;

	k = snprintf(g->log + g->len, sizeof(g->log) - g->len, "%d/%d/%zu:",
	    op, code, n);
	if (k < 0 || (size_t)k + n + 2 > sizeof(g->log) - g->len)
		return;
	g->len += (size_t)k;
	memcpy(g->log + g->len, data, n);
	g->len += n;
	g->log[g->len++] = '|';
	g->log[g->len] = '\0';
	g->n++;
}

/* Feeds s (n bytes) in pieces of step (0: whole); the parse's result. */
static int
feed(struct ad_ws_parser *p, struct got *g, const char *s, size_t n,
    size_t step, size_t max)
{
	size_t	off = 0, k;

	ad_ws_parser_init(p, max);
	memset(g, 0, sizeof(*g));
	if (step == 0)
		step = n ? n : 1;
	while (off < n) {
		k = n - off < step ? n - off : step;
		if (ad_ws_parse(p, s + off, k, on_frame, g) != 0)
			return (-1);
		off += k;
	}
	return (0);
}

/* A server's frame (unmasked) appended to buf at *len. */
static void
put(char *buf, size_t *len, int fin, int op, const char *data, size_t n)
{
	size_t	k = ad_ws_frame(buf + *len, op, data, n, NULL);

	if (!fin)
		buf[*len] &= 0x7f;
	*len += k;
}

static int
t_accept(void)
{
	char	out[32];

	/* RFC 6455 1.3. */
	T_OK(ad_ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", out,
	    sizeof(out)) == 0);
	T_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	return (0);
}

static int
t_handshake_head(void)
{
	static const char *resp = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	    "\x81\x02hi";
	struct ad_http_parser	p;
	size_t			n = strlen(resp), step, off, k, used;
	int			rv;

	for (step = 1; step <= n; step++) {
		ad_http_parser_init(&p, 1024, 0);
		p.hp_upgrade = 1;
		rv = 0;
		for (off = 0; off < n && rv == 0; off += k) {
			k = n - off < step ? n - off : step;
			rv = ad_http_parse(&p, resp + off, k, &used);
		}
		T_EQ_INT(rv, 1);
		T_EQ_INT(p.hp_status, 101);
		T_OK(p.hp_up_ws && p.hp_conn_up);
		T_EQ_STR(p.hp_ws_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
		/* The frame after the head is not the response's. */
		T_EQ_INT(off - k + used, n - 4);
		ad_http_parser_release(&p);
	}
	/* Without hp_upgrade a 101 stays refused. */
	ad_http_parser_init(&p, 1024, 0);
	T_EQ_INT(ad_http_parse(&p, resp, n, &used), -1);
	ad_http_parser_release(&p);
	return (0);
}

static int
t_roundtrip_masked(void)
{
	static const unsigned char mask[4] = { 0x12, 0x34, 0x56, 0x78 };
	struct ad_ws_parser	 p;
	struct got		*g = calloc(1, sizeof(*g));
	char			*buf, *data;
	size_t			 sizes[] = { 0, 1, 125, 126, 65535, 65536,
				    70000 }, i, len, j;

	T_OK(g != NULL);
	buf = malloc(80000);
	data = malloc(80000);
	for (j = 0; j < 70000; j++)
		data[j] = (char)('a' + j % 26);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		len = ad_ws_frame(buf, AD_WS_OP_TEXT, data, sizes[i], mask);
		T_EQ_INT(len, sizes[i] + 4 + (sizes[i] < 126 ? 2 :
		    sizes[i] < 65536 ? 4 : 10));
		T_OK((unsigned char)buf[1] & 0x80);
		/* As a server reads it (masked frames expected). */
		ad_ws_parser_init(&p, 100000);
		p.wp_server = 1;
		memset(g, 0, sizeof(*g));
		T_EQ_INT(ad_ws_parse(&p, buf, len, on_frame, g), 0);
		T_EQ_INT(g->n, 1);
		T_OK(strncmp(g->log + strcspn(g->log, ":") + 1, data,
		    sizes[i]) == 0);
		ad_ws_parser_release(&p);
		/* A client refuses a masked frame. */
		T_EQ_INT(feed(&p, g, buf, len, 0, 100000), -1);
		T_EQ_INT(p.wp_err, AD_WS_CLOSE_PROTOCOL);
		ad_ws_parser_release(&p);
	}
	free(buf);
	free(data);
	free(g);
	return (0);
}

static int
t_stream_every_split(void)
{
	struct ad_ws_parser	 p;
	struct got		*g = calloc(1, sizeof(*g));
	char			 buf[2048], big[300], cl[40];
	size_t			 len = 0, step;
	const char		*want;

	T_OK(g != NULL);
	memset(big, 'x', sizeof(big));
	/* "hello" whole; "frag"+"men"+"ted" with a ping between; a 300-byte
	 * binary (16-bit length); an empty text; a close 1000 "bye". */
	put(buf, &len, 1, AD_WS_OP_TEXT, "hello", 5);
	put(buf, &len, 0, AD_WS_OP_TEXT, "frag", 4);
	put(buf, &len, 0, AD_WS_OP_CONT, "men", 3);
	put(buf, &len, 1, AD_WS_OP_PING, "p1", 2);
	put(buf, &len, 1, AD_WS_OP_CONT, "ted", 3);
	put(buf, &len, 1, AD_WS_OP_BINARY, big, sizeof(big));
	put(buf, &len, 1, AD_WS_OP_TEXT, "", 0);
	put(buf, &len, 1, AD_WS_OP_PONG, "", 0);
	cl[0] = 0x03; cl[1] = (char)0xe8;
	memcpy(cl + 2, "bye", 3);
	put(buf, &len, 1, AD_WS_OP_CLOSE, cl, 5);
	for (step = 0; step <= len; step++) {
		T_EQ_INT(feed(&p, g, buf, len, step, 4096), 0);
		T_EQ_INT(g->n, 7);
		want = "1/0/5:hello|9/0/2:p1|1/0/10:fragmented|2/0/300:";
		if (strncmp(g->log, want, strlen(want)) != 0)
			printf("# %.80s\n", g->log);
		T_OK(strncmp(g->log, want, strlen(want)) == 0);
		T_OK(strstr(g->log, "|1/0/0:|10/0/0:|8/1000/3:bye|") != NULL);
		ad_ws_parser_release(&p);
	}
	/* Odd-sized pieces: 3, 7, 13 bytes at a time. */
	for (step = 3; step <= 13; step += step == 3 ? 4 : 6) {
		T_EQ_INT(feed(&p, g, buf, len, step, 4096), 0);
		T_EQ_INT(g->n, 7);
		ad_ws_parser_release(&p);
	}
	free(g);
	return (0);
}

static int
t_long_lengths(void)
{
	struct ad_ws_parser	 p;
	struct got		*g = calloc(1, sizeof(*g));
	char			*buf = malloc(140000), *data = malloc(70000);
	size_t			 len = 0, step;

	T_OK(g != NULL && buf != NULL && data != NULL);
	memset(data, 'y', 70000);
	put(buf, &len, 0, AD_WS_OP_TEXT, data, 70000);	/* 64-bit length */
	put(buf, &len, 1, AD_WS_OP_CONT, data, 1000);
	for (step = 1; step < 140000; step = step * 7 + 1) {
		T_EQ_INT(feed(&p, g, buf, len, step, 100000), 0);
		T_EQ_INT(g->n, 1);
		T_OK(strncmp(g->log, "1/0/71000:yyy", 13) == 0);
		ad_ws_parser_release(&p);
	}
	/* The limit: 71000 bytes joined are past 70999. */
	T_EQ_INT(feed(&p, g, buf, len, 0, 70999), -1);
	T_EQ_INT(p.wp_err, AD_WS_CLOSE_TOOBIG);
	ad_ws_parser_release(&p);
	/* One frame alone past it is refused at its head, before its
	 * payload came. */
	T_EQ_INT(feed(&p, g, buf, 10, 0, 1000), -1);
	T_EQ_INT(p.wp_err, AD_WS_CLOSE_TOOBIG);
	ad_ws_parser_release(&p);
	free(buf);
	free(data);
	free(g);
	return (0);
}

/* Each of these is refused with code at every split. */
static int
refused(const char *s, size_t n, int code)
{
	struct ad_ws_parser	 p;
	struct got		*g = calloc(1, sizeof(*g));
	size_t			 step;
	int			 rv;

	if (g == NULL)
		return (-1);
	for (step = 0; step <= n; step++) {
		rv = feed(&p, g, s, n, step, 4096);
		ad_ws_parser_release(&p);
		if (rv != -1 || p.wp_err != code || p.wp_why == NULL) {
			printf("# step %zu: rv %d, code %d\n", step, rv,
			    p.wp_err);
			free(g);
			return (-1);
		}
	}
	free(g);
	return (0);
}

static int
t_violations(void)
{
	/* reserved bit */
	T_OK(refused("\xc1\x00", 2, AD_WS_CLOSE_PROTOCOL) == 0);
	/* unknown opcode */
	T_OK(refused("\x83\x00", 2, AD_WS_CLOSE_PROTOCOL) == 0);
	/* continuation without a start */
	T_OK(refused("\x80\x01x", 3, AD_WS_CLOSE_PROTOCOL) == 0);
	/* a new text inside a fragmented one */
	T_OK(refused("\x01\x01x\x81\x01y", 6, AD_WS_CLOSE_PROTOCOL) == 0);
	/* a fragmented ping */
	T_OK(refused("\x09\x00", 2, AD_WS_CLOSE_PROTOCOL) == 0);
	/* a ping of 126 bytes (16-bit length form) */
	T_OK(refused("\x89\x7e\x00\x7e", 4, AD_WS_CLOSE_PROTOCOL) == 0);
	/* a 16-bit length that fits 7 bits */
	T_OK(refused("\x81\x7e\x00\x05hello", 9, AD_WS_CLOSE_PROTOCOL) == 0);
	/* a 64-bit length with its top bit */
	T_OK(refused("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01", 10,
	    AD_WS_CLOSE_PROTOCOL) == 0);
	/* a close of one byte; a close code not to be sent (1005) */
	T_OK(refused("\x88\x01\x03", 3, AD_WS_CLOSE_PROTOCOL) == 0);
	T_OK(refused("\x88\x02\x03\xed", 4, AD_WS_CLOSE_PROTOCOL) == 0);
	/* text not UTF-8: a lone continuation byte, an overlong, a
	 * surrogate, a sequence cut at the end */
	T_OK(refused("\x81\x01\x80", 3, 1007) == 0);
	T_OK(refused("\x81\x02\xc0\xaf", 4, 1007) == 0);
	T_OK(refused("\x81\x03\xed\xa0\x80", 5, 1007) == 0);
	T_OK(refused("\x81\x02\xe2\x82", 4, 1007) == 0);
	return (0);
}

static int
t_utf8_split_across_fragments(void)
{
	struct ad_ws_parser	 p;
	struct got		*g = calloc(1, sizeof(*g));
	char			 buf[64];
	size_t			 len = 0, step;

	T_OK(g != NULL);
	/* "€" (e2 82 ac) cut between two fragments: whole once joined. */
	put(buf, &len, 0, AD_WS_OP_TEXT, "a\xe2\x82", 3);
	put(buf, &len, 1, AD_WS_OP_CONT, "\xac", 1);
	for (step = 0; step <= len; step++) {
		T_EQ_INT(feed(&p, g, buf, len, step, 64), 0);
		T_EQ_STR(g->log, "1/0/4:a\xe2\x82\xac|");
		ad_ws_parser_release(&p);
	}
	free(g);
	return (0);
}

static int
t_close_without_code(void)
{
	struct ad_ws_parser	 p;
	struct got		 *g = calloc(1, sizeof(*g));

	T_OK(g != NULL);
	T_EQ_INT(feed(&p, g, "\x88\x00", 2, 0, 64), 0);
	T_EQ_STR(g->log, "8/1005/0:|");
	ad_ws_parser_release(&p);
	/* Discord's 4004 with a reason. */
	T_EQ_INT(feed(&p, g, "\x88\x18\x0f\xa4" "Authentication failed.",
	    26, 1, 64), 0);
	T_EQ_STR(g->log, "8/4004/22:Authentication failed.|");
	ad_ws_parser_release(&p);
	free(g);
	return (0);
}

/* The handshake's request: its lines, extra header lines before the
 * blank line; one that does not fit refused. */
static int
t_handshake(void)
{
	char	out[512];
	int	n;

	n = ad_ws_handshake(out, sizeof(out), "/api/v4/websocket?a=1",
	    "example.com:8065", "dGhlIHNhbXBsZSBub25jZQ==", NULL);
	T_EQ_STR(out, "GET /api/v4/websocket?a=1 HTTP/1.1\r\n"
	    "Host: example.com:8065\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\nUser-Agent: librefang-adapter\r\n"
	    "\r\n");
	T_EQ_INT(n, strlen(out));
	n = ad_ws_handshake(out, sizeof(out), "/", "h", "k",
	    "Authorization: Bearer tok\r\nX-A: b\r\n");
	T_OK(n > 0);
	T_OK(strstr(out, "User-Agent: librefang-adapter\r\n"
	    "Authorization: Bearer tok\r\nX-A: b\r\n\r\n") != NULL);
	T_EQ_INT(strlen(out) - 4, strstr(out, "\r\n\r\n") - out);
	T_EQ_INT(ad_ws_handshake(out, 100, "/", "h", "k", NULL), -1);
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "Sec-WebSocket-Accept of RFC 6455's example key", t_accept },
		{ "the handshake's request, extra header lines in it",
		    t_handshake },
		{ "the 101 read by ad_http's parser at every split, the "
		    "frame after it left over", t_handshake_head },
		{ "our frames masked, every length form, read back",
		    t_roundtrip_masked },
		{ "a stream at every split and odd pieces: fragments joined, "
		    "a ping between them, close code and reason",
		    t_stream_every_split },
		{ "64-bit lengths; the message limit, also before a payload",
		    t_long_lengths },
		{ "protocol violations refused with their close codes at every "
		    "split", t_violations },
		{ "a UTF-8 character cut across fragments is whole",
		    t_utf8_split_across_fragments },
		{ "a close without a code is 1005; 4004 with its reason",
		    t_close_without_code },
		{ NULL, NULL }
	};

	return (tap_main(cases));
}
