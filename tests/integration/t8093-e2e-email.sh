#!/usr/bin/env bash
# Email end to end (issue 13, item 5): the channels service runs the real
# channel-email against a real dovecot (IMAP, STARTTLS) and aiosmtpd (SMTP,
# STARTTLS and AUTH) (tests/channels/e2e_peer.py, the servers' setup of
# email_drive.py); alice's mail, delivered into the bot's Maildir, reaches
# the bound agent, the agent's answer is mailed back to her in reply to
# it, once; GET /api/channels shows the channel running, and
# GET /api/agents/{id}/deliveries lists the reply.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"
. "$(dirname "$0")/../channels/e2e.sh"

if [ ! -x /usr/sbin/dovecot ] || ! /usr/bin/python3 -c 'import aiosmtpd' \
    2>/dev/null; then
	t_ok "dovecot-imapd and python3-aiosmtpd are installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

e2e_peer email
lf_config "$(e2e_channel email e2e-mail)"
export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
A=$(lf_agent e2e-mail m-mail)
t_ok "the channel is running" chan_wait email running

e2e_say email "Shall we meet at noon?" lunch-1@example.org
t_ok "alice's answer is mailed back" e2e_wait email "Shall we meet at noon?"
t_eq "the agent was asked her mail, once" \
    "$(e2e_asked m-mail "Shall we meet at noon?")" 1
t_eq "to her, in reply to her mail, under her subject" \
    "$(jq -sc '.[0] | [.to, .in_reply_to, .subject]' "$LF_TMP/email/heard.jsonl")" \
    '[["alice@example.org"],"<lunch-1@example.org>","Re: e2e 1"]'
t_eq "the body is the agent's answer" \
    "$(jq -rs '.[0].text' "$LF_TMP/email/heard.jsonl" | head -n 1)" \
    "echo: [Alice Example]: Shall we meet at noon?"

e2e_say email "A second question" q-2@example.org
t_ok "a second mail is answered" e2e_wait email "A second question"
t_eq "each answered once" \
    "$(e2e_heard email "meet at noon") $(e2e_heard email "A second question")" "1 1"

chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "GET /api/agents/{id}/deliveries: both replies, by email, to her, sent" \
    "$LF_STATUS $(jb .total) $(jbc '[.deliveries[] | [.channel, .channel_id, .status]] | unique')" \
    '200 2 [["email","alice@example.org","sent"]]'
t_eq "in reply to each Message-ID" "$(jbc '[.deliveries[].in_reply_to]')" \
    '["<q-2@example.org>","<lunch-1@example.org>"]'
t_done
