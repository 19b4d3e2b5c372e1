/*
 * scheduler - owns schedules and cron jobs, triggers, workflows and their
 * runs, goals and the task queue.  One folder per module; README.md maps
 * them.
 *
 * It applies its schema's migrations, starts core (the bus client for
 * turns, the publisher) and then each module's threads, and answers its
 * operations over the bus until SIGINT or SIGTERM.
 */
#include "core/sched.h"
#include "goal/goal.h"
#include "job/job.h"
#include "services.h"
#include "svc.h"
#include "task/task.h"
#include "trigger/trigger.h"
#include "workflow/workflow.h"

/*
 * The modules, in start order; they stop in the reverse order, before
 * core.  Each start returns 0, or -1 (logged) to exit 1.
 */
static const struct sched_module {
	int	(*sm_start)(void);
	void	(*sm_stop)(void);
} sched_modules[] = {
	{ job_start, job_stop },
	{ trigger_start, trigger_stop },
	{ task_start, task_stop },	/* goals and the task queue */
	{ wf_start, wf_stop },
	{ NULL, NULL }
};

static int
scheduler_start(const struct sh_config *cfg, void *arg)
{
	const struct sched_module	*sm;

	(void)arg;
	if (sched_core_start(cfg) != 0) {
		sched_core_stop();
		return (-1);
	}
	for (sm = sched_modules; sm->sm_start != NULL; sm++)
		if (sm->sm_start() != 0) {
			/* What started stops again: the process exits (1)
			 * with none of its threads or sockets left. */
			while (sm-- > sched_modules)
				sm->sm_stop();
			sched_core_stop();
			return (-1);
		}
	return (0);
}

/* The modules stop firing and wait for what they run; turns still in
 * flight are cancelled, then the bus closes. */
static void
scheduler_drain(void *arg)
{
	const struct sched_module	*sm;

	(void)arg;
	for (sm = sched_modules; sm->sm_start != NULL; sm++)
		;
	while (sm-- > sched_modules)
		sm->sm_stop();
	sched_core_stop();
}

static const struct svc_op *const scheduler_tables[] = {
	job_ops,
	trigger_ops,
	goal_ops, task_ops, task_board_ops,
	wf_ops,
	NULL
};

static const struct svc_def scheduler_def = {
	.sd_name = SVC_SCHEDULER,
	.sd_schema = "scheduler",
	.sd_migrations = svc_migrations,
	.sd_ops = scheduler_tables,
	.sd_start = scheduler_start,
	.sd_drain = scheduler_drain,
	.sd_audit = 1,	/* core/audit.c: changes are audited */
};

SVC_MAIN(scheduler_def)
