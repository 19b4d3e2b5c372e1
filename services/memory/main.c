/*
 * memory - owns KV memory (kv.c: memory.kv.*) and, later, proactive
 * memory.
 *
 * It applies its schema's migrations, then answers its operations over
 * the bus with a pool of workers until SIGINT or SIGTERM (svc_main()).
 */
#include "services.h"
#include "svc.h"

/* kv.c */
extern const struct svc_op kv_ops[];

static const struct svc_op *const memory_tables[] = { kv_ops, NULL };

static const struct svc_def memory_def = {
	.sd_name = SVC_MEMORY,
	.sd_schema = "memory",
	.sd_migrations = svc_migrations,
	.sd_ops = memory_tables,
};

SVC_MAIN(memory_def)
