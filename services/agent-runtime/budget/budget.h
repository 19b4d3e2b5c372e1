/*
 * budget/budget.h - cost and token limits, and the usage they are
 * measured on (notes/kernel.md 4.4 and 4.5; sql/012_budget.sql,
 * sql/013_budget_totals.sql to sql/016_budget_reserve_hour.sql).
 *
 * Limits come from three places, the first set wins: a value PUT at
 * runtime (runtime.budget_global, runtime.budget_agents), config.toml
 * [budget] for the global ones, the agent manifest's [resources] for an
 * agent's.  0 is unlimited.  Spend is what the turns' usage rows
 * (runtime.usage_records) say, by UTC window: the rolling last hour,
 * today since 00:00, this month since the 1st.
 *
 * Enforcement lives in PostgreSQL so that it holds across replicas:
 * before every provider call of a message turn, budget_turn_reserve()
 * runs one statement (before a turn's first call it rides on the user
 * message's save, budget_turn_save_reserve()) which reads the limits
 * and, when some limit applies, calls runtime.budget_reserve_hour() (an
 * agent's hourly cost limit alone) or runtime.budget_reserve() (any
 * other): it takes the budget's advisory locks and reserves the call's
 * worst case (the estimated input plus the request's max_tokens, at the
 * dearest price of the turn's model chain) on top of what the turn has
 * spent so far, or refuses it.  The reservation is one row per turn; the
 * turn's final statement (agent/obs.c, obs_turn_end()) inserts its usage
 * row and deletes it together, so spend is never counted twice or not at
 * all; budget_turn_release() is the fallback when that statement failed.
 * Without any limit the statement reads two rows and takes no lock.
 */
#ifndef BUDGET_H
#define BUDGET_H

#include <jansson.h>

#include "cfg.h"
#include "db.h"
#include "svc.h"

#define BUDGET_USD_MAX		1e9		/* largest limit accepted */
#define BUDGET_TOKENS_MAX	1000000000000LL	/* largest token quota */
#define BUDGET_ALERT_DEFAULT	0.8
#define BUDGET_DAYS_DEFAULT	7		/* usage.daily */
#define BUDGET_DAYS_MAX		366

struct turn;

/* Reads config.toml [budget] (cfg borrowed for the call).  0, or -1 when
 * a value is bad (logged). */
int	 budget_init(const struct sh_config *cfg);

/*
 * Reserves t's next provider call, whose request is req (borrowed),
 * against every limit that applies.  0: go on (reserved, or no limit);
 * 1: refused, why in err ("Agent ... exceeded daily cost quota: $x /
 * $y"), and a BudgetExceeded audit entry recorded (a statement of its
 * own); -1: database error (logged).  Job thread.
 */
int	 budget_turn_reserve(struct turn *t, struct db *db, json_t *req,
	    char *err, size_t errlen);
/*
 * The same for t's first call, in one statement with the save of the
 * session's messages (JSON text, borrowed) that comes just before it
 * (turn/machine.c): the save is fence-checked as session_save()'s; when
 * the session is interrupted nothing is reserved.  0 (saved; reserved
 * or no limit, or *interrupted), 1 (refused, as above), SESSION_EFENCE,
 * or -1 (database error).  Job thread.
 */
int	 budget_turn_save_reserve(struct turn *t, struct db *db, json_t *req,
	    const char *messages, long long ctx_tokens, int *interrupted,
	    char *err, size_t errlen);
/* Drops t's reservation if it still holds one (obs_turn_end() failed;
 * call after the usage row was written apart). */
void	 budget_turn_release(struct turn *t, struct db *db);

/* budget.* and usage.* (budget/ops.c, budget/usage.c). */
extern const struct svc_op budget_ops[];
extern const struct svc_op usage_ops[];

/* The effective global limits as SQL parameters (budget/budget.c):
 * hourly, daily, monthly, alert threshold, default tokens per hour,
 * each a decimal string of config.toml's value (borrowed static). */
const char *const *budget_cfg_params(void);

#endif /* BUDGET_H */
