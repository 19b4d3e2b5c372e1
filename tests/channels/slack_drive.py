#!/usr/bin/env python3
"""slack_drive.py - drives channel-slack against slack_server.mjs.

Plays the daemon's side of the sidecar protocol (spec/notes/protocols.md
1.3) on the adapter's stdin/stdout, and the Slack side through
tests/channels/slack_server.mjs (Socket Mode over a WebSocket and the
Web API methods, as Slack documents them, with faults on demand and a
record of both): auth.test with the bot token, apps.connections.open
with the app token, hello, every envelope ACKed by its envelope_id;
DM, channel, thread and mention messages and a slash command as
message events with Slack's ids; a redelivered envelope and a mention
that is also an app_mention delivered once; sends (escaped, in a
thread, cut at 40,000 characters), typing (none on Slack), reactions;
a 429's Retry-After, a 5xx retried, an error and a 4xx reported, a
refused token reported; disconnect (refresh_requested, warning,
link_disabled), a dropped connection, the server restarted, bad
tokens, PSS, shutdown and EOF.  Prints TAP ("ok - desc" / "not ok -
desc", numbered by the caller, t8140) and "# ..." diagnostics.  Every
wait is bounded and says what it waited for; every process it starts
is stopped when it ends, however it ends.

usage: slack_drive.py ADAPTER_BIN WORKDIR [LOGDIR]
(LOGDIR, default WORKDIR, gets slack-*.log: each adapter's stderr, the
server's)

The plumbing (TAP, the adapter's pipes and frames, processes) is
drivelib.py's; the Socket Mode and Web API server, its users and the
scenario are here.
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
SERVER_JS = os.path.join(HERE, "slack_server.mjs")
NODE = os.environ.get("NODE", "node")
BOT_TOKEN = "xoxb-1111-2222-lftestbottoken"
APP_TOKEN = "xapp-1-A0FAKE0001-3333-lftestapptoken"
ACK_MS = 1500               # the fake's wait for an ACK before it redelivers
DM, CHAN, OTHER = "D0ALICE001", "C0GENERAL1", "C0NOTALLOW"
ALICE = "U0ALICE001"


# ---- the Slack side -----------------------------------------------------------


class Server(drivelib.FakeServer):
    """slack_server.mjs on 127.0.0.1 (port 0: any free one); the bot's
    user id is the one it says with its port."""

    def __init__(self, port=0):
        super().__init__("slack_server.mjs",
                         [NODE, SERVER_JS, "--port", str(port),
                          "--bot-token", BOT_TOKEN, "--app-token",
                          APP_TOKEN, "--ack-ms", str(ACK_MS)], 20,
                         os.path.join(LOGS, "slack-server.log"))
        self.bot_user = self.hello["bot_user"]
        self.api = self.base + "/api"

    def say(self, text, channel=DM, user=ALICE, name="alice", **kw):
        return self.req("POST", "/__say", dict(channel=channel, user=user,
                                               text=text, name=name,
                                               username=name, **kw))

    def command(self, command, text, channel=DM, user=ALICE,
                name="alice", **kw):
        return self.req("POST", "/__command", dict(
            channel_id=channel, user_id=user, user_name=name,
            command=command, text=text, **kw))

    def fault(self, kind, **kw):
        return self.req("POST", "/__fault", dict(kind=kind, **kw))

    def calls(self, since=0, api=None):
        return [c for c in self.req("GET", "/__calls") or []
                if c["n"] > since and (api is None or c["api"] == api)]

    def last_call(self):
        c = self.req("GET", "/__calls") or []
        return c[-1]["n"] if c else 0

    def ws(self, what=None, since=0):
        return [e for e in self.req("GET", "/__ws") or []
                if e["n"] > since and (what is None or e["what"] == what)]

    def last_ws(self):
        w = self.req("GET", "/__ws") or []
        return w[-1]["n"] if w else 0

    def wait_ws(self, what, n, secs, since=0):
        return wait_count(lambda: self.ws(what, since), n, secs, what)

    def wait_calls(self, n, secs, since=0, api=None):
        return wait_count(lambda: self.calls(since, api), n, secs,
                          f"{api or 'Web API'} calls")

    def hellos(self, since=0):
        return [e for e in self.ws("sent", since) if e["type"] == "hello"]

    def acked(self, envelope_id):
        return [e for e in self.ws("ack") if e["envelope_id"] ==
                envelope_id]

    def texts(self, since=0):
        """The texts chat.postMessage got, Slack's escapes taken back."""
        return [unescape(c["body"]["text"])
                for c in self.calls(since, "chat.postMessage")]


