#!/usr/bin/env python3
"""adapter_conform.py - the sidecar protocol's rules every adapter keeps
(spec/notes/protocols.md 1.3), checked without its platform: the adapter
is configured (KEY=VALUE arguments) to reach a platform that is not there,
and must still speak the protocol.

  --describe prints one JSON object {name, display_name, description,
  fields[{key, label, type, required, placeholder, advanced, options?}]}
  and exits 0; `ready` comes at once with protocol_version 1, again about
  every 2 s until `ready_ack`, and not after it; garbage, unknown methods
  and an oversized line on stdin are ignored; `shutdown` and EOF each end
  it with status 0 within a second; stdout carries frames only, each a
  JSON object with a string "method".

Prints "ok - desc" / "not ok - desc" lines (numbered by the caller) and
"# ..." diagnostics; exits 1 if any check failed.  Every wait is bounded.

usage: adapter_conform.py ADAPTER_BIN LOGFILE [KEY=VALUE..]
"""
import json
import os
import queue
import subprocess
import sys
import threading
import time

BIN, LOG = sys.argv[1], sys.argv[2]
ENV = dict(os.environ)
ENV.update(a.split("=", 1) for a in sys.argv[3:])
TYPES = {"text", "secret", "number", "list", "bool", "select"}
failed = 0
procs = []


def ok(cond, desc, why=""):
    global failed
    print(("ok - " if cond else "not ok - ") + desc, flush=True)
    if not cond:
        failed += 1
        if why:
            print("#   " + str(why)[:600], flush=True)


class Run:
    """The adapter with pipes; its frames read on a thread."""

    def __init__(self):
        self.log = open(LOG, "ab")
        self.p = subprocess.Popen([BIN], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.log,
                                  env=ENV)
        procs.append(self.p)
        self.q = queue.Queue()
        self.bad = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            try:
                f = json.loads(raw)
                if not isinstance(f, dict) or \
                        not isinstance(f.get("method"), str):
                    raise ValueError
                self.q.put((time.monotonic(), f))
            except ValueError:
                self.bad.append(raw[:200])
        self.q.put((time.monotonic(), None))

    def frame(self, method, secs):
        """(time, frame) of the next frame of method within secs, or
        (None, None)."""
        end = time.monotonic() + secs
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None, None
            try:
                t, f = self.q.get(timeout=left)
            except queue.Empty:
                return None, None
            if f is None:
                return None, None
            if f["method"] == method:
                return t, f

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def exit_within(self, secs):
        t0 = time.monotonic()
        try:
            return self.p.wait(secs), time.monotonic() - t0
        except subprocess.TimeoutExpired:
            return None, secs


def describe():
    try:
        r = subprocess.run([BIN, "--describe"], capture_output=True,
                           timeout=10, env=ENV)
        d = json.loads(r.stdout)
    except (ValueError, subprocess.TimeoutExpired) as e:
        ok(False, "--describe prints one JSON object and exits 0", e)
        return
    ok(r.returncode == 0 and r.stdout.count(b"\n") == 1,
       "--describe prints one JSON object and exits 0", r.returncode)
    fields = d.get("fields", [])
    good = all(isinstance(d.get(k), str) and d[k]
               for k in ("name", "display_name", "description"))
    bad = [f for f in fields if not (
        isinstance(f.get("key"), str) and isinstance(f.get("label"), str)
        and f.get("type") in TYPES and isinstance(f.get("required"), bool)
        and isinstance(f.get("placeholder"), str)
        and isinstance(f.get("advanced"), bool)
        and (f["type"] != "select" or isinstance(f.get("options"), list)))]
    ok(good and fields and not bad,
       "--describe: name, display_name, description, and every field "
       "with key, label, type, required, placeholder, advanced",
       bad[:2] or d)
    ok(any(f["key"].endswith("_ALLOW_LOOPBACK") and f["type"] == "bool"
           for f in fields), "--describe: an allow-loopback switch")


def main():
    describe()
    a = Run()
    t1, r1 = a.frame("ready", 5)
    ok(r1 is not None and (r1.get("params") or {}).get(
        "protocol_version") == 1, "ready within 5 s, protocol_version 1", r1)
    t2, r2 = a.frame("ready", 5)
    ok(t2 is not None and 1.0 <= t2 - t1 <= 4.5,
       "ready again about 2 s later while not acked",
       t2 and f"{t2 - t1:.2f} s")
    a.send(b'{"method":"ready_ack"}\n')
    t3, _ = a.frame("ready", 3)
    ok(t3 is None, "no ready after ready_ack")
    a.send(b"\x00\xff garbage\n[1]\n{}\n{\"method\":7}\n")
    a.send(b'{"method":"send"}\n{"method":"no_such","params":{"a":1}}\n')
    a.send(b'{"method":"heartbeat"}\n{"x":"' + b"y" * (2 << 20) + b'"}\n')
    time.sleep(0.5)
    ok(a.p.poll() is None, "garbage, unknown methods and a 2 MiB line "
       "are ignored", a.p.poll())
    a.send(b'{"method":"shutdown"}\n')
    rc, secs = a.exit_within(5)
    ok(rc == 0 and secs < 1.0, "shutdown: exit 0 within a second",
       f"exit {rc} after {secs:.2f} s")
    ok(not a.bad, "stdout carried frames only", a.bad[:3])

    b = Run()
    b.frame("ready", 5)
    b.p.stdin.close()
    rc, secs = b.exit_within(5)
    ok(rc == 0 and secs < 1.0, "EOF on stdin: exit 0 within a second",
       f"exit {rc} after {secs:.2f} s")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:       # noqa: BLE001 - reported as TAP
        ok(False, "the checks ran to their end", f"{type(e).__name__}: {e}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    sys.exit(1 if failed else 0)
