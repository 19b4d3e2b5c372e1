#!/usr/bin/env bash
# Dashboard sessions across gateways, their expiry and the login limiter
# (issue 14 item 4; gw_dashauth.c, services/channels/dashsess/): a session
# made on one gateway works on another; a logout on one is refused by the
# other at once, though that one had it cached (the "dashsess" event);
# with dashboard_session_ttl_secs set live to 3 a session is 401 (cookie
# cleared, row purged) once it expired; rate_limit.auth_rate_limit_per_ip = 3
# failed logins from an address make every login from it 429 with
# Retry-After: 900, and every request to the other login-class paths
# counts.  With channels down a cookie is 503, not 401.
. "$(dirname "$0")/../lib.sh"

KEY=t2301-key-0123456789abcdef0123456789
# Sessions last an hour until the expiry below: one expiring (3 s) would
# be refused by gateway 1 without the logout's event.
lf_config "api_key = \"$KEY\"
dashboard_session_ttl_secs = 3600

[rate_limit]
exempt_loopback = false
auth_rate_limit_per_ip = 3"
lf_stack_start channels

P2=$(lf_free_port)
URL2=http://127.0.0.1:$P2
LIBREFANG_API_LISTEN=127.0.0.1:$P2 lf_bg gw2 sh -c "exec '$LF_BIN/api-gateway' >>'$LF_TMP/log/gw2.log' 2>&1"
gw2_up() { curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL2/api/health" | grep -q 200; }
t_ok "a second gateway" lf_poll 200 gw2_up

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
cookie() { printf '%s\n' "$LF_HEADERS" | grep -i '^set-cookie:' | head -1 | cut -d: -f2- | sed 's/^ //'; }
token() { cookie | sed -n 's/^librefang_session=\([A-Za-z0-9_-]*\);.*/\1/p'; }
cleared() { cookie | grep -q '^librefang_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0$'; }
# on URL METHOD PATH [curl args..]: a request to that gateway with the cookie.
on() {
	local u=$1 m=$2 p=$3
	shift 3
	LF_URL=$u lf_req "$m" "$p" "" -H "Cookie: librefang_session=$TOK" "$@"
}
login() { LF_URL=${1:-$LF_URL} lf_req POST /api/auth/dashboard-login "{\"api_key\":\"$KEY\"}"; }

# ---- one session, two gateways ---------------------------------------------------
login
t_eq "login on gateway 1" "$LF_STATUS" 200
TOK=$(token)
CSRF=$(jb .csrf_token)
t_ok "its cookie lasts dashboard_session_ttl_secs" grep -q 'Max-Age=3600$' <<<"$(cookie)"
on "$URL2" GET /api/status
t_eq "the cookie works on gateway 2" "$LF_STATUS" 200
on "$URL2" GET /api/auth/dashboard-check
t_eq "gateway 2's dashboard-check knows the session" "$(jbc '[.authenticated, .csrf_token == "'"$CSRF"'"]')" '[true,true]'
on "$LF_URL" GET /api/status
t_eq "and on gateway 1 (now cached on both)" "$LF_STATUS" 200
# A fresh session for the logout, the gateways warmed up: from its login
# to the refusal only the few requests below.
tl=$(lf_ms)
login
TOK=$(token)
CSRF=$(jb .csrf_token)
on "$LF_URL" GET /api/status
t_eq "another session, cached on gateway 1" "$LF_STATUS" 200
on "$URL2" POST /auth/logout -H "X-CSRF-Token: $CSRF"
t_eq "logout on gateway 2" "$LF_STATUS" 200
t0=$(lf_ms)
gone1() { on "$LF_URL" GET /api/status; [ "$LF_STATUS" = 401 ]; }
t_ok "gateway 1 refuses the session" lf_poll 100 gone1
tr=$(lf_ms)
# The login cached it on gateway 1 for GW_SESS_CACHE_MS (5 s): only the
# event can have dropped it before then.
t_ok "at once, before gateway 1's copy lapsed ($((tr - t0)) ms after the logout, $((tr - tl)) ms after the login)" \
    test $((tr - tl)) -lt 5000
t_ok "and clears the cookie" cleared
grep -q "could not subscribe to 'dashsess'" "$LF_TMP/log/api-gateway.log" "$LF_TMP/log/gw2.log" &&
    echo "# a gateway did not subscribe to dashsess"

# ---- expiry --------------------------------------------------------------------------
LF_AUTH=$KEY lf_req POST /api/config/set '{"path": "dashboard_session_ttl_secs", "value": 3}'
t_eq "dashboard_session_ttl_secs = 3, set live" "$LF_STATUS" 200
ttl3() { login "$URL2"; grep -q 'Max-Age=3$' <<<"$(cookie)"; }
t_ok "the next login's cookie lasts 3 s" lf_poll 100 ttl3
TOK=$(token)
on "$LF_URL" GET /api/status
t_eq "a new session (3 s) works" "$LF_STATUS" 200
sleep 3.3
on "$LF_URL" GET /api/status
t_ok "once expired: 401 {error}, cookie cleared" eval '[ "$LF_STATUS" = 401 ] && lf_err_shape && cleared'
t_eq "and the row was purged" "$(lf_psql "SELECT count(*) FROM channels.dash_sessions WHERE token_sha256 = '$(sha256 "$TOK")'")" 0
on "$URL2" GET /api/auth/dashboard-check
t_ok "gateway 2 (it made it) no longer knows it either" eval '[ "$(jb .authenticated)" = false ] && cleared'
login
login
t_eq "a login purges expired rows" "$(lf_psql "SELECT count(*) FROM channels.dash_sessions WHERE expires_at <= now()")" 0
# An hour again: the session made below must outlast the requests before
# its check, however slow the machine.
LF_AUTH=$KEY lf_req POST /api/config/set '{"path": "dashboard_session_ttl_secs", "value": 3600}'
t_eq "dashboard_session_ttl_secs = 3600 again" "$LF_STATUS" 200
ttl3600() { login; grep -q 'Max-Age=3600$' <<<"$(cookie)"; }
t_ok "the next login's cookie lasts an hour" lf_poll 100 ttl3600

# ---- the login limiter ------------------------------------------------------------------
for i in 1 2 3; do
	lf_req POST /api/auth/dashboard-login '{"api_key":"wrong"}'
	t_eq "failed login $i: 401" "$LF_STATUS" 401
done
lf_req POST /api/auth/dashboard-login '{"api_key":"wrong"}'
t_eq "the 4th attempt: 429 with the limiter's message" "$LF_STATUS $(jb .error)" \
    "429 Too many login attempts. Please wait before trying again."
t_eq "Retry-After: 900" "$(lf_hdr retry-after)" 900
login
t_eq "the right key is refused too while the window lasts" "$LF_STATUS" 429
LF_AUTH=$KEY lf_req GET /api/status
t_eq "other routes are not limited by it" "$LF_STATUS" 200
login "$URL2"
t_eq "the other gateway counts for itself" "$LF_STATUS" 200
TOK=$(token)
for i in 1 2 3; do
	LF_URL=$URL2 lf_req GET /api/auth/login
done
LF_URL=$URL2 lf_req GET /api/auth/login
t_eq "every request to another login-class path counts (4th: 429)" "$LF_STATUS" 429
on "$URL2" GET /api/status
t_eq "a session made before is still good" "$LF_STATUS" 200

# ---- the session owner down ----------------------------------------------------------
lf_stop channels
on "$LF_URL" GET /api/status
t_ok "channels down, a session gateway 1 never saw: 503 {error}, the cookie kept" \
    eval '[ "$LF_STATUS" = 503 ] && lf_err_shape && [ -z "$(cookie)" ]'
LF_AUTH=$KEY lf_req GET /api/status
t_eq "the bearer key needs no service" "$LF_STATUS" 200

lf_stop gw2
t_eq "gateway 2 stops cleanly" "$LF_EXIT" 0
lf_tail_failed api-gateway.log gw2.log channels.log
t_done
