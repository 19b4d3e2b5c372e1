#!/usr/bin/env bash
# t6005-auto-dream-schedule.sh - scheduled dreams (issue 10, part
# "memory"; notes/extensions.md 9.2) with two memory replicas: every
# check_interval_secs each replica's tick claims the opted-in agents with
# no dream completed within min_hours, under one lock, so the agent gets
# exactly one dream (a real turn with the fake provider) however many
# replicas tick; an agent that did not opt in gets none; a manual trigger
# still runs inside the window.  (min_sessions = 0: the sessions gate has
# its own test, t6007.)
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_config '[auto_dream]
enabled = true
check_interval_secs = 1
min_hours = 1
min_sessions = 0'
lf_fake_stack agent-runtime memory
t_ok "a second memory replica joins" lf_replica memory-2 memory

D=$(lf_agent night-owl m-owl)
N=$(lf_agent early-bird m-bird)
lf_req POST /api/memory "{\"agent_id\":\"$D\",\"content\":\"The owl hunts at midnight\"}"

lf_req PUT "/api/auto-dream/agents/$D/enabled" '{"enabled": true}'
t_eq "opt in" "$LF_STATUS" 200
dreamed() { [ "$(lf_psql "SELECT count(*) FROM memory.dreams WHERE agent_id = '$D' AND status = 'completed'")" -ge 1 ]; }
lf_poll 300 dreamed || echo "# no scheduled dream completed within 15 s"
t_eq "a scheduled dream ran and completed" \
    "$(lf_psql "SELECT status, response LIKE 'echo: [AUTO-DREAM]%' FROM memory.dreams WHERE agent_id = '$D'")" "completed|t"
# Three more ticks of each replica: the window (min_hours) holds.
sleep 3
t_eq "exactly one dream for the agent across both replicas" "$(lf_psql "SELECT count(*) FROM memory.dreams WHERE agent_id = '$D'")" 1
t_eq "and one turn at the provider" "$(lf_fake_requests m-owl | jq length)" 1
t_eq "the agent that did not opt in never dreamed" "$(lf_psql "SELECT count(*) FROM memory.dreams WHERE agent_id = '$N'")" 0
lf_req GET /api/auto-dream/status
t_eq "status shows it, with the last consolidation" \
    "$(jbc ".agents[] | select(.agent_id == \"$D\") | [.progress.status, (.last_consolidated_at_ms > 0), .effective_min_hours]")" '["completed",true,1]'
t_eq "its effective gates and the optional fields" \
    "$(jbc ".agents[] | select(.agent_id == \"$D\") | [.effective_min_sessions, (.next_eligible_at_ms - .last_consolidated_at_ms), (.hours_since_last < 0.1), .progress.usage.iterations > 0, .can_abort]")" \
    '[0,3600000,true,true,false]'
t_eq "not opted in: no optional fields" \
    "$(jbc ".agents[] | select(.agent_id == \"$N\") | [has(\"next_eligible_at_ms\"), has(\"hours_since_last\"), .effective_min_hours]")" '[false,false,0]'

lf_req POST "/api/auto-dream/agents/$D/trigger"
t_eq "a manual trigger ignores the window" "$LF_STATUS $(jb .fired)" "200 true"
T=$(jb .task_id)
done_() { [ "$(lf_psql "SELECT status FROM memory.dreams WHERE task_id = '$T'")" = completed ]; }
lf_poll 300 done_ || echo "# the manual dream did not complete within 15 s"
t_eq "it completed" "$(lf_psql "SELECT count(*) FROM memory.dreams WHERE agent_id = '$D' AND status = 'completed'")" 2

t_done
