/*
 * tmpl.h - agent templates, profiles and slash commands.
 */
#ifndef TMPL_H
#define TMPL_H

#include "svc.h"

extern const struct svc_op tmpl_ops[];

#endif /* TMPL_H */
