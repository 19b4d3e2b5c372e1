/*
 * t_toml.c - toml_parse() against the toml-test corpus, plus a few
 * natural-mode cases.
 *
 * Usage: t_toml [corpus-dir]
 *
 * The corpus directory defaults to $TOML_TEST_DIR, then to
 * ../shared/data/toml-test.  Every case listed in tests/files-toml-1.0.0 is
 * run: valid/X.toml is parsed with TOML_TAGGED and compared to valid/X.json
 * with toml-test's semantics (it must also parse in natural mode);
 * invalid/X.toml must be rejected with an error naming its line.
 *
 * Only failures are printed ("not ok N - case: reason"), followed by the
 * line "N passed, N failed".  The exit status is 0 only if nothing failed.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "toml.h"

static int	npassed, nfailed;
static char	why[1024];		/* reason for the current failure */

static void	 report(const char *, int);
static int	 fail(const char *, ...)
		    __attribute__((__format__(__printf__, 1, 2)));

/* Count a case; print a failure on one line, control characters as '?'. */
static void
report(const char *name, int ok)
{
	char	*c;

	if (ok) {
		npassed++;
		return;
	}
	nfailed++;
	for (c = why; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	printf("not ok %d - %s: %s\n", npassed + nfailed, name, why);
}

/* Set the failure reason; always returns -1. */
static int
fail(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return (-1);
}

static char *
read_file(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf = NULL, *nb;
	size_t	 len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(f);
				return (NULL);
			}
			buf = nb;
		}
		if ((n = fread(buf + len, 1, cap - len - 1, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return (NULL);
	}
	fclose(f);
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

/*
 * toml-test comparison.
 */

/* A tagged value: exactly the string members "type" and "value". */
static int
is_tagged(const json_t *j)
{
	return (json_is_object(j) && json_object_size(j) == 2 &&
	    json_is_string(json_object_get(j, "type")) &&
	    json_is_string(json_object_get(j, "value")));
}

/* Read exactly n digits at *sp. */
static int
digits(const char **sp, int n, int *out)
{
	int	v = 0;

	for (; n > 0; n--, (*sp)++) {
		if (**sp < '0' || **sp > '9')
			return (-1);
		v = v * 10 + (**sp - '0');
	}
	*out = v;
	return (0);
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long long
days_from_civil(int y, int m, int d)
{
	long long	era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

/*
 * Reduce a toml-test date/time value to seconds and nanoseconds, accepting
 * what toml-test treats as equivalent: lower-case 't' and 'z', a space
 * separator and any number of fractional digits (trailing zeros do not
 * matter).  Offset date-times are compared as instants, as toml-test does.
 */
static int
dt_value(const char *type, const char *s, long long *secs, long *nsec)
{
	int	y = 1970, mo = 1, d = 1, h = 0, mi = 0, se = 0, oh, om;
	int	dig = 0, hasdate, hastime;
	long	ns = 0, off = 0;

	hasdate = strcmp(type, "time-local") != 0;
	hastime = strcmp(type, "date-local") != 0;
	if (hasdate && (digits(&s, 4, &y) == -1 || *s++ != '-' ||
	    digits(&s, 2, &mo) == -1 || *s++ != '-' ||
	    digits(&s, 2, &d) == -1))
		return (-1);
	if (hasdate && hastime && *s != 'T' && *s != 't' && *s != ' ')
		return (-1);
	if (hasdate && hastime)
		s++;
	if (hastime) {
		if (digits(&s, 2, &h) == -1 || *s++ != ':' ||
		    digits(&s, 2, &mi) == -1 || *s++ != ':' ||
		    digits(&s, 2, &se) == -1)
			return (-1);
		if (*s == '.') {
			for (s++; *s >= '0' && *s <= '9'; s++, dig++)
				if (dig < 9)
					ns = ns * 10 + (*s - '0');
			if (dig == 0)
				return (-1);
			for (; dig < 9; dig++)
				ns *= 10;
		}
	}
	if (strcmp(type, "datetime") == 0) {
		if (*s == 'Z' || *s == 'z')
			s++;
		else if (*s == '+' || *s == '-') {
			off = *s++ == '-' ? -1 : 1;
			if (digits(&s, 2, &oh) == -1 || *s++ != ':' ||
			    digits(&s, 2, &om) == -1)
				return (-1);
			off *= oh * 60 + om;
		} else
			return (-1);
	}
	if (*s != '\0')
		return (-1);
	*secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
	    off * 60;
	*nsec = ns;
	return (0);
}

static int
cmp_tagged(const json_t *exp, const json_t *got, const char *path)
{
	const char	*et, *gt, *ev, *gv;
	char		*e1, *e2;
	long long	 es, gs;
	long		 ens, gns;
	double		 ed, gd;

	if (!is_tagged(got))
		return (fail("%s: expected a tagged value", path));
	et = json_string_value(json_object_get(exp, "type"));
	gt = json_string_value(json_object_get(got, "type"));
	ev = json_string_value(json_object_get(exp, "value"));
	gv = json_string_value(json_object_get(got, "value"));
	if (strcmp(et, gt) != 0)
		return (fail("%s: type %s, expected %s", path, gt, et));
	if (strcmp(et, "integer") == 0) {
		errno = 0;
		es = strtoll(ev, &e1, 10);
		gs = strtoll(gv, &e2, 10);
		if (errno != 0 || *e1 != '\0' || *e2 != '\0' || es != gs)
			return (fail("%s: integer %s, expected %s", path, gv,
			    ev));
	} else if (strcmp(et, "float") == 0) {
		ed = strtod(ev, &e1);
		gd = strtod(gv, &e2);
		if (*e1 != '\0' || *e2 != '\0' || (isnan(ed) != isnan(gd)) ||
		    (!isnan(ed) && ed != gd))
			return (fail("%s: float %s, expected %s", path, gv,
			    ev));
	} else if (strcmp(et, "datetime") == 0 ||
	    strcmp(et, "datetime-local") == 0 ||
	    strcmp(et, "date-local") == 0 || strcmp(et, "time-local") == 0) {
		if (dt_value(et, ev, &es, &ens) == -1)
			return (fail("%s: bad expected %s %s", path, et, ev));
		if (dt_value(et, gv, &gs, &gns) == -1 || es != gs ||
		    ens != gns)
			return (fail("%s: %s %s, expected %s", path, et, gv,
			    ev));
	} else {
		/* string and bool: exactly */
		if (json_string_length(json_object_get(exp, "value")) !=
		    json_string_length(json_object_get(got, "value")) ||
		    memcmp(ev, gv, json_string_length(json_object_get(exp,
		    "value"))) != 0)
			return (fail("%s: %s \"%s\", expected \"%s\"", path, et,
			    gv, ev));
	}
	return (0);
}

static int
cmp_json(json_t *exp, json_t *got, const char *path)
{
	const char	*k;
	json_t		*ev;
	json_t		*v;
	char		 sub[512];
	size_t		 i, klen;

	if (json_is_array(exp)) {
		if (!json_is_array(got))
			return (fail("%s: expected an array", path));
		if (json_array_size(exp) != json_array_size(got))
			return (fail("%s: array of %zu, expected %zu", path,
			    json_array_size(got), json_array_size(exp)));
		for (i = 0; i < json_array_size(exp); i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if (cmp_json(json_array_get(exp, i),
			    json_array_get(got, i), sub) == -1)
				return (-1);
		}
		return (0);
	}
	if (!json_is_object(exp))
		return (fail("%s: bad expected json", path));
	if (is_tagged(exp))
		return (cmp_tagged(exp, got, path));
	if (!json_is_object(got) || is_tagged(got))
		return (fail("%s: expected a table", path));
	if (json_object_size(exp) != json_object_size(got))
		return (fail("%s: table of %zu keys, expected %zu", path,
		    json_object_size(got), json_object_size(exp)));
	json_object_keylen_foreach(exp, k, klen, ev) {
		snprintf(sub, sizeof(sub), "%s.%.*s", path, (int)klen, k);
		if ((v = json_object_getn(got, k, klen)) == NULL)
			return (fail("%s: missing", sub));
		if (cmp_json(ev, v, sub) == -1)
			return (-1);
	}
	return (0);
}

/*
 * The expected JSON files are read with this small reader rather than
 * json_loadb(), which rejects "\u0000" in object keys (toml-test has such
 * a key).  The files only hold objects, arrays and strings.
 */

struct jreader {
	const char	*jr_s;
	size_t		 jr_len;
	size_t		 jr_pos;
};

static json_t	*jr_value(struct jreader *, int);

static int
jr_peek(struct jreader *r)
{
	while (r->jr_pos < r->jr_len && r->jr_s[r->jr_pos] != '\0' &&
	    strchr(" \t\r\n", r->jr_s[r->jr_pos]) != NULL)
		r->jr_pos++;
	return (r->jr_pos < r->jr_len ? (unsigned char)r->jr_s[r->jr_pos] :
	    -1);
}

static int
jr_hex4(struct jreader *r, unsigned long *cp)
{
	int	i, c;

	*cp = 0;
	if (r->jr_len - r->jr_pos < 4)
		return (-1);
	for (i = 0; i < 4; i++) {
		c = r->jr_s[r->jr_pos++];
		if (c >= '0' && c <= '9')
			*cp = *cp * 16 + (unsigned long)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			*cp = *cp * 16 + (unsigned long)((c | 0x20) - 'a' + 10);
		else
			return (-1);
	}
	return (0);
}

/* A JSON string at the current position, decoded into a new buffer. */
static char *
jr_string(struct jreader *r, size_t *lenp)
{
	unsigned long	 cp, lo;
	char		*b;
	size_t		 n = 0;
	int		 c;

	if (jr_peek(r) != '"' ||
	    (b = malloc(r->jr_len - r->jr_pos + 1)) == NULL)
		return (NULL);
	for (r->jr_pos++; r->jr_pos < r->jr_len; ) {
		c = r->jr_s[r->jr_pos++];
		if (c == '"') {
			*lenp = n;
			return (b);
		}
		if (c != '\\') {
			b[n++] = (char)c;
			continue;
		}
		if (r->jr_pos == r->jr_len)
			break;
		c = r->jr_s[r->jr_pos++];
		if (c != 'u') {
			if (c == '\0' || strchr("\"\\/bfnrt", c) == NULL)
				break;
			b[n++] = c == 'b' ? '\b' : c == 'f' ? '\f' :
			    c == 'n' ? '\n' : c == 'r' ? '\r' :
			    c == 't' ? '\t' : (char)c;
			continue;
		}
		if (jr_hex4(r, &cp) == -1)
			break;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (r->jr_len - r->jr_pos < 2 ||
			    r->jr_s[r->jr_pos] != '\\' ||
			    r->jr_s[r->jr_pos + 1] != 'u')
				break;
			r->jr_pos += 2;
			if (jr_hex4(r, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff)
				break;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (cp < 0x80)
			b[n++] = (char)cp;
		else if (cp < 0x800) {
			b[n++] = (char)(0xc0 | cp >> 6);
			b[n++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			b[n++] = (char)(0xe0 | cp >> 12);
			b[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
			b[n++] = (char)(0x80 | (cp & 0x3f));
		} else {
			b[n++] = (char)(0xf0 | cp >> 18);
			b[n++] = (char)(0x80 | (cp >> 12 & 0x3f));
			b[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
			b[n++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	free(b);
	return (NULL);
}

static json_t *
jr_value(struct jreader *r, int depth)
{
	json_t	*j, *v;
	char	*s;
	size_t	 n;
	int	 c = jr_peek(r), close;

	if (depth > 200)
		return (NULL);
	if (c == '"') {
		if ((s = jr_string(r, &n)) == NULL)
			return (NULL);
		j = json_stringn(s, n);
		free(s);
		return (j);
	}
	if (c != '{' && c != '[')
		return (NULL);
	close = c == '{' ? '}' : ']';
	if ((j = c == '{' ? json_object() : json_array()) == NULL)
		return (NULL);
	r->jr_pos++;
	if (jr_peek(r) == close) {
		r->jr_pos++;
		return (j);
	}
	for (;;) {
		s = NULL;
		if (close == '}') {
			if ((s = jr_string(r, &n)) == NULL || jr_peek(r) != ':')
				goto fail;
			r->jr_pos++;
		}
		v = jr_value(r, depth + 1);
		if ((s != NULL ? json_object_setn_new(j, s, n, v) :
		    json_array_append_new(j, v)) == -1)
			goto fail;
		free(s);
		if ((c = jr_peek(r)) == close)
			break;
		if (c != ',')
			goto fail;
		r->jr_pos++;
	}
	r->jr_pos++;
	return (j);
 fail:
	free(s);
	json_decref(j);
	return (NULL);
}

static json_t *
load_json(const char *path)
{
	struct jreader	 r;
	json_t		*j;
	char		*text;

	memset(&r, 0, sizeof(r));
	if ((text = read_file(path, &r.jr_len)) == NULL)
		return (NULL);
	r.jr_s = text;
	if ((j = jr_value(&r, 0)) != NULL && jr_peek(&r) != -1) {
		json_decref(j);
		j = NULL;
	}
	free(text);
	return (j);
}

/*
 * Corpus cases.
 */

static int
run_valid(const char *dir, const char *name)
{
	struct toml_err	 err;
	json_t		*got = NULL, *exp = NULL, *nat = NULL;
	char		 path[4096], *text;
	size_t		 len, n;
	int		 rc = -1;

	snprintf(path, sizeof(path), "%s/tests/%s", dir, name);
	if ((text = read_file(path, &len)) == NULL)
		return (fail("cannot read %s: %s", path, strerror(errno)));
	n = strlen(path);
	snprintf(path + n - 5, sizeof(path) - (n - 5), ".json");
	if ((exp = load_json(path)) == NULL) {
		fail("cannot load %s", path);
		goto out;
	}
	if ((got = toml_parse(text, len, TOML_TAGGED, &err)) == NULL) {
		fail("tagged parse failed: %s", err.te_msg);
		goto out;
	}
	if (cmp_json(exp, got, "$") == -1)
		goto out;
	if ((nat = toml_parse(text, len, 0, &err)) == NULL) {
		fail("natural parse failed: %s", err.te_msg);
		goto out;
	}
	rc = 0;
 out:
	json_decref(nat);
	json_decref(got);
	json_decref(exp);
	free(text);
	return (rc);
}

static int
run_invalid(const char *dir, const char *name)
{
	struct toml_err	 err;
	json_t		*got;
	char		 path[4096], prefix[32], *text;
	size_t		 len;

	snprintf(path, sizeof(path), "%s/tests/%s", dir, name);
	if ((text = read_file(path, &len)) == NULL)
		return (fail("cannot read %s: %s", path, strerror(errno)));
	got = toml_parse(text, len, TOML_TAGGED, &err);
	free(text);
	if (got != NULL) {
		json_decref(got);
		return (fail("accepted invalid document"));
	}
	snprintf(prefix, sizeof(prefix), "line %d: ", err.te_line);
	if (err.te_line <= 0 || strncmp(err.te_msg, prefix,
	    strlen(prefix)) != 0)
		return (fail("bad error: line %d, \"%s\"", err.te_line,
		    err.te_msg));
	return (0);
}

static void
run_corpus(const char *dir)
{
	FILE	*f;
	char	 path[4096], line[1024];
	size_t	 n;
	int	 ncases = 0;

	snprintf(path, sizeof(path), "%s/tests/files-toml-1.0.0", dir);
	if ((f = fopen(path, "r")) == NULL) {
		fail("cannot open %s: %s", path, strerror(errno));
		report(path, 0);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (n < 5 || strcmp(line + n - 5, ".toml") != 0)
			continue;
		if (strncmp(line, "valid/", 6) == 0)
			report(line, run_valid(dir, line) == 0);
		else if (strncmp(line, "invalid/", 8) == 0)
			report(line, run_invalid(dir, line) == 0);
		else
			continue;
		ncases++;
	}
	fclose(f);
	if (ncases == 0) {
		fail("no test cases listed");
		report(path, 0);
	}
}

/*
 * Natural-mode cases.
 */

#define CHECK(c) do {							\
	if (!(c)) {							\
		fail("%s:%d: %s", __FILE__, __LINE__, #c);		\
		goto out;						\
	}								\
} while (0)

static json_t *
parse_nat(const char *doc, struct toml_err *err)
{
	return (toml_parse(doc, strlen(doc), 0, err));
}

static int
str_is(const json_t *j, const char *s)
{
	return (json_is_string(j) && strcmp(json_string_value(j), s) == 0);
}

static int
nat_manifest(void)
{
	static const char doc[] =
	    "# agent manifest\n"
	    "name = \"agentd\"\n"
	    "version = 3\n"
	    "\n"
	    "[service]\n"
	    "port = 8_080\n"
	    "ratio = 0.5\n"
	    "tags = [\"a\", 'b']\n"
	    "limits.cpu = 2\n"
	    "\n"
	    "[service.env]\n"
	    "HOME = \"/var/empty\"\n"
	    "\n"
	    "[[workers]]\n"
	    "id = 1\n"
	    "\n"
	    "[[workers]]\n"
	    "id = 2\n"
	    "enabled = true\n"
	    "opts = { retries = 0x10, verbose = false }\n";
	struct toml_err	 err;
	json_t		*j, *svc, *w;
	int		 rc = -1;

	if ((j = parse_nat(doc, &err)) == NULL)
		return (fail("parse failed: %s", err.te_msg));
	svc = json_object_get(j, "service");
	w = json_object_get(j, "workers");
	CHECK(json_object_size(j) == 4);
	CHECK(str_is(json_object_get(j, "name"), "agentd"));
	CHECK(json_integer_value(json_object_get(j, "version")) == 3);
	CHECK(json_is_integer(json_object_get(svc, "port")));
	CHECK(json_integer_value(json_object_get(svc, "port")) == 8080);
	CHECK(json_is_real(json_object_get(svc, "ratio")));
	CHECK(json_real_value(json_object_get(svc, "ratio")) == 0.5);
	CHECK(json_array_size(json_object_get(svc, "tags")) == 2);
	CHECK(str_is(json_array_get(json_object_get(svc, "tags"), 1), "b"));
	CHECK(json_integer_value(json_object_get(json_object_get(svc,
	    "limits"), "cpu")) == 2);
	CHECK(str_is(json_object_get(json_object_get(svc, "env"), "HOME"),
	    "/var/empty"));
	CHECK(json_is_array(w) && json_array_size(w) == 2);
	CHECK(json_integer_value(json_object_get(json_array_get(w, 0),
	    "id")) == 1);
	CHECK(json_object_size(json_array_get(w, 0)) == 1);
	CHECK(json_is_true(json_object_get(json_array_get(w, 1),
	    "enabled")));
	CHECK(json_integer_value(json_object_get(json_object_get(
	    json_array_get(w, 1), "opts"), "retries")) == 16);
	CHECK(json_is_false(json_object_get(json_object_get(
	    json_array_get(w, 1), "opts"), "verbose")));
	rc = 0;
 out:
	json_decref(j);
	return (rc);
}

static int
nat_special_floats(void)
{
	static const char doc[] =
	    "a = inf\nb = -inf\nc = nan\nd = -nan\ne = +inf\nf = -1.5e3\n";
	struct toml_err	 err;
	json_t		*j;
	int		 rc = -1;

	if ((j = parse_nat(doc, &err)) == NULL)
		return (fail("parse failed: %s", err.te_msg));
	CHECK(str_is(json_object_get(j, "a"), "inf"));
	CHECK(str_is(json_object_get(j, "b"), "-inf"));
	CHECK(str_is(json_object_get(j, "c"), "nan"));
	CHECK(str_is(json_object_get(j, "d"), "nan"));
	CHECK(str_is(json_object_get(j, "e"), "inf"));
	CHECK(json_is_real(json_object_get(j, "f")));
	CHECK(json_real_value(json_object_get(j, "f")) == -1500.0);
	rc = 0;
 out:
	json_decref(j);
	return (rc);
}

static int
nat_datetimes(void)
{
	static const char doc[] =
	    "odt = 1979-05-27 07:32:00z\n"
	    "off = 1979-05-27t00:32:00.999-07:00\n"
	    "ldt = 1979-05-27T07:32:00\n"
	    "ld = 1979-05-27\n"
	    "lt = 07:32:00.5\n";
	struct toml_err	 err;
	json_t		*j;
	int		 rc = -1;

	if ((j = parse_nat(doc, &err)) == NULL)
		return (fail("parse failed: %s", err.te_msg));
	CHECK(str_is(json_object_get(j, "odt"), "1979-05-27T07:32:00Z"));
	CHECK(str_is(json_object_get(j, "off"),
	    "1979-05-27T00:32:00.999-07:00"));
	CHECK(str_is(json_object_get(j, "ldt"), "1979-05-27T07:32:00"));
	CHECK(str_is(json_object_get(j, "ld"), "1979-05-27"));
	CHECK(str_is(json_object_get(j, "lt"), "07:32:00.5"));
	rc = 0;
 out:
	json_decref(j);
	return (rc);
}

static int
nat_error_line(void)
{
	static const char doc[] =
	    "a = 1\n"
	    "b = \"two\"\n"
	    "c = \"three\n"
	    "d = 4\n"
	    "e = 5\n";
	static const char dup[] =
	    "[t]\r\nx = 1\r\n\r\n[u]\r\n[t]\r\n";
	struct toml_err	 err;
	json_t		*j;

	if ((j = parse_nat(doc, &err)) != NULL) {
		json_decref(j);
		return (fail("accepted invalid document"));
	}
	if (err.te_line != 3 || strncmp(err.te_msg, "line 3: ", 8) != 0)
		return (fail("error at line %d: %s", err.te_line,
		    err.te_msg));
	if ((j = parse_nat(dup, &err)) != NULL) {
		json_decref(j);
		return (fail("accepted redefined table"));
	}
	if (err.te_line != 5 || strncmp(err.te_msg, "line 5: ", 8) != 0)
		return (fail("error at line %d: %s", err.te_line,
		    err.te_msg));
	return (0);
}

static int
nat_dotted_implicit(void)
{
	/* Dotted keys may define a header's implicit parent, once. */
	static const char ok[] = "[a.b.c]\nx = 1\n[a]\nb.d = 2\n";
	static const char bad1[] = "[a.b.c]\n[a]\nb.d = 2\n[a.b]\n";
	static const char bad2[] = "[a.b.c]\n[a]\nb.c.y = 2\n";
	struct toml_err	 err;
	json_t		*j, *b;
	int		 rc = -1;

	if ((j = parse_nat(ok, &err)) == NULL)
		return (fail("parse failed: %s", err.te_msg));
	b = json_object_get(json_object_get(j, "a"), "b");
	CHECK(json_integer_value(json_object_get(b, "d")) == 2);
	CHECK(json_integer_value(json_object_get(json_object_get(b, "c"),
	    "x")) == 1);
	json_decref(j);
	if ((j = parse_nat(bad1, &err)) != NULL)
		CHECK(!"redefined by a header");
	CHECK(err.te_line == 4);
	if ((j = parse_nat(bad2, &err)) != NULL)
		CHECK(!"header table extended by dotted key");
	CHECK(err.te_line == 3);
	rc = 0;
 out:
	json_decref(j);
	return (rc);
}

/* Does toml_parse() reject text[0 .. len)? */
static int
rejects(const char *text, size_t len, struct toml_err *err)
{
	json_t	*j;

	if ((j = toml_parse(text, len, 0, err)) == NULL)
		return (1);
	json_decref(j);
	return (0);
}

static int
nat_limits(void)
{
	static const char nul[] = "k = \"a\\u0000b\"\nx = 1";
	struct toml_err	 err;
	json_t		*j = NULL;
	char		 deep[1024];
	size_t		 i;
	int		 rc = -1;

	/* Not NUL-terminated: only the first 5 bytes are the document. */
	CHECK((j = toml_parse("x = 12345", 5, 0, &err)) != NULL);
	CHECK(json_integer_value(json_object_get(j, "x")) == 1);
	json_decref(j);
	CHECK((j = toml_parse(NULL, 0, 0, &err)) != NULL);
	CHECK(json_object_size(j) == 0);
	json_decref(j);
	CHECK((j = toml_parse(nul, sizeof(nul) - 1, 0, &err)) != NULL);
	CHECK(json_string_length(json_object_get(j, "k")) == 3);
	json_decref(j);
	j = NULL;
	CHECK(rejects("i = 9223372036854775808", 23, &err));
	CHECK(err.te_line == 1);
	CHECK(rejects("a = \"x\0y\"", 9, &err));
	CHECK(err.te_line == 1);
	memcpy(deep, "a = ", 4);
	for (i = 4; i < sizeof(deep); i++)
		deep[i] = '[';
	CHECK(rejects(deep, sizeof(deep), &err));
	CHECK(strstr(err.te_msg, "nesting") != NULL);
	rc = 0;
 out:
	json_decref(j);
	return (rc);
}

int
main(int argc, char *argv[])
{
	static const struct {
		const char	*name;
		int		(*fn)(void);
	} nat[] = {
		{ "natural/manifest", nat_manifest },
		{ "natural/special-floats", nat_special_floats },
		{ "natural/datetimes", nat_datetimes },
		{ "natural/error-line", nat_error_line },
		{ "natural/dotted-implicit", nat_dotted_implicit },
		{ "natural/limits", nat_limits },
	};
	const char	*dir;
	size_t		 i;

	if (argc > 1)
		dir = argv[1];
	else if ((dir = getenv("TOML_TEST_DIR")) == NULL || *dir == '\0')
		dir = "../shared/data/toml-test";
	for (i = 0; i < sizeof(nat) / sizeof(nat[0]); i++)
		report(nat[i].name, nat[i].fn() == 0);
	run_corpus(dir);
	printf("%d passed, %d failed\n", npassed, nfailed);
	return (nfailed == 0 ? 0 : 1);
}
