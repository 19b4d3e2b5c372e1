/*
 * turn/machine.c - one turn as a state machine (docs/agent-turns.md):
 *
 *	start	  attachments, session lock, load and repair, model chain,
 *		  pre-turn compaction
 *	prepare	  granted tools, workspace, system prompt, the user's
 *		  message saved
 *	iterate	  history, provider call in the LLM engine
 *	answer	  tool calls run (then an interim save and iterate again),
 *		  or the final text
 *	finish	  one statement saves the session, the usage and the
 *		  records; unlock, answer, free
 *
 * and compaction, which is a turn of its own kind (TURN_COMPACT) or a
 * detour before a message turn.  Each state is a job on the pool
 * (turn/pool.c) that runs, then queues the next one or starts a provider
 * call whose end queues it: no thread waits for a provider.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approval/approval.h"
#include "audit.h"
#include "budget/budget.h"
#include "buf.h"
#include "err.h"
#include "files/upload.h"
#include "log.h"
#include "mcp/mcp.h"
#include "tool/tool.h"
#include "turn/pool.h"
#include "turn/turn.h"

static void	turn_iterate(struct turn *, struct db *);
static void	turn_job_answer(struct turn *, struct db *);
static void	turn_job_prepare(struct turn *, struct db *);
static void	turn_job_compacted(struct turn *, struct db *);

static json_t *
turn_model(struct turn *t)
{
	return (json_object_get(t->t_manifest, "model"));
}

/* A message {role, content (stolen), timestamp} (new). */
static json_t *
turn_msg(const char *role, json_t *content)
{
	char	ts[32];

	util_rfc3339(util_wall_ms(), ts);
	return (json_pack("{s:s, s:o, s:s}", "role", role, "content", content,
	    "timestamp", ts));
}

static int
turn_append(struct turn *t, json_t *msg)
{
	if (msg == NULL)
		return (-1);
	return (json_array_append_new(t->t_messages, msg));
}

/* Repairs the session's messages for a save; 1 ready, 0 nothing to
 * save (ephemeral, incognito, not taken), -1. */
static int
turn_save_prepare(struct turn *t)
{
	struct repair_stats	 st;
	json_t			*r;

	if (t->t_ephemeral || t->t_incognito || t->t_fence == 0 ||
	    t->t_messages == NULL)
		return (0);
	if ((r = session_repair(t->t_messages, &st)) == NULL)
		return (-1);
	if (session_repair_count(&st) > st.rs_merged)
		log_info("session %s repaired on save: %d orphan results, "
		    "%d empty, %d moved, %d synthetic, %d duplicates, "
		    "%d merged, %d sanitised, %d leading", t->t_session_id,
		    st.rs_orphans, st.rs_empty, st.rs_moved, st.rs_synthetic,
		    st.rs_duplicates, st.rs_merged, st.rs_sanitized,
		    st.rs_leading);
	json_decref(t->t_messages);
	t->t_messages = r;
	return (1);
}

/*
 * A turn whose session another turn took (its replica's lock connection
 * was lost, so its lock with it: the fence refused its writes) saved
 * nothing more of its exchange, and is never answered as done.  A keyed
 * turn answers 503: its key stays running, so the retry takes it over
 * and runs the turn afresh; any other turn 409.
 */
#define TURN_FENCED_ERROR	"the session was taken by another turn; " \
				"this turn's exchange was not saved"

static int
turn_fenced_status(const struct turn *t)
{
	return (t->t_idem_key[0] != '\0' ? 503 : 409);
}

static void
turn_save_log(struct turn *t, struct db *db, int rv)
{
	if (rv == SESSION_EFENCE)
		log_warnx("session %s: another turn took it; this turn's "
		    "writes stop here", t->t_session_id);
	else if (rv != 0)
		log_warnx("session %s: could not save: %s", t->t_session_id,
		    db_errmsg(db));
}

/* The user's message saved and the first call reserved in one statement
 * (budget/budget.h), or apart when there is nothing to save (ephemeral,
 * incognito); sets t_flag.  0, 1 (refused, why in err), SESSION_EFENCE
 * or -1. */
static int
turn_save_reserve(struct turn *t, struct db *db, json_t *req, char *err,
    size_t errlen)
{
	char	*js;
	int	 rv;

	t->t_flag = 0;
	if ((rv = turn_save_prepare(t)) < 0)
		return (-1);
	if (rv == 0) {
		t->t_flag = !t->t_ephemeral && session_interrupted(db,
		    t->t_session_id, t->t_fence) == 1;
		return (t->t_flag ? 0 : budget_turn_reserve(t, db, req, err,
		    errlen));
	}
	if ((js = json_dumps(t->t_messages, JSON_COMPACT)) == NULL)
		return (-1);
	rv = budget_turn_save_reserve(t, db, req, js,
	    turn_estimate_tokens(t->t_messages), &t->t_flag, err, errlen);
	free(js);
	if (rv == SESSION_EFENCE || rv < 0)
		turn_save_log(t, db, rv);
	return (rv);
}

/* Repairs and saves the session, noting its interrupt flag; 0,
 * SESSION_EFENCE or -1. */
static int
turn_save(struct turn *t, struct db *db, int with_summary)
{
	int	rv;

	if ((rv = turn_save_prepare(t)) <= 0)
		return (rv);
	rv = session_save(db, t->t_session_id, t->t_fence, t->t_messages,
	    turn_estimate_tokens(t->t_messages), with_summary, t->t_summary,
	    &t->t_flag);
	t->t_flag_known = rv == 0;
	turn_save_log(t, db, rv);
	return (rv);
}

/*
 * The end of every turn: one statement writes the final save (when one
 * is due), the usage row, the record and the log lines (agent/obs.c);
 * then the lock, the answer, free.
 */
static void
turn_end(struct turn *t, struct db *db, int status, json_t *body)
{
	struct obs_save	 sv, *svp = NULL;
	char		*js = NULL;
	int		 rv;

	if (t->t_save_at_end && (rv = turn_save_prepare(t)) != 0) {
		if (rv > 0 && (js = json_dumps(t->t_messages,
		    JSON_COMPACT)) != NULL) {
			memset(&sv, 0, sizeof(sv));
			sv.os_fence = t->t_fence;
			sv.os_messages = js;
			sv.os_tokens = turn_estimate_tokens(t->t_messages);
			svp = &sv;
		} else
			log_warnx("session %s: could not save: out of memory",
			    t->t_session_id);
	}
	rv = obs_turn_end(t, db, status, body, svp);
	if (svp != NULL)
		turn_save_log(t, db, rv);
	if (rv == SESSION_EFENCE && status < 300) {
		json_decref(body);
		status = turn_fenced_status(t);
		body = json_pack("{s:s}", "error", TURN_FENCED_ERROR);
		log_info("turn of agent %s on session %s: %d %s",
		    t->t_agent_id, t->t_session_id, status, TURN_FENCED_ERROR);
	}
	turn_notify_end(t, status, body);
	/* Its statement dropped the reservation with the usage row; when
	 * it failed, drop it now (after the usage row written apart). */
	budget_turn_release(t, db);
	/* The statement stored the key's answer with the exchange; when it
	 * failed (the agent deleted meanwhile, so the key's row is gone
	 * too, or the database away), the answer is stored apart, or the
	 * key stays running and a retry runs afresh once we let go. */
	if (t->t_idem_key[0] != '\0' && !t->t_idem_stored &&
	    rv != SESSION_EFENCE)
		turn_idem_finish(db, t->t_idem_key, status, body);
	free(js);
	turn_unlock(t);
	turn_unregister(t);
	turn_reply(t, status, body);
	turn_free(t);
}

