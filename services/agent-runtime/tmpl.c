/*
 * tmpl.c - agent templates, profiles and slash commands (stub: replaced
 * by the templates work).
 */
#include "svc.h"
#include "tmpl.h"

const struct svc_op tmpl_ops[] = {
	{ NULL, NULL }
};
