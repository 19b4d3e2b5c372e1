/*
 * llm/engine.c - the LLM engine: one thread runs every provider call of
 * the process on one libcurl multi handle (llm/llm.h).
 *
 * A call moves through attempts: one attempt is one HTTP request to one
 * target of its chain.  The engine thread owns every call once it has
 * been taken off the queue of new calls; other threads only touch that
 * queue, the cancel flags and the stop flag, under e_mtx, and wake the
 * thread with curl_multi_wakeup().  Waiting (backoff, Retry-After) is a
 * wake-up time on the call that the loop checks; no thread sleeps for a
 * call.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "err.h"
#include "llm/driver.h"
#include "log.h"
#include "memtrim.h"
#include "util.h"

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

enum call_state {
	CS_NEW = 0,
	CS_RUNNING,
	CS_WAITING
};

enum fail_kind {
	F_NONE = 0,
	F_AUTH,		/* 401 / 403: next target */
	F_RATE,		/* 429: one retry after Retry-After, then next */
	F_RETRY,	/* 5xx, transport, dropped stream: backoff retries */
	F_NEXT,		/* 4xx, garbage, too big: next target */
	F_NOMEM
};

enum body_mode {
	BM_UNSET = 0,
	BM_BUFFER,	/* whole body (errors, non-streaming, JSON) */
	BM_STREAM	/* SSE / NDJSON fed as it arrives */
};

struct llm_call {
	TAILQ_ENTRY(llm_call) c_entry;	/* e_new, then e_live */
	TAILQ_ENTRY(llm_call) c_centry;	/* a pass's cancel list */
	struct llm_engine *c_eng;
	json_t		*c_req;
	struct llm_target *c_t;
	size_t		 c_nt;
	llm_event_fn	 c_ev;
	llm_done_fn	 c_done;
	void		*c_arg;
	int		 c_stream;
	enum call_state	 c_state;
	int		 c_cancel;	/* under e_mtx */
	size_t		 c_ti;		/* current target */
	int		 c_tries;	/* F_RETRY retries on this target */
	int		 c_429;		/* the one 429 retry was used */
	uint64_t	 c_wake;	/* CS_WAITING: when to start */
	uint64_t	 c_t0;		/* attempt start */
	CURL		*c_easy;
	struct llm_wire	 c_wire;
	enum body_mode	 c_mode;
	long		 c_status;
	long long	 c_retry_after;	/* ms, -1: none given */
	struct buf	 c_body;
	size_t		 c_bytes;
	struct llm_sse	 c_sse;
	struct llm_acc	 c_acc;
	enum fail_kind	 c_fail;	/* decided inside a callback */
	char		 c_why[LLM_ERRLEN];
	size_t		 c_events;	/* delivered by this attempt */
	json_t		*c_attempts;
	char		 c_curlerr[CURL_ERROR_SIZE];
};

TAILQ_HEAD(call_list, llm_call);

struct llm_engine {
	pthread_t	 e_thr;
	pthread_mutex_t	 e_mtx;
	CURLM		*e_multi;
	struct call_list e_new;		/* under e_mtx */
	int		 e_stopping;	/* under e_mtx */
	int		 e_cancels;	/* under e_mtx */
	struct call_list e_live;	/* engine thread only */
	size_t		 e_nwait;	/* engine thread only */
	atomic_llong	 e_active;
};

static pthread_once_t	 llm_curl_once = PTHREAD_ONCE_INIT;
static int		 llm_curl_ok;

