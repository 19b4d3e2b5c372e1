#!/usr/bin/env bash
# The fake LLM provider (tests/fakes/fake-llm.mjs) that the agent-runtime
# tests and the bench point providers at: a few checks from the shell
# (start line, latency, key, scripting and recording over curl), then
# tests/e2e/fake-llm.test.mjs, which checks its OpenAI wire format with the
# official `openai` npm client and its Anthropic and Gemini event order with
# plain fetch.  That script's TAP results are renumbered into this one.
# tests/e2e/node_modules comes from deploy/deps.sh (run by `make test`);
# without it this test fails.
. "$(dirname "$0")/../lib.sh"

E2E=$LF_ROOT/tests/e2e

command -v node >/dev/null 2>&1 || {
	echo "not ok 1 - node is not installed (deploy/deps.sh installs it)"
	T_FAILED=1; exit 1; }
[ -f "$E2E/node_modules/openai/package.json" ] || {
	echo "not ok 1 - $E2E/node_modules is missing: run deploy/deps.sh (or npm ci --prefix tests/e2e)"
	T_FAILED=1; exit 1; }

jq_() { printf '%s' "$1" | jq -r "$2" 2>/dev/null; }

# ---- from the shell --------------------------------------------------------------
lf_fake_start --latency-ms 300 --key sekrit
t_ok "the first line is 'listening <port>'" grep -qE '^listening [0-9]+$' <<<"$(head -n 1 "$LF_FAKE_OUT")"

STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$LF_FAKE_URL/__fake/script" \
    -d '{"model": "sh", "steps": [{"text": "from the script"}]}')
t_eq "POST /__fake/script is 200" "$STATUS" 200

T0=$(date +%s%N)
BODY=$(curl -s "$LF_FAKE_URL/v1/chat/completions" -H 'Authorization: Bearer sekrit' \
    -d '{"model": "sh", "messages": [{"role": "user", "content": "hi"}]}')
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
t_eq "the scripted step answers" "$(jq_ "$BODY" '.choices[0].message.content')" "from the script"
t_ok "--latency-ms 300 delays the answer (took ${MS} ms)" test "$MS" -ge 290
BODY=$(curl -s "$LF_FAKE_URL/v1/chat/completions" -H 'Authorization: Bearer sekrit' \
    -d '{"model": "sh", "messages": [{"role": "user", "content": "again"}]}')
t_eq "an empty queue echoes the last user text" "$(jq_ "$BODY" '.choices[0].message.content')" "echo: again"

STATUS=$(curl -s -o "$LF_TMP/body" -w '%{http_code}' "$LF_FAKE_URL/v1/chat/completions" \
    -H 'Authorization: Bearer wrong' -d '{"model": "sh", "messages": []}')
t_eq "a wrong key is 401 in the OpenAI error shape" "$STATUS $(jq -r '.error | has("message")' "$LF_TMP/body")" "401 true"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$LF_FAKE_URL/v1/messages" \
    -H 'x-api-key: sekrit' -H 'anthropic-version: 2023-06-01' -d '{"model": "sh", "max_tokens": 5, "messages": []}')
t_eq "the right key in x-api-key is accepted" "$STATUS" 200

BODY=$(curl -s "$LF_FAKE_URL/__fake/requests?model=sh")
t_eq "/__fake/requests?model= records every request for the model, oldest first" \
    "$(jq_ "$BODY" '[.[] | "\(.style) \(.headers.authorization // .headers["x-api-key"]) \(.body.messages[0].content // "-")"] | join(",")')" \
    "openai Bearer sekrit hi,openai Bearer sekrit again,openai Bearer wrong -,anthropic sekrit -"
curl -s -o /dev/null -X POST "$LF_FAKE_URL/__fake/reset"
t_eq "/__fake/reset clears the records" "$(curl -s "$LF_FAKE_URL/__fake/requests")" "[]"
lf_stop "$LF_FAKE_NAME"

# ---- with the official openai client (tests/e2e) --------------------------------------
t_node fake-llm.test.mjs 29

t_done
