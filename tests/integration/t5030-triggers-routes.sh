#!/usr/bin/env bash
# t5030-triggers-routes.sh - /api/triggers (issue 9, part "triggers"):
# create, list (?agent_id=), get, PATCH and PUT (the same partial update),
# delete, with the spec's shapes; patterns as bare names and objects,
# normalised; bad input is a 4xx {"error"}: unknown agents 404, bad
# patterns, uuids, fields and absurd numbers 400, the cap of 50 per agent.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-triggers-0123456789
lf_fake_stack agent-runtime scheduler memory

A=$(lf_agent owner m-owner)
B=$(lf_agent other m-other)
NOAGENT=0b0e5c1e-1111-4222-8333-444455556666

# ---- create ----------------------------------------------------------------------
lf_req POST /api/triggers "$(jq -nc --arg a "$A" '{agent_id: $a, pattern: {agent_spawned: {name_pattern: "*"}}, prompt_template: "New: {{event}}", max_fires: 0, cooldown_secs: 60, session_mode: "persistent"}')"
t_eq "create: 201" "$LF_STATUS" 201
t_eq "create: {trigger_id, agent_id}" "$(jbc 'keys')" '["agent_id","trigger_id"]'
T1=$(jb .trigger_id)
t_eq "create: the owner echoed" "$(jb .agent_id)" "$A"
t_ok "create: a uuid id ($T1)" grep -qE '^[0-9a-f-]{36}$' <<<"$T1"

lf_req POST /api/triggers "$(jq -nc --arg a "$A" --arg b "$B" '{agent_id: $a, pattern: "lifecycle", target_agent_id: $b}')"
t_eq "create with a target: 201 and target_agent_id" "$LF_STATUS $(jb .target_agent_id)" "201 $B"
T2=$(jb .trigger_id)

# ---- get -------------------------------------------------------------------------
lf_req GET "/api/triggers/$T1"
t_eq "get: 200" "$LF_STATUS" 200
t_eq "get: every field of the spec" "$(jbc 'keys')" \
    '["agent_id","cooldown_secs","created_at","enabled","fire_count","id","max_fires","pattern","prompt_template","session_mode","target_agent_id","workflow_id"]'
t_eq "get: the values" \
    "$(jbc '[.id, .agent_id, .pattern, .prompt_template, .enabled, .fire_count, .max_fires, .cooldown_secs, .session_mode, .target_agent_id]')" \
    "$(jq -nc --arg t "$T1" --arg a "$A" '[$t, $a, {agent_spawned: {name_pattern: "*"}}, "New: {{event}}", true, 0, 0, 60, "persistent", null]')"
t_ok "get: an RFC 3339 created_at" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' <<<"$(jb .created_at)"
lf_req GET "/api/triggers/$T2"
t_eq "get: a bare pattern name is normalised; the default template" \
    "$(jbc '[.pattern, .prompt_template, .cooldown_secs, .session_mode]')" '[{"lifecycle":{}},"Event: {{event}}",null,null]'

# ---- list ------------------------------------------------------------------------
lf_req POST /api/triggers "$(jq -nc --arg b "$B" '{agent_id: $b, pattern: {task_posted: {assignee_match: "self"}}}')"
T3=$(jb .trigger_id)
lf_req GET /api/triggers
t_eq "list: 200, a bare array of the three" "$LF_STATUS $(jb 'type') $(jb length)" "200 array 3"
lf_req GET "/api/triggers?agent_id=$A"
t_eq "list ?agent_id=: only that agent's" "$(jbc '[.[].id] | sort')" "$(jq -nc --arg a "$T1" --arg b "$T2" '[$a, $b] | sort')"
lf_req GET "/api/triggers?agent_id=$B"
t_eq "list ?agent_id=: the other's, same shape as get" "$(jbc '[.[].id]') $(jbc '.[0] | keys | length')" "[\"$T3\"] 12"
lf_req GET "/api/triggers?agent_id=nope"
t_ok "list ?agent_id=nope: 400 {error}" test "$LF_STATUS" = 400 -a "$(lf_err_shape && echo y)" = y

