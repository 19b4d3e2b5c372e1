#!/usr/bin/env bash
# t3040-comms.sh - inter-agent communication (issue 8, "Comms"), through
# the gateway against the fake LLM provider: POST /api/comms/send runs the
# target's turn and records an AgentMessage event; POST /api/comms/task
# answers with the target's reply and usage (TaskPosted, TaskCompleted);
# GET /api/comms/events lists them newest first with limit; the SSE
# stream delivers an event live; an agent spawning another with the
# agent_spawn tool shows as a ParentChild edge of GET /api/comms/topology
# and an AgentSpawned event; agent_send between agents is recorded; bad
# input is a 4xx JSON error.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-comms-0123456789
lf_fake_stack agent-runtime memory

# agent NAME MODEL [capabilities lines]: spawns, prints the id.
agent() {
	lf_agent "$1" "$2" "${3:+[capabilities]
$3}"
}
# JSON for send/task: FROM TO KEY TEXT.
cj() { jq -nc --arg f "$1" --arg t "$2" --arg k "$3" --arg m "$4" '{from: $f, to: $t, ($k): $m}'; }

A=$(agent coder m-coder)
B=$(agent reviewer m-reviewer)

# ---- the SSE stream, opened first so it sees what follows ---------------------
curl -sN --max-time 20 -o "$LF_TMP/comms.sse" -D "$LF_TMP/comms.hdr" \
    "$LF_URL/api/comms/events/stream" &
SSE=$!
lf_poll 200 test -s "$LF_TMP/comms.sse" || echo "# the comms stream did not start within 10 s"
t_ok "stream: 200 text/event-stream" grep -qi '^content-type: text/event-stream' "$LF_TMP/comms.hdr"

# ---- send ------------------------------------------------------------------------
lf_fake_script '{"model":"m-reviewer","steps":[{"text":"looks good"}]}'
lf_req POST /api/comms/send "$(cj "$A" "$B" message 'Review this code please')"
t_eq "send: 200 sent" "$LF_STATUS $(jb .status)" "200 sent"
EID=$(jb .event_id)
t_ok "send: an event id ($EID)" test -n "$EID" -a "$EID" != null
t_eq "send: the target's turn ran with the message" \
    "$(lf_fake_requests m-reviewer | jq -r '.[0].body.messages[-1].content')" "Review this code please"

lf_req GET /api/comms/events
t_eq "events: the send is listed" "$LF_STATUS $(jb '.events[0].id') $(jb '.events[0].kind')" "200 $EID AgentMessage"
t_eq "events: source and target with names" \
    "$(jb '[.events[0].source_id, .events[0].source_name, .events[0].target_id, .events[0].target_name, .events[0].detail] | join(" ")')" \
    "$A coder $B reviewer Review this code please"
t_ok "events: an ISO timestamp ($(jb '.events[0].timestamp'))" \
    grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' <<<"$(jb '.events[0].timestamp')"
t_eq "events: total" "$(jb .total)" "1"

# The stream got it, within a bounded time.
lf_poll 200 grep -q "\"id\":\"$EID\"" "$LF_TMP/comms.sse" || echo "# the event did not arrive on the stream within 10 s"
t_ok "stream: an 'event: comms' frame carries the send" \
    grep -q "^data: {.*\"id\":\"$EID\".*\"kind\":\"AgentMessage\"" "$LF_TMP/comms.sse"
t_ok "stream: its event line says comms" grep -qx 'event: comms' "$LF_TMP/comms.sse"
kill "$SSE" 2>/dev/null; wait "$SSE" 2>/dev/null

# ---- task ------------------------------------------------------------------------
lf_fake_script '{"model":"m-reviewer","steps":[{"text":"Analysis: all fine","usage":{"input_tokens":150,"output_tokens":200}}]}'
lf_req POST /api/comms/task "$(cj "$A" "$B" prompt 'Analyze this data')"
t_eq "task: 200 completed with the reply" "$LF_STATUS $(jb .status) $(jb .response)" "200 completed Analysis: all fine"
t_eq "task: usage" "$(jbc .usage)" '{"input_tokens":150,"output_tokens":200}'
lf_req GET '/api/comms/events?limit=2'
t_eq "events: newest first, limit 2" "$(jb '[.events[].kind] | join(" ")') $(jb .total)" "TaskCompleted TaskPosted 3"
t_eq "events: the task's answer is the completion's detail, from the target" \
    "$(jb '.events[0].detail') $(jb '.events[0].source_id')" "Analysis: all fine $B"

