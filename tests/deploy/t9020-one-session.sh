#!/usr/bin/env bash
# t9020-one-session.sh - one session, many replicas, in real containers
# (issue 11, item 5).  The compose stack runs 2 api-gateways, 3
# agent-runtimes and 2 schedulers against the instant fake provider on the
# host:
# - 50 concurrent messages to one agent's one session, spread over both
#   gateways: all 50 answer with their own echo; the provider saw 50
#   turns, one per message, each seeing only complete exchanges (every
#   user message followed by its own answer) and the turn before it whole
#   as its last exchange (one at a time, none lost, none doubled); the
#   runtime recorded 50 turns; the session (compacted past 30 messages)
#   ends with the last turns' exchanges in that order;
# - four jobs firing every 3 s, catch_up "all" (a slot a loaded machine
#   reaches late still fires; t9020-override.yml gives the schedulers a
#   config with min_interval_secs = 1 and a 3 s lease): both replicas
#   fire; the one holding a slow one-shot fire in flight is killed with
#   `docker kill`; the other takes that fire over (the provider still sees
#   its turn once) and goes on, and every slot fires exactly once, with no
#   gap (the fire rows, run_count and the provider's requests agree);
# - the audit chain verifies at the end.
# Torn down by project name, volumes too, whatever happened (EXIT trap).
# LF_DEPLOY_TAG (default "test"), LF_DEPLOY_PROJECT, LF_DEPLOY_KEEP=1 as
# in t9000.
. "$(dirname "$0")/../lib.sh"

PROJECT=${LF_DEPLOY_PROJECT:-lfdeploy$$}
TAG=${LF_DEPLOY_TAG:-test}
COMPOSE_TMP=$LF_TMP
COMPOSE_KEEP=${LF_DEPLOY_KEEP:-}
COMPOSE_OVERRIDE=$LF_ROOT/tests/deploy/t9020-override.yml
. "$LF_ROOT/tests/deploy/compose.sh"

N_MSG=50
N_JOBS=4
# A job's status lists its last 20 fires, all of which are checked: at
# 3 s a slot, even the slowest run (every wait at its bound) stays under.
EVERY=3

lf_unset_provider_keys
compose_env "$TAG"
# 50 requests at once, all from one address.
export LIBREFANG_API_MAX_CONNECTIONS_PER_IP=200
export LF_AUTH=$LIBREFANG_API_KEY

# The schedulers' config (mounted by the override): fast slots, a short
# lease so a fire held by the killed replica is taken over within seconds.
export LF_T9020_SCHED_TOML=$LF_TMP/scheduler.toml
printf '[scheduler]\nmin_interval_secs = 1\ntick_ms = 100\nlease_secs = 3\n' >"$LF_T9020_SCHED_TOML"
chmod 644 "$LF_T9020_SCHED_TOML"

trap 'rc=$?; compose_end $rc; lf_cleanup $rc' EXIT

# ---- images (cached) and up, scaled ---------------------------------------------
T0=$(lf_ms)
if ! compose_images "$TAG"; then
	echo "not ok - deploy/images.sh $TAG"
	echo "Bail out! the images did not build"
	exit 1
fi

T1=$(lf_ms)
if ! compose_up --scale agent-runtime=3 --scale api-gateway=2 --scale scheduler=2; then
	echo "not ok - docker-compose up --scale"
	echo "Bail out! the stack did not start"
	exit 1
fi
t_ok "agent-runtime=3, api-gateway=2, scheduler=2 and the rest, all healthy within $HEALTH_SECS s" \
    wait_healthy postgres=1 bus=1 bus2=1 agent-runtime=3 scheduler=2 memory=1 audit=1 channels=1 api-gateway=2 ||
    { echo "Bail out! the scaled stack is not healthy"; exit 1; }
T2=$(lf_ms)
echo "# images $(( (T1 - T0) / 1000 )) s, up to healthy $(( (T2 - T1) / 1000 )) s"

