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
The plumbing (TAP, the adapter's pipes and frames) is drivelib.py's.

usage: adapter_conform.py ADAPTER_BIN LOGFILE [KEY=VALUE..]
"""
import json
import os
import subprocess
import sys
import time

from drivelib import Adapter, check, ok, run

BIN, LOG = sys.argv[1], sys.argv[2]
ARGS = dict(a.split("=", 1) for a in sys.argv[3:])
TYPES = {"text", "secret", "number", "list", "bool", "select"}


class Conform(Adapter):
    """The adapter configured by the arguments, its stderr in LOG."""
    BIN = BIN


def frame(a, method, secs):
    """(time, frame) of the next frame of method within secs, or
    (None, None)."""
    f = a.none_within(method, secs)
    return (None, None) if f is None else (a.when, f)


def describe():
    try:
        r = subprocess.run([BIN, "--describe"], capture_output=True,
                           timeout=10, env=dict(os.environ, **ARGS))
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
    a = Conform("conform", ARGS, log=LOG)
    t1, r1 = frame(a, "ready", 5)
    ok(r1 is not None and (r1.get("params") or {}).get(
        "protocol_version") == 1, "ready within 5 s, protocol_version 1", r1)
    t2, r2 = frame(a, "ready", 5)
    ok(t1 is not None and t2 is not None and 1.0 <= t2 - t1 <= 4.5,
       "ready again about 2 s later while not acked",
       t2 and t1 and f"{t2 - t1:.2f} s")
    a.send({"method": "ready_ack"})
    check("no ready after ready_ack", lambda: a.none_within("ready", 3))
    a.send(b"\x00\xff garbage\n[1]\n{}\n{\"method\":7}\n")
    a.send(b'{"method":"send"}\n{"method":"no_such","params":{"a":1}}\n')
    a.send(b'{"method":"heartbeat"}\n{"x":"' + b"y" * (2 << 20) + b'"}\n')
    time.sleep(0.5)
    ok(a.p.poll() is None, "garbage, unknown methods and a 2 MiB line "
       "are ignored", a.p.poll())
    check("shutdown: exit 0 within a second", lambda: a.end("shutdown"))
    ok(not a.bad, "stdout carried frames only", a.bad[:3])

    b = Conform("conform-eof", ARGS, log=LOG)
    b.none_within("ready", 5)
    check("EOF on stdin: exit 0 within a second", lambda: b.end("eof"))


if __name__ == "__main__":
    run(main)
