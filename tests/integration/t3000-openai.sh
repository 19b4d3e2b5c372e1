#!/usr/bin/env bash
# t3000-openai.sh - the OpenAI-compatible API (POST /v1/chat/completions,
# GET /v1/models) against agent-runtime and the fake LLM provider, with
# curl: model resolution (librefang:<name>, an id, a plain name, else the
# first agent; 404 model_not_found), the chat.completion and
# chat.completion.chunk shapes (role first, content deltas, the agent's
# tool calls as tool_calls deltas, finish_reason and usage, the usage
# chunk, [DONE]), image parts as attachments, temperature and max_tokens
# reaching the provider for that turn only (and through the native
# route), a turn with tool calls answered as the reference does,
# OpenAI-shaped errors for bad input and for the gateway's own checks
# (404, 405, 413, 415, 401), auth; then the official `openai` client
# (tests/e2e/openai-compat.test.mjs).
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-openai-0123456789
lf_fake_stack agent-runtime

# oai_err STATUS TYPE: the last answer is STATUS with exactly OpenAI's
# error object {"error": {message, type, param, code}} of that type.
oai_err() {
	[ "$LF_STATUS" = "$1" ] &&
	[ "$(jbc '[keys, (.error | keys)]')" = '[["error"],["code","message","param","type"]]' ] &&
	[ "$(jb .error.type)" = "$2" ] && [ -n "$(jb .error.message)" ]
}
chat() { lf_req POST /v1/chat/completions "$1"; }
# A long session is compacted, and the compaction's own provider call
# would take a step scripted for a test: each part starts afresh.
fresh_sessions() {
	local id
	for id in ${HELPER:-} ${CODER:-}; do
		lf_req POST "/api/agents/$id/session/reset"
	done
}
# sse JSON FILE: a streamed completion into FILE (headers in FILE.h).
# Streamed texts are scripted with a few ms between chunks: a burst of
# turn events on the bus can lose one in the middle (the native SSE route
# too), and these tests are about the shapes.
sse() {
	printf '%s' "$1" > "$2.req"
	curl -sN -m 60 -X POST -H 'Content-Type: application/json' -D "$2.h" \
	    --data-binary "@$2.req" -o "$2" "$LF_URL/v1/chat/completions"
}
# The JSON chunks of a capture (not [DONE]) as one array.
chunks() { sed -n 's/^data: //p' "$1" | grep -v '^\[DONE\]$' | jq -sc .; }

# ---- no agent yet ---------------------------------------------------------------
lf_req GET /v1/models
t_eq "GET /v1/models with no agent: an empty list" "$(jbc .)" '{"object":"list","data":[]}'
chat '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
t_ok "no agent to answer: 404 invalid_request_error" oai_err 404 invalid_request_error
t_eq "... code model_not_found" "$(jb .error.code)" model_not_found

# ---- agents ---------------------------------------------------------------------
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml coder m1 '[capabilities]
tools = ["file_write", "file_read"]')")"
t_eq "spawn coder" "$LF_STATUS" 201
CODER=$(jb .agent_id)
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml helper m2)")"
t_eq "spawn helper" "$LF_STATUS" 201
HELPER=$(jb .agent_id)

lf_req GET /v1/models
t_eq "GET /v1/models: 200" "$LF_STATUS" 200
t_eq "the agents as models, oldest first" \
    "$(jbc '[.object, [.data[] | [.id, .object, .owned_by, (.created | type)]]]')" \
    '["list",[["librefang:coder","model","librefang","number"],["librefang:helper","model","librefang","number"]]]'
t_ok "created is a Unix time in seconds ($(jb '.data[0].created'))" \
    test "$(jb '.data[0].created')" -gt 1700000000 -a "$(jb '.data[0].created')" -le "$(date +%s)"