G1=$(gw_url 1)
G2=$(gw_url 2)
t_ok "two gateways, each on its own port of 127.0.0.1 ($G1 $G2)" \
    bash -c "[[ '$G1' == http://127.0.0.1:* && '$G2' == http://127.0.0.1:* ]] && [ '$G1' != '$G2' ]"
LF_URL=$G1
t_ok "gateway 1 ready (broker, every service, PostgreSQL) within 60 s" lf_wait_ready 60
LF_URL=$G2 t_ok "gateway 2 ready within 30 s" lf_wait_ready 30
for i in 1 2; do
	t_eq "scheduler $i reads the test's config.toml, without a warning" \
	    "$(dc exec -T --index=$i scheduler scheduler -n 2>/dev/null |
		jq -r '"\(.config_file) \(.config_warnings | length)"')" "/var/lib/librefang/config.toml 0"
done

# ---- the fake provider, reachable from the containers -----------------------------
GW=$(compose_netgw)
[ -n "$GW" ] || { echo "Bail out! no gateway address for the compose network"; exit 1; }
lf_fake_start --host "$GW"
LF_FAKE_URL=http://$GW:${LF_FAKE_URL##*:}

A=$(lf_agent onesession m-one)
t_ok "an agent spawns on the fake provider" test -n "$A"
lf_req GET "/api/agents/$A/session"
SID=$(jb .session_id)
t_eq "its session starts empty" "$LF_STATUS $(jb .message_count)" "200 0"

# ---- 50 concurrent messages to the one session, over both gateways ----------------------
# Each its own curl (lf_req's files are per shell, not per request), odd
# ones to gateway 1, even ones to gateway 2, all started before any is
# waited for.  curl -m bounds each, so the wait is bounded.
mkdir -p "$LF_TMP/msg"
T3=$(lf_ms)
pids=()
for i in $(seq $N_MSG); do
	if [ $((i % 2)) = 1 ]; then g=$G1; else g=$G2; fi
	curl -s -m 150 -o "$LF_TMP/msg/$i.body" -w '%{http_code}' \
	    -H "Authorization: Bearer $LF_AUTH" -H 'Content-Type: application/json' \
	    --data-binary "$(lf_msg_json "message $i of $N_MSG")" \
	    "$g/api/agents/$A/message" >"$LF_TMP/msg/$i.status" 2>/dev/null &
	pids+=($!)
done
wait "${pids[@]}"
T4=$(lf_ms)
echo "# $N_MSG concurrent turns on one session: $(( (T4 - T3) / 1000 )) s"
bad=0
for i in $(seq $N_MSG); do
	st=$(cat "$LF_TMP/msg/$i.status" 2>/dev/null)
	r=$(jq -r .response "$LF_TMP/msg/$i.body" 2>/dev/null)
	if [ "$st $r" != "200 echo: message $i of $N_MSG" ]; then
		bad=$((bad + 1))
		[ $bad -le 5 ] && echo "# message $i: $st $(head -c 300 "$LF_TMP/msg/$i.body" 2>/dev/null)"
	fi
done
t_eq "all $N_MSG answered 200, each with its own echo" "$bad" 0
# msg_count URL: the 200s that gateway answered on the message route (its
# own counter, labelled by the route's pattern).
msg_count() {
	curl -s -m 10 -H "Authorization: Bearer $LF_AUTH" "$1/api/metrics" |
	    awk '/^librefang_requests_total\{/ && /route="\/api\/agents\/\{id\}\/message"/ &&
		/method="POST"/ && /status="200"/ { n += $NF } END { print n + 0 }'
}
t_eq "each gateway answered its half ($((N_MSG / 2)) each, by its own metrics)" \
    "$(msg_count "$G1") $(msg_count "$G2")" "$((N_MSG / 2)) $((N_MSG / 2))"

