/*
 * skill/manifest.c - the skill formats (notes/extensions.md 1.1): our
 * skill.toml, parsed with libshared's TOML reader and checked key by
 * key, and OpenClaw's SKILL.md, converted into it.
 *
 * The reference ignores keys it does not know; we refuse them, naming the
 * key, so a typo ("descripton") is an error rather than a skill without a
 * description.  SKILL.md is another project's format: of its front matter
 * we keep what a skill.toml can say and drop the rest.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "buf.h"
#include "skill/skill.h"
#include "toml.h"
#include "version.h"

#define SK_SHORT	256		/* bytes of version, author, license */
#define SK_TAG_MAX	64
#define SK_TIMEOUT_MAX	600

enum sk_type {
	SK_STR,		/* a string of at most f_max bytes */
	SK_STRS,	/* an array of at most f_max strings */
	SK_INT,		/* an integer from 0 to f_max */
	SK_TABLE,	/* a table (checked by the caller) */
	SK_TABLES,	/* an array of tables (checked by the caller) */
};

struct sk_field {
	const char	*f_key;
	enum sk_type	 f_type;
	int		 f_required;
	long long	 f_max;
};

static const struct sk_field top_fields[] = {
	{ "skill", SK_TABLE, 1, 0 },
	{ "runtime", SK_TABLE, 0, 0 },
	{ "tools", SK_TABLE, 0, 0 },
	{ "requirements", SK_TABLE, 0, 0 },
	{ "config", SK_TABLE, 0, 0 },
	{ "config_vars", SK_TABLES, 0, 64 },
	{ "env_passthrough", SK_STRS, 0, 64 },
	{ "prompt_context", SK_STR, 0, SKILL_PROMPT_MAX },
	{ "source", SK_TABLE, 0, 0 },
	{ NULL, 0, 0, 0 }
};
static const struct sk_field skill_fields[] = {
	{ "name", SK_STR, 1, SKILL_NAME_MAX },
	{ "version", SK_STR, 0, 64 },
	{ "description", SK_STR, 0, SKILL_DESC_MAX },
	{ "author", SK_STR, 0, SK_SHORT },
	{ "license", SK_STR, 0, SK_SHORT },
	{ "tags", SK_STRS, 0, SKILL_TAGS_MAX },
	{ NULL, 0, 0, 0 }
};
static const struct sk_field runtime_fields[] = {
	{ "type", SK_STR, 0, 16 },
	{ "entry", SK_STR, 0, SKILL_PATH_MAX },
	{ NULL, 0, 0, 0 }
};
static const struct sk_field tools_fields[] = {
	{ "provided", SK_TABLES, 0, SKILL_TOOLS_MAX },
	{ NULL, 0, 0, 0 }
};
static const struct sk_field tool_fields[] = {
	{ "name", SK_STR, 1, 64 },
	{ "description", SK_STR, 0, SKILL_DESC_MAX },
	{ "input_schema", SK_TABLE, 0, 0 },
	{ NULL, 0, 0, 0 }
};
static const struct sk_field req_fields[] = {
	{ "tools", SK_STRS, 0, 64 },
	{ "capabilities", SK_STRS, 0, 64 },
	{ "timeout_secs", SK_INT, 0, SK_TIMEOUT_MAX },
	{ NULL, 0, 0, 0 }
};
static const struct sk_field var_fields[] = {
	{ "key", SK_STR, 1, 128 },
	{ "description", SK_STR, 0, SKILL_DESC_MAX },
	{ "default", SK_STR, 0, 4096 },
	{ NULL, 0, 0, 0 }
};
static const struct sk_field source_fields[] = {
	{ "type", SK_STR, 1, 32 },
	{ "slug", SK_STR, 0, 128 },
	{ "version", SK_STR, 0, 64 },
	{ NULL, 0, 0, 0 }
};

/* The runtimes, as TOML writes them and as the API prints them. */
static const struct {
	const char	*toml, *api;
} runtimes[] = {
	{ "promptonly", "prompt_only" },
	{ "python", "python" },
	{ "node", "node" },
	{ "shell", "shell" },
	{ "wasm", "wasm" },
	{ "builtin", "builtin" },
	{ NULL, NULL }
};

