#!/usr/bin/env bash
# channel-email: the sidecar protocol's rules without a platform
# (tests/channels/adapter_conform.py, the checks every adapter passes),
# then against a real dovecot (IMAP: STARTTLS and IMAPS, IDLE and polling)
# and a real aiosmtpd (SMTP with STARTTLS and AUTH required), driven by
# tests/channels/email_drive.py playing the daemon's side of the protocol
# and the mail user: mail in (plain, multipart, encoded-words), marked
# \Seen, replies out threaded, the adapter restarted (nothing twice,
# nothing lost), dovecot restarted (reconnect), a wrong password (error
# events, backoff), shutdown and EOF.  No stack is started.
. "$(dirname "$0")/../lib.sh"
LF_PY_SECS=240	# t_py's bound

em=$LF_BIN/channel-email
if [ ! -x /usr/sbin/dovecot ] || ! /usr/bin/python3 -c 'import aiosmtpd' \
    2>/dev/null; then
	t_ok "dovecot-imapd and python3-aiosmtpd are installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

# --describe: the fields the dashboard's form needs.
desc=$("$em" --describe)
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" email
t_eq "--describe lists the IMAP and SMTP hosts, the account and password" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.required) | .key]')" \
    '["EMAIL_IMAP_HOST","EMAIL_SMTP_HOST","EMAIL_USERNAME","EMAIL_PASSWORD"]'
t_eq "--describe: every password is a secret" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key | test("PASSWORD")) | .type] | unique')" \
    '["secret"]'
# Misconfigured: an error event and exit 1, not a hang.
out=$(printf '' | EMAIL_IMAP_HOST=x EMAIL_SMTP_HOST=x EMAIL_USERNAME=bot \
    EMAIL_PASSWORD=x timeout 10 "$em" 2>/dev/null)
t_eq "an account that is no address without EMAIL_FROM: exit 1" "$?" 1
t_eq "... with an error event" \
    "$(printf '%s\n' "$out" | jq -r 'select(.method == "error") | .method' | head -1)" error

# The protocol alone: an IMAP port where nothing listens.
mkdir -p "$LF_TMP/email"
t_py adapter_conform.py 10 python3 "$LF_ROOT/tests/channels/adapter_conform.py" \
    "$em" "$LF_TMP/log/email-conform.log" EMAIL_IMAP_HOST=127.0.0.1 \
    EMAIL_IMAP_PORT="$(lf_free_port)" EMAIL_SMTP_HOST=127.0.0.1 \
    EMAIL_USERNAME=conform@example.com EMAIL_PASSWORD=x \
    EMAIL_STATE_DIR="$LF_TMP/email" EMAIL_ALLOW_LOOPBACK=1

# Against dovecot and aiosmtpd (the system python3: Debian's aiosmtpd).
# Logs go to log/email-*.log, where lf_cleanup looks for sanitizer reports.
t_py email_drive.py 34 /usr/bin/python3 "$LF_ROOT/tests/channels/email_drive.py" \
    "$em" "$LF_TMP/email" "$LF_TMP/log"
lf_tail_failed "email-*.log"
t_done
