#!/usr/bin/env bash
# t5060-scheduler-audit.sh - the scheduler adopts the audit outbox
# (services/audit/README.md, "What is recorded"; scheduler README,
# "Audit"): every change to a cron job or schedule (create, update,
# enable, disable, delete), a trigger (create, PATCH, PUT, delete), a
# workflow (create, update, delete, a run started by hand), a goal
# (create, update, delete) and an operator's task cancel and retry
# reaches GET /api/audit/recent as a ConfigChange entry with its detail
# and agent; the refused ones (400, 404, 409, a delete of nothing) and a
# workflow run a schedule starts leave none: the scheduler's entries are
# exactly the expected list, in order; the outbox empties and the chain
# verifies.
. "$(dirname "$0")/../lib.sh"

for v in $(env | grep -oE '^[A-Z0-9_]+_(API_KEY|API_TOKEN|TOKEN)=' | tr -d =); do
	unset "$v"
done
export FAKE_API_KEY=sk-fake-schedaudit-0123456789
lf_fake_start
lf_config '[scheduler]
tick_ms = 100'
lf_stack_start agent-runtime scheduler audit
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not answer"; lf_dump_logs; exit 1; }
lf_wait_ok /api/workflows || { echo "Bail out! the scheduler did not answer"; lf_dump_logs; exit 1; }

NOID=00000000-0000-4000-8000-00000000dead
SYSTEM=system
# The scheduler's entries, oldest first, as "agent_id|detail" lines.
sched_entries() {
	lf_req GET '/api/audit/recent?limit=500'
	jb '.entries[] | select(.action == "ConfigChange" and (.detail |
	    test("^(cron\\.jobs|schedules|triggers|workflows|goals|tasks)\\."))) |
	    "\(.agent_id)|\(.detail)"'
}
has_entry() { sched_entries | grep -qxF -- "$1"; }
# entry DESC LINE: the change's entry reaches the chain (the relay is
# asynchronous: 10 s at most).
EXPECT=()
entry() {
	EXPECT+=("$2")
	t_ok "$1" lf_poll 200 has_entry "$2"
	has_entry "$2" || echo "# last entries: $(sched_entries | tail -3)"
}

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml auditee m-sched)")"
A=$(jb .agent_id)
t_eq "an agent" "$LF_STATUS" 201

# ---- cron jobs and schedules -----------------------------------------------------
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$A" '{agent_id: $a, name: "nightly",
    schedule: {kind: "cron", expr: "0 3 * * *", tz: "UTC"}, prompt: "Report"}')"
t_eq "a cron job is created" "$LF_STATUS" 201
J=$(jb .id)
entry "cron job create is recorded, with the job's agent" "$A|cron.jobs.create: cron job 'nightly' ($J)"

lf_req PUT "/api/cron/jobs/$J/enable" '{"enabled": false}'
t_eq "it is disabled" "$LF_STATUS" 200
entry "disable is recorded" "$A|cron.jobs.enable: cron job 'nightly' ($J) disabled"
lf_req PUT "/api/cron/jobs/$J/enable" '{"enabled": true}'
entry "enable is recorded" "$A|cron.jobs.enable: cron job 'nightly' ($J) enabled"

lf_req PUT "/api/cron/jobs/$J" '{"name": "nightly-2", "enabled": false}'
t_eq "it is updated" "$LF_STATUS" 200
entry "update is recorded, with the new name and the switch" "$A|cron.jobs.update: cron job 'nightly-2' ($J) disabled"

lf_req POST /api/schedules "$(jq -nc --arg a "$A" '{agent_id: $a, name: "hourly", cron: "0 * * * *", prompt: "Hi"}')"
t_eq "a schedule is created" "$LF_STATUS" 201
S=$(jb .id)
entry "schedule create is recorded" "$A|schedules.create: schedule 'hourly' ($S)"
lf_req PUT "/api/schedules/$S" '{"prompt": "Hello"}'
t_eq "it is updated" "$LF_STATUS" 200
entry "schedule update is recorded" "$A|schedules.update: schedule 'hourly' ($S)"

# Refused: nothing recorded.
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$NOID" '{agent_id: $a, name: "ghost-job",
    schedule: {kind: "cron", expr: "0 3 * * *"}, prompt: "x"}')"
t_eq "a job for an unknown agent is refused (400)" "$LF_STATUS" 400
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$A" '{agent_id: $a, name: "bad-cron",
    schedule: {kind: "cron", expr: "0 0 30 2 *"}, prompt: "x"}')"
t_eq "a cron that never fires is refused (400)" "$LF_STATUS" 400
lf_req PUT "/api/cron/jobs/$NOID" '{"name": "ghost-update"}'
t_eq "an update of no job is 404" "$LF_STATUS" 404
lf_req PUT "/api/cron/jobs/$NOID/enable" '{"enabled": true}'
t_eq "an enable of no job is 404" "$LF_STATUS" 404
lf_req PUT "/api/schedules/$S" '{"cron": "61 * * * *"}'
t_eq "a bad cron in an update is 400" "$LF_STATUS" 400

