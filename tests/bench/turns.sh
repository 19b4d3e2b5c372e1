#!/usr/bin/env bash
# turns.sh BUILD - the agent-turn figures of `make bench` (issue 3,
# "Targets for make bench"), each next to its target or its floor from the
# same run:
#
#   5. turn overhead: blocking turn latency minus the same provider request
#      sent straight to the fake (pairs, one after the other)
#   6. turns/s on 1, 4 and 16 connections (one agent per connection, so no
#      turn waits on another's session lock) next to the fake's own req/s
#   7. STORM concurrent streaming turns (one agent each) against a fake
#      that takes 1 s: wall time, how many completed, agent-runtime RSS
#   8. provider's first byte -> client's first SSE chunk
#
# With figure 6, on TURNS_OAI_CONNS connections, the same turns through
# POST /v1/chat/completions (issue 8: >= 200 requests/s on one
# connection, >= 90 % of the native route in the same run): the same
# agents, fake, model, key and message as the native runs, in
# TURNS_OAI_ROUNDS pairs of runs interleaved in ABBA order (native, /v1,
# /v1, native, ...) so that a machine whose load drifts during the bench
# favours neither; the medians are compared.  Then TURNS_PAIRS pairs of
# one turn through each route, alternately on one connection each: the
# latency of each and the difference per pair (the edge's own cost).
#
# Its own throwaway stack (like bench.sh: private PostgreSQL, bus over
# ipc://, the five services, the gateway) plus two fake providers
# (tests/fakes/fake-llm.mjs): "instant" (no latency) and "slow"
# (--latency-ms 1000).  The bench's config.toml raises
# api.max_connections to 4096 for the storm (the default, 1024, stays as
# it is); the per-IP cap does not apply to loopback.  Figures, not
# pass/fail: an endpoint that is not there yet (501) is reported and its
# figures skipped.  Exits 0 unless the stack could not start.
#
#   TURNS_N=200           pairs for the overhead figure (after 20 warm-up)
#   TURNS_SECS=4          seconds per turns/s run (after a 1 s warm-up)
#   TURNS_CONNS="1 4 16"  connection counts
#   TURNS_OAI_CONNS="1 4" of those, where /v1/chat/completions runs too
#   TURNS_OAI_ROUNDS=3    native and /v1 runs on each of those (pairs)
#   TURNS_PAIRS=300       alternating native and /v1 turns (after 20 warm-up)
#   TURNS_STORM=1000      concurrent streaming turns
#   TURNS_FB_N=30         first-byte samples; TURNS_FB_DELAY=200 (ms)
#   TURNS_MAX_SECS=300    watchdog
#   TURNS_FIGS="5 6 7 8"  which figures to run
#   TURNS_LOGS=DIR        keep the processes' logs there

set -u

