#!/usr/bin/env bash
# librefangd, what `make run` starts: a private PostgreSQL, the broker, the
# services and the gateway; says it is up only once every service has
# joined; restarts a crashed service and /api/health counts it; stops
# everything (PostgreSQL included) on SIGTERM, none killed after its grace;
# again.
. "$(dirname "$0")/../lib.sh"

# Like ~/.librefang under a 0700 /root: a home the postgres user cannot
# traverse, so pg.sh must place the cluster elsewhere (as root).
mkdir -m 0700 "$LF_TMP/private"
export LIBREFANG_HOME=$LF_TMP/private/home
export LIBREFANG_BUS_URL=ipc://$LIBREFANG_HOME/run/bus

LD_PID=
# librefangd stops its children in 3.5 s at most, then PostgreSQL: a stop
# bounded at 15 s (lf_reap names and kills it past that).
stop_daemon() {
	kill -TERM "$LD_PID" 2>/dev/null
	lf_reap 15 "did not exit 15 s after SIGTERM" librefangd
	LD_PID=
}
trap 'rc=$?; [ "$BASHPID" = "$$" ] && [ -n "$LD_PID" ] && stop_daemon; lf_cleanup $rc' EXIT

start_daemon() {
	"$LF_BIN/librefangd" >>"$LF_TMP/log/librefangd.log" 2>&1 &
	LD_PID=$!
	LF_PIDS[librefangd]=$LD_PID
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
lf_req GET /api/ready
t_eq "when it says so, /api/ready says 200" "$LF_STATUS" 200
lf_req GET /api/health
t_eq "and /api/health says ok" "$(jb .status)" ok
# Every program logs to librefangd's output, in order: the broker's "replica
# of 'X' connected" lines come before "is up".
up_line=$(grep -n "LibreFang is up" "$LF_TMP/log/librefangd.log" | head -n 1 | cut -d: -f1)
for p in agent-runtime scheduler memory audit channels; do
	j=$(grep -n "replica of '$p' connected" "$LF_TMP/log/librefangd.log" | head -n 1 | cut -d: -f1)
	t_ok "it says it is up only after $p joined (line ${j:-none} < $up_line)" \
	    test -n "$j" -a "${j:-0}" -lt "${up_line:-0}"
done
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

# Restarts are counted: librefangd tells each child how often it was
# restarted, and /api/health adds them up.
# kill_runtime N: kill -9 agent-runtime, wait for its restart and for the
# stack to be ready again.
kill_runtime() {
	local old new i
	old=$(child_pid agent-runtime)
	kill -KILL "$old"
	for i in $(seq 200); do
		new=$(child_pid agent-runtime)
		[ -n "$new" ] && [ "$new" != "$old" ] && break
		sleep 0.05
	done
	t_ok "agent-runtime killed ($1) is restarted" test -n "$new" -a "$new" != "$old"
	t_ok "and the stack is ready again" lf_wait_ready 15
}
# restarts_at_least N: until /api/health's restart_count is N or more (the
# gateway polls each second).
restarts_at_least() {
	local i
	for i in $(seq 100); do
		lf_req GET /api/health
		[ "$(jb .restart_count)" -ge "$1" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
kill_runtime 1
kill_runtime 2
t_ok "restart_count counts both restarts (and the one of memory)" \
    restarts_at_least 3
t_eq "exactly those" "$(jb .restart_count)" 3
lf_req GET /api/health/detail
t_eq "agent-runtime's own restart_count is 2" \
    "$(jb '.services["agent-runtime"].restart_count')" 2
t_eq "memory's is 1" "$(jb '.services.memory.restart_count')" 1

# SIGTERM stops everything within 5 s, PostgreSQL included.
kids=$(pgrep -P "$LD_PID" | tr '\n' ' ')
start=$(date +%s%N)
stop_daemon; rc=$LF_EXIT
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_eq "librefangd exits 0 on SIGTERM" "$rc" "0"
# Its bound is its own: 3.5 s of grace, then SIGKILL (and a warning).
# How long it took is printed; a loaded machine stretches any figure.
echo "# stopped in $ms ms"
t_ok "every program stopped in its grace (none killed)" \
    bash -c "! grep -q 'did not stop in time' '$LF_TMP/log/librefangd.log'"
t_ok "within 60 s" test "$ms" -lt 60000
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
stop_daemon
t_eq "and stops cleanly again" "$LF_EXIT" "0"
t_done
