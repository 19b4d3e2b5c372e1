#!/usr/bin/env bash
# channel-irc against a real ngircd (tests/channels/irc_drive.py): the
# adapter's --describe, then the driver playing the daemon's side of the
# sidecar protocol and an IRC user: DMs and channel messages in, sends out
# (split at the line limit), nick collision, ngircd restarted (reconnect,
# rejoin), garbage on stdin, shutdown and EOF, SASL, the loopback switch.
# No stack is started; the end to end through the channels service comes
# with its supervisor (extend this script then).
. "$(dirname "$0")/../lib.sh"

irc=$LF_BIN/channel-irc
if ! command -v ngircd >/dev/null 2>&1 && [ ! -x /usr/sbin/ngircd ]; then
	t_ok "ngircd is installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

# --describe: one JSON object, exit 0, the fields the dashboard needs.
desc=$("$irc" --describe)
t_eq "--describe exits 0" "$?" 0
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" irc
t_eq "--describe lists server, port, nick, channels, password, tls" \
    "$(printf '%s' "$desc" | jq -c '[.fields[].key | select(IN("IRC_SERVER",
	"IRC_PORT", "IRC_NICK", "IRC_CHANNELS", "IRC_PASSWORD", "IRC_TLS"))]')" \
    '["IRC_SERVER","IRC_PORT","IRC_NICK","IRC_CHANNELS","IRC_PASSWORD","IRC_TLS"]'
t_eq "--describe: the password is a secret, the channels a list" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key == "IRC_PASSWORD" or .key == "IRC_CHANNELS") | .type]')" \
    '["list","secret"]'
t_eq "--describe: every field has key, label, type, required, placeholder, advanced" \
    "$(printf '%s' "$desc" | jq '[.fields[] | select((has("key") and has("label") and has("type") and has("required") and has("placeholder") and has("advanced")) | not)] | length')" 0
t_eq "--describe: the allow-loopback switch is there" \
    "$(printf '%s' "$desc" | jq -r '.fields[] | select(.key == "IRC_ALLOW_LOOPBACK") | .type')" bool

# The driver prints "ok - ..." / "not ok - ..."; numbered here.
mkdir -p "$LF_TMP/irc"
out=$LF_TMP/irc/drive.tap
# The adapters' and ngircd's logs go to log/irc-*.log, where lf_cleanup
# looks for sanitizer reports.
timeout -k 5 200 python3 "$LF_ROOT/tests/channels/irc_drive.py" "$irc" \
    "$LF_TMP/irc" "$LF_TMP/log" >"$out" 2>&1
rc=$?
n=0
while IFS= read -r line; do
	case $line in
	"ok - "*)	T_N=$((T_N + 1)); n=$((n + 1))
			echo "ok $T_N - ${line#ok - }" ;;
	"not ok - "*)	T_N=$((T_N + 1)); n=$((n + 1))
			T_FAILED=$((T_FAILED + 1))
			echo "not ok $T_N - ${line#not ok - }" ;;
	*)		echo "# ${line#\# }" ;;
	esac
done <"$out"
[ "$rc" = 124 ] && echo "# irc_drive.py still ran after 200 s: killed"
t_ok "irc_drive.py ran all its steps ($n results, exit $rc)" \
    test "$n" -ge 22 -a "$rc" = 0
if [ "$rc" != 0 ]; then
	for f in "$LF_TMP"/log/irc-*.log; do
		echo "# --- $(basename "$f") (tail)"
		tail -n 8 "$f" | sed 's/^/#   /'
	done
fi
t_done
