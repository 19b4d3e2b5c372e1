#!/usr/bin/env bash
# Idempotent turns (turn/idem.c): agents.message with caller
# idempotency_key runs the turn once per key -- a second request while it
# runs gets 409, after it the first answer again, with no second provider
# call; a key whose deadline passed unanswered while its owner lives
# reads 503 "lost"; one whose owner is gone runs afresh, once.  And
# caller session_create: a turn in a session named by the caller that
# does not exist yet (the scheduler's per-fire sessions).  Both are for
# services on the bus; the gateway sets idempotency_key from the HTTP
# Idempotency-Key header (t7000).
. "$(dirname "$0")/../lib.sh"

lf_fake_start
export FAKE_API_KEY=sk-fake
lf_stack_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not join"; lf_dump_logs; exit 1; }

bustool() { "$LF_BIN/bustool" "$@"; }
# msg AGENT JSON-CALLER [BODY]: agents.message over the bus; prints the
# reply envelope.
msg() {
	bustool -t 20000 req agent-runtime agents.message "$(jq -nc \
	    --arg a "$1" --argjson c "$2" --argjson b "${3:-{\"message\": \"do it\"\}}" \
	    '{params: {id: $a}, caller: $c, body: $b}')" 2>/dev/null
}

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml idem m-idem)")"
A=$(jb .agent_id)
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml idem2 m-idem2)")"
B=$(jb .agent_id)

# ---- one turn per key ------------------------------------------------------------
lf_fake_script '{"model": "m-idem", "steps": [{"text": "slow answer", "delay_ms": 6000}]}'
msg "$A" '{"idempotency_key": "fire-1"}' > "$LF_TMP/first" &
FIRST=$!
lf_fake_wait m-idem 1
OUT=$(msg "$A" '{"idempotency_key": "fire-1"}')
t_eq "the same key while the turn runs is 409" "$(jq -r .status <<<"$OUT")" 409
t_ok "saying it still runs ($(jq -r .body.error <<<"$OUT"))" grep -q "still running" <<<"$(jq -r .body.error <<<"$OUT")"
t_eq "with code turn_in_progress, told apart from a stored 409" "$(jq -r .body.code <<<"$OUT")" turn_in_progress
timeout 30 tail --pid=$FIRST -f /dev/null
t_eq "the first request got the turn's answer" "$(jq -r '"\(.status) \(.body.response)"' "$LF_TMP/first")" "200 slow answer"
OUT=$(msg "$A" '{"idempotency_key": "fire-1"}')
t_eq "the same key afterwards gets the same answer" "$(jq -r '"\(.status) \(.body.response)"' <<<"$OUT")" "200 slow answer"
t_eq "with the same usage" "$(jq -c '.body | [.input_tokens, .output_tokens]' <<<"$OUT")" "$(jq -c '.body | [.input_tokens, .output_tokens]' "$LF_TMP/first")"
t_eq "and the provider was asked once" "$(lf_fake_requests m-idem | jq length)" 1
t_eq "one turn was recorded" "$(lf_psql "SELECT count(*) FROM runtime.turn_records WHERE agent_id = '$A'")" 1
OUT=$(msg "$B" '{"idempotency_key": "fire-1"}')
t_eq "another agent's turn under a used key is 409" "$(jq -r .status <<<"$OUT")" 409
t_eq "and runs nothing" "$(lf_fake_requests m-idem2 | jq length)" 0
OUT=$(msg "$A" '{"idempotency_key": "fire-2"}')
t_eq "a new key runs a new turn" "$(jq -r '"\(.status) \(.body.response)"' <<<"$OUT")" "200 echo: do it"
OUT=$(msg "$A" '{}')
t_eq "no key: every request is a turn" "$(jq -r .status <<<"$OUT") $(lf_fake_requests m-idem | jq length)" "200 3"

# A failed turn's answer is kept too.
lf_fake_script '{"model": "m-idem", "steps": [{"status": 400, "error": "bad request from the fake"}]}'
OUT=$(msg "$A" '{"idempotency_key": "fire-3"}')
S1=$(jq -r .status <<<"$OUT")
OUT=$(msg "$A" '{"idempotency_key": "fire-3"}')
t_eq "a failed turn's answer is given again ($S1)" "$(jq -r .status <<<"$OUT")" "$S1"
t_ok "as a failure" test "$S1" -ge 400

