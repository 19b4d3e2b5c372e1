/*
 * budget/ops.c - budget.get, budget.put, budget.agents, budget.agent.get
 * and budget.agent.put (GET|PUT /api/budget, GET /api/budget/agents,
 * GET|PUT /api/budget/agents/{id}).
 *
 * The answers carry the fields of every edition of the reference at once
 * (notes/kernel.md 4.4, spec 000 and 002): they do not clash, and each
 * client finds the ones it reads.  Each answer is built by one statement.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "audit.h"
#include "budget/budget.h"
#include "log.h"
#include "services.h"

/* The UTC windows of notes 4.4, as one row (h0, d0, m0). */
#define SQL_WINDOWS							\
	"w AS (SELECT now() - interval '1 hour' AS h0, "		\
	"date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "	\
	"AS d0, date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE "	\
	"'UTC' AS m0)"

/* An agent's effective limits, a the agents row, b its budget_agents
 * row, $2 config's default tokens per hour (as budget_reserve()). */
#define SQL_AGENT_LIMITS						\
	"coalesce(b.max_cost_per_hour_usd, (a.manifest->'resources'->>"	\
	"'max_cost_per_hour_usd')::float8, 0) AS lh, "			\
	"coalesce(b.max_cost_per_day_usd, (a.manifest->'resources'->>"	\
	"'max_cost_per_day_usd')::float8, 0) AS ld, "			\
	"coalesce(b.max_cost_per_month_usd, (a.manifest->'resources'->>"	\
	"'max_cost_per_month_usd')::float8, 0) AS lm, "			\
	"coalesce(b.max_llm_tokens_per_hour, nullif((a.manifest->"	\
	"'resources'->>'max_llm_tokens_per_hour')::float8::bigint, 0), "	\
	"(SELECT default_max_llm_tokens_per_hour FROM budget_global "	\
	"WHERE id), $2::bigint, 0) AS lt"

#define SQL_PCT(s, l)	"CASE WHEN " l " > 0 THEN " s " / " l " ELSE 0 END"

static const char SQL_STATUS[] =
    "WITH " SQL_WINDOWS ", "
    "l AS (SELECT coalesce(g.max_hourly_usd, $1::float8) AS h, "
    "coalesce(g.max_daily_usd, $2::float8) AS d, "
    "coalesce(g.max_monthly_usd, $3::float8) AS m, "
    "coalesce(g.alert_threshold, $4::float8) AS a, "
    "coalesce(g.default_max_llm_tokens_per_hour, $5::bigint) AS t "
    "FROM w LEFT JOIN budget_global g ON g.id), "
    "s AS (SELECT coalesce(sum(u.cost_usd) FILTER (WHERE u.at > w.h0), 0) "
    "AS sh, coalesce(sum(u.cost_usd) FILTER (WHERE u.at >= w.d0), 0) AS sd, "
    "coalesce(sum(u.cost_usd) FILTER (WHERE u.at >= w.m0), 0) AS sm "
    "FROM w LEFT JOIN usage_records u ON u.at >= least(w.m0, w.h0)), "
    "p AS (SELECT s.*, l.*, " SQL_PCT("sh", "h") " AS ph, "
    SQL_PCT("sd", "d") " AS pd, " SQL_PCT("sm", "m") " AS pm FROM s, l) "
    "SELECT json_build_object("
    "'hourly_spend', sh, 'hourly_limit', h, 'hourly_pct', ph, "
    "'daily_spend', sd, 'daily_limit', d, 'daily_pct', pd, "
    "'monthly_spend', sm, 'monthly_limit', m, 'monthly_pct', pm, "
    "'alert_threshold', a, 'default_max_llm_tokens_per_hour', t, "
    "'hourly', json_build_object('spend', sh, 'limit', h, 'pct', ph), "
    "'daily', json_build_object('spend', sd, 'limit', d, 'pct', pd), "
    "'monthly', json_build_object('spend', sm, 'limit', m, 'pct', pm), "
    "'daily_limit_usd', d, 'monthly_limit_usd', m, "
    "'today_spent_usd', sd, 'month_spent_usd', sm, "
    "'status', CASE WHEN greatest(ph, pd, pm) >= 1 THEN 'exceeded' "
    "WHEN greatest(ph, pd, pm) > 0 AND greatest(ph, pd, pm) >= a "
    "THEN 'warning' ELSE 'ok' END) FROM p";

