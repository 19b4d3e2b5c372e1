#!/usr/bin/env bash
# t1503-agent-tools.sh - the tools that reach beyond the workspace, in real
# turns through the gateway against the fake LLM provider: notify_owner
# (owner_notice in the reply and as an SSE event before done), kv_set and
# kv_get through the memory service (and the manifest's memory globs),
# agent_send (one agent asks another and gets its answer; the depth limit
# stops a chain of agents asking each other) and agent_list.
. "$(dirname "$0")/../lib.sh"

# No provider key at all, so provider "auto" finds none (the last check);
# the agents at the fake name their own (after the loop, which would
# unset it too).
lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-tools-0123456789
lf_fake_stack agent-runtime memory

# agent NAME MODEL TOOLS [extra capabilities lines]: spawns, prints the id.
agent() {
	lf_agent "$1" "$2" "[capabilities]
tools = $3
${4:-}"
}
# The tool results the provider saw in request N (0-based) for MODEL.
results() {
	lf_fake_requests "$1" | jq -c "[.[$2].body.messages[] | select(.role == \"tool\") | .content]"
}

# ---- notify_owner ----------------------------------------------------------------
A=$(agent owner-a m-owner '["notify_owner"]')
lf_fake_script '{"model":"m-owner","steps":[
  {"tool_calls":[{"name":"notify_owner","arguments":{"reason":"billing","summary":"The card on file expires soon."}}]},
  {"text":"All set."}]}'
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'check my account')"
t_eq "notify_owner: the turn answers" "$LF_STATUS $(jb .response)" "200 All set."
t_ok "notify_owner: owner_notice carries the summary ($(jb .owner_notice))" \
    grep -q 'The card on file expires soon.' <<<"$(jb .owner_notice)"
t_ok "notify_owner: the model got only an acknowledgement" \
    test -n "$(results m-owner 1 | jq -r '.[0]')" -a \
    "$(results m-owner 1 | jq -r '.[0] | contains("card on file")')" = false

lf_fake_script '{"model":"m-owner","steps":[
  {"tool_calls":[{"name":"notify_owner","arguments":{"reason":"x","summary":"Streamed notice."}}]},
  {"text":"Streamed."}]}'
curl -sN -X POST -H 'Content-Type: application/json' --data-binary '{"message":"go"}' \
    -o "$LF_TMP/sse" "$LF_URL/api/agents/$A/message/stream"
EV=$(awk '/^event: /{print substr($0, 8)}' "$LF_TMP/sse" | uniq | tr '\n' ' ')
t_ok "SSE: owner_notice comes before done ($EV)" grep -q 'owner_notice done $' <<<"$EV"
t_ok "SSE: the owner_notice event has the text" grep -q '"text":".*Streamed notice.' "$LF_TMP/sse"

# ---- kv_set / kv_get -------------------------------------------------------------
K=$(agent kv-agent m-kv '["kv_set", "kv_get"]' 'memory_read = ["prefs.*"]
memory_write = ["prefs.*"]')
lf_fake_script '{"model":"m-kv","steps":[
  {"tool_calls":[{"name":"kv_set","arguments":{"key":"prefs.color","value":{"hue":"blue"}}}]},
  {"tool_calls":[{"name":"kv_get","arguments":{"key":"prefs.color"}}]},
  {"tool_calls":[{"name":"kv_set","arguments":{"key":"secret.pin","value":1234}}]},
  {"text":"Remembered."}]}'
lf_req POST "/api/agents/$K/message" "$(lf_msg_json 'remember blue')"
t_eq "kv: the turn answers" "$LF_STATUS $(jb .response) $(jb .iterations)" "200 Remembered. 4"
t_ok "kv_get returns what kv_set stored" grep -q 'blue' <<<"$(results m-kv 2 | jq -r '.[-1]')"
t_ok "kv_set outside memory_write is refused" grep -qi 'memory_write' <<<"$(results m-kv 3 | jq -r '.[-1]')"
t_eq "the value is in the memory service's table" \
    "$(lf_psql "SELECT value->>'hue' FROM memory.kv WHERE agent_id = '$K' AND key = 'prefs.color'")" "blue"
