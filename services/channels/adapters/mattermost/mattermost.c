/*
 * mattermost.c - channel-mattermost: a Mattermost bot over the REST API
 * v4 and the WebSocket API (README.md), on the library's WebSocket and
 * HTTP clients (ad_ws, ad_http; no libcurl).
 *
 * The session: GET /api/v4/users/me with the personal access token as
 * Bearer (the token checked, the bot's own id and username), then the
 * WebSocket /api/v4/websocket, the token as Bearer on the upgrade too
 * (as Mattermost's Go driver does: only an upgrade with a session can
 * take up a connection again), the first frame ours, the
 * authentication_challenge action with the token (answered when the
 * upgrade was not authenticated, ignored when it was), then the `hello`
 * event with the connection's id.  The server numbers its events (seq,
 * from 0 on a new connection); we expect each next one.  A connection
 * lost comes back with ?connection_id=&sequence_number= (the next seq we
 * expect): a server that still has it sends what we missed, and no
 * `hello`; a `hello` with another id is a new connection (what was said
 * meanwhile is lost: logged).  An event past the one expected
 * (one missed) closes the connection to come back that way at once, as
 * Mattermost's own client does; one before it (a replay) is dropped.  A
 * `ping` action every MATTERMOST_PING_SECS; one unanswered by the next
 * is a dead connection: closed and resumed.  The server's protocol
 * pings are answered with pongs (ad_ws).
 *
 * `posted` events (data.post a JSON string) from others are `message`
 * events.  The REST calls (posts cut at 16383 characters, reactions) go
 * on a second connection, one at a time and in order, each retried
 * after a 429's Retry-After or X-RateLimit-Reset, and after a 5xx or a
 * connection error with a doubling delay.  Typing is the WebSocket's
 * user_typing action.
 */
#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ad_http.h"
#include "ad_ws.h"
#include "adapter.h"
#include "log.h"
#include "mattermost.h"
#include "util.h"

#define MM_QUEUE_MAX		1000	/* REST calls waiting */
#define MM_ATTEMPTS		8	/* tries of one call */
#define MM_RETRY_MS		1000	/* the first retry's delay, doubling */
#define MM_RETRY_MAX_MS		30000
#define MM_REST_TIMEOUT_MS	30000
#define MM_RESP_MAX		(1024 * 1024)	/* a REST answer's body */
#define MM_WS_MAX		(4 * 1024 * 1024)	/* an event */
#define MM_REACTS		32	/* posts whose reaction we know */
#define MM_CLOSE_AGAIN		4000	/* ours, to come back at once */
#define MM_TRIM_AFTER		(8 * 1024)	/* a body that big: trim */

enum mm_state {
	MM_DOWN = 0,		/* waiting for the library's reconnect */
	MM_ME,			/* GET /users/me asked */
	MM_OPENING,		/* the WebSocket's handshake */
	MM_AUTH,		/* open, the challenge sent: no sign of life yet */
	MM_READY,
};

/* A REST call waiting to be made. */
struct mm_out {
	struct mm_out	*o_next;
	char		 o_method[8];
	char		 o_path[1400];
	char		*o_body;		/* JSON, or NULL */
	size_t		 o_len;
	int		 o_best_effort;	/* reactions: no error event, no
					   retry but a 429's */
	unsigned int	 o_attempts;
	uint64_t	 o_next_at;
};

/* Our reaction on a post, taken back when the next one comes (a turn's
 * phases: one at a time). */
struct mm_react {
	char	r_pid[MM_ID_LEN + 1];
	char	r_emoji[72];
};

struct mm {
	struct ad	*m_ad;
	/* configuration */
	const char	*m_token;
	struct ad_url	 m_base;
	char		 m_prefix[1024];	/* the base's path, no "/" */
	char		 m_ws_url[1400];	/* without a query of ours */
	char		 m_auth[300];		/* the header lines */
	char		 m_authjson[340];
	const char	*m_ca_file;
	int		 m_flags;
	uint64_t	 m_ping_every;
	struct mm_filter m_filter;
	/* the session */
	enum mm_state	 m_state;
	struct ad_http	 m_rest;		/* GET /users/me */
	struct ad_ws	 m_ws;
	struct mm_self	 m_self;
	char		 m_conn_id[128];	/* the server's, to resume */
	long long	 m_next_seq;		/* the event expected next */
	long long	 m_act_seq;		/* our next action's seq */
	long long	 m_auth_seq;
	long long	 m_ping_seq;		/* a ping unanswered, 0 none */
	uint64_t	 m_ping_at;
	int		 m_again;		/* on close: reconnect at once */
	uint64_t	 m_reconnect_at;
	int		 m_stopping;
	uint64_t	 m_resumes;
	uint64_t	 m_fresh;
	/* the REST calls */
	struct ad_http	 m_out;
	struct mm_out	*m_head;
	struct mm_out	**m_tail;
	size_t		 m_queued;
	int		 m_inflight;
	int		 m_trim;		/* malloc_trim() once empty */
	struct mm_react	 m_reacts[MM_REACTS];
	unsigned int	 m_react_next;
};

