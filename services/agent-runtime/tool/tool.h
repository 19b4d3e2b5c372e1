/*
 * tool/tool.h - the built-in tools an agent may call (notes/agent-core.md 3).
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

#include <stdatomic.h>
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
	int			 tc_event_depth; /* the turn's caller
						   event_depth: sent on */
	json_t			*tc_notices;	/* array: notify_owner appends
						   strings here */
	const atomic_int	*tc_interrupted;/* set by stop/interrupt */
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

/* 1 if an agent in this mode ("observe", "assist", "full") may run tool
 * name at all (notes 2.4: observe none, assist read-only tools). */
int	 tool_mode_allows(const char *mode, const char *name);

/* 1 if name is a built-in tool's own name (not an alias).  Builds no
 * JSON, unlike tool_def(): the definitions share their parsed schemas,
 * and jansson's json_incref() reads a shared count without an atomic
 * load, which ThreadSanitizer reports when many threads take them. */
int	 tool_known(const char *name);
/* 1 if tool name needs no agent (web_fetch, agent_list): the only tools
 * a caller outside any agent may run (tool/invoke.c). */
int	 tool_agentless(const char *name);

/*
 * Glob matching of notes 3.9 (tools, memory keys, hosts, shell): "*"
 * alone matches everything; a value with a "." or ".." path segment never
 * matches a wildcard; patterns with "/" match per path segment ("*" one
 * segment, "**" any number); when both contain "." per dot segment;
 * otherwise "*" matches any run of characters.  1 on a match.
 */
int	 tool_glob_match(const char *pattern, const char *value);
/* 1 if value matches any string in the JSON array patterns. */
int	 tool_glob_any(json_t *patterns, const char *value);

/* ---- used by the tool modules and their tests ------------------------ */

