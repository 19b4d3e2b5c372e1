#!/usr/bin/env bash
# t7000-idempotency-key.sh - the Idempotency-Key header (gateway
# gw_idem.c, agent-runtime turn/idem.c): a message retried with the same
# key after its turn ended gets the one run's answer (one provider call,
# one exchange in the session), 409 turn_in_progress while it runs; the
# same on the stream variant and on /v1/chat/completions (streaming and
# not); a spawn, a clone and a bulk create retried make one agent; a key
# reused for another body or agent is 422 idempotency_key_reused; keys are
# scoped to the route; bad keys (empty, over 255 bytes, not printable)
# are 400 and run nothing; a key is kept api.idempotency_key_ttl_secs
# (24 h by default).
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-idem-0123456789
lf_fake_stack agent-runtime

# kreq KEY METHOD PATH [JSON]: lf_req with the header.
kreq() {
	local key=$1
	shift
	lf_req "$1" "$2" "${3:-}" -H "Idempotency-Key: $key"
}
exchanges() {
	lf_psql "SELECT coalesce(sum(message_count), 0) FROM runtime.sessions WHERE agent_id = '$1'"
}

# ---- spawn ------------------------------------------------------------------------
SPAWN=$(lf_spawn_json "$(lf_fake_toml keyed m-keyed)")
kreq spawn-1 POST /api/agents "$SPAWN"
t_eq "a spawn with a key is 201" "$LF_STATUS" 201
A=$(jb .agent_id)
kreq spawn-1 POST /api/agents "$SPAWN"
t_eq "the same spawn again with the same key: 201 again" "$LF_STATUS" 201
t_eq "naming the same agent" "$(jb .agent_id)" "$A"
lf_req POST /api/agents "$SPAWN"
t_eq "without the key the same spawn is 409 (the name is taken)" "$LF_STATUS" 409
lf_req GET /api/agents
t_eq "one agent of that name" "$(jb '[.[] | select(.name == "keyed")] | length')" 1
kreq spawn-1 POST /api/agents "$(lf_spawn_json "$(lf_fake_toml other m-other)")"
t_eq "the key with another body is 422" "$LF_STATUS" 422
t_eq "code idempotency_key_reused" "$(jb .code)" idempotency_key_reused
t_ok "saying so ($(jb .error))" grep -q "different request" <<<"$(jb .error)"
lf_req GET /api/agents
t_eq "and made no agent" "$(jb '[.[] | select(.name == "other")] | length')" 0
kreq '"spawn-2"' POST /api/agents "$(lf_spawn_json "$(lf_fake_toml other m-other)")"
B=$(jb .agent_id)
t_eq "a quoted key (a structured-field string) is taken" "$LF_STATUS" 201

kreq clone-1 POST "/api/agents/$A/clone" '{"new_name": "keyed-copy"}'
t_eq "a clone with a key is 201" "$LF_STATUS" 201
C=$(jb .agent_id)
kreq clone-1 POST "/api/agents/$A/clone" '{"new_name": "keyed-copy"}'
t_eq "retried: the same clone" "$LF_STATUS $(jb .agent_id)" "201 $C"
kreq spawn-1 POST "/api/agents/$A/clone" '{"new_name": "keyed-copy2"}'
t_eq "a key used on another route is another key" "$LF_STATUS" 201
BULK="{\"agents\": [$(lf_spawn_json "$(lf_fake_toml bulk1 m-b)"), $(lf_spawn_json "$(lf_fake_toml bulk2 m-b)")]}"
kreq bulk-1 POST /api/agents/bulk "$BULK"
FIRST=$(jbc -S .)
kreq bulk-1 POST /api/agents/bulk "$BULK"
t_eq "a bulk create retried gets the same answer" "$(jbc -S .)" "$FIRST"
lf_req GET /api/agents
t_eq "and two agents, not four" "$(jb '[.[] | select(.name | startswith("bulk"))] | length')" 2

# ---- message -------------------------------------------------------------------------
lf_fake_script '{"model": "m-keyed", "steps": [{"text": "slow answer", "delay_ms": 6000}]}'
curl -s -m 30 -o "$LF_TMP/first" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H 'Idempotency-Key: msg-1' \
    -d '{"message": "do it once"}' "$LF_URL/api/agents/$A/message" > "$LF_TMP/first-status" &
FIRST=$!
t_ok "the first turn reached the provider" lf_fake_wait m-keyed 1
kreq msg-1 POST "/api/agents/$A/message" '{"message": "do it once"}'
t_eq "a retry while it runs is 409" "$LF_STATUS" 409
t_eq "code turn_in_progress" "$(jb .code)" turn_in_progress
t_ok "the first request ends (30 s at most)" timeout 35 tail --pid=$FIRST -f /dev/null
t_eq "the first request got the answer" "$(cat "$LF_TMP/first-status") $(jq -r .response "$LF_TMP/first")" "200 slow answer"
kreq msg-1 POST "/api/agents/$A/message" '{"message": "do it once"}'
t_eq "a retry after it ended gets the same answer" "$LF_STATUS $(jb .response)" "200 slow answer"
t_eq "with the same usage" "$(jbc '[.input_tokens, .output_tokens]')" "$(jq -c '[.input_tokens, .output_tokens]' "$LF_TMP/first")"
t_eq "the provider saw one request" "$(lf_fake_requests m-keyed | jq length)" 1
t_eq "the session holds one exchange" "$(exchanges "$A")" 2
kreq msg-1 POST "/api/agents/$A/message" '{"message": "something else"}'
t_eq "the key with another message is 422" "$LF_STATUS $(jb .code)" "422 idempotency_key_reused"
kreq msg-1 POST "/api/agents/$B/message" '{"message": "do it once"}'
t_eq "the key on another agent is 422" "$LF_STATUS $(jb .code)" "422 idempotency_key_reused"
t_eq "neither ran a turn" "$(lf_fake_requests m-keyed | jq length) $(lf_fake_requests m-other | jq length)" "1 0"
lf_req POST "/api/agents/$A/message" '{"message": "do it once"}'
t_eq "without the key the same message is a new turn" "$LF_STATUS $(lf_fake_requests m-keyed | jq length)" "200 2"
T=$(lf_psql "SELECT round(extract(epoch FROM expires_at - created_at)) FROM runtime.turn_keys WHERE fingerprint IS NOT NULL LIMIT 1")
t_eq "a key is kept 24 h by default" "$T" 86400

