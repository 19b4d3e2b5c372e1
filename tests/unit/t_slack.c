/*
 * t_slack.c - the Slack adapter's helpers (services/channels/adapters/
 * slack/slack_msg.c): tokens, ids and ts checked, Web API errors sorted,
 * the deliveries seen, emoji names, & < > escaped and taken back, text
 * cut at 40,000 characters with its escapes counted, and Socket Mode
 * envelopes read into message events (DM, channel, thread, mention,
 * slash command; the bot's own, bots', edits, filters skipped).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "slack.h"
#include "tap.h"

static const struct sl_self self = { "UBOT", "BBOT", "T1" };

static int
t_ids(void)
{
	T_OK(sl_token_ok("xoxb-1-abc", "xoxb-"));
	T_OK(!sl_token_ok("xoxb-", "xoxb-"));
	T_OK(!sl_token_ok("xapp-1-abc", "xoxb-"));
	T_OK(!sl_token_ok("xoxb-a b", "xoxb-"));
	T_OK(!sl_token_ok(NULL, "xoxb-"));
	T_OK(sl_id_ok("C0123ABC"));
	T_OK(!sl_id_ok("x/../y"));
	T_OK(!sl_id_ok(""));
	T_OK(sl_ts_ok("1700000000.000100"));
	T_OK(!sl_ts_ok("1700000000"));
	T_OK(!sl_ts_ok("1700000000.0001x"));
	T_OK(!sl_ts_ok(".5"));
	T_OK(!sl_ts_ok(NULL));
	T_EQ_INT(sl_error_do("invalid_auth"), SL_ERR_AUTH);
	T_EQ_INT(sl_error_do("token_revoked"), SL_ERR_AUTH);
	T_EQ_INT(sl_error_do("ratelimited"), SL_ERR_RATE);
	T_EQ_INT(sl_error_do("internal_error"), SL_ERR_RETRY);
	T_EQ_INT(sl_error_do("already_reacted"), SL_ERR_HARMLESS);
	T_EQ_INT(sl_error_do("channel_not_found"), SL_ERR_REPORT);
	T_EQ_INT(sl_error_do(NULL), SL_ERR_REPORT);
	return (0);
}

static int
t_seen_emoji(void)
{
	static struct sl_seen	s;
	char			name[104], key[32];
	int			i;

	T_OK(sl_seen_add(&s, "C1:1.1"));
	T_OK(!sl_seen_add(&s, "C1:1.1"));
	T_OK(sl_seen_add(&s, "C2:1.1"));
	/* The oldest is forgotten once SL_SEEN_MAX more came. */
	for (i = 0; i < SL_SEEN_MAX; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		T_OK(sl_seen_add(&s, key));
	}
	T_OK(sl_seen_add(&s, "C1:1.1"));
	T_OK(sl_emoji_name("\xe2\x9c\x85", name, sizeof(name)) == 0);
	T_EQ_STR(name, "white_check_mark");
	T_OK(sl_emoji_name("\xf0\x9f\xa4\x94", name, sizeof(name)) == 0);
	T_EQ_STR(name, "thinking_face");
	T_OK(sl_emoji_name(":eyes:", name, sizeof(name)) == 0);
	T_EQ_STR(name, "eyes");
	T_OK(sl_emoji_name("+1", name, sizeof(name)) == 0);
	T_EQ_STR(name, "+1");
	T_OK(sl_emoji_name("\xf0\x9f\xa6\x84", name, sizeof(name)) != 0);
	T_OK(sl_emoji_name("a b", name, sizeof(name)) != 0);
	T_OK(sl_emoji_name("", name, sizeof(name)) != 0);
	return (0);
}