/* Soft failures (bad input, refusals) leave tr_hard 0; hard ones set it. */
int	 tool_result_set(struct tool_result *r, int is_error, int hard,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Takes text[0..len) as the content: invalid UTF-8 becomes U+FFFD and the
 * content is cut (on a character boundary) to TOOL_RESULT_MAX with a note.
 * text is not freed. */
int	 tool_result_take(struct tool_result *r, int is_error, int hard,
	    const char *text, size_t len);

#define TOOL_PATH_MAX		4096	/* bytes of a workspace path */
#define TOOL_FILE_WRITE_MAX	(8 * 1024 * 1024)
#define TOOL_FILE_LIST_MAX	1000

/*
 * Opens path, relative to the workspace directory ws, without ever
 * following a symlink or leaving ws: absolute paths, "..", NUL bytes and
 * empty components are refused; every component is opened with openat()
 * and O_NOFOLLOW from the previous one, so a swapped-in symlink cannot
 * redirect it.  flags are the open(2) flags of the last component (plus
 * O_NOFOLLOW|O_CLOEXEC); mkdirs creates missing parent directories (0700).
 * An empty path or "." opens ws itself (flags must then be a directory
 * open).  Returns the fd, or -1 with a message in err.
 */
int	 tool_path_open(const char *ws, const char *path, size_t pathlen,
	    int flags, int mkdirs, char *err, size_t errlen);

/* The runners, one per tool (tool/fs.c, tool/web.c, tool/shell.c,
 * tool/agent.c).  input is an object; the runner checks its fields. */
int	 tool_file_read(struct tool_ctx *tc, json_t *in, struct tool_result *r);
int	 tool_file_write(struct tool_ctx *tc, json_t *in,
	    struct tool_result *r);
int	 tool_file_list(struct tool_ctx *tc, json_t *in, struct tool_result *r);
int	 tool_web_fetch(struct tool_ctx *tc, json_t *in, struct tool_result *r);
int	 tool_shell_exec(struct tool_ctx *tc, json_t *in,
	    struct tool_result *r);
int	 tool_kv_get(struct tool_ctx *tc, json_t *in, struct tool_result *r);
int	 tool_kv_set(struct tool_ctx *tc, json_t *in, struct tool_result *r);
int	 tool_agent_send(struct tool_ctx *tc, json_t *in,
	    struct tool_result *r);
int	 tool_agent_list(struct tool_ctx *tc, json_t *in,
	    struct tool_result *r);
int	 tool_agent_spawn(struct tool_ctx *tc, json_t *in,
	    struct tool_result *r);
int	 tool_notify_owner(struct tool_ctx *tc, json_t *in,
	    struct tool_result *r);
/* The task board tools (tool/task.c), asking the scheduler. */
int	 tool_task_post(struct tool_ctx *tc, json_t *in, struct tool_result *r);
int	 tool_task_claim(struct tool_ctx *tc, json_t *in,
	    struct tool_result *r);
int	 tool_task_complete(struct tool_ctx *tc, json_t *in,
	    struct tool_result *r);
int	 tool_task_list(struct tool_ctx *tc, json_t *in, struct tool_result *r);
int	 tool_task_status(struct tool_ctx *tc, json_t *in,
	    struct tool_result *r);

/*
 * One bus request for a tool (tool/agent.c): params, query, body and
 * caller are stolen (caller NULL: principal "agent-runtime").  0 with rep
 * filled (the caller releases it), or -1 with r filled as a hard error
 * when the service did not answer.
 */
struct msg_rep;
int	 tool_bus_call(struct tool_ctx *tc, const char *svc, const char *op,
	    json_t *params, json_t *query, json_t *body, json_t *caller,
	    int timeout_ms, struct msg_rep *rep, struct tool_result *r);

/* Input helpers for the runners: 0, or -1 after filling r with a soft
 * "missing/invalid parameter" error.  *out is borrowed from in. */
int	 tool_arg_str(json_t *in, const char *key, int required,
	    const char **out, size_t *lenp, struct tool_result *r);
int	 tool_arg_int(json_t *in, const char *key, long long min,
	    long long max, long long *out, struct tool_result *r);

/* exec_policy of a manifest: "deny", "allowlist" or "full" (notes 3.6;
 * a manifest declaring shell_exec without exec_policy is "full"). */
const char *tool_exec_mode(json_t *manifest);

/* ---- profiles (tool/profile.c) --------------------------------------- */

/* One tool profile: what a manifest's "profile" grants when its
 * capabilities.tools is empty, and what GET /api/profiles shows. */
struct tool_profile {
	const char		*tp_name;
	const char		*tp_desc;
	const char *const	*tp_tools;	/* as capabilities.tools: names,
						   or "*" (NULL-ended) */
	const char		*tp_caps;	/* implied capabilities (JSON) */
};

/* The profile of that name ("custom" is "full"), or NULL. */
const struct tool_profile *tool_profile_find(const char *name);
/* Its tools and its implied capabilities (new), NULL on ENOMEM. */
json_t	*tool_profile_tools(const struct tool_profile *p);
json_t	*tool_profile_caps(const struct tool_profile *p);

/* ---- operations ------------------------------------------------------ */

/* profiles.list and profiles.get, in tool_ops[]. */
void	 tool_op_profiles_list(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 tool_op_profiles_get(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);

/* ---- calls from outside the agent loop (tool/invoke.c) ---------------- */

/*
 * tools.invoke: one built-in tool run for a REST client (POST
 * /api/tools/{name}/invoke, gated by [tool_invoke]) or for the gateway's
 * MCP server (params.via = "mcp": no allowlist, refusals are results).
 * It runs as the agent query.agent_id names, with the agent loop's
 * checks, or outside any agent (agentless tools only).  The call runs on
 * a thread of its own; the reply is deferred.
 */
void	 tool_op_invoke(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
/* tools.list with query.agent_id: the tools that agent may run now (its
 * grants and mode, as a turn offers them).  Same shape as tools.list. */
void	 tool_op_list_agent(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
/* At shutdown: running calls are interrupted and waited for (bounded);
 * new ones are refused (503). */
void	 tool_invoke_shutdown(void);
/* The [tool_invoke] check: 0 when cfg lets a REST client run name
 * directly, else 1 when the endpoint is disabled, 2 when the tool is not
 * on the allowlist. */
int	 tool_invoke_permits(const struct sh_config *cfg, const char *name);

/* The module's operation table (tool/tool.c), NULL-ended: tools.list,
 * tools.get, tools.invoke, profiles.list, profiles.get. */
extern const struct svc_op tool_ops[];

#endif /* TOOL_H */
