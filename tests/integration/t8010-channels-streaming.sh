#!/usr/bin/env bash
# Replies that stream, the phases of a turn as reactions, long replies in
# parts, and notify_owner to the channel's notification_recipients
# (services/channels/README.md, "Streaming", "Long replies", "Owner
# notices"), through the real stack with tests/channels/sidecar.py:
#   1. an adapter that declared "streaming" gets stream_start, the turn's
#      text deltas as the provider streams them, stream_end -- one stream
#      id, the deltas the reply exactly, no send; the outbox row is sent;
#      with "reaction" it gets queued, thinking, streaming, done;
#   2. a turn that calls a tool: the tool_use phase names the tool, the
#      stream carries the answer after it, and the agent's notify_owner
#      reaches the recipient the adapter's ready named, as a send;
#   3. a reply longer than the platform takes (Bluesky, 300 characters)
#      to an adapter that does not stream: parts at paragraph and word
#      boundaries, each within the limit, whole characters, together the
#      reply; the outbox row counts them;
#   4. the same reply to a Bluesky adapter that streams: the stream stops
#      at the limit, the rest follows as sends;
#   5. a provider stream that breaks and is retried with other text: the
#      stream ends and the reply is sent whole, once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
mkdir -p "$LF_TMP/st/inbox" "$LF_TMP/plain/inbox" "$LF_TMP/sky/inbox"
RCPT='[{"platform_id":"owner-1","display_name":"Boss"}]'
lf_config "
[[sidecar_channels]]
name = \"st\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"chan-agent\"
env = { SIDECAR_DIR = \"$LF_TMP/st\", SIDECAR_CAPS = \"streaming,reaction\", SIDECAR_RECIPIENTS = '$RCPT' }

[[sidecar_channels]]
name = \"plain\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"chan-agent\"
channel_type = \"bluesky\"
env = { SIDECAR_DIR = \"$LF_TMP/plain\" }

[[sidecar_channels]]
name = \"sky\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"chan-agent\"
channel_type = \"bluesky\"
env = { SIDECAR_DIR = \"$LF_TMP/sky\", SIDECAR_CAPS = \"streaming\" }
"

export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
A=$(lf_agent chan-agent m-st "[capabilities]
tools = [\"notify_owner\"]")
t_ok "st's adapter is ready" chan_wait st running
t_ok "plain's adapter is ready" chan_wait plain running
t_ok "sky's adapter is ready" chan_wait sky running
# fake TEXT [MORE]: one step of m-st answering TEXT (jq-quoted), MORE
# being further fields of the step.
fake() {
	lf_fake_script "$(jq -nc --arg t "$1" --argjson m "${2:-{\}}" '{model: "m-st", steps: [{text: $t} + $m]}')"
}
sid_of() { local r; r=$(inbound_row "$2"); [ -n "$r" ] && echo "$1:$r"; }
row_is() { [ "$(inbound_row "$1")" != "" ]; }

# ---- 1. a reply streams ---------------------------------------------------------
T1="Streaming works: the words of this answer arrive one by one, as the provider makes them."
fake "$T1" '{"chunk_delay_ms": 40}'
T0=$(date +%s.%N)
emit st "$(msg u1 "stream please" s1)"
t_ok "1: the message is stored" lf_poll 200 row_is s1
S1=$(sid_of st s1)
t_ok "1: the stream ends" lf_poll 400 stream_ended st "$S1"
t_eq "1: stream_start first, to the message's channel" "$(sframes st "$S1" | head -1)" "{\"method\":\"stream_start\",\"params\":{\"channel_id\":\"c-u1\",\"stream_id\":\"$S1\"}}"
t_eq "1: stream_end last" "$(sframes st "$S1" | tail -1)" "{\"method\":\"stream_end\",\"params\":{\"stream_id\":\"$S1\"}}"
t_eq "1: one start, one end" "$(sframes st "$S1" | jq -sc '[(map(select(.method == "stream_start")) | length), (map(select(.method == "stream_end")) | length)]')" "[1,1]"
t_eq "1: the deltas are the reply" "$(stext st "$S1")" "$T1"
# A figure, not a check: how soon the user sees text, and the whole.
echo "# 1: first delta $(sframes_t st "$S1" stream_delta | head -1 | awk -v t0="$T0" '{printf "%d", ($1 - t0) * 1000}') ms after the message, stream_end $(sframes_t st "$S1" stream_end | awk -v t0="$T0" '{printf "%d", ($1 - t0) * 1000}') ms (16 words, 40 ms apart)"
N1=$(sframes st "$S1" | grep -c '"stream_delta"')
t_ok "1: in many deltas, as streamed ($N1)" test "$N1" -ge 10
t_eq "1: and no send of it" "$(sends st "$T1")" 0
sent_row() { [ "$(lf_psql "SELECT o.state FROM channels.outbox o JOIN channels.inbound i ON i.id = o.inbound_id WHERE i.platform_msg_id = '$1'")" = sent ]; }
t_ok "1: its outbox row is sent" lf_poll 100 sent_row s1
t_eq "1: as one streamed part, all of its text" "$(lf_psql "SELECT o.streamed || ' ' || o.parts || ' ' || (o.sent_upto = octet_length(o.text)) FROM channels.outbox o JOIN channels.inbound i ON i.id = o.inbound_id WHERE i.platform_msg_id = 's1'")" "true 1 true"
has_phase() { reactions "$1" "$2" | grep -q "\"$3\""; }
t_ok "1: the done reaction comes" lf_poll 100 has_phase st s1 done
t_eq "1: the phases as reactions" "$(reactions st s1)" '[["queued",null],["thinking",null],["streaming",null],["done",null]]'
t_eq "1: each with its emoji" "$(jq -sc '[.[] | select(.frame.method == "reaction" and .frame.params.message_id == "s1") | .frame.params.reaction]' "$LF_TMP/st/received.jsonl")" '["⏳","🤔","✍️","✅"]'

# ---- 2. a tool call: tool_use, the answer after it, notify_owner ---------------
lf_fake_script '{"model": "m-st", "steps": [
  {"text": "Let me tell the owner.", "chunk_delay_ms": 20, "tool_calls": [{"name": "notify_owner", "arguments": {"reason": "help", "summary": "Alice needs a human."}}]},
  {"text": "Done: I told them.", "chunk_delay_ms": 20}]}'
emit st "$(msg u1 "get me a human" s2)"
t_ok "2: the message is stored" lf_poll 200 row_is s2
S2=$(sid_of st s2)
t_ok "2: the stream ends" lf_poll 400 stream_ended st "$S2"
t_ok "2: the done reaction comes" lf_poll 100 has_phase st s2 done
t_eq "2: the phases, tool_use naming the tool" "$(reactions st s2)" '[["queued",null],["thinking",null],["streaming",null],["tool_use","notify_owner"],["done",null]]'
t_eq "2: the stream shows the text before the tool, then the answer" "$(stext st "$S2")" "Let me tell the owner.Done: I told them."
t_eq "2: the answer is not sent again" "$(sends st "Done: I told them.")" 0
t_ok "2: the owner's notice is sent to the recipient" send_wait st "Alice needs a human." 1
t_eq "2: as a send to the recipient the ready named" "$(jq -c 'select(.frame.method == "send" and .frame.params.text == "Alice needs a human.") | .frame' "$LF_TMP/st/received.jsonl")" '{"method":"send","params":{"channel_id":"owner-1","text":"Alice needs a human.","user":{"platform_id":"owner-1","display_name":"Boss","librefang_user":null}}}'
t_eq "2: an outbox row of kind notice, keyed by the message" "$(lf_psql "SELECT o.kind || ' ' || (o.idem_key = 'channels:notice:' || i.id || ':1') FROM channels.outbox o, channels.inbound i WHERE i.platform_msg_id = 's2' AND o.text = 'Alice needs a human.'")" "notice true"
chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "2: the deliveries show it" "$(jbc '[.deliveries[] | select(.kind == "notice") | [.recipient, .channel_id, .message, .status]]')" '[["Boss","owner-1","Alice needs a human.","sent"]]'

# ---- 3. a long reply in parts -----------------------------------------------------
LONG=$(python3 -c '
p1 = "First paragraph: " + " ".join(["caf\u00e9"] * 80) + "."
p2 = "Second paragraph, with an emoji \U0001F600 and " + " ".join(["words"] * 50) + "."
p3 = "Third: " + "x" * 320
print(p1 + "\n\n" + p2 + "\n\n" + p3, end="")')
fake "$LONG"
emit plain "$(msg u2 "a long one" p1)"
t_ok "3: the reply is sent" lf_poll 400 sent_row p1
PARTS=$(jq -sc '[.[] | select(.frame.method == "send") | .frame.params.text]' "$LF_TMP/plain/received.jsonl")
t_eq "3: its parts together are the reply" "$(jq -j 'join("")' <<<"$PARTS")" "$LONG"
t_eq "3: each within Bluesky's 300 characters" "$(jq -c 'map(length <= 300) | all' <<<"$PARTS")" true
t_ok "3: in several parts ($(jq length <<<"$PARTS"))" test "$(jq length <<<"$PARTS")" -ge 4
t_eq "3: the first ends at a word, the second at the paragraph" "$(jq -c '[(.[0] | endswith(" ")), (.[1] | endswith(".\n\n"))]' <<<"$PARTS")" '[true,true]'
t_eq "3: the outbox row counts the parts" "$(lf_psql "SELECT o.parts || ' ' || o.streamed || ' ' || (o.sent_upto = octet_length(o.text)) FROM channels.outbox o JOIN channels.inbound i ON i.id = o.inbound_id WHERE i.platform_msg_id = 'p1'")" "$(jq length <<<"$PARTS") false true"

# ---- 4. the same, streamed to a Bluesky adapter -------------------------------------
fake "$LONG" '{"chunk_delay_ms": 5}'
emit sky "$(msg u3 "a long stream" k1)"
t_ok "4: the message is stored" lf_poll 200 row_is k1
S4=$(sid_of sky k1)
t_ok "4: the reply is sent" lf_poll 400 sent_row k1
SHOWN=$(stext sky "$S4")
t_ok "4: the stream shows at most 300 characters ($(printf '%s' "$SHOWN" | python3 -c 'import sys; print(len(sys.stdin.read()))'))" python3 -c 'import sys; t = sys.argv[1]; sys.exit(not (0 < len(t) <= 300))' "$SHOWN"
t_ok "4: and ends" stream_ended sky "$S4"
REST=$(jq -j 'select(.frame.method == "send") | .frame.params.text' "$LF_TMP/sky/received.jsonl")
t_eq "4: the rest follows as sends: together the reply" "$SHOWN$REST" "$LONG"
t_eq "4: the outbox row: streamed, then the sends" "$(lf_psql "SELECT o.streamed || ' ' || o.parts FROM channels.outbox o JOIN channels.inbound i ON i.id = o.inbound_id WHERE i.platform_msg_id = 'k1'")" "true $((1 + $(jq -s '[.[] | select(.frame.method == "send")] | length' "$LF_TMP/sky/received.jsonl")))"

# ---- 5. a broken provider stream, retried with other text ---------------------------
lf_fake_script '{"model": "m-st", "steps": [
  {"text": "This first attempt breaks off somewhere in the middle", "chunk_delay_ms": 30, "break_after_chunks": 6},
  {"text": "The second attempt says it differently.", "chunk_delay_ms": 10}]}'
emit st "$(msg u1 "retry me" s5)"
t_ok "5: the message is stored" lf_poll 200 row_is s5
S5=$(sid_of st s5)
t_ok "5: the reply is sent" send_wait st "The second attempt says it differently." 1
t_ok "5: the stream was ended" stream_ended st "$S5"
SHOWN5=$(stext st "$S5")
t_ok "5: having shown only the first attempt's start ($SHOWN5)" python3 -c 'import sys; sys.exit(not (sys.argv[1] and sys.argv[2].startswith(sys.argv[1])))' "$SHOWN5" "This first attempt breaks off somewhere in the middle"
t_eq "5: the reply once" "$(sends st "The second attempt says it differently.")" 1
t_eq "5: after the stream's end" "$(jq -sc --arg s "$S5" '[.[] | select((.frame.params.stream_id == $s and .frame.method == "stream_end") or (.frame.method == "send" and .frame.params.text == "The second attempt says it differently.")) | .frame.method]' "$LF_TMP/st/received.jsonl")" '["stream_end","send"]'
t_eq "5: from two provider calls" "$(lf_fake_requests m-st | jq length)" 7

t_eq "one adapter each" "$(alive_ch st) $(alive_ch plain) $(alive_ch sky)" "1 1 1"
t_done
