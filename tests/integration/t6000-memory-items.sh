#!/usr/bin/env bash
# t6000-memory-items.sh - proactive memory over HTTP (issue 10, part
# "memory"): add (content and messages, near-duplicates not added twice),
# list (all, by user, by agent, level filter), update with edit history,
# delete, bulk delete, clear by level and by agent, count, stats, decay,
# cleanup, export and import (all or nothing), relations; one agent's
# memories never show under another; unknown agents and bad ids are 4xx.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_fake_stack agent-runtime memory

A=$(lf_agent mem-a m-a)
B=$(lf_agent mem-b m-b)
NOBODY=11111111-2222-4333-8444-555555555555

# ---- add --------------------------------------------------------------------------
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"user_id\":\"u1\",\"content\":\"The user prefers dark roast coffee in the morning\",\"level\":\"user\",\"category\":\"preference\",\"metadata\":{\"src\":\"chat\"}}"
t_eq "add one item: 200, added 1, event ADD" "$LF_STATUS $(jb .added) $(jb '.memories[0].event')" "200 1 ADD"
M1=$(jb '.memories[0].item.id')
t_eq "the item carries its fields" "$(jbc '.memories[0].item | [.content, .level, .category, .metadata, .agent_id, .user_id, .confidence, .access_count]')" \
    "[\"The user prefers dark roast coffee in the morning\",\"user\",\"preference\",{\"src\":\"chat\"},\"$A\",\"u1\",1,0]"
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"messages\":[{\"role\":\"user\",\"content\":\"Project Zephyr ships on Friday\"},{\"role\":\"system\",\"content\":\"ignored\"},{\"role\":\"assistant\",\"content\":\"The staging database is PostgreSQL 15\"}]}"
t_eq "add messages: each non-system message is an item" "$LF_STATUS $(jb .added) $(jbc '[.memories[].event]')" '200 2 ["ADD","ADD"]'
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"The user prefers dark roast coffee in the morning!\"}"
t_eq "a near-duplicate is not added again (NOOP, the kept item)" "$(jb .added) $(jb '.memories[0].event') $(jb '.memories[0].item.id')" "0 NOOP $M1"
lf_req POST /api/memory "{\"agent_id\":\"$B\",\"content\":\"Agent B secret: the vault code is 4471\",\"level\":\"agent\"}"
t_eq "agent B adds its own" "$LF_STATUS $(jb .added)" "200 1"
MB=$(jb '.memories[0].item.id')

# ---- list -----------------------------------------------------------------------------
lf_req GET "/api/memory/agents/$A"
t_eq "agent A lists its 3 items, B's not among them" "$LF_STATUS $(jb .total) $(jb .agent_id) $(jbc '[.memories[].content] | any(test("vault"))')" "200 3 $A false"
lf_req GET "/api/memory/agents/$B"
t_eq "agent B sees only its own" "$(jb .total) $(jb '.memories[0].content')" "1 Agent B secret: the vault code is 4471"
lf_req GET "/api/memory/user/u1"
t_eq "by user" "$LF_STATUS $(jb .total) $(jb .user_id) $(jb '.memories[0].id')" "200 1 u1 $M1"
lf_req GET "/api/memory?level=agent"
t_eq "all, filtered by level" "$(jb .total) $(jb '.memories[0].id')" "1 $MB"
lf_req GET "/api/memory?limit=2&offset=1"
t_eq "all, paged" "$(jb .total) $(jb '.memories | length') $(jb .limit) $(jb .offset)" "4 2 2 1"

# ---- update and history -----------------------------------------------------------
lf_req PUT "/api/memory/items/$M1" '{"content":"The user prefers light roast coffee","confidence":0.9}'
t_eq "update: the new content and confidence" "$LF_STATUS $(jb .content) $(jb .confidence)" "200 The user prefers light roast coffee 0.9"
lf_req GET "/api/memory/items/$M1/history"
t_eq "history: ADD then UPDATE with old and new content" "$LF_STATUS $(jbc '[.history[] | [.event, .old_content, .new_content]]')" \
    '200 [["ADD",null,"The user prefers dark roast coffee in the morning"],["UPDATE","The user prefers dark roast coffee in the morning","The user prefers light roast coffee"]]'

# ---- count, stats -------------------------------------------------------------------
lf_req GET "/api/memory/agents/$A/count"
t_eq "count" "$LF_STATUS $(jbc .)" "200 {\"agent_id\":\"$A\",\"count\":3}"
lf_req GET "/api/memory/agents/$A/stats"
t_eq "agent stats" "$LF_STATUS $(jb .total) $(jbc .by_level) $(jb .agent_id)" "200 3 {\"user\":1,\"session\":2,\"agent\":0} $A"
lf_req GET /api/memory/stats
t_eq "global stats" "$LF_STATUS $(jb .total) $(jb .agents)" "200 4 2"

