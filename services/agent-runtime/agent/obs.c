/*
 * agent/obs.c - what agents did, kept for operators (agent/obs.h,
 * sql/006_turn_log.sql): the turn hooks that record each turn's decision
 * traces and timings and each agent's log lines, and the operations
 * agents.traces, agents.metrics and agents.logs.
 *
 * Writes happen on the turn's job thread with the job's connection.  A
 * turn's log lines are kept in the turn (with the time each happened) and
 * written in batches: after each tool round (obs_flush()), and at the end
 * in the one statement that also writes the turn's final session save,
 * its usage row, its record and its last line, and prunes the agent's
 * lines to the newest OBS_LOG_KEEP (once per turn, not once per line).
 * That statement is the turn's only commit after the provider answered.
 * It runs before the session lock is released and the answer goes out,
 * so a client that reads the traces after its answer always finds its
 * turn.  Reads compute everything in SQL and return one JSON value each,
 * so every replica answers alike.
 *
 * Incognito turns keep their timings and the names and outcomes of their
 * tool calls, not the calls' inputs or outputs.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/obs.h"
#include "audit.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "turn/turn.h"

#define SQLSTATE_FOREIGN_KEY	"23503"	/* the agent is gone */

#define OBS_TS(col)							\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A turn's buffered lines ($3: a JSON array of {level, event, message,
 * at_ms}), in their order. */
static const char SQL_LINES[] =
	"INSERT INTO agent_logs "
	"    (agent_id, session_id, level, event, message, at) "
	"    SELECT $1::uuid, $2::uuid, l.v->>'level', l.v->>'event', "
	"    l.v->>'message', coalesce(to_timestamp("
	"    (l.v->>'at_ms')::bigint / 1000.0), clock_timestamp()) "
	"    FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY "
	"    AS l(v, n) ORDER BY l.n";

/*
 * The end of a turn, one statement: the final session save (when $23,
 * the fence, is not NULL; the count of saved rows is returned), the usage
 * row (when $28), the turn record and the buffered lines ($21).  It keeps
 * the newest OBS_LOG_KEEP lines of agent $1: the subquery does not see
 * the lines the same statement inserts, so it skips OBS_LOG_KEEP - (lines
 * inserted) older ones ($22).
 */
static const char SQL_END[] =
	"WITH s AS (UPDATE sessions SET messages = $24::jsonb, "
	"    context_window_tokens = $25::bigint, "
	"    summary = CASE WHEN $26::boolean THEN $27 ELSE summary END, "
	"    updated_at = clock_timestamp() "
	"    WHERE $23::bigint IS NOT NULL AND id = $2::uuid "
	"    AND fence = $23::bigint RETURNING 1), "
	"u AS (INSERT INTO usage_records (agent_id, session_id, provider, "
	"    model, input_tokens, output_tokens, cache_read_tokens, "
	"    cache_creation_tokens, cost_usd, iterations) "
	"    SELECT $1::uuid, $2::uuid, $7::text, $8::text, $10::bigint, "
	"    $11::bigint, $12::bigint, $13::bigint, $14::double precision, "
	"    $9::integer WHERE $28::boolean), "
	"rec AS (INSERT INTO turn_records (agent_id, session_id, kind, "
	"    outcome, status, error, provider, model, iterations, "
	"    input_tokens, output_tokens, cache_read_tokens, "
	"    cache_creation_tokens, cost_usd, latency_ms, llm_ms, llm_calls, "
	"    tool_calls, tool_errors, traces, started_at) "
	"    VALUES ($1::uuid, $2::uuid, $3, $4, $5::integer, $6, $7, $8, "
	"    $9::integer, $10::bigint, $11::bigint, $12::bigint, $13::bigint, "
	"    $14::double precision, $15::bigint, $16::bigint, $17::integer, "
	"    $18::integer, $19::integer, $20::jsonb, "
	"    clock_timestamp() - $15::bigint * interval '1 millisecond')), "
	"lg AS (INSERT INTO agent_logs "
	"    (agent_id, session_id, level, event, message, at) "
	"    SELECT $1::uuid, $2::uuid, l.v->>'level', l.v->>'event', "
	"    l.v->>'message', coalesce(to_timestamp("
	"    (l.v->>'at_ms')::bigint / 1000.0), clock_timestamp()) "
	"    FROM jsonb_array_elements($21::jsonb) WITH ORDINALITY "
	"    AS l(v, n) ORDER BY l.n), "
	"pr AS (DELETE FROM agent_logs WHERE agent_id = $1::uuid AND id <= "
	"    (SELECT id FROM agent_logs WHERE agent_id = $1::uuid "
	"     ORDER BY id DESC OFFSET $22::integer LIMIT 1)), "
	/* The usage row replaces the turn's budget reservation at once
	 * (budget/budget.h). */
	"br AS (DELETE FROM budget_reservations WHERE turn_key = $29::uuid), "
	/* A message turn's AgentMessage entry ($30 its id, $31 its detail,
	 * the turn's outcome) commits with the turn (libshared/audit.h):
	 * the outbox row audit_record() would write, in the same statement
	 * so that it costs the turn no round trip. */
	"au AS (INSERT INTO audit_outbox (id, ts, agent_id, action, detail, "
	"    outcome) SELECT $30::uuid, to_char(clock_timestamp() AT TIME "
	"    ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
	"    $1::uuid::text, '" AUDIT_AGENT_MESSAGE "', $31, $4 "
	"    WHERE $30::uuid IS NOT NULL), "
	/* The answer under the turn's idempotency key ($32, its text $33)
	 * commits with the exchange it answers (turn/idem.c), unless the
	 * save due ($23) was fenced out: then another turn has the
	 * session, and a retry runs afresh. */
	"ik AS (UPDATE turn_keys SET state = 'done', status = $5::integer, "
	"    reply = $33::jsonb WHERE $32::text IS NOT NULL AND key = $32 "
	"    AND ($23::bigint IS NULL OR EXISTS (SELECT 1 FROM s)) "
	"    RETURNING 1) "
	"SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM ik)";

