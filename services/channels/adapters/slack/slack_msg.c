/*
 * slack_msg.c - the Slack adapter's helpers (slack.h): ids, errors,
 * deliveries seen, emoji names, text escaped and cut, envelopes into
 * events.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "adapter.h"
#include "slack.h"

int
sl_token_ok(const char *token, const char *prefix)
{
	size_t	n, i;

	if (token == NULL || strncmp(token, prefix, strlen(prefix)) != 0 ||
	    (n = strlen(token)) <= strlen(prefix) || n > 255)
		return (0);
	for (i = 0; i < n; i++)
		if ((unsigned char)token[i] <= ' ' ||
		    (unsigned char)token[i] >= 0x7f)
			return (0);
	return (1);
}

int
sl_id_ok(const char *s)
{
	size_t	n, i;

	if (s == NULL || (n = strlen(s)) == 0 || n > 32)
		return (0);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]))
			return (0);
	return (1);
}

int
sl_ts_ok(const char *s)
{
	size_t	a, b;

	if (s == NULL || (a = strspn(s, "0123456789")) == 0 || a > 16 ||
	    s[a] != '.')
		return (0);
	b = strspn(s + a + 1, "0123456789");
	return (b > 0 && b <= 12 && s[a + 1 + b] == '\0');
}

enum sl_err_do
sl_error_do(const char *error)
{
	static const char *const auth[] = { "invalid_auth", "not_authed",
	    "account_inactive", "token_revoked", "token_expired",
	    "not_allowed_token_type", "ekm_access_denied", NULL };
	static const char *const retry[] = { "internal_error", "fatal_error",
	    "service_unavailable", "request_timeout", "team_added_to_org",
	    NULL };
	size_t	i;

	if (error == NULL)
		return (SL_ERR_REPORT);
	if (strcmp(error, "ratelimited") == 0 ||
	    strcmp(error, "rate_limited") == 0)
		return (SL_ERR_RATE);
	if (strcmp(error, "already_reacted") == 0 ||
	    strcmp(error, "no_reaction") == 0)
		return (SL_ERR_HARMLESS);
	for (i = 0; auth[i] != NULL; i++)
		if (strcmp(error, auth[i]) == 0)
			return (SL_ERR_AUTH);
	for (i = 0; retry[i] != NULL; i++)
		if (strcmp(error, retry[i]) == 0)
			return (SL_ERR_RETRY);
	return (SL_ERR_REPORT);
}

int
sl_seen_add(struct sl_seen *s, const char *key)
{
	unsigned int	i;

	if (key == NULL || *key == '\0')
		return (1);
	for (i = 0; i < SL_SEEN_MAX; i++)
		if (strcmp(s->s_key[i], key) == 0)
			return (0);
	snprintf(s->s_key[s->s_next++ % SL_SEEN_MAX], SL_KEY_MAX, "%s", key);
	return (1);
}

/* The emoji of the turn's phases (the channels service's, chan_proto.c)
 * and a few common ones, as Slack names them. */
static const struct {
	const char	*utf8;
	const char	*name;
} sl_emoji[] = {
	{ "\xe2\x8f\xb3", "hourglass_flowing_sand" },
	{ "\xe2\x8c\x9b", "hourglass" },
	{ "\xf0\x9f\xa4\x94", "thinking_face" },
	{ "\xe2\x9a\x99\xef\xb8\x8f", "gear" },
	{ "\xe2\x9a\x99", "gear" },
	{ "\xe2\x9c\x8d\xef\xb8\x8f", "writing_hand" },
	{ "\xe2\x9c\x8d", "writing_hand" },
	{ "\xe2\x9c\x85", "white_check_mark" },
	{ "\xe2\x9d\x8c", "x" },
	{ "\xf0\x9f\x91\x8d", "+1" },
	{ "\xf0\x9f\x91\x8e", "-1" },
	{ "\xf0\x9f\x91\x80", "eyes" },
	{ "\xe2\x9d\xa4\xef\xb8\x8f", "heart" },
	{ "\xf0\x9f\x8e\x89", "tada" },
	{ "\xf0\x9f\x94\xa5", "fire" },
	{ "\xf0\x9f\x98\x80", "grinning" },
	{ "\xf0\x9f\x99\x8f", "pray" },
	{ "\xe2\x9a\xa0\xef\xb8\x8f", "warning" },
	{ "\xf0\x9f\x9a\x80", "rocket" },
};

int
sl_emoji_name(const char *emoji, char *out, size_t outlen)
{
	size_t	i, n;

	if (emoji == NULL || *emoji == '\0')
		return (-1);
	for (i = 0; i < sizeof(sl_emoji) / sizeof(sl_emoji[0]); i++)
		if (strcmp(emoji, sl_emoji[i].utf8) == 0) {
			snprintf(out, outlen, "%s", sl_emoji[i].name);
			return (0);
		}
	/* A name: ":name:" or "name" (letters, digits, _ + - '). */
	if (*emoji == ':')
		emoji++;
	n = strlen(emoji);
	if (n > 0 && emoji[n - 1] == ':')
		n--;
	if (n == 0 || n >= outlen || n > 100)
		return (-1);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)emoji[i]) && emoji[i] != '_' &&
		    emoji[i] != '+' && emoji[i] != '-' && emoji[i] != '\'')
			return (-1);
	memcpy(out, emoji, n);
	out[n] = '\0';
	return (0);
}

