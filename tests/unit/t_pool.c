/*
 * t_pool.c - unit tests for libshared/pool.c: jobs run in order on the
 * pool's threads, a bounded queue refuses past its bound, closing runs
 * every queued job and then refuses, and several threads run jobs at
 * once.  No database: the pools here have no connection.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pool.h"
#include "tap.h"
#include "util.h"

struct job {
	struct pool_job	 j_pj;		/* first */
	int		 j_n;
	int		*j_log;		/* where it writes its number */
	atomic_int	*j_at;
	int		 j_db_null;
	pthread_t	 j_thread;
};

static atomic_int	 gate;		/* jobs wait while 0 */
static atomic_int	 running;	/* jobs inside job_run */
static atomic_int	 most;		/* running at most */

static void
job_run(struct pool_job *pj, struct db *db)
{
	struct job	*j = (struct job *)(void *)pj;
	int		 now, seen;

	now = atomic_fetch_add(&running, 1) + 1;
	seen = atomic_load(&most);
	while (now > seen && !atomic_compare_exchange_weak(&most, &seen, now))
		;
	/* Bounded: a gate never opened fails the test, not the run. */
	for (int i = 0; i < 500 && !atomic_load(&gate); i++)
		util_sleep_ms(10);
	j->j_db_null = db == NULL;
	j->j_thread = pthread_self();
	j->j_log[atomic_fetch_add(j->j_at, 1)] = j->j_n;
	atomic_fetch_sub(&running, 1);
}

#define RUN_JOBS	20

/* One test's pool and its jobs, each logging its number when it runs. */
struct run {
	struct pool	*r_pool;
	struct job	 r_jobs[RUN_JOBS];
	int		 r_log[RUN_JOBS];
	atomic_int	 r_at;		/* jobs that ran */
};

/* Opens pool name (threads, bound) with n fresh jobs 0..n-1, the gate
 * closed: 0, or -1. */
static int
run_open(struct run *r, const char *name, int threads, int bound, int n)
{
	int	i;

	atomic_store(&gate, 0);
	atomic_store(&running, 0);
	atomic_store(&most, 0);
	memset(r, 0, sizeof(*r));
	atomic_init(&r->r_at, 0);
	for (i = 0; i < n && i < RUN_JOBS; i++) {
		r->r_jobs[i].j_pj.pj_fn = job_run;
		r->r_jobs[i].j_n = i;
		r->r_jobs[i].j_log = r->r_log;
		r->r_jobs[i].j_at = &r->r_at;
	}
	r->r_pool = pool_open(name, threads, bound, NULL, NULL);
	return (r->r_pool != NULL ? 0 : -1);
}

/* Queues jobs from..to-1: how many of them the pool took. */
static int
run_queue(struct run *r, int from, int to)
{
	int	i, n = 0;

	for (i = from; i < to; i++)
		if (pool_queue(r->r_pool, &r->r_jobs[i].j_pj) == 0)
			n++;
	return (n);
}

/* Up to 5 s for n jobs to be running; how many are. */
static int
wait_running(int n)
{
	int	i;

	for (i = 0; i < 500 && atomic_load(&running) < n; i++)
		util_sleep_ms(10);
	return (atomic_load(&running));
}

/* Opens the gate, closes the pool (which runs what is queued first) and
 * says how many jobs ran. */
static int
open_and_close(struct run *r)
{
	atomic_store(&gate, 1);
	pool_close(r->r_pool);
	r->r_pool = NULL;
	return (atomic_load(&r->r_at));
}

/* One thread: in order, each job once, on a pool thread, no db. */
static int
t_order_and_close(void)
{
	struct run	 r;
	int		 i;

	T_EQ_INT(run_open(&r, "t-order", 1, 0, 20), 0);
	T_EQ_INT(run_queue(&r, 0, 20), 20);
	T_EQ_INT(open_and_close(&r), 20);
	for (i = 0; i < 20; i++) {
		T_EQ_INT(r.r_log[i], i);
		T_OK(r.r_jobs[i].j_db_null);
		T_OK(!pthread_equal(r.r_jobs[i].j_thread, pthread_self()));
	}
	return (0);
}

/* A bound of 3: with the thread held by a first job, three more wait and
 * the fifth is refused; all queued ones still run. */
static int
t_bound(void)
{
	struct run	 r;

	T_EQ_INT(run_open(&r, "t-bound", 1, 3, 5), 0);
	T_EQ_INT(run_queue(&r, 0, 1), 1);
	T_EQ_INT(wait_running(1), 1);
	T_EQ_INT(run_queue(&r, 1, 4), 3);
	T_EQ_INT(pool_queue(r.r_pool, &r.r_jobs[4].j_pj), -1);
	T_EQ_INT(open_and_close(&r), 4);
	T_EQ_INT(pool_queue(NULL, &r.r_jobs[4].j_pj), -1);
	return (0);
}

/* Four threads run four held jobs at once. */
static int
t_threads(void)
{
	struct run	 r;

	T_EQ_INT(run_open(&r, "t-threads", 4, 0, 8), 0);
	T_EQ_INT(run_queue(&r, 0, 8), 8);
	T_EQ_INT(wait_running(4), 4);
	T_EQ_INT(open_and_close(&r), 8);
	T_EQ_INT(atomic_load(&most), 4);
	T_OK(pool_open("t-none", 0, 0, NULL, NULL) == NULL);
	T_OK(pool_open("t-many", POOL_THREADS_MAX + 1, 0, NULL, NULL) == NULL);
	return (0);
}

static const struct tap_case cases[] = {
	{ "pool: jobs in order, closing runs every queued one",
	    t_order_and_close },
	{ "pool: a bounded queue refuses past its bound", t_bound },
	{ "pool: threads run jobs at once", t_threads },
	{ NULL, NULL }
};

int
main(void)
{
	log_init("t_pool", LOG_LVL_ERROR, 0);
	return (tap_main(cases));
}