# The provider's requests are the record of what each turn saw: the
# session itself keeps only its last messages (a session of more than 30
# is compacted before a turn: a summary, then the last 10 messages), so
# the history is checked turn by turn.  TURNS: the turns' requests in the
# order they came, each as its conversation (no system prompt, no
# compaction summary, no answer whose question went into the summary).
TURNS=$(lf_fake_requests m-one | jq -c --arg re "^message [0-9]+ of $N_MSG\$" '
    [.[] | select(.body.messages[-1].content | test($re))] | sort_by(.at_ms) |
    map([.body.messages[] | select(.role != "system") | {role, text: (.content | tostring)}] |
	if .[0].text | startswith("[Previous conversation context]") then .[1:] else . end |
	if .[0].role == "assistant" then .[1:] else . end)')
t_eq "the provider saw $N_MSG turns, one per message" \
    "$(printf '%s' "$TURNS" | jq -r '[length, (map(.[-1].text) | unique | length)] | join(" ")')" \
    "$N_MSG $N_MSG"
t_eq "each turn saw complete exchanges only: every user line followed by its own answer" \
    "$(printf '%s' "$TURNS" | jq -r '[.[] | . as $c | range(0; length) |
	select(if . % 2 == 0 then $c[.].role != "user"
	    elif $c[.].role != "assistant" then true
	    else $c[.].text != "echo: " + $c[. - 1].text end)] | length')" 0
t_eq "and no line twice" \
    "$(printf '%s' "$TURNS" | jq -r '[.[] | map(select(.role == "user") | .text) | length - (unique | length)] | add')" 0
t_eq "one at a time: each turn saw the turn before it, whole, as its last exchange" \
    "$(printf '%s' "$TURNS" | jq -r '. as $t | (.[0] | length) as $first | [range(1; length) |
	select($t[.][-3:-1] != [$t[. - 1][-1], {role: "assistant", text: ("echo: " + $t[. - 1][-1].text)}])] |
	"\($first) \(length)"')" "1 0"
t_eq "the runtime recorded $N_MSG turns, all ok" \
    "$(LF_URL=$G2 lf_req GET "/api/agents/$A/metrics"; jb '"\(.turns) \(.outcomes.ok)"')" "$N_MSG $N_MSG"

