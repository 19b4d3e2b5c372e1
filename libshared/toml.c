/*
 * toml.c - a TOML 1.0 reader producing jansson values.
 *
 * The document is parsed into a private tree of struct tnode, which records
 * how each table came to exist (header, implicit parent, dotted key, inline)
 * so that the redefinition rules of TOML can be enforced.  Only when the
 * whole document has been accepted is the tree converted into jansson
 * values, in natural or toml-test tagged form.
 *
 * Before parsing, the whole text is checked once for invalid UTF-8, control
 * characters and bare carriage returns, none of which TOML allows anywhere
 * (tab and LF are the only control characters allowed, and CR only before
 * LF); the parser proper can therefore treat every remaining byte as text.
 *
 * Error lines are computed from the byte offset where the error was found.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "toml.h"
#include "util.h"

#define TOML_MAX_KEYPARTS	TOML_MAX_DEPTH

enum tkind {
	TK_TABLE,
	TK_ARRAY,
	TK_STRING,
	TK_INTEGER,
	TK_FLOAT,
	TK_BOOL,
	TK_DATETIME,		/* offset date-time */
	TK_DATETIME_LOCAL,
	TK_DATE_LOCAL,
	TK_TIME_LOCAL
};

/* How a table or array came to exist (tn_flags). */
#define TF_IMPLICIT	0x01	/* parent of a [header], not yet defined */
#define TF_EXPLICIT	0x02	/* defined by [header] or [[header]] */
#define TF_DOTTED	0x04	/* defined by dotted keys */
#define TF_INLINE	0x08	/* inline table: closed to additions */
#define TF_AOT		0x10	/* array of tables made by [[header]] */

struct tnode {
	enum tkind	  tn_kind;
	int		  tn_flags;
	int		  tn_depth;	/* containers: nesting depth */
	char		 *tn_key;	/* key in the parent table */
	size_t		  tn_klen;
	char		 *tn_str;	/* string or normalised datetime */
	size_t		  tn_slen;
	int64_t		  tn_int;	/* integer, or bool as 0 / 1 */
	double		  tn_dbl;	/* float */
	struct tnode	**tn_kids;	/* table members, array elements */
	size_t		  tn_nkids;
	size_t		  tn_cap;
	json_t		 *tn_index;	/* table: key -> index in tn_kids */
};

struct kpart {
	char		*kp_s;
	size_t		 kp_len;
};

struct tkey {
	struct kpart	*tk_parts;
	int		 tk_n;
	int		 tk_cap;
};


struct parser {
	const char	*p_s;
	size_t		 p_len;
	size_t		 p_pos;
	int		 p_failed;
	struct toml_err	*p_err;
};

static int	perr(struct parser *, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));
static int	parse_value(struct parser *, int, struct tnode **);
static int	parse_keyval(struct parser *, struct tnode *);

/*
 * Errors.
 */

static int
line_of(const struct parser *p, size_t pos)
{
	const char	*s = p->p_s, *nl;
	int		 line = 1;

	if (pos > p->p_len)
		pos = p->p_len;
	while (pos > 0 && line < INT_MAX &&
	    (nl = memchr(s, '\n', pos)) != NULL) {
		line++;
		pos -= (size_t)(nl + 1 - s);
		s = nl + 1;
	}
	return (line);
}

/* Record the first error, at the current position; always returns -1. */
static int
perr(struct parser *p, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[200];
	int	 line;

	if (p->p_failed)
		return (-1);
	p->p_failed = 1;
	if (p->p_err == NULL)
		return (-1);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	line = line_of(p, p->p_pos);
	p->p_err->te_line = line;
	snprintf(p->p_err->te_msg, sizeof(p->p_err->te_msg), "line %d: %s",
	    line, msg);
	return (-1);
}

/*
 * Render a key for a message: at most 40 bytes, cut at a character
 * boundary so that the message stays valid UTF-8, control characters
 * shown as '?'.  bufsz must be at least 44.
 */
static const char *
key_repr(const char *k, size_t klen, char *buf, size_t bufsz)
{
	size_t	 i, n;

	n = klen < 40 ? klen : 40;
	while (n > 0 && n < klen && ((unsigned char)k[n] & 0xc0) == 0x80)
		n--;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];

		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	snprintf(buf + n, bufsz - n, "%s", n < klen ? "..." : "");
	return (buf);
}

/*
 * String buffers are libshared's struct buf, started with sb_init(): no
 * decoded string or normalised datetime is longer than the input plus a
 * few bytes, so that is the ceiling.
 */

static void
sb_init(struct parser *p, struct buf *b)
{
	buf_init(b, p->p_len + 16);
}

static int
sb_add(struct parser *p, struct buf *b, const char *s, size_t n)
{
	if (buf_add(b, s, n) != 0)
		return (perr(p, "out of memory"));
	return (0);
}

static int
sb_putc(struct parser *p, struct buf *b, int c)
{
	char	ch = (char)c;

	return (sb_add(p, b, &ch, 1));
}

