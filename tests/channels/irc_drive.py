#!/usr/bin/env python3
"""irc_drive.py - drives channel-irc against a real ngircd.

Plays the daemon's side of the sidecar protocol (spec/notes/protocols.md
1.3) on the adapter's stdin/stdout, and a user ("alice") over a plain IRC
socket.  Prints TAP ("ok - desc" / "not ok - desc", numbered by the
caller, t8050) and "# ..." diagnostics.  Every wait is bounded and says
what it waited for; every process it starts is stopped when it ends,
however it ends.

The plumbing (TAP, the adapter's pipes and frames, processes, ports)
is drivelib.py's; the IRC user, ngircd and the scenario are here.

usage: irc_drive.py ADAPTER_BIN WORKDIR [LOGDIR]
(LOGDIR, default WORKDIR, gets irc-*.log: each adapter's stderr, ngircd's)
"""
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import drivelib
from drivelib import (check, free_port, ok, run, self_signed, send_cmd,
                      start_server, stop_server)
from drivelib import cleanup  # noqa: F401 - e2e_peer.py calls d.cleanup()

ADAPTER, WORK = sys.argv[1], sys.argv[2]
LOGS = sys.argv[3] if len(sys.argv) > 3 else WORK
NGIRCD = os.environ.get("NGIRCD", "/usr/sbin/ngircd")


# ---- ngircd ---------------------------------------------------------------

PORT = free_port()
TLS_PORT = free_port()
CONF = os.path.join(WORK, "ngircd.conf")
CERT = os.path.join(WORK, "cert.pem")
KEY = os.path.join(WORK, "key.pem")


def ngircd_conf():
    # A self-signed certificate for localhost, for the TLS listener,
    # its key read by ngircd whoever it runs as.
    self_signed(CERT, KEY)
    uid = ""
    if os.getuid() == 0:
        # Root starts it; it runs as nobody once the port is bound.
        uid = "ServerUID = 65534\nServerGID = 65534\n"
    with open(CONF, "w") as f:
        f.write(f"""[Global]
Name = irc.test
Info = LibreFang test server
Listen = 127.0.0.1
Ports = {PORT}
MotdPhrase = test
PidFile = {WORK}/ngircd.pid
{uid}
[Limits]
MaxConnectionsIP = 0
MaxNickLength = 30
PingTimeout = 300
[Options]
PAM = no
DNS = no
Ident = no
[SSL]
CertFile = {CERT}
KeyFile = {KEY}
Ports = {TLS_PORT}
""")


def ngircd_start():
    return start_server("ngircd", [NGIRCD, "-n", "-f", CONF], PORT, 15,
                        os.path.join(LOGS, "irc-ngircd.log"))


def ngircd_stop(p):
    stop_server(p, 10)

# ---- an IRC user ----------------------------------------------------------


