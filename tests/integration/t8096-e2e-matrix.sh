#!/usr/bin/env bash
# Matrix end to end (issue 13): the channels service runs the real
# channel-matrix against tests/channels/matrix_server.py (a homeserver of
# the client-server API v3; tests/channels/e2e_peer.py with the server of
# matrix_drive.py); alice's message in her direct room with the bot
# reaches the bound agent (the fake provider is asked it), the agent's
# answer comes back to her room, once; the adapter's capabilities
# (typing, reaction) bring a typing notice and m.reaction events on her
# message, each phase's redacting the one before; GET /api/channels shows the channel running, and
# GET /api/agents/{id}/deliveries lists the reply.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

e2e_peer matrix
hs=$(jq -r .MATRIX_HOMESERVER_URL "$LF_TMP/matrix/env.json")
# mx_calls ENDPOINT: the client-server calls to ENDPOINT the homeserver
# answered 200 (JSON); mx_sent TYPE: the events of TYPE the bot sent.
mx_calls() { curl -s -m 10 "$hs/__calls" | jq -c --arg e "$1" '[.[] | select(.endpoint == $e and .status == 200)]'; }
mx_sent() { curl -s -m 10 "$hs/__sent" | jq -c --arg t "$1" '[.[] | select(.type == $t)]'; }
mx_has() { [ "$(mx_calls "$1" | jq length)" -ge "$2" ]; }
mx_has_sent() { [ "$(mx_sent "$1" | jq length)" -ge "$2" ]; }
# mx_one_left: every reaction of the bot but the last on each message is
# redacted (a phase's reaction replaces the one before).
mx_one_left() {
	local r d
	r=$(mx_sent m.reaction | jq -c '[.[] | {e: .event_id, on: .content."m.relates_to".event_id}]')
	d=$(mx_sent m.room.redaction | jq -c '[.[].content.redacts]')
	[ "$(jq -n --argjson r "$r" --argjson d "$d" \
	    '[$r[] | select(.e as $e | $d | index($e) | not)] | group_by(.on) | map(length) | all(. == 1) and length >= 1')" = true ]
}

lf_config "$(e2e_channel matrix e2e-matrix)"
lf_fake_start
export FAKE_API_KEY=sk-fake
lf_stack_start agent-runtime channels
lf_wait_agents
A=$(lf_agent e2e-matrix m-matrix)
t_ok "the channel is running" chan_wait matrix running
lf_req GET /api/channels/matrix
t_eq "GET /api/channels/matrix: the adapter's pid, no error, its capabilities" \
    "$(jb '.status.pid > 0') $(jb '.status.last_error // "none"') $(jbc '.status.capabilities // []')" \
    'true none ["typing","reaction","thread"]'
t_ok "the adapter synced (whoami, then /sync long polls)" \
    lf_poll 200 mx_has sync 2

e2e_say matrix "hello from alice on matrix"
t_ok "alice's answer arrives in her Matrix room" \
    e2e_wait matrix "hello from alice on matrix"
t_eq "the agent was asked her message, once" \
    "$(e2e_asked m-matrix "hello from alice on matrix")" 1
t_eq "the answer is the agent's (the fake provider's echo, her name first)" \
    "$(jq -rs '.[0].text' "$LF_TMP/matrix/heard.jsonl")" \
    "echo: [alice]: hello from alice on matrix"
t_eq "it went to her room" \
    "$(jq -rs '.[0].room_id' "$LF_TMP/matrix/heard.jsonl")" '!dm:localhost'
t_ok "the turn showed as typing (PUT .../typing/{userId})" \
    lf_poll 200 mx_has typing 1
t_ok "and as reactions on her message (m.reaction events)" \
    lf_poll 200 mx_has_sent m.reaction 2
t_eq "the reactions are m.annotation relations to her message's event id" \
    "$(mx_sent m.reaction | jq -c '[.[].content."m.relates_to" | [.rel_type, (.event_id | startswith("$"))]] | unique')" \
    '[["m.annotation",true]]'
t_ok "an earlier phase's reaction is redacted: one is left on her message" \
    lf_poll 200 mx_one_left

# A second message, then the first is checked not answered again.
e2e_say matrix "and a second one"
t_ok "a second message is answered" e2e_wait matrix "and a second one"
t_eq "each answered once" \
    "$(e2e_heard matrix "hello from alice") $(e2e_heard matrix "a second one")" "1 1"
t_eq "each reply had a txn id of its own" \
    "$(jq -rs '[.[].txn] | unique | length' "$LF_TMP/matrix/heard.jsonl")" 2

chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "GET /api/agents/{id}/deliveries: both replies, on matrix, to alice, sent" \
    "$LF_STATUS $(jbc '[.deliveries[] | [.channel, .recipient, .status]] | unique')" \
    '200 [["matrix","alice","sent"]]'
t_eq "the inbound messages were committed with their event ids" \
    "$(lf_psql "SELECT count(*) FROM channels.inbound WHERE channel = 'matrix' AND platform_msg_id ~ '^[$]ev[0-9]+:localhost$'")" 2
t_done
