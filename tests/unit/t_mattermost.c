/*
 * t_mattermost.c - the Mattermost adapter's helpers (services/channels/
 * adapters/mattermost/mattermost_msg.c): ids and tokens, reactions'
 * emoji as Mattermost's names, the WebSocket's actions, and `posted`
 * events (data.post a JSON string) read into message events: DM or
 * channel, threads, mentions, the allow list, the bot's own posts and
 * system messages skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "mattermost.h"
#include "tap.h"

#define BOT	"bbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ALICE	"aaaaaaaaaaaaaaaaaaaaaaaaaa"
#define CHAN	"cccccccccccccccccccccccccc"
#define POST1	"pppppppppppppppppppppppp01"
#define ROOT	"rrrrrrrrrrrrrrrrrrrrrrrr01"

static const struct mm_self self = { BOT, "fangbot" };

static int
t_ids(void)
{
	char	out[72];

	T_OK(mm_id_ok(BOT));
	T_OK(!mm_id_ok("bbbbbbbbbbbbbbbbbbbbbbbbb"));	/* 25 */
	T_OK(!mm_id_ok("bbbbbbbbbbbbbbbbbbbbbbbbbbb"));	/* 27 */
	T_OK(!mm_id_ok("bbbbbbbbbbbbbbbbbbbbbbbbbB"));
	T_OK(!mm_id_ok("bbbbbbbbbbbbbbbbbbbbbbbb/."));
	T_OK(!mm_id_ok(NULL));
	T_OK(mm_token_ok("9xuqwrwgstrb3mzrxb83nb357a"));
	T_OK(!mm_token_ok("a b"));
	T_OK(!mm_token_ok(""));
	T_OK(!mm_token_ok("x\r\nInjected: 1"));
	T_OK(mm_emoji_name("\xe2\x8f\xb3", out, sizeof(out)) == 0);
	T_EQ_STR(out, "hourglass_flowing_sand");
	T_OK(mm_emoji_name("\xe2\x9a\x99\xef\xb8\x8f", out, sizeof(out)) == 0);
	T_EQ_STR(out, "gear");
	T_OK(mm_emoji_name("\xe2\x9c\x85", out, sizeof(out)) == 0);
	T_EQ_STR(out, "white_check_mark");
	T_OK(mm_emoji_name("\xf0\x9f\x91\x8d", out, sizeof(out)) == 0);
	T_EQ_STR(out, "+1");
	T_OK(mm_emoji_name(":thumbsup:", out, sizeof(out)) == 0);
	T_EQ_STR(out, "thumbsup");
	T_OK(mm_emoji_name("rocket", out, sizeof(out)) == 0);
	T_EQ_STR(out, "rocket");
	T_OK(mm_emoji_name("\xf0\x9f\xa6\x84", out, sizeof(out)) != 0);
	T_OK(mm_emoji_name("../x", out, sizeof(out)) != 0);
	T_OK(mm_emoji_name("", out, sizeof(out)) != 0);
	T_OK(mm_emoji_name("::", out, sizeof(out)) != 0);
	T_OK(mm_emoji_name("hourglass_flowing_sand", out, 8) != 0);
	return (0);
}

static int
t_actions(void)
{
	char	*s;

	s = mm_auth_challenge(1, "tok");
	T_EQ_STR(s, "{\"seq\":1,\"action\":\"authentication_challenge\","
	    "\"data\":{\"token\":\"tok\"}}");
	free(s);
	s = mm_action(2, "user_typing", CHAN, "");
	T_EQ_STR(s, "{\"seq\":2,\"action\":\"user_typing\",\"data\":"
	    "{\"channel_id\":\"" CHAN "\",\"parent_id\":\"\"}}");
	free(s);
	s = mm_action(3, "ping", NULL, NULL);
	T_EQ_STR(s, "{\"seq\":3,\"action\":\"ping\"}");
	free(s);
	return (0);
}

/* A posted event's data around post (a JSON object's text). */
static json_t *
ev(const char *post, const char *ctype, const char *mentions,
    const struct mm_filter *f, const char **skip)
{
	json_t	*d, *e;

	d = json_pack("{s:s, s:s, s:s, s:s, s:s}", "post", post,
	    "channel_type", ctype, "channel_name", "town-square",
	    "sender_name", "@alice", "team_id", "tttttttttttttttttttttttttt");
	if (mentions != NULL)
		json_object_set_new(d, "mentions", json_string(mentions));
	e = mm_message_event(d, &self, f, skip);
	json_decref(d);
	return (e);
}

