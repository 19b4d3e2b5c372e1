/*
 * turn/ops.c - agents.message, agents.stop and the sessions.* operations
 * (notes/agent-core.md 4.12 and 5; wire shapes of the spec files).
 *
 * agents.message and sessions.compact check their input here, on the bus
 * worker, then defer the reply (svc_defer) and hand a struct turn to the
 * job pool (turn/pool.c); everything else answers at once.
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "buf.h"
#include "comms/comms.h"
#include "err.h"
#include "files/upload.h"
#include "log.h"
#include "ops.h"
#include "tool/tool.h"
#include "turn/turn.h"
#include "version.h"

#define LABEL_MAX	128
#define LIST_LIMIT	100
#define LIST_LIMIT_MAX	1000

/* ---- input --------------------------------------------------------- */

/* params.key as a lowercase UUID; 400 with what otherwise. */
static int
param_uuid(const struct msg_req *rq, const char *key, const char *what,
    struct svc_reply *rp, char out[UTIL_UUID_LEN])
{
	const char	*s = json_string_value(json_object_get(rq->mr_params,
			    key));
	size_t		 i;

	if (s == NULL || !util_uuid_valid(s)) {
		svc_reply_error(rp, 400, "Invalid %s ID", what);
		return (-1);
	}
	for (i = 0; i < UTIL_UUID_LEN; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	return (0);
}

/* A query number in [min, max], def when absent. */
static int
query_num(const struct msg_req *rq, const char *key, long long min,
    long long max, long long def, long long *out, struct svc_reply *rp)
{
	const char	*s = json_string_value(json_object_get(rq->mr_query,
			    key));

	*out = def;
	if (s == NULL)
		return (0);
	if (util_strtonum(s, min, max, out) != 0) {
		svc_reply_error(rp, 400, "'%s' must be an integer in %lld..%lld",
		    key, min, max);
		return (-1);
	}
	return (0);
}

/* A label: trimmed, 1..128 of letters, digits, space, '-' and '_'.
 * Writes it into out; 400 otherwise. */
static int
check_label(const char *in, char *out, size_t outlen, struct svc_reply *rp)
{
	size_t	 n;
	const char *p;

	while (*in == ' ')
		in++;
	n = strlen(in);
	while (n > 0 && in[n - 1] == ' ')
		n--;
	if (n == 0 || n > LABEL_MAX || n >= outlen) {
		svc_reply_error(rp, 400, "a label is 1 to %d characters",
		    LABEL_MAX);
		return (-1);
	}
	for (p = in; p < in + n; p++)
		if (!isalnum((unsigned char)*p) && *p != ' ' && *p != '-' &&
		    *p != '_') {
			svc_reply_error(rp, 400, "a label may hold only "
			    "letters, digits, spaces, '-' and '_'");
			return (-1);
		}
	memcpy(out, in, n);
	out[n] = '\0';
	return (0);
}

/* The agent row (new) by params.key, or NULL after replying. */
static json_t *
fetch_agent(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, char id[UTIL_UUID_LEN])
{
	if (param_uuid(rq, PARAM_ID, "agent", rp, id) != 0)
		return (NULL);
	return (agent_fetch(c, id, 0, rp));
}

/* ---- agents.message ---------------------------------------------------- */

static const char *const message_keys[] = {
	"message", "attachments", "sender_id", "sender_name", "channel_type",
	"is_group", "was_mentioned", "group_participants", "ephemeral",
	"thinking", "show_thinking", "session_id", "incognito", "temperature",
	"max_tokens", NULL
};

/*
 * The sampling a caller may set for one turn (the OpenAI edge passes its
 * client's): temperature 0..TURN_TEMPERATURE_MAX, max_tokens a positive
 * integer (its bound is the model's max output, checked once the turn has
 * resolved its model).  null is absent.  0, or -1 after replying.
 */
static int
message_sampling(json_t *body, json_t **tempp, long long *maxp,
    struct svc_reply *rp)
{
	json_t	*v;

	v = json_object_get(body, "temperature");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_number(v) || json_number_value(v) < 0 ||
		    json_number_value(v) > TURN_TEMPERATURE_MAX) {
			svc_reply_error(rp, 400, "'temperature' must be a "
			    "number from 0 to 2");
			return (-1);
		}
		*tempp = v;
	}
	v = json_object_get(body, "max_tokens");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > TURN_MAX_TOKENS_MAX) {
			svc_reply_error(rp, 400, "'max_tokens' must be an "
			    "integer from 1 to the model's max output");
			return (-1);
		}
		*maxp = json_integer_value(v);
	}
	return (0);
}

/* The agent's current session for a turn that did not pin one. */
static const char *
current_session(json_t *row)
{
	return (json_string_value(json_object_get(row, "session_id")));
}

/* Checks a session named by a caller: it exists (or is the agent's
 * pointer, or the caller asked to create it) and is the agent's.  0, or
 * -1 after replying. */
static int
check_session(struct svc_ctx *c, json_t *row, const char *aid,
    const char *sid, int create, struct svc_reply *rp)
{
	json_t		*s;
	const char	*owner;
	int		 err;

	if ((s = session_get(c->sc_db, sid, 0, &err)) == NULL) {
		if (err == SH_ENOTFOUND) {
			/* The turn's session_take() inserts it. */
			if (create ||
			    strcmp(sid, current_session(row) ?: "") == 0)
				return (0);
			svc_reply_error(rp, 404, "Session not found");
		} else
			svc_reply_db_error(rp, c);
		return (-1);
	}
	owner = json_string_value(json_object_get(s, "agent_id"));
	if (owner == NULL || strcmp(owner, aid) != 0) {
		json_decref(s);
		svc_reply_error(rp, 400, "session_agent_mismatch: session %s "
		    "belongs to another agent", sid);
		return (-1);
	}
	json_decref(s);
	return (0);
}

