#!/usr/bin/env bash
# t8160-chat-approvals.sh - approvals asked and decided in the chat a turn
# came from (services/channels/README.md, "Approvals in the chat"; issue 13
# item 3, issue 12 item 1).  Telegram (the real channel-telegram against
# telegram-test-api, which declares "interactive"): a turn that needs
# shell_exec sends alice Approve / Reject buttons naming the request, its
# tool and risk; the request records where it came from; a stranger's
# press is refused; alice's press approves (decided by her, no turn for
# the press), the tool runs and the agent's answer arrives; reject; a
# request approved over HTTP meanwhile makes the later press say
# "already decided"; an unknown id is answered so.  The protocol-only
# python adapter (no "interactive"): the question as text naming
# /approve <id>; under TOTP a bare /approve asks for the code, a wrong
# sender is refused, /approve <id> <code> runs the tool; a trusted user
# (allowed_users) may reject another's request; bad ids answered; a
# request nobody decides in time is said to have timed out, in the chat
# that was asked, once.  Two channels replicas run throughout.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

if [ ! -d "$LF_ROOT/tests/e2e/node_modules/telegram-test-api" ]; then
	t_ok "telegram-test-api is installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

e2e_peer telegram
api=$(jq -r .TELEGRAM_API_BASE "$LF_TMP/telegram/env.json")
TOKEN=$(jq -r .TELEGRAM_BOT_TOKEN "$LF_TMP/telegram/env.json")

