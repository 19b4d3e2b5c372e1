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
LF_PY_SECS=240	# t_py's bound

xmpp=$LF_BIN/channel-xmpp
if [ ! -x /usr/bin/prosody ] || ! /usr/bin/python3 -c 'import slixmpp' \
    2>/dev/null; then
	t_ok "prosody and python3-slixmpp are installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

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
lf_tail_failed "xmpp-*.log"
t_done
