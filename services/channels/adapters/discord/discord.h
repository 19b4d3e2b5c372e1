/*
 * discord.h - the Discord adapter's helpers (discord_msg.c): Gateway
 * payloads built (IDENTIFY, RESUME, heartbeats), close codes sorted,
 * MESSAGE_CREATE read into `message` events, text cut at Discord's limit,
 * ids and emoji made safe for a REST path.  No state, no I/O; the
 * adapter itself is discord.c.
 */
#ifndef DISCORD_H
#define DISCORD_H

#include <stddef.h>

#include <jansson.h>

#define DC_TEXT_LIMIT	2000	/* a message's content, characters */
/* GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT */
#define DC_INTENTS_DEFAULT	((1 << 0) | (1 << 9) | (1 << 12) | (1 << 15))

/* Gateway opcodes. */
#define DC_OP_DISPATCH		0
#define DC_OP_HEARTBEAT		1
#define DC_OP_IDENTIFY		2
#define DC_OP_RESUME		6
#define DC_OP_RECONNECT		7
#define DC_OP_INVALID_SESSION	9
#define DC_OP_HELLO		10
#define DC_OP_HEARTBEAT_ACK	11

/* What the bot is (READY's user). */
struct dc_self {
	char	ds_id[32];
	char	ds_username[64];
};

/* Which messages are taken (NULL-ended lists, or NULL: any). */
struct dc_filter {
	char	**df_guilds;	/* DISCORD_ALLOWED_GUILDS */
	char	**df_users;	/* DISCORD_ALLOWED_USERS: ids or names */
	char	**df_patterns;	/* DISCORD_MENTION_PATTERNS: words that
				   count as a mention (any case) */
	int	  df_ignore_bots;
};

/* What a close code of the Gateway's asks of us. */
enum dc_close_do {
	DC_CLOSE_RESUME,	/* reconnect and resume */
	DC_CLOSE_IDENTIFY,	/* reconnect with a new session */
	DC_CLOSE_FATAL,		/* a configuration error: report, back off */
};

/* Whether token can be a bot token (it goes into a header: printable
 * ASCII without blanks, 1-200 bytes). */
int	 dc_token_ok(const char *token);
/* Whether s is a snowflake (1-20 digits): safe in a REST path. */
int	 dc_snowflake_ok(const char *s);
enum dc_close_do dc_close_do(int code);
/* A close code's name ("authentication failed", ...), or NULL. */
const char *dc_close_name(int code);

/* Gateway payloads (new JSON text, free(); NULL out of memory).  seq < 0
 * is null. */
char	*dc_identify(const char *token, long long intents);
char	*dc_resume(const char *token, const char *session, long long seq);
char	*dc_heartbeat(long long seq);

/* emoji (UTF-8, or "name:id" of a custom one) percent-encoded for a
 * path into out.  0, or -1 when empty or it does not fit. */
int	 dc_emoji_path(const char *emoji, char *out, size_t outlen);

/*
 * A MESSAGE_CREATE's d.  Returns the `message` event to emit (new), or
 * NULL with *skip saying why not (static: the bot's own, another bot's,
 * no text, a guild or user not allowed, out of memory).  A message with
 * guild_id is a group one; was_mentioned when d.mentions names the bot,
 * the content has <@id> or <@!id>, or a mention pattern names it.
 */
json_t	*dc_message_event(const json_t *d, const struct dc_self *self,
	    const struct dc_filter *f, const char **skip);

#endif /* DISCORD_H */
