#!/usr/bin/env bash
# Nothing lost, nothing twice across kill -9 of the channels service
# (services/channels/README.md, "Durability"), at three points:
#   A. while the turn runs (the message is committed, its turn under way):
#      after the restart the turn is asked again under the same key,
#      answered from agent-runtime's record -- one provider call, one send;
#   B. after the turn ended but before its answer reached the outbox (the
#      service stopped with SIGSTOP, then killed): the same;
#   C. with a reply committed to the outbox and not sent: sent once after
#      the restart, and not again after one more restart.
# Its adapter dies with it (PDEATHSIG): no adapter is left running twice.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
mkdir -p "$LF_TMP/demo/inbox"
lf_config "
[[sidecar_channels]]
name = \"demo\"
command = \"python3\"
args = [\"$SIDECAR\"]
agent = \"chan-agent\"
env = { SIDECAR_DIR = \"$LF_TMP/demo\" }
"

export FAKE_API_KEY=sk-fake
lf_fake_stack agent-runtime channels
A=$(lf_agent chan-agent m-k9)
t_ok "the adapter is ready" chan_wait demo running

# kill9 CASE: kill -9 the service, check its adapter went with it, start
# it again.
gone() { ! kill -0 "$1" 2>/dev/null; }
kill9() {
	local ad
	ad=$(pidof_ch demo)
	lf_stop channels KILL
	t_ok "$1: the adapter died with the service" lf_poll 100 gone "$ad"
	lf_start channels
}

# ---- A: kill -9 while the turn runs ------------------------------------------------
lf_fake_script '{"model": "m-k9", "steps": [{"text": "reply A", "delay_ms": 2000}]}'
emit demo "$(msg u1 "question A" mA)"
t_ok "A: the turn started" lf_fake_wait m-k9 1
t_eq "A: the message was committed first" "$(lf_psql "SELECT count(*) FROM channels.inbound WHERE platform_msg_id = 'mA'")" 1
kill9 A
t_ok "A: the answer is sent after the restart" send_wait demo "reply A" 1
t_eq "A: once" "$(sends demo "reply A")" 1
t_eq "A: from one provider call" "$(lf_fake_requests m-k9 | jq length)" 1

# ---- B: the turn ends while the service is stopped, then kill -9 -----------------
lf_fake_script '{"model": "m-k9", "steps": [{"text": "reply B", "delay_ms": 4000}]}'
emit demo "$(msg u1 "question B" mB)"
t_ok "B: the turn started" lf_fake_wait m-k9 2
kill -STOP "${LF_PIDS[channels]}"
done_turn() { [ "$(lf_psql "SELECT count(*) FROM runtime.turn_keys k JOIN channels.inbound i ON k.key = 'channels:inbound:' || i.id WHERE i.platform_msg_id = 'mB' AND k.state = 'done'")" = 1 ]; }
t_ok "B: the turn ended while the service could not take its answer" lf_poll 200 done_turn
t_eq "B: whose answer is in no outbox" "$(lf_psql "SELECT count(*) FROM channels.outbox WHERE text = 'reply B'")" 0
kill9 B
t_ok "B: the answer is sent after the restart" send_wait demo "reply B" 1
t_eq "B: once" "$(sends demo "reply B")" 1
t_eq "B: from one provider call" "$(lf_fake_requests m-k9 | jq length)" 2

# ---- C: a reply in the outbox, not sent -------------------------------------------
t_ok "C: the adapter is ready" chan_wait demo running
lf_stop channels KILL
lf_psql "INSERT INTO channels.inbound (channel, platform_msg_id, agent, user_id, user_name, channel_id, text, frame, state) VALUES ('demo', 'mC', 'chan-agent', 'u1', 'Alice', 'c-u1', 'question C', '{}', 'done');
INSERT INTO channels.outbox (inbound_id, idem_key, channel, agent_id, channel_id, recipient, text) SELECT id, 'channels:outbox:' || id, 'demo', '$A', 'c-u1', 'Alice', 'reply C' FROM channels.inbound WHERE platform_msg_id = 'mC'" >/dev/null
lf_start channels
t_ok "C: the queued reply is sent after the restart" send_wait demo "reply C" 1
sent_c() { [ "$(lf_psql "SELECT state FROM channels.outbox WHERE text = 'reply C'")" = sent ]; }
t_ok "C: and marked sent" lf_poll 100 sent_c
lf_stop channels
t_eq "C: a clean stop exits 0" "$LF_EXIT" 0
lf_start channels
t_ok "C: after one more restart the adapter is ready" chan_wait demo running
emit demo "$(msg u1 "question D" mD)"
t_ok "C: and carries messages" send_wait demo "echo: [Alice]: question D" 1
t_eq "C: the queued reply was not sent again" "$(sends demo "reply C")" 1
t_eq "one adapter runs" "$(alive_ch demo)" 1
chan_sent "$A"
lf_req GET "/api/agents/$A/deliveries"
t_eq "every reply is one delivery" "$(jbc '[.deliveries[].message] | sort')" '["echo: [Alice]: question D","reply A","reply B","reply C"]'

t_done