# ---- relations ------------------------------------------------------------------------
lf_req POST "/api/memory/agents/$A/relations" '{"relations":[{"source":"Zephyr","relation":"ships_on","target":"Friday"},{"source":"Zephyr","relation":"uses","target":"PostgreSQL","confidence":0.8},{"source":"Zephyr","relation":"uses","target":"PostgreSQL","confidence":0.7}]}'
t_eq "store relations (a repeated triple once)" "$LF_STATUS $(jb .stored)" "200 2"
lf_req GET "/api/memory/agents/$A/relations?entity=PostgreSQL"
t_eq "query by entity" "$LF_STATUS $(jb .count) $(jbc '.relations[0] | [.source, .relation, .target, .confidence]') $(jbc .entities)" \
    '200 1 ["Zephyr","uses","PostgreSQL",0.7] ["PostgreSQL","Zephyr"]'
lf_req GET "/api/memory/agents/$B/relations"
t_eq "B has no relations of A's" "$(jb .count)" 0
lf_req POST "/api/memory/agents/$A/relations" '{"relations":[{"source":"x","relation":"r"}]}'
t_eq "a triple without target is 400" "$LF_STATUS" 400

# ---- export, import ---------------------------------------------------------------------
lf_req GET "/api/memory/agents/$A/export"
t_eq "export: agent, count, memories with their fields" "$LF_STATUS $(jb .agent_id) $(jb .count) $(jbc '.memories[0] | keys')" \
    "200 $A 3 [\"category\",\"confidence\",\"content\",\"created_at\",\"level\",\"metadata\",\"updated_at\"]"
EXPORT=$(jbc .memories)
lf_req POST "/api/memory/agents/$B/import" "$EXPORT"
t_eq "import A's export into B" "$LF_STATUS $(jbc .)" "200 {\"imported\":3,\"agent_id\":\"$B\"}"
lf_req POST "/api/memory/agents/$B/import" '[{"content":"fine"},{"content":"bad level","level":"cosmic"}]'
t_eq "an import with one bad item is 400" "$LF_STATUS" 400
lf_req GET "/api/memory/agents/$B/count"
t_eq "and writes nothing" "$(jb .count)" 4
lf_req POST "/api/memory/agents/$B/import" '{"content":"not an array"}'
t_eq "an import that is not an array is 400" "$LF_STATUS" 400

# ---- delete, bulk delete, clear -----------------------------------------------------
lf_req DELETE "/api/memory/items/$MB"
t_eq "delete" "$LF_STATUS $(jbc .)" "200 {\"status\":\"deleted\",\"id\":\"$MB\"}"
lf_req DELETE "/api/memory/items/$MB"
t_eq "delete again is 404" "$LF_STATUS $(jb .error)" "404 Memory not found"
lf_req GET "/api/memory/items/$MB/history"
t_eq "the history keeps the delete" "$(jbc '[.history[].event]')" '["ADD","DELETE"]'
lf_req GET "/api/memory/agents/$B"
IDS=$(jbc '[.memories[].id]')
lf_req POST /api/memory/bulk-delete "{\"ids\":$(printf '%s' "$IDS" | jq -c ".[:2] + [\"$NOBODY\"]")}"
t_eq "bulk delete: two of three exist" "$LF_STATUS $(jbc .)" '200 {"deleted":2,"requested":3}'
lf_req POST /api/memory/bulk-delete '{"ids":["not-a-uuid"]}'
t_eq "bulk delete with a bad id is 400" "$LF_STATUS" 400
lf_req DELETE "/api/memory/agents/$A/level/user"
t_eq "clear one level" "$LF_STATUS $(jbc .)" "200 {\"agent_id\":\"$A\",\"deleted\":1,\"level\":\"user\"}"
lf_req DELETE "/api/memory/agents/$A/level/cosmic"
t_eq "an unknown level is 400" "$LF_STATUS" 400
lf_req DELETE "/api/memory/agents/$A"
t_eq "clear the agent" "$LF_STATUS $(jbc .)" "200 {\"agent_id\":\"$A\",\"deleted\":2}"
lf_req GET "/api/memory/agents/$A/count"
t_eq "then it has none" "$(jb .count)" 0

