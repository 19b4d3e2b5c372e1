#!/usr/bin/env python3
"""mqtt_drive.py - drives channel-mqtt against a real mosquitto.

Plays the daemon's side of the sidecar protocol (spec/notes/protocols.md
1.3) on the adapter's stdin/stdout, and the platform's users with
mosquitto_pub and a mosquitto_sub watcher (JSON lines, -F %j).  Prints TAP
("ok - desc" / "not ok - desc", numbered by the caller, t8060) and "# ..."
diagnostics.  Every wait is bounded and says what it waited for; every
process it starts is stopped when it ends, however it ends.

usage: mqtt_drive.py ADAPTER_BIN WORKDIR [LOGDIR]
(LOGDIR, default WORKDIR, gets mqtt-*.log: each adapter's stderr, each
broker's log)

The plumbing (TAP, the adapter's pipes and frames, processes, ports)
is drivelib.py's; the brokers, the watcher and the scenario are here.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import drivelib
from drivelib import (check, free_port, ok, run, self_signed, send_cmd,
                      spawn, start_server, stop_server, take, wait_for)
from drivelib import cleanup  # noqa: F401 - e2e_peer.py calls d.cleanup()

ADAPTER, WORK = sys.argv[1], sys.argv[2]
LOGS = sys.argv[3] if len(sys.argv) > 3 else WORK
MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")


# ---- brokers ----------------------------------------------------------------


PORT = free_port()              # anonymous, no persistence
AUTH_PORT = free_port()         # a password file
TLS_PORT = free_port()          # the same broker, TLS
CERT = os.path.join(WORK, "cert.pem")
KEY = os.path.join(WORK, "key.pem")
PASSWD = os.path.join(WORK, "passwd")
# Root starts mosquitto; it stays root (the files are the test's own).
USER = "user root\n" if os.getuid() == 0 else ""


def broker_confs():
    self_signed(CERT, KEY)
    subprocess.run(["mosquitto_passwd", "-c", "-b", PASSWD, "fang",
                    "right-pass"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)
    with open(os.path.join(WORK, "plain.conf"), "w") as f:
        # persistence false: a restart loses every session, so the
        # adapter must subscribe again.  log_type all: the broker's log
        # shows what the adapter published.
        f.write(f"{USER}listener {PORT} 127.0.0.1\nallow_anonymous true\n"
                "persistence false\nlog_dest stdout\nlog_type all\n")
    with open(os.path.join(WORK, "auth.conf"), "w") as f:
        f.write(f"{USER}per_listener_settings false\n"
                f"allow_anonymous false\npassword_file {PASSWD}\n"
                "persistence false\nlog_dest stdout\n"
                f"listener {AUTH_PORT} 127.0.0.1\n"
                f"listener {TLS_PORT} 127.0.0.1\ncertfile {CERT}\n"
                f"keyfile {KEY}\n")


def broker_start(conf, name, port):
    return start_server("mosquitto", [MOSQUITTO, "-c",
                                      os.path.join(WORK, conf)], port, 15,
                        os.path.join(LOGS, f"mqtt-{name}.log"))


def broker_log(name):
    with open(os.path.join(LOGS, f"mqtt-{name}.log"), "rb") as f:
        return f.read().decode("utf-8", "replace")


def pub(topic, payload, port=None, retain=False, props=(), v5=True,
        auth=None):
    cmd = ["mosquitto_pub", "-p", str(port or PORT), "-q", "1", "-t", topic]
    if isinstance(payload, bytes):
        # Past what an argument takes: from a file.
        path = os.path.join(WORK, "payload.bin")
        with open(path, "wb") as f:
            f.write(payload)
        cmd += ["-f", path]
    else:
        cmd += ["-m", payload]
    if auth:
        cmd += ["-u", auth[0], "-P", auth[1]]
    if v5:
        cmd[1:1] = ["-V", "5"]
    if retain:
        cmd.append("-r")
    for p in props:
        cmd += ["-D", "publish"] + list(p)
    r = subprocess.run(cmd, capture_output=True, timeout=15)
    if r.returncode != 0:
        raise RuntimeError(f"mosquitto_pub {topic}: {r.stderr[:200]!r}")


class Watcher:
    """mosquitto_sub on the reply topics, its messages as JSON (%j)."""

    def __init__(self, topics=("librefang/out/#", "resp/#")):
        cmd = ["mosquitto_sub", "-V", "5", "-p", str(PORT), "-q", "1",
               "-F", "%j"]
        for t in topics + ("probe/#",):
            cmd += ["-t", t]
        self.p = spawn(cmd, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        # Subscribed once a probe comes back.
        end = time.monotonic() + 15
        while True:
            pub("probe/x", "probe")
            try:
                self.get(lambda m: m["topic"] == "probe/x", 0.5, "probe")
                return
            except TimeoutError:
                if time.monotonic() > end:
                    raise TimeoutError("the watcher did not subscribe "
                                       "within 15 s")

    def _read(self):
        for raw in self.p.stdout:
            try:
                self.q.put(json.loads(raw))
            except ValueError:
                pass

    def get(self, pred, secs, what):
        """The next message for which pred holds; those before it are
        dropped."""
        return take(self.q, pred, secs, what, "the watcher")

    def stop(self):
        self.p.kill()
        self.p.wait(5)

# ---- the adapter, with us as its daemon -------------------------------------


class Adapter(drivelib.Adapter):
    BIN, LOGS, PREFIX = ADAPTER, LOGS, "MQTT_"

    def subscribed(self, count, secs):
        """Waits until its log says it subscribed count times."""
        wait_for(lambda: self.log().count("subscribed to") >= count, secs,
                 f"{self.name}'s subscription #{count}")


def base_env(client_id, **kw):
    env = {"MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(PORT),
           "MQTT_ALLOW_LOOPBACK": "1", "MQTT_CLIENT_ID": client_id,
           "MQTT_MAX_MESSAGE_BYTES": "200"}
    env.update(kw)
    return env


# ---- the scenario -----------------------------------------------------------


def main():
    broker_confs()
    br = broker_start("plain.conf", "broker", PORT)
    # An old retained message: replayed to every new subscriber, and not
    # to be answered.
    pub("librefang/in/old", "stale retained", retain=True)
    w = Watcher()
    st = {}

    a = Adapter("mqtt-main", base_env("lf-test-main"))

    def ready():
        r = a.event("ready", 10)["params"]
        a.send({"method": "ready_ack"})
        a.subscribed(1, 15)
        return (r.get("protocol_version") == 1 and
                r.get("capabilities") == ["thread"]) or r
    check("ready with the thread capability; it connects and subscribes",
          ready)
    print(f"# channel-mqtt connected, before traffic: {a.pss()}", flush=True)

    def plain():
        pub("librefang/in/alice", "hello there")
        m = a.event("message", 10, "the plain message")["params"]
        want = {"user_id": "alice", "user_name": "alice",
                "text": "hello there", "content": {"Text": "hello there"},
                "channel_id": "alice", "platform": "mqtt"}
        got = {k: m.get(k) for k in want}
        stale = [f for f in a.skipped if f["method"] == "message"]
        return (got == want and "message_id" not in m and
                "thread_id" not in m and not stale and
                m["metadata"] == {"mqtt_topic": "librefang/in/alice",
                                  "mqtt_qos": 1}) or (m, stale)
    check("a plain-text message arrives with the user from the topic; the "
          "old retained one is not answered", plain)

    def json_in():
        pub("librefang/in/someone/th-1", json.dumps({
            "user_id": "bob", "user_name": "Bob", "text": "/status now",
            "message_id": "m-1"}))
        m = a.event("message", 10, "the JSON message")["params"]
        return (m.get("user_id") == "bob" and m.get("user_name") == "Bob"
                and m.get("channel_id") == "bob" and
                m.get("thread_id") == "th-1" and
                m.get("message_id") == "m-1" and
                m.get("content") == {"Command": {"name": "status",
                                                 "args": ["now"]}}) or m
    check("a JSON message: user_id, user_name, message_id from the "
          "payload, the thread from the topic, /cmd as Command", json_in)

    def user_prop():
        pub("librefang/in/dave", "with an id",
            props=[("user-property", "message_id", "u-9")])
        m = a.event("message", 10, "the message with a user property")
        return m["params"].get("message_id") == "u-9" or m
    check("an MQTT 5 user property message_id becomes the message_id",
          user_prop)

    def no_user():
        pub("librefang/in", "who am I")
        e = a.event("error", 10, "the error for a message without a user")
        pub("librefang/in/eve", json.dumps({"user_id": "a/b",
                                            "text": "slash"}))
        e2 = a.event("error", 10, "the error for a user_id with '/'")
        pub("librefang/in/eve", json.dumps({"user_name": "Eve"}))
        e3 = a.event("error", 10, "the error for JSON without text")
        return ("no usable user" in e["params"]["message"] and
                "no usable user" in e2["params"]["message"] and
                "no text" in e3["params"]["message"]) or (e, e2, e3)
    check("a message without a usable user id, or JSON without text: an "
          "error event, not a message", no_user)

    def reply():
        send_cmd(a, "alice", "hi alice")
        m = w.get(lambda m: m["topic"] == "librefang/out/alice", 10,
                  "the reply to alice")
        send_cmd(a, "bob", "in the thread", thread="th-1")
        m2 = w.get(lambda m: m["topic"] == "librefang/out/bob", 10,
                   "the reply to bob")
        return (json.loads(m["payload"]) == {"user_id": "alice",
                                             "text": "hi alice"} and
                m["qos"] == 1 and json.loads(m2["payload"]) == {
                    "user_id": "bob", "text": "in the thread",
                    "thread_id": "th-1"}) or (m, m2)
    check("send: published at QoS 1 on librefang/out/<user>, JSON with "
          "the text (and the thread when given)", reply)

    def response_topic():
        pub("librefang/in/carol", "a request", props=[
            ("response-topic", "resp/carol/1"),
            ("correlation-data", "corr-42")])
        m = a.event("message", 10, "carol's request")["params"]
        send_cmd(a, "carol", "the response")
        r = w.get(lambda m: m["topic"].startswith(("resp/", "librefang/"
                  "out/carol")), 10, "the reply to carol's request")
        pub("librefang/in/carol", "no response topic now")
        a.event("message", 10, "carol's plain message")
        send_cmd(a, "carol", "to the reply topic")
        r2 = w.get(lambda m: "carol" in m["topic"], 10,
                   "the reply to carol's plain message")
        return (m["metadata"].get("mqtt_response_topic") == "resp/carol/1"
                and r["topic"] == "resp/carol/1" and
                r.get("properties", {}).get("correlation-data") ==
                "corr-42" and
                json.loads(r["payload"])["text"] == "the response" and
                r2["topic"] == "librefang/out/carol") or (m, r, r2)
    check("MQTT 5 request/response: the reply goes to the response topic "
          "with the correlation data; a later message without one sends "
          "replies back to the reply topic", response_topic)

    def split():
        unit = "word élan 😀 " + "x" * 20 + " "
        text = (unit * 30).strip()          # about 1.1 KB, multibyte
        send_cmd(a, "alice", text)
        parts = []
        while True:
            m = w.get(lambda m: m["topic"] == "librefang/out/alice", 15,
                      f"the long reply's parts ({len(parts)} so far)")
            p = json.loads(m["payload"])
            parts.append(p)
            if p.get("part") == p.get("parts"):
                break
        st["parts"] = len(parts)
        joined = "".join(p["text"] for p in parts)
        return (joined == text and len(parts) >= 5 and
                all(len(p["text"].encode()) <= 200 for p in parts) and
                [p["part"] for p in parts] == list(range(1, len(parts) + 1))
                and all(p["parts"] == len(parts) for p in parts)) or \
            f"{len(parts)} parts, equal: {joined == text}"
    check("a long send is split at MQTT_MAX_MESSAGE_BYTES, never inside a "
          "UTF-8 sequence, numbered part/parts, adding up to the text",
          split)
    print(f"# the long send came in {st.get('parts')} messages", flush=True)

    def bad_target():
        send_cmd(a, "alice/../#", "x")
        e = a.event("error", 10, "the bad target's error")["params"]
        send_cmd(a, "alice", "still here")
        w.get(lambda m: m["topic"] == "librefang/out/alice" and
              "still here" in m["payload"], 10, "a send after the bad one")
        return "not a user id" in e.get("message", "") or e
    check("a send to a channel_id that is not one topic level is refused "
          "with an error event; it goes on", bad_target)

    print(f"# channel-mqtt connected, after traffic: {a.pss()}", flush=True)

    def garbage():
        a.send(b"\x00\xff\xfe garbage\n[1, 2, 3]\n{\"method\": \"send\"}\n")
        a.send(b'{"method": "send", "params": {"channel_id": 5}}\n')
        a.send(b'{"method": "typing", "params": {"channel_id": "alice"}}\n')
        a.send(b"{" + b'"x": "' + b"y" * (2 * 1024 * 1024) + b'"}\n')
        pub("librefang/in/alice", "still there?")
        m = a.event("message", 10, "a message after the garbage")["params"]
        return (m.get("text") == "still there?" and a.p.poll() is None) or m
    check("garbage, unknown methods and a 2 MiB line on stdin are ignored; "
          "it still works", garbage)
    print(f"# channel-mqtt after a 2 MiB line on stdin: {a.pss()}",
          flush=True)

    check("shutdown: exit 0 within a second", lambda: a.end("shutdown"))
    st["shutdown"] = a.took
    ok(not a.bad, "stdout carried frames only", a.bad[:3])

    # Away: what is published now waits in the broker's session.
    pub("librefang/in/alice", "sent while you were away")
    a = Adapter("mqtt-main2", base_env("lf-test-main"))

    def persistent():
        a.ready()
        m = a.event("message", 15, "the message sent while away")["params"]
        return (m.get("text") == "sent while you were away" and
                "a kept session" in a.log()) or m
    check("persistent session: a QoS 1 message published while the adapter "
          "was stopped arrives after it starts again", persistent)
    a.subscribed(1, 10)

    # The broker dies (no persistence: the session is gone with it).
    w.stop()
    br.kill()
    br.wait(5)

    def broker_gone():
        e = a.event("error", 15, "the lost connection")["params"]
        # A reply while the broker is away waits in libmosquitto.
        send_cmd(a, "alice", "queued while the broker was down")
        e2 = a.event("error", 15, "a failed reconnect")["params"]
        return ("reconnecting" in e["message"] and
                "could not connect" in e2["message"]) or (e, e2)
    check("broker killed: error events, reconnects with backoff", broker_gone)
    time.sleep(1.0)
    br = broker_start("plain.conf", "broker", PORT)

    def back():
        a.subscribed(2, 40)
        w2 = Watcher()
        st["w"] = w2
        # The queued reply reached the broker after the reconnect.
        wait_for(lambda: "'librefang/out/alice'" in
                 broker_log("broker").split("Opening ipv4 listen")[-1],
                 15, "the queued reply in the new broker's log")
        pub("librefang/in/alice", "after the restart")
        m = a.event("message", 15, "a message after the restart")["params"]
        send_cmd(a, "alice", "after the restart too")
        w2.get(lambda m: "after the restart too" in m["payload"], 10,
               "the reply after the restart")
        return m.get("text") == "after the restart" or m
    check("broker restarted without its sessions: the adapter reconnects, "
          "subscribes again (a new message arrives), and the reply queued "
          "meanwhile is published", back)
    w = st.get("w", w)

    check("EOF on stdin: exit 0 within a second", lambda: a.end("eof"))
    st["eof"] = a.took

    # MQTT 3.1.1, text replies; an old retained message on its topics.
    pub("dev/attic/say", "stale retained", retain=True, v5=False)
    v3 = Adapter("mqtt-v311", base_env("lf-test-v3", MQTT_PROTOCOL="3.1.1",
                                       MQTT_REPLY_FORMAT="text",
                                       MQTT_TOPICS="dev/+/say",
                                       MQTT_REPLY_TOPIC="dev/{user_id}/hear"))

    def v311():
        v3.ready()
        v3.subscribed(1, 15)
        pub("dev/kitchen/say", "lights?", v5=False)
        m = v3.event("message", 10, "the 3.1.1 message")["params"]
        stale = [f for f in v3.skipped if f["method"] == "message"]
        # Over 1 MiB: dropped with an error (MQTT 5 would have told the
        # broker not to send it).
        pub("dev/big/say", b"x" * (1100 * 1024), v5=False)
        e = v3.event("error", 10, "the oversized message's error")
        if "is over" not in e["params"]["message"]:
            return e
        ww = Watcher(("dev/+/hear",))
        send_cmd(v3, "kitchen", "lights on")
        r = ww.get(lambda m: m["topic"] == "dev/kitchen/hear", 10,
                   "the 3.1.1 text reply")
        ww.stop()
        v3.send({"method": "shutdown"})
        rc, _ = v3.exit_within(5)
        return (m.get("user_id") == "kitchen" and m.get("text") ==
                "lights?" and r["payload"] == "lights on" and not stale
                and rc == 0) or (m, r, stale, rc)
    check("MQTT 3.1.1: the user from a '+' level, a plain-text reply on "
          "its reply topic; a retained message not answered; one over "
          "1 MiB dropped with an error event", v311)

    # The broker with a password file: refused, then the backoff.
    ab = broker_start("auth.conf", "auth", AUTH_PORT)
    x = Adapter("mqtt-auth-bad", base_env(
        "lf-test-auth", MQTT_PORT=str(AUTH_PORT), MQTT_USERNAME="fang",
        MQTT_PASSWORD="wrong-s3cret"))

    def refused():
        x.ready()
        times, msgs = [], []
        for i in range(3):
            e = x.event("error", 15, f"refusal #{i + 1}")["params"]
            times.append(x.when)
            msgs.append(e["message"])
        g1, g2 = times[1] - times[0], times[2] - times[1]
        st["gaps"] = (g1, g2)
        x.p.stdin.close()
        rc, _ = x.exit_within(5)
        return (all("refused" in m and "reconnecting" in m for m in msgs)
                and 0.3 <= g1 and g2 >= g1 + 0.15 and rc == 0) or \
            (msgs, g1, g2, rc)
    check("a wrong password: the broker's refusal as an error event, "
          "retried with a growing backoff", refused)
    print("# refusal gaps: %.2f s, %.2f s" % st.get("gaps", (0, 0)),
          flush=True)
    ok("wrong-s3cret" not in x.log(), "the password is not in the "
       "adapter's log")

    y = Adapter("mqtt-auth-tls", base_env(
        "lf-test-tls", MQTT_HOST="localhost", MQTT_PORT=str(TLS_PORT),
        MQTT_TLS="1", MQTT_TLS_CA_FILE=CERT, MQTT_USERNAME="fang",
        MQTT_PASSWORD="right-pass", MQTT_TOPICS="$share/lf/librefang/in/#"))

    def tls():
        y.ready()
        y.subscribed(1, 15)
        pub("librefang/in/tina", "over tls", port=AUTH_PORT,
            auth=("fang", "right-pass"))
        m = y.event("message", 10, "a message over TLS")["params"]
        y.send({"method": "shutdown"})
        rc, _ = y.exit_within(5)
        return (m.get("text") == "over tls" and m.get("user_id") == "tina"
                and rc == 0) or (m, rc)
    check("TLS with the certificate verified and the right password, a "
          "shared subscription: connected, a message arrives", tls)

    # A broker that stops answering without closing the link (SIGSTOP):
    # the keepalive finds it out.
    k = Adapter("mqtt-keepalive", base_env(
        "lf-test-ka", MQTT_PORT=str(AUTH_PORT), MQTT_USERNAME="fang",
        MQTT_PASSWORD="right-pass", MQTT_KEEPALIVE_SECS="5"))

    def keepalive():
        k.ready()
        k.subscribed(1, 15)
        t0 = time.monotonic()
        ab.send_signal(signal.SIGSTOP)
        try:
            e = k.event("error", 25, "the dead link's error")["params"]
        finally:
            ab.send_signal(signal.SIGCONT)
        st["ka"] = time.monotonic() - t0
        k.subscribed(2, 20)
        k.p.stdin.close()
        rc, _ = k.exit_within(5)
        return ("keepalive" in e["message"] and rc == 0) or (e, rc)
    check("a broker gone silent: the keepalive drops the link (an error "
          "event) and it connects again once the broker answers", keepalive)
    print(f"# the silent broker was noticed after {st.get('ka', 0):.1f} s "
          "(keepalive 5 s)", flush=True)

    u = Adapter("mqtt-tls-untrusted", base_env(
        "lf-test-tls2", MQTT_HOST="localhost", MQTT_PORT=str(TLS_PORT),
        MQTT_TLS="1", MQTT_USERNAME="fang", MQTT_PASSWORD="right-pass"))

    def untrusted():
        u.ready()
        e = u.event("error", 15, "the certificate error")["params"]
        u.p.stdin.close()
        rc, _ = u.exit_within(5)
        return ("TLS" in e.get("message", "") and rc == 0) or (e, rc)
    check("TLS with an untrusted certificate: an error event", untrusted)

    c = Adapter("mqtt-refused", {k: v for k, v in base_env("lf-x").items()
                                 if k != "MQTT_ALLOW_LOOPBACK"})

    def loopback():
        e = c.event("error", 10, "the refusal")["params"]
        print(f"# channel-mqtt idle (not connected): {c.pss()}", flush=True)
        c.p.stdin.close()
        rc, _ = c.exit_within(5)
        return ("refused" in e.get("message", "") and rc == 0) or (e, rc)
    check("a loopback broker without MQTT_ALLOW_LOOPBACK: refused with an "
          "error event, and EOF still ends it cleanly", loopback)

    def badconf():
        rcs = []
        for env in ({"MQTT_TOPICS": "a/#/b"},
                    {"MQTT_REPLY_TOPIC": "out/+/x"},
                    {"MQTT_PROTOCOL": "3.1.1",
                     "MQTT_REPLY_TOPIC": "librefang/in/{user_id}"},
                    {"MQTT_PORT": "0"}):
            d = Adapter("mqtt-badconf", dict(base_env("lf-bad"), **env))
            d.event("error", 10, f"the configuration error for {env}")
            rc, _ = d.exit_within(5)
            rcs.append(rc)
        return rcs == [1, 1, 1, 1] or rcs
    check("a bad topic filter, reply topic, a 3.1.1 reply topic inside the "
          "filters, a bad port: an error event and exit 1", badconf)

    w.stop()
    for p in (br, ab):
        stop_server(p, 10)
    print(f"# shutdown took {st.get('shutdown') or 0:.3f} s, "
          f"EOF {st.get('eof') or 0:.3f} s", flush=True)


if __name__ == "__main__":
    run(main)
