/*
 * gw_comms.c - GET /api/comms/events/stream: the inter-agent events the
 * runtime publishes on TOPIC_COMMS (services/agent-runtime/comms/), as
 * server-sent events, live:
 *
 *	event: comms	{"id","timestamp","kind","source_id","source_name",
 *			 "target_id","target_name","detail"}
 *	: keep-alive	every GW_TURN_IDLE_MS without an event
 *
 * One subscriber thread receives every event and appends it to each open
 * stream.  The text goes out through the writer the streamed turns use
 * (gw_sse.c): libmicrohttpd pulls it through a content reader that
 * suspends the connection when there is nothing to send, and whoever adds
 * text resumes it.  A stream starts with a comment so the client has its
 * headers at once.
 *
 * A client that goes away is noticed at the next write (an event or the
 * keep-alive, so within GW_TURN_IDLE_MS): the request ends and
 * gw_comms_cleanup() unlists and frees the stream.  PUB/SUB may drop an
 * event under load; GET /api/comms/events is the record.
 *
 * Locking: gw_comms_mtx guards the list and is taken before a stream's
 * writer mutex.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "err.h"
#include "gateway.h"
#include "log.h"
#include "services.h"

#define GW_COMMS_MAX_OUT	(1024 * 1024)	/* unsent bytes */
#define GW_COMMS_TICK_MS	250		/* how soon stop is seen */

struct gw_cstream {
	struct gw_cstream	*c_next;	/* under gw_comms_mtx */
	struct gw_cstream	*c_prev;
	struct gw_sse		 c_sse;
	uint64_t		 c_active_ms;	/* last text added (under
						   c_sse's mutex) */
};

static pthread_mutex_t	 gw_comms_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct gw_cstream *gw_comms_head;
static long long	 gw_comms_n;
static int		 gw_comms_stopping;	/* under gw_comms_mtx */
static struct bus_sub	*gw_comms_sub;
static pthread_t	 gw_comms_thr;
static int		 gw_comms_started;
static atomic_int	 gw_comms_quit;

/* Appends text to s.  Its writer's mutex held. */
static void
gw_comms_add(struct gw_cstream *s, const char *text, uint64_t now)
{
	if (s->c_sse.ss_finished)
		return;
	gw_sse_raw(&s->c_sse, text);	/* ends a stream that does not read */
	s->c_active_ms = now;
	gw_sse_wake(&s->c_sse);
}

/* One event to every stream, keep-alives to the idle ones.
 * gw_comms_mtx held. */
static void
gw_comms_deliver(const char *frame, uint64_t now)
{
	struct gw_cstream	*s;

	for (s = gw_comms_head; s != NULL; s = s->c_next) {
		pthread_mutex_lock(&s->c_sse.ss_mtx);
		if (frame != NULL)
			gw_comms_add(s, frame, now);
		else if (now - s->c_active_ms >= GW_TURN_IDLE_MS)
			gw_comms_add(s, ": keep-alive\n\n", now);
		pthread_mutex_unlock(&s->c_sse.ss_mtx);
	}
}

static void *
gw_comms_main(void *arg)
{
	char		*topic, *js, *frame;
	size_t		 len;
	json_t		*ev;
	int		 rv;

	(void)arg;
	while (!atomic_load(&gw_comms_quit)) {
		frame = NULL;
		rv = bus_sub_recv(gw_comms_sub, GW_COMMS_TICK_MS, &topic, &ev);
		if (rv == 0) {
			if (json_is_object(ev) &&
			    (js = json_dumps(ev, MSG_JSON_FLAGS)) != NULL) {
				len = strlen(js) + 32;
				if ((frame = malloc(len)) != NULL)
					snprintf(frame, len, "event: comms\n"
					    "data: %s\n\n", js);
				free(js);
			}
			free(topic);
			json_decref(ev);
		}
		pthread_mutex_lock(&gw_comms_mtx);
		gw_comms_deliver(frame, util_now_ms());
		pthread_mutex_unlock(&gw_comms_mtx);
		free(frame);
	}
	return (NULL);
}

