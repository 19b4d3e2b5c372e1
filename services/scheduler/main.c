/*
 * scheduler - owns schedules, cron jobs, triggers, workflows and their
 * runs, goals and the task queue.
 *
 * It applies its schema's migrations, then answers its operations over
 * the bus with a pool of workers until SIGINT or SIGTERM (svc_main()).
 */
#include "services.h"
#include "svc.h"

/* Only sys.health (libshared/svc.c) so far. */
static const struct svc_def scheduler_def = {
	.sd_name = SVC_SCHEDULER,
	.sd_schema = "scheduler",
	.sd_migrations = svc_migrations,
};

SVC_MAIN(scheduler_def)