static const char SQL_TRACES[] =
	"SELECT json_build_object("
	"  'total', (SELECT count(*) FROM turn_records "
	"      WHERE agent_id = $1::uuid "
	"      AND ($2::uuid IS NULL OR session_id = $2::uuid)), "
	"  'traces', coalesce((SELECT json_agg(json_build_object("
	"      'turn_id', r.id, 'session_id', r.session_id, "
	"      'kind', r.kind, 'outcome', r.outcome, 'status', r.status, "
	"      'error', r.error, 'provider', r.provider, 'model', r.model, "
	"      'iterations', r.iterations, "
	"      'input_tokens', r.input_tokens, "
	"      'output_tokens', r.output_tokens, "
	"      'cache_read_tokens', r.cache_read_tokens, "
	"      'cache_creation_tokens', r.cache_creation_tokens, "
	"      'cost_usd', r.cost_usd, 'latency_ms', r.latency_ms, "
	"      'llm_ms', r.llm_ms, 'llm_calls', r.llm_calls, "
	"      'tool_calls', r.tool_calls, 'tool_errors', r.tool_errors, "
	"      'started_at', " OBS_TS("r.started_at") ", "
	"      'ended_at', " OBS_TS("r.ended_at") ", "
	"      'decision_traces', r.traces) ORDER BY r.id DESC) "
	"    FROM (SELECT * FROM turn_records WHERE agent_id = $1::uuid "
	"        AND ($2::uuid IS NULL OR session_id = $2::uuid) "
	"        ORDER BY id DESC LIMIT $3::bigint) r), '[]'::json))";

