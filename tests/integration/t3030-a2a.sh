#!/usr/bin/env bash
# A2A both ways (notes/protocols.md 4; gw_a2a.c, agent-runtime's a2a/).
# Server: the cards (v0.3 at agent.json, v1.0 at agent-card.json), the
# local agent list, the reference's REST task routes, JSON-RPC in every
# dialect (message/send, tasks/get, tasks/cancel; SendMessage, GetTask,
# CancelTask; the reference's tasks/send) with the turn's text from the
# fake provider, JSON-RPC errors for bad requests, tasks kept across an
# agent-runtime restart; message/stream and SendStreamingMessage on the
# raw wire (the task, artifact updates as the provider streams, a final
# status; a turn failing mid-stream, a client leaving, gateway shutdown).  Client: discovery and sends to a peer built
# with @a2a-js/sdk (tests/fakes/a2a-peer.mjs) in v1.0 and v0.3, to this
# same stack as a LibreFang peer, to scripted peers (a task still working,
# then completed on GetTask; the reference's tasks/send dialect); SSRF
# refusals without the allowlist; peers that answer garbage, too much or
# never.  Then the SDK's own client against our server
# (tests/e2e/a2a.test.mjs), and which routes an API key guards.
. "$(dirname "$0")/../lib.sh"

lf_fake_start
P_PEER=$(lf_free_port)
P_GARBAGE=$(lf_free_port)
P_SILENT=$(lf_free_port)
P_UNTRUSTED=$(lf_free_port)
export FAKE_API_KEY=sk-fake
lf_config "[a2a]
timeout_secs = 2
trusted_peers = [\"127.0.0.1:$P_PEER\", \"127.0.0.1:$P_GARBAGE\", \"127.0.0.1:$P_SILENT\", \"127.0.0.1:$LF_PORT\"]"
lf_stack_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not join"; lf_dump_logs; exit 1; }

# ---- the cards and the agent list ------------------------------------------
lf_req GET /.well-known/agent.json
t_eq "GET /.well-known/agent.json is 200 before any agent exists" "$LF_STATUS" 200
t_eq "the reference's card fields" "$(jbc '[.name, .description, .version, (.capabilities|has("streaming")), (.capabilities.pushNotifications)]')" \
    '["LibreFang","LibreFang Agent Operating System","0.1.0",true,false]'
t_eq "a v0.3 card: url is the JSON-RPC endpoint" "$(jbc '[.protocolVersion, .url, .preferredTransport, .defaultInputModes]')" \
    "[\"0.3.0\",\"http://127.0.0.1:$LF_PORT/a2a\",\"JSONRPC\",[\"text\"]]"
t_eq "with no agent, one chat skill (tags present)" "$(jbc '[.skills[] | [.id, (.tags|type)]]')" '[["chat","array"]]'

lf_req POST /api/agents "$(lf_spawn_json "description = \"Helps with A2A\"
tags = [\"help\", \"a2a\"]
$(lf_fake_toml helper a2a-model)")"
t_eq "spawn the agent" "$LF_STATUS" 201
A=$(jb .agent_id)

lf_req GET /.well-known/agent-card.json
t_eq "GET /.well-known/agent-card.json is 200" "$LF_STATUS" 200
t_eq "a v1.0 card: JSONRPC 1.0 and 0.3 interfaces, no top-level url" \
    "$(jbc '[[.supportedInterfaces[] | "\(.protocolBinding) \(.protocolVersion) \(.url)"], has("url")]')" \
    "[[\"JSONRPC 1.0 http://127.0.0.1:$LF_PORT/a2a\",\"JSONRPC 0.3 http://127.0.0.1:$LF_PORT/a2a\"],false]"
t_eq "one skill per agent, with its description and tags" "$(jbc '[.skills[] | [.id, .description, .tags]]')" \
    '[["helper","Helps with A2A",["help","a2a"]]]'
lf_req GET /a2a/agents
t_eq "GET /a2a/agents lists the agent" "$(jbc '[.total, .agents[0].id == "'$A'", .agents[0].name, .agents[0].description]')" \
    '[1,true,"helper","Helps with A2A"]'

# ---- the reference's REST task routes ---------------------------------------
lf_fake_script '{"model": "a2a-model", "steps": [{"text": "REST reply"}]}'
lf_req POST /a2a/tasks/send "{\"agent_id\": \"$A\", \"message\": {\"role\": \"user\", \"parts\": [{\"text\": \"review this\"}]}}"
t_eq "POST /a2a/tasks/send runs the turn: 200" "$LF_STATUS" 200
t_eq "the reference's shape: task_id, status, result" "$(jbc '[.status, .result.role, .result.parts[0].text, .agent_id == "'$A'"]')" \
    '["completed","agent","REST reply",true]'
T1=$(jb .task_id)
t_eq "the provider got the message's text" "$(lf_fake_requests a2a-model | jq -r '.[-1].body.messages[-1].content')" "review this"
lf_req GET "/a2a/tasks/$T1"
t_eq "GET /a2a/tasks/{id}" "$(jbc '[.task_id == "'$T1'", .status, .result.parts[0].text, (.created_at|type), (.completed_at|type)]')" \
    '[true,"completed","REST reply","string","string"]'
lf_req POST "/a2a/tasks/$T1/cancel"
t_eq "a completed task cannot be canceled: 409" "$LF_STATUS" 409
lf_req GET /a2a/tasks/00000000-0000-4000-8000-000000000000
t_eq "an unknown task: 404 JSON" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"
lf_req GET /a2a/tasks/not-a-uuid
t_eq "a malformed task id: 404" "$LF_STATUS" 404
lf_req POST /a2a/tasks/send '{"params": {"agentId": "'$A'", "message": {"role": "user", "parts": [{"type": "text", "text": "upstream shape"}]}}}'
t_eq "the upstream body {params: {message, agentId}} works too" "$LF_STATUS $(jb .result.parts[0].text)" "200 echo: upstream shape"
lf_req POST /a2a/tasks/send '{"message": {"role": "user", "parts": [{"file": {"uri": "x"}}]}}'
t_eq "a message without text: 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
lf_req POST /a2a/tasks/send '{"agent_id": "nobody", "message": "hi"}'
t_eq "an unknown agent: 404" "$LF_STATUS" 404
lf_req POST /a2a/tasks/send '{"message": '
t_eq "malformed JSON: 400" "$LF_STATUS" 400
lf_req POST /a2a/tasks/send '[1, 2]'
t_eq "a body that is no object: 400" "$LF_STATUS" 400

# ---- JSON-RPC ------------------------------------------------------------------
rpc() { lf_req POST /a2a "$1"; }
rpc '{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {"kind": "message", "messageId": "m1", "role": "user", "parts": [{"kind": "text", "text": "v03 hello"}]}, "configuration": {"blocking": true}}}'
t_eq "message/send: a v0.3 task" "$LF_STATUS $(jbc '[.jsonrpc, .id, .result.kind, .result.status.state, .result.artifacts[0].parts[0].kind, .result.artifacts[0].parts[0].text]')" \
    '200 ["2.0",1,"task","completed","text","echo: v03 hello"]'
t_eq "its history: the user's message (its messageId kept), then the agent's" \
    "$(jbc '[.result.history[] | [.kind, .role, .parts[0].text]] + [.result.history[0].messageId]')" \
    '[["message","user","v03 hello"],["message","agent","echo: v03 hello"],"m1"]'
V03=$(jb .result.id)
rpc '{"jsonrpc": "2.0", "id": "g", "method": "tasks/get", "params": {"id": "'$V03'", "historyLength": 1}}'
t_eq "tasks/get: the same task, history cut to historyLength" "$(jbc '[.id, .result.id == "'$V03'", .result.status.state, (.result.history|length), .result.history[0].role]')" \
    '["g",true,"completed",1,"agent"]'
rpc '{"jsonrpc": "2.0", "id": 2, "method": "SendMessage", "params": {"message": {"messageId": "m2", "role": "ROLE_USER", "parts": [{"text": "v1 hello"}]}, "configuration": {}}}'
t_eq "SendMessage: {task} in protobuf JSON" "$(jbc '[.result.task.status.state, .result.task.artifacts[0].parts[0].text, .result.task.history[1].role, (.result.task|has("kind"))]')" \
    '["TASK_STATE_COMPLETED","echo: v1 hello","ROLE_AGENT",false]'
V10=$(jb .result.task.id)
rpc '{"jsonrpc": "2.0", "id": 3, "method": "GetTask", "params": {"id": "'$V10'"}}'
t_eq "GetTask: the task itself" "$(jbc '[.result.id == "'$V10'", .result.status.state]')" '[true,"TASK_STATE_COMPLETED"]'
rpc '{"jsonrpc": "2.0", "id": 4, "method": "tasks/send", "params": {"id": "x", "sessionId": "s-1", "message": {"role": "user", "parts": [{"type": "text", "text": "old dialect"}]}}}'
t_eq "the reference's tasks/send: a task with sessionId and messages" "$(jbc '[.result.status.state, .result.sessionId, .result.messages[1].parts[0].text, .result.contextId]')" \
    '["completed","s-1","echo: old dialect","s-1"]'
rpc '{"jsonrpc": "2.0", "id": 5, "method": "tasks/cancel", "params": {"id": "'$V03'"}}'
t_eq "tasks/cancel of a completed task: -32002" "$(jbc '[.id, .error.code]')" '[5,-32002]'
rpc '{"jsonrpc": "2.0", "id": 6, "method": "tasks/get", "params": {"id": "00000000-0000-4000-8000-000000000000"}}'
t_eq "tasks/get of an unknown task: -32001" "$(jbc '[.id, .error.code]')" '[6,-32001]'
rpc '{"jsonrpc": "2.0", "id": 7, "method": "GetTask", "params": {"id": "nope"}}'
t_eq "GetTask of a malformed id: -32001" "$(jbc .error.code)" -32001

# Bad input: each a JSON-RPC error, HTTP 200, never a crash.
rpc '{"jsonrpc": "2.0", "id": 1, "method": '
t_eq "malformed JSON: -32700, id null" "$LF_STATUS $(jbc '[.error.code, .id]')" '200 [-32700,null]'
rpc '[{"jsonrpc": "2.0", "id": 1, "method": "tasks/get"}]'
t_eq "a batch: -32600" "$(jbc .error.code)" -32600
rpc '{"jsonrpc": "1.0", "id": 1, "method": "tasks/get", "params": {}}'
t_eq "jsonrpc not 2.0: -32600" "$(jbc .error.code)" -32600
rpc '{"jsonrpc": "2.0", "id": {"x": 1}, "method": "tasks/get"}'
t_eq "an object id: -32600" "$(jbc .error.code)" -32600
rpc '{"jsonrpc": "2.0", "id": 1, "method": "no/such"}'
t_eq "an unknown method: -32601" "$(jbc .error.code)" -32601
rpc '{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": []}'
t_eq "params not an object: -32602" "$(jbc .error.code)" -32602
rpc '{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {"role": "user", "parts": "x"}}}'
t_eq "parts not an array: -32602" "$(jbc .error.code)" -32602
rpc '{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {"role": "user", "parts": [{"kind": "data", "data": {}}]}}}'
t_eq "only non-text parts: -32005" "$(jbc .error.code)" -32005
rpc '{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {"role": "agent", "parts": [{"kind": "text", "text": "x"}]}}}'
t_eq "a message from the agent role: -32602" "$(jbc .error.code)" -32602
rpc '{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {"role": "user", "parts": [{"text": "x"}]}, "metadata": {"agent_id": "no-such-agent"}}}'
t_eq "an unknown agent: -32602" "$(jbc .error.code)" -32602
rpc '{"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}}'
t_eq "ListTasks: every inbound task so far, newest first, in pages" "$(jbc '.result | [.totalSize > 0, .pageSize == (.tasks|length), (.tasks[0].status.state|startswith("TASK_STATE_")), (.nextPageToken|type)]')" '[true,true,true,"string"]'
rpc '{"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {"status": "TASK_STATE_NO_SUCH"}}'
t_eq "ListTasks with an unknown state: -32602" "$(jbc .error.code)" -32602
rpc '{"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {"pageSize": 0}}'
t_eq "ListTasks with pageSize 0: -32602" "$(jbc .error.code)" -32602
rpc '{"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {"pageToken": "x1"}}'
t_eq "ListTasks with a token we did not give: -32602" "$(jbc .error.code)" -32602
rpc '{"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {"statusTimestampAfter": "yesterday"}}'
t_eq "ListTasks with a bad time: -32602" "$(jbc .error.code)" -32602
rpc '{"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {"pageToken": "1000000"}}'
t_eq "ListTasks past the end: no task, the total still counted" "$(jbc '.result | [(.tasks|length), .totalSize > 0, .nextPageToken]')" '[0,true,""]'
rpc '{"jsonrpc": "2.0", "id": "s1", "method": "message/stream", "params": {"message": {"kind": "message", "messageId": "ms", "role": "user", "parts": [{"kind": "text", "text": "stream it"}]}}}'
t_eq "message/stream: server-sent events" "$LF_STATUS $(lf_hdr content-type)" "200 text/event-stream"
t_eq "the task first (working), the text, a final completed status last" \
    "$(printf '%s' "$LF_BODY" | sed -n 's/^data: //p' | jq -sc '[.[0].id, .[0].result.kind, .[0].result.status.state, ([.[] | select(.result.kind == "artifact-update") | .result.artifact.parts[0].text] | join("")), .[-1].result.kind, .[-1].result.status.state, .[-1].result.final]')" \
    '["s1","task","working","echo: stream it","status-update","completed",true]'

# The wire, as the turn runs: a2a_stream JSON NAME keeps each line of the
# stream with its arrival time (ms) in $LF_TMP/NAME.
a2a_stream() {
	curl -sN -m 30 -H 'Content-Type: application/json' -d "$1" "$LF_URL/a2a" |
	    while IFS= read -r l; do printf '%s %s\n' "$(date +%s%3N)" "$l"; done > "$LF_TMP/$2"
}
a2a_events() { sed -n 's/^[0-9]* data: //p' "$LF_TMP/$1" | jq -sc "$2"; }
lf_fake_script '{"model": "a2a-model", "steps": [{"text": "one two three four five", "chunk_delay_ms": 150}]}'
a2a_stream '{"jsonrpc": "2.0", "id": "w1", "method": "message/stream", "params": {"message": {"kind": "message", "messageId": "mw", "role": "user", "parts": [{"kind": "text", "text": "count"}]}}}' w03
t_eq "v0.3 stream: a working Task first, with its ids" \
    "$(a2a_events w03 '.[0] | [.id, .result.kind, .result.status.state, (.result.id|length), (.result.contextId|length), .result.history[0].messageId]')" \
    '["w1","task","working",36,36,"mw"]'
t_ok "several artifact updates, one per delta ($(a2a_events w03 '[.[] | select(.result.kind == "artifact-update")] | length'))" \
    test "$(a2a_events w03 '[.[] | select(.result.kind == "artifact-update")] | length')" -ge 3
t_eq "their text is the answer; append after the first; the last chunk marked" \
    "$(a2a_events w03 '[.[] | .result | select(.kind == "artifact-update")] | [(map(.artifact.parts[0].text) | join("")), .[0].append, .[1].append, .[-1].lastChunk, (map(.taskId) | unique | length), (map(.artifact.artifactId) | unique | length)]')" \
    '["one two three four five",false,true,true,1,1]'
t_eq "a final completed status-update ends it, for the same task and context" \
    "$(a2a_events w03 '[.[-1].result.kind, .[-1].result.status.state, .[-1].result.final, .[-1].result.taskId == .[0].result.id, .[-1].result.contextId == .[0].result.contextId, (.[-1].result.status.timestamp|length > 0)]')" \
    '["status-update","completed",true,true,true,true]'
T_FIRST=$(grep -m1 'artifact-update' "$LF_TMP/w03" | cut -d' ' -f1)
T_LAST=$(grep 'status-update' "$LF_TMP/w03" | cut -d' ' -f1)
t_ok "streamed as it was made: the first text came $((T_LAST - T_FIRST)) ms before the end" \
    test "$((T_LAST - T_FIRST))" -ge 300
TS=$(a2a_events w03 '.[0].result.id' | tr -d '"')
rpc '{"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "'$TS'"}}'
t_eq "tasks/get on the streamed task: completed, the same text" "$(jbc '[.result.status.state, .result.artifacts[0].parts[0].text]')" \
    '["completed","one two three four five"]'

lf_fake_script '{"model": "a2a-model", "steps": [{"text": "alpha beta gamma", "chunk_delay_ms": 50}]}'
a2a_stream '{"jsonrpc": "2.0", "id": 7, "method": "SendStreamingMessage", "params": {"message": {"messageId": "mv", "role": "ROLE_USER", "parts": [{"text": "v1"}]}}}' w10
t_eq "v1.0 stream: {task} working, {artifactUpdate}s with the text, {statusUpdate} completed" \
    "$(a2a_events w10 '[.[0].id, .[0].result.task.status.state, ([.[] | .result.artifactUpdate | select(. != null) | .artifact.parts[0].text] | join("")), .[-1].result.statusUpdate.status.state, (.[-1].result.statusUpdate.taskId == .[0].result.task.id), (.[-1].result.statusUpdate | has("final"))]')" \
    '[7,"TASK_STATE_WORKING","alpha beta gamma","TASK_STATE_COMPLETED",true,false]'

# A turn that fails mid-stream (the provider drops the stream, then
# refuses the retry): a final failed status with the error.
lf_fake_script '{"model": "a2a-model", "steps": [{"text": "partial words before the drop", "chunk_delay_ms": 50, "break_after_chunks": 3}, {"status": 400}]}'
a2a_stream '{"jsonrpc": "2.0", "id": "f1", "method": "message/stream", "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": "fail midway"}]}}}' fail
t_eq "a failed turn mid-stream: text went out, then a final failed status with a message" \
    "$(a2a_events fail '[([.[] | select(.result.kind == "artifact-update")] | length > 0), .[-1].result.kind, .[-1].result.status.state, .[-1].result.final, (.[-1].result.status.message.parts[0].text | length > 0)]')" \
    '[true,"status-update","failed",true,true]'
t_eq "... and the task is failed" "$(lf_psql "SELECT state FROM runtime.a2a_tasks WHERE id = '$(a2a_events fail '.[0].result.id' | tr -d '"')'")" failed

# A client that goes away mid-stream: the turn runs to its end, the
# gateway carries on.
lf_fake_script '{"model": "a2a-model", "steps": [{"text": "a b c d e f g h", "chunk_delay_ms": 250}]}'
curl -sN -m 1 -H 'Content-Type: application/json' -o "$LF_TMP/gone" \
    -d '{"jsonrpc": "2.0", "id": "g1", "method": "message/stream", "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": "leave early"}]}}}' "$LF_URL/a2a"
t_ok "the client left after some of the stream" grep -q 'artifact-update' "$LF_TMP/gone"
TG=$(sed -n 's/^data: //p' "$LF_TMP/gone" | head -1 | jq -r .result.id)
lf_gone_done() { [ "$(lf_psql "SELECT state FROM runtime.a2a_tasks WHERE id = '$TG'")" = completed ]; }
lf_poll 200 lf_gone_done || echo "# the abandoned task never completed"
t_eq "its task still completes" "$(lf_psql "SELECT state || ' ' || response FROM runtime.a2a_tasks WHERE id = '$TG'")" "completed a b c d e f g h"
lf_req GET /api/health
t_eq "the gateway is fine after the client left" "$LF_STATUS" 200

# The runtime side of a streamed send: the gateway names the task.
bt() { "$LF_BIN/bustool" "$@"; }
t_eq "a2a.tasks.send with a task_id that is no uuid: 400" \
    "$(bt -t 5000 req agent-runtime a2a.tasks.send '{"body": {"text": "x", "task_id": "nope"}}' | jq -r .status)" 400
t_eq "a2a.tasks.send with a task_id that is taken: 409" \
    "$(bt -t 5000 req agent-runtime a2a.tasks.send '{"body": {"text": "x", "task_id": "'$TS'"}}' | jq -r .status)" 409
rpc '{"jsonrpc": "2.0", "id": 1, "method": "message/stream", "params": {}}'
t_eq "message/stream without a message: a plain JSON-RPC error" "$(lf_hdr content-type) $(jbc .error.code)" "application/json -32602"
rpc '{"jsonrpc": "2.0", "id": 1, "method": "tasks/pushNotificationConfig/set", "params": {}}'
t_eq "push notification config: -32003" "$(jbc .error.code)" -32003
rpc '{"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": 5}}'
t_eq "a task id that is no string: -32602" "$(jbc .error.code)" -32602

# Hostile shapes: nesting past the parser's limit, deep metadata, a huge id.
DEEP=$(printf '%0.s[' $(seq 3000))
rpc "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"message/send\", \"params\": $DEEP}"
t_eq "nesting 3000 deep: -32700" "$LF_STATUS $(jbc .error.code)" "200 -32700"
NEST=$(printf '%0.s{"a":' $(seq 500))1$(printf '%0.s}' $(seq 500))
rpc "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"message/send\", \"params\": {\"message\": {\"role\": \"user\", \"parts\": [{\"text\": \"deep\"}], \"metadata\": $NEST}}}"
t_eq "metadata 500 deep: an answer, not a crash" "$LF_STATUS $(jbc '(.result.status.state // .error.code)')" "200 \"completed\""
printf '{"jsonrpc": "2.0", "id": "%s", "method": "nope"}' "$(head -c 300000 /dev/zero | tr '\0' x)" > "$LF_TMP/bigid.json"
LF_BODY=$(curl -s -m 30 -H 'Content-Type: application/json' --data-binary @"$LF_TMP/bigid.json" "$LF_URL/a2a")
t_eq "a 300 KB id is echoed in its error" "$(jbc .error.code) $(jb .id | wc -c)" "-32601 300001"
lf_req GET /api/health
t_eq "the gateway is fine" "$LF_STATUS" 200

# A failing turn is a failed task, with the provider's error on its status.
lf_fake_script '{"model": "a2a-model", "steps": [{"status": 400, "body": {"error": {"message": "bad request upstream"}}}]}'
rpc '{"jsonrpc": "2.0", "id": 8, "method": "message/send", "params": {"message": {"kind": "message", "messageId": "m3", "role": "user", "parts": [{"kind": "text", "text": "fail please"}]}}}'
t_eq "a failed turn: state failed with a status message" "$(jbc '[.result.status.state, (.result.status.message.parts[0].text|length > 0), (.result.artifacts|length)]')" \
    '["failed",true,0]'

# A cancel while the turn runs (its answer takes 10 s, time enough on a
# slow machine to see it working): canceled at once, and the turn's late
# outcome does not revive the task.
lf_fake_script '{"model": "a2a-model", "steps": [{"text": "too late", "delay_ms": 10000}]}'
curl -s -m 30 -o "$LF_TMP/slow.json" -H 'Content-Type: application/json' \
    -d '{"message": {"role": "user", "parts": [{"text": "take your time"}]}}' "$LF_URL/a2a/tasks/send" &
SLOW=$!
lf_is_working() { [ -n "$(lf_psql "SELECT id FROM runtime.a2a_tasks WHERE state = 'working'")" ]; }
lf_poll 200 lf_is_working || echo "# the slow task never showed as working"
TW=$(lf_psql "SELECT id FROM runtime.a2a_tasks WHERE state = 'working'")
lf_req GET "/a2a/tasks/$TW"
t_eq "a running task is working" "$(jb .status)" working
lf_req POST "/a2a/tasks/$TW/cancel"
t_eq "cancel it: 200 cancelled" "$LF_STATUS $(jbc '[.task_id == "'$TW'", .status]')" '200 [true,"cancelled"]'
timeout 30 tail --pid=$SLOW -f /dev/null || echo "# the slow send did not end"
t_eq "the sender gets the task, canceled" "$(jq -r .status "$LF_TMP/slow.json")" cancelled
rpc '{"jsonrpc": "2.0", "id": 10, "method": "tasks/get", "params": {"id": "'$TW'"}}'
t_eq "and it stays canceled, without the late answer" "$(jbc '[.result.status.state, (.result.artifacts|length)]')" '["canceled",0]'
t_eq "its turn was stopped, not run to the end" "$(lf_psql "SELECT outcome FROM runtime.turn_records ORDER BY id DESC LIMIT 1")" interrupted

# A context is a conversation of its own: its tasks share a session,
# apart from the agent's current one.
lf_req GET "/api/agents/$A"
CUR=$(jb .session_id)
CTX=$(cat /proc/sys/kernel/random/uuid)
for w in first second; do
	lf_req POST /a2a/tasks/send '{"message": {"role": "user", "contextId": "'$CTX'", "parts": [{"text": "'$w' in context"}]}}'
done
t_eq "the second task of a context sees the first in its history" "$(lf_fake_requests a2a-model | jq -c '[.[-1].body.messages[] | select(.role == "user") | .content]')" '["first in context","second in context"]'
lf_req GET "/api/agents/$A"
t_eq "the agent's current session is not the context's" "$(jb .session_id)" "$CUR"
lf_req POST /a2a/tasks/send '{"message": {"role": "user", "parts": [{"text": "another context"}]}}'
t_eq "a task of another context starts afresh" "$(lf_fake_requests a2a-model | jq -c '[.[-1].body.messages[] | select(.role == "user") | .content]')" '["another context"]'

# ---- persistence -------------------------------------------------------------------
t_eq "tasks are rows in runtime.a2a_tasks" "$(lf_psql "SELECT count(*) FROM runtime.a2a_tasks WHERE direction = 'in'")" 16
lf_stop agent-runtime
lf_start agent-runtime
lf_wait_ok /api/agents || echo "# agent-runtime did not come back"
lf_req GET "/a2a/tasks/$T1"
t_eq "a task survives an agent-runtime restart" "$LF_STATUS $(jb .status) $(jb .result.parts[0].text)" "200 completed REST reply"
rpc '{"jsonrpc": "2.0", "id": 9, "method": "GetTask", "params": {"id": "'$V10'"}}'
t_eq "and is read through JSON-RPC" "$(jb .result.status.state)" TASK_STATE_COMPLETED

# ---- the client: peers ---------------------------------------------------------------
# The SDK peer, a peer that answers garbage, one that never answers.
(cd "$LF_ROOT/tests/e2e" && exec node "$LF_ROOT/tests/fakes/a2a-peer.mjs" --port "$P_PEER") \
    >"$LF_TMP/peer.out" 2>>"$LF_TMP/log/a2a-peer.log" &
LF_PIDS[a2a-peer]=$!
cat > "$LF_TMP/garbage.py" <<'PYEOF'
import http.server, json, sys
port = int(sys.argv[1])
untrusted = int(sys.argv[2])
base = "http://127.0.0.1:%d" % port
def card(name, rpc):
    return {"name": name, "description": "garbage", "version": "1",
            "supportedInterfaces": [{"url": rpc, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {}, "defaultInputModes": ["text"], "defaultOutputModes": ["text"], "skills": []}
CARDS = {
    "/.well-known/agent-card.json": card("garbage", base + "/rpc"),
    "/wrongrpc/.well-known/agent-card.json": card("wrongrpc", base + "/rpc2"),
    "/huge/.well-known/agent-card.json": card("huge", base + "/rpc3"),
    "/evil/.well-known/agent-card.json": card("evil", "http://127.0.0.1:%d/rpc" % untrusted),
    "/noname/.well-known/agent-card.json": {"url": base + "/rpc"},
    "/pending/.well-known/agent-card.json": card("pending", base + "/rpc4"),
    # The reference's pre-0.2 card: a url, no protocolVersion.
    "/old/.well-known/agent.json": {"name": "old", "url": base + "/rpc5", "skills": []},
}
def rpc_answer(path, req):
    m, rid = req.get("method"), req.get("id")
    if path == "/rpc4" and m == "SendMessage":
        return {"jsonrpc": "2.0", "id": rid, "result": {"task": {"id": "r-1", "contextId": "c-1",
                "status": {"state": "TASK_STATE_WORKING"}}}}
    if path == "/rpc4" and m == "GetTask" and req["params"].get("id") == "r-1":
        return {"jsonrpc": "2.0", "id": rid, "result": {"id": "r-1", "contextId": "c-1",
                "status": {"state": "TASK_STATE_COMPLETED"}, "artifacts": [{"parts": [{"text": "done later"}]}]}}
    if path == "/rpc5" and m == "tasks/send" and req["params"]["message"]["parts"][0].get("type") == "text":
        return {"jsonrpc": "2.0", "id": rid, "result": {"id": req["params"]["id"], "sessionId": "s-9",
                "status": {"state": "completed"}, "messages": [req["params"]["message"],
                {"role": "agent", "parts": [{"type": "text", "text": "old peer says hi"}]}]}}
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "unexpected %s on %s" % (m, path)}}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, code, body):
        body = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path in CARDS:
            self.answer(200, json.dumps(CARDS[self.path]))
        elif self.path == "/notjson/.well-known/agent-card.json":
            self.answer(200, "<html>not a card</html>")
        else:
            self.answer(404, "{}")
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path in ("/rpc4", "/rpc5"):
            self.answer(200, json.dumps(rpc_answer(self.path, json.loads(body))))
        elif self.path == "/rpc":
            self.answer(200, "this is not JSON at all")
        elif self.path == "/rpc2":
            self.answer(200, json.dumps({"jsonrpc": "2.0", "id": 1, "result": "nope"}))
        else:
            self.answer(200, b"[" + b"1," * 700000 + b"1]")
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PYEOF
lf_bg garbage-peer python3 "$LF_TMP/garbage.py" "$P_GARBAGE" "$P_UNTRUSTED"
# Accepts connections (the kernel's backlog) and never answers.
lf_bg silent-peer python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(600)' "$P_SILENT"
lf_is_listening() { curl -s -m 1 -o /dev/null "http://127.0.0.1:$1/.well-known/agent-card.json"; }
lf_poll 200 lf_is_listening "$P_PEER" || echo "# the SDK peer did not start: $(cat "$LF_TMP/log/a2a-peer.log")"
lf_poll 200 lf_is_listening "$P_GARBAGE" || echo "# the garbage peer did not start"

