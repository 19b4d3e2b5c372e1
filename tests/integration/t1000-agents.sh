#!/usr/bin/env bash
# agent-runtime over the bus (bustool): spawn, get, list, every update
# operation, clone, the four bulk operations, delete, input checks,
# lifecycle events, and agents surviving restarts of agent-runtime and of
# PostgreSQL.  The same behaviour over HTTP is t1001-agents-http.sh.
. "$(dirname "$0")/../lib.sh"

NS=9b6ae32d-7a4f-4c1e-8d0f-a1b2c3d4e5f6

# bustool is a client here, not under test: under SANITIZE builds its own
# leaks must not swallow its output.
bustool() { "$LF_BIN/bustool" "$@"; }
# ar OP [JSON]: one request; sets AR_STATUS and AR_BODY (compact JSON).
ar() {
	local out
	out=$(bustool -t 5000 req agent-runtime "$@" 2>/dev/null)
	AR_STATUS=$(printf '%s' "$out" | jq -r '.status' 2>/dev/null)
	AR_BODY=$(printf '%s' "$out" | jq -c '.body' 2>/dev/null)
}
# j FILTER: applies a jq filter to AR_BODY.
j() { printf '%s' "$AR_BODY" | jq -r "$1"; }
jc() { printf '%s' "$AR_BODY" | jq -c "$1"; }
uuid5() { python3 -c "import uuid,sys; print(uuid.uuid5(uuid.UUID('$NS'), 'agent:' + sys.argv[1]))" "$1"; }
# spawn_body TOML: the request {"body":{"manifest_toml":TOML}}.
spawn_body() { jq -nc --arg t "$1" '{body: {manifest_toml: $t}}'; }
# on ID BODY-JSON: the request {"params":{"id":ID},"body":BODY}.
on() { jq -nc --arg id "$1" --argjson b "$2" '{params: {id: $id}, body: $b}'; }
psql_q() { psql -h "$LIBREFANG_HOME/pg" -U librefang -d librefang -Atc "$1"; }
wait_up() {
	local i
	for i in $(seq 200); do
		ar sys.health
		[ "$AR_STATUS" = 200 ] && [ "$(j .database)" = connected ] && return 0
		sleep 0.05
	done
	return 1
}

lf_pg_start
lf_start bus
lf_start agent-runtime
wait_up || { echo "Bail out! agent-runtime did not come up"; lf_dump_logs; exit 1; }

t_eq "migration created runtime.agents" \
    "$(psql_q "SELECT count(*) FROM information_schema.tables WHERE table_schema='runtime' AND table_name='agents'")" 1

# Lifecycle events, collected in the background from here on.
# The program itself, not the shell function: a background function is a
# subshell, and killing it left bustool running after the test.
lf_bg events "$LF_BIN/bustool" -t 60000 sub lifecycle 100000 \
    >"$LF_TMP/events" 2>/dev/null
sleep 0.3

# ---- spawn ------------------------------------------------------------
TOML1='name = "alpha"
description = "first agent"
tags = ["ops", "digest"]
[model]
provider = "groq"
model = "llama-3.3-70b-versatile"
[capabilities]
tools = ["file_read", "web_fetch"]
network = ["*"]'
ar agents.spawn "$(spawn_body "$TOML1")"
t_eq "spawn answers 201" "$AR_STATUS" 201
ID1=$(j .agent_id)
t_eq "the id is uuid5(ns, 'agent:alpha')" "$ID1" "$(uuid5 alpha)"
t_eq "spawn echoes the name" "$(j .name)" alpha

ar agents.get "$(on "$ID1" null)"
t_eq "get answers 200" "$AR_STATUS" 200
t_eq "get has exactly the documented keys" "$(j 'keys | join(",")')" \
    "auto_evolve,capabilities,created_at,description,fallback_models,id,identity,is_hand,last_active,mcp_disabled,mcp_servers,mcp_servers_mode,mode,model,name,pinned_model,profile,schedule,session_id,skills,skills_disabled,skills_mode,state,system_prompt,tags,tools_disabled,web_search_augmentation"
t_eq "get: id, name, state, mode" "$(j '[.id, .name, .state, .mode] | join(" ")')" "$ID1 alpha Running full"
t_eq "get: model with defaults" "$(j '.model | "\(.provider) \(.model) \(.max_tokens) \(.temperature)"')" \
    "groq llama-3.3-70b-versatile 4096 0.7"
t_eq "get: capabilities" "$(j '.capabilities | "\(.tools | join(",")) \(.network | join(","))"')" "file_read,web_fetch *"
t_eq "get: description and tags" "$(j '"\(.description) \(.tags | join(","))"')" "first agent ops,digest"
t_eq "get: default system prompt" "$(j .system_prompt)" "You are a helpful AI agent."
t_eq "get: identity keys all null" "$(j '.identity | to_entries | map("\(.key)=\(.value)") | join(",")')" \
    "archetype=null,avatar_url=null,color=null,emoji=null,greeting_style=null,vibe=null"