/*
 * caller.chat_origin of a turn the channels router asks (approval/gate.c
 * records it on the turn's approval requests): an object of strings
 * channel, user_id, channel_id (required), user_name, thread_id (each
 * 1..256 bytes without NUL).  *out a copy (new) or NULL when absent.
 * 0, or -1 after a 400.
 */
static int
message_chat_origin(const struct msg_req *rq, json_t **out,
    struct svc_reply *rp)
{
	static const char *const keys[] = { "channel", "user_id",
	    "channel_id", "user_name", "thread_id", NULL };
	json_t		*v = json_object_get(rq->mr_caller, "chat_origin");
	json_t		*f;
	size_t		 i;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_object(v) || json_object_size(v) > 5)
		goto bad;
	for (i = 0; keys[i] != NULL; i++) {
		f = json_object_get(v, keys[i]);
		if (f == NULL || json_is_null(f)) {
			if (i < 3)
				goto bad;
			continue;
		}
		if (!json_is_string(f) || json_string_length(f) == 0 ||
		    json_string_length(f) > 256 ||
		    strlen(json_string_value(f)) != json_string_length(f))
			goto bad;
	}
	if ((*out = json_deep_copy(v)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return (-1);
	}
	return (0);
 bad:
	svc_reply_error(rp, 400, "'chat_origin' must be an object of strings "
	    "channel, user_id, channel_id (user_name, thread_id)");
	return (-1);
}

