#!/usr/bin/env bash
# channel-xmpp: the sidecar protocol's rules without a platform
# (tests/channels/adapter_conform.py, the checks every adapter passes),
# then against a real prosody with a MUC component
# (tests/channels/xmpp_drive.py, playing the daemon's side of the
# protocol and an XMPP user with slixmpp): chats and room messages in
# (mentions, stanza ids), sends out (split, chat states, characters XML
# cannot carry), prosody restarted (reconnect, rejoin), a wrong password
# (error events, backoff), garbage on stdin, shutdown and EOF, STARTTLS
# verified against a CA file, plain XMPP only with its switch, the
# loopback switch.  No stack is started: the end to end through the
# channels service is t8092.
. "$(dirname "$0")/../lib.sh"

xmpp=$LF_BIN/channel-xmpp
if [ ! -x /usr/bin/prosody ] || ! /usr/bin/python3 -c 'import slixmpp' \
    2>/dev/null; then
	t_ok "prosody and python3-slixmpp are installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

# t_py NAME MIN CMD..: runs a Python checker (bounded: 240 s) that prints
# "ok - ..." / "not ok - ..." lines, numbered here; fails unless it gave
# at least MIN results and exited 0.
t_py() {
	local name=$1 min=$2 out=$LF_TMP/$1.tap line n=0 rc
	shift 2
	timeout -k 5 240 "$@" >"$out" 2>&1
	rc=$?
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
	[ "$rc" = 124 ] && echo "# $name still ran after 240 s: killed"
	t_ok "$name ran all its checks ($n results, exit $rc)" \
	    test "$n" -ge "$min" -a "$rc" = 0
}

# --describe: the fields the dashboard's form needs.
desc=$("$xmpp" --describe)
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" xmpp
t_eq "--describe lists the JID, password, server, port, rooms, nick" \
    "$(printf '%s' "$desc" | jq -c '[.fields[].key | select(IN("XMPP_JID",
	"XMPP_PASSWORD", "XMPP_SERVER", "XMPP_PORT", "XMPP_ROOMS", "XMPP_NICK"))]')" \
    '["XMPP_JID","XMPP_PASSWORD","XMPP_SERVER","XMPP_PORT","XMPP_ROOMS","XMPP_NICK"]'
t_eq "--describe: the password is a secret, the rooms a list, TLS required by default" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key == "XMPP_PASSWORD" or .key == "XMPP_ROOMS" or .key == "XMPP_TLS") | .type, (.options // empty)]')" \
    '["secret","list","select",["required","direct","off"]]'

# A bad configuration: an error event and exit 1, before any connection.
out=$(XMPP_JID=not-a-jid XMPP_PASSWORD=x timeout 10 "$xmpp" </dev/null \
    2>/dev/null)
t_eq "a JID without a domain part is refused with exit 1" "$?" 1
t_ok "... and an error event" \
    test "$(printf '%s' "$out" | jq -r 'select(.method == "error") | .method')" = error

# The protocol alone: a server port where nothing listens.
t_py adapter_conform.py 10 python3 "$LF_ROOT/tests/channels/adapter_conform.py" \
    "$xmpp" "$LF_TMP/log/xmpp-conform.log" XMPP_JID=conform@localhost \
    XMPP_PASSWORD=secret XMPP_SERVER=127.0.0.1 \
    XMPP_PORT="$(lf_free_port)" XMPP_ALLOW_LOOPBACK=1

# Against prosody.  The adapters' and prosody's logs go to log/xmpp-*,
# where lf_cleanup looks for sanitizer reports.
mkdir -p "$LF_TMP/xmpp"
t_py xmpp_drive.py 25 /usr/bin/python3 "$LF_ROOT/tests/channels/xmpp_drive.py" \
    "$xmpp" "$LF_TMP/xmpp" "$LF_TMP/log"
if [ "$T_FAILED" != 0 ]; then
	for f in "$LF_TMP"/log/xmpp-*.log; do
		echo "# --- $(basename "$f") (tail)"
		tail -n 8 "$f" | sed 's/^/#   /'
	done
fi
t_done
