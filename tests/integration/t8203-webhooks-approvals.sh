#!/usr/bin/env bash
# t8203-webhooks-approvals.sh - the approvals' events reach outbound
# webhooks (issue 12: external systems are told what happened): a
# subscription to approval_requested and approval_resolved gets one
# signed delivery of each when an approval is requested and then
# decided, with the request's id, tool and decision; one that names
# neither gets none.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-hook-appr-0123456789
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
lf_config '[webhooks]
allowed_hosts = ["127.0.0.1"]'
lf_rcv_start
lf_fake_stack agent-runtime channels
A=$(lf_agent hook-appr m-hook-appr)

lf_req POST /api/webhooks "{\"name\": \"appr\", \"url\": \"$LF_RCV/hook/appr\", \"events\": [\"approval_requested\", \"approval.resolved\"]}"
t_eq "a webhook on approval_requested and approval.resolved (dotted)" "$LF_STATUS $(jbc .events)" '201 ["approval_requested","approval_resolved"]'
lf_rcv_ctl appr "$(jb .secret)"
lf_req POST /api/webhooks "{\"name\": \"other\", \"url\": \"$LF_RCV/hook/other\", \"events\": [\"cron_fired\"]}"
lf_rcv_ctl other "$(jb .secret)"

lf_req POST /api/approvals "{\"agent_id\":\"$A\",\"tool_name\":\"shell_exec\",\"description\":\"ls\"}"
R=$(jb .id)
t_eq "an approval requested" "$LF_STATUS" 201
log() { curl -s -m 5 "$LF_RCV/__log" | jq -c "[.[] | select(.name == \"$1\")]"; }
got() { [ "$(log appr | jq length)" -ge "$1" ]; }
t_ok "its approval_requested is delivered" lf_poll 200 got 1
t_eq "signed, verified, naming the request and tool" \
    "$(log appr | jq -c --arg r "$R" '.[0] | [.ok, .event, .body.data.payload.data.request_id == $r, .body.data.payload.data.tool_name]')" \
    '[true,"approval_requested",true,"shell_exec"]'
lf_req POST "/api/approvals/$R/reject" '{"reason":"no"}'
t_ok "its approval_resolved follows" lf_poll 200 got 2
t_eq "with the decision" "$(log appr | jq -c '.[1] | [.ok, .event, .body.data.payload.data.decision]')" \
    '[true,"approval_resolved","rejected"]'
sleep 1
t_eq "each once, and none to a webhook that names neither" "$(log appr | jq length) $(log other | jq length)" "2 0"

lf_stack_stop
t_done
