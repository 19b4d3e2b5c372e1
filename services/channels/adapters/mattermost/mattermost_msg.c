/*
 * mattermost_msg.c - the Mattermost adapter's helpers (mattermost.h):
 * ids, emoji names, WebSocket actions, `posted` into events.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "adapter.h"
#include "mattermost.h"

int
mm_token_ok(const char *token)
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
mm_id_ok(const char *s)
{
	return (s != NULL && strlen(s) == MM_ID_LEN &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789") == MM_ID_LEN);
}

/* The emoji the daemon's phases use (chan_proto.c) and a few common
 * ones, by Mattermost's names.  A variation selector (U+FE0F) after one
 * is ignored. */
static const struct {
	const char	*utf8;
	const char	*name;
} mm_emoji[] = {
	{ "\xe2\x8f\xb3",	"hourglass_flowing_sand" },
	{ "\xe2\x8c\x9b",	"hourglass" },
	{ "\xf0\x9f\xa4\x94",	"thinking_face" },
	{ "\xe2\x9a\x99",	"gear" },
	{ "\xe2\x9c\x8d",	"writing_hand" },
	{ "\xe2\x9c\x85",	"white_check_mark" },
	{ "\xe2\x9d\x8c",	"x" },
	{ "\xf0\x9f\x91\x8d",	"+1" },
	{ "\xf0\x9f\x91\x8e",	"-1" },
	{ "\xf0\x9f\x91\x80",	"eyes" },
	{ "\xf0\x9f\x8e\x89",	"tada" },
	{ "\xe2\x9d\xa4",	"heart" },
	{ "\xf0\x9f\x98\x84",	"smile" },
	{ "\xf0\x9f\x9a\x80",	"rocket" },
	{ "\xe2\x9a\xa0",	"warning" },
};

int
mm_emoji_name(const char *emoji, char *out, size_t outlen)
{
	size_t	n, i, k;

	if (emoji == NULL || (n = strlen(emoji)) == 0)
		return (-1);
	/* A variation selector-16 at the end is not part of the name. */
	if (n > 3 && memcmp(emoji + n - 3, "\xef\xb8\x8f", 3) == 0)
		n -= 3;
	for (i = 0; i < sizeof(mm_emoji) / sizeof(mm_emoji[0]); i++)
		if (strlen(mm_emoji[i].utf8) == n &&
		    memcmp(mm_emoji[i].utf8, emoji, n) == 0) {
			if (strlen(mm_emoji[i].name) >= outlen)
				return (-1);
			snprintf(out, outlen, "%s", mm_emoji[i].name);
			return (0);
		}
	/* A name: ":name:" or "name", [a-z0-9_+-], 1-64. */
	if (emoji[0] == ':' && n > 2 && emoji[n - 1] == ':') {
		emoji++;
		n -= 2;
	}
	if (n == 0 || n > 64 || n >= outlen)
		return (-1);
	for (k = 0; k < n; k++)
		if (!(islower((unsigned char)emoji[k]) ||
		    isdigit((unsigned char)emoji[k]) || emoji[k] == '_' ||
		    emoji[k] == '+' || emoji[k] == '-'))
			return (-1);
	memcpy(out, emoji, n);
	out[n] = '\0';
	return (0);
}

static char *
mm_dump(json_t *j)
{
	char	*s;

	if (j == NULL)
		return (NULL);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return (s);
}

char *
mm_auth_challenge(long long seq, const char *token)
{
	return (mm_dump(json_pack("{s:I, s:s, s:{s:s}}", "seq",
	    (json_int_t)seq, "action", "authentication_challenge", "data",
	    "token", token)));
}

char *
mm_action(long long seq, const char *action, const char *channel_id,
    const char *parent_id)
{
	json_t	*j;

	j = json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "action", action);
	if (j != NULL && channel_id != NULL)
		json_object_set_new(j, "data", json_pack("{s:s, s:s}",
		    "channel_id", channel_id, "parent_id",
		    parent_id != NULL ? parent_id : ""));
	return (mm_dump(j));
}

