#!/usr/bin/env bash
# OpenID Connect login for the dashboard (issue 14 item 4): a real
# provider (npm oidc-provider, tests/e2e/oidc-idp.mjs) on loopback, the
# whole authorization code flow with PKCE driven by curl (login -> the
# provider's redirects -> the callback -> a session cookie that works on
# a protected route -> userinfo shows the user), ES256 and a rotated key;
# then every bad callback: wrong, replayed or foreign state, missing
# parameters, the provider's error, a tampered signature, alg none, HS256
# with the public key, an unknown kid, a wrong nonce, issuer or audience,
# an expired token, an account not allowed, a provider that is down (a
# bounded wait): each a 4xx (502 for the dead provider) with no session.
# /api/auth/providers hides secrets; /api/auth/introspect and userinfo
# take a session token, a provider's JWT or its opaque access token; a
# login started on one gateway replica ends on another.
. "$(dirname "$0")/../lib.sh"

KEY=t2310-key-0123456789abcdef
IDP_PORT=$(lf_free_port)
IDP=http://127.0.0.1:$IDP_PORT
P2=$(lf_free_port)
GW2=http://127.0.0.1:$P2
[ -d "$LF_ROOT/tests/e2e/node_modules/oidc-provider" ] || {
	echo "Bail out! tests/e2e/node_modules has no oidc-provider (npm ci --prefix tests/e2e)"; exit 1; }

IDP_OUT=$LF_TMP/idp.out
(cd "$LF_ROOT/tests/e2e" && exec node oidc-idp.mjs --port "$IDP_PORT" \
    --redirect "$LF_URL/api/auth/callback") >"$IDP_OUT" 2>>"$LF_TMP/log/idp.log" &
LF_PIDS[idp]=$!
lf_poll 200 grep -q '^blackhole ' "$IDP_OUT" || {
	echo "Bail out! the OpenID provider did not start"; cat "$LF_TMP/log/idp.log"; exit 1; }
HOLE=http://127.0.0.1:$(awk '/^blackhole /{print $2}' "$IDP_OUT")

export LIBREFANG_OAUTH_CLIENT_SECRET=test-secret-123
LIBREFANG_STATE_SECRET=$(openssl rand -base64 32)
export LIBREFANG_STATE_SECRET
lf_config "api_key = \"$KEY\"

[external_auth]
default_provider = \"test\"
redirect_url = \"$LF_URL/api/auth/callback\"
http_timeout_secs = 2

