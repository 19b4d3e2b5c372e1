#!/usr/bin/env bash
# POST /api/channels/{name}/test (chan_test.c): a copy of the channel's
# adapter, started with its configuration, reaches ready (200, its
# capabilities) or fails (502 {status: "failed", error}): the error it
# reported, its exit and last stderr line, or no ready in time (bounded);
# the copy is stopped after, the running adapter untouched; an unknown
# channel is 404; a second test while one runs is 409.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
mkdir -p "$LF_TMP/good/inbox" "$LF_TMP/mute"
lf_config "
[[sidecar_channels]]
name = \"good\"
command = \"python3\"
args = [\"$SIDECAR\"]
env = { SIDECAR_DIR = \"$LF_TMP/good\", SIDECAR_CAPS = \"typing,reaction\" }

[[sidecar_channels]]
name = \"bad\"
command = \"sh\"
args = [\"-c\", \"echo '{\\\"method\\\":\\\"error\\\",\\\"params\\\":{\\\"message\\\":\\\"bad token\\\"}}'; exec sleep 30\"]
restart = false
shutdown_grace_secs = 1

[[sidecar_channels]]
name = \"dies\"
command = \"sh\"
args = [\"-c\", \"echo login refused >&2; exit 3\"]
restart = false

[[sidecar_channels]]
name = \"mute\"
command = \"sh\"
args = [\"-c\", \"touch $LF_TMP/mute/started.\$\$; exec sleep 60\"]
ready_timeout_secs = 3
restart = false
shutdown_grace_secs = 1
"
lf_stack_start channels
t_ok "good's adapter is ready" chan_wait good running
pid=$(pidof_ch good)

lf_req POST /api/channels/good/test
t_eq "a working adapter: 200 ok" "$LF_STATUS $(jb .status) $(jb .channel)" "200 ok good"
t_eq "with the capabilities of its ready" "$(jbc .capabilities)" '["typing","reaction"]'
t_ok "and how long it took" test "$(jb .latency_ms)" -ge 0
t_eq "the copy was started beside the running adapter" "$(wc -l < "$LF_TMP/good/pids")" 2
t_eq "the running adapter is untouched" "$(pidof_ch good) $(alive_ch good) $(chan_state good)" "$(cat "$LF_TMP/good/pids" | tail -1) 1 running"
t_ok "(the first one still runs)" kill -0 "$pid"

lf_req POST /api/channels/bad/test
t_eq "an adapter that reports an error: 502 failed" "$LF_STATUS $(jb .status)" "502 failed"
t_eq "with the error it reported" "$(jb .error)" "the adapter reported: bad token"
lf_req POST /api/channels/dies/test
t_eq "an adapter that exits: 502, its status and last stderr line" "$LF_STATUS $(jb .error)" "502 the adapter exited with status 3 before ready: login refused"

t0=$(date +%s)
lf_req POST /api/channels/mute/test
t_eq "an adapter that never gets ready: 502 after its ready_timeout_secs" "$LF_STATUS $(jb .error)" "502 the adapter sent no ready within 3 s"
t_ok "bounded ($(( $(date +%s) - t0 )) s)" test $(( $(date +%s) - t0 )) -lt 15
# Each copy of mute left started.<its pid> (exec keeps the pid).
mute_alive() {
	local f n=0
	for f in "$LF_TMP"/mute/started.*; do
		kill -0 "${f##*.}" 2>/dev/null && n=$((n + 1))
	done
	echo $n
}
t_eq "its copies were started ($(ls "$LF_TMP/mute" | wc -l)) and killed: none runs" "$(ls "$LF_TMP/mute" | wc -l) $(mute_alive)" "2 0"

lf_req POST /api/channels/nope/test
t_eq "an unknown channel is 404" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"

# One at a time: a test of mute runs (its copy touched a file), another is 409.
n0=$(ls "$LF_TMP/mute" | wc -l)
curl -s -m 30 -o "$LF_TMP/bg.json" -X POST "$LF_URL/api/channels/mute/test" &
bg=$!
started() { [ "$(ls "$LF_TMP/mute" | wc -l)" -gt "$n0" ]; }
t_ok "a first test runs" lf_poll 200 started
lf_req POST /api/channels/good/test
t_eq "a second one meanwhile is 409" "$LF_STATUS $(lf_err_shape && echo shaped)" "409 shaped"
timeout 30 tail --pid=$bg -f /dev/null || echo "# the first test's request hung"
t_eq "the first one ends as before" "$(jq -r .error "$LF_TMP/bg.json")" "the adapter sent no ready within 3 s"
lf_req POST /api/channels/good/test
t_eq "then tests run again" "$LF_STATUS $(jb .status)" "200 ok"

t_done
