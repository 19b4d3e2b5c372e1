#!/usr/bin/env bash
# t8201-webhooks-in.sh - the inbound webhooks (services/api-gateway/
# gw_hooks.c; spec 000 "Webhook Endpoints", kernel.md 8.6): POST
# /hooks/wake and /hooks/agent and their /api/hooks twins take
# LIBREFANG_WEBHOOK_TOKEN, not the API key.  Refused while the token is
# unset or shorter than 32 characters; a missing or wrong token is 401
# with a Bearer challenge; a signed request (X-LibreFang-Timestamp and
# X-LibreFang-Signature, HMAC-SHA256 of "timestamp.body" keyed with the
# token) outside the 300 s window, with a bad signature or half signed is
# 401, and the same signed request again is 409; wake publishes an event
# a trigger fires on (a turn on the fake provider) and the outbound
# webhooks deliver; agent runs a real turn (by name, by id, the oldest
# agent by default) and answers the reference's shape; bad bodies 4xx.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-hooks-0123456789
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
lf_config '[webhooks]
allowed_hosts = ["127.0.0.1"]
backoff_base_ms = 100'
lf_rcv_start
lf_fake_stack agent-runtime scheduler channels

TOKEN=hook-token-0123456789abcdef0123456789abcdef
hook() {	# hook PATH JSON [curl args..]
	local p=$1 d=$2
	shift 2
	LF_AUTH= lf_req POST "$p" "$d" "$@"
}
gw_restart() {
	lf_stop api-gateway
	lf_start api-gateway
	lf_wait_health 10 || echo "# the gateway did not come back"
}

# ---- the token: unset, too short -------------------------------------------------------------
hook /hooks/wake '{"text": "x"}' -H "Authorization: Bearer $TOKEN"
t_eq "token unset: refused (404, not enabled)" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"
hook /hooks/agent '{"message": "x"}'
t_eq "token unset: /hooks/agent refused too" "$LF_STATUS" 404
export LIBREFANG_WEBHOOK_TOKEN=short-token-0123456789
gw_restart
hook /hooks/wake '{"text": "x"}' -H "Authorization: Bearer $LIBREFANG_WEBHOOK_TOKEN"
t_eq "a 22-character token: refused even when sent" "$LF_STATUS" 404
t_ok "and the gateway said why" grep -q 'LIBREFANG_WEBHOOK_TOKEN is shorter than 32' "$LF_TMP/log/api-gateway.log"
export LIBREFANG_WEBHOOK_TOKEN=$TOKEN
export LIBREFANG_API_KEY=api-key-for-everything-else-0123
gw_restart
unset LIBREFANG_API_KEY
LF_AUTH=api-key-for-everything-else-0123	# lf_req's, for the other routes

# ---- authentication ------------------------------------------------------------------------
hook /hooks/wake '{"text": "x"}'
t_eq "no token: 401" "$LF_STATUS $(lf_err_shape && echo shaped)" "401 shaped"
t_eq "with a Bearer challenge" "$(lf_hdr www-authenticate)" 'Bearer realm="librefang-webhook"'
hook /hooks/wake '{"text": "x"}' -H "Authorization: Bearer ${TOKEN%?}X"
t_eq "a wrong token (same length): 401" "$LF_STATUS" 401
hook /hooks/wake '{"text": "x"}' -H "Authorization: Bearer ${TOKEN}x"
t_eq "a longer token: 401" "$LF_STATUS" 401
hook /hooks/wake '{"text": "x"}' -H "Authorization: Bearer api-key-for-everything-else-0123"
t_eq "the API key is not the webhook token: 401" "$LF_STATUS" 401
LF_AUTH= lf_req GET /api/agents
t_eq "while the API key guards the rest (401 without it)" "$LF_STATUS" 401
AUTH=(-H "Authorization: Bearer $TOKEN")
hook /hooks/wake '{"text": "hello", "mode": "event"}' "${AUTH[@]}"
t_eq "the token: 200 {status: accepted, mode}" "$LF_STATUS $(jbc '[.status, .mode]')" '200 ["accepted","event"]'

# ---- signed requests ---------------------------------------------------------------------------
sig() { printf '%s' "$1.$2" | openssl dgst -sha256 -hmac "$TOKEN" -r | cut -d' ' -f1; }
B='{"text": "signed wake"}'
NOW=$(date +%s)
hook /hooks/wake "$B" "${AUTH[@]}" -H "X-LibreFang-Timestamp: $NOW" -H "X-LibreFang-Signature: sha256=$(sig "$NOW" "$B")"
t_eq "signed: 200" "$LF_STATUS" 200
hook /hooks/wake "$B" "${AUTH[@]}" -H "X-LibreFang-Timestamp: $NOW" -H "X-LibreFang-Signature: sha256=$(sig "$NOW" "$B")"
t_eq "the same signed request again: 409 (replay)" "$LF_STATUS $(lf_err_shape && echo shaped)" "409 shaped"
OLD=$((NOW - 1000))
hook /hooks/wake "$B" "${AUTH[@]}" -H "X-LibreFang-Timestamp: $OLD" -H "X-LibreFang-Signature: sha256=$(sig "$OLD" "$B")"
t_eq "a timestamp 1000 s old: 401" "$LF_STATUS" 401
hook /hooks/wake "$B" "${AUTH[@]}" -H "X-LibreFang-Timestamp: $NOW" -H "X-LibreFang-Signature: sha256=$(sig "$NOW" '{"text": "other"}')"
t_eq "a signature of another body: 401" "$LF_STATUS" 401
hook /hooks/wake "$B" "${AUTH[@]}" -H "X-LibreFang-Timestamp: $NOW"
t_eq "a timestamp without a signature: 401" "$LF_STATUS" 401
hook /hooks/wake "$B" "${AUTH[@]}" -H "X-LibreFang-Timestamp: soon" -H "X-LibreFang-Signature: sha256=00"
t_eq "a timestamp that is no number: 401" "$LF_STATUS" 401

