/*
 * job/spec.c - a job's definition: the create and update bodies of both
 * views parsed and checked (job/job.h), a stored row read back as one,
 * and the next slot of each schedule kind.
 *
 * Every check says what is wrong in words a caller can act on; the
 * operations (ops.c) answer it as a 400.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cron/cron.h"
#include "job/job.h"
#include "svc.h"
#include "util.h"

static const char *const cron_keys[] = {
	"agent_id", "name", "schedule", "cron_expr", "tz", "prompt",
	"message", "action", "enabled", "one_shot", "session_mode",
	"delivery", "delivery_targets", "peer_id", "catch_up",
	"max_consecutive_failures", NULL
};
static const char *const sched_keys[] = {
	"agent_id", "name", "cron", "schedule", "tz", "prompt", "message",
	"workflow_id", "enabled", "session_mode", "delivery",
	"delivery_targets", "peer_id", "catch_up",
	"max_consecutive_failures", NULL
};

static int
in_list(const char *k, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(k, *list) == 0)
			return (1);
	return (0);
}

static const char *
str_of(json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

/* ---- time ------------------------------------------------------------ */

/* An RFC 3339 time to epoch seconds (rounded down); 0 or -1. */
int
job_parse_time(const char *s, int64_t *out)
{
	int64_t	ms;

	if (util_rfc3339_parse(s, &ms) != 0)
		return (-1);
	*out = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	return (0);
}

int
job_next_slot(const struct job_sched *s, int64_t after, int64_t *next,
    char *err, size_t errlen)
{
	struct cron	*c = NULL;
	char		 why[160];
	int		 rv = -1;

	if (strcmp(s->js_kind, "every") == 0) {
		*next = after + s->js_every;
		return (0);
	}
	if (strcmp(s->js_kind, "at") == 0) {
		if (s->js_at <= after) {
			if (err != NULL)
				snprintf(err, errlen, "the one-shot time is "
				    "in the past");
			return (-1);
		}
		*next = s->js_at;
		return (0);
	}
	if (cron_parse(s->js_expr, s->js_tz, &c, why, sizeof(why)) != 0) {
		if (err != NULL)
			snprintf(err, errlen, "%s", why);
		return (-1);
	}
	if (cron_next(c, after, next) != 0) {
		if (err != NULL)
			snprintf(err, errlen, "the cron expression '%s' never "
			    "fires", s->js_expr);
		goto done;
	}
	rv = 0;
done:
	cron_free(c);
	return (rv);
}

/* ---- parsing a body -------------------------------------------------- */

void
job_spec_init(struct job_spec *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->sp_enabled = -1;
	sp->sp_timeout = -1;
	sp->sp_max_failures = -1;
	sp->sp_one_shot = -1;
}

/* A string field of at most max bytes: 1 set, 0 absent, -1 (err) bad. */
static int
get_str(json_t *o, const char *key, size_t max, int allow_empty,
    const char **out, char *err, size_t errlen)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL)
		return (0);
	if (!json_is_string(v)) {
		snprintf(err, errlen, "'%s' must be a string", key);
		return (-1);
	}
	if (json_string_length(v) > max) {
		snprintf(err, errlen, "'%s' is longer than %zu bytes", key,
		    max);
		return (-1);
	}
	if (!allow_empty && json_string_length(v) == 0) {
		snprintf(err, errlen, "'%s' must not be empty", key);
		return (-1);
	}
	*out = json_string_value(v);
	return (1);
}

/* An integer field in [min, max]: 1 set, 0 absent or null (when
 * nullable: *out 0), -1 bad. */
static int
get_int(json_t *o, const char *key, long long min, long long max,
    int nullable, long long *out, char *err, size_t errlen)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL)
		return (0);
	if (json_is_null(v) && nullable) {
		*out = 0;
		return (1);
	}
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(err, errlen, "'%s' must be an integer from %lld to "
		    "%lld", key, min, max);
		return (-1);
	}
	*out = json_integer_value(v);
	return (1);
}

static int
get_bool(json_t *o, const char *key, int *out, char *err, size_t errlen)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL)
		return (0);
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "'%s' must be true or false", key);
		return (-1);
	}
	*out = json_is_true(v);
	return (1);
}

/* A five-field cron text: fields of 0-9 * / - , ? and names (the cron
 * module then says what else is wrong). */
static int
check_expr(const char *e, char *err, size_t errlen)
{
	int	 n = 0, in = 0;

	for (; *e != '\0'; e++) {
		if (*e == ' ' || *e == '\t') {
			in = 0;
			continue;
		}
		if (!isalnum((unsigned char)*e) && strchr("*/-,?", *e) == NULL) {
			snprintf(err, errlen, "invalid cron expression: "
			    "unexpected character '%c'", *e);
			return (-1);
		}
		if (!in)
			n++;
		in = 1;
	}
	if (n != 5) {
		snprintf(err, errlen, "invalid cron expression: expected 5 "
		    "fields (minute hour day-of-month month day-of-week), "
		    "got %d", n);
		return (-1);
	}
	return (0);
}

