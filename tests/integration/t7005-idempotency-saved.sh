#!/usr/bin/env bash
# t7005-idempotency-saved.sh - a keyed turn's replica dies after the
# turn's end was written but before it answered: the key's answer commits
# in the one statement that saves the exchange (agent/obs.c), so a retry
# gets that answer, with no second run and one exchange in the session.
# The statement is held at the point of writing by a row lock taken from
# psql on the key's row; the runtime is killed (SIGKILL) while it waits;
# the lock is let go, and PostgreSQL finishes and commits the statement
# of the dead client (it only notices the client is gone when it
# answers).
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-idem-saved-0123456789
lf_fake_stack agent-runtime
A=$(lf_agent saved m-saved)
t_ok "an agent ($A)" test -n "$A"
lf_fake_script '{"model": "m-saved", "steps": [{"text": "the one answer", "delay_ms": 5000}]}'
curl -s -m 30 -o "$LF_TMP/first" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H 'Idempotency-Key: saved-1' \
    -d '{"message": "once"}' "$LF_URL/api/agents/$A/message" > "$LF_TMP/first-status" &
FIRST=$!
t_ok "the turn reached the provider" lf_fake_wait m-saved 1
# A transaction holding the key's row, fed through a fifo, 60 s at most.
mkfifo "$LF_TMP/sql"
timeout 60 psql -h "$LIBREFANG_HOME/pg" -U librefang -q librefang <"$LF_TMP/sql" >"$LF_TMP/psql.out" 2>&1 &
PSQL=$!
exec 7>"$LF_TMP/sql"
echo "BEGIN; SELECT 'locked' FROM runtime.turn_keys WHERE agent_id = '$A' FOR UPDATE;" >&7
locked() { grep -q locked "$LF_TMP/psql.out"; }
t_ok "the key's row is locked from psql" lf_poll 200 locked
# Any statement waiting on a lock: pg_stat_activity shows a statement's
# first 1024 bytes only (track_activity_query_size), and the end
# statement names turn_keys well past that.
waiting() {
	[ "$(lf_psql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")" -ge 1 ]
}
t_ok "the turn's end statement waits on it (10 s)" lf_poll 200 waiting
lf_stop agent-runtime KILL
t_ok "the runtime is killed there" test -n "$LF_EXIT"
echo "COMMIT;" >&7
exec 7>&-
t_ok "psql lets go (10 s)" timeout 10 tail --pid=$PSQL -f /dev/null
done_() { [ "$(lf_psql "SELECT state FROM runtime.turn_keys WHERE agent_id = '$A'")" = done ]; }
t_ok "the dead client's statement commits: the key says done (10 s)" lf_poll 200 done_
t_ok "the first request ends (10 s)" timeout 10 tail --pid=$FIRST -f /dev/null
t_eq "with a 503" "$(cat "$LF_TMP/first-status")" 503
lf_start agent-runtime
t_ok "a runtime is back" lf_bus_joined agent-runtime
lf_req POST "/api/agents/$A/message" '{"message": "once"}' -H 'Idempotency-Key: saved-1'
t_eq "a retry gets the saved answer" "$LF_STATUS $(jb .response)" "200 the one answer"
t_eq "without a second run" "$(lf_fake_requests m-saved | jq length)" 1
lf_req GET "/api/agents/$A/session"
t_eq "the session holds the one exchange" "$(jbc '[.messages[] | [.role, .content]]')" \
    '[["User","once"],["Assistant","the one answer"]]'
SID=$(jb .session_id)
t_eq "its user message names the key, for a retry after a dead run" \
    "$(lf_psql "SELECT count(*) FROM runtime.sessions s, jsonb_array_elements(s.messages) m WHERE s.id = '$SID' AND m ? 'turn_key'")" 1
lf_req GET "/api/sessions/$SID"
t_eq "which GET /api/sessions/{id} does not show" "$LF_STATUS $(jbc '[.messages[] | has("turn_key")] | any')" "200 false"

lf_stack_stop
t_done
