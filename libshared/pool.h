/*
 * pool.h - a few threads that run queued jobs, for blocking work that a
 * bus worker or an nng callback must not wait for: an A2A task or peer
 * call (agent-runtime a2a/), the answer to a comms call (comms/).
 *
 * Each thread may own a database connection (libpq connections are not
 * shared), opened when the thread starts and closed when it ends; a job
 * gets its thread's.  Jobs run in the order queued.  A queue may be
 * bounded: past the bound pool_queue() refuses, and the caller answers
 * at once (503) instead of letting work pile up.  A job is a struct
 * pool_job embedded in the caller's own struct, so queueing never
 * allocates: an nng callback can queue without a failure path.
 *
 * Closing drains: every job queued before pool_close() runs (each has a
 * deferred request to answer), then the threads are joined.  Work that
 * must be abandoned at shutdown (a tool call stuck past a deadline) does
 * not belong here.
 *
 * Every function is thread-safe.
 */
#ifndef SH_POOL_H
#define SH_POOL_H

struct db;
struct pool;
struct pool_job;

#define POOL_THREADS_MAX	32

/* Runs on a pool thread with that thread's connection: NULL for a pool
 * without a database, or when it could not be set up (out of memory); a
 * connection may also be broken (check the calls).  The job is the
 * caller's: fn frees it if it should be freed. */
typedef void (*pool_job_fn)(struct pool_job *j, struct db *db);

struct pool_job {
	struct pool_job	*pj_next;	/* the pool's, while queued */
	pool_job_fn	 pj_fn;
};

/*
 * Starts nthreads (1..POOL_THREADS_MAX) threads named name (borrowed: a
 * string constant) in a new pool.  queue_max bounds the jobs waiting (0:
 * no bound).  conninfo (copied, then wiped at close; NULL: no database)
 * and schema (borrowed) are each thread's connection.  The pool (new:
 * pool_close() frees it), or NULL (logged) when not one thread started.
 */
struct pool *pool_open(const char *name, int nthreads, int queue_max,
	    const char *conninfo, const char *schema);
/* Queues j (borrowed until its fn runs).  0, or -1 when the queue is
 * full or the pool is closing (j not queued: the caller answers). */
int	 pool_queue(struct pool *p, struct pool_job *j);
/* Refuses new jobs, runs the queued ones, joins the threads and frees
 * the pool.  NULL is a no-op. */
void	 pool_close(struct pool *p);

#endif /* SH_POOL_H */
