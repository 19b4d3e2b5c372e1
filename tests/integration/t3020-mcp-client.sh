#!/usr/bin/env bash
# t3020-mcp-client.sh - the MCP client (agent-runtime mcp/): the reference
# servers server-everything and server-filesystem over stdio added through
# /api/mcp/servers, list/get/update/delete, the catalog, health, reconnect,
# a killed child restarted, hostile children (silent, garbage, a tool call
# that never returns, huge tool lists) shown unhealthy without disturbing
# anything else, the Integrations view, the configuration surviving a
# restart of the runtime, and a turn in which the model calls
# mcp_filesystem_read_text_file and the next provider request carries the
# real file's content.
. "$(dirname "$0")/../lib.sh"

BIN=$LF_ROOT/tests/e2e/node_modules/.bin
# make test installs them (deploy/deps.sh test): missing is a failure.
[ -x "$BIN/mcp-server-everything" ] || {
	echo "Bail out! tests/e2e/node_modules is not installed (deploy/deps.sh test)"; exit 1; }
HOSTILE=$LF_ROOT/tests/fakes/mcp-hostile.mjs

export FAKE_API_KEY=sk-fake-mcp-0123456789
lf_fake_stack agent-runtime

# status NAME: the server's status as this replica shows it.
status() { lf_req GET "/api/mcp/servers/$1"; jb .status; }
is_status() { [ "$(status "$1")" = "$2" ]; }
# wait_status NAME STATUS [SECS]: bounded wait, says what hung.
wait_status() {
	local i
	for ((i = 0; i < ${3:-30} * 4; i++)); do
		is_status "$1" "$2" && return 0
		sleep 0.25
	done
	echo "# $1 did not become $2 within ${3:-30} s: $(status "$1") $(jb .last_error)"
	return 1
}
# The runtime's children whose command line matches $1 (of replica $2,
# the first by default).
child_pids() {
	local p
	for p in $(pgrep -P "${2:-${LF_PIDS[agent-runtime]}}"); do
		grep -qa -- "$1" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
	done
}

# ---- the catalog -------------------------------------------------------------------
lf_req GET /api/mcp/catalog
t_eq "catalog: every template" "$LF_STATUS $(jb .total) $(jb '.entries | length')" "200 33 33"
t_eq "catalog: an entry's shape" "$(jb -c '.entries[] | select(.id == "github") | [.name, .transport.type, .required_env[0].name, .has_oauth, .installed]')" \
    '["GitHub","stdio","GITHUB_PERSONAL_ACCESS_TOKEN",true,false]'
lf_req GET /api/mcp/catalog/filesystem
t_eq "catalog/{id}" "$LF_STATUS $(jb .id) $(jb .transport.command)" "200 filesystem npx"
lf_req GET /api/mcp/catalog/nope
t_eq "catalog/{id}: unknown is 404" "$LF_STATUS $(jb .error)" "404 Catalog entry 'nope' not found"

# ---- add -------------------------------------------------------------------------
WS=$LF_TMP/files
mkdir -p "$WS"
echo "the secret word is periwinkle-$$" > "$WS/hello.txt"
lf_req POST /api/mcp/servers "$(jq -nc --arg c "$BIN/mcp-server-everything" \
    '{name: "everything", transport: {type: "stdio", command: $c, args: ["stdio"]}}')"
t_eq "add: nested transport is 201" "$LF_STATUS $(jb .name) $(jb .transport)" "201 everything stdio"
lf_req POST /api/mcp/servers "$(jq -nc --arg c "$BIN/mcp-server-filesystem" --arg d "$WS" \
    '{name: "filesystem", transport: "stdio", command: $c, args: [$d], env: {FS_NOTE: "secret-value"}}')"
t_eq "add: the first edition's flat shape is 201" "$LF_STATUS $(jb .name) $(jb -c .env)" '201 filesystem ["FS_NOTE"]'
t_ok "add: env values are never shown" test "$(grep -c secret-value <<<"$LF_BODY")" = 0

