/*
 * telegram_msg.c - the Telegram adapter's helpers (telegram.h): updates
 * into events, text cut in UTF-16 units, reactions, ids.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "adapter.h"
#include "telegram.h"
#include "util.h"

int
tg_token_ok(const char *token)
{
	size_t	n;

	if (token == NULL || (n = strlen(token)) == 0 || n > 200)
		return (0);
	return (strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
	    "wxyz0123456789:_-") == n);
}

int
tg_blank(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!isspace((unsigned char)s[i]))
			return (0);
	return (1);
}

/* Whether s is a decimal integer that fits a long long (a minus first
 * allowed: group chat ids are negative). */
static int
tg_is_int(const char *s, long long *v)
{
	const char	*d = s[0] == '-' ? s + 1 : s;

	if (*d == '\0' || strlen(d) > 18 || strspn(d, "0123456789") !=
	    strlen(d))
		return (0);
	return (util_strtonum(s, -999999999999999999LL, 999999999999999999LL,
	    v) == 0);
}

json_t *
tg_chat_id(const char *channel_id)
{
	long long	v;

	if (channel_id == NULL || *channel_id == '\0' ||
	    strlen(channel_id) > 128)
		return (NULL);
	if (tg_is_int(channel_id, &v))
		return (json_integer(v));
	return (json_string(channel_id));
}

int
tg_msgid_split(const char *id, char *buf, size_t bufsize, long long *mid)
{
	const char	*c;
	size_t		 k;

	if (id == NULL || (c = strrchr(id, ':')) == NULL || c == id)
		return (-1);
	k = (size_t)(c - id);
	if (k >= bufsize)
		return (-1);
	memcpy(buf, id, k);
	buf[k] = '\0';
	if (!tg_is_int(buf, mid) || !tg_is_int(c + 1, mid) || *mid <= 0)
		return (-1);
	return (0);
}

/* The emoji the Bot API takes as reactions ("ReactionTypeEmoji"). */
static const char *const tg_reactions[] = {
	"👍", "👎", "❤", "🔥", "🥰", "👏", "😁", "🤔", "🤯", "😱", "🤬",
	"😢", "🎉", "🤩", "🤮", "💩", "🙏", "👌", "🕊", "🤡", "🥱", "🥴",
	"😍", "🐳", "❤‍🔥", "🌚", "🌭", "💯", "🤣", "⚡", "🍌", "🏆", "💔",
	"🤨", "😐", "🍓", "🍾", "💋", "🖕", "😈", "😴", "😭", "🤓", "👻",
	"👨‍💻", "👀", "🎃", "🙈", "😇", "😨", "🤝", "✍", "🤗", "🫡", "🎅",
	"🎄", "☃", "💅", "🤪", "🗿", "🆒", "💘", "🙉", "🦄", "😘", "💊",
	"🙊", "😎", "👾", "🤷‍♂", "🤷", "🤷‍♀", "😡", NULL
};

static const struct {
	const char	*phase;
	const char	*emoji;
} tg_phase_emoji[] = {
	{ "queued", "👀" }, { "thinking", "🤔" }, { "tool_use", "✍" },
	{ "streaming", "✍" }, { "done", "👍" }, { "error", "😢" },
	{ NULL, NULL }
};

const char *
tg_reaction_emoji(const char *emoji, const char *phase)
{
	char	bare[64];
	size_t	i, n;

	if (emoji != NULL) {
		/* U+FE0F (variation selector 16) is how ❤️ and ✍️ are often
		 * written; Telegram's list has them without it. */
		n = strlen(emoji);
		if (n >= 3 && n < sizeof(bare) &&
		    memcmp(emoji + n - 3, "\xef\xb8\x8f", 3) == 0) {
			memcpy(bare, emoji, n - 3);
			bare[n - 3] = '\0';
			emoji = bare;
		}
		for (i = 0; tg_reactions[i] != NULL; i++)
			if (strcmp(tg_reactions[i], emoji) == 0)
				return (tg_reactions[i]);
	}
	for (i = 0; phase != NULL && tg_phase_emoji[i].phase != NULL; i++)
		if (strcmp(tg_phase_emoji[i].phase, phase) == 0)
			return (tg_phase_emoji[i].emoji);
	return (NULL);
}

/* ---- updates ------------------------------------------------------------- */

/* An integer member as a decimal string into buf; -1 if not one. */
static int
tg_id(const json_t *o, const char *key, char *buf, size_t n, long long *v)
{
	json_t	*j = json_object_get(o, key);

	if (!json_is_integer(j))
		return (-1);
	*v = json_integer_value(j);
	snprintf(buf, n, "%lld", *v);
	return (0);
}

static const char *
tg_str(const json_t *o, const char *key)
{
	json_t	*j = json_object_get(o, key);

	return (json_is_string(j) && json_string_length(j) > 0 ?
	    json_string_value(j) : NULL);
}

