#!/usr/bin/env bash
# What agents did, read back (services/agent-runtime/README.md, "Traces,
# metrics and logs"): a tool turn and a failing turn against the fake LLM
# provider, then GET /api/agents/{id}/traces, /metrics and /logs must
# reflect them exactly (counts, tool names, is_error, the tokens and cost
# of the turn's answer, rates, latencies); a provider fallback, an
# interrupt and a silent turn; incognito and oversized inputs; the records
# surviving a restart of agent-runtime; log pruning to the newest 1000;
# bad input; an agent's records going with it.
. "$(dirname "$0")/../lib.sh"

lf_fake_start

lf_config "[provider_urls]
openai = \"$LF_FAKE_URL/v1\"
anthropic = \"$LF_FAKE_URL/v1\""
export OPENAI_API_KEY=sk-test-openai ANTHROPIC_API_KEY=sk-test-anthropic
lf_stack_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not join"; lf_dump_logs; exit 1; }

lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml watched m-obs '[capabilities]
tools = ["file_write", "file_read"]')")"
W=$(jb .agent_id)

# ---- before any turn -----------------------------------------------------------------
lf_req GET "/api/agents/$W/traces"
t_eq "no turn yet: traces are empty" "$LF_STATUS $(jbc '[.agent_id == "'"$W"'", .total, .traces]')" '200 [true,0,[]]'
lf_req GET "/api/agents/$W/metrics"
t_eq "no turn yet: metrics are zero" "$LF_STATUS $(jbc '[.turns, .error_rate, .tool_calls, .tool_error_rate, .tokens.total, .latency_ms.avg, .last_active]')" '200 [0,0,0,0,0,null,null]'
lf_req GET "/api/agents/$W/logs"
t_eq "no turn yet: no log lines" "$LF_STATUS $(jbc .logs)" '200 []'

# ---- a tool turn: file_write succeeds, shell_exec is not granted ------------------------
lf_fake_script '{"model": "m-obs", "steps": [
  {"tool_calls": [{"name": "file_write", "arguments": {"path": "w.txt", "content": "observed"}}]},
  {"tool_calls": [{"name": "shell_exec", "arguments": {"command": "id"}}]},
  {"text": "Done watching."}]}'
lf_req POST "/api/agents/$W/message" "$(lf_msg_json 'write, then try the shell')"
t_eq "the tool turn is 200" "$LF_STATUS $(jb .response)" "200 Done watching."
R1=$LF_BODY
R1_IN=$(jb .input_tokens); R1_OUT=$(jb .output_tokens); R1_COST=$(jb .cost_usd)
R1_TRACES=$(jbc '[.decision_traces[] | {tool_use_id, tool_name, is_error}]')
SID=$(jb .session_id)
t_ok "it used tokens ($R1_IN in, $R1_OUT out) and cost ($R1_COST)" test "$R1_IN" -gt 0 -a "$R1_OUT" -gt 0

# ---- a failing turn: the provider sends garbage ---------------------------------------------
lf_fake_script '{"model": "m-obs", "steps": [{"garbage": true}]}'
lf_req POST "/api/agents/$W/message" "$(lf_msg_json 'this one fails')"
t_eq "the failing turn is 500" "$LF_STATUS" 500
R2_ERR=$(jb .error)

# ---- traces ------------------------------------------------------------------------------------
lf_req GET "/api/agents/$W/traces"
TR=$LF_BODY
t_eq "traces: 200, two turns" "$LF_STATUS $(jb .total) $(jb '.traces | length')" "200 2 2"
t_eq "newest first: the failing turn, then the tool turn" "$(jbc '[.traces[].outcome]')" '["error","ok"]'
t_eq "the failing turn: status 500, the error it answered, no tokens" \
    "$(jq -c --arg e "$R2_ERR" '.traces[0] | [.status, .error == $e, .input_tokens, .output_tokens, .cost_usd, .tool_calls, .iterations, .llm_calls, .provider]' <<<"$TR")" \
    '[500,true,0,0,0,0,1,1,null]'
