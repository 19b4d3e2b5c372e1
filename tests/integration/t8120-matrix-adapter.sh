#!/usr/bin/env bash
# channel-matrix: the sidecar protocol's rules without a platform
# (tests/channels/adapter_conform.py), then tests/channels/matrix_drive.py
# playing the daemon and, through tests/channels/matrix_server.py (a
# homeserver of the client-server API v3, for the calls the adapter
# makes), the Matrix side: whoami and a first sync that skips history,
# the /sync long poll, a user's DM, group, mention and /command messages
# as message events (the bot's own echo, notices and edits not), sends
# cut at 16 KiB with a txn id each (the same on a retry: a lost answer
# deduplicated), threads, typing, reactions, invites joined, 429
# (retry_after_ms) and 5xx retried, a 403 reported, 401 M_UNKNOWN_TOKEN
# at sync and at a send and a bad token reported and reconnected, the
# server killed and started again, PSS, shutdown and EOF.  No stack is
# started.
. "$(dirname "$0")/../lib.sh"
LF_PY_SECS=120	# t_py's bound

mx=$LF_BIN/channel-matrix

# --describe: the fields the dashboard's form needs, with the channels
# catalog's keys (services/channels/chan_catalog.c).
desc=$("$mx" --describe)
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" \
    matrix
t_eq "--describe: the access token is a secret, required" \
    "$(printf '%s' "$desc" | jq -c '.fields[] | select(.key == "MATRIX_ACCESS_TOKEN") | [.type, .required]')" \
    '["secret",true]'
t_eq "--describe lists the catalog's keys, the API base, loopback" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key | IN(
	"MATRIX_HOMESERVER_URL", "MATRIX_USER_ID", "MATRIX_ALLOWED_ROOMS",
	"MATRIX_MAX_UPLOAD_BYTES", "MATRIX_API_BASE",
	"MATRIX_ALLOW_LOOPBACK")) | .key]')" \
    '["MATRIX_HOMESERVER_URL","MATRIX_USER_ID","MATRIX_ALLOWED_ROOMS","MATRIX_MAX_UPLOAD_BYTES","MATRIX_API_BASE","MATRIX_ALLOW_LOOPBACK"]'

# The protocol alone: a homeserver where nothing listens.
t_py adapter_conform.py 10 python3 "$LF_ROOT/tests/channels/adapter_conform.py" \
    "$mx" "$LF_TMP/log/matrix-conform.log" \
    MATRIX_ACCESS_TOKEN=syt_conform MATRIX_USER_ID=@bot:localhost \
    MATRIX_HOMESERVER_URL="http://127.0.0.1:$(lf_free_port)" \
    MATRIX_ALLOW_LOOPBACK=1

# The adapters' logs go to log/matrix-*.log, where lf_cleanup looks for
# sanitizer reports.
t_py matrix_drive.py 29 python3 "$LF_ROOT/tests/channels/matrix_drive.py" \
    "$mx" "$LF_TMP" "$LF_TMP/log"
lf_tail_failed "matrix-*.log"
t_done
