/*
 * gw_stream.c - POST /api/agents/{id}/message/stream: a turn as
 * server-sent events (notes agent-core.md 4.12).
 *
 *	event: chunk		{"content":"..","done":false}
 *	event: tool_use		{"tool":".."}
 *	event: tool_result	{"tool":"..","input":{..}}
 *	event: phase		{"phase":"..","detail":".."}
 *	event: owner_notice	{"text":".."}
 *	event: done		{"done":true,"usage":{"input_tokens":N,
 *				 "output_tokens":N}}
 *	event: error		{"error":".."}	(the turn failed mid-stream)
 *	: keep-alive		every 15 s without an event
 *
 * The request is checked, then the connection is suspended while the
 * turn starts (gw_turns.c).  The SSE response begins with the first event
 * (or after 15 s of silence); a reply that comes first is relayed as a
 * plain JSON response, so an unknown agent is an ordinary 404.  Once
 * streaming, libmicrohttpd pulls the text through a content reader; with
 * nothing to send the reader suspends the connection, and whoever adds
 * text resumes it.  Nothing polls.
 *
 * A client that goes away is noticed at the next write: the request ends
 * and gw_sse_cleanup() frees the stream and cancels the bus call (the
 * runtime finishes the turn anyway).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gateway.h"
#include "log.h"
#include "services.h"

#define GW_SSE_BLOCK		8192
#define GW_SSE_MAX_OUT		(8 * 1024 * 1024)	/* unsent bytes */
#define GW_SSE_MAX_TEXT		(1024 * 1024)	/* streamed text kept */

struct gw_sse {
	struct gw_sse		*s_next;	/* under gw_sse_mtx */
	struct gw_sse		*s_prev;
	struct gw_req		*s_gr;
	struct MHD_Connection	*s_mhd;
	struct gw_turn		*s_turn;
	pthread_mutex_t		 s_mtx;
	struct buf		 s_out;		/* text not yet sent */
	size_t			 s_off;		/* sent from s_out */
	struct buf		 s_text;	/* the chunks so far */
	int			 s_text_off;	/* s_text overflowed */
	int			 s_notice;	/* owner_notice sent */
	int			 s_started;	/* left GR_WAIT */
	int			 s_suspended;	/* by the reader */
	int			 s_finished;	/* nothing after s_out */
	int			 s_closed;	/* request over */
};

static pthread_mutex_t	 gw_sse_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct gw_sse	*gw_sse_head;
static long long	 gw_sse_n;

/* Wakes the connection if it sleeps.  s_mtx held. */
static void
gw_sse_wake(struct gw_sse *s)
{
	if (s->s_closed)
		return;
	if (!s->s_started) {
		s->s_started = 1;	/* GR_WAIT -> gw_sse_queue() */
		MHD_resume_connection(s->s_mhd);
	} else if (s->s_suspended) {
		s->s_suspended = 0;
		MHD_resume_connection(s->s_mhd);
	}
}

/* Appends one event (data is stolen).  s_mtx held. */
static void
gw_sse_emit(struct gw_sse *s, const char *event, json_t *data)
{
	char	*js;

	if (data == NULL || s->s_finished)
		goto out;
	if ((js = json_dumps(data, MSG_JSON_FLAGS)) == NULL)
		goto out;
	if (buf_addf(&s->s_out, "event: %s\ndata: %s\n\n", event, js) != 0) {
		/* The client does not read: give up on it. */
		log_warnx("%s: stream %s: too much unsent output", __func__,
		    s->s_gr->gr_id);
		s->s_finished = 1;
		s->s_off = 0;
	}
	free(js);
 out:
	json_decref(data);
}

static void
gw_sse_error(struct gw_sse *s, const char *msg)
{
	gw_sse_emit(s, "error", json_pack("{s:s}", "error", msg));
	s->s_finished = 1;
	gw_sse_wake(s);
}

