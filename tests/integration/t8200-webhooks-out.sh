#!/usr/bin/env bash
# t8200-webhooks-out.sh - outbound webhooks (services/channels/README.md,
# "Outbound webhooks"): /api/webhooks and /api/webhooks/events CRUD and
# their shapes; bad input (URLs inside the network, metadata addresses,
# schemes, user@host, events, ids, garbage) refused with a 4xx; the test
# route; events from the bus delivered to a real receiver
# (tests/helpers/hook_receiver.py) that verifies each delivery's
# HMAC-SHA256 over "timestamp.body" and its timestamp window; retries
# with backoff on 500, every attempt recorded; a 4xx, a refused signature
# and the attempts used up end the delivery; kill -9 of the channels
# service mid-delivery loses nothing and repeats nothing but the
# deliveries in flight, under the same delivery id.
. "$(dirname "$0")/../lib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
lf_config '[webhooks]
allowed_hosts = ["127.0.0.1"]
backoff_base_ms = 100
backoff_max_secs = 1
timeout_secs = 2
max_attempts = 4'
lf_rcv_start
lf_stack_start agent-runtime channels

# pub TYPE DATA: an event as msg_event() builds it; prints its id.
pub() {
	local id
	id=$(cat /proc/sys/kernel/random/uuid)
	"$LF_BIN/bustool" pub events "$(jq -nc --arg id "$id" --arg t "$1" --argjson d "$2" \
	    '{id: $id, source: "", target: {type: "Broadcast"}, payload: {type: $t, data: $d}, timestamp: "2026-01-01T00:00:00Z", depth: 0}')" ||
	    echo "# bustool pub failed" >&2
	echo "$id"
}
cron() { pub Custom "{\"type\": \"cron.$1\", \"text\": \"tick\", \"job_id\": \"j\"}"; }
# mk NAME EVENTS [SECRET]: creates /hook/NAME's webhook; prints its id.
mk() {
	local b
	b=$(jq -nc --arg n "$1" --arg u "$LF_RCV/hook/$1" --argjson e "$2" '{name: $n, url: $u, events: $e}')
	[ -n "${3:-}" ] && b=$(jq -c --arg s "$3" '. + {secret: $s}' <<<"$b")
	lf_req POST /api/webhooks "$b"
	[ "$LF_STATUS" = 201 ] || echo "# create $1: $LF_STATUS $LF_BODY" >&2
	jb .id
}
count() { lf_rcv_count "$1" | jq -r ".$2"; }
has() { [ "$(count "$1" "$2")" -ge "$3" ]; }
state() { lf_psql "SELECT string_agg(state, ',' ORDER BY created_at) FROM channels.webhook_deliveries WHERE webhook_id = '$1' AND event <> 'test'"; }
is_state() { [ "$(state "$1")" = "$2" ]; }

# ---- CRUD ----------------------------------------------------------------------------
lf_req POST /api/webhooks "{\"name\": \"ci\", \"url\": \"$LF_RCV/hook/a\", \"events\": [\"agent.spawned\", \"cron_fired\"]}"
t_eq "create: 201" "$LF_STATUS" 201
ID=$(jb .id)
SECRET=$(jb .secret)
t_eq "create: the shape" "$(jbc '[keys, .name, .url == "'"$LF_RCV/hook/a"'", .events, .enabled]')" \
    '[["created_at","enabled","events","id","name","secret","updated_at","url"],"ci",true,["agent_spawned","cron_fired"],true]'
t_ok "create: a generated secret, shown once" grep -Eq '^whsec_[0-9a-f]{64}$' <<<"$SECRET"
lf_req GET /api/webhooks
t_eq "list: {webhooks, total}, the secret hidden" "$(jbc '[.total, .webhooks[0].id == "'"$ID"'", .webhooks[0].secret]')" '[1,true,"***"]'
lf_req GET "/api/webhooks/$ID"
t_eq "get: 200, the secret hidden, no delivery yet" "$LF_STATUS $(jbc '[.secret, .recent_deliveries]')" '200 ["***",[]]'
lf_req PUT "/api/webhooks/$ID" '{"name": "ci-2", "enabled": false, "events": ["all"]}'
t_eq "update: 200 with the changes" "$LF_STATUS $(jbc '[.name, .enabled, .events, .secret]')" '200 ["ci-2",false,["all"],"***"]'
lf_req PUT "/api/webhooks/$ID" '{"enabled": true, "events": ["cron_fired"]}'
t_eq "update: a field left out is kept" "$(jbc '[.name, .enabled]')" '["ci-2",true]'
lf_req POST /api/webhooks "{\"name\": \"gone\", \"url\": \"$LF_RCV/hook/gone\", \"events\": [\"all\"], \"secret\": \"mine-0123\"}"
G=$(jb .id)
t_eq "create with a secret: that one is shown" "$(jb .secret)" mine-0123
lf_req DELETE "/api/webhooks/$G"
t_eq "delete: 204" "$LF_STATUS" 204
lf_req GET "/api/webhooks/$G"
t_eq "deleted: 404" "$LF_STATUS" 404
lf_req DELETE "/api/webhooks/$G"
t_eq "deleted twice: 404" "$LF_STATUS" 404

