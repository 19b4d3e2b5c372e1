#!/usr/bin/env bash
# A reply streams to the channel's adapter whichever channels replica runs
# its turn (services/channels/README.md, "Streaming"): two replicas, one
# holding the channel's lease and running its adapter; four messages at
# once with slow turns, so both replicas' turn threads claim some; every
# reply reaches the one adapter as a whole stream (start, the reply's
# text, end) and no send, each once; and the typing indicator and the
# "thinking" reaction the turn's router sends reach it too, whichever
# replica's router that was (published with the turn's events).
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
env = { SIDECAR_DIR = \"$LF_TMP/st\", SIDECAR_CAPS = \"streaming,typing,reaction\" }
"

export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
t_ok "a second replica joins" lf_replica channels2 channels
lf_agent chan-agent m-rep >/dev/null
t_ok "the adapter is ready" chan_wait st running
HOLDER=$(lf_psql "SELECT owner FROM channels.channel_leases WHERE channel = 'st'")

# Echo answers, streamed a word every 150 ms (about 2 s a turn).
lf_fake_script '{"model": "m-rep", "steps": [{"chunk_delay_ms": 150}, {"chunk_delay_ms": 150}, {"chunk_delay_ms": 150}, {"chunk_delay_ms": 150}]}'
emit st "$(msg u1 "one a b c d e f g h i" r1)" "$(msg u2 "two a b c d e f g h i" r2)" \
    "$(msg u3 "three a b c d e f g h i" r3)" "$(msg u4 "four a b c d e f g h i" r4)"
# Who claims the running turns, sampled while they run.
CLAIMERS=""
claimers() {
	CLAIMERS=$(printf '%s\n%s\n' "$CLAIMERS" "$(lf_psql "SELECT claimed_by FROM channels.inbound WHERE state = 'running'")" | grep -v '^$' | sort -u)
	[ "$(printf '%s\n' "$CLAIMERS" | grep -c .)" -ge 2 ]
}
t_ok "both replicas run some of the turns" lf_poll 300 claimers
t_ok "one that does not hold the channel among them" sh -c "printf '%s\n' '$CLAIMERS' | grep -qv '^$HOLDER\$'"
for i in 1 2 3 4; do
	t_ok "the reply to r$i is streamed" lf_poll 400 stream_ended st "st:$(inbound_row "r$i")"
done
for i in 1 2 3 4; do
	R=$(lf_psql "SELECT o.text FROM channels.outbox o JOIN channels.inbound i ON i.id = o.inbound_id WHERE i.platform_msg_id = 'r$i'")
	S="st:$(inbound_row "r$i")"
	t_eq "r$i: the stream is the reply, once" "$(stext st "$S")|$(sframes st "$S" | grep -c stream_start)|$(sends st "$R")" "$R|1|0"
done
# typed CH U: the typing frames CH's adapter got for user U's chat.
typed() { jq -s --arg c "c-$2" '[.[] | select(.frame.method == "typing" and .frame.params.channel_id == $c)] | length' "$LF_TMP/$1/received.jsonl"; }
for i in 1 2 3 4; do
	t_eq "r$i: the adapter got its typing indicator and its thinking reaction" \
	    "$(typed st u$i) $(reactions st "r$i" | jq -c '[.[][0]] | index("thinking") != null')" "1 true"
done
t_eq "one adapter ran, ever" "$(wc -l < "$LF_TMP/st/pids")" 1
t_done
