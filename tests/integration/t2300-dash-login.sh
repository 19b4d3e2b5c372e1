#!/usr/bin/env bash
# Dashboard login and its session cookie (issue 14 item 4; gw_dash.c,
# services/channels/dashsess/): POST /api/auth/dashboard-login with the
# API key or dashboard_user's password (a PBKDF2 hash) sets an HttpOnly,
# SameSite=Strict cookie and answers the CSRF token, never the session
# token; the row keeps only the token's SHA-256.  The cookie
# authenticates any route; a state-changing request by cookie needs
# X-CSRF-Token; a WebSocket by cookie needs a same-origin Origin, or the
# bearer.<key> sub-protocol; SSE takes the cookie.  Wrong credentials are
# 401 and audited; bad bodies and cookies are 4xx JSON; a logout deletes
# the row and clears the cookie, and the cookie is then 401.
. "$(dirname "$0")/../lib.sh"

KEY=t2300-key-0123456789abcdef0123456789
SALT=t2300salt
ITER=2000
HASH=$(python3 -c "import hashlib,base64,sys; print(base64.b64encode(hashlib.pbkdf2_hmac('sha256', b'open sesame', b'$SALT', $ITER)).decode())")
export FAKE_API_KEY=sk-fake-dash-0123456789

lf_config "api_key = \"$KEY\"
dashboard_user = \"alice\"
dashboard_pass_hash = \"pbkdf2_sha256\$$ITER\$$SALT\$$HASH\""
LF_AUTH=$KEY lf_fake_stack agent-runtime audit channels
# (lf_fake_stack waited for GET /api/agents: 401 is an answer too.)

