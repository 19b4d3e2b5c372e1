#!/usr/bin/env bash
# t6041-budget-enforce.sh - limits hold before the provider is called
# (notes/kernel.md 4.4): every provider call first reserves its worst
# case (estimated input + max_tokens, here 1000 tokens = $0.003 at the
# fallback price of 3 USD per million out) in PostgreSQL; a call that
# would pass a limit fails the turn with 429 budget_exceeded and the
# fake provider sees no request.  Global daily, per agent hourly vs
# global, the rolling hour, token quotas (manifest and global default),
# a streamed turn whose second call no longer fits (it stops cleanly:
# an error event, the session saved, the spend recorded), and no
# reservation left behind.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-budget-0123456789
lf_fake_stack agent-runtime

# spawn NAME MODEL [MORE]: an agent at the fake with max_tokens 1000.
spawn() {
	lf_agent "$1" "$2" "max_tokens = 1000${3+
$3}"
}
# steps MODEL N IN OUT: N scripted answers of IN / OUT tokens.
steps() {
	lf_fake_script "$(jq -nc --arg m "$1" --argjson n "$2" --argjson i "$3" --argjson o "$4" \
	    '{model: $m, steps: [range($n) | {text: "ok", usage: {input_tokens: $i, output_tokens: $o}}]}')"
}
nreq() { lf_fake_requests "$1" | jq length; }
is_budget_429() {
	[ "$LF_STATUS" = 429 ] && lf_err_shape && [[ "$(jb .error)" == budget_exceeded:*"$1"* ]]
}

# ---- global daily ---------------------------------------------------------------
# Each turn spends $0.004 (1000 in at $1/M + 1000 out at $3/M); the limit
# $0.01 lets two through: the third would reserve 0.008 + 0.003.
G=$(spawn glob m-glob)
O=$(spawn other m-other)
lf_req PUT /api/budget '{"max_daily_usd": 0.01}'
steps m-glob 5 1000 1000
for i in 1 2; do
	lf_req POST "/api/agents/$G/message" '{"message": "go"}'
	t_eq "global \$0.01/day: turn $i is 200" "$LF_STATUS" 200
done
lf_req POST "/api/agents/$G/message" '{"message": "go"}'
t_ok "turn 3 is 429 budget_exceeded ($(jb .error))" is_budget_429 "Global daily budget exceeded"
t_eq "the provider saw two requests, not three" "$(nreq m-glob)" 2
# The check rides on the statement that saves the user's message
# (budget/budget.c): a refused first call still leaves it saved, last,
# with no answer after it, and no reservation.
t_eq "  the refused turn's message is saved, last in its session" \
    "$(lf_psql "SELECT jsonb_array_length(s.messages) || ' ' || (s.messages->-1->>'role') || ' ' || (s.messages->-1->>'content') FROM runtime.sessions s JOIN runtime.agents a ON a.session_id = s.id WHERE a.id = '$G'")" "5 user go"
t_eq "  and it holds no reservation" "$(lf_psql "SELECT count(*) FROM runtime.budget_reservations WHERE agent_id = '$G'")" 0
lf_req POST /v1/chat/completions '{"model":"librefang:glob","messages":[{"role":"user","content":"hi"}]}'
t_eq "through /v1/chat/completions: 429 in the OpenAI shape" \
    "$LF_STATUS $(jb '.error.type') $(jb '.error.message | startswith("budget_exceeded: Global daily")')" "429 rate_limit_error true"
lf_req POST /v1/chat/completions '{"model":"librefang:glob","stream":true,"messages":[{"role":"user","content":"hi"}]}'
t_eq "  streaming too, before any chunk" "$LF_STATUS $(jb '.error.type')" "429 rate_limit_error"
t_eq "  and the provider still saw two requests" "$(nreq m-glob)" 2
lf_req POST "/api/agents/$O/message" '{"message": "go"}'
t_ok "the global limit holds for another agent too" is_budget_429 "Global daily"
t_eq "  whose provider saw nothing" "$(nreq m-other)" 0
lf_req GET /api/budget
t_eq "GET /api/budget: spend 0.008 of 0.01, status warning" \
    "$(jbc '[.daily_spend, .daily_limit, .status]')" '[0.008,0.01,"warning"]'
