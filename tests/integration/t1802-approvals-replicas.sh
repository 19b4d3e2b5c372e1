#!/usr/bin/env bash
# t1802-approvals-replicas.sh - the gate across two agent-runtime
# replicas: a decision taken by the replica that does not hold the paused
# turn wakes it (the announcement on 'approvals'); a decision written
# with no announcement at all still reaches it (the poll, ~1 s); the
# replica holding a keyed turn's pause is killed (SIGKILL), the request
# is approved through the survivor, and the client's retry (same
# Idempotency-Key) honours that decision: the tool runs once, no second
# request is made; killed again before any decision, the retry waits on
# the same request and a rejection then reaches it.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-approvals-replicas-0123456789
lf_fake_stack agent-runtime
t_ok "a second replica joins" lf_replica agent-runtime-2 agent-runtime

A=$(lf_agent rep m-r '[capabilities]
tools = ["shell_exec"]
shell = ["*"]')
results() {
	lf_fake_requests "$1" | jq -c "[.[$2].body.messages[] | select(.role == \"tool\") | .content]"
}
pending_of() {
	lf_req GET "/api/approvals?agent_id=$1"
	[ "$(jb .total)" = 1 ]
}
# holder ID: the replica (log name) whose turn waits on request ID.
holder() {
	local n
	for n in agent-runtime agent-runtime-2; do
		grep -qs "waits for approval $1" "$LF_TMP/log/$n.log" && { echo "$n"; return; }
	done
}
# decider ID STATUS: the replica that logged the decision.
decider() {
	local n
	for n in agent-runtime agent-runtime-2; do
		grep -qs "approval $1 $2" "$LF_TMP/log/$n.log" && { echo "$n"; return; }
	done
}
# ask OUT [KEY]: a turn in the background (pid in ASK).
ask() {
	curl -s -m 60 -o "$1" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	    ${2:+-H "Idempotency-Key: $2"} --data-binary '{"message":"run it"}' \
	    "$LF_URL/api/agents/$A/message" > "$1.status" &
	ASK=$!
}
call() {	# COMMAND: the model's tool call step
	printf '{"tool_calls":[{"name":"shell_exec","arguments":{"command":"%s"}}]}' "$1"
}

# ---- a decision through the other replica ----------------------------------------
CROSS=0
for i in 1 2 3 4 5 6; do
	lf_fake_script "{\"model\":\"m-r\",\"steps\":[$(call "echo x$i >> $LF_TMP/cross"),{\"text\":\"Done $i.\"}]}"
	ask "$LF_TMP/c$i"
	lf_poll 200 pending_of "$A" || break
	R=$(jb '.approvals[0].id')
	lf_poll 100 test -n "$(holder "$R")"
	H=$(holder "$R")
	lf_req POST "/api/approvals/$R/approve"
	wait "$ASK"
	D=$(decider "$R" approved)
	if [ -n "$H" ] && [ -n "$D" ] && [ "$H" != "$D" ]; then
		CROSS=1
		break
	fi
done
t_eq "a decision taken on the other replica ($D, turn on $H)" "$CROSS" 1
t_eq "  resumed the turn: it answers" "$(cat "$LF_TMP/c$i.status") $(jq -r .response "$LF_TMP/c$i")" "200 Done $i."
t_eq "  and the command ran" "$(tail -1 "$LF_TMP/cross")" "x$i"

# ---- no announcement: the poll ------------------------------------------------------
lf_fake_script "{\"model\":\"m-r\",\"steps\":[$(call "echo polled > $LF_TMP/polled"),{\"text\":\"Polled.\"}]}"
ask "$LF_TMP/p"
t_ok "another turn pauses" lf_poll 200 pending_of "$A"
R=$(jb '.approvals[0].id')
T0=$(date +%s%N)
lf_psql "UPDATE runtime.approvals SET status = 'approved', decided_at = now(), decided_by = 'sql' WHERE id = '$R'" >/dev/null
wait "$ASK"
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
t_eq "a decision nobody announced still resumes the turn" "$(cat "$LF_TMP/p.status") $(jq -r .response "$LF_TMP/p")" "200 Polled."
# The poll reads the row every second; without it the turn would wait
# for the request's expiry (60 s) and be denied.
t_ok "  by the poll, not at the request's 60 s expiry ($MS ms)" test "$MS" -lt 10000
t_eq "  and the command ran" "$(cat "$LF_TMP/polled" 2>/dev/null)" polled

# ---- kill -9 the holder, decide, retry ------------------------------------------------
restart() {	# the killed replica back
	if [ "$1" = agent-runtime ]; then
		lf_start agent-runtime
		lf_bus_joined agent-runtime
	else
		lf_replica agent-runtime-2 agent-runtime
	fi
}
lf_fake_script "{\"model\":\"m-r\",\"steps\":[$(call "echo once >> $LF_TMP/once")]}"
ask "$LF_TMP/k1" appr-key-1
t_ok "a keyed turn pauses" lf_poll 200 pending_of "$A"
R=$(jb '.approvals[0].id')
lf_poll 100 test -n "$(holder "$R")"
H=$(holder "$R")
lf_stop "$H" KILL
t_ok "the replica holding it ($H) is killed" test -n "$LF_EXIT"
t_ok "the client's request ends" timeout 10 tail --pid=$ASK -f /dev/null
t_eq "  with a 503" "$(cat "$LF_TMP/k1.status")" 503
lf_req POST "/api/approvals/$R/approve"
t_eq "the survivor takes the decision" "$LF_STATUS $(jb .status)" "200 approved"
t_ok "the command has not run yet" test ! -e "$LF_TMP/once"
lf_fake_script "{\"model\":\"m-r\",\"steps\":[$(call "echo once >> $LF_TMP/once"),{\"text\":\"Honoured.\"}]}"
N=$(lf_fake_requests m-r | jq length)
lf_req POST "/api/agents/$A/message" '{"message":"run it"}' -H 'Idempotency-Key: appr-key-1' -m 30
t_eq "the retry honours the decision" "$LF_STATUS $(jb .response)" "200 Honoured."
t_eq "  the command ran once" "$(cat "$LF_TMP/once" 2>/dev/null)" once
t_eq "  without a second request" "$(lf_psql "SELECT count(*) FROM runtime.approvals WHERE turn_key IS NOT NULL AND agent_id = '$A'")" 1
t_eq "  the provider saw the retry's two calls" "$(( $(lf_fake_requests m-r | jq length) - N ))" 2
t_ok "restart the killed replica" restart "$H"

# ---- kill -9 before any decision: the retry waits on the same request -----------------
lf_fake_script "{\"model\":\"m-r\",\"steps\":[$(call "touch $LF_TMP/never")]}"
ask "$LF_TMP/k2" appr-key-2
t_ok "a keyed turn pauses" lf_poll 200 pending_of "$A"
R=$(jb '.approvals[0].id')
lf_poll 100 test -n "$(holder "$R")"
H=$(holder "$R")
lf_stop "$H" KILL
t_ok "its replica ($H) is killed" timeout 10 tail --pid=$ASK -f /dev/null
lf_fake_script "{\"model\":\"m-r\",\"steps\":[$(call "touch $LF_TMP/never"),{\"text\":\"Refused.\"}]}"
curl -s -m 60 -o "$LF_TMP/k2b" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: appr-key-2' --data-binary '{"message":"run it"}' \
    "$LF_URL/api/agents/$A/message" > "$LF_TMP/k2b.status" &
RETRY=$!
taken() { grep -qs "takes up approval $R" "$LF_TMP"/log/agent-runtime*.log; }
t_ok "the retry takes up the same request" lf_poll 200 taken
t_eq "  still one request, pending" "$(lf_psql "SELECT count(*) || ':' || min(status) FROM runtime.approvals WHERE turn_key IS NOT NULL AND agent_id = '$A' AND status = 'pending'")" "1:pending"
lf_req POST "/api/approvals/$R/reject" '{"reason":"no"}'
t_eq "reject it" "$LF_STATUS" 200
wait "$RETRY"
t_eq "the retried turn gets the rejection" "$(cat "$LF_TMP/k2b.status") $(jq -r .response "$LF_TMP/k2b")" "200 Refused."
t_ok "  the command never ran" test ! -e "$LF_TMP/never"
t_ok "  the model was told" grep -q 'Denied: the user rejected' <<<"$(lf_fake_requests m-r | jq -r '.[-1].body.messages[] | select(.role == "tool") | .content')"

t_done
