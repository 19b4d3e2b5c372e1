/*
 * retention.c - the retention trim of kernel.md 5 ("Retention").
 *
 * Every trim_interval_secs a thread of each replica, on a connection of
 * its own, drops the oldest entries that have outlived their retention
 * (retention_days_by_action for their action, else retention_days; 0
 * keeps them for ever).  It drops only a contiguous prefix: it stops at
 * the first entry to keep, whatever is older behind it, so the retained
 * entries stay one unbroken chain.  In one transaction under head's lock
 * (the lock every append takes) it deletes the prefix, records the last
 * dropped entry's hash as the chain's anchor (head.anchor_hash, and
 * head.first_seq the first entry kept: verify starts there), and appends
 * a RetentionTrim entry whose detail gives the drops by action and the
 * new anchor.  An append waits for the trim, a second replica's trim
 * finds the prefix gone: each entry is dropped once, the chain never
 * forks.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define TRIM_BATCH	10000		/* entries per transaction */
#define DAY_MS		(24LL * 3600 * 1000)

static const char SQL_PREFIX[] =
	"SELECT seq, action, ts, hash FROM entries "
	"WHERE seq >= $1::bigint AND seq < $2::bigint ORDER BY seq "
	"LIMIT 10000";			/* TRIM_BATCH */
static const char SQL_DROP[] =
	"DELETE FROM entries WHERE seq >= $1::bigint AND seq < $2::bigint";
static const char SQL_MOVE_ANCHOR[] =
	"UPDATE head SET first_seq = $1::bigint, anchor_hash = $2 "
	"WHERE id = 1";

static struct {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	pthread_t	 thread;
	int		 running;
	int		 stopping;
	struct db	*db;
} rt = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

/* The days an entry of action is kept; 0 for ever. */
static long long
retention_days(const char *action)
{
	json_t	*v = json_object_get(audit_conf.ac_by_action, action);

	if (json_is_integer(v))
		return (json_integer_value(v));
	return (audit_conf.ac_retention_days);
}

/* RFC 3339 with milliseconds, as the recorders stamp their entries. */
static void
retention_now(int64_t ms, char out[40])
{
	time_t		t = (time_t)(ms / 1000);
	struct tm	tm;
	char		s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%03dZ", s, (int)(ms % 1000));
}

/* The RetentionTrim entry, as audit.append takes one (new), or NULL. */
static json_t *
retention_entry(int64_t now_ms, json_t *counts, long long dropped,
    long long first, const char *anchor)
{
	json_t	*d, *e = NULL;
	char	 id[UTIL_UUID_LEN], ts[40], *js;

	if ((d = json_pack("{s:O, s:I, s:I, s:s}", "dropped", counts,
	    "total", (json_int_t)dropped, "first_seq", (json_int_t)first,
	    "anchor", anchor)) == NULL)
		return (NULL);
	js = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(d);
	if (js == NULL)
		return (NULL);
	util_uuid4(id);
	retention_now(now_ms, ts);
	e = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s}]", "id", id,
	    "timestamp", ts, "agent_id", "system", "action", "RetentionTrim",
	    "detail", js, "outcome", "success");
	free(js);
	return (e);
}