static void
op_message(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct turn	*t = NULL;
	json_t		*body = rq->mr_body, *row = NULL, *v;
	const char	*msg, *sid = NULL, *sender = NULL, *chan = NULL;
	const char	*sender_id = NULL;
	const char	*stream, *stream_id, *key = NULL, *skey = NULL;
	json_t		*temp = NULL, *origin = NULL;
	long long	 max_tokens = 0;
	char		 id[UTIL_UUID_LEN], psid[UTIL_UUID_LEN], *text;
	int		 eph = 0, inc = 0, group = 0, ment = 0, think = 0;
	int		 show = 0, depth = 0, create = 0, rv;
	size_t		 i, len;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    agent_body_keys(body, message_keys, rp) != 0)
		return;
	v = json_object_get(body, "message");
	if (!json_is_string(v)) {
		svc_reply_error(rp, 400, v == NULL ? "'message' is required" :
		    "'message' must be a string");
		return;
	}
	if (json_string_length(v) > TURN_MESSAGE_MAX) {
		svc_reply_error(rp, 413, "message too large (max %d bytes)",
		    TURN_MESSAGE_MAX);
		return;
	}
	msg = json_string_value(v);
	if (strlen(msg) != json_string_length(v)) {
		svc_reply_error(rp, 400, "'message' contains a NUL character");
		return;
	}
	if (agent_get_bool(body, "ephemeral", &eph, rp) != 0 ||
	    agent_get_bool(body, "incognito", &inc, rp) != 0 ||
	    agent_get_bool(body, "is_group", &group, rp) != 0 ||
	    agent_get_bool(body, "was_mentioned", &ment, rp) != 0 ||
	    agent_get_bool(body, "thinking", &think, rp) != 0 ||
	    agent_get_bool(body, "show_thinking", &show, rp) != 0 ||
	    agent_get_str(body, "sender_id", 1, 256, &sender_id, rp) != 0 ||
	    agent_get_str(body, "sender_name", 1, 256, &sender, rp) != 0 ||
	    agent_get_str(body, "channel_type", 1, 64, &chan, rp) != 0 ||
	    agent_get_str(body, "session_id", 1, 64, &sid, rp) != 0 ||
	    message_sampling(body, &temp, &max_tokens, rp) != 0)
		return;
	v = json_object_get(body, "attachments");
	if (v != NULL && !json_is_null(v) && !json_is_array(v)) {
		svc_reply_error(rp, 400, "'attachments' must be an array");
		return;
	}
	if (json_array_size(v) > UPLOAD_ATTACH_MAX) {
		svc_reply_error(rp, 400, "at most %d attachments",
		    UPLOAD_ATTACH_MAX);
		return;
	}
	v = json_object_get(body, "group_participants");
	if (v != NULL && !json_is_null(v) && !json_is_array(v)) {
		svc_reply_error(rp, 400, "'group_participants' must be an "
		    "array");
		return;
	}
	if (sid != NULL) {
		if (!util_uuid_valid(sid)) {
			svc_reply_error(rp, 400, "Invalid session ID");
			return;
		}
		for (i = 0; i < UTIL_UUID_LEN; i++)
			psid[i] = (char)tolower((unsigned char)sid[i]);
	}
	v = json_object_get(rq->mr_caller, "depth");
	if (json_is_integer(v))
		depth = (int)json_integer_value(v);
	if (depth < 0 || depth > TOOL_AGENT_DEPTH_MAX) {
		svc_reply_error(rp, 400, "agent_send nesting deeper than %d",
		    TOOL_AGENT_DEPTH_MAX);
		return;
	}
	/* Service callers: a turn run at most once per key, a session
	 * made on first use (the scheduler's per-fire sessions). */
	if (agent_get_str(rq->mr_caller, "idempotency_key", 1,
	    TURN_IDEM_KEY_MAX, &key, rp) != 0 ||
	    agent_get_bool(rq->mr_caller, "session_create", &create, rp) != 0 ||
	    agent_get_str(rq->mr_caller, "session_key", 1, TURN_IDEM_KEY_MAX,
	    &skey, rp) != 0)
		return;
	if ((key != NULL && *key == '\0') || (skey != NULL && *skey == '\0')) {
		svc_reply_error(rp, 400, "'%s' must not be empty",
		    key != NULL && *key == '\0' ? "idempotency_key" :
		    "session_key");
		return;
	}
	if (turn_stopping()) {
		svc_reply_error(rp, 503, "agent-runtime is shutting down");
		return;
	}
	if (message_chat_origin(rq, &origin, rp) != 0 ||
	    (row = agent_fetch(c, id, 0, rp)) == NULL)
		goto done;
	/* A scheduled turn that names no session follows the manifest's
	 * session_mode: "new" runs in the session of its key (made on
	 * first use, the agent does not switch to it). */
	if (sid == NULL && skey != NULL && strcmp(json_string_value(
	    json_object_get(json_object_get(row, "manifest"),
	    "session_mode")) ?: "", "new") == 0) {
		if (turn_key_session(id, skey, psid) != 0) {
			svc_reply_error(rp, 500, "the agent's id is not a uuid");
			goto done;
		}
		sid = psid;
		create = 1;
	}
	if (sid != NULL && check_session(c, row, id, psid, create, rp) != 0)
		goto done;
	comms_on_message(c, rq, id, msg);	/* an agent's message: recorded */
	if (strcmp(json_string_value(json_object_get(row, "state")) ?: "",
	    "suspended") == 0) {
		/* Notes 4.1.1: an empty result, no provider call. */
		char	empty[256];

		snprintf(empty, sizeof(empty), TURN_EMPTY_TEXT, 0LL, 0LL, 0);
		svc_reply_json(rp, 200, json_pack("{s:s, s:i, s:i, s:i}",
		    "response", empty, "input_tokens", 0, "output_tokens", 0,
		    "iterations", 0));
		goto done;
	}
	if ((t = turn_new(c->sc_arg, TURN_MESSAGE)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	snprintf(t->t_agent_id, sizeof(t->t_agent_id), "%s", id);
	snprintf(t->t_session_id, sizeof(t->t_session_id), "%s",
	    sid != NULL ? psid : current_session(row) ?: "");
	snprintf(t->t_agent_name, sizeof(t->t_agent_name), "%s",
	    json_string_value(json_object_get(row, "name")) ?: "");
	t->t_pinned = sid != NULL;
	t->t_ephemeral = eph;
	t->t_incognito = inc;
	t->t_show_thinking = show;
	t->t_depth = depth;
	/* A trigger's turn (scheduler, trigger/fire.c): the events its tools
	 * cause carry this depth, which bounds a chain of triggers. */
	v = json_object_get(rq->mr_caller, "event_depth");
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= 1000)
		t->t_event_depth = (int)json_integer_value(v);
	/* ... and its trigger, named in the turn's events (turn/notify.c). */
	if ((v = json_object_get(rq->mr_caller, "trigger_id")) != NULL &&
	    json_is_string(v) && util_uuid_valid(json_string_value(v)))
		snprintf(t->t_trigger_id, sizeof(t->t_trigger_id), "%s",
		    json_string_value(v));
	/* A service caller may narrow the tools further (auto-dream's
	 * memory tools only); the manifest's grants still apply. */
	v = json_object_get(rq->mr_caller, "tool_allow");
	if (json_is_array(v))
		t->t_tool_allow = json_incref(v);
	t->t_chat_origin = origin;
	origin = NULL;
	t->t_temperature = json_incref(temp);
	t->t_max_tokens = max_tokens;
	t->t_deadline = rq->mr_deadline;
	t->t_row = row;
	row = NULL;
	t->t_manifest = json_object_get(t->t_row, "manifest");
	if (json_array_size(json_object_get(body, "attachments")) > 0)
		t->t_attachments = json_incref(json_object_get(body,
		    "attachments"));
	/* A group or channel message names its sender (notes 4.3). */
	if (sender != NULL && *sender != '\0' && (group || chan != NULL)) {
		len = strlen(sender) + strlen(msg) + 5;
		if ((text = malloc(len)) != NULL) {
			snprintf(text, len, "[%s]: %s", sender, msg);
			t->t_user = json_string(text);
			free(text);
		}
	} else
		t->t_user = json_string(msg);
	stream = json_string_value(json_object_get(rq->mr_caller, "stream"));
	stream_id = json_string_value(json_object_get(rq->mr_caller,
	    "stream_id"));
	if (stream != NULL && stream_id != NULL && *stream != '\0') {
		t->t_stream = strdup(stream);
		t->t_stream_id = strdup(stream_id);
	}
	if (t->t_user == NULL || (stream != NULL && stream_id != NULL &&
	    *stream != '\0' && (t->t_stream == NULL ||
	    t->t_stream_id == NULL))) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	if (key != NULL) {
		if ((rv = turn_idem_claim(c, rq, key, id, t->t_idem_run,
		    rp)) < 1)
			goto done;
		snprintf(t->t_idem_key, sizeof(t->t_idem_key), "%s", key);
		t->t_idem_locked = 1;	/* turn_free() lets go */
		t->t_idem_takeover = rv == 2;
	}
	if ((t->t_pending = svc_defer(rq, rp)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	if (turn_queue(t, turn_job_start, 0) != 0) {
		/* turn_free answers the deferred request. */
		turn_free(t);
	}
	t = NULL;
 done:
	if (t != NULL)
		turn_free(t);
	json_decref(origin);
	json_decref(row);
}

/* ---- sessions.compact ------------------------------------------------ */

static void
op_compact(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct turn	*t;
	json_t		*row;
	char		 id[UTIL_UUID_LEN];

	if ((row = fetch_agent(c, rq, rp, id)) == NULL)
		return;
	if (turn_stopping()) {
		json_decref(row);
		svc_reply_error(rp, 503, "agent-runtime is shutting down");
		return;
	}
	if ((t = turn_new(c->sc_arg, TURN_COMPACT)) == NULL) {
		json_decref(row);
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	snprintf(t->t_agent_id, sizeof(t->t_agent_id), "%s", id);
	snprintf(t->t_session_id, sizeof(t->t_session_id), "%s",
	    current_session(row) ?: "");
	snprintf(t->t_agent_name, sizeof(t->t_agent_name), "%s",
	    json_string_value(json_object_get(row, "name")) ?: "");
	t->t_pinned = 1;
	t->t_deadline = rq->mr_deadline;
	t->t_row = row;
	t->t_manifest = json_object_get(row, "manifest");
	if ((t->t_pending = svc_defer(rq, rp)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		turn_free(t);
		return;
	}
	if (turn_queue(t, turn_job_start, 0) != 0)
		turn_free(t);
}

/* ---- views ------------------------------------------------------------- */

/* A stored role as the UI shows it. */
static const char *
ui_role(const char *r)
{
	if (r == NULL)
		return ("Unknown");
	if (strcmp(r, "user") == 0)
		return ("User");
	if (strcmp(r, "assistant") == 0)
		return ("Assistant");
	if (strcmp(r, "system") == 0)
		return ("System");
	return (r);
}

/* Messages rendered for a UI (GET .../session): text content, and each
 * assistant message's tool calls with their results. */
static json_t *
render_messages(json_t *msgs)
{
	json_t		*out = json_array(), *m, *b, *o, *tools, *call;
	json_t		*byid = json_object();
	const char	*type, *id;
	char		*text;
	size_t		 i, k;
	int		 only_results;

	if (out == NULL || byid == NULL)
		goto fail;
	json_array_foreach(msgs, i, m) {
		only_results = 1;
		tools = NULL;
		json_array_foreach(json_object_get(m, "content"), k, b) {
			type = json_string_value(json_object_get(b, "type"))
			    ?: "";
			if (strcmp(type, "tool_result") == 0) {
				id = json_string_value(json_object_get(b,
				    "tool_use_id"));
				if (id != NULL && (call = json_object_get(byid,
				    id)) != NULL) {
					json_object_set(call, "result",
					    json_object_get(b, "content"));
					json_object_set(call, "is_error",
					    json_object_get(b, "is_error"));
				}
				continue;
			}
			only_results = 0;
			if (strcmp(type, "tool_use") != 0)
				continue;
			if (tools == NULL && (tools = json_array()) == NULL)
				goto fail;
			call = json_pack("{s:O?, s:O?, s:O?}", "id",
			    json_object_get(b, "id"), "name",
			    json_object_get(b, "name"), "input",
			    json_object_get(b, "input"));
			if (call == NULL)
				goto fail;
			json_array_append_new(tools, call);
			if ((id = json_string_value(json_object_get(b, "id")))
			    != NULL)
				json_object_set(byid, id, call);
		}
		if (json_is_array(json_object_get(m, "content")) &&
		    only_results && json_array_size(json_object_get(m,
		    "content")) > 0) {
			json_decref(tools);
			continue;
		}
		if ((text = session_content_text(json_object_get(m,
		    "content"))) == NULL)
			goto fail;
		o = json_pack("{s:s, s:s}", "role", ui_role(json_string_value(
		    json_object_get(m, "role"))), "content", text);
		free(text);
		if (o == NULL)
			goto fail;
		if (tools != NULL)
			json_object_set_new(o, "tools", tools);
		if (json_is_string(json_object_get(m, "timestamp")))
			json_object_set(o, "timestamp", json_object_get(m,
			    "timestamp"));
		json_array_append_new(out, o);
	}
	json_decref(byid);
	return (out);
 fail:
	json_decref(byid);
	json_decref(out);
	return (NULL);
}

static void
op_current(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*row, *s, *msgs;
	char		 id[UTIL_UUID_LEN];
	const char	*sid;
	int		 err;

	if ((row = fetch_agent(c, rq, rp, id)) == NULL)
		return;
	sid = current_session(row);
	if (session_ensure(c->sc_db, sid, id) == -1 ||
	    (s = session_get(c->sc_db, sid, 1, &err)) == NULL) {
		svc_reply_db_error(rp, c);
		json_decref(row);
		return;
	}
	msgs = render_messages(json_object_get(s, "messages"));
	svc_reply_json(rp, 200, msgs == NULL ? NULL : json_pack(
	    "{s:s, s:s, s:O, s:O, s:O?, s:o}", "session_id", sid,
	    "agent_id", id, "message_count", json_object_get(s,
	    "message_count"), "context_window_tokens", json_object_get(s,
	    "context_window_tokens"), "label", json_object_get(s, "label"),
	    "messages", msgs));
	json_decref(s);
	json_decref(row);
}

/* A session row as lists show it (new). */
static json_t *
session_item(json_t *s, const char *current)
{
	const char	*sid = json_string_value(json_object_get(s,
			    "session_id"));

	return (json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:b, s:b}",
	    "session_id", json_object_get(s, "session_id"),
	    "agent_id", json_object_get(s, "agent_id"),
	    "message_count", json_object_get(s, "message_count"),
	    "created_at", json_object_get(s, "created_at"),
	    "updated_at", json_object_get(s, "updated_at"),
	    "label", json_object_get(s, "label"),
	    "active", json_is_true(json_object_get(s, "active")),
	    "is_canonical", current != NULL && sid != NULL &&
	    strcmp(sid, current) == 0));
}

static json_t *
session_items(json_t *rows, const char *current)
{
	json_t	*out = json_array(), *s, *o;
	size_t	 i;

	if (out == NULL)
		return (NULL);
	json_array_foreach(rows, i, s) {
		if ((o = session_item(s, current)) == NULL ||
		    json_array_append_new(out, o) != 0) {
			json_decref(out);
			return (NULL);
		}
	}
	return (out);
}

static void
op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*row, *rows, *items;
	char		 id[UTIL_UUID_LEN];
	long long	 limit, offset;

	if (query_num(rq, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT, &limit,
	    rp) != 0 || query_num(rq, "offset", 0, INT32_MAX, 0, &offset,
	    rp) != 0 || (row = fetch_agent(c, rq, rp, id)) == NULL)
		return;
	if (session_ensure(c->sc_db, current_session(row), id) == -1 ||
	    (rows = session_list(c->sc_db, id, limit, offset)) == NULL) {
		svc_reply_db_error(rp, c);
		json_decref(row);
		return;
	}
	items = session_items(rows, current_session(row));
	svc_reply_json(rp, 200, items ? json_pack("{s:o}", "sessions", items) :
	    NULL);
	json_decref(rows);
	json_decref(row);
}

static const char *const create_keys[] = { "label", NULL };

static void
op_create(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*row, *body = rq->mr_body;
	char		 id[UTIL_UUID_LEN], sid[UTIL_UUID_LEN];
	char		 label[LABEL_MAX + 1];
	const char	*l = NULL;
	int		 rv;

	if (json_is_null(body))
		body = NULL;
	if ((body != NULL && (agent_body_keys(body, create_keys, rp) != 0 ||
	    agent_get_str(body, "label", 1, 4096, &l, rp) != 0)) ||
	    (l != NULL && check_label(l, label, sizeof(label), rp) != 0))
		return;
	if ((row = fetch_agent(c, rq, rp, id)) == NULL)
		return;
	json_decref(row);
	util_uuid4(sid);
	rv = session_create(c->sc_db, sid, id, l != NULL ? label : NULL);
	if (rv == SESSION_ELABEL) {
		svc_reply_error(rp, 409, "the agent already has a session "
		    "labelled '%s'", label);
		return;
	}
	if (rv != 0 || session_point(c->sc_db, id, sid) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:s?}", "session_id", sid,
	    "label", l != NULL ? label : NULL));
}

