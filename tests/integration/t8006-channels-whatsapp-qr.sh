#!/usr/bin/env bash
# POST /api/channels/whatsapp/qr/start and GET .../qr/status (chan_ops.c):
# with no WhatsApp channel, upstream's {available: false} answer; with
# one, the QR code its adapter sent (qr_ready) and the login's state from
# its qr_status events: pending, scanned, authenticated, expired; a new
# qr_ready starts over (the old "expired" does not stick to it).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../channels/chanlib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
mkdir -p "$LF_TMP/demo/inbox" "$LF_TMP/wa/inbox"

# ---- no WhatsApp channel -------------------------------------------------------------
lf_config "
[[sidecar_channels]]
name = \"demo\"
command = \"python3\"
args = [\"$SIDECAR\"]
env = { SIDECAR_DIR = \"$LF_TMP/demo\" }
"
lf_stack_start channels
lf_req POST /api/channels/whatsapp/qr/start
t_eq "start without a WhatsApp channel: 200, not available" "$LF_STATUS $(jbc '[.available, .connected, .qr_data_url, .status]')" '200 [false,false,null,"unavailable"]'
t_ok "saying why" test -n "$(jb .message)"
lf_req GET /api/channels/whatsapp/qr/status
t_eq "status without one: not connected" "$LF_STATUS $(jbc '[.available, .connected, .status]')" '200 [false,false,"unavailable"]'
lf_req GET '/api/channels/whatsapp/qr/status?session_id=nope'
t_eq "a session_id that names no channel is 404" "$LF_STATUS $(lf_err_shape && echo shaped)" "404 shaped"
lf_stack_stop

# ---- a WhatsApp channel ----------------------------------------------------------------
lf_config "
[[sidecar_channels]]
name = \"wa\"
channel_type = \"whatsapp\"
command = \"python3\"
args = [\"$SIDECAR\"]
env = { SIDECAR_DIR = \"$LF_TMP/wa\" }
"
lf_stack_start channels
t_ok "the adapter is ready" chan_wait wa running
lf_req POST /api/channels/whatsapp/qr/start
t_eq "before any qr_ready: available, pending, no code" "$LF_STATUS $(jbc '[.available, .session_id, .status, .connected, .qr_code]')" '200 [true,"wa","pending",false,null]'

qr_status_is() { lf_req GET /api/channels/whatsapp/qr/status; [ "$(jb .status)" = "$1" ]; }
emit wa '{"method":"qr_ready","params":{"qr_code":"2@abc,def","qr_url":"data:image/png;base64,iVBORw0K","expires_at":"2026-05-28T20:00:00Z"}}'
has_code() { lf_req POST /api/channels/whatsapp/qr/start; [ "$(jb .qr_code)" = "$1" ]; }
t_ok "qr_ready: start answers the code" lf_poll 100 has_code "2@abc,def"
t_eq "as a data URL, with its expiry, pending" "$(jbc '[.qr_data_url, .expires_at, .status, .connected, .expired]')" '["data:image/png;base64,iVBORw0K","2026-05-28T20:00:00Z","pending",false,false]'
emit wa '{"method":"qr_status","params":{"status":"scanning"}}'
t_ok "qr_status scanning: scanned" lf_poll 100 qr_status_is scanned
emit wa '{"method":"qr_status","params":{"status":"expired","message":"The code expired"}}'
t_ok "qr_status expired: expired" lf_poll 100 qr_status_is expired
t_eq "with its message" "$(jbc '[.expired, .connected, .message]')" '[true,false,"The code expired"]'
emit wa '{"method":"qr_ready","params":{"qr_code":"2@new","qr_url":"https://login.example/qr"}}'
t_ok "a new qr_ready: a new code" lf_poll 100 has_code "2@new"
t_eq "pending again; a page URL is no data URL" "$(jbc '[.status, .expired, .qr_data_url, .qr_url, .expires_at]')" '["pending",false,null,"https://login.example/qr",null]'
emit wa '{"method":"qr_status","params":{"status":"confirmed"}}'
t_ok "qr_status confirmed: authenticated" lf_poll 100 qr_status_is authenticated
t_eq "connected" "$(jbc '[.connected, .session_id, .available]')" '[true,"wa",true]'
lf_req GET '/api/channels/whatsapp/qr/status?session_id=wa'
t_eq "session_id names the channel" "$LF_STATUS $(jb .status)" "200 authenticated"
emit wa '{"method":"qr_status","params":{"status":"weird"}}'
t_ok "any other status: failed" lf_poll 100 qr_status_is failed

t_done
