/*
 * t_email.c - the email adapter's message helpers (services/channels/
 * adapters/email/email_mime.c): mail read (addresses, encoded-words,
 * multiparts, quoted-printable and base64, Latin-1, HTML), replies built
 * (subject, threading headers, quoted-printable, dot-stuffing), the IMAP
 * response bits; and the library's raw reads that IMAP literals use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "email.h"
#include "tap.h"

static int
t_simple(void)
{
	static const char raw[] =
	    "Received: from x\r\n"
	    "From: \"Alice Example\" <alice@example.org>\r\n"
	    "To: bot@example.com\r\n"
	    "Subject: =?UTF-8?B?SMOpbGxv?= =?ISO-8859-1?Q?_w=F6rld?=\r\n"
	    "Message-ID: <m2@example.org>\r\n"
	    "In-Reply-To: <m1@example.com>\r\n"
	    "References: <m0@example.org>\r\n"
	    " <m1@example.com>\r\n"
	    "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "caf=E9 au lait, a long line that goes =\r\n"
	    "on\r\n"
	    "\r\n";
	struct em_mail	m;
	char		*root;

	T_OK(em_parse(raw, strlen(raw), &m) == 0);
	T_EQ_STR(m.em_from_addr, "alice@example.org");
	T_EQ_STR(m.em_from_name, "Alice Example");
	/* Blanks between two encoded-words are not text; "_" is a space. */
	T_EQ_STR(m.em_subject, "H\xc3\xa9llo w\xc3\xb6rld");
	T_EQ_STR(m.em_message_id, "<m2@example.org>");
	T_EQ_STR(m.em_references, "<m0@example.org> <m1@example.com>");
	T_EQ_STR(m.em_text, "caf\xc3\xa9 au lait, a long line that goes on");
	T_EQ_INT(m.em_auto, 0);
	root = em_thread_root(m.em_references, m.em_in_reply_to,
	    m.em_message_id);
	T_EQ_STR(root, "<m0@example.org>");
	free(root);
	em_mail_free(&m);
	root = em_thread_root(NULL, NULL, "<only@x>");
	T_EQ_STR(root, "<only@x>");
	free(root);
	return (0);
}

static int
t_multipart(void)
{
	/* mixed( alternative(html, plain base64), attachment ): the plain
	 * part wins though the HTML one comes first. */
	static const char raw[] =
	    "From: bob@example.net\n"
	    "Subject: plain subject\n"
	    "Content-Type: multipart/mixed; boundary=\"outer\"\n"
	    "\n"
	    "preamble\n"
	    "--outer\n"
	    "Content-Type: multipart/alternative; boundary=inner\n"
	    "\n"
	    "--inner\n"
	    "Content-Type: text/html; charset=utf-8\n"
	    "\n"
	    "<p>html</p>\n"
	    "--inner\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: base64\n"
	    "\n"
	    "aGVsbG8gZnJvbSDDqW1pbGU=\n"
	    "--inner--\n"
	    "--outer\n"
	    "Content-Type: text/plain\n"
	    "Content-Disposition: attachment; filename=x.txt\n"
	    "\n"
	    "not this\n"
	    "--outer--\n";
	static const char html[] =
	    "From: Carol <carol@example.net>\n"
	    "Auto-Submitted: auto-replied\n"
	    "Content-Type: multipart/alternative; boundary=b\n"
	    "\n"
	    "--b\n"
	    "Content-Type: text/html\n"
	    "\n"
	    "<html><head><style>p {}</style></head><body><p>Hi &amp; "
	    "bye</p>\n<div>two&nbsp;&#233;</div><script>x()</script></body>"
	    "</html>\n"
	    "--b--\n";
	struct em_mail	m;

	T_OK(em_parse(raw, strlen(raw), &m) == 0);
	T_EQ_STR(m.em_from_addr, "bob@example.net");
	T_OK(m.em_from_name == NULL);
	T_EQ_STR(m.em_text, "hello from \xc3\xa9mile");
	em_mail_free(&m);
	T_OK(em_parse(html, strlen(html), &m) == 0);
	T_EQ_STR(m.em_text, "Hi & bye\ntwo \xc3\xa9");
	T_EQ_INT(m.em_auto, 1);		/* not answered: no mail loops */
	em_mail_free(&m);
	/* Truncated in the middle of a part (a bounded fetch). */
	T_OK(em_parse(raw, 260, &m) == 0);
	T_OK(m.em_text != NULL);
	em_mail_free(&m);
	return (0);
}

static int
t_addr(void)
{
	char	*a, *n;

	T_OK(em_addr_parse("x@y.z (Xavier)", &a, &n) == 0);
	T_EQ_STR(a, "x@y.z");
	T_EQ_STR(n, "Xavier");
	free(a);
	free(n);
	T_OK(em_addr_parse("=?utf-8?q?Jos=C3=A9?= <jose@h.es>", &a, &n) == 0);
	T_EQ_STR(a, "jose@h.es");
	T_EQ_STR(n, "Jos\xc3\xa9");
	free(a);
	free(n);
	T_OK(em_addr_parse("undisclosed-recipients:;", &a, &n) != 0);
	T_EQ_INT(em_addr_ok("a@b.c"), 1);
	T_EQ_INT(em_addr_ok("a b@c") || em_addr_ok("a@b>\r\nRCPT") ||
	    em_addr_ok("@b") || em_addr_ok("a@") || em_addr_ok("a@b@c") ||
	    em_addr_ok("<a@b>"), 0);
	return (0);
}

