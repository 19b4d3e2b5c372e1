#!/usr/bin/env python3
"""matrix_server.py - a small Matrix homeserver for the adapter's tests.

Speaks the client-server API v3 (spec.matrix.org) for just what
channel-matrix calls, as the spec says it behaves:

  GET  /_matrix/client/v3/account/whoami
  GET  /_matrix/client/v3/sync?since=&timeout=&filter=
       next_batch tokens "s<N>" (the event stream's position); without
       since, the joined rooms with their last `timeline.limit` events
       (the filter's, else 10) and "limited": true, their state, summary
       and pending invites, and m.direct account data; with since, what
       came after it, held up to `timeout` ms while nothing did
  PUT  /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}
       a transaction id already used with this access token answers the
       first event's id again and sends nothing (the spec's idempotency)
  PUT  /_matrix/client/v3/rooms/{roomId}/typing/{userId}
  POST /_matrix/client/v3/join/{roomIdOrAlias}, .../rooms/{roomId}/join
  PUT  /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}
       the same transaction rule; the event must be in the room
  PUT  /_matrix/client/v3/user/{userId}/account_data/{type}
       in the next syncs' account_data (the initial one has it all)

Errors are the spec's JSON bodies: {"errcode": "M_...", "error": "..."};
no or another token: 401 M_MISSING_TOKEN / M_UNKNOWN_TOKEN; 429
M_LIMIT_EXCEEDED with retry_after_ms; a room the bot is not in: 403
M_FORBIDDEN; an unknown endpoint: 404 M_UNRECOGNIZED; a body not JSON:
400 M_NOT_JSON.  Connections are kept alive (HTTP/1.1).

Test control (not Matrix):

  POST /__room   {"room_id", "members": {user: name}, "direct": bool}
                 a room the bot has joined, with these others in it
  POST /__invite {"room_id", "sender", "is_direct"?}: the sender invites
                 the bot (to a direct chat)
  POST /__say    {"room_id", "sender", "body", "msgtype"?, "mentions"?,
                  "formatted_body"?, "relates_to"?} -> {"event_id"}
  POST /__fault  {"endpoint": whoami|sync|send|typing|join, "status",
                  "errcode"?, "error"?, "retry_after_ms"?, "count"?,
                  "close"?: drop the connection instead of answering,
                  "close_after"?: do what was asked, then drop the
                  connection without the answer}
  GET  /__calls  every client-server call: {n, t (ms), endpoint, method,
                 path, body, conn, status, txn?, dup?}
  GET  /__sent   the events the bot sent (duplicates not repeated)

State (rooms, the event stream, transaction ids) is kept in --state
FILE when given, so a server killed and started again carries on where
it was, like a real homeserver.

usage: matrix_server.py [--port N] [--token T] [--user @bot:server]
       [--state FILE]; prints {"port": N} on stdout once listening.
"""
import argparse
import http.server
import itertools
import json
import os
import re
import sys
import threading
import time
import urllib.parse

P = "/_matrix/client/v3"
ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--token", default="syt_lfbot_token")
ap.add_argument("--user", default="@lfbot:localhost")
ap.add_argument("--state")
args = ap.parse_args()
BOT = args.user
lock = threading.Condition()
conns = itertools.count(1)
st = {"seq": 0, "stream": [], "rooms": {}, "invites": {}, "txns": {},
      "sent": [], "account_data": {}}
calls = []
faults = []
T0 = time.time()
if args.state and os.path.exists(args.state):
    with open(args.state) as f:
        st = json.load(f)


def save():
    if args.state:
        with open(args.state + ".tmp", "w") as f:
            json.dump(st, f)
        os.replace(args.state + ".tmp", args.state)


def now_ms():
    return int(time.time() * 1000)


def push(room, ev):
    """Appends ev to room's timeline and the stream (lock held)."""
    st["seq"] += 1
    ev.setdefault("event_id", f"$ev{st['seq']}:localhost")
    ev.setdefault("origin_server_ts", now_ms())
    ev["room_id"] = room
    st["stream"].append([st["seq"], "event", room, ev])
    lock.notify_all()
    return ev["event_id"]


