#!/usr/bin/env bash
# deploy.sh BUILD - issue 11's figures of `make bench`, on the compose
# stack (deploy/docker-compose.yml) in containers, driven from the host
# through a published gateway port (tests/bench/deployload.mjs):
#
#   15. turns/s with 1, 2 and 3 agent-runtime replicas (--scale in place),
#       closed loop against an instant fake provider, as a ratio to one
#   16. docker kill of one of two runtimes with DEPLOY_BURST turns in
#       flight (a fake that takes 2 s): time from the kill to the last
#       answer (200 or 503), and whether any was lost (no answer); then
#       with the instant fake, 200 keyed turns (deployload.mjs keyed): from
#       the kill until every turn has its 200, 503s retried with their key
#   17. broker restart: docker stop of 'bus', then docker start: from the
#       broker's start to every process connected to it again (each
#       says when, in its heartbeat: /api/status brokers), to /api/status
#       showing it, and from docker start to the first 200 turn
#   18. idle memory of every container but PostgreSQL: PSS of the
#       container's processes (/proc/PID/smaps_rollup, as root) and
#       docker stats' MEM USAGE (its cgroup: page cache included)
#
# Figures, not pass/fail, one run each.  Skipped with the reason when
# docker, docker-compose or node is missing or dockerd does not answer.
# The images are deploy/images.sh's, tagged DEPLOY_TAG (cached layers);
# BUILD is only named for bench.sh's manner.  Its own compose project
# (lfbench<pid>), taken down with its volume on any exit, and a
# watchdog (DEPLOY_MAX_SECS) ends it.
#
#   DEPLOY_TAG=bench       image tag
#   DEPLOY_SECS=5          seconds per turns/s run (after a 2 s warm-up)
#   DEPLOY_CONNS=12        connections (one agent each) for turns/s
#   DEPLOY_BURST=200       turns in flight at the kill
#   DEPLOY_MAX_SECS=600    watchdog
#   DEPLOY_FIGS="15 16 17 18"  which figures to run
#   DEPLOY_KEEP=1          leave the stack up (and say how to take it down)

set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAG=${DEPLOY_TAG:-bench}
SECS=${DEPLOY_SECS:-5}
CONNS=${DEPLOY_CONNS:-12}
BURST=${DEPLOY_BURST:-200}
MAXSECS=${DEPLOY_MAX_SECS:-600}
FIGS=" ${DEPLOY_FIGS:-15 16 17 18} "
HEALTH_SECS=180
LOAD=$root/tests/bench/deployload.mjs
FAKE=$root/tests/fakes/fake-llm.mjs
PROJECT=lfbench$$

hr() { printf '%s\n' "------------------------------------------------------------------------------"; }
skip() { hr; echo "15-18. DEPLOY (compose): $1; skipped"; exit 0; }

command -v docker >/dev/null 2>&1 || skip "docker is not installed"
command -v docker-compose >/dev/null 2>&1 || skip "docker-compose is not installed"
command -v node >/dev/null 2>&1 || skip "node is not installed"
timeout 20 docker info >/dev/null 2>&1 || skip "dockerd does not answer (docker info failed)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfdeploy.XXXXXX") || exit 1
COMPOSE_TMP=$tmp
COMPOSE_SAY="   "
COMPOSE_KEEP=${DEPLOY_KEEP:-}
. "$root/tests/deploy/compose.sh"
compose_env "$TAG"
export FAKE_API_KEY=sk-fake-bench-0123456789
export LIBREFANG_RATE_LIMIT_PER_MINUTE=10000000

declare -A FAKES=()
WATCHDOG=
cleanup() {
	local n
	trap - EXIT INT TERM
	[ -z "$WATCHDOG" ] || kill "$WATCHDOG" 2>/dev/null
	for n in "${!FAKES[@]}"; do
		kill "${FAKES[$n]}" 2>/dev/null && wait "${FAKES[$n]}" 2>/dev/null
	done
	compose_down
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "deploy: interrupted" >&2; exit 1' INT TERM
# The watchdog sends TERM to this script: its trap takes the stack down.
( sleep "$MAXSECS"; echo "deploy: watchdog: still running after $MAXSECS s; ending it" >&2; kill -TERM $$ ) &
WATCHDOG=$!

ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }	# Unix ms, now
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }
fmt() { if [ -z "$1" ] || [ "$1" = null ]; then echo "-"; else echo "$1"; fi; }

