#!/usr/bin/env bash
# t6021-audit-replicas.sh - one chain whatever the number of writers and
# audit replicas: 4 writers append at once through 2 audit replicas, one
# of which is killed (SIGKILL) half way; every writer resends what was
# not acknowledged, as the outbox relays do.  The chain then holds each
# entry exactly once, seq 0..N-1 without a gap, and verifies.  Then, with
# no audit replica at all, spawns still succeed and their entries wait in
# agent-runtime's outbox; an audit replica that starts drains it.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-audit-0123456789abcdef
lf_fake_start
lf_stack_start agent-runtime audit
t_ok "a second audit replica joins" lf_replica audit-2 audit

# writer W: 40 batches of 5 entries with ids of its own; a batch is sent
# until acknowledged (for 60 s at most), as a relay does.
writer() {
	local w=$1 b i ents out st deadline
	for ((b = 0; b < 40; b++)); do
		ents=$(for ((i = 0; i < 5; i++)); do
			printf '{"id":"00000000-0000-4000-8000-%04d%04d%04d","timestamp":"2026-01-01T00:00:00.000Z","agent_id":"writer-%d","action":"ToolInvoke","detail":"batch %d entry %d","outcome":"ok"}\n' \
			    "$w" "$b" "$i" "$w" "$b" "$i"
		done | jq -sc .)
		deadline=$(( $(lf_ms) + 60000 ))
		while :; do
			out=$("$LF_BIN/bustool" -t 3000 req audit audit.append \
			    "{\"body\":{\"entries\":$ents,\"source\":\"writer-$w\"}}" 2>&1)
			st=$(jq -r .status <<<"$out" 2>/dev/null)
			[ "$st" = 200 ] && break
			[ "$(lf_ms)" -lt "$deadline" ] ||
			    { echo "writer $w: batch $b never acknowledged: $out"; return 1; }
			sleep 0.05
		done
	done
}
pids=()
for w in 1 2 3 4; do
	writer "$w" > "$LF_TMP/writer-$w.out" 2>&1 &
	pids+=($!)
done
# A quarter of the way in, one replica dies without a goodbye.
chained_200() { [ "$(lf_psql 'SELECT count(*) FROM audit.entries')" -ge 200 ]; }
t_ok "the writers are under way (200 entries within 30 s)" lf_poll 600 chained_200
lf_stop audit KILL
K=$(lf_psql 'SELECT count(*) FROM audit.entries')
rc=0
for p in "${pids[@]}"; do
	timeout 120 tail --pid="$p" -f /dev/null || rc=1
	wait "$p" || rc=1
done
# When a writer gave up: who held what in PostgreSQL then.
[ $rc = 0 ] || lf_psql "SELECT pid, state, wait_event_type, wait_event, xact_start, left(query, 70) FROM pg_stat_activity WHERE datname = 'librefang'" | sed 's/^/# activity: /'
t_eq "the 4 writers had every batch acknowledged" "$rc $(cat "$LF_TMP"/writer-*.out)" "0 "
t_eq "one replica was killed" "$LF_EXIT" 137
t_ok "mid-way ($K of 800 entries in)" test "$K" -lt 800
t_eq "800 entries, each once" \
    "$(lf_psql 'SELECT count(*), count(DISTINCT entry_id) FROM audit.entries')" "800|800"
t_eq "seq 0..799 without a gap" \
    "$(lf_psql 'SELECT min(seq), max(seq), count(DISTINCT seq) FROM audit.entries')" "0|799|800"
t_eq "no fork: no two entries share a prev_hash" \
    "$(lf_psql 'SELECT count(DISTINCT prev_hash) FROM audit.entries')" 800
t_eq "200 from each writer" \
    "$(lf_psql "SELECT string_agg(n::text, ',') FROM (SELECT count(*) AS n FROM audit.entries GROUP BY source) s")" "200,200,200,200"
lf_req GET /api/audit/verify
t_eq "the chain verifies" "$(jbc '[.status, .chain_length]')" '["valid",800]'
t_eq "head is the tip" "$(lf_psql 'SELECT next_seq FROM audit.head')" 800

# No audit replica at all: the actions go on, their entries wait.
lf_stop audit-2 KILL
for i in 1 2 3; do
	lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml "durable-$i" m-d)")"
	t_eq "spawn $i succeeds with the audit service down" "$LF_STATUS" 201
done
sleep 0.5
t_eq "their entries wait in the outbox" "$(lf_psql 'SELECT count(*) FROM runtime.audit_outbox')" 3
lf_start audit
outbox_empty() { [ "$(lf_psql 'SELECT count(*) FROM runtime.audit_outbox')" = 0 ]; }
t_ok "an audit replica that starts drains the outbox" lf_poll 200 outbox_empty
t_eq "into the chain, once each, in order" \
    "$(lf_psql "SELECT string_agg(detail, ',' ORDER BY seq) FROM audit.entries WHERE action = 'AgentSpawn'")" \
    "Agent 'durable-1' spawned with model m-d,Agent 'durable-2' spawned with model m-d,Agent 'durable-3' spawned with model m-d"
lf_req GET /api/audit/verify
t_eq "which verifies" "$(jbc '[.status, .chain_length]')" '["valid",803]'

lf_stack_stop
t_done
