#!/usr/bin/env bash
# t7003-idempotency-a2a.sh - the Idempotency-Key header on A2A sends
# (POST /a2a message/send and message/stream, POST /a2a/tasks/send): a
# retried send is a new task whose turn gives the first one's answer, with
# one provider call; another body under the key fails the task with
# idempotency_key_reused; a bad key is 400 and runs nothing.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-idem-a2a-0123456789
lf_fake_stack agent-runtime
A=$(lf_agent helper m-a2a)
t_ok "an agent ($A)" test -n "$A"

SEND='{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {"kind": "message", "messageId": "m1", "role": "user", "parts": [{"kind": "text", "text": "once"}]}, "configuration": {"blocking": true}}}'
lf_fake_script '{"model": "m-a2a", "steps": [{"text": "a2a answer"}]}'
lf_req POST /a2a "$SEND" -H 'Idempotency-Key: a2a-1'
t_eq "message/send with a key: a completed task" "$LF_STATUS $(jbc '[.result.status.state, .result.artifacts[0].parts[0].text]')" \
    '200 ["completed","a2a answer"]'
T1=$(jb .result.id)
lf_req POST /a2a "$SEND" -H 'Idempotency-Key: a2a-1'
t_eq "retried: the same answer" "$LF_STATUS $(jbc '[.result.status.state, .result.artifacts[0].parts[0].text]')" \
    '200 ["completed","a2a answer"]'
t_ok "in a task of its own ($(jb .result.id))" test "$(jb .result.id)" != "$T1"
t_eq "the provider saw one request" "$(lf_fake_requests m-a2a | jq length)" 1

lf_req POST /a2a "${SEND/once/twice}" -H 'Idempotency-Key: a2a-1'
t_eq "another message under the key: a failed task" "$(jb .result.status.state)" failed
t_ok "saying why" grep -q "different request" <<<"$LF_BODY"
t_eq "and no provider call" "$(lf_fake_requests m-a2a | jq length)" 1

STREAM='{"jsonrpc": "2.0", "id": "s1", "method": "message/stream", "params": {"message": {"kind": "message", "messageId": "ms", "role": "user", "parts": [{"kind": "text", "text": "stream once"}]}}}'
lf_fake_script '{"model": "m-a2a", "steps": [{"text": "streamed a2a"}]}'
text_of() {
	printf '%s' "$LF_BODY" | sed -n 's/^data: //p' | jq -sc '[([.[] | select(.result.kind == "artifact-update") | .result.artifact.parts[0].text] | join("")), .[-1].result.status.state]'
}
lf_req POST /a2a "$STREAM" -H 'Idempotency-Key: a2a-2'
t_eq "message/stream with a key" "$LF_STATUS $(text_of)" '200 ["streamed a2a","completed"]'
lf_req POST /a2a "$STREAM" -H 'Idempotency-Key: a2a-2'
t_eq "retried: the same text streams" "$LF_STATUS $(text_of)" '200 ["streamed a2a","completed"]'
t_eq "two provider requests in all" "$(lf_fake_requests m-a2a | jq length)" 2

REST="{\"agent_id\": \"$A\", \"message\": {\"role\": \"user\", \"parts\": [{\"text\": \"rest once\"}]}}"
lf_fake_script '{"model": "m-a2a", "steps": [{"text": "rest answer"}]}'
lf_req POST /a2a/tasks/send "$REST" -H 'Idempotency-Key: a2a-3'
t_eq "POST /a2a/tasks/send with a key" "$LF_STATUS $(jbc '[.status, .result.parts[0].text]')" '200 ["completed","rest answer"]'
lf_req POST /a2a/tasks/send "$REST" -H 'Idempotency-Key: a2a-3'
t_eq "retried: the same answer" "$LF_STATUS $(jbc '[.status, .result.parts[0].text]')" '200 ["completed","rest answer"]'
t_eq "three provider requests in all" "$(lf_fake_requests m-a2a | jq length)" 3

lf_req POST /a2a "$SEND" -H 'Idempotency-Key;'
t_eq "an empty key is 400" "$LF_STATUS" 400
t_eq "and runs nothing" "$(lf_fake_requests m-a2a | jq length)" 3

lf_stack_stop
t_done
