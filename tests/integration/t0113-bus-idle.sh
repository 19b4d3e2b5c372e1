#!/usr/bin/env bash
# lf-test: alone (tests/run.sh: run beside no other script of ours)
# t0113-bus-idle.sh - no request is lost to a worker that sat idle.  A
# worker that has sent a reply waits for its next work; that wait once
# inherited the reply's 5 s send timeout, so an idle worker asked again
# with a new READY while the broker still held its old one, and work the
# broker later gave to the old one reached no request and was dropped by
# nng: the caller waited out its whole deadline.  Here every worker of a
# memory replica answers, the bus sits idle past that timeout, then more
# requests than workers arrive at once: every one must be answered.
. "$(dirname "$0")/../lib.sh"

bt() { "$LF_BIN/bustool" "$@"; }
# burst N TAG: N requests to memory at once, 3 s deadline each; prints how
# many were answered
burst() {
	local i pids=
	for ((i = 1; i <= $1; i++)); do
		( bt -t 3000 req memory sys.health >/dev/null 2>&1
		  echo $? > "$LF_TMP/$2.$i" ) &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids
	cat "$LF_TMP/$2".* | grep -c '^0$'
}

lf_stack_start memory
t_ok "memory joined" lf_bus_joined memory
t_eq "a first burst: 8 of 8 answered" "$(burst 8 first)" 8
# Past the 5 s a reply may wait for its broker (BUS_REPLY_MS).
sleep 6.5
t_eq "after 6.5 s idle, 12 at once: 12 of 12 answered" "$(burst 12 idle)" 12
sleep 6.5
t_eq "and again: 12 of 12" "$(burst 12 again)" 12
t_done
