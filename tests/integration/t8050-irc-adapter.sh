#!/usr/bin/env bash
# channel-irc: the sidecar protocol's rules without a platform
# (tests/channels/adapter_conform.py, the checks every adapter passes),
# then against a real ngircd (tests/channels/irc_drive.py, playing the
# daemon's side of the protocol and an IRC user): DMs and channel messages
# in, sends out (split at the line limit, paced), nick collision and
# reclaim, ngircd restarted (reconnect, rejoin), garbage on stdin,
# shutdown and EOF, TLS, SASL, the loopback switch.  No stack is started:
# the end to end through the channels service is t8090.
. "$(dirname "$0")/../lib.sh"

irc=$LF_BIN/channel-irc
if ! command -v ngircd >/dev/null 2>&1 && [ ! -x /usr/sbin/ngircd ]; then
	t_ok "ngircd is installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

# --describe: the fields the dashboard's form needs.
desc=$("$irc" --describe)
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" irc
t_eq "--describe lists server, port, nick, channels, password, tls" \
    "$(printf '%s' "$desc" | jq -c '[.fields[].key | select(IN("IRC_SERVER",
	"IRC_PORT", "IRC_NICK", "IRC_CHANNELS", "IRC_PASSWORD", "IRC_TLS"))]')" \
    '["IRC_SERVER","IRC_PORT","IRC_NICK","IRC_CHANNELS","IRC_PASSWORD","IRC_TLS"]'
t_eq "--describe: the password is a secret, the channels a list" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key == "IRC_PASSWORD" or .key == "IRC_CHANNELS") | .type]')" \
    '["list","secret"]'

# The protocol alone: a server port where nothing listens.
t_py adapter_conform.py 10 python3 "$LF_ROOT/tests/channels/adapter_conform.py" \
    "$irc" "$LF_TMP/log/irc-conform.log" IRC_SERVER=127.0.0.1 \
    IRC_PORT="$(lf_free_port)" IRC_NICK=conform IRC_ALLOW_LOOPBACK=1

# Against ngircd.  The adapters' and ngircd's logs go to log/irc-*.log,
# where lf_cleanup looks for sanitizer reports.
mkdir -p "$LF_TMP/irc"
t_py irc_drive.py 27 python3 "$LF_ROOT/tests/channels/irc_drive.py" "$irc" \
    "$LF_TMP/irc" "$LF_TMP/log"
lf_tail_failed "irc-*.log"
t_done
