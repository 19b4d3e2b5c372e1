#!/usr/bin/env bash
# Agent turns end to end (docs/agent-turns.md): through the gateway to
# agent-runtime and the fake LLM provider (tests/fakes/fake-llm.mjs),
# pointed at with [provider_urls].  A plain turn (tokens, cost, session,
# usage record), a tool-using turn (file_write, file_read, answer: the
# file exists and the provider's third request carries both results),
# invalid tool arguments handed back, the iteration limit, fallback after
# a 429, the missing-key answer, a provider sending garbage, bad input,
# and streaming events on the bus.  t1501 covers sessions, interrupt and
# kill -9.
. "$(dirname "$0")/../lib.sh"

lf_fake_start

lf_config "[provider_urls]
openai = \"$LF_FAKE_URL/v1\"
anthropic = \"$LF_FAKE_URL/v1\""
export OPENAI_API_KEY=sk-test-openai ANTHROPIC_API_KEY=sk-test-anthropic
unset GROQ_API_KEY
lf_stack_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not join"; lf_dump_logs; exit 1; }

# ---- a plain turn -------------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml plain m-plain 'system_prompt = "You are the plain test agent."')")"
A=$(jb .agent_id)
lf_fake_script '{"model": "m-plain", "steps": [{"text": "Hello there!"}]}'
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'hi')"
t_eq "a plain turn is 200" "$LF_STATUS" 200
t_eq "with the model's text" "$(jb .response)" "Hello there!"
t_eq "one iteration, tokens counted" "$(jb '"\(.iterations) \(.input_tokens > 0) \(.output_tokens > 0)"')" "1 true true"
t_ok "cost_usd is reported ($(jb .cost_usd))" test "$(jb '.cost_usd > 0')" = true
SID=$(jb .session_id)
lf_req GET "/api/agents/$A"
t_eq "session_id is the agent's current session" "$SID" "$(jb .session_id)"
t_eq "a usage record was stored" "$(lf_psql "SELECT provider || ' ' || model || ' ' || (input_tokens > 0) FROM runtime.usage_records WHERE agent_id = '$A'")" "openai m-plain true"
REQ=$(lf_fake_requests m-plain)
t_eq "the provider saw the system prompt first" "$(printf '%s' "$REQ" | jq -r '.[0].body.messages[0].role')" system
t_ok "built from the manifest's system_prompt" bash -c "printf '%s' \"\$0\" | jq -r '.[0].body.messages[0].content' | grep -q 'You are the plain test agent.'" "$REQ"
t_eq "and the user's message last" "$(printf '%s' "$REQ" | jq -r '.[0].body.messages[-1].content')" "hi"

# A second turn sees the first in its history.
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'again')"
t_eq "the second turn echoes" "$(jb .response)" "echo: again"
REQ=$(lf_fake_requests m-plain)
t_eq "the history holds both turns" "$(printf '%s' "$REQ" | jq -c '[.[1].body.messages[1:][] | .content]')" '["hi","Hello there!","again"]'

# ---- attachments ------------------------------------------------------------------
printf 'attached words\n' > "$LF_TMP/note.txt"
UP=$(curl -s -F "file=@$LF_TMP/note.txt;type=text/plain" "$LF_URL/api/agents/$A/upload" | jq -r .file_id)
lf_req POST "/api/agents/$A/message" "{\"message\": \"read it\", \"attachments\": [{\"file_id\": \"$UP\"}]}"
t_eq "a message with an attachment is 200" "$LF_STATUS" 200
t_ok "the provider got the file's text before the message" bash -c "printf '%s' \"\$0\" | jq -c '.[-1].body.messages[-1].content' | grep -q 'Attached file: note.txt.*attached words.*read it'" "$(lf_fake_requests m-plain)"
lf_req POST "/api/agents/$A/message" '{"message": "x", "attachments": [{"file_id": "00000000-0000-4000-8000-000000000000"}]}'
t_eq "an unknown file_id is 400" "$LF_STATUS" 400

# ---- a tool-using turn ----------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml coder m-tools '[capabilities]
tools = ["file_read", "file_write", "file_list"]')")"
C=$(jb .agent_id)
lf_fake_script '{"model": "m-tools", "steps": [
  {"tool_calls": [{"name": "file_write", "arguments": {"path": "notes/a.txt", "content": "forty-two"}}]},
  {"tool_calls": [{"name": "file_read", "arguments": {"path": "notes/a.txt"}}]},
  {"text": "The file says forty-two."}]}'