static int
sb_utf8(struct parser *p, struct buf *b, uint32_t cp)
{
	char	u[4];
	size_t	n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return (sb_add(p, b, u, n));
}

/*
 * The tree.
 */

static struct tnode *
node_new(struct parser *p, enum tkind kind)
{
	struct tnode	*n;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		perr(p, "out of memory");
		return (NULL);
	}
	n->tn_kind = kind;
	return (n);
}

/* A new table or array at the given depth, refusing excessive nesting. */
static struct tnode *
container_new(struct parser *p, enum tkind kind, int depth, int flags)
{
	struct tnode	*n;

	if (depth > TOML_MAX_DEPTH) {
		perr(p, "nesting deeper than %d levels", TOML_MAX_DEPTH);
		return (NULL);
	}
	if ((n = node_new(p, kind)) == NULL)
		return (NULL);
	n->tn_depth = depth;
	n->tn_flags = flags;
	return (n);
}

static void
node_free(struct tnode *n)
{
	size_t	 i;

	if (n == NULL)
		return;
	for (i = 0; i < n->tn_nkids; i++)
		node_free(n->tn_kids[i]);
	free(n->tn_kids);
	free(n->tn_key);
	free(n->tn_str);
	json_decref(n->tn_index);
	free(n);
}

/* Append kid to n's children; takes ownership of kid even on failure. */
static int
node_push(struct parser *p, struct tnode *n, struct tnode *kid)
{
	struct tnode	**nk;
	size_t		  ncap;

	if (n->tn_nkids == n->tn_cap) {
		ncap = n->tn_cap ? n->tn_cap * 2 : 4;
		if (ncap > SIZE_MAX / sizeof(*nk) ||
		    (nk = realloc(n->tn_kids, ncap * sizeof(*nk))) == NULL) {
			node_free(kid);
			return (perr(p, "out of memory"));
		}
		n->tn_kids = nk;
		n->tn_cap = ncap;
	}
	n->tn_kids[n->tn_nkids++] = kid;
	return (0);
}

static struct tnode *
table_get(const struct tnode *t, const struct kpart *k)
{
	json_t	*ix;

	ix = json_object_getn(t->tn_index, k->kp_s, k->kp_len);
	if (ix == NULL)
		return (NULL);
	return (t->tn_kids[json_integer_value(ix)]);
}

/* Add kid to table t under key k (not yet present); takes ownership. */
static int
table_put(struct parser *p, struct tnode *t, const struct kpart *k,
    struct tnode *kid)
{
	json_t	*ix;

	if ((kid->tn_key = malloc(k->kp_len + 1)) == NULL) {
		node_free(kid);
		return (perr(p, "out of memory"));
	}
	memcpy(kid->tn_key, k->kp_s, k->kp_len);
	kid->tn_key[k->kp_len] = '\0';
	kid->tn_klen = k->kp_len;
	if (t->tn_index == NULL && (t->tn_index = json_object()) == NULL) {
		node_free(kid);
		return (perr(p, "out of memory"));
	}
	if (node_push(p, t, kid) == -1)
		return (-1);
	ix = json_integer((json_int_t)(t->tn_nkids - 1));
	if (json_object_setn_new(t->tn_index, k->kp_s, k->kp_len, ix) == -1) {
		node_free(t->tn_kids[--t->tn_nkids]);
		return (perr(p, "out of memory"));
	}
	return (0);
}

/*
 * Lexical helpers.
 */

static int
peek(const struct parser *p, size_t off)
{
	if (off >= p->p_len || p->p_pos >= p->p_len - off)
		return (-1);
	return ((unsigned char)p->p_s[p->p_pos + off]);
}

static int
at_newline(const struct parser *p)
{
	return (peek(p, 0) == '\n' || (peek(p, 0) == '\r' &&
	    peek(p, 1) == '\n'));
}

/* Consume one LF or CRLF; returns 1 if there was one. */
static int
eat_newline(struct parser *p)
{
	if (peek(p, 0) == '\n') {
		p->p_pos++;
		return (1);
	}
	if (peek(p, 0) == '\r' && peek(p, 1) == '\n') {
		p->p_pos += 2;
		return (1);
	}
	return (0);
}

static void
skip_ws(struct parser *p)
{
	while (peek(p, 0) == ' ' || peek(p, 0) == '\t')
		p->p_pos++;
}

static void
skip_comment(struct parser *p)
{
	if (peek(p, 0) != '#')
		return;
	while (peek(p, 0) != -1 && !at_newline(p))
		p->p_pos++;
}

/* Skip whitespace, comments and newlines, as allowed inside arrays. */
static void
skip_ws_nl(struct parser *p)
{
	for (;;) {
		skip_ws(p);
		skip_comment(p);
		if (!eat_newline(p))
			return;
	}
}

static int
is_digit(int c)
{
	return (c >= '0' && c <= '9');
}

static int
is_bare_key(int c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    is_digit(c) || c == '_' || c == '-');
}

