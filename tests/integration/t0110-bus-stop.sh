#!/usr/bin/env bash
# lf-test: alone (tests/run.sh: run beside no other script of ours)
# t0110-bus-stop.sh - the broker stops cleanly, every time: started and
# stopped (SIGTERM) 50 times while two clients keep sending requests and a
# replica keeps asking it for work; each run must serve requests (the
# replica's workers stand in line again at the new broker) and exit 0
# within 10 s (a stop takes some 100 ms, one ended by the 2 s teardown
# watchdog some 2 s; what this catches is a stop that never ends).  Before the broker ran on aio callbacks, one stop in about
# seven hung in pthread_join (nanomsg/nng#1813).  Then two brokers for one
# bus (HA): requests through either, and one of them restarting.
. "$(dirname "$0")/../lib.sh"

RUNS=50
bt() { "$LF_BIN/bustool" "$@"; }

# Stops process $2 (named $1) with SIGTERM; waits 10 s at most, then
# kills it and says so.  Sets LF_EXIT (137 when it had to be killed).
stop_bounded() {
	local name=$1 pid=$2 end
	kill -TERM "$pid" 2>/dev/null
	end=$(( $(lf_ms) + 10000 ))
	while kill -0 "$pid" 2>/dev/null && [ "$(lf_ms)" -lt "$end" ]; do
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "# $name (pid $pid) still runs 10 s after SIGTERM: killed"
		# Where it hangs, when gdb is there to say.
		command -v gdb >/dev/null && timeout 20 gdb -q -batch -p "$pid" \
		    -ex 'info threads' -ex 'thread apply 1 bt 25' 2>/dev/null |
		    grep -E '^( |\*|Thread|#)' | cut -c1-160 | sed 's/^/#   /' |
		    head -60
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	LF_EXIT=$?
}

lf_pg_start
lf_start memory
lf_start bus
t_ok "memory joins the broker" lf_bus_joined memory

# Light load for the whole loop: two senders, one request each 2 ms.
lf_bg load sh -c "exec '$LF_BIN/bustool' -t 2000 -c 2 -i 2 load memory sys.health 1000000 >'$LF_TMP/load.out' 2>&1"

clean=0 served=0 slow="" worst=0
for ((run = 1; run <= RUNS; run++)); do
	if [ "$run" -gt 1 ]; then
		lf_start bus
	fi
	lf_bus_joined memory && served=$((served + 1))
	sleep 0.0$((RANDOM % 10))
	T0=$(date +%s%N)
	stop_bounded bus "${LF_PIDS[bus]}"
	MS=$(( ($(date +%s%N) - T0) / 1000000 ))
	unset "LF_PIDS[bus]"
	[ "$MS" -gt "$worst" ] && worst=$MS
	if [ "$LF_EXIT" = 0 ] && [ "$MS" -lt 10000 ]; then
		clean=$((clean + 1))
	else
		slow="$slow run $run: exit $LF_EXIT after $MS ms;"
	fi
done
echo "# the slowest of the $RUNS stops took $worst ms"
t_eq "$RUNS broker stops under load, each exit 0 within 10 s" "$clean${slow:+ ($slow)}" "$RUNS"
t_eq "and each of the $RUNS brokers served requests" "$served" "$RUNS"
lf_stop load
t_eq "no broker left a stack behind in its log" \
    "$(grep -c 'pthread_join\|Assertion\|fatal' "$LF_TMP/log/bus.log")" 0
# nng 1.5.2 can hang in its own teardown (nanomsg/nng#1813); the watchdog
# of bus_teardown_enter() then ends the process: say how often.
echo "# nng teardown watchdog fired in $(grep -c "nng's teardown still runs" "$LF_TMP/log/bus.log") of $RUNS broker stops"

# The replica lived through all of it and still stops cleanly.
lf_start bus
t_ok "memory still answers after $RUNS broker restarts" lf_bus_joined memory
stop_bounded memory "${LF_PIDS[memory]}"
unset "LF_PIDS[memory]"
t_eq "memory exits 0 on SIGTERM" "$LF_EXIT" 0
stop_bounded bus "${LF_PIDS[bus]}"
unset "LF_PIDS[bus]"
t_eq "the broker exits 0 on SIGTERM" "$LF_EXIT" 0

# ---- two brokers for one bus (HA) ----------------------------------------
A=ipc://$LF_TMP/home/run/busa
B=ipc://$LF_TMP/home/run/busb
export LIBREFANG_BUS_URL="$A,$B"
LIBREFANG_BUS_URL="$A,$B" lf_bg bus-a sh -c "exec '$LF_BIN/bus' >>'$LF_TMP/log/bus-a.log' 2>&1"
LIBREFANG_BUS_URL="$B,$A" lf_bg bus-b sh -c "exec '$LF_BIN/bus' >>'$LF_TMP/log/bus-b.log' 2>&1"
lf_start memory
ok=0
for ((i = 0; i < 100; i++)); do
	[ "$(bt -u "$A" -t 1000 req memory sys.health 2>/dev/null | jq -r .status)" = 200 ] &&
	    [ "$(bt -u "$B" -t 1000 req memory sys.health 2>/dev/null | jq -r .status)" = 200 ] &&
	    { ok=1; break; }
	sleep 0.05
done
t_eq "HA: a replica serves through both brokers" "$ok" 1
R=$(bt -u "$A,$B" -t 3000 -c 4 load memory sys.health 400)
t_eq "HA: 400 requests spread over both brokers all answer 200" "$(jq -c .status <<<"$R")" '{"200":400}'
stop_bounded bus-b "${LF_PIDS[bus-b]}"
unset "LF_PIDS[bus-b]"
t_ok "HA: the second broker forwarded some of them" \
    grep -q 'broker stopped: [1-9][0-9]* forwarded' "$LF_TMP/log/bus-b.log"
R=$(bt -u "$A" -t 1000 req memory sys.health 2>/dev/null | jq -r .status)
t_eq "HA: with one broker gone the other still serves" "$R" 200
LIBREFANG_BUS_URL="$B,$A" lf_bg bus-b sh -c "exec '$LF_BIN/bus' >>'$LF_TMP/log/bus-b.log' 2>&1"
ok=0
for ((i = 0; i < 100; i++)); do
	[ "$(bt -u "$B" -t 1000 req memory sys.health 2>/dev/null | jq -r .status)" = 200 ] && { ok=1; break; }
	sleep 0.05
done
t_eq "HA: a restarted broker gets the replica's workers again" "$ok" 1
stop_bounded memory "${LF_PIDS[memory]}"
unset "LF_PIDS[memory]"
t_eq "HA: the replica exits 0 on SIGTERM" "$LF_EXIT" 0
for b in bus-a bus-b; do
	stop_bounded "$b" "${LF_PIDS[$b]}"
	unset "LF_PIDS[$b]"
	t_eq "HA: $b exits 0 on SIGTERM" "$LF_EXIT" 0
done
t_done
