/*
 * gw_stream.c - POST /api/agents/{id}/message/stream: a turn as
 * server-sent events (notes agent-core.md 4.12).
 *
 *	event: chunk		{"content":"..","done":false}
 *	event: tool_use		{"tool":".."}
 *	event: tool_result	{"tool":"..","input":{..}}
 *	event: phase		{"phase":"..","detail":".."}
 *	event: owner_notice	{"text":".."}
 *	event: approval_requested {"approval_id":"..","tool_name":"..",
 *				 "risk_level":"..","description":"..",
 *				 "timeout_secs":N}  (the turn waits)
 *	event: approval_resolved {"approval_id":"..","decision":".."}
 *	event: done		{"done":true,"usage":{"input_tokens":N,
 *				 "output_tokens":N}}
 *	event: error		{"error":".."}	(the turn failed mid-stream)
 *	: keep-alive		every 15 s without an event
 *
 * The request is checked, then the connection is suspended while the
 * turn starts (gw_turns.c).  The SSE response begins with the first event
 * (or after 15 s of silence); a reply that comes first is relayed as a
 * plain JSON response, so an unknown agent is an ordinary 404.  The
 * frames go out through the writer every streamed turn shares (gw_sse.c).
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

struct gw_mstream {
	struct gw_turn		*m_turn;
	struct gw_sse		 m_sse;		/* m_notice under its mutex */
	int			 m_notice;	/* owner_notice sent */
};

/* The turn failed mid-stream: an error event, the end.  ss_mtx held. */
static void
mstream_error(struct gw_mstream *m, const char *msg)
{
	gw_sse_frame(&m->m_sse, "error", json_pack("{s:s}", "error", msg));
	gw_sse_end(&m->m_sse);
}

/* An approval event as the client sees it: the runtime's fields but its
 * stream bookkeeping (new). */
static json_t *
mstream_approval(json_t *ev)
{
	json_t	*o = json_copy(ev);

	if (o != NULL) {
		json_object_del(o, "type");
		json_object_del(o, "stream_id");
		json_object_del(o, "seq");
	}
	return (o);
}

static void
mstream_event(void *arg, json_t *ev)
{
	struct gw_mstream	*m = arg;
	struct gw_sse		*s = &m->m_sse;
	const char		*type, *text;
	json_t			*name;
	int			 delta;

	type = json_string_value(json_object_get(ev, "type"));
	pthread_mutex_lock(&s->ss_mtx);
	if ((delta = gw_sse_delta(s, ev, &text)) == 0)
		goto out;
	if (delta == 1)
		gw_sse_frame(s, "chunk", json_pack("{s:s, s:b}", "content",
		    text, "done", 0));
	else if (strcmp(type, "tool_use") == 0) {
		name = json_object_get(ev, "name");
		gw_sse_frame(s, "tool_use", json_pack("{s:O}", "tool",
		    json_is_string(name) ? name : json_null()));
	} else if (strcmp(type, "tool_result") == 0) {
		name = json_object_get(ev, "name");
		gw_sse_frame(s, "tool_result", json_pack("{s:O, s:O}", "tool",
		    json_is_string(name) ? name : json_null(), "input",
		    json_object_get(ev, "input") != NULL ?
		    json_object_get(ev, "input") : json_null()));
	} else if (strcmp(type, "phase") == 0) {
		gw_sse_frame(s, "phase", json_pack("{s:O, s:O}", "phase",
		    json_object_get(ev, "phase") != NULL ?
		    json_object_get(ev, "phase") : json_null(), "detail",
		    json_object_get(ev, "detail") != NULL ?
		    json_object_get(ev, "detail") : json_null()));
	} else if (strcmp(type, "owner_notice") == 0) {
		if ((text = json_string_value(json_object_get(ev, "text"))) ==
		    NULL)
			goto out;
		m->m_notice = 1;
		gw_sse_frame(s, "owner_notice", json_pack("{s:s}", "text",
		    text));
	} else if (strcmp(type, "approval_requested") == 0 ||
	    strcmp(type, "approval_resolved") == 0) {
		gw_sse_frame(s, type, mstream_approval(ev));
	} else
		goto out;	/* thinking_delta and the unknown: not here */
	gw_sse_wake(s);
 out:
	pthread_mutex_unlock(&s->ss_mtx);
}

static json_int_t
mstream_int(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	return (json_is_integer(v) ? json_integer_value(v) : 0);
}

