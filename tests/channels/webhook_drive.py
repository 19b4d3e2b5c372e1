#!/usr/bin/env python3
"""webhook_drive.py - drives channel-webhook.

Plays the daemon's side of the sidecar protocol (spec/notes/protocols.md
1.3) on the adapter's stdin/stdout, a sender POSTing to the adapter's
listener (raw sockets, so malformed requests can be sent too), and the
callback: an http.server that checks each delivery's signature and
answers as scripted.  Prints TAP ("ok - desc" / "not ok - desc",
numbered by the caller, t8100) and "# ..." diagnostics.  Every wait is
bounded and says what it waited for; every process and server it starts
is stopped when it ends, however it ends.

usage: webhook_drive.py ADAPTER_BIN LOGDIR
(LOGDIR gets webhook-*.log: each adapter's stderr)

The plumbing (TAP, the adapter's pipes and frames, processes, ports)
is drivelib.py's; the sender, the callback and the scenario are here.
"""
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time

import drivelib
from drivelib import (check, free_port, ok, on_cleanup, run, self_signed,
                      send_cmd, wait_listening)

ADAPTER, LOGS = sys.argv[1], sys.argv[2]
SECRET = "s3cret-webhook-key-0123456789"


def sign(ts, body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body,
                                hashlib.sha256).hexdigest()

# ---- the callback: a receiver that verifies ---------------------------------


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls=None):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.port = self.server_address[1]
        if tls is not None:
            # (cert, key): the receiver speaks HTTPS.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.socket = ctx.wrap_socket(self.socket, server_side=True)
        self.script = []          # statuses to answer, in turn; then 200
        self.got = []             # one dict per request
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        on_cleanup(self.stop)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()

    def reset(self, script):
        with self.lock:
            self.script = list(script)
            self.got = []

    def wait(self, n, secs, what):
        end = time.monotonic() + secs
        with self.cond:
            while len(self.got) < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the receiver waited {secs} s for "
                                       f"{what} ({len(self.got)} of {n})")
                self.cond.wait(left)
            return list(self.got)


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        ts = self.headers.get("X-Webhook-Timestamp", "")
        sig = self.headers.get("X-Webhook-Signature", "")
        good = hmac.compare_digest(sign(ts, body), sig) and \
            abs(time.time() - int(ts or 0)) < 300
        srv = self.server
        with srv.cond:
            status = srv.script.pop(0) if srv.script else 200
        out = b'{"ok":true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(out)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(out)
        self.wfile.flush()
        # Counted once answered: a test that stops the adapter next does
        # not cut the answer off.
        with srv.cond:
            srv.got.append({"path": self.path, "body": body,
                            "verified": good, "status": status,
                            "delivery": self.headers.get(
                                "X-Webhook-Delivery"),
                            "ctype": self.headers.get("Content-Type")})
            srv.cond.notify_all()

# ---- the adapter, with us as its daemon -------------------------------------


class Adapter(drivelib.Adapter):
    BIN, LOGS, PREFIX = ADAPTER, LOGS, "WEBHOOK_"

# ---- a sender ---------------------------------------------------------------


def http_raw(port, data, secs=5, then=None):
    """Sends data on a new connection (then more, after the first answer
    line if then is given) and reads to EOF: (status, json body or None,
    raw).  Bounded by secs."""
    s = socket.create_connection(("127.0.0.1", port), secs)
    s.settimeout(secs)
    end = time.monotonic() + secs
    raw = b""
    try:
        s.sendall(data)
        if then is not None:
            while b"\r\n\r\n" not in raw:
                c = s.recv(65536)
                if not c:
                    break
                raw += c
            s.sendall(then)
        while time.monotonic() < end:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                break
            if not c:
                break
            raw += c
        else:
            raise TimeoutError(f"no end of the answer within {secs} s")
    finally:
        s.close()
    resp = raw
    if then is not None and raw.startswith(b"HTTP/1.1 100"):
        resp = raw.split(b"\r\n\r\n", 1)[1]
    head, _, body = resp.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = None
    try:
        j = json.loads(body)
    except ValueError:
        j = None
    return status, j, raw


