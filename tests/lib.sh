# lib.sh - sourced by every integration test (tests/integration/tNNNN-*.sh).
#
# Starts a throwaway stack in a temp dir: a private PostgreSQL (fsync off),
# the broker, the services and the gateway on a free loopback port, all
# over ipc:// in $LF_TMP.  Prints TAP; the last line of a script is the
# plan, written by t_done, which exits non-zero when any test failed.
#
#   lf_config 'toml'        write $LIBREFANG_HOME/config.toml (before start)
#   lf_stack_start [prog..] start PostgreSQL, bus and prog.. (default: all)
#                           and wait until /api/ready reports them joined
#   lf_start PROG / lf_stop PROG [SIGNAL]   one process by binary name
#                           (lf_stop sets LF_EXIT and LF_STOP_MS)
#   lf_stack_stop           stop everything (also run on exit)
#   lf_req METHOD PATH [JSON] [curl args..]  sets LF_STATUS LF_BODY LF_HEADERS
#                           (120 s at most unless curl args say -m)
#   lf_wait_health [secs]   until GET /api/health answers 200
#   lf_wait_ready [secs] [prog..]  until /api/ready names none of prog..
#                           (default: all; then until it answers 200)
#   lf_wait_status STATUS   until /api/health says "status": STATUS
#   lf_bus_joined SVC       until SVC answers sys.health 200 (bustool); else
#                           prints the bus's unix sockets (lf_bus_sockets)
#   lf_poll TRIES CMD..     until CMD succeeds, every 0.05 s, TRIES times
#   lf_worst_ms N SECS      worst of N GET /api/health times (ms), SECS apart
#   lf_bg NAME CMD..        run CMD in the background, stopped on exit
#   lf_wait NAME [SECS]     wait (120 s at most) for it to end; sets LF_EXIT
#   lf_pid_name PID         the NAME (lf_start, lf_bg) PID runs as, if any
#   lf_replica NAME PROG    start another replica of PROG as NAME (lf_bg,
#                           log/NAME.log) and wait (10 s) until it says it
#                           serves and the broker has counted one more
#   lf_wait_agents          bail out unless GET /api/agents answers 200
#   lf_unset_provider_keys  unset every *_API_KEY, *_API_TOKEN, *_TOKEN and
#                           GOOGLE_APPLICATION_CREDENTIALS: no provider key
#                           at all (export the fake's key after it)
#   t_ok DESC CMD..  t_eq DESC ACTUAL EXPECTED  t_done
#   t_node FILE MIN         run tests/e2e/FILE (node:test) and count each of
#                           its results here; fails unless it reported at
#                           least MIN results and exited 0
#   t_py NAME MIN CMD..     the same for a checker printing "ok - ..." and
#                           "not ok - ..." lines (tests/channels/*_drive.py)
#   lf_tail_failed GLOB..   after a failure, the tail of those logs
#   lf_screens NAME         a browser test's screenshot folder, emptied:
#                           $LF_TEST_OUT/screens/NAME, else
#                           $LF_BIN/../test-out/screens/NAME (that is
#                           build/<variant>/test-out, kept after the run,
#                           gitignored); sets and exports LF_SCREENS
#
# LF_KEEP=1 keeps $LF_TMP (logs, cluster) after the script, for a look.
#
# No wait is unbounded.  A process told to stop that has not exited
# LF_STOP_SECS (5; 15 in a sanitizer build) seconds later is killed with
# SIGKILL, named in the output with its threads' stacks (gdb), and counted
# as a failed test; so is a background job that outlives lf_wait's limit.  PostgreSQL is stopped
# whatever happens (EXIT and INT traps).
#
# The fake LLM provider (tests/fakes/fake-llm.mjs, tests/fakes/README.md):
#
#   lf_fake_start [ARGS..]  start one (--port 0 ARGS..), stopped on exit;
#                           sets LF_FAKE_URL (http://127.0.0.1:PORT),
#                           LF_FAKE_NAME (its name for lf_stop) and
#                           LF_FAKE_OUT (its stdout); each call starts
#                           another, which the helpers below then use
#   lf_fake_script JSON     POST /__fake/script (append to a model's queue)
#   lf_fake_requests MODEL  its recorded requests for MODEL (a JSON array)
#   lf_fake_wait MODEL N    until it has recorded N requests for MODEL
#   lf_fake_toml NAME MODEL [MORE]   a manifest on it (openai, FAKE_API_KEY);
#                           lf_openai_toml: the same without base_url/key
#   lf_fake_stack PROG..    lf_fake_start, lf_stack_start PROG.. and
#                           lf_wait_agents
#   lf_agent NAME MODEL [MORE]   spawn lf_fake_toml's agent; prints its id
#                           (a "# spawn" line on stderr unless 201)
#   lf_agent_top TOP NAME MODEL [MORE]   the same, with TOP (manifest lines
#                           outside any table) first in the manifest
#
# Memory:
#
#   lf_dream_stack [LINES]  lf_fake_stack agent-runtime memory, with
#                           [auto_dream] enabled (and LINES) in config.toml
#   lf_dream_entry AGENT JQ  jq -c JQ over AGENT's entry in the last
#                           GET /api/auto-dream/status answer
#
# The scheduler:
#
#   lf_trigger AGENT JQ     POST /api/triggers {agent_id: AGENT} + JQ (a jq
#                           object); prints the trigger's id
#   lf_wait_fire TRIGGER N  until N fires of TRIGGER have ended (10 s)
#
# The last response (LF_BODY, LF_HEADERS) and the database:
#
#   jb FILTER [jq args..]   jq -r over LF_BODY; jbc: the same with jq -c
#   lf_err_shape            LF_BODY is exactly {"error": "<non-empty>"}
#   lf_hdr NAME             the value of response header NAME
#   lf_spawn_json TOML      {"manifest_toml": TOML}
#   lf_msg_json TEXT        {"message": TEXT}
#   lf_psql SQL             one query as librefang on the test cluster
#
# Outbound webhooks (tests/helpers/hook_receiver.py, a receiver that
# verifies each delivery's signature and timestamp):
#
#   lf_rcv_start            start it; sets LF_RCV (http://127.0.0.1:PORT)
#   lf_rcv_ctl NAME SECRET [SCRIPT] [DELAY_MS]  what /hook/NAME checks and
#                           answers (SCRIPT: a JSON array of statuses)
#   lf_rcv_count NAME       {requests, unique, ok} received for NAME

