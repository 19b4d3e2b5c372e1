#!/usr/bin/env bash
# t6044-audit-turns.sh - agent-runtime's turn and budget entries reach the
# audit chain (notes/kernel.md 5, "who records"): every message turn an
# AgentMessage entry committed with the turn's end (ok, silent or failed,
# never the message itself), a turn refused by its budget a
# BudgetExceeded entry (which limit, spend / limit), and PUT /api/budget
# and PUT /api/budget/agents/{id} a ConfigChange entry each; a PUT that
# changes nothing (400, 404) records nothing.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-audit-turns-0123456789
lf_fake_start
lf_stack_start agent-runtime audit
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not answer"; lf_dump_logs; exit 1; }

# entries ACTION [TEXT]: how many entries of ACTION (whose detail holds TEXT).
entries() {
	lf_req GET '/api/audit/recent?limit=500'
	jb --arg a "$1" --arg t "${2:-}" \
	    '[.entries[] | select(.action == $a and (.detail | contains($t)))] | length'
}
has_entry() { [ "$(entries "$1" "$2")" -ge "${3:-1}" ]; }
wait_entry() { lf_poll 200 has_entry "$@"; }
# last ACTION FIELD: that field of the newest entry of ACTION.
last() {
	lf_req GET '/api/audit/recent?limit=500'
	jb --arg a "$1" "[.entries[] | select(.action == \$a)][-1].$2"
}
outbox_empty() { [ "$(lf_psql 'SELECT count(*) FROM runtime.audit_outbox')" = 0 ]; }

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml talker m-talk)")"
A=$(jb .agent_id)
t_eq "an agent is spawned" "$LF_STATUS" 201

# ---- AgentMessage ---------------------------------------------------------------
lf_fake_script '{"model":"m-talk","steps":[{"text":"hello there","usage":{"input_tokens":120,"output_tokens":7}}]}'
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'my secret plan is pineapple-42')"
t_eq "a message turn answers" "$LF_STATUS $(jb .response)" "200 hello there"
t_ok "AgentMessage is recorded" wait_entry AgentMessage \
    "Agent 'talker' message turn ok: 1 iterations, 120 in / 7 out tokens, 0 tool calls"
t_eq "for that agent, outcome ok" "$(last AgentMessage agent_id) $(last AgentMessage outcome)" "$A ok"
lf_req GET '/api/audit/recent?limit=500'
t_eq "the user's message is nowhere in the chain" "$(jb 'tostring | contains("pineapple")')" false

# Committed with the turn's end: the outbox row exists once the answer is
# out, in the same transaction as the turn record (so as many entries as
# turn records, and a turn that rolled back would leave neither).
lf_stop audit
lf_fake_script '{"model":"m-talk","steps":[{"text":"second"}]}'
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'again')"
t_eq "with the audit service down, a turn still answers" "$LF_STATUS" 200
t_eq "its entry waits in the outbox the moment it answered" \
    "$(lf_psql "SELECT count(*) FROM runtime.audit_outbox WHERE action = 'AgentMessage' AND agent_id = '$A'")" 1
lf_start audit
t_ok "and reaches the chain once the audit service is back" lf_poll 200 outbox_empty
t_eq "one AgentMessage per turn record" \
    "$(entries AgentMessage "Agent 'talker'")" \
    "$(lf_psql "SELECT count(*) FROM runtime.turn_records WHERE agent_id = '$A' AND kind = 'message'")"

# A failed turn records its outcome too (the provider refuses: 500).
lf_fake_script '{"model":"m-talk","steps":[{"status":400}]}'
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'fail please')"
t_eq "a turn whose provider fails is 500" "$LF_STATUS" 500
t_ok "AgentMessage is recorded for it" wait_entry AgentMessage \
    "Agent 'talker' message turn failed (500): message_delivery_failed"
t_eq "outcome error" "$(last AgentMessage outcome)" error

# A silent turn.
lf_fake_script '{"model":"m-talk","steps":[{"text":"NO_REPLY"}]}'
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'say nothing')"
t_eq "a silent turn answers" "$LF_STATUS $(jb .silent)" "200 true"
t_ok "AgentMessage records it as silent" wait_entry AgentMessage "Agent 'talker' message turn silent"

# ---- ConfigChange for budget edits ----------------------------------------------
lf_req PUT /api/budget '{"max_daily_usd": 5, "alert_threshold": 0.5}'
t_eq "PUT /api/budget" "$LF_STATUS" 200
t_ok "ConfigChange is recorded" wait_entry ConfigChange \
    "global budget updated: max_daily_usd=5, alert_threshold=0.5"
t_eq "by the system" "$(last ConfigChange agent_id)" system
lf_req PUT "/api/budget/agents/$A" '{"hourly_limit": 2.5, "max_llm_tokens_per_hour": 100000}'
t_eq "PUT /api/budget/agents/{id}" "$LF_STATUS" 200
t_ok "ConfigChange is recorded for the agent" wait_entry ConfigChange \
    "budget of agent $A updated: max_cost_per_hour_usd=2.5, max_llm_tokens_per_hour=100000"
t_eq "under its id" "$(last ConfigChange agent_id)" "$A"
N=$(entries ConfigChange "budget")
lf_req PUT /api/budget '{"max_daily_usd": -1}'
t_eq "a bad global PUT is 400" "$LF_STATUS" 400
lf_req PUT "/api/budget/agents/00000000-0000-4000-8000-000000000000" '{"max_cost_per_hour_usd": 1}'
t_eq "an unknown agent is 404" "$LF_STATUS" 404
lf_req PUT "/api/budget/agents/$A" '{}'
t_eq "no field is 400" "$LF_STATUS" 400
sleep 0.6
t_ok "they record nothing (the outbox is empty too)" outbox_empty
t_eq "  and no ConfigChange was added" "$(entries ConfigChange "budget")" "$N"
t_eq "the agent's unknown-agent PUT left no budget row" \
    "$(lf_psql "SELECT count(*) FROM runtime.budget_agents WHERE agent_id = '00000000-0000-4000-8000-000000000000'")" 0

# ---- BudgetExceeded ------------------------------------------------------------
lf_req PUT "/api/budget/agents/$A" '{"max_cost_per_hour_usd": 0.0001}'
NREQ=$(lf_fake_requests m-talk | jq length)
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'too dear')"
t_eq "a turn over its budget is 429 budget_exceeded" \
    "$LF_STATUS $(jb '.error | startswith("budget_exceeded: Agent")')" "429 true"
t_eq "  and the provider saw nothing" "$(lf_fake_requests m-talk | jq length)" "$NREQ"
t_ok "BudgetExceeded is recorded: which limit, spend / limit" wait_entry BudgetExceeded \
    "Agent $A exceeded hourly cost quota: \$"
t_ok "  with the limit" has_entry BudgetExceeded "/ \$0.0001"
t_eq "  for that agent, denied" "$(last BudgetExceeded agent_id) $(last BudgetExceeded outcome)" "$A denied"
t_ok "and the refused turn's AgentMessage says so" wait_entry AgentMessage \
    "Agent 'talker' message turn failed (429): budget_exceeded: Agent $A exceeded hourly cost quota"
t_eq "no reservation is left" "$(lf_psql 'SELECT count(*) FROM runtime.budget_reservations')" 0

lf_req GET /api/audit/verify
t_eq "the chain verifies" "$(jbc '[.status, .valid]')" '["valid",true]'

lf_stack_stop
t_done
