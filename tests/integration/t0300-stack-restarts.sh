#!/usr/bin/env bash
# lf-test: alone (tests/run.sh: run beside no other script of ours)
# The whole stack behind the gateway survives a broker restart and a
# PostgreSQL restart, and every process drains and exits 0 on SIGTERM.
. "$(dirname "$0")/../lib.sh"

# Waits until GET PATH gives 200 and prints how long it took (ms).
recover_ms() {
	local start=$(date +%s%N)
	lf_wait_ok "$1" || { echo never; return 1; }
	echo $(( ($(date +%s%N) - start) / 1000000 ))
}

# A relayed route's bus deadline of 30 s, far from the 503 at once that
# a stopped broker gives (below).
lf_config '[bus]
request_timeout_ms = 30000'
lf_stack_start
t_ok "the agent runtime joins" lf_wait_ok /api/agents
lf_req POST /api/agents '{"manifest_toml":"name = \"survivor\"\n"}'
t_eq "an agent is spawned" "$LF_STATUS" 201
ID=$(echo "$LF_BODY" | jq -r .agent_id)

# ---- the broker goes away and comes back ----
lf_stop bus
t_eq "the broker exits 0 on SIGTERM" "$LF_EXIT" 0
start=$(date +%s%N)
lf_req GET /api/agents
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_eq "without a broker a relayed route is a 503" "$LF_STATUS" 503
t_eq "and answers JSON" "$(echo "$LF_BODY" | jq -r 'has("error")')" true
t_ok "at once, not at the 30 s bus deadline (${ms} ms)" test "$ms" -lt 8000
lf_req GET /api/health
t_eq "the gateway itself still answers /api/health" "$LF_STATUS" 200
lf_start bus
ms=$(recover_ms "/api/agents/$ID")
t_ok "gateway and runtime rejoin a restarted broker (${ms} ms)" test "$ms" != never
lf_req GET "/api/agents/$ID"
t_eq "and the agent is still there" "$(echo "$LF_BODY" | jq -r .name)" survivor
t_ok "health is ok again once every service is back" lf_wait_status ok

# ---- PostgreSQL goes away and comes back ----
lf_pg_stop
lf_req GET /api/agents
t_eq "without PostgreSQL the list is a 503" "$LF_STATUS" 503
t_eq "saying the database is unavailable" "$(echo "$LF_BODY" | jq -r .error)" "database unavailable"
t_ok "health reports degraded" lf_wait_status degraded
lf_pg_start
ms=$(recover_ms "/api/agents/$ID")
t_ok "services reconnect to a restarted PostgreSQL (${ms} ms)" test "$ms" != never
lf_req POST /api/agents '{"manifest_toml":"name = \"after-pg\"\n"}'
t_eq "and writes work again" "$LF_STATUS" 201

# ---- -n on the gateway ----
out=$(LIBREFANG_API_KEY=k3y-s3cr3t-value "$LF_BIN/api-gateway" -n 2>&1); rc=$?
t_eq "api-gateway -n exits 0" "$rc" 0
t_ok "and redacts the key" bash -c "! grep -q k3y-s3cr3t-value <<<'$out'"
out=$(LIBREFANG_API_LISTEN=notanaddress "$LF_BIN/api-gateway" 2>&1); rc=$?
t_ok "a bad listen address is refused at start (exit $rc)" test "$rc" -ne 0

# ---- orderly shutdown of everything ----
for p in api-gateway agent-runtime scheduler memory audit channels bus; do
	lf_stop $p
	t_eq "$p exits 0 on SIGTERM" "$LF_EXIT" 0
done
t_done