lf_req POST /api/a2a/discover "{\"url\": \"http://127.0.0.1:$P_PEER/\"}"
t_eq "discover the SDK peer: 200" "$LF_STATUS" 200
t_eq "its card: name, skills, base URL" "$(jbc '[.name, .skills, .url, (.card.supportedInterfaces|length)]')" \
    "[\"sdk-peer\",[\"Echo\"],\"http://127.0.0.1:$P_PEER\",2]"
PEER=$(jb .id)
lf_req POST /api/a2a/discover "{\"url\": \"http://127.0.0.1:$P_PEER\"}"
t_eq "discovering it again keeps its id" "$(jb .id)" "$PEER"
lf_req GET /api/a2a/agents
t_eq "GET /api/a2a/agents lists it" "$(jbc '[.total, .agents[0].id == "'$PEER'", .agents[0].name]')" '[1,true,"sdk-peer"]'
lf_req GET "/api/a2a/agents/$PEER"
t_eq "GET /api/a2a/agents/{id}" "$LF_STATUS $(jb .name) $(jb .description)" "200 sdk-peer A peer built with @a2a-js/sdk"
lf_req GET /api/a2a/agents/00000000-0000-4000-8000-000000000000
t_eq "an unknown external agent: 404" "$LF_STATUS" 404