t_ok "everything becomes ready" wait_status everything ready 60
t_ok "filesystem becomes ready" wait_status filesystem ready 60
lf_req GET /api/mcp/servers/everything
t_ok "everything's tools are named mcp_everything_* ($(jb -c '[.tools[].name][:4]'))" \
    test "$(jb '[.tools[].name] | index("mcp_everything_echo") != null')" = true
t_eq "and keep their original names" "$(jb -r '.tools[] | select(.name == "mcp_everything_get_sum") | .original_name')" "get-sum"
lf_req GET /api/mcp/servers/filesystem
t_ok "filesystem offers read_text_file" test "$(jb '[.tools[].name] | index("mcp_filesystem_read_text_file") != null')" = true
lf_req GET /api/mcp/servers
t_eq "list: both, with status" "$LF_STATUS $(jb .total) $(jb -c '[.servers[].name] | sort') $(jb -c '[.servers[].connected]')" \
    '200 2 ["everything","filesystem"] [true,true]'
t_eq "the configuration is in PostgreSQL" \
    "$(lf_psql "SELECT string_agg(name, ',' ORDER BY name) FROM runtime.mcp_servers")" "everything,filesystem"

# ---- bad input -----------------------------------------------------------------------
bad() { # WHAT STATUS BODY
	lf_req POST /api/mcp/servers "$3"
	t_ok "add: $1 is $2 ($(jb .error))" test "$LF_STATUS" = "$2" -a -n "$(jb .error)"
}
bad "no name" 400 '{"transport": {"type": "stdio", "command": "x"}}'
bad "no command" 400 '{"name": "x", "transport": {"type": "stdio"}}'
bad "an unknown transport" 400 '{"name": "x", "transport": {"type": "carrier-pigeon"}}'
bad "a non-http url" 400 '{"name": "x", "transport": {"type": "http", "url": "file:///etc/passwd"}}'
bad "a bad name" 400 '{"name": "../x", "transport": {"type": "stdio", "command": "x"}}'
bad "LD_PRELOAD" 400 '{"name": "x", "transport": {"type": "stdio", "command": "x"}, "env": {"LD_PRELOAD": "/tmp/x.so"}}'
bad "an unknown field" 400 '{"name": "x", "command": "x", "frobnicate": 1}'
bad "args not strings" 400 '{"name": "x", "command": "x", "args": [1]}'
bad "a timeout of 0" 400 '{"name": "x", "command": "x", "timeout_secs": 0}'
bad "not an object" 400 '[1, 2]'
bad "a duplicate name" 409 "$(jq -nc --arg c "$BIN/mcp-server-everything" '{name: "everything", command: $c}')"
bad "a name whose tools would collide" 409 "$(jq -nc --arg c "$BIN/mcp-server-everything" '{name: "EveryThing", command: $c}')"
bad "an unknown template" 404 '{"template_id": "no-such-template"}'
bad "a template without its credentials" 400 '{"template_id": "github"}'
lf_req GET /api/mcp/servers/nope
t_eq "get: unknown is 404" "$LF_STATUS $(jb .error)" "404 MCP server 'nope' not found"
lf_req DELETE /api/mcp/servers/nope
t_eq "delete: unknown is 404" "$LF_STATUS" "404"
lf_req PUT /api/mcp/servers/everything '{"name": "renamed", "command": "x"}'
t_eq "update: the name cannot change" "$LF_STATUS" "400"

# ---- update ------------------------------------------------------------------------
OLD=$(child_pids mcp-server-filesystem)
lf_req PUT /api/mcp/servers/filesystem "$(jq -nc --arg c "$BIN/mcp-server-filesystem" --arg d "$WS" \
    '{transport: {type: "stdio", command: $c, args: [$d]}, timeout_secs: 10}')"
