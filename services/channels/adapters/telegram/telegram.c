/*
 * telegram.c - channel-telegram: a Telegram bot over the Bot API
 * (README.md), on the library's HTTP client (ad_http, no libcurl).
 *
 * Two connections to the API: one asks getMe when the platform is to be
 * (re)connected, then long-polls getUpdates with the offset past the last
 * update seen (so the server forgets what we have); the other carries
 * the sends, one at a time and in order (sendMessage cut at 4096 UTF-16
 * units, sendChatAction, setMessageReaction, answerCallbackQuery),
 * each retried after a 429's retry_after, and after a 5xx or a
 * connection error with a doubling delay.  A token refused (401, or 404
 * at getMe: the Bot API's answer to a token it does not know), a 409 (a
 * webhook or another poller holds the token) and a lost connection are
 * an `error` event and a reconnect after the library's backoff.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ad_http.h"
#include "adapter.h"
#include "log.h"
#include "telegram.h"
#include "util.h"

#define TG_QUEUE_MAX		1000	/* sends waiting */
#define TG_ATTEMPTS		8	/* tries of one send */
#define TG_RETRY_MS		1000	/* the first retry's delay, doubling */
#define TG_RETRY_MAX_MS		30000
#define TG_SEND_TIMEOUT_MS	30000
#define TG_RESP_MAX		(1024 * 1024)	/* an answer's body */
#define TG_UPDATES_LIMIT	20	/* updates per getUpdates */
/*
 * An empty getUpdates answered sooner than this is not a long poll (a
 * server that does not wait: telegram-test-api): the next one waits
 * TG_EMPTY_PAUSE_MS instead of spinning.
 */
#define TG_EMPTY_FAST_MS	1000
#define TG_EMPTY_PAUSE_MS	300

enum tg_state {
	TG_DOWN = 0,		/* waiting for the library's reconnect */
	TG_GETME,		/* getMe asked */
	TG_POLLING,		/* getUpdates asked, or due at t_poll_at */
};

/* A Bot API call waiting to be made. */
struct tg_out {
	struct tg_out	*o_next;
	char		 o_method[32];
	char		*o_body;		/* JSON */
	size_t		 o_len;
	int		 o_best_effort;	/* typing, reactions: one try, no
					   error event */
	unsigned int	 o_attempts;
	uint64_t	 o_next_at;
};

struct tg {
	struct ad	*t_ad;
	/* configuration */
	const char	*t_token;
	struct ad_url	 t_base;
	char		 t_prefix[1280];	/* base path + "/bot<token>" */
	long long	 t_poll_secs;
	int		 t_clear_done;
	const char	*t_ca_file;
	struct tg_filter t_filter;
	/* the session */
	enum tg_state	 t_state;
	struct tg_self	 t_self;
	struct ad_http	 t_poll;	/* getMe, getUpdates */
	long long	 t_offset;	/* the next update_id wanted */
	uint64_t	 t_poll_at;	/* the next getUpdates, 0 none */
	uint64_t	 t_poll_started;
	/* the sends */
	struct ad_http	 t_out;
	struct tg_out	*t_head;
	struct tg_out	**t_tail;
	size_t		 t_queued;
	int		 t_inflight;
};