t_eq "the tool turn: status 200, no error, answered by openai/m-obs" \
    "$(jbc '.traces[1] | [.status, .error, .provider, .model, .kind, .session_id]')" \
    "[200,null,\"openai\",\"m-obs\",\"message\",\"$SID\"]"
t_eq "its tokens are the answer's tokens" "$(jb '.traces[1] | "\(.input_tokens) \(.output_tokens)"')" "$R1_IN $R1_OUT"
t_ok "its cost is the answer's cost ($(jb .traces[1].cost_usd))" jq -e --argjson c "$R1_COST" '.traces[1].cost_usd == $c and $c > 0' <<<"$TR"
t_eq "its iterations and provider calls: 3" "$(jb '.traces[1] | "\(.iterations) \(.llm_calls)"')" "3 3"
t_eq "its decision traces are the answer's (ids, names, is_error)" \
    "$(jbc '[.traces[1].decision_traces[] | {tool_use_id, tool_name, is_error}]')" "$R1_TRACES"
t_eq "... which are file_write ok, shell_exec failed" "$(jbc '[.traces[1].decision_traces[] | "\(.tool_name):\(.is_error)"]')" '["file_write:false","shell_exec:true"]'
t_eq "tool_calls 2, tool_errors 1" "$(jb '.traces[1] | "\(.tool_calls) \(.tool_errors)"')" "2 1"
t_eq "a trace keeps every field of notes 4.4" \
    "$(jbc '.traces[1].decision_traces[0] | [.input, .iteration, .recovered_from_text, (.execution_ms | type), (.timestamp | test("^[0-9-]{10}T")), (has("output_summary"))]')" \
    '[{"path":"w.txt","content":"observed"},1,false,"number",true,true]'
t_ok "the shell_exec output names the refusal" jq -e '.traces[1].decision_traces[1] | .iteration == 2 and (.output_summary | startswith("Permission denied"))' <<<"$TR"
t_ok "latency covers the provider time (latency_ms >= llm_ms >= 0)" jq -e 'all(.traces[]; .latency_ms >= .llm_ms and .llm_ms >= 0)' <<<"$TR"
t_ok "started_at <= ended_at, both RFC 3339" jq -e 'all(.traces[]; (.started_at | test("Z$")) and .started_at <= .ended_at)' <<<"$TR"
t_ok "the newer turn started after the older ended" jq -e '.traces[0].started_at >= .traces[1].ended_at' <<<"$TR"
lf_req GET "/api/agents/$W/traces?limit=1"
t_eq "limit=1: only the newest turn (total still 2)" "$(jbc '[.total, (.traces | length), .traces[0].outcome]')" '[2,1,"error"]'
lf_req GET "/api/agents/$W/traces?session_id=$SID"
t_eq "session_id= the turns' session: both" "$(jb '.traces | length')" 2
lf_req GET "/api/agents/$W/traces?session_id=00000000-0000-4000-8000-000000000000"
t_eq "session_id= another session: none" "$LF_STATUS $(jb .total) $(jb '.traces | length')" "200 0 0"

