/*
 * t_mqtt.c - the MQTT adapter's helpers (services/channels/adapters/
 * mqtt/mqtt_msg.c): ids from topics, payloads read, reply topics, texts
 * split at the message size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"
#include "tap.h"
#include "util.h"

static int
t_topic_ids(void)
{
	static const struct {
		const char	*filter, *topic, *user, *thread;
	} cases[] = {
		{ "librefang/in/#", "librefang/in/alice", "alice", "" },
		{ "librefang/in/#", "librefang/in/alice/t1", "alice", "t1" },
		{ "librefang/in/#", "librefang/in/alice/t1/x", "alice", "t1" },
		{ "librefang/in/#", "librefang/in", "", "" },
		{ "librefang/in/#", "librefang/in/", "", "" },
		{ "librefang/+/in", "librefang/bob/in", "bob", "in" },
		{ "#", "dev42/kitchen", "dev42", "kitchen" },
		{ "a/b", "a/b", "", "" },
		{ "+/x/#", "carol/x/y", "carol", "x" },
		/* A shared subscription's group is not a level. */
		{ "$share/lf/librefang/in/#", "librefang/in/al/t", "al", "t" },
		/* A level that cannot be an id is left out. */
		{ "in/#", "in/\x01" "bad/t", "", "t" },
	};
	char	user[MQTT_LEVEL_MAX + 1], thread[MQTT_LEVEL_MAX + 1];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mqtt_topic_ids(cases[i].filter, cases[i].topic, user, thread);
		if (strcmp(user, cases[i].user) != 0 ||
		    strcmp(thread, cases[i].thread) != 0) {
			printf("# '%s' on '%s': user '%s' thread '%s'\n",
			    cases[i].topic, cases[i].filter, user, thread);
			return (-1);
		}
	}
	return (0);
}

static int
t_valid_id(void)
{
	char	longer[MQTT_LEVEL_MAX + 2];

	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	T_EQ_INT(mqtt_valid_id("alice"), 1);
	T_EQ_INT(mqtt_valid_id("élan-42"), 1);
	T_EQ_INT(mqtt_valid_id(""), 0);
	T_EQ_INT(mqtt_valid_id("a/b"), 0);
	T_EQ_INT(mqtt_valid_id("a+"), 0);
	T_EQ_INT(mqtt_valid_id("#"), 0);
	T_EQ_INT(mqtt_valid_id("a\nb"), 0);
	T_EQ_INT(mqtt_valid_id("\xff\xfe"), 0);
	T_EQ_INT(mqtt_valid_id(longer), 0);
	longer[MQTT_LEVEL_MAX] = '\0';
	T_EQ_INT(mqtt_valid_id(longer), 1);
	return (0);
}

static int
t_payload(void)
{
	struct mqtt_payload	p;
	const char		*j = "{\"user_id\":\"bob\","
				    "\"user_name\":\"Bob\",\"text\":\"hi\","
				    "\"message_id\":77,\"thread_id\":\"t9\"}";
	const char		*plain = "caf\xe9 au lait";
	const char		*odd = "{\"text\":5,\"message_id\":\"m1\"}";

	T_OK(mqtt_payload_read(j, strlen(j), &p) == 0);
	T_EQ_INT(p.mp_json, 1);
	T_EQ_STR(p.mp_user_id, "bob");
	T_EQ_STR(p.mp_user_name, "Bob");
	T_EQ_STR(p.mp_text, "hi");
	T_EQ_STR(p.mp_message_id, "77");
	T_EQ_STR(p.mp_thread_id, "t9");
	mqtt_payload_release(&p);
	/* Not JSON: plain text, made UTF-8. */
	T_OK(mqtt_payload_read(plain, strlen(plain), &p) == 0);
	T_EQ_INT(p.mp_json, 0);
	T_EQ_STR(p.mp_text, "café au lait");
	T_OK(p.mp_user_id == NULL && p.mp_message_id == NULL);
	mqtt_payload_release(&p);
	/* Numeric ids are written out. */
	T_OK(mqtt_payload_read("{\"user_id\":42,\"text\":\"x\"}", 25,
	    &p) == 0);
	T_EQ_STR(p.mp_user_id, "42");
	T_OK(p.mp_message_id == NULL);
	mqtt_payload_release(&p);
	/* JSON of the wrong types: no text. */
	T_OK(mqtt_payload_read(odd, strlen(odd), &p) == 0);
	T_EQ_INT(p.mp_json, 1);
	T_OK(p.mp_text == NULL);
	T_EQ_STR(p.mp_message_id, "m1");
	mqtt_payload_release(&p);
	/* A broken object, a JSON string: texts someone typed. */
	T_OK(mqtt_payload_read("{oops", 5, &p) == 0);
	T_EQ_INT(p.mp_json, 0);
	T_EQ_STR(p.mp_text, "{oops");
	mqtt_payload_release(&p);
	T_OK(mqtt_payload_read("\"hi\"", 4, &p) == 0);
	T_EQ_STR(p.mp_text, "\"hi\"");
	mqtt_payload_release(&p);
	/* A NUL inside plain text does not cut it. */
	T_OK(mqtt_payload_read("a\0b", 3, &p) == 0);
	T_EQ_STR(p.mp_text, "a\xef\xbf\xbd" "b");
	mqtt_payload_release(&p);
	return (0);
}

