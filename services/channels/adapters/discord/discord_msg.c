/*
 * discord_msg.c - the Discord adapter's helpers (discord.h): Gateway
 * payloads, close codes, MESSAGE_CREATE into events, text cut, ids.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "adapter.h"
#include "discord.h"

int
dc_token_ok(const char *token)
{
	size_t	n, i;

	if (token == NULL || (n = strlen(token)) == 0 || n > 200)
		return (0);
	for (i = 0; i < n; i++)
		if ((unsigned char)token[i] <= ' ' ||
		    (unsigned char)token[i] >= 0x7f)
			return (0);
	return (1);
}

int
dc_snowflake_ok(const char *s)
{
	size_t	n;

	return (s != NULL && (n = strlen(s)) > 0 && n <= 20 &&
	    strspn(s, "0123456789") == n);
}

enum dc_close_do
dc_close_do(int code)
{
	switch (code) {
	case 4004:	/* authentication failed */
	case 4010:	/* invalid shard */
	case 4011:	/* sharding required */
	case 4012:	/* invalid API version */
	case 4013:	/* invalid intents */
	case 4014:	/* disallowed intents */
		return (DC_CLOSE_FATAL);
	case 4007:	/* invalid seq */
	case 4009:	/* session timed out */
		return (DC_CLOSE_IDENTIFY);
	default:
		return (DC_CLOSE_RESUME);
	}
}

const char *
dc_close_name(int code)
{
	switch (code) {
	case 4000: return ("unknown error");
	case 4001: return ("unknown opcode");
	case 4002: return ("decode error");
	case 4003: return ("not authenticated");
	case 4004: return ("authentication failed: the bot token was "
	    "refused");
	case 4005: return ("already authenticated");
	case 4007: return ("invalid seq");
	case 4008: return ("rate limited");
	case 4009: return ("session timed out");
	case 4010: return ("invalid shard");
	case 4011: return ("sharding required");
	case 4012: return ("invalid API version");
	case 4013: return ("invalid intents");
	case 4014: return ("disallowed intents: enable the Message Content "
	    "intent in the developer portal");
	default: return (NULL);
	}
}

static char *
dc_dump(json_t *j)
{
	char	*s;

	if (j == NULL)
		return (NULL);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return (s);
}

char *
dc_identify(const char *token, long long intents)
{
	return (dc_dump(json_pack("{s:i, s:{s:s, s:I, s:{s:s, s:s, s:s}}}",
	    "op", DC_OP_IDENTIFY, "d", "token", token, "intents",
	    (json_int_t)intents, "properties", "os", "linux", "browser",
	    "librefang", "device", "librefang")));
}

char *
dc_resume(const char *token, const char *session, long long seq)
{
	return (dc_dump(json_pack("{s:i, s:{s:s, s:s, s:o}}", "op",
	    DC_OP_RESUME, "d", "token", token, "session_id", session, "seq",
	    seq >= 0 ? json_integer(seq) : json_null())));
}

char *
dc_heartbeat(long long seq)
{
	return (dc_dump(json_pack("{s:i, s:o}", "op", DC_OP_HEARTBEAT, "d",
	    seq >= 0 ? json_integer(seq) : json_null())));
}

int
dc_emoji_path(const char *emoji, char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*e = (const unsigned char *)emoji;
	size_t			 o = 0;

	if (emoji == NULL || *emoji == '\0')
		return (-1);
	for (; *e != '\0'; e++) {
		if (o + 4 > outlen)
			return (-1);
		if (isalnum(*e) || *e == '_' || *e == '-' || *e == '.' ||
		    *e == '~' || *e == ':')
			out[o++] = (char)*e;
		else {
			out[o++] = '%';
			out[o++] = hex[*e >> 4];
			out[o++] = hex[*e & 0xf];
		}
	}
	out[o] = '\0';
	return (0);
}

