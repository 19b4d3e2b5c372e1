#!/usr/bin/env bash
# dm_policy and group_policy (protocols.md §1.3 "Config"; chan_conf.c's
# chan_policy_drop(), asked by the router): a message a policy leaves
# alone gets no turn and no send, its inbound row is 'ignored' with the
# policy that said so; the others are answered as before.  Bad policy
# values stop the service at start.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
mkdir -p "$LF_TMP/strict/inbox" "$LF_TMP/cmds/inbox" "$LF_TMP/open/inbox"
lf_pg_start

# ---- bad values ----------------------------------------------------------------------
bad() {
	printf '%s\n' "$2" > "$LF_TMP/bad.toml"
	timeout 30 "$LF_BIN/channels" -f "$LF_TMP/bad.toml" > "$LF_TMP/bad.out" 2>&1
	local rc=$?
	t_eq "$1: exits 1" "$rc" 1
	t_ok "$1: saying so ($(grep -o 'sidecar_channels: .*' "$LF_TMP/bad.out" | head -1))" grep -q "sidecar_channels: .*$3" "$LF_TMP/bad.out"
}
bad "an unknown dm_policy" '[[sidecar_channels]]
name = "a"
command = "true"
dm_policy = "maybe"' "'dm_policy' is not one of respond, allowed_only, ignore"
bad "a group_policy that is no string" '[[sidecar_channels]]
name = "a"
command = "true"
group_policy = 3' "'group_policy' is not one of all, mention_only"
bad "allowed_only without allowed_users" '[[sidecar_channels]]
name = "a"
command = "true"
dm_policy = "allowed_only"' "needs 'allowed_users'"
bad "allowed_users holding a number" '[[sidecar_channels]]
name = "a"
command = "true"
allowed_users = ["u1", 2]' "'allowed_users' holds"

# ---- the policies at work ------------------------------------------------------------
lf_config "
[[sidecar_channels]]
name = \"strict\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"pol-agent\"
dm_policy = \"allowed_only\"
allowed_users = [\"u1\", \"Carol\"]
group_policy = \"mention-only\"
env = { SIDECAR_DIR = \"$LF_TMP/strict\", SIDECAR_CAPS = \"reaction\" }

[[sidecar_channels]]
name = \"cmds\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"pol-agent\"
dm_policy = \"ignore\"
group_policy = \"commands_only\"
env = { SIDECAR_DIR = \"$LF_TMP/cmds\" }

[[sidecar_channels]]
name = \"open\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"pol-agent\"
env = { SIDECAR_DIR = \"$LF_TMP/open\" }
"
export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
lf_agent pol-agent m-pol >/dev/null
for c in strict cmds open; do
	t_ok "$c's adapter is ready" chan_wait $c running
done

# gmsg USER NAME TEXT MSGID MENTIONED: a group message in room r1.
gmsg() {
	jq -nc --arg u "$1" --arg n "$2" --arg t "$3" --arg m "$4" --argjson w "$5" \
	    '{method: "message", params: {user_id: $u, user_name: $n, text: $t, content: {Text: $t}, channel_id: "r1", platform: "demo", message_id: $m, is_group: true, metadata: {was_mentioned: $w}}}'
}
# dmsg USER NAME TEXT MSGID: a direct message.
dmsg() {
	jq -nc --arg u "$1" --arg n "$2" --arg t "$3" --arg m "$4" \
	    '{method: "message", params: {user_id: $u, user_name: $n, text: $t, content: {Text: $t}, channel_id: "c-\($u)", platform: "demo", message_id: $m}}'
}
row() { lf_psql "SELECT state || ' ' || coalesce(error, '') FROM channels.inbound WHERE channel = '$1' AND platform_msg_id = '$2'"; }
settled() { local s; s=$(row "$1" "$2"); [ "${s%% *}" = done ] || [ "${s%% *}" = ignored ]; }
emit strict "$(dmsg u2 Bob "dm from bob" s1)" "$(dmsg u1 Alice "dm from u1" s2)" \
    "$(dmsg u9 Carol "dm from carol" s3)" "$(gmsg u2 Bob "group plain" s4 false)" \
    "$(gmsg u2 Bob "group mention" s5 true)"
emit cmds "$(dmsg u1 Alice "dm to cmds" k1)" "$(gmsg u1 Alice "chatter" k2 false)" \
    "$(gmsg u1 Alice "/status now" k3 false)"
emit open "$(dmsg u2 Bob "open dm" o1)" "$(gmsg u2 Bob "open group" o2 false)"

t_ok "allowed_only: an allowed user's id is answered" send_wait strict "echo: [Alice]: dm from u1" 1
t_ok "allowed_only: an allowed user's name is answered" send_wait strict "echo: [Carol]: dm from carol" 1
t_ok "mention_only: a message that mentions the bot is answered" send_wait strict "echo: [Bob]: group mention" 1
t_ok "commands_only: a command is answered" send_wait cmds "echo: [Alice]: /status now" 1
t_ok "no policy: a direct message is answered" send_wait open "echo: [Bob]: open dm" 1
t_ok "no policy: a group message is answered" send_wait open "echo: [Bob]: open group" 1
for r in strict:s1 strict:s4 cmds:k1 cmds:k2; do
	t_ok "$r settles" lf_poll 200 settled ${r%%:*} ${r#*:}
done
t_eq "allowed_only: another user's message is ignored, saying why" "$(row strict s1)" "ignored dm_policy allowed_only: the sender is not in allowed_users"
t_eq "mention_only: a group message without a mention is ignored" "$(row strict s4)" "ignored group_policy mention_only: the message does not mention the bot"
t_eq "dm_policy ignore" "$(row cmds k1)" "ignored dm_policy ignore"
t_eq "commands_only: chatter is ignored" "$(row cmds k2)" "ignored group_policy commands_only: the message is no command"
t_eq "ignored messages get no send" "$(sends strict "echo: [Bob]: dm from bob") $(sends strict "echo: [Bob]: group plain") $(sends cmds "echo: [Alice]: chatter")" "0 0 0"
t_eq "nor a turn: the provider was asked 6 times" "$(lf_fake_requests m-pol | jq length)" 6
# phases MSGID: the reaction phases strict's adapter got on that message.
phases() { jq -r --arg m "$1" 'select(.frame.method == "reaction" and .frame.params.message_id == $m) | .frame.params.phase' "$LF_TMP/strict/received.jsonl" | tr '\n' ' '; }
has_done() { phases "$1" | grep -q done; }
t_ok "an answered message's lifecycle ends" lf_poll 100 has_done s2
t_eq "an answered message: queued, thinking, done" "$(phases s2)" "queued thinking done "
t_eq "an ignored message gets no reaction at all" "$(phases s1)$(phases s4)" ""
t_eq "nor an outbox row" "$(lf_psql "SELECT count(*) FROM channels.outbox o JOIN channels.inbound i ON i.id = o.inbound_id WHERE i.state = 'ignored'")" 0

t_done
