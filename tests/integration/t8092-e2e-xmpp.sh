#!/usr/bin/env bash
# XMPP end to end (issue 13, item 5): the channels service runs the real
# channel-xmpp against a real prosody (tests/channels/e2e_peer.py, the
# server setup and slixmpp user of xmpp_drive.py); alice's chat to
# fang@localhost reaches the bound agent, the agent's answer comes back to
# her as a chat from the bot, once; GET /api/channels shows the channel
# running with the typing capability, and GET /api/agents/{id}/deliveries
# lists the reply.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

if [ ! -x /usr/bin/prosody ] || ! /usr/bin/python3 -c 'import slixmpp' \
    2>/dev/null; then
	t_ok "prosody and python3-slixmpp are installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

e2e_peer xmpp
lf_config "$(e2e_channel xmpp e2e-xmpp)"
export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
A=$(lf_agent e2e-xmpp m-xmpp)
t_ok "the channel is running" chan_wait xmpp running
lf_req GET /api/channels
t_eq "GET /api/channels: xmpp running, the typing capability" \
    "$(jbc '.channels[] | select(.name == "xmpp") | [.status.state, .status.capabilities]')" \
    '["running",["typing"]]'

e2e_say xmpp "hello over xmpp" x-1
t_ok "alice's answer arrives as a chat from the bot" \
    e2e_wait xmpp "hello over xmpp"
t_eq "the agent was asked her message, once" \
    "$(e2e_asked m-xmpp "hello over xmpp")" 1
t_eq "the reply is the agent's answer" \
    "$(jq -rs '.[0].text' "$LF_TMP/xmpp/heard.jsonl")" \
    "echo: [alice]: hello over xmpp"

e2e_say xmpp "a second chat" x-2
t_ok "a second chat is answered" e2e_wait xmpp "a second chat"
t_eq "each answered once" \
    "$(e2e_heard xmpp "hello over xmpp") $(e2e_heard xmpp "a second chat")" "1 1"
t_eq "committed under the stanza ids, from her bare JID" \
    "$(lf_psql "SELECT string_agg(platform_msg_id || ' ' || user_id, ',' ORDER BY id) FROM channels.inbound WHERE channel = 'xmpp'")" \
    "x-1 alice@localhost,x-2 alice@localhost"

chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "GET /api/agents/{id}/deliveries: both replies, on xmpp, to her JID, sent" \
    "$LF_STATUS $(jb .total) $(jbc '[.deliveries[] | [.channel, .channel_id, .status]] | unique')" \
    '200 2 [["xmpp","alice@localhost","sent"]]'
t_done
