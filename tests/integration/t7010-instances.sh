#!/usr/bin/env bash
# t7010-instances.sh - every service replica and gateway is listed, from
# its heartbeat (libshared/beat.h), by GET /api/status ("instances") and GET
# /api/metrics (librefang_instance_*{service, instance}), the same by
# either of two gateways: two agent-runtime and two memory replicas each
# appear under their own instance (host:pid) and up; one killed with
# SIGKILL is down 3 intervals (6 s) on; one stopped cleanly is gone at
# once (its goodbye: without it, never); promtool accepts the whole metrics output; a heartbeat that
# is none is ignored.
. "$(dirname "$0")/../lib.sh"

command -v promtool >/dev/null 2>&1 || {
	echo "1..0 # SKIP promtool is not installed (Debian's prometheus: deploy/deps.sh test)"
	exit 0; }

lf_stack_start
t_ok "a second agent-runtime joins" lf_replica agent-runtime-2 agent-runtime
t_ok "a second memory joins" lf_replica memory-2 memory
PORT2=$(lf_free_port)
URL2=http://127.0.0.1:$PORT2
lf_bg api-gateway-2 env LIBREFANG_API_LISTEN=127.0.0.1:$PORT2 \
    "$LF_BIN/api-gateway" >>"$LF_TMP/log/api-gateway-2.log" 2>&1
t_ok "a second gateway answers" lf_poll 200 curl -sf -m 2 -o /dev/null "$URL2/api/health"

