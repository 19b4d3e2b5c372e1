#!/usr/bin/env bash
# t5042-workflow-replicas.sh - a workflow run survives its scheduler
# replica (issue 9: "after a crash it is either resumed or Failed with a
# reason -- never missing").  Two replicas; the one running a run is
# killed with -9 in the middle of its second step: the other takes the
# run over when its lease lapses and resumes it at that step (the first
# is not run again, and the turn of the second, still running in
# agent-runtime, answers the resumed step by its idempotency key instead
# of running twice), and the runs list shows it Completed and resumed.  A
# replica stopped with SIGTERM mid-run exits at once and hands its run
# over without waiting for the lease.  With workflow_resume = false a
# lost run ends Failed with the reason instead.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-workflows-0123456789
LEASE=3
lf_config "[scheduler]
workflow_lease_secs = $LEASE
workflow_threads = 2"
lf_fake_stack agent-runtime scheduler
lf_wait_ok /api/workflows || { echo "Bail out! the scheduler did not answer"; lf_dump_logs; exit 1; }

lf_replica scheduler-2 scheduler

lf_agent first m-first >/dev/null
lf_agent second m-second >/dev/null
lf_agent third m-third >/dev/null
lf_req POST /api/workflows '{"name": "three", "steps": [
  {"name": "s1", "agent_name": "first", "prompt": "one: {{input}}"},
  {"name": "s2", "agent_name": "second", "prompt": "two: {{input}}"},
  {"name": "s3", "agent_name": "third", "prompt": "three: {{input}}"}]}'
W=$(jb .workflow_id)

# owner RUN: the LF_PIDS name of the replica whose pool runs RUN.
owner() {
	lf_pid_name "$(lf_psql "SELECT split_part(split_part(claimed_by, '#', 1), ':', 2) FROM scheduler.workflow_runs WHERE id = '$1' AND claimed_by LIKE '%#%'")"
}
# run_is RUN STATE: the runs list shows RUN in STATE.
run_is() {
	lf_req GET "/api/workflows/$W/runs"
	[ "$(jb '.[] | select(.id == "'"$1"'") | .state')" = "$2" ]
}
# start: a run in the background, its id; waits until s2's turn is asked.
start() {
	local n
	n=$(lf_fake_requests m-second | jq length)
	lf_req POST "/api/workflows/$W/run?wait=false" "{\"input\": \"$1\"}"
	[ "$LF_STATUS" = 202 ] || echo "# run: $LF_STATUS $LF_BODY" >&2
	lf_fake_wait m-second $((n + 1)) || echo "# step s2 was not asked within 10 s" >&2
	jb .run_id
}

# ---- kill -9 mid-run: the survivor resumes it ----------------------------------------
lf_fake_script '{"model": "m-first", "steps": [{"text": "ONE"}]}'
lf_fake_script '{"model": "m-second", "steps": [{"text": "TWO", "delay_ms": 6000}, {"text": "NOT TWICE"}]}'
lf_fake_script '{"model": "m-third", "steps": [{"text": "THREE"}]}'
R=$(start alpha)
O=$(owner "$R")
t_ok "the run is held by a replica ($O)" test -n "$O"
t_eq "it is Running" "$(run_is "$R" Running && echo yes)" yes
T0=$(lf_ms)
lf_stop "$O" KILL
t_ok "the survivor finishes it (20 s at most)" lf_poll 400 run_is "$R" Completed
T1=$(lf_ms)
t_ok "after the lease lapsed ($((T1 - T0)) ms; lease ${LEASE}s)" test $((T1 - T0)) -ge $((LEASE * 1000 - 500))
lf_req GET "/api/workflows/$W/runs"
t_eq "resumed once, three steps completed" "$(jbc '.[] | select(.id == "'"$R"'") | [.resumed, .steps_completed, .output, .error]')" '[1,3,"THREE",null]'
t_eq "the first step was not run again" "$(lf_fake_requests m-first | jq length)" 1
t_eq "nor the second: the resumed step got the lost one's turn by its idempotency key" \
    "$(lf_fake_requests m-second | jq length)" 1