lf_config "[approval]
second_factor = \"totp\"
totp_tools = [\"nothing_*\"]

$(e2e_channel telegram gated)

[[sidecar_channels]]
name = \"plain\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"totp-agent\"
allowed_users = [\"boss\"]
env = { SIDECAR_DIR = \"$LF_TMP/plain\" }
"
export FAKE_API_KEY=sk-fake-chat-approvals-0123456789
lf_fake_stack agent-runtime channels
# Two replicas: a question is queued by whichever takes the call and
# sent by the one running the channel's adapter; a decision is taken by
# whichever router claims the message.
t_ok "a second channels replica joins" lf_replica channels2 channels
CAPS='[capabilities]
tools = ["shell_exec"]
shell = ["*"]'
G=$(lf_agent gated m-g "$CAPS")
T=$(lf_agent totp-agent m-t "$CAPS
[approval]
totp_tools = [\"shell_exec\"]")
t_ok "two agents ($G, $T)" test -n "$G" -a -n "$T"
t_ok "the telegram channel is running" chan_wait telegram running
t_ok "the plain channel is running" chan_wait plain running

script() {	# MODEL COMMAND ANSWER
	lf_fake_script "{\"model\":\"$1\",\"steps\":[
	  {\"tool_calls\":[{\"name\":\"shell_exec\",\"arguments\":{\"command\":\"$2\"}}]},
	  {\"text\":\"$3\"}]}"
}
pending() {	# AGENT: the id of its one pending request, in PEND
	lf_req GET "/api/approvals?agent_id=$1&status=pending"
	[ "$(jb .total)" = 1 ] && PEND=$(jb '.approvals[0].id')
}
# keyboards: the inline keyboards' callback data the bot sent, one
# message's a line.
keyboards() {
	curl -s -m 10 "$api/__calls" | jq -c '[.[] | select(.method == "sendMessage") | .body.reply_markup | select(. != null) | (if type == "string" then fromjson else . end) | [.inline_keyboard[][] | .callback_data]] | .[]'
}
has_keyboard() { keyboards | grep -qF "$1"; }
kb_text() {	# ID: the text of the message whose buttons name ID
	curl -s -m 10 "$api/__calls" | jq -r --arg id "$1" '[.[] | select(.method == "sendMessage" and (.body.reply_markup | tostring | contains($id))) | .body.text] | first'
}
press() {	# DATA [USER_ID FIRST]: a user presses an inline button in chat 1
	curl -s -m 10 -o /dev/null -X POST -H 'Content-Type: application/json' "$api/sendCallback" \
	    -d "$(jq -nc --arg d "$1" --arg t "$TOKEN" --argjson u "${2:-1}" --arg f "${3:-alice}" \
	    '{botToken: $t, date: now | floor, from: {id: $u, is_bot: false, first_name: $f, username: $f},
	      message: {from: {id: $u, is_bot: false, first_name: $f}, chat: {id: 1, type: "private"}, text: "Approval needed"},
	      data: $d}')"
}
status_of() { lf_psql "SELECT status || ' ' || coalesce(decided_by, '') FROM runtime.approvals WHERE id = '$1'"; }

# ---- telegram: buttons, a stranger, approve ------------------------------------
script m-g "echo tg-1 > $LF_TMP/ran-1" "Done one."
e2e_say telegram "please run the first"
t_ok "the turn pauses: one pending request" lf_poll 300 pending "$G"
R1=$PEND
t_ok "buttons arrive in alice's chat" lf_poll 300 has_keyboard "$R1"
t_eq "  Approve and Reject, naming the request" "$(keyboards | grep -F "$R1")" "[\"approve:$R1\",\"reject:$R1\"]"
t_ok "  the question names the tool, its risk and the command ($(kb_text "$R1" | head -1))" \
    sh -c "printf '%s' \"\$1\" | grep -q 'shell_exec' && printf '%s' \"\$1\" | grep -q Critical && printf '%s' \"\$1\" | grep -q 'echo tg-1'" _ "$(kb_text "$R1")"
t_eq "the request records its chat (channel, user, chat)" \
    "$(lf_psql "SELECT concat_ws(' ', chat_origin->>'channel', chat_origin->>'user_id', chat_origin->>'channel_id') FROM runtime.approvals WHERE id = '$R1'")" \
    "telegram 1 1"
press "approve:$R1" 2 mallory
t_ok "a stranger's press is refused in the chat" e2e_wait telegram "may not decide"
t_eq "  and decides nothing" "$(status_of "$R1")" "pending "
press "approve:$R1"
t_ok "alice's press: the chat is told it is approved" e2e_wait telegram "Approved"
t_ok "the tool ran, the agent's answer arrives" e2e_wait telegram "Done one."
t_eq "the command's output" "$(cat "$LF_TMP/ran-1" 2>/dev/null)" tg-1
t_eq "decided by alice on telegram" "$(status_of "$R1")" "approved telegram:1"
t_eq "the press ran no turn: the provider was asked twice (call, result)" \
    "$(lf_fake_requests m-g | jq length) $(e2e_asked m-g "approve:")" "2 0"
lf_req GET "/api/approvals/audit?limit=50"
t_eq "the audit lists the decision, by the platform user" \
    "$(jb "[.entries[] | select(.approval_id == \"$R1\" and .decision == \"approved\") | .decided_by] | first")" "telegram:1"

# ---- telegram: reject ---------------------------------------------------------
script m-g "echo tg-2 > $LF_TMP/ran-2" "Done two."
e2e_say telegram "please run the second"
t_ok "a second request" lf_poll 300 pending "$G"
R2=$PEND
t_ok "  with its buttons" lf_poll 300 has_keyboard "$R2"
press "reject:$R2"
t_ok "reject: the chat is told" e2e_wait telegram "Rejected"
t_ok "  the agent goes on without the tool" e2e_wait telegram "Done two."
t_ok "  which did not run" test ! -e "$LF_TMP/ran-2"
t_eq "  rejected by alice" "$(status_of "$R2")" "rejected telegram:1"

# ---- telegram: decided over HTTP meanwhile; unknown id -------------------------
script m-g "echo tg-3 > $LF_TMP/ran-3" "Done three."
e2e_say telegram "please run the third"
t_ok "a third request" lf_poll 300 pending "$G"
R3=$PEND
t_ok "  with its buttons" lf_poll 300 has_keyboard "$R3"
lf_req POST "/api/approvals/$R3/approve"
t_eq "approved over HTTP" "$LF_STATUS $(jb .decided_by)" "200 api"
t_ok "  the answer arrives" e2e_wait telegram "Done three."
press "approve:$R3"
t_ok "the later press says it was already decided" e2e_wait telegram "already decided"
press "approve:00000000-0000-4000-8000-000000000000"
t_ok "an unknown id is answered so" e2e_wait telegram "unknown id"
press "approve:not-a-uuid"
t_ok "a button with no id is answered so" e2e_wait telegram "no approval id"
t_eq "no button press ran a turn" "$(lf_fake_requests m-g | jq length)" 6

# ---- plain (no "interactive"): the text path under TOTP ------------------------
totp() {
	python3 -c '
import base64, hashlib, hmac, struct, sys, time
s = sys.argv[1]
key = base64.b32decode(s.upper() + "=" * (-len(s) % 8))
c = int(time.time()) // 30
h = hmac.new(key, struct.pack(">Q", c), hashlib.sha1).digest()
o = h[-1] & 15
print("%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000))
' "$1"
}
lf_req POST /api/approvals/totp/setup
SECRET=$(jb .secret)
lf_req POST /api/approvals/totp/confirm "{\"code\":\"$(totp "$SECRET")\"}"
t_eq "TOTP enrolled and confirmed" "$LF_STATUS" 200
lf_psql "UPDATE runtime.totp_enrollment SET grace_until = NULL" >/dev/null
lf_psql 'DELETE FROM runtime.totp_used_codes' >/dev/null

# psends CH TEXT: sends to CH's adapter whose text holds TEXT.
psends() { jq -s --arg t "$2" '[.[] | select(.frame.method == "send" and (.frame.params.text | contains($t)))] | length' "$LF_TMP/$1/received.jsonl" 2>/dev/null || echo 0; }
psent() { [ "$(psends "$1" "$2")" -ge "${3:-1}" ]; }
pwait() { lf_poll 500 psent "$@"; }
to_of() { jq -r -s --arg t "$2" '[.[] | select(.frame.method == "send" and (.frame.params.text | contains($t))) | .frame.params.channel_id] | last' "$LF_TMP/$1/received.jsonl"; }

script m-t "echo p-1 > $LF_TMP/ran-p1" "Done plain."
emit plain "$(msg u1 "run it on plain" p1)"
t_ok "the plain turn pauses" lf_poll 300 pending "$T"
R4=$PEND
t_ok "the question arrives as text naming /approve <id>" pwait plain "Answer /approve $R4 or /reject $R4"
t_eq "  to alice's chat, and no interactive frame" \
    "$(to_of plain "/approve $R4") $(jq -s '[.[] | select(.frame.method == "interactive")] | length' "$LF_TMP/plain/received.jsonl")" "c-u1 0"
emit plain "$(msg u7 "/approve $R4" p2)"
t_ok "another user's /approve is refused" pwait plain "may not decide"
t_eq "  told in that user's chat" "$(to_of plain "may not decide")" c-u7
emit plain "$(msg u1 "/approve $R4" p3)"
t_ok "TOTP enforced: a bare /approve asks for the code" pwait plain "answer /approve $R4 <code>"
t_eq "  nothing decided" "$(status_of "$R4")" "pending "
emit plain "$(msg u1 "/approve $R4 000000" p4)"
t_ok "a wrong code is refused" pwait plain "Could not approve approval $R4"
emit plain "$(msg u1 "/approve $R4 $(totp "$SECRET")" p5)"
t_ok "/approve <id> <code>: approved" pwait plain "Approved"
t_ok "  the tool ran, the agent's answer arrives" pwait plain "Done plain."
t_eq "  the command's output" "$(cat "$LF_TMP/ran-p1" 2>/dev/null)" p-1
t_eq "  decided by u1 on plain, with the second factor" \
    "$(lf_psql "SELECT decided_by || ' ' || second_factor_used FROM runtime.approvals WHERE id = '$R4'")" "plain:u1 true"

script m-t "echo p-2 > $LF_TMP/ran-p2" "Done plain two."
emit plain "$(msg u1 "run another on plain" p6)"
t_ok "another plain request" lf_poll 300 pending "$T"
R5=$PEND
t_ok "  asked" pwait plain "/reject $R5"
emit plain "$(jq -nc --arg t "/reject $R5 not now" '{method: "message", params: {user_id: "u9", user_name: "boss", text: $t, content: {Text: $t}, channel_id: "c-u9", platform: "demo", message_id: "p7"}}')"
t_ok "a trusted user (allowed_users) rejects it" pwait plain "Rejected"
t_ok "  the agent goes on" pwait plain "Done plain two."
t_eq "  rejected by the boss with the reason" \
    "$(lf_psql "SELECT status || ' ' || decided_by || ' ' || reason FROM runtime.approvals WHERE id = '$R5'")" "rejected plain:u9 not now"
emit plain "$(msg u1 "/approve" p8)" "$(msg u1 "/reject $R5" p9)"
t_ok "/approve without an id is answered" pwait plain "no approval id"
t_ok "/reject of a decided one: already decided" pwait plain "already decided"
t_eq "no command ran a turn: the plain agent's provider asked 4 times" "$(lf_fake_requests m-t | jq length)" 4
t_eq "each question was queued once (outbox rows of kind approval)" \
    "$(lf_psql "SELECT count(*) || ' ' || count(DISTINCT idem_key) FROM channels.outbox WHERE kind = 'approval'")" "5 5"
t_eq "  and every one sent" "$(lf_psql "SELECT count(*) FROM channels.outbox WHERE kind = 'approval' AND state <> 'sent'")" 0

# ---- plain: nobody decides ------------------------------------------------------
# u5's messages go to an agent whose requests wait 10 s (the least).
W=$(lf_agent waiter m-w "$CAPS
[approval]
timeout_secs = 10
timeout_fallback = \"deny\"")
lf_req POST /api/bindings '{"agent": "waiter", "channel": "plain", "user_id": "u5"}'
t_eq "u5 on plain is bound to an agent with a 10 s timeout" "$LF_STATUS" 201
script m-w "echo w-1 > $LF_TMP/ran-w1" "Done waiting."
emit plain "$(msg u5 "run it and wait" w1)"
t_ok "its turn pauses" lf_poll 300 pending "$W"
R6=$PEND
t_ok "  asked in u5's chat" pwait plain "/reject $R6"
t_ok "no decision in 10 s: the chat is told it timed out" \
    lf_poll 600 psent plain "Approval $R6 timed out: nobody decided within 10 s, so 'shell_exec' was not run."
t_eq "  in u5's chat" "$(to_of plain "Approval $R6 timed out")" c-u5
t_ok "  and the agent goes on without the tool" pwait plain "Done waiting."
t_ok "  which did not run" test ! -e "$LF_TMP/ran-w1"
t_eq "the news was queued once, after the question" \
    "$(lf_psql "SELECT string_agg(idem_key, ' ' ORDER BY id) FROM channels.outbox WHERE idem_key LIKE 'channels:approval:$R6%'")" \
    "channels:approval:$R6 channels:approval:$R6:timed_out"
t_done
