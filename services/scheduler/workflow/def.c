/*
 * workflow/def.c - workflow definitions: the create/update body checked
 * and made canonical, the GET view, and the pure helpers of a run
 * (template expansion, conditions, the input's variables).
 *
 * The body accepts the shapes of kernel.md 1.1: agent_id / agent_name
 * (or agent as a name, {id} or {name}), prompt or prompt_template, a mode
 * as a flat string with sibling fields or as the tagged object
 * ({"loop": {"max_iterations": 3}}), an error mode likewise.  Unlike the
 * reference, an unknown mode and absurd numbers are refused (400) rather
 * than made sequential or clamped: a workflow that cannot do what it says
 * should not be stored.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "buf.h"
#include "util.h"
#include "workflow/workflow.h"

/* Expanded prompts beyond this fail their step instead of growing. */
#define WF_MAX_EXPANDED		(4 * 1024 * 1024)

static const char *const wf_modes[] = {
	"sequential", "fan_out", "collect", "conditional", "loop", NULL
};

static int
wf_fail(char *err, size_t errlen, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes "invalid workflow: [step 'x': ]reason" into err; returns -1. */
static int
wf_fail(char *err, size_t errlen, const char *step, const char *fmt, ...)
{
	char	 why[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (step != NULL)
		snprintf(err, errlen, "invalid workflow: step '%.64s': %s",
		    step, why);
	else
		snprintf(err, errlen, "invalid workflow: %s", why);
	return (-1);
}

/*
 * An optional integer member of o in [min, max]: absent or null leaves
 * *out (the default).  0, or -1 when it is there but not such a number.
 */
static int
int_member(json_t *o, const char *key, long long min, long long max,
    long long *out)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return (-1);
	*out = json_integer_value(v);
	return (0);
}

/* An optional string member: NULL when absent or null, "" (a non-NULL
 * marker that fails the caller's checks) when not a string. */
static const char *
str_member(json_t *o, const char *key, int *bad)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return (NULL);
	if (!json_is_string(v)) {
		*bad = 1;
		return (NULL);
	}
	return (json_string_value(v));
}

/* Variable names: what "{{name}}" can spell without surprise. */
static int
var_name_ok(const char *s)
{
	size_t	 n = strlen(s), i;

	if (n == 0 || n > 64 || strcmp(s, "input") == 0)
		return (0);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-' && s[i] != '.')
			return (0);
	return (1);
}

/* The agent of step s into out ({agent_id} or {agent_name}). */
static int
parse_agent(json_t *s, const char *name, json_t *out, char *err,
    size_t errlen)
{
	json_t		*a = json_object_get(s, "agent");
	const char	*id = NULL, *nm = NULL;
	int		 bad = 0;

	id = str_member(s, "agent_id", &bad);
	nm = str_member(s, "agent_name", &bad);
	if (bad)
		return (wf_fail(err, errlen, name, "agent_id and agent_name "
		    "must be strings"));
	if (id == NULL && nm == NULL && a != NULL && !json_is_null(a)) {
		if (json_is_string(a))
			nm = json_string_value(a);
		else if (json_is_object(a)) {
			if ((id = str_member(a, "agent_id", &bad)) == NULL)
				id = str_member(a, "id", &bad);
			if ((nm = str_member(a, "agent_name", &bad)) == NULL)
				nm = str_member(a, "name", &bad);
		} else
			bad = 1;
		if (bad)
			return (wf_fail(err, errlen, name, "agent must be a "
			    "name or {\"id\"} or {\"name\"}"));
	}
	if (id != NULL && nm != NULL)
		return (wf_fail(err, errlen, name, "give agent_id or "
		    "agent_name, not both"));
	if (id != NULL) {
		if (!util_uuid_valid(id))
			return (wf_fail(err, errlen, name, "agent_id '%.64s' "
			    "is not a UUID", id));
		return (json_object_set_new(out, "agent_id",
		    json_string(id)));
	}
	if (nm != NULL) {
		if (*nm == '\0' || strlen(nm) > WF_MAX_NAME)
			return (wf_fail(err, errlen, name, "agent_name must "
			    "be 1 to %d characters", WF_MAX_NAME));
		return (json_object_set_new(out, "agent_name",
		    json_string(nm)));
	}
	return (wf_fail(err, errlen, name, "agent_id or agent_name is "
	    "required"));
}

