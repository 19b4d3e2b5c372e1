#!/usr/bin/env bash
# t1507-catalog-turns.sh - what users change in the catalog (a provider
# key, a base URL, an alias) reaches the very next turn on every
# agent-runtime replica.  A replica resolves a turn's models from its own
# copy of those tables while the catalog version its take read
# (sql/021_catalog_version.sql) is the one it copied; any change moves
# the version.  Two replicas; each step runs four turns, so both serve
# some (t1504 shows the broker spreads them).
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
lf_fake_stack agent-runtime
t_ok "a second replica joins" lf_replica agent-runtime-2 agent-runtime

# openai's key comes from the API only (no variable is set); its base URL
# from the manifest, the fake's, which wants K1, then K2.
lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml cat-a m-cat "base_url = \"$LF_FAKE_URL/v1\"")")"
A=$(jb .agent_id)
t_ok "agent spawned ($A)" test -n "$A"
K1=sk-catalog-one-0123456789abcdef
K2=sk-catalog-two-0123456789abcdef

# turns N: N turns on A (one session: one after the other); prints each
# answer's provider_not_configured flag or its response, one per line.
turns() {
	local i
	for ((i = 0; i < $1; i++)); do
		lf_req POST "/api/agents/$A/message" '{"message": "hi"}'
		jb 'if .provider_not_configured then "no-key" else (.response // .error) end'
	done
}
# auths FROM: the Authorization header of the fake's m-cat requests from
# index FROM on, unique, comma-separated.
auths() {
	lf_fake_requests m-cat | jq -r --argjson f "$1" \
	    '[.[$f:][] | .headers.authorization] | unique | join(",")'
}

t_eq "no key: every turn says the provider is not configured" \
    "$(turns 4 | sort -u)" "no-key"
t_eq "and the provider was not called" "$(lf_fake_requests m-cat | jq length)" 0

lf_req POST /api/providers/openai/key "{\"api_key\":\"$K1\"}"
t_eq "a key set through the API" "$LF_STATUS" 200
lf_fake_script '{"model":"m-cat","steps":[{"text":"one"},{"text":"one"},{"text":"one"},{"text":"one"}]}'
t_eq "the next four turns use it, on both replicas" "$(turns 4 | sort -u)" "one"
t_eq "the provider saw that key only" "$(auths 0)" "Bearer $K1"

lf_req POST /api/providers/openai/key "{\"api_key\":\"$K2\"}"
lf_fake_script '{"model":"m-cat","steps":[{"text":"two"},{"text":"two"},{"text":"two"},{"text":"two"}]}'
t_eq "a new key: the next four turns answer" "$(turns 4 | sort -u)" "two"
t_eq "with the new key, none with the old" "$(auths 4)" "Bearer $K2"

lf_req DELETE /api/providers/openai/key
t_eq "the key removed" "$LF_STATUS" 200
t_eq "the next turns have no key again" "$(turns 4 | sort -u)" "no-key"
t_eq "and did not call the provider" "$(lf_fake_requests m-cat | jq length)" 8

# An alias made after the replicas resolved the agent's model once: the
# agent names "cat-alias", first unknown (the fake is its base URL, so it
# goes there as it is), then an alias of m-cat2.
lf_req POST /api/providers/openai/key "{\"api_key\":\"$K1\"}"
lf_req POST /api/agents "$(lf_spawn_json "$(lf_openai_toml cat-b cat-alias "base_url = \"$LF_FAKE_URL/v1\"")")"
B=$(jb .agent_id)
lf_fake_script '{"model":"cat-alias","steps":[{"text":"raw"},{"text":"raw"}]}'
for i in 1 2; do lf_req POST "/api/agents/$B/message" '{"message": "hi"}'; done
t_eq "before the alias, the model goes as named" "$(jb .response)" "raw"
lf_req POST /api/models/custom '{"id":"m-cat2","provider":"openai","context_window":8000}'
lf_req POST /api/models/aliases '{"alias":"cat-alias","model_id":"m-cat2"}'
t_eq "an alias made" "$LF_STATUS" 201
lf_fake_script '{"model":"m-cat2","steps":[{"text":"aliased"},{"text":"aliased"},{"text":"aliased"},{"text":"aliased"}]}'
out=
for i in 1 2 3 4; do
	lf_req POST "/api/agents/$B/message" '{"message": "hi"}'
	out+="$(jb .response),"
done
t_eq "the next four turns call the alias's model" "$out" "aliased,aliased,aliased,aliased,"
t_eq "which the provider saw four times" "$(lf_fake_requests m-cat2 | jq length)" 4

t_done