static void
llm_curl_init(void)
{
	llm_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* ---- calls -------------------------------------------------------------- */

static void
call_free(struct llm_call *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	for (i = 0; i < c->c_nt; i++) {
		free((char *)(uintptr_t)c->c_t[i].t_provider);
		free((char *)(uintptr_t)c->c_t[i].t_model);
		free((char *)(uintptr_t)c->c_t[i].t_base_url);
		if (c->c_t[i].t_api_key != NULL) {
			explicit_bzero((char *)(uintptr_t)c->c_t[i].t_api_key,
			    strlen(c->c_t[i].t_api_key));
			free((char *)(uintptr_t)c->c_t[i].t_api_key);
		}
		free((char *)(uintptr_t)c->c_t[i].t_key_env);
	}
	free(c->c_t);
	json_decref(c->c_req);
	json_decref(c->c_attempts);
	llm_wire_release(&c->c_wire);
	buf_release(&c->c_body);
	llm_sse_release(&c->c_sse);
	llm_acc_release(&c->c_acc);
	free(c);
}

static char *
dup_or_empty(const char *s)
{
	return (strdup(s != NULL ? s : ""));
}

struct llm_call *
llm_start(struct llm_engine *e, json_t *request,
    const struct llm_target *targets, size_t ntargets, llm_event_fn ev,
    llm_done_fn done, void *arg)
{
	struct llm_call	*c;
	size_t		 i;

	if (e == NULL || request == NULL || targets == NULL ||
	    ntargets == 0 || done == NULL)
		return (NULL);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->c_eng = e;
	c->c_ev = ev;
	c->c_done = done;
	c->c_arg = arg;
	c->c_retry_after = -1;
	buf_init(&c->c_body, LLM_MAX_RESPONSE);
	llm_sse_init(&c->c_sse, 0, LLM_MAX_RESPONSE);
	llm_acc_init(&c->c_acc, NULL, NULL);
	/* Only the messages are copied (llm/llm.h): the tool definitions are
	 * big, shared and never changed. */
	if ((c->c_req = json_copy(request)) == NULL ||
	    (json_object_get(request, "messages") != NULL &&
	    json_object_set_new(c->c_req, "messages", json_deep_copy(
	    json_object_get(request, "messages"))) != 0) ||
	    (c->c_attempts = json_array()) == NULL ||
	    (c->c_t = calloc(ntargets, sizeof(*c->c_t))) == NULL)
		goto fail;
	c->c_stream = json_is_true(json_object_get(request, "stream"));
	for (i = 0; i < ntargets; i++) {
		c->c_nt = i + 1;
		c->c_t[i] = targets[i];
		c->c_t[i].t_provider = dup_or_empty(targets[i].t_provider);
		c->c_t[i].t_model = dup_or_empty(targets[i].t_model);
		c->c_t[i].t_base_url = dup_or_empty(targets[i].t_base_url);
		c->c_t[i].t_api_key = dup_or_empty(targets[i].t_api_key);
		c->c_t[i].t_key_env = dup_or_empty(targets[i].t_key_env);
		if (c->c_t[i].t_provider == NULL || c->c_t[i].t_model == NULL ||
		    c->c_t[i].t_base_url == NULL ||
		    c->c_t[i].t_api_key == NULL ||
		    c->c_t[i].t_key_env == NULL)
			goto fail;
		log_add_secret(c->c_t[i].t_api_key);
	}
	pthread_mutex_lock(&e->e_mtx);
	if (e->e_stopping) {
		pthread_mutex_unlock(&e->e_mtx);
		goto fail;
	}
	TAILQ_INSERT_TAIL(&e->e_new, c, c_entry);
	atomic_fetch_add(&e->e_active, 1);
	pthread_mutex_unlock(&e->e_mtx);
	curl_multi_wakeup(e->e_multi);
	return (c);
 fail:
	call_free(c);
	return (NULL);
}

void
llm_cancel(struct llm_call *c)
{
	struct llm_engine *e;

	if (c == NULL)
		return;
	e = c->c_eng;
	pthread_mutex_lock(&e->e_mtx);
	c->c_cancel = 1;
	e->e_cancels = 1;
	pthread_mutex_unlock(&e->e_mtx);
	curl_multi_wakeup(e->e_multi);
}

long long
llm_engine_active(struct llm_engine *e)
{
	return (e != NULL ? atomic_load(&e->e_active) : 0);
}

static void
call_detach_easy(struct llm_engine *e, struct llm_call *c)
{
	if (c->c_easy == NULL)
		return;
	curl_multi_remove_handle(e->e_multi, c->c_easy);
	curl_easy_cleanup(c->c_easy);
	c->c_easy = NULL;
}

/* Runs done (resp stolen) and forgets the call. */
static void
call_finish(struct llm_engine *e, struct llm_call *c, int err, json_t *resp)
{
	TAILQ_REMOVE(&e->e_live, c, c_entry);
	if (c->c_state == CS_WAITING)
		e->e_nwait--;
	call_detach_easy(e, c);
	c->c_done(c->c_arg, err, resp);
	call_free(c);
	atomic_fetch_sub(&e->e_active, 1);
}

static void
call_emit(void *arg, json_t *ev)
{
	struct llm_call	*c = arg;

	c->c_events++;
	if (c->c_ev != NULL)
		c->c_ev(c->c_arg, ev);
	json_decref(ev);
}

/* A retry follows: tell the consumer to drop what it showed. */
static void
call_restart(struct llm_call *c)
{
	json_t	*ev;

	if (c->c_events == 0 || !c->c_stream)
		return;
	c->c_events = 0;
	if (c->c_ev != NULL && (ev = json_pack("{s:s}", "type",
	    "restart")) != NULL) {
		c->c_ev(c->c_arg, ev);
		json_decref(ev);
	}
}

static void
call_schedule(struct llm_engine *e, struct llm_call *c, long long delay_ms)
{
	call_detach_easy(e, c);
	call_restart(c);
	if (c->c_state != CS_WAITING)
		e->e_nwait++;
	c->c_state = CS_WAITING;
	c->c_wake = util_now_ms() + (uint64_t)(delay_ms > 0 ? delay_ms : 0);
}

static json_t *
call_error(struct llm_call *c, const char *msg)
{
	/* A copy: the call (and its array) is freed on this thread while
	 * the consumer releases the error on its own. */
	return (json_pack("{s:s, s:o}", "error", msg, "attempts",
	    json_deep_copy(c->c_attempts)));
}

static void
call_exhausted(struct llm_engine *e, struct llm_call *c)
{
	struct buf	 b = BUF_INIT(16384);
	json_t		*a, *resp;
	size_t		 i;

	if (buf_adds(&b, "all providers failed: ") != 0)
		goto nomem;
	json_array_foreach(c->c_attempts, i, a) {
		if (buf_addf(&b, "%s%s/%s: %s", i > 0 ? "; " : "",
		    llm_str(a, "provider"), llm_str(a, "model"),
		    llm_str(a, "error")) != 0) {
			/* Too long: end with what fitted. */
			buf_reset(&b);
			if (buf_addf(&b, "all providers failed (%zu targets)",
			    json_array_size(c->c_attempts)) != 0)
				goto nomem;
			break;
		}
	}
	resp = call_error(c, b.b_data);
	buf_release(&b);
	call_finish(e, c, resp != NULL ? SH_EUNAVAIL : SH_ENOMEM, resp);
	return;
 nomem:
	buf_release(&b);
	call_finish(e, c, SH_ENOMEM, NULL);
}

/* The current target failed for good: record why, go to the next. */
static void
call_target_failed(struct llm_engine *e, struct llm_call *c, const char *why)
{
	const struct llm_target *t = &c->c_t[c->c_ti];

	if (json_array_append_new(c->c_attempts, json_pack("{s:s, s:s, s:s}",
	    "provider", t->t_provider, "model", t->t_model, "error",
	    why)) != 0) {
		call_finish(e, c, SH_ENOMEM, NULL);
		return;
	}
	if (*t->t_provider != '\0')
		log_info("llm %s/%s failed: %s", t->t_provider, t->t_model,
		    why);
	c->c_ti++;
	c->c_tries = 0;
	c->c_429 = 0;
	if (c->c_ti >= c->c_nt) {
		call_detach_easy(e, c);
		call_exhausted(e, c);
		return;
	}
	call_schedule(e, c, 0);
}

static size_t on_write(char *, size_t, size_t, void *);
static size_t on_header(char *, size_t, size_t, void *);

static void
attempt_start(struct llm_engine *e, struct llm_call *c)
{
	const struct llm_target *t = &c->c_t[c->c_ti];
	char		 err[LLM_ERRLEN] = "";
	char		 why[LLM_ERRLEN + 32];
	CURL		*h;
	long		 idle_s;

	if (c->c_state == CS_WAITING)
		e->e_nwait--;
	c->c_state = CS_RUNNING;
	llm_acc_release(&c->c_acc);
	llm_acc_init(&c->c_acc, c->c_stream ? call_emit : NULL, c);
	llm_sse_release(&c->c_sse);
	/* (An unknown style fails in llm_wire_build() below.) */
	llm_sse_init(&c->c_sse, llm_driver(t->t_style) != NULL &&
	    llm_driver(t->t_style)->d_ndjson, LLM_MAX_RESPONSE);
	buf_release(&c->c_body);
	llm_wire_release(&c->c_wire);
	c->c_mode = BM_UNSET;
	c->c_status = 0;
	c->c_retry_after = -1;
	c->c_bytes = 0;
	c->c_events = 0;
	c->c_fail = F_NONE;
	c->c_why[0] = '\0';
	c->c_curlerr[0] = '\0';
	if (llm_wire_build(c->c_req, t, c->c_stream, &c->c_wire, err,
	    sizeof(err)) != 0) {
		snprintf(why, sizeof(why), "invalid request: %s", err);
		call_target_failed(e, c, why);
		return;
	}
	if ((h = curl_easy_init()) == NULL)
		goto nomem;
	c->c_easy = h;
	idle_s = LLM_IDLE_TIMEOUT_MS / 1000;
	if (curl_easy_setopt(h, CURLOPT_URL, c->c_wire.w_url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->c_wire.w_hdrs) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)c->c_wire.w_bodylen) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->c_wire.w_body) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, c) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HEADERDATA, c) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PRIVATE, c) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->c_curlerr) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)LLM_CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, idle_s) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "librefang") != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, LLM_RECV_BUFFER) !=
	    CURLE_OK)
		goto nomem;
	if (t->t_timeout_ms > 0 && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
	    (long)t->t_timeout_ms) != CURLE_OK)
		goto nomem;
	c->c_t0 = util_now_ms();
	if (curl_multi_add_handle(e->e_multi, h) != CURLM_OK)
		goto nomem;
	return;
 nomem:
	call_detach_easy(e, c);
	call_finish(e, c, SH_ENOMEM, call_error(c, "out of memory"));
}

