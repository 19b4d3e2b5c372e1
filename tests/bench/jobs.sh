#!/usr/bin/env bash
# jobs.sh BUILD - the scheduler's figures of `make bench` (issue 9,
# "Targets for make bench"): N jobs on a fixed interval for a while with
# two scheduler replicas, turns served by an instant fake provider
# (tests/fakes/fake-llm.mjs):
#
#   10. fire lag from the slot time, p50 and p99 (target p99 <= 1 s),
#       duplicates (turns at the provider beyond one per slot; must be 0),
#       misses (slots of the window not fired; must be 0), and scheduler
#       CPU per fire (both replicas), with PostgreSQL's beside it;
#   11. the same with one replica killed with -9 halfway.
#
# Each run has its own throwaway stack (private PostgreSQL, the broker,
# agent-runtime, two scheduler replicas, the gateway, over ipc://).  The
# jobs are created through POST /api/cron/jobs (session_mode "new": a
# session per fire), spread over JOBS_AGENTS agents; they start as they
# are created, so their slots are spread over the interval.  The window
# is the JOBS_SECS seconds after every job has its first slot due; a slot
# in it counts as missed unless it fired.  Figures, not pass/fail.
#
#   JOBS_N=200            jobs (the issue's target: 1000)
#   JOBS_INTERVAL=10      every_secs of each job
#   JOBS_SECS=60          seconds measured per run (the target: 120)
#   JOBS_AGENTS=20        agents the jobs are spread over
#   JOBS_KILL=1           0 skips the run with a replica killed
#   JOBS_MAX_SECS=900     watchdog
#   JOBS_LOGS=DIR         keep the processes' logs there
#
# The full target: JOBS_N=1000 JOBS_SECS=120 tests/bench/jobs.sh BUILD.

set -u

