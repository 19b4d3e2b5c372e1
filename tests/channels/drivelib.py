"""drivelib.py - what every channel adapter driver shares (irc, mqtt, xmpp,
email, webhook, telegram, matrix, discord _drive.py, adapter_conform.py;
e2e_peer.py through them).

A driver plays the daemon's side of the sidecar protocol
(spec/notes/protocols.md 1.3) on an adapter's stdin/stdout and prints TAP
lines without numbers ("ok - desc" / "not ok - desc", numbered by the
calling script) and "# ..." diagnostics.  Here:

  ok(cond, desc, why)      one result; the failures are counted
  check(desc, fn)          one step: it passes when fn returns None or
                           True; anything else it returns is why it
                           failed (so `good or what_was_seen`), as is an
                           exception
  run(main)                runs the scenario: an exception, a bail-out
                           or a signal is one more failure; stops every
                           process started, exits 1 if anything failed
  free_port()              a loopback TCP port free now
  wait_for(pred, secs, what)       polls until pred() is truthy
  wait_count(fn, n, secs, what)    polls until fn()'s list holds n
  take(q, pred, secs, what)        the first item of a queue for which
                           pred holds
  wait_listening(port, secs)       until 127.0.0.1:port accepts
  self_signed(cert, key, san)      a certificate for localhost (openssl)
  start_server(what, cmd, port, secs, logpath), stop_server(p, secs)
                           a platform server: started, registered for
                           cleanup, returned once it accepts on port
  FakeServer(what, cmd, secs, logpath)
                           a fake platform server that picks its port and
                           says it: started, registered for cleanup; its
                           test API's req(), stop()
  http_json(base, method, path, obj)   one JSON request; the JSON answer,
                           an error's too
  spawn(cmd, **popen)      Popen, registered for cleanup
  on_cleanup(fn)           fn() runs at cleanup, after the processes die
  cleanup()                kills what is registered (idempotent)
  Adapter                  the adapter with us as its daemon (below)
  send_cmd(a, to, text)    a `send` command

Every wait is bounded and says what it waited for.  Nothing runs at
import; run() installs the SIGTERM/SIGINT handlers.
"""
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

_failed = 0
_procs = []             # every process started, killed by cleanup()
_stoppers = []          # on_cleanup() callables


def ok(cond, desc, why=""):
    """Prints one result; a failure is counted, with why under it."""
    global _failed
    print(("ok - " if cond else "not ok - ") + desc, flush=True)
    if not cond:
        _failed += 1
        if why != "":
            print("#   " + str(why)[:600].replace("\n", "\n#   "),
                  flush=True)
    return cond


def check(desc, fn):
    """Runs one step.  Only None or True passes: a step returns why it
    failed (the frame, a string, a tuple of what it saw), never a truthy
    value that would pass for done."""
    try:
        r = fn()
    except Exception as e:       # noqa: BLE001 - reported as TAP
        ok(False, desc, f"{type(e).__name__}: {e}")
        return False
    good = r is None or r is True
    ok(good, desc, "" if good else f"returned {r!r}")
    return good


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, secs, what, step=0.05):
    """pred()'s first truthy value, polled every step; TimeoutError
    naming what after secs."""
    end = time.monotonic() + secs
    while True:
        r = pred()
        if r:
            return r
        if time.monotonic() >= end:
            raise TimeoutError(f"waited {secs} s for {what}")
        time.sleep(step)


def wait_count(fn, n, secs, what, step=0.05):
    """fn()'s list once it holds n items or more, polled every step (a
    fake server's record of calls); TimeoutError saying how many of n
    came within secs."""
    end = time.monotonic() + secs
    while True:
        got = fn()
        if len(got) >= n:
            return got
        if time.monotonic() >= end:
            raise TimeoutError(f"the server saw {len(got)} of {n} {what} "
                               f"within {secs} s")
        time.sleep(step)


def take(q, pred, secs, what, who=None, keep=None):
    """The first item off queue q for which pred(item) holds, within
    secs; the items passed over are appended to keep (a list) when it is
    given, else dropped.  TimeoutError naming who waited for what."""
    end = time.monotonic() + secs
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{who or 'it'} waited {secs} s for {what}")
        try:
            item = q.get(timeout=left)
        except queue.Empty:
            continue
        if pred(item):
            return item
        if keep is not None:
            keep.append(item)


def self_signed(cert, key, san="DNS:localhost"):
    """A self-signed RSA certificate (CN localhost, subjectAltName san),
    valid two days, into cert and key; the key readable by a server that
    drops privileges."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=" + san], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)
    os.chmod(key, 0o644)


def spawn(cmd, **kw):
    """subprocess.Popen(cmd, **kw), killed by cleanup() if still up."""
    p = subprocess.Popen(cmd, **kw)
    _procs.append(p)
    return p


def on_cleanup(fn):
    _stoppers.append(fn)


def cleanup():
    """Kills every process started that still runs, then runs the
    on_cleanup() callables; each only once."""
    while _procs:
        p = _procs.pop(0)
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
    while _stoppers:
        fn = _stoppers.pop(0)
        try:
            fn()
        except Exception as e:       # noqa: BLE001 - said, not fatal
            print(f"# cleanup: {type(e).__name__}: {e}", flush=True)


def wait_listening(port, secs, proc=None):
    """Returns once 127.0.0.1:port accepts; TimeoutError after secs, or
    at once when proc has exited."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise TimeoutError(f"exited ({proc.returncode}) before "
                                   f"listening on {port}")
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {port} within {secs} s")