[[external_auth.providers]]
id = \"test\"
display_name = \"Test IdP\"
issuer_url = \"$IDP\"
client_id = \"librefang\"
scopes = [\"openid\", \"email\", \"profile\"]
allowed_domains = [\"example.com\"]

[[external_auth.providers]]
id = \"down\"
issuer_url = \"$HOLE\"
client_id = \"librefang\""
lf_stack_start channels audit

N=0
# The gateway's cookie jar of one browser.
jar_new() { N=$((N + 1)); JAR=$LF_TMP/jar.$N; : > "$JAR"; }

# req URL [curl args..]: one request in browser $JAR; sets ST, LOC, HDRS,
# BODY (no redirect followed).
req() {
	local url=$1; shift
	ST=$(curl -s -m 15 -b "$JAR" -c "$JAR" -D "$LF_TMP/h" -o "$LF_TMP/b" \
	    -w '%{http_code}' "$@" "$url")
	HDRS=$(tr -d '\r' < "$LF_TMP/h")
	BODY=$(cat "$LF_TMP/b")
	LOC=$(printf '%s\n' "$HDRS" | grep -i '^location:' | head -1 | cut -d' ' -f2-)
}

# The provider's side of a login: from its authorize URL, its redirects
# (login and consent at /interaction/..) up to the callback, whose URL
# is printed.
idp_walk() {
	local url=$1 i loc ijar=$LF_TMP/idpjar.$N
	for ((i = 0; i < 12; i++)); do
		loc=$(curl -s -m 10 -b "$ijar" -c "$ijar" -o /dev/null \
		    -w '%{redirect_url}' "$url")
		case $loc in
		"$LF_URL"/*|"$GW2"/*) printf '%s\n' "$loc"; return 0 ;;
		"") return 1 ;;
		esac
		url=$loc
	done
	return 1
}

# login [GW] [PROVIDER]: a new browser starts a login and brings back the
# provider's callback URL in CB.
login() {
	local gw=${1:-$LF_URL} prov=${2:-test}
	jar_new
	req "$gw/api/auth/login/$prov"
	CB=
	[ "$ST" = 302 ] && CB=$(idp_walk "$LOC")
}

has_session() { printf '%s\n' "$HDRS" | grep -qi '^set-cookie: librefang_session=[^;]'; }
no_session() { ! has_session; }
err_is() { [ "$(jq -r 'keys|join(",")' <<<"$BODY")" = error ] && grep -qi -- "$1" <<<"$(jq -r .error <<<"$BODY")"; }
idp_ctl() { curl -s -m 5 "$IDP/__ctl?$1" >/dev/null; }

# ---- the providers ---------------------------------------------------------
LF_AUTH= lf_req GET /api/auth/providers
t_eq "providers: 200 without credentials" "$LF_STATUS" 200
t_eq "providers: both, in order" "$(jbc '[.providers[].id]')" '["test","down"]'
t_eq "providers: the default" "$(jb .default)" test
t_eq "providers: display name and login URL" \
    "$(jbc '.providers[0] | [.display_name, .login_url, .issuer]')" \
    "[\"Test IdP\",\"/api/auth/login/test\",\"$IDP\"]"
t_ok "providers: no secret in the answer" bash -c "! grep -q test-secret <<<'$LF_BODY'"
# What the dashboard's login view needs (js/app.js): the check names the
# method, then one link per provider to its login_url.
LF_AUTH= lf_req GET /api/auth/dashboard-check
t_eq "dashboard-check: a login is wanted, oidc among the methods" \
    "$(jbc '[.auth_required, (.methods | index("oidc") != null)]')" '[true,true]'
LF_AUTH= lf_req GET /
t_eq "the dashboard's page: 200 without credentials" "$LF_STATUS" 200

# ---- the login's redirect ---------------------------------------------------
jar_new
req "$LF_URL/api/auth/login"
t_eq "login: 302" "$ST" 302
t_ok "login: to the provider's authorization endpoint" \
    bash -c "[[ '$LOC' == '$IDP/auth?'* ]]"
for p in response_type=code client_id=librefang code_challenge_method=S256 \
    'code_challenge=[A-Za-z0-9_-]{43}&' 'nonce=[A-Za-z0-9_-]{22}&' 'state=[A-Za-z0-9_-]{40,}&' \
    "redirect_uri=$(jq -rn --arg u "$LF_URL/api/auth/callback" '$u|@uri')"; do
	t_ok "login: the URL has $p" grep -Eq -- "[?&]$p" <<<"$LOC&"
done
t_ok "login: a binding cookie, HttpOnly, SameSite=Lax" \
    grep -Eqi '^set-cookie: librefang_oidc=[A-Za-z0-9_-]{43}; Path=/api; HttpOnly; SameSite=Lax; Max-Age=600' <<<"$HDRS"
jar_new
req "$LF_URL/api/auth/login/test" -H 'X-Forwarded-Proto: https'
t_ok "login behind a TLS proxy: the binding cookie is Secure" \
    grep -Eqi '^set-cookie: librefang_oidc=[^;]+;.*; Secure$' <<<"$HDRS"
req "$LF_URL/api/auth/login/nope"
t_eq "login: an unknown provider is 404" "$ST" 404
t_ok "login: ... with an error" err_is "unknown OpenID provider"
req "$LF_URL/api/auth/login/test?redirect=//evil.example/x"
t_eq "login: a redirect off the site is 400" "$ST" 400

# ---- the whole flow ----------------------------------------------------------
login
t_ok "flow: the provider sends the browser to the callback with a code" \
    grep -Eq "^$LF_URL/api/auth/callback\?code=.+&state=" <<<"$CB"
GOOD_CB=$CB
GOOD_JAR=$JAR
JWKS_AT=$(date +%s)	# the gateway fetches the JWKS now
req "$CB"
t_eq "flow: the callback answers 302" "$ST" 302
t_eq "flow: ... to /" "$LOC" /
t_ok "flow: ... with the session cookie (HttpOnly, SameSite=Strict, Path=/)" \
    grep -Eqi '^set-cookie: librefang_session=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict; Max-Age=[0-9]+$' <<<"$HDRS"
t_ok "flow: ... and the binding cookie cleared" \
    grep -Eqi '^set-cookie: librefang_oidc=; .*Max-Age=0' <<<"$HDRS"
TOKEN=$(awk '$6 == "librefang_session" {print $7}' "$JAR")
t_ok "flow: the browser holds the session" test -n "$TOKEN"
req "$LF_URL/api/config"
t_eq "flow: the cookie opens a protected route" "$ST" 200
JAR=$LF_TMP/empty; : > "$JAR"
req "$LF_URL/api/config"
t_eq "flow: ... which is closed without it" "$ST" 401
JAR=$GOOD_JAR
req "$LF_URL/api/auth/userinfo"
t_eq "userinfo (cookie): 200" "$ST" 200
t_eq "userinfo (cookie): the user" \
    "$(jq -c '[.sub, .method, .provider, .email, .iss]' <<<"$BODY")" \
    "[\"test:alice@example.com\",\"oidc\",\"test\",\"alice@example.com\",\"$IDP\"]"

# ---- introspection and userinfo with tokens ----------------------------------
intro() { lf_req POST /api/auth/introspect "$(jq -nc --arg t "$1" '{token: $t}')"; }
export LF_AUTH=$KEY
intro "$TOKEN"
t_eq "introspect: the session token is active" \
    "$(jbc '[.active, .token_type, .username]')" '[true,"session","test:alice@example.com"]'
t_ok "introspect: ... with an exp in the future" test "$(jb .exp)" -gt "$(date +%s)"
intro "not-a-token"
t_eq "introspect: garbage is inactive (200)" "$LF_STATUS $(jbc .)" '200 {"active":false}'
MINT=$(curl -s -m 5 "$IDP/__mint")
intro "$MINT"
t_eq "introspect: a JWT the provider signed" \
    "$(jbc '[.active, .token_type, .sub, .iss, .client_id]')" \
    "[true,\"jwt\",\"alice\",\"$IDP\",\"librefang\"]"
for m in expired tamper none hs256 iss aud; do
	intro "$(curl -s -m 5 "$IDP/__mint?mode=$m")"
	t_eq "introspect: a JWT ($m) is inactive" "$LF_STATUS $(jbc .)" '200 {"active":false}'
done
LF_BODY=$(curl -s -m 10 -H "Authorization: Bearer $KEY" --data-urlencode "token=$MINT" "$LF_URL/api/auth/introspect")
t_eq "introspect: a form body (RFC 7662)" "$(jbc '[.active, .sub]')" '[true,"alice"]'
lf_req POST /api/auth/introspect '{}'
t_eq "introspect: no token is 400" "$LF_STATUS" 400
t_ok "introspect: ... with an error" lf_err_shape
lf_req POST /api/auth/introspect '[1'
t_eq "introspect: malformed JSON is 400" "$LF_STATUS" 400
LF_AUTH= lf_req POST /api/auth/introspect "$(jq -nc --arg t "$TOKEN" '{token: $t}')"
t_eq "introspect: needs credentials" "$LF_STATUS" 401
unset LF_AUTH
LF_AUTH=$MINT lf_req GET /api/auth/userinfo
t_eq "userinfo (provider JWT): 200 with the claims" \
    "$LF_STATUS $(jbc '[.sub, .email, .provider]')" '200 ["alice","alice@example.com","test"]'
t_ok "userinfo: the nonce and hashes are not shown" test "$(jb 'has("nonce")')" = false
LF_AUTH=$(curl -s -m 5 "$IDP/__mint?mode=tamper") lf_req GET /api/auth/userinfo
t_eq "userinfo (tampered JWT): 401" "$LF_STATUS" 401
LF_AUTH=opaque-token-nobody-issued lf_req GET /api/auth/userinfo
t_eq "userinfo (an opaque token the provider does not know): 401" "$LF_STATUS" 401
LF_AUTH=$KEY lf_req GET /api/auth/userinfo
t_eq "userinfo (api key): the owner" "$LF_STATUS $(jb .sub)" "200 owner"
lf_req GET /api/auth/userinfo
t_eq "userinfo: nothing is 401" "$LF_STATUS" 401

# ---- replay, foreign and broken states ---------------------------------------
JAR=$GOOD_JAR
req "$GOOD_CB"
t_eq "replayed callback: 400" "$ST" 400
t_ok "replayed callback: ... says the state was used" err_is "already used"
t_ok "replayed callback: no session" no_session

login
t_ok "a second login reaches the callback" test -n "$CB"
CB2=$CB JAR2=$JAR
jar_new
req "$CB2"
t_eq "callback from another browser (login CSRF): 400" "$ST" 400
t_ok "... says so" err_is "not started by this browser"
t_ok "... no session" no_session
JAR=$JAR2
bad=$(sed -E 's/state=[^&]*/state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/' <<<"$CB2")
req "$bad"
t_eq "a wrong state: 400" "$ST" 400
t_ok "... invalid state" err_is "invalid state"
t_ok "... no session" no_session
st=$(grep -Eo 'state=[^&]*' <<<"$CB2" | cut -d= -f2)
req "$LF_URL/api/auth/callback?state=$st"
t_eq "no code: 400" "$ST" 400
t_ok "... needs code and state" err_is "needs 'code' and 'state'"
req "$LF_URL/api/auth/callback"
t_eq "no parameters: 400" "$ST" 400
req "$LF_URL/api/auth/callback?error=access_denied&error_description=the+user+said+no&state=$st"
t_eq "the provider's error: 400" "$ST" 400
t_ok "... quoted" err_is "access_denied: the user said no"
req "$LF_URL/api/auth/callback?code=%ZZ&state=x"
t_eq "a malformed query: 400" "$ST" 400
req "$LF_URL/api/auth/callback" -X POST -H 'Content-Type: application/json' --data '{}'
t_eq "POST callback: a JSON body is 415" "$ST" 415
# A callback refused spends the login (its binding cookie is cleared).
code=$(grep -Eo 'code=[^&]*' <<<"$CB2" | cut -d= -f2)
req "$LF_URL/api/auth/callback" -X POST \
    -H 'Content-Type: application/x-www-form-urlencoded' --data "code=$code&state=$st"
t_eq "a refused callback spends the login" "$ST" 400
t_ok "... (no binding cookie any more)" err_is "not started by this browser"
login
code=$(grep -Eo 'code=[^&]*' <<<"$CB" | cut -d= -f2)
st=$(grep -Eo 'state=[^&]*' <<<"$CB" | cut -d= -f2)
req "$LF_URL/api/auth/callback" -X POST \
    -H 'Content-Type: application/x-www-form-urlencoded' --data "code=$code&state=$st"
t_eq "POST callback (form_post): 302 with a session" "$ST $(has_session && echo yes)" "302 yes"

# ---- ID tokens the gateway must refuse ----------------------------------------
accepted() {	# MODE WHAT
	idp_ctl "mode=$1"
	login
	req "$CB"
	t_eq "$1: $2: 302 with a session" "$ST $(has_session && echo yes)" "302 yes"
}
# First: the JWKS is fetched again on an unknown kid at most every 5 s,
# so 6 s after the first fetch.
w=$((JWKS_AT + 6 - $(date +%s)))
[ "$w" -le 0 ] || sleep "$w"
j0=$(curl -s -m 5 "$IDP/__ctl" | jq .jwks_requests)
accepted rotate "a key published after the JWKS was cached (fetched again)"
t_ok "rotate: the JWKS was fetched again" \
    test "$(curl -s -m 5 "$IDP/__ctl" | jq .jwks_requests)" -gt "$j0"

refused() {	# MODE WHAT
	idp_ctl "mode=$1"
	login
	if [ -z "$CB" ]; then
		t_ok "$1: the login reaches the callback" false
		return
	fi
	req "$CB"
	t_eq "$1: 400" "$ST" 400
	t_ok "$1: $2" err_is "$2"
	t_ok "$1: no session" no_session
}
refused tamper "signature does not verify"
refused none "algorithm 'none' is not accepted"
refused hs256 "algorithm 'HS256' is not accepted"
refused unknown_kid "no RSA key in the provider's JWKS for kid 'rsa-stray'"
refused nonce "nonce does not match"
refused iss "token issuer"
refused aud "audience is not this client"
refused expired "token expired"

accepted es256 "an ES256 ID token"
idp_ctl "mode=normal&user=bob"
login
req "$CB"
t_eq "an account outside allowed_domains: 403" "$ST" 403
t_ok "... says so" err_is "may not use the dashboard"
t_ok "... no session" no_session
idp_ctl "user=alice"

# ---- a provider that is down ----------------------------------------------
jar_new
t0=$(date +%s%N)
req "$LF_URL/api/auth/login/down"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
t_eq "a provider that never answers: 502" "$ST" 502
t_ok "... says it did not answer" err_is "did not answer"
t_ok "... within http_timeout_secs (2 s; took $ms ms)" test "$ms" -lt 5000

# ---- another replica ends the login ------------------------------------------
LIBREFANG_API_LISTEN=127.0.0.1:$P2 lf_bg gw2 sh -c "exec '$LF_BIN/api-gateway' >>'$LF_TMP/log/gw2.log' 2>&1"
lf_poll 200 curl -sf -m 2 -o /dev/null "$GW2/api/health" ||
    t_ok "the second gateway answers" false
login
req "${CB/$LF_URL/$GW2}"
t_eq "a login started on one replica ends on the other" "$ST $(has_session && echo yes)" "302 yes"
JAR_B=$JAR
req "$GW2/api/auth/userinfo"
t_eq "... whose session both know" "$ST $(jq -r .email <<<"$BODY")" "200 alice@example.com"

# ---- a bad [external_auth] stops the gateway at start ------------------------
bad_start() {	# WHAT TOML [ENV..]
	local what=$1 toml=$2 out rc
	shift 2
	printf '%s\n' "$toml" > "$LF_TMP/bad.toml"
	out=$(env "$@" LIBREFANG_API_LISTEN=127.0.0.1:$(lf_free_port) \
	    timeout 10 "$LF_BIN/api-gateway" -f "$LF_TMP/bad.toml" 2>&1)
	rc=$?
	t_ok "bad config ($what): the gateway does not start (exit $rc)" \
	    test "$rc" != 0 -a "$rc" != 124
	t_ok "bad config ($what): it says why" grep -q "external_auth" <<<"$out"
}
PROV="[[external_auth.providers]]
id = \"x\"
issuer_url = \"$IDP\"
client_id = \"c\"
redirect_url = \"$LF_URL/api/auth/callback\""
bad_start "no providers" "[external_auth]"
bad_start "an issuer that is no URL" "${PROV/$IDP/ftp:\/\/x}"
bad_start "an unknown default_provider" "[external_auth]
default_provider = \"y\"
$PROV"
bad_start "scopes without openid" "$PROV
scopes = [\"email\"]"
bad_start "a short LIBREFANG_STATE_SECRET" "$PROV" LIBREFANG_STATE_SECRET=c2hvcnQ=

t_done
