#!/usr/bin/env bash
# Every way into an agent is checked and bounded at the door (issue 7):
# spawn (TOML), bulk create, clone, PATCH /api/agents/{id}, PATCH .../config,
# PUT .../update, PUT .../model.  A provider that cannot be resolved (not in
# the catalog, not configured in [provider_urls], no base_url of its own, or
# a local CLI) is a 400 naming it when it is set, never a 500 at turn time;
# an empty provider or model is 400; provider 63, model 255, description
# 4 KiB, system_prompt 64 KiB and tags 100 x 256 bytes are the bounds.  An
# agent whose provider the catalog no longer knows (written behind the
# service's back) answers a message with 200 provider_not_configured, and
# can still be edited in other ways.
. "$(dirname "$0")/../lib.sh"

lf_config '[provider_urls]
my-local = "http://127.0.0.1:9/v1"'
lf_stack_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not join"; lf_dump_logs; exit 1; }

# str N: a string of N letters (JSON-safe).
str() { python3 -c 'import sys; print("a" * int(sys.argv[1]))' "$1"; }
# big FILE N KEY..: writes {"KEY": "<N letters>", ...} to FILE (big bodies
# go by file).
big() { python3 -c 'import json, sys; print(json.dumps({k: "a" * int(sys.argv[2]) for k in sys.argv[3:]}))' "$@" > "$1"; }
# is400 DESC: the last answer is 400 {"error": ...}.
is400() { t_eq "$1" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"; }
# mentions DESC TEXT: the last error names TEXT.
mentions() { t_ok "$1 ($(jb .error | head -c 100))" bash -c "[[ \"\$0\" == *\"\$1\"* ]]" "$(jb .error)" "$2"; }

BIG=$LF_TMP/big.json

# ---- spawn: providers ---------------------------------------------------------------
spawn() { lf_req POST /api/agents "$(lf_spawn_json "$1")"; }
spawn 'name = "ghostly"
[model]
provider = "nosuch"
model = "m"'
is400 "spawn with an unknown provider is 400"
mentions "naming it" "unknown provider 'nosuch'"
lf_req GET /api/agents
t_eq "and nothing was stored" "$(jb 'map(select(.name == "ghostly")) | length')" 0
spawn 'name = "cli"
[model]
provider = "claude-code"
model = "sonnet"'
is400 "spawn with a local CLI provider and no base_url is 400"
mentions "saying why" "local CLI"
spawn 'name = "ghost-fb"
[model]
provider = "groq"
model = "m"
[[fallback_models]]
provider = "nosuch"
model = "m"'
is400 "an unknown provider in fallback_models is 400"
mentions "naming the entry" "fallback_models[0]: unknown provider 'nosuch'"
for p in default auto groq google my-local; do
	spawn "name = \"ok-$p\"
[model]
provider = \"$p\"
model = \"m\""
	t_eq "spawn with provider '$p' (default, auto, catalog id or name, [provider_urls]) is 201" "$LF_STATUS" 201
done
spawn 'name = "own-url"
[model]
provider = "my-own"
model = "m"
base_url = "http://127.0.0.1:9/v1"'
t_eq "an unknown provider with its own base_url is 201 (OpenAI-compatible)" "$LF_STATUS" 201
spawn 'name = "empty-prov"
[model]
provider = ""
model = ""'
t_eq "TOML: an empty provider and model still mean default (lenient manifest)" "$LF_STATUS" 201
lf_req GET "/api/agents/$(jb .agent_id)"
t_eq "... stored as default/default" "$(lf_psql "SELECT manifest->'model'->>'provider' || '/' || (manifest->'model'->>'model') FROM runtime.agents WHERE name = 'empty-prov'")" "default/default"

# ---- spawn: bounds ----------------------------------------------------------------------
bound() {	# bound DESC TOML-LINE(S)
	spawn "name = \"bounded\"
$2"
	is400 "$1"
}
bound "a 64-byte provider is 400" "[model]
provider = \"$(str 64)\""
mentions "naming the field" "model.provider"
bound "a 256-byte model is 400" "[model]
model = \"$(str 256)\""
bound "a description over 4096 bytes is 400" "description = \"$(str 4097)\""
mentions "naming the bound" "4096"
bound "a system_prompt over 64 KiB is 400" "[model]
system_prompt = \"$(str 65537)\""
bound "101 tags are 400" "tags = [$(python3 -c 'print(",".join(["\"t\""] * 101))')]"
bound "a 257-byte tag is 400" "tags = [\"$(str 257)\"]"
spawn "name = \"at-bounds\"
description = \"$(str 4096)\"
tags = [$(python3 -c 'print(",".join(["\"t\""] * 100))')]
[model]
provider = \"groq\"
model = \"$(str 255)\"
system_prompt = \"$(str 65536)\""
t_eq "every field at its bound is 201" "$LF_STATUS" 201
AT=$(jb .agent_id)

