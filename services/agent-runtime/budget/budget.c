/*
 * budget/budget.c - config.toml [budget], and a turn's reservations
 * (budget/budget.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "budget/budget.h"
#include "log.h"
#include "turn/session.h"
#include "turn/turn.h"

/* config.toml [budget]: set once by budget_init() before the workers
 * serve, read-only after. */
static char	 bc_hour[32] = "0", bc_day[32] = "0", bc_month[32] = "0";
static char	 bc_alert[32] = "0.8", bc_tokens[32] = "0";
static char	 bc_burst[32] = "0.2";
static double	 bc_ttl_s = 3600;	/* a reservation outlives its turn */
static const char *bc_params[5] = { bc_hour, bc_day, bc_month, bc_alert,
	bc_tokens };

const char *const *
budget_cfg_params(void)
{
	return (bc_params);
}

/* One number of [budget] into out: 0, or -1 when it is no finite number
 * in 0..max. */
static int
budget_cfg_num(json_t *sec, const char *key, double max, int integer,
    char *out, size_t outlen)
{
	json_t	*v = json_object_get(sec, key);
	double	 d;

	if (v == NULL)
		return (0);
	if (!json_is_number(v) || (integer && !json_is_integer(v)))
		goto bad;
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || d > max)
		goto bad;
	if (integer)
		snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
	else
		snprintf(out, outlen, "%.17g", d);
	return (0);
 bad:
	log_warnx("%s: config.toml [budget] %s must be a number from 0 to %g",
	    __func__, key, max);
	return (-1);
}

int
budget_init(const struct sh_config *cfg)
{
	json_t	*sec = json_object_get(cfg->cf_doc, "budget");
	int	 rv = 0;

	if (cfg->turn_timeout_secs > 0)
		bc_ttl_s = (double)cfg->turn_timeout_secs + 60;
	if (sec == NULL)
		return (0);
	if (!json_is_object(sec)) {
		log_warnx("%s: config.toml [budget] is not a table", __func__);
		return (-1);
	}
	rv |= budget_cfg_num(sec, "max_hourly_usd", BUDGET_USD_MAX, 0,
	    bc_hour, sizeof(bc_hour));
	rv |= budget_cfg_num(sec, "max_daily_usd", BUDGET_USD_MAX, 0,
	    bc_day, sizeof(bc_day));
	rv |= budget_cfg_num(sec, "max_monthly_usd", BUDGET_USD_MAX, 0,
	    bc_month, sizeof(bc_month));
	rv |= budget_cfg_num(sec, "alert_threshold", 1, 0, bc_alert,
	    sizeof(bc_alert));
	rv |= budget_cfg_num(sec, "default_max_llm_tokens_per_hour",
	    (double)BUDGET_TOKENS_MAX, 1, bc_tokens, sizeof(bc_tokens));
	rv |= budget_cfg_num(sec, "default_burst_ratio", 1, 0, bc_burst,
	    sizeof(bc_burst));
	return (rv != 0 ? -1 : 0);
}

/* A manifest [resources] number as a parameter: NULL when absent or
 * null (the next source decides). */
static const char *
budget_mf_param(json_t *res, const char *key, char *out, size_t outlen)
{
	json_t	*v = json_object_get(res, key);

	if (!json_is_number(v))
		return (NULL);
	snprintf(out, outlen, "%.17g", json_number_value(v));
	return (out);
}

/*
 * The limits that apply to a call ($2 the agent, $8-$15 the config and
 * manifest values as budget_reserve() takes them): the runtime value,
 * else the caller's, else 0 -- two primary-key reads.
 */
#define BUDGET_LIMITS							\
	"(SELECT coalesce(g.max_hourly_usd, $8::float8, 0) AS gh, "	\
	"    coalesce(g.max_daily_usd, $9::float8, 0) AS gd, "		\
	"    coalesce(g.max_monthly_usd, $10::float8, 0) AS gm, "	\
	"    coalesce(a.max_cost_per_hour_usd, $12::float8, 0) AS ah, "	\
	"    coalesce(a.max_cost_per_day_usd, $13::float8, 0) AS ad, "	\
	"    coalesce(a.max_cost_per_month_usd, $14::float8, 0) AS am, " \
	"    coalesce(a.max_llm_tokens_per_hour, $15::bigint, "		\
	"    g.default_max_llm_tokens_per_hour, $11::bigint, 0) AS atok " \
	"    FROM (SELECT) x LEFT JOIN budget_global g ON g.id "	\
	"    LEFT JOIN budget_agents a ON a.agent_id = $2::uuid) l"
/*
 * The verdict on those limits (l): NULL when none applies (no call, no
 * lock, nothing written); an agent's hourly cost limit alone, the
 * commonest, by budget_reserve_hour() (sql/016: one statement after the
 * lock); anything else by budget_reserve(), which reads the limits again
 * under its locks.
 */