lf_req POST /api/a2a/send "{\"agent_id\": \"$PEER\", \"message\": \"hello peer\"}"
t_eq "send to the SDK peer (A2A v1.0): 200 with its answer" "$LF_STATUS $(jbc '[.status, .response]')" \
    '200 ["completed","peer says: hello peer"]'
OUT=$(jb .task_id)
t_ok "the peer's task id is kept ($(jb .remote_task_id))" test -n "$(jb .remote_task_id)"
lf_req GET "/api/a2a/tasks/$OUT/status"
t_eq "GET /api/a2a/tasks/{id}/status" "$LF_STATUS $(jbc '[.task_id == "'$OUT'", .status, .result]')" \
    '200 [true,"completed","peer says: hello peer"]'
lf_req GET "/api/a2a/tasks/$OUT"
t_eq "GET /api/a2a/tasks/{id}" "$(jbc '[.agent_id == "'$PEER'", .message, .response]')" \
    '[true,"hello peer","peer says: hello peer"]'
lf_req GET "/api/a2a/tasks/$T1"
t_eq "an inbound task is not an outbound one: 404" "$LF_STATUS" 404

lf_req POST /api/a2a/discover "{\"url\": \"http://127.0.0.1:$P_PEER/legacy\"}"
t_eq "the same peer announced as v0.3" "$LF_STATUS $(jbc '[.name, .card.protocolVersion]')" '200 ["sdk-peer-legacy","0.3.0"]'
LEG=$(jb .id)
lf_req POST /api/a2a/tasks/send "{\"agent_id\": \"$LEG\", \"message\": {\"role\": \"user\", \"parts\": [{\"text\": \"old school\"}]}}"
t_eq "POST /api/a2a/tasks/send over v0.3 (message/send)" "$LF_STATUS $(jbc '[.status, .response]')" \
    '200 ["completed","peer says: old school"]'

