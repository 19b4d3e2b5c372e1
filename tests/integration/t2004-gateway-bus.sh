#!/usr/bin/env bash
# api-gateway and a service that hangs (SIGSTOP): the request gets a 503
# JSON at the bus deadline, other requests are served meanwhile, and on
# SIGTERM the gateway lets such an in-flight request finish before it
# exits 0.  The deadline is 10 s, so that "served meanwhile" (at once)
# and "at the deadline" stay far apart however slow the machine.
. "$(dirname "$0")/../lib.sh"


lf_config '[bus]
request_timeout_ms = 10000'
lf_stack_start agent-runtime
lf_wait_services agent-runtime
ar=${LF_PIDS[agent-runtime]}
trap 'rc=$?; kill -CONT $ar 2>/dev/null; lf_cleanup $rc' EXIT

kill -STOP "$ar"
curl -s -m 60 -o "$LF_TMP/slow" -w '%{http_code} %{time_total}\n' \
    "$LF_URL/api/agents" > "$LF_TMP/slow.code" &
cpid=$!
sleep 0.3
worst=$(lf_worst_ms 4 0.2)
t_ok "health is served while a bus call hangs, not after it (worst ${worst} ms)" \
    test "$worst" -lt 3000
wait $cpid
read -r code secs < "$LF_TMP/slow.code"
t_eq "a hung service: 503 at the bus deadline" "$code" 503
t_eq "503 body" "$(cat "$LF_TMP/slow")" \
    "{\"error\":\"service 'agent-runtime' did not answer in time\"}"
t_ok "after about 10 s ($secs s)" \
    awk -v t="$secs" 'BEGIN{exit !(t >= 9.5 && t < 20)}'

# SIGTERM with a request in flight: it is answered, then exit 0.
curl -s -m 60 -o "$LF_TMP/inflight" -w '%{http_code}\n' "$LF_URL/api/agents" \
    > "$LF_TMP/inflight.code" &
cpid=$!
sleep 0.3
# The stop waits for that request's deadline (some 10 s), at most the
# deadline and 2 s; one that waited for the hung service would be
# killed 30 s on.
LF_STOP_SECS=30 lf_stop api-gateway
wait $cpid
t_eq "SIGTERM: exit 0" "$LF_EXIT" 0
t_eq "the in-flight request got its answer" "$(cat "$LF_TMP/inflight.code")" 503
t_ok "shutdown bounded by the bus deadline (${LF_STOP_MS} ms)" test "$LF_STOP_MS" -lt 16000
kill -CONT "$ar"

lf_start api-gateway
lf_wait_health 10
lf_wait_services agent-runtime
lf_req GET /api/agents
t_eq "after a restart of the gateway: 200" "$LF_STATUS" 200

t_done
