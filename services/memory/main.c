/*
 * memory - owns KV memory (kv.c: memory.kv.*) and, later, proactive
 * memory.
 *
 * It applies its schema's migrations, then answers its operations over
 * the bus with a pool of workers until SIGINT or SIGTERM.
 */
#include "bus.h"
#include "cfg.h"
#include "log.h"
#include "services.h"
#include "svc.h"

/* kv.c */
extern const struct svc_op kv_ops[];

static const struct svc_op *const memory_tables[] = {
	kv_ops, NULL
};

static const struct svc_def memory_def = {
	"memory", "memory", svc_migrations, memory_tables, NULL,
	NULL
};

int
main(int argc, char **argv)
{
	struct svc_opts		 so;
	struct sh_config	 cfg;
	struct svc_server	*ss;

	svc_init(argc, argv, "memory", &so);
	svc_config(&so, &cfg);
	if (svc_db_migrate(&memory_def, &cfg) != 0)
		return (0);
	if ((ss = svc_serve(&memory_def, &cfg)) == NULL)
		fatalx("could not join the bus at '%s'", cfg.bus_url);
	svc_wait();
	svc_stop(ss);
	cfg_release(&cfg);
	bus_fini();
	return (0);
}
