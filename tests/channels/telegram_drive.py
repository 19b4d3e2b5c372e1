#!/usr/bin/env python3
"""telegram_drive.py - drives channel-telegram against telegram-test-api.

Plays the daemon's side of the sidecar protocol (spec/notes/protocols.md
1.3) on the adapter's stdin/stdout, and the Telegram side through
tests/channels/telegram_server.mjs: the npm emulator telegram-test-api
(the Bot API the adapter calls, and the client API a user plays) with a
token check, sendChatAction/setMessageReaction, faults on demand and a
record of every Bot API call in front.  Prints TAP ("ok - desc" /
"not ok - desc", numbered by the caller, t8110) and "# ..." diagnostics.
Every wait is bounded and says what it waited for; every process it
starts is stopped when it ends, however it ends.

usage: telegram_drive.py ADAPTER_BIN WORKDIR [LOGDIR]
(LOGDIR, default WORKDIR, gets telegram-*.log: each adapter's stderr,
the server's)

The plumbing (TAP, the adapter's pipes and frames, processes) is
drivelib.py's; the server, its user and the scenario are here.
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
SERVER_JS = os.path.join(HERE, "telegram_server.mjs")
NODE = os.environ.get("NODE", "node")
TOKEN = "123456:lf-test-token_0123456789"
BOT_ID, BOT_NAME = 666, "TestNameBot"       # the emulator's getMe


# ---- the Telegram side ------------------------------------------------------


class Server(drivelib.FakeServer):
    """telegram_server.mjs on 127.0.0.1 (port 0: any free one)."""

    def __init__(self, port=0):
        super().__init__("telegram_server.mjs",
                         [NODE, SERVER_JS, "--port", str(port),
                          "--tokens", TOKEN], 20,
                         os.path.join(LOGS, "telegram-server.log"))

    def _from(self, user_id, first, username):
        return {"id": user_id, "is_bot": False, "first_name": first,
                "username": username}

    def say(self, text, chat_id=1, user_id=1, first="Alice",
            username="alice", chat_type="private", **extra):
        """A user's message, as the emulator's client API takes it."""
        m = {"botToken": TOKEN, "date": int(time.time()),
             "from": self._from(user_id, first, username),
             "chat": {"id": chat_id, "type": chat_type,
                      "first_name": first, "title": "Test chat"},
             "text": text}
        m.update(extra)
        return self.req("POST", "/sendMessage", m)

    def press(self, data, chat_id=1, user_id=1, first="Alice"):
        """A user pressing an inline button whose callback_data is data."""
        u = self._from(user_id, first, "alice")
        return self.req("POST", "/sendCallback", {
            "botToken": TOKEN, "date": int(time.time()), "from": u,
            "message": {"from": u, "chat": {"id": chat_id,
                                            "type": "private"},
                        "text": "Pick one"},
            "data": data})

    def user_updates(self, chat_id=1):
        """What the user in chat_id has not read yet of the bot's."""
        r = self.req("POST", "/getUpdates", {"token": TOKEN,
                                             "chatId": chat_id})
        return [u["message"] for u in (r or {}).get("result", [])]

    def calls(self, method=None, since=0):
        c = self.req("GET", "/__calls") or []
        return [x for x in c if x["n"] > since and
                (method is None or x["method"] == method)]

    def last_n(self):
        c = self.req("GET", "/__calls") or []
        return c[-1]["n"] if c else 0

    def fault(self, method, status, count=1, **kw):
        self.req("POST", "/__fault", dict(method=method, status=status,
                                          count=count, **kw))

    def wait_calls(self, method, n, secs, since=0, what=None):
        return wait_count(lambda: self.calls(method, since), n, secs,
                          f"{method} calls ({what or method})")

# ---- the adapter, with us as its daemon -------------------------------------


class Adapter(drivelib.Adapter):
    BIN, LOGS, PREFIX = ADAPTER, LOGS, ("TELEGRAM_", "ALLOWED_USERS")


def base_env(port, **kw):
    env = {"TELEGRAM_BOT_TOKEN": TOKEN,
           "TELEGRAM_API_BASE": f"http://127.0.0.1:{port}",
           "TELEGRAM_ALLOW_LOOPBACK": "1",
           "TELEGRAM_POLL_TIMEOUT_SECS": "1"}
    env.update(kw)
    return env


