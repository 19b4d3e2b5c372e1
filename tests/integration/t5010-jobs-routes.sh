#!/usr/bin/env bash
# t5010-jobs-routes.sh - schedules and cron jobs (issue 9, item 1), the
# routes: /api/cron/jobs and /api/schedules are two views of one store
# (create in one, see it in the other), their shapes field for field as
# the API reference, partial updates, enable/disable, status, delete
# (idempotent), and bad input: a 400 {"error"} with the reason for bad
# cron text, unknown zones, unknown agents, past or far one-shots, absurd
# numbers, unknown fields and bad uuids.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-jobs-0123456789
lf_config '[scheduler]
min_interval_secs = 5
max_jobs_per_agent = 4'
lf_fake_stack agent-runtime scheduler

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml jobber m-jobs)")"
A=$(jb .agent_id)
t_eq "an agent to schedule ($A)" "$LF_STATUS" 201
NOAGENT=6b1f3c9e-0d2a-4c55-9d0e-1f2a3b4c5d6e

# ---- create in the cron view ---------------------------------------------
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$A" '{agent_id: $a, name: "hourly check",
    schedule: {kind: "every", every_secs: 3600}, action: {kind: "agent_turn", message: "Hourly check"}}')"
t_eq "cron create: 201 created" "$LF_STATUS $(jb .status)" "201 created"
J1=$(jb .id)
t_ok "cron create: id and job_id ($J1)" test -n "$J1" -a "$J1" = "$(jb .job_id)"
t_eq "cron create: next_run an hour ahead, nothing run yet" \
    "$(jb '(.next_run | fromdateiso8601) - now | . > 3500 and . < 3700') $(jb .run_count) $(jb .last_run) $(jb .last_error) $(jb .missed_fires)" \
    "true 0 null null 0"

# The reference's flat body: cron_expr and prompt (a cron text needs the
# cron module; an every schedule is the same store).
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, prompt: "Check system health"}')"
t_eq "cron create with prompt: 201" "$LF_STATUS" 201
J2=$(jb .id)

# Cron texts, with a zone.
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$A" '{agent_id: $a, cron_expr: "0 * * * *", prompt: "Top of the hour"}')"
t_eq "cron create with cron_expr: 201" "$LF_STATUS $(jb .cron_expr) $(jbc .schedule)" \
    '201 0 * * * * {"kind":"cron","expr":"0 * * * *","tz":null}'
t_eq "its next_run is the next hour" "$(jb .next_run)" "$(date -u -d "$(date -u +%Y-%m-%dT%H:00:00Z) + 1 hour" +%FT%TZ)"
JC=$(jb .id)
lf_req POST /api/schedules "$(jq -nc --arg a "$A" '{agent_id: $a, cron: "30 9 * * 1-5", tz: "Asia/Kolkata", prompt: "Morning"}')"
t_eq "schedules create with cron and tz: 201" "$LF_STATUS $(jb .cron) $(jb .tz)" "201 30 9 * * 1-5 Asia/Kolkata"
t_eq "its next_run is 04:00 UTC on a weekday (09:30 in Kolkata)" \
    "$(jb '.next_run | test("T04:00:00Z$")') $(date -u -d "$(jb .next_run)" +%u | awk '{print ($1 <= 5)}')" "true 1"
lf_req DELETE "/api/schedules/$(jb .id)"
lf_req DELETE "/api/cron/jobs/$JC"

lf_req GET /api/cron/jobs
t_eq "cron list: {jobs, total}" "$LF_STATUS $(jbc 'keys') $(jb .total)" '200 ["jobs","total"] 2'
t_eq "cron list: the reference's fields" \
    "$(jbc '.jobs[1] | [has("id","agent_id","cron_expr","prompt","enabled","last_run")] | all')" true
t_eq "cron list: values" "$(jb '.jobs[1] | [.id, .agent_id, .cron_expr, .prompt, .enabled] | join(" ")')" \
    "$J2 $A every 60s Check system health true"
