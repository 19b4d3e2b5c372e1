#!/usr/bin/env bash
# t6042-budget-replicas.sh - two agent-runtime replicas, eight turns at
# once on one agent (eight sessions, so the session lock does not order
# them): the reservations in PostgreSQL let exactly as many through as
# the limit holds, whichever replica runs them; the fake provider's
# request count and the recorded cost prove it.  The same for the global
# limit with eight agents at once.  Without reservations every turn
# would see nothing spent and all eight would call the provider.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-budget-0123456789
lf_fake_stack agent-runtime
LIBREFANG_LOG_LEVEL=debug t_ok "a second replica joins" \
    lf_replica agent-runtime-2 agent-runtime

# Each call reserves ~$0.0035 (its prompt, ~500 tokens at $1/M, and
# max_tokens 1000 at $3/M) and spends $0.0031 (100 in, 1000 out): under
# $0.01 two fit, a third would reserve past it.  The provider takes 3 s,
# so all eight reserve (or are refused) while the first two still run.
spawn() { lf_agent "$1" "$2" "max_tokens = 1000"; }
steps() {
	lf_fake_script "$(jq -nc --arg m "$1" --argjson n "$2" \
	    '{model: $m, steps: [range($n) | {text: "ok", delay_ms: 3000, usage: {input_tokens: 100, output_tokens: 1000}}]}')"
}
# fire OUTDIR URL... : one POST per URL (body in $BODY_i), all at once;
# statuses in OUTDIR/status-i.
fire() {
	local dir=$1 i=0 pids=()
	shift
	mkdir -p "$dir"
	for u in "$@"; do
		i=$((i + 1))
		timeout 60 curl -s -o "$dir/body-$i" -w '%{http_code}' -X POST \
		    -H 'Content-Type: application/json' -d "$(eval echo "\$BODY_$i")" \
		    "$LF_URL$u" > "$dir/status-$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
}
count() { grep -lx "$2" "$1"/status-* | wc -l; }

# ---- one agent, its own hourly limit ---------------------------------------
A=$(spawn racer m-race)
URLS=()
for i in $(seq 8); do
	lf_req POST "/api/agents/$A/sessions" '{}'
	eval "BODY_$i=\$(jq -nc --arg s \"\$(jb .session_id)\" '{message: \"go\", session_id: \$s}')"
	URLS+=("/api/agents/$A/message")
done
lf_req PUT "/api/budget/agents/$A" '{"max_cost_per_hour_usd": 0.01}'
steps m-race 8
fire "$LF_TMP/agent" "${URLS[@]}"
OK=$(count "$LF_TMP/agent" 200)
REFUSED=$(count "$LF_TMP/agent" 429)
t_eq "8 turns at once: 2 answered, 6 refused with 429" "$OK $REFUSED" "2 6"
t_eq "the refusals say budget_exceeded" "$(grep -l 'budget_exceeded: Agent' "$LF_TMP"/agent/body-* | wc -l)" 6
t_eq "the provider saw 2 requests" "$(lf_fake_requests m-race | jq length)" 2
t_ok "the recorded cost stays under the limit ($(lf_psql "SELECT sum(cost_usd) FROM runtime.usage_records WHERE agent_id = '$A'"))" \
    test "$(lf_psql "SELECT sum(cost_usd) <= 0.01 FROM runtime.usage_records WHERE agent_id = '$A'")" = t
t_ok "both replicas ran turns of the race" \
    grep -q 'agents.message .* -> deferred' "$LF_TMP/log/agent-runtime-2.log"
t_eq "no reservation is left" "$(lf_psql 'SELECT count(*) FROM runtime.budget_reservations')" 0

# ---- eight agents, the global limit -----------------------------------------
lf_req PUT /api/budget '{"max_hourly_usd": 0.0162}'
# 0.0062 is spent already: two more calls fit, a third would not.
URLS=()
for i in $(seq 8); do
	B=$(spawn "g-$i" m-global)
	eval "BODY_$i='{\"message\": \"go\"}'"
	URLS+=("/api/agents/$B/message")
done
steps m-global 8
fire "$LF_TMP/global" "${URLS[@]}"
t_eq "8 agents at once under the global hourly limit: 2 answered, 6 refused" \
    "$(count "$LF_TMP/global" 200) $(count "$LF_TMP/global" 429)" "2 6"
t_eq "the provider saw 2 requests" "$(lf_fake_requests m-global | jq length)" 2
t_ok "all spend stays under the global limit ($(lf_psql 'SELECT sum(cost_usd) FROM runtime.usage_records'))" \
    test "$(lf_psql 'SELECT sum(cost_usd) <= 0.0162 FROM runtime.usage_records')" = t
lf_req GET /api/budget
t_eq "GET /api/budget agrees: hourly spend 4 x \$0.0031" "$(jb '.hourly_spend | . * 10000 | round')" 124

t_done
