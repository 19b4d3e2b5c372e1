/*
 * t_telegram.c - the Telegram adapter's helpers (services/channels/
 * adapters/telegram/telegram_msg.c): text cut at 4096 UTF-16 units at
 * line or word boundaries and never inside a character, chat and
 * message ids, reactions mapped onto Telegram's emoji, updates read into
 * `message` events (private, group, mentions, commands, filters, button
 * presses), inline keyboards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "tap.h"
#include "telegram.h"

static int
t_token(void)
{
	T_OK(tg_token_ok("123456:ABC-def_ghi"));
	T_OK(!tg_token_ok(""));
	T_OK(!tg_token_ok(NULL));
	T_OK(!tg_token_ok("123/../x"));
	T_OK(!tg_token_ok("12 34"));
	T_OK(!tg_token_ok("a?b"));
	return (0);
}

static int
t_utf16(void)
{
	T_EQ_INT(ad_utf16_len("abc", 3), 3);
	T_EQ_INT(ad_utf16_len("é", strlen("é")), 1);		/* 2 bytes */
	T_EQ_INT(ad_utf16_len("€", strlen("€")), 1);		/* 3 bytes */
	T_EQ_INT(ad_utf16_len("😀", strlen("😀")), 2);		/* a pair */
	T_EQ_INT(ad_utf16_len("\xff\xfe", 2), 2);		/* not UTF-8 */
	return (0);
}

/* Cuts s with limit into pieces; checks each fits, none splits a
 * character, they add up to s; the number of pieces. */
static int
pieces(const char *s, size_t limit, size_t *count, size_t first[8])
{
	size_t	n = strlen(s), k, i = 0;

	*count = 0;
	while (n > 0) {
		k = ad_text_cut(s, n, limit, AD_UNIT_UTF16);
		if (k == 0 || k > n)
			return (-1);
		if (ad_utf16_len(s, k) > limit && k > 4)
			return (-1);
		/* A piece ends on a character's end. */
		if (k < n && ((unsigned char)s[k] & 0xc0) == 0x80)
			return (-1);
		if (i < 8)
			first[i++] = k;
		(*count)++;
		s += k;
		n -= k;
	}
	return (0);
}

static int
t_split(void)
{
	size_t	c, f[8];
	char	*big;
	int	i;

	/* Fits: one piece. */
	T_EQ_INT(ad_text_cut("hello", 5, 10, AD_UNIT_UTF16), 5);
	/* After the last newline that fits, else the last space. */
	T_EQ_INT(ad_text_cut("ab\ncd ef gh", 11, 7, AD_UNIT_UTF16), 3);
	T_EQ_INT(ad_text_cut("ab cd ef gh", 11, 7, AD_UNIT_UTF16), 6);
	/* No break at all: at the limit, a whole character. */
	T_EQ_INT(ad_text_cut("abcdefgh", 8, 3, AD_UNIT_UTF16), 3);
	/* An emoji is two units: "a😀" is 3, a fourth unit does not fit
	 * the emoji, so the cut comes before it. */
	T_EQ_INT(ad_text_cut("a😀b", strlen("a😀b"), 2, AD_UNIT_UTF16), 1);
	T_EQ_INT(ad_text_cut("a😀b", strlen("a😀b"), 3, AD_UNIT_UTF16), 5);
	T_EQ_INT(ad_text_cut("😀😀", 8, 1, AD_UNIT_UTF16), 4);	/* at least one char */
	/* 3000 emoji: 6000 units, 12000 bytes: two pieces, the first at
	 * 4096 units (2048 emoji, 8192 bytes). */
	T_OK((big = malloc(3000 * 4 + 1)) != NULL);
	for (i = 0; i < 3000; i++)
		memcpy(big + i * 4, "😀", 4);
	big[12000] = '\0';
	T_OK(pieces(big, TG_TEXT_LIMIT, &c, f) == 0 || (free(big), 0));
	free(big);
	T_EQ_INT(c, 2);
	T_EQ_INT(f[0], 8192);
	/* Words: 1000 "word " pieces = 5000 units: cut after a space. */
	T_OK((big = malloc(5001)) != NULL);
	for (i = 0; i < 1000; i++)
		memcpy(big + i * 5, "word ", 5);
	big[5000] = '\0';
	T_OK(pieces(big, TG_TEXT_LIMIT, &c, f) == 0 || (free(big), 0));
	free(big);
	T_EQ_INT(c, 2);
	T_EQ_INT(f[0], 4095);
	T_OK(tg_blank(" \n\t", 3));
	T_OK(!tg_blank(" x", 2));
	return (0);
}

