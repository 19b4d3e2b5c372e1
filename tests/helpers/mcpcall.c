/*
 * mcpcall - times MCP tools/call round trips through our client
 * (mcp/conn.c) to one stdio server, for `make bench` (tests/bench/mcp.sh).
 *
 *   mcpcall N TOOL ARGS-JSON COMMAND [ARG...]
 *
 * Starts COMMAND as the server, runs the handshake, then N calls of TOOL
 * with ARGS-JSON (after N/10 warm-up calls) one after the other, and
 * prints one line: "calls N p50_us P p99_us Q" (exit 0), or why it could
 * not (exit 1; 2 on bad usage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcp/mcp.h"
#include "util.h"

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

int
main(int argc, char **argv)
{
	struct mcp_conn	*mc;
	json_t		*spec, *args, *tools = NULL, *params, *res, *rerr;
	uint64_t	*us, t0;
	char		 err[256];
	long long	 n;
	int		 i, k, rv;

	if (argc < 5 || util_strtonum(argv[1], 1, 1000000, &n) != 0) {
		fprintf(stderr, "usage: mcpcall N TOOL ARGS-JSON COMMAND "
		    "[ARG...]\n");
		return (2);
	}
	if ((args = json_array()) == NULL ||
	    (us = calloc((size_t)n, sizeof(*us))) == NULL)
		return (1);
	for (i = 5; i < argc; i++)
		json_array_append_new(args, json_string(argv[i]));
	spec = json_pack("{s:s, s:{s:s, s:s, s:o}, s:{}, s:i}", "name",
	    "bench", "transport", "type", "stdio", "command", argv[4], "args",
	    args, "env", "timeout_secs", 30);
	params = json_pack("{s:s, s:o}", "name", argv[2], "arguments",
	    json_loads(argv[3], 0, NULL));
	if (spec == NULL || params == NULL) {
		fprintf(stderr, "mcpcall: bad ARGS-JSON\n");
		return (2);
	}
	if ((mc = mcp_conn_open("bench", spec, (int64_t)util_now_ms() + 30000,
	    NULL, &tools, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mcpcall: %s\n", err);
		return (1);
	}
	for (k = -(int)(n / 10); k < n; k++) {
		t0 = util_now_ns();
		res = rerr = NULL;
		rv = mcp_conn_request(mc, "tools/call", params,
		    (int64_t)util_now_ms() + 30000, &res, &rerr, err,
		    sizeof(err));
		if (k >= 0)
			us[k] = (util_now_ns() - t0) / 1000;
		json_decref(res);
		json_decref(rerr);
		if (rv != 0) {
			fprintf(stderr, "mcpcall: call %d: %s\n", k,
			    rv == 1 ? "error answer" : err);
			return (1);
		}
	}
	qsort(us, (size_t)n, sizeof(*us), cmp_u64);
	printf("calls %lld p50_us %llu p99_us %llu\n", n,
	    (unsigned long long)us[n / 2],
	    (unsigned long long)us[(n * 99) / 100 < n ? (n * 99) / 100 :
	    n - 1]);
	mcp_conn_close(mc);
	json_decref(tools);
	json_decref(params);
	json_decref(spec);
	free(us);
	return (0);
}
