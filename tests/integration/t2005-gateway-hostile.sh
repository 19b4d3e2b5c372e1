#!/usr/bin/env bash
# api-gateway against what a hostile-input campaign found: every request
# below gets exactly one clean 4xx (one status line, a JSON body, the
# security headers), in time, and the gateway goes on serving:
# thousands of query parameters, a client that stops mid-body, a
# Content-Length libmicrohttpd cannot read (-1, letters, past 64 bits),
# conflicting framing (two Content-Lengths, Content-Length with
# Transfer-Encoding, a coding other than chunked), folded header lines.
. "$(dirname "$0")/../lib.sh"

# A connection timeout of 10 s: an answer "at once" and one at the
# timeout stay far apart however slow the machine.
lf_config '[api]
connection_timeout_secs = 10'
lf_stack_start agent-runtime

# rawreq PARTS... : sends each part (Python string escapes; "@SECS"
# between parts pauses), then reads until the server closes or 20 s pass.
# Prints one JSON line: status (first status line), nstatus (status
# lines seen), json, sec, closed, secs, body (after the first head).
cat > "$LF_TMP/rawreq.py" <<'EOF'
import json, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.time()
for part in sys.argv[2:]:
    if part.startswith("@"):
        time.sleep(float(part[1:]))
    else:
        s.sendall(part.encode().decode("unicode_escape").encode("latin1"))
s.settimeout(0.2)
got = b""
closed = False
while time.time() - t0 < 20:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    except OSError:
        closed = True
        break
    if not d:
        closed = True
        break
    got += d
head, _, body = got.partition(b"\r\n\r\n")
lines = got.split(b"\r\n")
print(json.dumps({
    "status": lines[0].decode("latin1") if got else "",
    "nstatus": got.count(b"HTTP/1."),
    "json": body.startswith(b'{"error":'),
    "sec": b"x-frame-options: DENY" in head,
    "closed": closed,
    "secs": round(time.time() - t0, 1),
    "body": body.decode("latin1")}))
EOF
raw() { python3 "$LF_TMP/rawreq.py" "$LF_PORT" "$@"; }
r() { jq -r "$1" <<<"$out"; }
# clean4xx DESC: the last answer was one 4xx, JSON, with the usual headers
clean4xx() {
	t_ok "$1: a 4xx ($(r .status))" grep -Eq '^HTTP/1.1 4[0-9][0-9] ' <<<"$(r .status)"
	t_eq "$1: one status line" "$(r .nstatus)" 1
	t_eq "$1: JSON with the security headers" "$(r .json) $(r .sec)" "true true"
}
post() {	# post CL-HEADERS BODY: a POST /api/agents with these headers
	printf 'POST /api/agents HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\n%s\\r\\n%s' "$1" "$2"
}

