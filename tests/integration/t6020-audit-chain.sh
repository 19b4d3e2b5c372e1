#!/usr/bin/env bash
# t6020-audit-chain.sh - the audit chain end to end: every recorded
# action (spawn, model change, key set and removal, a tool call in a
# turn, a direct tool invocation, a permission refusal, an auth failure,
# kill) reaches GET /api/audit/recent after its action, through the
# outbox and the relay; GET /api/audit/verify is valid, and broken at the
# right entry after an entry is altered, deleted or two are swapped in
# PostgreSQL; limits and bad input are 400s.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-audit-0123456789abcdef
KEY=test-audit-key-0123456789
lf_config "api_key = \"$KEY\"
[tool_invoke]
enabled = true
allowlist = [\"agent_list\"]"
export LF_AUTH=$KEY
lf_fake_start
lf_stack_start agent-runtime audit

# recent_has ACTION TEXT: an entry with that action whose detail holds TEXT.
recent_has() {
	lf_req GET '/api/audit/recent?limit=500'
	[ "$(jb --arg a "$1" --arg t "$2" \
	    '[.entries[] | select(.action == $a and (.detail | contains($t)))] | length')" -ge 1 ]
}
wait_entry() { lf_poll 200 recent_has "$1" "$2"; }

lf_req GET /api/audit/verify
t_eq "an empty chain verifies" "$(jbc '[.status, .valid, .chain_length]')" '["valid",true,0]'
lf_req GET /api/audit/recent
t_eq "and lists nothing" "$(jbc '[.entries, .total]')" '[[],0]'

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml auditee m-audit)")"
A=$(jb .agent_id)
t_eq "an agent is spawned" "$LF_STATUS" 201
t_ok "AgentSpawn is recorded" wait_entry AgentSpawn "Agent 'auditee' spawned with model m-audit"
t_eq "for that agent" "$(jb '[.entries[] | select(.action == "AgentSpawn")][0].agent_id')" "$A"

lf_req PUT "/api/agents/$A/model" '{"model":"m-audit-2"}'
t_eq "its model is changed" "$LF_STATUS" 200
t_ok "ConfigChange is recorded" wait_entry ConfigChange "agents.set_model: agent 'auditee' model 'm-audit-2'"

lf_req POST /api/providers/groq/key '{"api_key":"gsk-secret-audit-key-42"}'
t_eq "a provider key is set" "$LF_STATUS" 200
t_ok "ConfigChange is recorded for it" wait_entry ConfigChange "API key set for provider 'groq'"
lf_req GET '/api/audit/recent?limit=500'
t_eq "the key itself is nowhere in the chain" "$(jb 'tostring | contains("gsk-secret-audit-key-42")')" false
lf_req DELETE /api/providers/groq/key
t_ok "and its removal" wait_entry ConfigChange "API key removed for provider 'groq'"

lf_req PUT "/api/agents/$A/model" '{"model":"m-audit"}'
lf_fake_script '{"model":"m-audit","steps":[{"tool_calls":[{"name":"agent_list","arguments":{}}]},{"text":"listed"}]}'
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'list the agents')"
t_eq "a turn that calls a tool answers" "$LF_STATUS $(jb .response)" "200 listed"
t_ok "ToolInvoke is recorded for the call" wait_entry ToolInvoke "tool 'agent_list' (call"

lf_req POST "/api/tools/agent_list/invoke" '{}'
t_eq "a direct invocation runs" "$LF_STATUS" 200
t_ok "ToolInvoke is recorded for it" wait_entry ToolInvoke "direct invocation of tool 'agent_list' via REST"

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml noshell m-audit)
[capabilities]
tools = [\"file_read\"]")"
B=$(jb .agent_id)
lf_req POST "/api/tools/agent_list/invoke?agent_id=$B" '{}'
t_eq "an agent without the tool is refused" "$LF_STATUS" 403
t_ok "PermissionDenied is recorded" wait_entry PermissionDenied "agent does not have capability to use tool 'agent_list'"

LF_AUTH=wrong-key-000000000000 lf_req GET /api/agents
t_eq "a wrong key is 401" "$LF_STATUS" 401
t_ok "AuthAttempt is recorded (through the gateway's queue)" wait_entry AuthAttempt "invalid API key from 127.0.0.1: GET /api/agents"
lf_req GET '/api/audit/recent?limit=500'
t_eq "denied" "$(jb '[.entries[] | select(.action == "AuthAttempt")][0].outcome')" denied