set -u

LF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LF_BIN=${LF_BIN:-$LF_ROOT/build/default/bin}
LF_SHARED=${LF_SHARED:-$LF_ROOT/../shared}
LF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/lftest.XXXXXX")
chmod 711 "$LF_TMP"		# the postgres user must reach its cluster
export LIBREFANG_HOME=$LF_TMP/home
export LIBREFANG_BUS_URL=ipc://$LF_TMP/home/run/bus
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL LIBREFANG_API_LISTEN
mkdir -p "$LIBREFANG_HOME/run" "$LF_TMP/log"
LF_SERVICES="agent-runtime scheduler memory audit channels"
LF_PG_UP=0
# A sanitizer build exits slower: LeakSanitizer's scan at exit stops every
# thread and walks the heap, which takes seconds on a loaded machine (and
# a debugger cannot attach meanwhile, so a stack dump comes back empty).
if ldd "$LF_BIN/bus" 2>/dev/null | grep -q libasan; then
	LF_STOP_SECS=${LF_STOP_SECS:-15}
else
	LF_STOP_SECS=${LF_STOP_SECS:-5}
fi
LF_STACKS_SHOWN=0
declare -A LF_PIDS=()
T_N=0
T_FAILED=0

lf_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

LF_PORT=$(lf_free_port)
export LIBREFANG_API_LISTEN=127.0.0.1:$LF_PORT
LF_URL=http://127.0.0.1:$LF_PORT

lf_config() {
	printf '%s\n' "$1" > "$LIBREFANG_HOME/config.toml"
}

lf_pg_start() {
	"$LF_ROOT/deploy/pg.sh" start "$LIBREFANG_HOME" test || {
		echo "Bail out! could not start PostgreSQL"; exit 1; }
	LF_PG_UP=1
}

lf_pg_stop() {
	timeout 40 "$LF_ROOT/deploy/pg.sh" stop "$LIBREFANG_HOME" ||
	    echo "# could not stop PostgreSQL in $LIBREFANG_HOME/pg"
	LF_PG_UP=0
}

lf_start() {
	local prog=$1
	# One process per name: a second start would orphan the first,
	# which then outlives the script (the stop only knows the last).
	if [ -n "${LF_PIDS[$prog]:-}" ] && kill -0 "${LF_PIDS[$prog]}" 2>/dev/null; then
		echo "Bail out! lf_start $prog: already running (pid ${LF_PIDS[$prog]})"
		exit 1
	fi
	"$LF_BIN/$prog" >>"$LF_TMP/log/$prog.log" 2>&1 &
	LF_PIDS[$prog]=$!
}

# Milliseconds since the epoch (bash's EPOCHREALTIME: no date process).
lf_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# lf_stacks NAME PID: the first three times in a script, appends PID's
# threads' stacks (gdb, when installed) to log/NAME.stack and prints each
# thread's calls in one line, innermost first, leaving out libc and
# unnamed frames.
lf_stacks() {
	local name=$1 pid=$2 st=$LF_TMP/log/$1.stack
	command -v gdb >/dev/null 2>&1 || return 0
	[ "$LF_STACKS_SHOWN" -lt 3 ] || return 0
	LF_STACKS_SHOWN=$((LF_STACKS_SHOWN + 1))
	echo "--- pid $pid" >>"$st"
	timeout 20 gdb -p "$pid" -batch -nx -ex 'thread apply all bt' \
	    >>"$st" 2>&1 </dev/null
	echo "# $name's threads, innermost call first (all of it in log/$name.stack):"
	sed -n "/^--- pid $pid\$/,\$p" "$st" |
	    awk 'function flush() { if (f != "") print "thread " t ":" f
		    else if (t != "") quiet++
		    f = "" }
		/^Thread / { flush(); t = $2; next }
		/^#[0-9]+ / { fn = $2 ~ /^0x/ ? $4 : $2
		    if (fn != "??" && fn !~ /^(__|_IO|clone|start_thread)/)
			f = f " " fn }
		END { flush(); if (quiet) print quiet " more in libraries only" }' |
	    head -n 40 | sed 's/^/#   /'
	# gdb's own words, when it read no thread (ptrace refused, ...).
	sed -n "/^--- pid $pid\$/,\$p" "$st" | grep -q '^Thread ' ||
	    sed -n "/^--- pid $pid\$/,\$p" "$st" | tail -n 3 | sed 's/^/#   gdb: /'
}

