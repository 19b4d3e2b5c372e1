#!/usr/bin/env bash
# t1800-approvals.sh - the /api/approvals routes (approval/ops.c): create
# (201, the spec's shape, at most 5 pending per agent), list (pending, by
# status, total), get, approve, reject (reason), modify (feedback), batch
# (all or none), count, audit (a pending row and a decision row each),
# session/{sid}; each decision once (409 after), an expired request is
# timed out and cannot be decided; bad input is a clear 4xx: bad UUIDs,
# unknown ids, unknown fields, bad types, NUL, oversize and garbage
# bodies.  Decisions reach the audit chain (CapabilityCheck entries).
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-approvals-0123456789
lf_fake_stack agent-runtime audit

A=$(lf_agent appr-a m-a)
B=$(lf_agent appr-b m-b)
ZERO=00000000-0000-4000-8000-000000000000

# ---- create ---------------------------------------------------------------------
lf_req POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"deploy\",\"description\":\"Deploy to production\",\"action_summary\":\"Production deployment\"}"
t_eq "create: 201 pending" "$LF_STATUS $(jb .status)" "201 pending"
R1=$(jb .id)
t_ok "create: the id is a UUID ($R1)" grep -Eq '^[0-9a-f-]{36}$' <<<"$R1"
t_eq "create: the row's fields" "$(jbc '[.agent_id, .agent_name, .tool_name, .description, .action_summary, .risk_level, .timeout_secs]')" \
    "[\"$A\",\"appr-a\",\"deploy\",\"Deploy to production\",\"Production deployment\",\"Low\",60]"
lf_req POST /api/approvals "{\"agent_id\":\"appr-a\",\"action\":\"shell_exec\",\"description\":\"rm -rf /tmp/x\",\"payload\":{\"path\":\"/tmp/x\"},\"timeout_secs\":120}"
t_eq "create by agent name with 'action' (spec 002)" "$LF_STATUS $(jb .tool_name) $(jb .risk_level) $(jb .payload.path)" "201 shell_exec Critical /tmp/x"
R2=$(jb .id)

# ---- bad input -------------------------------------------------------------------
bad() {	# DESC METHOD PATH BODY STATUS
	lf_req "$2" "$3" "$4"
	t_eq "$1" "$LF_STATUS" "$5"
	[ "$LF_STATUS" -ge 500 ] || t_ok "  ... with an error body ($LF_BODY)" lf_err_shape
}
bad "create: no agent_id" POST /api/approvals '{"tool_name":"x"}' 400
bad "create: unknown agent" POST /api/approvals "{\"agent_id\":\"$ZERO\",\"tool_name\":\"x\"}" 404
bad "create: no tool" POST /api/approvals "{\"agent_id\":\"$A\"}" 400
bad "create: a tool name with a space" POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"rm -rf\"}" 400
bad "create: a tool name past 64 bytes" POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"$(printf 'x%.0s' {1..65})\"}" 400
bad "create: an unknown field" POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"x\",\"colour\":1}" 400
bad "create: timeout_secs out of 10..300" POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"x\",\"timeout_secs\":5}" 400
bad "create: description not a string" POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"x\",\"description\":7}" 400
bad "create: a NUL in the description" POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"x\",\"description\":\"a\\u0000b\"}" 400
bad "create: description past 1024 bytes" POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"x\",\"description\":\"$(head -c 1100 /dev/zero | tr '\0' d)\"}" 400
bad "create: a body that is no object" POST /api/approvals '[1,2]' 400
bad "create: garbage" POST /api/approvals 'not json{' 400
head -c 3000000 /dev/zero | tr '\0' a > "$LF_TMP/big"
lf_req POST /api/approvals "@$LF_TMP/big"
t_ok "create: an oversize body is a 4xx ($LF_STATUS)" test "$LF_STATUS" -ge 400 -a "$LF_STATUS" -lt 500
bad "get: a bad UUID" GET /api/approvals/appr-1234 "" 400
bad "get: an unknown id" GET /api/approvals/$ZERO "" 404
bad "approve: a bad UUID" POST "/api/approvals/not-a-uuid/approve" '{}' 400
bad "approve: an unknown id" POST "/api/approvals/$ZERO/approve" '{}' 404
bad "approve: an unknown field" POST "/api/approvals/$R1/approve" '{"yes":true}' 400
bad "reject: reason not a string" POST "/api/approvals/$R1/reject" '{"reason":[1]}' 400
bad "modify: no feedback" POST "/api/approvals/$R1/modify" '{}' 400
bad "list: a bad status" GET '/api/approvals?status=maybe' "" 400
bad "list: a bad limit" GET '/api/approvals?limit=0' "" 400
bad "list: a bad agent_id" GET '/api/approvals?agent_id=x' "" 400
bad "audit: a bad limit" GET '/api/approvals/audit?limit=abc' "" 400
bad "session: a bad UUID" GET /api/approvals/session/xyz "" 400
bad "batch: no ids" POST /api/approvals/batch '{"decision":"approve"}' 400
bad "batch: a bad decision" POST /api/approvals/batch "{\"ids\":[\"$R1\"],\"decision\":\"maybe\"}" 400
bad "batch: a bad UUID among ids" POST /api/approvals/batch "{\"ids\":[\"$R1\",\"x\"],\"decision\":\"approve\"}" 400
bad "batch: more than 100 ids" POST /api/approvals/batch "{\"ids\":$(jq -nc "[range(101)] | map(\"$R1\")"),\"decision\":\"approve\"}" 400
t_eq "nothing bad was decided: R1 still pending" "$(lf_psql "SELECT status FROM runtime.approvals WHERE id = '$R1'")" pending

