/*
 * email_mime.c - reading inbound mail (RFC 5322, MIME, RFC 2047) and
 * building the outbound reply; the IMAP response bits.  Pure functions.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "adapter.h"
#include "email.h"

/* A growing string. */
struct em_buf {
	char	*b;
	size_t	 len;
	size_t	 cap;
	int	 oom;
};

static void
em_put(struct em_buf *b, const char *s, size_t n)
{
	size_t	 cap;
	char	*nb;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((nb = realloc(b->b, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->b = nb;
		b->cap = cap;
	}
	memcpy(b->b + b->len, s, n);
	b->len += n;
	b->b[b->len] = '\0';
}

static void
em_puts(struct em_buf *b, const char *s)
{
	em_put(b, s, strlen(s));
}

/* The string built (new), or NULL when out of memory. */
static char *
em_done(struct em_buf *b)
{
	if (b->oom) {
		free(b->b);
		return (NULL);
	}
	if (b->b == NULL)
		return (strdup(""));
	return (b->b);
}

static int
em_hex(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

size_t
em_qp_decode(char *s, size_t n)
{
	size_t	i, o = 0, j;
	int	h, l;

	for (i = 0; i < n; i++) {
		if (s[i] != '=') {
			s[o++] = s[i];
			continue;
		}
		/* A soft line break: "=" then blanks to the end of line. */
		for (j = i + 1; j < n && (s[j] == ' ' || s[j] == '\t'); j++)
			;
		if (j < n && (s[j] == '\r' || s[j] == '\n')) {
			if (s[j] == '\r' && j + 1 < n && s[j + 1] == '\n')
				j++;
			i = j;
			continue;
		}
		if (j == n) {
			i = j;
			continue;
		}
		if (i + 2 < n && (h = em_hex((unsigned char)s[i + 1])) >= 0 &&
		    (l = em_hex((unsigned char)s[i + 2])) >= 0) {
			s[o++] = (char)(h * 16 + l);
			i += 2;
		} else
			s[o++] = '=';	/* not an escape: kept (RFC 2045 6.7) */
	}
	return (o);
}

static int
em_b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '+')
		return (62);
	if (c == '/')
		return (63);
	return (-1);
}

size_t
em_b64_decode(char *s, size_t n)
{
	size_t		 i, o = 0;
	uint32_t	 acc = 0;
	int		 bits = 0, v;

	/* Anything outside the alphabet (line breaks, padding) is
	 * skipped (RFC 2045 6.8). */
	for (i = 0; i < n; i++) {
		if (s[i] == '=')
			break;
		if ((v = em_b64val((unsigned char)s[i])) < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			s[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	return (o);
}

static int
em_is_latin1(const char *cs)
{
	return (cs != NULL && (strcasecmp(cs, "iso-8859-1") == 0 ||
	    strcasecmp(cs, "iso8859-1") == 0 ||
	    strcasecmp(cs, "latin1") == 0 ||
	    strcasecmp(cs, "latin-1") == 0 ||
	    strcasecmp(cs, "iso-8859-15") == 0 ||
	    strcasecmp(cs, "windows-1252") == 0 ||
	    strcasecmp(cs, "cp1252") == 0));
}

char *
em_to_utf8(const char *s, size_t n, const char *charset)
{
	struct em_buf	 b = { 0 };
	char		 u[2];
	size_t		 i;
	unsigned char	 c;

	if (!em_is_latin1(charset))
		return (ad_utf8_clean(s, n));
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == 0)
			em_puts(&b, "\xef\xbf\xbd");
		else if (c < 0x80)
			em_put(&b, (const char *)&s[i], 1);
		else {
			u[0] = (char)(0xc0 | (c >> 6));
			u[1] = (char)(0x80 | (c & 0x3f));
			em_put(&b, u, 2);
		}
	}
	return (em_done(&b));
}

/* One encoded-word at s ("=?cs?E?text?="): decoded into b; its length,
 * or 0 when s is not one. */
static size_t
em_word(const char *s, struct em_buf *b)
{
	const char	*cs, *enc, *txt, *end;
	char		 charset[64], *t, *u;
	size_t		 n, i;

	if (strncmp(s, "=?", 2) != 0)
		return (0);
	cs = s + 2;
	if ((enc = strchr(cs, '?')) == NULL || enc - cs >= (long)sizeof(charset)
	    || enc[1] == '\0' || enc[2] != '?')
		return (0);
	txt = enc + 3;
	if ((end = strstr(txt, "?=")) == NULL)
		return (0);
	if (memchr(txt, ' ', (size_t)(end - txt)) != NULL)
		return (0);
	memcpy(charset, cs, (size_t)(enc - cs));
	charset[enc - cs] = '\0';
	/* RFC 2231 language: "utf-8*en". */
	if ((t = strchr(charset, '*')) != NULL)
		*t = '\0';
	n = (size_t)(end - txt);
	if ((t = malloc(n + 1)) == NULL) {
		b->oom = 1;
		return ((size_t)(end + 2 - s));
	}
	memcpy(t, txt, n);
	if (enc[1] == 'B' || enc[1] == 'b')
		n = em_b64_decode(t, n);
	else if (enc[1] == 'Q' || enc[1] == 'q') {
		for (i = 0; i < n; i++)
			if (t[i] == '_')
				t[i] = ' ';
		n = em_qp_decode(t, n);
	} else {
		free(t);
		return (0);
	}
	if ((u = em_to_utf8(t, n, charset)) == NULL)
		b->oom = 1;
	else
		em_puts(b, u);
	free(u);
	free(t);
	return ((size_t)(end + 2 - s));
}

char *
em_decode_words(const char *s)
{
	struct em_buf	 b = { 0 };
	const char	*p = s, *q, *ws;
	size_t		 k;
	char		*plain;

	while (*p != '\0') {
		if ((k = em_word(p, &b)) > 0) {
			p += k;
			/* Blanks between two encoded-words are not text
			 * (RFC 2047 6.2). */
			ws = p;
			while (*ws == ' ' || *ws == '\t')
				ws++;
			if (ws != p && strncmp(ws, "=?", 2) == 0) {
				struct em_buf probe = { 0 };
				if (em_word(ws, &probe) > 0)
					p = ws;
				free(probe.b);
			}
			continue;
		}
		q = p + 1;
		while (*q != '\0' && strncmp(q, "=?", 2) != 0)
			q++;
		if ((plain = ad_utf8_clean(p, (size_t)(q - p))) == NULL)
			b.oom = 1;
		else
			em_puts(&b, plain);
		free(plain);
		p = q;
	}
	return (em_done(&b));
}

char *
em_header(const char *hdrs, size_t n, const char *name)
{
	struct em_buf	 b = { 0 };
	const char	*p = hdrs, *end = hdrs + n, *eol;
	size_t		 nl = strlen(name);
	int		 in = 0;

	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if (in && (*p == ' ' || *p == '\t')) {
			em_put(&b, p, (size_t)(eol - p));
		} else if (in) {
			break;
		} else if ((size_t)(eol - p) > nl && p[nl] == ':' &&
		    strncasecmp(p, name, nl) == 0) {
			in = 1;
			p += nl + 1;
			while (p < eol && (*p == ' ' || *p == '\t'))
				p++;
			em_put(&b, p, (size_t)(eol - p));
			if (b.b == NULL)
				em_put(&b, "", 0);
		}
		p = eol + 1;
		/* The CR of a CRLF is not part of the value. */
		if (in && b.len > 0 && b.b[b.len - 1] == '\r')
			b.b[--b.len] = '\0';
	}
	if (!in) {
		free(b.b);
		return (NULL);
	}
	return (em_done(&b));
}

/* The value of parameter name in a Content-Type value: new, or NULL. */
static char *
em_param(const char *v, const char *name)
{
	const char	*p = v, *q;
	size_t		 nl = strlen(name);
	char		*out;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		p += nl + 1;
		if (*p == '"') {
			q = strchr(++p, '"');
			if (q == NULL)
				q = p + strlen(p);
		} else
			q = p + strcspn(p, "; \t");
		if ((out = malloc((size_t)(q - p) + 1)) == NULL)
			return (NULL);
		memcpy(out, p, (size_t)(q - p));
		out[q - p] = '\0';
		return (out);
	}
	return (NULL);
}

