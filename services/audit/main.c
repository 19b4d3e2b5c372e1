/*
 * audit - owns the Merkle audit chain, usage records and the log stream.
 *
 * It applies its schema's migrations, then answers its operations over
 * the bus with a pool of workers until SIGINT or SIGTERM (svc_main()).
 */
#include "services.h"
#include "svc.h"

/* Only sys.health (libshared/svc.c) so far. */
static const struct svc_def audit_def = {
	.sd_name = SVC_AUDIT,
	.sd_schema = "audit",
	.sd_migrations = svc_migrations,
};

SVC_MAIN(audit_def)