/* Whether the sender passes ALLOWED_USERS. */
static int
tg_user_allowed(const struct tg_filter *f, const char *id,
    const char *username)
{
	size_t	i;
	char	*u;

	if (f == NULL || f->tf_users == NULL || f->tf_users[0] == NULL)
		return (1);
	for (i = 0; (u = f->tf_users[i]) != NULL; i++) {
		if (strcmp(u, id) == 0)
			return (1);
		if (username != NULL && strcasecmp(u[0] == '@' ? u + 1 : u,
		    username) == 0)
			return (1);
	}
	return (0);
}

static int
tg_chat_allowed(const struct tg_filter *f, const char *chat)
{
	size_t	i;

	if (f == NULL || f->tf_chats == NULL || f->tf_chats[0] == NULL)
		return (1);
	for (i = 0; f->tf_chats[i] != NULL; i++)
		if (strcmp(f->tf_chats[i], chat) == 0)
			return (1);
	return (0);
}

/* Whether text names "@username" as a word (any case). */
static int
tg_names(const char *text, const char *username)
{
	size_t		 ul = strlen(username);
	const char	*p;

	if (ul == 0)
		return (0);
	for (p = strchr(text, '@'); p != NULL; p = strchr(p + 1, '@'))
		if (strncasecmp(p + 1, username, ul) == 0 &&
		    !isalnum((unsigned char)p[1 + ul]) && p[1 + ul] != '_')
			return (1);
	return (0);
}

/* A text_mention entity of the bot (a mention of a user without a
 * username), or a reply to one of its messages. */
static int
tg_mentions_id(const json_t *msg, long long id)
{
	json_t	*ents, *e, *r;
	size_t	 i;

	r = json_object_get(json_object_get(msg, "reply_to_message"), "from");
	if (json_integer_value(json_object_get(r, "id")) == id && id != 0)
		return (1);
	ents = json_object_get(msg, "entities");
	json_array_foreach(ents, i, e) {
		if (json_is_string(json_object_get(e, "type")) &&
		    strcmp(json_string_value(json_object_get(e, "type")),
		    "text_mention") == 0 &&
		    json_integer_value(json_object_get(json_object_get(e,
		    "user"), "id")) == id && id != 0)
			return (1);
	}
	return (0);
}

/* "First Last", else the username, else the id (new). */
static char *
tg_display_name(const json_t *from, const char *id)
{
	const char	*first = tg_str(from, "first_name");
	const char	*last = tg_str(from, "last_name");
	const char	*user = tg_str(from, "username");
	char		*s = NULL;

	if (first != NULL && last != NULL) {
		if (asprintf(&s, "%s %s", first, last) < 0)
			s = NULL;
		return (s);
	}
	return (strdup(first != NULL ? first : last != NULL ? last :
	    user != NULL ? user : id));
}

/*
 * "/cmd@bot args": the "@bot" taken off when it is ours (new text in
 * *out, or NULL when nothing changes); 1 when the command is another
 * bot's.
 */
static int
tg_command_addressee(const char *text, const struct tg_self *self,
    char **out)
{
	const char	*at, *end;
	size_t		 ul = strlen(self->ts_username);

	*out = NULL;
	if (text[0] != '/')
		return (0);
	end = text + strcspn(text, " \t\n");
	if ((at = memchr(text, '@', (size_t)(end - text))) == NULL)
		return (0);
	if ((size_t)(end - at - 1) != ul || ul == 0 ||
	    strncasecmp(at + 1, self->ts_username, ul) != 0)
		return (1);
	if (asprintf(out, "%.*s%s", (int)(at - text), text, end) < 0)
		*out = NULL;
	return (0);
}

