/*
 * trigger/fire.c - the events thread: every event on TOPIC_EVENTS against
 * the enabled triggers, each match fired once across replicas
 * (notes/kernel.md 2.4, 2.5; trigger/trigger.h).
 *
 * Every replica sees every event (PUB/SUB) and evaluates it the same way,
 * in trigger id order.  For a match, one transaction decides the fire:
 *	1. insert the (trigger, event) row of trigger_fires; a conflict means
 *	   another replica holds it (the insert waits for its transaction),
 *	   and this one goes on to the next trigger;
 *	2. count it on the trigger (enabled, under max_fires, which disables
 *	   the trigger when reached) in one UPDATE, so no count is lost;
 *	3. take the cooldown of (trigger, subject) with one upsert that only
 *	   moves a timestamp older than the cooldown.
 * Any step that finds the fire not allowed rolls the whole back.  The
 * committed row (status running, a lease) is the durable record; then the
 * turn is asked for (or, for a trigger naming a workflow, the workflow's
 * run is started: fire_workflow(), a short call), asynchronously, under the idempotency key
 * "trigger:<trigger>:<event>", and core's completion thread writes its
 * outcome on the row.  A row whose lease ran out (its replica died) is
 * taken over by any replica, which asks for the turn again under the same
 * key: agent-runtime answers it from the first turn if that one ran.
 *
 * PUB/SUB may drop an event under load; a dropped event fires nothing,
 * which is the bus's contract (ARCHITECTURE.md 3), but nothing decided
 * is ever lost or doubled.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "core/sched.h"
#include "db.h"
#include "err.h"
#include "interest.h"
#include "log.h"
#include "msg.h"
#include "services.h"
#include "trigger/trigger.h"
#include "util.h"

#define FIRE_SWEEP_MS		5000	/* how often leases are looked at */
#define FIRE_LEASE_SLACK_SECS	15	/* a lease: the turn's timeout +
					   this (the holder records a timeout
					   by then) */
#define FIRE_TAKEOVER_BATCH	20
#define FIRE_RETRY_SECS		10	/* the first turn still runs: again
					   in that long */
#define FIRE_WORKFLOW_MS	10000	/* workflows.run, not waiting for the
					   run: only its start */
/* The namespace of per-fire session ids (session_mode "new"). */
#define FIRE_SESSION_NS		"3f1c6d9e-2b7a-4e55-9c1d-7a0b5e8f2c41"
#define FIRE_DELIVERY		"none: the agent has no home channel " \
				"(channels are not available yet)"

static struct {
	pthread_t		 thread;
	int			 running;
	atomic_int		 stop;
	struct bus_sub		*sub;
	long long		 max_depth;
	long long		 cooldown;
	long long		 per_event;
	long long		 lease_secs;
} tf;

static const char SQL_TRIGGERS[] =
	"SELECT id::text, agent_id::text, pattern::text, prompt_template, "
	"    cooldown_secs, session_mode, target_agent_id::text, workflow_id "
	"FROM triggers WHERE enabled ORDER BY id";
static const char SQL_FIRE_INSERT[] =
	"INSERT INTO trigger_fires (trigger_id, event_id, event_type, "
	"    description, depth, recipient, message, session_id, status, "
	"    delivery, error, claimed_by, lease_until, completed_at) "
	"VALUES ($1::uuid, $2::uuid, $3, $4, $5::integer, $6::uuid, $7, "
	"    $8::uuid, $9, $10, $11, $12, "
	"    CASE WHEN $9 = 'running' THEN clock_timestamp() + "
	"        make_interval(secs => $13::bigint) END, "
	"    CASE WHEN $9 <> 'running' THEN clock_timestamp() END) "
	"ON CONFLICT (trigger_id, event_id) DO NOTHING RETURNING 1";
