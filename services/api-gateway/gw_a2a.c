/*
 * gw_a2a.c - the A2A protocol edge (notes/protocols.md 4): the agent
 * card, the JSON-RPC endpoint and the reference's REST routes, each
 * translated to agent-runtime's a2a.* operations (a2a/a2a.h there), whose
 * replies are neutral task objects rendered here in the caller's dialect.
 *
 *	GET  /.well-known/agent.json	   the card, A2A v0.3 (a top-level url,
 *					   protocolVersion 0.3.0): a superset
 *					   of the reference's card
 *	GET  /.well-known/agent-card.json  the card, A2A v1.0
 *					   (supportedInterfaces), what
 *					   current clients fetch
 *	GET  /a2a/agents		   the local agents
 *	POST /a2a			   JSON-RPC 2.0: message/send,
 *					   tasks/get, tasks/cancel (v0.3),
 *					   SendMessage, GetTask, CancelTask,
 *					   ListTasks (v1.0, protobuf JSON;
 *					   pageToken is an offset), tasks/send
 *					   (the reference's pre-0.2 dialect);
 *					   message/stream and
 *					   SendStreamingMessage as the turn runs;
 *					   tasks/resubscribe, SubscribeToTask
 *					   as a stream of one event
 *	POST /a2a/tasks/send, GET /a2a/tasks/{id},
 *	POST /a2a/tasks/{id}/cancel	   the reference's REST shapes
 *
 * One endpoint serves every dialect: the method name says which.  A
 * JSON-RPC error is an HTTP 200 carrying {"error": {code, message}}, as
 * the SDK clients expect; only the REST routes use HTTP statuses.
 *
 * A streaming send is a2a.tasks.send as a streamed turn (gw_turns.c:
 * the runtime passes the caller's stream on to the task's agents.message)
 * with a task id and context id the gateway chose, so that its events
 * are server-sent as the A2A spec has them, each a JSON-RPC response of
 * the request's id: v0.3 the Task (working), {kind: "artifact-update",
 * taskId, contextId, artifact: {artifactId: "<task>-out", name, parts},
 * append, lastChunk} per text delta, and {kind: "status-update", taskId,
 * contextId, status: {state, timestamp, message?}, final: true} last;
 * v1.0 the same as {task}, {artifactUpdate}, {statusUpdate} in protobuf
 * JSON (no "final": the stream's end says it).  A failed turn, a bus
 * failure or gateway shutdown end it with a failed status and its
 * message.  An error before anything went out (a bad agent) is a plain
 * JSON-RPC error.  Keep-alives, a client that leaves and shutdown are
 * handled as for every stream (gw_sse.c).  Resubscribing to a task is
 * still answered with the task as it is, as one event: attaching to a
 * turn another request started is not done.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "gateway.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "version.h"

/* JSON-RPC 2.0 and A2A error codes. */
#define RPC_PARSE		-32700
#define RPC_INVALID_REQUEST	-32600
#define RPC_NO_METHOD		-32601
#define RPC_INVALID_PARAMS	-32602
#define RPC_INTERNAL		-32603
#define A2A_TASK_NOT_FOUND	-32001
#define A2A_NOT_CANCELABLE	-32002
#define A2A_NO_PUSH		-32003
#define A2A_UNSUPPORTED		-32004
#define A2A_CONTENT_TYPE	-32005
#define A2A_NO_EXTENDED_CARD	-32007

#define GW_A2A_HOST_MAX		255

enum a2a_dialect {
	DIALECT_REST = 0,	/* POST /a2a/tasks/send and friends */
	DIALECT_V01,		/* JSON-RPC tasks/send (the reference) */
	DIALECT_V03,		/* message/send */
	DIALECT_V10		/* SendMessage */
};

enum a2a_verb {
	VERB_SEND = 0,
	VERB_GET,
	VERB_CANCEL,
	VERB_LIST,		/* ListTasks */
	VERB_SEND_STREAM,	/* VERB_SEND answered as server-sent events */
	VERB_GET_STREAM,	/* VERB_GET, the same */
	VERB_UNSUPPORTED,	/* answered -32004 */
	VERB_PUSH,		/* -32003 */
	VERB_EXTENDED		/* -32007 */
};

static const struct a2a_method {
	const char		*m_name;
	enum a2a_dialect	 m_dialect;
	enum a2a_verb		 m_verb;
} a2a_methods[] = {
	{ "message/send", DIALECT_V03, VERB_SEND },
	{ "tasks/get", DIALECT_V03, VERB_GET },
	{ "tasks/cancel", DIALECT_V03, VERB_CANCEL },
	{ "message/stream", DIALECT_V03, VERB_SEND_STREAM },
	{ "tasks/resubscribe", DIALECT_V03, VERB_GET_STREAM },
	{ "tasks/pushNotificationConfig/set", DIALECT_V03, VERB_PUSH },
	{ "tasks/pushNotificationConfig/get", DIALECT_V03, VERB_PUSH },
	{ "tasks/pushNotificationConfig/list", DIALECT_V03, VERB_PUSH },
	{ "tasks/pushNotificationConfig/delete", DIALECT_V03, VERB_PUSH },
	{ "agent/getAuthenticatedExtendedCard", DIALECT_V03, VERB_EXTENDED },
	{ "tasks/send", DIALECT_V01, VERB_SEND },
	{ "SendMessage", DIALECT_V10, VERB_SEND },
	{ "GetTask", DIALECT_V10, VERB_GET },
	{ "CancelTask", DIALECT_V10, VERB_CANCEL },
	{ "SendStreamingMessage", DIALECT_V10, VERB_SEND_STREAM },
	{ "SubscribeToTask", DIALECT_V10, VERB_GET_STREAM },
	{ "ListTasks", DIALECT_V10, VERB_LIST },
	{ "CreateTaskPushNotificationConfig", DIALECT_V10, VERB_PUSH },
	{ "GetTaskPushNotificationConfig", DIALECT_V10, VERB_PUSH },
	{ "ListTaskPushNotificationConfigs", DIALECT_V10, VERB_PUSH },
	{ "DeleteTaskPushNotificationConfig", DIALECT_V10, VERB_PUSH },
	{ "GetExtendedAgentCard", DIALECT_V10, VERB_EXTENDED },
	{ NULL, 0, 0 }
};

