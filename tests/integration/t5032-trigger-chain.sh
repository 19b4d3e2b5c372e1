#!/usr/bin/env bash
# t5032-trigger-chain.sh - a trigger that fires itself stops at the chain
# depth limit (issue 9, part "triggers"; [scheduler] trigger_max_depth).
#
# Agent C has a memory_key_pattern trigger on "loop"; every turn of C
# writes "loop" with the kv_set tool.  A write over HTTP starts the chain
# (event depth 0); each fire's turn carries event_depth = depth + 1 and so
# does the MemoryUpdate its kv_set causes.  With the limit at 3, the
# events of depth 0, 1 and 2 fire a turn each and the one of depth 3 is
# refused: recorded, no turn.  A fresh write over HTTP starts a new chain.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-triggers-0123456789
lf_config '[scheduler]
trigger_max_depth = 3'
lf_fake_stack agent-runtime scheduler memory

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml looper m-loop '[capabilities]
tools = ["kv_set"]
memory_write = ["loop"]')")"
C=$(jb .agent_id)
lf_req POST /api/triggers "$(jq -nc --arg a "$C" '{agent_id: $a, pattern: {memory_key_pattern: {key_pattern: "loop"}}, cooldown_secs: 0}')"
t_eq "the self-triggering trigger: 201" "$LF_STATUS" 201
TR=$(jb .trigger_id)

# Each turn: kv_set loop, then a text answer.  Enough for more turns than
# the limit allows, so a chain that does not stop would use them.
STEP='{"tool_calls":[{"name":"kv_set","arguments":{"key":"loop","value":1}}]},{"text":"wrote it"}'
lf_fake_script "{\"model\":\"m-loop\",\"steps\":[$STEP,$STEP,$STEP,$STEP,$STEP,$STEP,$STEP,$STEP]}"

refused() { [ "$(lf_psql "SELECT count(*) FROM scheduler.trigger_fires WHERE trigger_id = '$TR' AND status = 'refused'")" -ge "$1" ]; }
lf_req PUT "/api/memory/agents/$C/kv/loop" '{"value": 0}'
t_eq "the first write over HTTP: 200" "$LF_STATUS" 200
lf_poll 400 refused 1 || echo "# no refusal within 20 s"
t_eq "the chain: depths 0, 1, 2 fired and completed, 3 refused" \
    "$(lf_psql "SELECT string_agg(depth || ':' || status, ' ' ORDER BY depth) FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" \
    "0:completed 1:completed 2:completed 3:refused"
t_eq "three turns, two provider calls each" "$(lf_fake_requests m-loop | jq length)" 6
t_ok "the refusal says why" test -n "$(lf_psql "SELECT 1 FROM scheduler.trigger_fires WHERE trigger_id = '$TR' AND status = 'refused' AND error LIKE '%depth limit%'")"
t_eq "the refusal counts as no fire" "$(lf_psql "SELECT fire_count FROM scheduler.triggers WHERE id = '$TR'")" 3
t_eq "the fires' messages name the writes (HTTP's, then the turn's)" \
    "$(lf_psql "SELECT string_agg(message, '|' ORDER BY depth) FROM scheduler.trigger_fires WHERE trigger_id = '$TR' AND depth < 2")" \
    "Event: Memory Created on key 'loop' for agent $C|Event: Memory Updated on key 'loop' for agent $C"

# A new chain from a new write over HTTP.
lf_req PUT "/api/memory/agents/$C/kv/loop" '{"value": 0}'
lf_poll 400 refused 2 || echo "# no second refusal within 20 s"
t_eq "a new write starts a new chain, stopped the same way" \
    "$(lf_psql "SELECT count(*) FILTER (WHERE status = 'completed') || ' ' || count(*) FILTER (WHERE status = 'refused') FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" "6 2"
t_eq "six turns in all" "$(lf_fake_requests m-loop | jq length)" 12

t_done
