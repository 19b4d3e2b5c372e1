/*
 * gw_turns.c - streamed turns: the gateway's one subscriber to
 * "turn.<instance id>" and the registry that routes each published event
 * to its turn by stream_id (docs/agent-turns.md, "Streaming over the
 * bus").
 *
 * A turn is registered before its call (agents.message, or any operation
 * that passes the caller's stream on to one, such as a2a.tasks.send)
 * starts, so no event can beat it.  Events are delivered in arrival order; one whose
 * seq is not above the last one delivered is a duplicate (a second
 * broker, a retry) and is dropped.  The bus reply carries "events": N;
 * when the reply arrives before event N, the turn waits up to
 * GW_TURN_GRACE_MS for the rest (PUB/SUB may drop under load, and the
 * reply is the truth), then ends.
 *
 * Locking: gw_turns_mtx guards the registry and is taken before a turn's
 * t_mtx.  The subscriber thread delivers events and runs timers with both
 * held, so gw_turn_free(), which unlinks under gw_turns_mtx first, never
 * races with a delivery; the reply callback (nng thread) takes t_mtx
 * only.  Callbacks run with t_mtx held.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "err.h"
#include "gateway.h"
#include "log.h"
#include "services.h"

#define GW_TURN_BUCKETS		256
#define GW_TURN_TICK_MS		50	/* timer resolution with turns */

struct gw_turn {
	struct gw_turn		*t_next;	/* bucket, under gw_turns_mtx */
	struct gw_turn		**t_pprev;
	pthread_mutex_t		 t_mtx;
	char			 t_id[UTIL_UUID_LEN];
	const struct gw_turn_ops *t_ops;
	void			*t_arg;
	struct bus_call		*t_call;
	long long		 t_seq;		/* last delivered */
	uint64_t		 t_active_ms;	/* last delivery (idle) */
	uint64_t		 t_grace_ms;	/* end by then; 0: none */
	long long		 t_expect;	/* events the reply counted */
	int			 t_replied;
	int			 t_ended;
	int			 t_cancelled;
	int			 t_err;
	struct msg_rep		 t_rep;		/* when t_replied && !t_err */
};

static pthread_mutex_t	 gw_turns_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct gw_turn	*gw_turns_tab[GW_TURN_BUCKETS];
static long long	 gw_turns_n;		/* under gw_turns_mtx */
static const struct sh_config *gw_turns_cfg;
static struct bus_client *gw_turns_bus;
static struct bus_sub	*gw_turns_sub;
static pthread_t	 gw_turns_thr;
static int		 gw_turns_started;
static atomic_int	 gw_turns_quit;
static char		 gw_turns_topic[64];	/* "turn.<uuid>" */

static struct gw_turn **
gw_turn_bucket(const char *id)
{
	uint32_t	h = 2166136261U;

	for (; *id != '\0'; id++) {
		h ^= (unsigned char)*id;
		h *= 16777619U;
	}
	return (&gw_turns_tab[h % GW_TURN_BUCKETS]);
}

/* Ends t once: the done callback, then the reply goes.  t_mtx held. */
static void
gw_turn_end(struct gw_turn *t)
{
	if (t->t_ended || t->t_cancelled)
		return;
	t->t_ended = 1;
	t->t_ops->to_done(t->t_arg, t->t_err, t->t_err == 0 ? &t->t_rep :
	    NULL);
	if (t->t_err == 0)
		msg_rep_release(&t->t_rep);
}

/* The bus reply, on an nng thread. */
static void
gw_turn_reply(void *arg, int err, struct msg_rep *rep)
{
	struct gw_turn	*t = arg;
	json_t		*n;

	pthread_mutex_lock(&t->t_mtx);
	if (t->t_cancelled || t->t_ended) {
		pthread_mutex_unlock(&t->t_mtx);
		if (rep != NULL)
			msg_rep_release(rep);
		return;
	}
	t->t_replied = 1;
	t->t_err = err;
	if (err == 0) {
		t->t_rep = *rep;
		n = json_object_get(rep->mp_body, "events");
		t->t_expect = json_is_integer(n) ? json_integer_value(n) : 0;
	}
	if (err != 0 || t->t_seq >= t->t_expect)
		gw_turn_end(t);
	else
		t->t_grace_ms = util_now_ms() + GW_TURN_GRACE_MS;
	pthread_mutex_unlock(&t->t_mtx);
}