/* What a request's bus reply is rendered with (gr_ctx). */
struct gw_a2a {
	enum a2a_dialect	 a_dialect;
	enum a2a_verb		 a_verb;
	json_t			*a_id;		/* the JSON-RPC id */
	int			 a_stream;	/* answer as an SSE stream */
	long long		 a_history;	/* historyLength, -1: all */
	int			 a_artifacts;	/* ListTasks: includeArtifacts */
	int			 a_v1card;	/* the card: v1.0 */
	char			 a_base[GW_A2A_HOST_MAX + 16];

	/* a streamed send; a_sse's mutex guards a_chunks */
	int			 a_sse_on;	/* a_sse initialised */
	struct gw_sse		 a_sse;
	struct gw_turn		*a_turn;
	json_t			*a_task;	/* {id, context_id} */
	int			 a_chunks;	/* artifact updates sent */
};

static void
gw_a2a_cleanup(struct gw_req *gr)
{
	struct gw_a2a	*a = gr->gr_ctx;

	if (a == NULL)
		return;
	gr->gr_ctx = NULL;
	if (a->a_sse_on) {
		gw_sse_close(&a->a_sse);	/* and off the registry */
		gw_turn_free(a->a_turn);	/* no callback after this */
		gw_sse_release(&a->a_sse);
	}
	json_decref(a->a_task);
	json_decref(a->a_id);
	free(a);
}

static struct gw_a2a *
gw_a2a_new(struct gw_req *gr)
{
	struct gw_a2a	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return (NULL);
	a->a_history = -1;
	gr->gr_ctx = a;
	gr->gr_cleanup = gw_a2a_cleanup;
	return (a);
}

/*
 * The URL clients reach us at: http://<Host> when the Host header is a
 * plain host[:port] (HTTP/1.1 requires one), else http://localhost.  It
 * only shapes what the same client reads.
 */
static void
gw_a2a_base(struct gw_req *gr, char *out, size_t outlen)
{
	const char	*h, *p;

	h = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	if (h != NULL && *h != '\0' && strlen(h) <= GW_A2A_HOST_MAX) {
		for (p = h; *p != '\0'; p++)
			if (!isalnum((unsigned char)*p) && strchr(".-:[]_",
			    *p) == NULL)
				break;
		if (*p == '\0') {
			snprintf(out, outlen, "http://%s", h);
			return;
		}
	}
	snprintf(out, outlen, "http://localhost");
}

/* ---- rendering ---------------------------------------------------------- */

static const char *
str_of(json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

/* "input-required" -> "TASK_STATE_INPUT_REQUIRED" */
static json_t *
state_v10(const char *s)
{
	char	 out[64];
	size_t	 i, j;

	j = (size_t)snprintf(out, sizeof(out), "TASK_STATE_");
	for (i = 0; s != NULL && s[i] != '\0' && j + 1 < sizeof(out); i++)
		out[j++] = s[i] == '-' ? '_' : (char)toupper(
		    (unsigned char)s[i]);
	out[j] = '\0';
	if (s == NULL || strcmp(s, "unknown") == 0)
		return (json_string("TASK_STATE_UNSPECIFIED"));
	return (json_string(out));
}

/* One text part in dialect d. */
static json_t *
text_part(enum a2a_dialect d, const char *text)
{
	switch (d) {
	case DIALECT_V10:
	case DIALECT_REST:
		return (json_pack("{s:s}", "text", text));
	case DIALECT_V01:
		return (json_pack("{s:s, s:s, s:s}", "type", "text", "kind",
		    "text", "text", text));
	case DIALECT_V03:
	default:
		return (json_pack("{s:s, s:s}", "kind", "text", "text", text));
	}
}

/* A message of role ("user" or "agent") in dialect d (new). */
static json_t *
message(enum a2a_dialect d, const char *role, const char *mid,
    const char *text, json_t *task)
{
	json_t	*m;

	m = json_pack("{s:s, s:s, s:[o]}", "messageId", mid,
	    "role", d == DIALECT_V10 ? (strcmp(role, "user") == 0 ?
	    "ROLE_USER" : "ROLE_AGENT") : role,
	    "parts", text_part(d, text));
	if (m == NULL)
		return (NULL);
	if (d == DIALECT_V03 || d == DIALECT_V01)
		json_object_set_new(m, "kind", json_string("message"));
	if (task != NULL) {
		json_object_set(m, "contextId", json_object_get(task,
		    "context_id"));
		json_object_set(m, "taskId", json_object_get(task, "id"));
	}
	return (m);
}

/* A neutral task (borrowed) as an A2A Task of dialect d (new). */
static json_t *
render_task(enum a2a_dialect d, json_t *t, long long history)
{
	json_t		*out, *status, *hist, *arts, *in, *um, *am;
	const char	*id = str_of(t, "id"), *state = str_of(t, "state");
	const char	*resp = str_of(t, "response");
	const char	*err = str_of(t, "error");
	const char	*ts;
	char		 mid[UTIL_UUID_LEN + 8];
	size_t		 n;

	ts = str_of(t, "updated_at");
	status = json_pack("{s:o, s:s?}", "state", d == DIALECT_V10 ?
	    state_v10(state) : json_string(state), "timestamp", ts);
	if (status != NULL && err != NULL && strcmp(state, "failed") == 0) {
		snprintf(mid, sizeof(mid), "%s-status", id);
		json_object_set_new(status, "message", message(d, "agent", mid,
		    err, t));
	}
	in = json_object_get(t, "message");
	snprintf(mid, sizeof(mid), "%s-in", id);
	um = message(d, "user", str_of(in, "messageId") != NULL ?
	    str_of(in, "messageId") : mid, str_of(t, "input"), t);
	hist = json_array();
	json_array_append_new(hist, um);
	arts = json_array();
	if (resp != NULL && strcmp(state, "completed") == 0) {
		snprintf(mid, sizeof(mid), "%s-out", id);
		am = message(d, "agent", mid, resp, t);
		json_array_append_new(hist, am);
		json_array_append_new(arts, json_pack("{s:s, s:s, s:[o]}",
		    "artifactId", mid, "name", "response", "parts",
		    text_part(d, resp)));
	}
	if (history >= 0)
		while ((n = json_array_size(hist)) > (size_t)history)
			json_array_remove(hist, 0);
	out = json_pack("{s:s, s:O, s:o, s:o, s:o, s:{s:O}}",
	    "id", id, "contextId", json_object_get(t, "context_id"),
	    "status", status, "history", hist, "artifacts", arts,
	    "metadata", "agent_id", json_object_get(t, "agent_id"));
	if (out == NULL)
		return (NULL);
	if (d == DIALECT_V03 || d == DIALECT_V01)
		json_object_set_new(out, "kind", json_string("task"));
	if (d == DIALECT_V01) {
		/* The reference's names for the same things. */
		json_object_set(out, "sessionId", json_object_get(t,
		    "context_id"));
		json_object_set(out, "messages", json_object_get(out,
		    "history"));
		json_object_set(out, "agentId", json_object_get(t, "agent_id"));
	}
	return (out);
}

/* The reference's REST task (spec 000): status a bare string. */
static json_t *
render_rest(json_t *t)
{
	const char	*state = str_of(t, "state"), *resp;
	json_t		*out;

	if (state != NULL && strcmp(state, "canceled") == 0)
		state = "cancelled";	/* the reference's spelling */
	out = json_pack("{s:O, s:O, s:s, s:O, s:O, s:O, s:O, s:O, s:O}",
	    "task_id", json_object_get(t, "id"),
	    "id", json_object_get(t, "id"),
	    "status", state != NULL ? state : "unknown",
	    "agent_id", json_object_get(t, "agent_id"),
	    "session_id", json_object_get(t, "context_id"),
	    "created_at", json_object_get(t, "created_at"),
	    "updated_at", json_object_get(t, "updated_at"),
	    "completed_at", json_object_get(t, "completed_at"),
	    "error", json_object_get(t, "error"));
	if (out != NULL && (resp = str_of(t, "response")) != NULL)
		json_object_set_new(out, "result", json_pack("{s:s, s:[{s:s}]}",
		    "role", "agent", "parts", "text", resp));
	return (out);
}

/* A page of a2a.tasks.list (borrowed) as a v1.0 ListTasksResponse. */
static json_t *
render_list(struct gw_a2a *a, json_t *page)
{
	json_t		*tasks, *t, *next;
	size_t		 i;
	char		 tok[24];

	if ((tasks = json_array()) == NULL)
		return (NULL);
	json_array_foreach(json_object_get(page, "tasks"), i, t) {
		if (json_array_append_new(tasks, render_task(DIALECT_V10, t,
		    a->a_history)) != 0) {
			json_decref(tasks);
			return (NULL);
		}
		if (!a->a_artifacts)
			json_object_del(json_array_get(tasks, i), "artifacts");
	}
	next = json_object_get(page, "next_offset");
	snprintf(tok, sizeof(tok), "%lld", json_is_integer(next) ?
	    (long long)json_integer_value(next) : 0LL);
	return (json_pack("{s:o, s:s, s:I, s:O}", "tasks", tasks,
	    "nextPageToken", json_is_integer(next) ? tok : "", "pageSize",
	    (json_int_t)json_array_size(tasks), "totalSize",
	    json_object_get(page, "total")));
}

/* ---- replies ------------------------------------------------------------ */

static void
rpc_reply(struct gw_req *gr, json_t *id, json_t *result)
{
	gw_reply_json(gr, 200, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0",
	    "id", id != NULL ? id : json_null(), "result", result));
}

