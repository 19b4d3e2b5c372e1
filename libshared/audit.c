/*
 * audit.c - the audit outbox and its relay (audit.h says why).
 *
 * The relay is one thread per process.  Each round it sends the oldest
 * outbox rows (claimed FOR UPDATE SKIP LOCKED inside a transaction, so a
 * second replica's relay skips them), deletes them when the audit
 * service acknowledged, and commits; then what audit_post() queued.
 * Nothing is deleted before the acknowledgement, so an entry is sent at
 * least once; the audit service drops a repeat by its id.  With nothing
 * to send it sleeps AUDIT_POLL_MS, or less when audit_post() wakes it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "audit.h"
#include "bus.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "services.h"
#include "svc.h"
#include "util.h"

#define AUDIT_BATCH		200
#define AUDIT_POLL_MS		200
/* An append takes milliseconds; a call that waits longer is retried (the
 * service drops repeats), and a stopping process must not wait long. */
#define AUDIT_CALL_MS		2000
#define AUDIT_LAST_CALL_MS	500	/* the queue's last send, at stop */
#define AUDIT_BACKOFF_MAX_MS	5000

static const char SQL_RECORD[] =
	"INSERT INTO audit_outbox (id, ts, agent_id, action, detail, outcome) "
	"VALUES ($1::uuid, $2, $3, $4, $5, $6)";
static const char SQL_ANY[] = "SELECT 1 FROM audit_outbox LIMIT 1";
static const char SQL_CLAIM[] =
	"SELECT id::text, ts, agent_id, action, detail, outcome "
	"FROM audit_outbox ORDER BY n LIMIT 200 FOR UPDATE SKIP LOCKED";
static const char SQL_DONE[] =
	"DELETE FROM audit_outbox WHERE id = ANY ($1::uuid[])";

static struct {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	int		 running;	/* under mtx */
	int		 quit;		/* under mtx */
	json_t		*queue;		/* audit_post() entries, under mtx */
	pthread_t	 thr;
	struct db	*db;		/* NULL: queue only */
	struct bus_client *bc;
	char		 source[64];
	unsigned long long dropped;	/* under mtx */
	int		 failing;	/* the relay thread's: the last send
					   failed */
} ar = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

/* RFC 3339 with milliseconds, as the entry's timestamp is stored. */
static void
audit_now(char out[40])
{
	int64_t		ms = util_wall_ms();
	time_t		t = (time_t)(ms / 1000);
	struct tm	tm;
	char		s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%03dZ", s, (int)(ms % 1000));
}

/* The entry as audit.append takes it (new), or NULL on ENOMEM. */
static json_t *
audit_entry(const char *id, const char *action, const char *agent_id,
    const char *detail, const char *outcome)
{
	char	ts[40], *red;
	json_t	*e;

	audit_now(ts);
	if ((red = log_redact_text(detail != NULL ? detail : "", NULL,
	    AUDIT_DETAIL_MAX)) == NULL)
		return (NULL);
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id,
	    "timestamp", ts, "agent_id", agent_id != NULL ? agent_id :
	    "system", "action", action, "detail", red, "outcome",
	    outcome != NULL ? outcome : "ok");
	free(red);
	return (e);
}

int
audit_record(struct db *db, const char *action, const char *agent_id,
    const char *detail, const char *outcome)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[6];
	json_t		*e;
	int		 rv;

	util_uuid4(id);
	if ((e = audit_entry(id, action, agent_id, detail, outcome)) == NULL)
		return (-1);
	p[0] = id;
	p[1] = json_string_value(json_object_get(e, "timestamp"));
	p[2] = json_string_value(json_object_get(e, "agent_id"));
	p[3] = action;
	p[4] = json_string_value(json_object_get(e, "detail"));
	p[5] = json_string_value(json_object_get(e, "outcome"));
	if ((rv = db_cmd(db, SQL_RECORD, 6, p)) != 0)
		log_warnx("%s: could not record '%s': %s", __func__, action,
		    db_errmsg(db));
	json_decref(e);
	return (rv);
}

int
audit_cmd(struct db *db, const char *sql, int n, const char *const *params,
    const char *action, const char *agent_id, const char *detail,
    const char *outcome)
{
	if (db_cmd(db, "BEGIN", 0, NULL) != 0)
		return (-1);
	if (db_cmd(db, sql, n, params) != 0 ||
	    audit_record(db, action, agent_id, detail, outcome) != 0 ||
	    db_cmd(db, "COMMIT", 0, NULL) != 0) {
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
		return (-1);
	}
	return (0);
}

