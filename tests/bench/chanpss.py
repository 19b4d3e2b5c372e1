#!/usr/bin/env python3
"""chanpss.py BIN: the memory of each channel adapter of BIN (channel-*)
while they all run side by side, as under the channels service
(tests/bench/channels.sh, figure 19), as JSON lines {"adapter", "pss_kb",
"private_kb", "tls", "state"}.

Each adapter is started as the channels service starts it (the sidecar
protocol on a pipe, configured by its environment), its required fields
filled from its own --describe: addresses point at a local TCP peer that
accepts and stays silent (so the adapter is connected and waiting, not in
a reconnect loop), over TLS where the adapter has it (an https:// API
base, IRC_TLS: the handshake started, as in production), secrets are
placeholders, loopback is allowed.  Its ready_ack is sent; after a
second, with all of them running, each one's PSS (its share of what it
maps, shared library pages divided among the processes that map them)
and private memory are read from /proc/PID/smaps_rollup; then each is
shut down.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

BIN = sys.argv[1]


def silent_peer():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    held = []

    def accept():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            held.append(c)
    threading.Thread(target=accept, daemon=True).start()
    return s.getsockname()[1]


def env_for(desc, port):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    prefix = None
    for f in desc.get("fields", []):
        k, t = f.get("key", ""), f.get("type", "")
        if k.endswith("_ALLOW_LOOPBACK"):
            prefix = k[: -len("_ALLOW_LOOPBACK")]
            env[k] = "true"
        if not f.get("required"):
            continue
        if t == "secret":
            # A token's kind by its placeholder's start ("xoxb-...":
            # channel-slack refuses a token of another kind).
            ph = f.get("placeholder") or ""
            env[k] = (ph[:-3] if ph.endswith("...") else "") + \
                "bench-secret-0123456789abcdef"
        elif t == "number":
            env[k] = str(port)
        elif k.endswith(("_URL", "_BASE")) or "HOMESERVER" in k:
            env[k] = "https://127.0.0.1:%d" % port
        elif k.endswith(("_SERVER", "_HOST", "_BROKER")):
            env[k] = "127.0.0.1"
        elif k.endswith("_PORT"):
            env[k] = str(port)
        elif k.endswith(("_JID", "_USER_ID")):
            env[k] = "@bench:localhost" if "MATRIX" in k else "bench@localhost"
        elif k.endswith("_ADDRESS") or "EMAIL" in k:
            env[k] = "bench@localhost"
        else:
            env[k] = "bench"
    if prefix == "IRC":
        env["IRC_TLS"] = "true"
    if prefix:
        for k in ("_PORT", "_IMAP_PORT", "_SMTP_PORT"):
            if any(f.get("key") == prefix + k for f in desc.get("fields", [])):
                env.setdefault(prefix + k, str(port))
        for k in ("_API_BASE", "_SERVER", "_HOST", "_IMAP_HOST", "_SMTP_HOST"):
            if any(f.get("key") == prefix + k for f in desc.get("fields", [])):
                env.setdefault(prefix + k, "https://127.0.0.1:%d" % port
                               if k == "_API_BASE" else "127.0.0.1")
    return env


def memory_kb(pid):
    """(Pss, Private_Clean + Private_Dirty) of pid in kB, or None."""
    got = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k = line.split(":")[0]
                if k in ("Pss", "Private_Clean", "Private_Dirty"):
                    got[k] = int(line.split()[1])
    except OSError:
        return None
    return got.get("Pss"), got.get("Private_Clean", 0) + got.get("Private_Dirty", 0)


def main():
    port = silent_peer()
    procs = []
    for name in sorted(os.listdir(BIN)):
        if not name.startswith("channel-"):
            continue
        path = os.path.join(BIN, name)
        try:
            desc = json.loads(subprocess.run([path, "--describe"], capture_output=True,
                                             timeout=5).stdout)
        except (ValueError, subprocess.SubprocessError, OSError):
            print(json.dumps({"adapter": name, "pss_kb": None, "state": "no --describe"}))
            continue
        env = env_for(desc, port)
        tls = any(v.startswith("https://") for v in env.values()) or \
            env.get("IRC_TLS") == "true" or name in ("channel-email", "channel-xmpp")
        procs.append((name, tls, subprocess.Popen(
            [path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env)))
    time.sleep(0.3)
    for _, _, p in procs:
        try:
            p.stdin.write(b'{"method":"ready_ack","params":{}}\n')
            p.stdin.flush()
        except OSError:
            pass
    time.sleep(1.5)
    rows = []
    for name, tls, p in procs:
        m = memory_kb(p.pid) if p.poll() is None else None
        rows.append({"adapter": name, "pss_kb": m[0] if m else None,
                     "private_kb": m[1] if m else None, "tls": tls,
                     "state": "running" if m else "exited %s" % p.returncode})
    for _, _, p in procs:
        try:
            p.stdin.write(b'{"method":"shutdown","params":{}}\n')
            p.stdin.close()
        except OSError:
            pass
    for _, _, p in procs:
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for r in rows:
        print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