# ---- bulk create ------------------------------------------------------------------------
lf_req POST /api/agents/bulk "$(jq -nc '{agents: [
	{manifest_toml: "name = \"bulk-ok\"\n[model]\nprovider = \"groq\""},
	{manifest_toml: "name = \"bulk-ghost\"\n[model]\nprovider = \"nosuch\""}]}')"
t_eq "bulk: 200, one created, one refused" "$LF_STATUS $(jb .succeeded) $(jb .failed)" "200 1 1"
t_eq "the refused item is 400 naming the provider" "$(jb '.results[1] | "\(.status) \(.success)"')" "400 false"
t_ok "($(jb .results[1].error | head -c 80))" bash -c "[[ \"\$0\" == *\"unknown provider 'nosuch'\"* ]]" "$(jb .results[1].error)"

# ---- PUT /api/agents/{id}/model ------------------------------------------------------
spawn 'name = "edited"
[model]
provider = "groq"
model = "llama-3.3-70b-versatile"'
E=$(jb .agent_id)
lf_req PUT "/api/agents/$E/model" '{"model":"m","provider":"nosuch"}'
is400 "PUT .../model with an unknown provider is 400"
mentions "naming it" "unknown provider 'nosuch'"
lf_req GET "/api/agents/$E"
t_eq "and the agent is unchanged" "$(jb '"\(.model.provider) \(.model.model)"')" "groq llama-3.3-70b-versatile"
lf_req PUT "/api/agents/$E/model" '{"model":"m","provider":""}'
is400 "PUT .../model with an empty provider is 400"
lf_req PUT "/api/agents/$E/model" '{"model":""}'
is400 "PUT .../model with an empty model is 400"
big "$BIG" 1048576 model
lf_req PUT "/api/agents/$E/model" "@$BIG"
t_ok "PUT .../model with a 1 MiB model is 4xx ($LF_STATUS)" test "$LF_STATUS" -ge 400 -a "$LF_STATUS" -lt 500
lf_req PUT "/api/agents/$E/model" "{\"model\":\"$(str 256)\"}"
is400 "PUT .../model with a 256-byte model is 400"
lf_req PUT "/api/agents/$E/model" '{"model":"m2","provider":"google"}'
t_eq "PUT .../model with a catalog name is 200" "$LF_STATUS $(jb .provider)" "200 google"

# ---- PATCH /api/agents/{id} -------------------------------------------------------------
lf_req PATCH "/api/agents/$E" '{"provider":"nosuch"}'
is400 "PATCH with an unknown provider is 400"
mentions "naming it" "nosuch"
lf_req PATCH "/api/agents/$E" '{"provider":""}'
is400 "PATCH with an empty provider is 400"
lf_req PATCH "/api/agents/$E" '{"model":""}'
is400 "PATCH with an empty model is 400"
big "$BIG" 1048576 provider
lf_req PATCH "/api/agents/$E" "@$BIG"
t_ok "PATCH with a 1 MiB provider is 4xx ($LF_STATUS)" test "$LF_STATUS" -ge 400 -a "$LF_STATUS" -lt 500
big "$BIG" 1048576 model
lf_req PATCH "/api/agents/$E" "@$BIG"
t_ok "PATCH with a 1 MiB model is 4xx ($LF_STATUS)" test "$LF_STATUS" -ge 400 -a "$LF_STATUS" -lt 500
lf_req PATCH "/api/agents/$E" "{\"description\":\"$(str 4097)\"}"
is400 "PATCH with a 4097-byte description is 400"
big "$BIG" 65537 system_prompt
lf_req PATCH "/api/agents/$E" "@$BIG"
is400 "PATCH with a system_prompt over 64 KiB is 400"
lf_req PATCH "/api/agents/$E" "$(jq -nc '{manifest_toml: "name = \"x\"\n[model]\nprovider = \"nosuch\""}')"
is400 "PATCH with a whole manifest naming an unknown provider is 400"
lf_req PATCH "/api/agents/$E" '{"provider":"groq","model":"llama-3.3-70b-versatile","description":"fine"}'
t_eq "PATCH with good values is 200" "$LF_STATUS" 200

