/*
 * agent/manifest.c - the agent manifest (agent.toml): TOML in, normalised
 * JSON out, and back to TOML.
 *
 * The reference parser gives every key a default and ignores keys it does
 * not know; lists and maps of the wrong type quietly become empty.  We do
 * the same, but a scalar of the wrong type, an unknown enumeration value or
 * an absurd number is an error: what we store must have the right types,
 * because every later reader trusts it.  The rules live in the field tables
 * below (one row per key, like cfg.c), so a new key costs one row.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "buf.h"
#include "toml.h"
#include "util.h"
#include "version.h"

#define MF_DEFAULT_PROMPT	"You are a helpful AI agent."
#define MF_INT_BIG		9.0e18		/* "no upper bound" for ints */
#define MF_NUM_BIG		1.0e15		/* same for money and hours */
#define MF_PATH_MAX		160

enum mf_kind {
	MF_STR,		/* string of at most f_max bytes (0: any); absent ->
			 * f_def */
	MF_STR_OPT,	/* the same, or absent */
	MF_BOOL,	/* boolean; absent -> f_def ("true"/"false") */
	MF_BOOL_OPT,
	MF_INT,		/* integer in [f_min, f_max]; absent -> f_def */
	MF_INT_OPT,
	MF_INT_CLAMP,	/* integer clamped into [f_min, f_max]; may be absent */
	MF_NUM,		/* number in [f_min, f_max], stored as a real */
	MF_NUM_OPT,
	MF_NUM_CLAMP,	/* number, clamped; may be absent */
	MF_ENUM,	/* one of f_choices; absent -> f_def */
	MF_ENUM_OPT,
	MF_LIST,	/* list of strings; anything else becomes []; at most
			 * f_max items (0: any) of at most f_min bytes each */
	MF_ARRAY,	/* list of tables (f_sub rules each one); anything
			 * else becomes []; absent: [] if f_def, else absent */
	MF_MAP,		/* table; anything else becomes {} */
	MF_TABLE_OPT,	/* table or absent */
	MF_POLICY_OPT,	/* string or table, or absent (exec_policy) */
	MF_SUB		/* table with its own rules in f_sub; absent -> {} */
};

struct mf_field {
	const char		*f_key;
	enum mf_kind		 f_kind;
	const char		*f_def;
	const char *const	*f_choices;
	double			 f_min;
	double			 f_max;
	const struct mf_field	*f_sub;
};

#define F_STR(k, d)	{ k, MF_STR, d, NULL, 0, 0, NULL }
#define F_STR_OPT(k)	{ k, MF_STR_OPT, NULL, NULL, 0, 0, NULL }
#define F_STR_MAX(k, d, max)	{ k, MF_STR, d, NULL, 0, max, NULL }
#define F_STR_OPT_MAX(k, max)	{ k, MF_STR_OPT, NULL, NULL, 0, max, NULL }
#define F_BOOL(k, d)	{ k, MF_BOOL, d, NULL, 0, 0, NULL }
#define F_BOOL_OPT(k)	{ k, MF_BOOL_OPT, NULL, NULL, 0, 0, NULL }
#define F_INT(k, d, lo, hi)	{ k, MF_INT, d, NULL, lo, hi, NULL }
#define F_INT_OPT(k, lo, hi)	{ k, MF_INT_OPT, NULL, NULL, lo, hi, NULL }
#define F_INT_CLAMP(k, lo, hi)	{ k, MF_INT_CLAMP, NULL, NULL, lo, hi, NULL }
#define F_NUM(k, d, lo, hi)	{ k, MF_NUM, d, NULL, lo, hi, NULL }
#define F_NUM_OPT(k, lo, hi)	{ k, MF_NUM_OPT, NULL, NULL, lo, hi, NULL }
#define F_NUM_CLAMP(k, lo, hi)	{ k, MF_NUM_CLAMP, NULL, NULL, lo, hi, NULL }
#define F_ENUM(k, d, c)	{ k, MF_ENUM, d, c, 0, 0, NULL }
#define F_ENUM_OPT(k, c)	{ k, MF_ENUM_OPT, NULL, c, 0, 0, NULL }
#define F_LIST(k)	{ k, MF_LIST, NULL, NULL, 0, 0, NULL }
#define F_LIST_MAX(k, n, len)	{ k, MF_LIST, NULL, NULL, len, n, NULL }
#define F_ARRAY(k, d, s)	{ k, MF_ARRAY, d, NULL, 0, 0, s }
#define F_MAP(k)	{ k, MF_MAP, NULL, NULL, 0, 0, NULL }
#define F_TABLE_OPT(k)	{ k, MF_TABLE_OPT, NULL, NULL, 0, 0, NULL }
#define F_POLICY_OPT(k)	{ k, MF_POLICY_OPT, NULL, NULL, 0, 0, NULL }
#define F_SUB(k, s)	{ k, MF_SUB, NULL, NULL, 0, 0, s }
#define F_END		{ NULL, MF_STR, NULL, NULL, 0, 0, NULL }

