/*
 * t_ad_http.c - the adapters' HTTP client's pieces (services/channels/
 * adapters/lib/ad_http.c): URLs split, and responses parsed from bytes
 * fed in pieces of every size from 1 up (so every boundary falls inside
 * a status line, a header, a CRLF, a chunk size and a body once):
 * Content-Length and chunked bodies, interim responses, keep-alive and
 * close, Retry-After, and each malformed or oversized answer refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_http.h"
#include "tap.h"

#define MAX	4096

/*
 * Feeds resp to a fresh parser in pieces of step bytes (the whole at
 * once for step 0).  The parse's outcome (1, 0 after all was fed, -1);
 * *used: the bytes of resp that were the response's.  eof: the close
 * follows the bytes.
 */
static int
feed(struct ad_http_parser *p, const char *resp, size_t n, size_t step,
    size_t max, int eof, size_t *used)
{
	size_t	off = 0, k, u;
	int	rv = 0;

	ad_http_parser_init(p, max, 0);
	*used = 0;
	if (step == 0)
		step = n ? n : 1;
	while (off < n) {
		k = n - off < step ? n - off : step;
		rv = ad_http_parse(p, resp + off, k, &u);
		if (rv != 0) {
			*used = off + (rv == 1 ? u : 0);
			return (rv);
		}
		off += k;
	}
	*used = n;
	if (eof)
		return (ad_http_parse_eof(p));
	return (0);
}

/* resp parses to status and body at every piece size (and keeps or not
 * the connection: close). */
static int
same_at_every_step(const char *resp, int eof, int status, const char *body,
    int close)
{
	struct ad_http_parser	p;
	size_t			n = strlen(resp), step, used;
	int			rv;

	for (step = 0; step <= n; step++) {
		rv = feed(&p, resp, n, step, MAX, eof, &used);
		if (rv != 1 || p.hp_status != status ||
		    strcmp(p.hp_body != NULL ? p.hp_body : "", body) != 0 ||
		    p.hp_close != close || used != n) {
			printf("# step %zu: rv %d status %d close %d used %zu "
			    "body '%s' err %s\n", step, rv, p.hp_status,
			    p.hp_close, used, p.hp_body ? p.hp_body : "",
			    p.hp_err ? p.hp_err : "-");
			ad_http_parser_release(&p);
			return (-1);
		}
		ad_http_parser_release(&p);
	}
	return (0);
}

/* resp (n bytes) is refused at every piece size. */
static int
refused_n(const char *resp, size_t n, size_t max, int eof)
{
	struct ad_http_parser	p;
	size_t			step, used;
	int			rv;

	for (step = 0; step <= n; step += (n > 4096 ? 97 : 1)) {
		rv = feed(&p, resp, n, step, max, eof, &used);
		if (rv != -1 || p.hp_err == NULL) {
			printf("# step %zu: rv %d for '%.40s'\n", step, rv,
			    resp);
			ad_http_parser_release(&p);
			return (-1);
		}
		ad_http_parser_release(&p);
	}
	return (0);
}

static int
refused_at_every_step(const char *resp, size_t max, int eof)
{
	return (refused_n(resp, strlen(resp), max, eof));
}