/* What the walk over the MIME tree found. */
struct em_found {
	char	*ef_plain;
	char	*ef_html;
	int	 ef_oom;
};

/* The header block and body of an entity. */
static void
em_split(const char *p, size_t n, size_t *hlen, const char **body,
    size_t *blen)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n') {
			*hlen = i + 1;
			*body = p + i + 2;
			*blen = n - i - 2;
			return;
		}
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n') {
			*hlen = i + 1;
			*body = p + i + 3;
			*blen = n - i - 3;
			return;
		}
	}
	*hlen = n;
	*body = p + n;
	*blen = 0;
}

static void em_entity(const char *p, size_t n, int depth, struct em_found *f);

/* Each part of a multipart body between "--boundary" lines. */
static void
em_multipart(const char *body, size_t n, const char *boundary, int depth,
    struct em_found *f)
{
	const char	*p = body, *end = body + n, *part = NULL, *eol;
	size_t		 bl = strlen(boundary);

	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) >= bl + 2 && p[0] == '-' && p[1] == '-' &&
		    memcmp(p + 2, boundary, bl) == 0) {
			if (part != NULL) {
				/* The CRLF before the boundary is its. */
				const char *pe = p;
				if (pe > part && pe[-1] == '\n')
					pe--;
				if (pe > part && pe[-1] == '\r')
					pe--;
				em_entity(part, (size_t)(pe - part), depth + 1,
				    f);
			}
			if ((size_t)(eol - p) >= bl + 4 && p[bl + 2] == '-' &&
			    p[bl + 3] == '-')
				return;		/* the closing boundary */
			part = eol < end ? eol + 1 : end;
		}
		p = eol + 1;
	}
	/* Truncated (a partial fetch): the last part as far as it goes. */
	if (part != NULL && part < end)
		em_entity(part, (size_t)(end - part), depth + 1, f);
}

