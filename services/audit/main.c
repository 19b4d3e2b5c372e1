/*
 * audit - owns the Merkle audit chain, usage records and the log stream.
 *
 * It applies its schema's migrations, then answers its operations over
 * the bus with a pool of workers until SIGINT or SIGTERM.
 */
#include "bus.h"
#include "cfg.h"
#include "log.h"
#include "services.h"
#include "svc.h"

static const struct svc_op audit_ops[] = {
	{ NULL, NULL }
};

static const struct svc_op *const audit_tables[] = {
	audit_ops, NULL
};

static const struct svc_def audit_def = {
	"audit", "audit", svc_migrations, audit_tables, NULL,
	NULL
};

int
main(int argc, char **argv)
{
	struct svc_opts		 so;
	struct sh_config	 cfg;
	struct svc_server	*ss;

	svc_init(argc, argv, "audit", &so);
	svc_config(&so, &cfg);
	if (svc_db_migrate(&audit_def, &cfg) != 0)
		return (0);
	if ((ss = svc_serve(&audit_def, &cfg)) == NULL)
		fatalx("could not join the bus at '%s'", cfg.bus_url);
	svc_wait();
	svc_stop(ss);
	cfg_release(&cfg);
	bus_fini();
	return (0);
}
