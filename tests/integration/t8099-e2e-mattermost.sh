#!/usr/bin/env bash
# Mattermost end to end (issue 13): the channels service runs the real
# channel-mattermost against tests/channels/mattermost_server.mjs (the
# WebSocket and REST API v4, tests/channels/e2e_peer.py with the server of
# mattermost_drive.py); alice's DM reaches the bound agent (the fake
# provider is asked it), the agent's answer is posted to her DM channel,
# once; the adapter's capabilities (typing, reaction, thread) bring a
# user_typing action and reactions (by Mattermost's emoji names) on her
# post; GET /api/channels shows the channel running, and
# GET /api/agents/{id}/deliveries lists the replies.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

if [ ! -d "$LF_ROOT/tests/e2e/node_modules/ws" ]; then
	t_ok "ws is installed in tests/e2e (deploy/deps.sh test)" false
	t_done
	exit 1
fi

e2e_peer mattermost
srv=$(jq -r .MATTERMOST_SERVER_URL "$LF_TMP/mattermost/env.json")
dm=dmdmdmdmdmdmdmdmdmdmdmdm01	# alice's DM channel (mattermost_drive.py)
# mm_calls METHOD PATH: the REST calls of METHOD to PATH (under /api/v4)
# that the server saw (JSON); mm_actions ACTION: the WebSocket actions.
mm_calls() { curl -s -m 10 "$srv/__calls" | jq -c --arg m "$1" --arg p "$2" '[.[] | select(.method == $m and .path == $p)]'; }
mm_has() { [ "$(mm_calls "$1" "$2" | jq length)" -ge "$3" ]; }
mm_actions() { curl -s -m 10 "$srv/__ws" | jq -c --arg a "$1" '[.[] | select(.what == "action" and .action == $a)]'; }
mm_typed() { [ "$(mm_actions user_typing | jq length)" -ge 1 ]; }

lf_config "$(e2e_channel mattermost e2e-mattermost)"
lf_fake_start
export FAKE_API_KEY=sk-fake
lf_stack_start agent-runtime channels
lf_wait_agents
A=$(lf_agent e2e-mattermost m-mattermost)
t_ok "the channel is running" chan_wait mattermost running
lf_req GET /api/channels/mattermost
t_eq "GET /api/channels/mattermost: the adapter's pid, no error, its capabilities" \
    "$(jb '.status.pid > 0') $(jb '.status.last_error // "none"') $(jbc '.status.capabilities // []')" \
    'true none ["typing","reaction","thread"]'

e2e_say mattermost "hello from alice on mattermost"
t_ok "alice's answer is posted to her DM channel" \
    e2e_wait mattermost "hello from alice on mattermost"
t_eq "the agent was asked her message, once" \
    "$(e2e_asked m-mattermost "hello from alice on mattermost")" 1
t_eq "the answer is the agent's (the fake provider's echo, her name first)" \
    "$(jq -rs '.[0].text' "$LF_TMP/mattermost/heard.jsonl")" \
    "echo: [alice]: hello from alice on mattermost"
t_eq "it went to her DM channel, not into a thread" \
    "$(jq -rs '.[0] | [.channel_id, .root_id] | tostring' "$LF_TMP/mattermost/heard.jsonl")" \
    "[\"$dm\",null]"
t_ok "the turn showed as typing (the user_typing action in her channel)" \
    lf_poll 200 mm_typed
t_eq "the typing was in her DM channel" \
    "$(mm_actions user_typing | jq -c '[.[].data.channel_id] | unique')" "[\"$dm\"]"
t_ok "and as reactions on her post (POST /api/v4/reactions)" \
    lf_poll 200 mm_has POST /reactions 1
t_eq "the reactions are the bot's, on a post, by Mattermost's emoji names" \
    "$(mm_calls POST /reactions | jq -c '[.[].body | fromjson | [(.user_id | length), (.post_id | test("^[a-z0-9]{26}$")), (.emoji_name | test("^[a-z0-9_+-]+$"))]] | unique')" \
    '[[26,true,true]]'

e2e_say mattermost "and a second one"
t_ok "a second message is answered" e2e_wait mattermost "and a second one"
t_eq "each answered once" \
    "$(e2e_heard mattermost "hello from alice") $(e2e_heard mattermost "a second one")" "1 1"

chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "GET /api/agents/{id}/deliveries: both replies, on mattermost, to alice, sent" \
    "$LF_STATUS $(jbc '[.deliveries[] | [.channel, .recipient, .status]] | unique')" \
    '200 [["mattermost","alice","sent"]]'
t_eq "the inbound messages were committed with Mattermost's post ids" \
    "$(lf_psql "SELECT count(*) FROM channels.inbound WHERE channel = 'mattermost' AND platform_msg_id ~ '^[a-z0-9]{26}$'")" 2
t_done