static void
em_entity(const char *p, size_t n, int depth, struct em_found *f)
{
	const char	*body;
	size_t		 hlen, blen;
	char		*ct, *cte, *cd, *cs = NULL, *bnd = NULL, *data = NULL;
	char		*text = NULL, **slot;
	int		 html;

	if (depth > EM_MIME_DEPTH)
		return;
	em_split(p, n, &hlen, &body, &blen);
	ct = em_header(p, hlen, "Content-Type");
	cte = em_header(p, hlen, "Content-Transfer-Encoding");
	cd = em_header(p, hlen, "Content-Disposition");
	if (ct != NULL && strncasecmp(ct, "multipart/", 10) == 0) {
		if ((bnd = em_param(ct, "boundary")) != NULL && bnd[0] != '\0')
			em_multipart(body, blen, bnd, depth, f);
		goto done;
	}
	/* No Content-Type is text/plain (RFC 2045 5.2). */
	html = ct != NULL && strncasecmp(ct, "text/html", 9) == 0;
	if (ct != NULL && !html && strncasecmp(ct, "text/plain", 10) != 0)
		goto done;
	if (cd != NULL && strncasecmp(cd, "attachment", 10) == 0)
		goto done;
	slot = html ? &f->ef_html : &f->ef_plain;
	if (*slot != NULL)
		goto done;	/* the first of its kind wins */
	if ((data = malloc(blen + 1)) == NULL) {
		f->ef_oom = 1;
		goto done;
	}
	memcpy(data, body, blen);
	if (cte != NULL && strncasecmp(cte, "quoted-printable", 16) == 0)
		blen = em_qp_decode(data, blen);
	else if (cte != NULL && strncasecmp(cte, "base64", 6) == 0)
		blen = em_b64_decode(data, blen);
	data[blen] = '\0';
	cs = ct != NULL ? em_param(ct, "charset") : NULL;
	if ((text = em_to_utf8(data, blen, cs)) == NULL) {
		f->ef_oom = 1;
		goto done;
	}
	if (html) {
		*slot = em_html_text(text, strlen(text));
		free(text);
		if (*slot == NULL)
			f->ef_oom = 1;
	} else
		*slot = text;
 done:
	free(ct);
	free(cte);
	free(cd);
	free(cs);
	free(bnd);
	free(data);
}