# ---- a plain completion ---------------------------------------------------------
lf_fake_script '{"model":"m2","steps":[{"text":"Ahoy from helper","usage":{"input_tokens":21,"output_tokens":4}}]}'
chat '{"model":"librefang:helper","messages":[{"role":"system","content":"You are a pirate."},{"role":"user","content":"Hello!"}],"temperature":0.7,"max_tokens":1024}'
t_eq "librefang:helper: 200" "$LF_STATUS" 200
t_eq "a chat.completion" \
    "$(jbc '[.object, (.id | startswith("chatcmpl-")), (.created | type), .model, .choices[0].index, .choices[0].message, .choices[0].finish_reason]')" \
    '["chat.completion",true,"number","helper",0,{"role":"assistant","content":"Ahoy from helper"},"stop"]'
t_eq "usage from the turn" "$(jbc .usage)" '{"prompt_tokens":21,"completion_tokens":4,"total_tokens":25}'
t_eq "only the last user message reached the agent" \
    "$(lf_fake_requests m2 | jq -c '[.[0].body.messages[] | select(.role == "user") | .content]')" '["Hello!"]'
t_eq "the client's system message did not replace the agent's" \
    "$(lf_fake_requests m2 | jq '[.[0].body.messages[] | tostring | select(contains("pirate"))] | length')" 0
t_eq "its temperature and max_tokens reached the provider" \
    "$(lf_fake_requests m2 | jq -c '.[0].body | [.temperature, .max_tokens]')" '[0.7,1024]'

# ---- temperature and max_tokens: this turn only ------------------------------------
# sampling: the provider's [temperature, max_tokens, max_completion_tokens]
# in the last request for model $1.
sampling() { lf_fake_requests "$1" | jq -c '.[-1].body | [.temperature, .max_tokens, .max_completion_tokens]'; }
lf_fake_script '{"model":"m2","steps":[{"text":"s1"},{"text":"s2"},{"text":"s3"},{"text":"s4"},{"text":"s5","chunk_delay_ms":5},{"text":"s6"}]}'
lf_req POST "/api/agents/$HELPER/message" '{"message":"plain"}'
t_eq "native, no sampling asked: 200" "$LF_STATUS" 200
MANIFEST=$(sampling m2)
t_eq "... the manifest's sampling" "$MANIFEST" '[0.7,4096,null]'
chat '{"model":"librefang:helper","messages":[{"role":"user","content":"t"}],"temperature":0.25,"max_completion_tokens":77}'
t_eq "/v1 max_completion_tokens: the provider got it as this model's max_tokens" "$(jbc '[.choices[0].message.content]')|$(sampling m2)" '["s2"]|[0.25,77,null]'
chat '{"model":"librefang:helper","messages":[{"role":"user","content":"t"}],"max_tokens":5,"max_completion_tokens":66}'
t_eq "/v1 both: max_completion_tokens wins" "$(jbc '[.choices[0].message.content]')|$(sampling m2)" "[\"s3\"]|$(printf '%s' "$MANIFEST" | jq -c '.[1] = 66')"
lf_req POST "/api/agents/$HELPER/message" '{"message":"plain again"}'
t_eq "the next turn is back to the manifest's" "$(jb .response)|$(sampling m2)" "s4|$MANIFEST"
sse '{"model":"librefang:helper","stream":true,"temperature":1.5,"max_tokens":33,"messages":[{"role":"user","content":"t"}]}' "$LF_TMP/sp"
t_eq "/v1 streamed: the provider got them too" \
    "$(chunks "$LF_TMP/sp" | jq -r '[.[] | .choices[0].delta.content // empty] | join("")')|$(sampling m2)" 's5|[1.5,33,null]'
