#!/usr/bin/env bash
# lf-test: alone (tests/run.sh: run beside no other script of ours)
# t0111-bus-replica-lost.sh - a request held by a replica that dies is
# answered 503 at once, not left to its deadline (20 s: the checks allow
# 8 s, clear of both).  A memory replica is
# stopped (SIGSTOP) with requests in flight and more queued behind them,
# then killed: the ones it held say the replica was lost, the queued ones
# that the service is unavailable.  With two replicas only the lost one's
# requests fail.  Through the gateway, a non-turn route (GET /api/agents)
# held by a stopped, then killed, agent-runtime answers the 503 JSON.
# A killed broker fails calls at once, and a restarted one serves again;
# clients that hang up in the handshake do not leave it deaf.
. "$(dirname "$0")/../lib.sh"

bt() { "$LF_BIN/bustool" "$@"; }
# stop PID..: SIGSTOP, then waits (2 s at most each) until every thread of
# each process is stopped.  The signal stops a process once one of its
# threads takes it; on a loaded machine another thread may first answer
# a request sent just after kill(2) returned.
stop() {
	local p i
	kill -STOP "$@"
	for p in "$@"; do
		for ((i = 0; i < 200; i++)); do
			all_stopped "$p" && break
			sleep 0.01
		done
		all_stopped "$p" || echo "# pid $p: not every thread stopped after 2 s"
	done
}
all_stopped() {
	local t s
	for t in /proc/"$1"/task/*/stat; do
		s=$(<"$t") || return 1
		s=${s##*) }
		[ "${s%% *}" = T ] || return 1
	done
}
# reqs N FILE: N requests to memory in the background, 20 s deadline; each
# reply (or error) line goes to FILE.N with its end time (ns) in FILE.N.t
reqs() {
	local i
	for ((i = 1; i <= $1; i++)); do
		( bt -t 20000 req memory sys.health > "$2.$i" 2>&1
		  date +%s%N > "$2.$i.t" ) &
	done
}
# settled N FILE: waits (25 s at most) until the N requests have ended
settled() {
	local i j
	for ((j = 0; j < 250; j++)); do
		for ((i = 1; i <= $1; i++)); do
			[ -s "$2.$i.t" ] || break
		done
		[ "$i" -gt "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# latest N FILE: the last end time (ns) of the N requests
latest() { cat "$2".*.t | sort -n | tail -1; }
# errors N FILE: the .body.error of each reply, sorted and counted
errors() {
	local i
	for ((i = 1; i <= $1; i++)); do
		jq -r '(.status | tostring) + " " + (.body.error // "-")' "$2.$i" 2>/dev/null ||
		    echo "no reply: $(cat "$2.$i")"
	done | sort | uniq -c | sed 's/^ *//'
}

lf_pg_start
lf_start bus
lf_start memory
t_ok "memory joins" lf_bus_joined memory

# ---- one replica: 4 held (its 4 workers' slots), 4 queued ---------------------
stop "${LF_PIDS[memory]}"
reqs 8 "$LF_TMP/a"
sleep 1
# Nothing can have been answered: the replica sleeps.
t_eq "with the replica stopped, no request is answered" "$(cat "$LF_TMP"/a.*.t 2>/dev/null | wc -l)" 0
T0=$(date +%s%N)
kill -KILL "${LF_PIDS[memory]}"
wait "${LF_PIDS[memory]}" 2>/dev/null
unset "LF_PIDS[memory]"
t_ok "every request ends after the kill" settled 8 "$LF_TMP/a"
MS=$(( ($(latest 8 "$LF_TMP/a") - T0) / 1000000 ))
t_ok "at once, not at the 20 s deadline (${MS} ms from the kill)" test "$MS" -lt 8000
t_eq "the 4 it held say the replica was lost, the 4 queued that memory is unavailable" \
    "$(errors 8 "$LF_TMP/a" | tr '\n' ';')" \
    "4 503 replica of 'memory' lost while handling the request;4 503 service 'memory' unavailable;"
t_ok "the broker logs the loss" grep -q "replica of 'memory' disconnected with 4 requests in flight" "$LF_TMP/log/bus.log"

lf_start memory
t_ok "a restarted replica serves again" lf_bus_joined memory