# ---- agent_spawn: a ParentChild edge --------------------------------------------
P=$(agent boss m-boss 'tools = ["agent_spawn", "file_read", "agent_send"]')
lf_fake_script '{"model":"m-boss","steps":[
  {"tool_calls":[{"name":"agent_spawn","arguments":{"name":"worker-1","system_prompt":"You \"work\".","tools":["file_read"]}}]},
  {"tool_calls":[{"name":"agent_spawn","arguments":{"name":"worker-2","system_prompt":"x","tools":["shell_exec"]}}]},
  {"text":"Spawned."}]}'
lf_req POST "/api/agents/$P/message" "$(lf_msg_json 'make a worker')"
t_eq "spawn: the parent's turn answers" "$LF_STATUS $(jb .response)" "200 Spawned."
R1=$(lf_fake_requests m-boss | jq -r '[.[1].body.messages[] | select(.role == "tool") | .content][-1]')
t_ok "spawn: the tool says so ($(head -1 <<<"$R1"))" grep -q 'Agent spawned successfully' <<<"$R1"
R2=$(lf_fake_requests m-boss | jq -r '[.[2].body.messages[] | select(.role == "tool") | .content][-1]')
t_ok "spawn: a tool the parent lacks is refused ($R2)" grep -q 'Privilege escalation denied' <<<"$R2"
W=$(lf_psql "SELECT id FROM runtime.agents WHERE name = 'worker-1'")
t_ok "spawn: the child exists ($W)" test -n "$W"
t_eq "spawn: worker-2 does not" "$(lf_psql "SELECT count(*) FROM runtime.agents WHERE name = 'worker-2'")" 0
lf_req GET "/api/agents/$W"
t_eq "spawn: the child runs the parent's model, with the prompt and tools given" \
    "$(jb '.model_name // .model.model // empty' | head -1) $(jb '.system_prompt // .manifest.model.system_prompt // empty' | head -1)" \
    "m-boss You \"work\"."

lf_req GET /api/comms/topology
t_eq "topology: 200" "$LF_STATUS" 200
t_eq "topology: a node per agent" "$(jb '.nodes | length')" \
    "$(lf_psql 'SELECT count(*) FROM runtime.agents')"
t_eq "topology: a node's fields" \
    "$(jbc --arg a "$A" '.nodes[] | select(.id == $a) | [.name, .state, .model]')" \
    '["coder","Running","m-coder"]'
t_eq "topology: the ParentChild edge, and no other" "$(jbc '.edges')" \
    "[{\"from\":\"$P\",\"to\":\"$W\",\"kind\":\"ParentChild\"}]"
lf_req GET '/api/comms/events?limit=1'
t_eq "events: AgentSpawned from the parent to the child" \
    "$(jb '[.events[0].kind, .events[0].source_id, .events[0].target_id, .events[0].target_name] | join(" ")')" \
    "AgentSpawned $P $W worker-1"

# A default agent has no agent_spawn (it is never a default).
lf_req GET "/api/agents/$A/tools"
t_ok "a default agent is not offered agent_spawn" test "$(jb '[.. | strings | select(. == "agent_spawn")] | length')" = 0

# ---- agent_send between agents is recorded --------------------------------------
lf_fake_script '{"model":"m-reviewer","steps":[{"text":"ack"}]}'
lf_fake_script '{"model":"m-boss","steps":[
  {"tool_calls":[{"name":"agent_send","arguments":{"agent_id":"reviewer","message":"status?"}}]},
  {"text":"Asked."}]}'
lf_req POST "/api/agents/$P/message" "$(lf_msg_json 'ask the reviewer')"
t_eq "agent_send: the turn answers" "$LF_STATUS $(jb .response)" "200 Asked."
lf_req GET '/api/comms/events?limit=1'
t_eq "agent_send: an AgentMessage event" \
    "$(jb '[.events[0].kind, .events[0].source_name, .events[0].target_name, .events[0].detail] | join(" ")')" \
    "AgentMessage boss reviewer status?"
N=$(jb .total)