int
audit_post(const char *action, const char *agent_id, const char *detail,
    const char *outcome)
{
	char	 id[UTIL_UUID_LEN];
	json_t	*e;
	int	 ret = -1;

	util_uuid4(id);
	if ((e = audit_entry(id, action, agent_id, detail, outcome)) == NULL)
		return (-1);
	pthread_mutex_lock(&ar.mtx);
	if (!ar.running || ar.queue == NULL) {
		if (ar.dropped++ % 1000 == 0)
			log_warnx("%s: no audit relay runs; '%s' not recorded "
			    "(%llu dropped)", __func__, action, ar.dropped);
	}
	else if (json_array_size(ar.queue) >= AUDIT_QUEUE_MAX) {
		/* A flood (of auth failures, say) must not flood the log. */
		if (ar.dropped++ % 1000 == 0)
			log_warnx("%s: the audit queue is full; '%s' not "
			    "recorded (%llu dropped)", __func__, action,
			    ar.dropped);
	}
	else if (json_array_append(ar.queue, e) == 0) {
		ret = 0;
		pthread_cond_signal(&ar.cv);
	}
	pthread_mutex_unlock(&ar.mtx);
	json_decref(e);
	return (ret);
}

/* Sends entries (borrowed).  0 acknowledged, 1 refused as bad (400:
 * sending again would not help), -1 not delivered. */
static int
audit_send(json_t *entries, int call_ms)
{
	struct msg_rep	 rep;
	json_t		*req;
	int		 rv;

	req = msg_request(OP_AUDIT_APPEND, NULL, 0, NULL, NULL, NULL,
	    json_pack("{s:O, s:s}", "entries", entries, "source", ar.source));
	if (req == NULL)
		return (-1);
	rv = bus_call(ar.bc, SVC_AUDIT, req, call_ms, &rep);
	json_decref(req);
	if (rv != 0) {
		log_debug("%s: audit.append: %s", __func__, sh_strerror(rv));
		return (-1);
	}
	rv = rep.mp_status == 200 ? 0 : rep.mp_status == 400 ? 1 : -1;
	/* Once per outage, not once per retry. */
	if (rv != 0 && !ar.failing)
		log_warnx("%s: audit.append answered %d; retrying", __func__,
		    rep.mp_status);
	ar.failing = rv != 0;
	msg_rep_release(&rep);
	return (rv);
}

/* One round over the outbox: the number of rows sent, or -1. */
static int
audit_relay_outbox(int call_ms)
{
	PGresult	*res = NULL;
	json_t		*list = NULL, *e;
	char		*ids = NULL;
	const char	*p[1];
	size_t		 len, off;
	int		 i, n = 0, rv, ret = -1;

	if ((res = db_exec(ar.db, SQL_ANY, 0, NULL)) == NULL)
		return (-1);
	n = PQntuples(res);
	PQclear(res);
	if (n == 0)
		return (0);
	if (db_cmd(ar.db, "BEGIN", 0, NULL) != 0)
		return (-1);
	if ((res = db_exec(ar.db, SQL_CLAIM, 0, NULL)) == NULL)
		goto done;
	n = PQntuples(res);
	/* "{id,id,...}": a uuid is 36 bytes. */
	len = (size_t)n * 37 + 3;
	if ((list = json_array()) == NULL || (ids = malloc(len)) == NULL)
		goto done;
	ids[0] = '{';
	off = 1;
	for (i = 0; i < n; i++) {
		e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
		    "id", PQgetvalue(res, i, 0), "timestamp",
		    PQgetvalue(res, i, 1), "agent_id", PQgetvalue(res, i, 2),
		    "action", PQgetvalue(res, i, 3), "detail",
		    PQgetvalue(res, i, 4), "outcome", PQgetvalue(res, i, 5));
		svc_list_add(&list, e);
		off += (size_t)snprintf(ids + off, len - off, "%s%.36s",
		    i > 0 ? "," : "", PQgetvalue(res, i, 0));
	}
	snprintf(ids + off, len - off, "}");
	if (list == NULL || n == 0)
		goto done;
	if ((rv = audit_send(list, call_ms)) < 0)
		goto done;
	if (rv == 1)
		log_warnx("%s: the audit service refused %d outbox entries; "
		    "dropped", __func__, n);
	p[0] = ids;
	if (db_cmd(ar.db, SQL_DONE, 1, p) != 0 ||
	    db_cmd(ar.db, "COMMIT", 0, NULL) != 0)
		goto done;
	ret = n;
 done:
	if (ret < 0)
		(void)db_cmd(ar.db, "ROLLBACK", 0, NULL);
	PQclear(res);
	json_decref(list);
	free(ids);
	return (ret);
}

