/*
 * nng_floor - the floor for the broker's CPU figure (make bench): what
 * nng itself costs to carry one request and its reply through a
 * forwarder, with none of our code in the way.
 *
 *   nng_floor device FRONT BACK    nng_device() between a raw REP socket
 *                                  listening on FRONT and a raw REQ socket
 *                                  listening on BACK (nng's own broker)
 *   nng_floor echo URL [CTXS]      a REP socket dialing URL whose CTXS
 *                                  contexts (default 8) send each request
 *                                  back as its reply
 *   nng_floor load URL CTXS SECS [RATE]
 *                                  a REQ socket dialing URL with CTXS
 *                                  contexts each sending requests of 64
 *                                  bytes for SECS seconds, back to back or
 *                                  about RATE a second in all; prints the
 *                                  number of replies
 *
 * The bench runs the three as separate processes over ipc:// and divides
 * the device's CPU time by the replies, beside the same figure for our
 * broker, at the rate our relay reached: nng's cost per message grows as
 * the rate falls (threads sleep between messages and each one wakes
 * several), so only figures at one rate compare.  SIGINT or SIGTERM stops device and echo, exit 0.  None of
 * them closes its socket: the process exits instead, since nng 1.5.2's
 * nng_close can wait forever for a pipe (nanomsg/nng#1813).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "util.h"

#define FLOOR_MSG_SIZE	64
#define FLOOR_CTX_MAX	256

struct floor_ctx {
	nng_ctx		 fc_ctx;
	nng_aio		*fc_aio;
	nng_aio		*fc_pace;	/* load with a RATE: the pause */
	nng_msg		*fc_next;	/* sent when the pause ends */
	long long	 fc_due;	/* µs: when the next one is due */
	int		 fc_sending;
};

static struct floor_ctx	 ctxs[FLOOR_CTX_MAX];
static atomic_long	 replies;
static long long	 pace_us;	/* per context; 0: back to back */

static long long
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}
static volatile sig_atomic_t stopping;

static void
usage(void)
{
	fprintf(stderr, "usage: nng_floor device FRONT BACK\n"
	    "       nng_floor echo URL [CTXS]\n"
	    "       nng_floor load URL CTXS SECS [RATE]\n");
	exit(2);
}