t_eq "update: 200 with the new spec" "$LF_STATUS $(jb .timeout_secs) $(jb -c .env)" "200 10 []"
t_ok "the updated server becomes ready" wait_status filesystem ready 60
t_ok "on a new child (was $OLD, now $(child_pids mcp-server-filesystem))" \
    test -n "$OLD" -a "$(child_pids mcp-server-filesystem)" != "$OLD"

# ---- a killed child is restarted -------------------------------------------------
P=$(child_pids mcp-server-everything)
t_ok "everything runs as a child of the runtime ($P)" test -n "$P"
kill -9 $P
restarted() { lf_req GET /api/mcp/servers/everything; [ "$(jb .restarts)" -ge 1 ] && [ "$(jb .status)" = ready ]; }
t_ok "a killed child is restarted and ready again" lf_poll 120 restarted
t_ok "with a new pid ($(child_pids mcp-server-everything))" \
    test -n "$(child_pids mcp-server-everything)" -a "$(child_pids mcp-server-everything)" != "$P"

# ---- reconnect -----------------------------------------------------------------------
P=$(child_pids mcp-server-everything)
lf_req POST /api/mcp/servers/everything/reconnect
t_eq "reconnect: 200" "$LF_STATUS $(jb .status)" "200 reconnecting"
newpid() { local n; n=$(child_pids mcp-server-everything); [ -n "$n" ] && [ "$n" != "$P" ] && is_status everything ready; }
t_ok "reconnect starts a new child that becomes ready" lf_poll 120 newpid
lf_req POST /api/mcp/servers/nope/reconnect
t_eq "reconnect: unknown is 404" "$LF_STATUS" "404"

# ---- hostile children ------------------------------------------------------------
# The silent one's start times out after 10 s: far from "at once" below.
for m in silent garbage hang-call huge; do
	lf_req POST /api/mcp/servers "$(jq -nc --arg m "$m" --arg h "$HOSTILE" \
	    '{name: ("bad-" + $m), command: "node", args: [$h, $m], timeout_secs: (if $m == "silent" then 10 else 2 end)}')"
	[ "$LF_STATUS" = 201 ] || echo "# add bad-$m: $LF_STATUS $LF_BODY"
done
T0=$(lf_ms)
lf_req GET /api/agents
t_ok "the runtime answers at once while they start, not after the silent one's 10 s ($(( $(lf_ms) - T0 )) ms)" test "$LF_STATUS" = 200 -a $(( $(lf_ms) - T0 )) -lt 5000
t_ok "a child that never answers is shown unhealthy" wait_status bad-silent error 30
lf_req GET /api/mcp/servers/bad-silent
t_ok "with a timeout as the reason ($(jb .last_error))" grep -q 'timed out' <<<"$(jb .last_error)"
t_ok "a child that floods garbage is shown unhealthy" wait_status bad-garbage error 20
t_ok "a child with a huge tool list becomes ready" wait_status bad-huge ready 20
lf_req GET /api/mcp/servers/bad-huge
t_ok "its tools are capped and the huge schema left out ($(jb .tool_count))" \
    test "$(jb .tool_count)" = 511 -a "$(jb '[.tools[].original_name] | index("t0")')" = null
t_ok "the hang-call server becomes ready" wait_status bad-hang-call ready 20
lf_req GET /api/mcp/health
t_eq "health: the good ones stay healthy" "$(jb -c '[.servers[] | select(.healthy) | .name] | sort')" \
    '["bad-hang-call","bad-huge","everything","filesystem"]'
t_ok "health: the bad ones are not ($(jb -c '[.servers[] | select(.healthy | not) | .name]'))" \
    test "$(jb '.unhealthy')" -ge 2 -a "$(jb .status)" = degraded
lf_req GET /api/mcp/servers/bad-silent
t_ok "the silent child was restarted with backoff, not in a loop ($(jb .consecutive_failures) failures)" \
    test "$(jb .consecutive_failures)" -ge 1 -a "$(jb .consecutive_failures)" -le 8

