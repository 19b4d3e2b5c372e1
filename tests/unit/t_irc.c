/*
 * t_irc.c - the IRC adapter's wire helpers (services/channels/adapters/
 * irc/irc_msg.c): lines parsed, texts split at the line limit, formatting
 * removed, mentions found.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irc.h"
#include "tap.h"
#include "util.h"

static int
t_parse(void)
{
	struct irc_line	l;
	char		a[] = "@time=x;msgid=abc123 :alice!~a@h.example PRIVMSG "
			    "#c :hi there: you";
	char		b[] = "PING :irc.test";
	char		c[] = ":irc.test 001 fang :Welcome";
	char		d[] = ":srv";
	char		e[] = "CMD a b c d e f g h i j k l m n o p q";

	T_OK(irc_parse(a, &l) == 0);
	T_EQ_STR(l.il_msgid, "abc123");
	T_EQ_STR(l.il_nick, "alice");
	T_EQ_STR(l.il_userhost, "~a@h.example");
	T_EQ_STR(l.il_cmd, "PRIVMSG");
	T_EQ_INT(l.il_nparams, 2);
	T_EQ_STR(l.il_param[0], "#c");
	T_EQ_STR(l.il_param[1], "hi there: you");
	T_OK(irc_parse(b, &l) == 0);
	T_OK(l.il_prefix == NULL && l.il_nick == NULL);
	T_EQ_STR(l.il_param[0], "irc.test");
	T_OK(irc_parse(c, &l) == 0);
	T_OK(l.il_nick == NULL);	/* a server, not a user */
	T_EQ_STR(l.il_prefix, "irc.test");
	T_EQ_STR(l.il_param[1], "Welcome");
	T_OK(irc_parse(d, &l) != 0);
	/* Past 15 parameters, the rest is the last one. */
	T_OK(irc_parse(e, &l) == 0);
	T_EQ_INT(l.il_nparams, IRC_PARAMS_MAX);
	T_EQ_STR(l.il_param[IRC_PARAMS_MAX - 1], "o p q");
	return (0);
}

/* Splits text into pieces of at most room and checks each. */
static int
split_all(const char *text, size_t room, int *pieces)
{
	size_t	n = strlen(text), k, skip, off = 0;

	*pieces = 0;
	while (off < n) {
		k = irc_split(text + off, n - off, room, &skip);
		if (k == 0 || k > room ||
		    !util_utf8_valid((const unsigned char *)text + off, k)) {
			printf("# bad piece at %zu: %zu bytes (room %zu)\n",
			    off, k, room);
			return (-1);
		}
		if (skip && text[off + k] != ' ')
			return (-1);
		off += k + skip;
		(*pieces)++;
	}
	return (off == n ? 0 : -1);
}

static int
t_split(void)
{
	char	 text[4096];
	size_t	 room, i;
	int	 pieces;
	const char *units[] = { "a", "\xc3\xa9", "\xe2\x82\xac",
	    "\xf0\x9f\x98\x80", " " };

	/* A mix of 1- to 4-byte characters and spaces, every room. */
	for (i = 0; i + 4 < sizeof(text) - 1; )
		i += (size_t)snprintf(text + i, sizeof(text) - i, "%s",
		    units[(i * 7 + i / 3) % 5]);
	for (room = 4; room < 600; room += 7)
		T_OK(split_all(text, room, &pieces) == 0);
	/* No space at all: cut at the last whole character. */
	memset(text, 0, sizeof(text));
	for (i = 0; i < 300; i++)
		memcpy(text + 4 * i, "\xf0\x9f\x98\x80", 4);
	T_OK(split_all(text, 10, &pieces) == 0);
	T_EQ_INT(pieces, 150);		/* 2 per piece, never 2.5 */
	/* Words stay whole when a space is in the second half. */
	{
		size_t	skip, k;

		k = irc_split("hello world again", 17, 14, &skip);
		T_EQ_INT(k, 11);
		T_EQ_INT(skip, 1);
		k = irc_split("hello world", 11, 11, &skip);
		T_EQ_INT(k, 11);
		T_EQ_INT(skip, 0);
		k = irc_split("a bcdefghijklmnop", 17, 10, &skip);
		T_EQ_INT(k, 10);	/* space only in the first half */
		T_EQ_INT(skip, 0);
	}
	return (0);
}

static int
t_strip(void)
{
	char	a[] = "\x02" "bold\x02 \x03" "4,12red\x03 \x1funder\x0f \x03"
		    "99x \x03,5y";

	irc_strip_format(a);
	T_EQ_STR(a, "bold red under x ,5y");
	return (0);
}

static int
t_mentions(void)
{
	const char	*rest;

	T_EQ_INT(irc_mentions("fang: hi", "fang", &rest), 1);
	T_EQ_STR(rest, "hi");
	T_EQ_INT(irc_mentions("FANG,   hi", "fang", &rest), 1);
	T_EQ_STR(rest, "hi");
	T_EQ_INT(irc_mentions("hey fang, hi", "fang", &rest), 1);
	T_EQ_STR(rest, "hey fang, hi");
	T_EQ_INT(irc_mentions("fangs are sharp", "fang", &rest), 0);
	T_EQ_INT(irc_mentions("the_fang_ is", "fang", &rest), 0);
	T_EQ_INT(irc_mentions("nothing", "fang", &rest), 0);
	T_EQ_INT(irc_is_channel("#x") && irc_is_channel("&x") &&
	    !irc_is_channel("alice"), 1);
	T_EQ_INT(irc_cap_has("multi-prefix sasl=PLAIN,EXTERNAL", "sasl"), 1);
	T_EQ_INT(irc_cap_has(" message-tags ", "message-tags"), 1);
	T_EQ_INT(irc_cap_has("saslx message-tagsy", "sasl") ||
	    irc_cap_has("", "sasl") ||
	    irc_cap_has("message-tags", "message"), 0);
	T_EQ_INT(irc_valid_target("alice") && irc_valid_target("#c-1") &&
	    irc_valid_target("[x]|y"), 1);
	T_EQ_INT(irc_valid_target("") || irc_valid_target("a b") ||
	    irc_valid_target("a\r\nQUIT") || irc_valid_target(":x") ||
	    irc_valid_target("a,b") || irc_valid_target("a\tb"), 0);
	return (0);
}

static const struct tap_case cases[] = {
	{ "lines parsed: tags, prefix, params, trailing", t_parse },
	{ "texts split within room, on characters, words whole", t_split },
	{ "formatting codes removed", t_strip },
	{ "mentions of the nick found, the address stripped; targets and "
	    "capabilities checked",
	    t_mentions },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
