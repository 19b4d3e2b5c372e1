/*
 * t_matrix.c - the Matrix adapter's helpers (services/channels/adapters/
 * matrix/matrix_msg.c): user ids and tokens checked, path segments
 * escaped, transaction ids, text cut at the limit at line or word
 * boundaries and never inside a character, error bodies, mentions
 * (m.mentions, the display name, the user id, a matrix.to link), and
 * room timeline events read into `message` events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "matrix.h"
#include "tap.h"

static struct mx_self	self;

static void
self_init(void)
{
	memset(&self, 0, sizeof(self));
	mx_self_set(&self, "@lfbot:example.org");
	snprintf(self.ms_display, sizeof(self.ms_display), "LF Bot");
}

static int
t_ids(void)
{
	char	big[300];

	T_OK(mx_user_id_ok("@bot:example.org"));
	T_OK(mx_user_id_ok("@b:localhost:8448"));
	T_OK(!mx_user_id_ok("bot:example.org"));
	T_OK(!mx_user_id_ok("@bot"));
	T_OK(!mx_user_id_ok("@:x"));
	T_OK(!mx_user_id_ok("@bot:"));
	T_OK(!mx_user_id_ok("@b ot:x"));
	T_OK(!mx_user_id_ok(NULL));
	memset(big, 'a', sizeof(big));
	big[0] = '@';
	big[5] = ':';
	big[sizeof(big) - 1] = '\0';
	T_OK(!mx_user_id_ok(big));
	T_OK(mx_token_ok("syt_abc_DEF-123"));
	T_OK(!mx_token_ok(""));
	T_OK(!mx_token_ok(NULL));
	T_OK(!mx_token_ok("a b"));
	T_OK(!mx_token_ok("a\r\nX-Evil: 1"));
	self_init();
	T_EQ_STR(self.ms_localpart, "lfbot");
	return (0);
}

static int
t_escape(void)
{
	char	buf[64];

	T_OK(mx_path_escape("!abc:example.org", buf, sizeof(buf)) == 0);
	T_EQ_STR(buf, "%21abc%3Aexample.org");
	T_OK(mx_path_escape("@u:x", buf, sizeof(buf)) == 0);
	T_EQ_STR(buf, "%40u%3Ax");
	T_OK(mx_path_escape("a/../b?c#d", buf, sizeof(buf)) == 0);
	T_EQ_STR(buf, "a%2F..%2Fb%3Fc%23d");
	T_OK(mx_path_escape("é", buf, sizeof(buf)) == 0);
	T_EQ_STR(buf, "%C3%A9");
	T_OK(mx_path_escape("", buf, sizeof(buf)) == -1);
	T_OK(mx_path_escape("!!!!", buf, 12) == -1);	/* 12 + NUL */
	T_OK(mx_path_escape("!!!", buf, 10) == 0);
	return (0);
}

static int
t_txn(void)
{
	char	a[64], b[64], c[64];

	mx_txn_id(a, sizeof(a), 0xabc, 1);
	mx_txn_id(b, sizeof(b), 0xabc, 2);
	mx_txn_id(c, sizeof(c), 0xabd, 1);
	T_EQ_STR(a, "lfabc.1");
	T_OK(strcmp(a, b) != 0 && strcmp(a, c) != 0);
	return (0);
}

static int
t_split(void)
{
	const char	*s;
	size_t		 k;

	T_EQ_INT(ad_text_cut("short", 5, 10, AD_UNIT_BYTE), 5);
	T_EQ_INT(ad_text_cut("", 0, 10, AD_UNIT_BYTE), 0);
	s = "line one\nline two\nline three";
	T_EQ_INT(ad_text_cut(s, strlen(s), 20, AD_UNIT_BYTE), 18);	/* after "two\n" */
	s = "word word word word";
	T_EQ_INT(ad_text_cut(s, strlen(s), 12, AD_UNIT_BYTE), 10);	/* after "word " */
	s = "abcdefghijkl";
	T_EQ_INT(ad_text_cut(s, strlen(s), 5, AD_UNIT_BYTE), 5);
	/* Never inside a character: "ééé" is 6 bytes. */
	s = "ééé";
	k = ad_text_cut(s, strlen(s), 5, AD_UNIT_BYTE);
	T_EQ_INT(k, 4);
	k = ad_text_cut("😀x", strlen("😀x"), 2, AD_UNIT_BYTE);	/* the limit under one */
	T_EQ_INT(k, 4);
	return (0);
}

static int
t_errors(void)
{
	json_t		*j;
	const char	*code, *err;
	long long	 ms;

	j = json_loads("{\"errcode\": \"M_LIMIT_EXCEEDED\", \"error\": "
	    "\"Too many\", \"retry_after_ms\": 1500}", 0, NULL);
	mx_error_body(j, &code, &err, &ms);
	T_EQ_STR(code, "M_LIMIT_EXCEEDED");
	T_EQ_STR(err, "Too many");
	T_EQ_INT(ms, 1500);
	json_decref(j);
	mx_error_body(NULL, &code, &err, &ms);
	T_EQ_STR(code, "");
	T_EQ_INT(ms, -1);
	return (0);
}

static int
mentioned(const char *content)
{
	json_t	*c = json_loads(content, 0, NULL);
	int	 rv;

	if (c == NULL)
		return (-1);
	rv = mx_mentioned(c, &self);
	json_decref(c);
	return (rv);
}