/* ---- curl callbacks (engine thread) ------------------------------------- */

static long long
parse_retry_after(const char *v, size_t n, int in_ms)
{
	char		 s[64];
	struct tm	 tm;
	long long	 whole = 0, frac = 0, div = 1;
	size_t		 i = 0;
	time_t		 when;

	while (n > 0 && isspace((unsigned char)v[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*v)) {
		v++;
		n--;
	}
	if (n == 0 || n >= sizeof(s))
		return (-1);
	memcpy(s, v, n);
	s[n] = '\0';
	if (isdigit((unsigned char)s[0])) {
		for (; isdigit((unsigned char)s[i]) && whole < 1000000000; i++)
			whole = whole * 10 + (s[i] - '0');
		if (s[i] == '.')
			for (i++; isdigit((unsigned char)s[i]) && div < 1000;
			    i++) {
				frac = frac * 10 + (s[i] - '0');
				div *= 10;
			}
		if (in_ms)
			return (whole);
		return (whole * 1000 + frac * 1000 / div);
	}
	memset(&tm, 0, sizeof(tm));
	if (in_ms || strptime(s, "%a, %d %b %Y %H:%M:%S", &tm) == NULL)
		return (-1);
	when = timegm(&tm);
	if (when <= time(NULL))
		return (0);
	return ((long long)(when - time(NULL)) * 1000);
}

static size_t
on_header(char *p, size_t sz, size_t nm, void *arg)
{
	struct llm_call	*c = arg;
	size_t		 n = sz * nm;
	long long	 ms;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0)
		c->c_retry_after = -1;
	else if (n > 15 && strncasecmp(p, "retry-after-ms:", 15) == 0) {
		if ((ms = parse_retry_after(p + 15, n - 15, 1)) >= 0)
			c->c_retry_after = ms;
	} else if (n > 12 && strncasecmp(p, "retry-after:", 12) == 0 &&
	    c->c_retry_after < 0) {
		c->c_retry_after = parse_retry_after(p + 12, n - 12, 0);
	}
	return (n);
}

