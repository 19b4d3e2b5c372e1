#!/usr/bin/env bash
# Live configuration across replicas (issue 12 part 2): two agent-runtime
# replicas and two gateways; a POST /api/config/set of [default_model]
# reaches every process (each heartbeat says the config version it
# applied) and the next turns, on either runtime, use the new default
# model; the second gateway has the new log_level; a replica that was
# down during a set catches up when it starts -- one reading its own older
# copy of the file (another host) from the stored version.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=fake-key-t2101
lf_fake_start
lf_config "log_level = \"info\"

[default_model]
provider = \"openai\"
model = \"model-a\"
base_url = \"$LF_FAKE_URL/v1\"
api_key_env = \"FAKE_API_KEY\""
lf_stack_start agent-runtime channels
lf_wait_agents
t_ok "a second agent-runtime" lf_replica ar2 agent-runtime
P2=$(lf_free_port)
LIBREFANG_API_LISTEN=127.0.0.1:$P2 lf_bg gw2 sh -c "exec '$LF_BIN/api-gateway' >>'$LF_TMP/log/gw2.log' 2>&1"
gw2_up() { curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P2/api/health" | grep -q 200; }
t_ok "a second gateway" lf_poll 200 gw2_up

lf_req POST /api/agents "$(lf_spawn_json 'name = "uses-default"')"
t_eq "an agent without a model" "$LF_STATUS" 201
ID=$(jb .agent_id)
turn() { lf_req POST "/api/agents/$ID/message" "$(lf_msg_json "$1")"; [ "$LF_STATUS" = 200 ]; }
for i in 1 2 3 4; do turn "before $i"; done
t_eq "turns use model-a" "$(lf_fake_requests model-a | jq length)" 4

# Another host's copy of the file, as it was before the change.
cp "$LIBREFANG_HOME/config.toml" "$LF_TMP/other-host.toml"
touch -d '-1 hour' "$LF_TMP/other-host.toml"

lf_req POST /api/config/set '{"path": "default_model.model", "value": "model-b"}'
t_eq "set the default model: 200" "$LF_STATUS" 200
V=$(jb .version)
# Every process's heartbeat (GET /api/status instances) says its version.
all_at() {
	lf_req GET /api/status
	jq -e --argjson v "$1" --argjson n "$2" \
	    '[.instances[] | select(.status == "up" and (.service == "agent-runtime" or .service == "api-gateway" or .service == "channels"))] | length == $n and all(.config_version == $v)' \
	    <<<"$LF_BODY" >/dev/null
}
t_ok "every process applied version $V (2 runtimes, 2 gateways, channels)" lf_poll 300 all_at "$V" 5
for i in 1 2 3 4 5 6; do turn "after $i"; done
t_eq "the next turns, on either runtime, use model-b" "$(lf_fake_requests model-b | jq length)" 6
t_eq "and none model-a" "$(lf_fake_requests model-a | jq length)" 4

# ---- a replica down during a set ---------------------------------------------
lf_stop ar2
lf_req POST /api/config/set '{"path": "log_level", "value": "debug"}'
t_eq "set log_level while ar2 is down: 200" "$LF_STATUS" 200
V2=$(jb .version)
gw2_level() { [ "$(curl -s -m 2 "http://127.0.0.1:$P2/api/config" | jq -r .log_level)" = debug ]; }
t_ok "the second gateway has it" lf_poll 200 gw2_level
t_ok "ar2 comes back" lf_replica ar2b agent-runtime
t_ok "every process is at version $V2, ar2's successor included" lf_poll 300 all_at "$V2" 5

# Another host: its own older file, newer version in the store.
lf_bg ar3 sh -c "exec '$LF_BIN/agent-runtime' -f '$LF_TMP/other-host.toml' >>'$LF_TMP/log/ar3.log' 2>&1"
ar3_at() { grep -q "config version $V2 applied" "$LF_TMP/log/ar3.log"; }
t_ok "a runtime with an older file applies the stored version" lf_poll 300 ar3_at
t_ok "and heartbeats it" lf_poll 300 all_at "$V2" 6
t_ok "its file is left as it was" grep -q 'model = "model-a"' "$LF_TMP/other-host.toml"
t_ok "it logs debug lines now" lf_poll 200 grep -q "debug:" "$LF_TMP/log/ar3.log"
t_done