static int
t_ids(void)
{
	json_t		*j;
	char		 buf[32];
	long long	 mid;

	j = tg_chat_id("123");
	T_OK(json_is_integer(j) && json_integer_value(j) == 123);
	json_decref(j);
	j = tg_chat_id("-1001234567890");
	T_OK(json_is_integer(j) && json_integer_value(j) == -1001234567890LL);
	json_decref(j);
	j = tg_chat_id("@mychannel");
	T_OK(json_is_string(j));
	json_decref(j);
	T_OK(tg_chat_id("") == NULL);
	T_OK(tg_msgid_split("-100123:45", buf, sizeof(buf), &mid) == 0);
	T_EQ_STR(buf, "-100123");
	T_EQ_INT(mid, 45);
	T_OK(tg_msgid_split("cb:7", buf, sizeof(buf), &mid) == -1);
	T_OK(tg_msgid_split("12:x", buf, sizeof(buf), &mid) == -1);
	T_OK(tg_msgid_split("12", buf, sizeof(buf), &mid) == -1);
	T_OK(tg_msgid_split(NULL, buf, sizeof(buf), &mid) == -1);
	return (0);
}

static int
t_reactions(void)
{
	T_EQ_STR(tg_reaction_emoji("🤔", "thinking"), "🤔");
	/* ⏳ ✅ ❌ are no Telegram reactions: the phase's stand-in. */
	T_EQ_STR(tg_reaction_emoji("⏳", "queued"), "👀");
	T_EQ_STR(tg_reaction_emoji("✅", "done"), "👍");
	T_EQ_STR(tg_reaction_emoji("❌", "error"), "😢");
	T_EQ_STR(tg_reaction_emoji("🔧", "tool_use"), "✍");
	/* U+FE0F dropped: ❤️ is ❤. */
	T_EQ_STR(tg_reaction_emoji("❤️", NULL), "❤");
	T_OK(tg_reaction_emoji("🦖", NULL) == NULL);
	T_OK(tg_reaction_emoji("🦖", "no_such_phase") == NULL);
	return (0);
}

static const struct tg_self self = { 666, "TestNameBot" };

/* The event of an update given as JSON text; NULL with *skip. */
static json_t *
event(const char *upd_json, const struct tg_filter *f, long long *id,
    const char **cb, const char **skip)
{
	json_t	*u = json_loads(upd_json, 0, NULL), *ev;

	if (u == NULL) {
		printf("# bad test JSON: %s\n", upd_json);
		return (NULL);
	}
	ev = tg_update_event(u, &self, f, id, cb, skip);
	/* What it returns must not borrow from the update. */
	json_decref(u);
	return (ev);
}

static int
t_private(void)
{
	json_t		*ev, *want;
	const char	*cb, *skip;
	long long	 id;

	ev = event("{\"update_id\": 41, \"message\": {\"message_id\": 7, "
	    "\"from\": {\"id\": 1, \"is_bot\": false, \"first_name\": \"Ann\", "
	    "\"last_name\": \"Lee\", \"username\": \"annl\"}, \"chat\": "
	    "{\"id\": 1, \"type\": \"private\"}, \"date\": 1700000000000, "
	    "\"text\": \"hi there\"}}", NULL, &id, &cb, &skip);
	T_OK(ev != NULL);
	want = json_loads("{\"method\": \"message\", \"params\": {\"user_id\": "
	    "\"1\", \"user_name\": \"Ann Lee\", \"text\": \"hi there\", "
	    "\"content\": {\"Text\": \"hi there\"}, \"channel_id\": \"1\", "
	    "\"platform\": \"telegram\", \"message_id\": \"1:7\", "
	    "\"username\": \"annl\", \"metadata\": {\"was_mentioned\": false, "
	    "\"chat_type\": \"private\"}}}", 0, NULL);
	if (!json_equal(ev, want)) {
		char *s = json_dumps(ev, JSON_COMPACT);

		printf("# got %s\n", s);
		free(s);
		json_decref(ev);
		json_decref(want);
		return (-1);
	}
	json_decref(ev);
	json_decref(want);
	T_EQ_INT(id, 41);
	T_OK(cb == NULL);
	return (0);
}

/* The params member key of ev as JSON text (compact). */
static char *
param(const json_t *ev, const char *key)
{
	json_t	*v = json_object_get(json_object_get(ev, "params"), key);

	return (v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) :
	    strdup("absent"));
}

static int
check_param(const json_t *ev, const char *key, const char *want)
{
	char	*got = param(ev, key);
	int	 rv = strcmp(got, want) == 0 ? 0 : -1;

	if (rv != 0)
		printf("# %s: %s, expected %s\n", key, got, want);
	free(got);
	return (rv);
}