static void
rpc_error(struct gw_req *gr, json_t *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
rpc_error(struct gw_req *gr, json_t *id, int code, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_reply_json(gr, 200, json_pack("{s:s, s:O, s:{s:i, s:s}}",
	    "jsonrpc", "2.0", "id", id != NULL ? id : json_null(),
	    "error", "code", code, "message", msg));
}

/*
 * A resubscription (tasks/resubscribe, SubscribeToTask): the task as it
 * is, as the one event of a server-sent event stream.
 */
static void
rpc_stream(struct gw_req *gr, json_t *id, json_t *result)
{
	json_t	*ev;
	char	*js, *sse;
	int	 n;

	ev = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id",
	    id != NULL ? id : json_null(), "result", result);
	js = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (js == NULL || (n = asprintf(&sse, "data: %s\n\n", js)) < 0) {
		free(js);
		rpc_error(gr, id, RPC_INTERNAL, "out of memory");
		return;
	}
	gw_reply_data(gr, 200, "text/event-stream", sse, (size_t)n);
	free(sse);
	free(js);
}

/* The runtime's reply to a2a.tasks.* (rep borrowed), in the request's
 * dialect. */
static void
task_answer(struct gw_req *gr, int err, struct msg_rep *rep)
{
	struct gw_a2a	*a = gr->gr_ctx;
	json_t		*body = rep != NULL ? rep->mp_body : NULL, *task;
	const char	*e = str_of(body, "error");
	int		 st = rep != NULL ? rep->mp_status : 0;

	if (a->a_dialect == DIALECT_REST) {
		if (err != 0)
			gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
		else if (st != 200)
			gw_reply_relay(gr, rep);
		else if (a->a_verb == VERB_CANCEL)
			gw_reply_json(gr, 200, json_pack("{s:O, s:s}",
			    "task_id", json_object_get(body, "id"),
			    "status", "cancelled"));
		else
			gw_reply_json(gr, 200, render_rest(body));
	} else if (err != 0)
		rpc_error(gr, a->a_id, RPC_INTERNAL, "agent-runtime did not "
		    "answer (%s)", err == SH_ETIMEDOUT ? "timeout" :
		    "unavailable");
	else if (st == 200 && a->a_verb == VERB_LIST) {
		if ((task = render_list(a, body)) == NULL)
			rpc_error(gr, a->a_id, RPC_INTERNAL, "out of memory");
		else
			rpc_reply(gr, a->a_id, task);
	} else if (st == 200) {
		task = render_task(a->a_dialect, body, a->a_history);
		if (task != NULL && a->a_dialect == DIALECT_V10 &&
		    (a->a_verb == VERB_SEND || a->a_stream))
			task = json_pack("{s:o}", "task", task);
		if (task == NULL)
			rpc_error(gr, a->a_id, RPC_INTERNAL, "out of memory");
		else if (a->a_stream)
			rpc_stream(gr, a->a_id, task);
		else
			rpc_reply(gr, a->a_id, task);
	} else if (st == 404 && a->a_verb != VERB_SEND)
		rpc_error(gr, a->a_id, A2A_TASK_NOT_FOUND, "Task not found");
	else if (st == 409 && a->a_verb == VERB_CANCEL)
		rpc_error(gr, a->a_id, A2A_NOT_CANCELABLE, "%s",
		    e != NULL ? e : "Task cannot be canceled");
	else if (st >= 400 && st < 500)
		rpc_error(gr, a->a_id, RPC_INVALID_PARAMS, "Invalid params: %s",
		    e != NULL ? e : "refused");
	else
		rpc_error(gr, a->a_id, RPC_INTERNAL, "Internal error: %s",
		    e != NULL ? e : "agent-runtime failed");
}