char *
sl_unescape(const char *s, size_t n)
{
	char	*o;
	size_t	 i, k = 0;

	if ((o = malloc(n + 1)) == NULL)
		return (NULL);
	for (i = 0; i < n; i++) {
		if (s[i] == '&' && n - i >= 4 && memcmp(s + i, "&lt;", 4) == 0) {
			o[k++] = '<';
			i += 3;
		} else if (s[i] == '&' && n - i >= 4 &&
		    memcmp(s + i, "&gt;", 4) == 0) {
			o[k++] = '>';
			i += 3;
		} else if (s[i] == '&' && n - i >= 5 &&
		    memcmp(s + i, "&amp;", 5) == 0) {
			o[k++] = '&';
			i += 4;
		} else
			o[k++] = s[i];
	}
	o[k] = '\0';
	return (o);
}

/* How many more characters escaping adds to n bytes of s. */
static size_t
sl_escape_extra(const char *s, size_t n)
{
	size_t	i, x = 0;

	for (i = 0; i < n; i++)
		x += s[i] == '&' ? 4 : s[i] == '<' || s[i] == '>' ? 3 : 0;
	return (x);
}

char *
sl_escape(const char *s, size_t n)
{
	char	*o;
	size_t	 i, k = 0;

	if ((o = malloc(n + sl_escape_extra(s, n) + 1)) == NULL)
		return (NULL);
	for (i = 0; i < n; i++) {
		if (s[i] == '&') {
			memcpy(o + k, "&amp;", 5);
			k += 5;
		} else if (s[i] == '<') {
			memcpy(o + k, "&lt;", 4);
			k += 4;
		} else if (s[i] == '>') {
			memcpy(o + k, "&gt;", 4);
			k += 4;
		} else
			o[k++] = s[i];
	}
	o[k] = '\0';
	return (o);
}

size_t
sl_text_cut(const char *s, size_t n, size_t limit)
{
	size_t	lim = limit, k, raw, units;

	/* The cut counts the text as it is; the escapes make the part
	 * longer: cut again, shorter in the proportion it went over (by
	 * one at least), until it fits. */
	for (;;) {
		k = ad_text_cut(s, n, lim, AD_UNIT_UTF16);
		raw = ad_utf16_len(s, k);
		units = raw + sl_escape_extra(s, k);
		if (units <= limit || raw <= 1)
			return (k);
		lim = (size_t)((unsigned long long)raw * limit / units);
		if (lim >= raw)
			lim = raw - 1;
		if (lim == 0)
			lim = 1;
	}
}

