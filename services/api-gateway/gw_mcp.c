/*
 * gw_mcp.c - the MCP server: POST /mcp and POST /api/mcp, Streamable HTTP
 * as the MCP SDK's client and server expect it (spec/notes/protocols.md
 * 3.2, 3.3), translated into agent-runtime's tool operations.
 *
 * Stateless: no Mcp-Session-Id is ever issued (so none is required), no
 * server-to-client stream is offered (GET answers 405 from the route
 * table, DELETE too), and every request gets one application/json
 * response.  A client may POST tools/list without an initialize first.
 *
 * The edge, in order: Origin (DNS rebinding: 403 unless absent, a CORS
 * origin the gateway accepts, or the request's own host), Accept (406
 * unless JSON and SSE are both acceptable), MCP-Protocol-Version (400 for
 * a version we do not speak); then the body: one JSON-RPC message.
 * Malformed JSON is -32700 and anything that is not a request object
 * (a batch included: they left the protocol in 2025-06-18) is -32600,
 * both with HTTP 400, as the SDK's server answers them.  A notification
 * or a response gets 202 and no body.  A request gets 200 with its result
 * or its JSON-RPC error (-32601 unknown method, -32602 bad params or an
 * unknown tool, -32603 when agent-runtime fails).
 *
 * Methods: initialize (version negotiation: the client's version when we
 * speak it, else our latest), ping, tools/list (tools.list) and
 * tools/call (tools.invoke with params.via = "mcp").  The header
 * X-LibreFang-Agent-Id scopes both to that agent: the tools its manifest
 * and mode grant, run as that agent with the agent loop's checks.
 * Without it the list is every built-in tool and only those that need no
 * agent run (tool/invoke.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "gateway.h"
#include "ops.h"
#include "services.h"
#include "version.h"

#define MCP_LATEST		"2025-11-25"
#define MCP_ECHO_MAX		64	/* bytes of a method name shown */
#define MCP_AGENT_HEADER	"X-LibreFang-Agent-Id"

/* JSON-RPC 2.0 error codes (notes 3.2). */
#define JRPC_PARSE		-32700
#define JRPC_INVALID		-32600
#define JRPC_NO_METHOD		-32601
#define JRPC_BAD_PARAMS		-32602
#define JRPC_INTERNAL		-32603
#define JRPC_TRANSPORT		-32000	/* HTTP-level refusals (the SDK) */

/* The versions @modelcontextprotocol/sdk 1.32.2 speaks, newest first. */
static const char *const mcp_versions[] = {
	MCP_LATEST, "2025-06-18", "2025-03-26", "2024-11-05", "2024-10-07",
	NULL
};

static int
mcp_version_known(const char *v)
{
	int	i;

	for (i = 0; mcp_versions[i] != NULL; i++)
		if (strcmp(mcp_versions[i], v) == 0)
			return (1);
	return (0);
}

/* {"jsonrpc":"2.0","id":id,"error":{code,message}} (new); id borrowed,
 * NULL for null. */
static json_t *mcp_error(json_t *id, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

static json_t *
mcp_error(json_t *id, int code, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];
	json_t	*m;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The text may quote the client's bytes (a parse error's token):
	 * never let them make the answer itself fail. */
	if ((m = json_string(msg)) == NULL)
		m = json_string("invalid request");
	return (json_pack("{s:s, s:O, s:{s:i, s:o}}", "jsonrpc", "2.0", "id",
	    id != NULL ? id : json_null(), "error", "code", code, "message",
	    m));
}

/* The length of s cut to at most max bytes on a UTF-8 boundary. */
static int
mcp_cut(const char *s, size_t max)
{
	size_t	n = strlen(s);

	if (n <= max)
		return ((int)n);
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return ((int)max);
}

/* {"jsonrpc":"2.0","id":id,"result":result} (new); result stolen. */
static json_t *
mcp_result(json_t *id, json_t *result)
{
	if (result == NULL)
		return (NULL);
	return (json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id,
	    "result", result));
}

/* The request's id, kept for an answer that comes from the bus. */
static void
mcp_cleanup(struct gw_req *gr)
{
	json_decref(gr->gr_ctx);
	gr->gr_ctx = NULL;
}

/* 1 if the Accept list accepts type/sub ("*" matches either part;
 * parameters such as q are not weighed). */
