/*
 * approval/approval.h - the approvals gate (notes/kernel.md 4.3;
 * sql/017_approvals.sql; docs/agent-turns.md, "Approvals").
 *
 * The module, file by file:
 *	approval/policy.c  config.toml [approval] and the manifest's
 *			   [approval] over it; the risk table; "does this
 *			   call need a human?"
 *	approval/store.c   the SQL every part shares: create (at most
 *			   APPROVAL_PENDING_MAX pending per agent), decide
 *			   (once), the timeout sweep, the bus announcement
 *	approval/ops.c	   approvals.* (the /api/approvals routes)
 *	approval/gate.c	   a turn that waits: the waiters, the listener of
 *			   decisions, the bounded poll
 *
 * A request lives in runtime.approvals; it is decided once, by one
 * statement guarded by status = 'pending' (any replica may take the
 * decision; two deciders, or a decision and the timeout, cannot both
 * win).  Every request and decision also goes into runtime.approval_audit
 * and the audit chain (CapabilityCheck entries).
 *
 * A turn about to run a gated tool (turn/machine.c) calls
 * approval_gate(): the call runs, is refused at once, or the turn
 * pauses.  A paused turn holds no thread: it waits in gate.c's list until
 * the decision's announcement on TOPIC_APPROVALS wakes it, or the poll
 * (every APPROVAL_POLL_MS: an announcement PUB/SUB lost only delays) or
 * the request's timeout does; then the turn's resume job calls
 * approval_resume() and goes on.  A keyed turn (caller.idempotency_key)
 * retried after its replica died finds its dead run's request for the
 * same call (turn_key and call_hash) and honours what was decided on it
 * meanwhile, or waits on it still.
 */
#ifndef APPROVAL_H
#define APPROVAL_H

#include <jansson.h>

#include "cfg.h"
#include "db.h"
#include "svc.h"
#include "util.h"

#define APPROVAL_PENDING_MAX	5	/* pending requests per agent */
#define APPROVAL_TIMEOUT_DEFAULT 60
#define APPROVAL_TIMEOUT_MIN	10
#define APPROVAL_TIMEOUT_MAX	300
#define APPROVAL_POLL_MS	1000	/* a paused turn reads its row */
#define APPROVAL_TOOL_MAX	64	/* bytes of a tool name */
#define APPROVAL_DESC_MAX	1024
#define APPROVAL_SUMMARY_MAX	512
#define APPROVAL_REASON_MAX	1024
#define APPROVAL_BATCH_MAX	100	/* ids of one batch */
#define APPROVAL_TRUSTED_MAX	100
#define APPROVAL_RULES_MAX	50
#define APPROVAL_GLOBS_MAX	100

enum approval_risk {
	APPROVAL_LOW = 0,
	APPROVAL_MEDIUM,
	APPROVAL_HIGH,
	APPROVAL_CRITICAL
};

enum approval_factor {
	APPROVAL_FACTOR_NONE = 0,
	APPROVAL_FACTOR_TOTP,
	APPROVAL_FACTOR_LOGIN,
	APPROVAL_FACTOR_BOTH
};

/*
 * An effective policy: config.toml [approval] with an agent manifest's
 * [approval] over it.  The json_t members are borrowed from the config
 * document or the manifest (valid while both live).
 */
struct approval_policy {
	json_t			*ap_require;	/* globs (array) */
	int			 ap_timeout_secs;
	int			 ap_fallback_skip; /* timeout: skip, else deny */
	int			 ap_auto_approve;  /* nothing is gated */
	json_t			*ap_trusted;	/* sender ids (array) */
	json_t			*ap_rules;	/* channel rules (array) */
	enum approval_factor	 ap_factor;
	json_t			*ap_totp_tools;	/* globs; [] = every gated */
};

/* SQL: the row p of approvals (its agent ag) as the API shows it. */
#define APPROVAL_JSON							\
	"json_build_object('id', p.id, 'agent_id', p.agent_id, "	\
	"'agent_name', ag.name, 'tool_name', p.tool_name, "		\
	"'description', p.description, 'action_summary', "		\
	"p.action_summary, 'risk_level', p.risk_level, "		\
	"'requested_at', to_char(p.requested_at AT TIME ZONE 'UTC', "	\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "			\
	"'timeout_secs', p.timeout_secs, 'expires_at', "		\
	"to_char(p.expires_at AT TIME ZONE 'UTC', "			\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "			\
	"'session_id', p.session_id, 'tool_use_id', p.tool_use_id, "	\
	"'status', p.status, 'origin', p.origin, 'payload', p.payload, " \
	"'decided_at', to_char(p.decided_at AT TIME ZONE 'UTC', "	\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'decided_by', "		\
	"p.decided_by, 'reason', p.reason, 'feedback', p.feedback, "	\
	"'second_factor_used', p.second_factor_used, "			\
	"'timeout_fallback', p.fallback)"


/* ---- approval/policy.c ----------------------------------------------- */

/* Reads config.toml [approval] (cfg borrowed; its document must outlive
 * the module).  0, or -1 when a value is bad (logged: the start stops). */