# lf_hung NAME PID WHAT: NAME did not end in time: prints its threads'
# stacks, kills it with SIGKILL and counts a failed test.
# lf_sanitizer_ours LOG: whether LOG holds a sanitizer report that is ours.
# Every report counts, except leaks that nng 1.5.2 makes itself when a peer
# goes away (the nanomsg/nng#1813 family, fixed upstream):
# - a leak whose every allocation stack lies in libnng, libc and the
#   sanitizer's runtime;
# - an indirect leak of an object libnng allocated (frame #1 in libnng),
#   such as the listener our nng_listen() asked for, kept at close;
# - one single message (a direct leak of exactly one 112-byte nni_msg that
#   libnng allocated, whatever called it): when a pipe closes as a REQ
#   socket picks it, req0 hands the pipe a clone of the request on an aio
#   that the close has just stopped, and 1.5.2's ipc_pipe_send() returns
#   without completing it, so that reference is never dropped.
# A direct leak of anything else with a frame of ours counts, and so do two
# or more leaked messages from one stack (a leak of ours on a path that
# runs more than once).
lf_sanitizer_ours() {
	grep -qE 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:' "$1" || return 1
	grep -qE 'ERROR: AddressSanitizer|ThreadSanitizer|runtime error:' "$1" && return 0
	if awk '
	    function flush() {
		if (ours && !(kind == "Indirect" && bynng) &&
		    !(kind == "Direct" && bynng && onemsg)) found = 1
		ours = 0; bynng = 0; onemsg = 0; kind = ""
	    }
	    /^(Direct|Indirect) leak of / {
		flush(); kind = $1
		onemsg = ($4 == "112" && $7 == "1")
		next
	    }
	    /^ *#1 / { bynng = /libnng\.so/ }
	    /^ *#[0-9]+ / && !/libnng\.so|libsanitizer|__interceptor|nptl\/|libc\.so|clone3?[ (]/ { ours = 1 }
	    END { flush(); exit !found }' "$1"; then
		return 0
	fi
	echo "# $(basename "$1"): a leak of nng 1.5.2's own at a lost peer or close, not counted"
	return 1
}

