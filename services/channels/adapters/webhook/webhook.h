/*
 * webhook.h - the generic webhook adapter's helpers: the HMAC signature
 * both ways ("sha256=" hex of HMAC-SHA256 over "<timestamp>.<body>"), an
 * HTTP/1.1 request head parsed, the inbound JSON body read, which
 * answers are retried.  No state, no I/O; the adapter itself is
 * webhook.c (its callback URL and HTTP client are the library's,
 * ad_http.h).
 */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#define WH_SIG_LEN	(7 + 64)	/* "sha256=" and 64 hex digits */
#define WH_HEAD_MAX	(16 * 1024)	/* a request's head, bytes */

/* The signature of body (n bytes) at timestamp ts, as the header carries
 * it, into out (NUL-terminated).  0, or -1 (OpenSSL failed). */
int	 wh_sign(const char *secret, const char *ts, const char *body,
	    size_t n, char out[WH_SIG_LEN + 1]);

/* wh_verify()'s outcomes. */
#define WH_OK		0
#define WH_EUNSIGNED	-1	/* a header is missing: 401 */
#define WH_EBADTS	-2	/* the timestamp is not a number: 400 */
#define WH_ESTALE	-3	/* outside the replay window: 401 */
#define WH_EBADSIG	-4	/* the signature does not match: 401 */

/*
 * Checks a request's X-Webhook-Timestamp ts (Unix seconds) and
 * X-Webhook-Signature sig (either may be NULL) over body against secret:
 * the timestamp within window seconds of now (either way), the signature
 * compared in constant time.  WH_OK or one of the WH_E* codes.
 */
int	 wh_verify(const char *secret, const char *ts, const char *sig,
	    const char *body, size_t n, int64_t now, int64_t window);

/*
 * A request head.  The string members point into the buffer given to
 * wh_head_parse(), which it modifies (NULs written); valid while that is.
 * A header absent is NULL.
 */
struct wh_head {
	const char	*wr_method;
	const char	*wr_path;	/* the query left on */
	const char	*wr_ts;		/* X-Webhook-Timestamp */
	const char	*wr_sig;	/* X-Webhook-Signature */
	long long	 wr_length;	/* Content-Length, -1 when absent */
	int		 wr_chunked;	/* Transfer-Encoding present */
	int		 wr_continue;	/* Expect: 100-continue */
};

/*
 * Looks for a complete head ("\r\n\r\n") in the n bytes of buf.  0 when
 * it is not complete yet; the head's length with the blank line (> 0)
 * with h filled; or -1 when it is malformed (400: a bad request line, a
 * header without ":", a Content-Length that is not a number or given
 * twice, a NUL).  buf must have n + 1 bytes (a NUL is written at n).
 */
long	 wh_head_parse(char *buf, size_t n, struct wh_head *h);

/* An inbound message.  Every member is borrowed from wi_root (owned). */
struct wh_in {
	const char	*wi_user_id;
	const char	*wi_user_name;
	const char	*wi_text;
	const char	*wi_message_id;		/* or NULL */
	const char	*wi_thread_id;		/* or NULL */
	const char	*wi_channel_id;		/* or NULL */
	void		*wi_root;		/* json_t * */
};

/*
 * Reads a body: a JSON object with non-empty strings user_id, user_name
 * and text, and optional strings message_id, thread_id, channel_id (an
 * empty one read as absent).  0
 * with in filled (wh_in_release()), or -1 with why (a static string) in
 * *why; in is then empty.
 */
int	 wh_in_parse(const char *body, size_t n, struct wh_in *in,
	    const char **why);
void	 wh_in_release(struct wh_in *in);

/* 1 if a delivery answered with status is to be tried again (429, 5xx),
 * else 0. */
int	 wh_status_retry(int status);

#endif /* WEBHOOK_H */