#define GROUP(text, extra) "{\"update_id\": 9, \"message\": {\"message_id\": " \
	"3, \"from\": {\"id\": 2, \"first_name\": \"Bo\"}, \"chat\": " \
	"{\"id\": -100, \"type\": \"supergroup\", \"title\": \"G\"}, " \
	"\"text\": \"" text "\"" extra "}}"

static int
t_group(void)
{
	json_t		*ev;
	const char	*cb, *skip;
	long long	 id;
	int		 rv = 0;

	/* Not addressed to the bot. */
	ev = event(GROUP("just chatting", ""), NULL, &id, &cb, &skip);
	T_OK(ev != NULL);
	rv |= check_param(ev, "is_group", "true");
	rv |= check_param(ev, "channel_id", "\"-100\"");
	rv |= check_param(ev, "message_id", "\"-100:3\"");
	rv |= check_param(ev, "metadata",
	    "{\"was_mentioned\":false,\"chat_type\":\"supergroup\"}");
	json_decref(ev);
	/* @name, any case, as a word. */
	ev = event(GROUP("hey @testnamebot, help", ""), NULL, &id, &cb, &skip);
	T_OK(ev != NULL);
	rv |= check_param(ev, "metadata",
	    "{\"was_mentioned\":true,\"chat_type\":\"supergroup\"}");
	json_decref(ev);
	/* A longer name is not ours. */
	ev = event(GROUP("hey @TestNameBotter", ""), NULL, &id, &cb, &skip);
	T_OK(ev != NULL);
	rv |= check_param(ev, "metadata",
	    "{\"was_mentioned\":false,\"chat_type\":\"supergroup\"}");
	json_decref(ev);
	/* A reply to the bot's message. */
	ev = event(GROUP("yes", ", \"reply_to_message\": {\"message_id\": 1, "
	    "\"from\": {\"id\": 666}}"), NULL, &id, &cb, &skip);
	T_OK(ev != NULL);
	rv |= check_param(ev, "metadata",
	    "{\"was_mentioned\":true,\"chat_type\":\"supergroup\"}");
	json_decref(ev);
	/* A command for the bot by name: the name taken off. */
	ev = event(GROUP("/status@TestNameBot now", ""), NULL, &id, &cb, &skip);
	T_OK(ev != NULL);
	rv |= check_param(ev, "content",
	    "{\"Command\":{\"name\":\"status\",\"args\":[\"now\"]}}");
	rv |= check_param(ev, "text", "\"/status now\"");
	json_decref(ev);
	/* One for another bot: skipped. */
	T_OK(event(GROUP("/status@OtherBot", ""), NULL, &id, &cb,
	    &skip) == NULL);
	T_EQ_STR(skip, "a command for another bot");
	return (rv);
}

static int
t_skips(void)
{
	const char	*cb, *skip;
	long long	 id;
	char		 ann[] = "@Ann", n42[] = "42", one[] = "1";
	char		*users[] = { ann, n42, NULL };
	char		*chats[] = { one, NULL };
	struct tg_filter f = { users, NULL }, g = { NULL, chats };
	json_t		*ev;

	T_OK(event("{\"update_id\": 5, \"message\": {\"message_id\": 1, "
	    "\"from\": {\"id\": 1}, \"chat\": {\"id\": 1, \"type\": "
	    "\"private\"}, \"sticker\": {}}}", NULL, &id, &cb, &skip) == NULL);
	T_EQ_STR(skip, "a message without text");
	T_EQ_INT(id, 5);
	T_OK(event("{\"update_id\": 6, \"message\": {\"message_id\": 1, "
	    "\"from\": {\"id\": 666}, \"chat\": {\"id\": 1}, \"text\": \"x\"}}",
	    NULL, &id, &cb, &skip) == NULL);
	T_EQ_STR(skip, "the bot's own message");
	T_OK(event("{\"update_id\": 7, \"edited_message\": {}}", NULL, &id,
	    &cb, &skip) == NULL);
	T_OK(event("{\"update_id\": 8, \"message\": {\"message_id\": 1, "
	    "\"chat\": {\"id\": 1}, \"text\": \"x\"}}", NULL, &id, &cb,
	    &skip) == NULL);
	T_EQ_STR(skip, "no sender");
	/* ALLOWED_USERS: by id, or by @username in any case. */
	T_OK(event("{\"update_id\": 9, \"message\": {\"message_id\": 1, "
	    "\"from\": {\"id\": 7, \"username\": \"bob\"}, \"chat\": {\"id\": "
	    "7}, \"text\": \"x\"}}", &f, &id, &cb, &skip) == NULL);
	T_EQ_STR(skip, "a sender not in ALLOWED_USERS");
	ev = event("{\"update_id\": 9, \"message\": {\"message_id\": 1, "
	    "\"from\": {\"id\": 7, \"username\": \"ann\"}, \"chat\": {\"id\": "
	    "7}, \"text\": \"x\"}}", &f, &id, &cb, &skip);
	T_OK(ev != NULL);
	json_decref(ev);
	ev = event("{\"update_id\": 9, \"message\": {\"message_id\": 1, "
	    "\"from\": {\"id\": 42}, \"chat\": {\"id\": 42}, \"text\": "
	    "\"x\"}}", &f, &id, &cb, &skip);
	T_OK(ev != NULL);
	json_decref(ev);
	T_OK(event("{\"update_id\": 9, \"message\": {\"message_id\": 1, "
	    "\"from\": {\"id\": 42}, \"chat\": {\"id\": 42}, \"text\": "
	    "\"x\"}}", &g, &id, &cb, &skip) == NULL);
	T_EQ_STR(skip, "a chat not in TELEGRAM_ALLOWED_CHATS");
	return (0);
}

