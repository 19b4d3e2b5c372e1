/*
 * bustool - the bus from the shell, for tests and debugging.
 *
 *   bustool [-u url] [-t ms] req SERVICE OP ['{"params":..,"body":..}']
 *	prints the reply envelope as one JSON line; exit 0 if one arrived
 *   bustool [-u url] pub TOPIC JSON
 *   bustool [-u url] [-t ms] sub TOPIC [COUNT]
 *	prints "topic json" lines until COUNT messages or the timeout
 *
 * The URL defaults to the configured bus_url (LIBREFANG_BUS_URL, or
 * ipc://$LIBREFANG_HOME/run/bus).
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
#include "util.h"

static void
usage(void)
{
	fprintf(stderr, "usage: bustool [-u url] [-t ms] req SVC OP [JSON]\n"
	    "       bustool [-u url] pub TOPIC JSON\n"
	    "       bustool [-u url] [-t ms] sub TOPIC [COUNT]\n");
	exit(2);
}

static int
do_req(const char *url, int timeout, int argc, char **argv)
{
	struct bus_client	*bc;
	struct msg_rep		 rep;
	json_error_t		 je;
	json_t			*extra = NULL, *req;
	char			*out;
	int			 rc;

	if (argc < 2 || argc > 3)
		usage();
	if (argc == 3 && (extra = json_loads(argv[2], 0, &je)) == NULL) {
		fprintf(stderr, "bustool: bad JSON: %s\n", je.text);
		return (2);
	}
	req = msg_request(argv[1], NULL, util_wall_ms() + timeout,
	    json_pack("{s:s}", "principal", "bustool"),
	    json_incref(json_object_get(extra, "params")),
	    json_incref(json_object_get(extra, "query")),
	    json_incref(json_object_get(extra, "body")));
	json_decref(extra);
	if ((bc = bus_client_open(url)) == NULL) {
		fprintf(stderr, "bustool: cannot open bus '%s'\n", url);
		json_decref(req);
		return (1);
	}
	rc = bus_call(bc, argv[0], req, timeout, &rep);
	json_decref(req);
	if (rc != 0) {
		fprintf(stderr, "bustool: %s\n", sh_strerror(rc));
		bus_client_close(bc);
		return (1);
	}
	out = json_dumps(rep.mp_root, JSON_COMPACT | JSON_SORT_KEYS);
	printf("%s\n", out ? out : "");
	free(out);
	msg_rep_release(&rep);
	bus_client_close(bc);
	return (0);
}

static int
do_pub(const char *url, int argc, char **argv)
{
	struct bus_pub	*bp;
	json_error_t	 je;
	json_t		*body;
	int		 rc;

	if (argc != 2)
		usage();
	if ((body = json_loads(argv[1], JSON_DECODE_ANY, &je)) == NULL) {
		fprintf(stderr, "bustool: bad JSON: %s\n", je.text);
		return (2);
	}
	if ((bp = bus_pub_open(url)) == NULL) {
		json_decref(body);
		return (1);
	}
	util_sleep_ms(200);	/* let the dial complete: PUB drops early */
	rc = bus_publish(bp, argv[0], body);
	util_sleep_ms(50);
	json_decref(body);
	bus_pub_close(bp);
	return (rc == 0 ? 0 : 1);
}

static int
do_sub(const char *url, int timeout, int argc, char **argv)
{
	struct bus_sub	*bb;
	long long	 want = 1, got = 0;
	char		*topic, *js;
	json_t		*body;

	if (argc < 1 || argc > 2)
		usage();
	if (argc == 2 && util_strtonum(argv[1], 1, 1000000, &want) != 0)
		usage();
	if ((bb = bus_sub_open(url)) == NULL || bus_subscribe(bb, argv[0]))
		return (1);
	while (got < want && bus_sub_recv(bb, timeout, &topic, &body) == 0) {
		js = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%s %s\n", topic, js ? js : "");
		fflush(stdout);
		free(js);
		free(topic);
		json_decref(body);
		got++;
	}
	bus_sub_close(bb);
	return (got == want ? 0 : 1);
}

int
main(int argc, char **argv)
{
	struct sh_config cfg;
	char		*owned = NULL;
	const char	*url = NULL;
	int		 rc = 2;
	char		 err[512];
	long long	 t = 5000;
	int		 ch;

	log_init("bustool", LOG_LVL_WARN, 0);
	while ((ch = getopt(argc, argv, "u:t:")) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 't':
			if (util_strtonum(optarg, 1, 3600000, &t) != 0)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (url == NULL) {
		if (cfg_load(&cfg, NULL, err, sizeof(err)) != 0) {
			fprintf(stderr, "bustool: %s\n", err);
			return (1);
		}
		url = owned = strdup(cfg.bus_url);
		cfg_release(&cfg);
		if (url == NULL)
			return (1);
	}
	if (strcmp(argv[0], "req") == 0)
		rc = do_req(url, (int)t, argc - 1, argv + 1);
	else if (strcmp(argv[0], "pub") == 0)
		rc = do_pub(url, argc - 1, argv + 1);
	else if (strcmp(argv[0], "sub") == 0)
		rc = do_sub(url, (int)t, argc - 1, argv + 1);
	else
		usage();
	free(owned);
	bus_fini();
	return (rc);
}
