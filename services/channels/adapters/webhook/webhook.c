/*
 * webhook.c - channel-webhook: a generic webhook both ways, HMAC-signed
 * (README.md).  In: a small HTTP/1.1 server inside the library's poll
 * loop (one request per connection, every socket non-blocking, a
 * deadline per connection so a slow client holds only its own slot); a
 * signed POST of {user_id, user_name, text, ...} is a `message` event,
 * answered 202 once the event is written.  Out: a `send` is a signed
 * POST to the callback URL over the library's HTTP client (ad_http: TLS
 * optional, SSRF-checked, kept alive), one at a time in order, tried again with backoff on
 * 429, 5xx and connection errors, then an `error` event.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ad_conn.h"
#include "ad_http.h"
#include "adapter.h"
#include "log.h"
#include "memtrim.h"
#include "ssrf.h"
#include "util.h"
#include "webhook.h"

/* Clients at once: with the listener and the callback, within
 * AD_WATCH_MAX. */
#define WH_CLIENTS_MAX		12
#define WH_DRAIN_MS		3000	/* reading after an early answer */
#define WH_QUEUE_MAX		1000	/* deliveries waiting */
/* Free heap worth giving back: the 2 MB PSS target is what counts here,
 * not a server's megabytes (memtrim.h). */
#define WH_TRIM_MIN		(128 * 1024)
#define WH_TRIM_AFTER		(64 * 1024)	/* a request this large */
#define WH_BACKOFF_MAX_MS	60000
/* The callback's answer read (a larger one fails the attempt, its status
 * still counted). */
#define WH_ANSWER_MAX		(64 * 1024)
/* What a delivery's body may be: its head must fit ad_conn's queue too. */
#define WH_OUT_BODY_MAX		(AD_CONN_OUT_MAX - 4096)

enum wh_cstate {
	WH_C_FREE = 0,
	WH_C_READ,		/* the head, then the body */
	WH_C_WRITE,		/* the answer */
	WH_C_DRAIN,		/* answered early: reading to EOF, then close */
};

/* One inbound connection: one request, then closed. */
struct wh_client {
	enum wh_cstate	 wc_state;
	int		 wc_fd;
	uint64_t	 wc_deadline;
	char		*wc_buf;	/* what was read */
	size_t		 wc_len;
	size_t		 wc_cap;
	long		 wc_head;	/* the head's length, 0 until read */
	size_t		 wc_need;	/* head + body, once the head is read */
	char		 wc_ts[40];
	char		 wc_sig[WH_SIG_LEN + 16];
	int		 wc_signed;	/* both headers were there */
	char		 wc_out[512];	/* the answer */
	size_t		 wc_outlen;
	size_t		 wc_outoff;
};

/* A delivery waiting for the callback. */
struct wh_out {
	struct wh_out	*wo_next;
	char		 wo_id[UTIL_UUID_LEN];	/* X-Webhook-Delivery */
	char		*wo_body;		/* JSON */
	size_t		 wo_len;
	unsigned int	 wo_attempts;
	uint64_t	 wo_next_at;
};

struct webhook {
	/* configuration (upstream's keys: spec/notes/protocols.md 1.2) */
	const char	*wh_host;
	long long	 wh_port;
	const char	*wh_path;
	const char	*wh_secret;
	const char	*wh_callback;
	struct ad_url	 wh_url;
	long long	 wh_max_body;
	long long	 wh_window;
	long long	 wh_attempts;
	long long	 wh_retry_ms;
	long long	 wh_timeout_ms;
	int		 wh_tls_verify;
	const char	*wh_ca_file;
	/* in */
	struct ad	*wh_ad;
	int		 wh_lfd;
	int		 wh_lwatched;	/* the listener is polled */
	uint64_t	 wh_trim_at;	/* memtrim after a large request, or 0 */
	struct wh_client wh_cl[WH_CLIENTS_MAX];
	/* out */
	struct ad_http	 wh_http;	/* the callback's origin */
	struct wh_out	*wh_head;
	struct wh_out	**wh_tail;
	size_t		 wh_queued;
	int		 wh_inflight;
	char		 wh_why[256];	/* the last attempt's failure */
};

