/*
 * chan_hookout.c - outbound webhook deliveries: the durable outbox of
 * sql/007_webhooks.sql filled from the bus's events and emptied by a few
 * threads per replica.
 *
 * Queueing.  Every replica subscribes to TOPIC_EVENTS.  An event that
 * names a webhook event (hook_event_of(): every name of
 * hook_event_names[]: agent spawned, stopped or failing a turn, a message
 * taken or answered, a cron job's system event, a trigger's fire, a wake
 * from POST /hooks/wake, a memory write, the task queue's events, a
 * workflow run's end, an approval requested or decided) becomes one row
 * per enabled subscription that
 * names it (or "all"), in one INSERT keyed by (webhook, event id): the
 * replicas that all saw the event queue it once.  The bus is the feed, so
 * an event published while no channels replica listens, or dropped by a
 * full SUB queue, is not delivered; from the row on nothing is lost.
 *
 * Delivering.  hc_workers threads per replica, each with its own
 * connection, claim one due row at a time (FOR UPDATE SKIP LOCKED, a
 * lease of the POST's timeout plus HOOK_LEASE_SLACK_MS), POST it signed
 * (chan_hook_post()), and in one statement record the attempt and move
 * the row: delivered (2xx), failed (attempts used up, or an answer not
 * worth retrying: a refused URL, a 4xx but 408 and 429), or pending again
 * after base * 2^(attempt-1) ms (capped).  The write is fenced by
 * claimed_by and the attempt number, so a claimer whose lease another
 * took does not move the row.  A replica killed mid-POST leaves the row
 * running until its lease ends; another replica (or the same one,
 * restarted) then sends it again with the same delivery id: delivery is
 * at least once, and the receiver dedupes by X-LibreFang-Delivery.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "bus.h"
#include "channels.h"
#include "interest.h"
#include "log.h"
#include "services.h"
#include "util.h"

#define HOOK_IDLE_MS		250	/* look for due rows without a wake */
#define HOOK_LEASE_SLACK_MS	2000
#define HOOK_NAMES_TTL_MS	1000	/* the subscribed names, trusted */

static const char SQL_QUEUE[] =
	"INSERT INTO webhook_deliveries (id, webhook_id, event, event_id, "
	"    payload) "
	"SELECT gen_random_uuid(), w.id, $1, $2, $3::jsonb FROM webhooks w "
	"WHERE w.enabled AND (w.events ? $1 OR w.events ? 'all') "
	"ON CONFLICT (webhook_id, event_id) DO NOTHING";

/* events.interest (interest.h): does an enabled webhook of either kind
 * want a turn's Message events (SQL_QUEUE's test, for those names). */
static const char SQL_INTEREST[] =
	"SELECT EXISTS (SELECT 1 FROM webhooks WHERE enabled AND "
	"    events ?| array['message_received', 'message_completed', "
	"    'all']), statement_timestamp()";

/* The names the enabled webhooks subscribe to. */
static const char SQL_NAMES[] =
	"SELECT DISTINCT e FROM webhooks w, "
	"    jsonb_array_elements_text(w.events) e WHERE w.enabled";

static const char SQL_CLAIM[] =
	"UPDATE webhook_deliveries d SET state = 'running', claimed_by = $1, "
	"    lease_until = clock_timestamp() + "
	"    $2::bigint * interval '1 millisecond', "
	"    attempts = d.attempts + 1 "
	"FROM webhooks w "
	"WHERE w.id = d.webhook_id AND d.id = (SELECT id FROM "
	"    webhook_deliveries WHERE "
	"    (state = 'pending' AND next_at <= clock_timestamp()) OR "
	"    (state = 'running' AND lease_until < clock_timestamp()) "
	"    ORDER BY next_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
	"RETURNING d.id::text, d.webhook_id::text, d.event, d.payload::text, "
	"    to_char(d.created_at AT TIME ZONE 'UTC', "
	"    'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), d.attempts, w.url, "
	"    w.secret, w.enabled";

/*
 * The attempt, and the row moved ($7 the new state, $8 the delay of a
 * retry in ms), if this claimer still holds it.
 */
static const char SQL_RECORD[] =
	"WITH a AS (INSERT INTO webhook_attempts (delivery_id, attempt, "
	"    status, latency_ms, error, replica) VALUES ($1::uuid, "
	"    $2::integer, $3::integer, $4::integer, $5, $6)) "
	"UPDATE webhook_deliveries SET state = $7, claimed_by = NULL, "
	"    lease_until = NULL, last_status = $3::integer, last_error = $5, "
	"    next_at = clock_timestamp() + "
	"    $8::bigint * interval '1 millisecond', "
	"    delivered_at = CASE WHEN $7 = 'delivered' THEN now() END "
	"WHERE id = $1::uuid AND claimed_by = $6 AND state = 'running' "
	"    AND attempts = $2::integer";

