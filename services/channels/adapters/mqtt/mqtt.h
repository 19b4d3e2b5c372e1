/*
 * mqtt.h - the MQTT adapter's helpers that need no broker (README.md):
 * who a message is from (the topic's levels after its filter, or the
 * JSON payload), the reply topic, and a text split to fit the platform's
 * message size.  No state and no libmosquitto; the adapter is mqtt.c.
 */
#ifndef MQTT_H
#define MQTT_H

#include <stddef.h>

#include <jansson.h>

#define MQTT_LEVEL_MAX	128	/* a user or thread id, bytes */

/* The filter without a shared subscription's "$share/<group>/" (MQTT 5),
 * which topics are matched against.  Borrowed: points into filter. */
const char *mqtt_filter_body(const char *filter);

/*
 * Where the topic's levels after filter's literal ones (those before
 * its first wildcard) name the sender: the first is the user id, the
 * next (if any) the thread id.  "librefang/in/#" and
 * "librefang/in/alice/t1" give "alice" and "t1".  Each is copied to
 * user and thread (at least MQTT_LEVEL_MAX + 1 bytes each), "" when the
 * topic has no such level or it is not a valid id (mqtt_valid_id()).
 * The topic is assumed to match the filter.
 */
void	 mqtt_topic_ids(const char *filter, const char *topic, char *user,
	    char *thread);

/*
 * 1 if s can stand for a user or thread id in a topic: 1 to
 * MQTT_LEVEL_MAX bytes of UTF-8 without '/', '+', '#' or control
 * characters; else 0.
 */
int	 mqtt_valid_id(const char *s);

/*
 * A payload as the adapter reads it.  A JSON object is read for its
 * members user_id and message_id (each a string or an integer),
 * user_name, text and thread_id (strings), each NULL when absent or of
 * the wrong type; any other
 * payload is plain text, made UTF-8 (ad_utf8_clean()), in mp_text.
 * Pointers are owned by the struct until mqtt_payload_release().
 */
struct mqtt_payload {
	int		 mp_json;	/* 1: a JSON object */
	const char	*mp_user_id;
	const char	*mp_user_name;
	const char	*mp_text;
	const char	*mp_message_id;
	const char	*mp_thread_id;
	json_t		*mp_root;	/* owned, or NULL */
	char		*mp_buf;	/* owned: plain text, or an id */
	char		*mp_ubuf;	/* owned: a numeric user id */
};

/* Reads n bytes of payload into p.  0, or SH_ENOMEM (p is then empty;
 * mqtt_payload_release() is safe either way). */
int	 mqtt_payload_read(const void *data, size_t n, struct mqtt_payload *p);
void	 mqtt_payload_release(struct mqtt_payload *p);

/*
 * The reply topic: tmpl with each "{user_id}" replaced by user_id.  New
 * (free()), or NULL out of memory.
 */
char	*mqtt_reply_topic(const char *tmpl, const char *user_id);

/*
 * The length of the next piece of text (n bytes) to publish in one
 * message of at most room bytes of text: n when it fits, else at most
 * room, never inside a UTF-8 sequence, at least 1, and after the last
 * newline or space of the piece's second half when there is one (kept
 * in the piece: the pieces put together are the text).
 */
size_t	 mqtt_split(const char *text, size_t n, size_t room);

#endif /* MQTT_H */
