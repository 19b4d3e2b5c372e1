#!/usr/bin/env bash
# lf-test: alone (tests/run.sh: run beside no other script of ours)
# t0114-bus-burst.sh - no reply is lost in a burst.  nng's raw REP socket
# kept 64 messages per pipe and dropped the rest silently, so a client
# with more than 64 requests in flight lost replies when they came back
# at once: a replica answering a batch together, or the broker answering
# 503 for every request a killed replica held (issue 11: 89 answered, 77
# received).  One client (bustool load, one REQ socket) sends 150 at once
# to a replica (bustool serve) that holds them all and answers together,
# three times; then to one that holds them until it is killed: every
# request gets its reply, counted.
. "$(dirname "$0")/../lib.sh"

bt() { "$LF_BIN/bustool" "$@"; }
N=150
# serve NAME HOLD: a bustool replica of 'memory' with N workers, its
# output in log/NAME.log; waits (10 s at most) until the broker has it.
serve() {
	local n
	n=$(lf_connected memory)
	lf_bg "$1" sh -c "exec '$LF_BIN/bustool' -t 60000 serve memory $N $2 >>'$LF_TMP/log/$1.log' 2>&1"
	lf_poll 200 lf_is_replica "$1" memory "$n" && return 0
	echo "# $1 did not join within 10 s"
	return 1
}
# is_held NAME: the replica NAME holds all N requests
is_held() { [ "$(grep -c '^held ' "$LF_TMP/log/$1.log")" -ge "$N" ]; }

lf_start bus
t_ok "a replica that answers $N at once joins" serve batch "$N"
# Its workers each ask for work once they start: give them all time to.
sleep 0.5
for r in 1 2 3; do
	OUT=$(timeout 60 "$LF_BIN/bustool" -t 30000 -c "$N" load memory sys.health "$N")
	t_eq "round $r: one client, $N in flight, answered together: $N replies" \
	    "$(jq -c .status <<<"$OUT")" "{\"200\":$N}" || echo "# load: $OUT"
done
lf_stop batch
t_ok "the broker logs no answer left unread" \
    sh -c "! grep -q 'waited .* ms for its peer to read' '$LF_TMP/log/bus.log'"

t_ok "a replica that holds every request joins" serve holder 0
sleep 0.5
timeout 90 "$LF_BIN/bustool" -t 60000 -c "$N" load memory sys.health "$N" >"$LF_TMP/kill.out" 2>&1 &
LPID=$!
t_ok "it holds all $N" lf_poll 400 is_held holder
T0=$(lf_ms)
kill -KILL "${LF_PIDS[holder]}"
wait "${LF_PIDS[holder]}" 2>/dev/null
unset "LF_PIDS[holder]"
wait "$LPID"
MS=$(( $(lf_ms) - T0 ))
t_eq "killed with $N held: $N replies, every one 503 replica lost" \
    "$(jq -c .status "$LF_TMP/kill.out")" "{\"503\":$N}" || echo "# load: $(cat "$LF_TMP/kill.out")"
t_ok "at once, not at their 60 s deadline (${MS} ms from the kill)" test "$MS" -lt 10000
t_ok "the broker logs the $N in flight" \
    grep -q "replica of 'memory' disconnected with $N requests in flight" "$LF_TMP/log/bus.log"
t_done