# ---- a turn: the model reads a file through MCP ------------------------------
agent() { # NAME MODEL MCP_SERVERS
	lf_req POST /api/agents "$(lf_spawn_json "mcp_servers = $3
$(lf_fake_toml "$1" "$2")")"
	[ "$LF_STATUS" = 201 ] || echo "# spawn $1: $LF_STATUS $LF_BODY" >&2
	jb .agent_id
}
A=$(agent reader m-read '["filesystem"]')
lf_fake_script "$(jq -nc --arg p "$WS/hello.txt" '{model: "m-read", steps: [
  {tool_calls: [{name: "mcp_filesystem_read_text_file", arguments: {path: $p}}]},
  {text: "It says periwinkle."}]}')"
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'what does hello.txt say?')"
t_eq "turn: the agent answers" "$LF_STATUS $(jb .response)" "200 It says periwinkle."
TOOLS=$(lf_fake_requests m-read | jq -c '[.[0].body.tools[].function.name]')
t_ok "the provider was offered mcp_filesystem_read_text_file" grep -q '"mcp_filesystem_read_text_file"' <<<"$TOOLS"
t_ok "with the server's input schema" test "$(lf_fake_requests m-read | jq -r '.[0].body.tools[] | select(.function.name == "mcp_filesystem_read_text_file") | .function.parameters.properties | has("path")')" = true
t_ok "but no tool of a server the agent does not allow" test "$(grep -c mcp_everything <<<"$TOOLS")" = 0
RESULT=$(lf_fake_requests m-read | jq -r '[.[1].body.messages[] | select(.role == "tool") | .content] | last')
t_ok "the next provider request carries the real file's content ($RESULT)" grep -q "periwinkle-$$" <<<"$RESULT"

# A call that never returns: a timeout handed back to the model, and the
# server shown unhealthy and reconnected.
H=$(agent hanger m-hang '["*"]')
lf_fake_script '{"model": "m-hang", "steps": [
  {"tool_calls": [{"name": "mcp_bad-hang-call_wait", "arguments": {}}]},
  {"tool_calls": [{"name": "mcp_bad_hang_call_wait", "arguments": {}}]},
  {"text": "gave up"}]}'
T0=$(lf_ms)
lf_req POST "/api/agents/$H/message" "$(lf_msg_json 'wait for it')"
t_eq "turn with a hanging tool: answers" "$LF_STATUS $(jb .response)" "200 gave up"
# The hanging call is cut at the server's timeout_secs (2 s), not at the
# default 60 s.
t_ok "within the server's timeout ($(( $(lf_ms) - T0 )) ms)" test $(( $(lf_ms) - T0 )) -lt 30000
R=$(lf_fake_requests m-hang | jq -r '[.[2].body.messages[] | select(.role == "tool") | .content] | last')
t_ok "the model got the timeout ($R)" grep -q 'timed out' <<<"$R"
lf_req GET /api/mcp/servers/bad-hang-call
t_ok "the server that timed out is shown with its failure ($(jb .last_error))" \
    grep -q 'timed out' <<<"$(jb .last_error)"
t_ok "and is reconnected" wait_status bad-hang-call ready 20
lf_req GET "/api/agents/$A/mcp_servers"
t_eq "agents/{id}/mcp_servers: available names the configured servers" \
    "$(jb -c .assigned) $(jb -c '.available | sort | map(select(startswith("bad") | not))')" '["filesystem"] ["everything","filesystem"]'
# A server whose tools change: listed again on its notification.
lf_req POST /api/mcp/servers "$(jq -nc --arg h "$HOSTILE" '{name: "changing", command: "node", args: [$h, "changing"], timeout_secs: 5}')"
t_ok "a server whose tools change becomes ready" wait_status changing ready 20
lf_fake_script '{"model": "m-hang", "steps": [
  {"tool_calls": [{"name": "mcp_changing_bump", "arguments": {}}]},
  {"text": "bumped"}]}'