static int
on_sse(void *arg, const char *event, const char *data, size_t len)
{
	struct llm_call	*c = arg;

	return (llm_stream_event(&c->c_acc, c->c_t[c->c_ti].t_style, event,
	    data, len));
}

/* Records why reading the stream failed (rc from the SSE feed). */
static void
stream_failed(struct llm_call *c, int rc)
{
	switch (rc) {
	case SH_EUNAVAIL:
		c->c_fail = F_RETRY;
		snprintf(c->c_why, sizeof(c->c_why), "provider error in the "
		    "stream: %s", c->c_acc.a_err);
		break;
	case SH_EPROTO:
		c->c_fail = F_NEXT;
		snprintf(c->c_why, sizeof(c->c_why), "invalid stream: %s",
		    c->c_acc.a_err);
		break;
	case SH_ETOOBIG:
		c->c_fail = F_NEXT;
		snprintf(c->c_why, sizeof(c->c_why), "invalid stream: a line "
		    "longer than %d bytes", LLM_MAX_RESPONSE);
		break;
	default:
		c->c_fail = F_NOMEM;
		snprintf(c->c_why, sizeof(c->c_why), "out of memory");
		break;
	}
}

static size_t
on_write(char *p, size_t sz, size_t nm, void *arg)
{
	struct llm_call	*c = arg;
	size_t		 n = sz * nm, room;
	char		*ct = NULL;
	int		 rc, ok;

	if (c->c_mode == BM_UNSET) {
		curl_easy_getinfo(c->c_easy, CURLINFO_RESPONSE_CODE,
		    &c->c_status);
		curl_easy_getinfo(c->c_easy, CURLINFO_CONTENT_TYPE, &ct);
		ok = c->c_status >= 200 && c->c_status < 300;
		/* A server that answers a streaming request with one JSON
		 * body is read as a whole (Ollama's NDJSON is a stream). */
		if (ok && c->c_stream && (llm_driver(c->c_t[c->c_ti].t_style)->
		    d_ndjson || ct == NULL ||
		    strcasestr(ct, "application/json") == NULL))
			c->c_mode = BM_STREAM;
		else
			c->c_mode = BM_BUFFER;
	}
	if (c->c_mode == BM_BUFFER) {
		if (c->c_status >= 200 && c->c_status < 300) {
			if (c->c_body.b_len + n > LLM_MAX_RESPONSE) {
				c->c_fail = F_NEXT;
				snprintf(c->c_why, sizeof(c->c_why),
				    "response larger than %d bytes",
				    LLM_MAX_RESPONSE);
				return (0);
			}
		} else {
			/* Keep the start of an error body only. */
			room = c->c_body.b_len < LLM_ERRBODY_MAX ?
			    LLM_ERRBODY_MAX - c->c_body.b_len : 0;
			if (n > room) {
				if (room > 0)
					(void)buf_add(&c->c_body, p, room);
				return (n);
			}
		}
		if (buf_add(&c->c_body, p, n) != 0) {
			c->c_fail = F_NOMEM;
			snprintf(c->c_why, sizeof(c->c_why), "out of memory");
			return (0);
		}
		return (n);
	}
	c->c_bytes += n;
	if (c->c_bytes > LLM_MAX_RESPONSE) {
		c->c_fail = F_NEXT;
		snprintf(c->c_why, sizeof(c->c_why), "response larger than %d "
		    "bytes", LLM_MAX_RESPONSE);
		return (0);
	}
	if ((rc = llm_sse_feed(&c->c_sse, p, n, on_sse, c)) != 0) {
		stream_failed(c, rc);
		return (0);
	}
	return (n);
}