static const char *const source_types[] = {
	"native", "local", "open_claw", "claw_hub", "claw_hub_cn", "skillhub",
	NULL
};

/* Tags that name a platform, not a category. */
static const char *const platform_tags[] = {
	"macos", "linux", "windows", "macos-only", "linux-only",
	"windows-only", NULL
};

/* Words of the routes under /api/skills/: a skill of that name could not
 * be fetched by name. */
static const char *const reserved_names[] = {
	"registry", "install", "uninstall", "create", "reload", NULL
};

const char *
skill_name_problem(const char *s, size_t n)
{
	size_t	i;

	if (s == NULL || n == 0)
		return ("a name is required");
	if (memchr(s, '\0', n) != NULL)
		return ("a name may not hold a NUL byte");
	if (strchr(s, '/') != NULL || strchr(s, '\\') != NULL)
		return ("a name may not hold a slash");
	if (strspn(s, ".") == n)
		return ("a name may not be dots only");
	if (n > SKILL_NAME_MAX)
		return ("a name is at most 64 bytes");
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || (i > 0 && (s[i] == '-' || s[i] == '_'))))
			return ("a name is lowercase letters, digits, '-' and "
			    "'_', starting with a letter or a digit");
	if (agent_in_list(s, reserved_names))
		return ("that name is a word of the skills routes");
	return (NULL);
}

const char *
skill_path_problem(const char *path)
{
	const char	*p, *c;
	size_t		 n;

	if (path == NULL || *path == '\0')
		return ("a path is required");
	if (strlen(path) > SKILL_PATH_MAX)
		return ("a path is at most 255 bytes");
	if (*path == '/')
		return ("a path must be relative");
	for (p = path; ; p = c + 1) {
		c = strchr(p, '/');
		n = c != NULL ? (size_t)(c - p) : strlen(p);
		if (n == 0)
			return ("a path may not hold an empty component");
		if (*p == '.')
			return ("a path component may not start with '.' (no "
			    "'..', no hidden files)");
		if (strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
		    "STUVWXYZ0123456789._-") < n)
			return ("a path is letters, digits, '.', '-', '_' and "
			    "'/'");
		if (c == NULL)
			return (NULL);
	}
}

/* Checks table t (named where; "" at the top) against fields: every key
 * known, required ones present, types and bounds.  0, or -1 with err. */
static int
fields_check(json_t *t, const char *where, const struct sk_field *fields,
    char *err, size_t errlen)
{
	const struct sk_field	*f;
	const char		*k, *dot = *where != '\0' ? "." : "";
	json_t			*v, *e;
	size_t			 i;

	json_object_foreach(t, k, v) {
		for (f = fields; f->f_key != NULL; f++)
			if (strcmp(f->f_key, k) == 0)
				break;
		if (f->f_key == NULL) {
			snprintf(err, errlen, "unknown key '%s%s%.64s'", where,
			    dot, k);
			return (-1);
		}
	}
	for (f = fields; f->f_key != NULL; f++) {
		v = json_object_get(t, f->f_key);
		if (v == NULL) {
			if (f->f_required) {
				snprintf(err, errlen, "'%s%s%s' is required",
				    where, dot, f->f_key);
				return (-1);
			}
			continue;
		}
		switch (f->f_type) {
		case SK_STR:
			if (!json_is_string(v) || json_string_length(v) >
			    (size_t)f->f_max || strlen(json_string_value(v)) !=
			    json_string_length(v))
				goto bad;
			break;
		case SK_STRS:
			if (!json_is_array(v) || json_array_size(v) >
			    (size_t)f->f_max)
				goto bad;
			json_array_foreach(v, i, e)
				if (!json_is_string(e) ||
				    json_string_length(e) == 0 ||
				    json_string_length(e) > SK_TAG_MAX ||
				    strlen(json_string_value(e)) !=
				    json_string_length(e))
					goto bad;
			break;
		case SK_INT:
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > f->f_max)
				goto bad;
			break;
		case SK_TABLE:
			if (!json_is_object(v))
				goto bad;
			break;
		case SK_TABLES:
			if (!json_is_array(v) || json_array_size(v) >
			    (size_t)f->f_max)
				goto bad;
			json_array_foreach(v, i, e)
				if (!json_is_object(e))
					goto bad;
			break;
		}
		continue;
 bad:
		switch (f->f_type) {
		case SK_STR:
			snprintf(err, errlen, "'%s%s%s' must be a string of at "
			    "most %lld bytes", where, dot, f->f_key, f->f_max);
			break;
		case SK_STRS:
			snprintf(err, errlen, "'%s%s%s' must be an array of at "
			    "most %lld strings of 1-%d bytes", where, dot,
			    f->f_key, f->f_max, SK_TAG_MAX);
			break;
		case SK_INT:
			snprintf(err, errlen, "'%s%s%s' must be an integer "
			    "from 0 to %lld", where, dot, f->f_key, f->f_max);
			break;
		case SK_TABLE:
			snprintf(err, errlen, "'%s%s%s' must be a table",
			    where, dot, f->f_key);
			break;
		case SK_TABLES:
			snprintf(err, errlen, "'%s%s%s' must be an array of at "
			    "most %lld tables", where, dot, f->f_key, f->f_max);
			break;
		}
		return (-1);
	}
	return (0);
}

