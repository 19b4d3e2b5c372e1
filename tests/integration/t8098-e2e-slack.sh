#!/usr/bin/env bash
# Slack end to end (issue 13): the channels service runs the real
# channel-slack against tests/channels/slack_server.mjs (Socket Mode and
# the Web API, tests/channels/e2e_peer.py with the server of
# slack_drive.py); alice's DM reaches the bound agent (the fake provider is
# asked it), the agent's answer is posted to her DM channel, once; Slack
# delivering her message again (the same ts) is answered once; the
# adapter's capabilities (reaction, thread) bring reactions on her
# message; GET /api/channels shows the channel running, and
# GET /api/agents/{id}/deliveries lists the replies.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

if [ ! -d "$LF_ROOT/tests/e2e/node_modules/ws" ]; then
	t_ok "ws is installed in tests/e2e (deploy/deps.sh test)" false
	t_done
	exit 1
fi

e2e_peer slack
api=$(jq -r .SLACK_API_BASE "$LF_TMP/slack/env.json")
srv=${api%/api}
# sl_calls METHOD: the Web API calls of METHOD the server saw (JSON).
sl_calls() { curl -s -m 10 "$srv/__calls" | jq -c --arg m "$1" '[.[] | select(.api == $m)]'; }
sl_has() { [ "$(sl_calls "$1" | jq length)" -ge "$2" ]; }
# sl_acked: whether every envelope the server sent was ACKed.
sl_all_acked() {
	curl -s -m 10 "$srv/__ws" | jq -e '([.[] | select(.what == "sent" and .envelope_id != null) | .envelope_id] | unique) - ([.[] | select(.what == "ack") | .envelope_id] | unique) | length == 0' >/dev/null
}

lf_config "$(e2e_channel slack e2e-slack)"
lf_fake_start
export FAKE_API_KEY=sk-fake
lf_stack_start agent-runtime channels
lf_wait_agents
A=$(lf_agent e2e-slack m-slack)
t_ok "the channel is running" chan_wait slack running
lf_req GET /api/channels/slack
t_eq "GET /api/channels/slack: the adapter's pid, no error, its capabilities" \
    "$(jb '.status.pid > 0') $(jb '.status.last_error // "none"') $(jbc '.status.capabilities // []')" \
    'true none ["reaction","thread"]'

e2e_say slack "hello from alice on slack"
t_ok "alice's answer is posted to her DM channel" \
    e2e_wait slack "hello from alice on slack"
t_eq "the agent was asked her message, once" \
    "$(e2e_asked m-slack "hello from alice on slack")" 1
t_eq "the answer is the agent's (the fake provider's echo, her name first)" \
    "$(jq -rs '.[0].text' "$LF_TMP/slack/heard.jsonl")" \
    "echo: [alice]: hello from alice on slack"
t_eq "it went to her DM channel" \
    "$(jq -rs '.[0].channel_id' "$LF_TMP/slack/heard.jsonl")" D0ALICE001
t_ok "the turn showed as reactions on her message (reactions.add)" \
    lf_poll 200 sl_has reactions.add 1
t_eq "the reactions are in her channel, on a message ts, by Slack's names" \
    "$(sl_calls reactions.add | jq -c '[.[].body | [.channel, (.timestamp | test("^[0-9]+\\.[0-9]+$")), (.name | test("^[a-z_+-]+$"))]] | unique')" \
    '[["D0ALICE001",true,true]]'

ts=1796000000.000777
e2e_say slack "said twice by slack" "$ts"
e2e_say slack "said twice by slack" "$ts"
t_ok "a message Slack delivers twice (one ts) is answered" \
    e2e_wait slack "said twice by slack"
sleep 1
t_eq "each answered once, the one delivered twice too" \
    "$(e2e_heard slack "hello from alice") $(e2e_heard slack "said twice by slack")" "1 1"
t_eq "the agent was asked it once" "$(e2e_asked m-slack "said twice by slack")" 1
t_ok "every envelope was ACKed" lf_poll 100 sl_all_acked

chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "GET /api/agents/{id}/deliveries: both replies, on slack, to alice, sent" \
    "$LF_STATUS $(jbc '[.deliveries[] | [.channel, .recipient, .status]] | unique')" \
    '200 [["slack","alice","sent"]]'
t_eq "the inbound messages were committed once each, with Slack's ts as ids" \
    "$(lf_psql "SELECT count(*) || ' ' || count(*) FILTER (WHERE platform_msg_id = '$ts') FROM channels.inbound WHERE channel = 'slack' AND platform_msg_id ~ '^[0-9]+\.[0-9]+$'")" "2 1"
t_done