def request(port, body, ts=None, sig=None, path="/hook", method="POST",
            extra=b"", signed=True):
    if isinstance(body, str):
        body = body.encode()
    if ts is None:
        ts = str(int(time.time()))
    if sig is None and signed:
        sig = sign(ts, body)
    h = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    h += b"Content-Type: application/json\r\n"
    h += f"Content-Length: {len(body)}\r\n".encode()
    if signed:
        h += f"X-Webhook-Timestamp: {ts}\r\n".encode()
        h += f"X-Webhook-Signature: {sig}\r\n".encode()
    return h + extra + b"\r\n" + body


def post(port, body, **kw):
    return http_raw(port, request(port, body, **kw))


def pss_ok(a, when, desc):
    """Issue 13's 2 MB PSS, told apart from the machine: the adapter's
    own pages (Private_Dirty) within 1.25 MB leave the shared libraries
    (libc, libcrypto, libssl, jansson: about 0.5 MB of them touched)
    room under 2 MB even with nothing else mapping them.  PSS counts a
    shared library's pages in part, by how many processes map them now,
    so it moves with what else runs: printed, not bounded."""
    print(f"# channel-webhook {when}: {a.pss()}", flush=True)
    kb = a.memory()
    pss, dirty = kb.get("Pss", -1), kb.get("Private_Dirty", -1)
    if a.sanitized():
        ok(pss > 0, desc + " (a sanitizer build: measured, not bounded)")
    else:
        ok(0 < dirty <= 1280, desc, f"PSS {pss} kB, dirty {dirty} kB")


