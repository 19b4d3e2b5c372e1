#!/usr/bin/env bash
# t5041-workflow-modes.sh - the step modes and error modes of a workflow
# run (notes/kernel.md 1.2-1.4) against the fake LLM provider: fan_out
# members run at once and collect gathers them; conditional steps run or
# are skipped silently; a loop stops at until or max_iterations; retry
# retries then fails (or succeeds); skip keeps the input; a step's
# timeout and the run's total timeout fail the run with the reason,
# answered 422 and recorded in the runs list.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-workflows-0123456789
lf_fake_stack agent-runtime scheduler
lf_wait_ok /api/workflows || { echo "Bail out! the scheduler did not answer"; lf_dump_logs; exit 1; }

for n in fa fb merger judge shipper rejecter looper flaky skipper slow slow2; do
	lf_agent "$n" "m-$n" >/dev/null
done

# How many provider requests one failed turn takes (agent-runtime may
# retry a provider error itself): FAILS failing steps per failed turn.
P=$(lf_agent probe m-probe)
lf_fake_script "{\"model\": \"m-probe\", \"steps\": $(jq -nc '[range(10) | {status: 400}]')}"
lf_req POST "/api/agents/$P/message" "$(lf_msg_json probe)"
FAILS=$(lf_fake_requests m-probe | jq length)
t_ok "a provider error fails a turn ($LF_STATUS after $FAILS requests)" test "$LF_STATUS" -ge 400 -a "$FAILS" -ge 1
curl -s -m 10 -o /dev/null -X POST "$LF_FAKE_URL/__fake/reset"
# failing N: the steps of N failed turns.
failing() { jq -nc --argjson n "$(($1 * FAILS))" '[range($n) | {status: 400}]'; }

# create JSON: the workflow's id.
create() {
	lf_req POST /api/workflows "$1"
	[ "$LF_STATUS" = 201 ] || echo "# create: $LF_STATUS $LF_BODY" >&2
	jb .workflow_id
}
# last MODEL: the last user message the fake got for MODEL.
last() { lf_fake_requests "$1" | jq -r '.[-1].body.messages[-1].content'; }

# ---- fan_out, then collect ---------------------------------------------------------
W=$(create '{"name": "fan", "steps": [
  {"name": "a", "agent_name": "fa", "mode": "fan_out", "prompt": "A: {{input}}", "output_var": "va"},
  {"name": "b", "agent_name": "fb", "mode": "fan_out", "prompt": "B: {{input}}"},
  {"name": "gather", "mode": "collect", "output_var": "all"},
  {"name": "merge", "agent_name": "merger", "prompt": "Merge {{all}} / {{va}}"}]}')
lf_fake_script '{"model": "m-fa", "steps": [{"text": "FA", "delay_ms": 5000}]}'
lf_fake_script '{"model": "m-fb", "steps": [{"text": "FB", "delay_ms": 5000}]}'
lf_fake_script '{"model": "m-merger", "steps": [{"text": "MERGED"}]}'
lf_req POST "/api/workflows/$W/run" '{"input": "topic"}'
t_eq "fan_out run: 200 MERGED" "$LF_STATUS $(jb .output)" "200 MERGED"
t_eq "both members got the same input" "$(last m-fa) | $(last m-fb)" "A: topic | B: topic"
GAP=$(jq -n --argjson a "$(lf_fake_requests m-fa)" --argjson b "$(lf_fake_requests m-fb)" '($a[0].at_ms - $b[0].at_ms) | fabs')
t_ok "and ran at once (asked ${GAP} ms apart; each answers after 5000)" test "${GAP%.*}" -lt 5000
t_eq "collect passed both outputs in order as JSON, output_var still set" "$(last m-merger)" \
    'Merge {"results":[{"agent":"fa","output":"FA"},{"agent":"fb","output":"FB"}]} / FA'
t_eq "step results: the members and the merge (collect calls nobody)" "$(jbc '[.step_results[].step_name]')" '["a","b","merge"]'

