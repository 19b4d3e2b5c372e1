#!/usr/bin/env bash
# Two channels replicas share the adapters without running one channel
# twice: a lease per channel (channels.channel_leases) decides which
# replica runs its adapter; the other stands by.  kill -9 of the holder
# takes its adapter along (PDEATHSIG), and the other replica takes the
# channel once the lease expired (CHAN_LEASE_SECS, 10 s): messages then
# flow through it, each answered once.
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
t_ok "a second replica joins" lf_replica channels2 channels
lf_agent chan-agent m-rep >/dev/null
t_ok "the adapter is ready" chan_wait demo running

# holder: the name (channels, channels2) of the replica holding demo.
holder() {
	local owner
	owner=$(lf_psql "SELECT owner FROM channels.channel_leases WHERE channel = 'demo' AND expires_at > now()")
	[ -n "$owner" ] && lf_pid_name "${owner##*:}"
}
H=$(holder)
t_ok "one replica holds the channel ($H)" test -n "$H"
# Three renewals by each replica: the other never starts one too.
sleep 7
t_eq "one adapter ran, ever" "$(wc -l < "$LF_TMP/demo/pids")" 1
t_eq "and runs" "$(alive_ch demo)" 1
emit demo "$(msg u1 one r1)"
t_ok "a message is answered" send_wait demo "echo: [Alice]: one" 1

# ---- the holder dies ---------------------------------------------------------------
P=$(pidof_ch demo)
lf_stop "$H" KILL
gone() { ! kill -0 "$1" 2>/dev/null; }
t_ok "its adapter died with it" lf_poll 100 gone "$P"
taken() { local h; h=$(holder); [ -n "$h" ] && [ "$h" != "$H" ]; }
t_ok "the other replica takes the channel" lf_poll 500 taken
new_adapter() { [ "$(pidof_ch demo)" != "$P" ] && [ "$(alive_ch demo)" = 1 ]; }
t_ok "and runs its adapter" lf_poll 300 new_adapter
emit demo "$(msg u1 two r2)"
t_ok "messages flow through it" send_wait demo "echo: [Alice]: two" 1
emit demo "$(msg u1 two r2)" "$(msg u1 three r3)"
t_ok "the next one too" send_wait demo "echo: [Alice]: three" 1
t_eq "a repeat is still answered once" "$(sends demo "echo: [Alice]: two")" 1
t_eq "one turn per message" "$(lf_fake_requests m-rep | jq length)" 3
t_eq "one adapter runs" "$(alive_ch demo)" 1

t_done
