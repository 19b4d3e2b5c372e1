#!/usr/bin/env bash
# The broker and the services, driven with bustool: routing, replicas,
# unavailable services, pub/sub framing, config checks, orderly shutdown,
# and rejoining after the broker and PostgreSQL restart.
. "$(dirname "$0")/../lib.sh"

bt() { "$LF_BIN/bustool" "$@"; }
health() { bt -t 2000 req "$1" sys.health; }
field() { jq -r "$1"; }
# Waits until service $1 has joined the broker (answers 200, not 503).
joined() {
	local i
	for i in $(seq 200); do
		[ "$(health "$1" 2>/dev/null | field .status)" = 200 ] && return 0
		sleep 0.05
	done
	return 1
}

lf_pg_start
lf_start bus
for s in scheduler memory audit channels; do lf_start $s; done

# Services come up and answer through the broker.
for s in scheduler memory audit channels; do
	joined $s
	r=$(health $s)
	t_eq "$s answers sys.health" "$(echo "$r" | field '.status,.body.service,.body.database' | tr '\n' ' ')" "200 $s connected "
done

# Migrations created each service's schema and ledger.
schemas=$(psql -h "$LIBREFANG_HOME/pg" -U librefang -Atc \
    "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname IN ('scheduler','memory','audit','channels')" librefang)
t_eq "each service migrated its own schema" "$schemas" "audit,channels,memory,scheduler"
v=$(psql -h "$LIBREFANG_HOME/pg" -U librefang -Atc "SELECT count(*) FROM memory.schema_migrations" librefang)
n=$(ls "$LF_ROOT"/services/memory/sql/*.sql | wc -l)
t_eq "the migration ledger records every memory migration" "$v" "$n"

# An unknown operation is a 501 reply, not a timeout.
r=$(bt req memory no.such.op)
t_eq "unknown op gives 501" "$(echo "$r" | field .status)" "501"

# A service with no replica: the broker answers 503 at once, not at the
# request's deadline (30 s: a bound of 10 s sits clear of both).
lf_stop channels
start=$(date +%s%N)
r=$(bt -t 30000 req channels sys.health)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_eq "a service that is down gives 503" "$(echo "$r" | field .status)" "503"
t_ok "and gives it at once, not at its 30 s deadline (${ms} ms)" test "$ms" -lt 10000
t_eq "stopping with SIGTERM exits 0" "$LF_EXIT" "0"

# Two replicas share the load.
lf_start channels; LF_PIDS[channels2]=; "$LF_BIN/channels" >>"$LF_TMP/log/channels2.log" 2>&1 & LF_PIDS[channels2]=$!
joined channels
# Both replicas must have joined before the load is shared.
for i in $(seq 100); do
	grep -c "replica of 'channels' connected" "$LF_TMP/log/bus.log" | grep -q '^[3-9]' && break
	sleep 0.05
done
pids=$(for i in $(seq 8); do health channels | field .body.pid; done | sort -u | wc -l)
t_eq "requests are spread over two replicas" "$pids" "2"
lf_stop channels2
t_eq "the second replica exits 0 on SIGTERM" "$LF_EXIT" "0"

# Pub/sub: topic framing with a delimiter.
"$LF_BIN/bustool" -t 3000 sub lifecycle 2 > "$LF_TMP/sub.out" &
subpid=$!
sleep 0.3
bt pub lifecycle '{"n":1}'
bt pub lifecycle_other '{"n":2}'
bt pub lifecycle '{"n":3}'
wait $subpid
t_eq "subscribers get their topic only" "$(tr '\n' ' ' < "$LF_TMP/sub.out")" 'lifecycle {"n":1} lifecycle {"n":3} '

# The broker restarts: services rejoin by themselves.
lf_stop bus
t_eq "the broker exits 0 on SIGTERM" "$LF_EXIT" "0"
r=$(bt -t 300 req memory sys.health 2>&1); rc=$?
t_ok "with no broker a request fails within its deadline" test "$rc" -ne 0
lf_start bus
t_ok "services rejoin a restarted broker" joined memory

# PostgreSQL restarts: health reports it, then recovers.
lf_pg_stop
r=$(health memory)
t_eq "a lost database shows as degraded" "$(echo "$r" | field '.body.status,.body.database' | tr '\n' ' ')" "degraded disconnected "
lf_pg_start
ok=0
for i in $(seq 120); do
	[ "$(health memory | field .body.database)" = connected ] && { ok=1; break; }
	sleep 0.1
done
t_eq "services reconnect when PostgreSQL is back" "$ok" "1"

# -n checks the config and prints it with secrets redacted.
out=$(LIBREFANG_API_KEY=sup3rs3cr3t "$LF_BIN/memory" -n 2>&1); rc=$?
t_eq "-n exits 0 on a good config" "$rc" "0"
t_ok "-n redacts the api key" bash -c "! grep -q sup3rs3cr3t <<<'$out' && grep -q REDACTED <<<'$out'"
printf 'api_listen = "x"\n[rate_limit\n' > "$LF_TMP/bad.toml"
out=$("$LF_BIN/scheduler" -n -f "$LF_TMP/bad.toml" 2>&1); rc=$?
t_eq "-n exits 1 on a broken config" "$rc" "1"
t_ok "and names the line" grep -q "line 2" <<<"$out"

# Every service drains and exits 0 on SIGTERM.
for s in scheduler memory audit channels bus; do
	lf_stop $s
	t_eq "$s exits 0 on SIGTERM" "$LF_EXIT" "0"
done
t_done