# ---- list, get, count ------------------------------------------------------------
lf_req GET /api/approvals
t_eq "list: both pending, total 2" "$LF_STATUS $(jb .total) $(jbc '[.approvals[].id] | sort')" "200 2 $(jq -nc --arg a "$R1" --arg b "$R2" '[$a,$b] | sort')"
t_eq "list: an item has the spec's fields" "$(jbc '.approvals[0] | [has("id","agent_id","agent_name","tool_name","description","action_summary","risk_level","requested_at","timeout_secs","session_id","status")] | all')" true
lf_req GET "/api/approvals?agent_id=$B"
t_eq "list: by agent (none for B)" "$LF_STATUS $(jb .total)" "200 0"
lf_req GET /api/approvals/count
t_eq "count: 2 pending" "$LF_STATUS $(jb .pending) $(jb .count)" "200 2 2"
lf_req GET "/api/approvals/$R1"
t_eq "get: the row" "$LF_STATUS $(jb .id) $(jb .status)" "200 $R1 pending"

# ---- decide ----------------------------------------------------------------------
lf_req POST "/api/approvals/$R1/approve"
t_eq "approve (no body): 200 approved" "$LF_STATUS $(jb .id) $(jb .status)" "200 $R1 approved"
t_ok "  with decided_at ($(jb .decided_at))" grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T' <<<"$(jb .decided_at)"
lf_req POST "/api/approvals/$R1/approve" '{}'
t_eq "approve again: 409" "$LF_STATUS" 409
t_ok "  saying it was decided" grep -q 'already decided: approved' <<<"$(jb .error)"
lf_req POST "/api/approvals/$R1/reject" '{"reason":"too late"}'
t_eq "reject after approve: 409, still approved" "$LF_STATUS $(lf_psql "SELECT status FROM runtime.approvals WHERE id = '$R1'")" "409 approved"
lf_req POST "/api/approvals/$R2/reject" '{"reason":"not today"}'
t_eq "reject with a reason: 200 rejected" "$LF_STATUS $(jb .status) $(jb .reason)" "200 rejected not today"
lf_req POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"file_write\"}"
R3=$(jb .id)
lf_req POST "/api/approvals/$R3/modify" '{"feedback":"write to /tmp instead"}'
t_eq "modify: 200 modified with the feedback" "$LF_STATUS $(jb .status) $(jb .feedback)" "200 modified write to /tmp instead"

# ---- batch: all or none ----------------------------------------------------------
lf_req POST /api/approvals "{\"agent_id\":\"$B\",\"tool_name\":\"one\"}"; X1=$(jb .id)
lf_req POST /api/approvals "{\"agent_id\":\"$B\",\"tool_name\":\"two\"}"; X2=$(jb .id)
lf_req POST /api/approvals/batch "{\"ids\":[\"$X1\",\"$X2\",\"$R1\"],\"decision\":\"approve\"}"
t_eq "batch with a decided id: 409" "$LF_STATUS" 409
t_eq "  and none was decided" "$(lf_psql "SELECT string_agg(status, ',') FROM runtime.approvals WHERE id IN ('$X1','$X2')")" "pending,pending"
lf_req POST /api/approvals/batch "{\"ids\":[\"$X1\",\"$X2\",\"$X1\"],\"decision\":\"reject\",\"reason\":\"bulk\"}"
t_eq "batch reject: 200, both" "$LF_STATUS $(jb .decided) $(jbc '[.results[].status]')" '200 2 ["rejected","rejected"]'

