#!/usr/bin/env bash
# The task queue (notes/kernel.md 4.2): tasks.post / claim / complete over
# the bus (what the agent tools call), the HTTP routes (/api/tasks/status,
# /api/tasks/list, cancel, retry, /api/queue/status, /api/inbox/status),
# every transition and the ones refused (409), the System TaskPosted /
# TaskClaimed / TaskCompleted events with notes 2.1's fields, the stuck-task
# sweeper (claim_ttl, retries, then failed), and bad input.
. "$(dirname "$0")/../lib.sh"

bt() { "$LF_BIN/bustool" "$@"; }
# breq OP JSON: one request to the scheduler; sets LF_STATUS and LF_BODY
# as lf_req does.
breq() {
	local r
	r=$(bt -t 5000 req scheduler "$1" "${2:-{\}}")
	LF_STATUS=$(printf '%s' "$r" | jq -r .status 2>/dev/null)
	LF_BODY=$(printf '%s' "$r" | jq -c .body 2>/dev/null)
}
post() {	# post JSON-BODY
	breq tasks.post "{\"body\": $1}"
}
claim() {	# claim AGENT-ID [NAME]
	if [ -n "${2:-}" ]; then
		breq tasks.claim "{\"body\": {\"agent_id\": \"$1\", \"agent_name\": \"$2\"}}"
	else
		breq tasks.claim "{\"body\": {\"agent_id\": \"$1\"}}"
	fi
}
complete() {	# complete TASK-ID BODY
	breq tasks.complete "{\"params\": {\"id\": \"$1\"}, \"body\": $2}"
}
# sub_start FILE COUNT: subscribes to TOPIC_EVENTS for COUNT events (12 s
# at most), after the subscription has had time to join.
sub_start() {
	"$LF_BIN/bustool" -t 12000 sub events "$2" > "$1" 2>&1 &
	SUB_PID=$!
	sleep 0.5
}
sub_wait() {	# sub_wait: the subscriber ended (bounded by its -t)
	local i
	for i in $(seq 140); do
		kill -0 "$SUB_PID" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "# the events subscriber did not end in 14 s"
	kill "$SUB_PID" 2>/dev/null
	return 1
}

lf_config '[scheduler]
task_claim_ttl_secs = 60
task_sweep_interval_secs = 1
task_max_retries = 2'
lf_stack_start scheduler
lf_wait_ok /api/tasks/status || { echo "Bail out! the scheduler did not answer /api/tasks/status"; lf_dump_logs; exit 1; }

NOID=00000000-0000-4000-8000-000000000000
AG1=11111111-1111-4111-8111-111111111111
AG2=22222222-2222-4222-8222-222222222222
BOSS=99999999-9999-4999-8999-999999999999

lf_req GET /api/tasks/status
t_eq "an empty queue: all zero" "$LF_STATUS $(jbc .)" '200 {"total":0,"pending":0,"in_progress":0,"completed":0,"failed":0}'

# ---- post, and TaskPosted ---------------------------------------------------------
sub_start "$LF_TMP/ev1" 2
post "{\"title\": \"Review PR 12\", \"description\": \"the parser change\", \"assigned_to\": \"$AG1\", \"created_by\": \"$BOSS\"}"
t_eq "tasks.post is 201 {id, status: pending}" "$LF_STATUS $(jbc 'keys') $(jb .status)" '201 ["id","status"] pending'
T1=$(jb .id)
post '{"title": "Water the plants", "description": ""}'
t_eq "an unassigned task with an empty description" "$LF_STATUS" 201
T2=$(jb .id)
sub_wait
EV1=$(sed -n 1p "$LF_TMP/ev1" | cut -d' ' -f2-)
EV2=$(sed -n 2p "$LF_TMP/ev1" | cut -d' ' -f2-)
t_eq "TaskPosted on the events topic" "$(sed -n 1p "$LF_TMP/ev1" | cut -d' ' -f1)" events
t_eq "  the envelope of notes 2.1" "$(printf '%s' "$EV1" | jq -c '[keys, .payload.type, .target.type, .depth]')" \
    '[["depth","id","payload","source","target","timestamp"],"System","Broadcast",0]'
t_eq "  data: {event, task_id, title, assigned_to, created_by}" "$(printf '%s' "$EV1" | jq -c .payload.data)" \
    "{\"event\":\"TaskPosted\",\"task_id\":\"$T1\",\"title\":\"Review PR 12\",\"assigned_to\":\"$AG1\",\"created_by\":\"$BOSS\"}"
