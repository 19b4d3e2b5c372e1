/*
 * gw_openai.c - the OpenAI-compatible edge: POST /v1/chat/completions and
 * GET /v1/models (spec 000 "OpenAI-Compatible API", notes protocols.md
 * 5.1), translated to the ops every other route uses.
 *
 * A completion is a short chain of bus calls, each started from the
 * connection's own thread:
 *
 *	agents.list		resolve "model" to an agent (librefang:<name>,
 *				a UUID, a plain name, else the first agent),
 *				unless the last listing, kept for a second,
 *				names it (OAI_CACHE_MS)
 *	uploads.create		once per image part (data: URIs), so the turn
 *				can name them as attachments like the native
 *				route does
 *	agents.message		the turn: a plain call when not streaming, or
 *				gw_turn_start() (events on the bus) when it is
 *
 * The first call goes out with gw_call(); its callback only keeps the
 * reply, and the resumed connection comes back through gr_queue
 * (oai_resume), which looks at it and starts the next call, or queues
 * the answer.  So no bus call is ever started from an nng thread, and
 * every answer, error or not, is built on the connection's thread.
 *
 * Only the last user message goes to the agent (the agent keeps its own
 * session and system prompt, as upstream does); system, assistant and
 * tool messages are checked for shape and otherwise not used.
 * temperature and max_tokens (or max_completion_tokens) go with the turn,
 * whose provider calls use them instead of the manifest's; the runtime
 * bounds max_tokens by the model's max output.
 *
 * Streaming follows gw_stream.c, through the same writer (gw_sse.c): the
 * response starts with the first event, so a turn the runtime refuses at
 * once is still a plain JSON error with its status.  Frames are OpenAI
 * chunks ("data: {json}"): the role, content deltas, the agent's own tool
 * calls as tool_calls deltas (keyed by index; their arguments when the
 * tool ran), a last chunk with finish_reason and usage, a usage-only
 * chunk with stream_options.include_usage, and "data: [DONE]".  A turn
 * that fails mid-stream sends {"error": {...}} and then [DONE].
 *
 * Not streamed, a turn in which the agent called tools is answered as the
 * reference answers it: the final text, finish_reason "stop", no
 * tool_calls (they were the agent's own, already run).
 *
 * Every error under /v1 has OpenAI's shape, {"error": {"message", "type",
 * "param", "code"}}: this file's through oai_error(), and the gateway's
 * own (auth, limits, routing, bus failures) through gw_error_body(),
 * which calls gw_openai_error() for a /v1 path.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bus.h"
#include "err.h"
#include "gateway.h"
#include "log.h"
#include "services.h"

#define OAI_IMAGES_MAX		20	/* the runtime's attachments cap */
#define OAI_TEXT_MAX		(4 * 1024 * 1024)	/* the runtime says
							   413 past its own */
#define OAI_PREFIX		"librefang:"
#define OAI_OWNER		"librefang"

enum oai_step {
	OAI_LIST = 0,		/* agents.list in flight */
	OAI_UPLOAD,		/* uploads.create of o_images[o_nup] */
	OAI_TURN,		/* agents.message, not streamed */
	OAI_STREAM		/* a streamed turn */
};

struct gw_oai {
	struct gw_req		*o_gr;
	enum oai_step		 o_step;

	/* the request */
	char			*o_model;	/* as the client sent it */
	int			 o_want_stream;
	int			 o_want_usage;	/* include_usage */
	char			*o_text;	/* the last user message */
	json_t			*o_temperature;	/* a number, or NULL */
	json_int_t		 o_max_tokens;	/* 0: none asked */
	json_t			*o_images;	/* [{content_type, data}] */
	size_t			 o_nup;		/* uploaded so far */
	json_t			*o_attach;	/* [{file_id, ...}] */
	char			 o_id[48];	/* chatcmpl-<uuid> */
	json_int_t		 o_created;
	char			 o_agent_id[UTIL_UUID_LEN];
	char			*o_agent_name;
	int			 o_cached;	/* named by the cache */
	int			 o_retried;	/* resolved afresh after */

	/* the last bus reply (gw_call's callback keeps it here) */
	int			 o_err;
	int			 o_status;
	json_t			*o_body;

	/* the stream; o_sse's mutex guards it and the rest below */
	struct gw_turn		*o_turn;
	struct gw_sse		 o_sse;
	int			 o_ntools;	/* tool calls announced */
	char			 o_tool_id[128]; /* the last one's id */
	int			 o_retry;	/* resolve again (oai_resume) */
};

/* ---- errors ---------------------------------------------------------- */

int
gw_openai_path(const char *path)
{
	return (path != NULL && strncmp(path, "/v1", 3) == 0 &&
	    (path[3] == '\0' || path[3] == '/'));
}

static const char *
oai_error_type(int status)
{
	switch (status) {
	case 401:
		return ("authentication_error");
	case 403:
		return ("permission_error");
	case 429:
		return ("rate_limit_error");
	default:
		return (status >= 500 ? "api_error" : "invalid_request_error");
	}
}

json_t *
gw_openai_error(int status, const char *param, const char *code,
    const char *msg)
{
	if (code == NULL && status == 401)
		code = "invalid_api_key";
	else if (code == NULL && status == 429)
		code = "rate_limit_exceeded";
	return (json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message",
	    msg, "type", oai_error_type(status), "param", param, "code",
	    code));
}

