/*
 * workflow/workflow.h - workflows and their runs (notes/kernel.md 1; issue
 * 9, part "workflows").
 *
 * A workflow is a list of steps, each a turn on one agent (or, for
 * collect, none); a run executes them in order on a thread of a bounded
 * pool (run.c) with the executor of exec.c.  A run is a row of
 * scheduler.workflow_runs written at every step boundary and claimed by
 * the replica running it with a lease a watch thread renews; a replica
 * that dies leaves a run whose lease expires, and whichever replica's
 * pool finds it first resumes it from its last completed step, or marks
 * it failed with the reason when it was lost too often
 * ([scheduler] workflow_max_takeovers) or is past its deadline.  Never
 * missing, never left running.
 *
 * def.c turns a create/update body into the canonical definition stored
 * (and back into the GET view), with the checks that give 400s; it, the
 * template expansion and the condition test are pure and unit-tested
 * (tests/unit/t_workflow.c).
 */
#ifndef SCHED_WORKFLOW_H
#define SCHED_WORKFLOW_H

#include <jansson.h>

#include "core/sched.h"
#include "svc.h"
#include "util.h"

/* Bounds on what a definition may ask for (400 beyond them). */
#define WF_MAX_STEPS		100
#define WF_MAX_NAME		256
#define WF_MAX_DESCRIPTION	4096
#define WF_MAX_PROMPT		(64 * 1024)
#define WF_MAX_ITERATIONS	1000
#define WF_MAX_RETRIES		100
#define WF_MAX_BACKOFF_MS	60000
#define WF_MAX_TIMEOUT_SECS	(366LL * 86400)
#define WF_DEFAULT_TIMEOUT_SECS	120
#define WF_DEFAULT_ITERATIONS	5
#define WF_DEFAULT_RETRIES	3
#define WF_MAX_INPUT		(1024 * 1024)	/* run input and outputs */

/* ---- def.c: definitions ---------------------------------------------- */

/*
 * The canonical definition of a create or update body (borrowed): a new
 * {name, description, steps: [{name, agent_id | agent_name,
 * prompt_template, mode, timeout_secs, error_mode, max_retries,
 * backoff_ms?, output_var?, condition?, max_iterations?, until?,
 * depends_on?}],
 * total_timeout_secs?, input_schema?, layout?}.  NULL with the reason in
 * err (for a 400) when the body is not a workflow we can run.  Agents are
 * not looked up here (wf_def_check_agents).
 */
json_t	*wf_def_parse(json_t *body, char *err, size_t errlen);
/* 1 if steps (a canonical definition's) run in DAG mode: a step has
 * depends_on (kernel.md 1.6). */
int	 wf_is_dag(json_t *steps);
/*
 * DAG mode's layers: layer[i] (an array of json_array_size(steps) ints)
 * is step i's, 0 for steps without dependencies, else one more than its
 * deepest dependency's.  Returns the number of layers, or -1 with the
 * reason in err (an unknown dependency, a cycle).
 */
int	 wf_dag_layers(json_t *steps, int *layer, char *err, size_t errlen);
/*
 * Checks that every step's agent is in agents (borrowed: agents.list's
 * array of {id, name, ...}).  0, or -1 with "step 'x': agent 'y' not
 * found" in err.
 */
int	 wf_def_check_agents(json_t *def, json_t *agents, char *err,
	    size_t errlen);
/* The GET view of a stored definition (all borrowed): new {id, name,
 * description, steps: [{.., agent: {agent_id} | {agent_name}, ..}],
 * created_at, ...}. */
json_t	*wf_def_view(const char *id, json_t *def, const char *created_at);

/*
 * kernel.md 1.3: template with every "{{input}}" replaced by input, then
 * every "{{k}}" by vars[k] (strings; borrowed).  New string, or NULL on
 * ENOMEM.
 */
char	*wf_expand(const char *tmpl, const char *input, json_t *vars);
/* kernel.md 1.2, conditional: 1 if cond holds on input (case-insensitive
 * substrings, "||" any-of, "&&" all-of, "!" negates), else 0. */
