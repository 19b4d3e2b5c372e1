#!/usr/bin/env bash
# approvals.sh BUILD - figure 20 of `make bench` (issue 12): what an
# approval granted at once adds to a turn.  Streamed turns, each running
# one shell_exec call then answering, alternately on agent A (its
# manifest: require_approval = false) and agent B (shell_exec gated, the
# default); B's client approves on the approval_requested event
# (tests/bench/approvalload.mjs).  The p50 of B - A per pair is the gate:
# the request's row and audit entries, the pause, the client's approve
# round trip, the announcement that wakes the turn, the resume.
#
# Its own throwaway stack (as budget.sh).  Figures, not pass/fail.
#
#   APPROVALS_N=100        pairs of turns (after 10 warm-up)
#   APPROVALS_MAX_SECS=240 watchdog

set -u

build=${1:?usage: approvals.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
N=${APPROVALS_N:-100}
MAXSECS=${APPROVALS_MAX_SECS:-240}

hr() { printf '%s\n' "------------------------------------------------------------------------------"; }
hr
echo "20. APPROVALS  a turn's added latency when a client approves at once (p50), beside the same turn ungated"
hr
for p in bus api-gateway agent-runtime waithttp; do
	if [ ! -x "$bin/$p" ]; then echo "   $p not built; skipped"; exit 0; fi
done
command -v node >/dev/null 2>&1 || { echo "   node is not installed; skipped"; exit 0; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfapprovals.XXXXXX") || exit 1
chmod 711 "$tmp"
export LIBREFANG_HOME=$tmp/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
export BENCH_FAKE_API_KEY=bench-key
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL LIBREFANG_ALLOW_NO_AUTH
mkdir -p "$LIBREFANG_HOME/run" "$tmp/log"

declare -A PIDS=()
PG_UP=0
WATCHDOG=
STACK_TAG=approvals
SERVICES="agent-runtime"
. "$root/tests/bench/stack.sh"

GW_PORT=$(free_port)
export LIBREFANG_API_LISTEN=127.0.0.1:$GW_PORT
GW=127.0.0.1:$GW_PORT

cleanup() {
	trap - EXIT INT TERM
	watchdog_stop
	stop api-gateway agent-runtime bus fake
	pg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "approvals: interrupted" >&2; exit 1' INT TERM
watchdog_start "$MAXSECS"

pg_start
fake_start 1000 || exit 0
stack_start
if ! "$bin/waithttp" -t 30000 "$GW" /api/agents >/dev/null 2>"$tmp/wait.err"; then
	echo "   the stack did not come up: $(cat "$tmp/wait.err")"
	dump_logs
	exit 0
fi

spawn() {	# spawn NAME [MORE]: an agent at the fake; prints its id
	local toml
	toml=$(printf 'name = "%s"\n[model]\nprovider = "openai"\nmodel = "bench-approvals"\nbase_url = "http://127.0.0.1:%s/v1"\napi_key_env = "BENCH_FAKE_API_KEY"\n%s' \
	    "$1" "$FAKE_PORT" "${2:-}")
	curl -s -m 10 -X POST -H 'Content-Type: application/json' \
	    -d "$(jq -nc --arg t "$toml" '{manifest_toml: $t}')" "http://$GW/api/agents" | jq -r .agent_id
}
CAPS='[capabilities]
tools = ["shell_exec"]
shell = ["*"]'
A=$(spawn approvals-free "$CAPS
[approval]
require_approval = false")
B=$(spawn approvals-gated "$CAPS")
if [ -z "$A" ] || [ "$A" = null ] || [ -z "$B" ] || [ "$B" = null ]; then
	echo "   could not spawn the agents"
	exit 0
fi
if r=$(node "$root/tests/bench/approvalload.mjs" --gw "$GW" --fake "127.0.0.1:$FAKE_PORT" \
    --a "$A" --b "$B" --model bench-approvals --n "$N" --warm 10 2>"$tmp/load.err"); then
	printf '   %-56s %8s %8s\n' "streamed turns with one shell_exec, $(jq -r .pairs <<<"$r") pairs, ms" p50 p99
	printf '   %-56s %8s %8s\n' "no approval needed (agent A)" $(jq -r '.without | "\(.p50) \(.p99)"' <<<"$r")
	printf '   %-56s %8s %8s\n' "approved at once on approval_requested (agent B)" $(jq -r '.with | "\(.p50) \(.p99)"' <<<"$r")
	printf '   %-56s %8s\n' "added by the approval, B - A per pair" "$(jq -r .added.p50 <<<"$r")"
	jq -r 'select(.errors > 0) | "   errors \(.errors): \(.last_error)"' <<<"$r"
else
	echo "   turns failed: $(tail -n 3 "$tmp/load.err")"
fi
psql_lf() { PGOPTIONS="-c search_path=runtime" psql -h "$LIBREFANG_HOME/pg" -U librefang -d librefang -XAtq "$@"; }
echo "   requests: $(psql_lf -c "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM approvals GROUP BY 1) x")"
