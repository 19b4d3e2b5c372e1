#!/usr/bin/env bash
# t6010-auto-dream-timeout.sh - [auto_dream] timeout_secs (issue 10;
# notes/extensions.md 9.2): a dream whose turn outlasts it is failed
# ("timed out after N s"), is not a consolidation, and releases the lock:
# the next trigger fires and completes.  A dream no replica records in
# time (its replica died) is failed by whichever replica looks next.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_fake_start
lf_config '[auto_dream]
enabled = true
timeout_secs = 2'
lf_stack_start agent-runtime memory
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not answer"; lf_dump_logs; exit 1; }

lf_req POST /api/agents "$(lf_spawn_json "auto_dream_enabled = true
$(lf_fake_toml sleepy m-sleepy)")"
A=$(jb .agent_id)
t_eq "an agent opted in by its manifest" "$LF_STATUS" 201

# The turn answers after 15 s: the 2 s timeout ends the dream long before.
lf_fake_script '{"model":"m-sleepy","steps":[{"delay_ms":15000,"text":"too late"}]}'
S0=$(lf_ms)
lf_req POST "/api/auto-dream/agents/$A/trigger"
t_eq "a dream fires" "$(jb .fired)" true
T=$(jb .task_id)
ended() { [ "$(lf_psql "SELECT status FROM memory.dreams WHERE task_id = '$T'")" != running ]; }
lf_poll 400 ended || echo "# the dream was still running 20 s after its 2 s timeout"
S1=$(lf_ms)
t_eq "it is failed at its timeout" \
    "$(lf_psql "SELECT status, error FROM memory.dreams WHERE task_id = '$T'")" "failed|timed out after 2 s"
t_ok "at its timeout, not at the turn's answer 15 s on ($((S1 - S0)) ms)" test $((S1 - S0)) -lt 8000
lf_req GET /api/auto-dream/status
t_eq "status: failed, not a consolidation" \
    "$(jbc ".agents[] | select(.agent_id == \"$A\") | [.progress.status, .progress.error, .last_consolidated_at_ms, .can_abort]")" \
    '["failed","timed out after 2 s",0,false]'
lf_req POST "/api/auto-dream/agents/$A/trigger"
t_eq "the lock is released: the next dream fires" "$(jb .fired)" true
T2=$(jb .task_id)
done_() { [ "$(lf_psql "SELECT status FROM memory.dreams WHERE task_id = '$T2'")" = completed ]; }
lf_poll 300 done_ || echo "# the second dream did not complete within 15 s"
t_eq "and completes" "$(lf_psql "SELECT status FROM memory.dreams WHERE task_id = '$T2'")" completed
# Until the first turn's answer has come (15 s from the trigger).
LEFT=$((S0 + 16000 - $(lf_ms)))
[ "$LEFT" -le 0 ] || sleep "$(printf '%d.%03d' $((LEFT / 1000)) $((LEFT % 1000)))"
t_eq "the first turn's late answer leaves it failed" \
    "$(lf_psql "SELECT status FROM memory.dreams WHERE task_id = '$T'")" failed

# A dream whose replica died: its row still says running long after.
L=$(lf_psql "INSERT INTO memory.dreams (task_id, agent_id, status, manual, started_at) VALUES (gen_random_uuid(), '$A', 'running', true, now() - interval '1 hour') RETURNING task_id" | head -1)
lf_req POST "/api/auto-dream/agents/$A/trigger"
t_eq "a lost dream does not hold the lock: the trigger fires" "$(jb .fired)" true
t_eq "the lost one is failed" \
    "$(lf_psql "SELECT status, error FROM memory.dreams WHERE task_id = '$L'")" "failed|timed out after 2 s"

t_done
