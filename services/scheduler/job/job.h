/*
 * job/job.h - schedules and cron jobs (issue 9, items 1 and 2): one store
 * (tables jobs and job_fires, sql/002_jobs.sql) behind the two HTTP views
 * /api/schedules and /api/cron/jobs, and the fire engine.
 *
 * A job has a schedule (cron expression in a zone, a fixed interval, or
 * one instant) and an action (an agent turn with its prompt, or a Custom
 * event).  Its next_run is the slot to fire next.
 *
 * Exactly once.  Every replica runs a ticker thread (fire.c).  A tick
 * locks the due jobs FOR UPDATE SKIP LOCKED and, in the same transaction,
 * inserts the fire row (job_id, slot) -- a unique key -- and advances
 * next_run by the job's catch-up policy.  Only after the commit does it
 * ask agent-runtime for the turn (sched_turn_start, never waiting for
 * it), with the fire's id as the caller's idempotency_key.  The fire row
 * carries claimed_by and lease_until; the replica renews the lease of the
 * fires whose turns it has in flight.  A fire still running after its
 * lease (its replica died) is claimed again by any replica, which asks
 * again with the same key: agent-runtime answers with the first turn's
 * stored outcome, or 409 while it still runs (the claim is then let go
 * for a later try), so the turn runs once.
 *
 * Thread-safety: the operations run on the bus workers with their own
 * connections; the ticker has its own; outcomes are recorded on core's
 * completion thread with its connection.
 */
#ifndef JOB_H
#define JOB_H

#include <stdint.h>

#include <jansson.h>

#include "svc.h"
#include "util.h"

#define JOB_NAME_MAX		128
#define JOB_MESSAGE_MAX		16384	/* agent_turn message, bytes */
#define JOB_EVENT_TEXT_MAX	4096	/* system_event text, bytes */
#define JOB_AT_MAX_SECS		(365LL * 86400)
#define JOB_EVERY_MAX_SECS	86400
#define JOB_RESULT_MAX		4096	/* bytes of a reply kept on a fire */
#define JOB_WORKFLOW_MAX	256	/* a workflow's id or name, bytes */
/* Who owns a schedule that only runs a workflow (notes/kernel.md). */
#define JOB_SHARED_AGENT	"00000000-0000-0000-0000-000000000001"
#define JOB_ERROR_MAX		256	/* bytes of an error kept on a job */

/* [scheduler] in config.toml, read once by job_start() (fire.c). */
struct job_conf {
	long long	jc_min_interval;	/* min_interval_secs */
	long long	jc_max_failures;	/* max_consecutive_failures */
	long long	jc_tick_ms;		/* tick_ms */
	long long	jc_lease_secs;		/* lease_secs */
	long long	jc_max_catch_up;	/* max_catch_up */
	long long	jc_grace_secs;		/* misfire_grace_secs */
	long long	jc_max_jobs;		/* max_jobs */
	long long	jc_max_per_agent;	/* max_jobs_per_agent */
};

extern struct job_conf	job_conf;

/* A schedule, as stored. */
struct job_sched {
	char		 js_kind[8];		/* cron, every, at */
	const char	*js_expr;		/* cron: borrowed */
	const char	*js_tz;			/* cron: borrowed, NULL: UTC */
	long long	 js_every;		/* every: seconds */
	int64_t		 js_at;			/* at: epoch seconds */
};

/*
 * The first slot of s strictly after `after` (epoch seconds) into *next;
 * 0, or -1 when there is none (an instant already past, a cron
 * expression that never fires again).  err, when not NULL, gets why a
 * cron expression is refused.
 */
int	 job_next_slot(const struct job_sched *s, int64_t after, int64_t *next,
	    char *err, size_t errlen);

/*
 * What a due job fires (the catch-up policy, with job_conf): s's slot
 * first (the job's next_run) is due at now (epoch seconds, >= first);
 * policy is "once", "skip" or "all".  Sets *fire to the slot to fire
 * (-1: none), *next to the next_run after it (-1: none left) and
 * *missed to the slots skipped for good.
 */
void	 job_decide(const struct job_sched *s, const char *policy,
	    int one_shot, int64_t first, int64_t now, int64_t *fire,
	    int64_t *next, long long *missed);

/* ---- inside the module: spec.c for ops.c ---------------------------- */

/* Which HTTP view an operation answers. */
enum job_view {
	VIEW_CRON,		/* /api/cron/jobs */
	VIEW_SCHED		/* /api/schedules */
};

/* A create or update body, parsed (strings and JSON borrowed from the
 * body, or from the row of job_spec_of_row()).  Unset fields keep -1 or
 * NULL. */
struct job_spec {
	char		 sp_agent[UTIL_UUID_LEN];	/* "" unset */
	const char	*sp_name;
	int		 sp_enabled;
	int		 sp_has_sched;
	struct job_sched sp_sched;
	const char	*sp_action;	/* agent_turn, system_event,
					   workflow */
	const char	*sp_message;	/* prompt, text, or "" */
	const char	*sp_workflow;	/* workflow: its id or name */
	json_t		*sp_wf_input;	/* workflow: string or object */
	long long	 sp_timeout;	/* -1 unset, 0 null */
	const char	*sp_session_mode;
	const char	*sp_catch_up;
	long long	 sp_max_failures; /* -1 unset, 0 null */
	int		 sp_one_shot;
	json_t		*sp_delivery;	/* borrowed from the body */
	json_t		*sp_targets;	/* borrowed from the body */
	const char	*sp_peer_id;
	int		 sp_has_peer;
};

void	 job_spec_init(struct job_spec *sp);
/* Parses body for view v into sp (initialised): 0, or -1 with why in
 * err.  Only v's keys are taken; a cron text is checked with the cron
 * module, a zone against the system's. */
int	 job_spec_parse(enum job_view v, json_t *body, struct job_spec *sp,
	    char *err, size_t errlen);
/* The stored job row (as ops.c selects it) as a complete spec. */
void	 job_spec_of_row(json_t *row, struct job_spec *sp);
/* An RFC 3339 time to epoch seconds, rounded down: 0, or -1. */
int	 job_parse_time(const char *s, int64_t *out);

/* The module's hooks for main.c: reads [scheduler], starts the ticker;
 * stops it (the turns still in flight are left to core). */
int	 job_start(void);
void	 job_stop(void);

/*
 * POST /api/schedules/{id}/run: claims a manual fire of job (a row of
 * jobs as JSON, borrowed) and runs it now; the reply to rq is deferred
 * and given when the turn ends.  Returns 0 (rp is deferred or answered),
 * -1 after an error reply in rp.
 */
int	 job_run_now(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp, json_t *job);

/* The operations behind both views (ops.c). */
extern const struct svc_op job_ops[];

#endif /* JOB_H */
