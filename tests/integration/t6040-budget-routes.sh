#!/usr/bin/env bash
# t6040-budget-routes.sh - the budget and usage routes (notes/kernel.md
# 4.4, 4.5): GET/PUT /api/budget, /api/budget/agents[/{id}] with every
# field of the spec's and the notes' shapes, limits stored in PostgreSQL,
# the manifest's [resources] inherited, bad input a 4xx that writes
# nothing; /api/usage (periods), /summary, /by-model and /daily
# aggregating real turns through the fake provider.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-budget-0123456789
lf_fake_stack agent-runtime

near() { jq -e --argjson a "$1" --argjson b "$2" -n '($a - $b) | fabs < 1e-9' >/dev/null; }

# ---- GET /api/budget ------------------------------------------------------------
lf_req GET /api/budget
t_eq "GET /api/budget is 200" "$LF_STATUS" 200
t_eq "with the notes' flat fields" \
    "$(jbc '[.hourly_spend, .hourly_limit, .hourly_pct, .daily_spend, .daily_limit, .daily_pct, .monthly_spend, .monthly_limit, .monthly_pct, .default_max_llm_tokens_per_hour]')" \
    "[0,0,0,0,0,0,0,0,0,0]"
t_eq "the spec's objects" "$(jbc '[.hourly, .daily, .monthly] | map(keys)')" \
    '[["limit","pct","spend"],["limit","pct","spend"],["limit","pct","spend"]]'
t_eq "and the 002 fields, status ok, alert 0.8" \
    "$(jbc '[.daily_limit_usd, .monthly_limit_usd, .today_spent_usd, .month_spent_usd, .status, .alert_threshold]')" \
    '[0,0,0,0,"ok",0.8]'

# ---- PUT /api/budget -------------------------------------------------------------
lf_req PUT /api/budget '{"max_hourly_usd": 2, "daily_limit_usd": 20, "max_monthly_usd": 200.5, "alert_threshold": 0.9, "default_max_llm_tokens_per_hour": 500000}'
t_eq "PUT /api/budget is 200" "$LF_STATUS" 200
t_eq "answers the new status" \
    "$(jbc '[.hourly.limit, .daily_limit, .monthly_limit_usd, .alert_threshold, .default_max_llm_tokens_per_hour]')" \
    "[2,20,200.5,0.9,500000]"
t_eq "stored in PostgreSQL" \
    "$(lf_psql 'SELECT max_hourly_usd, max_daily_usd, max_monthly_usd, alert_threshold, default_max_llm_tokens_per_hour FROM runtime.budget_global')" \
    "2|20|200.5|0.9|500000"
lf_req PUT /api/budget '{"max_daily_usd": 25}'
t_eq "a partial PUT changes only its field" "$(jbc '[.hourly_limit, .daily_limit, .monthly_limit]')" "[2,25,200.5]"
lf_req PUT /api/budget '{"hourly_limit": 3}'
t_eq "hourly_limit is an alias of max_hourly_usd" "$(jb .hourly_limit)" 3

for bad in '{"max_daily_usd": -1}' '{"max_daily_usd": "10"}' '{"max_daily_usd": 1e300}' \
    '{"max_daily_usd": null}' '{"alert_threshold": 1.5}' '{"default_max_llm_tokens_per_hour": 1.5}' \
    '{"default_max_llm_tokens_per_hour": -5}' '{"max_hourly_usd": 1, "max_daily_usd": -1}' \
    '{"max_daily_usd": true}' '{"max_daily_usd": 1e400}' '{"max_daily_usd": [[[[1]]]]}' \
    '{}' '{"unknown": 1}' '[1]' '"x"'; do
	lf_req PUT /api/budget "$bad"
	t_eq "PUT /api/budget $bad is 400" "$LF_STATUS" 400
	t_ok "  with {\"error\": ...} ($(jb .error))" lf_err_shape
