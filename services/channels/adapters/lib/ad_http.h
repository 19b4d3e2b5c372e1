/*
 * ad_http.h - the one HTTP/1.1 client of the adapters that speak to an
 * HTTP platform (the webhook's callback, Telegram's Bot API, Matrix,
 * Discord's and Mattermost's REST; Slack later), inside the library's
 * poll loop and without libcurl (issue 13: 2 MB PSS per adapter).
 *
 * A struct ad_http is one connection to one origin (scheme, host, port)
 * over ad_conn (TLS optional, every address SSRF-checked, loopback and
 * private addresses only with the allow-loopback switch), carrying one
 * request at a time: a request is written whole, its response read to
 * its end (Content-Length, chunked, or the close), and the connection
 * kept for the next request unless either side said "close".  A request
 * on a kept connection that the server had closed meanwhile (nothing of
 * a response read) is sent once more on a new one.  An adapter that
 * wants two requests at once (a long poll beside its sends) has two.
 *
 * Time: each request has a deadline, but the library has one timer per
 * adapter, which the adapter owns; so the adapter folds
 * ad_http_deadline() into what it gives ad_timer() and calls
 * ad_http_tick() from its ad_tick.  The fd is watched and unwatched here
 * (ad_watch()); the adapter passes ad_http_io() the events of an fd for
 * which ad_http_owns() is true.
 *
 * The response is handed to the request's callback, always later than
 * the ad_http_request() that started it (from ad_http_io() or
 * ad_http_tick()), exactly once per request, also for a connection that
 * could not be made.  The callback may start the next request on the
 * same client, or close it.
 *
 * The response parser (struct ad_http_parser) is separate and takes
 * bytes in pieces of any size, so it is unit-tested without sockets
 * (tests/unit/t_ad_http.c).
 *
 * Single-threaded, like the rest of the library.
 */
#ifndef AD_HTTP_H
#define AD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ad_conn.h"

#define AD_HTTP_HEAD_MAX	(32 * 1024)	/* a response's head, bytes */
#define AD_HTTP_LINE_MAX	8192		/* one line of it */

/* ---- URLs --------------------------------------------------------------- */

/* An http[s] URL split. */
struct ad_url {
	int	au_tls;			/* https */
	char	au_host[256];		/* without brackets */
	int	au_port;
	char	au_hosthdr[272];	/* the Host header: brackets, port */
	char	au_path[1024];		/* "/" at least, the query on */
};

/* Splits http[s]://host[:port][/path] (no user or password, no
 * fragment, no control character or space).  0, or -1 with why (a
 * static string). */
int	 ad_url_parse(const char *url, struct ad_url *u, const char **why);
/*
 * An HTTP platform's API base (url, from the variable named what): split
 * into u, no query, its host checked as ad_conn checks an address (a
 * loopback or private one needs <PREFIX>_ALLOW_LOOPBACK, a metadata one
 * is refused); *plen is its path's length without trailing slashes, for
 * the adapter's prefix.  0, or -1 (logged).
 */
int	 ad_api_base(struct ad *a, const char *what, const char *url,
	    struct ad_url *u, size_t *plen);

/* ---- the response parser ------------------------------------------------- */

enum ad_http_pstate {
	AD_HP_STATUS = 0,	/* the status line */
	AD_HP_HEADERS,
	AD_HP_BODY,		/* Content-Length bytes */
	AD_HP_BODY_EOF,		/* no length: to the close */
	AD_HP_CHUNK_SIZE,
	AD_HP_CHUNK_DATA,
	AD_HP_CHUNK_END,	/* the CRLF after a chunk's data */
	AD_HP_TRAILER,
	AD_HP_DONE,
	AD_HP_ERROR,
};

/*
 * One response being read.  The body is collected into hp_body (owned,
 * NUL-terminated, hp_len bytes without the NUL) up to hp_max bytes.
 * Interim responses (1xx) are skipped.  A response to HEAD, or with 204
 * or 304, has no body (hp_nobody).
 */
struct ad_http_parser {
	enum ad_http_pstate	 hp_state;
	char			 hp_line[AD_HTTP_LINE_MAX];
	size_t			 hp_linelen;
	size_t			 hp_headlen;	/* head bytes so far */
	size_t			 hp_max;	/* body limit */
	int			 hp_nobody;	/* HEAD request */
	int			 hp_status;	/* 0 until the status line */
	int			 hp_minor;	/* HTTP/1.x */
	long long		 hp_clen;	/* Content-Length, -1 none */
	int			 hp_chunked;
	int			 hp_close;	/* the connection ends after */
	long long		 hp_retry_after;	/* seconds, -1 none */
	long long		 hp_ratelimit_reset;	/* X-RateLimit-Reset,
						   a whole number, -1 none */
	unsigned long long	 hp_left;	/* of the body or chunk */
	char			*hp_body;
	size_t			 hp_len;
	size_t			 hp_cap;
	const char		*hp_err;	/* why AD_HP_ERROR (static) */
	/* A WebSocket handshake's answer (ad_ws.c): hp_upgrade set after
	 * init lets a 101 end the response at its head; these say what
	 * its head held. */
	int			 hp_upgrade;
	int			 hp_up_ws;	/* Upgrade: websocket */
	int			 hp_conn_up;	/* Connection: upgrade */
	char			 hp_ws_accept[64];	/* Sec-WebSocket-Accept */
};

