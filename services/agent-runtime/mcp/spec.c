/*
 * mcp/spec.c - what a client may send to add or replace an MCP server,
 * and the one stored form every shape becomes (mcp.h).
 *
 * Everything is bounded here, before it reaches the table or a fork():
 * names, commands and arguments, environment names (no '=' or NUL, no
 * LD_* that would load code into the child), URLs (http or https).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mcp/mcp.h"

#define SPEC_ARGS_MAX		64
#define SPEC_ENV_MAX		64
#define SPEC_HEADERS_MAX	32
#define SPEC_STR_MAX		4096

int
mcp_name_valid(const char *s)
{
	size_t	n;

	if (s == NULL || (n = strlen(s)) == 0 || n > MCP_NAME_MAX)
		return (0);
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return (0);
	return (1);
}

int
mcp_tool_name(const char *server, const char *tool, char *out, size_t outlen)
{
	size_t	n;
	int	len;
	char	*p;

	len = snprintf(out, outlen, "mcp_%s_%s", server, tool);
	if (len < 0 || (size_t)len >= outlen || len > 64)
		return (-1);
	for (p = out, n = 0; *p != '\0'; p++, n++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)*p) && *p != '_')
			*p = '_';
	}
	return (0);
}

static int
spec_str(json_t *v, const char *what, int required, char *err,
    size_t errlen)
{
	if (v == NULL || json_is_null(v)) {
		if (required)
			snprintf(err, errlen, "'%s' is required", what);
		return (required ? -1 : 0);
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > SPEC_STR_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "'%s' must be a string of 1 to %d bytes",
		    what, SPEC_STR_MAX);
		return (-1);
	}
	return (0);
}

static int
spec_env_name_ok(const char *k)
{
	if (k == NULL || *k == '\0' || strlen(k) > 128 ||
	    strncmp(k, "LD_", 3) == 0 || strncmp(k, "LIBREFANG_", 10) == 0)
		return (0);
	if (!isalpha((unsigned char)*k) && *k != '_')
		return (0);
	for (; *k != '\0'; k++)
		if (!isalnum((unsigned char)*k) && *k != '_')
			return (0);
	return (1);
}

/* env as {K: V} or ["K=V", ...], into out (an object). */
static int
spec_env(json_t *in, const char *what, json_t *out, char *err, size_t errlen)
{
	const char	*k, *s, *eq;
	json_t		*v;
	size_t		 i;
	char		 key[129];

	if (in == NULL || json_is_null(in))
		return (0);
	if (json_is_array(in)) {
		if (json_array_size(in) > SPEC_ENV_MAX)
			goto bad;
		json_array_foreach(in, i, v) {
			if ((s = json_string_value(v)) == NULL ||
			    (eq = strchr(s, '=')) == NULL ||
			    (size_t)(eq - s) >= sizeof(key))
				goto bad;
			memcpy(key, s, (size_t)(eq - s));
			key[eq - s] = '\0';
			if (!spec_env_name_ok(key) ||
			    strlen(eq + 1) > SPEC_STR_MAX ||
			    json_object_set_new(out, key,
			    json_string(eq + 1)) != 0)
				goto bad;
		}
		return (0);
	}
	if (!json_is_object(in) || json_object_size(in) > SPEC_ENV_MAX)
		goto bad;
	json_object_foreach(in, k, v) {
		if (!spec_env_name_ok(k) || !json_is_string(v) ||
		    json_string_length(v) > SPEC_STR_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    json_object_set(out, k, v) != 0)
			goto bad;
	}
	return (0);
 bad:
	snprintf(err, errlen, "'%s' must be an object of at most %d "
	    "variables (names [A-Za-z_][A-Za-z0-9_]*, not LD_* or "
	    "LIBREFANG_*) with string values", what, SPEC_ENV_MAX);
	return (-1);
}

