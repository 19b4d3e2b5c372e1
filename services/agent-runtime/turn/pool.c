/*
 * turn/pool.c - the job pool (turn/pool.h): a queue of ready jobs, a list
 * of delayed ones sorted by due time, and threads that each own a
 * database connection.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "turn/pool.h"
#include "util.h"

struct job {
	struct job	*j_next;
	struct turn	*j_turn;
	turn_job_fn	 j_fn;
	uint64_t	 j_due;		/* util_now_ms(), 0: now */
};

static struct {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	struct job		*ready, *ready_tail;
	struct job		*delayed;	/* sorted by j_due */
	int			 nthreads;
	int			 nidle;
	int			 nblocked;	/* inside a tool call */
	int			 quit;
	pthread_t		 threads[TURN_POOL_MAX];
	char			 conninfo[1024];
	char			 schema[64];
} pool = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

/* Appends j to the ready queue; call with pool.mtx held. */
static void
pool_ready(struct job *j)
{
	j->j_next = NULL;
	if (pool.ready_tail != NULL)
		pool.ready_tail->j_next = j;
	else
		pool.ready = j;
	pool.ready_tail = j;
}

static void *
pool_main(void *arg)
{
	struct db	*db;
	struct job	*j;
	struct timespec	 ts;
	uint64_t	 now, wait;

	(void)arg;
	db = db_open(pool.conninfo, pool.schema);
	pthread_mutex_lock(&pool.mtx);
	for (;;) {
		now = util_now_ms();
		while (pool.delayed != NULL && pool.delayed->j_due <= now) {
			j = pool.delayed;
			pool.delayed = j->j_next;
			pool_ready(j);
		}
		if ((j = pool.ready) != NULL) {
			if ((pool.ready = j->j_next) == NULL)
				pool.ready_tail = NULL;
			pthread_mutex_unlock(&pool.mtx);
			j->j_fn(j->j_turn, db);
			free(j);
			pthread_mutex_lock(&pool.mtx);
			continue;
		}
		if (pool.quit && pool.delayed == NULL)
			break;
		pool.nidle++;
		if (pool.delayed != NULL) {
			wait = pool.delayed->j_due - now;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&pool.cv, &pool.mtx, &ts);
		} else
			pthread_cond_wait(&pool.cv, &pool.mtx);
		pool.nidle--;
	}
	pthread_mutex_unlock(&pool.mtx);
	db_close(db);
	return (NULL);
}

/* Starts one more pool thread; call with pool.mtx held. */
static int
pool_grow(void)
{
	if (pool.nthreads >= TURN_POOL_MAX)
		return (-1);
	if (pthread_create(&pool.threads[pool.nthreads], NULL, pool_main,
	    NULL) != 0)
		return (-1);
	pool.nthreads++;
	return (0);
}

/* Grows the pool when work waits, no thread is idle and fewer than
 * TURN_POOL_MIN threads are free of tool calls; call with pool.mtx held. */
static void
pool_maybe_grow(void)
{
	if (pool.ready != NULL && pool.nidle == 0 &&
	    pool.nthreads - pool.nblocked < TURN_POOL_MIN)
		(void)pool_grow();
}

int
turn_pool_start(const char *conninfo, const char *schema)
{
	pthread_condattr_t	ca;
	int			i, rv = 0;

	snprintf(pool.conninfo, sizeof(pool.conninfo), "%s", conninfo);
	snprintf(pool.schema, sizeof(pool.schema), "%s", schema);
	/* Idle threads wait for a due time on the monotonic clock; a
	 * condition variable on the default (wall) clock would take that
	 * time as long past and spin until the job is due. */
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_destroy(&pool.cv) != 0 ||
	    pthread_cond_init(&pool.cv, &ca) != 0) {
		log_warnx("%s: could not set up the job pool's clock",
		    __func__);
		return (-1);
	}
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&pool.mtx);
	for (i = 0; i < TURN_POOL_MIN && rv == 0; i++)
		rv = pool_grow();
	pthread_mutex_unlock(&pool.mtx);
	if (rv != 0)
		log_warnx("%s: could not start the job pool", __func__);
	return (rv);
}

void
turn_pool_block(void)
{
	pthread_mutex_lock(&pool.mtx);
	pool.nblocked++;
	pool_maybe_grow();
	pthread_mutex_unlock(&pool.mtx);
}

void
turn_pool_unblock(void)
{
	pthread_mutex_lock(&pool.mtx);
	pool.nblocked--;
	pthread_mutex_unlock(&pool.mtx);
}

int
turn_queue(struct turn *t, turn_job_fn fn, unsigned int delay_ms)
{
	struct job	*j, **pp;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return (-1);
	j->j_turn = t;
	j->j_fn = fn;
	pthread_mutex_lock(&pool.mtx);
	if (delay_ms == 0) {
		pool_ready(j);
		pool_maybe_grow();
	} else {
		j->j_due = util_now_ms() + delay_ms;
		for (pp = &pool.delayed; *pp != NULL &&
		    (*pp)->j_due <= j->j_due; pp = &(*pp)->j_next)
			;
		j->j_next = *pp;
		*pp = j;
	}
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mtx);
	return (0);
}

void
turn_pool_stop(void)
{
	struct job	*j;
	pthread_t	 th;
	int		 i;

	pthread_mutex_lock(&pool.mtx);
	pool.quit = 1;
	/* Delayed jobs run now: each sees turn_stopping() and answers. */
	while ((j = pool.delayed) != NULL) {
		pool.delayed = j->j_next;
		pool_ready(j);
	}
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mtx);
	/* A job may still grow the pool while we join: read the count
	 * afresh each time. */
	for (i = 0;; i++) {
		pthread_mutex_lock(&pool.mtx);
		if (i >= pool.nthreads) {
			pthread_mutex_unlock(&pool.mtx);
			break;
		}
		th = pool.threads[i];
		pthread_mutex_unlock(&pool.mtx);
		pthread_join(th, NULL);
	}
	explicit_bzero(pool.conninfo, sizeof(pool.conninfo));
}
