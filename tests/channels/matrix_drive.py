#!/usr/bin/env python3
"""matrix_drive.py - drives channel-matrix against matrix_server.py.

Plays the daemon's side of the sidecar protocol (spec/notes/protocols.md
1.3) on the adapter's stdin/stdout, and the Matrix side through
tests/channels/matrix_server.py (the client-server API the adapter calls,
with a test-control API for the users' messages, invites, faults and a
record of every call).  Prints TAP ("ok - desc" / "not ok - desc",
numbered by the caller, t8120) and "# ..." diagnostics.  Every wait is
bounded and says what it waited for; every process it starts is stopped
when it ends, however it ends.

usage: matrix_drive.py ADAPTER_BIN WORKDIR [LOGDIR]
(LOGDIR, default WORKDIR, gets matrix-*.log: each adapter's stderr, the
server's)

The plumbing (TAP, the adapter's pipes and frames, processes) is
drivelib.py's; the homeserver, its users and the scenario are here.
"""
import os
import sys
import time

import drivelib
from drivelib import check, ok, run, send_cmd, wait_count
from drivelib import cleanup  # noqa: F401 - e2e_peer.py calls d.cleanup()

ADAPTER, WORK = sys.argv[1], sys.argv[2]
LOGS = sys.argv[3] if len(sys.argv) > 3 else WORK
HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_PY = os.path.join(HERE, "matrix_server.py")
TOKEN = "syt_bGZib3Q_lf-test-token_0123"
BOT = "@lfbot:localhost"
ALICE, BOB, CAROL = "@alice:localhost", "@bob:localhost", "@carol:localhost"
DM, GROUP = "!dm:localhost", "!group:localhost"


# ---- the Matrix side --------------------------------------------------------


class Server(drivelib.FakeServer):
    """matrix_server.py on 127.0.0.1 (port 0: any free one), its state in
    WORK, so that a restart carries on."""

    def __init__(self, port=0):
        super().__init__("matrix_server.py",
                         [sys.executable, SERVER_PY, "--port", str(port),
                          "--token", TOKEN, "--user", BOT, "--state",
                          os.path.join(WORK, "matrix-state.json")], 20,
                         os.path.join(LOGS, "matrix-server.log"))

    def room(self, room_id, members, direct=False):
        return self.req("POST", "/__room", {"room_id": room_id,
                                            "members": members,
                                            "direct": direct})

    def say(self, body, room=DM, sender=ALICE, **extra):
        """A user's message in room; its event id."""
        m = {"room_id": room, "sender": sender, "body": body}
        m.update(extra)
        return self.req("POST", "/__say", m)["event_id"]

    def invite(self, room, sender, is_direct=False):
        return self.req("POST", "/__invite", {"room_id": room,
                                              "sender": sender,
                                              "is_direct": is_direct})

    def sent(self, room=None, since=0):
        s = self.req("GET", "/__sent") or []
        return [x for x in s[since:] if room is None or
                x["room_id"] == room]

    def n_sent(self):
        return len(self.req("GET", "/__sent") or [])

    def calls(self, endpoint=None, since=0):
        c = self.req("GET", "/__calls") or []
        return [x for x in c if x["n"] > since and
                (endpoint is None or x["endpoint"] == endpoint)]

    def last_n(self):
        c = self.req("GET", "/__calls") or []
        return c[-1]["n"] if c else 0

    def fault(self, endpoint, status, count=1, **kw):
        self.req("POST", "/__fault", dict(endpoint=endpoint, status=status,
                                          count=count, **kw))

    def wait_calls(self, endpoint, n, secs, since=0, what=None, pred=None):
        return wait_count(lambda: [x for x in self.calls(endpoint, since)
                                   if pred is None or pred(x)], n, secs,
                          f"{endpoint} calls ({what or endpoint})")

    def wait_sent(self, n, secs, since=0, what="sent events"):
        return wait_count(lambda: self.sent(since=since), n, secs, what)

# ---- the adapter, with us as its daemon -------------------------------------


class Adapter(drivelib.Adapter):
    BIN, LOGS, PREFIX = ADAPTER, LOGS, "MATRIX_"


def base_env(port, **kw):
    env = {"MATRIX_ACCESS_TOKEN": TOKEN,
           "MATRIX_USER_ID": BOT,
           "MATRIX_HOMESERVER_URL": "https://matrix.invalid",
           "MATRIX_API_BASE": f"http://127.0.0.1:{port}",
           "MATRIX_ALLOW_LOOPBACK": "1",
           "MATRIX_SYNC_TIMEOUT_SECS": "2"}
    env.update(kw)
    return env