#define BUDGET_VERDICT							\
	"CASE WHEN l.gh = 0 AND l.gd = 0 AND l.gm = 0 AND l.ad = 0 "	\
	"    AND l.am = 0 AND l.atok = 0 THEN CASE WHEN l.ah > 0 THEN "	\
	"    budget_reserve_hour($1::uuid, $2::uuid, "			\
	"    $5::float8 + $3::float8, $6::bigint + $4::bigint, "		\
	"    $7::integer, l.ah) END "					\
	"ELSE budget_reserve($1::uuid, $2::uuid, "			\
	"$3::float8, $4::bigint, $5::float8, $6::bigint, $7::integer, "	\
	"$8::float8, $9::float8, $10::float8, $11::bigint, $12::float8, " \
	"$13::float8, $14::float8, $15::bigint, $16::float8, $17::float8) " \
	"END"
#define SQL_RESERVE							\
	"SELECT " BUDGET_VERDICT " FROM " BUDGET_LIMITS

/*
 * The user's message saved and the turn's first call reserved in one
 * statement (budget_turn_save_reserve()): $1-$17 as SQL_RESERVE, then
 * the save's session, fence, messages and tokens.  No row: the fence
 * moved.  Its columns: the interrupt flag, and the verdict when the
 * session was not interrupted.  Under a limit the reservation commits
 * with the save: one write transaction, whose commit the reserving
 * function makes asynchronous (a database crash that loses it also ends
 * the turn; the end statement saves again).
 */
#define SQL_SAVE_RESERVE						\
	"WITH s AS (UPDATE sessions SET messages = $20::jsonb, "	\
	"    context_window_tokens = $21::bigint, "			\
	"    updated_at = clock_timestamp() "				\
	"    WHERE id = $18::uuid AND fence = $19::bigint "		\
	"    RETURNING interrupt) "					\
	"SELECT s.interrupt, CASE WHEN NOT s.interrupt THEN "		\
	BUDGET_VERDICT " END FROM s, " BUDGET_LIMITS

/* The parameters of one reservation: budget_reserve()'s 17 and the
 * buffers they point into. */
struct budget_call {
	const char	*bc_p[21];
	char		 bc_cost[32], bc_tok[32], bc_dcost[32], bc_dtok[32];
	char		 bc_ttl[24], bc_mh[32], bc_md[32], bc_mm[32];
	char		 bc_mt[32], bc_mb[32];
	long long	 bc_est_in, bc_est_out;
	double		 bc_in, bc_out;
};

/* Prices t's next call, whose request is req (borrowed), into bc. */
static void
budget_call_params(struct turn *t, json_t *req, struct budget_call *bc)
{
	json_t		*resv;
	const char	**p = bc->bc_p;
	double		 in = 0, out = 0, c;
	long long	 est_in, est_out;
	size_t		 i;

	/* The dearest target of the chain prices the worst case, as
	 * turn_add_usage() prices what was spent. */
	for (i = 0; i < t->t_nchain; i++) {
		if (t->t_chain[i].ct_known && (t->t_chain[i].ct_in_per_m > 0 ||
		    t->t_chain[i].ct_out_per_m > 0)) {
			in = fmax(in, t->t_chain[i].ct_in_per_m);
			out = fmax(out, t->t_chain[i].ct_out_per_m);
		} else {
			in = fmax(in, CATALOG_DEFAULT_IN_PER_M);
			out = fmax(out, CATALOG_DEFAULT_OUT_PER_M);
		}
	}
	if (t->t_nchain == 0) {
		in = CATALOG_DEFAULT_IN_PER_M;
		out = CATALOG_DEFAULT_OUT_PER_M;
	}
	est_in = turn_estimate_tokens(json_object_get(req, "messages")) +
	    (long long)(strlen(json_string_value(json_object_get(req,
	    "system")) ?: "") / 4) + 1;
	est_out = json_integer_value(json_object_get(req, "max_tokens"));
	if (est_out <= 0)
		est_out = 4096;
	c = (double)est_in * in / 1e6 + (double)est_out * out / 1e6;
	bc->bc_est_in = est_in;
	bc->bc_est_out = est_out;
	bc->bc_in = in;
	bc->bc_out = out;
	if (t->t_budget_key[0] == '\0')
		util_uuid4(t->t_budget_key);
	resv = json_object_get(t->t_manifest, "resources");
	snprintf(bc->bc_cost, sizeof(bc->bc_cost), "%.17g", c);
	snprintf(bc->bc_tok, sizeof(bc->bc_tok), "%lld", est_in + est_out);
	snprintf(bc->bc_dcost, sizeof(bc->bc_dcost), "%.17g",
	    t->t_usage.u_cost);
	snprintf(bc->bc_dtok, sizeof(bc->bc_dtok), "%lld", t->t_usage.u_in +
	    t->t_usage.u_out);
	snprintf(bc->bc_ttl, sizeof(bc->bc_ttl), "%.0f", bc_ttl_s);
	p[0] = t->t_budget_key;
	p[1] = t->t_agent_id;
	p[2] = bc->bc_cost;
	p[3] = bc->bc_tok;
	p[4] = bc->bc_dcost;
	p[5] = bc->bc_dtok;
	p[6] = bc->bc_ttl;
	p[7] = bc_hour;
	p[8] = bc_day;
	p[9] = bc_month;
	p[10] = bc_tokens;
	p[11] = budget_mf_param(resv, "max_cost_per_hour_usd", bc->bc_mh,
	    sizeof(bc->bc_mh));
	p[12] = budget_mf_param(resv, "max_cost_per_day_usd", bc->bc_md,
	    sizeof(bc->bc_md));
	p[13] = budget_mf_param(resv, "max_cost_per_month_usd", bc->bc_mm,
	    sizeof(bc->bc_mm));
	p[14] = budget_mf_param(resv, "max_llm_tokens_per_hour", bc->bc_mt,
	    sizeof(bc->bc_mt));
	/* The manifest's 0 means "no limit of its own": let the global
	 * default token quota apply (notes 4.4, null = inherit). */
	if (p[14] != NULL && strcmp(p[14], "0") == 0)
		p[14] = NULL;
	p[15] = budget_mf_param(resv, "burst_ratio", bc->bc_mb,
	    sizeof(bc->bc_mb));
	p[16] = bc_burst;
}

