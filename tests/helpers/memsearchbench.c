/*
 * memsearchbench - latency of memory search over the bus, for `make
 * bench` (tests/bench/memsearch.sh).
 *
 *   memsearchbench [-u url] AGENT COUNT QUERY...
 *
 * Sends COUNT memory.search requests for agent AGENT, one at a time,
 * cycling through the QUERY strings, then COUNT memory.kv.get requests
 * (keys "k0".."k99" of the same agent: a plain primary-key lookup, the
 * floor a bus round trip and one indexed row set).  Prints one line per
 * figure: "<what>\t<p50 ms>\t<p99 ms>\t<mean results>".  Exit 0 if every
 * request got a 200.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "util.h"

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

static void
report(const char *what, uint64_t *ns, long n, double results)
{
	qsort(ns, (size_t)n, sizeof(*ns), cmp_u64);
	printf("%s\t%.3f\t%.3f\t%.1f\n", what, ns[n / 2] / 1e6,
	    ns[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e6, results);
}

/* One call of op; its latency in *ns; the length of body[list] (or 1)
 * added to *results.  0 on a 200. */
static int
one(struct bus_client *bc, const char *op, json_t *params, json_t *query,
    const char *list, uint64_t *ns, double *results)
{
	struct msg_rep	 rep;
	json_t		*req;
	uint64_t	 t0;
	int		 rv, ok;

	req = msg_request(op, NULL, util_wall_ms() + 10000, json_pack("{s:s}",
	    "principal", "bench"), params, query, NULL);
	if (req == NULL)
		return (-1);
	t0 = util_now_ns();
	rv = bus_call(bc, SVC_MEMORY, req, 10000, &rep);
	*ns = util_now_ns() - t0;
	json_decref(req);
	if (rv != 0)
		return (-1);
	ok = rep.mp_status == 200;
	*results += list != NULL ? (double)json_array_size(json_object_get(
	    rep.mp_body, list)) : 1;
	msg_rep_release(&rep);
	return (ok ? 0 : -1);
}

int
main(int argc, char **argv)
{
	struct sh_config	 cfg;
	struct bus_client	*bc;
	const char		*url = NULL, *agent;
	char			 err[256], key[16];
	uint64_t		*ns;
	double			 res = 0;
	long long		 count;
	long			 i;
	int			 ch, nq, fails = 0;

	while ((ch = getopt(argc, argv, "u:")) != -1)
		if (ch == 'u')
			url = optarg;
		else
			goto usage;
	argc -= optind;
	argv += optind;
	if (argc < 3 || util_strtonum(argv[1], 1, 10000000, &count) != 0)
		goto usage;
	agent = argv[0];
	nq = argc - 2;
	log_init("memsearchbench", 0, 0);
	if (url == NULL) {
		if (cfg_load(&cfg, NULL, err, sizeof(err)) != 0) {
			fprintf(stderr, "memsearchbench: %s\n", err);
			return (1);
		}
		url = cfg.bus_url;
	}
	if ((bc = bus_client_open(url)) == NULL ||
	    (ns = calloc((size_t)count, sizeof(*ns))) == NULL) {
		fprintf(stderr, "memsearchbench: could not open the bus\n");
		return (1);
	}
	util_sleep_ms(200);	/* the first dial */
	for (i = 0; i < count; i++)
		if (one(bc, OP_MEMORY_SEARCH, json_object(), json_pack(
		    "{s:s, s:s, s:s}", "q", argv[2 + i % nq], "agent_id", agent,
		    "limit", "10"), "memories", &ns[i], &res) != 0)
			fails++;
	report("memory.search", ns, (long)count, res / (double)count);
	res = 0;
	for (i = 0; i < count; i++) {
		snprintf(key, sizeof(key), "k%ld", i % 100);
		if (one(bc, OP_MEMORY_KV_GET, json_pack("{s:s, s:s}", "id",
		    agent, "key", key), NULL, NULL, &ns[i], &res) != 0)
			fails++;
	}
	report("memory.kv.get (floor)", ns, (long)count, res / (double)count);
	free(ns);
	bus_client_close(bc);
	if (fails > 0)
		fprintf(stderr, "memsearchbench: %d requests failed\n", fails);
	return (fails > 0);
 usage:
	fprintf(stderr, "usage: memsearchbench [-u url] AGENT COUNT "
	    "QUERY...\n");
	return (2);
}
