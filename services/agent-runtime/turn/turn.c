/*
 * turn/turn.c - the machinery under every turn: a turn's life (new,
 * free), the registry of running turns, the session lock, turn.control,
 * answers and stream events, the glue to the LLM engine, start and
 * shutdown (docs/agent-turns.md).  The steps of a turn are in
 * turn/machine.c; the threads they run on in turn/pool.c.
 *
 * The session lock is two locks: the registry (no two turns of this
 * process on one session; PostgreSQL advisory locks are re-entrant per
 * connection, so they alone would not do) and pg_try_advisory_lock on the
 * replica's one lock connection (no two replicas), taken by the
 * statement that takes the session and let go without waiting for the
 * answer.  If that connection dies its locks go with it; the fence
 * (turn/session.c) then stops the late writer.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "err.h"
#include "log.h"
#include "turn/pool.h"
#include "turn/turn.h"

/* A key this process's turns hold (turn_key_lock()). */
struct turn_key_held {
	struct turn_key_held	*kh_next;
	char			 kh_key[TURN_IDEM_KEY_MAX + 1];
};

/* The advisory lock class of keys: the two-int form, apart from the
 * sessions' bigint locks. */
#define TURN_KEY_LOCK_CLASS	"7011"

static struct {
	struct llm_engine	*engine;

	pthread_mutex_t		 lock_mtx;	/* lockdb */
	struct db		*lockdb;

	pthread_mutex_t		 reg_mtx;	/* turns, nturns */
	pthread_cond_t		 reg_cv;
	struct turn		*turns;
	int			 nturns;	/* alive (not freed) */
	atomic_int		 stopping;

	struct turn_key_held	*keys;		/* reg_mtx */

	struct bus_sub		*ctl;
	pthread_t		 ctl_thread;
	int			 ctl_running;
	int			 started;
} tp = {
	.lock_mtx = PTHREAD_MUTEX_INITIALIZER,
	.reg_mtx = PTHREAD_MUTEX_INITIALIZER,
	.reg_cv = PTHREAD_COND_INITIALIZER,
};

int
turn_stopping(void)
{
	return (atomic_load(&tp.stopping));
}

/* ---- turns, the registry ---------------------------------------------- */

struct turn *
turn_new(struct agent_state *as, enum turn_kind kind)
{
	struct turn	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	pthread_mutex_init(&t->t_mtx, NULL);
	t->t_as = as;
	t->t_kind = kind;
	t->t_started_ms = util_now_ms();
	if ((t->t_traces = json_array()) == NULL ||
	    (t->t_notices = json_array()) == NULL) {
		json_decref(t->t_traces);
		free(t);
		return (NULL);
	}
	pthread_mutex_lock(&tp.reg_mtx);
	tp.nturns++;
	pthread_mutex_unlock(&tp.reg_mtx);
	return (t);
}

void
turn_free(struct turn *t)
{
	if (t == NULL)
		return;
	if (t->t_pending != NULL)
		svc_pending_reply(t->t_pending, 500, msg_error_body("the turn "
		    "ended without an answer"));
	turn_unregister(t);
	if (t->t_idem_locked)
		turn_key_unlock(t->t_idem_key);
	json_decref(t->t_row);
	json_decref(t->t_peers);
	json_decref(t->t_user);
	json_decref(t->t_temperature);
	json_decref(t->t_attachments);
	json_decref(t->t_messages);
	json_decref(t->t_system);
	json_decref(t->t_tools);
	json_decref(t->t_tool_allow);
	json_decref(t->t_chat_origin);
	json_decref(t->t_traces);
	json_decref(t->t_notices);
	json_decref(t->t_text);
	json_decref(t->t_llm_resp);
	json_decref(t->t_round);
	json_decref(t->t_results);
	obs_turn_release(t);
	if (t->t_chain != NULL)
		explicit_bzero(t->t_chain, t->t_nchain * sizeof(*t->t_chain));
	free(t->t_chain);
	free(t->t_workspace);
	loop_guard_free(t->t_guard);
	free(t->t_summary);
	free(t->t_model_override);
	free(t->t_stream);
	free(t->t_stream_id);
	buf_release(&t->t_stream_text);
	pthread_mutex_destroy(&t->t_mtx);
	free(t);
	pthread_mutex_lock(&tp.reg_mtx);
	tp.nturns--;
	pthread_cond_broadcast(&tp.reg_cv);
	pthread_mutex_unlock(&tp.reg_mtx);
}

