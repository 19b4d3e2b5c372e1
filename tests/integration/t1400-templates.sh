#!/usr/bin/env bash
# Templates, tool profiles and slash commands over HTTP (agent-runtime's
# templates.*, profiles.*, commands.*), and POST /api/agents spawning from
# a template: every embedded template is listed, served as JSON and as raw
# TOML identical to its file, parses back, and spawns an agent with its
# tools.
. "$(dirname "$0")/../lib.sh"

TDIR=$LF_ROOT/services/agent-runtime/agent/templates
TEMPLATES=$(cd "$TDIR" && ls *.toml | sed 's/\.toml$//' | sort | paste -sd, -)
TOOLS='["file_read","file_write","file_list","web_fetch","shell_exec","kv_get","kv_set","agent_send","agent_list","notify_owner"]'

declare -A TOOLS_OF=()

# The fake provider shows which tools an agent of each profile is offered.
lf_fake_start
lf_config "[provider_urls]
openai = \"$LF_FAKE_URL/v1\""
export OPENAI_API_KEY=sk-test-openai
lf_stack_start agent-runtime
lf_wait_ok /api/templates || { echo "Bail out! GET /api/templates never answered 200"; lf_dump_logs; exit 1; }

# ---- templates: list ----------------------------------------------------------
lf_req GET /api/templates
t_eq "GET /api/templates is 200" "$LF_STATUS" 200
t_eq "it lists every file of templates/, by name" "$(jb '[.templates[].name] | join(",")')" "$TEMPLATES"
for t in assistant coder researcher writer hello-world; do
	t_ok "the '$t' template is there" grep -qx "$t" <<<"${TEMPLATES//,/$'\n'}"
done
t_eq "total counts them" "$(jb .total)" "$(jb '.templates | length')"
t_eq "each item has name, description, path, provider, model, tags, tools" \
    "$(jb '[.templates[] | keys | sort == (["name","description","path","provider","model","tags","tools"] | sort)] | all')" true
t_eq "every description is set" "$(jb '[.templates[] | .description | length > 10] | all')" true
t_eq "every template uses the default provider and model" \
    "$(jb '[.templates[] | .provider == "default" and .model == "default"] | all')" true
LIST=$LF_BODY