static const struct ad_field wh_fields[] = {
	{ "WEBHOOK_SECRET", "Shared secret (HMAC-SHA256)", AD_FIELD_SECRET, 1,
	    NULL, 0, NULL, NULL },
	{ "WEBHOOK_BIND_HOST", "Listen on address", AD_FIELD_TEXT, 0,
	    "127.0.0.1", 0, NULL, "127.0.0.1" },
	{ "WEBHOOK_LISTEN_PORT", "Listen on port", AD_FIELD_NUMBER, 0, "8461",
	    0, NULL, "8461" },
	{ "WEBHOOK_LISTEN_PATH", "Path of the inbound POST", AD_FIELD_TEXT, 0,
	    "/", 0, NULL, "/" },
	{ "WEBHOOK_CALLBACK_URL", "Callback URL for replies", AD_FIELD_TEXT, 0,
	    "https://example.com/hooks/librefang", 0, NULL, NULL },
	{ "WEBHOOK_MAX_BODY", "Largest inbound body (bytes)", AD_FIELD_NUMBER,
	    0, "1048576", 1, NULL, "1048576" },
	{ "WEBHOOK_REPLAY_WINDOW_SECS", "Replay window (s)", AD_FIELD_NUMBER,
	    0, "300", 1, NULL, "300" },
	{ "WEBHOOK_ATTEMPTS", "Delivery attempts", AD_FIELD_NUMBER, 0, "5", 1,
	    NULL, "5" },
	{ "WEBHOOK_RETRY_MS", "First retry after (ms), then doubling",
	    AD_FIELD_NUMBER, 0, "1000", 1, NULL, "1000" },
	{ "WEBHOOK_TIMEOUT_MS", "A request's time limit, either way (ms)",
	    AD_FIELD_NUMBER, 0, "10000", 1, NULL, "10000" },
	{ "WEBHOOK_TLS_VERIFY", "Verify the callback's certificate",
	    AD_FIELD_BOOL, 0, NULL, 1, NULL, "1" },
	{ "WEBHOOK_TLS_CA_FILE", "CA certificates (PEM file)", AD_FIELD_TEXT,
	    0, "/etc/ssl/certs/ca-certificates.crt", 1, NULL, NULL },
	{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
};

/* Plain-text send only. */
static const char *const wh_caps[] = { NULL };

static void	wh_arm(struct webhook *wh);

/* ---- in: the listener and its clients --------------------------------- */

/* What a large request left in the heap goes back (memtrim.h: at most
 * once a second, so the timer comes back for it). */
static void
wh_trim_later(struct webhook *wh)
{
	if (wh->wh_trim_at == 0)
		wh->wh_trim_at = util_now_ms() + MEMTRIM_PERIOD_MS + 50;
}

static void
wh_client_close(struct webhook *wh, struct wh_client *c)
{
	ad_watch(wh->wh_ad, c->wc_fd, 0);
	close(c->wc_fd);
	free(c->wc_buf);
	memset(c, 0, sizeof(*c));
	c->wc_fd = -1;
	/* A slot is free: take the connections waiting in the backlog. */
	if (wh->wh_lfd >= 0 && !wh->wh_lwatched) {
		ad_watch(wh->wh_ad, wh->wh_lfd, POLLIN);
		wh->wh_lwatched = 1;
	}
}

/* Writes what is left of the answer.  Done: shut our side and read to
 * the client's EOF (closing with unread data would reset the connection
 * and could lose the answer), within WH_DRAIN_MS. */
static void
wh_client_write(struct webhook *wh, struct wh_client *c)
{
	ssize_t	n;

	while (c->wc_outoff < c->wc_outlen) {
		n = send(c->wc_fd, c->wc_out + c->wc_outoff,
		    c->wc_outlen - c->wc_outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ad_watch(wh->wh_ad, c->wc_fd, POLLOUT);
			return;
		}
		if (n <= 0) {
			wh_client_close(wh, c);
			return;
		}
		c->wc_outoff += (size_t)n;
	}
	shutdown(c->wc_fd, SHUT_WR);
	c->wc_state = WH_C_DRAIN;
	c->wc_deadline = util_now_ms() + WH_DRAIN_MS;
	if (c->wc_cap > WH_TRIM_AFTER)
		wh_trim_later(wh);
	free(c->wc_buf);
	c->wc_buf = NULL;
	c->wc_len = c->wc_cap = 0;
	ad_watch(wh->wh_ad, c->wc_fd, POLLIN);
}

/* Answers status with {"error": why} (or {"status": "accepted"} for a
 * 2xx) and closes after it. */
static void
wh_reply(struct webhook *wh, struct wh_client *c, int status,
    const char *why)
{
	const char	*reason;
	json_t		*o;
	char		*body = NULL;
	int		 n;

	switch (status) {
	case 202: reason = "Accepted"; break;
	case 400: reason = "Bad Request"; break;
	case 401: reason = "Unauthorized"; break;
	case 404: reason = "Not Found"; break;
	case 405: reason = "Method Not Allowed"; break;
	case 408: reason = "Request Timeout"; break;
	case 411: reason = "Length Required"; break;
	case 413: reason = "Content Too Large"; break;
	case 431: reason = "Request Header Fields Too Large"; break;
	default: reason = "Service Unavailable"; break;
	}
	o = status / 100 == 2 ? json_pack("{s:s}", "status", "accepted") :
	    json_pack("{s:s}", "error", why);
	if (o != NULL)
		body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	n = snprintf(c->wc_out, sizeof(c->wc_out), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "%sConnection: close\r\n\r\n%s", status, reason,
	    body != NULL ? strlen(body) : 2,
	    status == 405 ? "Allow: POST\r\n" : "",
	    body != NULL ? body : "{}");
	free(body);
	if (n < 0 || (size_t)n >= sizeof(c->wc_out))
		n = snprintf(c->wc_out, sizeof(c->wc_out), "HTTP/1.1 %d %s\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n", status,
		    reason);
	if (status / 100 != 2)
		log_info("webhook: answered %d: %s", status, why);
	c->wc_outlen = (size_t)n;
	c->wc_outoff = 0;
	c->wc_state = WH_C_WRITE;
	wh_client_write(wh, c);
}

/* The head is in: what it says decides before the body is read. */
static void
wh_on_head(struct webhook *wh, struct wh_client *c)
{
	struct wh_head	 h;
	size_t		 plen;
	long		 hl;

	hl = wh_head_parse(c->wc_buf, c->wc_len, &h);
	if (hl == 0) {
		if (c->wc_len > WH_HEAD_MAX)
			wh_reply(wh, c, 431, "the request head is too large");
		return;
	}
	if (hl < 0) {
		wh_reply(wh, c, 400, "a malformed request");
		return;
	}
	c->wc_head = hl;
	plen = strcspn(h.wr_path, "?");
	if (strcmp(h.wr_method, "POST") != 0) {
		wh_reply(wh, c, 405, "only POST is taken");
		return;
	}
	if (plen != strlen(wh->wh_path) ||
	    strncmp(h.wr_path, wh->wh_path, plen) != 0) {
		wh_reply(wh, c, 404, "no such path");
		return;
	}
	if (h.wr_chunked || h.wr_length < 0) {
		wh_reply(wh, c, 411, "a Content-Length is required");
		return;
	}
	if (h.wr_length > wh->wh_max_body) {
		wh_reply(wh, c, 413, "the body is too large");
		return;
	}
	if (h.wr_ts == NULL || h.wr_sig == NULL) {
		wh_reply(wh, c, 401, "X-Webhook-Timestamp and "
		    "X-Webhook-Signature are required");
		return;
	}
	/* Kept as copies: the buffer moves as the body comes in.  One too
	 * long to copy is cut, and fails the check as it should. */
	snprintf(c->wc_ts, sizeof(c->wc_ts), "%s", h.wr_ts);
	snprintf(c->wc_sig, sizeof(c->wc_sig), "%s", h.wr_sig);
	c->wc_signed = 1;
	c->wc_need = (size_t)hl + (size_t)h.wr_length;
	if (h.wr_continue && c->wc_len < c->wc_need)
		(void)send(c->wc_fd, "HTTP/1.1 100 Continue\r\n\r\n", 25,
		    MSG_NOSIGNAL);
}

/* The whole request is in: check it, emit it, answer. */
static void
wh_on_request(struct webhook *wh, struct wh_client *c)
{
	struct wh_in	 in;
	struct ad_msg	 m;
	json_t		*content = NULL, *ev = NULL;
	char		*line = NULL;
	const char	*body = c->wc_buf + c->wc_head, *why;
	size_t		 n = c->wc_need - (size_t)c->wc_head;
	int		 rv;

	rv = wh_verify(wh->wh_secret, c->wc_ts, c->wc_sig, body, n,
	    (int64_t)time(NULL), wh->wh_window);
	switch (rv) {
	case WH_OK:
		break;
	case WH_EBADTS:
		wh_reply(wh, c, 400, "X-Webhook-Timestamp is not a number "
		    "of seconds");
		return;
	case WH_ESTALE:
		wh_reply(wh, c, 401, "the timestamp is outside the replay "
		    "window");
		return;
	default:
		wh_reply(wh, c, 401, "the signature does not match");
		return;
	}
	if (wh_in_parse(body, n, &in, &why) != 0) {
		wh_reply(wh, c, 400, why);
		return;
	}
	if ((content = ad_content_from_text(in.wi_text)) == NULL) {
		wh_reply(wh, c, 503, "out of memory");
		goto done;
	}
	memset(&m, 0, sizeof(m));
	m.am_user_id = in.wi_user_id;
	m.am_user_name = in.wi_user_name;
	m.am_text = in.wi_text;
	m.am_content = content;
	/* A reply goes back to the conversation it came from: the sender's
	 * own when none is named. */
	m.am_channel_id = in.wi_channel_id != NULL ? in.wi_channel_id :
	    in.wi_user_id;
	m.am_platform = "webhook";
	m.am_message_id = in.wi_message_id;
	m.am_thread_id = in.wi_thread_id;
	if ((ev = ad_ev_message(&m)) == NULL) {
		wh_reply(wh, c, 503, "out of memory");
		goto done;
	}
	/* The text goes in the frame twice (text, content) and escaped: a
	 * body under WEBHOOK_MAX_BODY can still make a frame past the
	 * protocol's line limit, which the daemon would drop after our
	 * 202.  Measured only when it can be so. */
	if (n > AD_LINE_MAX / 2 - 4096 && ((line = ad_frame_line(ev)) ==
	    NULL || strlen(line) >= AD_LINE_MAX)) {
		wh_reply(wh, c, 413, "the message is over the sidecar "
		    "protocol's 1 MiB frame");
		goto done;
	}
	/* 202 only once the daemon has the event: a sender that sees it
	 * may forget the message. */
	if (n > WH_TRIM_AFTER)
		wh_trim_later(wh);
	rv = ad_emit(wh->wh_ad, ev);
	ev = NULL;
	if (rv != 0)
		wh_reply(wh, c, 503, "the message could not be handed on");
	else
		wh_reply(wh, c, 202, NULL);
 done:
	free(line);
	json_decref(ev);
	json_decref(content);
	wh_in_release(&in);
}

/* Room for want bytes: doubling while the head comes, then the body's
 * exact size at once (one block, mapped when large, not a trail of
 * freed ones left in the heap). */
static int
wh_client_grow(struct wh_client *c, size_t want)
{
	char	*nb;
	size_t	 cap = c->wc_cap ? c->wc_cap : 4096;

	if (c->wc_head != 0)
		cap = c->wc_need + 1;
	while (cap < want)
		cap *= 2;
	if (cap <= c->wc_cap)
		return (0);
	if ((nb = realloc(c->wc_buf, cap)) == NULL)
		return (-1);
	c->wc_buf = nb;
	c->wc_cap = cap;
	return (0);
}

static void
wh_client_read(struct webhook *wh, struct wh_client *c)
{
	char	 sink[4096];
	size_t	 limit;
	ssize_t	 n;

	for (;;) {
		if (c->wc_state == WH_C_DRAIN) {
			n = recv(c->wc_fd, sink, sizeof(sink), 0);
		} else {
			/* Room for the head (and its NUL), then exactly for
			 * the body: what a client sends past it is not
			 * read. */
			limit = c->wc_head == 0 ? WH_HEAD_MAX + 2 :
			    c->wc_need + 1;
			if (c->wc_len + 1 >= limit)
				break;
			if (wh_client_grow(c, c->wc_len + 4096 < limit ?
			    c->wc_len + 4096 : limit) != 0) {
				wh_reply(wh, c, 503, "out of memory");
				return;
			}
			n = recv(c->wc_fd, c->wc_buf + c->wc_len,
			    (c->wc_cap < limit ? c->wc_cap : limit) -
			    c->wc_len - 1, 0);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* EOF or an error: a request cut short gets no
			 * answer, a drained one is done. */
			wh_client_close(wh, c);
			return;
		}
		if (c->wc_state == WH_C_DRAIN)
			continue;
		c->wc_len += (size_t)n;
		if (c->wc_head == 0) {
			wh_on_head(wh, c);
			if (c->wc_state != WH_C_READ)
				return;
		}
		if (c->wc_head != 0 && c->wc_len >= c->wc_need) {
			wh_on_request(wh, c);
			return;
		}
	}
}

static void
wh_accept(struct webhook *wh)
{
	struct wh_client	*c;
	int			 fd, i;

	for (;;) {
		for (i = 0; i < WH_CLIENTS_MAX; i++)
			if (wh->wh_cl[i].wc_state == WH_C_FREE)
				break;
		if (i == WH_CLIENTS_MAX) {
			/* Full: the backlog waits until a slot frees (a
			 * deadline frees one at the latest). */
			ad_watch(wh->wh_ad, wh->wh_lfd, 0);
			wh->wh_lwatched = 0;
			return;
		}
		fd = accept4(wh->wh_lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("%s: accept", __func__);
			return;
		}
		c = &wh->wh_cl[i];
		memset(c, 0, sizeof(*c));
		c->wc_fd = fd;
		c->wc_state = WH_C_READ;
		c->wc_deadline = util_now_ms() + (uint64_t)wh->wh_timeout_ms;
		if (ad_watch(wh->wh_ad, fd, POLLIN) != 0) {
			close(fd);
			memset(c, 0, sizeof(*c));
			c->wc_fd = -1;
			return;
		}
	}
}

/* Opens the listener on WEBHOOK_BIND_HOST, WEBHOOK_LISTEN_PORT.  0, or
 * -1 with why in err. */
static int
wh_listen(struct webhook *wh, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res = NULL;
	char		 port[8];
	const char	*host = wh->wh_host;
	int		 fd = -1, one = 1, rv, ret = -1;

	snprintf(port, sizeof(port), "%lld", wh->wh_port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rv = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "could not resolve '%s': %s", host,
		    gai_strerror(rv));
		goto done;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    listen(fd, 64) != 0) {
		snprintf(err, errlen, "could not listen on '%s' port %s: %s",
		    host, port, strerror(errno));
		goto done;
	}
	wh->wh_lfd = fd;
	fd = -1;
	ret = 0;
 done:
	if (fd >= 0)
		close(fd);
	if (res != NULL)
		freeaddrinfo(res);
	return (ret);
}

