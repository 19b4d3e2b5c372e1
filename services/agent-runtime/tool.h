/*
 * tool.h - the built-in tools an agent may call (notes/agent-core.md 3).
 *
 * Each tool has a name, a description and a JSON schema for its input
 * (GET /api/tools).  A manifest grants tools through [capabilities] tools
 * (names or globs, notes 3.4 and 3.9); an agent can run only what its
 * manifest grants, and shell_exec only when the manifest grants it
 * explicitly.
 *
 * tool_run() executes one call on the calling thread and may block (file
 * I/O, a subprocess, an HTTP fetch, a bus call): the agent loop calls it
 * from its job threads, never from the LLM engine thread.  It never fails
 * the turn: every problem, including input that does not match the
 * schema, becomes an error result handed back to the model.
 */
#ifndef TOOL_H
#define TOOL_H

#include "svc.h"

#include <stddef.h>

#include <jansson.h>

struct bus_client;
struct sh_config;

#define TOOL_RESULT_MAX		(64 * 1024)	/* bytes of one result */
#define TOOL_AGENT_DEPTH_MAX	3		/* agent_send nesting */

/* What a tool may know of the turn that calls it. */
struct tool_ctx {
	const struct sh_config	*tc_cfg;
	struct bus_client	*tc_bus;	/* kv_*, agent_* */
	const char		*tc_agent_id;
	const char		*tc_agent_name;
	const char		*tc_session_id;
	json_t			*tc_manifest;	/* borrowed, normalised */
	const char		*tc_workspace;	/* absolute, exists */
	int			 tc_depth;	/* 0 for a user's turn */
	json_t			*tc_notices;	/* array: notify_owner appends
						   strings here */
	volatile int		*tc_interrupted;/* set by stop/interrupt */
};

/* A tool's result. */
struct tool_result {
	char	*tr_content;	/* new, NUL-terminated, <= TOOL_RESULT_MAX */
	int	 tr_is_error;
	int	 tr_hard;	/* hard failure: the rest of the batch is
				   skipped (notes 4.4) */
};

/* Every built-in tool definition, {name, description, input_schema}
 * (new array). */
json_t	*tool_defs(void);
/* One definition (new) or NULL. */
json_t	*tool_def(const char *name);
/* The definitions this manifest grants (new array). */
json_t	*tool_defs_granted(json_t *manifest);
/* 1 if manifest grants tool name. */
int	 tool_granted(json_t *manifest, const char *name);

/* Runs one call.  input is borrowed (any JSON value: a non-object is an
 * error result).  Always fills r; r->tr_content is never NULL except on
 * ENOMEM, when SH_ENOMEM is returned.  Returns 0 otherwise. */
int	 tool_run(struct tool_ctx *tc, const char *name, json_t *input,
	    struct tool_result *r);
void	 tool_result_release(struct tool_result *r);

/* The agent's workspace directory: <data_dir>/workspaces/<agent name>,
 * created (0700) if absent.  0, or -1 with errno. */
int	 tool_workspace(const struct sh_config *cfg, const char *agent_name,
	    char *out, size_t outlen);

/* The operation table for tools.* (GET /api/tools...), NULL-ended. */

extern const struct svc_op tool_ops[];

#endif /* TOOL_H */