# This same stack is a LibreFang peer: its card, SendMessage, a turn.
lf_req POST /api/a2a/send "{\"url\": \"http://127.0.0.1:$LF_PORT\", \"message\": \"through the loop\"}"
# (The failed turn above left its message unanswered in the agent's
# session, so the fake echoes both.)
t_eq "send by URL to a LibreFang peer (discovered on the way)" "$LF_STATUS $(jbc '[.status, (.response|endswith("through the loop"))]')" \
    '200 ["completed",true]'
t_eq "the peer ran its agent's turn" "$(lf_fake_requests a2a-model | jq -r '.[-1].body.messages[-1].content | endswith("through the loop")')" true
# More sends to ourselves at once than a lane has threads: the outbound
# calls must not starve the inbound tasks they wait for.
LOOP=$(jb .agent_id)
PIDS=()
for i in $(seq 12); do
	curl -s -m 30 -o "$LF_TMP/loop.$i" -w '%{http_code}' -H 'Content-Type: application/json' \
	    -d "{\"agent_id\": \"$LOOP\", \"message\": \"burst $i\"}" "$LF_URL/api/a2a/send" > "$LF_TMP/loop.$i.code" &
	PIDS+=($!)
done
wait "${PIDS[@]}"
t_eq "12 concurrent sends to this same stack: all completed" \
    "$(for i in $(seq 12); do printf '%s %s,' "$(cat "$LF_TMP/loop.$i.code")" "$(jq -r .status "$LF_TMP/loop.$i")"; done)" \
    "$(for i in $(seq 12); do printf '200 completed,'; done)"