t_eq "  the source is the creating agent" "$(printf '%s' "$EV1" | jq -r .source)" "$BOSS"
t_eq "  an unassigned task's event has no assigned_to or created_by" "$(printf '%s' "$EV2" | jq -c '[(.payload.data | keys), .source]')" \
    '[["event","task_id","title"],""]'
post '{"title": "Urgent", "description": "x", "priority": 5}'
T3=$(jb .id)
post "{\"title\": \"For agent two\", \"description\": \"x\", \"assigned_to\": \"$AG2\"}"
T4=$(jb .id)

lf_req GET /api/tasks/list
t_eq "GET /api/tasks/list: {tasks, total}, newest first" "$LF_STATUS $(jbc 'keys') $(jb .total) $(jb '[.tasks[].title]|join(",")')" \
    '200 ["tasks","total"] 4 For agent two,Urgent,Water the plants,Review PR 12'
t_eq "  a task's fields" "$(jb '.tasks[0] | keys | join(",")')" \
    "assigned_to,claimed_at,completed_at,created_at,created_by,description,finished_at,id,priority,result,retry_count,status,title"
lf_req GET "/api/tasks/list?assigned_to=$AG2"
t_eq "?assigned_to= filters" "$(jb '[.tasks[].id]|join(",")')" "$T4"
lf_req GET "/api/tasks/list?limit=1"
t_eq "?limit= pages, total counts all" "$(jb '"\(.tasks|length) \(.total)"')" "1 4"
breq tasks.get "{\"params\": {\"id\": \"$T1\"}}"
t_eq "tasks.get (task_status)" "$LF_STATUS $(jb .title) $(jb .status)" "200 Review PR 12 pending"

# ---- claim, and TaskClaimed ---------------------------------------------------------
sub_start "$LF_TMP/ev2" 1
claim "$AG1"
t_eq "claim: the highest priority first" "$LF_STATUS $(jb .task.id) $(jb .task.status) $(jb .task.assigned_to)" "200 $T3 in_progress $AG1"
t_ok "  claimed_at is set" test "$(jb .task.claimed_at)" != null
sub_wait
t_eq "TaskClaimed {event, task_id, claimed_by}" "$(cut -d' ' -f2- "$LF_TMP/ev2" | jq -c .payload.data)" \
    "{\"event\":\"TaskClaimed\",\"task_id\":\"$T3\",\"claimed_by\":\"$AG1\"}"
claim "$AG1"
t_eq "then the oldest of its own or unassigned" "$(jb .task.id)" "$T1"
claim "$AG1"
t_eq "then an unassigned one" "$(jb .task.id)" "$T2"
claim "$AG1"
t_eq "never another agent's task: none left for it" "$LF_STATUS $(jbc .)" '200 {"task":null}'
claim "$NOID" "agent-two"
t_eq "  (nor for a third agent)" "$(jbc .)" '{"task":null}'
post '{"title": "By name", "description": "", "assigned_to": "agent-two"}'
T5=$(jb .id)
claim "$AG2" "agent-two"
t_eq "an agent claims tasks assigned to its name" "$(jb .task.id) $(jb .task.assigned_to)" "$T4 $AG2"
claim "$AG2" "agent-two"
t_eq "  (oldest first: by id, then by name)" "$(jb .task.id) $(jb .task.assigned_to)" "$T5 $AG2"

lf_req GET /api/tasks/status
t_eq "status counts" "$(jbc .)" '{"total":5,"pending":0,"in_progress":5,"completed":0,"failed":0}'

# ---- complete, and TaskCompleted --------------------------------------------------
complete "$T1" "{\"result\": \"LGTM\", \"agent_id\": \"$AG2\"}"
t_eq "complete by another agent: 409" "$LF_STATUS" 409
sub_start "$LF_TMP/ev3" 1
complete "$T1" "{\"result\": \"LGTM\", \"agent_id\": \"$AG1\"}"
t_eq "complete by the claimant" "$LF_STATUS $(jb .status) $(jb .result)" "200 completed LGTM"
t_ok "  completed_at and finished_at set" test "$(jb '.completed_at != null and .finished_at != null')" = true
sub_wait
t_eq "TaskCompleted {event, task_id, completed_by, result, created_by}" "$(cut -d' ' -f2- "$LF_TMP/ev3" | jq -c .payload.data)" \
    "{\"event\":\"TaskCompleted\",\"task_id\":\"$T1\",\"completed_by\":\"$AG1\",\"result\":\"LGTM\",\"created_by\":\"$BOSS\"}"