/* Removes CRs and trailing blank lines and spaces, in place. */
static void
em_tidy(char *s)
{
	char	*r, *w;
	size_t	 n;

	for (r = w = s; *r != '\0'; r++)
		if (*r != '\r')
			*w++ = *r;
	*w = '\0';
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

int
em_parse(const char *raw, size_t n, struct em_mail *m)
{
	struct em_found	 f = { NULL, NULL, 0 };
	const char	*body;
	size_t		 hlen, blen;
	char		*from = NULL, *subj = NULL, *subj2;
	int		 rv = -1;

	memset(m, 0, sizeof(*m));
	em_split(raw, n, &hlen, &body, &blen);
	if ((from = em_header(raw, hlen, "From")) != NULL)
		(void)em_addr_parse(from, &m->em_from_addr, &m->em_from_name);
	if ((subj = em_header(raw, hlen, "Subject")) != NULL &&
	    (m->em_subject = em_decode_words(subj)) == NULL)
		goto done;
	if ((subj2 = em_header(raw, hlen, "Auto-Submitted")) != NULL)
		m->em_auto = strncasecmp(subj2, "no", 2) != 0;
	free(subj2);
	m->em_message_id = em_header(raw, hlen, "Message-ID");
	m->em_in_reply_to = em_header(raw, hlen, "In-Reply-To");
	m->em_references = em_header(raw, hlen, "References");
	em_entity(raw, n, 0, &f);
	if (f.ef_oom)
		goto done;
	if (f.ef_plain != NULL) {
		m->em_text = f.ef_plain;
		f.ef_plain = NULL;
	} else if (f.ef_html != NULL) {
		m->em_text = f.ef_html;
		f.ef_html = NULL;
	} else if ((m->em_text = strdup("")) == NULL)
		goto done;
	em_tidy(m->em_text);
	rv = 0;
 done:
	free(f.ef_plain);
	free(f.ef_html);
	free(from);
	free(subj);
	if (rv != 0)
		em_mail_free(m);
	return (rv);
}

void
em_mail_free(struct em_mail *m)
{
	free(m->em_from_addr);
	free(m->em_from_name);
	free(m->em_subject);
	free(m->em_message_id);
	free(m->em_in_reply_to);
	free(m->em_references);
	free(m->em_text);
	memset(m, 0, sizeof(*m));
}

/* s[0..n) trimmed of blanks and quotes: new. */
static char *
em_trimdup(const char *s, size_t n)
{
	char	*out;

	while (n > 0 && (isspace((unsigned char)*s) || *s == '"')) {
		s++;
		n--;
	}
	while (n > 0 && (isspace((unsigned char)s[n - 1]) || s[n - 1] == '"'))
		n--;
	if ((out = malloc(n + 1)) == NULL)
		return (NULL);
	memcpy(out, s, n);
	out[n] = '\0';
	return (out);
}

int
em_addr_parse(const char *v, char **addr, char **name)
{
	const char	*lt, *gt, *at, *a, *e, *po, *pc;
	char		*raw = NULL;

	*addr = *name = NULL;
	if ((lt = strchr(v, '<')) != NULL &&
	    (gt = strchr(lt, '>')) != NULL) {
		*addr = em_trimdup(lt + 1, (size_t)(gt - lt - 1));
		raw = em_trimdup(v, (size_t)(lt - v));
	} else if ((at = strchr(v, '@')) != NULL) {
		for (a = at; a > v && !isspace((unsigned char)a[-1]) &&
		    a[-1] != ',' && a[-1] != ';'; a--)
			;
		e = at + strcspn(at, " \t,;()");
		*addr = em_trimdup(a, (size_t)(e - a));
		if ((po = strchr(e, '(')) != NULL &&
		    (pc = strchr(po, ')')) != NULL)
			raw = em_trimdup(po + 1, (size_t)(pc - po - 1));
	}
	if (*addr == NULL || strchr(*addr, '@') == NULL) {
		free(*addr);
		free(raw);
		*addr = NULL;
		return (-1);
	}
	if (raw != NULL && raw[0] != '\0')
		*name = em_decode_words(raw);
	free(raw);
	return (0);
}

char *
em_thread_root(const char *references, const char *in_reply_to,
    const char *msgid)
{
	const char	*s, *e;
	char		*out;

	s = references != NULL && strchr(references, '<') != NULL ?
	    references : in_reply_to != NULL &&
	    strchr(in_reply_to, '<') != NULL ? in_reply_to : msgid;
	if (s == NULL)
		return (NULL);
	if ((s = strchr(s, '<')) == NULL || (e = strchr(s, '>')) == NULL)
		return (NULL);
	if ((out = malloc((size_t)(e - s) + 2)) == NULL)
		return (NULL);
	memcpy(out, s, (size_t)(e - s) + 1);
	out[e - s + 1] = '\0';
	return (out);
}

int
em_addr_ok(const char *s)
{
	const char	*at = strchr(s, '@');
	const char	*p;

	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@'))
		return (0);
	if (strlen(s) > 254)
		return (0);
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' ||
		    *p == '(' || *p == ')' || *p == ',' || *p == ';' ||
		    *p == '"' || *p == '\\' || (unsigned char)*p == 0x7f)
			return (0);
	return (1);
}

