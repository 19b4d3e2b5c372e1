#!/usr/bin/env bash
# t5033-trigger-replicas.sh - two scheduler replicas see every event, and
# each (trigger, event) fires exactly once (issue 9, part "triggers"):
# one fire row and one turn per pair, max_fires not overshot and a
# cooldown not passed twice, although both replicas race for each.
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
t_eq "two scheduler replicas on the bus" "$(grep -c "replica of 'scheduler' connected" "$LF_TMP/log/bus.log")" 2

agent() {
	lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml "$1" "$2")")"
	[ "$LF_STATUS" = 201 ] || echo "# spawn $1: $LF_STATUS $LF_BODY" >&2
	jb .agent_id
}
trigger() {
	lf_req POST /api/triggers "$(jq -nc --arg a "$1" "{agent_id: \$a} + $2")"
	[ "$LF_STATUS" = 201 ] || echo "# trigger: $LF_STATUS $LF_BODY" >&2
	jb .trigger_id
}

# Warm-up: spawns until both replicas have decided a fire, so both are
# subscribed before the burst (20 at most; the check below then fails).
WARM=$(agent warmer m-warm)
TWARM=$(trigger "$WARM" '{pattern: {agent_spawned: {name_pattern: "warm"}}, cooldown_secs: 0}')
for i in $(seq 20); do
	agent "warm-$i" m-b >/dev/null
	lf_fake_wait m-warm "$i" || echo "# warm-$i did not fire within 10 s"
	[ "$(lf_psql "SELECT count(DISTINCT claimed_by) FROM scheduler.trigger_fires WHERE trigger_id = '$TWARM'")" = 2 ] && break
done

# Five watchers of every burst spawn, one capped at 3 fires, one with a
# cooldown and no subject (lifecycle).
for i in 1 2 3 4 5; do
	O[$i]=$(agent "owner-$i" "m-o$i")
	T[$i]=$(trigger "${O[$i]}" '{pattern: {agent_spawned: {name_pattern: "burst"}}, cooldown_secs: 0}')
done
CAP=$(agent capped m-cap)
TCAP=$(trigger "$CAP" '{pattern: {agent_spawned: {name_pattern: "burst"}}, max_fires: 3, cooldown_secs: 0}')
COOL=$(agent cooled m-cool)
TCOOL=$(trigger "$COOL" '{pattern: "lifecycle", cooldown_secs: 3600}')

N=12
for i in $(seq $N); do agent "burst-$i" m-b >/dev/null; done
# Bounded: every watcher's N turns, then a settling event whose turns prove
# the burst's events were evaluated by both replicas.
for i in 1 2 3 4 5; do
	lf_fake_wait "m-o$i" $N || echo "# owner-$i got $(lf_fake_requests "m-o$i" | jq length) of $N turns within 10 s"
done
agent "burst-last" m-b >/dev/null
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