static const char *
sl_str(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

static int
sl_listed(char **list, const char *id)
{
	size_t	i;

	if (list == NULL || list[0] == NULL)
		return (1);
	for (i = 0; list[i] != NULL; i++)
		if (strcasecmp(list[i], id) == 0)
			return (1);
	return (0);
}

/* The message event itself (text is Slack's, still escaped). */
static json_t *
sl_event(const char *uid, const char *name, const char *username,
    const char *text, const char *cid, const char *mid, const char *thread,
    int group, int mentioned, const char *team, const char **skip)
{
	struct ad_msg	 m;
	json_t		*content = NULL, *meta = NULL, *ev = NULL;
	char		*plain;

	if ((plain = sl_unescape(text, strlen(text))) == NULL) {
		*skip = "out of memory";
		return (NULL);
	}
	content = ad_content_from_text(plain);
	meta = json_pack("{s:b}", "was_mentioned", mentioned);
	if (meta != NULL && team != NULL)
		json_object_set_new(meta, "team_id", json_string(team));
	if (content == NULL || meta == NULL) {
		*skip = "out of memory";
		goto done;
	}
	memset(&m, 0, sizeof(m));
	m.am_user_id = uid;
	m.am_user_name = name;
	m.am_text = plain;
	m.am_content = content;
	m.am_channel_id = cid;
	m.am_platform = "slack";
	m.am_message_id = mid;
	m.am_username = username;
	m.am_thread_id = thread;
	m.am_is_group = group;
	m.am_metadata = meta;
	if ((ev = ad_ev_message(&m)) == NULL)
		*skip = "out of memory";
 done:
	free(plain);
	json_decref(content);
	json_decref(meta);
	return (ev);
}

/* A subtype that is still a person's message. */
static int
sl_subtype_ok(const char *st)
{
	return (st == NULL || strcmp(st, "thread_broadcast") == 0 ||
	    strcmp(st, "file_share") == 0 || strcmp(st, "me_message") == 0);
}

static json_t *
sl_event_message(const json_t *e, const char *etype, const char *team,
    const struct sl_self *self, const struct sl_filter *f, char *key,
    size_t keylen, const char **skip)
{
	const json_t	*prof = json_object_get(e, "user_profile");
	const char	*uid, *text, *cid, *ts, *thread, *ctype, *name, *un;
	char		 tag[48];
	int		 group, mentioned;

	uid = sl_str(e, "user");
	text = sl_str(e, "text");
	cid = sl_str(e, "channel");
	ts = sl_str(e, "ts");
	thread = sl_str(e, "thread_ts");
	ctype = sl_str(e, "channel_type");
	if (!sl_subtype_ok(sl_str(e, "subtype"))) {
		*skip = "a message's subtype (an edit, a join, a bot's)";
		return (NULL);
	}
	if (json_object_get(e, "bot_id") != NULL &&
	    !json_is_null(json_object_get(e, "bot_id"))) {
		*skip = "a bot's message";
		return (NULL);
	}
	if (uid == NULL || cid == NULL || !sl_ts_ok(ts)) {
		*skip = "no user, channel or ts";
		return (NULL);
	}
	if (strcmp(uid, self->ss_user_id) == 0) {
		*skip = "the bot's own message";
		return (NULL);
	}
	if (text == NULL || *text == '\0') {
		*skip = "a message without text";
		return (NULL);
	}
	if (!sl_listed(f->sf_channels, cid)) {
		*skip = "a channel not in SLACK_ALLOWED_CHANNELS";
		return (NULL);
	}
	/* A DM: channel_type im, or a D... channel. */
	group = ctype != NULL ? strcmp(ctype, "im") != 0 : cid[0] != 'D';
	mentioned = strcmp(etype, "app_mention") == 0;
	if (!mentioned && self->ss_user_id[0] != '\0') {
		snprintf(tag, sizeof(tag), "<@%s>", self->ss_user_id);
		mentioned = strstr(text, tag) != NULL;
		snprintf(tag, sizeof(tag), "<@%s|", self->ss_user_id);
		mentioned = mentioned || strstr(text, tag) != NULL;
	}
	un = sl_str(prof, "name");
	name = sl_str(prof, "display_name");
	if (name == NULL || *name == '\0')
		name = sl_str(prof, "real_name");
	if (name == NULL || *name == '\0')
		name = un != NULL && *un != '\0' ? un : uid;
	snprintf(key, keylen, "%s:%s", cid, ts);
	return (sl_event(uid, name, un, text, cid, ts,
	    thread != NULL && sl_ts_ok(thread) ? thread : NULL, group,
	    mentioned, team, skip));
}

static json_t *
sl_command_message(const json_t *p, const struct sl_filter *f, char *key,
    size_t keylen, const char **skip)
{
	const char	*uid, *un, *cid, *cmd, *args, *trig, *team;
	char		*text;
	json_t		*ev;
	size_t		 n;

	uid = sl_str(p, "user_id");
	un = sl_str(p, "user_name");
	cid = sl_str(p, "channel_id");
	cmd = sl_str(p, "command");
	args = sl_str(p, "text");
	trig = sl_str(p, "trigger_id");
	team = sl_str(p, "team_id");
	if (uid == NULL || cid == NULL || cmd == NULL || cmd[0] != '/' ||
	    cmd[1] == '\0') {
		*skip = "a slash command without user, channel or command";
		return (NULL);
	}
	if (!sl_listed(f->sf_channels, cid)) {
		*skip = "a channel not in SLACK_ALLOWED_CHANNELS";
		return (NULL);
	}
	n = strlen(cmd) + (args != NULL ? strlen(args) : 0) + 2;
	if ((text = malloc(n)) == NULL) {
		*skip = "out of memory";
		return (NULL);
	}
	snprintf(text, n, "%s%s%s", cmd, args != NULL && *args != '\0' ?
	    " " : "", args != NULL ? args : "");
	snprintf(key, keylen, "cmd:%s", trig != NULL ? trig : "");
	/* Addressed to the bot: a mention, for the mention-only policy. */
	ev = sl_event(uid, un != NULL ? un : uid, un, text, cid, trig, NULL,
	    cid[0] != 'D', 1, team, skip);
	free(text);
	return (ev);
}

json_t *
sl_envelope_message(const json_t *env, const struct sl_self *self,
    const struct sl_filter *f, char *key, size_t keylen, const char **skip)
{
	const char	*type = sl_str(env, "type"), *etype;
	const json_t	*p = json_object_get(env, "payload"), *e;

	*skip = NULL;
	key[0] = '\0';
	if (type != NULL && strcmp(type, "slash_commands") == 0)
		return (sl_command_message(p, f, key, keylen, skip));
	if (type == NULL || strcmp(type, "events_api") != 0) {
		*skip = "not an event or a command";
		return (NULL);
	}
	e = json_object_get(p, "event");
	etype = sl_str(e, "type");
	if (etype == NULL || (strcmp(etype, "message") != 0 &&
	    strcmp(etype, "app_mention") != 0)) {
		*skip = "an event other than message or app_mention";
		return (NULL);
	}
	return (sl_event_message(e, etype, sl_str(p, "team_id"), self, f,
	    key, keylen, skip));
}
