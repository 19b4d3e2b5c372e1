#!/usr/bin/env bash
# channel-mattermost: the sidecar protocol's rules without a platform
# (tests/channels/adapter_conform.py), then
# tests/channels/mattermost_drive.py playing the daemon and, through
# tests/channels/mattermost_server.mjs (the REST API v4 and the WebSocket
# API as Mattermost documents them), the Mattermost side: GET /users/me,
# the authentication_challenge and hello, DM, channel and thread posts and
# a /command as message events, the bot's own posts and system messages
# skipped, posts cut at 16383 characters, replies in threads, typing,
# reactions, 429 (Retry-After, X-Ratelimit-Reset) and 5xx retried, a 403
# reported, pings, a drop and a missed event resumed with connection_id
# and sequence_number, a forgotten connection, the token refused on the
# WebSocket, a refused handshake, the server restarted, a bad token, PSS,
# shutdown and EOF.  No stack is started.
. "$(dirname "$0")/../lib.sh"
LF_PY_SECS=120	# t_py's bound

mm=$LF_BIN/channel-mattermost

if [ ! -d "$LF_ROOT/tests/e2e/node_modules/ws" ]; then
	t_ok "ws is installed in tests/e2e (deploy/deps.sh test)" false
	t_done
	exit 1
fi

# --describe: the fields the dashboard's form needs, with the channels
# catalog's keys (services/channels/chan_catalog.c).
desc=$("$mm" --describe)
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" \
    mattermost
t_eq "--describe: the server URL and the token required, the token a secret" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.required) | [.key, .type]]')" \
    '[["MATTERMOST_SERVER_URL","text"],["MATTERMOST_TOKEN","secret"]]'
t_eq "--describe lists the catalog's keys, the ping, loopback" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key | IN(
	"MATTERMOST_ALLOWED_CHANNELS", "MATTERMOST_WS_URL",
	"MATTERMOST_PING_SECS", "MATTERMOST_ALLOW_LOOPBACK")) | .key]')" \
    '["MATTERMOST_ALLOWED_CHANNELS","MATTERMOST_WS_URL","MATTERMOST_PING_SECS","MATTERMOST_ALLOW_LOOPBACK"]'

# Bad configuration: an error event and exit 1, before any connection.
badconf() {
	local out rc
	out=$(env -u MATTERMOST_TOKEN -u MATTERMOST_SERVER_URL "$@" \
	    timeout 5 "$mm" </dev/null 2>>"$LF_TMP/log/mattermost-conf.log")
	rc=$?
	[ "$rc" = 1 ] && printf '%s' "$out" | jq -e 'select(.method == "error")' >/dev/null
}
t_ok "no token: an error event, exit 1" \
    badconf MATTERMOST_SERVER_URL=http://127.0.0.1:1 MATTERMOST_ALLOW_LOOPBACK=1
t_ok "a server URL that is none: an error event, exit 1" \
    badconf MATTERMOST_TOKEN=tok MATTERMOST_SERVER_URL=ftp://x MATTERMOST_ALLOW_LOOPBACK=1
t_ok "a server URL with a query: an error event, exit 1" \
    badconf MATTERMOST_TOKEN=tok MATTERMOST_SERVER_URL='http://127.0.0.1:1/?a=b' MATTERMOST_ALLOW_LOOPBACK=1
t_ok "a WebSocket URL that is not ws[s]://: an error event, exit 1" \
    badconf MATTERMOST_TOKEN=tok MATTERMOST_SERVER_URL=http://127.0.0.1:1 \
    MATTERMOST_WS_URL=http://127.0.0.1:1/ws MATTERMOST_ALLOW_LOOPBACK=1
t_ok "a cloud metadata address: an error event, exit 1, loopback or not" \
    badconf MATTERMOST_TOKEN=tok MATTERMOST_SERVER_URL=http://169.254.169.254 MATTERMOST_ALLOW_LOOPBACK=1

# The protocol alone: a server where nothing listens.
t_py adapter_conform.py 10 python3 "$LF_ROOT/tests/channels/adapter_conform.py" \
    "$mm" "$LF_TMP/log/mattermost-conform.log" \
    MATTERMOST_TOKEN=conform.token \
    MATTERMOST_SERVER_URL="http://127.0.0.1:$(lf_free_port)" \
    MATTERMOST_ALLOW_LOOPBACK=1

# The adapters' logs go to log/mattermost-*.log, where lf_cleanup looks for
# sanitizer reports.
t_py mattermost_drive.py 29 python3 "$LF_ROOT/tests/channels/mattermost_drive.py" \
    "$mm" "$LF_TMP" "$LF_TMP/log"
lf_tail_failed "mattermost-*.log"
t_done
