#!/usr/bin/env bash
# A streamed reply reaches the user once in full across kill -9
# (services/channels/README.md, "Streaming"):
#   A. kill -9 of the channels service mid-stream: its adapter dies with
#      it (stream_start and some deltas read, no stream_end); after the
#      restart the turn is asked again under its key, answered from
#      agent-runtime's record, and the reply goes whole as one plain send
#      to the new adapter, which is shown no piece of the old stream;
#   B. kill -9 of the adapter mid-stream: the service restarts it, and the
#      reply, once the turn ends, goes whole as one send to the new one;
# each from one provider call, each outbox row sent once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
mkdir -p "$LF_TMP/st/inbox"
lf_config "
[[sidecar_channels]]
name = \"st\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"chan-agent\"
restart_initial_backoff_ms = 100
env = { SIDECAR_DIR = \"$LF_TMP/st\", SIDECAR_CAPS = \"streaming,reaction\" }
"

export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
A=$(lf_agent chan-agent m-k9)
t_ok "the adapter is ready" chan_wait st running

WORDS="one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
# deltas_of PID SID: how many stream_delta frames of SID adapter PID read.
deltas_of() {
	jq -s --argjson p "$1" --arg s "$2" '[.[] | select(.pid == $p and .frame.method == "stream_delta" and .frame.params.stream_id == $s)] | length' "$LF_TMP/st/received.jsonl"
}
some_deltas() { [ "$(deltas_of "$1" "$2")" -ge 3 ]; }
row_is() { [ "$(inbound_row "$1")" != "" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
# by_pid PID SID: SID's frames adapter PID read, methods only.
by_pid() {
	jq -sc --argjson p "$1" --arg s "$2" '[.[] | select(.pid == $p and .frame.params.stream_id == $s) | .frame.method] | unique' "$LF_TMP/st/received.jsonl"
}
sent_once() {
	[ "$(lf_psql "SELECT o.state || ' ' || o.attempts FROM channels.outbox o JOIN channels.inbound i ON i.id = o.inbound_id WHERE i.platform_msg_id = '$1'")" = "sent 1" ]
}

# ---- A: kill -9 of the service mid-stream ----------------------------------------
TA="A: $WORDS."
lf_fake_script "$(jq -nc --arg t "$TA" '{model: "m-k9", steps: [{text: $t, chunk_delay_ms: 250}]}')"
emit st "$(msg u1 "question A" mA)"
t_ok "A: the message is stored" lf_poll 200 row_is mA
SA="st:$(inbound_row mA)"
P1=$(pidof_ch st)
t_ok "A: the stream is under way" lf_poll 300 some_deltas "$P1" "$SA"
lf_stop channels KILL
t_ok "A: the adapter died with the service" lf_poll 100 gone "$P1"
t_eq "A: it had read no stream_end" "$(by_pid "$P1" "$SA")" '["stream_delta","stream_start"]'
lf_start channels
t_ok "A: the reply is sent whole after the restart" send_wait st "$TA" 1
P2=$(pidof_ch st)
t_ok "A: to the new adapter" test "$P2" != "$P1"
t_eq "A: once" "$(sends st "$TA")" 1
t_eq "A: which was shown no piece of the old stream" "$(by_pid "$P2" "$SA")" '[]'
t_ok "A: the outbox row is sent once" lf_poll 100 sent_once mA
t_eq "A: not as a stream" "$(lf_psql "SELECT o.streamed || ' ' || o.parts FROM channels.outbox o JOIN channels.inbound i ON i.id = o.inbound_id WHERE i.platform_msg_id = 'mA'")" "false 1"
t_eq "A: from one provider call" "$(lf_fake_requests m-k9 | jq length)" 1

# ---- B: kill -9 of the adapter mid-stream -----------------------------------------
t_ok "B: the adapter is ready" chan_wait st running
TB="B: $WORDS."
lf_fake_script "$(jq -nc --arg t "$TB" '{model: "m-k9", steps: [{text: $t, chunk_delay_ms: 250}]}')"
emit st "$(msg u1 "question B" mB)"
t_ok "B: the message is stored" lf_poll 200 row_is mB
SB="st:$(inbound_row mB)"
P3=$(pidof_ch st)
t_ok "B: the stream is under way" lf_poll 300 some_deltas "$P3" "$SB"
kill -9 "$P3"
t_ok "B: the reply is sent whole to the restarted adapter" send_wait st "$TB" 1
P4=$(pidof_ch st)
t_ok "B: a new one" test "$P4" != "$P3"
t_eq "B: once" "$(sends st "$TB")" 1
t_eq "B: the new one was shown no piece of the old stream" "$(by_pid "$P4" "$SB")" '[]'
t_ok "B: the outbox row is sent once" lf_poll 100 sent_once mB
t_eq "B: from one more provider call" "$(lf_fake_requests m-k9 | jq length)" 2
t_eq "one adapter runs" "$(alive_ch st)" 1
chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "each reply is one delivery" "$(jbc '[.deliveries[] | [.message, .status, .streamed]] | sort')" "$(jq -nc --arg a "$TA" --arg b "$TB" '[[$a, "sent", false], [$b, "sent", false]]')"
t_done