static struct {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;		/* wakes */
	int			 quit;		/* under mtx */
	unsigned int		 wakes;		/* under mtx */
	pthread_t		 th[HOOK_WORKERS_MAX];
	int			 n;
	pthread_t		 sub_th;
	int			 sub_running;
	struct bus_sub		*sub;
	char			 conninfo[1024];
	int			 names_stale;	/* under mtx */
	json_t			*names;		/* the subscriber's: {name:
						   true}, or NULL */
	uint64_t		 names_ms;	/* when read (monotonic) */
} ho = { .mtx = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int
ho_quit(void)
{
	int	q;

	pthread_mutex_lock(&ho.mtx);
	q = ho.quit;
	pthread_mutex_unlock(&ho.mtx);
	return (q);
}

void
chan_hookout_changed(void)
{
	pthread_mutex_lock(&ho.mtx);
	ho.names_stale = 1;
	pthread_mutex_unlock(&ho.mtx);
}

void
chan_hookout_wake(void)
{
	pthread_mutex_lock(&ho.mtx);
	ho.wakes++;
	pthread_cond_broadcast(&ho.cond);
	pthread_mutex_unlock(&ho.mtx);
}

/* ---- queueing ------------------------------------------------------------ */

static const char *
ev_str(json_t *o, const char *k)
{
	return (json_string_value(json_object_get(o, k)));
}

/* The webhook event name of a bus event (msg_event()'s shape), or NULL
 * for one no subscription can name. */
static const char *
hook_event_of(json_t *ev)
{
	json_t		*pl = json_object_get(ev, "payload");
	json_t		*data = json_object_get(pl, "data");
	const char	*type = ev_str(pl, "type"), *v;

	if (type == NULL)
		return (NULL);
	if (strcmp(type, "Lifecycle") == 0) {
		if ((v = ev_str(data, "event")) == NULL)
			return (NULL);
		if (strcmp(v, "Spawned") == 0)
			return ("agent_spawned");
		if (strcmp(v, "Terminated") == 0)
			return ("agent_stopped");
		/* agent-runtime's turn/notify.c: a turn that failed */
		if (strcmp(v, "Crashed") == 0)
			return ("agent_error");
		return (NULL);
	}
	/* turn/notify.c: a turn took the user's message, answered it */
	if (strcmp(type, "Message") == 0) {
		if ((v = ev_str(data, "role")) == NULL)
			return (NULL);
		if (strcmp(v, "user") == 0)
			return ("message_received");
		if (strcmp(v, "agent") == 0)
			return ("message_completed");
		return (NULL);
	}
	if (strcmp(type, "MemoryUpdate") == 0)
		return ("memory_updated");
	/* agent-runtime's approval/store.c */
	if (strcmp(type, "ApprovalRequested") == 0)
		return ("approval_requested");
	if (strcmp(type, "ApprovalResolved") == 0)
		return ("approval_resolved");
	if (strcmp(type, "System") == 0) {
		if ((v = ev_str(data, "event")) == NULL)
			return (NULL);
		if (strcmp(v, "TaskPosted") == 0)
			return ("task_posted");
		if (strcmp(v, "TaskClaimed") == 0)
			return ("task_claimed");
		if (strcmp(v, "TaskCompleted") == 0)
			return ("task_completed");
		return (NULL);
	}
	if (strcmp(type, "Custom") == 0) {
		if ((v = ev_str(data, "type")) == NULL)
			return (NULL);
		if (strncmp(v, "cron.", 5) == 0)
			return ("cron_fired");
		if (strcmp(v, "webhook.wake") == 0)
			return ("webhook_wake");
		/* the scheduler's trigger/fire.c and workflow/run.c */
		if (strcmp(v, "trigger.fired") == 0)
			return ("trigger_fired");
		if (strcmp(v, "workflow.completed") == 0)
			return ("workflow_completed");
		if (strcmp(v, "workflow.failed") == 0)
			return ("workflow_failed");
	}
	return (NULL);
}

/*
 * 1 when an enabled webhook may name event name (or "all"): the names are
 * read again when a webhook changed on this replica or after
 * HOOK_NAMES_TTL_MS, so an event nobody subscribes to (a turn's messages,
 * most often) costs no statement.  Another replica's change is seen
 * within the TTL; meanwhile the replica that made it queues the
 * deliveries, since one replica's insert is enough.
 */
static int
hook_subscribed(struct db *db, const char *name)
{
	PGresult	*res;
	json_t		*names;
	uint64_t	 now = util_now_ns() / 1000000;
	int		 stale, i;

	pthread_mutex_lock(&ho.mtx);
	stale = ho.names_stale;
	ho.names_stale = 0;
	pthread_mutex_unlock(&ho.mtx);
	if (stale || ho.names == NULL ||
	    now - ho.names_ms >= HOOK_NAMES_TTL_MS) {
		if ((res = db_exec(db, SQL_NAMES, 0, NULL)) == NULL ||
		    (names = json_object()) == NULL) {
			log_debug("%s: could not read the subscribed events: "
			    "%s", __func__, db_errmsg(db));
			PQclear(res);
			ho.names_ms = 0;	/* again next time */
			return (1);		/* the insert decides */
		}
		for (i = 0; i < PQntuples(res); i++)
			json_object_set_new(names, PQgetvalue(res, i, 0),
			    json_true());
		PQclear(res);
		json_decref(ho.names);
		ho.names = names;
		ho.names_ms = now;
	}
	return (json_object_get(ho.names, name) != NULL ||
	    json_object_get(ho.names, "all") != NULL);
}

static void
hook_queue(struct db *db, json_t *ev)
{
	const char	*p[3], *name;
	char		*text;
	PGresult	*res;

	if ((name = hook_event_of(ev)) == NULL ||
	    (p[1] = ev_str(ev, "id")) == NULL || !hook_subscribed(db, name))
		return;
	if ((text = json_dumps(ev, JSON_COMPACT)) == NULL)
		return;
	p[0] = name;
	p[2] = text;
	if ((res = db_exec(db, SQL_QUEUE, 3, p)) == NULL)
		log_warnx("%s: could not queue the deliveries of event '%s' "
		    "(%s): %s", __func__, p[1], name, db_errmsg(db));
	else if (strcmp(PQcmdTuples(res), "0") != 0)
		chan_hookout_wake();
	PQclear(res);
	free(text);
}

static void *
hook_sub_main(void *arg)
{
	struct db	*db;
	char		*topic;
	json_t		*body;

	(void)arg;
	if ((db = db_open(ho.conninfo, "channels")) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (NULL);
	}
	/* No deadline: chan_hookout_stop() wakes the receive. */
	while (!ho_quit()) {
		if (bus_sub_recv(ho.sub, -1, &topic, &body) != 0)
			continue;
		hook_queue(db, body);
		free(topic);
		json_decref(body);
	}
	json_decref(ho.names);
	ho.names = NULL;
	db_close(db);
	return (NULL);
}

/* ---- delivering ---------------------------------------------------------- */

/* One claimed row (res, row 0): the POST, then its record. */
static void
hook_deliver(struct db *db, PGresult *res)
{
	const struct chan_hook_conf	*hc = chan_hook_conf();
	struct chan_hook_result		 r;
	const char			*p[8], *id = PQgetvalue(res, 0, 0);
	const char			*state;
	char				*body, st[16], ms[16], delay[32];
	long long			 attempt, d;
	int				 ok = 0;

	attempt = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	memset(&r, 0, sizeof(r));
	if (strcmp(PQgetvalue(res, 0, 8), "t") != 0) {
		snprintf(r.hr_err, sizeof(r.hr_err), "the webhook is "
		    "disabled");
		r.hr_final = 1;
	} else if ((body = chan_hook_body(id, PQgetvalue(res, 0, 1),
	    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 4),
	    PQgetvalue(res, 0, 3))) == NULL)
		snprintf(r.hr_err, sizeof(r.hr_err), "out of memory");
	else {
		ok = chan_hook_post(PQgetvalue(res, 0, 6),
		    PQgetvalue(res, 0, 7), id, PQgetvalue(res, 0, 2), body,
		    &r) == 0;
		free(body);
	}
	d = 0;
	if (ok)
		state = "delivered";
	else if (r.hr_final || attempt >= hc->hc_attempts)
		state = "failed";
	else {
		state = "pending";
		d = hc->hc_backoff_ms;
		while (--attempt > 0 && d < hc->hc_backoff_max_ms)
			d *= 2;
		if (d > hc->hc_backoff_max_ms)
			d = hc->hc_backoff_max_ms;
		attempt = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	}
	snprintf(st, sizeof(st), "%ld", r.hr_status);
	snprintf(ms, sizeof(ms), "%ld", r.hr_ms);
	snprintf(delay, sizeof(delay), "%lld", d);
	p[0] = id;
	p[1] = PQgetvalue(res, 0, 5);
	p[2] = r.hr_status > 0 ? st : NULL;
	p[3] = ms;
	p[4] = ok ? NULL : r.hr_err;
	p[5] = svc_instance();
	p[6] = state;
	p[7] = delay;
	if (db_cmd(db, SQL_RECORD, 8, p) != 0)
		log_warnx("%s: could not record delivery '%s': %s", __func__,
		    id, db_errmsg(db));
	if (!ok)
		log_info("webhook delivery %s attempt %s: %s (%s)", id, p[1],
		    r.hr_err, state);
}