/* gw_openai_error() with a formatted message (new). */
static json_t *
oai_error(int status, const char *param, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static json_t *
oai_error(int status, const char *param, const char *code,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return (gw_openai_error(status, param, code, msg));
}

/* An error reply of a service ({"error": "..."} and a status) in
 * OpenAI's shape (new). */
static json_t *
oai_error_of(int status, json_t *body, const char *code)
{
	const char	*msg;

	msg = json_string_value(json_object_get(body, "error"));
	if (msg == NULL)
		msg = json_string_value(json_object_get(body, "message"));
	return (oai_error(status, NULL, code, "%s", msg != NULL ? msg :
	    "the request failed"));
}

/* The reply gw_reply_json() left in gr, queued from the connection's
 * thread (a gr_queue hook, which cannot return to gw_http.c's own). */
static enum MHD_Result
oai_queue_reply(struct gw_req *gr)
{
	struct MHD_Response	*resp;

	if (gr->gr_status == 0)
		gw_reply_json(gr, 500, oai_error(500, NULL, NULL, "no reply"));
	resp = MHD_create_response_from_buffer(gr->gr_rlen, gr->gr_rdata,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		gr->gr_phase = GR_DONE;	/* the connection closes */
		return (MHD_NO);
	}
	gr->gr_rdata = NULL;		/* the response owns it now */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	return (gw_queue_response(gr, (unsigned int)gr->gr_status, resp));
}

/* ---- the request ----------------------------------------------------- */

/* Reads an image part's data: URI into {content_type, data}.  0, or -1
 * with a 400 message in err. */
static int
oai_image(json_t *part, json_t *images, char *err, size_t errlen)
{
	static const char *const types[] = { "image/png", "image/jpeg",
	    "image/gif", "image/webp", NULL };
	json_t		*iu = json_object_get(part, "image_url");
	const char	*url, *comma, *semi;
	size_t		 i, n;

	if (json_is_object(iu))
		iu = json_object_get(iu, "url");
	if ((url = json_string_value(iu)) == NULL) {
		snprintf(err, errlen, "an image_url part needs "
		    "'image_url.url', a string");
		return (-1);
	}
	if (strncasecmp(url, "data:", 5) != 0) {
		/* Fetching a client's URL would be a way through to the
		 * network behind us: only inline images. */
		snprintf(err, errlen, "image_url must be a data: URI "
		    "(data:image/png;base64,...); URLs are not fetched");
		return (-1);
	}
	if ((comma = strchr(url, ',')) == NULL ||
	    (semi = memchr(url, ';', (size_t)(comma - url))) == NULL ||
	    (size_t)(comma - semi) != 7 || strncasecmp(semi, ";base64", 7) !=
	    0) {
		snprintf(err, errlen, "image_url: a data: URI must be "
		    "base64 (data:<type>;base64,<data>)");
		return (-1);
	}
	n = (size_t)(semi - url) - 5;
	for (i = 0; types[i] != NULL; i++)
		if (strlen(types[i]) == n && strncasecmp(url + 5, types[i],
		    n) == 0)
			break;
	if (types[i] == NULL) {
		snprintf(err, errlen, "image_url: '%.*s' is not a supported "
		    "image type (png, jpeg, gif, webp)", (int)(n < 64 ? n : 64),
		    url + 5);
		return (-1);
	}
	if (comma[1] == '\0') {
		snprintf(err, errlen, "image_url: the data: URI has no data");
		return (-1);
	}
	if (json_array_size(images) >= OAI_IMAGES_MAX) {
		snprintf(err, errlen, "at most %d images per message",
		    OAI_IMAGES_MAX);
		return (-1);
	}
	/* Base64 is ASCII: skip jansson's UTF-8 check on megabytes. */
	if (json_array_append_new(images, json_pack("{s:s, s:o}",
	    "content_type", types[i], "data", json_stringn_nocheck(comma + 1,
	    strlen(comma + 1)))) != 0) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	return (0);
}

/*
 * The text and images of the last user message's content (a string or
 * parts).  0, or -1 with a 400 message in err.
 */
static int
oai_user_content(json_t *content, struct buf *text, json_t *images,
    char *err, size_t errlen)
{
	json_t		*part;
	const char	*type, *t;
	size_t		 i;

	if (json_is_string(content))
		return (buf_add(text, json_string_value(content),
		    json_string_length(content)) == 0 ? 0 : -1);
	if (!json_is_array(content)) {
		snprintf(err, errlen, "the user message's content must be a "
		    "string or an array of content parts");
		return (-1);
	}
	json_array_foreach(content, i, part) {
		type = json_string_value(json_object_get(part, "type"));
		if (type == NULL) {
			snprintf(err, errlen, "content part %zu needs a string "
			    "'type'", i);
			return (-1);
		}
		if (strcmp(type, "text") == 0) {
			if ((t = json_string_value(json_object_get(part,
			    "text"))) == NULL) {
				snprintf(err, errlen, "text part %zu needs a "
				    "string 'text'", i);
				return (-1);
			}
			if ((text->b_len > 0 && buf_adds(text, "\n") != 0) ||
			    buf_add(text, t, json_string_length(
			    json_object_get(part, "text"))) != 0) {
				snprintf(err, errlen, "the message is too "
				    "large");
				return (-1);
			}
		} else if (strcmp(type, "image_url") == 0) {
			if (oai_image(part, images, err, errlen) != 0)
				return (-1);
		} else {
			snprintf(err, errlen, "content part type '%.64s' is not "
			    "supported (text and image_url are)", type);
			return (-1);
		}
	}
	return (0);
}

/*
 * Checks a chat.completions body and fills o.  0, or an HTTP status with
 * the OpenAI error in *errp (new).  Unknown members are ignored, as
 * OpenAI's clients send many (user, top_p, seed, ...).
 */
static int
oai_parse(struct gw_oai *o, json_t *body, json_t **errp)
{
	static const char *const roles[] = { "system", "developer", "user",
	    "assistant", "tool", "function", NULL };
	json_t		*msgs, *m, *v, *last = NULL;
	const char	*role;
	char		 err[256];
	struct buf	 text = BUF_INIT(OAI_TEXT_MAX);
	size_t		 i, r, len;

	if (!json_is_object(body)) {
		*errp = oai_error(400, NULL, NULL, "the body must be a JSON "
		    "object");
		return (400);
	}
	v = json_object_get(body, "model");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		*errp = oai_error(400, "model", NULL, "'model' is required: "
		    "a string naming an agent (librefang:<name>, an agent id "
		    "or a name)");
		return (400);
	}
	if ((o->o_model = strdup(json_string_value(v))) == NULL)
		goto nomem;
	if ((v = json_object_get(body, "stream")) != NULL &&
	    !json_is_null(v) && !json_is_boolean(v)) {
		*errp = oai_error(400, "stream", NULL, "'stream' must be a "
		    "boolean");
		return (400);
	}
	o->o_want_stream = json_is_true(v);
	if ((v = json_object_get(body, "stream_options")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_object(v) || ((m = json_object_get(v,
		    "include_usage")) != NULL && !json_is_null(m) &&
		    !json_is_boolean(m))) {
			*errp = oai_error(400, "stream_options", NULL,
			    "'stream_options' must be an object with a "
			    "boolean 'include_usage'");
			return (400);
		}
		o->o_want_usage = json_is_true(json_object_get(v,
		    "include_usage"));
	}
	if ((v = json_object_get(body, "temperature")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_number(v) || json_number_value(v) < 0 ||
		    json_number_value(v) > 2) {
			*errp = oai_error(400, "temperature", NULL,
			    "'temperature' must be a number from 0 to 2");
			return (400);
		}
		o->o_temperature = json_incref(v);
	}
	/* max_completion_tokens replaced max_tokens: it wins when both
	 * come.  The upper bound is the model's max output, which the
	 * runtime knows (400 from the turn). */
	for (i = 0; i < 2; i++) {
		const char *k = i == 0 ? "max_tokens" : "max_completion_tokens";

		if ((v = json_object_get(body, k)) == NULL || json_is_null(v))
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			*errp = oai_error(400, k, NULL, "'%s' must be a "
			    "positive integer", k);
			return (400);
		}
		o->o_max_tokens = json_integer_value(v);
	}
	if ((v = json_object_get(body, "n")) != NULL && !json_is_null(v) &&
	    (!json_is_integer(v) || json_integer_value(v) != 1)) {
		*errp = oai_error(400, "n", NULL, "only n=1 is supported");
		return (400);
	}

	msgs = json_object_get(body, "messages");
	if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
		*errp = oai_error(400, "messages", NULL, "'messages' must be a "
		    "non-empty array");
		return (400);
	}
	json_array_foreach(msgs, i, m) {
		role = json_string_value(json_object_get(m, "role"));
		for (r = 0; role != NULL && roles[r] != NULL; r++)
			if (strcmp(role, roles[r]) == 0)
				break;
		if (role == NULL || roles[r] == NULL) {
			*errp = oai_error(400, "messages", NULL, "messages[%zu]"
			    " needs a 'role' of system, developer, user, "
			    "assistant or tool", i);
			return (400);
		}
		v = json_object_get(m, "content");
		if (v != NULL && !json_is_string(v) && !json_is_array(v) &&
		    !json_is_null(v)) {
			*errp = oai_error(400, "messages", NULL, "messages[%zu]"
			    ".content must be a string, an array of parts or "
			    "null", i);
			return (400);
		}
		if (strcmp(role, "user") == 0)
			last = m;
	}
	if (last == NULL) {
		*errp = oai_error(400, "messages", "missing_message", "no user "
		    "message in 'messages'");
		return (400);
	}
	if ((o->o_images = json_array()) == NULL)
		goto nomem;
	if (oai_user_content(json_object_get(last, "content"), &text,
	    o->o_images, err, sizeof(err)) != 0) {
		buf_release(&text);
		*errp = oai_error(400, "messages", NULL, "%s", err);
		return (400);
	}
	len = text.b_len;
	if (buf_add(&text, "", 1) != 0 || (o->o_text = buf_detach(&text)) ==
	    NULL) {
		buf_release(&text);
		*errp = oai_error(413, "messages", NULL, "the user message is "
		    "too large");
		return (413);
	}
	if (strlen(o->o_text) != len) {
		*errp = oai_error(400, "messages", NULL, "the user message "
		    "contains a NUL character");
		return (400);
	}
	return (0);
 nomem:
	*errp = oai_error(500, NULL, NULL, "out of memory");
	return (500);
}