struct gw_turn *
gw_turn_start_op(const char *op, json_t *params, json_t *body,
    const char *ip, const char *principal, const char *request_id,
    json_t *idem, const struct gw_turn_ops *ops, void *arg, int *errp)
{
	struct gw_turn	*t, **b;
	json_t		*env, *caller;
	int		 timeout;

	*errp = SH_ENOMEM;
	if (gw_turns_sub == NULL || params == NULL) {
		json_decref(params);
		json_decref(body);
		*errp = params == NULL ? SH_ENOMEM : SH_EUNAVAIL;
		return (NULL);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		json_decref(params);
		json_decref(body);
		return (NULL);
	}
	pthread_mutex_init(&t->t_mtx, NULL);
	util_uuid4(t->t_id);
	t->t_ops = ops;
	t->t_arg = arg;
	t->t_active_ms = util_now_ms();
	timeout = (int)(gw_turns_cfg->turn_timeout_secs * 1000);
	caller = json_pack("{s:s, s:s, s:s, s:s, s:s}", "ip", ip, "principal",
	    principal, "request_id", request_id, "stream", gw_turns_topic,
	    "stream_id", t->t_id);
	if (caller != NULL && idem != NULL)
		json_object_update(caller, idem);
	env = msg_request(op, NULL, util_wall_ms() + timeout, caller, params,
	    json_object(), body);
	if (caller == NULL || env == NULL) {
		json_decref(env);
		pthread_mutex_destroy(&t->t_mtx);
		free(t);
		return (NULL);
	}

	pthread_mutex_lock(&gw_turns_mtx);
	b = gw_turn_bucket(t->t_id);
	if ((t->t_next = *b) != NULL)
		t->t_next->t_pprev = &t->t_next;
	t->t_pprev = b;
	*b = t;
	/* The first turn: the subscriber waits without a deadline until
	 * there is one, and its timers start now. */
	if (gw_turns_n++ == 0)
		bus_sub_wake(gw_turns_sub);
	pthread_mutex_unlock(&gw_turns_mtx);

	/* The reply may come before t_call is set: the callback does not
	 * look at it. */
	t->t_call = bus_call_start(gw_turns_bus, SVC_AGENT_RUNTIME, env,
	    timeout, gw_turn_reply, t);
	json_decref(env);
	if (t->t_call == NULL) {
		t->t_cancelled = 1;	/* nothing to deliver to */
		gw_turn_free(t);
		*errp = SH_EUNAVAIL;
		return (NULL);
	}
	*errp = 0;
	return (t);
}

struct gw_turn *
gw_turn_start(const char *agent_id, json_t *body, const char *ip,
    const char *principal, const char *request_id, json_t *idem,
    const struct gw_turn_ops *ops, void *arg, int *errp)
{
	return (gw_turn_start_op(OP_AGENTS_MESSAGE, json_pack("{s:s}", "id",
	    agent_id), body, ip, principal, request_id, idem, ops, arg,
	    errp));
}

void
gw_turn_free(struct gw_turn *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&gw_turns_mtx);
	if ((*t->t_pprev = t->t_next) != NULL)
		t->t_next->t_pprev = t->t_pprev;
	gw_turns_n--;
	pthread_mutex_unlock(&gw_turns_mtx);
	pthread_mutex_lock(&t->t_mtx);
	t->t_cancelled = 1;
	pthread_mutex_unlock(&t->t_mtx);
	/* Cancels the call and waits for its callback. */
	bus_call_free(t->t_call);
	if (t->t_replied && !t->t_ended && t->t_err == 0)
		msg_rep_release(&t->t_rep);
	pthread_mutex_destroy(&t->t_mtx);
	free(t);
}

/* ---- the subscriber thread ------------------------------------------ */

/* Routes one published event.  gw_turns_mtx held. */
static void
gw_turns_deliver(json_t *ev)
{
	struct gw_turn	*t;
	const char	*sid;
	json_t		*seq;

	sid = json_string_value(json_object_get(ev, "stream_id"));
	seq = json_object_get(ev, "seq");
	if (sid == NULL || !json_is_integer(seq) ||
	    !json_is_string(json_object_get(ev, "type"))) {
		log_debug("%s: a malformed turn event", __func__);
		return;
	}
	for (t = *gw_turn_bucket(sid); t != NULL; t = t->t_next)
		if (strcmp(t->t_id, sid) == 0)
			break;
	if (t == NULL)
		return;		/* its client has gone */
	pthread_mutex_lock(&t->t_mtx);
	if (!t->t_ended && !t->t_cancelled &&
	    json_integer_value(seq) > t->t_seq) {
		t->t_seq = json_integer_value(seq);
		t->t_active_ms = util_now_ms();
		t->t_ops->to_event(t->t_arg, ev);
		if (t->t_replied && t->t_seq >= t->t_expect)
			gw_turn_end(t);
	}
	pthread_mutex_unlock(&t->t_mtx);
}

