#!/usr/bin/env bash
# Sessions and the durability of turns (docs/agent-turns.md, notes 5):
# the sessions.* operations over HTTP, compaction, the trajectory export
# and its redaction, an interrupt and a stop in the middle of a slow
# provider call, kill -9 of agent-runtime mid-turn (the next turn on the
# session works and the provider sees a valid history), and a streamed
# turn's events.
. "$(dirname "$0")/../lib.sh"

lf_fake_start
# valid_history JSON: every tool call of the last request is answered.
valid_history() {
	printf '%s' "$1" | jq -e '.[-1].body.messages as $m |
	    ([$m[] | .tool_calls[]?.id] | length > 0) and
	    ([$m[] | .tool_calls[]?.id] - [$m[] | select(.role == "tool") | .tool_call_id] | length == 0)' >/dev/null
}

lf_config "[provider_urls]
openai = \"$LF_FAKE_URL/v1\""
export OPENAI_API_KEY=sk-test-openai
lf_stack_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not join"; lf_dump_logs; exit 1; }

lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml sess m-sess)")"
A=$(jb .agent_id)

# ---- the current session ------------------------------------------------------------
lf_req GET "/api/agents/$A/session"
t_eq "GET .../session of a new agent: empty" "$LF_STATUS $(jb '"\(.message_count) \(.messages | length)"')" "200 0 0"
S0=$(jb .session_id)
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'my secret is sk-abcdefghijklmnopqrstuvwx1234')"
lf_req GET "/api/agents/$A/session"
t_eq "after a turn it holds the exchange" "$(jbc '[.messages[] | .role]')" '["User","Assistant"]'
t_eq "message_count" "$(jb .message_count)" 2

# ---- create, label, by-label, switch, list ---------------------------------------------
lf_req POST "/api/agents/$A/sessions" '{"label": "  Work chat "}'
t_eq "POST .../sessions creates a labelled session" "$LF_STATUS $(jb .label)" "200 Work chat"
S1=$(jb .session_id)
lf_req GET "/api/agents/$A"
t_eq "and switches the agent to it" "$(jb .session_id)" "$S1"
lf_req POST "/api/agents/$A/sessions" '{"label": "Work chat"}'
t_eq "a taken label is 409" "$LF_STATUS" 409
lf_req POST "/api/agents/$A/sessions" '{"label": "bad/label"}'
t_eq "a label with a slash is 400" "$LF_STATUS" 400
lf_req GET "/api/agents/$A/sessions/by-label/Work%20chat"
t_eq "by-label finds it" "$LF_STATUS $(jb .session_id)" "200 $S1"
lf_req GET "/api/agents/$A/sessions/by-label/none"
t_eq "an unknown label is 404" "$LF_STATUS" 404
lf_req GET "/api/agents/$A/sessions"
t_eq "GET .../sessions lists both" "$(jb '.sessions | length')" 2
t_eq "the current one is marked" "$(jb ".sessions[] | select(.session_id == \"$S1\") | .is_canonical")" true
t_eq "with the spec's keys" "$(jb '[.sessions[0] | has("session_id","message_count","created_at","label","active","is_canonical")] | all')" true
lf_req POST "/api/agents/$A/sessions/$S0/switch"
t_eq "switch back" "$LF_STATUS $(jb .session_id)" "200 $S0"
lf_req POST "/api/agents/$A/sessions/00000000-0000-4000-8000-000000000000/switch"
t_eq "switching to an unknown session is 404" "$LF_STATUS" 404
lf_req POST "/api/agents/$A/sessions/nope/switch"
t_eq "a bad session id is 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$A/message" "{\"message\": \"into work\", \"session_id\": \"$S1\"}"
t_eq "a pinned session_id: 200 without session_id in the reply" "$LF_STATUS $(jb 'has("session_id")')" "200 false"
lf_req GET "/api/agents/$A/session"
t_eq "and the current session did not move" "$(jb .session_id) $(jb .message_count)" "$S0 2"

# ---- /api/sessions ---------------------------------------------------------------
lf_req GET "/api/sessions"
t_eq "GET /api/sessions lists every session" "$LF_STATUS $(jb '.sessions | length')" "200 2"
lf_req GET "/api/sessions/$S1"
t_eq "GET /api/sessions/{id} has its messages" "$(jb '"\(.agent_id) \(.messages | length)"')" "$A 2"
lf_req PUT "/api/sessions/$S1/label" '{"label": "renamed"}'
t_eq "PUT .../label" "$LF_STATUS $(jb .label)" "200 renamed"
lf_req GET "/api/sessions/search?q=into%20work"
t_eq "search finds the session by its text" "$(jb '[.results[].session_id] | join(",")')" "$S1"
lf_req GET "/api/sessions/search"
t_eq "search without q is 400" "$LF_STATUS" 400
lf_req GET "/api/sessions/00000000-0000-4000-8000-000000000000"
t_eq "an unknown session is 404" "$LF_STATUS" 404

