#!/usr/bin/env bash
# t6045-budget-stream-cut.sh - a streamed turn stops cleanly when its
# reservation runs out (issue 10 item 4): the provider is sent max_tokens
# (50 here) but streams far past it (the fake never honours max_tokens);
# once the counted output (~4 characters a token) passes what the call
# reserved, agent-runtime stops reading, keeps what was shown as the
# assistant's message, records the output consumed, and ends the turn
# with 429 budget_exceeded: over SSE an `error` event, over
# /v1/chat/completions an error frame then [DONE].  Not a hang, not a cut
# socket; the history stays valid (the next turn sends it); the recorded
# cost stays within the limit (plus one chunk); a BudgetExceeded entry is
# recorded.  A turn without any limit streams its whole answer.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-stream-cut-0123456789
lf_fake_start
lf_stack_start agent-runtime audit
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not answer"; lf_dump_logs; exit 1; }

# 400 words of 9 characters: ~900 output tokens, streamed a word every
# 5 ms (2 s whole) when nothing cuts it.
LONG=$(for i in $(seq -w 1 400); do printf 'word%s ' "$i"; done)
long_step() {
	lf_fake_script "$(jq -nc --arg m "$1" --arg t "$LONG" \
	    '{model: $m, steps: [{text: $t, chunk_delay_ms: 5}]}')"
}
nreq() { lf_fake_requests "$1" | jq length; }
# sse_text FILE: the text of the chunk events in an SSE capture.
sse_text() {
	awk '/^event: /{ev = $2} /^data: /{if (ev == "chunk") {sub(/^data: /, ""); print}}' "$1" |
	    jq -rj '.content // empty'
}
has_entry() {
	lf_req GET '/api/audit/recent?limit=500'
	[ "$(jb --arg a "$1" --arg t "$2" '[.entries[] | select(.action == $a and (.detail | contains($t)))] | length')" -ge 1 ]
}

# $0.002 an hour: the call reserves about $0.0005 (its input, plus 50
# tokens at the fallback $3/M), the whole answer would cost $0.0027+.
# The figures are the bare prompt's: the agent has no skills (all of
# them, the bundled ones included, would add ~600 input tokens a call).
LIMIT=0.002
lf_req POST /api/agents "$(lf_spawn_json "skills_disabled = true
$(lf_fake_toml cutter m-cut 'max_tokens = 50')")"
S=$(jb .agent_id)
t_eq "an agent with max_tokens 50 is spawned" "$LF_STATUS" 201
lf_req PUT "/api/budget/agents/$S" "{\"max_cost_per_hour_usd\": $LIMIT}"
t_eq "with an hourly limit of \$$LIMIT" "$LF_STATUS" 200

# ---- over SSE -------------------------------------------------------------------
long_step m-cut
T0=$(lf_ms)
timeout 30 curl -s -N -m 25 -H 'Content-Type: application/json' -d '{"message": "tell me everything"}' \
    "$LF_URL/api/agents/$S/message/stream" > "$LF_TMP/sse.out"
RC=$?
MS=$(( $(lf_ms) - T0 ))
t_eq "the stream ended on its own (curl exit 0, in ${MS} ms)" "$RC" 0
t_eq "the provider was sent max_tokens 50" "$(lf_fake_requests m-cut | jq -c '[.[].body.max_tokens // .[].body.max_completion_tokens]')" '[50]'
EVENTS=$(grep '^event:' "$LF_TMP/sse.out" | sed 's/^event: *//' | uniq | tr '\n' ' ')
t_eq "SSE: chunks, then error, no done" "$EVENTS" "chunk error "
t_ok "the error event is the last one and says budget_exceeded" \
    bash -c "[ \"\$(grep '^event:' \"\$0\" | tail -1)\" = 'event: error' ] && grep -A1 '^event: error' \"\$0\" | grep -q 'budget_exceeded: Agent .cutter.: the streamed answer was cut'" "$LF_TMP/sse.out"
SHOWN=$(sse_text "$LF_TMP/sse.out")
t_ok "the client was shown the start of the answer (${#SHOWN} chars)" \
    bash -c "[[ \"$LONG\" == \"\$0\"* ]] && [ \${#0} -ge 150 ]" "$SHOWN"
t_ok "  and no more than 50 tokens and one chunk (<= 209 chars)" test "${#SHOWN}" -le 209