# ---- two replicas: only the lost one's requests fail ---------------------------
"$LF_BIN/memory" >>"$LF_TMP/log/memory2.log" 2>&1 &
LF_PIDS[memory2]=$!
for ((i = 0; i < 100; i++)); do
	[ "$(grep -c "replica of 'memory' connected" "$LF_TMP/log/bus.log")" -ge 3 ] && break
	sleep 0.05
done
lf_bus_joined memory
sleep 0.3	# both replicas' workers stand in line
stop "${LF_PIDS[memory2]}"
reqs 8 "$LF_TMP/b"
sleep 1
T0=$(date +%s%N)
kill -KILL "${LF_PIDS[memory2]}"
wait "${LF_PIDS[memory2]}" 2>/dev/null
unset "LF_PIDS[memory2]"
t_ok "two replicas: every request ends" settled 8 "$LF_TMP/b"
MS=$(( ($(latest 8 "$LF_TMP/b") - T0) / 1000000 ))
t_ok "two replicas: at once, not at the 20 s deadline (${MS} ms from the kill)" test "$MS" -lt 8000
E=$(errors 8 "$LF_TMP/b")
LOST=$(awk '/ 503 replica of .memory. lost while handling/ {n += $1} END {print n + 0}' <<<"$E")
OK=$(awk '$2 == 200 {n += $1} END {print n + 0}' <<<"$E")
t_ok "two replicas: the stopped one held some ($LOST)" test "$LOST" -ge 1
t_eq "two replicas: the live one answered all the others" "$OK + $LOST" "$((8 - LOST)) + $LOST"
t_eq "two replicas: only 200s and 'lost' 503s" \
    "$(grep -vc "200 -\|503 replica of 'memory' lost while handling the request" <<<"$E")" 0

# ---- through the gateway: a non-turn route -------------------------------------
lf_start agent-runtime
lf_start api-gateway
lf_wait_health 10 || { echo "Bail out! gateway did not come up"; lf_dump_logs; exit 1; }
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not answer"; lf_dump_logs; exit 1; }
stop "${LF_PIDS[agent-runtime]}"
( curl -s -o "$LF_TMP/g.body" -w '%{http_code}' --max-time 20 "$LF_URL/api/agents" > "$LF_TMP/g.status"
  date +%s%N > "$LF_TMP/g.t" ) &
GPID=$!
sleep 1
t_ok "GET /api/agents waits on the stopped runtime" test ! -s "$LF_TMP/g.t"
T0=$(date +%s%N)
kill -KILL "${LF_PIDS[agent-runtime]}"
wait "${LF_PIDS[agent-runtime]}" 2>/dev/null
unset "LF_PIDS[agent-runtime]"
wait "$GPID"
MS=$(( ($(cat "$LF_TMP/g.t") - T0) / 1000000 ))
t_eq "GET /api/agents answers 503" "$(cat "$LF_TMP/g.status")" 503
t_ok "at once, not at the 20 s deadline (${MS} ms from the kill)" test "$MS" -lt 8000
LF_BODY=$(cat "$LF_TMP/g.body")
t_eq "with the JSON error naming the lost replica" "$(jbc .)" \
    "{\"error\":\"replica of 'agent-runtime' lost while handling the request\"}"
lf_start agent-runtime
t_ok "a restarted agent-runtime answers again" lf_wait_ok /api/agents

# ---- the broker itself dies with requests in flight -----------------------------
# Clients disable nng's resend, so their receive fails at once when the
# broker's pipe closes: nothing waits for its deadline.
t_ok "memory is back" lf_bus_joined memory
stop "${LF_PIDS[agent-runtime]}" "${LF_PIDS[memory]}"
( curl -s -o "$LF_TMP/h.body" -w '%{http_code}' --max-time 20 "$LF_URL/api/agents" > "$LF_TMP/h.status"
  date +%s%N > "$LF_TMP/h.t" ) &
