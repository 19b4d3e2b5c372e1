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
 * The machinery is gw_topic.c's, shared with the comms stream: one
 * subscriber thread appends each line to every open stream whose filters
 * want it.  Lines are best effort (PUB/SUB may drop them, and a stream
 * that does not read is ended past its limit of unsent bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"
#include "services.h"

#define GW_LOGS_SVC_MAX		32

/* A stream's filters. */
struct gw_lfilter {
	int		 lf_level;	/* LOG_LVL_*: the least severe
					   wanted */
	char		 lf_svc[GW_LOGS_SVC_MAX];	/* "": all */
};

/* tp_want: a line (ev) at lf_level or more severe, of lf_svc if set. */
static int
gw_logs_want(const void *filter, json_t *ev)
{
	const struct gw_lfilter	*f = filter;
	const char		*svc;
	int			 level;

	svc = json_string_value(json_object_get(ev, "service")) ?: "";
	level = log_parse_level(json_string_value(json_object_get(ev,
	    "level")) ?: "");
	if (level < 0)
		level = LOG_LVL_DEBUG;
	return (level <= f->lf_level &&
	    (f->lf_svc[0] == '\0' || strcmp(f->lf_svc, svc) == 0));
}

struct gw_topic	gw_logs_topic = GW_TOPIC_INIT(TOPIC_LOGS, "log",
    ": log stream\n\n", "log stream", gw_logs_want);

/* The query's filters into f; 0, or -1 after a 400. */
static int
gw_logs_filters(struct gw_req *gr, struct gw_lfilter *f)
{
	static const char *const svcs[] = SVC_LIST;
	json_t		*q = NULL;
	const char	*k, *v;
	json_t		*jv;
	size_t		 i;
	int		 ret = -1;

	f->lf_level = LOG_LVL_DEBUG;
	if (gr->gr_query != NULL && (q = gw_query_parse(gr->gr_query)) ==
	    NULL) {
		gw_reply_error(gr, 400, "malformed query string");
		return (-1);
	}
	json_object_foreach(q, k, jv) {
		v = json_string_value(jv);
		if (strcmp(k, "level") == 0) {
			if (v == NULL || (f->lf_level = log_parse_level(v)) <
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
			snprintf(f->lf_svc, sizeof(f->lf_svc), "%s", v);
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
	struct gw_lfilter	f;

	memset(&f, 0, sizeof(f));
	if (gw_logs_filters(gr, &f) != 0)
		return (0);
	return (gw_topic_stream(&gw_logs_topic, gr, &f, sizeof(f)));
}