static const struct ad_field mm_fields[] = {
	{ "MATTERMOST_SERVER_URL", "Server URL", AD_FIELD_TEXT, 1,
	    "https://chat.example.com", 0, NULL, NULL },
	{ "MATTERMOST_TOKEN", "Bot's personal access token", AD_FIELD_SECRET,
	    1, "9xuqwrwgstrb3mzrxb83nb357a", 0, NULL, NULL },
	{ "MATTERMOST_ALLOWED_CHANNELS", "Allowed channels (ids or names; "
	    "empty: all; DMs always)", AD_FIELD_LIST, 0,
	    "town-square, 4xp9fdt8pbgbmqyrq6ax4yw1ka", 0, NULL, NULL },
	{ "MATTERMOST_WS_URL", "WebSocket URL (default: the server's "
	    "/api/v4/websocket)", AD_FIELD_TEXT, 0,
	    "wss://chat.example.com/api/v4/websocket", 1, NULL, NULL },
	{ "MATTERMOST_PING_SECS", "Seconds between pings on the WebSocket",
	    AD_FIELD_NUMBER, 0, "30", 1, NULL, "30" },
	{ "MATTERMOST_TLS_CA_FILE", "CA certificates (PEM file)",
	    AD_FIELD_TEXT, 0, "/etc/ssl/certs/ca-certificates.crt", 1, NULL,
	    NULL },
	{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
};

/* What is done (README.md): no buttons, no streaming. */
static const char *const mm_caps[] = { "typing", "reaction", "thread", NULL };

static void	mm_open_ws(struct mm *m);
static void	mm_pump(struct mm *m);
static void	mm_arm(struct mm *m);

static const struct ad_ws_cb mm_ws_cb;

/* The platform is gone: the sockets closed (the library unwatches every
 * fd), a call in flight goes again later, and the library says why and
 * reconnects after its backoff.  The connection id is kept to resume. */
static void
mm_down(struct mm *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mm_down(struct mm *m, const char *fmt, ...)
{
	va_list	ap;
	char	why[512];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ad_ws_abort(&m->m_ws);
	ad_http_close(&m->m_rest);
	ad_http_close(&m->m_out);
	if (m->m_inflight && m->m_head != NULL)
		m->m_head->o_next_at = util_now_ms() + MM_RETRY_MS;
	m->m_inflight = 0;
	m->m_state = MM_DOWN;
	m->m_ping_at = m->m_reconnect_at = 0;
	m->m_ping_seq = 0;
	m->m_again = 0;
	ad_platform_down(m->m_ad, why);
}

/* ---- the WebSocket -------------------------------------------------------- */

static int
mm_ws_send(struct mm *m, char *payload, const char *what)
{
	int	rv = -1;

	if (payload != NULL && (rv = ad_ws_send(&m->m_ws, 0, payload,
	    strlen(payload))) != 0)
		log_warnx("mattermost: could not send %s", what);
	free(payload);
	return (rv);
}

/* Closes the connection to come back at once and resume (an event
 * missed, a ping unanswered). */
static void
mm_reconnect_soon(struct mm *m, const char *why)
{
	log_info("mattermost: %s; reconnecting to resume", why);
	m->m_again = 1;
	m->m_ping_at = 0;
	m->m_ping_seq = 0;
	ad_ws_close(&m->m_ws, MM_CLOSE_AGAIN, "reconnecting");
}

/* A sign the connection is authenticated and live (the challenge's OK,
 * hello, a ping's answer, an event in order; a connection taken up again
 * has no hello): the library's backoff starts over. */
static void
mm_up(struct mm *m)
{
	if (m->m_state == MM_READY)
		return;
	m->m_state = MM_READY;
	ad_platform_up(m->m_ad);
}

static void
mm_on_open(void *arg)
{
	struct mm	*m = arg;

	m->m_state = MM_AUTH;
	m->m_act_seq = 1;
	m->m_auth_seq = m->m_act_seq++;
	m->m_ping_seq = 0;
	m->m_ping_at = util_now_ms() + m->m_ping_every;
	if (m->m_conn_id[0] != '\0')
		log_info("mattermost: the WebSocket is open again; connection "
		    "%s asked for from event %lld", m->m_conn_id,
		    m->m_next_seq);
	if (mm_ws_send(m, mm_auth_challenge(m->m_auth_seq, m->m_token),
	    "the authentication challenge") != 0)
		mm_down(m, "could not send the authentication challenge");
}

static void
mm_on_hello(struct mm *m, const json_t *data, long long seq)
{
	const char	*cid;

	cid = json_string_value(json_object_get(data, "connection_id"));
	if (cid == NULL)
		cid = "";
	if (m->m_conn_id[0] != '\0' && strcmp(cid, m->m_conn_id) == 0) {
		m->m_resumes++;
		log_info("mattermost: hello on connection %s at event %lld",
		    cid, seq);
	} else {
		if (m->m_conn_id[0] != '\0')
			log_warnx("mattermost: a new connection (%s, not %s): "
			    "the server kept nothing of the last one, so "
			    "posts made while it was down are not seen", cid,
			    m->m_conn_id);
		m->m_fresh++;
		snprintf(m->m_conn_id, sizeof(m->m_conn_id), "%s", cid);
		log_info("mattermost: connected as %s (id %s), connection %s",
		    m->m_self.ms_username, m->m_self.ms_id, cid);
	}
	if (seq >= 0)
		m->m_next_seq = seq + 1;
	mm_up(m);
}

static void
mm_on_reply(struct mm *m, const json_t *j, long long seq)
{
	const char	*status = json_string_value(json_object_get(j,
			    "status"));
	const char	*why;
	const json_t	*err = json_object_get(j, "error");
	int		 ok = status != NULL && strcmp(status, "OK") == 0;

	why = json_string_value(json_object_get(err, "message"));
	if (why == NULL)
		why = json_string_value(json_object_get(err, "id"));
	if (why == NULL)
		why = status != NULL ? status : "no status";
	if (seq == m->m_auth_seq) {
		if (ok) {
			log_debug("mattermost: authenticated; hello awaited");
			mm_up(m);
		} else
			mm_down(m, "the token was refused on the WebSocket "
			    "(%s)", why);
	} else if (seq == m->m_ping_seq) {
		m->m_ping_seq = 0;
		if (ok)
			mm_up(m);
	} else if (!ok)
		log_info("mattermost: action %lld failed: %s", seq, why);
}

static void
mm_on_event(struct mm *m, const char *ev, const json_t *j)
{
	const json_t	*data = json_object_get(j, "data");
	const json_t	*s = json_object_get(j, "seq");
	const char	*skip;
	long long	 seq = json_is_integer(s) ? json_integer_value(s) : -1;
	json_t		*msg;

	if (strcmp(ev, "hello") == 0) {
		mm_on_hello(m, data, seq);
		return;
	}
	if (seq >= 0 && m->m_state >= MM_AUTH) {
		if (seq < m->m_next_seq) {
			log_debug("mattermost: event %lld (%s) seen already; "
			    "dropped", seq, ev);
			return;
		}
		if (seq > m->m_next_seq) {
			if (!m->m_again) {
				log_warnx("mattermost: event %lld came, %lld "
				    "was expected", seq, m->m_next_seq);
				mm_reconnect_soon(m, "an event was missed");
			}
			return;
		}
		m->m_next_seq = seq + 1;
		mm_up(m);
	}
	if (strcmp(ev, "posted") != 0)
		return;
	if ((msg = mm_message_event(data, &m->m_self, &m->m_filter,
	    &skip)) == NULL)
		log_debug("mattermost: a post skipped: %s", skip);
	else
		ad_emit(m->m_ad, msg);
}

static void
mm_on_message(void *arg, int binary, const char *data, size_t n)
{
	struct mm	*m = arg;
	json_t		*j, *r;
	const char	*ev;

	j = binary ? NULL : json_loadb(data, n, 0, NULL);
	if (!json_is_object(j)) {
		log_warnx("mattermost: a WebSocket message that is not a "
		    "JSON object; ignored");
		json_decref(j);
		return;
	}
	if (json_is_integer(r = json_object_get(j, "seq_reply")))
		mm_on_reply(m, j, json_integer_value(r));
	else if ((ev = json_string_value(json_object_get(j, "event"))) !=
	    NULL)
		mm_on_event(m, ev, j);
	else
		log_debug("mattermost: a message without event or seq_reply");
	json_decref(j);
}

static void
mm_on_close(void *arg, int code, const char *reason)
{
	struct mm	*m = arg;

	m->m_ping_at = 0;
	m->m_ping_seq = 0;
	if (m->m_stopping)
		return;
	if (m->m_again) {
		m->m_again = 0;
		m->m_state = MM_OPENING;
		m->m_reconnect_at = util_now_ms();
		return;
	}
	mm_down(m, "the WebSocket connection ended (%d: %s)", code, reason);
}

static const struct ad_ws_cb mm_ws_cb = {
	.on_open = mm_on_open,
	.on_message = mm_on_message,
	.on_close = mm_on_close,
};

/* Opens the WebSocket; with the last connection's id and the next event
 * expected when there was one, so that the server sends what we
 * missed. */
static void
mm_open_ws(struct mm *m)
{
	char	url[1600], err[256];

	m->m_reconnect_at = 0;
	if (m->m_conn_id[0] != '\0')
		snprintf(url, sizeof(url), "%s%cconnection_id=%s&"
		    "sequence_number=%lld", m->m_ws_url,
		    strchr(m->m_ws_url, '?') != NULL ? '&' : '?',
		    m->m_conn_id, m->m_next_seq);
	else
		snprintf(url, sizeof(url), "%s", m->m_ws_url);
	m->m_state = MM_OPENING;
	if (ad_ws_open(&m->m_ws, url, m->m_flags, m->m_ca_file, MM_WS_MAX,
	    &mm_ws_cb, m, err, sizeof(err)) != 0)
		mm_down(m, "the WebSocket URL '%.200s': %s", m->m_ws_url, err);
}

static void
mm_on_me(void *arg, const struct ad_http_resp *r)
{
	struct mm	*m = arg;
	json_t		*j = ad_http_resp_json(r);
	const char	*id = json_string_value(json_object_get(j, "id"));
	const char	*un = json_string_value(json_object_get(j, "username"));
	const char	*msg = json_string_value(json_object_get(j, "message"));

	if (r->ar_err != NULL && r->ar_status < 0)
		mm_down(m, "GET /api/v4/users/me: %s", r->ar_err);
	else if (r->ar_status == 401)
		mm_down(m, "the token was refused (HTTP 401%s%s)",
		    msg != NULL ? ": " : "", msg != NULL ? msg : "");
	else if (r->ar_status != 200 || !mm_id_ok(id))
		mm_down(m, "GET /api/v4/users/me answered HTTP %d%s%s",
		    r->ar_status, msg != NULL ? ": " : "",
		    msg != NULL ? msg : "");
	else {
		if (m->m_self.ms_id[0] != '\0' &&
		    strcmp(m->m_self.ms_id, id) != 0)
			m->m_conn_id[0] = '\0';	/* another user */
		snprintf(m->m_self.ms_id, sizeof(m->m_self.ms_id), "%s", id);
		snprintf(m->m_self.ms_username, sizeof(m->m_self.ms_username),
		    "%s", un != NULL ? un : "");
		mm_open_ws(m);
	}
	json_decref(j);
}

/* ---- the REST calls ------------------------------------------------------- */

/* Queues a call to prefix + path (steals body: NULL for none).  0, or -1
 * (full, or out of memory; an `error` event unless best effort). */
static int
mm_enqueue(struct mm *m, const char *method, const char *path, json_t *body,
    int best_effort)
{
	struct mm_out	*o = NULL;
	char		*s = NULL;

	if (m->m_queued >= MM_QUEUE_MAX) {
		if (!best_effort)
			ad_error(m->m_ad, "mattermost: %zu calls wait already; "
			    "one is dropped", m->m_queued);
		goto fail;
	}
	if ((body != NULL && (s = json_dumps(body, JSON_COMPACT)) == NULL) ||
	    (o = calloc(1, sizeof(*o))) == NULL) {
		if (!best_effort)
			ad_error(m->m_ad, "mattermost: out of memory; a call "
			    "is dropped");
		goto fail;
	}
	snprintf(o->o_method, sizeof(o->o_method), "%s", method);
	snprintf(o->o_path, sizeof(o->o_path), "%s%s", m->m_prefix, path);
	o->o_body = s;
	o->o_len = s != NULL ? strlen(s) : 0;
	o->o_best_effort = best_effort;
	*m->m_tail = o;
	m->m_tail = &o->o_next;
	m->m_queued++;
	json_decref(body);
	return (0);
 fail:
	free(s);
	free(o);
	json_decref(body);
	return (-1);
}

static void
mm_out_pop(struct mm *m)
{
	struct mm_out	*o = m->m_head;

	m->m_head = o->o_next;
	if (m->m_head == NULL)
		m->m_tail = &m->m_head;
	m->m_queued--;
	if (o->o_len > MM_TRIM_AFTER)
		m->m_trim = 1;
	free(o->o_body);
	free(o);
	/* A long post's parts, bodies and echoes (tens of KiB each) leave
	 * the heap in pieces: the free pages given back once they are all
	 * gone (PSS). */
	if (m->m_head == NULL && m->m_trim) {
		m->m_trim = 0;
		malloc_trim(0);
	}
}

/* A 429's wait in ms: Retry-After, else X-RateLimit-Reset (Mattermost:
 * the seconds until the limit resets; an epoch time taken as one), else
 * a second. */
static uint64_t
mm_rate_wait(const struct ad_http_resp *r)
{
	long long	s = -1;
	time_t		now = time(NULL);

	if (r->ar_retry_after >= 0)
		s = r->ar_retry_after;
	else if (r->ar_ratelimit_reset >= 1000000000LL)
		s = r->ar_ratelimit_reset > (long long)now ?
		    r->ar_ratelimit_reset - (long long)now : 0;
	else if (r->ar_ratelimit_reset >= 0)
		s = r->ar_ratelimit_reset;
	if (s < 0 || s > 3600)
		s = 1;
	/* "0" means the limit has reset: a short wait, not a spin. */
	return (s == 0 ? 200 : (uint64_t)s * 1000);
}

static void
mm_on_sent(void *arg, const struct ad_http_resp *r)
{
	struct mm	*m = arg;
	struct mm_out	*o = m->m_head;
	json_t		*j;
	const char	*msg;
	uint64_t	 delay;
	unsigned int	 i;

	m->m_inflight = 0;
	if (o == NULL)
		return;
	o->o_attempts++;
	j = ad_http_resp_json(r);
	msg = json_string_value(json_object_get(j, "message"));
	if (msg == NULL)
		msg = r->ar_err != NULL ? r->ar_err : "no message";
	if (r->ar_err == NULL && r->ar_status >= 200 && r->ar_status < 300) {
		log_debug("mattermost: %s %s done (attempt %u)", o->o_method,
		    o->o_path, o->o_attempts);
		mm_out_pop(m);
	} else if (r->ar_status == 429 && o->o_attempts < MM_ATTEMPTS) {
		delay = mm_rate_wait(r);
		log_warnx("mattermost: %s: rate limited; again in %llu ms",
		    o->o_method, (unsigned long long)delay);
		o->o_next_at = util_now_ms() + delay;
	} else if ((r->ar_status < 0 || r->ar_status >= 500) &&
	    !o->o_best_effort && o->o_attempts < MM_ATTEMPTS) {
		delay = MM_RETRY_MS;
		for (i = 1; i < o->o_attempts && delay < MM_RETRY_MAX_MS; i++)
			delay *= 2;
		if (delay > MM_RETRY_MAX_MS)
			delay = MM_RETRY_MAX_MS;
		log_warnx("mattermost: %s failed (HTTP %d: %s); attempt %u in "
		    "%llu ms", o->o_method, r->ar_status, msg,
		    o->o_attempts + 1, (unsigned long long)delay);
		o->o_next_at = util_now_ms() + delay;
	} else {
		if (o->o_best_effort)
			log_info("mattermost: %s failed (HTTP %d: %s); not "
			    "retried", o->o_method, r->ar_status, msg);
		else if (r->ar_status == 401)
			ad_error(m->m_ad, "mattermost: a post: the token was "
			    "refused (HTTP 401: %s)", msg);
		else
			ad_error(m->m_ad, "mattermost: a post failed after %u "
			    "attempt%s: HTTP %d: %s", o->o_attempts,
			    o->o_attempts == 1 ? "" : "s", r->ar_status, msg);
		mm_out_pop(m);
	}
	json_decref(j);
	mm_pump(m);
}

static void
mm_pump(struct mm *m)
{
	struct mm_out	*o;
	int		 rv;

	while (!m->m_inflight && (o = m->m_head) != NULL &&
	    util_now_ms() >= o->o_next_at) {
		rv = ad_http_request(&m->m_out, o->o_method, o->o_path,
		    o->o_body != NULL ? m->m_authjson : m->m_auth, o->o_body,
		    o->o_len, MM_REST_TIMEOUT_MS, mm_on_sent, m);
		if (rv != 0) {
			ad_error(m->m_ad, "mattermost: out of memory; a call "
			    "is dropped");
			mm_out_pop(m);
			continue;
		}
		m->m_inflight = 1;
	}
}

static void
mm_cmd_send(struct mm *m, const struct ad_cmd *c)
{
	const char	*text = c->ac_text, *root = c->ac_thread_id;
	char		*piece;
	size_t		 n = strlen(text), k, parts = 0, i;
	int		 blank;
	json_t		*body;

	if (!mm_id_ok(c->ac_channel_id)) {
		ad_error(m->m_ad, "mattermost: a send to '%.64s' is not to a "
		    "channel id; dropped", c->ac_channel_id);
		return;
	}
	if (root != NULL && !mm_id_ok(root)) {
		log_info("mattermost: thread '%.64s' is not a post id; the "
		    "reply goes to the channel", root);
		root = NULL;
	}
	while (n > 0) {
		/* Mattermost counts characters; a cut at 16383 UTF-16 units
		 * is never more than that many. */
		k = ad_text_cut(text, n, MM_TEXT_LIMIT, AD_UNIT_UTF16);
		for (blank = 1, i = 0; i < k && blank; i++)
			blank = text[i] == ' ' || text[i] == '\n' ||
			    text[i] == '\t' || text[i] == '\r';
		if (!blank) {
			if ((piece = strndup(text, k)) == NULL)
				ad_error(m->m_ad, "mattermost: out of memory; "
				    "a part is dropped");
			else {
				body = json_pack("{s:s, s:s}", "channel_id",
				    c->ac_channel_id, "message", piece);
				if (body != NULL && root != NULL)
					json_object_set_new(body, "root_id",
					    json_string(root));
				mm_enqueue(m, "POST", "/api/v4/posts", body, 0);
			}
			free(piece);
			parts++;
		}
		text += k;
		n -= k;
	}
	if (parts == 0)
		log_info("mattermost: an empty send to %s dropped",
		    c->ac_channel_id);
	else if (parts > 1)
		log_info("mattermost: a text of %zu bytes goes as %zu posts",
		    strlen(c->ac_text), parts);
}

static void
mm_cmd_reaction(struct mm *m, const struct ad_cmd *c)
{
	char		name[72], path[256];
	unsigned int	i;

	if (!mm_id_ok(c->ac_message_id) || !mm_id_ok(m->m_self.ms_id) ||
	    mm_emoji_name(c->ac_reaction, name, sizeof(name)) != 0) {
		log_debug("mattermost: a reaction on '%.64s': not a post of "
		    "Mattermost's, not connected yet, or an emoji without a "
		    "name here", c->ac_message_id);
		return;
	}
	for (i = 0; i < MM_REACTS; i++)
		if (strcmp(m->m_reacts[i].r_pid, c->ac_message_id) == 0)
			break;
	if (i < MM_REACTS && strcmp(m->m_reacts[i].r_emoji, name) == 0)
		return;		/* there already */
	if (i < MM_REACTS) {
		snprintf(path, sizeof(path), "/api/v4/users/%s/posts/%s/"
		    "reactions/%s", m->m_self.ms_id, c->ac_message_id,
		    m->m_reacts[i].r_emoji);
		mm_enqueue(m, "DELETE", path, NULL, 1);
	} else {
		i = m->m_react_next++ % MM_REACTS;
		snprintf(m->m_reacts[i].r_pid, sizeof(m->m_reacts[i].r_pid),
		    "%s", c->ac_message_id);
	}
	snprintf(m->m_reacts[i].r_emoji, sizeof(m->m_reacts[i].r_emoji),
	    "%s", name);
	mm_enqueue(m, "POST", "/api/v4/reactions", json_pack("{s:s, s:s, s:s}",
	    "user_id", m->m_self.ms_id, "post_id", c->ac_message_id,
	    "emoji_name", name), 1);
}

static void
mm_cmd_typing(struct mm *m, const struct ad_cmd *c)
{
	if (!mm_id_ok(c->ac_channel_id) || m->m_state < MM_AUTH)
		return;
	mm_ws_send(m, mm_action(m->m_act_seq++, "user_typing",
	    c->ac_channel_id, ""), "user_typing");
}

/* ---- the adapter's callbacks ---------------------------------------------- */

static void
mm_arm(struct mm *m)
{
	uint64_t	at = 0, v[6];
	int		i;

	v[0] = ad_http_deadline(&m->m_rest);
	v[1] = ad_http_deadline(&m->m_out);
	v[2] = ad_ws_deadline(&m->m_ws);
	v[3] = m->m_ping_at;
	v[4] = m->m_reconnect_at;
	v[5] = !m->m_inflight && m->m_head != NULL ?
	    (m->m_head->o_next_at ? m->m_head->o_next_at : 1) : 0;
	for (i = 0; i < 6; i++)
		if (v[i] != 0 && (at == 0 || v[i] < at))
			at = v[i];
	ad_timer(m->m_ad, at);
}

static int
mm_connect(struct ad *a)
{
	struct mm	*m = ad_arg(a);
	char		 path[1100];

	ad_ws_abort(&m->m_ws);
	ad_http_close(&m->m_rest);
	snprintf(path, sizeof(path), "%s/api/v4/users/me", m->m_prefix);
	if (ad_http_request(&m->m_rest, "GET", path, m->m_auth, NULL, 0,
	    MM_REST_TIMEOUT_MS, mm_on_me, m) != 0) {
		ad_error(a, "mattermost: could not ask GET /api/v4/users/me");
		return (-1);
	}
	m->m_state = MM_ME;
	mm_arm(m);
	return (0);
}

static void
mm_io(struct ad *a, int fd, int revents)
{
	struct mm	*m = ad_arg(a);

	if (ad_ws_owns(&m->m_ws, fd))
		ad_ws_io(&m->m_ws, revents);
	else if (ad_http_owns(&m->m_rest, fd))
		ad_http_io(&m->m_rest, revents);
	else if (ad_http_owns(&m->m_out, fd))
		ad_http_io(&m->m_out, revents);
	mm_pump(m);
	mm_arm(m);
}

static void
mm_tick(struct ad *a)
{
	struct mm	*m = ad_arg(a);
	uint64_t	 now;

	ad_http_tick(&m->m_rest);
	ad_http_tick(&m->m_out);
	ad_ws_tick(&m->m_ws);
	now = util_now_ms();
	if (m->m_reconnect_at != 0 && now >= m->m_reconnect_at)
		mm_open_ws(m);
	if (m->m_ping_at != 0 && now >= m->m_ping_at &&
	    m->m_state >= MM_AUTH && ad_ws_is_open(&m->m_ws)) {
		if (m->m_ping_seq != 0)
			mm_reconnect_soon(m, "no answer to the last ping");
		else {
			m->m_ping_seq = m->m_act_seq++;
			m->m_ping_at = now + m->m_ping_every;
			if (mm_ws_send(m, mm_action(m->m_ping_seq, "ping",
			    NULL, NULL), "a ping") != 0)
				m->m_ping_seq = 0;
		}
	}
	mm_pump(m);
	mm_arm(m);
}

static void
mm_command(struct ad *a, const struct ad_cmd *c)
{
	struct mm	*m = ad_arg(a);

	switch (c->ac_type) {
	case AD_CMD_SEND:
		mm_cmd_send(m, c);
		break;
	case AD_CMD_TYPING:
		mm_cmd_typing(m, c);
		break;
	case AD_CMD_REACTION:
		mm_cmd_reaction(m, c);
		break;
	default:
		log_debug("mattermost: '%s' ignored", c->ac_method);
		break;
	}
	mm_pump(m);
	mm_arm(m);
}

static void
mm_stop(struct ad *a)
{
	struct mm	*m = ad_arg(a);

	m->m_stopping = 1;
	if (ad_ws_is_open(&m->m_ws)) {
		ad_ws_close(&m->m_ws, AD_WS_CLOSE_NORMAL, "shutdown");
		ad_conn_flush(&m->m_ws.ws_conn);
	}
	ad_ws_abort(&m->m_ws);
	ad_http_close(&m->m_rest);
	ad_http_close(&m->m_out);
	if (m->m_queued > 0)
		log_warnx("mattermost: %zu calls not made at exit",
		    m->m_queued);
	while (m->m_head != NULL)
		mm_out_pop(m);
}

/* The WebSocket's URL: MATTERMOST_WS_URL, else the server's with ws[s]
 * and /api/v4/websocket. */
static int
mm_ws_url(struct mm *m)
{
	const char	*ws = ad_conf("MATTERMOST_WS_URL"), *why;
	struct ad_url	 u;
	char		 probe[1200];

	if (ws == NULL) {
		snprintf(m->m_ws_url, sizeof(m->m_ws_url), "%s://%s%s/api/v4/"
		    "websocket", m->m_base.au_tls ? "wss" : "ws",
		    m->m_base.au_hosthdr, m->m_prefix);
		return (0);
	}
	/* ws[s]:// checked as the http[s]:// it upgrades from. */
	if (strncmp(ws, "ws://", 5) == 0 || strncmp(ws, "wss://", 6) == 0)
		snprintf(probe, sizeof(probe), "http%s", ws + 2);
	else
		probe[0] = '\0';
	if (probe[0] == '\0' || strlen(ws) >= sizeof(m->m_ws_url) - 200 ||
	    ad_url_parse(probe, &u, &why) != 0) {
		log_warnx("%s: MATTERMOST_WS_URL '%.200s' is not a ws:// or "
		    "wss:// URL", __func__, ws);
		return (-1);
	}
	snprintf(m->m_ws_url, sizeof(m->m_ws_url), "%s", ws);
	return (0);
}

static int
mm_init(struct ad *a)
{
	struct mm	*m = ad_arg(a);
	const char	*base;
	long long	 ping;
	size_t		 pl;

	m->m_ad = a;
	m->m_token = ad_conf("MATTERMOST_TOKEN");
	if (!mm_token_ok(m->m_token)) {
		log_warnx("%s: MATTERMOST_TOKEN is %s", __func__,
		    m->m_token == NULL ? "required" : "not a token "
		    "(printable ASCII without blanks)");
		return (-1);
	}
	log_add_secret(m->m_token);
	if ((base = ad_conf("MATTERMOST_SERVER_URL")) == NULL) {
		log_warnx("%s: MATTERMOST_SERVER_URL is required", __func__);
		return (-1);
	}
	if (ad_api_base(a, "MATTERMOST_SERVER_URL", base, &m->m_base,
	    &pl) != 0)
		return (-1);
	snprintf(m->m_prefix, sizeof(m->m_prefix), "%.*s", (int)pl,
	    m->m_base.au_path);
	if (mm_ws_url(m) != 0)
		return (-1);
	snprintf(m->m_auth, sizeof(m->m_auth), "Authorization: Bearer %s\r\n",
	    m->m_token);
	snprintf(m->m_authjson, sizeof(m->m_authjson), "%sContent-Type: "
	    "application/json\r\n", m->m_auth);
	if (ad_conf_num("MATTERMOST_PING_SECS", 1, 3600, &ping) != 0)
		return (-1);
	m->m_ping_every = (uint64_t)ping * 1000;
	m->m_ca_file = ad_conf("MATTERMOST_TLS_CA_FILE");
	if ((m->m_filter.mf_channels = ad_conf_list(
	    "MATTERMOST_ALLOWED_CHANNELS")) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	m->m_flags = ad_allow_loopback(a) ? AD_CONN_ALLOW_PRIVATE : 0;
	ad_http_init(&m->m_rest, a, &m->m_base, m->m_flags, m->m_ca_file,
	    MM_RESP_MAX);
	ad_http_init(&m->m_out, a, &m->m_base, m->m_flags, m->m_ca_file,
	    MM_RESP_MAX);
	ad_ws_init(&m->m_ws, a);
	ad_ws_set_headers(&m->m_ws, m->m_auth);
	log_info("mattermost: server at %s:%d%s%s, ping every %lld s",
	    m->m_base.au_host, m->m_base.au_port, m->m_prefix,
	    m->m_base.au_tls ? " (TLS)" : "", ping);
	return (0);
}

static const struct ad_def mm_def = {
	.ad_name = "mattermost",
	.ad_display_name = "Mattermost",
	.ad_description = "A Mattermost bot: WebSocket events in (channel "
	    "posts, DMs, threads), the REST API v4 out (posts, reactions), "
	    "typing.",
	.ad_env = "MATTERMOST",
	.ad_fields = mm_fields,
	.ad_capabilities = mm_caps,
	.ad_init = mm_init,
	.ad_connect = mm_connect,
	.ad_io = mm_io,
	.ad_tick = mm_tick,
	.ad_command = mm_command,
	.ad_stop = mm_stop,
};

int
main(int argc, char **argv)
{
	struct ad_url	none;
	struct mm	m;
	int		rv;

	memset(&m, 0, sizeof(m));
	memset(&none, 0, sizeof(none));
	m.m_tail = &m.m_head;
	/* Closed and harmless until mm_init() aims them at the server. */
	ad_http_init(&m.m_rest, NULL, &none, 0, NULL, 0);
	ad_http_init(&m.m_out, NULL, &none, 0, NULL, 0);
	ad_ws_init(&m.m_ws, NULL);
	rv = ad_main(&mm_def, &m, argc, argv);
	m.m_stopping = 1;
	ad_ws_abort(&m.m_ws);
	ad_http_close(&m.m_rest);
	ad_http_close(&m.m_out);
	while (m.m_head != NULL)
		mm_out_pop(&m);
	ad_list_free(m.m_filter.mf_channels);
	return (rv);
}
