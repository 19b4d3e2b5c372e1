#!/usr/bin/env bash
# An agent's api_key_env names the variable whose value the runtime sends
# as a bearer token to the agent's base_url, and whoever may create agents
# chooses both: so it may name only a provider key variable (a catalog
# provider's, one the configuration names, or <NAME>_API_KEY), never
# LIBREFANG_DATABASE_URL, HOME or another of the process's secrets
# (catalog_key_env_check()).  Every way in refuses anything else with 400
# (spawn, bulk, PATCH {manifest_toml}, PATCH .../config and its
# fallback_models, PUT .../model), and an agent stored with such a name
# behind the service's back answers 200 provider_not_configured naming
# the variable, never sending its value.  PUT .../model without a
# provider takes the model's provider from the catalog (id, alias, custom
# model, user alias, provider prefix, name prefix), keeps the agent's own
# when nothing tells or the agent has its own base_url, and a new
# provider drops the old one's api_key_env and base_url unless the body
# sets them (notes/agent-core.md 2.7).
. "$(dirname "$0")/../lib.sh"

lf_fake_start

# Canaries: values that must never reach the fake provider.
DB_PW=dbpw-canary-7f3e9a
CANARY=canary-secret-0b5d2c
export LIBREFANG_DATABASE_URL="postgresql://librefang:$DB_PW@/librefang?host=$LIBREFANG_HOME/pg"
export CANARY_SECRET=$CANARY
export FAKE_API_KEY=sk-fake-keyenv-0123456789
export CORP_LLM_SECRET=sk-corp-keyenv-0123456789
unset OPENAI_API_KEY GROQ_API_KEY ANTHROPIC_API_KEY DEEPSEEK_API_KEY
lf_config '[provider_api_keys]
corp = "CORP_LLM_SECRET"'
lf_stack_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not join"; lf_dump_logs; exit 1; }

# is400 DESC: the last answer is 400 {"error": ...}.
is400() { t_eq "$1" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"; }
# mentions DESC TEXT: the last error names TEXT.
mentions() { t_ok "$1 ($(jb .error | head -c 120))" bash -c "[[ \"\$0\" == *\"\$1\"* ]]" "$(jb .error)" "$2"; }
# at_fake NAME MODEL ENV [MORE]: a manifest at the fake with api_key_env ENV.
at_fake() {
	lf_openai_toml "$1" "$2" "base_url = \"$LF_FAKE_URL/v1\"
api_key_env = \"$3\"${4+
$4}"
}
spawn() { lf_req POST /api/agents "$(lf_spawn_json "$1")"; }
# stored ID PATH: the stored manifest's value at PATH (SQL), or "none".
stored() { lf_psql "SELECT coalesce(manifest #>> '{$2}', 'none') FROM runtime.agents WHERE id = '$1'"; }
# canary_free DESC: no request the fake recorded carries a canary.
canary_free() {
	t_ok "$1" bash -c "! curl -s -m 10 '$LF_FAKE_URL/__fake/requests' | grep -q -e '$DB_PW' -e '$CANARY'"
}

# ---- set time: spawn ---------------------------------------------------------
for v in LIBREFANG_DATABASE_URL LIBREFANG_API_KEY HOME PATH CANARY_SECRET PGPASSWORD; do
	spawn "$(at_fake "leak-$v" m-leak "$v")"
	is400 "spawn with api_key_env $v and a base_url of its own is 400"
	mentions "naming the variable" "'api_key_env' may not name '$v'"