/* Grace periods and keep-alives.  gw_turns_mtx held. */
static void
gw_turns_timers(uint64_t now)
{
	struct gw_turn	*t;
	int		 i;

	for (i = 0; i < GW_TURN_BUCKETS; i++) {
		for (t = gw_turns_tab[i]; t != NULL; t = t->t_next) {
			pthread_mutex_lock(&t->t_mtx);
			if (t->t_ended || t->t_cancelled)
				;
			else if (t->t_replied && now >= t->t_grace_ms) {
				if (t->t_seq < t->t_expect)
					log_debug("turn %s: %lld of %lld "
					    "events seen", t->t_id, t->t_seq,
					    t->t_expect);
				gw_turn_end(t);
			} else if (t->t_ops->to_idle != NULL &&
			    now - t->t_active_ms >= GW_TURN_IDLE_MS) {
				t->t_active_ms = now;
				t->t_ops->to_idle(t->t_arg);
			}
			pthread_mutex_unlock(&t->t_mtx);
		}
	}
}

static void *
gw_turns_main(void *arg)
{
	uint64_t	 next = 0, now;
	char		*topic;
	json_t		*ev;
	int		 rv, tick;

	(void)arg;
	while (!atomic_load(&gw_turns_quit)) {
		pthread_mutex_lock(&gw_turns_mtx);
		/* Without turns, no timer is due: the first turn or a stop
		 * wakes the receive (bus_sub_wake()). */
		tick = gw_turns_n > 0 ? GW_TURN_TICK_MS : -1;
		pthread_mutex_unlock(&gw_turns_mtx);
		rv = bus_sub_recv(gw_turns_sub, tick, &topic, &ev);
		pthread_mutex_lock(&gw_turns_mtx);
		if (rv == 0 && json_is_object(ev))
			gw_turns_deliver(ev);
		now = util_now_ms();
		if (now >= next) {
			gw_turns_timers(now);
			next = now + GW_TURN_TICK_MS;
		}
		pthread_mutex_unlock(&gw_turns_mtx);
		if (rv == 0) {
			free(topic);
			json_decref(ev);
		}
	}
	return (NULL);
}

int
gw_turns_start(const struct sh_config *cfg, struct bus_client *bc)
{
	char	id[UTIL_UUID_LEN];

	gw_turns_cfg = cfg;
	gw_turns_bus = bc;
	util_uuid4(id);
	snprintf(gw_turns_topic, sizeof(gw_turns_topic), TOPIC_TURN_STREAM "%s", id);
	if ((gw_turns_sub = bus_sub_open(cfg->bus_url)) == NULL ||
	    bus_subscribe(gw_turns_sub, gw_turns_topic) != 0) {
		log_warnx("%s: could not subscribe to '%s'", __func__,
		    gw_turns_topic);
		bus_sub_close(gw_turns_sub);
		gw_turns_sub = NULL;
		return (-1);
	}
	atomic_store(&gw_turns_quit, 0);
	if (pthread_create(&gw_turns_thr, NULL, gw_turns_main, NULL) != 0) {
		log_warnx("%s: could not start the subscriber", __func__);
		bus_sub_close(gw_turns_sub);
		gw_turns_sub = NULL;
		return (-1);
	}
	gw_turns_started = 1;
	log_debug("streamed turns on '%s'", gw_turns_topic);
	return (0);
}

void
gw_turns_stop(void)
{
	struct bus_sub	*sub;

	if (!gw_turns_started)
		return;
	atomic_store(&gw_turns_quit, 1);
	bus_sub_wake(gw_turns_sub);
	pthread_join(gw_turns_thr, NULL);
	gw_turns_started = 0;
	/* Unset under the lock a new turn wakes it under. */
	pthread_mutex_lock(&gw_turns_mtx);
	sub = gw_turns_sub;
	gw_turns_sub = NULL;
	pthread_mutex_unlock(&gw_turns_mtx);
	bus_sub_close(sub);
}
