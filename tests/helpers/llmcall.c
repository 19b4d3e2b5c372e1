/*
 * llmcall - drives the LLM engine (services/agent-runtime/llm/llm.h) from the
 * shell, for tests and by hand.
 *
 *   llmcall --style S --base URL --model M [--provider P] [--key K]
 *	     [--key-env NAME] [--timeout-ms N]
 *	     [--fallback style,base,model[,key[,key_env]]]...
 *	     [--stream] [--cancel-after-ms N] [--parallel N] [--quiet]
 *	     request.json|-
 *
 * The request is the canonical one of llm/llm.h; --stream sets its "stream".
 * The key comes from --key, else from the variable --key-env names.
 * Output, one JSON object a line: each stream event with "t_ms" (ms since
 * the call started) added, then
 *   {"type":"result","status":"ok"|"error"|"canceled","err":N,
 *    "elapsed_ms":N,"events":N,"first_delta_ms":N|null,"response":{...}}
 * With --parallel N, N copies run at once through the one engine and only
 *   {"type":"summary","calls":N,"ok":N,"failed":N,"canceled":N,
 *    "elapsed_ms":N,"max_active":N,"first_error":"..."}
 * is printed.  Exits 0 when every call succeeded, 1 otherwise, 2 on bad
 * usage.
 */
#include <sys/resource.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "err.h"
#include "llm/llm.h"
#include "log.h"
#include "util.h"

#define LC_TARGETS_MAX	8

struct lc_call {
	struct llm_call	*lc_call;
	uint64_t	 lc_t0;
	long long	 lc_first;	/* first delta, ms; -1 none */
	long long	 lc_events;
	int		 lc_done;
	int		 lc_err;
};

static pthread_mutex_t	 lc_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 lc_cv = PTHREAD_COND_INITIALIZER;
static int		 lc_quiet;
static int		 lc_parallel;
static long long	 lc_ndone, lc_ok, lc_failed, lc_canceled;
static char		 lc_first_error[1024];

static void
usage(void)
{
	fprintf(stderr, "usage: llmcall --style S --base URL --model M "
	    "[--provider P] [--key K] [--key-env NAME] [--timeout-ms N] "
	    "[--fallback style,base,model[,key[,key_env]]]... [--stream] "
	    "[--cancel-after-ms N] [--parallel N] [--quiet] request.json\n");
	exit(2);
}

static long long
num(const char *s, long long max)
{
	long long	 v;

	if (util_strtonum(s, 0, max, &v) != 0)
		usage();
	return (v);
}

static void
lc_event(void *arg, json_t *ev)
{
	struct lc_call	*lc = arg;
	long long	 t = (long long)(util_now_ms() - lc->lc_t0);
	const char	*type = json_string_value(json_object_get(ev, "type"));
	char		*s;

	lc->lc_events++;
	if (lc->lc_first < 0 && type != NULL &&
	    strcmp(type, "text_delta") == 0)
		lc->lc_first = t;
	if (lc_quiet || lc_parallel > 1)
		return;
	json_object_set_new(ev, "t_ms", json_integer(t));
	if ((s = json_dumps(ev, JSON_COMPACT)) != NULL) {
		printf("%s\n", s);
		fflush(stdout);
		free(s);
	}
}

static void
lc_done(void *arg, int err, json_t *resp)
{
	struct lc_call	*lc = arg;
	long long	 t = (long long)(util_now_ms() - lc->lc_t0);
	json_t		*out;
	char		*s;

	if (lc_parallel <= 1) {
		out = json_pack("{s:s, s:s, s:i, s:I, s:I, s:o, s:O?}", "type",
		    "result", "status", err == 0 ? "ok" : err == SH_ECANCELED ?
		    "canceled" : "error", "err", err, "elapsed_ms",
		    (json_int_t)t, "events", (json_int_t)lc->lc_events,
		    "first_delta_ms", lc->lc_first >= 0 ?
		    json_integer(lc->lc_first) : json_null(), "response",
		    resp);
		if (out != NULL && (s = json_dumps(out, JSON_COMPACT)) !=
		    NULL) {
			printf("%s\n", s);
			fflush(stdout);
			free(s);
		}
		json_decref(out);
	}
	pthread_mutex_lock(&lc_mtx);
	if (err == 0)
		lc_ok++;
	else if (err == SH_ECANCELED)
		lc_canceled++;
	else {
		lc_failed++;
		if (lc_first_error[0] == '\0')
			snprintf(lc_first_error, sizeof(lc_first_error), "%s",
			    json_string_value(json_object_get(resp, "error")) ?
			    json_string_value(json_object_get(resp, "error")) :
			    sh_strerror(err));
	}
	lc->lc_done = 1;
	lc->lc_err = err;
	lc_ndone++;
	pthread_cond_broadcast(&lc_cv);
	pthread_mutex_unlock(&lc_mtx);
	json_decref(resp);
}

/* "style,base,model[,key[,key_env]]" into t (strings point into s). */
static void
parse_fallback(char *s, struct llm_target *t)
{
	char	*f[5] = { NULL, NULL, NULL, NULL, NULL };
	char	*p;
	int	 n = 0, st;

	for (p = s; n < 5; n++) {
		f[n] = p;
		if ((p = strchr(p, ',')) == NULL) {
			n++;
			break;
		}
		*p++ = '\0';
	}
	if (n < 3 || (st = llm_style_parse(f[0])) < 0)
		usage();
	memset(t, 0, sizeof(*t));
	t->t_style = (enum llm_style)st;
	t->t_provider = f[0];
	t->t_base_url = f[1];
	t->t_model = f[2];
	t->t_api_key = f[3];
	t->t_key_env = f[4];
	if (t->t_api_key == NULL && t->t_key_env != NULL)
		t->t_api_key = getenv(t->t_key_env);
}