static const char SQL_COUNT_FIRE[] =
	"UPDATE triggers SET fire_count = fire_count + 1, "
	"    last_fired_at = clock_timestamp(), "
	"    enabled = (max_fires = 0 OR fire_count + 1 < max_fires) "
	"WHERE id = $1::uuid AND enabled "
	"    AND (max_fires = 0 OR fire_count < max_fires) RETURNING 1";
static const char SQL_COOLDOWN[] =
	"INSERT INTO trigger_cooldowns AS c (trigger_id, subject, "
	"    last_fired_at) VALUES ($1::uuid, $2, clock_timestamp()) "
	"ON CONFLICT (trigger_id, subject) DO UPDATE "
	"    SET last_fired_at = EXCLUDED.last_fired_at "
	"    WHERE c.last_fired_at <= clock_timestamp() - "
	"        make_interval(secs => $3::bigint) "
	"    OR c.last_fired_at > clock_timestamp() "
	"RETURNING 1";
static const char SQL_FIRE_DONE[] =
	"UPDATE trigger_fires SET status = $3, response = $4, error = $5, "
	"    input_tokens = $6::bigint, output_tokens = $7::bigint, "
	"    completed_at = clock_timestamp(), lease_until = NULL "
	"WHERE trigger_id = $1::uuid AND event_id = $2::uuid "
	"    AND status = 'running'";
static const char SQL_DROP_OWNER[] =
	"DELETE FROM triggers WHERE agent_id = $1::uuid";
static const char SQL_FIRE_LEASE[] =
	"UPDATE trigger_fires SET lease_until = clock_timestamp() + "
	"    make_interval(secs => $3::bigint) "
	"WHERE trigger_id = $1::uuid AND event_id = $2::uuid "
	"    AND status = 'running'";
static const char SQL_TAKEOVER[] =
	"UPDATE trigger_fires f SET claimed_by = $1, lease_until = "
	"    clock_timestamp() + make_interval(secs => $2::bigint) "
	"FROM (SELECT trigger_id, event_id FROM trigger_fires "
	"    WHERE status = 'running' AND lease_until < clock_timestamp() "
	"    ORDER BY lease_until LIMIT $3::integer "
	"    FOR UPDATE OF trigger_fires SKIP LOCKED) d, triggers t "
	"WHERE f.trigger_id = d.trigger_id AND f.event_id = d.event_id "
	"    AND t.id = f.trigger_id "
	"RETURNING f.trigger_id::text, f.event_id::text, f.recipient::text, "
	"    f.message, f.session_id::text, f.depth, t.workflow_id, "
	"    t.session_mode IS NULL";

long long
trigger_conf(const struct sh_config *cfg, const char *key, long long min,
    long long max, long long def)
{
	json_t	*v = json_object_get(json_object_get(cfg->cf_doc,
	    "scheduler"), key);

	if (v == NULL)
		return (def);
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		log_warnx("%s: [scheduler] %s must be an integer in "
		    "%lld..%lld; using %lld", __func__, key, min, max, def);
		return (def);
	}
	return (json_integer_value(v));
}

/* One event, as the thread evaluates it. */
struct fire_event {
	json_t		*fe_event;	/* borrowed */
	const char	*fe_id;
	const char	*fe_type;
	char		*fe_desc;	/* owned */
	int		 fe_depth;
	int		 fe_report;	/* a turn's, a fire's or a run's
					   report on itself (fire_report()) */
};

/* ---- a turn's outcome --------------------------------------------------- */

/* What the completion thread needs to record a turn: (trigger, event). */
struct fire_ref {
	char	fr_trigger[UTIL_UUID_LEN];
	char	fr_event[UTIL_UUID_LEN];
};

/*
 * The outcome is not known yet: the fire stays running and its lease is
 * moved to secs from now, when a replica (maybe this one) asks again.
 */