lf_req PUT /api/budget '{"max_daily_usd": 0.013}'
lf_req POST "/api/agents/$G/message" '{"message": "go"}'
t_eq "raised to \$0.013 (0.008 + the call's ~0.0036 fits): 200" "$LF_STATUS" 200
lf_req GET /api/budget
t_eq "spend 0.012 of 0.013: status warning (alert 0.8)" "$(jbc "[.daily_spend, .status]")" "[0.012,\"warning\"]"
lf_req PUT /api/budget '{"max_daily_usd": 0.01}'
t_eq "lowered under the spend: status exceeded, pct 1.2" "$(jbc '[.status, .daily_pct]')" '["exceeded",1.2]'
lf_req PUT /api/budget '{"max_daily_usd": 0}'
lf_req POST "/api/agents/$G/message" '{"message": "go"}'
t_eq "limit 0 (unlimited): 200" "$LF_STATUS" 200
t_eq "turns refused leave no reservation" "$(lf_psql 'SELECT count(*) FROM runtime.budget_reservations')" 0

# ---- per agent, beside the global -----------------------------------------------
P=$(spawn capped m-capped)
Q=$(spawn free m-free)
lf_req PUT "/api/budget/agents/$P" '{"max_cost_per_hour_usd": 0.005}'
lf_req PUT /api/budget '{"max_daily_usd": 1}'
steps m-capped 3 1000 1000
steps m-free 3 1000 1000
lf_req POST "/api/agents/$P/message" '{"message": "go"}'
t_eq "agent \$0.005/hour: turn 1 is 200" "$LF_STATUS" 200
lf_req POST "/api/agents/$P/message" '{"message": "go"}'
t_ok "turn 2 (0.004 + 0.003) is 429 ($(jb .error))" is_budget_429 "Agent $P exceeded hourly cost quota"
t_eq "the capped agent's provider saw one request" "$(nreq m-capped)" 1
for i in 1 2; do
	lf_req POST "/api/agents/$Q/message" '{"message": "go"}'
	t_eq "an agent without a limit of its own goes on (turn $i)" "$LF_STATUS" 200
done
lf_req GET "/api/budget/agents/$P"
t_eq "the capped agent's hourly spend 0.004 of 0.005" "$(jbc '[.hourly.spend, .hourly.limit, .hourly.pct]')" "[0.004,0.005,0.8]"
lf_req PUT /api/budget '{"max_daily_usd": 0}'

# ---- the rolling hour -----------------------------------------------------------
H=$(spawn hourly m-hourly)
lf_req PUT "/api/budget/agents/$H" '{"max_cost_per_hour_usd": 0.01}'
steps m-hourly 3 10 10
lf_psql "INSERT INTO runtime.usage_records (agent_id, provider, model, cost_usd, at) VALUES ('$H', 'openai', 'm-hourly', 0.009, now() - interval '59 minutes')" >/dev/null
lf_req POST "/api/agents/$H/message" '{"message": "go"}'
t_ok "\$0.009 spent 59 minutes ago counts: 429" is_budget_429 "hourly cost quota"
lf_psql "UPDATE runtime.usage_records SET at = now() - interval '61 minutes' WHERE agent_id = '$H'" >/dev/null
lf_req POST "/api/agents/$H/message" '{"message": "go"}'
t_eq "61 minutes ago it has left the window: 200" "$LF_STATUS" 200
lf_req PUT "/api/budget/agents/$H" '{"max_cost_per_day_usd": 0.01}'
lf_req POST "/api/agents/$H/message" '{"message": "go"}'
# (In the first hour of a UTC day that row is yesterday's.)
if [ "$(lf_psql "SELECT now() - interval '61 minutes' >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")" = t ]; then
	t_eq "a daily limit still counts it: 429" "$LF_STATUS" 429
	t_eq "the provider saw one request" "$(nreq m-hourly)" 1
else
	t_eq "a daily limit does not count yesterday's row: 200" "$LF_STATUS" 200
	t_eq "the provider saw two requests" "$(nreq m-hourly)" 2
fi

# ---- a reservation left by a replica that died ----------------------------------
E=$(spawn orphan m-orphan)
lf_req PUT "/api/budget/agents/$E" '{"max_cost_per_hour_usd": 0.01}'
steps m-orphan 2 10 10
lf_psql "INSERT INTO runtime.budget_reservations VALUES ('11111111-1111-4111-8111-111111111111', '$E', 0.009, 100, now() + interval '10 minutes')" >/dev/null
lf_req POST "/api/agents/$E/message" '{"message": "go"}'
t_ok "a live reservation of another turn counts: 429" is_budget_429 "hourly cost quota"
lf_psql "UPDATE runtime.budget_reservations SET expires_at = now() - interval '1 second'" >/dev/null
lf_req POST "/api/agents/$E/message" '{"message": "go"}'
t_eq "once expired (its replica died) it does not: 200" "$LF_STATUS" 200
t_eq "the provider saw one request" "$(nreq m-orphan)" 1
lf_psql "DELETE FROM runtime.budget_reservations" >/dev/null

