/*
 * catalog.c - the model catalog (stub: replaced by the catalog work).
 */
#include <stdio.h>

#include "catalog.h"
#include "err.h"
#include "svc.h"

int
catalog_init(const struct sh_config *cfg, const char *dir)
{
	(void)cfg;
	(void)dir;
	return (0);
}

void
catalog_fini(void)
{
}

int
catalog_resolve(struct db *db, const char *provider, const char *model,
    const char *base_url, const char *key_env, struct catalog_target *t,
    char *err, size_t errlen)
{
	(void)db;
	(void)provider;
	(void)model;
	(void)base_url;
	(void)key_env;
	(void)t;
	snprintf(err, errlen, "the model catalog is not built yet");
	return (SH_ENOTFOUND);
}

const struct svc_op catalog_ops[] = {
	{ NULL, NULL }
};