lf_req POST "/api/agents/$HELPER/message" '{"message":"native","temperature":0,"max_tokens":12}'
t_eq "native POST .../message: the provider got them" "$(jb .response)|$(sampling m2)" 's6|[0,12,null]'
NREQ=$(lf_fake_requests m2 | jq length)
lf_req POST "/api/agents/$HELPER/message" '{"message":"x","temperature":2.5}'
t_eq "native temperature out of range: 400" "$LF_STATUS $(jb .error)" "400 'temperature' must be a number from 0 to 2"
lf_req POST "/api/agents/$HELPER/message" '{"message":"x","max_tokens":0}'
t_eq "native max_tokens 0: 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$HELPER/message" '{"message":"x","max_tokens":"9"}'
t_eq "native max_tokens not an integer: 400" "$LF_STATUS" 400
t_eq "... no provider call for any of them" "$(lf_fake_requests m2 | jq length)" "$NREQ"

# A model the catalog knows (gpt-5: max output 128000; a reasoning model,
# so the driver sends max_completion_tokens and no temperature).
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml bounded gpt-5)")"
t_eq "spawn bounded (gpt-5 at the fake)" "$LF_STATUS" 201
BOUNDED=$(jb .agent_id)
lf_fake_script '{"model":"gpt-5","steps":[{"text":"within bounds"}]}'
chat '{"model":"librefang:bounded","messages":[{"role":"user","content":"t"}],"max_tokens":128001}'
t_ok "max_tokens past the model's max output: 400" oai_err 400 invalid_request_error
t_eq "... naming the bound: $(jb .error.message)" "$(jb '.error.message | test("128000")')" true
lf_req POST "/api/agents/$BOUNDED/message" '{"message":"t","max_tokens":200000}'
t_eq "... the native route too" "$LF_STATUS" 400
sse '{"model":"librefang:bounded","stream":true,"max_tokens":128001,"messages":[{"role":"user","content":"t"}]}' "$LF_TMP/sb"
t_eq "... streamed: a plain 400 before any chunk, OpenAI-shaped" \
    "$(grep '^HTTP' "$LF_TMP/sb.h" | tail -1 | awk '{print $2}') $(jq -r .error.type "$LF_TMP/sb")" "400 invalid_request_error"
chat '{"model":"librefang:bounded","messages":[{"role":"user","content":"t"}],"max_tokens":128000,"temperature":1}'
t_eq "max_tokens at the bound: the provider got it (as max_completion_tokens, no temperature)" \
    "$(jbc '[.choices[0].message.content]')|$(sampling gpt-5)" '["within bounds"]|[null,null,128000]'
lf_req DELETE "/api/agents/$BOUNDED"

# ---- model resolution -----------------------------------------------------------
lf_fake_script '{"model":"m2","steps":[{"text":"by id"},{"text":"by name"}]}'
lf_fake_script '{"model":"m1","steps":[{"text":"the first agent"}]}'
chat "{\"model\":\"$HELPER\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}"
t_eq "an agent id picks that agent" "$(jbc '[.model, .choices[0].message.content]')" '["helper","by id"]'
chat '{"model":"helper","messages":[{"role":"user","content":"b"}]}'
t_eq "a plain name picks that agent" "$(jbc '[.model, .choices[0].message.content]')" '["helper","by name"]'
chat '{"model":"gpt-4o","messages":[{"role":"user","content":"c"}]}'
t_eq "any other model: the first agent" "$(jbc '[.model, .choices[0].message.content]')" '["coder","the first agent"]'
chat '{"model":"librefang:nobody","messages":[{"role":"user","content":"d"}]}'
t_ok "librefang:<unknown>: 404 invalid_request_error" oai_err 404 invalid_request_error
t_eq "... model_not_found, param model" "$(jbc '[.error.code, .error.param]')" '["model_not_found","model"]'
chat '{"model":"00000000-0000-4000-8000-000000000000","messages":[{"role":"user","content":"e"}]}'
t_ok "an unknown agent id: 404 model_not_found" oai_err 404 invalid_request_error
t_eq "... code" "$(jb .error.code)" model_not_found