# ---- token quotas ---------------------------------------------------------------
T=$(spawn tokens m-tokens '[resources]
max_llm_tokens_per_hour = 3000
burst_ratio = 1')
steps m-tokens 3 1000 1000
lf_req POST "/api/agents/$T/message" '{"message": "go"}'
t_eq "manifest quota 3000 tokens/hour: turn 1 (2000 tokens) is 200" "$LF_STATUS" 200
lf_req POST "/api/agents/$T/message" '{"message": "go"}'
t_ok "turn 2 (2000 + ~1000 reserved) is 429 ($(jb .error))" is_budget_429 "Token limit exceeded"
t_eq "the provider saw one request" "$(nreq m-tokens)" 1
lf_req GET "/api/budget/agents/$T"
t_eq "its tokens: 2000 used of 3000" "$(jbc '[.tokens.used, .tokens.limit]')" "[2000,3000]"
D=$(spawn deftok m-deftok '[resources]
burst_ratio = 1')
lf_req PUT /api/budget '{"default_max_llm_tokens_per_hour": 2500}'
steps m-deftok 3 1000 1000
lf_req POST "/api/agents/$D/message" '{"message": "go"}'
t_eq "global default 2500 tokens/hour: turn 1 is 200" "$LF_STATUS" 200
lf_req POST "/api/agents/$D/message" '{"message": "go"}'
t_ok "turn 2 is 429" is_budget_429 "Token limit exceeded"
lf_req PUT "/api/budget/agents/$D" '{"max_llm_tokens_per_hour": 100000}'
lf_req POST "/api/agents/$D/message" '{"message": "go"}'
t_eq "the agent's own quota wins over the default: 200" "$LF_STATUS" 200
lf_req PUT /api/budget '{"default_max_llm_tokens_per_hour": 0}'
# The burst (notes 4.4): in any minute at most burst_ratio (default 0.2)
# of the hourly quota: 3000 of 15000 here.
U=$(spawn burst m-burst '[resources]
max_llm_tokens_per_hour = 15000')
steps m-burst 3 1000 1000
lf_req POST "/api/agents/$U/message" '{"message": "go"}'
t_eq "quota 15000/hour, burst 0.2: turn 1 (2000 tokens) is 200" "$LF_STATUS" 200
lf_req POST "/api/agents/$U/message" '{"message": "go"}'
t_ok "turn 2 in the same minute is 429 ($(jb .error))" is_budget_429 "Token burst limit exceeded"
lf_psql "UPDATE runtime.usage_records SET at = at - interval '2 minutes' WHERE agent_id = '$U'" >/dev/null
lf_req POST "/api/agents/$U/message" '{"message": "go"}'
t_eq "once the minute has passed (the hour has room): 200" "$LF_STATUS" 200
t_eq "the provider saw two requests" "$(nreq m-burst)" 2

# ---- compaction is a provider call too -----------------------------------------
K=$(spawn compact m-compact)
steps m-compact 7 10 10
for i in 1 2 3 4 5 6; do
	lf_req POST "/api/agents/$K/message" "{\"message\": \"fact $i\"}"
done
t_eq "six turns of history" "$LF_STATUS $(nreq m-compact)" "200 6"
lf_req PUT "/api/budget/agents/$K" '{"max_cost_per_hour_usd": 0.001}'
lf_req POST "/api/agents/$K/session/compact" '{}'
t_ok "a compaction whose summary call would pass the limit is 429 ($(jb .error))" is_budget_429 "exceeded hourly cost quota"
t_eq "  before the provider" "$(nreq m-compact)" 6
lf_req PUT "/api/budget/agents/$K" '{"max_cost_per_hour_usd": 1}'
lf_req POST "/api/agents/$K/session/compact" '{}'
t_eq "under a limit it fits: 200" "$LF_STATUS" 200
t_eq "  and the provider was asked" "$(nreq m-compact)" 7

# ---- a streamed turn whose reservation runs out ---------------------------------
# Call 1 (a tool call) spends $0.0055; call 2 would reserve 0.0055 +
# 0.003 > $0.008: the turn stops before it.
S=$(spawn streamer m-stream '[capabilities]
tools = ["file_write"]')
lf_req PUT "/api/budget/agents/$S" '{"max_cost_per_hour_usd": 0.008}'
lf_fake_script '{"model":"m-stream","steps":[{"tool_calls":[{"name":"file_write","arguments":{"path":"b.txt","content":"paid"}}],"usage":{"input_tokens":1000,"output_tokens":1500}},{"text":"never asked"}]}'
timeout 30 curl -s -N -m 25 -H 'Content-Type: application/json' -d '{"message": "write it"}' \
    "$LF_URL/api/agents/$S/message/stream" > "$LF_TMP/sse.out"
t_eq "the stream ended (curl exit 0)" "$?" 0
EVENTS=$(grep '^event:' "$LF_TMP/sse.out" | sed 's/^event: *//' | uniq | tr '\n' ' ')
t_ok "SSE: tool_use, tool_result, then error ($EVENTS)" bash -c "[[ \"\$0\" == *tool_use*tool_result*error* && \"\$0\" != *done* ]]" "$EVENTS"
t_ok "the error says budget_exceeded" bash -c "grep -A1 '^event: error' \"\$0\" | grep -q 'budget_exceeded: Agent .* exceeded hourly cost quota'" "$LF_TMP/sse.out"
t_eq "the provider saw one request" "$(nreq m-stream)" 1
lf_req GET "/api/agents/$S/session"
t_eq "the session was saved: the question, the tool call with its result" \
    "$(jbc '[.messages[] | [.role, (.tools // [] | map(.name + ": " + .result))]]')" \
    '[["User",[]],["Assistant",["file_write: Successfully wrote 4 bytes to b.txt"]]]'
t_eq "the spend of the first call is recorded (\$0.0055)" \
    "$(lf_psql "SELECT round(sum(cost_usd)::numeric, 6) FROM runtime.usage_records WHERE agent_id = '$S'")" "0.005500"
t_eq "and no reservation is left" "$(lf_psql 'SELECT count(*) FROM runtime.budget_reservations')" 0

# ---- days and months from the totals ------------------------------------------
# A turn's row of two hours ago (within this month) is summed into the
# global totals by the first call that checks a global day or month; each
# call after adds the totals and the rows since, never both.  The totals
# the checks above made would not see a row stamped before their end (a
# turn's row is stamped when written): start them again.
M=$(spawn monthly m-month)
steps m-month 3 10 10
lf_psql "DELETE FROM runtime.budget_totals" >/dev/null
lf_psql "INSERT INTO runtime.usage_records (agent_id, provider, model, cost_usd, at) VALUES ('$M', 'openai', 'm-month', 1.2, greatest(now() - interval '2 hours', date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 minute'))" >/dev/null
SPENT=$(lf_psql "SELECT sum(cost_usd) FROM runtime.usage_records WHERE at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")
lf_req PUT /api/budget "{\"max_monthly_usd\": $(jq -n --argjson s "$SPENT" '$s + 0.001')}"
lf_req POST "/api/agents/$M/message" '{"message": "go"}'
t_ok "global monthly: the month's spend + this call is over: 429 ($(jb .error))" is_budget_429 "Global monthly budget exceeded"
t_ok "  the complete hours were rolled up ($(lf_psql "SELECT upto, round(month_usd::numeric, 4) FROM runtime.budget_totals WHERE scope = '00000000-0000-0000-0000-000000000000'"))" \
    test "$(lf_psql "SELECT count(*) > 0 FROM runtime.budget_totals WHERE scope = '00000000-0000-0000-0000-000000000000' AND (month_usd >= 1.2 OR upto <= (SELECT max(at) FROM runtime.usage_records WHERE agent_id = '$M'))")" = t
lf_req PUT /api/budget "{\"max_monthly_usd\": $(jq -n --argjson s "$SPENT" '$s + 0.5')}"
lf_req POST "/api/agents/$M/message" '{"message": "go"}'
t_eq "with room for the call (counted once, not twice: 1.2 more would refuse it): 200" "$LF_STATUS" 200
lf_req PUT /api/budget "{\"max_monthly_usd\": 0, \"max_daily_usd\": $(jq -n --argjson s "$SPENT" '$s + 0.5')}"
lf_req POST "/api/agents/$M/message" '{"message": "go"}'
t_eq "a global daily limit reads the same totals: 200" "$LF_STATUS" 200
t_eq "the provider saw two requests" "$(nreq m-month)" 2
lf_req PUT /api/budget '{"max_daily_usd": 0}'

# ---- an agent's days and months from its own totals ----------------------------
# Its row of two hours ago is summed into the agent's totals by its first
# check of a day or month; later checks add the totals and the rows
# since, never both; a row of last month counts in no window.
MON0="date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
N=$(spawn agentmonth m-amonth)
steps m-amonth 3 10 10
lf_psql "INSERT INTO runtime.usage_records (agent_id, provider, model, cost_usd, at) VALUES ('$N', 'openai', 'm-amonth', 1.2, greatest(now() - interval '2 hours', $MON0 + interval '1 minute')), ('$N', 'openai', 'm-amonth', 5, $MON0 - interval '1 day')" >/dev/null
lf_req PUT "/api/budget/agents/$N" '{"max_cost_per_month_usd": 1.2}'
lf_req POST "/api/agents/$N/message" '{"message": "go"}'
t_ok "agent monthly: the month's 1.2 + this call is over: 429 ($(jb .error))" is_budget_429 "Agent $N exceeded monthly cost quota"
t_ok "  its totals hold the complete hours ($(lf_psql "SELECT upto, round(month_usd::numeric, 4) FROM runtime.budget_totals WHERE scope = '$N'"))" \
    test "$(lf_psql "SELECT count(*) > 0 FROM runtime.budget_totals WHERE scope = '$N' AND (month_usd = 1.2 OR upto <= now() - interval '2 hours')")" = t
lf_req PUT "/api/budget/agents/$N" '{"max_cost_per_month_usd": 1.25}'
lf_req POST "/api/agents/$N/message" '{"message": "go"}'
t_eq "with room for the call (counted once, last month not at all): 200" "$LF_STATUS" 200
lf_req PUT "/api/budget/agents/$N" '{"max_cost_per_month_usd": 0, "max_cost_per_day_usd": 1.25}'
lf_req POST "/api/agents/$N/message" '{"message": "go"}'
t_eq "an agent daily limit reads the same totals: 200" "$LF_STATUS" 200
t_eq "its provider saw two requests" "$(nreq m-amonth)" 2

# ---- the totals across a day's and a month's end ---------------------------------
# budget_totals_advance() takes the hour to sum up to and the day and
# month it is in, so a scope of rows in 2020 walks over 1 February: the
# totals start from this month's rows only, a new day and a new month
# start from 0, an hour is summed once, expired reservations go.
X=00000000-0000-4000-8000-00000000e001
adv() {	# adv RT DAY0 MON0 -> upto|day_usd|month_usd (after psql's "SET")
	lf_psql "SET search_path TO runtime; SELECT to_char(upto AT TIME ZONE 'UTC', 'MM-DD HH24'), day_usd, month_usd FROM budget_totals_advance('$X', '$X', '$1+00', '$2 00:00+00', '$3 00:00+00')" | tail -n 1
}
lf_psql "INSERT INTO runtime.usage_records (agent_id, provider, model, cost_usd, at) VALUES
    ('$X', 'p', 'm', 16, '2019-12-31 12:00+00'), ('$X', 'p', 'm', 1, '2020-01-31 22:30+00'),
    ('$X', 'p', 'm', 2, '2020-01-31 23:30+00'), ('$X', 'p', 'm', 4, '2020-02-01 00:30+00'),
    ('$X', 'p', 'm', 8, '2020-02-01 01:30+00')" >/dev/null
lf_psql "INSERT INTO runtime.budget_reservations VALUES ('00000000-0000-4000-8000-00000000e0e1', '$X', 1, 1, now() - interval '1 second'), ('00000000-0000-4000-8000-00000000e0e2', '$X', 1, 1, now() + interval '1 hour')" >/dev/null
t_eq "first totals: this month's rows before 23:00 (not December's)" "$(adv '2020-01-31 23:00' 2020-01-31 2020-01-01)" "01-31 23|1|1"
t_eq "  the expired reservation is gone, the live one stays" \
    "$(lf_psql "SELECT string_agg(right(turn_key::text, 2), ',') FROM runtime.budget_reservations WHERE agent_id = '$X'")" e2
t_eq "the same hour again: unchanged" "$(adv '2020-01-31 23:00' 2020-01-31 2020-01-01)" "01-31 23|1|1"
t_eq "at 00:05 of a new day and month: both from 0 (23:30 was January's)" "$(adv '2020-02-01 00:00' 2020-02-01 2020-02-01)" "02-01 00|0|0"
t_eq "two hours on: that day's and month's rows, each once" "$(adv '2020-02-01 02:00' 2020-02-01 2020-02-01)" "02-01 02|12|12"
t_eq "a new day in the same month keeps the month" "$(adv '2020-02-02 01:00' 2020-02-02 2020-02-01)" "02-02 01|0|12"
lf_psql "DELETE FROM runtime.budget_reservations WHERE agent_id = '$X'" >/dev/null

t_done