static const char SQL_PUT[] =
    "INSERT INTO budget_global AS g (id, max_hourly_usd, max_daily_usd, "
    "max_monthly_usd, alert_threshold, default_max_llm_tokens_per_hour) "
    "VALUES (true, $1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET "
    "max_hourly_usd = coalesce(EXCLUDED.max_hourly_usd, g.max_hourly_usd), "
    "max_daily_usd = coalesce(EXCLUDED.max_daily_usd, g.max_daily_usd), "
    "max_monthly_usd = coalesce(EXCLUDED.max_monthly_usd, "
    "g.max_monthly_usd), "
    "alert_threshold = coalesce(EXCLUDED.alert_threshold, "
    "g.alert_threshold), "
    "default_max_llm_tokens_per_hour = coalesce("
    "EXCLUDED.default_max_llm_tokens_per_hour, "
    "g.default_max_llm_tokens_per_hour), updated_at = clock_timestamp()";

static const char SQL_AGENTS[] =
    "WITH " SQL_WINDOWS ", "
    "u AS (SELECT agent_id, sum(cost_usd) AS t, sum(cost_usd) FILTER "
    "(WHERE at >= (SELECT d0 FROM w)) AS d FROM usage_records "
    "GROUP BY agent_id), "
    "x AS (SELECT a.id, a.name, coalesce(u.d, 0) AS d, coalesce(u.t, 0) "
    "AS t, " SQL_AGENT_LIMITS " FROM agents a "
    "LEFT JOIN budget_agents b ON b.agent_id = a.id "
    "LEFT JOIN u ON u.agent_id = a.id WHERE $1::int IS NOT NULL) "
    "SELECT coalesce(json_agg(json_build_object('agent_id', id, "
    "'name', name, 'agent_name', name, 'daily_cost_usd', d, "
    "'today_cost_usd', d, 'total_cost_usd', t, 'hourly_limit', lh, "
    "'daily_limit', ld, 'monthly_limit', lm, "
    "'max_llm_tokens_per_hour', lt) ORDER BY d DESC, t DESC, name), "
    "'[]') FROM x";

static const char SQL_AGENT[] =
    "WITH " SQL_WINDOWS ", "
    "x AS (SELECT a.id, a.name, " SQL_AGENT_LIMITS " FROM agents a "
    "LEFT JOIN budget_agents b ON b.agent_id = a.id WHERE a.id = $1), "
    "s AS (SELECT coalesce(sum(u.cost_usd) FILTER (WHERE u.at > w.h0), 0) "
    "AS sh, coalesce(sum(u.cost_usd) FILTER (WHERE u.at >= w.d0), 0) AS sd, "
    "coalesce(sum(u.cost_usd) FILTER (WHERE u.at >= w.m0), 0) AS sm, "
    "coalesce(sum(u.input_tokens + u.output_tokens) FILTER (WHERE "
    "u.at > w.h0), 0) AS st FROM w LEFT JOIN usage_records u ON "
    "u.agent_id = $1 AND u.at >= least(w.m0, w.h0)) "
    "SELECT json_build_object('agent_id', id, 'agent_name', name, "
    "'name', name, "
    "'hourly', json_build_object('spend', sh, 'limit', lh, 'pct', "
    SQL_PCT("sh", "lh") "), "
    "'daily', json_build_object('spend', sd, 'limit', ld, 'pct', "
    SQL_PCT("sd", "ld") "), "
    "'monthly', json_build_object('spend', sm, 'limit', lm, 'pct', "
    SQL_PCT("sm", "lm") "), "
    "'tokens', json_build_object('used', st, 'limit', lt, 'pct', "
    SQL_PCT("st::float8", "lt") "), "
    "'max_cost_per_hour_usd', lh, 'max_cost_per_day_usd', ld, "
    "'max_cost_per_month_usd', lm, 'max_llm_tokens_per_hour', lt) "
    "FROM x, s";

static const char SQL_AGENT_PUT[] =
    "INSERT INTO budget_agents AS b (agent_id, max_cost_per_hour_usd, "
    "max_cost_per_day_usd, max_cost_per_month_usd, max_llm_tokens_per_hour) "
    "SELECT id, $2::float8, $3::float8, $4::float8, $5::bigint FROM agents "
    "WHERE id = $1 ON CONFLICT (agent_id) DO UPDATE SET "
    "max_cost_per_hour_usd = coalesce(EXCLUDED.max_cost_per_hour_usd, "
    "b.max_cost_per_hour_usd), "
    "max_cost_per_day_usd = coalesce(EXCLUDED.max_cost_per_day_usd, "
    "b.max_cost_per_day_usd), "
    "max_cost_per_month_usd = coalesce(EXCLUDED.max_cost_per_month_usd, "
    "b.max_cost_per_month_usd), "
    "max_llm_tokens_per_hour = coalesce(EXCLUDED.max_llm_tokens_per_hour, "
    "b.max_llm_tokens_per_hour), updated_at = clock_timestamp() "
    "RETURNING agent_id";

