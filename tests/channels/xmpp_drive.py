#!/usr/bin/env python3
"""xmpp_drive.py - drives channel-xmpp against a real prosody.

Plays the daemon's side of the sidecar protocol (spec/notes/protocols.md
1.3) on the adapter's stdin/stdout, and a user ("alice") with slixmpp
(Debian's python3-slixmpp), in a room of prosody's MUC component.
Prosody runs unprivileged-style from a config this script writes under
WORKDIR (its own data dir, a self-signed certificate, free loopback
ports); its accounts are made with prosodyctl --config.  Prints TAP
("ok - desc" / "not ok - desc", numbered by the caller, t8070) and
"# ..." diagnostics.  Every wait is bounded and says what it waited for;
every process it starts is stopped when it ends, however it ends.

usage: xmpp_drive.py ADAPTER_BIN WORKDIR [LOGDIR]
(LOGDIR, default WORKDIR, gets xmpp-*.log: each adapter's stderr,
prosody's)

The plumbing (TAP, the adapter's pipes and frames, processes, ports)
is drivelib.py's; prosody, the slixmpp user and the scenario are here.
"""
import asyncio
import logging
import os
import queue
import subprocess
import sys
import threading
import time

import slixmpp

import drivelib
from drivelib import (check, free_port, ok, run, self_signed, send_cmd,
                      start_server, stop_server, take)
from drivelib import cleanup  # noqa: F401 - e2e_peer.py calls d.cleanup()

ADAPTER, WORK = sys.argv[1], sys.argv[2]
LOGS = sys.argv[3] if len(sys.argv) > 3 else WORK
PROSODY = os.environ.get("PROSODY", "/usr/bin/prosody")
PROSODYCTL = os.environ.get("PROSODYCTL", "/usr/bin/prosodyctl")
ROOM = "room@conference.localhost"
logging.basicConfig(level=logging.CRITICAL)
# slixmpp's coroutines, left when a user's loop stops, complain as they
# are collected: noise, not results.
sys.unraisablehook = lambda unraisable: None


# ---- prosody ----------------------------------------------------------------

PORT = free_port()
DPORT = free_port()         # direct TLS (XEP-0368)
CONF = os.path.join(WORK, "prosody.cfg.lua")
CERT = os.path.join(WORK, "cert.pem")
KEY = os.path.join(WORK, "key.pem")
DATA = os.path.join(WORK, "data")