/* ---- out: deliveries to the callback ---------------------------------- */

static void
wh_out_pop(struct webhook *wh)
{
	struct wh_out	*o = wh->wh_head;

	wh->wh_head = o->wo_next;
	if (wh->wh_head == NULL)
		wh->wh_tail = &wh->wh_head;
	wh->wh_queued--;
	free(o->wo_body);
	free(o);
}

/* The attempt in flight is over: status (-1 for a connection error or
 * a timeout, why in wh_why) decides whether the delivery is done, tried
 * again later, or given up with an `error` event. */
static void
wh_attempt_done(struct webhook *wh, int status)
{
	struct wh_out	*o = wh->wh_head;
	uint64_t	 delay;
	unsigned int	 i;

	wh->wh_inflight = 0;
	o->wo_attempts++;
	if (status >= 200 && status <= 299) {
		log_info("webhook: delivery %s answered %d (attempt %u)",
		    o->wo_id, status, o->wo_attempts);
		wh_out_pop(wh);
		return;
	}
	if (status > 0 && !wh_status_retry(status)) {
		ad_error(wh->wh_ad, "webhook: the callback refused delivery "
		    "%s: HTTP %d", o->wo_id, status);
		wh_out_pop(wh);
		return;
	}
	if (status > 0)
		snprintf(wh->wh_why, sizeof(wh->wh_why), "HTTP %d", status);
	if (o->wo_attempts >= (unsigned int)wh->wh_attempts) {
		ad_error(wh->wh_ad, "webhook: could not deliver %s after %u "
		    "attempts: %s", o->wo_id, o->wo_attempts, wh->wh_why);
		wh_out_pop(wh);
		return;
	}
	delay = (uint64_t)wh->wh_retry_ms;
	for (i = 1; i < o->wo_attempts && delay < WH_BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > WH_BACKOFF_MAX_MS)
		delay = WH_BACKOFF_MAX_MS;
	o->wo_next_at = util_now_ms() + delay;
	log_info("webhook: delivery %s failed (%s); attempt %u in %llu ms",
	    o->wo_id, wh->wh_why, o->wo_attempts + 1,
	    (unsigned long long)delay);
}