/* One field of a PUT body, under any of its names. */
struct budget_field {
	const char	*bf_names[4];	/* NULL-ended */
	int		 bf_integer;	/* a token count, else USD */
	double		 bf_max;
};

/*
 * Reads field f from body into out (a decimal string): 1 when given, 0
 * when absent, -1 after a 400 (not a finite number in 0..max, or a token
 * count that is not an integer).
 */
static int
budget_field_get(json_t *body, const struct budget_field *f, char *out,
    size_t outlen, struct svc_reply *rp)
{
	json_t		*v = NULL;
	const char	*name = NULL;
	double		 d;
	size_t		 i;

	for (i = 0; f->bf_names[i] != NULL && v == NULL; i++) {
		name = f->bf_names[i];
		v = json_object_get(body, name);
	}
	if (v == NULL)
		return (0);
	d = json_number_value(v);
	if (!json_is_number(v) || !isfinite(d) || d < 0 || d > f->bf_max ||
	    (f->bf_integer && !json_is_integer(v) && d != floor(d))) {
		svc_reply_error(rp, 400, "'%s' must be a%s number from 0 to %g",
		    name, f->bf_integer ? "n integer" : "", f->bf_max);
		return (-1);
	}
	if (f->bf_integer)
		snprintf(out, outlen, "%lld", (long long)d);
	else
		snprintf(out, outlen, "%.17g", d);
	return (1);
}

/*
 * Reads the n fields of a PUT body into p[] (NULL: not given; vals holds
 * the text): the number given, or -1 after a 400 (not an object, a bad
 * value, no field at all).
 */
