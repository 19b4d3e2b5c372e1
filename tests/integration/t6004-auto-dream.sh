#!/usr/bin/env bash
# t6004-auto-dream.sh - auto-dream (issue 10, part "memory";
# notes/extensions.md 9.2): with [auto_dream] enabled and the agent opted
# in, POST /api/auto-dream/agents/{id}/trigger answers {fired, task_id} at
# once and runs a real turn of the agent (agents.message, the fake
# provider) whose prompt carries the four phases and the agent's
# memories; the model's memory_store tool call lands in the agent's KV
# memory; the dream is recorded completed with the answer, and
# /api/auto-dream/status shows it.  Not opted in: fired false with the
# reason; unknown agents 404, bad ids 400.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_config '[auto_dream]
enabled = true
min_hours = 12'
lf_fake_stack agent-runtime memory

agent() {
	lf_agent "$1" "$2" '[capabilities]
tools = ["memory_store", "memory_recall", "memory_list"]
memory_read = ["*"]
memory_write = ["dream.*"]'
}
D=$(agent dreamer m-dream)
N=$(agent sleeper m-sleep)

lf_req POST /api/memory "{\"agent_id\":\"$D\",\"content\":\"The user likes concise answers\"}"
lf_req POST /api/memory "{\"agent_id\":\"$D\",\"content\":\"Release 2.1 is planned for June\"}"

lf_req GET /api/auto-dream/status
t_eq "status: enabled, config, both agents, none opted in" \
    "$LF_STATUS $(jbc '[.enabled, .min_hours, .min_sessions, .check_interval_secs]') $(jb '.agents | length') $(jbc '[.agents[].auto_dream_enabled]')" \
    '200 [true,12,5,86400] 2 [false,false]'

lf_req POST "/api/auto-dream/agents/$D/trigger"
t_eq "not opted in: not fired, with the reason" "$LF_STATUS $(jb .fired) $(jb .task_id) $(jb .reason)" \
    "200 false null agent has not opted in to auto-dream"
lf_req PUT "/api/auto-dream/agents/$D/enabled" '{"enabled": true}'
t_eq "opt in" "$LF_STATUS $(jbc .)" "200 {\"agent_id\":\"$D\",\"enabled\":true}"
lf_req PUT "/api/auto-dream/agents/$D/enabled" '{"enabled": "yes"}'
t_eq "enabled that is no bool is 400" "$LF_STATUS" 400

# The model calls memory_store, the upstream name: an alias of kv_set,
# resolved before the grant is checked (notes/agent-core.md 3.7).
lf_fake_script '{"model":"m-dream","steps":[{"tool_calls":[{"name":"memory_store","arguments":{"key":"dream.summary","value":"concise answers; release 2.1 in June"}}]},{"text":"Consolidated: 2 memories into dream.summary."}]}'
lf_req POST "/api/auto-dream/agents/$D/trigger"
t_eq "trigger: fired at once with a task id" "$LF_STATUS $(jb .fired) $(jb .agent_id)" "200 true $D"
T=$(jb .task_id)
done_() { [ "$(lf_psql "SELECT status FROM memory.dreams WHERE task_id = '$T'")" != running ]; }
lf_poll 400 done_ || echo "# the dream did not end within 20 s"
t_eq "the dream completed with the agent's answer" \
    "$(lf_psql "SELECT status, response, before_count FROM memory.dreams WHERE task_id = '$T'")" \
    "completed|Consolidated: 2 memories into dream.summary.|2"
P=$(lf_fake_requests m-dream | jq -r '.[0].body.messages | map(select(.role == "user")) | .[-1].content')
t_ok "the turn's prompt has the four phases" grep -q 'Orient.*' <<<"$P"
t_ok "and the agent's memories" grep -q 'Release 2.1 is planned for June' <<<"$P"
lf_req GET "/api/memory/agents/$D/kv/dream.summary"
t_eq "the model's memory_store (kv_set) ran in the real turn" "$LF_STATUS $(jb .value)" "200 concise answers; release 2.1 in June"
lf_req GET /api/auto-dream/status
t_eq "status shows the completed dream" \
    "$(jbc ".agents[] | select(.agent_id == \"$D\") | [.auto_dream_enabled, .progress.task_id, .progress.status, .progress.turns[0].text, (.last_consolidated_at_ms > 0)]")" \
    "[true,\"$T\",\"completed\",\"Consolidated: 2 memories into dream.summary.\",true]"
t_eq "the other agent has no progress" "$(jbc ".agents[] | select(.agent_id == \"$N\") | [.auto_dream_enabled, .progress, .last_consolidated_at_ms]")" '[false,null,0]'

lf_req POST "/api/auto-dream/agents/11111111-2222-4333-8444-555555555555/trigger"
t_eq "an unknown agent is 404" "$LF_STATUS" 404
lf_req POST "/api/auto-dream/agents/nope/trigger"
t_eq "a bad id is 400" "$LF_STATUS" 400
t_eq "one dream in all" "$(lf_psql "SELECT count(*) FROM memory.dreams")" 1

t_done