static int
t_callback(void)
{
	json_t		*ev;
	const char	*cb, *skip;
	long long	 id;
	int		 rv = 0;
	json_t		*u;

	u = json_loads("{\"update_id\": 12, \"callback_query\": {\"id\": "
	    "\"77\", \"from\": {\"id\": 1, \"first_name\": \"Ann\"}, "
	    "\"message\": {\"message_id\": 5, \"chat\": {\"id\": 1, \"type\": "
	    "\"private\"}, \"text\": \"Pick one\"}, \"data\": \"opt_a\"}}", 0,
	    NULL);
	T_OK(u != NULL);
	ev = tg_update_event(u, &self, NULL, &id, &cb, &skip);
	T_OK(ev != NULL && cb != NULL);
	T_EQ_STR(cb, "77");
	rv |= check_param(ev, "content", "{\"ButtonCallback\":{\"action\":"
	    "\"opt_a\",\"message_text\":\"Pick one\"}}");
	rv |= check_param(ev, "message_id", "\"cb:77\"");
	rv |= check_param(ev, "text", "\"opt_a\"");
	json_decref(ev);
	json_decref(u);
	return (rv);
}

static int
t_keyboard(void)
{
	json_t		*b, *kb;
	const char	*why;
	char		*s;
	size_t		 dropped;
	int		 rv;

	b = json_loads("[[{\"label\": \"A\", \"action\": \"a\"}, {\"label\": "
	    "\"Docs\", \"action\": \"x\", \"url\": \"https://e.org\"}], "
	    "[{\"label\": \"Long\", \"action\": \"0123456789012345678901234567"
	    "890123456789012345678901234567890123456789\"}]]", 0, NULL);
	T_OK(b != NULL);
	kb = tg_keyboard(b, &dropped, &why);
	json_decref(b);
	T_OK(kb != NULL);
	T_EQ_INT(dropped, 1);
	s = json_dumps(kb, JSON_COMPACT);
	rv = strcmp(s, "{\"inline_keyboard\":[[{\"text\":\"A\","
	    "\"callback_data\":\"a\"},{\"text\":\"Docs\",\"url\":"
	    "\"https://e.org\"}]]}");
	if (rv != 0)
		printf("# got %s\n", s);
	free(s);
	json_decref(kb);
	T_OK(rv == 0);
	b = json_loads("[[{\"action\": \"a\"}]]", 0, NULL);
	T_OK(tg_keyboard(b, &dropped, &why) == NULL);
	json_decref(b);
	b = json_loads("{\"a\": 1}", 0, NULL);
	T_OK(tg_keyboard(b, &dropped, &why) == NULL);
	json_decref(b);
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "tokens that can go into a URL path", t_token },
		{ "UTF-16 units counted as Telegram does", t_utf16 },
		{ "text cut at the limit: line, word, character", t_split },
		{ "chat ids and our message ids", t_ids },
		{ "reactions mapped onto Telegram's emoji", t_reactions },
		{ "a private message's event, field by field", t_private },
		{ "group messages: mentions, replies, /cmd@bot", t_group },
		{ "updates skipped: no text, own, filters", t_skips },
		{ "a button press is ButtonCallback content", t_callback },
		{ "inline keyboards from interactive buttons", t_keyboard },
		{ NULL, NULL }
	};

	return (tap_main(cases));
}