complete "$T1" '{"result": "again"}'
t_eq "completing a completed task: 409" "$LF_STATUS" 409
complete "$NOID" '{"result": "x"}'
t_eq "completing an unknown task: 404" "$LF_STATUS" 404
complete "nope" '{"result": "x"}'
t_eq "a bad task id: 400" "$LF_STATUS" 400
complete "$T2" '{"agent_id": "'"$AG1"'"}'
t_eq "complete without a result: 400" "$LF_STATUS" 400

# ---- cancel and retry over HTTP ---------------------------------------------------
lf_req DELETE "/api/tasks/$T2"
t_eq "DELETE /api/tasks/{id} cancels an in_progress task: 204" "$LF_STATUS" 204
lf_req GET "/api/tasks/list?status=cancelled"
t_eq "  it is cancelled" "$(jb '[.tasks[].id]|join(",")')" "$T2"
lf_req DELETE "/api/tasks/$T2"
t_eq "cancelling it again: 409" "$LF_STATUS" 409
t_ok "  as {\"error\"}" lf_err_shape
lf_req DELETE "/api/tasks/$T1"
t_eq "cancelling a completed task: 409" "$LF_STATUS" 409
lf_req DELETE "/api/tasks/$NOID"
t_eq "cancelling an unknown task: 404" "$LF_STATUS" 404
lf_req DELETE /api/tasks/not-a-uuid
t_eq "a bad id: 400" "$LF_STATUS" 400
lf_req POST "/api/tasks/$T1/retry"
t_eq "retry a completed task: {status: retried, id}" "$LF_STATUS $(jbc .)" "200 {\"status\":\"retried\",\"id\":\"$T1\"}"
breq tasks.get "{\"params\": {\"id\": \"$T1\"}}"
t_eq "  pending again, result and times cleared" "$(jb '"\(.status) \(.result) \(.claimed_at) \(.completed_at) \(.finished_at)"')" "pending null null null null"
lf_req POST "/api/tasks/$T1/retry"
t_eq "retrying a pending task: 409" "$LF_STATUS" 409
lf_req POST "/api/tasks/$T2/retry"
t_eq "retrying a cancelled task: 409" "$LF_STATUS" 409
lf_req POST "/api/tasks/$NOID/retry"
t_eq "retrying an unknown task: 404" "$LF_STATUS" 404

# ---- the sweeper: expired claims go back, then fail --------------------------------
lf_req GET "/api/tasks/list?status=in_progress&limit=1000"
IP=$(jb '[.tasks[].id]|join(" ")')
# T3, T4, T5 are in progress; their claims are made 2 minutes old (the
# ttl is 60 s, the sweep every second).
lf_psql "UPDATE scheduler.tasks SET claimed_at = claimed_at - interval '2 minutes' WHERE status = 'in_progress'" >/dev/null
expired() { [ "$(lf_psql "SELECT count(*) FROM scheduler.tasks WHERE status = 'in_progress'")" = 0 ]; }
t_ok "the sweeper returns expired claims (in 10 s)" lf_poll 200 expired
breq tasks.get "{\"params\": {\"id\": \"$T4\"}}"
t_eq "  pending, unassigned, retry_count 1" "$(jb '"\(.status) [\(.assigned_to)] \(.retry_count) \(.claimed_at)"')" "pending [] 1 null"
t_eq "  (all three: $IP)" "$(lf_psql "SELECT count(*) FROM scheduler.tasks WHERE retry_count = 1 AND status = 'pending'")" 3
t_ok "  and the log says so" # T4 again and again: max_retries 2 -> the third expiry fails it.
for round in 2 3; do
	lf_psql "UPDATE scheduler.tasks SET status = 'in_progress', claimed_at = clock_timestamp() - interval '2 minutes' WHERE id = '$T4'" >/dev/null
	# shellcheck disable=SC2317
	back() { [ "$(lf_psql "SELECT status FROM scheduler.tasks WHERE id = '$T4'")" != in_progress ]; }
	lf_poll 200 back