# ---- bad input -----------------------------------------------------------------------
bad() {
	local desc=$1 want=$2 method=$3 path=$4 body=$5
	lf_req "$method" "$path" "$body"
	t_eq "$desc: $want" "$LF_STATUS $(lf_err_shape && echo shaped)" "$want shaped"
}
u() { jq -nc --arg u "$1" '{name: "x", url: $u, events: ["all"]}'; }
bad "no url" 400 POST /api/webhooks '{"name": "x", "events": ["all"]}'
bad "no name" 400 POST /api/webhooks "{\"url\": \"$LF_RCV/hook/a\", \"events\": [\"all\"]}"
bad "ftp URL" 400 POST /api/webhooks "$(u ftp://example.com/x)"
bad "not a URL" 400 POST /api/webhooks "$(u 'not a url')"
bad "loopback not allowlisted" 400 POST /api/webhooks "$(u http://127.0.0.2:9/x)"
bad "localhost" 400 POST /api/webhooks "$(u http://localhost:9/x)"
bad "a private address" 400 POST /api/webhooks "$(u http://10.1.2.3/x)"
bad "CGNAT" 400 POST /api/webhooks "$(u http://100.64.0.1/x)"
bad "link-local" 400 POST /api/webhooks "$(u http://169.254.10.10/x)"
bad "cloud metadata" 400 POST /api/webhooks "$(u http://169.254.169.254/latest/meta-data)"
bad "metadata by name" 400 POST /api/webhooks "$(u http://metadata.google.internal/x)"
bad "IPv4-mapped loopback" 400 POST /api/webhooks "$(u 'http://[::ffff:127.0.0.1]:9/x')"
bad "IPv6 unique-local" 400 POST /api/webhooks "$(u 'http://[fd00::1]/x')"
bad "decimal 127.0.0.2" 400 POST /api/webhooks "$(u http://2130706434/x)"
bad "octal 127.0.0.2" 400 POST /api/webhooks "$(u http://0177.0.0.2/x)"
bad "user@host" 400 POST /api/webhooks "$(u "http://user@127.0.0.1:9/x")"
bad "a 3000-byte URL" 400 POST /api/webhooks "$(u "https://example.com/$(head -c 3000 /dev/zero | tr '\0' a)")"
bad "no events" 400 POST /api/webhooks "{\"name\": \"x\", \"url\": \"$LF_RCV/hook/a\", \"events\": []}"
bad "an unknown event" 400 POST /api/webhooks "{\"name\": \"x\", \"url\": \"$LF_RCV/hook/a\", \"events\": [\"agent.exploded\"]}"
bad "an empty secret" 400 POST /api/webhooks "{\"name\": \"x\", \"url\": \"$LF_RCV/hook/a\", \"events\": [\"all\"], \"secret\": \"\"}"
bad "an unknown field" 400 POST /api/webhooks "{\"name\": \"x\", \"url\": \"$LF_RCV/hook/a\", \"events\": [\"all\"], \"color\": 1}"
bad "enabled not a boolean" 400 POST /api/webhooks "{\"name\": \"x\", \"url\": \"$LF_RCV/hook/a\", \"events\": [\"all\"], \"enabled\": \"yes\"}"
bad "a body that is not an object" 400 POST /api/webhooks '[1, 2]'
bad "garbage" 400 POST /api/webhooks '{"name": '
bad "get: a bad uuid" 400 GET /api/webhooks/not-a-uuid ''
bad "get: an unknown uuid" 404 GET /api/webhooks/00000000-0000-4000-8000-000000000000 ''
bad "update: a metadata URL" 400 PUT "/api/webhooks/$ID" '{"url": "http://169.254.169.254/"}'
bad "update: a bad uuid" 400 PUT /api/webhooks/x '{"enabled": true}'
bad "test: an unknown uuid" 404 POST /api/webhooks/00000000-0000-4000-8000-000000000000/test ''
lf_req GET "/api/webhooks/$ID"
t_eq "nothing was half-written: one webhook, its URL unchanged" \
    "$(lf_psql 'SELECT count(*) FROM channels.webhooks') $(jb .url)" "1 $LF_RCV/hook/a"