done
spawn "$(at_fake leak-syntax m-leak 'NOT VALID')"
is400 "spawn with an api_key_env that is no variable name is 400"
spawn "$(lf_openai_toml leak-fb m-leak "[[fallback_models]]
provider = \"my-own\"
model = \"m-leak\"
base_url = \"$LF_FAKE_URL/v1\"
api_key_env = \"LIBREFANG_DATABASE_URL\"")"
is400 "spawn with such a variable in fallback_models is 400"
mentions "naming the entry" "'fallback_models[0].api_key_env' may not name 'LIBREFANG_DATABASE_URL'"
lf_req POST /api/agents/bulk "$(jq -nc --arg t "$(at_fake leak-bulk m-leak HOME)" \
    --arg ok "$(at_fake ok-bulk m-ok FAKE_API_KEY)" '{agents: [{manifest_toml: $ok}, {manifest_toml: $t}]}')"
t_eq "bulk: the good item is created, the leaking one refused" \
    "$LF_STATUS $(jb '[.results[] | .status] | join(",")')" "200 201,400"
t_eq "no refused agent was stored" "$(lf_psql "SELECT count(*) FROM runtime.agents WHERE name LIKE 'leak-%'")" 0

# ---- set time: what may be named ----------------------------------------------
for v in FAKE_API_KEY GROQ_API_KEY GITHUB_TOKEN CORP_LLM_SECRET MY_LLM_API_KEY; do
	spawn "$(at_fake "ok-$v" m-ok "$v")"
	t_eq "spawn with api_key_env $v (catalog, configured or <NAME>_API_KEY) is 201" "$LF_STATUS" 201
done

# ---- set time: the edits -------------------------------------------------------
spawn "$(at_fake good m-good FAKE_API_KEY)"
G=$(jb .agent_id)
lf_req PATCH "/api/agents/$G/config" '{"api_key_env":"LIBREFANG_DATABASE_URL"}'
is400 "PATCH .../config with api_key_env LIBREFANG_DATABASE_URL is 400"
mentions "naming it" "LIBREFANG_DATABASE_URL"
lf_req PATCH "/api/agents/$G/config" "{\"fallback_models\":[{\"provider\":\"my-own\",\"model\":\"m\",\"base_url\":\"$LF_FAKE_URL/v1\",\"api_key_env\":\"HOME\"}]}"
is400 "PATCH .../config with such a fallback is 400"
mentions "naming the entry" "fallback_models[0].api_key_env"
lf_req PATCH "/api/agents/$G" "$(jq -nc --arg t "$(at_fake good m-good CANARY_SECRET)" '{manifest_toml: $t}')"
is400 "PATCH {manifest_toml} with such a variable is 400"
lf_req PUT "/api/agents/$G/model" '{"model":"m-good","api_key_env":"HOME"}'
is400 "PUT .../model with such a variable is 400"
t_eq "and the agent kept its variable" "$(stored "$G" model,api_key_env)" FAKE_API_KEY
lf_req PATCH "/api/agents/$G/config" '{"api_key_env":"MY_OTHER_API_KEY"}'
t_eq "PATCH .../config with a <NAME>_API_KEY variable is 200" "$LF_STATUS $(stored "$G" model,api_key_env)" "200 MY_OTHER_API_KEY"
lf_req PATCH "/api/agents/$G/config" '{"api_key_env":"FAKE_API_KEY"}'

# ---- turn time ----------------------------------------------------------------
lf_fake_script '{"model": "m-good", "steps": [{"text": "good answer"}]}'
lf_req POST "/api/agents/$G/message" "$(lf_msg_json 'hi')"
t_eq "an allowed variable's key reaches the agent's endpoint" \
    "$LF_STATUS $(jb .response) $(lf_fake_requests m-good | jq -r '.[-1].headers.authorization')" \
    "200 good answer Bearer $FAKE_API_KEY"
