#!/usr/bin/env bash
# t2340-dash-ops.sh - the dashboard's operator pages in headless Chromium
# (tests/e2e/dashops.browser.test.mjs), logged in with the API key (a
# session cookie; every change the pages make carries its CSRF token):
# every page visited with no
# console error, no CSP violation and no error shown; a schedule created
# from the page fires and its last run appears; a log line arrives live;
# an approval decided from the page; an agent spawned from a template and
# deleted; a provider key set that no page ever shows; a WhatsApp QR
# login shown as its adapter sends it; keyboard-only navigation; screenshots of each page, light and dark, and two at 360 px
# (build/<variant>/test-out/screens/t2340, or $LF_TEST_OUT/screens/t2340;
# lf_screens).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-dashops-0123456789
# Schedules may run every 5 s (the page's "every N seconds" schedule); a
# WhatsApp channel whose adapter (tests/channels/sidecar.py) sends the QR
# login events the browser test writes to its inbox.
mkdir -p "$LF_TMP/wa/inbox"
# With an API key: the browser logs in once (dashboard session cookie) and
# every change the pages make carries the session's CSRF token.
KEY=dash-ops-api-key-0123456789abcdef
export LF_AUTH=$KEY
lf_config "api_key = \"$KEY\"

[scheduler]
min_interval_secs = 5

[[sidecar_channels]]
name = \"wa\"
channel_type = \"whatsapp\"
command = \"python3\"
args = [\"$SIDECAR\"]
env = { SIDECAR_DIR = \"$LF_TMP/wa\" }"
lf_fake_stack
t_ok "the WhatsApp channel's adapter is ready" chan_wait wa running

A=$(lf_agent dash-ops-agent m-dash)
t_ok "an agent for the pages ($A)" test -n "$A"
# Something for the usage, sessions, audit and memory pages to show.
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'hello from the dashboard test')"
t_eq "a turn for the usage page" "$LF_STATUS" 200
lf_req POST /api/memory "$(jq -nc --arg a "$A" '{agent_id: $a, content: "The operator prefers short answers", level: "agent"}')"
t_eq "a memory for the memory page" "$LF_STATUS" 200

lf_screens t2340
export LF_URL LF_AGENT=$A LF_WA_INBOX=$LF_TMP/wa/inbox LF_API_KEY=$KEY
LF_NODE_SECS=420 t_node dashops.browser.test.mjs 12

# What the page did, seen from the API.
lf_req GET /api/agents
t_eq "the agent the page deleted is gone" "$(jb '[.[] | select(.name == "dash-spawned")] | length')" 0
lf_req GET /api/providers/groq
t_eq "the key the page set is configured" "$(jb .auth_status)" configured
t_eq "no screenshot missing (13 pages x 2 themes, 2 narrow, the QR)" \
    "$(ls "$LF_SCREENS" | grep -c '\.png$')" 29

t_done
