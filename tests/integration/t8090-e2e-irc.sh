#!/usr/bin/env bash
# IRC end to end (issue 13, item 5): the channels service runs the real
# channel-irc against a real ngircd (tests/channels/e2e_peer.py, the
# server setup and IRC user of irc_drive.py); alice's private message
# reaches the bound agent (the fake provider is asked it), the agent's
# answer comes back to alice as a private message from the bot, once;
# GET /api/channels shows the channel running, and
# GET /api/agents/{id}/deliveries lists the reply.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

if [ ! -x /usr/sbin/ngircd ]; then
	t_ok "ngircd is installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

e2e_peer irc
lf_config "$(e2e_channel irc e2e-irc)"
export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
A=$(lf_agent e2e-irc m-irc)
t_ok "the channel is running" chan_wait irc running
lf_req GET /api/channels/irc
t_eq "GET /api/channels/irc: the adapter's pid, no error" \
    "$(jb '.status.pid > 0') $(jb '.status.last_error // "none"')" "true none"

e2e_say irc "hello from alice on irc"
t_ok "alice's answer arrives on IRC" e2e_wait irc "hello from alice on irc"
t_eq "the agent was asked her message, once" \
    "$(e2e_asked m-irc "hello from alice on irc")" 1
t_eq "the answer is the agent's (the fake provider's echo, her name first)" \
    "$(jq -rs '.[0].text' "$LF_TMP/irc/heard.jsonl")" \
    "echo: [alice]: hello from alice on irc"

# A second message, then the first is checked not answered again.
e2e_say irc "and a second one"
t_ok "a second message is answered" e2e_wait irc "and a second one"
t_eq "each answered once" \
    "$(e2e_heard irc "hello from alice") $(e2e_heard irc "a second one")" "1 1"

chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "GET /api/agents/{id}/deliveries: both replies, on irc, to alice, sent" \
    "$LF_STATUS $(jbc '[.deliveries[] | [.channel, .recipient, .status]] | unique')" \
    '200 [["irc","alice","sent"]]'
t_eq "newest first" "$(jb '.deliveries[0].message')" \
    "echo: [alice]: and a second one"
t_eq "the inbound messages were committed with the user's nick" \
    "$(lf_psql "SELECT string_agg(DISTINCT user_id, ',') FROM channels.inbound WHERE channel = 'irc'")" alice
t_done
