/*
 * bustool - the bus from the shell, for tests and debugging.
 *
 *   bustool [-u url] [-t ms] req SERVICE OP ['{"params":..,"body":..}']
 *	prints the reply envelope as one JSON line; exit 0 if one arrived;
 *	a "caller" object in the JSON adds to the caller (principal
 *	"bustool")
 *   bustool [-u url] pub TOPIC JSON
 *   bustool [-u url] [-t ms] sub TOPIC [COUNT]
 *	prints "topic json" lines until COUNT messages or the timeout
 *   bustool [-u url] [-t ms] [-c N] [-i ms] load SERVICE OP COUNT
 *	sends COUNT requests, N at a time, each sender pausing ms between
 *	two (and 10 ms after a failure); prints {"sent", "status": {code:
 *	n}, "errors": {reason: n}, "ms"}; exit 0 if every request got a
 *	reply
 *   bustool [-u url] [-t ms] serve SERVICE WORKERS HOLD
 *	a replica of SERVICE with WORKERS workers: each request waits until
 *	HOLD requests are held at once (or -t ms pass), then all are
 *	answered 200 {"held": n} together -- a burst of replies; HOLD 0
 *	holds until -t ms and prints "held N" as each arrives.  Prints
 *	"serving 'SERVICE'" once open; runs until SIGTERM or SIGINT
 *
 * The URL defaults to the configured bus_url (LIBREFANG_BUS_URL, or
 * ipc://$LIBREFANG_HOME/run/bus).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
	    "       bustool [-u url] [-t ms] sub TOPIC [COUNT]\n"
	    "       bustool [-u url] [-t ms] [-c N] [-i ms] load SVC OP COUNT\n"
	    "       bustool [-u url] [-t ms] serve SVC WORKERS HOLD\n");
	exit(2);
}

static int
do_req(const char *url, int timeout, int argc, char **argv)
{
	struct bus_client	*bc;
	struct msg_rep		 rep;
	json_error_t		 je;
	json_t			*extra = NULL, *req, *caller;
	char			*out;
	int			 rc;

	if (argc < 2 || argc > 3)
		usage();
	if (argc == 3 && (extra = json_loads(argv[2], 0, &je)) == NULL) {
		fprintf(stderr, "bustool: bad JSON: %s\n", je.text);
		return (2);
	}
	caller = json_pack("{s:s}", "principal", "bustool");
	if (caller != NULL && json_is_object(json_object_get(extra, "caller")))
		json_object_update(caller, json_object_get(extra, "caller"));
	req = msg_request(argv[1], NULL, util_wall_ms() + timeout, caller,
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

/* ---- load: light, steady traffic for the stop and restart tests ---- */

struct load {
	struct bus_client	*ld_bus;
	const char		*ld_svc;
	const char		*ld_op;
	int			 ld_timeout;
	int			 ld_pause;
	atomic_llong		 ld_left;
	pthread_mutex_t		 ld_mtx;
	long long		 ld_status[600];	/* under ld_mtx */
	long long		 ld_errors[16];		/* by -SH_E* code */
};

static void *
load_main(void *arg)
{
	struct load	*ld = arg;
	struct msg_rep	 rep;
	json_t		*req;
	int		 rc;

	while (atomic_fetch_sub(&ld->ld_left, 1) > 0) {
		req = msg_request(ld->ld_op, NULL, util_wall_ms() +
		    ld->ld_timeout, json_pack("{s:s}", "principal", "bustool"),
		    NULL, NULL, NULL);
		rc = req == NULL ? SH_ENOMEM :
		    bus_call(ld->ld_bus, ld->ld_svc, req, ld->ld_timeout, &rep);
		json_decref(req);
		pthread_mutex_lock(&ld->ld_mtx);
		if (rc == 0)
			ld->ld_status[rep.mp_status]++;
		else if (-rc > 0 && -rc < 16)
			ld->ld_errors[-rc]++;
		pthread_mutex_unlock(&ld->ld_mtx);
		if (rc == 0)
			msg_rep_release(&rep);
		if (rc != 0 || ld->ld_pause > 0)
			util_sleep_ms(rc != 0 ? 10 : (unsigned)ld->ld_pause);
	}
	return (NULL);
}

