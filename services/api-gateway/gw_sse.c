/*
 * gw_sse.c - the one server-sent events writer: the native turn stream
 * (gw_stream.c, "event: <name>" frames), the OpenAI stream (gw_openai.c,
 * bare "data:" frames) and the comms event stream (gw_comms.c) write
 * through it.
 *
 * The text waits in ss_out until libmicrohttpd pulls it through
 * gw_sse_read(), the content reader, on the connection's thread.  With
 * nothing to send the reader suspends the connection, and whoever adds
 * text (a turn event, the reply, the keep-alive, shutdown) resumes it
 * with gw_sse_wake(); the first wake also ends the request's GR_WAIT, so
 * the response starts with the first event and an error the runtime
 * answers first can still be a plain JSON reply.  Nothing polls.
 *
 * A client that does not read is given up on past GW_SSE_MAX_OUT unsent
 * bytes (a user may lower ss_out.b_max after gw_sse_init()): the stream
 * ends there.
 *
 * The streamed turns (native, OpenAI, A2A) suspend through
 * gw_sse_suspend(), which lists them in one registry until they close,
 * so that gateway shutdown ends each the same way (gw_sse_shutdown()) and
 * waits for the list to empty (gw_sse_count()).  Locking: gw_sse_mtx
 * guards the list and is taken before a stream's ss_mtx.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"

#define GW_SSE_BLOCK		8192
#define GW_SSE_MAX_OUT		(8 * 1024 * 1024)	/* unsent bytes */
#define GW_SSE_MAX_TEXT		(1024 * 1024)	/* streamed text kept */

static pthread_mutex_t	 gw_sse_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct gw_sse	*gw_sse_head;		/* under gw_sse_mtx */
static long long	 gw_sse_n;

/* Takes s off the registry if it is on it.  gw_sse_mtx not held. */
static void
gw_sse_unlist(struct gw_sse *s)
{
	pthread_mutex_lock(&gw_sse_mtx);
	if (s->ss_listed) {
		if (s->ss_prev != NULL)
			s->ss_prev->ss_next = s->ss_next;
		else
			gw_sse_head = s->ss_next;
		if (s->ss_next != NULL)
			s->ss_next->ss_prev = s->ss_prev;
		s->ss_next = s->ss_prev = NULL;
		s->ss_listed = 0;
		gw_sse_n--;
	}
	pthread_mutex_unlock(&gw_sse_mtx);
}

void
gw_sse_init(struct gw_sse *s, struct gw_req *gr)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->ss_mtx, NULL);
	buf_init(&s->ss_out, GW_SSE_MAX_OUT);
	buf_init(&s->ss_text, GW_SSE_MAX_TEXT);
	s->ss_gr = gr;
	s->ss_mhd = gr->gr_mhd;
}

void
gw_sse_release(struct gw_sse *s)
{
	gw_sse_unlist(s);
	buf_release(&s->ss_out);
	buf_release(&s->ss_text);
	pthread_mutex_destroy(&s->ss_mtx);
}

void
gw_sse_reset(struct gw_sse *s)
{
	gw_sse_unlist(s);
	pthread_mutex_lock(&s->ss_mtx);
	buf_reset(&s->ss_out);
	buf_reset(&s->ss_text);
	s->ss_off = 0;
	s->ss_text_off = 0;
	s->ss_started = s->ss_suspended = s->ss_finished = 0;
	pthread_mutex_unlock(&s->ss_mtx);
}

void
gw_sse_close(struct gw_sse *s)
{
	gw_sse_unlist(s);
	pthread_mutex_lock(&s->ss_mtx);
	s->ss_closed = 1;
	pthread_mutex_unlock(&s->ss_mtx);
}

void
gw_sse_wake(struct gw_sse *s)
{
	if (s->ss_closed)
		return;
	if (!s->ss_started) {
		s->ss_started = 1;	/* GR_WAIT -> the request's gr_queue */
		MHD_resume_connection(s->ss_mhd);
	} else if (s->ss_suspended) {
		s->ss_suspended = 0;
		MHD_resume_connection(s->ss_mhd);
	}
}

/* A client that does not read: give up on it. */
static void
gw_sse_overflow(struct gw_sse *s)
{
	log_warnx("%s: stream %s: too much unsent output", __func__,
	    s->ss_gr->gr_id);
	s->ss_finished = 1;
	s->ss_off = 0;
}

void
gw_sse_frame(struct gw_sse *s, const char *event, json_t *data)
{
	char	*js;
	int	 rv;

	if (data == NULL || s->ss_finished)
		goto out;
	if ((js = json_dumps(data, MSG_JSON_FLAGS)) == NULL)
		goto out;
	if (event != NULL)
		rv = buf_addf(&s->ss_out, "event: %s\ndata: %s\n\n", event,
		    js);
	else
		rv = buf_addf(&s->ss_out, "data: %s\n\n", js);
	if (rv != 0)
		gw_sse_overflow(s);
	free(js);
 out:
	json_decref(data);
}

