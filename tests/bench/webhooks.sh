#!/usr/bin/env bash
# webhooks.sh BUILD - the outbound webhook figure of `make bench` (issue
# 12): deliveries per second from the outbox (channels.webhook_deliveries,
# services/channels/chan_hookout.c) to a local receiver that verifies each
# signature (tests/helpers/hook_receiver.py), with [webhooks] workers = 2
# (the default) and 8 on one channels replica.  Beside it the floor: the
# same receiver's rate for the same signed POSTs sent by a plain client
# (python, a new connection per request as libcurl's easy handle makes
# here, 8 threads) in the same run.  Its own stack: a private PostgreSQL,
# the broker and channels.  Figures, not pass/fail.
#
#   WEBHOOKS_N=2000     deliveries queued per figure
set -u

build=${1:?usage: webhooks.sh BUILD}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case $build in
/*)	bin=$build/bin ;;
*)	bin=$root/$build/bin ;;
esac
N=${WEBHOOKS_N:-2000}

echo "== 20. outbound webhook deliveries per second ($N queued, one channels replica, a verifying local receiver)"
for p in bus channels; do
	if [ ! -x "$bin/$p" ]; then
		echo "   skipped: $bin/$p is not built"
		exit 0
	fi
done
command -v python3 >/dev/null || { echo "   skipped: no python3"; exit 0; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lfwebhooks.XXXXXX") || exit 1
chmod 711 "$tmp"
export LIBREFANG_HOME=$tmp/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
unset LIBREFANG_API_KEY LIBREFANG_DATABASE_URL
mkdir -p "$LIBREFANG_HOME/run" "$tmp/log"
declare -A PIDS=()
PG_UP=0
WATCHDOG=
STACK_TAG=webhooks
. "$root/tests/bench/stack.sh"
RCV=
cleanup() {
	trap - EXIT INT TERM
	watchdog_stop
	stop channels bus
	[ -n "$RCV" ] && kill "$RCV" 2>/dev/null && wait "$RCV" 2>/dev/null
	pg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "webhooks: interrupted" >&2; exit 1' INT TERM
watchdog_start 600

psql_() { psql -h "$LIBREFANG_HOME/pg" -U librefang -Atq -v ON_ERROR_STOP=1 -c "$1" librefang; }

python3 "$root/tests/helpers/hook_receiver.py" "$tmp/port" >"$tmp/log/receiver.log" 2>&1 &
RCV=$!
for _ in $(seq 1 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
URL=http://127.0.0.1:$(cat "$tmp/port")
SECRET=bench-secret-0123456789
curl -s -o /dev/null -X POST "$URL/__ctl" -d "{\"name\": \"bench\", \"secret\": \"$SECRET\"}"
curl -s -o /dev/null -X POST "$URL/__ctl" -d "{\"name\": \"floor\", \"secret\": \"$SECRET\"}"

# The floor: N signed POSTs, 8 threads, a new connection each.
floor=$(python3 - "$URL" "$SECRET" "$N" <<'EOF'
import hashlib, hmac, http.client, json, sys, threading, time, uuid
url, secret, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = url[7:].split(":")
left = [n]
lock = threading.Lock()
def one():
    while True:
        with lock:
            if left[0] == 0:
                return
            left[0] -= 1
        d = str(uuid.uuid4())
        body = json.dumps({"id": d, "event": "cron_fired", "webhook_id": d,
                           "timestamp": "2026-01-01T00:00:00Z", "data": {}}).encode()
        ts = str(int(time.time()))
        sig = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body,
                                   hashlib.sha256).hexdigest()
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("POST", "/hook/floor", body, {
            "Content-Type": "application/json", "X-LibreFang-Delivery": d,
            "X-LibreFang-Event": "cron_fired", "X-LibreFang-Timestamp": ts,
            "X-LibreFang-Signature": sig})
        c.getresponse().read()
        c.close()
t0 = time.time()
th = [threading.Thread(target=one) for _ in range(8)]
for t in th: t.start()
for t in th: t.join()
print("%.0f" % (n / (time.time() - t0)))
EOF
)

pg_start
start bus
# bench WORKERS: the figure with that many delivery threads.
bench() {
	local w=$1 t0 t1 left
	printf '[webhooks]\nallowed_hosts = ["127.0.0.1"]\nworkers = %s\n' "$w" >"$LIBREFANG_HOME/config.toml"
	start channels
	for _ in $(seq 1 200); do
		[ "$(psql_ "SELECT count(*) FROM channels.schema_migrations" 2>/dev/null)" -ge 6 ] 2>/dev/null && break
		sleep 0.05
	done
	sleep 0.3
	psql_ "DELETE FROM channels.webhooks;
INSERT INTO channels.webhooks (id, kind, name, url, secret, events) VALUES ('00000000-0000-4000-8000-0000000000b1', 'outbound', 'bench', '$URL/hook/bench', '$SECRET', '[\"all\"]')" ||
		{ echo "   failed: could not create the webhook"; return; }
	t0=$(date +%s.%N)
	psql_ "INSERT INTO channels.webhook_deliveries (id, webhook_id, event, event_id, payload) SELECT gen_random_uuid(), '00000000-0000-4000-8000-0000000000b1', 'cron_fired', 'bench:$w:' || i, jsonb_build_object('i', i) FROM generate_series(1, $N) i" ||
		{ echo "   failed: could not queue"; return; }
	for _ in $(seq 1 6000); do
		left=$(psql_ "SELECT count(*) FROM channels.webhook_deliveries WHERE state <> 'delivered'")
		[ "$left" = 0 ] && break
		sleep 0.05
	done
	t1=$(date +%s.%N)
	if [ "$left" != 0 ]; then
		echo "   workers=$w: $left of $N not delivered after 300 s"
	else
		printf '   %-34s %8.0f /s   (%d attempts for %d deliveries)\n' "outbox -> receiver, workers=$w" \
		    "$(echo "$N / ($t1 - $t0)" | bc -l)" \
		    "$(psql_ "SELECT count(*) FROM channels.webhook_attempts")" "$N"
	fi
	stop channels
	psql_ "DELETE FROM channels.webhooks"
}
bench 2
bench 8
printf '   %-34s %8s /s   (the same receiver, signed POSTs from a plain client, 8 threads)\n' "floor: receiver's raw rate" "$floor"
printf '   receiver verified %s requests, refused %s\n' \
    "$(curl -s "$URL/__log" | python3 -c 'import json,sys; l=json.load(sys.stdin); print(sum(1 for e in l if e["ok"]))')" \
    "$(curl -s "$URL/__log" | python3 -c 'import json,sys; l=json.load(sys.stdin); print(sum(1 for e in l if not e["ok"]))')"
exit 0
