#!/usr/bin/env bash
# t2200-backup.sh - backup and restore end to end (audit service,
# services/audit/README.md "Backup and restore"): agents, sessions with
# turns through the fake LLM, KV memory, audit entries, config.toml and a
# workspace file are backed up; changed and deleted; restored: everything
# is back as it was, the audit chain verifies and records the restore;
# list and delete; bad input (traversal names, an unknown file, a
# tampered, truncated or foreign archive, a restore while a turn runs) is
# a 4xx with the database unchanged.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-backup-0123456789abcdef
lf_config '# t2200 config, version one
log_level = "info"'
lf_fake_stack agent-runtime memory audit channels

BK=$LIBREFANG_HOME/backups
WS=$LIBREFANG_HOME/data/workspaces

# The state a restore must bring back, as one hash: agents, sessions and
# their messages, KV memory, the audit chain up to seq $1 (all: -1).
state() {
	lf_psql "SELECT md5(concat_ws('|',
	  (SELECT string_agg(id::text || name, ',' ORDER BY id) FROM runtime.agents),
	  (SELECT string_agg(id::text || messages::text, ',' ORDER BY id) FROM runtime.sessions),
	  (SELECT string_agg(agent_id::text || key || value::text, ',' ORDER BY agent_id, key) FROM memory.kv),
	  (SELECT string_agg(seq || hash, ',' ORDER BY seq) FROM audit.entries
	   WHERE $1 < 0 OR seq < $1)))"
}
outbox_empty() {
	[ "$(lf_psql "SELECT (SELECT count(*) FROM runtime.audit_outbox) +
	    (SELECT count(*) FROM memory.audit_outbox)")" = 0 ]
}
chain_len() { lf_psql "SELECT next_seq FROM audit.head"; }

# ---- the state ------------------------------------------------------------
A=$(lf_agent keeper m-bk)
B=$(lf_agent goner m-bk)
t_ok "two agents" test -n "$A" -a -n "$B"
lf_fake_script '{"model":"m-bk","steps":[{"text":"first answer"},{"text":"second answer"}]}'
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'hello one')"
t_eq "a turn through the fake LLM" "$LF_STATUS $(jb .response)" "200 first answer"
lf_req POST "/api/agents/$B/message" "$(lf_msg_json 'hello two')"
t_eq "a turn for the other agent" "$LF_STATUS $(jb .response)" "200 second answer"
lf_req PUT "/api/memory/agents/$A/kv/colour" '{"value":"blue"}'
t_eq "a KV entry" "$LF_STATUS" 200
mkdir -p "$WS/keeper"
printf 'workspace note v1\n' > "$WS/keeper/note.txt"
lf_poll 200 outbox_empty
t_ok "every audit entry is chained" outbox_empty
N0=$(chain_len)
t_ok "the chain holds spawns and turns" test "$N0" -ge 4
S0=$(state -1)
S0N=$(state "$N0")
lf_req GET "/api/agents/$A/session"
M0=$(jb '.messages | length')

# ---- backup -----------------------------------------------------------------
lf_req POST /api/backup '{}'
t_eq "POST /api/backup: 200" "$LF_STATUS" 200
F=$(jb .filename)
t_ok "the name is librefang_backup_YYYYMMDD_HHMMSS.tar" \
    grep -Eq '^librefang_backup_[0-9]{8}_[0-9]{6}\.tar$' <<<"$F"
t_eq "path, size, components, created_at" \
    "$(jbc '[.path, (.size_bytes > 0), .components, (.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))]')" \
    "[\"$BK/$F\",true,[\"database\",\"config\",\"workspaces\"],true]"
t_ok "the archive is in place, no temporary left" \
    test -f "$BK/$F" -a "$(ls -A "$BK" | grep -vc "^$F$")" = 0
tar -tf "$BK/$F" > "$LF_TMP/members"
t_eq "it holds the manifest, the dump, config.toml and the workspace" \
    "$(grep -Ec '^(manifest.json|database.dump|config.toml|workspaces/keeper/note.txt)$' "$LF_TMP/members")" 4
tar -xOf "$BK/$F" manifest.json > "$LF_TMP/manifest.json"
t_eq "the manifest: version, host, version, installation, schemas" \
    "$(jq -c '[.version, (.hostname | length > 0), .librefang_version, (.installation_id | test("^[0-9a-f-]{36}$")), .database.schemas]' "$LF_TMP/manifest.json")" \
    '[1,true,"0.1.0",true,["audit","channels","memory","runtime"]]'
t_eq "a SHA-256 for each entry" \
    "$(jq -c '[.entries[] | select(.sha256 | test("^[0-9a-f]{64}$")) | .name] | sort' "$LF_TMP/manifest.json")" \
    '["config.toml","database.dump","workspaces/keeper/note.txt"]'
