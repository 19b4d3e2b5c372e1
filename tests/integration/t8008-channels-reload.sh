#!/usr/bin/env bash
# POST /api/channels/reload (chan_reload(), the supervisor's chan_apply()):
# config.toml's [[sidecar_channels]] are read again; an unchanged
# channel's adapter keeps running (the same pid), a changed one's is
# restarted with its new entry, a removed one's stopped, a new one
# started; the answer names each.  A bad file is 400 and changes nothing.
# The reload stores the file as a config version (cfgsync.h), which a
# second replica and every other process apply; no channel runs twice.
# A file that does not load whole (a bad key outside the channels too)
# is 400 and changes nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
for c in keep demo gone fresh; do mkdir -p "$LF_TMP/$c/inbox"; done
entry() {	# NAME [EXTRA-LINE]
	printf '[[sidecar_channels]]\nname = "%s"\ncommand = "python3"\nargs = ["%s"]\nagent = "rl-agent"\nenv = { SIDECAR_DIR = "%s" }\n%s\n' \
	    "$1" "$SIDECAR" "$LF_TMP/$1" "${2:-}"
}
lf_config "$(entry keep; entry demo; entry gone)"

export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
t_ok "a second replica joins" lf_replica channels2 channels
lf_agent rl-agent m-rl >/dev/null
for c in keep demo gone; do
	t_ok "$c's adapter is ready" chan_wait $c running
done
KEEP=$(pidof_ch keep) DEMO=$(pidof_ch demo) GONE=$(pidof_ch gone)

# ---- a reload ---------------------------------------------------------------------
lf_config "$(entry keep; entry demo 'shutdown_grace_secs = 2'; entry fresh)"
lf_req POST /api/channels/reload
t_eq "POST /api/channels/reload: 200, naming what changed" "$LF_STATUS $(jbc '[.status, .added, .changed, .removed, .unchanged]')" '200 ["reloaded",["fresh"],["demo"],["gone"],["keep"]]'
t_ok "the new channel's adapter starts" chan_wait fresh running
demo_new() { [ -n "$(pidof_ch demo)" ] && [ "$(pidof_ch demo)" != "$DEMO" ]; }
t_ok "the changed channel's adapter restarts" lf_poll 300 demo_new
t_ok "and is ready" chan_wait demo running
gone_dead() { ! kill -0 "$GONE" 2>/dev/null; }
t_ok "the removed channel's adapter stops" lf_poll 300 gone_dead
demo_dead() { ! kill -0 "$DEMO" 2>/dev/null; }
t_ok "the changed channel's old adapter stopped" lf_poll 300 demo_dead
t_eq "the unchanged channel's adapter runs on: the same pid" "$(pidof_ch keep) $(alive_ch keep) $(wc -l < "$LF_TMP/keep/pids")" "$KEEP 1 1"
lf_req GET /api/channels
t_eq "GET /api/channels lists the new set" "$(jbc '[.channels[] | select(.configured) | .name] | sort')" '["demo","fresh","keep"]'
lf_req GET /api/channels/demo
t_eq "with the changed entry" "$LF_STATUS $(jb .name)" "200 demo"

# Both replicas reloaded: each logged it, and none runs a channel twice
# (the other replica would have started the new channel too otherwise).
reloaded() { grep -qs "channels reloaded" "$LF_TMP/log/$1.log"; }
t_ok "the first replica reloaded" lf_poll 200 reloaded channels
t_ok "the second replica reloaded" lf_poll 200 reloaded channels2
sleep 4
for c in keep demo fresh; do
	t_eq "$c: one adapter runs" "$(alive_ch $c)" 1
done
t_eq "the removed channel was not taken up by the other replica" "$(wc -l < "$LF_TMP/gone/pids") $(alive_ch gone)" "1 0"
# The reload went through the config versions, as /api/config/reload
# does: the file's text stored once, and no config_reloads row.
t_eq "the reload stored the file as config version 1 (no config_reloads row)" \
    "$(lf_psql "SELECT (SELECT string_agg(version || ' ' || origin, ',') FROM channels.config_versions), (SELECT count(*) FROM channels.config_reloads)")" "1 reload|0"
v1() {
	lf_req GET /api/status
	[ "$(jb '[.instances[] | select(.status == "up" and (.service == "api-gateway" or .service == "channels" or .service == "agent-runtime")) | .config_version] | map(tostring) | join(",")')" = "1,1,1,1" ]
}
t_ok "every process (gateway, both channels replicas, agent-runtime) applied version 1" lf_poll 200 v1
# A restore's reload ({"store": false}): no version, a config_reloads row.
lf_config "$(entry keep; entry demo 'shutdown_grace_secs = 2'; entry fresh)
# the same channels"
lf_req POST /api/channels/reload '{"store": false}'
t_eq "store: false: 200, every channel unchanged" "$LF_STATUS $(jbc '[.status, .unchanged]')" '200 ["reloaded",["keep","demo","fresh"]]'
t_eq "no version stored; a config_reloads row instead" \
    "$(lf_psql "SELECT (SELECT max(version) FROM channels.config_versions), (SELECT count(*) FROM channels.config_reloads)")" "1|1"

emit demo "$(msg u1 "after reload" r1)"
t_ok "the restarted channel carries messages" send_wait demo "echo: [Alice]: after reload" 1
emit fresh "$(msg u1 "to fresh" r2)"
t_ok "so does the new one" send_wait fresh "echo: [Alice]: to fresh" 1

# ---- a bad file changes nothing --------------------------------------------------
DEMO2=$(pidof_ch demo)
lf_config "$(entry keep; entry demo 'ready_timeout_sec = 3')"
lf_req POST /api/channels/reload
t_eq "a bad entry: 400, saying why" "$LF_STATUS $(lf_err_shape && echo shaped) $(jb .error)" "400 shaped sidecar_channels: 'demo': unknown key 'ready_timeout_sec'"
lf_config "$(entry keep)
[[sidecar_channels"
lf_req POST /api/channels/reload
t_eq "a file that is no TOML: 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
lf_config "$(entry keep)
log_level = 42"
lf_req POST /api/channels/reload
t_eq "good channels but a bad key elsewhere in the file: 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
sleep 4
t_eq "and nothing changed" "$(pidof_ch keep) $(pidof_ch demo) $(alive_ch fresh)" "$KEEP $DEMO2 1"
t_eq "no version stored for any of them" "$(lf_psql "SELECT max(version) FROM channels.config_versions")" 1
lf_req GET /api/channels
t_eq "(the set is the last good one)" "$(jbc '[.channels[] | select(.configured) | .name] | sort')" '["demo","fresh","keep"]'

t_done
