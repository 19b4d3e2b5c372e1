#!/usr/bin/env bash
# Goals (notes/kernel.md 4.1): create, list, get, update, delete with its
# cascade, children, templates; the hierarchy's checks (a missing parent
# is 404, a cycle 400 "Circular parent reference detected") and bad input
# (bad UUIDs, unknown fields, empty titles, absurd limits, bad times),
# each a 4xx with {"error"}.
. "$(dirname "$0")/../lib.sh"

export OPENAI_API_KEY=sk-test-openai
lf_stack_start agent-runtime scheduler
lf_wait_ok /api/goals || { echo "Bail out! the scheduler did not answer /api/goals"; lf_dump_logs; exit 1; }
lf_wait_agents

NOID=00000000-0000-4000-8000-000000000000
lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml goal-agent m-goal)")"
AG=$(jb .agent_id)
[ "$LF_STATUS" = 201 ] || { echo "Bail out! could not spawn an agent: $LF_STATUS $LF_BODY"; exit 1; }

# ---- create and get -------------------------------------------------------------
lf_req POST /api/goals "{\"title\": \"Migrate database to PostgreSQL\", \"description\": \"Complete migration with zero downtime\", \"agent_id\": \"$AG\", \"parent_id\": null, \"due_at\": \"2025-02-01T00:00:00Z\"}"
t_eq "POST /api/goals is 201" "$LF_STATUS" 201
t_eq "with the goal's fields" "$(jbc 'keys')" '["agent_id","created_at","description","due_at","id","parent_id","progress","status","title","updated_at"]'
t_eq "defaults: pending, progress 0, no parent" "$(jb '"\(.status) \(.progress) \(.parent_id)"')" "pending 0 null"
t_eq "due_at as RFC 3339 UTC" "$(jb .due_at)" "2025-02-01T00:00:00.000000Z"
t_eq "agent_id kept" "$(jb .agent_id)" "$AG"
ROOT=$(jb .id)
lf_req GET "/api/goals/$ROOT"
t_eq "GET /api/goals/{id}" "$LF_STATUS $(jb .title)" "200 Migrate database to PostgreSQL"
lf_req POST /api/goals "{\"title\": \"Child A\", \"parent_id\": \"$ROOT\", \"agent_id\": \"\"}"
t_eq "a child: 201, empty agent_id is absent" "$LF_STATUS $(jb .parent_id) $(jb .agent_id)" "201 $ROOT null"
A=$(jb .id)
lf_req POST /api/goals "{\"title\": \"Child B\", \"parent_id\": \"$ROOT\"}"
B=$(jb .id)
lf_req POST /api/goals "{\"title\": \"Grandchild\", \"parent_id\": \"$A\", \"status\": \"in_progress\", \"progress\": 40}"
t_eq "a grandchild with status and progress" "$LF_STATUS $(jb .status) $(jb .progress)" "201 in_progress 40"
G=$(jb .id)
lf_req POST /api/goals "{\"title\": \"Lost\", \"parent_id\": \"$NOID\"}"
t_eq "a missing parent is 404" "$LF_STATUS $(jb .error)" "404 Parent goal '$NOID' not found"
t_ok "  as {\"error\"}" lf_err_shape
lf_req POST /api/goals "{\"title\": \"Nobody's\", \"agent_id\": \"$NOID\"}"
t_eq "an agent agent-runtime does not know is 404" "$LF_STATUS $(jb .error)" "404 Agent '$NOID' not found"
lf_req POST /api/goals '{"title": "Empty parent", "parent_id": ""}'
t_eq "an empty parent_id string is absent" "$LF_STATUS $(jb .parent_id)" "201 null"
LONE=$(jb .id)

# ---- list, children, templates ---------------------------------------------------
lf_req GET /api/goals
t_eq "GET /api/goals: {items, total, offset, limit}" "$LF_STATUS $(jbc 'keys') $(jb '"\(.total) \(.items|length) \(.offset) \(.limit)"')" \
    '200 ["items","limit","offset","total"] 5 5 0 null'