t_eq "the refused key was not written" \
    "$(lf_psql "SELECT count(*) FROM memory.kv WHERE agent_id = '$K' AND key = 'secret.pin'")" "0"

# ---- agent_send / agent_list -----------------------------------------------------
B=$(agent helper-b m-b '[]')
S=$(agent sender-a m-send '["agent_send", "agent_list"]')
lf_fake_script '{"model":"m-b","steps":[{"text":"pong from B"}]}'
lf_fake_script '{"model":"m-send","steps":[
  {"tool_calls":[{"name":"agent_list","arguments":{}}]},
  {"tool_calls":[{"name":"agent_send","arguments":{"agent_id":"helper-b","message":"ping"}}]},
  {"text":"B answered."}]}'
lf_req POST "/api/agents/$S/message" "$(lf_msg_json 'ask B')"
t_eq "agent_send: the turn answers" "$LF_STATUS $(jb .response)" "200 B answered."
t_ok "agent_list names the other agents" grep -q 'helper-b' <<<"$(results m-send 1 | jq -r '.[-1]')"
t_ok "agent_send hands back B's answer" grep -q 'pong from B' <<<"$(results m-send 2 | jq -r '.[-1]')"
SYS=$(lf_fake_requests m-send | jq -r '.[0].body.messages[0] | select(.role == "system") | .content')
t_ok "the system prompt lists the peers agent_send can reach" \
    grep -qz '## Peer Agents.*- helper-b' <<<"$SYS"
t_ok "but not the agent itself" test "$(grep -c '^- sender-a$' <<<"$SYS")" = 0
# The names come with the session's take (turn/session.c), oldest first.
t_eq "  every other agent, oldest first" \
    "$(sed -n '/^## Peer Agents/,/^$/p' <<<"$SYS" | sed -n 's/^- //p' | paste -sd, -)" \
    "$(lf_psql "SELECT string_agg(name, ',' ORDER BY created_at, id) FROM runtime.agents WHERE name <> 'sender-a'")"
t_eq "B's provider got the message" "$(lf_fake_requests m-b | jq -r '.[0].body.messages[-1].content')" "ping"

# A chain: c0 asks c1 asks c2 ... each with agent_send; the depth limit
# stops it with an error result handed back, and every turn still answers.
for i in 0 1 2 3 4; do
	C[$i]=$(agent "chain-$i" "m-c$i" '["agent_send"]')
done
for i in 0 1 2 3; do
	lf_fake_script "{\"model\":\"m-c$i\",\"steps\":[
	  {\"tool_calls\":[{\"name\":\"agent_send\",\"arguments\":{\"agent_id\":\"chain-$((i + 1))\",\"message\":\"pass it on\"}}]},
	  {\"text\":\"chain-$i done\"}]}"
done
lf_fake_script '{"model":"m-c4","steps":[{"text":"the end"}]}'
lf_req POST "/api/agents/${C[0]}/message" "$(lf_msg_json 'start')"
t_eq "a chain of agent_send answers at the top" "$LF_STATUS $(jb .response)" "200 chain-0 done"
DEEP=$(results m-c3 1 | jq -r '.[-1]')
t_ok "the agent at the depth limit gets an error result ($DEEP)" grep -qi 'depth' <<<"$DEEP"
t_eq "so the agent past the limit was never called" "$(lf_fake_requests m-c4 | jq length)" "0"
t_ok "the levels above got their callee's answer" grep -q 'chain-3 done' <<<"$(results m-c2 1 | jq -r '.[-1]')"

# ---- no provider configured at all ---------------------------------------------
lf_req POST /api/agents '{"template": "hello-world", "name": "unkeyed"}'
U=$(jb .agent_id)
lf_req POST "/api/agents/$U/message" "$(lf_msg_json 'hello?')"
t_eq "no key anywhere: 200 with provider_not_configured" \
    "$LF_STATUS $(jb .provider_not_configured)" "200 true"
t_ok "and the answer says which variable to set ($(jb .response))" \
    grep -q 'OPENAI_API_KEY' <<<"$(jb .response)"

t_done
