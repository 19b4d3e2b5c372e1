# lib.sh - sourced by every integration test (tests/integration/tNNNN-*.sh).
#
# Starts a throwaway stack in a temp dir: a private PostgreSQL (fsync off),
# the broker, the services and the gateway on a free loopback port, all
# over ipc:// in $LF_TMP.  Prints TAP; the last line of a script is the
# plan, written by t_done, which exits non-zero when any test failed.
#
#   lf_config 'toml'        write $LIBREFANG_HOME/config.toml (before start)
#   lf_stack_start [prog..] start PostgreSQL, bus and prog.. (default: all)
#   lf_start PROG / lf_stop PROG [SIGNAL]   one process by binary name
#   lf_stack_stop           stop everything (also run on exit)
#   lf_req METHOD PATH [JSON] [curl args..]  sets LF_STATUS LF_BODY LF_HEADERS
#   lf_wait_health [secs]   until GET /api/health answers 200
#   lf_wait_status STATUS   until /api/health says "status": STATUS
#   lf_worst_ms N SECS      worst of N GET /api/health times (ms), SECS apart
#   t_ok DESC CMD..  t_eq DESC ACTUAL EXPECTED  t_done

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
	"$LF_ROOT/deploy/pg.sh" stop "$LIBREFANG_HOME"
	LF_PG_UP=0
}

lf_start() {
	local prog=$1
	"$LF_BIN/$prog" >>"$LF_TMP/log/$prog.log" 2>&1 &
	LF_PIDS[$prog]=$!
}

# Stops PROG with SIGNAL (default TERM) and waits; sets LF_EXIT to its status.
lf_stop() {
	local prog=$1 sig=${2:-TERM} pid=${LF_PIDS[$1]:-}
	LF_EXIT=
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	LF_EXIT=$?
	unset "LF_PIDS[$prog]"
}

lf_wait_health() {
	local i limit=$(( ${1:-10} * 20 ))
	for ((i = 0; i < limit; i++)); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' "$LF_URL/api/health")" = 200 ]; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# Waits until GET PATH answers 200 (a service behind it has joined the bus).
lf_wait_ok() {
	local i
	for ((i = 0; i < 200; i++)); do
		lf_req GET "$1"
		[ "$LF_STATUS" = 200 ] && return 0
		sleep 0.05
	done
	return 1
}

# Waits until /api/health reports "status": $1 ("ok", "degraded").
lf_wait_status() {
	local i
	for ((i = 0; i < 100; i++)); do
		lf_req GET /api/health
		[ "$(printf '%s' "$LF_BODY" | jq -r .status)" = "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# Prints the worst time (ms) of $1 GET /api/health requests, $2 s apart:
# how long everyone else waits while something misbehaves.
lf_worst_ms() {
	local i t ms worst=0
	for ((i = 0; i < $1; i++)); do
		t=$(curl -s -o /dev/null -w '%{time_total}' "$LF_URL/api/health")
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
			curl -s "$LF_URL/api/metrics" ${LF_AUTH:+-H "Authorization: Bearer $LF_AUTH"} |
			    grep -q "^librefang_service_up{service=\"$s\"} 1" || up=0
		done
		[ $up = 1 ] && return 0
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
	lf_wait_health 10 || { echo "Bail out! gateway did not come up"; lf_dump_logs; exit 1; }
}

lf_stack_stop() {
	local p
	for p in "${!LF_PIDS[@]}"; do
		kill -TERM "${LF_PIDS[$p]}" 2>/dev/null
	done
	for p in "${!LF_PIDS[@]}"; do
		wait "${LF_PIDS[$p]}" 2>/dev/null
	done
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

# lf_cleanup [STATUS]: STATUS defaults to the script's exit status.
lf_cleanup() {
	local rc=${1:-$?} f
	lf_stack_stop
	# A sanitizer report in any process's log fails the script.
	for f in "$LF_TMP"/log/*.log; do
		[ -f "$f" ] || continue
		if grep -qE 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:' "$f"; then
			echo "not ok - sanitizer report in $(basename "$f")"
			grep -E -A12 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:' "$f" | head -40 | sed 's/^/#   /'
			T_FAILED=$((T_FAILED + 1))
			rc=1
		fi
	done
	# Whatever started a cluster here (a test, librefangd), stop it.
	"$LF_ROOT/deploy/pg.sh" stop "$LIBREFANG_HOME" >/dev/null 2>&1
	if [ "$T_FAILED" != 0 ]; then
		lf_dump_logs
	fi
	# The cluster may live under /var/lib/librefang when HOME was private.
	if [ -L "$LIBREFANG_HOME/pg" ]; then
		rm -rf "$(readlink "$LIBREFANG_HOME/pg")"
	fi
	rm -rf "$LF_TMP"
	exit $rc
}
trap lf_cleanup EXIT

lf_req() {
	local method=$1 path=$2 data=${3:-}
	shift 2; [ $# -gt 0 ] && shift
	local out=$LF_TMP/resp.$$ hdr=$LF_TMP/hdr.$$
	local args=(-s -X "$method" -o "$out" -D "$hdr" -w '%{http_code}')
	[ -n "${LF_AUTH:-}" ] && args+=(-H "Authorization: Bearer $LF_AUTH")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	LF_STATUS=$(curl "${args[@]}" "$@" "$LF_URL$path")
	LF_BODY=$(cat "$out" 2>/dev/null)
	LF_HEADERS=$(tr -d '\r' < "$hdr" 2>/dev/null)
	rm -f "$out" "$hdr"
}

t_ok() {
	local desc=$1
	shift
	T_N=$((T_N + 1))
	if "$@" >/dev/null 2>&1; then
		echo "ok $T_N - $desc"
	else
		echo "not ok $T_N - $desc"
		T_FAILED=$((T_FAILED + 1))
	fi
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

t_done() {
	echo "1..$T_N"
	[ "$T_FAILED" = 0 ]
}