# ---- templates: get and toml, for each ----------------------------------------
for t in ${TEMPLATES//,/ }; do
	lf_req GET "/api/templates/$t"
	t_eq "GET /api/templates/$t is 200 {name, manifest, manifest_toml}" \
	    "$LF_STATUS $(jbc 'keys')" '200 ["manifest","manifest_toml","name"]'
	t_eq "$t: the manifest is named after the template" "$(jb '"\(.name) \(.manifest.name)"')" "$t $t"
	t_eq "$t: manifest_toml is the file, byte for byte" \
	    "$(printf '%s' "$LF_BODY" | jq -j .manifest_toml | sha256sum)" "$(sha256sum < "$TDIR/$t.toml")"
	t_eq "$t: module builtin:chat, model default/default" \
	    "$(jb '"\(.manifest.module) \(.manifest.model.provider)/\(.manifest.model.model)"')" "builtin:chat default/default"
	t_ok "$t: a real system prompt ($(jb '.manifest.model.system_prompt | length') chars)" \
	    test "$(jb '.manifest.model.system_prompt | length')" -gt 300
	t_eq "$t: grants only built-in tools, at least one" \
	    "$(jb --argjson all "$TOOLS" '(.manifest.capabilities.tools | length > 0) and (.manifest.capabilities.tools - $all == [])')" true
	if [ "$t" = coder ]; then
		t_eq "$t: grants shell_exec" "$(jb '.manifest.capabilities.tools | index("shell_exec") != null')" true
	else
		t_eq "$t: does not grant shell_exec" "$(jb '.manifest.capabilities.tools | index("shell_exec") == null')" true
	fi
	t_eq "$t: the list shows the same description and tools" \
	    "$(jbc '[.manifest.description, .manifest.capabilities.tools]')" \
	    "$(printf '%s' "$LIST" | jq -c --arg t "$t" '.templates[] | select(.name == $t) | [.description, .tools]')"
	TOOLS_OF[$t]=$(jbc .manifest.capabilities.tools)
	MTOML=$(jb .manifest_toml)

	lf_req GET "/api/templates/$t/toml"
	t_eq "GET /api/templates/$t/toml is 200" "$LF_STATUS" 200
	t_ok "as text/plain" grep -qi '^content-type: text/plain' <<<"$LF_HEADERS"
	t_eq "$t: the raw TOML is the file" "$(printf '%s' "$LF_BODY" | sha256sum)" "$(printf '%s' "$(cat "$TDIR/$t.toml")" | sha256sum)"
	t_eq "$t: and the same as manifest_toml" "$LF_BODY" "$MTOML"

	# The served TOML parses back: spawn it as manifest_toml, renamed.
	lf_req POST /api/agents "$(jq -nc --arg m "$LF_BODY" --arg n "copy-$t" '{manifest_toml: $m, name: $n}')"
	t_eq "$t: its TOML spawns as manifest_toml (201)" "$LF_STATUS $(jb .name)" "201 copy-$t"
	CID=$(jb .agent_id)
	lf_req GET "/api/agents/$CID"
	t_eq "$t: that agent has the template's tools" "$(jbc .capabilities.tools)" "${TOOLS_OF[$t]}"
done

# ---- spawn from a template ----------------------------------------------------
for t in ${TEMPLATES//,/ }; do
	lf_req POST /api/agents "$(jq -nc --arg t "$t" '{template: $t}')"
	t_eq "POST /api/agents {template: $t} is 201 named $t" "$LF_STATUS $(jb .name)" "201 $t"
done
lf_req POST /api/agents '{"template":"coder","name":"my-coder"}'
t_eq "{template: coder, name: my-coder} is 201 under the given name" "$LF_STATUS $(jb .name)" "201 my-coder"
ID=$(jb .agent_id)
lf_req GET "/api/agents/$ID"
t_eq "the agent has the coder template's tools" "$(jbc .capabilities.tools)" \
    '["file_read","file_write","file_list","shell_exec","web_fetch","kv_get","kv_set"]'
t_eq "its name, model and temperature come from the template" \
    "$(jb '"\(.name) \(.model.max_tokens) \(.model.temperature)"')" "my-coder 8192 0.3"
t_ok "and its system prompt" bash -c '[[ "$0" == "You are Coder"* ]]' "$(jb .system_prompt)"
lf_req GET "/api/agents"
t_eq "the list shows it" "$(jb '[.[] | select(.name == "my-coder")] | length')" 1

lf_req POST /api/agents '{"template":"coder"}'
t_eq "spawning a template twice under its name is 409" "$LF_STATUS" 409
t_ok "as {\"error\": ...}" lf_err_shape
lf_req POST /api/agents '{"template":"no-such-template"}'
t_eq "an unknown template is 404 naming it" "$LF_STATUS $(jb .error)" "404 Template 'no-such-template' not found"
t_ok "as {\"error\": ...}" lf_err_shape
lf_req POST /api/agents '{"template":"../coder"}'
t_eq "a template path is no template (404)" "$LF_STATUS" 404
lf_req POST /api/agents "$(jq -nc --arg t "$(printf 'x%.0s' {1..5000})" '{template: $t}')"
t_eq "a huge template name is a short 404" "$LF_STATUS $(jb .error)" "404 Template not found"
lf_req POST /api/agents '{"template":""}'
t_eq "an empty template is 400" "$LF_STATUS" 400
lf_req POST /api/agents '{"template":7}'
t_eq "a template that is not a string is 400" "$LF_STATUS" 400
lf_req POST /api/agents '{"template":"writer","name":"bad name!"}'
t_eq "a bad name override is 400" "$LF_STATUS" 400
lf_req POST /api/agents/bulk '{"agents":[{"template":"writer","name":"bulk-writer"},{"template":"nope"}]}'
t_eq "bulk create spawns from templates too" "$LF_STATUS $(jbc '[.results[] | .status]')" '200 [201,404]'

# ---- profiles -----------------------------------------------------------------
lf_req GET /api/profiles
t_eq "GET /api/profiles is 200" "$LF_STATUS" 200
t_eq "the tool profiles, in order" "$(jb '[.profiles[].name] | join(",")')" "minimal,coding,research,messaging,automation,full"
t_eq "total counts them" "$(jb .total)" 6
t_eq "each has name, description, tools, capabilities" \
    "$(jb '[.profiles[] | keys == ["capabilities","description","name","tools"]] | all')" true
t_eq "profiles name only built-in tools (or *)" \
    "$(jb --argjson all "$TOOLS" '[.profiles[] | .tools - $all - ["*"] == []] | all')" true
PLIST=$LF_BODY
for p in minimal coding research messaging automation full; do
	lf_req GET "/api/profiles/$p"
	t_eq "GET /api/profiles/$p is the list's entry" "$LF_STATUS $LF_BODY" \
	    "200 $(printf '%s' "$PLIST" | jq -c --arg p "$p" '.profiles[] | select(.name == $p)')"
done
lf_req GET /api/profiles/coding
t_eq "coding grants the shell" "$(jb '.tools | index("shell_exec") != null')" true
lf_req GET /api/profiles/minimal
t_eq "minimal is read-only" "$(jbc .tools)" '["file_read","file_list"]'
lf_req GET /api/profiles/full
t_eq "full is every tool" "$(jbc .tools)" '["*"]'
lf_req GET /api/profiles/godmode
t_eq "an unknown profile is 404" "$LF_STATUS $(jb .error)" "404 Profile 'godmode' not found"
t_ok "as {\"error\": ...}" lf_err_shape
lf_req GET /api/profiles/custom
t_eq "custom (full's other name in a manifest) is not listed" "$LF_STATUS" 404

# What a profile grants is what it shows: an agent of each profile is
# offered exactly the tools of GET /api/profiles/<name> ("*": every tool).
lf_req GET /api/tools
ALL=$(jbc '[.tools[].name] | sort')
for p in minimal coding research messaging automation full; do
	lf_req GET "/api/profiles/$p"
	WANT=$(jbc --argjson all "$ALL" 'if .tools == ["*"] then $all else .tools | sort end')
	lf_req POST /api/agents "$(lf_spawn_json "name = \"prof-$p\"
profile = \"$p\"
[model]
provider = \"openai\"
model = \"m-prof-$p\"")"
	A=$(jb .agent_id)
	lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'which tools?')"
	t_eq "profile $p: a turn is 200" "$LF_STATUS" 200
	t_eq "profile $p: the agent is offered exactly the tools its profile shows" \
	    "$(lf_fake_requests "m-prof-$p" | jq -c '[.[0].body.tools[]?.function.name] | sort')" "$WANT"
