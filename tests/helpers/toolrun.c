/*
 * toolrun - runs one built-in tool call from the command line, for tests
 * and debugging (the agent loop is the real caller of tool_run()).
 *
 *   toolrun [-f config.toml] [-w workspace] [-m manifest.json]
 *	     [-a agent_id] [-n agent_name] [-d depth] TOOL [INPUT-JSON]
 *
 * Prints {"content", "is_error", "hard", "notices"} as one JSON line and
 * exits 0 (2 on bad usage).  Without -w the workspace is the agent's
 * (tool_workspace()); without -m the manifest is {}.  The bus (for kv_*,
 * agent_*) is the configured bus_url, when one answers.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "bus.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "tool/tool.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr, "usage: toolrun [-f config.toml] [-w workspace] "
	    "[-m manifest.json] [-a agent_id] [-n agent_name] [-d depth] "
	    "TOOL [INPUT-JSON]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct sh_config	 cfg;
	struct tool_ctx		 tc;
	struct tool_result	 r;
	struct bus_client	*bc = NULL;
	json_error_t		 je;
	json_t			*manifest = NULL, *input, *notices, *out;
	const char		*conf = NULL, *wsarg = NULL, *mtext = "{}";
	const char		*agent_id = "00000000-0000-4000-8000-000000000000";
	const char		*agent_name = "toolrun";
	char			 err[512], ws[PATH_MAX], *line;
	long long		 depth = 0;
	int			 ch, rv;

	while ((ch = getopt(argc, argv, "a:d:f:m:n:w:")) != -1) {
		switch (ch) {
		case 'a':
			agent_id = optarg;
			break;
		case 'd':
			if (util_strtonum(optarg, 0, 100, &depth) != 0)
				usage();
			break;
		case 'f':
			conf = optarg;
			break;
		case 'm':
			mtext = optarg;
			break;
		case 'n':
			agent_name = optarg;
			break;
		case 'w':
			wsarg = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		usage();
	log_init("toolrun", LOG_LVL_ERROR, 0);
	if (cfg_load(&cfg, conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "toolrun: %s\n", err);
		cfg_release(&cfg);
		return (2);
	}
	if ((manifest = json_loads(mtext, 0, &je)) == NULL) {
		fprintf(stderr, "toolrun: bad manifest JSON: %s\n", je.text);
		cfg_release(&cfg);
		return (2);
	}
	input = json_loads(argc == 2 ? argv[1] : "{}", JSON_DECODE_ANY, &je);
	if (input == NULL) {
		fprintf(stderr, "toolrun: bad input JSON: %s\n", je.text);
		json_decref(manifest);
		cfg_release(&cfg);
		return (2);
	}
	if (wsarg != NULL)
		snprintf(ws, sizeof(ws), "%s", wsarg);
	else if (tool_workspace(&cfg, agent_name, ws, sizeof(ws)) != 0) {
		perror("toolrun: workspace");
		json_decref(manifest);
		json_decref(input);
		cfg_release(&cfg);
		return (2);
	}
	if (cfg.bus_url[0] != '\0')
		bc = bus_client_open(cfg.bus_url);
	notices = json_array();
	memset(&tc, 0, sizeof(tc));
	tc.tc_cfg = &cfg;
	tc.tc_bus = bc;
	tc.tc_agent_id = agent_id;
	tc.tc_agent_name = agent_name;
	tc.tc_manifest = manifest;
	tc.tc_workspace = ws;
	tc.tc_depth = (int)depth;
	tc.tc_notices = notices;
	rv = tool_run(&tc, argv[0], input, &r);
	if (rv != 0) {
		fprintf(stderr, "toolrun: %s\n", sh_strerror(rv));
		out = NULL;
	} else {
		out = json_pack("{s:s, s:b, s:b, s:O}", "content",
		    r.tr_content, "is_error", r.tr_is_error, "hard", r.tr_hard,
		    "notices", notices);
		tool_result_release(&r);
	}
	if (out != NULL && (line = json_dumps(out, MSG_JSON_FLAGS)) != NULL) {
		printf("%s\n", line);
		free(line);
	}
	json_decref(out);
	json_decref(notices);
	json_decref(input);
	json_decref(manifest);
	if (bc != NULL)
		bus_client_close(bc);
	cfg_release(&cfg);
	bus_fini();
	return (rv == 0 ? 0 : 1);
}
