#!/usr/bin/env bash
# t1801-approvals-turn.sh - the gate in real turns (turn/machine.c,
# approval/gate.c) against the fake LLM provider: a turn that asks for
# shell_exec pauses and its request is listed (with the call's command,
# its session and tool_use_id); approve -> the command ran and the reply
# goes on; reject -> the model gets a denied result with the reason and
# the command did not run; no decision -> the manifest's timeout (10 s)
# and the deny fallback; a stream client sees approval_requested and
# approval_resolved, and so does a WebSocket client; a manifest with require_approval = false runs the
# tool at once; a stopped turn's request is skipped.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-approvals-turn-0123456789
lf_fake_stack agent-runtime

CAPS='[capabilities]
tools = ["shell_exec"]
shell = ["*"]'
A=$(lf_agent gated m-g "$CAPS")
# The tool results the provider saw in request N (0-based) for MODEL.
results() {
	lf_fake_requests "$1" | jq -c "[.[$2].body.messages[] | select(.role == \"tool\") | .content]"
}
# ask AGENT TEXT OUT: the message turn in the background (its pid in ASK).
ask() {
	curl -s -m 60 -o "$3" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	    --data-binary "$(lf_msg_json "$2")" "$LF_URL/api/agents/$1/message" > "$3.status" &
	ASK=$!
}
pending_of() {	# AGENT: until one request is pending; its id in PID_
	lf_req GET "/api/approvals?agent_id=$1"
	[ "$(jb .total)" = 1 ]
}
script() {	# MODEL COMMAND
	lf_fake_script "{\"model\":\"$1\",\"steps\":[
	  {\"tool_calls\":[{\"name\":\"shell_exec\",\"arguments\":{\"command\":\"$2\"}}]},
	  {\"text\":\"Done.\"}]}"
}

# ---- approve --------------------------------------------------------------------
script m-g "echo approved-run > $LF_TMP/ran-1"
ask "$A" 'run it' "$LF_TMP/r1"
t_ok "the turn pauses: one pending request" lf_poll 200 pending_of "$A"
R=$(jb '.approvals[0].id')
t_eq "the request names the call" "$(jbc '.approvals[0] | [.tool_name, .risk_level, .description, .status]')" \
    "[\"shell_exec\",\"Critical\",\"Execute: echo approved-run > $LF_TMP/ran-1\",\"pending\"]"
SID=$(lf_psql "SELECT id FROM runtime.sessions WHERE agent_id = '$A'")
t_eq "  its session and tool_use_id" "$(jb '.approvals[0].session_id') $(jb '.approvals[0].tool_use_id | length > 0')" "$SID true"
t_eq "the provider was asked once so far" "$(lf_fake_requests m-g | jq length)" 1
t_ok "the command has not run" test ! -e "$LF_TMP/ran-1"
lf_req GET "/api/approvals/session/$SID"
t_eq "session/{sid}: it is pending there" "$(jb .has_pending) $(jb '.pending[0].id')" "true $R"
lf_req POST "/api/approvals/$R/approve"
t_eq "approve: 200" "$LF_STATUS" 200
wait "$ASK"
t_eq "the turn answers after the approval" "$(cat "$LF_TMP/r1.status") $(jq -r .response "$LF_TMP/r1")" "200 Done."
t_eq "the command ran" "$(cat "$LF_TMP/ran-1" 2>/dev/null)" approved-run
t_eq "the model got the tool's output (no denial)" "$(results m-g 1 | jq -r '.[0] | test("Denied")')" false
lf_req GET "/api/agents/$A/session"
t_ok "the session holds the call and its result" jq -e '[.messages[]? | tostring | select(contains("approved-run"))] | length >= 1' <<<"$LF_BODY"

# ---- reject ---------------------------------------------------------------------
script m-g "touch $LF_TMP/ran-2"
ask "$A" 'run it again' "$LF_TMP/r2"
t_ok "a second turn pauses" lf_poll 200 pending_of "$A"
R=$(jb '.approvals[0].id')
lf_req POST "/api/approvals/$R/reject" '{"reason":"not on a Friday"}'
t_eq "reject: 200" "$LF_STATUS $(jb .status)" "200 rejected"
wait "$ASK"
t_eq "the turn goes on after the rejection" "$(cat "$LF_TMP/r2.status") $(jq -r .response "$LF_TMP/r2")" "200 Done."
t_ok "the command did not run" test ! -e "$LF_TMP/ran-2"
DEN=$(results m-g 3 | jq -r '.[-1]')
t_ok "the model was told it was denied, and why ($DEN)" grep -q 'Denied: the user rejected.*not on a Friday' <<<"$DEN"
t_eq "the trace says denied" "$(jq -r '[.decision_traces[]? | .is_error] | last' "$LF_TMP/r2")" true

# ---- timeout (the manifest's 10 s, fallback deny) ----------------------------------
T=$(lf_agent timed m-t "$CAPS
[approval]
timeout_secs = 10
timeout_fallback = \"deny\"")
script m-t "touch $LF_TMP/ran-3"
T0=$(date +%s)
ask "$T" 'wait for it' "$LF_TMP/r3"
t_ok "the timed agent's turn pauses" lf_poll 200 pending_of "$T"
t_eq "  with the manifest's timeout" "$(jb '.approvals[0].timeout_secs')" 10
R=$(jb '.approvals[0].id')
wait "$ASK"
EL=$(( $(date +%s) - T0 ))
t_eq "no decision: the turn answers" "$(cat "$LF_TMP/r3.status") $(jq -r .response "$LF_TMP/r3")" "200 Done."
t_ok "after about 10 s ($EL s)" test "$EL" -ge 9 -a "$EL" -le 20
t_ok "the command did not run" test ! -e "$LF_TMP/ran-3"
t_ok "the model was told it timed out" grep -q 'no decision.*within 10 s' <<<"$(results m-t 1 | jq -r '.[-1]')"
lf_req GET "/api/approvals/$R"
t_eq "the request is timed_out" "$(jb .status)" timed_out
lf_req POST "/api/approvals/$R/approve"
t_eq "and cannot be approved late (409)" "$LF_STATUS" 409

# ---- streaming: the client sees the pending approval --------------------------------
script m-g "echo streamed > $LF_TMP/ran-4"
curl -sN -m 60 -X POST -H 'Content-Type: application/json' --data-binary '{"message":"stream it"}' \
    -o "$LF_TMP/sse" "$LF_URL/api/agents/$A/message/stream" &
SSE=$!
sse_pending() { grep -q '^event: approval_requested' "$LF_TMP/sse" 2>/dev/null; }
t_ok "SSE: approval_requested arrives while the turn waits" lf_poll 200 sse_pending
EVID=$(grep -A1 '^event: approval_requested' "$LF_TMP/sse" | sed -n 's/^data: //p' | jq -r .approval_id)
lf_req GET "/api/approvals?agent_id=$A"
t_eq "  naming the pending request" "$EVID" "$(jb '.approvals[0].id')"
lf_req POST "/api/approvals/$EVID/approve"
wait "$SSE"
EV=$(awk '/^event: /{print substr($0, 8)}' "$LF_TMP/sse" | uniq | tr '\n' ' ')
t_ok "SSE: approval_requested, approval_resolved, tool_result, chunk, done ($EV)" \
    grep -q 'tool_use approval_requested approval_resolved tool_result .*chunk done $' <<<"$EV"
t_ok "SSE: approval_resolved says approved" grep -q '"decision":"approved"' "$LF_TMP/sse"
t_eq "the streamed command ran" "$(cat "$LF_TMP/ran-4" 2>/dev/null)" streamed

# ---- the WebSocket: the same events as messages (tests/e2e/ws-approval.test.mjs) ----
W=$(lf_agent socket-gated ws-appr "$CAPS")
export LF_URL LF_AGENT=$W FAKE_URL=$LF_FAKE_URL LF_MARK=$LF_TMP/ran-ws
t_node ws-approval.test.mjs 1

# ---- policy: a manifest that gates nothing --------------------------------------------
F=$(lf_agent free m-f "$CAPS
[approval]
require_approval = false")
script m-f "echo free > $LF_TMP/ran-5"
lf_req POST "/api/agents/$F/message" "$(lf_msg_json 'go')"
t_eq "require_approval = false: the tool runs at once" "$LF_STATUS $(jb .response) $(cat "$LF_TMP/ran-5" 2>/dev/null)" "200 Done. free"
t_eq "  and no request was made" "$(lf_psql "SELECT count(*) FROM runtime.approvals WHERE agent_id = '$F'")" 0

# ---- a stopped turn: its request is skipped --------------------------------------------
script m-g "touch $LF_TMP/ran-6"
ask "$A" 'then stop' "$LF_TMP/r6"
t_ok "a turn pauses" lf_poll 200 pending_of "$A"
R=$(jb '.approvals[0].id')
lf_req POST "/api/agents/$A/stop"
wait "$ASK"
t_eq "stop: the turn answers" "$(cat "$LF_TMP/r6.status")" 200
t_ok "the command did not run" test ! -e "$LF_TMP/ran-6"
t_eq "the request is skipped" "$(lf_psql "SELECT status || ':' || decided_by FROM runtime.approvals WHERE id = '$R'")" "skipped:interrupt"

t_done