lf_req GET "/api/agents/$S/session"
t_eq "the session keeps the question and the text shown as the answer" \
    "$(jbc '[.messages[] | .role]')" '["User","Assistant"]'
t_eq "  word for word" "$(jb '.messages[1].content')" "$(printf '%s' "$SHOWN" | sed 's/ *$//')"

row() { lf_psql "SELECT $1 FROM runtime.usage_records WHERE agent_id = '$S' ORDER BY at DESC LIMIT 1"; }
OUT=$(row output_tokens)
t_ok "the usage row counts the output streamed ($OUT tokens: 50 and at most one chunk)" \
    bash -c "[ \"\$0\" -ge 50 ] && [ \"\$0\" -le 53 ]" "$OUT"
COST=$(row cost_usd)
t_ok "its cost (\$$COST) is within the limit, not the \$0.0027 of the whole answer" \
    awk -v c="$COST" -v l="$LIMIT" 'BEGIN { exit !(c > 0 && c <= l) }'
t_eq "no reservation is left" "$(lf_psql 'SELECT count(*) FROM runtime.budget_reservations')" 0
t_ok "a BudgetExceeded entry is recorded" lf_poll 200 has_entry BudgetExceeded \
    "Agent 'cutter': the streamed answer was cut at ~"
t_ok "and the turn's AgentMessage says why it failed" lf_poll 200 has_entry AgentMessage \
    "Agent 'cutter' message turn failed (429): budget_exceeded"

# The history is valid: the next turn sends it, the cut answer included.
lf_fake_script '{"model":"m-cut","steps":[{"text":"short one"}]}'
lf_req POST "/api/agents/$S/message" "$(lf_msg_json 'and now briefly')"
t_eq "the next turn answers" "$LF_STATUS $(jb .response)" "200 short one"
t_eq "and sent the history: user, the cut answer, user" \
    "$(lf_fake_requests m-cut | jq -c '.[-1].body.messages | map(select(.role != "system")) | [.[].role, (.[1].content | startswith("word001 word002"))]')" \
    '["user","assistant","user",true]'

# ---- over /v1/chat/completions ----------------------------------------------------
lf_req PUT "/api/budget/agents/$S" '{"max_cost_per_hour_usd": 0.02}'
t_eq "room for another call" "$LF_STATUS" 200
long_step m-cut
timeout 30 curl -s -N -m 25 -H 'Content-Type: application/json' \
    -d '{"model":"librefang:cutter","stream":true,"messages":[{"role":"user","content":"again, everything"}]}' \
    "$LF_URL/v1/chat/completions" > "$LF_TMP/oai.out"
t_eq "/v1 stream ended on its own (curl exit 0)" "$?" 0
FRAMES=$(grep '^data: ' "$LF_TMP/oai.out" | sed 's/^data: //')
t_ok "content chunks came first" \
    bash -c "printf '%s\n' \"\$0\" | grep -v '^\[DONE\]' | jq -e -s 'map(.choices[0].delta.content // empty) | join(\"\") | startswith(\"word001\")' >/dev/null" "$FRAMES"
t_eq "then an error frame: budget_exceeded, rate_limit_error, then [DONE]" \
    "$(printf '%s\n' "$FRAMES" | tail -2 | head -1 | jq -c '[(.error.message | startswith("budget_exceeded: Agent '"'"'cutter'"'"'")), .error.type]') $(printf '%s\n' "$FRAMES" | tail -1)" \
    '[true,"rate_limit_error"] [DONE]'
t_eq "no reservation is left" "$(lf_psql 'SELECT count(*) FROM runtime.budget_reservations')" 0

# ---- without a limit nothing is cut ----------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml free m-free 'max_tokens = 50')")"
F=$(jb .agent_id)
long_step m-free
timeout 30 curl -s -N -m 25 -H 'Content-Type: application/json' -d '{"message": "tell me everything"}' \
    "$LF_URL/api/agents/$F/message/stream" > "$LF_TMP/free.out"
t_eq "without a limit the stream ends with done" \
    "$(grep '^event:' "$LF_TMP/free.out" | tail -1)" "event: done"
t_eq "  and the whole answer was shown" "$(sse_text "$LF_TMP/free.out")" "$LONG"

lf_stack_stop
t_done
