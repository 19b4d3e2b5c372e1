/*
 * core/core.c - the scheduler's shared state, its turns on agent-runtime
 * and its events (core/sched.h).
 *
 * A turn runs as an asynchronous bus call.  Its callback runs on an nng
 * thread, which must neither block nor free the call, so it only queues
 * the outcome; the completion thread hands it to the module's function
 * with its own database connection and frees the call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/sched.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "svc.h"
#include "util.h"

struct sched	sched;

/* A turn in flight, then done (queued for the completion thread). */
struct turn_call {
	struct turn_call	*tc_next;	/* on core.done */
	struct turn_call	*tc_rnext;	/* on core.running */
	struct turn_call	**tc_rprev;	/* NULL: not on it */
	struct bus_call		*tc_call;
	sched_turn_fn		 tc_fn;
	void			*tc_arg;
	int			 tc_status;	/* once done */
	json_t			*tc_body;	/* once done, owned */
};

static struct {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	pthread_t		 thread;
	int			 started;
	int			 quit;
	int			 inflight;	/* started, not yet handed
						   to their function */
	/* Calls whose bus_call is not freed yet: the completion thread
	 * frees each, or sched_core_stop() cancels it, whichever takes it
	 * off this list first. */
	struct turn_call	*running;
	struct turn_call	*done;		/* LIFO; order is irrelevant */
	char			 conninfo[1024];
} core = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

struct db *
sched_db_open(void)
{
	return (db_open(core.conninfo, "scheduler"));
}

static void
running_unlink(struct turn_call *tc)
{
	if ((*tc->tc_rprev = tc->tc_rnext) != NULL)
		tc->tc_rnext->tc_rprev = tc->tc_rprev;
	tc->tc_rprev = NULL;
}

/* Runs on an nng thread: keeps the outcome for the completion thread. */
static void
turn_cb(void *arg, int err, struct msg_rep *rep)
{
	struct turn_call	*tc = arg;

	if (err != 0) {
		tc->tc_status = err == SH_ETIMEDOUT ? 504 : 503;
		tc->tc_body = msg_error_body("the agent's turn did not "
		    "complete (%s)", sh_strerror(err));
	} else {
		tc->tc_status = rep->mp_status;
		tc->tc_body = json_incref(rep->mp_body);
		msg_rep_release(rep);
	}
	pthread_mutex_lock(&core.mtx);
	tc->tc_next = core.done;
	core.done = tc;
	pthread_cond_signal(&core.cond);
	pthread_mutex_unlock(&core.mtx);
}

static void *
completion_main(void *arg)
{
	struct db		*db;
	struct turn_call	*tc;
	struct bus_call		*call;

	(void)arg;
	db = sched_db_open();
	pthread_mutex_lock(&core.mtx);
	for (;;) {
		while (core.done == NULL && !(core.quit && core.inflight == 0))
			pthread_cond_wait(&core.cond, &core.mtx);
		if ((tc = core.done) == NULL)
			break;
		core.done = tc->tc_next;
		call = NULL;
		if (tc->tc_rprev != NULL) {
			running_unlink(tc);
			call = tc->tc_call;
		}
		pthread_mutex_unlock(&core.mtx);
		bus_call_free(call);
		if (tc->tc_body == NULL)
			tc->tc_body = json_object();
		tc->tc_fn(tc->tc_arg, db, tc->tc_status, tc->tc_body);
		json_decref(tc->tc_body);
		free(tc);
		pthread_mutex_lock(&core.mtx);
		core.inflight--;
	}
	pthread_mutex_unlock(&core.mtx);
	db_close(db);
	return (NULL);
}

/* The request envelope for t (new reference), or NULL. */
static json_t *
turn_request(const struct sched_turn *t, int *timeout_ms)
{
	json_t		*body, *caller;
	long long	 secs;

	*timeout_ms = t->st_timeout_ms;
	if (*timeout_ms <= 0) {
		secs = sched.s_cfg->turn_timeout_secs;
		if (secs <= 0 || secs > 86400)
			secs = 300;
		*timeout_ms = (int)(secs * 1000);
	}
	if ((body = json_pack("{s:s}", "message", t->st_message)) == NULL)
		return (NULL);
	if (t->st_session_id != NULL)
		json_object_set_new(body, "session_id",
		    json_string(t->st_session_id));
	if ((caller = json_pack("{s:s, s:i}", "principal",
	    t->st_principal != NULL ? t->st_principal : "scheduler", "depth",
	    t->st_depth)) == NULL) {
		json_decref(body);
		return (NULL);
	}
	if (t->st_event_depth > 0)
		json_object_set_new(caller, "event_depth",
		    json_integer(t->st_event_depth));
	if (t->st_idempotency_key != NULL)
		json_object_set_new(caller, "idempotency_key",
		    json_string(t->st_idempotency_key));
	if (t->st_trigger_id != NULL)
		json_object_set_new(caller, "trigger_id",
		    json_string(t->st_trigger_id));
	if (t->st_session_create)
		json_object_set_new(caller, "session_create", json_true());
	if (t->st_session_key != NULL)
		json_object_set_new(caller, "session_key",
		    json_string(t->st_session_key));
	return (msg_request(OP_AGENTS_MESSAGE, NULL,
	    util_wall_ms() + *timeout_ms, caller,
	    json_pack("{s:s}", PARAM_ID, t->st_agent_id), NULL, body));
}

