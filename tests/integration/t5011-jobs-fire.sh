#!/usr/bin/env bash
# t5011-jobs-fire.sh - the fire engine (issue 9, item 1) against the fake
# LLM provider: an interval job's turns really run with its prompt, one
# fire row per slot, recorded with result and duration on the fire and
# run_count/last_run on the job; a system_event job fires without a turn;
# a manual run answers with the reply; a one-shot fires once; session_mode
# "new" gives each fire a session of its own without switching the agent;
# N consecutive failures disable the job and say why; a slow job never
# delays another.
. "$(dirname "$0")/../lib.sh"

lf_unset_provider_keys
export FAKE_API_KEY=sk-fake-jobs-0123456789
lf_config '[scheduler]
min_interval_secs = 1
tick_ms = 100
lease_secs = 5'
lf_fake_stack agent-runtime scheduler

# job AGENT JSON-EXTRA: a cron job; prints its id.
job() {
	lf_req POST /api/cron/jobs "$(jq -nc --arg a "$1" --argjson x "$2" '{agent_id: $a} + $x')"
	[ "$LF_STATUS" = 201 ] || echo "# job: $LF_STATUS $LF_BODY" >&2
	jb .id
}
# fires JOB: its finished fires' count.
fires() { lf_psql "SELECT count(*) FROM scheduler.job_fires WHERE job_id = '$1' AND state <> 'running'"; }
has_fires() { [ "$(fires "$1")" -ge "$2" ]; }
# status JOB FILTER
status() { lf_req GET "/api/cron/jobs/$1/status"; jb "$2"; }
is_disabled() { [ "$(status "$1" .enabled)" = false ]; }

A=$(lf_agent ticker m-tick)
B=$(lf_agent failer m-fail)
C=$(lf_agent sessions m-sess)
D=$(lf_agent slowpoke m-slow)

# ---- an interval job fires, with its prompt -------------------------------------
T0=$(lf_ms)
J=$(job "$A" '{"name": "tick", "schedule": {"kind": "every", "every_secs": 2}, "prompt": "Tick prompt"}')
lf_poll 200 has_fires "$J" 3 || echo "# three fires of a 2 s job did not come within 10 s ($(fires "$J"))"
t_ok "an every-2s job fired three times within 10 s" has_fires "$J" 3
t_eq "each fire ran a turn with the job's prompt" \
    "$(lf_fake_requests m-tick | jq -r '[.[].body.messages[-1].content] | unique | join(",")')" "Tick prompt"
lf_req PUT "/api/cron/jobs/$J/enable" '{"enabled": false}'
sleep 0.5
N=$(lf_fake_requests m-tick | jq length)
t_eq "one turn per fire" "$N" "$(fires "$J")"
t_eq "one fire row per slot" \
    "$(lf_psql "SELECT count(*) = count(DISTINCT slot) FROM scheduler.job_fires WHERE job_id = '$J'")" t
t_eq "slots 2 s apart" \
    "$(lf_psql "SELECT bool_and(d = 2) FROM (SELECT extract(epoch FROM slot - lag(slot) OVER (ORDER BY slot)) AS d FROM scheduler.job_fires WHERE job_id = '$J') x WHERE d IS NOT NULL")" t
t_eq "each fired within a second of its slot" \
    "$(lf_psql "SELECT bool_and(fired_at - slot < interval '1 second') FROM scheduler.job_fires WHERE job_id = '$J'")" t
status "$J" . >/dev/null
t_eq "status: run_count, last_run, no error" \
    "$(jb .run_count) $(jb '.last_run != null') $(jb .last_error) $(jb .last_status)" "$N true null ok"
t_eq "status: the fires with state and duration" \
    "$(jb '[.recent_fires[] | .state == "ok" and .duration_ms >= 0 and .attempts == 1] | all')" true
t_eq "the reply is kept on the fire" \
    "$(lf_psql "SELECT result FROM scheduler.job_fires WHERE job_id = '$J' ORDER BY slot LIMIT 1")" "echo: Tick prompt"
sleep 2.5
t_eq "a disabled job does not fire" "$(lf_fake_requests m-tick | jq length)" "$N"

# ---- manual run -----------------------------------------------------------------
lf_req POST "/api/schedules/$J/run"
t_eq "run now: 200 triggered with the reply" "$LF_STATUS $(jb .status) $(jb .id) $(jb .response)" \
    "200 triggered $J echo: Tick prompt"
RUN=$(jb .run_id)
t_eq "run now: a manual fire row, recorded" \
    "$(lf_psql "SELECT manual, state FROM scheduler.job_fires WHERE id = '$RUN'")" "t|ok"
t_eq "run now: counted on the job" "$(status "$J" .run_count)" "$((N + 1))"