/* ---- the stream ------------------------------------------------------ */

/* A chat.completion.chunk with one choice (delta stolen; finish NULL:
 * null) and usage (stolen, NULL: none).  New. */
static json_t *
oai_chunk(struct gw_oai *o, json_t *delta, const char *finish,
    json_t *usage)
{
	json_t	*c;

	c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s?, s:n}]}",
	    "id", o->o_id, "object", "chat.completion.chunk", "created",
	    o->o_created, "model", o->o_agent_name, "choices", "index", 0,
	    "delta", delta, "finish_reason", finish, "logprobs");
	if (c != NULL && usage != NULL)
		json_object_set_new(c, "usage", usage);
	else
		json_decref(usage);
	return (c);
}

/* Appends "data: <chunk>" (stolen).  ss_mtx held. */
static void
oai_emit(struct gw_oai *o, json_t *chunk)
{
	gw_sse_frame(&o->o_sse, NULL, chunk);
}

static json_t *
oai_usage(json_t *body)
{
	json_t		*vi = json_object_get(body, "input_tokens");
	json_t		*vo = json_object_get(body, "output_tokens");
	json_int_t	 in, out;

	in = json_is_integer(vi) ? json_integer_value(vi) : 0;
	out = json_is_integer(vo) ? json_integer_value(vo) : 0;
	return (json_pack("{s:I, s:I, s:I}", "prompt_tokens", in,
	    "completion_tokens", out, "total_tokens", in + out));
}

