/*
 * turn/pool.h - the job pool every turn runs on.
 *
 * A turn is a chain of short jobs (turn/machine.c): each runs on a pool
 * thread with that thread's own PostgreSQL connection, queues the next
 * step or hands the turn to the LLM engine, and returns.  So a turn holds
 * a thread only while it works, never while a provider thinks.
 *
 * The pool keeps TURN_POOL_MIN threads and grows up to TURN_POOL_MAX only
 * for threads held by tool calls (a tool such as agent_send holds its
 * thread for a whole sub-turn): it keeps TURN_POOL_MIN threads that are
 * not inside a tool.  Every other job is short (a few statements and
 * some JSON), so a burst of them waits in the queue instead of growing
 * the pool: more threads than cores would only add database connections,
 * malloc arenas and lock contention.  Delayed jobs (a busy session
 * retried) wait in a list sorted by due time; idle threads sleep until
 * the earliest of them.
 *
 * Every function is thread-safe.
 */
#ifndef TURN_POOL_H
#define TURN_POOL_H

#define TURN_POOL_MIN		4		/* job threads kept */
#define TURN_POOL_MAX		64		/* grown on demand up to */

struct db;
struct turn;

/* One step of a turn, run on a pool thread with that thread's
 * connection (which may be NULL or broken: check db_ping or the call). */
typedef void (*turn_job_fn)(struct turn *t, struct db *db);

/* Starts TURN_POOL_MIN threads, each connecting with conninfo (copied)
 * to schema.  0, or -1 (logged). */
int	 turn_pool_start(const char *conninfo, const char *schema);
/* Runs the jobs still delayed at once (each sees turn_stopping() and
 * answers), waits for the queue to drain and joins every thread. */
void	 turn_pool_stop(void);
/* Queues fn(t, db) after delay_ms.  0, or -1 (out of memory). */
int	 turn_queue(struct turn *t, turn_job_fn fn, unsigned int delay_ms);
/* The calling job thread is about to run a tool, which may block for
 * long; the pool grows if too few threads are left for other jobs.
 * Pair with turn_pool_unblock(). */
void	 turn_pool_block(void);
void	 turn_pool_unblock(void);

#endif /* TURN_POOL_H */
