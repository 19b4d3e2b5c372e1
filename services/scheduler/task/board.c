/*
 * task/board.c - the task board's upkeep and summaries (task/task.h): the
 * [scheduler] task_* config, the stuck-task sweeper thread that every
 * replica runs, queue.status and inbox.status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/sched.h"
#include "db.h"
#include "log.h"
#include "ops.h"
#include "svc.h"
#include "task/task.h"
#include "util.h"

struct task_conf	task_conf;

/*
 * Expired claims back to pending with the assignee cleared and one more
 * retry counted, or to failed once $2 (> 0) retries are used.  Rows are
 * taken FOR UPDATE SKIP LOCKED: a row another sweeper (or a complete)
 * holds is left to it, and the status is checked again once locked.
 */
static const char SQL_SWEEP[] =
	"UPDATE tasks SET retry_count = retry_count + 1, "
	"  status = CASE WHEN $2::int > 0 AND retry_count >= $2::int "
	"      THEN 'failed' ELSE 'pending' END, "
	"  assigned_to = CASE WHEN $2::int > 0 AND retry_count >= $2::int "
	"      THEN assigned_to ELSE '' END, "
	"  claimed_at = CASE WHEN $2::int > 0 AND retry_count >= $2::int "
	"      THEN claimed_at END, "
	"  finished_at = CASE WHEN $2::int > 0 AND retry_count >= $2::int "
	"      THEN clock_timestamp() END, "
	"  result = CASE WHEN $2::int > 0 AND retry_count >= $2::int "
	"      THEN 'claim expired after ' || retry_count || ' retries' END "
	"WHERE id IN (SELECT id FROM tasks WHERE status = 'in_progress' "
	"    AND claimed_at < clock_timestamp() - make_interval(secs => $1) "
	"    LIMIT 1000 FOR UPDATE SKIP LOCKED) "
	"  AND status = 'in_progress' "
	"RETURNING id, status";
static const char SQL_PRUNE[] =
	"DELETE FROM tasks WHERE id IN (SELECT id FROM tasks "
	"    WHERE finished_at < clock_timestamp() - make_interval(days => $1) "
	"    LIMIT 1000 FOR UPDATE SKIP LOCKED)";
static const char SQL_QUEUE[] =
	"SELECT count(*) FILTER (WHERE status = 'pending'), "
	"  count(*) FILTER (WHERE status = 'in_progress'), "
	"  count(*) FILTER (WHERE status = 'pending' AND assigned_to = ''), "
	"  count(*) FILTER (WHERE completed_at > clock_timestamp() - "
	"      interval '1 minute'), "
	"  count(*) FILTER (WHERE completed_at > clock_timestamp() - "
	"      interval '1 hour'), "
	"  count(*) FILTER (WHERE created_at > clock_timestamp() - "
	"      interval '1 hour'), "
	"  floor(extract(epoch FROM clock_timestamp() - min(created_at) "
	"      FILTER (WHERE status = 'pending')))::bigint "
	"FROM tasks";
static const char SQL_INBOX[] =
	"SELECT (SELECT count(*) FROM tasks WHERE status = 'pending'), "
	"  (SELECT count(*) FROM tasks WHERE status = 'pending' "
	"      AND assigned_to = ''), "
	"  (SELECT count(*) FROM goals WHERE status = 'pending')";

static struct {
	struct svc_tick	*tick;		/* the sweeper */
	struct db	*db;		/* its connection */
} board;

/*
 * [scheduler] key, else upstream's name for it, up_key in [up_table]
 * (notes 8.3), so an upstream config.toml keeps its meaning: an integer
 * in [min, max], def when both are absent.  0, or -1 (logged).
 */
static int
conf_num(const char *key, const char *up_table, const char *up_key,
    long long min, long long max, long long def, long long *out)
{
	json_t		*doc = sched.s_cfg->cf_doc, *v;
	const char	*table = "scheduler";

	*out = def;
	if ((v = json_object_get(json_object_get(doc, table), key)) == NULL) {
		table = up_table;
		key = up_key;
		v = json_object_get(json_object_get(doc, table), key);
	}
	if (v == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		log_warnx("config: [%s] %s must be an integer in %lld..%lld",
		    table, key, min, max);
		return (-1);
	}
	*out = json_integer_value(v);
	return (0);
}