static void
op_switch(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t	*row;
	char	 id[UTIL_UUID_LEN], sid[UTIL_UUID_LEN];

	if (param_uuid(rq, PARAM_SESSION_ID, "session", rp, sid) != 0 ||
	    (row = fetch_agent(c, rq, rp, id)) == NULL)
		return;
	if (check_session(c, row, id, sid, 0, rp) == 0) {
		if (session_ensure(c->sc_db, sid, id) != 0 ||
		    session_point(c->sc_db, id, sid) != 0)
			svc_reply_db_error(rp, c);
		else
			svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:s}",
			    "status", "switched", "agent_id", id,
			    "session_id", sid));
	}
	json_decref(row);
}

static void
op_by_label(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*row, *s;
	char		 id[UTIL_UUID_LEN], label[LABEL_MAX + 1];
	const char	*l = json_string_value(json_object_get(rq->mr_params,
			    PARAM_LABEL));
	int		 err;

	if (l == NULL) {
		svc_reply_error(rp, 400, "label is required");
		return;
	}
	if (check_label(l, label, sizeof(label), rp) != 0 ||
	    (row = fetch_agent(c, rq, rp, id)) == NULL)
		return;
	if ((s = session_by_label(c->sc_db, id, label, &err)) == NULL) {
		if (err == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "No session labelled '%s'",
			    label);
		else
			svc_reply_db_error(rp, c);
	} else {
		svc_reply_json(rp, 200, session_item(s, current_session(row)));
		json_decref(s);
	}
	json_decref(row);
}

