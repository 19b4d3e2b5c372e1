/*
 * mattermost.h - the Mattermost adapter's helpers (mattermost_msg.c):
 * ids and tokens checked, a reaction's emoji named as Mattermost names
 * it, the WebSocket's actions built, `posted` events read into `message`
 * events.  No state, no I/O; the adapter itself is mattermost.c.
 */
#ifndef MATTERMOST_H
#define MATTERMOST_H

#include <stddef.h>

#include <jansson.h>

#define MM_TEXT_LIMIT	16383	/* a post's message, characters (runes) */
#define MM_ID_LEN	26	/* Mattermost's ids: 26 of [a-z0-9] */

/* What the bot is (GET /api/v4/users/me). */
struct mm_self {
	char	ms_id[MM_ID_LEN + 1];
	char	ms_username[72];
};

/* Which posts are taken. */
struct mm_filter {
	char	**mf_channels;	/* MATTERMOST_ALLOWED_CHANNELS: ids or
				   names (NULL or empty: any); DMs are not
				   filtered */
};

/* Whether token can be a personal access token (it goes into a header:
 * printable ASCII without blanks, 1-200 bytes). */
int	 mm_token_ok(const char *token);
/* Whether s is a Mattermost id (26 of [a-z0-9]): safe in a path. */
int	 mm_id_ok(const char *s);
/*
 * A reaction (a Unicode emoji as the daemon sends them, or a name,
 * colons around it or not) as Mattermost's emoji name ("+1",
 * "white_check_mark") into out.  0, or -1 when it has no name here or
 * does not fit.
 */
int	 mm_emoji_name(const char *emoji, char *out, size_t outlen);

/* WebSocket actions (new JSON text, free(); NULL out of memory). */
char	*mm_auth_challenge(long long seq, const char *token);
char	*mm_action(long long seq, const char *action, const char *channel_id,
	    const char *parent_id);

/*
 * A `posted` event's data (its post a JSON string).  Returns the
 * `message` event to emit (new), or NULL with *skip saying why not
 * (static: the bot's own post, a system message, no text, a channel not
 * allowed, a post that is not JSON, out of memory).  A channel of type
 * D is a DM; any other (O, P, G) a group.  was_mentioned when the
 * event's mentions name the bot or the text has @username.
 */
json_t	*mm_message_event(const json_t *data, const struct mm_self *self,
	    const struct mm_filter *f, const char **skip);

#endif /* MATTERMOST_H */