/* Value of digit c in the given radix, or -1. */
static int
digit_val(int c, int radix)
{
	int	v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return (-1);
	return (v < radix ? v : -1);
}

/*
 * Validate the whole text: well-formed UTF-8 (no overlongs, surrogates or
 * code points above U+10FFFF), no control characters other than tab and
 * newline, and CR only as part of CRLF.
 */
static int
check_text(struct parser *p)
{
	const unsigned char	*s = (const unsigned char *)p->p_s;
	size_t			 i = 0, n = p->p_len, k;

	while (i < n) {
		p->p_pos = i;
		if (s[i] < 0x80) {
			if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
				return (perr(p, "carriage return not followed "
				    "by line feed"));
			if ((s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' &&
			    s[i] != '\r') || s[i] == 0x7f)
				return (perr(p, "control character 0x%02x is "
				    "not allowed", s[i]));
			i++;
			continue;
		}
		if ((k = util_utf8_len(s + i, n - i)) == 0)
			return (perr(p, "invalid utf-8"));
		i += k;
	}
	p->p_pos = 0;
	return (0);
}

/*
 * Strings.
 */

/*
 * At a run of closing quote characters q in a multi-line string: a run of
 * one or two is content, a run of three to five ends the string with the
 * first zero to two quotes as content.  Returns 1 at the end, 0 if the
 * string continues, -1 on error.
 */
static int
ml_quotes(struct parser *p, struct buf *b, int q)
{
	size_t	n = 0;

	while (peek(p, n) == q)
		n++;
	if (n < 3) {
		p->p_pos += n;
		return (sb_add(p, b, q == '"' ? "\"\"" : "''", n));
	}
	if (n > 5)
		return (perr(p, "too many quotes at end of multi-line string"));
	p->p_pos += n;
	if (sb_add(p, b, q == '"' ? "\"\"" : "''", n - 3) == -1)
		return (-1);
	return (1);
}

