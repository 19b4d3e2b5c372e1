/*
 * mqtt_msg.c - the MQTT adapter's helpers that need no broker: ids from
 * topics, payloads read, reply topics, texts split (mqtt.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "err.h"
#include "mqtt.h"
#include "util.h"

int
mqtt_valid_id(const char *s)
{
	size_t	n = strlen(s), i;

	if (n == 0 || n > MQTT_LEVEL_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    s[i] == '/' || s[i] == '+' || s[i] == '#')
			return (0);
	return (util_utf8_valid((const unsigned char *)s, n));
}

/* Copies the level at *p (up to '/' or the end) to out when it is a
 * valid id, else ""; moves *p past it and its '/'. */
static void
mqtt_take_level(const char **p, char *out)
{
	size_t	n = strcspn(*p, "/");

	out[0] = '\0';
	if (n <= MQTT_LEVEL_MAX) {
		memcpy(out, *p, n);
		out[n] = '\0';
		if (!mqtt_valid_id(out))
			out[0] = '\0';
	}
	*p += n;
	if (**p == '/')
		(*p)++;
}

const char *
mqtt_filter_body(const char *filter)
{
	const char	*g;

	if (strncmp(filter, "$share/", 7) != 0 ||
	    (g = strchr(filter + 7, '/')) == NULL)
		return (filter);
	return (g + 1);
}

void
mqtt_topic_ids(const char *filter, const char *topic, char *user,
    char *thread)
{
	const char	*f = mqtt_filter_body(filter), *t = topic;
	size_t		 n;

	user[0] = thread[0] = '\0';
	/* Skip the filter's literal levels, and the topic's with them. */
	for (;;) {
		n = strcspn(f, "/");
		if ((n == 1 && (f[0] == '+' || f[0] == '#')) || f[0] == '\0')
			break;
		t += strcspn(t, "/");
		if (*t == '\0' || f[n] == '\0')
			return;		/* nothing after the literal part */
		t++;
		f += n + 1;
	}
	if (*t == '\0')
		return;
	mqtt_take_level(&t, user);
	if (*t != '\0')
		mqtt_take_level(&t, thread);
}

/* A member as a string: a string, or an integer written out (ids are
 * numbers on many platforms).  NULL for anything else. */
static const char *
mqtt_member(json_t *o, const char *key, char *num, size_t numlen)
{
	json_t	*v = json_object_get(o, key);

	if (json_is_string(v))
		return (json_string_value(v));
	if (json_is_integer(v) && num != NULL) {
		snprintf(num, numlen, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return (num);
	}
	return (NULL);
}

int
mqtt_payload_read(const void *data, size_t n, struct mqtt_payload *p)
{
	char	 num[32], uid[32];

	memset(p, 0, sizeof(p[0]));
	/* Only what starts like an object is tried as JSON: "42" or
	 * "\"hi\"" are texts someone typed. */
	if (n > 0 && ((const char *)data)[0] == '{' &&
	    (p->mp_root = json_loadb(data, n, JSON_REJECT_DUPLICATES,
	    NULL)) != NULL && json_is_object(p->mp_root)) {
		p->mp_json = 1;
		p->mp_user_id = mqtt_member(p->mp_root, "user_id", uid,
		    sizeof(uid));
		p->mp_user_name = mqtt_member(p->mp_root, "user_name", NULL,
		    0);
		p->mp_text = mqtt_member(p->mp_root, "text", NULL, 0);
		p->mp_thread_id = mqtt_member(p->mp_root, "thread_id", NULL,
		    0);
		p->mp_message_id = mqtt_member(p->mp_root, "message_id", num,
		    sizeof(num));
		/* Numbers written out live in the struct's buffers. */
		if ((p->mp_message_id == num &&
		    (p->mp_message_id = p->mp_buf = strdup(num)) == NULL) ||
		    (p->mp_user_id == uid &&
		    (p->mp_user_id = p->mp_ubuf = strdup(uid)) == NULL)) {
			mqtt_payload_release(p);
			return (SH_ENOMEM);
		}
		return (0);
	}
	json_decref(p->mp_root);
	p->mp_root = NULL;
	if ((p->mp_buf = ad_utf8_clean(data, n)) == NULL)
		return (SH_ENOMEM);
	p->mp_text = p->mp_buf;
	return (0);
}

void
mqtt_payload_release(struct mqtt_payload *p)
{
	json_decref(p->mp_root);
	free(p->mp_buf);
	free(p->mp_ubuf);
	memset(p, 0, sizeof(p[0]));
}

char *
mqtt_reply_topic(const char *tmpl, const char *user_id)
{
	static const char	 key[] = "{user_id}";
	const char		*s, *hit;
	char			*out, *o;
	size_t			 k = 0, klen = strlen(key);

	for (s = tmpl; (hit = strstr(s, key)) != NULL; s = hit + klen)
		k++;
	if ((out = malloc(strlen(tmpl) + k * strlen(user_id) + 1)) == NULL)
		return (NULL);
	o = out;
	for (s = tmpl; (hit = strstr(s, key)) != NULL; s = hit + klen) {
		memcpy(o, s, (size_t)(hit - s));
		o += hit - s;
		memcpy(o, user_id, strlen(user_id));
		o += strlen(user_id);
	}
	memcpy(o, s, strlen(s) + 1);
	return (out);
}

size_t
mqtt_split(const char *text, size_t n, size_t room)
{
	size_t	k, i;

	if (n <= room)
		return (n);
	if (room == 0)
		room = 1;
	/* Back to the start of a UTF-8 sequence: the byte after the piece
	 * must not be a continuation byte. */
	for (k = room; k > 0 && ((unsigned char)text[k] & 0xc0) == 0x80; k--)
		;
	if (k == 0)
		k = room;	/* no sequence start: bytes, not text */
	/* A newline, else a space, in the second half ends the piece. */
	for (i = k; i > k / 2; i--)
		if (text[i - 1] == '\n')
			return (i);
	for (i = k; i > k / 2; i--)
		if (text[i - 1] == ' ')
			return (i);
	return (k);
}
