#!/usr/bin/env bash
# budget.sh BUILD - figure 12 of `make bench` (issue 10): what the budget
# check adds to a turn (target <= 0.3 ms p50), with and without a budget
# set, in one run:
#
#   a. blocking turns on two agents at the instant fake, alternately
#      (tests/bench/budgetload.mjs): A with no limit anywhere (the check
#      is one statement that reads two rows), B under a per-agent hourly
#      limit too high to bite (the check takes its lock, sums the window,
#      writes the reservation, which the turn's final statement
#      deletes); the p50 of B - A per pair is what an enforced budget
#      adds; then A beside C, under an hourly, a daily and a monthly
#      limit, with 100,000 usage rows of its own this month (issue 17:
#      the check stays flat as history grows);
#   b. the statement alone, as the runtime sends it (pgbench, one client,
#      on the same cluster, a fresh turn key each time, deleted after as
#      the turn's final statement does): budget_reserve() without a
#      limit, budget_reserve_hour() under B's hourly limit (sql/016: what
#      the runtime calls for it), and budget_reserve() with a limit on
#      every window for B (small history) beside C (100,000 rows this
#      month): the database cost of the check per provider call (the
#      release is one more CTE of the turn's final statement); then the
#      statement a turn's first call sends (budget/budget.c
#      SQL_SAVE_RESERVE: the user message's save, the limits read, a
#      reserving function only under one) for A and B, beside the save
#      alone.
#
# C's rows are spread over this month up to 65 minutes ago (all of them
# before the last complete hour; in the first hours of a month, fewer
# hours hold them).
#
# Its own throwaway stack (as turns.sh).  Figures, not pass/fail.
#
#   BUDGET_N=300        pairs of turns (after 20 warm-up)
#   BUDGET_HISTORY=100000  C's usage rows this month
#   BUDGET_TX=3000      pgbench transactions per statement set
#   BUDGET_TX_HISTORY=500  the same for C (a check that reads the whole
#                       month, as 012's did, takes ~0.1 s)
#   BUDGET_MAX_SECS=300 watchdog

set -u