/* schedule as a cron text, or a {kind, ...} object. */
static int
parse_schedule(json_t *v, const char *tz, struct job_sched *s, char *err,
    size_t errlen)
{
	const char	*k, *kind, *at;
	json_t		*x;
	long long	 n;

	memset(s, 0, sizeof(*s));
	s->js_tz = tz;
	if (json_is_string(v)) {
		snprintf(s->js_kind, sizeof(s->js_kind), "cron");
		s->js_expr = json_string_value(v);
		return (check_expr(s->js_expr, err, errlen));
	}
	if (!json_is_object(v) || (kind = str_of(v, "kind")) == NULL) {
		snprintf(err, errlen, "'schedule' must be a cron expression "
		    "or an object with a 'kind' (cron, every, at)");
		return (-1);
	}
	json_object_foreach(v, k, x) {
		if (strcmp(k, "kind") != 0 && strcmp(k, "expr") != 0 &&
		    strcmp(k, "tz") != 0 && strcmp(k, "every_secs") != 0 &&
		    strcmp(k, "at") != 0) {
			snprintf(err, errlen, "unknown field 'schedule.%s'",
			    k);
			return (-1);
		}
	}
	if (strcmp(kind, "cron") == 0) {
		snprintf(s->js_kind, sizeof(s->js_kind), "cron");
		if (get_str(v, "expr", 256, 0, &s->js_expr, err, errlen) != 1 ||
		    get_str(v, "tz", 64, 1, &s->js_tz, err, errlen) < 0) {
			if (s->js_expr == NULL && *err == '\0')
				snprintf(err, errlen, "a cron schedule needs "
				    "'expr'");
			return (-1);
		}
		if (s->js_tz == NULL)
			s->js_tz = tz;
		return (check_expr(s->js_expr, err, errlen));
	}
	if (strcmp(kind, "every") == 0) {
		snprintf(s->js_kind, sizeof(s->js_kind), "every");
		if (get_int(v, "every_secs", job_conf.jc_min_interval,
		    JOB_EVERY_MAX_SECS, 0, &n, err, errlen) != 1) {
			if (*err == '\0')
				snprintf(err, errlen, "an every schedule "
				    "needs 'every_secs'");
			return (-1);
		}
		s->js_every = n;
		return (0);
	}
	if (strcmp(kind, "at") == 0) {
		snprintf(s->js_kind, sizeof(s->js_kind), "at");
		if (get_str(v, "at", 64, 0, &at, err, errlen) != 1 ||
		    job_parse_time(at, &s->js_at) != 0) {
			snprintf(err, errlen, "an at schedule needs 'at', an "
			    "RFC 3339 time");
			return (-1);
		}
		if (s->js_at > time(NULL) + JOB_AT_MAX_SECS) {
			snprintf(err, errlen, "the one-shot time is more than "
			    "365 days ahead");
			return (-1);
		}
		return (0);
	}
	snprintf(err, errlen, "unknown schedule kind '%s' (cron, every, at)",
	    kind);
	return (-1);
}

static int
parse_action(json_t *v, struct job_spec *sp, char *err, size_t errlen)
{
	const char	*k, *kind;
	json_t		*x;

	if (!json_is_object(v) || (kind = str_of(v, "kind")) == NULL) {
		snprintf(err, errlen, "'action' must be an object with a "
		    "'kind' (agent_turn, system_event)");
		return (-1);
	}
	json_object_foreach(v, k, x) {
		if (strcmp(k, "kind") != 0 && strcmp(k, "message") != 0 &&
		    strcmp(k, "text") != 0 && strcmp(k, "timeout_secs") != 0 &&
		    strcmp(k, "workflow_id") != 0 && strcmp(k, "input") != 0) {
			snprintf(err, errlen, "unknown field 'action.%s'", k);
			return (-1);
		}
	}
	if (strcmp(kind, "workflow") == 0) {
		sp->sp_action = "workflow";
		sp->sp_message = "";
		if (get_str(v, "workflow_id", JOB_WORKFLOW_MAX, 0,
		    &sp->sp_workflow, err, errlen) != 1) {
			if (*err == '\0')
				snprintf(err, errlen, "a workflow action needs "
				    "'workflow_id' (an id or a name)");
			return (-1);
		}
		if ((x = json_object_get(v, "input")) != NULL &&
		    !json_is_null(x)) {
			if (!json_is_string(x) && !json_is_object(x)) {
				snprintf(err, errlen, "'action.input' must be "
				    "a string or an object");
				return (-1);
			}
			sp->sp_wf_input = x;
		}
		return (get_int(v, "timeout_secs", 1, 3600, 1, &sp->sp_timeout,
		    err, errlen) < 0 ? -1 : 0);
	}
	if (strcmp(kind, "agent_turn") == 0) {
		sp->sp_action = "agent_turn";
		if (get_str(v, "message", JOB_MESSAGE_MAX, 0, &sp->sp_message,
		    err, errlen) != 1) {
			if (*err == '\0')
				snprintf(err, errlen, "an agent_turn action "
				    "needs 'message'");
			return (-1);
		}
		return (get_int(v, "timeout_secs", 10, 600, 1, &sp->sp_timeout,
		    err, errlen) < 0 ? -1 : 0);
	}
	if (strcmp(kind, "system_event") == 0) {
		sp->sp_action = "system_event";
		if (get_str(v, "text", JOB_EVENT_TEXT_MAX, 0, &sp->sp_message,
		    err, errlen) != 1) {
			if (*err == '\0')
				snprintf(err, errlen, "a system_event action "
				    "needs 'text'");
			return (-1);
		}
		return (0);
	}
	snprintf(err, errlen, "unknown action kind '%s' (agent_turn, "
	    "system_event, workflow)", kind);
	return (-1);
}