# ---- PATCH, PUT ------------------------------------------------------------------
lf_req PATCH "/api/triggers/$T1" '{"prompt_template": "Updated: {{event}}", "enabled": false, "max_fires": 10, "cooldown_secs": 120, "session_mode": "new"}'
t_eq "patch: 200 with the whole trigger" "$LF_STATUS $(jbc 'keys | length') $(jb .id)" "200 12 $T1"
t_eq "patch: the changes" "$(jbc '[.prompt_template, .enabled, .max_fires, .cooldown_secs, .session_mode, .pattern]')" \
    '["Updated: {{event}}",false,10,120,"new",{"agent_spawned":{"name_pattern":"*"}}]'
lf_req PATCH "/api/triggers/$T1" '{"cooldown_secs": null, "session_mode": null, "enabled": true}'
t_eq "patch: null clears the overrides, the rest stays" "$(jbc '[.cooldown_secs, .session_mode, .enabled, .max_fires, .prompt_template]')" \
    '[null,null,true,10,"Updated: {{event}}"]'
lf_req PATCH "/api/triggers/$T2" "$(jq -nc '{target_agent_id: null, pattern: {memory_key_pattern: {key_pattern: "todo"}}}')"
t_eq "patch: target cleared, pattern replaced" "$(jbc '[.target_agent_id, .pattern]')" '[null,{"memory_key_pattern":{"key_pattern":"todo"}}]'
lf_req PUT "/api/triggers/$T2" '{"prompt_template": "Put: {{event}}", "max_fires": 3}'
t_eq "put: 200 {status: updated, trigger_id}" "$LF_STATUS $(jbc .)" "200 {\"status\":\"updated\",\"trigger_id\":\"$T2\"}"
lf_req GET "/api/triggers/$T2"
t_eq "put: applied" "$(jbc '[.prompt_template, .max_fires]')" '["Put: {{event}}",3]'

# ---- bad input -------------------------------------------------------------------
bad() {	# METHOD PATH JSON STATUS DESC
	lf_req "$1" "$2" "$3"
	t_ok "$5: $4 {error} ($(jb .error))" test "$LF_STATUS" = "$4" -a "$(lf_err_shape && echo y)" = y
}
C() { jq -nc --arg a "$A" "{agent_id: \$a} + $1"; }
bad POST /api/triggers "$(jq -nc --arg a "$NOAGENT" '{agent_id: $a, pattern: "all"}')" 404 "create: unknown agent"
bad POST /api/triggers "$(C '{pattern: "all", target_agent_id: "'$NOAGENT'"}')" 404 "create: unknown target agent"
bad POST /api/triggers '{"agent_id": "not-a-uuid", "pattern": "all"}' 400 "create: bad agent uuid"
bad POST /api/triggers "$(C '{pattern: "all", target_agent_id: "x"}')" 400 "create: bad target uuid"
bad POST /api/triggers "$(C '{}')" 400 "create: no pattern"
bad POST /api/triggers '{"pattern": "all"}' 400 "create: no agent"
bad POST /api/triggers "$(C '{pattern: "sometimes"}')" 400 "create: unknown pattern"
bad POST /api/triggers "$(C '{pattern: {agent_spawned: {name_glob: "x"}}}')" 400 "create: unknown pattern field"
bad POST /api/triggers "$(C '{pattern: {all: {}, lifecycle: {}}}')" 400 "create: two patterns in one"
bad POST /api/triggers "$(C '{pattern: {content_match: {}}}')" 400 "create: content_match without substring"
bad POST /api/triggers "$(C '{pattern: {system_keyword: {keyword: 7}}}')" 400 "create: a keyword that is no string"
bad POST /api/triggers "$(C '{pattern: 42}')" 400 "create: a number for a pattern"
bad POST /api/triggers "$(C '{pattern: "all", colour: "red"}')" 400 "create: unknown field"
bad POST /api/triggers "$(C '{pattern: "all", cooldown_secs: 99999999999}')" 400 "create: absurd cooldown"
bad POST /api/triggers "$(C '{pattern: "all", cooldown_secs: -1}')" 400 "create: negative cooldown"
bad POST /api/triggers "$(C '{pattern: "all", max_fires: 1e12}')" 400 "create: absurd max_fires"
bad POST /api/triggers "$(C '{pattern: "all", max_fires: "3"}')" 400 "create: max_fires as a string"
bad POST /api/triggers "$(C '{pattern: "all", session_mode: "sometimes"}')" 400 "create: bad session_mode"
bad POST /api/triggers "$(C '{pattern: "all", prompt_template: 5}')" 400 "create: template no string"
bad POST /api/triggers "$(C '{pattern: "all", workflow_id: ""}')" 400 "create: empty workflow_id"
bad POST /api/triggers '[1,2]' 400 "create: body not an object"
bad POST /api/triggers 'not json' 400 "create: body not JSON"
bad GET /api/triggers/nope "" 400 "get: bad uuid"
bad GET "/api/triggers/$NOAGENT" "" 404 "get: unknown trigger"
bad PATCH "/api/triggers/$NOAGENT" '{"enabled": false}' 404 "patch: unknown trigger"
bad PATCH /api/triggers/nope '{"enabled": false}' 400 "patch: bad uuid"
bad PATCH "/api/triggers/$T1" '{"enabled": "yes"}' 400 "patch: enabled no boolean"
bad PATCH "/api/triggers/$T1" '{"pattern": null}' 400 "patch: null pattern"
bad PATCH "/api/triggers/$T1" "$(jq -nc --arg b "$B" '{agent_id: $b}')" 400 "patch: the owner cannot change"
bad PATCH "/api/triggers/$T1" '{"fire_count": 0}' 400 "patch: fire_count is not settable"
bad PUT "/api/triggers/$T1" '{"max_fires": -5}' 400 "put: negative max_fires"
bad DELETE /api/triggers/nope "" 400 "delete: bad uuid"
lf_req GET "/api/triggers/$T1"
t_eq "bad updates changed nothing" "$(jbc '[.enabled, .max_fires, .pattern]')" '[true,10,{"agent_spawned":{"name_pattern":"*"}}]'