void
turn_register(struct turn *t)
{
	pthread_mutex_lock(&tp.reg_mtx);
	if (!t->t_registered) {
		t->t_next = tp.turns;
		tp.turns = t;
		t->t_registered = 1;
	}
	pthread_mutex_unlock(&tp.reg_mtx);
}

void
turn_unregister(struct turn *t)
{
	struct turn	**pp;

	pthread_mutex_lock(&tp.reg_mtx);
	if (t->t_registered) {
		for (pp = &tp.turns; *pp != NULL; pp = &(*pp)->t_next)
			if (*pp == t) {
				*pp = t->t_next;
				break;
			}
		t->t_registered = 0;
	}
	pthread_mutex_unlock(&tp.reg_mtx);
}

/* Interrupts t: the flag for tools and the loop, and its provider call. */
static void
turn_interrupt(struct turn *t)
{
	t->t_interrupted = 1;
	pthread_mutex_lock(&t->t_mtx);
	if (t->t_call != NULL)
		llm_cancel(t->t_call);
	pthread_mutex_unlock(&t->t_mtx);
}

/* Interrupts the registered turns of agent_id (and session sid). */
static int
turn_interrupt_matching(const char *agent_id, const char *sid)
{
	struct turn	*t;
	int		 n = 0;

	pthread_mutex_lock(&tp.reg_mtx);
	for (t = tp.turns; t != NULL; t = t->t_next) {
		if (strcmp(t->t_agent_id, agent_id) != 0 ||
		    (sid != NULL && strcmp(t->t_session_id, sid) != 0))
			continue;
		turn_interrupt(t);
		n++;
	}
	pthread_mutex_unlock(&tp.reg_mtx);
	return (n);
}

void
turn_control(struct agent_state *as, const char *agent_id, const char *sid)
{
	json_t	*ev;

	(void)turn_interrupt_matching(agent_id, sid);
	if (as == NULL || as->as_pub == NULL)
		return;
	if ((ev = json_pack("{s:s, s:s?}", "agent_id", agent_id,
	    "session_id", sid)) == NULL)
		return;
	pthread_mutex_lock(&as->as_pub_mtx);
	if (bus_publish(as->as_pub, TOPIC_TURN_CONTROL, ev) != 0)
		log_debug("%s: could not publish for %s", __func__, agent_id);
	pthread_mutex_unlock(&as->as_pub_mtx);
	json_decref(ev);
}

/* The turn.control listener: other replicas' stops reach us here. */
static void *
ctl_main(void *arg)
{
	char		*topic;
	json_t		*body;
	const char	*aid, *sid;

	(void)arg;
	/* No deadline: turn_shutdown() wakes the receive. */
	while (!turn_stopping()) {
		if (bus_sub_recv(tp.ctl, -1, &topic, &body) != 0)
			continue;
		aid = json_string_value(json_object_get(body, "agent_id"));
		sid = json_string_value(json_object_get(body, "session_id"));
		if (aid != NULL)
			(void)turn_interrupt_matching(aid, sid);
		free(topic);
		json_decref(body);
	}
	return (NULL);
}

/* ---- the session lock -------------------------------------------------- */

int
turn_take(struct turn *t, int peers_max, struct session_take *st)
{
	struct turn	*o;
	int		 busy = 0, rv;

	pthread_mutex_lock(&tp.reg_mtx);
	for (o = tp.turns; o != NULL; o = o->t_next)
		if (o != t && o->t_locked &&
		    strcmp(o->t_session_id, t->t_session_id) == 0)
			busy = 1;
	if (!busy)
		t->t_locked = 1;	/* claimed in this process */
	pthread_mutex_unlock(&tp.reg_mtx);
	if (busy)
		return (0);
	pthread_mutex_lock(&tp.lock_mtx);
	rv = session_take(tp.lockdb, t->t_session_id, t->t_agent_id,
	    t->t_agent_name, peers_max, st);
	if (rv == -1)
		log_warnx("%s: lock connection: %s", __func__,
		    db_errmsg(tp.lockdb));
	pthread_mutex_unlock(&tp.lock_mtx);
	if (rv == 0)
		return (1);
	if (rv == SESSION_EBUSY) {
		pthread_mutex_lock(&tp.reg_mtx);
		t->t_locked = 0;
		pthread_mutex_unlock(&tp.reg_mtx);
		return (0);
	}
	/* Locked but not taken, or not known: let go (a lock not held
	 * only draws a warning from the server). */
	turn_unlock(t);
	return (rv == SESSION_EOTHER ? SESSION_EOTHER : -1);
}

