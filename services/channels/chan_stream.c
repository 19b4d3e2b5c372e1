/*
 * chan_stream.c - a turn's events for the adapters that stream: the
 * subscriber to TOPIC_CHAN_STREAM, and what one reply has shown.
 *
 * The router asks every turn of a channel whose adapter declared
 * "streaming" or "reaction" with caller stream TOPIC_CHAN_STREAM and
 * stream_id "<channel>:<inbound row id>" (chan_stream_id()), so any
 * replica's turn reaches the replica that runs the channel's adapter:
 * every replica subscribes, and its supervisor acts on the channels it
 * holds.  The subscriber thread only queues (bounded, like a SUB queue)
 * and wakes the supervisor, which owns everything else.
 *
 * PUB/SUB may drop, a provider call may be retried (a "restart" event:
 * its text comes again) and the loop's text before a tool call is not
 * the answer's; the reply in the outbox is the truth.  So a stream shows
 * only text consistent with what it showed before: each segment (the
 * text after the last tool call) is compared with the current attempt's
 * text, and a segment whose attempt diverges shows nothing more.  At the
 * end (chan_stream_covered()) what the last segment showed must be the
 * start of the reply; the supervisor then sends the rest as the last
 * delta, else ends the stream and sends the reply whole.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "channels.h"
#include "log.h"
#include "services.h"

#define CHAN_SUB_MAX		4096	/* events waiting, at most */

struct chan_sub {
	pthread_t	 cs_thread;
	int		 cs_started;
	atomic_int	 cs_quit;
	struct bus_sub	*cs_sub;
	pthread_mutex_t	 cs_mtx;
	json_t		*cs_queue;	/* array, under cs_mtx */
	size_t		 cs_dropped;	/* under cs_mtx */
	void		(*cs_wake)(void *);
	void		*cs_arg;
};

static void *
chan_sub_main(void *arg)
{
	struct chan_sub	*cs = arg;
	char		*topic;
	json_t		*ev;
	int		 wake;

	/* No deadline: chan_sub_close() wakes the receive. */
	while (!atomic_load(&cs->cs_quit)) {
		if (bus_sub_recv(cs->cs_sub, -1, &topic, &ev) != 0)
			continue;
		free(topic);
		wake = 0;
		pthread_mutex_lock(&cs->cs_mtx);
		if (!json_is_object(ev))
			;
		else if (json_array_size(cs->cs_queue) < CHAN_SUB_MAX) {
			wake = json_array_size(cs->cs_queue) == 0;
			(void)json_array_append(cs->cs_queue, ev);
		} else if (cs->cs_dropped++ % 1000 == 0)
			log_warnx("%s: the supervisor lags: stream events "
			    "dropped (%zu)", __func__, cs->cs_dropped);
		pthread_mutex_unlock(&cs->cs_mtx);
		json_decref(ev);
		if (wake)
			cs->cs_wake(cs->cs_arg);
	}
	return (NULL);
}

struct chan_sub *
chan_sub_open(const char *bus_url, void (*wake)(void *), void *arg)
{
	struct chan_sub	*cs;

	if ((cs = calloc(1, sizeof(*cs))) == NULL ||
	    (cs->cs_queue = json_array()) == NULL) {
		log_warnx("%s: out of memory", __func__);
		free(cs);
		return (NULL);
	}
	pthread_mutex_init(&cs->cs_mtx, NULL);
	cs->cs_wake = wake;
	cs->cs_arg = arg;
	if ((cs->cs_sub = bus_sub_open(bus_url)) == NULL ||
	    bus_subscribe(cs->cs_sub, TOPIC_CHAN_STREAM) != 0) {
		log_warnx("%s: could not subscribe to '%s' on '%s'", __func__,
		    TOPIC_CHAN_STREAM, bus_url);
		chan_sub_close(cs);
		return (NULL);
	}
	if (pthread_create(&cs->cs_thread, NULL, chan_sub_main, cs) != 0) {
		log_warnx("%s: could not start the subscriber", __func__);
		chan_sub_close(cs);
		return (NULL);
	}
	cs->cs_started = 1;
	return (cs);
}

json_t *
chan_sub_take(struct chan_sub *cs)
{
	json_t	*q = NULL;

	if (cs == NULL)
		return (NULL);
	pthread_mutex_lock(&cs->cs_mtx);
	if (json_array_size(cs->cs_queue) > 0) {
		q = cs->cs_queue;
		if ((cs->cs_queue = json_array()) == NULL) {
			/* Keep the queue: the events wait for the next
			 * call. */
			cs->cs_queue = q;
			q = NULL;
		}
	}
	pthread_mutex_unlock(&cs->cs_mtx);
	return (q);
}

