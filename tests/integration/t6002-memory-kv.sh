#!/usr/bin/env bash
# t6002-memory-kv.sh - KV memory over HTTP with the spec's shapes (issue
# 10, part "memory"): list {kv_pairs}, get {key, value}, the 404 "Key 'k'
# not found", export {agent_id, version, kv} and import {kv,
# clear_existing} (partial with failed_keys), one agent's keys never
# another's, bad input 4xx.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_fake_stack agent-runtime memory

A=$(lf_agent kv-a m-a)
B=$(lf_agent kv-b m-b)

lf_req PUT "/api/memory/agents/$A/kv/preferences" '{"value": {"theme": "dark"}}'
t_eq "set" "$LF_STATUS $(jbc .)" '200 {"status":"stored","key":"preferences"}'
lf_req PUT "/api/memory/agents/$A/kv/state" '{"value": {"step": 3}}'
lf_req GET "/api/memory/agents/$A/kv/preferences"
t_eq "get: key and value" "$LF_STATUS $(jbc '{key, value}')" '200 {"key":"preferences","value":{"theme":"dark"}}'
lf_req GET "/api/memory/agents/$A/kv"
t_eq "list: kv_pairs" "$LF_STATUS $(jbc .)" '200 {"kv_pairs":[{"key":"preferences","value":{"theme":"dark"}},{"key":"state","value":{"step":3}}]}'
lf_req GET "/api/memory/agents/$B/kv/preferences"
t_eq "the spec's 404, and B does not see A's key" "$LF_STATUS $(jbc .)" "404 {\"error\":\"Key 'preferences' not found\"}"
lf_req GET "/api/memory/agents/$B/kv"
t_eq "B's list is empty" "$(jbc .)" '{"kv_pairs":[]}'

lf_req GET "/api/agents/$A/memory/export"
t_eq "export" "$LF_STATUS $(jbc .)" "200 {\"agent_id\":\"$A\",\"version\":1,\"kv\":{\"preferences\":{\"theme\":\"dark\"},\"state\":{\"step\":3}}}"
KV=$(jbc .kv)
lf_req PUT "/api/memory/agents/$B/kv/old" '{"value": 1}'
lf_req POST "/api/agents/$B/memory/import" "{\"kv\": $KV, \"clear_existing\": true}"
t_eq "import with clear_existing" "$LF_STATUS $(jbc .)" '200 {"status":"imported","imported":2}'
lf_req GET "/api/memory/agents/$B/kv"
t_eq "B now has A's keys and not its old one" "$(jbc '[.kv_pairs[].key]')" '["preferences","state"]'
lf_req POST "/api/agents/$B/memory/import" '{"kv": {"ok.key": 1, "": 2, "bad\u0001key": 3}}'
t_eq "import with bad keys is partial, naming them" "$LF_STATUS $(jb .status) $(jb .imported) $(jbc '.failed_keys | sort')" '200 partial 1 ["","bad\u0001key"]'
lf_req POST "/api/agents/$B/memory/import" '{"kv": [1]}'
t_eq "kv that is no object is 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$B/memory/import" '{"kv": {}, "clear_existing": "yes"}'
t_eq "clear_existing that is no bool is 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$B/memory/import" '{"kv": {}, "extra": 1}'
t_eq "an unknown field is 400" "$LF_STATUS" 400
lf_req GET "/api/memory/agents/$B/kv"
t_eq "the refused imports wrote nothing" "$(jbc '[.kv_pairs[].key]')" '["ok.key","preferences","state"]'
lf_req GET "/api/agents/11111111-2222-4333-8444-555555555555/memory/export"
t_eq "export of an unknown agent is 404" "$LF_STATUS" 404
lf_req GET "/api/agents/nope/memory/export"
t_eq "export with a bad id is 400" "$LF_STATUS" 400
lf_req GET "/api/memory/agents/$A/kv?limit=0"
t_eq "list with limit 0 is 400" "$LF_STATUS" 400
lf_req GET "/api/memory/agents/$A/kv?limit=1"
t_eq "list with limit 1" "$(jbc '[.kv_pairs[].key]')" '["preferences"]'
lf_req GET "/api/memory/agents/$B/kv?limit=1"
t_eq "list: a number value" "$(jbc .kv_pairs)" '[{"key":"ok.key","value":1}]'
lf_req PUT "/api/memory/agents/$B/kv/zz" '{"value": "text"}'
lf_req GET "/api/memory/agents/$B/kv?limit=2&offset=2"
t_eq "list: limit, offset and a string value" "$(jbc .kv_pairs)" '[{"key":"state","value":{"step":3}},{"key":"zz","value":"text"}]'
lf_req DELETE "/api/memory/agents/$A/kv/state"
t_eq "delete" "$LF_STATUS $(jbc .)" '200 {"status":"deleted","key":"state"}'
lf_req DELETE "/api/memory/agents/$A/kv/state"
t_eq "delete again: the spec's 404" "$LF_STATUS $(jb .error)" "404 Key 'state' not found"

t_done