static const char *const mf_session_modes[] = { "persistent", "new", NULL };
static const char *const mf_priorities[] = {
	"Low", "Normal", "High", "Critical", NULL
};
static const char *const mf_profiles[] = {
	"minimal", "coding", "research", "messaging", "automation", "full",
	"custom", NULL
};
static const char *const mf_wsa[] = { "off", "auto", "always", NULL };
static const char *const mf_backends[] = {
	"local", "docker", "ssh", "daytona", NULL
};
static const char *const mf_orphans[] = { "keep", "warn", "delete", NULL };

/* [model]; any other key is kept (it is flattened into provider calls). */
static const struct mf_field mf_model[] = {
	F_STR_MAX("provider", "default", AGENT_PROVIDER_MAX),
	F_STR_MAX("model", "default", AGENT_MODEL_MAX),
	F_INT("max_tokens", "4096", 1, (double)AGENT_MAX_TOKENS_MAX),
	F_NUM("temperature", "0.7", 0, 2),
	F_STR_MAX("system_prompt", MF_DEFAULT_PROMPT, AGENT_PROMPT_MAX),
	F_STR_OPT_MAX("api_key_env", AGENT_ENV_MAX),
	F_STR_OPT_MAX("base_url", AGENT_URL_MAX),
	F_INT_OPT("context_window", 0, MF_INT_BIG),
	F_INT_OPT("max_output_tokens", 0, MF_INT_BIG),
	F_END
};

/* One [[fallback_models]] entry. */
static const struct mf_field mf_fallback[] = {
	F_STR_MAX("provider", "default", AGENT_PROVIDER_MAX),
	F_STR_MAX("model", "default", AGENT_MODEL_MAX),
	F_STR_OPT_MAX("api_key_env", AGENT_ENV_MAX),
	F_STR_OPT_MAX("base_url", AGENT_URL_MAX),
	F_END
};

static const struct mf_field mf_resources[] = {
	F_INT("max_memory_bytes", "268435456", 0, MF_INT_BIG),
	F_INT("max_cpu_time_ms", "30000", 0, MF_INT_BIG),
	F_INT("max_tool_calls_per_minute", "60", 0, MF_INT_BIG),
	F_INT_OPT("max_llm_tokens_per_hour", 0, MF_INT_BIG),
	F_NUM_CLAMP("burst_ratio", 0.01, 1.0),
	F_INT("max_network_bytes_per_hour", "104857600", 0, MF_INT_BIG),
	F_NUM("max_cost_per_hour_usd", "0", 0, MF_NUM_BIG),
	F_NUM("max_cost_per_day_usd", "0", 0, MF_NUM_BIG),
	F_NUM("max_cost_per_month_usd", "0", 0, MF_NUM_BIG),
	F_END
};

