#!/usr/bin/env bash
# api-gateway over HTTP, no api_key: a route for every line of
# endpoints.tsv, the 404/405/501 shapes, path normalisation, security
# headers and request ids, the gateway's own endpoints (health, status,
# version, metrics, /), CORS, relaying to agent-runtime, and a stopped
# agent-runtime answering 503 quickly.
. "$(dirname "$0")/../lib.sh"

TSV=$LF_SHARED/spec/endpoints.tsv
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'


# A relayed route's bus deadline of 30 s, far from the 503 at once that
# a stopped service gives (below).
lf_config '[bus]
request_timeout_ms = 30000'
lf_stack_start
lf_wait_services agent-runtime scheduler memory audit channels ||
    echo "# not every service reported up"

# ---- every endpoint has a route -----------------------------------------
gateway404=0
gateway405=0
unserved=0
total=0
while IFS=$'\t' read -r method path _; do
	[ "$method" = method ] && continue
	total=$((total + 1))
	# It would stop the stack under the test (t2102 asks it).
	[ "$method $path" = "POST /api/shutdown" ] && continue
	url=$(printf '%s' "$path" | sed 's/{[^}]*}/x1/g')
	args=(-s -o "$LF_TMP/ep" -w '%{http_code}' -X "$method" --max-time 10)
	case $method in
	POST|PUT|PATCH) args+=(-H 'Content-Type: application/json' -d '{}') ;;
	esac
	code=$(curl "${args[@]}" "$LF_URL$url")
	if [ "$code" = 404 ] && grep -q '"not found: ' "$LF_TMP/ep"; then
		gateway404=$((gateway404 + 1))
		echo "# no route: $method $path"
	fi
	if [ "$code" = 405 ]; then
		gateway405=$((gateway405 + 1))
		echo "# wrong method: $method $path"
	fi
	# A route naming an operation its service lacks (proto/ops.h).
	if [ "$code" = 501 ] && grep -q '"not implemented: operation ' "$LF_TMP/ep"; then
		unserved=$((unserved + 1))
		echo "# no service answers: $method $path: $(cat "$LF_TMP/ep")"
	fi
done < "$TSV"
t_eq "endpoints.tsv has 351 endpoints" "$total" 351
t_eq "every endpoint has a route (no gateway 404)" "$gateway404" 0
t_eq "every endpoint accepts its method (no 405)" "$gateway405" 0
t_eq "every operation the route table names is served" "$unserved" 0

# ---- shapes of 501, 404, 405 ----------------------------------------------
lf_req POST /api/hands/abc/activate '{"input":"hi"}'
t_eq "not implemented route: 501" "$LF_STATUS" 501
t_eq "501 names the pattern" "$(jb .error)" \
    "not implemented: POST /api/hands/{hand_id}/activate"
lf_req GET /api/hands
t_eq "GET /api/hands: 501 JSON" "$LF_STATUS $(jb .error)" \
    "501 not implemented: GET /api/hands"

lf_req GET /x
t_eq "unknown path: 404" "$LF_STATUS" 404
t_eq "404 body" "$LF_BODY" '{"error":"not found: /x"}'
t_eq "404 is JSON" "$(lf_hdr content-type)" application/json
for h in x-content-type-options x-frame-options x-xss-protection \
    referrer-policy cache-control strict-transport-security \
    content-security-policy x-api-version; do
	t_ok "404 carries $h" test -n "$(lf_hdr $h)"
done
t_eq "x-frame-options is DENY" "$(lf_hdr x-frame-options)" DENY
t_eq "x-api-version is v1" "$(lf_hdr x-api-version)" v1
t_eq "cache-control" "$(lf_hdr cache-control)" \
    "no-store, no-cache, must-revalidate"
id1=$(lf_hdr x-request-id)
lf_req GET /x "" -H 'X-Request-Id: 11111111-1111-4111-8111-111111111111'
id2=$(lf_hdr x-request-id)
t_ok "x-request-id is a UUID v4" grep -Eq "$UUID_RE" <<<"$id1"
t_ok "x-request-id is fresh for each request" test "$id1" != "$id2"
t_ok "a client's X-Request-Id is not honoured" \
    test "$id2" != 11111111-1111-4111-8111-111111111111