/* t.key, or def when absent (borrowed / static). */
static const char *
str_or(json_t *t, const char *key, const char *def)
{
	const char	*s = json_string_value(json_object_get(t, key));

	return (s != NULL ? s : def);
}

static json_t *
array_or_empty(json_t *t, const char *key)
{
	json_t	*v = json_object_get(t, key);

	return (v != NULL ? json_deep_copy(v) : json_array());
}

/* The [[tools.provided]] entries, checked and normalised (new), or NULL
 * with err. */
static json_t *
tools_check(json_t *tools, char *err, size_t errlen)
{
	json_t		*out = json_array(), *t, *schema;
	const char	*name;
	char		 where[48];
	size_t		 i, n;

	if (out == NULL)
		goto nomem;
	json_array_foreach(json_object_get(tools, "provided"), i, t) {
		snprintf(where, sizeof(where), "tools.provided[%zu]", i);
		if (fields_check(t, where, tool_fields, err, errlen) != 0)
			goto fail;
		name = json_string_value(json_object_get(t, "name"));
		n = strlen(name);
		if (n == 0 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEF"
		    "GHIJKLMNOPQRSTUVWXYZ0123456789_-") != n) {
			snprintf(err, errlen, "'%s.name' must be 1-64 letters, "
			    "digits, '-' or '_'", where);
			goto fail;
		}
		schema = json_object_get(t, "input_schema");
		if (json_array_append_new(out, json_pack("{s:s, s:s, s:o}",
		    "name", name, "description", str_or(t, "description", ""),
		    "input_schema", schema != NULL ? json_deep_copy(schema) :
		    json_pack("{s:s}", "type", "object"))) != 0)
			goto nomem;
	}
	return (out);
 nomem:
	snprintf(err, errlen, "out of memory");
 fail:
	json_decref(out);
	return (NULL);
}