# ---- event subscriptions ---------------------------------------------------------------
lf_req POST /api/webhooks/events "{\"event_type\": \"agent_spawned\", \"url\": \"$LF_RCV/hook/ev\", \"secret\": \"ev-secret-0123\"}"
t_eq "events: create 201" "$LF_STATUS $(jbc '[.events, .enabled, .secret]')" '201 [["agent_spawned"],true,"ev-secret-0123"]'
EV=$(jb .id)
lf_req GET /api/webhooks/events
t_eq "events: list is an array, the secret hidden" "$(jbc '[length, .[0].id == "'"$EV"'", .[0].secret]')" '[1,true,"***"]'
lf_req PUT "/api/webhooks/events/$EV" '{"events": ["agent.spawned", "workflow.completed"]}'
t_eq "events: update" "$LF_STATUS $(jbc .events)" '200 ["agent_spawned","workflow_completed"]'
bad "events: an unknown event_type" 400 POST /api/webhooks/events "{\"event_type\": \"nope\", \"url\": \"$LF_RCV/hook/ev\"}"
bad "events: a private URL" 400 POST /api/webhooks/events '{"event_type": "agent_spawned", "url": "http://192.168.1.1/"}'
bad "events: update unknown" 404 PUT /api/webhooks/events/nonexistent-id '{"enabled": false}'
bad "events: delete unknown" 404 DELETE /api/webhooks/events/00000000-0000-4000-8000-000000000000 ''
lf_req GET /api/webhooks
t_eq "the kinds are apart: /api/webhooks lists one" "$(jb .total)" 1

# ---- the test route ----------------------------------------------------------------------
lf_rcv_ctl a "$SECRET"
lf_req POST "/api/webhooks/$ID/test"
t_eq "test: 200 sent, the receiver's status" "$LF_STATUS $(jbc '[.status, .response_status, .webhook_id == "'"$ID"'"]')" '200 ["sent",200,true]'
t_eq "test: the receiver verified it" "$(curl -s "$LF_RCV/__log" | jq -c '[.[] | select(.name == "a")] | [length, .[0].ok, .[0].event, .[0].body.data.message != null]')" '[1,true,"test",true]'
lf_req GET "/api/webhooks/$ID"
t_eq "test: recorded as a delivery with its attempt" "$(jbc '.recent_deliveries[0] | [.event, .state, .attempts, .attempt_log[0].status]')" '["test","delivered",1,200]'

# ---- events delivered ----------------------------------------------------------------------
lf_rcv_ctl ev ev-secret-0123
E1=$(cron nightly)
t_ok "a cron event is delivered" lf_poll 200 has a ok 2
t_eq "with its event, its delivery id and the bus event as data" \
    "$(curl -s "$LF_RCV/__log" | jq -c --arg e "$E1" '[.[] | select(.name == "a" and .event == "cron_fired")][0] | [.ok, .body.data.id == $e, .body.data.payload.data.type, (.delivery | test("^[0-9a-f-]{36}$"))]')" \
    '[true,true,"cron.nightly",true]'
lf_req POST /api/agents "$(lf_spawn_json 'name = "hooked"
[model]
provider = "openai"
model = "gpt-4o-mini"')"
t_eq "an agent spawned" "$LF_STATUS" 201
t_ok "the event subscription gets agent_spawned" lf_poll 200 has ev ok 1
t_eq "and /hook/a (cron_fired only) does not" "$(curl -s "$LF_RCV/__log" | jq '[.[] | select(.name == "a" and .event == "agent_spawned")] | length')" 0
pub Custom '{"type": "deploy.done"}' >/dev/null
pub Lifecycle '{"event": "Unknown"}' >/dev/null
E2=$(cron twice)
"$LF_BIN/bustool" pub events "$(jq -nc --arg id "$E2" '{id: $id, source: "", target: {type: "Broadcast"}, payload: {type: "Custom", data: {type: "cron.twice"}}, timestamp: "2026-01-01T00:00:00Z", depth: 0}')"
t_ok "an event published twice" lf_poll 200 has a ok 3
sleep 0.5
t_eq "is queued once" "$(lf_psql "SELECT count(*) FROM channels.webhook_deliveries WHERE event_id = '$E2' AND webhook_id = '$ID'")" 1