static void
die(const char *what, int rv)
{
	fprintf(stderr, "nng_floor: %s: %s\n", what, nng_strerror(rv));
	exit(1);
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* A whole number in [min, max] from the command line, or usage. */
static int
arg_num(const char *s, long long min, long long max)
{
	long long	n;

	if (util_strtonum(s, min, max, &n) != 0)
		usage();
	return ((int)n);
}

/* echo: receive, send the same message back, receive again. */
static void
echo_cb(void *arg)
{
	struct floor_ctx	*fc = arg;

	if (nng_aio_result(fc->fc_aio) != 0)
		return;		/* closed */
	if (fc->fc_sending) {
		fc->fc_sending = 0;
		nng_ctx_recv(fc->fc_ctx, fc->fc_aio);
		return;
	}
	nng_aio_set_msg(fc->fc_aio, nng_aio_get_msg(fc->fc_aio));
	fc->fc_sending = 1;
	nng_ctx_send(fc->fc_ctx, fc->fc_aio);
}

/* load: each reply counted, then the next request on the same context. */
static void
load_cb(void *arg)
{
	struct floor_ctx	*fc = arg;
	nng_msg			*m;

	if (nng_aio_result(fc->fc_aio) != 0)
		return;
	if (fc->fc_sending) {
		fc->fc_sending = 0;
		nng_ctx_recv(fc->fc_ctx, fc->fc_aio);
		return;
	}
	m = nng_aio_get_msg(fc->fc_aio);
	atomic_fetch_add(&replies, 1);
	if (stopping) {
		nng_msg_free(m);
		return;
	}
	if (pace_us > 0) {
		/* Due times advance by the interval, so that the ms the
		 * sleep rounds to do not add up: the rate holds. */
		long long	wait;

		fc->fc_due += pace_us;
		wait = (fc->fc_due - now_us()) / 1000;
		fc->fc_next = m;
		nng_sleep_aio(wait > 0 ? (nng_duration)wait : 0, fc->fc_pace);
		return;
	}
	nng_aio_set_msg(fc->fc_aio, m);
	fc->fc_sending = 1;
	nng_ctx_send(fc->fc_ctx, fc->fc_aio);
}

static void
pace_cb(void *arg)
{
	struct floor_ctx	*fc = arg;

	if (stopping) {
		nng_msg_free(fc->fc_next);
		return;
	}
	nng_aio_set_msg(fc->fc_aio, fc->fc_next);
	fc->fc_sending = 1;
	nng_ctx_send(fc->fc_ctx, fc->fc_aio);
}

static void
start_ctxs(nng_socket s, int n, void (*cb)(void *), int send_first)
{
	struct floor_ctx	*fc;
	nng_msg			*m;
	int			 i, rv;

	for (i = 0; i < n; i++) {
		fc = &ctxs[i];
		if ((rv = nng_ctx_open(&fc->fc_ctx, s)) != 0)
			die("nng_ctx_open", rv);
		if ((rv = nng_aio_alloc(&fc->fc_aio, cb, fc)) != 0 ||
		    (rv = nng_aio_alloc(&fc->fc_pace, pace_cb, fc)) != 0)
			die("nng_aio_alloc", rv);
		if (!send_first) {
			nng_ctx_recv(fc->fc_ctx, fc->fc_aio);
			continue;
		}
		fc->fc_due = now_us();
		if ((rv = nng_msg_alloc(&m, FLOOR_MSG_SIZE)) != 0)
			die("nng_msg_alloc", rv);
		memset(nng_msg_body(m), 'x', FLOOR_MSG_SIZE);
		nng_aio_set_msg(fc->fc_aio, m);
		fc->fc_sending = 1;
		nng_ctx_send(fc->fc_ctx, fc->fc_aio);
	}
}

static void
stop_ctxs(int n)
{
	int	i;

	for (i = 0; i < n; i++) {
		nng_aio_stop(ctxs[i].fc_pace);
		nng_aio_stop(ctxs[i].fc_aio);
	}
}

static void
wait_signal(void)
{
	while (!stopping)
		pause();
}

static nng_socket	dev_front, dev_back;

static void *
device_main(void *arg)
{
	(void)arg;
	nng_device(dev_front, dev_back);
	return (NULL);
}

/* The device runs in its own thread until the signal; the process then
 * exits without closing the sockets, which is all a bench needs. */
static int
run_device(const char *front, const char *back)
{
	nng_socket	 f, b;
	pthread_t	 t;
	int		 rv;

	if ((rv = nng_rep0_open_raw(&f)) != 0 ||
	    (rv = nng_req0_open_raw(&b)) != 0)
		die("open", rv);
	if ((rv = nng_listen(f, front, NULL, 0)) != 0)
		die(front, rv);
	if ((rv = nng_listen(b, back, NULL, 0)) != 0)
		die(back, rv);
	dev_front = f;
	dev_back = b;
	if (pthread_create(&t, NULL, device_main, NULL) != 0) {
		fprintf(stderr, "nng_floor: could not start the device\n");
		return (1);
	}
	wait_signal();
	return (0);
}

static int
run_echo(const char *url, int n)
{
	nng_socket	 s;
	int		 rv;

	if ((rv = nng_rep0_open(&s)) != 0)
		die("nng_rep0_open", rv);
	if ((rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0)
		die(url, rv);
	start_ctxs(s, n, echo_cb, 0);
	wait_signal();
	stop_ctxs(n);
	return (0);	/* no nng_close: 1.5.2's can hang (nng#1813) */
}

static int
run_load(const char *url, int n, int secs, int rate)
{
	nng_socket	 s;
	int		 rv;

	/* Each context sends one request every n / rate s. */
	if (rate > 0)
		pace_us = (long long)n * 1000000 / rate;

	if ((rv = nng_req0_open(&s)) != 0)
		die("nng_req0_open", rv);
	if ((rv = nng_dial(s, url, NULL, 0)) != 0)
		die(url, rv);
	start_ctxs(s, n, load_cb, 1);
	sleep(secs);
	stopping = 1;
	stop_ctxs(n);
	printf("%ld\n", atomic_load(&replies));
	return (0);	/* no nng_close: 1.5.2's can hang (nng#1813) */
}

int
main(int argc, char **argv)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (argc == 4 && strcmp(argv[1], "device") == 0)
		return (run_device(argv[2], argv[3]));
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "echo") == 0)
		return (run_echo(argv[2], argc == 4 ?
		    arg_num(argv[3], 1, FLOOR_CTX_MAX) : 8));
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "load") == 0)
		return (run_load(argv[2], arg_num(argv[3], 1, FLOOR_CTX_MAX),
		    arg_num(argv[4], 1, 3600),
		    argc == 6 ? arg_num(argv[5], 0, 10000000) : 0));
	usage();
	return (2);
}
