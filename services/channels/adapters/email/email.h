/*
 * email.h - the email adapter's message helpers: an inbound RFC 5322 /
 * MIME message read into what a `message` event needs (addresses,
 * encoded-word headers, the text part of a multipart, quoted-printable
 * and base64 bodies, UTF-8 and Latin-1), an outbound reply built, and the
 * IMAP response bits the client looks at.  No state, no I/O; the adapter
 * itself is email.c.
 */
#ifndef EMAIL_H
#define EMAIL_H

#include <stddef.h>

#define EM_MIME_DEPTH	8	/* nested multiparts followed */

/* An inbound message.  Every member is new (em_mail_free()), or NULL
 * when the message lacks it; em_text is never NULL after em_parse(). */
struct em_mail {
	char	*em_from_addr;	/* "user@host" */
	char	*em_from_name;	/* the display name, decoded */
	char	*em_subject;	/* decoded */
	char	*em_message_id;	/* "<...>" */
	char	*em_in_reply_to;
	char	*em_references;	/* unfolded */
	char	*em_text;	/* the body as UTF-8 text */
	int	 em_auto;	/* Auto-Submitted, not "no" (RFC 3834) */
};

/* Reads n bytes of a message.  0, or -1 out of memory (m then empty). */
int	 em_parse(const char *raw, size_t n, struct em_mail *m);
void	 em_mail_free(struct em_mail *m);

/* The unfolded value of header name in the header block hdrs (n bytes),
 * its leading blanks removed: new, or NULL when absent. */
char	*em_header(const char *hdrs, size_t n, const char *name);
/* A header value with its RFC 2047 encoded-words decoded, as UTF-8:
 * new, or NULL out of memory. */
char	*em_decode_words(const char *s);
/* n bytes in charset (NULL: UTF-8) as UTF-8: new, or NULL out of
 * memory.  Latin-1 (and its aliases, windows-1252) converted, anything
 * else cleaned as UTF-8 with stray bytes read as Latin-1. */
char	*em_to_utf8(const char *s, size_t n, const char *charset);
/* Quoted-printable and base64 decoded in place; the new length. */
size_t	 em_qp_decode(char *s, size_t n);
size_t	 em_b64_decode(char *s, size_t n);
/* HTML as plain text: tags out, script and style dropped, blocks as
 * line breaks, entities decoded.  New, or NULL out of memory. */
char	*em_html_text(const char *s, size_t n);
/* The address of an address header ("Name <a@b>", "a@b (Name)", "a@b"):
 * *addr (new) and *name (new, decoded; NULL when none).  0, or -1 when
 * there is no address. */
int	 em_addr_parse(const char *v, char **addr, char **name);
/* The thread's root: the first id of references, else in_reply_to,
 * else msgid.  New, or NULL when none is known. */
char	*em_thread_root(const char *references, const char *in_reply_to,
	    const char *msgid);
/* 1 if s is a plausible bare address (one "@", no blank, no <>, no
 * control character), else 0: what an SMTP RCPT takes safely. */
int	 em_addr_ok(const char *s);

/* An outbound message's parts (borrowed). */
struct em_out {
	const char	*eo_from;
	const char	*eo_to;
	const char	*eo_subject;	/* UTF-8 */
	const char	*eo_in_reply_to;	/* or NULL */
	const char	*eo_references;		/* or NULL */
	const char	*eo_message_id;
	const char	*eo_date;
	const char	*eo_text;	/* UTF-8 */
};
/* The message as sent (CRLF lines, no dot-stuffing): new, or NULL out of
 * memory.  The body is quoted-printable UTF-8; a subject that is not
 * ASCII becomes encoded-words. */
char	*em_build(const struct em_out *o);
/* "Re: subject" without piling up "Re: " prefixes: new. */
char	*em_reply_subject(const char *subject);
/* Data for SMTP DATA: lines starting with "." doubled, and the ending
 * "\r\n.\r\n" appended.  New, or NULL out of memory. */
char	*em_dot_stuff(const char *msg);

/* IMAP: the byte count of a literal the line ends with ("{123}"), or -1
 * when it ends with none. */
long long em_imap_literal(const char *line, size_t n);
/* IMAP: the number after the word key (" UID 12") in line, or 0. */
unsigned long long em_imap_num_after(const char *line, const char *key);
/* IMAP: s as a quoted string into out (outlen bytes).  0, or -1 when it
 * does not fit or has CR, LF or NUL. */
int	 em_imap_quote(const char *s, char *out, size_t outlen);

#endif /* EMAIL_H */
