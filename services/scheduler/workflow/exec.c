/*
 * workflow/exec.c - the step machine of one run (kernel.md 1.2-1.4).
 *
 * State is what kernel.md calls current_input, variables and all_outputs
 * (of which only the count matters: collect takes that many of the last
 * step results); it is saved with the next step's index after every step,
 * and after every loop iteration, so a run taken over by another replica
 * continues from there.  Turns carry the idempotency key
 * "<run>/<step>/<iteration>/<attempt>", the same on every replica: the
 * step a lost replica was running, asked again, gets agent-runtime's
 * stored reply instead of a second turn.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "bus.h"
#include "core/sched.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "util.h"
#include "workflow/workflow.h"

/* The namespace of the sessions of session_mode "new" steps. */
#define WF_SESSION_NS	"9b0e3c57-4d1a-4f6e-8a2b-5c7d9e1f3a60"

/* How a step's call ended. */
enum step_rc {
	STEP_OK,
	STEP_SKIPPED,	/* error_mode skip */
	STEP_FAILED,	/* the run fails: r_error set */
	STEP_LOST
};

/* A step's agent, resolved. */
struct agent_ref {
	char	 id[UTIL_UUID_LEN];
	char	 name[WF_MAX_NAME + 1];
};

static enum wf_outcome
run_fail(struct wf_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum wf_outcome
run_fail(struct wf_run *r, const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(r->r_error);
	r->r_error = strdup(buf);
	return (WF_FAILED);
}

static const char *
step_str(json_t *st, const char *key)
{
	return (json_string_value(json_object_get(st, key)));
}

static long long
step_int(json_t *st, const char *key, long long dflt)
{
	json_t	*v = json_object_get(st, key);

	return (json_is_integer(v) ? json_integer_value(v) : dflt);
}

/* Sets current_input to s (copied). */
static int
set_cur(struct wf_run *r, const char *s)
{
	char	*c;

	if ((c = strdup(s)) == NULL)
		return (-1);
	free(r->r_cur);
	r->r_cur = c;
	return (0);
}

json_t *
wf_agents_list(char *err, size_t errlen)
{
	struct msg_rep	 rep;
	json_t		*req, *list = NULL;
	int		 rv;

	req = msg_request(OP_AGENTS_LIST, NULL, util_wall_ms() + 10000,
	    json_pack("{s:s}", "principal", "workflow"), NULL, NULL, NULL);
	if (req == NULL || sched.s_bus == NULL) {
		json_decref(req);
		snprintf(err, errlen, "agent-runtime is unreachable");
		return (NULL);
	}
	rv = bus_call(sched.s_bus, SVC_AGENT_RUNTIME, req, 10000, &rep);
	json_decref(req);
	if (rv != 0) {
		snprintf(err, errlen, "could not list agents (%s)",
		    sh_strerror(rv));
		return (NULL);
	}
	if (rep.mp_status == 200 && json_is_array(rep.mp_body))
		list = json_incref(rep.mp_body);
	else
		snprintf(err, errlen, "could not list agents (status %d)",
		    rep.mp_status);
	msg_rep_release(&rep);
	return (list);
}

/*
 * Resolves st's agent among agent-runtime's agents (by id, or the first
 * of that name).  0, 1 when it is not there, -1 when agent-runtime could
 * not be asked (err says why).
 */
static int
resolve_agent(json_t *st, struct agent_ref *ar, char *err, size_t errlen)
{
	json_t		*list, *a;
	const char	*want_id = step_str(st, "agent_id"),
			*want_nm = step_str(st, "agent_name"), *id, *nm;
	size_t		 i;
	int		 found = 1;

	if ((list = wf_agents_list(err, errlen)) == NULL)
		return (-1);
	json_array_foreach(list, i, a) {
		id = json_string_value(json_object_get(a, "id"));
		nm = json_string_value(json_object_get(a, "name"));
		if (id == NULL || nm == NULL)
			continue;
		if (want_id != NULL ? strcasecmp(id, want_id) == 0 :
		    strcmp(nm, want_nm) == 0) {
			snprintf(ar->id, sizeof(ar->id), "%s", id);
			snprintf(ar->name, sizeof(ar->name), "%s", nm);
			found = 0;
			break;
		}
	}
	json_decref(list);
	if (found != 0)
		snprintf(err, errlen, "Registry agent '%.64s' not found for "
		    "workflow step '%.64s'", want_id != NULL ? want_id :
		    want_nm, step_str(st, "name"));
	return (found);
}

/* The text of a failed turn's body (borrowed). */
static const char *
turn_error(json_t *body)
{
	const char	*e = json_string_value(json_object_get(body, "error"));

	if (e == NULL)
		e = json_string_value(json_object_get(json_object_get(body,
		    "error"), "message"));
	return (e != NULL ? e : "the turn failed");
}

/* Milliseconds left before the run's deadline (366 days: none). */
static long long
time_left(const struct wf_run *r)
{
	if (r->r_deadline == 0)
		return (WF_MAX_TIMEOUT_SECS * 1000);
	return (r->r_deadline - util_wall_ms());
}

/*
 * One turn, started (the caller waits with wf_call_wait).  NULL when it
 * could not start.
 */
static struct wf_call *
start_turn(const struct wf_run *r, const struct agent_ref *ar, const char *prompt,
    long long timeout_ms, int step, int iter, int attempt, char *key,
    size_t keylen)
{
	struct sched_turn	 t;
	const char		*smode = step_str(json_array_get(r->r_steps,
				    (size_t)step), "session_mode");
	char			 name[128], session[UTIL_UUID_LEN];

	snprintf(key, keylen, "%s/%d/%d/%d", r->r_id, step, iter, attempt);
	memset(&t, 0, sizeof(t));
	/*
	 * session_mode "new": a session of its own for this step (and loop
	 * iteration) of this run, the same on every replica, made by
	 * agent-runtime on first use.  Otherwise the agent's own choice.
	 */
	if (smode != NULL && strcmp(smode, "new") == 0) {
		snprintf(name, sizeof(name), "workflow:%s:%d:%d", r->r_id,
		    step, iter);
		if (util_uuid5(WF_SESSION_NS, name, session) == 0) {
			t.st_session_id = session;
			t.st_session_create = 1;
		}
	}
	t.st_agent_id = ar->id;
	t.st_message = prompt;
	t.st_principal = "workflow";
	t.st_event_depth = r->r_depth;
	t.st_timeout_ms = (int)timeout_ms;
	t.st_idempotency_key = key;
	return (wf_call_start(&t));
}

/*
 * Runs one turn to its end: 0 with *out (new), 1 error (err), 2 timed
 * out, -1 stopping.  A 409 means the same key's turn still runs (a lost
 * replica's): it is asked again until it answers or the time is up.
 */
static int
one_turn(const struct wf_run *r, const struct agent_ref *ar, const char *prompt,
    long long timeout_ms, int step, int iter, int attempt, json_t **out,
    char *err, size_t errlen)
{
	struct wf_call	*c;
	json_t		*body = NULL;
	char		 key[160];
	int64_t		 until = (int64_t)util_now_ms() + timeout_ms;
	long long	 left;
	int		 status;

	*out = NULL;
	for (;;) {
		if ((left = until - (int64_t)util_now_ms()) <= 0)
			return (2);
		if ((c = start_turn(r, ar, prompt, left, step, iter, attempt,
		    key, sizeof(key))) == NULL) {
			snprintf(err, errlen, "could not ask agent-runtime "
			    "for a turn");
			return (1);
		}
		if ((status = wf_call_wait(c, &body)) < 0)
			return (-1);
		if (status != 409 || !json_is_string(json_object_get(body,
		    "code")) || strcmp(json_string_value(json_object_get(body,
		    "code")), "turn_in_progress") != 0)
			break;
		json_decref(body);
		body = NULL;
		if (wf_sleep(500))
			return (-1);
	}
	if (status == 200 && json_is_string(json_object_get(body,
	    "response"))) {
		*out = body;
		return (0);
	}
	if (status == 504) {
		json_decref(body);
		return (2);
	}
	snprintf(err, errlen, "%s", turn_error(body));
	json_decref(body);
	return (1);
}

/* A StepResult (kernel.md 1.5) appended to the run's. */
static int
push_result(struct wf_run *r, const char *name, const struct agent_ref *ar,
    const char *prompt, json_t *reply, long long duration_ms)
{
	json_t	*sr;

	sr = json_pack("{s:s, s:s, s:s, s:s, s:O, s:I, s:I, s:I}",
	    "step_name", name, "agent_id", ar->id, "agent_name", ar->name,
	    "prompt", prompt, "output", json_object_get(reply, "response"),
	    "input_tokens", (json_int_t)step_int(reply, "input_tokens", 0),
	    "output_tokens", (json_int_t)step_int(reply, "output_tokens", 0),
	    "duration_ms", (json_int_t)duration_ms);
	if (sr == NULL || json_array_append_new(r->r_results, sr) != 0)
		return (-1);
	return (0);
}

/* output_var (if the step has one) = s. */
static int
set_var(struct wf_run *r, json_t *st, const char *s)
{
	const char	*v = step_str(st, "output_var");

	if (v == NULL)
		return (0);
	return (json_object_set_new(r->r_vars, v, json_string(s)));
}

/*
 * A step's turn under its error mode (1.4): attempts, timeouts, backoff.
 * STEP_OK sets *reply (new) and *ms, the last attempt's duration;
 * STEP_FAILED writes why the run fails into why.  It only reads r, so
 * the members of a DAG layer call it on threads of their own.
 */
static enum step_rc
call_step(const struct wf_run *r, json_t *st, int step,
    const struct agent_ref *ar, const char *prompt, int iter, json_t **reply,
    long long *ms, char *why, size_t whylen)
{
	const char	*name = step_str(st, "name"),
			*mode = step_str(st, "error_mode");
	long long	 timeout = step_int(st, "timeout_secs",
			    WF_DEFAULT_TIMEOUT_SECS) * 1000, backoff, wait,
			 left, jitter;
	int		 attempts = 1, a, rc = 1;
	uint64_t	 t0;
	char		 err[512] = "";

	if (strcmp(mode, "retry") == 0)
		attempts = (int)step_int(st, "max_retries",
		    WF_DEFAULT_RETRIES) + 1;
	backoff = step_int(st, "backoff_ms", -1);
	jitter = step_int(st, "jitter_pct", 0);
	for (a = 0; a < attempts; a++) {
		if ((left = time_left(r)) <= 0)
			goto total;
		t0 = util_now_ms();
		rc = one_turn(r, ar, prompt, left < timeout ? left : timeout,
		    step, iter, a, reply, err, sizeof(err));
		*ms = (long long)(util_now_ms() - t0);
		if (rc == 0)
			return (STEP_OK);
		if (rc < 0)
			return (STEP_LOST);
		if (rc == 2 && time_left(r) <= 0)
			goto total;
		if (rc == 2)
			snprintf(err, sizeof(err), "timed out after %llds",
			    timeout / 1000);
		log_info("workflow run %s: step '%s' attempt %d of %d: %s",
		    r->r_id, name, a + 1, attempts, err);
		if (a + 1 == attempts)
			break;
		/* backoff_ms * 2^attempt, else 2^attempt s; 60 s at most. */
		wait = backoff >= 0 ? backoff << (a < 16 ? a : 16) :
		    1000LL << (a < 6 ? a : 6);
		if (wait > 60000)
			wait = 60000;
		if (jitter > 0 && wait > 0)
			wait += wait * jitter / 100 *
			    ((long long)(util_now_ns() % 201) - 100) / 100;
		if (wait > time_left(r))
			wait = time_left(r) > 0 ? time_left(r) : 0;
		if (wf_sleep(wait))
			return (STEP_LOST);
	}
	if (strcmp(mode, "skip") == 0)
		return (STEP_SKIPPED);
	if (rc == 2 && attempts == 1)
		snprintf(why, whylen, "Step '%s' timed out after %llds", name,
		    timeout / 1000);
	else if (attempts > 1)
		snprintf(why, whylen, "Step '%s' failed after %d retries: %s",
		    name, attempts - 1, err);
	else
		snprintf(why, whylen, "Step '%s' failed: %s", name, err);
	return (STEP_FAILED);
 total:
	snprintf(why, whylen, "workflow exceeded total_timeout of %llds",
	    r->r_total_secs);
	return (STEP_FAILED);
}

/*
 * Resolves st's agent; a missing one fails the run.  agent-runtime out
 * of reach (a restart) is asked again, five times a second apart.
 */
static enum step_rc
step_agent(struct wf_run *r, json_t *st, struct agent_ref *ar)
{
	char	 err[512];
	int	 rc, tries = 0;

	while ((rc = resolve_agent(st, ar, err, sizeof(err))) < 0 &&
	    ++tries < 5 && time_left(r) > 1000)
		if (wf_sleep(1000))
			return (STEP_LOST);
	if (rc == 0)
		return (STEP_OK);
	run_fail(r, "%s", err);
	return (STEP_FAILED);
}

/* sequential, and conditional once its condition holds. */
static enum step_rc
exec_sequential(struct wf_run *r, json_t *st)
{
	struct agent_ref	 ar;
	json_t			*reply = NULL;
	char			*prompt = NULL, why[1024];
	const char		*out;
	long long		 ms = 0;
	enum step_rc		 rc;

	if ((rc = step_agent(r, st, &ar)) != STEP_OK)
		return (rc);
	if ((prompt = wf_expand(step_str(st, "prompt_template"), r->r_cur,
	    r->r_vars)) == NULL) {
		run_fail(r, "Step '%s' failed: its prompt is too large",
		    step_str(st, "name"));
		return (STEP_FAILED);
	}
	rc = call_step(r, st, r->r_step, &ar, prompt, 0, &reply, &ms, why,
	    sizeof(why));
	if (rc == STEP_FAILED)
		run_fail(r, "%s", why);
	if (rc == STEP_OK) {
		out = json_string_value(json_object_get(reply, "response"));
		if (push_result(r, step_str(st, "name"), &ar, prompt, reply,
		    ms) != 0 || set_var(r, st, out) != 0 ||
		    set_cur(r, out) != 0) {
			run_fail(r, "out of memory");
			rc = STEP_FAILED;
		}
		r->r_nout++;
	}
	json_decref(reply);
	free(prompt);
	return (rc == STEP_SKIPPED ? STEP_OK : rc);
}

/* 1 if the output contains until, case-insensitively. */
static int
loop_done(const char *out, const char *until)
{
	size_t	 n = strlen(until), i;

	if (n == 0)
		return (0);
	for (; *out != '\0'; out++) {
		for (i = 0; i < n && out[i] != '\0' &&
		    tolower((unsigned char)out[i]) ==
		    tolower((unsigned char)until[i]); i++)
			;
		if (i == n)
			return (1);
	}
	return (0);
}

static enum step_rc
exec_loop(struct wf_run *r, json_t *st)
{
	struct agent_ref	 ar;
	json_t			*reply = NULL;
	char			*prompt, label[WF_MAX_NAME + 32], why[1024];
	const char		*until = step_str(st, "until"), *out;
	long long		 max = step_int(st, "max_iterations",
				    WF_DEFAULT_ITERATIONS), ms = 0;
	enum step_rc		 rc = STEP_OK;
	int			 stop = 0;

	if (max > 0 && (rc = step_agent(r, st, &ar)) != STEP_OK)
		return (rc);
	while (r->r_iter < max && !stop) {
		if ((prompt = wf_expand(step_str(st, "prompt_template"),
		    r->r_cur, r->r_vars)) == NULL) {
			run_fail(r, "Step '%s' failed: its prompt is too "
			    "large", step_str(st, "name"));
			return (STEP_FAILED);
		}
		rc = call_step(r, st, r->r_step, &ar, prompt, r->r_iter,
		    &reply, &ms, why, sizeof(why));
		if (rc == STEP_FAILED)
			run_fail(r, "%s", why);
		if (rc == STEP_SKIPPED) {
			free(prompt);
			break;		/* a skip ends the loop */
		}
		if (rc != STEP_OK) {
			free(prompt);
			return (rc);
		}
		out = json_string_value(json_object_get(reply, "response"));
		snprintf(label, sizeof(label), "%s (iter %d)",
		    step_str(st, "name"), r->r_iter + 1);
		if (push_result(r, label, &ar, prompt, reply, ms) != 0 ||
		    set_cur(r, out) != 0) {
			free(prompt);
			json_decref(reply);
			run_fail(r, "out of memory");
			return (STEP_FAILED);
		}
		stop = until != NULL && loop_done(out, until);
		json_decref(reply);
		reply = NULL;
		free(prompt);
		r->r_iter++;
		if (!stop && r->r_iter < max && wf_run_save(r) != 0)
			return (STEP_LOST);
	}
	r->r_iter = 0;
	if (set_var(r, st, r->r_cur) != 0) {
		run_fail(r, "out of memory");
		return (STEP_FAILED);
	}
	r->r_nout++;
	return (STEP_OK);
}

/* collect: the outputs since the last collect as {"results": [...]}. */
static enum step_rc
exec_collect(struct wf_run *r, json_t *st)
{
	json_t		*res, *list, *sr;
	size_t		 n = json_array_size(r->r_results), i, from;
	char		*text;

	from = (size_t)r->r_nout < n ? n - (size_t)r->r_nout : 0;
	if ((list = json_array()) == NULL)
		goto nomem;
	for (i = from; i < n; i++) {
		sr = json_array_get(r->r_results, i);
		if (json_array_append_new(list, json_pack("{s:O, s:O}",
		    "agent", json_object_get(sr, "agent_name"), "output",
		    json_object_get(sr, "output"))) != 0) {
			json_decref(list);
			goto nomem;
		}
	}
	if ((res = json_pack("{s:o}", "results", list)) == NULL)
		goto nomem;
	text = json_dumps(res, JSON_COMPACT);
	json_decref(res);
	if (text == NULL || set_cur(r, text) != 0 ||
	    set_var(r, st, text) != 0) {
		free(text);
		goto nomem;
	}
	free(text);
	r->r_nout = 1;
	return (STEP_OK);
 nomem:
	run_fail(r, "out of memory");
	return (STEP_FAILED);
}

/*
 * fan_out: this step and the fan_out steps right after it run at once,
 * all on the same input, each with its own timeout and no error mode
 * (1.2): any failure fails the run.  Returns how many steps it ran in
 * *n.
 */
static enum step_rc
exec_fan_out(struct wf_run *r, int *n)
{
	struct member {
		json_t			*m_step;
		struct agent_ref	 m_agent;
		char			*m_prompt;
		struct wf_call		*m_call;
		char			 m_key[160];
		int			 m_status;
		json_t			*m_body;
	}		*m;
	size_t		 nsteps = json_array_size(r->r_steps);
	int		 k, count = 0, timed_out;
	long long	 timeout, left;
	uint64_t	 t0;
	const char	*out, *name;
	enum step_rc	 rc = STEP_OK;

	while ((size_t)(r->r_step + count) < nsteps && strcmp(step_str(
	    json_array_get(r->r_steps, (size_t)(r->r_step + count)), "mode"),
	    "fan_out") == 0)
		count++;
	*n = count;
	if ((m = calloc((size_t)count, sizeof(*m))) == NULL) {
		run_fail(r, "out of memory");
		return (STEP_FAILED);
	}
	for (k = 0; k < count && rc == STEP_OK; k++) {
		m[k].m_step = json_array_get(r->r_steps,
		    (size_t)(r->r_step + k));
		if ((rc = step_agent(r, m[k].m_step, &m[k].m_agent)) !=
		    STEP_OK)
			break;
		if ((m[k].m_prompt = wf_expand(step_str(m[k].m_step,
		    "prompt_template"), r->r_cur, r->r_vars)) == NULL) {
			run_fail(r, "FanOut step '%s' failed: its prompt is "
			    "too large", step_str(m[k].m_step, "name"));
			rc = STEP_FAILED;
		}
	}
	t0 = util_now_ms();
	if ((left = time_left(r)) <= 0 && rc == STEP_OK) {
		run_fail(r, "workflow exceeded total_timeout of %llds",
		    r->r_total_secs);
		rc = STEP_FAILED;
	}
	for (k = 0; k < count && rc == STEP_OK; k++) {
		timeout = step_int(m[k].m_step, "timeout_secs",
		    WF_DEFAULT_TIMEOUT_SECS) * 1000;
		if ((m[k].m_call = start_turn(r, &m[k].m_agent,
		    m[k].m_prompt, left < timeout ? left : timeout,
		    r->r_step + k, 0, 0, m[k].m_key, sizeof(m[k].m_key))) ==
		    NULL) {
			run_fail(r, "FanOut step '%s' failed: could not ask "
			    "agent-runtime for a turn",
			    step_str(m[k].m_step, "name"));
			rc = STEP_FAILED;
		}
	}
	/* Every started call is waited for (or, stopping, left). */
	for (k = 0; k < count; k++) {
		if (m[k].m_call == NULL)
			continue;
		m[k].m_status = wf_call_wait(m[k].m_call, &m[k].m_body);
		if (m[k].m_status < 0)
			rc = STEP_LOST;
	}
	for (k = 0; k < count && rc == STEP_OK; k++) {
		name = step_str(m[k].m_step, "name");
		out = json_string_value(json_object_get(m[k].m_body,
		    "response"));
		if (m[k].m_status == 200 && out != NULL)
			continue;
		timed_out = m[k].m_status == 504;
		if (timed_out && time_left(r) <= 0)
			run_fail(r, "workflow exceeded total_timeout of %llds",
			    r->r_total_secs);
		else if (timed_out)
			run_fail(r, "FanOut step '%s' timed out after %llds",
			    name, step_int(m[k].m_step, "timeout_secs",
			    WF_DEFAULT_TIMEOUT_SECS));
		else
			run_fail(r, "FanOut step '%s' failed: %s", name,
			    turn_error(m[k].m_body));
		rc = STEP_FAILED;
	}
	for (k = 0; k < count && rc == STEP_OK; k++) {
		out = json_string_value(json_object_get(m[k].m_body,
		    "response"));
		if (push_result(r, step_str(m[k].m_step, "name"),
		    &m[k].m_agent, m[k].m_prompt, m[k].m_body,
		    (long long)(util_now_ms() - t0)) != 0 ||
		    set_var(r, m[k].m_step, out) != 0 ||
		    set_cur(r, out) != 0) {
			run_fail(r, "out of memory");
			rc = STEP_FAILED;
		}
		r->r_nout++;
	}
	for (k = 0; k < count; k++) {
		free(m[k].m_prompt);
		json_decref(m[k].m_body);
	}
	free(m);
	return (rc);
}

/* ---- DAG mode (1.6) ------------------------------------------------------ */

/* A member of a DAG layer, run on a thread of its own. */
struct dag_member {
	const struct wf_run	*d_run;
	json_t			*d_step;
	int			 d_index;
	struct agent_ref	 d_agent;
	char			*d_prompt;
	pthread_t		 d_thread;
	int			 d_started;	/* 1: d_thread runs it */
	enum step_rc		 d_rc;
	json_t			*d_reply;
	long long		 d_ms;
	char			 d_why[1024];
};

static void *
dag_member_main(void *arg)
{
	struct dag_member	*d = arg;

	d->d_rc = call_step(d->d_run, d->d_step, d->d_index, &d->d_agent,
	    d->d_prompt, 0, &d->d_reply, &d->d_ms, d->d_why,
	    sizeof(d->d_why));
	return (NULL);
}

/* 1 if step index i failed or was skipped (r_failed). */
static int
dag_failed(const struct wf_run *r, int i)
{
	json_t	*v;
	size_t	 k;

	json_array_foreach(r->r_failed, k, v)
		if (json_integer_value(v) == i)
			return (1);
	return (0);
}

/* 1 if one of st's dependencies failed. */
static int
dag_dep_failed(const struct wf_run *r, json_t *st)
{
	json_t	*d, *o;
	size_t	 k, j;

	json_array_foreach(json_object_get(st, "depends_on"), k, d)
		json_array_foreach(r->r_steps, j, o)
			if (strcmp(step_str(o, "name"),
			    json_string_value(d)) == 0 &&
			    dag_failed(r, (int)j))
				return (1);
	return (0);
}

/*
 * One layer: every step in it at once, each on its own thread under its
 * error mode, all on the run's original input; results in declaration
 * order.  A failed dependency fails a fail-mode step's run and marks any
 * other step failed.
 */
static enum step_rc
dag_layer(struct wf_run *r, const int *layer, int which)
{
	struct dag_member	*m;
	size_t			 n = json_array_size(r->r_steps), i;
	int			 count = 0, k;
	const char		*out;
	enum step_rc		 rc = STEP_OK;

	if ((m = calloc(n, sizeof(*m))) == NULL) {
		run_fail(r, "out of memory");
		return (STEP_FAILED);
	}
	for (i = 0; i < n && rc == STEP_OK; i++) {
		if (layer[i] != which)
			continue;
		m[count].d_run = r;
		m[count].d_index = (int)i;
		m[count].d_step = json_array_get(r->r_steps, i);
		m[count].d_rc = STEP_SKIPPED;
		if (dag_dep_failed(r, m[count].d_step)) {
			if (strcmp(step_str(m[count].d_step, "error_mode"),
			    "fail") == 0) {
				run_fail(r, "Step '%s' skipped: dependency "
				    "failed", step_str(m[count].d_step,
				    "name"));
				rc = STEP_FAILED;
			}
			count++;
			continue;
		}
		if ((rc = step_agent(r, m[count].d_step,
		    &m[count].d_agent)) != STEP_OK)
			break;
		if ((m[count].d_prompt = wf_expand(step_str(m[count].d_step,
		    "prompt_template"), r->r_cur, r->r_vars)) == NULL) {
			run_fail(r, "Step '%s' failed: its prompt is too "
			    "large", step_str(m[count].d_step, "name"));
			rc = STEP_FAILED;
			break;
		}
		if (pthread_create(&m[count].d_thread, NULL, dag_member_main,
		    &m[count]) == 0)
			m[count].d_started = 1;
		else
			dag_member_main(&m[count]);
		count++;
	}
	/* Every started member is waited for, whatever happens. */
	for (k = 0; k < count; k++)
		if (m[k].d_started)
			pthread_join(m[k].d_thread, NULL);
	for (k = 0; k < count && rc == STEP_OK; k++) {
		if (m[k].d_rc == STEP_LOST)
			rc = STEP_LOST;
		else if (m[k].d_rc == STEP_FAILED) {
			run_fail(r, "%s", m[k].d_why);
			rc = STEP_FAILED;
		}
	}
	for (k = 0; k < count && rc == STEP_OK; k++) {
		if (m[k].d_rc != STEP_OK) {
			json_array_append_new(r->r_failed,
			    json_integer(m[k].d_index));
			continue;
		}
		out = json_string_value(json_object_get(m[k].d_reply,
		    "response"));
		free(r->r_last);
		if ((r->r_last = strdup(out)) == NULL ||
		    push_result(r, step_str(m[k].d_step, "name"),
		    &m[k].d_agent, m[k].d_prompt, m[k].d_reply,
		    m[k].d_ms) != 0 || set_var(r, m[k].d_step, out) != 0) {
			run_fail(r, "out of memory");
			rc = STEP_FAILED;
		}
	}
	for (k = 0; k < count; k++) {
		free(m[k].d_prompt);
		json_decref(m[k].d_reply);
	}
	free(m);
	return (rc);
}

static enum wf_outcome
exec_dag(struct wf_run *r)
{
	int		 layer[WF_MAX_STEPS], nlayers;
	char		 err[512];
	enum step_rc	 rc;

	if (json_array_size(r->r_steps) > WF_MAX_STEPS ||
	    (nlayers = wf_dag_layers(r->r_steps, layer, err,
	    sizeof(err))) < 0)
		return (run_fail(r, "%s", err));
	for (; r->r_step < nlayers; ) {
		if (wf_stopping())
			return (WF_LOST);
		if (time_left(r) <= 0)
			return (run_fail(r, "workflow exceeded total_timeout "
			    "of %llds", r->r_total_secs));
		if ((rc = dag_layer(r, layer, r->r_step)) == STEP_FAILED)
			return (WF_FAILED);
		if (rc == STEP_LOST)
			return (WF_LOST);
		r->r_step++;
		if (r->r_step < nlayers && wf_run_save(r) != 0)
			return (WF_LOST);
	}
	/* The output is the last step's that succeeded. */
	if (set_cur(r, r->r_last != NULL ? r->r_last : "") != 0)
		return (run_fail(r, "out of memory"));
	return (WF_COMPLETED);
}

enum wf_outcome
wf_exec(struct wf_run *r)
{
	json_t		*st, *seed;
	const char	*mode;
	int		 n;
	enum step_rc	 rc;

	if (r->r_cur == NULL) {
		/* First start: the input seeds current_input and the
		 * variables (1.3). */
		json_decref(r->r_vars);
		r->r_vars = NULL;
		seed = json_string(r->r_input);
		if (seed == NULL || wf_input_seed(seed, &r->r_cur,
		    &r->r_vars) != 0) {
			json_decref(seed);
			return (run_fail(r, "out of memory"));
		}
		json_decref(seed);
	}
	/* Every step's {{input}} is the run's input in DAG mode. */
	if (wf_is_dag(r->r_steps))
		return (exec_dag(r));
	while ((size_t)r->r_step < json_array_size(r->r_steps)) {
		if (wf_stopping())
			return (WF_LOST);
		if (time_left(r) <= 0)
			return (run_fail(r, "workflow exceeded total_timeout "
			    "of %llds", r->r_total_secs));
		st = json_array_get(r->r_steps, (size_t)r->r_step);
		mode = step_str(st, "mode");
		n = 1;
		if (strcmp(mode, "fan_out") == 0)
			rc = exec_fan_out(r, &n);
		else if (strcmp(mode, "collect") == 0)
			rc = exec_collect(r, st);
		else if (strcmp(mode, "loop") == 0)
			rc = exec_loop(r, st);
		else if (strcmp(mode, "conditional") == 0 &&
		    !wf_cond_match(step_str(st, "condition"), r->r_cur))
			rc = STEP_OK;	/* skipped silently */
		else
			rc = exec_sequential(r, st);
		if (rc == STEP_FAILED)
			return (WF_FAILED);
		if (rc == STEP_LOST)
			return (WF_LOST);
		r->r_step += n;
		if ((size_t)r->r_step < json_array_size(r->r_steps) &&
		    wf_run_save(r) != 0)
			return (WF_LOST);
	}
	return (WF_COMPLETED);
}
