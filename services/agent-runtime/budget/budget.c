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

#define SQL_RESERVE							\
	"SELECT budget_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "	\
	"$11, $12, $13, $14, $15, $16, $17)"

int
budget_turn_reserve(struct turn *t, struct db *db, json_t *req, char *err,
    size_t errlen)
{
	PGresult	*res = NULL;
	json_t		*resv;
	const char	*p[17], *why;
	char		 cost[32], tok[32], dcost[32], dtok[32], ttl[24];
	char		 mh[32], md[32], mm[32], mt[32], mb[32];
	double		 in = 0, out = 0, c;
	long long	 est_in, est_out;
	size_t		 i;
	int		 ret = -1;

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
	t->t_budget_out = 0;
	if (t->t_budget_key[0] == '\0')
		util_uuid4(t->t_budget_key);
	resv = json_object_get(t->t_manifest, "resources");
	snprintf(cost, sizeof(cost), "%.17g", c);
	snprintf(tok, sizeof(tok), "%lld", est_in + est_out);
	snprintf(dcost, sizeof(dcost), "%.17g", t->t_usage.u_cost);
	snprintf(dtok, sizeof(dtok), "%lld", t->t_usage.u_in +
	    t->t_usage.u_out);
	snprintf(ttl, sizeof(ttl), "%.0f", bc_ttl_s);
	p[0] = t->t_budget_key;
	p[1] = t->t_agent_id;
	p[2] = cost;
	p[3] = tok;
	p[4] = dcost;
	p[5] = dtok;
	p[6] = ttl;
	p[7] = bc_hour;
	p[8] = bc_day;
	p[9] = bc_month;
	p[10] = bc_tokens;
	p[11] = budget_mf_param(resv, "max_cost_per_hour_usd", mh, sizeof(mh));
	p[12] = budget_mf_param(resv, "max_cost_per_day_usd", md, sizeof(md));
	p[13] = budget_mf_param(resv, "max_cost_per_month_usd", mm,
	    sizeof(mm));
	p[14] = budget_mf_param(resv, "max_llm_tokens_per_hour", mt,
	    sizeof(mt));
	/* The manifest's 0 means "no limit of its own": let the global
	 * default token quota apply (notes 4.4, null = inherit). */
	if (p[14] != NULL && strcmp(p[14], "0") == 0)
		p[14] = NULL;
	p[15] = budget_mf_param(resv, "burst_ratio", mb, sizeof(mb));
	p[16] = bc_burst;
	if ((res = db_exec(db, SQL_RESERVE, 17, p)) == NULL ||
	    PQntuples(res) != 1) {
		log_warnx("%s: could not reserve for agent '%s': %s", __func__,
		    t->t_agent_id, db_errmsg(db));
		goto done;
	}
	if (PQgetisnull(res, 0, 0)) {
		ret = 0;
		goto done;
	}
	why = PQgetvalue(res, 0, 0);
	if (strcmp(why, "ok") == 0) {
		t->t_budget_held = 1;
		/* What a streamed answer may spend before it is cut
		 * (turn/turn.c). */
		t->t_budget_out = est_out;
		t->t_budget_in = est_in;
		t->t_budget_in_per_m = in;
		t->t_budget_out_per_m = out;
		ret = 0;
	} else {
		snprintf(err, errlen, "%s", why);
		/* The refusal writes nothing else: its BudgetExceeded entry
		 * (notes/kernel.md 4.4) is a statement of its own.  A
		 * failure is logged and does not change the refusal. */
		(void)audit_record(db, AUDIT_BUDGET_EXCEEDED, t->t_agent_id,
		    why, "denied");
		ret = 1;
	}
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