api() { curl -s -m 5 -H "Authorization: Bearer $LIBREFANG_API_KEY" "http://$GW$1"; }
# runtimes_up N: /api/status lists N agent-runtime instances up.
runtimes_up() {
	[ "$(api /api/status | jq '[.instances[]? | select(.service == "agent-runtime" and .status == "up")] | length' 2>/dev/null)" = "$1" ]
}
# poll TENTHS CMD..: CMD until it succeeds, at most TENTHS tenths of a second.
poll() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
fake_start() {	# fake_start NAME ARGS..: sets FAKE_PORT
	local name=$1 i
	shift
	node "$FAKE" --port 0 --host "$NETGW" "$@" >"$tmp/$name.port" 2>"$tmp/$name.log" &
	FAKES[$name]=$!
	FAKE_PORT=
	for ((i = 0; i < 500; i++)); do
		FAKE_PORT=$(awk '$1 == "listening" { print $2 }' "$tmp/$name.port" 2>/dev/null)
		[ -n "$FAKE_PORT" ] && return 0
		sleep 0.01
	done
	echo "deploy: fake provider $name did not start: $(tail -n 3 "$tmp/$name.log")"
	return 1
}

hr
echo "15-18. DEPLOY  the compose stack in containers (project $PROJECT, images :$TAG), host load generator"
hr
t0=$(ms)
compose_images "$TAG" || exit 1
t1=$(ms)
if ! compose_up || ! wait_healthy postgres=1 bus=1 bus2=1 agent-runtime=1 scheduler=1 memory=1 audit=1 channels=1 api-gateway=1; then
	echo "   the stack did not come up"
	dc ps 2>&1 | sed 's/^/   /'
	exit 1