spawn "$(at_fake stored-bad m-stored FAKE_API_KEY)"
S=$(jb .agent_id)
for v in LIBREFANG_DATABASE_URL CANARY_SECRET; do
	lf_psql "UPDATE runtime.agents SET manifest = jsonb_set(manifest, '{model,api_key_env}', '\"$v\"') WHERE id = '$S'" >/dev/null
	lf_fake_script '{"model": "m-stored", "steps": [{"text": "must not be asked"}]}'
	lf_req POST "/api/agents/$S/message" "$(lf_msg_json 'hello')"
	t_eq "an agent stored with api_key_env $v answers 200 provider_not_configured" \
	    "$LF_STATUS $(jb .provider_not_configured)" "200 true"
	t_ok "naming the variable and the fix ($(jb .response | head -c 160))" \
	    bash -c "[[ \"\$0\" == *\"'$v'\"* && \"\$0\" == *\"PATCH /api/agents/\"*\"/config\"* ]]" "$(jb .response)"
	t_eq "and the provider was never called" "$(lf_fake_requests m-stored | jq length)" 0
done
t_ok "the reply never holds a canary" bash -c "! grep -q -e '$DB_PW' -e '$CANARY' <<<\"\$0\"" "$LF_BODY"
lf_psql "UPDATE runtime.agents SET manifest = jsonb_set(manifest, '{fallback_models}', '[{\"provider\":\"my-own\",\"model\":\"m-stored-fb\",\"base_url\":\"$LF_FAKE_URL/v1\",\"api_key_env\":\"LIBREFANG_DATABASE_URL\"}]') WHERE id = '$S'" >/dev/null
lf_req POST "/api/agents/$S/message" "$(lf_msg_json 'hello again')"
t_eq "a fallback stored with such a variable is skipped, never called" \
    "$LF_STATUS $(jb .provider_not_configured) $(lf_fake_requests m-stored-fb | jq length)" "200 true 0"
canary_free "no request the provider got carries the database password or the canary"
lf_req POST "/api/agents/$S/clone" '{"new_name":"stored-bad-copy"}'
is400 "a clone of it (a new agent) is 400"
lf_req PATCH "/api/agents/$S" '{"description":"still editable"}'
t_eq "it can still be edited in other ways" "$LF_STATUS" 200
lf_req PATCH "/api/agents/$S/config" '{"api_key_env":"FAKE_API_KEY","fallback_models":[]}'
t_eq "and PATCH .../config repairs it" "$LF_STATUS" 200
lf_req POST "/api/agents/$S/message" "$(lf_msg_json 'and now')"
t_eq "after which it answers" "$LF_STATUS $(jb .response)" "200 must not be asked"
t_ok "the process logs never hold a canary" bash -c "! grep -rq -e '$DB_PW' -e '$CANARY' '$LF_TMP/log'"

# ---- PUT .../model: the provider from the catalog -------------------------------
spawn 'name = "switcher"
[model]
provider = "groq"
model = "llama-3.3-70b-versatile"
api_key_env = "MY_LLM_API_KEY"'
W=$(jb .agent_id)
lf_req PUT "/api/agents/$W/model" '{"model":"gpt-4o"}'
t_eq "PUT .../model with a catalog id alone: the catalog's provider" \
    "$LF_STATUS $(jb '"\(.status) \(.model) \(.provider)"')" "200 updated gpt-4o openai"
t_eq "stored, and the old provider's api_key_env dropped" \
    "$(stored "$W" model,provider) $(stored "$W" model,api_key_env)" "openai none"
lf_req PATCH "/api/agents/$W/config" '{"api_key_env":"MY_LLM_API_KEY"}'
lf_req PUT "/api/agents/$W/model" '{"model":"gpt-4o-mini"}'
t_eq "the same provider keeps the agent's api_key_env" \
    "$LF_STATUS $(jb .provider) $(stored "$W" model,api_key_env)" "200 openai MY_LLM_API_KEY"
lf_req PUT "/api/agents/$W/model" '{"model":"my-finetune"}'
t_eq "a model nothing knows keeps the provider (and its overrides)" \
    "$LF_STATUS $(jb .provider) $(stored "$W" model,model) $(stored "$W" model,api_key_env)" \
    "200 openai my-finetune MY_LLM_API_KEY"
