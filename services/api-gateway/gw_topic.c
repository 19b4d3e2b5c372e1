/*
 * gw_topic.c - a bus topic streamed to HTTP clients as server-sent events
 * (GET /api/comms/events/stream in gw_comms.c, GET /api/logs/stream in
 * gw_logs.c): each open stream gets
 *
 *	event: <tp_event>	the message's JSON object, as published
 *	: keep-alive		every GW_TURN_IDLE_MS without an event
 *
 * One subscriber thread per topic receives every message and appends it
 * to each open stream whose filter wants it (tp_want), through the
 * writer the streamed turns use (gw_sse.c): libmicrohttpd pulls the text
 * through a content reader that suspends the connection when there is
 * nothing to send, and whoever adds text resumes it.  A stream starts
 * with a comment (tp_hello) so the client has its headers at once.
 *
 * A client that goes away is noticed at the next write (a message or the
 * keep-alive, so within GW_TURN_IDLE_MS): the request ends and
 * gw_topic_cleanup() unlists and frees the stream.  Messages are best
 * effort: PUB/SUB may drop them under load, and a stream that does not
 * read is ended past GW_TOPIC_MAX_OUT unsent bytes.
 *
 * Locking: tp_mtx guards the list and is taken before a stream's writer
 * mutex.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "err.h"
#include "gateway.h"
#include "log.h"

#define GW_TOPIC_MAX_OUT	(1024 * 1024)	/* unsent bytes */
#define GW_TOPIC_JOIN_MS	750		/* stop waits this long */

struct gw_tstream {
	struct gw_tstream	*ts_next;	/* under tp_mtx */
	struct gw_tstream	*ts_prev;
	struct gw_topic		*ts_topic;
	struct gw_sse		 ts_sse;
	uint64_t		 ts_active_ms;	/* last text added (under
						   ts_sse's mutex) */
	max_align_t		 ts_filter[];	/* the route's, for tp_want */
};

/* Appends text to s.  Its writer's mutex held. */
static void
gw_topic_add(struct gw_tstream *s, const char *text, uint64_t now)
{
	if (s->ts_sse.ss_finished)
		return;
	gw_sse_raw(&s->ts_sse, text);	/* ends a stream that does not read */
	s->ts_active_ms = now;
	gw_sse_wake(&s->ts_sse);
}

/* One message (frame NULL: none; ev borrowed) to the streams that want
 * it, keep-alives to the idle ones.  Returns how long the subscriber may
 * wait for the next message before a keep-alive is due, in ms; -1 with
 * no stream open (gw_topic_stream() wakes it for a new one).  tp_mtx
 * held. */
static int
gw_topic_deliver(struct gw_topic *tp, const char *frame, json_t *ev,
    uint64_t now)
{
	struct gw_tstream	*s;
	uint64_t		 idle;
	int			 wait = -1;

	for (s = tp->tp_head; s != NULL; s = s->ts_next) {
		pthread_mutex_lock(&s->ts_sse.ss_mtx);
		if (frame != NULL && (tp->tp_want == NULL ||
		    tp->tp_want(s->ts_filter, ev)))
			gw_topic_add(s, frame, now);
		else if (now - s->ts_active_ms >= GW_TURN_IDLE_MS)
			gw_topic_add(s, ": keep-alive\n\n", now);
		/* A finished stream gets nothing more: it only waits for
		 * its cleanup. */
		idle = now - s->ts_active_ms;
		if (!s->ts_sse.ss_finished && (wait < 0 ||
		    GW_TURN_IDLE_MS - idle < (uint64_t)wait))
			wait = idle < GW_TURN_IDLE_MS ?
			    (int)(GW_TURN_IDLE_MS - idle) : 1;
		pthread_mutex_unlock(&s->ts_sse.ss_mtx);
	}
	return (wait);
}

static void *
gw_topic_main(void *arg)
{
	struct gw_topic	*tp = arg;
	char		*topic, *js, *frame;
	size_t		 len;
	json_t		*ev;
	int		 wait = -1;

	/* The wait ends at the first keep-alive due, or at a message, a
	 * new stream or a stop (bus_sub_wake()): idle, it has none. */
	while (!atomic_load(&tp->tp_quit)) {
		frame = NULL;
		ev = NULL;
		if (bus_sub_recv(tp->tp_sub, wait, &topic, &ev) == 0) {
			free(topic);
			/* Only objects go out: anything else is not a
			 * message of the topic. */
			if (json_is_object(ev) &&
			    (js = json_dumps(ev, MSG_JSON_FLAGS)) != NULL) {
				len = strlen(tp->tp_event) + strlen(js) + 32;
				if ((frame = malloc(len)) != NULL)
					snprintf(frame, len, "event: %s\n"
					    "data: %s\n\n", tp->tp_event, js);
				free(js);
			}
		}
		pthread_mutex_lock(&tp->tp_mtx);
		wait = gw_topic_deliver(tp, frame, ev, util_now_ms());
		pthread_mutex_unlock(&tp->tp_mtx);
		free(frame);
		json_decref(ev);
	}
	return (NULL);
}

int
gw_topic_start(struct gw_topic *tp, const struct sh_config *cfg)
{
	if ((tp->tp_sub = bus_sub_open(cfg->bus_url)) == NULL ||
	    bus_subscribe(tp->tp_sub, tp->tp_topic) != 0) {
		log_warnx("%s: could not subscribe to '%s'", __func__,
		    tp->tp_topic);
		bus_sub_close(tp->tp_sub);
		tp->tp_sub = NULL;
		return (-1);
	}
	atomic_store(&tp->tp_quit, 0);
	if (pthread_create(&tp->tp_thr, NULL, gw_topic_main, tp) != 0) {
		log_warnx("%s: could not start the subscriber of '%s'",
		    __func__, tp->tp_topic);
		bus_sub_close(tp->tp_sub);
		tp->tp_sub = NULL;
		return (-1);
	}
	tp->tp_started = 1;
	return (0);
}

