#!/usr/bin/env bash
# t8202-webhooks-replicas.sh - outbound webhooks with two channels
# replicas (services/channels/README.md, "Outbound webhooks"): both see
# every event on the bus, yet each event is queued once and each delivery
# reaches the receiver exactly once under normal operation, the two
# replicas sharing the work; a subscription made through one replica is
# delivered by both; retries are not repeated by the other replica.
. "$(dirname "$0")/../lib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
lf_config '[webhooks]
allowed_hosts = ["127.0.0.1"]
backoff_base_ms = 100
timeout_secs = 5
workers = 2'
lf_rcv_start
lf_stack_start channels
t_ok "a second channels replica joins" lf_replica channels2 channels

N=40
pubn() {	# pubn PREFIX N: N cron events; prints nothing
	local i
	for i in $(seq 1 "$2"); do
		"$LF_BIN/bustool" pub events "$(jq -nc --arg id "$(cat /proc/sys/kernel/random/uuid)" --arg t "cron.$1$i" \
		    '{id: $id, source: "", target: {type: "Broadcast"}, payload: {type: "Custom", data: {type: $t}}, timestamp: "2026-01-01T00:00:00Z", depth: 0}')" ||
		    echo "# bustool pub failed"
	done
}
mk() {
	lf_req POST /api/webhooks "$(jq -nc --arg n "$1" --arg u "$LF_RCV/hook/$1" --arg s "$2" '{name: $n, url: $u, events: ["cron_fired"], secret: $s}')"
	[ "$LF_STATUS" = 201 ] || echo "# create $1: $LF_STATUS $LF_BODY" >&2
	jb .id
}
ok_n() { [ "$(lf_rcv_count "$1" | jq .ok)" -ge "$2" ]; }
settled() { [ "$(lf_psql "SELECT count(*) FROM channels.webhook_deliveries WHERE state IN ('pending', 'running')")" = 0 ]; }

# ---- normal operation: exactly once --------------------------------------------------------
W=$(mk two two-secret-0123)
lf_rcv_ctl two two-secret-0123 '[]' 50
pubn a "$N"
t_ok "all $N events delivered" lf_poll 600 ok_n two "$N"
t_ok "nothing left queued" lf_poll 200 settled
sleep 0.5
t_eq "each queued once though both replicas saw it" "$(lf_psql "SELECT count(*), count(DISTINCT event_id) FROM channels.webhook_deliveries WHERE webhook_id = '$W'" | tr '|' ' ')" "$N $N"
t_eq "each delivered exactly once: requests = unique = ok = $N" "$(lf_rcv_count two | jq -c '[.requests, .unique, .ok]')" "[$N,$N,$N]"
t_eq "one attempt each" "$(lf_psql "SELECT count(*) FROM channels.webhook_attempts a JOIN channels.webhook_deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = '$W'")" "$N"
t_eq "both replicas delivered some" "$(lf_psql "SELECT count(DISTINCT replica) FROM channels.webhook_attempts a JOIN channels.webhook_deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = '$W'")" 2

# ---- retries across replicas ------------------------------------------------------------------
R=$(mk retry retry-secret-0123)
lf_rcv_ctl retry retry-secret-0123 '[500, 500, 500, 500, 500, 500, 500, 500, 500, 500]'
pubn r 5
t_ok "five deliveries retried to success" lf_poll 600 ok_n retry 5
t_ok "settled" lf_poll 200 settled
t_eq "the receiver saw 10 failures and 5 successes, no more" "$(lf_rcv_count retry | jq -c '[.requests, .unique, .ok]')" '[15,5,5]'
t_eq "15 attempts recorded, no attempt number twice" "$(lf_psql "SELECT count(*), count(DISTINCT (a.delivery_id, a.attempt)), sum(d.attempts) FILTER (WHERE a.status = 200) FROM channels.webhook_attempts a JOIN channels.webhook_deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = '$R'" | tr '|' ' ')" "15 15 15"

# ---- one replica stops: the other delivers ----------------------------------------------------
lf_stop channels2
t_eq "a replica stopped cleanly" "$LF_EXIT" 0
pubn s 10
# /hook/two subscribes to cron_fired too: it got the 5 retried events once.
M=$((N + 5 + 10))
t_ok "the remaining replica delivers all 10" lf_poll 600 ok_n two "$M"
t_ok "settled" lf_poll 200 settled
t_eq "still exactly once" "$(lf_rcv_count two | jq -c '[.requests, .unique]')" "[$M,$M]"
lf_tail_failed channels.log channels2.log
t_done
