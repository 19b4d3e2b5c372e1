/*
 * gw_logs.c - GET /api/logs/stream: the log lines every service and
 * replica publishes on TOPIC_LOGS (libshared svc_log_publish()), as
 * server-sent events, live:
 *
 *	event: log	{"timestamp","level","service","target","pid","host",
 *			 "message"}
 *	: keep-alive	every GW_TURN_IDLE_MS without a line
 *
 * Filters, from the query: level=error|warn|info|debug (that level and
 * the more severe ones; default: all that is published, info and up
 * unless a service logs debug) and service=<name> (one service, e.g.
 * agent-runtime or api-gateway); anything else is 400.
 *
 * The machinery is gw_comms.c's: one subscriber thread appends each line
 * to every open stream that wants it, through the SSE writer (gw_sse.c),
 * which suspends a connection with nothing to send.  Lines are best
 * effort (PUB/SUB may drop them, and a stream that does not read is ended
 * past GW_LOGS_MAX_OUT unsent bytes).
 *
 * Locking: gw_logs_mtx guards the list and is taken before a stream's
 * writer mutex.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bus.h"
#include "err.h"
#include "gateway.h"
#include "log.h"
#include "services.h"

#define GW_LOGS_MAX_OUT		(1024 * 1024)	/* unsent bytes */
#define GW_LOGS_TICK_MS		250		/* how soon stop is seen */
#define GW_LOGS_SVC_MAX		32

struct gw_lstream {
	struct gw_lstream	*l_next;	/* under gw_logs_mtx */
	struct gw_lstream	*l_prev;
	struct gw_sse		 l_sse;
	uint64_t		 l_active_ms;	/* under l_sse's mutex */
	int			 l_level;	/* LOG_LVL_*: the least severe
						   wanted */
	char			 l_svc[GW_LOGS_SVC_MAX];	/* "": all */
};

static pthread_mutex_t	 gw_logs_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct gw_lstream *gw_logs_head;
static int		 gw_logs_stopping;	/* under gw_logs_mtx */
static struct bus_sub	*gw_logs_sub;
static pthread_t	 gw_logs_thr;
static int		 gw_logs_started;
static atomic_int	 gw_logs_quit;

/* Appends text to s.  Its writer's mutex held. */
static void
gw_logs_add(struct gw_lstream *s, const char *text, uint64_t now)
{
	if (s->l_sse.ss_finished)
		return;
	gw_sse_raw(&s->l_sse, text);	/* ends a stream that does not read */
	s->l_active_ms = now;
	gw_sse_wake(&s->l_sse);
}

/* One line (frame NULL: none) to the streams that want it, keep-alives
 * to the idle ones.  gw_logs_mtx held. */
static void
gw_logs_deliver(const char *frame, int level, const char *svc, uint64_t now)
{
	struct gw_lstream	*s;

	for (s = gw_logs_head; s != NULL; s = s->l_next) {
		pthread_mutex_lock(&s->l_sse.ss_mtx);
		if (frame != NULL && level <= s->l_level &&
		    (s->l_svc[0] == '\0' || strcmp(s->l_svc, svc) == 0))
			gw_logs_add(s, frame, now);
		else if (now - s->l_active_ms >= GW_TURN_IDLE_MS)
			gw_logs_add(s, ": keep-alive\n\n", now);
		pthread_mutex_unlock(&s->l_sse.ss_mtx);
	}
}

static void *
gw_logs_main(void *arg)
{
	char		*topic, *js, *frame;
	const char	*svc;
	size_t		 len;
	json_t		*ev;
	int		 level;

	(void)arg;
	while (!atomic_load(&gw_logs_quit)) {
		frame = NULL;
		svc = "";
		level = LOG_LVL_DEBUG;
		ev = NULL;
		if (bus_sub_recv(gw_logs_sub, GW_LOGS_TICK_MS, &topic,
		    &ev) == 0) {
			free(topic);
			if (json_is_object(ev) &&
			    (js = json_dumps(ev, MSG_JSON_FLAGS)) != NULL) {
				len = strlen(js) + 32;
				if ((frame = malloc(len)) != NULL)
					snprintf(frame, len, "event: log\n"
					    "data: %s\n\n", js);
				free(js);
				svc = json_string_value(json_object_get(ev,
				    "service")) ?: "";
				level = log_parse_level(json_string_value(
				    json_object_get(ev, "level")) ?: "");
				if (level < 0)
					level = LOG_LVL_DEBUG;
			}
		}
		pthread_mutex_lock(&gw_logs_mtx);
		gw_logs_deliver(frame, level, svc, util_now_ms());
		pthread_mutex_unlock(&gw_logs_mtx);
		free(frame);
		json_decref(ev);
	}
	return (NULL);
}

int
gw_logs_start(const struct sh_config *cfg)
{
	if ((gw_logs_sub = bus_sub_open(cfg->bus_url)) == NULL ||
	    bus_subscribe(gw_logs_sub, TOPIC_LOGS) != 0) {
		log_warnx("%s: could not subscribe to '%s'", __func__,
		    TOPIC_LOGS);
		bus_sub_close(gw_logs_sub);
		gw_logs_sub = NULL;
		return (-1);
	}
	atomic_store(&gw_logs_quit, 0);
	if (pthread_create(&gw_logs_thr, NULL, gw_logs_main, NULL) != 0) {
		log_warnx("%s: could not start the subscriber", __func__);
		bus_sub_close(gw_logs_sub);
		gw_logs_sub = NULL;
		return (-1);
	}
	gw_logs_started = 1;
	return (0);
}