#define POST(uid, msg, root, type)					\
	"{\"id\":\"" POST1 "\",\"user_id\":\"" uid "\",\"channel_id\":\""	\
	CHAN "\",\"root_id\":\"" root "\",\"message\":\"" msg "\","	\
	"\"type\":\"" type "\",\"props\":{}}"

static int
t_message(void)
{
	struct mm_filter	 f = { NULL };
	const char		*skip;
	json_t			*e, *p, *md;
	char			 c1[] = "Town-Square", c2[] = "other";
	char			*only[] = { c1, NULL }, *none[] = { c2, NULL };

	e = ev(POST(ALICE, "hi", "", ""), "D", NULL, &f, &skip);
	T_OK(e != NULL);
	T_EQ_STR(json_string_value(json_object_get(e, "method")), "message");
	p = json_object_get(e, "params");
	T_EQ_STR(json_string_value(json_object_get(p, "user_id")), ALICE);
	T_EQ_STR(json_string_value(json_object_get(p, "user_name")), "alice");
	T_EQ_STR(json_string_value(json_object_get(p, "channel_id")), CHAN);
	T_EQ_STR(json_string_value(json_object_get(p, "message_id")), POST1);
	T_EQ_STR(json_string_value(json_object_get(p, "platform")),
	    "mattermost");
	T_OK(json_object_get(p, "is_group") == NULL);
	T_OK(json_object_get(p, "thread_id") == NULL);
	md = json_object_get(p, "metadata");
	T_OK(json_is_false(json_object_get(md, "was_mentioned")));
	T_EQ_STR(json_string_value(json_object_get(md, "channel_type")), "D");
	json_decref(e);
	/* A channel's thread reply, the bot in mentions. */
	e = ev(POST(ALICE, "and then?", ROOT, ""), "O", "[\"" BOT "\"]", &f,
	    &skip);
	T_OK(e != NULL);
	p = json_object_get(e, "params");
	T_OK(json_is_true(json_object_get(p, "is_group")));
	T_EQ_STR(json_string_value(json_object_get(p, "thread_id")), ROOT);
	T_OK(json_is_true(json_object_get(json_object_get(p, "metadata"),
	    "was_mentioned")));
	json_decref(e);
	/* @username as a word, any case; not inside a longer name. */
	e = ev(POST(ALICE, "hey @FangBot, status", "", ""), "P", NULL, &f,
	    &skip);
	T_OK(json_is_true(json_object_get(json_object_get(json_object_get(e,
	    "params"), "metadata"), "was_mentioned")));
	json_decref(e);
	e = ev(POST(ALICE, "hey @fangbot_2", "", ""), "P", NULL, &f, &skip);
	T_OK(json_is_false(json_object_get(json_object_get(json_object_get(e,
	    "params"), "metadata"), "was_mentioned")));
	json_decref(e);
	/* A /command. */
	e = ev(POST(ALICE, "/status now", "", ""), "D", NULL, &f, &skip);
	T_OK(json_is_object(json_object_get(json_object_get(json_object_get(e,
	    "params"), "content"), "Command")));
	json_decref(e);
	/* Skipped: our own, a system message, no text, not JSON. */
	T_OK(ev(POST(BOT, "echo", "", ""), "D", NULL, &f, &skip) == NULL);
	T_OK(strstr(skip, "own") != NULL);
	T_OK(ev(POST(ALICE, "joined", "", "system_join_channel"), "O", NULL,
	    &f, &skip) == NULL);
	T_OK(strstr(skip, "system") != NULL);
	T_OK(ev(POST(ALICE, "", "", ""), "D", NULL, &f, &skip) == NULL);
	T_OK(ev("{not json", "D", NULL, &f, &skip) == NULL);
	T_OK(ev("[1]", "D", NULL, &f, &skip) == NULL);
	/* The allow list: by name (any case) or id; DMs always. */
	f.mf_channels = only;
	e = ev(POST(ALICE, "x", "", ""), "O", NULL, &f, &skip);
	T_OK(e != NULL);
	json_decref(e);
	f.mf_channels = none;
	T_OK(ev(POST(ALICE, "x", "", ""), "O", NULL, &f, &skip) == NULL);
	T_OK(strstr(skip, "ALLOWED") != NULL);
	e = ev(POST(ALICE, "x", "", ""), "D", NULL, &f, &skip);
	T_OK(e != NULL);
	json_decref(e);
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "ids, tokens, emoji names", t_ids },
		{ "authentication_challenge, user_typing, ping", t_actions },
		{ "posted: DM and channel, threads, mentions, the bot's own, "
		    "system messages, the allow list", t_message },
		{ NULL, NULL }
	};

	return (tap_main(cases));
}
