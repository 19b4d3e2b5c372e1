#!/usr/bin/env bash
# t1101-llm-drivers.sh - the LLM drivers (services/agent-runtime/llm/)
# against the fake provider, through the llmcall helper: the three wire
# styles streaming and not, tool calls, reasoning, retries, Retry-After,
# fallback, garbage, cancel, the wire bodies, and 200 calls at once on one
# engine.  Needs neither PostgreSQL nor the stack.
. "$(dirname "$0")/../lib.sh"

LC=$LF_BIN/llmcall
LCLOG=$LF_TMP/log/llmcall.log
export FAKE_API_KEY=sk-fake-0123456789
export WRONG_API_KEY=sk-wrong-9876543210

lf_fake_start --key "$FAKE_API_KEY"
F=$LF_FAKE_URL

nreq() { lf_fake_requests "$1" | jq length; }

# call ARGS..: runs llmcall; OUT is every line, RES the last (the result).
call() {
	OUT=$("$LC" "$@" 2>>"$LCLOG")
	RC=$?
	RES=$(printf '%s\n' "$OUT" | tail -n 1)
}
r() { printf '%s' "$RES" | jq -r "$1"; }
evs() { printf '%s\n' "$OUT" | jq -rs "[.[] | select(.type != \"result\")] | $1"; }

target() {	# style model -> llmcall target options
	case $1 in
	openai)		echo "--style openai --base $F/v1 --model $2 --key-env FAKE_API_KEY" ;;
	anthropic)	echo "--style anthropic --base $F --model $2 --key-env FAKE_API_KEY" ;;
	gemini)		echo "--style gemini --base $F --model $2 --key-env FAKE_API_KEY" ;;
	esac
}
fb() {		# style model [key] -> a --fallback value
	local base=$F
	[ "$1" = openai ] && base=$F/v1
	echo "$1,$base,$2,${3:-$FAKE_API_KEY},FAKE_API_KEY"
}