lf_req DELETE /api/health
t_eq "wrong method: 405" "$LF_STATUS" 405
t_eq "405 Allow header" "$(lf_hdr allow)" "GET, OPTIONS"
t_ok "405 is JSON with an error" test -n "$(jb .error)"
lf_req GET /api/agents/bulk
t_eq "GET /api/agents/bulk is not /api/agents/{id}: 405" "$LF_STATUS" 405
t_eq "its Allow header" "$(lf_hdr allow)" "POST, DELETE, OPTIONS"

# ---- normalisation ---------------------------------------------------------
lf_req GET /api/v1/health
t_eq "/api/v1/health is /api/health" "$LF_STATUS $(jb .status)" \
    "200 $(curl -s "$LF_URL/api/health" | jq -r .status)"
lf_req GET /api/health/
t_eq "a trailing slash is stripped" "$LF_STATUS" 200
lf_req GET /api/v1/hands/instances/x1/stats
t_eq "/api/v1 alias of a 501 names the pattern" "$(jb .error)" \
    "not implemented: GET /api/hands/instances/{id}/stats"

# ---- the gateway's own endpoints -------------------------------------------
lf_req GET /api/health
t_eq "health: 200" "$LF_STATUS" 200
t_eq "health: fields" "$(printf '%s' "$LF_BODY" | jq -c 'keys')" \
    '["panic_count","restart_count","status","uptime_seconds","version"]'
t_eq "health: ok with every service up" "$(jb .status)" ok
t_eq "health: panic_count" "$(jb .panic_count)" 0

lf_req GET /api/health/detail
t_eq "health/detail: 200" "$LF_STATUS" 200
t_eq "health/detail: database" "$(jb .database)" connected
t_eq "health/detail: config_warnings" "$(jb '.config_warnings|type')" array
t_eq "health/detail: five services" "$(jb '.services|keys|length')" 5
t_eq "health/detail: agent-runtime ok" \
    "$(jb '.services["agent-runtime"].status')" ok
t_eq "health/detail: memory database" \
    "$(jb '.services.memory.database')" connected
t_ok "health/detail: replicas_seen" \
    test "$(jb '.services.memory.replicas_seen')" -ge 1

lf_req GET /api/version
t_eq "version: 200" "$LF_STATUS" 200
t_eq "version: fields" "$(jb '[.name, .platform, (.rust_version|tostring)]|join(" ")')" \
    "librefang linux null"
t_ok "version: c_compiler and arch" test -n "$(jb .c_compiler)" -a -n "$(jb .arch)"
t_ok "version: git_sha and build_date present" \
    test -n "$(jb .git_sha)" -a -n "$(jb .build_date)"

lf_req GET /
t_eq "/: 200" "$LF_STATUS" 200
t_ok "/: HTML" grep -q '^text/html' <<<"$(lf_hdr content-type)"
t_ok "/: links to /api/health" grep -q 'href="/api/health"' <<<"$LF_BODY"
t_ok "/: carries the security headers" test -n "$(lf_hdr content-security-policy)"

# ---- relaying to agent-runtime ---------------------------------------------
lf_req GET /api/agents
t_eq "GET /api/agents relayed: 200" "$LF_STATUS" 200
t_eq "an array" "$(jb type)" array
n0=$(jb length)
TOML='name = "gwtest"
module = "builtin:chat"
[model]
provider = "groq"
model = "llama-3.3-70b-versatile"'
lf_req POST /api/agents "$(jq -nc --arg t "$TOML" '{manifest_toml: $t}')"
t_eq "POST /api/agents relayed: 201" "$LF_STATUS" 201
aid=$(jb .agent_id)
t_ok "spawn gave an agent id" grep -Eq '^[0-9a-f-]{36}$' <<<"$aid"
t_ok "relayed replies carry the security headers" \
    test -n "$(lf_hdr x-content-type-options)"
# The id percent-encoded: path parameters are decoded.
enc=$(printf '%s' "$aid" | sed 's/-/%2D/g')
lf_req GET "/api/agents/$enc"
t_eq "GET /api/agents/{id} with an encoded id" "$LF_STATUS $(jb .id)" \
    "200 $aid"