static void	wh_pump(struct webhook *wh);

/*
 * The callback's answer (ad_http): its status decides.  The body was
 * read to its end, so the receiver's last write is not met by a reset;
 * a status that came before a close or the time limit still counts.
 */
static void
wh_on_answer(void *arg, const struct ad_http_resp *r)
{
	struct webhook	*wh = arg;

	if (r->ar_err != NULL)
		snprintf(wh->wh_why, sizeof(wh->wh_why), "%s", r->ar_err);
	wh_attempt_done(wh, r->ar_status > 0 ? r->ar_status : -1);
	wh_pump(wh);
}

/* Starts the head delivery if it is due and none is in flight. */
static void
wh_pump(struct webhook *wh)
{
	struct wh_out	*o;
	char		 ts[24], sig[WH_SIG_LEN + 1], head[512];
	int		 n;

	while (!wh->wh_inflight && (o = wh->wh_head) != NULL &&
	    util_now_ms() >= o->wo_next_at) {
		/* Signed at each attempt: a retry minutes later is still
		 * inside the receiver's replay window. */
		snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
		if (wh_sign(wh->wh_secret, ts, o->wo_body, o->wo_len,
		    sig) != 0) {
			ad_error(wh->wh_ad, "webhook: could not sign delivery "
			    "%s", o->wo_id);
			wh_out_pop(wh);
			continue;
		}
		n = snprintf(head, sizeof(head), "Content-Type: "
		    "application/json\r\nX-Webhook-Timestamp: %s\r\n"
		    "X-Webhook-Signature: %s\r\nX-Webhook-Delivery: %s\r\n",
		    ts, sig, o->wo_id);
		if (n < 0 || (size_t)n >= sizeof(head)) {
			ad_error(wh->wh_ad, "webhook: the request head of %s "
			    "is too long", o->wo_id);
			wh_out_pop(wh);
			continue;
		}
		if (ad_http_request(&wh->wh_http, "POST", wh->wh_url.au_path,
		    head, o->wo_body, o->wo_len, (uint64_t)wh->wh_timeout_ms,
		    wh_on_answer, wh) != 0) {
			ad_error(wh->wh_ad, "webhook: out of memory; delivery "
			    "%s dropped", o->wo_id);
			wh_out_pop(wh);
			continue;
		}
		wh->wh_inflight = 1;
	}
}