static void
gw_sse_event(void *arg, json_t *ev)
{
	struct gw_sse	*s = arg;
	const char	*type, *text;
	json_t		*name;

	type = json_string_value(json_object_get(ev, "type"));
	pthread_mutex_lock(&s->s_mtx);
	if (strcmp(type, "text_delta") == 0) {
		if ((text = json_string_value(json_object_get(ev, "text"))) ==
		    NULL || *text == '\0')
			goto out;
		if (!s->s_text_off && buf_adds(&s->s_text, text) != 0)
			s->s_text_off = 1;
		gw_sse_emit(s, "chunk", json_pack("{s:s, s:b}", "content",
		    text, "done", 0));
	} else if (strcmp(type, "tool_use") == 0) {
		name = json_object_get(ev, "name");
		gw_sse_emit(s, "tool_use", json_pack("{s:O}", "tool",
		    json_is_string(name) ? name : json_null()));
	} else if (strcmp(type, "tool_result") == 0) {
		name = json_object_get(ev, "name");
		gw_sse_emit(s, "tool_result", json_pack("{s:O, s:O}", "tool",
		    json_is_string(name) ? name : json_null(), "input",
		    json_object_get(ev, "input") != NULL ?
		    json_object_get(ev, "input") : json_null()));
	} else if (strcmp(type, "phase") == 0) {
		gw_sse_emit(s, "phase", json_pack("{s:O, s:O}", "phase",
		    json_object_get(ev, "phase") != NULL ?
		    json_object_get(ev, "phase") : json_null(), "detail",
		    json_object_get(ev, "detail") != NULL ?
		    json_object_get(ev, "detail") : json_null()));
	} else if (strcmp(type, "owner_notice") == 0) {
		if ((text = json_string_value(json_object_get(ev, "text"))) ==
		    NULL)
			goto out;
		s->s_notice = 1;
		gw_sse_emit(s, "owner_notice", json_pack("{s:s}", "text",
		    text));
	} else {
		/* A provider retry after deltas went out: the reply's text
		 * no longer extends what was sent. */
		if (strcmp(type, "restart") == 0)
			s->s_text_off = 1;
		goto out;	/* thinking_delta and the unknown: not here */
	}
	gw_sse_wake(s);
 out:
	pthread_mutex_unlock(&s->s_mtx);
}

static json_int_t
gw_sse_int(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	return (json_is_integer(v) ? json_integer_value(v) : 0);
}

static void
gw_sse_done(void *arg, int err, struct msg_rep *rep)
{
	struct gw_sse	*s = arg;
	struct gw_req	*gr = s->s_gr;
	const char	*resp, *msg, *notice;
	json_t		*body;
	size_t		 rlen;

	pthread_mutex_lock(&s->s_mtx);
	if (s->s_closed || s->s_finished)
		goto out;
	if (!s->s_started) {
		/* Nothing streamed yet: an ordinary reply. */
		if (err != 0)
			gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
		else if (rep->mp_status >= 400)
			gw_reply_relay(gr, rep);
		if (err != 0 || rep->mp_status >= 400) {
			s->s_finished = 1;
			gw_sse_wake(s);
			goto out;
		}
	}
	if (err != 0) {
		gw_sse_error(s, err == SH_ETIMEDOUT ? "the turn did not "
		    "finish in time" : "agent-runtime unavailable");
		goto out;
	}
	body = rep->mp_body;
	if (rep->mp_status >= 400) {
		msg = json_string_value(json_object_get(body, "error"));
		gw_sse_error(s, msg != NULL ? msg : "the turn failed");
		goto out;
	}
	/* Text whose events were lost: what the reply has beyond them. */
	resp = json_string_value(json_object_get(body, "response"));
	rlen = json_string_length(json_object_get(body, "response"));
	if (resp != NULL && !s->s_text_off && rlen > s->s_text.b_len &&
	    (s->s_text.b_len == 0 ||
	    memcmp(resp, s->s_text.b_data, s->s_text.b_len) == 0))
		gw_sse_emit(s, "chunk", json_pack("{s:s%, s:b}", "content",
		    resp + s->s_text.b_len, rlen - s->s_text.b_len, "done", 0));
	notice = json_string_value(json_object_get(body, "owner_notice"));
	if (notice != NULL && !s->s_notice)
		gw_sse_emit(s, "owner_notice", json_pack("{s:s}", "text",
		    notice));
	gw_sse_emit(s, "done", json_pack("{s:b, s:{s:I, s:I}}", "done", 1,
	    "usage", "input_tokens", gw_sse_int(body, "input_tokens"),
	    "output_tokens", gw_sse_int(body, "output_tokens")));
	s->s_finished = 1;
	gw_sse_wake(s);
 out:
	pthread_mutex_unlock(&s->s_mtx);
}

