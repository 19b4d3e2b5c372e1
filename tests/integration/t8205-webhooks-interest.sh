#!/usr/bin/env bash
# t8205-webhooks-interest.sh - a turn publishes its two Message events only
# when a service wants them (issue 8 regression; turn/notify.c,
# libshared/interest.h): channels when an enabled webhook (either kind)
# names message_received, message_completed or all, the scheduler when an
# enabled trigger's pattern is all or content_match.  Each tells
# agent-runtime (events.interest, runtime.event_interest) before it
# answers the change, so the very next turn's events are delivered, and
# none after the subscription is disabled or deleted.  Observed from
# outside: a bustool subscriber on the events topic, the receiver, and
# agent-runtime's sys.health counters; events.interest's bad input and its
# newest-answer-wins rule over the bus.
. "$(dirname "$0")/../lib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-hook-int-0123456789
lf_config '[webhooks]
allowed_hosts = ["127.0.0.1"]'
lf_rcv_start
lf_fake_stack agent-runtime scheduler channels
lf_wait_ok /api/workflows || { echo "Bail out! the scheduler did not answer"; lf_dump_logs; exit 1; }

A=$(lf_agent hook-int m-int)
T=$(lf_agent hook-trg m-trg)
bt() { "$LF_BIN/bustool" -t 3000 "$@"; }
row() { lf_psql "SELECT coalesce((SELECT messages::text FROM runtime.event_interest WHERE service = '$1'), 'none')"; }
rows() { lf_psql "SELECT string_agg(service || '=' || messages, ',' ORDER BY service) FROM runtime.event_interest"; }
both_false() { [ "$(rows)" = "channels=false,scheduler=false" ]; }
t_ok "at start channels and scheduler said they want no Message events" lf_poll 200 both_false

# Every event on the bus, as a subscriber outside sees it.
EV=$LF_TMP/events.txt
lf_bg evsub "$LF_BIN/bustool" -t 120000 sub events 1000000 >"$EV"
n_ping=0
pinged() { grep -q "\"probe-$n_ping\"" "$EV"; }
ping_sub() {
	n_ping=$((n_ping + 1))
	"$LF_BIN/bustool" pub events "{\"payload\":{\"type\":\"Probe\",\"data\":{}},\"source\":\"probe-$n_ping\"}" >/dev/null 2>&1
	pinged
}
t_ok "the subscriber receives events" lf_poll 100 ping_sub
msgs() { grep -c '"type":"Message"' "$EV"; }
health() { bt req agent-runtime sys.health | jq -c "[.body.message_events_sent, .body.message_events_skipped]"; }

# turn TEXT ANSWER: one turn of A; then a probe published after it has
# reached the subscriber, so whatever the turn published came before.
turn() {
	lf_fake_script "$(jq -nc --arg t "$2" '{model: "m-int", steps: [{text: $t}]}')"
	lf_req POST "/api/agents/$A/message" "$(lf_msg_json "$1")"
	[ "$LF_STATUS" = 200 ] || echo "# turn: $LF_STATUS $LF_BODY" >&2
	lf_poll 100 ping_sub
}

# ---- nobody wants them: none published ------------------------------------------
H0=$(health)
turn "quiet one" "quiet answer"
t_eq "no subscription: a turn publishes no Message event" "$(msgs)" 0
t_eq "sys.health: none sent, two left out" "$(health)" "$(echo "$H0" | jq -c '[.[0], .[1] + 2]')"
# Lifecycle events still flow (a spawn publishes Spawned).
lf_agent hook-other m-int >/dev/null
seen_spawn() { grep -q '"Spawned"' "$EV"; }
t_ok "other events still published (Spawned)" lf_poll 100 seen_spawn

# ---- a webhook on message_completed: the very next turn -----------------------
lf_req POST /api/webhooks/events "$(jq -nc --arg u "$LF_RCV/hook/mc" '{url: $u, events: ["message_completed"]}')"
t_eq "an event webhook on message_completed: 201" "$LF_STATUS" 201
HID=$(jb .id)
lf_rcv_ctl mc "$(jb .secret)"
t_eq "channels' interest is stored before the answer" "$(row channels)" true
turn "loud one" "loud answer"
t_eq "the next turn publishes both Message events" "$(msgs)" 2
got_mc() { [ "$(lf_rcv_count mc | jq .ok)" -ge 1 ]; }
t_ok "message_completed delivered at once" lf_poll 200 got_mc
t_eq "the delivery is that turn's answer" \
    "$(curl -s -m 5 "$LF_RCV/__log" | jq -r '[.[] | select(.name == "mc")][0].body.data.payload.data.content')" "loud answer"

# ---- disabled, then enabled, then deleted ------------------------------------
lf_req PUT "/api/webhooks/events/$HID" '{"enabled": false}'
t_eq "disabled: 200" "$LF_STATUS" 200
t_eq "channels' interest is false before the answer" "$(row channels)" false
turn "quiet two" "quiet answer two"
t_eq "a disabled subscription: no Message event" "$(msgs)" 2
lf_req PUT "/api/webhooks/events/$HID" '{"enabled": true}'
t_eq "enabled again: interest true" "$LF_STATUS $(row channels)" "200 true"
lf_req DELETE "/api/webhooks/events/$HID"
t_eq "deleted: interest false" "$LF_STATUS $(row channels)" "204 false"
turn "quiet three" "quiet answer three"
t_eq "after the delete: no Message event" "$(msgs)" 2