static const struct mf_field mf_capabilities[] = {
	F_LIST("tools"),
	F_LIST("network"),
	F_LIST("memory_read"),
	F_LIST("memory_write"),
	F_BOOL("agent_spawn", "false"),
	F_LIST("agent_message"),
	F_LIST("shell"),
	F_BOOL("ofp_discover", "false"),
	F_LIST("ofp_connect"),
	F_END
};

/* The top level (name and schedule have code of their own). */
static const struct mf_field mf_top[] = {
	F_STR_MAX("version", LIBREFANG_VERSION, AGENT_SHORT_MAX),
	F_STR_MAX("description", "", AGENT_DESCRIPTION_MAX),
	F_STR_MAX("author", "", AGENT_SHORT_MAX),
	F_STR_MAX("module", "builtin:chat", AGENT_SHORT_MAX),
	F_ENUM("session_mode", "persistent", mf_session_modes),
	F_SUB("model", mf_model),
	F_ARRAY("fallback_models", NULL, mf_fallback),
	F_SUB("resources", mf_resources),
	F_ENUM("priority", "Normal", mf_priorities),
	F_SUB("capabilities", mf_capabilities),
	F_ENUM_OPT("profile", mf_profiles),
	F_MAP("tools"),
	F_LIST("skills"),
	F_BOOL("skills_disabled", "false"),
	F_LIST("mcp_servers"),
	F_BOOL("mcp_disabled", "false"),
	F_LIST("channels"),
	F_MAP("metadata"),
	F_LIST_MAX("tags", AGENT_TAGS_MAX, AGENT_TAG_MAX),
	F_TABLE_OPT("routing"),
	F_TABLE_OPT("autonomous"),
	F_STR_OPT("pinned_model"),
	F_STR_OPT("workspace"),
	F_BOOL("generate_identity_files", "true"),
	F_MAP("workspaces"),
	F_POLICY_OPT("exec_policy"),
	F_LIST("tool_allowlist"),
	F_LIST("tool_blocklist"),
	F_BOOL("tools_disabled", "false"),
	F_TABLE_OPT("response_format"),
	F_BOOL("enabled", "true"),
	F_LIST("allowed_plugins"),
	F_BOOL("inherit_parent_context", "true"),
	F_TABLE_OPT("thinking"),
	F_ARRAY("context_injection", "[]", NULL),
	F_BOOL("is_hand", "false"),
	F_ENUM("web_search_augmentation", "auto", mf_wsa),
	F_BOOL("auto_dream_enabled", "false"),
	F_NUM_OPT("auto_dream_min_hours", 0, MF_NUM_BIG),
	F_INT_OPT("auto_dream_min_sessions", 0, MF_INT_BIG),
	F_BOOL("show_progress", "true"),
	F_BOOL("auto_evolve", "true"),
	F_TABLE_OPT("channel_overrides"),
	F_INT_CLAMP("max_history_messages", 4, 500),
	F_INT_OPT("max_concurrent_invocations", 1, 1000000),
	F_BOOL_OPT("assignee_wake"),
	F_BOOL("cache_context", "false"),
	F_ENUM_OPT("tool_exec_backend", mf_backends),
	F_TABLE_OPT("skill_workshop"),
	F_TABLE_OPT("proactive_memory"),
	F_TABLE_OPT("compaction"),
	F_TABLE_OPT("context_engine"),
	F_TABLE_OPT("rl_export"),
	F_ARRAY("triggers", "[]", NULL),
	F_ENUM("reconcile_orphans", "keep", mf_orphans),
	F_TABLE_OPT("async_tasks"),
	F_END
};

static int
mf_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
mf_fail(char *err, size_t errlen, const char *fmt, ...)
{
	char	text[AGENT_ERRLEN];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "invalid manifest: %s", text);
	return (-1);
}