lf_req DELETE "/api/agents/$A"
t_eq "the agent is killed" "$LF_STATUS" 200
t_ok "AgentKill is recorded" wait_entry AgentKill "Agent 'auditee' killed"
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml auditee m-audit)")"
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml auditee m-audit)")"
t_eq "a spawn that fails (409) ..." "$LF_STATUS" 409
sleep 0.5
lf_req GET '/api/audit/recent?limit=500'
t_eq "... records nothing (its transaction rolled back)" \
    "$(jb '[.entries[] | select(.action == "AgentSpawn")] | length')" 3
t_eq "the outbox is empty once sent" "$(lf_psql 'SELECT count(*) FROM runtime.audit_outbox')" 0

# The entries in the reference's shape, oldest first, a gapless chain.
lf_req GET '/api/audit/recent?limit=500'
N=$(jb .total)
t_eq "recent: the reference's fields" \
    "$(jb '.entries[0] | [has("id"), has("timestamp"), has("event_type"), has("agent_id"), has("details"), has("hash"), has("prev_hash")] | all')" true
t_eq "seq 0 .. total-1, oldest first" "$(jbc '[.entries[].seq]')" "$(jq -nc "[range($N)]")"
t_eq "each prev_hash is the hash before it" \
    "$(jb '[range(1; .entries | length) as $i | .entries[$i].prev_hash == .entries[$i - 1].hash] | all')" true
t_eq "the first one's is the genesis" "$(jb '.entries[0].prev_hash')" "$(printf '0%.0s' $(seq 64))"
t_eq "the tip is the last hash" "$(jb '.tip_hash == .entries[-1].hash')" true
lf_req GET '/api/audit/recent?limit=2'
t_eq "limit=2: the last two" "$(jbc '[.entries[].seq]')" "[$((N - 2)),$((N - 1))]"
t_eq "limit and total" "$(jbc '[.limit, .total]')" "[2,$N]"

# The hash is kernel.md 5's v2 text, byte for byte (computed here apart).
v2() {
	local seq ts ag ac de ou pr
	IFS=$'\t' read -r seq ts ag ac de ou pr < <(lf_psql "SELECT concat_ws(E'\t', seq, ts, agent_id, action, detail, outcome, prev_hash) FROM audit.entries WHERE seq = $1")
	printf '\x1fseq=%s\x1ftimestamp=%s\x1fagent_id=%s\x1faction=%s\x1fdetail=%s\x1foutcome=%s\x1fprev_hash=%s' \
	    "$seq" "$ts" "$ag" "$ac" "$de" "$ou" "$pr" | sha256sum | cut -d' ' -f1
}
for q in 0 3; do
	t_eq "entry $q's hash is SHA-256 of its v2 text" "$(v2 $q)" "$(lf_psql "SELECT hash FROM audit.entries WHERE seq = $q")"
done

lf_req GET /api/audit/verify
t_eq "verify: valid" "$(jbc '[.status, .valid, .chain_length]')" "[\"valid\",true,$N]"
t_ok "with first and last entry times" test "$(jb '.first_entry != null and .last_entry != null')" = true

# Tampering, each undone before the next.
lf_psql "CREATE TABLE audit.saved AS SELECT * FROM audit.entries" >/dev/null
restore() {
	lf_psql "BEGIN; DELETE FROM audit.entries; INSERT INTO audit.entries SELECT * FROM audit.saved; COMMIT" >/dev/null
}
lf_psql "UPDATE audit.entries SET detail = 'nothing happened' WHERE seq = 2" >/dev/null
lf_req GET /api/audit/verify
t_eq "an altered entry: broken at it" "$(jbc '[.status, .valid, .break_at, .error]')" '["broken",false,2,"Hash mismatch at entry 2"]'
t_eq "in the reference's shape" "$(jb '.chain_length')" "$N"
restore
lf_req GET /api/audit/verify
t_eq "restored: valid again" "$(jb .status)" valid
lf_psql "UPDATE audit.entries SET ts = '2020-01-01T00:00:00.000Z' WHERE seq = 0" >/dev/null
lf_req GET /api/audit/verify
t_eq "an altered timestamp: broken at 0" "$(jbc '[.status, .break_at]')" '["broken",0]'
restore
lf_psql "DELETE FROM audit.entries WHERE seq = 3" >/dev/null
lf_req GET /api/audit/verify
t_eq "a deleted entry: broken at it" "$(jbc '[.status, .break_at]')" '["broken",3]'
t_eq "saying it is missing" "$(jb '.error | contains("missing")')" true
restore
lf_psql "DELETE FROM audit.entries WHERE seq = $((N - 1))" >/dev/null
lf_req GET /api/audit/verify
t_eq "the last entry deleted: broken at it" "$(jbc '[.status, .break_at]')" "[\"broken\",$((N - 1))]"
restore
lf_psql "BEGIN; UPDATE audit.entries SET seq = 1000000 WHERE seq = 1; UPDATE audit.entries SET seq = 1 WHERE seq = 4; UPDATE audit.entries SET seq = 4 WHERE seq = 1000000; COMMIT" >/dev/null
lf_req GET /api/audit/verify
t_eq "two entries swapped: broken at the first" "$(jbc '[.status, .break_at]')" '["broken",1]'
restore
lf_req GET /api/audit/verify
t_eq "restored: valid" "$(jb .status)" valid