static int
parse_escape(struct parser *p, struct buf *b, int ml)
{
	uint32_t	 cp = 0;
	int		 c, d, i, ndig;
	size_t		 save;

	p->p_pos++;				/* the backslash */
	c = peek(p, 0);
	switch (c) {
	case 'b':	p->p_pos++; return (sb_putc(p, b, '\b'));
	case 't':	p->p_pos++; return (sb_putc(p, b, '\t'));
	case 'n':	p->p_pos++; return (sb_putc(p, b, '\n'));
	case 'f':	p->p_pos++; return (sb_putc(p, b, '\f'));
	case 'r':	p->p_pos++; return (sb_putc(p, b, '\r'));
	case '"':	p->p_pos++; return (sb_putc(p, b, '"'));
	case '\\':	p->p_pos++; return (sb_putc(p, b, '\\'));
	case 'u':
	case 'U':
		ndig = c == 'u' ? 4 : 8;
		for (i = 1; i <= ndig; i++) {
			if ((d = digit_val(peek(p, (size_t)i), 16)) < 0)
				return (perr(p, "invalid unicode escape"));
			cp = cp << 4 | (uint32_t)d;
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return (perr(p, "unicode escape is not a scalar "
			    "value"));
		p->p_pos += (size_t)ndig + 1;
		return (sb_utf8(p, b, cp));
	}
	if (ml && (c == ' ' || c == '\t' || at_newline(p))) {
		/* Line-ending backslash: trim whitespace and newlines. */
		save = p->p_pos;
		skip_ws(p);
		if (!at_newline(p)) {
			p->p_pos = save;
			return (perr(p, "invalid escape sequence"));
		}
		for (;;) {
			skip_ws(p);
			if (!eat_newline(p))
				return (0);
		}
	}
	if (c >= 0x20 && c < 0x7f)
		return (perr(p, "invalid escape sequence '\\%c'", c));
	return (perr(p, "invalid escape sequence"));
}

/*
 * Parse a basic ("...", """...""") or literal ('...', '''...''') string,
 * multi-line if ml, into b.  In multi-line strings, a newline right after
 * the opening delimiter is dropped and CRLF becomes LF.
 */
static int
parse_string(struct parser *p, struct buf *b, int ml)
{
	int	q = peek(p, 0), c, r;

	p->p_pos += ml ? 3 : 1;
	if (ml)
		eat_newline(p);
	for (;;) {
		c = peek(p, 0);
		if (c == -1)
			return (perr(p, "unterminated string"));
		if (c == q) {
			if (!ml) {
				p->p_pos++;
				return (0);
			}
			if ((r = ml_quotes(p, b, q)) != 0)
				return (r == 1 ? 0 : -1);
			continue;
		}
		if (c == '\\' && q == '"') {
			if (parse_escape(p, b, ml) == -1)
				return (-1);
			continue;
		}
		if (at_newline(p)) {
			if (!ml)
				return (perr(p, "unterminated string"));
			eat_newline(p);
			if (sb_putc(p, b, '\n') == -1)
				return (-1);
			continue;
		}
		if (sb_putc(p, b, c) == -1)
			return (-1);
		p->p_pos++;
	}
}

/* Is the string at the current position a multi-line one? */
static int
at_ml_string(const struct parser *p)
{
	int	q = peek(p, 0);

	return (peek(p, 1) == q && peek(p, 2) == q);
}

/*
 * Keys.
 */

static void
key_free(struct tkey *k)
{
	int	i;

	for (i = 0; i < k->tk_n; i++)
		free(k->tk_parts[i].kp_s);
	free(k->tk_parts);
	memset(k, 0, sizeof(*k));
}

/* Parse a (possibly dotted) key into k, which the caller key_free()s. */
static int
parse_key(struct parser *p, struct tkey *k)
{
	struct buf	 b;
	struct kpart	*np;
	size_t		 n;
	int		 c, nc;

	memset(k, 0, sizeof(*k));
	for (;;) {
		if (k->tk_n == TOML_MAX_KEYPARTS)
			return (perr(p, "key has more than %d parts",
			    TOML_MAX_KEYPARTS));
		if (k->tk_n == k->tk_cap) {
			nc = k->tk_cap ? k->tk_cap * 2 : 4;
			if ((np = realloc(k->tk_parts, (size_t)nc *
			    sizeof(*np))) == NULL)
				return (perr(p, "out of memory"));
			k->tk_parts = np;
			k->tk_cap = nc;
		}
		sb_init(p, &b);
		c = peek(p, 0);
		if (c == '"' || c == '\'') {
			if (at_ml_string(p))
				return (perr(p, "multi-line string used as "
				    "key"));
			if (sb_add(p, &b, "", 0) == -1 ||
			    parse_string(p, &b, 0) == -1) {
				buf_release(&b);
				return (-1);
			}
		} else if (is_bare_key(c)) {
			for (n = 0; is_bare_key(peek(p, n)); n++)
				;
			if (sb_add(p, &b, p->p_s + p->p_pos, n) == -1)
				return (-1);
			p->p_pos += n;
		} else
			return (perr(p, "expected key"));
		k->tk_parts[k->tk_n].kp_s = b.b_data;
		k->tk_parts[k->tk_n].kp_len = b.b_len;
		k->tk_n++;
		skip_ws(p);
		if (peek(p, 0) != '.')
			return (0);
		p->p_pos++;
		skip_ws(p);
	}
}

/*
 * Scalars written without quotes: booleans, numbers, dates and times.
 */

static int
is_token(int c)
{
	return (is_bare_key(c) || c == '+' || c == '.' || c == ':');
}

static int
is_date(const char *t, size_t n)
{
	return (n >= 10 && is_digit(t[0]) && is_digit(t[1]) &&
	    is_digit(t[2]) && is_digit(t[3]) && t[4] == '-' &&
	    is_digit(t[5]) && is_digit(t[6]) && t[7] == '-' &&
	    is_digit(t[8]) && is_digit(t[9]));
}

static int
two(const char *t)
{
	return ((t[0] - '0') * 10 + (t[1] - '0'));
}

/* Parse HH:MM:SS[.frac] at t[*ip], appending it to b. */
static int
parse_time(struct parser *p, const char *t, size_t n, size_t *ip,
    struct buf *b)
{
	size_t	i = *ip;

	if (n - i < 8 || !is_digit(t[i]) || !is_digit(t[i + 1]) ||
	    t[i + 2] != ':' || !is_digit(t[i + 3]) || !is_digit(t[i + 4]) ||
	    t[i + 5] != ':' || !is_digit(t[i + 6]) || !is_digit(t[i + 7]))
		return (perr(p, "invalid time, expected HH:MM:SS"));
	if (two(t + i) > 23 || two(t + i + 3) > 59 || two(t + i + 6) > 60)
		return (perr(p, "time out of range"));
	i += 8;
	if (i < n && t[i] == '.') {
		i++;
		if (i == n || !is_digit(t[i]))
			return (perr(p, "expected digits after '.' in time"));
		while (i < n && is_digit(t[i]))
			i++;
	}
	if (sb_add(p, b, t + *ip, i - *ip) == -1)
		return (-1);
	*ip = i;
	return (0);
}

static int
parse_datetime(struct parser *p, const char *t, size_t n, struct tnode *v)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	struct buf	 b;
	size_t		 i = 0;
	int		 y, m, d, leap;

	sb_init(p, &b);
	if (is_date(t, n)) {
		y = two(t) * 100 + two(t + 2);
		m = two(t + 5);
		d = two(t + 8);
		leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
		    (m == 2 && d == 29 && !leap)) {
			perr(p, "date out of range");
			goto fail;
		}
		if (sb_add(p, &b, t, 10) == -1)
			goto fail;
		v->tn_kind = TK_DATE_LOCAL;
		if (n == 10)
			goto done;
		if (t[10] != 'T' && t[10] != 't' && t[10] != ' ') {
			perr(p, "invalid date-time");
			goto fail;
		}
		i = 11;
		if (sb_putc(p, &b, 'T') == -1 ||
		    parse_time(p, t, n, &i, &b) == -1)
			goto fail;
		v->tn_kind = TK_DATETIME_LOCAL;
		if (i == n)
			goto done;
		v->tn_kind = TK_DATETIME;
		if ((t[i] == 'Z' || t[i] == 'z') && i + 1 == n) {
			if (sb_putc(p, &b, 'Z') == -1)
				goto fail;
			goto done;
		}
		if ((t[i] != '+' && t[i] != '-') || n - i != 6 ||
		    !is_digit(t[i + 1]) || !is_digit(t[i + 2]) ||
		    t[i + 3] != ':' || !is_digit(t[i + 4]) ||
		    !is_digit(t[i + 5])) {
			perr(p, "invalid time offset");
			goto fail;
		}
		if (two(t + i + 1) > 23 || two(t + i + 4) > 59) {
			perr(p, "time offset out of range");
			goto fail;
		}
		if (sb_add(p, &b, t + i, 6) == -1)
			goto fail;
	} else {
		if (parse_time(p, t, n, &i, &b) == -1)
			goto fail;
		if (i != n) {
			perr(p, "invalid time");
			goto fail;
		}
		v->tn_kind = TK_TIME_LOCAL;
	}
 done:
	v->tn_str = b.b_data;
	v->tn_slen = b.b_len;
	return (0);
 fail:
	buf_release(&b);
	return (-1);
}

