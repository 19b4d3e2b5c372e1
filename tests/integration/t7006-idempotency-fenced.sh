#!/usr/bin/env bash
# t7006-idempotency-fenced.sh - the two ways a retried turn could answer
# what its session does not hold (issue 11; t9010 found both under
# load):
# - a turn whose session another turn took while it ran (its replica's
#   lock connection lost, so its advisory lock with it; the other turn's
#   take bumps the session's fence) saves nothing more: it answers 503
#   when keyed (the key stays running, so its retry runs it afresh and
#   answers 200 once, the session holding that one exchange) and 409
#   when not -- never 200 for an exchange it could not save;
# - two keyed turns queued on one session die with their replica, the
#   first after it saved its question, the second before it saved
#   anything: the second's retry drops the first's dead question instead
#   of merging it into its own (the provider is asked its question
#   alone), and the first's retry then runs after it; the session holds
#   each exchange once.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-idem-fenced-0123456789
lf_fake_start
lf_config '[bus]
turn_timeout_secs = 20'
lf_stack_start agent-runtime
lf_wait_agents

# last_question MODEL: the text of the last user message the provider
# was last asked for MODEL.
last_question() {
	lf_fake_requests "$1" | jq -r '.[-1].body.messages | map(select(.role == "user"))[-1].content |
	    if type == "array" then map(.text // "") | join("") else . end'
}
# fence_taken SID: what another turn's take does to the session while
# this one runs: its lock connection is ended (the lock goes with it),
# and the fence moves on.
fence_taken() {
	lf_psql "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted
	    AND objsubid = 1 AND classid::bigint = ((('x' || translate('$1', '-', ''))::bit(64)::bigint >> 32) & 4294967295)" >/dev/null
	lf_psql "UPDATE runtime.sessions SET fence = fence + 1 WHERE id = '$1'::uuid RETURNING fence" >/dev/null
}

# ---- a keyed turn fenced out: 503, then its retry runs it once ----------------------
A=$(lf_agent fenced m-fenced)
t_ok "an agent ($A)" test -n "$A"
lf_req GET "/api/agents/$A/session"
S=$(jb .session_id)
lf_fake_script '{"model": "m-fenced", "steps": [{"text": "unsaved", "delay_ms": 5000}, {"text": "saved"}]}'
curl -s -m 30 -o "$LF_TMP/first" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: fenced-1' -d '{"message": "q1"}' "$LF_URL/api/agents/$A/message" \
    > "$LF_TMP/first-status" &
FIRST=$!
t_ok "the keyed turn reached the provider" lf_fake_wait m-fenced 1
fence_taken "$S"
t_ok "the turn ends (10 s at most)" timeout 10 tail --pid=$FIRST -f /dev/null
t_eq "its exchange not saved, it answers 503, not 200" "$(cat "$LF_TMP/first-status")" 503
t_ok "saying the session was taken ($(jq -r .error "$LF_TMP/first"))" \
    grep -q "taken by another turn" <<<"$(jq -r .error "$LF_TMP/first")"
lf_req POST "/api/agents/$A/message" '{"message": "q1"}' -H 'Idempotency-Key: fenced-1'
t_eq "its retry runs it afresh" "$LF_STATUS $(jb .response)" "200 saved"
lf_req POST "/api/agents/$A/message" '{"message": "q1"}' -H 'Idempotency-Key: fenced-1'
t_eq "a later retry gets that answer" "$LF_STATUS $(jb .response)" "200 saved"
t_eq "the provider ran it twice in all" "$(lf_fake_requests m-fenced | jq length)" 2
lf_req GET "/api/agents/$A/session"
t_eq "the session holds the one exchange" "$(jbc '[.messages[] | [.role, .content]]')" \
    '[["User","q1"],["Assistant","saved"]]'

# ---- the same without a key: 409 ------------------------------------------------------
lf_fake_script '{"model": "m-fenced", "steps": [{"text": "unsaved too", "delay_ms": 5000}]}'
N=$(lf_fake_requests m-fenced | jq length)
curl -s -m 30 -o "$LF_TMP/plain" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"message": "q2"}' "$LF_URL/api/agents/$A/message" > "$LF_TMP/plain-status" &
PLAIN=$!
t_ok "an unkeyed turn reached the provider" lf_fake_wait m-fenced $((N + 1))
fence_taken "$S"
t_ok "it ends (10 s at most)" timeout 10 tail --pid=$PLAIN -f /dev/null
t_eq "with a 409" "$(cat "$LF_TMP/plain-status") $(jq -r '.error | test("taken by another turn")' "$LF_TMP/plain")" "409 true"
lf_req GET "/api/agents/$A/session"
t_eq "its answer is not in the session" "$(jbc '[.messages[] | select(.content == "unsaved too")] | length')" 0

# ---- two keyed turns die queued on one session ------------------------------------
B=$(lf_agent queued m-queued)
lf_fake_script '{"model": "m-queued", "steps": [{"text": "never", "delay_ms": 30000}]}'
curl -s -m 30 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: x-1' -d '{"message": "question X"}' "$LF_URL/api/agents/$B/message" \
    > "$LF_TMP/x-status" &
X=$!
t_ok "X reached the provider (its question saved)" lf_fake_wait m-queued 1
curl -s -m 30 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: y-1' -d '{"message": "question Y"}' "$LF_URL/api/agents/$B/message" \
    > "$LF_TMP/y-status" &
Y=$!
# Y waits for the session X holds, in the same (only) replica: its key
# is claimed there.
claimed() { [ "$(lf_psql "SELECT count(*) FROM runtime.turn_keys WHERE agent_id = '$B' AND state = 'running'")" = 2 ]; }
t_ok "Y's key is claimed by the replica that runs X" lf_poll 100 claimed
t_ok "a second replica joins" lf_replica agent-runtime-2 agent-runtime
lf_stop agent-runtime KILL
t_ok "the replica running both is killed" test -n "$LF_EXIT"
t_ok "both requests end (10 s at most)" timeout 10 sh -c "tail --pid=$X -f /dev/null; tail --pid=$Y -f /dev/null"
t_eq "both with a 503" "$(cat "$LF_TMP/x-status") $(cat "$LF_TMP/y-status")" "503 503"
lf_fake_script '{"model": "m-queued", "steps": [{"text": "answer Y"}, {"text": "answer X"}]}'
lf_req POST "/api/agents/$B/message" '{"message": "question Y"}' -H 'Idempotency-Key: y-1'
t_eq "Y's retry answers its own question" "$LF_STATUS $(jb .response)" "200 answer Y"
t_eq "the provider was asked Y's question alone, X's dead one dropped" "$(last_question m-queued)" "question Y"
lf_req POST "/api/agents/$B/message" '{"message": "question X"}' -H 'Idempotency-Key: x-1'
t_eq "X's retry answers after it" "$LF_STATUS $(jb .response)" "200 answer X"
t_eq "asked X's question alone" "$(last_question m-queued)" "question X"
lf_req GET "/api/agents/$B/session"
t_eq "the session holds each exchange once" "$(jbc '[.messages[] | [.role, .content]]')" \
    '[["User","question Y"],["Assistant","answer Y"],["User","question X"],["Assistant","answer X"]]'

lf_stack_stop
t_done
