#!/usr/bin/python3
"""email_drive.py - drives channel-email against a real dovecot (IMAP) and
a real aiosmtpd (SMTP).

Plays the daemon's side of the sidecar protocol (spec/notes/protocols.md
1.3) on the adapter's stdin/stdout, and a mail user: mail is delivered by
writing Maildir files where dovecot reads them, replies are captured by
the aiosmtpd server (STARTTLS and AUTH required).  Prints TAP ("ok - desc"
/ "not ok - desc", numbered by the caller, t8080) and "# ..." lines.
Every wait is bounded and says what it waited for; every process it
starts is stopped when it ends, however it ends.  Runs under the system
python3 (Debian's python3-aiosmtpd).

usage: email_drive.py ADAPTER_BIN WORKDIR [LOGDIR]
(LOGDIR, default WORKDIR, gets email-*.log: the adapters' stderr, dovecot's)

The plumbing (TAP, the adapter's pipes and frames, processes, ports)
is drivelib.py's; dovecot, aiosmtpd, the mails and the scenario are here.
"""
import email
import email.policy
import json
import logging
import os
import pwd
import queue
import ssl
import sys
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

import drivelib
from drivelib import (check, free_port, ok, run, self_signed, send_cmd,
                      start_server, stop_server, wait_for)
from drivelib import cleanup  # noqa: F401 - e2e_peer.py calls d.cleanup()

warnings.filterwarnings("ignore")     # aiosmtpd's deprecations
logging.getLogger("mail.log").setLevel(logging.ERROR)
ADAPTER, WORK = sys.argv[1], sys.argv[2]
LOGS = sys.argv[3] if len(sys.argv) > 3 else WORK
DOVECOT = os.environ.get("DOVECOT", "/usr/sbin/dovecot")


# ---- TLS: one self-signed certificate for both servers ---------------------

CERT = os.path.join(WORK, "cert.pem")
KEY = os.path.join(WORK, "key.pem")
self_signed(CERT, KEY, "DNS:localhost,IP:127.0.0.1")

# ---- dovecot ---------------------------------------------------------------

IMAP_PORT = free_port()
IMAPS_PORT = free_port()
DV = os.path.join(WORK, "dovecot")
MAILHOME = os.path.join(WORK, "mail")
MAILDIR = os.path.join(MAILHOME, "bot", "Maildir")
ROOT = os.getuid() == 0
if ROOT:
    # Root starts it; the mail is nobody's (dovecot refuses uid 0), its
    # own processes run as its package's users.
    MUID, MGID = 65534, 65534
    USERS = ""
else:
    MUID, MGID = os.getuid(), os.getgid()
    me = pwd.getpwuid(MUID).pw_name
    USERS = (f"default_internal_user = {me}\ndefault_login_user = {me}\n"
             f"default_internal_group = {pwd.getpwuid(MUID).pw_gid}\n")