# ---- at most 5 pending per agent -------------------------------------------------
for i in 1 2 3 4 5; do
	lf_req POST /api/approvals "{\"agent_id\":\"$B\",\"tool_name\":\"t$i\"}"
	CAP[$i]=$LF_STATUS
done
t_eq "five pending for B" "${CAP[*]}" "201 201 201 201 201"
lf_req POST /api/approvals "{\"agent_id\":\"$B\",\"tool_name\":\"t6\"}"
t_eq "the sixth is refused (429)" "$LF_STATUS" 429
t_ok "  saying why" grep -q '5 pending' <<<"$(jb .error)"
t_eq "  and not written" "$(lf_psql "SELECT count(*) FROM runtime.approvals WHERE agent_id = '$B' AND status = 'pending'")" 5
# Five at once from two sides: the lock counts them all.
lf_psql "UPDATE runtime.approvals SET status = 'skipped' WHERE agent_id = '$B' AND status = 'pending'" >/dev/null
PIDS=()
for i in $(seq 1 8); do
	curl -s -m 30 -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
	    --data "{\"agent_id\":\"$B\",\"tool_name\":\"c$i\"}" "$LF_URL/api/approvals" > "$LF_TMP/race.$i" &
	PIDS+=($!)
done
wait "${PIDS[@]}"
t_eq "8 racing creates: 5 made, 3 refused" "$(cat "$LF_TMP"/race.* | sort | uniq -c | awk '{print $2":"$1}' | paste -sd' ')" "201:5 429:3"

# ---- session ----------------------------------------------------------------------
SID=$(lf_psql "SELECT gen_random_uuid()")
lf_req POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"s1\",\"session_id\":\"$SID\"}"
S1=$(jb .id)
lf_req GET "/api/approvals/session/$SID"
t_eq "session: one pending" "$LF_STATUS $(jb .count) $(jb .has_pending) $(jb '.pending[0].id')" "200 1 true $S1"
lf_req GET "/api/approvals/session/$ZERO"
t_eq "session: an unknown one has none" "$LF_STATUS $(jb .count) $(jb .has_pending)" "200 0 false"

# ---- expiry -------------------------------------------------------------------------
lf_psql "UPDATE runtime.approvals SET expires_at = now() - interval '1 second' WHERE id = '$S1'" >/dev/null
lf_req POST "/api/approvals/$S1/approve"
t_eq "approve an expired request: 409" "$LF_STATUS" 409
lf_req GET "/api/approvals/$S1"
t_eq "  it is timed_out" "$(jb .status)" timed_out

# ---- audit ----------------------------------------------------------------------------
lf_req GET "/api/approvals/audit?approval_id=$R1"
t_eq "audit of R1: pending then approved" "$LF_STATUS $(jbc '[.entries[].decision]') $(jb .total)" '200 ["approved","pending"] 2'
lf_req GET "/api/approvals/audit?limit=2&offset=1"
t_eq "audit: a page (limit, offset)" "$LF_STATUS $(jbc '.entries | length') $(jb .limit) $(jb .offset)" "200 2 2 1"
t_ok "audit: a decision row names who and why" \
    test "$(lf_psql "SELECT decided_by || ':' || reason FROM runtime.approval_audit WHERE approval_id = '$R2' AND decision = 'rejected'")" = "api:not today"
recent_has() {
	lf_req GET '/api/audit/recent?limit=500'
	[ "$(jb --arg t "$1" '[.entries[] | select(.action == "CapabilityCheck" and (.detail | contains($t)))] | length')" -ge 1 ]
}
t_ok "the chain has R1's approval" lf_poll 200 recent_has "approval $R1 of tool 'deploy' approved"
t_ok "the chain has R2's rejection with its reason" lf_poll 200 recent_has "rejected by api: not today"
t_ok "the chain has S1's timeout" lf_poll 200 recent_has "approval $S1 of tool 's1' timed_out"
lf_req GET /api/audit/verify
t_eq "the chain verifies" "$LF_STATUS $(jb .valid)" "200 true"

t_done
