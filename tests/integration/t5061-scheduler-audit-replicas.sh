#!/usr/bin/env bash
# t5061-scheduler-audit-replicas.sh - two scheduler replicas, each with
# its relay over the schema's one outbox (claimed FOR UPDATE SKIP
# LOCKED): 4 writers creating and updating goals at once through both
# get every change into the chain exactly once, the chain verifies and
# the outbox empties.  With the audit service down the changes still
# succeed and their entries wait; a replica killed with -9 loses none of
# them: the survivor's relay sends them all when the audit service is
# back.
. "$(dirname "$0")/../lib.sh"

lf_stack_start scheduler audit
lf_wait_ok /api/goals || { echo "Bail out! the scheduler did not answer"; lf_dump_logs; exit 1; }
lf_bg scheduler-2 sh -c "exec '$LF_BIN/scheduler' >>'$LF_TMP/log/scheduler-2.log' 2>&1"
lf_poll 200 grep -qs "serving 'scheduler'" "$LF_TMP/log/scheduler-2.log"
t_ok "a second scheduler replica joins" grep -q "serving 'scheduler'" "$LF_TMP/log/scheduler-2.log"

q() { lf_psql "$1"; }
outbox_empty() { [ "$(q 'SELECT count(*) FROM scheduler.audit_outbox')" = 0 ]; }
chained() {	# chained PATTERN N: N entries whose detail is LIKE PATTERN (SQL text)
	[ "$(q "SELECT count(*) FROM audit.entries WHERE detail LIKE '$1'")" -ge "$2" ]
}

# ---- 4 writers through both replicas ----------------------------------------------
W=4 N=15
# wreq K METHOD PATH BODY: one request of writer K (lf_req's files are
# the script's, not a background job's); prints the status, keeps the
# body in $LF_TMP/w-K.json.
wreq() {
	curl -s -m 20 -X "$2" -H 'Content-Type: application/json' \
	    --data-binary "$4" -o "$LF_TMP/w-$1.json" -w '%{http_code}' \
	    "$LF_URL$3"
}
writer() {	# writer K: N goals created, each then updated
	local i id st
	for i in $(seq $N); do
		st=$(wreq "$1" POST /api/goals "{\"title\": \"g-$1-$i\"}")
		[ "$st" = 201 ] || echo "goal g-$1-$i: $st $(cat "$LF_TMP/w-$1.json")"
		id=$(jq -r .id "$LF_TMP/w-$1.json")
		st=$(wreq "$1" PUT "/api/goals/$id" '{"progress": 10}')
		[ "$st" = 200 ] || echo "update g-$1-$i: $st $(cat "$LF_TMP/w-$1.json")"
	done
}
PIDS=()
for k in $(seq $W); do
	writer "$k" >"$LF_TMP/writer-$k.out" 2>"$LF_TMP/writer-$k.err" &
	PIDS+=($!)
done
# Bounded: 60 s for 120 requests.
for i in $(seq 600); do
	alive=0
	for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ $alive = 0 ] && break
	sleep 0.1
done
t_eq "the writers finished within 60 s" "$alive" 0
t_eq "every goal was created and updated" "$(cat "$LF_TMP"/writer-*.out)" ""
G=$((W * N))
t_eq "$G goals" "$(q 'SELECT count(*) FROM scheduler.goals')" $G
t_ok "their $G entries reach the chain" lf_poll 300 chained 'goals.create: goal %' $G
t_ok "the outbox empties" lf_poll 200 outbox_empty
t_eq "each goal's entry is there once" \
    "$(q "SELECT count(*), count(DISTINCT detail), count(DISTINCT entry_id) FROM audit.entries WHERE detail LIKE 'goals.create: goal %'")" "$G|$G|$G"
t_eq "one per goal created, by name" \
    "$(q "SELECT count(*) FROM scheduler.goals g WHERE NOT EXISTS (SELECT 1 FROM audit.entries e WHERE e.detail = 'goals.create: goal ''' || g.title || ''' (' || g.id || ')')")" 0
t_ok "the updates' entries reach it too" lf_poll 200 chained 'goals.update: goal %' $G
t_eq "once each" \
    "$(q "SELECT count(*), count(DISTINCT detail) FROM audit.entries WHERE detail LIKE 'goals.update: goal %'")" "$G|$G"
t_eq "seq has no gap and no repeat" \
    "$(q 'SELECT min(seq) = 0 AND max(seq) + 1 = count(*) AND count(DISTINCT seq) = count(*) FROM audit.entries')" t
lf_req GET /api/audit/verify
t_eq "the chain verifies" "$(jbc '[.status, .valid, .chain_length]')" \
    "[\"valid\",true,$(q 'SELECT count(*) FROM audit.entries')]"

# ---- the audit service down, a replica killed ------------------------------------------
lf_stop audit
t_eq "the audit service is stopped" "$LF_HUNG" 0
for i in $(seq 10); do
	lf_req POST /api/goals "{\"title\": \"late-$i\"}"
	[ "$LF_STATUS" = 201 ] || echo "# late-$i: $LF_STATUS $LF_BODY"
done
t_eq "changes go on with the audit service down" "$(q "SELECT count(*) FROM scheduler.goals WHERE title LIKE 'late-%'")" 10
t_eq "their entries wait in the outbox" "$(q 'SELECT count(*) FROM scheduler.audit_outbox')" 10
lf_stop scheduler KILL
t_eq "one replica is killed with -9" "$LF_EXIT" 137
lf_start audit
t_ok "the survivor's relay sends all ten when the audit service is back" \
    lf_poll 400 chained "goals.create: goal ''late-%" 10
t_ok "the outbox empties" lf_poll 200 outbox_empty
t_eq "each once" \
    "$(q "SELECT count(*), count(DISTINCT detail) FROM audit.entries WHERE detail LIKE 'goals.create: goal ''late-%'")" "10|10"
lf_req GET /api/audit/verify
t_eq "the chain still verifies" "$(jbc '[.status, .valid, .chain_length]')" \
    "[\"valid\",true,$(q 'SELECT count(*) FROM audit.entries')]"

t_done