# ---- bad bodies --------------------------------------------------------------------------------
hook /hooks/wake '{"mode": "now"}' "${AUTH[@]}"
t_eq "wake without text: 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
hook /hooks/wake "{\"text\": \"$(head -c 5000 /dev/zero | tr '\0' a)\"}" "${AUTH[@]}"
t_eq "wake text over 4096 bytes: 400" "$LF_STATUS" 400
hook /hooks/wake '{"text": "x", "mode": "later"}' "${AUTH[@]}"
t_eq "an unknown mode: 400" "$LF_STATUS" 400
hook /hooks/wake '{"text": ' "${AUTH[@]}"
t_eq "garbage: 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
hook /hooks/wake '["text"]' "${AUTH[@]}"
t_eq "not an object: 400" "$LF_STATUS" 400
LF_AUTH= lf_req POST /hooks/wake "" "${AUTH[@]}" -H 'Content-Type: application/json'
t_eq "no body: 400" "$LF_STATUS" 400
hook /hooks/agent '{"agent": "nobody-here", "message": "hi"}' "${AUTH[@]}"
t_eq "agent: an unknown agent: 404" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"
hook /hooks/agent '{"message": "hi"}' "${AUTH[@]}"
t_eq "agent: no agent at all: 404" "$LF_STATUS" 404

# ---- agent: a real turn --------------------------------------------------------------------
A=$(lf_agent first-hook m-a)
B2=$(lf_agent second-hook m-b)
hook /hooks/agent '{"agent": "second-hook"}' "${AUTH[@]}"
t_eq "agent: no message: 400" "$LF_STATUS" 400
hook /hooks/agent '{"agent": "second-hook", "message": "hi", "timeout_secs": 0}' "${AUTH[@]}"
t_eq "agent: timeout_secs 0: 400" "$LF_STATUS" 400
lf_fake_script '{"model": "m-b", "steps": [{"text": "reviewed by b", "usage": {"input_tokens": 11, "output_tokens": 7}}]}'
hook /hooks/agent '{"agent": "second-hook", "message": "Review the latest commit"}' "${AUTH[@]}"
t_eq "agent by name: 200 completed, the reply and its usage" \
    "$LF_STATUS $(jbc '[.status, .agent_id, .response, .usage]')" \
    "200 [\"completed\",\"$B2\",\"reviewed by b\",{\"input_tokens\":11,\"output_tokens\":7}]"
t_eq "the provider got the message" "$(lf_fake_requests m-b | jq -r '.[0].body.messages | map(select(.role == "user")) | .[-1].content')" "Review the latest commit"
lf_fake_script '{"model": "m-a", "steps": [{"text": "first answers"}]}'
hook /api/hooks/agent '{"message": "who?"}' "${AUTH[@]}"
t_eq "/api/hooks/agent without agent: the oldest one" "$LF_STATUS $(jbc '[.agent_id, .response]')" "200 [\"$A\",\"first answers\"]"
lf_fake_script '{"model": "m-b", "steps": [{"text": "by id"}]}'
hook /hooks/agent "{\"agent\": \"$B2\", \"message\": \"by id?\"}" "${AUTH[@]}"
t_eq "agent by id" "$LF_STATUS $(jb .response)" "200 by id"

# ---- wake: a trigger fires, a webhook is told ---------------------------------------------------
lf_trigger "$A" '{pattern: {content_match: {substring: "DEPLOY"}}, prompt_template: "Woken: {{event}}", cooldown_secs: 0}' >/dev/null
lf_fake_script '{"model": "m-a", "steps": [{"text": "noted"}]}'
lf_req POST /api/webhooks/events "{\"event_type\": \"webhook.wake\", \"url\": \"$LF_RCV/hook/wake\", \"secret\": \"wake-secret-01\"}"
lf_rcv_ctl wake wake-secret-01
N0=$(lf_fake_requests m-a | jq length)
hook /api/hooks/wake '{"text": "DEPLOY of service-x completed"}' "${AUTH[@]}"
t_eq "/api/hooks/wake: 200 with the event's id" "$LF_STATUS $(jb '.event_id | test("^[0-9a-f-]{36}$")')" "200 true"
EVID=$(jb .event_id)
t_ok "the trigger fired: a turn of its agent" lf_fake_wait m-a $((N0 + 1))
t_ok "whose prompt carries the wake's text" grep -q 'DEPLOY of service-x completed' <<<"$(lf_fake_requests m-a | jq -r '.[-1].body.messages | map(select(.role == "user")) | .[-1].content')"
has_wake() { [ "$(lf_rcv_count wake | jq .ok)" -ge 1 ]; }
t_ok "and the webhook_wake subscription was delivered" lf_poll 200 has_wake
t_eq "signed, the bus event as data" "$(curl -s "$LF_RCV/__log" | jq -c --arg e "$EVID" '[.[] | select(.name == "wake")][0] | [.ok, .event, .body.data.id == $e, .body.data.payload.data.text]')" \
    '[true,"webhook_wake",true,"DEPLOY of service-x completed"]'
lf_tail_failed api-gateway.log agent-runtime.log scheduler.log
t_done