static void *
hook_worker_main(void *arg)
{
	const struct chan_hook_conf	*hc = chan_hook_conf();
	struct db			*db;
	PGresult			*res;
	struct timespec			 ts;
	const char			*p[2];
	char				 lease[32];
	unsigned int			 seen;

	(void)arg;
	snprintf(lease, sizeof(lease), "%lld", hc->hc_timeout_ms +
	    HOOK_LEASE_SLACK_MS);
	p[0] = svc_instance();
	p[1] = lease;
	if ((db = db_open(ho.conninfo, "channels")) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (NULL);
	}
	for (;;) {
		pthread_mutex_lock(&ho.mtx);
		if (ho.quit) {
			pthread_mutex_unlock(&ho.mtx);
			break;
		}
		seen = ho.wakes;
		pthread_mutex_unlock(&ho.mtx);
		res = db_exec(db, SQL_CLAIM, 2, p);
		if (res != NULL && PQntuples(res) == 1) {
			hook_deliver(db, res);
			PQclear(res);
			continue;
		}
		if (res == NULL)
			log_debug("%s: could not claim a delivery: %s",
			    __func__, db_errmsg(db));
		PQclear(res);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)HOOK_IDLE_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&ho.mtx);
		while (!ho.quit && ho.wakes == seen)
			if (pthread_cond_timedwait(&ho.cond, &ho.mtx, &ts) ==
			    ETIMEDOUT)
				break;
		pthread_mutex_unlock(&ho.mtx);
	}
	db_close(db);
	return (NULL);
}

