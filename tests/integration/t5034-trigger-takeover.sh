#!/usr/bin/env bash
# t5034-trigger-takeover.sh - a fire outlives the replica that decided it
# (issue 9, part "triggers"): with two scheduler replicas, the one whose
# fire's turn is still running is stopped; its lease is released, the
# other takes the fire over and asks again under the same idempotency
# key: it waits while the first turn runs (409 turn_in_progress), then
# records that turn's answer.  The agent's turn ran once.
. "$(dirname "$0")/../lib.sh"

for v in $(env | grep -oE '^[A-Z0-9_]+_(API_KEY|API_TOKEN|TOKEN)=' | tr -d =); do
	unset "$v"
done
export FAKE_API_KEY=sk-fake-triggers-0123456789
lf_fake_start
lf_stack_start agent-runtime scheduler memory
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not answer"; lf_dump_logs; exit 1; }
lf_bg scheduler-2 sh -c "exec '$LF_BIN/scheduler' >>'$LF_TMP/log/scheduler-2.log' 2>&1"
for i in $(seq 200); do
	[ "$(grep -c "replica of 'scheduler' connected" "$LF_TMP/log/bus.log")" -ge 2 ] && break
	sleep 0.05
done
sleep 0.5	# the second replica's subscription reaches the broker

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml slowpoke m-slow)")"
S=$(jb .agent_id)
lf_req POST /api/triggers "$(jq -nc --arg a "$S" '{agent_id: $a, pattern: {agent_spawned: {name_pattern: "late"}}, cooldown_secs: 0}')"
TR=$(jb .trigger_id)
lf_fake_script '{"model":"m-slow","steps":[{"text":"finally done","delay_ms":4000}]}'

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml late-1 m-x)")"
lf_fake_wait m-slow 1 || echo "# the fire's turn did not start within 10 s"
OWNER=$(lf_psql "SELECT claimed_by FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")
PID=${OWNER##*:}
NAME=
for n in scheduler scheduler-2; do
	[ "${LF_PIDS[$n]:-}" = "$PID" ] && NAME=$n
done
t_ok "the fire is held by one of the two replicas ($OWNER: ${NAME:-?})" test -n "$NAME"
t_eq "its status is running" "$(lf_psql "SELECT status FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" running
lf_stop "$NAME"
t_eq "the holder stopped cleanly (exit 0)" "${LF_EXIT:-}" 0

done_() { [ "$(lf_psql "SELECT status FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" = completed ]; }
lf_poll 600 done_ || echo "# the fire was not completed within 30 s"
t_eq "the survivor completed the fire with the first turn's answer" \
    "$(lf_psql "SELECT status || '|' || response FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" "completed|finally done"
t_ok "the survivor holds it now" test "$(lf_psql "SELECT claimed_by FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" != "$OWNER"
t_eq "the agent's turn ran once" "$(lf_fake_requests m-slow | jq length)" 1
t_ok "the survivor logged the takeover" grep -q "taking over a fire" "$LF_TMP/log/scheduler.log" "$LF_TMP/log/scheduler-2.log"

t_done