static void
wh_send(struct webhook *wh, const struct ad_cmd *c)
{
	struct wh_out	*o = NULL;
	json_t		*body = NULL;
	char		*s = NULL;

	if (wh->wh_callback == NULL) {
		ad_error(wh->wh_ad, "webhook: no WEBHOOK_CALLBACK_URL; a send "
		    "to '%.64s' is dropped", c->ac_channel_id);
		return;
	}
	if (wh->wh_queued >= WH_QUEUE_MAX) {
		ad_error(wh->wh_ad, "webhook: %zu deliveries wait already; a "
		    "send to '%.64s' is dropped", wh->wh_queued,
		    c->ac_channel_id);
		return;
	}
	body = json_pack("{s:s, s:s, s:s?, s:O?}", "channel_id",
	    c->ac_channel_id, "text", c->ac_text, "thread_id",
	    c->ac_thread_id, "content", (json_t *)(uintptr_t)c->ac_content);
	if (body != NULL && c->ac_user_id != NULL)
		json_object_set_new(body, "user", json_pack("{s:s, s:s?}",
		    "platform_id", c->ac_user_id, "display_name",
		    c->ac_user_name));
	if (body == NULL || (s = json_dumps(body, JSON_COMPACT)) == NULL ||
	    (o = calloc(1, sizeof(*o))) == NULL) {
		ad_error(wh->wh_ad, "webhook: out of memory; a send to "
		    "'%.64s' is dropped", c->ac_channel_id);
		goto done;
	}
	if (strlen(s) > WH_OUT_BODY_MAX) {
		ad_error(wh->wh_ad, "webhook: a send of %zu bytes to '%.64s' "
		    "is over %d; dropped", strlen(s), c->ac_channel_id,
		    WH_OUT_BODY_MAX);
		goto done;
	}
	util_uuid4(o->wo_id);
	o->wo_body = s;
	o->wo_len = strlen(s);
	o->wo_next_at = 0;
	*wh->wh_tail = o;
	wh->wh_tail = &o->wo_next;
	wh->wh_queued++;
	o = NULL;
	s = NULL;
	wh_pump(wh);
 done:
	json_decref(body);
	free(s);
	free(o);
}

