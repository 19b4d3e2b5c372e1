#!/usr/bin/env python3
"""hook_receiver.py - a webhook receiver for the outbound webhook tests
(t8200-t8209) and bench: an http.server that VERIFIES every delivery.

usage: hook_receiver.py PORTFILE
Listens on 127.0.0.1 (a free port, written to PORTFILE once listening).

Each POST to /hook/NAME is checked against what /__ctl set for NAME:
  X-LibreFang-Signature == "sha256=" + hex HMAC-SHA256(secret,
      X-LibreFang-Timestamp + "." + body),
  X-LibreFang-Timestamp within 300 s of now,
  X-LibreFang-Delivery == the body's "id", X-LibreFang-Event == its
      "event";
a delivery that fails a check is answered 401.  Otherwise the answer is
the next status of NAME's script (then 200), after delay_ms.

Control (JSON bodies):
  POST /__ctl {"name", "secret", "script": [500, 500], "delay_ms": 0}
  GET  /__log   every request so far: [{name, delivery, event, ok, why,
                status, body}] in arrival order ("status": what was
                answered; "started" entries are logged on arrival with
                status 0 and updated when answered)
  GET  /__count?name=N  {"requests", "unique", "ok"} for N
  POST /plain   answers 200 at once, no checks (the bench's floor)
"""
import hashlib
import hmac
import http.server
import json
import sys
import threading
import time
import urllib.parse

WINDOW = 300


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.hooks = {}     # name -> {secret, script, delay_ms}
        self.log = []

    def handle_error(self, request, client_address):
        pass        # a client gone mid-answer (a killed sender)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        srv = self.server
        if u.path == "/__log":
            with srv.lock:
                self.answer(200, list(srv.log))
        elif u.path == "/__count":
            name = urllib.parse.parse_qs(u.query).get("name", [""])[0]
            with srv.lock:
                got = [e for e in srv.log if e["name"] == name]
                self.answer(200, {
                    "requests": len(got),
                    "unique": len({e["delivery"] for e in got}),
                    "ok": len({e["delivery"] for e in got
                               if e["status"] == 200}),
                })
        else:
            self.answer(404, {"error": "not found"})

    def do_POST(self):
        srv = self.server
        body = self.read_body()
        if self.path == "/plain":
            self.answer(200, {"ok": True})
            return
        if self.path == "/__ctl":
            c = json.loads(body)
            with srv.lock:
                srv.hooks[c["name"]] = {
                    "secret": c.get("secret", ""),
                    "script": list(c.get("script", [])),
                    "delay_ms": int(c.get("delay_ms", 0)),
                }
            self.answer(200, {"ok": True})
            return
        if not self.path.startswith("/hook/"):
            self.answer(404, {"error": "not found"})
            return
        name = self.path[len("/hook/"):]
        h = self.headers
        entry = {"name": name, "delivery": h.get("X-LibreFang-Delivery", ""),
                 "event": h.get("X-LibreFang-Event", ""), "ok": False,
                 "why": "", "status": 0, "at": time.time()}
        try:
            entry["body"] = json.loads(body)
        except ValueError:
            entry["body"] = None
        with srv.lock:
            conf = srv.hooks.get(name)
            srv.log.append(entry)
        why = self.verify(conf, body, entry)
        entry["why"] = why
        if why:
            with srv.lock:
                entry["status"] = 401
            self.answer(401, {"error": why})
            return
        entry["ok"] = True
        with srv.lock:
            status = conf["script"].pop(0) if conf["script"] else 200
            delay = conf["delay_ms"]
        if delay > 0:
            time.sleep(delay / 1000.0)
        with srv.lock:
            entry["status"] = status
        self.answer(status, {"received": entry["delivery"]})

    def verify(self, conf, body, entry):
        h = self.headers
        if conf is None:
            return "no such hook"
        ts = h.get("X-LibreFang-Timestamp", "")
        sig = h.get("X-LibreFang-Signature", "")
        if not ts.isdigit():
            return "no timestamp"
        if abs(time.time() - int(ts)) > WINDOW:
            return "timestamp outside the window"
        want = "sha256=" + hmac.new(conf["secret"].encode(),
                                    ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            return "bad signature"
        b = entry["body"]
        if not isinstance(b, dict) or b.get("id") != entry["delivery"] or \
                b.get("event") != entry["event"]:
            return "the body does not match the headers"
        return ""


def main():
    srv = Server()
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
