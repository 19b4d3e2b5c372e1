#!/usr/bin/env python3
"""mattermost_drive.py - drives channel-mattermost against
mattermost_server.mjs.

Plays the daemon's side of the sidecar protocol (spec/notes/protocols.md
1.3) on the adapter's stdin/stdout, and the Mattermost side through
tests/channels/mattermost_server.mjs (the REST API v4 and the WebSocket
API, as Mattermost documents them, with faults on demand and a record of
both): GET /users/me with the token, the WebSocket's
authentication_challenge (with the token on the upgrade too) and hello,
DM, channel and thread posts and a
/command as message events with Mattermost's ids, the bot's own posts
and system messages skipped, posts (in a thread: root_id) cut at 16383
characters, typing (user_typing), reactions by emoji name, 429 (Retry-After,
X-Ratelimit-Reset), 5xx retried, a 403 reported, the ping action and a
ping unanswered, a drop and a missed event resumed with
connection_id/sequence_number (what was said meanwhile arrives once), a
connection the server forgot, the token refused on the WebSocket, an
upgrade without its Authorization (the challenge alone), a refused
handshake, the server restarted, a bad token, PSS, shutdown and
EOF.  Prints TAP ("ok - desc" / "not ok - desc", numbered by the
caller, t8150) and "# ..." diagnostics.  Every wait is bounded and says
what it waited for; every process it starts is stopped when it ends,
however it ends.

usage: mattermost_drive.py ADAPTER_BIN WORKDIR [LOGDIR]
(LOGDIR, default WORKDIR, gets mattermost-*.log: each adapter's stderr,
the server's)

The plumbing (TAP, the adapter's pipes and frames, processes) is
drivelib.py's; the server, its users and the scenario are here.
"""
import json
import os
import sys
import time

import drivelib
from drivelib import check, ok, run, send_cmd, wait_count
from drivelib import cleanup  # noqa: F401 - e2e_peer.py calls d.cleanup()

ADAPTER, WORK = sys.argv[1], sys.argv[2]
LOGS = sys.argv[3] if len(sys.argv) > 3 else WORK
HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_JS = os.path.join(HERE, "mattermost_server.mjs")
NODE = os.environ.get("NODE", "node")
TOKEN = "9xuqwrwgstrb3mzrxb83nb357a"
# Mattermost's ids: 26 of [a-z0-9].
ALICE = "a11cea11cea11cea11cea11ce1"
BOB = "b0bb0bb0bb0bb0bb0bb0bb0bb1"
DM = "dmdmdmdmdmdmdmdmdmdmdmdm01"       # alice's DM with the bot
TOWN = "t0wnt0wnt0wnt0wnt0wnt0wn01"     # a public channel
PRIV = "pr1vpr1vpr1vpr1vpr1vpr1v01"     # a private one
PING_SECS = 1


# ---- the Mattermost side -----------------------------------------------------


class Server(drivelib.FakeServer):
    """mattermost_server.mjs on 127.0.0.1 (port 0: any free one); the
    bot's user id and username are the ones it says with its port."""

    def __init__(self, port=0):
        super().__init__("mattermost_server.mjs",
                         [NODE, SERVER_JS, "--port", str(port), "--token",
                          TOKEN], 20,
                         os.path.join(LOGS, "mattermost-server.log"))
        self.bot_id = self.hello["bot_id"]
        self.bot_username = self.hello["bot_username"]

    def say(self, text, channel=DM, ctype="D", uid=ALICE, username="alice",
            root=None, mentions=(), ptype=None, channel_name=None):
        s = {"channel_id": channel, "channel_type": ctype, "user_id": uid,
             "username": username, "message": text,
             "mentions": list(mentions)}
        if root:
            s["root_id"] = root
        if ptype:
            s["type"] = ptype
        if channel_name:
            s["channel_name"] = channel_name
        return self.req("POST", "/__say", s)

    def say_when_up(self, text, secs=30, **kw):
        """say(), once the server has a connection to say it to."""
        end = time.monotonic() + secs
        while True:
            r = self.say(text, **kw) or {}
            if "id" in r:
                return r
            if time.monotonic() > end:
                raise TimeoutError("no WebSocket connection within "
                                   f"{secs} s")
            time.sleep(0.2)

    def fault(self, kind, **kw):
        return self.req("POST", "/__fault", dict(kind=kind, **kw))

    def calls(self, since=0, method=None, sub=""):
        return [c for c in self.req("GET", "/__calls") or []
                if c["n"] > since and (method is None or
                                       c["method"] == method) and
                sub in c["path"]]

    def last_call(self):
        c = self.req("GET", "/__calls") or []
        return c[-1]["n"] if c else 0

    def ws(self, what=None, since=0, action=None):
        return [e for e in self.req("GET", "/__ws") or []
                if e["n"] > since and (what is None or e["what"] == what) and
                (action is None or e.get("action") == action)]

    def last_ws(self):
        g = self.req("GET", "/__ws") or []
        return g[-1]["n"] if g else 0

    def wait(self, fn, n, secs, what):
        return wait_count(fn, n, secs, what)

    def wait_ws(self, what, n, secs, since=0, action=None):
        return self.wait(lambda: self.ws(what, since, action), n, secs,
                         action or what)

    def wait_calls(self, n, secs, since=0, method=None, sub=""):
        return self.wait(lambda: self.calls(since, method, sub), n, secs,
                         f"{method or ''} {sub} calls")

    def posts(self, since=0):
        """The bodies of the POST /posts calls after call since."""
        return [json.loads(c["body"]) for c in
                self.calls(since, "POST", "/posts")]