class User:
    def __init__(self, nick):
        self.nick = nick
        self.s = socket.create_connection(("127.0.0.1", PORT), 5)
        self.s.settimeout(0.2)
        self.buf = b""
        self.lines = []       # every line received, as bytes
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")
        self.wait(lambda l: b" 001 " in l, 10, f"{nick}'s welcome (001)")

    def send(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.s.sendall(line + b"\r\n")

    def poll(self):
        try:
            data = self.s.recv(65536)
        except socket.timeout:
            return
        except OSError:
            data = b""
        if not data:
            raise ConnectionError(f"{self.nick}: connection closed")
        self.buf += data
        while b"\r\n" in self.buf:
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line.startswith(b"PING"):
                self.send(b"PONG" + line[4:])
            self.lines.append(line)

    def wait(self, pred, secs, what):
        """The first line (new or already seen) matching pred, consumed."""
        end = time.monotonic() + secs
        while True:
            for i, l in enumerate(self.lines):
                if pred(l):
                    del self.lines[i]
                    return l
            if time.monotonic() >= end:
                raise TimeoutError(f"{self.nick} waited {secs} s for {what}")
            self.poll()

    def names(self, chan, secs, want):
        """Polls NAMES chan until a nick for which want(nick) is true is
        in it; that nick."""
        end = time.monotonic() + secs
        while time.monotonic() < end:
            self.send(f"NAMES {chan}")
            nicks = []
            while True:
                l = self.wait(lambda l: (b" 353 " in l or b" 366 " in l)
                              and f" {chan} ".encode() in l, 10,
                              f"the NAMES of {chan}")
                if b" 366 " in l:
                    break
                nicks += [n.lstrip("@+%~&") for n in
                          l.split(b" :", 1)[1].decode().split()]
            for n in nicks:
                if want(n):
                    return n
            time.sleep(0.3)
        raise TimeoutError(f"{self.nick}: no wanted nick in {chan} "
                           f"within {secs} s")

    def collect(self, pred, n, secs, what):
        return [self.wait(pred, secs, what) for _ in range(n)]

    def close(self):
        try:
            self.send("QUIT :bye")
        except OSError:
            pass
        self.s.close()

# ---- the adapter, with us as its daemon -------------------------------------


class Adapter(drivelib.Adapter):
    BIN, LOGS, PREFIX = ADAPTER, LOGS, "IRC_"


def base_env(nick, **kw):
    env = {"IRC_SERVER": "127.0.0.1", "IRC_PORT": str(PORT),
           "IRC_NICK": nick, "IRC_CHANNELS": "#test, #ops",
           "IRC_ALLOW_LOOPBACK": "1", "IRC_FLOOD_INTERVAL_MS": "100",
           "IRC_FLOOD_BURST": "5", "IRC_NICK_RECLAIM_SECS": "1"}
    env.update(kw)
    return env


# ---- a server with SASL (ngircd has none) ----------------------------------


class SaslServer:
    """A minimal IRCv3 server on loopback: CAP LS (sasl, message-tags),
    CAP REQ acked, AUTHENTICATE PLAIN, 903 or 904, the welcome after CAP
    END and a message with a msgid tag.  Records what the client sent."""

    def __init__(self, user, password):
        self.want = f"{user}\0{user}\0{password}".encode()
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4)
        self.ls.settimeout(15)
        self.port = self.ls.getsockname()[1]
        self.got = []
        self.creds = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import base64
        try:
            c, _ = self.ls.accept()
        except OSError:
            return
        c.settimeout(15)
        f = c.makefile("rb")
        nick = "?"
        for raw in f:
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            self.got.append(line)
            out = []
            if line.startswith("CAP LS"):
                # Two lines, the first saying more follow.
                out.append(":fake CAP * LS * :multi-prefix sasl=PLAIN")
                out.append(":fake CAP * LS :message-tags server-time")
            elif line.startswith("CAP REQ :"):
                out.append(":fake CAP * ACK :" + line[9:])
            elif line == "AUTHENTICATE PLAIN":
                out.append("AUTHENTICATE +")
            elif line.startswith("AUTHENTICATE "):
                self.creds = base64.b64decode(line.split(" ", 1)[1])
                out.append(":fake 903 * :SASL authentication successful"
                           if self.creds == self.want else
                           ":fake 904 * :SASL authentication failed")
            elif line.startswith("NICK "):
                nick = line.split(" ", 1)[1]
            elif line == "CAP END":
                out.append(f":fake 001 {nick} :Welcome")
                # With message-tags, a message carries its msgid.
                out.append("@msgid=m-42;time=2026-01-01T00:00:00.000Z "
                           f":bob!b@h PRIVMSG {nick} :tagged")
            elif line.startswith("QUIT"):
                break
            for o in out:
                c.sendall(o.encode() + b"\r\n")
        c.close()

# ---- the scenario -----------------------------------------------------------