/* The stream's last frame and its end.  ss_mtx held. */
static void
oai_stream_end(struct gw_oai *o)
{
	gw_sse_raw(&o->o_sse, "data: [DONE]\n\n");
	gw_sse_end(&o->o_sse);
}

/* A failure once the stream has started: an error frame, then [DONE].
 * ss_mtx held. */
static void
oai_stream_error(struct gw_oai *o, int status, const char *msg)
{
	oai_emit(o, oai_error(status, NULL, NULL, "%s", msg));
	oai_stream_end(o);
}

/* One turn event (gw_turns.c), on the subscriber thread. */
static void
oai_event(void *arg, json_t *ev)
{
	struct gw_oai	*o = arg;
	const char	*type, *text, *id, *name;
	json_t		*tc, *input;
	char		*args;
	int		 index, delta;

	type = json_string_value(json_object_get(ev, "type"));
	id = json_string_value(json_object_get(ev, "id"));
	name = json_string_value(json_object_get(ev, "name"));
	pthread_mutex_lock(&o->o_sse.ss_mtx);
	if ((delta = gw_sse_delta(&o->o_sse, ev, &text)) == 0)
		goto out;
	if (delta == 1)
		oai_emit(o, oai_chunk(o, json_pack("{s:s}", "content", text),
		    NULL, NULL));
	else if (strcmp(type, "tool_use") == 0) {
		/* The agent's own tool call, announced as OpenAI streams
		 * one: index, id, name; its arguments follow. */
		index = o->o_ntools++;
		snprintf(o->o_tool_id, sizeof(o->o_tool_id), "%s", id ?: "");
		tc = json_pack("{s:i, s:s, s:s, s:{s:s, s:s}}", "index", index,
		    "id", id ?: "", "type", "function", "function", "name",
		    name ?: "", "arguments", "");
		oai_emit(o, oai_chunk(o, json_pack("{s:[o]}", "tool_calls",
		    tc), NULL, NULL));
	} else if (strcmp(type, "tool_result") == 0) {
		input = json_object_get(ev, "input");
		if ((args = input != NULL ? json_dumps(input, MSG_JSON_FLAGS) :
		    strdup("{}")) == NULL)
			goto out;
		if (o->o_ntools > 0 && id != NULL &&
		    strcmp(id, o->o_tool_id) == 0)
			tc = json_pack("{s:i, s:{s:s}}", "index",
			    o->o_ntools - 1, "function", "arguments", args);
		else {
			/* A result whose tool_use was lost: both at once. */
			index = o->o_ntools++;
			tc = json_pack("{s:i, s:s, s:s, s:{s:s, s:s}}", "index",
			    index, "id", id ?: "", "type", "function",
			    "function", "name", name ?: "", "arguments", args);
		}
		free(args);
		oai_emit(o, oai_chunk(o, json_pack("{s:[o]}", "tool_calls",
		    tc), NULL, NULL));
	} else
		goto out;	/* thinking, phases, notices: not here */
	gw_sse_wake(&o->o_sse);
 out:
	pthread_mutex_unlock(&o->o_sse.ss_mtx);
}

