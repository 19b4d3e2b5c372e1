#!/usr/bin/env bash
# The model catalog and provider registry through the gateway: models
# (filters, ids with slashes, 404s), aliases, custom models, providers and
# their keys (set, shown as configured, never returned, removed), base-URL
# overrides (kept across an agent-runtime restart, [provider_urls] too),
# providers.test against tests/fakes/fake-llm.mjs (ok, and 401 naming the
# key), Ollama detection with nothing listening and with a stand-in, the
# catalog status and a reload that picks up a new provider file.
. "$(dirname "$0")/../lib.sh"

ALL=$LF_TMP/all-bodies
# req: lf_req, keeping every body to search for the key at the end.
req() { lf_req "$@"; printf '%s\n' "$LF_BODY" >> "$ALL"; }

KEY=sk-t1200-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
BADKEY=sk-wrong-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')

# ---- a fake provider that wants $KEY, and a fake Ollama ---------------------
lf_fake_start --key "$KEY"
FAKE=$LF_FAKE_URL/v1

mkdir -p "$LF_TMP/ollama/api"
printf '{"models":[{"name":"llama3.2:latest"},{"name":"qwen3:8b"}]}' > "$LF_TMP/ollama/api/tags"
OPORT=$(lf_free_port)
lf_bg ollama-standin python3 -m http.server "$OPORT" --bind 127.0.0.1 \
    --directory "$LF_TMP/ollama" > "$LF_TMP/log/ollama-standin.log" 2>&1
DEAD_PORT=$(lf_free_port)

lf_config "[provider_urls]
vllm = \"$FAKE\""
lf_stack_start agent-runtime
lf_wait_ok /api/models || { echo "Bail out! GET /api/models never answered 200"; lf_dump_logs; exit 1; }

# ---- models ---------------------------------------------------------------------
req GET /api/models
t_eq "GET /api/models lists the whole catalog" "$LF_STATUS $(jb '.total') $(jb '.models | length')" "200 267 267"
t_eq "a model has the spec's fields" \
    "$(jb '["id","provider","display_name","tier","context_window","input_cost_per_1m","output_cost_per_1m","supports_tools","supports_vision","supports_streaming"] - (.models[0] | keys) | length')" 0
req GET '/api/models?provider=groq'
t_eq "?provider=groq: only groq's 3 models" "$(jb '[.models[].provider] | unique | join(",")') $(jb .total)" "groq 3"
req GET '/api/models?provider=google'
t_eq "?provider takes a provider alias" "$(jb '[.models[].provider] | unique | join(",")')" "gemini"
req GET '/api/models?tier=frontier'
t_eq "?tier=frontier: only frontier models" "$(jb '[.models[].tier] | unique | join(",")') $(jb '.total > 10')" "frontier true"
req GET '/api/models?available=true'
t_eq "?available=true: keyless local providers only" \
    "$(jb '[.models[] | select(.available | not)] | length') $(jb '[.models[].provider] | index("ollama") != null') $(jb '[.models[].provider] | index("openai")')" "0 true null"
req GET '/api/models?available=maybe'
t_eq "?available=maybe is 400" "$LF_STATUS" 400
req GET /api/models/gpt-5
t_eq "GET /api/models/gpt-5" "$LF_STATUS $(jb .provider) $(jb .context_window) $(jb .input_cost_per_1m)" "200 openai 400000 1.25"
req GET /api/models/openrouter/google/gemini-2.5-flash
t_eq "an id with two slashes" "$LF_STATUS $(jb .id) $(jb .provider)" "200 openrouter/google/gemini-2.5-flash openrouter"
req GET /api/models/copilot/gpt-4o
t_eq "copilot/gpt-4o" "$LF_STATUS $(jb .provider)" "200 github-copilot"
req GET /api/models/gpt5-mini
t_eq "an alias finds its model" "$LF_STATUS $(jb .id)" "200 gpt-5-mini"
req GET /api/models/no-such-model
t_eq "an unknown model is 404" "$LF_STATUS $(jb .error)" "404 Model 'no-such-model' not found in catalog"
t_ok "as {\"error\": ...}" lf_err_shape
req GET /api/models/openrouter/meta-llama/no-such
t_eq "an unknown slash id is 404" "$LF_STATUS" 404
req GET /api/models/aliases
t_eq "GET /api/models/aliases still wins over {id...}" "$LF_STATUS $(jb .aliases.copilot) $(jb '.total > 100')" "200 copilot/gpt-4o true"
req GET /api/models/custom
t_eq "GET /api/models/custom is not a model lookup" "$LF_STATUS" 405

