# compose.sh - what every script that drives deploy/docker-compose.yml
# shares (tests/deploy/t9*.sh and tests/bench/deploy.sh): the stack's
# environment, dc, the health waits, the images, the gateway's URLs, the
# network's address for fakes on the host, and down.  Sourced, not run.
#
# The sourcing script sets, before calling any of it:
#   PROJECT        its compose project (tests/run.sh sweeps what is left)
#   COMPOSE_TMP    a scratch directory for logs
# and may set:
#   COMPOSE_OVERRIDE  a second compose file, merged over the first
#   HEALTH_SECS    bound of wait_healthy (180)
#   COMPOSE_SAY    prefix of its diagnostic lines ("# ", TAP's comment)
#   COMPOSE_KEEP   non-empty: compose_down leaves the stack up, says how
# Every docker-compose call is bounded (DC_SECS, 300) and runs in the
# caller's process group (--foreground), so a SIGTERM to the group stops
# it too and the caller's EXIT trap still runs.

COMPOSE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COMPOSE_FILE=$COMPOSE_ROOT/deploy/docker-compose.yml
HEALTH_SECS=${HEALTH_SECS:-180}
COMPOSE_SAY=${COMPOSE_SAY-# }

# compose_env TAG: the stack's configuration, which is the environment
# alone.  The caller may change any of it afterwards.
compose_env() {
	# lib.sh's ipc:// bus and private database must not reach the
	# compose file, which reads both to allow overriding them.
	unset LIBREFANG_BUS_URL LIBREFANG_DATABASE_URL
	export LIBREFANG_VERSION=$1
	export LIBREFANG_DB_PASSWORD=dbpw$RANDOM$RANDOM
	export LIBREFANG_API_KEY=key-$RANDOM$RANDOM$RANDOM
	export FAKE_API_KEY=sk-fake-deploy-0123456789
	# Every request comes from one address (the published port's
	# proxy): no per-IP limit may shape what the script sends.
	export LIBREFANG_RATE_LIMIT_PER_MINUTE=100000
	export LF_GIT_SHA
	LF_GIT_SHA=$(git -C "$COMPOSE_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
	# Text log lines read better in a failed run's dump than JSON.
	export LIBREFANG_LOG_JSON=false
	# Four free consecutive loopback ports for the gateways (docker
	# picks one of the range per replica).
	export LIBREFANG_API_PORTS
	LIBREFANG_API_PORTS=$(python3 -c '
import random, socket
for _ in range(200):
    b = random.randrange(20000, 60000)
    ok = True
    for p in range(b, b + 4):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        s.close()
    if ok:
        print("%d-%d" % (b, b + 3)); break')
}

dc() {
	timeout --foreground "${DC_SECS:-300}" docker-compose -p "$PROJECT" \
	    -f "$COMPOSE_FILE" ${COMPOSE_OVERRIDE:+-f "$COMPOSE_OVERRIDE"} \
	    --ansi never "$@"
}

# compose_images TAG: deploy/images.sh (cached layers); on failure says
# why and returns 1.
compose_images() {
	if ! timeout --foreground 1500 "$COMPOSE_ROOT/deploy/images.sh" "$1" \
	    >"$COMPOSE_TMP/images.log" 2>&1; then
		echo "${COMPOSE_SAY}deploy/images.sh $1 failed:"
		tail -n 40 "$COMPOSE_TMP/images.log" | sed "s/^/${COMPOSE_SAY}  /"
		return 1
	fi
}

# compose_up ARGS..: docker-compose up -d ARGS; on failure says why and
# returns 1.  Two of docker's own failures, where no process of ours ran,
# get one more up -d, as an operator would: two gateway replicas share
# the published port range and, started at once, docker can hand both
# the same port ("port is already allocated"); and on a loaded machine
# docker-compose's wait for the engine's answer can run out ("Read timed
# out", COMPOSE_HTTP_TIMEOUT, raised here from 60 s to 180).
compose_up() {
	local try
	for try in 1 2; do
		COMPOSE_HTTP_TIMEOUT=180 dc up -d "$@" >"$COMPOSE_TMP/up.log" 2>&1 &&
		    return 0
		echo "${COMPOSE_SAY}docker-compose up -d $* failed:"
		tail -n 30 "$COMPOSE_TMP/up.log" | sed "s/^/${COMPOSE_SAY}  /"
		grep -qE 'port is already allocated|Read timed out' \
		    "$COMPOSE_TMP/up.log" || return 1
		[ $try = 1 ] && echo "${COMPOSE_SAY}docker's own failure: up -d once more"
	done
	return 1
}

# healthy SERVICE N: N containers of SERVICE run and every one is healthy.
healthy() {
	local id n=0
	for id in $(dc ps -q "$1" 2>/dev/null); do
		[ "$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null)" = healthy ] || return 1
		n=$((n + 1))
	done
	[ "$n" = "$2" ]
}
# health_of SERVICE: each container's state, health and last probe output.
health_of() {
	local id
	for id in $(dc ps -q "$1" 2>/dev/null); do
		printf ' [%s]' "$(docker inspect "$id" | jq -r '.[0].State |
		    .Status + "/" + (.Health.Status // "none") + " " +
		    ((.Health.Log // [])[-1].Output // "" | .[0:200] | gsub("\n"; " "))')"
	done
}
# wait_healthy "SERVICE=N ..": bounded (HEALTH_SECS); says what is not.
wait_healthy() {
	local end=$((SECONDS + HEALTH_SECS)) sn ok
	while :; do
		ok=1
		for sn in "$@"; do
			healthy "${sn%=*}" "${sn#*=}" || { ok=0; break; }
		done
		[ $ok = 1 ] && return 0
		if [ $SECONDS -ge $end ]; then
			for sn in "$@"; do
				healthy "${sn%=*}" "${sn#*=}" ||
				    echo "${COMPOSE_SAY}${sn%=*}: not ${sn#*=} healthy containers after $HEALTH_SECS s:$(health_of "${sn%=*}")"
			done
			return 1
		fi
		sleep 0.5
	done
}

# gw_url N: the URL of gateway replica N on the host.
gw_url() {
	local hp
	hp=$(dc port --index="$1" api-gateway 4545 2>/dev/null)
	[ -n "$hp" ] && echo "http://$hp"
}

# compose_netgw: the compose network's gateway address, where a fake on
# the host listens for the containers.
compose_netgw() {
	local net
	net=$(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT" | head -1)
	[ -n "$net" ] && docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$net" 2>/dev/null
}

compose_logs() {
	echo "${COMPOSE_SAY}--- docker-compose ps"
	dc ps 2>&1 | sed "s/^/${COMPOSE_SAY}  /"
	echo "${COMPOSE_SAY}--- the last log lines of each container"
	dc logs --no-color --tail 15 2>&1 | sed "s/^/${COMPOSE_SAY}  /" | tail -n 200
}

# compose_down: the stack, its network and its volumes, gone (bounded),
# once; with COMPOSE_KEEP set, left up, with the command to end it.
COMPOSE_DOWN=0
compose_down() {
	[ $COMPOSE_DOWN = 0 ] || return 0
	COMPOSE_DOWN=1
	if [ -n "${COMPOSE_KEEP:-}" ]; then
		echo "${COMPOSE_SAY}kept the stack: docker-compose -p $PROJECT -f $COMPOSE_FILE${COMPOSE_OVERRIDE:+ -f $COMPOSE_OVERRIDE} down -v"
		return 0
	fi
	DC_SECS=120 dc down -v --remove-orphans -t 10 >"$COMPOSE_TMP/down.log" 2>&1 ||
	    { echo "${COMPOSE_SAY}docker-compose down failed:"; tail -n 20 "$COMPOSE_TMP/down.log" | sed "s/^/${COMPOSE_SAY}  /"; }
}

# compose_end RC: for a test's EXIT trap: the containers' logs when
# anything failed (RC or lib.sh's T_FAILED), then down.
compose_end() {
	if [ $COMPOSE_DOWN = 0 ] && { [ "${T_FAILED:-0}" != 0 ] || [ "$1" != 0 ]; }; then
		compose_logs
	fi
	compose_down
}