static void
fire_later(struct db *db, struct fire_ref *fr, int secs)
{
	const char	*p[3];
	char		 s[16];

	snprintf(s, sizeof(s), "%d", secs);
	p[0] = fr->fr_trigger;
	p[1] = fr->fr_event;
	p[2] = s;
	if (db == NULL || db_cmd(db, SQL_FIRE_LEASE, 3, p) != 0)
		log_warnx("%s: could not move the lease of trigger '%s' for "
		    "event '%s': %s", __func__, fr->fr_trigger, fr->fr_event,
		    db != NULL ? db_errmsg(db) : "no database");
}

/* Runs on core's completion thread: the outcome onto the fire's row. */
static void
fire_done(void *arg, struct db *db, int status, json_t *body)
{
	struct fire_ref	*fr = arg;
	const char	*p[7], *err, *code;
	char		 in[24], out[24], ebuf[64];
	json_t		*v;

	code = json_string_value(json_object_get(body, "code"));
	/* A takeover found the first turn under the key still running. */
	if (status == 409 && code != NULL &&
	    strcmp(code, "turn_in_progress") == 0) {
		fire_later(db, fr, FIRE_RETRY_SECS);
		free(fr);
		return;
	}
	/* Cancelled as this replica stops (core's 503): whether the turn
	 * ran is unknown, so another replica asks again under the key. */
	if (atomic_load(&tf.stop) && status >= 503) {
		fire_later(db, fr, 0);
		free(fr);
		return;
	}
	p[0] = fr->fr_trigger;
	p[1] = fr->fr_event;
	p[2] = status == 200 ? "completed" : "failed";
	p[3] = status == 200 ? json_string_value(json_object_get(body,
	    "response")) : NULL;
	err = json_string_value(json_object_get(body, "error"));
	if (err == NULL && json_is_object(json_object_get(body, "error")))
		err = json_string_value(json_object_get(json_object_get(body,
		    "error"), "message"));
	if (status != 200 && err == NULL) {
		snprintf(ebuf, sizeof(ebuf), "the turn failed with status %d",
		    status);
		err = ebuf;
	}
	p[4] = status == 200 ? NULL : err;
	p[5] = p[6] = NULL;
	if (json_is_integer(v = json_object_get(body, "input_tokens"))) {
		snprintf(in, sizeof(in), "%lld", (long long)json_integer_value(v));
		p[5] = in;
	}
	if (json_is_integer(v = json_object_get(body, "output_tokens"))) {
		snprintf(out, sizeof(out), "%lld",
		    (long long)json_integer_value(v));
		p[6] = out;
	}
	if (db == NULL || db_cmd(db, SQL_FIRE_DONE, 7, p) != 0)
		log_warnx("%s: could not record the fire of trigger '%s' for "
		    "event '%s': %s", __func__, fr->fr_trigger, fr->fr_event,
		    db != NULL ? db_errmsg(db) : "no database");
	free(fr);
}

/* Records why a turn could not even be asked for. */
static void
fire_not_asked(struct db *db, const char *trigger, const char *event)
{
	const char	*p[7] = { trigger, event, "failed", NULL,
			    "could not ask agent-runtime for the turn (no bus "
			    "or the scheduler is stopping)", NULL, NULL };

	if (db_cmd(db, SQL_FIRE_DONE, 7, p) != 0)
		log_warnx("%s: could not record the fire of trigger '%s': %s",
		    __func__, trigger, db_errmsg(db));
}

/* Asks for the fire's turn; its outcome lands on the row (fire_done). */
static void
fire_ask(struct db *db, const char *trigger, const char *event,
    const char *recipient, const char *message, const char *session_id,
    int depth, int follow)
{
	struct sched_turn	 t;
	struct fire_ref		*fr;
	char			 key[128];

	if ((fr = calloc(1, sizeof(*fr))) == NULL) {
		fire_not_asked(db, trigger, event);
		return;
	}
	snprintf(fr->fr_trigger, sizeof(fr->fr_trigger), "%s", trigger);
	snprintf(fr->fr_event, sizeof(fr->fr_event), "%s", event);
	snprintf(key, sizeof(key), "trigger:%s:%s", trigger, event);
	memset(&t, 0, sizeof(t));
	t.st_agent_id = recipient;
	t.st_message = message;
	t.st_session_id = session_id;
	t.st_session_create = session_id != NULL;
	t.st_principal = "trigger";
	t.st_event_depth = depth + 1;
	t.st_idempotency_key = key;
	t.st_trigger_id = trigger;
	/* No session_mode of the trigger's own: the recipient's manifest
	 * decides, "new" being this fire's own session. */
	if (session_id == NULL && follow)
		t.st_session_key = key;
	if (sched_turn_start(&t, fire_done, fr) != 0) {
		free(fr);
		fire_not_asked(db, trigger, event);
	}
}