static int
t_text(void)
{
	char	*s, *big;
	size_t	 k, n, i, total;

	s = sl_escape("a < b && c > d", 14);
	T_EQ_STR(s, "a &lt; b &amp;&amp; c &gt; d");
	free(s);
	s = sl_unescape("a &lt; b &amp;amp; &gt;&gt &", 29);
	T_EQ_STR(s, "a < b &amp; >&gt &");
	free(s);
	T_EQ_INT(sl_text_cut("short", 5, SL_TEXT_LIMIT), 5);
	/* 30,000 '&' escape to 150,000 characters: 8,000 to a part. */
	n = 30000;
	big = malloc(n);
	memset(big, '&', n);
	k = sl_text_cut(big, n, SL_TEXT_LIMIT);
	T_EQ_INT(k, 8000);
	/* Lines of "x < y\n": each part ends at a line, fits escaped. */
	n = 60000;
	free(big);
	big = malloc(n);
	for (i = 0; i < n; i++)
		big[i] = "x < y\n"[i % 6];
	for (total = 0; total < n; total += k) {
		k = sl_text_cut(big + total, n - total, SL_TEXT_LIMIT);
		T_OK(k > 0);
		s = sl_escape(big + total, k);
		T_OK(ad_utf16_len(s, strlen(s)) <= SL_TEXT_LIMIT);
		T_OK(total + k == n || s[strlen(s) - 1] == '\n');
		free(s);
	}
	T_EQ_INT(total, n);
	free(big);
	return (0);
}

static json_t *
env(const char *text, const struct sl_filter *f, char *key,
    const char **skip)
{
	json_t	*j = json_loads(text, 0, NULL), *e;

	if (j == NULL) {
		printf("# bad JSON in the test: %s\n", text);
		return (NULL);
	}
	e = sl_envelope_message(j, &self, f, key, SL_KEY_MAX, skip);
	json_decref(j);
	return (e);
}

#define EV(e) "{\"envelope_id\":\"e1\",\"type\":\"events_api\"," \
	"\"payload\":{\"team_id\":\"T1\",\"event\":" e "}}"