/* ---- the adapter's callbacks ------------------------------------------ */

/* The timer at the earliest of the deadlines. */
static void
wh_arm(struct webhook *wh)
{
	uint64_t	at = 0, t;
	int		i;

	for (i = 0; i < WH_CLIENTS_MAX; i++)
		if (wh->wh_cl[i].wc_state != WH_C_FREE &&
		    (at == 0 || wh->wh_cl[i].wc_deadline < at))
			at = wh->wh_cl[i].wc_deadline;
	if (wh->wh_inflight || wh->wh_head != NULL) {
		t = wh->wh_inflight ? ad_http_deadline(&wh->wh_http) :
		    wh->wh_head->wo_next_at;
		if (t == 0)
			t = 1;
		if (at == 0 || t < at)
			at = t;
	}
	if (wh->wh_trim_at != 0 && (at == 0 || wh->wh_trim_at < at))
		at = wh->wh_trim_at;
	ad_timer(wh->wh_ad, at);
}

static int
wh_connect(struct ad *a)
{
	struct webhook	*wh = ad_arg(a);
	char		 err[300];

	if (wh->wh_lfd >= 0)
		return (0);
	if (wh_listen(wh, err, sizeof(err)) != 0) {
		ad_error(a, "webhook: %s", err);
		return (-1);
	}
	ad_watch(a, wh->wh_lfd, POLLIN);
	wh->wh_lwatched = 1;
	log_info("webhook: listening on '%s' port %lld, path '%s'",
	    wh->wh_host, wh->wh_port, wh->wh_path);
	ad_platform_up(a);
	return (0);
}

