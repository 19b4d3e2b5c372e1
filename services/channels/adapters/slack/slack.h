/*
 * slack.h - the Slack adapter's helpers (slack_msg.c): tokens and ids
 * checked, Socket Mode envelopes (events_api `message` and
 * `app_mention`, slash_commands) read into `message` events, the
 * deliveries already seen, Web API errors sorted, emoji named as Slack
 * names them, text escaped and cut at Slack's limit.  No state but what
 * the caller passes, no I/O; the adapter itself is slack.c.
 */
#ifndef SLACK_H
#define SLACK_H

#include <stddef.h>

#include <jansson.h>

#define SL_TEXT_LIMIT	40000	/* chat.postMessage's text, characters
				   (UTF-16 units counted: never more) */
#define SL_SEEN_MAX	512	/* deliveries remembered */
#define SL_KEY_MAX	96

/* What the bot is (auth.test). */
struct sl_self {
	char	ss_user_id[32];		/* its user, for <@U...> mentions */
	char	ss_bot_id[32];
	char	ss_team_id[32];
};

/* Which messages are taken. */
struct sl_filter {
	char	**sf_channels;		/* SLACK_ALLOWED_CHANNELS, or NULL:
					   any */
};

/* The messages delivered lately, by key (channel and ts, a slash
 * command's trigger): Slack delivers an event again when its ACK was
 * late, and a mention comes both as `message` and `app_mention`. */
struct sl_seen {
	char		s_key[SL_SEEN_MAX][SL_KEY_MAX];
	unsigned int	s_next;
};

/* What a Web API error asks of us. */
enum sl_err_do {
	SL_ERR_REPORT,		/* an error event, not retried */
	SL_ERR_AUTH,		/* a token refused: reported */
	SL_ERR_RATE,		/* ratelimited: after Retry-After */
	SL_ERR_RETRY,		/* Slack's own trouble: again later */
	SL_ERR_HARMLESS,	/* already_reacted, no_reaction */
};

/* Whether token is one of prefix's ("xoxb-", "xapp-"), fit for a
 * header: printable ASCII without blanks, 1-255 bytes. */
int	 sl_token_ok(const char *token, const char *prefix);
/* Whether s is a Slack id (C..., D..., G..., U...): 1-32 letters and
 * digits. */
int	 sl_id_ok(const char *s);
/* Whether s is a message's ts ("1700000000.000100"). */
int	 sl_ts_ok(const char *s);
enum sl_err_do sl_error_do(const char *error);

/* 1 when key is new (it is remembered), 0 when seen lately. */
int	 sl_seen_add(struct sl_seen *s, const char *key);

/* The Slack name of emoji into out: a phase's emoji by its name
 * ("white_check_mark"), ":name:" or "name" as it is.  0, or -1 when it
 * has none. */
int	 sl_emoji_name(const char *emoji, char *out, size_t outlen);

/* Slack's three entities (&amp; &lt; &gt;) taken back in n bytes of
 * text; new (free()), or NULL out of memory. */
char	*sl_unescape(const char *s, size_t n);
/* & < > escaped as Slack asks, n bytes; new, or NULL. */
char	*sl_escape(const char *s, size_t n);
/* How many bytes of s (n) the next message takes: its text escaped at
 * most limit UTF-16 units, cut at a line break or a space where one
 * is (ad_text_cut()). */
size_t	 sl_text_cut(const char *s, size_t n, size_t limit);

/*
 * A Socket Mode envelope's message (type events_api with an event
 * `message` or `app_mention`, or slash_commands).  Returns the `message`
 * event to emit (new) with its delivery key in key (keylen bytes), or
 * NULL with *skip saying why not (static: another type, the bot's own
 * or a bot's message, an edit or other subtype, no text, a channel not
 * allowed, out of memory).
 */
json_t	*sl_envelope_message(const json_t *env, const struct sl_self *self,
	    const struct sl_filter *f, char *key, size_t keylen,
	    const char **skip);

#endif /* SLACK_H */