t_eq "the dump's checksum is the file's" \
    "$(jq -r '.entries[] | select(.name == "database.dump") | .sha256' "$LF_TMP/manifest.json")" \
    "$(tar -xOf "$BK/$F" database.dump | sha256sum | cut -d' ' -f1)"
lf_poll 100 test "$(chain_len)" -gt "$N0"
lf_req GET '/api/audit/recent?limit=5'
t_ok "the backup is audited" \
    test "$(jb "[.entries[] | select(.detail | startswith(\"backup created: $F\"))] | length")" = 1

lf_req GET /api/backups
t_eq "GET /api/backups lists it" \
    "$(jbc '[.total, .backups[0].filename, .backups[0].components, .backups[0].librefang_version, (.backups[0].size_bytes > 0), (.backups[0] | has("modified_at") and has("created_at") and has("path"))]')" \
    "[1,\"$F\",[\"database\",\"config\",\"workspaces\"],\"0.1.0\",true,true]"

# ---- change and delete things ----------------------------------------------
lf_req DELETE "/api/agents/$B"
t_eq "an agent deleted" "$LF_STATUS" 200
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'after the backup')"
t_eq "another turn" "$LF_STATUS" 200
lf_req PUT "/api/memory/agents/$A/kv/colour" '{"value":"red"}'
lf_req PUT "/api/memory/agents/$A/kv/extra" '{"value":1}'
C=$(lf_agent newcomer m-bk)
printf 'workspace note v2\n' > "$WS/keeper/note.txt"
printf 'stray\n' > "$WS/keeper/stray.txt"
lf_config '# t2200 config, version two'
lf_poll 200 outbox_empty
t_ok "the state changed" test "$(state -1)" != "$S0"

# ---- bad input: nothing changes ---------------------------------------------
S1=$(state -1)
N1=$(chain_len)
for bad in '..%2F..%2Fetc%2Fpasswd' '%2E%2E' 'librefang_backup_20260101_000000.zip' \
    'x.tar' 'librefang_backup_2026010_0000000.tar' '%2Ftmp%2Flibrefang_backup_20260101_000000.tar' \
    'librefang_backup_20260101_000000.tar%00'; do
	lf_req DELETE "/api/backups/$bad"
	t_eq "DELETE /api/backups/$bad: 400" "$LF_STATUS $(lf_err_shape && echo shape)" "400 shape"
done
lf_req DELETE /api/backups/librefang_backup_20990101_000000.tar
t_eq "an unknown backup: 404" "$LF_STATUS" 404
for body in '{}' '[]' '{"filename":5}' '{"filename":"../x.tar"}' \
    "{\"filename\":\"$BK/$F\"}" '{"filename":"../../etc/passwd"}' \
    '{"filename":"librefang_backup_20260101_000000.tar/.."}' \
    "{\"filename\":\"$F\",\"allow_foreign\":\"yes\"}"; do
	lf_req POST /api/restore "$body"
	t_eq "restore $body: 400" "$LF_STATUS $(lf_err_shape && echo shape)" "400 shape"
done
lf_req POST /api/restore '{"filename":"librefang_backup_20990101_000000.tar"}'
t_eq "restore of an unknown file: 404" "$LF_STATUS" 404

# flip_member ARCHIVE MEMBER OUT: OUT is ARCHIVE with one byte flipped in
# MEMBER's data.
flip_member() {
	python3 - "$@" <<'EOF'
import shutil, sys, tarfile
src, member, out = sys.argv[1:4]
with tarfile.open(src) as t:
    off = t.getmember(member).offset_data
shutil.copyfile(src, out)
with open(out, "r+b") as f:
    f.seek(off + 5)
    b = f.read(1)
    f.seek(off + 5)
    f.write(bytes([b[0] ^ 0x01]))
EOF
}
T1=librefang_backup_20000101_000001.tar
flip_member "$BK/$F" database.dump "$BK/$T1"
lf_req POST /api/restore "{\"filename\":\"$T1\"}"
t_eq "a byte flipped in the dump: 400" "$LF_STATUS" 400
t_ok "it says which entry" grep -q "checksum mismatch: entry 'database.dump'" <<<"$(jb .error)"
T2=librefang_backup_20000101_000002.tar
flip_member "$BK/$F" workspaces/keeper/note.txt "$BK/$T2"
lf_req POST /api/restore "{\"filename\":\"$T2\"}"
t_eq "a byte flipped in a workspace file: 400 naming it" \
    "$LF_STATUS $(jb .error | grep -o "entry '[^']*'")" "400 entry 'workspaces/keeper/note.txt'"
