#!/usr/bin/env bash
# Nothing lost, nothing twice with a real adapter and a real platform
# (issue 13, item 2; services/channels/README.md, "Durability"): the
# channels service runs channel-mqtt against mosquitto (the adapter's
# session is persistent: a QoS 1 message it did not acknowledge is sent
# again when it reconnects), alice publishes JSON messages with a
# message id (tests/channels/e2e_peer.py):
#   A. kill -9 of the adapter right after she published: the service
#      restarts it, her message is answered once;
#   B. kill -9 of the channels service while the turn runs: after the
#      restart (the lease expires, the adapter is started again) the
#      turn is asked again under its key, answered from agent-runtime's
#      record -- one provider call, one reply on the platform;
#   C. the same platform message published twice (a QoS 1 duplicate with
#      the same message_id): one turn, one reply.
# A last message, answered, shows that nothing else was still on its way.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

if [ ! -x /usr/sbin/mosquitto ] || ! command -v mosquitto_pub >/dev/null 2>&1; then
	t_ok "mosquitto and mosquitto-clients are installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

e2e_peer mqtt
lf_config "$(e2e_channel mqtt e2e-dur "restart_initial_backoff_ms = 200")"
export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
A=$(lf_agent e2e-dur m-dur)
t_ok "the channel is running" chan_wait mqtt running

chan_pid() {
	lf_req GET /api/channels/mqtt
	jb .status.pid
}
said() { [ -f "$LF_TMP/mqtt/say/$(printf %04d "$1").done" ]; }

# ---- A: kill -9 of the adapter right after the message is published --------
e2e_say mqtt "question A" mA
t_ok "A: alice published her message" lf_poll 200 said $E2E_N
old=$(chan_pid)
kill -KILL "$old"
new_pid() { p=$(chan_pid); [ -n "$p" ] && [ "$p" != null ] && [ "$p" != "$old" ]; }
t_ok "A: the service started another adapter" lf_poll 300 new_pid
t_ok "A: the channel is running again" chan_wait mqtt running
t_ok "A: her message is answered" e2e_wait mqtt "question A"
lf_req GET /api/channels/mqtt
t_eq "A: the restart is counted, the kill is the last error" \
    "$(jb '.status.restarts >= 1') $(jb '.status.last_error | contains("killed by signal 9")')" "true true"

# ---- B: kill -9 of the channels service while the turn runs -----------------
lf_fake_script '{"model": "m-dur", "steps": [{"text": "reply B", "delay_ms": 2000}]}'
n=$(lf_fake_requests m-dur | jq length)
e2e_say mqtt "question B" mB
t_ok "B: the turn started" lf_fake_wait m-dur $((n + 1))
t_eq "B: the message was committed first" \
    "$(lf_psql "SELECT count(*) FROM channels.inbound WHERE platform_msg_id = 'mB'")" 1
ad=$(chan_pid)
lf_stop channels KILL
gone() { ! kill -0 "$1" 2>/dev/null; }
t_ok "B: the adapter died with the service" lf_poll 100 gone "$ad"
lf_start channels
# The old lease expires in 10 s: then the adapter is started again.
t_ok "B: after the restart the answer is published" \
    lf_poll 600 e2e_has_heard mqtt "reply B" 1
t_eq "B: from one provider call" "$(e2e_asked m-dur "question B")" 1

# ---- C: the same platform message twice ----------------------------------
e2e_say mqtt "question C" mC
e2e_say mqtt "question C" mC
t_ok "C: answered" e2e_wait mqtt "question C"

# ---- nothing else on its way --------------------------------------------
e2e_say mqtt "last question" mZ
t_ok "a last message is answered" e2e_wait mqtt "last question"
t_eq "A, B, C: each answered once on the platform" \
    "$(e2e_heard mqtt "question A") $(e2e_heard mqtt "reply B") $(e2e_heard mqtt "question C")" \
    "1 1 1"
t_eq "C: the duplicate is one committed message, one turn" \
    "$(lf_psql "SELECT count(*) FROM channels.inbound WHERE platform_msg_id = 'mC'") $(e2e_asked m-dur "question C")" \
    "1 1"
t_eq "A: one turn" "$(e2e_asked m-dur "question A")" 1
# Ours: a channel-mqtt at this test's broker (other scripts may run one).
ours() {
	local p n=0 port
	port=$(jq -r .MQTT_PORT "$LF_TMP/mqtt/env.json")
	for p in $(pgrep -x channel-mqtt); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
		    grep -qx "MQTT_PORT=$port" && n=$((n + 1))
	done
	echo $n
}
t_eq "one adapter process runs" "$(ours)" 1
chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "every reply is one delivery, sent" \
    "$(jbc '[.deliveries[] | [.in_reply_to, .status]] | sort')" \
    '[["mA","sent"],["mB","sent"],["mC","sent"],["mZ","sent"]]'
t_done