/* The turn's end (gw_turns.c), on an nng or the subscriber thread. */
static void
oai_done(void *arg, int err, struct msg_rep *rep)
{
	struct gw_oai	*o = arg;
	struct gw_sse	*s = &o->o_sse;
	struct gw_req	*gr = o->o_gr;
	json_t		*body, *usage;
	const char	*rest, *msg;
	size_t		 rlen;
	int		 status;

	pthread_mutex_lock(&s->ss_mtx);
	if (s->ss_closed || s->ss_finished)
		goto out;
	if (!s->ss_started && err == 0 && rep->mp_status == 404 &&
	    o->o_cached && !o->o_retried) {
		/* The cache named an agent that is gone: oai_resume()
		 * resolves the model afresh. */
		o->o_retry = 1;
		gw_sse_wake(s);
		goto out;
	}
	if (!s->ss_started && (err != 0 || rep->mp_status >= 400)) {
		/* Nothing streamed yet: an ordinary error reply. */
		if (err != 0)
			gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
		else {
			status = rep->mp_status;
			gw_reply_json(gr, status, oai_error_of(status,
			    rep->mp_body, status == 404 ? "model_not_found" :
			    NULL));
		}
		gw_sse_end(s);
		goto out;
	}
	if (err != 0) {
		oai_stream_error(o, 503, err == SH_ETIMEDOUT ? "the turn did "
		    "not finish in time" : "agent-runtime unavailable");
		goto out;
	}
	body = rep->mp_body;
	if (rep->mp_status >= 400) {
		msg = json_string_value(json_object_get(body, "error"));
		oai_stream_error(o, rep->mp_status, msg != NULL ? msg :
		    "the turn failed");
		goto out;
	}
	/* Text whose events were lost: what the reply has beyond them. */
	if ((rest = gw_sse_rest(s, json_object_get(body, "response"),
	    &rlen)) != NULL)
		oai_emit(o, oai_chunk(o, json_pack("{s:s%}", "content", rest,
		    rlen), NULL, NULL));
	usage = oai_usage(body);
	oai_emit(o, oai_chunk(o, json_object(), "stop", json_incref(usage)));
	if (o->o_want_usage)
		oai_emit(o, json_pack("{s:s, s:s, s:I, s:s, s:[], s:O}", "id",
		    o->o_id, "object", "chat.completion.chunk", "created",
		    o->o_created, "model", o->o_agent_name, "choices", "usage",
		    usage));
	json_decref(usage);
	oai_stream_end(o);
 out:
	pthread_mutex_unlock(&s->ss_mtx);
}

/* gw_sse_shutdown(): the stream has started.  ss_mtx held. */
static void
oai_stop(void *arg)
{
	oai_stream_error(arg, 503, "the gateway is shutting down");
}

static void
oai_idle(void *arg)
{
	struct gw_oai	*o = arg;

	gw_sse_idle(&o->o_sse);
}

static const struct gw_turn_ops oai_turn_ops = {
	oai_event, oai_done, oai_idle
};

/* ---- which agent "model" names ------------------------------------- */

/*
 * The last agents.list, for OAI_CACHE_MS: resolving a model costs a bus
 * call and a listing of every agent, as much as a short turn, and clients
 * name the same few models again and again.  A name the cache does not
 * have (librefang:<name> or an id) is always looked up afresh, so a new
 * agent answers at once; a deleted agent the cache still names makes its
 * turn answer 404, and the completion is resolved once more afresh.  A
 * renamed agent, or one whose name took over a fallback, shows within
 * OAI_CACHE_MS.
 */
#define OAI_CACHE_MS	1000

static pthread_mutex_t	 gw_oai_cache_mtx = PTHREAD_MUTEX_INITIALIZER;
static json_t		*gw_oai_cache;		/* agents.list's array */
static uint64_t		 gw_oai_cache_ms;	/* when it came */

/* Keeps an agents.list reply (borrowed) for the next completions. */
static void
oai_cache_put(json_t *agents)
{
	json_t	*old;

	if (!json_is_array(agents))
		return;
	pthread_mutex_lock(&gw_oai_cache_mtx);
	old = gw_oai_cache;
	gw_oai_cache = json_incref(agents);
	gw_oai_cache_ms = util_now_ms();
	pthread_mutex_unlock(&gw_oai_cache_mtx);
	json_decref(old);
}

static void
oai_cache_drop(void)
{
	json_t	*old;

	pthread_mutex_lock(&gw_oai_cache_mtx);
	old = gw_oai_cache;
	gw_oai_cache = NULL;
	pthread_mutex_unlock(&gw_oai_cache_mtx);
	json_decref(old);
}

/*
 * The agent "model" names, from agents.list's array (borrowed): by
 * librefang:<name> (or id), by id, by name, else the first agent.
 * NULL when the model names one explicitly (a prefix, a UUID) that is
 * not there, or there is no agent at all.
 */
static json_t *
oai_resolve(json_t *agents, const char *model)
{
	json_t		*a;
	const char	*want = model, *v;
	size_t		 i;
	int		 explicit = 0;

	if (strncmp(model, OAI_PREFIX, strlen(OAI_PREFIX)) == 0) {
		want = model + strlen(OAI_PREFIX);
		explicit = 1;
	}
	json_array_foreach(agents, i, a) {
		v = json_string_value(json_object_get(a, "name"));
		if (v != NULL && strcmp(v, want) == 0)
			return (a);
	}
	if (util_uuid_valid(want)) {
		explicit = 1;
		json_array_foreach(agents, i, a) {
			v = json_string_value(json_object_get(a, "id"));
			if (v != NULL && strcasecmp(v, want) == 0)
				return (a);
		}
	}
	return (explicit ? NULL : json_array_get(agents, 0));
}

