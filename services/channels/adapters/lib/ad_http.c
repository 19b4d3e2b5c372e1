/*
 * ad_http.c - the adapters' HTTP/1.1 client (ad_http.h): URLs split, a
 * response parsed from bytes in any pieces, one request at a time per
 * connection over ad_conn, kept alive between requests.
 */
#include <ctype.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ad_http.h"
#include "log.h"
#include "ssrf.h"
#include "util.h"

/* ---- URLs --------------------------------------------------------------- */

int
ad_url_parse(const char *url, struct ad_url *u, const char **why)
{
	const char	*p, *hs, *he, *ps;
	long long	 port;
	char		 num[8];
	size_t		 hl, i;

	memset(u, 0, sizeof(*u));
	for (i = 0; url[i] != '\0'; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f) {
			*why = "a blank or control character in the URL";
			return (-1);
		}
	if (strncasecmp(url, "https://", 8) == 0) {
		u->au_tls = 1;
		p = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else {
		*why = "the URL is not http:// or https://";
		return (-1);
	}
	u->au_port = u->au_tls ? 443 : 80;
	hs = p;
	he = p + strcspn(p, "/?#");
	if (memchr(hs, '@', (size_t)(he - hs)) != NULL) {
		*why = "a user or password in the URL";
		return (-1);
	}
	if (strchr(p, '#') != NULL) {
		*why = "a fragment in the URL";
		return (-1);
	}
	ps = NULL;
	if (*hs == '[') {
		const char *rb = memchr(hs, ']', (size_t)(he - hs));

		if (rb == NULL) {
			*why = "an unclosed '[' in the URL";
			return (-1);
		}
		hl = (size_t)(rb - hs - 1);
		if (hl == 0 || hl >= sizeof(u->au_host)) {
			*why = "a bad host in the URL";
			return (-1);
		}
		memcpy(u->au_host, hs + 1, hl);
		if (rb + 1 < he) {
			if (rb[1] != ':') {
				*why = "a bad host in the URL";
				return (-1);
			}
			ps = rb + 2;
		}
	} else {
		const char *c = memchr(hs, ':', (size_t)(he - hs));

		hl = (size_t)((c != NULL ? c : he) - hs);
		if (hl == 0 || hl >= sizeof(u->au_host)) {
			*why = "a bad host in the URL";
			return (-1);
		}
		memcpy(u->au_host, hs, hl);
		if (c != NULL)
			ps = c + 1;
	}
	if (ps != NULL) {
		if (he - ps < 1 || he - ps > 5) {
			*why = "a bad port in the URL";
			return (-1);
		}
		memcpy(num, ps, (size_t)(he - ps));
		num[he - ps] = '\0';
		if (strspn(num, "0123456789") != strlen(num) ||
		    util_strtonum(num, 1, 65535, &port) != 0) {
			*why = "a bad port in the URL";
			return (-1);
		}
		u->au_port = (int)port;
	}
	if (strchr(u->au_host, ':') != NULL)
		snprintf(u->au_hosthdr, sizeof(u->au_hosthdr), "[%s]:%d",
		    u->au_host, u->au_port);
	else
		snprintf(u->au_hosthdr, sizeof(u->au_hosthdr), "%s:%d",
		    u->au_host, u->au_port);
	if (snprintf(u->au_path, sizeof(u->au_path), "%s%s",
	    *he == '/' ? "" : "/", he) >= (int)sizeof(u->au_path)) {
		*why = "the URL's path is too long";
		return (-1);
	}
	return (0);
}

/* ---- the response parser ------------------------------------------------- */

void
ad_http_parser_init(struct ad_http_parser *p, size_t max, int nobody)
{
	memset(p, 0, sizeof(*p));
	p->hp_max = max;
	p->hp_nobody = nobody;
	p->hp_clen = -1;
	p->hp_retry_after = -1;
	p->hp_ratelimit_reset = -1;
}

void
ad_http_parser_release(struct ad_http_parser *p)
{
	free(p->hp_body);
	p->hp_body = NULL;
	p->hp_len = p->hp_cap = 0;
}

static int
ad_hp_fail(struct ad_http_parser *p, const char *why)
{
	p->hp_state = AD_HP_ERROR;
	p->hp_err = why;
	return (-1);
}

/* Room for want more body bytes and the NUL.  0, or -1 (too large, out
 * of memory). */
static int
ad_hp_room(struct ad_http_parser *p, size_t want)
{
	size_t	 cap;
	char	*nb;

	if (want > p->hp_max || p->hp_len > p->hp_max - want)
		return (ad_hp_fail(p, "the response is too large"));
	if (p->hp_len + want + 1 <= p->hp_cap)
		return (0);
	cap = p->hp_cap ? p->hp_cap : 1024;
	while (cap < p->hp_len + want + 1)
		cap *= 2;
	if ((nb = realloc(p->hp_body, cap)) == NULL)
		return (ad_hp_fail(p, "out of memory"));
	p->hp_body = nb;
	p->hp_cap = cap;
	return (0);
}

static int
ad_hp_append(struct ad_http_parser *p, const char *data, size_t n)
{
	if (ad_hp_room(p, n) != 0)
		return (-1);
	memcpy(p->hp_body + p->hp_len, data, n);
	p->hp_len += n;
	p->hp_body[p->hp_len] = '\0';
	return (0);
}

/* Whether the comma-separated token list v holds tok (any case). */
static int
ad_hp_has_token(const char *v, const char *tok)
{
	size_t	tl = strlen(tok), k;

	while (*v != '\0') {
		v += strspn(v, " \t,");
		k = strcspn(v, " \t,");
		if (k == tl && strncasecmp(v, tok, tl) == 0)
			return (1);
		v += k;
	}
	return (0);
}

static int
ad_hp_status_line(struct ad_http_parser *p, const char *l, size_t n)
{
	if (n < 12 || strncmp(l, "HTTP/1.", 7) != 0 ||
	    (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    !isdigit((unsigned char)l[9]) || !isdigit((unsigned char)l[10]) ||
	    !isdigit((unsigned char)l[11]) || (n > 12 && l[12] != ' '))
		return (ad_hp_fail(p, "the answer is not HTTP/1.x"));
	p->hp_status = (l[9] - '0') * 100 + (l[10] - '0') * 10 +
	    (l[11] - '0');
	if (p->hp_status < 100)
		return (ad_hp_fail(p, "a bad status"));
	if (p->hp_status == 101 && !p->hp_upgrade)
		return (ad_hp_fail(p, "an unasked protocol switch (101)"));
	p->hp_minor = l[7] - '0';
	/* HTTP/1.0 closes unless it says keep-alive. */
	p->hp_close = p->hp_minor == 0;
	p->hp_state = AD_HP_HEADERS;
	return (0);
}

/* The head is over: how the body comes. */
static int
ad_hp_head_end(struct ad_http_parser *p)
{
	if (p->hp_status == 101) {
		/* The switch asked for: what follows is the new
		 * protocol's. */
		p->hp_state = AD_HP_DONE;
		return (0);
	}
	if (p->hp_status < 200) {
		/* An interim response (100 Continue): the real one
		 * follows. */
		int up = p->hp_upgrade;

		ad_http_parser_init(p, p->hp_max, p->hp_nobody);
		p->hp_upgrade = up;
		return (0);
	}
	if (p->hp_nobody || p->hp_status == 204 || p->hp_status == 304) {
		p->hp_state = AD_HP_DONE;
		return (0);
	}
	if (p->hp_chunked) {
		/* Both framings: chunked wins, and the connection is not
		 * to be trusted after (RFC 9112 6.3). */
		if (p->hp_clen >= 0)
			p->hp_close = 1;
		p->hp_state = AD_HP_CHUNK_SIZE;
		return (0);
	}
	if (p->hp_clen >= 0) {
		if ((unsigned long long)p->hp_clen > p->hp_max)
			return (ad_hp_fail(p, "the response is too large"));
		if (p->hp_clen == 0) {
			p->hp_state = AD_HP_DONE;
			return (0);
		}
		/* Sized once: one block, not a trail of reallocs. */
		if (ad_hp_room(p, (size_t)p->hp_clen) != 0)
			return (-1);
		p->hp_left = (unsigned long long)p->hp_clen;
		p->hp_state = AD_HP_BODY;
		return (0);
	}
	p->hp_close = 1;
	p->hp_state = AD_HP_BODY_EOF;
	return (0);
}

static int
ad_hp_header(struct ad_http_parser *p, char *l, size_t n)
{
	char		*v, *e;
	long long	 num;

	if (n == 0)
		return (ad_hp_head_end(p));
	if (l[0] == ' ' || l[0] == '\t')
		return (ad_hp_fail(p, "a folded header line"));
	if ((v = memchr(l, ':', n)) == NULL || v == l ||
	    strcspn(l, " \t") < (size_t)(v - l))
		return (ad_hp_fail(p, "a malformed header line"));
	*v++ = '\0';
	v += strspn(v, " \t");
	for (e = l + n; e > v && (e[-1] == ' ' || e[-1] == '\t');)
		*--e = '\0';
	if (strcasecmp(l, "Content-Length") == 0) {
		if (*v == '\0' || strspn(v, "0123456789") != strlen(v) ||
		    strlen(v) > 15 ||
		    util_strtonum(v, 0, 999999999999999LL, &num) != 0)
			return (ad_hp_fail(p, "a bad Content-Length"));
		if (p->hp_clen >= 0 && p->hp_clen != num)
			return (ad_hp_fail(p, "two different Content-Lengths"));
		p->hp_clen = num;
	} else if (strcasecmp(l, "Transfer-Encoding") == 0) {
		/* We send no TE: chunked is the one coding to expect. */
		if (strcasecmp(v, "chunked") != 0)
			return (ad_hp_fail(p, "an unsupported "
			    "Transfer-Encoding"));
		p->hp_chunked = 1;
	} else if (strcasecmp(l, "Connection") == 0) {
		if (ad_hp_has_token(v, "upgrade"))
			p->hp_conn_up = 1;
		if (ad_hp_has_token(v, "close"))
			p->hp_close = 1;
		else if (ad_hp_has_token(v, "keep-alive"))
			p->hp_close = 0;
	} else if (strcasecmp(l, "Upgrade") == 0) {
		p->hp_up_ws = ad_hp_has_token(v, "websocket");
	} else if (strcasecmp(l, "Sec-WebSocket-Accept") == 0) {
		snprintf(p->hp_ws_accept, sizeof(p->hp_ws_accept), "%s", v);
	} else if (strcasecmp(l, "Retry-After") == 0) {
		/* The delta form only; a date is left for the caller's own
		 * backoff. */
		if (*v != '\0' && strspn(v, "0123456789") == strlen(v) &&
		    strlen(v) <= 9 && util_strtonum(v, 0, 999999999,
		    &num) == 0)
			p->hp_retry_after = num;
	} else if (strcasecmp(l, "X-RateLimit-Reset") == 0) {
		/* A whole number as it is: seconds to wait (Mattermost) or
		 * an epoch time (elsewhere); the adapter knows which. */
		if (*v != '\0' && strspn(v, "0123456789") == strlen(v) &&
		    strlen(v) <= 12 && util_strtonum(v, 0, 999999999999LL,
		    &num) == 0)
			p->hp_ratelimit_reset = num;
	}
	return (0);
}

static int
ad_hp_chunk_size(struct ad_http_parser *p, const char *l, size_t n)
{
	unsigned long long	 sz = 0;
	size_t			 i;
	int			 d;

	for (i = 0; i < n && isxdigit((unsigned char)l[i]); i++) {
		if (i == 15)
			return (ad_hp_fail(p, "a chunk size too large"));
		d = isdigit((unsigned char)l[i]) ? l[i] - '0' :
		    (tolower((unsigned char)l[i]) - 'a' + 10);
		sz = sz * 16 + (unsigned long long)d;
	}
	if (i == 0)
		return (ad_hp_fail(p, "a bad chunk size"));
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i < n && l[i] != ';')
		return (ad_hp_fail(p, "a bad chunk size"));
	if (sz == 0) {
		p->hp_state = AD_HP_TRAILER;
		return (0);
	}
	if (sz > p->hp_max || p->hp_len > p->hp_max - sz)
		return (ad_hp_fail(p, "the response is too large"));
	p->hp_left = sz;
	p->hp_state = AD_HP_CHUNK_DATA;
	return (0);
}

/* One complete line (without CRLF) in hp_line. */
static int
ad_hp_line(struct ad_http_parser *p)
{
	char	*l = p->hp_line;
	size_t	 n = p->hp_linelen;

	p->hp_linelen = 0;
	l[n] = '\0';
	if (memchr(l, '\0', n) != NULL)
		return (ad_hp_fail(p, "a NUL in the head"));
	switch (p->hp_state) {
	case AD_HP_STATUS:
		return (ad_hp_status_line(p, l, n));
	case AD_HP_HEADERS:
		return (ad_hp_header(p, l, n));
	case AD_HP_CHUNK_SIZE:
		return (ad_hp_chunk_size(p, l, n));
	case AD_HP_CHUNK_END:
		if (n != 0)
			return (ad_hp_fail(p, "no CRLF after a chunk"));
		p->hp_state = AD_HP_CHUNK_SIZE;
		return (0);
	case AD_HP_TRAILER:
		if (n == 0)
			p->hp_state = AD_HP_DONE;
		return (0);
	default:
		return (ad_hp_fail(p, "parser state"));
	}
}

int
ad_http_parse(struct ad_http_parser *p, const char *data, size_t n,
    size_t *used)
{
	const char	*nl;
	size_t		 i = 0, k;

	*used = 0;
	while (i < n) {
		switch (p->hp_state) {
		case AD_HP_DONE:
			*used = i;
			return (1);
		case AD_HP_ERROR:
			return (-1);
		case AD_HP_BODY:
		case AD_HP_CHUNK_DATA:
			k = n - i < p->hp_left ? n - i : (size_t)p->hp_left;
			if (ad_hp_append(p, data + i, k) != 0)
				return (-1);
			i += k;
			p->hp_left -= k;
			if (p->hp_left == 0)
				p->hp_state = p->hp_state == AD_HP_BODY ?
				    AD_HP_DONE : AD_HP_CHUNK_END;
			continue;
		case AD_HP_BODY_EOF:
			if (ad_hp_append(p, data + i, n - i) != 0)
				return (-1);
			i = n;
			continue;
		default:
			break;
		}
		/* A line: up to its LF, across pieces. */
		nl = memchr(data + i, '\n', n - i);
		k = nl != NULL ? (size_t)(nl - (data + i)) : n - i;
		if (p->hp_linelen + k >= sizeof(p->hp_line))
			return (ad_hp_fail(p, "a line of the answer is too "
			    "long"));
		if (p->hp_state == AD_HP_STATUS ||
		    p->hp_state == AD_HP_HEADERS ||
		    p->hp_state == AD_HP_TRAILER) {
			p->hp_headlen += k + (nl != NULL);
			if (p->hp_headlen > AD_HTTP_HEAD_MAX)
				return (ad_hp_fail(p, "the answer's head is "
				    "too large"));
		}
		memcpy(p->hp_line + p->hp_linelen, data + i, k);
		p->hp_linelen += k;
		i += k;
		if (nl == NULL)
			break;
		i++;
		if (p->hp_linelen > 0 && p->hp_line[p->hp_linelen - 1] == '\r')
			p->hp_linelen--;
		if (ad_hp_line(p) != 0)
			return (-1);
	}
	if (p->hp_state == AD_HP_DONE) {
		*used = i;
		return (1);
	}
	if (p->hp_state == AD_HP_ERROR)
		return (-1);
	*used = n;
	return (0);
}

int
ad_http_parse_eof(struct ad_http_parser *p)
{
	switch (p->hp_state) {
	case AD_HP_DONE:
		return (1);
	case AD_HP_BODY_EOF:
		p->hp_state = AD_HP_DONE;
		return (1);
	case AD_HP_ERROR:
		return (-1);
	case AD_HP_STATUS:
		if (p->hp_linelen == 0 && p->hp_headlen == 0)
			return (ad_hp_fail(p, "closed before an answer"));
		/* FALLTHROUGH */
	default:
		return (ad_hp_fail(p, "closed in the middle of the answer"));
	}
}

/* ---- the client ------------------------------------------------------------ */

void
ad_http_init(struct ad_http *h, struct ad *a, const struct ad_url *u,
    int flags, const char *ca_file, size_t max)
{
	memset(h, 0, sizeof(*h));
	h->ht_ad = a;
	ad_conn_init(&h->ht_conn);
	h->ht_watched = -1;
	snprintf(h->ht_host, sizeof(h->ht_host), "%s", u->au_host);
	h->ht_port = u->au_port;
	snprintf(h->ht_hosthdr, sizeof(h->ht_hosthdr), "%s", u->au_hosthdr);
	h->ht_flags = (flags & ~AD_CONN_TLS) | (u->au_tls ? AD_CONN_TLS : 0);
	h->ht_ca_file = ca_file;
	h->ht_max = max;
	h->ht_keepalive = 1;
	ad_http_parser_init(&h->ht_p, max, 0);
}

/* Polls the connection's fd for what it needs now (or nothing). */
static void
ad_http_rewatch(struct ad_http *h)
{
	int	fd = ad_conn_fd(&h->ht_conn);

	if (h->ht_watched != fd) {
		ad_watch(h->ht_ad, h->ht_watched, 0);
		h->ht_watched = fd;
	}
	if (fd >= 0)
		ad_watch(h->ht_ad, fd, ad_conn_events(&h->ht_conn));
}

static void
ad_http_drop_conn(struct ad_http *h)
{
	ad_watch(h->ht_ad, h->ht_watched, 0);
	h->ht_watched = -1;
	ad_conn_close(&h->ht_conn);
}

void
ad_http_close(struct ad_http *h)
{
	ad_http_drop_conn(h);
	ad_http_parser_release(&h->ht_p);
	free(h->ht_req);
	h->ht_req = NULL;
	h->ht_reqlen = 0;
	h->ht_busy = 0;
	h->ht_failed = 0;
}

/* Sends the request on the kept connection, or on a new one.  A failure
 * to connect is reported from ad_http_tick(), not from here: the
 * callback never runs inside ad_http_request(). */
static void
ad_http_start(struct ad_http *h)
{
	ad_http_parser_release(&h->ht_p);
	ad_http_parser_init(&h->ht_p, h->ht_max, h->ht_nobody);
	h->ht_got = 0;
	h->ht_complete = 0;
	h->ht_reused = h->ht_conn.co_state == AD_CONN_UP;
	if (!h->ht_reused) {
		ad_http_drop_conn(h);
		h->ht_connects++;
		/* The raw stream: the parser reads the lines itself. */
		if (ad_conn_open(&h->ht_conn, h->ht_host, h->ht_port,
		    h->ht_flags, h->ht_ca_file, h->ht_err,
		    sizeof(h->ht_err)) != 0)
			goto fail;
	}
	ad_conn_raw(&h->ht_conn, SIZE_MAX);
	if (ad_conn_write(&h->ht_conn, h->ht_req, h->ht_reqlen) != 0) {
		snprintf(h->ht_err, sizeof(h->ht_err), "could not queue the "
		    "request");
		goto fail;
	}
	ad_http_rewatch(h);
	return;
 fail:
	ad_http_drop_conn(h);
	h->ht_failed = 1;
}

int
ad_http_request(struct ad_http *h, const char *method, const char *path,
    const char *extra, const char *body, size_t n, uint64_t timeout_ms,
    ad_http_fn fn, void *arg)
{
	char	 head[2048];
	int	 hl, withlen;

	if (h->ht_busy)
		return (-1);
	withlen = body != NULL || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
	/* The path goes in as it is: it may be long (a query), so it is
	 * not part of the bounded head buffer. */
	hl = snprintf(head, sizeof(head), " HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: librefang-adapter\r\nAccept: */*\r\n%s%s",
	    h->ht_hosthdr, h->ht_keepalive ? "" : "Connection: close\r\n",
	    extra != NULL ? extra : "");
	if (hl < 0 || (size_t)hl >= sizeof(head) - 64)
		return (-1);
	if (withlen)
		hl += snprintf(head + hl, sizeof(head) - (size_t)hl,
		    "Content-Length: %zu\r\n", body != NULL ? n : 0);
	hl += snprintf(head + hl, sizeof(head) - (size_t)hl, "\r\n");
	h->ht_reqlen = strlen(method) + 1 + strlen(path) + (size_t)hl +
	    (body != NULL ? n : 0);
	if ((h->ht_req = malloc(h->ht_reqlen)) == NULL) {
		h->ht_reqlen = 0;
		return (-1);
	}
	snprintf(h->ht_req, h->ht_reqlen, "%s %s", method, path);
	memcpy(h->ht_req + strlen(method) + 1 + strlen(path), head,
	    (size_t)hl);
	if (body != NULL && n > 0)
		memcpy(h->ht_req + h->ht_reqlen - n, body, n);
	h->ht_busy = 1;
	h->ht_failed = 0;
	h->ht_nobody = strcmp(method, "HEAD") == 0;
	h->ht_fn = fn;
	h->ht_arg = arg;
	h->ht_timeout_ms = timeout_ms;
	h->ht_deadline = util_now_ms() + timeout_ms;
	h->ht_requests++;
	ad_http_start(h);
	return (0);
}

int
ad_http_json(struct ad_http *h, const char *method, const char *path,
    const json_t *body, uint64_t timeout_ms, ad_http_fn fn, void *arg)
{
	char	*s;
	int	 rv;

	if ((s = json_dumps(body, JSON_COMPACT)) == NULL)
		return (-1);
	rv = ad_http_request(h, method, path,
	    "Content-Type: application/json\r\n", s, strlen(s), timeout_ms,
	    fn, arg);
	free(s);
	return (rv);
}

json_t *
ad_http_resp_json(const struct ad_http_resp *r)
{
	if (r->ar_body == NULL || r->ar_len == 0)
		return (NULL);
	return (json_loadb(r->ar_body, r->ar_len, 0, NULL));
}

int
ad_http_owns(const struct ad_http *h, int fd)
{
	return (fd >= 0 && fd == h->ht_watched);
}

int
ad_http_busy(const struct ad_http *h)
{
	return (h->ht_busy);
}

uint64_t
ad_http_deadline(const struct ad_http *h)
{
	if (!h->ht_busy)
		return (0);
	return (h->ht_failed ? 1 : h->ht_deadline);
}

/* The exchange is over (err: why it did not complete): the connection
 * kept or closed, then the callback, after which h is not touched. */
static void
ad_http_finish(struct ad_http *h, const char *err)
{
	struct ad_http_resp	 r;
	ad_http_fn		 fn = h->ht_fn;
	void			*arg = h->ht_arg;
	char			*body, why[256];

	memset(&r, 0, sizeof(r));
	r.ar_status = h->ht_p.hp_status > 0 ? h->ht_p.hp_status : -1;
	r.ar_retry_after = h->ht_p.hp_retry_after;
	r.ar_ratelimit_reset = h->ht_p.hp_ratelimit_reset;
	if (err != NULL) {
		snprintf(why, sizeof(why), "%s", err);
		r.ar_err = why;
	}
	/* A kept connection idles polled for reading: the server closing
	 * it is seen then, not at the next request. */
	if (err != NULL || !h->ht_keepalive || h->ht_p.hp_close)
		ad_http_drop_conn(h);
	else
		ad_http_rewatch(h);
	body = err == NULL ? h->ht_p.hp_body : NULL;
	if (err == NULL)
		h->ht_p.hp_body = NULL;
	r.ar_body = body != NULL ? body : "";
	r.ar_len = body != NULL ? h->ht_p.hp_len : 0;
	ad_http_parser_release(&h->ht_p);
	free(h->ht_req);
	h->ht_req = NULL;
	h->ht_reqlen = 0;
	h->ht_busy = 0;
	h->ht_failed = 0;
	h->ht_fn = NULL;
	h->ht_arg = NULL;
	if (fn != NULL)
		fn(arg, &r);
	free(body);
}

/* Bytes of the response as ad_conn reads them (raw mode). */
static void
ad_http_on_bytes(void *arg, const char *data, size_t n)
{
	struct ad_http	*h = arg;
	size_t		 used;
	int		 rv;

	if (!h->ht_busy || h->ht_complete || h->ht_p.hp_state == AD_HP_ERROR) {
		/* Nothing asked: a kept connection must be silent. */
		h->ht_p.hp_close = 1;
		return;
	}
	h->ht_got = 1;
	rv = ad_http_parse(&h->ht_p, data, n, &used);
	if (rv == 1) {
		h->ht_complete = 1;
		/* Bytes past the response: the connection is not to be
		 * trusted with another. */
		if (used < n)
			h->ht_p.hp_close = 1;
	}
}

void
ad_http_io(struct ad_http *h, int revents)
{
	char	err[256];
	int	rv;

	if (!h->ht_busy) {
		/* An idle kept connection readable: closed by the server
		 * (or talking out of turn); either way it is done. */
		ad_http_drop_conn(h);
		return;
	}
	err[0] = '\0';
	rv = ad_conn_io(&h->ht_conn, revents, ad_http_on_bytes, h, err,
	    sizeof(err));
	if (h->ht_p.hp_state == AD_HP_ERROR) {
		ad_http_finish(h, h->ht_p.hp_err);
		return;
	}
	if (h->ht_complete) {
		ad_http_finish(h, NULL);
		return;
	}
	if (rv == 0) {
		ad_http_rewatch(h);
		return;
	}
	/* Closed or failed before the response was whole. */
	if (!h->ht_got && h->ht_reused) {
		/* The server dropped the kept connection as we sent: once
		 * more on a new one (nothing of ours was answered). */
		log_debug("%s: a kept connection to '%s' was closed; "
		    "sending again", __func__, h->ht_host);
		ad_http_drop_conn(h);
		ad_http_start(h);
		return;
	}
	if (h->ht_got && ad_http_parse_eof(&h->ht_p) == 1) {
		ad_http_finish(h, NULL);
		return;
	}
	ad_http_finish(h, h->ht_got ? h->ht_p.hp_err : err);
}

void
ad_http_tick(struct ad_http *h)
{
	char	why[300];

	if (!h->ht_busy)
		return;
	if (h->ht_failed) {
		snprintf(why, sizeof(why), "%s", h->ht_err);
		ad_http_finish(h, why);
		return;
	}
	if (util_now_ms() < h->ht_deadline)
		return;
	snprintf(why, sizeof(why), "no answer from '%s' within %llu ms",
	    h->ht_host, (unsigned long long)h->ht_timeout_ms);
	ad_http_drop_conn(h);
	ad_http_finish(h, why);
}

int
ad_api_base(struct ad *a, const char *what, const char *url,
    struct ad_url *u, size_t *plen)
{
	const char	*why;
	char		 host[272];
	size_t		 pl;
	int		 is_ip;

	if (ad_url_parse(url, u, &why) != 0 ||
	    (why = strchr(u->au_path, '?') != NULL ?
	    "a query in the URL" : NULL) != NULL) {
		log_warnx("%s: %s", what, why);
		return (-1);
	}
	snprintf(host, sizeof(host), strchr(u->au_host, ':') ? "[%s]" : "%s",
	    u->au_host);
	if ((why = ssrf_host_blocked(host, &is_ip)) != NULL &&
	    (!ad_allow_loopback(a) || strcmp(why, SSRF_WHY_METADATA) == 0)) {
		log_warnx("%s: its host '%s' is a %s; refused%s", what,
		    u->au_host, why, strcmp(why, SSRF_WHY_METADATA) == 0 ?
		    "" : " without the adapter's _ALLOW_LOOPBACK switch");
		return (-1);
	}
	pl = strlen(u->au_path);
	while (pl > 0 && u->au_path[pl - 1] == '/')
		pl--;
	*plen = pl;
	return (0);
}
