#!/usr/bin/env bash
# channel-telegram: the sidecar protocol's rules without a platform
# (tests/channels/adapter_conform.py), then tests/channels/telegram_drive.py
# playing the daemon and, through telegram-test-api (npm, the Bot API
# emulator; tests/channels/telegram_server.mjs), the Telegram side: getMe
# and the getUpdates long poll, a user's private, group and /command
# messages as message events, sends cut at 4096 UTF-16 units, typing,
# reactions, inline buttons and their presses, keep-alive, 429 and 5xx
# retried, a 400 and a 409 reported, a bad token reported and retried,
# the server killed and started again, PSS, shutdown and EOF.  No stack
# is started.
. "$(dirname "$0")/../lib.sh"
LF_PY_SECS=120	# t_py's bound

tg=$LF_BIN/channel-telegram

if [ ! -d "$LF_ROOT/tests/e2e/node_modules/telegram-test-api" ]; then
	t_ok "telegram-test-api is installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

# --describe: the fields the dashboard's form needs, with the channels
# catalog's keys (services/channels/chan_catalog.c).
desc=$("$tg" --describe)
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" \
    telegram
t_eq "--describe: the token is a secret, required" \
    "$(printf '%s' "$desc" | jq -c '.fields[] | select(.key == "TELEGRAM_BOT_TOKEN") | [.type, .required]')" \
    '["secret",true]'
t_eq "--describe lists the catalog's keys, the poll timeout, loopback" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key | IN(
	"ALLOWED_USERS", "TELEGRAM_CLEAR_DONE_REACTION", "TELEGRAM_API_BASE",
	"TELEGRAM_POLL_TIMEOUT_SECS", "TELEGRAM_ALLOW_LOOPBACK")) | .key]')" \
    '["ALLOWED_USERS","TELEGRAM_CLEAR_DONE_REACTION","TELEGRAM_API_BASE","TELEGRAM_POLL_TIMEOUT_SECS","TELEGRAM_ALLOW_LOOPBACK"]'

# The protocol alone: an API base where nothing listens.
t_py adapter_conform.py 10 python3 "$LF_ROOT/tests/channels/adapter_conform.py" \
    "$tg" "$LF_TMP/log/telegram-conform.log" \
    TELEGRAM_BOT_TOKEN=123:conform \
    TELEGRAM_API_BASE="http://127.0.0.1:$(lf_free_port)" \
    TELEGRAM_ALLOW_LOOPBACK=1

# The adapters' logs go to log/telegram-*.log, where lf_cleanup looks for
# sanitizer reports.
t_py telegram_drive.py 20 python3 "$LF_ROOT/tests/channels/telegram_drive.py" \
    "$tg" "$LF_TMP" "$LF_TMP/log"
lf_tail_failed "telegram-*.log"
t_done