# ---- a lost key ------------------------------------------------------------------
# Its owner alive (another replica, here a psql session, holds the key's
# advisory lock, as turn/turn.c's turn_key_lock() does) but past its
# deadline: lost.
lf_psql "INSERT INTO runtime.turn_keys (key, agent_id, deadline) VALUES ('fire-lost', '$A', now() - interval '1 minute')" >/dev/null
mkfifo "$LF_TMP/owner"
timeout 120 psql -h "$LIBREFANG_HOME/pg" -U librefang -q librefang <"$LF_TMP/owner" >"$LF_TMP/owner.out" 2>&1 &
exec 7>"$LF_TMP/owner"
echo "SELECT 'held', pg_advisory_lock(7011, hashtext('fire-lost'));" >&7
held() { grep -q held "$LF_TMP/owner.out"; }
t_ok "a live owner holds the key's lock" lf_poll 200 held
N=$(lf_fake_requests m-idem | jq length)
OUT=$(msg "$A" '{"idempotency_key": "fire-lost"}')
t_eq "a running key past its deadline is 503" "$(jq -r .status <<<"$OUT")" 503
t_ok "lost ($(jq -r .body.error <<<"$OUT"))" grep -q "lost" <<<"$(jq -r .body.error <<<"$OUT")"
OUT=$(msg "$A" '{"idempotency_key": "fire-lost"}')
t_eq "and stays so" "$(jq -r .status <<<"$OUT")" 503
t_eq "without a provider call" "$(lf_fake_requests m-idem | jq length)" "$N"
exec 7>&-
# Its owner dead (no lock held): the turn runs afresh, once.
lf_psql "INSERT INTO runtime.turn_keys (key, agent_id, deadline) VALUES ('fire-dead', '$A', now() + interval '1 minute')" >/dev/null
OUT=$(msg "$A" '{"idempotency_key": "fire-dead"}')
t_eq "a running key whose owner is gone runs afresh, before its deadline" "$(jq -r .status <<<"$OUT")" 200
OUT2=$(msg "$A" '{"idempotency_key": "fire-dead"}')
t_eq "then gives that answer again" "$(jq -c .body <<<"$OUT2")" "$(jq -c .body <<<"$OUT")"
t_eq "with one provider call in all" "$(lf_fake_requests m-idem | jq length)" "$((N + 1))"

# ---- bad keys --------------------------------------------------------------------
t_eq "an empty key is 400" "$(msg "$A" '{"idempotency_key": ""}' | jq -r .status)" 400
t_eq "a key of 129 bytes is 400" "$(msg "$A" "{\"idempotency_key\": \"$(printf 'k%.0s' $(seq 129))\"}" | jq -r .status)" 400
t_eq "a key that is not a string is 400" "$(msg "$A" '{"idempotency_key": 7}' | jq -r .status)" 400
t_eq "session_create that is not a boolean is 400" "$(msg "$A" '{"session_create": "yes"}' | jq -r .status)" 400

# ---- session_create ---------------------------------------------------------------
lf_req GET "/api/agents/$A"
CUR=$(jb .session_id)
NEW=$(cat /proc/sys/kernel/random/uuid)
OUT=$(msg "$A" '{}' "{\"message\": \"x\", \"session_id\": \"$NEW\"}")
t_eq "an unknown session without session_create is 404" "$(jq -r .status <<<"$OUT")" 404
OUT=$(msg "$A" '{"session_create": true}' "{\"message\": \"in a new session\", \"session_id\": \"$NEW\"}")
t_eq "with session_create the turn runs" "$(jq -r .status <<<"$OUT")" 200
t_eq "with no history: the session is new" "$(lf_fake_requests m-idem | jq -c '[.[-1].body.messages[] | select(.role != "system") | .content]')" '["in a new session"]'
t_eq "in a session that now exists for the agent" "$(lf_psql "SELECT agent_id FROM runtime.sessions WHERE id = '$NEW'")" "$A"
lf_req GET "/api/agents/$A"
t_eq "the agent did not switch to it" "$(jb .session_id)" "$CUR"
OUT=$(msg "$B" '{"session_create": true}' "{\"message\": \"x\", \"session_id\": \"$NEW\"}")
t_eq "another agent's session is refused even so" "$(jq -r .status <<<"$OUT")" 400

# ---- session_key: the manifest's session_mode decides -------------------------------
lf_req POST /api/agents "$(lf_spawn_json "session_mode = \"new\"
$(lf_fake_toml fresh m-fresh)")"
N=$(jb .agent_id)
lf_req GET "/api/agents/$N"
NCUR=$(jb .session_id)
msg "$N" '{"session_key": "job-1:slot-1"}' '{"message": "first"}' >/dev/null
msg "$N" '{"session_key": "job-1:slot-1"}' '{"message": "same key"}' >/dev/null
t_eq "session_mode new: one key, one session of its own (the second turn sees the first)" \
    "$(lf_fake_requests m-fresh | jq -c '[.[-1].body.messages[] | select(.role == "user") | .content]')" '["first","same key"]'
msg "$N" '{"session_key": "job-1:slot-2"}' '{"message": "next slot"}' >/dev/null
t_eq "another key, another fresh session" \
    "$(lf_fake_requests m-fresh | jq -c '[.[-1].body.messages[] | select(.role == "user") | .content]')" '["next slot"]'
lf_req GET "/api/agents/$N"
t_eq "the agent's current session is untouched" "$(jb .session_id)" "$NCUR"
t_eq "two keyed sessions exist for it" "$(lf_psql "SELECT count(*) FROM runtime.sessions WHERE agent_id = '$N' AND id <> '$NCUR'")" 2
N0=$(lf_fake_requests m-idem | jq length)
msg "$A" '{"session_key": "job-2:slot-1"}' '{"message": "persistent agent"}' >/dev/null
t_eq "session_mode persistent: a keyed turn runs in the current session" \
    "$(lf_fake_requests m-idem | jq -r '.[-1].body.messages | map(select(.role == "user")) | length > 1')" true
t_eq "an empty session_key is 400" "$(msg "$A" '{"session_key": ""}' | jq -r .status)" 400

lf_stack_stop
t_done
