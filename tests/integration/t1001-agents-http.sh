#!/usr/bin/env bash
# The agent endpoints over HTTP, through api-gateway to agent-runtime:
# spawn, get, list, each update endpoint, clone, bulk, delete, the error
# shapes, and the same agents listed after agent-runtime and PostgreSQL
# restart.  t1000-agents.sh covers the operations in more depth over the
# bus.
. "$(dirname "$0")/../lib.sh"

NS=9b6ae32d-7a4f-4c1e-8d0f-a1b2c3d4e5f6

uuid5() { python3 -c "import uuid,sys; print(uuid.uuid5(uuid.UUID('$NS'), 'agent:' + sys.argv[1]))" "$1"; }
wait_list() {
	local i
	for i in $(seq 200); do
		lf_req GET /api/agents
		[ "$LF_STATUS" = 200 ] && return 0
		sleep 0.05
	done
	return 1
}

lf_stack_start agent-runtime
wait_list || { echo "Bail out! GET /api/agents never answered 200"; lf_dump_logs; exit 1; }

# ---- spawn, get, list -----------------------------------------------------
TOML='name = "http-one"
description = "over http"
tags = ["web"]
[model]
provider = "groq"
model = "llama-3.3-70b-versatile"
temperature = 0.2'
lf_req POST /api/agents "$(lf_spawn_json "$TOML")"
t_eq "POST /api/agents is 201" "$LF_STATUS" 201
t_eq "with agent_id = uuid5(ns, 'agent:http-one') and the name" "$(jb '"\(.agent_id) \(.name)"')" "$(uuid5 http-one) http-one"
ID=$(jb .agent_id)
t_ok "the reply is JSON" bash -c "printf '%s\n' \"\$0\" | grep -qi '^content-type: application/json'" "$LF_HEADERS"

lf_req GET "/api/agents/$ID"
t_eq "GET /api/agents/{id} is 200" "$LF_STATUS" 200
t_eq "get: name, state, mode, model" "$(jb '"\(.name) \(.state) \(.mode) \(.model.provider) \(.model.model) \(.model.max_tokens) \(.model.temperature)"')" \
    "http-one Running full groq llama-3.3-70b-versatile 4096 0.2"
t_eq "get: the spec's keys are present" \
    "$(jb '[ "id","name","is_hand","state","mode","profile","created_at","last_active","session_id","model","capabilities","system_prompt","description","tags","identity","skills","skills_mode","schedule","skills_disabled","tools_disabled","mcp_servers","mcp_servers_mode","mcp_disabled","fallback_models","auto_evolve","web_search_augmentation" ] - keys | length')" 0

lf_req POST /api/agents "$(lf_spawn_json 'name = "http-two"')"
ID2=$(jb .agent_id)
lf_req GET /api/agents
t_eq "GET /api/agents lists both, oldest first" "$(jb 'map(.name) | join(",")')" "http-one,http-two"
t_eq "list items carry model_provider and model_name" "$(jb '.[0] | "\(.model_provider) \(.model_name) \(.state)"')" \
    "groq llama-3.3-70b-versatile Running"

# ---- errors ------------------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$TOML")"
t_eq "duplicate spawn is 409" "$LF_STATUS $(jb .error)" "409 Agent 'http-one' already exists"
t_ok "errors are {\"error\": message}" lf_err_shape
lf_req POST /api/agents "$(lf_spawn_json $'name = "bad"\n[model\nprovider = "x"')"
t_eq "malformed TOML is 400" "$LF_STATUS" 400
t_ok "naming the line ($(jb .error))" bash -c "[[ \"\$0\" == 'invalid manifest: line 2:'* ]]" "$(jb .error)"
lf_req POST /api/agents "$(lf_spawn_json 'description = "nameless"')"
t_eq "a manifest without a name is 400" "$LF_STATUS" 400
lf_req POST /api/agents '{"manifest_toml":"name = \"x\"","flavour":"mint"}'
t_eq "an unknown field is 400 naming it" "$LF_STATUS $(jb .error)" "400 unknown field 'flavour'"
lf_req POST /api/agents '[1,2]'
t_eq "a non-object body is 400" "$LF_STATUS" 400
lf_req POST /api/agents '{"template":"no-such-template"}'
t_eq "an unknown template is 404" "$LF_STATUS" 404
lf_req GET /api/agents/not-a-uuid
t_eq "a bad id is 400 Invalid agent ID" "$LF_STATUS $(jb .error)" "400 Invalid agent ID"
lf_req GET /api/agents/00000000-0000-4000-8000-000000000000
t_eq "an unknown id is 404 Agent not found" "$LF_STATUS $(jb .error)" "404 Agent not found"
lf_req DELETE /api/agents/00000000-0000-4000-8000-000000000000
t_eq "deleting an unknown id is 404" "$LF_STATUS" 404

