#!/usr/bin/env bash
# t8204-webhooks-lifecycle.sh - every event name a webhook can subscribe
# to is delivered (issue 12 part 3, services/channels/README.md,
# "Outbound webhooks"): message_received, message_completed, agent_error,
# trigger_fired, workflow_completed and workflow_failed, each caused for
# real (turns through the fake provider, one whose provider fails, a
# trigger matching a turn's message, a workflow that completes and one
# that fails) and checked at a real receiver that verifies the signature
# (tests/helpers/hook_receiver.py), with the agent, trigger, workflow and
# run ids in it; a refused request is no agent_error; a trigger matching
# messages does not fire on the messages of its fire's turn (no loop); a
# subscription naming other events gets nothing.
. "$(dirname "$0")/../lib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-hook-life-0123456789
lf_config '[webhooks]
allowed_hosts = ["127.0.0.1"]'
lf_rcv_start
lf_fake_stack agent-runtime scheduler channels
lf_wait_ok /api/workflows || { echo "Bail out! the scheduler did not answer"; lf_dump_logs; exit 1; }

A=$(lf_agent hook-life m-life)
E=$(lf_agent hook-err m-err)
T=$(lf_agent hook-bell m-bell)

# One webhook per event (events/ spelling for two of them), and one that
# names only events this script never causes.
for ev in message_received message_completed agent_error trigger_fired workflow_completed workflow_failed; do
	lf_req POST /api/webhooks "$(jq -nc --arg n "$ev" --arg u "$LF_RCV/hook/$ev" '{name: $n, url: $u, events: [$n]}')"
	[ "$LF_STATUS" = 201 ] || echo "# webhook $ev: $LF_STATUS $LF_BODY" >&2
	lf_rcv_ctl "$ev" "$(jb .secret)"
done
t_eq "six webhooks, one per event" "$(lf_psql "SELECT count(*) FROM channels.webhooks")" 6
lf_req POST /api/webhooks/events "$(jq -nc --arg u "$LF_RCV/hook/other" '{url: $u, events: ["cron_fired", "task_posted", "agent_stopped"]}')"
t_eq "and one on other events" "$LF_STATUS" 201
lf_rcv_ctl other "$(jb .secret)"

log() { curl -s -m 5 "$LF_RCV/__log" | jq -c "[.[] | select(.name == \"$1\")]"; }
has() { [ "$(log "$1" | jq "[.[] | select($2)] | length")" -ge 1 ]; }
# the one delivery of NAME matching SEL, as JQ (jq -c)
one() { log "$1" | jq -c "[.[] | select($2)] | if length == 1 then .[0] | $3 else \"\(length) deliveries\" end"; }

# ---- a turn: message_received, message_completed ------------------------------------
lf_fake_script '{"model": "m-life", "steps": [{"text": "first answer"}]}'
lf_req POST "/api/agents/$A/message" '{"message": "hello lifecycle"}'
t_eq "a turn on A: 200" "$LF_STATUS $(jb .response)" "200 first answer"
R1=".body.data.payload.data.content == \"hello lifecycle\""
t_ok "message_received is delivered" lf_poll 200 has message_received "$R1"
t_eq "signed and verified, a user Message from A naming the agent and its session" \
    "$(one message_received "$R1" '[.ok, .event, .body.event, .body.data.source, .body.data.payload.type, .body.data.payload.data.role, .body.data.payload.data.metadata.agent_id, (.body.data.payload.data.metadata.session_id | length)]')" \
    "[true,\"message_received\",\"message_received\",\"$A\",\"Message\",\"user\",\"$A\",36]"
C1=".body.data.payload.data.content == \"first answer\""
t_ok "message_completed is delivered" lf_poll 200 has message_completed "$C1"
t_eq "an agent Message from A with the answer's usage" \
    "$(one message_completed "$C1" '[.ok, .event, .body.data.source, .body.data.payload.data.role, .body.data.payload.data.metadata.agent_id, (.body.data.payload.data.metadata.iterations > 0)]')" \
    "[true,\"message_completed\",\"$A\",\"agent\",\"$A\",true]"

# ---- a turn whose provider fails: agent_error ------------------------------------
lf_fake_script '{"model": "m-err", "steps": [{"status": 400}, {"status": 400}, {"status": 400}]}'
lf_req POST "/api/agents/$E/message" '{"message": "this will fail"}'
t_ok "a turn on E whose provider fails: 5xx ($LF_STATUS)" test "$LF_STATUS" -ge 500
X1=".body.data.payload.data.agent_id == \"$E\""
t_ok "agent_error is delivered" lf_poll 200 has agent_error "$X1"
t_eq "a Lifecycle Crashed of E with the turn's status and error" \
    "$(one agent_error "$X1" '[.ok, .event, .body.data.source, .body.data.payload.type, .body.data.payload.data.event, (.body.data.payload.data.status >= 500), (.body.data.payload.data.error | test("400"))]')" \
    "[true,\"agent_error\",\"$E\",\"Lifecycle\",\"Crashed\",true,true]"
# A request refused before any turn is the caller's error, not the agent's.
lf_req POST "/api/agents/$A/message" '{"message": "x", "max_tokens": 0}'
t_eq "a bad request to A: 400" "$LF_STATUS" 400

