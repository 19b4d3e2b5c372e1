/*
 * irc.h - the IRC adapter's wire helpers (RFC 1459/2812, IRCv3 message
 * tags): a line parsed, a text split to fit the 512-byte line, formatting
 * codes removed.  No state; the adapter itself is irc.c.
 */
#ifndef IRC_H
#define IRC_H

#include <stddef.h>

#define IRC_LINE_MAX	512	/* with the sender's prefix and CRLF */
#define IRC_PARAMS_MAX	15

/*
 * A parsed line.  Every pointer points into the line given to
 * irc_parse(), which it modifies (NULs written); valid while that is.
 */
struct irc_line {
	const char	*il_msgid;	/* the "msgid" tag, or NULL */
	const char	*il_prefix;	/* "nick!user@host", or NULL */
	const char	*il_nick;	/* the prefix's nick part, or NULL */
	const char	*il_userhost;	/* "user@host" part, or NULL */
	const char	*il_cmd;	/* "PRIVMSG", "001", ... */
	const char	*il_param[IRC_PARAMS_MAX];
	int		 il_nparams;
};

/* Parses line (modified).  0, or -1 when it has no command. */
int	 irc_parse(char *line, struct irc_line *l);

/*
 * The length of the next piece of text (n bytes) to send in one line
 * that leaves room bytes for it: at most room, never inside a UTF-8
 * sequence, and at least 1 when n > 0.  When the text goes on past the
 * piece and a space lies in the piece's second half, the piece ends
 * before the last such space and *skip is 1: that space is the line
 * break, not sent (a server strips trailing spaces anyway), so words
 * stay whole.  Else *skip is 0.  Pieces taken in turn, each followed by
 * *skip bytes left out, cover the text exactly.
 */
size_t	 irc_split(const char *text, size_t n, size_t room, size_t *skip);

/* Removes mIRC formatting (bold, colour with its digits, italics,
 * underline, reverse, reset, monospace, strike) from s in place. */
void	 irc_strip_format(char *s);

/* 1 if target can be a PRIVMSG target (a nick or a channel: one word
 * without control characters, ',' or a leading ':'), else 0. */
int	 irc_valid_target(const char *target);
/* 1 if the space-separated capability list (IRCv3 CAP LS/ACK: "name" or
 * "name=value" each) has cap, else 0. */
int	 irc_cap_has(const char *list, const char *cap);
/* 1 if target names a channel (#, &, +, !), else 0. */
int	 irc_is_channel(const char *target);

/*
 * Whether text addresses nick: "nick: ...", "nick, ..." or nick as a
 * word anywhere (ASCII case-insensitively).  Returns 0 if not, else 1
 * and *rest is the text after a leading "nick: " address (or text
 * itself when nick is elsewhere).
 */
int	 irc_mentions(const char *text, const char *nick, const char **rest);

#endif /* IRC_H */
