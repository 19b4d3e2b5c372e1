#!/usr/bin/env bash
# skills.sh BUILD - the skills figure of `make bench` (issue 15): what ten
# prompt-context skills add to a turn's system prompt (skill_prompt(),
# tests/helpers/skillbench), from the replica's snapshot at the version
# the session's take read, beside an agent whose skills are disabled.
# Target: <= 200 µs at p50.  No stack.  Figures, not pass/fail.
#
#   SKILL_BENCH_N=20000   calls per figure
set -u

build=${1:?usage: skills.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
T_P50=200	# µs

echo "== 24. skills in a turn's system prompt (10 prompt-context skills), target p50 <= $T_P50 us"
if [ ! -x "$bin/skillbench" ]; then
	echo "   skipped: $bin/skillbench is not built"
	exit 0
fi
out=$(timeout 120 "$bin/skillbench" "${SKILL_BENCH_N:-20000}" 2>&1) || {
	echo "   failed: $(printf '%s' "$out" | tail -1)"
	exit 0
}
printf '%s\n' "$out" | while read -r label _ p50 _ p99 _ bytes; do
	v=""
	[ "$label" = 10_skills ] && v=$(awk -v p="$p50" -v t=$T_P50 \
	    'BEGIN { print (p <= t) ? "ok" : "MISS" }')
	printf '   %-22s p50 %8s us   p99 %8s us   %7s bytes %s\n' "$label" \
	    "$p50" "$p99" "$bytes" "$v"
done
exit 0
