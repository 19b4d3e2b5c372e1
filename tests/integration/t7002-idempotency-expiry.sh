#!/usr/bin/env bash
# t7002-idempotency-expiry.sh - an Idempotency-Key lives
# api.idempotency_key_ttl_secs (here 3 s): until then a retry gets the
# stored answer, after it the key is unused and the request runs again;
# expired keys of others are pruned by the claims themselves; and a key
# whose turn still runs is not taken over, expired or not.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-idem-expiry-0123456789
lf_fake_start
lf_config '[api]
idempotency_key_ttl_secs = 3'
lf_stack_start agent-runtime
lf_wait_agents
A=$(lf_agent ttl m-ttl)

lf_fake_script '{"model": "m-ttl", "steps": [{"text": "first run"}, {"text": "second run"}]}'
lf_req POST "/api/agents/$A/message" '{"message": "again"}' -H 'Idempotency-Key: exp-1'
t_eq "a keyed turn" "$LF_STATUS $(jb .response)" "200 first run"
t_eq "its key is kept 3 s (the config)" \
    "$(lf_psql "SELECT round(extract(epoch FROM expires_at - created_at)) FROM runtime.turn_keys WHERE fingerprint IS NOT NULL")" 3
lf_req POST "/api/agents/$A/message" '{"message": "again"}' -H 'Idempotency-Key: exp-1'
T=$(lf_psql "SELECT expires_at > clock_timestamp() FROM runtime.turn_keys WHERE fingerprint IS NOT NULL")
if [ "$T" = t ]; then
	t_eq "a retry before then: the stored answer" "$LF_STATUS $(jb .response)" "200 first run"
else
	t_ok "# SKIP the machine took over 3 s between two requests" true
fi
expired() { [ "$(lf_psql "SELECT count(*) FROM runtime.turn_keys WHERE fingerprint IS NOT NULL AND expires_at > clock_timestamp()")" = 0 ]; }
t_ok "the key expires (10 s at most)" lf_poll 200 expired
lf_req POST "/api/agents/$A/message" '{"message": "again"}' -H 'Idempotency-Key: exp-1'
t_eq "after it, the same request runs again" "$LF_STATUS $(jb .response)" "200 second run"
t_eq "the provider saw two requests" "$(lf_fake_requests m-ttl | jq length)" 2
t_eq "one row for the key, claimed anew" "$(lf_psql "SELECT count(*) FROM runtime.turn_keys WHERE fingerprint IS NOT NULL")" 1

# ---- pruning -------------------------------------------------------------------------
lf_psql "INSERT INTO runtime.turn_keys (key, agent_id, state, status, reply, deadline, expires_at) SELECT 'old-' || i, '$A', 'done', 200, '{}', now() - interval '1 hour', now() - interval '1 minute' FROM generate_series(1, 5) i" >/dev/null
lf_fake_script '{"model": "m-ttl", "steps": [{"text": "prune"}]}'
lf_req POST "/api/agents/$A/message" '{"message": "prune"}' -H 'Idempotency-Key: exp-2'
t_eq "a keyed turn" "$LF_STATUS" 200
t_eq "its claim pruned the expired keys of others" "$(lf_psql "SELECT count(*) FROM runtime.turn_keys WHERE key LIKE 'old-%'")" 0

# ---- a running key is not taken over --------------------------------------------------------
msg() {
	"$LF_BIN/bustool" -t 20000 req agent-runtime agents.message "$(jq -nc \
	    --arg a "$A" --argjson c "$1" '{params: {id: $a}, caller: $c, body: {message: "slow"}}')" 2>/dev/null
}
lf_fake_script '{"model": "m-ttl", "steps": [{"text": "slow", "delay_ms": 5000}]}'
N=$(lf_fake_requests m-ttl | jq length)
msg '{"idempotency_key": "svc-1", "idempotency_ttl_secs": 1}' > "$LF_TMP/slow" &
SLOW=$!
t_ok "a slow keyed turn with a 1 s key reached the provider" lf_fake_wait m-ttl $((N + 1))
sleep 1.5
OUT=$(msg '{"idempotency_key": "svc-1", "idempotency_ttl_secs": 1}')
t_eq "its key expired while the turn runs: still 409" "$(jq -r '"\(.status) \(.body.code)"' <<<"$OUT")" "409 turn_in_progress"
t_ok "the slow turn ends (30 s at most)" timeout 35 tail --pid=$SLOW -f /dev/null
t_eq "the provider saw that turn once" "$(lf_fake_requests m-ttl | jq length)" $((N + 1))
lf_fake_script '{"model": "m-ttl", "steps": [{"text": "week"}]}'
msg '{"idempotency_key": "fire-week"}' >/dev/null
t_eq "a service caller's key with no ttl is kept a week" \
    "$(lf_psql "SELECT round(extract(epoch FROM expires_at - created_at)) FROM runtime.turn_keys WHERE key = 'fire-week'")" 604800

lf_stack_stop
t_done