# The gateway keeps the agents it listed for a second: a new agent answers
# at once, and an agent deleted and spawned again under its name within
# that second is found again (its old id answers 404, then the model is
# resolved afresh), streamed or not.
lf_fake_script '{"model":"m3","steps":[{"text":"fresh one"}]}'
chat '{"model":"librefang:helper","messages":[{"role":"user","content":"warm"}]}'
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml fresh m3)")"
FRESH=$(jb .agent_id)
chat '{"model":"librefang:fresh","messages":[{"role":"user","content":"f"}]}'
t_eq "an agent spawned a moment ago answers at once" "$(jbc '[.model, .choices[0].message.content]')" '["fresh","fresh one"]'
lf_fake_script '{"model":"m4","steps":[{"text":"the new fresh"},{"text":"the newer fresh","chunk_delay_ms":10}]}'
lf_req DELETE "/api/agents/$FRESH"
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml fresh m4)")"
FRESH=$(jb .agent_id)
chat '{"model":"librefang:fresh","messages":[{"role":"user","content":"g"}]}'
t_eq "deleted and spawned again: the new agent answers" "$(jbc '[.model, .choices[0].message.content]')" '["fresh","the new fresh"]'
lf_req DELETE "/api/agents/$FRESH"
lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml fresh m4)")"
FRESH=$(jb .agent_id)
sse '{"model":"librefang:fresh","stream":true,"messages":[{"role":"user","content":"h"}]}' "$LF_TMP/s0"
t_eq "... streamed too" "$(chunks "$LF_TMP/s0" | jq -r '[.[] | .choices[0].delta.content // empty] | join("")')" "the newer fresh"
lf_req DELETE "/api/agents/$FRESH"

# ---- streaming ------------------------------------------------------------------
fresh_sessions
lf_fake_script '{"model":"m2","steps":[{"text":"Streaming words from the helper","chunk_delay_ms":20,"usage":{"input_tokens":9,"output_tokens":5}}]}'
sse '{"model":"librefang:helper","stream":true,"messages":[{"role":"user","content":"stream it"}]}' "$LF_TMP/s1"
C=$(chunks "$LF_TMP/s1")
t_ok "stream: 200 text/event-stream" grep -qi '^content-type: text/event-stream' "$LF_TMP/s1.h"
t_ok "stream: every data line is JSON or [DONE]" \
    sh -c "sed -n 's/^data: //p' '$LF_TMP/s1' | grep -v '^\[DONE\]\$' | jq -e . >/dev/null"
t_eq "stream: ends with data: [DONE]" "$(grep '^data: ' "$LF_TMP/s1" | tail -1)" 'data: [DONE]'
t_eq "stream: every chunk is a chat.completion.chunk of one id" \
    "$(printf '%s' "$C" | jq -c '[([.[].object] | unique), ([.[].id] | unique | length), ([.[].model] | unique)]')" \
    '[["chat.completion.chunk"],1,["helper"]]'
t_eq "stream: the role first" "$(printf '%s' "$C" | jq -c '.[0].choices[0] | [.delta, .finish_reason]')" \
    '[{"role":"assistant","content":""},null]'
t_ok "stream: several content deltas ($(printf '%s' "$C" | jq '[.[] | .choices[0].delta.content // empty | select(. != "")] | length'))" \
    test "$(printf '%s' "$C" | jq '[.[] | .choices[0].delta.content // empty | select(. != "")] | length')" -gt 2
t_eq "stream: the deltas add up to the text" \
    "$(printf '%s' "$C" | jq -r '[.[] | .choices[0].delta.content // empty] | join("")')" \
    "Streaming words from the helper"
t_eq "stream: the last chunk has finish_reason stop and the usage" \
    "$(printf '%s' "$C" | jq -c '.[-1] | [.choices[0].delta, .choices[0].finish_reason, .usage]')" \
    '[{},"stop",{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}]'

