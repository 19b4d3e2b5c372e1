/*
 * tool/invoke.c - a built-in tool run outside the agent loop: tools.invoke
 * for POST /api/tools/{name}/invoke (gated by [tool_invoke]) and for the
 * gateway's MCP server (params.via = "mcp"), and tools.list scoped to one
 * agent (the MCP server's tools/list with X-LibreFang-Agent-Id).
 *
 * A call names its agent with query.agent_id and then runs with exactly
 * the checks the agent loop applies to a model's call (turn/machine.c,
 * turn_tools): tools_disabled, the manifest's grants (tool_granted():
 * shell_exec only when granted explicitly, exec_policy), the agent's mode
 * (tool_mode_allows()), its own workspace and memory namespace.  Without
 * an agent only the tools that need none run (tool_agentless(): web_fetch,
 * agent_list), under an empty manifest; the rest answer that they need an
 * agent.  So no way in runs a tool no agent could run in a turn.
 *
 * tool_run() may block for minutes (shell_exec, agent_send's sub-turn, a
 * slow fetch), and agent_list calls this very service over the bus: a call
 * never runs on a bus worker.  The request is deferred (svc_defer) and the
 * call runs on a detached thread of its own, at most TOOL_INVOKE_MAX at
 * once; at shutdown the running ones are interrupted and waited for.
 * Not a libshared pool (pool.h): a pool's close runs and waits for every
 * job, while a tool call that ignores the interrupt is given up after
 * TOOL_INVOKE_DRAIN_MS so that it cannot hold the shutdown; and these
 * calls need no database connection nor idle threads between them.
 */
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "audit.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "svc.h"
#include "tool/tool.h"
#include "util.h"

#define TOOL_INVOKE_MAX		16	/* calls running at once */
#define TOOL_INVOKE_DRAIN_MS	10000	/* shutdown: wait for them */
#define TOOL_INVOKE_ECHO_MAX	64	/* bytes of a name echoed back */

/* One call, owned by its thread from pthread_create() on. */
struct tool_call {
	struct svc_pending	*tl_pending;
	const struct sh_config	*tl_cfg;
	struct bus_client	*tl_bus;
	char			*tl_name;
	json_t			*tl_input;	/* object */
	json_t			*tl_row;	/* the agent, or NULL */
	json_t			*tl_manifest;	/* its manifest or {} */
	int			 tl_mcp;	/* params.via = "mcp" */
};

static atomic_int	tool_inflight;
/* Set at shutdown: every running call sees it as its turn's interrupt. */
static atomic_int	tool_stopping;

/* name, when it is short printable ASCII, else NULL (never echoed). */
static const char *
tool_name_shown(const char *name)
{
	size_t	i;

	for (i = 0; name[i] != '\0'; i++)
		if (i >= TOOL_INVOKE_ECHO_MAX ||
		    !isprint((unsigned char)name[i]))
			return (NULL);
	return (name);
}

int
tool_invoke_permits(const struct sh_config *cfg, const char *name)
{
	json_t	*sec = json_object_get(cfg->cf_doc, "tool_invoke");

	/* Fail closed: a missing or mistyped enabled is off. */
	if (!json_is_true(json_object_get(sec, "enabled")))
		return (1);
	if (!tool_glob_any(json_object_get(sec, "allowlist"), name))
		return (2);
	return (0);
}

/* query.agent_id, lowercased into id: 1 when given, 0 when absent, -1
 * after a 400. */
static int
tool_query_agent(const struct msg_req *rq, struct svc_reply *rp,
    char id[UTIL_UUID_LEN])
{
	json_t		*v = json_object_get(rq->mr_query, "agent_id");
	const char	*s = json_string_value(v);
	size_t		 i;

	if (v == NULL)
		return (0);
	if (s == NULL || !util_uuid_valid(s)) {
		svc_reply_error(rp, 400, "Invalid agent ID");
		return (-1);
	}
	for (i = 0; i < UTIL_UUID_LEN - 1; i++)
		id[i] = (char)tolower((unsigned char)s[i]);
	id[UTIL_UUID_LEN - 1] = '\0';
	return (1);
}

/*
 * The agent loop's check of one call by this agent (turn_tools), and a
 * suspended agent, which runs no turn at all (turn/ops.c), runs nothing.
 */
static int
tool_agent_may(json_t *row, const char *name)
{
	json_t		*m = json_object_get(row, "manifest");
	const char	*mode, *state;

	mode = json_string_value(json_object_get(row, "mode"));
	state = json_string_value(json_object_get(row, "state"));
	return (!(state != NULL && strcmp(state, "suspended") == 0) &&
	    !json_is_true(json_object_get(m, "tools_disabled")) &&
	    tool_granted(m, name) && tool_mode_allows(mode ? mode : "full",
	    name));
}

