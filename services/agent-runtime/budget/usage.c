/*
 * budget/usage.c - usage.stats, usage.summary, usage.by_model and
 * usage.daily (GET /api/usage, /api/usage/summary, /by-model, /daily):
 * aggregates of the usage rows every answered turn writes
 * (runtime.usage_records, one per turn: its tokens, cost and provider
 * calls, "iterations") and of the turn records' tool calls.
 *
 * As budget/ops.c, the answers carry the fields of both the notes
 * (kernel.md 4.5) and the spec (000, 002); each is one statement.
 */
#include <stdio.h>
#include <string.h>

#include "budget/budget.h"
#include "services.h"

/* A turn row counts its provider calls (at least one). */
#define SQL_CALLS	"sum(greatest(iterations, 1))"

static const char SQL_STATS[] =
    "WITH p AS (SELECT CASE $1 "
    "WHEN 'hour' THEN now() - interval '1 hour' "
    "WHEN 'day' THEN date_trunc('day', now() AT TIME ZONE 'UTC') "
    "AT TIME ZONE 'UTC' "
    "WHEN 'week' THEN now() - interval '7 days' "
    "WHEN 'month' THEN date_trunc('month', now() AT TIME ZONE 'UTC') "
    "AT TIME ZONE 'UTC' ELSE '-infinity'::timestamptz END AS t0), "
    "u AS (SELECT agent_id, sum(input_tokens) AS i, sum(output_tokens) AS o, "
    "sum(cost_usd) AS c, " SQL_CALLS " AS n FROM usage_records "
    "WHERE at >= (SELECT t0 FROM p) GROUP BY agent_id), "
    "tc AS (SELECT agent_id, sum(tool_calls) AS k FROM turn_records "
    "WHERE ended_at >= (SELECT t0 FROM p) GROUP BY agent_id), "
    "x AS (SELECT a.id, a.name, coalesce(u.i, 0) AS i, coalesce(u.o, 0) AS o, "
    "coalesce(u.c, 0) AS c, coalesce(u.n, 0) AS n, coalesce(tc.k, 0) AS k "
    "FROM agents a LEFT JOIN u ON u.agent_id = a.id "
    "LEFT JOIN tc ON tc.agent_id = a.id) "
    "SELECT json_build_object('period', $1::text, "
    "'total_input_tokens', (SELECT coalesce(sum(i), 0) FROM u), "
    "'total_output_tokens', (SELECT coalesce(sum(o), 0) FROM u), "
    "'total_cost_usd', (SELECT coalesce(sum(c), 0) FROM u), "
    "'request_count', (SELECT coalesce(sum(n), 0) FROM u), "
    "'active_agents', (SELECT count(*) FROM u), "
    "'items', (SELECT coalesce(json_agg(json_build_object("
    "'agent_id', id, 'name', name, 'is_hand', false, "
    "'total_tokens', i + o, 'input_tokens', i, 'output_tokens', o, "
    "'total_cost_usd', c, 'cost', c, 'call_count', n, 'tool_calls', k) "
    "ORDER BY c DESC, name), '[]') FROM x), "
    "'total', (SELECT count(*) FROM x), 'offset', 0, 'limit', NULL)";

static const char SQL_SUMMARY[] =
    "WITH w AS (SELECT now() - interval '1 hour' AS h0, "
    "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS d0), "
    "a AS (SELECT coalesce(sum(input_tokens), 0) AS i, "
    "coalesce(sum(output_tokens), 0) AS o, coalesce(sum(cost_usd), 0) AS c, "
    "coalesce(" SQL_CALLS ", 0) AS n, "
    "coalesce(sum(input_tokens) FILTER (WHERE at >= w.d0), 0) AS ti, "
    "coalesce(sum(output_tokens) FILTER (WHERE at >= w.d0), 0) AS tout, "
    "coalesce(sum(cost_usd) FILTER (WHERE at >= w.d0), 0) AS tc, "
    "coalesce(sum(greatest(iterations, 1)) FILTER (WHERE at >= w.d0), 0) "
    "AS tn, coalesce(sum(input_tokens + output_tokens) FILTER (WHERE "
    "at > w.h0), 0) AS ht FROM w LEFT JOIN usage_records ON true "
    "GROUP BY w.h0, w.d0), "
    "k AS (SELECT coalesce(sum(tool_calls), 0) AS k FROM turn_records) "
    "SELECT json_build_object('total_input_tokens', i, "
    "'total_output_tokens', o, 'total_cost_usd', c, 'call_count', n, "
    "'total_tool_calls', k, "
    "'today', json_build_object('input_tokens', ti, 'output_tokens', tout, "
    "'cost_usd', tc, 'requests', tn), "
    "'quota', json_build_object('hourly_token_limit', coalesce((SELECT "
    "default_max_llm_tokens_per_hour FROM budget_global WHERE id), "
    "$1::bigint, 0), 'hourly_tokens_used', ht, 'hourly_reset_at', "
    "to_char((date_trunc('hour', now()) + interval '1 hour') AT TIME ZONE "
    "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))) FROM a, k";

