# chanlib.sh - shell helpers for the channels tests (t80xx), sourced after
# tests/lib.sh.  Each channel's adapter is tests/channels/sidecar.py with
# SIDECAR_DIR=$LF_TMP/<channel> (see its header for the files it uses).

SIDECAR=$LF_ROOT/tests/channels/sidecar.py

# chan_state NAME: the channel's status.state in GET /api/channels.
chan_state() {
	lf_req GET /api/channels
	jb ".channels[] | select(.name == \"$1\") | .status.state"
}
chan_is() { [ "$(chan_state "$1")" = "$2" ]; }
# chan_wait NAME STATE: waits (about 20 s at most) for that state.
chan_wait() { lf_poll 300 chan_is "$1" "$2"; }

# emit CH FRAME-LINE..: has CH's adapter write the lines on its stdout.
CHAN_N=0
emit() {
	local ch=$1
	shift
	CHAN_N=$((CHAN_N + 1))
	mkdir -p "$LF_TMP/$ch/inbox"
	printf '%s\n' "$@" > "$LF_TMP/$ch/inbox/.tmp"
	mv "$LF_TMP/$ch/inbox/.tmp" "$LF_TMP/$ch/inbox/$(printf %04d $CHAN_N)-emit"
}
# ctl CH crash|hang|flood: tells CH's adapter to misbehave so.
ctl() {
	CHAN_N=$((CHAN_N + 1))
	: > "$LF_TMP/$1/inbox/$(printf %04d $CHAN_N)-$2"
}
# msg USER TEXT MSGID: a message frame from USER (named Alice).
msg() {
	jq -nc --arg t "$2" --arg m "$3" --arg u "$1" \
	    '{method: "message", params: {user_id: $u, user_name: "Alice", text: $t, content: {Text: $t}, channel_id: "c-\($u)", platform: "demo", message_id: $m}}'
}
# sends CH TEXT: how many send frames with TEXT CH's adapters received.
sends() {
	[ -f "$LF_TMP/$1/received.jsonl" ] || { echo 0; return; }
	jq -s --arg t "$2" '[.[] | select(.frame.method == "send" and .frame.params.text == $t)] | length' "$LF_TMP/$1/received.jsonl"
}
has_sends() { [ "$(sends "$1" "$2")" -ge "$3" ]; }
# send_wait CH TEXT N: waits (about 30 s at most) for N such sends.
send_wait() { lf_poll 500 has_sends "$@"; }
# pidof_ch CH: the pid of CH's adapter that started last.
pidof_ch() { cat "$LF_TMP/$1/pid" 2>/dev/null; }
# alive_ch CH: how many of CH's adapters ever started still run.
alive_ch() {
	local p n=0
	for p in $(cat "$LF_TMP/$1/pids" 2>/dev/null); do
		kill -0 "$p" 2>/dev/null && n=$((n + 1))
	done
	echo $n
}
# inbound_row MSGID: the inbound row id of platform message MSGID ("" none).
inbound_row() { lf_psql "SELECT id FROM channels.inbound WHERE platform_msg_id = '$1'"; }
# sframes CH SID: the stream frames of stream SID that CH's adapters got,
# compact, one a line, in the order read.
sframes() {
	jq -c --arg s "$2" 'select(.frame.params.stream_id == $s) | .frame' "$LF_TMP/$1/received.jsonl"
}
# stext CH SID: the text of stream SID's deltas, joined.
stext() {
	jq -j --arg s "$2" 'select(.frame.method == "stream_delta" and .frame.params.stream_id == $s) | .frame.params.text' "$LF_TMP/$1/received.jsonl"
}
# sframes_t CH SID METHOD: when (unix time) CH's adapters read SID's
# frames of METHOD, one a line.
sframes_t() {
	jq -r --arg s "$2" --arg m "$3" 'select(.frame.params.stream_id == $s and .frame.method == $m) | .t' "$LF_TMP/$1/received.jsonl"
}
# stream_ended CH SID: CH's adapters got stream_end for SID.
stream_ended() { sframes "$1" "$2" | grep -q '"stream_end"'; }
# reactions CH MSGID: the reaction phases (and tool names) on message MSGID,
# in order, as a compact JSON array of [phase, tool_name] pairs.
reactions() {
	jq -sc --arg m "$2" '[.[] | select(.frame.method == "reaction" and .frame.params.message_id == $m) | [.frame.params.phase, .frame.params.tool_name]]' "$LF_TMP/$1/received.jsonl"
}
# chan_sent AGENT: waits (5 s at most) until none of AGENT's deliveries is
# pending: a reply is marked sent once its adapter has read it, which may
# come a moment after the platform's user has it.  The check that follows
# says what was not so.
chan_no_pending() {
	lf_req GET "/api/agents/$1/deliveries"
	[ "$LF_STATUS" = 200 ] &&
	    [ "$(jb '[.deliveries[] | select(.status == "pending")] | length')" = 0 ]
}
chan_sent() { lf_poll 100 chan_no_pending "$1" || true; }