# ---- trajectory -----------------------------------------------------------------
lf_req GET "/api/agents/$A/sessions/$S0/trajectory"
t_eq "trajectory (json) is 200" "$LF_STATUS $(jb .schema_version)" "200 1"
t_eq "its metadata" "$(jb '.metadata | "\(.agent_name) \(.session_id == "'"$S0"'") \(.message_count) \(.redaction_credentials) \(.system_prompt_sha256 | length)"')" "sess true 2 true 64"
t_ok "the key in the message is redacted" bash -c "! printf '%s' \"\$0\" | grep -q abcdefghijklmnop" "$LF_BODY"
t_eq "messages are blocks" "$(jbc '[.messages[0].content[0].type, .messages[0].role]')" '["text","user"]'
lf_req GET "/api/agents/$A/sessions/$S0/trajectory?format=jsonl"
t_ok "jsonl is NDJSON" bash -c "printf '%s\n' \"\$0\" | grep -qi '^content-type: application/x-ndjson'" "$LF_HEADERS"
t_eq "metadata line, then one line per message" "$(printf '%s\n' "$LF_BODY" | jq -r .kind | tr '\n' ' ')" "metadata message message "
lf_req GET "/api/agents/$A/sessions/$S0/trajectory?format=xml"
t_eq "an unknown format is 400" "$LF_STATUS" 400
lf_req GET "/api/agents/$A/sessions/nope/trajectory"
t_eq "a bad session id is 400" "$LF_STATUS" 400

# ---- compaction ---------------------------------------------------------------------
for i in 1 2 3 4 5 6; do lf_req POST "/api/agents/$A/message" "$(lf_msg_json "turn $i")"; done
lf_fake_script '{"model": "m-sess", "steps": [{"text": "SUMMARY: the user said turn 1 to 6."}]}'
lf_req POST "/api/agents/$A/session/compact"
t_eq "compact is 200" "$LF_STATUS $(jb .status)" "200 compacted"
t_ok "with the notes' message ($(jb .message))" bash -c "[[ \"\$0\" =~ ^Compacted\ [0-9]+\ messages\ into\ summary\ \([0-9]+\ chars\),\ kept\ [0-9]+\ recent\ messages\.$ ]]" "$(jb .message)"
lf_req GET "/api/agents/$A/session"
t_ok "the session kept at most 10 messages ($(jb .message_count))" test "$(jb .message_count)" -le 10
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'after compaction')"
t_ok "the next turn sees the summary first" bash -c "printf '%s' \"\$0\" | jq -r '.[-1].body.messages[1].content' | grep -q 'SUMMARY: the user said'" "$(lf_fake_requests m-sess)"

# ---- the model --------------------------------------------------------------------
lf_req PUT "/api/agents/$A/model" '{"model": "m-other"}'
t_eq "PUT .../model" "$LF_STATUS $(jb .status) $(jb .model)" "200 updated m-other"
lf_fake_script '{"model": "m-other", "steps": [{"text": "other model"}]}'
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'which model')"
t_eq "the next turn uses it" "$(jb .response)" "other model"
lf_req PUT "/api/agents/$A/model" '{}'
t_eq "model missing: 400" "$LF_STATUS" 400

