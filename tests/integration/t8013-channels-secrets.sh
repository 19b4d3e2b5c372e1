#!/usr/bin/env bash
# An adapter's environment (protocols.md 1.3, "Child environment";
# services/channels/README.md): PATH and a few of ours, then
# $LIBREFANG_HOME/secrets.env -- its global keys to every channel, its
# NAME__KEY keys only to channel NAME (upper case, anything not
# alphanumeric as '_'), as KEY, other channels' withheld --, then the
# channel's env_from and env tables, a later one winning; never the
# service's own database URL or provider keys.  The file is read at each
# start of an adapter, so an edit applies at its next restart.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

SIDECAR=$LF_ROOT/tests/channels/sidecar.py
mkdir -p "$LF_TMP/demo-1/inbox" "$LF_TMP/other/inbox"
lf_config "
[[sidecar_channels]]
name = \"demo-1\"
command = \"python3\"
args = [\"$SIDECAR\"]
env = { SIDECAR_DIR = \"$LF_TMP/demo-1\", FROM_TABLE = \"table\", BOTH = \"from env table\" }

[[sidecar_channels]]
name = \"other\"
command = \"python3\"
args = [\"$SIDECAR\"]
env = { SIDECAR_DIR = \"$LF_TMP/other\" }
"
cat >"$LIBREFANG_HOME/secrets.env" <<'SECRETS'
# global keys reach every channel
GLOBAL_TOKEN=g-123
export EXPORTED = "quoted value with spaces"
SINGLE='single # not a comment'
BOTH=from secrets
  # an indented comment
not a line
BAD-KEY=skipped
DEMO_1__BOT_TOKEN=demo-secret
OTHER__BOT_TOKEN=other-secret
OTHER__GLOBAL_TOKEN=other-global
SECRETS
chmod 600 "$LIBREFANG_HOME/secrets.env"
export FAKE_API_KEY=sk-fake-secrets-0123456789
lf_fake_stack agent-runtime channels

t_ok "demo-1's adapter is running" chan_wait demo-1 running
t_ok "other's adapter is running" chan_wait other running
envof() { jq -c "$2" "$LF_TMP/$1/env.json"; }
t_eq "global keys reach demo-1, export and quotes handled" \
    "$(envof demo-1 '[.GLOBAL_TOKEN, .EXPORTED, .SINGLE]')" '["g-123","quoted value with spaces","single # not a comment"]'
t_eq "its own DEMO_1__ key, as BOT_TOKEN" "$(envof demo-1 .BOT_TOKEN)" '"demo-secret"'
t_eq "no other channel's key, under either name" \
    "$(envof demo-1 '[to_entries[] | select(.key | test("__")) ] | length')" 0
t_eq "the env table wins over secrets.env, and is there" "$(envof demo-1 '[.BOTH, .FROM_TABLE]')" '["from env table","table"]'
t_eq "a malformed key and a line without '=' are skipped" "$(envof demo-1 '[has("BAD-KEY"), has("not a line")]')" '[false,false]'
t_eq "other gets its own key, and its NAME__ key wins over the global one" \
    "$(envof other '[.BOT_TOKEN, .GLOBAL_TOKEN]')" '["other-secret","other-global"]'
t_eq "the service's database URL and provider keys are withheld" \
    "$(envof demo-1 '[has("LIBREFANG_DATABASE_URL"), has("FAKE_API_KEY"), has("LIBREFANG_API_KEY")]')" '[false,false,false]'
t_eq "PATH is passed" "$(envof demo-1 'has("PATH")')" true

# Edited, then the adapter restarted (killed: the supervisor starts it
# again): the new file applies.
sed -i 's/^DEMO_1__BOT_TOKEN=.*/DEMO_1__BOT_TOKEN=rotated/' "$LIBREFANG_HOME/secrets.env"
OLD=$(pidof_ch demo-1)
rm -f "$LF_TMP/demo-1/env.json"
kill -9 "$OLD"
restarted() { [ -f "$LF_TMP/demo-1/env.json" ] && [ "$(pidof_ch demo-1)" != "$OLD" ]; }
t_ok "demo-1's adapter is started again" lf_poll 200 restarted
t_eq "with the rotated secret" "$(envof demo-1 .BOT_TOKEN)" '"rotated"'
t_ok "no secret value is in the service's log" \
    sh -c "! grep -q -e demo-secret -e other-secret -e rotated '$LF_TMP/log/channels.log'"

lf_stack_stop
t_done