void
turn_unlock(struct turn *t)
{
	char		 key[24];
	const char	*p[1] = { key };

	if (!t->t_locked)
		return;
	snprintf(key, sizeof(key), "%lld", session_lock_key(t->t_session_id));
	/* Not waited for: the answer goes out meanwhile.  The next
	 * statement on the connection reads it first, so a later turn of
	 * this process locks after it; if it cannot be sent, the
	 * connection is broken and its locks went with it. */
	pthread_mutex_lock(&tp.lock_mtx);
	(void)db_send(tp.lockdb, "SELECT pg_advisory_unlock($1::bigint)", 1,
	    p);
	pthread_mutex_unlock(&tp.lock_mtx);
	pthread_mutex_lock(&tp.reg_mtx);
	t->t_locked = 0;
	pthread_mutex_unlock(&tp.reg_mtx);
}

/* ---- the lock of an idempotency key ------------------------------------ */

/* Removes key from the registry; 1 if it was there.  reg_mtx held. */
static int
turn_key_forget(const char *key)
{
	struct turn_key_held	**kp, *k;

	for (kp = &tp.keys; (k = *kp) != NULL; kp = &k->kh_next)
		if (strcmp(k->kh_key, key) == 0) {
			*kp = k->kh_next;
			free(k);
			return (1);
		}
	return (0);
}

int
turn_key_lock(const char *key)
{
	struct turn_key_held	*k;
	PGresult		*res;
	int			 got;

	/* Advisory locks are re-entrant per connection: two requests of
	 * this process with one key are told apart here. */
	pthread_mutex_lock(&tp.reg_mtx);
	for (k = tp.keys; k != NULL; k = k->kh_next)
		if (strcmp(k->kh_key, key) == 0)
			break;
	if (k == NULL && (k = calloc(1, sizeof(*k))) != NULL) {
		snprintf(k->kh_key, sizeof(k->kh_key), "%s", key);
		k->kh_next = tp.keys;
		tp.keys = k;
		k = NULL;
		got = 1;
	} else
		got = k != NULL ? 0 : -1;
	pthread_mutex_unlock(&tp.reg_mtx);
	if (got != 1)
		return (got);
	pthread_mutex_lock(&tp.lock_mtx);
	res = db_exec(tp.lockdb, "SELECT pg_try_advisory_lock("
	    TURN_KEY_LOCK_CLASS ", hashtext($1))", 1, &key);
	pthread_mutex_unlock(&tp.lock_mtx);
	got = res == NULL ? -1 : PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (got != 1) {
		pthread_mutex_lock(&tp.reg_mtx);
		(void)turn_key_forget(key);
		pthread_mutex_unlock(&tp.reg_mtx);
	}
	return (got);
}

void
turn_key_unlock(const char *key)
{
	PGresult	*res;
	int		 held;

	pthread_mutex_lock(&tp.reg_mtx);
	held = turn_key_forget(key);
	pthread_mutex_unlock(&tp.reg_mtx);
	if (!held)
		return;
	/* A lock connection that died meanwhile took the lock with it:
	 * the unlock then only warns (a NOTICE). */
	pthread_mutex_lock(&tp.lock_mtx);
	res = db_exec(tp.lockdb, "SELECT pg_advisory_unlock("
	    TURN_KEY_LOCK_CLASS ", hashtext($1))", 1, &key);
	pthread_mutex_unlock(&tp.lock_mtx);
	PQclear(res);
}

/* ---- replies and events --------------------------------------------- */

void
turn_reply(struct turn *t, int status, json_t *body)
{
	if (t->t_pending == NULL) {
		json_decref(body);
		return;
	}
	if (body != NULL && t->t_stream != NULL && json_is_object(body))
		json_object_set_new(body, "events", json_integer(
		    atomic_load(&t->t_seq)));
	(void)svc_pending_reply(t->t_pending, status, body);
	t->t_pending = NULL;
}

