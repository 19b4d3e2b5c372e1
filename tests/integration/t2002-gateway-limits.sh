#!/usr/bin/env bash
# api-gateway request limits: 413 (Content-Length and streamed), 415, 400
# for malformed or too deeply nested JSON, 431 for too many headers (a
# bare 4xx from libmicrohttpd past its header pool), and
# slow clients: one sending a byte a second gets a 408 JSON answer at the
# connection timeout (in the headers and in the body) while other clients
# are served meanwhile; under /v1 in OpenAI's error shape.
. "$(dirname "$0")/../lib.sh"


# A connection timeout of 10 s: a slow client's 408 comes far from the
# other clients' answers at once (below).
lf_config 'max_request_body_bytes = 2048
[api]
connection_timeout_secs = 10'
lf_stack_start agent-runtime

# Raw HTTP over a socket: rawhttp MODE ARGS; prints the status line, then
# "json"/"nojson", "sec"/"nosec", the seconds it took and "openai"/
# "noopenai" (OpenAI's error object).
cat > "$LF_TMP/rawhttp.py" <<'EOF'
import socket, sys, time
port = int(sys.argv[1]); mode = sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
t0 = time.time()
if mode == "headers":		# N extra headers at once
    n = int(sys.argv[3])
    h = b"".join(b"X-H-%d: v\r\n" % i for i in range(n))
    s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + h + b"\r\n")
    slow = b""
elif mode == "slowhead":	# the request a byte a second
    slow = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 60 + b"\r\n\r\n"
elif mode in ("slowbody", "slowoai"):	# headers at once, the body a byte a second
    body = b'{"manifest_toml":"' + b"a" * 60 + b'"}'
    path = b"/api/agents" if mode == "slowbody" else b"/v1/chat/completions"
    s.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
    slow = body
s.settimeout(0.05)
got = b""
i = 0
while time.time() - t0 < 30:
    if i < len(slow):
        try:
            s.send(slow[i:i + 1]); i += 1
        except OSError:
            pass
    try:
        d = s.recv(65536)
        if not d:
            break
        got += d
    except socket.timeout:
        pass
    except OSError:
        break
    if b"\r\n\r\n" in got:
        head, _, rest = got.partition(b"\r\n\r\n")
        cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        if cl and len(rest) >= int(cl[0].split(b":")[1]):
            break
    if slow:
        time.sleep(0.95)
print(got.split(b"\r\n")[0].decode(errors="replace"))
print("json" if b'{"error"' in got else "nojson")
print("sec" if b"x-frame-options: DENY" in got else "nosec")
print("%.1f" % (time.time() - t0))
print("openai" if b'{"error":{"message":' in got and b'"type":"invalid_request_error"' in got else "noopenai")
EOF
raw() { python3 "$LF_TMP/rawhttp.py" "$LF_PORT" "$@"; }

# ---- body size --------------------------------------------------------------
big=$(python3 -c 'print("{\"manifest_toml\":\"" + "a" * 3000 + "\"}")')
lf_req POST /api/agents "$big"
t_eq "Content-Length over the limit: 413" "$LF_STATUS" 413
t_ok "413 is JSON" test -n "$(jb .error)"
t_ok "413 carries the security headers" test -n "$(lf_hdr x-content-type-options)"
printf '%s' "$big" > "$LF_TMP/big.json"
code=$(curl -s -o "$LF_TMP/out" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$LF_TMP/big.json" "$LF_URL/api/agents")
t_eq "a streamed (chunked) body over the limit: 413" "$code" 413
t_ok "streamed 413 is JSON" jq -e .error "$LF_TMP/out"
code=$(curl -s -o "$LF_TMP/out" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary '{"manifest_toml":"x"}' "$LF_URL/api/agents")
t_ok "a small chunked body is read (not 413/415)" \
    test "$code" != 413 -a "$code" != 415 -a "$code" != 000

# ---- content type and JSON ----------------------------------------------------
code=$(curl -s -o "$LF_TMP/out" -w '%{http_code}' -X POST \
    --data-binary '{"a":1}' -H 'Content-Type: text/plain' "$LF_URL/api/agents")
t_eq "text/plain body: 415" "$code" 415
t_ok "415 is JSON" jq -e .error "$LF_TMP/out"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary '{"a":1}' \
    -H 'Content-Type:' "$LF_URL/api/agents")