/* Fills o's agent from a resolved entry (borrowed).  0, or -1 when it
 * has no usable id (or out of memory). */
static int
oai_take_agent(struct gw_oai *o, json_t *a)
{
	const char	*id, *name;

	id = json_string_value(json_object_get(a, "id"));
	name = json_string_value(json_object_get(a, "name"));
	if (id == NULL || !util_uuid_valid(id))
		return (-1);
	snprintf(o->o_agent_id, sizeof(o->o_agent_id), "%s", id);
	free(o->o_agent_name);
	if ((o->o_agent_name = strdup(name != NULL ? name : id)) == NULL)
		return (-1);
	return (0);
}

/* 1 when the cache named the agent (o filled), 0 when it must be looked
 * up. */
static int
oai_cache_get(struct gw_oai *o)
{
	json_t	*a;
	int	 hit = 0;

	pthread_mutex_lock(&gw_oai_cache_mtx);
	if (gw_oai_cache != NULL &&
	    util_now_ms() - gw_oai_cache_ms < OAI_CACHE_MS &&
	    (a = oai_resolve(gw_oai_cache, o->o_model)) != NULL)
		hit = oai_take_agent(o, a) == 0;
	pthread_mutex_unlock(&gw_oai_cache_mtx);
	return (hit);
}

/* ---- the chain --------------------------------------------------------- */

/*
 * Each step below runs on the connection's thread and returns GW_ASYNC
 * when it started a bus call or a streamed turn (the connection is
 * suspended), or 0 with the answer in gr's reply.
 */
static int	oai_list(struct gw_req *, struct gw_oai *);

/* Starts the streamed turn: the connection sleeps until its first event
 * (gw_sse_wake), and is listed for gw_sse_shutdown(). */
static int
oai_stream_start(struct gw_req *gr, struct gw_oai *o, json_t *msg)
{
	json_t	*idem;
	int	 err, rv;

	o->o_step = OAI_STREAM;
	/* The role first, as OpenAI sends it; the response itself starts
	 * with the first event. */
	pthread_mutex_lock(&o->o_sse.ss_mtx);
	oai_emit(o, oai_chunk(o, json_pack("{s:s, s:s}", "role", "assistant",
	    "content", ""), NULL, NULL));
	pthread_mutex_unlock(&o->o_sse.ss_mtx);
	if ((rv = gw_sse_suspend(&o->o_sse, oai_stop, o)) != GW_ASYNC) {
		json_decref(msg);
		return (0);	/* gw_suspend() left an error reply */
	}
	idem = gw_idem_caller(gr);
	o->o_turn = gw_turn_start(o->o_agent_id, msg, gw_conn_ip(gr->gr_conn),
	    gr->gr_principal, gr->gr_id, idem, &oai_turn_ops, o, &err);
	json_decref(idem);
	if (o->o_turn == NULL) {
		pthread_mutex_lock(&o->o_sse.ss_mtx);
		if (!o->o_sse.ss_started) {
			gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
			gw_sse_end(&o->o_sse);
		}
		pthread_mutex_unlock(&o->o_sse.ss_mtx);
	}
	return (GW_ASYNC);
}

/* Forgets a streamed turn that never started (its agent was gone), so
 * the completion can be resolved again. */
static void
oai_stream_reset(struct gw_oai *o)
{
	gw_turn_free(o->o_turn);	/* ended: no callback after this */
	o->o_turn = NULL;
	gw_sse_reset(&o->o_sse);	/* and off the registry */
	o->o_ntools = o->o_retry = 0;
}

/* gw_call()'s callback, on an nng thread: keep the reply for
 * oai_resume(), which runs once the connection is resumed (gr's reply
 * stays empty so that gw_http.c hands the connection to gr_queue). */
static void
oai_got(struct gw_req *gr, int err, struct msg_rep *rep)
{
	struct gw_oai	*o = gr->gr_ctx;

	o->o_err = err;
	if (err == 0) {
		o->o_status = rep->mp_status;
		o->o_body = json_incref(rep->mp_body);
		msg_rep_release(rep);
	}
}

/* The next bus call of the chain (body and params stolen). */
static int
oai_call(struct gw_req *gr, struct gw_oai *o, enum oai_step step,
    const char *op, json_t *params, json_t *body)
{
	/* The previous call is over: its callback has returned. */
	bus_call_free(gr->gr_call);
	gr->gr_call = NULL;
	json_decref(o->o_body);
	o->o_body = NULL;
	o->o_err = 0;
	o->o_status = 0;
	o->o_step = step;
	/* One that cannot start leaves its error reply (OpenAI-shaped on
	 * this path: gw_error_body()). */
	return (gw_call(gr, SVC_AGENT_RUNTIME, op, params, json_object(),
	    body, oai_got));
}

/* The turn, once the agent is known and the images uploaded. */
static int
oai_turn(struct gw_req *gr, struct gw_oai *o)
{
	json_t	*msg;

	/* The client's sampling goes to this turn only. */
	msg = json_pack("{s:s, s:O?}", "message", o->o_text, "temperature",
	    o->o_temperature);
	if (msg != NULL && o->o_max_tokens > 0)
		json_object_set_new(msg, "max_tokens",
		    json_integer(o->o_max_tokens));
	if (msg != NULL && json_array_size(o->o_attach) > 0)
		json_object_set(msg, "attachments", o->o_attach);
	if (msg == NULL) {
		gw_reply_json(gr, 500, oai_error(500, NULL, NULL, "out of "
		    "memory"));
		return (0);
	}
	if (o->o_want_stream)
		return (oai_stream_start(gr, o, msg));
	return (oai_call(gr, o, OAI_TURN, OP_AGENTS_MESSAGE,
	    json_pack("{s:s}", "id", o->o_agent_id), msg));
}