void
turn_event(struct turn *t, json_t *ev)
{
	struct agent_state	*as = t->t_as;
	json_t			*o;
	long long		 seq;

	if (t->t_stream == NULL || as == NULL || as->as_pub == NULL)
		return;
	if ((o = json_copy(ev)) == NULL)
		return;
	seq = atomic_fetch_add(&t->t_seq, 1) + 1;
	json_object_set_new(o, "stream_id", json_string(t->t_stream_id));
	json_object_set_new(o, "seq", json_integer(seq));
	pthread_mutex_lock(&as->as_pub_mtx);
	(void)bus_publish(as->as_pub, t->t_stream, o);
	pthread_mutex_unlock(&as->as_pub_mtx);
	json_decref(o);
}

/* ---- provider calls ----------------------------------------------------- */

/*
 * Engine thread: the streaming cut.  A call under a reservation counts
 * the output it streams (text, thinking and tool input, ~4 characters a
 * token: the provider's usage comes only at the end) and keeps the text
 * the client is shown.  Once the count passes the output the call
 * reserved, the provider streams past its max_tokens: nothing more is
 * shown, the call is cancelled, and the turn ends with what was shown
 * (turn/machine.c).  1 when ev is not to be shown.
 */
static int
turn_stream_budget(struct turn *t, const char *type, json_t *ev)
{
	const char	*text;
	size_t		 len;

	if (t->t_budget_cut)
		return (1);
	if (strcmp(type, "restart") == 0) {
		/* The client drops what it was shown; the count stays (the
		 * failed attempt's output was spent too). */
		buf_reset(&t->t_stream_text);
		return (0);
	}
	if ((text = json_string_value(json_object_get(ev, "text"))) == NULL)
		return (0);
	len = strlen(text);
	t->t_stream_chars += len;
	if (strcmp(type, "text_delta") == 0 &&
	    buf_add(&t->t_stream_text, text, len) != 0)
		log_warnx("%s: the streamed text of turn %s is lost: %s",
		    __func__, t->t_session_id, sh_strerror(SH_ENOMEM));
	if ((long long)((t->t_stream_chars + 3) / 4) <= t->t_budget_out)
		return (0);
	/* This delta is shown (the cut is at most one delta late); the
	 * call ends after this callback (llm.h). */
	t->t_budget_cut = 1;
	pthread_mutex_lock(&t->t_mtx);
	if (t->t_call != NULL)
		llm_cancel(t->t_call);
	pthread_mutex_unlock(&t->t_mtx);
	return (0);
}

/* Engine thread: stream events become turn events. */
static void
turn_llm_ev(void *arg, json_t *ev)
{
	struct turn	*t = arg;
	const char	*type = json_string_value(json_object_get(ev, "type"));

	if (type == NULL)
		return;
	if (t->t_budget_out > 0 && (strcmp(type, "text_delta") == 0 ||
	    strcmp(type, "thinking_delta") == 0 ||
	    strcmp(type, "tool_input_delta") == 0 ||
	    strcmp(type, "restart") == 0) &&
	    turn_stream_budget(t, type, ev) != 0)
		return;
	/* tool_use is announced by the loop when the call runs. */
	if (strcmp(type, "text_delta") == 0 ||
	    strcmp(type, "thinking_delta") == 0 ||
	    strcmp(type, "restart") == 0)
		turn_event(t, ev);
}

/* Engine thread: never blocks but for t_mtx, held only briefly. */
static void
turn_llm_done(void *arg, int err, json_t *resp)
{
	struct turn	*t = arg;

	pthread_mutex_lock(&t->t_mtx);
	obs_llm_done(t);	/* agent/obs.c: provider time */
	t->t_call = NULL;
	t->t_llm_done = 1;
	t->t_llm_err = err;
	json_decref(t->t_llm_resp);
	t->t_llm_resp = resp;
	pthread_mutex_unlock(&t->t_mtx);
	if (turn_queue(t, t->t_after_llm, 0) != 0)
		log_warnx("%s: out of memory: turn %s lost", __func__,
		    t->t_session_id);
}