lf_req GET /api/a2a/agents
t_eq "three external agents now" "$(jb .total)" 3

# A peer whose task is still working: the status route asks it again.
lf_req POST /api/a2a/send "{\"url\": \"http://127.0.0.1:$P_GARBAGE/pending\", \"message\": \"later\"}"
t_eq "a task the peer is still working on" "$LF_STATUS $(jbc '[.status, .remote_task_id, .context_id, .response]')" \
    '200 ["working","r-1","c-1",""]'
PEND=$(jb .task_id)
lf_req GET "/api/a2a/tasks/$PEND/status"
t_eq "its status asks the peer (GetTask): completed, with the text" "$LF_STATUS $(jbc '[.status, .result]')" \
    '200 ["completed","done later"]'
lf_req GET "/api/a2a/tasks/$PEND"
t_eq "and the new state is stored" "$(jbc '[.status, .response]')" '["completed","done later"]'
# The reference's own dialect (tasks/send), found at agent.json.
lf_req POST /api/a2a/send "{\"url\": \"http://127.0.0.1:$P_GARBAGE/old\", \"message\": \"hello old\"}"
t_eq "a pre-0.2 peer: tasks/send, the answer from its messages" "$LF_STATUS $(jbc '[.status, .response, .context_id]')" \
    '200 ["completed","old peer says hi","s-9"]'

