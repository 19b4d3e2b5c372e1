#!/usr/bin/env bash
# t2202-backup-anchor.sh - a restore with the audit anchor file on
# ([audit] anchor_path): the chain goes back to the backup's, the anchor
# file is moved back with it (anchor_reset), and verify is valid with
# anchor_status "ok"; the next append moves it on again.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-backup-0123456789abcdef
lf_config '[audit]
anchor_path = "default"'
lf_fake_stack agent-runtime audit
ANCHOR=$LIBREFANG_HOME/data/audit.anchor
chained() { [ "$(lf_psql "SELECT count(*) FROM runtime.audit_outbox")" = 0 ]; }

A=$(lf_agent anchored m-anchor)
lf_poll 200 chained
N0=$(lf_psql "SELECT next_seq FROM audit.head")
lf_req POST /api/backup '{}'
t_eq "a backup" "$LF_STATUS" 200
F=$(jb .filename)
B=$(lf_agent later m-anchor)
t_ok "another agent after the backup" test -n "$B"
lf_req DELETE "/api/agents/$A"
lf_poll 200 chained
lf_req GET /api/audit/verify
t_eq "before: valid, the anchor ok" "$(jbc '[.valid, .anchor_status]')" '[true,"ok"]'
t_ok "the anchor is past the backup" test "$(cut -d' ' -f1 "$ANCHOR")" -gt "$((N0 + 1))"

lf_req POST /api/restore "{\"filename\":\"$F\"}"
t_eq "restore: 200" "$LF_STATUS" 200
t_eq "the answer's verify: valid, the anchor ok" "$(jbc '[.audit.valid, .audit.anchor_status]')" '[true,"ok"]'
t_eq "the anchor moved back to the restored chain and its entry" \
    "$(cut -d' ' -f1 "$ANCHOR")" "$(lf_psql "SELECT next_seq FROM audit.head")"
t_eq "which is the backup's chain and one" "$(cut -d' ' -f1 "$ANCHOR")" "$((N0 + 1))"
lf_req GET /api/audit/verify
t_eq "GET /api/audit/verify: valid, anchor ok" "$(jbc '[.valid, .anchor_status]')" '[true,"ok"]'
C=$(lf_agent after m-anchor)
t_ok "a spawn after the restore" test -n "$C"
lf_poll 200 chained
lf_req GET /api/audit/verify
t_eq "the next append moves the anchor on: still valid" "$(jbc '[.valid, .anchor_status, .chain_length > '"$((N0 + 1))"']')" '[true,"ok",true]'

t_done
