/*
 * auditload - the audit bench's writers: W threads, each with its own bus
 * client, send audit.append with B fresh entries per call for S seconds
 * and count what was acknowledged.  Prints "<entries/s>\t<calls/s>".
 *
 *	auditload [-u url] WRITERS BATCH SECONDS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "err.h"
#include "msg.h"
#include "services.h"
#include "util.h"

struct writer {
	pthread_t	 w_thr;
	const char	*w_url;
	long long	 w_batch;
	uint64_t	 w_until;
	long long	 w_entries;
	long long	 w_calls;
	long long	 w_failed;
};

static json_t *
batch(long long n)
{
	char		 id[UTIL_UUID_LEN];
	json_t		*list = json_array();
	long long	 i;

	for (i = 0; list != NULL && i < n; i++) {
		util_uuid4(id);
		if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, "
		    "s:s, s:s, s:s}", "id", id, "timestamp",
		    "2026-01-01T00:00:00.000Z", "agent_id", "bench", "action",
		    "ToolInvoke", "detail", "tool 'bench' (call x)",
		    "outcome", "success")) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	return (list);
}

static void *
writer_main(void *arg)
{
	struct writer		*w = arg;
	struct bus_client	*bc;
	struct msg_rep		 rep;
	json_t			*req;

	if ((bc = bus_client_open(w->w_url)) == NULL)
		return (NULL);
	while (util_now_ms() < w->w_until) {
		req = msg_request(OP_AUDIT_APPEND, NULL, util_wall_ms() + 10000,
		    NULL, NULL, NULL, json_pack("{s:o, s:s}", "entries",
		    batch(w->w_batch), "source", "auditload"));
		if (req == NULL)
			break;
		if (bus_call(bc, SVC_AUDIT, req, 10000, &rep) == 0) {
			if (rep.mp_status == 200) {
				w->w_entries += w->w_batch;
				w->w_calls++;
			} else
				w->w_failed++;
			msg_rep_release(&rep);
		} else
			w->w_failed++;
		json_decref(req);
	}
	bus_client_close(bc);
	return (NULL);
}

int
main(int argc, char **argv)
{
	struct writer	*ws;
	const char	*url = getenv("LIBREFANG_BUS_URL");
	long long	 n, b, secs, i, entries = 0, calls = 0, failed = 0;
	uint64_t	 t0, until;
	double		 el;

	if (argc == 6 && strcmp(argv[1], "-u") == 0) {
		url = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc != 4 || url == NULL ||
	    util_strtonum(argv[1], 1, 64, &n) != 0 ||
	    util_strtonum(argv[2], 1, 500, &b) != 0 ||
	    util_strtonum(argv[3], 1, 600, &secs) != 0) {
		fprintf(stderr, "usage: auditload [-u url] WRITERS BATCH "
		    "SECONDS\n");
		return (2);
	}
	if ((ws = calloc((size_t)n, sizeof(*ws))) == NULL)
		return (1);
	t0 = util_now_ms();
	until = t0 + (uint64_t)secs * 1000;
	for (i = 0; i < n; i++) {
		ws[i].w_url = url;
		ws[i].w_batch = b;
		ws[i].w_until = until;
		if (pthread_create(&ws[i].w_thr, NULL, writer_main,
		    &ws[i]) != 0)
			return (1);
	}
	for (i = 0; i < n; i++) {
		pthread_join(ws[i].w_thr, NULL);
		entries += ws[i].w_entries;
		calls += ws[i].w_calls;
		failed += ws[i].w_failed;
	}
	el = (double)(util_now_ms() - t0) / 1000.0;
	printf("%.0f\t%.0f\t%lld\n", (double)entries / el, (double)calls / el,
	    failed);
	free(ws);
	bus_fini();
	return (0);
}