# ---- the client: refusals and bad peers ---------------------------------------------------------
for u in "http://127.0.0.1:$P_UNTRUSTED" "http://localhost:$P_PEER" "http://169.254.169.254/" \
    "http://10.1.2.3/" "http://[::1]:$P_PEER/" "http://2130706433:$P_UNTRUSTED/" "http://user:pw@127.0.0.1:$P_PEER/" \
    "file:///etc/passwd" "ftp://127.0.0.1/"; do
	lf_req POST /api/a2a/discover "{\"url\": \"$u\"}"
	t_eq "discover $u: refused (400, SSRF)" "$LF_STATUS $(jb .error | grep -c SSRF)" "400 1"
done
lf_req POST /api/a2a/send "{\"url\": \"http://127.0.0.1:$P_UNTRUSTED\", \"message\": \"x\"}"
t_eq "send to an untrusted loopback URL: 400" "$LF_STATUS" 400
lf_req POST /api/a2a/discover "{\"url\": \"http://127.0.0.1:$P_GARBAGE/evil\"}"
EVIL=$(jb .id)
lf_req POST /api/a2a/send "{\"agent_id\": \"$EVIL\", \"message\": \"x\"}"
t_eq "a trusted peer's card pointing at an untrusted address: refused" "$LF_STATUS $(jb .error | grep -c SSRF)" "400 1"