t_eq "a body without Content-Type: 415" "$code" 415
lf_req POST /api/agents '{"manifest_toml":"x"}' \
    -H 'Content-Type: application/json; charset=utf-8'
t_ok "application/json with a charset is accepted" \
    test "$LF_STATUS" != 415 -a "$LF_STATUS" != 000

lf_req POST /api/agents '{"manifest_toml":'
t_eq "malformed JSON: 400" "$LF_STATUS" 400
t_ok "malformed JSON message" \
    grep -Eq '^malformed JSON: .+ at line 1 column [0-9]+$' <<<"$(jb .error)"
lf_req POST /api/agents $'{\n  "a": tru }'
t_ok "line and column of the error" grep -q 'at line 2 column' <<<"$(jb .error)"
deep33=$(python3 -c 'print("[" * 33 + "]" * 33)')
deep32=$(python3 -c 'print("{\"a\":" + "[" * 31 + "]" * 31 + "}")')
lf_req POST /api/agents "$deep33"
t_eq "nesting 33 deep: 400" "$LF_STATUS" 400
t_ok "nesting message" grep -q 'nested deeper than 32' <<<"$(jb .error)"
lf_req POST /api/agents "$deep32"
t_ok "nesting 32 deep passes the gateway ($LF_STATUS)" \
    test -z "$(jb .error | grep 'malformed JSON')"

# ---- headers -------------------------------------------------------------------
out=$(raw headers 150)
t_eq "150 headers: 431" "$(sed -n 1p <<<"$out")" \
    "HTTP/1.1 431 Request Header Fields Too Large"
t_eq "431 is JSON with the security headers" "$(sed -n 2,3p <<<"$out" | tr '\n' ' ')" \
    "json sec "
# Past the header pool (api.header_memory_bytes, 32 KiB: about 500 short
# headers) libmicrohttpd answers by itself: still a 4xx, and everyone
# else is still served.
for n in 3000 20000; do
	out=$(raw headers $n)
	t_ok "$n headers: a 4xx ($(sed -n 1p <<<"$out"))" \
	    grep -q '^HTTP/1.1 4[0-9][0-9] ' <<<"$(sed -n 1p <<<"$out")"
	lf_req GET /api/health
	t_eq "$n headers: the gateway still serves" "$LF_STATUS" 200
done

# ---- slow clients ----------------------------------------------------------------
raw slowhead > "$LF_TMP/slow1" &
s1=$!
raw slowbody > "$LF_TMP/slow2" &
s2=$!
raw slowoai > "$LF_TMP/slow3" &
s3=$!
sleep 0.5
worst=$(lf_worst_ms 6 0.4)
t_ok "others are served while slow clients trickle, not after their 10 s (worst ${worst} ms)" \
    test "$worst" -lt 3000
wait $s1 $s2 $s3
t_eq "slow headers: 408" "$(sed -n 1p "$LF_TMP/slow1")" \
    "HTTP/1.1 408 Request Timeout"
t_eq "slow headers: JSON with the security headers" \
    "$(sed -n 2,3p "$LF_TMP/slow1" | tr '\n' ' ')" "json sec "
t_ok "slow headers: at the 10 s timeout ($(sed -n 4p "$LF_TMP/slow1") s)" \
    awk -v t="$(sed -n 4p "$LF_TMP/slow1")" 'BEGIN{exit !(t >= 9.5 && t < 20)}'
t_eq "slow body: 408" "$(sed -n 1p "$LF_TMP/slow2")" \
    "HTTP/1.1 408 Request Timeout"
t_eq "slow body: JSON with the security headers" \
    "$(sed -n 2,3p "$LF_TMP/slow2" | tr '\n' ' ')" "json sec "
t_eq "... the gateway's own error shape" "$(sed -n 5p "$LF_TMP/slow2")" noopenai
t_eq "slow body under /v1: 408 in OpenAI's error shape" \
    "$(sed -n 1p "$LF_TMP/slow3") $(sed -n 5p "$LF_TMP/slow3")" \
    "HTTP/1.1 408 Request Timeout openai"
lf_req GET /api/metrics
t_ok "metrics count the timeouts" \
    grep -Eq '^librefang_request_timeouts_total [2-9]' <<<"$LF_BODY"
lf_req GET /api/health
t_eq "still healthy afterwards" "$LF_STATUS" 200

lf_stop api-gateway
t_eq "SIGTERM: exit 0" "$LF_EXIT" 0

t_done