# svc_instance(): the host name cut to 47 characters, ':', the pid.
HOST=$(hostname)
inst() { echo "${HOST:0:47}:${LF_PIDS[$1]}"; }
# st URL SERVICE INSTANCE: its status in URL's /api/status.
st() {
	curl -s -m 5 "$1/api/status" | jq -r --arg s "$2" --arg i "$3" \
	    '.instances[]? | select(.service == $s and .instance == $i) | .status'
}
# all_st STATUS SERVICE=INSTANCE..: every one has STATUS by both gateways.
all_st() {
	local want=$1 u p
	shift
	for u in "$LF_URL" "$URL2"; do
		for p in "$@"; do
			[ "$(st "$u" "${p%%=*}" "${p#*=}")" = "$want" ] || return 1
		done
	done
}
# wait_st SECS STATUS SERVICE=INSTANCE..: waits (SECS at most) for
# all_st; prints the ms it took, or says on stderr what it saw.
wait_st() {
	local secs=$1 t0 end
	shift
	t0=$(lf_ms)
	end=$((t0 + secs * 1000))
	until all_st "$@"; do
		if [ "$(lf_ms)" -ge "$end" ]; then
			echo "# not all $1 within $secs s; $LF_URL lists:" >&2
			curl -s -m 5 "$LF_URL/api/status" |
			    jq -c '.instances[]? | [.service, .instance, .status]' |
			    sed 's/^/#   /' >&2
			return 1
		fi
		sleep 0.1
	done
	echo $(( $(lf_ms) - t0 ))
}

ALL=
for n in agent-runtime agent-runtime-2 memory memory-2 scheduler audit \
    channels api-gateway api-gateway-2; do
	ALL="$ALL ${n%-2}=$(inst "$n")"
done
t_ok "both gateways list every process up, themselves included" \
    wait_st 10 up $ALL

lf_req GET /api/status
t_eq "the reference's fields stay as they are" \
    "$(jbc '[.status, (.agent_count | type), (.data_dir | type), (.default_provider | type), (.default_model | type), (.uptime_seconds | type), (.agents | type)]')" \
    '["running","number","string","string","string","number","array"]'
E=$(jbc --arg i "$(inst agent-runtime-2)" '.instances[] | select(.instance == $i)')
t_eq "an instance says who it is" \
    "$(jq -c '[.service, .host, .pid, .status, (.version | length > 0), (.last_seen_ms_ago < 5000), (.started_at | test("^[0-9]{4}-")), (.uptime_seconds >= 0)]' <<<"$E")" \
    "[\"agent-runtime\",\"$HOST\",${LF_PIDS[agent-runtime-2]},\"up\",true,true,true,true]"
t_eq "both gateways list the same processes" \
    "$(curl -s "$URL2/api/status" | jq -c '[.instances[] | .instance + " " + .service] | sort')" \
    "$(jbc '[.instances[] | .instance + " " + .service] | sort')"

H=$("$LF_BIN/bustool" -t 3000 req memory sys.health | jq -r .body.instance)
t_ok "sys.health names the replica that answered as its heartbeat does ($H)" \
    test "$H" = "$(inst memory)" -o "$H" = "$(inst memory-2)"

# A heartbeat that is none (a quote in its instance, a bad state) is not
# listed, and the metrics stay valid.
BAD='{"service":"ghost","instance":"a\"b","host":"h","pid":9,"version":"1","started_ms":1,"uptime_seconds":1,"interval_ms":2000,"seq":1,"state":"up"}'
"$LF_BIN/bustool" pub heartbeat "$BAD" || echo "# bustool pub failed"
"$LF_BIN/bustool" pub heartbeat "$(jq -c '.instance = "ok" | .state = "sleeping"' <<<"$BAD")" ||
    echo "# bustool pub failed"
# A well-formed one with a 2 s interval: up, then down 3 intervals on (an
# interval so short that the first look came after it lapsed would make
# it down before it was seen up).
"$LF_BIN/bustool" pub heartbeat "$(jq -c '.instance = "ghost:9" | .interval_ms = 2000' <<<"$BAD")" ||
    echo "# bustool pub failed"
ghosts() {
	lf_req GET /api/status
	jbc '[.instances[] | select(.service == "ghost") | [.instance, .status]]'
}
is_ghost() { [ "$(ghosts)" = "$1" ]; }
lf_poll 40 is_ghost '[["ghost:9","up"]]'
t_eq "a bad heartbeat is not listed, a good one is (up)" "$(ghosts)" '[["ghost:9","up"]]'
t_ok "silent for 3 intervals (6 s), it is down" lf_poll 400 is_ghost '[["ghost:9","down"]]'
curl -s -o "$LF_TMP/metrics" "$LF_URL/api/metrics"
t_ok "and up 0 in the metrics" \
    grep -qx 'librefang_instance_up{service="ghost",instance="ghost:9"} 0' "$LF_TMP/metrics"

# promtool parses the whole output (exit 1 and "error while linting"
# otherwise) and lints it (exit 3 with one line per problem).  Its one
# finding is a name the reference gives: "# TYPE librefang_agents_total
# gauge" (spec 000, GET /api/metrics), which its lint wants without
# "_total"; every other series, ours included, must pass.
SPEC_LINT='librefang_agents_total non-counter metrics should not have "_total" suffix'
promtool_ok() {
	local rc
	promtool check metrics <"$1" >"$LF_TMP/promtool.out" 2>&1
	rc=$?
	grep -vxF "$SPEC_LINT" "$LF_TMP/promtool.out" | sed 's/^/# promtool: /'
	[ "$rc" = 0 ] || { [ "$rc" = 3 ] && ! grep -qvxF "$SPEC_LINT" "$LF_TMP/promtool.out"; }
}
t_ok "promtool accepts the whole metrics output (but the reference's librefang_agents_total gauge)" \
    promtool_ok "$LF_TMP/metrics"
for n in agent-runtime agent-runtime-2 memory memory-2; do
	s=${n%-2}
	t_ok "metrics: $n is up under its instance label" \
	    grep -qx "librefang_instance_up{service=\"$s\",instance=\"$(inst "$n")\"} 1" "$LF_TMP/metrics"
done
t_ok "metrics: its version and host" grep -q \
    "^librefang_instance_info{service=\"memory\",instance=\"$(inst memory-2)\",host=\"$HOST\",pid=\"${LF_PIDS[memory-2]}\",version=\"[^\"]*\"} 1$" \
    "$LF_TMP/metrics"
t_eq "metrics: replicas up per service" \
    "$(grep -E '^librefang_service_replicas\{service="(agent-runtime|memory|scheduler|api-gateway)"\}' "$LF_TMP/metrics" | sort | tr '\n' ' ')" \
    'librefang_service_replicas{service="agent-runtime"} 2 librefang_service_replicas{service="api-gateway"} 2 librefang_service_replicas{service="memory"} 2 librefang_service_replicas{service="scheduler"} 1 '
t_ok "the existing metrics stay" grep -qx 'librefang_service_up{service="memory"} 1' "$LF_TMP/metrics"

# SIGKILL: no goodbye; down once 3 intervals (6 s) pass without a beat.
KILLED=$(inst agent-runtime-2)
kill -KILL "${LF_PIDS[agent-runtime-2]}"
lf_wait agent-runtime-2 10
MS=$(wait_st 30 down "agent-runtime=$KILLED")
t_ok "a replica killed with SIGKILL is down by both gateways (${MS:-never} ms; 3 intervals are 6 s)" \
    test -n "$MS" -a "${MS:-99999}" -lt 20000
t_ok "not before 3 intervals had passed" test "${MS:-0}" -ge 3000
t_ok "the other replica is still up" all_st up "agent-runtime=$(inst agent-runtime)"
curl -s -o "$LF_TMP/metrics" "$URL2/api/metrics"
t_ok "metrics: the killed replica is up 0" \
    grep -qx "librefang_instance_up{service=\"agent-runtime\",instance=\"$KILLED\"} 0" "$LF_TMP/metrics"
t_ok "metrics: one agent-runtime replica up" \
    grep -qx 'librefang_service_replicas{service="agent-runtime"} 1' "$LF_TMP/metrics"

# A clean stop says goodbye: gone at once.  Without it the entry would
# turn down 6 s on, never gone: the wait of 15 s sees either.
STOPPED=$(inst memory-2)
T0=$(lf_ms)
lf_stop memory-2
wait_st 15 gone "memory=$STOPPED" >/dev/null
MS=$(( $(lf_ms) - T0 ))
t_ok "a replica stopped cleanly is gone by both gateways at once (${MS} ms from SIGTERM)" \
    test "$MS" -lt 10000
GW2=$(inst api-gateway-2)
T0=$(lf_ms)
kill -TERM "${LF_PIDS[api-gateway-2]}"
until [ "$(st "$LF_URL" api-gateway "$GW2")" = gone ] || [ $(( $(lf_ms) - T0 )) -gt 15000 ]; do
	sleep 0.05
done
MS=$(( $(lf_ms) - T0 ))
t_ok "a gateway stopped cleanly is gone by the other at once (${MS} ms)" test "$MS" -lt 10000
lf_wait api-gateway-2 10
curl -s -o "$LF_TMP/metrics" "$LF_URL/api/metrics"
t_ok "promtool still accepts it with processes down and gone" \
    promtool_ok "$LF_TMP/metrics"
t_ok "with them listed" grep -qx \
    "librefang_instance_up{service=\"api-gateway\",instance=\"$GW2\"} 0" "$LF_TMP/metrics"

t_done