/* mode (flat or tagged) and its fields into out. */
static int
parse_mode(json_t *s, const char *name, json_t *out, char *err,
    size_t errlen)
{
	json_t		*m = json_object_get(s, "mode"), *f = s;
	const char	*mode = "sequential", *cond, *until;
	long long	 iters = WF_DEFAULT_ITERATIONS;
	int		 i, bad = 0;

	if (json_is_string(m))
		mode = json_string_value(m);
	else if (json_is_object(m) && json_object_size(m) == 1) {
		/* {"loop": {...}}: its fields stand in for the siblings. */
		mode = json_object_iter_key(json_object_iter(m));
		f = json_object_iter_value(json_object_iter(m));
		if (json_is_null(f))
			f = s;
		else if (!json_is_object(f))
			return (wf_fail(err, errlen, name, "mode '%.32s' "
			    "must hold an object", mode));
	} else if (m != NULL && !json_is_null(m))
		return (wf_fail(err, errlen, name, "mode must be a string "
		    "or a one-key object"));
	for (i = 0; wf_modes[i] != NULL; i++)
		if (strcmp(mode, wf_modes[i]) == 0)
			break;
	if (wf_modes[i] == NULL)
		return (wf_fail(err, errlen, name, "unknown mode '%.32s' "
		    "(sequential, fan_out, collect, conditional or loop)",
		    mode));
	json_object_set_new(out, "mode", json_string(mode));
	if (strcmp(mode, "conditional") == 0) {
		cond = str_member(f, "condition", &bad);
		if (bad || cond == NULL || *cond == '\0' ||
		    strlen(cond) > 4096)
			return (wf_fail(err, errlen, name, "a conditional "
			    "step needs a condition (a non-empty string)"));
		json_object_set_new(out, "condition", json_string(cond));
	} else if (strcmp(mode, "loop") == 0) {
		if (int_member(f, "max_iterations", 0, WF_MAX_ITERATIONS,
		    &iters) != 0)
			return (wf_fail(err, errlen, name, "max_iterations "
			    "must be an integer from 0 to %d",
			    WF_MAX_ITERATIONS));
		until = str_member(f, "until", &bad);
		if (bad || (until != NULL && strlen(until) > 4096))
			return (wf_fail(err, errlen, name, "until must be a "
			    "string"));
		json_object_set_new(out, "max_iterations",
		    json_integer(iters));
		if (until != NULL && *until != '\0')
			json_object_set_new(out, "until", json_string(until));
	}
	return (0);
}

/* error_mode (flat or tagged) and the retry fields into out. */
static int
parse_error_mode(json_t *s, const char *name, json_t *out, char *err,
    size_t errlen)
{
	json_t		*e = json_object_get(s, "error_mode"), *f = s;
	const char	*mode = "fail";
	long long	 retries = WF_DEFAULT_RETRIES, backoff = -1,
			 jitter = 0;

	if (json_is_string(e))
		mode = json_string_value(e);
	else if (json_is_object(e) && json_object_size(e) == 1) {
		mode = json_object_iter_key(json_object_iter(e));
		f = json_object_iter_value(json_object_iter(e));
		if (json_is_null(f))
			f = s;
		else if (!json_is_object(f))
			return (wf_fail(err, errlen, name, "error_mode "
			    "'%.32s' must hold an object", mode));
	} else if (e != NULL && !json_is_null(e))
		return (wf_fail(err, errlen, name, "error_mode must be a "
		    "string or a one-key object"));
	if (strcmp(mode, "fail") != 0 && strcmp(mode, "skip") != 0 &&
	    strcmp(mode, "retry") != 0)
		return (wf_fail(err, errlen, name, "unknown error_mode "
		    "'%.32s' (fail, skip or retry)", mode));
	json_object_set_new(out, "error_mode", json_string(mode));
	if (strcmp(mode, "retry") != 0)
		return (0);
	if (int_member(f, "max_retries", 0, WF_MAX_RETRIES, &retries) != 0)
		return (wf_fail(err, errlen, name, "max_retries must be an "
		    "integer from 0 to %d", WF_MAX_RETRIES));
	if (int_member(f, "backoff_ms", 0, WF_MAX_BACKOFF_MS, &backoff) != 0)
		return (wf_fail(err, errlen, name, "backoff_ms must be an "
		    "integer from 0 to %d", WF_MAX_BACKOFF_MS));
	if (int_member(f, "jitter_pct", 0, 100, &jitter) != 0)
		return (wf_fail(err, errlen, name, "jitter_pct must be an "
		    "integer from 0 to 100"));
	json_object_set_new(out, "max_retries", json_integer(retries));
	if (backoff >= 0)
		json_object_set_new(out, "backoff_ms", json_integer(backoff));
	if (jitter > 0)
		json_object_set_new(out, "jitter_pct", json_integer(jitter));
	return (0);
}

