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

/* Fresh jobs 0..n-1 logging to log, with the gate closed. */
static void
jobs_init(struct job *jobs, int n, int *log, atomic_int *at)
{
	int	i;

	atomic_store(&gate, 0);
	atomic_store(&running, 0);
	atomic_store(&most, 0);
	memset(jobs, 0, sizeof(*jobs) * (size_t)n);
	for (i = 0; i < n; i++) {
		jobs[i].j_pj.pj_fn = job_run;
		jobs[i].j_n = i;
		jobs[i].j_log = log;
		jobs[i].j_at = at;
	}
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

/* Opens the gate, closes p (which runs what is queued first) and says
 * how many jobs ran. */
static int
open_and_close(struct pool *p, atomic_int *at)
{
	atomic_store(&gate, 1);
	pool_close(p);
	return (atomic_load(at));
}

/* One thread: in order, each job once, on a pool thread, no db. */
static int
t_order_and_close(void)
{
	struct pool	*p;
	struct job	 jobs[20];
	int		 log[20], i;
	atomic_int	 at = 0;

	jobs_init(jobs, 20, log, &at);
	T_OK((p = pool_open("t-order", 1, 0, NULL, NULL)) != NULL);
	for (i = 0; i < 20; i++)
		T_EQ_INT(pool_queue(p, &jobs[i].j_pj), 0);
	T_EQ_INT(open_and_close(p, &at), 20);
	for (i = 0; i < 20; i++) {
		T_EQ_INT(log[i], i);
		T_OK(jobs[i].j_db_null);
		T_OK(!pthread_equal(jobs[i].j_thread, pthread_self()));
	}
	return (0);
}

/* A bound of 3: with the thread held by a first job, three more wait and
 * the fifth is refused; all queued ones still run. */
static int
t_bound(void)
{
	struct pool	*p;
	struct job	 jobs[5];
	int		 log[5], i;
	atomic_int	 at = 0;

	jobs_init(jobs, 5, log, &at);
	T_OK((p = pool_open("t-bound", 1, 3, NULL, NULL)) != NULL);
	T_EQ_INT(pool_queue(p, &jobs[0].j_pj), 0);
	T_EQ_INT(wait_running(1), 1);
	for (i = 1; i < 4; i++)
		T_EQ_INT(pool_queue(p, &jobs[i].j_pj), 0);
	T_EQ_INT(pool_queue(p, &jobs[4].j_pj), -1);
	T_EQ_INT(open_and_close(p, &at), 4);
	T_EQ_INT(pool_queue(NULL, &jobs[4].j_pj), -1);
	return (0);
}

/* Four threads run four held jobs at once. */
static int
t_threads(void)
{
	struct pool	*p;
	struct job	 jobs[8];
	int		 log[8], i;
	atomic_int	 at = 0;

	jobs_init(jobs, 8, log, &at);
	T_OK((p = pool_open("t-threads", 4, 0, NULL, NULL)) != NULL);
	for (i = 0; i < 8; i++)
		T_EQ_INT(pool_queue(p, &jobs[i].j_pj), 0);
	T_EQ_INT(wait_running(4), 4);
	T_EQ_INT(open_and_close(p, &at), 8);
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
