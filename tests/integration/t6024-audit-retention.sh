#!/usr/bin/env bash
# t6024-audit-retention.sh - the retention trim (kernel.md 5): with a
# 1-second trim_interval_secs, entries older than their action's
# retention_days_by_action (else retention_days) are dropped as a
# contiguous prefix only (it stops at the first entry kept), head keeps
# the last dropped hash as the anchor verify starts from, and one
# RetentionTrim entry records the drops by action and the new anchor;
# recent and verify give the first retained seq; tampering after a trim
# is still found.  Then two replicas trim at once: each entry is dropped
# once, one RetentionTrim, the chain valid (and the anchor file agrees).
. "$(dirname "$0")/../lib.sh"

lf_config '[audit]
retention_days = 30
[audit.retention]
trim_interval_secs = 1
retention_days_by_action = { ToolInvoke = 1, AgentSpawn = 0 }'
lf_stack_start audit

ago() { date -u -d "@$(( $(date +%s) - $1 * 86400 ))" +%Y-%m-%dT%H:%M:%S.000Z; }
entry() {	# entry N ACTION DAYS_AGO
	printf '{"id":"7d9c3c1e-8c3b-4c2f-9d1e-%012d","timestamp":"%s","agent_id":"a-%d","action":"%s","detail":"entry %d","outcome":"ok"}' \
	    "$1" "$(ago "$3")" "$1" "$2" "$1"
}
call() { "$LF_BIN/bustool" -t 5000 req audit audit.append "$1" | jq -c '[.status, .body.appended]'; }
head_is() { [ "$(lf_psql 'SELECT first_seq FROM audit.head')" = "$1" ]; }

# seq 0-1: ToolInvoke 2 days old (kept 1 day); 2: ConfigChange 40 days
# (no rule: retention_days 30); 3: AgentSpawn 100 days (0 = for ever);
# 4: ConfigChange 40 days, behind it; 5: ToolInvoke today.
B="$(entry 0 ToolInvoke 2),$(entry 1 ToolInvoke 2),$(entry 2 ConfigChange 40),$(entry 3 AgentSpawn 100),$(entry 4 ConfigChange 40),$(entry 5 ToolInvoke 0)"
t_eq "six entries are appended in one call" "$(call "{\"body\":{\"entries\":[$B]}}")" '[200,6]'
t_ok "the trim runs within 10 s" lf_poll 200 head_is 3
t_eq "it dropped the prefix 0-2 and stopped at the entry kept for ever" \
    "$(lf_psql 'SELECT string_agg(seq::text, $$,$$ ORDER BY seq) FROM audit.entries')" 3,4,5,6
t_eq "entry 4, old but behind it, is kept" "$(lf_psql 'SELECT action FROM audit.entries WHERE seq = 4')" ConfigChange
t_eq "entry 6 is the RetentionTrim, by system" \
    "$(lf_psql "SELECT action || ' ' || agent_id || ' ' || outcome FROM audit.entries WHERE seq = 6")" "RetentionTrim system success"
D=$(lf_psql 'SELECT detail FROM audit.entries WHERE seq = 6')
t_eq "its detail gives the drops by action" "$(jq -c '[.dropped, .total, .first_seq]' <<<"$D")" '[{"ConfigChange":1,"ToolInvoke":2},3,3]'
t_eq "and the new anchor, head's" "$(jq -r .anchor <<<"$D")" "$(lf_psql 'SELECT anchor_hash FROM audit.head')"
t_eq "which entry 3 follows" "$(lf_psql 'SELECT prev_hash FROM audit.entries WHERE seq = 3')" "$(jq -r .anchor <<<"$D")"

lf_req GET /api/audit/verify
t_eq "verify after the trim: valid from the anchor" \
    "$(jbc '[.status, .valid, .chain_length, .entries, .first_seq]')" '["valid",true,7,4,3]'
t_eq "first_entry is entry 3's timestamp" "$(jb .first_entry)" "$(lf_psql 'SELECT ts FROM audit.entries WHERE seq = 3')"
lf_req GET '/api/audit/recent?limit=500'
t_eq "recent lists the retained entries" "$(jbc '[.entries[0].seq, (.entries | length), .total, .first_seq]')" '[3,4,7,3]'
lf_req GET '/api/audit/recent?limit=2'
t_eq "recent?limit=2: the last two" "$(jbc '[.entries[].seq]')" '[5,6]'

sleep 2.5	# two more ticks
t_eq "later ticks drop nothing more, and record nothing" \
    "$(lf_psql 'SELECT count(*) || $$ $$ || max(seq) FROM audit.entries')" "4 6"

# Tampering after a trim is still found.
lf_psql "UPDATE audit.entries SET detail = 'nothing' WHERE seq = 3" >/dev/null
lf_req GET /api/audit/verify
t_eq "the first retained entry altered: broken at it" "$(jbc '[.status, .break_at]')" '["broken",3]'
lf_psql "UPDATE audit.entries SET detail = 'entry 3' WHERE seq = 3" >/dev/null
A=$(lf_psql 'SELECT anchor_hash FROM audit.head')
lf_psql "UPDATE audit.head SET anchor_hash = repeat('0', 64)" >/dev/null
lf_req GET /api/audit/verify
t_eq "head's anchor altered: broken at the first retained entry" "$(jbc '[.status, .break_at]')" '["broken",3]'
lf_psql "UPDATE audit.head SET anchor_hash = '$A'" >/dev/null
lf_req GET /api/audit/verify
t_eq "put back: valid" "$(jb .status)" valid

# Two replicas trim at once; AgentSpawn now falls to retention_days.
lf_stop audit
lf_config '[audit]
retention_days = 30
anchor_path = "default"
[audit.retention]
trim_interval_secs = 1
retention_days_by_action = { ToolInvoke = 1 }'
lf_start audit
lf_bg audit-2 sh -c "exec '$LF_BIN/audit' >>'$LF_TMP/log/audit-2.log' 2>&1"
t_ok "the second trim runs within 10 s" lf_poll 200 head_is 5
sleep 2.5	# both replicas tick again
t_eq "entries 3-4 dropped once: one more RetentionTrim" \
    "$(lf_psql "SELECT string_agg(seq || action, ',' ORDER BY seq) FROM audit.entries")" 5ToolInvoke,6RetentionTrim,7RetentionTrim
t_eq "its drops" "$(lf_psql 'SELECT detail FROM audit.entries WHERE seq = 7' | jq -c '[.dropped, .total, .first_seq]')" '[{"AgentSpawn":1,"ConfigChange":1},2,5]'
lf_req GET /api/audit/verify
t_eq "verify: valid, the anchor file agreeing" "$(jbc '[.status, .chain_length, .entries, .first_seq, .anchor_status]')" '["valid",8,3,5,"ok"]'
t_eq "the file counts every entry ever chained" "$(cut -d' ' -f1 "$LIBREFANG_HOME/data/audit.anchor")" 8

# Bad retention config stops the service at start.
lf_stop audit-2
lf_stop audit
for c in 'retention_days = -1' 'retention_days = "x"' '[audit.retention]
trim_interval_secs = 1.5' '[audit.retention]
retention_days_by_action = { Nope = 3 }' '[audit.retention]
retention_days_by_action = { ToolInvoke = "3" }'; do
	lf_config "[audit]
$c"
	t_eq "bad config ${c//$'\n'/ }: exits 1" "$(timeout 20 "$LF_BIN/audit" >"$LF_TMP/log/audit-bad.log" 2>&1; echo $?)" 1
done
lf_config ''

t_done