# ---- system_event -----------------------------------------------------------------
timeout 20 "$LF_BIN/bustool" -t 15000 sub events 2 >"$LF_TMP/events" 2>/dev/null &
SUB=$!
sleep 0.3	# subscribed before the first fire
E=$(job "$A" '{"name": "heartbeat", "schedule": {"kind": "every", "every_secs": 1}, "action": {"kind": "system_event", "text": "beat"}}')
lf_poll 100 has_fires "$E" 2
t_ok "a system_event job fires" has_fires "$E" 2
timeout 20 tail --pid=$SUB -f /dev/null
t_eq "it publishes a Custom event on 'events'" \
    "$(head -n 1 "$LF_TMP/events" | sed 's/^events //' | jq -c '[.payload.type, .payload.data.type, .payload.data.text, .payload.data.job_id == "'"$E"'", .target.type]')" \
    '["Custom","cron.heartbeat","beat",true,"Broadcast"]'
t_eq "without a turn" "$(lf_fake_requests m-tick | jq length)" "$((N + 1))"
lf_req DELETE "/api/cron/jobs/$E"

# ---- one-shot ---------------------------------------------------------------------
AT=$(date -u -d '+2 seconds' +%FT%TZ)
O=$(job "$A" "{\"name\": \"once\", \"schedule\": {\"kind\": \"at\", \"at\": \"$AT\"}, \"prompt\": \"Once prompt\"}")
lf_req GET "/api/cron/jobs/$O"
t_eq "a one-shot is one_shot with next_run at its time" "$(jb .one_shot) $(jb .next_run)" "true $AT"
lf_poll 100 has_fires "$O" 1
sleep 1.5
status "$O" . >/dev/null
t_eq "it fired once" "$(fires "$O") $(jb .run_count) $(jb .next_run)" "1 1 null"

# ---- session_mode new ---------------------------------------------------------------
lf_req GET "/api/agents/$C/session"
CUR=$(jb .session_id)
S=$(job "$C" '{"name": "fresh", "schedule": {"kind": "every", "every_secs": 1}, "prompt": "Fresh prompt", "session_mode": "new"}')
lf_poll 200 has_fires "$S" 2
lf_req PUT "/api/cron/jobs/$S/enable" '{"enabled": false}'
sleep 0.5
t_eq "session_mode new: a session per fire" \
    "$(lf_psql "SELECT count(DISTINCT session_id) = count(*) AND count(*) >= 2 FROM scheduler.job_fires WHERE job_id = '$S'")" t
t_eq "session_mode new: the fires succeeded" \
    "$(lf_psql "SELECT bool_and(state = 'ok') FROM scheduler.job_fires WHERE job_id = '$S'")" t
lf_req GET "/api/agents/$C/sessions"
t_ok "session_mode new: the agent has those sessions ($(jb '.sessions | length'))" \
    test "$(jb '.sessions | length')" -ge 3
lf_req GET "/api/agents/$C/session"
t_eq "session_mode new: the agent's current session is unchanged" "$(jb .session_id)" "$CUR"
t_eq "session_mode new: its current session got no fire's message" "$(jb '.messages | length')" 0

# ---- no session_mode: the agent's manifest decides -----------------------------------
lf_req POST /api/agents "$(lf_spawn_json "session_mode = \"new\"
$(lf_fake_toml manifest-new m-mnew)")"
M=$(jb .agent_id)
lf_req GET "/api/agents/$M/session"
MCUR=$(jb .session_id)
MJ=$(job "$M" '{"name": "follows", "schedule": {"kind": "every", "every_secs": 1}, "prompt": "Follow prompt"}')
lf_poll 200 has_fires "$MJ" 2
lf_req PUT "/api/cron/jobs/$MJ/enable" '{"enabled": false}'
sleep 0.5
t_eq "no session_mode, manifest new: each fire's turn starts afresh" \
    "$(lf_fake_requests m-mnew | jq -c '[.[] | [.body.messages[] | select(.role == "user")] | length] | unique')" '[1]'
lf_req GET "/api/agents/$M/session"
t_eq "no session_mode, manifest new: the agent's current session got nothing" \
    "$(jb .session_id) $(jb '.messages | length')" "$MCUR 0"
PJ=$(job "$A" '{"name": "follows-persistent", "schedule": {"kind": "every", "every_secs": 1}, "prompt": "Kept prompt"}')
lf_poll 200 has_fires "$PJ" 2
lf_req PUT "/api/cron/jobs/$PJ/enable" '{"enabled": false}'
sleep 0.5
t_ok "no session_mode, manifest persistent: the fires share the agent's session" \
    test "$(lf_fake_requests m-tick | jq '[.[-1].body.messages[] | select(.role == "user")] | length')" -ge 2

# ---- a workflow action ------------------------------------------------------------------
lf_req POST /api/workflows "$(jq -nc --arg a "$A" '{name: "wf-jobs", steps: [{name: "s1", agent_id: $a, prompt: "WF says {{input}}"}]}')"
t_eq "a workflow to schedule" "$LF_STATUS" 201
WF=$(jb .workflow_id)
W=$(job "$A" '{"name": "flow", "schedule": {"kind": "every", "every_secs": 1}, "action": {"kind": "workflow", "workflow_id": "wf-jobs", "input": "hello"}}')
lf_req GET "/api/cron/jobs/$W"
t_eq "a workflow job shows its action" "$(jbc .action)" '{"kind":"workflow","workflow_id":"wf-jobs","input":"hello","timeout_secs":null}'
lf_poll 200 has_fires "$W" 1 || echo "# the workflow job did not fire within 10 s"
lf_req PUT "/api/cron/jobs/$W/enable" '{"enabled": false}'
t_eq "a workflow fire runs the workflow and records its output" \
    "$(lf_psql "SELECT state, result FROM scheduler.job_fires WHERE job_id = '$W' ORDER BY slot LIMIT 1")" "ok|echo: WF says hello"