done

# ---- slash commands -----------------------------------------------------------
lf_req GET /api/commands
t_eq "GET /api/commands is 200" "$LF_STATUS" 200
t_eq "every entry has cmd (with its slash) and desc" \
    "$(jb '[.commands[] | (.cmd | startswith("/")) and (.desc | length > 5)] | all')" true
t_eq "total counts them" "$(jb .total)" "$(jb '.commands | length')"
for c in help new reset reboot compact stop model usage context verbose queue budget peers think; do
	t_eq "/$c is listed" "$(jb --arg c "/$c" '[.commands[] | select(.cmd == $c)] | length')" 1
done
t_eq "the WebSocket's commands run on the server" \
    "$(jb '[.commands[] | select(.cmd | IN("/new","/reset","/reboot","/compact","/stop","/model","/usage","/context","/verbose","/queue","/budget","/peers")) | .exec] | unique | join(",")')" server
t_eq "commands with arguments say so" "$(jb '.commands[] | select(.cmd == "/model") | "\(.no_args) \(.args_hint) \(.usage)"')" \
    "false [name] /model [name]"
t_eq "commands without arguments too" "$(jb '.commands[] | select(.cmd == "/stop") | "\(.no_args) \(.args_hint)"')" "true null"
t_eq "channel-only commands are not in the web menu" "$(jb '[.commands[] | select(.cmd == "/btw" or .cmd == "/approve")] | length')" 0
CLIST=$LF_BODY

lf_req GET "/api/commands?scope=channel"
t_eq "?scope=channel lists the channel bots' commands" \
    "$(jb '[.commands[] | select(.cmd == "/btw" or .cmd == "/approve" or .cmd == "/new")] | length') $(jb '[.commands[] | select(.cmd == "/clear")] | length')" "3 0"
lf_req GET "/api/commands?scope=all"
t_eq "?scope=all lists both" "$(jb '[.commands[] | select(.cmd == "/btw" or .cmd == "/clear")] | length')" 2
lf_req GET "/api/commands?scope=everywhere"
t_eq "a bad scope is 400" "$LF_STATUS" 400

lf_req GET /api/commands/model
t_eq "GET /api/commands/model is the list's entry" "$LF_STATUS $LF_BODY" \
    "200 $(printf '%s' "$CLIST" | jq -c '.commands[] | select(.cmd == "/model")')"
lf_req GET /api/commands/%2Fcompact
t_eq "with its slash too" "$LF_STATUS $(jb .cmd)" "200 /compact"
lf_req GET /api/commands/HELP
t_eq "in any case" "$LF_STATUS $(jb .cmd)" "200 /help"
lf_req GET /api/commands/quit
t_eq "an alias finds its command" "$LF_STATUS $(jb .cmd)" "200 /exit"
lf_req GET /api/commands/btw
t_eq "a channel command is found by name" "$LF_STATUS $(jb '.scopes | join(",")')" "200 channel"
lf_req GET /api/commands/frobnicate
t_eq "an unknown command is 404" "$LF_STATUS $(jb .error)" "404 Command 'frobnicate' not found"
t_ok "as {\"error\": ...}" lf_err_shape

t_done
