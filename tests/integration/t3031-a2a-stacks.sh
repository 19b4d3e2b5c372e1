#!/usr/bin/env bash
# A2A between two LibreFang stacks on one machine (issue 8 item 5): stack
# B (its own PostgreSQL, broker, agent-runtime and gateway under a second
# home) serves an agent; stack A discovers B by URL, sends it a task over
# A2A v1.0, and reads the task's status back.  B records the task as
# inbound, A as outbound.  Then B's agent-runtime is killed mid-task: the
# task reads failed once past the turn deadline.  t3030 covers the shapes
# and the bad peers.
. "$(dirname "$0")/../lib.sh"

H2=$LF_TMP/home2
P2=$(lf_free_port)
URL2=http://127.0.0.1:$P2
# Stack B's cluster is stopped with everything else, whatever happens.
trap 'rc=$?; lf_stack_stop; timeout 40 "$LF_ROOT/deploy/pg.sh" stop "$H2" >/dev/null 2>&1
    [ -L "$H2/pg" ] && rm -rf "$(readlink "$H2/pg")"; lf_cleanup $rc' EXIT

lf_fake_start
export FAKE_API_KEY=sk-fake
lf_config "[a2a]
timeout_secs = 30
trusted_peers = [\"127.0.0.1:$P2\"]"
lf_stack_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! stack A: agent-runtime did not join"; lf_dump_logs; exit 1; }

# ---- stack B -------------------------------------------------------------------
mkdir -p "$H2/run"
# A short turn deadline, so a task lost with its runtime is reaped soon.
printf '[bus]\nturn_timeout_secs = 4\n' > "$H2/config.toml"
"$LF_ROOT/deploy/pg.sh" start "$H2" test >/dev/null || { echo "Bail out! stack B: no PostgreSQL"; exit 1; }
for p in bus agent-runtime api-gateway; do
	LIBREFANG_HOME=$H2 LIBREFANG_BUS_URL=ipc://$H2/run/bus LIBREFANG_API_LISTEN=127.0.0.1:$P2 \
	    "$LF_BIN/$p" >>"$LF_TMP/log/$p-b.log" 2>&1 &
	LF_PIDS[$p-b]=$!
done
lf_b_up() { [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL2/api/agents")" = 200 ]; }
lf_poll 300 lf_b_up || { echo "Bail out! stack B did not come up"; lf_dump_logs; exit 1; }

B_AGENT=$(curl -s -m 10 -H 'Content-Type: application/json' "$URL2/api/agents" \
    -d "$(lf_spawn_json "description = \"Stack B's agent\"
$(lf_fake_toml remote b-model)")" | jq -r .agent_id)
t_ok "stack B has an agent ($B_AGENT)" test -n "$B_AGENT" -a "$B_AGENT" != null

# ---- A discovers B and gives it a task ----------------------------------------------
lf_req POST /api/a2a/discover "{\"url\": \"$URL2\"}"
t_eq "A discovers B: its card" "$LF_STATUS $(jbc '[.name, .skills, .url]')" \
    "200 [\"LibreFang\",[\"remote\"],\"$URL2\"]"
t_eq "B's card names its JSON-RPC endpoint in v1.0" "$(jb '.card.supportedInterfaces[0] | "\(.protocolVersion) \(.url)"')" "1.0 $URL2/a2a"
PEER=$(jb .id)
lf_fake_script '{"model": "b-model", "steps": [{"text": "B has done it"}]}'
lf_req POST /api/a2a/send "{\"agent_id\": \"$PEER\", \"message\": \"please do it\"}"
t_eq "A sends to B: B's agent answers" "$LF_STATUS $(jbc '[.status, .response]')" '200 ["completed","B has done it"]'
OUT=$(jb .task_id)
REMOTE=$(jb .remote_task_id)
t_eq "B's agent got the message" "$(lf_fake_requests b-model | jq -r '.[-1].body.messages[-1].content')" "please do it"
lf_req GET "/api/a2a/tasks/$OUT/status"
t_eq "the task's status on A" "$LF_STATUS $(jbc '[.status, .result]')" '200 ["completed","B has done it"]'
t_eq "A keeps it as outbound, with B's task id" \
    "$(lf_psql "SELECT direction || ' ' || remote_id FROM runtime.a2a_tasks WHERE id = '$OUT'")" "out $REMOTE"
t_eq "B keeps it as inbound, run by its agent" \
    "$(psql -h "$H2/pg" -U librefang -Atc "SELECT direction || ' ' || agent_id || ' ' || state FROM runtime.a2a_tasks WHERE id = '$REMOTE'" librefang 2>/dev/null)" \
    "in $B_AGENT completed"
STATUS=$(curl -s -m 10 "$URL2/a2a/tasks/$REMOTE" | jq -r '"\(.status) \(.result.parts[0].text)"')
t_eq "B serves it on its REST route" "$STATUS" "completed B has done it"

# A task whose agent-runtime dies mid-turn: once past the turn deadline,
# reading it reports it failed instead of working forever.
lf_fake_script '{"model": "b-model", "steps": [{"text": "never", "delay_ms": 60000}]}'
curl -s -m 30 -o /dev/null -H 'Content-Type: application/json' \
    -d '{"message": "a long one"}' "$URL2/a2a/tasks/send" &
psql_b() { psql -h "$H2/pg" -U librefang -Atc "$1" librefang 2>/dev/null; }
lf_b_working() { [ -n "$(psql_b "SELECT id FROM runtime.a2a_tasks WHERE state = 'working'")" ]; }
lf_poll 200 lf_b_working || echo "# B's task never showed as working"
LOST=$(psql_b "SELECT id FROM runtime.a2a_tasks WHERE state = 'working'")
lf_stop agent-runtime-b KILL 2>/dev/null
LIBREFANG_HOME=$H2 LIBREFANG_BUS_URL=ipc://$H2/run/bus LIBREFANG_API_LISTEN=127.0.0.1:$P2 \
    "$LF_BIN/agent-runtime" >>"$LF_TMP/log/agent-runtime-b.log" 2>&1 &
LF_PIDS[agent-runtime-b]=$!
lf_b_says() { [ "$(curl -s -m 5 "$URL2/a2a/tasks/$LOST" | jq -r .status)" = "$1" ]; }
t_ok "after the restart, the lost task still reads working" lf_poll 200 lf_b_says working
t_ok "and failed once past the turn deadline (4 s + 5 s)" lf_poll 400 lf_b_says failed
t_eq "with a reason" "$(curl -s -m 5 "$URL2/a2a/tasks/$LOST" | jq -r '.error | test("lost")')" true

# A's own agents are not involved: A has none.
lf_req GET /a2a/agents
t_eq "A has no local agent" "$(jb .total)" 0

t_done