void
gw_sse_raw(struct gw_sse *s, const char *text)
{
	if (!s->ss_finished && buf_adds(&s->ss_out, text) != 0)
		gw_sse_overflow(s);
}

void
gw_sse_end(struct gw_sse *s)
{
	s->ss_finished = 1;
	gw_sse_wake(s);
}

void
gw_sse_idle(struct gw_sse *s)
{
	pthread_mutex_lock(&s->ss_mtx);
	if (!s->ss_finished && buf_adds(&s->ss_out, ": keep-alive\n\n") == 0)
		gw_sse_wake(s);
	pthread_mutex_unlock(&s->ss_mtx);
}

int
gw_sse_delta(struct gw_sse *s, json_t *ev, const char **textp)
{
	const char	*type, *text;

	type = json_string_value(json_object_get(ev, "type"));
	if (type != NULL && strcmp(type, "restart") == 0) {
		s->ss_text_off = 1;
		return (0);
	}
	if (type == NULL || strcmp(type, "text_delta") != 0)
		return (-1);
	if ((text = json_string_value(json_object_get(ev, "text"))) == NULL ||
	    *text == '\0')
		return (0);
	/* Past what ss_text holds, the reply can no longer be compared:
	 * gw_sse_rest() then sends nothing. */
	if (!s->ss_text_off && buf_adds(&s->ss_text, text) != 0)
		s->ss_text_off = 1;
	*textp = text;
	return (1);
}

const char *
gw_sse_rest(struct gw_sse *s, json_t *response, size_t *lenp)
{
	const char	*resp = json_string_value(response);
	size_t		 rlen = json_string_length(response);
	size_t		 have = s->ss_text.b_len;

	/* Only when the reply extends what was sent: a provider retry
	 * (ss_text_off) or lost events in the middle make it another
	 * text, and sending its tail would garble the stream. */
	if (resp == NULL || s->ss_text_off || rlen <= have || (have > 0 &&
	    memcmp(resp, s->ss_text.b_data, have) != 0))
		return (NULL);
	*lenp = rlen - have;
	return (resp + have);
}

/* libmicrohttpd's content reader, on the connection's thread. */
static ssize_t
gw_sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct gw_sse	*s = cls;
	size_t		 n;

	(void)pos;
	pthread_mutex_lock(&s->ss_mtx);
	if ((n = s->ss_out.b_len - s->ss_off) > 0) {
		if (n > max)
			n = max;
		memcpy(out, s->ss_out.b_data + s->ss_off, n);
		s->ss_off += n;
		if (s->ss_off == s->ss_out.b_len) {
			buf_reset(&s->ss_out);
			s->ss_off = 0;
		}
		pthread_mutex_unlock(&s->ss_mtx);
		return ((ssize_t)n);
	}
	if (s->ss_finished) {
		pthread_mutex_unlock(&s->ss_mtx);
		return (MHD_CONTENT_READER_END_OF_STREAM);
	}
	/* Nothing yet: sleep until gw_sse_wake(). */
	s->ss_suspended = 1;
	MHD_suspend_connection(s->ss_mhd);
	pthread_mutex_unlock(&s->ss_mtx);
	return (0);
}

enum MHD_Result
gw_sse_respond(struct gw_req *gr, struct gw_sse *s)
{
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

/* ---- the registry of live streams ----------------------------------- */

int
gw_sse_suspend(struct gw_sse *s, void (*stop)(void *), void *arg)
{
	int	rv;

	/* Suspended and listed in one step, so gw_sse_shutdown() sees
	 * every stream that got past gw_suspend()'s stopping check. */
	pthread_mutex_lock(&gw_sse_mtx);
	if ((rv = gw_suspend(s->ss_gr)) == GW_ASYNC) {
		s->ss_stop = stop;
		s->ss_stop_arg = arg;
		s->ss_prev = NULL;
		if ((s->ss_next = gw_sse_head) != NULL)
			s->ss_next->ss_prev = s;
		gw_sse_head = s;
		s->ss_listed = 1;
		gw_sse_n++;
	}
	pthread_mutex_unlock(&gw_sse_mtx);
	return (rv);
}

void
gw_sse_shutdown(void)
{
	struct gw_sse	*s;

	pthread_mutex_lock(&gw_sse_mtx);
	for (s = gw_sse_head; s != NULL; s = s->ss_next) {
		pthread_mutex_lock(&s->ss_mtx);
		if (!s->ss_started && !s->ss_finished) {
			/* Nothing sent yet: a plain reply can still go. */
			gw_reply_error(s->ss_gr, 503, "shutting down");
			gw_sse_end(s);
		} else if (!s->ss_finished)
			s->ss_stop(s->ss_stop_arg);
		pthread_mutex_unlock(&s->ss_mtx);
	}
	pthread_mutex_unlock(&gw_sse_mtx);
}

long long
gw_sse_count(void)
{
	long long	n;

	pthread_mutex_lock(&gw_sse_mtx);
	n = gw_sse_n;
	pthread_mutex_unlock(&gw_sse_mtx);
	return (n);
}
