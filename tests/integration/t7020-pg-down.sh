#!/usr/bin/env bash
# t7020-pg-down.sh - PostgreSQL stopped and started, then frozen and
# thawed, under the whole stack (issue 11 item 4): while it is down every
# route that needs it answers 503 with a JSON error within a few seconds
# (never 500, never a hang), the services' loops (scheduler ticks, the
# audit relay, memory's maintenance) log the outage once, not a line per
# tick; once it is back a turn, a memory write, a scheduler fire and an
# audit verify work with no restart, and every process keeps its pid.
# Frozen (SIGSTOP on the postmaster and its backends: a server that
# closes nothing and answers nothing), calls are cut by the clients'
# own bounds (libshared/db.c): 503 within the bus deadline, then full
# service once it is thawed.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-pgdown-0123456789
lf_config '[bus]
request_timeout_ms = 3000

[scheduler]
min_interval_secs = 1
tick_ms = 100
lease_secs = 5'
lf_fake_stack
A=$(lf_agent pgdown m-pg)
t_ok "an agent ($A)" test -n "$A"
lf_req PUT "/api/memory/agents/$A/kv/before" '{"value": 1}'
t_eq "a memory write before" "$LF_STATUS" 200
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$A" '{agent_id: $a, name: "tick", schedule: {kind: "every", every_secs: 1}, prompt: "tick"}')"
t_eq "an every-1s job" "$LF_STATUS" 201
J=$(jb .id)
fires() { lf_psql "SELECT count(*) FROM scheduler.job_fires WHERE job_id = '$J' AND state <> 'running'"; }
has_fires() { [ "$(fires)" -ge "$1" ]; }
t_ok "it fires (10 s)" lf_poll 200 has_fires 1

# Every process of the stack, by name and pid: none may die or restart.
pids() {
	local p
	for p in $(printf '%s\n' "${!LF_PIDS[@]}" | sort); do
		case $p in fake-llm*) continue ;; esac
		kill -0 "${LF_PIDS[$p]}" 2>/dev/null && echo "$p=${LF_PIDS[$p]}" || echo "$p=dead"
	done
}
PIDS=$(pids)

# probe METHOD PATH [JSON]: one call, 20 s at most; sets LF_* and MS.
probe() {
	local t0
	t0=$(lf_ms)
	lf_req "$1" "$2" "${3:-}" -m 20
	MS=$(( $(lf_ms) - t0 ))
}
ROUTES=(
	"GET /api/agents"
	"GET /api/agents/$A"
	"GET /api/agents/$A/session"
	"POST /api/agents/$A/message {\"message\":\"while down\"}"
	"POST /api/agents {\"manifest_toml\":\"name = \\\"while-down\\\"\\n\"}"
	"GET /api/memory/agents/$A/kv/before"
	"PUT /api/memory/agents/$A/kv/during {\"value\":2}"
	"GET /api/audit/recent"
	"GET /api/audit/verify"
	"GET /api/cron/jobs"
	"GET /api/triggers"
	"GET /api/budget"
)
# all_503 MAX_MS WHAT [ATONCE]: every route above answers 503 with a JSON
# error within MAX_MS (the gateway's 3 s deadline and some, well short of
# probe's 20 s); with ATONCE, none with the deadline's error ("did not
# answer in time"): the service answered itself, without waiting for
# the database.  Prints each route's time as a comment.
all_503() {
	local r m p b bad=
	for r in "${ROUTES[@]}"; do
		read -r m p b <<<"$r"
		probe "$m" "$p" "$b"
		echo "# $2: $m $p: $LF_STATUS in $MS ms: $(head -c 100 <<<"$LF_BODY")"
		if [ "$LF_STATUS" != 503 ] || ! jq -e '.error | length > 0' <<<"$LF_BODY" >/dev/null 2>&1 ||
		    [ "$MS" -gt "$1" ] ||
		    { [ -n "${3:-}" ] && grep -q 'did not answer in time' <<<"$LF_BODY"; }; then
			bad="$bad $m:$p:$LF_STATUS:${MS}ms"
		fi
	done
	t_eq "$2: every route answers 503 with a JSON error within $1 ms${3:+, $3}" "$bad" ""
}
# warns SVC: its warning lines so far.
warns() { grep -c 'warn' "$LF_TMP/log/$1.log"; }

# ---- stopped ---------------------------------------------------------------------
lf_pg_stop
declare -A W0=()
for s in $LF_SERVICES; do W0[$s]=$(warns "$s"); done
all_503 12000 "stopped" "not at the bus deadline"
sleep 3	# some 30 scheduler ticks, memory's and audit's loops
quiet=
for s in $LF_SERVICES; do
	n=$(( $(warns "$s") - ${W0[$s]} ))
	echo "# $s: $n warning lines while PostgreSQL was stopped"
	[ "$n" -le 6 ] || quiet="$quiet $s:$n"
done
t_eq "no service logs a line per tick or per request while it is down" "$quiet" ""
t_ok "each says it lost the database" bash -c "grep -l 'lost the database' $LF_TMP/log/{agent-runtime,scheduler,memory,audit}.log | wc -l | grep -qx 4"
lf_pg_start

# back: a turn, a memory write, a fire and a verify, with no restart.
turn_ok() {
	lf_req POST "/api/agents/$A/message" '{"message": "back"}' -m 20
	[ "$LF_STATUS" = 200 ]
}
back() {
	local what=$1 f0
	t_ok "$what: a turn works again (30 s)" lf_poll 600 turn_ok
	t_eq "$what: its answer" "$(jb .response)" "echo: back"
	lf_req PUT "/api/memory/agents/$A/kv/after" '{"value": 3}'
	t_eq "$what: a memory write" "$LF_STATUS" 200
	f0=$(fires)
	t_ok "$what: the job fires again (10 s)" lf_poll 200 has_fires $((f0 + 1))
	lf_req GET /api/audit/verify
	t_eq "$what: the audit chain verifies" "$LF_STATUS $(jb .valid)" "200 true"
	t_eq "$what: every process still runs with its first pid" "$(pids)" "$PIDS"
}
back "restarted"

# ---- frozen: answers nothing, closes nothing -------------------------------------
PM=$(head -1 "$LIBREFANG_HOME/pg/data/postmaster.pid")
FROZEN=
thaw() { [ -n "$FROZEN" ] && kill -CONT $FROZEN 2>/dev/null; FROZEN=; }
trap 'rc=$?; thaw; lf_cleanup $rc' EXIT
FROZEN="$PM $(ps -o pid= --ppid "$PM" | tr '\n' ' ')"
kill -STOP $FROZEN
all_503 12000 "frozen"
thaw
back "thawed"

lf_stack_stop
t_done
