#!/usr/bin/env bash
# Discord end to end (issue 13): the channels service runs the real
# channel-discord against tests/channels/discord_server.mjs (the Gateway
# v10 and REST, tests/channels/e2e_peer.py with the server of
# discord_drive.py); alice's DM reaches the bound agent (the fake provider
# is asked it), the agent's answer is posted to her DM channel, once; the
# adapter's capabilities (typing, reaction) bring a typing call and
# reactions on her message; GET /api/channels shows the channel running,
# and GET /api/agents/{id}/deliveries lists the replies.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

if [ ! -d "$LF_ROOT/tests/e2e/node_modules/ws" ]; then
	t_ok "ws is installed in tests/e2e (deploy/deps.sh test)" false
	t_done
	exit 1
fi

e2e_peer discord
api=$(jq -r .DISCORD_API_BASE "$LF_TMP/discord/env.json")
srv=${api%/api/v10}
# dc_calls METHOD SUFFIX: the REST calls of METHOD whose path ends in
# SUFFIX that the server saw (JSON).
dc_calls() { curl -s -m 10 "$srv/__calls" | jq -c --arg m "$1" --arg s "$2" '[.[] | select(.method == $m and (.path | endswith($s)))]'; }
dc_has() { [ "$(dc_calls "$1" "$2" | jq length)" -ge "$3" ]; }

lf_config "$(e2e_channel discord e2e-discord)"
lf_fake_start
export FAKE_API_KEY=sk-fake
lf_stack_start agent-runtime channels
lf_wait_agents
A=$(lf_agent e2e-discord m-discord)
t_ok "the channel is running" chan_wait discord running
lf_req GET /api/channels/discord
t_eq "GET /api/channels/discord: the adapter's pid, no error, its capabilities" \
    "$(jb '.status.pid > 0') $(jb '.status.last_error // "none"') $(jbc '.status.capabilities // []')" \
    'true none ["typing","reaction"]'

e2e_say discord "hello from alice on discord"
t_ok "alice's answer is posted to her DM channel" \
    e2e_wait discord "hello from alice on discord"
t_eq "the agent was asked her message, once" \
    "$(e2e_asked m-discord "hello from alice on discord")" 1
t_eq "the answer is the agent's (the fake provider's echo, her name first)" \
    "$(jq -rs '.[0].text' "$LF_TMP/discord/heard.jsonl")" \
    "echo: [alice]: hello from alice on discord"
t_eq "it went to her DM channel" \
    "$(jq -rs '.[0].channel_id' "$LF_TMP/discord/heard.jsonl")" 200
t_ok "the turn showed as typing (POST /channels/200/typing)" \
    lf_poll 200 dc_has POST /channels/200/typing 1
t_ok "and as reactions on her message (PUT .../reactions/{emoji}/@me)" \
    lf_poll 200 dc_has PUT /@me 1
t_eq "the reactions are on her message in her channel" \
    "$(dc_calls PUT /@me | jq -c '[.[].path | split("/") | .[1:5] | .[0] + "/" + .[1] + "/" + .[2] + "/" + (.[3] | test("^[0-9]+$") | tostring)] | unique')" \
    '["channels/200/messages/true"]'

e2e_say discord "and a second one"
t_ok "a second message is answered" e2e_wait discord "and a second one"
t_eq "each answered once" \
    "$(e2e_heard discord "hello from alice") $(e2e_heard discord "a second one")" "1 1"

chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "GET /api/agents/{id}/deliveries: both replies, on discord, to alice, sent" \
    "$LF_STATUS $(jbc '[.deliveries[] | [.channel, .recipient, .status]] | unique')" \
    '200 [["discord","alice","sent"]]'
t_eq "the inbound messages were committed with Discord's message ids" \
    "$(lf_psql "SELECT count(*) FROM channels.inbound WHERE channel = 'discord' AND platform_msg_id ~ '^[0-9]+$'")" 2
t_done