build=${1:?usage: turns.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
N=${TURNS_N:-200}
SECS=${TURNS_SECS:-4}
CONNS=${TURNS_CONNS:-1 4 16}
OAI_CONNS=" ${TURNS_OAI_CONNS:-1 4} "
OAI_ROUNDS=${TURNS_OAI_ROUNDS:-3}
PAIRS=${TURNS_PAIRS:-300}
STORM=${TURNS_STORM:-1000}
FB_N=${TURNS_FB_N:-30}
FB_DELAY=${TURNS_FB_DELAY:-200}
MAXSECS=${TURNS_MAX_SECS:-300}
FIGS=" ${TURNS_FIGS:-5 6 7 8} "
LOAD=$root/tests/bench/turnload.mjs
FAKE=$root/tests/fakes/fake-llm.mjs

# Targets (issue 3).
T_OVERHEAD_MS=3		# p50 of turn - provider
T_STORM_SECS=3		# every storm turn done within
T_STORM_MB=50		# agent-runtime growth during the storm
T_OAI_RPS=200		# /v1/chat/completions on one connection (issue 8)
T_OAI_PCT=90		# ... as a share of the native route

SERVICES="agent-runtime scheduler memory audit channels"

hr() { printf '%s\n' "------------------------------------------------------------------------------"; }

if ! command -v node >/dev/null 2>&1; then
	hr; echo "5-8. AGENT TURNS: node is not installed; skipped"; exit 0
fi
for p in bus api-gateway agent-runtime waithttp; do
	if [ ! -x "$bin/$p" ]; then
		hr; echo "5-8. AGENT TURNS: $p not built; skipped"; exit 0
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfturns.XXXXXX") || exit 1
chmod 711 "$tmp"
export LIBREFANG_HOME=$tmp/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
export BENCH_FAKE_API_KEY=bench-key	# the agents' api_key_env; the fakes take any key
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL LIBREFANG_ALLOW_NO_AUTH
mkdir -p "$LIBREFANG_HOME/run" "$tmp/log"

# The storm holds STORM client connections at once, on top of the idle ones.
cat >"$LIBREFANG_HOME/config.toml" <<EOF
[api]
max_connections = 4096
EOF

declare -A PIDS=()
PG_UP=0
WATCHDOG=
STACK_TAG=turns
. "$root/tests/bench/stack.sh"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
GW_PORT=$(free_port)
export LIBREFANG_API_LISTEN=127.0.0.1:$GW_PORT
GW=127.0.0.1:$GW_PORT

cleanup() {
	trap - EXIT INT TERM
	watchdog_stop
	stop api-gateway channels audit memory scheduler agent-runtime bus fake-instant fake-slow
	pg_stop
	[ -z "${TURNS_LOGS:-}" ] || { mkdir -p "$TURNS_LOGS" && cp "$tmp"/log/*.log "$TURNS_LOGS"/; }
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "turns: interrupted" >&2; exit 1' INT TERM
watchdog_start "$MAXSECS"

fake_start() {	# fake_start NAME [ARGS..]: sets FAKE_PORT
	local name=$1 i
	shift
	node "$FAKE" --port 0 "$@" >"$tmp/$name.port" 2>>"$tmp/log/$name.log" &
	PIDS[$name]=$!
	FAKE_PORT=
	for ((i = 0; i < 500; i++)); do
		FAKE_PORT=$(awk '$1 == "listening" { print $2 }' "$tmp/$name.port" 2>/dev/null)
		[ -n "$FAKE_PORT" ] && return 0
		sleep 0.01
	done
	echo "turns: fake provider $name did not start" >&2
	return 1
}

# fmt VALUE -> the value, or "-" when null/empty
fmt() { if [ -z "$1" ] || [ "$1" = null ]; then echo "-"; else echo "$1"; fi; }

verdict() {	# verdict VALUE OP TARGET -> "ok" / "MISS" / "-"
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
		if (v == "" || v == "-" || v == "null") { print "-"; exit }
		ok = (op == "<=") ? (v + 0 <= t + 0) : (v + 0 >= t + 0)
		print ok ? "ok" : "MISS"
	}'
}

cpu_ticks() {	# PID -> utime + stime in clock ticks
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
pg_ticks() {	# the postmaster and its children, now
	local pm pid t=0
	pm=$(head -n 1 "$LIBREFANG_HOME/pg/data/postmaster.pid" 2>/dev/null)
	[ -n "$pm" ] || { echo 0; return; }
	for pid in $pm $(ps -o pid= --ppid "$pm" 2>/dev/null); do
		t=$((t + $(cpu_ticks "$pid")))
	done
	echo "$t"
}
declare -A CPU0=()
cpu_mark() {
	local n
	for n in api-gateway bus agent-runtime; do
		CPU0[$n]=$(cpu_ticks "${PIDS[$n]}")
	done
	CPU0[postgres]=$(pg_ticks)
}
cpu_since() {	# cpu_since [PER]: "name seconds, ..." of CPU since cpu_mark,
		# or with PER, "name µs, ..." per one of PER things
	local n d out="" hz per=${1:-}
	hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
	for n in api-gateway bus agent-runtime postgres; do
		if [ $n = postgres ]; then d=$(pg_ticks); else d=$(cpu_ticks "${PIDS[$n]}"); fi
		if [ -n "$per" ]; then
			out+="$n $(awk -v d="$((d - CPU0[$n]))" -v hz="$hz" -v p="$per" 'BEGIN { printf "%.0f", (p > 0 ? d * 1e6 / hz / p : 0) }'), "
		else
			out+="$n $(awk -v d="$((d - CPU0[$n]))" -v hz="$hz" 'BEGIN { printf "%.2f", d / hz }') s, "
		fi
	done
	echo "${out%, }"
}

# ---- the stack ---------------------------------------------------------------
pg_start
fake_start fake-instant --record-limit 1000 || exit 1
INSTANT=127.0.0.1:$FAKE_PORT
fake_start fake-slow --latency-ms 1000 --record-limit $((STORM + 200)) || exit 1
SLOW=127.0.0.1:$FAKE_PORT
stack_start
if ! "$bin/waithttp" -t 30000 "$GW" /api/agents >/dev/null 2>"$tmp/wait.err"; then
	echo "turns: the stack did not come up: $(cat "$tmp/wait.err")"
	dump_logs
	exit 1
fi

hr
echo "5-8. AGENT TURNS  fake OpenAI-style provider (tests/fakes/fake-llm.mjs) on loopback; client: tests/bench/turnload.mjs"
echo "   bench config: api.max_connections = 4096 (default 1024); per-IP cap: loopback exempt; BENCH_FAKE_API_KEY=bench-key"
hr

# One agent per connection for the rate runs (the first also serves the
# overhead figure), one for the first-byte figure, STORM on the slow fake.
NAG=16
for c in $CONNS; do [ "$c" -gt $NAG ] && NAG=$c; done
if ! node "$LOAD" spawn --gw "$GW" --base "http://$INSTANT/v1" --model bench-model \
    --prefix bench-turn --n "$NAG" >"$tmp/agents" 2>"$tmp/spawn.err" ||
   ! node "$LOAD" spawn --gw "$GW" --base "http://$INSTANT/v1" --model bench-fb \
    --prefix bench-fb --n 1 >"$tmp/agent-fb" 2>>"$tmp/spawn.err"; then
	echo "   could not spawn agents: $(tail -n 2 "$tmp/spawn.err")"
	exit 0
fi
A1=$(head -n 1 "$tmp/agents")
AFB=$(head -n 1 "$tmp/agent-fb")

probe_msg=$(node "$LOAD" probe --gw "$GW" --agent "$A1" 2>&1)
probe_sse=$(node "$LOAD" probe --gw "$GW" --agent "$A1" --stream 2>&1)
probe_oai=$(node "$LOAD" probe --gw "$GW" --agent "$A1" --openai 2>&1)
oai_ok=$(printf '%s' "$probe_oai" | jq -r '.ok' 2>/dev/null)
msg_ok=$(printf '%s' "$probe_msg" | jq -r '.ok' 2>/dev/null)
sse_ok=$(printf '%s' "$probe_sse" | jq -r '.ok' 2>/dev/null)
describe() {	# probe JSON -> one line
	printf '%s' "$1" | jq -r '"HTTP \(.status): \(.body | gsub("\n"; " ") | .[0:160])"' 2>/dev/null || printf '%s' "$1" | head -c 200
}
echo "   POST /api/agents/{id}/message:        $([ "$msg_ok" = true ] && echo works || echo "NOT WORKING ($(describe "$probe_msg"))")"
echo "   POST /api/agents/{id}/message/stream: $([ "$sse_ok" = true ] && echo works || echo "NOT WORKING ($(describe "$probe_sse"))")"
echo "   POST /v1/chat/completions:            $([ "$oai_ok" = true ] && echo works || echo "NOT WORKING ($(describe "$probe_oai"))")"
echo

S_OVER= S_STORM_N= S_STORM_WALL= S_STORM_FLOOR= S_STORM_MB= S_FB=
declare -A S_RPS=() S_FLOOR=() CPU_LINE=() S_OAI=() OAI_LINE=() OAI_CPU=() S_NAT=()
S_PAIR=

# ---- 5. overhead ---------------------------------------------------------------
hr
echo "5. TURN OVERHEAD  blocking turn vs the same provider request straight to the fake; $N pairs, ms"
hr
if [[ $FIGS != *" 5 "* ]]; then
	echo "   not selected (TURNS_FIGS)"
elif [ "$msg_ok" = true ]; then
	if r=$(node "$LOAD" overhead --gw "$GW" --agent "$A1" --fake "$INSTANT" --model bench-model \
	    --n "$N" --warm 20 2>"$tmp/overhead.err"); then
		printf '   %-38s %8s %8s %8s %8s\n' "" "p50" "p90" "p99" "max"
		for k in turn direct overhead; do
			label=$k
			case $k in
			turn)		label="turn (POST .../message)" ;;
			direct)		label="provider alone (floor)" ;;
			overhead)	label="overhead = turn - provider, per pair" ;;
			esac
			printf '   %-38s %8s %8s %8s %8s\n' "$label" \
			    $(printf '%s' "$r" | jq -r ".$k | \"\(.p50) \(.p90) \(.p99) \(.max)\"")
		done
		S_OVER=$(printf '%s' "$r" | jq -r '.overhead.p50')
		echo "   overhead p50 $(fmt "$S_OVER") ms, target <= $T_OVERHEAD_MS ms: $(verdict "$S_OVER" '<=' $T_OVERHEAD_MS)"
		printf '%s' "$r" | jq -r '"   provider calls per turn \(.provider_calls_per_turn), provider request \(.provider_body_bytes) bytes, stream to provider: \(.stream_to_provider); errors \(.errors) \(.last_error)"'
	else
		echo "   failed: $(tail -n 3 "$tmp/overhead.err")"
	fi
else
	echo "   skipped: POST /api/agents/{id}/message does not work yet"
fi
echo

# ---- 6. turns/s ----------------------------------------------------------------
hr
echo "6. TURNS/S  closed loop, one keep-alive connection per agent, ${SECS}s after a 1 s warm-up"
hr
if [[ $FIGS != *" 6 "* ]]; then
	echo "   not selected (TURNS_FIGS)"
elif [ "$msg_ok" = true ]; then
	# With the /v1 rows, each run starts from empty sessions (--reset):
	# a turn costs more the longer its history, and the runs follow one
	# another on the same agents.
	RESET=
	[ "$oai_ok" = true ] && [ -n "${OAI_CONNS// /}" ] && RESET=--reset
	printf '   %-6s %10s %9s %9s %8s   %12s %9s %8s\n' "conns" "turns/s" "p50 ms" "p99 ms" "errors" "floor req/s" "p50 ms" "turns %"
	for c in $CONNS; do
		ids=$(head -n "$c" "$tmp/agents" | paste -sd, -)
		# The floor first (it touches none of our processes), then the
		# turns with the CPU of each server process around them.
		fl=$(node "$LOAD" rate --gw "$GW" --agents "$ids" --fake "$INSTANT" --model bench-model \
		    --conns "$c" --secs "$SECS" --only floor 2>"$tmp/rate.err")
		cpu_mark
		if r=$(node "$LOAD" rate --gw "$GW" --agents "$ids" --fake "$INSTANT" --model bench-model \
		    --conns "$c" --secs "$SECS" --only turns $RESET 2>>"$tmp/rate.err"); then
			CPU_LINE[$c]=$(cpu_since "$(printf '%s' "$r" | jq -r '.turns.total')")
			r=$(printf '%s\n%s\n' "$r" "${fl:-{\}}" | jq -s '.[0] + {floor: (.[1].floor // null)}')
			S_RPS[$c]=$(printf '%s' "$r" | jq -r '.turns.rps')
			S_FLOOR[$c]=$(printf '%s' "$r" | jq -r '.floor.rps // empty')
			printf '   %-6s %10s %9s %9s %8s   %12s %9s %8s\n' "$c" \
			    $(printf '%s' "$r" | jq -r '"\(.turns.rps) \(.turns.latency_ms.p50) \(.turns.latency_ms.p99) \(.turns.errors) \(.floor.rps // "-") \(.floor.latency_ms.p50 // "-")"') \
			    "$(awk -v a="${S_RPS[$c]}" -v b="${S_FLOOR[$c]:-}" 'BEGIN { if (b + 0 > 0) printf "%.1f%%", 100 * a / b; else print "-" }')"
			e=$(printf '%s' "$r" | jq -r '.turns.last_error')
			[ -z "$e" ] || echo "          last error: $e"
			# The same turns through the OpenAI edge: rounds of one
			# native and one /v1 run, ABBA (the native run above
			# is the first), each from empty sessions.
			if [[ $OAI_CONNS == *" $c "* ]] && [ "$oai_ok" = true ]; then
				nat="$r" oai= seq=
				for ((i = 1; i <= OAI_ROUNDS; i++)); do
					if ((i % 2)); then seq+=" turns openai"; else seq+=" openai turns"; fi
				done
				seq=${seq# turns}	# round 1's native run is the one above
				first=1
				for w in $seq; do
					[ $w = openai ] && [ $first = 1 ] && cpu_mark
					o=$(node "$LOAD" rate --gw "$GW" --agents "$ids" --fake "$INSTANT" --model bench-model \
					    --conns "$c" --secs "$SECS" --only $w --reset 2>>"$tmp/rate.err") || continue
					if [ $w = openai ]; then
						[ $first = 1 ] && OAI_CPU[$c]=$(cpu_since "$(printf '%s' "$o" | jq -r '.openai.total')")
						first=0
						oai+="$o"$'\n'
					else
						nat+=$'\n'"$o"
					fi
				done
				if [ -n "$oai" ]; then
					# Medians of the runs (and the errors summed).
					S_NAT[$c]=$(printf '%s\n' "$nat" | jq -s '[.[].turns.rps] | sort | .[length / 2 | floor]')
					S_OAI[$c]=$(printf '%s' "$oai" | jq -s '[.[].openai.rps] | sort | .[length / 2 | floor]')
					OAI_LINE[$c]=$(printf '%s' "$oai" | jq -rs --argjson n "$(printf '%s\n' "$nat" | jq -s length)" \
					    'def med(f): [.[] | f] | sort | .[length / 2 | floor];
					     "\(med(.openai.rps)) \(med(.openai.latency_ms.p50)) \(med(.openai.latency_ms.p99)) \([.[].openai.errors] | add) \(length)x\($n)"')
					e=$(printf '%s' "$oai" | jq -rs '[.[].openai.last_error | select(. != "" and . != null)] | last // empty')
					[ -z "$e" ] || OAI_LINE[$c]+=" $e"
				fi
			fi
		else
			echo "   $c: failed: $(tail -n 3 "$tmp/rate.err")"
		fi
	done
	echo "   floor: the provider request of a turn (history included) replayed straight to the fake at the same concurrency"
	if [ -z "${OAI_CONNS// /}" ]; then
		:
	elif [ "$oai_ok" = true ]; then
		echo "   the same turns through POST /v1/chat/completions (model: the agent's id; the same agents, fake, model,"
		echo "   key and message), runs interleaved with native ones in ABBA order, every run from empty sessions"
		echo "   (session/reset before each); medians of the runs, /v1 against the native median"
		printf '   %-6s %10s %9s %9s %8s %8s %10s   %12s\n' "conns" "req/s" "p50 ms" "p99 ms" "errors" "runs" "native" "% of native"
		for c in $CONNS; do
			[ -n "${OAI_LINE[$c]:-}" ] || continue
			set -- ${OAI_LINE[$c]}
			printf '   %-6s %10s %9s %9s %8s %8s %10s   %12s\n' "$c" "$1" "$2" "$3" "$4" "$5" "${S_NAT[$c]}" \
			    "$(awk -v a="$1" -v b="${S_NAT[$c]}" 'BEGIN { if (b + 0 > 0) printf "%.1f%%", 100 * a / b; else print "-" }')"
			[ $# -le 5 ] || echo "          last error: ${*:6}"
		done
		# Request by request: the edge's own cost, whatever the load.
		if [ "$PAIRS" -gt 0 ] && r=$(node "$LOAD" paired --gw "$GW" --agent "$A1" --n "$PAIRS" 2>"$tmp/paired.err"); then
			echo "   $PAIRS pairs, one turn through each route alternately (order swapped every pair), latency ms:"
			printf '   %-38s %8s %8s %8s %8s\n' "" "p50" "p90" "p99" "max"
			for k in native openai diff; do
				case $k in
				native)	label="POST .../message" ;;
				openai)	label="POST /v1/chat/completions" ;;
				diff)	label="/v1 - native, per pair" ;;
				esac
				printf '   %-38s %8s %8s %8s %8s\n' "$label" \
				    $(printf '%s' "$r" | jq -r ".$k | \"\(.p50) \(.p90) \(.p99) \(.max)\"")
			done
			S_PAIR=$(printf '%s' "$r" | jq -r 'if .openai.p50 > 0 then (100 * .native.p50 / .openai.p50 * 10 | round / 10) else empty end')
			printf '%s' "$r" | jq -r '"   at p50 /v1 runs at \(if .openai.p50 > 0 then (100 * .native.p50 / .openai.p50 * 10 | round / 10) else "-" end)% of the native rate; errors \(.errors) \(.last_error)"'
		elif [ "$PAIRS" -gt 0 ]; then
			echo "   pairs: failed: $(tail -n 3 "$tmp/paired.err")"
		fi
	else
		echo "   POST /v1/chat/completions: skipped, $(describe "$probe_oai")"
	fi
	echo "   server CPU per turn, µs (warm-up included):"
	for c in $CONNS; do
		[ -n "${CPU_LINE[$c]:-}" ] && printf '     %-4s %s\n' "$c" "${CPU_LINE[$c]}"
		[ -n "${OAI_CPU[$c]:-}" ] && printf '     %-4s %s  (/v1/chat/completions)\n' "$c" "${OAI_CPU[$c]}"
	done
else
	echo "   skipped: POST /api/agents/{id}/message does not work yet"
fi
echo

# ---- 7. storm ----------------------------------------------------------------
hr
echo "7. STORM  $STORM concurrent streaming turns, one agent each, provider takes 1 s (--latency-ms 1000)"
hr
if [[ $FIGS != *" 7 "* ]]; then
	echo "   not selected (TURNS_FIGS)"
elif [ "$sse_ok" = true ]; then
	t0=$EPOCHREALTIME
	if node "$LOAD" spawn --gw "$GW" --base "http://$SLOW/v1" --model bench-slow \
	    --prefix bench-storm --n "$STORM" >"$tmp/storm-agents" 2>"$tmp/spawn.err"; then
		echo "   $STORM agents spawned in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s (not timed below)"
		sleep 1
		cpu_mark
		if r=$(node "$LOAD" storm --gw "$GW" --agents-file "$tmp/storm-agents" --timeout 30 \
		    --fake "$SLOW" --model bench-slow \
		    --pids "agent-runtime:${PIDS[agent-runtime]},api-gateway:${PIDS[api-gateway]}" 2>"$tmp/storm.err"); then
			S_STORM_N=$(printf '%s' "$r" | jq -r '.completed_within_3s')
			S_STORM_WALL=$(printf '%s' "$r" | jq -r '.wall_ms')
			S_STORM_FLOOR=$(printf '%s' "$r" | jq -r '.floor.wall_ms')
			printf '%s' "$r" | jq -r '"   completed \(.completed) of \(.turns) (\(.completed_within_3s) within 3 s); wall time \(.wall_ms) ms"'
			printf '%s' "$r" | jq -r '"   from the start, ms: provider call reaches the fake p50 \(.provider_arrival_ms.p50) p99 \(.provider_arrival_ms.p99) max \(.provider_arrival_ms.max)"'
			printf '%s' "$r" | jq -r '"                       first chunk p50 \(.first_chunk_ms.p50) p99 \(.first_chunk_ms.p99); done p50 \(.end_ms.p50) p99 \(.end_ms.p99) max \(.end_ms.max)"'
			echo "   server CPU during the storm (and its floor, which uses none of these): $(cpu_since)"
			printf '%s' "$r" | jq -r '"   floor: the same \(.turns) streaming requests straight to the fake: \(.floor.completed) done, wall \(.floor.wall_ms) ms"'
			printf '%s' "$r" | jq -r '.errors | to_entries[] | "   failed x\(.value): \(.key)"'
			printf '   %-14s %12s %12s %12s %12s %9s\n' "process" "RSS before" "RSS peak" "growth" "PSS before" "threads"
			for p in agent-runtime api-gateway; do
				printf '%s' "$r" | jq -r --arg p "$p" '.memory[$p] |
				    "\($p) \(.rss_before_kb / 1024 * 10 | round / 10) \(.rss_peak_kb / 1024 * 10 | round / 10) \((.rss_peak_kb - .rss_before_kb) / 1024 * 10 | round / 10) \(.pss_before_kb / 1024 * 10 | round / 10) \(.threads_before)->\(.threads_peak)"' |
				    while read -r n a b c d e; do
					printf '   %-14s %9s MB %9s MB %9s MB %9s MB %9s\n' "$n" "$a" "$b" "$c" "$d" "$e"
				    done
			done
			S_STORM_MB=$(printf '%s' "$r" | jq -r '.memory["agent-runtime"] | (.rss_peak_kb - .rss_before_kb) / 1024 * 10 | round / 10')
			echo "   all within ${T_STORM_SECS} s: $([ "$S_STORM_N" = "$STORM" ] && echo ok || echo MISS);" \
			    "agent-runtime growth $S_STORM_MB MB, target <= $T_STORM_MB MB: $(verdict "$S_STORM_MB" '<=' $T_STORM_MB)"
		else
			echo "   failed: $(tail -n 3 "$tmp/storm.err")"
		fi
	else
		echo "   could not spawn $STORM agents: $(tail -n 2 "$tmp/spawn.err")"
	fi
else
	echo "   skipped: POST /api/agents/{id}/message/stream does not work yet"
fi
echo

# ---- 8. first byte -----------------------------------------------------------
hr
echo "8. FIRST BYTE  provider's first content event -> client's first SSE chunk; $FB_N samples, ms"
hr
if [[ $FIGS != *" 8 "* ]]; then
	echo "   not selected (TURNS_FIGS)"
elif [ "$sse_ok" = true ]; then
	if r=$(node "$LOAD" firstbyte --gw "$GW" --agent "$AFB" --fake "$INSTANT" --model bench-fb \
	    --n "$FB_N" --delay "$FB_DELAY" 2>"$tmp/fb.err"); then
		printf '   %-38s %8s %8s %8s %8s\n' "" "p50" "p90" "p99" "max"
		printf '   %-38s %8s %8s %8s %8s\n' "via the gateway (SSE chunk)" $(printf '%s' "$r" | jq -r '.via_gateway | "\(.p50) \(.p90) \(.p99) \(.max)"')
		printf '   %-38s %8s %8s %8s %8s\n' "straight from the fake (floor)" $(printf '%s' "$r" | jq -r '.direct | "\(.p50) \(.p90) \(.p99) \(.max)"')
		S_FB=$(printf '%s' "$r" | jq -r '.delay_p50')
		printf '%s' "$r" | jq -r '"   relay delay p50 (gateway - floor): \(.delay_p50) ms; stream to provider: \(.stream_to_provider); errors \(.errors) \(.last_error)"'
		echo "   (each is: client's first chunk - (fake's request time at_ms + chunk_delay_ms $FB_DELAY); at_ms is whole ms)"
	else
		echo "   failed: $(tail -n 3 "$tmp/fb.err")"
	fi
else
	echo "   skipped: POST /api/agents/{id}/message/stream does not work yet"
fi
echo

# ---- summary -------------------------------------------------------------------
hr
echo "AGENT TURNS SUMMARY (figures, not pass/fail)"
hr
printf '   %-34s %14s %14s %s\n' "figure" "value" "target/floor" ""
printf '   %-34s %14s %14s %s\n' "turn overhead p50" "$(fmt "$S_OVER") ms" "<= $T_OVERHEAD_MS ms" "$(verdict "$S_OVER" '<=' $T_OVERHEAD_MS)"
for c in $CONNS; do
	printf '   %-34s %14s %14s\n' "turns/s, $c conn" "$(fmt "${S_RPS[$c]:-}")" "floor $(fmt "${S_FLOOR[$c]:-}")"
done
for c in $CONNS; do
	[ -n "${S_OAI[$c]:-}" ] || continue
	pct=$(awk -v a="${S_OAI[$c]}" -v b="${S_NAT[$c]:-0}" 'BEGIN { if (b + 0 > 0) printf "%.1f", 100 * a / b }')
	if [ "$c" = 1 ]; then
		printf '   %-34s %14s %14s %s\n' "/v1/chat/completions req/s, 1 conn" "${S_OAI[$c]}" ">= $T_OAI_RPS" "$(verdict "${S_OAI[$c]}" '>=' $T_OAI_RPS)"
	fi
	printf '   %-34s %14s %14s %s\n' "/v1 as % of native, $c conn" "$(fmt "$pct")%" ">= $T_OAI_PCT%" "$(verdict "$pct" '>=' $T_OAI_PCT)"
done
[ -z "$S_PAIR" ] || printf '   %-34s %14s %14s %s\n' "/v1 as % of native, paired p50" "$S_PAIR%" ">= $T_OAI_PCT%" "$(verdict "$S_PAIR" '>=' $T_OAI_PCT)"
printf '   %-34s %14s %14s %s\n' "storm: done within 3 s" "$(fmt "$S_STORM_N")/$STORM" "$STORM/$STORM" \
    "$([ -z "$S_STORM_N" ] && echo - || { [ "$S_STORM_N" = "$STORM" ] && echo ok || echo MISS; })"
printf '   %-34s %14s %14s\n' "storm: wall time" "$(fmt "$S_STORM_WALL") ms" "floor $(fmt "$S_STORM_FLOOR") ms"
printf '   %-34s %14s %14s %s\n' "storm: agent-runtime RSS growth" "$(fmt "$S_STORM_MB") MB" "<= $T_STORM_MB MB" "$(verdict "$S_STORM_MB" '<=' $T_STORM_MB)"
printf '   %-34s %14s %14s\n' "first byte relay delay p50" "$(fmt "$S_FB") ms" "(info)"
if grep -qE 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:' "$tmp"/log/*.log 2>/dev/null; then
	echo "   NOTE: a sanitizer report in the logs:"
	dump_logs
fi
exit 0
