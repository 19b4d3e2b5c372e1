/*
 * t_xmpp.c - the XMPP adapter's text helpers (services/channels/
 * adapters/xmpp/xmpp_msg.c): texts split at a limit of characters,
 * mentions of a room nick found, text made fit for XML, JIDs checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"
#include "xmpp.h"

/* The characters in n bytes of well-formed UTF-8. */
static size_t
chars(const char *s, size_t n)
{
	size_t	c = 0, i;

	for (i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return (c);
}

/* Splits text into pieces of at most max characters and checks each. */
static int
split_all(const char *text, size_t max, int *pieces)
{
	size_t	n = strlen(text), k, skip, off = 0;

	*pieces = 0;
	while (off < n) {
		k = xmpp_split(text + off, n - off, max, &skip);
		if (k == 0 || chars(text + off, k) > max ||
		    !util_utf8_valid((const unsigned char *)text + off, k)) {
			printf("# bad piece at %zu: %zu bytes (max %zu)\n",
			    off, k, max);
			return (-1);
		}
		if (skip && text[off + k] != ' ' && text[off + k] != '\n')
			return (-1);
		off += k + skip;
		(*pieces)++;
	}
	return (off == n ? 0 : -1);
}

static int
t_split(void)
{
	char		 text[4096];
	size_t		 max, i, k, skip;
	int		 pieces;
	const char	*units[] = { "a", "\xc3\xa9", "\xe2\x82\xac",
			    "\xf0\x9f\x98\x80", " ", "\n" };

	/* A mix of 1- to 4-byte characters, spaces and newlines, every
	 * limit. */
	for (i = 0; i + 4 < sizeof(text) - 1; )
		i += (size_t)snprintf(text + i, sizeof(text) - i, "%s",
		    units[(i * 7 + i / 3) % 6]);
	for (max = 1; max < 700; max += 7)
		T_OK(split_all(text, max, &pieces) == 0);
	/* No space at all: whole characters, max of them a piece. */
	memset(text, 0, sizeof(text));
	for (i = 0; i < 300; i++)
		memcpy(text + 4 * i, "\xf0\x9f\x98\x80", 4);
	T_OK(split_all(text, 10, &pieces) == 0);
	T_EQ_INT(pieces, 30);
	/* The default limit counts characters, not bytes. */
	T_EQ_INT(xmpp_split(text, 1200, 4000, &skip), 1200);
	T_EQ_INT(skip, 0);
	/* Words stay whole when a space is in the second half; a line
	 * break is preferred to a space. */
	k = xmpp_split("hello world again", 17, 14, &skip);
	T_EQ_INT(k, 11);
	T_EQ_INT(skip, 1);
	k = xmpp_split("one two thr\nee four five", 25, 14, &skip);
	T_EQ_INT(k, 11);
	T_EQ_INT(skip, 1);
	k = xmpp_split("ab\ncd efghijklmnop", 18, 14, &skip);
	T_EQ_INT(k, 14);	/* both breaks in the first half */
	T_EQ_INT(skip, 0);
	k = xmpp_split("a bcdefghijklmnop", 17, 10, &skip);
	T_EQ_INT(k, 10);
	T_EQ_INT(skip, 0);
	k = xmpp_split("short", 5, 4000, &skip);
	T_EQ_INT(k, 5);
	T_EQ_INT(skip, 0);
	return (0);
}

static int
t_mentions(void)
{
	const char	*rest;

	T_EQ_INT(xmpp_mentions("fang: hi", "fang", &rest), 1);
	T_EQ_STR(rest, "hi");
	T_EQ_INT(xmpp_mentions("FANG,   hi", "fang", &rest), 1);
	T_EQ_STR(rest, "hi");
	T_EQ_INT(xmpp_mentions("hey fang, hi", "fang", &rest), 1);
	T_EQ_STR(rest, "hey fang, hi");
	T_EQ_INT(xmpp_mentions("(fang)", "fang", &rest), 1);
	T_EQ_INT(xmpp_mentions("fangs are sharp", "fang", &rest), 0);
	T_EQ_INT(xmpp_mentions("the_fang_ is", "fang", &rest), 0);
	T_EQ_INT(xmpp_mentions("caf\xc3\xa9" "fang", "fang", &rest), 0);
	T_EQ_INT(xmpp_mentions("nothing", "fang", &rest), 0);
	/* A nick with a space, as rooms allow. */
	T_EQ_INT(xmpp_mentions("Big Fang: go", "big fang", &rest), 1);
	T_EQ_STR(rest, "go");
	T_EQ_INT(xmpp_mentions("anything", "", &rest), 0);
	return (0);
}

static int
t_clean(void)
{
	char	*s;

	T_OK((s = xmpp_xml_clean("a\x01" "b\x07\tc\nd\re\x1f")) != NULL);
	T_EQ_STR(s, "ab\tc\nd\re");
	free(s);
	/* U+FFFE, U+FFFF and a surrogate out; U+FFFD and an emoji in. */
	T_OK((s = xmpp_xml_clean("x\xef\xbf\xbey\xef\xbf\xbfz\xed\xa0\x80"
	    "\xef\xbf\xbd\xf0\x9f\x98\x80")) != NULL);
	T_EQ_STR(s, "xyz\xef\xbf\xbd\xf0\x9f\x98\x80");
	free(s);
	/* Bytes that are not UTF-8 out, the rest kept. */
	T_OK((s = xmpp_xml_clean("caf\xe9!\xc3")) != NULL);
	T_EQ_STR(s, "caf!");
	free(s);
	return (0);
}

static int
t_jid(void)
{
	char	b[64];

	T_EQ_INT(xmpp_valid_jid("alice@example.org") &&
	    xmpp_valid_jid("example.org") &&
	    xmpp_valid_jid("room@conference.example.org/Nick With Space") &&
	    xmpp_valid_jid("room@conference.example.org/nick") &&
	    xmpp_valid_jid("a@b/c@d/e"), 1);
	T_EQ_INT(xmpp_valid_jid("") || xmpp_valid_jid("@example.org") ||
	    xmpp_valid_jid("alice@") || xmpp_valid_jid("a b@c") ||
	    xmpp_valid_jid("a@b@c") || xmpp_valid_jid("alice@x/") ||
	    xmpp_valid_jid("al'ice@x") || xmpp_valid_jid("a<b@x") ||
	    xmpp_valid_jid("a@x\r\n") || xmpp_valid_jid("/res") ||
	    xmpp_valid_jid("a@x/nick\tx"), 0);
	T_OK(xmpp_bare("Alice@Example.ORG/Res", b, sizeof(b)) == 0);
	T_EQ_STR(b, "alice@example.org");
	T_OK(xmpp_bare("room@conf", b, 4) != 0);
	return (0);
}

static const struct tap_case cases[] = {
	{ "texts split at a limit of characters, words whole", t_split },
	{ "mentions of the nick found, the address stripped", t_mentions },
	{ "what XML cannot carry is left out", t_clean },
	{ "JIDs checked, bare JIDs made", t_jid },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
