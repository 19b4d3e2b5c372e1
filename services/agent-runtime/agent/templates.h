/*
 * agent/templates.h - agent templates and chat slash commands
 * (notes/agent-core.md 8 and 9; tool profiles are in tool/profile.c).
 *
 * Templates are agent manifests we wrote (agent/templates/<name>.toml),
 * embedded in the binary at build time by deploy/file2c.sh, so every
 * replica serves the same set from any directory.  Commands are a static
 * table.  Nothing here touches the database; everything is read-only and
 * thread-safe.
 *
 * Operations (tmpl_ops): templates.list, templates.get, templates.toml,
 * commands.list, commands.get.
 */
#ifndef TMPL_H
#define TMPL_H

#include <stddef.h>

#include "embed.h"
#include "svc.h"

/* Every template, named by its file name without ".toml", sorted by
 * name, ending with a NULL name (generated). */
extern const struct embed_file tmpl_files[];

/* The template with this exact name, or NULL. */
const struct embed_file *tmpl_find(const char *name);

extern const struct svc_op tmpl_ops[];

#endif /* TMPL_H */