int
chan_hookout_start(const struct sh_config *cfg)
{
	const struct chan_hook_conf	*hc = chan_hook_conf();

	db_conninfo(cfg->database_url, cfg->home_dir, ho.conninfo,
	    sizeof(ho.conninfo));
	ho.quit = 0;
	if ((ho.sub = bus_sub_open(cfg->bus_url)) == NULL ||
	    bus_subscribe(ho.sub, TOPIC_EVENTS) != 0) {
		log_warnx("%s: could not subscribe to '%s' on '%s'", __func__,
		    TOPIC_EVENTS, cfg->bus_url);
		chan_hookout_stop();
		return (-1);
	}
	if (pthread_create(&ho.sub_th, NULL, hook_sub_main, NULL) != 0) {
		log_warnx("%s: could not start the webhook event thread",
		    __func__);
		chan_hookout_stop();
		return (-1);
	}
	ho.sub_running = 1;
	if (interest_start(cfg, "channels", SVC_CHANNELS, SQL_INTEREST) != 0) {
		chan_hookout_stop();
		return (-1);
	}
	for (ho.n = 0; ho.n < hc->hc_workers; ho.n++)
		if (pthread_create(&ho.th[ho.n], NULL, hook_worker_main,
		    NULL) != 0) {
			log_warnx("%s: could not start a webhook delivery "
			    "thread", __func__);
			chan_hookout_stop();
			return (-1);
		}
	return (0);
}

void
chan_hookout_stop(void)
{
	int	i;

	interest_stop();
	pthread_mutex_lock(&ho.mtx);
	ho.quit = 1;
	pthread_cond_broadcast(&ho.cond);
	pthread_mutex_unlock(&ho.mtx);
	bus_sub_wake(ho.sub);
	for (i = 0; i < ho.n; i++)
		pthread_join(ho.th[i], NULL);
	ho.n = 0;
	if (ho.sub_running)
		pthread_join(ho.sub_th, NULL);
	ho.sub_running = 0;
	bus_sub_close(ho.sub);
	ho.sub = NULL;
}
