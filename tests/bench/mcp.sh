#!/usr/bin/env bash
# mcp.sh BUILD - the MCP client figure of `make bench` (issue 8, "Targets
# for make bench"): tools/call round trips through our client
# (tests/helpers/mcpcall, mcp/conn.c) to server-everything over stdio
# (echo), p50 and p99, beside the same calls through the official SDK's
# client (tests/e2e/mcp-bench.mjs), which is the server's own time plus
# the SDK's.  No stack: the client alone.  Figures, not pass/fail.
#
#   MCP_N=2000            calls per client (after N/10 warm-up)
set -u

build=${1:?usage: mcp.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
N=${MCP_N:-2000}
srv=$root/tests/e2e/node_modules/.bin/mcp-server-everything

echo "== 9. MCP tools/call round trip (stdio, server-everything echo, $N calls)"
if [ ! -x "$srv" ]; then
	echo "   skipped: tests/e2e/node_modules is not installed"
	exit 0
fi
ours=$(timeout 300 "$bin/mcpcall" "$N" echo '{"message":"hi"}' "$srv" stdio 2>&1)
sdk=$(cd "$root/tests/e2e" && timeout 300 node mcp-bench.mjs "$N" echo \
    '{"message":"hi"}' "$srv" stdio 2>&1)
fig() { # LABEL LINE
	if [[ $2 =~ p50_us\ ([0-9]+)\ p99_us\ ([0-9]+) ]]; then
		printf '   %-28s p50 %6d us   p99 %6d us\n' "$1" \
		    "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	else
		printf '   %-28s failed: %s\n' "$1" "$2"
	fi
}
fig "our client (mcp/conn.c)" "$ours"
fig "the SDK's client (floor)" "$sdk"
exit 0