# ---- updates --------------------------------------------------------------------
lf_req PUT "/api/agents/$ID/update" '{"description":"put","system_prompt":"Be brief.","tags":["a","b"]}'
t_eq "PUT /update is 200" "$LF_STATUS $(jb .status) $(jb .agent_id)" "200 updated $ID"
lf_req GET "/api/agents/$ID"
t_eq "and get shows it" "$(jb '"\(.description)|\(.system_prompt)|\(.tags | join(","))"')" "put|Be brief.|a,b"

lf_req PATCH "/api/agents/$ID" '{"description":"patched","model":"gpt-4o","provider":"openai"}'
t_eq "PATCH is 200" "$LF_STATUS $(jb .status)" "200 updated"
lf_req GET "/api/agents/$ID"
t_eq "and get shows it" "$(jb '"\(.description) \(.model.provider) \(.model.model)"')" "patched openai gpt-4o"
lf_req PATCH "/api/agents/$ID" '{"max_tokens":5}'
t_eq "PATCH with a field it does not take is 400" "$LF_STATUS $(jb .error)" "400 unknown field 'max_tokens'"

lf_req PUT "/api/agents/$ID/mode" '{"mode":"Stable"}'
t_eq "PUT /mode Stable is 200 echoing the mode" "$LF_STATUS $(jb .mode) $(jb .agent_id)" "200 Stable $ID"
lf_req GET "/api/agents/$ID"
t_eq "Stable pinned the model" "$(jb .pinned_model)" gpt-4o
lf_req PUT "/api/agents/$ID/mode" '{"mode":"observe"}'
lf_req GET "/api/agents/$ID"
t_eq "observe shows as the mode" "$(jb .mode)" observe
lf_req PUT "/api/agents/$ID/mode" '{"mode":"Turbo"}'
t_eq "an unknown mode is 400" "$LF_STATUS" 400

lf_req PATCH "/api/agents/$ID/identity" '{"emoji":"🦊","color":"#AA00FF","archetype":"researcher"}'
t_eq "PATCH /identity is 200 with the identity" "$LF_STATUS $(jb '.identity | "\(.emoji) \(.color) \(.archetype)"')" "200 🦊 #AA00FF researcher"
lf_req GET "/api/agents/$ID"
t_eq "and get shows it" "$(jb '.identity | "\(.emoji) \(.color) \(.archetype) \(.vibe)"')" "🦊 #AA00FF researcher null"
lf_req PATCH "/api/agents/$ID/identity" '{"color":"purple"}'
t_eq "a bad colour is 400" "$LF_STATUS" 400

lf_req PATCH "/api/agents/$ID/config" '{"max_tokens":2048,"temperature":1.5,"web_search_augmentation":"always"}'
t_eq "PATCH /config is 200" "$LF_STATUS $(jb .status)" "200 updated"
lf_req GET "/api/agents/$ID"
t_eq "and get shows it" "$(jb '"\(.model.max_tokens) \(.model.temperature) \(.web_search_augmentation)"')" "2048 1.5 always"
lf_req PATCH "/api/agents/$ID/config" '{"max_tokens":-1}'
t_eq "max_tokens -1 is 400" "$LF_STATUS" 400
lf_req PATCH "/api/agents/$ID/config" '{"temperature":9}'
t_eq "temperature 9 is 400" "$LF_STATUS" 400
lf_req PATCH "/api/agents/$ID/config" '{"temperature":"warm"}'
t_eq "temperature as a string is 400" "$LF_STATUS" 400

# ---- clone and bulk -----------------------------------------------------------
lf_req POST "/api/agents/$ID/clone" '{"new_name":"http-clone"}'
t_eq "POST /clone is 201" "$LF_STATUS $(jb .name) $(jb .agent_id)" "201 http-clone $(uuid5 http-clone)"
IDC=$(jb .agent_id)
lf_req GET "/api/agents/$IDC"
t_eq "the clone has the source's model" "$(jb '"\(.model.provider) \(.model.model) \(.model.max_tokens)"')" "openai gpt-4o 2048"

