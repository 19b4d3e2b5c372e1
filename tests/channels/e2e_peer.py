#!/usr/bin/python3
"""e2e_peer.py - a real platform server and its user, for the end-to-end
tests through the channels service (t8090-t8094, tests/channels/e2e.sh).

The server's setup and the user's side are the adapter drivers' own
(tests/channels/PLATFORM_drive.py, imported: their checks do not run):
ngircd and an IRC user, mosquitto and mosquitto_pub/_sub, prosody and a
slixmpp user, dovecot (mail delivered into its Maildir) and aiosmtpd
(the replies captured), telegram-test-api and its client API (a user in
a private chat with the bot), matrix_server.py (a user in a direct room
with the bot), discord_server.mjs (the Gateway and REST; a user in a DM
with the bot), mattermost_server.mjs (the WebSocket and REST v4; a user
in a DM with the bot), slack_server.mjs (Socket Mode and the Web API; a
user in a DM with the bot).  Here the channels service runs the adapter, not
us; we only play the platform and its user, driven by files:

  WORK/env.json      written once the server and user are up: the
                     adapter's environment ([[sidecar_channels]] env)
  WORK/say/NAME      a JSON {"text": T, "id": ID (optional)}: the user
                     says T on the platform (with ID as its platform
                     message id where the platform carries one); taken
                     in name order, then renamed NAME.done
  WORK/heard.jsonl   what the user received from the bot, a JSON object
                     a line: {"text": T, ...}

Runs until SIGTERM (or SIGINT), then stops every server it started.  A
step that fails is logged on stderr and leaves no line in heard.jsonl:
the caller's bounded wait for it says what did not come.

usage: e2e_peer.py irc|mqtt|xmpp|email|telegram|matrix|discord|mattermost
       |slack WORKDIR LOGDIR
"""
import email
import email.policy
import importlib
import json
import os
import signal
import sys
import time

PLATFORM, WORK, LOGS = sys.argv[1], sys.argv[2], sys.argv[3]
SAY = os.path.join(WORK, "say")
HEARD = os.path.join(WORK, "heard.jsonl")
os.makedirs(SAY, exist_ok=True)
# The drivers read ADAPTER WORKDIR LOGDIR from argv when imported; the
# adapter is the channels service's child here, so it is never started.
sys.argv = [PLATFORM + "_drive.py", "/nonexistent", WORK, LOGS]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
d = importlib.import_module(PLATFORM + "_drive")


def log(msg):
    print(f"e2e_peer {PLATFORM}: {msg}", file=sys.stderr, flush=True)


def stop(*_):
    d.cleanup()
    if PLATFORM == "email":
        d.smtpd.stop()
    # No interpreter shutdown: the user's threads (slixmpp's loop) must
    # not hold the exit up.
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)


class Irc:
    """ngircd; alice talks to the adapter's nick by private message."""
    BOT = "fang"

    def start(self):
        d.ngircd_conf()
        d.ngircd_start()
        self.alice = d.User("alice")
        return {"IRC_SERVER": "127.0.0.1", "IRC_PORT": str(d.PORT),
                "IRC_NICK": self.BOT, "IRC_CHANNELS": "#test",
                "IRC_ALLOW_LOOPBACK": "1"}

    def say(self, c):
        # A PRIVMSG to a nick that is not on yet is lost (401): the
        # adapter may be ready before it has registered.
        end = time.monotonic() + 30
        while True:
            self.alice.send(f"ISON {self.BOT}")
            l = self.alice.wait(lambda l: b" 303 " in l, 10, "ISON's 303")
            if self.BOT.encode() in l.split(b" :", 1)[-1].split():
                break
            if time.monotonic() > end:
                raise TimeoutError(f"{self.BOT} was not on IRC within 30 s")
            time.sleep(0.2)
        self.alice.send(f"PRIVMSG {self.BOT} :{c['text']}")

    def heard(self):
        self.alice.poll()
        out, keep = [], []
        for l in self.alice.lines:
            p = l.split(b" ", 3)
            if (len(p) == 4 and p[1] == b"PRIVMSG" and p[2] == b"alice" and
                    p[0].startswith(b":" + self.BOT.encode() + b"!")):
                out.append({"text": p[3][1:].decode("utf-8", "replace"),
                            "from": self.BOT})
            else:
                keep.append(l)
        self.alice.lines[:] = keep
        return out


