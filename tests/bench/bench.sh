#!/usr/bin/env bash
# bench.sh BUILD - the figures behind `make bench`: cold start, idle memory,
# binary sizes and HTTP throughput, each next to its target; then the
# agent-turn figures (tests/bench/turns.sh, its own stack), then the
# scheduler's (tests/bench/jobs.sh, its own stack).
#
# Everything runs in a throwaway home (mktemp -d, chmod 711 so the postgres
# user reaches its cluster) on loopback: a private PostgreSQL (deploy/pg.sh,
# test mode), the broker, the five services and the gateway over ipc://,
# and tests/helpers/mhd_hello as the floor a bare libmicrohttpd server sets.
# Figures, not pass/fail: a missed target is printed, never fatal.  Exits 0
# unless the stack could not start; stops everything it started on any
# exit; a watchdog ends the whole run after BENCH_MAX_SECS.
#
#   BENCH_RUNS=5          cold starts per figure (the median is printed)
#   BENCH_DURATION=5      seconds per wrk run (after a 1 s warm-up)
#   BENCH_ROUNDS=3        interleaved wrk rounds; the best one is printed
#   BENCH_CONNS=32        wrk connections; BENCH_WRK_THREADS=2 wrk threads
#   BENCH_AGENTS=10       agents spawned before GET /api/agents is measured
#   BENCH_BIG_CONNS=8     bad-input load: connections, and rounds of
#   BENCH_BIG_ROUNDS=2    five large requests each (tests/bench/bigload.py)
#   BENCH_MAX_SECS=240    watchdog
#   BENCH_TURNS=1         0 skips the agent-turn figures (turns.sh)
#   (figure 12, the budget check per turn: tests/bench/budget.sh;
#   figure 20, an approval granted at once: tests/bench/approvals.sh)
#   BENCH_JOBS=1          0 skips the scheduler's figures (jobs.sh)
#   BENCH_MEMSEARCH=1     0 skips the memory search figure (memsearch.sh)
#   BENCH_DEPLOY=1        0 skips the compose figures (deploy.sh: docker)
#   BENCH_CHANNELS=1      0 skips the channel figures (channels.sh)
#   BENCH_WEBHOOKS=1      0 skips the outbound webhook figure (webhooks.sh)
#   BENCH_DASH=1          0 skips the dashboard figure (dashboard.sh:
#                         headless Chromium)
#   (figure 22, backup and restore: tests/bench/backup.sh;
#   figure 24, skills in a turn's prompt: tests/bench/skills.sh)

set -u