HPID=$!
reqs 1 "$LF_TMP/c"
sleep 1
T0=$(date +%s%N)
kill -KILL "${LF_PIDS[bus]}"
wait "${LF_PIDS[bus]}" 2>/dev/null
unset "LF_PIDS[bus]"
wait "$HPID"
t_ok "broker lost: the bus call ends" settled 1 "$LF_TMP/c"
MS=$(( ($(latest 1 "$LF_TMP/c") - T0) / 1000000 ))
t_ok "broker lost: at once (${MS} ms), as unavailable" \
    test "$MS" -lt 8000 -a "$(cat "$LF_TMP/c.1")" = "bustool: unavailable"
MS=$(( ($(cat "$LF_TMP/h.t") - T0) / 1000000 ))
LF_BODY=$(cat "$LF_TMP/h.body")
t_eq "broker lost: GET /api/agents answers 503 at once (${MS} ms)" \
    "$(cat "$LF_TMP/h.status") $(jb .error) $([ "$MS" -lt 8000 ] && echo fast)" \
    "503 service 'agent-runtime' unavailable fast"
lf_start bus
kill -CONT "${LF_PIDS[agent-runtime]}" "${LF_PIDS[memory]}"
# replica_sockets NAME..: each process's own unix sockets (ss -xap), whose
# peer inodes match the broker's side in lf_bus_sockets, and its threads'
# stacks in a file (lf_stacks): a replica that never rejoined (1 run in
# 40) had no connection to its service's address, and nng's teardown then
# hung at its exit.
replica_sockets() {
	local n
	for n in "$@"; do
		echo "# $n's unix sockets:"
		ss -xap 2>/dev/null | grep -F "pid=${LF_PIDS[$n]}," |
		    awk '{print "#   " $2, $3, $4, $6, $7, $8}' | head -8
		lf_stacks "$n" "${LF_PIDS[$n]}" >/dev/null
		echo "#   threads' stacks: $LF_TMP/log/$n.stack"
	done
}
# joined_again: memory answers through the new broker (5 s at most); else
# the sockets, for a post-mortem.
joined_again() {
	lf_poll 100 lf_is_joined memory && return 0
	replica_sockets memory
	lf_bus_sockets
	return 1
}
# routes_back: the gateway's agent-runtime routes answer again (10 s at
# most); else the last answer and the sockets, for a post-mortem.
routes_back() {
	lf_wait_ok /api/agents && return 0
	lf_req GET /api/agents
	echo "# GET /api/agents still answers $LF_STATUS $LF_BODY"
	replica_sockets agent-runtime api-gateway
	lf_bus_sockets
	return 1
}
t_ok "a restarted broker serves memory again" joined_again
t_ok "and the gateway's agent-runtime routes" routes_back

# ---- clients that hang up in the handshake ----------------------------------
# nng 1.5.2 stops a listener for good when a peer hangs up during the SP
# handshake (services/bus/broker.c, "Listeners"): without the broker's
# watch, the front would accept and never read again, and no new replica
# would join.  hangups PATH N: N connections to PATH, each closed as soon
# as it is made.  With the broker stopped meanwhile, each waits in its
# listen queue already closed, and the broker's handshake meets EPIPE.
hangups() {
	timeout 20 node -e '
		const net = require("net");
		let n = Number(process.argv[2]);
		const next = () => {
			if (n-- <= 0) return;
			const s = net.connect(process.argv[1]);
			s.on("error", () => {});
			s.destroy();
			setImmediate(next);
		};
		next();' "$1" "$2"
}
joined() { grep -c "replica of 'memory' connected" "$LF_TMP/log/bus.log"; }
stop "${LF_PIDS[bus]}"
hangups "$LIBREFANG_HOME/run/bus.front" 20
hangups "$LIBREFANG_HOME/run/bus.memory" 20
kill -CONT "${LF_PIDS[bus]}"
t_ok "after 20 hang-ups at the front, it serves again" lf_bus_joined memory
N=$(joined)
"$LF_BIN/memory" >>"$LF_TMP/log/memory3.log" 2>&1 &
LF_PIDS[memory3]=$!
for ((i = 0; i < 100 && $(joined) == N; i++)); do
	sleep 0.05
done
t_ok "and after 20 at memory's, a new replica joins (5 s at most)" \
    test "$(joined)" -gt "$N"
grep "stopped accepting" "$LF_TMP/log/bus.log" | sed 's/^/# /'
t_done
