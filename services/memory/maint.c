/*
 * maint.c - periodic upkeep of proactive memory: the confidence decay of
 * notes/kernel.md 7.2 (mechanism 1), at most once an hour.
 *
 * Every replica runs this thread; each minute (and once at start) it
 * tries to move memory.maintenance's 'decay' row past an hour old, in the
 * same transaction as the decay itself.  One replica's UPDATE wins the
 * hour, the others find the row fresh, so the decay runs once an hour
 * whatever the number of replicas, and a failed decay gives the hour
 * back.  The rate is [proactive_memory] confidence_decay_rate (0.01 a
 * day).  Cleanup (session TTL, purge) runs only on request.
 */
#include <jansson.h>

#include "cfg.h"
#include "db.h"
#include "log.h"
#include "memory.h"
#include "svc.h"

#define MAINT_TICK_SECS	60

static const char SQL_CLAIM[] =
	"UPDATE maintenance SET last_run = clock_timestamp() "
	"WHERE job = 'decay' AND last_run < clock_timestamp() - "
	"interval '1 hour' RETURNING 1";

static struct {
	struct svc_tick	*tick;
	struct db	*db;		/* the tick's */
	double		 rate;
} maint = {
	.rate = 0.01,
};

/* One attempt: decays when this replica wins the hour. */
static void
maint_decay(void *arg)
{
	PGresult	*res = NULL;
	long long	 n = 0;

	(void)arg;
	if (mem_begin(maint.db) != 0)
		return;		/* the database is down: next minute */
	if ((res = db_exec(maint.db, SQL_CLAIM, 0, NULL)) == NULL ||
	    (PQntuples(res) == 1 && items_decay(maint.db, maint.rate, &n) !=
	    0) || mem_commit(maint.db) != 0) {
		log_warnx("%s: could not decay: %s", __func__,
		    db_errmsg(maint.db));
		mem_rollback(maint.db);
	} else if (PQntuples(res) == 1)
		log_info("decay: %lld memories decayed at %.4f a day", n,
		    maint.rate);
	PQclear(res);
}

void
maint_start(const struct sh_config *cfg)
{
	json_t	*v = json_object_get(json_object_get(cfg->cf_doc,
	    "proactive_memory"), "confidence_decay_rate");
	char	 conninfo[1024];

	if (json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) <= 10)
		maint.rate = json_number_value(v);
	db_conninfo(cfg->database_url, cfg->home_dir, conninfo,
	    sizeof(conninfo));
	if ((maint.db = db_open(conninfo, "memory")) == NULL ||
	    (maint.tick = svc_tick_start("the hourly decay",
	    MAINT_TICK_SECS * 1000LL, 1, maint_decay, NULL)) == NULL)
		log_warnx("%s: could not start; memories decay only on "
		    "request", __func__);
}

void
maint_stop(void)
{
	svc_tick_stop(maint.tick);
	maint.tick = NULL;
	db_close(maint.db);
	maint.db = NULL;
}