# ---- metrics ------------------------------------------------------------------------------------
lf_req GET "/api/agents/$W/metrics"
M=$LF_BODY
t_eq "metrics: 200, two turns, one ok and one error" "$LF_STATUS $(jbc '[.turns, .outcomes]')" '200 [2,{"ok":1,"error":1,"silent":0,"interrupted":0}]'
t_eq "error_rate 0.5" "$(jb .error_rate)" "0.5"
t_eq "tokens are the answers' tokens" "$(jb '"\(.tokens.input) \(.tokens.output) \(.tokens.total)"')" "$R1_IN $R1_OUT $((R1_IN + R1_OUT))"
t_ok "cost is the answers' cost" jq -e --argjson c "$R1_COST" '.cost_usd == $c' <<<"$M"
t_eq "tool calls 2, tool errors 1, tool_error_rate 0.5" "$(jb '"\(.tool_calls) \(.tool_errors) \(.tool_error_rate)"')" "2 1 0.5"
t_eq "iterations 4, provider calls 4" "$(jb '"\(.iterations) \(.provider.calls)"')" "4 4"
t_ok "average latency is the mean of the turns' ($(jbc .latency_ms))" jq -e --argjson t "$TR" '.latency_ms.avg == ((([$t.traces[].latency_ms] | add) / 2 * 10 | round) / 10)' <<<"$M"
t_ok "p95 and max latency are the slower turn's" jq -e --argjson t "$TR" '.latency_ms.p95 == ([$t.traces[].latency_ms] | max) and .latency_ms.max == .latency_ms.p95' <<<"$M"
t_ok "provider total_ms is the sum of the turns' llm_ms" jq -e --argjson t "$TR" '.provider.total_ms == ([$t.traces[].llm_ms] | add)' <<<"$M"
t_ok "last_active is the newest turn's end" jq -e --argjson t "$TR" '.last_active == $t.traces[0].ended_at and .first_active == $t.traces[1].started_at' <<<"$M"

# ---- logs ---------------------------------------------------------------------------------------------
lf_req GET "/api/agents/$W/logs"
L=$LF_BODY
t_eq "logs: 200, the two turns' lines, newest first" "$LF_STATUS $(jbc '[.logs[].event]')" \
    '200 ["turn_end","provider_error","turn_start","turn_end","tool","tool","turn_start"]'
t_eq "levels" "$(jbc '[.logs[].level]')" '["error","warn","info","info","warn","info","info"]'
t_ok "the file_write line: ok" jq -e '.logs[5].message | startswith("tool file_write: success")' <<<"$L"
t_ok "the shell_exec line: error, with why" jq -e '.logs[4].message | startswith("tool shell_exec: error") and contains("Permission denied")' <<<"$L"
t_ok "the failure's line names message_delivery_failed" jq -e '.logs[0].message | startswith("turn failed (500)") and contains("message_delivery_failed")' <<<"$L"
t_ok "the provider line names the target" jq -e '.logs[1].message | contains("openai/m-obs")' <<<"$L"
t_ok "the ok turn's end line counts its tools and tokens" jq -e --arg i "$R1_IN" '.logs[3].message | contains("turn finished: ok") and contains("2 tool calls (1 failed)") and contains("\($i) in")' <<<"$L"
t_ok "every line: id, RFC 3339 timestamp, the session" jq -e --arg s "$SID" 'all(.logs[]; (.id | type) == "number" and (.timestamp | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$")) and .session_id == $s)' <<<"$L"
t_ok "ids grow with time" jq -e '[.logs[].id] == ([.logs[].id] | sort | reverse)' <<<"$L"
lf_req GET "/api/agents/$W/logs?level=error"
t_eq "level=error: the one error line" "$(jbc '[.logs[] | .event]')" '["turn_end"]'
lf_req GET "/api/agents/$W/logs?level=warn"
t_eq "level=warn: warnings and errors" "$(jbc '[.logs[] | .level]')" '["error","warn","warn"]'
lf_req GET "/api/agents/$W/logs?limit=2"
t_eq "limit=2: the newest two" "$(jbc '[.logs[] | .event]')" '["turn_end","provider_error"]'

# ---- a fallback, an interrupt, a silent turn -------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml falls m-busy '[[fallback_models]]
provider = "anthropic"
model = "m-spare"')")"
FB=$(jb .agent_id)
lf_fake_script '{"model": "m-busy", "steps": [{"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}]}'
lf_fake_script '{"model": "m-spare", "steps": [{"text": "from the spare"}]}'
lf_req POST "/api/agents/$FB/message" "$(lf_msg_json 'hello')"
t_eq "the fallback turn answers" "$LF_STATUS $(jb .response)" "200 from the spare"
lf_req GET "/api/agents/$FB/traces"
t_eq "its trace names the target that answered" "$(jb '.traces[0] | "\(.outcome) \(.provider)/\(.model)"')" "ok anthropic/m-spare"
lf_req GET "/api/agents/$FB/logs?level=warn"
t_eq "one warning: the fallback" "$(jbc '[.logs[].event]')" '["provider_fallback"]'
t_ok "naming who failed and who answered ($(jb '.logs[0].message' | head -c 100))" jq -e '.logs[0].message | startswith("provider openai/m-busy failed") and contains("answered by anthropic/m-spare")' <<<"$LF_BODY"

lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml slow m-slow)")"
S=$(jb .agent_id)
lf_fake_script '{"model": "m-slow", "steps": [{"delay_ms": 20000, "text": "too late"}]}'
lf_bg turn curl -s -o "$LF_TMP/bg.out" -H 'Content-Type: application/json' -d "$(lf_msg_json 'take your time')" "$LF_URL/api/agents/$S/message"
lf_fake_wait m-slow 1
lf_req POST "/api/agents/$S/stop"
lf_wait turn
t_eq "the stopped turn ended silently" "$(jq -r .silent "$LF_TMP/bg.out")" true
lf_fake_script '{"model": "m-slow", "steps": [{"text": "NO_REPLY"}]}'
lf_req POST "/api/agents/$S/message" "$(lf_msg_json 'nothing to say')"
t_eq "a NO_REPLY turn is silent" "$LF_STATUS $(jb .silent)" "200 true"
lf_req GET "/api/agents/$S/traces"
t_eq "outcomes: silent, then interrupted" "$(jbc '[.traces[].outcome]')" '["silent","interrupted"]'
lf_req GET "/api/agents/$S/metrics"
t_eq "metrics count them, and no errors" "$(jbc '[.outcomes.silent, .outcomes.interrupted, .error_rate]')" '[1,1,0]'
lf_req GET "/api/agents/$S/logs?level=warn"
t_eq "the interrupt is a warning" "$(jbc '[.logs[].event]')" '["interrupt"]'

# ---- incognito and oversized inputs ---------------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml private m-priv '[capabilities]
tools = ["file_write"]')")"
P=$(jb .agent_id)
lf_fake_script '{"model": "m-priv", "steps": [
  {"tool_calls": [{"name": "file_write", "arguments": {"path": "secret.txt", "content": "hush"}}]},
  {"text": "kept"}]}'
lf_req POST "/api/agents/$P/message" '{"message": "keep this private", "incognito": true}'
t_eq "an incognito tool turn" "$LF_STATUS $(jb .response)" "200 kept"
lf_req GET "/api/agents/$P/traces"
t_eq "incognito: the call's name and outcome, not its input or output" \
    "$(jbc '.traces[0].decision_traces[0] | [.tool_name, .is_error, has("input"), has("output_summary")]')" '["file_write",false,false,false]'
lf_req GET "/api/agents/$P/logs"
t_ok "and its log lines do not carry the content" bash -c '! grep -q hush <<<"$0"' "$LF_BODY"
BIG=$(head -c 6000 /dev/zero | tr '\0' 'x')
lf_fake_script "$(jq -nc --arg c "$BIG" '{model: "m-priv", steps: [{tool_calls: [{name: "file_write", arguments: {path: "big.txt", content: $c}}]}, {text: "big"}]}')"
lf_req POST "/api/agents/$P/message" "$(lf_msg_json 'write a big file')"
t_eq "a turn with a 6 KB tool input" "$LF_STATUS $(jb .response)" "200 big"
lf_req GET "/api/agents/$P/traces?limit=1"
t_ok "its stored input is a preview of at most 4096 bytes" jq -e '.traces[0].decision_traces[0].input | .truncated == true and (.preview | length) == 4096' <<<"$LF_BODY"

