#!/usr/bin/env bash
# backup.sh BUILD - figure 22 of `make bench` (issue 12): POST /api/backup
# and POST /api/restore of 1,000 agents with 100 messages each (inserted
# with SQL: one spawned agent's row copied), each printed beside its
# floor measured in the same run on the same database: a plain
# `pg_dump -Fc` of the same schemas, and a plain `pg_restore --clean
# --if-exists --single-transaction` of that dump.  Its own stack:
# PostgreSQL, the broker, the five services and the gateway.  Figures,
# not pass/fail.
#
#   BACKUP_BENCH_AGENTS=1000   agents
#   BACKUP_BENCH_MSGS=100      messages in each agent's session
#   BACKUP_BENCH_RUNS=3        runs of each figure (the best is printed)
#   BACKUP_BENCH_MAX_SECS=300  watchdog
set -u

build=${1:?usage: backup.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
NA=${BACKUP_BENCH_AGENTS:-1000}
NM=${BACKUP_BENCH_MSGS:-100}
RUNS=${BACKUP_BENCH_RUNS:-3}

for p in bus audit agent-runtime api-gateway; do
	if [ ! -x "$bin/$p" ]; then
		echo "== 22. BACKUP: $p not built; skipped"; exit 0
	fi
done
for p in pg_dump pg_restore psql tar; do
	if ! command -v $p >/dev/null; then
		echo "== 22. BACKUP: $p missing (postgresql-client, tar); skipped"; exit 0
	fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfbackup.XXXXXX") || exit 1
chmod 711 "$tmp"
export LIBREFANG_HOME=$tmp/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL LIBREFANG_ALLOW_NO_AUTH
mkdir -p "$LIBREFANG_HOME/run" "$tmp/log"
declare -A PIDS=()
PG_UP=0
WATCHDOG=
STACK_TAG=backup
SERVICES="agent-runtime scheduler memory audit channels"
. "$root/tests/bench/stack.sh"
GW_PORT=$(free_port)
export LIBREFANG_API_LISTEN=127.0.0.1:$GW_PORT
URL=http://$LIBREFANG_API_LISTEN

cleanup() {
	trap - EXIT INT TERM
	watchdog_stop
	stack_stop
	pg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "backup: interrupted" >&2; exit 1' INT TERM
watchdog_start "${BACKUP_BENCH_MAX_SECS:-300}"
psql_() { psql -h "$LIBREFANG_HOME/pg" -U librefang -Atqc "$1" librefang; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

pg_start
stack_start
for ((i = 0; i < 300; i++)); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$URL/api/ready")" = 200 ] && break
	sleep 0.05
done

echo "== 22. backup and restore, $NA agents x $NM messages (s, best of $RUNS; figures, no target)"
code=$(curl -s -o "$tmp/spawn.json" -w '%{http_code}' -m 10 -X POST \
    -H 'Content-Type: application/json' "$URL/api/agents" \
    -d '{"manifest_toml":"name = \"bench-0\"\n[model]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n"}')
if [ "$code" != 201 ]; then
	echo "   could not spawn the template agent ($code): $(cat "$tmp/spawn.json")"; exit 0
fi
t0=$(now)
psql_ "INSERT INTO runtime.agents (id, name, manifest, manifest_toml, source_toml, session_id)
SELECT gen_random_uuid(), 'bench-' || g, a.manifest, a.manifest_toml, a.source_toml, gen_random_uuid()
FROM runtime.agents a, generate_series(1, $NA - 1) g WHERE a.name = 'bench-0';
INSERT INTO runtime.sessions (id, agent_id, messages)
SELECT a.session_id, a.id, m.msgs FROM runtime.agents a,
  (SELECT jsonb_agg(jsonb_build_object('role', CASE WHEN i % 2 = 1 THEN 'user' ELSE 'assistant' END,
     'content', 'message ' || i || ': ' || repeat('the quick brown fox jumps over the lazy dog ', 4))
     ORDER BY i) AS msgs FROM generate_series(1, $NM) i) m
ON CONFLICT (id) DO UPDATE SET messages = EXCLUDED.messages" >/dev/null &&
    psql_ "VACUUM ANALYZE runtime.agents" && psql_ "VACUUM ANALYZE runtime.sessions" ||
    { echo "   could not insert the data"; exit 0; }
counts() { psql_ "SELECT (SELECT count(*) FROM runtime.agents) || ' agents, ' || (SELECT coalesce(sum(message_count), 0) FROM runtime.sessions) || ' messages'"; }
before=$(counts)
printf '   inserted in SQL in %.1f s: %s, database %s\n' "$(since "$t0")" "$before" \
    "$(psql_ "SELECT pg_size_pretty(pg_database_size('librefang'))")"
schemas=$(psql_ "SELECT string_agg('--schema=' || table_schema, ' ' ORDER BY 1) FROM information_schema.tables WHERE table_name = 'schema_migrations'")
export PGHOST=$LIBREFANG_HOME/pg PGUSER=librefang PGDATABASE=librefang

best() {	# best VAR VALUE: the smaller into VAR
	if [ -z "${!1}" ] || [ "$(echo "$2 < ${!1}" | bc)" = 1 ]; then
		printf -v "$1" '%s' "$2"
	fi
}
b_api= b_floor= r_api= r_floor= size=
for ((r = 1; r <= RUNS; r++)); do
	t0=$(now)
	# shellcheck disable=SC2086
	pg_dump --format=custom --no-owner --no-privileges $schemas --file="$tmp/floor.dump" ||
	    { echo "   pg_dump failed"; exit 0; }
	tbf=$(since "$t0")
	best b_floor "$tbf"
	t0=$(now)
	curl -s -m 300 -o "$tmp/backup.json" -X POST "$URL/api/backup"
	tb=$(since "$t0")
	f=$(jq -r .filename "$tmp/backup.json")
	if [ -z "$f" ] || [ "$f" = null ]; then
		echo "   POST /api/backup failed: $(cat "$tmp/backup.json")"; exit 0
	fi
	best b_api "$tb"
	size=$(jq -r .size_bytes "$tmp/backup.json")
	t0=$(now)
	pg_restore --clean --if-exists --single-transaction --no-owner \
	    --dbname=librefang "$tmp/floor.dump" ||
	    { echo "   pg_restore failed"; exit 0; }
	trf=$(since "$t0")
	best r_floor "$trf"
	t0=$(now)
	curl -s -m 300 -o "$tmp/restore.json" -X POST -H 'Content-Type: application/json' \
	    -d "{\"filename\":\"$f\"}" "$URL/api/restore"
	tr=$(since "$t0")
	if [ "$(jq -r '.audit.valid' "$tmp/restore.json")" != true ]; then
		echo "   POST /api/restore failed: $(head -c 300 "$tmp/restore.json")"; exit 0
	fi
	best r_api "$tr"
	printf '   run %d: backup %.2f s (pg_dump %.2f s), restore %.2f s (pg_restore %.2f s)\n' \
	    "$r" "$tb" "$tbf" "$tr" "$trf"
	curl -s -m 10 -o /dev/null -X DELETE "$URL/api/backups/$f"
	sleep 1		# the next archive's name is the next second
done
after=$(counts)
printf '   %-44s %8s %8s\n' "" "ours" "floor"
printf '   %-44s %8.2f %8.2f s\n' "POST /api/backup vs pg_dump -Fc" "$b_api" "$b_floor"
printf '   %-44s %8.2f %8.2f s\n' "POST /api/restore vs pg_restore --clean -1" "$r_api" "$r_floor"
printf '   archive %s bytes, dump %s bytes; after the restores: %s (%s)\n' "$size" \
    "$(stat -c %s "$tmp/floor.dump")" "$after" "$([ "$after" = "$before" ] && echo same || echo DIFFERENT)"
echo "   (load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores)"
exit 0