static int
t_envelope(void)
{
	struct sl_filter	 f = { NULL };
	char			 c9[] = "C9", *allow[] = { c9, NULL };
	char			 key[SL_KEY_MAX];
	const char		*skip;
	json_t			*e, *p;

	e = env(EV("{\"type\":\"message\",\"channel\":\"D1\",\"user\":\"U1\","
	    "\"text\":\"hi &amp; bye\",\"ts\":\"1.000100\",\"channel_type\":"
	    "\"im\",\"user_profile\":{\"name\":\"alice\",\"display_name\":"
	    "\"Alice\"}}"), &f, key, &skip);
	T_OK(e != NULL);
	p = json_object_get(e, "params");
	T_EQ_STR(json_string_value(json_object_get(p, "text")), "hi & bye");
	T_EQ_STR(json_string_value(json_object_get(p, "user_name")), "Alice");
	T_EQ_STR(json_string_value(json_object_get(p, "username")), "alice");
	T_EQ_STR(json_string_value(json_object_get(p, "message_id")),
	    "1.000100");
	T_EQ_STR(json_string_value(json_object_get(p, "platform")), "slack");
	T_OK(json_object_get(p, "is_group") == NULL);
	T_OK(json_object_get(p, "thread_id") == NULL);
	T_EQ_STR(key, "D1:1.000100");
	json_decref(e);
	/* A channel's, in a thread, naming the bot. */
	e = env(EV("{\"type\":\"message\",\"channel\":\"C1\",\"user\":\"U1\","
	    "\"text\":\"<@UBOT> hi\",\"ts\":\"2.1\",\"thread_ts\":\"1.5\","
	    "\"channel_type\":\"channel\"}"), &f, key, &skip);
	T_OK(e != NULL);
	p = json_object_get(e, "params");
	T_OK(json_is_true(json_object_get(p, "is_group")));
	T_EQ_STR(json_string_value(json_object_get(p, "thread_id")), "1.5");
	T_EQ_STR(json_string_value(json_object_get(p, "user_name")), "U1");
	T_OK(json_is_true(json_object_get(json_object_get(p, "metadata"),
	    "was_mentioned")));
	json_decref(e);
	/* app_mention: a mention, the same key as its message. */
	e = env(EV("{\"type\":\"app_mention\",\"channel\":\"C1\",\"user\":"
	    "\"U1\",\"text\":\"hey\",\"ts\":\"2.1\"}"), &f, key, &skip);
	T_OK(e != NULL);
	T_EQ_STR(key, "C1:2.1");
	T_OK(json_is_true(json_object_get(json_object_get(json_object_get(e,
	    "params"), "metadata"), "was_mentioned")));
	json_decref(e);
	/* A slash command. */
	e = env("{\"envelope_id\":\"e2\",\"type\":\"slash_commands\","
	    "\"payload\":{\"user_id\":\"U1\",\"user_name\":\"alice\","
	    "\"channel_id\":\"C1\",\"command\":\"/w\",\"text\":\"a b\","
	    "\"trigger_id\":\"9.9.x\"}}", &f, key, &skip);
	T_OK(e != NULL);
	p = json_object_get(e, "params");
	T_EQ_STR(json_string_value(json_object_get(p, "text")), "/w a b");
	T_EQ_STR(json_string_value(json_object_get(p, "message_id")),
	    "9.9.x");
	T_EQ_INT(json_array_size(json_object_get(json_object_get(json_object_get(
	    p, "content"), "Command"), "args")), 2);
	T_EQ_STR(key, "cmd:9.9.x");
	json_decref(e);
	/* Skipped. */
	T_OK(env(EV("{\"type\":\"message\",\"channel\":\"C1\",\"user\":"
	    "\"UBOT\",\"text\":\"x\",\"ts\":\"3.1\"}"), &f, key, &skip) ==
	    NULL);
	T_EQ_STR(skip, "the bot's own message");
	T_OK(env(EV("{\"type\":\"message\",\"channel\":\"C1\",\"user\":"
	    "\"U2\",\"bot_id\":\"B2\",\"text\":\"x\",\"ts\":\"3.1\"}"), &f,
	    key, &skip) == NULL);
	T_OK(env(EV("{\"type\":\"message\",\"subtype\":\"message_changed\","
	    "\"channel\":\"C1\",\"user\":\"U2\",\"text\":\"x\",\"ts\":"
	    "\"3.1\"}"), &f, key, &skip) == NULL);
	T_OK(env(EV("{\"type\":\"message\",\"channel\":\"C1\",\"user\":"
	    "\"U2\",\"text\":\"\",\"ts\":\"3.1\"}"), &f, key, &skip) == NULL);
	T_OK(env(EV("{\"type\":\"reaction_added\",\"user\":\"U2\"}"), &f, key,
	    &skip) == NULL);
	T_OK(env("{\"envelope_id\":\"e3\",\"type\":\"interactive\","
	    "\"payload\":{}}", &f, key, &skip) == NULL);
	f.sf_channels = allow;
	T_OK(env(EV("{\"type\":\"message\",\"channel\":\"C1\",\"user\":"
	    "\"U2\",\"text\":\"x\",\"ts\":\"3.1\"}"), &f, key, &skip) == NULL);
	T_EQ_STR(skip, "a channel not in SLACK_ALLOWED_CHANNELS");
	e = env(EV("{\"type\":\"message\",\"channel\":\"C9\",\"user\":"
	    "\"U2\",\"text\":\"x\",\"ts\":\"3.1\"}"), &f, key, &skip);
	T_OK(e != NULL);
	json_decref(e);
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "tokens, ids, ts; Web API errors sorted", t_ids },
		{ "deliveries seen, forgotten in turn; emoji names",
		    t_seen_emoji },
		{ "& < > escaped and taken back; text cut at 40,000 "
		    "characters escaped, at lines", t_text },
		{ "envelopes: DM, channel, thread, mention, slash command; "
		    "the bot's own, bots, edits, other events, filters",
		    t_envelope },
		{ NULL, NULL }
	};

	return (tap_main(cases));
}
