/*
 * xmpp_msg.c - texts split at a limit of characters, mentions found,
 * text made fit for XML, JIDs checked.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmpp.h"

/* The length of the UTF-8 sequence that starts with byte c (1 for a
 * byte that cannot start one: taken alone). */
static size_t
xmpp_seqlen(unsigned char c)
{
	if (c >= 0xf0 && c <= 0xf4)
		return (4);
	if (c >= 0xe0)
		return (c <= 0xef ? 3 : 1);
	if (c >= 0xc2)
		return (2);
	return (1);
}

size_t
xmpp_split(const char *text, size_t n, size_t max_chars, size_t *skip)
{
	const unsigned char	*s = (const unsigned char *)text;
	size_t			 off = 0, chars = 0, k, half, i;

	*skip = 0;
	if (max_chars == 0)
		max_chars = 1;
	while (off < n && chars < max_chars) {
		k = xmpp_seqlen(s[off]);
		if (off + k > n)
			k = n - off;
		off += k;
		chars++;
	}
	if (off >= n)
		return (n);
	/* The text goes on: break at the last line break, else the last
	 * space, in the piece's second half, so that words stay whole. */
	half = off / 2;
	for (i = off; i > half; i--)
		if (s[i] == '\n') {
			*skip = 1;
			return (i);
		}
	for (i = off; i > half; i--)
		if (s[i] == ' ') {
			*skip = 1;
			return (i);
		}
	return (off);
}

static int
xmpp_wordch(unsigned char c)
{
	return (isalnum(c) || c == '_' || c == '-' || c >= 0x80);
}

int
xmpp_mentions(const char *text, const char *nick, const char **rest)
{
	size_t		 n = strlen(nick);
	const char	*p, *r;

	*rest = text;
	if (n == 0)
		return (0);
	/* "nick: text" or "nick, text": the address is not the message. */
	if (strncasecmp(text, nick, n) == 0 &&
	    (text[n] == ':' || text[n] == ',')) {
		for (r = text + n + 1; *r == ' ' || *r == '\t'; r++)
			;
		*rest = r;
		return (1);
	}
	for (p = text; (p = strcasestr(p, nick)) != NULL; p++)
		if ((p == text || !xmpp_wordch((unsigned char)p[-1])) &&
		    !xmpp_wordch((unsigned char)p[n]))
			return (1);
	return (0);
}

char *
xmpp_xml_clean(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			*out, *o;
	size_t			 n = strlen(s), k, i;

	if ((out = malloc(n + 1)) == NULL)
		return (NULL);
	for (o = out; *p != '\0'; p += k) {
		k = xmpp_seqlen(*p);
		for (i = 1; i < k; i++)
			if ((p[i] & 0xc0) != 0x80)
				break;
		if (i < k || (*p >= 0x80 && k == 1)) {
			/* Not UTF-8: left out. */
			k = 1;
			continue;
		}
		if (k == 1 && *p < 0x20 && *p != '\t' && *p != '\n' &&
		    *p != '\r')
			continue;
		/* U+FFFE and U+FFFF: EF BF BE, EF BF BF. */
		if (k == 3 && p[0] == 0xef && p[1] == 0xbf &&
		    (p[2] == 0xbe || p[2] == 0xbf))
			continue;
		/* Surrogates (ED A0..BF ..) are not characters. */
		if (k == 3 && p[0] == 0xed && p[1] >= 0xa0)
			continue;
		memcpy(o, p, k);
		o += k;
	}
	*o = '\0';
	return (out);
}

int
xmpp_valid_jid(const char *s)
{
	size_t		 n = strlen(s), i, bare;
	const char	*at, *slash;

	if (n == 0 || n > XMPP_JID_MAX)
		return (0);
	slash = strchr(s, '/');
	bare = slash != NULL ? (size_t)(slash - s) : n;
	/* A resource may hold spaces (a room nick), never a control. */
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    (i < bare && s[i] == ' '))
			return (0);
		if (i < bare && strchr("&'<>\"", s[i]) != NULL)
			return (0);
	}
	at = memchr(s, '@', bare);
	/* A domain, and a local part when there is an '@'. */
	if (at == s || (at != NULL && (size_t)(at - s) + 1 == bare) ||
	    bare == 0 || (slash != NULL && slash[1] == '\0'))
		return (0);
	if (at != NULL && memchr(at + 1, '@', bare - (size_t)(at - s) - 1))
		return (0);
	return (1);
}

int
xmpp_bare(const char *jid, char *out, size_t outlen)
{
	size_t	n = strcspn(jid, "/"), i;

	if (n + 1 > outlen)
		return (-1);
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)jid[i]);
	out[n] = '\0';
	return (0);
}
