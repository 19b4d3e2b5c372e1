/*
 * t_buscall.c - unit tests for the asynchronous bus call (bus_call_start,
 * bus_call_free) against an in-process fake broker: a REP socket on
 * <base>.front that answers each request's "op" -- "echo" (status 200,
 * the request's body back), "slow" (the same after 300 ms) or "mute" (no
 * answer).  Calls reuse the contexts of finished calls, so each case
 * checks that a reply reaches its own call and nobody else's.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "bus.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "tap.h"
#include "util.h"

#define WAIT_MS	3000	/* bound on every wait for a callback */

static char		 base[128];
static nng_socket	 fake;
static pthread_t	 fake_thr;
static atomic_int	 fake_stop;

static void *
fake_main(void *arg)
{
	nng_msg		*m, *r;
	json_t		*req, *rep;
	const char	*nl, *op;
	char		*js;

	(void)arg;
	while (!atomic_load(&fake_stop)) {
		if (nng_recvmsg(fake, &m, 0) != 0)
			continue;	/* 100 ms receive timeout */
		nl = memchr(nng_msg_body(m), '\n', nng_msg_len(m));
		req = nl == NULL ? NULL : json_loadb(nl + 1, nng_msg_len(m) -
		    (size_t)(nl + 1 - (const char *)nng_msg_body(m)), 0, NULL);
		nng_msg_free(m);
		op = json_string_value(json_object_get(req, "op"));
		if (op == NULL || strcmp(op, "mute") == 0) {
			json_decref(req);
			continue;
		}
		if (strcmp(op, "slow") == 0)
			util_sleep_ms(300);
		rep = msg_reply("x", 200, json_incref(json_object_get(req,
		    "body")));
		js = json_dumps(rep, 0);
		if (js != NULL && nng_msg_alloc(&r, 0) == 0) {
			nng_msg_append(r, js, strlen(js));
			if (nng_sendmsg(fake, r, 0) != 0)
				nng_msg_free(r);
		}
		free(js);
		json_decref(rep);
		json_decref(req);
	}
	return (NULL);
}

static int
fake_start(void)
{
	char	addr[160];

	snprintf(addr, sizeof(addr), "%s.front", base);
	if (nng_rep0_open(&fake) != 0)
		return (-1);
	nng_socket_set_ms(fake, NNG_OPT_RECVTIMEO, 100);
	if (nng_listen(fake, addr, NULL, 0) != 0)
		return (-1);
	atomic_store(&fake_stop, 0);
	return (pthread_create(&fake_thr, NULL, fake_main, NULL) == 0 ? 0 : -1);
}

static void
fake_end(void)
{
	atomic_store(&fake_stop, 1);
	pthread_join(fake_thr, NULL);
	nng_close(fake);
}

/* What a callback saw. */
struct seen {
	pthread_mutex_t	 s_mtx;
	pthread_cond_t	 s_cv;
	int		 s_calls;
	int		 s_err;
	int		 s_status;
	long long	 s_n;		/* body.n of the reply */
};

static void
seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->s_mtx, NULL);
	pthread_cond_init(&s->s_cv, NULL);
	s->s_n = -1;
}

static void
seen_cb(void *arg, int err, struct msg_rep *rep)
{
	struct seen	*s = arg;

	pthread_mutex_lock(&s->s_mtx);
	s->s_calls++;
	s->s_err = err;
	if (rep != NULL) {
		s->s_status = rep->mp_status;
		s->s_n = json_integer_value(json_object_get(rep->mp_body, "n"));
		msg_rep_release(rep);
	}
	pthread_cond_broadcast(&s->s_cv);
	pthread_mutex_unlock(&s->s_mtx);
}

/* Waits up to WAIT_MS for the callback; its count. */
static int
seen_wait(struct seen *s)
{
	uint64_t	end = util_now_ms() + WAIT_MS;
	int		calls;

	pthread_mutex_lock(&s->s_mtx);
	while (s->s_calls == 0 && util_now_ms() < end) {
		pthread_mutex_unlock(&s->s_mtx);
		util_sleep_ms(2);
		pthread_mutex_lock(&s->s_mtx);
	}
	calls = s->s_calls;
	pthread_mutex_unlock(&s->s_mtx);
	if (calls == 0)
		printf("# no callback within %d ms\n", WAIT_MS);
	return (calls);
}

static struct bus_call *
start(struct bus_client *bc, const char *op, long long n, int timeout_ms,
    struct seen *s)
{
	struct bus_call	*ca;
	json_t		*req;

	req = json_pack("{s:s, s:{s:I}}", "op", op, "body", "n", n);
	ca = bus_call_start(bc, "memory", req, timeout_ms, seen_cb, s);
	json_decref(req);
	return (ca);
}