# ---- any replica: the records are in PostgreSQL -----------------------------------------------------
lf_stop agent-runtime
lf_start agent-runtime
lf_wait_ok "/api/agents/$W/traces" || { echo "Bail out! agent-runtime did not come back"; lf_dump_logs; exit 1; }
t_eq "after a restart: the same traces" "$(printf '%s' "$LF_BODY" | jq -c '[.traces[] | {turn_id, outcome, input_tokens, latency_ms}]')" "$(jq -c '[.traces[] | {turn_id, outcome, input_tokens, latency_ms}]' <<<"$TR")"

# ---- pruning: the newest 1000 lines per agent --------------------------------------------------------
lf_psql >/dev/null "INSERT INTO runtime.agent_logs (agent_id, level, event, message) SELECT '$W', 'info', 'filler', 'line ' || g FROM generate_series(1, 1200) g"
t_eq "1207 lines before the next turn" "$(lf_psql "SELECT count(*) FROM runtime.agent_logs WHERE agent_id = '$W'")" 1207
lf_fake_script '{"model": "m-obs", "steps": [{"text": "pruned"}]}'
lf_req POST "/api/agents/$W/message" "$(lf_msg_json 'prune')"
t_eq "a plain turn" "$LF_STATUS $(jb .response)" "200 pruned"
t_eq "after it: exactly 1000 lines, the oldest gone" \
    "$(lf_psql "SELECT count(*) || ' ' || min(message) FILTER (WHERE event = 'filler') || ' ' || count(*) FILTER (WHERE event <> 'filler') FROM runtime.agent_logs WHERE agent_id = '$W'")" "1000 line 1000 2"
t_eq "the survivors are the newest fillers (203..1200)" \
    "$(lf_psql "SELECT min(substr(message, 6)::int) || '..' || max(substr(message, 6)::int) FROM runtime.agent_logs WHERE agent_id = '$W' AND event = 'filler'")" "203..1200"
lf_req GET "/api/agents/$W/logs?limit=1000"
t_eq "GET .../logs?limit=1000 returns them all, the new turn first" "$(jbc '[(.logs | length), .logs[0].event, .logs[1].event]')" '[1000,"turn_end","turn_start"]'

# ---- bad input ---------------------------------------------------------------------------------------
for ep in traces metrics logs; do
	lf_req GET "/api/agents/nope/$ep"
	t_eq "$ep: a bad id is 400" "$LF_STATUS $(jb .error)" "400 Invalid agent ID"
	lf_req GET "/api/agents/00000000-0000-4000-8000-000000000000/$ep"
	t_eq "$ep: an unknown agent is 404" "$LF_STATUS $(jb .error)" "404 Agent not found"
done
for q in limit=0 limit=1001 limit=abc limit=-5 limit=99999999999999999999 limit=; do
	lf_req GET "/api/agents/$W/traces?$q"
	t_eq "traces?$q is 400" "$LF_STATUS $(jb '.error | type')" "400 string"
	lf_req GET "/api/agents/$W/logs?$q"
	t_eq "logs?$q is 400" "$LF_STATUS" 400
done
lf_req GET "/api/agents/$W/traces?session_id=nope"
t_eq "traces?session_id=nope is 400" "$LF_STATUS $(jb .error)" "400 Invalid session ID"
lf_req GET "/api/agents/$W/logs?level=debug"
t_eq "logs?level=debug is 400" "$LF_STATUS $(jb .error)" "400 'level' must be info, warn or error"
lf_req GET "/api/agents/$W/logs?level=ERROR"
t_eq "levels are lowercase" "$LF_STATUS" 400

# ---- an agent's records go with it -----------------------------------------------------------------------
lf_req DELETE "/api/agents/$W"
t_eq "delete the agent" "$LF_STATUS" 200
lf_req GET "/api/agents/$W/traces"
t_eq "its traces are 404" "$LF_STATUS" 404
t_eq "and its rows are gone" "$(lf_psql "SELECT (SELECT count(*) FROM runtime.turn_records WHERE agent_id = '$W') + (SELECT count(*) FROM runtime.agent_logs WHERE agent_id = '$W')")" 0

t_done