int
main(int argc, char *argv[])
{
	struct llm_target targets[LC_TARGETS_MAX];
	struct llm_engine *e;
	struct lc_call	*calls;
	struct rlimit	 rl;
	json_t		*req;
	json_error_t	 jerr;
	const char	*style = NULL, *path = NULL;
	uint64_t	 t0;
	long long	 cancel_ms = -1, active, max_active = 0, i;
	size_t		 nt = 1;
	int		 stream = 0, st, ai, rc;

	memset(targets, 0, sizeof(targets));
	lc_parallel = 1;
	log_init("llmcall", LOG_LVL_WARN, 0);
	for (ai = 1; ai < argc; ai++) {
		const char	*a = argv[ai];
		const char	*v = ai + 1 < argc ? argv[ai + 1] : NULL;

		if (strcmp(a, "--stream") == 0) {
			stream = 1;
			continue;
		}
		if (strcmp(a, "--quiet") == 0) {
			lc_quiet = 1;
			continue;
		}
		if (a[0] != '-' || strcmp(a, "-") == 0) {
			path = a;
			continue;
		}
		if (v == NULL)
			usage();
		ai++;
		if (strcmp(a, "--style") == 0)
			style = v;
		else if (strcmp(a, "--base") == 0)
			targets[0].t_base_url = v;
		else if (strcmp(a, "--model") == 0)
			targets[0].t_model = v;
		else if (strcmp(a, "--provider") == 0)
			targets[0].t_provider = v;
		else if (strcmp(a, "--key") == 0)
			targets[0].t_api_key = v;
		else if (strcmp(a, "--key-env") == 0)
			targets[0].t_key_env = v;
		else if (strcmp(a, "--timeout-ms") == 0)
			targets[0].t_timeout_ms = (int)num(v, 86400000);
		else if (strcmp(a, "--cancel-after-ms") == 0)
			cancel_ms = num(v, 86400000);
		else if (strcmp(a, "--parallel") == 0)
			lc_parallel = (int)num(v, 100000);
		else if (strcmp(a, "--fallback") == 0) {
			if (nt >= LC_TARGETS_MAX)
				usage();
			parse_fallback(argv[ai], &targets[nt++]);
		} else
			usage();
	}
	if (style == NULL || path == NULL || targets[0].t_base_url == NULL ||
	    targets[0].t_model == NULL || lc_parallel < 1 ||
	    (st = llm_style_parse(style)) < 0)
		usage();
	targets[0].t_style = (enum llm_style)st;
	if (targets[0].t_provider == NULL)
		targets[0].t_provider = style;
	if (targets[0].t_api_key == NULL && targets[0].t_key_env != NULL)
		targets[0].t_api_key = getenv(targets[0].t_key_env);

	if (strcmp(path, "-") == 0)
		req = json_loadf(stdin, 0, &jerr);
	else
		req = json_load_file(path, 0, &jerr);
	if (req == NULL) {
		fprintf(stderr, "llmcall: %s: %s\n", path, jerr.text);
		return (2);
	}
	if (stream)
		json_object_set_new(req, "stream", json_true());

	/* Many calls at once need many sockets. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((calls = calloc((size_t)lc_parallel, sizeof(*calls))) == NULL)
		return (1);
	if ((e = llm_engine_start()) == NULL) {
		fprintf(stderr, "llmcall: could not start the engine\n");
		return (1);
	}
	t0 = util_now_ms();
	pthread_mutex_lock(&lc_mtx);
	for (i = 0; i < lc_parallel; i++) {
		calls[i].lc_t0 = util_now_ms();
		calls[i].lc_first = -1;
		calls[i].lc_call = llm_start(e, req, targets, nt, lc_event,
		    lc_done, &calls[i]);
		if (calls[i].lc_call == NULL) {
			calls[i].lc_done = 1;
			lc_failed++;
			lc_ndone++;
		}
	}
	pthread_mutex_unlock(&lc_mtx);

	if (cancel_ms >= 0) {
		util_sleep_ms((unsigned int)cancel_ms);
		/* Under lc_mtx, so done cannot run (and free) meanwhile. */
		pthread_mutex_lock(&lc_mtx);
		for (i = 0; i < lc_parallel; i++)
			if (!calls[i].lc_done)
				llm_cancel(calls[i].lc_call);
		pthread_mutex_unlock(&lc_mtx);
	}
	pthread_mutex_lock(&lc_mtx);
	while (lc_ndone < lc_parallel) {
		struct timespec	 ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&lc_cv, &lc_mtx, &ts);
		active = llm_engine_active(e);
		if (active > max_active)
			max_active = active;
	}
	pthread_mutex_unlock(&lc_mtx);
	if (lc_parallel > 1) {
		json_t	*out;
		char	*s;

		out = json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:s}",
		    "type", "summary", "calls", lc_parallel, "ok",
		    (json_int_t)lc_ok, "failed", (json_int_t)lc_failed,
		    "canceled", (json_int_t)lc_canceled, "elapsed_ms",
		    (json_int_t)(util_now_ms() - t0), "max_active",
		    (json_int_t)max_active, "first_error", lc_first_error);
		if (out != NULL && (s = json_dumps(out, JSON_COMPACT)) != NULL) {
			printf("%s\n", s);
			free(s);
		}
		json_decref(out);
	}
	rc = lc_ok == lc_parallel ? 0 : 1;
	llm_engine_stop(e);
	json_decref(req);
	free(calls);
	return (rc);
}