static void
gw_sse_idle(void *arg)
{
	struct gw_sse	*s = arg;

	pthread_mutex_lock(&s->s_mtx);
	if (!s->s_finished && buf_adds(&s->s_out, ": keep-alive\n\n") == 0)
		gw_sse_wake(s);
	pthread_mutex_unlock(&s->s_mtx);
}

static const struct gw_turn_ops gw_sse_ops = {
	gw_sse_event, gw_sse_done, gw_sse_idle
};

/* libmicrohttpd's content reader, on the connection's thread. */
static ssize_t
gw_sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct gw_sse	*s = cls;
	size_t		 n;

	(void)pos;
	pthread_mutex_lock(&s->s_mtx);
	if ((n = s->s_out.b_len - s->s_off) > 0) {
		if (n > max)
			n = max;
		memcpy(out, s->s_out.b_data + s->s_off, n);
		s->s_off += n;
		if (s->s_off == s->s_out.b_len) {
			buf_reset(&s->s_out);
			s->s_off = 0;
		}
		pthread_mutex_unlock(&s->s_mtx);
		return ((ssize_t)n);
	}
	if (s->s_finished) {
		pthread_mutex_unlock(&s->s_mtx);
		return (MHD_CONTENT_READER_END_OF_STREAM);
	}
	/* Nothing yet: sleep until gw_sse_wake(). */
	s->s_suspended = 1;
	MHD_suspend_connection(s->s_mhd);
	pthread_mutex_unlock(&s->s_mtx);
	return (0);
}

/* gr_queue: the SSE response, once the first event (or a keep-alive) is
 * there.  An error reply never gets here (gr_status is set). */
static enum MHD_Result
gw_sse_queue(struct gw_req *gr)
{
	struct gw_sse		*s = gr->gr_ctx;
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
	    GW_SSE_BLOCK, gw_sse_read, s, NULL);
	if (resp == NULL) {
		gr->gr_phase = GR_DONE;	/* the connection closes */
		return (MHD_NO);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/event-stream");
	MHD_add_response_header(resp, "x-accel-buffering", "no");
	return (gw_queue_response(gr, 200, resp));
}

/* gr_cleanup: the request is over (done, client gone, or shutdown). */
static void
gw_sse_cleanup(struct gw_req *gr)
{
	struct gw_sse	*s = gr->gr_ctx;

	if (s == NULL)
		return;
	gr->gr_ctx = NULL;
	pthread_mutex_lock(&gw_sse_mtx);
	if (s->s_prev != NULL)
		s->s_prev->s_next = s->s_next;
	else
		gw_sse_head = s->s_next;
	if (s->s_next != NULL)
		s->s_next->s_prev = s->s_prev;
	gw_sse_n--;
	pthread_mutex_unlock(&gw_sse_mtx);
	pthread_mutex_lock(&s->s_mtx);
	s->s_closed = 1;
	pthread_mutex_unlock(&s->s_mtx);
	gw_turn_free(s->s_turn);	/* no callback after this */
	buf_release(&s->s_out);
	buf_release(&s->s_text);
	pthread_mutex_destroy(&s->s_mtx);
	free(s);
}

