#!/usr/bin/env bash
# t5013-jobs-replicas.sh - exactly once (issue 9, item 2) with two
# scheduler replicas: twenty jobs on a 1 s interval fire every slot once
# (one fire row, one turn at the fake provider per slot, no gap, nothing
# missed), shared by both replicas.  Then one replica is killed with -9
# while it holds a fire whose turn is in flight (a slow provider reply):
# the survivor takes the fire over when its lease expires, asks again
# under the same idempotency key, and records the first turn's outcome --
# the provider saw that turn once -- while the other jobs go on without a
# gap or a duplicate.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-jobs-0123456789
lf_config '[scheduler]
min_interval_secs = 1
tick_ms = 100
lease_secs = 3'
lf_fake_stack agent-runtime scheduler
t_ok "a second scheduler replica joins" lf_replica scheduler-2 scheduler

q() { lf_psql "$1"; }
none_running() { [ "$(q "SELECT count(*) FROM scheduler.job_fires WHERE state = 'running'")" = 0 ]; }
# check LABEL: every job's fires are one per slot, 1 s apart with no gap,
# none missed, all ok, and the fake saw one request per fire of MODEL.
check() {
	t_eq "$1: one fire row per (job, slot)" \
	    "$(q "SELECT count(*) = count(DISTINCT (job_id, slot)) FROM scheduler.job_fires")" t
	t_eq "$1: no slot skipped between a job's first and last fire" \
	    "$(q "SELECT count(*) FROM (SELECT job_id FROM scheduler.job_fires f JOIN scheduler.jobs j ON j.id = f.job_id
	        WHERE j.name LIKE 'fast%' AND NOT f.manual GROUP BY job_id
	        HAVING extract(epoch FROM max(slot) - min(slot)) + 1 <> count(*)) x")" 0
	t_eq "$1: nothing counted missed" "$(q "SELECT sum(missed_fires) FROM scheduler.jobs")" 0
	t_eq "$1: every fire succeeded" \
	    "$(q "SELECT count(*) FROM scheduler.job_fires WHERE state <> 'ok'")" 0
	t_eq "$1: one turn at the provider per fire" "$(lf_fake_requests m-fast | jq length)" \
	    "$(q "SELECT count(*) FROM scheduler.job_fires f JOIN scheduler.jobs j ON j.id = f.job_id WHERE j.name LIKE 'fast%'")"
}

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml fast m-fast)")"
A=$(jb .agent_id)
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml slow m-slow)")"
S=$(jb .agent_id)

# ---- two replicas share the slots, each fired once --------------------------------
IDS=()
for i in $(seq 20); do
	lf_req POST /api/cron/jobs "$(jq -nc --arg a "$A" --arg n "fast-$i" \
	    '{agent_id: $a, name: $n, schedule: {kind: "every", every_secs: 1}, prompt: "Fast", session_mode: "new"}')"
	[ "$LF_STATUS" = 201 ] || echo "# create fast-$i: $LF_STATUS $LF_BODY"
	IDS+=("$(jb .id)")
done
t_eq "twenty jobs" "$(q "SELECT count(*) FROM scheduler.jobs")" 20
sleep 6
# Whichever replica ticks first after a slot claims all its due jobs
# (a batch holds 64); the ticks' jitter has each take some sooner or
# later (the chance that one took every slot halves with each second).
both() { [ "$(q "SELECT count(DISTINCT claimed_by) FROM scheduler.job_fires")" = 2 ]; }
t_ok "both replicas fired some" lf_poll 200 both
t_ok "about 20 fires a second ($(q "SELECT count(*) FROM scheduler.job_fires"))" \
    test "$(q "SELECT count(*) FROM scheduler.job_fires")" -ge 80
t_eq "each on time (within 2 s of its slot, under the test machine's load)" \
    "$(q "SELECT bool_and(fired_at - slot < interval '2 seconds') FROM scheduler.job_fires")" t

# ---- one replica killed -9 with a fire in flight -----------------------------------------
lf_fake_script '{"model": "m-slow", "steps": [{"text": "slow but once", "delay_ms": 5000}]}'
AT=$(date -u -d '+2 seconds' +%FT%TZ)
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$S" --arg at "$AT" \
    '{agent_id: $a, name: "slow-once", schedule: {kind: "at", at: $at}, prompt: "Slow", session_mode: "new"}')"
SJ=$(jb .id)
t_eq "a slow one-shot job" "$LF_STATUS" 201
lf_fake_wait m-slow 1 || echo "# the slow fire's turn did not start within 10 s"
OWNER=$(q "SELECT claimed_by FROM scheduler.job_fires WHERE job_id = '$SJ'")
t_ok "a replica holds the slow fire ($OWNER)" test -n "$OWNER"
# Kill the replica that holds it.
if [ "${OWNER##*:}" = "${LF_PIDS[scheduler]}" ]; then VICTIM=scheduler; SURVIVOR=scheduler-2
else VICTIM=scheduler-2; SURVIVOR=scheduler; fi
kill -KILL "${LF_PIDS[$VICTIM]}"
wait "${LF_PIDS[$VICTIM]}" 2>/dev/null
unset "LF_PIDS[$VICTIM]"
t_eq "the holder ($VICTIM) is killed with -9 mid-turn" \
    "$(q "SELECT state FROM scheduler.job_fires WHERE job_id = '$SJ'")" running
sleep 6
for id in "${IDS[@]}"; do
	lf_req PUT "/api/cron/jobs/$id/enable" '{"enabled": false}'
done
lf_poll 400 none_running || echo "# fires still running 20 s later"
t_ok "the survivor completed every fire" none_running
t_eq "the slow fire: done by the survivor, on a second attempt" \
    "$(q "SELECT state, claimed_by <> '$OWNER', attempts >= 2, result FROM scheduler.job_fires WHERE job_id = '$SJ'")" \
    "ok|t|t|slow but once"
t_eq "the slow turn ran once at the provider" "$(lf_fake_requests m-slow | jq length)" 1
lf_req GET "/api/cron/jobs/$SJ/status"
t_eq "the slow job: run once, nothing more to fire" "$(jb .run_count) $(jb .next_run) $(jb .last_status)" "1 null ok"
t_ok "the survivor said it took over ($SURVIVOR)" \
    grep -q "lease expired; asking again" "$LF_TMP/log/$SURVIVOR.log"
check "after the kill"

t_done