# ---- conditional --------------------------------------------------------------------
W=$(create '{"name": "cond", "steps": [
  {"name": "judge", "agent_name": "judge"},
  {"name": "ship", "agent_name": "shipper", "mode": "conditional", "condition": "approved && !blocked", "prompt": "ship: {{input}}"},
  {"name": "reject", "agent_name": "rejecter", "mode": "conditional", "condition": "rejected || denied"}]}')
lf_fake_script '{"model": "m-judge", "steps": [{"text": "Status: APPROVED"}, {"text": "request DENIED"}]}'
lf_fake_script '{"model": "m-shipper", "steps": [{"text": "SHIPPED"}]}'
lf_fake_script '{"model": "m-rejecter", "steps": [{"text": "SENT BACK"}]}'
lf_req POST "/api/workflows/$W/run" '{"input": "pr 1"}'
t_eq "a true condition runs its step, a false one is skipped silently" \
    "$LF_STATUS $(jb .output) $(jbc '[.step_results[].step_name]')" '200 SHIPPED ["judge","ship"]'
t_eq "the conditional step got the previous output" "$(last m-shipper)" "ship: Status: APPROVED"
t_eq "the skipped step's agent was not asked" "$(lf_fake_requests m-rejecter | jq length)" 0
lf_req POST "/api/workflows/$W/run" '{"input": "pr 2"}'
t_eq "the other branch (case-insensitive, any-of)" "$LF_STATUS $(jb .output) $(jbc '[.step_results[].step_name]')" '200 SENT BACK ["judge","reject"]'

# ---- loop until, and max_iterations ---------------------------------------------------
W=$(create '{"name": "loop", "steps": [
  {"name": "refine", "agent_name": "looper", "mode": "loop", "max_iterations": 5, "until": "done", "prompt": "Improve: {{input}}", "output_var": "final"}]}')
lf_fake_script '{"model": "m-looper", "steps": [{"text": "draft 1"}, {"text": "draft 2"}, {"text": "final DONE"}, {"text": "never"}]}'
lf_req POST "/api/workflows/$W/run" '{"input": "essay"}'
t_eq "a loop stops at until (case-insensitive)" "$LF_STATUS $(jb .output)" "200 final DONE"
t_eq "one step result per iteration" "$(jbc '[.step_results[].step_name]')" '["refine (iter 1)","refine (iter 2)","refine (iter 3)"]'
t_eq "each iteration's input is the previous output" "$(jbc '[.step_results[].prompt]')" '["Improve: essay","Improve: draft 1","Improve: draft 2"]'
W=$(create '{"name": "loop2", "steps": [{"name": "r", "agent_name": "looper", "mode": "loop", "max_iterations": 2, "until": "zzz"}]}')
lf_req POST "/api/workflows/$W/run" '{"input": "x"}'
t_eq "without until matching, max_iterations bounds it" "$(jb '.step_results | length')" 2

# ---- retry, then fail; retry, then succeed ---------------------------------------------
W=$(create '{"name": "retry", "steps": [{"name": "shaky", "agent_name": "flaky", "error_mode": "retry", "max_retries": 2, "backoff_ms": 50}]}')
curl -s -m 10 -o /dev/null -X POST "$LF_FAKE_URL/__fake/reset"
lf_fake_script "{\"model\": \"m-flaky\", \"steps\": $(failing 3)}"
lf_req POST "/api/workflows/$W/run" '{"input": "x"}'
t_eq "retries exhausted: 422 workflow_failed" "$LF_STATUS $(jb .error)" "422 workflow_failed"
t_ok "the detail says so ($(jb .detail | head -c 100))" bash -c '[[ "$0" == "Step '"'"'shaky'"'"' failed after 2 retries: "* ]]' "$(jb .detail)"
t_eq "three attempts" "$(lf_fake_requests m-flaky | jq length)" "$((3 * FAILS))"
FR=$(jb .run_id)
lf_req GET "/api/workflows/$W/runs"
t_eq "the runs list shows it Failed with the error" "$(jb '.[] | select(.id == "'"$FR"'") | .state')" Failed
t_ok "error recorded" bash -c '[[ "$0" == *"failed after 2 retries"* ]]' "$(jb '.[] | select(.id == "'"$FR"'") | .error')"
lf_fake_script "{\"model\": \"m-flaky\", \"steps\": $(failing 1)}"
lf_fake_script '{"model": "m-flaky", "steps": [{"text": "second time lucky"}]}'
lf_req POST "/api/workflows/$W/run" '{"input": "x"}'
t_eq "one failure then success: 200" "$LF_STATUS $(jb .output)" "200 second time lucky"

