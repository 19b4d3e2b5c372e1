/*
 * audit.h - recording audit entries (notes/kernel.md 5) from any service.
 *
 * An action is recorded in the same transaction as the action itself:
 * audit_record() inserts a row into the table audit_outbox of the
 * caller's schema, so the entry commits or rolls back with what it
 * records.  The relay (one thread per service replica, started by
 * svc_main() when the service's svc_def sets sd_audit) sends the outbox
 * rows to the audit service as audit.append, at least once, and deletes
 * them once acknowledged; the audit service chains them under its lock
 * and drops a second copy of an entry by its id.  A killed replica loses
 * nothing: its rows stay in the outbox, and any replica's relay sends
 * them (the rows are claimed FOR UPDATE SKIP LOCKED, so two relays never
 * send one row at the same time).
 *
 * A service that adopts it (the scheduler, say) adds to its own sql/ a
 * migration creating the outbox, exactly:
 *
 *	CREATE TABLE audit_outbox (
 *		n		bigserial PRIMARY KEY,
 *		id		uuid NOT NULL UNIQUE,
 *		ts		text NOT NULL,
 *		agent_id	text NOT NULL,
 *		action		text NOT NULL,
 *		detail		text NOT NULL,
 *		outcome		text NOT NULL
 *	);
 *
 * sets .sd_audit = 1 in its svc_def, and calls audit_record() inside the
 * transaction of each action (after BEGIN, before COMMIT; outside one it
 * is a transaction of its own).
 *
 * A process without a database (the gateway) uses audit_post(): the
 * entry goes into a bounded in-memory queue that the relay sends; best
 * effort (lost if the process dies first, dropped with a warning when
 * the queue is full).
 *
 * The action is one of the names of kernel.md 5 (AUDIT_* below); the
 * audit service refuses any other.  detail is redacted (log.h) and cut
 * to AUDIT_DETAIL_MAX bytes; agent_id NULL is "system".
 */
#ifndef SH_AUDIT_H
#define SH_AUDIT_H

#include "db.h"

#define AUDIT_TOOL_INVOKE	"ToolInvoke"
#define AUDIT_CAPABILITY_CHECK	"CapabilityCheck"
#define AUDIT_AGENT_SPAWN	"AgentSpawn"
#define AUDIT_AGENT_KILL	"AgentKill"
#define AUDIT_AGENT_MESSAGE	"AgentMessage"
#define AUDIT_AUTH_ATTEMPT	"AuthAttempt"
#define AUDIT_CONFIG_CHANGE	"ConfigChange"
#define AUDIT_DREAM_CONSOLIDATION "DreamConsolidation"
#define AUDIT_PERMISSION_DENIED	"PermissionDenied"
#define AUDIT_BUDGET_EXCEEDED	"BudgetExceeded"
#define AUDIT_A2A_DISCOVERED	"A2aDiscovered"

#define AUDIT_DETAIL_MAX	4096
#define AUDIT_QUEUE_MAX		1024	/* audit_post() entries waiting */

/* Inserts the entry into audit_outbox (db borrowed).  0, or -1 (db
 * error: the caller's transaction is then aborted, and rolls back). */
int	 audit_record(struct db *db, const char *action, const char *agent_id,
	    const char *detail, const char *outcome);

/* Runs one statement (as db_cmd()) and records the entry, in one
 * transaction of their own.  0, or -1 (nothing done; logged). */
int	 audit_cmd(struct db *db, const char *sql, int n,
	    const char *const *params, const char *action,
	    const char *agent_id, const char *detail, const char *outcome);

/* Queues the entry for the relay (no database).  0, or -1 when the
 * queue is full or no relay runs (logged). */
int	 audit_post(const char *action, const char *agent_id,
	    const char *detail, const char *outcome);

/*
 * Starts the relay thread: for conninfo and schema (both copied; schema
 * NULL: only the audit_post() queue), over the bus at bus_url, naming
 * itself source (copied; "agent-runtime").  One per process.  0, or -1
 * (logged).  audit_relay_stop() gives the outbox and the queue one last
 * short try (none while the audit service is unreachable), stops and
 * joins: it returns within about 2.5 s; it is a no-op when none runs.
 */
int	 audit_relay_start(const char *conninfo, const char *schema,
	    const char *bus_url, const char *source);
void	 audit_relay_stop(void);

#endif /* SH_AUDIT_H */
