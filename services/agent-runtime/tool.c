/*
 * tool.c - built-in tools (stub: replaced by the tools work).
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "svc.h"
#include "tool.h"

json_t *
tool_defs(void)
{
	return (json_array());
}

json_t *
tool_def(const char *name)
{
	(void)name;
	return (NULL);
}

json_t *
tool_defs_granted(json_t *manifest)
{
	(void)manifest;
	return (json_array());
}

int
tool_granted(json_t *manifest, const char *name)
{
	(void)manifest;
	(void)name;
	return (0);
}

int
tool_run(struct tool_ctx *tc, const char *name, json_t *input,
    struct tool_result *r)
{
	(void)tc;
	(void)name;
	(void)input;
	memset(r, 0, sizeof(*r));
	if ((r->tr_content = strdup("tools are not built yet")) == NULL)
		return (SH_ENOMEM);
	r->tr_is_error = 1;
	return (0);
}

void
tool_result_release(struct tool_result *r)
{
	free(r->tr_content);
	r->tr_content = NULL;
}

int
tool_workspace(const struct sh_config *cfg, const char *agent_name,
    char *out, size_t outlen)
{
	(void)cfg;
	(void)agent_name;
	(void)out;
	(void)outlen;
	return (-1);
}

const struct svc_op tool_ops[] = {
	{ NULL, NULL }
};
