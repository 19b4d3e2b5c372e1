/*
 * pool.c - threads that run queued jobs, each with a database
 * connection of its own (pool.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "pool.h"

struct pool {
	const char	*po_name;
	pthread_mutex_t	 po_mtx;
	pthread_cond_t	 po_cv;
	struct pool_job	*po_head;
	struct pool_job	**po_tail;
	int		 po_queued;
	int		 po_max;	/* 0: no bound */
	int		 po_closing;
	int		 po_nthreads;
	pthread_t	 po_threads[POOL_THREADS_MAX];
	char		*po_conninfo;	/* NULL: no database */
	const char	*po_schema;
};

static void *
pool_thread(void *arg)
{
	struct pool	*p = arg;
	struct pool_job	*j;
	struct db	*db = NULL;

	if (p->po_conninfo != NULL &&
	    (db = db_open(p->po_conninfo, p->po_schema)) == NULL)
		log_warnx("%s: could not set up a database connection for a "
		    "'%s' thread: its jobs run without one", __func__,
		    p->po_name);
	pthread_mutex_lock(&p->po_mtx);
	for (;;) {
		while (p->po_head == NULL && !p->po_closing)
			pthread_cond_wait(&p->po_cv, &p->po_mtx);
		if ((j = p->po_head) == NULL)
			break;		/* closing, and nothing left */
		if ((p->po_head = j->pj_next) == NULL)
			p->po_tail = &p->po_head;
		p->po_queued--;
		pthread_mutex_unlock(&p->po_mtx);
		j->pj_next = NULL;
		j->pj_fn(j, db);	/* may free j */
		pthread_mutex_lock(&p->po_mtx);
	}
	pthread_mutex_unlock(&p->po_mtx);
	db_close(db);
	return (NULL);
}

struct pool *
pool_open(const char *name, int nthreads, int queue_max,
    const char *conninfo, const char *schema)
{
	struct pool	*p;

	if (nthreads < 1 || nthreads > POOL_THREADS_MAX) {
		log_warnx("%s: '%s': %d threads is out of range", __func__,
		    name, nthreads);
		return (NULL);
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (conninfo != NULL && (p->po_conninfo = strdup(conninfo)) ==
	    NULL)) {
		log_warnx("%s: could not start '%s': out of memory", __func__,
		    name);
		free(p);
		return (NULL);
	}
	p->po_name = name;
	p->po_max = queue_max > 0 ? queue_max : 0;
	p->po_tail = &p->po_head;
	p->po_schema = schema;
	pthread_mutex_init(&p->po_mtx, NULL);
	pthread_cond_init(&p->po_cv, NULL);
	for (; p->po_nthreads < nthreads; p->po_nthreads++) {
		if (pthread_create(&p->po_threads[p->po_nthreads], NULL,
		    pool_thread, p) != 0) {
			log_warnx("%s: could not start a '%s' thread",
			    __func__, name);
			pool_close(p);
			return (NULL);
		}
	}
	return (p);
}

int
pool_queue(struct pool *p, struct pool_job *j)
{
	int	rv = -1;

	if (p == NULL)
		return (-1);
	/* Checked and queued under one lock: pool_close() cannot slip in
	 * between and leave the job with no thread to run it. */
	pthread_mutex_lock(&p->po_mtx);
	if (!p->po_closing && (p->po_max == 0 || p->po_queued < p->po_max)) {
		j->pj_next = NULL;
		*p->po_tail = j;
		p->po_tail = &j->pj_next;
		p->po_queued++;
		pthread_cond_signal(&p->po_cv);
		rv = 0;
	}
	pthread_mutex_unlock(&p->po_mtx);
	return (rv);
}

void
pool_close(struct pool *p)
{
	int	i;

	if (p == NULL)
		return;
	/* The threads drain the queue before they see closing. */
	pthread_mutex_lock(&p->po_mtx);
	p->po_closing = 1;
	pthread_cond_broadcast(&p->po_cv);
	pthread_mutex_unlock(&p->po_mtx);
	for (i = 0; i < p->po_nthreads; i++)
		pthread_join(p->po_threads[i], NULL);
	pthread_cond_destroy(&p->po_cv);
	pthread_mutex_destroy(&p->po_mtx);
	if (p->po_conninfo != NULL) {
		explicit_bzero(p->po_conninfo, strlen(p->po_conninfo));
		free(p->po_conninfo);
	}
	free(p);
}