void
gw_logs_stop(void)
{
	if (!gw_logs_started)
		return;
	atomic_store(&gw_logs_quit, 1);
	pthread_join(gw_logs_thr, NULL);
	gw_logs_started = 0;
	bus_sub_close(gw_logs_sub);
	gw_logs_sub = NULL;
}

static enum MHD_Result
gw_logs_queue(struct gw_req *gr)
{
	struct gw_lstream	*s = gr->gr_ctx;

	return (gw_sse_respond(gr, &s->l_sse));
}

static void
gw_logs_free(struct gw_lstream *s)
{
	gw_sse_release(&s->l_sse);
	free(s);
}

static void
gw_logs_cleanup(struct gw_req *gr)
{
	struct gw_lstream	*s = gr->gr_ctx;

	if (s == NULL)
		return;
	gr->gr_ctx = NULL;
	pthread_mutex_lock(&gw_logs_mtx);
	if (s->l_prev != NULL)
		s->l_prev->l_next = s->l_next;
	else
		gw_logs_head = s->l_next;
	if (s->l_next != NULL)
		s->l_next->l_prev = s->l_prev;
	pthread_mutex_unlock(&gw_logs_mtx);
	gw_logs_free(s);
}

/* The query's filters into s; 0, or -1 after a 400. */
static int
gw_logs_filters(struct gw_req *gr, struct gw_lstream *s)
{
	static const char *const svcs[] = SVC_LIST;
	json_t		*q = NULL;
	const char	*k, *v;
	json_t		*jv;
	size_t		 i;
	int		 ret = -1;

	s->l_level = LOG_LVL_DEBUG;
	if (gr->gr_query != NULL && (q = gw_query_parse(gr->gr_query)) ==
	    NULL) {
		gw_reply_error(gr, 400, "malformed query string");
		return (-1);
	}
	json_object_foreach(q, k, jv) {
		v = json_string_value(jv);
		if (strcmp(k, "level") == 0) {
			if (v == NULL || (s->l_level = log_parse_level(v)) <
			    0) {
				gw_reply_error(gr, 400, "level must be one of "
				    "error, warn, info, debug");
				goto done;
			}
		} else if (strcmp(k, "service") == 0) {
			for (i = 0; v != NULL && svcs[i] != NULL; i++)
				if (strcmp(v, svcs[i]) == 0)
					break;
			if (v == NULL || (svcs[i] == NULL &&
			    strcmp(v, "api-gateway") != 0)) {
				gw_reply_error(gr, 400, "unknown service: one "
				    "of api-gateway, agent-runtime, scheduler, "
				    "memory, audit, channels");
				goto done;
			}
			snprintf(s->l_svc, sizeof(s->l_svc), "%s", v);
		} else {
			gw_reply_error(gr, 400, "unknown query parameter: "
			    "level and service are the filters");
			goto done;
		}
	}
	ret = 0;
 done:
	json_decref(q);
	return (ret);
}

int
gw_logs_stream(struct gw_req *gr)
{
	struct gw_lstream	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	if (gw_logs_filters(gr, s) != 0) {
		free(s);
		return (0);
	}
	gw_sse_init(&s->l_sse, gr);
	s->l_sse.ss_out.b_max = GW_LOGS_MAX_OUT;
	s->l_sse.ss_started = 1;	/* queued at once: nothing to end */
	s->l_active_ms = util_now_ms();
	if (buf_adds(&s->l_sse.ss_out, ": log stream\n\n") != 0) {
		gw_logs_free(s);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	pthread_mutex_lock(&gw_logs_mtx);
	if (gw_logs_stopping || gw_logs_sub == NULL) {
		pthread_mutex_unlock(&gw_logs_mtx);
		gw_logs_free(s);
		gw_reply_error(gr, 503, gw_logs_stopping ? "shutting down" :
		    "the log stream is unavailable");
		return (0);
	}
	if ((s->l_next = gw_logs_head) != NULL)
		s->l_next->l_prev = s;
	gw_logs_head = s;
	gr->gr_ctx = s;
	gr->gr_cleanup = gw_logs_cleanup;
	gr->gr_queue = gw_logs_queue;
	pthread_mutex_unlock(&gw_logs_mtx);
	return (0);
}

void
gw_logs_shutdown(void)
{
	struct gw_lstream	*s;

	pthread_mutex_lock(&gw_logs_mtx);
	gw_logs_stopping = 1;
	for (s = gw_logs_head; s != NULL; s = s->l_next) {
		pthread_mutex_lock(&s->l_sse.ss_mtx);
		gw_sse_end(&s->l_sse);
		pthread_mutex_unlock(&s->l_sse.ss_mtx);
	}
	pthread_mutex_unlock(&gw_logs_mtx);
}

long long
gw_logs_count(void)
{
	struct gw_lstream	*s;
	long long		 n = 0;

	pthread_mutex_lock(&gw_logs_mtx);
	for (s = gw_logs_head; s != NULL; s = s->l_next)
		n++;
	pthread_mutex_unlock(&gw_logs_mtx);
	return (n);
}