lf_req POST "/api/agents/$H/message" "$(lf_msg_json 'bump it')"
t_eq "its tool runs" "$LF_STATUS $(jb .response)" "200 bumped"
has_v2() { lf_req GET /api/mcp/servers/changing; [ "$(jb '[.tools[].name] | index("mcp_changing_v2") != null')" = true ]; }
t_ok "after tools/list_changed the new tool is listed" lf_poll 100 has_v2
lf_req DELETE /api/mcp/servers/changing
N=$(agent nomcp m-none '[]')
lf_fake_script '{"model": "m-none", "steps": [
  {"tool_calls": [{"name": "mcp_everything_echo", "arguments": {"message": "hi"}}]},
  {"text": "ok"}]}'
lf_req POST "/api/agents/$N/message" "$(lf_msg_json 'echo')"
R=$(lf_fake_requests m-none | jq -r '[.[1].body.messages[] | select(.role == "tool") | .content] | last')
t_ok "an agent with empty mcp_servers gets no MCP tool ($R)" grep -q 'Permission denied' <<<"$R"
t_eq "and was offered none" "$(lf_fake_requests m-none | jq '[.[0].body.tools[]?.function.name | select(startswith("mcp_"))] | length')" 0

# ---- Streamable HTTP: server-everything streamableHttp ----------------------------
HP=$(lf_free_port)
lf_bg everything-http env PORT=$HP "$BIN/mcp-server-everything" streamableHttp \
    >>"$LF_TMP/log/everything-http.log" 2>&1
lf_req POST /api/mcp/servers "{\"name\": \"ev-http\", \"transport\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:$HP/mcp\", \"headers\": {\"X-Note\": \"hidden-value\"}}, \"timeout_secs\": 10}"
t_eq "http: add is 201" "$LF_STATUS $(jb .transport) $(jb -c .headers)" '201 http ["X-Note"]'
t_ok "http: header values are never shown" test "$(grep -c hidden-value <<<"$LF_BODY")" = 0
t_ok "http: the server becomes ready" wait_status ev-http ready 60
lf_req GET /api/mcp/servers/ev-http
t_eq "http: its tools are listed" "$(jb '[.tools[].name] | index("mcp_ev_http_get_sum") != null')" true
W=$(agent web-user m-http '["ev-http"]')
lf_fake_script '{"model": "m-http", "steps": [
  {"tool_calls": [{"name": "mcp_ev_http_get_sum", "arguments": {"a": 2, "b": 3}}]},
  {"text": "five"}]}'
lf_req POST "/api/agents/$W/message" "$(lf_msg_json 'add 2 and 3')"
t_eq "http: a turn calls the tool" "$LF_STATUS $(jb .response)" "200 five"
R=$(lf_fake_requests m-http | jq -r '[.[1].body.messages[] | select(.role == "tool") | .content] | last')
t_ok "http: the model got the server's answer ($R)" grep -q 'The sum of 2 and 3 is 5' <<<"$R"
lf_stop everything-http
lf_fake_script '{"model": "m-http", "steps": [
  {"tool_calls": [{"name": "mcp_ev_http_get_sum", "arguments": {"a": 1, "b": 1}}]},
  {"text": "down"}]}'
lf_req POST "/api/agents/$W/message" "$(lf_msg_json 'again')"
R=$(lf_fake_requests m-http | jq -r '[.[3].body.messages[] | select(.role == "tool") | .content] | last')
t_ok "http: a call to a server that went away is an error result ($R)" grep -q "MCP server 'ev-http' failed" <<<"$R"
t_ok "http: and the server is shown unhealthy" wait_status ev-http error 20
lf_req DELETE /api/mcp/servers/ev-http
t_eq "http: delete" "$LF_STATUS" "200"