void
chan_sub_close(struct chan_sub *cs)
{
	if (cs == NULL)
		return;
	if (cs->cs_started) {
		atomic_store(&cs->cs_quit, 1);
		bus_sub_wake(cs->cs_sub);
		pthread_join(cs->cs_thread, NULL);
	}
	bus_sub_close(cs->cs_sub);
	json_decref(cs->cs_queue);
	pthread_mutex_destroy(&cs->cs_mtx);
	free(cs);
}

void
chan_stream_id(char *buf, size_t len, const char *channel, long long row)
{
	snprintf(buf, len, "%s:%lld", channel, row);
}

int
chan_stream_parse(const char *id, char *channel, size_t len, long long *row)
{
	const char	*colon;
	char		*end;
	long long	 v;

	if (id == NULL || (colon = strrchr(id, ':')) == NULL ||
	    colon == id || (size_t)(colon - id) >= len || colon[1] < '0' ||
	    colon[1] > '9')
		return (-1);
	v = strtoll(colon + 1, &end, 10);
	if (*end != '\0' || v <= 0)
		return (-1);
	memcpy(channel, id, (size_t)(colon - id));
	channel[colon - id] = '\0';
	if (!chan_conf_name_ok(channel))
		return (-1);
	*row = v;
	return (0);
}

struct chan_stream *
chan_stream_new(long long row, const char *id)
{
	struct chan_stream	*st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return (NULL);
	st->st_row = row;
	snprintf(st->st_id, sizeof(st->st_id), "%s", id);
	buf_init(&st->st_shown, CHAN_STREAM_MAX);
	buf_init(&st->st_att, CHAN_STREAM_MAX);
	return (st);
}

void
chan_stream_free(struct chan_stream *st)
{
	if (st == NULL)
		return;
	buf_release(&st->st_shown);
	buf_release(&st->st_att);
	free(st->st_channel_id);
	free(st->st_thread_id);
	free(st->st_message_id);
	free(st);
}

size_t
chan_stream_delta(struct chan_stream *st, const char *text, size_t len,
    size_t limit, enum chan_text_unit unit, const char **show)
{
	const char	*seg;
	size_t		 slen, n, u;

	*show = NULL;
	if (len == 0 || st->st_bad)
		return (0);
	if (buf_add(&st->st_att, text, len) != 0) {
		/* Past CHAN_STREAM_MAX (buf reset it): the rest of this
		 * segment is not shown; the end sends what is missing. */
		st->st_bad = 1;
		return (0);
	}
	seg = st->st_shown.b_data != NULL ? st->st_shown.b_data +
	    st->st_seg : "";
	slen = st->st_shown.b_len - st->st_seg;
	/* A segment that opens with a directive ("[[silent]]",
	 * "[[reply:..]]") is not the text the answer will be. */
	if (slen == 0 && st->st_att.b_data[0] == '[') {
		if (st->st_att.b_len < 2)
			return (0);	/* not known yet */
		if (st->st_att.b_data[1] == '[') {
			st->st_bad = 1;
			return (0);
		}
	}
	if (st->st_att.b_len <= slen) {
		/* A retried call catching up with what was shown. */
		if (memcmp(st->st_att.b_data, seg, st->st_att.b_len) != 0)
			st->st_bad = 1;
		return (0);
	}
	if (slen > 0 && memcmp(st->st_att.b_data, seg, slen) != 0) {
		st->st_bad = 1;
		return (0);
	}
	if (st->st_capped)
		return (0);
	n = st->st_att.b_len - slen;
	u = chan_text_units(st->st_att.b_data + slen, n, unit);
	if (limit > 0 && st->st_units + u > limit) {
		/* The platform's message is full: the end sends the rest. */
		st->st_capped = 1;
		return (0);
	}
	if (buf_add(&st->st_shown, st->st_att.b_data + slen, n) != 0) {
		st->st_bad = 1;
		return (0);
	}
	st->st_units += u;
	*show = st->st_att.b_data + slen;
	return (n);
}

void
chan_stream_restart(struct chan_stream *st)
{
	buf_reset(&st->st_att);
	st->st_bad = 0;
}

void
chan_stream_segment(struct chan_stream *st)
{
	buf_reset(&st->st_att);
	st->st_seg = st->st_shown.b_len;
	st->st_bad = 0;
}

long long
chan_stream_covered(const struct chan_stream *st, const char *text,
    size_t len)
{
	size_t	slen = st->st_shown.b_len - st->st_seg;

	if (slen > len || (slen > 0 && memcmp(st->st_shown.b_data +
	    st->st_seg, text, slen) != 0))
		return (-1);
	return ((long long)slen);
}
