#!/usr/bin/env bash
# api-gateway rate limiting: GCRA per client IP with the cost table of
# kernel.md 6.2 (loopback not exempt here), 429 with Retry-After and the
# usual JSON and headers, exempt paths, the metric; then with the default
# (loopback exempt) a burst far past the quota is never limited.
. "$(dirname "$0")/../lib.sh"


lf_config '[rate_limit]
exempt_loopback = false
api_requests_per_minute = 120
retry_after_secs = 7'
lf_stack_start agent-runtime

# burst PATH N: N keep-alive GETs; prints "<200s> <429s> <most allowed>":
# the quota plus the 2 tokens a second that came back meanwhile (a slow
# machine takes seconds over it) and a few for rounding.
burst() {
	python3 - "$LF_PORT" "$1" "$2" <<'EOF'
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
ok = limited = 0
t0 = time.monotonic()
for _ in range(int(sys.argv[3])):
    c.request("GET", sys.argv[2])
    r = c.getresponse(); r.read()
    if r.status == 429: limited += 1
    elif r.status == 200: ok += 1
print(ok, limited, 125 + int(2 * (time.monotonic() - t0)))
EOF
}

# limited METHOD PATH: up to 20 requests back to back on one connection,
# until the first 429; that answer becomes the last response (LF_STATUS,
# LF_HEADERS, LF_BODY).  Back to back, so the 2 tokens a second that come
# back cannot keep up, however slow the machine.
limited() {
	local out
	out=$(python3 - "$LF_PORT" "$1" "$2" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(20):
    c.request(sys.argv[2], sys.argv[3])
    r = c.getresponse(); body = r.read()
    if r.status == 429:
        break
print(r.status)
for k, v in r.getheaders():
    print("%s: %s" % (k, v))
print()
sys.stdout.write(body.decode())
EOF
)
	LF_STATUS=$(head -n 1 <<<"$out")
	LF_HEADERS=$(sed -n '2,/^$/p' <<<"$out")
	LF_BODY=$(sed '1,/^$/d' <<<"$out")
}

read -r ok limited most <<<"$(burst /api/version 130)"
t_ok "about the quota is allowed ($ok of 130, at most $most)" test "$ok" -ge 110 -a "$ok" -le "$most"
t_ok "the rest is limited ($limited)" test "$limited" -ge 5
limited GET /api/version
t_eq "over the quota: 429" "$LF_STATUS" 429
t_eq "429 body" "$LF_BODY" '{"error":"Rate limit exceeded"}'
t_eq "429 Retry-After from the config" "$(lf_hdr retry-after)" 7
t_eq "429 is JSON" "$(lf_hdr content-type)" application/json
t_eq "429 carries the security headers" "$(lf_hdr x-frame-options)" DENY
t_ok "429 carries x-request-id" test -n "$(lf_hdr x-request-id)"
# Under /v1 the same 429 in OpenAI's error shape (gw_error_body()), so an
# OpenAI client surfaces it as its RateLimitError.
limited GET /v1/models
t_eq "/v1 over the quota: 429 as OpenAI's error object" \
    "$LF_STATUS $(jbc '[(.error | keys), .error.type, .error.code, .error.param, .error.message]')" \
    '429 [["code","message","param","type"],"rate_limit_error","rate_limit_exceeded",null,"Rate limit exceeded"]'
t_eq "... with its Retry-After" "$(lf_hdr retry-after)" 7
lf_req GET /
t_eq "GET / is exempt" "$LF_STATUS" 200
lf_req POST /api/agents '{"manifest_toml":"x"}'
t_eq "POST /api/agents (cost 50) is limited" "$LF_STATUS" 429

# 2 tokens a second come back: after 3 s, /api/metrics (cost 5) passes.
sleep 3
lf_req GET /api/metrics
t_eq "refilled: 200" "$LF_STATUS" 200
t_ok "librefang_rate_limited_total counts the refusals" \
    grep -Eq '^librefang_rate_limited_total [1-9]' <<<"$LF_BODY"
t_ok "requests_total has 429s" \
    grep -qF 'route="/api/version",method="GET",status="429"' <<<"$LF_BODY"

# A cost of 100 (POST .../run) is more than the whole burst of 120 minus
# what was spent: limited even though other requests pass.
lf_req POST /api/workflows/x1/run '{}'
t_eq "POST /api/workflows/{id}/run (cost 100) is limited" "$LF_STATUS" 429

lf_stack_stop

# ---- costs come from the route table only ---------------------------------------
# An /api/v1 alias is the same row, so it costs the same (1 token for
# GET /api/version); a path no row takes costs the default 5.
lf_stack_start agent-runtime
read -r ok limited most <<<"$(burst /api/v1/version 130)"
t_ok "GET /api/v1/version costs its row's 1 token ($ok of 130 allowed, at most $most)" \
    test "$ok" -ge 110 -a "$ok" -le "$most"
read -r ok limited _ <<<"$(burst /api/no-such-route 40)"
t_ok "then a path no row takes: nothing left (429s: $limited of 40)" \
    test "$limited" -ge 35
lf_stack_stop
lf_stack_start agent-runtime
read -r ok limited <<<"$(python3 - "$LF_PORT" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
ok = 0
for _ in range(40):
    c.request("GET", "/api/no-such-route")
    r = c.getresponse(); r.read()
    ok += r.status != 429
print(ok, 40 - ok)
EOF
)"
t_ok "a path no row takes costs 5 ($ok of 40 before the 429s)" \
    test "$ok" -ge 22 -a "$ok" -le 26
lf_stack_stop

# ---- loopback exempt (the default) ------------------------------------------
lf_config '[rate_limit]
api_requests_per_minute = 60'
lf_stack_start agent-runtime
read -r ok limited _ <<<"$(burst /api/version 200)"
t_eq "loopback is exempt by default" "$ok $limited" "200 0"
lf_req GET /api/version "" -H 'X-Forwarded-For: 203.0.113.9'
t_eq "forwarded loopback requests are not exempt (first one passes)" \
    "$LF_STATUS" 200
read -r ok limited <<<"$(python3 - "$LF_PORT" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
ok = limited = 0
for _ in range(80):
    c.request("GET", "/api/version", headers={"X-Forwarded-For": "203.0.113.9"})
    r = c.getresponse(); r.read()
    ok += r.status == 200; limited += r.status == 429
print(ok, limited)
EOF
)"
t_ok "forwarded loopback requests are limited ($ok/$limited)" test "$limited" -ge 10

t_done