/* ---- outbound -------------------------------------------------------- */

/* 1 if the tag ("br", "/p") breaks the line. */
static int
em_html_block(const char *tag)
{
	static const char *const tags[] = { "br", "p", "/p", "/div", "/li",
	    "/tr", "/h1", "/h2", "/h3", "/h4", "/blockquote", NULL };
	size_t	i;

	for (i = 0; tags[i] != NULL; i++)
		if (strcmp(tag, tags[i]) == 0)
			return (1);
	return (0);
}

/* Code point cp (< 0x110000) as UTF-8 into u (4 bytes); its length. */
static size_t
em_utf8_enc(unsigned long cp, char *u)
{
	if (cp < 0x80) {
		u[0] = (char)cp;
		return (1);
	}
	if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		return (2);
	}
	if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		return (3);
	}
	u[0] = (char)(0xf0 | (cp >> 18));
	u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	u[3] = (char)(0x80 | (cp & 0x3f));
	return (4);
}

char *
em_html_text(const char *s, size_t n)
{
	static const struct { const char *e; const char *t; } ents[] = {
		{ "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" },
		{ "&quot;", "\"" }, { "&#39;", "'" }, { "&apos;", "'" },
		{ "&nbsp;", " " },
	};
	struct em_buf	 b = { 0 };
	const char	*p = s, *end = s + n, *gt;
	char		 tag[16], u[8];
	size_t		 i, k;
	unsigned long	 cp;
	int		 space = 0;

	while (p < end) {
		if (*p == '<') {
			if ((gt = memchr(p, '>', (size_t)(end - p))) == NULL)
				break;
			for (k = 0, i = 1; p + i < gt && k < sizeof(tag) - 1 &&
			    (isalnum((unsigned char)p[i]) || p[i] == '/');
			    i++)
				tag[k++] = (char)tolower((unsigned char)p[i]);
			tag[k] = '\0';
			p = gt + 1;
			/* Their content is not text. */
			if (strcmp(tag, "script") == 0 ||
			    strcmp(tag, "style") == 0 ||
			    strcmp(tag, "head") == 0) {
				char close[24];
				const char *c;
				snprintf(close, sizeof(close), "</%s", tag);
				for (c = p; c < end; c++)
					if (*c == '<' && (size_t)(end - c) >
					    strlen(close) && strncasecmp(c,
					    close, strlen(close)) == 0)
						break;
				p = c;
				continue;
			}
			if (em_html_block(tag)) {
				if (b.len > 0 && b.b[b.len - 1] != '\n') {
					while (b.len > 0 && b.b[b.len - 1] ==
					    ' ')
						b.len--;
					em_puts(&b, "\n");
				}
				space = 0;
			}
			continue;
		}
		if (*p == '&') {
			for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
				k = strlen(ents[i].e);
				if ((size_t)(end - p) >= k &&
				    strncasecmp(p, ents[i].e, k) == 0)
					break;
			}
			if (i < sizeof(ents) / sizeof(ents[0])) {
				em_puts(&b, ents[i].t);
				p += k;
				space = 0;
				continue;
			}
			if (p + 2 < end && p[1] == '#') {
				char *ep;
				cp = p[2] == 'x' || p[2] == 'X' ?
				    strtoul(p + 3, &ep, 16) :
				    strtoul(p + 2, &ep, 10);
				if (ep < end && *ep == ';' && cp > 0 &&
				    cp < 0x110000) {
					k = em_utf8_enc(cp, u);
					em_put(&b, u, k);
					p = ep + 1;
					space = 0;
					continue;
				}
			}
		}
		/* Whitespace in HTML is one space. */
		if (isspace((unsigned char)*p)) {
			if (!space && b.len > 0 && b.b[b.len - 1] != '\n')
				em_puts(&b, " ");
			space = 1;
			p++;
			continue;
		}
		space = 0;
		em_put(&b, p, 1);
		p++;
	}
	return (em_done(&b));
}