/* Stops the agent's turns, deletes its sessions, points it at a new one
 * and replies status with the new id. */
static void
fresh_start(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp,
    const char *status)
{
	json_t	*row;
	char	 id[UTIL_UUID_LEN], sid[UTIL_UUID_LEN];

	if ((row = fetch_agent(c, rq, rp, id)) == NULL)
		return;
	json_decref(row);
	turn_control(c->sc_arg, id, NULL);
	util_uuid4(sid);
	if (session_delete_agent(c->sc_db, id) < 0 ||
	    session_create(c->sc_db, sid, id, NULL) != 0 ||
	    session_point(c->sc_db, id, sid) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:s}", "status", status,
	    "agent_id", id, "new_session_id", sid));
}

static void
op_clear_history(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	fresh_start(c, rq, rp, "cleared");
}

static void
op_reset(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	fresh_start(c, rq, rp, "reset");
}

/* ---- stop, interrupt ------------------------------------------------- */

static void
op_stop(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t	*row;
	char	 id[UTIL_UUID_LEN];

	if ((row = fetch_agent(c, rq, rp, id)) == NULL)
		return;
	json_decref(row);
	if (session_set_interrupt(c->sc_db, id, NULL) < 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	turn_control(c->sc_arg, id, NULL);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "stopped",
	    "message", "Agent run cancelled"));
}

