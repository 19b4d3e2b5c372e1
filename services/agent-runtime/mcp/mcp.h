/*
 * mcp/mcp.h - the MCP client: agents use tools from MCP servers
 * (notes/protocols.md 3.4).
 *
 * Configuration lives in PostgreSQL (runtime.mcp_servers, sql/007_mcp.sql),
 * so every replica runs the same servers and they survive restarts.  Each
 * replica keeps a registry of what the table holds (mcp/registry.c): one
 * struct mcp_server per row, each with a supervisor thread that starts its
 * connection (a child process for stdio, Streamable HTTP for http), lists
 * its tools, watches it (child exit, stderr, a periodic ping) and restarts
 * it with backoff.  The registry catches up with the table every
 * MCP_SYNC_MS and at once after this replica changes it.
 *
 * A server's tools reach an agent as mcp_<server>_<tool> (lowercased, '-'
 * made '_'), with the server's input schema, when the agent's
 * mcp_servers allows the server ("*" for all; empty is none) and
 * mcp_disabled is not set.  A call that fails at the transport (timeout,
 * I/O, garbage) marks the server unhealthy and has it reconnected; a
 * JSON-RPC error or isError result is only the tool's answer.
 *
 * Nothing here blocks a caller longer than the server's timeout: reads are
 * bounded in time and in bytes (MCP_LINE_MAX), so a child that floods,
 * prints garbage or never answers costs its callers a timeout and nothing
 * else.
 */
#ifndef MCP_H
#define MCP_H

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "svc.h"

struct sh_config;
struct tool_result;

#define MCP_NAME_MAX		64	/* bytes of a server name */
#define MCP_LINE_MAX		(4 * 1024 * 1024)	/* one message */
#define MCP_TOOLS_MAX		512	/* tools kept per server */
#define MCP_SCHEMA_MAX		(64 * 1024)	/* bytes of one input schema */
#define MCP_TIMEOUT_DEF		30	/* seconds per call */
#define MCP_TIMEOUT_MAX		600

#define MCP_PING_MS		15000	/* liveness ping period */
#define MCP_PING_TIMEOUT_MS	5000
#define MCP_BACKOFF_MIN_MS	500
#define MCP_BACKOFF_MAX_MS	30000
#define MCP_SYNC_MS		2000
#define MCP_STDERR_TAIL		2048	/* bytes of stderr kept */
#define MCP_PROTOCOL		"2025-06-18"	/* the version we ask for */

/* ---- one connection (mcp/conn.c) ------------------------------------- */

/*
 * A connection to one server.  Any number of threads may make requests
 * at once (answers are matched to calls by id); opening and closing are
 * one thread's (the registry's io lock, write-locked).  spec is the
 * normalised spec (mcp_spec_normalise).
 */
struct mcp_conn;

/* Opens the transport and runs initialize, notifications/initialized and
 * tools/list (every page).  Returns a new connection, or NULL with err
 * set.  *toolsp is set to the tools (new array of MCP tool objects).
 * cancel (may be NULL), once set, ends every wait on a stdio server's
 * output within 200 ms, this one's and the connection's later ones: a
 * stop does not wait out a handshake. */
struct mcp_conn *mcp_conn_open(const char *name, json_t *spec,
	    int64_t deadline_ms, const atomic_int *cancel, json_t **toolsp,
	    char *err, size_t errlen);
/* Ends the connection: closes stdin, then SIGTERM and SIGKILL to the
 * child's process group, and reaps it.  NULL is a no-op. */
void	 mcp_conn_close(struct mcp_conn *mc);
/* Sends method(params) (params borrowed, may be NULL) and waits until
 * deadline_ms (util_now_ms() clock) for its answer, answering the
 * server's own requests (ping) meanwhile.  0 with *resultp (new) set;
 * 1 with *errorp (new, the JSON-RPC error object) when the server
 * answered an error; -1 on a transport failure (timeout, I/O, a line
 * over MCP_LINE_MAX), err saying why: the connection is then broken. */
int	 mcp_conn_request(struct mcp_conn *mc, const char *method,
	    json_t *params, int64_t deadline_ms, json_t **resultp,
	    json_t **errorp, char *err, size_t errlen);
/* tools/list, every page (at most MCP_TOOLS_MAX tools): 0 with *toolsp
 * (new array), or -1 with err (a JSON-RPC error or a transport failure). */
int	 mcp_conn_list_tools(struct mcp_conn *mc, int64_t deadline_ms,
	    json_t **toolsp, char *err, size_t errlen);
/* 1 if the server said notifications/tools/list_changed since the last
 * listing or the last call of this (which clears it). */
int	 mcp_conn_take_changed(struct mcp_conn *mc);
/* The child's stderr descriptor (-1 for http); drained by the
 * supervisor with mcp_conn_drain_stderr(). */
int	 mcp_conn_stderr_fd(struct mcp_conn *mc);
/* Reads what stderr holds now (non-blocking) into the tail buffer tail
 * of size MCP_STDERR_TAIL (NUL-terminated, keeps the newest bytes).
 * Returns 1 at EOF, else 0. */
