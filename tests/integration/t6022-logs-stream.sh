#!/usr/bin/env bash
# t6022-logs-stream.sh - GET /api/logs/stream: the log lines of every
# service and replica as server-sent events, with level and service
# filters; bad filters are 400s.
. "$(dirname "$0")/../lib.sh"

lf_stack_start agent-runtime audit

# stream NAME QUERY: a stream into $LF_TMP/NAME.sse for 30 s at most.
stream() {
	curl -s -N -m 30 "$LF_URL/api/logs/stream$2" > "$LF_TMP/$1.sse" 2>/dev/null &
	STREAMS+=($!)
}
STREAMS=()
stream all ''
stream warn '?level=warn'
stream runtime '?service=agent-runtime'
stream gw '?service=api-gateway&level=warn'
has_comment() { grep -q '^: log stream' "$LF_TMP/$1.sse"; }
for s in all warn runtime gw; do
	t_ok "stream '$s' opens at once" lf_poll 100 has_comment "$s"
done

# An info line in agent-runtime: it logs a provider key being set.
lf_req POST /api/providers/groq/key '{"api_key":"gsk-logstream-secret-77"}'
t_eq "a key is set" "$LF_STATUS" 200
# A warning in the gateway: a service stops answering its health check.
lf_stop audit
lines() { grep '^data: ' "$LF_TMP/$1.sse" | sed 's/^data: //'; }
# The last line may be half written: whole lines only.
seen() { lines "$1" | jq -neR --arg s "$2" --arg m "$3" '[inputs | fromjson? | select(.service == $s and (.message | contains($m)))] | length > 0' >/dev/null; }
t_ok "the unfiltered stream has agent-runtime's info line" \
    lf_poll 200 seen all agent-runtime "API key set for 'groq'"
t_ok "and the gateway's warning" lf_poll 400 seen all api-gateway "service 'audit' stopped answering"
t_eq "each an 'event: log'" "$(grep -c '^event: log' "$LF_TMP/all.sse")" "$(lines all | grep -c .)"
t_eq "in the reference's shape (timestamp, level, target, message) and more" \
    "$(lines all | head -1 | jq -c 'keys')" '["host","level","message","pid","service","target","timestamp"]'
t_eq "levels in capitals" "$(lines all | jq -r .level | sort -u | grep -vc '^\(ERROR\|WARN\|INFO\|DEBUG\)$')" 0
t_ok "level=warn: the warning" seen warn api-gateway "service 'audit' stopped answering"
t_eq "and no info line" "$(lines warn | jq -r .level | grep -c INFO)" 0
t_ok "service=agent-runtime: its line" seen runtime agent-runtime "API key set for 'groq'"
t_eq "and only its lines" "$(lines runtime | jq -r .service | sort -u)" agent-runtime
t_ok "service=api-gateway&level=warn: the warning" seen gw api-gateway "service 'audit' stopped answering"
t_eq "and nothing else" "$(lines gw | jq -r '[.service, .level] | join(" ")' | sort -u)" "api-gateway WARN"
t_eq "the key itself never streamed" "$(cat "$LF_TMP"/*.sse | grep -c gsk-logstream-secret-77)" 0

for q in 'level=loud' 'service=nope' 'foo=1' 'level='; do
	lf_req GET "/api/logs/stream?$q"
	t_eq "?$q is 400" "$LF_STATUS" 400
done
t_ok "with an error body" lf_err_shape

kill "${STREAMS[@]}" 2>/dev/null
wait "${STREAMS[@]}" 2>/dev/null
lf_stack_stop
t_done