done
lf_req PUT /api/budget 'not json'
t_eq "a body that is no JSON is 400" "$LF_STATUS" 400
lf_req GET /api/budget
t_eq "no bad PUT changed anything" "$(jbc '[.hourly_limit, .daily_limit, .monthly_limit, .alert_threshold]')" "[3,25,200.5,0.9]"
lf_req PUT /api/budget '{"max_hourly_usd": 0, "max_daily_usd": 0, "max_monthly_usd": 0, "default_max_llm_tokens_per_hour": 0}'
t_eq "0 sets a limit back to unlimited" "$(jbc '[.hourly_limit, .daily_limit, .monthly_limit, .default_max_llm_tokens_per_hour]')" "[0,0,0,0]"

# ---- per agent -------------------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml use-a m-use-a)")"
A=$(jb .agent_id)
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml use-b m-use-b '[resources]
max_cost_per_day_usd = 3.5
max_llm_tokens_per_hour = 7000
burst_ratio = 1')")"
B=$(jb .agent_id)
t_ok "two agents ($A, $B)" test -n "$A" -a -n "$B"

lf_req GET /api/budget/agents
t_eq "GET /api/budget/agents is 200" "$LF_STATUS" 200
t_eq "lists both, under agents and items, with total" "$(jbc '[(.agents | length), (.items | length), .total]')" "[2,2,2]"
t_eq "each with the ranking fields" \
    "$(jbc --arg a "$A" '.agents[] | select(.agent_id == $a) | keys')" \
    '["agent_id","agent_name","daily_cost_usd","daily_limit","hourly_limit","max_llm_tokens_per_hour","monthly_limit","name","today_cost_usd","total_cost_usd"]'
t_eq "B's limits come from its manifest" \
    "$(jbc --arg b "$B" '.agents[] | select(.agent_id == $b) | [.name, .daily_limit, .hourly_limit, .max_llm_tokens_per_hour]')" \
    '["use-b",3.5,0,7000]'

lf_req GET "/api/budget/agents/$A"
t_eq "GET /api/budget/agents/{id} is 200" "$LF_STATUS" 200
t_eq "with hourly, daily, monthly and tokens" \
    "$(jbc '[.agent_id, .agent_name, (.hourly | keys), (.tokens | keys)]')" \
    "[\"$A\",\"use-a\",[\"limit\",\"pct\",\"spend\"],[\"limit\",\"pct\",\"used\"]]"

lf_req PUT "/api/budget/agents/$A" '{"max_cost_per_hour_usd": 1, "max_cost_per_day_usd": 10, "max_cost_per_month_usd": 100, "max_llm_tokens_per_hour": 200000}'
t_eq "PUT /api/budget/agents/{id} is 200" "$LF_STATUS" 200
t_eq "answers as the spec" "$(jbc '[.status, .message]')" '["ok","Agent budget updated"]'
lf_req GET "/api/budget/agents/$A"
t_eq "the agent's limits are set" "$(jbc '[.hourly.limit, .daily.limit, .monthly.limit, .tokens.limit]')" "[1,10,100,200000]"
lf_req PUT "/api/budget/agents/$B" '{"daily_limit_usd": 4}'
lf_req GET "/api/budget/agents/$B"
t_eq "a PUT wins over the manifest, the rest still inherited" "$(jbc '[.daily.limit, .tokens.limit]')" "[4,7000]"

for bad in '{"max_cost_per_day_usd": -0.5}' '{"max_cost_per_day_usd": "ten"}' \
    '{"max_cost_per_hour_usd": 1e12}' '{"max_llm_tokens_per_hour": 2.5}' '{}' '[]'; do
	lf_req PUT "/api/budget/agents/$A" "$bad"
	t_eq "PUT /api/budget/agents/{id} $bad is 400" "$LF_STATUS" 400
	t_ok "  with {\"error\": ...}" lf_err_shape