/*
 * A workflow trigger's fire (notes/kernel.md 2.5): the rendered prompt
 * is the input of a run of the workflow (workflows.run, not waiting for
 * it), under the fire's key, so a fire asked twice is one run.  The fire
 * is done once the run is started; the run's outcome is the run's
 * (GET /api/workflows/{id}/runs).
 */
static void
fire_workflow(struct db *db, const char *trigger, const char *event,
    const char *workflow, const char *message, int depth)
{
	struct msg_rep	 rep;
	json_t		*req;
	const char	*p[7], *run, *e;
	char		 key[128], text[160], why[256];
	int		 rv = SH_ENOMEM, timeout = FIRE_WORKFLOW_MS;

	snprintf(key, sizeof(key), "trigger:%s:%s", trigger, event);
	req = msg_request(OP_WORKFLOWS_RUN, NULL, util_wall_ms() + timeout,
	    json_pack("{s:s, s:i}", "principal", "trigger", "event_depth",
	    depth + 1), json_object(), NULL, json_pack("{s:s, s:s, s:b, s:s}",
	    "workflow_id", workflow, "input", message, "wait", 0,
	    "idempotency_key", key));
	memset(&rep, 0, sizeof(rep));
	if (req != NULL && sched.s_bus != NULL)
		rv = bus_call(sched.s_bus, SVC_SCHEDULER, req, timeout, &rep);
	json_decref(req);
	p[0] = trigger;
	p[1] = event;
	p[3] = p[4] = p[5] = p[6] = NULL;
	if (rv != 0) {
		/* Whether the run started is unknown: the lease runs out and
		 * a replica asks again under the key. */
		log_warnx("%s: trigger '%s' on event '%s': workflows.run: %s",
		    __func__, trigger, event, sh_strerror(rv));
		return;
	}
	run = json_string_value(json_object_get(rep.mp_body, "run_id"));
	if (rep.mp_status >= 200 && rep.mp_status < 300 && run != NULL) {
		snprintf(text, sizeof(text), "workflow run %s started", run);
		p[2] = "completed";
		p[3] = text;
	} else {
		e = json_string_value(json_object_get(rep.mp_body, "error"));
		snprintf(why, sizeof(why), "workflow '%s' did not start: %s",
		    workflow, e != NULL ? e : "no run id");
		p[2] = "failed";
		p[4] = why;
	}
	if (db_cmd(db, SQL_FIRE_DONE, 7, p) != 0)
		log_warnx("%s: could not record the fire of trigger '%s': %s",
		    __func__, trigger, db_errmsg(db));
	msg_rep_release(&rep);
}

/*
 * The fire decided here, announced once (only the replica whose
 * transaction inserted it gets here; a takeover does not announce it
 * again): a Custom event {type: "trigger.fired", ...} one deeper than the
 * event that fired it, which no trigger matches (fire_report()).  Never
 * a Message: a trigger on messages is not told of fires.
 */
static void
fire_announce(const char *trigger, const char *owner, const char *recipient,
    const char *workflow, const struct fire_event *fe)
{
	json_t	*data, *ev;

	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type",
	    "trigger.fired", "trigger_id", trigger, "agent_id", owner,
	    "recipient", recipient, "event_id", fe->fe_id, "event_type",
	    fe->fe_type);
	if (data != NULL && workflow != NULL)
		json_object_set_new(data, "workflow_id", json_string(workflow));
	if ((ev = msg_event(owner, "Custom", data, fe->fe_depth + 1)) == NULL)
		return;
	sched_publish(TOPIC_EVENTS, ev);
	json_decref(ev);
}