lf_req POST /api/a2a/discover "{\"url\": \"http://127.0.0.1:$P_GARBAGE/notjson\"}"
t_eq "a card that is not JSON: 502" "$LF_STATUS $(lf_err_shape && echo shaped)" "502 shaped"
lf_req POST /api/a2a/discover "{\"url\": \"http://127.0.0.1:$P_GARBAGE/noname\"}"
t_eq "a card without a name: 502" "$LF_STATUS" 502
lf_req POST /api/a2a/discover "{\"url\": \"http://127.0.0.1:$P_GARBAGE/nothing\"}"
t_eq "no card at all (404 twice): 502" "$LF_STATUS" 502
lf_req POST /api/a2a/send "{\"url\": \"http://127.0.0.1:$P_GARBAGE\", \"message\": \"x\"}"
t_eq "a peer answering garbage: 502, clear error" "$LF_STATUS $(jb .error | grep -c 'not a JSON object')" "502 1"
lf_req POST /api/a2a/send "{\"url\": \"http://127.0.0.1:$P_GARBAGE/wrongrpc\", \"message\": \"x\"}"
t_eq "a peer answering JSON that is no JSON-RPC result: 502" "$LF_STATUS $(jb .error | grep -c 'invalid A2A response')" "502 1"
lf_req POST /api/a2a/send "{\"url\": \"http://127.0.0.1:$P_GARBAGE/huge\", \"message\": \"x\"}"
t_eq "a peer answering more than 1 MiB: 502" "$LF_STATUS $(jb .error | grep -c 'larger than')" "502 1"
T0=$(lf_ms)
lf_req POST /api/a2a/discover "{\"url\": \"http://127.0.0.1:$P_SILENT\"}" -m 30
T=$(( $(lf_ms) - T0 ))
t_eq "a peer that never answers: 504 after timeout_secs" "$LF_STATUS $(jb .error | grep -c 'did not answer within 2 s')" "504 1"
t_ok "within the bound ($T ms)" test "$T" -ge 1900 -a "$T" -lt 8000
lf_req POST /api/a2a/send "{\"agent_id\": \"$PEER\", \"message\": \"slow\"}" -m 30
t_eq "a known peer that stops answering mid-task: 504" "$LF_STATUS" 504

