#!/usr/bin/env bash
# The task board tools in real turns (agent-runtime's tool/task.c asking
# the scheduler), against the fake LLM provider: one agent posts a task for
# another by name (TaskPosted on the events topic, the creator as source),
# the other claims and completes it, the first looks it up and lists it.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-tasks-0123456789
lf_fake_stack agent-runtime scheduler
lf_wait_ok /api/tasks/status || { echo "Bail out! the scheduler did not answer"; lf_dump_logs; exit 1; }

agent() {	# agent NAME MODEL TOOLS: spawns, prints the id
	lf_agent "$1" "$2" "[capabilities]
tools = $3"
}
# The tool results the provider saw in request N (0-based) for MODEL.
results() {
	lf_fake_requests "$1" | jq -c "[.[$2].body.messages[] | select(.role == \"tool\") | .content]"
}

P=$(agent poster-a m-post '["task_post", "task_list", "task_status"]')
W=$(agent worker-b m-work '["task_claim", "task_complete"]')

# ---- task_post, and TaskPosted ------------------------------------------------------
# Every event until the TaskPosted one (a turn may publish others: its
# Message events when a webhook or trigger wants them).
"$LF_BIN/bustool" -t 15000 sub events 50 > "$LF_TMP/ev" 2>&1 &
SUB=$!
sleep 0.5
lf_fake_script '{"model":"m-post","steps":[
  {"tool_calls":[{"name":"task_post","arguments":{"title":"Summarise the logs","description":"last night only","assigned_to":"worker-b"}}]},
  {"text":"Posted."}]}'
lf_req POST "/api/agents/$P/message" "$(lf_msg_json 'ask worker-b for a log summary')"
t_eq "task_post: the turn answers" "$LF_STATUS $(jb .response)" "200 Posted."
OUT=$(results m-post 1 | jq -r '.[-1]')
t_ok "  the model is told the task's id ($OUT)" grep -qE '^Posted task [0-9a-f-]{36}\.$' <<<"$OUT"
T=$(grep -oE '[0-9a-f-]{36}' <<<"$OUT")
t_eq "  the row: pending, for worker-b, created by the poster" \
    "$(lf_psql "SELECT status || ' ' || assigned_to || ' ' || created_by || ' ' || description FROM scheduler.tasks WHERE id = '$T'")" \
    "pending worker-b $P last night only"
for i in $(seq 150); do grep -q '"TaskPosted"' "$LF_TMP/ev" && break; sleep 0.1; done
kill "$SUB" 2>/dev/null
EV=$(grep '"TaskPosted"' "$LF_TMP/ev" | head -n 1 | cut -d' ' -f2-)
t_eq "TaskPosted {event, task_id, title, assigned_to, created_by}" "$(printf '%s' "$EV" | jq -c .payload.data)" \
    "{\"event\":\"TaskPosted\",\"task_id\":\"$T\",\"title\":\"Summarise the logs\",\"assigned_to\":\"worker-b\",\"created_by\":\"$P\"}"
t_eq "  from the poster, at the turn's depth" "$(printf '%s' "$EV" | jq -r '"\(.source) \(.depth)"')" "$P 0"

# ---- task_claim, task_complete --------------------------------------------------------
lf_fake_script '{"model":"m-work","steps":[
  {"tool_calls":[{"name":"task_claim","arguments":{}}]},
  {"tool_calls":[{"name":"task_claim","arguments":{}}]},
  {"text":"Claimed."}]}'
lf_req POST "/api/agents/$W/message" "$(lf_msg_json 'anything for me?')"
t_eq "task_claim: the turn answers" "$LF_STATUS $(jb .response)" "200 Claimed."
t_eq "  the claimed task is the one posted by name" "$(results m-work 1 | jq -r '.[-1]' | jq -r '"\(.id) \(.status) \(.assigned_to)"')" \
    "$T in_progress $W"
t_eq "  a second claim finds none" "$(results m-work 2 | jq -r '.[-1]')" "No task is available."
lf_fake_script "{\"model\":\"m-work\",\"steps\":[
  {\"tool_calls\":[{\"name\":\"task_complete\",\"arguments\":{\"task_id\":\"$T\",\"result\":\"3 errors, all disk\"}}]},
  {\"tool_calls\":[{\"name\":\"task_complete\",\"arguments\":{\"task_id\":\"$T\",\"result\":\"again\"}}]},
  {\"tool_calls\":[{\"name\":\"task_complete\",\"arguments\":{\"task_id\":\"nope\",\"result\":\"x\"}}]},
  {\"text\":\"Done.\"}]}"
lf_req POST "/api/agents/$W/message" "$(lf_msg_json 'finish it')"
t_eq "task_complete: the turn answers" "$LF_STATUS $(jb .response)" "200 Done."
t_eq "  the model is told" "$(results m-work 4 | jq -r '.[-1]')" "Task $T completed."
t_eq "  the row: completed with the result" "$(lf_psql "SELECT status || ' ' || result FROM scheduler.tasks WHERE id = '$T'")" \
    "completed 3 errors, all disk"
t_ok "  completing it twice is an error for the model" grep -q 'task_complete failed: .*completed' <<<"$(results m-work 5 | jq -r '.[-1]')"
t_ok "  a bad id is an error for the model" grep -q 'task_complete failed: Invalid task ID' <<<"$(results m-work 6 | jq -r '.[-1]')"

# ---- task_status, task_list ----------------------------------------------------------
lf_fake_script "{\"model\":\"m-post\",\"steps\":[
  {\"tool_calls\":[{\"name\":\"task_status\",\"arguments\":{\"task_id\":\"$T\"}}]},
  {\"tool_calls\":[{\"name\":\"task_list\",\"arguments\":{\"status\":\"completed\"}}]},
  {\"tool_calls\":[{\"name\":\"task_list\",\"arguments\":{\"status\":\"bogus\"}}]},
  {\"text\":\"Checked.\"}]}"
lf_req POST "/api/agents/$P/message" "$(lf_msg_json 'how is it going?')"
t_eq "task_status / task_list: the turn answers" "$LF_STATUS $(jb .response)" "200 Checked."
t_eq "  task_status shows the result" "$(results m-post 3 | jq -r '.[-1]' | jq -r '"\(.status) \(.result)"')" "completed 3 errors, all disk"
t_eq "  task_list by status" "$(results m-post 4 | jq -r '.[-1]' | jq -c '[.[] | [.id, .status]]')" "[[\"$T\",\"completed\"]]"
t_ok "  a bad status is an error for the model" grep -q 'task_list failed' <<<"$(results m-post 5 | jq -r '.[-1]')"

lf_stack_stop
t_done
