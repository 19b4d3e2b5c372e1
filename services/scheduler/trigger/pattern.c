/*
 * trigger/pattern.c - trigger patterns and the text of events
 * (notes/kernel.md 2.3 and 2.4; trigger/trigger.h).
 *
 * An event is msg_event()'s object: {id, source, target, payload: {type,
 * data}, timestamp, depth}; Lifecycle and System data name their variant
 * in data.event ("Spawned", "TaskPosted", ...).  Names in patterns are
 * matched as substrings, never as globs, as upstream does.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "buf.h"
#include "msg.h"
#include "trigger/trigger.h"
#include "util.h"

/* What a kind's one field is. */
enum pat_field {
	PF_NONE,	/* no field */
	PF_REQUIRED,	/* a non-empty string */
	PF_DEFAULT_ANY,	/* a string, "*" when absent */
	PF_IDENTITY	/* an identity filter (2.3), absent: everything */
};

static const struct pat_kind {
	const char	*pk_name;
	const char	*pk_field;
	enum pat_field	 pk_type;
} pat_kinds[] = {
	{ "all", NULL, PF_NONE },
	{ "lifecycle", NULL, PF_NONE },
	{ "agent_spawned", "name_pattern", PF_DEFAULT_ANY },
	{ "agent_terminated", NULL, PF_NONE },
	{ "system", NULL, PF_NONE },
	{ "system_keyword", "keyword", PF_REQUIRED },
	{ "memory_update", NULL, PF_NONE },
	{ "memory_key_pattern", "key_pattern", PF_DEFAULT_ANY },
	{ "content_match", "substring", PF_REQUIRED },
	{ "task_posted", "assignee_match", PF_IDENTITY },
	{ "task_claimed", "creator_match", PF_IDENTITY },
	{ "task_completed", "creator_match", PF_IDENTITY },
	{ NULL, NULL, PF_NONE }
};

static const struct pat_kind *
pat_kind_find(const char *name)
{
	const struct pat_kind	*k;

	for (k = pat_kinds; k->pk_name != NULL; k++)
		if (strcmp(k->pk_name, name) == 0)
			return (k);
	return (NULL);
}

/* The pattern's field value for kind k: a string in a normalised
 * pattern, or NULL. */
static const char *
pat_arg(json_t *pattern, const char *kind, const char *field)
{
	return (json_string_value(json_object_get(json_object_get(pattern,
	    kind), field)));
}

