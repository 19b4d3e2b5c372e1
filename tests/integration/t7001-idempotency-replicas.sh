#!/usr/bin/env bash
# t7001-idempotency-replicas.sh - the Idempotency-Key header with two
# agent-runtime replicas: the key lives in PostgreSQL, so a retry that
# the broker hands to the other replica gets the one run's answer (shown
# for certain by stopping the replica that ran the turn before the
# retry), retries while the turn runs are 409 from either replica, and
# keyed spawns sent to both replicas make one agent; and 50 concurrent
# requests with one key (users.md acceptance 23) have exactly one side
# effect, the others 409 or the stored reply.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-idem-replicas-0123456789
lf_fake_stack agent-runtime
# The second replica logs every operation it runs.
LIBREFANG_LOG_LEVEL=debug t_ok "a second replica joins" \
    lf_replica agent-runtime-2 agent-runtime
LOG2=$LF_TMP/log/agent-runtime-2.log
ran2() { grep -c 'agents.message .* -> deferred' "$LOG2"; }

# ---- spawns spread over both replicas ---------------------------------------------
SPAWN=$(lf_spawn_json "$(lf_fake_toml twin m-twin)")
ids=()
for i in 1 2 3 4 5 6; do
	lf_req POST /api/agents "$SPAWN" -H 'Idempotency-Key: spawn-twin'
	ids+=("$LF_STATUS $(jb .agent_id)")
done
A=$(jb .agent_id)
t_eq "six keyed spawns through two replicas: six times 201 with one id" \
    "$(printf '%s\n' "${ids[@]}" | sort -u)" "201 $A"
t_ok "the second replica answered some of them" \
    grep -q 'agents.spawn .* -> 201' "$LOG2"
lf_req GET /api/agents
t_eq "one agent" "$(jb '[.[] | select(.name == "twin")] | length')" 1

# ---- retries while the turn runs -------------------------------------------------------
lf_fake_script '{"model": "m-twin", "steps": [{"text": "slow twin", "delay_ms": 4000}]}'
curl -s -m 30 -o "$LF_TMP/first" -X POST -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: run-1' -d '{"message": "once"}' \
    "$LF_URL/api/agents/$A/message" &
FIRST=$!
t_ok "the turn reached the provider" lf_fake_wait m-twin 1
codes=()
for i in 1 2 3 4; do
	lf_req POST "/api/agents/$A/message" '{"message": "once"}' -H 'Idempotency-Key: run-1'
	codes+=("$LF_STATUS $(jb .code)")
done
t_eq "four retries while it runs: each 409 turn_in_progress" \
    "$(printf '%s\n' "${codes[@]}" | sort -u)" "409 turn_in_progress"
t_ok "the first request ends (30 s at most)" timeout 35 tail --pid=$FIRST -f /dev/null
t_eq "with the answer" "$(jq -r .response "$LF_TMP/first")" "slow twin"

# ---- 50 at once with one key ---------------------------------------------------------------
# crowd KIND PATH BODY: 50 requests at once, all with key crowd-KIND;
# each answer in $LF_TMP/crowd-KIND.N and its status in .N.status
# (curl -m 60 bounds the wait).
crowd() {
	local i pids=()
	for i in $(seq 50); do
		curl -s -m 60 -o "$LF_TMP/crowd-$1.$i" -w '%{http_code}\n' -X POST \
		    -H 'Content-Type: application/json' -H "Idempotency-Key: crowd-$1" \
		    -d "$3" "$LF_URL$2" > "$LF_TMP/crowd-$1.$i.status" &
		pids+=($!)
	done
	wait "${pids[@]}"
}
lf_fake_script '{"model": "m-twin", "steps": [{"text": "crowd answer", "delay_ms": 300}]}'
N=$(lf_fake_requests m-twin | jq length)
crowd msg "/api/agents/$A/message" '{"message": "all at once"}'
ST=$(cat "$LF_TMP"/crowd-msg.*.status | sort | uniq -c | awk '{print $2 " x" $1}' | tr '\n' ' ')
t_ok "50 messages with one key: each 200 or 409 ($ST)" test -z "$(cat "$LF_TMP"/crowd-msg.*.status | grep -v -x -e 200 -e 409)"
t_eq "every 200 is the one answer" "$(for f in "$LF_TMP"/crowd-msg.*.status; do [ "$(cat "$f")" = 200 ] && jq -r .response "${f%.status}"; done | sort -u)" "crowd answer"
t_eq "the provider saw one request" "$(lf_fake_requests m-twin | jq length)" $((N + 1))
crowd spawn /api/agents "$(lf_spawn_json "$(lf_fake_toml crowd m-crowd)")"
t_ok "50 spawns with one key: each 201 or 409" test -z "$(cat "$LF_TMP"/crowd-spawn.*.status | grep -v -x -e 201 -e 409)"
t_eq "every 201 names one agent" "$(for f in "$LF_TMP"/crowd-spawn.*.status; do [ "$(cat "$f")" = 201 ] && jq -r .agent_id "${f%.status}"; done | sort -u | wc -l)" 1
lf_req GET /api/agents
t_eq "one agent was made" "$(jb '[.[] | select(.name == "crowd")] | length')" 1

# ---- a retry through the other replica ---------------------------------------------------
N2=$(ran2)
lf_fake_script '{"model": "m-twin", "steps": [{"text": "twin answer"}]}'
lf_req POST "/api/agents/$A/message" '{"message": "which replica"}' -H 'Idempotency-Key: run-2'
t_eq "a keyed turn" "$LF_STATUS $(jb .response)" "200 twin answer"
if [ "$(ran2)" -gt "$N2" ]; then RUNNER=agent-runtime-2; else RUNNER=agent-runtime; fi
lf_stop "$RUNNER"
t_ok "the replica that ran it ($RUNNER) stopped" test -z "$LF_EXIT" -o "$LF_EXIT" = 0
lf_wait_ok /api/agents
for i in 1 2 3; do
	lf_req POST "/api/agents/$A/message" '{"message": "which replica"}' -H 'Idempotency-Key: run-2'
	[ "$LF_STATUS" = 200 ] && break
	sleep 0.5
done
t_eq "the retry, answered by the other replica: the same answer" "$LF_STATUS $(jb .response)" "200 twin answer"
t_eq "the provider saw three requests in all (one per key)" "$(lf_fake_requests m-twin | jq length)" 3
t_eq "the session holds three exchanges" \
    "$(lf_psql "SELECT coalesce(sum(message_count), 0) FROM runtime.sessions WHERE agent_id = '$A'")" 6

lf_stack_stop
t_done
