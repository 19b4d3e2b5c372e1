#!/usr/bin/env bash
# t6006-memory-decay-hourly.sh - the hourly confidence decay (issue 10,
# part "memory"; notes/kernel.md 7.2 mechanism 1) runs by itself, once an
# hour whatever the number of memory replicas: a replica starting when the
# last decay is over an hour old decays at [proactive_memory]
# confidence_decay_rate (items not accessed for a day; level user never);
# a second replica starting within the hour does not decay again.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_config '[proactive_memory]
confidence_decay_rate = 0.1'
lf_fake_stack agent-runtime memory

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml decayer m-d)")"
A=$(jb .agent_id)
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"An old session fact\"}"
S=$(jb '.memories[0].item.id')
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"An old user fact\",\"level\":\"user\"}"
U=$(jb '.memories[0].item.id')
t_ok "the first replica ran the hour's decay at start" \
    test "$(lf_psql "SELECT last_run > now() - interval '1 minute' FROM memory.maintenance WHERE job = 'decay'")" = t
lf_psql "UPDATE memory.items SET accessed_at = now() - interval '10 days' WHERE agent_id = '$A'" >/dev/null
lf_psql "UPDATE memory.maintenance SET last_run = now() - interval '2 hours'" >/dev/null

# A replica starting now finds the hour's decay due.
lf_replica memory-2 memory
decayed() { [ "$(lf_psql "SELECT confidence < 1 FROM memory.items WHERE id = '$S'")" = t ]; }
lf_poll 200 decayed || echo "# no decay within 10 s of the second replica's start"
t_eq "the session item decayed by exp(-0.1 x 10)" "$(lf_psql "SELECT round(confidence::numeric, 3) FROM memory.items WHERE id = '$S'")" 0.368
t_eq "the user item did not" "$(lf_psql "SELECT confidence FROM memory.items WHERE id = '$U'")" 1
t_ok "the replica logged it" grep -q 'decay: 1 memories decayed' "$LF_TMP/log/memory-2.log"

# A third replica within the hour: no second decay.
lf_replica memory-3 memory
# Its first attempt runs as it starts, beside serving: a second more bounds it.
sleep 1
t_eq "within the hour nothing decays again" "$(lf_psql "SELECT round(confidence::numeric, 3) FROM memory.items WHERE id = '$S'")" 0.368
t_ok "and the third replica did not log a decay" bash -c "! grep -q 'decay:' '$LF_TMP/log/memory-3.log'"

t_done
