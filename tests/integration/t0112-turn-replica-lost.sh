#!/usr/bin/env bash
# lf-test: alone (tests/run.sh: run beside no other script of ours)
# t0112-turn-replica-lost.sh - no turn outlives its replica.  Ten turns in
# flight against a slow fake provider (six blocking POST .../message, four
# SSE .../message/stream already streaming), then kill -9 of agent-runtime:
# every client gets the 503 JSON (the SSE ones an error event, then the
# end of the stream) at once (8 s at most: the provider would answer
# after 30 s), and a turn after the restart works.  Then
# two replicas and one killed: only its turns fail, the others complete.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-lost-0123456789
LOST="replica of 'agent-runtime' lost while handling the request"
lf_fake_stack agent-runtime

for i in 1 2 3 4 5 6; do BLOCK[$i]=$(lf_agent "block-$i" m-block); done
for i in 1 2 3 4; do STREAM[$i]=$(lf_agent "stream-$i" m-stream); done
t_ok "ten agents (${BLOCK[6]}, ${STREAM[4]})" test -n "${BLOCK[6]}" -a -n "${STREAM[4]}"

# block I FILE / stream I FILE: a turn in the background; the status (and
# headers) go to FILE.s, the body to FILE, the end time (ns) to FILE.t.
block() {
	( curl -s -o "$2" -w '%{http_code}' --max-time 40 -X POST \
	    -H 'Content-Type: application/json' -d '{"message": "go"}' \
	    "$LF_URL/api/agents/${BLOCK[$1]}/message" > "$2.s"
	  date +%s%N > "$2.t" ) &
}
stream() {
	( curl -sN -o "$2" -D "$2.s" --max-time 40 -X POST \
	    -H 'Content-Type: application/json' -d '{"message": "go"}' \
	    "$LF_URL/api/agents/${STREAM[$1]}/message/stream"
	  date +%s%N > "$2.t" ) &
}
# The last SSE event of FILE as {event, data}.
last_event() {
	awk '/^event: /{e=substr($0, 8)} /^data: /{d=substr($0, 7)} END{print "{\"event\":\"" e "\",\"data\":" (d == "" ? "null" : d) "}"}' "$1"
}
# outcome FILE: "200 <response>", "503 <error>" (blocking) or
# "sse <last event> <error>" (streaming)
outcome() {
	if grep -qi '^content-type: text/event-stream' "$1.s" 2>/dev/null; then
		last_event "$1" | jq -r '"sse " + .event + " " + (.data.error // "-")'
	else
		echo "$(cat "$1.s" 2>/dev/null | tail -c 3) $(jq -r '.response // .error // "?"' "$1" 2>/dev/null)"
	fi
}
# ended N PREFIX: waits (45 s at most) until PREFIX1..N have an end time
ended() {
	local i j
	for ((j = 0; j < 450; j++)); do
		for ((i = 1; i <= $1; i++)); do
			[ -s "$2$i.t" ] || break
		done
		[ "$i" -gt "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# streaming FILE..: waits (10 s) until each stream has sent a chunk
streaming() {
	local f j n
	for ((j = 0; j < 100; j++)); do
		n=0
		for f in "$@"; do
			grep -q '^event: chunk' "$f" 2>/dev/null || n=$((n + 1))
		done
		[ "$n" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
WORDS=$(seq -f 'w%g' 300 | tr '\n' ' ')

# ---- one replica, kill -9 with ten turns in flight ---------------------------
lf_fake_script '{"model":"m-block","steps":[{"text":"late","delay_ms":30000},{"text":"late","delay_ms":30000},{"text":"late","delay_ms":30000},{"text":"late","delay_ms":30000},{"text":"late","delay_ms":30000},{"text":"late","delay_ms":30000}]}'
S="{\"text\":\"$WORDS\",\"chunk_delay_ms\":100}"
lf_fake_script "{\"model\":\"m-stream\",\"steps\":[$S,$S,$S,$S]}"
for i in 1 2 3 4 5 6; do block "$i" "$LF_TMP/a$i"; done
for i in 1 2 3 4; do stream "$i" "$LF_TMP/a$((6 + i))"; done
t_ok "the six blocking turns reach the provider" lf_fake_wait m-block 6
t_ok "the four streams reach it" lf_fake_wait m-stream 4
t_ok "and are streaming" streaming "$LF_TMP"/a{7,8,9,10}
t_ok "nothing has ended yet" test -z "$(ls "$LF_TMP"/a*.t 2>/dev/null)"
T0=$(date +%s%N)
kill -KILL "${LF_PIDS[agent-runtime]}"
wait "${LF_PIDS[agent-runtime]}" 2>/dev/null
unset "LF_PIDS[agent-runtime]"
t_ok "every client is answered" ended 10 "$LF_TMP/a"
MS=$(( ($(cat "$LF_TMP"/a*.t | sort -n | tail -1) - T0) / 1000000 ))
t_ok "at once, not at the provider's 30 s (${MS} ms from the kill)" test "$MS" -lt 8000
OUT=$(for i in $(seq 10); do outcome "$LF_TMP/a$i"; done | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')
t_eq "blocking: 503 and the JSON error; SSE: an error event last" "$OUT" \
    "6 503 $LOST;4 sse error $LOST;"
for i in 1 6; do
	LF_BODY=$(cat "$LF_TMP/a$i")
	t_ok "the 503 body is exactly {\"error\": ...} (turn $i)" lf_err_shape
done
t_ok "the streams had sent chunks before the error" \
    test "$(cat "$LF_TMP"/a{7,8,9,10} | grep -c '^event: chunk')" -ge 4

lf_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not come back"; lf_dump_logs; exit 1; }
lf_fake_script '{"model":"m-block","steps":[{"text":"back again"}]}'
lf_req POST "/api/agents/${BLOCK[1]}/message" '{"message": "again"}'
t_eq "a turn after the restart works" "$LF_STATUS $(jb .response)" "200 back again"

# ---- two replicas, one killed: only its turns fail --------------------------
LIBREFANG_LOG_LEVEL=debug lf_replica agent-runtime-2 agent-runtime
sleep 0.3	# the second replica's workers stand in line
lf_fake_script '{"model":"m-block","steps":[{"text":"done","delay_ms":4000},{"text":"done","delay_ms":4000},{"text":"done","delay_ms":4000},{"text":"done","delay_ms":4000},{"text":"done","delay_ms":4000},{"text":"done","delay_ms":4000}]}'
S="{\"text\":\"$(seq -f 'w%g' 40 | tr '\n' ' ')\",\"chunk_delay_ms\":100}"
lf_fake_script "{\"model\":\"m-stream\",\"steps\":[$S,$S,$S,$S]}"
for i in 1 2 3 4 5 6; do block "$i" "$LF_TMP/b$i"; done
for i in 1 2 3 4; do stream "$i" "$LF_TMP/b$((6 + i))"; done
lf_fake_wait m-block 13
lf_fake_wait m-stream 8
t_ok "two replicas: the streams are streaming" streaming "$LF_TMP"/b{7,8,9,10}
K=$(grep -c 'agents.message .* -> deferred' "$LF_TMP/log/agent-runtime-2.log")
t_ok "two replicas: the second holds some of the ten turns ($K)" test "$K" -ge 1 -a "$K" -le 9
T0=$(date +%s%N)
kill -KILL "${LF_PIDS[agent-runtime-2]}"
wait "${LF_PIDS[agent-runtime-2]}" 2>/dev/null
unset "LF_PIDS[agent-runtime-2]"
t_ok "two replicas: every client is answered" ended 10 "$LF_TMP/b"
FAILED=0 LATE=""
for i in $(seq 10); do
	o=$(outcome "$LF_TMP/b$i")
	case $o in
	"503 $LOST"|"sse error $LOST")
		FAILED=$((FAILED + 1))
		ms=$(( ($(cat "$LF_TMP/b$i.t") - T0) / 1000000 ))
		[ "$ms" -lt 8000 ] || LATE="$LATE $i:${ms}ms";;
	esac
done
OUT=$(for i in $(seq 10); do outcome "$LF_TMP/b$i"; done | grep -v "$LOST" | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')
t_eq "two replicas: the killed one's $K turns fail with the 503" "$FAILED" "$K"
t_eq "each at once (within 8 s of the kill)" "$LATE" ""
t_ok "two replicas: the other's complete ($OUT)" \
    bash -c "grep -Eq '^([0-9]+ 200 done;|[0-9]+ sse done -;)+\$' <<<'$OUT'"
t_done