lf_req POST /api/agents/bulk '{"agents":[{"manifest_toml":"name = \"hb-1\""},{"manifest_toml":"name = \"http-one\""},{"manifest_toml":"oops ="}]}'
t_eq "POST /bulk is 200" "$LF_STATUS" 200
t_eq "with per-item statuses" "$(jb '[.results[].status] | join(",")') $(jb .created) $(jb .failed)" "201,409,400 1 2"
IDB=$(jb '.results[0].agent_id')
IDS=$(jq -nc --arg a "$IDB" --arg b "$ID2" '{agent_ids: [$a, $b, "00000000-0000-4000-8000-000000000000"]}')
lf_req POST /api/agents/bulk/stop "$IDS"
t_eq "POST /bulk/stop is 200" "$LF_STATUS $(jb '[.results[].status] | join(",")')" "200 suspended,suspended,not_found"
lf_req GET /api/agents
t_eq "stopped agents list as Suspended" "$(jb "[.[] | select(.id == \"$IDB\" or .id == \"$ID2\") | .state] | join(\",\")")" "Suspended,Suspended"
lf_req POST /api/agents/bulk/start "$IDS"
t_eq "POST /bulk/start is 200" "$LF_STATUS $(jb '[.results[].status] | join(",")')" "200 running,running,not_found"
lf_req GET "/api/agents/$ID2"
t_eq "a started agent is Running" "$(jb .state)" Running
lf_req DELETE /api/agents/bulk "$(jq -nc --arg a "$IDB" '{agent_ids: [$a, "junk"]}')"
t_eq "DELETE /bulk is 200" "$LF_STATUS $(jb '[.results[].status] | join(",")')" "200 killed,error"

lf_req DELETE "/api/agents/$IDC"
t_eq "DELETE /api/agents/{id} is 200 killed" "$LF_STATUS $(jb .status) $(jb .agent_id)" "200 killed $IDC"
lf_req GET "/api/agents/$IDC"
t_eq "and the agent is gone" "$LF_STATUS" 404

# ---- restarts -------------------------------------------------------------------
lf_req GET /api/agents
BEFORE=$(jbc '[.[] | [.id, .name, .state, .mode, .created_at]]')
lf_req GET "/api/agents/$ID"
GET1=$(jbc '.')

lf_stop agent-runtime
t_eq "agent-runtime exits 0 on SIGTERM" "$LF_EXIT" 0
lf_start agent-runtime
wait_list
t_eq "after an agent-runtime restart GET /api/agents lists the same agents" \
    "$(jbc '[.[] | [.id, .name, .state, .mode, .created_at]]')" "$BEFORE"
lf_req GET "/api/agents/$ID"
t_eq "and GET /api/agents/{id} answers the same" "$(jbc '.')" "$GET1"

lf_pg_stop
lf_req GET /api/agents
t_eq "with PostgreSQL down the list is 503" "$LF_STATUS" 503
lf_pg_start
wait_list
t_eq "after a PostgreSQL restart the same agents are listed" \
    "$(jbc '[.[] | [.id, .name, .state, .mode, .created_at]]')" "$BEFORE"
lf_req POST /api/agents "$(lf_spawn_json 'name = "after-restart"')"
t_eq "and spawning works again" "$LF_STATUS" 201

# The list reads a summary kept by a trigger: it must follow every edit.
AR=$(echo "$LF_BODY" | jq -r .agent_id)
lf_req PATCH "/api/agents/$AR" '{"description":"changed","tags":["x","y"]}'
t_eq "a partial patch succeeds" "$LF_STATUS" 200
lf_req PATCH "/api/agents/$AR/config" '{"provider":"anthropic","model":"claude-x"}'
t_eq "a config patch succeeds" "$LF_STATUS" 200
lf_req GET /api/agents
t_eq "the list shows the edited description, tags and model" \
    "$(echo "$LF_BODY" | jq -c --arg id "$AR" '.[] | select(.id == $id) | [.description, .tags, .model_provider, .model_name]')" \
    '["changed",["x","y"],"anthropic","claude-x"]'
lf_req PATCH "/api/agents/$AR" "$(jq -n '{manifest_toml: "name = \"after-restart\"\ndescription = \"whole\"\n[model]\nprovider = \"groq\"\nmodel = \"m2\"\n"}')"
t_eq "a whole-manifest patch succeeds" "$LF_STATUS" 200
lf_req GET /api/agents
t_eq "and the list follows it too" \
    "$(echo "$LF_BODY" | jq -c --arg id "$AR" '.[] | select(.id == $id) | [.description, .model_provider, .model_name]')" \
    '["whole","groq","m2"]'
lf_stop agent-runtime
t_eq "agent-runtime exits 0 at the end" "$LF_EXIT" 0

t_done
