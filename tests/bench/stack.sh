# stack.sh - sourced by bench.sh and turns.sh: starting and stopping the
# programs of their throwaway stack.  The caller sets root, bin, tmp (logs
# in $tmp/log), LIBREFANG_HOME, SERVICES and STACK_TAG (the prefix of its
# messages), and declares PIDS (-A), PG_UP=0 and WATCHDOG=.

start() {	# start NAME [ARGS..]: one program in the background
	local name=$1
	shift
	"$bin/$name" "$@" >>"$tmp/log/$name.log" 2>&1 &
	PIDS[$name]=$!
}

stop() {	# stop NAME..: SIGTERM, SIGKILL after 5 s, reap
	local n pid i
	for n in "$@"; do
		pid=${PIDS[$n]:-}
		[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	done
	for n in "$@"; do
		pid=${PIDS[$n]:-}
		[ -n "$pid" ] || continue
		for ((i = 0; i < 500; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.01
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "$STACK_TAG: '$n' ignored SIGTERM for 5 s; killing" >&2
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
		unset "PIDS[$n]"
	done
}

stack_start() {	# the broker, the services that are built, the gateway
	local p
	start bus
	for p in $SERVICES; do
		[ -x "$bin/$p" ] && start "$p"
	done
	start api-gateway
}

stack_stop() {
	stop api-gateway channels audit memory scheduler agent-runtime bus
}

free_port() {	# a free loopback TCP port
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

fake_start() {	# fake_start [RECORDS]: the instant fake provider
	# (tests/fakes/fake-llm.mjs) in the background as PIDS[fake]; sets
	# FAKE_PORT, or says so and returns 1 when it did not start in 5 s
	local i
	node "$root/tests/fakes/fake-llm.mjs" --port 0 --record-limit "${1:-1000}" \
	    >"$tmp/fake.port" 2>>"$tmp/log/fake.log" &
	PIDS[fake]=$!
	FAKE_PORT=
	for ((i = 0; i < 500; i++)); do
		FAKE_PORT=$(awk '$1 == "listening" { print $2 }' "$tmp/fake.port" 2>/dev/null)
		[ -n "$FAKE_PORT" ] && return 0
		sleep 0.01
	done
	echo "   the fake provider did not start"
	return 1
}

pg_start() {	# the private PostgreSQL (test mode); exits 1 if it fails
	if ! "$root/deploy/pg.sh" start "$LIBREFANG_HOME" test >"$tmp/log/pg.sh.log" 2>&1; then
		echo "$STACK_TAG: could not start PostgreSQL:" >&2
		cat "$tmp/log/pg.sh.log" >&2
		exit 1
	fi
	PG_UP=1
}

pg_stop() {	# stops it and removes its cluster
	[ $PG_UP = 0 ] || "$root/deploy/pg.sh" stop "$LIBREFANG_HOME" >/dev/null 2>&1
	# The cluster lives under /var/lib/librefang when HOME was private.
	if [ -L "$LIBREFANG_HOME/pg" ]; then
		rm -rf "$(readlink "$LIBREFANG_HOME/pg")"
	fi
}

watchdog_start() {	# watchdog_start SECS: SIGTERM to this script after SECS
	# The watchdog's sleep is its own child so that cleanup ends both.
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$1" & s=$!
		wait "$s" && { echo "$STACK_TAG: over ${1}s; stopping" >&2; kill -TERM $$; }
	) &
	WATCHDOG=$!
}

watchdog_stop() {
	if [ -n "$WATCHDOG" ]; then
		kill -TERM "$WATCHDOG" 2>/dev/null
		wait "$WATCHDOG" 2>/dev/null
	fi
}

dump_logs() {	# the last lines of every log that is not empty
	local f
	for f in "$tmp"/log/*.log; do
		[ -s "$f" ] || continue
		echo "  --- $(basename "$f") (last lines)"
		tail -n 8 "$f" | sed 's/^/  | /'
	done
}