static int
t_build(void)
{
	struct em_out	 o;
	char		*msg, *st, *subj, long_text[300];

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	subj = em_reply_subject("RE: Re: caf\xc3\xa9");
	T_EQ_STR(subj, "Re: caf\xc3\xa9");
	memset(&o, 0, sizeof(o));
	o.eo_from = "bot@example.com";
	o.eo_to = "alice@example.org";
	o.eo_subject = subj;
	o.eo_in_reply_to = "<m2@example.org>";
	o.eo_references = "<m0@example.org> <m2@example.org>";
	o.eo_message_id = "<id@example.com>";
	o.eo_date = "Sun, 06 Dec 2026 20:00:00 +0000";
	o.eo_text = "\xc3\xa9t\xc3\xa9 = summer \n.hidden dot\nFrom here";
	T_OK((msg = em_build(&o)) != NULL);
	T_OK(strstr(msg, "Subject: =?UTF-8?B?UmU6IGNhZsOp?=\r\n") != NULL);
	T_OK(strstr(msg, "In-Reply-To: <m2@example.org>\r\n") != NULL);
	T_OK(strstr(msg, "References: <m0@example.org>\r\n <m2@example.org>"
	    "\r\n") != NULL);
	T_OK(strstr(msg, "\r\n\r\n=C3=A9t=C3=A9 =3D summer=20\r\n=2Ehidden "
	    "dot\r\n=46rom here\r\n") != NULL);
	/* An id with a bare CR (a hostile mail's) is left out. */
	o.eo_references = "<ok@x> <bad\rRCPT@x> <ok2@x>";
	free(msg);
	T_OK((msg = em_build(&o)) != NULL);
	T_OK(strstr(msg, "References: <ok@x>\r\n <ok2@x>\r\n") != NULL);
	/* A subject with a line break in it is encoded, never raw. */
	o.eo_subject = "hi\r\nBcc: x@y";
	free(msg);
	T_OK((msg = em_build(&o)) != NULL);
	T_OK(strstr(msg, "Bcc:") == NULL);
	st = em_dot_stuff("a\r\n.b\r\n");
	T_EQ_STR(st, "a\r\n..b\r\n.\r\n");
	free(st);
	free(msg);
	/* Long lines get soft breaks within 76 characters. */
	o.eo_text = long_text;
	T_OK((msg = em_build(&o)) != NULL);
	T_OK(strstr(msg, "=\r\n") != NULL);
	{
		const char *p = strstr(msg, "\r\n\r\n") + 4, *e;
		for (; (e = strstr(p, "\r\n")) != NULL; p = e + 2)
			T_OK(e - p <= 76);
	}
	free(msg);
	free(subj);
	return (0);
}

static int
t_imap(void)
{
	char	q[32];

	T_EQ_INT((int)em_imap_literal("* 3 FETCH (UID 9 BODY[]<0> {345}", 32),
	    345);
	T_EQ_INT((int)em_imap_literal("* OK done", 9), -1);
	T_EQ_INT((int)em_imap_literal("{}", 2), -1);
	T_EQ_INT((int)em_imap_num_after("* 3 FETCH (UID 9 BODY[]", "UID"), 9);
	T_EQ_INT((int)em_imap_num_after("* 3 FETCH (XUID 9)", "UID"), 0);
	T_OK(em_imap_quote("a\"b\\c", q, sizeof(q)) == 0);
	T_EQ_STR(q, "\"a\\\"b\\\\c\"");
	T_OK(em_imap_quote("a\r\nb", q, sizeof(q)) != 0);
	return (0);
}

struct raw_seen {
	char	buf[256];
	size_t	n;
	int	lines;
	size_t	left;
};

static void
raw_fn(void *arg, const char *line, size_t len)
{
	struct raw_seen	*s = arg;

	if (s->left > 0) {
		memcpy(s->buf + s->n, line, len);
		s->n += len;
		s->left -= len;
		return;
	}
	s->lines++;
	if (len > 0 && line[len - 1] == '}') {
		s->left = 7;
		/* The library's lines reader is reached through the
		 * global the test keeps. */
	}
}

static struct ad_lines	*raw_lr;

static void
raw_fn2(void *arg, const char *line, size_t len)
{
	struct raw_seen	*s = arg;
	int		 was = s->left > 0;

	raw_fn(arg, line, len);
	if (!was && s->left > 0)
		ad_lines_raw(raw_lr, s->left);
}

static int
t_raw(void)
{
	struct ad_lines	lr;
	struct raw_seen	s;
	const char	in[] = "* 1 FETCH {7}\r\nab\r\ncd)\r\nA1 OK\r\n";

	memset(&s, 0, sizeof(s));
	ad_lines_init(&lr, 1024);
	raw_lr = &lr;
	/* Fed in two pieces, split inside the literal. */
	T_OK(ad_lines_feed(&lr, in, 17, raw_fn2, &s) == 0);
	T_OK(ad_lines_feed(&lr, in + 17, strlen(in) - 17, raw_fn2, &s) == 0);
	T_EQ_INT((int)s.n, 7);
	T_OK(memcmp(s.buf, "ab\r\ncd)", 7) == 0);
	/* Lines again after it: the FETCH, "\r\n" after the literal (an
	 * empty line) and the tagged OK. */
	T_EQ_INT(s.lines, 3);
	ad_lines_release(&lr);
	return (0);
}

static const struct tap_case cases[] = {
	{ "a mail read: addresses, encoded-words, Latin-1 QP, threads",
	    t_simple },
	{ "multiparts: text/plain preferred, base64, attachments skipped, "
	    "HTML stripped, truncation", t_multipart },
	{ "addresses parsed and checked for SMTP", t_addr },
	{ "a reply built: subject, threading, QP, dot-stuffing", t_build },
	{ "IMAP literals, numbers, quoted strings", t_imap },
	{ "raw reads in the lines reader (IMAP literals)", t_raw },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