t_eq "cron list: the full job too" \
    "$(jbc '.jobs[0] | [.schedule, .action, .session_mode, .catch_up, .max_consecutive_failures]')" \
    '[{"kind":"every","every_secs":3600},{"kind":"agent_turn","message":"Hourly check","timeout_secs":null},null,"once",5]'

lf_req GET "/api/cron/jobs?agent_id=$A"
t_eq "cron list ?agent_id=: the agent's jobs" "$(jb .total)" 2
lf_req GET "/api/cron/jobs?agent_id=$NOAGENT"
t_eq "cron list ?agent_id= another agent: none" "$LF_STATUS $(jb .total)" "200 0"
lf_req GET "/api/cron/jobs?agent_id=not-a-uuid"
t_ok "cron list ?agent_id=bad: 400 {error}" test "$LF_STATUS" = 400 -a "$(lf_err_shape && echo y)" = y

lf_req GET "/api/cron/jobs/$J1"
t_eq "cron get: the job" "$LF_STATUS $(jb .id) $(jb .name)" "200 $J1 hourly check"

# ---- the schedules view of the same store ------------------------------------
lf_req GET /api/schedules
t_eq "schedules list: {schedules, total} over the same jobs" "$LF_STATUS $(jbc 'keys') $(jb .total)" \
    '200 ["schedules","total"] 2'
t_eq "schedules list: the reference's fields" \
    "$(jbc '.schedules[0] | [has("id","name","cron","agent_id","prompt","enabled","last_run","next_run")] | all')" true
t_eq "schedules list: an interval shows as cron 'every Ns'" "$(jb '.schedules[0].cron')" "every 3600s"

lf_req POST /api/schedules "$(jq -nc --arg a "$A" '{name: "daily-report", schedule: {kind: "every", every_secs: 86400}, agent_id: $a, prompt: "Generate the daily status report", enabled: false}')"
t_eq "schedules create: 201 created" "$LF_STATUS $(jb .status)" "201 created"
S1=$(jb .id)
t_eq "schedules create: disabled as asked" "$(jb .enabled) $(jb .prompt)" "false Generate the daily status report"
lf_req GET "/api/cron/jobs/$S1"
t_eq "the schedule is a cron job too" "$LF_STATUS $(jb .name) $(jb .action.message)" \
    "200 daily-report Generate the daily status report"
lf_req GET "/api/schedules/$S1"
t_eq "schedules get" "$LF_STATUS $(jb .id) $(jb .cron)" "200 $S1 every 86400s"

lf_req POST /api/schedules "$(jq -nc --arg a "$A" '{schedule: {kind: "every", every_secs: 600}, agent_id: $a}')"
t_eq "schedules create without a prompt: the default one" "$LF_STATUS $(jb .prompt)" \
    "201 [Scheduled task '$(jb .name)' triggered]"
S2=$(jb .id)

# ---- caps -------------------------------------------------------------------------
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, prompt: "x"}')"
t_eq "a fifth job of the agent: 400 (max_jobs_per_agent 4)" "$LF_STATUS $(lf_err_shape && echo y)" "400 y"

# ---- update -----------------------------------------------------------------------
lf_req PUT "/api/schedules/$S1" '{"prompt": "Updated prompt", "enabled": true}'
t_eq "schedules update: 200 updated" "$LF_STATUS $(jb .status) $(jb .id)" "200 updated $S1"
t_eq "schedules update: prompt and enabled changed, schedule kept" "$(jb .prompt) $(jb .enabled) $(jb .cron)" \
    "Updated prompt true every 86400s"
lf_req PUT "/api/cron/jobs/$J1" '{"schedule": {"kind": "every", "every_secs": 120}, "name": "renamed"}'
t_eq "cron update: the schedule and next_run" \
    "$LF_STATUS $(jb .name) $(jb .cron_expr) $(jb '(.next_run | fromdateiso8601) - now | . > 100 and . < 140')" \
    "200 renamed every 120s true"