char *
em_reply_subject(const char *subject)
{
	struct em_buf	b = { 0 };

	if (subject == NULL || subject[0] == '\0')
		subject = "(no subject)";
	while (strncasecmp(subject, "re:", 3) == 0) {
		subject += 3;
		while (*subject == ' ')
			subject++;
	}
	em_puts(&b, "Re: ");
	em_puts(&b, subject);
	return (em_done(&b));
}

/* A header value that is not ASCII as base64 encoded-words, each at most
 * 75 characters and never splitting a UTF-8 sequence. */
static void
em_put_words(struct em_buf *b, const char *s)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;
	size_t		 n = strlen(s), k, i;
	uint32_t	 v;
	char		 q[4];
	int		 first = 1;

	for (i = 0; i < n; i++)
		if (p[i] >= 0x80 || p[i] < 0x20)
			break;
	if (i == n) {
		em_puts(b, s);
		return;
	}
	while (n > 0) {
		/* 45 bytes are 60 characters of base64. */
		k = n < 45 ? n : 45;
		while (k < n && k > 0 && (p[k] & 0xc0) == 0x80)
			k--;
		em_puts(b, first ? "=?UTF-8?B?" : "\r\n =?UTF-8?B?");
		first = 0;
		for (i = 0; i < k; i += 3) {
			v = (uint32_t)p[i] << 16;
			if (i + 1 < k)
				v |= (uint32_t)p[i + 1] << 8;
			if (i + 2 < k)
				v |= p[i + 2];
			q[0] = b64[(v >> 18) & 63];
			q[1] = b64[(v >> 12) & 63];
			q[2] = i + 1 < k ? b64[(v >> 6) & 63] : '=';
			q[3] = i + 2 < k ? b64[v & 63] : '=';
			em_put(b, q, 4);
		}
		em_puts(b, "?=");
		p += k;
		n -= k;
	}
}

/* The text as quoted-printable lines of at most 76 characters. */
static void
em_put_qp(struct em_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char		 e[4];
	size_t		 col = 0, w;
	int		 lit;

	for (; *p != '\0'; p++) {
		if (*p == '\r')
			continue;
		if (*p == '\n') {
			em_puts(b, "\r\n");
			col = 0;
			continue;
		}
		/* Blanks before a line's end, and a "." or "F" starting a
		 * line (SMTP's end, "From " mangling), are escaped. */
		lit = (*p >= 33 && *p <= 126 && *p != '=') ||
		    ((*p == ' ' || *p == '\t') && p[1] != '\n' &&
		    p[1] != '\r' && p[1] != '\0');
		if (col == 0 && (*p == '.' || *p == 'F'))
			lit = 0;
		w = lit ? 1 : 3;
		if (col + w > 75) {
			em_puts(b, "=\r\n");
			col = 0;
		}
		if (lit)
			em_put(b, (const char *)p, 1);
		else {
			snprintf(e, sizeof(e), "=%02X", *p);
			em_put(b, e, 3);
		}
		col += w;
	}
	em_puts(b, "\r\n");
}

