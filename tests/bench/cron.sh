#!/usr/bin/env bash
# cron.sh BUILD - the cron figure of `make bench` (issue 9): cron_next()
# calls per second (tests/helpers/cronbench, services/scheduler/cron/) for
# a few expressions and zones, from instants spread over ten years, beside
# a plain gmtime_r() loop over the same instants as the floor.  The fire
# engine's bench runs 100 fires/s; the target keeps cron_next() at 10 µs,
# a thousandth of a core at that rate.  No stack.  Figures, not pass/fail.
#
#   CRON_BENCH_SECS=0.5   seconds per figure
set -u

build=${1:?usage: cron.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
T_CALLS=100000		# calls/s, each expression

echo "== 10. cron_next() (services/scheduler/cron), target >= $T_CALLS calls/s"
if [ ! -x "$bin/cronbench" ]; then
	echo "   skipped: $bin/cronbench is not built"
	exit 0
fi
out=$(timeout 120 "$bin/cronbench" "${CRON_BENCH_SECS:-0.5}" 2>&1) || {
	echo "   failed: $(printf '%s' "$out" | tail -1)"
	exit 0
}
printf '   %-46s %12s %9s %s\n' "what" "calls/s" "ns/call" ""
printf '%s\n' "$out" | while IFS=$'\t' read -r label rate ns; do
	case $label in
	*_r*)	v="" ;;		# the floor and glibc, for comparison
	*)	if [ "$rate" -ge "$T_CALLS" ] 2>/dev/null; then v=ok; else v=MISS; fi ;;
	esac
	printf '   %-46s %12s %9s %s\n' "$label" "$rate" "$ns" "$v"
done
exit 0
