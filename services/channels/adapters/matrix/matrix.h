/*
 * matrix.h - the Matrix adapter's helpers (matrix_msg.c): user ids and
 * access tokens checked, path segments escaped, transaction ids, text cut
 * at the adapter's limit, the homeserver's error bodies read, and a
 * sync's room timeline events read into `message` events (the bot's own
 * skipped, mentions found).  No state, no I/O; the adapter is matrix.c.
 */
#ifndef MATRIX_H
#define MATRIX_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * A message's body, in bytes of UTF-8.  The spec bounds an event at
 * 65536 bytes of JSON; 16 KiB of text leaves room for its escapes and
 * the event's other members.
 */
#define MX_TEXT_LIMIT	16384
#define MX_ID_MAX	255	/* a user or room id, bytes (the spec's) */

/* Who the bot is: whoami's user id, and the names a mention may use. */
struct mx_self {
	char	ms_user_id[MX_ID_MAX + 1];	/* "@bot:example.org" */
	char	ms_localpart[MX_ID_MAX + 1];	/* "bot" */
	char	ms_display[256];		/* "" when not known */
};

/* Whether s is a user id: "@localpart:server", printable, no space, at
 * most MX_ID_MAX bytes. */
int	 mx_user_id_ok(const char *s);
/* Whether s can be an access token (it goes into a header: printable
 * ASCII without space, 1-1024 bytes). */
int	 mx_token_ok(const char *s);
/* Fills self from a user id (the localpart); the display name is kept. */
void	 mx_self_set(struct mx_self *self, const char *user_id);
/*
 * s as one path segment, percent-encoded (all but A-Z a-z 0-9 - . _ ~)
 * into buf.  0, or -1 when it does not fit or s is empty.
 */
int	 mx_path_escape(const char *s, char *buf, size_t n);
/* A transaction id unique to this process (boot) and call (seq):
 * "lf<boot>.<seq>", where boot is the process's own (start time, pid). */
void	 mx_txn_id(char *buf, size_t n, uint64_t boot, uint64_t seq);

/*
 * A homeserver's JSON error body ({"errcode", "error", "retry_after_ms"})
 * read: *errcode and *error borrowed from body ("" when absent),
 * *retry_ms the retry_after_ms (-1 when absent).
 */
void	 mx_error_body(const json_t *body, const char **errcode,
	    const char **error, long long *retry_ms);

/*
 * Whether content (an m.room.message's) mentions the bot: its user id
 * in m.mentions.user_ids, or (no m.mentions, the older clients) its user
 * id or its display name as a word in body (any case), or a
 * matrix.to link to it in formatted_body.
 */
int	 mx_mentioned(const json_t *content, const struct mx_self *self);

/*
 * One room timeline event into the `message` event to emit (new), or
 * NULL with *skip saying why not (a static string: not m.room.message,
 * not m.text, the bot's own, no event id or sender, a redacted or edited
 * one, out of memory).  sender_name is the sender's display name in the
 * room (or NULL: the localpart); is_group as decided by the caller.
 */
json_t	*mx_event_message(const json_t *ev, const char *room_id,
	    const char *sender_name, int is_group,
	    const struct mx_self *self, const char **skip);

#endif /* MATRIX_H */