void
tool_op_list_agent(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	json_t		*row, *defs, *out = NULL, *d;
	const char	*name;
	size_t		 i;

	if (tool_query_agent(rq, rp, id) != 1 ||
	    (row = agent_fetch(c, id, 0, rp)) == NULL)
		return;
	if ((defs = tool_defs()) != NULL && (out = json_array()) != NULL) {
		json_array_foreach(defs, i, d) {
			name = json_string_value(json_object_get(d, "name"));
			if (name != NULL && tool_agent_may(row, name) &&
			    json_array_append(out, d) != 0) {
				json_decref(out);
				out = NULL;
				break;
			}
		}
	}
	json_decref(defs);
	json_decref(row);
	if (out == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:I, s:o}", "total",
	    (json_int_t)json_array_size(out), "tools", out));
}

/*
 * A call refused before it runs.  The MCP server gets it as a tool result
 * with is_error (notes 3.2: a failure of the call, not of the protocol),
 * a REST client as an HTTP error.
 */
static void
tool_refuse(struct svc_reply *rp, int mcp, int status, const char *name,
    const char *msg)
{
	if (mcp)
		svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:s, s:b, s:s}",
		    "tool_use_id", "mcp", "tool_name", name, "content", msg,
		    "is_error", 1, "status", "denied"));
	else
		svc_reply_error(rp, status, "%s", msg);
}

static void
tool_call_free(struct tool_call *tl)
{
	if (tl == NULL)
		return;
	free(tl->tl_name);
	json_decref(tl->tl_input);
	json_decref(tl->tl_row);
	json_decref(tl->tl_manifest);
	free(tl);
}

/* The call's thread: run, answer, free. */
static void *
tool_call_main(void *arg)
{
	struct tool_call	*tl = arg;
	struct tool_ctx		 tc;
	struct tool_result	 r;
	json_t			*notices, *body = NULL;
	const char		*aname;
	char			 ws[PATH_MAX];
	int			 status = 500;

	memset(&tc, 0, sizeof(tc));
	memset(&r, 0, sizeof(r));
	notices = json_array();
	tc.tc_cfg = tl->tl_cfg;
	tc.tc_bus = tl->tl_bus;
	tc.tc_manifest = tl->tl_manifest;
	tc.tc_notices = notices;
	tc.tc_interrupted = &tool_stopping;
	if (tl->tl_row != NULL) {
		aname = json_string_value(json_object_get(tl->tl_row, "name"));
		tc.tc_agent_id = json_string_value(json_object_get(tl->tl_row,
		    "id"));
		tc.tc_agent_name = aname;
		tc.tc_session_id = json_string_value(json_object_get(
		    tl->tl_row, "session_id"));
		if (aname != NULL && tool_workspace(tl->tl_cfg, aname, ws,
		    sizeof(ws)) == 0)
			tc.tc_workspace = ws;
	}
	if (tl->tl_row != NULL && tc.tc_workspace == NULL) {
		if (tool_result_set(&r, 1, 0, "The agent's workspace is not "
		    "available") != 0)
			goto done;
	} else if (tool_run(&tc, tl->tl_name, tl->tl_input, &r) != 0)
		goto done;
	body = json_pack("{s:s, s:s, s:s, s:b, s:s}", "tool_use_id",
	    tl->tl_mcp ? "mcp" : "rest-api", "tool_name", tl->tl_name,
	    "content", r.tr_content, "is_error", r.tr_is_error, "status",
	    r.tr_is_error ? "error" : "completed");
	if (body != NULL && json_array_size(notices) > 0)
		json_object_set(body, "owner_notice",
		    json_array_get(notices, 0));
	/* As upstream: a tool that failed is a 400 for a REST client; the
	 * MCP server turns either into a result. */
	status = tl->tl_mcp || !r.tr_is_error ? 200 : 400;
	log_info("%s: '%s' for %s%s: %s", __func__, tl->tl_name,
	    tl->tl_mcp ? "the MCP server" : "a REST client",
	    tc.tc_agent_id != NULL ? " as an agent" : "",
	    r.tr_is_error ? "error" : "ok");
 done:
	tool_result_release(&r);
	json_decref(notices);
	(void)svc_pending_reply(tl->tl_pending, status, body);
	tool_call_free(tl);
	atomic_fetch_sub(&tool_inflight, 1);
	return (NULL);
}

