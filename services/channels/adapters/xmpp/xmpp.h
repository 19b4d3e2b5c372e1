/*
 * xmpp.h - the XMPP adapter's text helpers: a text split at a limit of
 * characters, mentions of a room nick found, text made fit for XML 1.0,
 * JIDs checked.  No state, no libstrophe; the adapter itself is xmpp.c.
 */
#ifndef XMPP_H
#define XMPP_H

#include <stddef.h>

#define XMPP_JID_MAX	3071	/* RFC 7622: 3 x 1023 bytes, and '@', '/' */

/*
 * The length in bytes of the next piece of text (n bytes of UTF-8) that
 * holds at most max_chars characters (code points): never inside a UTF-8
 * sequence, at least one character when n > 0.  When the text goes on
 * past the piece and a line break or a space lies in the piece's second
 * half, the piece ends before the last such one and *skip is 1 (that
 * byte is the break, not sent); else *skip is 0.  Pieces taken in turn,
 * each followed by *skip bytes left out, cover the text exactly.
 */
size_t	 xmpp_split(const char *text, size_t n, size_t max_chars,
	    size_t *skip);

/*
 * Whether text addresses nick: "nick: ...", "nick, ..." or nick as a
 * word anywhere (ASCII case-insensitively; a word ends at a byte that
 * is not a letter, digit, '_', '-' or part of a UTF-8 sequence).
 * Returns 0 if not, else 1 and *rest is the text after a leading
 * "nick: " address (or text itself when nick is elsewhere).
 */
int	 xmpp_mentions(const char *text, const char *nick, const char **rest);

/*
 * s (UTF-8) without what XML 1.0 cannot carry (C0 controls other than
 * tab, LF and CR; U+FFFE, U+FFFF; bytes that are not UTF-8): a server
 * ends the stream on them.  New (free()), or NULL out of memory.
 */
char	*xmpp_xml_clean(const char *s);

/*
 * 1 if s can be a JID to send to ("[local@]domain[/resource]", at most
 * XMPP_JID_MAX bytes, a domain, no control characters; no space or any
 * of "&'<>\"" before the resource, which may hold spaces: a room
 * nick), else 0.
 */
int	 xmpp_valid_jid(const char *s);

/* The bare JID of jid ("local@domain" or "domain") into out, lower-cased
 * (the local part and domain compare case-insensitively).  0, or -1 when
 * it does not fit. */
int	 xmpp_bare(const char *jid, char *out, size_t outlen);

#endif /* XMPP_H */
