#!/usr/bin/env bash
# The built-in tools with the real stack: GET /api/tools and
# /api/tools/{name}; the per-agent tools/skills/mcp_servers lists over
# HTTP; memory.kv.* over the bus (bustool) and kv_get/kv_set through
# toolrun; web_fetch against local servers (refused on loopback, on a
# redirect to loopback, for names like localhost; allowed for an
# allowlisted server, redirects followed); shell_exec and file tools.
. "$(dirname "$0")/../lib.sh"

bustool() { "$LF_BIN/bustool" "$@"; }
toolrun() { "$LF_BIN/toolrun" "$@" 2>/dev/null; }
# mem OP JSON: one memory request; sets M_STATUS and M_BODY.
mem() {
	local out
	out=$(bustool -t 5000 req memory "$@" 2>/dev/null)
	M_STATUS=$(printf '%s' "$out" | jq -r '.status' 2>/dev/null)
	M_BODY=$(printf '%s' "$out" | jq -c '.body' 2>/dev/null)
}
# tr_get OUT FILTER
tr_get() { printf '%s' "$1" | jq -r "$2" 2>/dev/null; }

# ---- local HTTP servers: content (allowlisted), other (not), redirector
cat > "$LF_TMP/srv.py" <<'EOF'
import http.server, socketserver, sys, threading
class Content(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><head><style>x{}</style><script>var s=1;</script></head><body><h1>Hello</h1><p>from &amp; the test server</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class Other(Content):
    def do_GET(self):
        body = b"SECRET-INTERNAL"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class Redir(Content):
    def do_GET(self):
        target = {"/to-other": "http://127.0.0.1:%d/" % ports[1],
                  "/to-content": "http://127.0.0.1:%d/x" % ports[0],
                  "/to-localhost": "http://localhost:%d/" % ports[0],
                  "/to-file": "file:///etc/passwd",
                  "/loop": "/loop"}.get(self.path, "/")
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
servers = [S(("127.0.0.1", 0), h) for h in (Content, Other, Redir)]
ports = [s.server_address[1] for s in servers]
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
print(*ports, flush=True)
sys.stdin.read()
EOF
coproc SRV { python3 "$LF_TMP/srv.py"; }
read -r P_CONTENT P_OTHER P_REDIR <&"${SRV[0]}"
[ -n "$P_REDIR" ] || { echo "Bail out! test servers did not start"; exit 1; }

lf_config "[web_fetch]
allow_hosts = [\"127.0.0.1:$P_CONTENT\", \"127.0.0.1:$P_REDIR\"]"

lf_stack_start agent-runtime memory
lf_wait_services agent-runtime memory || { echo "Bail out! services did not join"; lf_dump_logs; exit 1; }

# ---- GET /api/tools ------------------------------------------------------
lf_req GET /api/tools
t_eq "GET /api/tools is 200" "$LF_STATUS" 200
t_eq "total matches the list" "$(jb '.total == (.tools | length)')" true
t_eq "the built-in tools are listed" \
    "$(jb '[.tools[].name] | sort | join(",")')" \
    "agent_list,agent_send,agent_spawn,file_list,file_read,file_write,kv_get,kv_set,memory_forget,memory_list,notify_owner,shell_exec,task_claim,task_complete,task_list,task_post,task_status,web_fetch"
t_eq "each has name, description and an object input_schema" \
    "$(jb '[.tools[] | (.name|type) == "string" and (.description|type) == "string" and .input_schema.type == "object"] | all')" true
lf_req GET /api/tools/file_write
t_eq "GET /api/tools/file_write is 200" "$LF_STATUS" 200
t_eq "with its required fields" "$(jb '.input_schema.required | join(",")')" "path,content"
t_eq "and its name" "$(jb .name)" file_write
lf_req GET /api/tools/no_such_tool
t_eq "an unknown tool is 404" "$LF_STATUS" 404
t_ok "with an error body" lf_err_shape

# ---- per-agent tools / skills / mcp_servers ---------------------------------
TOML='name = "tooly"
[capabilities]
tools = ["file_read", "web_fetch"]'
lf_req POST /api/agents "$(jq -nc --arg t "$TOML" '{manifest_toml: $t}')"
t_eq "spawn is 201" "$LF_STATUS" 201
ID=$(jb .agent_id)

lf_req GET "/api/agents/$ID/tools"
t_eq "GET tools is 200" "$LF_STATUS" 200
t_eq "tools shape" "$(jbc '.')" \
    '{"capabilities_tools":["file_read","web_fetch"],"tool_allowlist":[],"tool_blocklist":[],"disabled":false}'
lf_req PUT "/api/agents/$ID/tools" '{"capabilities_tools":["file_*"],"tool_blocklist":["file_write"]}'
t_eq "PUT tools is 200" "$LF_STATUS" 200
t_eq "PUT echoes the stored lists" "$(jbc '[.capabilities_tools, .tool_allowlist, .tool_blocklist]')" \
    '[["file_*"],[],["file_write"]]'
lf_req GET "/api/agents/$ID/tools"
t_eq "GET shows the change" "$(jbc '.capabilities_tools')" '["file_*"]'
lf_req GET "/api/agents/$ID"
t_eq "the agent detail agrees" "$(jbc '.capabilities.tools')" '["file_*"]'
lf_req PUT "/api/agents/$ID/tools" '{}'
t_eq "PUT tools with nothing is 400" "$LF_STATUS" 400
lf_req PUT "/api/agents/$ID/tools" '{"tool_allowlist":"file_read"}'
t_eq "a non-array list is 400" "$LF_STATUS" 400
t_ok "with an error body" lf_err_shape
lf_req PUT "/api/agents/$ID/tools" '{"tool_allowlist":[1]}'
t_eq "a non-string entry is 400" "$LF_STATUS" 400
lf_req PUT "/api/agents/$ID/tools" '{"bogus":[]}'
t_eq "an unknown field is 400" "$LF_STATUS" 400
lf_req PUT "/api/agents/$ID/tools" '[1,2]'
t_eq "a non-object body is 400" "$LF_STATUS" 400
lf_req GET "/api/agents/00000000-0000-4000-8000-000000000000/tools"
t_eq "tools of an unknown agent is 404" "$LF_STATUS" 404
lf_req GET "/api/agents/not-a-uuid/tools"
t_eq "tools of a bad id is 400" "$LF_STATUS" 400

lf_req GET "/api/agents/$ID/skills"
t_eq "GET skills: the bundled skills available" "$LF_STATUS $(jbc '.')" \
    '200 {"assigned":[],"available":["code-review","meeting-notes","plain-writing"],"mode":"all","disabled":false}'
lf_req PUT "/api/agents/$ID/skills" '{"skills":["web-search","pdf"]}'
t_eq "PUT skills" "$LF_STATUS $(jbc '.')" '200 {"status":"ok","skills":["web-search","pdf"]}'
lf_req GET "/api/agents/$ID/skills"
t_eq "skills stored, mode allowlist" "$(jbc '[.assigned, .mode]')" '[["web-search","pdf"],"allowlist"]'
lf_req PUT "/api/agents/$ID/skills" '{"skills":"pdf"}'
t_eq "PUT skills with a string is 400" "$LF_STATUS" 400
lf_req PUT "/api/agents/$ID/skills" '{}'
t_eq "PUT skills without skills is 400" "$LF_STATUS" 400

lf_req GET "/api/agents/$ID/mcp_servers"
t_eq "GET mcp_servers" "$LF_STATUS $(jbc '.')" '200 {"assigned":[],"available":[],"mode":"none"}'
lf_req PUT "/api/agents/$ID/mcp_servers" '{"mcp_servers":["*"]}'
t_eq "PUT mcp_servers" "$LF_STATUS $(jbc '.')" '200 {"status":"ok","mcp_servers":["*"]}'
lf_req GET "/api/agents/$ID/mcp_servers"
t_eq "mcp mode all" "$(jb .mode)" all
lf_req PUT "/api/agents/$ID/mcp_servers" '{"mcp_servers":[null]}'
t_eq "PUT mcp_servers with null is 400" "$LF_STATUS" 400

# ---- memory.kv over the bus ----------------------------------------------
AG=11111111-2222-4333-8444-555555555555
mem memory.kv.set "{\"params\":{\"id\":\"$AG\",\"key\":\"self.a\"},\"body\":{\"value\":{\"n\":1,\"s\":\"x\"}}}"
t_eq "kv.set is 200" "$M_STATUS" 200
mem memory.kv.get "{\"params\":{\"id\":\"$AG\",\"key\":\"self.a\"}}"
t_eq "kv.get returns the value" "$M_STATUS $(printf '%s' "$M_BODY" | jq -c .value)" '200 {"n":1,"s":"x"}'
mem memory.kv.set "{\"params\":{\"id\":\"$AG\",\"key\":\"self.a\"},\"body\":{\"value\":42}}"
mem memory.kv.get "{\"params\":{\"id\":\"$AG\",\"key\":\"self.a\"}}"
t_eq "kv.set overwrites" "$(printf '%s' "$M_BODY" | jq -c .value)" 42
mem memory.kv.get "{\"params\":{\"id\":\"22222222-2222-4333-8444-555555555555\",\"key\":\"self.a\"}}"
t_eq "another agent does not see it" "$M_STATUS" 404
mem memory.kv.list "{\"params\":{\"id\":\"$AG\"}}"
t_eq "kv.list" "$M_STATUS $(printf '%s' "$M_BODY" | jq -c .)" '200 {"keys":["self.a"],"total":1}'
mem memory.kv.get "{\"params\":{\"id\":\"nope\",\"key\":\"a\"}}"
t_eq "a bad agent id is 400" "$M_STATUS" 400
mem memory.kv.set "{\"params\":{\"id\":\"$AG\",\"key\":\"\"},\"body\":{\"value\":1}}"
t_eq "an empty key is 400" "$M_STATUS" 400
mem memory.kv.set "{\"params\":{\"id\":\"$AG\",\"key\":\"k\"},\"body\":{\"nope\":1}}"
t_eq "a body without value is 400" "$M_STATUS" 400
mem memory.kv.set "{\"params\":{\"id\":\"$AG\",\"key\":\"k\"},\"body\":[1]}"
t_eq "a non-object body is 400" "$M_STATUS" 400
mem memory.kv.delete "{\"params\":{\"id\":\"$AG\",\"key\":\"self.a\"}}"
t_eq "kv.delete is 200" "$M_STATUS" 200
mem memory.kv.get "{\"params\":{\"id\":\"$AG\",\"key\":\"self.a\"}}"
t_eq "then the key is gone" "$M_STATUS" 404

# ---- kv_get / kv_set tools through the bus ---------------------------------
KVM='{"capabilities":{"memory_read":["self.*"],"memory_write":["self.*"]}}'
OUT=$(toolrun -a "$AG" -m "$KVM" kv_set '{"key":"self.color","value":"blue"}')
t_eq "kv_set tool stores" "$(tr_get "$OUT" '"\(.is_error) \(.content)"')" "false Stored value under key 'self.color'."
OUT=$(toolrun -a "$AG" -m "$KVM" kv_get '{"key":"self.color"}')
t_eq "kv_get tool reads it back" "$(tr_get "$OUT" '"\(.is_error) \(.content)"')" 'false "blue"'
OUT=$(toolrun -a "$AG" -m "$KVM" kv_get '{"key":"self.none"}')
t_eq "kv_get of a missing key" "$(tr_get "$OUT" .content)" "No value found for key 'self.none'."
OUT=$(toolrun -a "$AG" -m "$KVM" kv_set '{"key":"shared.x","value":1}')
t_eq "kv_set outside memory_write is refused" "$(tr_get "$OUT" '.is_error')" true
mem memory.kv.get "{\"params\":{\"id\":\"$AG\",\"key\":\"shared.x\"}}"
t_eq "and nothing was stored" "$M_STATUS" 404

# A manifest with a profile and no lists of its own gets the profile's
# tools and memory globs, as GET /api/profiles shows them: kv_get needs
# the tool and memory_read, kv_set the tool and memory_write ("*" any
# key, "self.*" the self. keys).
for p in minimal coding messaging automation full; do
	lf_req GET "/api/profiles/$p"
	for k in self.p shared.p; do
		for op in kv_get:memory_read kv_set:memory_write; do
			want=$(jb --arg k "$k" --arg t "${op%%:*}" --arg c "${op#*:}" \
			    'if (.tools | index($t) or index("*")) | not then "not granted"
			     elif [.capabilities[$c] // [] | .[] | select(. == "*" or (. == "self.*" and ($k | startswith("self."))))] | length > 0 then "allowed"
			     else "refused" end')
			in="{\"key\":\"$k\"}"
			[ "${op%%:*}" = kv_set ] && in="{\"key\":\"$k\",\"value\":1}"
			OUT=$(toolrun -a "$AG" -m "{\"profile\":\"$p\"}" "${op%%:*}" "$in")
			got=$(tr_get "$OUT" 'if .is_error | not then "allowed" elif .content | test("memory_(read|write) does not allow") then "refused" elif .content | startswith("Permission denied") then "not granted" else "failed: \(.content)" end')
			t_eq "profile $p: ${op%%:*} $k is $want, as its tools and ${op#*:} show" "$got" "$want"
		done
	done
done

# ---- agent_list through the bus -------------------------------------------
OUT=$(toolrun agent_list)
t_ok "agent_list names the agent" grep -q "tooly" <<<"$(tr_get "$OUT" .content)"

# ---- web_fetch --------------------------------------------------------------
wf() { toolrun web_fetch "$(jq -nc --arg u "$1" '{url: $u}')"; }
OUT=$(wf "http://127.0.0.1:$P_CONTENT/")
t_eq "allowlisted local server: fetched" "$(tr_get "$OUT" .is_error)" false
t_ok "HTML reduced to text" grep -q "^Hello" <<<"$(tr_get "$OUT" .content)"
t_ok "entities decoded" grep -q "from & the test server" <<<"$(tr_get "$OUT" .content)"
t_ok "script dropped" bash -c '! grep -q "var s" <<<"$0"' "$(tr_get "$OUT" .content)"
OUT=$(wf "http://127.0.0.1:$P_OTHER/")
t_eq "a loopback server not allowlisted is refused" "$(tr_get "$OUT" '"\(.is_error) \(.content | startswith("SSRF blocked"))"')" "true true"
t_ok "without its content" bash -c '! grep -q SECRET <<<"$0"' "$OUT"
OUT=$(wf "http://127.0.0.1:$P_REDIR/to-other")
t_eq "a redirect to loopback is refused" "$(tr_get "$OUT" '"\(.is_error) \(.content | startswith("SSRF blocked"))"')" "true true"
t_ok "without the target's content" bash -c '! grep -q SECRET <<<"$0"' "$OUT"
OUT=$(wf "http://127.0.0.1:$P_REDIR/to-localhost")
t_eq "a redirect to localhost is refused" "$(tr_get "$OUT" '.content | startswith("SSRF blocked")')" true
OUT=$(wf "http://127.0.0.1:$P_REDIR/to-file")
t_eq "a redirect to file:// is refused" "$(tr_get "$OUT" .is_error)" true
OUT=$(wf "http://127.0.0.1:$P_REDIR/to-content")
t_eq "a redirect to an allowlisted server is followed" "$(tr_get "$OUT" .is_error)" false
t_ok "and gives its content" grep -q Hello <<<"$(tr_get "$OUT" .content)"
OUT=$(wf "http://127.0.0.1:$P_REDIR/loop")
t_eq "a redirect loop stops" "$(tr_get "$OUT" '"\(.is_error) \(.content | test("redirects"))"')" "true true"
OUT=$(wf "http://localhost:$P_CONTENT/")
t_eq "a name resolving to loopback is refused" "$(tr_get "$OUT" '.content | startswith("SSRF blocked")')" true
for u in "http://2130706433:$P_OTHER/" "http://0x7f.1:$P_OTHER/" "http://0177.0.0.1:$P_OTHER/" \
    "http://127.1:$P_OTHER/" "http://[::ffff:127.0.0.1]:$P_OTHER/" "http://[::1]:$P_OTHER/" \
    "http://0.0.0.0:$P_OTHER/" "http://169.254.169.254/"; do
	OUT=$(wf "$u")
	t_eq "refused: $u" "$(tr_get "$OUT" '"\(.is_error) \(.content | contains("SECRET"))"')" "true false"
done

# ---- file tools and shell_exec in the agent's workspace ---------------------
WS=$LIBREFANG_HOME/data/workspaces/wsagent
OUT=$(toolrun -n wsagent file_write '{"path":"a/b.txt","content":"hi there"}')
t_eq "file_write in the workspace" "$(tr_get "$OUT" .is_error)" false
t_eq "the file is under data/workspaces/<name>" "$(cat "$WS/a/b.txt")" "hi there"
t_eq "the workspace is 0700" "$(stat -c %a "$WS")" 700
OUT=$(toolrun -n wsagent file_read '{"path":"../../../config.toml"}')
t_eq "file_read ../ is refused" "$(tr_get "$OUT" '.content | startswith("Path traversal denied")')" true
ln -s /etc/passwd "$WS/pw"
OUT=$(toolrun -n wsagent file_read '{"path":"pw"}')
t_eq "file_read through a symlink is refused" "$(tr_get "$OUT" '"\(.is_error) \(.content | contains("root:"))"')" "true false"
# A workspace that is a symbolic link, even to a directory, is not one
# (the check that a made workspace is still ours: lstat, not stat).
mkdir -p "$LF_TMP/elsewhere"
OUT=$(toolrun -n wslink file_write '{"path":"x.txt","content":"ok"}')
t_eq "a new agent's workspace is made" "$(tr_get "$OUT" .is_error)" false
mv "$LIBREFANG_HOME/data/workspaces/wslink" "$LF_TMP/elsewhere/"
ln -s "$LF_TMP/elsewhere/wslink" "$LIBREFANG_HOME/data/workspaces/wslink"
OUT=$(toolrun -n wslink file_write '{"path":"y.txt","content":"no"}')
t_eq "a workspace replaced by a symlink is refused, nothing written" \
    "$(grep -c Successfully <<<"$OUT") $(ls "$LF_TMP/elsewhere/wslink")" "0 x.txt"
SH='{"capabilities":{"tools":["shell_exec"]}}'
OUT=$(toolrun -n wsagent -m "$SH" shell_exec '{"command":"cat a/b.txt; echo; pwd"}')
t_eq "shell_exec runs in the workspace" "$(tr_get "$OUT" .content)" "hi there
$WS"
OUT=$(toolrun -n wsagent shell_exec '{"command":"id"}')
t_eq "shell_exec without a grant is refused" "$(tr_get "$OUT" '.content | startswith("Permission denied")')" true

kill "$SRV_PID" 2>/dev/null
t_done
