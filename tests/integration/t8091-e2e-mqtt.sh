#!/usr/bin/env bash
# MQTT end to end (issue 13, item 5): the channels service runs the real
# channel-mqtt against a real mosquitto (tests/channels/e2e_peer.py, the
# broker setup and mosquitto_pub/_sub of mqtt_drive.py); alice's message
# on librefang/in/alice reaches the bound agent, the agent's answer is
# published on librefang/out/alice at QoS 1, once; plain text and JSON
# with a message id; GET /api/channels shows the channel running, and
# GET /api/agents/{id}/deliveries lists the replies.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

if [ ! -x /usr/sbin/mosquitto ] || ! command -v mosquitto_pub >/dev/null 2>&1; then
	t_ok "mosquitto and mosquitto-clients are installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

e2e_peer mqtt
lf_config "$(e2e_channel mqtt e2e-mqtt)"
export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
A=$(lf_agent e2e-mqtt m-mqtt)
t_ok "the channel is running" chan_wait mqtt running
lf_req GET /api/channels
t_eq "GET /api/channels: mqtt running, the thread capability" \
    "$(jbc '.channels[] | select(.name == "mqtt") | [.status.state, .status.capabilities]')" \
    '["running",["thread"]]'

e2e_say mqtt "hello over mqtt"
t_ok "alice's answer is published on librefang/out/alice" \
    e2e_wait mqtt "hello over mqtt"
t_eq "the agent was asked her message, once" \
    "$(e2e_asked m-mqtt "hello over mqtt")" 1
t_eq "the reply: the agent's answer, at QoS 1, on her topic" \
    "$(jq -sc '.[0] | [.text, .qos, .topic]' "$LF_TMP/mqtt/heard.jsonl")" \
    '["echo: [alice]: hello over mqtt",1,"librefang/out/alice"]'

e2e_say mqtt "json with an id" m-1
t_ok "a JSON message with a message id is answered" \
    e2e_wait mqtt "json with an id"
t_eq "its platform message id was committed" \
    "$(lf_psql "SELECT count(*) FROM channels.inbound WHERE channel = 'mqtt' AND platform_msg_id = 'm-1'")" 1
t_eq "each answered once" \
    "$(e2e_heard mqtt "hello over mqtt") $(e2e_heard mqtt "json with an id")" "1 1"

chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "GET /api/agents/{id}/deliveries: both replies, on mqtt, sent" \
    "$LF_STATUS $(jb .total) $(jbc '[.deliveries[] | [.channel, .channel_id, .status]] | unique')" \
    '200 2 [["mqtt","alice","sent"]]'
t_eq "the second answers m-1" "$(jb '.deliveries[0].in_reply_to')" m-1
t_done