t_eq "get: schedule, skills, mcp modes" "$(j '"\(.schedule) \(.skills_mode) \(.mcp_servers_mode) \(.web_search_augmentation)"')" \
    "manual all none auto"
t_ok "get: session_id is a UUID" python3 -c "import uuid; uuid.UUID('$(j .session_id)')"
t_ok "get: created_at is RFC 3339 UTC" bash -c "[[ '$(j .created_at)' =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]]"
SID1=$(j .session_id)

t_eq "original TOML is stored verbatim" "$(psql_q "SELECT source_toml = \$\$$TOML1\$\$ FROM runtime.agents WHERE id = '$ID1'")" t
t_ok "stored manifest_toml parses back to the stored manifest" python3 -c "
import json, subprocess, tomllib
out = subprocess.check_output(['psql', '-h', '$LIBREFANG_HOME/pg', '-U', 'librefang', '-d', 'librefang', '-Atc',
    \"SELECT json_build_array(manifest_toml, manifest)::text FROM runtime.agents WHERE id = '$ID1'\"])
toml, manifest = json.loads(out)
assert tomllib.loads(toml) == manifest
"

# The full example of notes §1.11: every table kind, round-tripped.
FULL='name = "release-watcher"
version = "1.2.0"
description = "Watches upstream releases, summarises changes, posts a digest."
author = "ops-team"
module = "builtin:chat"
tags = ["ops", "digest"]
session_mode = "new"
enabled = true
max_history_messages = 80
show_progress = false
web_search_augmentation = "off"
tool_blocklist = ["browser_*"]
exec_policy = "allowlist"        # string shorthand

[metadata]
lazy_tools = true
[metadata.routing]
aliases = ["release digest"]
weak_aliases = ["release", "changelog"]

[model]
provider = "anthropic"
model = "sonnet"
api_key_env = "ANTHROPIC_API_KEY"
max_tokens = 8192
temperature = 0.2
context_window = 200000
system_prompt = """You track software releases. Fetch release notes,
summarise breaking changes first, then features, then fixes."""
top_p = 0.9

[[fallback_models]]
provider = "groq"
model = "llama-3.3-70b-versatile"
api_key_env = "GROQ_API_KEY"

[[fallback_models]]
provider = "default"
model = "default"

[schedule]
periodic = { cron = "every 6h" }

[resources]
max_llm_tokens_per_hour = 200000
burst_ratio = 0.3
max_tool_calls_per_minute = 30
max_cost_per_day_usd = 2.5

[capabilities]
tools = ["web_fetch", "web_search", "file_*", "memory_*", "channel_send", "shell_exec"]
network = ["*"]
memory_read = ["*"]
memory_write = ["self.*"]
agent_spawn = false
agent_message = []
shell = ["git *", "curl *"]

[autonomous]
max_iterations = 30
heartbeat_interval_secs = 60

[thinking]
budget_tokens = 4000
stream_thinking = false

[compaction]
keep_recent = 20
max_summary_tokens = 2048

[workspaces]
reports = { path = "shared/reports", mode = "rw" }

[[triggers]]
pattern = { task_posted = {} }
prompt_template = "A task was posted: {{event}}"
max_fires = 0
cooldown_secs = 60
enabled = true'
ar agents.spawn "$(spawn_body "$FULL")"
t_eq "the full manifest example spawns" "$AR_STATUS $(j .name)" "201 release-watcher"
IDF=$(j .agent_id)
ar agents.get "$(on "$IDF" null)"
t_eq "full example: model, schedule, fallbacks" \
    "$(j '"\(.model.provider) \(.model.model) \(.model.max_tokens) \(.model.temperature) \(.schedule) \(.fallback_models | map(.provider) | join(","))"')" \
    "anthropic sonnet 8192 0.2 every 6h groq,default"
t_eq "full example: stored details" \
    "$(psql_q "SELECT concat_ws(' ', manifest->>'exec_policy', manifest->'model'->>'top_p', manifest->'resources'->>'burst_ratio', manifest->'triggers'->0->'pattern', manifest->'metadata'->'routing'->'aliases'->>0) FROM runtime.agents WHERE id = '$IDF'")" \
    'allowlist 0.9 0.3 {"task_posted": {}} release digest'
t_ok "full example: manifest_toml parses back to the manifest" python3 -c "
import json, subprocess, tomllib
out = subprocess.check_output(['psql', '-h', '$LIBREFANG_HOME/pg', '-U', 'librefang', '-d', 'librefang', '-Atc',
    \"SELECT json_build_array(manifest_toml, manifest)::text FROM runtime.agents WHERE id = '$IDF'\"])
toml, manifest = json.loads(out)
assert tomllib.loads(toml) == manifest
"
ar agents.delete "$(on "$IDF" null)"

# Defaults for a bare manifest; uppercase id accepted.
ar agents.spawn "$(spawn_body 'name = "beta"')"
t_eq "spawn of a minimal manifest" "$AR_STATUS" 201
ID2=$(j .agent_id)
ar agents.get "$(on "${ID2^^}" null)"
t_eq "uppercase id finds the agent, reported lowercase" "$(j .id)" "$ID2"
t_eq "minimal manifest: model defaults" "$(j '.model | "\(.provider) \(.model) \(.max_tokens) \(.temperature)"')" \
    "default default 4096 0.7"

# The body's name overrides the manifest's.
ar agents.spawn "$(jq -nc '{body: {manifest_toml: "name = \"ignored\"", name: "gamma"}}')"
t_eq "name field overrides the manifest name" "$AR_STATUS $(j .name) $(j .agent_id)" "201 gamma $(uuid5 gamma)"
ID3=$(j .agent_id)

# ---- spawn errors -------------------------------------------------------
ar agents.spawn "$(spawn_body "$TOML1")"
t_eq "duplicate name is 409" "$AR_STATUS $(j .error)" "409 Agent 'alpha' already exists"
ar agents.spawn "$(spawn_body $'name = "delta"\ndescription = "x\n[model]\n')"
t_eq "malformed TOML is 400" "$AR_STATUS" 400
t_ok "and the error names the line ($(j .error))" bash -c "[[ '$(j .error)' == 'invalid manifest: line 2:'* ]]"
ar agents.spawn "$(spawn_body 'description = "no name"')"
t_eq "missing name is 400" "$AR_STATUS" 400
ar agents.spawn "$(spawn_body 'name = ""')"
t_eq "empty name is 400" "$AR_STATUS" 400
ar agents.spawn "$(spawn_body 'name = "has space"')"
t_eq "name with a space is 400" "$AR_STATUS" 400
ar agents.spawn "$(jq -nc '{body: {manifest_toml: "name = \"x\"", name: "_operator:root"}}')"
t_eq "reserved _operator: prefix is 400" "$AR_STATUS" 400
ar agents.spawn "$(spawn_body "name = \"$(printf 'n%.0s' $(seq 65))\"")"
t_eq "65-character name is 400" "$AR_STATUS" 400
ar agents.spawn "$(spawn_body 'name = 42')"
t_eq "non-string name is 400" "$AR_STATUS" 400
ar agents.spawn "$(jq -nc '{body: {manifest_toml: "name = \"x\"", colour: "red"}}')"
t_eq "unknown body field is 400 naming it" "$AR_STATUS $(j .error)" "400 unknown field 'colour'"
ar agents.spawn '{"body":["name"]}'
t_eq "non-object body is 400" "$AR_STATUS" 400
ar agents.spawn
t_eq "no body is 400" "$AR_STATUS" 400
ar agents.spawn '{"body":{"manifest_toml":7}}'
t_eq "non-string manifest_toml is 400" "$AR_STATUS" 400
ar agents.spawn '{"body":{"template":"no-such-template"}}'
t_eq "unknown template is 404" "$AR_STATUS $(j .error)" "404 Template 'no-such-template' not found"
ar agents.spawn '{"body":{}}'
t_eq "neither manifest nor template is 400" "$AR_STATUS" 400
ar agents.spawn "$(spawn_body $'name = "x1"\ndescription = 5')"
t_eq "wrong-typed scalar in the manifest is 400" "$AR_STATUS" 400
ar agents.spawn "$(spawn_body $'name = "x2"\n[model]\nmax_tokens = 0')"
t_eq "max_tokens = 0 in the manifest is 400" "$AR_STATUS" 400
ar agents.spawn "$(spawn_body $'name = "x3"\n[model]\ntemperature = 5.0')"
t_eq "temperature 5.0 in the manifest is 400" "$AR_STATUS" 400
ar agents.spawn "$(spawn_body $'name = "x4"\nsession_mode = "New"')"
t_eq "unknown enumeration value is 400" "$AR_STATUS" 400
ar agents.spawn "$(spawn_body $'name = "x5"\nmodel = "gpt"')"
t_eq "model that is not a table is 400" "$AR_STATUS" 400