/* The transport, from a nested object or the flat fields of body. */
static json_t *
spec_transport(json_t *body, json_t *env, char *err, size_t errlen)
{
	json_t		*t = json_object_get(body, "transport"), *src, *a;
	json_t		*out = NULL, *args = NULL, *hdrs = NULL, *v;
	const char	*type, *url, *k;
	size_t		 i;

	if (json_is_object(t)) {
		src = t;
		type = json_string_value(json_object_get(t, "type"));
	} else if (t == NULL || json_is_string(t)) {
		src = body;
		type = t ? json_string_value(t) :
		    json_object_get(body, "url") ? "http" : "stdio";
	} else {
		snprintf(err, errlen, "'transport' must be \"stdio\", "
		    "\"http\" or an object with a 'type'");
		return (NULL);
	}
	if (type == NULL) {
		snprintf(err, errlen, "'transport.type' is required");
		return (NULL);
	}
	if (strcmp(type, "stdio") == 0) {
		if (spec_str(json_object_get(src, "command"), "command", 1,
		    err, errlen) != 0)
			return (NULL);
		if ((args = json_array()) == NULL)
			goto nomem;
		a = json_object_get(src, "args");
		if (a != NULL && !json_is_null(a) && (!json_is_array(a) ||
		    json_array_size(a) > SPEC_ARGS_MAX)) {
			snprintf(err, errlen, "'args' must be an array of at "
			    "most %d strings", SPEC_ARGS_MAX);
			goto fail;
		}
		json_array_foreach(a, i, v) {
			if (!json_is_string(v) ||
			    json_string_length(v) > SPEC_STR_MAX ||
			    strlen(json_string_value(v)) !=
			    json_string_length(v)) {
				snprintf(err, errlen, "'args' must be an array "
				    "of strings of at most %d bytes",
				    SPEC_STR_MAX);
				goto fail;
			}
			json_array_append(args, v);
		}
		if (src != body && spec_env(json_object_get(src, "env"),
		    "transport.env", env, err, errlen) != 0)
			goto fail;
		out = json_pack("{s:s, s:O, s:O}", "type", "stdio", "command",
		    json_object_get(src, "command"), "args", args);
	} else if (strcmp(type, "http") == 0 || strcmp(type, "sse") == 0 ||
	    strcmp(type, "streamable_http") == 0) {
		if (spec_str(json_object_get(src, "url"), "url", 1, err,
		    errlen) != 0)
			return (NULL);
		url = json_string_value(json_object_get(src, "url"));
		if (strncasecmp(url, "http://", 7) != 0 &&
		    strncasecmp(url, "https://", 8) != 0) {
			snprintf(err, errlen, "'url' must be http or https");
			return (NULL);
		}
		if ((hdrs = json_object()) == NULL)
			goto nomem;
		v = json_object_get(src, "headers");
		if (v != NULL && !json_is_null(v) && (!json_is_object(v) ||
		    json_object_size(v) > SPEC_HEADERS_MAX)) {
			snprintf(err, errlen, "'headers' must be an object of "
			    "at most %d strings", SPEC_HEADERS_MAX);
			goto fail;
		}
		json_object_foreach(v, k, a) {
			if (!json_is_string(a) || *k == '\0' ||
			    strlen(k) > 128 || strpbrk(k, ":\r\n ") != NULL ||
			    strpbrk(json_string_value(a), "\r\n") != NULL ||
			    json_string_length(a) > SPEC_STR_MAX) {
				snprintf(err, errlen, "'headers' must map "
				    "header names to one-line strings");
				goto fail;
			}
			json_object_set(hdrs, k, a);
		}
		out = json_pack("{s:s, s:s, s:O}", "type", "http", "url", url,
		    "headers", hdrs);
	} else {
		snprintf(err, errlen, "unknown transport '%.32s' (stdio or "
		    "http)", type);
		return (NULL);
	}
	if (out == NULL)
		goto nomem;
	json_decref(args);
	json_decref(hdrs);
	return (out);
 nomem:
	snprintf(err, errlen, "out of memory");
 fail:
	json_decref(args);
	json_decref(hdrs);
	return (NULL);
}

static const char *const spec_keys[] = {
	"name", "transport", "command", "args", "env", "url", "headers",
	"timeout_secs", "template_id", "credentials", "enabled", NULL
};