# ---- skip ---------------------------------------------------------------------------------
W=$(create '{"name": "skip", "steps": [
  {"name": "optional", "agent_name": "skipper", "error_mode": "skip", "output_var": "opt"},
  {"name": "next", "agent_name": "merger", "prompt": "next: {{input}} {{opt}}"}]}')
lf_fake_script "{\"model\": \"m-skipper\", \"steps\": $(failing 1)}"
lf_fake_script '{"model": "m-merger", "steps": [{"text": "CARRIED ON"}]}'
lf_req POST "/api/workflows/$W/run" '{"input": "original"}'
t_eq "a skipped step lets the run go on" "$LF_STATUS $(jb .output)" "200 CARRIED ON"
t_eq "with the input unchanged and no output_var" "$(last m-merger)" "next: original {{opt}}"
t_eq "and no step result for it" "$(jbc '[.step_results[].step_name]')" '["next"]'

# ---- a step's timeout, the run's total timeout ------------------------------------------
W=$(create '{"name": "slow", "steps": [{"name": "crawl", "agent_name": "slow", "timeout_secs": 1}]}')
lf_fake_script '{"model": "m-slow", "steps": [{"text": "too late", "delay_ms": 20000}]}'
T0=$(lf_ms)
lf_req POST "/api/workflows/$W/run" '{"input": "x"}'
T1=$(lf_ms)
t_eq "a step past its timeout_secs: 422" "$LF_STATUS $(jb .detail)" "422 Step 'crawl' timed out after 1s"
t_ok "answered at the timeout, not the reply 20 s on ($((T1 - T0)) ms)" test $((T1 - T0)) -lt 10000
W=$(create '{"name": "total", "total_timeout_secs": 1, "steps": [{"name": "crawl", "agent_name": "slow2", "timeout_secs": 30}]}')
lf_fake_script '{"model": "m-slow2", "steps": [{"text": "too late", "delay_ms": 6000}]}'
lf_req POST "/api/workflows/$W/run" '{"input": "x"}'
t_eq "a run past total_timeout_secs: 422" "$LF_STATUS $(jb .detail)" "422 workflow exceeded total_timeout of 1s"
# When the abandoned slow turns will have ended (they go on in agent-runtime).
SLOW_END=$(jq -n --argjson a "$(lf_fake_requests m-slow)" --argjson b "$(lf_fake_requests m-slow2)" \
    '[($a[-1].at_ms // 0) + 20500, ($b[-1].at_ms // 0) + 6500] | max')
lf_req GET "/api/workflows/$W/runs"
t_eq "recorded Failed" "$(jb '.[0].state')" Failed

# ---- DAG mode: layers at once, every step on the run's input -------------------------
W=$(create '{"name": "dag", "steps": [
  {"name": "join", "agent_name": "merger", "prompt": "{{input}} | {{va}} | {{vb}}", "depends_on": ["left", "right"]},
  {"name": "left", "agent_name": "fa", "prompt": "L {{input}}", "output_var": "va"},
  {"name": "right", "agent_name": "fb", "prompt": "R {{input}}", "output_var": "vb"}]}')
