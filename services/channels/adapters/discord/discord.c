/*
 * discord.c - channel-discord: a Discord bot over Gateway v10 and the
 * REST API (README.md), on the library's WebSocket and HTTP clients
 * (ad_ws, ad_http; no libcurl).
 *
 * The session: GET /gateway/bot (the token checked, the Gateway's URL),
 * then the WebSocket: HELLO, a heartbeat every heartbeat_interval (the
 * first after a random part of it), each to be ACKed before the next
 * (else the connection is a zombie: closed and resumed), IDENTIFY ->
 * READY (session_id, resume_gateway_url), dispatches counted by their
 * sequence number.  A connection lost, op 7 RECONNECT and op 9
 * INVALID_SESSION (resumable) reconnect to resume_gateway_url and RESUME
 * with the last sequence; op 9 not resumable, close 4007 and 4009 start
 * a new session; 4004 (the token refused) and 4010-4014 (configuration)
 * are an `error` event and the library's backoff, never a tight loop.
 *
 * MESSAGE_CREATE from others are `message` events.  The REST calls (a
 * message cut at 2000 characters, typing, reactions) go on a second
 * connection, one at a time and in order, each retried after a 429's
 * retry_after, and after a 5xx or a connection error with a doubling
 * delay.
 */
#include <sys/random.h>

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
#include "discord.h"
#include "log.h"
#include "util.h"

#define DC_QUEUE_MAX		1000	/* REST calls waiting */
#define DC_ATTEMPTS		8	/* tries of one call */
#define DC_RETRY_MS		1000	/* the first retry's delay, doubling */
#define DC_RETRY_MAX_MS		30000
#define DC_REST_TIMEOUT_MS	30000
#define DC_RESP_MAX		(1024 * 1024)	/* a REST answer's body */
#define DC_WS_MAX		(8 * 1024 * 1024)	/* a Gateway payload */
#define DC_HB_MIN_MS		100	/* a heartbeat_interval's floor */
#define DC_REACTS		32	/* messages whose reaction we know */

enum dc_state {
	DC_DOWN = 0,		/* waiting for the library's reconnect */
	DC_GATEWAY,		/* GET /gateway/bot asked */
	DC_OPENING,		/* the WebSocket's handshake */
	DC_HELLO,		/* open, HELLO awaited */
	DC_IDENTIFYING,		/* IDENTIFY sent, READY awaited */
	DC_RESUMING,		/* RESUME sent, RESUMED awaited */
	DC_READY,
};

/* A REST call waiting to be made. */
struct dc_out {
	struct dc_out	*o_next;
	char		 o_method[8];
	char		 o_path[1600];
	char		*o_body;		/* JSON, or NULL */
	size_t		 o_len;
	int		 o_best_effort;	/* typing, reactions: no error event,
					   no retry but a 429's */
	unsigned int	 o_attempts;
	uint64_t	 o_next_at;
};

/* Our reaction on a message, to take back when the next one comes (a
 * turn's phases: one reaction at a time, as on Telegram). */
struct dc_react {
	char	r_mid[24];
	char	r_emoji[256];	/* percent-encoded */
};

struct dc {
	struct ad	*d_ad;
	/* configuration */
	const char	*d_token;
	struct ad_url	 d_base;
	char		 d_prefix[1024];	/* the base's path, no "/" */
	char		 d_auth[300];		/* the header lines */
	char		 d_authjson[340];
	long long	 d_intents;
	const char	*d_ca_file;
	int		 d_flags;
	struct dc_filter d_filter;
	/* the session */
	enum dc_state	 d_state;
	struct ad_http	 d_rest;		/* GET /gateway/bot */
	struct ad_ws	 d_ws;
	char		 d_gw_url[512];
	char		 d_resume_url[512];
	char		 d_session[128];
	long long	 d_seq;			/* -1: none yet */
	struct dc_self	 d_self;
	uint64_t	 d_hb_every;
	uint64_t	 d_hb_at;
	int		 d_acked;
	uint64_t	 d_identify_at;		/* op 9: IDENTIFY then */
	int		 d_again;		/* on close: reconnect at once */
	uint64_t	 d_reconnect_at;
	int		 d_stopping;
	uint64_t	 d_resumes;
	uint64_t	 d_identifies;
	/* the REST calls */
	struct ad_http	 d_out;
	struct dc_out	*d_head;
	struct dc_out	**d_tail;
	size_t		 d_queued;
	int		 d_inflight;
	struct dc_react	 d_reacts[DC_REACTS];
	unsigned int	 d_react_next;
};

