#!/usr/bin/env bash
# Provider keys never leave agent-runtime, whatever their length and
# wherever the provider echoes them (issue 7).  The fake provider answers
# 401 with an error text that quotes the key the agent used: a 7-character
# key from the environment, a 7-character key that only the database knows
# (as when another replica set it), and a 40-character key set with
# POST /api/providers/{name}/key quoted at offset 290 of a long text (the
# 300-byte cut used to keep 9 of its characters).  None may show in the
# reply, the SSE stream, GET .../logs and .../traces, runtime.agent_logs,
# runtime.turn_records or any process log (log_level debug).  Also: an
# environment value too short to be a key counts as no key (and the log
# says so by name), and POST .../key refuses keys under 4 characters.
. "$(dirname "$0")/../lib.sh"

lf_fake_start

ENV_KEY=Zq7xK9w				# OPENAI_API_KEY, 7 characters
DB_KEY=Wm4Yt8p				# anthropic's, only in the database
LONG_KEY=sk-Long7Key0123456789abcdefghijklmnopqrs	# 40 characters
[ ${#LONG_KEY} = 40 ] || { echo "Bail out! LONG_KEY is ${#LONG_KEY} characters"; exit 1; }

lf_config "log_level = \"debug\"
[provider_urls]
openai = \"$LF_FAKE_URL/v1\"
anthropic = \"$LF_FAKE_URL/v1\"
groq = \"$LF_FAKE_URL/v1\"
deepseek = \"$LF_FAKE_URL/v1\""
export OPENAI_API_KEY=$ENV_KEY DEEPSEEK_API_KEY=abc
unset ANTHROPIC_API_KEY GROQ_API_KEY
lf_stack_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! agent-runtime did not join"; lf_dump_logs; exit 1; }

OUT=$LF_TMP/exits
mkdir -p "$OUT"

# spawn NAME PROVIDER MODEL: sets A to the new agent's id.
spawn() {
	lf_req POST /api/agents "$(lf_spawn_json "name = \"$1\"
[model]
provider = \"$2\"
model = \"$3\"")"
	A=$(jb .agent_id)
	[ "$LF_STATUS" = 201 ] || echo "# spawn $1: $LF_STATUS $LF_BODY"
}

# echo401 MODEL TEXT: the next request for MODEL gets 401 with TEXT as the
# provider's message (OpenAI's error shape).
echo401() {
	lf_fake_script "$(jq -nc --arg m "$1" --arg t "$2" \
	    '{model: $m, steps: [{status: 401, error_body: {error: {message: $t, type: "invalid_request_error", code: "invalid_api_key"}}}]}')"
}

# collect AGENT TAG: every way text about AGENT leaves the process, into
# $OUT/TAG.*: its logs and traces through the API, its rows in
# runtime.agent_logs and runtime.turn_records, and the process logs (not
# the fake provider's own).
collect() {
	lf_req GET "/api/agents/$1/logs"
	printf '%s' "$LF_BODY" > "$OUT/$2.logs"
	lf_req GET "/api/agents/$1/traces"
	printf '%s' "$LF_BODY" > "$OUT/$2.traces"
	lf_psql "SELECT event || ' ' || message FROM runtime.agent_logs WHERE agent_id = '$1'" > "$OUT/$2.agent_logs"
	lf_psql "SELECT coalesce(error, '') || ' ' || traces::text FROM runtime.turn_records WHERE agent_id = '$1'" > "$OUT/$2.turn_records"
	for f in "$LF_TMP"/log/*.log; do
		case $(basename "$f") in fake-llm*) continue ;; esac
		cat "$f"
	done > "$OUT/$2.process_log"
	# Nothing below may pass for want of text to look at.
	for f in logs traces agent_logs turn_records process_log; do
		[ -s "$OUT/$2.$f" ] || echo "# collect $2: $f is empty"
	done
	t_eq "$2: every exit has text to look at" "$(for f in logs traces agent_logs turn_records; do [ -s "$OUT/$2.$f" ] && echo y; done | wc -l)" 4
}

# windows KEY FILE..: how many 8-character runs of KEY occur in the files.
windows() {
	python3 - "$@" <<'PY'
import sys
key = sys.argv[1]
data = "".join(open(f, errors="replace").read() for f in sys.argv[2:])
print(sum(1 for i in range(len(key) - 7) if key[i:i + 8] in data))
PY
}

# ---- a 7-character key from the environment -------------------------------------
spawn env7 openai m-env7
ENV_AGENT=$A
echo401 m-env7 "Incorrect API key provided: $ENV_KEY. You can find your API key at https://platform.example/keys."
lf_req POST "/api/agents/$ENV_AGENT/message" "$(lf_msg_json 'hello')"
printf '%s' "$LF_BODY" > "$OUT/env7.reply"
t_eq "a 401 that echoes the key: the turn fails cleanly" "$LF_STATUS $(jb '.error | startswith("message_delivery_failed")')" "500 true"
t_ok "the fake provider did get the 7-character key" \
    bash -c "curl -s '$LF_FAKE_URL/__fake/requests?model=m-env7' | jq -e '.[0].headers.authorization == \"Bearer $ENV_KEY\"'"
t_ok "the reply quotes the provider with the key redacted ($(jb .error | head -c 100))" \
    bash -c "jq -e '.error | contains(\"Incorrect API key provided: [REDACTED].\")' '$OUT/env7.reply'"
# The same echo over SSE: the stream's error event comes from the reply.
echo401 m-env7 "Incorrect API key provided: $ENV_KEY (stream)."
curl -sN -X POST -H 'Content-Type: application/json' --max-time 30 \
    --data-binary '{"message":"hello again"}' -o "$OUT/env7.sse" \
    "$LF_URL/api/agents/$ENV_AGENT/message/stream"
t_ok "SSE: the error (answered before the stream starts) quotes the provider, key redacted" \
    grep -q 'Incorrect API key provided: \[REDACTED\] (stream)' "$OUT/env7.sse"
collect "$ENV_AGENT" env7
for f in reply sse logs traces agent_logs turn_records process_log; do
	t_ok "7-character env key: not in the $f" bash -c "! grep -qF '$ENV_KEY' '$OUT/env7.$f'"
done
t_ok "the agent's logs kept the provider_error line" grep -q 'provider_error' "$OUT/env7.agent_logs"
t_ok "the turn record kept the redacted error" grep -qF '[REDACTED]' "$OUT/env7.turn_records"


# ---- a 7-character key only the database knows (set on another replica) -------
lf_psql "INSERT INTO runtime.provider_keys (provider, api_key) VALUES ('anthropic', '$DB_KEY')" >/dev/null
t_eq "the key is stored behind this replica's back" "$(lf_psql "SELECT count(*) FROM runtime.provider_keys WHERE provider = 'anthropic'")" 1
spawn db7 anthropic m-db7
DB_AGENT=$A
lf_fake_script "$(jq -nc --arg t "invalid x-api-key: $DB_KEY" \
    '{model: "m-db7", steps: [{status: 401, error_body: {type: "error", error: {type: "authentication_error", message: $t}}}]}')"
lf_req POST "/api/agents/$DB_AGENT/message" "$(lf_msg_json 'hello')"
printf '%s' "$LF_BODY" > "$OUT/db7.reply"
t_eq "a database key echoed in an Anthropic 401: 500" "$LF_STATUS" 500
t_ok "the fake provider did get the database key" \
    bash -c "curl -s '$LF_FAKE_URL/__fake/requests?model=m-db7' | jq -e '.[0].headers[\"x-api-key\"] == \"$DB_KEY\"'"
t_ok "the reply quotes it redacted" grep -qF 'invalid x-api-key: [REDACTED]' "$OUT/db7.reply"
collect "$DB_AGENT" db7
for f in reply logs traces agent_logs turn_records process_log; do
	t_ok "7-character database key: not in the $f" bash -c "! grep -qF '$DB_KEY' '$OUT/db7.$f'"
done

# ---- a 40-character key quoted at offset 290 of a long text -----------------------
lf_req POST /api/providers/groq/key "{\"api_key\":\"$LONG_KEY\"}"
t_eq "POST /api/providers/groq/key (40 characters)" "$LF_STATUS" 200
spawn long40 groq m-long40
LONG_AGENT=$A
TEXT=$(python3 -c 'import sys; k = sys.argv[1]; p = "Your request was refused because the key you sent is not valid for this project; "; t = (p * 10)[:290] + k + " is the key we got; please check it."; assert t.index(k) == 290; print(t)' "$LONG_KEY")
echo401 m-long40 "$TEXT"
lf_req POST "/api/agents/$LONG_AGENT/message" "$(lf_msg_json 'hello')"
printf '%s' "$LF_BODY" > "$OUT/long40.reply"
t_eq "the long echo: 500 message_delivery_failed" "$LF_STATUS $(jb '.error | startswith("message_delivery_failed")')" "500 true"
t_ok "the provider's text is quoted up to the cut" grep -qF 'Your request was refused because' "$OUT/long40.reply"
echo401 m-long40 "$TEXT"
curl -sN -X POST -H 'Content-Type: application/json' --max-time 30 \
    --data-binary '{"message":"hello again"}' -o "$OUT/long40.sse" \
    "$LF_URL/api/agents/$LONG_AGENT/message/stream"
t_ok "SSE: its error came" grep -qF 'Your request was refused because' "$OUT/long40.sse"
collect "$LONG_AGENT" long40
for f in reply sse logs traces agent_logs turn_records process_log; do
	t_eq "40-character key at offset 290: no 8-character run of it in the $f" "$(windows "$LONG_KEY" "$OUT/long40.$f")" 0
done
t_eq "... nor of the 7-character keys anywhere" "$(cat "$OUT"/* | grep -cF -e "$ENV_KEY" -e "$DB_KEY")" 0

# ---- a value too short to be a key is no key ------------------------------------
spawn short deepseek deepseek-chat
lf_req POST "/api/agents/$A/message" "$(lf_msg_json 'hello')"
t_eq "DEEPSEEK_API_KEY=abc (3 characters) counts as no key: 200 provider_not_configured" \
    "$LF_STATUS $(jb .provider_not_configured)" "200 true"
t_ok "the answer names the variable ($(jb .response | head -c 80))" bash -c "[[ \"\$0\" == *DEEPSEEK_API_KEY* ]]" "$(jb .response)"
t_eq "the fake provider got no request for it" "$(lf_fake_requests deepseek-chat | jq length)" 0
t_ok "the log says the variable holds no usable key" grep -q "'DEEPSEEK_API_KEY' holds no usable API key (3 bytes" "$LF_TMP/log/agent-runtime.log"
for k in a ab abc; do
	lf_req POST /api/providers/groq/key "{\"api_key\":\"$k\"}"
	t_eq "POST .../key with a ${#k}-character key is 400" "$LF_STATUS $(lf_err_shape && echo shaped)" "400 shaped"
done
lf_req POST /api/providers/groq/key '{"api_key":"abcd"}'
t_eq "a 4-character key is accepted" "$LF_STATUS" 200

t_done