json_t *
mcp_spec_normalise(json_t *body, const char *fixed_name, int *statusp,
    char *err, size_t errlen)
{
	json_t		*out = NULL, *env = NULL, *tr = NULL, *tmpl = NULL, *v;
	json_t		*req, *tbody = NULL;
	const char	*name, *tid = NULL, *k;
	long long	 timeout = MCP_TIMEOUT_DEF;
	size_t		 i;

	*statusp = 400;
	if (!json_is_object(body)) {
		snprintf(err, errlen, "the body must be a JSON object");
		return (NULL);
	}
	json_object_foreach(body, k, v) {
		for (i = 0; spec_keys[i] != NULL; i++)
			if (strcmp(spec_keys[i], k) == 0)
				break;
		if (spec_keys[i] == NULL) {
			snprintf(err, errlen, "unknown field '%.64s'", k);
			return (NULL);
		}
	}
	if ((env = json_object()) == NULL)
		goto nomem;
	v = json_object_get(body, "template_id");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || (tmpl = mcp_catalog_get(
		    json_string_value(v))) == NULL) {
			*statusp = json_is_string(v) ? 404 : 400;
			snprintf(err, errlen, json_is_string(v) &&
			    mcp_name_valid(json_string_value(v)) ?
			    "Catalog entry '%s' not found" :
			    "'template_id' must name a catalog entry",
			    json_string_value(v));
			goto fail;
		}
		tid = json_string_value(v);
		/* The template's transport, the body's credentials. */
		if ((tbody = json_pack("{s:O}", "transport",
		    json_object_get(tmpl, "transport"))) == NULL)
			goto nomem;
		if ((tr = spec_transport(tbody, env, err, errlen)) == NULL)
			goto fail;
		if (spec_env(json_object_get(body, "credentials"),
		    "credentials", env, err, errlen) != 0)
			goto fail;
		json_array_foreach(json_object_get(tmpl, "required_env"), i,
		    req) {
			k = json_string_value(json_object_get(req, "name"));
			if (k != NULL && json_object_get(env, k) == NULL) {
				snprintf(err, errlen, "credentials: '%.64s' is "
				    "required by '%s'", k, tid);
				goto fail;
			}
		}
	} else {
		if ((tr = spec_transport(body, env, err, errlen)) == NULL)
			goto fail;
	}
	if (spec_env(json_object_get(body, "env"), "env", env, err,
	    errlen) != 0)
		goto fail;
	v = json_object_get(body, "name");
	if (v != NULL && !json_is_null(v)) {
		if (!mcp_name_valid(json_string_value(v))) {
			snprintf(err, errlen, "'name' must be 1 to %d "
			    "characters of [A-Za-z0-9_-]", MCP_NAME_MAX);
			goto fail;
		}
		name = json_string_value(v);
	} else if (fixed_name != NULL)
		name = fixed_name;
	else if (tid != NULL)
		name = tid;
	else {
		snprintf(err, errlen, "'name' is required");
		goto fail;
	}
	if (fixed_name != NULL && strcmp(fixed_name, name) != 0) {
		snprintf(err, errlen, "'name' cannot be changed (it is '%s')",
		    fixed_name);
		goto fail;
	}
	v = json_object_get(body, "timeout_secs");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > MCP_TIMEOUT_MAX) {
			snprintf(err, errlen, "'timeout_secs' must be an "
			    "integer from 1 to %d", MCP_TIMEOUT_MAX);
			goto fail;
		}
		timeout = json_integer_value(v);
	}
	if ((out = json_pack("{s:s, s:O, s:O, s:I}", "name", name,
	    "transport", tr, "env", env, "timeout_secs", timeout)) == NULL ||
	    (tid != NULL && json_object_set_new(out, "template_id",
	    json_string(tid)) != 0))
		goto nomem;
	json_decref(tbody);
	json_decref(tr);
	json_decref(env);
	return (out);
 nomem:
	*statusp = 500;
	snprintf(err, errlen, "out of memory");
 fail:
	json_decref(out);
	json_decref(tbody);
	json_decref(tr);
	json_decref(env);
	return (NULL);
}