static void
op_interrupt(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t	*row;
	char	 id[UTIL_UUID_LEN], sid[UTIL_UUID_LEN];
	int	 n;

	if (param_uuid(rq, PARAM_SESSION_ID, "session", rp, sid) != 0 ||
	    (row = fetch_agent(c, rq, rp, id)) == NULL)
		return;
	if (check_session(c, row, id, sid, 0, rp) != 0) {
		json_decref(row);
		return;
	}
	json_decref(row);
	if ((n = session_set_interrupt(c->sc_db, id, sid)) < 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	turn_control(c->sc_arg, id, sid);
	svc_reply_json(rp, 204, json_null());
}

/* ---- trajectory (notes 5.5) ------------------------------------------- */

struct redactor {
	regex_t	rx_jwt;
	regex_t	rx_key;
	regex_t	rx_b64;
	int	ok;
};

static pthread_once_t	 redact_once = PTHREAD_ONCE_INIT;
static struct redactor	 redact;

static void
redact_init(void)
{
	redact.ok = regcomp(&redact.rx_jwt, "eyJ[A-Za-z0-9_-]+\\."
	    "[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+", REG_EXTENDED) == 0 &&
	    regcomp(&redact.rx_key, "(sk|api[_-]?key|key|token|secret|bearer)"
	    "[-_:= \"']+[A-Za-z0-9_.+/=-]{16,}", REG_EXTENDED | REG_ICASE) ==
	    0 &&
	    regcomp(&redact.rx_b64, "[A-Za-z0-9+/]{41,}={0,2}",
	    REG_EXTENDED) == 0;
}

static int
all_hex(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return (0);
	return (1);
}

/* Replaces every match of rx in s (new); hex-only runs pass when
 * keep_hex.  NULL on ENOMEM. */
static char *
redact_rx(const char *s, regex_t *rx, int keep_hex)
{
	struct buf	 b = BUF_INIT(SIZE_MAX / 2);
	regmatch_t	 m;
	const char	*p = s;
	size_t		 n;

	while (*p != '\0' && regexec(rx, p, 1, &m, p == s ? 0 : REG_NOTBOL)
	    == 0) {
		n = (size_t)(m.rm_eo - m.rm_so);
		if (buf_add(&b, p, (size_t)m.rm_so) != 0 ||
		    ((keep_hex && all_hex(p + m.rm_so, n)) ?
		    buf_add(&b, p + m.rm_so, n) : buf_adds(&b,
		    "<REDACTED>")) != 0)
			return (NULL);
		p += m.rm_eo;
		if (n == 0) {
			if (*p == '\0' || buf_add(&b, p, 1) != 0)
				break;
			p++;
		}
	}
	if (buf_adds(&b, p) != 0)
		return (NULL);
	return (buf_detach(&b));
}

/* The redacted form of s (new json string). */
static json_t *
redact_str(const char *s, const char *ws)
{
	struct buf	 b = BUF_INIT(SIZE_MAX / 2);
	char		*a, *c, *d;
	const char	*p, *hit;
	json_t		*out;
	size_t		 wl = ws != NULL ? strlen(ws) : 0;

	pthread_once(&redact_once, redact_init);
	if (s == NULL)
		return (json_string(""));
	if (!redact.ok)
		return (json_string("<REDACTED>"));
	if ((a = redact_rx(s, &redact.rx_jwt, 0)) == NULL)
		return (NULL);
	c = redact_rx(a, &redact.rx_key, 0);
	free(a);
	if (c == NULL)
		return (NULL);
	d = redact_rx(c, &redact.rx_b64, 1);
	free(c);
	if (d == NULL)
		return (NULL);
	if (wl == 0) {
		out = json_string(d);
		free(d);
		return (out);
	}
	for (p = d; (hit = strstr(p, ws)) != NULL; p = hit + wl)
		if (buf_add(&b, p, (size_t)(hit - p)) != 0 ||
		    buf_adds(&b, "<WORKSPACE>") != 0)
			break;
	(void)buf_adds(&b, p);
	free(d);
	a = buf_detach(&b);
	out = a ? json_string(a) : NULL;
	free(a);
	return (out);
}

static json_t *
redact_value(json_t *v, const char *ws)
{
	json_t		*o, *e;
	const char	*k;
	size_t		 i;

	if (json_is_string(v))
		return (redact_str(json_string_value(v), ws));
	if (json_is_array(v)) {
		o = json_array();
		json_array_foreach(v, i, e)
			json_array_append_new(o, redact_value(e, ws));
		return (o);
	}
	if (json_is_object(v)) {
		o = json_object();
		json_object_foreach(v, k, e)
			json_object_set_new(o, k, redact_value(e, ws));
		return (o);
	}
	return (json_incref(v));
}

static json_t *
redact_block(json_t *b, const char *ws)
{
	const char	*type = json_string_value(json_object_get(b, "type"))
			    ?: "";

	if (strcmp(type, "text") == 0)
		return (json_pack("{s:s, s:o}", "type", "text", "text",
		    redact_value(json_object_get(b, "text"), ws)));
	if (strcmp(type, "thinking") == 0)
		return (json_pack("{s:s, s:o}", "type", "thinking", "thinking",
		    redact_value(json_object_get(b, "thinking"), ws)));
	if (strcmp(type, "tool_use") == 0)
		return (json_pack("{s:s, s:O?, s:O?, s:o}", "type", "tool_use",
		    "id", json_object_get(b, "id"), "name", json_object_get(b,
		    "name"), "input", redact_value(json_object_get(b,
		    "input"), ws)));
	if (strcmp(type, "tool_result") == 0)
		return (json_pack("{s:s, s:O?, s:O?, s:o, s:b}", "type",
		    "tool_result", "tool_use_id", json_object_get(b,
		    "tool_use_id"), "tool_name", json_object_get(b,
		    "tool_name"), "content", redact_value(json_object_get(b,
		    "content"), ws), "is_error", json_is_true(json_object_get(b,
		    "is_error"))));
	if (strcmp(type, "image") == 0)
		return (json_pack("{s:s, s:O?, s:I}", "type", "image",
		    "media_type", json_object_get(b, "media_type"),
		    "data_bytes", (json_int_t)(json_string_length(
		    json_object_get(b, "data")) * 3 / 4)));
	if (strcmp(type, "image_file") == 0)
		return (json_pack("{s:s, s:O?, s:o}", "type", "image_file",
		    "media_type", json_object_get(b, "media_type"), "path",
		    redact_value(json_object_get(b, "path"), ws)));
	return (json_pack("{s:s}", "type", "unknown"));
}

static json_t *
redact_message(json_t *m, const char *ws)
{
	json_t	*c = json_object_get(m, "content"), *blocks, *b;
	size_t	 i;

	if ((blocks = json_array()) == NULL)
		return (NULL);
	if (json_is_string(c))
		json_array_append_new(blocks, json_pack("{s:s, s:o}", "type",
		    "text", "text", redact_value(c, ws)));
	else
		json_array_foreach(c, i, b)
			json_array_append_new(blocks, redact_block(b, ws));
	return (json_pack("{s:O?, s:b, s:O?, s:o}", "role",
	    json_object_get(m, "role"), "pinned", json_is_true(
	    json_object_get(m, "pinned")), "timestamp", json_object_get(m,
	    "timestamp"), "content", blocks));
}

static void
op_trajectory(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*row = NULL, *s = NULL, *meta = NULL, *msgs = NULL, *m;
	json_t		*model, *line;
	char		 id[UTIL_UUID_LEN], sid[UTIL_UUID_LEN], ws[PATH_MAX];
	char		 hash[65], now[32], *js;
	const char	*fmt, *sp, *owner, *wsp = NULL;
	struct buf	 b = BUF_INIT(MSG_MAX_SIZE);
	size_t		 i;
	int		 err;

	fmt = json_string_value(json_object_get(rq->mr_query, "format"));
	if (fmt != NULL && strcmp(fmt, "json") != 0 &&
	    strcmp(fmt, "jsonl") != 0) {
		svc_reply_error(rp, 400, "format must be json or jsonl");
		return;
	}
	if (param_uuid(rq, PARAM_SESSION_ID, "session", rp, sid) != 0 ||
	    (row = fetch_agent(c, rq, rp, id)) == NULL)
		return;
	if ((s = session_get(c->sc_db, sid, 1, &err)) == NULL) {
		if (err == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "Session not found");
		else
			svc_reply_db_error(rp, c);
		goto done;
	}
	owner = json_string_value(json_object_get(s, "agent_id"));
	if (owner == NULL || strcmp(owner, id) != 0) {
		svc_reply_error(rp, 404, "Session not found");
		goto done;
	}
	if (tool_workspace(c->sc_cfg, json_string_value(json_object_get(row,
	    "name")) ?: "", ws, sizeof(ws)) == 0)
		wsp = ws;
	model = json_object_get(json_object_get(row, "manifest"), "model");
	sp = json_string_value(json_object_get(model, "system_prompt")) ?: "";
	(void)util_sha256_hex(sp, strlen(sp), hash);
	util_rfc3339(util_wall_ms(), now);
	meta = json_pack("{s:s, s:O, s:s, s:O?, s:O?, s:O?, s:s, s:O, s:O, "
	    "s:s, s:s, s:b, s:b}", "agent_id", id, "agent_name",
	    json_object_get(row, "name"), "session_id", sid, "session_label",
	    json_object_get(s, "label"), "model", json_object_get(model,
	    "model"), "provider", json_object_get(model, "provider"),
	    "system_prompt_sha256", hash, "message_count", json_object_get(s,
	    "message_count"), "context_window_tokens", json_object_get(s,
	    "context_window_tokens"), "exported_at", now, "librefang_version",
	    LIBREFANG_VERSION, "redaction_credentials", 1,
	    "redaction_workspace_paths", wsp != NULL);
	if (meta == NULL || (msgs = json_array()) == NULL)
		goto oom;
	json_array_foreach(json_object_get(s, "messages"), i, m)
		if (json_array_append_new(msgs, redact_message(m, wsp)) != 0)
			goto oom;
	if (fmt == NULL || strcmp(fmt, "json") == 0) {
		svc_reply_json(rp, 200, json_pack("{s:i, s:O, s:O}",
		    "schema_version", 1, "metadata", meta, "messages", msgs));
		goto done;
	}
	line = json_pack("{s:s, s:i, s:O}", "kind", "metadata",
	    "schema_version", 1, "metadata", meta);
	js = line ? json_dumps(line, MSG_JSON_FLAGS) : NULL;
	json_decref(line);
	if (js == NULL || buf_addf(&b, "%s\n", js) != 0) {
		free(js);
		goto oom;
	}
	free(js);
	json_array_foreach(msgs, i, m) {
		line = json_pack("{s:s, s:i, s:O}", "kind", "message", "index",
		    (int)i, "message", m);
		js = line ? json_dumps(line, MSG_JSON_FLAGS) : NULL;
		json_decref(line);
		if (js == NULL || buf_addf(&b, "%s\n", js) != 0) {
			free(js);
			goto oom;
		}
		free(js);
	}
	svc_reply_json(rp, 200, json_string(b.b_data ? b.b_data : ""));
	rp->sr_ctype = "application/x-ndjson";
	goto done;
 oom:
	svc_reply_error(rp, 500, "out of memory");
 done:
	buf_release(&b);
	json_decref(meta);
	json_decref(msgs);
	json_decref(s);
	json_decref(row);
}

/* ---- /api/sessions ------------------------------------------------------ */

static void
op_list_all(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*rows, *items;
	const char	*aid;
	long long	 limit, offset;

	if (query_num(rq, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT, &limit,
	    rp) != 0 || query_num(rq, "offset", 0, INT32_MAX, 0, &offset,
	    rp) != 0)
		return;
	aid = json_string_value(json_object_get(rq->mr_query, "agent_id"));
	if (aid != NULL && !util_uuid_valid(aid)) {
		svc_reply_error(rp, 400, "Invalid agent ID");
		return;
	}
	if ((rows = session_list(c->sc_db, aid, limit, offset)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	items = session_items(rows, NULL);
	json_decref(rows);
	svc_reply_list(rp, "sessions", items);
}

static void
op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t	*s, *m;
	char	 sid[UTIL_UUID_LEN];
	size_t	 i;
	int	 err;

	if (param_uuid(rq, PARAM_ID, "session", rp, sid) != 0)
		return;
	if ((s = session_get(c->sc_db, sid, 1, &err)) == NULL) {
		if (err == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "Session not found");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	/* The idempotency key a message names (turn/machine.c) is ours. */
	json_array_foreach(json_object_get(s, "messages"), i, m)
		json_object_del(m, "turn_key");
	svc_reply_json(rp, 200, s);
}

static void
op_delete(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char	sid[UTIL_UUID_LEN], aid[UTIL_UUID_LEN];
	int	rv;

	if (param_uuid(rq, PARAM_ID, "session", rp, sid) != 0)
		return;
	if ((rv = session_delete(c->sc_db, sid, aid)) == SH_ENOTFOUND) {
		svc_reply_error(rp, 404, "Session not found");
		return;
	}
	if (rv != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	turn_control(c->sc_arg, aid, sid);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "deleted",
	    "session_id", sid));
}

static const char *const label_keys[] = { "label", NULL };

static void
op_label(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 sid[UTIL_UUID_LEN], label[LABEL_MAX + 1];
	const char	*l;
	int		 rv;

	if (param_uuid(rq, PARAM_ID, "session", rp, sid) != 0 ||
	    agent_body_keys(rq->mr_body, label_keys, rp) != 0 ||
	    agent_get_str(rq->mr_body, "label", 1, 4096, &l, rp) != 0 ||
	    (l != NULL && check_label(l, label, sizeof(label), rp) != 0))
		return;
	rv = session_set_label(c->sc_db, sid, l != NULL ? label : NULL);
	if (rv == SH_ENOTFOUND)
		svc_reply_error(rp, 404, "Session not found");
	else if (rv == SESSION_ELABEL)
		svc_reply_error(rp, 409, "the agent already has a session "
		    "labelled '%s'", label);
	else if (rv != 0)
		svc_reply_db_error(rp, c);
	else
		svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:s?}", "status",
		    "updated", "session_id", sid, "label", l != NULL ? label :
		    NULL));
}

