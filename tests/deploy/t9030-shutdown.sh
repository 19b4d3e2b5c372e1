#!/usr/bin/env bash
# t9030-shutdown.sh - POST /api/shutdown stops a compose stack (issue 12
# item 5) while a crash is still restarted.  The stack runs 2
# agent-runtimes and 2 gateways, with `restart: on-failure`:
# - a service whose process is killed with kill -9 (from the host, not
#   `docker kill`, which docker counts as a stop) is started again by
#   docker and is healthy again;
# - /api/shutdown without the key, or with a wrong one: 401, and nothing
#   stops;
# - with the key: 200 {"status":"shutting_down"}; within 20 s every
#   LibreFang container (both brokers, every service and gateway replica)
#   has exited with status 0, the brokers last (each logs that every
#   process had left), and 5 s later none has been started again;
#   PostgreSQL still runs;
# - `docker-compose up -d` brings the stack back, healthy, with the agent
#   made before.
# Torn down by project name, volumes too, whatever happened (EXIT trap).
# LF_DEPLOY_TAG (default "test"), LF_DEPLOY_PROJECT, LF_DEPLOY_KEEP=1 as
# in t9000.
. "$(dirname "$0")/../lib.sh"

PROJECT=${LF_DEPLOY_PROJECT:-lfdeploy$$}
TAG=${LF_DEPLOY_TAG:-test}
COMPOSE_TMP=$LF_TMP
COMPOSE_KEEP=${LF_DEPLOY_KEEP:-}
. "$LF_ROOT/tests/deploy/compose.sh"

SCALE="--scale agent-runtime=2 --scale api-gateway=2"
ALL="postgres=1 bus=1 bus2=1 agent-runtime=2 scheduler=1 memory=1 audit=1 channels=1 api-gateway=2"

lf_unset_provider_keys
compose_env "$TAG"
export LF_AUTH=$LIBREFANG_API_KEY
trap 'rc=$?; compose_end $rc; lf_cleanup $rc' EXIT

# ---- images (cached) and up ---------------------------------------------------------
T0=$(lf_ms)
if ! compose_images "$TAG"; then
	echo "not ok - deploy/images.sh $TAG"
	echo "Bail out! the images did not build"
	exit 1
fi
T1=$(lf_ms)
# shellcheck disable=SC2086
if ! compose_up $SCALE; then
	echo "not ok - docker-compose up"
	echo "Bail out! the stack did not start"
	exit 1
fi
t_ok "agent-runtime=2, api-gateway=2 and the rest, all healthy within $HEALTH_SECS s" \
    wait_healthy $ALL || { echo "Bail out! the stack is not healthy"; exit 1; }
T2=$(lf_ms)
echo "# images $(( (T1 - T0) / 1000 )) s, up to healthy $(( (T2 - T1) / 1000 )) s"
LF_URL=$(gw_url 1)
t_ok "GET /api/ready: 200 within 60 s" lf_wait_ready 60
t_eq "every LibreFang container has restart: on-failure, PostgreSQL unless-stopped" \
    "$(for id in $(dc ps -q); do docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.HostConfig.RestartPolicy.Name}}' "$id"; done | sort -u | tr '\n' ' ')" \
    "agent-runtime on-failure api-gateway on-failure audit on-failure bus on-failure bus2 on-failure channels on-failure memory on-failure postgres unless-stopped scheduler on-failure "

lf_req POST /api/agents "$(lf_spawn_json 'name = "before-shutdown"')"
t_eq "an agent spawns" "$LF_STATUS" 201
A=$(jb .agent_id)

# ---- a crash is still restarted ------------------------------------------------------
# The program itself, killed from the host: tini (the container's PID 1)
# exits 137, a failure.
MEM=$(dc ps -q memory)
TINI=$(docker inspect -f '{{.State.Pid}}' "$MEM")
PROG=$(pgrep -P "$TINI" -x memory)
t_ok "memory runs under tini in its container (pid $PROG)" test -n "$PROG"
kill -KILL "$PROG"
restarted() {
	[ "$(docker inspect -f '{{.RestartCount}} {{.State.Running}}' "$MEM")" = "1 true" ]
}
t_ok "memory killed with kill -9 is started again by docker (within 10 s)" lf_poll 200 restarted
t_ok "and is healthy again" wait_healthy memory=1
lf_req GET "/api/agents/$A"
t_eq "the stack answers as before" "$LF_STATUS" 200

