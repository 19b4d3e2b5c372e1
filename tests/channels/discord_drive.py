#!/usr/bin/env python3
"""discord_drive.py - drives channel-discord against discord_server.mjs.

Plays the daemon's side of the sidecar protocol (spec/notes/protocols.md
1.3) on the adapter's stdin/stdout, and the Discord side through
tests/channels/discord_server.mjs (the Gateway v10 over a WebSocket and
the REST calls, as Discord documents them, with faults on demand and a
record of both): GET /gateway/bot, HELLO, heartbeats and their ACKs,
IDENTIFY -> READY, guild and DM messages as message events, sends cut at
2000 characters, typing, reactions, a 429's retry_after, a ping, a
fragmented dispatch, a refused handshake, op 7, a dropped connection and
a missed ACK each resumed with the last sequence (what
was said meanwhile replayed, delivered once), op 9, close 4004 backed
off, the server restarted, a bad token, PSS, shutdown and EOF.  Prints
TAP ("ok - desc" / "not ok - desc", numbered by the caller, t8130) and
"# ..." diagnostics.  Every wait is bounded and says what it waited for;
every process it starts is stopped when it ends, however it ends.

usage: discord_drive.py ADAPTER_BIN WORKDIR [LOGDIR]
(LOGDIR, default WORKDIR, gets discord-*.log: each adapter's stderr, the
server's)

The plumbing (TAP, the adapter's pipes and frames, processes) is
drivelib.py's; the Gateway and REST server, its user and the scenario
are here.
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
SERVER_JS = os.path.join(HERE, "discord_server.mjs")
NODE = os.environ.get("NODE", "node")
TOKEN = "MTA0.lf-test.token_0123456789"
HB_MS = 600                 # the fake's heartbeat_interval


# ---- the Discord side -------------------------------------------------------


class Server(drivelib.FakeServer):
    """discord_server.mjs on 127.0.0.1 (port 0: any free one); the bot's
    user id is the one it says with its port."""

    def __init__(self, port=0):
        super().__init__("discord_server.mjs",
                         [NODE, SERVER_JS, "--port", str(port), "--token",
                          TOKEN, "--heartbeat", str(HB_MS)], 20,
                         os.path.join(LOGS, "discord-server.log"))
        self.bot_id = self.hello["bot_id"]

    def say(self, text, channel="200", guild=None, uid="300",
            username="alice", global_name="Alice", bot=False, mentions=()):
        s = {"channel_id": channel, "content": text,
             "author": {"id": uid, "username": username,
                        "global_name": global_name, "bot": bot},
             "mentions": list(mentions)}
        if guild:
            s["guild_id"] = guild
        return self.req("POST", "/__say", s)

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

    def gw(self, what=None, since=0):
        return [e for e in self.req("GET", "/__gw") or []
                if e["n"] > since and (what is None or e["what"] == what)]

    def last_gw(self):
        g = self.req("GET", "/__gw") or []
        return g[-1]["n"] if g else 0

    def wait(self, fn, n, secs, what):
        return wait_count(fn, n, secs, what)

    def wait_gw(self, what, n, secs, since=0):
        return self.wait(lambda: self.gw(what, since), n, secs, what)

    def wait_calls(self, n, secs, since=0, method=None, sub=""):
        return self.wait(lambda: self.calls(since, method, sub), n, secs,
                         f"{method or ''} {sub} calls")

    def ready_since(self, since):
        """A READY or RESUMED dispatched after gateway event since."""
        return [e for e in self.gw("sent", since)
                if e.get("t_") in ("READY", "RESUMED")]

# ---- the adapter, with us as its daemon -------------------------------------


class Adapter(drivelib.Adapter):
    BIN, LOGS, PREFIX = ADAPTER, LOGS, "DISCORD_"


def base_env(port, **kw):
    env = {"DISCORD_BOT_TOKEN": TOKEN,
           "DISCORD_API_BASE": f"http://127.0.0.1:{port}/api/v10",
           "DISCORD_ALLOW_LOOPBACK": "1"}
    env.update(kw)
    return env

# ---- the scenario -----------------------------------------------------------


def main():
    srv = Server()
    a = Adapter("discord-main", base_env(srv.port,
                                         DISCORD_MENTION_PATTERNS="fang"))
    st = {}

    def ready():
        r = a.ready()
        p = r.get("params") or {}
        return (p.get("protocol_version") == 1 and
                p.get("capabilities") == ["typing", "reaction"]) or r
    check("ready: protocol_version 1, capabilities typing, reaction", ready)

    def identify():
        g = srv.wait_calls(1, 10, method="GET", sub="/gateway/bot")[0]
        i = srv.wait_gw("identify", 1, 10)[0]
        c = srv.gw("connect")[0]
        srv.wait(lambda: srv.ready_since(0), 1, 10, "READY")
        return (g["auth"] == "Bot " + TOKEN and i["token_ok"] and
                i["intents"] == 37377 and
                c["path"] == "/gateway/?v=10&encoding=json") or (g, i, c)
    check("GET /gateway/bot with the bot token, the Gateway at its URL "
          "(v=10, json), IDENTIFY with the token and intents guild "
          "messages, DMs, message content; READY", identify)

    def heartbeats():
        hb = srv.wait_gw("heartbeat", 3, 5)
        hello = [e for e in srv.gw("sent") if e["op"] == 10][0]
        first = hb[0]["t"] - hello["t"]
        gaps = [hb[i + 1]["t"] - hb[i]["t"] for i in range(len(hb) - 1)]
        st["hb"] = (first, gaps)
        return (first <= HB_MS + 100 and
                all(HB_MS - 100 <= g <= HB_MS + 200 for g in gaps) and
                hb[0]["d"] == 1) or st["hb"]
    check(f"heartbeats: the first within the interval ({HB_MS} ms, "
          "jittered), then every interval, carrying the last sequence",
          heartbeats)
    print(f"# first heartbeat {st.get('hb', [0])[0]} ms after HELLO, then "
          f"every {st.get('hb', [0, []])[1]} ms", flush=True)

    def dm():
        r = srv.say("hello bot")
        m = a.event("message", 10, "the DM")["params"]
        want = {"user_id": "300", "user_name": "Alice", "username": "alice",
                "text": "hello bot", "content": {"Text": "hello bot"},
                "channel_id": "200", "platform": "discord",
                "message_id": r["id"]}
        got = {k: m.get(k) for k in want}
        st["dm_id"] = m.get("message_id")
        return (got == want and not m.get("is_group") and
                m.get("metadata") == {"was_mentioned": False}) or m
    check("a DM arrives as a message event (the author's id and names, "
          "the channel, Discord's message id)", dm)

    def guild():
        srv.say("just chatting", channel="210", guild="10")
        m1 = a.event("message", 10, "the guild message")["params"]
        srv.say(f"<@{srv.bot_id}> what time is it?", channel="210",
                guild="10", mentions=[srv.bot_id])
        m2 = a.event("message", 10, "the mention")["params"]
        srv.say("hey Fang, status?", channel="210", guild="10")
        m3 = a.event("message", 10, "the pattern")["params"]
        return (m1.get("is_group") is True and
                m1["metadata"] == {"was_mentioned": False,
                                   "guild_id": "10"} and
                m2["metadata"]["was_mentioned"] is True and
                m3["metadata"]["was_mentioned"] is True) or (m1, m2, m3)
    check("guild messages: is_group, guild_id; was_mentioned for <@bot> "
          "and a DISCORD_MENTION_PATTERNS word", guild)

    def skipped():
        srv.say("my own echo", uid=srv.bot_id, username="LibreFangBot")
        srv.say("beep", uid="301", username="otherbot", bot=True)
        srv.say("/status now")
        m = a.event("message", 10, "the /command")["params"]
        return (m.get("content") == {"Command": {"name": "status",
                                                 "args": ["now"]}} and
                not a.skipped) or (m, a.skipped)
    check("the bot's own and other bots' messages are not events; a "
          "/command is Command content", skipped)

    def send():
        n0 = srv.last_call()
        send_cmd(a, "200", "hi alice")
        c = srv.wait_calls(1, 10, since=n0, method="POST",
                           sub="/messages")[0]
        return (c["path"] == "/channels/200/messages" and
                json.loads(c["body"]) == {"content": "hi alice"} and
                c["auth"] == "Bot " + TOKEN) or c
    check("send: POST /channels/{id}/messages with the content and the "
          "bot token", send)

    def long_send():
        unit = "Zeile mit élan 😀 und mehr Wörtern " * 3
        text = "\n".join(f"{i:03d} {unit}" for i in range(60))
        n0 = srv.last_call()
        send_cmd(a, "200", text)
        cs = []
        for _ in range(10):
            cs = srv.wait_calls(len(cs) + 1, 10, since=n0, method="POST",
                                sub="/messages")
            if "".join(json.loads(c["body"])["content"]
                       for c in cs) == text:
                break
        parts = [json.loads(c["body"])["content"] for c in cs]
        st["parts"] = [len(p) for p in parts]
        return ("".join(parts) == text and len(parts) >= 3 and
                all(len(p.encode("utf-16-le")) // 2 <= 2000
                    for p in parts) and
                all(p.endswith("\n") for p in parts[:-1])) or st["parts"]
    check("a long send is cut into messages of at most 2000 characters, "
          "at line ends, that add up to the text", long_send)
    print(f"# the long send went as {st.get('parts')} characters",
          flush=True)

    def typing_reaction():
        n0 = srv.last_call()
        a.send({"method": "typing", "params": {"channel_id": "200"}})
        a.send({"method": "reaction", "params": {
            "channel_id": "200", "message_id": st["dm_id"],
            "reaction": "\U0001F44D", "phase": "thinking"}})
        t = srv.wait_calls(1, 10, since=n0, sub="/typing")[0]
        r = srv.wait_calls(1, 10, since=n0, method="PUT")[0]
        # The next phase's reaction takes the last one's place.
        a.send({"method": "reaction", "params": {
            "channel_id": "200", "message_id": st["dm_id"],
            "reaction": "\u2705", "phase": "done"}})
        r2 = srv.wait_calls(3, 10, since=n0, sub="/reactions/")
        base = f"/channels/200/messages/{st['dm_id']}/reactions/"
        return (t["method"] == "POST" and
                t["path"] == "/channels/200/typing" and
                r["path"] == base + "%F0%9F%91%8D/@me" and
                [(x["method"], x["path"]) for x in r2[1:3]] == [
                    ("DELETE", base + "%F0%9F%91%8D/@me"),
                    ("PUT", base + "%E2%9C%85/@me")]) or (t, r, r2)
    check("typing is POST /channels/{id}/typing; a reaction is PUT "
          ".../messages/{mid}/reactions/{emoji, percent-encoded}/@me, the "
          "next one DELETEs it first", typing_reaction)

    def rate_limited():
        n0 = srv.last_call()
        srv.fault("rest", match="/messages", status=429, count=1,
                  retry_after=0.6)
        send_cmd(a, "200", "after the rate limit")
        cs = srv.wait_calls(2, 10, since=n0, sub="/messages")
        time.sleep(0.5)
        n = len(srv.calls(n0, sub="/messages"))
        dt = cs[1]["t"] - cs[0]["t"]
        st["429"] = dt
        return (550 <= dt <= 2500 and n == 2 and
                json.loads(cs[1]["body"])["content"] ==
                "after the rate limit") or (dt, n)
    check("429 with retry_after 0.6: sent again that much later, once",
          rate_limited)
    print(f"# resent {st.get('429')} ms after the 429", flush=True)

    def server_error():
        n0 = srv.last_call()
        srv.fault("rest", match="/messages", status=502, count=1)
        send_cmd(a, "200", "after a 502")
        cs = srv.wait_calls(2, 10, since=n0, sub="/messages")
        return json.loads(cs[1]["body"])["content"] == "after a 502" or cs
    check("a 5xx: sent again after the backoff", server_error)

    def refused():
        n0 = srv.last_call()
        srv.fault("rest", match="/messages", status=403, count=1,
                  message="Missing Permissions", code=50013)
        send_cmd(a, "220", "where I may not")
        e = a.event("error", 10, "the 403's error")["params"]["message"]
        time.sleep(0.5)
        n = len(srv.calls(n0, sub="/messages"))
        return ("Missing Permissions" in e and "403" in e and n == 1) or \
            (e, n)
    check("a 403 is an error event naming the cause, not retried", refused)

    def seq_of_last():
        return [e for e in srv.gw("sent") if e.get("s") is not None][-1]["s"]

    def op7():
        g0 = srv.last_gw()
        seq = seq_of_last()
        srv.fault("reconnect")
        r = srv.wait_gw("resume", 1, 10, since=g0)[0]
        c = srv.gw("connect", g0)[0]
        srv.wait(lambda: srv.ready_since(g0), 1, 10, "RESUMED")
        srv.say("after op 7")
        m = a.event("message", 10, "a message after op 7")["params"]
        return (r["seq"] == seq and r["token_ok"] and
                c["path"].startswith("/resume") and
                not srv.gw("identify", g0) and
                m.get("text") == "after op 7") or (r, c, m)
    check("op 7 RECONNECT: a new connection to resume_gateway_url, RESUME "
          "with the last sequence (no IDENTIFY), messages again", op7)

    def dropped():
        g0 = srv.last_gw()
        seq = seq_of_last()
        srv.fault("drop")
        srv.say("said while the link was down")
        e = a.event("error", 10, "the drop's error")["params"]["message"]
        r = srv.wait_gw("resume", 1, 10, since=g0)[0]
        m = a.event("message", 10, "the message replayed")["params"]
        dup = a.none_within("message", 1.0)
        return (r["seq"] == seq and
                m.get("text") == "said while the link was down" and
                dup is None and "close frame" in e) or (e, r, m, dup)
    check("a connection dropped without a close frame: an error event, "
          "RESUME with the last sequence; what was said meanwhile arrives "
          "once", dropped)

    def missed_ack():
        g0 = srv.last_gw()
        srv.fault("noack", count=1)
        r = srv.wait_gw("resume", 1, 10, since=g0)[0]
        cl = [e for e in srv.gw("closed", g0)]
        hb = srv.gw("heartbeat", g0)
        st["zombie"] = r["t"] - hb[0]["t"]
        srv.wait(lambda: srv.ready_since(g0), 1, 10, "RESUMED")
        return (cl and cl[0]["code"] not in (1000, 1001) and
                r["t"] - hb[0]["t"] <= 2 * HB_MS + 2500) or (cl, hb, r)
    check("a heartbeat not ACKed: the connection closed (not 1000) at the "
          "next beat and resumed", missed_ack)
    print(f"# resumed {st.get('zombie')} ms after the unACKed heartbeat",
          flush=True)

    def invalid_resumable():
        g0 = srv.last_gw()
        seq = seq_of_last()
        srv.fault("invalid", resumable=True)
        r = srv.wait_gw("resume", 1, 10, since=g0)[0]
        srv.wait(lambda: srv.ready_since(g0), 1, 10, "RESUMED")
        return (r["seq"] == seq and not srv.gw("identify", g0)) or r
    check("op 9 INVALID_SESSION (resumable): reconnected and RESUMEd, no "
          "IDENTIFY", invalid_resumable)

    def timed_out():
        g0 = srv.last_gw()
        srv.fault("close", code=4009, reason="Session timed out.")
        e = a.event("error", 10, "4009's error")["params"]["message"]
        i = srv.wait_gw("identify", 1, 10, since=g0)
        srv.wait(lambda: srv.ready_since(g0), 1, 10, "READY")
        return ("4009" in e and "session timed out" in e and i and
                not srv.gw("resume", g0)) or (e, i)
    check("close 4009 (session timed out): an error event, a new session "
          "(IDENTIFY, not RESUME)", timed_out)

    def invalid_session():
        g0 = srv.last_gw()
        srv.fault("invalid", resumable=False)
        i = srv.wait_gw("identify", 1, 8, since=g0)[0]
        srv.wait(lambda: srv.ready_since(g0), 1, 10, "READY")
        srv.say("after op 9")
        m = a.event("message", 10, "a message after op 9")["params"]
        inv = [e for e in srv.gw("sent", g0) if e["op"] == 9][0]
        dt = i["t"] - inv["t"]
        return (1000 <= dt <= 3000 and m.get("text") == "after op 9") or \
            (dt, m)
    check("op 9 INVALID_SESSION (not resumable): a new IDENTIFY 1-2 s "
          "later, READY, messages again", invalid_session)

    def auth_failed():
        g0 = srv.last_gw()
        srv.fault("identify_close", code=4004, count=2)
        srv.fault("close", code=4004, reason="Authentication failed.")
        e = a.event("error", 10, "4004's error")["params"]["message"]
        srv.wait(lambda: srv.ready_since(g0), 1, 15, "READY at last")
        ids = [x["t"] for x in srv.gw("identify", g0)]
        gaps = [ids[i + 1] - ids[i] for i in range(len(ids) - 1)]
        st["4004"] = gaps
        srv.say("after 4004")
        m = a.event("message", 10, "a message after 4004")["params"]
        return ("4004" in e and "authentication failed" in e and
                len(ids) == 3 and gaps[0] >= 350 and gaps[1] > gaps[0] and
                m.get("text") == "after 4004") or (e, gaps, m)
    check("close 4004 (authentication failed): an error event naming it, "
          "new sessions tried after a growing backoff, not in a loop",
          auth_failed)
    print(f"# IDENTIFYs after 4004 {st.get('4004')} ms apart", flush=True)

    def websocket_frames():
        g0 = srv.last_gw()
        srv.fault("ping", data="are you there")
        pong = srv.wait_gw("pong", 1, 5, since=g0)[0]
        srv.fault("fragment", count=1)
        srv.say("in three frames " + "x" * 300)
        m = a.event("message", 10, "the fragmented dispatch")["params"]
        return (pong["data"] == "are you there" and
                m.get("text") == "in three frames " + "x" * 300) or \
            (pong, m)
    check("the WebSocket: a ping answered with its pong; a dispatch in "
          "three frames (text, continuation, continuation) joined",
          websocket_frames)

    def refused_upgrade():
        g0 = srv.last_gw()
        srv.fault("refuse_upgrade", status=503, count=1)
        srv.fault("drop")
        e1 = a.event("error", 10, "the drop's error")["params"]["message"]
        e2 = a.event("error", 10, "the refused handshake's error")
        e2 = e2["params"]["message"]
        srv.wait(lambda: srv.ready_since(g0), 1, 15, "RESUMED after it")
        srv.say("after a refused handshake")
        m = a.event("message", 10, "a message after it")["params"]
        return ("refused the WebSocket (HTTP 503" in e2 and
                srv.gw("resume", g0) and
                m.get("text") == "after a refused handshake") or (e1, e2, m)
    check("a WebSocket handshake answered 503, not 101: an error event "
          "saying so, tried again, resumed", refused_upgrade)

    def garbage():
        a.send(b"\x00\xff garbage\n")
        a.send(b'{"method": "send"}\n')
        a.send(b'{"method": "send", "params": {"channel_id": "x/../y", '
               b'"text": "t", "user": {"platform_id": "1", '
               b'"display_name": "a", "librefang_user": null}}}\n')
        a.send(b'{"method": "no_such_method"}\n')
        srv.say("still there?")
        m = a.event("message", 10, "a DM after the garbage")["params"]
        return (m.get("text") == "still there?" and a.p.poll() is None) or m
    check("garbage, a channel id that is no snowflake and unknown methods "
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
        srv.wait(lambda: srv.ready_since(0), 1, 40, "READY on the new "
                 "server")
        st["reconnect"] = time.monotonic() - t0
        r = srv.gw("resume")
        srv.say("after the restart")
        m = a.event("message", 10, "a message after the restart")["params"]
        return (m.get("text") == "after the restart" and len(r) >= 1) or \
            (e, r, m)
    check("the server killed and started again: an error event, a RESUME "
          "the new server does not know (op 9), a new session, messages",
          restart)
    print(f"# READY again {st.get('reconnect', -1):.1f} s after the server "
          "came back", flush=True)

    def shutdown():
        g0 = srv.last_gw()
        why = a.end("shutdown", within=1.5)
        cl = srv.wait_gw("closed", 1, 5, since=g0)
        return (why is None and cl[0]["code"] == 1000) or (why, cl)
    check("shutdown: the Gateway closed with 1000, exit 0 within a second",
          shutdown)

    b = Adapter("discord-badtoken", base_env(
        srv.port, DISCORD_BOT_TOKEN="wrong.token"))

    def bad_token():
        e = b.event("error", 10, "the token's error")["params"]["message"]
        e2 = b.event("error", 10, "the second attempt's error")
        alive = b.p.poll() is None
        b.send({"method": "shutdown"})
        rc, _ = b.exit_within(5)
        return ("token was refused" in e and "401" in e and alive and
                e2 is not None and rc == 0) or (e, alive, rc)
    check("a bad token: an error event (HTTP 401 at /gateway/bot), tried "
          "again after the backoff, still running", bad_token)

    c = Adapter("discord-noloop", {
        "DISCORD_BOT_TOKEN": TOKEN,
        "DISCORD_API_BASE": f"http://127.0.0.1:{srv.port}/api/v10"})

    def no_loopback():
        e = c.event("error", 10, "the configuration error")
        rc, _ = c.exit_within(5)
        return rc == 1 or (e, rc)
    check("an API base on loopback without DISCORD_ALLOW_LOOPBACK: an "
          "error event and exit 1", no_loopback)

    d = Adapter("discord-eof", base_env(srv.port))

    def eof():
        d.event("ready", 10)
        return d.end("eof", within=1.5)
    check("EOF on stdin: exit 0 within a second", eof)
    ok(not a.bad and not b.bad and not d.bad,
       "stdout carried frames only", a.bad + b.bad + d.bad)
    srv.stop()


if __name__ == "__main__":
    run(main)