void
gw_topic_stop(struct gw_topic *tp)
{
	struct timespec	 ts;
	struct bus_sub	*sub;

	if (!tp->tp_started)
		return;
	atomic_store(&tp->tp_quit, 1);
	tp->tp_started = 0;
	bus_sub_wake(tp->tp_sub);
	/*
	 * The thread sees tp_quit at once, its receive woken.  Once in t0400
	 * it did not: its timed nng_recvmsg never returned (nng 1.5.2; the
	 * teardown of bus.h's nanomsg/nng#1813 note), and the gateway hung at
	 * its stop.  So the wait is bounded: a stuck subscriber and its
	 * socket are left to the process's end (bus_fini()'s watchdog), and
	 * what follows the stop -- the audit relay's flush -- still runs.
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)GW_TOPIC_JOIN_MS * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	if (pthread_timedjoin_np(tp->tp_thr, NULL, &ts) != 0) {
		log_warnx("%s: the subscriber of '%s' did not stop in %d ms; "
		    "left to the exit", __func__, tp->tp_topic,
		    GW_TOPIC_JOIN_MS);
		pthread_mutex_lock(&tp->tp_mtx);
		tp->tp_sub = NULL;
		pthread_mutex_unlock(&tp->tp_mtx);
		return;
	}
	/* Unlisted under tp_mtx: gw_topic_stream() wakes it under it. */
	pthread_mutex_lock(&tp->tp_mtx);
	sub = tp->tp_sub;
	tp->tp_sub = NULL;
	pthread_mutex_unlock(&tp->tp_mtx);
	bus_sub_close(sub);
}

/* gr_queue: the SSE response. */
static enum MHD_Result
gw_topic_queue(struct gw_req *gr)
{
	struct gw_tstream	*s = gr->gr_ctx;

	return (gw_sse_respond(gr, &s->ts_sse));
}

static void
gw_topic_free(struct gw_tstream *s)
{
	gw_sse_release(&s->ts_sse);
	free(s);
}

/* gr_cleanup: the request is over (client gone, or shutdown). */
static void
gw_topic_cleanup(struct gw_req *gr)
{
	struct gw_tstream	*s = gr->gr_ctx;
	struct gw_topic		*tp;

	if (s == NULL)
		return;
	gr->gr_ctx = NULL;
	tp = s->ts_topic;
	pthread_mutex_lock(&tp->tp_mtx);
	if (s->ts_prev != NULL)
		s->ts_prev->ts_next = s->ts_next;
	else
		tp->tp_head = s->ts_next;
	if (s->ts_next != NULL)
		s->ts_next->ts_prev = s->ts_prev;
	tp->tp_n--;
	pthread_mutex_unlock(&tp->tp_mtx);
	gw_topic_free(s);
}

int
gw_topic_stream(struct gw_topic *tp, struct gw_req *gr, const void *filter,
    size_t size)
{
	struct gw_tstream	*s;

	if ((s = calloc(1, offsetof(struct gw_tstream, ts_filter) +
	    size)) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	if (size > 0)
		memcpy(s->ts_filter, filter, size);
	s->ts_topic = tp;
	gw_sse_init(&s->ts_sse, gr);
	s->ts_sse.ss_out.b_max = GW_TOPIC_MAX_OUT;
	/* The response is queued at once (gr_queue, no GR_WAIT): the
	 * first wake has nothing to end. */
	s->ts_sse.ss_started = 1;
	s->ts_active_ms = util_now_ms();
	if (buf_adds(&s->ts_sse.ss_out, tp->tp_hello) != 0) {
		gw_topic_free(s);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	pthread_mutex_lock(&tp->tp_mtx);
	if (tp->tp_stopping || tp->tp_sub == NULL) {
		pthread_mutex_unlock(&tp->tp_mtx);
		gw_topic_free(s);
		if (tp->tp_stopping)
			gw_reply_error(gr, 503, "shutting down");
		else
			gw_reply_error(gr, 503, "the %s is unavailable",
			    tp->tp_what);
		return (0);
	}
	if ((s->ts_next = tp->tp_head) != NULL)
		s->ts_next->ts_prev = s;
	tp->tp_head = s;
	tp->tp_n++;
	gr->gr_ctx = s;
	gr->gr_cleanup = gw_topic_cleanup;
	gr->gr_queue = gw_topic_queue;
	/* Its keep-alives are due: the subscriber may wait without a
	 * deadline, or past this stream's first one. */
	bus_sub_wake(tp->tp_sub);
	pthread_mutex_unlock(&tp->tp_mtx);
	return (0);
}

void
gw_topic_shutdown(struct gw_topic *tp)
{
	struct gw_tstream	*s;

	pthread_mutex_lock(&tp->tp_mtx);
	tp->tp_stopping = 1;
	for (s = tp->tp_head; s != NULL; s = s->ts_next) {
		pthread_mutex_lock(&s->ts_sse.ss_mtx);
		gw_sse_end(&s->ts_sse);
		pthread_mutex_unlock(&s->ts_sse.ss_mtx);
	}
	pthread_mutex_unlock(&tp->tp_mtx);
}

long long
gw_topic_count(struct gw_topic *tp)
{
	long long	n;

	pthread_mutex_lock(&tp->tp_mtx);
	n = tp->tp_n;
	pthread_mutex_unlock(&tp->tp_mtx);
	return (n);
}