# c_req METHOD PATH [JSON] [curl args..]: lf_req with the session cookie.
c_req() {
	local m=$1 p=$2 d=${3:-}
	shift 2; [ $# -gt 0 ] && shift
	lf_req "$m" "$p" "$d" -H "Cookie: librefang_session=$TOK" "$@"
}
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
cookie() { printf '%s\n' "$LF_HEADERS" | grep -i '^set-cookie:' | head -1 | cut -d: -f2- | sed 's/^ //'; }
cleared() { cookie | grep -q '^librefang_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0$'; }

# ---- dashboard-check before a login ----------------------------------------
lf_req GET /api/auth/dashboard-check
t_eq "dashboard-check is public and says a login is needed" \
    "$LF_STATUS $(jbc '[.auth_required, .authenticated, .methods]')" \
    '200 [true,false,["api_key","password"]]'
t_ok "dashboard-check without a session gives no CSRF token" test "$(jb .csrf_token)" = null

# ---- logins ------------------------------------------------------------------
lf_req POST /api/auth/dashboard-login '{"api_key":"wrong"}'
t_eq "a wrong key: 401" "$LF_STATUS" 401
t_ok "401 is {error}" lf_err_shape
t_eq "and sets no cookie" "$(cookie)" ""
lf_req POST /api/auth/dashboard-login '{"username":"alice","password":"wrong"}'
t_eq "a wrong password: 401" "$LF_STATUS $(jb .error)" "401 invalid credentials"
lf_req POST /api/auth/dashboard-login '{"username":"bob","password":"open sesame"}'
t_eq "a wrong user: 401" "$LF_STATUS" 401

lf_req POST /api/auth/dashboard-login "{\"api_key\":\"$KEY\"}" -A 't2300-agent/1.0'
t_eq "the key logs in" "$LF_STATUS" 200
t_eq "the body is {ok, csrf_token, created_at, expires_at, user, method}" \
    "$(jbc '[keys, .ok, .user, .method]')" \
    '[["created_at","csrf_token","expires_at","method","ok","user"],true,"owner","api_key"]'
CSRF=$(jb .csrf_token)
t_ok "a 64-hex CSRF token" grep -qE '^[0-9a-f]{64}$' <<<"$CSRF"
CK=$(cookie)
TOK=$(sed -n 's/^librefang_session=\([A-Za-z0-9_-]*\);.*/\1/p' <<<"$CK")
t_ok "the cookie holds a 43-character token (256 bits)" grep -qE '^[A-Za-z0-9_-]{43}$' <<<"$TOK"
t_eq "the cookie's attributes" "${CK#librefang_session=$TOK}" \
    "; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000"
t_ok "the body does not carry the session token" test "${LF_BODY/$TOK/}" = "$LF_BODY"
t_ok "expires_at is 30 days after created_at" test "$(( $(date -d "$(jb .expires_at)" +%s) - $(date -d "$(jb .created_at)" +%s) ))" = 2592000
t_eq "the row is keyed by the token's SHA-256, with the user agent" \
    "$(lf_psql "SELECT username, method, user_agent, csrf_token = '$CSRF' FROM channels.dash_sessions WHERE token_sha256 = '$(sha256 "$TOK")'")" \
    "owner|api_key|t2300-agent/1.0|t"
t_eq "the token itself is stored nowhere" \
    "$(lf_psql "SELECT count(*) FROM channels.dash_sessions WHERE position('$TOK' in token_sha256 || csrf_token || user_agent) > 0")" 0

lf_req POST /api/auth/dashboard-login "{\"api_key\":\"$KEY\"}" -H 'X-Forwarded-Proto: https'
t_ok "behind TLS (X-Forwarded-Proto: https) the cookie is Secure" \
    grep -q '; HttpOnly; SameSite=Strict; Secure; Max-Age=2592000$' <<<"$(cookie)"

lf_req POST /api/auth/dashboard-login '{"username":"alice","password":"open sesame"}'
t_eq "alice's password (PBKDF2 hash) logs in" "$LF_STATUS $(jbc '[.user, .method]')" '200 ["alice","password"]'
T2=$(sed -n 's/^librefang_session=\([A-Za-z0-9_-]*\);.*/\1/p' <<<"$(cookie)")
t_ok "another session, another token" test -n "$T2" -a "$T2" != "$TOK"

# ---- the cookie authenticates ------------------------------------------------
c_req GET /api/auth/dashboard-check
t_eq "dashboard-check with the cookie" "$LF_STATUS $(jbc '[.authenticated, .user]')" '200 [true,"owner"]'
t_eq "and gives the session's CSRF token" "$(jb .csrf_token)" "$CSRF"
c_req GET /api/agents
t_eq "GET /api/agents by cookie: 200" "$LF_STATUS" 200
c_req GET /api/status
t_eq "GET /api/status by cookie: 200" "$LF_STATUS" 200

SPAWN=$(lf_spawn_json "$(lf_fake_toml dash-agent dash-model)")
c_req POST /api/agents "$SPAWN"
t_eq "POST by cookie without X-CSRF-Token: 403" "$LF_STATUS" 403
t_ok "403 is {error}" lf_err_shape
# The token with its last digit changed (to 1 when it is 0: the same
# token would pass, one run in 16).
WRONG=${CSRF%?}0
[ "$WRONG" != "$CSRF" ] || WRONG=${CSRF%?}1
c_req POST /api/agents "$SPAWN" -H "X-CSRF-Token: $WRONG"
t_eq "POST with a wrong CSRF token: 403" "$LF_STATUS $(jb .error)" "403 invalid CSRF token"
c_req POST /api/agents "$SPAWN" -H "X-CSRF-Token: $CSRF"
t_eq "POST with the right CSRF token: 201" "$LF_STATUS" 201
AG=$(jb .agent_id)
c_req DELETE "/api/agents/$AG"
t_eq "DELETE by cookie without the token: 403" "$LF_STATUS" 403
c_req GET "/api/agents/$AG"
t_eq "and the agent is still there" "$LF_STATUS" 200
lf_req POST /api/auth/dashboard-login "{\"api_key\":\"$KEY\"}"
c_req POST /api/agents "$SPAWN" -H "X-CSRF-Token: $(jb .csrf_token)"
t_eq "another session's CSRF token: 403" "$LF_STATUS" 403
LF_AUTH=$KEY lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml dash-agent2 dash-model)")"
t_eq "a bearer request needs no CSRF token" "$LF_STATUS" 201
lf_req GET /api/agents "" -H "Cookie: librefang_session=$TOK" -H "Authorization: Bearer wrong"
t_eq "a wrong bearer key is 401 even with a good cookie" "$LF_STATUS" 401

# SSE by cookie: the log stream starts.
curl -s -m 2 -D "$LF_TMP/sse.h" -o /dev/null -H "Cookie: librefang_session=$TOK" "$LF_URL/api/logs/stream"
t_ok "an SSE stream by cookie: 200 text/event-stream" \
    grep -qi '^content-type: text/event-stream' "$LF_TMP/sse.h"

# ---- WebSockets --------------------------------------------------------------
WS=${LF_URL/http/ws}/api/agents/$AG/ws
probe() { (cd "$LF_ROOT/tests/e2e" && timeout 15 node ws-probe.mjs "$@"); }
P=$(probe "$WS" "" "{\"Cookie\":\"librefang_session=$TOK\",\"Origin\":\"$LF_URL\"}")
t_eq "WS by cookie from this origin opens" "$(jq -c .open <<<"$P")" true
P=$(probe "$WS" "" "{\"Cookie\":\"librefang_session=$TOK\",\"Origin\":\"http://evil.example\"}")
t_eq "WS by cookie from another origin: 403" "$(jq -c '[.open, .status]' <<<"$P")" '[false,403]'
P=$(probe "$WS" "" "{\"Cookie\":\"librefang_session=$TOK\"}")
t_eq "WS by cookie without an Origin: 403" "$(jq -c '[.open, .status]' <<<"$P")" '[false,403]'
P=$(probe "$WS" "bearer.$KEY")
t_eq "WS with the bearer.<key> sub-protocol opens and echoes it" "$(jq -c '[.open, .protocol]' <<<"$P")" "[true,\"bearer.$KEY\"]"
P=$(probe "$WS" "bearer.wrong")
t_eq "WS with bearer.<wrong>: 401" "$(jq -c '[.open, .status]' <<<"$P")" '[false,401]'
P=$(probe "$WS")
t_eq "WS without credentials: 401" "$(jq -c '[.open, .status]' <<<"$P")" '[false,401]'

