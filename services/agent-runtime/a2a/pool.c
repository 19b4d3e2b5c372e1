/*
 * a2a/pool.c - the threads A2A work waits on (a2a/a2a.h).
 *
 * A bus worker must not wait for a turn or a remote peer: there are only
 * bus.workers of them, and one peer that never answers would take one
 * away for timeout_secs.  So an A2A operation checks its input on the bus
 * worker, defers its reply and queues a job here.  Each queue is bounded
 * (A2A_QUEUE_MAX): past it the caller gets 503 at once.
 *
 * Two lanes, each a libshared pool (pool.h) with its own threads and
 * database connections: inbound tasks (a local turn) and outbound calls
 * (a peer).  An outbound call to a peer that is this very system waits
 * for an inbound task; with one shared set of threads, a burst of such
 * calls could hold every thread and leave the tasks they wait for queued
 * behind them until the timeout.
 */
#include <stdlib.h>
#include <string.h>

#include "a2a/a2a.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "pool.h"

struct a2a_job {
	struct pool_job		 j_pj;		/* first: the pool's */
	a2a_job_fn		 j_fn;
	json_t			*j_arg;
	struct svc_pending	*j_sp;
};

static struct {
	struct pool		*lanes[A2A_NLANES];
	struct agent_state	*as;
} ap;

static const char *const a2a_lane_names[A2A_NLANES] = {
	[A2A_LANE_IN] = "a2a-in",
	[A2A_LANE_OUT] = "a2a-out"
};

/* On a lane's thread: the job, then its memory. */
static void
a2a_run(struct pool_job *pj, struct db *db)
{
	struct a2a_job	*j = (struct a2a_job *)(void *)pj;

	if (db == NULL)
		svc_pending_reply(j->j_sp, 500, msg_error_body("out of memory"));
	else
		j->j_fn(ap.as, db, j->j_sp, j->j_arg);
	json_decref(j->j_arg);
	free(j);
}

int
a2a_start(struct agent_state *as)
{
	char	conninfo[1024];
	int	k, rv = 0;

	ap.as = as;
	db_conninfo(as->as_cfg->database_url, as->as_cfg->home_dir,
	    conninfo, sizeof(conninfo));
	for (k = 0; k < A2A_NLANES && rv == 0; k++)
		if ((ap.lanes[k] = pool_open(a2a_lane_names[k], A2A_WORKERS,
		    A2A_QUEUE_MAX, conninfo, "runtime")) == NULL)
			rv = -1;
	explicit_bzero(conninfo, sizeof(conninfo));
	return (rv);
}

void
a2a_stop(void)
{
	int	k;

	/* The threads drain their queue first: every deferred request gets
	 * its answer (a turn cut short by the shutdown answers 503).  The
	 * outbound lane goes first: its calls may wait for inbound tasks. */
	for (k = A2A_NLANES - 1; k >= 0; k--) {
		pool_close(ap.lanes[k]);
		ap.lanes[k] = NULL;
	}
}

int
a2a_queue(const struct msg_req *rq, struct svc_reply *rp,
    enum a2a_lane_id lane, a2a_job_fn fn, json_t *arg)
{
	struct a2a_job	*j;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->j_sp = svc_defer(rq, rp)) == NULL) {
		free(j);
		json_decref(arg);
		svc_reply_error(rp, 500, "out of memory");
		return (-1);
	}
	j->j_pj.pj_fn = a2a_run;
	j->j_fn = fn;
	j->j_arg = arg;
	if (pool_queue(ap.lanes[lane], &j->j_pj) != 0) {
		svc_pending_reply(j->j_sp, 503, msg_error_body("too many A2A "
		    "requests in progress; retry later"));
		json_decref(j->j_arg);
		free(j);
	}
	return (0);
}
