#!/usr/bin/env bash
# run.sh BUILD SHARED [unit|integration|deploy] - runs the test tiers and ends with
# one "N passed, N failed" line (", N skipped" when any were skipped).
# Exit status is non-zero when anything failed.
#
# No script can hang the run.  Each one runs in a session of its own
# (setsid) with a private TMPDIR, for LF_SCRIPT_LIMIT seconds at most
# (default 600; unit binaries LF_UNIT_LIMIT, 120): then its whole process
# group gets SIGTERM (its EXIT trap stops its stack and PostgreSQL) and,
# 30 s later, SIGKILL, and it counts as failed.  Whatever a script leaves
# behind, killed or not -- a process in its group or carrying its TMPDIR,
# a PostgreSQL cluster under its TMPDIR -- is stopped and named.
#
# All tiers: the unit tier, then the integration tier in LF_LANES lanes
# (default 2) with the deploy tier beside it (LF_DEPLOY_BESIDE=0: after
# it); see lane_start.  A few failed scripts are run once more, alone
# (rerun_failed): one that passes then is named flaky, not failed.
set -u
build=$1
shared=$2
tier=${3:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
# The system's own tools first: the scripts run python3, jq and curl
# thousands of times, and a user's shim in front of them (pyenv's python3
# runs several bash processes a call, 0.45 s of CPU) would cost minutes.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export LF_BIN=$root/$build/bin
export LF_SHARED=$(cd "$shared" 2>/dev/null && pwd || echo "$shared")
# Sanitizer runtimes: fail hard, and keep LeakSanitizer on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Leaks are caught by lib.sh's scan of every log, so a process's exit
# status says only how it stopped (t0400 asserts clean exits).
export LSAN_OPTIONS=${LSAN_OPTIONS:-exitcode=0}

limit=${LF_SCRIPT_LIMIT:-600}
unit_limit=${LF_UNIT_LIMIT:-120}
grace=30
passed=0
failed=0
skipped=0
failures=()
failnotes=()
failcounts=()	# "NAME PASSED FAILED" of each failed script
flaky=()
deploy_skip=
rc=0
secs=0
cpu=0
cur_pid=
cur_dir=

# cluster_drop HOME: stops HOME's PostgreSQL cluster (saying so when it
# still ran) and removes its data where pg.sh put it (HOME/pg may be a
# symlink elsewhere).
cluster_drop() {
	if "$root/deploy/pg.sh" status "$1" 2>/dev/null; then
		echo "# left running: PostgreSQL in $1/pg; stopping it"
		timeout 40 "$root/deploy/pg.sh" stop "$1" >/dev/null 2>&1
	fi
	if [ -L "$1/pg" ]; then
		rm -rf "$(readlink "$1/pg")"
	fi
}

# sweep PGID DIR: stops what a script left behind: processes still in its
# process group, PostgreSQL clusters under DIR (pg.sh start detaches
# them), and processes elsewhere that inherited TMPDIR=DIR.
sweep() {
	local pgid=$1 dir=$2 pids p home
	pids=$(pgrep -g "$pgid" 2>/dev/null)
	while IFS= read -r home; do
		cluster_drop "$home"
	done < <(find "$dir" -maxdepth 6 -name pg -prune \( -type d -o -type l \) \
	    -printf '%h\n' 2>/dev/null)
	pids="$pids $(grep -lzxF "TMPDIR=$dir" /proc/[0-9]*/environ 2>/dev/null |
	    cut -d/ -f3)"
	for p in $pids; do
		[ "$p" != $$ ] && kill -0 "$p" 2>/dev/null || continue
		[ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" != Z ] || continue
		echo "# left running: $(ps -o comm= -p "$p") (pid $p); killed"
		kill -KILL "$p" 2>/dev/null
	done
}

# cpu_ms 1m2.345s: 62345.
cpu_ms() {
	local m=${1%%m*} r=${1#*m}
	r=${r%s}
	echo $(( m * 60000 + 10#${r%.*} * 1000 + 10#${r#*.} ))
}

# run_bounded LIMIT OUT CMD..: runs CMD as described above, output in OUT;
# sets rc (124 when it was killed at the limit), secs and cpu (the CPU
# seconds of its processes, PostgreSQL's apart: pg_ctl detaches it).
run_bounded() {
	local lim=$1 out=$2 dir pid end t0=$SECONDS killed=0 u sy
	shift 2
	dir=$(mktemp -d "${TMPDIR:-/tmp}/lfrun.XXXXXX")
	chmod 711 "$dir"	# the postgres user must reach clusters in it
	# A shell of its own waits for CMD and writes what bash's times says
	# of its children: its CPU, whatever else this shell reaps meanwhile.
	TMPDIR=$dir setsid bash -c '"$@"; rc=$?; times >"$0"; exit $rc' \
	    "$dir.cpu" "$@" >"$out" 2>&1 </dev/null &
	pid=$!
	cur_pid=$pid cur_dir=$dir
	end=$((SECONDS + lim))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $SECONDS -ge $end ]; then
			killed=1
			kill -TERM -- "-$pid" 2>/dev/null
			end=$((SECONDS + grace))
			while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do
				sleep 0.2
			done
			kill -KILL -- "-$pid" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$pid" 2>/dev/null
	rc=$?
	if [ $killed = 1 ]; then
		echo "not ok - still running after its limit of $lim s: killed with its process group ($pid)" >>"$out"
		rc=124
	fi
	sweep "$pid" "$dir" >>"$out"
	rm -rf "$dir"
	cur_pid= cur_dir=
	secs=$((SECONDS - t0))
	cpu=?
	if { read -r _ && read -r u sy; } <"$dir.cpu" 2>/dev/null; then
		cpu=$((($(cpu_ms "$u") + $(cpu_ms "$sy") + 500) / 1000))
	fi
	rm -f "$dir.cpu"
}

# Ctrl-C or SIGTERM: the script runs in a session of its own and does not
# see it, so stop it (and what it started) here.
on_signal() {
	local end=$((SECONDS + grace))
	trap '' INT TERM
	if [ ${#lane_pids[@]} -gt 0 ]; then
		echo "run.sh: interrupted; stopping the background lanes" >&2
		kill -TERM "${lane_pids[@]}" 2>/dev/null
		wait "${lane_pids[@]}" 2>/dev/null
	fi
	if [ -n "$cur_pid" ]; then
		echo "run.sh: interrupted; stopping $cur_pid" >&2
		kill -TERM -- "-$cur_pid" 2>/dev/null
		while kill -0 "$cur_pid" 2>/dev/null && [ $SECONDS -lt $end ]; do
			sleep 0.2
		done
		kill -KILL -- "-$cur_pid" 2>/dev/null
		sweep "$cur_pid" "$cur_dir" >&2
		rm -rf "$cur_dir"
	fi
	pg_template_remove
	exit 130
}

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
		failcounts+=("$name $p $f")
		printf '%-44s FAIL (%s passed, %s failed, exit %s, %s s, cpu %s s)\n' "$name" "$p" "$f" "$rc" "$secs" "$cpu"
		grep -E '^not ok|^#|Bail out' "$out" | head -n 60 | sed 's/^/    /'
		# Failed by its exit status alone: its last words say why.
		if ! grep -qE '^not ok|Bail out' "$out"; then
			echo "    (no check failed: exit $rc; its last lines)"
			tail -n 20 "$out" | sed 's/^/    | /'
		fi
		# The summary at the end is what a CI log cut to its tail
		# still shows: each failed check with the first note under it
		# (got:, or a browser test's error/expected/actual), then the
		# services' last warnings and errors from the logs it dumped.
		failnotes+=("$name: $(awk '
		    /^not ok|Bail out/ { if (n++ == 5) exit; sub(/^not ok [0-9]* - /, "");
			printf "%s%s", (n > 1 ? " | " : ""), $0; next }
		    /^ok / { pend = ""; next }
		    !n || g[n] || !/^#   / { next }
		    { l = $0; sub(/^#   +/, "", l) }
		    pend != "" { printf " [%s %.200s]", pend, l; pend = ""; g[n] = 1; next }
		    l ~ /^(got|error|message|expected|actual):/ {
			if (l ~ /(\|-?|:)$/) { pend = l; next }
			printf " [%.200s]", l; g[n] = 1 }' "$out")")
		while IFS= read -r line; do
			failnotes+=("    ${line:0:240}")
		done < <(grep -E '^#   [0-9TZ:-]+ [a-z0-9-]+\[[0-9]+\] (warn|error):' "$out" | tail -n 6 | sed 's/^#   //')
	else
		printf '%-44s ok   (%s passed%s, %s s, cpu %s s)\n' "$name" "$p" \
		    "$([ "$s" != 0 ] && echo ", $s skipped")" "$secs" "$cpu"
		grep -E '^# left running' "$out" | sed 's/^/    /'
	fi
}

run_unit() {
	local t out
	for t in "$LF_BIN"/t_*; do
		[ -x "$t" ] || continue
		out=$(mktemp)
		# A unit test's leak is its failure: nothing else reads its
		# LeakSanitizer report.
		case $(basename "$t") in
		t_toml)	LSAN_OPTIONS=exitcode=23 run_bounded "$unit_limit" "$out" "$t" "$LF_SHARED/data/toml-test" ;;
		*)	LSAN_OPTIONS=exitcode=23 run_bounded "$unit_limit" "$out" "$t" ;;
		esac
		tally "unit/$(basename "$t")" "$out" $rc
		rm -f "$out"
	done
}

# The deploy tier (tests/deploy: images, compose, real containers) when
# dockerd answers; otherwise it says why it did not run, and the skip
# counts neither as passed nor as failed.  LF_DEPLOY_LIMIT (default 1800 s:
# a cold run debootstraps and builds every image) bounds each script.
run_deploy() {
	local t out why
	if ! command -v docker-compose >/dev/null 2>&1; then
		deploy_skip="docker-compose is not installed (deploy/deps.sh docker)"
		echo "deploy tier skipped: $deploy_skip"
		return 0
	fi
	if ! why=$(timeout 20 docker info 2>&1 >/dev/null); then
		deploy_skip="'docker info' failed: $(printf '%s' "$why" | grep -v '^$' | tail -n 1)"
		echo "deploy tier skipped: $deploy_skip"
		return 0
	fi
	if [ "$(id -u)" != 0 ] && ! docker image inspect \
	    "${LIBREFANG_BASE_IMAGE:-librefang-base:bookworm}" >/dev/null 2>&1; then
		deploy_skip="no base image, and making one needs root (sudo deploy/base-image.sh)"
		echo "deploy tier skipped: $deploy_skip"
		return 0
	fi
	for t in tests/deploy/t[0-9]*.sh; do
		[ -f "$t" ] || continue
		out=$(mktemp)
		# The script names its compose project this; whatever of it
		# is left (a script killed at its limit cannot run its down)
		# is removed here.
		export LF_DEPLOY_PROJECT=lfdeploy$$x$RANDOM
		run_bounded "${LF_DEPLOY_LIMIT:-1800}" "$out" bash "$t"
		deploy_sweep "$LF_DEPLOY_PROJECT" >>"$out"
		unset LF_DEPLOY_PROJECT
		tally "deploy/$(basename "$t" .sh)" "$out" $rc
		rm -f "$out"
	done
}

# deploy_sweep PROJECT: removes the containers, networks and volumes of
# compose project PROJECT, naming them.
deploy_sweep() {
	local f="label=com.docker.compose.project=$1" ids
	ids=$(timeout 20 docker ps -aq --filter "$f" 2>/dev/null)
	if [ -n "$ids" ]; then
		echo "# left running: the containers of compose project $1; removed"
		# shellcheck disable=SC2086
		timeout 60 docker rm -f -v $ids >/dev/null 2>&1
	fi
	ids=$(timeout 20 docker network ls -q --filter "$f" 2>/dev/null)
	# shellcheck disable=SC2086
	[ -z "$ids" ] || timeout 30 docker network rm $ids >/dev/null 2>&1
	ids=$(timeout 20 docker volume ls -q --filter "$f" 2>/dev/null)
	# shellcheck disable=SC2086
	[ -z "$ids" ] || timeout 30 docker volume rm $ids >/dev/null 2>&1
}

# The integration scripts the queue hands out (queue_init; every one,
# in order, when there is none), so that several lanes share them.
run_integration() {
	local t out
	[ -n "$queue" ] || queue_init tests/integration/t[0-9]*.sh
	while t=$(queue_next); do
		out=$(mktemp)
		run_bounded "$limit" "$out" bash "$t"
		tally "integration/$(basename "$t" .sh)" "$out" $rc
		rm -f "$out"
	done
}

# queue_init FILE..: the scripts queue_next hands out, one each call, to
# whichever lane asks first (a counter under flock).
queue=
queue_init() {
	[ -z "$queue" ] || rm -rf "$queue"
	queue=$(mktemp -d)
	printf '%s\n' "$@" >"$queue/list"
	echo 0 >"$queue/next"
}
queue_next() {
	local n t
	{
		flock 9
		read -r n <"$queue/next"
		echo $((n + 1)) >"$queue/next"
	} 9>"$queue/lock"
	t=$(sed -n "$((n + 1))p" "$queue/list")
	[ -n "$t" ] && [ -f "$t" ] && echo "$t"
}

# ---- lanes ---------------------------------------------------------------------
#
# lane_start NAME FUNCTION: runs FUNCTION in a subshell in the background
# (a lane), its lines and counts kept in a file until lane_join prints
# and adds them.  `make test` runs the deploy tier in one (its containers
# wait on docker and PostgreSQL far more than on the CPU, and its first
# script builds the images), and the integration tier in LF_LANES lanes
# (2 by default: the two cores are rarely both busy with one script),
# the scripts that say "# lf-test: alone" (stress and timing of processes
# and the bus) after both, one at a time, beside nothing of ours.
# LF_LANES=1 LF_DEPLOY_BESIDE=0 runs everything in turn, as before.
lane_pids=()
lane_outs=()
lane_names=()
lane_start() {
	local out
	out=$(mktemp)
	(
		passed=0 failed=0 skipped=0 failures=() failnotes=() failcounts=()
		trap 'kill -TERM -- "-$cur_pid" 2>/dev/null; sweep "$cur_pid" "$cur_dir" >/dev/null 2>&1
		    [ -z "${LF_DEPLOY_PROJECT:-}" ] || deploy_sweep "$LF_DEPLOY_PROJECT" >/dev/null 2>&1
		    exit 130' TERM
		"$2"
		printf 'LANE_COUNTS %s %s %s\n' "$passed" "$failed" "$skipped"
		printf 'LANE_SKIP %s\n' "$deploy_skip"
		printf 'LANE_FAILURE %s\n' "${failures[@]}"
		printf 'LANE_NOTE %s\n' "${failnotes[@]}"
		printf 'LANE_FAILCOUNT %s\n' "${failcounts[@]}"
	) >"$out" 2>&1 &
	lane_pids+=($!)
	lane_outs+=("$out")
	lane_names+=("$1")
}
# lane_join [PREFIX]: waits for every lane (whose name starts with
# PREFIX), then prints each one's lines and adds its counts (a lane that
# ended without them counts as a failure).
lane_join() {
	local i l pid out name keep=()
	for i in "${!lane_pids[@]}"; do
		pid=${lane_pids[$i]} out=${lane_outs[$i]} name=${lane_names[$i]}
		if [ "${name#"${1:-}"}" = "$name" ] && [ -n "${1:-}" ]; then
			keep+=("$i")
			continue
		fi
		# Done long ago, it may be gone from bash's list of children
		# (it keeps so many, and every script run adds some): then
		# wait says so at once, and its counts line says it ended.
		wait "$pid" 2>/dev/null
		while kill -0 "$pid" 2>/dev/null; do
			sleep 1
		done
		echo "# $name:"
		if ! grep -q '^LANE_COUNTS ' "$out"; then
			echo "$name: ended without its counts; counted as failed"
			failed=$((failed + 1))
			failures+=("$name")
			failnotes+=("$name: ended without its counts")
		fi
		grep -v '^LANE_' "$out"
		while IFS= read -r l; do
			case $l in
			"LANE_COUNTS "*)
				# shellcheck disable=SC2086
				set -- ${l#LANE_COUNTS }
				passed=$((passed + $1)); failed=$((failed + $2))
				skipped=$((skipped + $3)) ;;
			"LANE_SKIP "?*) deploy_skip=${l#LANE_SKIP } ;;
			"LANE_FAILURE "?*) failures+=("${l#LANE_FAILURE }") ;;
			"LANE_NOTE "?*) failnotes+=("${l#LANE_NOTE }") ;;
			"LANE_FAILCOUNT "?*) failcounts+=("${l#LANE_FAILCOUNT }") ;;
			esac
		done <"$out"
		rm -f "$out"
	done
	local p=() o=() n=()
	for i in "${keep[@]}"; do
		p+=("${lane_pids[$i]}") o+=("${lane_outs[$i]}") n+=("${lane_names[$i]}")
	done
	lane_pids=("${p[@]}") lane_outs=("${o[@]}") lane_names=("${n[@]}")
}

# run_all_lanes: the deploy tier and the integration tier as lane_start
# describes.
run_all_lanes() {
	local t i shared=() alone=() lanes=${LF_LANES:-2}
	for t in tests/integration/t[0-9]*.sh; do
		[ -f "$t" ] || continue
		if grep -q '^# lf-test: alone' "$t"; then
			alone+=("$t")
		else
			shared+=("$t")
		fi
	done
	[ "${LF_DEPLOY_BESIDE:-1}" = 1 ] && lane_start "the deploy tier" run_deploy
	queue_init "${shared[@]}"
	for ((i = 2; i <= lanes; i++)); do
		lane_start "integration lane $i" run_integration
	done
	run_integration
	lane_join "integration lane"
	# The deploy tier ends before the scripts that time processes and
	# the bus start: docker building and starting containers is the
	# load they must not see.
	if [ "${LF_DEPLOY_BESIDE:-1}" = 1 ]; then
		lane_join
	else
		run_deploy
	fi
	queue_init "${alone[@]}"
	run_integration
}

# rerun_failed: when few scripts failed (LF_RERUNS, default 3; 0: none),
# each runs once more, alone, and its second run's counts replace its
# first's.  One that passes then is flaky: the summary names it, with
# what failed the first time, and it fails nothing.  One that fails again
# is a failure, twice over in the notes.  A failure that a loaded machine
# made (two lanes, the deploy tier, docker) is told apart from a defect
# this way; the flaky list says which checks to make sturdier.
rerun_failed() {
	local e name p f t out keep=() i
	[ ${#failcounts[@]} -gt 0 ] && [ ${#failcounts[@]} -le "${LF_RERUNS:-3}" ] ||
	    return 0
	for e in "${failcounts[@]}"; do
		read -r name p f <<<"$e"
		case $name in
		integration/*|deploy/*) t=tests/$name.sh ;;
		*) continue ;;
		esac
		[ -f "$t" ] || continue
		echo "# $name failed $f check(s): once more, alone"
		passed=$((passed - p))
		failed=$((failed - f))
		keep=()
		for i in "${failures[@]}"; do
			[ "$i" = "$name" ] || keep+=("$i")
		done
		failures=("${keep[@]}")
		out=$(mktemp)
		if [ "${name%%/*}" = deploy ]; then
			export LF_DEPLOY_PROJECT=lfdeploy$$x$RANDOM
			run_bounded "${LF_DEPLOY_LIMIT:-1800}" "$out" bash "$t"
			deploy_sweep "$LF_DEPLOY_PROJECT" >>"$out"
			unset LF_DEPLOY_PROJECT
		else
			run_bounded "$limit" "$out" bash "$t"
		fi
		i=${#failures[@]}
		tally "$name (run again)" "$out" $rc
		[ ${#failures[@]} -gt "$i" ] || flaky+=("$name")
		rm -f "$out"
	done
}

# pg_template: one stopped cluster, made here once, that every script's
# PostgreSQL starts as a copy of (deploy/pg.sh, LF_PG_TEMPLATE): initdb
# takes seconds of CPU on a busy machine, a copy a fraction of one.
# Without it each script runs initdb, as when run alone.
pg_tpl=
pg_template() {
	pg_tpl=$(mktemp -d "${TMPDIR:-/tmp}/lfpgtpl.XXXXXX")
	chmod 711 "$pg_tpl"
	if timeout 120 "$root/deploy/pg.sh" start "$pg_tpl" test >/dev/null 2>&1 &&
	    timeout 40 "$root/deploy/pg.sh" stop "$pg_tpl" >/dev/null 2>&1; then
		export LF_PG_TEMPLATE
		LF_PG_TEMPLATE=$(cd "$pg_tpl/pg" && pwd -P)/data
	else
		echo "# no cluster template (deploy/pg.sh start failed): each script runs initdb"
	fi
}
pg_template_remove() {
	[ -n "$pg_tpl" ] || return 0
	cluster_drop "$pg_tpl" >/dev/null
	rm -rf "$pg_tpl"
}

trap on_signal INT TERM
start=$(date +%s)
case $tier in
unit)		run_unit ;;
integration)	pg_template
		run_integration
		rerun_failed ;;
deploy)		run_deploy ;;
all)		run_unit
		pg_template
		run_all_lanes
		rerun_failed ;;
*)		echo "run.sh: unknown tier '$tier'" >&2; exit 2 ;;
esac

pg_template_remove
[ -z "$queue" ] || rm -rf "$queue"
echo
echo "tests took $(( $(date +%s) - start ))s"
[ ${#failures[@]} = 0 ] || echo "failed: ${failures[*]}"
[ ${#flaky[@]} = 0 ] ||
    echo "flaky (failed, then passed when run again alone): ${flaky[*]}"
# Said again here, where a log cut to its tail still shows it.
[ ${#failnotes[@]} = 0 ] || printf '  %s\n' "${failnotes[@]}"
# Said again here, where it is read: the deploy tier did not run.
if [ -n "$deploy_skip" ]; then
	echo "deploy tier skipped (not counted): $deploy_skip"
fi
if [ "$skipped" != 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