# Limits and bad input.
for q in 'limit=501' 'limit=100000' 'limit=0' 'limit=-1' 'limit=abc' 'limit=' 'limit=1e3'; do
	lf_req GET "/api/audit/recent?$q"
	t_eq "recent?$q is 400" "$LF_STATUS" 400
done
t_ok "with an error body" lf_err_shape
lf_req GET '/api/audit/recent?limit=500'
t_eq "limit=500 is 200" "$LF_STATUS" 200

call() { "$LF_BIN/bustool" -t 5000 req audit audit.append "$1" | jq -c '[.status, (.body.error // .body.appended)]'; }
E='{"id":"7d9c3c1e-8c3b-4c2f-9d1e-000000000001","timestamp":"2026-01-01T00:00:00.000Z","agent_id":"system","action":"AgentSpawn","detail":"d","outcome":"ok"}'
t_eq "append: an unknown action is 400" "$(call "{\"body\":{\"entries\":[$(jq -c '.action = "Nope"' <<<"$E")]}}")" '[400,"unknown audit action"]'
t_eq "append: a bad id is 400" "$(call "{\"body\":{\"entries\":[$(jq -c '.id = "x"' <<<"$E")]}}")" '[400,"entry id must be a UUID"]'
t_eq "append: a missing field is 400" "$(call "{\"body\":{\"entries\":[$(jq -c 'del(.outcome)' <<<"$E")]}}")" "[400,\"entry field 'outcome' is required\"]"
t_eq "append: no entries is 400" "$(call '{"body":{"entries":[]}}')" "[400,\"'entries' must be an array of 1 to 500 entries\"]"
t_eq "append: a good entry after a bad one refuses both" "$(call "{\"body\":{\"entries\":[$E,$(jq -c '.action = 1' <<<"$E")]}}")" "[400,\"entry field 'action' must be a string of at most 16384 bytes\"]"
t_eq "append: one entry" "$(call "{\"body\":{\"entries\":[$E]}}")" '[200,1]'
t_eq "append: the same again is a duplicate, not chained" "$(call "{\"body\":{\"entries\":[$E]}}")" '[200,0]'
t_eq "so the chain grew by one" "$(lf_psql 'SELECT count(*) FROM audit.entries')" $((N + 1))
E2=$(jq -c '.id = "7D9C3C1E-8C3B-4C2F-9D1E-000000000002"' <<<"$E")
t_eq "append: one id twice in a batch (and in capitals) is chained once" \
    "$(call "{\"body\":{\"entries\":[$E2,$(jq -c '.id |= ascii_downcase' <<<"$E2"),$E]}}")" '[200,1]'
lf_req GET /api/audit/verify
t_eq "and verifies" "$(jbc '[.status, .chain_length]')" "[\"valid\",$((N + 2))]"

# GET /api/security: what we have is active, what we do not is absent.
lf_req GET /api/security
t_eq "security: 16 systems" "$(jbc '[.total_systems, (.security_systems | length)]')" '[16,16]'
t_eq "the audit trail, headers, rate limit, SSRF, sandbox are active" \
    "$(jbc '.security_systems | [.merkle_audit_trail, .security_headers, .gcra_rate_limiter, .ssrf_protection, .subprocess_sandbox, .path_traversal_prevention, .loop_guard, .session_repair]')" \
    '["active","active","active","active","active","active","active","active"]'
t_eq "what this port lacks is absent, never active" \
    "$(jbc '.security_systems | [.wasm_dual_metering, .ofp_hmac_auth, .taint_tracking, .manifest_signing, .prompt_injection_scanning]')" \
    '["absent","absent","absent","absent","absent"]'
t_eq "so not all are active" "$(jbc '[.all_active, .active_systems]')" '[false,11]'
lf_stop audit
audit_degraded() { lf_req GET /api/security; [ "$(jb .security_systems.merkle_audit_trail)" = degraded ]; }
t_ok "the audit service gone: the audit trail is degraded" lf_poll 400 audit_degraded

lf_stack_stop
t_done