lf_req GET "/api/workflows/$WF/runs"
t_ok "the workflow has the fire's run ($(jb length))" test "$(jb length)" -ge 1
lf_req POST /api/schedules "$(jq -nc '{name: "flow-only", schedule: {kind: "every", every_secs: 3600}, workflow_id: "wf-jobs", message: "from a schedule"}')"
t_eq "a workflow-only schedule belongs to the shared agent" \
    "$LF_STATUS $(jb .agent_id) $(jb .workflow_id)" "201 00000000-0000-0000-0000-000000000001 wf-jobs"
WS=$(jb .id)
lf_req POST "/api/schedules/$WS/run"
t_eq "run now of a workflow schedule: the run's output" "$LF_STATUS $(jb .status) $(jb .response)" \
    "200 triggered echo: WF says from a schedule"
NW=$(job "$A" '{"name": "noflow", "schedule": {"kind": "every", "every_secs": 3600}, "action": {"kind": "workflow", "workflow_id": "no-such-workflow"}}')
lf_req POST "/api/schedules/$NW/run"
t_eq "an unknown workflow: the fire fails" "$LF_STATUS $(jb .status)" "500 failed"
status "$NW" . >/dev/null
t_ok "and says so ($(jb .last_error))" grep -qi "not found\|unknown\|no workflow" <<<"$(jb .last_error)"

# ---- consecutive failures disable the job ----------------------------------------------
lf_fake_script '{"model": "m-fail", "steps": [{"status": 400}, {"status": 400}, {"status": 400}, {"status": 400}, {"status": 400}]}'
F=$(job "$B" '{"name": "doomed", "schedule": {"kind": "every", "every_secs": 1}, "prompt": "Fail", "max_consecutive_failures": 3}')
lf_poll 200 is_disabled "$F" || echo "# the failing job was not disabled within 10 s"
status "$F" . >/dev/null
t_eq "three failures disable the job" "$(jb .enabled) $(jb .auto_disabled) $(jb .consecutive_errors) $(jb .run_count)" \
    "false true 3 3"
t_ok "and say why ($(jb .disabled_reason))" grep -q "disabled after 3 consecutive failures" <<<"$(jb .disabled_reason)"
t_ok "last_error holds the failure ($(jb .last_error))" test "$(jb .last_error)" != null
sleep 1.5
t_eq "no fire after the disable" "$(lf_fake_requests m-fail | jq length)" 3
lf_req PUT "/api/cron/jobs/$F/enable" '{"enabled": true}'
status "$F" . >/dev/null
t_eq "enabling clears the failure state" "$(jb .auto_disabled) $(jb .consecutive_errors) $(jb .disabled_reason)" "false 0 null"
lf_req PUT "/api/cron/jobs/$F/enable" '{"enabled": false}'

# ---- a slow job never delays another -----------------------------------------------------
# Each slow turn takes 10 s: those the slow job started are still running
# when they are counted, however slow the machine.
lf_fake_script '{"model": "m-slow", "steps": [{"text": "late", "delay_ms": 10000}, {"text": "late", "delay_ms": 10000}, {"text": "late", "delay_ms": 10000}]}'
SL=$(job "$D" '{"name": "slow", "schedule": {"kind": "every", "every_secs": 1}, "prompt": "Slow", "session_mode": "new"}')
Q=$(job "$A" '{"name": "quick", "schedule": {"kind": "every", "every_secs": 1}, "prompt": "Quick"}')
sleep 4
lf_req PUT "/api/cron/jobs/$Q/enable" '{"enabled": false}'
lf_req PUT "/api/cron/jobs/$SL/enable" '{"enabled": false}'
t_eq "while the slow job's turns run" \
    "$(lf_psql "SELECT count(*) >= 2 FROM scheduler.job_fires WHERE job_id = '$SL' AND state = 'running'")" t
t_ok "the quick job fired every second ($(fires "$Q"))" test "$(fires "$Q")" -ge 3
# Behind the slow job's turns a fire would wait 10 s; 5 s is clear of both.
t_eq "each on time, not behind the slow turns (within 5 s of its slot)" \
    "$(lf_psql "SELECT bool_and(fired_at - slot < interval '5 seconds') FROM scheduler.job_fires WHERE job_id = '$Q'")" t

# The slow turns end before the stack stops (bounded).
none_running() { [ "$(lf_psql "SELECT count(*) FROM scheduler.job_fires WHERE state = 'running'")" = 0 ]; }
lf_poll 600 none_running || echo "# fires still running 30 s later"
t_ok "the slow job's fires were recorded in the end" none_running

t_done