lf_req GET "/api/goals?limit=2&offset=1"
t_eq "paged: limit echoed, total of all" "$(jb '"\(.total) \(.items|length) \(.offset) \(.limit)"')" "5 2 1 2"
lf_req GET "/api/goals?status=in_progress"
t_eq "?status= filters" "$(jb '[.items[].title]|join(",")')" "Grandchild"
lf_req GET "/api/goals?agent_id=$AG"
t_eq "?agent_id= filters" "$(jb '.total')" 1
lf_req GET "/api/goals/$ROOT/children"
t_eq "children: {children, total}, direct ones only" "$LF_STATUS $(jbc 'keys') $(jb '[.children[].title]|sort|join(",")') $(jb .total)" \
    '200 ["children","total"] Child A,Child B 2'
lf_req GET "/api/goals/$NOID/children"
t_eq "children of an unknown goal: 404" "$LF_STATUS" 404
lf_req GET /api/goals/templates
t_eq "templates: a list with goals to copy" "$LF_STATUS $(jb '.total > 0 and (.templates | all(has("id") and has("name") and (.goals | length > 0)))')" "200 true"

# ---- update and the hierarchy's checks --------------------------------------------
lf_req PUT "/api/goals/$A" '{"title": "Child A, renamed", "status": "completed", "progress": 100, "description": "done"}'
t_eq "PUT updates title, status, progress, description" "$LF_STATUS $(jb '"\(.title)|\(.status)|\(.progress)|\(.description)"')" \
    "200 Child A, renamed|completed|100|done"
t_eq "  and keeps the parent" "$(jb .parent_id)" "$ROOT"
lf_req PUT "/api/goals/$A" "{\"parent_id\": \"$A\"}"
t_eq "self-parenting is 400" "$LF_STATUS $(jb .error)" "400 Circular parent reference detected"
lf_req PUT "/api/goals/$ROOT" "{\"parent_id\": \"$G\"}"
t_eq "a parent below the goal (indirect cycle) is 400" "$LF_STATUS $(jb .error)" "400 Circular parent reference detected"
lf_req PUT "/api/goals/$ROOT" "{\"parent_id\": \"$NOID\"}"
t_eq "an unknown new parent is 404" "$LF_STATUS" 404
lf_req PUT "/api/goals/$LONE" "{\"parent_id\": \"$G\"}"
t_eq "a legal move under the grandchild" "$LF_STATUS $(jb .parent_id)" "200 $G"
lf_req PUT "/api/goals/$LONE" '{"parent_id": null}'
t_eq "parent_id null detaches it" "$LF_STATUS $(jb .parent_id)" "200 null"
lf_req PUT "/api/goals/$LONE" '{"due_at": null, "agent_id": null}'
t_eq "due_at and agent_id may be cleared" "$LF_STATUS $(jb .due_at)" "200 null"
lf_req PUT "/api/goals/$LONE" "{\"agent_id\": \"$NOID\"}"
t_eq "PUT with an unknown agent: 404" "$LF_STATUS" 404
lf_req PUT "/api/goals/$LONE" "{\"agent_id\": \"${AG^^}\"}"
t_eq "PUT with a known agent (in capitals): stored lowercase" "$LF_STATUS $(jb .agent_id)" "200 $AG"
lf_req PUT "/api/goals/$NOID" '{"title": "x"}'
t_eq "PUT on an unknown goal: 404" "$LF_STATUS" 404