# ---- the stream variant ------------------------------------------------------------------
lf_fake_script '{"model": "m-keyed", "steps": [{"text": "streamed answer"}]}'
sse() {
	curl -s -m 30 -N -X POST -H 'Content-Type: application/json' \
	    -H "Idempotency-Key: $1" -d '{"message": "stream it"}' \
	    "$LF_URL/api/agents/$A/message/stream"
}
text_of() { grep '^data:' | sed 's/^data: //' | jq -rj 'select(.content != null) | .content'; }
S1=$(sse stream-1 | text_of)
t_eq "a streamed turn with a key" "$S1" "streamed answer"
S2=$(sse stream-1 | text_of)
t_eq "retried: the same text streams again" "$S2" "streamed answer"
t_eq "from the stored answer: three provider requests in all" "$(lf_fake_requests m-keyed | jq length)" 3

# ---- /v1/chat/completions -------------------------------------------------------------------
chat() {
	lf_req POST /v1/chat/completions "{\"model\": \"librefang:keyed\", \"messages\": [{\"role\": \"user\", \"content\": \"$2\"}]$3}" \
	    -H "Idempotency-Key: $1"
}
lf_fake_script '{"model": "m-keyed", "steps": [{"text": "chat answer"}]}'
chat oai-1 "once" ""
t_eq "a chat completion with a key" "$LF_STATUS $(jb '.choices[0].message.content')" "200 chat answer"
chat oai-1 "once" ""
t_eq "retried: the same content" "$LF_STATUS $(jb '.choices[0].message.content')" "200 chat answer"
t_eq "one more provider request, not two" "$(lf_fake_requests m-keyed | jq length)" 4
chat oai-1 "twice" ""
t_eq "the key with other messages is 422" "$LF_STATUS" 422
lf_fake_script '{"model": "m-keyed", "steps": [{"text": "chat stream"}]}'
ocs() {
	curl -s -m 30 -N -X POST -H 'Content-Type: application/json' \
	    -H "Idempotency-Key: $1" \
	    -d '{"model": "librefang:keyed", "stream": true, "messages": [{"role": "user", "content": "stream"}]}' \
	    "$LF_URL/v1/chat/completions" | grep '^data: {' | sed 's/^data: //' |
	    jq -rj '.choices[0].delta.content // empty'
}
t_eq "a streamed chat completion with a key" "$(ocs oai-2)" "chat stream"
t_eq "retried: the same content streams" "$(ocs oai-2)" "chat stream"
t_eq "one more provider request in all" "$(lf_fake_requests m-keyed | jq length)" 5

# ---- bad keys ------------------------------------------------------------------------
N=$(lf_fake_requests m-keyed | jq length)
lf_req POST "/api/agents/$A/message" '{"message": "bad key"}' -H 'Idempotency-Key;'
t_eq "an empty key is 400" "$LF_STATUS" 400
t_ok "with an error body ($LF_BODY)" lf_err_shape
kreq '""' POST "/api/agents/$A/message" '{"message": "bad key"}'
t_eq "an empty quoted key is 400" "$LF_STATUS" 400
kreq "$(printf 'k%.0s' $(seq 256))" POST "/api/agents/$A/message" '{"message": "bad key"}'
t_eq "a key of 256 bytes is 400" "$LF_STATUS" 400
t_ok "saying the limit ($(jb .error))" grep -q 255 <<<"$(jb .error)"
kreq "$(printf 'k%.0s' $(seq 255))" POST /api/agents "$(lf_spawn_json "$(lf_fake_toml long m-long)")"
t_eq "a key of 255 bytes is taken" "$LF_STATUS" 201
kreq $'bad\x01key' POST "/api/agents/$A/message" '{"message": "bad key"}'
t_eq "a key with a control character is 400" "$LF_STATUS" 400
kreq 'bad"key' POST /api/agents "$(lf_spawn_json "$(lf_fake_toml bad m-bad)")"
t_eq "a key with a quote is 400" "$LF_STATUS" 400
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml bad m-bad)")" -H 'Idempotency-Key: k1' -H 'Idempotency-Key: k2'
t_eq "two keys are 400" "$LF_STATUS" 400
t_eq "none of them ran a turn" "$(lf_fake_requests m-keyed | jq length)" "$N"
lf_req GET /api/agents
t_eq "or made an agent" "$(jb '[.[] | select(.name == "bad")] | length')" 0
lf_req GET /api/agents '' -H 'Idempotency-Key;'
t_eq "routes that take no key ignore the header" "$LF_STATUS" 200

lf_stack_stop
t_done
