#!/usr/bin/env bash
# t1600-stream.sh - streamed turns through the gateway against agent-runtime
# and the fake LLM provider: SSE (event order and shapes, the chunks adding
# up to the scripted text, tool_use/tool_result, done with usage, errors
# as plain JSON before the stream starts, a client that leaves mid-stream)
# and the WebSocket (handshake, connected, ping/pong, a turn with
# text_delta and a response echoing message_id, slash commands,
# agents_updated every 5 s, fragmented messages, and bad frames closed
# with the RFC 6455 codes), then SIGTERM with sockets open.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-stream-0123456789

# ---- the fake provider and the stack ---------------------------------------
lf_fake_stack agent-runtime

TOML=$(lf_fake_toml streamer m '[capabilities]
tools = ["file_write", "file_read"]')
lf_req POST /api/agents "$(lf_spawn_json "$TOML")"
t_eq "spawn the streaming agent" "$LF_STATUS" 201
ID=$(jb .agent_id)
NOPE=00000000-0000-4000-8000-000000000000

# sse PATH JSON FILE [curl args]: streams into FILE, headers into FILE.h
sse() {
	curl -sN -X POST -H 'Content-Type: application/json' -D "$3.h" \
	    --data-binary "$2" -o "$3" "${@:4}" "$LF_URL$1"
}
# The events of an SSE capture as a JSON array of {event, data}.
events() {
	awk '/^event: /{e=substr($0, 8)} /^data: /{print "{\"event\":\"" e "\",\"data\":" substr($0, 7) "}"}' "$1" | jq -sc .
}

# ---- SSE: a text turn ---------------------------------------------------------
lf_fake_script '{"model":"m","steps":[{"text":"Hello streaming world, in words","chunk_delay_ms":30,"usage":{"input_tokens":12,"output_tokens":7}}]}'
sse "/api/agents/$ID/message/stream" '{"message":"hi"}' "$LF_TMP/s1"
E=$(events "$LF_TMP/s1")
t_ok "SSE: 200 text/event-stream" grep -qi '^content-type: text/event-stream' "$LF_TMP/s1.h"
t_eq "SSE: chunks, then done last" "$(printf '%s' "$E" | jq -r '([.[].event] | unique | join(",")) + " " + .[-1].event')" "chunk,done done"
t_ok "SSE: several chunks ($(printf '%s' "$E" | jq '[.[] | select(.event == "chunk")] | length'))" \
    test "$(printf '%s' "$E" | jq '[.[] | select(.event == "chunk")] | length')" -gt 2
t_eq "SSE: the chunks add up to the scripted text" \
    "$(printf '%s' "$E" | jq -r '[.[] | select(.event == "chunk") | .data.content] | join("")')" \
    "Hello streaming world, in words"
t_eq "SSE: every chunk is {content, done:false}" \
    "$(printf '%s' "$E" | jq -c '[.[] | select(.event == "chunk") | .data | (keys | join(",")) + ":" + (.done | tostring)] | unique')" \
    '["content,done:false"]'
t_eq "SSE: done carries the usage" "$(printf '%s' "$E" | jq -c '.[-1].data')" \
    '{"done":true,"usage":{"input_tokens":12,"output_tokens":7}}'

# ---- SSE: a tool turn ---------------------------------------------------------
lf_fake_script '{"model":"m","steps":[{"tool_calls":[{"name":"file_write","arguments":{"path":"a.txt","content":"x"}}]},{"text":"Wrote a.txt."}]}'
sse "/api/agents/$ID/message/stream" '{"message":"write it"}' "$LF_TMP/s2"
E=$(events "$LF_TMP/s2")
t_eq "SSE tool turn: tool_use, tool_result, chunk.., done" \
    "$(printf '%s' "$E" | jq -r '[.[].event] | reduce .[] as $e ([]; if .[-1] == $e then . else . + [$e] end) | join(",")')" \
    "tool_use,tool_result,chunk,done"
t_eq "SSE: tool_use is {tool}" "$(printf '%s' "$E" | jq -c 'map(select(.event == "tool_use"))[0].data')" '{"tool":"file_write"}'
t_eq "SSE: tool_result is {tool, input}" "$(printf '%s' "$E" | jq -c 'map(select(.event == "tool_result"))[0].data')" \
    '{"tool":"file_write","input":{"path":"a.txt","content":"x"}}'
t_eq "SSE: then the answer" "$(printf '%s' "$E" | jq -r '[.[] | select(.event == "chunk") | .data.content] | join("")')" "Wrote a.txt."

# ---- SSE: errors before the stream are plain JSON -------------------------------
sse "/api/agents/$NOPE/message/stream" '{"message":"hi"}' "$LF_TMP/s3"
t_ok "SSE unknown agent: 404" grep -q '^HTTP/1.1 404' "$LF_TMP/s3.h"
t_ok "as application/json" grep -qi '^content-type: application/json' "$LF_TMP/s3.h"
t_eq "with an error body" "$(jq -r 'keys | join(",")' "$LF_TMP/s3")" "error"
lf_req POST "/api/agents/$ID/message/stream" '{"text":"no message"}'
t_eq "SSE without a string message: 400" "$LF_STATUS $(jb 'keys | join(",")')" "400 error"
lf_req POST "/api/agents/$ID/message/stream" '{"message": '
t_eq "SSE with malformed JSON: 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$ID/message/stream" '["message"]'
t_eq "SSE with a non-object body: 400" "$LF_STATUS" 400

# ---- SSE: the client leaves mid-stream ----------------------------------------
lf_fake_script '{"model":"m","steps":[{"text":"one two three four five six seven eight nine ten","chunk_delay_ms":150}]}'
sse "/api/agents/$ID/message/stream" '{"message":"slowly"}' "$LF_TMP/s4" --max-time 0.6
t_ok "the first chunks arrived before the client left" grep -q '^event: chunk' "$LF_TMP/s4"
t_ok "the stream had not ended" bash -c "! grep -q '^event: done' '$LF_TMP/s4'"
sleep 2
lf_req GET /api/health
t_eq "the gateway is healthy after it" "$LF_STATUS" 200
lf_fake_script '{"model":"m","steps":[{"text":"still here"}]}'
sse "/api/agents/$ID/message/stream" '{"message":"again"}' "$LF_TMP/s5"
t_eq "and the next stream works" "$(events "$LF_TMP/s5" | jq -r '([.[] | select(.event == "chunk") | .data.content] | join("")) + " " + .[-1].event')" "still here done"

# ---- SSE: a keep-alive while the provider is silent -------------------------------
lf_fake_script '{"model":"m","steps":[{"text":"late answer","delay_ms":15800}]}'
sse "/api/agents/$ID/message/stream" '{"message":"take your time"}' "$LF_TMP/s6"
t_eq "SSE: a keep-alive comment after 15 s of silence, before the first event" \
    "$(grep -m1 -E '^(: keep-alive|event: )' "$LF_TMP/s6")" ": keep-alive"
t_eq "SSE: then the answer and done" "$(events "$LF_TMP/s6" | jq -r '([.[] | select(.event == "chunk") | .data.content] | join("")) + " " + .[-1].event')" "late answer done"

# ---- the WebSocket -------------------------------------------------------------
WS=$LF_TMP/ws.py
cat >"$WS" <<'PYEOF'
#   ws.py PORT PATH SCENARIO [ARG]   prints one JSON line per observation
import base64, hashlib, json, os, socket, struct, sys, time

def connect(port, path, headers=None, proto=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n" % (path, port, key))
    if proto:
        req += "Sec-WebSocket-Protocol: %s\r\n" % proto
    for h in headers or []:
        req += h + "\r\n"
    s.sendall((req + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    c = Conn(s, rest)
    c.status, c.hdrs, c.accept_ok = status, hdrs, hdrs.get("sec-websocket-accept") == want
    return c

class Conn:
    def __init__(self, s, rest):
        self.s, self.buf = s, rest
    def send_frame(self, op, data, fin=True, mask=True, rsv=0, length=None):
        if isinstance(data, str):
            data = data.encode()
        b0 = (0x80 if fin else 0) | rsv | op
        n = len(data) if length is None else length
        m = 0x80 if mask else 0
        if n < 126:
            h = struct.pack("!BB", b0, m | n)
        elif n < 65536:
            h = struct.pack("!BBH", b0, m | 126, n)
        else:
            h = struct.pack("!BBQ", b0, m | 127, n)
        if mask:
            k = os.urandom(4)
            data = bytes(x ^ k[i % 4] for i, x in enumerate(data))
            h += k
        self.s.sendall(h + data)
    def send_text(self, t):
        self.send_frame(1, t)
    def send_json(self, o):
        self.send_text(json.dumps(o))
    def _need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
    def recv_frame(self, timeout=10):
        self.s.settimeout(timeout)
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7f, 2
        if n == 126:
            self._need(4); n = struct.unpack("!H", self.buf[2:4])[0]; off = 4
        elif n == 127:
            self._need(10); n = struct.unpack("!Q", self.buf[2:10])[0]; off = 10
        self._need(off + n)
        data, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0f, data, bool(b1 & 0x80)
    def recv_control(self, timeout=10):
        # the next control frame: a text frame the server pushed meanwhile
        # (agents_updated comes every few seconds) is passed over
        while True:
            op, data, masked = self.recv_frame(timeout)
            if op != 1:
                return op, data, masked
    def recv_json(self, timeout=10, skip=("agents_updated",)):
        while True:
            op, data, _ = self.recv_frame(timeout)
            if op == 8:
                return {"type": "__close", "code": struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None}
            if op != 1:
                continue
            o = json.loads(data)
            if o.get("type") not in skip:
                return o
    def close_code(self, timeout=5):
        # waits for a close frame; returns its code, "eof" or "timeout"
        try:
            while True:
                op, data, _ = self.recv_frame(timeout)
                if op == 8:
                    return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
        except EOFError:
            return "eof"
        except socket.timeout:
            return "timeout"

def out(**kw):
    print(json.dumps(kw), flush=True)

def turn(c, msg, msgid=None):
    o = {"type": "message", "content": msg}
    if msgid is not None:
        o["message_id"] = msgid
    c.send_json(o)
    frames = []
    while True:
        f = c.recv_json(timeout=30)
        frames.append(f)
        if f["type"] in ("response", "error", "silent_complete", "__close"):
            return frames

def main():
    port, path, sc = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    arg = sys.argv[4] if len(sys.argv) > 4 else None
    if sc == "handshake":
        c = connect(port, path, proto=arg)
        out(status=c.status, accept=c.accept_ok, proto=c.hdrs.get("sec-websocket-protocol"))
        if c.status == 101:
            out(first=c.recv_json())
        else:
            c.s.settimeout(5)
            body = c.buf
            try:
                while True:
                    d = c.s.recv(4096)
                    if not d: break
                    body += d
                    if body.rstrip().endswith(b"}"): break
            except socket.timeout:
                pass
            out(body=body.decode("utf-8", "replace"))
        return
    c = connect(port, path)
    if c.status != 101:
        out(status=c.status); return
    out(connected=c.recv_json())
    if sc == "turn":
        c.send_json({"type": "ping"})
        out(ping=c.recv_json())
        fr = turn(c, arg or "hello", "m-1")
        out(types=[f["type"] for f in fr],
            text="".join(f.get("content", "") for f in fr if f["type"] == "text_delta"),
            last=fr[-1])
        c.send_text(arg or "hello")  # plain text is a message too
        fr = turn(c, arg or "hello", 7)
        out(plain=[f["type"] for f in fr])
        c.send_frame(8, struct.pack("!H", 1000))
        out(close=c.close_code())
    elif sc == "turn1":
        fr = turn(c, arg, "t-1")
        out(types=[f["type"] for f in fr], frames=fr)
    elif sc == "commands":
        for cmd in json.loads(arg):
            c.send_json(cmd)
            out(sent=cmd, got=c.recv_json(timeout=30))
    elif sc == "updated2":
        # two agents_updated in a row: the second 5 s after the first
        seen = []
        while len(seen) < 2:
            f = c.recv_json(timeout=15, skip=())
            if f["type"] == "agents_updated":
                seen.append((time.time(), f))
        out(updated=seen[0][1], gap=round(seen[1][0] - seen[0][0], 2))
    elif sc == "hold":
        out(code=c.close_code(timeout=30))
    elif sc == "control":
        c.send_frame(9, b"abc")
        op, data, masked = c.recv_control()
        out(op=op, data=data.decode(), masked=masked)
    elif sc == "fragments":
        msg = json.dumps({"type": "message", "content": arg or "hello", "message_id": "frag"})
        a, b, d = msg[:5], msg[5:12], msg[12:]
        c.send_frame(1, a, fin=False)
        c.send_frame(9, b"mid")          # a control frame between fragments
        op, data, _ = c.recv_control()
        out(pong=op == 10 and data == b"mid")
        c.send_frame(0, b, fin=False)
        c.send_frame(0, d, fin=True)
        fr = []
        while True:
            f = c.recv_json(timeout=30)
            fr.append(f)
            if f["type"] in ("response", "error", "__close"):
                break
        out(types=[f["type"] for f in fr], last=fr[-1])
    elif sc == "unmasked":
        c.send_frame(1, '{"type":"ping"}', mask=False)
        out(code=c.close_code())
    elif sc == "badutf8":
        c.send_frame(1, b"\xc3\x28 bad")
        out(code=c.close_code())
    elif sc == "surrogate":
        c.send_frame(1, b"\xed\xa0\x80")
        out(code=c.close_code())
    elif sc == "oversize":
        c.send_frame(1, b"", length=2 * 1024 * 1024)
        out(code=c.close_code())
    elif sc == "oversize_frag":
        c.send_frame(1, b"x" * 600000, fin=False)
        c.send_frame(0, b"x" * 600000, fin=True)
        out(code=c.close_code())
    elif sc == "binary":
        c.send_frame(2, b"\x00\x01")
        out(code=c.close_code())
    elif sc == "badcont":
        c.send_frame(0, b"x")
        out(code=c.close_code())
    elif sc == "rsv":
        c.send_frame(1, b"{}", rsv=0x40)
        out(code=c.close_code())
    elif sc == "bigcontrol":
        c.send_frame(9, b"x" * 126)
        out(code=c.close_code())
    elif sc == "leave":
        # sends a message and vanishes mid-turn
        c.send_json({"type": "message", "content": arg or "slow"})
        out(first=c.recv_json())
        c.s.close()

main()
PYEOF
PORT=${LF_URL##*:}
P=/api/agents/$ID/ws
wsrun() { timeout 40 python3 "$WS" "$PORT" "$@" 2>>"$LF_TMP/log/ws-client.log"; }
line() { printf '%s\n' "$OUT" | sed -n "${1}p"; }

OUT=$(wsrun "$P" handshake)
t_eq "WS: 101 with the right Sec-WebSocket-Accept" "$(line 1 | jq -c '[.status, .accept]')" '[101,true]'
t_eq "WS: connected first, with the agent" "$(line 2 | jq -c '.first')" \
    "{\"type\":\"connected\",\"agent_id\":\"$ID\",\"agent_name\":\"streamer\"}"
OUT=$(wsrun "/api/agents/$NOPE/ws" handshake)
t_eq "WS unknown agent: a JSON 404, no upgrade" "$(line 1 | jq -r .status) $(line 2 | jq -r '.body | fromjson | keys | join(",")')" "404 error"
lf_req GET "$P"
t_eq "WS route without an upgrade: 426 JSON" "$LF_STATUS $(jb 'keys | join(",")')" "426 error"

lf_fake_script '{"model":"m","steps":[{"text":"Socket reply in pieces","chunk_delay_ms":20,"usage":{"input_tokens":5,"output_tokens":4}},{"text":"plain too"}]}'
OUT=$(wsrun "$P" turn "hello there")
t_eq "WS: ping -> pong" "$(line 2 | jq -c .ping)" '{"type":"pong"}'
t_eq "WS: thinking, text_delta.., response" "$(line 3 | jq -r '.types | reduce .[] as $e ([]; if .[-1] == $e then . else . + [$e] end) | join(",")')" \
    "thinking,text_delta,response"
t_eq "WS: the deltas add up to the text" "$(line 3 | jq -r .text)" "Socket reply in pieces"
t_eq "WS: response with content, tokens and the message_id" \
    "$(line 3 | jq -c '.last | [.content, .input_tokens, .output_tokens, .iterations, .message_id]')" \
    '["Socket reply in pieces",5,4,1,"m-1"]'
t_eq "WS: plain text is a message too" "$(line 4 | jq -r '.plain[-1]')" "response"
t_eq "WS: a close frame is answered with 1000" "$(line 5 | jq -r .close)" 1000

lf_fake_script '{"model":"m","steps":[{"tool_calls":[{"id":"call_w1","name":"file_write","arguments":{"path":"b.txt","content":"y"}}]},{"text":"Wrote b.txt."}]}'
OUT=$(wsrun "$P" turn1 "write b")
t_eq "WS tool turn: thinking, tool_start, tool_end, tool_result, text_delta, response" \
    "$(line 2 | jq -r '.types | reduce .[] as $e ([]; if .[-1] == $e then . else . + [$e] end) | join(",")')" \
    "thinking,tool_start,tool_end,tool_result,text_delta,response"
t_eq "WS: tool_start names the tool" "$(line 2 | jq -c '.frames | map(select(.type == "tool_start"))[0] | [.tool, .id]')" '["file_write","call_w1"]'
t_eq "WS: tool_end carries the input" "$(line 2 | jq -c '.frames | map(select(.type == "tool_end"))[0].input')" '{"path":"b.txt","content":"y"}'
t_eq "WS: tool_result, not an error" "$(line 2 | jq -c '.frames | map(select(.type == "tool_result"))[0] | [.tool, .is_error]')" '["file_write",false]'
t_eq "WS: then the answer, echoing message_id" "$(line 2 | jq -c '.frames[-1] | [.content, .message_id]')" '["Wrote b.txt.","t-1"]'

OUT=$(wsrun "$P" commands '[{"type":"command","command":"new","message_id":"c1"},{"type":"command","command":"frobnicate"},{"type":"message","content":"/model"},{"type":"command","command":"verbose","args":"full"},{"type":"command","command":"queue"}]')
t_eq "WS /new: command_result echoing message_id" "$(line 2 | jq -c '.got | [.type, .command, .message_id]')" '["command_result","new","c1"]'
t_ok "WS /new: a new session ($(line 2 | jq -r .got.message))" bash -c "[[ \"\$0\" == 'New session created.'* ]]" "$(line 2 | jq -r .got.message)"
t_eq "WS unknown command" "$(line 3 | jq -c '.got | [.type, .command, .message]')" '["command_result","frobnicate","Unknown command: /frobnicate"]'
t_eq "WS /model shows the model" "$(line 4 | jq -r .got.message)" "Current model: m (provider: openai)"
t_eq "WS /verbose full" "$(line 5 | jq -r .got.message)" "Verbose mode: full"
t_eq "WS /queue" "$(line 6 | jq -r .got.message)" "The agent is idle."

OUT=$(wsrun "$P" updated2)
t_eq "WS: agents_updated lists the agent" "$(line 2 | jq -c '.updated.agents[] | select(.id == "'"$ID"'") | [.name, .state, .model_provider, .model_name]')" \
    '["streamer","Running","openai","m"]'
# Every 5 s: not sooner (4 s at least), and again (by 9 s: a busy machine
# may hold the second back; not at all would end the wait at 15 s).
t_ok "WS: agents_updated again 5 s later ($(line 2 | jq -r .gap) s apart)" \
    awk -v t="$(line 2 | jq -r .gap)" 'BEGIN{exit !(t >= 4 && t <= 9)}'

OUT=$(wsrun "$P" control)
t_eq "WS: a ping frame gets its pong" "$(line 2 | jq -c '[.op, .data, .masked]')" '[10,"abc",false]'
lf_fake_script '{"model":"m","steps":[{"text":"fragments joined"}]}'
OUT=$(wsrun "$P" fragments)
t_eq "WS: a control frame between fragments" "$(line 2 | jq -r .pong)" true
t_eq "WS: a fragmented message is one turn" "$(line 3 | jq -c '.last | [.type, .content, .message_id]')" '["response","fragments joined","frag"]'
for c in "unmasked 1002" "badutf8 1007" "surrogate 1007" "oversize 1009" "oversize_frag 1009" "binary 1003" "badcont 1002" "rsv 1002" "bigcontrol 1002"; do
	set -- $c
	OUT=$(wsrun "$P" "$1")
	t_eq "WS $1: closed with $2" "$(line 2 | jq -r .code)" "$2"
done

# A client that leaves mid-turn.
lf_fake_script '{"model":"m","steps":[{"text":"a b c d e f g h","chunk_delay_ms":200}]}'
OUT=$(wsrun "$P" leave "talk slowly")
t_eq "WS: a client that leaves mid-turn got thinking" "$(line 2 | jq -r .first.type)" "thinking"
sleep 2
lf_req GET /api/health
t_eq "the gateway is healthy after it" "$LF_STATUS" 200

# ---- SIGTERM with a socket open ---------------------------------------------------
wsrun "$P" hold >"$LF_TMP/hold.out" &
hp=$!
for ((i = 0; i < 100; i++)); do
	grep -q connected "$LF_TMP/hold.out" 2>/dev/null && break
	sleep 0.05
done
lf_stop api-gateway
wait $hp
# A socket left open would hold the stop until the client gives up
# (30 s): lf_stop would kill the gateway after LF_STOP_SECS (exit 137).
t_eq "SIGTERM with a WebSocket open: exit 0, not killed (${LF_STOP_MS} ms)" "$LF_EXIT" 0
t_eq "the socket got 1001 going away" "$(sed -n 2p "$LF_TMP/hold.out" | jq -r .code)" 1001

t_done