lf_req POST "/api/agents/$C/message" "$(lf_msg_json 'write and read a file')"
t_eq "a tool-using turn is 200" "$LF_STATUS" 200
t_eq "it answers after two tool rounds" "$(jb '"\(.response) | \(.iterations)"')" "The file says forty-two. | 3"
t_eq "decision traces name both calls" "$(jbc '[.decision_traces[] | "\(.tool_name):\(.is_error)"]')" '["file_write:false","file_read:false"]'
F=$(find "$LIBREFANG_HOME/data" -path '*coder*' -name a.txt 2>/dev/null | head -1)
t_eq "the file exists in the agent's workspace" "$(cat "$F" 2>/dev/null)" "forty-two"
REQ=$(lf_fake_requests m-tools)
t_eq "the provider got three requests" "$(printf '%s' "$REQ" | jq length)" 3
t_eq "the third carries both tool results" \
    "$(printf '%s' "$REQ" | jq -c '[.[2].body.messages[] | select(.role == "tool")] | length')" 2
t_ok "the file_read result holds the file" bash -c "printf '%s' \"\$0\" | jq -e '[.[2].body.messages[] | select(.role == \"tool\")][1].content | test(\"forty-two\")'" "$REQ"
t_ok "every tool call in it is answered" bash -c "printf '%s' \"\$0\" | jq -e '[.[2].body.messages[] | .tool_calls[]?.id] - [.[2].body.messages[] | select(.role == \"tool\") | .tool_call_id] | length == 0'" "$REQ"
t_eq "tools were offered" "$(printf '%s' "$REQ" | jq -c '[.[0].body.tools[].function.name] | sort')" '["file_list","file_read","file_write"]'

# ---- the same, streamed (SSE through the gateway, events over the bus) ------------
lf_fake_script '{"model": "m-tools", "steps": [
  {"tool_calls": [{"name": "file_write", "arguments": {"path": "s.txt", "content": "streamed"}}]},
  {"text": "Streamed answer."}]}'
curl -s -N -m 20 -H 'Content-Type: application/json' -d "$(lf_msg_json 'stream it')" \
    "$LF_URL/api/agents/$C/message/stream" > "$LF_TMP/sse.out"
EVENTS=$(grep '^event:' "$LF_TMP/sse.out" | sed 's/^event: *//' | uniq | tr '\n' ' ')
t_ok "SSE: tool_use, tool_result, text chunks, done ($EVENTS)" bash -c "[[ \"\$0\" == *tool_use*tool_result*chunk*done* ]]" "$EVENTS"
t_ok "the chunks carry the answer" bash -c "grep '^data:' \"\$0\" | grep -q 'Streamed'" "$LF_TMP/sse.out"
t_eq "the streamed turn wrote the file" "$(cat "$(dirname "$F")/../s.txt" 2>/dev/null)" "streamed"

# ---- invalid tool arguments go back to the model ------------------------------
lf_fake_script '{"model": "m-tools", "steps": [
  {"tool_calls": [{"name": "file_read", "arguments": "{not json"}]},
  {"text": "fixed"}]}'
lf_req POST "/api/agents/$C/message" "$(lf_msg_json 'bad args')"
t_eq "invalid arguments: the turn goes on" "$LF_STATUS $(jb .response)" "200 fixed"
REQ=$(lf_fake_requests m-tools)
t_ok "the model got an error result naming the problem" bash -c "printf '%s' \"\$0\" | jq -r '.[-1].body.messages[] | select(.role == \"tool\") | .content' | tail -1 | grep -q 'Invalid arguments'" "$REQ"

# ---- a tool the agent was not granted ------------------------------------------
lf_fake_script '{"model": "m-tools", "steps": [
  {"tool_calls": [{"name": "shell_exec", "arguments": {"command": "id"}}]},
  {"text": "no shell"}]}'
lf_req POST "/api/agents/$C/message" "$(lf_msg_json 'run id')"
t_eq "an ungranted tool: the turn goes on" "$LF_STATUS $(jb .response)" "200 no shell"
t_eq "with a permission error" "$(jb '.decision_traces[0] | "\(.tool_name) \(.is_error) \(.output_summary | startswith("Permission denied"))"')" "shell_exec true true"

# ---- the iteration limit ---------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json 'name = "looper"
max_iterations = 3
[model]
provider = "openai"
model = "m-loop"
[capabilities]
tools = ["file_list"]')"
L=$(jb .agent_id)
lf_fake_script '{"model": "m-loop", "steps": [
  {"tool_calls": [{"name": "file_list", "arguments": {"path": "."}}]},
  {"tool_calls": [{"name": "file_list", "arguments": {"path": "a"}}]},
  {"tool_calls": [{"name": "file_list", "arguments": {"path": "b"}}]},
  {"tool_calls": [{"name": "file_list", "arguments": {"path": "c"}}]}]}'