lf_req GET "/api/agents/$A/session"
t_eq "the agent is still on its one session" "$(jb .session_id)" "$SID"
# Each message's text, whatever its shape (a string or content blocks).
SESSION=$(jbc '[.messages[] | {role, text: (.content | if type == "string" then .
    else ([.[]? | .text? // empty] | join("")) end)}] |
    if .[0].role == "Assistant" then .[1:] else . end')
t_eq "it ends with the last turns' exchanges, in their order, each whole" \
    "$(jq -rn --argjson s "$SESSION" --argjson t "$TURNS" '($s | length) as $n |
	[$n > 0, $n % 2 == 0,
	 ($s | [range(0; length; 2)] | all($s[.].role == "User" and $s[. + 1].role == "Assistant" and
	     $s[. + 1].text == "echo: " + $s[.].text)),
	 ([$s[] | select(.role == "User") | .text] == [$t[-($n / 2):][] | .[-1].text])] | all')" true
served=0
for id in $(dc ps -q agent-runtime); do
	docker logs "$id" 2>&1 | grep -q "serving 'agent-runtime'" && served=$((served + 1))
done
t_eq "three agent-runtime replicas serve" "$served" 3

# ---- two schedulers, one killed mid-way --------------------------------------------
J=$(lf_agent ticker m-tick)
JOBS=()
for j in $(seq $N_JOBS); do
	lf_req POST /api/cron/jobs "$(jq -nc --arg a "$J" --arg n "tick-$j" --argjson e $EVERY \
	    '{agent_id: $a, name: $n, schedule: {kind: "every", every_secs: $e}, prompt: $n, session_mode: "new",
	      catch_up: "all"}')"
	[ "$LF_STATUS" = 201 ] || echo "# create tick-$j: $LF_STATUS $LF_BODY"
	JOBS+=("$(jb .id)")
done
t_eq "$N_JOBS jobs every $EVERY s" "$(printf '%s\n' "${JOBS[@]}" | grep -c .)" "$N_JOBS"

# fires: every recent fire of every job, one JSON array.
fires() {
	local id
	for id in "${JOBS[@]}"; do
		LF_URL=$G2 lf_req GET "/api/cron/jobs/$id/status"
		jbc --arg j "$id" '[.recent_fires[] | . + {job: $j}]'
	done | jq -sc 'add'
}
# The container's hostname is the first part of the replica's instance
# (host:pid), the fire's claimed_by.
S1=$(dc ps -q scheduler | sed -n 1p)
S2=$(dc ps -q scheduler | sed -n 2p)
H1=$(docker inspect -f '{{.Config.Hostname}}' "$S1")
H2=$(docker inspect -f '{{.Config.Hostname}}' "$S2")
both_fired() {
	local f
	f=$(fires)
	printf '%s' "$f" | jq -e --arg a "$H1:" --arg b "$H2:" \
	    '(map(select(.claimed_by | startswith($a))) | length > 0) and
	     (map(select(.claimed_by | startswith($b))) | length > 0)' >/dev/null
}
# poll_secs SECS CMD..: CMD until it succeeds, for SECS seconds at most
# (each try asks the API N_JOBS times, so lf_poll's count is no bound).
poll_secs() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.5
	done
}
t_ok "both scheduler replicas fire slots (within 20 s)" poll_secs 20 both_fired
# The replica to kill holds a fire whose turn is in flight: a one-shot
# job on a slow reply (5 s).  The survivor takes it over when its lease
# (3 s) runs out and asks agent-runtime again under the same key, which
# answers the first turn's outcome: one turn at the provider.
lf_fake_script '{"model": "m-slow", "steps": [{"text": "slow but once", "delay_ms": 5000}]}'
SA=$(lf_agent slow m-slow)
lf_req POST /api/cron/jobs "$(jq -nc --arg a "$SA" --arg at "$(date -u -d '+2 seconds' +%FT%TZ)" \
    '{agent_id: $a, name: "slow-once", schedule: {kind: "at", at: $at}, prompt: "Slow", session_mode: "new"}')"
t_eq "a slow one-shot job" "$LF_STATUS" 201
SJ=$(jb .id)
t_ok "its turn reaches the provider (within 15 s)" poll_secs 15 lf_is_faked m-slow 1
lf_req GET "/api/cron/jobs/$SJ/status"
OWNER=$(jb '.recent_fires[0].claimed_by')
if [ "${OWNER%%:*}" = "$H1" ]; then
	VS=$S1; VH=$H1; SH=$H2
else
	VS=$S2; VH=$H2; SH=$H1
fi
t_ok "a scheduler replica holds the slow fire ($OWNER)" test "${OWNER%%:*}" = "$VH"
# When docker kill returned: on a loaded machine the command takes
# seconds, and the victim may claim a slot meanwhile.
t_ok "docker kill that scheduler ($VH) mid-turn" docker kill "$VS"
T_KILL=$(date +%s)
t_eq "it stays down (killed, not restarted by its policy)" \
    "$(docker inspect -f '{{.State.Running}}' "$VS")" false
H1=$SH
H2=$VH
sleep $((EVERY * 4))
# The survivor fired what came after: slots due more than a lease (3 s)
# after the kill, when the victim's claims have expired too.
t_ok "the survivor ($H1) fired the slots after the kill" \
    bash -c "printf '%s' '$(fires)' | jq -e --arg a '$H1:' --argjson k $((T_KILL + 4)) '
	map(select((.slot | sub(\"\\\\.[0-9]+\"; \"\") | sub(\"\\\\+00:00$\"; \"Z\") | fromdateiso8601) > \$k))
	| length >= $N_JOBS and all(.claimed_by | startswith(\$a))' >/dev/null"
for id in "${JOBS[@]}"; do
	lf_req PUT "/api/cron/jobs/$id/enable" '{"enabled": false}'
done
slow_done() {
	lf_req GET "/api/cron/jobs/$SJ/status"
	[ "$(jb '.recent_fires[0].state')" = ok ]
}
none_running() { [ "$(fires | jq '[.[] | select(.state == "running")] | length')" = 0 ]; }
t_ok "no fire left running (within 20 s)" poll_secs 20 none_running
poll_secs 20 slow_done || echo "# the slow fire was not done 20 s after the kill"
lf_req GET "/api/cron/jobs/$SJ/status"
t_eq "the slow fire: done by the survivor on a later attempt, with the first turn's answer" \
    "$(jb --arg s "$SH:" '.recent_fires[0] as $f | [.run_count, .last_status, (.recent_fires | length),
	$f.state, ($f.claimed_by | startswith($s)), $f.attempts >= 2] | map(tostring) | join(" ")')" \
    "1 ok 1 ok true true"
t_eq "the slow turn ran once at the provider" "$(lf_fake_requests m-slow | jq length)" 1
t_ok "the survivor said it took over" \
    bash -c "docker logs '$(dc ps -q scheduler | grep -v "^${VS:0:12}" | head -1)' 2>&1 | grep -q 'lease expired; asking again'"
FIRES=$(fires)
TICKS=$(lf_fake_requests m-tick)
total=0
for j in $(seq $N_JOBS); do
	id=${JOBS[$((j - 1))]}
	lf_req GET "/api/cron/jobs/$id/status"
	RUNS=$(jb .run_count)
	MISSED=$(jb .missed_fires)
	F=$(printf '%s' "$FIRES" | jq -c --arg j "$id" '[.[] | select(.job == $j and (.manual | not))]')
	t_eq "tick-$j: one fire row per slot, as many as run_count, all ok, none missed" \
	    "$(printf '%s' "$F" | jq -r '[length, (map(.slot) | unique | length), (map(select(.state == "ok")) | length)] | join(" ")') $MISSED" \
	    "$RUNS $RUNS $RUNS 0"
	t_eq "tick-$j: no slot skipped between its first and last" \
	    "$(printf '%s' "$F" | jq -r --argjson e $EVERY '
		map(.slot | sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601) |
		(max - min) / $e + 1 == length')" true
	t_eq "tick-$j: the provider saw one turn per fire" \
	    "$(printf '%s' "$TICKS" | jq --arg n "tick-$j" '[.[] | select(.body.messages[-1].content == $n)] | length')" \
	    "$RUNS"
	total=$((total + ${RUNS:-0}))
done
t_ok "several slots fired in all ($total)" test "$total" -ge $((N_JOBS * 4))
t_eq "fires by both replicas, the killed one only before its kill" \
    "$(printf '%s' "$FIRES" | jq -r --arg b "$H2:" --argjson k "$T_KILL" '
	map(select(.claimed_by | startswith($b))) |
	[length > 0, all(.slot | sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601 <= $k)] | map(tostring) | join(" ")')" \
    "true true"

# ---- the audit chain ------------------------------------------------------------------
lf_req GET /api/audit/verify
t_eq "the audit chain verifies, with entries" \
    "$LF_STATUS $(jb .status) $(jb .valid) $(jb '.entries > 0')" "200 valid true true"

# ---- down ------------------------------------------------------------------------------
T5=$(lf_ms)
compose_end 0
t_eq "down -v leaves no container, network or volume of the project" \
    "$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | wc -l) $(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT" | wc -l) $(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | wc -l)" \
    "0 0 0"
echo "# down: $(( ($(lf_ms) - T5) / 1000 )) s; whole script: $(( ($(lf_ms) - T0) / 1000 )) s"
t_done
