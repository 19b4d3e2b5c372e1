#!/usr/bin/env bash
# GET /api/ready, the readiness probe: 200 only when the gateway reaches the
# broker, every service has a live replica and PostgreSQL answers; else a
# 503 naming what is missing.  /api/health stays the liveness answer, "ok"
# from the gateway's first answer when the stack is up, and restart_count
# counts a service replaced, not one that merely reconnected.
. "$(dirname "$0")/../lib.sh"

# ready_until STATUS: polls /api/ready (10 s at most) until it answers
# STATUS; LF_STATUS/LF_BODY hold the last answer.
ready_until() {
	local i
	for ((i = 0; i < 200; i++)); do
		lf_req GET /api/ready
		[ "$LF_STATUS" = "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
missing() { jbc '.missing'; }
# first_health: polls /api/health (10 s at most) until the gateway answers
# at all and prints the status of that first answer.
first_health() {
	local i b
	for ((i = 0; i < 500; i++)); do
		b=$(curl -s -m 2 "$LF_URL/api/health") && [ -n "$b" ] &&
		    { printf '%s' "$b" | jq -r .status; return 0; }
		sleep 0.02
	done
	echo "no answer"
}

lf_stack_start
lf_req GET /api/health
t_eq "right after lf_stack_start's wait for /api/ready, health says ok" \
    "$LF_STATUS $(jb .status)" "200 ok"
lf_req GET /api/ready
t_eq "ready: 200" "$LF_STATUS" 200
t_eq "ready: status ready" "$(jb .status)" ready
t_eq "ready: JSON" "$(lf_hdr content-type)" application/json
t_eq "ready: checks name the bus, each service and the database" \
    "$(jb '[.checks[].name] | join(" ")')" \
    "bus agent-runtime scheduler memory audit channels database"
t_eq "ready: all ok" "$(jb '[.checks[].status] | unique | join(" ")')" ok
t_eq "ready: names and coarse states only" \
    "$(jb '[.checks[] | keys | join(",")] | unique | join(" ")')" "name,status"
t_eq "restart_count starts at 0" "$(curl -s "$LF_URL/api/health" | jq .restart_count)" 0

# ---- a service goes away --------------------------------------------------
lf_stop agent-runtime
t_ok "with agent-runtime stopped, ready turns 503" ready_until 503
t_eq "the 503 names it, and only it" "$(missing)" '["agent-runtime"]'
t_eq "error: not ready" "$(jb .error)" "not ready"
t_eq "its check says down" \
    "$(jb '.checks[] | select(.name == "agent-runtime") | .status')" down
t_eq "503 is JSON" "$(lf_hdr content-type)" application/json
lf_req GET /api/health
t_eq "health stays 200 (liveness), degraded" "$LF_STATUS $(jb .status)" \
    "200 degraded"
start=$(lf_ms)
lf_start agent-runtime
t_ok "ready again once agent-runtime is back" ready_until 200
# How soon is for a reader: the runtime's own start is most of it, and no
# slower mechanism stands between 1 s and ready_until's 10 s to tell apart.
echo "# ready $(( $(lf_ms) - start )) ms after agent-runtime was started"
lf_req GET /api/health
t_eq "and health says ok on the next answer" "$(jb .status)" ok
t_eq "a service that came back as a new process counts as restarted" \
    "$(jb .restart_count)" 1

# ---- the broker goes away ---------------------------------------------------
lf_stop bus
t_ok "without the broker, ready turns 503" ready_until 503
t_eq "naming the bus first" "$(jb '.missing[0]')" bus
t_eq "the services cannot be reached either" "$(jb '.missing | length')" 7
lf_start bus
t_ok "ready again once the broker is back" ready_until 200
lf_req GET /api/health
t_eq "services that only reconnected are not counted as restarts" \
    "$(jb .restart_count)" 1

# ---- PostgreSQL goes away -----------------------------------------------------
lf_pg_stop
t_ok "without PostgreSQL, ready turns 503" ready_until 503
t_eq "naming the database only" "$(missing)" '["database"]'
t_eq "its check says down" \
    "$(jb '.checks[] | select(.name == "database") | .status')" down
lf_pg_start
t_ok "ready again once PostgreSQL is back" ready_until 200

# ---- a gateway started after its services ------------------------------------
# Its first health round runs before it answers anything, so its very
# first answer already says ok (it used to say degraded for ~250 ms).
for i in 1 2 3; do
	lf_stop api-gateway
	lf_start api-gateway
	t_eq "a restarted gateway's first /api/health answer says ok ($i)" \
	    "$(first_health)" ok
done
lf_req GET /api/ready
t_eq "and its first /api/ready says 200" "$LF_STATUS" 200
lf_req POST /api/ready '{}'
t_eq "POST /api/ready: 405" "$LF_STATUS" 405

# ---- public, like /api/health ------------------------------------------------
lf_stop api-gateway
LIBREFANG_API_KEY=r3ady-k3y-0123456789 lf_start api-gateway
t_ok "the gateway with an api_key comes up" lf_wait_health 10
lf_req GET /api/ready
t_eq "/api/ready needs no credentials" "$LF_STATUS" 200
lf_req GET /api/v1/ready
t_eq "/api/v1/ready is /api/ready" "$LF_STATUS" 200
lf_req GET /api/health/detail
t_eq "while /api/health/detail does" "$LF_STATUS" 401

t_done