# ---- bad input ------------------------------------------------------------------
bad() {
	lf_req POST /api/auth/dashboard-login "$1"
	t_ok "login $2: $3 {error}" eval '[ "$LF_STATUS" = '"$3"' ] && lf_err_shape'
}
bad '{"api_key":' "malformed JSON" 400
bad '[1,2]' "an array" 400
bad '{"api_key":"x","extra":1}' "an unknown field" 400
bad "{\"api_key\":\"$KEY\",\"username\":\"alice\"}" "key and user both" 400
bad '{"username":"alice"}' "a user without a password" 400
bad '{"api_key":42}' "a number for a key" 400
bad '{"api_key":""}' "an empty key" 400
bad '{}' "an empty object" 400
bad "{\"api_key\":\"$(head -c 20000 /dev/zero | tr '\0' a)\"}" "a 20 KB body" 413
t_eq "login as text/plain: 415" "$(curl -s -m 10 -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: text/plain' --data-binary "{\"api_key\":\"$KEY\"}" \
    "$LF_URL/api/auth/dashboard-login")" 415
head -c 9000000 /dev/zero | tr '\0' a > "$LF_TMP/huge"
lf_req POST /api/auth/dashboard-login "" -H 'Content-Type: application/json' --data-binary "@$LF_TMP/huge"
t_ok "a 9 MB login body: 413 {error}" eval '[ "$LF_STATUS" = 413 ] && lf_err_shape'

for v in 'x' "${TOK}x" '' "$(printf 'a%.0s' $(seq 43))" '"unterminated' "${TOK:0:42}!"; do
	lf_req GET /api/agents "" -H "Cookie: librefang_session=$v"
	t_ok "cookie '${v:0:12}..': 401 {error}, cookie cleared" eval '[ "$LF_STATUS" = 401 ] && lf_err_shape && cleared'
done
lf_req GET /api/agents "" -H "Cookie: other=1; librefang_session=$TOK; more=2"
t_eq "the cookie among others" "$LF_STATUS" 200
lf_req GET /api/auth/dashboard-check "" -H "Cookie: librefang_session=$(printf 'b%.0s' $(seq 43))"
t_ok "dashboard-check with an unknown session: not authenticated, cookie cleared" \
    eval '[ "$LF_STATUS $(jb .authenticated)" = "200 false" ] && cleared'

# ---- audit -------------------------------------------------------------------------
recent_has() {
	LF_AUTH=$KEY lf_req GET '/api/audit/recent?limit=500'
	[ "$(jb --arg t "$1" '[.entries[] | select(.action == "AuthAttempt" and (.detail | contains($t)))] | length')" -ge 1 ]
}
t_ok "a failed login is audited" lf_poll 200 recent_has "dashboard login failed from 127.0.0.1"
t_ok "a missing CSRF token is audited" lf_poll 200 recent_has "missing CSRF token"

# ---- logout --------------------------------------------------------------------
c_req POST /auth/logout
t_eq "logout without the CSRF token: 403" "$LF_STATUS" 403
c_req GET /api/agents
t_eq "and the session still works" "$LF_STATUS" 200
c_req POST /auth/logout "" -H "X-CSRF-Token: $CSRF"
t_eq "logout: 200 {ok: true}" "$LF_STATUS $(jbc .)" '200 {"ok":true}'
t_ok "logout clears the cookie (Max-Age=0)" cleared
t_eq "the row is gone" "$(lf_psql "SELECT count(*) FROM channels.dash_sessions WHERE token_sha256 = '$(sha256 "$TOK")'")" 0
c_req GET /api/agents
t_ok "the cookie after the logout: 401, cleared" eval '[ "$LF_STATUS" = 401 ] && lf_err_shape && cleared'
c_req GET /api/auth/dashboard-check
t_eq "dashboard-check after the logout" "$(jbc '[.authenticated, .csrf_token]')" '[false,null]'
c_req POST /auth/logout "" -H "X-CSRF-Token: $CSRF"
t_eq "a second logout: 200" "$LF_STATUS" 200
lf_req POST /auth/logout
t_ok "logout without a cookie: 200, cookie cleared" eval '[ "$LF_STATUS" = 200 ] && cleared'
TOK=$T2
c_req GET /api/auth/dashboard-check
C2=$(jb .csrf_token)
c_req POST /api/auth/logout "" -H "X-CSRF-Token: $C2"
t_eq "/api/auth/logout is the same" "$LF_STATUS" 200
c_req GET /api/agents
t_eq "alice's session is over" "$LF_STATUS" 401

lf_tail_failed api-gateway.log channels.log
t_done
