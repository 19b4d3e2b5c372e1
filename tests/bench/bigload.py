#!/usr/bin/env python3
"""bigload.py HOST:PORT [CONNS] [ROUNDS] - the bad-input load of make bench.

Sends large and hostile bodies from CONNS connections at once, ROUNDS
times each, to a running gateway: JSON bodies just under the 8 MiB limit
(POST /api/agents, PATCH /api/agents/{id} with a 1 MiB model, PUT of an
agent file), a streamed body past the limit (413), and a 1 MiB reply
(GET of that file) for the relay's side.  Prints one line: requests,
statuses seen, seconds.  Standard library only; every socket has a
timeout, so it cannot hang.
"""
import http.client
import json
import sys
import threading
import time

host, port = sys.argv[1].rsplit(":", 1)
conns = int(sys.argv[2]) if len(sys.argv) > 2 else 16
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
MB = 1024 * 1024


def req(c, method, path, body=None, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    r.read()
    return r.status


def connect():
    return http.client.HTTPConnection(host, int(port), timeout=60)


# One agent to patch and to hold a file.
c = connect()
spawn = json.dumps({"manifest_toml": 'name = "bigload"\n'})
c.request("POST", "/api/agents", body=spawn,
          headers={"Content-Type": "application/json"})
r = c.getresponse()
agent = json.loads(r.read() or b"{}").get("agent_id") or ""
if not agent:
    c.request("GET", "/api/agents")
    lst = json.loads(c.getresponse().read() or b"[]")
    agent = lst[0]["id"] if isinstance(lst, list) and lst else "x"
c.close()

big_manifest = json.dumps({"manifest_toml": 'name = "x"\n#' + "a" * (8 * MB - 4096)})
big_patch = json.dumps({"model": "m" * MB, "provider": "p" * MB})
big_file = json.dumps({"content": "f" * MB})
statuses = {}
lock = threading.Lock()


def worker():
    for _ in range(rounds):
        for method, path, body, hdrs in (
                ("POST", "/api/agents", big_manifest, None),
                ("PATCH", "/api/agents/%s" % agent, big_patch, None),
                ("PUT", "/api/agents/%s/files/big.md" % agent, big_file,
                 None),
                ("GET", "/api/agents/%s/files/big.md" % agent, None, None),
                ("POST", "/api/agents", big_manifest + " " * (MB + 64),
                 None)):
            try:
                c = connect()
                st = req(c, method, path, body, hdrs)
                c.close()
            except Exception as e:  # a refused body may reset the socket
                st = type(e).__name__
            with lock:
                statuses[st] = statuses.get(st, 0) + 1


t0 = time.time()
threads = [threading.Thread(target=worker) for _ in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("%d requests in %.1f s: %s" % (sum(statuses.values()), time.time() - t0,
      ", ".join("%s x%d" % (k, v) for k, v in sorted(statuses.items(),
                                                      key=str))))