/* One step (s, borrowed) as its canonical object (new), or NULL. */
static json_t *
parse_step(json_t *s, size_t index, char *err, size_t errlen)
{
	json_t		*out = NULL, *dep;
	const char	*name, *prompt, *ovar, *smode;
	char		 dflt[32];
	long long	 timeout = WF_DEFAULT_TIMEOUT_SECS;
	int		 bad = 0;

	snprintf(dflt, sizeof(dflt), "#%zu", index + 1);
	if (!json_is_object(s)) {
		wf_fail(err, errlen, dflt, "a step must be a JSON object");
		return (NULL);
	}
	name = str_member(s, "name", &bad);
	if (bad || (name != NULL && (*name == '\0' ||
	    strlen(name) > WF_MAX_NAME))) {
		wf_fail(err, errlen, dflt, "name must be 1 to %d characters",
		    WF_MAX_NAME);
		return (NULL);
	}
	if (name == NULL)
		name = "step";
	if ((out = json_pack("{s:s}", "name", name)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	if (parse_mode(s, name, out, err, errlen) != 0)
		goto fail;
	/* collect calls no agent; any other mode needs one. */
	if (strcmp(json_string_value(json_object_get(out, "mode")),
	    "collect") != 0 && parse_agent(s, name, out, err, errlen) != 0)
		goto fail;
	if ((prompt = str_member(s, "prompt_template", &bad)) == NULL)
		prompt = str_member(s, "prompt", &bad);
	if (bad || (prompt != NULL && strlen(prompt) > WF_MAX_PROMPT)) {
		wf_fail(err, errlen, name, "prompt must be a string of at "
		    "most %d bytes", WF_MAX_PROMPT);
		goto fail;
	}
	json_object_set_new(out, "prompt_template",
	    json_string(prompt != NULL ? prompt : "{{input}}"));
	if (int_member(s, "timeout_secs", 1, WF_MAX_TIMEOUT_SECS,
	    &timeout) != 0) {
		wf_fail(err, errlen, name, "timeout_secs must be an integer "
		    "from 1 to %lld", WF_MAX_TIMEOUT_SECS);
		goto fail;
	}
	json_object_set_new(out, "timeout_secs", json_integer(timeout));
	if (parse_error_mode(s, name, out, err, errlen) != 0)
		goto fail;
	ovar = str_member(s, "output_var", &bad);
	if (bad || (ovar != NULL && *ovar != '\0' && !var_name_ok(ovar))) {
		wf_fail(err, errlen, name, "output_var must be a name of 1 "
		    "to 64 letters, digits, '_', '-' or '.' (not 'input')");
		goto fail;
	}
	if (ovar != NULL && *ovar != '\0')
		json_object_set_new(out, "output_var", json_string(ovar));
	dep = json_object_get(s, "depends_on");
	if (dep != NULL && !json_is_null(dep)) {
		json_t	*d;
		size_t	 k;

		if (!json_is_array(dep) || json_array_size(dep) >
		    WF_MAX_STEPS) {
			wf_fail(err, errlen, name, "depends_on must be an "
			    "array of step names");
			goto fail;
		}
		json_array_foreach(dep, k, d)
			if (!json_is_string(d) || *json_string_value(d) ==
			    '\0' || strlen(json_string_value(d)) >
			    WF_MAX_NAME) {
				wf_fail(err, errlen, name, "depends_on must "
				    "be an array of step names");
				goto fail;
			}
		if (json_array_size(dep) > 0)
			json_object_set(out, "depends_on", dep);
	}
	smode = str_member(s, "session_mode", &bad);
	if (bad || (smode != NULL && strcmp(smode, "persistent") != 0 &&
	    strcmp(smode, "new") != 0)) {
		wf_fail(err, errlen, name, "session_mode must be 'persistent' "
		    "or 'new'");
		goto fail;
	}
	if (smode != NULL)
		json_object_set_new(out, "session_mode", json_string(smode));
	return (out);
 fail:
	json_decref(out);
	return (NULL);
}

int
wf_is_dag(json_t *steps)
{
	json_t	*st;
	size_t	 i;

	json_array_foreach(steps, i, st)
		if (json_array_size(json_object_get(st, "depends_on")) > 0)
			return (1);
	return (0);
}

/* The index of the step named name, or -1. */
static int
step_index(json_t *steps, const char *name)
{
	json_t	*st;
	size_t	 i;

	json_array_foreach(steps, i, st)
		if (strcmp(json_string_value(json_object_get(st, "name")),
		    name) == 0)
			return ((int)i);
	return (-1);
}

int
wf_dag_layers(json_t *steps, int *layer, char *err, size_t errlen)
{
	json_t		*st, *d;
	size_t		 n = json_array_size(steps), i, k;
	size_t		 assigned = 0;
	int		 changed = 1, top = -1, l, j;

	for (i = 0; i < n; i++)
		layer[i] = -1;
	/* Kahn's layering, by passes: n <= WF_MAX_STEPS. */
	while (changed) {
		changed = 0;
		json_array_foreach(steps, i, st) {
			if (layer[i] >= 0)
				continue;
			l = 0;
			json_array_foreach(json_object_get(st, "depends_on"),
			    k, d) {
				j = step_index(steps, json_string_value(d));
				if (j < 0)
					return (wf_fail(err, errlen,
					    json_string_value(json_object_get(
					    st, "name")), "unknown dependency "
					    "'%.64s'", json_string_value(d)));
				if (layer[j] < 0) {
					l = -1;
					break;
				}
				if (layer[j] + 1 > l)
					l = layer[j] + 1;
			}
			if (l < 0)
				continue;
			layer[i] = l;
			if (l > top)
				top = l;
			assigned++;
			changed = 1;
		}
	}
	if (assigned < n)
		return (wf_fail(err, errlen, NULL, "Cycle detected in workflow "
		    "step dependencies"));
	return (top + 1);
}

/* DAG mode's own rules (1.6): sequential steps, unique names, known
 * dependencies, no cycle.  0, or -1 with the reason. */
static int
check_dag(json_t *steps, char *err, size_t errlen)
{
	json_t		*st;
	const char	*name;
	int		 layer[WF_MAX_STEPS];
	size_t		 i;

	json_array_foreach(steps, i, st) {
		name = json_string_value(json_object_get(st, "name"));
		if (strcmp(json_string_value(json_object_get(st, "mode")),
		    "sequential") != 0)
			return (wf_fail(err, errlen, name, "mode '%s' cannot "
			    "be combined with depends_on (DAG mode)",
			    json_string_value(json_object_get(st, "mode"))));
		if (step_index(steps, name) != (int)i)
			return (wf_fail(err, errlen, name, "duplicate step "
			    "name (names must be unique with depends_on)"));
	}
	return (wf_dag_layers(steps, layer, err, errlen) < 0 ? -1 : 0);
}

json_t *
wf_def_parse(json_t *body, char *err, size_t errlen)
{
	json_t		*def = NULL, *steps, *list = NULL, *st, *v;
	const char	*name, *desc;
	long long	 total = 0;
	size_t		 i;
	int		 bad = 0;

	if (!json_is_object(body)) {
		snprintf(err, errlen, "the body must be a JSON object");
		return (NULL);
	}
	name = str_member(body, "name", &bad);
	desc = str_member(body, "description", &bad);
	if (bad || (name != NULL && strlen(name) > WF_MAX_NAME) ||
	    (desc != NULL && strlen(desc) > WF_MAX_DESCRIPTION)) {
		wf_fail(err, errlen, NULL, "name (at most %d characters) and "
		    "description (at most %d) must be strings", WF_MAX_NAME,
		    WF_MAX_DESCRIPTION);
		return (NULL);
	}
	steps = json_object_get(body, "steps");
	if (!json_is_array(steps)) {
		snprintf(err, errlen, "Missing 'steps' array");
		return (NULL);
	}
	if (json_array_size(steps) == 0) {
		wf_fail(err, errlen, NULL, "a workflow needs at least one "
		    "step");
		return (NULL);
	}
	if (json_array_size(steps) > WF_MAX_STEPS) {
		wf_fail(err, errlen, NULL, "too many steps (%zu; at most %d)",
		    json_array_size(steps), WF_MAX_STEPS);
		return (NULL);
	}
	if (int_member(body, "total_timeout_secs", 1, WF_MAX_TIMEOUT_SECS,
	    &total) != 0) {
		wf_fail(err, errlen, NULL, "total_timeout_secs must be an "
		    "integer from 1 to %lld", WF_MAX_TIMEOUT_SECS);
		return (NULL);
	}
	v = json_object_get(body, "input_schema");
	if (v != NULL && !json_is_null(v) && (!json_is_array(v) ||
	    json_array_size(v) > 100)) {
		wf_fail(err, errlen, NULL, "input_schema must be an array of "
		    "at most 100 parameters");
		return (NULL);
	}
	if ((list = json_array()) == NULL)
		goto nomem;
	json_array_foreach(steps, i, v) {
		if ((st = parse_step(v, i, err, errlen)) == NULL)
			goto fail;
		if (json_array_append_new(list, st) != 0)
			goto nomem;
	}
	if (wf_is_dag(list) && check_dag(list, err, errlen) != 0)
		goto fail;
	def = json_pack("{s:s, s:s, s:o}", "name", name != NULL ? name :
	    "unnamed", "description", desc != NULL ? desc : "", "steps", list);
	list = NULL;
	if (def == NULL)
		goto nomem;
	if (total > 0)
		json_object_set_new(def, "total_timeout_secs",
		    json_integer(total));
	if ((v = json_object_get(body, "input_schema")) != NULL &&
	    json_is_array(v))
		json_object_set(def, "input_schema", v);
	if ((v = json_object_get(body, "layout")) != NULL &&
	    !json_is_null(v))
		json_object_set(def, "layout", v);
	return (def);
 nomem:
	snprintf(err, errlen, "out of memory");
 fail:
	json_decref(list);
	return (NULL);
}

int
wf_def_check_agents(json_t *def, json_t *agents, char *err, size_t errlen)
{
	json_t		*st, *a;
	const char	*id, *nm, *key, *want;
	size_t		 i, j;
	int		 found;

	json_array_foreach(json_object_get(def, "steps"), i, st) {
		id = json_string_value(json_object_get(st, "agent_id"));
		nm = json_string_value(json_object_get(st, "agent_name"));
		if (id == NULL && nm == NULL)
			continue;	/* collect */
		key = id != NULL ? "id" : "name";
		want = id != NULL ? id : nm;
		found = 0;
		json_array_foreach(agents, j, a) {
			const char *have = json_string_value(
			    json_object_get(a, key));

			if (have != NULL && (id != NULL ?
			    strcasecmp(have, want) : strcmp(have, want)) == 0) {
				found = 1;
				break;
			}
		}
		if (!found)
			return (wf_fail(err, errlen, json_string_value(
			    json_object_get(st, "name")), "agent '%.64s' not "
			    "found", want));
	}
	return (0);
}

json_t *
wf_def_view(const char *id, json_t *def, const char *created_at)
{
	json_t		*out, *steps, *st, *v;
	const char	*key;
	size_t		 i;

	if ((out = json_deep_copy(def)) == NULL)
		return (NULL);
	json_object_set_new(out, "id", json_string(id));
	json_object_set_new(out, "created_at", json_string(created_at));
	steps = json_object_get(out, "steps");
	json_array_foreach(steps, i, st) {
		/* GET names the agent as {agent_id} or {agent_name}. */
		key = json_object_get(st, "agent_id") != NULL ? "agent_id" :
		    "agent_name";
		if ((v = json_object_get(st, key)) == NULL)
			continue;
		json_object_set_new(st, "agent", json_pack("{s:O}", key, v));
		json_object_del(st, key);
	}
	return (out);
}

/* ---- what a run uses --------------------------------------------------- */

char *
wf_expand(const char *tmpl, const char *input, json_t *vars)
{
	struct buf	 b = BUF_INIT(WF_MAX_EXPANDED);
	const char	*p = tmpl, *open, *close, *val;
	char		 key[72];
	size_t		 n;

	/*
	 * One pass: a value put in is never searched for placeholders
	 * again, so an agent's output cannot spell "{{secret}}" into a
	 * later prompt.  Unknown placeholders stay as written.
	 */
	while ((open = strstr(p, "{{")) != NULL) {
		if (buf_add(&b, p, (size_t)(open - p)) != 0)
			return (NULL);
		val = NULL;
		if ((close = strstr(open + 2, "}}")) != NULL &&
		    (n = (size_t)(close - open - 2)) < sizeof(key)) {
			memcpy(key, open + 2, n);
			key[n] = '\0';
			if (strcmp(key, "input") == 0)
				val = input;
			else
				val = json_string_value(json_object_get(vars,
				    key));
		}
		if (val != NULL) {
			if (buf_adds(&b, val) != 0)
				return (NULL);
			p = close + 2;
		} else {
			if (buf_add(&b, "{{", 2) != 0)
				return (NULL);
			p = open + 2;
		}
	}
	if (buf_adds(&b, p) != 0)
		return (NULL);
	return (buf_detach(&b));
}

/* The first top-level occurrence of op in [s, e) outside double quotes,
 * or NULL. */
static const char *
split_at(const char *s, const char *e, const char *op)
{
	int	 quoted = 0;

	for (; s + 1 < e; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (!quoted && s[0] == op[0] && s[1] == op[1])
			return (s);
	}
	return (NULL);
}

/* Case-insensitive: does [n, ne) occur in hay (already lowercase)? */
static int
contains_ci(const char *hay, const char *n, const char *ne)
{
	char	*needle;
	size_t	 len, i;
	int	 found;

	if (ne <= n)
		return (1);
	len = (size_t)(ne - n);
	if ((needle = malloc(len + 1)) == NULL)
		return (0);
	for (i = 0; i < len; i++)
		needle[i] = (char)tolower((unsigned char)n[i]);
	needle[len] = '\0';
	found = strstr(hay, needle) != NULL;
	free(needle);
	return (found);
}

static int
cond_eval(const char *s, const char *e, const char *hay, int depth)
{
	const char	*at;

	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if (depth > 64)
		return (0);
	if ((at = split_at(s, e, "||")) != NULL)
		return (cond_eval(s, at, hay, depth + 1) ||
		    cond_eval(at + 2, e, hay, depth + 1));
	if ((at = split_at(s, e, "&&")) != NULL)
		return (cond_eval(s, at, hay, depth + 1) &&
		    cond_eval(at + 2, e, hay, depth + 1));
	if (s < e && *s == '!')
		return (!cond_eval(s + 1, e, hay, depth + 1));
	return (contains_ci(hay, s, e));
}

int
wf_cond_match(const char *cond, const char *input)
{
	char	*hay;
	size_t	 i, n = strlen(input);
	int	 r;

	if ((hay = malloc(n + 1)) == NULL)
		return (0);
	for (i = 0; i < n; i++)
		hay[i] = (char)tolower((unsigned char)input[i]);
	hay[n] = '\0';
	r = cond_eval(cond, cond + strlen(cond), hay, 0);
	free(hay);
	return (r);
}

int
wf_input_seed(json_t *in, char **input, json_t **vars)
{
	json_t		*obj = NULL, *v;
	const char	*k;
	char		*s = NULL;

	*input = NULL;
	if ((*vars = json_object()) == NULL)
		return (-1);
	if (json_is_string(in))
		s = strdup(json_string_value(in));
	else if (json_is_object(in))
		s = json_dumps(in, JSON_COMPACT);
	else
		s = strdup("");
	if (s == NULL)
		goto fail;
	/* A JSON object's top-level keys become variables (1.3). */
	if ((obj = json_loads(s, JSON_REJECT_DUPLICATES, NULL)) != NULL &&
	    json_is_object(obj)) {
		json_object_foreach(obj, k, v) {
			char	*text = NULL;

			if (json_is_string(v))
				text = strdup(json_string_value(v));
			else if (json_is_null(v))
				text = strdup("");
			else
				text = json_dumps(v, JSON_COMPACT |
				    JSON_ENCODE_ANY);
			if (text == NULL ||
			    json_object_set_new(*vars, k,
			    json_string(text)) != 0) {
				free(text);
				goto fail;
			}
			free(text);
		}
		/* {{input}} is the object's "input" string when it has one. */
		if (json_is_string(json_object_get(obj, "input"))) {
			char *in2 = strdup(json_string_value(
			    json_object_get(obj, "input")));

			if (in2 == NULL)
				goto fail;
			free(s);
			s = in2;
		}
	}
	json_decref(obj);
	*input = s;
	return (0);
 fail:
	json_decref(obj);
	free(s);
	json_decref(*vars);
	*vars = NULL;
	return (-1);
}