/* One round over the audit_post() queue: the number sent, or -1. */
static int
audit_relay_queue(int call_ms)
{
	json_t	*list;
	size_t	 i, n;
	int	 rv;

	pthread_mutex_lock(&ar.mtx);
	n = json_array_size(ar.queue);
	if (n > AUDIT_BATCH)
		n = AUDIT_BATCH;
	list = json_array();
	for (i = 0; list != NULL && i < n; i++)
		if (json_array_append(list, json_array_get(ar.queue, i)) != 0) {
			json_decref(list);
			list = NULL;
		}
	pthread_mutex_unlock(&ar.mtx);
	if (n == 0 || list == NULL) {
		json_decref(list);
		return (n == 0 ? 0 : -1);
	}
	rv = audit_send(list, call_ms);
	json_decref(list);
	if (rv < 0)
		return (-1);
	/* Only this thread removes, and posts only append. */
	pthread_mutex_lock(&ar.mtx);
	for (i = 0; i < n; i++)
		json_array_remove(ar.queue, 0);
	pthread_mutex_unlock(&ar.mtx);
	return ((int)n);
}

static void *
audit_relay_main(void *arg)
{
	struct timespec	 ts;
	unsigned int	 wait_ms, backoff = 0;
	int		 a, b, quit;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&ar.mtx);
		quit = ar.quit;
		pthread_mutex_unlock(&ar.mtx);
		/* Stopping: one short last try, none while the audit
		 * service is away (the outbox's rows wait for the next
		 * start or another replica; the queue's are lost). */
		if (quit) {
			if (backoff == 0 && ar.db != NULL)
				(void)audit_relay_outbox(AUDIT_LAST_CALL_MS);
			if (backoff == 0)
				(void)audit_relay_queue(AUDIT_LAST_CALL_MS);
			break;
		}
		a = ar.db != NULL ? audit_relay_outbox(AUDIT_CALL_MS) : 0;
		b = audit_relay_queue(AUDIT_CALL_MS);
		if (a < 0 || b < 0) {
			backoff = backoff == 0 ? 100 : backoff * 2;
			if (backoff > AUDIT_BACKOFF_MAX_MS)
				backoff = AUDIT_BACKOFF_MAX_MS;
			wait_ms = backoff;
		} else {
			backoff = 0;
			if (a == AUDIT_BATCH || b == AUDIT_BATCH)
				continue;
			wait_ms = AUDIT_POLL_MS;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		/* A post wakes an idle relay early; one backing off waits
		 * its time out whatever is queued (else: a busy loop of
		 * refused calls while the audit service is away). */
		pthread_mutex_lock(&ar.mtx);
		while (!ar.quit && (backoff > 0 ||
		    json_array_size(ar.queue) == 0))
			if (pthread_cond_timedwait(&ar.cv, &ar.mtx, &ts) != 0 ||
			    backoff == 0)
				break;
		pthread_mutex_unlock(&ar.mtx);
	}
	return (NULL);
}

int
audit_relay_start(const char *conninfo, const char *schema,
    const char *bus_url, const char *source)
{
	pthread_mutex_lock(&ar.mtx);
	if (ar.running) {
		pthread_mutex_unlock(&ar.mtx);
		log_warnx("%s: the audit relay already runs", __func__);
		return (-1);
	}
	ar.quit = 0;
	snprintf(ar.source, sizeof(ar.source), "%s", source);
	ar.db = NULL;
	if ((ar.queue = json_array()) == NULL ||
	    (schema != NULL && (ar.db = db_open(conninfo, schema)) == NULL) ||
	    (ar.bc = bus_client_open(bus_url)) == NULL ||
	    pthread_create(&ar.thr, NULL, audit_relay_main, NULL) != 0) {
		log_warnx("%s: could not start the audit relay", __func__);
		bus_client_close(ar.bc);
		ar.bc = NULL;
		db_close(ar.db);
		ar.db = NULL;
		json_decref(ar.queue);
		ar.queue = NULL;
		pthread_mutex_unlock(&ar.mtx);
		return (-1);
	}
	ar.running = 1;
	pthread_mutex_unlock(&ar.mtx);
	return (0);
}

void
audit_relay_stop(void)
{
	pthread_mutex_lock(&ar.mtx);
	if (!ar.running) {
		pthread_mutex_unlock(&ar.mtx);
		return;
	}
	ar.quit = 1;
	pthread_cond_signal(&ar.cv);
	pthread_mutex_unlock(&ar.mtx);
	pthread_join(ar.thr, NULL);
	pthread_mutex_lock(&ar.mtx);
	ar.running = 0;
	if (json_array_size(ar.queue) > 0)
		log_warnx("%s: %zu audit entries not sent", __func__,
		    json_array_size(ar.queue));
	json_decref(ar.queue);
	ar.queue = NULL;
	pthread_mutex_unlock(&ar.mtx);
	bus_client_close(ar.bc);
	ar.bc = NULL;
	db_close(ar.db);
	ar.db = NULL;
}