/* A decided fire: the workflow's run when the trigger names one, else
 * the recipient's turn. */
static void
fire_start(struct db *db, const char *trigger, const char *event,
    const char *recipient, const char *message, const char *session_id,
    int depth, const char *workflow, int follow)
{
	if (workflow != NULL)
		fire_workflow(db, trigger, event, workflow, message, depth);
	else
		fire_ask(db, trigger, event, recipient, message, session_id,
		    depth, follow);
}

/* ---- deciding a fire ---------------------------------------------------- */

/*
 * The transaction of the header comment for trigger row i of res.
 * Returns 1 when the fire exists (decided here or by another replica,
 * fired or refused), 0 when the trigger may not fire (cooling down, no
 * longer enabled), -1 on a database failure.
 */
static int
fire_decide(struct db *db, PGresult *res, int i, const struct fire_event *fe,
    json_t *pattern, const char **statusp, char **messagep,
    char session[UTIL_UUID_LEN])
{
	PGresult	*r = NULL;
	const char	*tid = PQgetvalue(res, i, 0), *p[13], *status, *err;
	const char	*recipient, *subject;
	char		 depth[16], lease[24], cool[24], name[160];
	char		*message = NULL;
	long long	 cooldown = tf.cooldown;
	int		 rv = -1, began = 0, counted;

	*messagep = NULL;
	session[0] = '\0';
	recipient = !PQgetisnull(res, i, 6) ? PQgetvalue(res, i, 6) :
	    PQgetvalue(res, i, 1);
	if (!PQgetisnull(res, i, 4))
		(void)util_strtonum(PQgetvalue(res, i, 4), 0,
		    TRIGGER_COOLDOWN_MAX, &cooldown);
	subject = trigger_subject(pattern, fe->fe_event);
	err = NULL;
	if (fe->fe_depth >= tf.max_depth) {
		status = "refused";
		err = "the trigger chain reached its depth limit "
		    "([scheduler] trigger_max_depth)";
	} else
		status = "running";
	if ((message = trigger_render(PQgetvalue(res, i, 3), fe->fe_desc)) ==
	    NULL) {
		status = "failed";
		err = "the rendered prompt is too large";
		message = strdup("");
	}
	if (message == NULL)
		return (-1);
	if (!PQgetisnull(res, i, 5) && strcmp(PQgetvalue(res, i, 5),
	    "new") == 0) {
		snprintf(name, sizeof(name), "trigger:%s:%s", tid, fe->fe_id);
		if (util_uuid5(FIRE_SESSION_NS, name, session) != 0)
			session[0] = '\0';
	}
	snprintf(depth, sizeof(depth), "%d", fe->fe_depth);
	snprintf(lease, sizeof(lease), "%lld", tf.lease_secs);
	snprintf(cool, sizeof(cool), "%lld", cooldown);
	p[0] = tid;
	p[1] = fe->fe_id;
	p[2] = fe->fe_type;
	p[3] = fe->fe_desc;
	p[4] = depth;
	p[5] = recipient;
	p[6] = message;
	p[7] = session[0] != '\0' ? session : NULL;
	p[8] = status;
	p[9] = FIRE_DELIVERY;
	p[10] = err;
	p[11] = sched.s_replica;
	p[12] = lease;
	if (db_cmd(db, "BEGIN", 0, NULL) != 0)
		goto done;
	began = 1;
	if ((r = db_exec(db, SQL_FIRE_INSERT, 13, p)) == NULL)
		goto done;
	if (PQntuples(r) == 0) {
		rv = 1;		/* another replica's */
		goto done;
	}
	PQclear(r);
	r = NULL;
	/* A refusal is a record, not a fire: no count, no cooldown. */
	if (strcmp(status, "refused") != 0) {
		if ((r = db_exec(db, SQL_COUNT_FIRE, 1, p)) == NULL)
			goto done;
		counted = PQntuples(r) > 0;
		PQclear(r);
		r = NULL;
		if (!counted) {
			rv = 0;
			goto done;
		}
		p[1] = subject;
		p[2] = cool;
		if (cooldown > 0) {
			if ((r = db_exec(db, SQL_COOLDOWN, 3, p)) == NULL)
				goto done;
			if (PQntuples(r) == 0) {
				rv = 0;
				goto done;
			}
		}
	}
	if (db_cmd(db, "COMMIT", 0, NULL) != 0)
		goto done;
	began = 0;
	*statusp = status;
	*messagep = message;
	message = NULL;
	rv = 1;
 done:
	PQclear(r);
	if (began)
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
	if (rv < 0)
		log_warnx("%s: could not decide the fire of trigger '%s' for "
		    "event '%s': %s", __func__, tid, fe->fe_id,
		    db_errmsg(db));
	free(message);
	return (rv);
}