/* The next image's upload, or the turn when all are in. */
static int
oai_upload_next(struct gw_req *gr, struct gw_oai *o)
{
	json_t	*img;
	char	 name[32];

	if (o->o_nup >= json_array_size(o->o_images))
		return (oai_turn(gr, o));
	img = json_array_get(o->o_images, o->o_nup);
	snprintf(name, sizeof(name), "image-%zu.%s", o->o_nup + 1,
	    json_string_value(json_object_get(img, "content_type")) + 6);
	json_object_set_new(img, "filename", json_string(name));
	return (oai_call(gr, o, OAI_UPLOAD, OP_UPLOADS_CREATE,
	    json_pack("{s:s}", "id", o->o_agent_id), json_incref(img)));
}

/* The agent is known: the images, then the turn. */
static int
oai_start(struct gw_req *gr, struct gw_oai *o)
{
	o->o_nup = 0;
	json_array_clear(o->o_attach);
	return (oai_upload_next(gr, o));
}

/* Resolves the model afresh: agents.list, then oai_listed(). */
static int
oai_list(struct gw_req *gr, struct gw_oai *o)
{
	o->o_cached = 0;
	return (oai_call(gr, o, OAI_LIST, OP_AGENTS_LIST, NULL, NULL));
}

static int
oai_listed(struct gw_req *gr, struct gw_oai *o)
{
	json_t	*a;

	oai_cache_put(o->o_body);
	if ((a = oai_resolve(o->o_body, o->o_model)) == NULL ||
	    oai_take_agent(o, a) != 0) {
		if (json_array_size(o->o_body) == 0)
			gw_reply_json(gr, 404, oai_error(404, "model",
			    "model_not_found", "there is no agent to answer: "
			    "spawn one first (POST /api/agents)"));
		else
			gw_reply_json(gr, 404, oai_error(404, "model",
			    "model_not_found", "The model '%.200s' does not "
			    "exist: GET /v1/models lists the agents",
			    o->o_model));
		return (0);
	}
	return (oai_start(gr, o));
}

/* A chat.completion from agents.message's reply body (borrowed). */
static json_t *
oai_completion(struct gw_oai *o, json_t *body)
{
	json_t	*resp = json_object_get(body, "response");

	resp = json_is_string(resp) ? json_incref(resp) : json_string("");
	return (json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:o}, s:s, "
	    "s:n}], s:o}", "id", o->o_id, "object", "chat.completion",
	    "created", o->o_created, "model", o->o_agent_name, "choices",
	    "index", 0, "message", "role", "assistant", "content", resp,
	    "finish_reason", "stop", "logprobs", "usage", oai_usage(body)));
}

/* The last call's answer is in o: the next step, or the answer. */
static int
oai_next(struct gw_req *gr, struct gw_oai *o)
{
	json_t	*fid;
	int	 status;

	if (o->o_err != 0) {
		gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, o->o_err);
		return (0);
	}
	if (o->o_status == 404 && o->o_cached && !o->o_retried &&
	    o->o_step != OAI_LIST) {
		/* The cache named an agent that is gone. */
		o->o_retried = 1;
		oai_cache_drop();
		return (oai_list(gr, o));
	}
	if (o->o_status >= 400 || o->o_body == NULL) {
		status = o->o_status >= 400 ? o->o_status : 502;
		gw_reply_json(gr, status, oai_error_of(status, o->o_body,
		    status == 404 && o->o_step != OAI_LIST ?
		    "model_not_found" : NULL));
		return (0);
	}
	switch (o->o_step) {
	case OAI_LIST:
		if (!json_is_array(o->o_body))
			break;
		return (oai_listed(gr, o));
	case OAI_UPLOAD:
		fid = json_object_get(o->o_body, "file_id");
		if (!json_is_string(fid) || json_array_append_new(o->o_attach,
		    json_pack("{s:O}", "file_id", fid)) != 0)
			break;
		o->o_nup++;
		return (oai_upload_next(gr, o));
	case OAI_TURN:
		gw_reply_json(gr, 200, oai_completion(o, o->o_body));
		return (0);
	case OAI_STREAM:
		break;
	}
	gw_reply_json(gr, 502, oai_error(502, NULL, NULL, "service '%s' sent "
	    "a malformed reply", SVC_AGENT_RUNTIME));
	return (0);
}

/*
 * gr_queue: the connection was resumed with no reply set, after a bus
 * call of the chain or at a streamed turn's first event.  On the
 * connection's thread.
 */
static enum MHD_Result
oai_resume(struct gw_req *gr)
{
	struct gw_oai	*o = gr->gr_ctx;
	int		 rv;

	if (o->o_step == OAI_STREAM && !o->o_retry)
		return (gw_sse_respond(gr, &o->o_sse));
	if (o->o_step == OAI_STREAM) {
		/* The cache named an agent that is gone (oai_done). */
		oai_stream_reset(o);
		o->o_retried = 1;
		oai_cache_drop();
		rv = oai_list(gr, o);
	} else
		rv = oai_next(gr, o);
	return (rv == GW_ASYNC ? MHD_YES : oai_queue_reply(gr));
}