static const char SQL_METRICS[] =
	"SELECT json_build_object("
	"  'turns', count(*), "
	"  'outcomes', json_build_object("
	"      'ok', count(*) FILTER (WHERE outcome = 'ok'), "
	"      'error', count(*) FILTER (WHERE outcome = 'error'), "
	"      'silent', count(*) FILTER (WHERE outcome = 'silent'), "
	"      'interrupted', count(*) FILTER (WHERE outcome = 'interrupted')),"
	"  'compactions', count(*) FILTER (WHERE kind = 'compact'), "
	"  'error_rate', CASE WHEN count(*) = 0 THEN 0 ELSE round("
	"      (count(*) FILTER (WHERE outcome = 'error'))::numeric / "
	"      count(*), 4) END, "
	"  'iterations', coalesce(sum(iterations), 0), "
	"  'tokens', json_build_object("
	"      'input', coalesce(sum(input_tokens), 0), "
	"      'output', coalesce(sum(output_tokens), 0), "
	"      'cache_read', coalesce(sum(cache_read_tokens), 0), "
	"      'cache_creation', coalesce(sum(cache_creation_tokens), 0), "
	"      'total', coalesce(sum(input_tokens + output_tokens), 0)), "
	"  'cost_usd', coalesce(sum(cost_usd), 0), "
	"  'latency_ms', json_build_object("
	"      'avg', round(avg(latency_ms), 1), "
	"      'p95', percentile_disc(0.95) WITHIN GROUP "
	"          (ORDER BY latency_ms), "
	"      'max', max(latency_ms)), "
	"  'provider', json_build_object("
	"      'calls', coalesce(sum(llm_calls), 0), "
	"      'total_ms', coalesce(sum(llm_ms), 0), "
	"      'avg_call_ms', CASE WHEN coalesce(sum(llm_calls), 0) = 0 "
	"          THEN NULL ELSE round(sum(llm_ms)::numeric / "
	"          sum(llm_calls), 1) END), "
	"  'tool_calls', coalesce(sum(tool_calls), 0), "
	"  'tool_errors', coalesce(sum(tool_errors), 0), "
	"  'tool_error_rate', CASE WHEN coalesce(sum(tool_calls), 0) = 0 "
	"      THEN 0 ELSE round(sum(tool_errors)::numeric / "
	"      sum(tool_calls), 4) END, "
	"  'first_active', " OBS_TS("min(started_at)") ", "
	"  'last_active', " OBS_TS("max(ended_at)") ") "
	"FROM turn_records WHERE agent_id = $1::uuid";

static const char SQL_LOGS[] =
	"SELECT coalesce(json_agg(json_build_object("
	"    'id', l.id, 'timestamp', " OBS_TS("l.at") ", "
	"    'level', l.level, 'event', l.event, "
	"    'session_id', l.session_id, 'message', l.message) "
	"    ORDER BY l.id DESC), '[]'::json) "
	"FROM (SELECT * FROM agent_logs WHERE agent_id = $1::uuid "
	"    AND level = ANY ($2::text[]) "
	"    ORDER BY id DESC LIMIT $3::bigint) l";

/* ---- helpers ---------------------------------------------------------- */

/* Drops a UTF-8 sequence cut short at the end of s. */
static void
obs_utf8_end(char *s)
{
	size_t		 n = strlen(s), i, need;
	unsigned char	 c;

	if (n == 0)
		return;
	for (i = n - 1; i > 0 && n - i < 4 &&
	    ((unsigned char)s[i] & 0xc0) == 0x80; i--)
		;
	c = (unsigned char)s[i];
	if (c < 0x80)
		return;
	need = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
	if (i + need > n)
		s[i] = '\0';
}

/* Cuts s to at most max bytes, on a character boundary. */
static void
obs_cut(char *s, size_t max)
{
	if (strlen(s) <= max)
		return;
	s[max] = '\0';
	obs_utf8_end(s);
}

/* Formats into out[max + 1]: secrets redacted in the whole text before
 * it is cut at a character boundary (log.h). */
static void
obs_vformat(char *out, size_t max, const char *fmt, va_list ap)
{
	char	*raw = NULL, *red = NULL;

	if (vasprintf(&raw, fmt, ap) < 0)
		raw = NULL;
	if (raw != NULL && (red = log_redact_text(raw, NULL, max)) != NULL)
		snprintf(out, max + 1, "%s", red);
	else
		snprintf(out, max + 1, "(out of memory)");
	free(raw);
	free(red);
}

/* Formats one short line into line[OBS_LINE_MAX + 1] (obs_vformat()):
 * control characters become spaces. */
