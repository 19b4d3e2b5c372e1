/*
 * slack.c - channel-slack: a Slack app in Socket Mode with the Web API
 * (README.md), on the library's WebSocket and HTTP clients (ad_ws,
 * ad_http; no libcurl).
 *
 * The session: auth.test with the bot token (xoxb-: the token checked,
 * the bot's user id for mentions), then apps.connections.open with the
 * app-level token (xapp-) -> a WebSocket URL with a one-time ticket; the
 * WebSocket: `hello`, then envelopes, each ACKed at once by its
 * envelope_id ({"envelope_id": ...}, after its message event is
 * written).  Slack delivers an envelope again when it thinks the ACK
 * late (retry_attempt), and a mention comes as both `message` and
 * `app_mention`: each message goes out once (struct sl_seen).  A
 * `disconnect` (warning, refresh_requested) closes the connection and
 * opens a new one at once (a new apps.connections.open: a URL serves one
 * connection); link_disabled, a connection lost, a token refused are an
 * `error` event and the library's backoff, never a tight loop.
 *
 * Out: chat.postMessage (a text cut at 40,000 characters, & < >
 * escaped, thread_ts for a thread), reactions.add and .remove (a turn's
 * phases: one reaction at a time), on a second connection, one call at
 * a time and in order, each retried after a 429's Retry-After, after a
 * 5xx or a connection error with a doubling delay.  Slack answers most
 * errors 200 {"ok": false, "error": ...}: a token refused or any other
 * error is an `error` event naming it, not retried.  Slack has no
 * typing indicator for bots: `typing` is not a capability, and the
 * command is ignored.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ad_http.h"
#include "ad_ws.h"
#include "adapter.h"
#include "log.h"
#include "memtrim.h"
#include "slack.h"
#include "util.h"

#define SL_QUEUE_MAX		1000	/* Web API calls waiting */
#define SL_ATTEMPTS		8	/* tries of one call */
#define SL_RETRY_MS		1000	/* the first retry's delay, doubling */
#define SL_RETRY_MAX_MS		30000
#define SL_API_TIMEOUT_MS	30000
#define SL_HELLO_MS		10000	/* the WebSocket open, hello awaited */
#define SL_RESP_MAX		(1024 * 1024)	/* a Web API answer's body */
#define SL_WS_MAX		(4 * 1024 * 1024)	/* an envelope */
#define SL_REACTS		32	/* messages whose reaction we know */
/* Free heap worth giving back after a long send: the 2 MB PSS target is
 * what counts here (memtrim.h, as channel-webhook does). */
#define SL_TRIM_MIN		(128 * 1024)
#define SL_TRIM_AFTER		(64 * 1024)	/* a text this long */

enum sl_state {
	SL_DOWN = 0,		/* waiting for the library's reconnect */
	SL_AUTH,		/* auth.test asked */
	SL_URL,			/* apps.connections.open asked */
	SL_OPENING,		/* the WebSocket's handshake */
	SL_HELLO,		/* open, hello awaited */
	SL_READY,
};

/* A Web API call waiting to be made. */
struct sl_out {
	struct sl_out	*o_next;
	char		 o_api[32];		/* "chat.postMessage" */
	char		 o_path[1100];
	char		*o_body;		/* JSON */
	size_t		 o_len;
	int		 o_best_effort;	/* reactions: no error event, no
					   retry but a 429's */
	unsigned int	 o_attempts;
	uint64_t	 o_next_at;
};

/* Our reaction on a message, taken back when the next one comes. */
struct sl_react {
	char	r_key[80];	/* channel:ts */
	char	r_name[104];
};

struct sl {
	struct ad	*s_ad;
	/* configuration */
	const char	*s_app_token;
	const char	*s_bot_token;
	struct ad_url	 s_base;
	char		 s_prefix[1024];	/* the base's path, no "/" */
	char		 s_app_auth[400];	/* header lines */
	char		 s_bot_auth[400];
	char		 s_bot_json[450];
	const char	*s_ca_file;
	int		 s_flags;
	struct sl_filter s_filter;
	int		 s_unfurl;
	int		 s_flat;
	int		 s_reactions;
	/* the session */
	enum sl_state	 s_state;
	struct ad_http	 s_rest;	/* auth.test, apps.connections.open */
	struct ad_ws	 s_ws;
	struct sl_self	 s_self;
	int		 s_authed;	/* auth.test said ok */
	uint64_t	 s_hello_by;
	uint64_t	 s_reconnect_at;
	int		 s_again;	/* on close: reconnect at once */
	int		 s_stopping;
	uint64_t	 s_connections;
	uint64_t	 s_acks;
	uint64_t	 s_dups;
	struct sl_seen	 s_seen;
	/* the Web API calls */
	struct ad_http	 s_out;
	struct sl_out	*s_head;
	struct sl_out	**s_tail;
	size_t		 s_queued;
	int		 s_inflight;
	struct sl_react	 s_reacts[SL_REACTS];
	unsigned int	 s_react_next;
	uint64_t	 s_trim_at;	/* memtrim once the queue is empty */
};