/* gr_cleanup: the request is over (answered, client gone, shutdown). */
static void
oai_cleanup(struct gw_req *gr)
{
	struct gw_oai	*o = gr->gr_ctx;

	if (o == NULL)
		return;
	gr->gr_ctx = NULL;
	gw_sse_close(&o->o_sse);	/* and off the registry */
	gw_turn_free(o->o_turn);	/* no callback after this */
	/* gw_req_free() frees gr_call (and waits for its callback) after
	 * this, and oai_got() uses o: finish it first. */
	bus_call_free(gr->gr_call);
	gr->gr_call = NULL;
	gw_sse_release(&o->o_sse);
	json_decref(o->o_body);
	json_decref(o->o_images);
	json_decref(o->o_attach);
	json_decref(o->o_temperature);
	free(o->o_agent_name);
	free(o->o_text);
	free(o->o_model);
	free(o);
}

int
gw_openai_chat(struct gw_req *gr)
{
	struct gw_oai	*o;
	json_error_t	 je;
	json_t		*body, *err = NULL;
	char		 uuid[UTIL_UUID_LEN];
	int		 status;

	if (gr->gr_body.b_len == 0) {
		gw_reply_json(gr, 400, oai_error(400, NULL, NULL, "missing "
		    "request body: send {\"model\": ..., \"messages\": "
		    "[...]}"));
		return (0);
	}
	if ((body = json_loadb(gr->gr_body.b_data, gr->gr_body.b_len,
	    JSON_DECODE_ANY, &je)) == NULL) {
		gw_reply_json(gr, 400, oai_error(400, NULL, NULL, "malformed "
		    "JSON: %s at line %d column %d", je.text, je.line,
		    je.column));
		return (0);
	}
	buf_release(&gr->gr_body);
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		json_decref(body);
		gw_reply_json(gr, 500, oai_error(500, NULL, NULL, "out of "
		    "memory"));
		return (0);
	}
	gw_sse_init(&o->o_sse, gr);
	o->o_gr = gr;
	util_uuid4(uuid);
	snprintf(o->o_id, sizeof(o->o_id), "chatcmpl-%s", uuid);
	o->o_created = (json_int_t)(util_wall_ms() / 1000);
	gr->gr_ctx = o;
	gr->gr_cleanup = oai_cleanup;
	gr->gr_queue = oai_resume;

	status = oai_parse(o, body, &err);
	json_decref(body);
	if (status == 0 && (o->o_attach = json_array()) == NULL) {
		status = 500;
		err = oai_error(500, NULL, NULL, "out of memory");
	}
	if (status != 0) {
		gw_reply_json(gr, status, err);
		return (0);
	}
	if (oai_cache_get(o)) {
		o->o_cached = 1;
		return (oai_start(gr, o));
	}
	return (oai_list(gr, o));
}

/* ---- GET /v1/models -------------------------------------------------- */

/* "2026-12-06T10:31:20.123456Z" as Unix seconds; 0 if unreadable. */
static json_int_t
oai_unix(const char *ts)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	if (ts == NULL || sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) !=
	    6)
		return (0);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return ((json_int_t)timegm(&tm));
}

/* agents.list's reply, on an nng thread: the agents as models. */
static void
oai_models_got(struct gw_req *gr, int err, struct msg_rep *rep)
{
	json_t		*data, *a, *m;
	const char	*name;
	char		 id[512];
	size_t		 i;

	if (err != 0) {
		gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
		return;
	}
	if (rep->mp_status >= 400 || !json_is_array(rep->mp_body)) {
		gw_reply_json(gr, rep->mp_status >= 400 ? rep->mp_status : 502,
		    oai_error_of(rep->mp_status >= 400 ? rep->mp_status : 502,
		    rep->mp_body, NULL));
		goto done;
	}
	oai_cache_put(rep->mp_body);
	if ((data = json_array()) == NULL)
		goto nomem;
	json_array_foreach(rep->mp_body, i, a) {
		if ((name = json_string_value(json_object_get(a, "name"))) ==
		    NULL)
			continue;
		snprintf(id, sizeof(id), OAI_PREFIX "%s", name);
		m = json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object",
		    "model", "created", oai_unix(json_string_value(
		    json_object_get(a, "created_at"))), "owned_by", OAI_OWNER);
		if (json_array_append_new(data, m) != 0) {
			json_decref(data);
			goto nomem;
		}
	}
	gw_reply_json(gr, 200, json_pack("{s:s, s:o}", "object", "list",
	    "data", data));
	goto done;
 nomem:
	gw_reply_json(gr, 500, oai_error(500, NULL, NULL, "out of memory"));
 done:
	msg_rep_release(rep);
}

int
gw_openai_models(struct gw_req *gr)
{
	return (gw_call(gr, SVC_AGENT_RUNTIME, OP_AGENTS_LIST, NULL,
	    json_object(), NULL, oai_models_got));
}

void
gw_openai_fini(void)
{
	oai_cache_drop();
}