# Lenient lists: a wrong-typed list becomes empty, unknown keys are kept.
ar agents.spawn "$(spawn_body $'name = "lenient"\ntags = "not-a-list"\nskills = [1, 2]\nfuture_key = 3\n[i18n.fr]\nname = "x"')"
t_eq "lenient manifest spawns" "$AR_STATUS" 201
IDL=$(j .agent_id)
ar agents.get "$(on "$IDL" null)"
t_eq "wrong-typed lists became empty" "$(j '"\(.tags | length) \(.skills | length)"')" "0 0"
t_eq "unknown keys are kept in the stored manifest" \
    "$(psql_q "SELECT (manifest->>'future_key') || (manifest->'i18n'->'fr'->>'name') FROM runtime.agents WHERE id = '$IDL'")" "3x"

# ---- ids ----------------------------------------------------------------
for op in agents.get agents.delete agents.patch agents.update agents.mode agents.identity agents.config agents.clone; do
	ar $op "$(on not-a-uuid '{}')"
	t_eq "$op with a bad id is 400 Invalid agent ID" "$AR_STATUS $(j .error)" "400 Invalid agent ID"
done
ar agents.get '{"params":{}}'
t_eq "missing id is 400" "$AR_STATUS" 400
NOPE=00000000-0000-4000-8000-000000000000
for op in agents.get agents.delete; do
	ar $op "$(on $NOPE null)"
	t_eq "$op of an unknown id is 404" "$AR_STATUS $(j .error)" "404 Agent not found"