static const struct ad_field dc_fields[] = {
	{ "DISCORD_BOT_TOKEN", "Bot token (Developer Portal, Bot)",
	    AD_FIELD_SECRET, 1, "MTA...", 0, NULL, NULL },
	{ "DISCORD_ALLOWED_GUILDS", "Allowed servers (guild ids; empty: all)",
	    AD_FIELD_LIST, 0, "123456789012345678", 0, NULL, NULL },
	{ "DISCORD_ALLOWED_USERS", "Allowed users (ids or usernames; empty: "
	    "all)", AD_FIELD_LIST, 0, "123456789012345678, alice", 0, NULL,
	    NULL },
	{ "DISCORD_INTENTS", "Gateway intents (bit mask)", AD_FIELD_NUMBER, 0,
	    "37377", 1, NULL, "37377" },
	{ "DISCORD_IGNORE_BOTS", "Ignore other bots' messages", AD_FIELD_BOOL,
	    0, NULL, 1, NULL, "1" },
	{ "DISCORD_MENTION_PATTERNS", "Words that count as a mention",
	    AD_FIELD_LIST, 0, "fang, librefang", 1, NULL, NULL },
	{ "DISCORD_API_BASE", "REST API base URL", AD_FIELD_TEXT, 0,
	    "https://discord.com/api/v10", 1, NULL,
	    "https://discord.com/api/v10" },
	{ "DISCORD_TLS_CA_FILE", "CA certificates (PEM file)", AD_FIELD_TEXT,
	    0, "/etc/ssl/certs/ca-certificates.crt", 1, NULL, NULL },
	{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
};

/* What is done (README.md): no threads, no buttons, no streaming. */
static const char *const dc_caps[] = { "typing", "reaction", NULL };

static void	dc_open_ws(struct dc *d);
static void	dc_pump(struct dc *d);
static void	dc_arm(struct dc *d);

static const struct ad_ws_cb dc_ws_cb;

/* A random delay in [0, max) ms. */
static uint64_t
dc_jitter(uint64_t max)
{
	uint32_t	r;

	if (max == 0 || getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return (0);
	return ((uint64_t)r % max);
}

static void
dc_forget_session(struct dc *d)
{
	d->d_session[0] = '\0';
	d->d_resume_url[0] = '\0';
	d->d_seq = -1;
}

/* The platform is gone: the sockets closed (the library unwatches every
 * fd), a call in flight goes again later, and the library says why and
 * reconnects after its backoff.  The session is kept for a RESUME. */
static void
dc_down(struct dc *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
dc_down(struct dc *d, const char *fmt, ...)
{
	va_list	ap;
	char	why[512];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ad_ws_abort(&d->d_ws);
	ad_http_close(&d->d_rest);
	ad_http_close(&d->d_out);
	if (d->d_inflight && d->d_head != NULL)
		d->d_head->o_next_at = util_now_ms() + DC_RETRY_MS;
	d->d_inflight = 0;
	d->d_state = DC_DOWN;
	d->d_hb_at = d->d_identify_at = d->d_reconnect_at = 0;
	d->d_again = 0;
	ad_platform_down(d->d_ad, why);
}

/* ---- the Gateway ------------------------------------------------------- */

static void
dc_ws_send(struct dc *d, char *payload, const char *what)
{
	if (payload == NULL || ad_ws_send(&d->d_ws, 0, payload,
	    strlen(payload)) != 0)
		log_warnx("discord: could not send %s", what);
	free(payload);
}

static void
dc_heartbeat_now(struct dc *d)
{
	dc_ws_send(d, dc_heartbeat(d->d_seq), "a heartbeat");
	d->d_acked = 0;
	d->d_hb_at = util_now_ms() + d->d_hb_every;
}

static void
dc_identify_now(struct dc *d)
{
	d->d_identify_at = 0;
	d->d_identifies++;
	log_info("discord: IDENTIFY (intents %lld)", d->d_intents);
	dc_ws_send(d, dc_identify(d->d_token, d->d_intents), "IDENTIFY");
	d->d_state = DC_IDENTIFYING;
}

/* Closes the connection to come back at once (op 7, op 9 resumable, a
 * missed ACK): not 1000 or 1001, so the session stays resumable. */
static void
dc_reconnect_soon(struct dc *d, const char *why)
{
	log_info("discord: %s; reconnecting%s", why, d->d_session[0] ?
	    " to resume" : "");
	d->d_again = 1;
	d->d_hb_at = 0;
	ad_ws_close(&d->d_ws, 4000, why);
}

static void
dc_on_ready(struct dc *d, const json_t *data)
{
	const json_t	*user = json_object_get(data, "user");
	const char	*sid, *rurl, *uid, *un;

	sid = json_string_value(json_object_get(data, "session_id"));
	rurl = json_string_value(json_object_get(data, "resume_gateway_url"));
	uid = json_string_value(json_object_get(user, "id"));
	un = json_string_value(json_object_get(user, "username"));
	if (sid == NULL || uid == NULL) {
		dc_down(d, "READY without session_id or user id");
		return;
	}
	snprintf(d->d_session, sizeof(d->d_session), "%s", sid);
	snprintf(d->d_resume_url, sizeof(d->d_resume_url), "%s",
	    rurl != NULL ? rurl : d->d_gw_url);
	snprintf(d->d_self.ds_id, sizeof(d->d_self.ds_id), "%s", uid);
	snprintf(d->d_self.ds_username, sizeof(d->d_self.ds_username), "%s",
	    un != NULL ? un : "");
	d->d_state = DC_READY;
	log_info("discord: READY as %s (id %s)", d->d_self.ds_username,
	    d->d_self.ds_id);
	ad_platform_up(d->d_ad);
}

static void
dc_dispatch(struct dc *d, const char *t, const json_t *data)
{
	const char	*skip;
	json_t		*ev;

	if (t == NULL)
		return;
	if (strcmp(t, "READY") == 0)
		dc_on_ready(d, data);
	else if (strcmp(t, "RESUMED") == 0) {
		d->d_state = DC_READY;
		d->d_resumes++;
		log_info("discord: RESUMED at sequence %lld", d->d_seq);
		ad_platform_up(d->d_ad);
	} else if (strcmp(t, "MESSAGE_CREATE") == 0) {
		if ((ev = dc_message_event(data, &d->d_self, &d->d_filter,
		    &skip)) == NULL)
			log_debug("discord: a message skipped: %s", skip);
		else
			ad_emit(d->d_ad, ev);
	}
}

static void
dc_on_open(void *arg)
{
	struct dc	*d = arg;

	d->d_state = DC_HELLO;
	log_debug("discord: the Gateway is open; HELLO awaited");
}

static void
dc_on_message(void *arg, int binary, const char *data, size_t n)
{
	struct dc	*d = arg;
	json_t		*j, *s, *dd;
	long long	 op;
	double		 every;

	j = binary ? NULL : json_loadb(data, n, 0, NULL);
	if (!json_is_integer(json_object_get(j, "op"))) {
		log_warnx("discord: a Gateway payload that is not JSON with "
		    "an op; ignored");
		json_decref(j);
		return;
	}
	op = json_integer_value(json_object_get(j, "op"));
	dd = json_object_get(j, "d");
	if (json_is_integer(s = json_object_get(j, "s")))
		d->d_seq = json_integer_value(s);
	switch (op) {
	case DC_OP_HELLO:
		every = json_number_value(json_object_get(dd,
		    "heartbeat_interval"));
		if (every < DC_HB_MIN_MS || every > 600000) {
			dc_down(d, "HELLO with a heartbeat_interval of %.0f "
			    "ms", every);
			break;
		}
		d->d_hb_every = (uint64_t)every;
		d->d_acked = 1;
		/* The first after a random part of it (so that a crowd
		 * of clients does not beat in step). */
		d->d_hb_at = util_now_ms() + dc_jitter(d->d_hb_every);
		if (d->d_session[0] != '\0') {
			log_info("discord: RESUME of session at sequence "
			    "%lld", d->d_seq);
			dc_ws_send(d, dc_resume(d->d_token, d->d_session,
			    d->d_seq), "RESUME");
			d->d_state = DC_RESUMING;
		} else
			dc_identify_now(d);
		break;
	case DC_OP_HEARTBEAT:
		dc_heartbeat_now(d);
		break;
	case DC_OP_HEARTBEAT_ACK:
		d->d_acked = 1;
		break;
	case DC_OP_DISPATCH:
		dc_dispatch(d, json_string_value(json_object_get(j, "t")), dd);
		break;
	case DC_OP_RECONNECT:
		dc_reconnect_soon(d, "the Gateway asked for a reconnect "
		    "(op 7)");
		break;
	case DC_OP_INVALID_SESSION:
		if (json_is_true(dd) && d->d_session[0] != '\0') {
			dc_reconnect_soon(d, "the session is invalid, "
			    "resumable (op 9)");
			break;
		}
		/* A new session, after 1-2 s (Discord: a random 1-5). */
		log_info("discord: the session is invalid (op 9); a new "
		    "IDENTIFY follows");
		dc_forget_session(d);
		d->d_identify_at = util_now_ms() + 1000 + dc_jitter(1000);
		break;
	default:
		log_debug("discord: op %lld ignored", op);
		break;
	}
	json_decref(j);
}

static void
dc_on_close(void *arg, int code, const char *reason)
{
	struct dc	*d = arg;
	const char	*name = dc_close_name(code);

	d->d_hb_at = d->d_identify_at = 0;
	if (d->d_stopping)
		return;
	if (d->d_again && dc_close_do(code) == DC_CLOSE_RESUME) {
		/* Ours, to come back at once. */
		d->d_again = 0;
		d->d_state = DC_OPENING;
		d->d_reconnect_at = util_now_ms();
		return;
	}
	d->d_again = 0;
	switch (dc_close_do(code)) {
	case DC_CLOSE_FATAL:
		/* /gateway/bot asked again: it says 401 to a bad token. */
		dc_forget_session(d);
		d->d_gw_url[0] = '\0';
		dc_down(d, "the Gateway closed with %d (%s)", code,
		    name != NULL ? name : reason);
		break;
	case DC_CLOSE_IDENTIFY:
		dc_forget_session(d);
		dc_down(d, "the Gateway closed with %d (%s); a new session "
		    "follows", code, name != NULL ? name : reason);
		break;
	default:
		dc_down(d, "the Gateway connection ended (%d: %s)", code,
		    name != NULL ? name : reason);
		break;
	}
}

static const struct ad_ws_cb dc_ws_cb = {
	.on_open = dc_on_open,
	.on_message = dc_on_message,
	.on_close = dc_on_close,
};

/* Opens the WebSocket: to resume_gateway_url with a session, else to
 * the URL /gateway/bot gave. */
static void
dc_open_ws(struct dc *d)
{
	const char	*base;
	char		 url[600], err[256];
	size_t		 bl;

	d->d_reconnect_at = 0;
	base = d->d_session[0] != '\0' && d->d_resume_url[0] != '\0' ?
	    d->d_resume_url : d->d_gw_url;
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	snprintf(url, sizeof(url), "%.*s/?v=10&encoding=json", (int)bl, base);
	d->d_state = DC_OPENING;
	if (ad_ws_open(&d->d_ws, url, d->d_flags, d->d_ca_file, DC_WS_MAX,
	    &dc_ws_cb, d, err, sizeof(err)) != 0) {
		/* A URL of the server's that is none: ask again. */
		d->d_gw_url[0] = '\0';
		dc_forget_session(d);
		dc_down(d, "the Gateway URL '%.200s': %s", base, err);
	}
}

static void
dc_on_gateway(void *arg, const struct ad_http_resp *r)
{
	struct dc	*d = arg;
	json_t		*j = ad_http_resp_json(r);
	const char	*url = json_string_value(json_object_get(j, "url"));
	const char	*msg = json_string_value(json_object_get(j, "message"));

	if (r->ar_err != NULL && r->ar_status < 0)
		dc_down(d, "GET /gateway/bot: %s", r->ar_err);
	else if (r->ar_status == 401)
		dc_down(d, "the bot token was refused (HTTP 401%s%s)",
		    msg != NULL ? ": " : "", msg != NULL ? msg : "");
	else if (r->ar_status != 200 || url == NULL)
		dc_down(d, "GET /gateway/bot answered HTTP %d%s%s",
		    r->ar_status, msg != NULL ? ": " : "",
		    msg != NULL ? msg : "");
	else {
		snprintf(d->d_gw_url, sizeof(d->d_gw_url), "%s", url);
		log_info("discord: the Gateway is at %s", d->d_gw_url);
		dc_open_ws(d);
	}
	json_decref(j);
}

/* ---- the REST calls ------------------------------------------------------- */

/* Queues a call (steals body: NULL for none).  0, or -1 (full, or out
 * of memory; an `error` event unless best effort). */
static int
dc_enqueue(struct dc *d, const char *method, const char *path, json_t *body,
    int best_effort)
{
	struct dc_out	*o = NULL;
	char		*s = NULL;

	if (d->d_queued >= DC_QUEUE_MAX) {
		if (!best_effort)
			ad_error(d->d_ad, "discord: %zu calls wait already; "
			    "one is dropped", d->d_queued);
		goto fail;
	}
	if ((body != NULL && (s = json_dumps(body, JSON_COMPACT)) == NULL) ||
	    (o = calloc(1, sizeof(*o))) == NULL) {
		if (!best_effort)
			ad_error(d->d_ad, "discord: out of memory; a call is "
			    "dropped");
		goto fail;
	}
	snprintf(o->o_method, sizeof(o->o_method), "%s", method);
	snprintf(o->o_path, sizeof(o->o_path), "%s%s", d->d_prefix, path);
	o->o_body = s;
	o->o_len = s != NULL ? strlen(s) : 0;
	o->o_best_effort = best_effort;
	*d->d_tail = o;
	d->d_tail = &o->o_next;
	d->d_queued++;
	json_decref(body);
	return (0);
 fail:
	free(s);
	free(o);
	json_decref(body);
	return (-1);
}

static void
dc_out_pop(struct dc *d)
{
	struct dc_out	*o = d->d_head;

	d->d_head = o->o_next;
	if (d->d_head == NULL)
		d->d_tail = &d->d_head;
	d->d_queued--;
	free(o->o_body);
	free(o);
}

static void
dc_on_sent(void *arg, const struct ad_http_resp *r)
{
	struct dc	*d = arg;
	struct dc_out	*o = d->d_head;
	json_t		*j;
	const char	*msg;
	double		 ra;
	uint64_t	 delay;
	unsigned int	 i;

	d->d_inflight = 0;
	if (o == NULL)
		return;
	o->o_attempts++;
	j = ad_http_resp_json(r);
	msg = json_string_value(json_object_get(j, "message"));
	if (msg == NULL)
		msg = r->ar_err != NULL ? r->ar_err : "no message";
	if (r->ar_err == NULL && r->ar_status >= 200 && r->ar_status < 300) {
		log_debug("discord: %s done (attempt %u)", o->o_method,
		    o->o_attempts);
		dc_out_pop(d);
	} else if (r->ar_status == 429 && o->o_attempts < DC_ATTEMPTS) {
		/* The body's retry_after (seconds, a fraction), else the
		 * header's. */
		ra = json_number_value(json_object_get(j, "retry_after"));
		if (ra <= 0 && r->ar_retry_after > 0)
			ra = (double)r->ar_retry_after;
		if (ra <= 0 || ra > 3600)
			ra = 1;
		delay = (uint64_t)(ra * 1000 + 0.999);
		log_warnx("discord: %s: rate limited; again in %llu ms",
		    o->o_method, (unsigned long long)delay);
		o->o_next_at = util_now_ms() + delay;
	} else if ((r->ar_status < 0 || r->ar_status >= 500) &&
	    !o->o_best_effort && o->o_attempts < DC_ATTEMPTS) {
		delay = DC_RETRY_MS;
		for (i = 1; i < o->o_attempts && delay < DC_RETRY_MAX_MS; i++)
			delay *= 2;
		if (delay > DC_RETRY_MAX_MS)
			delay = DC_RETRY_MAX_MS;
		log_warnx("discord: %s failed (HTTP %d: %s); attempt %u in "
		    "%llu ms", o->o_method, r->ar_status, msg,
		    o->o_attempts + 1, (unsigned long long)delay);
		o->o_next_at = util_now_ms() + delay;
	} else {
		if (o->o_best_effort)
			log_info("discord: %s failed (HTTP %d: %s); not "
			    "retried", o->o_method, r->ar_status, msg);
		else if (r->ar_status == 401)
			ad_error(d->d_ad, "discord: a message: the bot token "
			    "was refused (HTTP 401: %s)", msg);
		else
			ad_error(d->d_ad, "discord: a message failed after %u "
			    "attempt%s: HTTP %d: %s", o->o_attempts,
			    o->o_attempts == 1 ? "" : "s", r->ar_status, msg);
		dc_out_pop(d);
	}
	json_decref(j);
	dc_pump(d);
}

static void
dc_pump(struct dc *d)
{
	struct dc_out	*o;
	int		 rv;

	while (!d->d_inflight && (o = d->d_head) != NULL &&
	    util_now_ms() >= o->o_next_at) {
		rv = ad_http_request(&d->d_out, o->o_method, o->o_path,
		    o->o_body != NULL ? d->d_authjson : d->d_auth, o->o_body,
		    o->o_len, DC_REST_TIMEOUT_MS, dc_on_sent, d);
		if (rv != 0) {
			ad_error(d->d_ad, "discord: out of memory; a call is "
			    "dropped");
			dc_out_pop(d);
			continue;
		}
		d->d_inflight = 1;
	}
}

static void
dc_cmd_send(struct dc *d, const struct ad_cmd *c)
{
	const char	*text = c->ac_text;
	char		 path[64], *piece;
	size_t		 n = strlen(text), k, parts = 0, i;
	int		 blank;

	if (!dc_snowflake_ok(c->ac_channel_id)) {
		ad_error(d->d_ad, "discord: a send to '%.64s' is not to a "
		    "channel id; dropped", c->ac_channel_id);
		return;
	}
	snprintf(path, sizeof(path), "/channels/%s/messages",
	    c->ac_channel_id);
	while (n > 0) {
		k = ad_text_cut(text, n, DC_TEXT_LIMIT, AD_UNIT_UTF16);
		for (blank = 1, i = 0; i < k && blank; i++)
			blank = text[i] == ' ' || text[i] == '\n' ||
			    text[i] == '\t' || text[i] == '\r';
		if (!blank) {
			if ((piece = strndup(text, k)) == NULL)
				ad_error(d->d_ad, "discord: out of memory; "
				    "a part is dropped");
			else
				dc_enqueue(d, "POST", path, json_pack("{s:s}",
				    "content", piece), 0);
			free(piece);
			parts++;
		}
		text += k;
		n -= k;
	}
	if (parts == 0)
		log_info("discord: an empty send to %s dropped",
		    c->ac_channel_id);
	else if (parts > 1)
		log_info("discord: a text of %zu bytes goes as %zu messages",
		    strlen(c->ac_text), parts);
}

static void
dc_cmd_reaction(struct dc *d, const struct ad_cmd *c)
{
	char		emoji[256], path[512];
	unsigned int	i;

	if (!dc_snowflake_ok(c->ac_channel_id) ||
	    !dc_snowflake_ok(c->ac_message_id) ||
	    dc_emoji_path(c->ac_reaction, emoji, sizeof(emoji)) != 0) {
		log_debug("discord: a reaction on '%.64s' in '%.64s': not a "
		    "message of Discord's, or no emoji", c->ac_message_id,
		    c->ac_channel_id);
		return;
	}
	for (i = 0; i < DC_REACTS; i++)
		if (strcmp(d->d_reacts[i].r_mid, c->ac_message_id) == 0)
			break;
	if (i < DC_REACTS && strcmp(d->d_reacts[i].r_emoji, emoji) == 0)
		return;		/* there already */
	if (i < DC_REACTS) {
		snprintf(path, sizeof(path), "/channels/%s/messages/%s/"
		    "reactions/%s/@me", c->ac_channel_id, c->ac_message_id,
		    d->d_reacts[i].r_emoji);
		dc_enqueue(d, "DELETE", path, NULL, 1);
	} else {
		i = d->d_react_next++ % DC_REACTS;
		snprintf(d->d_reacts[i].r_mid, sizeof(d->d_reacts[i].r_mid),
		    "%s", c->ac_message_id);
	}
	snprintf(d->d_reacts[i].r_emoji, sizeof(d->d_reacts[i].r_emoji),
	    "%s", emoji);
	snprintf(path, sizeof(path), "/channels/%s/messages/%s/reactions/%s/"
	    "@me", c->ac_channel_id, c->ac_message_id, emoji);
	dc_enqueue(d, "PUT", path, NULL, 1);
}

/* ---- the adapter's callbacks ---------------------------------------------- */

static void
dc_arm(struct dc *d)
{
	uint64_t	at = 0, v[7];
	int		i;

	v[0] = ad_http_deadline(&d->d_rest);
	v[1] = ad_http_deadline(&d->d_out);
	v[2] = ad_ws_deadline(&d->d_ws);
	v[3] = d->d_hb_at;
	v[4] = d->d_identify_at;
	v[5] = d->d_reconnect_at;
	v[6] = !d->d_inflight && d->d_head != NULL ?
	    (d->d_head->o_next_at ? d->d_head->o_next_at : 1) : 0;
	for (i = 0; i < 7; i++)
		if (v[i] != 0 && (at == 0 || v[i] < at))
			at = v[i];
	ad_timer(d->d_ad, at);
}

static int
dc_connect(struct ad *a)
{
	struct dc	*d = ad_arg(a);
	char		 path[1100];

	ad_ws_abort(&d->d_ws);
	ad_http_close(&d->d_rest);
	if (d->d_gw_url[0] != '\0') {
		dc_open_ws(d);
		dc_arm(d);
		return (0);
	}
	snprintf(path, sizeof(path), "%s/gateway/bot", d->d_prefix);
	if (ad_http_request(&d->d_rest, "GET", path, d->d_auth, NULL, 0,
	    DC_REST_TIMEOUT_MS, dc_on_gateway, d) != 0) {
		ad_error(a, "discord: could not ask GET /gateway/bot");
		return (-1);
	}
	d->d_state = DC_GATEWAY;
	dc_arm(d);
	return (0);
}

static void
dc_io(struct ad *a, int fd, int revents)
{
	struct dc	*d = ad_arg(a);

	if (ad_ws_owns(&d->d_ws, fd))
		ad_ws_io(&d->d_ws, revents);
	else if (ad_http_owns(&d->d_rest, fd))
		ad_http_io(&d->d_rest, revents);
	else if (ad_http_owns(&d->d_out, fd))
		ad_http_io(&d->d_out, revents);
	dc_pump(d);
	dc_arm(d);
}

static void
dc_tick(struct ad *a)
{
	struct dc	*d = ad_arg(a);
	uint64_t	 now;

	ad_http_tick(&d->d_rest);
	ad_http_tick(&d->d_out);
	ad_ws_tick(&d->d_ws);
	now = util_now_ms();
	if (d->d_reconnect_at != 0 && now >= d->d_reconnect_at)
		dc_open_ws(d);
	if (d->d_identify_at != 0 && now >= d->d_identify_at &&
	    ad_ws_is_open(&d->d_ws))
		dc_identify_now(d);
	if (d->d_hb_at != 0 && now >= d->d_hb_at && ad_ws_is_open(&d->d_ws)) {
		if (!d->d_acked)
			dc_reconnect_soon(d, "no heartbeat ACK since the last "
			    "heartbeat (a zombie connection)");
		else
			dc_heartbeat_now(d);
	}
	dc_pump(d);
	dc_arm(d);
}

static void
dc_command(struct ad *a, const struct ad_cmd *c)
{
	struct dc	*d = ad_arg(a);
	char		 path[64];

	switch (c->ac_type) {
	case AD_CMD_SEND:
		dc_cmd_send(d, c);
		break;
	case AD_CMD_TYPING:
		if (dc_snowflake_ok(c->ac_channel_id)) {
			snprintf(path, sizeof(path), "/channels/%s/typing",
			    c->ac_channel_id);
			dc_enqueue(d, "POST", path, NULL, 1);
		}
		break;
	case AD_CMD_REACTION:
		dc_cmd_reaction(d, c);
		break;
	default:
		log_debug("discord: '%s' ignored", c->ac_method);
		break;
	}
	dc_pump(d);
	dc_arm(d);
}

static void
dc_stop(struct ad *a)
{
	struct dc	*d = ad_arg(a);

	d->d_stopping = 1;
	if (ad_ws_is_open(&d->d_ws)) {
		/* 1000: the session ends (Discord shows the bot offline). */
		ad_ws_close(&d->d_ws, AD_WS_CLOSE_NORMAL, "shutdown");
		ad_conn_flush(&d->d_ws.ws_conn);
	}
	ad_ws_abort(&d->d_ws);
	ad_http_close(&d->d_rest);
	ad_http_close(&d->d_out);
	if (d->d_queued > 0)
		log_warnx("discord: %zu calls not made at exit", d->d_queued);
	while (d->d_head != NULL)
		dc_out_pop(d);
}

static int
dc_init(struct ad *a)
{
	struct dc	*d = ad_arg(a);
	const char	*base;
	size_t		 pl;

	d->d_ad = a;
	d->d_token = ad_conf("DISCORD_BOT_TOKEN");
	if (!dc_token_ok(d->d_token)) {
		log_warnx("%s: DISCORD_BOT_TOKEN is %s", __func__,
		    d->d_token == NULL ? "required" : "not a bot token "
		    "(printable ASCII without blanks)");
		return (-1);
	}
	log_add_secret(d->d_token);
	base = ad_conf("DISCORD_API_BASE");
	if (ad_api_base(a, "DISCORD_API_BASE", base, &d->d_base, &pl) != 0)
		return (-1);
	snprintf(d->d_prefix, sizeof(d->d_prefix), "%.*s", (int)pl,
	    d->d_base.au_path);
	snprintf(d->d_auth, sizeof(d->d_auth), "Authorization: Bot %s\r\n",
	    d->d_token);
	snprintf(d->d_authjson, sizeof(d->d_authjson), "%sContent-Type: "
	    "application/json\r\n", d->d_auth);
	if (ad_conf_num("DISCORD_INTENTS", 0, (1LL << 31) - 1,
	    &d->d_intents) != 0)
		return (-1);
	d->d_filter.df_ignore_bots = ad_conf_bool("DISCORD_IGNORE_BOTS");
	d->d_ca_file = ad_conf("DISCORD_TLS_CA_FILE");
	if ((d->d_filter.df_guilds = ad_conf_list("DISCORD_ALLOWED_GUILDS")) ==
	    NULL || (d->d_filter.df_users = ad_conf_list(
	    "DISCORD_ALLOWED_USERS")) == NULL || (d->d_filter.df_patterns =
	    ad_conf_list("DISCORD_MENTION_PATTERNS")) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	d->d_flags = ad_allow_loopback(a) ? AD_CONN_ALLOW_PRIVATE : 0;
	ad_http_init(&d->d_rest, a, &d->d_base, d->d_flags, d->d_ca_file,
	    DC_RESP_MAX);
	ad_http_init(&d->d_out, a, &d->d_base, d->d_flags, d->d_ca_file,
	    DC_RESP_MAX);
	ad_ws_init(&d->d_ws, a);
	log_info("discord: REST API at %s:%d%s%s, intents %lld",
	    d->d_base.au_host, d->d_base.au_port, d->d_prefix,
	    d->d_base.au_tls ? " (TLS)" : "", d->d_intents);
	return (0);
}

static const struct ad_def dc_def = {
	.ad_name = "discord",
	.ad_display_name = "Discord",
	.ad_description = "A Discord bot: Gateway v10 events in (guild "
	    "messages, DMs), the REST API out (messages, typing, reactions).",
	.ad_env = "DISCORD",
	.ad_fields = dc_fields,
	.ad_capabilities = dc_caps,
	.ad_init = dc_init,
	.ad_connect = dc_connect,
	.ad_io = dc_io,
	.ad_tick = dc_tick,
	.ad_command = dc_command,
	.ad_stop = dc_stop,
};

int
main(int argc, char **argv)
{
	struct ad_url	none;
	struct dc	d;
	int		rv;

	memset(&d, 0, sizeof(d));
	memset(&none, 0, sizeof(none));
	d.d_tail = &d.d_head;
	d.d_seq = -1;
	/* Closed and harmless until dc_init() aims them at the API. */
	ad_http_init(&d.d_rest, NULL, &none, 0, NULL, 0);
	ad_http_init(&d.d_out, NULL, &none, 0, NULL, 0);
	ad_ws_init(&d.d_ws, NULL);
	rv = ad_main(&dc_def, &d, argc, argv);
	d.d_stopping = 1;
	ad_ws_abort(&d.d_ws);
	ad_http_close(&d.d_rest);
	ad_http_close(&d.d_out);
	while (d.d_head != NULL)
		dc_out_pop(&d);
	ad_list_free(d.d_filter.df_guilds);
	ad_list_free(d.d_filter.df_users);
	ad_list_free(d.d_filter.df_patterns);
	return (rv);
}