# ---- aliases ----------------------------------------------------------------------
req POST /api/models/aliases '{"alias":"MyFast","model_id":"gpt-5-mini"}'
t_eq "POST /api/models/aliases is 201, lowercased" "$LF_STATUS $(jb .alias) $(jb .model_id)" "201 myfast gpt-5-mini"
req GET /api/models/aliases
t_eq "listed, and among the user's" "$(jb .aliases.myfast) $(jb .custom.myfast)" "gpt-5-mini gpt-5-mini"
req GET /api/models/MYFAST
t_eq "and it resolves" "$LF_STATUS $(jb .id)" "200 gpt-5-mini"
req POST /api/models/aliases '{"alias":"myfast","model_id":"gpt-5"}'
t_eq "a taken alias is 409" "$LF_STATUS" 409
req POST /api/models/aliases '{"alias":"copilot","model_id":"gpt-5"}'
t_eq "a catalog alias is 409" "$LF_STATUS" 409
req POST /api/models/aliases '{"alias":"ghost","model_id":"no-such-model"}'
t_eq "an alias to an unknown model is 404" "$LF_STATUS" 404
for bad in '{"alias":"","model_id":"gpt-5"}' '{"alias":"a b","model_id":"gpt-5"}' \
    '{"alias":"a/b","model_id":"gpt-5"}' '{"alias":"x","model_id":"gpt-5","extra":1}' \
    '{"alias":5,"model_id":"gpt-5"}' '{"alias":"x"}' '[1]' 'not json'; do
	req POST /api/models/aliases "$bad"
	t_eq "bad alias body $bad is 400" "$LF_STATUS" 400
done
req DELETE /api/models/aliases/myfast
t_eq "DELETE an alias" "$LF_STATUS $(jb .status)" "200 removed"
req DELETE /api/models/aliases/myfast
t_eq "twice is 404" "$LF_STATUS" 404
req DELETE /api/models/aliases/copilot
t_eq "a catalog alias cannot be deleted" "$LF_STATUS" 403

# ---- custom models ----------------------------------------------------------------
req POST /api/models/custom '{"id":"my-ft/model-1","provider":"openai","display_name":"FT one","context_window":32000,"input_cost_per_1m":1.5,"supports_tools":true}'
t_eq "POST /api/models/custom is 201" "$LF_STATUS $(jb .status) $(jb .model_id)" "201 added my-ft/model-1"
req GET '/api/models?provider=openai'
t_eq "listed under its provider as custom" "$(jb '.models[] | select(.id == "my-ft/model-1") | "\(.tier) \(.context_window) \(.input_cost_per_1m)"')" "custom 32000 1.5"
req GET /api/models/my-ft/model-1
t_eq "GET by its slash id" "$LF_STATUS $(jb .display_name) $(jb .supports_tools)" "200 FT one true"
req GET /api/models
t_eq "the total counts it" "$(jb .total)" 268
req POST /api/models/custom '{"id":"MY-FT/model-1","provider":"openai"}'
t_eq "a duplicate (any case) is 409" "$LF_STATUS" 409
for bad in '{"id":"x1","provider":"openai","context_window":-1}' \
    '{"id":"x1","provider":"openai","context_window":"big"}' \
    '{"id":"x1","provider":"openai","context_window":1000000000000}' \
    '{"id":"x1","provider":"nosuch"}' '{"id":"","provider":"openai"}' \
    '{"id":"x 1","provider":"openai"}' '{"provider":"openai"}' \
    '{"id":"x1","provider":"openai","colour":"red"}' \
    '{"id":"x1","provider":"openai","input_cost_per_1m":"free"}' \
    '{"id":"x1","provider":"openai","input_cost_per_1m":1e12}' \
    '{"id":"x1","provider":"openai","supports_tools":"yes"}' \
    '{"id":"x1","provider":"openai","context_window":100,"max_output_tokens":200}' \
    '"x1"'; do
	req POST /api/models/custom "$bad"
	t_eq "bad custom model $bad is 400" "$LF_STATUS" 400
done
req DELETE /api/models/custom/my-ft/model-1
t_eq "DELETE /api/models/custom/{id} with a slash" "$LF_STATUS $(jb .status) $(jb .model_id)" "200 removed my-ft/model-1"
req GET /api/models/my-ft/model-1
t_eq "then it is gone" "$LF_STATUS" 404
req DELETE /api/models/custom/my-ft/model-1
t_eq "deleting it again is 404" "$LF_STATUS" 404