static void
mstream_done(void *arg, int err, struct msg_rep *rep)
{
	struct gw_mstream	*m = arg;
	struct gw_sse		*s = &m->m_sse;
	struct gw_req		*gr = s->ss_gr;
	const char		*rest, *msg, *notice;
	json_t			*body;
	size_t			 rlen;

	pthread_mutex_lock(&s->ss_mtx);
	if (s->ss_closed || s->ss_finished)
		goto out;
	if (!s->ss_started) {
		/* Nothing streamed yet: an ordinary reply. */
		if (err != 0)
			gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
		else if (rep->mp_status >= 400)
			gw_reply_relay(gr, rep);
		if (err != 0 || rep->mp_status >= 400) {
			gw_sse_end(s);
			goto out;
		}
	}
	if (err != 0) {
		mstream_error(m, err == SH_ETIMEDOUT ? "the turn did not "
		    "finish in time" : "agent-runtime unavailable");
		goto out;
	}
	body = rep->mp_body;
	if (rep->mp_status >= 400) {
		msg = json_string_value(json_object_get(body, "error"));
		mstream_error(m, msg != NULL ? msg : "the turn failed");
		goto out;
	}
	/* Text whose events were lost: what the reply has beyond them. */
	if ((rest = gw_sse_rest(s, json_object_get(body, "response"),
	    &rlen)) != NULL)
		gw_sse_frame(s, "chunk", json_pack("{s:s%, s:b}", "content",
		    rest, rlen, "done", 0));
	notice = json_string_value(json_object_get(body, "owner_notice"));
	if (notice != NULL && !m->m_notice)
		gw_sse_frame(s, "owner_notice", json_pack("{s:s}", "text",
		    notice));
	gw_sse_frame(s, "done", json_pack("{s:b, s:{s:I, s:I}}", "done", 1,
	    "usage", "input_tokens", mstream_int(body, "input_tokens"),
	    "output_tokens", mstream_int(body, "output_tokens")));
	gw_sse_end(s);
 out:
	pthread_mutex_unlock(&s->ss_mtx);
}

/* gw_sse_shutdown(): the stream has started.  ss_mtx held. */
static void
mstream_stop(void *arg)
{
	mstream_error(arg, "the gateway is shutting down");
}

static void
mstream_idle(void *arg)
{
	struct gw_mstream	*m = arg;

	gw_sse_idle(&m->m_sse);
}

static const struct gw_turn_ops mstream_ops = {
	mstream_event, mstream_done, mstream_idle
};

/* gr_queue: the SSE response, once the first event (or a keep-alive) is
 * there.  An error reply never gets here (gr_status is set). */
static enum MHD_Result
mstream_queue(struct gw_req *gr)
{
	struct gw_mstream	*m = gr->gr_ctx;

	return (gw_sse_respond(gr, &m->m_sse));
}

/* gr_cleanup: the request is over (done, client gone, or shutdown). */
static void
mstream_cleanup(struct gw_req *gr)
{
	struct gw_mstream	*m = gr->gr_ctx;

	if (m == NULL)
		return;
	gr->gr_ctx = NULL;
	gw_sse_close(&m->m_sse);	/* and off the registry */
	gw_turn_free(m->m_turn);	/* no callback after this */
	gw_sse_release(&m->m_sse);
	free(m);
}

int
gw_stream_message(struct gw_req *gr)
{
	struct gw_mstream	*m;
	json_error_t		 je;
	json_t			*body, *params, *idem;
	const char		*id;
	int			 err, rv;

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
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		json_decref(params);
		json_decref(body);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	gw_sse_init(&m->m_sse, gr);
	gr->gr_ctx = m;
	gr->gr_cleanup = mstream_cleanup;
	gr->gr_queue = mstream_queue;
	gr->gr_svc = SVC_AGENT_RUNTIME;

	if ((rv = gw_sse_suspend(&m->m_sse, mstream_stop, m)) != GW_ASYNC) {
		gr->gr_ctx = NULL;
		gr->gr_cleanup = NULL;
		gr->gr_queue = NULL;
		gw_sse_release(&m->m_sse);
		free(m);
		json_decref(params);
		json_decref(body);
		return (0);
	}
	idem = gw_idem_caller(gr);
	m->m_turn = gw_turn_start(id, body, gw_conn_ip(gr->gr_conn),
	    gr->gr_principal, gr->gr_id, idem, &mstream_ops, m, &err);
	json_decref(idem);
	json_decref(params);
	if (m->m_turn == NULL) {
		pthread_mutex_lock(&m->m_sse.ss_mtx);
		if (!m->m_sse.ss_started) {
			gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
			gw_sse_end(&m->m_sse);
		}
		pthread_mutex_unlock(&m->m_sse.ss_mtx);
	}
	return (GW_ASYNC);
}
