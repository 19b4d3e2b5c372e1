#!/usr/bin/env bash
# t6043-budget-config.sh - config.toml [budget] (docs/configuration.md):
# its limits show in GET /api/budget and hold for turns; a PUT stored in
# PostgreSQL wins over them; a bad [budget] value stops agent-runtime's
# start with a message naming the key.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-budget-0123456789
lf_config '[budget]
max_daily_usd = 0.005
alert_threshold = 0.5
default_max_llm_tokens_per_hour = 900000
default_burst_ratio = 0.5'
lf_fake_stack agent-runtime

lf_req GET /api/budget
t_eq "GET /api/budget shows [budget]" \
    "$(jbc '[.daily_limit, .alert_threshold, .default_max_llm_tokens_per_hour, .hourly_limit]')" "[0.005,0.5,900000,0]"

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml cfg m-cfg 'max_tokens = 1000')")"
A=$(jb .agent_id)
lf_fake_script '{"model":"m-cfg","steps":[{"text":"a","usage":{"input_tokens":1000,"output_tokens":1000}},{"text":"b","usage":{"input_tokens":1000,"output_tokens":1000}}]}'
lf_req POST "/api/agents/$A/message" '{"message": "go"}'
t_eq "a turn under [budget] max_daily_usd 0.005 is 200 (spends 0.004)" "$LF_STATUS" 200
lf_req POST "/api/agents/$A/message" '{"message": "go"}'
t_eq "the next is 429" "$LF_STATUS" 429
t_ok "  budget_exceeded ($(jb .error))" bash -c "[[ \"\$0\" == 'budget_exceeded: Global daily budget exceeded'* ]]" "$(jb .error)"
t_eq "the provider saw one request" "$(lf_fake_requests m-cfg | jq length)" 1
lf_req GET "/api/budget/agents/$A"
t_eq "the agent inherits the token default" "$(jb .tokens.limit)" 900000
lf_req PUT /api/budget '{"max_daily_usd": 0}'
t_eq "a PUT of 0 wins over [budget]" "$(jb .daily_limit)" 0
lf_req POST "/api/agents/$A/message" '{"message": "go"}'
t_eq "and the turn goes through" "$LF_STATUS" 200

# A bad value: this replica does not start (the first one keeps serving).
lf_config '[budget]
max_daily_usd = -1'
timeout 20 "$LF_BIN/agent-runtime" > "$LF_TMP/bad.log" 2>&1
RC=$?
t_ok "agent-runtime with [budget] max_daily_usd = -1 exits non-zero (rc $RC)" test "$RC" != 0 -a "$RC" != 124
t_ok "  naming the key" grep -q "\[budget\] max_daily_usd must be a number" "$LF_TMP/bad.log"
lf_config '[budget]
max_daily_usd = "ten"'
timeout 20 "$LF_BIN/agent-runtime" > "$LF_TMP/bad2.log" 2>&1
RC=$?
t_ok "a string is refused too (rc $RC)" test "$RC" != 0 -a "$RC" != 124
lf_config '[budget]
default_burst_ratio = 2'
timeout 20 "$LF_BIN/agent-runtime" > "$LF_TMP/bad3.log" 2>&1
RC=$?
t_ok "default_burst_ratio = 2 is refused (rc $RC)" test "$RC" != 0 -a "$RC" != 124

t_done