int
turn_llm(struct turn *t, json_t *request, int stream, turn_job_fn after)
{
	struct llm_target	 tg[TURN_CHAIN_MAX];
	struct llm_call		*c;
	int64_t			 left;
	size_t			 i;
	int			 timeout = 0;

	if (t->t_deadline > 0) {
		left = t->t_deadline - util_wall_ms();
		timeout = left < 1000 ? 1000 : left > INT32_MAX ? INT32_MAX :
		    (int)left;
	}
	for (i = 0; i < t->t_nchain; i++) {
		catalog_llm_target(&t->t_chain[i], &tg[i]);
		tg[i].t_timeout_ms = timeout;
	}
	json_object_set_new(request, "stream", json_boolean(stream));
	/* A new call's streaming cut starts from nothing (the engine
	 * thread touches these only once the call runs). */
	t->t_stream_chars = 0;
	t->t_budget_cut = 0;
	buf_release(&t->t_stream_text);
	buf_init(&t->t_stream_text, LLM_MAX_RESPONSE);
	if (!stream)
		t->t_budget_out = 0;
	/*
	 * t_mtx is held across llm_start(): done (engine thread) takes it
	 * too, so the next step cannot run, end the turn and free t before
	 * this thread is done with it.  llm_start() never waits for the
	 * engine, and done never runs with an engine lock held.
	 */
	pthread_mutex_lock(&t->t_mtx);
	t->t_llm_done = 0;
	t->t_after_llm = after;
	obs_llm_start(t);	/* agent/obs.c: provider time */
	c = llm_start(tp.engine, request, tg, t->t_nchain,
	    stream ? turn_llm_ev : NULL, turn_llm_done, t);
	if (c != NULL && !t->t_llm_done) {
		t->t_call = c;
		if (t->t_interrupted)
			llm_cancel(c);
	}
	pthread_mutex_unlock(&t->t_mtx);
	return (c != NULL ? 0 : -1);
}

/* ---- start and stop ------------------------------------------------------ */

int
turn_init(const struct sh_config *cfg)
{
	char	conninfo[1024];
	int	rv = -1;

	db_conninfo(cfg->database_url, cfg->home_dir, conninfo,
	    sizeof(conninfo));
	if ((tp.lockdb = db_open(conninfo, "runtime")) == NULL)
		goto done;
	if ((tp.engine = llm_engine_start()) == NULL) {
		log_warnx("%s: could not start the LLM engine", __func__);
		goto done;
	}
	if (turn_pool_start(conninfo, "runtime") != 0)
		goto done;
	if ((tp.ctl = bus_sub_open(cfg->bus_url)) == NULL ||
	    bus_subscribe(tp.ctl, TOPIC_TURN_CONTROL) != 0)
		log_warnx("%s: could not listen on '%s'; stops reach only "
		    "this replica's turns", __func__, TOPIC_TURN_CONTROL);
	else if (pthread_create(&tp.ctl_thread, NULL, ctl_main, NULL) == 0)
		tp.ctl_running = 1;
	tp.started = 1;
	rv = 0;
 done:
	explicit_bzero(conninfo, sizeof(conninfo));
	return (rv);
}

void
turn_shutdown(void)
{
	struct turn	*t;
	struct timespec	 ts;
	int		 n;

	if (!tp.started)
		return;
	atomic_store(&tp.stopping, 1);
	bus_sub_wake(tp.ctl);
	/* Every running turn: cancel its provider call; each then answers
	 * 503 from its next step, after saving what it has. */
	pthread_mutex_lock(&tp.reg_mtx);
	for (t = tp.turns; t != NULL; t = t->t_next)
		turn_interrupt(t);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += TURN_STOP_GRACE_MS / 1000;
	while (tp.nturns > 0)
		if (pthread_cond_timedwait(&tp.reg_cv, &tp.reg_mtx, &ts) ==
		    ETIMEDOUT)
			break;
	n = tp.nturns;
	pthread_mutex_unlock(&tp.reg_mtx);
	if (n > 0)
		log_warnx("%s: %d turns still running at exit", __func__, n);
	/* The engine's own stop cancels what is left (done runs). */
	llm_engine_stop(tp.engine);
	tp.engine = NULL;
	turn_pool_stop();
	if (tp.ctl_running)
		pthread_join(tp.ctl_thread, NULL);
	bus_sub_close(tp.ctl);
	db_close(tp.lockdb);
	tp.started = 0;
}
