#!/usr/bin/env bash
# t5034-trigger-takeover.sh - a fire outlives the replica that decided it
# (issue 9, part "triggers"): with two scheduler replicas, the one whose
# fire's turn is still running is stopped; its lease is released, the
# other takes the fire over and asks again under the same idempotency
# key: it waits while the first turn runs (409 turn_in_progress), then
# records that turn's answer.  The agent's turn ran once.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-triggers-0123456789
lf_fake_stack agent-runtime scheduler memory
lf_replica scheduler-2 scheduler
sleep 0.5	# the second replica's subscription reaches the broker

S=$(lf_agent slowpoke m-slow)
TR=$(lf_trigger "$S" '{pattern: {agent_spawned: {name_pattern: "late"}}, cooldown_secs: 0}')
lf_fake_script '{"model":"m-slow","steps":[{"text":"finally done","delay_ms":4000}]}'

lf_agent late-1 m-x >/dev/null
lf_fake_wait m-slow 1 || echo "# the fire's turn did not start within 10 s"
OWNER=$(lf_psql "SELECT claimed_by FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")
NAME=$(lf_pid_name "${OWNER##*:}")
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