def start_server(what, cmd, port, secs, logpath):
    """A platform server: cmd with stdout and stderr appended to logpath,
    no stdin, registered for cleanup.  Returns its Popen once it accepts
    on 127.0.0.1:port; a SystemExit bail-out when it does not within
    secs."""
    log = open(logpath, "ab")
    p = spawn(cmd, stdout=log, stderr=subprocess.STDOUT,
              stdin=subprocess.DEVNULL)
    log.close()
    try:
        wait_listening(port, secs, p)
    except TimeoutError as e:
        raise SystemExit(f"Bail out! {what} did not listen on {port} "
                         f"within {secs} s: {e} (see {logpath})")
    return p


def http_json(base, method, path, obj=None, secs=10):
    """method base+path with obj as its JSON body (none if None); the
    answer's JSON (None if empty), a 4xx's or 5xx's as well."""
    data = None if obj is None else json.dumps(obj).encode()
    r = urllib.request.Request(base + path, data=data, method=method,
                               headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(r, timeout=secs) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"null")


def stop_server(p, secs=15):
    """SIGTERM, then SIGKILL when it is still up after secs."""
    p.terminate()
    try:
        p.wait(secs)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)


class FakeServer:
    """A fake platform server (telegram_server.mjs, matrix_server.py,
    discord_server.mjs) that picks its port and says it: cmd with its
    stderr appended to logpath, no stdin, registered for cleanup.  Up
    once the first line it writes on stdout, a JSON object, names the
    port: .hello is that object, .port and .base (http://127.0.0.1:PORT)
    follow from it; a SystemExit bail-out when no such line comes within
    secs.  A driver subclasses it with its platform's test API on req();
    calling __init__ again starts it anew (a restart)."""

    def __init__(self, what, cmd, secs, logpath):
        log = open(logpath, "ab")
        self.p = spawn(cmd, stdout=subprocess.PIPE, stderr=log,
                       stdin=subprocess.DEVNULL)
        log.close()
        q = queue.Queue()
        threading.Thread(target=lambda: q.put(self.p.stdout.readline()),
                         daemon=True).start()
        try:
            self.hello = json.loads(q.get(timeout=secs))
            self.port = self.hello["port"]
        except (queue.Empty, ValueError, TypeError, KeyError) as e:
            rc = self.p.poll()
            why = type(e).__name__ if rc is None else f"exited {rc}"
            raise SystemExit(f"Bail out! {what} did not say its port "
                             f"within {secs} s: {why} (see {logpath})")
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self, secs=10):
        stop_server(self.p, secs)

    def req(self, method, path, obj=None):
        """One request to it; the JSON answer, an error's too."""
        return http_json(self.base, method, path, obj)


def _on_signal(signum, _frame):
    raise SystemExit(f"Bail out! stopped by {signal.Signals(signum).name}")


def run(main):
    """Runs main(): an exception is a failed result, a SystemExit (a
    bail-out, a signal) its message and a failure; then cleanup() and
    exit 1 if any result failed, else 0."""
    global _failed
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        main()
    except SystemExit as e:
        if e.code not in (None, 0):
            print(f"# {e.code}", flush=True)
            _failed += 1
    except Exception as e:       # noqa: BLE001 - reported as TAP
        ok(False, "the driver ran to its end", f"{type(e).__name__}: {e}")
    finally:
        cleanup()
    sys.exit(1 if _failed else 0)


