#!/usr/bin/env bash
# librefangd, what `make run` starts: a private PostgreSQL, the broker, the
# services and the gateway; restarts a crashed service; stops everything
# (PostgreSQL included) within 5 s of SIGTERM; finds its data again.
. "$(dirname "$0")/../lib.sh"

# Like ~/.librefang under a 0700 /root: a home the postgres user cannot
# traverse, so pg.sh must place the cluster elsewhere (as root).
mkdir -m 0700 "$LF_TMP/private"
export LIBREFANG_HOME=$LF_TMP/private/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus

LD_PID=
trap 'rc=$?; [ -n "$LD_PID" ] && kill -TERM "$LD_PID" 2>/dev/null && wait "$LD_PID"; lf_cleanup $rc' EXIT

start_daemon() {
	"$LF_BIN/librefangd" >>"$LF_TMP/log/librefangd.log" 2>&1 &
	LD_PID=$!
}
child_pid() {	# the pid of a supervised program
	pgrep -P "$LD_PID" -x "$1" | head -n 1
}

start_daemon
t_ok "the API answers after librefangd starts" lf_wait_health 30
t_ok "it started its own PostgreSQL" "$LF_ROOT/deploy/pg.sh" status "$LIBREFANG_HOME"
# librefangd polls on its own; give it a moment to notice and say so.
said() {
	local i
	for i in $(seq 100); do
		grep -q "$1" "$LF_TMP/log/librefangd.log" && return 0
		sleep 0.05
	done
	return 1
}
t_ok "it says where the API is" said "LibreFang is up: http://$LIBREFANG_API_LISTEN"
for p in bus agent-runtime scheduler memory audit channels api-gateway; do
	t_ok "it runs $p" test -n "$(child_pid $p)"
done

t_ok "the agent runtime joins" lf_wait_ok /api/agents
lf_req POST /api/agents '{"manifest_toml":"name = \"persistent-one\"\n"}'
t_eq "an agent can be spawned" "$LF_STATUS" "201"
id=$(echo "$LF_BODY" | jq -r .agent_id)

# A crashed service is restarted.
old=$(child_pid memory)
kill -KILL "$old"
new=
for i in $(seq 100); do
	new=$(child_pid memory)
	[ -n "$new" ] && [ "$new" != "$old" ] && break
	sleep 0.05
done
t_ok "a killed service is restarted" test -n "$new" -a "$new" != "$old"
t_ok "the restart is logged" said "'memory' killed by signal 9"

# SIGTERM stops everything within 5 s, PostgreSQL included.
kids=$(pgrep -P "$LD_PID" | tr '\n' ' ')
start=$(date +%s%N)
kill -TERM "$LD_PID"
wait "$LD_PID"; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_eq "librefangd exits 0 on SIGTERM" "$rc" "0"
t_ok "within 5 s (${ms} ms)" test "$ms" -lt 5000
alive=0
for k in $kids; do kill -0 "$k" 2>/dev/null && alive=$((alive + 1)); done
t_eq "no supervised program is left ($(echo $kids | wc -w) were running)" "$alive" "0"
t_ok "PostgreSQL is stopped" bash -c "! '$LF_ROOT/deploy/pg.sh' status '$LIBREFANG_HOME'"

# A second start finds the same data.
start_daemon
t_ok "a second start comes up" lf_wait_health 30
lf_wait_ok /api/agents
lf_req GET "/api/agents/$id"
t_eq "and finds the agent again" "$(echo "$LF_BODY" | jq -r .name)" "persistent-one"
kill -TERM "$LD_PID"; wait "$LD_PID"
t_eq "and stops cleanly again" "$?" "0"
t_done