lf_req DELETE "/api/cron/jobs/$J"
t_eq "the job is deleted" "$(jb .status)" deleted
entry "delete is recorded" "$A|cron.jobs.delete: cron job 'nightly-2' ($J)"
lf_req DELETE "/api/cron/jobs/$J"
t_eq "a second delete changes nothing" "$(jb .status)" already-deleted

# ---- triggers -------------------------------------------------------------------------
lf_req POST /api/triggers "$(jq -nc --arg a "$A" '{agent_id: $a, pattern: "lifecycle", prompt_template: "Saw {{event}}"}')"
t_eq "a trigger is created" "$LF_STATUS" 201
T=$(jb .trigger_id)
entry "trigger create is recorded, with its pattern" "$A|triggers.create: trigger ($T) on {\"lifecycle\":{}}"
lf_req PATCH "/api/triggers/$T" '{"max_fires": 5, "enabled": false}'
t_eq "it is patched" "$LF_STATUS" 200
entry "PATCH is recorded, naming the fields" "$A|triggers.patch: trigger ($T) max_fires, enabled"
lf_req PUT "/api/triggers/$T" '{"enabled": true}'
t_eq "it is updated (PUT)" "$LF_STATUS" 200
entry "PUT is recorded" "$A|triggers.update: trigger ($T) enabled"

lf_req POST /api/triggers "$(jq -nc --arg a "$NOID" '{agent_id: $a, pattern: "all"}')"
t_eq "a trigger for an unknown agent is 404" "$LF_STATUS" 404
lf_req PATCH "/api/triggers/$NOID" '{"max_fires": 1}'
t_eq "a PATCH of no trigger is 404" "$LF_STATUS" 404
lf_req PATCH "/api/triggers/$T" '{"pattern": {"no_such_kind": {}}}'
t_eq "a bad pattern is 400" "$LF_STATUS" 400

lf_req DELETE "/api/triggers/$T"
t_eq "the trigger is removed" "$(jb .status)" removed
entry "trigger delete is recorded" "$A|triggers.delete: trigger ($T)"
lf_req DELETE "/api/triggers/$T"
t_eq "a second delete changes nothing" "$(jb .status)" already-deleted

# ---- workflows --------------------------------------------------------------------------
lf_req POST /api/workflows '{"name": "pipeline", "steps": [{"name": "s", "agent_name": "auditee", "prompt": "{{input}}"}]}'
t_eq "a workflow is created" "$LF_STATUS" 201
W=$(jb .workflow_id)
entry "workflow create is recorded" "$SYSTEM|workflows.create: workflow 'pipeline' ($W)"
lf_req PUT "/api/workflows/$W" '{"name": "pipeline-2", "steps": [{"name": "s", "agent_name": "auditee", "prompt": "Do {{input}}"}]}'
t_eq "it is updated" "$LF_STATUS" 200
entry "workflow update is recorded" "$SYSTEM|workflows.update: workflow 'pipeline-2' ($W)"
lf_req POST "/api/workflows/$W/run?wait=false" '{"input": "now"}'
t_eq "a run started by hand is 202" "$LF_STATUS" 202
R=$(jb .run_id)
entry "the run started by hand is recorded, with who started it (the owner: no api_key)" "$SYSTEM|workflows.run: workflow 'pipeline-2' ($W) run $R started by owner"
lf_req POST "/api/workflows/$W/run?wait=false" '{"input": "again", "idempotency_key": "k-1"}'
R2=$(jb .run_id)
entry "a run under a key is recorded" "$SYSTEM|workflows.run: workflow 'pipeline-2' ($W) run $R2 started by owner"
lf_req POST "/api/workflows/$W/run?wait=false" '{"input": "again", "idempotency_key": "k-1"}'
t_eq "the same key answers the same run" "$(jb .run_id)" "$R2"

# A schedule's workflow action starts a run as "cron": recorded as the
# fire, not as a run by hand.
lf_req POST /api/cron/jobs "$(jq -nc --arg w "$W" '{name: "wf-job",
    schedule: {kind: "cron", expr: "0 3 * * *"}, action: {kind: "workflow", workflow_id: $w}}')"
t_eq "a workflow schedule is created" "$LF_STATUS" 201
WJ=$(jb .id)
entry "with its entry (the shared agent's)" "00000000-0000-0000-0000-000000000001|cron.jobs.create: cron job 'wf-job' ($WJ)"
lf_req POST "/api/schedules/$WJ/run" '{}'
t_eq "run now fires it" "$LF_STATUS" 200
t_eq "its run exists" "$(lf_psql "SELECT count(*) FROM scheduler.workflow_runs WHERE workflow_id = '$W'")" 3

