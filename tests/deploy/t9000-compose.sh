#!/usr/bin/env bash
# t9000-compose.sh - the compose stack for real (issue 11, items 1 and 2):
# the local base image (deploy/base-image.sh, cached), every image built
# from docker/ (layers cached), deploy/docker-compose.yml up under a
# project of its own, every container healthy by its own HEALTHCHECK,
# driven over HTTP on 127.0.0.1 only: health, an agent on the fake
# provider and a turn, a scheduled job, memory, the audit chain.  Then
# scaled in place to agent-runtime=3, api-gateway=2, scheduler=2, turns
# through both gateways, and torn down, volumes too, whatever happened
# (the EXIT trap).
#
# The fake provider runs on the host, bound to the compose network's
# gateway address, which the containers reach.  LF_DEPLOY_TAG (default
# "test") tags the images; LF_DEPLOY_PROJECT (tests/run.sh sets it, to
# sweep what a killed run leaves) names the project; LF_DEPLOY_KEEP=1
# leaves the stack up.
. "$(dirname "$0")/../lib.sh"

PROJECT=${LF_DEPLOY_PROJECT:-lfdeploy$$}
TAG=${LF_DEPLOY_TAG:-test}
COMPOSE_TMP=$LF_TMP
COMPOSE_KEEP=${LF_DEPLOY_KEEP:-}
. "$LF_ROOT/tests/deploy/compose.sh"

lf_unset_provider_keys
compose_env "$TAG"
export LF_AUTH=$LIBREFANG_API_KEY
trap 'rc=$?; compose_end $rc; lf_cleanup $rc' EXIT

# ---- images ------------------------------------------------------------------
T0=$(lf_ms)
t_ok "deploy/base-image.sh makes (or finds) the base image" \
    timeout 900 "$LF_ROOT/deploy/base-image.sh"
T1=$(lf_ms)
t_ok "a second run finds it and does nothing (idempotent)" \
    bash -c "out=\$(timeout 20 '$LF_ROOT/deploy/base-image.sh' 2>&1) && [ -z \"\$out\" ]"
if ! compose_images "$TAG"; then
	echo "not ok - deploy/images.sh $TAG"
	echo "Bail out! the images did not build"
	exit 1
fi
T2=$(lf_ms)
echo "# base image $(( (T1 - T0) / 1000 )) s, images $(( (T2 - T1) / 1000 )) s"
t_eq "the runtime runs as the non-root user librefang" \
    "$(docker run --rm --entrypoint id "librefang-agent-runtime:$TAG" -un)" librefang
t_ok "every program is in the image, stripped" \
    docker run --rm --entrypoint sh "librefang-bus:$TAG" -c \
    'for p in bus api-gateway agent-runtime scheduler memory audit channels bustool \
	    channel-irc channel-mqtt channel-xmpp channel-email; do
	 [ -x /usr/local/bin/$p ] || exit 1; done
     ! grep -q debug_info /usr/local/bin/agent-runtime'
# A missing runtime library (libmosquitto1, libstrophe0) stops a program
# before its main: --describe of each adapter proves they load.
t_eq "every channel adapter in the channels image loads its libraries (--describe)" \
    "$(docker run --rm --entrypoint sh "librefang-channels:$TAG" -c \
	'for p in /usr/local/bin/channel-*; do
	     "$p" --describe >/dev/null 2>&1 || echo "$p failed"; done; echo done')" \
    done
t_eq "the runtime image has no compiler" \
    "$(docker run --rm --entrypoint sh "librefang-bus:$TAG" -c 'command -v gcc cc make || echo none')" none
for s in bus agent-runtime scheduler memory audit channels api-gateway; do
	t_eq "librefang-$s has its own HEALTHCHECK" \
	    "$(docker image inspect -f '{{json .Config.Healthcheck.Test}}' "librefang-$s:$TAG")" \
	    "[\"CMD\",\"lf-healthcheck\",\"$s\"]"
done

# ---- up -------------------------------------------------------------------------
ALL1="postgres=1 bus=1 bus2=1 agent-runtime=1 scheduler=1 memory=1 audit=1 channels=1 api-gateway=1"

T3=$(lf_ms)
if ! compose_up; then
	echo "not ok - docker-compose up"
	echo "Bail out! the stack did not start"
	exit 1
fi
t_ok "every container healthy (its own HEALTHCHECK) within $HEALTH_SECS s" wait_healthy $ALL1
T4=$(lf_ms)
echo "# up to healthy: $(( (T4 - T3) / 1000 )) s"