int	 approval_init(const struct sh_config *cfg);
/* The risk of a tool by name (notes 4.3's table). */
enum approval_risk approval_risk(const char *tool);
/* "Low", "Medium", "High", "Critical" (static). */
const char *approval_risk_name(enum approval_risk r);
/*
 * The effective policy for manifest (borrowed; NULL: config only) into
 * out.  A manifest [approval] value of the wrong type or out of bounds
 * is ignored (the config's stands) and logged once per call.
 */
void	 approval_policy(json_t *manifest, struct approval_policy *out);
/* 1 when a call of tool by sender (NULL: none) on channel (NULL: none)
 * needs a decision under p, 0 when it runs (notes 4.3's order). */
int	 approval_needed(const struct approval_policy *p, const char *tool,
	    const char *sender, const char *channel);
/* 1 when approving a request for tool needs the TOTP second factor. */
int	 approval_needs_totp(const struct approval_policy *p,
	    const char *tool);

/* ---- approval/store.c ------------------------------------------------- */

/* A new request (its fields borrowed). */
struct approval_new {
	const char	*an_agent_id;
	const char	*an_tool;
	const char	*an_description;
	const char	*an_summary;
	const char	*an_payload;	/* JSON text or NULL */
	const char	*an_origin;	/* "turn" or "manual" */
	int		 an_timeout_secs;
	int		 an_fallback_skip;
	const char	*an_session_id;	/* or NULL */
	const char	*an_tool_use_id;
	const char	*an_turn_key;
	const char	*an_call_hash;
	const char	*an_chat_origin; /* JSON text or NULL (gate.c) */
};

/*
 * Creates the request (and its 'pending' audit rows) in a transaction
 * that counts the agent's pending requests under the agent's lock:
 * 0 with its id in id, 1 when the agent already has
 * APPROVAL_PENDING_MAX pending (nothing written), SH_ENOTFOUND when the
 * agent does not exist, -1 on a database error (logged).
 */
int	 approval_create(struct db *db, const struct approval_new *an,
	    char id[UTIL_UUID_LEN]);
/*
 * Decides request id: status one of approved, rejected, modified,
 * timed_out, skipped; by, reason, feedback may be NULL.  The row as
 * JSON (new) in *row when decided here; 0 decided, SH_ENOTFOUND (no
 * such request), 1 (already decided: *row holds it, new), 2 (pending
 * but expired), -1 database error.  The decision, its audit row and its
 * chain entry commit together; the caller announces it.
 */
int	 approval_decide(struct db *db, const char *id, const char *status,
	    const char *by, const char *reason, const char *feedback,
	    int second_factor, json_t **row);
/* Times out every pending request past its time (audit rows and
 * entries too).  0 or -1. */
int	 approval_sweep(struct db *db);
/* Announces a decided request (row borrowed: id, agent_id, status,
 * tool_name) on TOPIC_APPROVALS (the paused turn's replica) and
 * ApprovalResolved on TOPIC_EVENTS; as may be NULL (no publisher). */
struct agent_state;
void	 approval_announce(struct agent_state *as, json_t *row);
/* ApprovalRequested on TOPIC_EVENTS for request id. */
void	 approval_announce_request(struct agent_state *as, const char *id,
	    const char *agent_id, const char *tool, const char *risk,
	    const char *description, int timeout_secs);

/* ---- approval/ops.c --------------------------------------------------- */

extern const struct svc_op approval_ops[];

/* ---- approval/gate.c -------------------------------------------------- */

struct turn;
struct tool_result;

/* Starts the listener of decisions (thread and subscriber).  0 or -1
 * (logged; turns then only poll). */
int	 approval_start(const struct sh_config *cfg);
/* Wakes every waiting turn and stops the listener: after
 * turn_shutdown(). */
void	 approval_stop(void);

/* What the gate says about one call. */
enum approval_verdict {
	APPROVAL_RUN = 0,	/* run the tool */
	APPROVAL_RESULT,	/* refused: r holds the tool result */
	APPROVAL_PAUSED,	/* the turn waits; resume() will be queued */
	APPROVAL_ERROR = -1	/* database unavailable */
};
typedef void (*approval_resume_fn)(struct turn *t, struct db *db);

/*
 * Job thread, before t runs tool call (id, name, input borrowed) that
 * its grants allow.  On APPROVAL_PAUSED the request is in
 * t->t_appr_id and resume(t, db) runs on the pool once it may have
 * been decided (or has timed out, or the turn was interrupted); it then
 * calls approval_resume().
 */
enum approval_verdict approval_gate(struct turn *t, struct db *db,
	    const char *id, const char *name, json_t *input,
	    struct tool_result *r, approval_resume_fn resume);
/*
 * In the resume job: the request's fate.  APPROVAL_RUN (approved: run
 * it), APPROVAL_RESULT (r holds what the model is told: rejected, timed
 * out under the fallback, modified, or the turn was interrupted),
 * APPROVAL_PAUSED (still pending: waiting again), APPROVAL_ERROR.
 */
enum approval_verdict approval_resume(struct turn *t, struct db *db,
	    struct tool_result *r, approval_resume_fn resume);

#endif /* APPROVAL_H */
