#!/usr/bin/env bash
# Telegram end to end (issue 13, item 5): the channels service runs the
# real channel-telegram against telegram-test-api (npm; the Bot API
# emulator, tests/channels/e2e_peer.py with the server and client of
# telegram_drive.py); alice's private message reaches the bound agent
# (the fake provider is asked it), the agent's answer comes back to her
# chat, once; the adapter's capabilities (typing, reaction) bring a
# sendChatAction and reactions on her message; GET /api/channels shows
# the channel running, and GET /api/agents/{id}/deliveries lists the
# reply.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

if [ ! -d "$LF_ROOT/tests/e2e/node_modules/telegram-test-api" ]; then
	t_ok "telegram-test-api is installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

e2e_peer telegram
api=$(jq -r .TELEGRAM_API_BASE "$LF_TMP/telegram/env.json")
# tg_calls METHOD: the Bot API calls of METHOD the emulator saw (JSON).
tg_calls() { curl -s -m 10 "$api/__calls" | jq -c --arg m "$1" '[.[] | select(.method == $m)]'; }
tg_has() { [ "$(tg_calls "$1" | jq length)" -ge "$2" ]; }

lf_config "$(e2e_channel telegram e2e-telegram)"
export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
A=$(lf_agent e2e-telegram m-telegram)
t_ok "the channel is running" chan_wait telegram running
lf_req GET /api/channels/telegram
t_eq "GET /api/channels/telegram: the adapter's pid, no error, its capabilities" \
    "$(jb '.status.pid > 0') $(jb '.status.last_error // "none"') $(jbc '.status.capabilities // []')" \
    'true none ["typing","reaction","interactive"]'

e2e_say telegram "hello from alice on telegram"
t_ok "alice's answer arrives in her Telegram chat" \
    e2e_wait telegram "hello from alice on telegram"
t_eq "the agent was asked her message, once" \
    "$(e2e_asked m-telegram "hello from alice on telegram")" 1
t_eq "the answer is the agent's (the fake provider's echo, her name first)" \
    "$(jq -rs '.[0].text' "$LF_TMP/telegram/heard.jsonl")" \
    "echo: [alice]: hello from alice on telegram"
t_eq "it went to her chat" \
    "$(jq -rs '.[0].chat_id' "$LF_TMP/telegram/heard.jsonl")" 1
t_ok "the turn showed as typing (sendChatAction)" \
    lf_poll 200 tg_has sendChatAction 1
t_ok "and as reactions on her message (setMessageReaction)" \
    lf_poll 200 tg_has setMessageReaction 2
t_eq "the reactions name her message, with emoji Telegram takes (not ⏳ ✅)" \
    "$(tg_calls setMessageReaction | jq -c '[.[].body | [.chat_id, (.message_id | type)]] | unique') $(tg_calls setMessageReaction | jq '[.[].body.reaction[0].emoji] | all(IN("👀", "🤔", "✍", "👍", "😢"))')" \
    '[[1,"number"]] true'

# A second message, then the first is checked not answered again.
e2e_say telegram "and a second one"
t_ok "a second message is answered" e2e_wait telegram "and a second one"
t_eq "each answered once" \
    "$(e2e_heard telegram "hello from alice") $(e2e_heard telegram "a second one")" "1 1"

chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "GET /api/agents/{id}/deliveries: both replies, on telegram, to alice, sent" \
    "$LF_STATUS $(jbc '[.deliveries[] | [.channel, .recipient, .status]] | unique')" \
    '200 [["telegram","alice","sent"]]'
t_eq "the inbound messages were committed with '<chat>:<message>' ids" \
    "$(lf_psql "SELECT count(*) FROM channels.inbound WHERE channel = 'telegram' AND platform_msg_id ~ '^1:[0-9]+$'")" 2
t_done