static void
obs_vline(char *line, const char *fmt, va_list ap)
{
	char	*p;

	obs_vformat(line, OBS_LINE_MAX, fmt, ap);
	for (p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* Redacts the JSON text *js in place (log.h): a key in a tool's input or
 * output never reaches turn_records.  Keys hold no character JSON
 * escapes, so they show in the text as they are. */
static void
obs_redact_json(char **js)
{
	char	*red;

	if (*js == NULL || (red = log_redact_text(*js, NULL, 0)) == NULL)
		return;
	free(*js);
	*js = red;
}

static void
obs_line(char *line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
obs_line(char *line, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	obs_vline(line, fmt, ap);
	va_end(ap);
}

/* Formats a turn's stored error into err[OBS_ERROR_MAX + 1]
 * (obs_vformat()). */
static void
obs_redactf(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
obs_redactf(char *err, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	obs_vformat(err, OBS_ERROR_MAX, fmt, ap);
	va_end(ap);
}

/* Logs a failed write (quietly when the agent was deleted meanwhile). */
static void
obs_write_failed(struct db *db, const char *what, const char *agent_id)
{
	if (strcmp(db_sqlstate(db), SQLSTATE_FOREIGN_KEY) == 0)
		log_debug("agent %s is gone: its %s was not kept", agent_id,
		    what);
	else
		log_warnx("agent %s: could not record its %s: %s", agent_id,
		    what, db_errmsg(db));
}

/* The session a turn's rows name: none for an ephemeral turn. */
static const char *
obs_sid(struct turn *t)
{
	if (t->t_ephemeral || t->t_session_id[0] == '\0')
		return (NULL);
	return (t->t_session_id);
}

/* ---- log lines -------------------------------------------------------- */

/* Keeps one line of t, written with its next batch. */
static void
obs_tlog(struct turn *t, const char *level, const char *event,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
obs_tlog(struct turn *t, const char *level, const char *event,
    const char *fmt, ...)
{
	char	 line[OBS_LINE_MAX + 1];
	va_list	 ap;

	if (!util_uuid_valid(t->t_agent_id))
		return;
	if (t->t_obs.ot_lines == NULL &&
	    (t->t_obs.ot_lines = json_array()) == NULL)
		return;
	va_start(ap, fmt);
	obs_vline(line, fmt, ap);
	va_end(ap);
	if (json_array_append_new(t->t_obs.ot_lines, json_pack("{s:s, s:s, "
	    "s:s, s:I}", "level", level, "event", event, "message", line,
	    "at_ms", (json_int_t)util_wall_ms())) != 0)
		log_warnx("agent %s: out of memory: a log line was lost",
		    t->t_agent_id);
}

/* The buffered lines as JSON text (new; "[]" when none), NULL on ENOMEM. */
static char *
obs_lines_json(struct turn *t)
{
	if (t->t_obs.ot_lines == NULL)
		return (strdup("[]"));
	return (json_dumps(t->t_obs.ot_lines, JSON_COMPACT));
}

void
obs_flush(struct turn *t, struct db *db)
{
	const char	*p[3];
	char		*js;

	if (db == NULL || json_array_size(t->t_obs.ot_lines) == 0)
		return;
	if ((js = obs_lines_json(t)) == NULL)
		return;		/* kept for the next batch */
	p[0] = t->t_agent_id;
	p[1] = obs_sid(t);
	p[2] = js;
	if (db_cmd(db, SQL_LINES, 3, p) != 0)
		obs_write_failed(db, "log lines", t->t_agent_id);
	free(js);
	json_array_clear(t->t_obs.ot_lines);
}

void
obs_turn_release(struct turn *t)
{
	json_decref(t->t_obs.ot_lines);
	t->t_obs.ot_lines = NULL;
}

/* ---- turn hooks --------------------------------------------------------- */

void
obs_turn_start(struct turn *t)
{
	const char	*sid = obs_sid(t);

	if (t->t_obs.ot_started)
		return;
	t->t_obs.ot_started = 1;
	if (t->t_kind == TURN_COMPACT)
		obs_tlog(t, "info", "turn_start",
		    "compaction started on session %s", sid ? sid : "-");
	else if (sid == NULL)
		obs_tlog(t, "info", "turn_start",
		    "ephemeral turn started");
	else
		obs_tlog(t, "info", "turn_start",
		    "turn started on session %s%s", sid, t->t_incognito ?
		    " (incognito)" : "");
}

void
obs_llm_start(struct turn *t)
{
	t->t_obs.ot_llm_t0 = util_now_ms();
}

void
obs_llm_done(struct turn *t)
{
	uint64_t	now = util_now_ms();

	if (t->t_obs.ot_llm_t0 == 0)
		return;
	if (now > t->t_obs.ot_llm_t0)
		t->t_obs.ot_llm_ms += (long long)(now - t->t_obs.ot_llm_t0);
	t->t_obs.ot_llm_calls++;
	t->t_obs.ot_llm_t0 = 0;
}

void
obs_llm_answer(struct turn *t, int err, json_t *resp)
{
	json_t		*a;
	const char	*prov, *mod;
	size_t		 i;

	if (err == SH_ECANCELED || resp == NULL)
		return;
	prov = json_string_value(json_object_get(resp, "provider"));
	mod = json_string_value(json_object_get(resp, "model"));
	json_array_foreach(json_object_get(resp, "attempts"), i, a) {
		if (err == 0)
			obs_tlog(t, "warn",
			    "provider_fallback", "provider %s/%s failed (%s); "
			    "answered by %s/%s", json_string_value(
			    json_object_get(a, "provider")) ?: "?",
			    json_string_value(json_object_get(a, "model")) ?:
			    "?", json_string_value(json_object_get(a,
			    "error")) ?: "?", prov ? prov : "?", mod ? mod :
			    "?");
		else
			obs_tlog(t, "warn",
			    "provider_error", "provider %s/%s failed: %s",
			    json_string_value(json_object_get(a,
			    "provider")) ?: "?", json_string_value(
			    json_object_get(a, "model")) ?: "?",
			    json_string_value(json_object_get(a, "error")) ?:
			    "?");
	}
}

void
obs_tool(struct turn *t, json_t *trace, const char *status)
{
	const char	*name, *out;
	long long	 ms;
	int		 ok;

	if (trace == NULL)
		return;
	name = json_string_value(json_object_get(trace, "tool_name")) ?: "?";
	out = json_string_value(json_object_get(trace, "output_summary"));
	ms = json_integer_value(json_object_get(trace, "execution_ms"));
	ok = status != NULL && strcmp(status, "success") == 0;
	if (ok || t->t_incognito || out == NULL)
		obs_tlog(t, ok ? "info" : "warn",
		    "tool", "tool %s: %s in %lld ms (iteration %d)", name,
		    status ? status : "?", ms, t->t_iter);
	else
		obs_tlog(t, "warn", "tool",
		    "tool %s: %s in %lld ms (iteration %d): %.200s", name,
		    status ? status : "?", ms, t->t_iter, out);
}

void
obs_interrupted(struct turn *t)
{
	t->t_obs.ot_interrupted = 1;
	obs_tlog(t, "warn", "interrupt",
	    "turn interrupted at iteration %d; the session keeps what was "
	    "saved", t->t_iter);
}

/* The decision traces as stored (new): inputs over OBS_INPUT_MAX become
 * a preview; incognito (or bare) turns keep no inputs or outputs.  Counts
 * the failed calls into *nerr. */
static json_t *
obs_traces(struct turn *t, int bare, int *nerr)
{
	json_t	*out, *tr, *c, *in;
	char	*s;
	size_t	 i;

	*nerr = 0;
	if ((out = json_array()) == NULL)
		return (NULL);
	json_array_foreach(t->t_traces, i, tr) {
		if (json_is_true(json_object_get(tr, "is_error")))
			(*nerr)++;
		if ((c = json_copy(tr)) == NULL)
			goto fail;
		if (bare) {
			json_object_del(c, "input");
			json_object_del(c, "output_summary");
		} else if ((in = json_object_get(c, "input")) != NULL &&
		    (s = json_dumps(in, JSON_COMPACT | JSON_ENCODE_ANY)) !=
		    NULL) {
			if (strlen(s) > OBS_INPUT_MAX) {
				obs_cut(s, OBS_INPUT_MAX);
				json_object_set_new(c, "input", json_pack(
				    "{s:b, s:s}", "truncated", 1, "preview",
				    s));
			}
			free(s);
		}
		if (json_array_append_new(out, c) != 0)
			goto fail;
	}
	return (out);
 fail:
	json_decref(out);
	return (NULL);
}

/* What obs_turn_end() writes when its one statement fails (the agent
 * was deleted meanwhile: its record and lines have nowhere to go): the
 * session save, the usage row and the AgentMessage entry (detail, NULL
 * for none, with outcome) on their own.  The save's result. */
static int
obs_end_apart(struct turn *t, struct db *db, const struct obs_save *sv,
    const char *detail, const char *outcome)
{
	int	rv = 0;

	if (sv != NULL)
		rv = session_save_js(db, t->t_session_id, sv->os_fence,
		    sv->os_messages, sv->os_tokens, sv->os_set_summary,
		    sv->os_summary, NULL);
	if (t->t_provider[0] != '\0' && session_usage_insert(db,
	    t->t_agent_id, obs_sid(t), t->t_provider, t->t_model,
	    t->t_usage.u_in, t->t_usage.u_out, t->t_usage.u_cache_read,
	    t->t_usage.u_cache_create, t->t_usage.u_cost, t->t_iter) != 0)
		log_warnx("agent %s: could not record usage: %s",
		    t->t_agent_id, db_errmsg(db));
	if (detail != NULL)
		(void)audit_record(db, AUDIT_AGENT_MESSAGE, t->t_agent_id,
		    detail, outcome);
	return (rv);
}

int
obs_turn_end(struct turn *t, struct db *db, int status, json_t *body,
    const struct obs_save *sv)
{
	PGresult	*res;
	const char	*outcome, *errtext, *level, *p[33];
	char		 st[16], it[16], in[24], ou[24], cr[24], cc[24];
	char		 cost[40], lat[24], lms[24], lcalls[16], ncalls[16];
	char		 nerrs[16], keep[16], line[OBS_LINE_MAX + 1];
	char		 fence[24], tokens[24], entry[UTIL_UUID_LEN];
	char		 detail[OBS_LINE_MAX + 1];
	char		 err[OBS_ERROR_MAX + 1], *js = NULL, *lines = NULL;
	char		*reply = NULL;
	json_t		*traces;
	long long	 latency;
	size_t		 nlines;
	int		 nerr = 0, rv;

	if (db == NULL)
		return (-1);
	latency = (long long)(util_now_ms() - t->t_started_ms);
	err[0] = '\0';
	errtext = json_string_value(json_object_get(body, "error"));
	if (status >= 400 || body == NULL || errtext != NULL) {
		outcome = "error";
		if (errtext != NULL)
			obs_redactf(err, "%s", errtext);
		else
			snprintf(err, sizeof(err), "%s", body == NULL ?
			    "out of memory" : "the turn failed");
	} else if (json_is_true(json_object_get(body,
	    "provider_not_configured"))) {
		outcome = "error";
		obs_redactf(err, "provider_not_configured: %s",
		    json_string_value(json_object_get(body, "response")) ?:
		    "");
	} else if (t->t_obs.ot_interrupted)
		outcome = "interrupted";
	else if (json_is_true(json_object_get(body, "silent")))
		outcome = "silent";
	else
		outcome = "ok";

	/* A message turn's AgentMessage entry (notes/kernel.md 5): who,
	 * how it ended, what it cost; never the messages themselves. */
	entry[0] = '\0';
	if (t->t_kind == TURN_MESSAGE) {
		util_uuid4(entry);
		if (strcmp(outcome, "error") == 0)
			obs_line(detail, "Agent '%s' message turn failed (%d): "
			    "%.300s", t->t_agent_name, status, err);
		else
			obs_line(detail, "Agent '%s' message turn %s: %d "
			    "iterations, %lld in / %lld out tokens, %zu tool "
			    "calls", t->t_agent_name, outcome, t->t_iter,
			    t->t_usage.u_in, t->t_usage.u_out,
			    json_array_size(t->t_traces));
	}
	if (!util_uuid_valid(t->t_agent_id))
		return (obs_end_apart(t, db, sv, NULL, NULL));

	traces = obs_traces(t, t->t_incognito, &nerr);
	if (traces != NULL)
		js = json_dumps(traces, JSON_COMPACT);
	json_decref(traces);
	/* jsonb refuses \u0000: keep such traces without their texts. */
	if (js != NULL && strstr(js, "\\u0000") != NULL) {
		free(js);
		js = NULL;
		if ((traces = obs_traces(t, 1, &nerr)) != NULL)
			js = json_dumps(traces, JSON_COMPACT);
		json_decref(traces);
	}

	obs_redact_json(&js);
	if (strcmp(outcome, "error") == 0) {
		level = "error";
		obs_line(line, "%s failed (%d) after %lld ms: %s",
		    t->t_kind == TURN_COMPACT ? "compaction" : "turn", status,
		    latency, err);
	} else {
		level = "info";
		obs_line(line, "%s finished: %s in %lld ms, %d iterations, "
		    "%lld in / %lld out tokens, %zu tool calls (%d failed)%s%s"
		    "%s%s", t->t_kind == TURN_COMPACT ? "compaction" : "turn",
		    outcome, latency, t->t_iter, t->t_usage.u_in,
		    t->t_usage.u_out, json_array_size(t->t_traces), nerr,
		    t->t_provider[0] ? ", answered by " : "", t->t_provider,
		    t->t_provider[0] ? "/" : "", t->t_provider[0] ?
		    t->t_model : "");
	}

	snprintf(st, sizeof(st), "%d", status);
	snprintf(it, sizeof(it), "%d", t->t_iter);
	snprintf(in, sizeof(in), "%lld", t->t_usage.u_in);
	snprintf(ou, sizeof(ou), "%lld", t->t_usage.u_out);
	snprintf(cr, sizeof(cr), "%lld", t->t_usage.u_cache_read);
	snprintf(cc, sizeof(cc), "%lld", t->t_usage.u_cache_create);
	snprintf(cost, sizeof(cost), "%.17g", t->t_usage.u_cost);
	snprintf(lat, sizeof(lat), "%lld", latency);
	snprintf(lms, sizeof(lms), "%lld", t->t_obs.ot_llm_ms);
	snprintf(lcalls, sizeof(lcalls), "%d", t->t_obs.ot_llm_calls);
	snprintf(ncalls, sizeof(ncalls), "%zu", json_array_size(t->t_traces));
	snprintf(nerrs, sizeof(nerrs), "%d", nerr);
	/* The last line joins the buffered ones, after them. */
	if (t->t_obs.ot_lines == NULL)
		t->t_obs.ot_lines = json_array();
	(void)json_array_append_new(t->t_obs.ot_lines, json_pack("{s:s, s:s, "
	    "s:s}", "level", level, "event", "turn_end", "message", line));
	nlines = json_array_size(t->t_obs.ot_lines);
	lines = obs_lines_json(t);
	snprintf(keep, sizeof(keep), "%d", nlines >= OBS_LOG_KEEP ? 0 :
	    OBS_LOG_KEEP - (int)nlines);
	if (sv != NULL) {
		snprintf(fence, sizeof(fence), "%lld", sv->os_fence);
		snprintf(tokens, sizeof(tokens), "%lld", sv->os_tokens);
	}
	p[0] = t->t_agent_id;
	p[1] = obs_sid(t);
	p[2] = t->t_kind == TURN_COMPACT ? "compact" : "message";
	p[3] = outcome;
	p[4] = st;
	p[5] = err[0] != '\0' ? err : NULL;
	p[6] = t->t_provider[0] != '\0' ? t->t_provider : NULL;
	p[7] = t->t_model[0] != '\0' ? t->t_model : NULL;
	p[8] = it;
	p[9] = in;
	p[10] = ou;
	p[11] = cr;
	p[12] = cc;
	p[13] = cost;
	p[14] = lat;
	p[15] = lms;
	p[16] = lcalls;
	p[17] = ncalls;
	p[18] = nerrs;
	p[19] = js != NULL ? js : "[]";
	p[20] = lines != NULL ? lines : "[]";
	p[21] = keep;
	p[22] = sv != NULL ? fence : NULL;
	p[23] = sv != NULL ? sv->os_messages : NULL;
	p[24] = sv != NULL ? tokens : NULL;
	p[25] = sv != NULL && sv->os_set_summary ? "true" : "false";
	p[26] = sv != NULL ? sv->os_summary : NULL;
	p[27] = t->t_provider[0] != '\0' ? "true" : "false";
	p[28] = t->t_budget_held ? t->t_budget_key : NULL;
	p[29] = entry[0] != '\0' ? entry : NULL;
	p[30] = entry[0] != '\0' ? detail : NULL;
	if (t->t_idem_key[0] != '\0' && (reply = json_dumps(body,
	    JSON_COMPACT)) == NULL)
		reply = strdup("{\"error\":\"out of memory\"}");
	p[31] = reply != NULL ? t->t_idem_key : NULL;
	p[32] = reply;
	if ((res = db_exec(db, SQL_END, 33, p)) != NULL) {
		t->t_budget_held = 0;
		t->t_idem_stored = PQntuples(res) == 1 &&
		    strcmp(PQgetvalue(res, 0, 1), "1") == 0;
		rv = sv == NULL || (PQntuples(res) == 1 &&
		    strcmp(PQgetvalue(res, 0, 0), "1") == 0) ? 0 :
		    SESSION_EFENCE;
		PQclear(res);
	} else {
		obs_write_failed(db, "turn record", t->t_agent_id);
		rv = obs_end_apart(t, db, sv, entry[0] != '\0' ? detail :
		    NULL, outcome);
	}
	free(js);
	free(lines);
	free(reply);
	return (rv);
}

/* ---- operations ----------------------------------------------------------- */

/* query.key as an integer in 1..OBS_LIMIT_MAX, def when absent. */
static int
obs_query_limit(const struct msg_req *rq, long long def, long long *out,
    struct svc_reply *rp)
{
	json_t		*v = json_object_get(rq->mr_query, "limit");
	const char	*s = json_string_value(v);

	*out = def;
	if (v == NULL)
		return (0);
	if (s == NULL || util_strtonum(s, 1, OBS_LIMIT_MAX, out) != 0) {
		svc_reply_error(rp, 400, "'limit' must be an integer in "
		    "1..%d", OBS_LIMIT_MAX);
		return (-1);
	}
	return (0);
}

/* Runs sql and returns its one JSON value (new), NULL on a database
 * error or ENOMEM. */
static json_t *
obs_query_json(struct db *db, const char *sql, int n, const char **p)
{
	PGresult	*res;
	json_t		*v = NULL;
	json_error_t	 je;

	if ((res = db_exec(db, sql, n, p)) == NULL)
		return (NULL);
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		v = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &je);
	PQclear(res);
	return (v);
}

/* 0 if the agent exists, or -1 after replying 404 or 503. */
static int
obs_agent(struct svc_ctx *c, const char *id, struct svc_reply *rp)
{
	json_t	*row;

	if ((row = agent_fetch(c, id, 0, rp)) == NULL)
		return (-1);
	json_decref(row);
	return (0);
}

static void
op_traces(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*v, *out;
	const char	*s, *p[3];
	char		 id[UTIL_UUID_LEN], sid[UTIL_UUID_LEN], lim[24];
	long long	 limit;
	size_t		 i;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    obs_query_limit(rq, OBS_TRACES_DEFAULT, &limit, rp) != 0)
		return;
	v = json_object_get(rq->mr_query, "session_id");
	s = json_string_value(v);
	if (v != NULL && (s == NULL || !util_uuid_valid(s))) {
		svc_reply_error(rp, 400, "Invalid session ID");
		return;
	}
	if (s != NULL) {
		for (i = 0; i < UTIL_UUID_LEN - 1; i++)
			sid[i] = (char)tolower((unsigned char)s[i]);
		sid[UTIL_UUID_LEN - 1] = '\0';
	}
	if (obs_agent(c, id, rp) != 0)
		return;
	snprintf(lim, sizeof(lim), "%lld", limit);
	p[0] = id;
	p[1] = s != NULL ? sid : NULL;
	p[2] = lim;
	if ((out = obs_query_json(c->sc_db, SQL_TRACES, 3, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	json_object_set_new(out, "agent_id", json_string(id));
	svc_reply_json(rp, 200, out);
}

static void
op_metrics(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*out;
	const char	*p[1];
	char		 id[UTIL_UUID_LEN];

	if (svc_param_agent_id(rq, rp, id) != 0 || obs_agent(c, id, rp) != 0)
		return;
	p[0] = id;
	if ((out = obs_query_json(c->sc_db, SQL_METRICS, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	json_object_set_new(out, "agent_id", json_string(id));
	svc_reply_json(rp, 200, out);
}

static void
op_logs(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*v, *logs;
	const char	*s, *levels = "{info,warn,error}", *p[3];
	char		 id[UTIL_UUID_LEN], lim[24];
	long long	 limit;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    obs_query_limit(rq, OBS_LOGS_DEFAULT, &limit, rp) != 0)
		return;
	v = json_object_get(rq->mr_query, "level");
	s = json_string_value(v);
	if (v != NULL) {
		if (s != NULL && strcmp(s, "info") == 0)
			levels = "{info,warn,error}";
		else if (s != NULL && (strcmp(s, "warn") == 0 ||
		    strcmp(s, "warning") == 0))
			levels = "{warn,error}";
		else if (s != NULL && strcmp(s, "error") == 0)
			levels = "{error}";
		else {
			svc_reply_error(rp, 400, "'level' must be info, warn "
			    "or error");
			return;
		}
	}
	if (obs_agent(c, id, rp) != 0)
		return;
	snprintf(lim, sizeof(lim), "%lld", limit);
	p[0] = id;
	p[1] = levels;
	p[2] = lim;
	if ((logs = obs_query_json(c->sc_db, SQL_LOGS, 3, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:o}", "agent_id", id, "logs",
	    logs));
}

const struct svc_op obs_ops[] = {
	{ OP_AGENTS_TRACES,	op_traces },
	{ OP_AGENTS_METRICS,	op_metrics },
	{ OP_AGENTS_LOGS,	op_logs },
	{ NULL,			NULL }
};