def main():
    rcv = Receiver()
    port = free_port()
    env = {"WEBHOOK_SECRET": SECRET,
           "WEBHOOK_BIND_HOST": "127.0.0.1",
           "WEBHOOK_LISTEN_PORT": str(port),
           "WEBHOOK_LISTEN_PATH": "/hook",
           "WEBHOOK_CALLBACK_URL": f"http://127.0.0.1:{rcv.port}/cb?x=1",
           "WEBHOOK_ALLOW_LOOPBACK": "1",
           "WEBHOOK_MAX_BODY": "4096",
           "WEBHOOK_RETRY_MS": "100",
           "WEBHOOK_ATTEMPTS": "3",
           "WEBHOOK_TIMEOUT_MS": "3000"}
    a = Adapter("webhook-main", env)
    a.ready()
    wait_listening(port, 10)
    time.sleep(0.2)
    pss_ok(a, "idle, listening", "memory idle: private dirty within 1.25 MB "
           "(PSS 2 MB, issue 13)")

    good = {"user_id": "u-42", "user_name": "Alice", "text": "hello there",
            "message_id": "m-1", "thread_id": "t-9"}

    def inbound():
        status, j, raw = post(port, json.dumps(good))
        if status != 202 or j != {"status": "accepted"}:
            return (status, raw)
        m = a.event("message", 5, "the signed POST's message")["params"]
        want = {"user_id": "u-42", "user_name": "Alice",
                "text": "hello there", "message_id": "m-1",
                "thread_id": "t-9", "channel_id": "u-42",
                "platform": "webhook", "content": {"Text": "hello there"}}
        diff = {k: m.get(k) for k in want if m.get(k) != want[k]}
        return not diff and not a.skipped or (diff, a.skipped, m)
    check("a signed POST: 202 and a message event with its fields "
          "(channel_id the sender's when none is given)", inbound)

    def command():
        body = json.dumps({"user_id": "u-1", "user_name": "A",
                           "text": "/status now", "channel_id": "room-7"})
        status, _, raw = post(port, body)
        m = a.event("message", 5, "the command's message")["params"]
        return (status == 202 and m.get("channel_id") == "room-7" and
                m.get("content") == {"Command": {"name": "status",
                                                 "args": ["now"]}}) or \
            (status, m)
    check("'/cmd arg' is Command content; channel_id as given", command)

    def cont():
        body = json.dumps(good).encode()
        req = request(port, body, extra=b"Expect: 100-continue\r\n")
        head, _, _ = req.partition(b"\r\n\r\n")
        status, _, raw = http_raw(port, head + b"\r\n\r\n", then=body)
        a.event("message", 5, "the 100-continue request's message")
        return (raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\n") and
                status == 202) or raw[:200]
    check("Expect: 100-continue: 100, then the body, then 202", cont)

    # Each bad request: its status, a JSON error, and no event.
    now = int(time.time())
    body = json.dumps(good)
    bad = [
        ("unsigned", 401, lambda: post(port, body, signed=False)),
        ("a wrong signature", 401,
         lambda: post(port, body, sig="sha256=" + "0" * 64)),
        ("signed with another secret", 401,
         lambda: post(port, body, sig=sign(str(now), body.encode(),
                                           "another-secret-0000"),
                      ts=str(now))),
        ("the signature of another body", 401,
         lambda: post(port, body, sig=sign(str(now), b"{}"), ts=str(now))),
        ("a signature without 'sha256='", 401,
         lambda: post(port, body, ts=str(now),
                      sig=sign(str(now), body.encode())[7:])),
        ("a timestamp 6 minutes old", 401,
         lambda: post(port, body, ts=str(now - 360))),
        ("a timestamp 6 minutes ahead", 401,
         lambda: post(port, body, ts=str(now + 360))),
        ("a timestamp that is not a number", 400,
         lambda: post(port, body, ts="yesterday")),
        ("a body that is not JSON", 400, lambda: post(port, "{not json")),
        ("a body without text", 400,
         lambda: post(port, json.dumps({"user_id": "u", "user_name": "n"}))),
        ("a user_id that is a number", 400,
         lambda: post(port, json.dumps({"user_id": 7, "user_name": "n",
                                        "text": "t"}))),
        ("a JSON array", 400, lambda: post(port, "[1,2]")),
        ("a body over WEBHOOK_MAX_BODY", 413,
         lambda: post(port, json.dumps(dict(good, text="x" * 5000)))),
        ("GET", 405, lambda: post(port, body, method="GET")),
        ("another path", 404, lambda: post(port, body, path="/other")),
        ("no Content-Length (chunked)", 411,
         lambda: http_raw(port, b"POST /hook HTTP/1.1\r\nHost: x\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
        ("a garbage request line", 400,
         lambda: http_raw(port, b"HELLO\r\n\r\n")),
        ("a head over 16 KiB", 431,
         lambda: http_raw(port, b"POST /hook HTTP/1.1\r\nX-Pad: " +
                          b"a" * 20000 + b"\r\n\r\n")),
    ]
    for what, want, fn in bad:
        def one(fn=fn, want=want):
            status, j, raw = fn()
            return (status == want and isinstance(j, dict) and
                    isinstance(j.get("error"), str)) or (status, raw[:300])
        check(f"{what}: {want} with a JSON error", one)

    def no_events():
        status, _, _ = post(port, json.dumps(dict(good, message_id="m-2")))
        m = a.event("message", 5, "the good message after the bad ones")
        return (status == 202 and m["params"]["message_id"] == "m-2" and
                not a.skipped) or (status, a.skipped, m)
    check("no bad request emitted anything (the next event is the next "
          "good message)", no_events)

    def slowloris():
        slow = socket.create_connection(("127.0.0.1", port), 5)
        slow.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        try:
            t0 = time.monotonic()
            status, _, _ = post(port, json.dumps(dict(good,
                                                      message_id="m-3")))
            took = time.monotonic() - t0
            a.event("message", 5, "the message beside the slow client")
            # Well under the slow client's 3 s deadline, which a loop
            # blocked on it would wait for.
            if status != 202 or took > 2.0:
                return ("the other request", status, took)
            # Its deadline (WEBHOOK_TIMEOUT_MS 3 s): a 408, then closed.
            slow.settimeout(8)
            got, end = b"", time.monotonic() + 8
            while time.monotonic() < end:
                c = slow.recv(4096)
                if not c:
                    break
                got += c
            return got.startswith(b"HTTP/1.1 408") or got[:200]
        finally:
            slow.close()
    check("a slowloris client does not hold up another request, and gets "
          "408 at its deadline", slowloris)

    def many_slow():
        # More slow clients than slots: the rest wait in the backlog
        # until deadlines free slots; a good request still gets through.
        socks = [socket.create_connection(("127.0.0.1", port), 5)
                 for _ in range(14)]
        try:
            for s in socks:
                s.sendall(b"POST /hook HTTP/1.1\r\n")
            status, _, _ = http_raw(port, request(port, json.dumps(
                dict(good, message_id="m-4"))), secs=15)
            a.event("message", 5, "the message after 14 slow clients")
            return status == 202 or status
        finally:
            for s in socks:
                s.close()
    check("14 slow clients (more than the 12 slots): a good request is "
          "answered once deadlines free a slot", many_slow)

    # ---- out ---------------------------------------------------------------

    def deliver():
        rcv.reset([])
        send_cmd(a, "room-7", "the reply", thread="t-9")
        got = rcv.wait(1, 10, "the delivery")[0]
        body = json.loads(got["body"])
        return (got["verified"] and got["path"] == "/cb?x=1" and
                got["ctype"] == "application/json" and
                body.get("channel_id") == "room-7" and
                body.get("text") == "the reply" and
                body.get("thread_id") == "t-9" and
                body.get("user", {}).get("platform_id") == "room-7") or got
    check("send: a POST to the callback whose signature verifies, with "
          "channel_id, text, thread_id, user", deliver)

    def retried():
        rcv.reset([503, 503, 200])
        send_cmd(a, "room-7", "after two 503s")
        got = rcv.wait(3, 10, "three attempts")
        time.sleep(0.5)
        extra = a.quiet(0.3)
        ids = {g["delivery"] for g in got}
        oks = [g for g in rcv.got if g["status"] == 200]
        return (len(rcv.got) == 3 and len(ids) == 1 and len(oks) == 1 and
                all(g["verified"] for g in got) and
                not [e for e in extra if e["method"] == "error"]) or \
            (rcv.got, extra)
    check("a receiver answering 503 twice then 200: delivered once, same "
          "delivery id, no error event", retried)

    def given_up():
        rcv.reset([503, 429, 502])
        send_cmd(a, "room-7", "never")
        e = a.event("error", 10, "the delivery given up")
        time.sleep(0.4)
        return (len(rcv.got) == 3 and "after 3 attempts" in
                e["params"]["message"]) or (rcv.got, e)
    check("5xx and 429 on every attempt: WEBHOOK_ATTEMPTS tries, then an "
          "error event", given_up)

    def refused4xx():
        rcv.reset([400])
        send_cmd(a, "room-7", "refused")
        e = a.event("error", 10, "the refused delivery")
        time.sleep(0.4)
        return (len(rcv.got) == 1 and "HTTP 400" in
                e["params"]["message"]) or (rcv.got, e)
    check("a 400 from the callback: no retry, an error event", refused4xx)

    def in_order():
        rcv.reset([])
        for i in range(5):
            send_cmd(a, "room-7", f"n{i}")
        got = rcv.wait(5, 10, "five deliveries")
        texts = [json.loads(g["body"])["text"] for g in got]
        return texts == [f"n{i}" for i in range(5)] or texts
    check("five sends are delivered in order", in_order)

    pss_ok(a, "after the run", "memory after the traffic: private dirty "
           "within 1.25 MB")

    check("shutdown: exit 0 within 2 s", lambda: a.end("shutdown", 2))

    def secret_not_logged():
        return SECRET not in a.log() or "the secret is in the log"
    check("the secret is never logged", secret_not_logged)

    # A callback that does not listen: connection errors, retried.
    dead = free_port()
    port2 = free_port()
    env_b = dict(env, WEBHOOK_LISTEN_PORT=str(port2),
                 WEBHOOK_CALLBACK_URL=f"http://127.0.0.1:{dead}/cb",
                 WEBHOOK_ATTEMPTS="2")
    del env_b["WEBHOOK_MAX_BODY"]
    b = Adapter("webhook-dead", env_b)

    def conn_refused():
        b.ready()
        send_cmd(b, "x", "to nowhere")
        e = b.event("error", 10, "the undeliverable send")
        return "after 2 attempts" in e["params"]["message"] or e
    check("a callback that refuses connections: retried, then an error "
          "event", conn_refused)

    def big():
        # WEBHOOK_MAX_BODY's default (1 MiB) here.
        base = {"user_id": "u", "user_name": "n"}
        status, _, raw = http_raw(port2, request(port2, json.dumps(
            dict(base, text="a" * 400000))), secs=15)
        if status != 202:
            return ("400 kB", status, raw[:200])
        m = b.event("message", 10, "the 400 kB message")["params"]
        if len(m.get("text", "")) != 400000:
            return ("400 kB text", len(m.get("text", "")))
        # Under the body limit, but its frame (the text twice) would be
        # past the protocol's 1 MiB line.
        status, j, raw = http_raw(port2, request(port2, json.dumps(
            dict(base, text="a" * 600000))), secs=15)
        if status != 413:
            return ("600 kB", status, raw[:200])
        status, j, raw = http_raw(port2, request(port2, json.dumps(
            dict(base, text="a" * (1 << 20)))), secs=15)
        if status != 413 or "too large" not in j.get("error", ""):
            return ("1 MiB", status, raw[:200])
        extra = b.quiet(0.3)
        return not [e for e in extra if e["method"] == "message"] or extra
    check("the 1 MiB default: a 400 kB text in; a 600 kB one (its frame "
          "past 1 MiB) and a body past 1 MiB are 413", big)
    time.sleep(1.5)     # the trim comes 1.05 s after a large request
    pss_ok(b, "after 1 MiB bodies", "memory after 1 MiB bodies: private "
           "dirty within 1.25 MB")

    check("EOF on stdin: exit 0 within 2 s", lambda: b.end("eof", 2))

    # An https callback: its certificate verified against a CA file.
    cert = os.path.join(LOGS, "webhook-cert.pem")
    key = os.path.join(LOGS, "webhook-key.pem")
    self_signed(cert, key)
    trcv = Receiver(tls=(cert, key))

    def tls(ca, want_ok):
        e3 = dict(env, WEBHOOK_LISTEN_PORT=str(free_port()),
                  WEBHOOK_CALLBACK_URL=f"https://localhost:{trcv.port}/cb",
                  WEBHOOK_ATTEMPTS="2")
        if ca:
            e3["WEBHOOK_TLS_CA_FILE"] = cert
        c = Adapter("webhook-tls", e3)
        try:
            c.ready()
            trcv.reset([])
            send_cmd(c, "room-1", "over TLS")
            if want_ok:
                got = trcv.wait(1, 10, "the delivery over TLS")[0]
                return (got["verified"] and json.loads(got["body"])["text"]
                        == "over TLS") or got
            e = c.event("error", 10, "the untrusted certificate")
            return (not trcv.got and "after 2 attempts" in
                    e["params"]["message"]) or (trcv.got, e)
        finally:
            c.end()
    check("an https callback with WEBHOOK_TLS_CA_FILE: delivered, the "
          "signature verifies", lambda: tls(True, True))
    check("an https callback whose certificate is not trusted: nothing "
          "delivered, an error event", lambda: tls(False, False))

    def port_taken():
        hold = socket.socket()
        hold.bind(("127.0.0.1", 0))
        hold.listen(1)
        c = Adapter("webhook-taken", dict(
            env, WEBHOOK_LISTEN_PORT=str(hold.getsockname()[1])))
        try:
            e = c.event("error", 10, "the port in use")
            alive = c.p.poll() is None
            return ("could not listen" in e["params"]["message"] and
                    alive) or (e, alive)
        finally:
            c.end()
            hold.close()
    check("a listen port in use: an error event, and it keeps trying "
          "(no exit)", port_taken)

    # The SSRF rules: loopback needs the switch, metadata never passes.
    def refused_conf(name, extra, what):
        e2 = dict(env, WEBHOOK_LISTEN_PORT=str(free_port()))
        e2.update(extra)
        e2 = {k: v for k, v in e2.items() if v is not None}
        c = Adapter(name, e2)
        e = c.event("error", 10, what)
        rc, _ = c.exit_within(5)
        return rc == 1 or (e, rc)
    check("a loopback callback without WEBHOOK_ALLOW_LOOPBACK: an error "
          "event and exit 1",
          lambda: refused_conf("webhook-ssrf", {"WEBHOOK_ALLOW_LOOPBACK":
                                                None}, "the SSRF refusal"))
    check("a cloud metadata callback, even with the switch: exit 1",
          lambda: refused_conf("webhook-meta", {
              "WEBHOOK_CALLBACK_URL": "http://169.254.169.254/latest"},
              "the metadata refusal"))
    check("no WEBHOOK_SECRET: an error event and exit 1",
          lambda: refused_conf("webhook-nosecret",
                               {"WEBHOOK_SECRET": None}, "no secret"))
    check("a callback URL with a password: exit 1",
          lambda: refused_conf("webhook-userinfo", {
              "WEBHOOK_CALLBACK_URL": "http://u:p@127.0.0.1/x"},
              "userinfo"))
    print(f"# shutdown took {a.took or 0:.3f} s, EOF {b.took or 0:.3f} s",
          flush=True)
    bad_lines = a.bad + b.bad
    ok(not bad_lines, "stdout carried frames only", bad_lines[:3])


if __name__ == "__main__":
    run(main)