static int
t_length(void)
{
	T_OK(same_at_every_step("HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}", 0,
	    200, "{\"ok\":true}", 0) == 0);
	/* Bare LFs, a blank reason, the same length twice. */
	T_OK(same_at_every_step("HTTP/1.1 404\nContent-Length: 2\n"
	    "content-length: 2\n\nno", 0, 404, "no", 0) == 0);
	/* A zero length: done at the blank line. */
	T_OK(same_at_every_step("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	    0, 200, "", 0) == 0);
	return (0);
}

static int
t_chunked(void)
{
	T_OK(same_at_every_step("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n4\r\nWiki\r\n6;name=v\r\npedia \r\nE\r\n"
	    "in \r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n", 0, 200,
	    "Wikipedia in \r\n\r\nchunks.", 0) == 0);
	/* Upper-case hex, blanks before an extension. */
	T_OK(same_at_every_step("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked"
	    "\r\n\r\n0A \t;x\r\n0123456789\r\n0\r\n\r\n", 0, 200,
	    "0123456789", 0) == 0);
	/* Both framings: chunked wins, the connection is not kept. */
	T_OK(same_at_every_step("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 0, 200,
	    "ok", 1) == 0);
	return (0);
}

static int
t_close(void)
{
	/* No length: the body is what comes before the close. */
	T_OK(same_at_every_step("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
	    "to the end", 1, 200, "to the end", 1) == 0);
	/* HTTP/1.0 closes unless it says keep-alive. */
	T_OK(same_at_every_step("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"
	    "x", 0, 200, "x", 1) == 0);
	T_OK(same_at_every_step("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
	    "Content-Length: 1\r\n\r\nx", 0, 200, "x", 0) == 0);
	T_OK(same_at_every_step("HTTP/1.1 200 OK\r\nConnection: foo, close"
	    "\r\nContent-Length: 1\r\n\r\nx", 0, 200, "x", 1) == 0);
	return (0);
}

static int
t_interim(void)
{
	/* 100 Continue, then the answer; 204 has no body. */
	T_OK(same_at_every_step("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 "
	    "Created\r\nContent-Length: 3\r\n\r\nnew", 0, 201, "new", 0) == 0);
	T_OK(same_at_every_step("HTTP/1.1 204 No Content\r\nContent-Length: "
	    "5\r\n\r\n", 0, 204, "", 0) == 0);
	return (0);
}

static int
t_head_request(void)
{
	struct ad_http_parser	p;
	const char		*r = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
				    "\r\n";
	size_t			 used;

	ad_http_parser_init(&p, MAX, 1);
	T_EQ_INT(ad_http_parse(&p, r, strlen(r), &used), 1);
	T_EQ_INT(used, strlen(r));
	ad_http_parser_release(&p);
	return (0);
}

static int
t_retry_after(void)
{
	struct ad_http_parser	p;
	const char		*r = "HTTP/1.1 429 Too Many Requests\r\n"
				    "Retry-After: 7\r\nContent-Length: 0\r\n\r\n";
	const char		*d = "HTTP/1.1 503 x\r\nRetry-After: Fri, 31 "
				    "Dec 1999 23:59:59 GMT\r\nContent-Length: 0"
				    "\r\n\r\n";
	size_t			 used;

	T_EQ_INT(feed(&p, r, strlen(r), 5, MAX, 0, &used), 1);
	T_EQ_INT(p.hp_status, 429);
	T_EQ_INT(p.hp_retry_after, 7);
	ad_http_parser_release(&p);
	T_EQ_INT(p.hp_ratelimit_reset, -1);
	ad_http_parser_release(&p);
	T_EQ_INT(feed(&p, d, strlen(d), 3, MAX, 0, &used), 1);
	T_EQ_INT(p.hp_retry_after, -1);
	ad_http_parser_release(&p);
	return (0);
}

/* X-RateLimit-Reset (Mattermost: seconds to wait) as a whole number; a
 * value that is none is not read. */
static int
t_ratelimit_reset(void)
{
	struct ad_http_parser	p;
	const char		*r = "HTTP/1.1 429 Too Many Requests\r\n"
				    "X-Ratelimit-Limit: 10\r\n"
				    "x-ratelimit-reset: 3\r\n"
				    "Content-Length: 0\r\n\r\n";
	const char		*e = "HTTP/1.1 200 OK\r\nX-RateLimit-Reset: "
				    "1796140800\r\nContent-Length: 0\r\n"
				    "\r\n";
	const char		*b = "HTTP/1.1 429 x\r\nX-RateLimit-Reset: "
				    "-4\r\nContent-Length: 0\r\n\r\n";
	size_t			 used;

	T_EQ_INT(feed(&p, r, strlen(r), 4, MAX, 0, &used), 1);
	T_EQ_INT(p.hp_ratelimit_reset, 3);
	T_EQ_INT(p.hp_retry_after, -1);
	ad_http_parser_release(&p);
	T_EQ_INT(feed(&p, e, strlen(e), 7, MAX, 0, &used), 1);
	T_EQ_INT(p.hp_ratelimit_reset, 1796140800LL);
	ad_http_parser_release(&p);
	T_EQ_INT(feed(&p, b, strlen(b), 2, MAX, 0, &used), 1);
	T_EQ_INT(p.hp_ratelimit_reset, -1);
	ad_http_parser_release(&p);
	return (0);
}

static int
t_extra(void)
{
	struct ad_http_parser	p;
	const char		*r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				    "\r\nokHTTP/1.1 200 OK\r\n";
	size_t			 used;

	/* What follows the response is not its: used says where it
	 * ended. */
	T_EQ_INT(feed(&p, r, strlen(r), 0, MAX, 0, &used), 1);
	T_EQ_INT(used, strlen(r) - strlen("HTTP/1.1 200 OK\r\n"));
	T_EQ_STR(p.hp_body, "ok");
	ad_http_parser_release(&p);
	return (0);
}

static int
t_bad_lengths(void)
{
	static const char *bad[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n"
		    "\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "1000000000000000\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "2\r\nokX\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "2 x\r\nok\r\n",
		NULL };
	int	i;

	for (i = 0; bad[i] != NULL; i++)
		T_OK(refused_at_every_step(bad[i], MAX, 0) == 0);
	return (0);
}

static int
t_bad_heads(void)
{
	static const char *bad[] = {
		"HTTP/2 200\r\n\r\n", "SSH-2.0-OpenSSH\r\n",
		"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000\r\n\r\n",
		"HTTP/1.1 099 x\r\n\r\n",
		"HTTP/1.1 101 Switching\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
		NULL };
	static const char	 nul[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n";
	static const char	 fill[] = "X-Filler: 01234567890123456789\r\n";
	char			*big;
	size_t			 n;
	int			 i, rv;

	for (i = 0; bad[i] != NULL; i++)
		T_OK(refused_at_every_step(bad[i], MAX, 0) == 0);
	/* A NUL inside a header. */
	T_OK(refused_n(nul, sizeof(nul) - 1, MAX, 0) == 0);
	/* A head past AD_HTTP_HEAD_MAX, in lines that are each fine. */
	T_OK((big = malloc(AD_HTTP_HEAD_MAX + 256)) != NULL);
	memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
	for (n = 17; n < AD_HTTP_HEAD_MAX + 100; n += sizeof(fill) - 1)
		memcpy(big + n, fill, sizeof(fill) - 1);
	memcpy(big + n, "\r\n", 3);
	rv = refused_n(big, n + 2, MAX, 0);
	free(big);
	T_OK(rv == 0);
	return (0);
}

static int
t_too_large(void)
{
	struct ad_http_parser	p;
	const char		*r = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n"
				    "\r\n12345678";
	size_t			 used;

	/* Each framing's body past the limit (8 bytes here). */
	T_OK(refused_at_every_step("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n"
	    "\r\n123456789", 8, 0) == 0);
	T_OK(refused_at_every_step("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n5\r\n12345\r\n4\r\n6789\r\n0\r\n\r\n", 8, 0) == 0);
	T_OK(refused_at_every_step("HTTP/1.1 200 OK\r\n\r\n123456789", 8,
	    1) == 0);
	/* At the limit it is taken. */
	T_EQ_INT(feed(&p, r, strlen(r), 3, 8, 0, &used), 1);
	T_EQ_STR(p.hp_body, "12345678");
	ad_http_parser_release(&p);
	return (0);
}

static int
t_eof(void)
{
	struct ad_http_parser	p;
	const char		*mid = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
				    "\r\nab";
	const char		*chunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
				    "chunked\r\n\r\n2\r\nok\r\n";
	size_t			 used;

	T_OK(refused_at_every_step(mid, MAX, 1) == 0);
	T_OK(refused_at_every_step(chunk, MAX, 1) == 0);
	T_OK(refused_at_every_step("HTTP/1.1 200 O", MAX, 1) == 0);
	/* Nothing at all before the close. */
	ad_http_parser_init(&p, MAX, 0);
	T_EQ_INT(ad_http_parse_eof(&p), -1);
	T_EQ_STR(p.hp_err, "closed before an answer");
	ad_http_parser_release(&p);
	T_EQ_INT(feed(&p, mid, strlen(mid), 1, MAX, 1, &used), -1);
	T_EQ_INT(p.hp_status, 200);	/* the status stays known */
	ad_http_parser_release(&p);
	return (0);
}

static int
t_url(void)
{
	struct ad_url	 u;
	const char	*why;
	const char	*bad[] = {
		"ftp://h/", "h/x", "http://", "http://:80/",
		"http://u:p@h/", "http://u@h/", "http://h/#frag",
		"http://h:0/", "http://h:65536/",
		"http://h:8x/", "http://[::1/", "http://[::1]x/", "http://h /",
		"http://h/\r\nX: y", NULL };
	int		 i;

	T_OK(ad_url_parse("https://Example.com/hooks/x?a=b", &u, &why) == 0);
	T_OK(u.au_tls);
	T_EQ_STR(u.au_host, "Example.com");
	T_EQ_INT(u.au_port, 443);
	T_EQ_STR(u.au_hosthdr, "Example.com:443");
	T_EQ_STR(u.au_path, "/hooks/x?a=b");
	T_OK(ad_url_parse("http://127.0.0.1:8080", &u, &why) == 0);
	T_OK(!u.au_tls);
	T_EQ_INT(u.au_port, 8080);
	T_EQ_STR(u.au_path, "/");
	T_OK(ad_url_parse("http://h?q=1", &u, &why) == 0);
	T_EQ_STR(u.au_path, "/?q=1");
	T_EQ_INT(u.au_port, 80);
	T_OK(ad_url_parse("http://[::1]:9/p", &u, &why) == 0);
	T_EQ_STR(u.au_host, "::1");
	T_EQ_STR(u.au_hosthdr, "[::1]:9");
	T_EQ_STR(u.au_path, "/p");
	for (i = 0; bad[i] != NULL; i++)
		if (ad_url_parse(bad[i], &u, &why) != -1) {
			printf("# accepted: %s\n", bad[i]);
			return (-1);
		}
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "URLs split, bad ones refused", t_url },
		{ "Content-Length bodies, in pieces of every size", t_length },
		{ "chunked bodies: extensions, trailers, both framings",
		    t_chunked },
		{ "bodies to the close; HTTP/1.0 and Connection decide "
		    "keep-alive", t_close },
		{ "100 Continue skipped; 204 has no body", t_interim },
		{ "a HEAD's answer has no body", t_head_request },
		{ "Retry-After in seconds; a date is not read", t_retry_after },
		{ "X-RateLimit-Reset as a whole number", t_ratelimit_reset },
		{ "bytes after the response are not its", t_extra },
		{ "bad lengths and chunk sizes refused at every split",
		    t_bad_lengths },
		{ "bad status lines and headers refused; a head too large",
		    t_bad_heads },
		{ "a body past the limit refused in each framing",
		    t_too_large },
		{ "a close mid-answer is an error; the status stays", t_eof },
		{ NULL, NULL }
	};

	return (tap_main(cases));
}
