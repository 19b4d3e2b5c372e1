/*
 * a2a/pool.c - the threads A2A work waits on (a2a/a2a.h).
 *
 * A bus worker must not wait for a turn or a remote peer: there are only
 * bus.workers of them, and one peer that never answers would take one
 * away for timeout_secs.  So an A2A operation checks its input on the bus
 * worker, defers its reply and queues a job here.  Each queue is bounded
 * (A2A_QUEUE_MAX): past it the caller gets 503 at once.
 *
 * Two lanes, each with its own threads: inbound tasks (a local turn) and
 * outbound calls (a peer).  An outbound call to a peer that is this very
 * system waits for an inbound task; with one shared set of threads, a
 * burst of such calls could hold every thread and leave the tasks they
 * wait for queued behind them until the timeout.
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

struct a2a_lane {
	pthread_mutex_t		 l_mtx;
	pthread_cond_t		 l_cv;
	struct a2a_job		*l_head, *l_tail;
	int			 l_queued;
	int			 l_stopping;
	int			 l_nthreads;
	pthread_t		 l_threads[A2A_WORKERS];
};

static struct {
	struct a2a_lane		 lanes[A2A_NLANES];
	struct agent_state	*as;
	char			 conninfo[1024];
} ap = {
	.lanes = {
		[A2A_LANE_IN] = { .l_mtx = PTHREAD_MUTEX_INITIALIZER,
		    .l_cv = PTHREAD_COND_INITIALIZER },
		[A2A_LANE_OUT] = { .l_mtx = PTHREAD_MUTEX_INITIALIZER,
		    .l_cv = PTHREAD_COND_INITIALIZER }
	}
};

static void *
a2a_thread(void *arg)
{
	struct a2a_lane	*l = arg;
	struct db	*db;
	struct a2a_job	*j;

	db = db_open(ap.conninfo, "runtime");
	for (;;) {
		pthread_mutex_lock(&l->l_mtx);
		while (l->l_head == NULL && !l->l_stopping)
			pthread_cond_wait(&l->l_cv, &l->l_mtx);
		if ((j = l->l_head) == NULL) {
			pthread_mutex_unlock(&l->l_mtx);
			break;
		}
		if ((l->l_head = j->j_next) == NULL)
			l->l_tail = NULL;
		l->l_queued--;
		pthread_mutex_unlock(&l->l_mtx);
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
	struct a2a_lane	*l;
	int		 i, k;

	ap.as = as;
	db_conninfo(as->as_cfg->database_url, as->as_cfg->home_dir,
	    ap.conninfo, sizeof(ap.conninfo));
	for (k = 0; k < A2A_NLANES; k++) {
		l = &ap.lanes[k];
		for (i = 0; i < A2A_WORKERS; i++) {
			if (pthread_create(&l->l_threads[i], NULL, a2a_thread,
			    l) != 0) {
				log_warnx("%s: could not start an A2A thread",
				    __func__);
				return (-1);
			}
			l->l_nthreads++;
		}
	}
	return (0);
}

void
a2a_stop(void)
{
	struct a2a_lane	*l;
	int		 i, k;

	/* The threads drain their queue first: every deferred request gets
	 * its answer (a turn cut short by the shutdown answers 503).  The
	 * outbound lane goes first: its calls may wait for inbound tasks. */
	for (k = A2A_NLANES - 1; k >= 0; k--) {
		l = &ap.lanes[k];
		pthread_mutex_lock(&l->l_mtx);
		l->l_stopping = 1;
		pthread_cond_broadcast(&l->l_cv);
		pthread_mutex_unlock(&l->l_mtx);
		for (i = 0; i < l->l_nthreads; i++)
			pthread_join(l->l_threads[i], NULL);
		l->l_nthreads = 0;
	}
}

int
a2a_queue(const struct msg_req *rq, struct svc_reply *rp,
    enum a2a_lane_id lane, a2a_job_fn fn, json_t *arg)
{
	struct a2a_lane	*l = &ap.lanes[lane];
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
	pthread_mutex_lock(&l->l_mtx);
	full = l->l_stopping || l->l_nthreads == 0 ||
	    l->l_queued >= A2A_QUEUE_MAX;
	if (!full) {
		if (l->l_tail != NULL)
			l->l_tail->j_next = j;
		else
			l->l_head = j;
		l->l_tail = j;
		l->l_queued++;
		pthread_cond_signal(&l->l_cv);
	}
	pthread_mutex_unlock(&l->l_mtx);
	if (full) {
		svc_pending_reply(j->j_sp, 503, msg_error_body("too many A2A "
		    "requests in progress; retry later"));
		json_decref(j->j_arg);
		free(j);
	}
	return (0);
}