int
agent_name_check(const char *name, char *err, size_t errlen)
{
	size_t	i, len;
	char	c;

	if (name == NULL || *name == '\0') {
		snprintf(err, errlen, "agent name is required");
		return (-1);
	}
	len = strlen(name);
	if (strncmp(name, AGENT_RESERVED_PREFIX,
	    strlen(AGENT_RESERVED_PREFIX)) == 0) {
		snprintf(err, errlen, "agent name may not start with '%s'",
		    AGENT_RESERVED_PREFIX);
		return (-1);
	}
	if (len > AGENT_NAME_MAX) {
		snprintf(err, errlen, "agent name is longer than %d characters",
		    AGENT_NAME_MAX);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		c = name[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')
			continue;
		snprintf(err, errlen, "invalid agent name: use 1-%d of "
		    "A-Z a-z 0-9 _ . -", AGENT_NAME_MAX);
		return (-1);
	}
	/* Names become directory names later (workspaces). */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		snprintf(err, errlen, "invalid agent name '%s'", name);
		return (-1);
	}
	return (0);
}

int
agent_check_max_tokens(json_t *v, const char *what, char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > AGENT_MAX_TOKENS_MAX) {
		snprintf(err, errlen, "'%s' must be an integer in 1..%lld",
		    what, AGENT_MAX_TOKENS_MAX);
		return (-1);
	}
	return (0);
}

int
agent_check_temperature(json_t *v, const char *what, char *err,
    size_t errlen)
{
	if (!json_is_number(v) || !(json_number_value(v) >= 0.0 &&
	    json_number_value(v) <= 2.0)) {
		snprintf(err, errlen, "'%s' must be a number in 0..2", what);
		return (-1);
	}
	return (0);
}

/* Strings that PostgreSQL's jsonb cannot hold (U+0000) are refused here,
 * with the path of the first one, rather than as a database error. */
static int
mf_check_nul(json_t *v, const char *path, char *err, size_t errlen)
{
	const char	*k;
	json_t		*e;
	size_t		 i;

	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) != json_string_length(v))
			return (mf_fail(err, errlen, "'%s' contains a NUL "
			    "character", path));
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, e)
			if (mf_check_nul(e, k, err, errlen) != 0)
				return (-1);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if (mf_check_nul(e, path, err, errlen) != 0)
				return (-1);
	}
	return (0);
}

static int
mf_is_string_list(json_t *v)
{
	json_t	*e;
	size_t	 i;

	if (!json_is_array(v))
		return (0);
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return (0);
	return (1);
}

static int
mf_in(const char *s, const char *const *choices)
{
	for (; *choices != NULL; choices++)
		if (strcmp(s, *choices) == 0)
			return (1);
	return (0);
}

static void
mf_choices(const char *const *choices, char *out, size_t outlen)
{
	struct buf	b = BUF_INIT(512);
	char		*s;

	for (; *choices != NULL; choices++)
		buf_addf(&b, "%s'%s'", b.b_len ? ", " : "", *choices);
	s = buf_detach(&b);
	snprintf(out, outlen, "%s", s ? s : "");
	free(s);
}

static int mf_apply(json_t *obj, const char *prefix,
    const struct mf_field *fields, char *err, size_t errlen);