int	 wf_cond_match(const char *cond, const char *input);
/*
 * The run input of a run body's "input" (borrowed; a string is taken as
 * is, an object as its JSON text, anything else is "") and the variables
 * it seeds (1.3): sets *input (new string) and *vars (new object).  0,
 * or -1 on ENOMEM.
 */
int	 wf_input_seed(json_t *in, char **input, json_t **vars);

/* ---- run.c: runs ------------------------------------------------------ */

/* Starts the run pool and the watch thread.  0, or -1 (logged). */
int	 wf_start(void);
/* Stops them: runs in flight are left to another replica (their leases
 * are released), callers waiting for one are told it is still running. */
void	 wf_stop(void);

/*
 * Queues run id (already inserted, pending, claimed by this replica) on
 * the pool.  If sp is not NULL (stolen) the caller waits: sp is answered
 * when the run ends, or 202 {run_id, status: "running"} at deadline_ms
 * (wall clock) or when the replica stops.  -1 (sp untouched) when the
 * pool is stopping.
 */
int	 wf_run_submit(const char *id, struct svc_pending *sp,
	    int64_t deadline_ms);
/* [scheduler] workflow_lease_secs and
 * workflow_default_total_timeout_secs (0: none). */
long long wf_lease_secs(void);
long long wf_default_total(void);
/* The reply to a caller waiting for run row (borrowed; state, output,
 * error, step_results_json): sets *status, returns the body (new). */
json_t	*wf_run_reply(json_t *row, int *status);

/* ---- exec.c: one run's steps (internal to run.c) ----------------------- */

/* A run being executed, loaded from its row by run.c. */
struct wf_run {
	char		 r_id[UTIL_UUID_LEN];
	char		 r_workflow_id[UTIL_UUID_LEN];
	char		 r_token[128];	/* claimed_by: fences every write */
	struct db	*r_db;		/* the pool thread's, borrowed */
	json_t		*r_def;		/* the run's copy of the definition */
	json_t		*r_steps;	/* borrowed from r_def */
	char		*r_input;	/* the run's raw input */
	int		 r_step;	/* the next step to run (DAG mode:
					   the next layer) */
	int		 r_iter;	/* loop iterations done in r_step */
	char		*r_cur;		/* current_input; NULL: not seeded */
	json_t		*r_vars;	/* {name: string} */
	int		 r_nout;	/* outputs since the last collect */
	json_t		*r_results;	/* StepResults */
	json_t		*r_failed;	/* DAG mode: indices of the steps
					   that failed or were skipped */
	char		*r_last;	/* DAG mode: the last output */
	int64_t		 r_deadline;	/* wall ms; 0: none */
	long long	 r_total_secs;
	int		 r_depth;	/* caller.event_depth of its turns:
					   the trigger chain that ran it */
	char		*r_error;	/* once failed */
};

enum wf_outcome {
	WF_COMPLETED,
	WF_FAILED,	/* r_error says why */
	WF_LOST		/* stopping, or the run is no longer ours */
};

/* Runs r from r_step to the end, saving at each step boundary. */
enum wf_outcome wf_exec(struct wf_run *r);
/* Saves r's progress; 0, or -1 when the run is no longer ours (lease
 * taken over, deleted) or the database failed. */
int	 wf_run_save(struct wf_run *r);
/* 1 once wf_stop() has begun. */
int	 wf_stopping(void);
/* Waits up to ms unless stopping; returns wf_stopping(). */
int	 wf_sleep(long long ms);

/* agent-runtime's agents.list (new array), or NULL with err. */
json_t	*wf_agents_list(char *err, size_t errlen);

/* A turn started by exec.c and waited for (run.c holds the lock). */
struct wf_call;
struct wf_call *wf_call_start(const struct sched_turn *t);
/* Waits for c and frees it: the status (*body new), or -1 (*body NULL)
 * when stopping (the call is left to end on its own). */
int	 wf_call_wait(struct wf_call *c, json_t **body);

/* ---- ops.c: the operations -------------------------------------------- */

extern const struct svc_op wf_ops[];

#endif /* SCHED_WORKFLOW_H */