static void
turn_fail(struct turn *t, struct db *db, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
turn_fail(struct turn *t, struct db *db, int status, const char *fmt, ...)
{
	va_list	 ap;
	json_t	*body;
	char	*raw = NULL, *text = NULL;

	if (t->t_locked)
		t->t_save_at_end = 1;
	/* The text quotes providers: every key redacted in the whole text,
	 * then cut at a character boundary (log.h), before it is answered,
	 * logged or stored. */
	va_start(ap, fmt);
	if (vasprintf(&raw, fmt, ap) < 0)
		raw = NULL;
	va_end(ap);
	if (raw != NULL)
		text = log_redact_text(raw, NULL, TURN_ERROR_MAX);
	body = json_pack("{s:s}", "error", text != NULL ? text :
	    "out of memory");
	free(raw);
	free(text);
	log_info("turn of agent %s on session %s: %d %s", t->t_agent_id,
	    t->t_session_id, status, json_string_value(json_object_get(body,
	    "error")));
	turn_end(t, db, status, body);
}

/* The common fields of a turn's answer (new). */
static json_t *
turn_body(struct turn *t)
{
	json_t	*o;

	o = json_pack("{s:s, s:I, s:I, s:i}", "response", "", "input_tokens",
	    (json_int_t)t->t_usage.u_in, "output_tokens",
	    (json_int_t)t->t_usage.u_out, "iterations", t->t_iter);
	if (o == NULL)
		return (NULL);
	if (t->t_usage.u_cost > 0)
		json_object_set_new(o, "cost_usd", json_real(t->t_usage.u_cost));
	if (!t->t_pinned && !t->t_ephemeral)
		json_object_set_new(o, "session_id",
		    json_string(t->t_session_id));
	return (o);
}

/* Owner notices, joined, or NULL (new). */
static char *
turn_notices(struct turn *t)
{
	struct buf	 b = BUF_INIT(1024 * 1024);
	json_t		*v;
	size_t		 i;

	if (json_array_size(t->t_notices) == 0)
		return (NULL);
	json_array_foreach(t->t_notices, i, v) {
		if (!json_is_string(v))
			continue;
		if ((b.b_len > 0 && buf_adds(&b, "\n\n") != 0) ||
		    buf_adds(&b, json_string_value(v)) != 0)
			return (NULL);
	}
	return (buf_detach(&b));
}

/* Success (notes 4.12), or a silent turn. */
static void
turn_finish(struct turn *t, struct db *db, int silent)
{
	json_t		*o, *ev;
	char		*text = NULL, *thinking = NULL, *notice, empty[256];
	const char	*raw;

	t->t_save_at_end = 1;
	if ((o = turn_body(t)) == NULL) {
		turn_end(t, db, 500, NULL);
		return;
	}
	if (silent)
		json_object_set_new(o, "silent", json_true());
	else {
		raw = json_string_value(t->t_text);
		text = turn_strip_think(raw ? raw : "", &thinking);
		if (text == NULL || *text == '\0') {
			snprintf(empty, sizeof(empty), TURN_EMPTY_TEXT,
			    t->t_usage.u_in, t->t_usage.u_out, t->t_iter);
			json_object_set_new(o, "response", json_string(empty));
		} else
			json_object_set_new(o, "response", json_string(text));
		if (thinking != NULL && t->t_show_thinking)
			json_object_set_new(o, "thinking",
			    json_string(thinking));
		if (json_array_size(t->t_traces) > 0)
			json_object_set(o, "decision_traces", t->t_traces);
	}
	if ((notice = turn_notices(t)) != NULL) {
		json_object_set_new(o, "owner_notice", json_string(notice));
		if ((ev = json_pack("{s:s, s:s}", "type", "owner_notice",
		    "text", notice)) != NULL) {
			turn_event(t, ev);
			json_decref(ev);
		}
	}
	free(notice);
	free(text);
	free(thinking);
	turn_end(t, db, 200, o);
}

/* ---- resolving the model chain ------------------------------------- */

/* Fills t_chain; 0, 1 (no key anywhere, or a primary model that cannot
 * be resolved: err says what to set or change), -2 (the database is
 * unavailable) or -1 (err says why). */
static int
turn_resolve(struct turn *t, struct db *db, char *err, size_t errlen)
{
	json_t			*m = turn_model(t), *fb, *e;
	struct catalog_target	 ct;
	const char		*prov, *mod, *url, *env;
	char			 e2[256];
	size_t			 i, n = 0, missing = 0, max;
	int			 rv;

	/* Sized to the manifest's chain: a struct turn stays small. */
	max = 1 + json_array_size(json_object_get(t->t_manifest,
	    "fallback_models"));
	if (max > TURN_CHAIN_MAX)
		max = TURN_CHAIN_MAX;
	free(t->t_chain);
	t->t_nchain = 0;
	if ((t->t_chain = calloc(max, sizeof(*t->t_chain))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	for (i = 0; i <= json_array_size(json_object_get(t->t_manifest,
	    "fallback_models")) && n < max; i++) {
		if (i == 0) {
			e = m;
			prov = json_string_value(json_object_get(e,
			    "provider"));
			mod = json_string_value(json_object_get(e, "model"));
			if (t->t_model_override != NULL &&
			    *t->t_model_override != '\0') {
				prov = "";
				mod = t->t_model_override;
			}
		} else {
			fb = json_object_get(t->t_manifest,
			    "fallback_models");
			e = json_array_get(fb, i - 1);
			if (!json_is_object(e))
				continue;
			prov = json_string_value(json_object_get(e,
			    "provider"));
			mod = json_string_value(json_object_get(e, "model"));
		}
		url = json_string_value(json_object_get(e, "base_url"));
		env = json_string_value(json_object_get(e, "api_key_env"));
		memset(&ct, 0, sizeof(ct));
		rv = catalog_resolve(db, t->t_catalog_ver, prov ? prov : "default",
		    mod ? mod : "default", url, env, &ct, e2, sizeof(e2));
		if (rv == CATALOG_ENOPROVIDER) {
			/* Like a missing key: the provider_not_configured
			 * answer (notes 4.6), not a failure. */
			if (missing++ == 0)
				snprintf(err, errlen, "%s", e2);
			continue;
		}
		if (rv == CATALOG_EKEYENV) {
			/* A variable no agent may name (stored before the
			 * rule, or since dropped from the catalog): like a
			 * missing key, and the variable is never read. */
			if (missing++ == 0)
				snprintf(err, errlen, "The agent's %s cannot "
				    "be used: %s. Set another (or none) with "
				    "PATCH /api/agents/%s/config.", i == 0 ?
				    "model" : "fallback model", e2,
				    t->t_agent_id);
			continue;
		}
		if (rv == SH_EUNAVAIL && i == 0) {
			snprintf(err, errlen, "%s", e2);
			return (-2);
		}
		if (rv != 0 && i == 0) {
			/* A model that cannot be resolved (a provider the
			 * catalog no longer knows, say; edits refuse them) is
			 * like a missing key: the provider_not_configured
			 * answer saying what to change, never a 500. */
			if (missing++ == 0)
				snprintf(err, errlen, "The agent's model cannot "
				    "be used: %s. Choose another with PUT "
				    "/api/agents/%s/model.", e2, t->t_agent_id);
			continue;
		}
		if (rv != 0) {
			log_info("agent %s: fallback %zu skipped: %s",
			    t->t_agent_id, i, e2);
			continue;
		}
		if (ct.ct_key_required && ct.ct_api_key[0] == '\0') {
			if (missing++ == 0)
				snprintf(err, errlen, "Provider '%s' is not "
				    "configured: set the environment variable "
				    "%s (or its key with PUT /api/providers/"
				    "%s/key) and send the message again.",
				    ct.ct_provider, ct.ct_key_env[0] ?
				    ct.ct_key_env : "<PROVIDER>_API_KEY",
				    ct.ct_provider);
			continue;
		}
		t->t_chain[n++] = ct;
	}
	t->t_nchain = n;
	if (n == 0)
		return (missing > 0 ? 1 : -1);
	return (0);
}

/* ---- compaction (notes 4.9) ---------------------------------------- */

/* Where to split msgs keeping keep recent ones: the first kept message
 * is a user's without tool results, so no call loses its result.  -1
 * when there is nothing to compact. */
static int
turn_split(json_t *msgs, int keep)
{
	json_t	*m, *b;
	size_t	 k;
	int	 n = (int)json_array_size(msgs), s, ok;

	if (n <= keep + 1)
		return (-1);
	for (s = n - keep; s > 0; s--) {
		m = json_array_get(msgs, (size_t)s);
		ok = strcmp(json_string_value(json_object_get(m, "role")) ?: "",
		    "user") == 0;
		json_array_foreach(json_object_get(m, "content"), k, b)
			if (strcmp(json_string_value(json_object_get(b,
			    "type")) ?: "", "tool_result") == 0)
				ok = 0;
		if (ok)
			return (s);
	}
	return (-1);
}

/* The text a summariser reads: the old summary and msgs[0..split). */
static char *
turn_transcript(struct turn *t, int split)
{
	struct buf	 b = BUF_INIT(256 * 1024);
	json_t		*m, *c, *blk;
	char		*s;
	const char	*role, *type;
	size_t		 k;
	int		 i;

	if (t->t_summary != NULL && buf_addf(&b, "[Earlier summary]\n%s\n\n",
	    t->t_summary) != 0)
		return (NULL);
	for (i = 0; i < split && b.b_len < 80000; i++) {
		m = json_array_get(t->t_messages, (size_t)i);
		role = json_string_value(json_object_get(m, "role")) ?: "?";
		c = json_object_get(m, "content");
		if ((s = session_content_text(c)) == NULL)
			goto fail;
		if (*s != '\0' && buf_addf(&b, "%s: %.4000s\n", role, s) != 0) {
			free(s);
			goto fail;
		}
		free(s);
		json_array_foreach(c, k, blk) {
			type = json_string_value(json_object_get(blk, "type"))
			    ?: "";
			if (strcmp(type, "tool_use") == 0 && buf_addf(&b,
			    "[%s called tool %s]\n", role, json_string_value(
			    json_object_get(blk, "name")) ?: "?") != 0)
				goto fail;
			if (strcmp(type, "tool_result") == 0 && buf_addf(&b,
			    "[tool result: %.500s]\n", json_string_value(
			    json_object_get(blk, "content")) ?: "") != 0)
				goto fail;
		}
	}
	return (buf_detach(&b));
 fail:
	buf_release(&b);
	return (NULL);
}

/* Starts summarising; 0 started (after() follows), 1 nothing to do, 2
 * refused by a budget (why in why), -1. */
static int
turn_compact_start(struct turn *t, struct db *db, turn_job_fn after,
    char *why, size_t whylen)
{
	json_t	*req;
	char	*text;
	int	 split, rv;

	if ((split = turn_split(t->t_messages, TURN_KEEP_RECENT)) < 0)
		return (1);
	if ((text = turn_transcript(t, split)) == NULL)
		return (-1);
	req = json_pack("{s:s, s:[{s:s, s:s}], s:i, s:f}", "system",
	    "You summarise conversations between a user and an AI agent. "
	    "Write a concise summary that keeps every fact, decision, name, "
	    "file, number and open task the agent will need to continue. "
	    "Write it in the language of the conversation, as plain text.",
	    "messages", "role", "user", "content", text,
	    "max_tokens", TURN_SUMMARY_TOKENS, "temperature", 0.2);
	free(text);
	if (req == NULL)
		return (-1);
	/* The summary is a provider call like any other: reserved first. */
	if ((rv = budget_turn_reserve(t, db, req, why, whylen)) != 0) {
		json_decref(req);
		return (rv > 0 ? 2 : -1);
	}
	t->t_compact_split = split;
	t->t_compact_kept = (int)json_array_size(t->t_messages) - split;
	rv = turn_llm(t, req, 0, after);
	json_decref(req);
	return (rv == 0 ? 0 : -1);
}

/* A summary without a model: the first lines of the older user messages. */
static char *
turn_summary_fallback(struct turn *t)
{
	struct buf	 b = BUF_INIT(TURN_SUMMARY_MAX);
	json_t		*m;
	char		*s;
	int		 i;

	(void)buf_addf(&b, "Earlier conversation (%d messages; no model was "
	    "available to summarise it). The user wrote:\n",
	    t->t_compact_split);
	for (i = 0; i < t->t_compact_split && b.b_len < 4000; i++) {
		m = json_array_get(t->t_messages, (size_t)i);
		if (strcmp(json_string_value(json_object_get(m, "role")) ?: "",
		    "user") != 0)
			continue;
		if ((s = session_content_text(json_object_get(m, "content")))
		    == NULL)
			break;
		if (*s != '\0')
			(void)buf_addf(&b, "- %.200s\n", s);
		free(s);
	}
	return (buf_detach(&b));
}

static void
turn_add_usage(struct turn *t, json_t *resp)
{
	json_t			*u = json_object_get(resp, "usage");
	struct turn_usage	 one;
	const char		*prov, *mod;
	double			 in = CATALOG_DEFAULT_IN_PER_M;
	double			 out = CATALOG_DEFAULT_OUT_PER_M;
	size_t			 i;

	memset(&one, 0, sizeof(one));
	one.u_in = json_integer_value(json_object_get(u, "input_tokens"));
	one.u_out = json_integer_value(json_object_get(u, "output_tokens"));
	one.u_cache_read = json_integer_value(json_object_get(u,
	    "cache_read_input_tokens"));
	one.u_cache_create = json_integer_value(json_object_get(u,
	    "cache_creation_input_tokens"));
	prov = json_string_value(json_object_get(resp, "provider"));
	mod = json_string_value(json_object_get(resp, "model"));
	/* Priced as the target that answered (after a fallback). */
	for (i = 0; i < t->t_nchain; i++) {
		if (prov != NULL && mod != NULL &&
		    strcmp(t->t_chain[i].ct_provider, prov) == 0 &&
		    strcmp(t->t_chain[i].ct_model, mod) == 0)
			break;
	}
	if (i == t->t_nchain)
		i = 0;
	if (t->t_nchain > 0 && t->t_chain[i].ct_known &&
	    (t->t_chain[i].ct_in_per_m > 0 || t->t_chain[i].ct_out_per_m > 0)) {
		in = t->t_chain[i].ct_in_per_m;
		out = t->t_chain[i].ct_out_per_m;
	}
	t->t_usage.u_in += one.u_in;
	t->t_usage.u_out += one.u_out;
	t->t_usage.u_cache_read += one.u_cache_read;
	t->t_usage.u_cache_create += one.u_cache_create;
	t->t_usage.u_cost += turn_cost(&one, in, out);
	snprintf(t->t_provider, sizeof(t->t_provider), "%s", prov ? prov :
	    t->t_nchain > 0 ? t->t_chain[0].ct_provider : "");
	snprintf(t->t_model, sizeof(t->t_model), "%s", mod ? mod :
	    t->t_nchain > 0 ? t->t_chain[0].ct_model : "");
}

/* Takes the provider's answer from t (new resp, or NULL) and its error. */
static json_t *
turn_take_answer(struct turn *t, int *errp)
{
	json_t	*resp;

	pthread_mutex_lock(&t->t_mtx);
	resp = t->t_llm_resp;
	t->t_llm_resp = NULL;
	*errp = t->t_llm_err;
	pthread_mutex_unlock(&t->t_mtx);
	return (resp);
}

static void
turn_job_compacted(struct turn *t, struct db *db)
{
	json_t		*resp, *kept;
	char		*summary = NULL, msg[256];
	int		 err, rv;
	size_t		 i, n;

	resp = turn_take_answer(t, &err);
	obs_llm_answer(t, err, resp);	/* agent/obs.c: fallbacks */
	if (turn_stopping()) {
		json_decref(resp);
		turn_fail(t, db, 503, "agent-runtime is shutting down");
		return;
	}
	if (err == 0) {
		turn_add_usage(t, resp);
		summary = session_content_text(json_object_get(resp,
		    "content"));
	} else
		log_warnx("session %s: compaction by model failed (%s); "
		    "keeping a plain summary", t->t_session_id,
		    json_string_value(json_object_get(resp, "error")) ?: "?");
	json_decref(resp);
	if (summary == NULL || *summary == '\0') {
		free(summary);
		summary = turn_summary_fallback(t);
	}
	if (summary == NULL) {
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	if (strlen(summary) > TURN_SUMMARY_MAX)
		summary[TURN_SUMMARY_MAX] = '\0';
	if ((kept = json_array()) == NULL) {
		free(summary);
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	n = json_array_size(t->t_messages);
	for (i = (size_t)t->t_compact_split; i < n; i++)
		json_array_append(kept, json_array_get(t->t_messages, i));
	json_decref(t->t_messages);
	t->t_messages = kept;
	free(t->t_summary);
	t->t_summary = summary;
	if ((rv = turn_save(t, db, 1)) != 0) {
		turn_fail(t, db, rv == SESSION_EFENCE ? turn_fenced_status(t) :
		    503, "%s", rv == SESSION_EFENCE ? TURN_FENCED_ERROR :
		    "database unavailable");
		return;
	}
	log_info("session %s: compacted %d messages into %zu chars, kept %d",
	    t->t_session_id, t->t_compact_split, strlen(summary),
	    t->t_compact_kept);
	if (t->t_kind == TURN_COMPACT) {
		snprintf(msg, sizeof(msg), "Compacted %d messages into summary "
		    "(%zu chars), kept %d recent messages.",
		    t->t_compact_split, strlen(summary), t->t_compact_kept);
		turn_end(t, db, 200, json_pack("{s:s, s:s}", "status",
		    "compacted", "message", msg));
		return;
	}
	turn_job_prepare(t, db);
}

/* ---- start ---------------------------------------------------------- */

static int
turn_max_iterations(json_t *m)
{
	json_t		*v;
	long long	 n = TURN_ITERATIONS_DEFAULT;

	v = json_object_get(json_object_get(m, "autonomous"),
	    "max_iterations");
	if (!json_is_integer(v))
		v = json_object_get(m, "max_iterations");
	if (json_is_integer(v))
		n = json_integer_value(v);
	if (n < 1)
		n = 1;
	if (n > TURN_ITERATIONS_MAX)
		n = TURN_ITERATIONS_MAX;
	return ((int)n);
}

/* 1 when m is a user message that carries tool results only (one of a
 * run's tool rounds, not a turn's question). */
static int
turn_msg_results(json_t *m)
{
	json_t	*c, *b;
	size_t	 j;
	int	 own;

	c = json_object_get(m, "content");
	own = json_is_array(c) && json_array_size(c) > 0;
	json_array_foreach(c, j, b)
		if (strcmp(json_string_value(json_object_get(b, "type")) ?: "",
		    "tool_result") != 0)
			own = 0;
	return (own);
}

/*
 * A run under idempotency key whose replica died (turn/idem.c) may have
 * saved its user message and tool rounds, but never its answer.  They are
 * dropped, from the message that names the key to the end, unless a
 * later turn's message follows (then the history is left as it is):
 * - by the retry that took the key over, so the session holds the one
 *   exchange it makes;
 * - by any other turn, a retry whose own run saved nothing included,
 *   that finds such a run at the session's end (its key still running
 *   while this turn holds the session, so its run is over, though its
 *   own retry may wait for the session), before this turn's message
 *   follows it: else the two questions
 *   would merge into one (turn/repair.c), this turn would answer both and
 *   the retry, running afresh, would ask the dead one again
 *   (tests/deploy/t9010-failover.sh found it).
 */
static void
turn_drop_dead_run(struct turn *t, struct db *db)
{
	json_t		*m;
	const char	*k = NULL;
	size_t		 i, n = json_array_size(t->t_messages), at = n;

	/* The retry's own dead run, from its question on. */
	for (i = n; t->t_idem_takeover && i-- > 0;) {
		m = json_array_get(t->t_messages, i);
		k = json_string_value(json_object_get(m, "turn_key"));
		if (k != NULL && strcmp(k, t->t_idem_key) == 0) {
			at = i;
			break;
		}
		k = NULL;
	}
	/* Else the last question: another key's dead run, or none (a
	 * retry whose own run died before it saved anything finds the
	 * other's there too). */
	for (i = n; at == n && i-- > 0;) {
		m = json_array_get(t->t_messages, i);
		if (strcmp(json_string_value(json_object_get(m, "role")) ?: "",
		    "user") != 0 || turn_msg_results(m))
			continue;
		k = json_string_value(json_object_get(m, "turn_key"));
		if (k != NULL && strcmp(k, t->t_idem_key) != 0 &&
		    turn_key_running(db, k) == 1)
			at = i;
		else
			k = NULL;
		break;
	}
	if (at == n)
		return;
	for (i = at + 1; i < n; i++) {
		m = json_array_get(t->t_messages, i);
		if (strcmp(json_string_value(json_object_get(m, "role")) ?: "",
		    "user") == 0 && !turn_msg_results(m))
			return;
	}
	log_info("session %s: dropped %zu messages of the dead run of "
	    "idempotency key '%s'", t->t_session_id, n - at, k);
	while (json_array_size(t->t_messages) > at)
		json_array_remove(t->t_messages, at);
}

void
turn_job_start(struct turn *t, struct db *db)
{
	struct session_take	 st;
	struct repair_stats	 rs;
	json_t			*body;
	char			 err[512];
	long long		 est, window;
	int			 rv;

	turn_register(t);
	obs_turn_start(t);	/* agent/obs.c: once per turn */
	if (turn_stopping()) {
		turn_fail(t, db, 503, "agent-runtime is shutting down");
		return;
	}
	if (t->t_attachments != NULL) {
		/* Attachments become blocks before the message's text. */
		json_t	*blocks = json_array();

		rv = blocks ? upload_blocks(db, t->t_agent_id,
		    t->t_attachments, blocks, err, sizeof(err)) : SH_ENOMEM;
		json_decref(t->t_attachments);
		t->t_attachments = NULL;
		if (rv != 0) {
			json_decref(blocks);
			if (rv == SH_EINVAL)
				turn_fail(t, db, 400, "%s", err);
			else if (rv == SH_EUNAVAIL)
				turn_fail(t, db, 503, "database unavailable");
			else
				turn_fail(t, db, 500, "out of memory");
			return;
		}
		if (json_array_size(blocks) > 0) {
			json_array_append_new(blocks, json_pack("{s:s, s:O}",
			    "type", "text", "text", t->t_user));
			json_decref(t->t_user);
			t->t_user = blocks;
		} else
			json_decref(blocks);
	}
	if (!t->t_ephemeral) {
		if ((rv = turn_take(t, PROMPT_PEERS_MAX + 1, &st)) == 0) {
			if (t->t_deadline > 0 && util_wall_ms() + 1000 >=
			    t->t_deadline) {
				turn_fail(t, db, 409, "another turn is running "
				    "on session %s", t->t_session_id);
				return;
			}
			if (turn_queue(t, turn_job_start, TURN_LOCK_RETRY_MS)
			    != 0)
				turn_fail(t, db, 500, "out of memory");
			return;
		}
		if (rv == SESSION_EOTHER) {
			turn_fail(t, db, 400, "session_agent_mismatch: "
			    "session %s belongs to another agent",
			    t->t_session_id);
			return;
		}
		if (rv < 0) {
			turn_fail(t, db, 503, "database unavailable");
			return;
		}
		t->t_fence = st.st_fence;
		t->t_catalog_ver = st.st_catalog_ver;
		t->t_skill_ver = st.st_skill_ver;
		t->t_msg_events = st.st_msg_events;
		turn_notify_wanted(st.st_msg_events);
		t->t_messages = session_repair(st.st_messages, &rs);
		if (session_repair_count(&rs) > 0)
			log_info("session %s repaired on load (%d synthetic "
			    "results, %d orphans, %d leading)",
			    t->t_session_id, rs.rs_synthetic, rs.rs_orphans,
			    rs.rs_leading);
		if (t->t_messages != NULL)
			turn_drop_dead_run(t, db);
		t->t_summary = st.st_summary;
		t->t_model_override = st.st_model_override;
		t->t_peers = st.st_peers;
		st.st_summary = st.st_model_override = NULL;
		st.st_peers = NULL;
		session_take_release(&st);
	} else {
		t->t_messages = json_array();
		t->t_msg_events = turn_notify_wanted_last();
	}
	if (t->t_messages == NULL) {
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	if ((rv = turn_resolve(t, db, err, sizeof(err))) < 0) {
		turn_fail(t, db, rv == -2 ? 503 : 500, "%s", err);
		return;
	}
	if (rv == 1) {
		/* No key for any model of the chain (notes 4.6). */
		log_info("agent %s: %s", t->t_agent_id, err);
		if ((body = turn_body(t)) != NULL) {
			json_object_set_new(body, "response", json_string(err));
			json_object_set_new(body, "provider_not_configured",
			    json_true());
		}
		turn_end(t, db, 200, body);
		return;
	}
	if (t->t_max_tokens > 0 && t->t_chain[0].ct_max_output > 0 &&
	    t->t_max_tokens > t->t_chain[0].ct_max_output) {
		turn_fail(t, db, 400, "'max_tokens' must be from 1 to %lld, the "
		    "max output of model '%s'", t->t_chain[0].ct_max_output,
		    t->t_chain[0].ct_model);
		return;
	}
	if (t->t_kind == TURN_COMPACT) {
		if ((rv = turn_compact_start(t, db, turn_job_compacted, err,
		    sizeof(err))) == 1)
			turn_end(t, db, 200, json_pack("{s:s, s:s}", "status",
			    "ok", "message", "Nothing to compact: the session "
			    "is shorter than the messages it keeps."));
		else if (rv == 2)
			turn_fail(t, db, 429, "budget_exceeded: %s", err);
		else if (rv < 0)
			turn_fail(t, db, 500, "could not start the "
			    "compaction");
		return;
	}
	/* Pre-turn auto-compaction (notes 4.1.4). */
	window = t->t_chain[0].ct_context_window > 0 ?
	    t->t_chain[0].ct_context_window : CATALOG_DEFAULT_CONTEXT;
	est = turn_estimate_tokens(t->t_messages);
	if (!t->t_ephemeral && !t->t_incognito &&
	    (json_array_size(t->t_messages) > TURN_COMPACT_MESSAGES ||
	    (double)est > TURN_COMPACT_RATIO * (double)window) &&
	    turn_compact_start(t, db, turn_job_compacted, err,
	    sizeof(err)) == 0)
		return;	/* else (a budget refused it) the turn's own call
			   decides */
	turn_job_prepare(t, db);
}

/* 1 if the caller's tool_allow (if any) names tool name, by either of
 * its names. */
static int
turn_tool_allowed(struct turn *t, const char *name)
{
	json_t	*v;
	size_t	 i;

	if (t->t_tool_allow == NULL)
		return (1);
	json_array_foreach(t->t_tool_allow, i, v)
		if (json_is_string(v) && strcmp(tool_canonical(
		    json_string_value(v)), tool_canonical(name)) == 0)
			return (1);
	return (0);
}

/* Tools, workspace, prompt; then the first iteration saves the user's
 * message. */
static void
turn_job_prepare(struct turn *t, struct db *db)
{
	json_t		*defs, *d, *m;
	const char	*mode, *name;
	size_t		 i;

	mode = json_string_value(json_object_get(t->t_row, "mode")) ?: "full";
	if ((t->t_tools = json_array()) == NULL) {
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	if (!json_is_true(json_object_get(t->t_manifest, "tools_disabled")) &&
	    (defs = tool_defs_granted(t->t_manifest)) != NULL) {
		json_array_foreach(defs, i, d) {
			name = json_string_value(json_object_get(d, "name"));
			if (name != NULL && tool_mode_allows(mode, name) &&
			    turn_tool_allowed(t, name))
				json_array_append(t->t_tools, d);
		}
		json_decref(defs);
	}
	/* MCP servers' tools the agent's mcp_servers allows (mcp/). */
	if (!json_is_true(json_object_get(t->t_manifest, "tools_disabled")) &&
	    strcmp(mode, "full") == 0 && t->t_tool_allow == NULL &&
	    (defs = mcp_tool_defs(t->t_manifest)) != NULL) {
		json_array_extend(t->t_tools, defs);
		json_decref(defs);
	}
	{
		char	ws[PATH_MAX];

		free(t->t_workspace);
		t->t_workspace = NULL;
		if (tool_workspace(t->t_as->as_cfg, t->t_agent_name, ws,
		    sizeof(ws)) == 0 && (t->t_workspace = strdup(ws)) == NULL) {
			turn_fail(t, db, 500, "out of memory");
			return;
		}
	}
	if (t->t_workspace == NULL)
		log_warnx("agent %s: no workspace: %s", t->t_agent_name,
		    strerror(errno));
	t->t_max_iter = turn_max_iterations(t->t_manifest);
	if ((t->t_guard = loop_guard_new(t->t_max_iter)) == NULL) {
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	{
		char	*p = turn_prompt(t, db);

		if (p == NULL || (t->t_system = json_string(p)) == NULL) {
			free(p);
			turn_fail(t, db, 500, "out of memory");
			return;
		}
		free(p);
	}
	if ((m = turn_msg("user", json_incref(t->t_user))) != NULL &&
	    t->t_idem_key[0] != '\0')
		/* Names its run, for a retry that takes the key over after
		 * this replica died (turn_drop_dead_run()). */
		json_object_set_new(m, "turn_key",
		    json_string(t->t_idem_key));
	if (turn_append(t, m) != 0) {
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	/* Saved by the statement that reserves the first call. */
	t->t_save_due = 1;
	turn_notify_received(t);
	turn_iterate(t, db);
}

/* ---- one iteration -------------------------------------------------- */

/* The history the provider sees: no system messages, the summary first,
 * at most max_history_messages, repaired (new). */
static json_t *
turn_history(struct turn *t)
{
	json_t		*h, *m, *r, *v;
	long long	 max = TURN_HISTORY_DEFAULT;
	size_t		 i, n, from;
	char		*s;
	size_t		 len;

	v = json_object_get(t->t_manifest, "max_history_messages");
	if (json_is_integer(v))
		max = json_integer_value(v);
	max = max < 4 ? 4 : max > 500 ? 500 : max;
	if ((h = json_array()) == NULL)
		return (NULL);
	if (t->t_summary != NULL) {
		len = strlen(t->t_summary) + 40;
		if ((s = malloc(len)) != NULL) {
			snprintf(s, len, "[Previous conversation context]\n%s",
			    t->t_summary);
			json_array_append_new(h, json_pack("{s:s, s:s}",
			    "role", "user", "content", s));
			free(s);
		}
	}
	n = json_array_size(t->t_messages);
	from = n > (size_t)max ? n - (size_t)max : 0;
	for (i = from; i < n; i++) {
		m = json_array_get(t->t_messages, i);
		if (strcmp(json_string_value(json_object_get(m, "role")) ?: "",
		    "system") == 0)
			continue;
		/* The stored timestamp is ours, not the provider's. */
		if ((m = json_copy(m)) == NULL) {
			json_decref(h);
			return (NULL);
		}
		json_object_del(m, "timestamp");
		json_object_del(m, "pinned");
		json_object_del(m, "turn_key");
		json_array_append_new(h, m);
	}
	r = session_repair(h, NULL);
	json_decref(h);
	return (r);
}

static void
turn_interrupted(struct turn *t, struct db *db)
{
	log_info("turn of agent %s on session %s interrupted", t->t_agent_id,
	    t->t_session_id);
	obs_interrupted(t);	/* agent/obs.c */
	turn_finish(t, db, 1);
}

static void
turn_iterate(struct turn *t, struct db *db)
{
	json_t	*req, *hist, *m = turn_model(t);
	char	 why[256];
	int	 rv, flag;

	if (turn_stopping()) {
		turn_fail(t, db, 503, "agent-runtime is shutting down; the "
		    "session was saved");
		return;
	}
	/* The save just before this iteration read the flag already; a
	 * save still due reads it below. */
	if (!t->t_save_due) {
		flag = t->t_flag_known ? t->t_flag : !t->t_ephemeral &&
		    session_interrupted(db, t->t_session_id, t->t_fence) == 1;
		t->t_flag_known = 0;
		if (t->t_interrupted || flag) {
			turn_interrupted(t, db);
			return;
		}
		if (t->t_iter >= t->t_max_iter) {
			turn_fail(t, db, 500, "MaxIterationsExceeded: the "
			    "agent did not finish within %d iterations",
			    t->t_max_iter);
			return;
		}
	}
	if ((hist = turn_history(t)) == NULL) {
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	/* The caller's sampling for this turn, else the manifest's. */
	req = json_pack("{s:O, s:o, s:O?, s:O?}", "system", t->t_system,
	    "messages", hist, "max_tokens", json_object_get(m, "max_tokens"),
	    "temperature", t->t_temperature != NULL ? t->t_temperature :
	    json_object_get(m, "temperature"));
	if (req != NULL && t->t_max_tokens > 0)
		json_object_set_new(req, "max_tokens",
		    json_integer(t->t_max_tokens));
	if (req == NULL) {
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	if (!t->t_no_tools && json_array_size(t->t_tools) > 0)
		json_object_set(req, "tools", t->t_tools);
	t->t_no_tools = 0;
	/* Every provider call reserves its worst case first (budget/); the
	 * first one with the save of the user's message. */
	if (t->t_save_due) {
		t->t_save_due = 0;
		rv = turn_save_reserve(t, db, req, why, sizeof(why));
		if (rv == SESSION_EFENCE || rv < 0) {
			json_decref(req);
			turn_fail(t, db, rv == SESSION_EFENCE ?
			    turn_fenced_status(t) : 503, "%s",
			    rv == SESSION_EFENCE ? TURN_FENCED_ERROR :
			    "database unavailable");
			return;
		}
		if (t->t_interrupted || t->t_flag) {
			json_decref(req);
			turn_interrupted(t, db);
			return;
		}
		t->t_iter++;
	} else {
		t->t_iter++;
		rv = budget_turn_reserve(t, db, req, why, sizeof(why));
	}
	if (rv != 0) {
		json_decref(req);
		if (rv > 0)
			turn_fail(t, db, 429, "budget_exceeded: %s", why);
		else
			turn_fail(t, db, 503, "database unavailable");
		return;
	}
	rv = turn_llm(t, req, t->t_stream != NULL, turn_job_answer);
	json_decref(req);
	if (rv != 0)
		turn_fail(t, db, 503, "message_delivery_failed: the LLM engine "
		    "is not available");
}

/* Reply directives (notes 4.4.6): removes them from text in place;
 * returns 1 when the reply is silent. */
static int
turn_directives(char *text)
{
	char	*p, *e;
	size_t	 len;
	int	 silent = 0;

	while ((p = strstr(text, "[[")) != NULL) {
		if ((e = strstr(p, "]]")) == NULL)
			break;
		if (strncmp(p, "[[silent]]", 10) == 0)
			silent = 1;
		else if (strncmp(p, "[[reply:", 8) != 0 &&
		    strncmp(p, "[[@current]]", 12) != 0)
			break;
		memmove(p, e + 2, strlen(e + 2) + 1);
	}
	len = strlen(text);
	while (len > 0 && strchr(" \t\r\n", text[len - 1]) != NULL)
		text[--len] = '\0';
	if (len >= 8 && strcmp(text + len - 8, "NO_REPLY") == 0)
		silent = 1;
	return (silent);
}

/* tool_run() on a thread the pool counts as held (see turn_pool_block()). */
static int
turn_tool_run(struct tool_ctx *tc, const char *name, json_t *input,
    struct tool_result *r)
{
	int	rv;

	turn_pool_block();
	rv = tool_run(tc, name, input, r);
	turn_pool_unblock();
	return (rv);
}

/* The tools' context for t's calls. */
static void
turn_tool_ctx(struct turn *t, struct tool_ctx *tc)
{
	memset(tc, 0, sizeof(*tc));
	tc->tc_cfg = t->t_as->as_cfg;
	tc->tc_bus = t->t_as ? t->t_as->as_bus : NULL;
	tc->tc_agent_id = t->t_agent_id;
	tc->tc_agent_name = t->t_agent_name;
	tc->tc_session_id = t->t_session_id;
	tc->tc_manifest = t->t_manifest;
	tc->tc_workspace = t->t_workspace;
	tc->tc_depth = t->t_depth;
	tc->tc_event_depth = t->t_event_depth;
	tc->tc_notices = t->t_notices;
	tc->tc_interrupted = &t->t_interrupted;
}

static void	turn_tools_next(struct turn *, struct db *);
static void	turn_tools_end(struct turn *, struct db *);

/* How one call of a round went. */
enum turn_call_rv {
	TURN_CALL_DONE = 0,	/* its result is in t_results */
	TURN_CALL_PAUSED,	/* the turn waits for an approval */
	TURN_CALL_FAILED	/* the turn failed (answered) */
};

/* What the gate already said about the call (a resumed one). */
enum turn_gate {
	TURN_GATE_ASK = 0,	/* not asked yet */
	TURN_GATE_APPROVED,	/* run it */
	TURN_GATE_DECIDED	/* r holds the result */
};

static enum turn_call_rv turn_tool_call(struct turn *, struct db *, json_t *,
	    enum turn_gate, struct tool_result *);

/* Resume job: the approval t waited on may have been decided. */
static void
turn_job_approval(struct turn *t, struct db *db)
{
	struct tool_result	 r;
	enum approval_verdict	 v;
	enum turn_call_rv	 rv;
	json_t			*b;

	memset(&r, 0, sizeof(r));
	v = approval_resume(t, db, &r, turn_job_approval);
	if (v == APPROVAL_PAUSED)
		return;		/* queued again: t is not ours any more */
	if (v == APPROVAL_ERROR) {
		tool_result_release(&r);
		turn_fail(t, db, 503, "database unavailable");
		return;
	}
	b = json_array_get(t->t_round, t->t_round_i);
	rv = turn_tool_call(t, db, b, v == APPROVAL_RUN ? TURN_GATE_APPROVED :
	    TURN_GATE_DECIDED, &r);
	if (rv != TURN_CALL_DONE)
		return;
	t->t_round_i++;
	turn_tools_next(t, db);
}

/* Runs one tool_use block b of the round (notes 4.4.6 tool_use); with
 * gate TURN_GATE_DECIDED, r (stolen) is its result. */
static enum turn_call_rv
turn_tool_call(struct turn *t, struct db *db, json_t *b, enum turn_gate gate,
    struct tool_result *rg)
{
	struct tool_ctx		 tc;
	struct tool_result	 r;
	json_t			*input, *ev, *blk, *trace;
	const char		*id, *name, *mode, *status;
	char			 msg[512], *text;
	struct buf		 out;
	enum guard_verdict	 v;
	enum approval_verdict	 av;
	uint64_t		 t0;
	size_t			 slen;
	int			 is_error, rv;

	turn_tool_ctx(t, &tc);
	mode = json_string_value(json_object_get(t->t_row, "mode")) ?: "full";
	id = json_string_value(json_object_get(b, "id")) ?: "";
	name = json_string_value(json_object_get(b, "name")) ?: "";
	input = json_object_get(b, "input");
	t0 = util_now_ms();
	if (gate == TURN_GATE_ASK) {
		t->t_round_calls++;
		if ((ev = json_pack("{s:s, s:s, s:s}", "type", "tool_use",
		    "id", id, "name", name)) != NULL) {
			turn_event(t, ev);
			json_decref(ev);
		}
	}
	memset(&r, 0, sizeof(r));
	status = NULL;
	v = GUARD_ALLOW;
	msg[0] = '\0';
	if (gate == TURN_GATE_DECIDED) {
		r = *rg;
		memset(rg, 0, sizeof(*rg));
		status = r.tr_is_error ? "denied" : NULL;
	} else if (gate == TURN_GATE_ASK && (t->t_round_skip ||
	    t->t_interrupted)) {
		(void)tool_result_set(&r, 1, 0, "Skipped: %s",
		    t->t_round_skip ? "an earlier call in this batch failed" :
		    "the turn was interrupted");
		status = "skipped";
	} else if (gate == TURN_GATE_ASK && (v = loop_guard_check(t->t_guard,
	    name, input, msg, sizeof(msg))) == GUARD_BREAK) {
		/* Repair answers the calls left without results. */
		turn_fail(t, db, 500, "%s", msg);
		return (TURN_CALL_FAILED);
	} else if (v == GUARD_BLOCK) {
		(void)tool_result_set(&r, 1, 0, "%s", msg);
		status = "skipped";
		t->t_round_soft++;
	} else if (json_object_get(input, "__args_invalid") != NULL) {
		(void)tool_result_set(&r, 1, 0, "Invalid arguments for "
		    "'%s': they are not a JSON object (%.200s). Call "
		    "the tool again with a JSON object that matches "
		    "its schema.", name, json_string_value(
		    json_object_get(input, "__args_invalid")) ?: "");
	} else if (mcp_is_tool(name) && t->t_tool_allow == NULL &&
	    !json_is_true(json_object_get(t->t_manifest,
	    "tools_disabled"))) {
		if (gate == TURN_GATE_ASK && (av = approval_gate(t, db, id,
		    name, input, &r, turn_job_approval)) != APPROVAL_RUN)
			goto gated;
		turn_pool_block();
		rv = mcp_tool_run(t->t_manifest, mode, name, input, &r);
		turn_pool_unblock();
		if (rv != 0 || r.tr_content == NULL) {
			tool_result_release(&r);
			(void)tool_result_set(&r, 1, 1,
			    "out of memory");
		}
	} else if (!tool_granted(t->t_manifest, tool_canonical(name)) ||
	    !tool_mode_allows(mode, name) ||
	    !turn_tool_allowed(t, name) ||
	    json_is_true(json_object_get(t->t_manifest,
	    "tools_disabled"))) {
		(void)tool_result_set(&r, 1, 0, "Permission denied: "
		    "agent does not have capability to use tool '%s'",
		    name);
	} else if (tc.tc_workspace == NULL) {
		(void)tool_result_set(&r, 1, 0, "The agent's "
		    "workspace is not available");
	} else if (gate == TURN_GATE_ASK && (av = approval_gate(t, db, id,
	    name, input, &r, turn_job_approval)) != APPROVAL_RUN) {
		goto gated;
	} else if (turn_tool_run(&tc, name, input, &r) != 0 ||
	    r.tr_content == NULL) {
		tool_result_release(&r);
		(void)tool_result_set(&r, 1, 1, "out of memory");
	} else {
		char	om[256];

		if (v != GUARD_WARN)
			msg[0] = '\0';
		if (loop_guard_outcome(t->t_guard, name, input,
		    r.tr_content, om, sizeof(om)) == GUARD_WARN)
			snprintf(msg + strlen(msg), sizeof(msg) -
			    strlen(msg), "%s%s", msg[0] ? " " : "", om);
	}
	if (0) {
 gated:
		if (av == APPROVAL_PAUSED)
			return (TURN_CALL_PAUSED);
		if (av == APPROVAL_ERROR) {
			tool_result_release(&r);
			turn_fail(t, db, 503, "database unavailable");
			return (TURN_CALL_FAILED);
		}
		status = "denied";
	}
	if (r.tr_content == NULL) {
		turn_fail(t, db, 500, "out of memory");
		return (TURN_CALL_FAILED);
	}
	is_error = r.tr_is_error;
	if (r.tr_hard) {
		t->t_round_hard++;
		t->t_round_skip = 1;
	} else if (!is_error)
		t->t_round_ok++;
	buf_init(&out, TOOL_RESULT_MAX + sizeof(msg) + 8);
	if (status == NULL && msg[0] != '\0')
		(void)buf_addf(&out, "%s\n\n[%s]", r.tr_content, msg);
	else
		(void)buf_adds(&out, r.tr_content);
	text = buf_detach(&out);
	tool_result_release(&r);
	if (text == NULL)
		text = strdup("");
	if (status == NULL)
		status = is_error ? "error" : "success";
	/* The call happened whatever becomes of the turn: its entry
	 * is a statement of its own.  A failure is logged; the turn
	 * goes on (the tool's effect cannot be undone). */
	{
		char	ad[320];

		snprintf(ad, sizeof(ad), "tool '%.128s' (call %.64s)",
		    name, id);
		(void)audit_record(db, AUDIT_TOOL_INVOKE,
		    t->t_agent_id, ad, status);
	}
	blk = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "type",
	    "tool_result", "tool_use_id", id, "tool_name", name,
	    "content", text ? text : "", "is_error", is_error,
	    "status", status);
	slen = text ? strnlen(text, 200) : 0;
	/* Cut on a UTF-8 character boundary. */
	while (slen > 0 && slen < strlen(text) &&
	    ((unsigned char)text[slen] & 0xc0) == 0x80)
		slen--;
	trace = json_pack("{s:s, s:s, s:O?, s:b, s:b, s:s%, s:I, s:i}",
	    "tool_use_id", id, "tool_name", name, "input", input,
	    "is_error", is_error, "recovered_from_text", 0,
	    "output_summary", text ? text : "", slen, "execution_ms",
	    (json_int_t)(util_now_ms() - t0), "iteration", t->t_iter);
	if (trace != NULL) {
		char	ts[32];

		util_rfc3339(util_wall_ms(), ts);
		json_object_set_new(trace, "timestamp", json_string(ts));
		obs_tool(t, trace, status);	/* agent/obs.c */
		json_array_append_new(t->t_traces, trace);
	}
	if ((ev = json_pack("{s:s, s:s, s:s, s:O?, s:s, s:b}", "type",
	    "tool_result", "id", id, "name", name, "input", input,
	    "content", text ? text : "", "is_error", is_error)) !=
	    NULL) {
		turn_event(t, ev);
		json_decref(ev);
	}
	free(text);
	if (blk == NULL || json_array_append_new(t->t_results, blk) != 0) {
		turn_fail(t, db, 500, "out of memory");
		return (TURN_CALL_FAILED);
	}
	return (TURN_CALL_DONE);
}

/* Runs the tool calls of one answer (notes 4.4.6 tool_use): the round's
 * state lives on t, so that a call waiting for an approval pauses the
 * round (no thread held) and turn_job_approval() goes on from it. */
static void
turn_tools(struct turn *t, struct db *db, json_t *content)
{
	json_decref(t->t_results);
	json_decref(t->t_round);
	t->t_round = NULL;
	if ((t->t_results = json_array()) == NULL ||
	    turn_append(t, turn_msg("assistant", json_incref(content))) != 0) {
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	t->t_round = json_incref(content);
	t->t_round_i = 0;
	t->t_round_calls = t->t_round_ok = t->t_round_hard = 0;
	t->t_round_soft = t->t_round_skip = t->t_round_wrote = 0;
	turn_tools_next(t, db);
}

static void
turn_tools_next(struct turn *t, struct db *db)
{
	json_t		*b;
	const char	*type;

	for (; t->t_round_i < json_array_size(t->t_round); t->t_round_i++) {
		b = json_array_get(t->t_round, t->t_round_i);
		type = json_string_value(json_object_get(b, "type")) ?: "";
		if (strcmp(type, "text") == 0 && json_string_length(
		    json_object_get(b, "text")) > 0)
			t->t_round_wrote = 1;
		if (strcmp(type, "tool_use") != 0)
			continue;
		switch (turn_tool_call(t, db, b, TURN_GATE_ASK, NULL)) {
		case TURN_CALL_DONE:
			break;
		case TURN_CALL_PAUSED:	/* t is the waiters' now */
		case TURN_CALL_FAILED:
			return;
		}
	}
	turn_tools_end(t, db);
}

/* The round is done: its results join the history, saved. */
static void
turn_tools_end(struct turn *t, struct db *db)
{
	json_t	*results = t->t_results;
	int	 rv;

	t->t_results = NULL;
	json_decref(t->t_round);
	t->t_round = NULL;
	if (turn_append(t, turn_msg("user", results)) != 0) {
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	rv = turn_save(t, db, 0);
	obs_flush(t, db);	/* this round's log lines */
	if (rv == SESSION_EFENCE) {
		turn_fail(t, db, turn_fenced_status(t), "%s",
		    TURN_FENCED_ERROR);
		return;
	}
	if (t->t_round_ok == 0 && t->t_round_hard > 0) {
		if (++t->t_fail_streak >= 3) {
			turn_fail(t, db, 500, "RepeatedToolFailures: 3 tool "
			    "rounds in a row failed");
			return;
		}
	} else
		t->t_fail_streak = 0;
	if (t->t_round_soft == t->t_round_calls && !t->t_round_wrote) {
		if (++t->t_stall >= 2)
			t->t_no_tools = 1;	/* force a prose answer */
	} else
		t->t_stall = 0;
	turn_iterate(t, db);
}

static int
turn_has_tool_use(json_t *content)
{
	json_t	*b;
	size_t	 i;

	json_array_foreach(content, i, b)
		if (strcmp(json_string_value(json_object_get(b, "type")) ?: "",
		    "tool_use") == 0)
			return (1);
	return (0);
}

/*
 * A streamed answer cut at its reservation (turn/turn.c): the text the
 * client was shown becomes the assistant's message (so the history
 * stays valid: no tool call without its result), the output counted so
 * far is spent (the provider's own usage when the call ended before the
 * cancel reached it), a BudgetExceeded entry is recorded, and the turn
 * ends with 429 budget_exceeded: a streaming client gets it as its
 * final error event.
 */
static void
turn_budget_cut(struct turn *t, struct db *db, int err, json_t *resp)
{
	struct turn_usage	 one;
	long long		 out = (long long)((t->t_stream_chars + 3) / 4);
	char			*text, why[256];

	if (err == 0)
		turn_add_usage(t, resp);
	else {
		/* No usage event came: the reserved input and the counted
		 * output, at the reserved prices. */
		memset(&one, 0, sizeof(one));
		one.u_in = t->t_budget_in;
		one.u_out = out;
		t->t_usage.u_in += one.u_in;
		t->t_usage.u_out += one.u_out;
		t->t_usage.u_cost += turn_cost(&one, t->t_budget_in_per_m,
		    t->t_budget_out_per_m);
		if (t->t_provider[0] == '\0' && t->t_nchain > 0) {
			snprintf(t->t_provider, sizeof(t->t_provider), "%s",
			    t->t_chain[0].ct_provider);
			snprintf(t->t_model, sizeof(t->t_model), "%s",
			    t->t_chain[0].ct_model);
		}
	}
	if ((text = buf_detach(&t->t_stream_text)) != NULL && *text != '\0')
		(void)turn_append(t, turn_msg("assistant", json_string(text)));
	else
		(void)turn_append(t, turn_msg("assistant", json_string(
		    "[the answer was cut: the budget ran out]")));
	free(text);
	snprintf(why, sizeof(why), "Agent '%s': the streamed answer was cut "
	    "at ~%lld output tokens, past the %lld its reservation allowed",
	    t->t_agent_name, out, t->t_budget_out);
	(void)audit_record(db, AUDIT_BUDGET_EXCEEDED, t->t_agent_id, why,
	    "denied");
	turn_fail(t, db, 429, "budget_exceeded: %s", why);
}

static void
turn_job_answer(struct turn *t, struct db *db)
{
	json_t		*resp, *content, *stored, *b;
	const char	*stop, *why;
	char		*text;
	size_t		 i;
	int		 err, silent;

	resp = turn_take_answer(t, &err);
	obs_llm_answer(t, err, resp);	/* agent/obs.c: fallbacks */
	if (turn_stopping()) {
		json_decref(resp);
		turn_fail(t, db, 503, "agent-runtime is shutting down; the "
		    "session was saved");
		return;
	}
	if (t->t_budget_cut) {
		turn_budget_cut(t, db, err, resp);
		json_decref(resp);
		return;
	}
	if (err == SH_ECANCELED) {
		json_decref(resp);
		log_info("turn of agent %s on session %s stopped",
		    t->t_agent_id, t->t_session_id);
		obs_interrupted(t);	/* agent/obs.c */
		turn_finish(t, db, 1);
		return;
	}
	if (err != 0) {
		why = json_string_value(json_object_get(resp, "error"));
		turn_fail(t, db, 500, "message_delivery_failed: %s",
		    why ? why : sh_strerror(err));
		json_decref(resp);
		return;
	}
	turn_add_usage(t, resp);
	content = json_object_get(resp, "content");
	stop = json_string_value(json_object_get(resp, "stop_reason")) ?: "";
	if (!json_is_array(content)) {
		json_decref(resp);
		turn_fail(t, db, 500, "message_delivery_failed: the provider's "
		    "answer has no content");
		return;
	}
	if (turn_has_tool_use(content)) {
		turn_tools(t, db, content);
		json_decref(resp);
		return;
	}
	text = session_content_text(content);
	if (text == NULL) {
		json_decref(resp);
		turn_fail(t, db, 500, "out of memory");
		return;
	}
	silent = turn_directives(text);
	if (strcmp(stop, "content_filtered") == 0) {
		(void)turn_append(t, turn_msg("assistant", json_string(*text ?
		    text : "[content filtered by provider]")));
		free(text);
		json_decref(resp);
		turn_fail(t, db, 500, "ContentFiltered: the provider filtered "
		    "the response");
		return;
	}
	if (silent) {
		(void)turn_append(t, turn_msg("assistant",
		    json_string("[no reply needed]")));
		free(text);
		json_decref(resp);
		turn_finish(t, db, 1);
		return;
	}
	if (*text == '\0' && !t->t_empty_retry) {
		/* One retry of an empty answer (notes 4.4.6). */
		t->t_empty_retry = 1;
		(void)turn_append(t, turn_msg("assistant",
		    json_string("[no response]")));
		(void)turn_append(t, turn_msg("user",
		    json_string("Please provide your response.")));
		free(text);
		json_decref(resp);
		turn_iterate(t, db);
		return;
	}
	/* Stored: the thinking blocks, then the cleaned text. */
	if ((stored = json_array()) != NULL) {
		json_array_foreach(content, i, b)
			if (strcmp(json_string_value(json_object_get(b,
			    "type")) ?: "", "thinking") == 0)
				json_array_append(stored, b);
		json_array_append_new(stored, json_pack("{s:s, s:s}", "type",
		    "text", "text", text));
		(void)turn_append(t, turn_msg("assistant", stored));
	}
	json_decref(t->t_text);
	t->t_text = json_string(text);
	free(text);
	json_decref(resp);
	turn_finish(t, db, 0);
}
