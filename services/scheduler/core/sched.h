/*
 * core/sched.h - what every scheduler module shares: the service's state,
 * agent turns asked of agent-runtime over the bus, and events published.
 *
 * The modules (README.md, "Code") each own their tables in the schema
 * `scheduler` and their threads; main.c starts them after core and stops
 * them before it.  Every replica runs the same code: work is claimed in
 * PostgreSQL (unique keys, FOR UPDATE SKIP LOCKED, leases), never handed
 * out by a leader.
 *
 * Turns.  A fire, a trigger or a workflow step asks agent-runtime for
 * agents.message, the operation behind POST /api/agents/{id}/message.
 * sched_turn_start() does it without holding a thread: the outcome comes
 * back on core's completion thread, which owns a database connection the
 * callback may use to record it.  sched_turn() waits for it instead, for
 * a thread that has nothing else to do (a workflow run).
 */
#ifndef SCHED_H
#define SCHED_H

#include <pthread.h>

#include <jansson.h>

#include "bus.h"
#include "cfg.h"
#include "db.h"

/* The service's one state, filled by sched_core_start(). */
struct sched {
	const struct sh_config	*s_cfg;		/* borrowed, lives in main */
	struct bus_client	*s_bus;		/* turns; NULL: none */
	struct bus_pub		*s_pub;		/* events; NULL: not sent */
	pthread_mutex_t		 s_pub_mtx;
	char			 s_replica[64];	/* host:pid, for claimed_by */
};

extern struct sched	sched;

/* Opens the bus client and publisher and starts the completion thread.
 * 0, or -1 (logged). */
int	 sched_core_start(const struct sh_config *cfg);
/* Cancels the turns still running (their callbacks run with status 503),
 * joins the thread, closes the bus. */
void	 sched_core_stop(void);

/* One turn to ask for.  Strings are borrowed for the call. */
struct sched_turn {
	const char	*st_agent_id;	/* uuid */
	const char	*st_message;
	const char	*st_session_id;	/* NULL: the agent's current one */
	const char	*st_principal;	/* caller.principal, e.g. "cron" */
	int		 st_depth;	/* caller.depth: agent_send nesting
					   (0; agent-runtime refuses > 3) */
	int		 st_timeout_ms;	/* 0: [bus] turn_timeout_secs */
	/* caller.event_depth: the trigger chain this turn continues (the
	 * depth of the event that fired it, plus one); agent-runtime
	 * passes it on to what the turn's tools ask of other services,
	 * whose events then carry it.  0: none. */
	int		 st_event_depth;
	const char	*st_idempotency_key;	/* caller.idempotency_key;
						   NULL: none */
	int		 st_session_create;	/* caller.session_create:
						   st_session_id is made if
						   it does not exist */
	const char	*st_session_key;	/* caller.session_key: with
						   no st_session_id, the
						   manifest's session_mode
						   decides (new: this key's
						   own session); NULL: none */
	const char	*st_trigger_id;	/* caller.trigger_id: the trigger
					   whose fire this is (named in the
					   turn's events); NULL: none */
};

/*
 * The outcome of a turn: status is agent-runtime's reply status (200 with
 * {response, input_tokens, output_tokens, ...}), or 503/504 with
 * {"error"} when the bus failed or timed out.  body is borrowed for the
 * call.  db is the completion thread's connection (check db_ok()).
 */
typedef void (*sched_turn_fn)(void *arg, struct db *db, int status,
	    json_t *body);

/* Starts t; fn(arg, ...) runs exactly once, on the completion thread,
 * when it ends.  0, or -1 (fn is not called): no bus, out of memory. */
int	 sched_turn_start(const struct sched_turn *t, sched_turn_fn fn,
	    void *arg);
/* Any operation as sched_turn_start() runs a turn: req (a request
 * envelope, msg_request(); borrowed) to service svc, fn(arg, ...) once
 * on the completion thread with the reply's status and body (503/504
 * when the bus failed or timed out).  0, or -1 (fn is not called). */
int	 sched_call_start(const char *svc, json_t *req, int timeout_ms,
	    sched_turn_fn fn, void *arg);
/* Runs t and waits for it.  Returns the status and sets *body (a new
 * reference, never NULL). */
int	 sched_turn(const struct sched_turn *t, json_t **body);

/* A new connection to the service's schema for a module's own thread
 * (lazy: it connects on first use).  NULL only on ENOMEM. */
struct db *sched_db_open(void);

/* Publishes body (borrowed) on topic; best effort, thread-safe. */
void	 sched_publish(const char *topic, json_t *body);

/*
 * Audit (core/audit.c; libshared/audit.h).  Every change an operator or
 * an agent makes to a schedule, trigger, workflow or goal is recorded as
 * a ConfigChange entry in the transaction of the change, so the two
 * commit together or not at all; a change refused (400, 404, 409) leaves
 * none.  detail is "<op>: <what> '<name>' (<id>)"-like text, never a
 * prompt or a secret.
 *
 * sched_tx_begin() opens the transaction (0, or -1: db error, none open).
 * sched_tx_commit() records the entry (printf-style detail; agent_id
 * NULL: "system") and commits: 0, or -1 (db error: rolled back, nothing
 * done).  sched_tx_rollback() ends it with nothing done.
 */
int	 sched_tx_begin(struct db *db);
int	 sched_tx_commit(struct db *db, const char *agent_id,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void	 sched_tx_rollback(struct db *db);

#endif
