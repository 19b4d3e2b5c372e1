#!/usr/bin/env python3
"""The bench's channel adapter (tests/bench/channels.sh, figure 19): a
sidecar (spec/notes/protocols.md 1.3) that is its own load generator, so
that both ends of a channel turn are stamped on one clock in one process.

Environment (the channel's env table):
  CHB_DIR    its directory: it writes ready there once acked, takes its
             plan from CHB_DIR/plan (JSON, written by the script), writes
             the figures to CHB_DIR/result.json and then exits 0 at
             shutdown or EOF
  CHB_GW     host:port of the gateway

The plan {"agent": ID, "pairs": N, "warm": W, "burst": M, "users": U}
(agent: the bound agent's id, for the HTTP turns):
  - pairs: W + N times, alternately, one turn through the channel (a
    message event from user "lat", timed until the send that answers it)
    and the same turn over HTTP (POST /api/agents/{id}/message, keep-alive,
    blocking), the order swapped every pair so load drifting during the run
    favours neither; p50/p99 of each and of their difference per pair;
  - burst: M messages from U users written at once, timed until the
    last of their M sends: messages per second through the one channel.
"""
import http.client
import json
import os
import select
import sys
import time

D = os.environ["CHB_DIR"]
GW = os.environ["CHB_GW"]
TRACE = os.environ.get("CHB_TRACE") == "1"
buf = b""
sends = []          # (t, params) of send commands not yet taken


def out(obj):
    os.write(1, (json.dumps(obj) + "\n").encode())


def read_frames(timeout):
    """Reads what stdin has within timeout s; False at EOF/shutdown."""
    global buf
    r, _, _ = select.select([0], [], [], timeout)
    if not r:
        return True
    data = os.read(0, 65536)
    if not data:
        return False
    buf += data
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        if TRACE:
            with open(os.path.join(D, "frames.log"), "ab") as t:
                t.write(line + b"\n")
        try:
            f = json.loads(line)
        except ValueError:
            continue
        m = f.get("method")
        if m == "send":
            sends.append((time.monotonic(), f.get("params", {})))
        elif m == "shutdown":
            return False
    return True


def message(user, text, mid):
    out({"method": "message", "params": {
        "user_id": user, "user_name": user, "text": text,
        "content": {"Text": text}, "channel_id": "c-" + user,
        "platform": "bench", "message_id": mid}})


def answers(p, text):
    """1 if send params p answer message text: the instant fake echoes
    the agent's message, which the channels service prefixes with the
    sender ("echo: [lat]: c0")."""
    return p.get("text", "").startswith("echo: ") and \
        p.get("text", "").endswith("]: " + text)


def wait_send(text, deadline):
    """The time of the send answering message text (taken), or None."""
    while time.monotonic() < deadline:
        for i, (t, p) in enumerate(sends):
            if answers(p, text):
                del sends[i]
                return t
        if not read_frames(max(0.0, min(0.05, deadline - time.monotonic()))):
            return None
    return None


def pct(xs, p):
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))], 3)


def main():
    # ready, repeated until acked (the protocol's rule)
    acked = False
    last = 0.0
    while not acked:
        if time.monotonic() - last > 2:
            out({"method": "ready", "params": {"capabilities": []}})
            last = time.monotonic()
        r, _, _ = select.select([0], [], [], 0.1)
        if r:
            data = os.read(0, 65536)
            if not data:
                return 0
            for line in data.split(b"\n"):
                if b"ready_ack" in line:
                    acked = True
    open(os.path.join(D, "ready"), "w").close()
    plan_path = os.path.join(D, "plan")
    while not os.path.exists(plan_path):
        if not read_frames(0.05):
            return 0
    plan = json.load(open(plan_path))
    agent = plan["agent"]
    res = {"errors": 0}
    host, port = GW.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def http_turn(text):
        nonlocal conn
        body = json.dumps({"message": text})
        t0 = time.monotonic()
        try:
            conn.request("POST", "/api/agents/%s/message" % agent, body,
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
        except (OSError, http.client.HTTPException):
            # the gateway closed the idle connection: once more on a new one
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            t0 = time.monotonic()
            conn.request("POST", "/api/agents/%s/message" % agent, body,
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
        data = r.read()
        t1 = time.monotonic()
        if r.status != 200 or json.loads(data).get("response") != "echo: " + text:
            res["errors"] += 1
            res["last_error"] = "HTTP %d %s" % (r.status, data[:200])
            return None
        return (t1 - t0) * 1000

    def chan_turn(i, text):
        t0 = time.monotonic()
        message("lat", text, "lat-%d-%d" % (os.getpid(), i))
        t1 = wait_send(text, t0 + 30)
        if t1 is None:
            res["errors"] += 1
            res["last_error"] = "no send answered '%s' within 30 s (sends " \
                "unmatched: %s)" % (text, [p.get("text") for _, p in sends[-3:]])
            return None
        return (t1 - t0) * 1000

    chan, http_ms, diff = [], [], []
    n, warm = plan.get("pairs", 0), plan.get("warm", 0)
    for i in range(warm + n):
        if i % 2 == 0:
            c = chan_turn(i, "c%d" % i)
            h = http_turn("h%d" % i)
        else:
            h = http_turn("h%d" % i)
            c = chan_turn(i, "c%d" % i)
        if i < warm or c is None or h is None:
            continue
        chan.append(c)
        http_ms.append(h)
        diff.append(c - h)
    res["pairs"] = len(chan)
    res["channel"] = {"p50": pct(chan, 50), "p99": pct(chan, 99)}
    res["http"] = {"p50": pct(http_ms, 50), "p99": pct(http_ms, 99)}
    res["added"] = {"p50": pct(diff, 50), "p99": pct(diff, 99)}

    m, users = plan.get("burst", 0), max(1, plan.get("users", 1))
    if m > 0:
        sends.clear()
        t0 = time.monotonic()
        for i in range(m):
            message("u%d" % (i % users), "b%d" % i,
                    "burst-%d-%d" % (os.getpid(), i))
        want = {"b%d" % i for i in range(m)}
        got, tl = 0, None
        deadline = t0 + 120
        while want and time.monotonic() < deadline:
            for t, p in sends:
                k = p.get("text", "").rsplit("]: ", 1)[-1]
                if answers(p, k) and k in want:
                    want.discard(k)
                    got += 1
                    tl = t
            sends.clear()
            if not read_frames(0.05):
                break
        res["burst"] = {"messages": m, "users": users, "answered": got,
                        "secs": round(tl - t0, 3) if tl else None,
                        "per_sec": round(got / (tl - t0), 1) if tl and tl > t0 else None}
        if want:
            res["errors"] += len(want)
            res["last_error"] = "%d of the burst unanswered in 120 s" % len(want)
    tmp = os.path.join(D, ".result")
    with open(tmp, "w") as f:
        json.dump(res, f)
    os.rename(tmp, os.path.join(D, "result.json"))
    while read_frames(1.0):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