static void
gw_a2a_task_done(struct gw_req *gr, int err, struct msg_rep *rep)
{
	task_answer(gr, err, rep);
	if (rep != NULL)
		msg_rep_release(rep);
}

/* ---- a streamed send ---------------------------------------------------- */

/*
 * message/stream and SendStreamingMessage: a2a.tasks.send as a streamed
 * turn (gw_turns.c).  The gateway names the task and its context up
 * front, so the first item, the Task (working), waits in the writer while
 * the runtime starts the turn; the response starts with the turn's first
 * event, so a send the runtime refuses at once (an unknown agent) is
 * still a plain JSON-RPC error.  Text deltas become artifact updates of
 * the one artifact "<task>-out", and the task's end a final status
 * update.  Each item is a JSON-RPC response of the request's id.
 */

/* One stream item (result stolen).  ss_mtx held. */
static void
stream_item(struct gw_a2a *a, json_t *result)
{
	if (result == NULL)
		return;
	gw_sse_frame(&a->a_sse, NULL, json_pack("{s:s, s:O, s:o}", "jsonrpc",
	    "2.0", "id", a->a_id != NULL ? a->a_id : json_null(), "result",
	    result));
}

/* An event of the task in the request's dialect: v0.3 {kind, taskId,
 * contextId, ...} or v1.0 {<name>: {taskId, contextId, ...}}.  ev is
 * stolen.  ss_mtx held. */
static void
stream_event(struct gw_a2a *a, const char *kind, const char *name,
    json_t *ev)
{
	if (ev == NULL)
		return;
	json_object_set(ev, "taskId", json_object_get(a->a_task, "id"));
	json_object_set(ev, "contextId", json_object_get(a->a_task,
	    "context_id"));
	if (a->a_dialect == DIALECT_V10)
		stream_item(a, json_pack("{s:o}", name, ev));
	else {
		json_object_set_new(ev, "kind", json_string(kind));
		stream_item(a, ev);
	}
}

/* len bytes of the response's text as an artifact update.  ss_mtx
 * held. */
static void
stream_artifact(struct gw_a2a *a, const char *text, size_t len, int last)
{
	json_t	*t;
	char	 aid[UTIL_UUID_LEN + 8];

	if ((t = json_stringn(text, len)) == NULL)
		return;
	snprintf(aid, sizeof(aid), "%s-out", json_string_value(
	    json_object_get(a->a_task, "id")));
	stream_event(a, "artifact-update", "artifactUpdate", json_pack(
	    "{s:{s:s, s:s, s:[o]}, s:b, s:b}", "artifact", "artifactId", aid,
	    "name", "response", "parts", text_part(a->a_dialect,
	    json_string_value(t)), "append", a->a_chunks > 0, "lastChunk",
	    last));
	json_decref(t);
	a->a_chunks++;
}

/* The final status (stolen), and the end.  ss_mtx held. */
static void
stream_status(struct gw_a2a *a, json_t *status)
{
	json_t	*ev;

	ev = json_pack("{s:o}", "status", status);
	/* v1.0 has no "final": the stream's end says it. */
	if (ev != NULL && a->a_dialect != DIALECT_V10)
		json_object_set_new(ev, "final", json_true());
	stream_event(a, "status-update", "statusUpdate", ev);
	gw_sse_end(&a->a_sse);
}

/* The task failed (msg) once the stream has started.  ss_mtx held. */
static void
stream_fail(struct gw_a2a *a, const char *msg)
{
	json_t	*t, *task;
	char	 now[32];

	util_rfc3339(util_wall_ms(), now);
	t = json_pack("{s:O, s:O, s:s, s:s, s:s, s:s, s:n}", "id",
	    json_object_get(a->a_task, "id"), "context_id",
	    json_object_get(a->a_task, "context_id"), "state", "failed",
	    "error", msg, "input", "", "updated_at", now, "agent_id");
	task = t != NULL ? render_task(a->a_dialect, t, 0) : NULL;
	json_decref(t);
	if (task == NULL) {
		gw_sse_end(&a->a_sse);
		return;
	}
	stream_status(a, json_incref(json_object_get(task, "status")));
	json_decref(task);
}

/* One turn event (gw_turns.c), on the subscriber thread. */
static void
a2a_event(void *arg, json_t *ev)
{
	struct gw_a2a	*a = arg;
	struct gw_sse	*s = &a->a_sse;
	const char	*text;

	pthread_mutex_lock(&s->ss_mtx);
	/* Tools, phases and thinking have no A2A event: the task's text
	 * is its artifact. */
	if (gw_sse_delta(s, ev, &text) == 1) {
		stream_artifact(a, text, strlen(text), 0);
		gw_sse_wake(s);
	}
	pthread_mutex_unlock(&s->ss_mtx);
}

/* The end of a2a.tasks.send (rep borrowed), on an nng or the subscriber
 * thread. */