done
ar agents.update "$(on $NOPE '{"description":"x"}')"
t_eq "update of an unknown id is 404" "$AR_STATUS" 404

# ---- list ---------------------------------------------------------------
ar agents.list
t_eq "list answers 200" "$AR_STATUS" 200
t_eq "list is ordered by created_at" "$(j 'map(.name) | join(",")')" "alpha,beta,gamma,lenient"
t_eq "list item keys" "$(j '.[0] | keys | join(",")')" \
    "created_at,description,id,last_active,mode,model_name,model_provider,name,state,tags"
t_eq "list item content" "$(j '.[0] | "\(.id) \(.state) \(.model_provider) \(.model_name) \(.tags | join(","))"')" \
    "$ID1 Running groq llama-3.3-70b-versatile ops,digest"

# ---- update (PUT /update) ------------------------------------------------
ar agents.update "$(on "$ID1" '{"description":"updated","system_prompt":"You are special.","tags":["v2"]}')"
t_eq "update answers 200" "$AR_STATUS $(j .status) $(j .agent_id)" "200 updated $ID1"
ar agents.get "$(on "$ID1" null)"
t_eq "update changed description, prompt and tags" "$(j '"\(.description)|\(.system_prompt)|\(.tags | join(","))"')" \
    "updated|You are special.|v2"
ar agents.update "$(on "$ID1" '{"name":"x"}')"
t_eq "update with an unknown field is 400" "$AR_STATUS $(j .error)" "400 unknown field 'name'"
ar agents.update "$(on "$ID1" '{"tags":"v3"}')"
t_eq "update with wrong-typed tags is 400" "$AR_STATUS" 400
ar agents.update "$(on "$ID1" '{"description":7}')"
t_eq "update with a wrong-typed description is 400" "$AR_STATUS" 400
ar agents.update "$(on "$ID1" '"text"')"
t_eq "update with a non-object body is 400" "$AR_STATUS" 400

# ---- patch --------------------------------------------------------------
ar agents.patch "$(on "$ID2" '{"name":"beta2","model":"gpt-4o","provider":"openai","auto_evolve":false,"description":"renamed"}')"
t_eq "patch answers 200" "$AR_STATUS $(j .status) $(j .agent_id) $(j .name)" "200 updated $ID2 beta2"
ar agents.get "$(on "$ID2" null)"
t_eq "patch renamed, keeping the id" "$(j '"\(.id) \(.name)"')" "$ID2 beta2"
t_eq "patch changed model, provider, auto_evolve, description" \
    "$(j '"\(.model.provider) \(.model.model) \(.auto_evolve) \(.description)"')" "openai gpt-4o false renamed"
ar agents.patch "$(on "$ID2" '{"name":"alpha"}')"
t_eq "patch to a taken name is 409" "$AR_STATUS" 409
ar agents.patch "$(on "$ID2" '{"name":"bad name"}')"
t_eq "patch to an invalid name is 400" "$AR_STATUS" 400
ar agents.patch "$(on "$ID2" "$(jq -nc --arg n "$(printf 'p%.0s' $(seq 65))" '{name: $n}')")"
t_eq "patch to a 65-character name is 400" "$AR_STATUS" 400
ar agents.patch "$(on "$ID2" '{"bogus":1}')"
t_eq "patch with an unknown field is 400" "$AR_STATUS $(j .error)" "400 unknown field 'bogus'"
ar agents.patch "$(on "$ID2" '{"auto_evolve":"yes"}')"
t_eq "patch with a wrong type is 400" "$AR_STATUS" 400
ar agents.patch "$(on "$ID2" '{"schedule":{"continuous":{"check_interval_secs":120}}}')"
ar agents.get "$(on "$ID2" null)"
t_eq "patch set a schedule" "$(j .schedule)" "continuous · 120s"
# A respawn of the old name works although its v5 id is held by beta2.
ar agents.spawn "$(spawn_body 'name = "beta"')"
t_eq "the freed name can be spawned again" "$AR_STATUS" 201
ID2B=$(j .agent_id)
t_ok "with another id than the renamed agent's" test "$ID2B" != "$ID2"

