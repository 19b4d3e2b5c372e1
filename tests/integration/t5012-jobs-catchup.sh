#!/usr/bin/env bash
# t5012-jobs-catchup.sh - after downtime the job's catch-up policy decides
# (issue 9, item 1): the scheduler is stopped for about ten seconds under
# three jobs on a 3 s interval; at restart "once" fires one catch-up slot,
# "skip" fires none of them, "all" fires the missed slots up to
# [scheduler] max_catch_up (2), and missed_fires counts the rest.  For
# every job, fires + missed_fires cover each slot from the first to the
# last exactly once.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-jobs-0123456789
lf_config '[scheduler]
min_interval_secs = 1
tick_ms = 100
lease_secs = 3
max_catch_up = 2'
lf_fake_stack agent-runtime scheduler

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml catcher m-catch)")"
A=$(jb .agent_id)
# job POLICY: an every-3s job with that catch-up policy; prints its id.
job() {
	lf_req POST /api/cron/jobs "$(jq -nc --arg a "$A" --arg p "$1" \
	    '{agent_id: $a, name: $p, schedule: {kind: "every", every_secs: 3}, prompt: ("catch " + $p), catch_up: $p, session_mode: "new"}')"
	[ "$LF_STATUS" = 201 ] || echo "# job $1: $LF_STATUS $LF_BODY" >&2
	jb .id
}
q() { lf_psql "$1"; }
fires() { q "SELECT count(*) FROM scheduler.job_fires WHERE job_id = '$1'"; }
has_fires() { [ "$(fires "$1")" -ge "$2" ]; }
none_running() { [ "$(q "SELECT count(*) FROM scheduler.job_fires WHERE state = 'running'")" = 0 ]; }

ONCE=$(job once)
SKIP=$(job skip)
ALL=$(job all)
t_eq "the default policy is once" "$(lf_req GET "/api/cron/jobs/$ONCE"; jb .catch_up)" once
for j in $ONCE $SKIP $ALL; do
	lf_poll 200 has_fires "$j" 2 || echo "# job $j did not fire twice within 10 s"
done
t_ok "the three jobs fire" has_fires "$ALL" 2
lf_poll 100 none_running

# ---- downtime ---------------------------------------------------------------------
lf_stop scheduler
T_STOP=$(lf_ms)
t_eq "the scheduler stops on SIGTERM" "$LF_EXIT" 0
declare -A BEFORE
for j in $ONCE $SKIP $ALL; do
	BEFORE[$j]=$(fires "$j")
done
sleep 10
T_START=$(lf_ms)
lf_start scheduler
lf_wait_ready 15 scheduler || { echo "Bail out! the scheduler did not come back"; lf_dump_logs; exit 1; }
# The catch-up happens at the first tick; then each job goes on.
for j in $ONCE $SKIP $ALL; do
	lf_poll 300 has_fires "$j" "$(( ${BEFORE[$j]} + 2 ))" ||
	    echo "# job $j did not go on firing after the restart"
done
for j in $ONCE $SKIP $ALL; do
	lf_req PUT "/api/cron/jobs/$j/enable" '{"enabled": false}'
done
lf_poll 200 none_running || echo "# fires still running 10 s later"

# The catch-up batch: the fires after the restart whose slot was already
# due when the first of them fired (a later slot was not due at that tick).
batch() {
	q "WITH a AS (SELECT slot, fired_at FROM scheduler.job_fires WHERE job_id = '$1'
	    AND fired_at > to_timestamp($T_START / 1000.0)),
	    f AS (SELECT min(fired_at) AS t FROM a)
	    SELECT count(*) FROM a, f WHERE a.slot <= f.t"
}
late() {	# fires later than 2 s after their slot
	q "SELECT count(*) FROM scheduler.job_fires WHERE job_id = '$1' AND fired_at - slot > interval '2 seconds'"
}
missed() { lf_req GET "/api/cron/jobs/$1/status" >/dev/null; jb .missed_fires; }
# Slots from the first to the last, each fired or counted missed once.
covered() {
	local span
	span=$(q "SELECT (extract(epoch FROM max(slot) - min(slot)) / 3 + 1)::int FROM scheduler.job_fires WHERE job_id = '$1'")
	echo "$(( $(fires "$1") + $(missed "$1") ))=$span"
}

M=$(missed "$ONCE")
t_eq "once: one catch-up fire at restart" "$(batch "$ONCE")" 1
t_ok "once: the other missed slots counted ($M)" test "$M" -ge 2
M=$(missed "$SKIP")
t_ok "skip: the missed slots counted ($M)" test "$M" -ge 3
t_eq "skip: no late fire" "$(late "$SKIP")" 0
M=$(missed "$ALL")
t_eq "all: max_catch_up (2) fires at restart" "$(batch "$ALL")" 2
t_ok "all: the older missed slots counted ($M)" test "$M" -ge 1
t_ok "all: the catch-up fires were late ones ($(late "$ALL"))" test "$(late "$ALL")" -ge 1
for j in ONCE SKIP ALL; do
	c=$(covered "${!j}")
	t_eq "$j: every slot fired or counted missed, once ($c)" "${c%=*}" "${c#*=}"
done
t_eq "no slot fired twice" \
    "$(q "SELECT count(*) = count(DISTINCT (job_id, slot)) FROM scheduler.job_fires")" t
t_eq "one turn per fire" "$(lf_fake_requests m-catch | jq length)" \
    "$(q "SELECT count(*) FROM scheduler.job_fires")"

t_done