lf_req GET /api/status
t_eq "status: 200" "$LF_STATUS" 200
t_eq "status: running" "$(jb .status)" running
t_eq "status: agents from agents.list" "$(jb '.agents|length')" $((n0 + 1))
t_eq "status: agent_count" "$(jb .agent_count)" $((n0 + 1))
t_ok "status: data_dir" test -n "$(jb .data_dir)"
lf_req DELETE "/api/agents/$aid"
t_ok "DELETE /api/agents/{id} relayed" test "$LF_STATUS" -lt 300

# ---- CORS (no key: localhost origins only) ----------------------------------
lf_req GET /api/health "" -H 'Origin: http://localhost:3000'
t_eq "a localhost origin is echoed" \
    "$(lf_hdr access-control-allow-origin)" http://localhost:3000
lf_req GET /api/health "" -H 'Origin: http://127.0.0.1'
t_eq "a 127.0.0.1 origin is echoed" \
    "$(lf_hdr access-control-allow-origin)" http://127.0.0.1
lf_req GET /api/health "" -H 'Origin: http://evil.example'
t_eq "another origin is not" "$(lf_hdr access-control-allow-origin)" ""
lf_req OPTIONS /api/agents "" -H 'Origin: http://localhost:8080' \
    -H 'Access-Control-Request-Method: POST'
t_eq "preflight: 204" "$LF_STATUS" 204
t_eq "preflight: methods" "$(lf_hdr access-control-allow-methods)" \
    "GET, POST, OPTIONS"
t_ok "preflight: headers" grep -qi authorization \
    <<<"$(lf_hdr access-control-allow-headers)"

# ---- metrics ---------------------------------------------------------------
lf_req GET /api/metrics
t_eq "metrics: 200" "$LF_STATUS" 200
t_ok "metrics: text format 0.0.4" grep -q 'version=0.0.4' <<<"$(lf_hdr content-type)"
for m in 'librefang_requests_total{route="/api/health",method="GET",status="200"}' \
    'librefang_requests_total{route="unmatched",method="GET",status="404"}' \
    'librefang_request_duration_seconds_bucket{route="/api/health",le="+Inf"}' \
    'librefang_request_duration_seconds_count{route="/api/agents"}' \
    'librefang_service_up{service="agent-runtime"} 1' \
    'librefang_service_up{service="channels"} 1' \
    'librefang_agents_total ' 'librefang_uptime_seconds ' \
    'librefang_rate_limited_total ' '# TYPE librefang_requests_total counter' \
    '# TYPE librefang_request_duration_seconds histogram'; do
	t_ok "metrics: $m" grep -qF "$m" <<<"$LF_BODY"
done

# ---- a stopped service -------------------------------------------------------
lf_stop agent-runtime
start=$(date +%s%N)
lf_req GET /api/agents
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_eq "stopped agent-runtime: 503" "$LF_STATUS" 503
t_eq "503 body" "$LF_BODY" "{\"error\":\"service 'agent-runtime' unavailable\"}"
t_ok "answered at once, not at the 30 s bus deadline (${ms} ms)" test "$ms" -lt 8000
t_ok "503 carries x-request-id" test -n "$(lf_hdr x-request-id)"
sleep 2.2
lf_req GET /api/health
t_eq "health degraded while a service is down" "$(jb .status)" degraded
lf_req GET /api/metrics
t_ok "metrics: agent-runtime down" \
    grep -qF 'librefang_service_up{service="agent-runtime"} 0' <<<"$LF_BODY"
lf_req GET /api/status
t_eq "status still answers without agent-runtime" "$LF_STATUS" 200
lf_start agent-runtime
lf_wait_services agent-runtime
lf_req GET /api/agents
t_eq "agent-runtime back: 200" "$LF_STATUS" 200
lf_req GET /api/health
t_eq "health ok again" "$(jb .status)" ok
t_ok "restart_count counts the restart" test "$(jb .restart_count)" -ge 1

lf_stop api-gateway
t_eq "SIGTERM: the gateway exits 0" "$LF_EXIT" 0

t_done