build=${1:?usage: budget.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
N=${BUDGET_N:-300}
TX=${BUDGET_TX:-3000}
HIST=${BUDGET_HISTORY:-100000}
TXC=${BUDGET_TX_HISTORY:-500}
MAXSECS=${BUDGET_MAX_SECS:-300}
T_ADDED_MS=0.3

hr() { printf '%s\n' "------------------------------------------------------------------------------"; }
hr
echo "12. BUDGET CHECK  added cost per turn, with and without a budget set (target <= $T_ADDED_MS ms p50)"
hr
for p in bus api-gateway agent-runtime waithttp; do
	if [ ! -x "$bin/$p" ]; then echo "   $p not built; skipped"; exit 0; fi
done
command -v node >/dev/null 2>&1 || { echo "   node is not installed; skipped"; exit 0; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfbudget.XXXXXX") || exit 1
chmod 711 "$tmp"
export LIBREFANG_HOME=$tmp/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
export BENCH_FAKE_API_KEY=bench-key
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL LIBREFANG_ALLOW_NO_AUTH
mkdir -p "$LIBREFANG_HOME/run" "$tmp/log"

declare -A PIDS=()
PG_UP=0
WATCHDOG=
STACK_TAG=budget
SERVICES="agent-runtime"
. "$root/tests/bench/stack.sh"

GW_PORT=$(free_port)
export LIBREFANG_API_LISTEN=127.0.0.1:$GW_PORT
GW=127.0.0.1:$GW_PORT

cleanup() {
	trap - EXIT INT TERM
	watchdog_stop
	stop api-gateway agent-runtime bus fake
	pg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "budget: interrupted" >&2; exit 1' INT TERM
watchdog_start "$MAXSECS"

pg_start
fake_start 1000 || exit 0
stack_start
if ! "$bin/waithttp" -t 30000 "$GW" /api/agents >/dev/null 2>"$tmp/wait.err"; then
	echo "   the stack did not come up: $(cat "$tmp/wait.err")"
	dump_logs
	exit 0
fi

spawn() {	# spawn NAME [MORE]: an agent at the fake; prints its id
	local toml
	toml=$(printf 'name = "%s"\n[model]\nprovider = "openai"\nmodel = "bench-budget"\nbase_url = "http://127.0.0.1:%s/v1"\napi_key_env = "BENCH_FAKE_API_KEY"\n%s' \
	    "$1" "$FAKE_PORT" "${2:-}")
	curl -s -m 10 -X POST -H 'Content-Type: application/json' \
	    -d "$(jq -nc --arg t "$toml" '{manifest_toml: $t}')" "http://$GW/api/agents" | jq -r .agent_id
}
A=$(spawn budget-free)
B=$(spawn budget-held '[resources]
max_cost_per_hour_usd = 1000000')
C=$(spawn budget-history '[resources]
max_cost_per_hour_usd = 1000000
max_cost_per_day_usd = 1000000
max_cost_per_month_usd = 1000000')
if [ -z "$A" ] || [ "$A" = null ] || [ -z "$B" ] || [ "$B" = null ] ||
    [ -z "$C" ] || [ "$C" = null ]; then
	echo "   could not spawn the agents"
	exit 0
fi
psql_lf() { PGOPTIONS="-c search_path=runtime" psql -h "$LIBREFANG_HOME/pg" -U librefang -d librefang -XAtq -v ON_ERROR_STOP=1 "$@"; }
if ! psql_lf -c "INSERT INTO usage_records (agent_id, provider, model,
    input_tokens, output_tokens, cost_usd, at)
    SELECT '$C', 'openai', 'bench-budget', 1000, 200, 0.0001,
    m + (i::double precision / $HIST) * greatest(now() - interval '65 minutes' - m, interval '0')
    FROM generate_series(0, $HIST - 1) i,
    (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m) x" \
    -c "ANALYZE usage_records" 2>"$tmp/history.err"; then
	echo "   could not write C's history: $(tail -n 2 "$tmp/history.err")"
	exit 0
fi

# ---- a. turns ------------------------------------------------------------------
if r=$(node "$root/tests/bench/budgetload.mjs" --gw "$GW" --a "$A" --b "$B" --n "$N" --warm 20 2>"$tmp/load.err"); then
	printf '   %-52s %8s %8s\n' "turns, $(jq -r .pairs <<<"$r") pairs, ms" p50 p99
	printf '   %-52s %8s %8s\n' "without a budget (agent A)" $(jq -r '.without | "\(.p50) \(.p99)"' <<<"$r")
	printf '   %-52s %8s %8s\n' "with a budget: limit checked and reserved (agent B)" $(jq -r '.with | "\(.p50) \(.p99)"' <<<"$r")
	ADDED=$(jq -r .added.p50 <<<"$r")
	V=$(awk -v v="$ADDED" -v t="$T_ADDED_MS" 'BEGIN { print (v + 0 <= t + 0) ? "ok" : "MISS" }')
	printf '   %-52s %8s          target <= %s ms: %s\n' "added by an enforced budget, B - A per pair" "$ADDED" "$T_ADDED_MS" "$V"
	jq -r 'select(.errors > 0) | "   errors \(.errors): \(.last_error)"' <<<"$r"
else
	echo "   turns failed: $(tail -n 3 "$tmp/load.err")"
fi
if r=$(node "$root/tests/bench/budgetload.mjs" --gw "$GW" --a "$A" --b "$C" --n "$N" --warm 20 2>"$tmp/load.err"); then
	printf '   %-52s %8s %8s\n' "with hour/day/month limits, $HIST rows this month (C)" $(jq -r '.with | "\(.p50) \(.p99)"' <<<"$r")
	ADDED=$(jq -r .added.p50 <<<"$r")
	V=$(awk -v v="$ADDED" -v t="$T_ADDED_MS" 'BEGIN { print (v + 0 <= t + 0) ? "ok" : "MISS" }')
	printf '   %-52s %8s          target <= %s ms: %s\n' "added with that history, C - A per pair" "$ADDED" "$T_ADDED_MS" "$V"
	jq -r 'select(.errors > 0) | "   errors \(.errors): \(.last_error)"' <<<"$r"
else
	echo "   turns of C failed: $(tail -n 3 "$tmp/load.err")"
fi

# ---- b. the statements alone ---------------------------------------------------
if command -v pgbench >/dev/null 2>&1; then
	stmt() {	# stmt FILE AGENT HOUR DAY MONTH: one turn's check and release
		{
			echo 'SELECT gen_random_uuid() AS k \gset'
			printf "SELECT runtime.budget_reserve(:k, '%s', 0.004, 1500, 0, 0, 3600, '0', '0', '0', '0', '%s', '%s', '%s', NULL, NULL, '0.2');\n" \
			    "$2" "$3" "$4" "$5"
			echo 'DELETE FROM runtime.budget_reservations WHERE turn_key = :k;'
		} >"$1"
	}
	stmt "$tmp/free.sql" "$A" 0 0 0
	# B's limit alone goes to budget_reserve_hour() (sql/016), as the
	# runtime sends it.
	{
		echo 'SELECT gen_random_uuid() AS k \gset'
		printf "SELECT runtime.budget_reserve_hour(:k, '%s', 0.004, 1500, 3600, 1000000);\n" "$B"
		echo 'DELETE FROM runtime.budget_reservations WHERE turn_key = :k;'
	} >"$tmp/held.sql"
	stmt "$tmp/allb.sql" "$B" 1000000 1000000 1000000
	stmt "$tmp/allc.sql" "$C" 1000000 1000000 1000000
	pgb() {	# pgb FILE [TX] -> mean latency of budget_reserve() in ms
		PGOPTIONS="-c search_path=runtime" pgbench -h "$LIBREFANG_HOME/pg" -U librefang -n -c 1 -t "${2:-$TX}" -M prepared -r -f "$1" librefang 2>"$tmp/pgbench.err" |
		    awk '/budget_reserve/ { print $1 }'
	}
	F=$(pgb "$tmp/free.sql")
	H=$(pgb "$tmp/held.sql")
	HB=$(pgb "$tmp/allb.sql")
	HC=$(pgb "$tmp/allc.sql" "$TXC")
	# Before a turn's first provider call the check rides on the save
	# of the user's message (budget/budget.c, SQL_SAVE_RESERVE): that
	# statement as sent, against the save alone, on a session of A's
	# and one of B's.
	save() {	# save FILE AGENT SESSION [MANIFEST_HOURLY]: with the check when given
		local m='[{"role":"user","content":"How much does one turn cost?"}]'
		{
			echo 'SELECT gen_random_uuid() AS k \gset'
			if [ -z "${4:-}" ]; then
				printf "UPDATE runtime.sessions SET messages = '%s'::jsonb, context_window_tokens = 20, updated_at = clock_timestamp() WHERE id = '%s' AND fence = 1 RETURNING interrupt;\n" "$m" "$3"
			else
				printf "WITH s AS (UPDATE runtime.sessions SET messages = '%s'::jsonb, context_window_tokens = 20, updated_at = clock_timestamp() WHERE id = '%s' AND fence = 1 RETURNING interrupt) SELECT s.interrupt, CASE WHEN NOT s.interrupt THEN CASE WHEN l.gh = 0 AND l.gd = 0 AND l.gm = 0 AND l.ad = 0 AND l.am = 0 AND l.atok = 0 THEN CASE WHEN l.ah > 0 THEN runtime.budget_reserve_hour(:k, '%s', 0::float8 + 0.004::float8, 0::bigint + 1500::bigint, 3600, l.ah) END ELSE runtime.budget_reserve(:k, '%s', 0.004, 1500, 0, 0, 3600, '0', '0', '0', '0', %s, NULL, NULL, NULL, NULL, '0.2') END END FROM s, (SELECT coalesce(g.max_hourly_usd, 0::float8, 0) AS gh, coalesce(g.max_daily_usd, 0::float8, 0) AS gd, coalesce(g.max_monthly_usd, 0::float8, 0) AS gm, coalesce(a.max_cost_per_hour_usd, %s::float8, 0) AS ah, coalesce(a.max_cost_per_day_usd, NULL::float8, 0) AS ad, coalesce(a.max_cost_per_month_usd, NULL::float8, 0) AS am, coalesce(a.max_llm_tokens_per_hour, NULL::bigint, g.default_max_llm_tokens_per_hour, 0::bigint, 0) AS atok FROM (SELECT) x LEFT JOIN runtime.budget_global g ON g.id LEFT JOIN runtime.budget_agents a ON a.agent_id = '%s') l;\n" "$m" "$3" "$2" "$2" "$4" "$4" "$2"
			fi
			echo 'DELETE FROM runtime.budget_reservations WHERE turn_key = :k;'
		} >"$1"
	}
	SA=$(psql_lf -c "INSERT INTO sessions (id, agent_id, fence) VALUES (gen_random_uuid(), '$A', 1) RETURNING id" 2>/dev/null | head -n 1)
	SB=$(psql_lf -c "INSERT INTO sessions (id, agent_id, fence) VALUES (gen_random_uuid(), '$B', 1) RETURNING id" 2>/dev/null | head -n 1)
	if [ -n "$SA" ] && [ -n "$SB" ]; then
		save "$tmp/save.sql" "$A" "$SA"
		save "$tmp/savea.sql" "$A" "$SA" NULL
		save "$tmp/saveb.sql" "$B" "$SB" "'1000000'"
		pgs() {	# pgs FILE -> mean latency of the save (with or without the check) in ms
			PGOPTIONS="-c search_path=runtime" pgbench -h "$LIBREFANG_HOME/pg" -U librefang -n -c 1 -t "$TX" -M prepared -r -f "$1" librefang 2>"$tmp/pgbench.err" |
			    awk '/UPDATE runtime.sessions/ { print $1 }'
		}
		S0=$(pgs "$tmp/save.sql")
		SCA=$(pgs "$tmp/savea.sql")
		SCB=$(pgs "$tmp/saveb.sql")
		S1=$(pgs "$tmp/save.sql")
	fi
	printf '   %-52s %8s ms\n' "database, no limit: budget_reserve() (1 statement)" "${F:--}"
	printf '   %-52s %8s ms\n' "database, a limit: budget_reserve_hour() (B)" "${H:--}"
	printf '   %-52s %8s ms\n' "database, hour/day/month limits, small history (B)" "${HB:--}"
	printf '   %-52s %8s ms\n' "database, the same, $HIST rows this month (C)" "${HC:--}"
	printf '   %-52s %8s ms\n' "the user message's save alone (as before 015)" "${S0:--} / ${S1:--}"
	printf '   %-52s %8s ms\n' "the save with the check, no limit (A)" "${SCA:--}"
	printf '   %-52s %8s ms\n' "the save with the check, a limit (B)" "${SCB:--}"
	echo "   (the check rides on the save before a turn's first call, the release on the turn's final"
	echo "   statement: neither has a round trip of its own)"
	[ -n "$F" ] && [ -n "$H" ] && [ -n "$HB" ] && [ -n "$HC" ] || echo "   pgbench: $(tail -n 2 "$tmp/pgbench.err")"
else
	echo "   pgbench is not installed: the statement figures are skipped"
fi
exit 0