NEWTOML='name = "whatever"
description = "replaced"
[model]
provider = "anthropic"
model = "claude-sonnet"
max_tokens = 8192'
ar agents.patch "$(on "$ID1" "$(jq -nc --arg t "$NEWTOML" '{manifest_toml: $t}')")"
t_eq "patch with manifest_toml answers 200" "$AR_STATUS" 200
ar agents.get "$(on "$ID1" null)"
t_eq "the whole manifest was replaced, the name kept" \
    "$(j '"\(.name) \(.description) \(.model.provider) \(.model.model) \(.model.max_tokens) \(.tags | length)"')" \
    "alpha replaced anthropic claude-sonnet 8192 0"
t_eq "the session is unchanged" "$(j .session_id)" "$SID1"
ar agents.patch "$(on "$ID1" "$(jq -nc '{manifest_toml: "name = \"a\"\n[model\n"}')")"
t_eq "patch with malformed TOML is 400 naming the line" "$AR_STATUS $(j .error | cut -c1-24)" "400 invalid manifest: line 2"
ar agents.patch "$(on "$ID1" '{"manifest_toml":"name = \"a\"","description":"x"}')"
t_eq "manifest_toml with other fields is 400" "$AR_STATUS" 400

# ---- mode ---------------------------------------------------------------
ar agents.mode "$(on "$ID1" '{"mode":"Stable"}')"
t_eq "mode Stable answers 200 echoing the mode" "$AR_STATUS $(j .status) $(j .mode) $(j .agent_id)" "200 updated Stable $ID1"
ar agents.get "$(on "$ID1" null)"
t_eq "Stable pinned the current model" "$(j .pinned_model)" claude-sonnet
ar agents.mode "$(on "$ID1" '{"mode":"Normal"}')"
ar agents.get "$(on "$ID1" null)"
t_eq "Normal cleared the pin" "$(j .pinned_model)" null
ar agents.mode "$(on "$ID1" '{"mode":"observe"}')"
t_eq "mode observe answers 200" "$AR_STATUS $(j .mode)" "200 observe"
ar agents.get "$(on "$ID1" null)"
t_eq "get shows mode observe" "$(j .mode)" observe
ar agents.mode "$(on "$ID1" '{"mode":"assist"}')"
ar agents.list
t_eq "list shows mode assist" "$(j ".[] | select(.id == \"$ID1\") | .mode")" assist
ar agents.mode "$(on "$ID1" '{"mode":"turbo"}')"
t_eq "unknown mode is 400" "$AR_STATUS" 400
ar agents.mode "$(on "$ID1" '{"mode":1}')"
t_eq "non-string mode is 400" "$AR_STATUS" 400
ar agents.mode "$(on "$ID1" '{}')"
t_eq "missing mode is 400" "$AR_STATUS" 400
ar agents.mode "$(on "$ID1" '{"mode":"full","x":1}')"
t_eq "mode with an unknown field is 400" "$AR_STATUS" 400
ar agents.mode "$(on "$ID1" '{"mode":"full"}')"

# ---- identity -----------------------------------------------------------
ar agents.identity "$(on "$ID1" '{"emoji":"🦊","color":"#FF8800","archetype":"coder","vibe":"friendly","greeting_style":"warm","avatar_url":"https://example.com/a.png"}')"
t_eq "identity answers 200" "$AR_STATUS $(j .status) $(j .agent_id)" "200 updated $ID1"
t_eq "identity reply carries the identity" "$(j '.identity | "\(.emoji) \(.color) \(.archetype)"')" "🦊 #FF8800 coder"
ar agents.identity "$(on "$ID1" '{"vibe":"concise"}')"
ar agents.get "$(on "$ID1" null)"
t_eq "get shows the merged identity" \
    "$(j '.identity | "\(.emoji) \(.avatar_url) \(.color) \(.archetype) \(.vibe) \(.greeting_style)"')" \
    "🦊 https://example.com/a.png #FF8800 coder concise warm"
ar agents.identity "$(on "$ID1" '{"emoji":""}')"
ar agents.get "$(on "$ID1" null)"
t_eq "an empty string clears a field" "$(j .identity.emoji)" null
for bad in '{"color":"orange"}' '{"color":"#12345"}' '{"archetype":"wizard"}' '{"vibe":"grumpy"}' \
    '{"greeting_style":"loud"}' '{"avatar_url":"javascript:alert(1)"}' '{"emoji":5}' '{"name":"x"}'; do
	ar agents.identity "$(on "$ID1" "$bad")"
	t_eq "identity $bad is 400" "$AR_STATUS" 400
done