# ---- bad input --------------------------------------------------------------------
Z=00000000-0000-4000-8000-000000000000
bad() {	# DESC STATUS PATH BODY
	lf_req POST "$3" "$4"
	t_eq "$1: $2" "$LF_STATUS" "$2"
	t_ok "$1: a JSON error ($(jb .error))" lf_err_shape
}
bad "send: from == to" 400 /api/comms/send "$(cj "$A" "$A" message hi)"
bad "send: unknown target" 404 /api/comms/send "$(cj "$A" "$Z" message hi)"
bad "send: unknown sender" 404 /api/comms/send "$(cj "$Z" "$B" message hi)"
bad "send: not a UUID" 400 /api/comms/send "$(cj coder "$B" message hi)"
bad "send: empty message" 400 /api/comms/send "$(cj "$A" "$B" message '')"
bad "send: message not a string" 400 /api/comms/send "{\"from\":\"$A\",\"to\":\"$B\",\"message\":5}"
bad "send: missing to" 400 /api/comms/send "{\"from\":\"$A\",\"message\":\"x\"}"
bad "send: unknown field" 400 /api/comms/send "{\"from\":\"$A\",\"to\":\"$B\",\"message\":\"x\",\"x\":1}"
bad "send: not an object" 400 /api/comms/send '[1]'
bad "send: malformed JSON" 400 /api/comms/send '{"from":'
bad "task: missing prompt" 400 /api/comms/task "$(cj "$A" "$B" message hi)"
bad "task: unknown target" 404 /api/comms/task "$(cj "$A" "$Z" prompt hi)"
head -c 1048577 /dev/zero | tr '\0' a > "$LF_TMP/big"
jq -nc --arg f "$A" --arg t "$B" --rawfile m "$LF_TMP/big" '{from: $f, to: $t, message: $m}' > "$LF_TMP/big.json"
lf_req POST /api/comms/send "@$LF_TMP/big.json"
t_ok "send: a message over 1 MiB is refused with a 4xx ($LF_STATUS)" test "$LF_STATUS" -ge 400 -a "$LF_STATUS" -lt 500
lf_req GET /api/comms/events
t_eq "refused input recorded nothing" "$(jb .total)" "$N"
for q in 'limit=0' 'limit=-1' 'limit=x' 'limit=1.5'; do
	lf_req GET "/api/comms/events?$q"
	t_eq "events ?$q: 400" "$LF_STATUS" 400
done
lf_req GET '/api/comms/events?limit=999999'
t_eq "events: a large limit is clamped, not refused" "$LF_STATUS $(jb '.events | length')" "200 $N"

# The target of a failed turn: its error, as the turn gave it.
lf_fake_script '{"model":"m-reviewer","steps":[{"status":500},{"status":500},{"status":500},{"status":500}]}'
lf_req POST /api/comms/task "$(cj "$A" "$B" prompt 'fail please')"
t_ok "task: a failed turn is not 200 completed ($LF_STATUS $(jb .status))" test "$(jb .status)" != completed
curl -s -m 10 -o /dev/null -X POST "$LF_FAKE_URL/__fake/reset"

# ---- the stream ends cleanly when the client goes away ----------------------------
for i in 1 2 3; do
	curl -sN --max-time 1 -o /dev/null "$LF_URL/api/comms/events/stream"
done
lf_req POST /api/comms/send "$(cj "$A" "$B" message 'after the clients left')"
t_eq "send after clients left the stream: 200" "$LF_STATUS" 200
lf_req GET /api/health
t_eq "the gateway is still healthy" "$LF_STATUS" 200

# ---- agent-runtime stops while a task waits on its turn ---------------------------
lf_fake_script '{"model":"m-reviewer","steps":[{"text":"too late","delay_ms":8000}]}'
curl -s -m 30 -o "$LF_TMP/task.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "$(cj "$A" "$B" prompt 'slow one')" "$LF_URL/api/comms/task" >"$LF_TMP/task.code" &
TP=$!
lf_fake_wait m-reviewer 1 || echo "# the slow task's turn did not reach the provider within 10 s"
lf_stop agent-runtime
# One that waited for the turn (8 s) would be killed (lf_stop, exit 137).
t_eq "agent-runtime stops with a task in flight: exit 0, not killed (${LF_STOP_MS} ms)" "$LF_EXIT" 0
wait "$TP"
t_eq "the task is answered 503 (shutting down)" "$(cat "$LF_TMP/task.code")" 503
t_ok "with a JSON error ($(cat "$LF_TMP/task.out"))" jq -e '.error | type == "string"' "$LF_TMP/task.out"

# ---- the gateway stops with a stream open -----------------------------------------
curl -sN --max-time 20 -o "$LF_TMP/comms2.sse" "$LF_URL/api/comms/events/stream" &
SP=$!
lf_poll 200 test -s "$LF_TMP/comms2.sse" || echo "# the comms stream did not start within 10 s"
lf_stop api-gateway
# One that waited for the stream (curl's 20 s) would be killed.
t_eq "SIGTERM with a comms stream open: exit 0, not killed (${LF_STOP_MS} ms)" "$LF_EXIT" 0
wait "$SP"
t_eq "and the stream ended cleanly (curl exit 0, not its 20 s timeout)" "$?" 0

t_done
