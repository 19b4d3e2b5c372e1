#!/usr/bin/env bash
# t5031-trigger-fires.sh - triggers fire turns (issue 9, part "triggers"):
# agent_spawned runs a turn on the owner with the rendered prompt (the
# fake LLM records it) and the fire is recorded; name_pattern is a
# substring; cooldown per subject and without one; max_fires disables;
# target_agent_id gets the turn; agent_terminated on a kill;
# memory_key_pattern from real KV writes over HTTP (created, updated,
# deleted); session_mode "new" runs in a session of its own; a killed
# agent's triggers are deleted.
#
# Events are handled in order, one at a time, so "the next event's fire
# arrived" proves the previous event was fully evaluated: that is how
# the "did not fire" checks are bounded without sleeping.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-triggers-0123456789
lf_fake_stack agent-runtime scheduler memory

# The user message of the fake's request N (0-based) for MODEL.
prompt() { lf_fake_requests "$1" | jq -r ".[$2].body.messages | map(select(.role == \"user\")) | .[-1].content"; }
count() { lf_fake_requests "$1" | jq length; }
fires() { lf_psql "SELECT count(*) FROM scheduler.trigger_fires WHERE trigger_id = '$1'"; }

W=$(lf_agent watcher m-watch)
TW=$(lf_trigger "$W" '{pattern: {agent_spawned: {name_pattern: "worker"}}, prompt_template: "Spawned: {{event}}", cooldown_secs: 3600}')

# ---- agent_spawned: the owner's turn with the rendered prompt -----------------------
W1=$(lf_agent worker-1 m-w)
lf_fake_wait m-watch 1 || echo "# no turn for worker-1 within 10 s"
t_eq "agent_spawned: the owner's turn got the rendered prompt" "$(prompt m-watch 0)" \
    "Spawned: Agent 'worker-1' (id: $W1) was spawned"
lf_wait_fire "$TW" 1 || echo "# the fire was not recorded as done within 10 s"
t_eq "the fire is recorded: event, description, recipient, depth, status, answer" \
    "$(lf_psql "SELECT event_type, description, recipient, depth, status, response FROM scheduler.trigger_fires WHERE trigger_id = '$TW'")" \
    "Lifecycle|Agent 'worker-1' (id: $W1) was spawned|$W|0|completed|echo: Spawned: Agent 'worker-1' (id: $W1) was spawned"
t_ok "the fire says the delivery is not possible yet" \
    test -n "$(lf_psql "SELECT delivery FROM scheduler.trigger_fires WHERE trigger_id = '$TW' AND delivery LIKE 'none:%channels%'")"
t_eq "the turn's usage is recorded" \
    "$(lf_psql "SELECT input_tokens > 0 AND output_tokens > 0 FROM scheduler.trigger_fires WHERE trigger_id = '$TW'")" t

# ---- name_pattern is a substring; cooldown is per subject (the agent) --------------
lf_agent other-x m-w >/dev/null
W2=$(lf_agent worker-2 m-w)
lf_fake_wait m-watch 2 || echo "# no turn for worker-2 within 10 s"
t_eq "a name without 'worker' did not fire; worker-2 did, in cooldown's face (another subject)" \
    "$(count m-watch) $(prompt m-watch 1)" "2 Spawned: Agent 'worker-2' (id: $W2) was spawned"
lf_req GET "/api/triggers/$TW"
t_eq "fire_count counts the fires" "$(jb .fire_count)" 2

# ---- cooldown without a subject (lifecycle): the second event is held back -------------
C=$(lf_agent cooler m-cool)
TC=$(lf_trigger "$C" '{pattern: "lifecycle", cooldown_secs: 3600}')
lf_agent worker-c1 m-w >/dev/null
lf_agent worker-c2 m-w >/dev/null
lf_agent worker-c3 m-w >/dev/null
lf_fake_wait m-watch 5 || echo "# worker-c3's fire did not come within 10 s"
t_eq "cooldown: one lifecycle fire for three spawns" "$(count m-cool) $(fires "$TC")" "1 1"
t_eq "cooldown: the fire was the first spawn" "$(prompt m-cool 0 | grep -o "worker-c[0-9]")" worker-c1
lf_req GET "/api/triggers/$TC"
t_eq "cooldown: fire_count 1, still enabled" "$(jbc '[.fire_count, .enabled]')" '[1,true]'

# ---- max_fires disables ----------------------------------------------------------------
M=$(lf_agent maxer m-max)
TM=$(lf_trigger "$M" '{pattern: {agent_spawned: {name_pattern: "worker-m"}}, max_fires: 2, cooldown_secs: 0}')
for i in 1 2 3; do lf_agent "worker-m$i" m-w >/dev/null; done
lf_fake_wait m-watch 8 || echo "# worker-m3's fire did not come within 10 s"
t_eq "max_fires 2: two turns for three spawns" "$(count m-max) $(fires "$TM")" "2 2"
lf_req GET "/api/triggers/$TM"
t_eq "max_fires reached: fire_count 2, disabled" "$(jbc '[.fire_count, .max_fires, .enabled]')" '[2,2,false]'