static const char SQL_BY_MODEL[] =
    "SELECT coalesce(json_agg(json_build_object('model', model, "
    "'provider', provider, 'input_tokens', i, 'output_tokens', o, "
    "'cost_usd', c, 'request_count', n, 'total_cost_usd', c, "
    "'total_input_tokens', i, 'total_output_tokens', o, 'call_count', n) "
    "ORDER BY c DESC, model, provider), '[]') FROM (SELECT provider, model, "
    "sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cost_usd) AS c, "
    SQL_CALLS " AS n FROM usage_records GROUP BY provider, model) x "
    "WHERE $1::int IS NOT NULL";

static const char SQL_DAILY[] =
    "WITH t AS (SELECT (now() AT TIME ZONE 'UTC')::date AS today), "
    "days AS (SELECT t.today - k AS day FROM t, generate_series(0, "
    "$1::int - 1) AS k), "
    "u AS (SELECT (at AT TIME ZONE 'UTC')::date AS day, "
    "sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cost_usd) AS c, "
    SQL_CALLS " AS n FROM usage_records WHERE at >= (((SELECT today "
    "FROM t) - ($1::int - 1))::timestamp AT TIME ZONE 'UTC') GROUP BY 1), "
    "x AS (SELECT days.day, coalesce(u.i, 0) AS i, coalesce(u.o, 0) AS o, "
    "coalesce(u.c, 0) AS c, coalesce(u.n, 0) AS n "
    "FROM days LEFT JOIN u USING (day)) "
    "SELECT json_build_object("
    "'daily', (SELECT json_agg(json_build_object('date', "
    "to_char(day, 'YYYY-MM-DD'), 'input_tokens', i, 'output_tokens', o, "
    "'cost_usd', c, 'request_count', n) ORDER BY day) FROM x), "
    "'days', (SELECT json_agg(json_build_object('date', "
    "to_char(day, 'YYYY-MM-DD'), 'cost_usd', c, 'tokens', i + o, "
    "'calls', n) ORDER BY day) FROM x), "
    "'today_cost_usd', (SELECT c FROM x, t WHERE x.day = t.today), "
    "'first_event_date', (SELECT to_char(min(at) AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD') FROM usage_records))";

static const char *const usage_periods[] = {
	"hour", "day", "week", "month", "all", NULL
};

/* Runs sql and replies its one JSON value, or 503. */
static void
usage_reply(struct svc_ctx *c, struct svc_reply *rp, const char *sql,
    const char *arg, const char *key)
{
	PGresult	*res;
	json_t		*v = NULL;
	json_error_t	 je;
	const char	*p[1];

	p[0] = arg;
	if ((res = db_exec(c->sc_db, sql, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		v = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &je);
	PQclear(res);
	if (key != NULL && v != NULL)
		v = json_pack("{s:o}", key, v);
	svc_reply_json(rp, 200, v);
}

static void
op_usage_stats(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*v = json_object_get(rq->mr_query, "period");
	const char	*period = "day";
	size_t		 i;

	if (v != NULL) {
		period = json_string_value(v);
		for (i = 0; period != NULL && usage_periods[i] != NULL; i++)
			if (strcmp(period, usage_periods[i]) == 0)
				break;
		if (period == NULL || usage_periods[i] == NULL) {
			svc_reply_error(rp, 400, "'period' must be one of hour, "
			    "day, week, month, all");
			return;
		}
	}
	usage_reply(c, rp, SQL_STATS, period, NULL);
}

static void
op_usage_summary(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	(void)rq;
	usage_reply(c, rp, SQL_SUMMARY, budget_cfg_params()[4], NULL);
}

static void
op_usage_by_model(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	(void)rq;
	usage_reply(c, rp, SQL_BY_MODEL, "1", "models");
}

static void
op_usage_daily(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*v = json_object_get(rq->mr_query, "days");
	long long	 days = BUDGET_DAYS_DEFAULT;
	char		 s[24];

	if (v != NULL && (json_string_value(v) == NULL ||
	    util_strtonum(json_string_value(v), 1, BUDGET_DAYS_MAX,
	    &days) != 0)) {
		svc_reply_error(rp, 400, "'days' must be an integer in 1..%d",
		    BUDGET_DAYS_MAX);
		return;
	}
	snprintf(s, sizeof(s), "%lld", days);
	usage_reply(c, rp, SQL_DAILY, s, NULL);
}

const struct svc_op usage_ops[] = {
	{ OP_USAGE_STATS, op_usage_stats },
	{ OP_USAGE_SUMMARY, op_usage_summary },
	{ OP_USAGE_BY_MODEL, op_usage_by_model },
	{ OP_USAGE_DAILY, op_usage_daily },
	{ NULL, NULL }
};