static void
wh_io(struct ad *a, int fd, int revents)
{
	struct webhook	*wh = ad_arg(a);
	int		 i;

	if (fd == wh->wh_lfd) {
		wh_accept(wh);
	} else if (ad_http_owns(&wh->wh_http, fd)) {
		ad_http_io(&wh->wh_http, revents);
		wh_pump(wh);
	} else {
		for (i = 0; i < WH_CLIENTS_MAX; i++) {
			struct wh_client *c = &wh->wh_cl[i];

			if (c->wc_state == WH_C_FREE || c->wc_fd != fd)
				continue;
			if (c->wc_state == WH_C_WRITE)
				wh_client_write(wh, c);
			else if (revents & (POLLIN | POLLHUP | POLLERR))
				wh_client_read(wh, c);
			break;
		}
	}
	wh_arm(wh);
}

static void
wh_tick(struct ad *a)
{
	struct webhook	*wh = ad_arg(a);
	uint64_t	 now = util_now_ms();
	int		 i;

	for (i = 0; i < WH_CLIENTS_MAX; i++) {
		struct wh_client *c = &wh->wh_cl[i];

		if (c->wc_state == WH_C_FREE || now < c->wc_deadline)
			continue;
		/* Out of time: a client still sending is told so once, and
		 * given the drain's time to take it; else it is closed. */
		if (c->wc_state == WH_C_READ)
			wh_reply(wh, c, 408, "the request took too long");
		else
			wh_client_close(wh, c);
	}
	if (wh->wh_trim_at != 0 && now >= wh->wh_trim_at) {
		wh->wh_trim_at = 0;
		memtrim_tick(now, WH_TRIM_MIN);
	}
	/* The callback's time limit (ad_http: its answer then says so,
	 * with the status if one had come). */
	ad_http_tick(&wh->wh_http);
	wh_pump(wh);
	wh_arm(wh);
}

static void
wh_command(struct ad *a, const struct ad_cmd *c)
{
	struct webhook	*wh = ad_arg(a);

	switch (c->ac_type) {
	case AD_CMD_SEND:
		wh_send(wh, c);
		break;
	default:
		log_debug("webhook: '%s' ignored", c->ac_method);
		break;
	}
	wh_arm(wh);
}

static void
wh_stop(struct ad *a)
{
	struct webhook	*wh = ad_arg(a);
	int		 i;

	for (i = 0; i < WH_CLIENTS_MAX; i++)
		if (wh->wh_cl[i].wc_state != WH_C_FREE)
			wh_client_close(wh, &wh->wh_cl[i]);
	if (wh->wh_lfd >= 0) {
		ad_watch(a, wh->wh_lfd, 0);
		close(wh->wh_lfd);
		wh->wh_lfd = -1;
	}
	ad_http_close(&wh->wh_http);
	if (wh->wh_queued > 0)
		log_warnx("webhook: %zu deliveries not made at exit",
		    wh->wh_queued);
	while (wh->wh_head != NULL)
		wh_out_pop(wh);
}