static void
op_cleanup(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	long long	n;

	(void)rq;
	if ((n = session_cleanup(c->sc_db)) < 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:I}", "status", "ok",
	    "deleted", (json_int_t)n));
}

static void
op_search(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*rows;
	const char	*q, *aid;
	long long	 limit;

	q = json_string_value(json_object_get(rq->mr_query, "q"));
	aid = json_string_value(json_object_get(rq->mr_query, "agent_id"));
	if (q == NULL || *q == '\0' || strlen(q) > 512) {
		svc_reply_error(rp, 400, "'q' is required (1 to 512 bytes)");
		return;
	}
	if (aid != NULL && !util_uuid_valid(aid)) {
		svc_reply_error(rp, 400, "Invalid agent ID");
		return;
	}
	if (query_num(rq, "limit", 1, LIST_LIMIT_MAX, 50, &limit, rp) != 0)
		return;
	if ((rows = session_search(c->sc_db, q, aid, limit)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:o, s:I}", "results", rows, "total",
	    (json_int_t)json_array_size(rows)));
}

const struct svc_op turn_ops[] = {
	{ OP_AGENTS_MESSAGE,		op_message },
	{ OP_AGENTS_STOP,		op_stop },
	{ OP_SESSIONS_CURRENT,		op_current },
	{ OP_SESSIONS_LIST,		op_list },
	{ OP_SESSIONS_CREATE,		op_create },
	{ OP_SESSIONS_SWITCH,		op_switch },
	{ OP_SESSIONS_BY_LABEL,		op_by_label },
	{ OP_SESSIONS_CLEAR_HISTORY,	op_clear_history },
	{ OP_SESSIONS_RESET,		op_reset },
	{ OP_SESSIONS_COMPACT,		op_compact },
	{ OP_SESSIONS_INTERRUPT,		op_interrupt },
	{ OP_SESSIONS_TRAJECTORY,	op_trajectory },
	{ OP_SESSIONS_LIST_ALL,		op_list_all },
	{ OP_SESSIONS_GET,		op_get },
	{ OP_SESSIONS_DELETE,		op_delete },
	{ OP_SESSIONS_LABEL,		op_label },
	{ OP_SESSIONS_CLEANUP,		op_cleanup },
	{ OP_SESSIONS_SEARCH,		op_search },
	{ NULL,				NULL }
};