/* Applies one row of a field table to obj (a table). */
static int
mf_field(json_t *obj, const char *path, const struct mf_field *f,
    char *err, size_t errlen)
{
	json_t		*v = json_object_get(obj, f->f_key), *e;
	char		 sub[MF_PATH_MAX], list[200];
	long long	 n;
	double		 d;
	size_t		 i;

	if (json_is_null(v))		/* only JSON patches carry nulls */
		v = NULL;
	switch (f->f_kind) {
	case MF_STR:
	case MF_STR_OPT:
		if (v == NULL) {
			if (f->f_kind == MF_STR)
				json_object_set_new(obj, f->f_key,
				    json_string(f->f_def));
			else
				json_object_del(obj, f->f_key);
		} else if (!json_is_string(v))
			return (mf_fail(err, errlen, "'%s' must be a string",
			    path));
		else if (f->f_max > 0 && (double)json_string_length(v) >
		    f->f_max)
			return (mf_fail(err, errlen, "'%s' is longer than "
			    "%.0f bytes", path, f->f_max));
		break;
	case MF_BOOL:
	case MF_BOOL_OPT:
		if (v == NULL) {
			if (f->f_kind == MF_BOOL)
				json_object_set_new(obj, f->f_key, json_boolean(
				    strcmp(f->f_def, "true") == 0));
			else
				json_object_del(obj, f->f_key);
		} else if (!json_is_boolean(v))
			return (mf_fail(err, errlen, "'%s' must be true or "
			    "false", path));
		break;
	case MF_INT:
	case MF_INT_OPT:
	case MF_INT_CLAMP:
		if (v == NULL) {
			if (f->f_kind == MF_INT && util_strtonum(f->f_def,
			    INT64_MIN, INT64_MAX, &n) == 0)
				json_object_set_new(obj, f->f_key,
				    json_integer(n));
			else
				json_object_del(obj, f->f_key);
			break;
		}
		if (!json_is_integer(v))
			return (mf_fail(err, errlen, "'%s' must be an integer",
			    path));
		n = json_integer_value(v);
		if (f->f_kind == MF_INT_CLAMP) {
			if ((double)n < f->f_min)
				json_object_set_new(obj, f->f_key,
				    json_integer((json_int_t)f->f_min));
			else if ((double)n > f->f_max)
				json_object_set_new(obj, f->f_key,
				    json_integer((json_int_t)f->f_max));
		} else if ((double)n < f->f_min || (double)n > f->f_max)
			return (mf_fail(err, errlen, "'%s' must be an integer "
			    "in %.0f..%.0f", path, f->f_min, f->f_max));
		break;
	case MF_NUM:
	case MF_NUM_OPT:
	case MF_NUM_CLAMP:
		if (v == NULL) {
			if (f->f_kind == MF_NUM)
				json_object_set_new(obj, f->f_key,
				    json_real(strtod(f->f_def, NULL)));
			else
				json_object_del(obj, f->f_key);
			break;
		}
		if (!json_is_number(v))
			return (mf_fail(err, errlen, "'%s' must be a number",
			    path));
		d = json_number_value(v);
		if (f->f_kind == MF_NUM_CLAMP)
			d = d < f->f_min ? f->f_min : d > f->f_max ?
			    f->f_max : d;
		else if (!(d >= f->f_min && d <= f->f_max))
			return (mf_fail(err, errlen, "'%s' must be a number "
			    "in %g..%g", path, f->f_min, f->f_max));
		/* Stored as a real, so readers need not accept both. */
		if (json_is_integer(v) || d != json_number_value(v))
			json_object_set_new(obj, f->f_key, json_real(d));
		break;
	case MF_ENUM:
	case MF_ENUM_OPT:
		if (v == NULL) {
			if (f->f_kind == MF_ENUM)
				json_object_set_new(obj, f->f_key,
				    json_string(f->f_def));
			else
				json_object_del(obj, f->f_key);
		} else if (!json_is_string(v) ||
		    !mf_in(json_string_value(v), f->f_choices)) {
			mf_choices(f->f_choices, list, sizeof(list));
			return (mf_fail(err, errlen, "'%s' must be one of %s",
			    path, list));
		}
		break;
	case MF_LIST:
		if (!mf_is_string_list(v)) {
			json_object_set_new(obj, f->f_key, json_array());
			break;
		}
		if (f->f_max > 0 && (double)json_array_size(v) > f->f_max)
			return (mf_fail(err, errlen, "'%s' has more than %.0f "
			    "items", path, f->f_max));
		json_array_foreach(v, i, e)
			if (f->f_min > 0 && (double)json_string_length(e) >
			    f->f_min)
				return (mf_fail(err, errlen, "'%s[%zu]' is "
				    "longer than %.0f bytes", path, i,
				    f->f_min));
		break;
	case MF_ARRAY:
		if (v == NULL && f->f_def == NULL) {
			json_object_del(obj, f->f_key);
			break;
		}
		if (!json_is_array(v)) {
			json_object_set_new(obj, f->f_key, json_array());
			break;
		}
		json_array_foreach(v, i, e)
			if (!json_is_object(e))
				break;
		if (i < json_array_size(v)) {
			json_object_set_new(obj, f->f_key, json_array());
			break;
		}
		if (f->f_sub == NULL)
			break;
		json_array_foreach(v, i, e) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if (mf_apply(e, sub, f->f_sub, err, errlen) != 0)
				return (-1);
		}
		break;
	case MF_MAP:
		if (!json_is_object(v))
			json_object_set_new(obj, f->f_key, json_object());
		break;
	case MF_TABLE_OPT:
		if (v == NULL)
			json_object_del(obj, f->f_key);
		else if (!json_is_object(v))
			return (mf_fail(err, errlen, "'%s' must be a table",
			    path));
		break;
	case MF_POLICY_OPT:
		if (v == NULL)
			json_object_del(obj, f->f_key);
		else if (!json_is_object(v) && !json_is_string(v))
			return (mf_fail(err, errlen, "'%s' must be a string "
			    "or a table", path));
		break;
	case MF_SUB:
		if (v == NULL) {
			if ((v = json_object()) == NULL ||
			    json_object_set_new(obj, f->f_key, v) != 0)
				return (mf_fail(err, errlen, "out of memory"));
		} else if (!json_is_object(v))
			return (mf_fail(err, errlen, "'%s' must be a table",
			    path));
		if (mf_apply(v, path, f->f_sub, err, errlen) != 0)
			return (-1);
		break;
	}
	return (0);
}

