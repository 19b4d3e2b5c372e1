#!/usr/bin/env bash
# t1811-approvals-totp.sh - approving under the TOTP second factor
# (notes/kernel.md 4.3): with [approval] second_factor = "totp" and an
# enrollment confirmed, approve needs a valid totp_code (missing or
# wrong: 400, nothing decided; the code is spent: the same one again is
# refused), the decision records second_factor_used; reject needs none;
# a batch approval of such a request is refused whole (403), since a
# batch carries no code; an agent whose manifest's totp_tools does not
# name the tool approves without one; before any enrollment, approve
# goes through with no code.
. "$(dirname "$0")/../lib.sh"

lf_config '[approval]
second_factor = "totp"'
export FAKE_API_KEY=sk-fake-totp-0123456789
lf_fake_stack agent-runtime audit

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
A=$(lf_agent totp-a m-totp)
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml totp-b m-totp)
[approval]
totp_tools = [\"deploy_*\"]")"
B=$(jb .agent_id)
t_ok "two agents ($A, $B)" test -n "$A" -a -n "$B"
# request AGENT TOOL: a pending approval's id.
request() {
	lf_req POST /api/approvals "{\"agent_id\":\"$1\",\"tool_name\":\"$2\",\"description\":\"d\"}"
	jb .id
}
used() { lf_psql "SELECT second_factor_used FROM runtime.approval_audit WHERE approval_id = '$1' AND decision <> 'pending'"; }

R0=$(request "$A" shell_exec)
lf_req POST "/api/approvals/$R0/approve" '{}'
t_eq "nothing enrolled: approve with no code is 200" "$LF_STATUS $(jb .status)" "200 approved"
t_eq "  without a second factor used" "$(used "$R0")" f

lf_req POST /api/approvals/totp/setup
SECRET=$(jb .secret)
lf_req POST /api/approvals/totp/confirm "{\"code\":\"$(totp "$SECRET")\"}"
t_eq "enrolled and confirmed" "$LF_STATUS" 200
# The grace window each success opens would let the next approval
# through without a code: closed, as 300 s would close it.
no_grace() { lf_psql "UPDATE runtime.totp_enrollment SET grace_until = NULL" >/dev/null; }
no_grace
lf_psql 'DELETE FROM runtime.totp_used_codes' >/dev/null

R1=$(request "$A" shell_exec)
lf_req POST "/api/approvals/$R1/approve" '{}'
t_eq "approve with no code is 400" "$LF_STATUS" 400
t_ok "  with {\"error\": ...} ($(jb .error))" lf_err_shape
C=$(totp "$SECRET")
W=$(printf '%06d' $(( (10#$C + 500001) % 1000000 )))
lf_req POST "/api/approvals/$R1/approve" "{\"totp_code\":\"$W\"}"
t_eq "a wrong code is 400" "$LF_STATUS" 400
lf_req GET "/api/approvals/$R1"
t_eq "  and the request is still pending" "$(jb .status)" pending
lf_req POST /api/approvals/batch "{\"ids\":[\"$R1\"],\"decision\":\"approve\"}"
t_eq "a batch approval of it is 403" "$LF_STATUS" 403
lf_req GET "/api/approvals/$R1"
t_eq "  and decided nothing" "$(jb .status)" pending
lf_req POST "/api/approvals/$R1/approve" "{\"totp_code\":\"$C\"}"
t_eq "the right code approves it" "$LF_STATUS $(jb .status)" "200 approved"
t_eq "  with the second factor recorded" "$(used "$R1")" t

R2=$(request "$A" shell_exec)
lf_req POST "/api/approvals/$R2/approve" '{}'
t_eq "within the grace window the success opened, the next needs no code" "$LF_STATUS $(jb .status)" "200 approved"
no_grace
R2=$(request "$A" shell_exec)
lf_req POST "/api/approvals/$R2/approve" "{\"totp_code\":\"$C\"}"
t_eq "the same code again is refused (spent)" "$LF_STATUS" 400
lf_req POST "/api/approvals/$R2/reject" '{"reason":"no"}'
t_eq "reject needs no code" "$LF_STATUS $(jb .status)" "200 rejected"

R3=$(request "$B" shell_exec)
lf_req POST "/api/approvals/$R3/approve" '{}'
t_eq "an agent whose totp_tools does not name the tool approves with no code" "$LF_STATUS $(jb .status)" "200 approved"
no_grace
R4=$(request "$B" deploy_prod)
lf_req POST "/api/approvals/$R4/approve" '{}'
t_eq "  but one its totp_tools names needs the code" "$LF_STATUS" 400
lf_req POST /api/approvals/batch "{\"ids\":[\"$R4\"],\"decision\":\"reject\"}"
t_eq "a batch rejection needs no code" "$LF_STATUS" 200

lf_stack_stop
t_done
