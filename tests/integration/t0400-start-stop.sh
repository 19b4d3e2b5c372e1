#!/usr/bin/env bash
# lf-test: alone (tests/run.sh: run beside no other script of ours)
# Start and stop, many times over: the whole stack (LF_STRESS_STACK, 15
# rounds) with requests in flight when it stops, and the broker alone
# (LF_STRESS_BUS, 40 rounds) with clients connected.  Every stop is
# bounded: a process still running 5 s after SIGTERM is killed, named with
# its stacks and counted as a failed test; so is a non-zero exit, a stack
# that does not come up, and a request that waits out its timeout.
. "$(dirname "$0")/../lib.sh"

STACK_ROUNDS=${LF_STRESS_STACK:-15}
BUS_ROUNDS=${LF_STRESS_BUS:-40}
PROGS="bus $LF_SERVICES api-gateway"
bt() { "$LF_BIN/bustool" "$@"; }

declare -A HUNG=() BADEXIT=()
NHUNG=0
note_stop() {	# NAME: after lf_reap, remember how NAME ended
	NHUNG=$((NHUNG + LF_HUNG))
	[ "$LF_HUNG" = 0 ] || HUNG[$1]=$(( ${HUNG[$1]:-0} + 1 ))
	[ "$LF_HUNG" != 0 ] || [ "$LF_EXIT" = 0 ] ||
	    BADEXIT[$1]="${BADEXIT[$1]:-}${BADEXIT[$1]:+ }$LF_EXIT"
}
# stop_progs ORDERED: SIGTERM to every program at once (as lf_stack_stop
# does) or, with ORDERED=1, gateway, then services, then broker (as
# librefangd does); each one's wait is bounded.
stop_progs() {
	local p
	if [ "$1" = 1 ]; then
		for p in api-gateway "$LF_SERVICES" bus; do
			# shellcheck disable=SC2086
			set -- $p
			for p in "$@"; do kill -TERM "${LF_PIDS[$p]}" 2>/dev/null; done
			for p in "$@"; do
				lf_reap "$LF_STOP_SECS" "did not exit $LF_STOP_SECS s after SIGTERM" "$p"
				note_stop "$p"
			done
		done
	else
		for p in $PROGS; do kill -TERM "${LF_PIDS[$p]}" 2>/dev/null; done
		for p in $PROGS; do
			lf_reap "$LF_STOP_SECS" "did not exit $LF_STOP_SECS s after SIGTERM" "$p"
			note_stop "$p"
		done
	fi
}
summary() {	# what hung and what exited badly, for the assertions
	local p out=
	for p in "${!HUNG[@]}"; do out+="$p hung ${HUNG[$p]}x; "; done
	for p in "${!BADEXIT[@]}"; do out+="$p exited ${BADEXIT[$p]}; "; done
	echo "${out:-none}"
}

lf_pg_start

# ---- the whole stack ----------------------------------------------------------
t0=$(lf_ms)
up=0
late=0
answered=0
for ((r = 1; r <= STACK_ROUNDS; r++)); do
	# Bounded however often something hangs (about 6 s each).
	if [ "$NHUNG" -ge 5 ]; then
		echo "# giving up after round $((r - 1)): 5 hangs"
		break
	fi
	for p in $PROGS; do lf_start "$p"; done
	if lf_wait_ready 15; then
		up=$((up + 1))
	else
		echo "# round $r: the stack did not come up (missing: $LF_READY_MISSING)"
	fi
	# Light load, in flight as the stop begins: reads, a write, health.
	lf_bg load1 curl -s -o /dev/null -m 10 "$LF_URL/api/agents"
	lf_bg load2 curl -s -o /dev/null -m 10 "$LF_URL/api/agents"
	lf_bg load3 curl -s -o /dev/null -m 10 -H 'Content-Type: application/json' \
	    -d "{\"manifest_toml\":\"name = \\\"round-$r\\\"\\n\"}" "$LF_URL/api/agents"
	lf_bg load4 curl -s -o /dev/null -m 10 "$LF_URL/api/health"
	sleep 0.0$((RANDOM % 5))
	stop_progs $((r % 2))
	for p in load1 load2 load3 load4; do
		lf_wait "$p" 15
		# 28: curl's own timeout -- the request was left hanging.
		if [ "$LF_EXIT" = 28 ]; then
			late=$((late + 1))
			echo "# round $r: $p waited out its 10 s timeout"
		elif [ "$LF_EXIT" = 0 ]; then
			answered=$((answered + 1))
		fi
	done
done
ms=$(( $(lf_ms) - t0 ))
t_eq "the stack came up each of $STACK_ROUNDS times" "$up" "$STACK_ROUNDS"
t_eq "and stopped each time: every program exited 0 within $LF_STOP_SECS s of SIGTERM" \
    "$(summary)" none
t_eq "no request in flight at a stop waited out its timeout ($answered answered)" \
    "$late" 0
echo "# $STACK_ROUNDS stack rounds took $ms ms; hung: ${HUNG[*]:-none}"
stack_hung=$(summary)

# ---- the broker alone -----------------------------------------------------------
HUNG=() BADEXIT=()
NHUNG=0
t0=$(lf_ms)
joined=0
for ((r = 1; r <= BUS_ROUNDS; r++)); do
	lf_start bus
	# Up when it refuses a request for a service with no replica (5 s).
	end=$(( $(lf_ms) + 5000 ))
	until [ "$(bt -t 300 req memory sys.health 2>/dev/null | jq -r .status)" = 503 ]; do
		if [ "$(lf_ms)" -ge "$end" ]; then
			echo "# round $r: the broker did not answer within 5 s"
			lf_stacks bus "${LF_PIDS[bus]}"
			# Seen about once in 300 rounds under the sanitizers:
			# the broker idle in epoll_wait, no request ever
			# received.  Its accept queue tells nng's listener
			# apart from the client's dial.
			lf_bus_sockets
			break
		fi
		sleep 0.02
	done
	[ "$(lf_ms)" -lt "$end" ] && joined=$((joined + 1))
	# Clients connected as it stops: a subscriber and a stream of requests.
	lf_bg sub bt -t 2000 sub lifecycle 1 >>"$LF_TMP/log/clients.log" 2>&1
	# The loop takes its running bustool with it when it is stopped.
	lf_bg reqs bash -c 'trap "kill \$c 2>/dev/null; exit 0" TERM
	    while :; do "$0" -t 200 req memory sys.health >/dev/null 2>>"$1" & c=$!; wait $c; done' \
	    "$LF_BIN/bustool" "$LF_TMP/log/clients.log"
	sleep 0.0$((RANDOM % 5))
	lf_stop bus
	note_stop bus
	lf_stop reqs
	lf_stop sub
	if [ "$NHUNG" -ge 5 ]; then
		echo "# giving up after round $r: the broker hung 5 times"
		break
	fi
done
ms=$(( $(lf_ms) - t0 ))
t_eq "the broker answered each of $BUS_ROUNDS times" "$joined" "$BUS_ROUNDS"
t_eq "and exited 0 within $LF_STOP_SECS s of SIGTERM each time" "$(summary)" none
echo "# $BUS_ROUNDS broker rounds took $ms ms; the broker hung ${HUNG[bus]:-0} of $BUS_ROUNDS times"
echo "# (the stack rounds: $stack_hung)"
# nng itself aborts now and then in a client whose broker goes away.
n=$(grep -c '^panic:' "$LF_TMP/log/clients.log" 2>/dev/null)
[ "${n:-0}" = 0 ] || echo "# nng panicked in $n bustool clients: $(grep -m1 '^panic:' "$LF_TMP/log/clients.log")"
t_done