static void
a2a_done(void *arg, int err, struct msg_rep *rep)
{
	struct gw_a2a	*a = arg;
	struct gw_sse	*s = &a->a_sse;
	json_t		*task, *resp;
	const char	*rest, *e;
	size_t		 rlen = 0;

	pthread_mutex_lock(&s->ss_mtx);
	if (s->ss_closed || s->ss_finished)
		goto out;
	if (!s->ss_started && (err != 0 || rep->mp_status != 200)) {
		/* Nothing streamed yet: a plain JSON-RPC error. */
		task_answer(s->ss_gr, err, rep);
		gw_sse_end(s);
		goto out;
	}
	if (err != 0) {
		stream_fail(a, err == SH_ETIMEDOUT ? "the task did not finish "
		    "in time" : "agent-runtime unavailable");
		goto out;
	}
	if (rep->mp_status != 200) {
		e = str_of(rep->mp_body, "error");
		stream_fail(a, e != NULL ? e : "the task failed");
		goto out;
	}
	if ((task = render_task(a->a_dialect, rep->mp_body, 0)) == NULL) {
		stream_fail(a, "out of memory");
		goto out;
	}
	/* The text the events did not carry (lost, or not streamed by the
	 * provider), and the artifact's last chunk.  After a provider
	 * retry the streamed text is not the answer's start: the whole
	 * answer replaces it (append false). */
	resp = json_object_get(rep->mp_body, "response");
	if (s->ss_text_off && json_is_string(resp)) {
		a->a_chunks = 0;
		stream_artifact(a, json_string_value(resp),
		    json_string_length(resp), 1);
	} else if ((rest = gw_sse_rest(s, resp, &rlen)) != NULL ||
	    (a->a_chunks > 0 && json_is_string(resp)))
		stream_artifact(a, rest != NULL ? rest : "", rlen, 1);
	stream_status(a, json_incref(json_object_get(task, "status")));
	json_decref(task);
 out:
	pthread_mutex_unlock(&s->ss_mtx);
}

static void
a2a_idle(void *arg)
{
	struct gw_a2a	*a = arg;

	gw_sse_idle(&a->a_sse);
}

/* gw_sse_shutdown(): the stream has started.  ss_mtx held. */
static void
a2a_stop(void *arg)
{
	stream_fail(arg, "the gateway is shutting down");
}

static const struct gw_turn_ops a2a_turn_ops = {
	a2a_event, a2a_done, a2a_idle
};

/* gr_queue: the event stream, once it has its first event (an error
 * reply set first never gets here). */
static enum MHD_Result
a2a_stream_queue(struct gw_req *gr)
{
	struct gw_a2a	*a = gr->gr_ctx;

	return (gw_sse_respond(gr, &a->a_sse));
}

/* Starts a streamed send of body (stolen: a2a.tasks.send's). */
static int
gw_a2a_stream_send(struct gw_req *gr, struct gw_a2a *a, json_t *body)
{
	json_t		*t, *task, *idem;
	char		 id[UTIL_UUID_LEN], ctx[UTIL_UUID_LEN], now[32];
	int		 err;

	util_uuid4(id);
	/* send_body() has a null context_id when the client gave none. */
	if (!json_is_string(json_object_get(body, "context_id"))) {
		util_uuid4(ctx);
		json_object_set_new(body, "context_id", json_string(ctx));
	}
	json_object_set_new(body, "task_id", json_string(id));
	util_rfc3339(util_wall_ms(), now);
	a->a_task = json_pack("{s:s, s:O}", "id", id, "context_id",
	    json_object_get(body, "context_id"));
	t = json_pack("{s:s, s:O, s:s, s:O, s:O, s:O, s:s}", "id", id,
	    "context_id", json_object_get(body, "context_id"), "state",
	    "working", "input", json_object_get(body, "text"), "message",
	    json_object_get(body, "message") ?: json_null(), "agent_id",
	    json_object_get(body, "agent_id") ?: json_null(), "updated_at",
	    now);
	task = t != NULL ? render_task(a->a_dialect, t, -1) : NULL;
	json_decref(t);
	if (a->a_task == NULL || task == NULL) {
		json_decref(task);
		json_decref(body);
		rpc_error(gr, a->a_id, RPC_INTERNAL, "out of memory");
		return (0);
	}
	gw_sse_init(&a->a_sse, gr);
	a->a_sse_on = 1;
	gr->gr_queue = a2a_stream_queue;
	gr->gr_svc = SVC_AGENT_RUNTIME;
	/* The Task first; it goes out with the first event. */
	pthread_mutex_lock(&a->a_sse.ss_mtx);
	stream_item(a, a->a_dialect == DIALECT_V10 ? json_pack("{s:o}",
	    "task", task) : task);
	pthread_mutex_unlock(&a->a_sse.ss_mtx);
	if (gw_sse_suspend(&a->a_sse, a2a_stop, a) != GW_ASYNC) {
		gr->gr_queue = NULL;	/* gw_suspend() left a 503 */
		json_decref(body);
		return (0);
	}
	idem = gw_idem_caller(gr);
	a->a_turn = gw_turn_start_op(OP_A2A_TASKS_SEND, json_object(), body,
	    gw_conn_ip(gr->gr_conn), gr->gr_principal, gr->gr_id, idem,
	    &a2a_turn_ops, a, &err);
	json_decref(idem);
	if (a->a_turn == NULL) {
		pthread_mutex_lock(&a->a_sse.ss_mtx);
		if (!a->a_sse.ss_started) {
			task_answer(gr, err, NULL);
			gw_sse_end(&a->a_sse);
		}
		pthread_mutex_unlock(&a->a_sse.ss_mtx);
	}
	return (GW_ASYNC);
}

/* ---- the card and the agent list ---------------------------------------- */

/* The skills of the local agents (a2a.agents' list, borrowed): one per
 * agent, as the reference's card unites them. */
static json_t *
card_skills(json_t *agents)
{
	json_t		*skills = json_array(), *a, *tags, *e;
	const char	*name, *desc;
	size_t		 i, j;

	json_array_foreach(agents, i, a) {
		name = str_of(a, "name");
		desc = str_of(a, "description");
		tags = json_array();
		json_array_foreach(json_object_get(a, "tags"), j, e)
			if (json_is_string(e))
				json_array_append(tags, e);
		json_array_append_new(skills, json_pack("{s:s, s:s, s:s, s:o, "
		    "s:[]}", "id", name != NULL ? name : "agent",
		    "name", name != NULL ? name : "agent",
		    "description", desc != NULL && *desc != '\0' ? desc :
		    "A LibreFang agent", "tags", tags, "examples"));
	}
	if (json_array_size(skills) == 0)
		json_array_append_new(skills, json_pack("{s:s, s:s, s:s, "
		    "s:[s], s:[]}", "id", "chat", "name", "Chat",
		    "description", "General-purpose chat with any agent",
		    "tags", "chat", "examples"));
	return (skills);
}