t_eq "the third got the second's output" "$(lf_fake_requests m-third | jq -r '.[-1].body.messages[-1].content')" "three: TWO"
t_eq "its claim is cleared" \
    "$(lf_psql "SELECT count(*) FROM scheduler.workflow_runs WHERE id = '$R' AND claimed_by IS NULL AND state = 'completed'")" 1
[ "$O" = scheduler ] && S=scheduler-2 || S=scheduler
t_ok "the survivor logged the resume" grep -q "workflow run $R: resumed at step 1" "$LF_TMP/log/$S.log"

# ---- SIGTERM mid-run: handed over at once ----------------------------------------------
lf_replica scheduler-3 scheduler
curl -s -m 10 -o /dev/null -X POST "$LF_FAKE_URL/__fake/reset"
lf_fake_script '{"model": "m-first", "steps": [{"text": "ONE"}]}'
# The step takes 10 s: a replica that waited for it would be killed
# (lf_stop, LF_STOP_SECS) before it ends.
lf_fake_script '{"model": "m-second", "steps": [{"text": "TWO", "delay_ms": 10000}]}'
lf_fake_script '{"model": "m-third", "steps": [{"text": "THREE"}]}'
R=$(start beta)
O=$(owner "$R")
OPID=${LF_PIDS[$O]:-none}
T0=$(lf_ms)
lf_stop "$O" TERM
t_eq "a replica stopped mid-run exits 0 at once, not killed ($LF_STOP_MS ms)" "$LF_EXIT" 0
t_eq "and released the run at once (its lease is over, or another replica holds it)" \
    "$(lf_psql "SELECT lease_until <= clock_timestamp() OR claimed_by NOT LIKE '%:$OPID#%' FROM scheduler.workflow_runs WHERE id = '$R'")" t
t_ok "the other completes the run" lf_poll 400 run_is "$R" Completed
T1=$(lf_ms)
lf_req GET "/api/workflows/$W/runs"
t_eq "resumed once" "$(jbc '.[] | select(.id == "'"$R"'") | [.resumed, .steps_completed, .output]')" '[1,3,"THREE"]'

# ---- workflow_resume = false: Failed with the reason -------------------------------------
for p in scheduler scheduler-2 scheduler-3; do
	lf_stop "$p"
done
lf_config "[scheduler]
workflow_lease_secs = $LEASE
workflow_resume = false"
lf_replica scheduler-4 scheduler
lf_replica scheduler-5 scheduler
curl -s -m 10 -o /dev/null -X POST "$LF_FAKE_URL/__fake/reset"
lf_fake_script '{"model": "m-first", "steps": [{"text": "ONE"}]}'
lf_fake_script '{"model": "m-second", "steps": [{"text": "TWO", "delay_ms": 3000}]}'
R=$(start gamma)
O=$(owner "$R")
t_ok "the third run is held by a replica ($O)" test -n "$O"
T0=$(lf_ms)
lf_stop "$O" KILL
t_ok "a lost run ends Failed (20 s at most)" lf_poll 400 run_is "$R" Failed
lf_req GET "/api/workflows/$W/runs"
t_eq "with the reason" "$(jb '.[] | select(.id == "'"$R"'") | .error')" \
    "the replica running it was lost (1 time); not resumed"
t_eq "no run is left Running or Pending" \
    "$(lf_psql "SELECT count(*) FROM scheduler.workflow_runs WHERE state IN ('running', 'pending')")" 0

# The lost replica's turn still runs in agent-runtime: let it end first.
W8=$((T0 + 3500 - $(lf_ms)))
[ "$W8" -le 0 ] || sleep "$(printf '%d.%03d' $((W8 / 1000)) $((W8 % 1000)))"
lf_stack_stop
t_done
