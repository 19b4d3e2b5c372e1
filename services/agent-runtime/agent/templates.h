/*
 * agent/templates.h - agent templates, tool profiles and chat slash commands
 * (notes/agent-core.md 8 and 9).
 *
 * Templates are agent manifests we wrote (templates/<name>.toml), embedded
 * in the binary at build time by deploy/file2c.sh, so every replica serves
 * the same set from any directory.  Profiles and commands are static
 * tables.  Nothing here touches the database; everything is read-only and
 * thread-safe.
 *
 * Operations (tmpl_ops): templates.list, templates.get, templates.toml,
 * profiles.list, profiles.get, commands.list, commands.get.
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

/* Writes "<what> '<name>' not found" into err, or "<what> not found" when
 * name is too long or not printable ASCII to echo. */
void	 tmpl_not_found(char *err, size_t errlen, const char *what,
	    const char *name);

/*
 * The built-in tools a tool profile (manifest key "profile") grants, as a
 * NULL-terminated list of names (static).  "full" and "custom" grant every
 * tool: the list is { "*", NULL }.  NULL for an unknown profile.
 */
const char *const *tmpl_profile_tools(const char *profile);

extern const struct svc_op tmpl_ops[];

#endif /* TMPL_H */