class Adapter:
    """An adapter with us as its daemon.  A driver subclasses it with
    BIN (the program), LOGS (the directory for NAME.log, its stderr) and
    PREFIX (the prefix of the platform's environment variables, or a
    tuple of them: the ones inherited are dropped, so only env
    configures it).

    A thread reads its stdout: each frame (a JSON object with a string
    "method") is queued with the time it came; any other line is kept in
    .bad (the first 200 bytes).  event() takes frames off the queue;
    the frames it passes over are in .skipped, and .when is when the
    one it returns came."""
    BIN = None
    LOGS = None
    PREFIX = None

    def __init__(self, name, env, log=None):
        e = {k: v for k, v in os.environ.items()
             if not (self.PREFIX and k.startswith(self.PREFIX))}
        e.update(env)
        self.name = name
        self.logpath = log or os.path.join(self.LOGS, name + ".log")
        with open(self.logpath, "ab") as err:
            self.p = spawn([self.BIN], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=err, env=e)
        self.q = queue.Queue()
        self.bad = []
        self.skipped = []
        self.when = None
        self.took = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            try:
                f = json.loads(raw)
                if not isinstance(f, dict) or \
                        not isinstance(f.get("method"), str):
                    raise ValueError("not a frame")
            except ValueError:
                self.bad.append(raw[:200])
                continue
            self.q.put((time.monotonic(), f))
        self.q.put((time.monotonic(), None))      # EOF

    def send(self, obj):
        """A command (a dict, sent as one JSON line) or raw bytes."""
        data = obj if isinstance(obj, bytes) else \
            (json.dumps(obj) + "\n").encode()
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def event(self, method, secs, what=None, pred=None):
        """The next frame of method (for which pred(frame) holds, if
        given) within secs; TimeoutError naming what otherwise."""
        self.skipped = []

        def wanted(item):
            f = item[1]
            if f is None or (f["method"] == method and
                             (pred is None or pred(f))):
                return True
            self.skipped.append(f)
            return False
        t, f = take(self.q, wanted, secs, f"a '{method}' event "
                    f"({what or method})", self.name)
        if f is None:
            self.q.put((t, None))       # later waits see it too
            raise TimeoutError(f"{self.name}: stdout closed while waiting "
                               f"for a '{method}' event ({what or method})")
        self.when = t
        return f

    def none_within(self, method, secs):
        """None when no frame of method comes within secs; else that
        frame (why a check fails)."""
        try:
            return self.event(method, secs)
        except TimeoutError:
            return None

    def quiet(self, secs):
        """Every frame that comes within secs (a list; none expected)."""
        got, end = [], time.monotonic() + secs
        while time.monotonic() < end:
            try:
                _, f = self.q.get(timeout=max(0.01,
                                              end - time.monotonic()))
            except queue.Empty:
                continue
            if f is None:
                self.q.put((time.monotonic(), None))
                break
            got.append(f)
        return got

    def ready(self, secs=10):
        """The handshake: the first ready, then ready_ack; the frame."""
        f = self.event("ready", secs, "the handshake")
        self.send({"method": "ready_ack"})
        return f

    def exit_within(self, secs):
        """(exit status, seconds it took), (None, secs) if still up."""
        t0 = time.monotonic()
        try:
            rc = self.p.wait(secs)
        except subprocess.TimeoutExpired:
            return None, secs
        return rc, time.monotonic() - t0

    def end(self, how="shutdown", within=1.0, secs=5):
        """Ends it with a shutdown command or EOF on stdin (how "eof")
        and waits secs at most: None when it exited 0 within `within`
        seconds, else why not.  .took is how long it took."""
        if how == "eof":
            self.p.stdin.close()
        else:
            self.send({"method": "shutdown"})
        rc, self.took = self.exit_within(max(secs, within))
        if rc == 0 and self.took < within:
            return None
        return f"exit {rc} after {self.took:.2f} s (want 0 within {within} s)"

    def memory(self):
        """Its smaps_rollup in kB ({"Pss": n, "Rss": n, ...}); {} if it
        cannot be read."""
        kb = {}
        try:
            with open(f"/proc/{self.p.pid}/smaps_rollup") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    v = v.split()
                    if k.isidentifier() and v and v[0].isdigit():
                        kb[k] = int(v[0])
        except OSError:
            pass
        return kb

    def pss(self):
        """Its memory as a diagnostic: PSS, RSS, private dirty (kB)."""
        kb = self.memory()
        if "Pss" not in kb:
            return f"no smaps_rollup for pid {self.p.pid}"
        return (f"Pss {kb['Pss']} kB, Rss {kb['Rss']} kB, "
                f"Private_Dirty {kb['Private_Dirty']} kB")

    def pss_at_most(self, limit, when):
        """A step: prints its memory (channel-X when) and returns None
        when its PSS is at most limit kB, else its smaps_rollup (why).
        Under a sanitizer (sanitized()) the PSS is measured, not
        bounded: None when there is one."""
        kb = self.memory()
        print(f"# {os.path.basename(self.BIN)} {when}: {self.pss()}",
              flush=True)
        if self.sanitized():
            print("# a sanitizer build: PSS measured, not bounded",
                  flush=True)
            return kb.get("Pss", 0) > 0 or kb
        return kb.get("Pss", limit + 1) <= limit or kb

    def sanitized(self):
        """Whether it runs with a sanitizer's runtime (its memory is then
        not the adapter's)."""
        try:
            with open(f"/proc/{self.p.pid}/maps") as f:
                return any("libasan" in l or "libtsan" in l for l in f)
        except OSError:
            return False

    def log(self):
        """Its stderr so far, as text."""
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")


def send_cmd(a, to, text, thread=None, display_name=None):
    """The daemon's `send` of text to channel_id to (and thread)."""
    p = {"channel_id": to, "text": text,
         "user": {"platform_id": to, "display_name": display_name or to,
                  "librefang_user": None}}
    if thread is not None:
        p["thread_id"] = thread
    a.send({"method": "send", "params": p})
