#!/usr/bin/env bash
# channel-slack: the sidecar protocol's rules without a platform
# (tests/channels/adapter_conform.py), then tests/channels/slack_drive.py
# playing the daemon and, through tests/channels/slack_server.mjs (Socket
# Mode and the Web API as Slack documents them), the Slack side:
# auth.test, apps.connections.open, hello, envelopes ACKed; DM, channel,
# thread, mention and slash command messages with Slack's ids; a
# redelivered envelope and a mention's app_mention delivered once; sends
# escaped, in threads, cut at 40,000 characters; typing (none on Slack);
# reactions; 429 and 5xx retried, errors and 4xx reported, a refused token;
# disconnect (refresh_requested, warning, link_disabled), a drop, the
# server restarted; bad tokens; PSS; shutdown and EOF.  No stack is
# started.
. "$(dirname "$0")/../lib.sh"
LF_PY_SECS=120	# t_py's bound

sl=$LF_BIN/channel-slack

if [ ! -d "$LF_ROOT/tests/e2e/node_modules/ws" ]; then
	t_ok "ws is installed in tests/e2e (deploy/deps.sh test)" false
	t_done
	exit 1
fi

# --describe: the fields the dashboard's form needs, with the channels
# catalog's keys (services/channels/chan_catalog.c).
desc=$("$sl" --describe)
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" \
    slack
t_eq "--describe: both tokens are secrets, required" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key | IN("SLACK_APP_TOKEN", "SLACK_BOT_TOKEN")) | [.key, .type, .required]]')" \
    '[["SLACK_APP_TOKEN","secret",true],["SLACK_BOT_TOKEN","secret",true]]'
t_eq "--describe lists the catalog's keys, the API base, loopback" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key | IN(
	"SLACK_ALLOWED_CHANNELS", "SLACK_UNFURL_LINKS",
	"SLACK_FORCE_FLAT_REPLIES", "SLACK_REACTIONS", "SLACK_API_BASE",
	"SLACK_ALLOW_LOOPBACK")) | .key]')" \
    '["SLACK_ALLOWED_CHANNELS","SLACK_UNFURL_LINKS","SLACK_FORCE_FLAT_REPLIES","SLACK_REACTIONS","SLACK_API_BASE","SLACK_ALLOW_LOOPBACK"]'

# The protocol alone: an API base where nothing listens.
t_py adapter_conform.py 10 python3 "$LF_ROOT/tests/channels/adapter_conform.py" \
    "$sl" "$LF_TMP/log/slack-conform.log" \
    SLACK_APP_TOKEN=xapp-1-conform SLACK_BOT_TOKEN=xoxb-conform \
    SLACK_API_BASE="http://127.0.0.1:$(lf_free_port)/api" \
    SLACK_ALLOW_LOOPBACK=1

# The adapters' logs go to log/slack-*.log, where lf_cleanup looks for
# sanitizer reports.
t_py slack_drive.py 20 python3 "$LF_ROOT/tests/channels/slack_drive.py" \
    "$sl" "$LF_TMP" "$LF_TMP/log"
lf_tail_failed "slack-*.log"
t_done