curl -s -m 10 -o /dev/null -X POST "$LF_FAKE_URL/__fake/reset"
lf_fake_script '{"model": "m-fa", "steps": [{"text": "LEFT", "delay_ms": 5000}]}'
lf_fake_script '{"model": "m-fb", "steps": [{"text": "RIGHT", "delay_ms": 5000}]}'
lf_fake_script '{"model": "m-merger", "steps": [{"text": "JOINED"}]}'
lf_req POST "/api/workflows/$W/run" '{"input": "base"}'
t_eq "a DAG run: 200, the last step's output" "$LF_STATUS $(jb .output)" "200 JOINED"
t_eq "steps ran by layer, in declaration order within one" "$(jbc '[.step_results[].step_name]')" '["left","right","join"]'
GAP=$(jq -n --argjson a "$(lf_fake_requests m-fa)" --argjson b "$(lf_fake_requests m-fb)" '($a[0].at_ms - $b[0].at_ms) | fabs')
t_ok "the first layer ran at once (${GAP} ms apart; each answers after 5000)" test "${GAP%.*}" -lt 5000
t_eq "a dependent step gets the run's input and its dependencies' variables" "$(last m-merger)" "base | LEFT | RIGHT"

W=$(create '{"name": "dagfail", "steps": [
  {"name": "maybe", "agent_name": "skipper", "error_mode": "skip"},
  {"name": "then", "agent_name": "shipper", "error_mode": "skip", "depends_on": ["maybe"]},
  {"name": "must", "agent_name": "rejecter", "depends_on": ["then"]}]}')
lf_fake_script "{\"model\": \"m-skipper\", \"steps\": $(failing 1)}"
lf_req POST "/api/workflows/$W/run" '{"input": "x"}'
t_eq "a failed dependency marks a skip step failed, and fails a fail step's run" \
    "$LF_STATUS $(jb .detail)" "422 Step 'must' skipped: dependency failed"
t_eq "without asking their agents" "$(lf_fake_requests m-shipper | jq length) $(lf_fake_requests m-rejecter | jq length)" "0 0"

# ---- session_mode "new": a fresh session per step and run ------------------------------
W=$(create '{"name": "fresh", "steps": [{"name": "f", "agent_name": "judge", "session_mode": "new", "prompt": "fresh {{input}}"}]}')
lf_req POST "/api/workflows/$W/run" '{"input": "one"}'
lf_req POST "/api/workflows/$W/run" '{"input": "two"}'
t_eq "session_mode new: each run's turn starts without history" \
    "$(lf_fake_requests m-judge | jq -c '[.[-2:][] | [.body.messages[] | select(.role == "user") | .content]]')" \
    '[["fresh one"],["fresh two"]]'
W=$(create '{"name": "kept", "steps": [{"name": "k", "agent_name": "judge", "prompt": "kept {{input}}"}]}')
lf_req POST "/api/workflows/$W/run" '{"input": "three"}'
t_ok "while a persistent step sees the agent's history" \
    test "$(lf_fake_requests m-judge | jq '[.[-1].body.messages[] | select(.role == "user")] | length')" -gt 1

# ---- an agent gone at run time -------------------------------------------------------------
G=$(lf_agent ghost m-ghost)
W=$(create '{"name": "ghost", "steps": [{"name": "boo", "agent_name": "ghost"}]}')
lf_req DELETE "/api/agents/$G"
lf_req POST "/api/workflows/$W/run" '{"input": "x"}'
t_eq "a step whose agent is gone fails the run, naming it" "$LF_STATUS $(jb .detail)" \
    "422 Registry agent 'ghost' not found for workflow step 'boo'"

# The slow turns abandoned at their timeouts still run in agent-runtime:
# let the last one end before the stack stops.
LEFT=$((SLOW_END - $(lf_ms)))
[ "$LEFT" -le 0 ] || sleep "$(printf '%d.%03d' $((LEFT / 1000)) $((LEFT % 1000)))"

# ---- agent-runtime gone: asked again a few times, then a recorded failure ------------
W=$(create '{"name": "alone", "steps": [{"name": "s", "agent_name": "merger"}]}')
lf_stop agent-runtime
T0=$(lf_ms)
lf_req POST "/api/workflows/$W/run" '{"input": "x"}'
T1=$(lf_ms)
t_eq "without agent-runtime the run fails: 422" "$LF_STATUS" 422
t_ok "saying so ($(jb .detail))" bash -c '[[ "$0" == "could not list agents"* ]]' "$(jb .detail)"
t_ok "after asking for about five seconds ($((T1 - T0)) ms)" test $((T1 - T0)) -ge 3500 -a $((T1 - T0)) -lt 30000
lf_stack_stop
t_done
