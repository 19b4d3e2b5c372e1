#!/usr/bin/env bash
# t6009-auto-dream-tools-audit.sh - a dream's turn may use only the memory
# tools, whatever the agent's own (notes/extensions.md 9.2): the provider
# is offered no other tool, and a call to one the agent is granted
# (shell_exec) is refused; the agent's own turns keep all its tools.  Each
# dream's end is a DreamConsolidation entry in the audit chain (memory's
# outbox, the same transaction as the row), an opt-in is a ConfigChange,
# and the progress reports tool calls, memories touched and usage.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_fake_start
lf_config '[auto_dream]
enabled = true'
lf_stack_start agent-runtime memory audit
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not answer"; lf_dump_logs; exit 1; }

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml tooled m-tooled '[capabilities]
tools = ["memory_store", "memory_recall", "memory_list", "memory_forget", "shell_exec", "agent_list"]
shell = ["*"]
memory_read = ["*"]
memory_write = ["*"]')")"
A=$(jb .agent_id)
t_eq "an agent with shell_exec and the memory tools" "$LF_STATUS" 201

recent_has() {
	lf_req GET '/api/audit/recent?limit=500'
	[ "$(jb --arg a "$1" --arg t "$2" \
	    '[.entries[] | select(.action == $a and (.detail | contains($t)))] | length')" -ge 1 ]
}
wait_entry() { lf_poll 200 recent_has "$1" "$2"; }

lf_req PUT "/api/auto-dream/agents/$A/enabled" '{"enabled": true}'
t_ok "the opt-in is a ConfigChange" wait_entry ConfigChange "auto-dream enabled for the agent"

lf_fake_script '{"model":"m-tooled","steps":[{"tool_calls":[{"name":"shell_exec","arguments":{"command":"touch /tmp/dream-escaped"}},{"name":"memory_store","arguments":{"key":"dream.note","value":"kept"}}]},{"text":"Dreamt."}]}'
lf_req POST "/api/auto-dream/agents/$A/trigger"
t_eq "a dream fires" "$(jb .fired)" true
T=$(jb .task_id)
done_() { [ "$(lf_psql "SELECT status FROM memory.dreams WHERE task_id = '$T'")" = completed ]; }
lf_poll 300 done_ || echo "# the dream did not complete within 15 s"
R=$(lf_fake_requests m-tooled)
t_eq "the provider was offered only memory tools" \
    "$(jq -c '[.[0].body.tools[].function.name] | sort' <<<"$R")" \
    '["kv_get","kv_set","memory_forget","memory_list"]'
t_ok "the shell_exec call was refused" \
    jq -e '[.[1].body.messages[] | select(.role == "tool") | .content | tostring | select(contains("Permission denied") and contains("shell_exec"))] | length == 1' <<<"$R"
t_ok "and did not run" test ! -e /tmp/dream-escaped
lf_req GET "/api/memory/agents/$A/kv/dream.note"
t_eq "the memory_store call ran" "$LF_STATUS $(jb .value)" "200 kept"

t_ok "DreamConsolidation is recorded" wait_entry DreamConsolidation "Auto-dream $T completed"
lf_req GET '/api/audit/recent?limit=500'
t_eq "for the agent, outcome ok, memories counted" \
    "$(jbc "[.entries[] | select(.action == \"DreamConsolidation\")] | map([.agent_id, .outcome, (.detail | contains(\"1 touched\"))])")" \
    "[[\"$A\",\"ok\",true]]"
lf_req GET /api/auto-dream/status
t_eq "progress: tool calls, memories touched, usage" \
    "$(jbc ".agents[] | select(.agent_id == \"$A\") | .progress | [.tool_use_count, .memories_touched, .turns[0].tool_use_count, .usage.iterations, (.usage.input_tokens > 0), (.usage.latency_ms >= 0), .usage.cache_read_input_tokens]")" \
    '[2,["kv:dream.note"],2,2,true,true,0]'

lf_fake_script '{"model":"m-tooled","steps":[{"tool_calls":[{"name":"agent_list","arguments":{}}]},{"text":"listed"}]}'
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'list the agents')"
t_eq "the agent's own turn answers" "$LF_STATUS $(jb .response)" "200 listed"
t_ok "and is offered its other tools" \
    jq -e '.[2].body.tools | map(.function.name) | index("shell_exec") and index("agent_list")' <<<"$(lf_fake_requests m-tooled)"

lf_fake_script '{"model":"m-tooled","steps":[{"delay_ms":5000,"text":"slow"}]}'
lf_req POST "/api/auto-dream/agents/$A/trigger"
T2=$(jb .task_id)
lf_fake_wait m-tooled 5 || echo "# the second dream's turn did not reach the provider within 10 s"
lf_req POST "/api/auto-dream/agents/$A/abort"
t_eq "a second dream is aborted" "$(jb .aborted)" true
t_ok "its DreamConsolidation says aborted" wait_entry DreamConsolidation "Auto-dream $T2 aborted"
lf_req GET '/api/audit/recent?limit=500'
t_eq "with outcome aborted" \
    "$(jbc "[.entries[] | select(.action == \"DreamConsolidation\") | .outcome]")" '["ok","aborted"]'
lf_req GET /api/audit/verify
t_eq "the chain verifies" "$(jbc '[.status, .valid]')" '["valid",true]'
t_eq "memory's outbox drains" "$(lf_psql "SELECT count(*) FROM memory.audit_outbox")" 0

t_done