int
gw_comms_start(const struct sh_config *cfg)
{
	if ((gw_comms_sub = bus_sub_open(cfg->bus_url)) == NULL ||
	    bus_subscribe(gw_comms_sub, TOPIC_COMMS) != 0) {
		log_warnx("%s: could not subscribe to '%s'", __func__,
		    TOPIC_COMMS);
		bus_sub_close(gw_comms_sub);
		gw_comms_sub = NULL;
		return (-1);
	}
	atomic_store(&gw_comms_quit, 0);
	if (pthread_create(&gw_comms_thr, NULL, gw_comms_main, NULL) != 0) {
		log_warnx("%s: could not start the subscriber", __func__);
		bus_sub_close(gw_comms_sub);
		gw_comms_sub = NULL;
		return (-1);
	}
	gw_comms_started = 1;
	return (0);
}

void
gw_comms_stop(void)
{
	if (!gw_comms_started)
		return;
	atomic_store(&gw_comms_quit, 1);
	pthread_join(gw_comms_thr, NULL);
	gw_comms_started = 0;
	bus_sub_close(gw_comms_sub);
	gw_comms_sub = NULL;
}

/* gr_queue: the SSE response. */
static enum MHD_Result
gw_comms_queue(struct gw_req *gr)
{
	struct gw_cstream	*s = gr->gr_ctx;

	return (gw_sse_respond(gr, &s->c_sse));
}

static void
gw_comms_free(struct gw_cstream *s)
{
	gw_sse_release(&s->c_sse);
	free(s);
}

/* gr_cleanup: the request is over (client gone, or shutdown). */
static void
gw_comms_cleanup(struct gw_req *gr)
{
	struct gw_cstream	*s = gr->gr_ctx;

	if (s == NULL)
		return;
	gr->gr_ctx = NULL;
	pthread_mutex_lock(&gw_comms_mtx);
	if (s->c_prev != NULL)
		s->c_prev->c_next = s->c_next;
	else
		gw_comms_head = s->c_next;
	if (s->c_next != NULL)
		s->c_next->c_prev = s->c_prev;
	gw_comms_n--;
	pthread_mutex_unlock(&gw_comms_mtx);
	gw_comms_free(s);
}

int
gw_comms_stream(struct gw_req *gr)
{
	struct gw_cstream	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	gw_sse_init(&s->c_sse, gr);
	s->c_sse.ss_out.b_max = GW_COMMS_MAX_OUT;
	/* The response is queued at once (gr_queue, no GR_WAIT): the
	 * first wake has nothing to end. */
	s->c_sse.ss_started = 1;
	s->c_active_ms = util_now_ms();
	if (buf_adds(&s->c_sse.ss_out, ": comms events\n\n") != 0) {
		gw_comms_free(s);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	pthread_mutex_lock(&gw_comms_mtx);
	if (gw_comms_stopping || gw_comms_sub == NULL) {
		pthread_mutex_unlock(&gw_comms_mtx);
		gw_comms_free(s);
		gw_reply_error(gr, 503, gw_comms_stopping ? "shutting down" :
		    "the comms event stream is unavailable");
		return (0);
	}
	if ((s->c_next = gw_comms_head) != NULL)
		s->c_next->c_prev = s;
	gw_comms_head = s;
	gw_comms_n++;
	gr->gr_ctx = s;
	gr->gr_cleanup = gw_comms_cleanup;
	gr->gr_queue = gw_comms_queue;
	pthread_mutex_unlock(&gw_comms_mtx);
	return (0);
}

void
gw_comms_shutdown(void)
{
	struct gw_cstream	*s;

	pthread_mutex_lock(&gw_comms_mtx);
	gw_comms_stopping = 1;
	for (s = gw_comms_head; s != NULL; s = s->c_next) {
		pthread_mutex_lock(&s->c_sse.ss_mtx);
		gw_sse_end(&s->c_sse);
		pthread_mutex_unlock(&s->c_sse.ss_mtx);
	}
	pthread_mutex_unlock(&gw_comms_mtx);
}

long long
gw_comms_count(void)
{
	long long	n;

	pthread_mutex_lock(&gw_comms_mtx);
	n = gw_comms_n;
	pthread_mutex_unlock(&gw_comms_mtx);
	return (n);
}
