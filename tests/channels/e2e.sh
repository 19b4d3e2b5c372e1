# e2e.sh - shell helpers for the end-to-end channel tests (t8090-t8094),
# sourced after tests/lib.sh and tests/channels/chanlib.sh.  A platform's
# server and user run in tests/channels/e2e_peer.py (see its header for
# the files it is driven by), under $LF_TMP/PLATFORM; the channels service
# runs the real adapter, build/.../channel-PLATFORM.

E2E_PEER=$LF_ROOT/tests/channels/e2e_peer.py

# e2e_peer PLATFORM: starts the platform and its user (lf_bg peer-PLATFORM,
# stopped with the stack) and waits (60 s at most: key generation, prosody's
# accounts) for its env.json; bails out if it does not come.
e2e_peer() {
	local i
	mkdir -p "$LF_TMP/$1/say"
	lf_bg "peer-$1" /usr/bin/python3 "$E2E_PEER" "$1" "$LF_TMP/$1" \
	    "$LF_TMP/log" 2>>"$LF_TMP/log/e2e-$1.log"
	for ((i = 0; i < 1200; i++)); do
		[ -f "$LF_TMP/$1/env.json" ] && return 0
		kill -0 "${LF_PIDS[peer-$1]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "Bail out! the $1 server and user did not come up within 60 s (log/e2e-$1.log)"
	tail -n 20 "$LF_TMP/log/e2e-$1.log" | sed 's/^/#   /'
	exit 1
}

# e2e_channel PLATFORM AGENT [MORE]: the [[sidecar_channels]] entry running
# channel-PLATFORM against the peer's server, bound to AGENT; MORE (TOML
# lines) follows.
e2e_channel() {
	printf '[[sidecar_channels]]\nname = "%s"\ncommand = "%s"\nagent = "%s"\nenv = { %s }\n%s\n' \
	    "$1" "$LF_BIN/channel-$1" "$2" \
	    "$(jq -r 'to_entries | map("\(.key) = \(.value | tojson)") | join(", ")' "$LF_TMP/$1/env.json")" \
	    "${3:-}"
}

# e2e_say PLATFORM TEXT [ID]: the user says TEXT on the platform (with
# platform message id ID where it carries one).
E2E_N=0
e2e_say() {
	local d=$LF_TMP/$1/say n
	E2E_N=$((E2E_N + 1))
	n=$(printf %04d $E2E_N)
	# Written under a dot name, which the peer skips, then renamed.
	jq -nc --arg t "$2" --arg i "${3:-}" \
	    '{text: $t} + (if $i == "" then {} else {id: $i} end)' >"$d/.$n"
	mv "$d/.$n" "$d/$n"
}

# e2e_heard PLATFORM TEXT: how many messages the user received on the
# platform whose text holds TEXT.
e2e_heard() {
	[ -f "$LF_TMP/$1/heard.jsonl" ] || { echo 0; return; }
	jq -s --arg t "$2" '[.[] | select(.text | strings | contains($t))] | length' "$LF_TMP/$1/heard.jsonl"
}
e2e_has_heard() { [ "$(e2e_heard "$1" "$2")" -ge "$3" ]; }
# e2e_wait PLATFORM TEXT [N]: waits (30 s at most) until the user has
# received N (1) messages holding TEXT.
e2e_wait() { lf_poll 600 e2e_has_heard "$1" "$2" "${3:-1}"; }

# e2e_asked MODEL TEXT: how many of the fake provider's requests for MODEL
# carry TEXT in their last user message.
e2e_asked() {
	lf_fake_requests "$1" | jq --arg t "$2" '[.[] | [.body.messages[]? | select(.role == "user")] | last | .content | tostring | select(contains($t))] | length'
}