lf_req PUT "/api/agents/$W/model" '{"model":"sonnet"}'
t_eq "a catalog alias: its model's provider" "$LF_STATUS $(jb .provider)" "200 anthropic"
lf_req PUT "/api/agents/$W/model" '{"model":"claude-unreleased-9"}'
t_eq "a name prefix (claude)" "$LF_STATUS $(jb .provider)" "200 anthropic"
lf_req PUT "/api/agents/$W/model" '{"model":"groq/llama-3.1-8b-instant"}'
t_eq "a provider prefix" "$LF_STATUS $(jb .provider) $(jb .model)" "200 groq groq/llama-3.1-8b-instant"
lf_req POST /api/models/custom '{"id":"kv-custom-1","provider":"deepseek","context_window":32000}'
t_eq "(a custom model is added)" "$LF_STATUS" 201
lf_req PUT "/api/agents/$W/model" '{"model":"KV-CUSTOM-1"}'
t_eq "a custom model: its provider" "$LF_STATUS $(jb .provider)" "200 deepseek"
lf_req POST /api/models/aliases '{"alias":"kvfast","model_id":"llama-3.3-70b-versatile"}'
t_eq "(a user alias is added)" "$LF_STATUS" 201
lf_req PUT "/api/agents/$W/model" '{"model":"kvfast"}'
t_eq "a user alias: its model's provider" "$LF_STATUS $(jb .provider)" "200 groq"
lf_req PUT "/api/agents/$W/model" '{"model":"gpt-4o","provider":"groq"}'
t_eq "an explicit provider wins over the catalog" "$LF_STATUS $(jb .provider)" "200 groq"
lf_req GET "/api/agents/$W"
t_eq "GET shows what PUT .../model set" "$(jb '"\(.model.provider) \(.model.model)"')" "groq gpt-4o"

# ---- PUT .../model: an agent with its own endpoint -------------------------------
spawn "$(at_fake own-endpoint m-own FAKE_API_KEY)"
O=$(jb .agent_id)
lf_psql "UPDATE runtime.agents SET manifest = jsonb_set(manifest, '{model,provider}', '\"my-own\"') WHERE id = '$O'" >/dev/null
lf_req PUT "/api/agents/$O/model" '{"model":"gpt-4o"}'
t_eq "with a base_url of its own the agent keeps its provider and overrides" \
    "$LF_STATUS $(jb .provider) $(stored "$O" model,api_key_env) $(stored "$O" model,base_url)" \
    "200 my-own FAKE_API_KEY $LF_FAKE_URL/v1"
lf_req PUT "/api/agents/$O/model" '{"model":"llama-3.3-70b-versatile","provider":"groq"}'
t_eq "a new provider drops the old one's api_key_env and base_url" \
    "$LF_STATUS $(jb .provider) $(stored "$O" model,api_key_env) $(stored "$O" model,base_url)" \
    "200 groq none none"
lf_req PUT "/api/agents/$O/model" "{\"model\":\"m-own\",\"provider\":\"my-own\",\"base_url\":\"$LF_FAKE_URL/v1\",\"api_key_env\":\"FAKE_API_KEY\"}"
t_eq "unless the body sets them" \
    "$LF_STATUS $(jb .provider) $(stored "$O" model,api_key_env) $(stored "$O" model,base_url)" \
    "200 my-own FAKE_API_KEY $LF_FAKE_URL/v1"
lf_fake_script '{"model": "m-own", "steps": [{"text": "own answer"}]}'
lf_req POST "/api/agents/$O/message" "$(lf_msg_json 'hi')"
t_eq "and the agent answers through them" "$LF_STATUS $(jb .response)" "200 own answer"
lf_req PUT "/api/agents/$O/model" '{"model":"m-own","base_url":"ftp://x"}'
is400 "PUT .../model with a base_url that is not http(s) is 400"
lf_req PUT "/api/agents/$O/model" '{"model":"m-own","pinned":true}'
is400 "PUT .../model with an unknown field is 400"

t_done