# ---- every pattern of notes 2.3 is accepted, normalised ----------------------------
ok=0
for p in '"all"' '"lifecycle"' '{"agent_spawned":{"name_pattern":"co"}}' '"agent_terminated"' \
    '"system"' '{"system_keyword":{"keyword":"quota"}}' '"memory_update"' \
    '{"memory_key_pattern":{"key_pattern":"k"}}' '{"content_match":{"substring":"x"}}' \
    '{"task_posted":{"assignee_match":"self"}}' '"task_claimed"' '{"task_completed":{"creator_match":"unassigned"}}'; do
	lf_req POST /api/triggers "$(jq -nc --arg a "$B" --argjson p "$p" '{agent_id: $a, pattern: $p}')"
	[ "$LF_STATUS" = 201 ] && ok=$((ok + 1)) || echo "# $p: $LF_STATUS $LF_BODY"
done
t_eq "all twelve pattern kinds are accepted" "$ok" 12
lf_req GET "/api/triggers?agent_id=$B"
t_eq "bare names become {name: {}}" "$(jbc '[.[].pattern | select(has("task_claimed"))][0]')" '{"task_claimed":{}}'

# ---- the cap: 50 per agent ---------------------------------------------------------
n=$(lf_psql "SELECT count(*) FROM scheduler.triggers WHERE agent_id = '$B'")
for ((i = n; i < 50; i++)); do
	lf_req POST /api/triggers "$(jq -nc --arg a "$B" '{agent_id: $a, pattern: "all"}')"
	[ "$LF_STATUS" = 201 ] || echo "# create $i: $LF_STATUS $LF_BODY"
done
t_eq "the agent has 50 triggers" "$(lf_psql "SELECT count(*) FROM scheduler.triggers WHERE agent_id = '$B'")" 50
bad POST /api/triggers "$(jq -nc --arg a "$B" '{agent_id: $a, pattern: "all"}')" 400 "create: the 51st"
lf_req POST /api/triggers "$(jq -nc --arg a "$A" '{agent_id: $a, pattern: "all"}')"
t_eq "another agent still may" "$LF_STATUS" 201

# ---- delete ------------------------------------------------------------------------
lf_req DELETE "/api/triggers/$T1"
t_eq "delete: 200 removed" "$LF_STATUS $(jbc .)" "200 {\"status\":\"removed\",\"trigger_id\":\"$T1\"}"
lf_req GET "/api/triggers/$T1"
t_eq "delete: gone" "$LF_STATUS" 404
lf_req DELETE "/api/triggers/$T1"
t_eq "delete again: 200 already-deleted" "$LF_STATUS $(jb .status)" "200 already-deleted"

# ---- config: a bad [scheduler] value warns and keeps the default ---------------------
t_ok "the scheduler is still up" lf_bus_joined scheduler

t_done