def unescape(t):
    return t.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

# ---- the adapter, with us as its daemon ---------------------------------------


class Adapter(drivelib.Adapter):
    BIN, LOGS, PREFIX = ADAPTER, LOGS, "SLACK_"


def base_env(srv, **kw):
    env = {"SLACK_APP_TOKEN": APP_TOKEN, "SLACK_BOT_TOKEN": BOT_TOKEN,
           "SLACK_API_BASE": srv.api, "SLACK_ALLOW_LOOPBACK": "1"}
    env.update(kw)
    return env

# ---- the scenario -------------------------------------------------------------


def main():
    srv = Server()
    a = Adapter("slack-main", base_env(
        srv, SLACK_ALLOWED_CHANNELS=f"{DM}, {CHAN}"))
    st = {}

    def ready():
        r = a.ready()
        p = r.get("params") or {}
        return (p.get("protocol_version") == 1 and
                p.get("capabilities") == ["reaction", "thread"]) or r
    check("ready: protocol_version 1, capabilities reaction, thread (no "
          "typing: Slack has none for bots)", ready)

    def connect():
        t = srv.wait_calls(1, 10, api="auth.test")[0]
        o = srv.wait_calls(1, 10, api="apps.connections.open")[0]
        c = srv.wait_ws("connect", 1, 10)[0]
        wait_count(srv.hellos, 1, 10, "hello")
        return (t["auth"] == "Bearer " + BOT_TOKEN and
                o["auth"] == "Bearer " + APP_TOKEN and
                o["n"] > t["n"] and bool(c["ticket"])) or (t, o, c)
    check("auth.test with the bot token, apps.connections.open with the "
          "app token, the WebSocket at its URL (a ticket), hello", connect)

    def dm():
        r = srv.say("hello bot")
        m = a.event("message", 10, "the DM")["params"]
        want = {"user_id": ALICE, "user_name": "alice",
                "username": "alice", "text": "hello bot",
                "content": {"Text": "hello bot"}, "channel_id": DM,
                "platform": "slack", "message_id": r["ts"]}
        got = {k: m.get(k) for k in want}
        st["dm_ts"] = r["ts"]
        ack = wait_count(lambda: srv.acked(r["envelopes"][0]), 1, 5,
                         "the DM's ACK")[0]
        st["ack_ms"] = ack["ms"]
        return (got == want and not m.get("is_group") and
                "thread_id" not in m and ack["ms"] < 1000 and
                m.get("metadata") == {"was_mentioned": False,
                                      "team_id": "T0FAKE0001"}) or \
            (m, ack)
    check("a DM arrives as a message event (the user, the D channel, the "
          "ts as message id), its envelope ACKed at once", dm)
    print(f"# the DM's envelope ACKed {st.get('ack_ms')} ms after it was "
          "sent", flush=True)

    def channel():
        srv.say("just chatting &amp; more &lt;here&gt;", channel=CHAN)
        m1 = a.event("message", 10, "the channel message")["params"]
        r = srv.say(f"<@{srv.bot_user}> what time is it?", channel=CHAN,
                    mention=True)
        m2 = a.event("message", 10, "the mention")["params"]
        dup = a.none_within("message", 1.0)
        acks = [len(srv.acked(e)) for e in r["envelopes"]]
        return (m1.get("is_group") is True and
                m1.get("text") == "just chatting & more <here>" and
                m1["metadata"]["was_mentioned"] is False and
                m2["metadata"]["was_mentioned"] is True and
                m2.get("message_id") == r["ts"] and dup is None and
                acks == [1, 1]) or (m1, m2, dup, acks)
    check("channel messages: is_group, Slack's escapes taken back; a "
          "mention (message and app_mention of one ts) is one event, "
          "was_mentioned, both envelopes ACKed", channel)

    def thread():
        r = srv.say("in a thread", channel=CHAN, thread_ts=st["dm_ts"])
        m = a.event("message", 10, "the thread reply")["params"]
        st["thread_ts"] = st["dm_ts"]
        return (m.get("thread_id") == st["dm_ts"] and
                m.get("message_id") == r["ts"]) or m
    check("a reply in a thread: thread_id is its thread_ts", thread)

    def slash():
        r = srv.command("/weather", "berlin tomorrow")
        m = a.event("message", 10, "the slash command")["params"]
        ack = wait_count(lambda: srv.acked(r["envelope"]), 1, 5,
                         "the command's ACK")
        return (m.get("content") == {"Command": {
            "name": "weather", "args": ["berlin", "tomorrow"]}} and
                m.get("text") == "/weather berlin tomorrow" and
                m.get("message_id") == r["trigger_id"] and
                m.get("channel_id") == DM and
                m["metadata"]["was_mentioned"] is True and len(ack) == 1) or m
    check("a slash command: Command content, its trigger_id as message "
          "id, ACKed", slash)

    def skipped():
        w0 = srv.last_ws()
        srv.say("my own echo", user=srv.bot_user)
        srv.say("beep", user="U0OTHERBOT", bot_id="B0OTHER")
        srv.say("edited", subtype="message_changed")
        srv.say("elsewhere", channel=OTHER)
        srv.say("/status now")
        m = a.event("message", 10, "the /command in text")["params"]
        acks = srv.wait_ws("ack", 5, 5, since=w0)
        return (m.get("content") == {"Command": {"name": "status",
                                                 "args": ["now"]}} and
                not a.skipped and len(acks) == 5) or (m, a.skipped, acks)
    check("the bot's own, a bot's, an edit and a channel not in "
          "SLACK_ALLOWED_CHANNELS are not events (each ACKed); a /command "
          "in text is Command content", skipped)

    def redelivered():
        w0 = srv.last_ws()
        r = srv.say("said once")
        m = a.event("message", 10, "the message")["params"]
        again = srv.req("POST", "/__redeliver",
                        {"envelope_id": r["envelopes"][0]})
        dup = a.none_within("message", 1.5)
        sent = [e for e in srv.ws("sent", w0)
                if e.get("envelope_id") == again["envelope_id"]]
        ack = srv.acked(again["envelope_id"])
        return (m.get("text") == "said once" and dup is None and sent and
                sent[0]["retry_attempt"] == 1 and len(ack) == 1) or \
            (dup, sent, ack)
    check("an envelope delivered again (retry_attempt 1, a new "
          "envelope_id): ACKed, not a second message event", redelivered)

    def no_redelivery():
        # Every envelope so far was ACKed in time: Slack (the fake)
        # delivered none again by itself.
        time.sleep(ACK_MS / 1000 + 0.3)
        timeouts = [e for e in srv.ws("sent") if e.get("retry_attempt")
                    and e["retry_attempt"] > 0]
        return len(timeouts) == 1 or timeouts
    check("no envelope was delivered again for a late ACK", no_redelivery)

    def send():
        n0 = srv.last_call()
        send_cmd(a, DM, "hi alice: a < b && c > d")
        c = srv.wait_calls(1, 10, since=n0, api="chat.postMessage")[0]
        return (c["body"] == {"channel": DM, "text":
                              "hi alice: a &lt; b &amp;&amp; c &gt; d",
                              "unfurl_links": False,
                              "unfurl_media": False} and
                c["auth"] == "Bearer " + BOT_TOKEN and
                c["ctype"].startswith("application/json")) or c
    check("send: chat.postMessage (JSON, the bot token) with & < > escaped",
          send)

    def thread_send():
        n0 = srv.last_call()
        send_cmd(a, CHAN, "in the thread", thread=st["thread_ts"])
        send_cmd(a, CHAN, "not a thread", thread="not-a-ts")
        cs = srv.wait_calls(2, 10, since=n0, api="chat.postMessage")
        return (cs[0]["body"].get("thread_ts") == st["thread_ts"] and
                "thread_ts" not in cs[1]["body"]) or cs
    check("a send with thread_id carries thread_ts (one that is no ts "
          "goes to the channel)", thread_send)

    def long_send():
        unit = "Zeile mit élan 😀 & <mehr> Wörtern " * 3
        text = "\n".join(f"{i:04d} {unit}" for i in range(900))
        n0 = srv.last_call()
        send_cmd(a, CHAN, text)
        cs = []
        for _ in range(10):
            cs = srv.wait_calls(len(cs) + 1, 10, since=n0,
                                api="chat.postMessage")
            if "".join(unescape(c["body"]["text"]) for c in cs) == text:
                break
        parts = [c["body"]["text"] for c in cs]
        st["parts"] = [len(p.encode("utf-16-le")) // 2 for p in parts]
        return ("".join(unescape(p) for p in parts) == text and
                len(parts) >= 3 and all(u <= 40000 for u in st["parts"])
                and all(unescape(p).endswith("\n") for p in parts[:-1])) \
            or st["parts"]
    check("a long send is cut into messages of at most 40,000 characters "
          "(escaped), at line ends, that add up to the text", long_send)
    print(f"# the long send went as {st.get('parts')} UTF-16 units",
          flush=True)

    def typing():
        n0 = srv.last_call()
        a.send({"method": "typing", "params": {"channel_id": DM}})
        got = a.quiet(1.0)
        return (not srv.calls(n0) and not got and a.p.poll() is None) or \
            (srv.calls(n0), got)
    check("typing: no Web API call (Slack has no typing for bots), no "
          "error", typing)

    def reaction():
        n0 = srv.last_call()
        a.send({"method": "reaction", "params": {
            "channel_id": DM, "message_id": st["dm_ts"],
            "reaction": "\U0001F914", "phase": "thinking"}})
        r = srv.wait_calls(1, 10, since=n0, api="reactions.add")[0]
        a.send({"method": "reaction", "params": {
            "channel_id": DM, "message_id": st["dm_ts"],
            "reaction": "\u2705", "phase": "done"}})
        rs = srv.wait_calls(3, 10, since=n0)
        return (r["body"] == {"channel": DM, "timestamp": st["dm_ts"],
                              "name": "thinking_face"} and
                [(x["api"], x["body"]["name"]) for x in rs[1:3]] == [
                    ("reactions.remove", "thinking_face"),
                    ("reactions.add", "white_check_mark")]) or (r, rs)
    check("a reaction is reactions.add with Slack's name of the emoji; "
          "the next phase's removes it first", reaction)

    def rate_limited():
        n0 = srv.last_call()
        srv.fault("api", match="chat.postMessage", status=429, count=1,
                  retry_after=1)
        send_cmd(a, DM, "after the rate limit")
        cs = srv.wait_calls(2, 10, since=n0, api="chat.postMessage")
        time.sleep(0.5)
        n = len(srv.calls(n0, "chat.postMessage"))
        dt = cs[1]["t"] - cs[0]["t"]
        st["429"] = dt
        return (950 <= dt <= 3000 and n == 2 and
                cs[1]["body"]["text"] == "after the rate limit") or (dt, n)
    check("429 ratelimited with Retry-After 1: sent again a second later, "
          "once", rate_limited)
    print(f"# resent {st.get('429')} ms after the 429", flush=True)

    def server_error():
        n0 = srv.last_call()
        srv.fault("api", match="chat.postMessage", status=503, count=1,
                  error="service_unavailable")
        srv.fault("api", match="chat.postMessage", status=200, count=1,
                  error="internal_error")
        send_cmd(a, DM, "after a 503")
        cs = srv.wait_calls(3, 15, since=n0, api="chat.postMessage")
        e = a.none_within("error", 0.5)
        return (cs[2]["body"]["text"] == "after a 503" and e is None) or \
            (cs, e)
    check("a 503 and an internal_error: sent again after the backoff, no "
          "error event", server_error)

    def refused():
        n0 = srv.last_call()
        srv.fault("api", match="chat.postMessage", count=1,
                  error="not_in_channel")
        send_cmd(a, CHAN, "where I may not")
        e = a.event("error", 10, "not_in_channel's error")
        e = e["params"]["message"]
        srv.fault("api", match="chat.postMessage", status=403, count=1,
                  error="forbidden")
        send_cmd(a, CHAN, "forbidden")
        e2 = a.event("error", 10, "the 403's error")["params"]["message"]
        send_cmd(a, "Z0NOSUCH99", "nowhere")
        e3 = a.event("error", 10, "channel_not_found's error")
        e3 = e3["params"]["message"]
        time.sleep(0.5)
        n = len(srv.calls(n0, "chat.postMessage"))
        return ("not_in_channel" in e and "403" in e2 and
                "channel_not_found" in e3 and n == 3) or (e, e2, e3, n)
    check("ok:false (not_in_channel, channel_not_found) and an HTTP 403: "
          "error events naming them, not retried", refused)

    def token_refused():
        srv.fault("api", match="chat.postMessage", count=1,
                  error="invalid_auth")
        send_cmd(a, DM, "with a revoked token")
        e = a.event("error", 10, "invalid_auth's error")
        e = e["params"]["message"]
        return ("bot token was refused" in e and "invalid_auth" in e) or e
    check("invalid_auth on a send: an error event, the bot token refused",
          token_refused)

    def refresh():
        w0 = srv.last_ws()
        n0 = srv.last_call()
        srv.fault("disconnect", reason="refresh_requested")
        wait_count(lambda: srv.hellos(w0), 1, 10, "hello again")
        o = srv.calls(n0, "apps.connections.open")
        cl = srv.ws("closed", w0)
        e = a.none_within("error", 0.3)
        srv.say("after a refresh")
        m = a.event("message", 10, "a message after it")["params"]
        return (len(o) == 1 and cl and cl[0]["code"] == 1000 and
                e is None and m.get("text") == "after a refresh") or \
            (o, cl, e, m)
    check("disconnect refresh_requested: closed (1000), a new URL, hello, "
          "no error event, messages again", refresh)

    def warning():
        w0 = srv.last_ws()
        srv.fault("disconnect", reason="warning")
        wait_count(lambda: srv.hellos(w0), 1, 10, "hello again")
        srv.say("after a warning")
        m = a.event("message", 10, "a message after it")["params"]
        return m.get("text") == "after a warning" or m
    check("disconnect warning: a new connection at once, messages again",
          warning)

    def dropped():
        w0 = srv.last_ws()
        srv.fault("drop")
        time.sleep(0.05)
        r = srv.say("said while the link was down")
        e = a.event("error", 10, "the drop's error")["params"]["message"]
        wait_count(lambda: srv.hellos(w0), 1, 10, "hello again")
        m = a.event("message", 10, "the message, after")["params"]
        dup = a.none_within("message", 1.0)
        return ("1006" in e and m.get("message_id") == r["ts"] and
                dup is None) or (e, m, dup)
    check("the connection dropped: an error event, a new connection; what "
          "was said meanwhile arrives once", dropped)

    def link_disabled():
        w0 = srv.last_ws()
        srv.fault("disconnect", reason="link_disabled")
        e = a.event("error", 10, "link_disabled's error")
        e = e["params"]["message"]
        wait_count(lambda: srv.hellos(w0), 1, 10, "hello after backoff")
        return "link_disabled" in e or e
    check("disconnect link_disabled: an error event, tried again after "
          "the backoff", link_disabled)

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
    check("garbage, a channel id that is none and unknown methods on stdin "
          "are ignored", garbage)

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
        wait_count(srv.hellos, 1, 40, "hello from the new server")
        st["reconnect"] = time.monotonic() - t0
        srv.say("after the restart")
        m = a.event("message", 10, "a message after the restart")["params"]
        return m.get("text") == "after the restart" or (e, m)
    check("the server killed and started again: an error event, a new "
          "connection, messages", restart)
    print(f"# hello again {st.get('reconnect', -1):.1f} s after the server "
          "came back", flush=True)

    def shutdown():
        w0 = srv.last_ws()
        why = a.end("shutdown", within=1.5)
        cl = srv.wait_ws("closed", 1, 5, since=w0)
        return (why is None and cl[0]["code"] == 1000) or (why, cl)
    check("shutdown: the WebSocket closed with 1000, exit 0 within a "
          "second", shutdown)

    b = Adapter("slack-badbot", base_env(
        srv, SLACK_BOT_TOKEN="xoxb-wrong-token"))

    def bad_bot_token():
        e = b.event("error", 10, "the token's error")["params"]["message"]
        e2 = b.event("error", 10, "the second attempt's error")
        alive = b.p.poll() is None
        b.send({"method": "shutdown"})
        rc, _ = b.exit_within(5)
        return ("bot token (SLACK_BOT_TOKEN) was refused" in e and
                "invalid_auth" in e and alive and e2 is not None and
                rc == 0) or (e, alive, rc)
    check("a bad bot token: an error event (auth.test: invalid_auth), "
          "tried again after the backoff, still running", bad_bot_token)

    c = Adapter("slack-badapp", base_env(
        srv, SLACK_APP_TOKEN="xapp-1-wrong-token"))

    def bad_app_token():
        e = c.event("error", 10, "the token's error")["params"]["message"]
        alive = c.p.poll() is None
        c.send({"method": "shutdown"})
        rc, _ = c.exit_within(5)
        return ("app token (SLACK_APP_TOKEN) was refused" in e and
                "invalid_auth" in e and alive and rc == 0) or (e, alive, rc)
    check("a bad app token: an error event (apps.connections.open: "
          "invalid_auth), still running", bad_app_token)

    def config_errors():
        got = []
        for name, env in (
                ("slack-noloop", {"SLACK_APP_TOKEN": APP_TOKEN,
                                  "SLACK_BOT_TOKEN": BOT_TOKEN,
                                  "SLACK_API_BASE": srv.api}),
                ("slack-swapped", base_env(srv, SLACK_APP_TOKEN=BOT_TOKEN,
                                           SLACK_BOT_TOKEN=APP_TOKEN)),
                ("slack-notoken", {"SLACK_API_BASE": srv.api,
                                   "SLACK_ALLOW_LOOPBACK": "1"})):
            x = Adapter(name, env)
            e = x.event("error", 10, "the configuration error")
            rc, _ = x.exit_within(5)
            got.append((name, rc, e["params"]["message"][:80]))
        return all(g[1] == 1 for g in got) or got
    check("an API base on loopback without SLACK_ALLOW_LOOPBACK, tokens "
          "swapped (xoxb- as the app's), none: an error event and exit 1",
          config_errors)

    d = Adapter("slack-eof", base_env(srv))

    def eof():
        d.event("ready", 10)
        return d.end("eof", within=1.5)
    check("EOF on stdin: exit 0 within a second", eof)
    ok(not a.bad and not b.bad and not c.bad and not d.bad,
       "stdout carried frames only", a.bad + b.bad + c.bad + d.bad)
    srv.stop()


if __name__ == "__main__":
    run(main)