static int
do_load(const char *url, int timeout, int conc, int pause, int argc,
    char **argv)
{
	struct load	 ld;
	pthread_t	*th;
	json_t		*out, *st, *er;
	char		 key[16], *js;
	long long	 n, got = 0;
	uint64_t	 t0 = util_now_ms();
	int		 i, started = 0;

	if (argc != 3 || util_strtonum(argv[2], 1, 100000000, &n) != 0)
		usage();
	if ((th = calloc((size_t)conc, sizeof(*th))) == NULL)
		return (1);
	memset(&ld, 0, sizeof(ld));
	pthread_mutex_init(&ld.ld_mtx, NULL);
	ld.ld_svc = argv[0];
	ld.ld_op = argv[1];
	ld.ld_timeout = timeout;
	ld.ld_pause = pause;
	atomic_store(&ld.ld_left, n);
	if ((ld.ld_bus = bus_client_open(url)) == NULL) {
		fprintf(stderr, "bustool: cannot open bus '%s'\n", url);
		free(th);
		return (1);
	}
	for (i = 0; i < conc; i++)
		if (pthread_create(&th[i], NULL, load_main, &ld) == 0)
			started++;
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	bus_client_close(ld.ld_bus);
	out = json_object();
	st = json_object();
	er = json_object();
	for (i = 0; i < 600; i++)
		if (ld.ld_status[i] > 0) {
			snprintf(key, sizeof(key), "%d", i);
			json_object_set_new(st, key, json_integer(ld.ld_status[i]));
			got += ld.ld_status[i];
		}
	for (i = 1; i < 16; i++)
		if (ld.ld_errors[i] > 0)
			json_object_set_new(er, sh_strerror(-i),
			    json_integer(ld.ld_errors[i]));
	json_object_set_new(out, "sent", json_integer(n));
	json_object_set_new(out, "status", st);
	json_object_set_new(out, "errors", er);
	json_object_set_new(out, "ms", json_integer((json_int_t)
	    (util_now_ms() - t0)));
	js = json_dumps(out, JSON_COMPACT);
	printf("%s\n", js ? js : "");
	free(js);
	json_decref(out);
	pthread_mutex_destroy(&ld.ld_mtx);
	free(th);
	return (got == n ? 0 : 1);
}

/* ---- serve: a replica that answers in bursts ----------------------- */

struct hold {
	pthread_mutex_t	 ho_mtx;
	pthread_cond_t	 ho_cv;
	int		 ho_want;	/* 0: until the timeout */
	int		 ho_held;	/* waiting now */
	int		 ho_release;	/* the current batch may go */
	int		 ho_stop;
	int		 ho_timeout;
};

static json_t *
hold_handle(void *worker, const struct msg_req *req)
{
	struct hold	*ho = worker;
	struct timespec	 until;
	int		 held;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ho->ho_timeout / 1000;
	until.tv_nsec += (long)(ho->ho_timeout % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&ho->ho_mtx);
	ho->ho_held++;
	if (ho->ho_want == 0) {
		/* For a test that waits until every request is held. */
		printf("held %d\n", ho->ho_held);
		fflush(stdout);
	}
	if (ho->ho_want > 0 && ho->ho_held >= ho->ho_want) {
		ho->ho_release = 1;
		pthread_cond_broadcast(&ho->ho_cv);
	}
	while (!ho->ho_release && !ho->ho_stop)
		if (pthread_cond_timedwait(&ho->ho_cv, &ho->ho_mtx,
		    &until) != 0)
			break;
	held = ho->ho_held;
	/* The last of a batch to leave opens the next one. */
	if (--ho->ho_held == 0)
		ho->ho_release = 0;
	pthread_mutex_unlock(&ho->ho_mtx);
	return (msg_reply(req->mr_id, 200, json_pack("{s:i}", "held", held)));
}

static int
do_serve(const char *url, int timeout, int argc, char **argv)
{
	struct bus_server	*bs;
	struct hold		 ho;
	sigset_t		 set;
	long long		 workers, want;
	int			 sig;

	if (argc != 3 || util_strtonum(argv[1], 1, 1024, &workers) != 0 ||
	    util_strtonum(argv[2], 0, 1024, &want) != 0)
		usage();
	memset(&ho, 0, sizeof(ho));
	pthread_mutex_init(&ho.ho_mtx, NULL);
	pthread_cond_init(&ho.ho_cv, NULL);
	ho.ho_want = (int)want;
	ho.ho_timeout = timeout;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((bs = bus_server_open(url, argv[0], (int)workers, hold_handle,
	    NULL, NULL, &ho)) == NULL) {
		fprintf(stderr, "bustool: cannot serve '%s' on '%s'\n",
		    argv[0], url);
		return (1);
	}
	printf("serving '%s'\n", argv[0]);
	fflush(stdout);
	sigwait(&set, &sig);
	pthread_mutex_lock(&ho.ho_mtx);
	ho.ho_stop = 1;
	pthread_cond_broadcast(&ho.ho_cv);
	pthread_mutex_unlock(&ho.ho_mtx);
	bus_server_close(bs);
	pthread_cond_destroy(&ho.ho_cv);
	pthread_mutex_destroy(&ho.ho_mtx);
	return (0);
}

int
main(int argc, char **argv)
{
	struct sh_config cfg;
	char		*owned = NULL;
	const char	*url = NULL;
	int		 rc = 2;
	char		 err[512];
	long long	 t = 5000, conc = 1, pause = 0;
	int		 ch;

	log_init("bustool", LOG_LVL_WARN, 0);
	while ((ch = getopt(argc, argv, "c:i:u:t:")) != -1) {
		switch (ch) {
		case 'c':
			if (util_strtonum(optarg, 1, 1024, &conc) != 0)
				usage();
			break;
		case 'i':
			if (util_strtonum(optarg, 0, 60000, &pause) != 0)
				usage();
			break;
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
	else if (strcmp(argv[0], "serve") == 0)
		rc = do_serve(url, (int)t, argc - 1, argv + 1);
	else if (strcmp(argv[0], "load") == 0)
		rc = do_load(url, (int)t, (int)conc, (int)pause, argc - 1,
		    argv + 1);
	else
		usage();
	free(owned);
	bus_fini();
	return (rc);
}