build=${1:?usage: jobs.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
N=${JOBS_N:-200}
IVL=${JOBS_INTERVAL:-10}
SECS=${JOBS_SECS:-60}
NAG=${JOBS_AGENTS:-20}
KILL=${JOBS_KILL:-1}
MAXSECS=${JOBS_MAX_SECS:-900}
LEASE=10
FAKE=$root/tests/fakes/fake-llm.mjs
LOAD=$root/tests/bench/turnload.mjs

T_P99_MS=1000

SERVICES="agent-runtime scheduler"

hr() { printf '%s\n' "------------------------------------------------------------------------------"; }

if ! command -v node >/dev/null 2>&1; then
	hr; echo "10-11. SCHEDULER: node is not installed; skipped"; exit 0
fi
for p in bus api-gateway agent-runtime scheduler waithttp; do
	if [ ! -x "$bin/$p" ]; then
		hr; echo "10-11. SCHEDULER: $p not built; skipped"; exit 0
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfjobs.XXXXXX") || exit 1
chmod 711 "$tmp"
export BENCH_FAKE_API_KEY=bench-key
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL LIBREFANG_ALLOW_NO_AUTH

declare -A PIDS=()
PG_UP=0
WATCHDOG=
STACK_TAG=jobs
. "$root/tests/bench/stack.sh"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

cleanup() {
	trap - EXIT INT TERM
	watchdog_stop
	run_stop
	rm -rf "$tmp"
}
run_stop() {
	stop api-gateway scheduler-2 scheduler agent-runtime bus fake
	pg_stop
	PG_UP=0
	[ -z "${JOBS_LOGS:-}" ] || [ ! -d "$tmp/log" ] ||
	    { mkdir -p "$JOBS_LOGS" && cp "$tmp"/log/*.log "$JOBS_LOGS"/ 2>/dev/null; }
}
trap cleanup EXIT
trap 'echo "jobs: interrupted" >&2; exit 1' INT TERM
watchdog_start "$MAXSECS"

q() { psql -h "$LIBREFANG_HOME/pg" -U librefang -XAtq -c "$1" librefang 2>/dev/null; }
cpu_ticks() {	# PID -> utime + stime in clock ticks
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
pg_ticks() {
	local pm pid t=0
	pm=$(head -n 1 "$LIBREFANG_HOME/pg/data/postmaster.pid" 2>/dev/null)
	[ -n "$pm" ] || { echo 0; return; }
	for pid in $pm $(ps -o pid= --ppid "$pm" 2>/dev/null); do
		t=$((t + $(cpu_ticks "$pid")))
	done
	echo "$t"
}
fmt() { if [ -z "$1" ] || [ "$1" = null ]; then echo "-"; else echo "$1"; fi; }
verdict() {	# verdict VALUE OP TARGET -> "ok" / "MISS" / "-"
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
		if (v == "" || v == "-" || v == "null") { print "-"; exit }
		ok = (op == "<=") ? (v + 0 <= t + 0) : (v + 0 >= t + 0)
		print ok ? "ok" : "MISS"
	}'
}

# run LABEL KILL: one stack, N jobs, SECS seconds measured.
run() {
	local label=$1 kill=$2 gw port i t0 w0 w1 fake_port s1 s2 pg0 d1 d2 dpg
	local hz fires lag dup miss extra missed turns keys a
	rm -rf "$tmp/home" "$tmp/log"
	fake_port=
	export LIBREFANG_HOME=$tmp/home
	export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
	mkdir -p "$LIBREFANG_HOME/run" "$tmp/log"
	cat >"$LIBREFANG_HOME/config.toml" <<EOF
[scheduler]
min_interval_secs = 1
lease_secs = $LEASE
max_jobs = $((N + 10))
max_jobs_per_agent = $N
EOF
	port=$(free_port)
	export LIBREFANG_API_LISTEN=127.0.0.1:$port
	gw=127.0.0.1:$port
	pg_start
	# Removed first: the child truncates it only once it runs, after
	# the loop below may have read the last run's port.
	rm -f "$tmp/fake.port"
	node "$FAKE" --port 0 --record-limit 0 >"$tmp/fake.port" 2>>"$tmp/log/fake.log" &
	PIDS[fake]=$!
	for ((i = 0; i < 500; i++)); do
		fake_port=$(awk '$1 == "listening" { print $2 }' "$tmp/fake.port" 2>/dev/null)
		[ -n "$fake_port" ] && break
		sleep 0.01
	done
	start bus
	start agent-runtime
	start scheduler
	"$bin/scheduler" >>"$tmp/log/scheduler-2.log" 2>&1 &
	PIDS[scheduler-2]=$!
	start api-gateway
	if [ -z "$fake_port" ] || ! "$bin/waithttp" -t 30000 "$gw" /api/agents >/dev/null 2>"$tmp/wait.err"; then
		echo "jobs: the stack did not come up: $(cat "$tmp/wait.err" 2>/dev/null)"
		dump_logs
		return 1
	fi
	if ! node "$LOAD" spawn --gw "$gw" --base "http://127.0.0.1:$fake_port/v1" \
	    --model bench-jobs --prefix bench-jobs --n "$NAG" >"$tmp/agents" 2>"$tmp/spawn.err"; then
		echo "jobs: could not spawn the agents: $(cat "$tmp/spawn.err")"
		return 1
	fi
	mapfile -t AG <"$tmp/agents"
	# The jobs, eight requests at a time (curl --parallel).
	: >"$tmp/create.cfg"
	for ((i = 0; i < N; i++)); do
		a=${AG[$((i % NAG))]}
		printf 'url = "http://%s/api/cron/jobs"\nrequest = "POST"\nheader = "Content-Type: application/json"\ndata = "{\\"agent_id\\": \\"%s\\", \\"name\\": \\"bench-%d\\", \\"schedule\\": {\\"kind\\": \\"every\\", \\"every_secs\\": %d}, \\"prompt\\": \\"Bench fire\\", \\"session_mode\\": \\"new\\"}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
		    "$gw" "$a" "$i" "$IVL" >>"$tmp/create.cfg"
		[ $i = $((N - 1)) ] || echo next >>"$tmp/create.cfg"
	done
	t0=$(date +%s.%N)
	curl -s --parallel --parallel-max 8 -K "$tmp/create.cfg" >"$tmp/create.out" 2>&1
	if [ "$(grep -c '^201$' "$tmp/create.out")" != "$N" ]; then
		echo "jobs: only $(grep -c '^201$' "$tmp/create.out") of $N jobs were created ($(grep -v '^201$' "$tmp/create.out" | sort | uniq -c | head -3 | tr '\n' ' '))"
		return 1
	fi
	# The window: from the last job's first slot, SECS seconds.
	w0=$(q "SELECT ceil(extract(epoch FROM max(next_run)))::bigint FROM scheduler.jobs")
	while [ "$(date +%s)" -lt "$w0" ]; do sleep 0.2; done
	s1=$(cpu_ticks "${PIDS[scheduler]}")
	s2=$(cpu_ticks "${PIDS[scheduler-2]}")
	pg0=$(pg_ticks)
	if [ "$kill" = 1 ]; then
		sleep $((SECS / 2))
		d2=$(( $(cpu_ticks "${PIDS[scheduler-2]}") - s2 ))
		kill -KILL "${PIDS[scheduler-2]}"
		wait "${PIDS[scheduler-2]}" 2>/dev/null
		unset "PIDS[scheduler-2]"
		sleep $((SECS - SECS / 2))
	else
		sleep "$SECS"
		d2=$(( $(cpu_ticks "${PIDS[scheduler-2]}") - s2 ))
	fi
	d1=$(( $(cpu_ticks "${PIDS[scheduler]}") - s1 ))
	dpg=$(( $(pg_ticks) - pg0 ))
	w1=$((w0 + SECS))
	# Let the window's fires end (a dead replica's after their lease).
	for ((i = 0; i < (LEASE + 20) * 5; i++)); do
		[ "$(q "SELECT count(*) FROM scheduler.job_fires WHERE state = 'running' AND slot < to_timestamp($w1)")" = 0 ] && break
		sleep 0.2
	done
	q "UPDATE scheduler.jobs SET enabled = false" >/dev/null
	# And every fire after the window: the counts below compare all
	# fires with all turns (queued turns start late under load).
	for ((i = 0; i < (LEASE + 20) * 5; i++)); do
		[ "$(q "SELECT count(*) FROM scheduler.job_fires WHERE state = 'running'")" = 0 ] && break
		sleep 0.2
	done
	hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
	local win="slot >= to_timestamp($w0) AND slot < to_timestamp($w1) AND NOT manual"
	fires=$(q "SELECT count(*) FROM scheduler.job_fires WHERE $win")
	lag=$(q "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::int || ' ' ||
	    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))::int || ' ' || max(ms)::int
	    FROM (SELECT extract(epoch FROM fired_at - slot) * 1000 AS ms FROM scheduler.job_fires WHERE $win) x")
	# Slots each job had in the window (from its phase), fired or not.
	miss=$(q "WITH p AS (SELECT j.id, extract(epoch FROM j.created_at)::bigint AS c,
	    (SELECT extract(epoch FROM min(slot))::bigint FROM scheduler.job_fires f WHERE f.job_id = j.id) AS s0
	    FROM scheduler.jobs j),
	    e AS (SELECT id, (floor(($w1 - 1 - s0) / $IVL::numeric) - ceil(($w0 - s0) / $IVL::numeric) + 1)::int AS n FROM p)
	    SELECT coalesce(sum(e.n), 0) - (SELECT count(*) FROM scheduler.job_fires WHERE $win)
	    || ' ' || (SELECT count(*) FROM p WHERE s0 IS NULL) FROM e")
	missed=$(q "SELECT sum(missed_fires) FROM scheduler.jobs")
	dup=$(q "SELECT count(*) - count(DISTINCT (job_id, slot)) FROM scheduler.job_fires")
	keys=$(q "SELECT count(*) FROM runtime.turn_keys")
	turns=$(curl -s -m 60 "http://127.0.0.1:$fake_port/__fake/requests?model=bench-jobs" | jq length)
	local all
	all=$(q "SELECT count(*) FROM scheduler.job_fires")
	local failed
	failed=$(q "SELECT count(*) FROM scheduler.job_fires WHERE state <> 'ok'")
	printf '   %s: %d fires in the window [%s]\n' "$label" "$fires" "$(date -u -d "@$w0" +%T)-$(date -u -d "@$w1" +%T) UTC"
	set -- $lag
	printf '   %-40s %14s %12s %s\n' "fire lag p50 / p99 / max" "$(fmt "${1:-}") / $(fmt "${2:-}") / $(fmt "${3:-}") ms" \
	    "p99 <= $T_P99_MS" "$(verdict "${2:-}" '<=' $T_P99_MS)"
	printf '   %-40s %14s %12s %s\n' "duplicates (provider turns - fires)" "$((turns - all))" "0" \
	    "$(verdict "$((turns - all))" '<=' 0)"
	printf '   %-40s %14s\n' "  (fire rows per slot > 1; runtime turn keys)" "$dup; $keys for $all fires"
	set -- $miss
	printf '   %-40s %14s %12s %s\n' "misses (window slots not fired)" "$(fmt "${1:-}")" "0" "$(verdict "${1:-}" '<=' 0)"
	printf '   %-40s %14s\n' "  (jobs never fired; missed_fires)" "${2:-}; $missed"
	printf '   %-40s %14s\n' "fires not ok" "$failed"
	[ "$failed" = 0 ] || printf '   %-40s %s\n' "  the most common error" \
	    "$(q "SELECT count(*) || ' x ' || left(error, 120) FROM scheduler.job_fires WHERE state <> 'ok' GROUP BY error ORDER BY count(*) DESC LIMIT 1")"
	printf '   %-40s %14s\n' "scheduler CPU per fire (both replicas)" \
	    "$(awk -v d="$((d1 + d2))" -v hz="$hz" -v p="$fires" 'BEGIN { printf "%.0f", (p > 0 ? d * 1e6 / hz / p : 0) }') us"
	printf '   %-40s %14s\n' "  replica 1 / replica 2 CPU" \
	    "$(awk -v a="$d1" -v b="$d2" -v hz="$hz" 'BEGIN { printf "%.2f / %.2f s", a / hz, b / hz }')"
	printf '   %-40s %14s\n' "PostgreSQL CPU per fire" \
	    "$(awk -v d="$dpg" -v hz="$hz" -v p="$fires" 'BEGIN { printf "%.0f", (p > 0 ? d * 1e6 / hz / p : 0) }') us"
	run_stop
	return 0
}

hr
echo "10-11. SCHEDULER  $N jobs every ${IVL}s, ${SECS}s measured, two replicas, $NAG agents, instant fake provider"
echo "   bench config: [scheduler] min_interval_secs = 1, lease_secs = $LEASE, max_jobs = $((N + 10)); target: 1000 jobs x 10 s x 120 s"
hr
run "10. two replicas" 0 || exit 1
if [ "$KILL" = 1 ]; then
	hr
	run "11. replica 2 killed -9 at $((SECS / 2)) s" 1 || exit 1
fi
exit 0
