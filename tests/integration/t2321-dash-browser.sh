#!/usr/bin/env bash
# t2321-dash-browser.sh - the dashboard in headless Chromium
# (tests/e2e/dash.browser.test.mjs, playwright-core) against the gateway
# with an api_key, agent-runtime and the fake LLM provider: the first page
# under the CSP, a wrong key then the right one, an agent spawned from the
# coder template, a streamed answer with a tool card, HTML in the answer
# shown as text, a shell_exec approved inline, a socket dropped mid-answer
# (the answer once, the message sent once), 360 px and dark, logout; the
# login view's link to a configured OpenID provider.
# Screenshots: build/<variant>/test-out/screens/t2321 (or
# $LF_TEST_OUT/screens/t2321; lf_screens).
. "$(dirname "$0")/../lib.sh"

[ -x "${LF_CHROMIUM:-/usr/bin/chromium}" ] || {
	echo "Bail out! no chromium (deploy/deps.sh test installs it)"; exit 1; }

KEY=dash-browser-key-0123456789abcdef
MODEL=dash-model
lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-dash-0123456789
lf_fake_start
lf_config "api_key = \"$KEY\"

[default_model]
provider = \"openai\"
model = \"$MODEL\"
base_url = \"$LF_FAKE_URL/v1\"
api_key_env = \"FAKE_API_KEY\"

# A provider for the login view's single sign-on link (never followed
# here: t2310 does the login itself).
[external_auth]
redirect_url = \"$LF_URL/api/auth/callback\"

[[external_auth.providers]]
id = \"corp\"
display_name = \"Corp SSO\"
issuer_url = \"$LF_FAKE_URL/idp\"
client_id = \"librefang\"
allowed_domains = [\"example.com\"]"
# channels: the dashboard sessions (dashsess.*) are its
lf_stack_start agent-runtime channels
LF_AUTH=$KEY lf_wait_agents

lf_screens t2321

export LF_URL LF_KEY=$KEY FAKE_URL=$LF_FAKE_URL LF_MODEL=$MODEL
LF_NODE_SECS=420 t_node dash.browser.test.mjs 17
t_ok "screenshots of every view ($(ls "$LF_SCREENS" | wc -l) files)" \
    test "$(ls "$LF_SCREENS"/*.png 2>/dev/null | wc -l)" -ge 10

LF_AUTH=$KEY lf_req GET '/api/approvals?status=approved'
t_eq "the approval the page gave is recorded, approved" \
    "$(jb '[.approvals[]? | select(.tool_name == "shell_exec")] | length')" 1
LF_AUTH=$KEY lf_req GET /api/approvals
t_eq "none left pending" "$(jb '.approvals | length')" 0
t_done