LF_URL=$(gw_url 1)
t_ok "the gateway is published on 127.0.0.1 only ($LF_URL)" \
    bash -c "[[ '$LF_URL' == http://127.0.0.1:* ]] &&
	! docker port \$(docker-compose -p $PROJECT -f '$COMPOSE_FILE' ps -q api-gateway) | grep -v '127.0.0.1:'"
t_ok "only the gateway publishes a port" \
    bash -c "for id in \$(docker-compose -p $PROJECT -f '$COMPOSE_FILE' ps -q); do
	docker port \"\$id\" | grep -q . && echo \"\$id\"; done | wc -l | grep -qx 1"
t_eq "PostgreSQL runs as postgres, not root" \
    "$(dc exec -T postgres id -un 2>/dev/null | tr -d '\r')" postgres

# The configuration is the environment alone: what the gateway and a
# service read (-n prints it, secrets redacted).
GWCONF=$(dc exec -T api-gateway api-gateway -n 2>/dev/null)
t_eq "the gateway's config: listen, bus and rate limit from the environment" \
    "$(printf '%s' "$GWCONF" | jq -r '[.api_listen, .bus_url, ."rate_limit.api_requests_per_minute", .config_file] | join(" ")')" \
    "0.0.0.0:4545 tcp://bus:7000,tcp://bus2:7000 100000 "
t_ok "its API key is set, and redacted in the dump" \
    bash -c "printf '%s' '$GWCONF' | jq -e '.api_key != \"\" and .api_key != \"$LIBREFANG_API_KEY\"'"
MEMCONF=$(dc exec -T memory memory -n 2>/dev/null)
t_ok "a service's database URL is set, its password redacted" \
    bash -c "printf '%s' '$MEMCONF' | jq -e '.database_url != \"\"' >/dev/null &&
	! printf '%s' '$MEMCONF' | grep -qF '$LIBREFANG_DB_PASSWORD'"

# The probes are not vacuous: each fails where its program does not answer.
t_eq "lf-healthcheck api-gateway fails where no gateway listens" \
    "$(dc exec -T bus lf-healthcheck api-gateway 2>&1 | tr -d '\r\n'; echo " exit ${PIPESTATUS[0]}")" \
    "GET /api/health on 127.0.0.1:4545: no answer exit 1"
dc stop -t 5 channels >/dev/null 2>&1
t_ok "lf-healthcheck channels fails while channels is stopped" \
    bash -c "! docker-compose -p $PROJECT -f '$COMPOSE_FILE' exec -T bus lf-healthcheck channels >/dev/null"
dc start channels >/dev/null 2>&1
t_ok "and passes again once it is back" wait_healthy channels=1

lf_req GET /api/health
t_eq "GET /api/health: 200" "$LF_STATUS" 200
lf_req GET /api/version
t_eq "/api/version names the commit the images were built from" "$(jb .git_sha)" "$LF_GIT_SHA"
t_ok "GET /api/ready: 200 (broker, every service, PostgreSQL) within 60 s" lf_wait_ready 60
LF_AUTH= lf_req GET /api/agents
t_eq "the API key is required" "$LF_STATUS $(jb 'has("error")')" "401 true"
LF_AUTH=wrong-key lf_req GET /api/agents
t_eq "a wrong key is refused" "$LF_STATUS" 401

# ---- the fake provider, reachable from the containers -------------------------------
GW=$(compose_netgw)
[ -n "$GW" ] || { echo "Bail out! no gateway address for the compose network"; exit 1; }
lf_fake_start --host "$GW"
LF_FAKE_URL=http://$GW:${LF_FAKE_URL##*:}

# turn URL AGENT TEXT: one turn through gateway URL; prints "status reply".
turn() {
	local u=$LF_URL
	LF_URL=$1
	lf_req POST "/api/agents/$2/message" "$(lf_msg_json "$3")"
	LF_URL=$u
	echo "$LF_STATUS $(jb .response)"
}

A=$(lf_agent deployed m-deploy)
t_ok "an agent spawns on the fake provider" test -n "$A"
t_eq "a turn runs in the containers and answers" "$(turn "$LF_URL" "$A" hello)" "200 echo: hello"
t_eq "the fake provider got it, with its key" \
    "$(lf_fake_requests m-deploy | jq -r '.[0].headers.authorization // .[0].headers.Authorization')" \
    "Bearer $FAKE_API_KEY"

