/*
 * toml.h - a TOML 1.0 reader producing jansson values.
 *
 * toml_parse() reads a whole TOML 1.0 document and returns it as a jansson
 * object.  The document is fully validated: anything the TOML 1.0
 * specification forbids (redefined keys or tables, extended inline tables
 * or static arrays, bad escapes, control characters, invalid UTF-8, leading
 * zeros, out-of-range dates, bare carriage returns, ...) is rejected.
 *
 * Natural mode (flags 0) maps values as follows:
 *	string				json string
 *	integer				json integer (int64; overflow rejected)
 *	float				json real; inf, -inf and nan (which
 *					jansson cannot hold) become the json
 *					strings "inf", "-inf" and "nan"
 *	boolean				json true / false
 *	offset / local date-time,	json string, normalised RFC 3339
 *	local date, local time		("1979-05-27T07:32:00Z": upper-case
 *					'T' and 'Z', 'T' separator)
 *	array				json array
 *	table, inline table		json object
 *	array of tables			json array of objects
 *
 * With TOML_TAGGED every scalar instead becomes the toml-test encoding
 * {"type": T, "value": "<string>"}, T being one of string, integer, float,
 * bool, datetime, datetime-local, date-local or time-local; arrays and
 * tables are encoded as in natural mode.
 *
 * Newlines inside multi-line strings are returned as "\n" whether the
 * document uses LF or CRLF line endings.  Floats are converted with strtod(),
 * so LC_NUMERIC must be the "C" locale (the default for a program that never
 * calls setlocale()).
 */
#ifndef TOML_H
#define TOML_H

#include <stddef.h>

#include <jansson.h>

struct toml_err {
	int	te_line;	/* 1-based line of the error, 0 if none */
	char	te_msg[256];	/* "line 3: expected '=' after key" */
};

#define TOML_TAGGED	0x1	/* produce toml-test tagged JSON */

#define TOML_MAX_DEPTH	128	/* deepest nesting of tables and arrays */

/*
 * Parse the TOML document text[0 .. len).  text need not be NUL-terminated
 * and may contain anything: the parser never reads past len.
 *
 * Returns a new reference to a json object (the caller must json_decref()
 * it), or NULL on error.  On error, if err is not NULL, err->te_line is set
 * to the 1-based line of the error (0 for errors not tied to a line, such as
 * running out of memory) and err->te_msg to a message that, for line errors,
 * begins "line N: ".  On success *err is cleared.
 */
json_t	*toml_parse(const char *text, size_t len, int flags,
	    struct toml_err *err);

/* ---- writing (toml_edit.c) ----------------------------------------- */

struct buf;

/* Appends s as a TOML basic string ("...", escaped).  0 or -1. */
int	 toml_quote(struct buf *b, const char *s);
/* Appends v as a TOML value (inline tables and arrays; null is "").  0
 * or -1. */
int	 toml_write_value(struct buf *b, json_t *v);
/* Appends the document doc: scalars, then [tables] and [[arrays]]. */
int	 toml_write_doc(struct buf *b, json_t *doc);
/*
 * Appends to out the document text[0..len) with table's (""
 * for the root) key set to literal (a TOML value, written as given):
 * the key's value replaced on its line (a comment after it kept), or a
 * new line after the table's last pair, or a new [table] at the end.
 * Everything else is kept byte for byte.  The caller parses the result
 * to check it (a table defined with dotted keys or inline is not found
 * here and would be defined twice).  0, or -1 (out of memory).
 */
int	 toml_edit_set(const char *text, size_t len, const char *table,
	    const char *key, const char *literal, struct buf *out);

#endif /* TOML_H */