/* 1 if s..e ("<...>") has only printable ASCII without blanks: an id
 * that cannot break the header it goes into. */
static int
em_id_ok(const char *s, const char *e)
{
	for (s++; s < e; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
		    *s == '<')
			return (0);
	return (1);
}

/* References, one id per folded line past the first; ids that are not
 * well-formed (a bare CR in them, from a hostile mail) are left out. */
static void
em_put_refs(struct em_buf *b, const char *refs)
{
	const char	*p = refs, *s, *e;
	int		 first = 1;

	while ((s = strchr(p, '<')) != NULL && (e = strchr(s, '>')) != NULL) {
		p = e + 1;
		if (!em_id_ok(s, e))
			continue;
		if (!first)
			em_puts(b, "\r\n ");
		em_put(b, s, (size_t)(e - s) + 1);
		first = 0;
	}
}

char *
em_build(const struct em_out *o)
{
	struct em_buf	b = { 0 };

	em_puts(&b, "From: ");
	em_puts(&b, o->eo_from);
	em_puts(&b, "\r\nTo: ");
	em_puts(&b, o->eo_to);
	em_puts(&b, "\r\nSubject: ");
	em_put_words(&b, o->eo_subject);
	em_puts(&b, "\r\nDate: ");
	em_puts(&b, o->eo_date);
	em_puts(&b, "\r\nMessage-ID: ");
	em_puts(&b, o->eo_message_id);
	if (o->eo_in_reply_to != NULL) {
		em_puts(&b, "\r\nIn-Reply-To: ");
		em_put_refs(&b, o->eo_in_reply_to);
	}
	if (o->eo_references != NULL) {
		em_puts(&b, "\r\nReferences: ");
		em_put_refs(&b, o->eo_references);
	}
	em_puts(&b, "\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	em_put_qp(&b, o->eo_text);
	return (em_done(&b));
}

char *
em_dot_stuff(const char *msg)
{
	struct em_buf	 b = { 0 };
	const char	*p = msg, *eol;
	size_t		 n;

	while (*p != '\0') {
		eol = strchr(p, '\n');
		n = eol != NULL ? (size_t)(eol - p) + 1 : strlen(p);
		if (*p == '.')
			em_puts(&b, ".");
		em_put(&b, p, n);
		p += n;
	}
	if (b.len > 0 && b.b[b.len - 1] != '\n')
		em_puts(&b, "\r\n");
	em_puts(&b, ".\r\n");
	return (em_done(&b));
}

/* ---- IMAP ------------------------------------------------------------- */

long long
em_imap_literal(const char *line, size_t n)
{
	size_t		i;
	long long	v = 0;

	if (n < 3 || line[n - 1] != '}')
		return (-1);
	for (i = n - 1; i > 0 && isdigit((unsigned char)line[i - 1]); i--)
		;
	if (i == 0 || i == n - 1 || line[i - 1] != '{' || n - 1 - i > 12)
		return (-1);
	for (; i < n - 1; i++)
		v = v * 10 + (line[i] - '0');
	return (v);
}

unsigned long long
em_imap_num_after(const char *line, const char *key)
{
	const char	*p = line;
	size_t		 k = strlen(key);

	while ((p = strstr(p, key)) != NULL) {
		if ((p == line || p[-1] == ' ' || p[-1] == '(') &&
		    p[k] == ' ' && isdigit((unsigned char)p[k + 1]))
			return (strtoull(p + k + 1, NULL, 10));
		p += k;
	}
	return (0);
}

int
em_imap_quote(const char *s, char *out, size_t outlen)
{
	size_t	o = 0;

	if (outlen < 3)
		return (-1);
	out[o++] = '"';
	for (; *s != '\0'; s++) {
		if (*s == '\r' || *s == '\n')
			return (-1);
		if (o + 4 > outlen)
			return (-1);
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o++] = '"';
	out[o] = '\0';
	return (0);
}