lf_req PUT "/api/cron/jobs/$J1" '{"action": {"kind": "system_event", "text": "tick"}}'
t_eq "cron update: a system_event action" "$LF_STATUS $(jbc .action)" '200 {"kind":"system_event","text":"tick"}'
lf_req PUT "/api/cron/jobs/$NOAGENT" '{"name": "x"}'
t_eq "update of an unknown job: 404 {error}" "$LF_STATUS $(lf_err_shape && echo y)" "404 y"

# ---- enable / status ---------------------------------------------------------------
lf_req PUT "/api/cron/jobs/$J2/enable" '{"enabled": false}'
t_eq "enable false: {status ok, id, enabled}" "$LF_STATUS $(jbc .)" "200 {\"status\":\"ok\",\"id\":\"$J2\",\"enabled\":false}"
lf_req GET "/api/cron/jobs/$J2/status"
t_eq "status: the reference's fields" \
    "$LF_STATUS $(jbc '[has("id","enabled","last_run","next_run","run_count","last_error")] | all') $(jb .enabled) $(jb .run_count)" \
    "200 true false 0"
t_eq "status: no fires yet" "$(jbc .recent_fires)" "[]"
lf_req PUT "/api/cron/jobs/$J2/enable" '{"enabled": true}'
t_eq "enable true" "$LF_STATUS $(jb .enabled)" "200 true"
lf_req PUT "/api/cron/jobs/$J2/enable" '{"enabled": "yes"}'
t_eq "enable with a string: 400" "$LF_STATUS $(lf_err_shape && echo y)" "400 y"
lf_req PUT "/api/cron/jobs/$J2/enable" '{"enabled": true, "extra": 1}'
t_eq "enable with an unknown field: 400" "$LF_STATUS" 400

# ---- bad input ----------------------------------------------------------------------
# bad NAME PATH BODY: a 400 {"error"} whose text matches WHY.
bad() {
	lf_req POST "$2" "$3"
	if [ "$LF_STATUS" = 400 ] && lf_err_shape && grep -qiE "$4" <<<"$(jb .error)"; then
		t_ok "bad input: $1 -> 400 ($(jb .error))" true
	else
		t_ok "bad input: $1 -> 400 matching '$4' (got $LF_STATUS $LF_BODY)" false
	fi
}
C=/api/cron/jobs
every() { jq -nc --arg a "${2:-$A}" --argjson s "$1" '{agent_id: $a, schedule: $s, prompt: "p"}'; }
bad "cron text with 4 fields" $C "$(every '"0 0 1 *"')" "cron"
bad "cron text with a stray character" $C "$(every '"0 0 1 * x!"')" "cron"
bad "impossible cron (0 0 30 2 *)" $C "$(every '"0 0 30 2 *"')" "never"
bad "unknown time zone" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "cron", expr: "0 9 * * *", tz: "Mars/Olympus_Mons"}, prompt: "p"}')" "time zone"
bad "unknown agent" $C "$(every '{"kind":"every","every_secs":60}' $NOAGENT)" "agent.*not found"
bad "agent_id not a uuid" $C "$(every '{"kind":"every","every_secs":60}' "jobber")" "agent_id"
bad "a one-shot in the past" $C "$(every '{"kind":"at","at":"2020-01-01T00:00:00Z"}')" "past"
bad "a one-shot beyond 365 days" $C "$(every "{\"kind\":\"at\",\"at\":\"$(date -u -d '+400 days' +%FT%TZ)\"}")" "365"
bad "a one-shot that is no time" $C "$(every '{"kind":"at","at":"tomorrow"}')" "RFC 3339"
bad "an interval below min_interval_secs" $C "$(every '{"kind":"every","every_secs":1}')" "every_secs"
bad "an absurd interval" $C "$(every '{"kind":"every","every_secs":99999999999}')" "every_secs"
bad "an interval that is a string" $C "$(every '{"kind":"every","every_secs":"60"}')" "every_secs"
bad "an unknown schedule kind" $C "$(every '{"kind":"sometimes"}')" "kind"
bad "an unknown schedule field" $C "$(every '{"kind":"every","every_secs":60,"jitter":5}')" "schedule.jitter"
bad "an unknown field" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, prompt: "p", colour: "red"}')" "unknown field 'colour'"
bad "no schedule" $C "$(jq -nc --arg a "$A" '{agent_id: $a, prompt: "p"}')" "schedule"
bad "no agent" $C '{"schedule": {"kind": "every", "every_secs": 60}, "prompt": "p"}' "agent_id"
bad "no prompt" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}}')" "prompt"
bad "an empty prompt" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, prompt: ""}')" "prompt"
bad "a workflow action without workflow_id" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, action: {kind: "workflow"}}')" "workflow_id"
bad "a workflow input that is a number" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, action: {kind: "workflow", workflow_id: "w", input: 5}}')" "input"
bad "a workflow timeout beyond 3600 s" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, action: {kind: "workflow", workflow_id: "w", timeout_secs: 7200}}')" "timeout_secs"
bad "an unknown action kind" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, action: {kind: "dance"}}')" "action kind"
bad "a bad session_mode" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, prompt: "p", session_mode: "sometimes"}')" "session_mode"
bad "a bad catch_up" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, prompt: "p", catch_up: "twice"}')" "catch_up"
bad "an absurd max_consecutive_failures" $C "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, prompt: "p", max_consecutive_failures: -3}')" "max_consecutive_failures"
bad "a name with a slash" $C "$(jq -nc --arg a "$A" '{agent_id: $a, name: "a/b", schedule: {kind: "every", every_secs: 60}, prompt: "p"}')" "name"
bad "a name too long" $C "$(jq -nc --arg a "$A" --arg n "$(printf 'n%.0s' {1..200})" '{agent_id: $a, name: $n, schedule: {kind: "every", every_secs: 60}, prompt: "p"}')" "name"
bad "a body that is no object" $C '[1,2]' "object"
bad "schedules: a cron that is no text" /api/schedules "$(jq -nc --arg a "$A" '{agent_id: $a, cron: 5}')" "schedule|cron"
bad "schedules: an unknown field" /api/schedules "$(jq -nc --arg a "$A" '{agent_id: $a, cron: "0 9 * * *", cron_expr: "x"}')" "unknown field"
bad "schedules: a workflow_id that is no text" /api/schedules "$(jq -nc --arg a "$A" '{agent_id: $a, schedule: {kind: "every", every_secs: 60}, workflow_id: 7}')" "workflow_id"
lf_req POST $C '{"agent_id": '
t_eq "bad input: invalid JSON is a 400" "$LF_STATUS" 400