lf_fake_script '{"model":"m2","steps":[{"text":"with usage","chunk_delay_ms":10}]}'
sse '{"model":"librefang:helper","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"u"}]}' "$LF_TMP/s2"
t_eq "include_usage: a last chunk with no choices and the usage" \
    "$(chunks "$LF_TMP/s2" | jq -c '.[-1] | [.choices, (.usage | keys)]')" \
    '[[],["completion_tokens","prompt_tokens","total_tokens"]]'

# The agent's own tool calls, as OpenAI streams tool calls.
lf_fake_script '{"model":"m1","steps":[{"tool_calls":[{"name":"file_write","arguments":{"path":"a.txt","content":"x"}}]},{"text":"Wrote a.txt.","chunk_delay_ms":10}]}'
sse '{"model":"librefang:coder","stream":true,"messages":[{"role":"user","content":"write it"}]}' "$LF_TMP/s3"
C=$(chunks "$LF_TMP/s3")
t_eq "tool turn: a tool_calls delta with index, id, type, name" \
    "$(printf '%s' "$C" | jq -c '[.[] | .choices[0].delta.tool_calls // empty | .[0]] | .[0] | [.index, (.id | length > 0), .type, .function.name, .function.arguments]')" \
    '[0,true,"function","file_write",""]'
t_eq "tool turn: then its arguments at the same index" \
    "$(printf '%s' "$C" | jq -c '[.[] | .choices[0].delta.tool_calls // empty | .[0]] | .[1] | [.index, (.function.arguments | fromjson | .path)]')" \
    '[0,"a.txt"]'
t_eq "tool turn: the text, then stop" \
    "$(printf '%s' "$C" | jq -c '[([.[] | .choices[0].delta.content // empty] | join("")), .[-1].choices[0].finish_reason]')" \
    '["Wrote a.txt.","stop"]'

# Not streamed, a turn whose agent called tools answers as the reference
# does (spec 000, notes protocols.md 5.1): the final text, finish_reason
# "stop", and no tool_calls in the message, which a client would take as
# calls for it to run: the agent ran them itself.
lf_fake_script '{"model":"m1","steps":[{"tool_calls":[{"name":"file_write","arguments":{"path":"b.txt","content":"y"}}]},{"text":"Wrote b.txt."}]}'
chat '{"model":"librefang:coder","messages":[{"role":"user","content":"write b"}]}'
t_eq "tool turn, not streamed: the text, stop, no tool_calls" \
    "$(jbc '[.choices[0].message, .choices[0].finish_reason]')" '[{"role":"assistant","content":"Wrote b.txt."},"stop"]'
t_eq "... the tool ran (the provider saw its result)" \
    "$(lf_fake_requests m1 | jq -r '.[-1].body.messages[-1].role')" tool

# A turn the runtime refuses before anything streams (a message over its
# 1 MiB): a plain JSON error.
{ printf '{"model":"librefang:helper","stream":true,"messages":[{"role":"user","content":"'
  head -c 1100000 /dev/zero | tr '\0' a; printf '"}]}'; } > "$LF_TMP/s4.req"
curl -sN -m 60 -X POST -H 'Content-Type: application/json' -D "$LF_TMP/s4.h" \
    --data-binary "@$LF_TMP/s4.req" -o "$LF_TMP/s4" "$LF_URL/v1/chat/completions"
t_eq "stream refused at once: its status, not a stream" "$(grep '^HTTP' "$LF_TMP/s4.h" | tail -1 | awk '{print $2}')" 413
t_eq "... as an OpenAI error" "$(jq -c '[.error.type, (.error.message | length > 0)]' "$LF_TMP/s4")" '["invalid_request_error",true]'

# ---- images ---------------------------------------------------------------------
fresh_sessions
PNG=iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==
lf_fake_script '{"model":"m2","steps":[{"text":"a red dot"}]}'
chat "{\"model\":\"librefang:helper\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Describe this image\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,$PNG\"}}]}]}"
t_eq "an image part: 200" "$(jbc '[.choices[0].message.content]')" '["a red dot"]'
t_eq "the provider got the text and the image" \
    "$(lf_fake_requests m2 | jq -c '.[-1].body.messages[-1].content | [.[] | .type] | sort')" '["image_url","text"]'
