#!/usr/bin/env bash
# t5035-trigger-system-events.sh - the task, system and content patterns
# against events published on the bus as the task queue and others will
# publish them (bustool pub events ...; notes/kernel.md 2.1, 2.3):
# task_posted with assignee_match "self" (by id and by name) and
# "unassigned", task_claimed with creator_match, task_completed with its
# cooldown per task, system_keyword, content_match on a Custom event,
# [scheduler] trigger_max_per_event; malformed events change nothing.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-triggers-0123456789
lf_config '[scheduler]
trigger_max_per_event = 2'
lf_fake_stack agent-runtime scheduler memory

prompt() { lf_fake_requests "$1" | jq -r ".[$2].body.messages | map(select(.role == \"user\")) | .[-1].content"; }
count() { lf_fake_requests "$1" | jq length; }
# pub TYPE DATA: an event as msg_event() builds it, on the events topic.
pub() {
	"$LF_BIN/bustool" pub events "$(jq -nc --arg id "$(cat /proc/sys/kernel/random/uuid)" \
	    --arg t "$1" --argjson d "$2" \
	    '{id: $id, source: "", target: {type: "Broadcast"}, payload: {type: $t, data: $d}, timestamp: "2026-01-01T00:00:00Z", depth: 0}')" ||
	    echo "# bustool pub failed"
}

P=$(lf_agent planner m-p)
Q=$(lf_agent quinn m-q)
lf_trigger "$P" '{pattern: {task_posted: {assignee_match: "self"}}, prompt_template: "Task for me: {{event}}", cooldown_secs: 0}' >/dev/null
lf_trigger "$Q" '{pattern: {task_posted: {assignee_match: "unassigned"}}, cooldown_secs: 0}' >/dev/null
lf_trigger "$Q" '{pattern: {task_claimed: {creator_match: "self"}}, cooldown_secs: 0}' >/dev/null
lf_trigger "$P" '{pattern: {system_keyword: {keyword: "QUOTA"}}, cooldown_secs: 0}' >/dev/null
lf_trigger "$Q" '{pattern: {content_match: {substring: "DEPLOY"}}, cooldown_secs: 0}' >/dev/null
TS=$(lf_trigger "$P" '{pattern: "task_completed"}')	# the default cooldown, 5 s per task

# ---- task_posted ---------------------------------------------------------------------
pub System "$(jq -nc --arg p "$P" '{event: "TaskPosted", task_id: "t1", title: "Write docs", assigned_to: $p, created_by: "quinn"}')"
lf_fake_wait m-p 1 || echo "# no turn for t1 within 10 s"
t_eq "task_posted self (by id): the assignee's turn" "$(prompt m-p 0)" 'Task for me: Task posted: t1 "Write docs"'
pub System '{"event": "TaskPosted", "task_id": "t2", "title": "Triage", "assigned_to": "planner"}'
lf_fake_wait m-p 2 || echo "# no turn for t2 within 10 s"
t_eq "task_posted self (by name)" "$(prompt m-p 1)" 'Task for me: Task posted: t2 "Triage"'
pub System '{"event": "TaskPosted", "task_id": "t3", "title": "Anyone?"}'
lf_fake_wait m-q 1 || echo "# no turn for t3 within 10 s"
t_eq "task_posted unassigned: the other trigger, not self's" "$(prompt m-q 0) $(count m-p)" 'Event: Task posted: t3 "Anyone?" 2'

# ---- task_claimed, system_keyword, content_match ---------------------------------------
pub System "$(jq -nc --arg p "$P" '{event: "TaskClaimed", task_id: "t1", claimed_by: $p, created_by: "quinn"}')"
lf_fake_wait m-q 2 || echo "# no turn for the claim within 10 s"
t_eq "task_claimed creator_match self: the creator's turn" "$(prompt m-q 1)" "Event: Task claimed: t1 by $P"
pub System "$(jq -nc --arg p "$P" '{event: "QuotaWarning", agent_id: $p, resource: "tokens", usage_percent: 91.5}')"
lf_fake_wait m-p 3 || echo "# no turn for the quota warning within 10 s"
t_eq "system_keyword (case ignored)" "$(prompt m-p 2)" "Event: Quota warning: agent $P, tokens at 91.5%"
pub Custom '{"type": "deploy.done", "text": "finished"}'
lf_fake_wait m-q 3 || echo "# no turn for the custom event within 10 s"
t_eq "content_match on a Custom event's description" "$(prompt m-q 2)" \
    'Event: Custom event: type=deploy.done, payload={"type":"deploy.done","text":"finished"}'

# ---- task_completed: the cooldown's subject is the task ----------------------------------
pub System '{"event": "TaskCompleted", "task_id": "t1", "completed_by": "x", "result": "ok"}'
pub System '{"event": "TaskCompleted", "task_id": "t1", "completed_by": "x", "result": "again"}'
pub System '{"event": "TaskCompleted", "task_id": "t2", "completed_by": "x", "result": "fine"}'
lf_fake_wait m-p 5 || echo "# the completions did not fire within 10 s"
t_eq "task_completed: t1 once (cooldown), t2 (another subject)" \
    "$(prompt m-p 3) | $(prompt m-p 4)" "Event: Task completed: t1 by x result=ok | Event: Task completed: t2 by x result=fine"
t_eq "the fires of the completion trigger" "$(lf_psql "SELECT count(*) FROM scheduler.trigger_fires WHERE trigger_id = '$TS'")" 2

# ---- malformed events change nothing --------------------------------------------------------
"$LF_BIN/bustool" pub events '[1, 2]'
"$LF_BIN/bustool" pub events '{"id": "not-a-uuid", "payload": {"type": "System", "data": {"event": "QuotaWarning"}}}'
"$LF_BIN/bustool" pub events "$(jq -nc --arg id "$(cat /proc/sys/kernel/random/uuid)" '{id: $id, payload: {type: 7}}')"
"$LF_BIN/bustool" pub events "$(jq -nc --arg id "$(cat /proc/sys/kernel/random/uuid)" '{id: $id, payload: {type: "System", data: "QuotaWarning"}, depth: "deep"}')"

# ---- trigger_max_per_event = 2: three matches, two fires -----------------------------------
R=$(lf_agent fanner m-r)
for i in 1 2 3; do lf_trigger "$R" '{pattern: {content_match: {substring: "fanout"}}, cooldown_secs: 0}' >/dev/null; done
pub Custom '{"type": "fanout"}'
lf_fake_wait m-r 2 || echo "# the fan-out did not fire within 10 s"
pub Custom '{"type": "fanout"}'
lf_fake_wait m-r 4 || echo "# the second fan-out did not fire within 10 s"
sleep 0.5	# a third fire per event, if any, would have been asked for by now
t_eq "max_per_event 2: two turns per event" "$(count m-r)" 4
t_eq "the lowest trigger ids fired, twice each" \
    "$(lf_psql "SELECT string_agg(n::text, ' ' ORDER BY id) FROM (SELECT t.id, count(f.event_id) AS n FROM scheduler.triggers t LEFT JOIN scheduler.trigger_fires f ON f.trigger_id = t.id WHERE t.agent_id = '$R' GROUP BY t.id) x")" "2 2 0"
t_ok "the scheduler is still up after the malformed events" lf_bus_joined scheduler
t_eq "no other turn came from them" "$(count m-p) $(count m-q)" "5 3"

t_done