lf_hung() {
	echo "# $1 (pid $2) $3; killed"
	lf_stacks "$1" "$2"
	kill -KILL "$2" 2>/dev/null
	T_N=$((T_N + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_N - $1 (pid $2) $3"
}

# lf_reap SECS WHAT NAME..: waits SECS at most (from now) until every
# NAME (lf_start, lf_bg) has exited; one that has not is lf_hung.  Sets
# LF_EXIT to the status of the last NAME, LF_HUNG to how many hung.
lf_reap() {
	local secs=$1 what=$2 p pid left end
	shift 2
	LF_HUNG=0
	end=$(( ${EPOCHREALTIME/./} / 1000 + secs * 1000 ))
	for (( ; ; )); do
		left=0
		for p in "$@"; do
			pid=${LF_PIDS[$p]:-}
			[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && left=1
		done
		[ $left = 0 ] && break
		[ $(( ${EPOCHREALTIME/./} / 1000 )) -ge "$end" ] && break
		sleep 0.02
	done
	for p in "$@"; do
		pid=${LF_PIDS[$p]:-}
		[ -n "$pid" ] || continue
		if kill -0 "$pid" 2>/dev/null; then
			lf_hung "$p" "$pid" "$what"
			LF_HUNG=$((LF_HUNG + 1))
		fi
		wait "$pid" 2>/dev/null
		LF_EXIT=$?
		unset "LF_PIDS[$p]"
	done
}

# Stops PROG with SIGNAL (default TERM) and waits LF_STOP_SECS at most;
# sets LF_EXIT to its status (137 when it had to be killed) and LF_STOP_MS
# to how long it took.
lf_stop() {
	local prog=$1 sig=${2:-TERM} pid=${LF_PIDS[$1]:-} t0 rc
	LF_EXIT=
	LF_STOP_MS=0
	[ -n "$pid" ] || return 0
	t0=$(lf_ms)
	kill -"$sig" "$pid" 2>/dev/null
	lf_reap "$LF_STOP_SECS" "did not exit $LF_STOP_SECS s after SIG$sig" \
	    "$prog"
	rc=$?
	LF_STOP_MS=$(( $(lf_ms) - t0 ))
	return $rc
}

# lf_bg NAME CMD..: runs CMD in the background as NAME; if it still runs
# when the stack stops (or at lf_stop NAME), it is stopped with it.
lf_bg() {
	local name=$1
	shift
	"$@" &
	LF_PIDS[$name]=$!
}

# lf_pid_name PID: prints the name (lf_start, lf_bg, lf_replica) under
# which process PID runs, nothing if none: which replica holds a lease
# whose owner names its pid.
lf_pid_name() {
	local p
	for p in "${!LF_PIDS[@]}"; do
		[ "${LF_PIDS[$p]}" = "$1" ] && { echo "$p"; return 0; }
	done
	return 0
}

# lf_replica NAME PROG: starts one more replica of service PROG as NAME
# (lf_bg, its output in log/NAME.log; the caller's environment, such as
# LIBREFANG_LOG_LEVEL=debug before it, passes on) and waits (10 s at
# most) until it logs that it serves and the broker has logged one more
# replica of PROG connected: only then do requests and events reach it.
# 1, with a comment saying which is missing, if either did not come.
lf_replica() {
	local name=$1 prog=$2 log=$LF_TMP/log/$1.log n
	n=$(lf_connected "$prog")
	lf_bg "$name" sh -c "exec '$LF_BIN/$prog' >>'$log' 2>&1"
	lf_poll 200 lf_is_replica "$name" "$prog" "$n" && return 0
	grep -qs "serving '$prog'" "$log" ||
	    echo "# $name did not log serving '$prog' within 10 s"
	echo "# the broker logged $(lf_connected "$prog") replicas of '$prog' connected, $n before $name"
	return 1
}
# How many times the broker has logged a replica of $1 connected.
lf_connected() {
	local n
	n=$(grep -c "replica of '$1' connected" "$LF_TMP/log/bus.log" 2>/dev/null)
	echo "${n:-0}"
}
lf_is_replica() {
	grep -qs "serving '$2'" "$LF_TMP/log/$1.log" &&
	    [ "$(lf_connected "$2")" -gt "$3" ]
}

# lf_wait NAME [SECS]: waits (120 s at most) until NAME (lf_bg, lf_start)
# ends; sets LF_EXIT.
lf_wait() {
	local secs=${2:-120}
	LF_EXIT=
	[ -n "${LF_PIDS[$1]:-}" ] || return 0
	lf_reap "$secs" "did not end within $secs s" "$1"
}

# lf_poll TRIES CMD [ARGS..]: runs CMD every 0.05 s until it succeeds,
# TRIES times at most; 1 if it never did.  The waits below are all this
# with a test of their own (lf_is_*).
lf_poll() {
	local i n=$1
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# lf_wait_health [SECS]: waits (10 s) until GET /api/health answers 200.
lf_is_healthy() {
	[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$LF_URL/api/health")" = 200 ]
}
lf_wait_health() { lf_poll $(( ${1:-10} * 20 )) lf_is_healthy; }

# Waits until GET PATH answers 200 (a service behind it has joined the bus).
lf_is_ok() { lf_req GET "$1"; [ "$LF_STATUS" = 200 ]; }
lf_wait_ok() { lf_poll 200 lf_is_ok "$1"; }

# Waits until /api/health reports "status": $1 ("ok", "degraded").
lf_is_status() {
	lf_req GET /api/health
	[ "$(printf '%s' "$LF_BODY" | jq -r .status)" = "$1" ]
}
lf_wait_status() { lf_poll 100 lf_is_status "$1"; }

# lf_bus_joined SVC: waits (5 s at most) until service SVC answers
# sys.health with 200 through the broker (bustool, its default bus).
lf_is_joined() {
	[ "$("$LF_BIN/bustool" -t 1000 req "$1" sys.health 2>/dev/null | jq -r .status)" = 200 ]
}
lf_bus_joined() {
	lf_poll 100 lf_is_joined "$1" && return 0
	lf_bus_sockets
	return 1
}

# The bus's unix sockets as ss sees them, for a post-mortem of a client or
# replica that cannot reach the broker: a LISTEN line's Recv-Q counts
# connections the broker has not accepted.
lf_bus_sockets() {
	local n
	echo "# the bus's unix sockets (ss -xap):"
	ss -xap 2>/dev/null | grep -F "$LF_TMP/home/run/bus" | sed 's/^/#   /' | head -30
	echo "# the stack's processes (state, threads):"
	for n in "${!LF_PIDS[@]}"; do
		echo "#   $n: $(ps -o stat=,nlwp= -p "${LF_PIDS[$n]}" 2>/dev/null || echo gone)"
	done
}

# Prints the worst time (ms) of $1 GET /api/health requests, $2 s apart:
# how long everyone else waits while something misbehaves.
lf_worst_ms() {
	local i t ms worst=0
	for ((i = 0; i < $1; i++)); do
		t=$(curl -s -m 30 -o /dev/null -w '%{time_total}' "$LF_URL/api/health")
		ms=$(awk -v t="$t" 'BEGIN{printf "%d", t * 1000}')
		[ "$ms" -gt "$worst" ] && worst=$ms
		sleep "$2"
	done
	echo "$worst"
}

# Waits until the gateway reports every given service up.
lf_wait_services() {
	local i s up
	for ((i = 0; i < 200; i++)); do
		up=1
		for s in "$@"; do
			curl -s -m 5 "$LF_URL/api/metrics" ${LF_AUTH:+-H "Authorization: Bearer $LF_AUTH"} |
			    grep -q "^librefang_service_up{service=\"$s\"} 1" || up=0
		done
		[ $up = 1 ] && return 0
		sleep 0.05
	done
	return 1
}

# lf_wait_ready [SECS] [PROG..]: waits (SECS, default 15) until GET
# /api/ready names neither PROG.. nor the bus nor the database among what
# is missing; with no PROG, until it answers 200.  LF_READY_MISSING is
# what it named last.
lf_wait_ready() {
	local secs=${1:-15} i limit p ok body miss
	[ $# -gt 0 ] && shift
	limit=$(( secs * 20 ))
	LF_READY_MISSING=
	for ((i = 0; i < limit; i++)); do
		body=$(curl -s -m 2 -w '\n%{http_code}' "$LF_URL/api/ready")
		[ "${body##*$'\n'}" = 200 ] && return 0
		# Its "missing" list, read here: no jq process at every try.
		LF_READY_MISSING="no answer"
		if [[ $body =~ \"missing\":[[:space:]]*\[([^]]*)\] ]]; then
			p=${BASH_REMATCH[1]//\"/}
			read -ra miss <<<"${p//,/ }"
			LF_READY_MISSING=${miss[*]}
		fi
		if [ $# -gt 0 ] && [ -n "${body%$'\n'*}" ]; then
			ok=1
			for p in "$@" bus database; do
				[[ " $LF_READY_MISSING " = *" $p "* ]] && ok=0
			done
			[ $ok = 1 ] && return 0
		fi
		sleep 0.05
	done
	return 1
}

lf_stack_start() {
	local p progs=${*:-$LF_SERVICES}
	[ $LF_PG_UP = 1 ] || lf_pg_start
	lf_start bus
	for p in $progs; do
		lf_start "$p"
	done
	lf_start api-gateway
	lf_wait_ready 15 $progs || {
		echo "Bail out! the stack did not come up (/api/ready: missing ${LF_READY_MISSING:-?})"
		lf_dump_logs; exit 1; }
}

# lf_wait_agents: bails out (with the logs) unless GET /api/agents answers
# 200 within 10 s: every script that spawns agents needs it.
lf_wait_agents() {
	lf_wait_ok /api/agents || {
		echo "Bail out! agent-runtime did not answer"; lf_dump_logs; exit 1; }
}

# lf_unset_provider_keys: unsets every provider key in the environment
# (whatever its provider: any *_API_KEY, *_API_TOKEN or *_TOKEN, and
# Google's credentials file), so that no turn reaches a real provider and
# provider "auto" finds none.  Agents at the fake name theirs: export
# FAKE_API_KEY after this, which would unset it too.
lf_unset_provider_keys() {
	local v
	for v in $(env | grep -oE '^[A-Z0-9_]+_(API_KEY|API_TOKEN|TOKEN)=' | tr -d =); do
		unset "$v"
	done
	unset GOOGLE_APPLICATION_CREDENTIALS
}

# Stops every process started here (SIGTERM, then SIGKILL for any still
# running LF_STOP_SECS later, each one a failed test) and PostgreSQL.
lf_stack_stop() {
	local p
	for p in "${!LF_PIDS[@]}"; do
		kill -TERM "${LF_PIDS[$p]}" 2>/dev/null
	done
	lf_reap "$LF_STOP_SECS" "did not exit $LF_STOP_SECS s after SIGTERM" \
	    "${!LF_PIDS[@]}"
	LF_PIDS=()
	[ $LF_PG_UP = 0 ] || lf_pg_stop
}

lf_dump_logs() {
	local f
	for f in "$LF_TMP"/log/*.log; do
		[ -s "$f" ] || continue
		echo "# --- $(basename "$f")"
		tail -n 30 "$f" | sed 's/^/#   /'
	done
}

# Stops whatever still runs with a home under LF_TMP, as tests/run.sh's
# sweep does: a background function's children (a subshell killed leaves
# them), a client started by one.  SIGTERM, then SIGKILL 2 s later.
lf_sweep() {
	local p pids= n
	for n in 1 2 3 4 5 6 7 8 9 10 11; do
		pids=
		for p in $(grep -lzE "^LIBREFANG_HOME=$LF_TMP(/|\$)" \
		    /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
			# Not this shell; not the grep and its subshell,
			# gone by now.
			[ "$p" = $$ ] || [ ! -d "/proc/$p" ] ||
			    pids="$pids $p"
		done
		[ -n "$pids" ] || return 0
		# shellcheck disable=SC2086
		kill -"$([ $n = 11 ] && echo KILL || echo TERM)" $pids \
		    2>/dev/null
		[ $n = 11 ] || sleep 0.2
	done
}

# lf_cleanup [STATUS]: STATUS defaults to the script's exit status.  A
# second signal must not cut it short (every step in it is bounded, and
# tests/run.sh kills a script that overstays).  Only the script itself
# cleans up: a background job signalled before it has exec'd its program
# is still a copy of this shell, EXIT trap included.
lf_cleanup() {
	local rc=${1:-$?} f
	[ "$BASHPID" = "$$" ] || exit "$rc"
	trap '' INT TERM HUP
	lf_stack_stop
	[ "$T_FAILED" = 0 ] || [ "$rc" != 0 ] || rc=1
	# A sanitizer report in any process's log fails the script.
	for f in "$LF_TMP"/log/*.log; do
		[ -f "$f" ] || continue
		if lf_sanitizer_ours "$f"; then
			echo "not ok - sanitizer report in $(basename "$f")"
			grep -E -A12 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:' "$f" | head -40 | sed 's/^/#   /'
			T_FAILED=$((T_FAILED + 1))
			rc=1
		fi
	done
	# Whatever started a cluster here (a test, librefangd), stop it.
	timeout 40 "$LF_ROOT/deploy/pg.sh" stop "$LIBREFANG_HOME" >/dev/null 2>&1
	lf_sweep
	if [ "$T_FAILED" != 0 ]; then
		lf_dump_logs
	fi
	# The cluster may live under /var/lib/librefang when HOME was private.
	if [ -L "$LIBREFANG_HOME/pg" ]; then
		rm -rf "$(readlink "$LIBREFANG_HOME/pg")"
	fi
	# LF_KEEP=1 keeps the logs of a script run by hand, for a post-mortem.
	if [ -n "${LF_KEEP:-}" ]; then
		echo "# kept $LF_TMP (LF_KEEP)"
	else
		rm -rf "$LF_TMP"
	fi
	exit $rc
}
trap lf_cleanup EXIT
# Background jobs of a script ignore SIGINT, but the script must not: a
# Ctrl-C still stops the stack and PostgreSQL (SIGTERM and SIGHUP run the
# EXIT trap by themselves).
trap 'exit 130' INT

# ---- the fake LLM provider ---------------------------------------------------

LF_FAKE_N=0

# lf_fake_start [ARGS..]: starts tests/fakes/fake-llm.mjs --port 0 ARGS..
# as fake-llm (then fake-llm-2, ...), stdout in $LF_TMP/<name>.out, stderr
# in log/<name>.log, and waits for its "listening <port>" line.  Sets
# LF_FAKE_URL, LF_FAKE_NAME and LF_FAKE_OUT; bails out if it does not start.
lf_fake_start() {
	local i port=
	command -v node >/dev/null 2>&1 || {
		echo "Bail out! node is not installed"; exit 1; }
	LF_FAKE_N=$((LF_FAKE_N + 1))
	LF_FAKE_NAME=fake-llm
	[ $LF_FAKE_N = 1 ] || LF_FAKE_NAME=fake-llm-$LF_FAKE_N
	LF_FAKE_OUT=$LF_TMP/$LF_FAKE_NAME.out
	node "$LF_ROOT/tests/fakes/fake-llm.mjs" --port 0 "$@" \
	    >"$LF_FAKE_OUT" 2>>"$LF_TMP/log/$LF_FAKE_NAME.log" &
	LF_PIDS[$LF_FAKE_NAME]=$!
	for ((i = 0; i < 200; i++)); do
		port=$(awk '/^listening /{print $2; exit}' "$LF_FAKE_OUT" 2>/dev/null)
		[ -n "$port" ] && break
		sleep 0.05
	done
	[ -n "$port" ] || {
		echo "Bail out! $LF_FAKE_NAME did not start"; lf_dump_logs; exit 1; }
	LF_FAKE_URL=http://127.0.0.1:$port
}

# lf_openai_toml NAME MODEL [MORE]: the manifest of agent NAME on provider
# openai with model MODEL; MORE (lines) follows "model = ...".
lf_openai_toml() {
	printf 'name = "%s"\n[model]\nprovider = "openai"\nmodel = "%s"' "$1" "$2"
	[ $# -lt 3 ] || printf '\n%s' "$3"
}
# lf_fake_toml NAME MODEL [MORE]: the same, explicitly at the fake
# provider ($LF_FAKE_URL, key in $FAKE_API_KEY).
lf_fake_toml() {
	lf_openai_toml "$1" "$2" "base_url = \"$LF_FAKE_URL/v1\"
api_key_env = \"FAKE_API_KEY\"${3+
$3}"
}

# lf_fake_stack PROG..: the fake provider, then the stack with PROG..
# (lf_stack_start), and agent-runtime answering (lf_wait_agents).
lf_fake_stack() {
	lf_fake_start
	lf_stack_start "$@"
	lf_wait_agents
}

# lf_agent NAME MODEL [MORE]: spawns agent NAME on the fake provider with
# model MODEL (lf_fake_toml, MORE as there) and prints its id; when the
# spawn is not 201, says so on stderr (the id is then empty, and the
# checks that use it fail).
lf_agent() { lf_agent_top "" "$@"; }

# lf_agent_top TOP NAME MODEL [MORE]: lf_agent NAME MODEL [MORE] with TOP,
# manifest lines outside any table (auto_dream_enabled = true, ...), first
# in the manifest ("": none).
lf_agent_top() {
	local top=$1
	shift
	lf_req POST /api/agents "$(lf_spawn_json "${top:+$top
}$(lf_fake_toml "$@")")"
	[ "$LF_STATUS" = 201 ] || echo "# spawn $1: $LF_STATUS $LF_BODY" >&2
	jb .agent_id
}

# lf_fake_script JSON: appends {"model", "steps"} to that model's queue.
lf_fake_script() {
	curl -s -m 10 -o /dev/null -X POST "$LF_FAKE_URL/__fake/script" -d "$1"
}

# lf_fake_requests MODEL: every request the fake got for MODEL, oldest first.
lf_fake_requests() {
	curl -s -m 10 "$LF_FAKE_URL/__fake/requests?model=$1"
}

# lf_fake_wait MODEL N: waits (10 s at most) until the fake has recorded
# N requests for MODEL.
lf_is_faked() { [ "$(lf_fake_requests "$1" | jq length)" -ge "$2" ]; }
lf_fake_wait() { lf_poll 200 lf_is_faked "$1" "$2"; }

# ---- memory --------------------------------------------------------------------

# lf_dream_stack [LINES]: config.toml's [auto_dream] enabled, with LINES
# (more keys of that table), then lf_fake_stack agent-runtime memory.
lf_dream_stack() {
	lf_config "[auto_dream]
enabled = true${1:+
$1}"
	lf_fake_stack agent-runtime memory
}

# lf_dream_entry AGENT JQ: JQ (jq -c) over AGENT's entry in the agents of
# the last GET /api/auto-dream/status answer.
lf_dream_entry() { jbc ".agents[] | select(.agent_id == \"$1\") | $2"; }

# ---- the scheduler -------------------------------------------------------------

# lf_trigger AGENT JQ: creates a trigger owned by AGENT, JQ (a jq object
# expression such as '{pattern: "lifecycle"}') merged over {agent_id};
# prints its id, and says so on stderr when the answer is not 201.
lf_trigger() {
	lf_req POST /api/triggers "$(jq -nc --arg a "$1" "{agent_id: \$a} + $2")"
	[ "$LF_STATUS" = 201 ] || echo "# trigger: $LF_STATUS $LF_BODY" >&2
	jb .trigger_id
}

# lf_wait_fire TRIGGER N: waits (10 s at most) until at least N fires of
# TRIGGER are recorded and no longer running.
lf_is_fired() {
	[ "$(lf_psql "SELECT count(*) FROM scheduler.trigger_fires WHERE trigger_id = '$1' AND status <> 'running'")" -ge "$2" ]
}
lf_wait_fire() { lf_poll 200 lf_is_fired "$1" "$2"; }

# ---- requests and their answers ------------------------------------------------

# curl is its only process: scripts make thousands of requests, and each
# process more costs milliseconds of CPU that a loaded machine lacks.
lf_req() {
	local method=$1 path=$2 data=${3:-}
	shift 2; [ $# -gt 0 ] && shift
	local out=$LF_TMP/resp.$BASHPID hdr=$LF_TMP/hdr.$BASHPID
	# 120 s at most, unless the caller gives its own -m.
	local args=(-s -m 120 -X "$method" -o "$out" -D "$hdr" -w '%{http_code}')
	[ -n "${LF_AUTH:-}" ] && args+=(-H "Authorization: Bearer $LF_AUTH")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	: >"$out"
	: >"$hdr"
	LF_STATUS=$(curl "${args[@]}" "$@" "$LF_URL$path")
	LF_BODY=$(<"$out")
	LF_HEADERS=$(<"$hdr")
	LF_HEADERS=${LF_HEADERS//$'\r'/}
	LF_HEADERS=${LF_HEADERS%$'\n'}
}

# jb FILTER [jq args..] / jbc: LF_BODY through jq -r / jq -c.
jb() { jq -r "$@" <<<"$LF_BODY" 2>/dev/null; }
jbc() { jq -c "$@" <<<"$LF_BODY" 2>/dev/null; }

# lf_err_shape: the body is exactly {"error": "<non-empty string>"}.
lf_err_shape() { [ "$(jbc 'keys')" = '["error"]' ] && [ -n "$(jb .error)" ]; }

# lf_hdr NAME: the value of the last response's header NAME (the first).
lf_hdr() {
	printf '%s\n' "$LF_HEADERS" | grep -i "^$1:" | head -1 | cut -d: -f2- |
	    sed 's/^ //'
}

lf_spawn_json() { jq -nc --arg t "$1" '{manifest_toml: $t}'; }
lf_msg_json() { jq -nc --arg m "$1" '{message: $m}'; }

# lf_psql SQL: one query on the test cluster, unaligned, tuples only.
lf_psql() {
	psql -h "$LIBREFANG_HOME/pg" -U librefang -Atc "$1" librefang 2>/dev/null
}

# t_ok DESC CMD..: CMD's output is not shown, except, when it fails, the
# lines it printed as TAP comments ("# ..."): a check's post-mortem, such
# as lf_bus_joined's socket dump.
t_ok() {
	local desc=$1 out=$LF_TMP/t_ok.out
	shift
	T_N=$((T_N + 1))
	if "$@" >"$out" 2>&1; then
		echo "ok $T_N - $desc"
	else
		echo "not ok $T_N - $desc"
		grep '^#' "$out" | head -40
		T_FAILED=$((T_FAILED + 1))
	fi
	rm -f "$out"
}

t_eq() {
	T_N=$((T_N + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $T_N - $1"
	else
		echo "not ok $T_N - $1"
		echo "#   got:      $(printf '%s' "$2" | head -c 600)"
		echo "#   expected: $3"
		T_FAILED=$((T_FAILED + 1))
	fi
}

lf_screens() {
	LF_SCREENS=${LF_TEST_OUT:-$LF_BIN/../test-out}/screens/$1
	rm -rf "$LF_SCREENS"
	mkdir -p "$LF_SCREENS"
	LF_SCREENS=$(cd "$LF_SCREENS" && pwd)
	export LF_SCREENS
	echo "# screenshots: $LF_SCREENS"
}

t_node() {
	local file=$1 min=$2 tap=$LF_TMP/node.tap line n=0 nfail=0 rc more=0
	if [ ! -d "$LF_ROOT/tests/e2e/node_modules" ]; then
		t_ok "tests/e2e/node_modules is installed (deploy/deps.sh test)" false
		return
	fi
	(cd "$LF_ROOT/tests/e2e" &&
	    timeout -k 5 "${LF_NODE_SECS:-240}" node --test-reporter=tap "$file") \
	    > "$tap" 2>&1
	rc=$?
	while IFS= read -r line; do
		if [[ $line =~ ^(not\ )?ok\ [0-9]+\ -\ (.*)$ ]]; then
			more=0
			T_N=$((T_N + 1))
			n=$((n + 1))
			if [ -n "${BASH_REMATCH[1]}" ]; then
				echo "not ok $T_N - e2e: ${BASH_REMATCH[2]}"
				T_FAILED=$((T_FAILED + 1))
				nfail=$((nfail + 1))
			else
				echo "ok $T_N - e2e: ${BASH_REMATCH[2]}"
			fi
		elif [ "$nfail" -gt 0 ] && [[ $line =~ ^\ +(error|expected|actual|message|code|location): ]]; then
			echo "#   $line"
			# A multi-line error ("error: |-") or an expected or
			# actual value (a YAML list) is on the lines that follow.
			more=0
			[[ $line =~ (\|-?|:)$ ]] && more=8
		elif [ "$more" -gt 0 ]; then
			echo "#   $line"
			more=$((more - 1))
		fi
	done < "$tap"
	# Fewer results than tests means the script died part way.
	t_ok "$file ran all its tests ($n results, exit $rc)" \
	    test "$n" -ge "$min" -a "$rc" = 0
	if [ "$rc" != 0 ] && [ "$nfail" = 0 ]; then
		tail -n 30 "$tap" | sed 's/^/#   /'
	fi
}

# t_py NAME MIN CMD..: runs a checker (a program that prints "ok - ..."
# and "not ok - ..." lines, numbered here, and "# ..." notes), bounded by
# LF_PY_SECS (default 200) seconds; then fails unless it gave at least MIN
# results and exited 0.  Its output stays in $LF_TMP/NAME.tap.
t_py() {
	local name=$1 min=$2 out=$LF_TMP/$1.tap line n=0 rc
	local secs=${LF_PY_SECS:-200}
	shift 2
	timeout -k 5 "$secs" "$@" >"$out" 2>&1
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok - "*)	T_N=$((T_N + 1)); n=$((n + 1))
				echo "ok $T_N - ${line#ok - }" ;;
		"not ok - "*)	T_N=$((T_N + 1)); n=$((n + 1))
				T_FAILED=$((T_FAILED + 1))
				echo "not ok $T_N - ${line#not ok - }" ;;
		*)		echo "# ${line#\# }" ;;
		esac
	done <"$out"
	[ "$rc" = 124 ] && echo "# $name still ran after $secs s: killed"
	t_ok "$name ran all its checks ($n results, exit $rc)" \
	    test "$n" -ge "$min" -a "$rc" = 0
}

# lf_tail_failed GLOB..: once a test has failed, the last lines of each
# log of $LF_TMP/log matching GLOB (lf_cleanup shows every log's last 30).
lf_tail_failed() {
	local g f
	[ "$T_FAILED" != 0 ] || return 0
	for g in "$@"; do
		for f in "$LF_TMP"/log/$g; do
			[ -f "$f" ] || continue
			echo "# --- $(basename "$f") (tail)"
			tail -n 8 "$f" | sed 's/^/#   /'
		done
	done
}

lf_rcv_start() {
	local pf=$LF_TMP/receiver.port
	lf_bg hook_receiver python3 "$LF_ROOT/tests/helpers/hook_receiver.py" "$pf"
	lf_poll 200 test -s "$pf" || { echo "Bail out! the webhook receiver did not start"; exit 1; }
	LF_RCV=http://127.0.0.1:$(cat "$pf")
}
lf_rcv_ctl() {
	curl -s -m 5 -o /dev/null -X POST "$LF_RCV/__ctl" -d "$(jq -nc \
	    --arg n "$1" --arg s "$2" --argjson sc "${3:-[]}" \
	    --argjson d "${4:-0}" '{name: $n, secret: $s, script: $sc, delay_ms: $d}')"
}
lf_rcv_count() { curl -s -m 5 "$LF_RCV/__count?name=$1"; }

t_done() {
	echo "1..$T_N"
	[ "$T_FAILED" = 0 ]
}