# ---- a trigger: trigger_fired, and no loop ----------------------------------------
TR=$(lf_trigger "$T" '{pattern: {content_match: {substring: "ring the bell"}}, cooldown_secs: 0}')
lf_fake_script '{"model": "m-life", "steps": [{"text": "done"}]}'
lf_fake_script '{"model": "m-bell", "steps": [{"text": "I will ring the bell again"}]}'
lf_req POST "/api/agents/$A/message" '{"message": "please ring the bell"}'
t_eq "a turn on A whose message the trigger matches: 200" "$LF_STATUS" 200
F1=".body.data.payload.data.trigger_id == \"$TR\""
t_ok "trigger_fired is delivered" lf_poll 200 has trigger_fired "$F1"
EVID=$(log message_received | jq -r '[.[] | select(.body.data.payload.data.content == "please ring the bell")][0].body.data.id')
t_eq "a Custom trigger.fired naming the trigger, its owner, the recipient and the matched event" \
    "$(one trigger_fired "$F1" '[.ok, .event, .body.data.source, .body.data.payload.type, .body.data.payload.data.type, .body.data.payload.data.agent_id, .body.data.payload.data.recipient, .body.data.payload.data.event_id, .body.data.payload.data.event_type, .body.data.depth]')" \
    "[true,\"trigger_fired\",\"$T\",\"Custom\",\"trigger.fired\",\"$T\",\"$T\",\"$EVID\",\"Message\",1]"
B1=".body.data.payload.data.metadata.agent_id == \"$T\""
bell_done() { has message_completed "$B1"; }
t_ok "the fire's turn on T ends (message_completed)" lf_poll 200 bell_done
t_eq "its messages name the trigger, one deeper" \
    "$(log message_completed | jq -c --arg t "$T" '[.[] | select(.body.data.payload.data.metadata.agent_id == $t)][0].body.data | [.payload.data.metadata.trigger_id, .depth]')" \
    "[\"$TR\",1]"
# Its turn's messages both say "ring the bell": triggers do not match the
# reports of turns a trigger caused (depth 1), so no loop.  A later turn's
# message, evaluated after them (one events thread, in order), proves they
# were seen.
lf_fake_script '{"model": "m-life", "steps": [{"text": "ok"}]}'
lf_req POST "/api/agents/$A/message" '{"message": "the end of the bell"}'
ended() { has message_completed '.body.data.payload.data.content == "ok"'; }
lf_poll 200 ended
sleep 1
t_eq "one fire, not a loop" "$(lf_psql "SELECT count(*) FROM scheduler.trigger_fires WHERE trigger_id = '$TR'")" 1

# ---- workflows: workflow_completed, workflow_failed --------------------------------
lf_req POST /api/workflows "$(jq -nc --arg a "$A" '{name: "wf-ok", steps: [{name: "s", agent_id: $a, prompt: "do {{input}}"}]}')"
WOK=$(jb .workflow_id)
lf_req POST /api/workflows "$(jq -nc --arg e "$E" '{name: "wf-bad", steps: [{name: "s", agent_id: $e, prompt: "fail {{input}}"}]}')"
WBAD=$(jb .workflow_id)
lf_fake_script '{"model": "m-life", "steps": [{"text": "workflow output"}]}'
lf_req POST "/api/workflows/$WOK/run" '{"input": "it"}'
t_eq "a workflow that completes: 200" "$LF_STATUS $(jb .status)" "200 completed"
ROK=$(jb .run_id)
W1=".body.data.payload.data.run_id == \"$ROK\""
t_ok "workflow_completed is delivered" lf_poll 200 has workflow_completed "$W1"
t_eq "a Custom workflow.completed naming the workflow, its name and its output" \
    "$(one workflow_completed "$W1" '[.ok, .event, .body.data.payload.type, .body.data.payload.data.type, .body.data.payload.data.workflow_id, .body.data.payload.data.workflow_name, .body.data.payload.data.output]')" \
    "[true,\"workflow_completed\",\"Custom\",\"workflow.completed\",\"$WOK\",\"wf-ok\",\"workflow output\"]"
lf_fake_script '{"model": "m-err", "steps": [{"status": 400}, {"status": 400}, {"status": 400}]}'
lf_req POST "/api/workflows/$WBAD/run" '{"input": "it"}'
t_eq "a workflow that fails: 422" "$LF_STATUS $(jb .status)" "422 failed"
RBAD=$(jb .run_id)
W2=".body.data.payload.data.run_id == \"$RBAD\""
t_ok "workflow_failed is delivered" lf_poll 200 has workflow_failed "$W2"
t_eq "a Custom workflow.failed naming the workflow and why" \
    "$(one workflow_failed "$W2" '[.ok, .event, .body.data.payload.data.type, .body.data.payload.data.workflow_id, (.body.data.payload.data.error | length > 0)]')" \
    "[true,\"workflow_failed\",\"workflow.failed\",\"$WBAD\",true]"

# ---- each fact once, and nothing else -----------------------------------------
# received: A x3 (hello, bell, end), E, T, the workflows' A and E;
# completed: A x3, T, the workflow's A; errors: E and the workflow's E.
want='{"message_received":7,"message_completed":5,"agent_error":2,"trigger_fired":1,"workflow_completed":1,"workflow_failed":1,"other":0}'
counts() { curl -s -m 5 "$LF_RCV/__log" | jq -c 'reduce .[] as $d ({"message_received":0,"message_completed":0,"agent_error":0,"trigger_fired":0,"workflow_completed":0,"workflow_failed":0,"other":0}; .[$d.name] += 1)'; }
settled() { [ "$(counts)" = "$want" ]; }
lf_poll 100 settled
sleep 1
t_eq "each fact delivered once per subscription, none to the other one" "$(counts)" "$want"
t_eq "every delivery verified" "$(curl -s -m 5 "$LF_RCV/__log" | jq '[.[] | select(.ok != true)] | length')" 0
t_eq "every delivery recorded delivered" \
    "$(lf_psql "SELECT count(*) FILTER (WHERE state = 'delivered') || ' ' || count(*) FROM channels.webhook_deliveries")" "17 17"

lf_stack_stop
t_done
