#!/usr/bin/env bash
# t6008-auto-dream-abort.sh - POST /api/auto-dream/agents/{id}/abort
# (issue 10; notes/extensions.md 9.2): a running manual dream (the fake
# provider slow) shows can_abort; abort answers {aborted, task_id} and
# the dream is aborted at once, the lock released (a new trigger fires),
# and the late answer of the stopped turn leaves it aborted; a scheduled
# dream cannot be aborted; nothing running, unknown agents, bad ids.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_dream_stack 'check_interval_secs = 1
min_hours = 24
min_sessions = 0'

# M dreams only when triggered (the schedule's sessions gate is 100).
M=$(lf_agent_top 'auto_dream_enabled = true
auto_dream_min_sessions = 100' manual m-manual)
S=$(lf_agent sched m-sched)

lf_req POST "/api/auto-dream/agents/$M/abort"
t_eq "nothing running: not aborted, with the reason" "$LF_STATUS $(jbc '[.aborted, .task_id, .reason]')" \
    '200 [false,null,"no dream is running for this agent"]'

# A scheduled dream, slow.
lf_fake_script '{"model":"m-sched","steps":[{"delay_ms":6000,"text":"slept"}]}'
lf_req PUT "/api/auto-dream/agents/$S/enabled" '{"enabled": true}'
running() { [ "$(lf_psql "SELECT count(*) FROM memory.dreams WHERE agent_id = '$1' AND status = 'running'")" = 1 ]; }
lf_poll 100 running "$S" || echo "# no scheduled dream of S within 5 s"
lf_req GET /api/auto-dream/status
t_eq "a scheduled dream runs and cannot be aborted" "$(lf_dream_entry "$S" '[.progress.status, .can_abort]')" '["running",false]'
lf_req POST "/api/auto-dream/agents/$S/abort"
t_eq "abort says so" "$(jbc '[.aborted, .reason]')" \
    '[false,"the running dream is scheduled: only manual dreams can be aborted"]'

# A manual dream, slow: abort it mid-turn.
lf_fake_script '{"model":"m-manual","steps":[{"delay_ms":8000,"text":"too late"}]}'
lf_req POST "/api/auto-dream/agents/$M/trigger"
t_eq "a manual dream fires" "$(jb .fired)" true
T=$(jb .task_id)
lf_fake_wait m-manual 1 || echo "# the dream's turn did not reach the provider within 10 s"
lf_req POST "/api/auto-dream/agents/$M/trigger"
t_eq "while it runs a second trigger does not fire" "$(jbc '[.fired, .reason]')" \
    '[false,"a dream is already running for this agent"]'
lf_req GET /api/auto-dream/status
t_eq "status: running, can_abort" "$(lf_dream_entry "$M" '[.progress.task_id, .progress.status, .can_abort]')" \
    "[\"$T\",\"running\",true]"
lf_req POST "/api/auto-dream/agents/$M/abort"
t_eq "abort answers" "$LF_STATUS $(jbc '[.aborted, .agent_id, .task_id]')" "200 [true,\"$M\",\"$T\"]"
t_eq "the dream is aborted at once" \
    "$(lf_psql "SELECT status, ended_at IS NOT NULL FROM memory.dreams WHERE task_id = '$T'")" "aborted|t"
lf_req GET /api/auto-dream/status
t_eq "status: aborted, no longer abortable, not a consolidation" \
    "$(lf_dream_entry "$M" '[.progress.status, .can_abort, .last_consolidated_at_ms]')" '["aborted",false,0]'
SID=$(lf_psql "SELECT session_id FROM memory.dreams WHERE task_id = '$T'")
t_eq "its session was interrupted" \
    "$(lf_psql "SELECT count(*) FROM runtime.sessions WHERE id = '$SID' AND interrupt")" 1
lf_req POST "/api/auto-dream/agents/$M/trigger"
t_eq "the lock is released: a new dream fires" "$(jb .fired)" true
T2=$(jb .task_id)
done_() { [ "$(lf_psql "SELECT status FROM memory.dreams WHERE task_id = '$T2'")" = completed ]; }
lf_poll 300 done_ || echo "# the second dream did not complete within 15 s"
t_eq "and completes" "$(lf_psql "SELECT status FROM memory.dreams WHERE task_id = '$T2'")" completed
sdone() { [ "$(lf_psql "SELECT status FROM memory.dreams WHERE agent_id = '$S'")" = completed ]; }
lf_poll 300 sdone || echo "# the scheduled dream did not complete within 15 s"
sleep 1
t_eq "the aborted one stays aborted" "$(lf_psql "SELECT status FROM memory.dreams WHERE task_id = '$T'")" aborted

lf_req POST "/api/auto-dream/agents/11111111-2222-4333-8444-555555555555/abort"
t_eq "an unknown agent is 404" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"
lf_req POST "/api/auto-dream/agents/nope/abort"
t_eq "a bad id is 400" "$LF_STATUS" 400

t_done