/*
 * Scan digits of the given radix from t[*ip], where '_' may only stand
 * between two digits.  Stores the number of digits in *ndig.
 */
static int
scan_digits(struct parser *p, const char *t, size_t n, size_t *ip,
    int radix, size_t *ndig)
{
	size_t	i = *ip;

	*ndig = 0;
	while (i < n) {
		if (digit_val(t[i], radix) >= 0) {
			(*ndig)++;
		} else if (t[i] == '_') {
			if (i == *ip || digit_val(t[i - 1], radix) < 0 ||
			    i + 1 == n || digit_val(t[i + 1], radix) < 0)
				return (perr(p, "'_' must be between digits"));
		} else
			break;
		i++;
	}
	*ip = i;
	return (0);
}

/* Accumulate the digits of t[from .. to) into *out, checking for overflow. */
static int
to_int(struct parser *p, const char *t, size_t from, size_t to, int radix,
    int neg, int64_t *out)
{
	uint64_t	v = 0, lim, d;

	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; from < to; from++) {
		if (t[from] == '_')
			continue;
		d = (uint64_t)digit_val(t[from], radix);
		if (v > (lim - d) / (uint64_t)radix)
			return (perr(p, "integer out of range"));
		v = v * (uint64_t)radix + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return (0);
}

static int
to_float(struct parser *p, const char *t, size_t n, double *out)
{
	char	*buf, *end;
	size_t	 i, j;
	int	 rc = 0;

	if ((buf = malloc(n + 1)) == NULL)
		return (perr(p, "out of memory"));
	for (i = j = 0; i < n; i++)
		if (t[i] != '_')
			buf[j++] = t[i];
	buf[j] = '\0';
	/* Out-of-range values round to +-inf or 0, as in IEEE 754. */
	*out = strtod(buf, &end);
	if (end != buf + j)
		rc = perr(p, "invalid float");
	free(buf);
	return (rc);
}

static int
parse_number(struct parser *p, const char *t, size_t n, struct tnode *v)
{
	size_t	i = 0, start, nd;
	int	sign = 0, radix, isfloat = 0;

	if (t[0] == '+' || t[0] == '-')
		sign = t[i++];
	if (n - i == 3 && (memcmp(t + i, "inf", 3) == 0 ||
	    memcmp(t + i, "nan", 3) == 0)) {
		v->tn_kind = TK_FLOAT;
		if (t[i] == 'n')
			v->tn_dbl = sign == '-' ? -(double)NAN : (double)NAN;
		else
			v->tn_dbl = sign == '-' ? -(double)INFINITY :
			    (double)INFINITY;
		return (0);
	}
	if (n - i > 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'o' ||
	    t[i + 1] == 'b')) {
		if (sign)
			return (perr(p, "sign not allowed on prefixed "
			    "integer"));
		radix = t[i + 1] == 'x' ? 16 : t[i + 1] == 'o' ? 8 : 2;
		start = i += 2;
		if (scan_digits(p, t, n, &i, radix, &nd) == -1)
			return (-1);
		if (nd == 0 || i != n)
			return (perr(p, "invalid integer"));
		v->tn_kind = TK_INTEGER;
		return (to_int(p, t, start, n, radix, 0, &v->tn_int));
	}
	start = i;
	if (scan_digits(p, t, n, &i, 10, &nd) == -1)
		return (-1);
	if (nd == 0)
		return (perr(p, "invalid value"));
	if (t[start] == '0' && nd > 1)
		return (perr(p, "leading zeros are not allowed"));
	if (i < n && t[i] == '.') {
		i++;
		if (scan_digits(p, t, n, &i, 10, &nd) == -1)
			return (-1);
		if (nd == 0)
			return (perr(p, "expected digits after '.'"));
		isfloat = 1;
	}
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		i++;
		if (i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		if (scan_digits(p, t, n, &i, 10, &nd) == -1)
			return (-1);
		if (nd == 0)
			return (perr(p, "expected digits in exponent"));
		isfloat = 1;
	}
	if (i != n)
		return (perr(p, "invalid number"));
	if (isfloat) {
		v->tn_kind = TK_FLOAT;
		return (to_float(p, t, n, &v->tn_dbl));
	}
	v->tn_kind = TK_INTEGER;
	return (to_int(p, t, start, n, 10, sign == '-', &v->tn_int));
}

