#!/usr/bin/env bash
# channels.sh BUILD - figure 19 of `make bench` (issue 13): a channel turn
# end to end, in one run beside the same turn over HTTP:
#
#   a. latency: the channels service runs tests/bench/chanload.py as a
#      sidecar adapter (the protocol on stdin/stdout, as every adapter); it
#      writes a user's message event and stamps the send that answers it
#      (inbound committed, bound agent's turn on the instant fake,
#      outbox, delivery), alternating with the same turn through POST
#      /api/agents/{id}/message from the same process, the order swapped
#      every pair: p50/p99 of each and of the difference per pair;
#   b. messages per second through the one channel: a burst of
#      CHB_BURST messages from CHB_USERS users at once, until the last
#      answer's send;
#   c. memory of each C adapter (tests/bench/chanpss.py): all of them
#      running side by side, as under the channels service, each connected
#      to a silent local peer (over TLS where it has TLS, the handshake
#      started): PSS (target <= 2 MB) and private memory.
#
# Its own throwaway stack (as budget.sh).  Figures, not pass/fail.
#
#   CHB_PAIRS=200  pairs (after CHB_WARM=20)
#   CHB_BURST=400  CHB_USERS=16
#   CHB_MAX_SECS=300 watchdog

set -u

build=${1:?usage: channels.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
PAIRS=${CHB_PAIRS:-200}
WARM=${CHB_WARM:-20}
BURST=${CHB_BURST:-400}
USERS=${CHB_USERS:-16}
MAXSECS=${CHB_MAX_SECS:-300}
T_PSS_KB=2048

hr() { printf '%s\n' "------------------------------------------------------------------------------"; }
hr
echo "19. CHANNELS  a turn through a channel adapter beside HTTP; messages/s; adapter memory"
hr
for p in bus api-gateway agent-runtime channels waithttp; do
	if [ ! -x "$bin/$p" ]; then echo "   $p not built; skipped"; exit 0; fi
done
command -v node >/dev/null 2>&1 || { echo "   node is not installed; skipped"; exit 0; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfchan.XXXXXX") || exit 1
chmod 711 "$tmp"
export LIBREFANG_HOME=$tmp/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
export BENCH_FAKE_API_KEY=bench-key
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL LIBREFANG_ALLOW_NO_AUTH
mkdir -p "$LIBREFANG_HOME/run" "$tmp/log" "$tmp/chb"

declare -A PIDS=()
PG_UP=0
WATCHDOG=
STACK_TAG=channels
SERVICES="agent-runtime channels"
. "$root/tests/bench/stack.sh"

GW_PORT=$(free_port)
export LIBREFANG_API_LISTEN=127.0.0.1:$GW_PORT
GW=127.0.0.1:$GW_PORT

cleanup() {
	trap - EXIT INT TERM
	watchdog_stop
	stop api-gateway channels agent-runtime bus fake
	pg_stop
	[ -n "${CHB_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "channels: interrupted" >&2; exit 1' INT TERM
watchdog_start "$MAXSECS"

cat >"$LIBREFANG_HOME/config.toml" <<EOF
[[sidecar_channels]]
name = "bench"
command = "python3"
args = ["$root/tests/bench/chanload.py"]
agent = "chan-bench"
env = { CHB_DIR = "$tmp/chb", CHB_GW = "$GW", CHB_TRACE = "${CHB_TRACE:-0}" }
EOF

pg_start
fake_start 100 || exit 0
stack_start
if ! "$bin/waithttp" -t 30000 "$GW" /api/agents >/dev/null 2>"$tmp/wait.err"; then
	echo "   the stack did not come up: $(cat "$tmp/wait.err")"
	dump_logs
	exit 0
fi
toml=$(printf 'name = "chan-bench"\n[model]\nprovider = "openai"\nmodel = "bench-chan"\nbase_url = "http://127.0.0.1:%s/v1"\napi_key_env = "BENCH_FAKE_API_KEY"\n' "$FAKE_PORT")
A=$(curl -s -m 10 -X POST -H 'Content-Type: application/json' \
    -d "$(jq -nc --arg t "$toml" '{manifest_toml: $t}')" "http://$GW/api/agents" | jq -r .agent_id)
if [ -z "$A" ] || [ "$A" = null ]; then
	echo "   could not spawn the agent"
	exit 0
fi
for ((i = 0; i < 600; i++)); do
	[ -f "$tmp/chb/ready" ] && break
	sleep 0.05
done
[ -f "$tmp/chb/ready" ] || { echo "   the bench adapter did not become ready"; dump_logs; exit 0; }

# The adapter learns the agent's id and its plan, and runs it.
jq -nc --arg a "$A" --argjson p "$PAIRS" --argjson w "$WARM" --argjson b "$BURST" \
    --argjson u "$USERS" '{agent: $a, pairs: $p, warm: $w, burst: $b, users: $u}' >"$tmp/chb/.plan"
mv "$tmp/chb/.plan" "$tmp/chb/plan"
for ((i = 0; i < 5 * (MAXSECS - 30); i++)); do
	[ -f "$tmp/chb/result.json" ] && break
	sleep 0.2
done
if [ ! -f "$tmp/chb/result.json" ]; then
	echo "   no result from the bench adapter"
	dump_logs
	exit 0
fi
r=$(cat "$tmp/chb/result.json")
printf '   %-52s %8s %8s\n' "turns, $(jq -r .pairs <<<"$r") pairs, ms" p50 p99
printf '   %-52s %8s %8s\n' "through the channel: message event -> its send" $(jq -r '.channel | "\(.p50) \(.p99)"' <<<"$r")
printf '   %-52s %8s %8s\n' "the same turn over HTTP (POST .../message)" $(jq -r '.http | "\(.p50) \(.p99)"' <<<"$r")
printf '   %-52s %8s %8s\n' "the channel's own cost, channel - HTTP per pair" $(jq -r '.added | "\(.p50) \(.p99)"' <<<"$r")
printf '   %-52s %8s msgs/s  (%s of %s answered in %s s)\n' \
    "burst: $BURST messages from $USERS users, one channel" \
    "$(jq -r .burst.per_sec <<<"$r")" "$(jq -r .burst.answered <<<"$r")" "$BURST" "$(jq -r .burst.secs <<<"$r")"
jq -r 'select(.errors > 0) | "   errors \(.errors): \(.last_error)"' <<<"$r"

# ---- c. memory per adapter -------------------------------------------------------
printf '   %-52s %8s %8s\n' "adapters side by side, connected to a silent peer, kB" PSS private
python3 "$root/tests/bench/chanpss.py" "$bin" 2>>"$tmp/log/chanpss.log" |
while IFS= read -r l; do
	kb=$(jq -r .pss_kb <<<"$l")
	name="  $(jq -r '.adapter + (if .tls then " (TLS)" else "" end)' <<<"$l")"
	if [ "$kb" = null ]; then
		printf '   %-52s %8s %8s  (%s)\n' "$name" - - "$(jq -r .state <<<"$l")"
	else
		printf '   %-52s %8s %8s  target PSS <= %s: %s\n' "$name" "$kb" \
		    "$(jq -r .private_kb <<<"$l")" "$T_PSS_KB" \
		    "$([ "$kb" -le $T_PSS_KB ] && echo ok || echo MISS)"
	fi
done
exit 0