# Concurrent opposite moves must not build a cycle between them: X under
# Y and Y under X, twenty times at once; at most one of each pair wins.
cyc=0
for _ in $(seq 10); do
	lf_req POST /api/goals '{"title": "X"}'; X=$(jb .id)
	lf_req POST /api/goals '{"title": "Y"}'; Y=$(jb .id)
	curl -s -m 20 -o /dev/null -X PUT -H 'Content-Type: application/json' --data-binary "{\"parent_id\": \"$Y\"}" "$LF_URL/api/goals/$X" & p1=$!
	curl -s -m 20 -o /dev/null -X PUT -H 'Content-Type: application/json' --data-binary "{\"parent_id\": \"$X\"}" "$LF_URL/api/goals/$Y" & p2=$!
	wait "$p1" "$p2"	# the services are children too: never a bare wait
	n=$(lf_psql "SELECT count(*) FROM scheduler.goals a JOIN scheduler.goals b ON a.parent_id = b.id AND b.parent_id = a.id WHERE a.id = '$X'")
	[ "$n" = 0 ] || cyc=$((cyc + 1))
done
t_eq "ten races of opposite moves left no two-goal cycle" "$cyc" 0

# ---- bad input ----------------------------------------------------------------------
bad() {		# bad DESC METHOD PATH BODY STATUS
	lf_req "$2" "$3" "$4"
	t_eq "$1: $6" "$LF_STATUS" "$5"
	t_ok "  $1: {\"error\"}" lf_err_shape
}
bad "a bad goal id" GET /api/goals/not-a-uuid "" 400 "400"
bad "a bad goal id (PUT)" PUT /api/goals/12345 '{"title":"x"}' 400 "400"
bad "a bad goal id (DELETE)" DELETE /api/goals/zz "" 400 "400"
bad "no title" POST /api/goals '{"description": "x"}' 400 "400"
bad "an empty title" POST /api/goals '{"title": ""}' 400 "400"
bad "a 257-character title" POST /api/goals "{\"title\": \"$(printf 'a%.0s' $(seq 257))\"}" 400 "400"
bad "an unknown field" POST /api/goals '{"title": "x", "colour": "red"}' 400 "400"
bad "a bad parent uuid" POST /api/goals '{"title": "x", "parent_id": "nope"}' 400 "400"
bad "a bad agent uuid" POST /api/goals '{"title": "x", "agent_id": "agent-7"}' 400 "400"
bad "a bad status" POST /api/goals '{"title": "x", "status": "done"}' 400 "400"
bad "progress 101" POST /api/goals '{"title": "x", "progress": 101}' 400 "400"
bad "progress as text" PUT "/api/goals/$A" '{"progress": "50"}' 400 "400"
bad "a due_at that is no time" POST /api/goals '{"title": "x", "due_at": "tomorrow"}' 400 "400"
bad "a due_at with a bad date" POST /api/goals '{"title": "x", "due_at": "2025-13-45T00:00:00Z"}' 400 "400"
bad "a body that is no object" POST /api/goals '[1, 2]' 400 "400"
bad "an empty title on update" PUT "/api/goals/$A" '{"title": ""}' 400 "400"
bad "an absurd limit" GET "/api/goals?limit=100000000" "" 400 "400"
bad "a negative offset" GET "/api/goals?offset=-1" "" 400 "400"
bad "a bad ?status=" GET "/api/goals?status=nope" "" 400 "400"
lf_req GET /api/goals
t_eq "no bad request created a goal" "$(jb .total)" 25

# ---- delete cascades -----------------------------------------------------------------
lf_req DELETE "/api/goals/$ROOT"
t_eq "DELETE is 204" "$LF_STATUS" 204
for g in "$ROOT" "$A" "$B" "$G"; do
	lf_req GET "/api/goals/$g"
	t_eq "  then the goal and its descendants are gone ($g)" "$LF_STATUS" 404
done
lf_req GET "/api/goals/$LONE"
t_eq "  an unrelated goal stays" "$LF_STATUS" 200
lf_req DELETE "/api/goals/$ROOT"
t_eq "a second DELETE is 404" "$LF_STATUS" 404

lf_stack_stop
t_done
