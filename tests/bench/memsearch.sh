#!/usr/bin/env bash
# memsearch.sh BUILD - the memory search figure of `make bench` (issue 10):
# memory.search p50 and p99 over the bus with 100,000 items of one agent
# (tests/helpers/memsearchbench), beside memory.kv.get of the same agent
# as the floor (a bus round trip and a primary-key lookup).  Its own
# stack: a private PostgreSQL, the broker and the memory service.  The
# items are sentences of ten words drawn from 3,000 made-up words, loaded
# in SQL; the queries are two or three of those words, a phrase, a typo
# and a string full of operators.  Figures, not pass/fail.
#
#   MEMSEARCH_ITEMS=100000   items
#   MEMSEARCH_COUNT=400      searches (and floor lookups) measured
set -u

build=${1:?usage: memsearch.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
ITEMS=${MEMSEARCH_ITEMS:-100000}
COUNT=${MEMSEARCH_COUNT:-400}
T_P50=20		# ms, memory search p50

echo "== 13. memory search over $ITEMS items (services/memory/search.c), target p50 <= $T_P50 ms"
for p in bus memory memsearchbench; do
	if [ ! -x "$bin/$p" ]; then
		echo "   skipped: $bin/$p is not built"
		exit 0
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfmemsearch.XXXXXX") || exit 1
chmod 711 "$tmp"
export LIBREFANG_HOME=$tmp/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL
mkdir -p "$LIBREFANG_HOME/run" "$tmp/log"
declare -A PIDS=()
PG_UP=0
WATCHDOG=
STACK_TAG=memsearch
. "$root/tests/bench/stack.sh"
cleanup() {
	trap - EXIT INT TERM
	watchdog_stop
	stop memory bus
	pg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "memsearch: interrupted" >&2; exit 1' INT TERM
watchdog_start 600

psql_() { psql -h "$LIBREFANG_HOME/pg" -U librefang -Atq -v ON_ERROR_STOP=1 -c "$1" librefang; }

pg_start
start bus
start memory
for _ in $(seq 1 200); do
	[ "$(psql_ "SELECT count(*) FROM memory.schema_migrations" 2>/dev/null)" -ge 3 ] 2>/dev/null && break
	sleep 0.05
done
A=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee
t0=$(date +%s.%N)
# The GIN indexes are dropped for the load and built again after it (the
# definitions of sql/003_items.sql): a bulk build is many times faster
# than 100,000 incremental inserts into them; VACUUM then leaves the
# table as autovacuum would in a steady state.
psql_ "
DROP INDEX memory.items_tsv, memory.items_trgm;
CREATE TEMP TABLE vocab AS SELECT array_agg(translate(substr(md5(n::text), 1, 4 + n % 5), '0123456789', 'ghijklmnop') ORDER BY n) AS a FROM generate_series(0, 2999) n;
INSERT INTO memory.items (id, agent_id, content, level, confidence)
SELECT gen_random_uuid(), '$A',
    array_to_string(ARRAY(SELECT v.a[1 + abs(hashtext(i::text || ':' || k)) % 3000] FROM generate_series(1, 10) k), ' '),
    (ARRAY['user','session','agent'])[1 + i % 3], 1.0
FROM generate_series(1, $ITEMS) i, vocab v;
SET maintenance_work_mem = '256MB';
CREATE INDEX items_tsv ON memory.items USING gin (tsv) WHERE deleted_at IS NULL;
CREATE INDEX items_trgm ON memory.items USING gin (content public.gin_trgm_ops) WHERE deleted_at IS NULL;
INSERT INTO memory.kv (agent_id, key, value) SELECT '$A', 'k' || i, to_jsonb(i) FROM generate_series(0, 99) i;" &&
psql_ "VACUUM ANALYZE memory.items" && psql_ "VACUUM ANALYZE memory.kv" ||
	{ echo "   failed: could not load the items"; exit 0; }
t1=$(date +%s.%N)
printf '   loaded %s items in %.1f s\n' "$ITEMS" "$(echo "$t1 - $t0" | bc)"

# Queries: words of the vocabulary (the same md5 recipe), a phrase, a
# typo, operators.
words=$(psql_ "SELECT string_agg(translate(substr(md5(n::text), 1, 4 + n % 5), '0123456789', 'ghijklmnop'), ' ') FROM generate_series(7, 2999, 97) n")
set -- $words
queries=("$1 $2" "$3" "$4 $5 $6" "\"$7 $8\"" "${9}x" "$10 -$11" "$12 or $13" "(( $14 <-> !! :*")
out=$(timeout 240 "$bin/memsearchbench" "$A" "$COUNT" "${queries[@]}" 2>&1) || {
	echo "   failed: $(printf '%s' "$out" | tail -1)"
	exit 0
}
printf '   %-28s %9s %9s %13s %s\n' what "p50 ms" "p99 ms" "mean results" ""
printf '%s\n' "$out" | while IFS=$'\t' read -r what p50 p99 res; do
	v=""
	case $what in
	memory.search) v=$(awk -v a="$p50" -v t="$T_P50" 'BEGIN { print (a + 0 <= t) ? "ok" : "MISS" }') ;;
	esac
	printf '   %-28s %9s %9s %13s %s\n' "$what" "$p50" "$p99" "$res" "$v"
done
exit 0
