#!/usr/bin/env bash
# t2203-restore-config.sh - live config after a restore (issue 12 items 2
# and 4; services/audit/README.md "Backup and restore", libshared/
# cfgsync.h): an archive made at config version 2, restored into a
# system at version 4 (older than the running one, the usual case).  The
# version numbers go on above both: the restored config.toml is stored as
# a new version (5), audited as the restore's, and every process (two
# gateways, two channels replicas, agent-runtime) applies it at once --
# the rate limit of the archive is live in both gateways; a config set
# after the restore is version 6, applied by every process too; the
# config_reloads ids go on above both as well.  Before the fix the new
# versions were numbered 3.., at or below what every process had applied,
# and ignored until a restart.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-restorecfg-0123456789abcdef
lf_config '# t2203 config, as started
log_level = "info"

[rate_limit]
api_requests_per_minute = 5000'
lf_fake_stack agent-runtime audit channels
t_ok "a second channels replica" lf_replica channels2 channels
P2=$(lf_free_port)
LIBREFANG_API_LISTEN=127.0.0.1:$P2 lf_bg gw2 sh -c "exec '$LF_BIN/api-gateway' >>'$LF_TMP/log/gw2.log' 2>&1"
gw2_up() { curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P2/api/health" | grep -q 200; }
t_ok "a second gateway" lf_poll 200 gw2_up

# Every process's heartbeat (GET /api/status instances) says the config
# version it applied: $1 by $2 processes (2 gateways, 2 channels, 1 runtime).
all_at() {
	lf_req GET /api/status
	jq -e --argjson v "$1" --argjson n "$2" \
	    '[.instances[] | select(.status == "up" and (.service == "agent-runtime" or .service == "api-gateway" or .service == "channels"))] | length == $n and all(.config_version == $v)' \
	    <<<"$LF_BODY" >/dev/null
}
# Both gateways' live rate limit is $1.
rpm_is() {
	lf_req GET /api/config
	[ "$(jb '."rate_limit.api_requests_per_minute"')" = "$1" ] &&
	    [ "$(curl -s -m 2 "http://127.0.0.1:$P2/api/config" | jq -r '."rate_limit.api_requests_per_minute"')" = "$1" ]
}
set_rpm() {
	lf_req POST /api/config/set "{\"path\": \"rate_limit.api_requests_per_minute\", \"value\": $1}"
	[ "$LF_STATUS" = 200 ]
}
versions() { lf_psql "SELECT string_agg(version || ' ' || origin, ',' ORDER BY version) FROM channels.config_versions"; }
outbox_empty() { [ "$(lf_psql "SELECT count(*) FROM channels.audit_outbox")" = 0 ]; }

# ---- versions 1, 2; the backup; versions 3, 4 ----------------------------------
t_ok "version 1: rate limit 2001" set_rpm 2001
t_ok "version 2: rate limit 2002" set_rpm 2002
t_eq "the set answers version 2" "$(jb .version)" 2
t_ok "every process applied version 2" lf_poll 300 all_at 2 5
lf_poll 200 outbox_empty
lf_req POST /api/backup '{}'
t_eq "POST /api/backup at version 2: 200" "$LF_STATUS" 200
F=$(jb .filename)
t_ok "version 3: rate limit 2003" set_rpm 2003
t_ok "version 4: rate limit 2004" set_rpm 2004
t_eq "the set answers version 4" "$(jb .version)" 4
# Two config_reloads rows ({store: false}), the archive has none.
for i in 1 2; do
	lf_req POST /api/channels/reload '{"store": false}'
	t_eq "a reload without a version ($i): 200" "$LF_STATUS" 200
done
t_eq "config_reloads ids 1 and 2" "$(lf_psql "SELECT string_agg(id::text, ',' ORDER BY id) FROM channels.config_reloads")" "1,2"
t_ok "every process applied version 4" lf_poll 300 all_at 4 5
t_ok "both gateways limit at 2004" rpm_is 2004

# ---- bad input to the restore's reload ------------------------------------------
for body in '{"restore": 5}' '{"restore": ""}' "{\"restore\": \"$(printf 'x%.0s' $(seq 200))\"}"; do
	lf_req POST /api/channels/reload "$body"
	t_eq "channels reload $body: 400" "$LF_STATUS $(lf_err_shape && echo shape)" "400 shape"
done
# Well formed, but from an HTTP caller: only the audit service's reload
# after POST /api/restore is audited as a restore.
lf_req POST /api/channels/reload "{\"restore\": \"$F\"}"
t_eq "a restore's reload asked over HTTP: 400" "$LF_STATUS $(jb .error)" "400 unknown field 'restore' (set only by POST /api/restore)"
t_eq "no version stored by them" "$(versions)" "1 set,2 set,3 set,4 set"

# ---- the restore ------------------------------------------------------------------
lf_req POST /api/restore "{\"filename\":\"$F\"}"
t_eq "POST /api/restore: 200" "$LF_STATUS" 200
t_eq "the services reloaded" "$(jbc '.reloaded')" '{"agent-runtime":200,"channels":200}'
t_eq "config.toml is the archive's" "$(grep '^api_requests_per_minute' "$LIBREFANG_HOME/config.toml")" "api_requests_per_minute = 2002"
t_eq "the versions: the archive's 1 and 2, then the restored file as version 5" \
    "$(versions)" "1 set,2 set,5 reload"
t_eq "version 5 is the restored file's text" \
    "$(lf_psql "SELECT md5(text) FROM channels.config_versions WHERE version = 5")" \
    "$(md5sum < "$LIBREFANG_HOME/config.toml" | cut -d' ' -f1)"
t_ok "every process applied version 5" lf_poll 300 all_at 5 5
t_ok "both gateways limit at the archive's 2002" rpm_is 2002
lf_req GET /api/config
t_eq "GET /api/config: version 5" "$(jb .config_version)" 5
lf_poll 200 outbox_empty
lf_req GET /api/audit/verify
t_eq "the chain verifies" "$(jbc '[.status, .valid]')" '["valid",true]'
lf_req GET '/api/audit/recent?limit=2'
t_eq "the restore, then its config version, audited" \
    "$(jbc '[.entries[] | [.action, (.detail | split(" (")[0] | split(":")[0])]]')" \
    "[[\"ConfigChange\",\"backup restored\"],[\"ConfigChange\",\"config restored from backup $F\"]]"

# ---- changes after the restore ------------------------------------------------------
t_ok "a set after the restore: rate limit 2006" set_rpm 2006
t_eq "it is version 6" "$(jb .version)" 6
t_ok "every process (both gateways, both channels replicas, the runtime) applied version 6" \
    lf_poll 300 all_at 6 5
t_ok "both gateways limit at 2006" rpm_is 2006
sed -i 's/^api_requests_per_minute = .*/api_requests_per_minute = 2007/' "$LIBREFANG_HOME/config.toml"
lf_req POST /api/config/reload
t_eq "a reload after the restore: version 7" "$LF_STATUS $(jb .version)" "200 7"
t_ok "every process applied version 7" lf_poll 300 all_at 7 5
t_ok "both gateways limit at 2007" rpm_is 2007
t_eq "the listing" "$(versions)" "1 set,2 set,5 reload,6 set,7 reload"
lf_req POST /api/channels/reload '{"store": false}'
t_eq "a reload without a version after the restore: 200" "$LF_STATUS" 200
t_eq "its config_reloads id goes on above the running system's (3)" \
    "$(lf_psql "SELECT string_agg(id::text, ',' ORDER BY id) FROM channels.config_reloads")" "3"

# ---- a second restore of the same archive -------------------------------------------
lf_req POST /api/restore "{\"filename\":\"$F\"}"
t_eq "the archive restored again: 200" "$LF_STATUS $(jbc '.reloaded.channels')" "200 200"
t_eq "the restored file is version 8" "$(versions)" "1 set,2 set,8 reload"
t_ok "every process applied version 8" lf_poll 300 all_at 8 5
t_ok "both gateways limit at 2002 again" rpm_is 2002
t_done