/* The reserving function's answer why (NULL: no limit applies) for the call
 * bc priced: 0 go on, 1 refused (why in err, its audit entry recorded). */
static int
budget_call_verdict(struct turn *t, struct db *db,
    const struct budget_call *bc, const char *why, char *err, size_t errlen)
{
	if (why == NULL)
		return (0);
	if (strcmp(why, "ok") == 0) {
		t->t_budget_held = 1;
		/* What a streamed answer may spend before it is cut
		 * (turn/turn.c). */
		t->t_budget_out = bc->bc_est_out;
		t->t_budget_in = bc->bc_est_in;
		t->t_budget_in_per_m = bc->bc_in;
		t->t_budget_out_per_m = bc->bc_out;
		return (0);
	}
	snprintf(err, errlen, "%s", why);
	/* The refusal writes nothing else: its BudgetExceeded entry
	 * (notes/kernel.md 4.4) is a statement of its own.  A failure is
	 * logged and does not change the refusal. */
	(void)audit_record(db, AUDIT_BUDGET_EXCEEDED, t->t_agent_id, why,
	    "denied");
	return (1);
}

int
budget_turn_reserve(struct turn *t, struct db *db, json_t *req, char *err,
    size_t errlen)
{
	struct budget_call	 bc;
	PGresult		*res;
	int			 ret = -1;

	budget_call_params(t, req, &bc);
	t->t_budget_out = 0;
	if ((res = db_exec(db, SQL_RESERVE, 17, bc.bc_p)) == NULL ||
	    PQntuples(res) != 1) {
		log_warnx("%s: could not reserve for agent '%s': %s", __func__,
		    t->t_agent_id, db_errmsg(db));
		goto done;
	}
	ret = budget_call_verdict(t, db, &bc, PQgetisnull(res, 0, 0) ? NULL :
	    PQgetvalue(res, 0, 0), err, errlen);
 done:
	PQclear(res);
	return (ret);
}

int
budget_turn_save_reserve(struct turn *t, struct db *db, json_t *req,
    const char *messages, long long ctx_tokens, int *interrupted,
    char *err, size_t errlen)
{
	struct budget_call	 bc;
	PGresult		*res;
	char			 fence[24], tokens[24];
	int			 ret = -1;

	*interrupted = 0;
	budget_call_params(t, req, &bc);
	t->t_budget_out = 0;
	snprintf(fence, sizeof(fence), "%lld", t->t_fence);
	snprintf(tokens, sizeof(tokens), "%lld", ctx_tokens);
	bc.bc_p[17] = t->t_session_id;
	bc.bc_p[18] = fence;
	bc.bc_p[19] = messages;
	bc.bc_p[20] = tokens;
	if ((res = db_exec(db, SQL_SAVE_RESERVE, 21, bc.bc_p)) == NULL)
		goto done;
	if (PQntuples(res) != 1) {
		ret = SESSION_EFENCE;
		goto done;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		*interrupted = 1;
		ret = 0;
		goto done;
	}
	ret = budget_call_verdict(t, db, &bc, PQgetisnull(res, 0, 1) ? NULL :
	    PQgetvalue(res, 0, 1), err, errlen);
 done:
	PQclear(res);
	return (ret);
}

void
budget_turn_release(struct turn *t, struct db *db)
{
	const char	*p[1];

	if (!t->t_budget_held)
		return;
	p[0] = t->t_budget_key;
	/* A failure only keeps the row until it expires: conservative. */
	if (db_cmd(db, "DELETE FROM budget_reservations WHERE turn_key = $1",
	    1, p) != 0)
		log_warnx("%s: could not release the reservation of agent "
		    "'%s': %s", __func__, t->t_agent_id, db_errmsg(db));
	t->t_budget_held = 0;
}
