/*
 * telegram.h - the Telegram adapter's helpers (telegram_msg.c): Bot API
 * updates read into `message` events, text cut at Telegram's limit in
 * UTF-16 units, reactions mapped onto the emoji Telegram takes, chat ids
 * and message ids.  No state, no I/O; the adapter itself is telegram.c.
 */
#ifndef TELEGRAM_H
#define TELEGRAM_H

#include <stddef.h>

#include <jansson.h>

#define TG_TEXT_LIMIT	4096	/* a message's text, in UTF-16 units */
#define TG_CB_DATA_MAX	64	/* an inline button's callback_data, bytes */

/* What getMe said about the bot. */
struct tg_self {
	long long	ts_id;
	char		ts_username[64];	/* without "@" */
};

/* Which senders and chats are taken (NULL-ended lists, or NULL: any). */
struct tg_filter {
	char	**tf_users;	/* ids or @usernames (upstream's
				   ALLOWED_USERS) */
	char	**tf_chats;	/* chat ids */
};

/* Whether token can be a Bot API token (it goes into a URL path: only
 * A-Z a-z 0-9 : _ -, and not empty). */
int	 tg_token_ok(const char *token);
/* Whether n bytes of s are blanks only (Telegram refuses such a text). */
int	 tg_blank(const char *s, size_t n);
/* A channel_id as the Bot API's chat_id: an integer when it is one,
 * else the string ("@channel").  New; NULL when empty or too long. */
json_t	*tg_chat_id(const char *channel_id);
/*
 * A message_id of ours ("<chat_id>:<message_id>") split.  0 with *chat
 * (borrowed into buf) and *mid, or -1 when it is not one (a callback's
 * "cb:<id>").  buf has room for the chat id.
 */
int	 tg_msgid_split(const char *id, char *buf, size_t bufsize,
	    long long *mid);
/*
 * The emoji to set for a reaction command: emoji itself when Telegram
 * takes it as a reaction, else phase's stand-in (queued 👀, thinking 🤔,
 * tool_use and streaming ✍, done 👍, error 😢), else NULL (nothing to
 * set).  Static.
 */
const char *tg_reaction_emoji(const char *emoji, const char *phase);

/*
 * An update from getUpdates.  Returns the `message` event to emit (new),
 * or NULL with *skip saying why it is not one (a static string: no text,
 * the bot's own, a sender or chat not allowed, a command for another
 * bot, out of memory).  A callback query (an inline button pressed) is
 * a message with ButtonCallback content; its id goes to *cb_id
 * (borrowed from upd) for the answerCallbackQuery, else *cb_id is NULL.
 * *update_id is the update's id (-1 when it has none).
 */
json_t	*tg_update_event(const json_t *upd, const struct tg_self *self,
	    const struct tg_filter *f, long long *update_id,
	    const char **cb_id, const char **skip);

/*
 * The inline keyboard of an `interactive` command's buttons ([[{label,
 * action, url?}]], rows of buttons) as sendMessage's reply_markup: a
 * button with a url opens it; any other sends its action back as
 * callback_data, which must be 1-64 bytes: a longer or empty one is left
 * out and counted in *dropped.  New; NULL with *why when the buttons
 * are malformed or none is left.
 */
json_t	*tg_keyboard(const json_t *buttons, size_t *dropped,
	    const char **why);

#endif /* TELEGRAM_H */
