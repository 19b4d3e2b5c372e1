#!/usr/bin/env bash
# Agent bindings (services/channels/chan_bind.c): GET/POST /api/bindings
# and DELETE /api/bindings/{index} with the reference's shapes and
# upstream's match_rule, bad bodies 400; and the router: a message a
# binding matches goes to the binding's agent (the most specific binding
# wins), any other to the channel's own agent.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
mkdir -p "$LF_TMP/demo/inbox"
lf_config "
[[sidecar_channels]]
name = \"demo\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"agent-a\"
env = { SIDECAR_DIR = \"$LF_TMP/demo\" }
"

export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
lf_agent agent-a m-a >/dev/null
lf_agent agent-b m-b >/dev/null
lf_agent agent-c m-c >/dev/null
t_ok "the adapter is ready" chan_wait demo running

lf_req GET /api/bindings
t_eq "no bindings at first" "$LF_STATUS $(jbc .)" '200 {"bindings":[],"total":0}'
for b in '[1]' '{}' '{"agent": 7}' '{"agent": ""}' '{"agent": "x", "match_rule": "demo"}' '{"agent": "x", "channel": 5}'; do
	lf_req POST /api/bindings "$b"
	t_eq "POST /api/bindings $b is 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
done
lf_req POST /api/bindings '{"agent": "agent-b", "channel": "demo", "user_id": "u2"}'
t_eq "a binding by channel and user is created" "$LF_STATUS $(jbc .)" '201 {"status":"created"}'
lf_req POST /api/bindings '{"agent": "agent-c", "match_rule": {"channel": "demo", "peer_id": "u2", "thread_id": "t9"}}'
t_eq "upstream's match_rule shape too" "$LF_STATUS" 201
lf_req POST /api/bindings '{"agent": "agent-c", "channel": "elsewhere", "filter": "*"}'
t_eq "a binding by channel alone" "$LF_STATUS" 201
lf_req GET /api/bindings
t_eq "they are listed in order" "$(jbc '[.total, [.bindings[] | .index], [.bindings[] | .agent]]')" '[3,[0,1,2],["agent-b","agent-c","agent-c"]]'
t_eq "with the reference's fields and upstream's match_rule" "$(jbc '.bindings[1] | [.channel, .filter, .match_rule.peer_id, .match_rule.thread_id]')" '["demo","*","u2","t9"]'

# ---- routing ---------------------------------------------------------------------
emit demo "$(msg u1 "to a" b1)"
t_ok "a message no binding matches goes to the channel's agent" send_wait demo "echo: [Alice]: to a" 1
t_eq "(agent-a's provider was asked)" "$(lf_fake_requests m-a | jq length)" 1
emit demo "$(msg u2 "to b" b2)"
t_ok "a message from the bound user is answered" send_wait demo "echo: [Alice]: to b" 1
t_eq "by the bound agent" "$(lf_fake_requests m-b | jq length) $(lf_fake_requests m-a | jq length)" "1 1"
emit demo "$(jq -nc '{method: "message", params: {user_id: "u2", user_name: "Alice", text: "in thread", channel_id: "c-u2", message_id: "b3", thread_id: "t9"}}')"
t_ok "a message in the bound thread is answered" send_wait demo "echo: [Alice]: in thread" 1
t_eq "by the most specific binding's agent" "$(lf_fake_requests m-c | jq length) $(lf_fake_requests m-b | jq length)" "1 1"

# ---- removal -----------------------------------------------------------------------
lf_req DELETE /api/bindings/0
t_eq "DELETE /api/bindings/0" "$LF_STATUS $(jbc .)" '200 {"status":"removed"}'
lf_req DELETE /api/bindings/5
t_eq "an index past the end is 404" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"
lf_req DELETE /api/bindings/x
t_eq "an index that is no number is 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
lf_req GET /api/bindings
t_eq "the others remain, renumbered" "$(jbc '[.bindings[] | [.index, .agent, .channel]]')" '[[0,"agent-c","demo"],[1,"agent-c","elsewhere"]]'
emit demo "$(msg u2 "back to a" b4)"
t_ok "the user's next message is answered" send_wait demo "echo: [Alice]: back to a" 1
t_eq "by the channel's agent again" "$(lf_fake_requests m-a | jq length) $(lf_fake_requests m-b | jq length)" "2 1"

t_done