/* ---- attempt outcomes --------------------------------------------------- */

static void
call_success(struct llm_engine *e, struct llm_call *c)
{
	const struct llm_target *t = &c->c_t[c->c_ti];
	json_t		*resp;

	call_detach_easy(e, c);
	if ((resp = llm_acc_finish(&c->c_acc)) == NULL ||
	    json_object_set_new(resp, "provider",
	    json_string(t->t_provider)) != 0 ||
	    json_object_set_new(resp, "model", json_string(t->t_model)) != 0 ||
	    (json_array_size(c->c_attempts) > 0 && json_object_set_new(resp,
	    "attempts", json_deep_copy(c->c_attempts)) != 0)) {
		json_decref(resp);
		call_finish(e, c, SH_ENOMEM, NULL);
		return;
	}
	call_finish(e, c, 0, resp);
}

static void
attempt_done(struct llm_engine *e, struct llm_call *c, CURLcode res)
{
	const struct llm_target *t = &c->c_t[c->c_ti];
	enum fail_kind	 f = c->c_fail;
	char		 msg[LLM_PROVIDER_MSG_MAX], why[LLM_ERRLEN];
	const char	*env, *sep;
	uint64_t	 el = util_now_ms() - c->c_t0;
	long		 st = 0;
	long long	 delay;
	int		 rc;

	curl_easy_getinfo(c->c_easy, CURLINFO_RESPONSE_CODE, &st);
	c->c_status = st;
	snprintf(why, sizeof(why), "%s", c->c_why);
	if (f != F_NONE) {
		/* Decided in a callback. */
	} else if (res != CURLE_OK) {
		if (res == CURLE_OPERATION_TIMEDOUT && t->t_timeout_ms > 0 &&
		    el + 50 >= (uint64_t)t->t_timeout_ms) {
			f = F_NEXT;
			snprintf(why, sizeof(why), "timed out after %d ms",
			    t->t_timeout_ms);
		} else {
			f = F_RETRY;
			snprintf(why, sizeof(why), "%s: %s",
			    c->c_mode == BM_STREAM ? "stream dropped" :
			    "connection failed", c->c_curlerr[0] != '\0' ?
			    c->c_curlerr : curl_easy_strerror(res));
		}
	} else if (st >= 200 && st < 300) {
		if (c->c_mode == BM_STREAM) {
			if ((rc = llm_sse_end(&c->c_sse, on_sse, c)) != 0) {
				stream_failed(c, rc);
				f = c->c_fail;
				snprintf(why, sizeof(why), "%s", c->c_why);
			} else if (!llm_stream_complete(&c->c_acc, t->t_style)) {
				f = F_RETRY;
				snprintf(why, sizeof(why), "stream dropped: it "
				    "ended before it was complete");
			}
		} else if (llm_parse_body(&c->c_acc, t->t_style,
		    c->c_body.b_data != NULL ? c->c_body.b_data : "",
		    c->c_body.b_len) != 0) {
			f = F_NEXT;
			snprintf(why, sizeof(why), "invalid response: %s",
			    c->c_acc.a_err);
		}
		if (f == F_NONE) {
			call_success(e, c);
			return;
		}
	} else {
		llm_provider_error(c->c_body.b_data, c->c_body.b_len,
		    t->t_api_key, msg, sizeof(msg));
		sep = msg[0] != '\0' ? ": " : "";
		env = *t->t_key_env != '\0' ? t->t_key_env : "the API key";
		if (st == 401 || st == 403) {
			f = F_AUTH;
			snprintf(why, sizeof(why), "HTTP %ld %s%s%s (%s %s)", st,
			    st == 401 ? "unauthorized" : "forbidden", sep, msg,
			    *t->t_api_key != '\0' ? "check" : "no key: set",
			    env);
		} else if (st == 429) {
			f = F_RATE;
			snprintf(why, sizeof(why), "HTTP 429 rate limited%s%s%s",
			    c->c_429 ? " (retried once)" : "", sep, msg);
		} else if (st >= 500 || st == 408) {
			f = F_RETRY;
			snprintf(why, sizeof(why), "HTTP %ld%s%s", st, sep, msg);
		} else {
			f = F_NEXT;
			snprintf(why, sizeof(why), "HTTP %ld%s%s", st, sep, msg);
		}
	}
	switch (f) {
	case F_RETRY:
		if (c->c_tries < LLM_RETRIES) {
			delay = (long long)LLM_BACKOFF_MS << c->c_tries;
			c->c_tries++;
			log_debug("llm %s/%s: %s; retry in %lld ms",
			    t->t_provider, t->t_model, why, delay);
			call_schedule(e, c, delay);
			return;
		}
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
		    " (%d tries)", LLM_RETRIES + 1);
		break;
	case F_RATE:
		if (!c->c_429) {
			c->c_429 = 1;
			delay = c->c_retry_after >= 0 ? c->c_retry_after :
			    LLM_BACKOFF_MS;
			if (delay > LLM_RETRY_AFTER_MAX_MS)
				delay = LLM_RETRY_AFTER_MAX_MS;
			call_schedule(e, c, delay);
			return;
		}
		break;
	case F_NOMEM:
		call_finish(e, c, SH_ENOMEM, call_error(c, "out of memory"));
		return;
	default:
		break;
	}
	call_target_failed(e, c, why);
}