# ---- thousands of query parameters ---------------------------------------------
# They overflowed libmicrohttpd's pool while it filled its argument table,
# and it then neither answered nor closed.
q=$(python3 -c 'print("&".join(["a=1"] * 4000))')
out=$(raw "GET /api/agents?$q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
clean4xx "4000 query parameters"
t_ok "4000 query parameters: answered at once, not at the 10 s timeout ($(r .secs) s)" \
    awk -v t="$(r .secs)" 'BEGIN{exit !(t < 5)}'
t_eq "4000 query parameters: the limit named" "$(r .body | jq -r .error)" \
    "too many query parameters: 4000 (the limit is 100)"
q=$(python3 -c 'print("&".join("p%d=%d" % (i, i) for i in range(4000)))')
out=$(raw "GET /api/agents?$q HTTP/1.1\r\nHost: x\r\n\r\n")
t_ok "a 40 KB query (past the pool): libmicrohttpd's own 4xx ($(r .status))" \
    grep -Eq '^HTTP/1.1 4[0-9][0-9] ' <<<"$(r .status)"
t_ok "a 40 KB query: answered at once, not at the 10 s timeout ($(r .secs) s)" \
    awk -v t="$(r .secs)" 'BEGIN{exit !(t < 5)}'
lf_req GET "/api/agents?$(python3 -c 'print("&".join("p%d=1" % i for i in range(100)))')"
t_eq "100 query parameters are served" "$LF_STATUS" 200

# ---- a client that stops mid-body ------------------------------------------------
# libmicrohttpd's idle timer ran out with the reaper's deadline and
# closed first, silently.
raw "$(post 'Content-Length: 100\r\n' '{"manifest_toml":')" > "$LF_TMP/stall" &
stall=$!
sleep 0.5
worst=$(lf_worst_ms 4 0.3)
t_ok "others are served while it stalls, not after its 10 s (worst ${worst} ms)" test "$worst" -lt 3000
wait "$stall"
out=$(cat "$LF_TMP/stall")
t_eq "stalled mid-body: 408" "$(r .status)" "HTTP/1.1 408 Request Timeout"
clean4xx "stalled mid-body"
t_ok "stalled mid-body: at the 10 s timeout ($(r .secs) s)" \
    awk -v t="$(r .secs)" 'BEGIN{exit !(t >= 9.5 && t < 16)}'
out=$(raw "$(post 'Content-Length: 100\r\n' '{"manifest_toml":')" @1 '"abc')
t_eq "stalled after a second part: 408" "$(r .status)" "HTTP/1.1 408 Request Timeout"

# ---- a Content-Length libmicrohttpd cannot read ----------------------------------
# It answered itself and sent its header block twice.
for cl in -1 abc '5 ' 99999999999999999999999; do
	out=$(raw "$(post "Content-Length: $cl\\r\\n" '{}')")
	clean4xx "Content-Length '$cl'"
	t_eq "Content-Length '$cl': the connection is closed" "$(r .closed)" true
done
t_eq "a Content-Length past 64 bits: 413" "$(r .status)" \
    "HTTP/1.1 413 Content Too Large"
out=$(raw "$(post 'Content-Length: -1\r\n' '{}')" @0.3 '{"more":1}')
clean4xx "a bad Content-Length with more bytes after"
# The same on a keep-alive connection, after a good request.
out=$(raw "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n" @0.3 "$(post 'Content-Length: -1\r\n' '{}')")
t_eq "keep-alive, then a bad Content-Length: two answers" "$(r .nstatus)" 2
t_ok "keep-alive: the second is the 400" grep -q '{"error":"invalid Content-Length"}' <<<"$(r .body)"

# ---- conflicting framing (RFC 9112 6.1, 6.3) ------------------------------------
out=$(raw "$(post 'Content-Length: 2\r\nContent-Length: 5\r\n' '{}abc')")
clean4xx "two different Content-Lengths"
t_eq "two different Content-Lengths: 400, connection closed" \
    "$(r .status) $(r .closed)" "HTTP/1.1 400 Bad Request true"
t_eq "two different Content-Lengths: the reason" "$(r .body | jq -r .error)" \
    "conflicting Content-Length headers"
out=$(raw "$(post 'Content-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n' '{}')")
t_ok "the same Content-Length twice is one ($(r .status))" \
    grep -vq 'conflicting' <<<"$(r .body)"
out=$(raw "$(post 'Content-Length: 2\r\nTransfer-Encoding: chunked\r\n' '2\r\n{}\r\n0\r\n\r\n')")
clean4xx "Content-Length with Transfer-Encoding"
t_eq "Content-Length with Transfer-Encoding: connection closed" "$(r .closed)" true
out=$(raw "$(post 'Transfer-Encoding: gzip\r\n' '{}')")
clean4xx "Transfer-Encoding: gzip"
out=$(raw "GET /api/health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n")
clean4xx "a folded header line"

# ---- and the gateway is fine ------------------------------------------------------
lf_req GET /api/agents
t_eq "still serving afterwards" "$LF_STATUS" 200
lf_stop api-gateway
t_eq "SIGTERM: exit 0" "$LF_EXIT" 0

t_done