static void
gw_a2a_card_done(struct gw_req *gr, int err, struct msg_rep *rep)
{
	struct gw_a2a	*a = gr->gr_ctx;
	json_t		*card, *agents;
	char		 url[sizeof(a->a_base) + 8];

	if (err != 0) {
		gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
		return;
	}
	if (rep->mp_status != 200) {
		gw_reply_relay(gr, rep);
		msg_rep_release(rep);
		return;
	}
	agents = json_object_get(rep->mp_body, "agents");
	snprintf(url, sizeof(url), "%s/a2a", a->a_base);
	card = json_pack("{s:s, s:s, s:s, s:{s:b, s:b, s:b}, s:[s], s:[s], "
	    "s:o}",
	    "name", "LibreFang",
	    "description", "LibreFang Agent Operating System",
	    "version", LIBREFANG_VERSION,
	    "capabilities", "streaming", 1, "pushNotifications", 0,
	    "stateTransitionHistory", 0,
	    "defaultInputModes", "text", "defaultOutputModes", "text",
	    "skills", card_skills(agents));
	if (card != NULL && a->a_v1card)
		json_object_set_new(card, "supportedInterfaces", json_pack(
		    "[{s:s, s:s, s:s}, {s:s, s:s, s:s}]",
		    "url", url, "protocolBinding", "JSONRPC",
		    "protocolVersion", "1.0",
		    "url", url, "protocolBinding", "JSONRPC",
		    "protocolVersion", "0.3"));
	else if (card != NULL) {
		json_object_set_new(card, "protocolVersion",
		    json_string("0.3.0"));
		json_object_set_new(card, "url", json_string(url));
		json_object_set_new(card, "preferredTransport",
		    json_string("JSONRPC"));
	}
	gw_reply_json(gr, 200, card);
	msg_rep_release(rep);
}