static int
t_mentions(void)
{
	self_init();
	T_EQ_INT(mentioned("{\"body\": \"hello\"}"), 0);
	T_EQ_INT(mentioned("{\"body\": \"hey LF Bot, hi\"}"), 1);
	T_EQ_INT(mentioned("{\"body\": \"hey lf bot\"}"), 1);
	T_EQ_INT(mentioned("{\"body\": \"hey LF Botty\"}"), 0);
	T_EQ_INT(mentioned("{\"body\": \"@lfbot:example.org: hi\"}"), 1);
	T_EQ_INT(mentioned("{\"body\": \"@lfbot:example.orgx\"}"), 0);
	T_EQ_INT(mentioned("{\"body\": \"hi\", \"m.mentions\": "
	    "{\"user_ids\": [\"@lfbot:example.org\"]}}"), 1);
	/* m.mentions there: the body's words do not count. */
	T_EQ_INT(mentioned("{\"body\": \"LF Bot\", \"m.mentions\": {}}"), 0);
	T_EQ_INT(mentioned("{\"body\": \"x\", \"formatted_body\": \"<a "
	    "href='https://matrix.to/#/@lfbot:example.org'>bot</a>\"}"), 1);
	return (0);
}

static json_t *
event(const char *ev, const char *room, int is_group, const char **skip)
{
	json_t	*e = json_loads(ev, 0, NULL), *m;

	m = mx_event_message(e, room, NULL, is_group, &self, skip);
	json_decref(e);
	return (m);
}

static int
t_message(void)
{
	json_t		*m, *p;
	const char	*skip;

	self_init();
	m = event("{\"type\": \"m.room.message\", \"sender\": \"@alice:x\", "
	    "\"event_id\": \"$e1:x\", \"content\": {\"msgtype\": \"m.text\", "
	    "\"body\": \"hello\"}}", "!r:x", 0, &skip);
	T_OK(m != NULL);
	p = json_object_get(m, "params");
	T_EQ_STR(json_string_value(json_object_get(m, "method")), "message");
	T_EQ_STR(json_string_value(json_object_get(p, "user_id")), "@alice:x");
	T_EQ_STR(json_string_value(json_object_get(p, "user_name")), "alice");
	T_EQ_STR(json_string_value(json_object_get(p, "message_id")), "$e1:x");
	T_EQ_STR(json_string_value(json_object_get(p, "channel_id")), "!r:x");
	T_EQ_STR(json_string_value(json_object_get(p, "platform")), "matrix");
	T_OK(!json_is_true(json_object_get(p, "is_group")));
	T_OK(json_is_false(json_object_get(json_object_get(p, "metadata"),
	    "was_mentioned")));
	json_decref(m);
	/* A group, a thread, a command. */
	m = event("{\"type\": \"m.room.message\", \"sender\": \"@a:x\", "
	    "\"event_id\": \"$e2:x\", \"content\": {\"msgtype\": \"m.text\", "
	    "\"body\": \"/ask LF Bot\", \"m.relates_to\": {\"rel_type\": "
	    "\"m.thread\", \"event_id\": \"$root:x\"}}}", "!g:x", 1, &skip);
	T_OK(m != NULL);
	p = json_object_get(m, "params");
	T_OK(json_is_true(json_object_get(p, "is_group")));
	T_EQ_STR(json_string_value(json_object_get(p, "thread_id")),
	    "$root:x");
	T_OK(json_is_true(json_object_get(json_object_get(p, "metadata"),
	    "was_mentioned")));
	T_EQ_STR(json_string_value(json_object_get(json_object_get(
	    json_object_get(p, "content"), "Command"), "name")), "ask");
	json_decref(m);
	return (0);
}

static int
t_skips(void)
{
	const char	*skip;

	self_init();
	T_OK(event("{\"type\": \"m.room.message\", \"sender\": "
	    "\"@lfbot:example.org\", \"event_id\": \"$1\", \"content\": "
	    "{\"msgtype\": \"m.text\", \"body\": \"mine\"}}", "!r:x", 0,
	    &skip) == NULL);
	T_EQ_STR(skip, "the bot's own message");
	T_OK(event("{\"type\": \"m.room.message\", \"sender\": \"@a:x\", "
	    "\"event_id\": \"$1\", \"content\": {\"msgtype\": \"m.notice\", "
	    "\"body\": \"n\"}}", "!r:x", 0, &skip) == NULL);
	T_OK(event("{\"type\": \"m.room.message\", \"sender\": \"@a:x\", "
	    "\"event_id\": \"$1\", \"content\": {}}", "!r:x", 0,
	    &skip) == NULL);
	T_OK(event("{\"type\": \"m.room.member\", \"sender\": \"@a:x\", "
	    "\"event_id\": \"$1\", \"content\": {}}", "!r:x", 0,
	    &skip) == NULL);
	T_OK(event("{\"type\": \"m.room.message\", \"sender\": \"@a:x\", "
	    "\"content\": {\"msgtype\": \"m.text\", \"body\": \"b\"}}", "!r:x",
	    0, &skip) == NULL);
	T_OK(event("{\"type\": \"m.room.message\", \"sender\": \"@a:x\", "
	    "\"event_id\": \"$1\", \"content\": {\"msgtype\": \"m.text\", "
	    "\"body\": \"* fixed\", \"m.relates_to\": {\"rel_type\": "
	    "\"m.replace\", \"event_id\": \"$0\"}}}", "!r:x", 0,
	    &skip) == NULL);
	T_OK(event("[1, 2]", "!r:x", 0, &skip) == NULL);
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "user ids and access tokens checked", t_ids },
		{ "path segments percent-encoded", t_escape },
		{ "transaction ids unique per process and call", t_txn },
		{ "text cut at the limit: line, word, character", t_split },
		{ "error bodies: errcode, error, retry_after_ms", t_errors },
		{ "mentions: m.mentions, display name, user id, link",
		    t_mentions },
		{ "a timeline event's message event, field by field",
		    t_message },
		{ "events skipped: own, notices, edits, malformed", t_skips },
		{ NULL, NULL }
	};

	return (tap_main(cases));
}