static int
mcp_accepts_one(const char *accept, const char *type, const char *sub)
{
	const char	*p = accept, *e, *slash;
	size_t		 tl, sl;

	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			return (0);
		e = p + strcspn(p, ",; \t");
		slash = memchr(p, '/', (size_t)(e - p));
		if (slash != NULL) {
			tl = (size_t)(slash - p);
			sl = (size_t)(e - slash - 1);
			if (((tl == 1 && *p == '*') || (tl == strlen(type) &&
			    strncasecmp(p, type, tl) == 0)) &&
			    ((sl == 1 && slash[1] == '*') ||
			    (sl == strlen(sub) &&
			    strncasecmp(slash + 1, sub, sl) == 0)))
				return (1);
		}
		p = e + strcspn(e, ",");
	}
}

/*
 * The Origin check of the Streamable HTTP transport: a browser page on
 * another site must not reach a local server through DNS rebinding.  No
 * Origin (not a browser), an origin the gateway's CORS policy accepts, or
 * the server's own origin (http[s]://<Host>) pass.
 */
static int
mcp_origin_ok(struct gw_req *gr)
{
	if (MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    "Origin") == NULL || gw_cors_origin(gr->gr_mhd) != NULL)
		return (1);
	return (gw_same_origin(gr));
}

/* ---- answers from agent-runtime (nng threads) ------------------------ */

/* The runtime's error text, or a default. */
static const char *
mcp_rep_error(struct msg_rep *rep, const char *def)
{
	const char	*s;

	s = json_string_value(json_object_get(msg_rep_body(rep), "error"));
	return (s != NULL ? s : def);
}

static void
mcp_list_done(struct gw_req *gr, int err, struct msg_rep *rep)
{
	json_t		*id = gr->gr_ctx, *tools, *out = NULL, *t, *o;
	size_t		 i;

	if (err != 0) {
		gw_reply_json(gr, 200, mcp_error(id, JRPC_INTERNAL, "service "
		    "'%s' %s", SVC_AGENT_RUNTIME, err == SH_ETIMEDOUT ?
		    "did not answer in time" : "unavailable"));
		return;
	}
	tools = json_object_get(msg_rep_body(rep), "tools");
	if (rep->mp_status == 200 && json_is_array(tools) &&
	    (out = json_array()) != NULL) {
		json_array_foreach(tools, i, t) {
			o = json_pack("{s:O, s:O, s:O}", "name",
			    json_object_get(t, "name"), "description",
			    json_object_get(t, "description"), "inputSchema",
			    json_object_get(t, "input_schema"));
			if (o == NULL || json_array_append_new(out, o) != 0) {
				json_decref(out);
				out = NULL;
				break;
			}
		}
		gw_reply_json(gr, 200, mcp_result(id, out != NULL ?
		    json_pack("{s:o}", "tools", out) : NULL));
	} else if (rep->mp_status == 400 || rep->mp_status == 404)
		gw_reply_json(gr, 200, mcp_error(id, JRPC_BAD_PARAMS, "%s",
		    mcp_rep_error(rep, "invalid params")));
	else
		gw_reply_json(gr, 200, mcp_error(id, JRPC_INTERNAL, "%s",
		    mcp_rep_error(rep, "internal error")));
	msg_rep_release(rep);
}

static void
mcp_call_done(struct gw_req *gr, int err, struct msg_rep *rep)
{
	json_t		*id = gr->gr_ctx, *body, *res;
	const char	*text;

	if (err != 0) {
		gw_reply_json(gr, 200, mcp_error(id, JRPC_INTERNAL, "service "
		    "'%s' %s", SVC_AGENT_RUNTIME, err == SH_ETIMEDOUT ?
		    "did not answer in time" : "unavailable"));
		return;
	}
	body = msg_rep_body(rep);
	text = json_string_value(json_object_get(body, "content"));
	if (rep->mp_status == 200 && text != NULL &&
	    json_is_boolean(json_object_get(body, "is_error"))) {
		/* A tool that ran (or was refused) is a result; its failure
		 * is isError, for the model on the other side to read. */
		res = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type",
		    "text", "text", text, "isError",
		    json_is_true(json_object_get(body, "is_error")));
		gw_reply_json(gr, 200, mcp_result(id, res));
	} else if (rep->mp_status == 400 || rep->mp_status == 404)
		gw_reply_json(gr, 200, mcp_error(id, JRPC_BAD_PARAMS, "%s",
		    mcp_rep_error(rep, "invalid params")));
	else
		gw_reply_json(gr, 200, mcp_error(id, JRPC_INTERNAL, "%s",
		    mcp_rep_error(rep, "internal error")));
	msg_rep_release(rep);
}