lf_req POST "/api/agents/$L/message" "$(lf_msg_json 'loop forever')"
t_eq "max_iterations 3: the turn fails" "$LF_STATUS" 500
t_ok "with MaxIterationsExceeded ($(jb .error))" bash -c "[[ \"\$0\" == MaxIterationsExceeded* ]]" "$(jb .error)"
t_eq "after exactly 3 provider calls" "$(lf_fake_requests m-loop | jq length)" 3
lf_req GET "/api/agents/$L/session"
t_eq "the session was saved: user, then 3 call/result pairs" "$(jb '[.messages[].role] | join(",")')" "User,Assistant,Assistant,Assistant"
lf_fake_script '{"model": "m-loop", "steps": [{"text": "ok now"}]}'
lf_req POST "/api/agents/$L/message" "$(lf_msg_json 'stop looping')"
t_eq "the next turn on that session works" "$LF_STATUS $(jb .response)" "200 ok now"
t_ok "and its history is valid" bash -c "printf '%s' \"\$0\" | jq -e '.[-1].body.messages as \$m | ([\$m[] | .tool_calls[]?.id] - [\$m[] | select(.role == \"tool\") | .tool_call_id] | length == 0)'" "$(lf_fake_requests m-loop)"

# ---- fallback after a 429 ---------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml falls m-busy '[[fallback_models]]
provider = "anthropic"
model = "m-spare"')")"
FB=$(jb .agent_id)
lf_fake_script '{"model": "m-busy", "steps": [{"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}]}'
lf_fake_script '{"model": "m-spare", "steps": [{"text": "from the spare"}]}'
lf_req POST "/api/agents/$FB/message" "$(lf_msg_json 'hello')"
t_eq "a 429 moves on to the fallback model" "$LF_STATUS $(jb .response)" "200 from the spare"
t_eq "the usage record names the model that answered" "$(lf_psql "SELECT provider || ' ' || model FROM runtime.usage_records WHERE agent_id = '$FB'")" "anthropic m-spare"

# ---- a provider sending garbage: a clean turn error ---------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml garbled m-garbage)")"
G=$(jb .agent_id)
lf_fake_script '{"model": "m-garbage", "steps": [{"garbage": true}, {"garbage": true}, {"garbage": true}, {"garbage": true}]}'
lf_req POST "/api/agents/$G/message" "$(lf_msg_json 'hello')"
t_eq "garbage from the provider is a 500" "$LF_STATUS" 500
t_ok "message_delivery_failed, naming what was tried ($(jb .error | head -c 120))" bash -c "[[ \"\$0\" == message_delivery_failed* && \"\$0\" == *m-garbage* ]]" "$(jb .error)"
t_eq "as {\"error\": ...}" "$(jbc keys)" '["error"]'

# ---- no key --------------------------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json 'name = "keyless"
[model]
provider = "groq"
model = "llama-3.3-70b-versatile"')"
K=$(jb .agent_id)
lf_req POST "/api/agents/$K/message" "$(lf_msg_json 'hello')"
t_eq "a provider without a key: 200 provider_not_configured" "$LF_STATUS $(jb .provider_not_configured)" "200 true"
t_ok "the answer names the variable to set ($(jb .response))" bash -c "[[ \"\$0\" == *GROQ_API_KEY* ]]" "$(jb .response)"

# ---- bad input ------------------------------------------------------------------------
lf_req POST "/api/agents/00000000-0000-4000-8000-000000000000/message" "$(lf_msg_json hi)"
t_eq "unknown agent: 404" "$LF_STATUS" 404
lf_req POST "/api/agents/nope/message" "$(lf_msg_json hi)"
t_eq "bad agent id: 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$A/message" '{"content": "hi"}'
t_eq "unknown field: 400 naming it" "$LF_STATUS $(jb .error)" "400 unknown field 'content'"
lf_req POST "/api/agents/$A/message" '{}'
t_eq "message missing: 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$A/message" '{"message": 7}'
t_eq "message not a string: 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$A/message" '{"message": "x", "session_id": "zzz"}'
t_eq "bad session id: 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$A/message" "{\"message\": \"x\", \"session_id\": \"$(lf_psql "SELECT session_id FROM runtime.agents WHERE id = '$C'")\"}"
t_eq "a session of another agent: 400" "$LF_STATUS" 400
python3 -c 'import json; print(json.dumps({"message": "x" * (1024 * 1024 + 1)}))' > "$LF_TMP/big.json"
lf_req POST "/api/agents/$A/message" "@$LF_TMP/big.json"
t_eq "a message over 1 MiB: 413" "$LF_STATUS" 413
lf_req POST "/api/agents/$A/message" '[1]'
t_eq "a non-object body: 400" "$LF_STATUS" 400

t_done