static int
parse_bare(struct parser *p, struct tnode *v)
{
	const char	*t = p->p_s + p->p_pos;
	size_t		 n = 0;

	while (is_token(peek(p, n)))
		n++;
	/* A date and a time may be separated by a single space. */
	if (n == 10 && is_date(t, n) && peek(p, 10) == ' ' &&
	    is_digit(peek(p, 11)) && is_digit(peek(p, 12)) &&
	    peek(p, 13) == ':')
		for (n = 11; is_token(peek(p, n)); n++)
			;
	if (n == 0)
		return (perr(p, "expected value"));
	p->p_pos += n;
	if (n == 4 && memcmp(t, "true", 4) == 0) {
		v->tn_kind = TK_BOOL;
		v->tn_int = 1;
		return (0);
	}
	if (n == 5 && memcmp(t, "false", 5) == 0) {
		v->tn_kind = TK_BOOL;
		return (0);
	}
	if (is_date(t, n) || (n >= 3 && is_digit(t[0]) && is_digit(t[1]) &&
	    t[2] == ':'))
		return (parse_datetime(p, t, n, v));
	return (parse_number(p, t, n, v));
}

/*
 * Compound values.
 */

static int
parse_array(struct parser *p, int depth, struct tnode **out)
{
	struct tnode	*a, *v;

	if ((a = container_new(p, TK_ARRAY, depth, 0)) == NULL)
		return (-1);
	p->p_pos++;				/* [ */
	for (;;) {
		skip_ws_nl(p);
		if (peek(p, 0) == ']')
			break;
		if (parse_value(p, depth + 1, &v) == -1 ||
		    node_push(p, a, v) == -1)
			goto fail;
		skip_ws_nl(p);
		if (peek(p, 0) == ',') {
			p->p_pos++;
			continue;
		}
		if (peek(p, 0) != ']') {
			perr(p, "expected ',' or ']' in array");
			goto fail;
		}
		break;
	}
	p->p_pos++;				/* ] */
	*out = a;
	return (0);
 fail:
	node_free(a);
	return (-1);
}

static int
parse_inline_table(struct parser *p, int depth, struct tnode **out)
{
	struct tnode	*t;

	if ((t = container_new(p, TK_TABLE, depth, 0)) == NULL)
		return (-1);
	p->p_pos++;				/* { */
	skip_ws(p);
	if (peek(p, 0) != '}') {
		for (;;) {
			skip_ws(p);
			if (parse_keyval(p, t) == -1)
				goto fail;
			skip_ws(p);
			if (peek(p, 0) == '}')
				break;
			if (peek(p, 0) != ',') {
				perr(p, "expected ',' or '}' in inline table");
				goto fail;
			}
			p->p_pos++;
		}
	}
	p->p_pos++;				/* } */
	t->tn_flags |= TF_INLINE;
	*out = t;
	return (0);
 fail:
	node_free(t);
	return (-1);
}

/* Parse a value that will sit at the given depth into a new node *out. */
static int
parse_value(struct parser *p, int depth, struct tnode **out)
{
	struct buf	 b;
	struct tnode	*v;
	int		 c = peek(p, 0);

	*out = NULL;
	if (c == '[')
		return (parse_array(p, depth, out));
	if (c == '{')
		return (parse_inline_table(p, depth, out));
	if ((v = node_new(p, TK_STRING)) == NULL)
		return (-1);
	if (c == '"' || c == '\'') {
		sb_init(p, &b);
		if (sb_add(p, &b, "", 0) == -1 ||
		    parse_string(p, &b, at_ml_string(p)) == -1) {
			buf_release(&b);
			node_free(v);
			return (-1);
		}
		v->tn_str = b.b_data;
		v->tn_slen = b.b_len;
	} else if (parse_bare(p, v) == -1) {
		node_free(v);
		return (-1);
	}
	*out = v;
	return (0);
}

/*
 * Key/value pairs and table headers.
 */

