/*
 * scheduler - owns schedules, cron jobs, triggers, workflows and their runs, goals and the task queue.
 *
 * It applies its schema's migrations, then answers its operations over
 * the bus with a pool of workers until SIGINT or SIGTERM.
 */
#include "bus.h"
#include "cfg.h"
#include "log.h"
#include "services.h"
#include "svc.h"

static const struct svc_op scheduler_ops[] = {
	{ NULL, NULL }
};

static const struct svc_op *const scheduler_tables[] = {
	scheduler_ops, NULL
};

static const struct svc_def scheduler_def = {
	"scheduler", "scheduler", svc_migrations, scheduler_tables, NULL,
	NULL
};

int
main(int argc, char **argv)
{
	struct svc_opts		 so;
	struct sh_config	 cfg;
	struct svc_server	*ss;

	svc_init(argc, argv, "scheduler", &so);
	svc_config(&so, &cfg);
	if (svc_db_migrate(&scheduler_def, &cfg) != 0)
		return (0);
	if ((ss = svc_serve(&scheduler_def, &cfg)) == NULL)
		fatalx("could not join the bus at '%s'", cfg.bus_url);
	svc_wait();
	svc_stop(ss);
	cfg_release(&cfg);
	bus_fini();
	return (0);
}