static const struct ad_field tg_fields[] = {
	{ "TELEGRAM_BOT_TOKEN", "Bot token (from @BotFather)", AD_FIELD_SECRET,
	    1, "123456789:AAE...", 0, NULL, NULL },
	{ "ALLOWED_USERS", "Allowed users (ids or @usernames; empty: all)",
	    AD_FIELD_LIST, 0, "12345678, @alice", 0, NULL, NULL },
	{ "TELEGRAM_ALLOWED_CHATS", "Allowed chats (ids; empty: all)",
	    AD_FIELD_LIST, 0, "-1001234567890", 1, NULL, NULL },
	{ "TELEGRAM_CLEAR_DONE_REACTION", "Clear the reaction when a reply "
	    "is done", AD_FIELD_BOOL, 0, NULL, 1, NULL, "0" },
	{ "TELEGRAM_API_BASE", "Bot API base URL", AD_FIELD_TEXT, 0,
	    "https://api.telegram.org", 1, NULL, "https://api.telegram.org" },
	{ "TELEGRAM_POLL_TIMEOUT_SECS", "Long poll timeout (s)",
	    AD_FIELD_NUMBER, 0, "30", 1, NULL, "30" },
	{ "TELEGRAM_TLS_CA_FILE", "CA certificates (PEM file)", AD_FIELD_TEXT,
	    0, "/etc/ssl/certs/ca-certificates.crt", 1, NULL, NULL },
	{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
};

/* What is done (README.md): no threads, no streaming. */
static const char *const tg_caps[] = { "typing", "reaction", "interactive",
    NULL };

static void	tg_poll(struct tg *t);
static void	tg_pump(struct tg *t);

/* The path of a Bot API method (it holds the token: never logged). */
static void
tg_path(const struct tg *t, const char *method, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s", t->t_prefix, method);
}

/* The Bot API's answer: {"ok": bool, "result": .., "description": ..,
 * "parameters": {"retry_after": n}}.  New, or NULL when not JSON. */
static json_t *
tg_answer(const struct ad_http_resp *r, const char **desc, int *ok,
    long long *retry_after)
{
	json_t	*j = ad_http_resp_json(r);
	json_t	*ra;

	*ok = json_is_true(json_object_get(j, "ok"));
	*desc = json_string_value(json_object_get(j, "description"));
	if (*desc == NULL)
		*desc = json_string_value(json_object_get(j, "message"));
	if (*desc == NULL)
		*desc = r->ar_err != NULL ? r->ar_err : "no description";
	ra = json_object_get(json_object_get(j, "parameters"), "retry_after");
	*retry_after = json_is_integer(ra) ? json_integer_value(ra) :
	    r->ar_retry_after;
	return (j);
}

/* ---- the session: getMe, getUpdates --------------------------------------- */

/* The platform is gone: both connections closed (the library unwatches
 * every fd), a send in flight goes again later, and the library says why
 * and reconnects after its backoff. */
static void
tg_down(struct tg *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tg_down(struct tg *t, const char *fmt, ...)
{
	va_list	ap;
	char	why[512];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ad_http_close(&t->t_poll);
	ad_http_close(&t->t_out);
	if (t->t_inflight && t->t_head != NULL)
		t->t_head->o_next_at = util_now_ms() + TG_RETRY_MS;
	t->t_inflight = 0;
	t->t_state = TG_DOWN;
	t->t_poll_at = 0;
	ad_platform_down(t->t_ad, why);
}

/* Whether status is the Bot API refusing the token (at getMe and
 * getUpdates, a 404 is: the method exists). */
static int
tg_token_refused(int status)
{
	return (status == 401 || status == 404);
}

static void
tg_on_getme(void *arg, const struct ad_http_resp *r)
{
	struct tg	*t = arg;
	json_t		*j, *res;
	const char	*desc, *u;
	long long	 ra;
	int		 ok;

	j = tg_answer(r, &desc, &ok, &ra);
	res = json_object_get(j, "result");
	if (r->ar_err != NULL && r->ar_status < 0)
		tg_down(t, "getMe: %s", r->ar_err);
	else if (tg_token_refused(r->ar_status))
		tg_down(t, "the Bot API refused the token (HTTP %d: "
		    "%s)", r->ar_status, desc);
	else if (r->ar_status != 200 || !ok ||
	    !json_is_integer(json_object_get(res, "id")))
		tg_down(t, "getMe answered HTTP %d: %s",
		    r->ar_status, desc);
	else {
		t->t_self.ts_id = json_integer_value(json_object_get(res,
		    "id"));
		u = json_string_value(json_object_get(res, "username"));
		snprintf(t->t_self.ts_username, sizeof(t->t_self.ts_username),
		    "%s", u != NULL ? u : "");
		log_info("telegram: connected as @%s (id %lld)",
		    t->t_self.ts_username, t->t_self.ts_id);
		ad_platform_up(t->t_ad);
		t->t_state = TG_POLLING;
		tg_poll(t);
	}
	json_decref(j);
}

/* Queues a Bot API call (steals body, also on failure).  0, or -1 (the
 * queue is full or out of memory; an `error` event unless best effort). */
static int
tg_enqueue(struct tg *t, const char *method, json_t *body, int best_effort)
{
	struct tg_out	*o = NULL;
	char		*s = NULL;

	if (t->t_queued >= TG_QUEUE_MAX) {
		if (!best_effort)
			ad_error(t->t_ad, "telegram: %zu calls wait already; "
			    "a %s is dropped", t->t_queued, method);
		goto fail;
	}
	if (body == NULL || (s = json_dumps(body, JSON_COMPACT)) == NULL ||
	    (o = calloc(1, sizeof(*o))) == NULL) {
		if (!best_effort)
			ad_error(t->t_ad, "telegram: out of memory; a %s is "
			    "dropped", method);
		goto fail;
	}
	snprintf(o->o_method, sizeof(o->o_method), "%s", method);
	o->o_body = s;
	o->o_len = strlen(s);
	o->o_best_effort = best_effort;
	*t->t_tail = o;
	t->t_tail = &o->o_next;
	t->t_queued++;
	json_decref(body);
	return (0);
 fail:
	free(s);
	free(o);
	json_decref(body);
	return (-1);
}

/* One update: its event to the daemon, a button's press answered. */
static void
tg_update(struct tg *t, const json_t *upd)
{
	json_t		*ev;
	const char	*cb, *skip;
	long long	 id;

	ev = tg_update_event(upd, &t->t_self, &t->t_filter, &id, &cb, &skip);
	if (id >= t->t_offset)
		t->t_offset = id + 1;
	if (cb != NULL)
		/* Else the button spins on the user's screen. */
		tg_enqueue(t, "answerCallbackQuery", json_pack("{s:s}",
		    "callback_query_id", cb), 1);
	if (ev == NULL) {
		log_info("telegram: update %lld skipped: %s", id, skip);
		return;
	}
	ad_emit(t->t_ad, ev);
}

static void
tg_on_updates(void *arg, const struct ad_http_resp *r)
{
	struct tg	*t = arg;
	json_t		*j, *res, *u;
	const char	*desc;
	long long	 ra;
	uint64_t	 now = util_now_ms();
	size_t		 i;
	int		 ok;

	j = tg_answer(r, &desc, &ok, &ra);
	res = json_object_get(j, "result");
	if (r->ar_err != NULL && r->ar_status < 0)
		tg_down(t, "getUpdates: %s", r->ar_err);
	else if (tg_token_refused(r->ar_status))
		tg_down(t, "the Bot API refused the token (HTTP %d: "
		    "%s)", r->ar_status, desc);
	else if (r->ar_status == 409)
		tg_down(t, "getUpdates: HTTP 409: %s (a webhook or "
		    "another poller holds this token)", desc);
	else if (r->ar_status == 429) {
		if (ra < 1 || ra > 3600)
			ra = 5;
		log_warnx("telegram: getUpdates: too many requests; again in "
		    "%lld s", ra);
		t->t_poll_at = now + (uint64_t)ra * 1000;
	} else if (r->ar_status != 200 || !ok || !json_is_array(res))
		tg_down(t, "getUpdates answered HTTP %d: %s",
		    r->ar_status, desc);
	else {
		json_array_foreach(res, i, u)
			tg_update(t, u);
		if (json_array_size(res) == 0 && t->t_poll_secs > 0 &&
		    now - t->t_poll_started < TG_EMPTY_FAST_MS)
			t->t_poll_at = now + TG_EMPTY_PAUSE_MS;
		else
			t->t_poll_at = now;
	}
	json_decref(j);
	tg_pump(t);
}

/* Asks getUpdates (a long poll of t_poll_secs). */
static void
tg_poll(struct tg *t)
{
	json_t	*body;
	char	 path[1400];

	t->t_poll_at = 0;
	tg_path(t, "getUpdates", path, sizeof(path));
	body = json_pack("{s:I, s:I, s:I, s:[s, s]}", "offset",
	    (json_int_t)t->t_offset, "timeout", (json_int_t)t->t_poll_secs,
	    "limit", (json_int_t)TG_UPDATES_LIMIT, "allowed_updates",
	    "message", "callback_query");
	t->t_poll_started = util_now_ms();
	/* The server holds the request t_poll_secs: our limit is past
	 * that. */
	if (body == NULL || ad_http_json(&t->t_poll, "POST", path, body,
	    (uint64_t)t->t_poll_secs * 1000 + 10000, tg_on_updates, t) != 0) {
		log_warnx("telegram: could not ask getUpdates; again in 1 s");
		t->t_poll_at = util_now_ms() + 1000;
	}
	json_decref(body);
}

/* ---- the sends ------------------------------------------------------------- */

static void
tg_out_pop(struct tg *t)
{
	struct tg_out	*o = t->t_head;

	t->t_head = o->o_next;
	if (t->t_head == NULL)
		t->t_tail = &t->t_head;
	t->t_queued--;
	free(o->o_body);
	free(o);
}

static void
tg_on_sent(void *arg, const struct ad_http_resp *r)
{
	struct tg	*t = arg;
	struct tg_out	*o = t->t_head;
	json_t		*j;
	const char	*desc;
	long long	 ra;
	uint64_t	 delay;
	unsigned int	 i;
	int		 ok;

	t->t_inflight = 0;
	if (o == NULL)
		return;
	o->o_attempts++;
	j = tg_answer(r, &desc, &ok, &ra);
	if (r->ar_err == NULL && r->ar_status == 200 && ok) {
		log_debug("telegram: %s done (attempt %u)", o->o_method,
		    o->o_attempts);
		tg_out_pop(t);
	} else if (r->ar_status == 429 && o->o_attempts < TG_ATTEMPTS) {
		/* Telegram's flood control says how long. */
		if (ra < 1 || ra > 3600)
			ra = 1;
		log_warnx("telegram: %s: too many requests; again in %lld s",
		    o->o_method, ra);
		o->o_next_at = util_now_ms() + (uint64_t)ra * 1000;
	} else if ((r->ar_status < 0 || r->ar_status >= 500) &&
	    !o->o_best_effort && o->o_attempts < TG_ATTEMPTS) {
		delay = TG_RETRY_MS;
		for (i = 1; i < o->o_attempts && delay < TG_RETRY_MAX_MS; i++)
			delay *= 2;
		if (delay > TG_RETRY_MAX_MS)
			delay = TG_RETRY_MAX_MS;
		log_warnx("telegram: %s failed (%s%s%d); attempt %u in %llu ms",
		    o->o_method, r->ar_err != NULL ? r->ar_err : "",
		    r->ar_err != NULL ? ", HTTP " : "HTTP ", r->ar_status,
		    o->o_attempts + 1, (unsigned long long)delay);
		o->o_next_at = util_now_ms() + delay;
	} else {
		if (o->o_best_effort)
			log_info("telegram: %s failed (HTTP %d: %s); not "
			    "retried", o->o_method, r->ar_status, desc);
		else if (r->ar_status == 401)
			ad_error(t->t_ad, "telegram: %s: the Bot API refused "
			    "the token (HTTP 401: %s)", o->o_method, desc);
		else
			ad_error(t->t_ad, "telegram: %s failed after %u "
			    "attempt%s: HTTP %d: %s", o->o_method,
			    o->o_attempts, o->o_attempts == 1 ? "" : "s",
			    r->ar_status, desc);
		tg_out_pop(t);
	}
	json_decref(j);
	tg_pump(t);
}

/* Makes the head call if it is due and none is in flight. */
static void
tg_pump(struct tg *t)
{
	struct tg_out	*o;
	char		 path[1400];

	while (!t->t_inflight && (o = t->t_head) != NULL &&
	    util_now_ms() >= o->o_next_at) {
		tg_path(t, o->o_method, path, sizeof(path));
		if (ad_http_request(&t->t_out, "POST", path,
		    "Content-Type: application/json\r\n", o->o_body, o->o_len,
		    TG_SEND_TIMEOUT_MS, tg_on_sent, t) != 0) {
			ad_error(t->t_ad, "telegram: out of memory; a %s is "
			    "dropped", o->o_method);
			tg_out_pop(t);
			continue;
		}
		t->t_inflight = 1;
	}
}

/* sendMessage of text (n bytes) to chat, cut at Telegram's limit; the
 * last piece carries markup (borrowed, or NULL). */
static void
tg_send_text(struct tg *t, const json_t *chat, const char *text, size_t n,
    const json_t *markup)
{
	json_t	*body;
	size_t	 k, parts = 0, units = ad_utf16_len(text, n);
	char	*piece;

	while (n > 0) {
		k = ad_text_cut(text, n, TG_TEXT_LIMIT, AD_UNIT_UTF16);
		if (!tg_blank(text, k) || (k == n && markup != NULL)) {
			if ((piece = strndup(text, k)) == NULL)
				body = NULL;
			else
				body = json_pack("{s:O, s:s}", "chat_id",
				    (json_t *)(uintptr_t)chat, "text",
				    tg_blank(piece, k) ? "." : piece);
			if (body != NULL && k == n && markup != NULL)
				json_object_set(body, "reply_markup",
				    (json_t *)(uintptr_t)markup);
			free(piece);
			tg_enqueue(t, "sendMessage", body, 0);
			parts++;
		}
		text += k;
		n -= k;
	}
	if (parts > 1)
		log_info("telegram: a text of %zu UTF-16 units goes as %zu "
		    "messages", units, parts);
}

static void
tg_cmd_send(struct tg *t, const struct ad_cmd *c)
{
	json_t	*chat;

	if ((chat = tg_chat_id(c->ac_channel_id)) == NULL) {
		ad_error(t->t_ad, "telegram: a send to '%.64s' is not to a "
		    "chat id; dropped", c->ac_channel_id);
		return;
	}
	if (c->ac_text[0] == '\0')
		log_info("telegram: an empty send to '%.64s' dropped",
		    c->ac_channel_id);
	else
		tg_send_text(t, chat, c->ac_text, strlen(c->ac_text), NULL);
	json_decref(chat);
}

static void
tg_cmd_reaction(struct tg *t, const struct ad_cmd *c)
{
	const char	*emoji;
	char		 chatbuf[64];
	long long	 mid;
	json_t		*chat, *body;

	if (tg_msgid_split(c->ac_message_id, chatbuf, sizeof(chatbuf),
	    &mid) != 0 || (chat = tg_chat_id(chatbuf)) == NULL) {
		log_debug("telegram: a reaction on '%.64s': no message of "
		    "ours", c->ac_message_id);
		return;
	}
	if (t->t_clear_done && c->ac_phase != NULL &&
	    strcmp(c->ac_phase, "done") == 0)
		body = json_pack("{s:o, s:I, s:[]}", "chat_id", chat,
		    "message_id", (json_int_t)mid, "reaction");
	else if ((emoji = tg_reaction_emoji(c->ac_reaction,
	    c->ac_phase)) == NULL) {
		log_debug("telegram: reaction '%s' is none Telegram takes",
		    c->ac_reaction);
		json_decref(chat);
		return;
	} else
		body = json_pack("{s:o, s:I, s:[{s:s, s:s}]}", "chat_id", chat,
		    "message_id", (json_int_t)mid, "reaction", "type", "emoji",
		    "emoji", emoji);
	tg_enqueue(t, "setMessageReaction", body, 1);
}

static void
tg_cmd_interactive(struct tg *t, const struct ad_cmd *c)
{
	const char	*text, *why;
	json_t		*chat, *kb;
	size_t		 dropped;

	text = json_string_value(json_object_get(c->ac_message, "text"));
	if ((chat = tg_chat_id(c->ac_channel_id)) == NULL || text == NULL ||
	    *text == '\0') {
		ad_error(t->t_ad, "telegram: an interactive message to "
		    "'%.64s' without a chat or a text; dropped",
		    c->ac_channel_id);
		json_decref(chat);
		return;
	}
	if ((kb = tg_keyboard(json_object_get(c->ac_message, "buttons"),
	    &dropped, &why)) == NULL)
		log_warnx("telegram: an interactive message to '%.64s': %s; "
		    "sent as text", c->ac_channel_id, why);
	else if (dropped > 0)
		log_warnx("telegram: %zu buttons left out: no url and an "
		    "action empty or over %d bytes", dropped, TG_CB_DATA_MAX);
	tg_send_text(t, chat, text, strlen(text), kb);
	json_decref(kb);
	json_decref(chat);
}

/* ---- the adapter's callbacks ------------------------------------------ */

static void
tg_arm(struct tg *t)
{
	uint64_t	at = 0, v[4];
	int		i;

	v[0] = ad_http_deadline(&t->t_poll);
	v[1] = ad_http_deadline(&t->t_out);
	v[2] = t->t_state == TG_POLLING && !ad_http_busy(&t->t_poll) ?
	    t->t_poll_at : 0;
	v[3] = !t->t_inflight && t->t_head != NULL ?
	    (t->t_head->o_next_at ? t->t_head->o_next_at : 1) : 0;
	for (i = 0; i < 4; i++)
		if (v[i] != 0 && (at == 0 || v[i] < at))
			at = v[i];
	ad_timer(t->t_ad, at);
}

static int
tg_connect(struct ad *a)
{
	struct tg	*t = ad_arg(a);
	char		 path[1400];

	ad_http_close(&t->t_poll);
	tg_path(t, "getMe", path, sizeof(path));
	if (ad_http_request(&t->t_poll, "GET", path, NULL, NULL, 0,
	    TG_SEND_TIMEOUT_MS, tg_on_getme, t) != 0) {
		ad_error(a, "telegram: could not ask getMe");
		return (-1);
	}
	t->t_state = TG_GETME;
	tg_arm(t);
	return (0);
}

static void
tg_io(struct ad *a, int fd, int revents)
{
	struct tg	*t = ad_arg(a);

	if (ad_http_owns(&t->t_poll, fd))
		ad_http_io(&t->t_poll, revents);
	else if (ad_http_owns(&t->t_out, fd))
		ad_http_io(&t->t_out, revents);
	tg_pump(t);
	tg_arm(t);
}

static void
tg_tick(struct ad *a)
{
	struct tg	*t = ad_arg(a);

	ad_http_tick(&t->t_poll);
	ad_http_tick(&t->t_out);
	if (t->t_state == TG_POLLING && !ad_http_busy(&t->t_poll) &&
	    t->t_poll_at != 0 && util_now_ms() >= t->t_poll_at)
		tg_poll(t);
	tg_pump(t);
	tg_arm(t);
}

static void
tg_command(struct ad *a, const struct ad_cmd *c)
{
	struct tg	*t = ad_arg(a);
	json_t		*chat;

	switch (c->ac_type) {
	case AD_CMD_SEND:
		tg_cmd_send(t, c);
		break;
	case AD_CMD_TYPING:
		if ((chat = tg_chat_id(c->ac_channel_id)) != NULL)
			tg_enqueue(t, "sendChatAction", json_pack("{s:o, s:s}",
			    "chat_id", chat, "action", "typing"), 1);
		break;
	case AD_CMD_REACTION:
		tg_cmd_reaction(t, c);
		break;
	case AD_CMD_INTERACTIVE:
		tg_cmd_interactive(t, c);
		break;
	default:
		log_debug("telegram: '%s' ignored", c->ac_method);
		break;
	}
	tg_pump(t);
	tg_arm(t);
}

static void
tg_stop(struct ad *a)
{
	struct tg	*t = ad_arg(a);

	ad_http_close(&t->t_poll);
	ad_http_close(&t->t_out);
	if (t->t_queued > 0)
		log_warnx("telegram: %zu calls not made at exit", t->t_queued);
	while (t->t_head != NULL)
		tg_out_pop(t);
}

static int
tg_init(struct ad *a)
{
	struct tg	*t = ad_arg(a);
	const char	*base;
	size_t		 pl;
	int		 flags;

	t->t_ad = a;
	t->t_token = ad_conf("TELEGRAM_BOT_TOKEN");
	if (!tg_token_ok(t->t_token)) {
		log_warnx("%s: TELEGRAM_BOT_TOKEN is %s", __func__,
		    t->t_token == NULL ? "required" : "not a Bot API token "
		    "(A-Z a-z 0-9 : _ - only)");
		return (-1);
	}
	log_add_secret(t->t_token);
	base = ad_conf("TELEGRAM_API_BASE");
	if (ad_api_base(a, "TELEGRAM_API_BASE", base, &t->t_base, &pl) != 0)
		return (-1);
	snprintf(t->t_prefix, sizeof(t->t_prefix), "%.*s/bot%s", (int)pl,
	    t->t_base.au_path, t->t_token);
	if (ad_conf_num("TELEGRAM_POLL_TIMEOUT_SECS", 0, 50,
	    &t->t_poll_secs) != 0)
		return (-1);
	t->t_clear_done = ad_conf_bool("TELEGRAM_CLEAR_DONE_REACTION");
	t->t_ca_file = ad_conf("TELEGRAM_TLS_CA_FILE");
	if ((t->t_filter.tf_users = ad_conf_list("ALLOWED_USERS")) == NULL ||
	    (t->t_filter.tf_chats = ad_conf_list(
	    "TELEGRAM_ALLOWED_CHATS")) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	flags = ad_allow_loopback(a) ? AD_CONN_ALLOW_PRIVATE : 0;
	ad_http_init(&t->t_poll, a, &t->t_base, flags, t->t_ca_file,
	    TG_RESP_MAX);
	ad_http_init(&t->t_out, a, &t->t_base, flags, t->t_ca_file,
	    TG_RESP_MAX);
	log_info("telegram: Bot API at %s:%d%s, long poll %lld s",
	    t->t_base.au_host, t->t_base.au_port, t->t_base.au_tls ?
	    " (TLS)" : "", t->t_poll_secs);
	return (0);
}

static const struct ad_def tg_def = {
	.ad_name = "telegram",
	.ad_display_name = "Telegram",
	.ad_description = "A Telegram bot: the Bot API's getUpdates long "
	    "poll in, sendMessage out (typing, reactions, inline buttons).",
	.ad_env = "TELEGRAM",
	.ad_fields = tg_fields,
	.ad_capabilities = tg_caps,
	.ad_init = tg_init,
	.ad_connect = tg_connect,
	.ad_io = tg_io,
	.ad_tick = tg_tick,
	.ad_command = tg_command,
	.ad_stop = tg_stop,
};

int
main(int argc, char **argv)
{
	struct ad_url	none;
	struct tg	t;
	int		rv;

	memset(&t, 0, sizeof(t));
	memset(&none, 0, sizeof(none));
	t.t_tail = &t.t_head;
	/* Closed and harmless until tg_init() aims them at the API. */
	ad_http_init(&t.t_poll, NULL, &none, 0, NULL, 0);
	ad_http_init(&t.t_out, NULL, &none, 0, NULL, 0);
	rv = ad_main(&tg_def, &t, argc, argv);
	ad_http_close(&t.t_poll);
	ad_http_close(&t.t_out);
	while (t.t_head != NULL)
		tg_out_pop(&t);
	ad_list_free(t.t_filter.tf_users);
	ad_list_free(t.t_filter.tf_chats);
	return (rv);
}