REQ=$LF_TMP/req.json
cat >"$REQ" <<'EOF'
{"system": "You are terse.", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 200}
EOF
# A conversation after one tool round, for the wire bodies.
CONV=$LF_TMP/conv.json
cat >"$CONV" <<'EOF'
{"system": "SYSTEM PROMPT",
 "messages": [
  {"role": "user", "content": "write a.txt"},
  {"role": "assistant", "content": [
    {"type": "text", "text": "Writing."},
    {"type": "tool_use", "id": "call_7", "name": "file_write", "input": {"path": "a.txt"}}]},
  {"role": "user", "content": [
    {"type": "tool_result", "tool_use_id": "call_7", "tool_name": "file_write",
     "content": "wrote 2 bytes", "is_error": false}]}],
 "tools": [{"name": "file_write", "description": "Write a file",
   "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}]}
EOF

for style in openai anthropic gemini; do
	for mode in plain stream; do
		S=; [ $mode = stream ] && S=--stream
		tag="$style $mode"

		# Text with reasoning first.
		m=$style-text-$mode
		lf_fake_script "{\"model\": \"$m\", \"steps\": [{\"text\": \"Hello big world\", \"reasoning\": \"first I think\"}]}"
		call $(target $style $m) $S "$REQ"
		t_eq "$tag: text answer" "$(r '.response.content[] | select(.type=="text") | .text')" "Hello big world"
		t_eq "$tag: reasoning as a thinking block" "$(r '.response.content[0].type + ":" + .response.content[0].thinking')" "thinking:first I think"
		t_eq "$tag: end_turn, usage counted" "$(r '.response.stop_reason + " " + (.response.usage.input_tokens > 0 and .response.usage.output_tokens > 0 | tostring)')" "end_turn true"
		if [ $mode = stream ]; then
			t_eq "$tag: text deltas join to the text" "$(evs '[.[] | select(.type=="text_delta") | .text] | join("")')" "Hello big world"
			t_ok "$tag: several text deltas" test "$(evs '[.[] | select(.type=="text_delta")] | length')" -ge 3
			t_eq "$tag: thinking deltas first" "$(evs '.[0].type + ":" + ([.[] | select(.type=="thinking_delta") | .text] | join(""))')" "thinking_delta:first I think"
		else
			t_eq "$tag: no events" "$(r .events)" 0
		fi

		# Tool calls, arguments split in small fragments.
		m=$style-tool-$mode
		lf_fake_script "{\"model\": \"$m\", \"steps\": [{\"tool_calls\": [{\"name\": \"file_write\", \"arguments\": {\"path\": \"a.txt\", \"content\": \"hi there\"}}, {\"name\": \"file_read\", \"arguments\": {\"path\": \"b\"}}], \"split_tool_args\": true}]}"
		call $(target $style $m) $S "$REQ"
		t_eq "$tag: tool calls" "$(r '[.response.content[] | select(.type=="tool_use") | .name + "(" + (.input | tojson) + ")"] | join(" ")')" \
		    'file_write({"path":"a.txt","content":"hi there"}) file_read({"path":"b"})'
		t_eq "$tag: stop_reason tool_use, ids set" "$(r '.response.stop_reason + " " + ([.response.content[] | select(.type=="tool_use") | .id | length > 3] | all | tostring)')" "tool_use true"
		if [ $mode = stream ]; then
			# OpenAI streams calls by index and ends them all at
			# the finish; the others end each block in turn.
			want="tool_use_start:file_write tool_use_end:file_write tool_use_start:file_read tool_use_end:file_read"
			[ $style = openai ] && want="tool_use_start:file_write tool_use_start:file_read tool_use_end:file_write tool_use_end:file_read"
			t_eq "$tag: tool events" "$(evs '[.[] | select(.type=="tool_use_start" or .type=="tool_use_end") | .type + ":" + .name] | join(" ")')" "$want"
			t_eq "$tag: argument deltas join to the input" "$(evs '[.[] | select(.type=="tool_input_delta") | .text] | join("")')" \
			    '{"path":"a.txt","content":"hi there"}{"path":"b"}'
		fi

		# No finish reason at all.
		m=$style-nofin-$mode
		lf_fake_script "{\"model\": \"$m\", \"steps\": [{\"text\": \"no end\", \"omit_finish_reason\": true}, {\"tool_calls\": [{\"name\": \"f\", \"arguments\": {}}], \"omit_finish_reason\": true}]}"
		call $(target $style $m) $S "$REQ"
		t_eq "$tag: missing finish reason -> end_turn" "$(r '.status + " " + .response.stop_reason + " " + .response.content[0].text')" "ok end_turn no end"
		call $(target $style $m) $S "$REQ"
		t_eq "$tag: missing finish reason with a tool call -> tool_use" "$(r '.status + " " + .response.stop_reason')" "ok tool_use"

		# Garbage: a clean error, and no retry.
		m=$style-garbage-$mode
		lf_fake_script "{\"model\": \"$m\", \"steps\": [{\"garbage\": true}]}"
		call $(target $style $m) $S "$REQ"
		t_eq "$tag: garbage -> error" "$(r '.status + " " + (.err|tostring)')" "error -9"
		t_ok "$tag: garbage error says invalid" grep -q "$style/$m: invalid" <<<"$(r .response.error)"
		t_eq "$tag: garbage is not retried" "$(nreq $m)" 1

		# A wrong key: 401 naming the variable, never the key.
		m=$style-auth-$mode
		call $(target $style $m | sed 's/FAKE_API_KEY/WRONG_API_KEY/') $S "$REQ"
		t_ok "$tag: 401 names WRONG_API_KEY" grep -q "HTTP 401.*WRONG_API_KEY" <<<"$(r .response.error)"
		t_ok "$tag: the key is not in the output" test -z "$(grep -F -- "$WRONG_API_KEY" <<<"$OUT")"
	done
done

# ---- wire bodies ---------------------------------------------------------
call $(target openai wire-o) --stream "$CONV"
B=$(lf_fake_requests wire-o | jq -c '.[0].body')
t_eq "openai wire: system message first" "$(jq -r '.messages[0].role + ":" + .messages[0].content' <<<"$B")" "system:SYSTEM PROMPT"
t_eq "openai wire: assistant tool_calls, arguments a string" "$(jq -r '.messages[2].tool_calls[0] | .id + " " + .function.name + " " + (.function.arguments | type)' <<<"$B")" "call_7 file_write string"
t_eq "openai wire: result as a role tool message" "$(jq -c '.messages[3]' <<<"$B")" '{"role":"tool","tool_call_id":"call_7","content":"wrote 2 bytes"}'
t_eq "openai wire: tools, include_usage" "$(jq -r '.tools[0].function.name + " " + (.stream_options.include_usage|tostring)' <<<"$B")" "file_write true"
t_eq "openai wire: bearer key" "$(lf_fake_requests wire-o | jq -r '.[0].headers.authorization')" "Bearer $FAKE_API_KEY"

call $(target anthropic wire-a) "$CONV"
B=$(lf_fake_requests wire-a | jq -c '.[0].body')
t_eq "anthropic wire: system field" "$(jq -r '.system + " " + .messages[0].role' <<<"$B")" "SYSTEM PROMPT user"
t_eq "anthropic wire: tool_use block" "$(jq -c '.messages[1].content[1]' <<<"$B")" '{"type":"tool_use","id":"call_7","name":"file_write","input":{"path":"a.txt"}}'
t_eq "anthropic wire: tool_result in a user message" "$(jq -c '.messages[2]' <<<"$B")" '{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_7","content":"wrote 2 bytes","is_error":false}]}'
t_eq "anthropic wire: headers" "$(lf_fake_requests wire-a | jq -r '.[0].headers["anthropic-version"] + " " + .[0].headers["x-api-key"]')" "2023-06-01 $FAKE_API_KEY"

call $(target gemini wire-g) --stream "$CONV"
B=$(lf_fake_requests wire-g | jq -c '.[0].body')
t_eq "gemini wire: systemInstruction" "$(jq -r '.systemInstruction.parts[0].text' <<<"$B")" "SYSTEM PROMPT"
t_eq "gemini wire: roles" "$(jq -r '[.contents[].role] | join(",")' <<<"$B")" "user,model,user"
t_eq "gemini wire: functionCall" "$(jq -c '.contents[1].parts[1]' <<<"$B")" '{"functionCall":{"name":"file_write","args":{"path":"a.txt"}}}'
t_eq "gemini wire: functionResponse" "$(jq -c '.contents[2].parts[0]' <<<"$B")" '{"functionResponse":{"name":"file_write","response":{"content":"wrote 2 bytes"}}}'
t_eq "gemini wire: sse path and key header" "$(lf_fake_requests wire-g | jq -r '.[0].path + " " + .[0].query.alt + " " + .[0].headers["x-goog-api-key"]')" "/v1beta/models/wire-g:streamGenerateContent sse $FAKE_API_KEY"

# ---- retries -------------------------------------------------------------
lf_fake_script '{"model": "ra", "steps": [{"status": 429, "retry_after": 1}, {"text": "after the wait"}]}'
call $(target openai ra) "$REQ"
t_eq "429 + Retry-After: success on the retry" "$(r '.status + " " + .response.content[0].text')" "ok after the wait"
t_ok "429 + Retry-After: waited about 1 s" test "$(r .elapsed_ms)" -ge 950
t_eq "429 + Retry-After: gap between the requests" "$(lf_fake_requests ra | jq '(.[1].at_ms - .[0].at_ms) >= 950')" true
t_eq "429 + Retry-After: no attempts recorded on success" "$(r '.response.attempts // [] | length')" 0

lf_fake_script '{"model": "r429", "steps": [{"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}, {"text": "never"}]}'
lf_fake_script '{"model": "r429-fb", "steps": [{"text": "from the fallback"}]}'
call $(target openai r429) --fallback "$(fb anthropic r429-fb)" --stream "$REQ"
t_eq "429 twice -> fallback answers" "$(r '.status + " " + .response.provider + " " + .response.content[0].text')" "ok anthropic from the fallback"
t_eq "429 twice: one retry on the same target" "$(nreq r429)" 2
t_eq "429 twice: the fallback got the call" "$(nreq r429-fb)" 1
t_ok "429 twice: attempts say retried once" grep -q "HTTP 429 rate limited (retried once)" <<<"$(r '.response.attempts[0].error')"

for style in openai anthropic gemini; do
	lf_fake_script "{\"model\": \"r500-$style\", \"steps\": [{\"status\": 500}, {\"status\": 502}, {\"text\": \"recovered\"}]}"
	call $(target $style r500-$style) "$REQ"
	t_eq "$style: 500, 502 then success" "$(r '.status + " " + .response.content[0].text')" "ok recovered"
	t_eq "$style: three requests" "$(nreq r500-$style)" 3

	lf_fake_script "{\"model\": \"drop-$style\", \"steps\": [{\"text\": \"one two three four five six\", \"break_after_chunks\": 4}, {\"text\": \"second try\"}]}"
	call $(target $style drop-$style) --stream "$REQ"
	t_eq "$style: dropped stream then success" "$(r '.status + " " + .response.content[0].text')" "ok second try"
	t_eq "$style: restart event after the partial deltas" "$(evs '[.[] | .type] | (index("restart") != null) and (index("text_delta") < index("restart"))')" true
	t_eq "$style: deltas after the restart are the answer" "$(evs '[.[(map(.type) | index("restart")):][] | select(.type=="text_delta") | .text] | join("")')" "second try"
done

lf_fake_script '{"model": "r5xx", "steps": [{"status": 503}, {"status": 503}, {"status": 503}, {"text": "never"}]}'
call $(target openai r5xx) "$REQ"
t_eq "5xx: gives up after 3 tries" "$(r '.status + " " + (.response.attempts | length | tostring)')" "error 1"
t_eq "5xx: bounded retries" "$(nreq r5xx)" 3
t_ok "5xx: backoff 250 + 500 ms" test "$(r .elapsed_ms)" -ge 700

# ---- everything exhausted ------------------------------------------------
lf_fake_script '{"model": "x-dead", "steps": [{"status": 500}, {"status": 500}, {"status": 500}]}'
lf_fake_script '{"model": "z-busy", "steps": [{"status": 429, "retry_after": 0}, {"status": 429, "retry_after": 0}]}'
call $(target openai x-dead) --fallback "$(fb anthropic y-auth "$WRONG_API_KEY")" \
    --fallback "$(fb gemini z-busy)" --fallback "openai,http://127.0.0.1:1/v1,w-gone,k" "$REQ"
E=$(r .response.error)
t_eq "exhausted: an error" "$(r '.status + " " + (.err|tostring)')" "error -9"
t_ok "exhausted: names every target and why" grep -q "^all providers failed: openai/x-dead: HTTP 500.*; anthropic/y-auth: HTTP 401.*FAKE_API_KEY.*; gemini/z-busy: HTTP 429 rate limited (retried once).*; openai/w-gone: connection failed" <<<"$E"
t_eq "exhausted: attempts listed" "$(r '[.response.attempts[] | .provider + "/" + .model] | join(" ")')" "openai/x-dead anthropic/y-auth gemini/z-busy openai/w-gone"

# ---- cancel, latency -----------------------------------------------------
# 200 words 100 ms apart: the whole stream would take 20 s.
lf_fake_script "{\"model\": \"slow\", \"steps\": [{\"text\": \"$(seq -f 'w%g' 200 | tr '\n' ' ')\", \"chunk_delay_ms\": 100}]}"
call $(target openai slow) --stream --cancel-after-ms 400 "$REQ"
t_eq "cancel mid-stream: canceled" "$(r '.status + " " + (.err|tostring)')" "canceled -10"
t_ok "cancel mid-stream: some deltas came first" test "$(evs '[.[] | select(.type=="text_delta")] | length')" -ge 1
t_ok "cancel mid-stream: done at once, not at the stream's 20 s ($(r .elapsed_ms) ms)" test "$(r .elapsed_ms)" -lt 8000

lf_fake_script '{"model": "firstbyte", "steps": [{"text": "early late later", "chunk_delay_ms": 250}]}'
call $(target anthropic firstbyte) --stream "$REQ"
t_ok "deltas are delivered as they arrive" test "$(r '.elapsed_ms - .first_delta_ms')" -ge 400

# ---- 200 streaming calls at once on one engine ---------------------------
lf_fake_start --key "$FAKE_API_KEY" --latency-ms 500
OUT=$("$LC" --style openai --base "$LF_FAKE_URL/v1" --model many --key-env FAKE_API_KEY --stream --parallel 200 "$REQ" 2>>"$LCLOG")
RES=$OUT
t_eq "200 at once: all succeed" "$(r '.ok')" 200
t_ok "200 at once: concurrent (well under 200 x 0.5 s: $(r .elapsed_ms) ms)" test "$(r .elapsed_ms)" -lt 20000
t_ok "200 at once: in flight together" test "$(r .max_active)" -ge 100

t_done