def txn(c):
    return c["path"].rsplit("/", 1)[1]

# ---- the scenario -----------------------------------------------------------


def main():
    state = os.path.join(WORK, "matrix-state.json")
    if os.path.exists(state):
        os.unlink(state)
    srv = Server()
    srv.room(DM, {ALICE: "Alice"}, direct=True)
    srv.room(GROUP, {ALICE: "Alice", BOB: "Bob"})
    srv.say("old history, before the bot started")
    a = Adapter("matrix-main", base_env(srv.port))
    st = {}

    def ready():
        r = a.ready()
        p = r.get("params") or {}
        return (p.get("protocol_version") == 1 and
                p.get("capabilities") == ["typing", "reaction",
                                          "thread"]) or r
    check("ready: protocol_version 1, capabilities typing, reaction, "
          "thread", ready)

    def connected():
        w = srv.wait_calls("whoami", 1, 10)[0]
        s = srv.wait_calls("sync", 2, 10)
        first, second = s[0]["query"], s[1]["query"]
        return ("since" not in first and first.get("timeout") == "0" and
                second.get("since", "").startswith("s") and
                second.get("timeout") == "2000" and
                w["n"] < s[0]["n"]) or (first, second)
    check("whoami at connect, a first sync without since, then syncs with "
          "since and the long poll's timeout in ms", connected)

    def dm():
        eid = srv.say("hello bot")
        m = a.event("message", 10, "the DM")["params"]
        want = {"user_id": ALICE, "user_name": "Alice", "text": "hello bot",
                "content": {"Text": "hello bot"}, "channel_id": DM,
                "platform": "matrix", "message_id": eid}
        got = {k: m.get(k) for k in want}
        st["dm_eid"] = eid
        st["history"] = [f for f in a.skipped if f["method"] == "message"]
        return (got == want and not m.get("is_group") and
                m["metadata"]["was_mentioned"] is False and
                not st["history"]) or (m, st["history"])
    check("a DM arrives as a message event (message_id the event id, "
          "channel_id the room, not a group); the history before the "
          "start is not", dm)

    def command():
        srv.say("/status now please")
        m = a.event("message", 10, "the /command")["params"]
        return m.get("content") == {"Command": {
            "name": "status", "args": ["now", "please"]}} or m
    check("a /command arrives as Command content", command)

    def group():
        srv.say("just chatting", room=GROUP, sender=BOB)
        m1 = a.event("message", 10, "the group message")["params"]
        srv.say("hey LF Bot, what time is it?", room=GROUP)
        m2 = a.event("message", 10, "the display-name mention")["params"]
        srv.say("ping", room=GROUP, mentions={"user_ids": [BOT]})
        m3 = a.event("message", 10, "the m.mentions mention")["params"]
        srv.say(f"{BOT} was here", room=GROUP, mentions={})
        m4 = a.event("message", 10, "an empty m.mentions")["params"]
        srv.say(f"and {BOT} again", room=GROUP)
        m5 = a.event("message", 10, "the user-id mention")["params"]
        return (m1.get("is_group") is True and m1["channel_id"] == GROUP and
                m1["user_name"] == "Bob" and
                [m["metadata"]["was_mentioned"] for m in
                 (m1, m2, m3, m4, m5)] ==
                [False, True, True, False, True]) or (m1, m2, m3, m4, m5)
    check("group messages: is_group (3 members), was_mentioned by display "
          "name, m.mentions (alone when there) or the user id", group)

    def in_thread():
        srv.say("in a thread", room=GROUP,
                relates_to={"rel_type": "m.thread",
                            "event_id": st["dm_eid"]})
        m = a.event("message", 10, "the thread's message")["params"]
        return m.get("thread_id") == st["dm_eid"] or m
    check("a message in a thread carries its root as thread_id", in_thread)

    def others_skipped():
        srv.say("a notice", msgtype="m.notice")
        srv.say("an edit", relates_to={"rel_type": "m.replace",
                                       "event_id": st["dm_eid"]})
        srv.say("after the skipped ones")
        m = a.event("message", 10, "the message after")["params"]
        return (m.get("text") == "after the skipped ones" and
                not [f for f in a.skipped if f["method"] == "message"]) or \
            (m, a.skipped)
    check("m.notice and edits (m.replace) are not message events",
          others_skipped)

    def say_dm():
        n0 = srv.last_n()
        s0 = srv.n_sent()
        send_cmd(a, DM, "hi alice")
        c = srv.wait_calls("send", 1, 10, since=n0)[0]
        s = srv.wait_sent(1, 10, since=s0)
        st["txn1"] = txn(c)
        # The bot's own message comes back in the sync: not an event.
        time.sleep(1)
        own = [f for _, f in list(a.q.queue) if f and
               f["method"] == "message"]
        return (c["method"] == "PUT" and
                c["path"].startswith(
                    "/_matrix/client/v3/rooms/%21dm%3Alocalhost/send/"
                    "m.room.message/") and
                c["body"] == {"msgtype": "m.text", "body": "hi alice"} and
                [x["content"]["body"] for x in s] == ["hi alice"] and
                not own) or (c, s, own)
    check("send: PUT .../rooms/{roomId}/send/m.room.message/{txnId}, the "
          "room id escaped; the message is in the room; its echo in the "
          "sync is not an event", say_dm)

    def txn_unique():
        n0 = srv.last_n()
        send_cmd(a, DM, "second")
        c = srv.wait_calls("send", 1, 10, since=n0)[0]
        return (txn(c) != st["txn1"]) or c
    check("each send has a txn id of its own", txn_unique)

    def thread():
        s0 = srv.n_sent()
        send_cmd(a, GROUP, "in the thread", thread=st["dm_eid"])
        s = srv.wait_sent(1, 10, since=s0)[0]
        return s["content"].get("m.relates_to") == {
            "rel_type": "m.thread", "event_id": st["dm_eid"]} or s
    check("a send with a thread_id goes into the thread (m.thread)", thread)

    def long_send():
        unit = "Zeile mit élan 😀 und mehr Wörtern " * 4
        text = "\n".join(f"{i:03d} {unit}" for i in range(400))
        s0 = srv.n_sent()
        send_cmd(a, DM, text)
        got = []
        end = time.monotonic() + 15
        while "".join(got) != text and time.monotonic() < end:
            got = [x["content"]["body"] for x in srv.sent(since=s0)]
            time.sleep(0.1)
        st["parts"] = [len(p.encode()) for p in got]
        return ("".join(got) == text and len(got) >= 3 and
                all(n <= 16384 for n in st["parts"]) and
                all(p.endswith("\n") for p in got[:-1])) or st["parts"]
    check("a long send is cut into messages of at most 16 KiB, at line "
          "ends, that add up to the text, in order", long_send)
    print(f"# the long send ({sum(st.get('parts', [0]))} bytes) went as "
          f"{len(st.get('parts', []))} messages of {st.get('parts')} bytes",
          flush=True)

    def keepalive():
        c = srv.calls("send")
        conns = {x["conn"] for x in c}
        st["conns"] = (len(c), len(conns))
        return len(conns) < len(c) or st["conns"]
    check("sends reuse a kept-alive connection", keepalive)
    print(f"# {st['conns'][0]} send calls on {st['conns'][1]} connection(s)",
          flush=True)

    def typing_reaction():
        n0 = srv.last_n()
        s0 = srv.n_sent()
        a.send({"method": "typing", "params": {"channel_id": DM}})
        a.send({"method": "reaction", "params": {
            "channel_id": DM, "message_id": st["dm_eid"],
            "reaction": "\U0001F914", "phase": "thinking"}})
        a.send({"method": "reaction", "params": {
            "channel_id": DM, "message_id": st["dm_eid"],
            "reaction": "\u2705", "phase": "done"}})
        t = srv.wait_calls("typing", 1, 10, since=n0,
                           pred=lambda x: x["status"] != 0)[0]
        ev = srv.wait_sent(3, 10, since=s0, what="two reactions and a "
                           "redaction")
        r0, r = ev[0], ev[1]
        red = ev[2]
        return (t["status"] == 200 and t["path"].endswith(
                    "/rooms/%21dm%3Alocalhost/typing/%40lfbot%3Alocalhost")
                and t["body"] == {"typing": True, "timeout": 30000} and
                r0["type"] == r["type"] == "m.reaction" and
                r["content"] == {
                    "m.relates_to": {"rel_type": "m.annotation",
                                     "event_id": st["dm_eid"],
                                     "key": "\u2705"}} and
                red["type"] == "m.room.redaction" and
                red["content"]["redacts"] == r0["event_id"]) or (t, ev)
    check("typing is PUT .../typing/{userId}; a reaction is an m.reaction "
          "event with an m.annotation relation to the message; the next "
          "phase's redacts the one before", typing_reaction)

    def flood_429():
        n0 = srv.last_n()
        s0 = srv.n_sent()
        srv.fault("send", 429, 1, errcode="M_LIMIT_EXCEEDED",
                  error="Too many requests", retry_after_ms=1200)
        send_cmd(a, DM, "after the flood")
        cs = srv.wait_calls("send", 2, 10, since=n0)
        s = srv.wait_sent(1, 10, since=s0)
        dt = cs[1]["t"] - cs[0]["t"]
        st["429"] = dt
        time.sleep(0.3)
        return ([x["content"]["body"] for x in srv.sent(since=s0)] ==
                ["after the flood"] and txn(cs[0]) == txn(cs[1]) and
                cs[0]["status"] == 429 and 1100 <= dt <= 5000) or (dt, cs, s)
    check("429 M_LIMIT_EXCEEDED with retry_after_ms 1200: sent again about "
          "1.2 s later with the same txn id, once", flood_429)
    print(f"# the retry after the 429 came {st.get('429')} ms later",
          flush=True)

    def server_error():
        n0 = srv.last_n()
        s0 = srv.n_sent()
        srv.fault("send", 502, 1, errcode="M_UNKNOWN", error="Bad gateway")
        send_cmd(a, DM, "after a 502")
        cs = srv.wait_calls("send", 2, 10, since=n0)
        srv.wait_sent(1, 10, since=s0)
        time.sleep(0.3)
        return ([x["content"]["body"] for x in srv.sent(since=s0)] ==
                ["after a 502"] and txn(cs[0]) == txn(cs[1])) or cs
    check("a 5xx: sent again after the backoff, the same txn id, once",
          server_error)

    def idempotent():
        # The homeserver did the send but the answer was lost: sent again
        # (the same txn id), which the homeserver answers without a
        # second event.
        n0 = srv.last_n()
        s0 = srv.n_sent()
        srv.fault("send", 0, 1, close_after=True)
        send_cmd(a, DM, "once only")
        # Each one answered (a call is recorded, status 0, as it comes in):
        # the retry's "dup" is known once the homeserver has answered it.
        cs = srv.wait_calls("send", 2, 10, since=n0,
                            pred=lambda x: x["status"] != 0)
        time.sleep(0.5)
        s = srv.sent(since=s0)
        return ([x["content"]["body"] for x in s] == ["once only"] and
                txn(cs[0]) == txn(cs[1]) and cs[1].get("dup") is True) or \
            (cs, s)
    check("a send whose answer was lost: sent again with the same txn id, "
          "deduplicated by the homeserver: in the room once", idempotent)

    def refused():
        n0 = srv.last_n()
        send_cmd(a, "!nowhere:localhost", "to nowhere")
        e = a.event("error", 10, "the 403's error")["params"]["message"]
        time.sleep(0.6)
        n = len(srv.calls("send", n0))
        return ("M_FORBIDDEN" in e and n == 1) or (e, n)
    check("a 403 (a room the bot is not in) is an error event naming "
          "M_FORBIDDEN, not retried", refused)

    def invite():
        n0 = srv.last_n()
        srv.invite("!inv:localhost", CAROL, is_direct=True)
        j = srv.wait_calls("join", 1, 10, since=n0,
                           pred=lambda x: x["status"] != 0)[0]
        ad = srv.wait_calls("account_data", 1, 10, since=n0,
                            pred=lambda x: x["status"] != 0)[0]
        srv.say("thanks for joining", room="!inv:localhost", sender=CAROL)
        m = a.event("message", 10, "a message in the joined room")["params"]
        return (j["path"] == "/_matrix/client/v3/join/%21inv%3Alocalhost"
                and j["status"] == 200 and
                m.get("channel_id") == "!inv:localhost" and
                m.get("user_id") == CAROL and
                ad["body"] == {ALICE: [DM], CAROL: ["!inv:localhost"]} and
                not m.get("is_group")) or (j, ad, m)
    check("an invite is joined (POST /join/{roomId}); one to a direct chat "
          "goes into the bot's m.direct; the room's messages then arrive, "
          "not as a group's", invite)

    def pair():
        srv.room("!pair:localhost", {BOB: "Bob"})
        srv.say("just the two of us", room="!pair:localhost", sender=BOB)
        m = a.event("message", 10, "the two-member room's message")
        return m["params"].get("is_group") is True or m
    check("a room of two that is not a direct chat is a group", pair)

    def unknown_token():
        n0 = srv.last_n()
        srv.fault("sync", 401, 1, errcode="M_UNKNOWN_TOKEN",
                  error="Access token has been revoked")
        e = a.event("error", 10, "the 401's error")["params"]["message"]
        srv.wait_calls("whoami", 1, 10, since=n0, what="the reconnect")
        srv.say("after the 401")
        m = a.event("message", 10, "a message after the 401")["params"]
        return ("M_UNKNOWN_TOKEN" in e and "refused" in e and
                m.get("text") == "after the 401") or (e, m)
    check("sync 401 M_UNKNOWN_TOKEN: an error event, a reconnect after the "
          "backoff (whoami), messages again", unknown_token)

    def send_401():
        n0 = srv.last_n()
        s0 = srv.n_sent()
        srv.fault("send", 401, 1, errcode="M_UNKNOWN_TOKEN",
                  error="Invalid access token passed.")
        send_cmd(a, DM, "across a 401")
        e = a.event("error", 10, "the send's 401")["params"]["message"]
        s = srv.wait_sent(1, 10, since=s0, what="the send after the "
                          "reconnect")
        cs = srv.calls("send", n0)
        w = srv.calls("whoami", n0)
        return ("M_UNKNOWN_TOKEN" in e and len(w) >= 1 and
                [x["content"]["body"] for x in s] == ["across a 401"] and
                txn(cs[0]) == txn(cs[-1])) or (e, cs, s)
    check("a send refused with 401: an error event, a reconnect, then the "
          "send goes (the same txn id), once", send_401)

    def garbage():
        a.send(b"\x00\xff garbage\n")
        a.send(b'{"method": "send"}\n')
        a.send(b'{"method": "send", "params": {"channel_id": "not a room", '
               b'"text": "t", "user": {"platform_id": "1", '
               b'"display_name": "a", "librefang_user": null}}}\n')
        a.send(b'{"method": "no_such_method"}\n')
        srv.say("still there?")
        m = a.event("message", 10, "a DM after the garbage")["params"]
        return (m.get("text") == "still there?" and a.p.poll() is None) or m
    check("garbage, a send to what is no room id and unknown methods on "
          "stdin are ignored", garbage)

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
        srv.wait_calls("whoami", 1, 40, what="whoami on the new server")
        st["reconnect"] = time.monotonic() - t0
        srv.say("after the restart")
        m = a.event("message", 10, "a message after the restart")["params"]
        return m.get("text") == "after the restart" or (e, m)
    check("the server killed and started again: an error event, then the "
          "adapter reconnects and messages arrive", restart)
    print(f"# reconnected {st.get('reconnect', -1):.1f} s after the server "
          "came back", flush=True)

    check("shutdown: exit 0 within a second",
          lambda: a.end("shutdown", within=1.5))

    b = Adapter("matrix-badtoken", base_env(
        srv.port, MATRIX_ACCESS_TOKEN="syt_wrong"))

    def bad_token():
        e = b.event("error", 10, "the token's error")["params"]["message"]
        e2 = b.event("error", 10, "the second attempt's error")
        alive = b.p.poll() is None
        b.send({"method": "shutdown"})
        rc, _ = b.exit_within(5)
        return ("refused the access token" in e and
                "M_UNKNOWN_TOKEN" in e and alive and e2 is not None and
                rc == 0) or (e, alive, rc)
    check("a bad token: an error event (401 M_UNKNOWN_TOKEN), tried again "
          "after the backoff, still running", bad_token)

    c = Adapter("matrix-noloop", {
        "MATRIX_ACCESS_TOKEN": TOKEN, "MATRIX_USER_ID": BOT,
        "MATRIX_HOMESERVER_URL": f"http://127.0.0.1:{srv.port}"})

    def no_loopback():
        e = c.event("error", 10, "the configuration error")
        rc, _ = c.exit_within(5)
        return rc == 1 or (e, rc)
    check("a homeserver on loopback without MATRIX_ALLOW_LOOPBACK: an "
          "error event and exit 1", no_loopback)

    d = Adapter("matrix-eof", base_env(srv.port))

    def eof():
        d.event("ready", 10)
        return d.end("eof", within=1.5)
    check("EOF on stdin: exit 0 within a second", eof)
    ok(not a.bad and not b.bad and not d.bad,
       "stdout carried frames only", a.bad + b.bad + d.bad)
    srv.stop()


if __name__ == "__main__":
    run(main)
