#!/usr/bin/env bash
# POST /api/shutdown (issue 12 part 5): refused without the api_key; with
# it, answered {"status": "shutting_down"}, then librefangd stops the
# whole stack in order as on Ctrl-C: every child exits, PostgreSQL is
# stopped, librefangd exits 0, within bounds.  Without librefangd (as
# under docker compose) each service and gateway hears the bus
# announcement and exits 0 by itself, and each of two brokers exits 0
# once they have left (last).
. "$(dirname "$0")/../lib.sh"

KEY=t2102-shutdown-key-0123456789
export LIBREFANG_HOME=$LF_TMP/ldhome
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus
mkdir -p "$LIBREFANG_HOME"
printf 'api_key = "%s"\n' "$KEY" > "$LIBREFANG_HOME/config.toml"

LD_PID=
trap 'rc=$?; [ "$BASHPID" = "$$" ] && [ -n "$LD_PID" ] && { kill -TERM "$LD_PID" 2>/dev/null; lf_reap 15 "did not exit 15 s after SIGTERM" librefangd; }; lf_cleanup $rc' EXIT

"$LF_BIN/librefangd" >>"$LF_TMP/log/librefangd.log" 2>&1 &
LD_PID=$!
LF_PIDS[librefangd]=$LD_PID
export LF_AUTH=$KEY
t_ok "the stack comes up under librefangd" lf_wait_health 30
is_ready() { lf_req GET /api/ready; [ "$LF_STATUS" = 200 ]; }
t_ok "and is ready" lf_poll 600 is_ready
kids=$(pgrep -P "$LD_PID" | tr '\n' ' ')
t_eq "librefangd runs seven programs" "$(echo $kids | wc -w)" 7

LF_AUTH= lf_req POST /api/shutdown
t_eq "without the key: 401" "$LF_STATUS" 401
LF_AUTH=wrong-key lf_req POST /api/shutdown
t_eq "with a wrong key: 401" "$LF_STATUS" 401
sleep 1
t_ok "librefangd still runs" kill -0 "$LD_PID"
lf_req GET /api/health
t_eq "and the API still answers" "$LF_STATUS" 200

t0=$(lf_ms)
lf_req POST /api/shutdown
t_eq "with the key: 200" "$LF_STATUS" 200
t_eq "the spec's answer" "$(jbc .)" '{"status":"shutting_down"}'
gone() { ! kill -0 "$LD_PID" 2>/dev/null; }
t_ok "librefangd exits within 15 s" lf_poll 300 gone
wait "$LD_PID"
rc=$?
ms=$(( $(lf_ms) - t0 ))
LD_PID=
unset 'LF_PIDS[librefangd]'
t_eq "librefangd exit status 0" "$rc" 0
echo "# stopped in $ms ms"
t_ok "in bounds (under 10 s)" test "$ms" -lt 10000
alive=
for p in $kids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
t_eq "every child exited" "$alive" ""
t_ok "PostgreSQL is stopped" bash -c "! '$LF_ROOT/deploy/pg.sh' status '$LIBREFANG_HOME' >/dev/null 2>&1"
t_ok "librefangd logged the stop" grep -q "librefangd stops the stack" "$LF_TMP/log/librefangd.log"
t_ok "and stopped as on Ctrl-C" grep -q "librefangd.* stopped" "$LF_TMP/log/librefangd.log"
t_ok "no child was killed" bash -c "! grep -q 'did not stop in time' '$LF_TMP/log/librefangd.log'"
t_ok "its broker left the stop to librefangd (no wait of its own)" \
    bash -c "grep -q 'broker stopped' '$LF_TMP/log/librefangd.log' && ! grep -q 'shutdown went through' '$LF_TMP/log/librefangd.log'"

# ---- without librefangd: each process obeys the bus announcement --------
"$LF_ROOT/deploy/pg.sh" start "$LIBREFANG_HOME" test >/dev/null || echo "Bail out! no PostgreSQL"
LF_PG_UP=1
# Two brokers, which every process dials, as under compose (bus, bus2).
BUS2=ipc://$LF_TMP/bus2
lf_bg bus2 sh -c "exec env LIBREFANG_BUS_URL='$BUS2' '$LF_BIN/bus' >>'$LF_TMP/log/bus2.log' 2>&1"
export LIBREFANG_BUS_URL=$LIBREFANG_BUS_URL,$BUS2
lf_stack_start agent-runtime channels
lf_req POST /api/shutdown
t_eq "unsupervised: 200" "$LF_STATUS" 200
T0=$(lf_ms)
declare -A DONE
for p in agent-runtime channels api-gateway; do
	t_ok "$p exits" lf_poll 200 eval "! kill -0 ${LF_PIDS[$p]} 2>/dev/null"
	DONE[$p]=$(lf_ms)
	wait "${LF_PIDS[$p]}" 2>/dev/null
	t_eq "$p exit status 0" "$?" 0
	unset "LF_PIDS[$p]"
done
for p in bus bus2; do
	t_ok "the broker $p exits by itself once they left (within 12 s)" \
	    lf_poll 240 eval "! kill -0 ${LF_PIDS[$p]} 2>/dev/null"
	wait "${LF_PIDS[$p]}" 2>/dev/null
	t_eq "$p exit status 0" "$?" 0
	unset "LF_PIDS[$p]"
done
echo "# the services and gateway were gone $(( DONE[api-gateway] - T0 )) ms after the answer; the brokers $(( $(lf_ms) - T0 )) ms"
for p in bus bus2; do
	t_ok "$p said every process had left before it stopped" \
	    grep -q "every process has left" "$LF_TMP/log/$p.log"
done
t_done
