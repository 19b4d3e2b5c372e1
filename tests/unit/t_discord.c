/*
 * t_discord.c - the Discord adapter's helpers (services/channels/adapters/
 * discord/discord_msg.c): Gateway payloads, close codes sorted, text cut
 * at 2000 characters, emoji and ids for REST paths, and MESSAGE_CREATE
 * read into message events (DM or guild, mentions, filters, the bot's
 * own and other bots' skipped).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "discord.h"
#include "tap.h"

static const struct dc_self self = { "900", "LibreFangBot" };

static int
t_payloads(void)
{
	char	*s;
	json_t	*j;

	s = dc_identify("tok", DC_INTENTS_DEFAULT);
	j = json_loads(s, 0, NULL);
	T_EQ_INT(json_integer_value(json_object_get(j, "op")), 2);
	T_EQ_STR(json_string_value(json_object_get(json_object_get(j, "d"),
	    "token")), "tok");
	T_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "d"),
	    "intents")), 37377);
	json_decref(j);
	free(s);
	s = dc_resume("tok", "abc", 42);
	T_EQ_STR(s, "{\"op\":6,\"d\":{\"token\":\"tok\",\"session_id\":\"abc\","
	    "\"seq\":42}}");
	free(s);
	s = dc_heartbeat(-1);
	T_EQ_STR(s, "{\"op\":1,\"d\":null}");
	free(s);
	s = dc_heartbeat(7);
	T_EQ_STR(s, "{\"op\":1,\"d\":7}");
	free(s);
	return (0);
}

static int
t_close_codes(void)
{
	T_EQ_INT(dc_close_do(4004), DC_CLOSE_FATAL);
	T_EQ_INT(dc_close_do(4014), DC_CLOSE_FATAL);
	T_EQ_INT(dc_close_do(4007), DC_CLOSE_IDENTIFY);
	T_EQ_INT(dc_close_do(4009), DC_CLOSE_IDENTIFY);
	T_EQ_INT(dc_close_do(4000), DC_CLOSE_RESUME);
	T_EQ_INT(dc_close_do(1006), DC_CLOSE_RESUME);
	T_EQ_INT(dc_close_do(1000), DC_CLOSE_RESUME);
	T_OK(strstr(dc_close_name(4004), "authentication failed") != NULL);
	T_OK(dc_close_name(1000) == NULL);
	return (0);
}

static int
t_ids(void)
{
	char	out[64];

	T_OK(dc_snowflake_ok("123456789012345678"));
	T_OK(!dc_snowflake_ok(""));
	T_OK(!dc_snowflake_ok("12a"));
	T_OK(!dc_snowflake_ok("1/../2"));
	T_OK(!dc_snowflake_ok("123456789012345678901"));
	T_OK(dc_token_ok("MTA0.abc-def_ghi"));
	T_OK(!dc_token_ok("with space"));
	T_OK(!dc_token_ok("crlf\r\nX-Evil: 1"));
	T_OK(!dc_token_ok(""));
	T_OK(dc_emoji_path("\xf0\x9f\x91\x8d", out, sizeof(out)) == 0);
	T_EQ_STR(out, "%F0%9F%91%8D");
	T_OK(dc_emoji_path("party:123", out, sizeof(out)) == 0);
	T_EQ_STR(out, "party:123");
	T_OK(dc_emoji_path("a/b?c", out, sizeof(out)) == 0);
	T_EQ_STR(out, "a%2Fb%3Fc");
	T_OK(dc_emoji_path("", out, sizeof(out)) != 0);
	T_OK(dc_emoji_path("\xf0\x9f\x91\x8d", out, 8) != 0);
	return (0);
}

static int
t_split(void)
{
	char	*s = malloc(5000);
	size_t	 i, k, n, off, units;

	T_OK(s != NULL);
	T_EQ_INT(ad_text_cut("short", 5, 2000, AD_UNIT_UTF16), 5);
	/* 4500 'a' without a break: cut at 2000 exactly. */
	memset(s, 'a', 4500);
	T_EQ_INT(ad_text_cut(s, 4500, 2000, AD_UNIT_UTF16), 2000);
	/* Lines: cut after the last newline that fits. */
	for (i = 0; i < 4500; i++)
		s[i] = i % 100 == 99 ? '\n' : 'b';
	T_EQ_INT(ad_text_cut(s, 4500, 2000, AD_UNIT_UTF16), 2000);
	s[1999] = 'b';
	T_EQ_INT(ad_text_cut(s, 4500, 2000, AD_UNIT_UTF16), 1900);
	/* Astral characters count two units; never cut inside one. */
	for (i = 0; i + 4 <= 4400; i += 4)
		memcpy(s + i, "\xf0\x9f\x98\x80", 4);
	n = 4400;
	for (off = 0; off < n; off += k) {
		k = ad_text_cut(s + off, n - off, 2000, AD_UNIT_UTF16);
		units = ad_utf16_len(s + off, k);
		T_OK(units <= 2000 && k % 4 == 0 && k > 0);
	}
	T_EQ_INT(ad_utf16_len("\xe2\x82\xac", 3), 1);
	free(s);
	return (0);
}

static json_t *
ev(const char *d, const struct dc_filter *f, const char **skip)
{
	json_t	*j = json_loads(d, 0, NULL), *e;

	e = dc_message_event(j, &self, f, skip);
	json_decref(j);
	return (e);
}

