#!/usr/bin/env bash
# t1504-replicas.sh - two agent-runtime replicas behind one broker: turns
# are spread over both, and two turns on one session sent at the same
# moment run one after the other (the session lock holds across
# replicas), so the second turn's provider request carries the first
# turn's question and answer.  Turns on different sessions run side by
# side.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-replicas-0123456789
lf_fake_stack agent-runtime
# The second replica logs every operation it runs.
LIBREFANG_LOG_LEVEL=debug t_ok "a second replica joins" \
    lf_replica agent-runtime-2 agent-runtime

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml twin m-twin)")"
A=$(jb .agent_id)
lf_req POST "/api/agents/$A/sessions" '{}'
S=$(jb .session_id)
t_ok "a session to share ($S)" test -n "$S"

# Two turns on one session at once, each answered after 700 ms.
lf_fake_script '{"model":"m-twin","steps":[{"text":"answer one","delay_ms":700},{"text":"answer two","delay_ms":700}]}'
pids=()
for q in first second; do
	curl -s -o "$LF_TMP/turn-$q" -w '%{http_code}' -X POST \
	    -H 'Content-Type: application/json' \
	    -d "{\"message\": \"question $q\", \"session_id\": \"$S\"}" \
	    "$LF_URL/api/agents/$A/message" > "$LF_TMP/status-$q" &
	pids+=($!)
done
wait "${pids[@]}"
t_eq "both turns answer 200" "$(cat "$LF_TMP/status-first") $(cat "$LF_TMP/status-second")" "200 200"
t_eq "with the two answers, one each" \
    "$(jq -r .response "$LF_TMP/turn-first" "$LF_TMP/turn-second" | sort | tr '\n' ',')" "answer one,answer two,"
R=$(lf_fake_requests m-twin)
t_eq "the provider was called twice" "$(jq length <<<"$R")" 2
t_ok "not at the same time: the second call came after the first answer" \
    test "$(jq '.[1].at_ms - .[0].at_ms' <<<"$R")" -ge 650
LAST=$(jq -c '[.[1].body.messages[] | select(.role != "system") | .content]' <<<"$R")
FIRSTQ=$(jq -r '.[0].body.messages[-1].content' <<<"$R")
t_ok "the second call carries the first turn's question and answer ($LAST)" \
    test "$(jq --arg q "$FIRSTQ" 'index($q) != null and index("answer one") != null' <<<"$LAST")" = true
lf_req GET "/api/agents/$A/sessions"
t_eq "the session holds both turns (4 messages)" \
    "$(jb --arg s "$S" '.sessions[] | select(.session_id == $s) | .message_count')" 4

# Turns on different agents at once are not serialised, and both
# replicas take some of them.
for i in 1 2 3 4 5 6; do
	lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml "spread-$i" m-spread)")"
	B[$i]=$(jb .agent_id)
done
# Each answer takes 8 s: a call that reached the provider before the
# first answer left was in flight beside it, however slow the machine.
lf_fake_script "$(jq -nc '{model: "m-spread", steps: [range(6) | {text: "s", delay_ms: 8000}]}')"
pids=()
for i in 1 2 3 4 5 6; do
	curl -s -o /dev/null -m 60 -X POST -H 'Content-Type: application/json' \
	    -d '{"message": "go"}' "$LF_URL/api/agents/${B[$i]}/message" &
	pids+=($!)
done
wait "${pids[@]}"
R=$(lf_fake_requests m-spread)
SPREAD=$(jq '[.[].at_ms] | max - min' <<<"$R")
t_eq "six turns on six agents reached the provider" "$(jq length <<<"$R")" 6
t_ok "all six were in flight at once (the last came ${SPREAD} ms after the first, each answer takes 8000 ms)" \
    test "$SPREAD" -lt 8000
t_ok "the second replica ran some of the turns" \
    grep -q 'agents.message .* -> deferred' "$LF_TMP/log/agent-runtime-2.log"

t_done