json_t *
skill_manifest_check(json_t *doc, char **promptp, char *err, size_t errlen)
{
	json_t		*sk, *rt, *req, *out = NULL, *tools = NULL, *vars, *v;
	json_t		*src;
	const char	*name, *type, *entry, *e;
	char		 where[48];
	size_t		 i, j;

	*promptp = NULL;
	if (!json_is_object(doc)) {
		snprintf(err, errlen, "a skill manifest is a table");
		return (NULL);
	}
	if (fields_check(doc, "", top_fields, err, errlen) != 0)
		return (NULL);
	sk = json_object_get(doc, "skill");
	rt = json_object_get(doc, "runtime");
	req = json_object_get(doc, "requirements");
	src = json_object_get(doc, "source");
	if (fields_check(sk, "skill", skill_fields, err, errlen) != 0 ||
	    (rt != NULL && fields_check(rt, "runtime", runtime_fields, err,
	    errlen) != 0) ||
	    (req != NULL && fields_check(req, "requirements", req_fields,
	    err, errlen) != 0) ||
	    (src != NULL && fields_check(src, "source", source_fields, err,
	    errlen) != 0) ||
	    (json_object_get(doc, "tools") != NULL && fields_check(
	    json_object_get(doc, "tools"), "tools", tools_fields, err,
	    errlen) != 0))
		return (NULL);
	name = json_string_value(json_object_get(sk, "name"));
	if ((e = skill_name_problem(name, json_string_length(json_object_get(
	    sk, "name")))) != NULL) {
		snprintf(err, errlen, "'skill.name': %s", e);
		return (NULL);
	}
	type = str_or(rt, "type", "promptonly");
	if (strcmp(type, "prompt_only") == 0)
		type = "promptonly";
	for (i = 0; runtimes[i].toml != NULL; i++)
		if (strcmp(runtimes[i].toml, type) == 0)
			break;
	if (runtimes[i].toml == NULL) {
		snprintf(err, errlen, "'runtime.type' must be promptonly, "
		    "python, node, shell, wasm or builtin");
		return (NULL);
	}
	entry = str_or(rt, "entry", "");
	if (strcmp(type, "promptonly") != 0 && strcmp(type, "builtin") != 0 &&
	    (e = skill_path_problem(entry)) != NULL) {
		snprintf(err, errlen, "'runtime.entry': %s", e);
		return (NULL);
	}
	if (src != NULL && !agent_in_list(str_or(src, "type", ""), source_types)) {
		snprintf(err, errlen, "'source.type' must be native, local, "
		    "open_claw, claw_hub, claw_hub_cn or skillhub");
		return (NULL);
	}
	json_array_foreach(json_object_get(doc, "env_passthrough"), i, v) {
		e = json_string_value(v);
		if (!isupper((unsigned char)*e) && *e != '_')
			goto badenv;
		for (j = 0; e[j] != '\0'; j++)
			if (!isupper((unsigned char)e[j]) &&
			    !isdigit((unsigned char)e[j]) && e[j] != '_')
				goto badenv;
	}
	vars = json_object_get(doc, "config_vars");
	json_array_foreach(vars, i, v) {
		snprintf(where, sizeof(where), "config_vars[%zu]", i);
		if (fields_check(v, where, var_fields, err, errlen) != 0)
			return (NULL);
	}
	if ((tools = tools_check(json_object_get(doc, "tools"), err,
	    errlen)) == NULL)
		return (NULL);
	out = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:o}, s:{s:s, s:s}, "
	    "s:{s:o}, s:{s:o, s:o, s:I}, s:o, s:o, s:o}",
	    "skill", "name", name,
	    "version", str_or(sk, "version", "0.1.0"),
	    "description", str_or(sk, "description", ""),
	    "author", str_or(sk, "author", ""),
	    "license", str_or(sk, "license", ""),
	    "tags", array_or_empty(sk, "tags"),
	    "runtime", "type", type, "entry", entry,
	    "tools", "provided", tools,
	    "requirements", "tools", array_or_empty(req, "tools"),
	    "capabilities", array_or_empty(req, "capabilities"),
	    "timeout_secs", (json_int_t)json_integer_value(json_object_get(req,
	    "timeout_secs")),
	    "config", json_object_get(doc, "config") != NULL ?
	    json_deep_copy(json_object_get(doc, "config")) : json_object(),
	    "config_vars", array_or_empty(doc, "config_vars"),
	    "env_passthrough", array_or_empty(doc, "env_passthrough"));
	tools = NULL;	/* stolen, also on failure */
	if (out == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	if ((e = json_string_value(json_object_get(doc, "prompt_context")))
	    != NULL && *e != '\0' && (*promptp = strdup(e)) == NULL) {
		json_decref(out);
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	return (out);
 badenv:
	snprintf(err, errlen, "'env_passthrough[%zu]' must be an environment "
	    "variable name ([A-Z_][A-Z0-9_]*)", i);
	return (NULL);
}

json_t *
skill_manifest_parse(const char *text, size_t len, char **promptp,
    char *err, size_t errlen)
{
	struct toml_err	 te;
	json_t		*doc, *m;

	*promptp = NULL;
	if (len > SKILL_TOML_MAX) {
		snprintf(err, errlen, "a skill.toml is at most %d bytes",
		    SKILL_TOML_MAX);
		return (NULL);
	}
	if ((doc = toml_parse(text, len, 0, &te)) == NULL) {
		snprintf(err, errlen, "%s", te.te_msg);
		return (NULL);
	}
	m = skill_manifest_check(doc, promptp, err, errlen);
	json_decref(doc);
	return (m);
}

/* ---- SKILL.md ---------------------------------------------------------- */

/* s[0..n) trimmed of spaces and one pair of matching quotes (new). */
static json_t *
yaml_scalar(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r'))
		n--;
	if (n >= 2 && (*s == '"' || *s == '\'') && s[n - 1] == *s) {
		s++;
		n -= 2;
	}
	return (json_stringn(s, n));
}

/* "[a, b]" (the inline form) as an array of strings (new); anything
 * else is an empty array. */
static json_t *
yaml_list(const char *s, size_t n)
{
	json_t		*a = json_array(), *v;
	const char	*p, *end, *c;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\r'))
		n--;
	if (a == NULL || n < 2 || *s != '[' || s[n - 1] != ']')
		return (a);
	end = s + n - 1;
	for (p = s + 1; p < end; p = c + 1) {
		if ((c = memchr(p, ',', (size_t)(end - p))) == NULL)
			c = end;
		if ((v = yaml_scalar(p, (size_t)(c - p))) != NULL &&
		    json_string_length(v) > 0)
			json_array_append_new(a, v);
		else
			json_decref(v);
	}
	return (a);
}

/* The end of the front matter: the "---" line after the first one.
 * Returns the offset of that line's start in text, or -1. */
static long
md_close(const char *text, size_t len, size_t from)
{
	size_t	i;

	for (i = from; i + 3 <= len; i++) {
		if ((i == 0 || text[i - 1] != '\n') || memcmp(text + i, "---",
		    3) != 0)
			continue;
		if (i + 3 == len || text[i + 3] == '\n' || (text[i + 3] ==
		    '\r' && i + 4 < len && text[i + 4] == '\n'))
			return ((long)i);
	}
	return (-1);
}

json_t *
skill_md_convert(const char *text, size_t len, const char *fallback,
    char **promptp, char *err, size_t errlen)
{
	static const char *const keep[] = {
		"name", "description", "version", "author", "license", NULL
	};
	json_t		*sk = NULL, *doc = NULL, *m = NULL, *tags, *v;
	const char	*p, *nl, *colon, *body, *end;
	char		 key[32], name[SKILL_NAME_MAX * 2];
	long		 close;
	size_t		 i, n, k;

	*promptp = NULL;
	if (len > SKILL_MD_MAX) {
		snprintf(err, errlen, "a SKILL.md is at most 1 MiB");
		return (NULL);
	}
	if (len < 3 || memcmp(text, "---", 3) != 0 || (close = md_close(text,
	    len, 3)) < 0) {
		snprintf(err, errlen, "a SKILL.md starts with a '---' line and "
		    "closes its front matter with another");
		return (NULL);
	}
	if ((sk = json_object()) == NULL || (tags = json_pack("[s, s]",
	    "openclaw-compat", "prompt-only")) == NULL ||
	    json_object_set_new(sk, "tags", tags) != 0)
		goto nomem;
	end = text + close;
	for (p = memchr(text, '\n', len); p != NULL && p < end; p = nl) {
		p++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		/* Nested blocks, list items and comments are OpenClaw's. */
		if (p == nl || *p == ' ' || *p == '\t' || *p == '-' ||
		    *p == '#' || (colon = memchr(p, ':', (size_t)(nl - p)))
		    == NULL || (size_t)(colon - p) >= sizeof(key))
			continue;
		memcpy(key, p, (size_t)(colon - p));
		key[colon - p] = '\0';
		if (strcmp(key, "tags") == 0) {
			v = yaml_list(colon + 1, (size_t)(nl - colon - 1));
			if (v == NULL || json_array_extend(tags, v) != 0) {
				json_decref(v);
				goto nomem;
			}
			json_decref(v);
			continue;
		}
		if (!agent_in_list(key, keep))
			continue;
		if ((v = yaml_scalar(colon + 1, (size_t)(nl - colon - 1))) ==
		    NULL) {
			snprintf(err, errlen, "front matter '%s' is not UTF-8 "
			    "text", key);
			goto fail;
		}
		json_object_set_new(sk, key, v);
	}
	/* The name as a skill name: lowercased, spaces made '-'. */
	p = json_string_value(json_object_get(sk, "name"));
	if (p == NULL || *p == '\0')
		p = fallback != NULL ? fallback : "";
	n = strlen(p);
	for (i = k = 0; i < n && k + 1 < sizeof(name); i++)
		name[k++] = p[i] == ' ' ? '-' : (char)tolower((unsigned char)
		    p[i]);
	name[k] = '\0';
	if (i < n) {
		snprintf(err, errlen, "'skill.name': a name is at most 64 "
		    "bytes");
		goto fail;
	}
	if (json_object_set_new(sk, "name", json_string(name)) != 0)
		goto nomem;
	if (json_object_get(sk, "version") == NULL &&
	    json_object_set_new(sk, "version", json_string(
	    LIBREFANG_VERSION)) != 0)
		goto nomem;
	if ((doc = json_pack("{s:O, s:{s:s}}", "skill", sk, "runtime",
	    "type", "promptonly")) == NULL)
		goto nomem;
	if ((m = skill_manifest_check(doc, promptp, err, errlen)) == NULL)
		goto fail;
	/* The body, after the closing line, is the prompt context. */
	body = text + close + 3;
	while (body < text + len && (*body == '\r' || *body == '\n'))
		body++;
	free(*promptp);
	*promptp = NULL;
	if (body < text + len && ((size_t)(text + len - body) >
	    SKILL_PROMPT_MAX || (*promptp = strndup(body, (size_t)(text + len -
	    body))) == NULL || strlen(*promptp) != (size_t)(text + len -
	    body))) {
		free(*promptp);
		*promptp = NULL;
		json_decref(m);
		m = NULL;
		snprintf(err, errlen, "the SKILL.md body is at most %d bytes "
		    "of text", SKILL_PROMPT_MAX);
	}
	goto done;
 nomem:
	snprintf(err, errlen, "out of memory");
 fail:
	json_decref(m);
	m = NULL;
 done:
	json_decref(sk);
	json_decref(doc);
	return (m);
}

/* ---- views --------------------------------------------------------------- */

const char *
skill_manifest_name(json_t *m)
{
	return (json_string_value(json_object_get(json_object_get(m, "skill"),
	    "name")));
}

const char *
skill_category(json_t *m)
{
	json_t		*t;
	size_t		 i;

	json_array_foreach(json_object_get(json_object_get(m, "skill"),
	    "tags"), i, t)
		if (json_is_string(t) && !agent_in_list(json_string_value(t),
		    platform_tags))
			return (json_string_value(t));
	return ("general");
}

const char *
skill_runtime_name(json_t *m)
{
	const char	*t = json_string_value(json_object_get(
			    json_object_get(m, "runtime"), "type"));
	int		 i;

	for (i = 0; t != NULL && runtimes[i].toml != NULL; i++)
		if (strcmp(runtimes[i].toml, t) == 0)
			return (runtimes[i].api);
	return ("prompt_only");
}

int
skill_files_check(json_t *files, char *err, size_t errlen)
{
	const char	*path, *e;
	json_t		*v;
	size_t		 total = 0;

	if (files == NULL)
		return (0);
	if (!json_is_object(files) || json_object_size(files) >
	    SKILL_FILES_MAX) {
		snprintf(err, errlen, "'files' must be an object of at most %d "
		    "paths", SKILL_FILES_MAX);
		return (-1);
	}
	json_object_foreach(files, path, v) {
		if ((e = skill_path_problem(path)) != NULL) {
			snprintf(err, errlen, "'files': '%.64s': %s", path, e);
			return (-1);
		}
		if (!json_is_string(v) || json_string_length(v) >
		    SKILL_FILE_MAX || strlen(json_string_value(v)) !=
		    json_string_length(v)) {
			snprintf(err, errlen, "'files': '%s' must be text of "
			    "at most %d bytes without NUL", path,
			    SKILL_FILE_MAX);
			return (-1);
		}
		total += json_string_length(v);
	}
	if (total > SKILL_FILES_TOTAL) {
		snprintf(err, errlen, "'files' hold at most %d bytes in all",
		    SKILL_FILES_TOTAL);
		return (-1);
	}
	return (0);
}
