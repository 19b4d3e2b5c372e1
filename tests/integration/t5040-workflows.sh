#!/usr/bin/env bash
# t5040-workflows.sh - workflow definitions and a sequential run (issue 9,
# part "workflows"; notes/kernel.md 1): create, list, get, update, delete
# with the spec's shapes; the 400s of bad definitions (unknown agents,
# empty workflows, absurd numbers, unknown modes, DAG mode); a run through
# two agents with {{input}}, seeded variables and output_var, answered
# synchronously; the runs list; a run without waiting; the same
# idempotency_key giving one run.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-workflows-0123456789
lf_config "[scheduler]
workflow_runs_kept = 10"
lf_fake_stack agent-runtime scheduler
lf_wait_ok /api/workflows || { echo "Bail out! the scheduler did not answer"; lf_dump_logs; exit 1; }

A=$(lf_agent analyst m-analyst)
B=$(lf_agent writer m-writer)

# ---- create, list, get ---------------------------------------------------------
WF=$(jq -nc --arg b "$B" '{name: "review", description: "two agents",
  steps: [
    {name: "analyze", agent_name: "analyst", prompt: "Analyze: {{input}}", output_var: "analysis"},
    {name: "summarize", agent_id: $b, prompt: "Summarize {{analysis}} for {{topic}}", timeout_secs: 60, error_mode: "fail"}]}')