static int
check_name(const char *n, char *err, size_t errlen)
{
	const char	*p;

	for (p = n; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(" _-", *p) == NULL) {
			snprintf(err, errlen, "'name' may hold only letters, "
			    "digits, spaces, '_' and '-'");
			return (-1);
		}
	return (0);
}

/* Parses body for view v into sp: 0, or -1 with err. */
int
job_spec_parse(enum job_view v, json_t *body, struct job_spec *sp, char *err,
    size_t errlen)
{
	const char	*k, *s = NULL, *tz = NULL, *m = NULL;
	json_t		*x, *sch;

	*err = '\0';
	if (!json_is_object(body)) {
		snprintf(err, errlen, "request body must be a JSON object");
		return (-1);
	}
	json_object_foreach(body, k, x) {
		if (!in_list(k, v == VIEW_CRON ? cron_keys : sched_keys)) {
			snprintf(err, errlen, "unknown field '%.64s'", k);
			return (-1);
		}
	}
	if (get_str(body, "agent_id", 64, 0, &s, err, errlen) < 0)
		return (-1);
	if (s != NULL && svc_uuid_lower(s, sp->sp_agent) != 0) {
		snprintf(err, errlen, "'agent_id' must be an agent's UUID");
		return (-1);
	}
	if (get_str(body, "name", JOB_NAME_MAX, 0, &sp->sp_name, err,
	    errlen) < 0 || (sp->sp_name != NULL &&
	    check_name(sp->sp_name, err, errlen) != 0) ||
	    get_bool(body, "enabled", &sp->sp_enabled, err, errlen) < 0 ||
	    get_str(body, "tz", 64, 1, &tz, err, errlen) < 0)
		return (-1);
	if (tz != NULL && *tz == '\0')
		tz = NULL;
	sch = json_object_get(body, v == VIEW_CRON ? "schedule" : "cron");
	if (v == VIEW_CRON && sch == NULL)
		sch = json_object_get(body, "cron_expr");
	if (v == VIEW_SCHED && sch == NULL)
		sch = json_object_get(body, "schedule");
	if (v == VIEW_SCHED && json_is_object(sch) &&
	    json_object_get(body, "cron") != NULL) {
		snprintf(err, errlen, "'cron' must be a cron expression");
		return (-1);
	}
	if (sch != NULL) {
		if (parse_schedule(sch, tz, &sp->sp_sched, err, errlen) != 0)
			return (-1);
		sp->sp_has_sched = 1;
	} else if (tz != NULL) {
		snprintf(err, errlen, "'tz' needs a cron schedule");
		return (-1);
	}
	if (sp->sp_has_sched && sp->sp_sched.js_tz != NULL &&
	    !cron_tz_valid(sp->sp_sched.js_tz)) {
		snprintf(err, errlen, "unknown time zone '%.64s'",
		    sp->sp_sched.js_tz);
		return (-1);
	}
	if ((x = json_object_get(body, "action")) != NULL) {
		if (parse_action(x, sp, err, errlen) != 0)
			return (-1);
	}
	m = NULL;
	if (get_str(body, "prompt", JOB_MESSAGE_MAX, 1, &m, err, errlen) < 0 ||
	    (m == NULL && get_str(body, "message", JOB_MESSAGE_MAX, 1, &m, err,
	    errlen) < 0))
		return (-1);
	if (v == VIEW_SCHED && json_object_get(body, "workflow_id") != NULL) {
		/* The dashboard's workflow schedule: its message, if any,
		 * is the run's input. */
		if (get_str(body, "workflow_id", JOB_WORKFLOW_MAX, 0,
		    &sp->sp_workflow, err, errlen) < 0)
			return (-1);
		sp->sp_action = "workflow";
		sp->sp_message = "";
		if (m != NULL && *m != '\0')
			sp->sp_wf_input = json_object_get(body, json_object_get(
			    body, "prompt") != NULL ? "prompt" : "message");
		m = NULL;
	}
	if (m != NULL) {
		if (sp->sp_action != NULL) {
			snprintf(err, errlen, "give the prompt in 'action' or "
			    "in 'prompt', not both");
			return (-1);
		}
		sp->sp_action = "agent_turn";
		sp->sp_message = m;
	}
	if (get_str(body, "session_mode", 16, 0, &sp->sp_session_mode, err,
	    errlen) < 0 || (sp->sp_session_mode != NULL &&
	    strcmp(sp->sp_session_mode, "persistent") != 0 &&
	    strcmp(sp->sp_session_mode, "new") != 0)) {
		if (*err == '\0')
			snprintf(err, errlen, "'session_mode' must be "
			    "'persistent' or 'new'");
		return (-1);
	}
	if (get_str(body, "catch_up", 16, 0, &sp->sp_catch_up, err,
	    errlen) < 0 || (sp->sp_catch_up != NULL &&
	    strcmp(sp->sp_catch_up, "skip") != 0 &&
	    strcmp(sp->sp_catch_up, "once") != 0 &&
	    strcmp(sp->sp_catch_up, "all") != 0)) {
		if (*err == '\0')
			snprintf(err, errlen, "'catch_up' must be 'skip', "
			    "'once' or 'all'");
		return (-1);
	}
	if (get_int(body, "max_consecutive_failures", 1, 1000, 1,
	    &sp->sp_max_failures, err, errlen) < 0 ||
	    get_bool(body, "one_shot", &sp->sp_one_shot, err, errlen) < 0)
		return (-1);
	if ((x = json_object_get(body, "delivery")) != NULL) {
		if (!json_is_null(x) && (!json_is_object(x) ||
		    str_of(x, "kind") == NULL)) {
			snprintf(err, errlen, "'delivery' must be an object "
			    "with a 'kind'");
			return (-1);
		}
		sp->sp_delivery = x;
	}
	if ((x = json_object_get(body, "delivery_targets")) != NULL) {
		if (!json_is_array(x) || json_array_size(x) > 16) {
			snprintf(err, errlen, "'delivery_targets' must be an "
			    "array of at most 16 targets");
			return (-1);
		}
		sp->sp_targets = x;
	}
	if ((x = json_object_get(body, "peer_id")) != NULL) {
		if (!json_is_null(x) && get_str(body, "peer_id", 256, 1,
		    &sp->sp_peer_id, err, errlen) < 0)
			return (-1);
		sp->sp_has_peer = 1;
	}
	return (0);
}

