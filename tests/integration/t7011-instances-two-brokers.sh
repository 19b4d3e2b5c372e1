#!/usr/bin/env bash
# t7011-instances-two-brokers.sh - heartbeats with two brokers (every
# process dials both, so every beat arrives twice): each process is
# listed once, a goodbye is not undone by the copy through the other
# broker, and with one broker killed (SIGKILL) every process stays up,
# its beats coming through the other, past the 3 intervals that would
# make it down.  Each process's beat says it lost that broker, and that
# it is connected to it again after its restart (brokers in /api/status);
# how soon (at once, within 2 s by each process's clock) is printed: the
# next beat (2 s) and a slow redial (0.3-3.6 s) are too close to that to
# tell apart on a loaded machine.
. "$(dirname "$0")/../lib.sh"

B1=ipc://$LF_TMP/home/run/bus
B2=ipc://$LF_TMP/home/run/bus2
export LIBREFANG_BUS_URL=$B1,$B2
# A broker listens on the first address of its list.
lf_bg bus-2 env LIBREFANG_BUS_URL="$B2,$B1" "$LF_BIN/bus" \
    >>"$LF_TMP/log/bus-2.log" 2>&1
lf_stack_start
t_ok "a second memory joins" lf_replica memory-2 memory

HOST=$(hostname)
inst() { echo "${HOST:0:47}:${LF_PIDS[$1]}"; }
# st SERVICE INSTANCE: its status in /api/status.
st() {
	curl -s -m 5 "$LF_URL/api/status" | jq -r --arg s "$1" --arg i "$2" \
	    '[.instances[]? | select(.service == $s and .instance == $i) | .status] | join(",")'
}
is_st() { [ "$(st "$1" "$2")" = "$3" ]; }
# listed SERVICE: how many processes of SERVICE /api/status lists up.
listed() {
	curl -s -m 5 "$LF_URL/api/status" |
	    jq --arg s "$1" '[.instances[]? | select(.service == $s and .status == "up")] | length'
}
is_listed() { [ "$(listed "$1")" = "$2" ]; }

t_ok "each memory replica is listed, up" lf_poll 200 is_listed memory 2
# Each process is listed from its first beat; the runtime, loading its
# catalog, can beat last.
all_listed() {
	[ "$(listed agent-runtime) $(listed scheduler) $(listed audit) $(listed channels) $(listed api-gateway)" = "1 1 1 1 1" ]
}
t_ok "every other process is listed, up" lf_poll 200 all_listed
lf_req GET /api/status
t_eq "every process is listed once" \
    "$(jbc '[.instances[] | .service] | group_by(.) | map([.[0], length])')" \
    '[["agent-runtime",1],["api-gateway",1],["audit",1],["channels",1],["memory",2],["scheduler",1]]'

# A clean stop: gone, and still gone after more beats of the others have
# come through both brokers.
M2=$(inst memory-2)
lf_stop memory-2
t_ok "a replica stopped cleanly is gone" lf_poll 200 is_st memory "$M2" gone
sleep 2.5
t_eq "and stays gone (no late copy revives it)" "$(st memory "$M2")" gone

# b1_is CONNECTED [SINCE]: every process up (6) says, in its beat's
# brokers, that it is (true) or is not (false) connected to the first
# broker, since SINCE (Unix ms) or later.
b1_is() {
	curl -s -m 5 "$LF_URL/api/status" | jq -e --arg u "$B1" --argjson c "$1" --argjson s "${2:-0}" '
	    [.instances[]? | select(.status == "up")] | length == 6 and
	    all(.[]; [(.brokers // [])[] | select(.url == $u and .connected == $c and .since_ms >= $s)] |
		length == 1)' >/dev/null
}
t_ok "every process says it is connected to both brokers" b1_is true

# SIGKILL the first broker: the beats come through the second.
T=$(lf_ms)
kill -KILL "${LF_PIDS[bus]}"
lf_wait bus 10
t_ok "every process says that it lost the killed broker" lf_poll 200 b1_is false "$T"
echo "# /api/status showed it $(( $(lf_ms) - T )) ms after the kill"
sleep 7
t_eq "7 s after one broker was killed, every process is still up" \
    "$(listed agent-runtime) $(listed memory) $(listed scheduler) $(listed audit) $(listed channels) $(listed api-gateway)" \
    "1 1 1 1 1 1"
T=$(lf_ms)
lf_start bus
t_ok "every process says it is connected to it again" lf_poll 200 b1_is true "$T"
SEEN=$(( $(lf_ms) - T ))
LAST=$(curl -s -m 5 "$LF_URL/api/status" | jq --arg u "$B1" --argjson t "$T" \
    '[.instances[] | select(.status == "up") | .brokers[] | select(.url == $u) | .since_ms - $t] | max')
echo "# every process reconnected within $LAST ms of the broker's start (by its own clock); /api/status showed it after $SEEN ms"
sleep 2.5
t_eq "and with it back" \
    "$(listed agent-runtime) $(listed memory) $(listed scheduler) $(listed audit) $(listed channels) $(listed api-gateway)" \
    "1 1 1 1 1 1"
lf_req GET /api/status
t_eq "no process listed down or twice" \
    "$(jbc '[.instances[] | select(.status != "gone") | .service + " " + .status] | sort')" \
    '["agent-runtime up","api-gateway up","audit up","channels up","memory up","scheduler up"]'

t_done