class Mqtt:
    """mosquitto; alice publishes on librefang/in/alice, a watcher reads
    librefang/out/#."""

    def start(self):
        d.broker_confs()
        d.broker_start("plain.conf", "broker", d.PORT)
        self.w = d.Watcher(topics=("librefang/out/#",))
        return {"MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(d.PORT),
                "MQTT_ALLOW_LOOPBACK": "1", "MQTT_CLIENT_ID": "lf-e2e"}

    def say(self, c):
        if c.get("id"):
            d.pub("librefang/in/alice", json.dumps({
                "user_id": "alice", "user_name": "Alice",
                "text": c["text"], "message_id": c["id"]}))
        else:
            d.pub("librefang/in/alice", c["text"])

    def heard(self):
        out = []
        while not self.w.q.empty():
            m = self.w.q.get()
            if not m["topic"].startswith("librefang/out/"):
                continue
            try:
                p = json.loads(m["payload"])
            except (ValueError, TypeError):
                p = {"text": m["payload"]}
            out.append({"text": p.get("text"), "topic": m["topic"],
                        "qos": m.get("qos")})
        return out


class Xmpp:
    """prosody; alice@localhost chats with fang@localhost."""

    def start(self):
        d.prosody_conf()
        d.prosody_start()
        self.alice = d.User("alice@localhost", "alicepass")
        return {"XMPP_JID": "fang@localhost/bot", "XMPP_PASSWORD":
                "fangpass", "XMPP_SERVER": "127.0.0.1",
                "XMPP_PORT": str(d.PORT), "XMPP_TLS_CA_FILE": d.CERT,
                "XMPP_ALLOW_LOOPBACK": "1"}

    def say(self, c):
        # To the bare JID: prosody keeps it offline until fang is on.
        self.alice.chat("fang@localhost", c["text"], mid=c.get("id"))

    def heard(self):
        out = []
        while not self.alice.q.empty():
            kind, st = self.alice.q.get()
            if (kind == "chat" and st["body"] and
                    st["from"].bare == "fang@localhost"):
                out.append({"text": st["body"], "from": str(st["from"])})
        return out


class Email:
    """dovecot (bot's Maildir) for mail in, aiosmtpd for mail out."""
    n = 0

    def start(self):
        d.dovecot_conf()
        d.dovecot_start()
        d.smtpd.start()
        return d.base_env()

    def say(self, c):
        Email.n += 1
        mid = c.get("id") or f"e2e-{Email.n}-{os.getpid()}@example.org"
        d.deliver(f"""From: "Alice Example" <alice@example.org>
To: bot@example.com
Subject: e2e {Email.n}
Message-ID: <{mid}>
Date: Sun, 06 Dec 2026 12:00:00 +0000
Content-Type: text/plain; charset=utf-8

{c['text']}
""")

    def heard(self):
        out = []
        while not d.CAP.mails.empty():
            m = d.CAP.mails.get()
            msg = email.message_from_bytes(m["data"],
                                           policy=email.policy.default)
            body = msg.get_body(("plain",))
            text = body.get_content().strip() if body else ""
            out.append({"text": text, "to": m["to"],
                        "subject": str(msg["subject"]),
                        "in_reply_to": str(msg["in-reply-to"])})
        return out


class Telegram:
    """telegram-test-api; alice (user 1) writes to the bot in chat 1 and
    reads what the bot sent there."""

    def start(self):
        self.srv = d.Server()
        return {"TELEGRAM_BOT_TOKEN": d.TOKEN,
                "TELEGRAM_API_BASE": self.srv.base,
                "TELEGRAM_ALLOW_LOOPBACK": "1",
                "TELEGRAM_POLL_TIMEOUT_SECS": "1"}

    def say(self, c):
        self.srv.say(c["text"], first="alice")

    def heard(self):
        return [{"text": m.get("text"), "chat_id": m.get("chat_id")}
                for m in self.srv.user_updates(1)]


class Matrix:
    """matrix_server.py; alice writes to the bot in a direct room of the
    two of them and reads what the bot sent there."""

    def start(self):
        state = os.path.join(WORK, "matrix-state.json")
        if os.path.exists(state):
            os.unlink(state)
        self.srv = d.Server()
        self.srv.room(d.DM, {d.ALICE: "alice"}, direct=True)
        self.seen = 0
        return {"MATRIX_ACCESS_TOKEN": d.TOKEN,
                "MATRIX_USER_ID": d.BOT,
                "MATRIX_HOMESERVER_URL": self.srv.base,
                "MATRIX_ALLOW_LOOPBACK": "1",
                "MATRIX_SYNC_TIMEOUT_SECS": "2"}

    def say(self, c):
        self.srv.say(c["text"], room=d.DM, sender=d.ALICE)

    def heard(self):
        s = self.srv.sent()
        new, self.seen = s[self.seen:], len(s)
        return [{"text": x["content"].get("body"), "room_id": x["room_id"],
                 "txn": x["txn"]} for x in new
                if x["type"] == "m.room.message"]


