#!/usr/bin/env bash
# The channels service's faults: a bad [[sidecar_channels]] entry stops it
# at start with a clear message (exit 1, no adapter started); a database
# outage holds the adapters' messages in memory (a bounded queue) and
# stores them, in order, once PostgreSQL is back -- each then answered
# once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
mkdir -p "$LF_TMP/demo/inbox"
lf_pg_start

# ---- bad entries -------------------------------------------------------------------
bad() {
	printf '%s\n' "$2" > "$LF_TMP/bad.toml"
	timeout 30 "$LF_BIN/channels" -f "$LF_TMP/bad.toml" > "$LF_TMP/bad.out" 2>&1
	local rc=$?
	t_eq "$1: exits 1" "$rc" 1
	t_ok "$1: saying so ($(grep -o 'sidecar_channels: .*' "$LF_TMP/bad.out" | head -1))" grep -q "sidecar_channels: .*$3" "$LF_TMP/bad.out"
}
bad "no command" '[[sidecar_channels]]
name = "a"' "'command' is required"
bad "a typo in a bound" '[[sidecar_channels]]
name = "a"
command = "true"
ready_timeout_sec = 3' "unknown key 'ready_timeout_sec'"
bad "a bound out of range" '[[sidecar_channels]]
name = "a"
command = "true"
restart_max_backoff_ms = -1' "'restart_max_backoff_ms' is not an integer"
bad "two channels of one name" '[[sidecar_channels]]
name = "a"
command = "true"
[[sidecar_channels]]
name = "a"
command = "true"' "two channels are named 'a'"
bad "a name with a slash" '[[sidecar_channels]]
name = "a/b"
command = "true"' "no valid 'name'"

# ---- a database outage ---------------------------------------------------------------
lf_config "
[[sidecar_channels]]
name = \"demo\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"chan-agent\"
env = { SIDECAR_DIR = \"$LF_TMP/demo\" }

[[sidecar_channels]]
name = \"sky\"
channel_type = \"bluesky\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"chan-agent\"
env = { SIDECAR_DIR = \"$LF_TMP/sky\" }
"
mkdir -p "$LF_TMP/sky/inbox"
export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
lf_agent chan-agent m-f >/dev/null
t_ok "the adapter is ready" chan_wait demo running
emit demo "$(msg u1 before f1)"
t_ok "a message is answered" send_wait demo "echo: [Alice]: before" 1

lf_pg_stop
emit demo "$(msg u1 "during one" f2)" "$(msg u1 "during two" f3)"
held() { grep -q "messages wait for the database" "$LF_TMP/log/channels.log"; }
t_ok "with the database down, messages wait" lf_poll 200 held
lf_pg_start
t_ok "once it is back they are stored" lf_poll 400 grep -q "held message(s) stored" "$LF_TMP/log/channels.log"
# Two turn threads: either may finish first.
t_ok "and answered" send_wait demo "echo: [Alice]: during two" 1
t_ok "both" send_wait demo "echo: [Alice]: during one" 1
t_eq "each once" "$(sends demo "echo: [Alice]: during one") $(sends demo "echo: [Alice]: during two")" "1 1"
t_eq "in order" "$(lf_psql "SELECT string_agg(platform_msg_id, ',' ORDER BY id) FROM channels.inbound")" "f1,f2,f3"

# ---- a reply longer than the platform takes ------------------------------------------
t_ok "a bluesky-type channel is ready" chan_wait sky running
LONG=$(for i in $(seq 1 70); do printf 'word%03d ' "$i"; done)
LONG=${LONG% }
lf_fake_script "$(jq -nc --arg t "$LONG" '{model: "m-f", steps: [{text: $t}]}')"
emit sky "$(msg u1 "say much" s1)"
n_sends() { [ "$(jq -s '[.[] | select(.frame.method == "send")] | length' "$LF_TMP/sky/received.jsonl" 2>/dev/null)" -ge 2 ]; }
t_ok "a 559-character reply is sent" lf_poll 300 n_sends
sleep 0.5
t_eq "as two sends of at most 300 characters" "$(jq -sc '[.[] | select(.frame.method == "send") | .frame.params.text | length]' "$LF_TMP/sky/received.jsonl")" '[296,263]'
t_eq "cut between words, whole again when joined" "$(jq -sj '.[] | select(.frame.method == "send") | .frame.params.text' "$LF_TMP/sky/received.jsonl")" "$LONG"

t_done