lf_req PUT "/api/workflows/$NOID" '{"name": "ghost-wf", "steps": [{"agent_name": "auditee"}]}'
t_eq "an update of no workflow is 404" "$LF_STATUS" 404
lf_req POST /api/workflows '{"name": "bad-wf", "steps": [{"agent_name": "nobody"}]}'
t_eq "a workflow naming no agent is 400" "$LF_STATUS" 400
lf_req POST "/api/workflows/$NOID/run?wait=false" '{}'
t_eq "a run of no workflow is 404" "$LF_STATUS" 404
lf_req DELETE "/api/workflows/$NOID"
t_eq "a delete of no workflow is 404" "$LF_STATUS" 404

lf_req DELETE "/api/workflows/$W"
t_eq "the workflow is deleted" "$LF_STATUS" 200
entry "workflow delete is recorded" "$SYSTEM|workflows.delete: workflow 'pipeline-2' ($W)"

# ---- goals ---------------------------------------------------------------------------------
lf_req POST /api/goals "$(jq -nc --arg a "$A" '{title: "Ship it", agent_id: $a}')"
t_eq "a goal is created" "$LF_STATUS" 201
G=$(jb .id)
entry "goal create is recorded, with its agent" "$A|goals.create: goal 'Ship it' ($G)"
lf_req POST /api/goals "$(jq -nc --arg p "$G" '{title: "Step one", parent_id: $p}')"
G2=$(jb .id)
entry "a subgoal's create is recorded" "$SYSTEM|goals.create: goal 'Step one' ($G2)"
lf_req PUT "/api/goals/$G" '{"progress": 50, "status": "in_progress"}'
t_eq "it is updated" "$LF_STATUS" 200
entry "goal update is recorded, naming the fields" "$A|goals.update: goal 'Ship it' ($G) status, progress"

lf_req POST /api/goals "$(jq -nc --arg p "$NOID" '{title: "ghost-goal", parent_id: $p}')"
t_eq "a goal under no parent is 404" "$LF_STATUS" 404
lf_req PUT "/api/goals/$G" "$(jq -nc --arg p "$G2" '{parent_id: $p}')"
t_eq "a cycle is 400" "$LF_STATUS" 400
lf_req PUT "/api/goals/$NOID" '{"title": "ghost-goal"}'
t_eq "an update of no goal is 404" "$LF_STATUS" 404
lf_req POST /api/goals '{"title": ""}'
t_eq "an empty title is 400" "$LF_STATUS" 400

lf_req DELETE "/api/goals/$G"
t_eq "the goal is deleted" "$LF_STATUS" 204
entry "goal delete is recorded, once for the subtree" "$A|goals.delete: goal 'Ship it' ($G) and its subgoals"
lf_req DELETE "/api/goals/$G"
t_eq "a second delete is 404" "$LF_STATUS" 404

# ---- tasks: an operator's cancel and retry ----------------------------------------------
TK=$(lf_psql "INSERT INTO scheduler.tasks (id, title, description) VALUES (gen_random_uuid(), 'Index the wiki', '') RETURNING id" | head -1)
TF=$(lf_psql "INSERT INTO scheduler.tasks (id, title, description, status) VALUES (gen_random_uuid(), 'Retry me', '', 'failed') RETURNING id" | head -1)
lf_req POST "/api/tasks/$TK/retry" '{}'
t_eq "a pending task cannot be retried (409)" "$LF_STATUS" 409
lf_req DELETE "/api/tasks/$TK"
t_eq "it is cancelled" "$LF_STATUS" 204
entry "cancel is recorded" "$SYSTEM|tasks.cancel: task 'Index the wiki' ($TK) cancelled"
lf_req DELETE "/api/tasks/$TK"
t_eq "a second cancel is 409" "$LF_STATUS" 409
lf_req POST "/api/tasks/$TF/retry" '{}'
t_eq "a failed task is retried" "$LF_STATUS" 200
entry "retry is recorded" "$SYSTEM|tasks.retry: task 'Retry me' ($TF) retried"

# ---- nothing else ------------------------------------------------------------------------
# The relay sends in outbox order: once the last entry is in, any entry
# a refused change had left would be too.
t_eq "the scheduler's entries are exactly the changes made, in order" \
    "$(sched_entries)" "$(printf '%s\n' "${EXPECT[@]}")"
t_ok "none names a refused change" \
    sh -c "! printf '%s' \"\$1\" | grep -qE 'ghost|bad-|$NOID'" _ "$(sched_entries)"
lf_req GET '/api/audit/recent?limit=500'
t_eq "every scheduler entry's outcome is ok" \
    "$(jb '[.entries[] | select(.detail | test("^(cron|schedules|triggers|workflows|goals|tasks)\\.")) | .outcome] | unique | join(",")')" ok
t_eq "the outbox is empty once sent" "$(lf_psql 'SELECT count(*) FROM scheduler.audit_outbox')" 0
lf_req GET /api/audit/verify
t_eq "the chain verifies" "$(jbc '[.status, .valid]')" '["valid",true]'

t_done