class Discord:
    """discord_server.mjs; alice (user 300) writes to the bot in DM
    channel 200 and reads what the bot posted there."""

    def start(self):
        self.srv = d.Server()
        self.seen = 0
        return {"DISCORD_BOT_TOKEN": d.TOKEN,
                "DISCORD_API_BASE": self.srv.base + "/api/v10",
                "DISCORD_ALLOW_LOOPBACK": "1"}

    def say(self, c):
        # No Gateway session yet (the adapter is not READY): a message
        # would have no one to go to; wait for one.
        end = time.monotonic() + 30
        while "id" not in (self.srv.say(c["text"], channel="200",
                                        uid="300", username="alice",
                                        global_name="alice") or {}):
            if time.monotonic() > end:
                raise TimeoutError("no Gateway session within 30 s")
            time.sleep(0.2)

    def heard(self):
        out = []
        for x in self.srv.calls(self.seen):
            self.seen = max(self.seen, x["n"])
            if x["method"] == "POST" and x["path"].endswith("/messages"):
                out.append({"text": json.loads(x["body"]).get("content"),
                            "channel_id": x["path"].split("/")[2]})
        return out


class Mattermost:
    """mattermost_server.mjs; alice writes to the bot in their DM channel
    and reads what the bot posted there."""

    def start(self):
        self.srv = d.Server()
        self.seen = 0
        return {"MATTERMOST_TOKEN": d.TOKEN,
                "MATTERMOST_SERVER_URL": self.srv.base,
                "MATTERMOST_ALLOW_LOOPBACK": "1"}

    def say(self, c):
        # No WebSocket connection yet (the adapter is not up): a post
        # would have no one to go to; wait for one.
        self.srv.say_when_up(c["text"], channel=d.DM, ctype="D",
                             uid=d.ALICE, username="alice")

    def heard(self):
        out = []
        for x in self.srv.calls(self.seen):
            self.seen = max(self.seen, x["n"])
            if x["method"] == "POST" and x["path"] == "/posts":
                b = json.loads(x["body"])
                out.append({"text": b.get("message"),
                            "channel_id": b.get("channel_id"),
                            "root_id": b.get("root_id")})
        return out


class Slack:
    """slack_server.mjs; alice writes to the bot in DM D0ALICE001 and
    reads what the bot posted there.  A message said before the adapter
    has a connection waits for one, as Slack keeps it.  ID, when given,
    is the message's ts: the same ts again is Slack delivering the same
    message again."""

    def start(self):
        self.srv = d.Server()
        self.seen = 0
        return {"SLACK_APP_TOKEN": d.APP_TOKEN,
                "SLACK_BOT_TOKEN": d.BOT_TOKEN,
                "SLACK_API_BASE": self.srv.api,
                "SLACK_ALLOW_LOOPBACK": "1"}

    def say(self, c):
        kw = {"ts": c["id"]} if c.get("id") else {}
        r = self.srv.say(c["text"], channel=d.DM, **kw)
        if "ts" not in (r or {}):
            raise RuntimeError(f"the server did not take it: {r!r}")

    def heard(self):
        out = []
        for x in self.srv.calls(self.seen):
            self.seen = max(self.seen, x["n"])
            if x["api"] == "chat.postMessage":
                out.append({"text": d.unescape(x["body"]["text"]),
                            "channel_id": x["body"]["channel"],
                            "thread_ts": x["body"].get("thread_ts")})
        return out


def main():
    p = {"irc": Irc, "mqtt": Mqtt, "xmpp": Xmpp, "email": Email,
         "telegram": Telegram, "matrix": Matrix,
         "discord": Discord, "mattermost": Mattermost,
         "slack": Slack}[PLATFORM]()
    env = p.start()
    with open(os.path.join(WORK, ".env.json"), "w") as f:
        json.dump(env, f)
    os.rename(os.path.join(WORK, ".env.json"),
              os.path.join(WORK, "env.json"))
    log("up")
    while True:
        for name in sorted(os.listdir(SAY)):
            if name.startswith(".") or name.endswith(".done"):
                continue
            path = os.path.join(SAY, name)
            try:
                with open(path) as f:
                    c = json.load(f)
                p.say(c)
                log(f"said {c!r}")
            except Exception as e:       # noqa: BLE001 - logged
                log(f"could not say {name}: {type(e).__name__}: {e}")
            os.rename(path, path + ".done")
        for h in p.heard():
            log(f"heard {h!r}")
            with open(HEARD, "a") as f:
                f.write(json.dumps(h) + "\n")
        time.sleep(0.05)


try:
    main()
except Exception as e:       # noqa: BLE001
    log(f"stopped: {type(e).__name__}: {e}")
    stop()