# ---- providers ------------------------------------------------------------------------
req GET /api/providers
t_eq "GET /api/providers lists every catalog provider" "$LF_STATUS $(jb '.total >= 57') $(jb '(.providers | length) == .total')" "200 true true"
t_eq "openai: missing, with its variable and model count" \
    "$(jb '.providers[] | select(.name == "openai") | "\(.auth_status) \(.env_var) \(.model_count) \(.base_url)"')" \
    "missing OPENAI_API_KEY 13 https://api.openai.com/v1"
t_eq "ollama needs no key" "$(jb '.providers[] | select(.name == "ollama") | .auth_status')" "no_key_needed"
t_eq "vllm's URL from [provider_urls]" "$(jb '.providers[] | select(.name == "vllm") | "\(.base_url) \(.base_url_source)"')" "$FAKE config"
req GET /api/providers/google
t_eq "GET /api/providers/{alias}" "$LF_STATUS $(jb .name) $(jb '.models | length > 0')" "200 gemini true"
req GET /api/providers/nosuch
t_eq "an unknown provider is 404" "$LF_STATUS" 404
req POST /api/providers/nosuch/key "{\"api_key\":\"$KEY\"}"
t_eq "a key for an unknown provider is 404" "$LF_STATUS" 404

# ---- keys, URL override, test -----------------------------------------------------
req POST /api/providers/openai/key "{\"api_key\":\"$KEY\"}"
t_eq "POST /api/providers/openai/key" "$LF_STATUS $(jb .status) $(jb .provider)" "200 configured openai"
req GET /api/providers/openai
t_eq "now configured, from the API" "$(jb .auth_status) $(jb .key_source)" "configured api"
req GET '/api/models?available=true&provider=openai'
t_eq "its models are available" "$(jb '.total > 0')" true
for bad in '{}' '{"api_key":5}' '{"api_key":""}' '{"api_key":"a b"}' \
    "{\"api_key\":\"x\",\"extra\":1}" '[]' '{"api_key":"abc"}' \
    '{"api_key":"ab\"cd"}' '{"api_key":"ab\\cd"}' '{"api_key":"abc\u00e9"}' \
    "{\"api_key\":\"$(printf 'k%.0s' $(seq 512))\"}"; do
	req POST /api/providers/openai/key "$bad"
	t_eq "bad key body ${bad:0:60} is 400" "$LF_STATUS" 400
done
req PUT /api/providers/openai/url "{\"base_url\":\"$FAKE\"}"
t_eq "PUT /api/providers/openai/url" "$LF_STATUS $(jb .status) $(jb .base_url)" "200 ok $FAKE"
for bad in '{"base_url":"ftp://x/v1"}' '{"base_url":"not a url"}' '{"base_url":"http://"}' \
    '{}' '{"base_url":5}' '{"url":"http://x"}'; do
	req PUT /api/providers/openai/url "$bad"
	t_eq "bad url body $bad is 400" "$LF_STATUS" 400
done
req POST /api/providers/openai/test
t_eq "providers.test calls the provider with the key" "$LF_STATUS $(jb .status) $(jb '.latency_ms >= 0') $(jb .model_tested)" "200 ok true gpt-5"
req POST /api/providers/openai/test '{"model":"my-model"}'
t_eq "and a model of our choosing" "$LF_STATUS $(jb .model_tested)" "200 my-model"
req POST /api/providers/openai/test '{"flavour":1}'
t_eq "an unknown test field is 400" "$LF_STATUS" 400
req POST /api/providers/vllm/test
t_eq "a provider without a key gets 401 naming the variable" "$LF_STATUS $(jb .status)" "401 failed"
t_ok "($(jb .error))" bash -c '[[ "$0" == *VLLM_API_KEY* ]]' "$(jb .error)"

# A restart keeps the key and the URL (they live in PostgreSQL).
lf_stop agent-runtime
lf_start agent-runtime
lf_wait_ok /api/providers/openai
req GET /api/providers/openai
t_eq "after a restart: the URL override and the key remain" "$(jb .base_url) $(jb .base_url_source) $(jb .auth_status)" "$FAKE api configured"
req POST /api/providers/openai/test
t_eq "and the test still passes" "$LF_STATUS $(jb .status)" "200 ok"

