#!/usr/bin/env bash
# t1810-totp.sh - the TOTP second factor of approvals (notes/kernel.md
# 4.3, spec 002 "Approvals"): setup (base32 secret, otpauth URI, 10
# recovery codes), confirm with a code this script computes itself
# (RFC 6238 in a few lines of python), status, the secret sealed at rest
# under the vault key, wrong codes 400 and the lockout 429 after five,
# a spent code refused, a recovery code good once, re-setup only with a
# valid code, revoke (POST .../revoke and DELETE /api/approvals/totp),
# bad input a 4xx that changes nothing; and totp_gate() itself (the
# approvals' check) through the totpgate helper: grace window, replay,
# lockout, recovery codes, a wrong vault key.
. "$(dirname "$0")/../lib.sh"

lf_config '[approval]
second_factor = "totp"
totp_issuer = "LF Test"'
lf_stack_start agent-runtime audit

# totp SECRET [STEPS]: the code of SECRET now (+ STEPS steps of 30 s).
totp() {
	python3 -c '
import base64, hashlib, hmac, struct, sys, time
s = sys.argv[1]
key = base64.b32decode(s.upper() + "=" * (-len(s) % 8))
c = int(time.time()) // 30 + int(sys.argv[2])
h = hmac.new(key, struct.pack(">Q", c), hashlib.sha1).digest()
o = h[-1] & 15
print("%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000))
' "$1" "${2:-0}"
}
# wrong CODE: another 6-digit code (right by chance one time in 10^6).
wrong() { printf '%06d' $(( (10#$1 + 500001) % 1000000 )); }
gate() { "$LF_BIN/totpgate" "$@" 2>>"$LF_TMP/log/totpgate.log"; }
code_json() { jq -nc --arg c "$1" '{code: $c}'; }
q() { lf_psql "$1"; }
# A spent code is remembered 90 s: forget them (as 90 s would).
forget_codes() { q 'DELETE FROM runtime.totp_used_codes' >/dev/null; }
audited() { [ "$(q "SELECT count(*) FROM audit.entries WHERE detail = '$1'")" -ge 1 ]; }

t_eq "the python TOTP gives RFC 6238's SHA-1 vector at 59 s" \
    "$(python3 -c '
import hashlib, hmac, struct
h = hmac.new(b"12345678901234567890", struct.pack(">Q", 59 // 30), hashlib.sha1).digest()
o = h[-1] & 15
print((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 10**8)')" 94287082

# ---- nothing enrolled ------------------------------------------------------------
lf_req GET /api/approvals/totp/status
t_eq "GET status is 200" "$LF_STATUS" 200
t_eq "not enrolled; enforced by [approval] second_factor" "$(jbc .)" \
    '{"enrolled":false,"confirmed":false,"enforced":true,"scope":"totp","remaining_recovery_codes":0}'
t_eq "the gate lets an approval through with no enrollment" "$(gate approval:a)" "0 "
lf_req POST /api/approvals/totp/confirm "$(code_json 123456)"
t_eq "confirm before setup is 400" "$LF_STATUS" 400
t_ok "  with {\"error\": ...} ($(jb .error))" lf_err_shape
lf_req POST /api/approvals/totp/revoke "$(code_json 123456)"
t_eq "revoke with nothing enrolled is 400" "$LF_STATUS" 400
lf_req DELETE /api/approvals/totp "$(code_json 123456)"
t_eq "DELETE with nothing enrolled is 400" "$LF_STATUS" 400

# ---- setup -----------------------------------------------------------------------
for bad in '{"current_code": 123456}' '{"nope": 1}' '[1]' '"x"' 'not json'; do
	lf_req POST /api/approvals/totp/setup "$bad"
	t_eq "setup $bad is 400" "$LF_STATUS" 400
	t_ok "  with {\"error\": ...} ($(jb .error))" lf_err_shape
done
t_eq "no bad setup stored anything" "$(q 'SELECT count(*) FROM runtime.totp_enrollment')" 0

lf_req POST /api/approvals/totp/setup
t_eq "POST setup (no body) is 200" "$LF_STATUS" 200
t_eq "answers otpauth_uri, secret, recovery_codes, message" "$(jbc 'keys')" \
    '["message","otpauth_uri","recovery_codes","secret"]'
SECRET=$(jb .secret)
t_ok "the secret is 32 base32 characters (160 bits)" \
    grep -Eqx '[A-Z2-7]{32}' <<<"$SECRET"
t_eq "the URI names issuer, account and parameters, percent-encoded" "$(jb .otpauth_uri)" \
    "otpauth://totp/LF%20Test:admin?secret=$SECRET&issuer=LF%20Test&algorithm=SHA1&digits=6&period=30"
t_eq "10 recovery codes of 10 [a-z0-9], all different" \
    "$(jbc '[.recovery_codes | length, (map(test("^[a-z0-9]{10}$")) | all), (unique | length)]')" '[10,true,10]'
RC1=$(jb '.recovery_codes[0]')
RC2=$(jb '.recovery_codes[1]')
RC3=$(jb '.recovery_codes[2]')
SECRET_HEX=$(python3 -c 'import base64, sys; print(base64.b32decode(sys.argv[1]).hex())' "$SECRET")
SEALED=$(q 'SELECT secret_sealed FROM runtime.totp_enrollment')
t_ok "stored sealed: neither the secret nor its bytes in clear" \
    bash -c '[ ${#1} = 96 ] && [[ $1 != *"$2"* ]] && [[ $1 != *"$3"* ]]' _ "$SEALED" "$SECRET" "$SECRET_HEX"
t_eq "the recovery codes stored as 10 hashes, none in clear" \
    "$(q "SELECT count(*), count(*) FILTER (WHERE code_hash ~ '^[0-9a-f]{64}$' AND code_hash <> '$RC1') FROM runtime.totp_recovery")" "10|10"
t_eq "the vault key file was made 0600 in LIBREFANG_HOME" \
    "$(stat -c %a "$LIBREFANG_HOME/vault.key" 2>/dev/null)" 600
lf_req GET /api/approvals/totp/status
t_eq "status: enrolled, not confirmed, 10 codes" "$(jbc '[.enrolled, .confirmed, .remaining_recovery_codes]')" '[true,false,10]'
t_eq "the gate ignores an enrollment not confirmed" "$(gate approval:a)" "0 "
lf_req POST /api/approvals/totp/setup '{}'
t_eq "a second setup while one waits for confirmation is 409" "$LF_STATUS" 409
t_eq "and kept the first secret" "$(q 'SELECT secret_sealed FROM runtime.totp_enrollment')" "$SEALED"

# ---- confirm ---------------------------------------------------------------------
for bad in '{}' '{"code": 123456}' '{"code": "12345"}' '{"code": "1234567"}' '{"code": "12345a"}' \
    '{"code": " 12345"}' "{\"code\": \"$RC1\"}" '{"code": "123456", "extra": 1}' '{"code": null}' \
    '[1]' 'not json' '{"code": "123456"'; do
	lf_req POST /api/approvals/totp/confirm "$bad"
	t_eq "confirm $bad is 400" "$LF_STATUS" 400
	t_ok "  with {\"error\": ...} ($(jb .error))" lf_err_shape
done
lf_req POST /api/approvals/totp/confirm
t_eq "confirm with no body is 400" "$LF_STATUS" 400
t_eq "malformed codes are not counted as failures" "$(q 'SELECT failures FROM runtime.totp_enrollment')" 0
C=$(totp "$SECRET")
lf_req POST /api/approvals/totp/confirm "$(code_json "$(wrong "$C")")"
t_eq "confirm with a wrong code is 400" "$LF_STATUS" 400
t_eq "  counted once" "$(q 'SELECT failures FROM runtime.totp_enrollment')" 1
lf_req GET /api/approvals/totp/status
t_eq "  and still not confirmed" "$(jb .confirmed)" false
C=$(totp "$SECRET")
lf_req POST /api/approvals/totp/confirm "$(code_json "$C")"
t_eq "confirm with the app's code is 200" "$LF_STATUS" 200
t_eq "  {status: confirmed, message}" "$(jbc '[.status, (.message | type)]')" '["confirmed","string"]'
t_eq "  the failure count reset" "$(q 'SELECT failures FROM runtime.totp_enrollment')" 0
lf_req GET /api/approvals/totp/status
t_eq "status: enrolled and confirmed, 10 codes" "$(jbc .)" \
    '{"enrolled":true,"confirmed":true,"enforced":true,"scope":"totp","remaining_recovery_codes":10}'
t_eq "the confirmation's code is recorded as spent" \
    "$(q "SELECT bound_to FROM runtime.totp_used_codes")" confirm

# ---- the gate (what approve calls) -----------------------------------------------
OUT=$(gate "approval:b" "$C")
t_ok "the gate refuses the code confirm spent: 400 ($OUT)" grep -q '^400 .*already been used' <<<"$OUT"
t_eq "  a spent code is not a failure" "$(q 'SELECT failures FROM runtime.totp_enrollment')" 0
OUT=$(gate "approval:b")
t_ok "the gate without a code is 400 ($OUT)" grep -q '^400 .*required' <<<"$OUT"
OUT=$(gate "approval:b" "12ab56")
t_ok "the gate with a malformed code is 400 ($OUT)" grep -q '^400 ' <<<"$OUT"
forget_codes
C=$(totp "$SECRET")
t_eq "the gate accepts a fresh code" "$(gate "approval:b" "$C")" "0 "
t_eq "  spent, bound to approval:b" "$(q "SELECT bound_to FROM runtime.totp_used_codes")" "approval:b"
t_eq "  and opened the grace window (300 s)" \
    "$(q "SELECT grace_until > now() + interval '290 s' AND grace_until <= now() + interval '300 s' FROM runtime.totp_enrollment")" t
t_eq "within the grace window an approval needs no code" "$(gate approval:c)" "0 "
t_eq "  and a code sent is not spent" "$(gate approval:c "$(wrong "$C")")" "0 "
t_eq "  nor counted" "$(q 'SELECT failures FROM runtime.totp_enrollment')" 0
q "UPDATE runtime.totp_enrollment SET grace_until = now() - interval '1 s'" >/dev/null
OUT=$(gate "approval:d" "$C")
t_ok "after the window, the same code again is refused as a replay ($OUT)" grep -q '^400 .*already been used' <<<"$OUT"
for i in 1 2 3 4 5; do
	OUT=$(gate "approval:d" "$(wrong "$(totp "$SECRET")")")
	t_ok "wrong code $i through the gate is 400 ($OUT)" grep -q '^400 ' <<<"$OUT"
done
t_eq "five wrong codes lock for 300 s" \
    "$(q "SELECT locked_until > now() + interval '290 s' FROM runtime.totp_enrollment")" t
forget_codes
OUT=$(gate "approval:d" "$(totp "$SECRET")")
t_ok "locked: even the right code is 429 ($OUT)" grep -q '^429 ' <<<"$OUT"
lf_req POST /api/approvals/totp/revoke "$(code_json "$(totp "$SECRET")")"
t_eq "locked: revoke with the right code is 429" "$LF_STATUS" 429
t_ok "  with {\"error\": ...} ($(jb .error))" lf_err_shape
t_eq "wrong attempts are audited (AuthAttempt)" \
    "$(lf_poll 200 audited 'totp code rejected for approval:d' && echo yes)" yes
q "UPDATE runtime.totp_enrollment SET locked_until = now() - interval '1 s'" >/dev/null

RC1U=$(tr a-z A-Z <<<"$RC1")
t_eq "a recovery code (any case) passes the gate" "$(gate approval:e "$RC1U")" "0 "
lf_req GET /api/approvals/totp/status
t_eq "  and is used up: 9 left" "$(jb .remaining_recovery_codes)" 9
q "UPDATE runtime.totp_enrollment SET grace_until = NULL" >/dev/null
OUT=$(gate approval:f "$RC1")
t_ok "  a second use is refused ($OUT)" grep -q '^400 .*recovery' <<<"$OUT"
t_eq "  and counted" "$(q 'SELECT failures FROM runtime.totp_enrollment')" 1

OUT=$(LIBREFANG_VAULT_KEY=another-key-of-at-least-32-characters gate approval:g "$(totp "$SECRET")")
t_ok "another vault key: 503 naming the key, not a wrong code ($OUT)" grep -q '^503 .*vault key' <<<"$OUT"
OUT=$(LIBREFANG_VAULT_KEY=short gate approval:g "$(totp "$SECRET")")
t_ok "a vault key under 32 characters: 503 ($OUT)" grep -q '^503 .*32 characters' <<<"$OUT"
t_eq "  neither counted a failure" "$(q 'SELECT failures FROM runtime.totp_enrollment')" 1

# ---- re-setup of a confirmed enrollment ------------------------------------------
lf_req POST /api/approvals/totp/setup '{}'
t_eq "setup over a confirmed enrollment without current_code is 400" "$LF_STATUS" 400
t_ok "  with {\"error\": ...} ($(jb .error))" lf_err_shape
lf_req POST /api/approvals/totp/setup "$(jq -nc --arg c "$(wrong "$(totp "$SECRET")")" '{current_code: $c}')"
t_eq "  with a wrong current_code is 400" "$LF_STATUS" 400
t_eq "  the secret unchanged" "$(q 'SELECT secret_sealed FROM runtime.totp_enrollment')" "$SEALED"
lf_req POST /api/approvals/totp/setup "$(jq -nc --arg c "$RC2" '{current_code: $c}')"
t_eq "  with a recovery code it is 200" "$LF_STATUS" 200
SECRET2=$(jb .secret)
t_ok "  a new secret" test "$SECRET2" != "$SECRET"
lf_req GET /api/approvals/totp/status
t_eq "  waiting for confirmation with 10 new codes" "$(jbc '[.enrolled, .confirmed, .remaining_recovery_codes]')" '[true,false,10]'
t_eq "the gate is open until the new secret is confirmed" "$(gate approval:h)" "0 "
forget_codes
lf_req POST /api/approvals/totp/confirm "$(code_json "$(totp "$SECRET")")"
t_eq "the old secret's code no longer confirms" "$LF_STATUS" 400
lf_req POST /api/approvals/totp/confirm "$(code_json "$(totp "$SECRET2")")"
t_eq "the new one's does" "$LF_STATUS" 200

# ---- revoke ----------------------------------------------------------------------
forget_codes
for bad in '{}' '{"code": 1}' '{"code": "abc"}' '{"code": "123456", "x": 1}' 'not json' '[1]'; do
	lf_req POST /api/approvals/totp/revoke "$bad"
	t_eq "revoke $bad is 400" "$LF_STATUS" 400
	t_ok "  with {\"error\": ...} ($(jb .error))" lf_err_shape
done
lf_req POST /api/approvals/totp/revoke "$(code_json "$(wrong "$(totp "$SECRET2")")")"
t_eq "revoke with a wrong code is 400" "$LF_STATUS" 400
lf_req POST /api/approvals/totp/revoke "$(code_json "$RC3")"
t_eq "revoke with an old enrollment's recovery code is 400" "$LF_STATUS" 400
t_eq "  still confirmed" "$(q 'SELECT confirmed FROM runtime.totp_enrollment')" t
lf_req POST /api/approvals/totp/revoke "$(code_json "$(totp "$SECRET2")")"
t_eq "POST revoke with a valid code is 200" "$LF_STATUS" 200
t_eq "  {status: revoked, message}" "$(jbc '[.status, (.message | type)]')" '["revoked","string"]'
lf_req GET /api/approvals/totp/status
t_eq "  status: not enrolled" "$(jbc '[.enrolled, .confirmed, .remaining_recovery_codes]')" '[false,false,0]'
t_eq "  nothing left stored" "$(q 'SELECT (SELECT count(*) FROM runtime.totp_enrollment) + (SELECT count(*) FROM runtime.totp_recovery)')" 0

# DELETE /api/approvals/totp: the same, here with a recovery code.
lf_req POST /api/approvals/totp/setup
SECRET3=$(jb .secret)
RC=$(jb '.recovery_codes[9]')
forget_codes
lf_req POST /api/approvals/totp/confirm "$(code_json "$(totp "$SECRET3")")"
t_eq "enrolled again" "$LF_STATUS" 200
lf_req DELETE /api/approvals/totp
t_eq "DELETE without a code is 400" "$LF_STATUS" 400
lf_req DELETE /api/approvals/totp "$(code_json "$RC")"
t_eq "DELETE /api/approvals/totp with a recovery code is 200" "$LF_STATUS" 200
t_eq "  revoked" "$(jb .status)" revoked
lf_req DELETE /api/approvals/totp "$(code_json "$RC")"
t_eq "a second DELETE is 400 (not enrolled)" "$LF_STATUS" 400

# An enrollment never confirmed protects nothing: revoke discards it.
lf_req POST /api/approvals/totp/setup
lf_req POST /api/approvals/totp/revoke
t_eq "revoke of an unconfirmed enrollment needs no code" "$LF_STATUS" 200
t_eq "the gate with nothing enrolled allows again" "$(gate approval:z)" "0 "

for d in 'totp enrollment created (not confirmed yet)' 'totp enrollment confirmed' \
    'totp enrollment replaced (not confirmed yet)' 'totp enrollment revoked' \
    'totp enrollment discarded before confirmation' 'totp verified for approval:b'; do
	t_eq "audited: $d" "$(lf_poll 200 audited "$d" && echo yes)" yes
done
t_ok "no secret or code in the runtime's log" \
    bash -c '! grep -qE "$1|$2|$3" "$4"' _ "$SECRET" "$SECRET2" "$RC2" "$LF_TMP/log/agent-runtime.log"

t_done