long long
retention_trim(struct db *db, int64_t now_ms)
{
	struct audit_tip t;
	PGresult	*res = NULL;
	json_t		*counts = json_object(), *list = NULL, *v;
	const char	*p[2], *action;
	char		 from[32], to[32], anchor[AUDIT_HASH_HEX];
	long long	 seq, days, k = 0, ret = -1;
	int64_t		 ms;
	int		 i, intx = 0;

	if (counts == NULL || db_cmd(db, "BEGIN", 0, NULL) != 0)
		goto done;
	intx = 1;
	if (chain_lock_head(db, &t) != 0)
		goto done;
	snprintf(from, sizeof(from), "%lld", t.at_first);
	snprintf(to, sizeof(to), "%lld", t.at_next);
	p[0] = from;
	p[1] = to;
	if ((res = db_exec(db, SQL_PREFIX, 2, p)) == NULL)
		goto done;
	/* The prefix ends at the first entry to keep, at a gap, or at a
	 * timestamp that does not parse (kept: never guess). */
	for (i = 0; i < PQntuples(res); i++, k++) {
		action = PQgetvalue(res, i, 1);
		if (util_strtonum(PQgetvalue(res, i, 0), 0, INT64_MAX,
		    &seq) != 0 || seq != t.at_first + k ||
		    (days = retention_days(action)) <= 0 ||
		    util_rfc3339_parse(PQgetvalue(res, i, 2), &ms) != 0 ||
		    now_ms - ms <= days * DAY_MS)
			break;
		v = json_object_get(counts, action);
		if (json_object_set_new(counts, action, json_integer(
		    json_integer_value(v) + 1)) != 0)
			goto done;
		snprintf(anchor, sizeof(anchor), "%s", PQgetvalue(res, i, 3));
	}
	if (k == 0) {
		ret = 0;
		goto done;
	}
	snprintf(to, sizeof(to), "%lld", t.at_first + k);
	p[1] = to;
	if (db_cmd(db, SQL_DROP, 2, p) != 0)
		goto done;
	p[0] = to;
	p[1] = anchor;
	if (db_cmd(db, SQL_MOVE_ANCHOR, 2, p) != 0 ||
	    (list = retention_entry(now_ms, counts, k, t.at_first + k,
	    anchor)) == NULL ||
	    chain_append_locked(db, list, "audit", &t) != 1 ||
	    db_cmd(db, "COMMIT", 0, NULL) != 0)
		goto done;
	intx = 0;
	anchor_write(t.at_next, t.at_tip);
	log_info("retention: dropped entries %s to %lld, the chain is kept "
	    "from %s", from, t.at_first + k - 1, to);
	ret = k;
 done:
	if (ret < 0)
		log_warnx("%s: could not trim the chain: %s", __func__,
		    db_errmsg(db));
	if (intx)
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
	PQclear(res);
	json_decref(counts);
	json_decref(list);
	return (ret);
}

static void *
retention_main(void *arg)
{
	struct timespec	 ts;
	long long	 n;

	(void)arg;
	pthread_mutex_lock(&rt.mtx);
	while (!rt.stopping) {
		/* The first trim one interval after the start. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += audit_conf.ac_trim_secs;
		(void)pthread_cond_timedwait(&rt.cv, &rt.mtx, &ts);
		while (!rt.stopping) {
			pthread_mutex_unlock(&rt.mtx);
			n = retention_trim(rt.db, (int64_t)util_wall_ms());
			pthread_mutex_lock(&rt.mtx);
			if (n < TRIM_BATCH)
				break;
		}
	}
	pthread_mutex_unlock(&rt.mtx);
	return (NULL);
}

void
retention_start(const struct sh_config *cfg)
{
	char	conninfo[1024];

	if (audit_conf.ac_trim_secs <= 0)
		return;
	db_conninfo(cfg->database_url, cfg->home_dir, conninfo,
	    sizeof(conninfo));
	rt.db = db_open(conninfo, "audit");
	explicit_bzero(conninfo, sizeof(conninfo));
	if (rt.db == NULL || pthread_create(&rt.thread, NULL, retention_main,
	    NULL) != 0) {
		log_warnx("%s: could not start; the chain is not trimmed",
		    __func__);
		return;
	}
	rt.running = 1;
}

void
retention_stop(void)
{
	if (rt.running) {
		pthread_mutex_lock(&rt.mtx);
		rt.stopping = 1;
		pthread_cond_signal(&rt.cv);
		pthread_mutex_unlock(&rt.mtx);
		pthread_join(rt.thread, NULL);
		rt.running = 0;
	}
	db_close(rt.db);
	rt.db = NULL;
}