int
sched_turn_start(const struct sched_turn *t, sched_turn_fn fn, void *arg)
{
	json_t	*req;
	int	 timeout_ms, rv;

	if (sched.s_bus == NULL ||
	    (req = turn_request(t, &timeout_ms)) == NULL)
		return (-1);
	rv = sched_call_start(SVC_AGENT_RUNTIME, req, timeout_ms, fn, arg);
	json_decref(req);
	return (rv);
}

int
sched_call_start(const char *svc, json_t *req, int timeout_ms,
    sched_turn_fn fn, void *arg)
{
	struct turn_call	*tc = NULL;
	int			 rv = -1;

	if (sched.s_bus == NULL || (tc = calloc(1, sizeof(*tc))) == NULL)
		goto done;
	tc->tc_fn = fn;
	tc->tc_arg = arg;
	/*
	 * Started under the lock: a reply that comes at once waits in the
	 * callback until the call is counted and listed.
	 */
	pthread_mutex_lock(&core.mtx);
	if (core.quit) {
		pthread_mutex_unlock(&core.mtx);
		goto done;
	}
	tc->tc_call = bus_call_start(sched.s_bus, svc, req, timeout_ms,
	    turn_cb, tc);
	if (tc->tc_call == NULL) {
		pthread_mutex_unlock(&core.mtx);
		goto done;
	}
	core.inflight++;
	if ((tc->tc_rnext = core.running) != NULL)
		tc->tc_rnext->tc_rprev = &tc->tc_rnext;
	tc->tc_rprev = &core.running;
	core.running = tc;
	pthread_mutex_unlock(&core.mtx);
	tc = NULL;
	rv = 0;
done:
	free(tc);
	return (rv);
}

int
sched_turn(const struct sched_turn *t, json_t **body)
{
	struct msg_rep	 rep;
	json_t		*req;
	int		 timeout_ms, rv, status;

	*body = NULL;
	if (sched.s_bus == NULL) {
		*body = msg_error_body("agent-runtime is unreachable (no bus "
		    "client)");
		return (503);
	}
	if ((req = turn_request(t, &timeout_ms)) == NULL) {
		*body = msg_error_body("out of memory");
		return (503);
	}
	rv = bus_call(sched.s_bus, SVC_AGENT_RUNTIME, req, timeout_ms, &rep);
	json_decref(req);
	if (rv != 0) {
		*body = msg_error_body("the agent's turn did not complete "
		    "(%s)", sh_strerror(rv));
		status = rv == SH_ETIMEDOUT ? 504 : 503;
	} else {
		status = rep.mp_status;
		*body = json_incref(rep.mp_body);
		msg_rep_release(&rep);
	}
	if (*body == NULL)
		*body = json_object();
	return (status);
}

void
sched_publish(const char *topic, json_t *body)
{
	if (sched.s_pub == NULL)
		return;
	pthread_mutex_lock(&sched.s_pub_mtx);
	if (bus_publish(sched.s_pub, topic, body) != 0)
		log_debug("%s: could not publish on '%s'", __func__, topic);
	pthread_mutex_unlock(&sched.s_pub_mtx);
}

int
sched_core_start(const struct sh_config *cfg)
{
	int	e;

	sched.s_cfg = cfg;
	/* The name the gateways list this replica under (its heartbeat). */
	snprintf(sched.s_replica, sizeof(sched.s_replica), "%s",
	    svc_instance());
	db_conninfo(cfg->database_url, cfg->home_dir, core.conninfo,
	    sizeof(core.conninfo));
	pthread_mutex_init(&sched.s_pub_mtx, NULL);
	/* Events are best effort: without a publisher we still serve. */
	if ((sched.s_pub = bus_pub_open(cfg->bus_url)) == NULL)
		log_warnx("could not open the publisher on '%s'; events are "
		    "off", cfg->bus_url);
	if ((sched.s_bus = bus_client_open(cfg->bus_url)) == NULL) {
		log_warnx("could not open a bus client on '%s'",
		    cfg->bus_url);
		return (-1);
	}
	if ((e = pthread_create(&core.thread, NULL, completion_main,
	    NULL)) != 0) {
		log_warnx("%s: could not start the completion thread: %s",
		    __func__, strerror(e));
		return (-1);
	}
	core.started = 1;
	return (0);
}

void
sched_core_stop(void)
{
	struct turn_call	*tc;
	struct bus_call		*call;

	if (core.started) {
		/* Cancels the turns still running: each callback runs with
		 * an error and queues its outcome (the modules' own threads
		 * have stopped, so nothing new starts). */
		pthread_mutex_lock(&core.mtx);
		core.quit = 1;
		while ((tc = core.running) != NULL) {
			running_unlink(tc);
			call = tc->tc_call;
			pthread_mutex_unlock(&core.mtx);
			bus_call_free(call);
			pthread_mutex_lock(&core.mtx);
		}
		pthread_cond_signal(&core.cond);
		pthread_mutex_unlock(&core.mtx);
		pthread_join(core.thread, NULL);
		core.started = 0;
	}
	bus_client_close(sched.s_bus);
	sched.s_bus = NULL;
	bus_pub_close(sched.s_pub);
	sched.s_pub = NULL;
	pthread_mutex_destroy(&sched.s_pub_mtx);
	explicit_bzero(core.conninfo, sizeof(core.conninfo));
}