def set_account(atype, content):
    """The bot's account data of atype, into the stream (lock held)."""
    st["account_data"][atype] = content
    st["seq"] += 1
    st["stream"].append([st["seq"], "account", atype, None])
    lock.notify_all()


def member_ev(room, user, name, membership="join"):
    return {"type": "m.room.member", "sender": user, "state_key": user,
            "content": {"membership": membership, "displayname": name}}


def room_sync(room, events, limited=False):
    r = st["rooms"][room]
    return {"timeline": {"events": events, "limited": limited,
                         "prev_batch": "p0"},
            "state": {"events": [member_ev(room, u, n) for u, n in
                                 sorted(r["members"].items())]},
            "summary": {"m.joined_member_count": len(r["members"])}}


def sync_body(since, limit):
    """The sync answer from position since (None: initial); lock held."""
    out = {"next_batch": f"s{st['seq']}", "rooms": {
        "join": {}, "invite": {}, "leave": {}}}
    if since is None:
        for room, r in st["rooms"].items():
            if BOT not in r["members"]:
                continue
            evs = [e for _, k, rm, e in st["stream"]
                   if k == "event" and rm == room]
            out["rooms"]["join"][room] = room_sync(
                room, evs[-limit:] if limit else [], len(evs) > limit)
        for room, inv in st["invites"].items():
            out["rooms"]["invite"][room] = inv
        out["account_data"] = {"events": [
            {"type": t, "content": c}
            for t, c in st["account_data"].items()]}
        return out
    for seq, kind, room, ev in st["stream"]:
        if seq <= since:
            continue
        if kind == "account":
            # The latest content of that type, once.
            evs = out.setdefault("account_data", {"events": []})["events"]
            evs[:] = [e for e in evs if e["type"] != room]
            evs.append({"type": room, "content": st["account_data"][room]})
            continue
        if kind == "invite":
            if room in st["invites"]:
                out["rooms"]["invite"][room] = st["invites"][room]
            continue
        if BOT not in st["rooms"].get(room, {}).get("members", {}):
            continue
        j = out["rooms"]["join"].setdefault(room, room_sync(room, []))
        j["timeline"]["events"].append(ev)
    return out


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.conn = next(conns)

    def log_message(self, fmt, *a):
        sys.stderr.write("matrix_server: " + (fmt % a) + "\n")

    def answer(self, status, obj):
        if getattr(self, "mute", False):
            return status       # a close_after fault: done, not told
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return status

    def error(self, status, code, msg, **extra):
        return self.answer(status, dict(errcode=code, error=msg, **extra))

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        return json.loads(raw)

    # ---- routing --------------------------------------------------------

    def do_GET(self):
        self.route("GET")

    def do_PUT(self):
        self.route("PUT")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        path = u.path
        try:
            body = self.body()
        except ValueError:
            return self.error(400, "M_NOT_JSON", "Content not JSON.")
        if path.startswith("/__"):
            return self.control(method, path, body)
        ep, m = self.endpoint(method, path)
        rec = {"n": 0, "t": int((time.time() - T0) * 1000), "endpoint": ep,
               "method": method, "path": path, "query": q, "body": body,
               "conn": self.conn, "status": 0}
        with lock:
            rec["n"] = len(calls) + 1
            calls.append(rec)
            f = next((f for f in faults if f["endpoint"] == ep and
                      f["count"] > 0), None)
            if f is not None:
                f["count"] -= 1
        if f is not None and f.get("close_after"):
            self.mute = True
            f = None
        if f is not None:
            if f.get("close"):
                rec["status"] = -1
                self.close_connection = True
                self.connection.shutdown(2)
                return
            extra = {}
            if f.get("retry_after_ms") is not None:
                extra["retry_after_ms"] = f["retry_after_ms"]
            rec["status"] = self.error(f["status"], f.get(
                "errcode", "M_UNKNOWN"), f.get("error", "injected"),
                **extra)
            return
        user = self.auth(q)
        if user is None:
            rec["status"] = 401
            return
        if ep is None:
            rec["status"] = self.error(404, "M_UNRECOGNIZED",
                                       "Unrecognized request")
            return
        rec["status"] = getattr(self, "ep_" + ep)(m, q, body, rec)
        if getattr(self, "mute", False):
            self.mute = False
            self.close_connection = True
            self.connection.shutdown(2)

    def auth(self, q):
        h = self.headers.get("Authorization", "")
        tok = h[7:] if h.startswith("Bearer ") else q.get("access_token")
        if not tok:
            self.error(401, "M_MISSING_TOKEN", "Missing access token")
            return None
        if tok != args.token:
            self.error(401, "M_UNKNOWN_TOKEN", "Invalid access token "
                       "passed.", soft_logout=False)
            return None
        return BOT

    ROUTES = [
        ("GET", r"/account/whoami", "whoami"),
        ("GET", r"/sync", "sync"),
        ("PUT", r"/rooms/([^/]+)/send/([^/]+)/([^/]+)", "send"),
        ("PUT", r"/rooms/([^/]+)/typing/([^/]+)", "typing"),
        ("PUT", r"/rooms/([^/]+)/redact/([^/]+)/([^/]+)", "redact"),
        ("POST", r"/join/([^/]+)", "join"),
        ("POST", r"/rooms/([^/]+)/join", "join"),
        ("PUT", r"/user/([^/]+)/account_data/([^/]+)", "account_data"),
    ]

    def endpoint(self, method, path):
        if not path.startswith(P):
            return None, None
        rest = path[len(P):]
        for meth, rx, name in self.ROUTES:
            m = re.fullmatch(rx, rest)
            if m and meth == method:
                return name, [urllib.parse.unquote(g) for g in m.groups()]
        return None, None

    # ---- the client-server API ------------------------------------------

    def ep_whoami(self, m, q, body, rec):
        return self.answer(200, {"user_id": BOT, "device_id": "LFDEV",
                                 "is_guest": False})

    def ep_sync(self, m, q, body, rec):
        since = q.get("since")
        try:
            timeout = min(int(q.get("timeout", "0")), 60000)
            pos = None if since is None else int(since.lstrip("s"))
        except ValueError:
            return self.error(400, "M_INVALID_PARAM", "bad since/timeout")
        limit = 10
        if "filter" in q:
            try:
                limit = json.loads(q["filter"])["room"]["timeline"]["limit"]
            except (ValueError, KeyError, TypeError):
                return self.error(400, "M_INVALID_PARAM", "bad filter")
        end = time.monotonic() + timeout / 1000
        with lock:
            while pos is not None and st["seq"] <= pos:
                left = end - time.monotonic()
                if left <= 0:
                    break
                lock.wait(left)
            out = sync_body(pos, limit)
        return self.answer(200, out)

    def ep_send(self, m, q, body, rec):
        room, etype, txn = m
        rec["txn"] = txn
        with lock:
            r = st["rooms"].get(room)
            if r is None or BOT not in r["members"]:
                return self.error(403, "M_FORBIDDEN", "You are not in "
                                  "this room.")
            key = args.token + "|" + txn
            if key in st["txns"]:
                rec["dup"] = True
                return self.answer(200, {"event_id": st["txns"][key]})
            eid = push(room, {"type": etype, "sender": BOT,
                              "content": body})
            st["txns"][key] = eid
            st["sent"].append({"room_id": room, "type": etype,
                               "txn": txn, "event_id": eid,
                               "content": body, "conn": self.conn,
                               "t": rec["t"]})
            save()
        return self.answer(200, {"event_id": eid})

    def ep_redact(self, m, q, body, rec):
        room, target, txn = m
        rec["txn"] = txn
        with lock:
            r = st["rooms"].get(room)
            if r is None or BOT not in r["members"]:
                return self.error(403, "M_FORBIDDEN", "You are not in "
                                  "this room.")
            if not any(k == "event" and rm == room and
                       e["event_id"] == target
                       for _, k, rm, e in st["stream"]):
                return self.error(404, "M_NOT_FOUND", "Event not found.")
            key = args.token + "|" + txn
            if key in st["txns"]:
                rec["dup"] = True
                return self.answer(200, {"event_id": st["txns"][key]})
            content = {"redacts": target}
            if isinstance(body.get("reason"), str):
                content["reason"] = body["reason"]
            eid = push(room, {"type": "m.room.redaction", "sender": BOT,
                              "redacts": target, "content": content})
            st["txns"][key] = eid
            st["sent"].append({"room_id": room, "type": "m.room.redaction",
                               "txn": txn, "event_id": eid,
                               "content": content, "conn": self.conn,
                               "t": rec["t"]})
            save()
        return self.answer(200, {"event_id": eid})

    def ep_typing(self, m, q, body, rec):
        room, user = m
        if user != BOT:
            return self.error(403, "M_FORBIDDEN", "Cannot set another "
                              "user's typing state")
        if not isinstance(body.get("typing"), bool):
            return self.error(400, "M_BAD_JSON", "typing is required")
        return self.answer(200, {})

    def ep_join(self, m, q, body, rec):
        room = m[0]
        with lock:
            if room not in st["invites"] and (
                    BOT not in st["rooms"].get(room, {}).get("members",
                                                             {})):
                return self.error(403, "M_FORBIDDEN", "You are not "
                                  "invited to this room.")
            st["invites"].pop(room, None)
            st["rooms"][room]["members"][BOT] = "LF Bot"
            push(room, member_ev(room, BOT, "LF Bot"))
            save()
        return self.answer(200, {"room_id": room})

    def ep_account_data(self, m, q, body, rec):
        user, atype = m
        if user != BOT:
            return self.error(403, "M_FORBIDDEN", "Cannot add account "
                              "data for other users.")
        if not isinstance(body, dict):
            return self.error(400, "M_BAD_JSON", "not an object")
        with lock:
            set_account(atype, body)
            save()
        return self.answer(200, {})

    # ---- test control ---------------------------------------------------

    def control(self, method, path, b):
        with lock:
            if path == "/__calls":
                return self.answer(200, calls)
            if path == "/__sent":
                return self.answer(200, st["sent"])
            if path == "/__fault":
                b.setdefault("count", 1)
                faults.append(b)
                return self.answer(200, {})
            if path == "/__room":
                room = b["room_id"]
                members = dict(b.get("members", {}))
                members[BOT] = "LF Bot"
                st["rooms"][room] = {"members": members}
                if b.get("direct"):
                    d = dict(st["account_data"].get("m.direct", {}))
                    who = next(iter(b["members"]))
                    d[who] = d.get(who, []) + [room]
                    set_account("m.direct", d)
                for u, n in members.items():
                    push(room, member_ev(room, u, n))
                save()
                return self.answer(200, {"room_id": room})
            if path == "/__invite":
                room, who = b["room_id"], b["sender"]
                st["rooms"][room] = {"members": {who: who[1:].split(":")[0]}}
                st["invites"][room] = {"invite_state": {"events": [
                    {"type": "m.room.member", "sender": who,
                     "state_key": BOT,
                     "content": {"membership": "invite",
                                 "is_direct": bool(b.get("is_direct"))}}]}}
                st["seq"] += 1
                st["stream"].append([st["seq"], "invite", room, None])
                lock.notify_all()
                save()
                return self.answer(200, {})
            if path == "/__say":
                room = b["room_id"]
                c = {"msgtype": b.get("msgtype", "m.text"),
                     "body": b["body"]}
                for k, v in (("m.mentions", b.get("mentions")),
                             ("formatted_body", b.get("formatted_body")),
                             ("m.relates_to", b.get("relates_to"))):
                    if v is not None:
                        c[k] = v
                if "formatted_body" in c:
                    c["format"] = "org.matrix.custom.html"
                eid = push(room, {"type": b.get("type", "m.room.message"),
                                  "sender": b["sender"], "content": c})
                save()
                return self.answer(200, {"event_id": eid})
        return self.error(404, "M_UNRECOGNIZED", "no such control")


class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = S(("127.0.0.1", args.port), H)
print(json.dumps({"port": srv.server_address[1]}), flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    pass