static int
t_replies_reach_their_call(void)
{
	struct bus_client	*bc;
	struct bus_call		*ca[4];
	struct seen		 s[4];
	int			 i, round;

	T_OK((bc = bus_client_open(base)) != NULL);
	/* Rounds of four at once: later rounds run on reused contexts. */
	for (round = 0; round < 50; round++) {
		for (i = 0; i < 4; i++) {
			seen_init(&s[i]);
			T_OK((ca[i] = start(bc, "echo", round * 4 + i, 2000,
			    &s[i])) != NULL);
		}
		for (i = 0; i < 4; i++) {
			T_EQ_INT(seen_wait(&s[i]), 1);
			bus_call_free(ca[i]);
			T_EQ_INT(s[i].s_calls, 1);
			T_EQ_INT(s[i].s_err, 0);
			T_EQ_INT(s[i].s_status, 200);
			T_EQ_INT(s[i].s_n, round * 4 + i);
		}
	}
	bus_client_close(bc);
	return (0);
}

static int
t_late_reply_goes_nowhere(void)
{
	struct bus_client	*bc;
	struct bus_call		*ca;
	struct seen		 s;
	int			 i;

	T_OK((bc = bus_client_open(base)) != NULL);
	seen_init(&s);
	T_OK((ca = start(bc, "slow", 7, 100, &s)) != NULL);
	T_EQ_INT(seen_wait(&s), 1);
	T_EQ_INT(s.s_err, SH_ETIMEDOUT);
	bus_call_free(ca);
	/* The slow reply comes while these wait (the fake answers in
	 * order): each gets its own. */
	for (i = 0; i < 5; i++) {
		seen_init(&s);
		T_OK((ca = start(bc, "echo", 100 + i, 2000, &s)) != NULL);
		T_EQ_INT(seen_wait(&s), 1);
		bus_call_free(ca);
		T_EQ_INT(s.s_calls, 1);
		T_EQ_INT(s.s_err, 0);
		T_EQ_INT(s.s_n, 100 + i);
	}
	bus_client_close(bc);
	return (0);
}

static int
t_free_cancels_once(void)
{
	struct bus_client	*bc;
	struct bus_call		*ca;
	struct seen		 s;
	uint64_t		 t0;
	int			 i;

	T_OK((bc = bus_client_open(base)) != NULL);
	for (i = 0; i < 20; i++) {
		seen_init(&s);
		T_OK((ca = start(bc, i % 2 ? "mute" : "echo", i, 5000,
		    &s)) != NULL);
		t0 = util_now_ms();
		bus_call_free(ca);	/* at once: cancels, waits */
		T_OK(util_now_ms() - t0 < 1000);
		T_EQ_INT(s.s_calls, 1);
		T_OK(s.s_err == 0 || s.s_err == SH_EUNAVAIL);
	}
	/* The client still works after the cancellations. */
	seen_init(&s);
	T_OK((ca = start(bc, "echo", 42, 2000, &s)) != NULL);
	T_EQ_INT(seen_wait(&s), 1);
	bus_call_free(ca);
	T_EQ_INT(s.s_err, 0);
	T_EQ_INT(s.s_n, 42);
	bus_client_close(bc);
	return (0);
}

static int
t_broker_lost_fails_the_call(void)
{
	struct bus_client	*bc;
	struct bus_call		*ca;
	struct seen		 s;
	uint64_t		 t0;
	int			 rc = 0;

	T_OK((bc = bus_client_open(base)) != NULL);
	seen_init(&s);
	T_OK((ca = start(bc, "mute", 1, 10000, &s)) != NULL);
	util_sleep_ms(50);	/* the request is with the fake */
	t0 = util_now_ms();
	fake_end();
	if (seen_wait(&s) != 1 || s.s_err != SH_EUNAVAIL ||
	    util_now_ms() - t0 > 2000) {
		printf("# calls %d err %d after %llu ms\n", s.s_calls, s.s_err,
		    (unsigned long long)(util_now_ms() - t0));
		rc = -1;
	}
	bus_call_free(ca);
	bus_client_close(bc);
	if (fake_start() != 0)
		rc = -1;
	return (rc);
}

static const struct tap_case cases[] = {
	{ "replies reach their own call, contexts reused", t_replies_reach_their_call },
	{ "a timed-out call's late reply reaches nobody", t_late_reply_goes_nowhere },
	{ "bus_call_free cancels: callback exactly once", t_free_cancels_once },
	{ "a lost broker fails a waiting call at once", t_broker_lost_fails_the_call },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	log_init("t_buscall", LOG_LVL_ERROR, 0);
	snprintf(base, sizeof(base), "ipc:///tmp/t_buscall.%d", (int)getpid());
	if (fake_start() != 0) {
		printf("Bail out! could not start the fake broker\n");
		return (1);
	}
	rc = tap_main(cases);
	fake_end();
	bus_fini();
	return (rc);
}