done
lf_req GET "/api/budget/agents/$A"
t_eq "bad PUTs changed nothing" "$(jbc '[.hourly.limit, .daily.limit, .monthly.limit, .tokens.limit]')" "[1,10,100,200000]"
NOBODY=00000000-0000-4000-8000-000000000000
lf_req GET "/api/budget/agents/$NOBODY"
t_eq "an unknown agent is 404" "$LF_STATUS" 404
t_ok "  with {\"error\": ...} ($(jb .error))" lf_err_shape
lf_req PUT "/api/budget/agents/$NOBODY" '{"max_cost_per_day_usd": 1}'
t_eq "PUT on an unknown agent is 404" "$LF_STATUS" 404
t_eq "  and stores nothing" "$(lf_psql "SELECT count(*) FROM runtime.budget_agents WHERE agent_id = '$NOBODY'")" 0
lf_req GET "/api/budget/agents/not-a-uuid"
t_eq "an id that is no UUID is 400" "$LF_STATUS" 400
lf_req PUT "/api/budget/agents/$A" '{"max_cost_per_hour_usd": 0, "max_cost_per_day_usd": 0, "max_cost_per_month_usd": 0, "max_llm_tokens_per_hour": 0}'
t_eq "limits back to 0" "$LF_STATUS" 200

# ---- usage from real turns --------------------------------------------------------
# a: two turns of 1000 in / 2000 out ($0.007 each at the fallback prices
# 1 and 3 USD per million); b: one of 500 / 500 ($0.002).
lf_fake_script '{"model":"m-use-a","steps":[{"text":"a1","usage":{"input_tokens":1000,"output_tokens":2000}},{"text":"a2","usage":{"input_tokens":1000,"output_tokens":2000}}]}'
lf_fake_script '{"model":"m-use-b","steps":[{"text":"b1","usage":{"input_tokens":500,"output_tokens":500}}]}'
for x in "$A" "$A" "$B"; do
	lf_req POST "/api/agents/$x/message" '{"message": "go"}'
	t_eq "a turn of $x is 200" "$LF_STATUS" 200
done

lf_req GET /api/usage
t_eq "GET /api/usage is 200, period day by default" "$(jb .period)" day
t_eq "totals of the three turns" \
    "$(jbc '[.total_input_tokens, .total_output_tokens, .request_count, .active_agents]')" "[2500,4500,3,2]"
t_ok "total cost \$0.016 ($(jb .total_cost_usd))" near "$(jb .total_cost_usd)" 0.016
t_eq "per agent, dearest first" \
    "$(jbc '[.items[] | [.name, .input_tokens, .output_tokens, .total_tokens, .call_count, .is_hand]]')" \
    '[["use-a",2000,4000,6000,2,false],["use-b",500,500,1000,1,false]]'
t_ok "  with cost and total_cost_usd" near "$(jbc '.items[0].cost')" 0.014
t_eq "  total, offset, limit" "$(jbc '[.total, .offset, .limit]')" "[2,0,null]"

# A turn of two days ago (written as turns write it) counts in the week,
# not today.
lf_psql "INSERT INTO runtime.usage_records (agent_id, provider, model, input_tokens, output_tokens, cost_usd, iterations, at) VALUES ('$A', 'openai', 'm-use-a', 100, 100, 0.5, 1, now() - interval '2 days')" >/dev/null
lf_req GET '/api/usage?period=day'
t_eq "period=day leaves the old turn out" "$(jb .request_count)" 3
lf_req GET '/api/usage?period=hour'
t_eq "period=hour too" "$(jb .total_input_tokens)" 2500
lf_req GET '/api/usage?period=week'
t_eq "period=week counts it" "$(jbc '[.total_input_tokens, .request_count]')" "[2600,4]"
lf_req GET '/api/usage?period=all'
t_eq "period=all counts it" "$(jb .request_count)" 4
for bad in year 1 '' "day%27%20OR%201=1"; do
	lf_req GET "/api/usage?period=$bad"
	t_eq "period=$bad is 400" "$LF_STATUS" 400
