/*
 * totpgate - calls totp_gate() (approval/totp.h) once from the command
 * line, for tests: the approvals' second-factor check without an
 * approval to decide.
 *
 *   totpgate [-f config.toml] BIND [CODE]
 *
 * Prints "<status> <message>" (status 0: allowed) and exits 0; 1 when
 * the configuration cannot be loaded, 2 on bad usage.  The database and
 * the vault key are the configured ones (LIBREFANG_HOME, database_url,
 * LIBREFANG_VAULT_KEY), as the runtime's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "approval/totp.h"
#include "cfg.h"
#include "db.h"
#include "log.h"

int
main(int argc, char **argv)
{
	struct sh_config	 cfg;
	struct db		*db;
	const char		*conf = NULL;
	char			 err[512], conninfo[2048];
	int			 ch, rv;

	while ((ch = getopt(argc, argv, "f:")) != -1) {
		if (ch != 'f') {
			fprintf(stderr, "usage: totpgate [-f config.toml] "
			    "BIND [CODE]\n");
			return (2);
		}
		conf = optarg;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2) {
		fprintf(stderr, "usage: totpgate [-f config.toml] BIND "
		    "[CODE]\n");
		return (2);
	}
	log_init("totpgate", LOG_LVL_ERROR, 0);
	if (cfg_load(&cfg, conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "totpgate: %s\n", err);
		cfg_release(&cfg);
		return (1);
	}
	(void)totp_init(&cfg);
	db_conninfo(cfg.database_url, cfg.home_dir, conninfo,
	    sizeof(conninfo));
	if ((db = db_open(conninfo, "runtime")) == NULL) {
		cfg_release(&cfg);
		return (1);
	}
	err[0] = '\0';
	rv = totp_gate(db, argv[0], argc > 1 ? argv[1] : NULL, err,
	    sizeof(err));
	printf("%d %s\n", rv, err);
	db_close(db);
	cfg_release(&cfg);
	return (0);
}
