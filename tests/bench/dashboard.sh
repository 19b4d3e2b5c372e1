#!/usr/bin/env bash
# dashboard.sh BUILD - figure 23 of `make bench` (issue 14): the web
# dashboard in headless Chromium on loopback (tests/bench/dashload.mjs):
# the first page's load until it has drawn, cold (a new browser context)
# and warm (a reload, every file revalidated), p50 of BENCH_DASH_N, beside
# the floor of a new context loading GET /api/health; what crossed the
# wire for it; and the time from the provider's first text token to that
# text in the chat page, beside a bare WebSocket client reading the same
# stream.  Its own throwaway stack: the broker, agent-runtime, the
# gateway and the fake provider.  Figures, not pass/fail.
#
#   BENCH_DASH_N=10         loads and answers per figure (after one warm-up)
#   BENCH_DASH_MAX_SECS=240 watchdog

set -u

build=${1:?usage: dashboard.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
N=${BENCH_DASH_N:-10}
MAXSECS=${BENCH_DASH_MAX_SECS:-240}
T_KB=150		# KB, the first page's transfer (issue 14)

hr() { printf '%s\n' "------------------------------------------------------------------------------"; }
hr
echo "23. DASHBOARD  first page load and first token to text in headless Chromium (p50 of $N)"
hr
for p in bus api-gateway agent-runtime waithttp; do
	if [ ! -x "$bin/$p" ]; then echo "   $p not built; skipped"; exit 0; fi
done
command -v node >/dev/null 2>&1 || { echo "   node is not installed; skipped"; exit 0; }
chromium=${LF_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "   no $chromium (deploy/deps.sh bench); skipped"; exit 0; }
[ -d "$root/tests/e2e/node_modules/playwright-core" ] ||
    { echo "   no playwright-core in tests/e2e (deploy/deps.sh bench); skipped"; exit 0; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfdash.XXXXXX") || exit 1
chmod 711 "$tmp"
export LIBREFANG_HOME=$tmp/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
export BENCH_FAKE_API_KEY=bench-key-0123456789
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL LIBREFANG_ALLOW_NO_AUTH
mkdir -p "$LIBREFANG_HOME/run" "$tmp/log"

declare -A PIDS=()
PG_UP=0
WATCHDOG=
STACK_TAG=dashboard
SERVICES="agent-runtime"
. "$root/tests/bench/stack.sh"

GW_PORT=$(free_port)
export LIBREFANG_API_LISTEN=127.0.0.1:$GW_PORT
GW=127.0.0.1:$GW_PORT
MODEL=bench-dash

cleanup() {
	trap - EXIT INT TERM
	watchdog_stop
	stop api-gateway agent-runtime bus fake
	pg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "dashboard: interrupted" >&2; exit 1' INT TERM
watchdog_start "$MAXSECS"

pg_start
fake_start 1000 || exit 0
cat > "$LIBREFANG_HOME/config.toml" <<TOML
[default_model]
provider = "openai"
model = "$MODEL"
base_url = "http://127.0.0.1:$FAKE_PORT/v1"
api_key_env = "BENCH_FAKE_API_KEY"
TOML
stack_start
if ! "$bin/waithttp" -t 30000 "$GW" /api/agents >/dev/null 2>"$tmp/wait.err"; then
	echo "   the stack did not come up: $(cat "$tmp/wait.err")"
	dump_logs
	exit 0
fi
A=$(curl -s -m 10 -X POST -H 'Content-Type: application/json' -d '{"template": "assistant"}' \
    "http://$GW/api/agents" | jq -r .agent_id)
if [ -z "$A" ] || [ "$A" = null ]; then
	echo "   could not spawn the agent"
	exit 0
fi
if r=$(node "$root/tests/bench/dashload.mjs" --url "http://$GW" --fake "http://127.0.0.1:$FAKE_PORT" \
    --agent "$A" --model "$MODEL" --n "$N" 2>"$tmp/load.err"); then
	printf '   %-56s %8s %8s\n' "first page until drawn, ms" p50 p90
	printf '   %-56s %8s %8s\n' "cold (a new browser context, empty cache)" $(jq -r '.load | "\(.cold_p50) \(.cold_p90)"' <<<"$r")
	printf '   %-56s %8s\n' "warm (a reload: every file revalidated, 304)" "$(jq -r .load.warm_p50 <<<"$r")"
	printf '   %-56s %8s\n' "floor: a new context loading GET /api/health" "$(jq -r .load.floor_p50 <<<"$r")"
	kb=$(jq -r '.load.bytes / 1024 | . * 10 | round / 10' <<<"$r")
	printf '   %-56s %8s  (target <= %s KB)\n' "transfer, cold, KB ($(jq -r .load.requests <<<"$r") requests; $(jq -r '.load.decoded / 1024 | round' <<<"$r") KB decoded)" "$kb" "$T_KB"
	awk -v k="$kb" -v t="$T_KB" 'BEGIN { if (k > t) print "   MISSED: the first page is over its transfer target" }'
	printf '   %-56s %8s %8s\n' "provider's first token -> text in the chat page, ms" $(jq -r '.token | "\(.page_p50) \(.page_p90)"' <<<"$r")
	printf '   %-56s %8s %8s\n' "floor: the same stream read by a bare ws client" $(jq -r '.token | "\(.floor_p50) \(.floor_p90)"' <<<"$r")
else
	echo "   the browser run failed: $(tail -n 5 "$tmp/load.err")"
fi