static const struct ad_field sl_fields[] = {
	{ "SLACK_APP_TOKEN", "App-level token (Socket Mode, "
	    "connections:write)", AD_FIELD_SECRET, 1, "xapp-1-...", 0, NULL,
	    NULL },
	{ "SLACK_BOT_TOKEN", "Bot token (OAuth & Permissions)",
	    AD_FIELD_SECRET, 1, "xoxb-...", 0, NULL, NULL },
	{ "SLACK_ALLOWED_CHANNELS", "Allowed channels (ids; empty: all)",
	    AD_FIELD_LIST, 0, "C0123456789, D0123456789", 0, NULL, NULL },
	{ "SLACK_UNFURL_LINKS", "Unfurl links in replies", AD_FIELD_BOOL, 0,
	    NULL, 1, NULL, "0" },
	{ "SLACK_FORCE_FLAT_REPLIES", "Never reply in a thread",
	    AD_FIELD_BOOL, 0, NULL, 1, NULL, "0" },
	{ "SLACK_REACTIONS", "Show a turn's phases as reactions",
	    AD_FIELD_BOOL, 0, NULL, 1, NULL, "1" },
	{ "SLACK_API_BASE", "Web API base URL", AD_FIELD_TEXT, 0,
	    "https://slack.com/api", 1, NULL, "https://slack.com/api" },
	{ "SLACK_TLS_CA_FILE", "CA certificates (PEM file)", AD_FIELD_TEXT,
	    0, "/etc/ssl/certs/ca-certificates.crt", 1, NULL, NULL },
	{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
};

/* What is done (README.md): no typing (Slack has none for bots), no
 * buttons, no streaming. */
static const char *const sl_caps[] = { "reaction", "thread", NULL };

static void	sl_pump(struct sl *s);
static void	sl_arm(struct sl *s);
static void	sl_open_url(struct sl *s);

static const struct ad_ws_cb sl_ws_cb;

/* The platform is gone: the sockets closed, a call in flight goes again
 * later, and the library says why and reconnects after its backoff. */
static void
sl_down(struct sl *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sl_down(struct sl *s, const char *fmt, ...)
{
	va_list	ap;
	char	why[512];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ad_ws_abort(&s->s_ws);
	ad_http_close(&s->s_rest);
	ad_http_close(&s->s_out);
	if (s->s_inflight && s->s_head != NULL)
		s->s_head->o_next_at = util_now_ms() + SL_RETRY_MS;
	s->s_inflight = 0;
	s->s_state = SL_DOWN;
	s->s_hello_by = s->s_reconnect_at = 0;
	s->s_again = 0;
	ad_platform_down(s->s_ad, why);
}

/* An answer's "error" (or why there is none). */
static const char *
sl_api_error(const json_t *j, const struct ad_http_resp *r)
{
	const char	*e = json_string_value(json_object_get(j, "error"));

	if (e != NULL)
		return (e);
	if (r->ar_err != NULL)
		return (r->ar_err);
	return ("no error named");
}

/* ---- Socket Mode ----------------------------------------------------- */

static void
sl_ack(struct sl *s, const char *envelope_id)
{
	json_t	*j = json_pack("{s:s}", "envelope_id", envelope_id);
	char	*t = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	if (t == NULL || ad_ws_send(&s->s_ws, 0, t, strlen(t)) != 0)
		log_warnx("slack: could not ACK envelope %s", envelope_id);
	else
		s->s_acks++;
	free(t);
	json_decref(j);
}

static void
sl_envelope(struct sl *s, const json_t *j, const char *eid)
{
	const char	*type = json_string_value(json_object_get(j, "type"));
	const char	*skip;
	char		 key[SL_KEY_MAX];
	json_t		*ev;
	long long	 retry;

	retry = json_integer_value(json_object_get(j, "retry_attempt"));
	ev = sl_envelope_message(j, &s->s_self, &s->s_filter, key,
	    sizeof(key), &skip);
	if (ev == NULL)
		log_debug("slack: envelope %s (%s) skipped: %s", eid,
		    type != NULL ? type : "?", skip);
	else if (!sl_seen_add(&s->s_seen, key)) {
		s->s_dups++;
		log_info("slack: envelope %s (%s, retry %lld) delivers %s "
		    "again; not a new message", eid, type != NULL ? type :
		    "?", retry, key);
		json_decref(ev);
	} else
		ad_emit(s->s_ad, ev);
	/* Written first: a kill between the two leaves it unACKed, and
	 * Slack delivers it again (the channels service keeps one). */
	sl_ack(s, eid);
}

static void
sl_on_open(void *arg)
{
	struct sl	*s = arg;

	s->s_state = SL_HELLO;
	s->s_hello_by = util_now_ms() + SL_HELLO_MS;
	log_debug("slack: the WebSocket is open; hello awaited");
}

static void
sl_on_message(void *arg, int binary, const char *data, size_t n)
{
	struct sl	*s = arg;
	json_t		*j;
	const char	*type, *eid, *reason;

	j = binary ? NULL : json_loadb(data, n, 0, NULL);
	if (!json_is_object(j)) {
		log_warnx("slack: a Socket Mode message that is not a JSON "
		    "object; ignored");
		json_decref(j);
		return;
	}
	type = json_string_value(json_object_get(j, "type"));
	eid = json_string_value(json_object_get(j, "envelope_id"));
	if (eid != NULL)
		sl_envelope(s, j, eid);
	else if (type != NULL && strcmp(type, "hello") == 0) {
		s->s_state = SL_READY;
		s->s_hello_by = 0;
		s->s_connections++;
		log_info("slack: connected (hello; %lld connection%s)",
		    json_integer_value(json_object_get(j, "num_connections")),
		    json_integer_value(json_object_get(j,
		    "num_connections")) == 1 ? "" : "s");
		ad_platform_up(s->s_ad);
	} else if (type != NULL && strcmp(type, "disconnect") == 0) {
		reason = json_string_value(json_object_get(j, "reason"));
		if (reason != NULL && strcmp(reason, "link_disabled") == 0)
			sl_down(s, "Socket Mode is turned off for the app "
			    "(disconnect: link_disabled)");
		else {
			log_info("slack: disconnect (%s); reconnecting",
			    reason != NULL ? reason : "no reason");
			s->s_again = 1;
			s->s_hello_by = 0;
			ad_ws_close(&s->s_ws, AD_WS_CLOSE_NORMAL, "refresh");
		}
	} else
		log_debug("slack: a '%s' message ignored", type != NULL ?
		    type : "typeless");
	json_decref(j);
}

static void
sl_on_close(void *arg, int code, const char *reason)
{
	struct sl	*s = arg;

	s->s_hello_by = 0;
	if (s->s_stopping)
		return;
	if (s->s_again) {
		/* Ours, after a disconnect: a new URL at once. */
		s->s_again = 0;
		s->s_state = SL_URL;
		s->s_reconnect_at = util_now_ms();
		return;
	}
	sl_down(s, "the Socket Mode connection ended (%d: %s)", code, reason);
}

static const struct ad_ws_cb sl_ws_cb = {
	.on_open = sl_on_open,
	.on_message = sl_on_message,
	.on_close = sl_on_close,
};

static void
sl_on_url(void *arg, const struct ad_http_resp *r)
{
	struct sl	*s = arg;
	json_t		*j = ad_http_resp_json(r);
	const char	*url = json_string_value(json_object_get(j, "url"));
	const char	*e = sl_api_error(j, r);
	char		 err[256];

	if (r->ar_status < 0)
		sl_down(s, "apps.connections.open: %s", e);
	else if (r->ar_status == 429)
		sl_down(s, "apps.connections.open: rate limited (HTTP 429)");
	else if (r->ar_status != 200 || !json_is_object(j))
		sl_down(s, "apps.connections.open answered HTTP %d",
		    r->ar_status);
	else if (!json_is_true(json_object_get(j, "ok")) || url == NULL)
		sl_down(s, "apps.connections.open: %s%s", sl_error_do(e) ==
		    SL_ERR_AUTH ? "the app token (SLACK_APP_TOKEN) was "
		    "refused: " : "", e);
	else {
		log_debug("slack: the Socket Mode URL is here");
		s->s_state = SL_OPENING;
		if (ad_ws_open(&s->s_ws, url, s->s_flags, s->s_ca_file,
		    SL_WS_MAX, &sl_ws_cb, s, err, sizeof(err)) != 0)
			sl_down(s, "the Socket Mode URL: %s", err);
	}
	json_decref(j);
}

/* apps.connections.open: a new WebSocket URL (each serves one
 * connection). */
static void
sl_open_url(struct sl *s)
{
	char	path[1100];

	s->s_reconnect_at = 0;
	ad_ws_abort(&s->s_ws);
	snprintf(path, sizeof(path), "%s/apps.connections.open", s->s_prefix);
	if (ad_http_request(&s->s_rest, "POST", path, s->s_app_auth, NULL, 0,
	    SL_API_TIMEOUT_MS, sl_on_url, s) != 0) {
		sl_down(s, "could not ask apps.connections.open");
		return;
	}
	s->s_state = SL_URL;
}

static void
sl_on_auth(void *arg, const struct ad_http_resp *r)
{
	struct sl	*s = arg;
	json_t		*j = ad_http_resp_json(r);
	const char	*e = sl_api_error(j, r);
	const char	*uid, *bid, *tid, *user;

	uid = json_string_value(json_object_get(j, "user_id"));
	bid = json_string_value(json_object_get(j, "bot_id"));
	tid = json_string_value(json_object_get(j, "team_id"));
	user = json_string_value(json_object_get(j, "user"));
	if (r->ar_status < 0)
		sl_down(s, "auth.test: %s", e);
	else if (r->ar_status == 429)
		sl_down(s, "auth.test: rate limited (HTTP 429)");
	else if (r->ar_status != 200 || !json_is_object(j))
		sl_down(s, "auth.test answered HTTP %d", r->ar_status);
	else if (!json_is_true(json_object_get(j, "ok")) || uid == NULL)
		sl_down(s, "auth.test: %s%s", sl_error_do(e) == SL_ERR_AUTH ?
		    "the bot token (SLACK_BOT_TOKEN) was refused: " : "", e);
	else {
		snprintf(s->s_self.ss_user_id, sizeof(s->s_self.ss_user_id),
		    "%s", uid);
		snprintf(s->s_self.ss_bot_id, sizeof(s->s_self.ss_bot_id),
		    "%s", bid != NULL ? bid : "");
		snprintf(s->s_self.ss_team_id, sizeof(s->s_self.ss_team_id),
		    "%s", tid != NULL ? tid : "");
		s->s_authed = 1;
		log_info("slack: the bot is %s (user %s, team %s)",
		    user != NULL ? user : "?", uid, tid != NULL ? tid : "?");
		sl_open_url(s);
	}
	json_decref(j);
}

/* ---- the Web API calls ----------------------------------------------- */

/* Queues a call of api with body (stolen).  0, or -1 (full, or out of
 * memory; an `error` event unless best effort). */
static int
sl_enqueue(struct sl *s, const char *api, json_t *body, int best_effort)
{
	struct sl_out	*o = NULL;
	char		*t = NULL;

	if (s->s_queued >= SL_QUEUE_MAX) {
		if (!best_effort)
			ad_error(s->s_ad, "slack: %zu calls wait already; "
			    "one is dropped", s->s_queued);
		goto fail;
	}
	if (body == NULL || (t = json_dumps(body, JSON_COMPACT)) == NULL ||
	    (o = calloc(1, sizeof(*o))) == NULL) {
		if (!best_effort)
			ad_error(s->s_ad, "slack: out of memory; a call is "
			    "dropped");
		goto fail;
	}
	snprintf(o->o_api, sizeof(o->o_api), "%s", api);
	snprintf(o->o_path, sizeof(o->o_path), "%s/%s", s->s_prefix, api);
	o->o_body = t;
	o->o_len = strlen(t);
	o->o_best_effort = best_effort;
	*s->s_tail = o;
	s->s_tail = &o->o_next;
	s->s_queued++;
	json_decref(body);
	return (0);
 fail:
	free(t);
	free(o);
	json_decref(body);
	return (-1);
}

static void
sl_out_pop(struct sl *s)
{
	struct sl_out	*o = s->s_head;

	s->s_head = o->o_next;
	if (s->s_head == NULL)
		s->s_tail = &s->s_head;
	s->s_queued--;
	free(o->o_body);
	free(o);
}

static void
sl_on_sent(void *arg, const struct ad_http_resp *r)
{
	struct sl	*s = arg;
	struct sl_out	*o = s->s_head;
	json_t		*j;
	const char	*err;
	enum sl_err_do	 what;
	uint64_t	 delay;
	unsigned int	 i;
	int		 okay;

	s->s_inflight = 0;
	if (o == NULL)
		return;
	o->o_attempts++;
	j = ad_http_resp_json(r);
	okay = json_is_true(json_object_get(j, "ok"));
	err = json_string_value(json_object_get(j, "error"));
	what = sl_error_do(err);
	if (r->ar_err == NULL && r->ar_status == 200 && okay) {
		log_debug("slack: %s done (attempt %u)", o->o_api,
		    o->o_attempts);
		sl_out_pop(s);
	} else if ((r->ar_status == 429 || what == SL_ERR_RATE) &&
	    o->o_attempts < SL_ATTEMPTS) {
		delay = r->ar_retry_after > 0 && r->ar_retry_after <= 3600 ?
		    (uint64_t)r->ar_retry_after * 1000 : SL_RETRY_MS;
		log_warnx("slack: %s: rate limited; again in %llu ms",
		    o->o_api, (unsigned long long)delay);
		o->o_next_at = util_now_ms() + delay;
	} else if ((r->ar_status < 0 || r->ar_status >= 500 ||
	    (err != NULL && what == SL_ERR_RETRY)) && !o->o_best_effort &&
	    o->o_attempts < SL_ATTEMPTS) {
		delay = SL_RETRY_MS;
		for (i = 1; i < o->o_attempts && delay < SL_RETRY_MAX_MS; i++)
			delay *= 2;
		if (delay > SL_RETRY_MAX_MS)
			delay = SL_RETRY_MAX_MS;
		log_warnx("slack: %s failed (HTTP %d: %s); attempt %u in "
		    "%llu ms", o->o_api, r->ar_status, sl_api_error(j, r),
		    o->o_attempts + 1, (unsigned long long)delay);
		o->o_next_at = util_now_ms() + delay;
	} else {
		if (err != NULL && what == SL_ERR_HARMLESS)
			log_debug("slack: %s: %s", o->o_api, err);
		else if (o->o_best_effort)
			log_info("slack: %s failed (HTTP %d: %s); not "
			    "retried", o->o_api, r->ar_status,
			    sl_api_error(j, r));
		else if (err != NULL && what == SL_ERR_AUTH)
			ad_error(s->s_ad, "slack: %s: the bot token was "
			    "refused (%s)", o->o_api, err);
		else if (err != NULL)
			ad_error(s->s_ad, "slack: %s failed: %s (HTTP %d)",
			    o->o_api, err, r->ar_status);
		else
			ad_error(s->s_ad, "slack: %s failed after %u "
			    "attempt%s: HTTP %d: %s", o->o_api, o->o_attempts,
			    o->o_attempts == 1 ? "" : "s", r->ar_status,
			    sl_api_error(j, r));
		sl_out_pop(s);
	}
	json_decref(j);
	sl_pump(s);
}

static void
sl_pump(struct sl *s)
{
	struct sl_out	*o;

	while (!s->s_inflight && (o = s->s_head) != NULL &&
	    util_now_ms() >= o->o_next_at) {
		if (ad_http_request(&s->s_out, "POST", o->o_path,
		    s->s_bot_json, o->o_body, o->o_len, SL_API_TIMEOUT_MS,
		    sl_on_sent, s) != 0) {
			ad_error(s->s_ad, "slack: out of memory; a call is "
			    "dropped");
			sl_out_pop(s);
			continue;
		}
		s->s_inflight = 1;
	}
}

static void
sl_cmd_send(struct sl *s, const struct ad_cmd *c)
{
	const char	*text = c->ac_text, *thread = NULL;
	char		*piece;
	size_t		 n = strlen(text), k, parts = 0, i;
	int		 blank;
	json_t		*body;

	if (!sl_id_ok(c->ac_channel_id)) {
		ad_error(s->s_ad, "slack: a send to '%.64s' is not to a "
		    "channel id; dropped", c->ac_channel_id);
		return;
	}
	if (c->ac_thread_id != NULL && !s->s_flat) {
		if (sl_ts_ok(c->ac_thread_id))
			thread = c->ac_thread_id;
		else
			log_info("slack: thread '%.64s' is not a ts; the "
			    "reply goes to the channel", c->ac_thread_id);
	}
	while (n > 0) {
		k = sl_text_cut(text, n, SL_TEXT_LIMIT);
		for (blank = 1, i = 0; i < k && blank; i++)
			blank = text[i] == ' ' || text[i] == '\n' ||
			    text[i] == '\t' || text[i] == '\r';
		if (!blank) {
			if ((piece = sl_escape(text, k)) == NULL ||
			    (body = json_pack("{s:s, s:s, s:b, s:b}",
			    "channel", c->ac_channel_id, "text", piece,
			    "unfurl_links", s->s_unfurl, "unfurl_media",
			    s->s_unfurl)) == NULL)
				ad_error(s->s_ad, "slack: out of memory (or "
				    "text not UTF-8); a part is dropped");
			else {
				if (thread != NULL)
					json_object_set_new(body, "thread_ts",
					    json_string(thread));
				sl_enqueue(s, "chat.postMessage", body, 0);
			}
			free(piece);
			parts++;
		}
		text += k;
		n -= k;
	}
	if (strlen(c->ac_text) > SL_TRIM_AFTER && s->s_trim_at == 0)
		s->s_trim_at = util_now_ms() + MEMTRIM_PERIOD_MS + 50;
	if (parts == 0)
		log_info("slack: an empty send to %s dropped",
		    c->ac_channel_id);
	else if (parts > 1)
		log_info("slack: a text of %zu bytes goes as %zu messages",
		    strlen(c->ac_text), parts);
}

static void
sl_cmd_reaction(struct sl *s, const struct ad_cmd *c)
{
	char		name[104], key[80];
	unsigned int	i;

	if (!s->s_reactions)
		return;
	if (!sl_id_ok(c->ac_channel_id) || !sl_ts_ok(c->ac_message_id) ||
	    sl_emoji_name(c->ac_reaction, name, sizeof(name)) != 0) {
		log_debug("slack: a reaction on '%.64s' in '%.64s': not a "
		    "message of Slack's, or an emoji without a Slack name",
		    c->ac_message_id, c->ac_channel_id);
		return;
	}
	snprintf(key, sizeof(key), "%s:%s", c->ac_channel_id,
	    c->ac_message_id);
	for (i = 0; i < SL_REACTS; i++)
		if (strcmp(s->s_reacts[i].r_key, key) == 0)
			break;
	if (i < SL_REACTS && strcmp(s->s_reacts[i].r_name, name) == 0)
		return;		/* there already */
	if (i < SL_REACTS)
		sl_enqueue(s, "reactions.remove", json_pack("{s:s, s:s, s:s}",
		    "channel", c->ac_channel_id, "timestamp",
		    c->ac_message_id, "name", s->s_reacts[i].r_name), 1);
	else {
		i = s->s_react_next++ % SL_REACTS;
		snprintf(s->s_reacts[i].r_key, sizeof(s->s_reacts[i].r_key),
		    "%s", key);
	}
	snprintf(s->s_reacts[i].r_name, sizeof(s->s_reacts[i].r_name), "%s",
	    name);
	sl_enqueue(s, "reactions.add", json_pack("{s:s, s:s, s:s}", "channel",
	    c->ac_channel_id, "timestamp", c->ac_message_id, "name", name), 1);
}

/* ---- the adapter's callbacks ----------------------------------------- */

static void
sl_arm(struct sl *s)
{
	uint64_t	at = 0, v[7];
	int		i;

	v[0] = ad_http_deadline(&s->s_rest);
	v[1] = ad_http_deadline(&s->s_out);
	v[2] = ad_ws_deadline(&s->s_ws);
	v[3] = s->s_hello_by;
	v[4] = s->s_reconnect_at;
	v[5] = !s->s_inflight && s->s_head != NULL ?
	    (s->s_head->o_next_at ? s->s_head->o_next_at : 1) : 0;
	v[6] = s->s_trim_at;
	for (i = 0; i < 7; i++)
		if (v[i] != 0 && (at == 0 || v[i] < at))
			at = v[i];
	ad_timer(s->s_ad, at);
}

static int
sl_connect(struct ad *a)
{
	struct sl	*s = ad_arg(a);
	char		 path[1100];

	ad_ws_abort(&s->s_ws);
	ad_http_close(&s->s_rest);
	if (s->s_authed) {
		sl_open_url(s);
		sl_arm(s);
		return (0);
	}
	snprintf(path, sizeof(path), "%s/auth.test", s->s_prefix);
	if (ad_http_request(&s->s_rest, "POST", path, s->s_bot_auth, NULL, 0,
	    SL_API_TIMEOUT_MS, sl_on_auth, s) != 0) {
		ad_error(a, "slack: could not ask auth.test");
		return (-1);
	}
	s->s_state = SL_AUTH;
	sl_arm(s);
	return (0);
}

static void
sl_io(struct ad *a, int fd, int revents)
{
	struct sl	*s = ad_arg(a);

	if (ad_ws_owns(&s->s_ws, fd))
		ad_ws_io(&s->s_ws, revents);
	else if (ad_http_owns(&s->s_rest, fd))
		ad_http_io(&s->s_rest, revents);
	else if (ad_http_owns(&s->s_out, fd))
		ad_http_io(&s->s_out, revents);
	sl_pump(s);
	sl_arm(s);
}

static void
sl_tick(struct ad *a)
{
	struct sl	*s = ad_arg(a);
	uint64_t	 now;

	ad_http_tick(&s->s_rest);
	ad_http_tick(&s->s_out);
	ad_ws_tick(&s->s_ws);
	now = util_now_ms();
	if (s->s_reconnect_at != 0 && now >= s->s_reconnect_at)
		sl_open_url(s);
	if (s->s_hello_by != 0 && now >= s->s_hello_by)
		sl_down(s, "no hello within %d s of the WebSocket's opening",
		    SL_HELLO_MS / 1000);
	if (s->s_trim_at != 0 && now >= s->s_trim_at) {
		/* What a long send's parts took goes back once they are
		 * sent (at most once a second: the timer comes back). */
		if (s->s_queued == 0) {
			memtrim_tick(now, SL_TRIM_MIN);
			s->s_trim_at = 0;
		} else
			s->s_trim_at = now + MEMTRIM_PERIOD_MS;
	}
	sl_pump(s);
	sl_arm(s);
}

static void
sl_command(struct ad *a, const struct ad_cmd *c)
{
	struct sl	*s = ad_arg(a);

	switch (c->ac_type) {
	case AD_CMD_SEND:
		sl_cmd_send(s, c);
		break;
	case AD_CMD_REACTION:
		sl_cmd_reaction(s, c);
		break;
	case AD_CMD_TYPING:
		/* Slack has no typing indicator for bots (not declared). */
		log_debug("slack: typing in %s: Slack has none for bots",
		    c->ac_channel_id);
		break;
	default:
		log_debug("slack: '%s' ignored", c->ac_method);
		break;
	}
	sl_pump(s);
	sl_arm(s);
}

static void
sl_stop(struct ad *a)
{
	struct sl	*s = ad_arg(a);

	s->s_stopping = 1;
	if (ad_ws_is_open(&s->s_ws)) {
		ad_ws_close(&s->s_ws, AD_WS_CLOSE_NORMAL, "shutdown");
		ad_conn_flush(&s->s_ws.ws_conn);
	}
	ad_ws_abort(&s->s_ws);
	ad_http_close(&s->s_rest);
	ad_http_close(&s->s_out);
	if (s->s_queued > 0)
		log_warnx("slack: %zu calls not made at exit", s->s_queued);
	while (s->s_head != NULL)
		sl_out_pop(s);
	log_info("slack: %llu connection%s, %llu envelopes ACKed, %llu "
	    "delivered again", (unsigned long long)s->s_connections,
	    s->s_connections == 1 ? "" : "s",
	    (unsigned long long)s->s_acks, (unsigned long long)s->s_dups);
}

static int
sl_init(struct ad *a)
{
	struct sl	*s = ad_arg(a);
	const char	*base;
	size_t		 pl;

	s->s_ad = a;
	s->s_app_token = ad_conf("SLACK_APP_TOKEN");
	s->s_bot_token = ad_conf("SLACK_BOT_TOKEN");
	if (!sl_token_ok(s->s_app_token, "xapp-")) {
		log_warnx("%s: SLACK_APP_TOKEN is %s", __func__,
		    s->s_app_token == NULL ? "required" : "not an app-level "
		    "token (xapp-..., printable ASCII without blanks)");
		return (-1);
	}
	if (!sl_token_ok(s->s_bot_token, "xoxb-")) {
		log_warnx("%s: SLACK_BOT_TOKEN is %s", __func__,
		    s->s_bot_token == NULL ? "required" : "not a bot token "
		    "(xoxb-..., printable ASCII without blanks)");
		return (-1);
	}
	log_add_secret(s->s_app_token);
	log_add_secret(s->s_bot_token);
	base = ad_conf("SLACK_API_BASE");
	if (ad_api_base(a, "SLACK_API_BASE", base, &s->s_base, &pl) != 0)
		return (-1);
	snprintf(s->s_prefix, sizeof(s->s_prefix), "%.*s", (int)pl,
	    s->s_base.au_path);
	snprintf(s->s_app_auth, sizeof(s->s_app_auth), "Authorization: "
	    "Bearer %s\r\nContent-Type: application/x-www-form-urlencoded"
	    "\r\n", s->s_app_token);
	snprintf(s->s_bot_auth, sizeof(s->s_bot_auth), "Authorization: "
	    "Bearer %s\r\nContent-Type: application/x-www-form-urlencoded"
	    "\r\n", s->s_bot_token);
	snprintf(s->s_bot_json, sizeof(s->s_bot_json), "Authorization: "
	    "Bearer %s\r\nContent-Type: application/json; charset=utf-8\r\n",
	    s->s_bot_token);
	s->s_unfurl = ad_conf_bool("SLACK_UNFURL_LINKS");
	s->s_flat = ad_conf_bool("SLACK_FORCE_FLAT_REPLIES");
	s->s_reactions = ad_conf_bool("SLACK_REACTIONS");
	s->s_ca_file = ad_conf("SLACK_TLS_CA_FILE");
	if ((s->s_filter.sf_channels = ad_conf_list("SLACK_ALLOWED_CHANNELS"))
	    == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	s->s_flags = ad_allow_loopback(a) ? AD_CONN_ALLOW_PRIVATE : 0;
	ad_http_init(&s->s_rest, a, &s->s_base, s->s_flags, s->s_ca_file,
	    SL_RESP_MAX);
	ad_http_init(&s->s_out, a, &s->s_base, s->s_flags, s->s_ca_file,
	    SL_RESP_MAX);
	ad_ws_init(&s->s_ws, a);
	log_info("slack: Web API at %s:%d%s%s", s->s_base.au_host,
	    s->s_base.au_port, s->s_prefix, s->s_base.au_tls ? " (TLS)" : "");
	return (0);
}

static const struct ad_def sl_def = {
	.ad_name = "slack",
	.ad_display_name = "Slack",
	.ad_description = "A Slack app: Socket Mode events in (messages, "
	    "mentions, threads, slash commands), the Web API out (messages, "
	    "thread replies, reactions).",
	.ad_env = "SLACK",
	.ad_fields = sl_fields,
	.ad_capabilities = sl_caps,
	.ad_init = sl_init,
	.ad_connect = sl_connect,
	.ad_io = sl_io,
	.ad_tick = sl_tick,
	.ad_command = sl_command,
	.ad_stop = sl_stop,
};

int
main(int argc, char **argv)
{
	struct ad_url	 none;
	struct sl	*s;
	int		 rv;

	/* The seen keys make it large for a stack. */
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		fprintf(stderr, "channel-slack: out of memory\n");
		return (1);
	}
	memtrim_init();
	memset(&none, 0, sizeof(none));
	s->s_tail = &s->s_head;
	/* Closed and harmless until sl_init() aims them at the API. */
	ad_http_init(&s->s_rest, NULL, &none, 0, NULL, 0);
	ad_http_init(&s->s_out, NULL, &none, 0, NULL, 0);
	ad_ws_init(&s->s_ws, NULL);
	rv = ad_main(&sl_def, s, argc, argv);
	s->s_stopping = 1;
	ad_ws_abort(&s->s_ws);
	ad_http_close(&s->s_rest);
	ad_http_close(&s->s_out);
	while (s->s_head != NULL)
		sl_out_pop(s);
	ad_list_free(s->s_filter.sf_channels);
	free(s);
	return (rv);
}