def utf16(s):
    return len(s.encode("utf-16-le")) // 2

# ---- the scenario -----------------------------------------------------------


def main():
    srv = Server()
    a = Adapter("telegram-main", base_env(srv.port))
    st = {}

    def ready():
        r = a.ready()
        p = r.get("params") or {}
        return (p.get("protocol_version") == 1 and
                p.get("capabilities") == ["typing", "reaction",
                                          "interactive"]) or r
    check("ready: protocol_version 1, capabilities typing, reaction, "
          "interactive", ready)

    def connected():
        srv.wait_calls("getMe", 1, 10)
        c = srv.wait_calls("getUpdates", 1, 10)[0]["body"]
        return (c.get("timeout") == 1 and
                c.get("allowed_updates") == ["message", "callback_query"]) \
            or c
    check("getMe at connect, then getUpdates with the poll timeout and the "
          "updates it handles", connected)

    def dm():
        srv.say("hello bot")
        m = a.event("message", 10, "the DM")["params"]
        want = {"user_id": "1", "user_name": "Alice", "username": "alice",
                "text": "hello bot", "content": {"Text": "hello bot"},
                "channel_id": "1", "platform": "telegram"}
        got = {k: m.get(k) for k in want}
        st["dm_id"] = m.get("message_id", "")
        return (got == want and not m.get("is_group") and
                st["dm_id"].startswith("1:") and
                m["metadata"] == {"was_mentioned": False,
                                  "chat_type": "private"}) or m
    check("a private message arrives as a message event, message_id "
          "'<chat_id>:<message_id>'", dm)

    def offset():
        # The next getUpdates asks past the update just seen.
        c = srv.wait_calls("getUpdates", 1, 5, since=srv.last_n())[0]
        return c["body"].get("offset", 0) >= 2 or c["body"]
    check("the next getUpdates carries the offset past it", offset)

    def command():
        srv.say("/status now please")
        m = a.event("message", 10, "the /command")["params"]
        return m.get("content") == {"Command": {
            "name": "status", "args": ["now", "please"]}} or m
    check("a /command arrives as Command content", command)

    def group():
        srv.say("just chatting", chat_id=-100, chat_type="supergroup")
        m1 = a.event("message", 10, "the group message")["params"]
        srv.say(f"hey @{BOT_NAME.lower()} what time is it?", chat_id=-100,
                chat_type="supergroup")
        m2 = a.event("message", 10, "the group mention")["params"]
        return (m1.get("is_group") is True and
                m1["channel_id"] == "-100" and
                m1["metadata"]["was_mentioned"] is False and
                m2["metadata"]["was_mentioned"] is True) or (m1, m2)
    check("group messages: is_group, the chat id, was_mentioned only when "
          "@bot is named", group)

    def say_dm():
        n0 = srv.last_n()
        send_cmd(a, "1", "hi alice")
        c = srv.wait_calls("sendMessage", 1, 10, since=n0)[0]["body"]
        got = srv.user_updates(1)
        return (c == {"chat_id": 1, "text": "hi alice"} and
                [m.get("text") for m in got] == ["hi alice"]) or (c, got)
    check("send: a sendMessage to the chat, which the user receives", say_dm)

    def long_send():
        unit = "Zeile mit élan 😀 und mehr Wörtern " * 3
        text = "\n".join(f"{i:03d} {unit}" for i in range(120))
        n0 = srv.last_n()
        send_cmd(a, "1", text)
        cs = []
        while "".join(c["body"]["text"] for c in cs) != text:
            cs = srv.wait_calls("sendMessage", len(cs) + 1, 10, since=n0,
                                what=f"the long send's parts ({len(cs)} "
                                "so far)")
            if len(cs) > 10:
                break
        parts = [c["body"]["text"] for c in cs]
        st["parts"] = [utf16(p) for p in parts]
        return ("".join(parts) == text and len(parts) >= 3 and
                all(utf16(p) <= 4096 for p in parts) and
                all(p.endswith("\n") for p in parts[:-1])) or st["parts"]
    check("a long send is cut into messages of at most 4096 UTF-16 units, "
          "at line ends, that add up to the text", long_send)
    print(f"# the long send went as {len(st.get('parts', []))} messages of "
          f"{st.get('parts')} UTF-16 units", flush=True)
    srv.user_updates(1)

    def keepalive():
        c = srv.calls("sendMessage")
        conns = {x["conn"] for x in c}
        st["conns"] = (len(c), len(conns))
        return len(conns) < len(c) or st["conns"]
    check("sends reuse a kept-alive connection", keepalive)
    print(f"# {st['conns'][0]} sendMessage calls on {st['conns'][1]} "
          f"connection(s)", flush=True)

    def typing_reaction():
        n0 = srv.last_n()
        a.send({"method": "typing", "params": {"channel_id": "1"}})
        a.send({"method": "reaction", "params": {
            "channel_id": "1", "message_id": st["dm_id"],
            "reaction": "\u2705", "phase": "done"}})
        t = srv.wait_calls("sendChatAction", 1, 10, since=n0)[0]["body"]
        r = srv.wait_calls("setMessageReaction", 1, 10, since=n0)[0]["body"]
        mid = int(st["dm_id"].split(":")[1])
        return (t == {"chat_id": 1, "action": "typing"} and
                r == {"chat_id": 1, "message_id": mid, "reaction": [
                    {"type": "emoji", "emoji": "\U0001F44D"}]}) or (t, r)
    check("typing is sendChatAction; a reaction is setMessageReaction on "
          "the message, with an emoji Telegram takes (done: thumbs up)",
          typing_reaction)

    def interactive():
        n0 = srv.last_n()
        a.send({"method": "interactive", "params": {
            "channel_id": "1", "message": {
                "text": "Pick one", "buttons": [[
                    {"label": "A", "action": "opt_a"},
                    {"label": "Docs", "action": "docs",
                     "url": "https://example.org/docs"}]]}}})
        c = srv.wait_calls("sendMessage", 1, 10, since=n0)[0]["body"]
        kb = (c.get("reply_markup") or {}).get("inline_keyboard")
        srv.user_updates(1)
        srv.press("opt_a")
        m = a.event("message", 10, "the button press")["params"]
        ans = srv.wait_calls("answerCallbackQuery", 1, 10, since=n0)
        return (kb == [[{"text": "A", "callback_data": "opt_a"},
                        {"text": "Docs",
                         "url": "https://example.org/docs"}]] and
                m.get("content") == {"ButtonCallback": {
                    "action": "opt_a", "message_text": "Pick one"}} and
                len(ans) == 1) or (c, m)
    check("interactive: an inline keyboard; a press comes back as "
          "ButtonCallback content and is answered", interactive)

    def flood_429():
        n0 = srv.last_n()
        srv.fault("sendMessage", 429, 1, retry_after=1,
                  description="Too Many Requests: retry after 1")
        t0 = time.monotonic()
        send_cmd(a, "1", "after the flood")
        cs = srv.wait_calls("sendMessage", 2, 10, since=n0)
        dt = cs[1]["t"] - cs[0]["t"]
        got = srv.user_updates(1)
        st["429"] = dt
        return ([m.get("text") for m in got] == ["after the flood"] and
                900 <= dt <= 5000 and time.monotonic() - t0 < 8) or \
            (dt, got)
    check("429 with retry_after 1: sent again about 1 s later, once",
          flood_429)

    def server_error():
        n0 = srv.last_n()
        srv.fault("sendMessage", 502, 1, description="Bad Gateway")
        send_cmd(a, "1", "after a 502")
        cs = srv.wait_calls("sendMessage", 2, 10, since=n0)
        got = srv.user_updates(1)
        return [m.get("text") for m in got] == ["after a 502"] or (cs, got)
    check("a 5xx: sent again after the backoff, once", server_error)

    def dropped():
        # The kept connection dropped as the request went: sent again at
        # once on a new one (ad_http), not after the retry backoff.
        n0 = srv.last_n()
        srv.fault("sendMessage", 0, 1, close=True)
        send_cmd(a, "1", "after a drop")
        cs = srv.wait_calls("sendMessage", 2, 10, since=n0)
        got = srv.user_updates(1)
        dt = cs[1]["t"] - cs[0]["t"]
        return ([m.get("text") for m in got] == ["after a drop"] and
                cs[0]["conn"] != cs[1]["conn"] and dt < 800) or (cs, got)
    check("a kept connection dropped under a send: sent again at once on "
          "a new one, received once", dropped)

    def refused():
        n0 = srv.last_n()
        srv.fault("sendMessage", 400, 1,
                  description="Bad Request: chat not found")
        send_cmd(a, "424242", "to nowhere")
        e = a.event("error", 10, "the 400's error")["params"]["message"]
        time.sleep(0.6)
        n = len(srv.calls("sendMessage", n0))
        return ("chat not found" in e and n == 1) or (e, n)
    check("a 400 is an error event naming the cause, not retried", refused)

    def conflict():
        n0 = srv.last_n()
        srv.fault("getUpdates", 409, 1, description="Conflict: terminated "
                  "by other getUpdates request")
        e = a.event("error", 10, "the 409's error")["params"]["message"]
        srv.wait_calls("getMe", 1, 10, since=n0, what="the reconnect")
        srv.say("after the conflict")
        m = a.event("message", 10, "a message after the 409")["params"]
        return ("409" in e and m.get("text") == "after the conflict") or \
            (e, m)
    check("getUpdates 409: an error event, a reconnect, messages again",
          conflict)

    def garbage():
        a.send(b"\x00\xff garbage\n")
        a.send(b'{"method": "send"}\n')
        a.send(b'{"method": "send", "params": {"channel_id": "x y z", '
               b'"text": "t", "user": {"platform_id": "1", '
               b'"display_name": "a", "librefang_user": null}}}\n')
        a.send(b'{"method": "no_such_method"}\n')
        srv.say("still there?")
        m = a.event("message", 10, "a DM after the garbage")["params"]
        return (m.get("text") == "still there?" and a.p.poll() is None) or m
    check("garbage and unknown methods on stdin are ignored", garbage)

    # Memory, idle and connected (issue 13: 2 MB PSS per adapter).
    def memory():
        time.sleep(0.5)
        return a.pss_at_most(2048, "after the traffic above")
    check("PSS at most 2 MB", memory)

    def restart():
        port = srv.port
        n_err = 0
        srv.stop()
        e = a.event("error", 15, "the error of the server gone")
        n_err += 1
        time.sleep(1)
        srv.__init__(port)
        t0 = time.monotonic()
        srv.wait_calls("getMe", 1, 40, what="getMe on the new server")
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

    # A token the Bot API does not know: an error event, tried again.
    b = Adapter("telegram-badtoken", base_env(
        srv.port, TELEGRAM_BOT_TOKEN="999:wrong"))

    def bad_token():
        e = b.event("error", 10, "the token's error")["params"]["message"]
        e2 = b.event("error", 10, "the second attempt's error")
        alive = b.p.poll() is None
        b.send({"method": "shutdown"})
        rc, _ = b.exit_within(5)
        return ("refused the token" in e and "401" in e and alive and
                e2 is not None and rc == 0) or (e, alive, rc)
    check("a bad token: an error event saying the Bot API refused it (401), "
          "tried again after the backoff, still running", bad_token)

    # Loopback without the switch: a configuration error, exit 1.
    c = Adapter("telegram-noloop", {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": f"http://127.0.0.1:{srv.port}"})

    def no_loopback():
        e = c.event("error", 10, "the configuration error")
        rc, _ = c.exit_within(5)
        return rc == 1 or (e, rc)
    check("an API base on loopback without TELEGRAM_ALLOW_LOOPBACK: an "
          "error event and exit 1", no_loopback)

    # EOF on stdin ends it too.
    d = Adapter("telegram-eof", base_env(srv.port))

    def eof():
        d.event("ready", 10)
        return d.end("eof", within=1.5)
    check("EOF on stdin: exit 0 within a second", eof)
    ok(not a.bad and not b.bad and not d.bad,
       "stdout carried frames only", a.bad + b.bad + d.bad)
    srv.stop()


if __name__ == "__main__":
    run(main)