static int
mf_apply(json_t *obj, const char *prefix, const struct mf_field *fields,
    char *err, size_t errlen)
{
	const struct mf_field	*f;
	char			 path[MF_PATH_MAX];

	for (f = fields; f->f_key != NULL; f++) {
		/* A path too long for messages is cut, never an error. */
		if (snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "",
		    prefix ? "." : "", f->f_key) < 0)
			path[0] = '\0';
		if (mf_field(obj, path, f, err, errlen) != 0)
			return (-1);
	}
	return (0);
}

/*
 * schedule: the string "reactive", or a table with exactly one of
 * periodic = {cron}, continuous = {check_interval_secs = 300} or
 * proactive = {conditions = [...]}.
 */
static int
mf_schedule(json_t *m, char *err, size_t errlen)
{
	static const struct mf_field	periodic[] = {
		F_STR_OPT("cron"), F_END
	};
	static const struct mf_field	continuous[] = {
		F_INT("check_interval_secs", "300", 1, MF_INT_BIG), F_END
	};
	static const struct mf_field	proactive[] = {
		F_LIST("conditions"), F_END
	};
	const struct mf_field	*rules;
	json_t			*s = json_object_get(m, "schedule"), *body;
	const char		*kind;
	char			 path[MF_PATH_MAX];

	if (s == NULL || json_is_null(s))
		return (json_object_set_new(m, "schedule",
		    json_string("reactive")) == 0 ? 0 :
		    mf_fail(err, errlen, "out of memory"));
	if (json_is_string(s)) {
		if (strcmp(json_string_value(s), "reactive") != 0)
			return (mf_fail(err, errlen, "'schedule' must be "
			    "\"reactive\" or a table with periodic, continuous "
			    "or proactive"));
		return (0);
	}
	if (!json_is_object(s) || json_object_size(s) != 1)
		return (mf_fail(err, errlen, "'schedule' must be \"reactive\" "
		    "or a table with one of periodic, continuous, proactive"));
	kind = json_object_iter_key(json_object_iter(s));
	body = json_object_get(s, kind);
	if (strcmp(kind, "periodic") == 0)
		rules = periodic;
	else if (strcmp(kind, "continuous") == 0)
		rules = continuous;
	else if (strcmp(kind, "proactive") == 0)
		rules = proactive;
	else
		return (mf_fail(err, errlen, "unknown schedule '%s'", kind));
	if (!json_is_object(body))
		return (mf_fail(err, errlen, "'schedule.%s' must be a table",
		    kind));
	if (rules == periodic && !json_is_string(json_object_get(body,
	    "cron")))
		return (mf_fail(err, errlen, "'schedule.periodic.cron' must "
		    "be a string"));
	snprintf(path, sizeof(path), "schedule.%s", kind);
	return (mf_apply(body, path, rules, err, errlen));
}