static int
t_reply_topic(void)
{
	char	*t;

	T_OK((t = mqtt_reply_topic("librefang/out/{user_id}", "alice")) !=
	    NULL);
	T_EQ_STR(t, "librefang/out/alice");
	free(t);
	T_OK((t = mqtt_reply_topic("{user_id}/r/{user_id}", "b")) != NULL);
	T_EQ_STR(t, "b/r/b");
	free(t);
	T_OK((t = mqtt_reply_topic("all/replies", "b")) != NULL);
	T_EQ_STR(t, "all/replies");
	free(t);
	return (0);
}

/* Splits text at room and checks the pieces: each fits, is whole UTF-8,
 * and together they are the text. */
static int
split_check(const char *text, size_t room, int *pieces)
{
	size_t	n = strlen(text), k, off = 0;

	*pieces = 0;
	while (off < n) {
		k = mqtt_split(text + off, n - off, room);
		if (k == 0 || k > room ||
		    !util_utf8_valid((const unsigned char *)text + off, k)) {
			printf("# bad piece at %zu: %zu bytes (room %zu)\n",
			    off, k, room);
			return (-1);
		}
		off += k;
		(*pieces)++;
	}
	return (off == n ? 0 : -1);
}

static int
t_split(void)
{
	const char	*unit = "word élan 😀 ";
	char		 buf[4096];
	int		 pieces;
	size_t		 i;

	T_EQ_INT(mqtt_split("short", 5, 64), 5);
	/* At the last space of the second half, the space kept. */
	T_EQ_INT(mqtt_split("hello world again", 17, 12), 12);
	T_EQ_INT(mqtt_split("hello world again", 17, 10), 6);
	/* A newline before a space. */
	T_EQ_INT(mqtt_split("aaaa\nbb cc dd", 13, 8), 5);
	/* Never inside a sequence: "é" is 2 bytes, "😀" 4. */
	T_EQ_INT(mqtt_split("aé", 3, 2), 1);
	T_EQ_INT(mqtt_split("😀😀", 8, 6), 4);
	for (i = 0; i + strlen(unit) < sizeof(buf); i += strlen(unit))
		memcpy(buf + i, unit, strlen(unit));
	buf[i] = '\0';
	T_OK(split_check(buf, 64, &pieces) == 0);
	T_OK(pieces >= (int)(i / 64));
	T_OK(split_check(buf, 7, &pieces) == 0);
	T_OK(split_check("😀😀😀", 4, &pieces) == 0);
	T_EQ_INT(pieces, 3);
	return (0);
}

static const struct tap_case cases[] = {
	{ "a topic's levels after the filter are the user and thread",
	    t_topic_ids },
	{ "ids are single topic levels of UTF-8", t_valid_id },
	{ "payloads: JSON objects read for their members, anything else "
	    "plain text", t_payload },
	{ "the reply topic's {user_id} is replaced", t_reply_topic },
	{ "texts split to fit, never inside a UTF-8 sequence", t_split },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
