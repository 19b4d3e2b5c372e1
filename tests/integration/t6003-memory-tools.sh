#!/usr/bin/env bash
# t6003-memory-tools.sh - the agents' memory tools (issue 10, part
# "memory"), run through toolrun against the real memory service:
# memory_store / memory_recall (kv_set / kv_get) by key, memory_recall
# with a query searching the agent's proactive memories, memory_store with
# content adding one, memory_list, memory_forget by key and by memory id;
# each obeys the manifest's memory_read / memory_write globs; one agent's
# memory is never visible to (nor deletable by) another through them.
. "$(dirname "$0")/../lib.sh"

toolrun() { "$LF_BIN/toolrun" "$@" 2>/dev/null; }
tr_get() { printf '%s' "$1" | jq -r "$2" 2>/dev/null; }

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_fake_stack agent-runtime memory

A=$(lf_agent tools-a m-a)
B=$(lf_agent tools-b m-b)
SELF='{"capabilities":{"memory_read":["self.*"],"memory_write":["self.*"]}}'
ALL='{"capabilities":{"memory_read":["*"],"memory_write":["*"]}}'
NONE='{"capabilities":{}}'

OUT=$(toolrun -a "$A" -m "$SELF" memory_store '{"key":"self.lang","value":"C"}')
t_eq "memory_store stores" "$(tr_get "$OUT" '"\(.is_error) \(.content)"')" "false Stored value under key 'self.lang'."
toolrun -a "$A" -m "$SELF" memory_store '{"key":"self.editor","value":"vi"}' >/dev/null
lf_req PUT "/api/memory/agents/$A/kv/other.secret" '{"value": 1}'
OUT=$(toolrun -a "$A" -m "$SELF" memory_recall '{"key":"self.lang"}')
t_eq "memory_recall by key" "$(tr_get "$OUT" '"\(.is_error) \(.content)"')" 'false "C"'
OUT=$(toolrun -a "$A" -m "$SELF" memory_list '{}')
t_eq "memory_list shows only what memory_read allows" "$(tr_get "$OUT" '.content' | head -1)" '["self.editor","self.lang"]'
OUT=$(toolrun -a "$A" -m "$ALL" memory_list '{"limit":1,"offset":1}')
t_eq "memory_list pages" "$(tr_get "$OUT" '.content')" '["self.editor"]
(1 keys from offset 1 of 3 in all)'
OUT=$(toolrun -a "$A" -m "$SELF" memory_forget '{"key":"other.secret"}')
t_eq "memory_forget outside memory_write is refused" "$(tr_get "$OUT" '.is_error') $(tr_get "$OUT" .content)" \
    "true Permission denied: memory_write does not allow key 'other.secret'"
lf_req GET "/api/memory/agents/$A/kv/other.secret"
t_eq "and the key is still there" "$LF_STATUS" 200
OUT=$(toolrun -a "$A" -m "$SELF" memory_forget '{"key":"self.editor"}')
t_eq "memory_forget deletes" "$(tr_get "$OUT" '"\(.is_error) \(.content)"')" "false Forgot key 'self.editor'."
lf_req GET "/api/memory/agents/$A/kv/self.editor"
t_eq "the key is gone" "$LF_STATUS" 404
OUT=$(toolrun -a "$A" -m "$SELF" memory_forget '{"key":"bad key!"}')
t_eq "a bad key is a soft error" "$(tr_get "$OUT" .is_error)" true

# ---- isolation by key -------------------------------------------------------------
OUT=$(toolrun -a "$B" -m "$ALL" memory_recall '{"key":"self.lang"}')
t_eq "agent B cannot read A's key" "$(tr_get "$OUT" .content)" "No value found for key 'self.lang'."
OUT=$(toolrun -a "$B" -m "$ALL" memory_list '{}')
t_eq "agent B lists none of A's keys" "$(tr_get "$OUT" .content | head -1)" '[]'

# ---- recall by query: proactive memories ----------------------------------------------
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"The deploy window is Tuesday at noon\"}"
lf_req POST /api/memory "{\"agent_id\":\"$B\",\"content\":\"B private: the deploy password rotates monthly\"}"
OUT=$(toolrun -a "$A" -m "$SELF" memory_recall '{"query":"when is the deploy window"}')
t_eq "memory_recall with a query finds A's memory, with why" "$(tr_get "$OUT" .is_error) $(tr_get "$OUT" .content | grep -c 'Tuesday at noon.*matched terms \[')" "false 1"
t_ok "and never B's" bash -c "! grep -q password <<<'$(tr_get "$OUT" .content)'"
OUT=$(toolrun -a "$B" -m "$SELF" memory_recall '{"query":"Tuesday noon"}')
t_eq "B's query does not see A's memory" "$(tr_get "$OUT" .content)" "No memories match 'Tuesday noon'."
OUT=$(toolrun -a "$A" -m "$NONE" memory_recall '{"query":"deploy"}')
t_eq "without any memory_read grant the search is refused" "$(tr_get "$OUT" .is_error) $(tr_get "$OUT" .content)" "true Permission denied: no memory_read grant"
OUT=$(toolrun -a "$A" -m "$SELF" memory_recall '{"query":"\"(( <-> !! :* \u0027"}')
t_eq "a query full of operators is no error" "$(tr_get "$OUT" .is_error)" false

# ---- store and forget proactive memories ----------------------------------------
OUT=$(toolrun -a "$A" -m "$SELF" memory_store '{"content":"The build server is named hal9000","category":"infra"}')
t_eq "memory_store with content adds a memory" "$(tr_get "$OUT" .is_error) $(tr_get "$OUT" .content | cut -c1-13)" "false Stored memory"
MID=$(tr_get "$OUT" .content | grep -oE '[0-9a-f-]{36}')
t_eq "of the agent's own, level agent, from the tool"     "$(lf_psql "SELECT agent_id, level, category, source FROM memory.items WHERE id = '$MID'")" "$A|agent|infra|tool:memory_store"
OUT=$(toolrun -a "$A" -m "$SELF" memory_store '{"content":"The build server is named hal9000!"}')
t_eq "a near-duplicate is not stored twice" "$(tr_get "$OUT" .content)" "Already had a near-identical memory $MID."
OUT=$(toolrun -a "$A" -m "$SELF" memory_recall '{"query":"build server"}')
t_ok "recall finds it" grep -q hal9000 <<<"$(tr_get "$OUT" .content)"
OUT=$(toolrun -a "$A" -m "$NONE" memory_store '{"content":"x"}')
t_eq "without a memory_write grant it is refused" "$(tr_get "$OUT" .content)" "Permission denied: no memory_write grant"
OUT=$(toolrun -a "$B" -m "$ALL" memory_forget "{\"memory_id\":\"$MID\"}")
t_eq "agent B cannot forget A's memory" "$(tr_get "$OUT" .content)" "No memory $MID."
t_eq "it is still there" "$(lf_psql "SELECT deleted_at IS NULL FROM memory.items WHERE id = '$MID'")" t
OUT=$(toolrun -a "$A" -m "$SELF" memory_forget "{\"memory_id\":\"$MID\"}")
t_eq "agent A forgets it" "$(tr_get "$OUT" .content)" "Forgot memory $MID."
OUT=$(toolrun -a "$A" -m "$SELF" memory_recall '{"query":"build server"}')
t_eq "then recall does not find it" "$(tr_get "$OUT" .content)" "No memories match 'build server'."
OUT=$(toolrun -a "$A" -m "$SELF" memory_forget '{"memory_id":"nope"}')
t_eq "a bad memory id is a soft error" "$(tr_get "$OUT" .is_error)" true

t_done
