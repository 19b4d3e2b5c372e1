/*
 * audit - owns the Merkle audit chain (chain.c), usage records and the
 * log stream.
 *
 * It applies its schema's migrations, then answers its operations over
 * the bus with a pool of workers until SIGINT or SIGTERM (svc_main()).
 * The entries arrive from the acting services' outbox relays
 * (libshared/audit.h) as audit.append.
 */
#include "audit.h"
#include "services.h"
#include "svc.h"

static const struct svc_op *const audit_tables[] = { chain_ops, NULL };

static const struct svc_def audit_def = {
	.sd_name = SVC_AUDIT,
	.sd_schema = "audit",
	.sd_migrations = svc_migrations,
	.sd_ops = audit_tables,
};

SVC_MAIN(audit_def)
