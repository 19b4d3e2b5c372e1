#!/usr/bin/env bash
# channel-webhook: the sidecar protocol's rules without a platform
# (tests/channels/adapter_conform.py), then tests/channels/webhook_drive.py
# playing the daemon, a sender POSTing to the adapter's listener and a
# callback that verifies each delivery's signature: signed messages in,
# each bad request's 4xx and no event, sends out signed, retried on 503
# and 429 and connection errors then given up with an error event, a
# slowloris beside a good request, the SSRF switch, PSS, shutdown and EOF.
# No stack is started.
. "$(dirname "$0")/../lib.sh"
LF_PY_SECS=120	# t_py's bound

wh=$LF_BIN/channel-webhook

# --describe: the fields the dashboard's form needs.
desc=$("$wh" --describe)
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" \
    webhook
t_eq "--describe: the secret is a secret, required" \
    "$(printf '%s' "$desc" | jq -c '.fields[] | select(.key == "WEBHOOK_SECRET") | [.type, .required]')" \
    '["secret",true]'
# Upstream's keys (spec/notes/protocols.md 1.2, the channels catalog).
t_eq "--describe lists upstream's keys, max body (1 MiB), loopback" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key | IN(
	"WEBHOOK_BIND_HOST", "WEBHOOK_LISTEN_PORT", "WEBHOOK_LISTEN_PATH",
	"WEBHOOK_CALLBACK_URL", "WEBHOOK_ALLOW_LOOPBACK")) | .key],
	(.fields[] | select(.key == "WEBHOOK_MAX_BODY") | .placeholder)')" \
    '["WEBHOOK_BIND_HOST","WEBHOOK_LISTEN_PORT","WEBHOOK_LISTEN_PATH","WEBHOOK_CALLBACK_URL","WEBHOOK_ALLOW_LOOPBACK"]
"1048576"'

# The protocol alone: a callback where nothing listens.
t_py adapter_conform.py 10 python3 "$LF_ROOT/tests/channels/adapter_conform.py" \
    "$wh" "$LF_TMP/log/webhook-conform.log" \
    WEBHOOK_SECRET=conform-secret-0123456789 \
    WEBHOOK_LISTEN_PORT="$(lf_free_port)" \
    WEBHOOK_CALLBACK_URL="http://127.0.0.1:$(lf_free_port)/cb" \
    WEBHOOK_ALLOW_LOOPBACK=1

# The adapters' logs go to log/webhook-*.log, where lf_cleanup looks for
# sanitizer reports.
t_py webhook_drive.py 45 python3 "$LF_ROOT/tests/channels/webhook_drive.py" \
    "$wh" "$LF_TMP/log"
lf_tail_failed "webhook-*.log"
t_done
