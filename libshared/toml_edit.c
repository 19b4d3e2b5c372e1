/*
 * toml_edit.c - writing TOML: values and documents from JSON (for the
 * exported config), and one key's value set in a document's text with
 * everything else in it (comments, blank lines, other tables, key order
 * and spelling) kept byte for byte.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "toml.h"

int
toml_quote(struct buf *b, const char *s)
{
	const unsigned char	*p;
	int			 rv = buf_adds(b, "\"");

	for (p = (const unsigned char *)s; rv == 0 && *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			rv = buf_addf(b, "\\%c", *p);
		else if (*p == '\n')
			rv = buf_adds(b, "\\n");
		else if (*p == '\t')
			rv = buf_adds(b, "\\t");
		else if (*p == '\r')
			rv = buf_adds(b, "\\r");
		else if (*p < 0x20 || *p == 0x7f)
			rv = buf_addf(b, "\\u%04x", *p);
		else
			rv = buf_add(b, p, 1);
	}
	return (rv != 0 ? -1 : buf_adds(b, "\""));
}

/* A key as TOML writes it: bare when it can be, else quoted. */
static int
toml_key(struct buf *b, const char *k)
{
	const char	*p;

	for (p = k; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			break;
	if (*k != '\0' && *p == '\0')
		return (buf_adds(b, k));
	return (toml_quote(b, k));
}

int
toml_write_value(struct buf *b, json_t *v)
{
	const char	*k;
	json_t		*e;
	size_t		 i;
	int		 rv = 0, first = 1;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return (toml_quote(b, json_string_value(v)));
	case JSON_INTEGER:
		return (buf_addf(b, "%lld", (long long)json_integer_value(v)));
	case JSON_REAL:
		return (buf_addf(b, "%.17g", json_real_value(v)));
	case JSON_TRUE:
		return (buf_adds(b, "true"));
	case JSON_FALSE:
		return (buf_adds(b, "false"));
	case JSON_ARRAY:
		rv = buf_adds(b, "[");
		json_array_foreach(v, i, e)
			if (rv == 0)
				rv = (i > 0 ? buf_adds(b, ", ") : 0) != 0 ? -1 :
				    toml_write_value(b, e);
		return (rv != 0 ? -1 : buf_adds(b, "]"));
	case JSON_OBJECT:
		rv = buf_adds(b, "{");
		json_object_foreach(v, k, e) {
			if (rv == 0 && !first)
				rv = buf_adds(b, ", ");
			first = 0;
			if (rv == 0 && (toml_key(b, k) != 0 || buf_adds(b,
			    " = ") != 0 || toml_write_value(b, e) != 0))
				rv = -1;
		}
		return (rv != 0 ? -1 : buf_adds(b, "}"));
	case JSON_NULL:
		break;
	}
	return (buf_adds(b, "\"\""));	/* TOML has no null */
}

/* 1 if v is an array holding only objects (an array of tables). */
static int
toml_is_aot(json_t *v)
{
	json_t	*e;
	size_t	 i;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return (0);
	json_array_foreach(v, i, e)
		if (!json_is_object(e))
			return (0);
	return (1);
}

static int
toml_write_name(const char *prefix, const char *k, struct buf *name)
{
	buf_reset(name);
	if (*prefix != '\0' && (buf_adds(name, prefix) != 0 ||
	    buf_adds(name, ".") != 0))
		return (-1);
	return (toml_key(name, k));
}

/* Writes table t named prefix ("" at the root): its scalars first, then
 * its sub-tables and arrays of tables. */
static int
toml_write_table(struct buf *b, json_t *t, const char *prefix, int depth)
{
	struct buf	 name;
	const char	*k;
	json_t		*v, *e;
	size_t		 i;
	int		 rv = 0;

	if (depth > TOML_MAX_DEPTH)
		return (-1);
	json_object_foreach(t, k, v) {
		if (json_is_object(v) || toml_is_aot(v))
			continue;
		if (toml_key(b, k) != 0 || buf_adds(b, " = ") != 0 ||
		    toml_write_value(b, v) != 0 || buf_adds(b, "\n") != 0)
			return (-1);
	}
	buf_init(&name, 64 * 1024);
	json_object_foreach(t, k, v) {
		if (!json_is_object(v) && !toml_is_aot(v))
			continue;
		if ((rv = toml_write_name(prefix, k, &name)) != 0 ||
		    (rv = buf_adds(&name, "")) != 0)
			break;
		if (json_is_object(v)) {
			if ((rv = buf_addf(b, "\n[%s]\n", name.b_data)) != 0 ||
			    (rv = toml_write_table(b, v, name.b_data,
			    depth + 1)) != 0)
				break;
			continue;
		}
		json_array_foreach(v, i, e)
			if (rv == 0 && ((rv = buf_addf(b, "\n[[%s]]\n",
			    name.b_data)) != 0 || (rv = toml_write_table(b, e,
			    name.b_data, depth + 1)) != 0))
				break;
		if (rv != 0)
			break;
	}
	buf_release(&name);
	return (rv != 0 ? -1 : 0);
}