# ---- an outbound webhook on all counts too -------------------------------------
lf_req POST /api/webhooks "$(jq -nc --arg u "$LF_RCV/hook/all" '{name: "everything", url: $u, events: ["all"]}')"
t_eq "an outbound webhook on all: 201, interest true" "$LF_STATUS $(row channels)" "201 true"
OID=$(jb .id)
lf_rcv_ctl all "$(jb .secret)"
turn "loud two" "loud answer two"
t_eq "its next turn publishes both" "$(msgs)" 4
lf_req DELETE "/api/webhooks/$OID"
t_eq "deleted: interest false" "$(row channels)" false
# A webhook naming other events only wants none.
lf_req POST /api/webhooks/events "$(jq -nc --arg u "$LF_RCV/hook/x" '{url: $u, events: ["agent_error", "cron_fired"]}')"
t_eq "a webhook on other events: 201, interest false" "$LF_STATUS $(row channels)" "201 false"

# ---- triggers ---------------------------------------------------------------------
TL=$(lf_trigger "$T" '{pattern: "lifecycle"}')
t_eq "a lifecycle trigger: scheduler wants no messages" "$(row scheduler)" false
TA=$(lf_trigger "$T" '{pattern: "all"}')
t_eq "an all trigger: interest true" "$(row scheduler)" true
lf_req DELETE "/api/triggers/$TA"
t_eq "deleted: interest false" "$LF_STATUS $(row scheduler)" "200 false"
TR=$(lf_trigger "$T" '{pattern: {content_match: {substring: "zebra"}}, cooldown_secs: 0}')
t_eq "a content_match trigger: interest true before the answer" "$(row scheduler)" true
lf_fake_script '{"model": "m-trg", "steps": [{"text": "seen"}]}'
turn "a zebra passes" "noted"
t_ok "the very next turn fires it" lf_wait_fire "$TR" 1
lf_req PATCH "/api/triggers/$TR" '{"enabled": false}'
t_eq "disabled: interest false" "$LF_STATUS $(row scheduler)" "200 false"
lf_req PATCH "/api/triggers/$TR" '{"enabled": true}'
t_eq "enabled: interest true" "$LF_STATUS $(row scheduler)" "200 true"
lf_req DELETE "/api/triggers/$TR"
t_eq "deleted: interest false" "$LF_STATUS $(row scheduler)" "200 false"
N=$(msgs)
turn "quiet four" "quiet answer four"
t_eq "no trigger or webhook wants them: none published" "$(msgs)" "$N"

# ---- events.interest itself ---------------------------------------------------------
ei() { bt req agent-runtime events.interest "{\"body\": $1}" | jq -c '[.status, .body]'; }
t_eq "a newer answer is kept" "$(ei '{"service": "t-probe", "messages": true, "as_of": "2099-01-01T00:00:00Z"}')" \
    '[200,{"applied":true,"messages":true,"service":"t-probe"}]'
t_eq "an older one is not" "$(ei '{"service": "t-probe", "messages": false, "as_of": "2098-01-01T00:00:00Z"}')" \
    '[200,{"applied":false,"messages":false,"service":"t-probe"}]'
t_eq "the row keeps the newest" "$(row t-probe)" true
N=$(msgs)
turn "loud three" "loud answer three"
t_eq "any service's interest turns them on" "$(msgs)" "$((N + 2))"
# An ephemeral turn (no take) goes by what this process's last take read.
eturn() {
	lf_fake_script "$(jq -nc --arg t "$2" '{model: "m-int", steps: [{text: $t}]}')"
	lf_req POST "/api/agents/$A/message" "$(jq -nc --arg m "$1" '{message: $m, ephemeral: true}')"
	[ "$LF_STATUS" = 200 ] || echo "# ephemeral turn: $LF_STATUS $LF_BODY" >&2
	lf_poll 100 ping_sub
}
eturn "ephemeral loud" "ephemeral answer"
t_eq "an ephemeral turn after a take that read true publishes both" "$(msgs)" "$((N + 4))"
ei '{"service": "t-probe", "messages": false, "as_of": "2099-01-02T00:00:00Z"}' >/dev/null
t_eq "and off again" "$(row t-probe)" false
turn "quiet five" "quiet answer five"
eturn "ephemeral quiet" "ephemeral answer two"
t_eq "an ephemeral turn after a take that read false: none" "$(msgs)" "$((N + 4))"
bad() { bt req agent-runtime events.interest "{\"body\": $1}" | jq -c '[.status, (.body | keys)]'; }
t_eq "no service: 400" "$(bad '{"messages": true, "as_of": "2099-01-01T00:00:00Z"}')" '[400,["error"]]'
t_eq "messages not a boolean: 400" "$(bad '{"service": "x", "messages": "yes", "as_of": "2099-01-01T00:00:00Z"}')" '[400,["error"]]'
t_eq "as_of not a time: 400" "$(bad '{"service": "x", "messages": true, "as_of": "yesterday-ish"}')" '[400,["error"]]'
t_eq "as_of missing: 400" "$(bad '{"service": "x", "messages": true}')" '[400,["error"]]'
t_eq "an unknown field: 400" "$(bad '{"service": "x", "messages": true, "as_of": "2099-01-01T00:00:00Z", "extra": 1}')" '[400,["error"]]'
t_eq "a body not an object: 400" "$(bad '[1]')" '[400,["error"]]'
t_eq "nothing stored by bad input" "$(row x)" none

lf_stack_stop
t_done