json_t *
tg_update_event(const json_t *upd, const struct tg_self *self,
    const struct tg_filter *f, long long *update_id, const char **cb_id,
    const char **skip)
{
	struct ad_msg	 m;
	const json_t	*msg, *from, *chat, *cq;
	json_t		*content = NULL, *meta = NULL, *ev = NULL;
	const char	*text, *type, *data;
	char		 uid[24], cid[24], mid[64], *name = NULL, *fixed = NULL;
	long long	 v, fromid, msgno;
	int		 is_group, mentioned;

	*cb_id = NULL;
	*skip = NULL;
	*update_id = json_is_integer(json_object_get(upd, "update_id")) ?
	    json_integer_value(json_object_get(upd, "update_id")) : -1;
	cq = json_object_get(upd, "callback_query");
	msg = json_object_get(upd, "message");
	if (json_is_object(cq)) {
		msg = json_object_get(cq, "message");
		from = json_object_get(cq, "from");
		if ((data = tg_str(cq, "data")) == NULL ||
		    (*cb_id = tg_str(cq, "id")) == NULL) {
			*skip = "a callback query without data or id";
			return (NULL);
		}
		text = data;
	} else if (json_is_object(msg)) {
		from = json_object_get(msg, "from");
		if ((text = tg_str(msg, "text")) == NULL &&
		    (text = tg_str(msg, "caption")) == NULL) {
			*skip = "a message without text";
			return (NULL);
		}
		data = NULL;
	} else {
		*skip = "an update of a kind not asked for";
		return (NULL);
	}
	chat = json_object_get(msg, "chat");
	if (tg_id(from, "id", uid, sizeof(uid), &fromid) != 0) {
		*skip = "no sender";
		return (NULL);
	}
	if (fromid == self->ts_id) {
		*skip = "the bot's own message";
		return (NULL);
	}
	/* A callback on a message we no longer know: the sender's chat. */
	if (tg_id(chat, "id", cid, sizeof(cid), &v) != 0) {
		if (data == NULL) {
			*skip = "no chat";
			return (NULL);
		}
		snprintf(cid, sizeof(cid), "%s", uid);
	}
	if (!tg_user_allowed(f, uid, tg_str(from, "username"))) {
		*skip = "a sender not in ALLOWED_USERS";
		return (NULL);
	}
	if (!tg_chat_allowed(f, cid)) {
		*skip = "a chat not in TELEGRAM_ALLOWED_CHATS";
		return (NULL);
	}
	type = tg_str(chat, "type");
	is_group = type != NULL && strcmp(type, "private") != 0;
	mentioned = 0;
	if (data == NULL) {
		if (tg_command_addressee(text, self, &fixed) != 0) {
			*skip = "a command for another bot";
			return (NULL);
		}
		if (fixed != NULL) {
			text = fixed;
			mentioned = 1;
		}
		mentioned = mentioned || tg_names(text, self->ts_username) ||
		    tg_mentions_id(msg, self->ts_id);
		if (tg_id(msg, "message_id", mid, sizeof(mid), &msgno) != 0) {
			*skip = "no message_id";
			goto done;
		}
		/* Unique per chat only: the chat makes it unique (the
		 * service dedupes on it, so a re-delivery is harmless). */
		snprintf(mid, sizeof(mid), "%s:%lld", cid, msgno);
		content = ad_content_from_text(text);
	} else {
		mentioned = 1;	/* a button of ours */
		snprintf(mid, sizeof(mid), "cb:%.48s", *cb_id);
		content = json_pack("{s:{s:s, s:s?}}", "ButtonCallback",
		    "action", data, "message_text", tg_str(msg, "text"));
	}
	meta = json_pack("{s:b, s:s?}", "was_mentioned", mentioned,
	    "chat_type", type);
	name = tg_display_name(from, uid);
	if (content == NULL || meta == NULL || name == NULL) {
		*skip = "out of memory";
		goto done;
	}
	memset(&m, 0, sizeof(m));
	m.am_user_id = uid;
	m.am_user_name = name;
	m.am_text = text;
	m.am_content = content;
	m.am_channel_id = cid;
	m.am_platform = "telegram";
	m.am_message_id = mid;
	m.am_username = tg_str(from, "username");
	m.am_is_group = is_group;
	m.am_metadata = meta;
	if ((ev = ad_ev_message(&m)) == NULL)
		*skip = "out of memory";
 done:
	json_decref(content);
	json_decref(meta);
	free(name);
	free(fixed);
	return (ev);
}

json_t *
tg_keyboard(const json_t *buttons, size_t *dropped, const char **why)
{
	json_t		*kb = NULL, *rows, *row, *out, *b, *btn;
	const char	*label, *action, *url;
	size_t		 i, j, n = 0;

	*dropped = 0;
	if (!json_is_array(buttons)) {
		*why = "buttons is not an array of rows";
		return (NULL);
	}
	if ((rows = json_array()) == NULL ||
	    (kb = json_pack("{s:o}", "inline_keyboard", rows)) == NULL) {
		*why = "out of memory";
		return (NULL);
	}
	json_array_foreach(buttons, i, row) {
		if (!json_is_array(row)) {
			*why = "a row of buttons is not an array";
			goto fail;
		}
		if ((out = json_array()) == NULL ||
		    json_array_append_new(rows, out) != 0) {
			*why = "out of memory";
			goto fail;
		}
		json_array_foreach(row, j, b) {
			if ((label = tg_str(b, "label")) == NULL) {
				*why = "a button without a label";
				goto fail;
			}
			url = tg_str(b, "url");
			action = tg_str(b, "action");
			if (url != NULL)
				btn = json_pack("{s:s, s:s}", "text", label,
				    "url", url);
			else if (action != NULL &&
			    strlen(action) <= TG_CB_DATA_MAX)
				btn = json_pack("{s:s, s:s}", "text", label,
				    "callback_data", action);
			else {
				(*dropped)++;
				continue;
			}
			if (btn == NULL || json_array_append_new(out,
			    btn) != 0) {
				*why = "out of memory";
				goto fail;
			}
			n++;
		}
	}
	if (n == 0) {
		*why = "no button Telegram can show";
		goto fail;
	}
	/* Rows that lost every button go. */
	for (i = json_array_size(rows); i-- > 0;)
		if (json_array_size(json_array_get(rows, i)) == 0)
			json_array_remove(rows, i);
	return (kb);
 fail:
	json_decref(kb);
	return (NULL);
}