/* ---- the engine thread -------------------------------------------------- */

static void *
engine_main(void *arg)
{
	struct llm_engine *e = arg;
	struct call_list newq = TAILQ_HEAD_INITIALIZER(newq);
	struct call_list cq = TAILQ_HEAD_INITIALIZER(cq);
	struct llm_call	*c, *tmp;
	CURLMsg		*m;
	uint64_t	 now, next;
	int		 stopping, running, left, timeout;

	for (;;) {
		pthread_mutex_lock(&e->e_mtx);
		stopping = e->e_stopping;
		TAILQ_CONCAT(&newq, &e->e_new, c_entry);
		TAILQ_FOREACH(c, &newq, c_entry)
			if (c->c_cancel || stopping)
				TAILQ_INSERT_TAIL(&cq, c, c_centry);
		if (e->e_cancels || stopping) {
			e->e_cancels = 0;
			TAILQ_FOREACH(c, &e->e_live, c_entry)
				if (c->c_cancel || stopping)
					TAILQ_INSERT_TAIL(&cq, c, c_centry);
		}
		pthread_mutex_unlock(&e->e_mtx);

		TAILQ_CONCAT(&e->e_live, &newq, c_entry);
		while ((c = TAILQ_FIRST(&cq)) != NULL) {
			TAILQ_REMOVE(&cq, c, c_centry);
			call_finish(e, c, SH_ECANCELED, call_error(c,
			    "canceled"));
		}
		if (stopping)
			break;
		/* New calls, and waits that are over. */
		now = util_now_ms();
		TAILQ_FOREACH_SAFE(c, &e->e_live, c_entry, tmp)
			if (c->c_state == CS_NEW || (c->c_state == CS_WAITING &&
			    c->c_wake <= now))
				attempt_start(e, c);

		curl_multi_perform(e->e_multi, &running);
		while ((m = curl_multi_info_read(e->e_multi, &left)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			c = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &c);
			if (c != NULL)
				attempt_done(e, c, m->data.result);
		}

		timeout = 1000;
		if (e->e_nwait > 0) {
			now = util_now_ms();
			next = now + 1000;
			TAILQ_FOREACH(c, &e->e_live, c_entry)
				if (c->c_state == CS_WAITING && c->c_wake < next)
					next = c->c_wake;
			timeout = next <= now ? 0 : (int)(next - now);
		}
		curl_multi_poll(e->e_multi, NULL, 0, timeout, NULL);
		/* This thread wakes at least once a second: give back what a
		 * burst of large turns left free (memtrim.h). */
		memtrim_tick(util_now_ms(), MEMTRIM_MIN_FREE);
	}
	return (NULL);
}