/* ---- methods --------------------------------------------------------- */

static json_t *
mcp_initialize(json_t *id, json_t *params)
{
	const char	*v;

	v = json_string_value(json_object_get(params, "protocolVersion"));
	if (v == NULL)
		return (mcp_error(id, JRPC_BAD_PARAMS, "Invalid params: "
		    "'protocolVersion' must be a string"));
	/* Negotiation: the client's version when we speak it, else our
	 * latest, which the client then accepts or disconnects. */
	if (!mcp_version_known(v))
		v = MCP_LATEST;
	return (mcp_result(id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, "
	    "s:s}, s:s}", "protocolVersion", v, "capabilities", "tools",
	    "listChanged", 0, "serverInfo", "name", LIBREFANG_NAME, "title",
	    "LibreFang", "version", LIBREFANG_VERSION, "instructions",
	    "LibreFang's built-in tools. Send X-LibreFang-Agent-Id to list "
	    "and run the tools of one agent, as that agent.")));
}

/* query {agent_id} from the header, or an empty object (new). */
static json_t *
mcp_agent_query(struct gw_req *gr)
{
	const char	*a;

	a = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MCP_AGENT_HEADER);
	if (a == NULL)
		return (json_object());
	return (json_pack("{s:s}", "agent_id", a));
}

/* Starts a bus call answered by done; keeps id for it.  GW_ASYNC, or 0
 * with a reply. */
static int
mcp_call(struct gw_req *gr, json_t *id, const char *op, json_t *params,
    json_t *body, void (*done)(struct gw_req *, int, struct msg_rep *))
{
	json_t	*query = mcp_agent_query(gr);

	if (params == NULL || query == NULL) {
		json_decref(params);
		json_decref(query);
		json_decref(body);
		/* A header that is not UTF-8 cannot be packed. */
		gw_reply_json(gr, 200, mcp_error(id, JRPC_BAD_PARAMS,
		    "Invalid params: could not read the request (is the "
		    "%s header UTF-8?)", MCP_AGENT_HEADER));
		return (0);
	}
	gr->gr_ctx = json_incref(id);
	gr->gr_cleanup = mcp_cleanup;
	return (gw_call(gr, SVC_AGENT_RUNTIME, op, params, query, body, done));
}

static int
mcp_tools_call(struct gw_req *gr, json_t *id, json_t *params)
{
	json_t		*args = json_object_get(params, "arguments");
	const char	*name;

	name = json_string_value(json_object_get(params, "name"));
	if (name == NULL || *name == '\0') {
		gw_reply_json(gr, 200, mcp_error(id, JRPC_BAD_PARAMS,
		    "Invalid params: 'name' must be a non-empty string"));
		return (0);
	}
	if (args != NULL && !json_is_object(args)) {
		gw_reply_json(gr, 200, mcp_error(id, JRPC_BAD_PARAMS,
		    "Invalid params: 'arguments' must be an object"));
		return (0);
	}
	return (mcp_call(gr, id, OP_TOOLS_INVOKE, json_pack("{s:s, s:s}",
	    PARAM_NAME, name, PARAM_VIA, "mcp"), args != NULL ?
	    json_incref(args) : json_object(), mcp_call_done));
}