/* [model] before its table: "name" is an alias of "model". */
static int
mf_model_alias(json_t *m, char *err, size_t errlen)
{
	json_t	*model = json_object_get(m, "model"), *alias;

	if (!json_is_object(model) ||
	    (alias = json_object_get(model, "name")) == NULL)
		return (0);
	if (json_object_get(model, "model") != NULL)
		return (mf_fail(err, errlen, "'model.name' and 'model.model' "
		    "both given"));
	json_object_set(model, "model", alias);
	json_object_del(model, "name");
	return (0);
}

/* An empty provider or model means the global default, like "default". */
static void
mf_model_defaults(json_t *m)
{
	json_t		*model = json_object_get(m, "model"), *fb, *e;
	const char	*keys[] = { "provider", "model" };
	size_t		 i, k;

	for (k = 0; k < 2; k++)
		if (json_string_length(json_object_get(model, keys[k])) == 0)
			json_object_set_new(model, keys[k],
			    json_string("default"));
	fb = json_object_get(m, "fallback_models");
	json_array_foreach(fb, i, e)
		for (k = 0; k < 2; k++)
			if (json_string_length(json_object_get(e, keys[k])) ==
			    0)
				json_object_set_new(e, keys[k],
				    json_string("default"));
}

int
agent_manifest_normalize(json_t *m, char *err, size_t errlen)
{
	json_t	*name;

	if (!json_is_object(m))
		return (mf_fail(err, errlen, "the manifest must be a table"));
	name = json_object_get(m, "name");
	if (name != NULL && !json_is_string(name))
		return (mf_fail(err, errlen, "'name' must be a string"));
	if (mf_model_alias(m, err, errlen) != 0 ||
	    mf_apply(m, NULL, mf_top, err, errlen) != 0 ||
	    mf_schedule(m, err, errlen) != 0)
		return (-1);
	mf_model_defaults(m);
	return (mf_check_nul(m, "manifest", err, errlen));
}

json_t *
agent_manifest_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct toml_err	 te;
	json_t		*m;

	if ((m = toml_parse(text, len, 0, &te)) == NULL) {
		mf_fail(err, errlen, "%s", te.te_msg[0] ? te.te_msg :
		    "unreadable TOML");
		return (NULL);
	}
	if (agent_manifest_normalize(m, err, errlen) != 0) {
		json_decref(m);
		return (NULL);
	}
	return (m);
}

/* ---- JSON -> TOML ---------------------------------------------------- */

