#!/usr/bin/env bash
# Live configuration (issue 12 part 2; kernel.md 8.4, 8.5): GET
# /api/config (secrets redacted), the schema generated from the key table
# (every key of libshared/cfg.c's table is in it), the registry schema,
# the TOML export; POST /api/config/set writes config.toml atomically
# keeping its comments and order, stores a version and applies it (the
# gateway's rate limit changes live); bad paths, secrets, values out of
# bounds or of the wrong type and garbage are a 400 with the file
# unchanged byte for byte; POST /api/config/reload plans hot and restart
# changes; each change is audited.
. "$(dirname "$0")/../lib.sh"

KEY=t2100-key-0123456789abcdef
CONF=$LIBREFANG_HOME/config.toml
cat > "$CONF" <<EOF
# LibreFang test config: this comment stays.
api_key = "$KEY"
log_level = "info"   # the level, commented

[rate_limit]
# a comment inside the table
api_requests_per_minute = 5000  # generous

[memory]
# a section another service reads
decay_rate = 0.1
EOF
export LF_AUTH=$KEY
lf_stack_start channels audit

sum() { sha256sum "$CONF" | cut -d' ' -f1; }

# ---- GET /api/config ----------------------------------------------------
lf_req GET /api/config
t_eq "GET /api/config: 200" "$LF_STATUS" 200
t_eq "log_level is the file's" "$(jb .log_level)" info
t_eq "api_key redacted" "$(jb .api_key)" "[REDACTED]"
t_eq "api_key_set" "$(jb .api_key_set)" true
t_ok "the key is nowhere in the body" bash -c "! grep -q '$KEY' <<<'$LF_BODY'"
t_eq "rate limit from the file" "$(jb '."rate_limit.api_requests_per_minute"')" 5000
LF_AUTH= lf_req GET /api/config
t_eq "GET /api/config needs the key" "$LF_STATUS" 401

# ---- the schema ------------------------------------------------------------
LF_AUTH= lf_req GET /api/config/schema
t_eq "GET /api/config/schema is public" "$LF_STATUS" 200
t_eq "draft-07" "$(jb '."$schema"')" "http://json-schema.org/draft-07/schema#"
SCHEMA=$LF_BODY
# Every key of the table, read from cfg.c itself, is a property.
python3 - "$LF_ROOT/libshared/cfg.c" > "$LF_TMP/keys" <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
tab = src[src.index('cfg_opts[] = {'):]
tab = tab[:tab.index('};')]
for k in re.findall(r'^\s*[SIB]\("([A-Za-z0-9_.]+)"', tab, re.M):
	print(k)