for p in "/api/cron/jobs/not-a-uuid" "/api/cron/jobs/not-a-uuid/status" "/api/schedules/123"; do
	lf_req GET "$p"
	t_eq "bad uuid: GET $p is 400 {error}" "$LF_STATUS $(lf_err_shape && echo y)" "400 y"
done
lf_req GET "/api/cron/jobs/$NOAGENT"
t_eq "an unknown job: 404 {error}" "$LF_STATUS $(lf_err_shape && echo y)" "404 y"
lf_req POST "/api/schedules/$NOAGENT/run"
t_eq "run of an unknown schedule: 404" "$LF_STATUS" 404

# Nothing of the bad input was stored.
lf_req GET /api/cron/jobs
t_eq "nothing of the bad input was stored" "$(jb .total)" 4

# ---- delete --------------------------------------------------------------------------
lf_req DELETE "/api/cron/jobs/$J2"
t_eq "cron delete: {status deleted, id}" "$LF_STATUS $(jbc .)" "200 {\"status\":\"deleted\",\"id\":\"$J2\"}"
lf_req DELETE "/api/cron/jobs/$J2"
t_eq "cron delete again: already-deleted" "$LF_STATUS $(jb .status)" "200 already-deleted"
lf_req DELETE "/api/schedules/$S2"
t_eq "schedules delete" "$LF_STATUS $(jb .status) $(jb .id)" "200 deleted $S2"
lf_req GET "/api/schedules/$S2"
t_eq "a deleted schedule is gone" "$LF_STATUS" 404
lf_req DELETE "/api/schedules/nope"
t_eq "delete with a bad uuid: 400" "$LF_STATUS" 400

t_done
