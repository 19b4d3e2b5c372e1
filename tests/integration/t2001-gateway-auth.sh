#!/usr/bin/env bash
# api-gateway authentication: with an api_key only the routes flagged
# GW_RT_PUBLIC in the route table (GET /api/health, GET /) are public; Bearer and X-API-Key are accepted; a 401 carries
# WWW-Authenticate, JSON and the security headers; no CORS origin is
# echoed.  Without a key the gateway refuses to listen on a non-loopback
# address unless LIBREFANG_ALLOW_NO_AUTH=1.
. "$(dirname "$0")/../lib.sh"

KEY=s3cret-key-for-t2001

lf_config "api_key = \"$KEY\""
lf_stack_start agent-runtime

lf_req GET /api/health
t_eq "GET /api/health is public" "$LF_STATUS" 200
lf_req GET /
t_eq "GET / is public" "$LF_STATUS" 200

for p in /api/status /api/version /api/metrics /api/health/detail \
    /api/agents /api/workflows /nope; do
	lf_req GET "$p"
	t_eq "GET $p without a key: 401" "$LF_STATUS" 401
done
lf_req GET /api/status
t_eq "401 WWW-Authenticate" "$(lf_hdr www-authenticate)" Bearer
t_ok "401 is JSON with an error" test -n "$(jb .error)"
t_eq "401 content type" "$(lf_hdr content-type)" application/json
t_ok "401 carries x-request-id" test -n "$(lf_hdr x-request-id)"
t_eq "401 carries x-frame-options" "$(lf_hdr x-frame-options)" DENY
t_ok "401 carries strict-transport-security" \
    test -n "$(lf_hdr strict-transport-security)"
lf_req POST /api/health '{}'
t_eq "POST /api/health is not public" "$LF_STATUS" 401
lf_req GET /api/v1/health
t_eq "GET /api/v1/health is public (the same row)" "$LF_STATUS" 200

# Public is the route table's GW_RT_PUBLIC flag and nothing else: every
# row of gw_routes.c asked without a key is a 401 unless it has the flag.
python3 - "$LF_ROOT/services/api-gateway/gw_routes.c" > "$LF_TMP/rows" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r'\{\s*GW_(GET|POST|PUT|PATCH|DELETE),\s*"([^"]+)",(.*?)\}', text, re.S):
    path = re.sub(r'\{[a-z_]+(\.\.\.)?\}', 'x1', m.group(2))
    print(m.group(1), path, "public" if "GW_RT_PUBLIC" in m.group(3) else "private")
EOF
bad=0 npub=0
while read -r method path kind; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" "$LF_URL$path")
	if [ "$method $path" = "GET /api/auth/userinfo" ]; then
		# Public, but it checks its own credentials (a provider's
		# bearer token or the session cookie: gw_oidc.c).
		npub=$((npub + 1))
		[ "$code" = 401 ] || { bad=$((bad + 1)); echo "# $method $path: $code without credentials"; }
	elif [ "$kind" = public ]; then
		npub=$((npub + 1))
		[ "$code" != 401 ] || { bad=$((bad + 1)); echo "# $method $path: 401 but public"; }
	else
		[ "$code" = 401 ] || { bad=$((bad + 1)); echo "# $method $path: $code without a key"; }
	fi
done < "$LF_TMP/rows"
t_ok "every route row: public exactly when flagged ($(wc -l < "$LF_TMP/rows") rows, $npub public)" \
    test "$bad" = 0 -a "$npub" -ge 2 -a "$(wc -l < "$LF_TMP/rows")" -gt 300

lf_req GET /api/status "" -H "Authorization: Bearer wrong"
t_eq "wrong key: 401" "$LF_STATUS" 401
t_eq "wrong key message" "$(jb .error)" "invalid API key"
lf_req GET /api/status "" -H "Authorization: Basic $KEY"
t_eq "not a Bearer token: 401" "$LF_STATUS" 401

LF_AUTH=$KEY lf_req GET /api/status
t_eq "Bearer key: 200" "$LF_STATUS" 200
lf_req GET /api/status "" -H "X-API-Key: $KEY"
t_eq "X-API-Key: 200" "$LF_STATUS" 200
LF_AUTH=$KEY lf_req GET /api/agents
t_eq "relayed route with the key: 200" "$LF_STATUS" 200
LF_AUTH=$KEY lf_req GET /api/hands
t_eq "with the key an unimplemented route is 501" "$LF_STATUS" 501
LF_AUTH=$KEY lf_req GET /nope
t_eq "with the key an unknown path is 404" "$LF_STATUS" 404
LF_AUTH=$KEY lf_req GET /api/health/detail
t_eq "health/detail with the key" "$LF_STATUS" 200

lf_req GET /api/health "" -H 'Origin: http://localhost:3000'
t_eq "with a key no origin is echoed" "$(lf_hdr access-control-allow-origin)" ""
lf_req OPTIONS /api/agents "" -H 'Origin: http://localhost:3000'
t_eq "a preflight needs no key" "$LF_STATUS" 204

t_ok "the key never reaches the log" \
    sh -c "! grep -rqF '$KEY' '$LF_TMP/log'"

lf_stack_stop

# ---- refusing to start ----------------------------------------------------
rm -f "$LIBREFANG_HOME/config.toml"
port=$(lf_free_port)
out=$(LIBREFANG_API_LISTEN=0.0.0.0:$port timeout 5 "$LF_BIN/api-gateway" 2>&1)
rc=$?
t_eq "no key on 0.0.0.0: exit 1" "$rc" 1
t_ok "no key on 0.0.0.0: says why" grep -q 'LIBREFANG_ALLOW_NO_AUTH' <<<"$out"

# With LIBREFANG_ALLOW_NO_AUTH=1, or with a key, it starts (and stops on
# SIGTERM with status 0).
starts() {
	local pid i rc code=000
	env "$@" LIBREFANG_API_LISTEN=0.0.0.0:$port "$LF_BIN/api-gateway" \
	    >>"$LF_TMP/log/refuse.log" 2>&1 &
	pid=$!
	for i in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' \
		    "http://127.0.0.1:$port/api/health")
		[ "$code" = 200 ] && break
		sleep 0.05
	done
	kill -TERM $pid
	wait $pid
	rc=$?
	[ "$code" = 200 ] && [ $rc = 0 ]
}
t_ok "no key on 0.0.0.0 with LIBREFANG_ALLOW_NO_AUTH=1: starts" \
    starts LIBREFANG_ALLOW_NO_AUTH=1
t_ok "a key on 0.0.0.0: starts" starts LIBREFANG_API_KEY=$KEY
out=$(LIBREFANG_API_LISTEN=127.0.0.1:$port timeout 1 "$LF_BIN/api-gateway" 2>&1)
t_eq "no key on loopback: starts (killed by timeout)" "$?" 124

t_done