/* key = value, added to table t (the current table or an inline table). */
static int
parse_keyval(struct parser *p, struct tnode *t)
{
	struct tkey	 k;
	struct tnode	*n, *v;
	char		 kb[48];
	int		 i, rc = -1;

	if (parse_key(p, &k) == -1)
		goto out;
	if (peek(p, 0) != '=') {
		perr(p, "expected '=' after key");
		goto out;
	}
	p->p_pos++;
	skip_ws(p);
	/*
	 * Dotted keys define the tables they pass through.  They may go into
	 * tables they defined themselves and into tables not defined yet (the
	 * implicit parents of a [header]), but not into tables defined by a
	 * header, inline tables or arrays.  A table defined this way cannot
	 * be defined again by a [header].
	 */
	for (i = 0; i < k.tk_n - 1; i++) {
		n = table_get(t, &k.tk_parts[i]);
		if (n == NULL) {
			n = container_new(p, TK_TABLE, t->tn_depth + 1,
			    TF_DOTTED);
			if (n == NULL || table_put(p, t, &k.tk_parts[i],
			    n) == -1)
				goto out;
		} else if (n->tn_kind != TK_TABLE ||
		    (n->tn_flags & (TF_EXPLICIT | TF_INLINE))) {
			perr(p, "cannot add keys to '%s' with a dotted key",
			    key_repr(k.tk_parts[i].kp_s, k.tk_parts[i].kp_len,
			    kb, sizeof(kb)));
			goto out;
		}
		n->tn_flags = (n->tn_flags & ~TF_IMPLICIT) | TF_DOTTED;
		t = n;
	}
	if (table_get(t, &k.tk_parts[i]) != NULL) {
		perr(p, "duplicate key '%s'", key_repr(k.tk_parts[i].kp_s,
		    k.tk_parts[i].kp_len, kb, sizeof(kb)));
		goto out;
	}
	if (parse_value(p, t->tn_depth + 1, &v) == -1 ||
	    table_put(p, t, &k.tk_parts[i], v) == -1)
		goto out;
	rc = 0;
 out:
	key_free(&k);
	return (rc);
}

/*
 * [a.b.c] or [[a.b.c]]: walk from the root to the named table, creating
 * missing parents, and make it the current table *curp.
 */
static int
parse_header(struct parser *p, struct tnode *root, struct tnode **curp)
{
	struct tkey	 k;
	struct tnode	*t = root, *n;
	char		 kb[48];
	int		 aot = 0, i, rc = -1;

	memset(&k, 0, sizeof(k));
	p->p_pos++;
	if (peek(p, 0) == '[') {
		aot = 1;
		p->p_pos++;
	}
	skip_ws(p);
	if (parse_key(p, &k) == -1)
		goto out;
	if (peek(p, 0) != ']' || (aot && peek(p, 1) != ']')) {
		perr(p, aot ? "expected ']]' after table name" :
		    "expected ']' after table name");
		goto out;
	}
	p->p_pos += aot ? 2 : 1;
	for (i = 0; i < k.tk_n - 1; i++) {
		key_repr(k.tk_parts[i].kp_s, k.tk_parts[i].kp_len, kb,
		    sizeof(kb));
		if ((n = table_get(t, &k.tk_parts[i])) == NULL) {
			n = container_new(p, TK_TABLE, t->tn_depth + 1,
			    TF_IMPLICIT);
			if (n == NULL || table_put(p, t, &k.tk_parts[i],
			    n) == -1)
				goto out;
		} else if (n->tn_kind == TK_ARRAY && (n->tn_flags & TF_AOT))
			n = n->tn_kids[n->tn_nkids - 1];
		else if (n->tn_kind != TK_TABLE) {
			perr(p, "key '%s' is not a table", kb);
			goto out;
		} else if (n->tn_flags & TF_INLINE) {
			perr(p, "cannot extend inline table '%s'", kb);
			goto out;
		}
		t = n;
	}
	/* The last part names the table (or array of tables) itself. */
	key_repr(k.tk_parts[i].kp_s, k.tk_parts[i].kp_len, kb, sizeof(kb));
	n = table_get(t, &k.tk_parts[i]);
	if (aot) {
		if (n == NULL) {
			n = container_new(p, TK_ARRAY, t->tn_depth + 1, TF_AOT);
			if (n == NULL || table_put(p, t, &k.tk_parts[i],
			    n) == -1)
				goto out;
		} else if (n->tn_kind != TK_ARRAY || !(n->tn_flags & TF_AOT)) {
			perr(p, "key '%s' is not an array of tables", kb);
			goto out;
		}
		t = n;
		if ((n = container_new(p, TK_TABLE, t->tn_depth + 1,
		    TF_EXPLICIT)) == NULL || node_push(p, t, n) == -1)
			goto out;
	} else if (n == NULL) {
		n = container_new(p, TK_TABLE, t->tn_depth + 1, TF_EXPLICIT);
		if (n == NULL || table_put(p, t, &k.tk_parts[i], n) == -1)
			goto out;
	} else if (n->tn_kind == TK_TABLE && !(n->tn_flags & (TF_EXPLICIT |
	    TF_DOTTED | TF_INLINE)))
		n->tn_flags |= TF_EXPLICIT;
	else {
		perr(p, "table '%s' is already defined", kb);
		goto out;
	}
	*curp = n;
	rc = 0;
 out:
	key_free(&k);
	return (rc);
}