fi
t2=$(ms)
GW=$(gw_url 1)
GW=${GW#http://}
NETGW=$(compose_netgw)
BUSES=$(dc ps --services 2>/dev/null | grep -c '^bus')
echo "   images $(secs "$t0" "$t1") s (cached layers), up to healthy $(secs "$t1" "$t2") s; gateway $GW;" \
    "$BUSES broker(s); fakes on $NETGW"
echo "   host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $(docker ps -q | wc -l) containers running (all projects)"
[ -n "$GW" ] && [ -n "$NETGW" ] || { echo "   no gateway port or network address; stopping"; exit 1; }
poll 300 runtimes_up 1 || echo "   /api/status did not list the runtime within 30 s"
fake_start fake-instant --record-limit 100 || exit 1
INSTANT=$NETGW:$FAKE_PORT
fake_start fake-slow --latency-ms 2000 --record-limit $((BURST + 100)) || exit 1
SLOW=$NETGW:$FAKE_PORT
if ! node "$LOAD" spawn --gw "$GW" --base "http://$INSTANT/v1" --model bench-instant \
    --prefix bench-fast --n "$CONNS" >"$tmp/agents" 2>"$tmp/spawn.err"; then
	echo "   could not spawn agents: $(tail -n 2 "$tmp/spawn.err")"
	exit 1
fi
AGENTS=$(paste -sd, "$tmp/agents")
echo

declare -A RPS=() CPU=()
KILL_LAST= KILL_LOST= KEYED_ALL= BUS_FIRST= BUS_ALL= BUS_SEEN= BUS_LOST= IDLE_PSS= IDLE_DS=

# ---- 18. idle memory (first: the stack as it came up, 5 s idle) ------------------
if [[ $FIGS == *" 18 "* ]]; then
	hr
	echo "18. IDLE MEMORY  every container but PostgreSQL, after 5 s idle: PSS of its processes, and docker stats"
	hr
	sleep 5
	docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' $(dc ps -q 2>/dev/null) >"$tmp/stats" 2>/dev/null
	printf '   %-16s %6s %10s %10s   %s\n' "container" "procs" "RSS kB" "PSS kB" "docker stats MEM USAGE"
	tr_=0 tp_=0 tdm=0
	for s in bus bus2 agent-runtime scheduler memory audit channels api-gateway; do
		for id in $(dc ps -q "$s" 2>/dev/null); do
			name=$(docker inspect -f '{{.Name}}' "$id" | tr -d /)
			r=0 p=0 n=0
			for pid in $(docker top "$id" -eo pid 2>/dev/null | tail -n +2); do
				read -r a b <<<"$(awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { print r + 0, p + 0 }' "/proc/$pid/smaps_rollup" 2>/dev/null)"
				r=$((r + ${a:-0})); p=$((p + ${b:-0})); n=$((n + 1))
			done
			du=$(awk -v n="$name" '$1 == n { print $2 }' "$tmp/stats")
			printf '   %-16s %6s %10s %10s   %s\n' "$s" "$n" "$r" "$p" "${du:--}"
			tr_=$((tr_ + r)); tp_=$((tp_ + p))
			tdm=$(awk -v t="$tdm" -v u="$du" 'BEGIN {
				v = u + 0; if (u ~ /GiB/) v *= 1024; else if (u ~ /KiB/) v /= 1024; else if (u ~ /B$/ && u !~ /MiB/) v /= 1048576
				printf "%.1f", t + v }')
		done
	done
	IDLE_PSS=$(awk -v p="$tp_" 'BEGIN { printf "%.1f", p / 1024 }')
	IDLE_DS=$tdm
	printf '   %-16s %6s %10s %10s   %s MiB\n' "total" "" "$tr_" "$tp_" "$tdm"
	pgid=$(dc ps -q postgres 2>/dev/null)
	echo "   (not counted: postgres, docker stats $(awk -v n="$(docker inspect -f '{{.Name}}' "$pgid" | tr -d /)" '$1 == n { print $2 }' "$tmp/stats"))"
	echo "   PSS: each container's processes (its lf-healthcheck probe too, when one runs at that moment)"
	echo
fi

# ---- 15. turns/s against 1, 2, 3 runtimes --------------------------------------------
if [[ $FIGS == *" 15 "* ]]; then
	hr
	echo "15. TURNS/S BY RUNTIME REPLICAS  $CONNS connections (one agent each), ${SECS}s closed loop after 2 s, one gateway"
	hr
	printf '   %-10s %10s %9s %9s %8s %8s\n' "runtimes" "turns/s" "p50 ms" "p99 ms" "errors" "ratio"
	for n in 1 2 3; do
		if [ "$n" -gt 1 ]; then
			dc up -d --no-recreate --scale agent-runtime="$n" agent-runtime >"$tmp/scale.log" 2>&1
			if ! wait_healthy agent-runtime="$n" || ! poll 300 runtimes_up "$n"; then
				echo "   $n: the replicas did not come up (or /api/status does not list $n up)"
				continue
			fi
		fi
		# docker stats (itself about 2 s) once, 1 s into the measured run:
		# where the CPU goes.
		read -r _ u0 n0 s0 i0 w0 _ </proc/stat
		node "$LOAD" rate --gw "$GW" --agents "$AGENTS" --conns "$CONNS" --secs "$SECS" --warm 2 \
		    >"$tmp/rate.json" 2>"$tmp/rate.err" &
		rpid=$!
		sleep 3
		CPU[$n]=$(docker stats --no-stream --format '{{.Name}} {{.CPUPerc}}' $(dc ps -q 2>/dev/null) 2>/dev/null |
		    awk -v p="${PROJECT}_" '{ n = $1; sub("^" p, "", n); sub(/_[0-9]+$/, "", n); c[n] += $2 + 0 }
			END { for (k in c) if (c[k] >= 1) printf "%s %.0f%%\n", k, c[k] }' | sort -k2 -rn | paste -sd, - | sed 's/,/, /g')
		timeout $((SECS + 60)) tail --pid="$rpid" -f /dev/null
		wait "$rpid" 2>/dev/null
		read -r _ u1 n1 s1 i1 w1 _ </proc/stat
		CPU[$n]+=" (host idle $(awk -v b=$((u1 + n1 + s1 - u0 - n0 - s0)) -v i=$((i1 + w1 - i0 - w0)) 'BEGIN { if (b + i > 0) printf "%.0f", 100 * i / (b + i) }')%)"
		if r=$(jq -ce . "$tmp/rate.json" 2>/dev/null); then
			RPS[$n]=$(printf '%s' "$r" | jq -r .rps)
			printf '   %-10s %10s %9s %9s %8s %8s\n' "$n" \
			    $(printf '%s' "$r" | jq -r '"\(.rps) \(.p50) \(.p99) \(.errors)"') \
			    "$(awk -v a="${RPS[$n]}" -v b="${RPS[1]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
			e=$(printf '%s' "$r" | jq -r .last_error)
			[ -z "$e" ] || echo "      last error: $e"
		else
			echo "   $n: failed: $(tail -n 2 "$tmp/rate.err")"
		fi
	done
	echo "   CPU by service 1 s into each run (docker stats, sum of its replicas; 100% = one core), and the"
	echo "   host's idle share over the whole run (/proc/stat; other work on the host included):"
	for n in 1 2 3; do
		[ -z "${CPU[$n]:-}" ] || echo "     $n: ${CPU[$n]}"
	done
	echo "   every container, PostgreSQL and the load generator share the host's $(nproc) CPUs"
	echo
fi

# ---- 16. kill a runtime with turns in flight -------------------------------------------
if [[ $FIGS == *" 16 "* ]]; then
	hr
	echo "16. KILL A RUNTIME UNDER LOAD  $BURST turns in flight (fake takes 2 s), docker kill one of two runtimes"
	hr
	dc up -d --no-recreate --scale agent-runtime=2 agent-runtime >"$tmp/scale.log" 2>&1
	sleep 3	# the third replica's goodbye
	if ! poll 300 runtimes_up 2; then
		echo "   /api/status does not list two runtimes up; skipped"
	elif ! node "$LOAD" spawn --gw "$GW" --base "http://$SLOW/v1" --model bench-slow \
	    --prefix bench-burst --n "$BURST" >"$tmp/burst-agents" 2>"$tmp/spawn.err"; then
		echo "   could not spawn $BURST agents: $(tail -n 2 "$tmp/spawn.err")"
	else
		# Looked up first: docker-compose takes a second or two to answer.
		victim=$(dc ps -q agent-runtime | head -n 1)
		: >"$tmp/killmark"
		rm -f "$tmp/sent"
		node "$LOAD" burst --gw "$GW" --agents-file "$tmp/burst-agents" --mark "$tmp/killmark" \
		    --sent "$tmp/sent" --timeout 60 >"$tmp/burst.json" 2>"$tmp/burst.err" &
		bpid=$!
		# Once every request is under way, 0.7 s more: all of them reach a
		# runtime, none is answered yet (the fake takes 2 s).
		sent() { [ -s "$tmp/sent" ]; }
		poll 100 sent || echo "   (the burst had not sent its turns within 10 s; killing anyway)"
		sleep 0.7
		ms >"$tmp/killmark"
		docker kill "$victim" >/dev/null 2>&1 || echo "   docker kill failed"
		if ! timeout 90 tail --pid="$bpid" -f /dev/null; then
			echo "   the burst did not end within 90 s of the kill"
			kill "$bpid" 2>/dev/null
		fi
		wait "$bpid" 2>/dev/null
		if r=$(jq -ce . "$tmp/burst.json" 2>/dev/null); then
			KILL_LAST=$(printf '%s' "$r" | jq -r .last_answer_after_kill_ms)
			KILL_LOST=$(printf '%s' "$r" | jq -r '.by_status.lost // 0')
			printf '%s' "$r" | jq -r --argjson s "$(cat "$tmp/sent" 2>/dev/null || echo 0)" --argjson k "$(cat "$tmp/killmark")" \
			    '"   docker kill \($k - $s) ms after every turn was sent (\(.kill_after_start_ms) ms after the burst started); answers by status: \(.by_status | to_entries | map("\(.key) x\(.value)") | join(", "))"'
			printf '%s' "$r" | jq -r '"   \(.answered_after_kill) answered after the kill; the last \(.last_answer_after_kill_ms) ms after it; the last non-200 \(.last_error_after_kill_ms // "-") ms after it"'
			e=$(printf '%s' "$r" | jq -r .last_error)
			[ -z "$e" ] || echo "   last non-200: $e"
			echo "   lost (no answer within 60 s): $KILL_LOST; the survivor's turns end about 2 s after they were sent (the fake)"
			[ "$KILL_LOST" = 0 ] || printf '%s' "$r" | jq -r '"   lost: \(.lost_error) (the last \(.last_lost_after_kill_ms) ms after the kill)"'
		else
			echo "   the burst failed: $(tail -n 2 "$tmp/burst.err")"
		fi
		# The same kill with the instant fake and Idempotency-Keys, as a
		# client that retries sees it (tests/deploy/t9010 asserts it):
		# 20 agents x 10 turns at once, the kill after 40 answers, each
		# 503 retried with its key.
		if node "$LOAD" spawn --gw "$GW" --base "http://$INSTANT/v1" --model bench-keyed \
		    --prefix bench-keyed --n 20 >"$tmp/keyed-agents" 2>"$tmp/spawn.err"; then
			dc up -d --no-recreate --scale agent-runtime=2 agent-runtime >"$tmp/scale.log" 2>&1
			poll 300 runtimes_up 2 >/dev/null
			victim=$(dc ps -q agent-runtime | head -n 1)
			timeout 200 node "$LOAD" keyed --gw "$GW" --agents-file "$tmp/keyed-agents" --per 10 \
			    --out "$tmp/keyed.jsonl" --kill-after 40 --kill-cmd "docker kill $victim" \
			    --timeout 60 --retry-secs 30 >"$tmp/keyed.json" 2>"$tmp/keyed.err"
			if r=$(jq -ce . "$tmp/keyed.json" 2>/dev/null); then
				KEYED_ALL=$(printf '%s' "$r" | jq -r .all_200_after_kill_ms)
				printf '%s' "$r" | jq -r '"   keyed, instant fake: 200 turns, kill after 40 answers: \(.by_status | to_entries | map("\(.key) x\(.value)") | join(", ")); the last 503 \(.last_503_after_kill_ms // "-") ms after the kill; every turn 200 (503s retried with their key, 200 ms apart) \(.all_200_after_kill_ms // "never") ms after it"'
			else
				echo "   keyed: failed: $(tail -n 2 "$tmp/keyed.err")"
			fi
		fi
		# The killed replica stays down (docker kill is a stop, to
		# docker): two are wanted for the next figure's count.
		dc up -d --no-recreate --scale agent-runtime=2 agent-runtime >"$tmp/scale.log" 2>&1
		wait_healthy agent-runtime=2 >/dev/null
	fi
	echo
fi

# ---- 17. broker restart ---------------------------------------------------------------------
# Each process says in its heartbeat whether it is connected to each
# broker and since when (brokers in /api/status; a beat goes out at once
# on a change): the reconnect time is each one's since_ms less the
# moment the broker's container started (docker inspect StartedAt).
if [[ $FIGS == *" 17 "* ]]; then
	hr
	echo "17. BROKER RESTART  docker stop 'bus' ($BUSES broker(s) in the stack), docker start: every process reconnected, first 200 turn"
	hr
	A1=$(head -n 1 "$tmp/agents")
	bus=$(dc ps -q bus | head -n 1)
	sleep 3
	ninst=$(api /api/status | jq '[.instances[]? | select(.status == "up")] | length' 2>/dev/null)
	# bus_is CONNECTED SINCE: every process up says so of tcp://bus:7000.
	bus_is() {
		api /api/status | jq -e --argjson c "$1" --argjson s "$2" --argjson n "$ninst" '
		    [.instances[]? | select(.status == "up")] | length == $n and
		    all(.[]; [(.brokers // [])[] | select(.url == "tcp://bus:7000" and .connected == $c and
			.since_ms >= $s)] | length == 1)' >/dev/null 2>&1
	}
	if [ -z "$bus" ] || [ -z "$ninst" ]; then
		echo "   no broker container or no /api/status; skipped"
	else
		t=$(ms)
		docker stop -t 2 "$bus" >/dev/null 2>&1
		tstopped=$(ms)
		poll 100 bus_is false "$t" && BUS_LOST=$(secs "$t" "$(ms)")
		sleep 1
		down_turn=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $LIBREFANG_API_KEY" \
		    -H 'content-type: application/json' -d '{"message":"ping"}' "http://$GW/api/agents/$A1/message")
		ts=$(ms)
		docker start "$bus" >/dev/null 2>&1 || echo "   docker start failed"
		tstarted=$(ms)
		node "$LOAD" first --gw "$GW" --agent "$A1" --timeout 30 >"$tmp/first.json" 2>"$tmp/first.err" &
		fpid=$!
		started=$(date -d "$(docker inspect -f '{{.State.StartedAt}}' "$bus")" +%s%3N)
		if poll 100 bus_is true "$started"; then
			tseen=$(ms)
			api /api/status | jq -r --argjson s "$started" '.instances[] | select(.status == "up") |
			    "\(.service) \(.brokers[] | select(.url == "tcp://bus:7000") | .since_ms - $s)"' |
			    sort -k2 -n >"$tmp/reconn"
			BUS_ALL=$(awk 'END { printf "%.2f", $2 / 1000 }' "$tmp/reconn")
			BUS_SEEN=$(secs "$started" "$tseen")
		fi
		timeout 40 tail --pid="$fpid" -f /dev/null
		wait "$fpid" 2>/dev/null
		if [ "$(jq -r .ok "$tmp/first.json" 2>/dev/null)" = true ]; then
			BUS_FIRST=$(secs "$ts" "$(jq -r .at "$tmp/first.json")")
		fi
		echo "   docker stop took $(secs "$t" "$tstopped") s; every process said it lost 'bus' $(fmt "$BUS_LOST") s after the stop began"
		echo "   a turn while it was stopped: HTTP $down_turn$([ "$BUSES" -gt 1 ] && echo " (bus2 carries it)")"
		echo "   docker start took $(secs "$ts" "$tstarted") s, its process started $(secs "$ts" "$started") s after the command"
		echo "   from the broker's start: all $ninst processes reconnected $(fmt "$BUS_ALL") s (target: within 2 s)," \
		    "/api/status showed all $(fmt "$BUS_SEEN") s (polled every 0.1 s)"
		echo "   by process, s after the broker's start:"
		awk '{ printf "%s %.2f\n", $1, $2 / 1000 }' "$tmp/reconn" 2>/dev/null | paste -sd, - | sed 's/,/, /g; s/^/     /'
		echo "   from docker start: first 200 turn $(fmt "$BUS_FIRST") s$([ -z "$BUS_FIRST" ] && echo " ($(jq -r .last_error "$tmp/first.json" 2>/dev/null))")$([ "$BUSES" -gt 1 ] && echo " (through either broker)")"
	fi
	echo
fi

# ---- summary ---------------------------------------------------------------------
hr
echo "DEPLOY SUMMARY (figures, not pass/fail)"
hr
printf '   %-40s %16s\n' "figure" "value"
for n in 1 2 3; do
	printf '   %-40s %16s\n' "turns/s, $n agent-runtime" "$(fmt "${RPS[$n]:-}")$([ "$n" -gt 1 ] && [ -n "${RPS[$n]:-}" ] && [ -n "${RPS[1]:-}" ] && awk -v a="${RPS[$n]}" -v b="${RPS[1]}" 'BEGIN { if (b > 0) printf " (x%.2f)", a / b }')"
done
printf '   %-40s %16s\n' "kill under load: last answer after kill" "$(fmt "$KILL_LAST") ms"
printf '   %-40s %16s\n' "kill under load: lost turns" "$(fmt "$KILL_LOST")"
printf '   %-40s %16s\n' "kill, keyed retries: every turn 200" "$(fmt "$KEYED_ALL") ms"
printf '   %-40s %16s\n' "broker restart: first 200 turn" "$(fmt "$BUS_FIRST") s"
printf '   %-40s %16s\n' "broker restart: every process reconnected" "$(fmt "$BUS_ALL") s"
printf '   %-40s %16s\n' "broker restart: /api/status shows it" "$(fmt "$BUS_SEEN") s"
printf '   %-40s %16s\n' "idle PSS, stack without PostgreSQL" "$(fmt "$IDLE_PSS") MB"
printf '   %-40s %16s\n' "idle docker stats, same" "$(fmt "$IDLE_DS") MiB"
exit 0
