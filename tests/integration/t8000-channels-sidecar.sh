#!/usr/bin/env bash
# The channels service supervises sidecar adapters (protocols.md §1.3)
# through the real stack: tests/channels/sidecar.py, an adapter written
# from the protocol text alone, on two channels, and a program that
# crashes at once on a third.  A message in -> the agent's (fake
# provider's) answer out as one send; the same platform message id twice
# -> one turn, one send; an adapter killed with -9 mid-turn -> restarted,
# the reply delivered once; garbage and a hung adapter -> restarted, the
# other channel untouched; a crash loop -> circuit open in GET
# /api/channels; a SIGTERM'd service -> the adapter got shutdown then EOF.
. "$(dirname "$0")/../lib.sh"

. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
mkdir -p "$LF_TMP/demo/inbox" "$LF_TMP/other/inbox"
lf_config "
[[sidecar_channels]]
name = \"demo\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"chan-agent\"
restart_initial_backoff_ms = 100
restart_max_backoff_ms = 400
heartbeat_timeout_secs = 6
env = { SIDECAR_DIR = \"$LF_TMP/demo\", SIDECAR_HEARTBEAT = \"1\", DEMO_TOKEN = \"s3cret-value\" }

[[sidecar_channels]]
name = \"other\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"chan-agent\"
env = { SIDECAR_DIR = \"$LF_TMP/other\", SIDECAR_CAPS = \"typing,thread,reaction\" }

[[sidecar_channels]]
name = \"loop\"
command = \"false\"
restart_initial_backoff_ms = 50
restart_max_backoff_ms = 100
restart_max_retries = 3
"

export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
A=$(lf_agent chan-agent m-chan)


t_ok "demo's adapter is ready" chan_wait demo running
t_ok "other's adapter is ready" chan_wait other running
lf_req GET /api/channels/demo
t_eq "GET /api/channels/demo: type, agent, has_token" "$(jbc '[.channel_type, .agent, .has_token, .adapter_installed]')" '["demo","chan-agent",true,true]'
t_ok "the secret itself is shown nowhere" sh -c "! printf '%s' '$LF_BODY' | grep -q s3cret-value"
t_eq "the ready's capabilities are recorded" "$(jbc .status.capabilities)" '[]'
lf_req GET /api/channels/other
t_eq "other's capabilities" "$(jbc .status.capabilities)" '["typing","thread","reaction"]'
lf_req GET /api/channels/nope
t_eq "an unknown channel is 404" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"
lf_req GET /api/channels
t_eq "GET /api/channels: the reference's 44 adapters, then the 3 custom channels" "$(jbc '[.total, (.channels | length), ([.channels[] | select(.configured)] | length)]')" '[47,47,3]'
t_eq "each adapter with its fields, secrets typed so" "$(jbc '.channels[] | select(.name == "telegram") | [.display_name, .configured, .has_token, .fields[0]]')" '["Telegram",false,false,{"key":"TELEGRAM_BOT_TOKEN","label":"TELEGRAM_BOT_TOKEN","type":"secret","required":true}]'
t_eq "and whether its program is here" "$(jbc '[.channels[] | select(.configured | not) | .adapter_installed | type] | unique')" '["boolean"]'
lf_req GET /api/channels/matrix
t_eq "GET /api/channels/{name} of an unconfigured adapter" "$LF_STATUS $(jbc '[.name, .configured, .status]')" '200 ["matrix",false,null]'
t_ok "the adapter's stderr is in our log" grep -q "channel 'demo': sidecar: started pid" "$LF_TMP/log/channels.log"
# acks PID: how many ready_ack frames demo's adapter PID got.
acks() { jq -s --argjson p "$1" '[.[] | select(.pid == $p and .frame.method == "ready_ack")] | length' "$LF_TMP/demo/received.jsonl"; }
D1=$(pidof_ch demo)
t_eq "each ready was acknowledged once" "$(acks "$D1")" 1

# ---- repeated ready, QR login events ----------------------------------------------
emit demo '{"method":"ready","params":{"capabilities":["typing"]}}'
caps_typing() { lf_req GET /api/channels/demo; [ "$(jbc .status.capabilities)" = '["typing"]' ]; }
t_ok "a second ready replaces the capabilities" lf_poll 100 caps_typing
t_eq "and is acknowledged too" "$(acks "$D1")" 2
emit demo '{"method":"ready","params":{"capabilities":[]}}'
caps_none() { lf_req GET /api/channels/demo; [ "$(jbc .status.capabilities)" = '[]' ]; }
t_ok "(and back)" lf_poll 100 caps_none
lf_req GET /api/channels/demo/qr
t_eq "no QR code yet: 404" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"
emit demo '{"method":"qr_ready","params":{"qr_code":"wxp://abc","qr_url":"https://login.example/qr","expires_at":"2026-05-28T20:00:00Z"}}'
qr_is() { lf_req GET /api/channels/demo/qr; [ "$LF_STATUS" = 200 ] && [ "$(jb "$1")" = "$2" ]; }
t_ok "qr_ready is cached for GET /api/channels/{name}/qr" lf_poll 100 qr_is .qr_code wxp://abc
emit demo '{"method":"qr_status","params":{"status":"confirmed","message":"Login confirmed"}}'
t_ok "qr_status merges over it" lf_poll 100 qr_is .status confirmed
t_eq "keeping the code" "$(jbc '[.channel, .qr_code, .qr_url, .message]')" '["demo","wxp://abc","https://login.example/qr","Login confirmed"]'

# ---- a message in, the answer out -------------------------------------------------
emit demo "$(msg u1 hello m1)"
t_ok "the agent's answer is sent back" send_wait demo "echo: [Alice]: hello" 1
R=$(jq -sc '[.[] | select(.frame.method == "send")][0].frame' "$LF_TMP/demo/received.jsonl")
t_eq "as §1.3's send frame" "$R" '{"method":"send","params":{"channel_id":"c-u1","text":"echo: [Alice]: hello","user":{"platform_id":"c-u1","display_name":"Alice","librefang_user":null}}}'
t_eq "the message is stored once" "$(lf_psql "SELECT count(*) || ' ' || min(state) FROM channels.inbound WHERE platform_msg_id = 'm1'")" "1 done"
# Marked sent once the frame is wholly written: just after the adapter may
# have read it.
out_state() { [ "$(lf_psql "SELECT o.state FROM channels.outbox o JOIN channels.inbound i ON i.id = o.inbound_id WHERE i.platform_msg_id = '$1'")" = "$2" ]; }
t_ok "the outbox row is marked sent" lf_poll 100 out_state m1 sent

# ---- the same platform message twice: one turn, one send --------------------------
emit demo "$(msg u1 hello m1)" "$(msg u1 again m2)"
t_ok "the next message's answer is sent" send_wait demo "echo: [Alice]: again" 1
t_eq "the repeated message id ran no second turn" "$(lf_fake_requests m-chan | jq length)" 2
t_eq "and was not answered twice" "$(sends demo "echo: [Alice]: hello")" 1
t_ok "the repeat is logged" grep -q "message 'm1' seen before" "$LF_TMP/log/channels.log"

# ---- unknown methods and a little garbage are ignored ------------------------------
emit demo '{"method":"future_event","params":{"x":1}}' 'not json at all' '{"method":"typing","params":{"user_id":"u1","user_name":"Alice","is_typing":true}}' "$(msg u1 still m3)"
t_ok "an adapter writing an unknown method and a bad line still works" send_wait demo "echo: [Alice]: still" 1
t_ok "the bad line is logged" grep -q "adapter wrote a line that is no frame" "$LF_TMP/log/channels.log"

# ---- kill -9 of the adapter mid-turn ----------------------------------------------
P1=$(pidof_ch demo)
OTHER=$(pidof_ch other)
lf_fake_script '{"model": "m-chan", "steps": [{"text": "slow reply", "delay_ms": 2500}]}'
emit demo "$(msg u2 slow m4)"
t_ok "the turn started" lf_fake_wait m-chan 4
kill -9 "$P1"
t_ok "the reply is delivered after the adapter's restart" send_wait demo "slow reply" 1
t_ok "by another process" test "$(jq -s '[.[] | select(.frame.params.text == "slow reply")][0].pid' "$LF_TMP/demo/received.jsonl")" != "$P1"
t_eq "once" "$(sends demo "slow reply")" 1
t_eq "after one turn" "$(lf_fake_requests m-chan | jq length)" 4
lf_req GET /api/channels/demo
t_ok "the restart is counted ($(jbc .status.restarts))" test "$(jb .status.restarts)" -ge 1
t_ok "with why ($(jb .status.last_error))" grep -q "signal 9" <<<"$(jb .status.last_error)"

# ---- garbage flood -> restarted ---------------------------------------------------
P2=$(pidof_ch demo)
ctl demo flood
is_new_pid() { [ -n "$(pidof_ch demo)" ] && [ "$(pidof_ch demo)" != "$1" ] && chan_is demo running; }
t_ok "a flood of garbage restarts the adapter" lf_poll 300 is_new_pid "$P2"
t_ok "saying why" grep -q "floods garbage" "$LF_TMP/log/channels.log"

# ---- a hung adapter -> restarted --------------------------------------------------
P3=$(pidof_ch demo)
ctl demo hang
t_ok "a hung adapter (no frame, no heartbeat answer) is restarted" lf_poll 300 is_new_pid "$P3"
t_ok "saying why" grep -q "not even after a heartbeat" "$LF_TMP/log/channels.log"
emit demo "$(msg u3 after m5)"
t_ok "the restarted adapter carries messages" send_wait demo "echo: [Alice]: after" 1
t_eq "the other channel's adapter was never restarted" "$(pidof_ch other)" "$OTHER"
emit other "$(msg u9 "from other" o1)"
t_ok "and works" send_wait other "echo: [Alice]: from other" 1

# ---- capabilities: typing, reactions, threads ------------------------------------------
# frames CH METHOD: CH's adapters' frames of METHOD, compact, one a line.
frames() { jq -c --arg m "$2" 'select(.frame.method == $m) | .frame' "$LF_TMP/$1/received.jsonl"; }
t_eq "an adapter that declared typing is told while the turn runs" "$(frames other typing)" '{"method":"typing","params":{"channel_id":"c-u9"}}'
has_done() { frames other reaction | grep -q '"phase":"done"'; }
t_ok "one that declared reaction gets the lifecycle" lf_poll 100 has_done
t_eq "on the platform's message: queued, thinking, then done" "$(frames other reaction | jq -c '[.params.channel_id, .params.message_id, .params.phase]' | tr -d '\n')" '["c-u9","o1","queued"]["c-u9","o1","thinking"]["c-u9","o1","done"]'
t_eq "one that declared neither gets neither" "$(frames demo typing; frames demo reaction)" ""
emit other "$(jq -nc '{method: "message", params: {user_id: "u9", user_name: "Alice", text: "threaded", channel_id: "c-u9", message_id: "o2", thread_id: "th1"}}')"
t_ok "a threaded message is answered" send_wait other "echo: [Alice]: threaded" 1
t_eq "in its thread, to an adapter that declared thread" "$(frames other send | jq -r 'select(.params.text == "echo: [Alice]: threaded") | .params.thread_id')" th1

# ---- a crash loop opens the circuit -----------------------------------------------
t_ok "a program that exits at once ends with its circuit open" chan_wait loop circuit_open
lf_req GET /api/channels/loop
t_eq "after restart_max_retries failures" "$(jb .status.restarts)" 3
t_ok "the last error is shown ($(jb .status.last_error))" grep -q "exited with status 1" <<<"$(jb .status.last_error)"

# ---- deliveries --------------------------------------------------------------------
chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "GET /api/agents/{id}/deliveries lists every reply" "$LF_STATUS $(jb .total)" "200 7"
t_eq "newest first, sent" "$(jbc '[.deliveries[0] | .channel, .message, .status, .in_reply_to, .thread_id]')" '["other","echo: [Alice]: threaded","sent","o2","th1"]'
lf_req GET "/api/agents/not-a-uuid/deliveries"
t_eq "a bad agent id is 400" "$LF_STATUS" 400

# ---- a clean stop: shutdown, then EOF ----------------------------------------------
P4=$(pidof_ch demo)
kill -TERM "${LF_PIDS[channels]}"
lf_wait channels 30
t_eq "the service exits 0 on SIGTERM" "${LF_EXIT:-?}" 0
t_eq "its adapter got shutdown" "$(jq -sc --argjson p "$P4" '[.[] | select(.pid == $p and .frame.method == "shutdown")] | length' "$LF_TMP/demo/received.jsonl")" 1
t_ok "and is gone" sh -c "! kill -0 $P4 2>/dev/null"
t_eq "its lease is given up" "$(lf_psql "SELECT count(*) FROM channels.channel_leases")" 0

t_done