def dovecot_conf(idle=True):
    for d in (DV, os.path.join(DV, "run"), os.path.join(DV, "state")):
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(DV, "passwd"), "w") as f:
        f.write("bot:{PLAIN}s3cret-pass::::::\n")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(MAILDIR, sub), exist_ok=True)
    if ROOT:
        # nobody must reach its mail: every directory on the way.
        # Up to the test's own directory (WORK's parent, a private
        # mktemp -d); above it, a TMPDIR is traversable.
        top = os.path.dirname(os.path.abspath(WORK))
        d = MAILDIR
        while True:
            os.chmod(d, os.stat(d).st_mode | 0o711)
            if os.path.samefile(d, top) or d == "/":
                break
            d = os.path.dirname(d)
        for dirpath, dirs, files in os.walk(os.path.join(MAILHOME, "bot")):
            os.chown(dirpath, MUID, MGID)
    with open(os.path.join(DV, "dovecot.conf"), "w") as f:
        f.write(f"""protocols = imap
listen = 127.0.0.1
base_dir = {DV}/run
state_dir = {DV}/state
log_path = {LOGS}/email-dovecot.log
{USERS}ssl = yes
ssl_cert = <{CERT}
ssl_key = <{KEY}
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {DV}/passwd
}}
userdb {{
  driver = static
  args = uid={MUID} gid={MGID} home={MAILHOME}/%u
}}
mail_location = maildir:~/Maildir
first_valid_uid = 1
{"" if idle else "imap_capability = IMAP4rev1 LITERAL+ SASL-IR UIDPLUS"}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {IMAP_PORT}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {IMAPS_PORT}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")


def dovecot_start():
    pidf = os.path.join(DV, "run", "master.pid")
    if os.path.exists(pidf):
        os.unlink(pidf)         # a stale one stops a restart
    return start_server("dovecot", [DOVECOT, "-F", "-c",
                                    os.path.join(DV, "dovecot.conf")],
                        IMAP_PORT, 20, os.path.join(LOGS, "email-dovecot.out"))


def dovecot_stop(p):
    stop_server(p, 15)


seq = [0]


def deliver(raw):
    """A mail into bot's Maildir, as an MDA does (tmp, then new)."""
    seq[0] += 1
    name = f"{int(time.time())}.M{seq[0]}P{os.getpid()}.test"
    tmp = os.path.join(MAILDIR, "tmp", name)
    data = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") \
        if isinstance(raw, bytes) else raw.encode().replace(b"\n", b"\r\n")
    with open(tmp, "wb") as f:
        f.write(data)
    os.chown(tmp, MUID, MGID)
    os.rename(tmp, os.path.join(MAILDIR, "new", name))
    return name


def is_seen(name):
    cur = os.path.join(MAILDIR, "cur")
    return any(f.startswith(name) and ":2," in f and
               "S" in f.split(":2,", 1)[1] for f in os.listdir(cur))

# ---- aiosmtpd ----------------------------------------------------------------


class Capture:
    def __init__(self):
        self.mails = queue.Queue()
        self.auths = []

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mails.put({"from": envelope.mail_from,
                        "to": list(envelope.rcpt_tos),
                        "data": envelope.original_content or
                        envelope.content,
                        "tls": session.ssl is not None,
                        "auth": session.authenticated})
        return "250 OK"


CAP = Capture()


def authenticator(server, session, envelope, mechanism, auth_data):
    good = (auth_data.login == b"bot" and
            auth_data.password == b"s3cret-pass")
    CAP.auths.append((mechanism, good))
    # A failure not "handled" gets the standard 535 from aiosmtpd.
    return AuthResult(success=good, handled=good)


SMTP_PORT = free_port()
sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
sctx.load_cert_chain(CERT, KEY)
smtpd = Controller(CAP, hostname="127.0.0.1", port=SMTP_PORT,
                   tls_context=sctx, require_starttls=True,
                   authenticator=authenticator, auth_require_tls=True,
                   auth_exclude_mechanism=["LOGIN"] if False else None)

# ---- the adapter, with us as its daemon -------------------------------------


class Adapter(drivelib.Adapter):
    BIN, LOGS, PREFIX = ADAPTER, LOGS, "EMAIL_"


STATE = os.path.join(WORK, "state")
os.makedirs(STATE, exist_ok=True)


def base_env(**kw):
    env = {"EMAIL_IMAP_HOST": "127.0.0.1", "EMAIL_IMAP_PORT": str(IMAP_PORT),
           "EMAIL_IMAP_SECURITY": "starttls",
           "EMAIL_SMTP_HOST": "127.0.0.1", "EMAIL_SMTP_PORT": str(SMTP_PORT),
           "EMAIL_SMTP_SECURITY": "starttls",
           "EMAIL_USERNAME": "bot", "EMAIL_PASSWORD": "s3cret-pass",
           "EMAIL_FROM": "bot@example.com",
           "EMAIL_TLS_ROOT_CA_PATH": CERT, "EMAIL_STATE_DIR": STATE,
           "EMAIL_ALLOW_LOOPBACK": "1"}
    env.update(kw)
    return env


def msg_event(a, secs, what, pred=None):
    return a.event("message", secs, what, pred)


def ready_v1(a):
    """The handshake; True if its ready says protocol_version 1, else
    the frame."""
    f = a.ready()
    return (f.get("params") or {}).get("protocol_version") == 1 or f


PLAIN = """From: "Alice Example" <alice@example.org>
To: bot@example.com
Subject: Lunch plans
Message-ID: <lunch-1@example.org>
Date: Sun, 06 Dec 2026 12:00:00 +0000
Content-Type: text/plain; charset=utf-8

Shall we meet at noon?
"""

MULTI = """From: =?ISO-8859-1?Q?Jos=E9?= <jose@example.es>
To: bot@example.com
Subject: =?UTF-8?B?Q2Fmw6kgbWVudQ==?=
Message-ID: <menu-2@example.es>
In-Reply-To: <root-0@example.es>
References: <root-0@example.es>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/html; charset=utf-8

<p>html version</p>
--b1
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Un caf=E9, s'il vous pla=EEt.
--b1--
"""


def main():
    dovecot_conf()
    dv = dovecot_start()
    smtpd.start()
    print(f"# dovecot on {IMAP_PORT}/{IMAPS_PORT}, aiosmtpd on {SMTP_PORT}",
          flush=True)

    # Mail that waits before the first start (unseen): delivered.
    first = deliver(PLAIN)
    a = Adapter("email-a", base_env())

    check("the adapter sends ready", lambda: ready_v1(a))
    m = {}

    def got_plain():
        m.update(msg_event(a, 20, "the waiting mail")["params"])
    check("a waiting mail arrives as a message event", got_plain)
    print(f"#   {json.dumps(m)[:400]}", flush=True)
    ok(m.get("user_id") == "alice@example.org" and
       m.get("user_name") == "Alice Example" and
       m.get("channel_id") == "alice@example.org",
       "user id and channel are the sender's address, the name its display "
       "name", [m.get("user_id"), m.get("user_name"), m.get("channel_id")])
    ok(m.get("message_id") == "<lunch-1@example.org>" and
       m.get("thread_id") == "<lunch-1@example.org>",
       "message_id is the Message-ID header; a new thread's id is it too",
       m)
    ok(m.get("text") == "Shall we meet at noon?" and
       m.get("metadata", {}).get("subject") == "Lunch plans",
       "the text is the body, the subject in metadata", m)

    def seen():
        wait_for(lambda: is_seen(first), 10, "the \\Seen flag", 0.1)
    check("the delivered mail is marked \\Seen in the Maildir", seen)
    time.sleep(0.5)
    print(f"# channel-email connected, idle in IMAP IDLE: {a.pss()}",
          flush=True)

    # Mail arriving while connected (IDLE): multipart + encoded-words.
    deliver(MULTI)
    mm = {}

    def got_multi():
        mm.update(msg_event(a, 20, "the multipart mail (IDLE)")["params"])
    check("a mail arriving while idle is delivered (IMAP IDLE)", got_multi)
    ok(mm.get("text") == "Un caf\u00e9, s'il vous pla\u00eet." and
       mm.get("user_name") == "Jos\u00e9" and
       mm.get("metadata", {}).get("subject") == "Caf\u00e9 menu",
       "multipart/alternative: the text/plain part, QP Latin-1 decoded; "
       "encoded-word name and subject", mm)
    ok(mm.get("thread_id") == "<root-0@example.es>",
       "thread_id is the root of References", mm.get("thread_id"))

    # A reply: through STARTTLS and AUTH, threaded.
    send_cmd(a, "jose@example.es",
             "Bien s\u00fbr!\n.a line starting with a dot\n" + "x" * 200,
             thread="<root-0@example.es>", display_name="Jos\u00e9")
    got = {}

    def smtp_got():
        got.update(CAP.mails.get(timeout=20))
    check("send: the SMTP server receives a mail", smtp_got)
    if got:
        msg = email.message_from_bytes(got["data"], policy=email.policy.default)
        ok(got["tls"] and got["auth"] and got["from"] == "bot@example.com"
           and got["to"] == ["jose@example.es"],
           "over STARTTLS, after AUTH, from the configured address to the "
           "sender", {k: got[k] for k in ("tls", "auth", "from", "to")})
        ok(msg["In-Reply-To"] == "<menu-2@example.es>" and
           msg["References"].split() == ["<root-0@example.es>",
                                         "<menu-2@example.es>"] and
           msg["Subject"] == "Re: Caf\u00e9 menu",
           "threaded: In-Reply-To, References, Subject Re:",
           [msg["In-Reply-To"], msg["References"], msg["Subject"]])
        body = msg.get_content().replace("\r\n", "\n")
        ok(msg["Message-ID"] and msg["Message-ID"].endswith("@example.com>")
           and msg["Date"] and msg.get_content_charset() == "utf-8" and
           body.rstrip("\n") == "Bien s\u00fbr!\n.a line starting with a "
           "dot\n" + "x" * 200,
           "well-formed: Message-ID, Date, UTF-8 body decoded whole (dot "
           "line, long line)", [msg["Message-ID"], msg["Date"], body[:80]])
        ok(max(len(l) for l in got["data"].split(b"\r\n")) <= 78,
           "no line past 78 characters on the wire")
    ok(CAP.auths and all(g for _, g in CAP.auths), "the login was accepted",
       CAP.auths)
    send_cmd(a, "bad address\r\nRCPT TO:<x@y>", "x")

    def not_address():
        e = a.event("error", 5, "the refusal")["params"]
        return "not an address" in e["message"] or e
    check("a send to a non-address is an error event", not_address)
    # A recipient the server refuses (5xx): said, and the next mail goes.
    for to in ("nobody@refused.example", "alice@example.org"):
        send_cmd(a, to, "to " + to)
    check("a recipient refused with 550: an error event naming it",
          lambda: "nobody@refused.example" in a.event(
              "error", 20, "the refused recipient",
              lambda f: "refused the mail" in f["params"]["message"])
          ["params"]["message"])
    nxt = {}

    def next_mail():
        nxt.update(CAP.mails.get(timeout=20))
        return nxt["to"] == ["alice@example.org"] or nxt["to"]
    check("... and the mail queued after it is delivered", next_mail)
    print(f"# channel-email after a send over SMTP: {a.pss()}", flush=True)

    # Restart: nothing re-delivered, what came meanwhile delivered.
    check("shutdown: exit 0 within 5 s", lambda: a.end("shutdown", 5))
    meanwhile = """From: alice@example.org
To: bot@example.com
Subject: while you were out
Message-ID: <out-3@example.org>

back soon
"""
    deliver(meanwhile)
    b = Adapter("email-b", base_env(EMAIL_POLL_INTERVAL_SECS="1"))
    time.sleep(0.3)
    print(f"# channel-email before its first login: {b.pss()}", flush=True)
    check("restarted: ready", lambda: ready_v1(b))
    mb = {}

    def got_meanwhile():
        mb.update(msg_event(b, 20, "the mail that came meanwhile")["params"])
        return mb.get("message_id") == "<out-3@example.org>" or mb
    check("restarted: the mail that came meanwhile is delivered",
          got_meanwhile)
    check("restarted: nothing delivered twice (3 s)",
          lambda: b.none_within("message", 3))

    # dovecot restarted: the adapter reconnects and goes on.
    dovecot_stop(dv)

    def gone():
        b.event("error", 15, "the dropped link")
    check("dovecot gone: an error event", gone)
    time.sleep(0.5)
    dovecot_conf(idle=False)    # the next session polls
    dv = dovecot_start()
    deliver("""From: alice@example.org
To: bot@example.com
Subject: after restart
Message-ID: <again-4@example.org>

still there?
""")
    check("dovecot restarted (now without IDLE): reconnected, the next "
          "mail delivered by polling",
          lambda: msg_event(b, 40, "a mail after dovecot's restart")
          ["params"]["message_id"] == "<again-4@example.org>")
    ok("has no IDLE: polling" in b.log(),
       "without IDLE the adapter says it polls")
    check("EOF on stdin: exit 0 within 5 s", lambda: b.end("eof", 5))

    # A wrong password: an error event, then again after a backoff.
    c = Adapter("email-c", base_env(EMAIL_PASSWORD="wrong-pass",
                                    EMAIL_IMAP_SECURITY="tls",
                                    EMAIL_IMAP_PORT=str(IMAPS_PORT)))
    times = []

    def refused():
        c.ready()
        for _ in range(2):
            c.event("error", 20, "the refused login",
                    lambda f: "refused the login" in f["params"]["message"])
            times.append(time.monotonic())
        return True
    check("wrong password (IMAPS): an error event, again after a backoff",
          refused)
    ok(len(times) == 2 and times[1] - times[0] >= 0.3,
       "the retry waits the backoff", times)
    # The same wrong password at the SMTP server: said, retried, given up.
    send_cmd(c, "alice@example.org", "never sent", display_name="A")

    def smtp_refused():
        c.event("error", 15, "the SMTP login refused",
                lambda f: "SMTP server refused the login" in
                f["params"]["message"])
    check("SMTP refuses the login: an error event", smtp_refused)

    def given_up():
        c.event("error", 30, "the mail given up",
                lambda f: "gave up sending" in f["params"]["message"])
    check("... retried with backoff, given up after 3 tries", given_up)
    ok(CAP.mails.empty(), "nothing reached the SMTP server's mailbox")
    logtxt = c.log() + a.log()
    ok("wrong-pass" not in logtxt and "s3cret-pass" not in logtxt,
       "no password in the adapters' logs")
    check("shutdown while backing off: exit 0 within 5 s",
          lambda: c.end("shutdown", 5))
    ok(not a.bad and not b.bad and not c.bad, "stdout carries frames only",
       a.bad + b.bad + c.bad)
    smtpd.stop()
    dovecot_stop(dv)


if __name__ == "__main__":
    # Imported (tests/channels/e2e_peer.py), only the servers' setup runs.
    run(main)