/*
 * 1 for an event that reports a turn, a fire or a run on itself: a
 * turn's Message (agent-runtime's turn/notify.c), a failed turn's
 * Lifecycle Crashed, a fire's trigger.fired (fire_announce()), a
 * workflow run's end (workflow/run.c).  Such an event repeats the text
 * that caused it (a fire's turn is asked the rendered event; a run's
 * input is a fire's prompt), so when a trigger caused it (depth > 0)
 * matching it would fire the same triggers again on the same fact:
 * fire_event() leaves those alone, and the depth limit stays for the
 * chains a turn's tools start (memory writes, tasks).
 */
static int
fire_report(const char *type, json_t *data)
{
	const char	*v;

	if (strcmp(type, "Message") == 0)
		return (1);
	if (strcmp(type, "Lifecycle") == 0)
		return ((v = json_string_value(json_object_get(data,
		    "event"))) != NULL && strcmp(v, "Crashed") == 0);
	if (strcmp(type, "Custom") == 0)
		return ((v = json_string_value(json_object_get(data,
		    "type"))) != NULL && (strcmp(v, "trigger.fired") == 0 ||
		    strcmp(v, "workflow.completed") == 0 ||
		    strcmp(v, "workflow.failed") == 0));
	return (0);
}

/* Checks the envelope of an event: 0 with fe filled, or -1. */
static int
fire_event_parse(json_t *event, struct fire_event *fe)
{
	json_t	*v, *d;

	memset(fe, 0, sizeof(*fe));
	fe->fe_event = event;
	fe->fe_id = json_string_value(json_object_get(event, "id"));
	fe->fe_type = json_string_value(json_object_get(json_object_get(event,
	    "payload"), "type"));
	if (fe->fe_id == NULL || !util_uuid_valid(fe->fe_id) ||
	    fe->fe_type == NULL)
		return (-1);
	d = json_object_get(json_object_get(event, "payload"), "data");
	fe->fe_report = fire_report(fe->fe_type, d);
	v = json_object_get(event, "depth");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		fe->fe_depth = json_integer_value(v) > 1000 ? 1000 :
		    (int)json_integer_value(v);
	return (0);
}

/*
 * A killed agent's triggers go with it (notes/agent-core.md, kill step
 * 3), once its Terminated event has been matched.  Every replica does it;
 * the delete is idempotent.  A dropped event leaves them: their fires
 * then fail at agent-runtime (404), recorded.
 */