static const char *
dc_str(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

/* Whether list (NULL: any) holds one of a or b (b may be NULL; any
 * case). */
static int
dc_listed(char **list, const char *a, const char *b)
{
	size_t	i;

	if (list == NULL || list[0] == NULL)
		return (1);
	for (i = 0; list[i] != NULL; i++)
		if ((a != NULL && strcasecmp(list[i], a) == 0) ||
		    (b != NULL && strcasecmp(list[i], b) == 0))
			return (1);
	return (0);
}

/* Whether text names the bot: <@id>, <@!id>, or a pattern as a word
 * (any case). */
static int
dc_names_bot(const char *text, const struct dc_self *self,
    char **patterns)
{
	char		tag[40];
	const char	*p;
	size_t		i, pl;

	if (self->ds_id[0] != '\0') {
		snprintf(tag, sizeof(tag), "<@%s>", self->ds_id);
		if (strstr(text, tag) != NULL)
			return (1);
		snprintf(tag, sizeof(tag), "<@!%s>", self->ds_id);
		if (strstr(text, tag) != NULL)
			return (1);
	}
	for (i = 0; patterns != NULL && patterns[i] != NULL; i++) {
		if ((pl = strlen(patterns[i])) == 0)
			continue;
		for (p = text; *p != '\0'; p++)
			if (strncasecmp(p, patterns[i], pl) == 0 &&
			    (p == text || !isalnum((unsigned char)p[-1])) &&
			    !isalnum((unsigned char)p[pl]))
				return (1);
	}
	return (0);
}

json_t *
dc_message_event(const json_t *d, const struct dc_self *self,
    const struct dc_filter *f, const char **skip)
{
	struct ad_msg	 m;
	const json_t	*author, *mentions, *x;
	json_t		*content = NULL, *meta = NULL, *ev = NULL;
	const char	*uid, *uname, *name, *text, *cid, *mid, *gid, *xid;
	size_t		 i;
	int		 mentioned = 0;

	*skip = NULL;
	author = json_object_get(d, "author");
	uid = dc_str(author, "id");
	uname = dc_str(author, "username");
	text = dc_str(d, "content");
	cid = dc_str(d, "channel_id");
	mid = dc_str(d, "id");
	gid = dc_str(d, "guild_id");
	if (uid == NULL || cid == NULL || mid == NULL) {
		*skip = "no author, channel or id";
		return (NULL);
	}
	if (strcmp(uid, self->ds_id) == 0) {
		*skip = "the bot's own message";
		return (NULL);
	}
	if (f->df_ignore_bots && json_is_true(json_object_get(author, "bot"))) {
		*skip = "another bot's message (DISCORD_IGNORE_BOTS)";
		return (NULL);
	}
	if (text == NULL || *text == '\0') {
		*skip = "a message without text (no Message Content intent?)";
		return (NULL);
	}
	if (gid != NULL && !dc_listed(f->df_guilds, gid, NULL)) {
		*skip = "a guild not in DISCORD_ALLOWED_GUILDS";
		return (NULL);
	}
	if (!dc_listed(f->df_users, uid, uname)) {
		*skip = "a sender not in DISCORD_ALLOWED_USERS";
		return (NULL);
	}
	mentions = json_object_get(d, "mentions");
	json_array_foreach(mentions, i, x)
		if ((xid = dc_str(x, "id")) != NULL &&
		    strcmp(xid, self->ds_id) == 0)
			mentioned = 1;
	mentioned = mentioned || dc_names_bot(text, self, f->df_patterns);
	name = dc_str(author, "global_name");
	if (name == NULL || *name == '\0')
		name = uname != NULL ? uname : uid;
	content = ad_content_from_text(text);
	meta = json_pack("{s:b}", "was_mentioned", mentioned);
	if (meta != NULL && gid != NULL)
		json_object_set_new(meta, "guild_id", json_string(gid));
	if (content == NULL || meta == NULL) {
		*skip = "out of memory";
		goto done;
	}
	memset(&m, 0, sizeof(m));
	m.am_user_id = uid;
	m.am_user_name = name;
	m.am_text = text;
	m.am_content = content;
	m.am_channel_id = cid;
	m.am_platform = "discord";
	m.am_message_id = mid;
	m.am_username = uname;
	m.am_is_group = gid != NULL;
	m.am_metadata = meta;
	if ((ev = ad_ev_message(&m)) == NULL)
		*skip = "out of memory";
 done:
	json_decref(content);
	json_decref(meta);
	return (ev);
}