static int
mf_toml_key(struct buf *b, const char *k)
{
	const char	*p;

	for (p = k; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			break;
	if (*k != '\0' && *p == '\0')
		return (buf_adds(b, k));
	return (-1);	/* caller quotes it */
}

static int
mf_toml_str(struct buf *b, const char *s, size_t len)
{
	unsigned char	c;
	size_t		i;
	int		rv = buf_add(b, "\"", 1);

	for (i = 0; i < len && rv == 0; i++) {
		c = (unsigned char)s[i];
		switch (c) {
		case '"':
			rv = buf_adds(b, "\\\"");
			break;
		case '\\':
			rv = buf_adds(b, "\\\\");
			break;
		case '\n':
			rv = buf_adds(b, "\\n");
			break;
		case '\t':
			rv = buf_adds(b, "\\t");
			break;
		case '\r':
			rv = buf_adds(b, "\\r");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				rv = buf_addf(b, "\\u%04x", c);
			else
				rv = buf_add(b, &s[i], 1);
		}
	}
	return (rv == 0 ? buf_add(b, "\"", 1) : rv);
}

static int
mf_toml_keyq(struct buf *b, const char *k)
{
	if (mf_toml_key(b, k) == 0)
		return (0);
	return (mf_toml_str(b, k, strlen(k)));
}

/*
 * A float as TOML: %.15g (what agent/store.c gives jsonb too, so the two
 * forms hold the same number), with ".0" added to whole numbers so that
 * they read back as floats.
 */
static int
mf_toml_real(struct buf *b, double d)
{
	char	text[40];

	snprintf(text, sizeof(text), "%.*g", AGENT_REAL_DIGITS, d);
	if (strpbrk(text, ".e") == NULL)
		return (buf_addf(b, "%s.0", text));
	return (buf_adds(b, text));
}

/* One value in inline form; JSON nulls (TOML has none) are skipped by the
 * callers. */
static int
mf_toml_value(struct buf *b, json_t *v)
{
	const char	*k;
	json_t		*e;
	size_t		 i;
	int		 n = 0, rv = 0;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return (mf_toml_str(b, json_string_value(v),
		    json_string_length(v)));
	case JSON_INTEGER:
		return (buf_addf(b, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v)));
	case JSON_REAL:
		return (mf_toml_real(b, json_real_value(v)));
	case JSON_TRUE:
		return (buf_adds(b, "true"));
	case JSON_FALSE:
		return (buf_adds(b, "false"));
	case JSON_ARRAY:
		rv = buf_adds(b, "[");
		json_array_foreach(v, i, e) {
			if (rv != 0 || json_is_null(e))
				continue;
			if (n++ > 0)
				rv = buf_adds(b, ", ");
			if (rv == 0)
				rv = mf_toml_value(b, e);
		}
		return (rv == 0 ? buf_adds(b, "]") : rv);
	case JSON_OBJECT:
		rv = buf_adds(b, "{");
		json_object_foreach(v, k, e) {
			if (rv != 0 || json_is_null(e))
				continue;
			if (n++ > 0)
				rv = buf_adds(b, ", ");
			if (rv == 0)
				rv = mf_toml_keyq(b, k);
			if (rv == 0)
				rv = buf_adds(b, " = ");
			if (rv == 0)
				rv = mf_toml_value(b, e);
		}
		return (rv == 0 ? buf_adds(b, "}") : rv);
	case JSON_NULL:
		break;
	}
	return (0);
}

static int
mf_toml_line(struct buf *b, const char *k, json_t *v)
{
	if (mf_toml_keyq(b, k) != 0 || buf_adds(b, " = ") != 0 ||
	    mf_toml_value(b, v) != 0 || buf_adds(b, "\n") != 0)
		return (-1);
	return (0);
}

char *
agent_manifest_to_toml(json_t *m)
{
	struct buf	 b = BUF_INIT(64 * 1024 * 1024);
	json_t		*v, *e;
	const char	*k, *k2;

	/* Every plain key must come before the first [table] header. */
	json_object_foreach(m, k, v)
		if (!json_is_object(v) && !json_is_null(v) &&
		    mf_toml_line(&b, k, v) != 0)
			goto fail;
	json_object_foreach(m, k, v) {
		if (!json_is_object(v))
			continue;
		if (buf_adds(&b, b.b_len ? "\n[" : "[") != 0 ||
		    mf_toml_keyq(&b, k) != 0 || buf_adds(&b, "]\n") != 0)
			goto fail;
		json_object_foreach(v, k2, e)
			if (!json_is_null(e) && mf_toml_line(&b, k2, e) != 0)
				goto fail;
	}
	return (buf_detach(&b));
 fail:
	buf_release(&b);
	return (NULL);
}