int
gw_a2a_card(struct gw_req *gr)
{
	struct gw_a2a	*a;

	if ((a = gw_a2a_new(gr)) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	a->a_v1card = strcmp(gr->gr_route->rt_pattern,
	    "/.well-known/agent-card.json") == 0;
	gw_a2a_base(gr, a->a_base, sizeof(a->a_base));
	return (gw_call(gr, SVC_AGENT_RUNTIME, OP_A2A_AGENTS, json_object(),
	    NULL, NULL, gw_a2a_card_done));
}

static void
gw_a2a_agents_done(struct gw_req *gr, int err, struct msg_rep *rep)
{
	struct gw_a2a	*a = gr->gr_ctx;
	json_t		*list, *e, *skills, *out;
	char		 url[sizeof(a->a_base) + 8];
	size_t		 i;

	if (err != 0) {
		gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
		return;
	}
	if (rep->mp_status != 200) {
		gw_reply_relay(gr, rep);
		msg_rep_release(rep);
		return;
	}
	snprintf(url, sizeof(url), "%s/a2a", a->a_base);
	list = json_array();
	json_array_foreach(json_object_get(rep->mp_body, "agents"), i, e) {
		skills = json_array();
		json_array_append(skills, json_object_get(e, "name"));
		json_array_append_new(list, json_pack("{s:O, s:O, s:O, s:o, "
		    "s:O, s:s}", "id", json_object_get(e, "id"),
		    "name", json_object_get(e, "name"),
		    "description", json_object_get(e, "description"),
		    "skills", skills, "tags", json_object_get(e, "tags"),
		    "url", url));
	}
	out = json_pack("{s:o, s:I, s:i, s:I}", "agents", list,
	    "total", (json_int_t)json_array_size(list), "offset", 0,
	    "limit", (json_int_t)json_array_size(list));
	gw_reply_json(gr, 200, out);
	msg_rep_release(rep);
}

int
gw_a2a_agents(struct gw_req *gr)
{
	struct gw_a2a	*a;

	if ((a = gw_a2a_new(gr)) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	gw_a2a_base(gr, a->a_base, sizeof(a->a_base));
	return (gw_call(gr, SVC_AGENT_RUNTIME, OP_A2A_AGENTS, json_object(),
	    NULL, NULL, gw_a2a_agents_done));
}

/* ---- sending a message -------------------------------------------------- */

/*
 * The text of an A2A message of any dialect (parts of {text}, {kind:
 * "text", text} or {type: "text", text}), or a plain string.  New
 * string, or NULL with why in err (*code the JSON-RPC code).
 */
static json_t *
message_text(json_t *m, int *code, char *err, size_t errlen)
{
	json_t		*parts, *p, *t;
	const char	*role;
	char		*acc = NULL, *tmp;
	size_t		 i, len = 0, n;
	int		 other = 0;

	if (json_is_string(m))
		return (json_string_length(m) > 0 ? json_copy(m) : NULL);
	*code = RPC_INVALID_PARAMS;
	if (!json_is_object(m)) {
		snprintf(err, errlen, "'message' must be an A2A message "
		    "object");
		return (NULL);
	}
	role = str_of(m, "role");
	if (role != NULL && strcasecmp(role, "user") != 0 &&
	    strcmp(role, "ROLE_USER") != 0) {
		snprintf(err, errlen, "the message's role must be user");
		return (NULL);
	}
	parts = json_object_get(m, "parts");
	if (!json_is_array(parts) || json_array_size(parts) == 0) {
		snprintf(err, errlen, "the message must have a non-empty "
		    "'parts' array");
		return (NULL);
	}
	json_array_foreach(parts, i, p) {
		if (!json_is_object(p)) {
			snprintf(err, errlen, "every part must be an object");
			free(acc);
			return (NULL);
		}
		if (!json_is_string(t = json_object_get(p, "text"))) {
			other = 1;
			continue;
		}
		n = json_string_length(t);
		if ((tmp = realloc(acc, len + n + 2)) == NULL) {
			free(acc);
			snprintf(err, errlen, "out of memory");
			return (NULL);
		}
		acc = tmp;
		if (len > 0)
			acc[len++] = '\n';
		memcpy(acc + len, json_string_value(t), n);
		len += n;
		acc[len] = '\0';
	}
	if (acc == NULL || len == 0) {
		free(acc);
		*code = other ? A2A_CONTENT_TYPE : RPC_INVALID_PARAMS;
		snprintf(err, errlen, other ? "only text parts are supported" :
		    "the message has no text");
		return (NULL);
	}
	t = json_stringn_nocheck(acc, len);
	free(acc);
	if (t == NULL)
		snprintf(err, errlen, "out of memory");
	return (t);
}

/*
 * The a2a.tasks.send body for message m and params (borrowed): {text,
 * message, agent_id?, context_id?}.  NULL with err and *code.
 */
static json_t *
send_body(json_t *params, json_t *m, int *code, char *err, size_t errlen)
{
	json_t		*text, *body, *md, *v;
	const char	*agent = NULL, *ctx;

	if ((text = message_text(m, code, err, errlen)) == NULL) {
		if (json_is_string(m) || m == NULL) {
			*code = RPC_INVALID_PARAMS;
			snprintf(err, errlen, "'message' is required");
		}
		return (NULL);
	}
	/* The agent: the reference's agentId / agent_id, or metadata. */
	md = json_object_get(params, "metadata");
	if ((v = json_object_get(params, "agentId")) != NULL ||
	    (v = json_object_get(params, "agent_id")) != NULL ||
	    (v = json_object_get(md, "agent_id")) != NULL ||
	    (v = json_object_get(md, "agentId")) != NULL ||
	    (v = json_object_get(json_object_get(m, "metadata"),
	    "agent_id")) != NULL) {
		if (!json_is_string(v)) {
			json_decref(text);
			*code = RPC_INVALID_PARAMS;
			snprintf(err, errlen, "the agent id must be a string");
			return (NULL);
		}
		agent = json_string_value(v);
	}
	ctx = str_of(m, "contextId");
	if (ctx == NULL)
		ctx = str_of(params, "sessionId");
	if (ctx == NULL)
		ctx = str_of(params, "session_id");
	body = json_pack("{s:o, s:O, s:s?, s:s?}", "text", text,
	    "message", json_is_object(m) ? m : json_null(), "agent_id", agent,
	    "context_id", ctx);
	if (body == NULL) {
		*code = RPC_INTERNAL;
		snprintf(err, errlen, "out of memory");
	}
	return (body);
}

/*
 * The a2a.tasks.list body for ListTasks params {contextId?, status?
 * (TASK_STATE_*), pageSize?, pageToken?, statusTimestampAfter?,
 * historyLength?, includeArtifacts?}; the last two shape the answer
 * (a).  NULL with err.
 */
static json_t *
list_body(struct gw_a2a *a, json_t *params, char *err, size_t errlen)
{
	json_t		*body, *v;
	const char	*s;
	char		 state[32];
	long long	 off;
	size_t		 i;

	if ((body = json_object()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	if ((v = json_object_get(params, "contextId")) != NULL &&
	    !json_is_null(v) && json_string_length(v) > 0)
		json_object_set(body, "context_id", v);
	/* No filter: unset, TASK_STATE_UNSPECIFIED, or UNRECOGNIZED
	 * (what @a2a-js/sdk sends for a status it was not given). */
	if ((s = str_of(params, "status")) != NULL && *s != '\0' &&
	    strcmp(s, "TASK_STATE_UNSPECIFIED") != 0 &&
	    strcmp(s, "UNRECOGNIZED") != 0) {
		/* TASK_STATE_INPUT_REQUIRED is "input-required". */
		if (strncmp(s, "TASK_STATE_", 11) != 0 ||
		    strlen(s + 11) >= sizeof(state))
			goto bad_state;
		for (i = 0; s[11 + i] != '\0'; i++)
			state[i] = s[11 + i] == '_' ? '-' :
			    (char)tolower((unsigned char)s[11 + i]);
		state[i] = '\0';
		json_object_set_new(body, "state", json_string(state));
	}
	if ((v = json_object_get(params, "pageSize")) != NULL &&
	    !json_is_null(v))
		json_object_set(body, "page_size", v);
	if ((s = str_of(params, "pageToken")) != NULL && *s != '\0') {
		if (util_strtonum(s, 0, INT32_MAX, &off) != 0) {
			snprintf(err, errlen, "'pageToken' is not a token this "
			    "server gave");
			json_decref(body);
			return (NULL);
		}
		json_object_set_new(body, "offset", json_integer(off));
	}
	if ((v = json_object_get(params, "statusTimestampAfter")) != NULL &&
	    !json_is_null(v))
		json_object_set(body, "updated_after", v);
	v = json_object_get(params, "historyLength");
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		a->a_history = json_integer_value(v);
	a->a_artifacts = json_is_true(json_object_get(params,
	    "includeArtifacts"));
	return (body);
bad_state:
	snprintf(err, errlen, "unknown task state '%.40s'", s);
	json_decref(body);
	return (NULL);
}

/* ---- POST /a2a: JSON-RPC ------------------------------------------------ */

static json_t *
gw_a2a_load(struct gw_req *gr, json_error_t *je)
{
	json_t	*v;

	if (gr->gr_body.b_len == 0) {
		snprintf(je->text, sizeof(je->text), "empty body");
		je->line = je->column = 0;
		return (NULL);
	}
	v = json_loadb(gr->gr_body.b_data, gr->gr_body.b_len,
	    JSON_DECODE_ANY, je);
	buf_release(&gr->gr_body);
	return (v);
}

int
gw_a2a_rpc(struct gw_req *gr)
{
	const struct a2a_method	*m;
	struct gw_a2a		*a;
	json_error_t		 je;
	json_t			*req, *id, *params, *body, *v, *p;
	const char		*method, *tid;
	char			 err[256];
	int			 code, rv = 0;

	if ((a = gw_a2a_new(gr)) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	if ((req = gw_a2a_load(gr, &je)) == NULL) {
		rpc_error(gr, NULL, RPC_PARSE, "Parse error: %s", je.text);
		return (0);
	}
	if (json_is_array(req)) {
		rpc_error(gr, NULL, RPC_INVALID_REQUEST, "Invalid Request: "
		    "batch requests are not supported");
		goto done;
	}
	id = json_object_get(req, "id");
	if (id != NULL && !json_is_string(id) && !json_is_integer(id) &&
	    !json_is_null(id))
		id = NULL;
	a->a_id = json_incref(id);
	if (!json_is_object(req) || str_of(req, "jsonrpc") == NULL ||
	    strcmp(str_of(req, "jsonrpc"), "2.0") != 0 ||
	    (method = str_of(req, "method")) == NULL ||
	    (json_object_get(req, "id") != NULL && a->a_id == NULL)) {
		rpc_error(gr, a->a_id, RPC_INVALID_REQUEST, "Invalid Request: "
		    "a JSON-RPC 2.0 request has jsonrpc \"2.0\", a string "
		    "method and a string or number id");
		goto done;
	}
	for (m = a2a_methods; m->m_name != NULL; m++)
		if (strcmp(m->m_name, method) == 0)
			break;
	if (m->m_name == NULL) {
		rpc_error(gr, a->a_id, RPC_NO_METHOD, "Method not found: "
		    "%.100s", method);
		goto done;
	}
	a->a_dialect = m->m_dialect;
	a->a_verb = m->m_verb;
	params = json_object_get(req, "params");
	switch (m->m_verb) {
	case VERB_SEND_STREAM:
	case VERB_GET_STREAM:
		a->a_stream = 1;
		a->a_verb = m->m_verb == VERB_SEND_STREAM ? VERB_SEND :
		    VERB_GET;
		break;
	case VERB_UNSUPPORTED:
		rpc_error(gr, a->a_id, A2A_UNSUPPORTED, "Unsupported "
		    "operation: %.100s", method);
		goto done;
	case VERB_PUSH:
		rpc_error(gr, a->a_id, A2A_NO_PUSH, "Push notifications are "
		    "not supported");
		goto done;
	case VERB_EXTENDED:
		rpc_error(gr, a->a_id, A2A_NO_EXTENDED_CARD, "Extended agent "
		    "card is not configured");
		goto done;
	default:
		break;
	}
	if (!json_is_object(params)) {
		rpc_error(gr, a->a_id, RPC_INVALID_PARAMS, "Invalid params: "
		    "'params' must be an object");
		goto done;
	}
	if (a->a_verb == VERB_SEND) {
		if ((body = send_body(params, json_object_get(params,
		    "message"), &code, err, sizeof(err))) == NULL) {
			rpc_error(gr, a->a_id, code, "Invalid params: %s", err);
			goto done;
		}
		if (a->a_stream) {
			rv = gw_a2a_stream_send(gr, a, body);
			goto done;
		}
		rv = gw_call(gr, SVC_AGENT_RUNTIME, OP_A2A_TASKS_SEND,
		    json_object(), NULL, body, gw_a2a_task_done);
		goto done;
	}
	if (a->a_verb == VERB_LIST) {
		if ((body = list_body(a, params, err, sizeof(err))) == NULL) {
			rpc_error(gr, a->a_id, RPC_INVALID_PARAMS, "Invalid "
			    "params: %s", err);
			goto done;
		}
		rv = gw_call(gr, SVC_AGENT_RUNTIME, OP_A2A_TASKS_LIST,
		    json_object(), NULL, body, gw_a2a_task_done);
		goto done;
	}
	/* tasks/get, tasks/cancel: {id} (v1.0 also allows "name":
	 * "tasks/<id>"). */
	if ((tid = str_of(params, "id")) == NULL &&
	    (tid = str_of(params, "name")) != NULL &&
	    strncmp(tid, "tasks/", 6) == 0)
		tid += 6;
	if (tid == NULL) {
		rpc_error(gr, a->a_id, RPC_INVALID_PARAMS, "Invalid params: "
		    "'id' (the task id) is required");
		goto done;
	}
	v = json_object_get(params, "historyLength");
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		a->a_history = json_integer_value(v);
	if ((p = json_pack("{s:s}", "id", tid)) == NULL) {
		rpc_error(gr, a->a_id, RPC_INTERNAL, "out of memory");
		goto done;
	}
	rv = gw_call(gr, SVC_AGENT_RUNTIME, a->a_verb == VERB_GET ?
	    OP_A2A_TASKS_GET : OP_A2A_TASKS_CANCEL, p, NULL, NULL,
	    gw_a2a_task_done);
 done:
	json_decref(req);
	return (rv);
}

/* ---- the reference's REST routes ---------------------------------------- */

int
gw_a2a_rest_send(struct gw_req *gr)
{
	struct gw_a2a	*a;
	json_error_t	 je;
	json_t		*req, *params, *m, *body;
	char		 err[256];
	int		 code;

	if ((a = gw_a2a_new(gr)) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	a->a_dialect = DIALECT_REST;
	a->a_verb = VERB_SEND;
	if ((req = gw_a2a_load(gr, &je)) == NULL) {
		gw_reply_error(gr, 400, "malformed JSON: %s at line %d column "
		    "%d", je.text, je.line, je.column);
		return (0);
	}
	if (!json_is_object(req)) {
		json_decref(req);
		gw_reply_error(gr, 400, "the body must be a JSON object");
		return (0);
	}
	/* The reference takes {agent_id, message} or the JSON-RPC-like
	 * {params: {message, agentId, sessionId}}. */
	params = json_is_object(json_object_get(req, "params")) ?
	    json_object_get(req, "params") : req;
	m = json_object_get(params, "message");
	body = m != NULL ? send_body(params, m, &code, err, sizeof(err)) :
	    NULL;
	if (m == NULL)
		snprintf(err, sizeof(err), "'message' is required");
	if (body != NULL && params != req && json_object_get(body,
	    "agent_id") == NULL && json_is_string(json_object_get(req,
	    "agent_id")))
		json_object_set(body, "agent_id", json_object_get(req,
		    "agent_id"));
	json_decref(req);
	if (body == NULL) {
		gw_reply_error(gr, 400, "%s", err);
		return (0);
	}
	return (gw_call(gr, SVC_AGENT_RUNTIME, OP_A2A_TASKS_SEND,
	    json_object(), NULL, body, gw_a2a_task_done));
}

static int
gw_a2a_rest_task(struct gw_req *gr, enum a2a_verb verb)
{
	struct gw_a2a	*a;
	json_t		*params;

	if ((a = gw_a2a_new(gr)) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	a->a_dialect = DIALECT_REST;
	a->a_verb = verb;
	if ((params = gw_route_params(gr->gr_route, gr->gr_path)) == NULL) {
		gw_reply_error(gr, 400, "malformed path parameter");
		return (0);
	}
	return (gw_call(gr, SVC_AGENT_RUNTIME, verb == VERB_GET ?
	    OP_A2A_TASKS_GET : OP_A2A_TASKS_CANCEL, params, NULL, NULL,
	    gw_a2a_task_done));
}

int
gw_a2a_rest_get(struct gw_req *gr)
{
	return (gw_a2a_rest_task(gr, VERB_GET));
}

int
gw_a2a_rest_cancel(struct gw_req *gr)
{
	return (gw_a2a_rest_task(gr, VERB_CANCEL));
}