static const char *
mm_str(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

/* Whether list (NULL or empty: any) holds a or b (any case). */
static int
mm_listed(char **list, const char *a, const char *b)
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

/* Whether text has @username as a word (any case). */
static int
mm_names_bot(const char *text, const char *username)
{
	const char	*p;
	size_t		 ul = strlen(username);

	if (ul == 0)
		return (0);
	for (p = strchr(text, '@'); p != NULL; p = strchr(p + 1, '@'))
		if (strncasecmp(p + 1, username, ul) == 0 &&
		    (p == text || !isalnum((unsigned char)p[-1])) &&
		    !isalnum((unsigned char)p[1 + ul]) && p[1 + ul] != '_' &&
		    p[1 + ul] != '-')
			return (1);
	return (0);
}

/* Whether the event's mentions (a JSON string of an array of user ids)
 * hold id. */
static int
mm_mentions(const json_t *data, const char *id)
{
	const char	*s = mm_str(data, "mentions");
	json_t		*a, *x;
	size_t		 i;
	int		 found = 0;

	if (s == NULL || (a = json_loads(s, 0, NULL)) == NULL)
		return (0);
	json_array_foreach(a, i, x)
		if (json_is_string(x) && strcmp(json_string_value(x), id) == 0)
			found = 1;
	json_decref(a);
	return (found);
}

json_t *
mm_message_event(const json_t *data, const struct mm_self *self,
    const struct mm_filter *f, const char **skip)
{
	struct ad_msg	 m;
	json_t		*post, *content = NULL, *meta = NULL, *ev = NULL;
	const char	*ps, *uid, *text, *cid, *pid, *root, *type, *ctype;
	const char	*cname, *sender, *team;
	int		 mentioned, dm;

	*skip = NULL;
	post = (ps = mm_str(data, "post")) != NULL ? json_loads(ps, 0,
	    NULL) : NULL;
	if (!json_is_object(post)) {
		json_decref(post);
		*skip = "a post that is not a JSON object";
		return (NULL);
	}
	uid = mm_str(post, "user_id");
	cid = mm_str(post, "channel_id");
	pid = mm_str(post, "id");
	text = mm_str(post, "message");
	root = mm_str(post, "root_id");
	type = mm_str(post, "type");
	ctype = mm_str(data, "channel_type");
	cname = mm_str(data, "channel_name");
	team = mm_str(data, "team_id");
	if (uid == NULL || cid == NULL || pid == NULL || *uid == '\0' ||
	    *cid == '\0' || *pid == '\0') {
		*skip = "no user, channel or id";
		goto done;
	}
	if (strcmp(uid, self->ms_id) == 0) {
		*skip = "the bot's own post";
		goto done;
	}
	if (type != NULL && *type != '\0') {
		*skip = "a system message";
		goto done;
	}
	if (text == NULL || *text == '\0') {
		*skip = "a post without text";
		goto done;
	}
	dm = ctype != NULL && strcmp(ctype, "D") == 0;
	if (!dm && !mm_listed(f->mf_channels, cid, cname)) {
		*skip = "a channel not in MATTERMOST_ALLOWED_CHANNELS";
		goto done;
	}
	/* sender_name is "@alice" (older servers: "alice"). */
	sender = mm_str(data, "sender_name");
	if (sender != NULL && *sender == '@')
		sender++;
	if (sender == NULL || *sender == '\0')
		sender = uid;
	mentioned = mm_mentions(data, self->ms_id) ||
	    mm_names_bot(text, self->ms_username);
	content = ad_content_from_text(text);
	meta = json_pack("{s:b, s:s}", "was_mentioned", mentioned,
	    "channel_type", ctype != NULL ? ctype : "");
	if (meta != NULL && cname != NULL && *cname != '\0')
		json_object_set_new(meta, "channel_name", json_string(cname));
	if (meta != NULL && team != NULL && *team != '\0')
		json_object_set_new(meta, "team_id", json_string(team));
	if (content == NULL || meta == NULL) {
		*skip = "out of memory";
		goto done;
	}
	memset(&m, 0, sizeof(m));
	m.am_user_id = uid;
	m.am_user_name = sender;
	m.am_text = text;
	m.am_content = content;
	m.am_channel_id = cid;
	m.am_platform = "mattermost";
	m.am_message_id = pid;
	m.am_username = sender;
	m.am_thread_id = root != NULL && *root != '\0' ? root : NULL;
	m.am_is_group = !dm;
	m.am_metadata = meta;
	if ((ev = ad_ev_message(&m)) == NULL)
		*skip = "out of memory";
 done:
	json_decref(content);
	json_decref(meta);
	json_decref(post);
	return (ev);
}