/* Ready for a response whose body may be max bytes (nobody: to HEAD). */
void	 ad_http_parser_init(struct ad_http_parser *p, size_t max,
	    int nobody);
void	 ad_http_parser_release(struct ad_http_parser *p);
/*
 * Feeds n bytes.  1 when the response is complete (*used: how many of
 * the n were its; the rest belong to nobody), 0 when more is needed (all
 * n used), -1 when it is malformed or too large (hp_err says why).
 */
int	 ad_http_parse(struct ad_http_parser *p, const char *data, size_t n,
	    size_t *used);
/* The connection closed: 1 when that completes the response (a body
 * read to the close), else -1 (hp_err). */
int	 ad_http_parse_eof(struct ad_http_parser *p);

/* ---- the client ------------------------------------------------------------ */

/*
 * What a request came to.  ar_status is the response's status, or -1
 * when no status line came.  ar_err is NULL when the exchange completed,
 * else why it did not (could not connect, closed, timed out, malformed,
 * too large); a status may still be there (closed mid-body).  ar_body is
 * the body (NUL-terminated; "" when none or incomplete), borrowed until
 * the callback returns.  ar_retry_after is Retry-After in seconds (the
 * delta form), -1 when absent.
 */
struct ad_http_resp {
	int		 ar_status;
	const char	*ar_err;
	const char	*ar_body;
	size_t		 ar_len;
	long long	 ar_retry_after;
	long long	 ar_ratelimit_reset;
};

typedef void (*ad_http_fn)(void *arg, const struct ad_http_resp *r);

struct ad_http {
	struct ad		*ht_ad;
	struct ad_conn		 ht_conn;
	int			 ht_watched;	/* the fd watched, or -1 */
	char			 ht_host[256];
	int			 ht_port;
	char			 ht_hosthdr[272];
	int			 ht_flags;	/* AD_CONN_* */
	const char		*ht_ca_file;	/* borrowed */
	size_t			 ht_max;	/* a response body's limit */
	int			 ht_keepalive;	/* 0: "Connection: close" */
	/* the request in flight */
	int			 ht_busy;
	char			*ht_req;	/* head and body, kept for the
						   one resend */
	size_t			 ht_reqlen;
	int			 ht_nobody;
	int			 ht_reused;	/* on a kept connection */
	int			 ht_got;	/* response bytes came */
	int			 ht_complete;	/* parsed whole, in io */
	uint64_t		 ht_deadline;
	uint64_t		 ht_timeout_ms;
	ad_http_fn		 ht_fn;
	void			*ht_arg;
	struct ad_http_parser	 ht_p;
	int			 ht_failed;	/* reported from tick */
	char			 ht_err[256];
	uint64_t		 ht_requests;	/* made, for figures */
	uint64_t		 ht_connects;	/* connections opened */
};

/*
 * Ready to talk to u's origin (its path is not used: each request names
 * its own).  flags are ad_conn's (AD_CONN_TLS is taken from u;
 * AD_CONN_NOVERIFY, AD_CONN_ALLOW_PRIVATE from the caller); ca_file is
 * borrowed for the client's life; max is a response body's limit.
 * Nothing is connected until the first request.
 */
void	 ad_http_init(struct ad_http *h, struct ad *a, const struct ad_url *u,
	    int flags, const char *ca_file, size_t max);
/*
 * Starts a request: method, path (with its query; not logged: it may
 * hold a token), extra (more header lines, each ending "\r\n", or NULL),
 * a body of n bytes (a Content-Length is sent when body is not NULL or
 * the method is POST/PUT/PATCH) and timeout_ms for the whole exchange.
 * fn(arg, response) is called once, later.  0, or -1 when a request is
 * in flight already or out of memory (fn is then never called).
 */
int	 ad_http_request(struct ad_http *h, const char *method,
	    const char *path, const char *extra, const char *body, size_t n,
	    uint64_t timeout_ms, ad_http_fn fn, void *arg);
/* The same with a JSON body (borrowed; Content-Type: application/json). */
int	 ad_http_json(struct ad_http *h, const char *method, const char *path,
	    const json_t *body, uint64_t timeout_ms, ad_http_fn fn,
	    void *arg);
/* A response's body as JSON (new; NULL when it is not JSON). */
json_t	*ad_http_resp_json(const struct ad_http_resp *r);
/* Whether fd is this client's socket. */
int	 ad_http_owns(const struct ad_http *h, int fd);
/* Progresses the connection after poll() said revents for its fd. */
void	 ad_http_io(struct ad_http *h, int revents);
/* When ad_http_tick() is next due (ms, util_now_ms()), 0 for never. */
uint64_t ad_http_deadline(const struct ad_http *h);
/* Times the request out, or reports a failure to connect; call it from
 * ad_tick (it does nothing when not due). */
void	 ad_http_tick(struct ad_http *h);
/* Whether a request is in flight. */
int	 ad_http_busy(const struct ad_http *h);
/* Closes the connection; a request in flight is dropped without its
 * callback (the caller knows). */
void	 ad_http_close(struct ad_http *h);

#endif /* AD_HTTP_H */