static void
fire_owner_gone(struct db *db, json_t *event)
{
	json_t		*d = json_object_get(json_object_get(event, "payload"),
			    "data");
	const char	*p[1];

	if (strcmp(json_string_value(json_object_get(json_object_get(event,
	    "payload"), "type")) ?: "", "Lifecycle") != 0 ||
	    strcmp(json_string_value(json_object_get(d, "event")) ?: "",
	    "Terminated") != 0 ||
	    (p[0] = json_string_value(json_object_get(d, "agent_id"))) ==
	    NULL || !util_uuid_valid(p[0]))
		return;
	if (db_cmd(db, SQL_DROP_OWNER, 1, p) != 0)
		log_warnx("%s: could not delete the triggers of agent '%s': %s",
		    __func__, p[0], db_errmsg(db));
}

static void
fire_event(struct db *db, json_t *event)
{
	struct fire_event	 fe;
	PGresult		*res;
	json_t			*pattern;
	json_error_t		 je;
	const char		*status = NULL, *owner;
	char			*message, session[UTIL_UUID_LEN];
	char			 name[160], *oname;
	long long		 matches = 0;
	int			 i, rv;

	if (fire_event_parse(event, &fe) != 0) {
		log_debug("%s: an event without an id or a payload type",
		    __func__);
		return;
	}
	if (fe.fe_report && fe.fe_depth > 0)
		return;
	if ((res = db_exec(db, SQL_TRIGGERS, 0, NULL)) == NULL) {
		log_warnx("%s: could not read the triggers for event '%s': %s",
		    __func__, fe.fe_id, db_errmsg(db));
		return;
	}
	for (i = 0; i < PQntuples(res) && matches < tf.per_event; i++) {
		if ((pattern = json_loads(PQgetvalue(res, i, 2), 0, &je)) ==
		    NULL)
			continue;
		owner = PQgetvalue(res, i, 1);
		oname = NULL;
		if (trigger_pattern_wants_name(pattern, event) &&
		    trigger_agent_lookup(owner, name, sizeof(name)) == 200)
			oname = name;
		if (!trigger_pattern_match(pattern, event, owner, oname)) {
			json_decref(pattern);
			continue;
		}
		if (fe.fe_desc == NULL &&
		    (fe.fe_desc = trigger_describe(event)) == NULL) {
			json_decref(pattern);
			break;
		}
		rv = fire_decide(db, res, i, &fe, pattern, &status, &message,
		    session);
		json_decref(pattern);
		if (rv > 0)
			matches++;
		if (rv <= 0 || message == NULL || status == NULL)
			continue;
		if (strcmp(status, "running") == 0)
			fire_announce(PQgetvalue(res, i, 0), owner,
			    !PQgetisnull(res, i, 6) ? PQgetvalue(res, i, 6) :
			    owner, PQgetisnull(res, i, 7) ? NULL :
			    PQgetvalue(res, i, 7), &fe);
		if (strcmp(status, "running") == 0)
			fire_start(db, PQgetvalue(res, i, 0), fe.fe_id,
			    !PQgetisnull(res, i, 6) ? PQgetvalue(res, i, 6) :
			    owner, message, session[0] != '\0' ? session :
			    NULL, fe.fe_depth, PQgetisnull(res, i, 7) ? NULL :
			    PQgetvalue(res, i, 7), PQgetisnull(res, i, 5));
		else
			log_info("trigger '%s' on event '%s': %s", PQgetvalue(res,
			    i, 0), fe.fe_id, status);
		free(message);
	}
	PQclear(res);
	free(fe.fe_desc);
	fire_owner_gone(db, event);
}

/* Fires whose replica died (lease out): asked for again, same key. */
static void
fire_takeover(struct db *db)
{
	PGresult	*res;
	const char	*p[3];
	char		 lease[24], batch[16];
	int		 i;

	snprintf(lease, sizeof(lease), "%lld", tf.lease_secs);
	snprintf(batch, sizeof(batch), "%d", FIRE_TAKEOVER_BATCH);
	p[0] = sched.s_replica;
	p[1] = lease;
	p[2] = batch;
	if ((res = db_exec(db, SQL_TAKEOVER, 3, p)) == NULL) {
		log_debug("%s: could not look at the leases: %s", __func__,
		    db_errmsg(db));
		return;
	}
	for (i = 0; i < PQntuples(res); i++) {
		log_info("trigger '%s' on event '%s': taking over a fire "
		    "whose lease ran out", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1));
		fire_start(db, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		    PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4),
		    (int)strtol(PQgetvalue(res, i, 5), NULL, 10),
		    PQgetisnull(res, i, 6) ? NULL : PQgetvalue(res, i, 6),
		    strcmp(PQgetvalue(res, i, 7), "t") == 0);
	}
	PQclear(res);
}