int	 mcp_conn_drain_stderr(struct mcp_conn *mc, char *tail);
/* 1 if the child exited (reaped; why says how), else 0.  Always 0 for
 * http. */
int	 mcp_conn_exited(struct mcp_conn *mc, char *why, size_t whylen);

/* The http transport under mcp_conn (mcp/http.c), for conn.c only: open
 * checks the spec's url and makes the state *hp (new, freed by close);
 * send posts one message and returns every JSON-RPC message of the answer
 * (new array: a JSON body or SSE events; empty for a 202); set_version
 * is sent as MCP-Protocol-Version after initialize. */
int	 mcp_http_open(void **hp, json_t *spec, char *err, size_t errlen);
void	 mcp_http_close(void *h);
int	 mcp_http_send(void *h, json_t *msg, int64_t deadline_ms,
	    json_t **answersp, char *err, size_t errlen);
void	 mcp_http_set_version(void *h, const char *v);

/* ---- specs (mcp/spec.c) ---------------------------------------------- */

/*
 * Normalises a request body into a stored spec, or fails with a message
 * for a 400.  Accepted shapes: {name, transport: "stdio"|"http", command,
 * args, env, url, headers, timeout_secs} (the first API edition),
 * {name, transport: {type, command, args, env | url, headers}, ...} and
 * {template_id, credentials, name?} (from the catalog).  The result is
 * {name, template_id?, transport: {type, command, args | url, headers},
 * env: {K: V}, timeout_secs} (new); *statusp is 400 or 404 (unknown
 * template) on failure.  fixed_name, when not NULL, is the name of the
 * row being replaced (PUT): a body's name must then match it or be
 * absent.
 */
json_t	*mcp_spec_normalise(json_t *body, const char *fixed_name,
	    int *statusp, char *err, size_t errlen);
/* 1 if s is a valid server name: 1..MCP_NAME_MAX of [A-Za-z0-9_-]. */
int	 mcp_name_valid(const char *s);
/* The tool name agents see: mcp_<server>_<tool>, lowercased, '-' and
 * other characters outside [a-z0-9_] made '_'.  0, or -1 when it would
 * not fit out (outlen) or be longer than 64 bytes (provider limit). */
int	 mcp_tool_name(const char *server, const char *tool, char *out,
	    size_t outlen);

/* ---- the catalog (mcp/catalog.c) ------------------------------------- */

/* Parses the embedded templates (mcp/catalog/<id>.toml); 0 or -1. */
int	 mcp_catalog_init(void);
void	 mcp_catalog_fini(void);
/* Every template as parsed TOML (borrowed array, sorted by id). */
json_t	*mcp_catalog_all(void);
/* One template (borrowed) or NULL. */
json_t	*mcp_catalog_get(const char *id);
/* The API's view of a template: id, name, description, category, icon,
 * tags, transport, required_env, has_oauth, setup_instructions (new). */
json_t	*mcp_catalog_view(json_t *tmpl);

/* ---- the registry (mcp/registry.c) ----------------------------------- */

/* Starts the registry and its sync thread (its own database connection).
 * 0, or -1. */
int	 mcp_init(const struct sh_config *cfg);
/* Stops every server (children killed and reaped) and the sync thread;
 * the catalog stays until mcp_catalog_fini(), since operations still run
 * while the service drains. */
void	 mcp_fini(void);
/* Brings this replica's registry in line with the table, using db (the
 * caller's).  0, or -1 when the table could not be read. */
int	 mcp_sync(struct db *db);
/* Asks server name to reconnect now (its backoff reset).  0, or
 * SH_ENOTFOUND when this replica does not run it. */
int	 mcp_reconnect(const char *name);
/* Asks every server to reconnect; returns how many. */
int	 mcp_reconnect_all(void);
/* The names of the servers this replica runs (new array; NULL on
 * ENOMEM). */
json_t	*mcp_server_names(void);
/* The runtime view of server name (new object: status, connected,
 * tools, last_ok, last_error, consecutive_failures, restarts,
 * reconnecting, stderr_tail) or NULL when this replica does not run it. */
json_t	*mcp_state(const char *name);

/* ---- agents' tools --------------------------------------------------- */

/* 1 if name is an MCP tool name (mcp_...). */
int	 mcp_is_tool(const char *name);
/* The definitions {name, description, input_schema} of the MCP tools
 * this manifest may use, from servers that are ready (new array). */
json_t	*mcp_tool_defs(json_t *manifest);
/* Runs MCP tool name for an agent with this manifest (borrowed) and
 * mode; refusals, unknown tools and failures become error results.
 * Returns 0, or SH_ENOMEM with r->tr_content NULL.  May block for the
 * server's timeout. */
int	 mcp_tool_run(json_t *manifest, const char *mode, const char *name,
	    json_t *input, struct tool_result *r);

/* The module's operation table (mcp/ops.c), NULL-ended. */
extern const struct svc_op mcp_ops[];

#endif /* MCP_H */
