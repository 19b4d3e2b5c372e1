#!/usr/bin/env bash
# A posted task wakes its assignee (issue 9 item 5), end to end: agent P
# posts a task for worker-b with the task_post tool; the scheduler
# publishes TaskPosted; worker-b's task_posted trigger (assignee_match
# "self", by name) gives it a turn, in which it claims the task; the
# TaskClaimed event wakes P through its task_claimed trigger (creator_match
# "self"), one step deeper in the trigger chain.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-wake-0123456789
lf_fake_stack agent-runtime scheduler
lf_wait_ok /api/tasks/status || { echo "Bail out! the scheduler did not answer"; lf_dump_logs; exit 1; }

agent() {	# agent NAME MODEL TOOLS: spawns, prints the id
	lf_agent "$1" "$2" "[capabilities]
tools = $3"
}
prompt() { lf_fake_requests "$1" | jq -r ".[$2].body.messages | map(select(.role == \"user\")) | .[-1].content"; }

P=$(agent poster-a m-post '["task_post"]')
W=$(agent worker-b m-work '["task_claim"]')
lf_trigger "$W" '{pattern: {task_posted: {assignee_match: "self"}}, prompt_template: "New task: {{event}}", cooldown_secs: 0}' >/dev/null
lf_trigger "$P" '{pattern: {task_claimed: {creator_match: "self"}}, prompt_template: "Picked up: {{event}}", cooldown_secs: 0}' >/dev/null

lf_fake_script '{"model":"m-work","steps":[
  {"tool_calls":[{"name":"task_claim","arguments":{}}]},
  {"text":"On it."}]}'
lf_fake_script '{"model":"m-post","steps":[
  {"tool_calls":[{"name":"task_post","arguments":{"title":"Rotate the keys","description":"before Friday","assigned_to":"worker-b"}}]},
  {"text":"Posted."},
  {"text":"Good."}]}'
lf_req POST "/api/agents/$P/message" "$(lf_msg_json 'get the keys rotated')"
t_eq "the poster's turn posts the task" "$LF_STATUS $(jb .response)" "200 Posted."
T=$(lf_psql "SELECT id FROM scheduler.tasks WHERE title = 'Rotate the keys'")
t_ok "  the row exists ($T)" test -n "$T"

lf_fake_wait m-work 2 || echo "# worker-b was not woken within 10 s"
t_eq "worker-b is woken with the task in its prompt" "$(prompt m-work 0)" "New task: Task posted: $T \"Rotate the keys\""
claimed() { [ "$(lf_psql "SELECT status || ' ' || assigned_to FROM scheduler.tasks WHERE id = '$T'")" = "in_progress $W" ]; }
t_ok "  and claims it in that turn" lf_poll 200 claimed
fires() {	# fires AGENT: "count depth" of its triggers' fires
	lf_psql "SELECT count(*) || ' ' || coalesce(min(f.depth), -1) FROM scheduler.trigger_fires f JOIN scheduler.triggers t ON t.id = f.trigger_id WHERE t.agent_id = '$1'"
}
t_eq "  one fire, for the TaskPosted of a user's turn (depth 0)" "$(fires "$W")" "1 0"

lf_fake_wait m-post 3 || echo "# the poster was not told within 10 s"
t_eq "the claim wakes the poster (task_claimed, creator self)" "$(prompt m-post 2)" "Picked up: Task claimed: $T by $W"
t_eq "  one fire, for a TaskClaimed one trigger deep (depth 1)" "$(fires "$P")" "1 1"

lf_stack_stop
t_done
