#!/usr/bin/env bash
# t3010-mcp-server.sh - the MCP server (POST /mcp, POST /api/mcp) over
# curl: the Streamable HTTP rules (Accept 406, Content-Type 415, Origin
# 403, protocol version 400, GET and DELETE 405), JSON-RPC bad input
# (malformed, not a request, batches, unknown methods, bad params, deep
# nesting, oversize), initialize with version negotiation, ping,
# tools/list and tools/call with and without X-LibreFang-Agent-Id; then
# POST /api/tools/{name}/invoke refused by default, and with [tool_invoke]
# enabled: the allowlist, the agent's own grants and mode, results; and
# the MCP SDK's client (tests/e2e/mcp-server.test.mjs).
. "$(dirname "$0")/../lib.sh"

lf_stack_start agent-runtime
lf_wait_agents

ACC='Accept: application/json, text/event-stream'
# mcp [PATH] JSON [curl args..]: one POST with the MCP client's headers.
mcp() {
	local path=/mcp
	case $1 in /*) path=$1; shift ;; esac
	local data=$1
	shift
	lf_req POST "$path" "$data" -H "$ACC" "$@"
}
rpc() { printf '{"jsonrpc":"2.0","id":%s,"method":"%s","params":%s}' "$1" "$2" "${3:-{\}}"; }

TOML='name = "mcpagent"
[capabilities]
tools = ["file_read", "file_write", "agent_list"]'
lf_req POST /api/agents "$(lf_spawn_json "$TOML")"
t_eq "spawn an agent granting file_read, file_write, agent_list" "$LF_STATUS" 201
AID=$(jb .agent_id)

# ---- the HTTP edge ----------------------------------------------------------
mcp "$(rpc 1 initialize '{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}')"
t_eq "initialize is 200" "$LF_STATUS" 200
t_eq "it answers JSON" "$(lf_hdr content-type)" application/json
t_eq "the client's version when we speak it" "$(jb .result.protocolVersion)" 2025-06-18
t_eq "id and jsonrpc echoed" "$(jbc '[.jsonrpc, .id]')" '["2.0",1]'
t_eq "tools capability and server info" "$(jbc '[.result.capabilities.tools != null, .result.serverInfo.name]')" '[true,"librefang"]'
t_eq "no session is issued (stateless)" "$(lf_hdr mcp-session-id)" ""
mcp "$(rpc '"s1"' initialize '{"protocolVersion":"1999-01-01","capabilities":{},"clientInfo":{"name":"c","version":"1"}}')"
t_eq "an unknown version gets our latest" "$(jbc '[.id, .result.protocolVersion]')" '["s1","2025-11-25"]'
mcp "$(rpc 2 initialize '{"capabilities":{}}')"
t_eq "initialize without protocolVersion is -32602" "$(jbc '[.id, .error.code]')" '[2,-32602]'
mcp '{"jsonrpc":"2.0","method":"notifications/initialized"}'
t_eq "notifications/initialized is 202" "$LF_STATUS" 202
t_eq "with no body" "$LF_BODY" ""
mcp '{"jsonrpc":"2.0","id":7,"result":{}}'
t_eq "a response from the client is 202" "$LF_STATUS" 202
mcp "$(rpc 3 ping)"
t_eq "ping is an empty result" "$(jbc '[.id, .result]')" '[3,{}]'
mcp /api/mcp "$(rpc 4 ping)"
t_eq "POST /api/mcp is the same server" "$(jbc '[.id, .result]')" '[4,{}]'

lf_req GET /mcp "" -H "Accept: text/event-stream"
t_eq "GET /mcp (no server stream) is 405" "$LF_STATUS" 405
t_ok "with Allow: POST" grep -qi '^allow: POST' <<<"$LF_HEADERS"
lf_req DELETE /mcp
t_eq "DELETE /mcp (no sessions) is 405" "$LF_STATUS" 405
lf_req POST /mcp "$(rpc 5 ping)" -H 'Accept: application/json'
t_eq "Accept without text/event-stream is 406" "$LF_STATUS" 406
t_eq "with a JSON-RPC error" "$(jbc '[.jsonrpc, .id, (.error.code|type)]')" '["2.0",null,"number"]'
lf_req POST /mcp "$(rpc 5 ping)" -H 'Accept:'
t_eq "no Accept is 406" "$LF_STATUS" 406
lf_req POST /mcp "$(rpc 5 ping)" -H 'Accept: */*'
t_eq "Accept */* takes both" "$LF_STATUS" 200
lf_req POST /mcp "" -H "$ACC" -H 'Content-Type: text/plain' --data-binary "$(rpc 5 ping)"
t_eq "a text/plain body is 415" "$LF_STATUS" 415
mcp "$(rpc 5 ping)" -H 'Origin: http://evil.example'
t_eq "a foreign Origin is 403" "$LF_STATUS" 403
t_eq "with a JSON-RPC error" "$(jb '.error.message | test("Origin")')" true
mcp "$(rpc 5 ping)" -H "Origin: http://127.0.0.1:$LF_PORT"
t_eq "the server's own Origin passes" "$LF_STATUS" 200
lf_req OPTIONS /mcp "" -H 'Origin: http://localhost:6274' \
    -H 'Access-Control-Request-Method: POST' \
    -H 'Access-Control-Request-Headers: content-type, mcp-protocol-version, x-librefang-agent-id'
t_eq "a browser's preflight for /mcp is 204" "$LF_STATUS" 204
t_eq "allowing the MCP headers" \
    "$(lf_hdr access-control-allow-headers | tr ',' '\n' | tr -d ' ' | grep -cxE 'content-type|mcp-protocol-version|mcp-session-id|x-librefang-agent-id')" 4
mcp "$(rpc 5 ping)" -H 'MCP-Protocol-Version: 1999-01-01'
t_eq "an unsupported MCP-Protocol-Version is 400" "$LF_STATUS" 400
mcp "$(rpc 5 ping)" -H 'MCP-Protocol-Version: 2025-11-25'
t_eq "a supported one passes" "$LF_STATUS" 200

# ---- JSON-RPC bad input -----------------------------------------------------
mcp '{"jsonrpc":"2.0","id":1,"method":'
t_eq "malformed JSON is 400" "$LF_STATUS" 400
t_eq "-32700 with a null id" "$(jbc '[.error.code, .id]')" '[-32700,null]'
printf '{"jsonrpc":"2.0","id":1,"method":"p\xff\xfe"}' > "$LF_TMP/bad-utf8.json"
lf_req POST /mcp "" -H "$ACC" -H 'Content-Type: application/json' --data-binary @"$LF_TMP/bad-utf8.json"
t_eq "invalid UTF-8 is 400 -32700" "$LF_STATUS $(jbc '[.error.code]')" '400 [-32700]'
lf_req POST /mcp "" -H "$ACC" -H 'Content-Type: application/json'
t_eq "an empty body is -32700" "$(jbc '[.error.code]')" '[-32700]'
mcp "[$(rpc 1 ping),$(rpc 2 ping)]"
t_eq "a batch is 400" "$LF_STATUS" 400
t_eq "-32600, not run" "$(jbc '[.error.code, .id, has("result")]')" '[-32600,null,false]'
mcp '[]'
t_eq "an empty batch is -32600" "$(jbc '[.error.code]')" '[-32600]'
mcp "[$(for i in $(seq 1 2000); do printf '%s,' "$(rpc $i tools/list)"; done)$(rpc 0 ping)]"
t_eq "a batch of 2001 tools/list is one 400" "$(jbc '[.error.code]')" '[-32600]'
mcp '"ping"'
t_eq "a scalar is -32600" "$(jbc '[.error.code]')" '[-32600]'
mcp '{"id":1,"method":"ping"}'
t_eq "no jsonrpc is -32600 (id kept)" "$(jbc '[.error.code, .id]')" '[-32600,1]'
mcp '{"jsonrpc":"1.0","id":1,"method":"ping"}'
t_eq "jsonrpc 1.0 is -32600" "$(jbc '[.error.code]')" '[-32600]'
mcp '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}'
t_eq "an object id is -32600 with a null id" "$(jbc '[.error.code, .id]')" '[-32600,null]'
mcp '{"jsonrpc":"2.0","id":1,"method":42}'
t_eq "a numeric method is -32600" "$(jbc '[.error.code]')" '[-32600]'
mcp "$(rpc 9 resources/list)"
t_eq "an unknown method is 200 with -32601" "$LF_STATUS $(jbc '[.error.code, .id]')" '200 [-32601,9]'
mcp "$(rpc 10 "$(head -c 5000 /dev/zero | tr '\0' x)")"
t_eq "a 5000-byte method name is not echoed whole" "$(jb '.error.message | length < 200')" true
mcp "$(rpc 10 "$(head -c 63 /dev/zero | tr '\0' x)ééé")"
t_eq "a name cut inside a UTF-8 character still gets its -32601" "$LF_STATUS $(jbc '[.error.code]')" '200 [-32601]'
mcp '{"jsonrpc":"2.0","id":11,"method":"tools/list","params":[1]}'
t_eq "array params are -32602" "$(jbc '[.error.code]')" '[-32602]'
mcp "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\":$(printf '[%.0s' $(seq 1 40))$(printf ']%.0s' $(seq 1 40))}}"
t_eq "nesting deeper than 32 is 400 -32700" "$LF_STATUS $(jbc '[.error.code]')" '400 [-32700]'
head -c 9000000 /dev/zero | tr '\0' ' ' > "$LF_TMP/big.json"
lf_req POST /mcp "" -H "$ACC" -H 'Content-Type: application/json' --data-binary @"$LF_TMP/big.json"
t_eq "a 9 MB body is 413" "$LF_STATUS" 413
mcp "$(rpc 12 ping)"
t_eq "and the server still answers" "$(jbc '.result')" '{}'

# ---- tools ------------------------------------------------------------------
lf_req GET /api/tools
NTOOLS=$(jb '.tools | length')
mcp "$(rpc 20 tools/list)"
t_eq "tools/list without an agent: every built-in tool (GET /api/tools: $NTOOLS)" \
    "$(jb '.result.tools | length')" "$NTOOLS"
t_eq "each with a name, a description and an object inputSchema" \
    "$(jb '[.result.tools[] | (.name|type) == "string" and (.description|type) == "string" and .inputSchema.type == "object"] | all')" true
t_eq "file_read's schema requires path" "$(jb '.result.tools[] | select(.name == "file_read") | .inputSchema.required | join(",")')" path
mcp "$(rpc 21 tools/list)" -H "X-LibreFang-Agent-Id: $AID"
t_eq "with X-LibreFang-Agent-Id: the agent's tools" "$(jb '[.result.tools[].name] | sort | join(",")')" agent_list,file_read,file_write
mcp "$(rpc 22 tools/list)" -H 'X-LibreFang-Agent-Id: nope'
t_eq "a malformed agent id is -32602" "$(jbc '[.id, .error.code]')" '[22,-32602]'
mcp "$(rpc 23 tools/list)" -H 'X-LibreFang-Agent-Id: 00000000-0000-4000-8000-000000000001'
t_eq "an unknown agent is -32602" "$(jbc '[.error.code, (.error.message | test("not found"))]')" '[-32602,true]'

mcp "$(rpc 30 tools/call '{"name":"agent_list","arguments":{}}')"
t_eq "tools/call agent_list (needs no agent)" "$(jbc '[.id, .result.isError, .result.content[0].type]')" '[30,false,"text"]'
[ "$(jbc .result.isError)" = false ] || echo "# agent_list answered: $(jbc .)"
t_eq "its text lists the agent" "$(jb '.result.content[0].text | contains("mcpagent")')" true
mcp "$(rpc 31 tools/call '{"name":"file_read","arguments":{"path":"x"}}')"
t_eq "file_read without an agent is an isError result" "$(jbc '.result.isError')" true
t_eq "saying to send X-LibreFang-Agent-Id" "$(jb '.result.content[0].text | contains("X-LibreFang-Agent-Id")')" true
mcp "$(rpc 32 tools/call '{"name":"file_write","arguments":{"path":"notes/a.txt","content":"from mcp"}}')" -H "X-LibreFang-Agent-Id: $AID"
t_eq "file_write as the agent" "$(jbc '.result.isError')" false
t_eq "lands in its workspace" "$(cat "$LIBREFANG_HOME/data/workspaces/mcpagent/notes/a.txt")" "from mcp"
mcp "$(rpc 33 tools/call '{"name":"file_read","arguments":{"path":"notes/a.txt"}}')" -H "X-LibreFang-Agent-Id: $AID"
t_eq "file_read as the agent reads it back" "$(jbc '[.result.isError, .result.content[0].text]')" '[false,"from mcp"]'
mcp "$(rpc 34 tools/call '{"name":"file_read","arguments":{"path":"../../../config.toml"}}')" -H "X-LibreFang-Agent-Id: $AID"
t_eq "a path out of the workspace is an isError result" "$(jbc '.result.isError')" true
mcp "$(rpc 35 tools/call '{"name":"shell_exec","arguments":{"command":"id"}}')" -H "X-LibreFang-Agent-Id: $AID"
t_eq "shell_exec the agent lacks is refused" "$(jbc '[.result.isError, (.result.content[0].text | startswith("Permission denied"))]')" '[true,true]'
mcp "$(rpc 36 tools/call '{"name":"shell_exec","arguments":{"command":"id"}}')"
t_eq "and without an agent too" "$(jbc '.result.isError')" true
mcp "$(rpc 37 tools/call '{"name":"no_such_tool","arguments":{}}')"
t_eq "an unknown tool is -32602" "$(jbc '[.id, .error.code]')" '[37,-32602]'
mcp "$(rpc 38 tools/call '{"arguments":{}}')"
t_eq "no name is -32602" "$(jbc '[.error.code]')" '[-32602]'
mcp "$(rpc 39 tools/call '{"name":"agent_list","arguments":"x"}')"
t_eq "string arguments are -32602" "$(jbc '[.error.code]')" '[-32602]'
mcp "$(rpc 40 tools/call '{"name":"file_read","arguments":{"path":7}}')" -H "X-LibreFang-Agent-Id: $AID"
t_eq "arguments off the schema are an isError result" "$(jbc '.result.isError')" true

lf_req PUT "/api/agents/$AID/mode" '{"mode":"observe"}'
t_eq "put the agent in observe mode" "$LF_STATUS" 200
mcp "$(rpc 41 tools/list)" -H "X-LibreFang-Agent-Id: $AID"
t_eq "an observing agent lists no tools" "$(jb '.result.tools | length')" 0
mcp "$(rpc 42 tools/call '{"name":"file_read","arguments":{"path":"notes/a.txt"}}')" -H "X-LibreFang-Agent-Id: $AID"
t_eq "and may run none" "$(jbc '.result.isError')" true
lf_req PUT "/api/agents/$AID/mode" '{"mode":"full"}'
lf_req POST /api/agents/bulk/stop "{\"agent_ids\":[\"$AID\"]}"
t_eq "suspend the agent" "$LF_STATUS" 200
mcp "$(rpc 43 tools/call '{"name":"file_read","arguments":{"path":"notes/a.txt"}}')" -H "X-LibreFang-Agent-Id: $AID"
t_eq "a suspended agent runs no tool" "$(jbc '.result.isError')" true
lf_req POST /api/agents/bulk/start "{\"agent_ids\":[\"$AID\"]}"
mcp "$(rpc 44 tools/call '{"name":"file_read","arguments":{"path":"notes/a.txt"}}')" -H "X-LibreFang-Agent-Id: $AID"
t_eq "started again, it does" "$(jbc '.result.isError')" false

# ---- direct invocation: refused unless configured ---------------------------
lf_req POST /api/tools/agent_list/invoke '{}'
t_eq "invoke is 403 by default" "$LF_STATUS" 403
t_ok "with an error body" lf_err_shape
t_eq "naming the setting" "$(jb '.error | contains("[tool_invoke] enabled = true")')" true
lf_req POST /api/tools/no_such_tool/invoke '{}'
t_eq "an unknown tool is 403 too (nothing learnt)" "$LF_STATUS" 403

lf_stop agent-runtime
lf_config '[tool_invoke]
enabled = true
allowlist = ["agent_list", "file_*", "shell_exec", "kv_zap"]'
lf_start agent-runtime
lf_bus_joined agent-runtime || { echo "Bail out! agent-runtime did not come back"; lf_dump_logs; exit 1; }

lf_req POST /api/tools/agent_list/invoke '{}'
t_eq "an allowlisted tool runs: 200" "$LF_STATUS" 200
t_eq "in the reference's shape" "$(jbc '[.tool_use_id, .is_error, .status]')" '["rest-api",false,"completed"]'
t_eq "with the tool's output" "$(jb '.content | contains("mcpagent")')" true
lf_req POST /api/tools/agent_list/invoke
t_eq "no body is no arguments" "$LF_STATUS" 200
lf_req POST /api/tools/web_fetch/invoke '{"url":"http://127.0.0.1/"}'
t_eq "a tool off the allowlist is 403" "$LF_STATUS" 403
t_eq "naming it" "$(jb .error)" "Tool 'web_fetch' is not in '[tool_invoke] allowlist'"
lf_req POST /api/tools/kv_zap/invoke '{}'
t_eq "an allowlisted name no tool has is 404" "$LF_STATUS" 404
t_ok "with an error body" lf_err_shape
lf_req POST /api/tools/file_read/invoke '{"path":"notes/a.txt"}'
t_eq "file_read without an agent is 400" "$LF_STATUS" 400
t_eq "asking for agent_id" "$(jb '.error | contains("agent_id")')" true
lf_req POST "/api/tools/file_read/invoke?agent_id=$AID" '{"path":"notes/a.txt"}'
t_eq "file_read as the agent is 200" "$(jbc '[.is_error, .content]')" '[false,"from mcp"]'
lf_req POST "/api/tools/file_read/invoke?agent_id=$AID" '{"path":"../../x"}'
t_eq "a failed call is 400 with is_error" "$LF_STATUS $(jbc '[.is_error, .status]')" '400 [true,"error"]'
lf_req POST "/api/tools/shell_exec/invoke?agent_id=$AID" '{"command":"touch pwned"}'
t_eq "allowlisted shell_exec the agent lacks is 403" "$LF_STATUS" 403
t_ok "and did not run" test ! -e "$LIBREFANG_HOME/data/workspaces/mcpagent/pwned"
lf_req POST /api/tools/shell_exec/invoke '{"command":"touch /tmp/lf-pwned-$$"}'
t_eq "and without an agent it is 400" "$LF_STATUS" 400
t_ok "and did not run" test ! -e "/tmp/lf-pwned-$$"
lf_req POST "/api/tools/file_read/invoke?agent_id=nope" '{"path":"x"}'
t_eq "a malformed agent_id is 400" "$LF_STATUS" 400
lf_req POST "/api/tools/file_read/invoke?agent_id=00000000-0000-4000-8000-000000000001" '{"path":"x"}'
t_eq "an unknown agent is 404" "$LF_STATUS" 404
lf_req POST /api/tools/agent_list/invoke '[1,2]'
t_eq "a non-object input is 400" "$LF_STATUS" 400
t_ok "with an error body" lf_err_shape
lf_req PUT "/api/agents/$AID/mode" '{"mode":"observe"}'
lf_req POST "/api/tools/file_read/invoke?agent_id=$AID" '{"path":"notes/a.txt"}'
t_eq "an observing agent's call is 403" "$LF_STATUS" 403
lf_req PUT "/api/agents/$AID/mode" '{"mode":"full"}'

# ---- long calls hold no bus worker ------------------------------------------
STOML='name = "shellagent"
[capabilities]
tools = ["shell_exec"]'
lf_req POST /api/agents "$(lf_spawn_json "$STOML")"
t_eq "spawn an agent granting shell_exec" "$LF_STATUS" 201
SID=$(jb .agent_id)
# slow N SECS: a tools/call of shell_exec sleeping SECS, its body to slow.N
slow() {
	curl -s -m 60 -o "$LF_TMP/slow.$1" -H "$ACC" -H 'Content-Type: application/json' \
	    -H "X-LibreFang-Agent-Id: $SID" -H "Authorization: Bearer ${LIBREFANG_API_KEY:-x}" \
	    --data-binary "$(rpc "$1" tools/call "{\"name\":\"shell_exec\",\"arguments\":{\"command\":\"sleep $2; echo slept $1\"}}")" \
	    "$LF_URL/mcp"
}
for i in 1 2 3 4 5 6; do lf_bg "slow$i" slow "$i" 16; done
sleep 0.5
T0=$(lf_ms)
mcp "$(rpc 60 tools/call '{"name":"agent_list","arguments":{}}')"
T1=$(lf_ms)
t_eq "with 6 calls sleeping (4 bus workers) agent_list still answers" "$(jbc '.result.isError')" false
t_ok "at once, not after the 16 s sleeps ($((T1 - T0)) ms)" test $((T1 - T0)) -lt 8000
for i in 1 2 3 4 5 6; do lf_wait "slow$i" 60; done
t_eq "the six sleeping calls all answered" \
    "$(for i in 1 2 3 4 5 6; do jq -r '.result.content[0].text | rtrimstr("\n")' "$LF_TMP/slow.$i"; done | sort | tr '\n' ' ')" \
    "slept 1 slept 2 slept 3 slept 4 slept 5 slept 6 "

# At most 16 calls run at once: of 20 sleeping calls, 4 are refused at once.
# Each sleeps 20 s, so the first still runs when the last arrives however
# slowly the machine starts 20 clients.
for i in $(seq 101 120); do lf_bg "slow$i" slow "$i" 20; done
for i in $(seq 101 120); do lf_wait "slow$i" 90; done
t_eq "of 20 calls at once, 16 ran and 4 got -32603 (too many)" \
    "$(for i in $(seq 101 120); do jq -r 'if .result.isError == false then "ran" elif (.error.code == -32603 and (.error.message | test("too many"))) then "refused" else "other" end' "$LF_TMP/slow.$i"; done | sort | uniq -c | awk '{ printf "%s %s;", $1, $2 }')" \
    "16 ran;4 refused;"
for i in $(seq 101 120); do
	jq -e '.result.isError == false or .error.code == -32603' "$LF_TMP/slow.$i" >/dev/null 2>&1 ||
	    echo "# call $i answered: $(head -c 300 "$LF_TMP/slow.$i" 2>/dev/null)"
done

# ---- the MCP SDK's client ---------------------------------------------------
export LF_URL LF_AGENT=$AID
t_node mcp-server.test.mjs 5

# ---- with an api_key, /mcp needs it like every other route ------------------
lf_stop api-gateway
export LIBREFANG_API_KEY=mcp-test-key-0123456789
lf_start api-gateway
lf_wait_health || { echo "Bail out! the gateway did not come back"; lf_dump_logs; exit 1; }
mcp "$(rpc 50 ping)"
t_eq "without the key /mcp is 401" "$LF_STATUS" 401
mcp /api/mcp "$(rpc 50 ping)"
t_eq "and /api/mcp too" "$LF_STATUS" 401
lf_req POST /api/tools/agent_list/invoke '{}'
t_eq "and invoke too" "$LF_STATUS" 401
mcp "$(rpc 51 ping)" -H "Authorization: Bearer $LIBREFANG_API_KEY"
t_eq "with it: 200" "$(jbc '[.id, .result]')" '[51,{}]'
LF_API_KEY=$LIBREFANG_API_KEY t_node mcp-server.test.mjs 5

# ---- shutdown with a call running -------------------------------------------
lf_bg slowstop slow 70 30
sleep 1
lf_stop agent-runtime
t_eq "agent-runtime stops with a 30 s call running: exit 0, not killed ($LF_STOP_MS ms)" "$LF_EXIT" 0
lf_wait slowstop 10
t_eq "the call was interrupted and answered" "$(jq -c '[.id, .result.isError]' "$LF_TMP/slow.70")" '[70,true]'
mcp "$(rpc 71 tools/list)" -H "Authorization: Bearer $LIBREFANG_API_KEY" -m 10
t_eq "agent-runtime down: tools/list is -32603" "$LF_STATUS $(jbc '[.id, .error.code]')" '200 [71,-32603]'
mcp "$(rpc 72 ping)" -H "Authorization: Bearer $LIBREFANG_API_KEY"
t_eq "while initialize and ping still answer" "$(jbc '[.id, .result]')" '[72,{}]'

t_done
