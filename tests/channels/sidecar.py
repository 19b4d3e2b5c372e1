#!/usr/bin/env python3
"""A channel adapter that follows only the sidecar protocol's text
(spec/notes/protocols.md 1.3), driven by files, for the channels tests.

Environment (from the channel's env table):
  SIDECAR_DIR        its directory (required)
  SIDECAR_CAPS       capabilities for ready, comma-separated (default none)
  SIDECAR_HEARTBEAT  1: answer a heartbeat command with a heartbeat frame
  SIDECAR_RECIPIENTS ready's notification_recipients, as JSON (default
                     none)

What it does:
  - writes {"method":"ready",...} and repeats it every 2 s until a
    ready_ack, at most 5 times (as the upstream SDK does);
  - appends every command it reads to SIDECAR_DIR/received.jsonl as
    {"pid": P, "t": UNIX-TIME, "frame": F} (a line it cannot parse as
    {"pid", "t", "raw"}),
    in the order read: send, typing, reaction, stream_start,
    stream_delta, stream_end, interactive and unknown methods alike;
  - writes its pid to SIDECAR_DIR/pid, appends it to SIDECAR_DIR/pids,
    its environment to SIDECAR_DIR/env.json, and a line to stderr at
    start;
  - takes each file of SIDECAR_DIR/inbox/ (renaming it to claim it, in
    name order), by the part of its name after the first '-':
      emit   its lines are written to stdout as they are
      crash  exits with status 3 at once
      hang   stops reading stdin and writing anything (sleeps forever)
      flood  writes 500 lines that are no frame
  - on shutdown, or EOF on stdin, notes it in received.jsonl and exits 0.
"""
import json
import os
import select
import sys
import time

D = os.environ["SIDECAR_DIR"]
CAPS = [c for c in os.environ.get("SIDECAR_CAPS", "").split(",") if c]
HEARTBEAT = os.environ.get("SIDECAR_HEARTBEAT") == "1"
RECIPIENTS = json.loads(os.environ.get("SIDECAR_RECIPIENTS", "null"))
INBOX = os.path.join(D, "inbox")
os.makedirs(INBOX, exist_ok=True)


def out(line):
    os.write(1, (line + "\n").encode())


def note(obj):
    obj["pid"] = os.getpid()
    obj["t"] = time.time()
    with open(os.path.join(D, "received.jsonl"), "a") as f:
        f.write(json.dumps(obj) + "\n")


def ready():
    params = {"protocol_version": 1}
    if CAPS:
        params["capabilities"] = CAPS
    if RECIPIENTS is not None:
        params["notification_recipients"] = RECIPIENTS
    out(json.dumps({"method": "ready", "params": params}))


def take_inbox():
    for name in sorted(os.listdir(INBOX)):
        if ".taken" in name or "-" not in name:
            continue
        src = os.path.join(INBOX, name)
        dst = src + ".taken.%d" % os.getpid()
        try:
            os.rename(src, dst)
        except OSError:
            continue        # another process took it
        kind = name.split("-", 1)[1].split(".")[0]
        if kind == "emit":
            with open(dst) as f:
                for line in f.read().splitlines():
                    out(line)
        elif kind == "crash":
            os._exit(3)
        elif kind == "hang":
            while True:
                time.sleep(3600)
        elif kind == "flood":
            for i in range(500):
                out("garbage line %d {not json" % i)


def main():
    with open(os.path.join(D, "pid"), "w") as f:
        f.write(str(os.getpid()))
    with open(os.path.join(D, "pids"), "a") as f:
        f.write("%d\n" % os.getpid())
    with open(os.path.join(D, ".env.json"), "w") as f:
        json.dump(dict(os.environ), f)
    os.rename(os.path.join(D, ".env.json"), os.path.join(D, "env.json"))
    sys.stderr.write("sidecar: started pid %d\n" % os.getpid())
    sys.stderr.flush()
    acked = False
    readies = 1
    last_ready = time.monotonic()
    ready()
    buf = b""
    while True:
        r, _, _ = select.select([0], [], [], 0.1)
        if r:
            chunk = os.read(0, 65536)
            if not chunk:
                note({"eof": True})
                return 0
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    frame = json.loads(line)
                    method = frame.get("method")
                except (ValueError, AttributeError):
                    note({"raw": line.decode(errors="replace")})
                    continue
                note({"frame": frame})
                if method == "ready_ack":
                    acked = True
                elif method == "shutdown":
                    return 0
                elif method == "heartbeat" and HEARTBEAT:
                    out(json.dumps({"method": "heartbeat"}))
                # Anything else (send, typing, unknown methods) is noted
                # only: the tests read received.jsonl.
        if not acked and readies < 5 and time.monotonic() - last_ready >= 2:
            ready()
            readies += 1
            last_ready = time.monotonic()
        take_inbox()


if __name__ == "__main__":
    sys.exit(main())