# ---- target_agent_id, agent_terminated ----------------------------------------------------
T=$(lf_agent target m-target)
TT=$(lf_trigger "$W" "$(jq -nc --arg t "$T" '{pattern: "agent_terminated", target_agent_id: $t, cooldown_secs: 0}')")
lf_req DELETE "/api/agents/$W2"
t_eq "kill worker-2: 200" "$LF_STATUS" 200
lf_fake_wait m-target 1 || echo "# no turn on the target within 10 s"
t_eq "agent_terminated: the target's turn, the default template" "$(prompt m-target 0)" \
    "Event: Agent $W2 terminated: killed"
lf_wait_fire "$TT" 1
t_eq "the fire's recipient is the target" \
    "$(lf_psql "SELECT recipient FROM scheduler.trigger_fires WHERE trigger_id = '$TT'")" "$T"
t_eq "the owner got no turn for it" "$(count m-watch)" 8

# ---- memory_key_pattern from real KV writes over HTTP ----------------------------------------
K=$(lf_agent keeper m-kv)
TK=$(lf_trigger "$K" '{pattern: {memory_key_pattern: {key_pattern: "todo"}}, prompt_template: "KV {{event}}!", cooldown_secs: 0}')
lf_req PUT "/api/memory/agents/$K/kv/my.todo.list" '{"value": ["milk"]}'
t_eq "PUT kv: 200 stored" "$LF_STATUS $(jbc .)" '200 {"status":"stored","key":"my.todo.list"}'
lf_fake_wait m-kv 1 || echo "# no turn for the KV write within 10 s"
t_eq "memory_key_pattern: created" "$(prompt m-kv 0)" "KV Memory Created on key 'my.todo.list' for agent $K!"
lf_req PUT "/api/memory/agents/$K/kv/notes" '{"value": 1}'
lf_req PUT "/api/memory/agents/$K/kv/my.todo.list" '{"value": ["milk", "eggs"]}'
lf_fake_wait m-kv 2 || echo "# no turn for the second write within 10 s"
t_eq "memory_key_pattern: 'notes' did not fire; the overwrite is an update" \
    "$(count m-kv) $(prompt m-kv 1)" "2 KV Memory Updated on key 'my.todo.list' for agent $K!"
lf_req DELETE "/api/memory/agents/$K/kv/my.todo.list"
t_eq "DELETE kv: 200 deleted" "$LF_STATUS $(jb .status)" "200 deleted"
lf_fake_wait m-kv 3 || echo "# no turn for the delete within 10 s"
t_eq "memory_key_pattern: deleted" "$(prompt m-kv 2)" "KV Memory Deleted on key 'my.todo.list' for agent $K!"

# ---- session_mode "new": a session of the fire's own ------------------------------------------
S=$(lf_agent sessioned m-sess)
lf_req GET "/api/agents/$S/session"
S0=$(jb .session_id)
TS=$(lf_trigger "$S" '{pattern: {agent_spawned: {name_pattern: "worker-s"}}, session_mode: "new", cooldown_secs: 0}')
lf_agent worker-s1 m-w >/dev/null
lf_fake_wait m-sess 1 || echo "# no turn for session_mode new within 10 s"
lf_wait_fire "$TS" 1
SID=$(lf_psql "SELECT session_id FROM scheduler.trigger_fires WHERE trigger_id = '$TS'")
t_ok "session_mode new: the fire has a session of its own ($SID)" test -n "$SID" -a "$SID" != "$S0"
t_eq "session_mode new: the turn completed" \
    "$(lf_psql "SELECT status FROM scheduler.trigger_fires WHERE trigger_id = '$TS'")" completed
lf_req GET "/api/agents/$S/session"
t_eq "session_mode new: the agent's current session is unchanged and empty" "$(jb .session_id) $(jb .message_count)" "$S0 0"

# ---- a disabled trigger does not fire; a deleted one neither -------------------------------------
lf_req PATCH "/api/triggers/$TW" '{"enabled": false}'
lf_req PATCH "/api/triggers/$TM" '{"enabled": true, "max_fires": 0}'
lf_agent worker-m9 m-w >/dev/null
lf_fake_wait m-max 3 || echo "# the re-enabled trigger did not fire within 10 s"
t_eq "disabled: no turn for the watcher; re-enabled: the maxer fires again" "$(count m-watch) $(count m-max)" "9 3"

# ---- a killed agent's triggers go with it --------------------------------------------------------
lf_req DELETE "/api/agents/$K"
gone() { lf_req GET "/api/triggers/$TK"; [ "$LF_STATUS" = 404 ]; }
lf_poll 200 gone
t_eq "killing the owner deletes its triggers" "$LF_STATUS" 404
lf_req GET "/api/triggers/$TM"
t_eq "other agents' triggers stay" "$LF_STATUS" 200

t_done