def prosody_conf():
    self_signed(CERT, KEY, "DNS:localhost,DNS:conference.localhost")
    os.makedirs(DATA, exist_ok=True)
    # Encryption offered, not required: the XMPP_TLS=off case needs the
    # plain stream; every other client asks for TLS itself.
    with open(CONF, "w") as f:
        f.write(f"""run_as_root = true
pidfile = "{WORK}/prosody.pid"
data_path = "{DATA}"
certificates = "{WORK}"
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {PORT} }}
c2s_direct_tls_ports = {{ {DPORT} }}
s2s_ports = {{}}
component_ports = {{}}
http_ports = {{}}
https_ports = {{}}
c2s_require_encryption = false
authentication = "internal_hashed"
modules_enabled = {{ "roster", "saslauth", "tls", "disco", "ping",
                    "offline" }}
modules_disabled = {{ "s2s" }}
log = {{ {{ levels = {{ min = "info" }}, to = "file",
         filename = "{LOGS}/xmpp-prosody.log" }} }}
ssl = {{ certificate = "{CERT}", key = "{KEY}" }}
muc_room_locking = false
VirtualHost "localhost"
Component "conference.localhost" "muc"
""")
    for user, pw in (("fang", "fangpass"), ("alice", "alicepass")):
        subprocess.run([PROSODYCTL, "--config", CONF, "register", user,
                        "localhost", pw], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def prosody_start():
    return start_server("prosody", [PROSODY, "--config", CONF, "-F"], PORT,
                        30, os.path.join(LOGS, "xmpp-prosody.out"))


def prosody_stop(p):
    stop_server(p, 15)

# ---- an XMPP user, slixmpp on its own thread --------------------------------


class User:
    """alice: slixmpp's client on a thread with its own event loop; what
    she receives goes to self.q as (kind, stanza) tuples."""

    def __init__(self, jid, password, room=None, nick=None):
        self.q = queue.Queue()
        self.seen = []
        self.started = threading.Event()
        self.room, self.nick = room, nick
        self.jid = jid
        self.loop = asyncio.new_event_loop()
        self.c = None
        t = threading.Thread(target=self._run, args=(jid, password),
                             daemon=True)
        t.start()
        if not self.started.wait(20):
            raise TimeoutError(f"{jid}: no session within 20 s")

    def _run(self, jid, password):
        asyncio.set_event_loop(self.loop)
        c = slixmpp.ClientXMPP(jid, password)
        c.register_plugin("xep_0045")
        c.register_plugin("xep_0085")
        c.register_plugin("xep_0199")
        c.ssl_context.load_verify_locations(CERT)
        c.add_event_handler("session_start", self._start)
        c.add_event_handler("message", lambda m: self.q.put(("chat", m)))
        c.add_event_handler("groupchat_message",
                            lambda m: self.q.put(("group", m)))
        c.add_event_handler("groupchat_presence",
                            lambda p: self.q.put(("presence", p)))
        c.add_event_handler("chatstate_composing",
                            lambda m: self.q.put(("composing", m)))
        self.c = c
        c.connect(address=("127.0.0.1", PORT), force_starttls=True)
        self.loop.run_forever()

    async def _start(self, _):
        self.c.send_presence()
        if self.room:
            self.c.plugin["xep_0045"].join_muc(self.room, self.nick,
                                               maxhistory="0")
        self.started.set()

    def call(self, fn, *args):
        self.loop.call_soon_threadsafe(fn, *args)

    def chat(self, to, body, mid=None, extra=None):
        def go():
            m = self.c.make_message(mto=to, mbody=body, mtype="chat")
            if mid:
                m["id"] = mid
            if extra is not None:
                m.append(extra)
            m.send()
        self.call(go)

    def run(self, fn, secs):
        """Awaits what fn() returns (a coroutine or a future of the
        client's) on its loop; its result."""
        async def go():
            return await fn()
        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(secs)

    def group(self, body):
        self.call(lambda: self.c.send_message(mto=self.room, mbody=body,
                                              mtype="groupchat"))

    def wait(self, pred, secs, what):
        """The first item, already seen or new, for which pred(kind,
        stanza) holds, consumed; the others stay for later waits."""
        for i, (kind, st) in enumerate(self.seen):
            if pred(kind, st):
                del self.seen[i]
                return st
        return take(self.q, lambda item: pred(*item), secs, what, self.jid,
                    self.seen)[1]

    def close(self):
        if self.c is not None:
            self.call(self.c.disconnect)
        time.sleep(0.3)
        self.loop.call_soon_threadsafe(self.loop.stop)

# ---- the adapter, with us as its daemon -------------------------------------


class Adapter(drivelib.Adapter):
    BIN, LOGS, PREFIX = ADAPTER, LOGS, "XMPP_"


def base_env(**kw):
    env = {"XMPP_JID": "fang@localhost", "XMPP_PASSWORD": "fangpass",
           "XMPP_SERVER": "127.0.0.1", "XMPP_PORT": str(PORT),
           "XMPP_TLS_CA_FILE": CERT, "XMPP_ROOMS": ROOM,
           "XMPP_ALLOW_LOOPBACK": "1", "XMPP_MAX_CHARS": "100"}
    env.update(kw)
    return env


def in_room(kind, st, nick="fang"):
    return kind == "presence" and st["from"].resource == nick and \
        st["type"] != "unavailable"


def from_bot(kind, st):
    return kind == "chat" and st["from"].bare == "fang@localhost" and \
        st["body"] != ""


def chat_until(alice, a, text, what):
    """alice chats text to the bot every 2 s until adapter a passes it
    on (a session just up may miss the first), 20 s at most; the
    message event."""
    end = time.monotonic() + 20
    while True:
        alice.chat("fang@localhost", text)
        try:
            return a.event("message", 2, what)
        except TimeoutError:
            if time.monotonic() > end:
                raise

# ---- the scenario -----------------------------------------------------------


def main():
    prosody_conf()
    pr = prosody_start()
    alice = User("alice@localhost", "alicepass", ROOM, "alice l")
    a = Adapter("xmpp-main", base_env(XMPP_NICK="fang",
                                      XMPP_JID="fang@localhost/bot"))
    st = {}

    def ready():
        r1 = a.ready()
        p = r1.get("params") or {}
        return (p.get("protocol_version") == 1 and
                p.get("capabilities") == ["typing"]) or r1
    check("ready carries protocol_version 1 and the typing capability",
          ready)

    def joined():
        alice.wait(in_room, 20, "fang's presence in the room")
    check("over STARTTLS (certificate verified against the JID's domain) "
          "the adapter logs in and joins the room as its nick", joined)
    print(f"# channel-xmpp idle and connected: {a.pss()}", flush=True)

    def chat():
        alice.chat("fang@localhost", "hello there", mid="u-1")
        m = a.event("message", 10, "the chat")["params"]
        want = {"user_id": "alice@localhost", "user_name": "alice",
                "text": "hello there", "content": {"Text": "hello there"},
                "channel_id": "alice@localhost", "platform": "xmpp",
                "message_id": "u-1"}
        got = {k: m.get(k) for k in want}
        return (got == want and not m.get("is_group")) or m
    check("a chat arrives as a message event: the bare JID, the stanza id",
          chat)

    def command():
        alice.chat("fang@localhost", "/status now  please")
        m = a.event("message", 10, "the /command chat")["params"]
        return m.get("content") == {"Command": {
            "name": "status", "args": ["now", "please"]}} or m
    check("a /command chat carries Command content", command)

    def stanza_id():
        from slixmpp.xmlstream import ET
        sid = ET.Element("{urn:xmpp:sid:0}stanza-id",
                         {"by": "fang@localhost", "id": "sid-7"})
        alice.chat("fang@localhost", "with a stanza-id", mid="u-2",
                   extra=sid)
        m1 = a.event("message", 10, "the chat with a stanza-id")["params"]
        other = ET.Element("{urn:xmpp:sid:0}stanza-id",
                           {"by": "evil@localhost", "id": "sid-8"})
        alice.chat("fang@localhost", "with another's", mid="u-3",
                   extra=other)
        m2 = a.event("message", 10, "the chat with another's")["params"]
        return (m1.get("message_id") == "sid-7" and
                m2.get("message_id") == "u-3") or (m1, m2)
    check("XEP-0359: the stanza-id stamped 'by' our JID is the message id; "
          "one by another entity is not", stanza_id)

    def group():
        alice.group("just chatting, nobody in particular")
        alice.group("fang: what time is it?")
        m = a.event("message", 10, "the room mention")["params"]
        return (m.get("is_group") is True and m.get("channel_id") == ROOM
                and m.get("user_id") == ROOM + "/alice l" and
                m.get("user_name") == "alice l" and
                m.get("text") == "what time is it?" and
                m["metadata"]["was_mentioned"] is True) or m
    check("a room message naming the nick arrives as is_group (address "
          "removed; the sender's nick has a space); one that does not is "
          "not forwarded", group)

    def say_chat():
        send_cmd(a, "alice@localhost", "hi alice")
        m = alice.wait(from_bot, 10, "the reply")
        return m["body"] == "hi alice" and m["type"] == "chat" or m
    check("send to a JID arrives as a chat message", say_chat)

    def say_room():
        send_cmd(a, ROOM, "hello room")
        m = alice.wait(lambda k, s: k == "group" and
                       s["from"].resource == "fang", 10, "the room reply")
        return m["body"] == "hello room" or m
    check("send to the room arrives as a groupchat message from the "
          "bot's nick (and its echo is not an event)", say_room)

    def long_send():
        unit = "word élan 😀 " + "x" * 20 + " "
        # 395 characters: 4 parts, 3 units (98 characters) in each, as
        # a fourth would pass 100.
        text = (unit * 12).strip()
        send_cmd(a, "alice@localhost", text)
        parts = []
        while len(" ".join(parts)) < len(text):
            m = alice.wait(from_bot, 10,
                           f"the long reply's parts ({len(parts)} so far)")
            if len(m["body"]) > 100:
                return f"a part of {len(m['body'])} characters"
            parts.append(m["body"])
        st["parts"] = len(parts)
        return (" ".join(parts) == text and len(parts) == 4) or parts
    check("a long send is split at XMPP_MAX_CHARS characters, at spaces, "
          "never inside a character, adding up to the text", long_send)
    print(f"# the long send came in {st.get('parts')} messages", flush=True)

    def typing():
        a.send({"method": "typing", "params": {
            "channel_id": "alice@localhost"}})
        alice.wait(lambda k, s: k == "composing" and
                   s["from"].bare == "fang@localhost", 10,
                   "the composing chat state")
    check("typing: a XEP-0085 composing chat state", typing)

    def controls():
        send_cmd(a, "alice@localhost", "bell\u0007 and \ufffe gone")
        send_cmd(a, "alice@localhost", "still up")
        m1 = alice.wait(from_bot, 10, "the message with controls")
        m2 = alice.wait(from_bot, 10, "the message after it")
        return (m1["body"] == "bell and  gone" and
                m2["body"] == "still up") or (m1["body"], m2["body"])
    check("characters XML cannot carry are left out (the stream "
          "survives)", controls)

    def iqs():
        from slixmpp.exceptions import IqError
        alice.run(lambda: alice.c.plugin["xep_0199"].send_ping(
            "fang@localhost/bot", timeout=5), 10)
        try:
            alice.run(lambda: alice.c.plugin["xep_0030"].get_info(
                jid="fang@localhost/bot", timeout=5), 10)
        except IqError as e:
            return e.condition == "service-unavailable" or e.condition
        return "disco#info was answered"
    check("an iq ping to the bot is answered; any other iq request gets "
          "service-unavailable", iqs)

    def garbage():
        a.send(b"\x00\xff\xfe garbage\n")
        a.send(b"[1, 2, 3]\n")
        a.send(b'{"method": "send"}\n')
        a.send(b'{"method": "no_such_method", "params": {"x": 1}}\n')
        a.send(b"{" + b'"x": "' + b"y" * (2 * 1024 * 1024) + b'"}\n')
        send_cmd(a, "alice@localhost' to='x", "injected?")
        e = a.event("error", 10, "the bad JID's error")["params"]
        send_cmd(a, "ghost@localhost", "anyone?")
        e2 = a.event("error", 10, "the undeliverable send's error")["params"]
        alice.chat("fang@localhost", "still there?")
        m = a.event("message", 10, "a chat after the garbage")["params"]
        return ("not a JID" in e.get("message", "") and
                "ghost@localhost" in e2.get("message", "") and
                m.get("text") == "still there?") or (e, e2, m)
    check("garbage on stdin is ignored; a send to a bad JID is refused, "
          "one to a missing user is an error event naming it", garbage)

    # prosody goes away and comes back: reconnect, rejoin.
    alice.close()
    prosody_stop(pr)
    time.sleep(0.5)
    pr = prosody_start()

    def reconnect():
        e = a.event("error", 20, "the connection's loss")["params"]
        # Queued while the link is down, sent once it is back (alice
        # gets it live or from prosody's offline store).
        send_cmd(a, "alice@localhost", "sent while down")
        u = User("alice@localhost", "alicepass", ROOM, "alice l")
        st["alice"] = u
        u.wait(in_room, 40, "fang back in the room")
        return "reconnecting" in e.get("message", "") or e
    check("prosody restarted: an error event, then the adapter reconnects "
          "and joins the room again", reconnect)
    alice = st.get("alice")

    def after_restart():
        alice.chat("fang@localhost", "back?")
        m = a.event("message", 10, "a chat after the restart")["params"]
        alice.wait(lambda k, s: from_bot(k, s) and
                   s["body"] == "sent while down", 10,
                   "the message sent while the link was down")
        send_cmd(a, ROOM, "back")
        alice.wait(lambda k, s: k == "group" and s["body"] == "back", 10,
                   "the room reply after the restart")
        return m.get("text") == "back?" or m
    check("after the restart chats arrive, the send queued while down "
          "arrives, room sends go out", after_restart)

    check("shutdown: exit 0 promptly", lambda: a.end("shutdown", 1.5))
    ok(not a.bad, "stdout carried frames only", a.bad[:3])

    # A wrong password: error events, with the backoff between tries.
    b = Adapter("xmpp-badpass", base_env(XMPP_PASSWORD="wrong-pass"))

    def bad_password():
        e1 = b.event("error", 20, "the failed login")["params"]
        t1 = time.monotonic()
        e2 = b.event("error", 20, "the second failed login")["params"]
        gap = time.monotonic() - t1
        t2 = time.monotonic()
        e3 = b.event("error", 20, "the third failed login")["params"]
        t3 = time.monotonic()
        b.event("error", 20, "the fourth failed login")
        # The backoff: about 0.5 s, 1 s, 2 s (20 % jitter below); each
        # gap also holds one login's time, about the same each try.
        gap2 = time.monotonic() - t3
        st["gaps"] = (round(gap, 2), round(t3 - t2, 2), round(gap2, 2))
        leaked = "wrong-pass" in b.log()
        return ("login was refused" in e1.get("message", "") and
                "reconnecting in" in e1.get("message", "") and
                gap2 - gap > 0.8 and not leaked) or (e1, e2, e3, gap, gap2,
                                                    leaked)
    check("a wrong password: an error event per try, the backoff growing; "
          "the password never in the log", bad_password)
    print("# gaps between failed logins: %s" % (st.get("gaps"),), flush=True)

    check("EOF on stdin: exit 0 promptly", lambda: b.end("eof", 1.5))

    # Plain XMPP, allowed only with XMPP_ALLOW_INSECURE.
    c = Adapter("xmpp-plain", base_env(XMPP_TLS="off",
                                       XMPP_ALLOW_INSECURE="1",
                                       XMPP_ROOMS=""))

    def plain():
        c.ready()
        time.sleep(0.2)
        m = chat_until(alice, c, "plain?", "the chat over plain XMPP")
        return m["params"].get("text") == "plain?" or m
    check("XMPP_TLS=off with XMPP_ALLOW_INSECURE: a plain session works",
          plain)
    c.end()

    t = Adapter("xmpp-direct", base_env(XMPP_TLS="direct",
                                        XMPP_PORT=str(DPORT),
                                        XMPP_NICK="fang2",
                                        XMPP_GROUP_POLICY="all"))

    def direct():
        t.ready()
        m = chat_until(alice, t, "direct?", "the chat over direct TLS")
        return m["params"].get("text") == "direct?" or m
    check("XMPP_TLS=direct: TLS on connect (XEP-0368), verified", direct)

    def group_all():
        alice.wait(lambda k, s: in_room(k, s, "fang2"), 20,
                   "fang2's presence in the room")
        alice.group("no names here")
        m = t.event("message", 10, "the room message, policy all")
        p = m["params"]
        return (p.get("text") == "no names here" and p.get("is_group") and
                p["metadata"]["was_mentioned"] is False) or p
    check("XMPP_GROUP_POLICY=all: a room message that names nobody "
          "arrives too", group_all)
    t.end()

    d = Adapter("xmpp-insecure", base_env(XMPP_TLS="off"))

    def insecure_refused():
        d.event("error", 10, "the refused configuration")
        rc, _ = d.exit_within(5)
        return rc == 1 or rc
    check("XMPP_TLS=off without XMPP_ALLOW_INSECURE: refused, exit 1",
          insecure_refused)

    g = Adapter("xmpp-untrusted", base_env(XMPP_TLS_CA_FILE=""))

    def untrusted():
        e = g.event("error", 20, "the untrusted certificate's error")
        return "not trusted" in e["params"].get("message", "") or e
    check("a certificate the CA file does not vouch for: no session, an "
          "error event", untrusted)
    g.end()

    h = Adapter("xmpp-noloop", base_env(XMPP_ALLOW_LOOPBACK=""))

    def no_loopback():
        e = h.event("error", 10, "the loopback refusal")
        return "allow-loopback" in e["params"].get("message", "") or e
    check("a loopback server without XMPP_ALLOW_LOOPBACK is refused",
          no_loopback)
    h.end()

    alice.close()
    prosody_stop(pr)


if __name__ == "__main__":
    run(main)