/* One pass: expired claims, then finished tasks past retention. */
static void
board_sweep(struct db *db)
{
	char		 ttl[24], max[24], days[24];
	const char	*p[2];
	PGresult	*res;
	int		 i;

	if (task_conf.tc_claim_ttl_secs > 0) {
		snprintf(ttl, sizeof(ttl), "%lld",
		    task_conf.tc_claim_ttl_secs);
		snprintf(max, sizeof(max), "%lld", task_conf.tc_max_retries);
		p[0] = ttl;
		p[1] = max;
		if ((res = db_exec(db, SQL_SWEEP, 2, p)) == NULL)
			log_warnx("%s: could not sweep expired claims: %s",
			    __func__, db_errmsg(db));
		else {
			for (i = 0; i < PQntuples(res); i++)
				log_info("task '%s': claim expired, now %s",
				    PQgetvalue(res, i, 0),
				    PQgetvalue(res, i, 1));
			PQclear(res);
		}
	}
	if (task_conf.tc_retention_days > 0) {
		snprintf(days, sizeof(days), "%lld",
		    task_conf.tc_retention_days);
		p[0] = days;
		if (db_cmd(db, SQL_PRUNE, 1, p) != 0)
			log_warnx("%s: could not prune finished tasks: %s",
			    __func__, db_errmsg(db));
	}
}

static void
board_tick(void *arg)
{
	(void)arg;
	board_sweep(board.db);
}

int
task_start(void)
{
	if (conf_num("task_claim_ttl_secs", "task_board", "claim_ttl_secs",
	    0, 86400 * 30, 600, &task_conf.tc_claim_ttl_secs) != 0 ||
	    conf_num("task_sweep_interval_secs", "task_board",
	    "sweep_interval_secs", 1, 3600, 30, &task_conf.tc_sweep_secs) != 0 ||
	    conf_num("task_max_retries", "task_board", "max_retries", 0, 1000,
	    0, &task_conf.tc_max_retries) != 0 ||
	    conf_num("task_retention_days", "queue",
	    "task_queue_retention_days", 0, 3650, 7,
	    &task_conf.tc_retention_days) != 0)
		return (-1);
	if ((board.db = sched_db_open()) == NULL) {
		log_warnx("%s: could not open a database connection; the "
		    "task sweeper is off", __func__);
		return (0);
	}
	/* svc_tick waits on the monotonic clock: a wall-clock step does
	 * not stall the sweeper. */
	if ((board.tick = svc_tick_start("the task sweeper",
	    task_conf.tc_sweep_secs * 1000, 1, board_tick, NULL)) == NULL) {
		db_close(board.db);
		board.db = NULL;
		return (-1);
	}
	return (0);
}

void
task_stop(void)
{
	svc_tick_stop(board.tick);
	board.tick = NULL;
	db_close(board.db);
	board.db = NULL;
}

static json_int_t
col_int(PGresult *res, int col)
{
	if (PQgetisnull(res, 0, col))
		return (0);
	return ((json_int_t)strtoll(PQgetvalue(res, 0, col), NULL, 10));
}

static void
board_op_queue(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_QUEUE, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:I, s:I, s:I, s:o, "
	    "s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}}",
	    "depth", col_int(res, 0),
	    "in_progress", col_int(res, 1),
	    "unassigned", col_int(res, 2),
	    "oldest_pending_secs", PQgetisnull(res, 0, 6) ? json_null() :
	    json_integer(col_int(res, 6)),
	    "throughput",
	    "completed_last_minute", col_int(res, 3),
	    "completed_last_hour", col_int(res, 4),
	    "posted_last_hour", col_int(res, 5),
	    "config",
	    "claim_ttl_secs", (json_int_t)task_conf.tc_claim_ttl_secs,
	    "sweep_interval_secs", (json_int_t)task_conf.tc_sweep_secs,
	    "max_retries", (json_int_t)task_conf.tc_max_retries,
	    "retention_days", (json_int_t)task_conf.tc_retention_days));
	PQclear(res);
}

static void
board_op_inbox(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_INBOX, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:I, s:{s:I, s:I}, s:I}",
	    "total_pending", col_int(res, 0) + col_int(res, 2),
	    "by_source",
	    "task_queue", col_int(res, 0),
	    "goals", col_int(res, 2),
	    "unassigned_tasks", col_int(res, 1)));
	PQclear(res);
}

const struct svc_op task_board_ops[] = {
	{ OP_QUEUE_STATUS,	board_op_queue },
	{ OP_INBOX_STATUS,	board_op_inbox },
	{ NULL,			NULL }
};