static void *
fire_main(void *arg)
{
	struct db	*db;
	char		*topic;
	json_t		*body;
	uint64_t	 last = 0, now;
	int		 wait;

	(void)arg;
	db = sched_db_open();
	while (!atomic_load(&tf.stop)) {
		/* Until the next sweep is due (none without a database):
		 * trigger_stop() wakes the receive. */
		now = util_now_ms();
		if (db == NULL)
			wait = -1;
		else if (now - last >= FIRE_SWEEP_MS)
			wait = 0;
		else
			wait = (int)(FIRE_SWEEP_MS - (now - last));
		if (bus_sub_recv(tf.sub, wait, &topic, &body) == 0) {
			if (db != NULL)
				fire_event(db, body);
			free(topic);
			json_decref(body);
		}
		now = util_now_ms();
		if (db != NULL && now - last >= FIRE_SWEEP_MS) {
			last = now;
			fire_takeover(db);
		}
	}
	db_close(db);
	return (NULL);
}

/* events.interest (interest.h): can an enabled trigger match a turn's
 * Message events (trigger_pattern_match(): all, content_match)? */
static const char TRIGGER_INTEREST_SQL[] =
	"SELECT EXISTS (SELECT 1 FROM triggers WHERE enabled AND "
	"    (pattern ? 'all' OR pattern ? 'content_match')), "
	"    statement_timestamp()";

int
trigger_start(void)
{
	const struct sh_config	*cfg = sched.s_cfg;
	long long		 turn;
	int			 e;

	tf.max_depth = trigger_conf(cfg, "trigger_max_depth", 1, 100,
	    TRIGGER_DEPTH_DEFAULT);
	tf.cooldown = trigger_conf(cfg, "trigger_cooldown_secs", 0,
	    TRIGGER_COOLDOWN_MAX, TRIGGER_COOLDOWN_DEFAULT);
	tf.per_event = trigger_conf(cfg, "trigger_max_per_event", 1, 1000,
	    TRIGGER_PER_EVENT_DEFAULT);
	turn = cfg->turn_timeout_secs;
	if (turn <= 0 || turn > 86400)
		turn = 300;
	tf.lease_secs = turn + FIRE_LEASE_SLACK_SECS;
	atomic_store(&tf.stop, 0);
	if ((tf.sub = bus_sub_open(cfg->bus_url)) == NULL ||
	    bus_subscribe(tf.sub, TOPIC_EVENTS) != 0) {
		log_warnx("%s: could not subscribe to '%s' on '%s'", __func__,
		    TOPIC_EVENTS, cfg->bus_url);
		return (-1);
	}
	if ((e = pthread_create(&tf.thread, NULL, fire_main, NULL)) != 0) {
		log_warnx("%s: could not start the events thread: %s",
		    __func__, strerror(e));
		return (-1);
	}
	tf.running = 1;
	if (interest_start(cfg, "scheduler", SVC_SCHEDULER,
	    TRIGGER_INTEREST_SQL) != 0) {
		trigger_stop();
		return (-1);
	}
	return (0);
}

void
trigger_stop(void)
{
	interest_stop();
	if (tf.running) {
		atomic_store(&tf.stop, 1);
		bus_sub_wake(tf.sub);
		pthread_join(tf.thread, NULL);
		tf.running = 0;
	}
	bus_sub_close(tf.sub);
	tf.sub = NULL;
}