req POST /api/providers/openai/key "{\"api_key\":\"$BADKEY\"}"
req POST /api/providers/openai/test
t_eq "a refused key is 401" "$LF_STATUS $(jb .status)" "401 failed"
t_ok "saying which key ($(jb .error))" bash -c '[[ "$0" == *"/api/providers/openai/key"* ]]' "$(jb .error)"
req DELETE /api/providers/openai/key
t_eq "DELETE /api/providers/openai/key" "$LF_STATUS $(jb .status)" "200 removed"
req GET /api/providers/openai
t_eq "missing again" "$(jb .auth_status)" "missing"
req POST /api/providers/openai/test
t_eq "testing without a key is 401 naming OPENAI_API_KEY" "$LF_STATUS $(jb .env_var)" "401 OPENAI_API_KEY"
req PUT /api/providers/openai/url '{"base_url":null}'
t_eq "a null base_url drops the override" "$LF_STATUS $(jb .base_url)" "200 https://api.openai.com/v1"

# ---- ollama detection ------------------------------------------------------------
req PUT /api/providers/ollama/url "{\"base_url\":\"http://127.0.0.1:$DEAD_PORT/v1\"}"
req GET /api/providers/ollama/detect
t_eq "nothing listening: a clean 'not detected'" "$LF_STATUS $(jb .detected) $(jb .base_url)" "200 false http://127.0.0.1:$DEAD_PORT"
req PUT /api/providers/ollama/url "{\"base_url\":\"http://127.0.0.1:$OPORT\"}"
req GET /api/providers/ollama/detect
t_eq "a server answering /api/tags is detected" "$LF_STATUS $(jb .detected) $(jb '.models | join(",")')" "200 true llama3.2:latest,qwen3:8b"
req GET /api/providers/ollama
t_eq "GET /api/providers/ollama is not the detect route" "$LF_STATUS $(jb .name)" "200 ollama"

# ---- catalog status and reload ----------------------------------------------------
req GET /api/catalog/status
t_eq "GET /api/catalog/status" "$LF_STATUS $(jb .model_count) $(jb .provider_count) $(jb .source)" "200 267 57 built-in"
t_ok "with last_sync as RFC 3339" bash -c '[[ "$0" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$ ]]' "$(jb .last_sync)"
req POST /api/catalog/update
t_eq "POST /api/catalog/update with nothing new" "$LF_STATUS $(jb .status) $(jb .models_added) $(jb .models_updated)" "200 updated 0 0"
mkdir -p "$LIBREFANG_HOME/providers"
cat > "$LIBREFANG_HOME/providers/zz-local.toml" <<EOF
[provider]
id = "zz-local"
display_name = "ZZ Local"
api_key_env = "ZZ_LOCAL_API_KEY"
base_url = "$FAKE"
key_required = false

[[models]]
id = "zz-model"
display_name = "ZZ Model"
tier = "local"
context_window = 4096
max_output_tokens = 1024
input_cost_per_m = 0.0
output_cost_per_m = 0.0
supports_tools = true
supports_vision = false
supports_streaming = true
aliases = ["zz"]
EOF
req POST /api/catalog/update
t_eq "a new provider file: one model added" "$LF_STATUS $(jb .models_added) $(jb .model_count)" "200 1 268"
req GET /api/models/zz
t_eq "and it is served, alias included" "$LF_STATUS $(jb .id) $(jb .provider)" "200 zz-model zz-local"
req GET /api/catalog/status
t_ok "the status names the overlay ($(jb .source))" bash -c '[[ "$0" == "built-in + "*"/providers" ]]' "$(jb .source)"
printf 'this is [not toml\n' > "$LIBREFANG_HOME/providers/zz-broken.toml"
req POST /api/catalog/update
t_eq "a broken file fails the reload with 422" "$LF_STATUS" 422
req GET /api/models/zz-model
t_eq "and the catalog in service stays" "$LF_STATUS" 200
rm -f "$LIBREFANG_HOME/providers/zz-broken.toml"

# Reloads while readers read: every read is answered, none sees a torn one.
( for i in $(seq 20); do curl -s -o /dev/null -X POST "$LF_URL/api/catalog/update"; done ) &
RELOADER=$!
codes=$(for i in $(seq 40); do curl -s -o /dev/null -w '%{http_code}\n' "$LF_URL/api/models/zz"; done | sort -u | tr '\n' ' ')
wait $RELOADER
t_eq "reads during 20 reloads all answer 200" "$codes" "200 "

# ---- the key never shows -----------------------------------------------------------------
t_ok "no response body ever held a key" bash -c '! grep -qF -e "$0" -e "$1" "$2" && ! grep -qF -e "${0:3:12}" "$2"' "$KEY" "$BADKEY" "$ALL"
t_ok "nor did a log line" bash -c '! grep -rqF -e "$0" -e "$1" "$2"/log/agent-runtime.log "$2"/log/api-gateway.log' "$KEY" "$BADKEY" "$LF_TMP"

t_done