done
breq tasks.get "{\"params\": {\"id\": \"$T4\"}}"
t_eq "after max_retries (2) the next expiry fails the task" "$(jb '"\(.status) \(.retry_count)"')" "failed 3"
t_ok "  with a reason and finished_at" test "$(jb '(.result | test("claim expired")) and .finished_at != null')" = true
lf_req POST "/api/tasks/$T4/retry"
t_eq "a failed task can be retried" "$LF_STATUS $(jb .status)" "200 retried"

# ---- queue and inbox status ---------------------------------------------------------
# T1's completion was undone by its retry: one more, to count.
claim "$AG1"
complete "$(jb .task.id)" '{"result": "done"}'
lf_req GET /api/queue/status
t_eq "GET /api/queue/status: depth, throughput, config" "$LF_STATUS $(jbc 'keys')" \
    '200 ["config","depth","in_progress","oldest_pending_secs","throughput","unassigned"]'
P=$(lf_psql "SELECT count(*) FROM scheduler.tasks WHERE status = 'pending'")
t_eq "  depth is the pending count" "$(jb .depth)" "$P"
t_eq "  throughput counts the completion" "$(jbc .throughput)" '{"completed_last_minute":1,"completed_last_hour":1,"posted_last_hour":5}'
t_eq "  config as loaded" "$(jbc .config)" '{"claim_ttl_secs":60,"sweep_interval_secs":1,"max_retries":2,"retention_days":7}'
lf_req POST /api/goals '{"title": "a pending goal"}'
lf_req POST /api/goals '{"title": "a running goal", "status": "in_progress"}'
lf_req GET /api/inbox/status
U=$(lf_psql "SELECT count(*) FROM scheduler.tasks WHERE status = 'pending' AND assigned_to = ''")
t_eq "GET /api/inbox/status: pending counts by source" "$LF_STATUS $(jbc .)" \
    "200 {\"total_pending\":$((P + 1)),\"by_source\":{\"task_queue\":$P,\"goals\":1},\"unassigned_tasks\":$U}"

# ---- bad input ----------------------------------------------------------------------
bad() {		# bad DESC OP JSON
	breq "$2" "$3"
	t_eq "$1: 400" "$LF_STATUS" 400
	t_ok "  $1: {\"error\"}" test "$(jbc 'keys')" = '["error"]'
}
bad "post without a title" tasks.post '{"body": {"description": ""}}'
bad "post without a description" tasks.post '{"body": {"title": "x"}}'
bad "post with an unknown field" tasks.post '{"body": {"title": "x", "description": "", "due": 1}}'
bad "post with an absurd priority" tasks.post '{"body": {"title": "x", "description": "", "priority": 100000}}'
bad "post with a 257-character title" tasks.post "{\"body\": {\"title\": \"$(printf 'b%.0s' $(seq 257))\", \"description\": \"\"}}"
bad "post with a numeric assignee" tasks.post '{"body": {"title": "x", "description": "", "assigned_to": 7}}'
bad "claim without an agent" tasks.claim '{"body": {}}'
bad "claim with a bad agent id" tasks.claim '{"body": {"agent_id": "me"}}'
bad "post with no body object" tasks.post '{"body": "x"}'
lf_req GET "/api/tasks/list?limit=0"
t_eq "GET /api/tasks/list?limit=0: 400" "$LF_STATUS" 400
lf_req GET "/api/tasks/list?limit=99999999999999999999"
t_eq "an absurd limit: 400" "$LF_STATUS" 400
lf_req GET "/api/tasks/list?status=done"
t_eq "an unknown status: 400" "$LF_STATUS" 400
t_ok "  as {\"error\"}" lf_err_shape
lf_req GET /api/tasks/status
t_eq "no bad request posted a task" "$(jb .total)" 5

# An id in capitals claims the same tasks and is stored in one spelling.
post "{\"title\": \"Caps\", \"description\": \"\", \"assigned_to\": \"$AG1\"}"
T6=$(jb .id)
for _ in $(seq 10); do	# older pending tasks come first
	claim "${AG1^^}"
	[ "$(jb .task.id)" = "$T6" ] || [ "$(jb .task)" = null ] && break
done
t_eq "claims by an id in capitals reach its task, assigned in lowercase" "$(jb '"\(.task.id) \(.task.assigned_to)"')" "$T6 $AG1"

lf_stack_stop
t_done
