#!/usr/bin/env bash
# t5037-trigger-workflow.sh - a trigger that names a workflow starts a run
# of it (notes/kernel.md 2.5) instead of a turn: the rendered prompt is
# the run's input, the fire records the run it started, a second replica
# of the event does not start a second run (the fire's key), and a
# workflow deleted since the trigger was made is a failed fire with the
# reason.  And a trigger without session_mode follows its recipient's
# manifest.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-trigger-workflow-0123
lf_fake_stack agent-runtime scheduler
lf_wait_ok /api/workflows || { echo "Bail out! the scheduler did not answer"; lf_dump_logs; exit 1; }

runs_done() { lf_req GET "/api/workflows/$1/runs"; [ "$(jbc "[.[] | select(.state == \"Completed\")] | length")" -ge "$2" ]; }

O=$(lf_agent owner m-owner)
S=$(lf_agent summarizer m-sum)
lf_req POST /api/workflows "$(jq -nc '{name: "on-spawn", steps: [{name: "sum", agent_name: "summarizer", prompt: "Summarize: {{input}}"}]}')"
t_eq "a workflow" "$LF_STATUS" 201
WF=$(jb .workflow_id)
lf_req POST /api/triggers "$(jq -nc --arg a "$O" --arg w "$WF" '{agent_id: $a, pattern: {agent_spawned: {name_pattern: "newbie"}}, prompt_template: "New: {{event}}", workflow_id: $w}')"
t_eq "a trigger naming it" "$LF_STATUS" 201
T=$(jb .trigger_id)

N=$(lf_agent newbie-1 m-x)
lf_wait_fire "$T" 1 || echo "# the fire did not finish within 10 s"
t_eq "the fire completed, naming the run it started" \
    "$(lf_psql "SELECT status, response LIKE 'workflow run % started' FROM scheduler.trigger_fires WHERE trigger_id = '$T'")" "completed|t"
RUN=$(lf_psql "SELECT substring(response from 'workflow run (.*) started') FROM scheduler.trigger_fires WHERE trigger_id = '$T'")
lf_poll 200 runs_done "$WF" 1 || echo "# the run did not complete within 10 s"
lf_req GET "/api/workflows/$WF/runs"
t_eq "the run is the fire's, completed" "$(jbc "[.[] | select(.id == \"$RUN\") | .state]")" '["Completed"]'
t_eq "its input is the rendered prompt" "$(jb ".[] | select(.id == \"$RUN\") | .input")" "New: Agent 'newbie-1' (id: $N) was spawned"
t_eq "the step's agent got it" "$(lf_fake_requests m-sum | jq -r '.[0].body.messages | map(select(.role == "user")) | .[-1].content')" \
    "Summarize: New: Agent 'newbie-1' (id: $N) was spawned"
t_eq "no turn for the owner" "$(lf_fake_requests m-owner | jq length)" 0

# The fire's key: asked again (a replica taking over), the same run.
KEYRUN=$("$LF_BIN/bustool" -t 10000 req scheduler workflows.run "$(jq -nc --arg w "$WF" --arg k "trigger:$T:$(lf_psql "SELECT event_id FROM scheduler.trigger_fires WHERE trigger_id = '$T'")" \
    '{body: {workflow_id: $w, input: "again", wait: false, idempotency_key: $k}}')" 2>/dev/null | jq -r .body.run_id)
t_eq "workflows.run under the fire's key answers the fire's run" "$KEYRUN" "$RUN"
lf_req GET "/api/workflows/$WF/runs"
t_eq "and starts no other" "$(jbc length)" 1

# A trigger without session_mode follows its recipient's manifest: "new"
# gives each fire a session of its own.
lf_req POST /api/agents "$(lf_spawn_json "session_mode = \"new\"
$(lf_fake_toml fresh-owner m-fresh)")"
F=$(jb .agent_id)
lf_req POST /api/triggers "$(jq -nc --arg a "$F" '{agent_id: $a, pattern: {agent_spawned: {name_pattern: "pal"}}, cooldown_secs: 0}')"
TF=$(jb .trigger_id)
lf_agent pal-1 m-x >/dev/null
lf_agent pal-2 m-x >/dev/null
lf_wait_fire "$TF" 2 || echo "# the two fires did not finish within 10 s"
t_eq "no session_mode, manifest new: each fire's turn starts afresh" \
    "$(lf_fake_requests m-fresh | jq -c '[.[] | [.body.messages[] | select(.role == "user")] | length]')" '[1,1]'

# A workflow deleted since: the fire fails, saying why.
lf_req DELETE "/api/workflows/$WF"
lf_agent newbie-2 m-x >/dev/null
lf_wait_fire "$T" 2 || echo "# the second fire did not finish within 10 s"
t_eq "a deleted workflow: a failed fire" \
    "$(lf_psql "SELECT status FROM scheduler.trigger_fires WHERE trigger_id = '$T' ORDER BY created_at DESC LIMIT 1")" failed
t_ok "saying the workflow did not start" test -n "$(lf_psql "SELECT 1 FROM scheduler.trigger_fires WHERE trigger_id = '$T' AND error LIKE 'workflow % did not start%'")"

lf_stack_stop
t_done
