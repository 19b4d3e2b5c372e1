#!/usr/bin/env bash
# t6023-audit-anchor.sh - the external anchor file (kernel.md 5 step 4):
# with [audit] anchor_path set, each committed append rewrites it as
# "<entries> <tip_hash>"; verify reports it ok while it agrees with the
# chain, and fails closed (valid:false, anchor_status "error") when a row
# is appended behind the service's back, the newest entries are cut off
# with head moved back (a chain that still verifies on its own), the
# file is edited or removed.  Without anchor_path: anchor_enabled false.
. "$(dirname "$0")/../lib.sh"

lf_config '[audit]
anchor_path = "default"'
lf_stack_start audit
F=$LIBREFANG_HOME/data/audit.anchor

lf_req GET /api/audit/verify
t_eq "an empty chain verifies with the anchor on" \
    "$(jbc '[.status, .valid, .anchor_enabled, .anchor_status]')" '["valid",true,true,"ok"]'
t_eq "anchor_path 'default' is data_dir/audit.anchor" "$(jb .anchor_path)" "$F"

call() { "$LF_BIN/bustool" -t 5000 req audit audit.append "$1" | jq -c '[.status, .body.appended]'; }
entry() {	# entry N: an entry with a fixed id
	printf '{"id":"7d9c3c1e-8c3b-4c2f-9d1e-%012d","timestamp":"2026-01-01T00:00:00.000Z","agent_id":"system","action":"ConfigChange","detail":"change %d","outcome":"ok"}' "$1" "$1"
}
t_eq "three entries are appended" "$(call "{\"body\":{\"entries\":[$(entry 1),$(entry 2),$(entry 3)]}}")" '[200,3]'
t_eq "the file holds the count and the tip" "$(cat "$F" 2>/dev/null)" \
    "$(lf_psql "SELECT next_seq || ' ' || tip_hash FROM audit.head")"
t_eq "one line" "$(wc -l <"$F")" 1
lf_req GET /api/audit/verify
t_eq "verify: valid, anchor ok" "$(jbc '[.status, .valid, .chain_length, .anchor_status]')" '["valid",true,3,"ok"]'
t_eq "no tmp file is left" "$(ls "$LIBREFANG_HOME/data" | grep -c tmp)" 0

# A row appended in PostgreSQL, hashed right: the chain alone verifies.
lf_psql "CREATE TABLE audit.saved AS SELECT * FROM audit.entries; CREATE TABLE audit.saved_head AS SELECT * FROM audit.head" >/dev/null
restore() {
	lf_psql "BEGIN; DELETE FROM audit.entries; INSERT INTO audit.entries SELECT * FROM audit.saved; DELETE FROM audit.head; INSERT INTO audit.head SELECT * FROM audit.saved_head; COMMIT" >/dev/null
}
lf_psql "WITH h AS (SELECT tip_hash AS prev FROM audit.head),
n AS (SELECT prev, encode(sha256(convert_to(chr(31) || 'seq=3' || chr(31) || 'timestamp=2026-01-01T00:00:00.000Z' || chr(31) || 'agent_id=system' || chr(31) || 'action=ConfigChange' || chr(31) || 'detail=forged' || chr(31) || 'outcome=ok' || chr(31) || 'prev_hash=' || prev, 'UTF8')), 'hex') AS hash FROM h),
i AS (INSERT INTO audit.entries (seq, entry_id, ts, agent_id, action, detail, outcome, prev_hash, hash)
    SELECT 3, gen_random_uuid(), '2026-01-01T00:00:00.000Z', 'system', 'ConfigChange', 'forged', 'ok', prev, hash FROM n RETURNING hash)
UPDATE audit.head SET next_seq = 4, tip_hash = (SELECT hash FROM i)" >/dev/null
t_eq "a row was appended behind the service's back" "$(lf_psql 'SELECT next_seq FROM audit.head')" 4
lf_req GET /api/audit/verify
t_eq "verify: broken by the anchor, at the row it does not know" \
    "$(jbc '[.status, .valid, .anchor_status, .break_at]')" '["broken",false,"error",3]'
t_ok "the error says what the file and the chain hold" grep -q 'the anchor file says 3 entries' <<<"$(jb .error)"
restore
lf_req GET /api/audit/verify
t_eq "restored: ok" "$(jbc '[.status, .anchor_status]')" '["valid","ok"]'

# The newest entry cut off, head moved back: the chain is whole.
lf_psql "BEGIN; DELETE FROM audit.entries WHERE seq = 2; UPDATE audit.head SET next_seq = 2, tip_hash = (SELECT hash FROM audit.entries WHERE seq = 1); COMMIT" >/dev/null
lf_req GET /api/audit/verify
t_eq "the last entry cut off with head: broken by the anchor" \
    "$(jbc '[.status, .valid, .anchor_status, .break_at]')" '["broken",false,"error",1]'
restore

cp "$F" "$LF_TMP/anchor.saved"
printf '2 %s\n' "$(lf_psql 'SELECT tip_hash FROM audit.head')" >"$F"
lf_req GET /api/audit/verify
t_eq "the file edited: error" "$(jbc '[.status, .valid, .anchor_status]')" '["broken",false,"error"]'
printf 'garbage\n' >"$F"
lf_req GET /api/audit/verify
t_eq "the file unreadable: error" "$(jbc '[.valid, .anchor_status]')" '[false,"error"]'
t_ok "saying so" grep -q 'not one line' <<<"$(jb .error)"
rm -f "$F"
lf_req GET /api/audit/verify
t_eq "the file removed: error (fail closed)" "$(jbc '[.valid, .anchor_status]')" '[false,"error"]'
t_ok "saying so" grep -q 'could not read the anchor file' <<<"$(jb .error)"
cp "$LF_TMP/anchor.saved" "$F"
lf_req GET /api/audit/verify
t_eq "the file put back: ok" "$(jbc '[.valid, .anchor_status]')" '[true,"ok"]'

# The next append writes it again.
rm -f "$F"
t_eq "an append" "$(call "{\"body\":{\"entries\":[$(entry 4)]}}")" '[200,1]'
t_eq "rewrites the file" "$(cat "$F" 2>/dev/null)" "$(lf_psql "SELECT next_seq || ' ' || tip_hash FROM audit.head")"
lf_req GET /api/audit/verify
t_eq "and verify is ok" "$(jbc '[.valid, .chain_length, .anchor_status]')" '[true,4,"ok"]'
t_eq "a duplicate append leaves it as it was" "$(call "{\"body\":{\"entries\":[$(entry 4)]}}")" '[200,0]'
t_eq "(unchanged)" "$(cut -d' ' -f1 "$F")" 4

# Without anchor_path the anchor is off.
lf_stop audit
lf_config ''
lf_start audit
lf_wait_ready 15 audit
lf_req GET /api/audit/verify
t_eq "without anchor_path: anchor_enabled false, status none" \
    "$(jbc '[.valid, .anchor_enabled, .anchor_status, has("anchor_path")]')" '[true,false,"none",false]'

# A bad anchor_path stops the service at start.
lf_stop audit
lf_config '[audit]
anchor_path = 3'
t_eq "a bad anchor_path: the service exits 1" "$(timeout 20 "$LF_BIN/audit" >"$LF_TMP/log/audit-bad.log" 2>&1; echo $?)" 1
t_ok "saying why" grep -q 'anchor_path must be a string' "$LF_TMP/log/audit-bad.log"
lf_config ''

t_done