/* Fills the schedule of row into s (strings borrowed from row). */
static void
sched_of_row(json_t *row, struct job_sched *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->js_kind, sizeof(s->js_kind), "%s", str_of(row, "kind"));
	s->js_expr = str_of(row, "cron_expr");
	s->js_tz = str_of(row, "tz");
	s->js_every = json_integer_value(json_object_get(row, "every_secs"));
	s->js_at = json_integer_value(json_object_get(row, "at_epoch"));
}

/* The stored job row as a spec (strings borrowed from row). */
void
job_spec_of_row(json_t *row, struct job_spec *sp)
{
	json_t	*x;

	job_spec_init(sp);
	snprintf(sp->sp_agent, sizeof(sp->sp_agent), "%s",
	    str_of(row, "agent_id"));
	sp->sp_name = str_of(row, "name");
	sp->sp_enabled = json_is_true(json_object_get(row, "enabled"));
	sp->sp_has_sched = 1;
	sched_of_row(row, &sp->sp_sched);
	sp->sp_action = str_of(row, "action");
	sp->sp_message = str_of(row, "message");
	sp->sp_workflow = str_of(row, "workflow_id");
	x = json_object_get(row, "workflow_input_json");
	sp->sp_wf_input = json_is_null(x) ? NULL : x;
	x = json_object_get(row, "timeout_secs");
	sp->sp_timeout = json_is_integer(x) ? json_integer_value(x) : 0;
	sp->sp_session_mode = str_of(row, "session_mode");
	sp->sp_catch_up = str_of(row, "catch_up");
	x = json_object_get(row, "max_failures");
	sp->sp_max_failures = json_is_integer(x) ? json_integer_value(x) : 0;
	sp->sp_one_shot = json_is_true(json_object_get(row, "one_shot"));
	sp->sp_delivery = json_object_get(row, "delivery_json");
	sp->sp_targets = json_object_get(row, "delivery_targets_json");
	sp->sp_peer_id = str_of(row, "peer_id");
}