# ---- integrations ---------------------------------------------------------------------
lf_req POST /api/integrations/add '{"id": "time"}'
t_eq "integrations/add: 201" "$LF_STATUS $(jb .id) $(jb .status)" "201 time installed"
lf_req POST /api/integrations/add '{"id": "time"}'
t_eq "integrations/add: twice is 409" "$LF_STATUS" "409"
lf_req POST /api/integrations/add '{"id": "nope"}'
t_eq "integrations/add: unknown is 404" "$LF_STATUS" "404"
lf_req POST /api/integrations/add '{}'
t_eq "integrations/add: no id is 400" "$LF_STATUS" "400"
lf_req GET /api/integrations
t_eq "integrations: only the catalog-backed rows" "$LF_STATUS $(jb .count) $(jb -c '[.installed[].id]')" '200 1 ["time"]'
lf_req GET /api/integrations/available
t_eq "integrations/available: every template, time installed" \
    "$(jb .count) $(jb '.integrations[] | select(.id == "time") | .installed')" "33 true"
lf_req GET /api/integrations/health
t_eq "integrations/health" "$LF_STATUS $(jb -c '[.health[].id]')" '200 ["time"]'
lf_req POST /api/integrations/time/reconnect
t_eq "integrations/{id}/reconnect" "$LF_STATUS $(jb .id)" "200 time"
lf_req POST /api/integrations/reload
t_eq "integrations/reload" "$LF_STATUS $(jb .status)" "200 reloaded"
lf_req DELETE /api/integrations/everything
t_eq "integrations: a raw server is no integration" "$LF_STATUS" "404"
lf_req DELETE /api/integrations/time
t_eq "integrations: delete" "$LF_STATUS $(jb .status)" "200 removed"
lf_req GET /api/mcp/catalog/time
t_eq "the catalog entry stays" "$LF_STATUS" "200"

# ---- a second replica runs the same servers ------------------------------------
# Not the silent one: a replica stopping while it starts waits its 10 s.
lf_req DELETE /api/mcp/servers/bad-silent
t_eq "the silent server is deleted" "$LF_STATUS" 200
lf_replica agent-runtime-2 agent-runtime
R2=${LF_PIDS[agent-runtime-2]}
has2() { [ -n "$(child_pids mcp-server-filesystem "$R2")" ] && [ -n "$(child_pids mcp-server-everything "$R2")" ] &&
	[ -n "$(child_pids huge "$R2")" ]; }
t_ok "a second replica starts every configured server" lf_poll 300 has2
lf_req DELETE /api/mcp/servers/bad-huge
gone2() { [ -z "$(child_pids huge "$R2")" ] && [ -z "$(child_pids huge)" ]; }
t_ok "a delete through one replica stops the server on both" lf_poll 200 gone2
lf_stop agent-runtime-2
t_ok "the second replica stopped cleanly, its children with it ($LF_EXIT)" test "$LF_EXIT" = 0

# ---- delete, reload, restart --------------------------------------------------------
for m in garbage hang-call; do lf_req DELETE "/api/mcp/servers/bad-$m"; done
t_eq "delete: 200" "$LF_STATUS $(jb .status)" "200 removed"
gone() { [ -z "$(child_pids mcp-hostile)" ]; }
t_ok "deleted servers' children are gone" lf_poll 100 gone
lf_req POST /api/mcp/reload
t_eq "reload" "$LF_STATUS $(jb .status) $(jb .servers)" "200 reloaded 2"
t_ok "everything is ready after the reload" wait_status everything ready 60

kill -TERM "${LF_PIDS[agent-runtime]}"
lf_reap 10 "agent-runtime did not exit after SIGTERM" agent-runtime
t_ok "stopping the runtime stops its MCP children" test -z "$(pgrep -f "$WS" | head -1)"
lf_start agent-runtime
lf_wait_ok /api/mcp/servers
t_eq "after a restart the servers are still configured" "$(jb -c '[.servers[].name] | sort')" '["everything","filesystem"]'
t_ok "and run again" wait_status filesystem ready 60

t_done
