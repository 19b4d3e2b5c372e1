#!/usr/bin/env bash
# channel-discord: the sidecar protocol's rules without a platform
# (tests/channels/adapter_conform.py), then tests/channels/discord_drive.py
# playing the daemon and, through tests/channels/discord_server.mjs (the
# Gateway v10 and REST as Discord documents them), the Discord side:
# GET /gateway/bot, HELLO and heartbeats, IDENTIFY/READY, guild and DM
# messages, sends cut at 2000 characters, typing, reactions, 429 and 5xx
# retried, a 403 reported, a ping, a fragmented dispatch, a refused
# handshake, op 7, a drop and a missed ACK resumed with the
# last sequence, op 9, close 4004 backed off, the server restarted, a bad
# token, PSS, shutdown and EOF.  No stack is started.
. "$(dirname "$0")/../lib.sh"
LF_PY_SECS=120	# t_py's bound

dc=$LF_BIN/channel-discord

if [ ! -d "$LF_ROOT/tests/e2e/node_modules/ws" ]; then
	t_ok "ws is installed in tests/e2e (deploy/deps.sh test)" false
	t_done
	exit 1
fi

# --describe: the fields the dashboard's form needs, with the channels
# catalog's keys (services/channels/chan_catalog.c).
desc=$("$dc" --describe)
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" \
    discord
t_eq "--describe: the token is a secret, required" \
    "$(printf '%s' "$desc" | jq -c '.fields[] | select(.key == "DISCORD_BOT_TOKEN") | [.type, .required]')" \
    '["secret",true]'
t_eq "--describe lists the catalog's keys, the API base, loopback" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key | IN(
	"DISCORD_ALLOWED_GUILDS", "DISCORD_ALLOWED_USERS", "DISCORD_INTENTS",
	"DISCORD_IGNORE_BOTS", "DISCORD_MENTION_PATTERNS", "DISCORD_API_BASE",
	"DISCORD_ALLOW_LOOPBACK")) | .key]')" \
    '["DISCORD_ALLOWED_GUILDS","DISCORD_ALLOWED_USERS","DISCORD_INTENTS","DISCORD_IGNORE_BOTS","DISCORD_MENTION_PATTERNS","DISCORD_API_BASE","DISCORD_ALLOW_LOOPBACK"]'

# The protocol alone: an API base where nothing listens.
t_py adapter_conform.py 10 python3 "$LF_ROOT/tests/channels/adapter_conform.py" \
    "$dc" "$LF_TMP/log/discord-conform.log" \
    DISCORD_BOT_TOKEN=conform.token \
    DISCORD_API_BASE="http://127.0.0.1:$(lf_free_port)/api/v10" \
    DISCORD_ALLOW_LOOPBACK=1

# The adapters' logs go to log/discord-*.log, where lf_cleanup looks for
# sanitizer reports.
t_py discord_drive.py 20 python3 "$LF_ROOT/tests/channels/discord_drive.py" \
    "$dc" "$LF_TMP" "$LF_TMP/log"
lf_tail_failed "discord-*.log"
t_done