# ---- PATCH /api/agents/{id}/config ------------------------------------------------------
lf_req PATCH "/api/agents/$E/config" '{"provider":"nosuch"}'
is400 "config: an unknown provider is 400"
mentions "naming it" "nosuch"
lf_req PATCH "/api/agents/$E/config" '{"provider":"nosuch","base_url":"http://127.0.0.1:9/v1"}'
t_eq "config: an unknown provider with a base_url is 200" "$LF_STATUS" 200
lf_req PATCH "/api/agents/$E/config" '{"base_url":null}'
is400 "config: dropping the base_url that made it resolvable is 400"
lf_req PATCH "/api/agents/$E/config" '{"provider":"groq","base_url":null}'
t_eq "config: back to groq, no base_url: 200" "$LF_STATUS" 200
for f in provider model; do
	lf_req PATCH "/api/agents/$E/config" "{\"$f\":\"\"}"
	is400 "config: an empty $f is 400"
done
big "$BIG" 1048576 provider model
lf_req PATCH "/api/agents/$E/config" "@$BIG"
t_ok "config: 1 MiB provider and model are 4xx ($LF_STATUS)" test "$LF_STATUS" -ge 400 -a "$LF_STATUS" -lt 500
lf_req PATCH "/api/agents/$E/config" '{"fallback_models":[{"provider":"nosuch","model":"m"}]}'
is400 "config: an unknown fallback provider is 400"
mentions "naming the entry" "fallback_models[0]"
lf_req PATCH "/api/agents/$E/config" '{"fallback_models":[{"provider":"","model":"m"}]}'
is400 "config: an empty fallback provider is 400"
lf_req PATCH "/api/agents/$E/config" "{\"fallback_models\":[{\"provider\":\"groq\",\"model\":\"$(str 256)\"}]}"
is400 "config: a 256-byte fallback model is 400"
lf_req PATCH "/api/agents/$E/config" "{\"description\":\"$(str 4097)\"}"
is400 "config: a 4097-byte description is 400"

# ---- PUT /api/agents/{id}/update --------------------------------------------------------
lf_req PUT "/api/agents/$E/update" "{\"description\":\"$(str 4097)\"}"
is400 "update: a 4097-byte description is 400"
big "$BIG" 65537 system_prompt
lf_req PUT "/api/agents/$E/update" "@$BIG"
is400 "update: a system_prompt over 64 KiB is 400"
lf_req PUT "/api/agents/$E/update" '{"description":"short"}'
t_eq "update: a short description is 200" "$LF_STATUS" 200

# ---- what the list carries stays small ---------------------------------------------------
lf_req GET /api/agents
t_ok "GET /api/agents stays small after the refused edits ($(printf '%s' "$LF_BODY" | wc -c) bytes)" \
    test "$(printf '%s' "$LF_BODY" | wc -c)" -lt 65536

# ---- an agent whose provider the catalog no longer knows -------------------------------
lf_psql "UPDATE runtime.agents SET manifest = jsonb_set(manifest, '{model,provider}', '\"vanished\"') WHERE id = '$E'" >/dev/null
lf_req POST "/api/agents/$E/message" "$(lf_msg_json 'hello')"
t_eq "a message to it is 200 provider_not_configured, not 500" "$LF_STATUS $(jb .provider_not_configured)" "200 true"
t_ok "naming the provider and how to fix it ($(jb .response | head -c 100))" \
    bash -c "[[ \"\$0\" == *\"'vanished'\"* && \"\$0\" == *\"PUT /api/agents/\"*\"/model\"* ]]" "$(jb .response)"
lf_req PATCH "/api/agents/$E" '{"description":"still editable"}'
t_eq "it can still be edited in other ways" "$LF_STATUS" 200
lf_req POST "/api/agents/$E/clone" '{"new_name":"vanished-copy"}'
is400 "but a clone of it (a new agent) is 400"
mentions "naming the provider" "vanished"
lf_req PUT "/api/agents/$E/model" '{"model":"llama-3.3-70b-versatile","provider":"groq"}'
t_eq "and PUT .../model repairs it" "$LF_STATUS" 200
lf_req POST "/api/agents/$E/clone" '{"new_name":"repaired-copy"}'
t_eq "after which it clones" "$LF_STATUS" 201
lf_req POST "/api/agents/$AT/clone" '{"new_name":"at-bounds-copy"}'
t_eq "a clone of an agent at every bound is 201" "$LF_STATUS" 201

t_done
