#!/usr/bin/env bash
# t5033-trigger-replicas.sh - two scheduler replicas see every event, and
# each (trigger, event) fires exactly once (issue 9, part "triggers"):
# one fire row and one turn per pair, max_fires not overshot and a
# cooldown not passed twice, although both replicas race for each.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-triggers-0123456789
lf_fake_stack agent-runtime scheduler memory
lf_replica scheduler-2 scheduler
t_eq "two scheduler replicas on the bus" "$(grep -c "replica of 'scheduler' connected" "$LF_TMP/log/bus.log")" 2

# Warm-up: spawns until both replicas have decided a fire, so both are
# subscribed before the burst (20 at most; the check below then fails).
WARM=$(lf_agent warmer m-warm)
TWARM=$(lf_trigger "$WARM" '{pattern: {agent_spawned: {name_pattern: "warm"}}, cooldown_secs: 0}')
for i in $(seq 20); do
	lf_agent "warm-$i" m-b >/dev/null
	lf_fake_wait m-warm "$i" || echo "# warm-$i did not fire within 10 s"
	[ "$(lf_psql "SELECT count(DISTINCT claimed_by) FROM scheduler.trigger_fires WHERE trigger_id = '$TWARM'")" = 2 ] && break
done

# Five watchers of every burst spawn, one capped at 3 fires, one with a
# cooldown and no subject (lifecycle).
for i in 1 2 3 4 5; do
	O[$i]=$(lf_agent "owner-$i" "m-o$i")
	T[$i]=$(lf_trigger "${O[$i]}" '{pattern: {agent_spawned: {name_pattern: "burst"}}, cooldown_secs: 0}')
done
CAP=$(lf_agent capped m-cap)
TCAP=$(lf_trigger "$CAP" '{pattern: {agent_spawned: {name_pattern: "burst"}}, max_fires: 3, cooldown_secs: 0}')
COOL=$(lf_agent cooled m-cool)
TCOOL=$(lf_trigger "$COOL" '{pattern: "lifecycle", cooldown_secs: 3600}')

N=12
for i in $(seq $N); do lf_agent "burst-$i" m-b >/dev/null; done
# Bounded: every watcher's N turns, then a settling event whose turns prove
# the burst's events were evaluated by both replicas.
for i in 1 2 3 4 5; do
	lf_fake_wait "m-o$i" $N || echo "# owner-$i got $(lf_fake_requests "m-o$i" | jq length) of $N turns within 10 s"
done
lf_agent "burst-last" m-b >/dev/null
lf_fake_wait m-o1 $((N + 1)) || echo "# the settling event did not fire within 10 s"
sleep 0.5	# a duplicate turn, if any, would have been asked for by now

dups=0
for i in 1 2 3 4 5; do
	c=$(lf_fake_requests "m-o$i" | jq length)
	[ "$c" = $((N + 1)) ] || { dups=$((dups + 1)); echo "# owner-$i: $c turns, expected $((N + 1))"; }
done
t_eq "one turn per (trigger, event) for each of five watchers" "$dups" 0
t_eq "one fire row per (trigger, event)" \
    "$(lf_psql "SELECT count(*) FROM scheduler.trigger_fires WHERE trigger_id IN ('${T[1]}','${T[2]}','${T[3]}','${T[4]}','${T[5]}')")" \
    $((5 * (N + 1)))
t_eq "each turn's prompt is a different spawn (no event twice)" \
    "$(lf_fake_requests m-o3 | jq '[.[].body.messages | map(select(.role == "user")) | .[-1].content] | unique | length')" $((N + 1))
t_eq "fire_count agrees with the rows" \
    "$(lf_psql "SELECT sum(fire_count) FROM scheduler.triggers WHERE id IN ('${T[1]}','${T[2]}','${T[3]}','${T[4]}','${T[5]}')")" $((5 * (N + 1)))
t_eq "max_fires 3 with two replicas: exactly 3 turns, disabled" \
    "$(lf_fake_requests m-cap | jq length) $(lf_psql "SELECT fire_count || ' ' || enabled FROM scheduler.triggers WHERE id = '$TCAP'")" "3 3 false"
t_eq "a cooldown without subject with two replicas: exactly 1 turn" \
    "$(lf_fake_requests m-cool | jq length) $(lf_psql "SELECT fire_count FROM scheduler.triggers WHERE id = '$TCOOL'")" "1 1"
R=$(lf_psql "SELECT count(DISTINCT claimed_by) FROM scheduler.trigger_fires")
echo "# fires decided by $R replica(s): $(lf_psql "SELECT claimed_by || '=' || count(*) FROM scheduler.trigger_fires GROUP BY claimed_by" | tr '\n' ' ')"
t_ok "both replicas decided fires" test "$R" = 2
none_running() { [ "$(lf_psql "SELECT count(*) FROM scheduler.trigger_fires WHERE status = 'running'")" = 0 ]; }
lf_poll 200 none_running || echo "# fires still running after 10 s"
t_eq "every fire completed" "$(lf_psql "SELECT string_agg(DISTINCT status, ',') FROM scheduler.trigger_fires")" completed
t_done