void
tool_op_invoke(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct agent_state	*as = c->sc_arg;
	struct tool_call	*tl = NULL;
	pthread_attr_t		 attr;
	pthread_t		 th;
	const char		*name, *shown;
	char			 id[UTIL_UUID_LEN], msg[256];
	json_t			*input = rq->mr_body, *row = NULL;
	int			 mcp, has_agent, p, counted = 0;

	if ((name = svc_param_name(rq, rp)) == NULL)
		return;
	shown = tool_name_shown(name);
	mcp = strcmp(json_string_value(json_object_get(rq->mr_params,
	    PARAM_VIA)) ?: "", "mcp") == 0;
	if (atomic_load(&tool_stopping)) {
		svc_reply_error(rp, 503, "agent-runtime is shutting down");
		return;
	}
	/* The allowlist first, as upstream: a caller it refuses learns
	 * nothing, not even whether the tool exists. */
	if (!mcp && (p = tool_invoke_permits(c->sc_cfg, name)) != 0) {
		if (p == 1)
			svc_reply_error(rp, 403, "Direct tool invocation is "
			    "disabled. Set '[tool_invoke] enabled = true' and "
			    "add the tool name to 'allowlist'.");
		else if (shown != NULL)
			svc_reply_error(rp, 403, "Tool '%s' is not in "
			    "'[tool_invoke] allowlist'", shown);
		else
			svc_reply_error(rp, 403, "This tool is not in "
			    "'[tool_invoke] allowlist'");
		return;
	}
	if (!tool_known(name)) {
		svc_reply_not_found(rp, "Tool", name);
		return;
	}
	if (json_is_null(input))
		input = NULL;		/* no body: no arguments */
	else if (!json_is_object(input)) {
		svc_reply_error(rp, 400, "the tool's input must be a JSON "
		    "object");
		return;
	}
	if ((has_agent = tool_query_agent(rq, rp, id)) < 0)
		return;
	if (has_agent && (row = agent_fetch(c, id, 0, rp)) == NULL)
		return;
	if (row != NULL && !tool_agent_may(row, name)) {
		snprintf(msg, sizeof(msg), "Permission denied: agent does not "
		    "have capability to use tool '%s'", name);
		(void)audit_record(c->sc_db, AUDIT_PERMISSION_DENIED, id, msg,
		    "denied");
		tool_refuse(rp, mcp, 403, name, msg);
		goto done;
	}
	if (row == NULL && !tool_agentless(name)) {
		snprintf(msg, sizeof(msg), "Tool '%s' runs as an agent: %s",
		    name, mcp ? "send the X-LibreFang-Agent-Id header with "
		    "the agent's id" : "pass ?agent_id=<the agent's id>");
		tool_refuse(rp, mcp, 400, name, msg);
		goto done;
	}
	/* Counted before stopping is read again: tool_invoke_shutdown()
	 * sets stopping, then waits for the count, so a call either sees
	 * stopping or is waited for. */
	counted = 1;
	if (atomic_fetch_add(&tool_inflight, 1) >= TOOL_INVOKE_MAX) {
		svc_reply_error(rp, 503, "too many tool calls running; try "
		    "again later");
		goto done;
	}
	if (atomic_load(&tool_stopping)) {
		svc_reply_error(rp, 503, "agent-runtime is shutting down");
		goto done;
	}
	/* Recorded before it runs, durably (the call's thread has no
	 * database): the entry says the call was made, not how it ended. */
	snprintf(msg, sizeof(msg), "direct invocation of tool '%.128s' "
	    "via %s", name, mcp ? "MCP" : "REST");
	if (audit_record(c->sc_db, AUDIT_TOOL_INVOKE, has_agent ? id : NULL,
	    msg, "invoked") != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if ((tl = calloc(1, sizeof(*tl))) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	tl->tl_row = row;
	row = NULL;
	if ((tl->tl_name = strdup(name)) == NULL ||
	    (tl->tl_input = input != NULL ? json_deep_copy(input) :
	    json_object()) == NULL ||
	    (tl->tl_manifest = tl->tl_row != NULL ? json_incref(
	    json_object_get(tl->tl_row, "manifest")) : json_object()) ==
	    NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	tl->tl_cfg = c->sc_cfg;
	tl->tl_bus = as != NULL ? as->as_bus : NULL;
	tl->tl_mcp = mcp;
	if ((tl->tl_pending = svc_defer(rq, rp)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, tool_call_main, tl) != 0) {
		log_warnx("%s: could not start a thread for '%s'", __func__,
		    tl->tl_name);
		(void)svc_pending_reply(tl->tl_pending, 503,
		    msg_error_body("could not start the tool call"));
	} else {
		tl = NULL;		/* the thread owns it */
		counted = 0;		/* and gives the slot back */
	}
	pthread_attr_destroy(&attr);
 done:
	tool_call_free(tl);
	json_decref(row);
	if (counted)
		atomic_fetch_sub(&tool_inflight, 1);
}

void
tool_invoke_shutdown(void)
{
	uint64_t	deadline = util_now_ms() + TOOL_INVOKE_DRAIN_MS;
	int		n;

	atomic_store(&tool_stopping, 1);
	while ((n = atomic_load(&tool_inflight)) > 0 &&
	    util_now_ms() < deadline)
		util_sleep_ms(20);
	if (n > 0)
		log_warnx("%s: %d tool calls still running", __func__, n);
}