t_eq "... the same bytes" \
    "$(lf_fake_requests m2 | jq -r '.[-1].body.messages[-1].content[] | select(.type == "image_url") | .image_url.url')" \
    "data:image/png;base64,$PNG"
lf_fake_script '{"model":"m2","steps":[{"text":"streamed dot","chunk_delay_ms":10}]}'
sse "{\"model\":\"librefang:helper\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":\"data:image/jpeg;base64,$PNG\"}]}]}" "$LF_TMP/s7"
t_eq "an image streamed (image_url as a plain string): the text" \
    "$(chunks "$LF_TMP/s7" | jq -r '[.[] | .choices[0].delta.content // empty] | join("")')" "streamed dot"
t_eq "... the provider got its bytes" \
    "$(lf_fake_requests m2 | jq -r '.[-1].body.messages[-1].content[0].image_url.url' | sed 's/^data:image\/[a-z]*;base64,//')" "$PNG"
chat '{"model":"librefang:helper","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://169.254.169.254/latest"}}]}]}'
t_ok "an image by URL: 400 (URLs are not fetched)" oai_err 400 invalid_request_error
chat '{"model":"librefang:helper","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:text/html;base64,PGI+"}}]}]}'
t_ok "a data: URI that is not an image: 400" oai_err 400 invalid_request_error
chat '{"model":"librefang:helper","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@@not-base64"}}]}]}'
t_ok "an image that is not base64: 400" oai_err 400 invalid_request_error