# ---- /api/shutdown ---------------------------------------------------------------------
# Every container of the project but PostgreSQL: "service exit running
# restarts", sorted.
lf_containers() {
	local id pg
	pg=$(dc ps -q postgres)
	for id in $(dc ps -aq); do
		[ "$id" = "$pg" ] && continue
		docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.State.ExitCode}} {{.State.Running}} {{.RestartCount}}' "$id"
	done | sort
}
BEFORE=$(lf_containers)
t_eq "ten LibreFang containers run" "$(grep -c ' true ' <<<"$BEFORE")" 10

LF_AUTH= lf_req POST /api/shutdown
t_eq "without the key: 401 {error}" "$LF_STATUS $(jb 'has("error")')" "401 true"
LF_AUTH=wrong-key lf_req POST /api/shutdown
t_eq "with a wrong key: 401" "$LF_STATUS" 401
sleep 1
t_eq "nothing stopped" "$(lf_containers)" "$BEFORE"

T3=$(lf_ms)
lf_req POST /api/shutdown
t_eq "with the key: 200" "$LF_STATUS" 200
t_eq "the spec's answer" "$(jbc .)" '{"status":"shutting_down"}'
all_exited() { ! lf_containers | grep -q ' true '; }
t_ok "every LibreFang container exits within 20 s" lf_poll 400 all_exited
T4=$(lf_ms)
echo "# every container exited $(( (T4 - T3) / 1000 )) s after the answer (polled)"
AFTER=$(lf_containers)
t_eq "each with status 0" "$(awk '$2 != 0' <<<"$AFTER")" ""
echo "$AFTER" | sed 's/^/#   /'
# When each one's process ended (docker's FinishedAt, ms).
finished() {
	local id
	for id in $(dc ps -aq "$1"); do
		date -d "$(docker inspect -f '{{.State.FinishedAt}}' "$id")" +%s%3N
	done
}
OTHERS=0
for s in agent-runtime scheduler memory audit channels api-gateway; do
	for f in $(finished "$s"); do
		[ "$f" -gt "$OTHERS" ] && OTHERS=$f
	done
done
BUSES=$(finished bus; finished bus2)
FIRST_BUS=$(sort -n <<<"$BUSES" | head -n 1)
echo "# the last service or gateway ended $((OTHERS - T3)) ms after the request, the brokers $(( FIRST_BUS - T3 ))..$(( $(sort -n <<<"$BUSES" | tail -n 1) - T3 )) ms"
# The order itself is in the brokers' logs: each stopped once no process
# had a connection open to it (a process closes them just before it
# exits, so docker may note the two exits a few ms either way).
for s in bus bus2; do
	t_ok "$s stopped last: once every process had left it (its log)" \
	    bash -c "docker logs $(dc ps -aq "$s") 2>&1 | grep -q 'every process has left' &&
		! docker logs $(dc ps -aq "$s") 2>&1 | grep -q 'connections still open'"
done
# docker notes an exit when it hears of it, which a loaded machine can
# delay by a second or more: the brokers' logs above say the order.
t_ok "and neither ended much before the last service or gateway did (docker's FinishedAt, 2 s)" \
    test "$FIRST_BUS" -ge $((OTHERS - 2000))
sleep 5
t_eq "5 s later none was started again (the same exits, no restart)" "$(lf_containers)" "$AFTER"
t_eq "PostgreSQL still runs" "$(docker inspect -f '{{.State.Running}}' "$(dc ps -q postgres)")" true

# ---- up again ---------------------------------------------------------------------------
T5=$(lf_ms)
# shellcheck disable=SC2086
if ! compose_up $SCALE; then
	echo "not ok - docker-compose up -d again"
	echo "Bail out! the stack did not start again"
	exit 1
fi
t_ok "docker-compose up -d: every container healthy again" wait_healthy $ALL
echo "# up again to healthy: $(( ($(lf_ms) - T5) / 1000 )) s"
LF_URL=$(gw_url 1)
t_ok "GET /api/ready: 200 within 60 s" lf_wait_ready 60
lf_req GET /api/agents
t_eq "the agent made before the shutdown is listed" \
    "$LF_STATUS $(jb --arg a "$A" '[.[] | select(.id == $a) | .name] | join(",")')" "200 before-shutdown"
echo "# whole script: $(( ($(lf_ms) - T0) / 1000 )) s"
t_done
