#!/usr/bin/env bash
# POST and DELETE /api/channels/{name}/configure (chan_configure.c,
# chan_file.c): the entry is written to config.toml (the rest of the file
# kept as it was, written atomically) and applied at once; a secret is
# never written (env_from names the variable that holds it); an unknown
# channel is 404, missing required fields, a secret in clear, a bad URL
# or a bad field are 400.  A second replica applies it too.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
mkdir -p "$LF_TMP/keep/inbox" "$LF_TMP/irc/inbox"
lf_config "# operator's notes: kept
log_level = \"info\"

[[sidecar_channels]]
name = \"keep\"
command = \"python3\"
args = [\"$SIDECAR\"]
[sidecar_channels.env]
SIDECAR_DIR = \"$LF_TMP/keep\"

# a trailing comment, kept too"
CONF=$LIBREFANG_HOME/config.toml
cp "$CONF" "$LF_TMP/orig.toml"
export TEST_IRC_PW=pw-from-env
lf_stack_start channels
t_ok "a second replica joins" lf_replica channels2 channels
t_ok "keep's adapter is ready" chan_wait keep running
KEEP=$(pidof_ch keep)

cfg() { lf_req POST "/api/channels/$1/configure" "$2"; }
cfg nope-xyz '{}'
t_eq "a channel neither catalogued nor configured: 404" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"
cfg telegram '{}'
t_eq "missing required fields: 400 naming them" "$LF_STATUS $(jb .error)" "400 missing required fields: TELEGRAM_BOT_TOKEN"
cfg telegram '{"env": {"TELEGRAM_BOT_TOKEN": "123:ABC"}}'
t_eq "a secret in clear: 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
t_ok "(saying to use env_from)" grep -q env_from <<<"$(jb .error)"
IRC='"IRC_SERVER": "127.0.0.1", "IRC_NICK": "lf", "IRC_CHANNELS": "#a"'
cfg irc "{\"env\": {$IRC, \"IRC_PROXY_URL\": \"ftp:/nowhere\"}}"
t_eq "a bad URL: 400" "$LF_STATUS $(jb .error)" "400 env 'IRC_PROXY_URL' is not a URL (http, https, ws or wss, with a host)"
cfg irc "{\"env\": {$IRC}, \"env_from\": {\"IRC_PASSWORD\": \"not a name\"}}"
t_eq "env_from not naming a variable: 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
cfg irc "{\"env\": {$IRC}, \"colour\": 1}"
t_eq "an unknown field: 400" "$LF_STATUS $(jb .error)" "400 unknown field 'colour'"
cfg irc "{\"env\": {$IRC}, \"dm_policy\": \"sometimes\"}"
t_eq "a bad policy: 400, as at start" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
cfg irc '[1]'
t_eq "a body that is no object: 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
t_eq "none of them touched the file" "$(cmp -s "$CONF" "$LF_TMP/orig.toml" && echo same)" same

# ---- configured ----------------------------------------------------------------------
body=$(jq -nc --arg s "$SIDECAR" --arg d "$LF_TMP/irc" '{command: "python3", args: [$s], agent_name: "bot", env: {IRC_SERVER: "127.0.0.1", IRC_NICK: "lf", IRC_CHANNELS: "#a", SIDECAR_DIR: $d}, env_from: {IRC_PASSWORD: "TEST_IRC_PW"}}')
cfg irc "$body"
t_eq "POST /api/channels/irc/configure: 200" "$LF_STATUS $(jbc '[.status, .channel, .reload.added, .reload.unchanged]')" '200 ["configured","irc",["irc"],["keep"]]'
t_ok "the adapter starts at once" chan_wait irc running
t_ok "the file kept what it had, byte for byte" test "$(head -c "$(stat -c %s "$LF_TMP/orig.toml")" "$CONF" | md5sum)" = "$(md5sum < "$LF_TMP/orig.toml")"
t_eq "and has the entry, naming the secret's variable" "$(grep -c '^name = "irc"' "$CONF") $(grep -c 'IRC_PASSWORD = "TEST_IRC_PW"' "$CONF")" "1 1"
t_ok "never its value" test -z "$(grep pw-from-env "$CONF")"
t_ok "which the adapter got from the service's environment" grep -qz '^IRC_PASSWORD=pw-from-env$' "/proc/$(pidof_ch irc)/environ"
lf_req GET /api/channels/irc
t_eq "GET /api/channels/irc: configured, agent_name as agent" "$(jbc '[.configured, .agent, .env.IRC_NICK]')" '[true,"bot","lf"]'
reloaded() { grep -qs "channels reloaded" "$LF_TMP/log/$1.log"; }
t_ok "both replicas reloaded" lf_poll 200 eval 'reloaded channels && reloaded channels2'
sleep 4
t_eq "and the new channel runs once" "$(alive_ch irc) $(wc -l < "$LF_TMP/irc/pids")" "1 1"
ls "$(dirname "$CONF")" | grep -q 'config.toml.tmp' && t_ok "no temporary file is left" false || t_ok "no temporary file is left" true

IRC1=$(pidof_ch irc)
body2=$(jq -c '.env.IRC_NICK = "lf2"' <<<"$body")
cfg irc "$body2"
t_eq "configuring it again: 200, changed" "$LF_STATUS $(jbc .reload.changed)" '200 ["irc"]'
t_eq "replaced in place: one entry" "$(grep -c '^name = "irc"' "$CONF") $(grep -c 'IRC_NICK = "lf2"' "$CONF")" "1 1"
irc_new() { [ -n "$(pidof_ch irc)" ] && [ "$(pidof_ch irc)" != "$IRC1" ]; }
t_ok "its adapter restarts" lf_poll 300 irc_new
t_eq "the other channel's adapter runs on" "$(pidof_ch keep) $(alive_ch keep)" "$KEEP 1"

# ---- removed -------------------------------------------------------------------------
lf_req DELETE /api/channels/irc/configure
t_eq "DELETE /api/channels/irc/configure: 200" "$LF_STATUS $(jbc '[.status, .reload.removed]')" '200 ["removed",["irc"]]'
t_eq "the entry is gone from the file" "$(grep -c '"irc"' "$CONF")" 0
t_eq "the rest is as it was" "$(grep -v '^$' "$CONF" | md5sum)" "$(grep -v '^$' "$LF_TMP/orig.toml" | md5sum)"
irc_gone() { [ "$(alive_ch irc)" = 0 ]; }
t_ok "its adapter stops" lf_poll 300 irc_gone
lf_req DELETE /api/channels/irc/configure
t_eq "again: 404" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"
t_eq "keep still runs, untouched" "$(pidof_ch keep) $(alive_ch keep) $(chan_state keep)" "$KEEP 1 running"

t_done
