#!/usr/bin/env bash
# t9010-failover.sh - failover under load in real containers (issue 11,
# item 4).  The compose stack runs 3 agent-runtimes behind 2 gateways and
# the two brokers, against the instant fake provider on the host:
# - a runtime killed under load: 200 turns at once (20 agents, 10 each,
#   each with its own Idempotency-Key, over both gateways;
#   tests/bench/deployload.mjs keyed), `docker kill` of one runtime once
#   40 have answered: every turn answers 200 or a JSON 503, none is lost
#   or hangs; each 503 retried with its key (through the other gateway)
#   gives 200 and its own answer, each 200 asked again gives the same
#   answer; every session holds each of its 10 messages once, each
#   followed by its answer; a turn answered 200 the first time ran once
#   at the provider (a 503'd one at most twice: the dead run, never
#   answered, and the retry's);
# - a broker killed and restarted under load (deployload.mjs steady, 8
#   agents over both gateways): every process says it lost that broker
#   (its heartbeat's brokers, in /api/status), the other broker carries
#   the traffic, every process is connected to the restarted one within
#   2 s of its container's start (each says when: since_ms), and
#   /api/status shows it at once (the heartbeat goes out on the change);
#   the only failed requests are 503s of requests in flight on the killed
#   broker;
# - PostgreSQL stopped: turn, agents, spawn, memory, audit and cron
#   routes answer a JSON 503 within seconds and /api/ready names the
#   database; started: full service through both gateways, and no
#   container died or restarted.
# Torn down by project name, volumes too, whatever happened (EXIT trap).
# LF_DEPLOY_TAG (default "test"), LF_DEPLOY_PROJECT, LF_DEPLOY_KEEP=1 as
# in t9000.
# Part 1 once failed about one run in six (CI, 2026-12-07): a 503'd
# turn retried with its key was answered 200 ("echo: 9-6\n\n9-4") while
# its session kept neither exchange; mended in 526b954 (t7006 holds both
# halves of it).
. "$(dirname "$0")/../lib.sh"

PROJECT=${LF_DEPLOY_PROJECT:-lfdeploy$$}
TAG=${LF_DEPLOY_TAG:-test}
COMPOSE_TMP=$LF_TMP
COMPOSE_KEEP=${LF_DEPLOY_KEEP:-}
. "$LF_ROOT/tests/deploy/compose.sh"

N_AGENTS=20
PER=10
KILL_AFTER=40
CONNS=8
LOAD=$LF_ROOT/tests/bench/deployload.mjs

lf_unset_provider_keys
compose_env "$TAG"
# 200 turns at once, all from one address.
export LIBREFANG_API_MAX_CONNECTIONS_PER_IP=400
export LF_AUTH=$LIBREFANG_API_KEY

trap 'rc=$?; compose_end $rc; lf_cleanup $rc' EXIT

# ---- images (cached) and up, scaled ---------------------------------------------
T0=$(lf_ms)
if ! compose_images "$TAG"; then
	echo "not ok - deploy/images.sh $TAG"
	echo "Bail out! the images did not build"
	exit 1
fi
T1=$(lf_ms)
if ! compose_up --scale agent-runtime=3 --scale api-gateway=2; then
	echo "not ok - docker-compose up --scale"
	echo "Bail out! the stack did not start"
	exit 1
fi
t_ok "agent-runtime=3, api-gateway=2, both brokers and the rest, all healthy within $HEALTH_SECS s" \
    wait_healthy postgres=1 bus=1 bus2=1 agent-runtime=3 scheduler=1 memory=1 audit=1 channels=1 api-gateway=2 ||
    { echo "Bail out! the scaled stack is not healthy"; exit 1; }