lf_req POST /api/workflows "$WF"
t_eq "create is 201" "$LF_STATUS" 201
W=$(jb .workflow_id)
t_eq "it answers {workflow_id} only" "$(jbc keys)" '["workflow_id"]'
t_ok "a uuid ($W)" test ${#W} = 36

lf_req GET /api/workflows
t_eq "list is 200" "$LF_STATUS" 200
t_eq "an array of {id, name, description, steps, created_at}" \
    "$(jbc '[.[] | select(.id == "'"$W"'") | [.name, .description, .steps, (.created_at | test("^20..-..-..T..:..:..")) ]]')" \
    '[["review","two agents",2,true]]'

lf_req GET "/api/workflows/$W"
t_eq "get is 200" "$LF_STATUS" 200
t_eq "steps name their agent as {agent_name} or {agent_id}" \
    "$(jbc '[.steps[].agent]')" "[{\"agent_name\":\"analyst\"},{\"agent_id\":\"$B\"}]"
t_eq "with prompt_template, mode, timeout_secs, error_mode, output_var" \
    "$(jbc '[.steps[] | [.prompt_template, .mode, .timeout_secs, .error_mode, .output_var]]')" \
    '[["Analyze: {{input}}","sequential",120,"fail","analysis"],["Summarize {{analysis}} for {{topic}}","sequential",60,"fail",null]]'
t_eq "and the workflow's own fields" "$(jb '"\(.id == "'"$W"'") \(.name) \(.description)"')" "true review two agents"

# ---- bad input -------------------------------------------------------------------
bad() {
	local desc=$1 body=$2 want=$3
	lf_req POST /api/workflows "$body"
	t_eq "$desc: 400" "$LF_STATUS" 400
	t_ok "$desc: the reason ($(jb .error))" jq -e --arg w "$want" '.error | contains($w)' <<<"$LF_BODY"
}
bad "no steps" '{"name": "x"}' "Missing 'steps'"
bad "empty steps" '{"steps": []}' "at least one step"
bad "an unknown agent name" '{"steps": [{"agent_name": "nobody"}]}' "agent 'nobody' not found"
bad "an unknown agent id" '{"steps": [{"agent_id": "00000000-0000-4000-8000-000000000000"}]}' "not found"
bad "no agent" '{"steps": [{"name": "s", "prompt": "x"}]}' "agent_id or agent_name"
bad "a bad agent_id" '{"steps": [{"agent_id": "nope"}]}' "not a UUID"
bad "absurd max_iterations" '{"steps": [{"agent_name": "analyst", "mode": "loop", "max_iterations": 1000000}]}' "max_iterations"
bad "negative timeout" '{"steps": [{"agent_name": "analyst", "timeout_secs": -1}]}' "timeout_secs"
bad "absurd max_retries" '{"steps": [{"agent_name": "analyst", "error_mode": "retry", "max_retries": 100000}]}' "max_retries"
bad "an unknown mode" '{"steps": [{"agent_name": "analyst", "mode": "teleport"}]}' "unknown mode"
bad "a conditional without condition" '{"steps": [{"agent_name": "analyst", "mode": "conditional"}]}' "condition"
bad "cyclic depends_on" '{"steps": [{"name": "a", "agent_name": "analyst", "depends_on": ["b"]}, {"name": "b", "agent_name": "analyst", "depends_on": ["a"]}]}' "Cycle detected in workflow step dependencies"
bad "an unknown dependency" '{"steps": [{"name": "a", "agent_name": "analyst", "depends_on": ["zz"]}]}' "unknown dependency 'zz'"
bad "too many steps" "$(jq -nc '{steps: [range(101) | {agent_name: "analyst"}]}')" "too many steps"
bad "steps not objects" '{"steps": [1]}' "JSON object"
lf_req POST /api/workflows '[1]'
t_eq "a body that is no object: 400" "$LF_STATUS" 400
t_ok "as {error}" lf_err_shape
lf_req GET /api/workflows/not-a-uuid
t_eq "get of a bad id: 400" "$LF_STATUS" 400
lf_req GET /api/workflows/00000000-0000-4000-8000-000000000000
t_eq "get of an unknown id: 404" "$LF_STATUS" 404
t_ok "as {error}" lf_err_shape
lf_req POST /api/workflows/00000000-0000-4000-8000-000000000000/run '{"input": "x"}'
t_eq "run of an unknown workflow: 404" "$LF_STATUS" 404
lf_req POST "/api/workflows/$W/run" '"just a string"'
t_eq "a run body that is no object: 400" "$LF_STATUS" 400
lf_req POST "/api/workflows/$W/run" '{"input": "x", "idempotency_key": 5}'
t_eq "a bad idempotency_key: 400" "$LF_STATUS" 400

# ---- a sequential run through two agents -----------------------------------------
lf_fake_script '{"model": "m-analyst", "steps": [{"text": "ANALYSIS-ONE", "usage": {"input_tokens": 11, "output_tokens": 3}}]}'
lf_fake_script '{"model": "m-writer", "steps": [{"text": "SUMMARY-TWO"}]}'
lf_req POST "/api/workflows/$W/run" '{"input": {"input": "the code", "topic": "ops"}}'
t_eq "run is 200" "$LF_STATUS" 200
t_eq "answered with the output and status completed" "$(jb '"\(.output) \(.status)"')" "SUMMARY-TWO completed"
R=$(jb .run_id)
t_ok "and a run_id ($R)" test ${#R} = 36
t_eq "two step results in order" "$(jbc '[.step_results[] | [.step_name, .agent_name, .output]]')" \
    '[["analyze","analyst","ANALYSIS-ONE"],["summarize","writer","SUMMARY-TWO"]]'
t_eq "with the prompts as sent, tokens and agent ids" \
    "$(jbc '[.step_results[0] | .prompt, .input_tokens, .output_tokens, (.agent_id == "'"$A"'"), (.duration_ms >= 0)]')" \
    '["Analyze: the code",11,3,true,true]'
t_eq "the analyst got {{input}} (the object's input field)" \
    "$(lf_fake_requests m-analyst | jq -r '.[-1].body.messages[-1].content')" "Analyze: the code"
t_eq "the writer got output_var and a seeded variable" \
    "$(lf_fake_requests m-writer | jq -r '.[-1].body.messages[-1].content')" "Summarize ANALYSIS-ONE for ops"

lf_req GET "/api/workflows/$W/runs"
t_eq "runs is 200" "$LF_STATUS" 200
t_eq "an array of {id, workflow_name, state, steps_completed, started_at, completed_at}" \
    "$(jbc '[.[] | [.id == "'"$R"'", .workflow_name, .state, .steps_completed, (.started_at | test("^20")), (.completed_at | test("^20"))]]')" \
    '[[true,"review","Completed",2,true,true]]'

# A plain string input is {{input}} itself.
lf_fake_script '{"model": "m-writer", "steps": [{"text": "S3"}]}'
lf_req POST "/api/workflows/$W/run" '{"input": "plain words"}'
t_eq "a string input: 200 S3" "$LF_STATUS $(jb .output)" "200 S3"
t_eq "{{input}} is the string" "$(lf_fake_requests m-analyst | jq -r '.[-1].body.messages[-1].content')" "Analyze: plain words"
t_eq "an unknown placeholder stays as written" "$(lf_fake_requests m-writer | jq -r '.[-1].body.messages[-1].content')" \
    "Summarize echo: Analyze: plain words for {{topic}}"

# ---- not waiting; one run per idempotency_key --------------------------------------
lf_req POST "/api/workflows/$W/run?wait=false" '{"input": "async"}'
t_eq "?wait=false: 202" "$LF_STATUS" 202
R2=$(jb .run_id)
ended() { lf_req GET "/api/workflows/$W/runs"; [ "$(jb '.[] | select(.id == "'"$R2"'") | .state')" = Completed ]; }
t_ok "and the run completes in the background" lf_poll 200 ended

lf_req POST "/api/workflows/$W/run" '{"input": "once", "idempotency_key": "fire-1"}'
K1=$(jb .run_id)
lf_req POST "/api/workflows/$W/run" '{"input": "once", "idempotency_key": "fire-1"}'
t_eq "the same idempotency_key answers the same run" "$LF_STATUS $(jb .run_id)" "200 $K1"
t_eq "which ran once" "$(lf_psql "SELECT count(*) FROM scheduler.workflow_runs WHERE idem_key = 'fire-1'")" 1

# ---- workflows.run on the bus, as a schedule or a trigger asks it ------------------
busrun() { timeout 20 "$LF_BIN/bustool" -t 15000 req scheduler workflows.run "$1"; }
OUT=$(busrun '{"body": {"workflow_id": "REVIEW", "input": "by name", "wait": false, "idempotency_key": "trigger-7"}}')
t_eq "by name (case-insensitive), not waiting: 202 pending" "$(jq -c '[.status, .body.status]' <<<"$OUT")" '[202,"pending"]'
BR=$(jq -r .body.run_id <<<"$OUT")
OUT=$(busrun '{"body": {"workflow_id": "review", "input": "by name", "idempotency_key": "trigger-7"}}')
t_eq "the same key again, waiting: that run's result" "$(jq -c '[.status, .body.run_id == "'"$BR"'", .body.status]' <<<"$OUT")" '[200,true,"completed"]'
OUT=$(busrun '{"body": {"workflow_id": "no such workflow"}}')
t_eq "an unknown name: 404" "$(jq -c '[.status, .body.error]' <<<"$OUT")" "[404,\"Workflow 'no such workflow' not found\"]"
OUT=$(busrun '{"body": {"input": "x"}}')
t_eq "no workflow named: 400" "$(jq -c .status <<<"$OUT")" 400

# A caller whose deadline comes first is told the run goes on.
lf_fake_script '{"model": "m-analyst", "steps": [{"text": "SLOW ONE", "delay_ms": 3000}]}'
T0=$(lf_ms)
OUT=$(timeout 20 "$LF_BIN/bustool" -t 2500 req scheduler workflows.run "{\"params\": {\"id\": \"$W\"}, \"body\": {\"input\": \"slow\"}}")
T1=$(lf_ms)
t_eq "a run outlasting its caller's deadline: 202 running, a second before it" \
    "$(jq -c '[.status, .body.status, (.body.run_id | length)]' <<<"$OUT")" '[202,"running",36]'
# The 202 is the answer before the deadline (bustool giving up prints no
# status; waiting for the run, 200); the time is for a reader.
echo "# answered $((T1 - T0)) ms after bustool started (its 2.5 s deadline, its start included)"
SR=$(jq -r .body.run_id <<<"$OUT")
sr_done() { lf_req GET "/api/workflows/$W/runs"; [ "$(jb '.[] | select(.id == "'"$SR"'") | .state')" = Completed ]; }
t_ok "and the run completes" lf_poll 200 sr_done

# ---- a workflow keeps its newest workflow_runs_kept ended runs ------------------------
for i in 1 2 3 4 5 6; do
	lf_req POST "/api/workflows/$W/run" "{\"input\": \"more $i\"}"
done
t_eq "the last of many runs: 200" "$LF_STATUS" 200
t_eq "ended runs beyond workflow_runs_kept are pruned" \
    "$(lf_psql "SELECT count(*) FROM scheduler.workflow_runs WHERE workflow_id = '$W'")" 10
lf_req GET "/api/workflows/$W/runs"
t_eq "the newest stay, newest first" "$(jb '.[0].input')" "more 6"

# ---- bad [scheduler] values stop a replica at start ------------------------------------
printf '[scheduler]\nworkflow_threads = 0\n' > "$LF_TMP/bad.toml"
timeout 30 "$LF_BIN/scheduler" -f "$LF_TMP/bad.toml" > "$LF_TMP/bad.log" 2>&1
t_eq "workflow_threads = 0: the scheduler exits 1" "$?" 1
t_ok "saying why" grep -q "scheduler.workflow_threads must be an integer from 1 to 64" "$LF_TMP/bad.log"

# ---- update, delete ------------------------------------------------------------------
lf_req PUT "/api/workflows/$W" '{"name": "review2", "steps": [{"agent_name": "writer", "mode": {"loop": {"max_iterations": 2, "until": "DONE"}}, "error_mode": {"retry": {"max_retries": 1, "backoff_ms": 10}}}]}'
t_eq "update is 200" "$LF_STATUS" 200
lf_req GET "/api/workflows/$W"
t_eq "the tagged forms are stored flat" "$(jbc '[.name, (.steps[0] | .mode, .max_iterations, .until, .error_mode, .max_retries, .backoff_ms, .prompt_template)]')" \
    '["review2","loop",2,"DONE","retry",1,10,"{{input}}"]'
lf_req PUT "/api/workflows/$W" '{"steps": []}'
t_eq "a bad update: 400" "$LF_STATUS" 400
lf_req PUT /api/workflows/00000000-0000-4000-8000-000000000000 '{"steps": [{"agent_name": "writer"}]}'
t_eq "update of an unknown id: 404" "$LF_STATUS" 404
lf_req DELETE "/api/workflows/$W"
t_eq "delete is 200" "$LF_STATUS" 200
lf_req GET "/api/workflows/$W"
t_eq "then get is 404" "$LF_STATUS" 404
lf_req DELETE "/api/workflows/$W"
t_eq "and a second delete 404" "$LF_STATUS" 404

lf_stack_stop
t_done