# ---- bad input ------------------------------------------------------------------
fresh_sessions
U='"messages":[{"role":"user","content":"x"}]'
bad() {	# bad DESC STATUS JSON [PARAM]
	chat "$3"
	t_ok "$1: $2 invalid_request_error" oai_err "$2" invalid_request_error
	[ $# -lt 4 ] || t_eq "$1: param $4" "$(jb .error.param)" "$4"
}
bad "malformed JSON" 400 '{"model":"x",'
bad "a body that is not an object" 400 '[1,2]'
bad "no model" 400 "{$U}" model
bad "a model that is not a string" 400 "{\"model\":7,$U}" model
bad "no messages" 400 '{"model":"coder"}' messages
bad "messages not an array" 400 '{"model":"coder","messages":"hi"}' messages
bad "no message at all" 400 '{"model":"coder","messages":[]}' messages
bad "a message without a role" 400 '{"model":"coder","messages":[{"content":"x"}]}' messages
bad "an unknown role" 400 '{"model":"coder","messages":[{"role":"wizard","content":"x"}]}' messages
bad "content that is a number" 400 '{"model":"coder","messages":[{"role":"user","content":5}]}' messages
bad "an unknown content part" 400 '{"model":"coder","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}' messages
bad "a text part without text" 400 '{"model":"coder","messages":[{"role":"user","content":[{"type":"text"}]}]}' messages
bad "temperature as a string" 400 "{\"model\":\"coder\",$U,\"temperature\":\"hot\"}" temperature
bad "temperature out of range" 400 "{\"model\":\"coder\",$U,\"temperature\":3}" temperature
bad "max_tokens 0" 400 "{\"model\":\"coder\",$U,\"max_tokens\":0}" max_tokens
bad "max_tokens not an integer" 400 "{\"model\":\"coder\",$U,\"max_tokens\":1.5}" max_tokens
bad "stream as a string" 400 "{\"model\":\"coder\",$U,\"stream\":\"yes\"}" stream
bad "stream_options not an object" 400 "{\"model\":\"coder\",$U,\"stream_options\":1}" stream_options
bad "n=3" 400 "{\"model\":\"coder\",$U,\"n\":3}" n
bad "a NUL in the text" 400 '{"model":"coder","messages":[{"role":"user","content":"a\u0000b"}]}'
chat '{"model":"coder","messages":[{"role":"system","content":"only a system message"}]}'
t_ok "no user message: 400" oai_err 400 invalid_request_error
t_eq "... code missing_message" "$(jb .error.code)" missing_message
t_eq "a body that is not JSON: 415" "$(curl -s -m 10 -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: text/plain' --data-binary 'model=coder' "$LF_URL/v1/chat/completions")" 415

# The gateway's own checks, made before gw_openai.c runs, answer /v1 in
# OpenAI's shape too; other paths keep {"error": "..."}.
# raw_post FILE CONTENT-TYPE [CURL ARGS]: POST /v1/chat/completions with
# FILE as the body, into LF_STATUS and LF_BODY.
raw_post() {
	local f=$1 ct=$2
	shift 2
	LF_STATUS=$(curl -s -m 30 -o "$LF_TMP/raw" -w '%{http_code}' -H "Content-Type: $ct" \
	    "$@" --data-binary "@$f" "$LF_URL/v1/chat/completions")
	LF_BODY=$(cat "$LF_TMP/raw")
}
printf 'model=coder' > "$LF_TMP/form"
raw_post "$LF_TMP/form" text/plain
t_ok "415: OpenAI's error object" oai_err 415 invalid_request_error
lf_req GET /v1/nothing-here
t_ok "an unknown /v1 path: 404 invalid_request_error" oai_err 404 invalid_request_error
t_eq "... naming the path" "$(jb .error.message)" "not found: /v1/nothing-here"
lf_req DELETE /v1/models
t_ok "a method /v1/models does not take: 405" oai_err 405 invalid_request_error
t_eq "... with Allow" "$(lf_hdr allow)" "GET, OPTIONS"
lf_req GET /api/nothing-here
t_eq "outside /v1 the gateway's own shape stays" "$LF_STATUS $(jbc .)" '404 {"error":"not found: /api/nothing-here"}'
head -c 8400000 /dev/zero | tr '\0' a > "$LF_TMP/big"
raw_post "$LF_TMP/big" application/json
t_ok "a body past max_request_body_bytes: 413 invalid_request_error" oai_err 413 invalid_request_error
# A chunked body past the limit is answered on the socket mid-body
# (gw_conn_abort), with the same shape.
raw_post "$LF_TMP/big" application/json -H 'Transfer-Encoding: chunked'
t_ok "... sent chunked: 413 invalid_request_error too" oai_err 413 invalid_request_error
rm -f "$LF_TMP/big"

lf_fake_script '{"model":"m1","steps":[{"text":"ok 1"},{"text":"ok 2"}]}'
chat "{\"model\":\"coder\",$U,\"max_tokens\":9007199254740991,\"temperature\":0}"
t_ok "a max_tokens past any model's output: 400 (it reaches the turn now)" oai_err 400 invalid_request_error
chat "{\"model\":\"coder\",$U,\"max_tokens\":100,\"temperature\":0}"
t_eq "... one within it is served" "$(jbc '[.choices[0].message.content]')" '["ok 1"]'
chat "{\"model\":\"coder\",$U,\"user\":\"u1\",\"top_p\":0.5,\"seed\":3,\"tools\":[],\"frequency_penalty\":0,\"unknown_field\":{\"a\":[1]}}"
t_eq "unknown and unused fields are ignored" "$(jbc '[.choices[0].message.content]')" '["ok 2"]'
t_ok "the gateway is still up" lf_is_ok /api/health

# ---- clients that leave, a gateway that stops ---------------------------------------
lf_fake_script '{"model":"m2","steps":[{"text":"one two three four five six seven eight","chunk_delay_ms":300}]}'
curl -sN -m 1 -X POST -H 'Content-Type: application/json' -o "$LF_TMP/s5" \
    --data-binary '{"model":"librefang:helper","stream":true,"messages":[{"role":"user","content":"leave"}]}' \
    "$LF_URL/v1/chat/completions"
t_ok "a client that leaves mid-stream got part of it" grep -q '"content":"one"' "$LF_TMP/s5"
lf_fake_script '{"model":"m2","steps":[{"text":"after"}]}'
sleep 2.5	# the left turn ends at the runtime
chat '{"model":"librefang:helper","messages":[{"role":"user","content":"still there?"}]}'
t_eq "... and the next completion is served" "$(jbc '[.choices[0].message.content]')" '["after"]'

# SIGTERM with a stream open: an error chunk, [DONE], a clean exit.
# 30 words a second apart: a stop that waited for the stream's end
# would be killed (lf_stop, LF_STOP_SECS) long before it.
lf_fake_script "{\"model\":\"m2\",\"steps\":[{\"text\":\"a $(seq -f 'w%g' 29 | tr '\n' ' ')\",\"chunk_delay_ms\":1000}]}"
curl -sN -m 20 -X POST -H 'Content-Type: application/json' -o "$LF_TMP/s6" \
    --data-binary '{"model":"librefang:helper","stream":true,"messages":[{"role":"user","content":"stop"}]}' \
    "$LF_URL/v1/chat/completions" &
CURL=$!
lf_poll 200 grep -qs '"content":"a"' "$LF_TMP/s6"
lf_stop api-gateway
t_eq "SIGTERM mid-stream: the gateway exits 0, not killed (${LF_STOP_MS} ms)" "$LF_EXIT" 0
timeout 10 tail --pid=$CURL -f /dev/null || kill $CURL
t_eq "... the stream ends with an error chunk, then [DONE]" \
    "$(sed -n 's/^data: //p' "$LF_TMP/s6" | tail -2 | head -1 | jq -r .error.message)|$(sed -n 's/^data: //p' "$LF_TMP/s6" | tail -1)" \
    "the gateway is shutting down|[DONE]"
lf_start api-gateway
lf_wait_health || { echo "Bail out! the gateway did not come back"; exit 1; }
# Its turn still streams at the runtime (30 s): stop it.
lf_req POST "/api/agents/$HELPER/stop"
t_eq "the turn the stop cut off is stopped at the runtime" "$LF_STATUS" 200

# ---- the official client ----------------------------------------------------------
fresh_sessions
export LF_URL FAKE_URL=$LF_FAKE_URL
t_node openai-compat.test.mjs 6

# ---- auth -------------------------------------------------------------------------
lf_stop api-gateway
export LIBREFANG_API_KEY=sk-lf-openai-test-key
lf_start api-gateway
lf_wait_health || { echo "Bail out! the gateway did not come back"; exit 1; }
lf_req GET /v1/models
t_eq "with an api_key: GET /v1/models without it is 401" "$LF_STATUS" 401
t_ok "... OpenAI's error object, authentication_error" oai_err 401 authentication_error
t_eq "... code invalid_api_key, and WWW-Authenticate" "$(jb .error.code) $(lf_hdr www-authenticate)" "invalid_api_key Bearer"
LF_AUTH=wrong-key lf_req GET /v1/models
t_eq "a wrong key: 401 invalid API key" "$LF_STATUS $(jb .error.type) $(jb .error.message)" "401 authentication_error invalid API key"
chat "{\"model\":\"coder\",$U}"
t_eq "... POST /v1/chat/completions too" "$LF_STATUS" 401
LF_AUTH=$LIBREFANG_API_KEY lf_req GET /v1/models
t_eq "... with Authorization: Bearer <key>: 200" "$LF_STATUS" 200
LF_AUTH=$LIBREFANG_API_KEY fresh_sessions
LF_API_KEY=$LIBREFANG_API_KEY t_node openai-compat.test.mjs 6

t_done