int
toml_write_doc(struct buf *b, json_t *doc)
{
	return (toml_write_table(b, doc, "", 0));
}

/* The line at p (up to e) without its leading blanks. */
static const char *
toml_skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return (p);
}

/*
 * If the line p..e is a table header, 1 and its name (dotted, blanks
 * and quotes around bare parts not normalised beyond trimming) in name;
 * *aot set for [[...]].
 */
static int
toml_header(const char *p, const char *e, char *name, size_t namelen,
    int *aot)
{
	const char	*q, *end;
	size_t		 n = 0;

	p = toml_skip_ws(p, e);
	if (p >= e || *p != '[')
		return (0);
	*aot = p + 1 < e && p[1] == '[';
	p += *aot ? 2 : 1;
	if (p > e)
		p = e;
	for (end = p; end < e && *end != ']'; end++)
		;
	for (q = p; q < end && n + 1 < namelen; q++)
		if (*q != ' ' && *q != '\t' && *q != '"' && *q != '\'')
			name[n++] = *q;
	name[n] = '\0';
	return (1);
}

/* If the line p..e sets key (bare or quoted), where its value starts. */
static const char *
toml_key_line(const char *p, const char *e, const char *key)
{
	size_t	kl = strlen(key);
	char	q;

	p = toml_skip_ws(p, e);
	if (p < e && (*p == '"' || *p == '\'')) {
		q = *p++;
		if ((size_t)(e - p) <= kl || strncmp(p, key, kl) != 0 ||
		    p[kl] != q)
			return (NULL);
		p += kl + 1;
	} else {
		if ((size_t)(e - p) < kl || strncmp(p, key, kl) != 0)
			return (NULL);
		p += kl;
	}
	p = toml_skip_ws(p, e);
	if (p >= e || *p != '=')
		return (NULL);
	return (toml_skip_ws(p + 1, e));
}

/* Where the single-line value at p (up to e) ends. */
static const char *
toml_value_end(const char *p, const char *e)
{
	const char	*q;

	if (p < e && (*p == '"' || *p == '\'')) {
		for (q = p + 1; q < e; q++) {
			if (*p == '"' && *q == '\\' && q + 1 < e) {
				q++;
				continue;
			}
			if (*q == *p)
				return (q + 1);
		}
		return (e);
	}
	for (q = p; q < e && *q != '#'; q++)
		;
	while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r'))
		q--;
	return (q);
}

/* 1 if the line p..e holds a key/value pair (not blank, comment, header) */
static int
toml_is_kv(const char *p, const char *e)
{
	p = toml_skip_ws(p, e);
	return (p < e && *p != '#' && *p != '[' && *p != '\r');
}

int
toml_edit_set(const char *text, size_t len, const char *table,
    const char *key, const char *literal, struct buf *out)
{
	const char	*p = text, *e = text + len, *q, *next, *v, *ve;
	const char	*ins = NULL;	/* after the table's last pair */
	const char	*hdr_end = NULL;
	char		 name[256];
	int		 aot, in = *table == '\0', seen = in, done = 0;

	while (p < e && !done) {
		if ((q = memchr(p, '\n', (size_t)(e - p))) == NULL)
			q = e;
		next = q < e ? q + 1 : e;
		if (toml_header(p, q, name, sizeof(name), &aot)) {
			if (in && seen)
				break;		/* our table ended */
			in = !aot && strcmp(name, table) == 0;
			if (in) {
				seen = 1;
				hdr_end = next;
			}
		} else if (in && toml_is_kv(p, q)) {
			if ((v = toml_key_line(p, q, key)) != NULL) {
				ve = toml_value_end(v, q);
				if (buf_add(out, text, (size_t)(v - text)) != 0 ||
				    buf_adds(out, literal) != 0 ||
				    buf_add(out, ve, (size_t)(e - ve)) != 0)
					return (-1);
				return (0);
			}
			ins = next;
		}
		p = next;
	}
	if (!seen) {
		/* No such table: a new one at the end. */
		if (buf_add(out, text, len) != 0 ||
		    (len > 0 && text[len - 1] != '\n' &&
		    buf_adds(out, "\n") != 0) ||
		    (len > 0 && buf_adds(out, "\n") != 0))
			return (-1);
		return (buf_addf(out, "[%s]\n%s = %s\n", table, key, literal));
	}
	if (ins == NULL)
		ins = hdr_end != NULL ? hdr_end : text;
	if (buf_add(out, text, (size_t)(ins - text)) != 0 ||
	    (ins > text && ins[-1] != '\n' && buf_adds(out, "\n") != 0) ||
	    buf_addf(out, "%s = %s\n", key, literal) != 0 ||
	    buf_add(out, ins, (size_t)(e - ins)) != 0)
		return (-1);
	return (0);
}