def main():
    ngircd_conf()
    ng = ngircd_start()
    # Someone already holds the nick: the adapter must find another.
    squatter = User("fang")
    alice = User("alice")
    alice.send("JOIN #test")
    alice.wait(lambda l: b" 366 " in l, 10, "the end of #test's NAMES")

    a = Adapter("irc-main", base_env("fang"))
    st = {}

    def ready_repeated():
        r1 = a.event("ready", 10)
        p = r1.get("params") or {}
        ok(p.get("protocol_version") == 1 and p.get("capabilities") == [],
           "ready carries protocol_version 1 and its capabilities", r1)
        t1 = time.monotonic()
        a.event("ready", 5, "a second ready, not acked yet")
        st["gap"] = time.monotonic() - t1
        a.send({"method": "ready_ack"})
        return 1.0 <= st["gap"] <= 4.5 or st["gap"]
    check("ready is sent again about 2 s later until ready_ack", ready_repeated)

    def collision():
        j = alice.wait(lambda l: b" JOIN " in l and l.startswith(b":fang"),
                       20, "the adapter's JOIN of #test")
        st["nick"] = j[1:].split(b"!", 1)[0].decode()
        return st["nick"] == "fang_" or st["nick"]
    check("nick taken: the adapter registers as fang_ and joins #test",
          collision)
    squatter.close()

    def reclaim():
        l = alice.wait(lambda l: l.startswith(b":fang_!") and b" NICK " in l,
                       10, "the adapter taking its own nick back")
        return l.split(b" ", 2)[2].lstrip(b":") == b"fang" or l
    check("the nick's holder gone: the adapter takes it back "
          "(IRC_NICK_RECLAIM_SECS)", reclaim)
    nick = "fang"
    # Figures, not a check: the adapter's memory, idle and connected
    # (issue 13: 2 MB PSS per adapter process at most).
    print(f"# channel-irc idle and connected: {a.pss()}", flush=True)

    def dm():
        alice.send(f"PRIVMSG {nick} :hello there")
        m = a.event("message", 10, "the DM")["params"]
        want = {"user_id": "alice", "user_name": "alice",
                "username": "alice", "text": "hello there",
                "content": {"Text": "hello there"}, "channel_id": "alice",
                "platform": "irc"}
        got = {k: m.get(k) for k in want}
        return (got == want and not m.get("is_group") and
                m["metadata"]["was_mentioned"] is False) or m
    check("a DM arrives as a message event with the right fields", dm)

    def command():
        alice.send(f"PRIVMSG {nick} :/status now  please")
        m = a.event("message", 10, "the /command DM")["params"]
        return m.get("content") == {"Command": {
            "name": "status", "args": ["now", "please"]}} and \
            m.get("text") == "/status now  please" or m
    check("a /command DM carries Command content", command)

    def group():
        alice.send("PRIVMSG #test :just chatting, nobody in particular")
        alice.send(f"PRIVMSG #test :\x02{nick}\x02: what time is it?")
        m = a.event("message", 10, "the channel mention")["params"]
        return (m.get("is_group") is True and m.get("channel_id") == "#test"
                and m.get("text") == "what time is it?" and
                m["metadata"]["was_mentioned"] is True and
                m.get("user_id") == "alice") or m
    check("a channel message that names the bot (in bold) arrives as "
          "is_group, addressed text stripped; one that does not is not "
          "forwarded",
          group)

    def latin1():
        alice.send(f"PRIVMSG {nick} :caf".encode() + b"\xe9 \x02bold\x02")
        m = a.event("message", 10, "the Latin-1 DM")["params"]
        return m.get("text") == "café bold" or m
    check("Latin-1 text becomes UTF-8, formatting codes removed", latin1)

    def say_dm():
        send_cmd(a, "alice", "hi alice")
        l = alice.wait(lambda l: b" PRIVMSG alice :" in l, 10, "the reply")
        return l.startswith(f":{nick}!".encode()) and \
            l.endswith(b"PRIVMSG alice :hi alice") or l
    check("send to a nick arrives as a PRIVMSG to that user", say_dm)

    def say_channel():
        send_cmd(a, "#test", "line one\nline two")
        ls = alice.collect(lambda l: b" PRIVMSG #test :" in l, 2, 10,
                           "two channel lines")
        return [l.split(b" :", 1)[1] for l in ls] == \
            [b"line one", b"line two"] or ls
    check("send to a channel: one PRIVMSG per line of text", say_channel)

    def long_send():
        unit = "word élan 😀 " + "x" * 20 + " "
        text = (unit * 60).strip()          # about 2.4 KB, multibyte
        send_cmd(a, "alice", text)
        # Every break falls on a space here, which is left out.
        got, parts = b"", []
        while len(got) < len(text.encode()):
            l = alice.wait(lambda l: b" PRIVMSG alice :" in l, 15,
                           f"the long reply's parts ({len(parts)} so far)")
            if len(l) + 2 > 512:
                return f"a line of {len(l) + 2} bytes: {l[:80]!r}"
            piece = l.split(b" :", 1)[1]
            piece.decode("utf-8")           # raises if split in a char
            parts.append(piece)
            got = b" ".join(parts)
        st["parts"] = len(parts)
        return (got.decode() == text and len(parts) >= 5) or \
            f"{len(parts)} parts, equal: {got.decode() == text}"
    check("a long send is split into lines of at most 512 bytes, never "
          "inside a UTF-8 sequence or a word, that add up to the text",
          long_send)
    print(f"# the long send came in {st.get('parts')} lines", flush=True)

    def garbage():
        a.send(b"\x00\xff\xfe garbage\n")
        a.send(b"[1, 2, 3]\n")
        a.send(b'{"method": "send"}\n')
        a.send(b'{"method": "send", "params": {"channel_id": 5}}\n')
        a.send(b'{"method": "no_such_method", "params": {"x": 1}}\n')
        a.send(b'{"method": "heartbeat"}\n')
        a.send(b'{"method": "typing", "params": {"channel_id": "alice"}}\n')
        a.send(b"{" + b'"x": "' + b"y" * (2 * 1024 * 1024) + b'"}\n')
        alice.send(f"PRIVMSG {nick} :still there?")
        m = a.event("message", 10, "a DM after the garbage")["params"]
        send_cmd(a, "alice", "yes")
        alice.wait(lambda l: l.endswith(b"PRIVMSG alice :yes"), 10,
                   "the reply after the garbage")
        return (m.get("text") == "still there?" and a.p.poll() is None) or m
    check("garbage, unknown methods and a 2 MiB line on stdin are ignored; "
          "it still works", garbage)

    def bad_target():
        send_cmd(a, "alice\r\nQUIT :injected", "x")
        e = a.event("error", 10, "the bad target's error")["params"]
        send_cmd(a, "nobody_here", "hello?")
        e2 = a.event("error", 10, "the undeliverable send's error")["params"]
        send_cmd(a, "alice", "still here")
        alice.wait(lambda l: l.endswith(b"PRIVMSG alice :still here"), 10,
                   "a send after the bad ones")
        return ("not a nick" in e.get("message", "") and
                "nobody_here" in e2.get("message", "") and
                a.p.poll() is None) or (e, e2)
    check("a send to a target with CRLF is refused (no injection); one to "
          "a missing nick is an error event naming it; it goes on", bad_target)

    # The server goes away and comes back: reconnect, rejoin both channels.
    alice.s.close()
    ngircd_stop(ng)
    time.sleep(0.5)
    ng = ngircd_start()

    def rejoin():
        u = User("alice")
        st["alice"] = u
        u.send("JOIN #test")
        # The adapter is back under its own nick (the squatter is gone),
        # in both its channels.
        n1 = u.names("#test", 30, lambda n: n.startswith("fang"))
        n2 = u.names("#ops", 10, lambda n: n == n1)
        st["nick2"] = n1
        return n1 == n2 or (n1, n2)
    check("ngircd killed and restarted: the adapter reconnects and rejoins "
          "#test and #ops", rejoin)
    alice = st.get("alice")

    def after_restart():
        n = st.get("nick2", "fang")
        alice.send(f"PRIVMSG {n} :back?")
        m = a.event("message", 10, "a DM after the restart")["params"]
        return m.get("text") == "back?" or m
    check("after the restart a DM arrives again", after_restart)

    check("shutdown: exit 0 within a second", lambda: a.end("shutdown"))
    ok(not a.bad, "stdout carried frames only", a.bad[:3])

    # Another adapter: SASL asked of a server without it; then EOF.
    b = Adapter("irc-eof", base_env("fang2", IRC_SASL_USER="fang2",
                                    IRC_SASL_PASSWORD="s3cret-pass",
                                    IRC_CHANNELS="#ops",
                                    IRC_FLOOD_BURST="2",
                                    IRC_FLOOD_INTERVAL_MS="400"))

    def sasl_nak():
        b.ready()
        e = b.event("error", 10, "the SASL error")["params"]
        alice.send("JOIN #ops")
        alice.wait(lambda l: l.startswith(b":fang2!") and b" JOIN " in l,
                   20, "fang2's JOIN of #ops")
        return "SASL" in e.get("message", "") or e
    check("SASL asked of a server without it: an error event, then it "
          "registers all the same", sasl_nak)

    def flood():
        t0 = time.monotonic()
        send_cmd(b, "alice", "\n".join(f"f{i}" for i in range(1, 7)))
        got = [alice.wait(lambda l: l.startswith(b":fang2!") and
                          b" PRIVMSG alice :f" in l, 15,
                          f"fang2's line {i}").split(b" :", 1)[1]
               for i in range(1, 7)]
        st["flood"] = time.monotonic() - t0
        # 2 at once, then one per 400 ms: 1.6 s at least for the rest.
        return (got == [f"f{i}".encode() for i in range(1, 7)] and
                st["flood"] >= 1.5) or (got, st["flood"])
    check("flood control: a burst of 2, then one line per 400 ms, in order",
          flood)
    print(f"# six lines at burst 2, 400 ms: {st.get('flood', 0):.2f} s",
          flush=True)

    check("EOF on stdin: exit 0 within a second", lambda: b.end("eof"))

    def no_secret_in_log():
        return "s3cret-pass" not in b.log() or "it is in irc-eof.log"
    check("the SASL password is not in the adapter's log", no_secret_in_log)

    # No allow-loopback switch: the loopback server is refused.
    c = Adapter("irc-refused", {k: v for k, v in base_env("fang3").items()
                                if k != "IRC_ALLOW_LOOPBACK"})

    def refused():
        e = c.event("error", 10, "the refusal")["params"]
        c.p.stdin.close()
        rc, _ = c.exit_within(5)
        return ("refused" in e.get("message", "") and rc == 0) or (e, rc)
    check("a loopback server without IRC_ALLOW_LOOPBACK: refused with an "
          "error event, and EOF still ends it cleanly", refused)

    # TLS, the certificate verified against the test's own CA file.
    t = Adapter("irc-tls", base_env("tlsfang", IRC_SERVER="localhost",
                                    IRC_PORT=str(TLS_PORT), IRC_TLS="1",
                                    IRC_TLS_CA_FILE=CERT,
                                    IRC_CHANNELS="#ops"))

    def tls():
        t.ready()
        alice.wait(lambda l: l.startswith(b":tlsfang!") and b" JOIN " in l,
                   20, "tlsfang's JOIN of #ops over TLS")
        alice.send("PRIVMSG tlsfang :over tls")
        m = t.event("message", 10, "a DM over TLS")["params"]
        send_cmd(t, "alice", "secure reply")
        alice.wait(lambda l: l.endswith(b"PRIVMSG alice :secure reply"), 10,
                   "the reply over TLS")
        t.send({"method": "shutdown"})
        rc, _ = t.exit_within(5)
        return (m.get("text") == "over tls" and rc == 0) or (m, rc)
    check("TLS with the certificate verified: DM in, reply out", tls)

    # The same certificate, not trusted: a clear error, no session.
    u = Adapter("irc-tls-untrusted", base_env(
        "tlsfang2", IRC_SERVER="localhost", IRC_PORT=str(TLS_PORT),
        IRC_TLS="1", IRC_CHANNELS="#ops"))

    def untrusted():
        e = u.event("error", 15, "the certificate error")["params"]
        u.p.stdin.close()
        rc, _ = u.exit_within(5)
        return ("certificate verify failed" in e.get("message", "") and
                rc == 0) or (e, rc)
    check("TLS with an untrusted certificate: an error event naming it",
          untrusted)

    # No CA file: the system's trust anchors, read from the hashed
    # directory (ad_conn.c loads only the issuer a handshake asks for);
    # here a directory of the test's own, named by SSL_CERT_DIR.
    cadir = os.path.join(WORK, "cadir")
    os.makedirs(cadir, exist_ok=True)
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", CERT],
                       capture_output=True, text=True).stdout.strip()
    shutil.copy(CERT, os.path.join(cadir, h + ".0"))
    v = Adapter("irc-tls-dir", base_env(
        "tlsfang3", IRC_SERVER="localhost", IRC_PORT=str(TLS_PORT),
        IRC_TLS="1", IRC_CHANNELS="#ops", SSL_CERT_DIR=cadir))

    def tls_dir():
        v.ready()
        alice.wait(lambda l: l.startswith(b":tlsfang3!") and b" JOIN " in l,
                   20, "tlsfang3's JOIN of #ops over TLS")
        v.send({"method": "shutdown"})
        rc, _ = v.exit_within(5)
        return rc == 0 or rc
    check("TLS verified against the system's hashed CA directory "
          "(SSL_CERT_DIR), no CA file", tls_dir)

    def sasl(password, want_ok):
        srv = SaslServer("fangbot", "right-pass")
        x = Adapter("irc-sasl", base_env(
            "saslfang", IRC_PORT=str(srv.port), IRC_SASL_USER="fangbot",
            IRC_SASL_PASSWORD=password, IRC_CHANNELS=""))
        x.ready()
        end = time.monotonic() + 15
        while not any(g.startswith("JOIN") or g == "CAP END"
                      for g in srv.got) and time.monotonic() < end:
            time.sleep(0.05)
        msg = x.event("message", 10, "the tagged message")["params"]
        errors = [f["params"]["message"] for f in x.skipped
                  if f["method"] == "error"]
        x.send({"method": "shutdown"})
        x.exit_within(5)
        order = [g.split(" ")[0] + (" " + g.split(" ")[1]
                                    if g.startswith(("CAP", "AUTH")) else "")
                 for g in srv.got if not g.startswith("QUIT")]
        if msg.get("message_id") != "m-42" or msg.get("text") != "tagged":
            return ("message", msg)
        if want_ok:
            return (srv.creds == b"fangbot\0fangbot\0right-pass" and
                    not errors and order[:2] == ["CAP LS", "NICK"] and
                    "CAP REQ" in order and "CAP END" in order and
                    order.index("AUTHENTICATE PLAIN") <
                    order.index("CAP END")) or (order, errors, srv.creds)
        return any("SASL login failed" in e for e in errors) or \
            (order, errors)
    check("SASL PLAIN: CAP LS over two lines, the credentials sent as "
          "authzid NUL authcid NUL password, CAP END after 903; a msgid "
          "tag becomes message_id", lambda: sasl("right-pass", True))
    check("SASL PLAIN refused (904): an error event",
          lambda: sasl("wrong-pass", False))

    # A configuration it cannot run with: an error event, exit 1.
    d = Adapter("irc-badconf", {"IRC_SERVER": "127.0.0.1",
                                "IRC_NICK": "bad nick"})

    def badconf():
        e = d.event("error", 10, "the configuration error")
        rc, _ = d.exit_within(5)
        return rc == 1 or (e, rc)
    check("a bad IRC_NICK: an error event and exit 1", badconf)

    alice.close()
    ngircd_stop(ng)
    print(f"# shutdown took {a.took or 0:.3f} s, EOF {b.took or 0:.3f} s",
          flush=True)


if __name__ == "__main__":
    run(main)