build=${1:?usage: bench.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
RUNS=${BENCH_RUNS:-5}
DUR=${BENCH_DURATION:-5}
CONNS=${BENCH_CONNS:-32}
WTHREADS=${BENCH_WRK_THREADS:-2}
NAGENTS=${BENCH_AGENTS:-10}
MAXSECS=${BENCH_MAX_SECS:-240}
BIGCONNS=${BENCH_BIG_CONNS:-8}
BIGROUNDS=${BENCH_BIG_ROUNDS:-2}

# Targets (docs: the issue behind make bench).
T_COLD_GW=10		# ms, gateway exec -> first 200 from /api/health
T_COLD_STACK=100	# ms, bus + services + gateway
T_PSS_MB=20		# MB, PSS of all our processes, idle
T_HEALTH_PCT=80		# % of the floor's requests/s
T_AGENTS_PCT=15
T_GW_US=60		# µs of gateway CPU per relayed GET /api/agents
T_BUS_US=20		# µs of broker CPU per relayed GET /api/agents

SERVICES="agent-runtime scheduler memory audit channels"
OURS="bus $SERVICES api-gateway"
SIZED="bus api-gateway $SERVICES librefangd bustool mhd_hello"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfbench.XXXXXX") || exit 1
chmod 711 "$tmp"
export LIBREFANG_HOME=$tmp/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL LIBREFANG_ALLOW_NO_AUTH
mkdir -p "$LIBREFANG_HOME/run" "$tmp/log" "$tmp/strip"

declare -A PIDS=()
PG_UP=0
STACK_OK=1
WATCHDOG=
STACK_TAG=bench
. "$root/tests/bench/stack.sh"

free_port() {
	local p
	if p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null); then
		echo "$p"
		return
	fi
	while :; do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

GW_PORT=$(free_port)
HELLO_PORT=$(free_port)
while [ "$HELLO_PORT" = "$GW_PORT" ]; do HELLO_PORT=$(free_port); done
export LIBREFANG_API_LISTEN=127.0.0.1:$GW_PORT
GW=127.0.0.1:$GW_PORT
HELLO=127.0.0.1:$HELLO_PORT

have() { [ -x "$bin/$1" ]; }

stop_all() {
	local order="api-gateway channels audit memory scheduler agent-runtime bus mhd_hello nng_device nng_echo" n left=()
	stop $order
	for n in "${!PIDS[@]}"; do left+=("$n"); done
	[ ${#left[@]} = 0 ] || stop "${left[@]}"
}

cleanup() {
	trap - EXIT INT TERM
	watchdog_stop
	stop_all
	pg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 1' INT TERM
watchdog_start "$MAXSECS"

median() {	# numbers on stdin -> "median (min..max)", or "n/a"
	sort -n | awk '{ a[NR] = $1 }
	    END {
		if (NR == 0) { print "n/a"; exit }
		m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		printf "%.1f (%.1f..%.1f)\n", m, a[1], a[NR]
	    }'
}

verdict() {	# verdict VALUE OP TARGET -> "ok" / "MISS"
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
		if (v == "" || v == "n/a" || v == "-") { print "-"; exit }
		ok = (op == "<=") ? (v + 0 <= t + 0) : (v + 0 >= t + 0)
		print ok ? "ok" : "MISS"
	}'
}

hr() { printf '%s\n' "------------------------------------------------------------------------------"; }

# ---- header ---------------------------------------------------------------
pg_start
pgdata=$LIBREFANG_HOME/pg/data
pgver=$(cat "$pgdata/PG_VERSION" 2>/dev/null)

echo "LibreFang bench  $(date -u '+%Y-%m-%d %H:%M UTC')  rev $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "host: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
echo "build: $bin; PostgreSQL $pgver (test mode: fsync off); bus ipc://; loopback only"
echo "note: load generator and servers share these CPUs; compare ratios, not absolutes"
missing=
for p in $OURS mhd_hello waithttp; do
	have "$p" || missing="$missing $p"
done
[ -z "$missing" ] || echo "NOT BUILT:$missing (their figures are skipped)"
if ! have api-gateway || ! have agent-runtime || ! have bus; then
	STACK_OK=0
fi
echo

# ---- 1. cold start --------------------------------------------------------
# t0 is read in bash just before the fork; waithttp (started right after
# the programs, so its own start-up overlaps theirs) polls on a fresh
# connection every 0.25 ms and prints ms since t0 at the first 200.
hr
echo "1. COLD START  exec -> first HTTP 200, ms: median (min..max) of $RUNS"
hr
have waithttp || echo "   waithttp not built; skipped"

cold_floor=() cold_gw=() cold_st=() cold_ag=() cold_ok=()
gw_health_status="?" st_health_status="?"
if have waithttp && have mhd_hello; then
	for ((i = 0; i < RUNS; i++)); do
		t0=$EPOCHREALTIME
		start mhd_hello "$HELLO_PORT" 2
		ms=$("$bin/waithttp" -s "$t0" -t 5000 "$HELLO" /api/health) && cold_floor+=("$ms")
		stop mhd_hello
	done
fi

# (a) the gateway alone: only the broker runs (started beforehand, not
# timed); no service, so anything health needs from them is absent.
if have waithttp && have api-gateway && have bus; then
	start bus
	sleep 0.2
	for ((i = 0; i < RUNS; i++)); do
		t0=$EPOCHREALTIME
		start api-gateway
		if out=$("$bin/waithttp" -b -s "$t0" -t 5000 "$GW" /api/health 2>"$tmp/wait.err"); then
			cold_gw+=("${out%%$'\n'*}")
			gw_health_status=$(printf '%s\n' "$out" | sed -n 2p | jq -r '.status // "?"' 2>/dev/null)
		else
			gw_health_err=$(cat "$tmp/wait.err")
		fi
		stop api-gateway
	done
	stop bus
fi

# (b) the whole stack with PostgreSQL up and migrations applied (by an
# untimed first round): bus, five services and gateway exec'd together.
# "health" is the first 200 from /api/health; "agents" the first 200 from
# GET /api/agents, the first moment a request crosses bus, agent-runtime
# and PostgreSQL; "ok" the first /api/health whose status is "ok", which
# waits for the gateway's periodic poll of every service.
if have waithttp && [ $STACK_OK = 1 ]; then
	stack_start
	if ! "$bin/waithttp" -t 30000 "$GW" /api/agents >/dev/null 2>"$tmp/wait.err"; then
		STACK_OK=0
		echo "   the stack did not answer GET /api/agents within 30 s: $(cat "$tmp/wait.err")"
		dump_logs
	fi
	stack_stop
fi
if have waithttp && [ $STACK_OK = 1 ]; then
	for ((i = 0; i < RUNS; i++)); do
		t0=$EPOCHREALTIME
		stack_start
		if out=$("$bin/waithttp" -b -s "$t0" -t 10000 "$GW" /api/health 2>/dev/null); then
			cold_st+=("${out%%$'\n'*}")
			st_health_status=$(printf '%s\n' "$out" | sed -n 2p | jq -r '.status // "?"' 2>/dev/null)
		fi
		ms=$("$bin/waithttp" -s "$t0" -t 10000 "$GW" /api/agents 2>/dev/null) && cold_ag+=("$ms")
		ms=$("$bin/waithttp" -m '"status":"ok"' -s "$t0" -t 10000 "$GW" /api/health 2>/dev/null) && cold_ok+=("$ms")
		stack_stop
	done
fi

m_floor=$(printf '%s\n' "${cold_floor[@]}" | grep . | median)
m_gw=$(printf '%s\n' "${cold_gw[@]}" | grep . | median)
m_st=$(printf '%s\n' "${cold_st[@]}" | grep . | median)
m_ag=$(printf '%s\n' "${cold_ag[@]}" | grep . | median)
m_ok=$(printf '%s\n' "${cold_ok[@]}" | grep . | median)
printf '   %-44s %-24s %-10s %s\n' "what" "ms" "target" ""
printf '   %-44s %-24s %-10s %s\n' "mhd_hello (floor: exec + MHD start)" "$m_floor" "" ""
printf '   %-44s %-24s %-10s %s\n' "(a) api-gateway alone -> /api/health" "$m_gw" "<= $T_COLD_GW" \
    "$(verdict "${m_gw%% *}" '<=' $T_COLD_GW)"
printf '   %-44s %-24s %-10s %s\n' "(b) whole stack -> /api/health" "$m_st" "<= $T_COLD_STACK" \
    "$(verdict "${m_st%% *}" '<=' $T_COLD_STACK)"
printf '   %-44s %-24s %-10s %s\n' "(b) whole stack -> GET /api/agents" "$m_ag" "<= $T_COLD_STACK" \
    "$(verdict "${m_ag%% *}" '<=' $T_COLD_STACK)"
printf '   %-44s %-24s %-10s %s\n' "(b) whole stack -> /api/health status \"ok\"" "$m_ok" "(info)" ""
if have api-gateway; then
	if [ ${#cold_gw[@]} -gt 0 ]; then
		echo "   /api/health with no service running: 200, status \"$gw_health_status\" (needs no service)"
	else
		echo "   /api/health with no service running: no 200 (${gw_health_err:-?}): health needs the services"
	fi
	[ ${#cold_st[@]} = 0 ] || echo "   /api/health with the whole stack: status \"$st_health_status\""
fi
echo

# ---- the stack for the remaining figures -----------------------------------
if [ $STACK_OK = 1 ]; then
	stack_start
	if ! "$bin/waithttp" -t 15000 "$GW" /api/agents >/dev/null 2>"$tmp/wait.err"; then
		STACK_OK=0
		echo "bench: the stack did not come up: $(cat "$tmp/wait.err")"
		dump_logs
	fi
fi

# ---- 2. idle memory -------------------------------------------------------
mem_of() {	# PID -> "rss_kb pss_kb threads"
	awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { printf "%d %d ", r, p }' \
	    "/proc/$1/smaps_rollup" 2>/dev/null || printf '0 0 '
	awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

pg_pids() {	# the postmaster and its children
	local pm
	pm=$(head -n 1 "$pgdata/postmaster.pid" 2>/dev/null) || return
	[ -n "$pm" ] || return
	echo "$pm"
	ps -o pid= --ppid "$pm" 2>/dev/null | tr -d ' '
}

pg_kind() {	# PID -> postmaster | backend | background
	local cmd
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)
	case $cmd in
	*"[local]"*|*" librefang librefang "*)	echo backend ;;
	"postgres: "*)				echo background ;;
	*)					echo postmaster ;;
	esac
}

wakeups() {	# PID -> context switches of all its threads so far
	cat /proc/"$1"/task/*/status 2>/dev/null |
	    awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'
}

# print_memory LABEL: one table of ours + PostgreSQL.  With WK0 set (the
# idle table), also the wake-ups per second since WK0 was taken.
declare -A WK0=()
WK_T0=
print_memory() {
	local n pid r p t w tr=0 tp=0 tt=0 tw=0 k secs=1
	declare -A kr=() kp=() kn=()
	[ -n "$WK_T0" ] && secs=$(awk -v a="$WK_T0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
	printf '   %-16s %8s %10s %10s %8s %10s\n' "process" "pid" "RSS kB" "PSS kB" "threads" \
	    "$([ -n "$WK_T0" ] && echo "wakeups/s")"
	for n in $OURS; do
		pid=${PIDS[$n]:-}
		if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
			printf '   %-16s %8s %10s %10s %8s\n' "$n" "-" "-" "-" "-"
			continue
		fi
		read -r r p t <<<"$(mem_of "$pid")"
		w=
		if [ -n "$WK_T0" ] && [ -n "${WK0[$n]:-}" ]; then
			w=$(awk -v a="${WK0[$n]}" -v b="$(wakeups "$pid")" -v s="$secs" 'BEGIN { printf "%.0f", (b - a) / s }')
			tw=$((tw + w))
		fi
		printf '   %-16s %8s %10s %10s %8s %10s\n' "$n" "$pid" "$r" "$p" "$t" "$w"
		tr=$((tr + r)); tp=$((tp + p)); tt=$((tt + t))
	done
	printf '   %-16s %8s %10s %10s %8s %10s   PSS %.1f MB, target <= %s MB: %s\n' "total (ours)" "" "$tr" "$tp" "$tt" \
	    "$([ -n "$WK_T0" ] && echo "$tw")" \
	    "$(awk -v p="$tp" 'BEGIN { print p / 1024 }')" "$T_PSS_MB" \
	    "$(verdict "$(awk -v p="$tp" 'BEGIN { print p / 1024 }')" '<=' "$T_PSS_MB")"
	[ -n "$WK_T0" ] && IDLE_TOTAL=$tp
	for pid in $(pg_pids); do
		read -r r p t <<<"$(mem_of "$pid")"
		k=$(pg_kind "$pid")
		kr[$k]=$(( ${kr[$k]:-0} + r )); kp[$k]=$(( ${kp[$k]:-0} + p )); kn[$k]=$(( ${kn[$k]:-0} + 1 ))
	done
	tr=0; tp=0
	for k in postmaster background backend; do
		[ -n "${kn[$k]:-}" ] || continue
		printf '   %-16s %8s %10s %10s\n' "pg $k" "x${kn[$k]}" "${kr[$k]}" "${kp[$k]}"
		tr=$((tr + kr[$k])); tp=$((tp + kp[$k]))
	done
	printf '   %-16s %8s %10s %10s   (not ours; one backend per service DB connection)\n' "total (pg)" "" "$tr" "$tp"
}

hr
echo "2. IDLE MEMORY  /proc/PID/smaps_rollup after 2 s idle; wakeups/s = context switches over those 2 s"
hr
IDLE_TOTAL=
if [ $STACK_OK = 1 ] || [ ${#PIDS[@]} -gt 0 ]; then
	for n in $OURS; do
		[ -n "${PIDS[$n]:-}" ] && WK0[$n]=$(wakeups "${PIDS[$n]}")
	done
	WK_T0=$EPOCHREALTIME
	sleep 2
	print_memory
	WK_T0=
else
	echo "   stack not running; skipped"
fi
echo

# ---- 3. binary sizes -------------------------------------------------------
hr
echo "3. BINARY SIZES  (a stripped copy; dynamically linked)"
hr
printf '   %-16s %12s %12s %8s\n' "program" "as built" "stripped" "DT_NEEDED"
tot=0
for n in $SIZED; do
	have "$n" || { printf '   %-16s %12s\n' "$n" "not built"; continue; }
	strip -o "$tmp/strip/$n" "$bin/$n" 2>/dev/null || cp "$bin/$n" "$tmp/strip/$n"
	s=$(stat -c %s "$tmp/strip/$n")
	case " $OURS " in *" $n "*) tot=$((tot + s)) ;; esac
	printf '   %-16s %12s %12s %8s\n' "$n" "$(stat -c %s "$bin/$n")" "$s" \
	    "$(readelf -d "$bin/$n" 2>/dev/null | grep -c NEEDED)"
done
printf '   %-16s %12s %12s   (the seven stack programs)\n' "total (stack)" "" "$tot"
echo

# ---- 4. throughput --------------------------------------------------------
# Each endpoint is measured ROUNDS times, interleaved (floor, health,
# agents, floor, ...), and the best round is kept: on a small shared box a
# neighbour's burst costs one round, not the ratio.  Around each measured
# run the CPU time of every server process is read from /proc/PID/stat, to
# show where a request's time goes.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

cpu_ticks() {	# PID -> utime + stime in clock ticks
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

declare -A CPU0=()
cpu_mark() {	# remember the ticks of every server process
	local n pid
	CPU0=()
	for n in $OURS mhd_hello; do
		pid=${PIDS[$n]:-}
		[ -n "$pid" ] && CPU0[$n]=$(cpu_ticks "$pid")
	done
	for pid in $(pg_pids); do
		CPU0[pg:$pid]=$(cpu_ticks "$pid")
	done
}

cpu_report() {	# REQUESTS NAMES.. -> "name us/req, ..." since cpu_mark
	local reqs=$1 n pid d pg=0 out=""
	shift
	[ "${reqs:-0}" -gt 0 ] 2>/dev/null || { echo "-"; return; }
	for n in "$@"; do
		pid=${PIDS[$n]:-}
		[ -n "$pid" ] && [ -n "${CPU0[$n]:-}" ] || continue
		d=$(cpu_ticks "$pid")
		d=$((d - ${CPU0[$n]}))
		out+="$n $(awk -v d="$d" -v r="$reqs" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", d * 1e6 / hz / r }'), "
	done
	for pid in $(pg_pids); do
		[ -n "${CPU0[pg:$pid]:-}" ] || continue
		d=$(cpu_ticks "$pid")
		pg=$((pg + d - ${CPU0[pg:$pid]}))
	done
	[ "$1" = mhd_hello ] || out+="postgres $(awk -v d="$pg" -v r="$reqs" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", d * 1e6 / hz / r }'), "
	echo "${out%, }"
}

to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v == "") { print "-"; exit }
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
		else if (v ~ /s$/) n *= 1000
		printf "%.2f", n
	}'
}

# wrk_run URL NAMES..: W_RPS W_P50 W_P99 (ms) W_ERR (non-2xx + socket
# errors) W_CPU (CPU µs per request of NAMES and, for ours, PostgreSQL);
# WRK_SCRIPT, when set, is a wrk Lua script (the request to send)
wrk_run() {
	local out=$tmp/wrk.out reqs
	local -a s=()
	[ -n "${WRK_SCRIPT:-}" ] && s=(-s "$WRK_SCRIPT")
	timeout 10 wrk -t"$WTHREADS" -c"$CONNS" -d1s "${s[@]}" "$1" >/dev/null 2>&1
	cpu_mark
	timeout $((DUR + 15)) wrk -t"$WTHREADS" -c"$CONNS" -d"${DUR}s" --latency "${s[@]}" "$1" >"$out" 2>&1
	reqs=$(awk '/ requests in / { print $1 }' "$out")
	shift
	W_CPU=$(cpu_report "$reqs" "$@")
	W_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
	W_P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	W_P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	W_ERR=$(awk '/Non-2xx or 3xx responses:/ { e += $NF }
	    /Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
	    END { print e + 0 }' "$out")
	W_ERRTXT=$(grep -E 'Non-2xx|Socket errors' "$out" | sed 's/^ *//' | tr '\n' ' ')
	[ -n "$W_RPS" ] || { W_RPS=0; W_ERR="wrk failed: $(head -c 200 "$out")"; }
}

declare -A RPS=() P50=() P99=() ERR=() CPU=() ERRTXT=()
measure() {	# measure KEY URL NAMES..: keeps the round with the most req/s
	local k=$1
	shift
	wrk_run "$@"
	set -- "$k"
	if [ -z "${RPS[$1]:-}" ] || [ "$W_RPS" -gt "${RPS[$1]}" ]; then
		RPS[$1]=$W_RPS P50[$1]=$W_P50 P99[$1]=$W_P99 ERR[$1]=$W_ERR CPU[$1]=$W_CPU
		ERRTXT[$1]=$W_ERRTXT
	fi
}

ROUNDS=${BENCH_ROUNDS:-3}
cat > "$tmp/mcp-list.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
EOF
hr
echo "4. THROUGHPUT  wrk -t$WTHREADS -c$CONNS -d${DUR}s after a 1 s warm-up, best of $ROUNDS interleaved rounds"
echo "   loopback; the rate limiter exempts loopback; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
hr
have mhd_hello && start mhd_hello "$HELLO_PORT" 2 &&
    "$bin/waithttp" -t 5000 "$HELLO" / >/dev/null 2>&1
spawned=0 listed="?"
if [ $STACK_OK = 1 ]; then
	for ((i = 1; i <= NAGENTS; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
		    -H 'Content-Type: application/json' \
		    --data-binary "{\"manifest_toml\":\"name = \\\"bench-$i\\\"\\n\"}" \
		    "http://$GW/api/agents")
		[ "$code" = 201 ] && spawned=$((spawned + 1))
	done
	listed=$(curl -s "http://$GW/api/agents" | jq 'if type == "array" then length else (.agents // [] | length) end' 2>/dev/null)
fi
for ((r = 0; r < ROUNDS; r++)); do
	have mhd_hello && measure floor "http://$HELLO/api/health" mhd_hello
	if [ $STACK_OK = 1 ]; then
		measure health "http://$GW/api/health" api-gateway bus
		measure agents "http://$GW/api/agents" api-gateway bus agent-runtime
		# issue 8: the MCP server's tools/list (gw_mcp.c -> tools.list)
		WRK_SCRIPT=$tmp/mcp-list.lua measure mcp "http://$GW/mcp" \
		    api-gateway bus agent-runtime
	fi
done
stop mhd_hello

cpu_of() {	# KEY NAME -> the µs of NAME in CPU[KEY]
	printf '%s\n' "${CPU[$1]:-}" | tr ',' '\n' | awk -v n="$2" '$1 == n { print $2 }'
}

pct() {	# pct A B -> A/B in %
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.0f", 100 * a / b }'
}
printf '   %-26s %10s %9s %9s %8s %7s %-8s %s\n' "endpoint" "req/s" "p50 ms" "p99 ms" "errors" "floor" "target" ""
row() {	# row KEY LABEL [TARGET_PCT]
	local k=$1 pc=""
	if [ -z "${RPS[$k]:-}" ]; then
		printf '   %-26s %10s\n' "$2" "skipped"
		return
	fi
	[ $# -ge 3 ] && pc=$(pct "${RPS[$k]}" "${RPS[floor]:-}")
	printf '   %-26s %10s %9s %9s %8s %7s %-8s %s\n' "$2" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" \
	    "${ERR[$k]}" "${pc:+$pc%}" "${3:+>= $3%}" "$( [ $# -ge 3 ] && verdict "$pc" '>=' "$3")"
}
row floor "mhd_hello (floor)"
row health "GET /api/health" "$T_HEALTH_PCT"
row agents "GET /api/agents ($listed)" "$T_AGENTS_PCT"
row mcp "POST /mcp tools/list"
for k in floor health agents mcp; do
	[ -n "${ERRTXT[$k]:-}" ] && echo "   errors ($k): ${ERRTXT[$k]}"
done
echo "   server CPU per request, µs (best round):"
for k in floor health agents mcp; do
	[ -n "${CPU[$k]:-}" ] && printf '     %-8s %s\n' "$k" "${CPU[$k]}"
done
[ $STACK_OK = 0 ] || echo "   agents spawned for the list: $spawned of $NAGENTS (POST /api/agents -> 201); list length $listed"
echo

# ---- 4b. the bus floor -----------------------------------------------------
# What nng itself costs per request through a forwarder, with none of our
# code: tests/helpers/nng_floor.c (nng_device between raw REP and raw REQ
# sockets, an echo behind it, a REQ load in front), over ipc:// like the
# stack.  nng's cost per message grows as the rate falls (its threads sleep
# between messages and each message wakes several), so the device is
# measured at the rate GET /api/agents reached, then flat out.
FLOOR_BUS= FLOOR_BUS_MAX= FLOOR_RATE_MAX=
floor_bus() {	# floor_bus RATE (0: flat out) -> "µs-per-request replies/s"
	local n d0 d1
	d0=$(cpu_ticks "${PIDS[nng_device]}")
	n=$(timeout $((DUR + 10)) "$bin/nng_floor" load "ipc://$tmp/nf.front" "$CONNS" "$DUR" "$1" 2>/dev/null)
	d1=$(cpu_ticks "${PIDS[nng_device]}")
	[ "${n:-0}" -gt 0 ] 2>/dev/null || return 1
	awk -v d="$((d1 - d0))" -v n="$n" -v hz="$CLK_TCK" -v t="$DUR" \
	    'BEGIN { printf "%.0f %.0f\n", d * 1e6 / hz / n, n / t }'
}
if have nng_floor && [ -n "${RPS[agents]:-}" ]; then
	hr
	echo "4b. THE BUS FLOOR  nng_device (nng's own forwarder), $CONNS REQ contexts -> device -> echo, 64-byte messages"
	hr
	"$bin/nng_floor" device "ipc://$tmp/nf.front" "ipc://$tmp/nf.back" >>"$tmp/log/nng_floor.log" 2>&1 &
	PIDS[nng_device]=$!
	"$bin/nng_floor" echo "ipc://$tmp/nf.back" "$CONNS" >>"$tmp/log/nng_floor.log" 2>&1 &
	PIDS[nng_echo]=$!
	sleep 0.3
	timeout 10 "$bin/nng_floor" load "ipc://$tmp/nf.front" "$CONNS" 1 >/dev/null 2>&1
	if r=$(floor_bus "${RPS[agents]}"); then
		FLOOR_BUS=${r%% *}
		printf '   %-44s %6s us per request at %s req/s\n' "nng_device at GET /api/agents' rate" "$FLOOR_BUS" "${r##* }"
	fi
	if r=$(floor_bus 0); then
		FLOOR_BUS_MAX=${r%% *} FLOOR_RATE_MAX=${r##* }
		printf '   %-44s %6s us per request at %s req/s\n' "nng_device flat out" "$FLOOR_BUS_MAX" "$FLOOR_RATE_MAX"
	fi
	printf '   %-44s %6s us per request at %s req/s\n' "our broker, GET /api/agents (above)" "$(cpu_of agents bus)" "${RPS[agents]}"
	stop nng_device nng_echo
	echo
fi

# ---- memory again, after the load ------------------------------------------
if [ $STACK_OK = 1 ]; then
	hr
	echo "2b. MEMORY AFTER LOAD  (same processes, after the wrk runs and $spawned spawns)"
	hr
	print_memory
	echo
fi

# ---- memory after a bad-input load ------------------------------------------
# tests/bench/bigload.py: bodies just under the 8 MiB limit, 1 MiB fields
# and files, bodies past the limit, from BIGCONNS connections at once;
# then a few idle seconds, and the RSS of the gateway and the runtime
# next to their idle RSS before the load (VmRSS also sampled during it).
rss_of() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
declare -A RSS0=() RSSPEAK=() RSS1=()
if [ $STACK_OK = 1 ]; then
	hr
	echo "5. MEMORY AFTER BAD INPUT  bigload.py: $BIGCONNS connections x $BIGROUNDS rounds of 8 MiB bodies, 1 MiB fields and files, bodies past the limit"
	hr
	for n in api-gateway agent-runtime; do RSS0[$n]=$(rss_of "${PIDS[$n]}"); RSSPEAK[$n]=0; done
	(
		while :; do
			for n in api-gateway agent-runtime; do
				printf '%s %s\n' "$n" "$(rss_of "${PIDS[$n]}")"
			done
			sleep 0.2
		done
	) > "$tmp/rss.samples" &
	sampler=$!
	bigout=$(timeout 120 python3 "$root/tests/bench/bigload.py" "$GW" "$BIGCONNS" "$BIGROUNDS" 2>&1 | tail -1)
	kill "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null
	for n in api-gateway agent-runtime; do
		RSSPEAK[$n]=$(awk -v n="$n" '$1 == n && $2 > m { m = $2 } END { print m + 0 }' "$tmp/rss.samples")
	done
	sleep 3
	for n in api-gateway agent-runtime; do RSS1[$n]=$(rss_of "${PIDS[$n]}"); done
	echo "   load: ${bigout:-bigload.py did not finish}"
	printf '   %-16s %14s %14s %18s\n' "process" "idle before kB" "peak kB" "idle 3 s after kB"
	for n in api-gateway agent-runtime; do
		printf '   %-16s %14s %14s %18s\n' "$n" "${RSS0[$n]}" "${RSSPEAK[$n]}" "${RSS1[$n]}"
	done
	echo
fi

# ---- summary ---------------------------------------------------------------
hr
echo "SUMMARY (figures, not pass/fail)"
hr
printf '   %-34s %14s %12s %s\n' "figure" "value" "target" ""
printf '   %-34s %14s %12s %s\n' "cold start, gateway alone" "${m_gw%% *} ms" "<= $T_COLD_GW ms" "$(verdict "${m_gw%% *}" '<=' $T_COLD_GW)"
printf '   %-34s %14s %12s %s\n' "cold start, stack (/api/health)" "${m_st%% *} ms" "<= $T_COLD_STACK ms" "$(verdict "${m_st%% *}" '<=' $T_COLD_STACK)"
printf '   %-34s %14s %12s %s\n' "cold start, stack (/api/agents)" "${m_ag%% *} ms" "<= $T_COLD_STACK ms" "$(verdict "${m_ag%% *}" '<=' $T_COLD_STACK)"
idle_mb=$( [ -n "$IDLE_TOTAL" ] && awk -v p="$IDLE_TOTAL" 'BEGIN { printf "%.1f", p / 1024 }')
printf '   %-34s %14s %12s %s\n' "idle PSS, our 7 processes" "${idle_mb:-n/a} MB" "<= $T_PSS_MB MB" "$(verdict "$idle_mb" '<=' $T_PSS_MB)"
pc=$(pct "${RPS[health]:-}" "${RPS[floor]:-}")
printf '   %-34s %14s %12s %s\n' "GET /api/health vs floor" "$pc %" ">= $T_HEALTH_PCT %" "$(verdict "$pc" '>=' $T_HEALTH_PCT)"
pc=$(pct "${RPS[agents]:-}" "${RPS[floor]:-}")
printf '   %-34s %14s %12s %s\n' "GET /api/agents vs floor" "$pc %" ">= $T_AGENTS_PCT %" "$(verdict "$pc" '>=' $T_AGENTS_PCT)"
us=$(cpu_of agents api-gateway)
printf '   %-34s %14s %12s %s\n' "gateway CPU per GET /api/agents" "${us:-n/a} us" "<= $T_GW_US us" "$(verdict "$us" '<=' $T_GW_US)"
us=$(cpu_of agents bus)
printf '   %-34s %14s %12s %s\n' "broker CPU per GET /api/agents" "${us:-n/a} us" "<= $T_BUS_US us" "$(verdict "$us" '<=' $T_BUS_US)${FLOOR_BUS:+ (nng_device at that rate: $FLOOR_BUS us; flat out: $FLOOR_BUS_MAX us)}"
for n in api-gateway agent-runtime; do
	[ -n "${RSS1[$n]:-}" ] || continue
	printf '   %-34s %14s %12s\n' "idle RSS after bad input, ${n%%-*}" \
	    "$(awk -v k="${RSS1[$n]}" 'BEGIN { printf "%.1f", k / 1024 }') MB" \
	    "(was $(awk -v k="${RSS0[$n]}" 'BEGIN { printf "%.1f", k / 1024 }'))"
done

if [ $STACK_OK = 0 ]; then
	echo
	echo "bench: the stack could not start; the figures above are partial"
	exit 1
fi

# ---- 9. MCP tools/call round trip (tests/bench/mcp.sh): no stack.
"$root/tests/bench/mcp.sh" "$build"

# ---- 10. cron_next() (tests/bench/cron.sh): no stack.
"$root/tests/bench/cron.sh" "$build"

# ---- 24. skills in a turn's prompt (tests/bench/skills.sh): no stack.
"$root/tests/bench/skills.sh" "$build"

# ---- 5-8. agent turns (tests/bench/turns.sh): its own stack and fake
# providers, after this one is gone (and its watchdog with it).
echo
cleanup
# ---- 12. the budget check per turn (tests/bench/budget.sh): its own
# stack, after this one is gone.
rc=0
"$root/tests/bench/budget.sh" "$build" || rc=$?
# ---- 13. memory search (tests/bench/memsearch.sh): its own stack.
if [ "${BENCH_MEMSEARCH:-1}" != 0 ]; then
	"$root/tests/bench/memsearch.sh" "$build" || rc=$?
fi
if [ "${BENCH_TURNS:-1}" != 0 ]; then
	"$root/tests/bench/turns.sh" "$build" || rc=$?
fi
# ---- 13-14. the audit chain (tests/bench/audit.sh): its own stack.
"$root/tests/bench/audit.sh" "$build" || rc=$?
# ---- 22. backup and restore (tests/bench/backup.sh): its own stack.
"$root/tests/bench/backup.sh" "$build" || rc=$?
# ---- 19. a turn through a channel, messages/s, adapter memory
# (tests/bench/channels.sh): its own stack.
if [ "${BENCH_CHANNELS:-1}" != 0 ]; then
	"$root/tests/bench/channels.sh" "$build" || rc=$?
fi
# ---- 20. an approval granted at once (tests/bench/approvals.sh): its
# own stack.
"$root/tests/bench/approvals.sh" "$build" || rc=$?
# ---- 10-11. the scheduler's fires (tests/bench/jobs.sh): its own stack.
if [ "${BENCH_JOBS:-1}" != 0 ]; then
	"$root/tests/bench/jobs.sh" "$build" || rc=$?
fi
# ---- 20. outbound webhook deliveries (tests/bench/webhooks.sh): its own
# stack.
if [ "${BENCH_WEBHOOKS:-1}" != 0 ]; then
	"$root/tests/bench/webhooks.sh" "$build" || rc=$?
fi
# ---- 23. the web dashboard in headless Chromium (tests/bench/dashboard.sh):
# its own stack.
if [ "${BENCH_DASH:-1}" != 0 ]; then
	"$root/tests/bench/dashboard.sh" "$build" || rc=$?
fi
# ---- 15-18. the compose stack in containers (tests/bench/deploy.sh):
# replicas, a killed runtime, a broker restart, idle memory; skipped with
# its reason where docker cannot run.
if [ "${BENCH_DEPLOY:-1}" != 0 ]; then
	"$root/tests/bench/deploy.sh" "$build" || rc=$?
fi
exit $rc