T2=$(lf_ms)
echo "# images $(( (T1 - T0) / 1000 )) s, up to healthy $(( (T2 - T1) / 1000 )) s"
G1=$(gw_url 1)
G2=$(gw_url 2)
LF_URL=$G1
t_ok "gateway 1 ready within 60 s ($G1)" lf_wait_ready 60
LF_URL=$G2 t_ok "gateway 2 ready within 30 s ($G2)" lf_wait_ready 30
GWS=${G1#http://},${G2#http://}

# status [URL]: GET /api/status's instances (gateway 1 unless URL).
status() {
	curl -s -m 5 -H "Authorization: Bearer $LF_AUTH" "${1:-$G1}/api/status" | jq -c '.instances // []'
}
# n_up SERVICE: how many instances of SERVICE /api/status lists up.
n_up() { status | jq --arg s "$1" '[.[] | select(.service == $s and .status == "up")] | length'; }
# poll_secs SECS CMD..: CMD until it succeeds, for SECS seconds at most.
poll_secs() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
runtimes_up() { [ "$(n_up agent-runtime)" = "$1" ]; }
t_ok "/api/status lists 3 agent-runtimes up (within 60 s)" poll_secs 60 runtimes_up 3

# ---- the fake provider, reachable from the containers -----------------------------
NETGW=$(compose_netgw)
[ -n "$NETGW" ] || { echo "Bail out! no gateway address for the compose network"; exit 1; }
lf_fake_start --host "$NETGW"
LF_FAKE_URL=http://$NETGW:${LF_FAKE_URL##*:}

: >"$LF_TMP/agents"
for a in $(seq $N_AGENTS); do
	lf_agent "fo-$a" m-fo >>"$LF_TMP/agents"
done
t_eq "$N_AGENTS agents on the instant fake" "$(grep -c . "$LF_TMP/agents")" $N_AGENTS

# ==== 1. a runtime killed with 200 turns in flight ===================================
VICTIM=$(dc ps -q agent-runtime | head -n 1)
timeout 200 node "$LOAD" keyed --gw "$GWS" --agents-file "$LF_TMP/agents" --per $PER \
    --out "$LF_TMP/keyed.jsonl" --kill-after $KILL_AFTER --kill-cmd "docker kill $VICTIM" \
    --timeout 60 --retry-secs 30 >"$LF_TMP/keyed.json" 2>"$LF_TMP/keyed.err"
t_eq "the keyed burst ran to its end" "$?" 0 || sed 's/^/# /' "$LF_TMP/keyed.err"
K=$(cat "$LF_TMP/keyed.json" 2>/dev/null)
echo "# keyed: $K"
TURNS=$(jq -sc . "$LF_TMP/keyed.jsonl" 2>/dev/null || echo '[]')
t_ok "docker kill of one runtime ran after $KILL_AFTER answers" \
    jq -e '.kill_at != null and .kill_error == ""' <<<"$K"
t_eq "the runtime stays down (killed, not restarted by its policy)" \
    "$(docker inspect -f '{{.State.Running}}' "$VICTIM")" false
t_eq "all $((N_AGENTS * PER)) turns answered: 200 or 503, none lost, none past its 60 s" \
    "$(jq -r '[length, (map(select(.first == 200 or .first == 503)) | length)] | join(" ")' <<<"$TURNS")" \
    "$((N_AGENTS * PER)) $((N_AGENTS * PER))"
t_ok "the kill caught turns in flight on that runtime: some 503s ($(jq -r '.by_status | tostring' <<<"$K"))" \
    jq -e '.retried > 0' <<<"$K"
t_eq "each 503 a JSON error" \
    "$(jq -r '[.[] | select(.first == 503) | ((.first_body | fromjson?) // {}) | select((.error // "") == "")] | length' <<<"$TURNS")" 0
echo "# 503s: $(jq -r '[.[] | select(.first == 503) | .first_body | fromjson? | .error] | group_by(.) | map("\(length) x \(.[0])") | join("; ")' <<<"$TURNS")"
t_ok "every 503 came within 10 s of the kill (last: $(jq -r .last_503_after_kill_ms <<<"$K") ms)" \
    jq -e '.last_503_after_kill_ms == null or .last_503_after_kill_ms < 10000' <<<"$K"
t_eq "every 503 retried with its key: 200 and its own answer" \
    "$(jq -r '[.[] | select(.first == 503) | select(.final != 200 or .response != "echo: " + .text) | "\(.text):\(.retries):\(.final_body)"] | join(" ")' <<<"$TURNS")" ""
echo "# retries of the 503s: $(jq -r '[.[] | select(.first == 503) | .retries | map(tostring) | join(",")] | group_by(.) | map("\(length) x [\(.[0])]") | join("; ")' <<<"$TURNS")"
t_eq "every 200 was its own answer, and asked again gives the same" \
    "$(jq -r '[.[] | select(.first == 200) | select(.response != "echo: " + .text or .again != 200 or .again_body != .response) | "\(.text):\(.again):\(.again_body)"] | join(" ")' <<<"$TURNS")" ""

# Each session: its 10 messages once each, each followed by its answer.
bad=
i=0
while read -r A; do
	i=$((i + 1))
	lf_req GET "/api/agents/$A/session"
	got=$(jbc '[.messages[] | {role, text: (.content | if type == "string" then .
	    else ([.[]? | .text? // empty] | join("")) end)}]')
	ok=$(jq -r --arg a "$i" --argjson n $PER '
	    [length == 2 * $n,
	     ([range(0; length; 2) as $j | .[$j].role == "User" and .[$j + 1].role == "Assistant" and
		 .[$j + 1].text == "echo: " + .[$j].text] | all),
	     ([.[] | select(.role == "User") | .text] | sort) == ([range(1; $n + 1) | "\($a)-\(.)"] | sort)] | all' <<<"$got")
	[ "$ok" = true ] || bad="$bad $i:$(jq -r '[.[] | .text] | join(",")' <<<"$got" | head -c 300)"
done <"$LF_TMP/agents"
t_eq "every session holds each of its $PER messages once, each followed by its answer" "$bad" ""
RUNS=$(lf_fake_requests m-fo | jq -c '[.[] | .body.messages[-1].content] | group_by(.) | map({key: .[0], value: length}) | from_entries')
t_eq "a turn answered 200 at once ran once at the provider" \
    "$(jq -r --argjson r "$RUNS" '[.[] | select(.first == 200) | select($r[.text] != 1) | "\(.text):\($r[.text])"] | join(" ")' <<<"$TURNS")" ""
t_eq "a 503'd one at most twice (the dead run, never answered, and the retry's)" \
    "$(jq -r --argjson r "$RUNS" '[.[] | select(.first == 503) | select(($r[.text] // 0) < 1 or $r[.text] > 2) | "\(.text):\($r[.text])"] | join(" ")' <<<"$TURNS")" ""
echo "# of the $(jq -r .retried <<<"$K") 503s, $(jq -r --argjson r "$RUNS" '[.[] | select(.first == 503 and $r[.text] == 2)] | length' <<<"$TURNS") had reached the provider before the kill (run again on retry), the rest had not"
KILL_LAST=$(jq -r .last_answer_after_kill_ms <<<"$K")

# The killed runtime back, for what follows.  Its container keeps its
# hostname but its program may get another pid, so another instance:
# the dead one's entry stays up until 3 beats are missed (6 s).  Back
# means one entry of that host up, and a new one (up no longer than
# since the start): not the dead one's before the new one has beaten.
VHOST=$(docker inspect -f '{{.Config.Hostname}}' "$VICTIM")
victim_back() {
	local up=$(( $(date +%s) - T_VSTART + 2 ))
	status | jq -e --arg h "$VHOST:" --argjson up "$up" '[.[] | select(.service == "agent-runtime" and .status == "up")] |
	    length == 3 and (map(select(.instance | startswith($h))) | length == 1 and .[0].uptime_seconds <= $up)' >/dev/null
}
T_VSTART=$(date +%s)
t_ok "the killed runtime started again" docker start "$VICTIM"
t_ok "/api/status lists 3 agent-runtimes up again, the dead one's entry down (within 60 s)" \
    poll_secs 60 victim_back

# ==== 2. a broker killed and restarted under load =====================================
: >"$LF_TMP/steady-agents"
for a in $(seq $CONNS); do
	lf_agent "st-$a" m-st >>"$LF_TMP/steady-agents"
done
BUS=$(dc ps -q bus)
# Every process up, by instance, with its brokers: connected or not, and
# since when.
INST0=$(status | jq -c '[.[] | select(.status == "up") | .instance] | sort')
NINST=$(jq length <<<"$INST0")
t_ok "every process ($NINST) says it is connected to both brokers" \
    jq -e 'length > 0 and all(.[] | select(.status == "up"); [(.brokers // [])[] | select(.connected)] | length == 2)' <<<"$(status)"
# bus_state URL CONNECTED: every process up says its link to tcp://bus:7000
# is CONNECTED (true/false); with true, since the container's start.
bus_state() {
	status "$1" | jq -e --argjson c "$2" --argjson s "${STARTED:-0}" --argjson n "$NINST" '
	    [.[] | select(.status == "up")] | length == $n and
	    all(.[]; [(.brokers // [])[] | select(.url == "tcp://bus:7000" and .connected == $c and
		(($c | not) or .since_ms >= $s))] | length == 1)' >/dev/null
}
# A watcher of gateway 1's /api/status every 0.1 s from before the kill
# ("<asked, Unix ms> <answered> <instances>" a line), so when it showed
# what is timed apart from the docker commands, which take a second or
# more here.
watch_status() {
	local st t
	while [ ! -e "$LF_TMP/stop" ]; do
		t=$(lf_ms)
		st=$(status)
		echo "$t $(lf_ms) $st"
		sleep 0.1
	done >"$LF_TMP/watch"
}
# shown CONNECTED SINCE: "<answered> <asked>" of the first answer in which
# the watcher saw every process up say so of tcp://bus:7000, since SINCE
# or later, then the time the last answer before it that did not was
# asked ("<answered> <asked> <last asked without>"); empty if never.
shown() {
	local asked ts js before=0
	while read -r asked ts js; do
		if jq -e --argjson c "$1" --argjson s "$2" --argjson n "$NINST" '
		    [.[] | select(.status == "up")] | length == $n and
		    all(.[]; [(.brokers // [])[] | select(.url == "tcp://bus:7000" and .connected == $c and
			.since_ms >= $s)] | length == 1)' >/dev/null 2>&1 <<<"$js"; then
			echo "$ts $asked $before"
			return
		fi
		[ "$asked" -lt "$2" ] || before=$asked
	done <"$LF_TMP/watch"
}
rm -f "$LF_TMP/stop"
watch_status &
WATCH=$!
node "$LOAD" steady --gw "$GWS" --agents "$(paste -sd, "$LF_TMP/steady-agents")" \
    --stop-file "$LF_TMP/stop" --out "$LF_TMP/steady.json" --timeout 30 \
    >"$LF_TMP/steady.out" 2>"$LF_TMP/steady.err" &
STEADY=$!
sleep 2
T_KILL0=$(lf_ms)
t_ok "docker kill the broker 'bus' under load" docker kill "$BUS"
T_KILL1=$(lf_ms)
STARTED=0
t_ok "every process says it lost 'bus' (within 30 s)" poll_secs 30 bus_state "$G1" false
ST_LOST=$(status)
sleep 2
T_START0=$(lf_ms)
t_ok "docker start 'bus'" docker start "$BUS"
T_START1=$(lf_ms)
STARTED=$(date -d "$(docker inspect -f '{{.State.StartedAt}}' "$BUS")" +%s%3N)
both_back() { bus_state "$G1" true && bus_state "$G2" true; }
t_ok "both gateways' /api/status: every process connected to 'bus' again (within 60 s)" poll_secs 60 both_back
ST=$(status)
RECONN=$(jq -r --argjson s "$STARTED" '[.[] | select(.status == "up") | .brokers[] | select(.url == "tcp://bus:7000") | .since_ms - $s] | max' <<<"$ST")
echo "# docker start took $((T_START1 - T_START0)) ms; its process started $((STARTED - T_START0)) ms after the command"
echo "# reconnected after the broker's start, by process (ms): $(jq -r --argjson s "$STARTED" '[.[] | select(.status == "up") | "\(.service) \(.brokers[] | select(.url == "tcp://bus:7000") | .since_ms - $s)"] | join(", ")' <<<"$ST")"
t_ok "every process reconnected within 2 s of the broker's start (the last: $RECONN ms)" \
    test "${RECONN:-99999}" -le 2000
t_eq "the same $NINST processes, none died" "$(status | jq -c '[.[] | select(.status == "up") | .instance] | sort')" "$INST0"
# The broker's own log: each service replica's sockets joined it.
BLOG=$(docker logs "$BUS" --since "$(date -u -d "@$((STARTED / 1000 - 1))" +%FT%TZ)" 2>&1)
t_ok "the restarted broker logged its replicas connected ($(grep -c "replica of .* connected" <<<"$BLOG") lines)" \
    test "$(grep -c "replica of .* connected" <<<"$BLOG")" -ge 7
sleep 2
touch "$LF_TMP/stop"
t_ok "the steady load ends (30 s at most)" timeout 30 tail --pid=$STEADY -f /dev/null
wait $STEADY 2>/dev/null
timeout 10 tail --pid=$WATCH -f /dev/null
# When /api/status showed each change, against when the last process
# made it (its since_ms): a beat goes out on the change, so within a
# poll or two, not at the next 2 s interval.
LOST=$(jq -r '[.[] | select(.status == "up") | .brokers[] | select(.url == "tcp://bus:7000") | .since_ms] | max' <<<"$ST_LOST")
read -r SHOWN_LOST ASKED_LOST NOT_LOST <<<"$(shown false "$T_KILL0")"
read -r SHOWN_BACK ASKED_BACK NOT_BACK <<<"$(shown true "$STARTED")"
BACK=$((STARTED + ${RECONN:-0}))
since() { [ "${1:-0}" != 0 ] && echo "$(($1 - $2)) ms" || echo "none"; }	# since T FROM
echo "# every process lost 'bus' by $((LOST - T_KILL0)) ms after docker kill was run; gateway 1's /api/status showed it in the answer to a request made $(( ${ASKED_LOST:-0} - LOST )) ms after the last (answered after $(( ${SHOWN_LOST:-0} - LOST )) ms); the last answer without it was asked at $(since "${NOT_LOST:-0}" "$LOST")"
echo "# every process was back by $RECONN ms after the broker's start; gateway 1's /api/status showed it in the answer to a request made $(( ${ASKED_BACK:-0} - BACK )) ms after the last (answered after $(( ${SHOWN_BACK:-0} - BACK )) ms); the last answer without it was asked at $(since "${NOT_BACK:-0}" "$BACK")"
# How soon /api/status showed each change is printed above, not checked:
# with a beat on the change it is well under the 2 s interval on a quiet
# machine, but a loaded one delays any answer past any bound (tests/bench
# measures speed; docs/conventions.md).  Checked: the watcher saw it.
t_ok "/api/status showed the loss" test -n "$SHOWN_LOST"
t_ok "and the reconnect" test -n "$SHOWN_BACK"
echo "# steady: $(cat "$LF_TMP/steady.out")"
S=$(cat "$LF_TMP/steady.json" 2>/dev/null || echo '[]')
t_ok "the other broker carried the traffic while 'bus' was down (200s then)" \
    jq -e --argjson a $((T_KILL1 + 500)) --argjson b "$T_START0" \
    '[.[] | select(.status == 200 and .start >= $a and .end <= $b)] | length > 10' <<<"$S"
t_ok "and after its restart" \
    jq -e --argjson a "$STARTED" '[.[] | select(.status == 200 and .start >= $a)] | length > 10' <<<"$S"
echo "# failed: $(jq -r --argjson k "$T_KILL0" '[.[] | select(.status != 200) | "\(.status) \(.start - $k)..\(.end - $k) ms \(.body)"] | join("; ")' <<<"$S" | head -c 1500)"
t_eq "the only failures: 503s in flight on the killed broker (sent before the kill returned, at most one per connection)" \
    "$(jq -r --argjson k1 "$T_KILL1" --argjson c $CONNS '[.[] | select(.status != 200)] |
	[(map(select(.status != 503 or .start > $k1 + 100)) | length), length <= $c] | map(tostring) | join(" ")' <<<"$S")" \
    "0 true"
BUS_RECONN=$RECONN

# ==== 3. PostgreSQL stopped and started ===============================================
# Every container but PostgreSQL: its start time and restarts.
starts() {
	local id
	for id in $(dc ps -q | sort); do
		[ "$id" = "$(dc ps -q postgres)" ] && continue
		docker inspect -f '{{.Name}} {{.State.Running}} {{.State.StartedAt}} {{.RestartCount}}' "$id"
	done
}
STARTS=$(starts)
PG=$(dc ps -q postgres)
A=$(head -n 1 "$LF_TMP/agents")
t_ok "docker stop postgres" docker stop -t 10 "$PG"
probe() {	# probe URL METHOD PATH [JSON]: sets LF_*, MS
	local t0
	t0=$(lf_ms)
	LF_URL=$1 lf_req "$2" "$3" "${4:-}" -m 20
	MS=$(( $(lf_ms) - t0 ))
}
ROUTES=(
	"POST /api/agents/$A/message {\"message\":\"while down\"}"
	"GET /api/agents"
	"POST /api/agents {\"manifest_toml\":\"name = \\\"while-down\\\"\\n\"}"
	"PUT /api/memory/agents/$A/kv/during {\"value\":2}"
	"GET /api/audit/verify"
	"GET /api/cron/jobs"
)
bad=
n=0
for r in "${ROUTES[@]}"; do
	read -r m p b <<<"$r"
	n=$((n + 1))
	if [ $((n % 2)) = 1 ]; then u=$G1; else u=$G2; fi
	probe "$u" "$m" "$p" "$b"
	echo "# down: $m $p: $LF_STATUS in $MS ms: $(head -c 100 <<<"$LF_BODY")"
	if [ "$LF_STATUS" != 503 ] || ! jq -e '.error | length > 0' <<<"$LF_BODY" >/dev/null 2>&1 ||
	    [ "$MS" -gt 10000 ]; then
		bad="$bad $m:$p:$LF_STATUS:${MS}ms"
	fi
done
t_eq "while it is down every route answers a JSON 503 within 10 s, through either gateway" "$bad" ""
ready_db() {
	LF_URL=$G1 lf_req GET /api/ready "" -m 5
	[ "$LF_STATUS $(jb '[.missing[]? | tostring] | any(test("database"))')" = "503 true" ]
}
t_ok "/api/ready: 503 naming the database (60 s)" poll_secs 60 ready_db
T_PG=$(lf_ms)
t_ok "docker start postgres" docker start "$PG"
HEALTH_SECS=60
t_ok "postgres healthy again (60 s)" wait_healthy postgres=1
turn_ok() {
	LF_URL=$G1 lf_req POST "/api/agents/$A/message" '{"message": "back"}' -m 20
	[ "$LF_STATUS" = 200 ]
}
t_ok "a turn works again (60 s)" poll_secs 60 turn_ok
echo "# the first turn answered 200 $(( $(lf_ms) - T_PG )) ms after docker start postgres"
LF_URL=$G1 t_ok "gateway 1 ready (20 s)" lf_wait_ready 20
LF_URL=$G2 t_ok "gateway 2 ready (20 s)" lf_wait_ready 20
bad=
for i in $(seq 20); do
	if [ $((i % 2)) = 1 ]; then u=$G1; else u=$G2; fi
	A=$(sed -n "${i}p" "$LF_TMP/agents")
	LF_URL=$u lf_req POST "/api/agents/$A/message" "$(lf_msg_json "after $i")" -m 30
	[ "$LF_STATUS $(jb .response)" = "200 echo: after $i" ] || bad="$bad $i:$LF_STATUS"
done
t_eq "full service after: 20 turns over both gateways, all 200 with their answers" "$bad" ""
LF_URL=$G2 lf_req PUT "/api/memory/agents/$A/kv/after" '{"value": 3}'
t_eq "a memory write" "$LF_STATUS" 200
LF_URL=$G1 lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml after-pg m-fo)")"
t_eq "a spawn" "$LF_STATUS" 201
LF_URL=$G2 lf_req GET /api/audit/verify
t_eq "the audit chain verifies" "$LF_STATUS $(jb .valid)" "200 true"
t_eq "no container died or restarted (start times and restart counts as before)" "$(starts)" "$STARTS"

echo "# figures: a killed runtime's turns all answered $KILL_LAST ms after the kill; every process reconnected $BUS_RECONN ms after the broker's start"
T5=$(lf_ms)
compose_end 0
t_eq "down -v leaves no container, network or volume of the project" \
    "$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | wc -l) $(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT" | wc -l) $(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | wc -l)" \
    "0 0 0"
echo "# down: $(( ($(lf_ms) - T5) / 1000 )) s; whole script: $(( ($(lf_ms) - T0) / 1000 )) s"
t_done