# ---- decay, cleanup -------------------------------------------------------------------
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"An old session fact about tulips\"}"
OLD=$(jb '.memories[0].item.id')
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"An old user fact about daffodils\",\"level\":\"user\"}"
OLDU=$(jb '.memories[0].item.id')
lf_psql "UPDATE memory.items SET accessed_at = now() - interval '10 days' WHERE id IN ('$OLD', '$OLDU')" >/dev/null
lf_req POST /api/memory/decay '{"rate":0.1}'
t_eq "decay touches the old session item, not the user one" "$LF_STATUS $(jb .decayed)" "200 1"
t_eq "its confidence is exp(-0.1 x 10)" "$(lf_psql "SELECT round(confidence::numeric, 3) FROM memory.items WHERE id = '$OLD'") $(lf_psql "SELECT confidence FROM memory.items WHERE id = '$OLDU'")" "0.368 1"
lf_req POST /api/memory/cleanup '{}'
t_eq "cleanup removes the stale session item" "$LF_STATUS $(jb .removed)" "200 1"
lf_req GET "/api/memory/agents/$A"
t_eq "the user item stays" "$(jbc '[.memories[].id]')" "[\"$OLDU\"]"

# ---- bad input: 4xx, nothing written --------------------------------------------------
before=$(lf_psql "SELECT count(*) FROM memory.items")
lf_req POST /api/memory "{\"agent_id\":\"$NOBODY\",\"content\":\"x\"}"
t_eq "an unknown agent is 404" "$LF_STATUS $(jb .error)" "404 Agent not found"
lf_req GET "/api/memory/agents/$NOBODY/count"
t_eq "an unknown agent's count is 404" "$LF_STATUS" 404
lf_req GET "/api/memory/agents/$NOBODY"
t_eq "an unknown agent's list is 404" "$LF_STATUS" 404
lf_req GET "/api/memory/agents/not-a-uuid"
t_eq "a bad agent id is 400" "$LF_STATUS" 400
lf_req PUT /api/memory/items/not-a-uuid '{"content":"x"}'
t_eq "a bad memory id is 400" "$LF_STATUS" 400
lf_req PUT "/api/memory/items/$NOBODY" '{"content":"x"}'
t_eq "an unknown memory is 404" "$LF_STATUS $(jb .error)" "404 Memory not found"
lf_req POST /api/memory "{\"agent_id\":\"$A\"}"
t_eq "no content is 400" "$LF_STATUS" 400
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"x\",\"level\":\"cosmic\"}"
t_eq "a bad level is 400" "$LF_STATUS" 400
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"x\",\"confidence\":7}"
t_eq "a confidence out of 0..1 is 400" "$LF_STATUS" 400
big=$(head -c 70000 /dev/zero | tr '\0' a)
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"$big\"}"
t_eq "content over 64 KiB is 413" "$LF_STATUS" 413
deep=$(printf '{"a":%.0s' $(seq 1 40))1$(printf '}%.0s' $(seq 1 40))
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"x\",\"metadata\":$deep}"
t_eq "deeply nested metadata is 400" "$LF_STATUS" 400
deep=$(printf '{"a":%.0s' $(seq 1 5000))1$(printf '}%.0s' $(seq 1 5000))
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"x\",\"metadata\":$deep}"
t_eq "metadata nested 5000 deep is 400" "$LF_STATUS" 400
printf '[%s{"content":"c"}]' "$(printf '{"content":"c"},%.0s' $(seq 1 10001))" > "$LF_TMP/import.json"
lf_req POST "/api/memory/agents/$A/import" "@$LF_TMP/import.json"
t_eq "an import of over 10000 items is 400" "$LF_STATUS" 400
lf_req POST /api/memory/bulk-delete "{\"ids\":[$(printf '"%s",' $(seq 1 1001) | sed 's/[0-9]*/11111111-2222-4333-8444-555555555555/g')\"11111111-2222-4333-8444-555555555555\"]}"
t_eq "a bulk delete of over 1000 ids is 400" "$LF_STATUS" 400
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"x\",\"metadata\":[1]}"
t_eq "metadata that is no object is 400" "$LF_STATUS" 400
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"messages\":[{\"role\":\"user\",\"content\":\"fine one\"},{\"role\":\"user\",\"content\":5}]}"
t_eq "messages with one bad content are 400" "$LF_STATUS" 400
lf_req POST /api/memory "{\"agent_id\":\"$A\",\"content\":\"x\",\"bogus\":1}"
t_eq "an unknown field is 400" "$LF_STATUS" 400
lf_req POST /api/memory '[1,2]'
t_eq "a body that is no object is 400" "$LF_STATUS" 400
t_ok "with the error shape" lf_err_shape
for q in 'limit=-1' 'limit=100000' 'limit=abc' 'offset=-5' 'level=x'; do
	lf_req GET "/api/memory?$q"
	t_eq "GET /api/memory?$q is 400" "$LF_STATUS" 400
done
t_eq "nothing half-written" "$(lf_psql "SELECT count(*) FROM memory.items")" "$before"

t_done