static int
t_message(void)
{
	struct dc_filter	 f = { NULL, NULL, NULL, 1 };
	const char		*skip;
	json_t			*e, *p;
	char			 p1[] = "fang", g1[] = "10", u1[] = "bob";
	char			*pat[] = { p1, NULL };
	char			*guilds[] = { g1, NULL };
	char			*users[] = { u1, NULL };

	e = ev("{\"id\":\"1\",\"channel_id\":\"200\",\"content\":\"hi\","
	    "\"author\":{\"id\":\"300\",\"username\":\"alice\","
	    "\"global_name\":\"Alice\"}}", &f, &skip);
	T_OK(e != NULL);
	p = json_object_get(e, "params");
	T_EQ_STR(json_string_value(json_object_get(p, "user_id")), "300");
	T_EQ_STR(json_string_value(json_object_get(p, "user_name")), "Alice");
	T_EQ_STR(json_string_value(json_object_get(p, "username")), "alice");
	T_EQ_STR(json_string_value(json_object_get(p, "channel_id")), "200");
	T_EQ_STR(json_string_value(json_object_get(p, "message_id")), "1");
	T_OK(json_object_get(p, "is_group") == NULL);
	T_OK(json_is_false(json_object_get(json_object_get(p, "metadata"),
	    "was_mentioned")));
	json_decref(e);
	/* A guild message naming the bot: <@!id>; a pattern as a word. */
	e = ev("{\"id\":\"2\",\"channel_id\":\"210\",\"guild_id\":\"10\","
	    "\"content\":\"<@!900> hey\",\"author\":{\"id\":\"300\","
	    "\"username\":\"alice\"}}", &f, &skip);
	p = json_object_get(e, "params");
	T_OK(json_is_true(json_object_get(p, "is_group")));
	T_OK(json_is_true(json_object_get(json_object_get(p, "metadata"),
	    "was_mentioned")));
	T_EQ_STR(json_string_value(json_object_get(p, "user_name")), "alice");
	json_decref(e);
	f.df_patterns = pat;
	e = ev("{\"id\":\"3\",\"channel_id\":\"210\",\"guild_id\":\"10\","
	    "\"content\":\"Fang, status\",\"author\":{\"id\":\"300\"}}", &f,
	    &skip);
	p = json_object_get(e, "params");
	T_OK(json_is_true(json_object_get(json_object_get(p, "metadata"),
	    "was_mentioned")));
	json_decref(e);
	e = ev("{\"id\":\"3\",\"channel_id\":\"210\",\"guild_id\":\"10\","
	    "\"content\":\"fangs are sharp\",\"author\":{\"id\":\"300\"}}", &f,
	    &skip);
	p = json_object_get(e, "params");
	T_OK(json_is_false(json_object_get(json_object_get(p, "metadata"),
	    "was_mentioned")));
	json_decref(e);
	/* Skipped: our own, another bot's, no text, filters. */
	T_OK(ev("{\"id\":\"4\",\"channel_id\":\"1\",\"content\":\"x\","
	    "\"author\":{\"id\":\"900\"}}", &f, &skip) == NULL);
	T_OK(strstr(skip, "own") != NULL);
	T_OK(ev("{\"id\":\"4\",\"channel_id\":\"1\",\"content\":\"x\","
	    "\"author\":{\"id\":\"5\",\"bot\":true}}", &f, &skip) == NULL);
	f.df_ignore_bots = 0;
	e = ev("{\"id\":\"4\",\"channel_id\":\"1\",\"content\":\"x\","
	    "\"author\":{\"id\":\"5\",\"bot\":true}}", &f, &skip);
	T_OK(e != NULL);
	json_decref(e);
	T_OK(ev("{\"id\":\"4\",\"channel_id\":\"1\",\"content\":\"\","
	    "\"author\":{\"id\":\"5\"}}", &f, &skip) == NULL);
	T_OK(ev("{\"channel_id\":\"1\",\"content\":\"x\","
	    "\"author\":{\"id\":\"5\"}}", &f, &skip) == NULL);
	f.df_guilds = guilds;
	T_OK(ev("{\"id\":\"4\",\"channel_id\":\"1\",\"guild_id\":\"11\","
	    "\"content\":\"x\",\"author\":{\"id\":\"5\"}}", &f, &skip) ==
	    NULL);
	/* A DM has no guild: the guild list does not apply. */
	e = ev("{\"id\":\"4\",\"channel_id\":\"1\",\"content\":\"x\","
	    "\"author\":{\"id\":\"5\"}}", &f, &skip);
	T_OK(e != NULL);
	json_decref(e);
	f.df_users = users;
	T_OK(ev("{\"id\":\"4\",\"channel_id\":\"1\",\"content\":\"x\","
	    "\"author\":{\"id\":\"5\",\"username\":\"alice\"}}", &f,
	    &skip) == NULL);
	e = ev("{\"id\":\"4\",\"channel_id\":\"1\",\"content\":\"x\","
	    "\"author\":{\"id\":\"5\",\"username\":\"Bob\"}}", &f, &skip);
	T_OK(e != NULL);
	json_decref(e);
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "IDENTIFY, RESUME, heartbeat payloads", t_payloads },
		{ "close codes: fatal, a new session, resume", t_close_codes },
		{ "snowflakes, tokens, emoji percent-encoded", t_ids },
		{ "text cut at 2000 UTF-16 units, at lines, never inside a "
		    "character", t_split },
		{ "MESSAGE_CREATE: DM and guild, mentions, the bot's own, "
		    "bots, filters", t_message },
		{ NULL, NULL }
	};

	return (tap_main(cases));
}