/* One JSON-RPC request object (msg borrowed).  GW_ASYNC or 0. */
static int
mcp_request(struct gw_req *gr, json_t *msg)
{
	json_t		*id = json_object_get(msg, "id");
	json_t		*params = json_object_get(msg, "params");
	json_t		*method = json_object_get(msg, "method");
	const char	*m;

	if (id != NULL && !json_is_string(id) && !json_is_integer(id)) {
		gw_reply_json(gr, 400, mcp_error(NULL, JRPC_INVALID, "Invalid "
		    "Request: 'id' must be a string or an integer"));
		return (0);
	}
	if (!json_is_string(json_object_get(msg, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(msg, "jsonrpc")),
	    "2.0") != 0) {
		gw_reply_json(gr, 400, mcp_error(id, JRPC_INVALID, "Invalid "
		    "Request: 'jsonrpc' must be \"2.0\""));
		return (0);
	}
	if (method == NULL && id != NULL &&
	    (json_object_get(msg, "result") != NULL ||
	    json_object_get(msg, "error") != NULL)) {
		/* A response: we never ask, so nothing waits for it. */
		gw_reply_data(gr, 202, NULL, "", 0);
		return (0);
	}
	if ((m = json_string_value(method)) == NULL) {
		gw_reply_json(gr, 400, mcp_error(id, JRPC_INVALID, "Invalid "
		    "Request: 'method' must be a string"));
		return (0);
	}
	if (id == NULL) {
		/* A notification (notifications/initialized, cancelled,
		 * ...): accepted, and none needs an action here. */
		gw_reply_data(gr, 202, NULL, "", 0);
		return (0);
	}
	if (params != NULL && !json_is_object(params)) {
		gw_reply_json(gr, 200, mcp_error(id, JRPC_BAD_PARAMS, "Invalid "
		    "params: 'params' must be an object"));
		return (0);
	}
	if (strcmp(m, "initialize") == 0)
		gw_reply_json(gr, 200, mcp_initialize(id, params));
	else if (strcmp(m, "ping") == 0)
		gw_reply_json(gr, 200, mcp_result(id, json_object()));
	else if (strcmp(m, "tools/list") == 0)
		/* One page holds every tool: a cursor changes nothing. */
		return (mcp_call(gr, id, OP_TOOLS_LIST, json_object(), NULL,
		    mcp_list_done));
	else if (strcmp(m, "tools/call") == 0)
		return (mcp_tools_call(gr, id, params));
	else
		gw_reply_json(gr, 200, mcp_error(id, JRPC_NO_METHOD, "Method "
		    "not found: %.*s", mcp_cut(m, MCP_ECHO_MAX), m));
	return (0);
}

int
gw_mcp(struct gw_req *gr)
{
	const char	*accept, *ver;
	json_error_t	 je;
	json_t		*msg;
	int		 rv;

	if (!mcp_origin_ok(gr)) {
		gw_reply_json(gr, 403, mcp_error(NULL, JRPC_TRANSPORT,
		    "Forbidden: invalid Origin header"));
		return (0);
	}
	accept = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT);
	if (accept == NULL ||
	    !mcp_accepts_one(accept, "application", "json") ||
	    !mcp_accepts_one(accept, "text", "event-stream")) {
		gw_reply_json(gr, 406, mcp_error(NULL, JRPC_TRANSPORT, "Not "
		    "Acceptable: Client must accept both application/json and "
		    "text/event-stream"));
		return (0);
	}
	ver = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    "MCP-Protocol-Version");
	if (ver != NULL && !mcp_version_known(ver)) {
		gw_reply_json(gr, 400, mcp_error(NULL, JRPC_TRANSPORT, "Bad "
		    "Request: Unsupported protocol version (supported "
		    "versions: %s, 2025-06-18, 2025-03-26, 2024-11-05, "
		    "2024-10-07)", MCP_LATEST));
		return (0);
	}
	if (gr->gr_body.b_len == 0) {
		gw_reply_json(gr, 400, mcp_error(NULL, JRPC_PARSE, "Parse "
		    "error: the body is empty"));
		return (0);
	}
	if (gw_json_too_deep(gr->gr_body.b_data, gr->gr_body.b_len,
	    GW_MAX_JSON_DEPTH)) {
		gw_reply_json(gr, 400, mcp_error(NULL, JRPC_PARSE, "Parse "
		    "error: nested deeper than %d levels", GW_MAX_JSON_DEPTH));
		return (0);
	}
	if ((msg = json_loadb(gr->gr_body.b_data, gr->gr_body.b_len,
	    JSON_DECODE_ANY, &je)) == NULL) {
		gw_reply_json(gr, 400, mcp_error(NULL, JRPC_PARSE, "Parse "
		    "error: %s at line %d column %d", je.text, je.line,
		    je.column));
		return (0);
	}
	buf_release(&gr->gr_body);
	if (json_is_array(msg))
		/* Batches were in 2025-03-26 only; one request per POST
		 * keeps a client from fanning one request out into many. */
		gw_reply_json(gr, 400, mcp_error(NULL, JRPC_INVALID, "Invalid "
		    "Request: batches are not supported; send one JSON-RPC "
		    "message per request"));
	else if (!json_is_object(msg))
		gw_reply_json(gr, 400, mcp_error(NULL, JRPC_INVALID, "Invalid "
		    "Request: a JSON-RPC message is an object"));
	else {
		rv = mcp_request(gr, msg);
		json_decref(msg);
		return (rv);
	}
	json_decref(msg);
	return (0);
}