static int
budget_fields(const struct msg_req *rq, const struct budget_field *f,
    size_t n, char vals[][32], const char **p, struct svc_reply *rp)
{
	size_t	i;
	int	rv, given = 0;

	if (!json_is_object(rq->mr_body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return (-1);
	}
	for (i = 0; i < n; i++) {
		p[i] = NULL;
		if ((rv = budget_field_get(rq->mr_body, &f[i], vals[i], 32,
		    rp)) < 0)
			return (-1);
		if (rv > 0) {
			p[i] = vals[i];
			given++;
		}
	}
	if (given == 0) {
		svc_reply_error(rp, 400, "no budget field given (e.g. '%s')",
		    f[0].bf_names[0]);
		return (-1);
	}
	return (given);
}

/*
 * The ConfigChange entry's detail of a PUT: what (borrowed) followed by
 * each field given, under its first name ("<what>: max_daily_usd=0.01,
 * ...").  Only numbers the body gave: nothing secret.
 */
static void
budget_detail(char *out, size_t outlen, const char *what,
    const struct budget_field *f, size_t n, const char *const *p)
{
	size_t	i, len;
	int	first = 1;

	len = (size_t)snprintf(out, outlen, "%s:", what);
	for (i = 0; i < n && len < outlen; i++) {
		if (p[i] == NULL)
			continue;
		len += (size_t)snprintf(out + len, outlen - len, "%s %s=%s",
		    first ? "" : ",", f[i].bf_names[0], p[i]);
		first = 0;
	}
}

/* Runs sql and replies its one JSON value (200), or a 404 with what
 * when it has no row, or 503. */
static void
budget_reply_query(struct svc_ctx *c, struct svc_reply *rp, const char *sql,
    int n, const char *const *p, const char *what, const char *name)
{
	PGresult	*res;
	json_t		*v = NULL;
	json_error_t	 je;

	if ((res = db_exec(c->sc_db, sql, n, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		v = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &je);
	else if (what != NULL) {
		PQclear(res);
		svc_reply_not_found(rp, what, name);
		return;
	}
	PQclear(res);
	svc_reply_json(rp, 200, v);
}

static void
op_budget_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	(void)rq;
	budget_reply_query(c, rp, SQL_STATUS, 5, budget_cfg_params(), NULL,
	    NULL);
}

static const struct budget_field budget_global_fields[] = {
	{ { "max_hourly_usd", "hourly_limit", "hourly_limit_usd", NULL }, 0,
	    BUDGET_USD_MAX },
	{ { "max_daily_usd", "daily_limit", "daily_limit_usd", NULL }, 0,
	    BUDGET_USD_MAX },
	{ { "max_monthly_usd", "monthly_limit", "monthly_limit_usd", NULL }, 0,
	    BUDGET_USD_MAX },
	{ { "alert_threshold", NULL }, 0, 1 },
	{ { "default_max_llm_tokens_per_hour", NULL }, 1,
	    (double)BUDGET_TOKENS_MAX },
};

static void
op_budget_put(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 vals[5][32], detail[512];
	const char	*p[5];

	if (budget_fields(rq, budget_global_fields, 5, vals, p, rp) < 0)
		return;
	budget_detail(detail, sizeof(detail), "global budget updated",
	    budget_global_fields, 5, p);
	/* The change and its ConfigChange entry commit together
	 * (libshared/audit.h). */
	if (audit_cmd(c->sc_db, SQL_PUT, 5, p, AUDIT_CONFIG_CHANGE, NULL,
	    detail, "ok") != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	log_info("global budget updated");
	op_budget_get(c, rq, rp);
}

static void
op_budget_agents(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*list = NULL;
	json_error_t	 je;
	const char	*p[2];

	(void)rq;
	p[0] = "1";
	p[1] = budget_cfg_params()[4];
	if ((res = db_exec(c->sc_db, SQL_AGENTS, 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 1)
		list = json_loads(PQgetvalue(res, 0, 0), 0, &je);
	PQclear(res);
	if (!json_is_array(list)) {
		json_decref(list);
		list = NULL;
	}
	/* {agents, total} (spec 000) and items (notes 4.4): one list. */
	if (list != NULL)
		json_incref(list);
	svc_reply_list(rp, "agents", list);
	if (list != NULL && rp->sr_status == 200)
		json_object_set(rp->sr_body, "items", list);
	json_decref(list);
}

static void
op_budget_agent_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[2];

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	p[0] = id;
	p[1] = budget_cfg_params()[4];
	budget_reply_query(c, rp, SQL_AGENT, 2, p, "Agent", id);
}

static const struct budget_field budget_agent_fields[] = {
	{ { "max_cost_per_hour_usd", "hourly_limit", "hourly_limit_usd",
	    NULL }, 0, BUDGET_USD_MAX },
	{ { "max_cost_per_day_usd", "daily_limit", "daily_limit_usd", NULL },
	    0, BUDGET_USD_MAX },
	{ { "max_cost_per_month_usd", "monthly_limit", "monthly_limit_usd",
	    NULL }, 0, BUDGET_USD_MAX },
	{ { "max_llm_tokens_per_hour", NULL }, 1, (double)BUDGET_TOKENS_MAX },
};

static void
op_budget_agent_put(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res = NULL;
	char		 id[UTIL_UUID_LEN], vals[4][32], detail[512];
	char		 what[64 + UTIL_UUID_LEN];
	const char	*p[5];
	int		 found;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    budget_fields(rq, budget_agent_fields, 4, vals, p + 1, rp) < 0)
		return;
	p[0] = id;
	snprintf(what, sizeof(what), "budget of agent %s updated", id);
	budget_detail(detail, sizeof(detail), what, budget_agent_fields, 4,
	    p + 1);
	/* The change and its ConfigChange entry commit together
	 * (libshared/audit.h); an unknown agent changes nothing and records
	 * nothing. */
	if (db_cmd(c->sc_db, "BEGIN", 0, NULL) != 0 ||
	    (res = db_exec(c->sc_db, SQL_AGENT_PUT, 5, p)) == NULL) {
		svc_reply_db_error(rp, c);
		(void)db_cmd(c->sc_db, "ROLLBACK", 0, NULL);
		return;
	}
	found = PQntuples(res) == 1;
	PQclear(res);
	if (!found) {
		(void)db_cmd(c->sc_db, "ROLLBACK", 0, NULL);
		svc_reply_not_found(rp, "Agent", id);
		return;
	}
	if (audit_record(c->sc_db, AUDIT_CONFIG_CHANGE, id, detail,
	    "ok") != 0 || db_cmd(c->sc_db, "COMMIT", 0, NULL) != 0) {
		svc_reply_db_error(rp, c);
		(void)db_cmd(c->sc_db, "ROLLBACK", 0, NULL);
		return;
	}
	log_info("budget of agent %s updated", id);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:s}", "status", "ok",
	    "message", "Agent budget updated", "agent_id", id));
}

const struct svc_op budget_ops[] = {
	{ OP_BUDGET_GET, op_budget_get },
	{ OP_BUDGET_PUT, op_budget_put },
	{ OP_BUDGET_AGENTS, op_budget_agents },
	{ OP_BUDGET_AGENT_GET, op_budget_agent_get },
	{ OP_BUDGET_AGENT_PUT, op_budget_agent_put },
	{ NULL, NULL }
};