# ---- retries and their end ---------------------------------------------------------------
R=$(mk retry '["cron_fired"]' retry-secret-01)
lf_rcv_ctl retry retry-secret-01 '[500, 503]'
cron r >/dev/null
t_ok "500, 503, then delivered" lf_poll 300 is_state "$R" delivered
lf_req GET "/api/webhooks/$R"
t_eq "each attempt recorded: status, latency, replica" "$(jbc '.recent_deliveries[0] | [.attempts, [.attempt_log[].status], (.attempt_log | all(.latency_ms >= 0 and (.replica | length) > 0)), .last_status]')" '[3,[500,503,200],true,200]'
t_eq "the receiver saw one delivery id three times" "$(lf_rcv_count retry | jq -c '[.requests, .unique, .ok]')" '[3,1,1]'
F=$(mk fail '["cron_fired"]' fail-secret-01)
lf_rcv_ctl fail fail-secret-01 '[500, 500, 500, 500, 500, 500]'
cron f >/dev/null
t_ok "always 500: failed after max_attempts" lf_poll 300 is_state "$F" failed
t_eq "4 attempts, the last error kept" "$(lf_psql "SELECT attempts || ' ' || last_status || ' ' || last_error FROM channels.webhook_deliveries WHERE webhook_id = '$F'")" "4 500 HTTP 500"
t_eq "backoff: the attempts were spread (>= 100+200+400 ms)" "$(lf_psql "SELECT (max(at) - min(at)) >= interval '700 milliseconds' FROM channels.webhook_attempts a JOIN channels.webhook_deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = '$F'")" t
C=$(mk client '["cron_fired"]' client-secret-1)
lf_rcv_ctl client client-secret-1 '[400]'
cron c >/dev/null
t_ok "a 400 ends the delivery at once" lf_poll 200 is_state "$C" failed
t_eq "after one attempt" "$(lf_rcv_count client | jq .requests)" 1
S=$(mk signed '["cron_fired"]' the-real-secret)
lf_rcv_ctl signed not-the-secret
cron s >/dev/null
t_ok "a receiver with another secret refuses the signature (401, final)" lf_poll 200 is_state "$S" failed
t_eq "the receiver said why" "$(curl -s "$LF_RCV/__log" | jq -r '[.[] | select(.name == "signed")][0].why')" "bad signature"

# ---- kill -9 mid-delivery -------------------------------------------------------------------
K=$(mk kill '["cron_fired"]' kill-secret-01)
lf_rcv_ctl kill kill-secret-01 '[]' 700
for i in 1 2 3 4 5 6; do cron "k$i" >/dev/null; done
t_ok "deliveries under way" lf_poll 200 has kill requests 2
# The six events are published, not sent: each is queued when channels
# has read it, which a loaded machine may do after two deliveries began.
queued() { [ "$(lf_psql "SELECT count(*) FROM channels.webhook_deliveries WHERE webhook_id = '$K'")" = "$1" ]; }
t_ok "queued before the kill: all six rows" lf_poll 200 queued 6
lf_stop channels KILL
t_ok "and still six after it" queued 6
lf_start channels
t_ok "after the restart all six are delivered" lf_poll 600 is_state "$K" delivered,delivered,delivered,delivered,delivered,delivered
t_eq "the receiver has six delivery ids, each accepted" "$(lf_rcv_count kill | jq -c '[.unique, .ok]')" '[6,6]'
N=$(lf_rcv_count kill | jq .requests)
t_ok "a repeat only for what was in flight (requests $N <= 6 + 2 workers)" test "$N" -le 8
t_eq "every accepted request matches a row" "$(lf_psql "SELECT count(*) FROM channels.webhook_deliveries WHERE webhook_id = '$K' AND id::text IN ($(curl -s "$LF_RCV/__log" | jq -r '[.[] | select(.name == "kill") | "'"'"'" + .delivery + "'"'"'"] | unique | join(",")'))")" 6
lf_tail_failed channels.log
t_done
