#!/usr/bin/env bash
# t5036-trigger-kill9.sh - a fire survives its replica being killed with
# -9 mid-turn (issue 9, part "triggers"): the fire's row is committed
# before the turn is asked for, with a lease of [bus] turn_timeout_secs
# + 15 s; when the lease runs out the other replica takes the fire over
# and asks again under the same idempotency key, and agent-runtime
# answers with the first turn's stored reply.  The turn ran once.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-triggers-0123456789
lf_config '[bus]
turn_timeout_secs = 5'
lf_fake_stack agent-runtime scheduler memory
lf_replica scheduler-2 scheduler
sleep 0.5	# the second replica's subscription reaches the broker

S=$(lf_agent slowpoke m-slow)
TR=$(lf_trigger "$S" '{pattern: {agent_spawned: {name_pattern: "doomed"}}, cooldown_secs: 0}')
lf_fake_script '{"model":"m-slow","steps":[{"text":"survived","delay_ms":2500}]}'

lf_agent doomed-1 m-x >/dev/null
lf_fake_wait m-slow 1 || echo "# the fire's turn did not start within 10 s"
OWNER=$(lf_psql "SELECT claimed_by FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")
NAME=$(lf_pid_name "${OWNER##*:}")
t_ok "the fire is held by one of the two replicas ($OWNER: ${NAME:-?})" test -n "$NAME"
t_eq "its lease is the turn timeout + 15 s" \
    "$(lf_psql "SELECT round(extract(epoch FROM lease_until - created_at)) FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" 20
lf_stop "$NAME" KILL

done_() { [ "$(lf_psql "SELECT status FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" = completed ]; }
lf_poll 800 done_ || echo "# the fire was not completed within 40 s"
t_eq "the survivor completed the fire with the first turn's answer" \
    "$(lf_psql "SELECT status || '|' || response FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" "completed|survived"
t_ok "the survivor holds it" test "$(lf_psql "SELECT claimed_by FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" != "$OWNER"
t_eq "the agent's turn ran once" "$(lf_fake_requests m-slow | jq length)" 1

t_done