# ---- a scheduled job ----------------------------------------------------------------------
AT=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$A" --arg at "$AT" \
    '{agent_id: $a, name: "deploy-once", schedule: {kind: "at", at: $at}, prompt: "Scheduled hello"}')"
t_eq "a one-shot job is created" "$LF_STATUS" 201
J=$(jb .id)
job_ran() {
	lf_req GET "/api/cron/jobs/$J/status"
	[ "$(jb .run_count)" = 1 ] && [ "$(jb .last_status)" = ok ]
}
t_ok "it fires once, its turn answered, within 20 s" lf_poll 400 job_ran
t_eq "the provider saw the job's prompt" \
    "$(lf_fake_requests m-deploy | jq -r '[.[].body.messages[-1].content] | index("Scheduled hello") != null')" true

# ---- memory and audit -------------------------------------------------------------------------
lf_req POST /api/memory "$(jq -nc --arg a "$A" '{agent_id: $a, content: "The deploy test stores this fact", level: "agent"}')"
t_eq "memory stores an item" "$LF_STATUS $(jb .added)" "200 1"
lf_req GET "/api/memory/agents/$A"
t_eq "and lists it" "$LF_STATUS $(jb .total) $(jb '.memories[0].content')" \
    "200 1 The deploy test stores this fact"
audit_has() {
	lf_req GET '/api/audit/recent?limit=500'
	[ "$(jb '.entries | length')" -ge "$1" ]
}
t_ok "the audit log has the spawn, the turns and the job (within 10 s)" lf_poll 200 audit_has 3
lf_req GET /api/audit/verify
t_eq "the audit chain verifies" "$LF_STATUS $(jb .status) $(jb .valid)" "200 valid true"

# ---- scale in place -----------------------------------------------------------------------
T5=$(lf_ms)
if ! dc up -d --no-recreate --scale agent-runtime=3 --scale api-gateway=2 \
    --scale scheduler=2 >"$LF_TMP/scale.log" 2>&1; then
	echo "# docker-compose up --scale failed:"
	tail -n 30 "$LF_TMP/scale.log" | sed 's/^/#   /'
fi
t_ok "scaled to agent-runtime=3, api-gateway=2, scheduler=2, all healthy" \
    wait_healthy postgres=1 bus=1 bus2=1 agent-runtime=3 scheduler=2 memory=1 audit=1 channels=1 api-gateway=2
T6=$(lf_ms)
echo "# scale to healthy: $(( (T6 - T5) / 1000 )) s"
t_ok "the first containers were kept, not recreated" \
    bash -c "grep -qiE 'recreat' '$LF_TMP/scale.log' && exit 1; exit 0"
G1=$(gw_url 1)
G2=$(gw_url 2)
t_ok "the second gateway has a port of its own on 127.0.0.1 ($G2)" \
    bash -c "[[ '$G2' == http://127.0.0.1:* ]] && [ '$G1' != '$G2' ]"
# The new replicas joined the broker before they were healthy (their
# sys.health goes through it); /api/ready says every service answers.
LF_URL=$G2 t_ok "the second gateway is ready" lf_wait_ready 30

# Turns through both gateways: spread over three runtimes by the broker.
bad=0
for i in 1 2 3 4 5 6; do
	for g in "$G1" "$G2"; do
		r=$(turn "$g" "$A" "scaled $i")
		[ "$r" = "200 echo: scaled $i" ] || { bad=$((bad + 1)); echo "# $g turn $i: $r"; }
	done
done
t_eq "12 turns through two gateways all answered" "$bad" 0
t_eq "the provider saw every one" \
    "$(lf_fake_requests m-deploy | jq '[.[] | select(.body.messages[-1].content | startswith("scaled"))] | length')" 12
served=0
for id in $(dc ps -q agent-runtime); do
	docker logs "$id" 2>&1 | grep -q "serving 'agent-runtime'" && served=$((served + 1))
done
t_eq "three agent-runtime replicas serve" "$served" 3
lf_req GET /api/audit/verify
t_eq "the audit chain still verifies after scaling" "$LF_STATUS $(jb .valid)" "200 true"

# ---- down -------------------------------------------------------------------------------------
T7=$(lf_ms)
compose_end 0
t_eq "down -v leaves no container, network or volume of the project" \
    "$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | wc -l) $(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT" | wc -l) $(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | wc -l)" \
    "0 0 0"
echo "# down: $(( ($(lf_ms) - T7) / 1000 )) s; whole script: $(( ($(lf_ms) - T0) / 1000 )) s"
t_done