done

lf_req GET /api/usage/summary
t_eq "GET /api/usage/summary is 200" "$LF_STATUS" 200
t_eq "today (spec) and all time (notes)" \
    "$(jbc '[.today.input_tokens, .today.output_tokens, .today.requests, .total_input_tokens, .total_output_tokens, .call_count, .total_tool_calls]')" \
    "[2500,4500,3,2600,4600,4,0]"
t_ok "  today's cost \$0.016" near "$(jb .today.cost_usd)" 0.016
t_eq "  and the quota block" "$(jbc '.quota | keys')" '["hourly_reset_at","hourly_token_limit","hourly_tokens_used"]'
t_ok "  hourly tokens used 7000, reset at an RFC 3339 hour ($(jb .quota.hourly_reset_at))" \
    test "$(jb '"\(.quota.hourly_tokens_used) \(.quota.hourly_reset_at | test("^[0-9-]{10}T[0-9]{2}:00:00Z$"))"')" = "7000 true"

lf_req GET /api/usage/by-model
t_eq "GET /api/usage/by-model is 200" "$LF_STATUS" 200
t_eq "one entry per model, dearest first" \
    "$(jbc '[.models[] | [.model, .provider, .input_tokens, .output_tokens, .request_count, .total_input_tokens, .call_count]]')" \
    '[["m-use-a","openai",2100,4100,3,2100,3],["m-use-b","openai",500,500,1,500,1]]'
t_ok "  with cost_usd = total_cost_usd" test "$(jb '.models[1] | .cost_usd == .total_cost_usd and (.cost_usd - 0.002 | fabs) < 1e-9')" = true

lf_req GET /api/usage/daily
t_eq "GET /api/usage/daily is 200, 7 days" "$(jbc '[(.daily | length), (.days | length)]')" "[7,7]"
TODAY=$(date -u +%F)
OLD=$(date -u -d '2 days ago' +%F)
t_eq "the last day is today, with its turns" \
    "$(jbc '.daily[-1] | [.date, .input_tokens, .output_tokens, .request_count]')" "[\"$TODAY\",2500,4500,3]"
t_eq "  and in the notes' form" "$(jbc '.days[-1] | [.date, .tokens, .calls]')" "[\"$TODAY\",7000,3]"
t_eq "two days ago holds the old turn" "$(jbc --arg d "$OLD" '[.daily[] | select(.date == $d) | .cost_usd]')" "[0.5]"
t_ok "today_cost_usd \$0.016" near "$(jb .today_cost_usd)" 0.016
t_eq "first_event_date" "$(jb .first_event_date)" "$OLD"
lf_req GET '/api/usage/daily?days=30'
t_eq "days=30 gives 30 days" "$(jb '.daily | length')" 30
for bad in 0 -1 abc 100000; do
	lf_req GET "/api/usage/daily?days=$bad"
	t_eq "days=$bad is 400" "$LF_STATUS" 400
done

# The budget's spend is the same ledger.
lf_req GET "/api/budget/agents/$A"
t_ok "agent a's daily spend is its two turns (\$0.014)" near "$(jb .daily.spend)" 0.014
t_eq "  and its tokens this hour" "$(jb .tokens.used)" 6000
lf_req GET /api/budget
t_ok "the global daily spend \$0.016" near "$(jb .daily_spend)" 0.016
t_ok "  the month holds the old turn unless it began since ($(jb .monthly_spend))" \
    test "$(jb --arg o "$OLD" --arg t "$TODAY" '.monthly_spend - (if ($o[0:7] == $t[0:7]) then 0.516 else 0.016 end) | fabs < 1e-9')" = true
lf_req GET /api/budget/agents
t_eq "the ranking puts a first" "$(jb '.agents[0].name')" use-a

t_done