struct llm_engine *
llm_engine_start(void)
{
	struct llm_engine *e;

	pthread_once(&llm_curl_once, llm_curl_init);
	if (!llm_curl_ok) {
		log_warnx("%s: could not initialise libcurl", __func__);
		return (NULL);
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (NULL);
	TAILQ_INIT(&e->e_new);
	TAILQ_INIT(&e->e_live);
	atomic_init(&e->e_active, 0);
	if (pthread_mutex_init(&e->e_mtx, NULL) != 0) {
		free(e);
		return (NULL);
	}
	if ((e->e_multi = curl_multi_init()) == NULL)
		goto fail;
	curl_multi_setopt(e->e_multi, CURLMOPT_MAXCONNECTS, 256L);
	if (pthread_create(&e->e_thr, NULL, engine_main, e) != 0) {
		log_warnx("%s: could not start the engine thread", __func__);
		goto fail;
	}
	return (e);
 fail:
	if (e->e_multi != NULL)
		curl_multi_cleanup(e->e_multi);
	pthread_mutex_destroy(&e->e_mtx);
	free(e);
	return (NULL);
}

void
llm_engine_stop(struct llm_engine *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->e_mtx);
	e->e_stopping = 1;
	pthread_mutex_unlock(&e->e_mtx);
	curl_multi_wakeup(e->e_multi);
	pthread_join(e->e_thr, NULL);
	curl_multi_cleanup(e->e_multi);
	pthread_mutex_destroy(&e->e_mtx);
	free(e);
}