EOF
nkeys=$(wc -l < "$LF_TMP/keys")
t_ok "the table has keys ($nkeys)" test "$nkeys" -ge 20
missing=
while read -r k; do
	q=$(printf '%s' "$k" | sed 's/\./.properties./')
	[ "$(printf '%s' "$SCHEMA" | jq -r ".properties.$q.type // empty")" ] ||
	    missing="$missing $k"
done < "$LF_TMP/keys"
t_eq "every key of the table is in the schema" "$missing" ""
t_eq "an integer has its bounds" \
    "$(printf '%s' "$SCHEMA" | jq -c '.properties.rate_limit.properties.api_requests_per_minute | [.type, .minimum, .maximum, .default]')" \
    '["integer",0,100000000,500]'
t_eq "x-sections starts with the virtual general section" \
    "$(printf '%s' "$SCHEMA" | jq -c '."x-sections"[0] | [.key, .virtual, (.fields | index("log_level") != null)]')" \
    '["general",true,true]'
t_eq "default_model is a hot section" \
    "$(printf '%s' "$SCHEMA" | jq -r '."x-sections"[] | select(.key == "default_model") | .hot_reloadable')" true
t_eq "api is not" \
    "$(printf '%s' "$SCHEMA" | jq -r '."x-sections"[] | select(.key == "api") | .hot_reloadable')" false
t_eq "x-ui-options: log_level select" \
    "$(printf '%s' "$SCHEMA" | jq -c '."x-ui-options"["/log_level"].select')" \
    '["error","warn","info","debug"]'
t_eq "x-ui-options: the rate limit's step" \
    "$(printf '%s' "$SCHEMA" | jq -c '."x-ui-options"["/rate_limit/api_requests_per_minute"] | [.min, .max, .step]')" \
    '[0,100000000,100]'
t_eq "x-non-writable names the secrets and home_dir" \
    "$(printf '%s' "$SCHEMA" | jq -c '[."x-non-writable"[] | select(. == "/api_key" or . == "/database_url" or . == "/home_dir")] | sort')" \
    '["/api_key","/database_url","/home_dir"]'
LF_AUTH= lf_req GET /api/registry/schema
t_eq "GET /api/registry/schema: the same document" \
    "$(jbc -S .)" "$(printf '%s' "$SCHEMA" | jq -cS .)"

# ---- export ----------------------------------------------------------------
lf_req GET /api/config/export
t_eq "export: 200" "$LF_STATUS" 200
t_ok "export: TOML content type" bash -c "grep -q '^application/toml' <<<'$(lf_hdr content-type)'"
printf '%s' "$LF_BODY" > "$LF_TMP/export.toml"
t_eq "export parses as TOML with the effective values" \
    "$(python3 -c 'import sys,tomllib; d=tomllib.load(open(sys.argv[1],"rb")); print(d["log_level"], d["rate_limit"]["api_requests_per_minute"], d["memory"]["decay_rate"], d["api"]["threads"])' "$LF_TMP/export.toml")" \
    "info 5000 0.1 2"
t_ok "export leaves the key out" bash -c "! grep -q '$KEY' '$LF_TMP/export.toml'"

# ---- set -------------------------------------------------------------------
cp "$CONF" "$LF_TMP/orig.toml"
lf_req POST /api/config/set '{"path": "log_level", "value": "debug"}'
t_eq "set log_level: 200" "$LF_STATUS" 200
t_eq "set: the spec's shape" "$(jbc '{status, path}')" '{"status":"applied","path":"log_level"}'
V1=$(jb .version)
t_eq "the line changed, its comment kept" \
    "$(grep '^log_level' "$CONF")" 'log_level = "debug"   # the level, commented'
t_eq "nothing else changed" \
    "$(diff "$LF_TMP/orig.toml" "$CONF" | grep -c '^[<>]')" 2
is_level() { lf_req GET /api/config; [ "$(jb .log_level)" = "$1" ]; }
t_ok "the gateway applies it" lf_poll 200 is_level debug
t_ok "the version is stored" test "$(lf_psql "SELECT count(*) FROM channels.config_versions WHERE version = $V1 AND origin = 'set' AND path = 'log_level'")" = 1

lf_req POST /api/config/set '{"path": "rate_limit.api_requests_per_minute", "value": 6000}'
t_eq "set an integer: 200" "$LF_STATUS" 200
t_eq "replaced in its table, comment kept" \
    "$(grep '^api_requests_per_minute' "$CONF")" 'api_requests_per_minute = 6000  # generous'
lf_req POST /api/config/set '{"path": "rate_limit.retry_after_secs", "value": 30}'
t_eq "set a key the table lacks in the file: 200" "$LF_STATUS" 200
t_eq "added after the table's last pair" \
    "$(sed -n '/^\[rate_limit\]/,/^\[memory\]/p' "$CONF" | grep -v '^$' | tail -2 | head -1)" \
    'retry_after_secs = 30'
lf_req POST /api/config/set '{"path": "default_model.model", "value": "fake-model-2"}'
t_eq "set in a table the file lacks: 200" "$LF_STATUS" 200
t_eq "a new table at the end" "$(tail -2 "$CONF" | tr '\n' '|')" '[default_model]|model = "fake-model-2"|'
t_ok "the comments are all there" bash -c "grep -q '^# LibreFang test config: this comment stays.' '$CONF' && grep -q '^# a comment inside the table' '$CONF' && grep -q '^# a section another service reads' '$CONF'"
t_ok "the file still parses" python3 -c 'import sys,tomllib; tomllib.load(open(sys.argv[1],"rb"))' "$CONF"
t_ok "no temporary file left" bash -c "! ls '$LIBREFANG_HOME' | grep -q 'config.toml.tmp'"
lf_req POST /api/config/set '{"path": "rate_limit.exempt_loopback", "value": true}'
t_eq "set a boolean: 200" "$LF_STATUS" 200
t_eq "written as a TOML boolean" "$(grep '^exempt_loopback' "$CONF")" 'exempt_loopback = true'

# ---- bad input: 400, file unchanged --------------------------------------
before=$(sum)
bad() {
	local desc=$1 body=$2
	lf_req POST /api/config/set "$body"
	t_eq "$desc: 400" "$LF_STATUS" 400
	t_ok "$desc: an error body" lf_err_shape
	t_eq "$desc: the file unchanged" "$(sum)" "$before"
}
bad "unknown key" '{"path": "nope", "value": 1}'
bad "unknown key in a known table" '{"path": "rate_limit.nope", "value": 1}'
bad "a secret" '{"path": "api_key", "value": "clear-text"}'
bad "another secret" '{"path": "database_url", "value": "postgresql://u:p@h/db"}'
bad "a secret-named key outside the table" '{"path": "telegram.bot_token", "value": "x"}'
bad "home_dir" '{"path": "home_dir", "value": "/tmp"}'
bad "three levels" '{"path": "a.b.c", "value": 1}'
bad "a dash" '{"path": "log-level", "value": "info"}'
bad "a traversal" '{"path": "../etc", "value": 1}'
bad "an empty segment" '{"path": "rate_limit.", "value": 1}'
bad "an empty path" '{"path": "", "value": 1}'
bad "no path" '{"value": 1}'
bad "a path not a string" '{"path": 5, "value": 1}'
bad "no value" '{"path": "log_level"}'
bad "below the minimum" '{"path": "rate_limit.api_requests_per_minute", "value": -1}'
bad "above the maximum" '{"path": "rate_limit.api_requests_per_minute", "value": 100000001}'
bad "a string for an integer" '{"path": "rate_limit.api_requests_per_minute", "value": "100"}'
bad "a float for an integer" '{"path": "rate_limit.api_requests_per_minute", "value": 1.5}'
bad "an integer for a string" '{"path": "log_level", "value": 5}'
bad "a string for a boolean" '{"path": "rate_limit.exempt_loopback", "value": "yes"}'
bad "a log level that is none" '{"path": "log_level", "value": "loud"}'
bad "an array body" '[1, 2]'
bad "garbage JSON" '{"path": '
t_eq "log_level unchanged by all that" "$(grep '^log_level' "$CONF")" 'log_level = "debug"   # the level, commented'

# ---- reload ------------------------------------------------------------------
lf_req POST /api/config/reload
t_eq "reload of the stored file: 200" "$LF_STATUS" 200
t_eq "nothing changed" "$(jbc '{status, restart_required, restart_reasons, hot_actions_applied, noop_changes}')" \
    '{"status":"no_changes","restart_required":false,"restart_reasons":[],"hot_actions_applied":[],"noop_changes":[]}'
sed -i 's/^log_level = "debug"/log_level = "warn"/; s/^decay_rate = 0.1/decay_rate = 0.2/' "$CONF"
lf_req POST /api/config/reload
t_eq "reload after a hand edit: 200" "$LF_STATUS" 200
t_eq "partial: [memory] needs a restart" "$(jb .status)/$(jb .restart_required)" partial/true
t_ok "the restart reason names [memory]" bash -c "jq -e '.restart_reasons | map(select(test(\"memory\"))) | length == 1' <<<'$LF_BODY'"
t_eq "log_level applied hot" "$(jbc .hot_actions_applied)" '["ReloadLogLevel"]'
t_ok "the gateway has it" lf_poll 200 is_level warn
printf 'log_level = [broken\n' >> "$CONF"
lf_req POST /api/config/reload
t_eq "reload of a broken file: 400" "$LF_STATUS" 400
t_ok "the error names the file's line" bash -c "jq -e '.error | test(\"line\")' <<<'$LF_BODY'"
lf_req GET /api/config
t_eq "the config is unchanged" "$(jb .log_level)" warn
sed -i '$d' "$CONF"
t_eq "versions: 5 sets and a reload" "$(lf_psql "SELECT count(*) FROM channels.config_versions")" 6

# ---- audited -------------------------------------------------------------------
is_audited() {
	lf_req GET '/api/audit/recent?n=200'
	[ "$(jb '[.entries[]? // .[]? | select(.action == "ConfigChange")] | length')" -ge "$1" ]
}
t_ok "config changes audited" lf_poll 200 is_audited 6

# ---- the rate limit applies live ------------------------------------------------
lf_req POST /api/config/set '{"path": "rate_limit.exempt_loopback", "value": false}'
t_eq "loopback no longer exempt: 200" "$LF_STATUS" 200
lf_req POST /api/config/set '{"path": "rate_limit.api_requests_per_minute", "value": 12}'
t_eq "a tiny quota: 200" "$LF_STATUS" 200
limited() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		lf_req GET /api/status
		[ "$LF_STATUS" = 429 ] && return 0
	done
	return 1
}
t_ok "the gateway limits at once" lf_poll 40 limited
t_done