# The listed archive itself, tampered in a way its entries do not show:
# the manifest (its created_at) rewritten and the archive rebuilt.
cp "$BK/$F" "$LF_TMP/orig.tar"
mkdir "$LF_TMP/x" && tar -xf "$BK/$F" -C "$LF_TMP/x"
jq '.created_at = "2000-01-01T00:00:00.000Z"' "$LF_TMP/x/manifest.json" > "$LF_TMP/m" &&
    mv "$LF_TMP/m" "$LF_TMP/x/manifest.json"
tar -cf "$BK/$F" -C "$LF_TMP/x" manifest.json database.dump config.toml workspaces
lf_req POST /api/restore "{\"filename\":\"$F\"}"
t_eq "a listed archive whose bytes changed: 400" \
    "$LF_STATUS $(jb .error | grep -o 'is not the archive that was written')" \
    "400 is not the archive that was written"
cp "$LF_TMP/orig.tar" "$BK/$F"
T3=librefang_backup_20000101_000003.tar
head -c $(( $(stat -c %s "$BK/$F") / 2 )) "$BK/$F" > "$BK/$T3"
lf_req POST /api/restore "{\"filename\":\"$T3\"}"
t_eq "a truncated archive: 400" "$LF_STATUS" 400
t_ok "it says so" grep -Eq "truncated|missing" <<<"$(jb .error)"
T4=librefang_backup_20000101_000004.tar
jq '.installation_id = "00000000-0000-4000-8000-000000000000"' "$LF_TMP/x/manifest.json" > "$LF_TMP/m" &&
    mv "$LF_TMP/m" "$LF_TMP/x/manifest.json"
tar -cf "$BK/$T4" -C "$LF_TMP/x" manifest.json database.dump config.toml workspaces
lf_req POST /api/restore "{\"filename\":\"$T4\"}"
t_eq "a foreign archive (another installation's manifest): 400" \
    "$LF_STATUS $(jb .error | grep -o '^foreign archive')" "400 foreign archive"
T5=librefang_backup_20000101_000005.tar
printf 'extra\n' > "$LF_TMP/x/workspaces/keeper/extra.txt"
jq '.installation_id = input.installation_id' "$LF_TMP/x/manifest.json" "$LF_TMP/manifest.json" > "$LF_TMP/m" &&
    mv "$LF_TMP/m" "$LF_TMP/x/manifest.json"
tar -cf "$BK/$T5" -C "$LF_TMP/x" manifest.json database.dump config.toml workspaces
lf_req POST /api/restore "{\"filename\":\"$T5\"}"
t_eq "an entry the manifest does not list: 400" \
    "$LF_STATUS $(jb .error | grep -o 'which its manifest does not list')" \
    "400 which its manifest does not list"
T6=librefang_backup_20000101_000006.tar
rm "$LF_TMP/x/workspaces/keeper/extra.txt"
ln -s /etc/passwd "$LF_TMP/x/workspaces/keeper/link"
tar -cf "$BK/$T6" -C "$LF_TMP/x" manifest.json database.dump config.toml workspaces
lf_req POST /api/restore "{\"filename\":\"$T6\"}"
t_eq "a symbolic link in the archive: 400" "$LF_STATUS" 400
python3 - "$BK/librefang_backup_20000101_000007.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for name in ("manifest.json", "../escape.txt", "/tmp/abs.txt"):
        data = b"{}" if name == "manifest.json" else b"x"
        i = tarfile.TarInfo(name); i.size = len(data)
        t.addfile(i, io.BytesIO(data))
EOF
lf_req POST /api/restore '{"filename":"librefang_backup_20000101_000007.tar"}'
t_eq "an archive with '..' and absolute members: 400" "$LF_STATUS" 400
t_ok "nothing escaped the backups directory" \
    test ! -e "$LIBREFANG_HOME/escape.txt" -a ! -e "$LIBREFANG_HOME/backups/escape.txt"
sleep 0.5
t_eq "the database is unchanged by every refusal" "$(state -1)" "$S1"
t_eq "and the chain too" "$(chain_len)" "$N1"
t_eq "the workspace too" "$(cat "$WS/keeper/note.txt")" "workspace note v2"
t_eq "no temporary directory is left" "$(ls -A "$BK" | grep -c '^\.')" 0

# ---- a turn running: 409 --------------------------------------------------
lf_fake_script '{"model":"m-bk","steps":[{"text":"slow answer","delay_ms":3000}]}'
lf_bg slowturn curl -s -o "$LF_TMP/slow.json" -X POST -H 'Content-Type: application/json' \
    -d '{"message":"take your time"}' "$LF_URL/api/agents/$A/message"
