/*
 * a2a/pool.c - the threads A2A work waits on (a2a/a2a.h).
 *
 * A bus worker must not wait for a turn or a remote peer: there are only
 * bus.workers of them, and one peer that never answers would take one
 * away for timeout_secs.  So an A2A operation checks its input on the bus
 * worker, defers its reply and queues a job here.  The queue is bounded
 * (A2A_QUEUE_MAX): past it the caller gets 503 at once.
 */
#include <pthread.h>
#include <stdlib.h>

#include "a2a/a2a.h"
#include "err.h"
#include "log.h"
#include "msg.h"

struct a2a_job {
	struct a2a_job		*j_next;
	a2a_job_fn		 j_fn;
	json_t			*j_arg;
	struct svc_pending	*j_sp;
};

static struct {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	struct a2a_job		*head, *tail;
	int			 queued;
	int			 stopping;
	int			 nthreads;
	pthread_t		 threads[A2A_WORKERS];
	struct agent_state	*as;
	char			 conninfo[1024];
} ap = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER
};

static void *
a2a_thread(void *arg)
{
	struct db	*db;
	struct a2a_job	*j;

	(void)arg;
	db = db_open(ap.conninfo, "runtime");
	for (;;) {
		pthread_mutex_lock(&ap.mtx);
		while (ap.head == NULL && !ap.stopping)
			pthread_cond_wait(&ap.cv, &ap.mtx);
		if ((j = ap.head) == NULL) {
			pthread_mutex_unlock(&ap.mtx);
			break;
		}
		if ((ap.head = j->j_next) == NULL)
			ap.tail = NULL;
		ap.queued--;
		pthread_mutex_unlock(&ap.mtx);
		if (db == NULL)
			svc_pending_reply(j->j_sp, 500,
			    msg_error_body("out of memory"));
		else
			j->j_fn(ap.as, db, j->j_sp, j->j_arg);
		json_decref(j->j_arg);
		free(j);
	}
	db_close(db);
	return (NULL);
}

int
a2a_start(struct agent_state *as)
{
	int	i;

	ap.as = as;
	db_conninfo(as->as_cfg->database_url, as->as_cfg->home_dir,
	    ap.conninfo, sizeof(ap.conninfo));
	for (i = 0; i < A2A_WORKERS; i++) {
		if (pthread_create(&ap.threads[i], NULL, a2a_thread,
		    NULL) != 0) {
			log_warnx("%s: could not start an A2A thread", __func__);
			return (-1);
		}
		ap.nthreads++;
	}
	return (0);
}

void
a2a_stop(void)
{
	int	i;

	pthread_mutex_lock(&ap.mtx);
	ap.stopping = 1;
	pthread_cond_broadcast(&ap.cv);
	pthread_mutex_unlock(&ap.mtx);
	/* The threads drain the queue first: every deferred request gets
	 * its answer (a turn cut short by the shutdown answers 503). */
	for (i = 0; i < ap.nthreads; i++)
		pthread_join(ap.threads[i], NULL);
	ap.nthreads = 0;
}

int
a2a_queue(const struct msg_req *rq, struct svc_reply *rp, a2a_job_fn fn,
    json_t *arg)
{
	struct a2a_job	*j;
	int		 full;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->j_sp = svc_defer(rq, rp)) == NULL) {
		free(j);
		json_decref(arg);
		svc_reply_error(rp, 500, "out of memory");
		return (-1);
	}
	j->j_fn = fn;
	j->j_arg = arg;
	/* Checked and queued under one lock: a2a_stop() cannot slip in
	 * between and leave the job with no thread to run it. */
	pthread_mutex_lock(&ap.mtx);
	full = ap.stopping || ap.nthreads == 0 || ap.queued >= A2A_QUEUE_MAX;
	if (!full) {
		if (ap.tail != NULL)
			ap.tail->j_next = j;
		else
			ap.head = j;
		ap.tail = j;
		ap.queued++;
		pthread_cond_signal(&ap.cv);
	}
	pthread_mutex_unlock(&ap.mtx);
	if (full) {
		svc_pending_reply(j->j_sp, 503, msg_error_body("too many A2A "
		    "requests in progress; retry later"));
		json_decref(j->j_arg);
		free(j);
	}
	return (0);
}
