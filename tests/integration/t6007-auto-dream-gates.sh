#!/usr/bin/env bash
# t6007-auto-dream-gates.sh - auto-dream's per-agent gates (issue 10;
# notes/extensions.md 9.2, agent-core.md's auto_dream_* fields): the
# opt-in is the manifest's auto_dream_enabled unless PUT .../enabled set
# ours; a manifest's auto_dream_min_hours / auto_dream_min_sessions
# override [auto_dream] (effective_* in the status); on the schedule an
# agent with fewer sessions touched since its last consolidation than
# min_sessions is not due, and is once it has them (agent-runtime counts
# them: agents.dream), then not again until it has them anew.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_dream_stack 'check_interval_secs = 1
min_hours = 24
min_sessions = 5'

A=$(lf_agent_top 'auto_dream_enabled = true
auto_dream_min_hours = 0
auto_dream_min_sessions = 2' gated m-gated)
B=$(lf_agent plain m-plain)
C=$(lf_agent_top 'auto_dream_enabled = true' vetoed m-vetoed)

lf_req GET /api/auto-dream/status
t_eq "the manifest opts A in, with its own gates" \
    "$(lf_dream_entry "$A" '[.auto_dream_enabled, .effective_min_hours, .effective_min_sessions]')" '[true,0,2]'
t_eq "B's manifest does not opt in: runtime fields are 0" \
    "$(lf_dream_entry "$B" '[.auto_dream_enabled, .effective_min_hours, .effective_min_sessions, .sessions_since_last, .last_consolidated_at_ms]')" \
    '[false,0,0,0,0]'
t_eq "C is opted in by its manifest, with the config's gates" \
    "$(lf_dream_entry "$C" '[.auto_dream_enabled, .effective_min_hours, .effective_min_sessions]')" '[true,24,5]'
lf_req PUT "/api/auto-dream/agents/$C/enabled" '{"enabled": false}'
t_eq "our opt-out overrides C's manifest" "$LF_STATUS" 200
lf_req GET /api/auto-dream/status
t_eq "C is no longer opted in" "$(lf_dream_entry "$C" .auto_dream_enabled)" false
lf_req POST "/api/auto-dream/agents/$C/trigger"
t_eq "and a trigger does not fire, with the reason" "$(jbc '[.fired, .reason]')" \
    '[false,"agent has not opted in to auto-dream"]'
lf_req POST "/api/auto-dream/agents/$B/trigger"
t_eq "nor for B (manifest off)" "$(jbc '[.fired, .reason]')" \
    '[false,"agent has not opted in to auto-dream"]'

# A's sessions: the one it was spawned with (fewer than its 2).
sleep 3
lf_req GET /api/auto-dream/status
S0=$(lf_dream_entry "$A" .sessions_since_last)
t_ok "A has fewer sessions than its min_sessions ($S0)" test "$S0" -lt 2
t_eq "so after three ticks it has not dreamed" \
    "$(lf_psql "SELECT count(*) FROM memory.dreams")" 0
t_eq "B and C never dream on the schedule" "$(lf_dream_entry "$C" .progress)" null

lf_req POST "/api/agents/$A/sessions" '{}'
t_eq "a session for A" "$LF_STATUS" 200
lf_req POST "/api/agents/$A/sessions" '{}'
lf_req GET /api/auto-dream/status
t_ok "A now has at least 2 sessions since ever" test "$(lf_dream_entry "$A" .sessions_since_last)" -ge 2
dreamed() { [ "$(lf_psql "SELECT count(*) FROM memory.dreams WHERE agent_id = '$A' AND status = 'completed'")" -ge 1 ]; }
lf_poll 300 dreamed || echo "# A's scheduled dream did not complete within 15 s"
t_eq "the sessions gate met: A dreamed on the schedule" \
    "$(lf_psql "SELECT count(*), bool_and(NOT manual) FROM memory.dreams WHERE agent_id = '$A'")" "1|t"
sleep 3
t_eq "its min_hours is 0, but no session since: not due again" \
    "$(lf_psql "SELECT count(*) FROM memory.dreams")" 1
lf_req GET /api/auto-dream/status
t_eq "status: no session since the consolidation" \
    "$(lf_dream_entry "$A" '[.sessions_since_last, .last_consolidated_at_ms > 0, .progress.status]')" '[0,true,"completed"]'
lf_req POST "/api/agents/$A/sessions" '{}'
lf_req POST "/api/agents/$A/sessions" '{}'
two() { [ "$(lf_psql "SELECT count(*) FROM memory.dreams WHERE agent_id = '$A' AND status = 'completed'")" -ge 2 ]; }
lf_poll 300 two || echo "# A's second dream did not complete within 15 s"
t_eq "two sessions later it dreams again" \
    "$(lf_psql "SELECT count(*) FROM memory.dreams WHERE agent_id = '$A'")" 2
t_eq "never B or C" "$(lf_psql "SELECT count(*) FROM memory.dreams WHERE agent_id <> '$A'")" 0

t_done