# ---- the adapter, with us as its daemon -------------------------------------


class Adapter(drivelib.Adapter):
    BIN, LOGS, PREFIX = ADAPTER, LOGS, "MATTERMOST_"


def base_env(port, **kw):
    env = {"MATTERMOST_TOKEN": TOKEN,
           "MATTERMOST_SERVER_URL": f"http://127.0.0.1:{port}",
           "MATTERMOST_ALLOW_LOOPBACK": "1"}
    env.update(kw)
    return env

# ---- the scenario -----------------------------------------------------------


def main():
    srv = Server()
    a = Adapter("mattermost-main", base_env(
        srv.port, MATTERMOST_PING_SECS=str(PING_SECS),
        MATTERMOST_ALLOWED_CHANNELS=f"town-square, {PRIV}"))
    st = {}

    def ready():
        r = a.ready()
        p = r.get("params") or {}
        return (p.get("protocol_version") == 1 and
                p.get("capabilities") == ["typing", "reaction",
                                          "thread"]) or r
    check("ready: protocol_version 1, capabilities typing, reaction, "
          "thread", ready)

    def connect():
        me = srv.wait_calls(1, 10, method="GET", sub="/users/me")[0]
        h = srv.wait_ws("hello", 1, 10)[0]
        c = srv.ws("connect")[0]
        first = srv.wait_ws("action", 1, 10)[0]
        return (me["auth"] == "Bearer " + TOKEN and
                me["path"] == "/users/me" and c["query"] == {} and
                c["auth"] == "Bearer " + TOKEN and
                first["action"] == "authentication_challenge" and
                first["seq"] == 1 and first["data"] == {"token": TOKEN} and
                h["seq"] == 0) or (me, c, first, h)
    check("GET /api/v4/users/me with the token as Bearer; the WebSocket "
          "/api/v4/websocket with it on the upgrade, its first frame the "
          "authentication_challenge with the token; hello (seq 0)",
          connect)

    def dm():
        r = srv.say_when_up("hello bot")
        m = a.event("message", 10, "the DM")["params"]
        want = {"user_id": ALICE, "user_name": "alice", "username": "alice",
                "text": "hello bot", "content": {"Text": "hello bot"},
                "channel_id": DM, "platform": "mattermost",
                "message_id": r["id"]}
        got = {k: m.get(k) for k in want}
        st["dm_id"] = m.get("message_id")
        return (got == want and not m.get("is_group") and
                "thread_id" not in m and
                m.get("metadata", {}).get("was_mentioned") is False and
                m["metadata"].get("channel_type") == "D") or m
    check("a DM (channel_type D) arrives as a message event: the sender's "
          "id and name, the channel, the post's id; not a group", dm)

    def channels():
        srv.say("just chatting", channel=TOWN, ctype="O",
                channel_name="town-square")
        m1 = a.event("message", 10, "the channel post")["params"]
        r = srv.say(f"@{srv.bot_username} what time is it?", channel=PRIV,
                    ctype="P", channel_name="secret", mentions=[srv.bot_id])
        m2 = a.event("message", 10, "the mention")["params"]
        st["root"] = r["id"]
        srv.say("and in the thread?", channel=PRIV, ctype="P",
                channel_name="secret", root=r["id"])
        m3 = a.event("message", 10, "the thread reply")["params"]
        return (m1.get("is_group") is True and
                m1["metadata"]["was_mentioned"] is False and
                m1["metadata"]["channel_type"] == "O" and
                m1["metadata"]["channel_name"] == "town-square" and
                m2["metadata"]["was_mentioned"] is True and
                m2["metadata"]["channel_type"] == "P" and
                "thread_id" not in m2 and
                m3.get("thread_id") == r["id"] and
                m3.get("channel_id") == PRIV) or (m1, m2, m3)
    check("channel posts (O, P): is_group, channel_type; was_mentioned by "
          "mentions; a thread reply's root_id is its thread_id", channels)

    def skipped():
        srv.say("my own echo", uid=srv.bot_id, username=srv.bot_username)
        srv.say("alice joined the channel.", channel=TOWN, ctype="O",
                ptype="system_join_channel", channel_name="town-square")
        srv.say("not for us", channel="e1sewhe1sewhe1sewhe1sewh01",
                ctype="O", channel_name="elsewhere")
        srv.say("/status now")
        m = a.event("message", 10, "the /command")["params"]
        return (m.get("content") == {"Command": {"name": "status",
                                                 "args": ["now"]}} and
                not a.skipped) or (m, a.skipped)
    check("the bot's own post, a system message and a channel not in "
          "MATTERMOST_ALLOWED_CHANNELS are not events; a /command is "
          "Command content", skipped)

    def send():
        n0 = srv.last_call()
        send_cmd(a, DM, "hi alice")
        c = srv.wait_calls(1, 10, since=n0, method="POST", sub="/posts")[0]
        echo = a.none_within("message", 1.0)
        return (c["path"] == "/posts" and
                json.loads(c["body"]) == {"channel_id": DM,
                                          "message": "hi alice"} and
                c["auth"] == "Bearer " + TOKEN and echo is None) or (c, echo)
    check("send: POST /api/v4/posts {channel_id, message} with the token; "
          "its echo on the WebSocket is not an event", send)

    def thread_send():
        n0 = srv.last_call()
        send_cmd(a, PRIV, "in the thread", thread=st["root"])
        send_cmd(a, PRIV, "bad thread", thread="../../x")
        cs = srv.wait_calls(2, 10, since=n0, method="POST", sub="/posts")
        b = [json.loads(c["body"]) for c in cs]
        return (b[0] == {"channel_id": PRIV, "message": "in the thread",
                         "root_id": st["root"]} and
                b[1] == {"channel_id": PRIV, "message": "bad thread"}) or b
    check("a send with thread_id is a reply in that thread (root_id); a "
          "thread id that is none goes to the channel", thread_send)

    def long_send():
        unit = "Zeile mit élan 😀 und mehr Wörtern " * 8
        text = "\n".join(f"{i:03d} {unit}" for i in range(150))
        n0 = srv.last_call()
        send_cmd(a, DM, text)
        ps = []
        for _ in range(10):
            ps = [p["message"] for p in wait_count(
                lambda: srv.posts(n0), len(ps) + 1, 10, "posts")]
            if "".join(ps) == text:
                break
        st["parts"] = [len(p) for p in ps]
        err = a.none_within("error", 0.5)
        return ("".join(ps) == text and len(ps) >= 3 and
                all(len(p) <= 16383 for p in ps) and
                all(p.endswith("\n") for p in ps[:-1]) and
                err is None) or (st["parts"], err)
    check("a long send is cut into posts of at most 16383 characters, at "
          "line ends, that add up to the text (none refused)", long_send)
    print(f"# {len(st.get('parts', []))} posts of {st.get('parts')} "
          "characters", flush=True)

    def typing_reaction():
        g0, n0 = srv.last_ws(), srv.last_call()
        a.send({"method": "typing", "params": {"channel_id": DM}})
        t = srv.wait_ws("action", 1, 10, since=g0, action="user_typing")[0]
        a.send({"method": "reaction", "params": {
            "channel_id": DM, "message_id": st["dm_id"],
            "reaction": "\u23f3", "phase": "queued"}})
        r = srv.wait_calls(1, 10, since=n0, method="POST",
                           sub="/reactions")[0]
        a.send({"method": "reaction", "params": {
            "channel_id": DM, "message_id": st["dm_id"],
            "reaction": "\u2705", "phase": "done"}})
        r2 = srv.wait_calls(3, 10, since=n0, sub="/reactions")
        return (t["data"] == {"channel_id": DM, "parent_id": ""} and
                json.loads(r["body"]) == {
                    "user_id": srv.bot_id, "post_id": st["dm_id"],
                    "emoji_name": "hourglass_flowing_sand"} and
                [(x["method"], x["path"]) for x in r2[1:3]] == [
                    ("DELETE", f"/users/{srv.bot_id}/posts/{st['dm_id']}/"
                     "reactions/hourglass_flowing_sand"),
                    ("POST", "/reactions")] and
                json.loads(r2[2]["body"])["emoji_name"] ==
                "white_check_mark") or (t, r, r2)
    check("typing is the WebSocket's user_typing action; a reaction is "
          "POST /api/v4/reactions with Mattermost's emoji name, the next "
          "one DELETEs it first", typing_reaction)

    def rate_limited():
        n0 = srv.last_call()
        srv.fault("rest", match="POST /posts", status=429, count=1,
                  retry_after=1, reset=5)
        send_cmd(a, DM, "after Retry-After")
        cs = srv.wait_calls(2, 10, since=n0, sub="/posts")
        n1 = srv.last_call()
        srv.fault("rest", match="POST /posts", status=429, count=1,
                  reset=1)
        send_cmd(a, DM, "after X-Ratelimit-Reset")
        cs2 = srv.wait_calls(2, 10, since=n1, sub="/posts")
        time.sleep(0.5)
        n = len(srv.calls(n0, sub="/posts"))
        st["429"] = (cs[1]["t"] - cs[0]["t"], cs2[1]["t"] - cs2[0]["t"])
        return (all(900 <= d <= 2500 for d in st["429"]) and n == 4 and
                json.loads(cs[1]["body"])["message"] ==
                "after Retry-After" and
                json.loads(cs2[1]["body"])["message"] ==
                "after X-Ratelimit-Reset") or (st["429"], n)
    check("429: sent again after Retry-After (1 s, not the reset's 5), and "
          "without one after X-Ratelimit-Reset (1 s), once each",
          rate_limited)
    print(f"# resent {st.get('429')} ms after the 429s", flush=True)

    def server_error():
        n0 = srv.last_call()
        srv.fault("rest", match="POST /posts", status=502, count=1)
        srv.fault("rest", match="POST /posts", status=503, count=1)
        send_cmd(a, DM, "after a 502 and a 503")
        cs = srv.wait_calls(3, 10, since=n0, sub="/posts")
        return json.loads(cs[2]["body"])["message"] == \
            "after a 502 and a 503" or cs
    check("5xx: sent again after the backoff", server_error)

    def refused():
        n0 = srv.last_call()
        srv.fault("rest", match="POST /posts", status=403, count=1,
                  message="You do not have the appropriate permissions.")
        send_cmd(a, TOWN, "where I may not")
        e = a.event("error", 10, "the 403's error")["params"]["message"]
        time.sleep(0.5)
        n = len(srv.calls(n0, sub="/posts"))
        return ("appropriate permissions" in e and "403" in e and
                n == 1) or (e, n)
    check("a 403 is an error event naming the cause, not retried", refused)

    def pings():
        g0 = srv.last_ws()
        ps = srv.wait_ws("action", 2, 5, since=g0, action="ping")
        gap = ps[1]["t"] - ps[0]["t"]
        st["ping"] = gap
        return (800 <= gap <= 1600 and ps[1]["seq"] > ps[0]["seq"]) or ps
    check(f"a ping action every MATTERMOST_PING_SECS ({PING_SECS} s)", pings)

    def conn_id():
        return srv.ws("hello")[-1]["connection_id"]

    def no_pong():
        g0 = srv.last_ws()
        cid = conn_id()
        srv.fault("noping", count=1)
        c = srv.wait_ws("connect", 1, 10, since=g0)[0]
        h = srv.wait_ws("registered", 1, 10, since=g0)[0]
        cl = srv.ws("closed", g0)
        srv.say("after the silent ping")
        m = a.event("message", 10, "a message after it")["params"]
        return (c["query"].get("connection_id") == cid and h["resumed"] and
                not srv.ws("hello", g0) and
                cl and cl[0]["code"] == 4000 and
                m.get("text") == "after the silent ping") or (c, h, cl, m)
    check("a ping unanswered by the next: the connection closed (4000) "
          "and resumed with its connection_id", no_pong)

    def dropped():
        g0 = srv.last_ws()
        cid = conn_id()
        srv.fault("drop")
        r = srv.say("said while the link was down")
        e = a.event("error", 10, "the drop's error")["params"]["message"]
        c = srv.wait_ws("connect", 1, 10, since=g0)[0]
        h = srv.wait_ws("registered", 1, 10, since=g0)[0]
        m = a.event("message", 10, "the post replayed")["params"]
        dup = a.none_within("message", 1.0)
        return (c["query"] == {"connection_id": cid,
                               "sequence_number": str(r["seq"])} and
                h["resumed"] and h["connection_id"] == cid and
                m.get("text") == "said while the link was down" and
                dup is None and "close frame" in e) or (e, c, h, m, dup)
    check("a connection dropped without a close frame: an error event, "
          "the WebSocket again with connection_id and sequence_number (the "
          "next event expected); what was said meanwhile arrives once",
          dropped)

    def missed():
        g0 = srv.last_ws()
        srv.fault("gap")
        srv.say("the one held back")
        r = srv.say("the one after it")
        m1 = a.event("message", 10, "the held post")["params"]
        m2 = a.event("message", 10, "the next")["params"]
        dup = a.none_within("message", 1.0)
        c = srv.ws("connect", g0)
        held = srv.ws("held", g0)
        return (m1.get("text") == "the one held back" and
                m2.get("text") == "the one after it" and dup is None and
                c and c[0]["query"].get("sequence_number") ==
                str(held[0]["seq"]) and held[0]["seq"] + 1 == r["seq"]) or \
            (m1, m2, dup, c, held)
    check("an event missed (seq n+1 came, n expected): reconnected at once "
          "from n; both arrive, in order, once", missed)

    def forgotten():
        g0 = srv.last_ws()
        cid = conn_id()
        srv.fault("forget")
        srv.fault("drop")
        a.event("error", 10, "the drop's error")
        h = srv.wait_ws("hello", 1, 10, since=g0)[0]
        r = srv.wait_ws("registered", 1, 10, since=g0)[0]
        srv.say_when_up("on the new connection")
        m = a.event("message", 10, "a message on it")["params"]
        return (not r["resumed"] and h["connection_id"] != cid and
                h["seq"] == 0 and
                m.get("text") == "on the new connection") or (h, m)
    check("a connection the server forgot: a new connection id (hello seq "
          "0), its events taken from 0", forgotten)

    def auth_refused():
        g0 = srv.last_ws()
        srv.fault("auth_fail", count=1)
        srv.fault("drop")
        e1 = a.event("error", 10, "the drop's error")["params"]["message"]
        e2 = a.event("error", 10, "the challenge's error")
        e2 = e2["params"]["message"]
        r = srv.wait_ws("registered", 1, 15, since=g0)[0]
        srv.say_when_up("after the refused challenge")
        m = a.event("message", 10, "a message after it")["params"]
        return ("refused on the WebSocket" in e2 and r["resumed"] and
                m.get("text") == "after the refused challenge") or \
            (e1, e2, r, m)
    check("the challenge answered FAIL: an error event saying the token "
          "was refused, tried again after the backoff, resumed", auth_refused)

    def challenge_only():
        g0 = srv.last_ws()
        cid = conn_id()
        srv.fault("no_header", count=1)
        srv.fault("drop")
        a.event("error", 10, "the drop's error")
        au = srv.wait_ws("auth", 1, 10, since=g0)[0]
        h = srv.wait_ws("hello", 1, 10, since=g0)[0]
        srv.say_when_up("after the challenge alone")
        m = a.event("message", 10, "a message after it")["params"]
        dup = a.none_within("message", 0.5)
        return (au["ok"] and h["connection_id"] != cid and h["seq"] == 0 and
                m.get("text") == "after the challenge alone" and
                dup is None) or (au, h, m, dup)
    check("an upgrade whose Authorization is dropped (a proxy): the "
          "authentication_challenge authenticates, hello on a new "
          "connection, events taken from 0", challenge_only)

    def websocket_frames():
        g0 = srv.last_ws()
        srv.fault("ping", data="are you there")
        pong = srv.wait_ws("pong", 1, 5, since=g0)[0]
        return pong["data"] == "are you there" or pong
    check("the WebSocket's own ping is answered with its pong",
          websocket_frames)

    def refused_upgrade():
        g0 = srv.last_ws()
        srv.fault("refuse_upgrade", status=503, count=1)
        srv.fault("drop")
        a.event("error", 10, "the drop's error")
        e2 = a.event("error", 10, "the refused handshake's error")
        e2 = e2["params"]["message"]
        srv.wait(lambda: srv.ws("registered", g0), 1, 15,
                 "a connection after it")
        srv.say_when_up("after a refused handshake")
        m = a.event("message", 10, "a message after it")["params"]
        return ("503" in e2 and
                m.get("text") == "after a refused handshake") or (e2, m)
    check("a WebSocket handshake answered 503, not 101: an error event "
          "saying so, tried again", refused_upgrade)

    def garbage():
        a.send(b"\x00\xff garbage\n")
        a.send(b'{"method": "send"}\n')
        a.send(b'{"method": "send", "params": {"channel_id": "x/../y", '
               b'"text": "t", "user": {"platform_id": "1", '
               b'"display_name": "a", "librefang_user": null}}}\n')
        a.send(b'{"method": "reaction", "params": {"channel_id": "x", '
               b'"message_id": "../../users", "reaction": "x"}}\n')
        a.send(b'{"method": "no_such_method"}\n')
        srv.say("still there?")
        m = a.event("message", 10, "a DM after the garbage")["params"]
        return (m.get("text") == "still there?" and a.p.poll() is None) or m
    check("garbage, a channel or post id that is none and unknown methods "
          "on stdin are ignored", garbage)

    def memory():
        time.sleep(0.5)
        return a.pss_at_most(2048, "after the traffic above")
    check("PSS at most 2 MB", memory)

    def restart():
        port = srv.port
        srv.stop()
        e = a.event("error", 15, "the error of the server gone")
        time.sleep(1)
        srv.__init__(port)
        t0 = time.monotonic()
        srv.wait(lambda: srv.ws("hello"), 1, 40, "hello on the new server")
        st["reconnect"] = time.monotonic() - t0
        c = srv.ws("connect")
        srv.say_when_up("after the restart")
        m = a.event("message", 10, "a message after the restart")["params"]
        return (m.get("text") == "after the restart" and
                c[0]["query"].get("connection_id") and
                not srv.ws("registered")[0]["resumed"]) or (e, c, m)
    check("the server killed and started again: an error event, a resume "
          "the new server does not know, a new connection, messages",
          restart)
    print(f"# hello again {st.get('reconnect', -1):.1f} s after the server "
          "came back", flush=True)

    def shutdown():
        g0 = srv.last_ws()
        why = a.end("shutdown", within=1.5)
        cl = srv.wait_ws("closed", 1, 5, since=g0)
        return (why is None and cl[0]["code"] == 1000) or (why, cl)
    check("shutdown: the WebSocket closed with 1000, exit 0 within a "
          "second", shutdown)

    b = Adapter("mattermost-badtoken", base_env(
        srv.port, MATTERMOST_TOKEN="wrongwrongwrongwrongwrong1"))

    def bad_token():
        e = b.event("error", 10, "the token's error")["params"]["message"]
        e2 = b.event("error", 10, "the second attempt's error")
        alive = b.p.poll() is None
        b.send({"method": "shutdown"})
        rc, _ = b.exit_within(5)
        return ("token was refused" in e and "401" in e and alive and
                e2 is not None and rc == 0) or (e, alive, rc)
    check("a bad token: an error event (HTTP 401 at /users/me), tried "
          "again after the backoff, still running", bad_token)

    c = Adapter("mattermost-noloop", {
        "MATTERMOST_TOKEN": TOKEN,
        "MATTERMOST_SERVER_URL": f"http://127.0.0.1:{srv.port}"})

    def no_loopback():
        e = c.event("error", 10, "the configuration error")
        rc, _ = c.exit_within(5)
        return rc == 1 or (e, rc)
    check("a server on loopback without MATTERMOST_ALLOW_LOOPBACK: an "
          "error event and exit 1", no_loopback)

    d = Adapter("mattermost-eof", base_env(srv.port))

    def eof():
        d.event("ready", 10)
        return d.end("eof", within=1.5)
    check("EOF on stdin: exit 0 within a second", eof)
    ok(not a.bad and not b.bad and not d.bad,
       "stdout carried frames only", a.bad + b.bad + d.bad)
    srv.stop()


if __name__ == "__main__":
    run(main)