json_t *
trigger_pattern_parse(json_t *in, char *err, size_t errlen)
{
	const struct pat_kind	*k;
	const char		*name, *key;
	json_t			*args = NULL, *v, *out = NULL, *inner;
	size_t			 len;

	if (json_is_string(in))
		name = json_string_value(in);
	else if (json_is_object(in) && json_object_size(in) == 1) {
		name = json_object_iter_key(json_object_iter(in));
		args = json_object_iter_value(json_object_iter(in));
	} else {
		snprintf(err, errlen, "'pattern' must be a pattern name or an "
		    "object with one key naming the pattern");
		return (NULL);
	}
	if ((k = pat_kind_find(name)) == NULL) {
		snprintf(err, errlen, "unknown pattern '%.64s'", name);
		return (NULL);
	}
	if (args != NULL && !json_is_object(args) && !json_is_null(args)) {
		snprintf(err, errlen, "pattern '%s' takes an object", name);
		return (NULL);
	}
	json_object_foreach(args, key, v)
		if (k->pk_field == NULL || strcmp(key, k->pk_field) != 0) {
			snprintf(err, errlen, "pattern '%s' has no field "
			    "'%.64s'", name, key);
			return (NULL);
		}
	v = k->pk_field != NULL ? json_object_get(args, k->pk_field) : NULL;
	if (json_is_null(v))
		v = NULL;
	if (v != NULL) {
		if (!json_is_string(v) ||
		    (len = json_string_length(v)) > TRIGGER_PATTERN_STR_MAX ||
		    strlen(json_string_value(v)) != len ||
		    (len == 0 && k->pk_type == PF_REQUIRED)) {
			snprintf(err, errlen, "'%s' of pattern '%s' must be a "
			    "%sstring of at most %d bytes", k->pk_field, name,
			    k->pk_type == PF_REQUIRED ? "non-empty " : "",
			    TRIGGER_PATTERN_STR_MAX);
			return (NULL);
		}
	} else if (k->pk_type == PF_REQUIRED) {
		snprintf(err, errlen, "pattern '%s' needs '%s'", name,
		    k->pk_field);
		return (NULL);
	}
	if ((inner = json_object()) == NULL ||
	    (out = json_pack("{s:o}", name, inner)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	if (v != NULL)
		json_object_set(inner, k->pk_field, v);
	else if (k->pk_type == PF_DEFAULT_ANY)
		json_object_set_new(inner, k->pk_field, json_string("*"));
	return (out);
}

/* ---- events ------------------------------------------------------------- */

static json_t *
ev_data(json_t *event)
{
	return (json_object_get(json_object_get(event, "payload"), "data"));
}

static const char *
ev_type(json_t *event)
{
	const char	*s = json_string_value(json_object_get(
	    json_object_get(event, "payload"), "type"));

	return (s != NULL ? s : "");
}

/* data.<key> as a string, or NULL. */
static const char *
ev_str(json_t *event, const char *key)
{
	return (json_string_value(json_object_get(ev_data(event), key)));
}

/* data.<key> as text: "" when absent. */
static const char *
ev_s(json_t *event, const char *key)
{
	const char	*s = ev_str(event, key);

	return (s != NULL ? s : "");
}

/* 1 if the event is payload type with variant (NULL: any). */
static int
ev_is(json_t *event, const char *type, const char *variant)
{
	const char	*s;

	if (strcmp(ev_type(event), type) != 0)
		return (0);
	return (variant == NULL || ((s = ev_str(event, "event")) != NULL &&
	    strcmp(s, variant) == 0));
}

/* 1 if hay contains needle, ASCII case ignored. */
static int
ci_contains(const char *hay, const char *needle)
{
	size_t	 n = strlen(needle), i;

	if (n == 0)
		return (1);
	for (; *hay != '\0'; hay++) {
		for (i = 0; i < n && hay[i] != '\0'; i++)
			if (tolower((unsigned char)hay[i]) !=
			    tolower((unsigned char)needle[i]))
				break;
		if (i == n)
			return (1);
	}
	return (0);
}

/* name_pattern / key_pattern: "*" or a case-sensitive substring. */
static int
sub_match(const char *pat, const char *s)
{
	if (pat == NULL || strcmp(pat, "*") == 0)
		return (1);
	return (s != NULL && strstr(s, pat) != NULL);
}

/* The identity filter of 2.3: m against candidate cand (NULL: absent). */
static int
identity_match(const char *m, const char *cand, const char *owner,
    const char *owner_name)
{
	if (m == NULL || strcmp(m, "any") == 0)
		return (1);
	if (strcmp(m, "unassigned") == 0)
		return (cand == NULL || *cand == '\0');
	if (cand == NULL)
		return (0);
	if (strcmp(m, "self") == 0)
		return ((owner != NULL && strcasecmp(cand, owner) == 0) ||
		    (owner_name != NULL && strcmp(cand, owner_name) == 0));
	return (strcmp(cand, m) == 0);
}

/* The task pattern's variant and candidate field, or NULL. */
static const char *
task_variant(const char *kind, const char **candp)
{
	if (strcmp(kind, "task_posted") == 0) {
		*candp = "assigned_to";
		return ("TaskPosted");
	}
	if (strcmp(kind, "task_claimed") == 0) {
		*candp = "created_by";
		return ("TaskClaimed");
	}
	if (strcmp(kind, "task_completed") == 0) {
		*candp = "created_by";
		return ("TaskCompleted");
	}
	return (NULL);
}

/*
 * The canonical text of a System payload, what system_keyword searches:
 * "<Variant> { field: <JSON value>, ... }" in the data's order.
 */
static char *
system_text(json_t *event)
{
	struct buf	 b = BUF_INIT(64 * 1024);
	const char	*k;
	json_t		*v;
	char		*s;
	int		 n = 0;

	(void)buf_adds(&b, ev_s(event, "event"));
	json_object_foreach(ev_data(event), k, v) {
		if (strcmp(k, "event") == 0)
			continue;
		if ((s = json_dumps(v, MSG_JSON_FLAGS)) == NULL)
			continue;
		(void)buf_addf(&b, "%s%s: %s", n++ == 0 ? " { " : ", ", k, s);
		free(s);
	}
	if (n > 0)
		(void)buf_adds(&b, " }");
	return (buf_detach(&b));
}

int
trigger_pattern_match(json_t *pattern, json_t *event, const char *owner,
    const char *owner_name)
{
	const char	*kind, *variant, *cand, *arg;
	char		*text;
	int		 rv;

	if (!json_is_object(pattern) || json_object_size(pattern) != 1)
		return (0);
	kind = json_object_iter_key(json_object_iter(pattern));
	if (strcmp(kind, "all") == 0)
		return (1);
	if (strcmp(kind, "lifecycle") == 0)
		return (ev_is(event, "Lifecycle", NULL));
	if (strcmp(kind, "agent_spawned") == 0)
		return (ev_is(event, "Lifecycle", "Spawned") &&
		    sub_match(pat_arg(pattern, kind, "name_pattern"),
		    ev_str(event, "name")));
	if (strcmp(kind, "agent_terminated") == 0)
		return (ev_is(event, "Lifecycle", "Terminated") ||
		    ev_is(event, "Lifecycle", "Crashed"));
	if (strcmp(kind, "system") == 0)
		return (ev_is(event, "System", NULL));
	if (strcmp(kind, "memory_update") == 0)
		return (ev_is(event, "MemoryUpdate", NULL));
	if (strcmp(kind, "memory_key_pattern") == 0)
		return (ev_is(event, "MemoryUpdate", NULL) &&
		    sub_match(pat_arg(pattern, kind, "key_pattern"),
		    ev_str(event, "key")));
	if (strcmp(kind, "system_keyword") == 0 ||
	    strcmp(kind, "content_match") == 0) {
		if (kind[0] == 's') {
			if (!ev_is(event, "System", NULL))
				return (0);
			text = system_text(event);
			arg = pat_arg(pattern, kind, "keyword");
		} else {
			text = trigger_describe(event);
			arg = pat_arg(pattern, kind, "substring");
		}
		rv = text != NULL && arg != NULL && ci_contains(text, arg);
		free(text);
		return (rv);
	}
	if ((variant = task_variant(kind, &cand)) != NULL)
		return (ev_is(event, "System", variant) &&
		    identity_match(pat_arg(pattern, kind, strcmp(kind,
		    "task_posted") == 0 ? "assignee_match" : "creator_match"),
		    ev_str(event, cand), owner, owner_name));
	return (0);
}

int
trigger_pattern_wants_name(json_t *pattern, json_t *event)
{
	const char	*kind, *variant, *cand, *m, *c;

	if (!json_is_object(pattern) || json_object_size(pattern) != 1)
		return (0);
	kind = json_object_iter_key(json_object_iter(pattern));
	if ((variant = task_variant(kind, &cand)) == NULL ||
	    !ev_is(event, "System", variant))
		return (0);
	m = pat_arg(pattern, kind, strcmp(kind, "task_posted") == 0 ?
	    "assignee_match" : "creator_match");
	c = ev_str(event, cand);
	return (m != NULL && strcmp(m, "self") == 0 && c != NULL &&
	    !util_uuid_valid(c));
}

const char *
trigger_subject(json_t *pattern, json_t *event)
{
	const char	*kind, *cand, *s = NULL;

	if (!json_is_object(pattern) || json_object_size(pattern) != 1)
		return ("");
	kind = json_object_iter_key(json_object_iter(pattern));
	if (task_variant(kind, &cand) != NULL)
		s = ev_str(event, "task_id");
	else if (strcmp(kind, "memory_update") == 0 ||
	    strcmp(kind, "memory_key_pattern") == 0)
		s = ev_str(event, "key");
	else if (strcmp(kind, "agent_spawned") == 0 ||
	    strcmp(kind, "agent_terminated") == 0)
		s = ev_str(event, "agent_id");
	return (s != NULL ? s : "");
}

/* ---- descriptions ------------------------------------------------------- */

/* v as text: a string as it is, anything else as JSON. */
static char *
value_text(json_t *v)
{
	if (v == NULL)
		return (strdup(""));
	if (json_is_string(v))
		return (strdup(json_string_value(v)));
	return (json_dumps(v, MSG_JSON_FLAGS));
}

static void
describe_system(struct buf *b, json_t *event)
{
	const char	*e = ev_s(event, "event");
	char		*t;
	json_t		*d = ev_data(event);

	if (strcmp(e, "TaskPosted") == 0)
		(void)buf_addf(b, "Task posted: %s \"%s\"",
		    ev_s(event, "task_id"), ev_s(event, "title"));
	else if (strcmp(e, "TaskClaimed") == 0)
		(void)buf_addf(b, "Task claimed: %s by %s",
		    ev_s(event, "task_id"), ev_s(event, "claimed_by"));
	else if (strcmp(e, "TaskCompleted") == 0) {
		t = value_text(json_object_get(d, "result"));
		(void)buf_addf(b, "Task completed: %s by %s result=%.300s",
		    ev_s(event, "task_id"), ev_s(event, "completed_by"),
		    t != NULL ? t : "");
		free(t);
	} else if (strcmp(e, "HealthCheckFailed") == 0)
		(void)buf_addf(b, "Health check failed: agent %s, "
		    "unresponsive for %llds", ev_s(event, "agent_id"),
		    (long long)json_integer_value(json_object_get(d,
		    "unresponsive_secs")));
	else if (strcmp(e, "KernelStarted") == 0)
		(void)buf_adds(b, "Kernel started");
	else if (strcmp(e, "KernelStopping") == 0)
		(void)buf_adds(b, "Kernel stopping");
	else if (strcmp(e, "QuotaWarning") == 0)
		(void)buf_addf(b, "Quota warning: agent %s, %s at %.1f%%",
		    ev_s(event, "agent_id"), ev_s(event, "resource"),
		    json_number_value(json_object_get(d, "usage_percent")));
	else {
		t = system_text(event);
		(void)buf_addf(b, "System event: %.1000s", t != NULL ? t : e);
		free(t);
	}
}

char *
trigger_describe(json_t *event)
{
	struct buf	 b = BUF_INIT(64 * 1024);
	const char	*type = ev_type(event), *e, *op;
	json_t		*d = ev_data(event);
	char		*t, *out;
	size_t		 n;

	e = ev_s(event, "event");
	if (strcmp(type, "Lifecycle") == 0) {
		if (strcmp(e, "Spawned") == 0)
			(void)buf_addf(&b, "Agent '%s' (id: %s) was spawned",
			    ev_s(event, "name"), ev_s(event, "agent_id"));
		else if (strcmp(e, "Terminated") == 0)
			(void)buf_addf(&b, "Agent %s terminated: %s",
			    ev_s(event, "agent_id"), ev_s(event, "reason"));
		else if (strcmp(e, "Crashed") == 0)
			(void)buf_addf(&b, "Agent %s crashed: %s",
			    ev_s(event, "agent_id"), ev_s(event, "error"));
		else
			(void)buf_addf(&b, "Agent %s: %s",
			    ev_s(event, "agent_id"), e);
	} else if (strcmp(type, "System") == 0)
		describe_system(&b, event);
	else if (strcmp(type, "MemoryUpdate") == 0) {
		op = ev_s(event, "operation");
		(void)buf_addf(&b, "Memory %c%s on key '%s' for agent %s",
		    toupper((unsigned char)op[0]), op[0] != '\0' ? op + 1 : "",
		    ev_s(event, "key"), ev_s(event, "agent_id"));
	} else if (strcmp(type, "ToolResult") == 0)
		(void)buf_addf(&b, "Tool '%s' %s (%lldms): %.200s",
		    ev_s(event, "tool_id"), json_is_true(json_object_get(d,
		    "success")) ? "succeeded" : "failed",
		    (long long)json_integer_value(json_object_get(d,
		    "execution_time_ms")), ev_s(event, "content"));
	else if (strcmp(type, "ApprovalRequested") == 0)
		(void)buf_addf(&b, "Approval requested: agent %s wants to use "
		    "tool '%s' (risk: %s): %s", ev_s(event, "agent_id"),
		    ev_s(event, "tool_name"), ev_s(event, "risk_level"),
		    ev_s(event, "description"));
	else if (strcmp(type, "ApprovalResolved") == 0)
		(void)buf_addf(&b, "Approval resolved: request %s \xe2\x80\x94 "
		    "%s", ev_s(event, "request_id"), ev_s(event, "decision"));
	else if (strcmp(type, "Message") == 0)
		(void)buf_addf(&b, "Message (%s): %.200s", ev_s(event, "role"),
		    ev_s(event, "content"));
	else {
		t = json_dumps(d != NULL ? d : json_null(), MSG_JSON_FLAGS);
		n = t != NULL ? strlen(t) : 0;
		(void)buf_addf(&b, "%s event: type=%s, payload=%.300s%s",
		    *type != '\0' ? type : "Unknown",
		    json_string_value(json_object_get(d, "type")) ?: "",
		    t != NULL ? t : "", n > 300 ? "\xe2\x80\xa6" : "");
		free(t);
	}
	if ((out = buf_detach(&b)) == NULL)
		return (NULL);
	/* Cut at a character boundary, never inside a UTF-8 sequence. */
	if ((n = strlen(out)) > TRIGGER_DESC_MAX) {
		n = TRIGGER_DESC_MAX;
		while (n > 0 && ((unsigned char)out[n] & 0xc0) == 0x80)
			n--;
		out[n] = '\0';
	}
	return (out);
}

char *
trigger_render(const char *template, const char *desc)
{
	struct buf	 b = BUF_INIT(TRIGGER_TEMPLATE_MAX * 2 +
			    TRIGGER_DESC_MAX * 16);
	const char	*p, *q;
	static const char ph[] = "{{event}}";

	for (p = template; (q = strstr(p, ph)) != NULL; p = q + sizeof(ph) - 1)
		if (buf_add(&b, p, (size_t)(q - p)) != 0 ||
		    buf_adds(&b, desc) != 0)
			break;
	if (q == NULL && buf_adds(&b, p) != 0)
		return (NULL);
	if (q != NULL)
		return (NULL);
	return (buf_detach(&b));
}