static int
parse_document(struct parser *p, struct tnode *root)
{
	struct tnode	*cur = root;
	int		 c;

	if (p->p_len >= 3 && memcmp(p->p_s, "\xef\xbb\xbf", 3) == 0)
		p->p_pos = 3;
	for (;;) {
		skip_ws(p);
		c = peek(p, 0);
		if (c == '[') {
			if (parse_header(p, root, &cur) == -1)
				return (-1);
		} else if (c != '#' && c != -1 && !at_newline(p)) {
			if (parse_keyval(p, cur) == -1)
				return (-1);
		}
		skip_ws(p);
		skip_comment(p);
		if (peek(p, 0) == -1)
			return (0);
		if (!eat_newline(p))
			return (perr(p, c == '[' ? "expected newline after "
			    "table header" : "expected newline after value"));
	}
}

/*
 * Conversion to jansson.
 */

static void
fmt_float(double d, char *buf, size_t sz)
{
	int	prec;

	if (isnan(d))
		snprintf(buf, sz, "nan");
	else if (isinf(d))
		snprintf(buf, sz, "%s", d < 0 ? "-inf" : "inf");
	else
		for (prec = 15; prec <= 17; prec++) {
			snprintf(buf, sz, "%.*g", prec, d);
			if (strtod(buf, NULL) == d)
				break;
		}
}

static json_t *
tagged(const char *type, json_t *value)
{
	json_t	*o;

	if (value == NULL)
		return (NULL);
	if ((o = json_object()) == NULL ||
	    json_object_set_new(o, "type", json_string(type)) == -1) {
		json_decref(value);
		json_decref(o);
		return (NULL);
	}
	if (json_object_set_new(o, "value", value) == -1) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

static json_t *
to_json(const struct tnode *n, int tag)
{
	static const char *const dtnames[] = { "datetime", "datetime-local",
	    "date-local", "time-local" };
	json_t	*j;
	char	 buf[64];
	size_t	 i;

	switch (n->tn_kind) {
	case TK_TABLE:
		if ((j = json_object()) == NULL)
			return (NULL);
		for (i = 0; i < n->tn_nkids; i++)
			if (json_object_setn_new(j, n->tn_kids[i]->tn_key,
			    n->tn_kids[i]->tn_klen,
			    to_json(n->tn_kids[i], tag)) == -1) {
				json_decref(j);
				return (NULL);
			}
		return (j);
	case TK_ARRAY:
		if ((j = json_array()) == NULL)
			return (NULL);
		for (i = 0; i < n->tn_nkids; i++)
			if (json_array_append_new(j,
			    to_json(n->tn_kids[i], tag)) == -1) {
				json_decref(j);
				return (NULL);
			}
		return (j);
	case TK_STRING:
		j = json_stringn(n->tn_str, n->tn_slen);
		return (tag ? tagged("string", j) : j);
	case TK_INTEGER:
		if (!tag)
			return (json_integer((json_int_t)n->tn_int));
		snprintf(buf, sizeof(buf), "%" PRId64, n->tn_int);
		return (tagged("integer", json_string(buf)));
	case TK_FLOAT:
		if (!tag && isfinite(n->tn_dbl))
			return (json_real(n->tn_dbl));
		fmt_float(n->tn_dbl, buf, sizeof(buf));
		return (tag ? tagged("float", json_string(buf)) :
		    json_string(buf));
	case TK_BOOL:
		if (!tag)
			return (json_boolean(n->tn_int));
		return (tagged("bool", json_string(n->tn_int ? "true" :
		    "false")));
	case TK_DATETIME:
	case TK_DATETIME_LOCAL:
	case TK_DATE_LOCAL:
	case TK_TIME_LOCAL:
		j = json_stringn(n->tn_str, n->tn_slen);
		return (tag ? tagged(dtnames[n->tn_kind - TK_DATETIME], j) :
		    j);
	}
	return (NULL);
}

json_t *
toml_parse(const char *text, size_t len, int flags, struct toml_err *err)
{
	struct parser	 p;
	struct tnode	*root;
	json_t		*j = NULL;

	if (err != NULL) {
		err->te_line = 0;
		err->te_msg[0] = '\0';
	}
	memset(&p, 0, sizeof(p));
	p.p_s = text != NULL ? text : "";
	p.p_len = text != NULL ? len : 0;
	p.p_err = err;
	if ((root = container_new(&p, TK_TABLE, 0, TF_EXPLICIT)) == NULL)
		return (NULL);
	if (check_text(&p) == 0 && parse_document(&p, root) == 0) {
		j = to_json(root, flags & TOML_TAGGED);
		if (j == NULL && err != NULL)
			snprintf(err->te_msg, sizeof(err->te_msg),
			    "out of memory");
	}
	node_free(root);
	return (j);
}