active() { lf_req GET "/api/agents/$A/session"; [ "$(lf_psql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND classid::bigint NOT IN (0, 4294967295)")" -ge 1 ]; }
lf_poll 100 active
lf_req POST /api/restore "{\"filename\":\"$F\"}"
t_eq "a restore while a turn runs: 409" "$LF_STATUS" 409
t_ok "it says why" grep -q "turn is running" <<<"$(jb .error)"
lf_wait slowturn 20
t_eq "the turn finished untouched" "$(jq -r .response "$LF_TMP/slow.json")" "slow answer"
lf_poll 200 outbox_empty

# ---- restore ------------------------------------------------------------------
lf_req POST /api/restore "{\"filename\":\"$F\"}"
t_eq "POST /api/restore: 200" "$LF_STATUS" 200
t_eq "its shape" "$(jbc '[(.restored_files >= 2), .errors, (.message | startswith("Restore complete")), .components, .manifest.installation_id]')" \
    "[true,[],true,[\"database\",\"config\",\"workspaces\"],$(jq .installation_id "$LF_TMP/manifest.json")]"
t_eq "the chain verifies in the answer" "$(jbc '[.audit.valid, .audit.status]')" '[true,"valid"]'
t_eq "caches reloaded" "$(jbc '.reloaded')" '{"agent-runtime":200,"channels":200}'
t_eq "agents, sessions, memory and the chain are back exactly" "$(state "$N0")" "$S0N"
lf_req GET /api/agents
t_eq "the deleted agent is back, the new one gone" \
    "$(jbc '[.[].name] | sort')" '["goner","keeper"]'
lf_req GET "/api/agents/$A/session"
t_eq "the session's messages are those of the backup" "$(jb '.messages | length')" "$M0"
lf_req GET "/api/memory/agents/$A/kv/colour"
t_eq "KV: the value of the backup" "$(jbc .value)" '"blue"'
lf_req GET "/api/memory/agents/$A/kv/extra"
t_eq "KV: the later key is gone" "$LF_STATUS" 404
t_eq "the workspace file is back" "$(cat "$WS/keeper/note.txt")" "workspace note v1"
t_ok "the later workspace file is gone" test ! -e "$WS/keeper/stray.txt"
t_eq "config.toml is back" "$(head -1 "$LIBREFANG_HOME/config.toml")" "# t2200 config, version one"
# The restored config.toml is stored as a new config version, audited
# through the channels' outbox (t2203 checks the versions).
cfg_outbox_empty() { [ "$(lf_psql "SELECT count(*) FROM channels.audit_outbox")" = 0 ]; }
lf_poll 200 cfg_outbox_empty
lf_req GET /api/audit/verify
t_eq "GET /api/audit/verify: valid" "$(jbc '[.status, .valid]')" '["valid",true]'
t_eq "the chain is the backup's and two entries" "$(jb .chain_length)" "$((N0 + 2))"
lf_req GET '/api/audit/recent?limit=2'
t_eq "they record the restore, then its config version" \
    "$(jbc '[.entries[] | [.action, .agent_id, (.detail | split(" (")[0])]]')" \
    "[[\"ConfigChange\",\"system\",\"backup restored: $F\"],[\"ConfigChange\",\"system\",\"config restored from backup $F\"]]"
lf_req GET /api/agents
lf_fake_script '{"model":"m-bk","steps":[{"text":"after restore"}]}'
lf_req POST "/api/agents/$B/message" "$(lf_msg_json 'are you back')"
t_eq "a restored agent runs turns" "$LF_STATUS $(jb .response)" "200 after restore"
lf_poll 200 outbox_empty
lf_req GET /api/audit/verify
t_eq "the chain still verifies after new entries" "$(jbc '[.valid, (.chain_length > '"$((N0 + 2))"')]')" '[true,true]'

# ---- list, delete ----------------------------------------------------------------
lf_req GET /api/backups
t_eq "the list outlives the restore, and shows unlisted archives found on disk" \
    "$(jbc '[.total, ([.backups[].filename] | index("'"$F"'") != null)]')" '[8,true]'
lf_req DELETE "/api/backups/$F"
t_eq "DELETE: 200" "$(jbc '[.status, .filename]')" "[\"deleted\",\"$F\"]"
t_ok "the file is gone" test ! -e "$BK/$F"
lf_req DELETE "/api/backups/$F"
t_eq "a second DELETE: 404" "$LF_STATUS" 404
lf_req GET /api/backups
t_eq "and it is no longer listed" "$(jbc '[.backups[].filename] | index("'"$F"'")')" null

t_done