# ---- config -------------------------------------------------------------
ar agents.config "$(on "$ID3" '{"max_tokens":8192,"temperature":0.3,"model":"m1","provider":"p1","api_key_env":"P1_API_KEY","base_url":"https://llm.example/v1","web_search_augmentation":"off","fallback_models":[{"provider":"groq","model":"llama"}],"system_prompt":"cfg prompt","description":"cfg","color":"#00ff00"}')"
t_eq "config answers 200" "$AR_STATUS $(j .status) $(j .agent_id)" "200 updated $ID3"
ar agents.get "$(on "$ID3" null)"
t_eq "config changed the model" "$(j '.model | "\(.provider) \(.model) \(.max_tokens) \(.temperature)"')" "p1 m1 8192 0.3"
t_eq "config changed the rest" \
    "$(j '"\(.web_search_augmentation) \(.fallback_models[0].provider)/\(.fallback_models[0].model) \(.system_prompt)|\(.description) \(.identity.color)"')" \
    "off groq/llama cfg prompt|cfg #00ff00"
t_eq "config stored api_key_env and base_url" \
    "$(psql_q "SELECT manifest->'model'->>'api_key_env' || ' ' || (manifest->'model'->>'base_url') FROM runtime.agents WHERE id = '$ID3'")" \
    "P1_API_KEY https://llm.example/v1"
ar agents.config "$(on "$ID3" '{"api_key_env":null}')"
t_eq "config api_key_env null clears it" \
    "$AR_STATUS $(psql_q "SELECT coalesce(manifest->'model'->>'api_key_env', 'none') FROM runtime.agents WHERE id = '$ID3'")" "200 none"
for bad in '{"max_tokens":0}' '{"max_tokens":20000000}' '{"max_tokens":"big"}' '{"max_tokens":1.5}' \
    '{"temperature":-0.1}' '{"temperature":2.5}' '{"temperature":"hot"}' '{"web_search_augmentation":"sometimes"}' \
    '{"api_key_env":"NOT VALID"}' '{"base_url":"ftp://x"}' '{"fallback_models":"groq"}' \
    '{"fallback_models":[{"provider":1}]}' '{"name":"a b"}' '{"model":[]}' '{"color":"red"}' '{"pinned":true}'; do
	ar agents.config "$(on "$ID3" "$bad")"
	t_eq "config $bad is 400" "$AR_STATUS" 400
done
ar agents.get "$(on "$ID3" null)"
t_eq "rejected configs changed nothing" "$(j '.model | "\(.max_tokens) \(.temperature)"')" "8192 0.3"

# ---- clone --------------------------------------------------------------
ar agents.identity "$(on "$ID3" '{"emoji":"🤖"}')"
ar agents.clone "$(on "$ID3" '{"new_name":"gamma-clone"}')"
t_eq "clone answers 201 with the v5 id" "$AR_STATUS $(j .name) $(j .agent_id)" "201 gamma-clone $(uuid5 gamma-clone)"
IDC=$(j .agent_id)
ar agents.get "$(on "$IDC" null)"
t_eq "the clone has the source's model and identity" \
    "$(j '"\(.model.provider) \(.model.model) \(.model.max_tokens) \(.identity.emoji) \(.tools_disabled)"')" "p1 m1 8192 🤖 false"
ar agents.get "$(on "$ID3" null)"
t_ok "the clone has a fresh session" test "$(ar agents.get "$(on "$IDC" null)"; j .session_id)" != "$(ar agents.get "$(on "$ID3" null)"; j .session_id)"
ar agents.clone "$(on "$ID3" '{"new_name":"gamma-bare","include_tools":false,"include_skills":false}')"
ar agents.get "$(on "$(j .agent_id)" null)"
t_eq "clone without tools and skills disables them" "$(j '"\(.tools_disabled) \(.skills_disabled) \(.skills_mode)"')" "true true none"
ar agents.clone "$(on "$ID3" '{"new_name":"alpha"}')"
t_eq "clone to a taken name is 409" "$AR_STATUS" 409
ar agents.clone "$(on "$ID3" '{}')"
t_eq "clone without new_name is 400" "$AR_STATUS" 400
ar agents.clone "$(on "$ID3" '{"new_name":"ok-name","include_tools":"no"}')"
t_eq "clone with a wrong type is 400" "$AR_STATUS" 400
ar agents.clone "$(on $NOPE '{"new_name":"orphan"}')"
t_eq "clone of an unknown agent is 404" "$AR_STATUS" 404

# ---- bulk ---------------------------------------------------------------
BULK=$(jq -nc '{body: {agents: [
	{manifest_toml: "name = \"bulk-1\""},
	{manifest_toml: "name = \"alpha\""},
	{manifest_toml: "name = \"bulk-3\"\n[model\n"},
	{manifest_toml: "name = \"bulk-4\"", extra: 1},
	"not an object",
	{manifest_toml: "name = \"bulk-2\"\n[model]\nprovider = \"groq\""}]}}')