int
gw_stream_message(struct gw_req *gr)
{
	struct gw_sse	*s;
	json_error_t	 je;
	json_t		*body, *params;
	const char	*id;
	int		 err, rv;

	if (gr->gr_body.b_len == 0) {
		gw_reply_error(gr, 400, "missing request body: send "
		    "{\"message\": \"...\"}");
		return (0);
	}
	if ((body = json_loadb(gr->gr_body.b_data, gr->gr_body.b_len,
	    JSON_DECODE_ANY, &je)) == NULL) {
		gw_reply_error(gr, 400, "malformed JSON: %s at line %d column "
		    "%d", je.text, je.line, je.column);
		return (0);
	}
	buf_release(&gr->gr_body);
	if (!json_is_object(body) ||
	    !json_is_string(json_object_get(body, "message"))) {
		json_decref(body);
		gw_reply_error(gr, 400, "the body must be a JSON object with "
		    "a string 'message'");
		return (0);
	}
	if ((params = gw_route_params(gr->gr_route, gr->gr_path)) == NULL ||
	    (id = json_string_value(json_object_get(params, "id"))) == NULL) {
		json_decref(params);
		json_decref(body);
		gw_reply_error(gr, 400, "malformed path parameter");
		return (0);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		json_decref(params);
		json_decref(body);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	pthread_mutex_init(&s->s_mtx, NULL);
	buf_init(&s->s_out, GW_SSE_MAX_OUT);
	buf_init(&s->s_text, GW_SSE_MAX_TEXT);
	s->s_gr = gr;
	s->s_mhd = gr->gr_mhd;
	gr->gr_ctx = s;
	gr->gr_cleanup = gw_sse_cleanup;
	gr->gr_queue = gw_sse_queue;
	gr->gr_svc = SVC_AGENT_RUNTIME;

	/* Suspended and listed in one step, so gw_stream_shutdown() sees
	 * every stream that got past the stopping check. */
	pthread_mutex_lock(&gw_sse_mtx);
	if ((rv = gw_suspend(gr)) == GW_ASYNC) {
		if ((s->s_next = gw_sse_head) != NULL)
			s->s_next->s_prev = s;
		gw_sse_head = s;
		gw_sse_n++;
	}
	pthread_mutex_unlock(&gw_sse_mtx);
	if (rv != GW_ASYNC) {
		gr->gr_ctx = NULL;
		gr->gr_cleanup = NULL;
		gr->gr_queue = NULL;
		buf_release(&s->s_out);
		buf_release(&s->s_text);
		pthread_mutex_destroy(&s->s_mtx);
		free(s);
		json_decref(params);
		json_decref(body);
		return (0);
	}
	s->s_turn = gw_turn_start(id, body, gw_conn_ip(gr->gr_conn),
	    gr->gr_principal, gr->gr_id, &gw_sse_ops, s, &err);
	json_decref(params);
	if (s->s_turn == NULL) {
		pthread_mutex_lock(&s->s_mtx);
		if (!s->s_started) {
			gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
			s->s_finished = 1;
			gw_sse_wake(s);
		}
		pthread_mutex_unlock(&s->s_mtx);
	}
	return (GW_ASYNC);
}

void
gw_stream_shutdown(void)
{
	struct gw_sse	*s;

	pthread_mutex_lock(&gw_sse_mtx);
	for (s = gw_sse_head; s != NULL; s = s->s_next) {
		pthread_mutex_lock(&s->s_mtx);
		if (!s->s_started) {
			gw_reply_error(s->s_gr, 503, "shutting down");
			s->s_finished = 1;
			gw_sse_wake(s);
		} else if (!s->s_finished)
			gw_sse_error(s, "the gateway is shutting down");
		pthread_mutex_unlock(&s->s_mtx);
	}
	pthread_mutex_unlock(&gw_sse_mtx);
}

long long
gw_stream_count(void)
{
	long long	n;

	pthread_mutex_lock(&gw_sse_mtx);
	n = gw_sse_n;
	pthread_mutex_unlock(&gw_sse_mtx);
	return (n);
}