lf_req POST /api/a2a/discover '{}'
t_eq "discover without url: 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
lf_req POST /api/a2a/discover '{"url": 5}'
t_eq "discover with a non-string url: 400" "$LF_STATUS" 400
lf_req POST /api/a2a/discover '"x"'
t_eq "discover with a body that is no object: 400" "$LF_STATUS" 400
lf_req POST /api/a2a/send '{"message": "x"}'
t_eq "send without agent_id or url: 400" "$LF_STATUS" 400
lf_req POST /api/a2a/send "{\"agent_id\": \"$PEER\", \"message\": \"\"}"
t_eq "send with an empty message: 400" "$LF_STATUS" 400
lf_req POST /api/a2a/send '{"agent_id": "00000000-0000-4000-8000-000000000000", "message": "x"}'
t_eq "send to an unknown external agent: 404" "$LF_STATUS" 404
lf_req GET /api/a2a/tasks/nope/status
t_eq "status of an unknown task: 404" "$LF_STATUS" 404

# Nothing else was disturbed: the SDK peer still answers at once.
lf_req POST /api/a2a/send "{\"agent_id\": \"$PEER\", \"message\": \"still here\"}"
t_eq "after all that, a send still works" "$LF_STATUS $(jb .response)" "200 peer says: still here"

# ---- @a2a-js/sdk's client against our server (tests/e2e) -------------------------
export LF_URL FAKE_URL=$LF_FAKE_URL FAKE_MODEL=a2a-model
t_node a2a.test.mjs 10

# ---- gateway shutdown mid-stream: a final failed status ------------------------
lf_fake_script '{"model": "a2a-model", "steps": [{"text": "w1 w2 w3 w4 w5 w6 w7 w8 w9", "chunk_delay_ms": 300}]}'
curl -sN -m 30 -H 'Content-Type: application/json' -o "$LF_TMP/shut" \
    -d '{"jsonrpc": "2.0", "id": "x1", "method": "message/stream", "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": "stop now"}]}}}' "$LF_URL/a2a" &
CURL=$!
lf_poll 200 grep -qs 'artifact-update' "$LF_TMP/shut" || echo "# no artifact update before shutdown"
lf_stop api-gateway
t_eq "SIGTERM mid-stream: the gateway exits 0" "$LF_EXIT" 0
timeout 10 tail --pid=$CURL -f /dev/null || kill $CURL
t_eq "... the stream ends with a final failed status" \
    "$(sed -n 's/^data: //p' "$LF_TMP/shut" | tail -1 | jq -c '[.result.kind, .result.status.state, .result.final, .result.status.message.parts[0].text]')" \
    '["status-update","failed",true,"the gateway is shutting down"]'
TX=$(sed -n 's/^data: //p' "$LF_TMP/shut" | head -1 | jq -r .result.id)
lf_shut_done() { [ "$(lf_psql "SELECT state FROM runtime.a2a_tasks WHERE id = '$TX'")" = completed ]; }
lf_poll 200 lf_shut_done || echo "# the task of the stream cut by shutdown never completed"
t_eq "... while its task runs to the end in the runtime" "$(lf_psql "SELECT state FROM runtime.a2a_tasks WHERE id = '$TX'")" completed

# ---- with an API key: the card and the agent list stay public ---------------------
LIBREFANG_API_KEY=a2a-s3cret lf_start api-gateway
lf_wait_health 10 || echo "# the gateway did not come back"
lf_req GET /.well-known/agent-card.json
t_eq "the card needs no key" "$LF_STATUS" 200
lf_req GET /.well-known/agent.json
t_eq "nor the reference's card" "$LF_STATUS" 200
lf_req GET /a2a/agents
t_eq "nor the agent list" "$LF_STATUS" 200
rpc '{"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "'$V10'"}}'
t_eq "JSON-RPC without the key: 401" "$LF_STATUS" 401
LF_AUTH=a2a-s3cret rpc '{"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "'$V10'"}}'
t_eq "with it: the task" "$LF_STATUS $(jb .result.status.state)" "200 completed"
lf_req GET "/a2a/tasks/$T1"
t_eq "the REST task routes need it too" "$LF_STATUS" 401
lf_req POST /api/a2a/send "{\"agent_id\": \"$PEER\", \"message\": \"x\"}"
t_eq "and sending to a peer" "$LF_STATUS" 401

t_done