ar agents.bulk_create "$BULK"
t_eq "bulk_create answers 200" "$AR_STATUS" 200
t_eq "bulk_create per-item statuses" "$(j '[.results[] | "\(.index):\(.status)"] | join(" ")')" "0:201 1:409 2:400 3:400 4:400 5:201"
t_eq "bulk_create counts" "$(j '"\(.created) \(.failed) \(.total)"')" "2 4 6"
t_eq "bulk_create ids are v5" "$(j '.results[0].agent_id')" "$(uuid5 bulk-1)"
t_ok "bulk_create errors are explained" test "$(j '.results[2].error')" != null
IDB1=$(j '.results[0].agent_id'); IDB2=$(j '.results[5].agent_id')
ar agents.bulk_create '{"body":{"agents":[]}}'
t_eq "bulk_create of nothing is 400" "$AR_STATUS" 400
ar agents.bulk_create "$(jq -nc '{body: {agents: [range(101) | {manifest_toml: "name = \"many-\(.)\""}]}}')"
t_eq "bulk_create of 101 is 400" "$AR_STATUS" 400
ar agents.bulk_create '{"body":{"agents":{}}}'
t_eq "bulk_create with agents not an array is 400" "$AR_STATUS" 400
ar agents.bulk_create '{"body":{"agents":[],"x":1}}'
t_eq "bulk_create with an unknown field is 400" "$AR_STATUS" 400
ar agents.bulk_create "$(jq -nc '{body: {agents: [range(100) | {manifest_toml: "name = \"many-\(.)\""}]}}')"
t_eq "bulk_create of 100 creates 100" "$AR_STATUS $(j .created)" "200 100"

IDS=$(jq -nc --arg a "$IDB1" --arg b "$IDB2" --arg n "$NOPE" '{body: {agent_ids: [$a, $b, $n, "junk", 5]}}')
ar agents.bulk_stop "$IDS"
t_eq "bulk_stop per-item statuses" "$(j '[.results[].status] | join(" ")')" "suspended suspended not_found error error"
t_eq "bulk_stop counts" "$(j '"\(.succeeded) \(.failed)"')" "2 3"
ar agents.get "$(on "$IDB1" null)"
t_eq "a stopped agent is Suspended" "$(j .state)" Suspended
ar agents.list
t_eq "list shows Suspended" "$(j "[.[] | select(.id == \"$IDB1\" or .id == \"$IDB2\") | .state] | join(\",\")")" "Suspended,Suspended"
ar agents.bulk_start "$IDS"
t_eq "bulk_start per-item statuses" "$(j '[.results[].status] | join(" ")')" "running running not_found error error"
ar agents.get "$(on "$IDB2" null)"
t_eq "a started agent is Running" "$(j .state)" Running
ar agents.bulk_stop '{"body":{"agent_ids":[]}}'
t_eq "bulk_stop of nothing is 400" "$AR_STATUS" 400
ar agents.bulk_stop '{"body":{"ids":[]}}'
t_eq "bulk_stop with a wrong field is 400" "$AR_STATUS" 400

MANY=$(ar agents.list; j '[.[] | select(.name | startswith("many-")) | .id]')
ar agents.bulk_delete "$(jq -nc --argjson l "$MANY" '{body: {agent_ids: $l}}')"
t_eq "bulk_delete of 100" "$AR_STATUS $(j .succeeded) $(j .failed)" "200 100 0"
ar agents.bulk_delete "$IDS"
t_eq "bulk_delete per-item statuses" "$(j '[.results[].status] | join(" ")')" "killed killed not_found error error"
ar agents.bulk_delete "$IDS"
t_eq "deleting again finds nothing" "$(j '[.results[].status] | join(" ")')" "not_found not_found not_found error error"

# ---- delete -------------------------------------------------------------
ar agents.delete "$(on "$IDL" null)"
t_eq "delete answers 200 killed" "$AR_STATUS $(j .status) $(j .agent_id)" "200 killed $IDL"
ar agents.get "$(on "$IDL" null)"
t_eq "a deleted agent is gone" "$AR_STATUS" 404
ar agents.delete "$(on "$IDL" null)"
t_eq "deleting it again is 404" "$AR_STATUS" 404

# ---- races across two replicas --------------------------------------------
"$LF_BIN/agent-runtime" >>"$LF_TMP/log/agent-runtime-2.log" 2>&1 &
AR2=$!
sleep 0.5
# bg CMD..: runs CMD in the background, remembered in PIDS for wait.
PIDS=()
bg() { "$@" & PIDS+=($!); }
wait_bg() { wait "${PIDS[@]}"; PIDS=(); }
# The broker refuses a burst it cannot hand on at once (503 "service
# busy": not processed), so such a refusal is retried as a client would.
busy_retry() {
	local i out
	for i in 1 2 3 4 5; do
		out=$(bustool -t 5000 req agent-runtime "$@")
		printf '%s' "$out" | grep -q '"status":503' || break
		sleep 0.05
	done
	printf '%s\n' "$out"
}
race_spawn() {
	local out
	out=$(busy_retry agents.spawn "$1" 2>&1)
	printf '%s' "$out" | jq -r .status 2>/dev/null || echo "none: $out"
}
for i in $(seq 16); do
	bg race_spawn "$(spawn_body 'name = "racer"')"
done >"$LF_TMP/race" 2>/dev/null
wait_bg
t_eq "16 concurrent spawns of one name: one 201, fifteen 409" "$(sort "$LF_TMP/race" | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')" "201x1 409x15 "
i=0
for k in emoji avatar_url color archetype vibe greeting_style; do
	case $k in
	emoji) v='🐙';; avatar_url) v=/img/a.png;; color) v='#123456';; archetype) v=analyst;;
	vibe) v=mentor;; greeting_style) v=brief;;
	esac
	bg busy_retry agents.identity "$(on "$ID2" "$(jq -nc --arg k $k --arg v "$v" '{($k): $v}')")" >/dev/null