static int
wh_init(struct ad *a)
{
	struct webhook	*wh = ad_arg(a);
	const char	*why;
	char		 host[272];
	int		 is_ip;

	wh->wh_ad = a;
	wh->wh_host = ad_conf("WEBHOOK_BIND_HOST");
	wh->wh_path = ad_conf("WEBHOOK_LISTEN_PATH");
	wh->wh_secret = ad_conf("WEBHOOK_SECRET");
	wh->wh_callback = ad_conf("WEBHOOK_CALLBACK_URL");
	wh->wh_ca_file = ad_conf("WEBHOOK_TLS_CA_FILE");
	wh->wh_tls_verify = ad_conf_bool("WEBHOOK_TLS_VERIFY");
	if (wh->wh_secret == NULL || strlen(wh->wh_secret) < 16) {
		log_warnx("%s: WEBHOOK_SECRET is required, of 16 characters "
		    "at least", __func__);
		return (-1);
	}
	log_add_secret(wh->wh_secret);
	if (wh->wh_path[0] != '/' || strpbrk(wh->wh_path, " ?#\r\n") != NULL) {
		log_warnx("%s: WEBHOOK_LISTEN_PATH '%s' is not a path", __func__,
		    wh->wh_path);
		return (-1);
	}
	if (ad_conf_num("WEBHOOK_LISTEN_PORT", 1, 65535, &wh->wh_port) != 0 ||
	    ad_conf_num("WEBHOOK_MAX_BODY", 1, 64LL * 1024 * 1024,
	    &wh->wh_max_body) != 0 ||
	    ad_conf_num("WEBHOOK_REPLAY_WINDOW_SECS", 1, 86400,
	    &wh->wh_window) != 0 ||
	    ad_conf_num("WEBHOOK_ATTEMPTS", 1, 100, &wh->wh_attempts) != 0 ||
	    ad_conf_num("WEBHOOK_RETRY_MS", 1, WH_BACKOFF_MAX_MS,
	    &wh->wh_retry_ms) != 0 ||
	    ad_conf_num("WEBHOOK_TIMEOUT_MS", 100, 600000,
	    &wh->wh_timeout_ms) != 0)
		return (-1);
	if (wh->wh_callback != NULL) {
		if (ad_url_parse(wh->wh_callback, &wh->wh_url, &why) != 0) {
			log_warnx("%s: WEBHOOK_CALLBACK_URL: %s", __func__,
			    why);
			return (-1);
		}
		/* An address or a local name refused now, not at the first
		 * send; a name's addresses are checked at each connect
		 * (ad_conn). */
		snprintf(host, sizeof(host), strchr(wh->wh_url.au_host, ':') ?
		    "[%s]" : "%s", wh->wh_url.au_host);
		if ((why = ssrf_host_blocked(host, &is_ip)) != NULL &&
		    (!ad_allow_loopback(a) ||
		    strcmp(why, SSRF_WHY_METADATA) == 0)) {
			log_warnx("%s: WEBHOOK_CALLBACK_URL's host '%s' is a "
			    "%s; refused%s", __func__, wh->wh_url.au_host, why,
			    strcmp(why, SSRF_WHY_METADATA) == 0 ? "" :
			    " without WEBHOOK_ALLOW_LOOPBACK");
			return (-1);
		}
		ad_http_init(&wh->wh_http, a, &wh->wh_url,
		    (wh->wh_tls_verify ? 0 : AD_CONN_NOVERIFY) |
		    (ad_allow_loopback(a) ? AD_CONN_ALLOW_PRIVATE : 0),
		    wh->wh_ca_file, WH_ANSWER_MAX);
	}
	return (0);
}

static const struct ad_def wh_def = {
	.ad_name = "webhook",
	.ad_display_name = "Webhook",
	.ad_description = "A generic webhook: signed POSTs of {user_id, "
	    "user_name, text} to the adapter's own listener are messages; "
	    "replies are signed POSTs to a callback URL (HMAC-SHA256 both "
	    "ways).",
	.ad_env = "WEBHOOK",
	.ad_fields = wh_fields,
	.ad_capabilities = wh_caps,
	.ad_init = wh_init,
	.ad_connect = wh_connect,
	.ad_io = wh_io,
	.ad_tick = wh_tick,
	.ad_command = wh_command,
	.ad_stop = wh_stop,
};

int
main(int argc, char **argv)
{
	struct webhook	wh;
	int		rv, i;

	memset(&wh, 0, sizeof(wh));
	wh.wh_lfd = -1;
	wh.wh_tail = &wh.wh_head;
	for (i = 0; i < WH_CLIENTS_MAX; i++)
		wh.wh_cl[i].wc_fd = -1;
	/* Closed and harmless until wh_init() points it at the callback. */
	ad_http_init(&wh.wh_http, NULL, &wh.wh_url, 0, NULL, 0);
	/* Request buffers of 256 KiB and more are mapped and unmapped, not
	 * kept in the heap after a burst (PSS, issue 13). */
	memtrim_init();
	rv = ad_main(&wh_def, &wh, argc, argv);
	ad_http_close(&wh.wh_http);
	while (wh.wh_head != NULL)
		wh_out_pop(&wh);
	return (rv);
}