# ---- an interrupt mid-turn --------------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml slow m-slow '[capabilities]
tools = ["file_write"]')")"
B=$(jb .agent_id)
lf_req GET "/api/agents/$B/session"
SB=$(jb .session_id)
lf_fake_script '{"model": "m-slow", "steps": [{"delay_ms": 20000, "text": "too late"}]}'
lf_bg turn curl -s -o "$LF_TMP/bg.out" -H 'Content-Type: application/json' -d "$(lf_msg_json 'take your time')" "$LF_URL/api/agents/$B/message"
lf_fake_wait m-slow 1
T0=$(date +%s%N)
lf_req POST "/api/agents/$B/sessions/$SB/interrupt"
t_eq "interrupt is 204" "$LF_STATUS" 204
lf_wait turn
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
LF_BODY=$(cat "$LF_TMP/bg.out")
t_eq "the turn ended silently" "$(jb '"\(.silent) \(.response)"')" "true "
t_ok "at once, not after the provider's 20 s (${MS} ms from the interrupt)" test "$MS" -lt 10000
lf_req GET "/api/agents/$B/session"
t_eq "what was saved is kept" "$(jbc '[.messages[].content]')" '["take your time"]'
lf_fake_script '{"model": "m-slow", "steps": [{"text": "fresh"}]}'
lf_req POST "/api/agents/$B/message" "$(lf_msg_json 'next')"
t_eq "the flag is cleared by the next turn" "$LF_STATUS $(jb .response)" "200 fresh"
lf_req POST "/api/agents/$B/sessions/$SB/interrupt"
t_eq "an interrupt with no turn running is still 204" "$LF_STATUS" 204
lf_req POST "/api/agents/$B/sessions/00000000-0000-4000-8000-000000000000/interrupt"
t_eq "interrupting an unknown session is 404" "$LF_STATUS" 404
lf_req POST "/api/agents/$B/sessions/nope/interrupt"
t_eq "a bad session id is 400" "$LF_STATUS" 400

# ---- stop -------------------------------------------------------------------------------
lf_fake_script '{"model": "m-slow", "steps": [{"delay_ms": 20000, "text": "too late"}]}'
N=$(lf_fake_requests m-slow | jq length)
lf_bg turn curl -s -o "$LF_TMP/bg.out" -H 'Content-Type: application/json' -d "$(lf_msg_json 'again slowly')" "$LF_URL/api/agents/$B/message"
lf_fake_wait m-slow $((N + 1))
lf_req POST "/api/agents/$B/stop"
t_eq "POST .../stop" "$LF_STATUS $(jb .status)" "200 stopped"
lf_wait turn
LF_BODY=$(cat "$LF_TMP/bg.out")
t_eq "the running turn ended silently" "$(jb .silent)" true

# ---- kill -9 mid-turn ----------------------------------------------------------------------
lf_fake_script '{"model": "m-slow", "steps": [
  {"tool_calls": [{"name": "file_write", "arguments": {"path": "k.txt", "content": "before the crash"}}]},
  {"delay_ms": 30000, "text": "never"}]}'
N=$(lf_fake_requests m-slow | jq length)
lf_bg turn curl -s -o /dev/null -m 60 -H 'Content-Type: application/json' -d "$(lf_msg_json 'write then think')" "$LF_URL/api/agents/$B/message"
lf_fake_wait m-slow $((N + 2))
lf_stop agent-runtime KILL
t_eq "agent-runtime was killed" "$LF_EXIT" 137
lf_stop turn
lf_start agent-runtime
lf_wait_ok "/api/agents/$B/session"
lf_fake_script '{"model": "m-slow", "steps": [{"text": "recovered"}]}'
lf_req POST "/api/agents/$B/message" "$(lf_msg_json 'are you there')"
t_eq "after kill -9 and a restart the next turn works" "$LF_STATUS $(jb .response)" "200 recovered"
REQ=$(lf_fake_requests m-slow)
t_ok "the provider saw a valid history (the call and its result)" valid_history "$REQ"
t_eq "the interim save kept the tool round" "$(printf '%s' "$REQ" | jq -r '[.[-1].body.messages[] | select(.role == "tool") | .content] | length > 0')" true

# ---- reset, clear, cleanup, delete -------------------------------------------------------
lf_req POST "/api/agents/$A/session/reset"
t_eq "reset" "$LF_STATUS $(jb .status)" "200 reset"
NS=$(jb .new_session_id)
lf_req GET "/api/agents/$A/sessions"
t_eq "leaves one fresh session, the current one" "$(jb '[.sessions[].session_id] | join(",")')" "$NS"
lf_req DELETE "/api/agents/$B/history"
t_eq "DELETE .../history" "$LF_STATUS $(jb .status)" "200 cleared"
lf_req GET "/api/agents/$B/session"
t_eq "the agent starts over" "$(jb .message_count)" 0
lf_req DELETE "/api/sessions/$NS"
t_eq "DELETE /api/sessions/{id}" "$LF_STATUS $(jb .status)" "200 deleted"
lf_req DELETE "/api/sessions/$NS"
t_eq "twice: 404" "$LF_STATUS" 404
lf_req DELETE "/api/agents/$B"
lf_req POST "/api/sessions/cleanup"
t_eq "cleanup removes sessions of deleted agents" "$LF_STATUS $(jb '.deleted >= 1')" "200 true"
lf_req GET "/api/agents/00000000-0000-4000-8000-000000000000/sessions"
t_eq "sessions of an unknown agent: 404" "$LF_STATUS" 404

t_done