done
wait_bg
ar agents.get "$(on "$ID2" null)"
t_eq "6 concurrent identity patches on 2 replicas: none lost" \
    "$(j '.identity | "\(.emoji) \(.avatar_url) \(.color) \(.archetype) \(.vibe) \(.greeting_style)"')" \
    "🐙 /img/a.png #123456 analyst mentor brief"
for i in $(seq 10); do
	bg busy_retry agents.config "$(on "$ID2" "$(jq -nc --argjson n $((1000 + i)) '{max_tokens: $n}')")" >/dev/null
	bg busy_retry agents.update "$(on "$ID2" "$(jq -nc --arg d "d$i" '{description: $d}')")" >/dev/null
done
wait_bg
t_eq "concurrent config and update bumped the version once each" \
    "$(psql_q "SELECT version - 1 >= 20 FROM runtime.agents WHERE id = '$ID2'")" t
kill "$AR2"; wait "$AR2"
t_eq "the second replica exits 0 (no leaks under SANITIZE)" "$?" 0

# ---- events ---------------------------------------------------------------
sleep 0.3
lf_stop events
t_ok "agent_spawned was published" grep -q "\"event\":\"agent_spawned\".*\"agent_id\":\"$ID1\"\|\"agent_id\":\"$ID1\".*\"event\":\"agent_spawned\"" "$LF_TMP/events"
t_ok "agent_updated was published" grep -q "agent_updated" "$LF_TMP/events"
t_ok "agent_killed was published for the deleted agent" bash -c "grep agent_killed '$LF_TMP/events' | grep -q '$IDL'"
t_ok "events are framed on the lifecycle topic" grep -q '^lifecycle ' "$LF_TMP/events"

# ---- persistence ----------------------------------------------------------
ar agents.list
BEFORE=$(jc '[.[] | [.id, .name, .state, .mode, .created_at]]')
COUNT=$(j length)
ar agents.get "$(on "$ID1" null)"
GET1=$(printf '%s' "$AR_BODY" | jq -S -c .)

lf_stop agent-runtime
t_eq "agent-runtime stops cleanly" "$LF_EXIT" 0
lf_start agent-runtime
wait_up
ar agents.list
t_eq "after an agent-runtime restart the same agents are listed" "$(jc '[.[] | [.id, .name, .state, .mode, .created_at]]')" "$BEFORE"
ar agents.get "$(on "$ID1" null)"
t_eq "and get answers the same" "$(printf '%s' "$AR_BODY" | jq -S -c .)" "$GET1"

lf_pg_stop
ar agents.list
t_eq "with PostgreSQL down, list is 503" "$AR_STATUS $(j .error)" "503 database unavailable"
ar agents.spawn "$(spawn_body 'name = "while-down"')"
t_eq "and spawn is 503" "$AR_STATUS" 503
lf_pg_start
for i in $(seq 100); do ar agents.list; [ "$AR_STATUS" = 200 ] && break; sleep 0.1; done
t_eq "after a PostgreSQL restart the same agents are listed" "$(jc '[.[] | [.id, .name, .state, .mode, .created_at]]')" "$BEFORE"
t_eq "the survivors are the agents made above" "$(j '[.[].name] | join(",")')" \
    "alpha,beta2,gamma,beta,gamma-clone,gamma-bare,racer"

lf_stop agent-runtime
t_eq "agent-runtime stops cleanly after the PostgreSQL outage" "$LF_EXIT" 0
lf_pg_stop
lf_pg_start
lf_start agent-runtime
wait_up
ar agents.list
t_eq "after restarting both the same agents are listed" "$(jc '[.[] | [.id, .name, .state, .mode, .created_at]]')" "$BEFORE"
ar sys.health
t_eq "sys.health reports agent_count" "$(j .agent_count)" "$COUNT"
lf_stop agent-runtime
t_eq "agent-runtime exits 0 at the end" "$LF_EXIT" 0

t_done
