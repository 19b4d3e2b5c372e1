#!/usr/bin/env bash
# run.sh BUILD SHARED [unit|integration] - runs the test tiers and ends with
# one "N passed, N failed" line (", N skipped" when any were skipped).
# Exit status is non-zero when anything failed.
set -u
build=$1
shared=$2
tier=${3:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
export LF_BIN=$root/$build/bin
export LF_SHARED=$(cd "$shared" 2>/dev/null && pwd || echo "$shared")
# Sanitizer runtimes: fail hard, and keep LeakSanitizer on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
skipped=0
failures=()

# Adds the counts of one TAP or "N passed, N failed" producer.
tally() {
	local name=$1 out=$2 rc=$3 p f s line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [ -n "$line" ]; then
		p=$(echo "$line" | awk '{print $1}')
		f=$(echo "$line" | awk '{print $3}')
		s=0
	else
		p=$(grep -cE '^ok [0-9]+' "$out" | head -1)
		s=$(grep -cE '^ok [0-9]+ .*# ?(skip|SKIP)' "$out" | head -1)
		p=$((p - s))
		f=$(grep -cE '^not ok [0-9]+' "$out" | head -1)
	fi
	# A producer that died or bailed out without reporting a failure
	# still failed.
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	if [ "$f" != 0 ]; then
		failures+=("$name")
		printf '%-44s FAIL (%s passed, %s failed, exit %s)\n' "$name" "$p" "$f" "$rc"
		grep -E '^not ok|^#|Bail out' "$out" | head -n 60 | sed 's/^/    /'
	else
		printf '%-44s ok   (%s passed%s)\n' "$name" "$p" \
		    "$([ "$s" != 0 ] && echo ", $s skipped")"
	fi
}

run_unit() {
	local t out rc
	for t in "$LF_BIN"/t_*; do
		[ -x "$t" ] || continue
		out=$(mktemp)
		case $(basename "$t") in
		t_toml)	"$t" "$LF_SHARED/data/toml-test" >"$out" 2>&1 ;;
		*)	"$t" >"$out" 2>&1 ;;
		esac
		rc=$?
		tally "unit/$(basename "$t")" "$out" $rc
		rm -f "$out"
	done
}

run_integration() {
	local t out rc
	for t in tests/integration/t[0-9]*.sh; do
		[ -f "$t" ] || continue
		out=$(mktemp)
		timeout 600 bash "$t" >"$out" 2>&1
		rc=$?
		tally "integration/$(basename "$t" .sh)" "$out" $rc
		rm -f "$out"
	done
}

start=$(date +%s)
case $tier in
unit)		run_unit ;;
integration)	run_integration ;;
all)		run_unit; run_integration ;;
*)		echo "run.sh: unknown tier '$tier'" >&2; exit 2 ;;
esac

echo
echo "tests took $(( $(date +%s) - start ))s"
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
if [ "$skipped" != 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
