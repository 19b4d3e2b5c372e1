/*
 * irc_msg.c - IRC lines parsed, texts split, formatting removed.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "irc.h"
#include "util.h"

/* Finds key's value in an IRCv3 tag list ("a=1;msgid=x;b"), unescaping
 * nothing: a msgid has no characters that need it. */
static const char *
irc_tag(char *tags, const char *key)
{
	char	*t, *save = NULL, *eq;

	for (t = strtok_r(tags, ";", &save); t != NULL;
	    t = strtok_r(NULL, ";", &save)) {
		if ((eq = strchr(t, '=')) == NULL)
			continue;
		*eq = '\0';
		if (strcmp(t, key) == 0 && eq[1] != '\0')
			return (eq + 1);
	}
	return (NULL);
}

int
irc_parse(char *line, struct irc_line *l)
{
	char	*p = line, *sp, *bang;

	memset(l, 0, sizeof(*l));
	if (*p == '@') {
		if ((sp = strchr(p, ' ')) == NULL)
			return (-1);
		*sp = '\0';
		l->il_msgid = irc_tag(p + 1, "msgid");
		p = sp + 1;
	}
	while (*p == ' ')
		p++;
	if (*p == ':') {
		if ((sp = strchr(p, ' ')) == NULL)
			return (-1);
		*sp = '\0';
		l->il_prefix = p + 1;
		p = sp + 1;
		/* nick!user@host; a server's prefix has no '!'. */
		if ((bang = strchr(l->il_prefix, '!')) != NULL) {
			*bang = '\0';
			l->il_nick = l->il_prefix;
			l->il_userhost = bang + 1;
		}
	}
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return (-1);
	l->il_cmd = p;
	if ((sp = strchr(p, ' ')) == NULL)
		return (0);
	*sp = '\0';
	p = sp + 1;
	while (*p != '\0' && l->il_nparams < IRC_PARAMS_MAX) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (*p == ':' || l->il_nparams == IRC_PARAMS_MAX - 1) {
			l->il_param[l->il_nparams++] = *p == ':' ? p + 1 : p;
			break;
		}
		l->il_param[l->il_nparams++] = p;
		if ((sp = strchr(p, ' ')) == NULL)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	return (0);
}

size_t
irc_split(const char *text, size_t n, size_t room, size_t *skip)
{
	const unsigned char	*s = (const unsigned char *)text;
	size_t			 cut, k, i;

	*skip = 0;
	if (n <= room)
		return (n);
	if (room == 0)
		room = 1;
	/* The longest run of whole characters that fits. */
	for (cut = 0; cut < room; cut += k) {
		if ((k = util_utf8_len(s + cut, n - cut)) == 0)
			k = 1;		/* a stray byte goes alone */
		if (cut + k > room)
			break;
	}
	if (cut == 0)	/* room smaller than one character */
		return (util_utf8_len(s, n) ? util_utf8_len(s, n) : 1);
	/* Keep words whole when a space lies in the second half (the one
	 * just past the piece counts: the piece then ends a word). */
	for (i = cut; i > cut / 2; i--)
		if (s[i] == ' ') {
			*skip = 1;
			return (i);
		}
	return (cut);
}

void
irc_strip_format(char *s)
{
	char	*o = s;
	int	 d;

	while (*s != '\0') {
		switch (*s) {
		case 0x02: case 0x0f: case 0x11: case 0x16: case 0x1d:
		case 0x1e: case 0x1f:
			s++;
			break;
		case 0x03:
			/* ^C, then up to two digits, then ",NN". */
			s++;
			for (d = 0; d < 2 && isdigit((unsigned char)*s); d++)
				s++;
			if (d > 0 && s[0] == ',' && isdigit((unsigned char)s[1])) {
				s++;
				for (d = 0; d < 2 && isdigit((unsigned char)*s);
				    d++)
					s++;
			}
			break;
		default:
			*o++ = *s++;
			break;
		}
	}
	*o = '\0';
}

int
irc_valid_target(const char *target)
{
	const unsigned char	*p = (const unsigned char *)target;
	size_t			 n = strlen(target);

	if (n == 0 || n > 200 || p[0] == ':')
		return (0);
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p == ',' || *p == 0x7f)
			return (0);
	return (1);
}

int
irc_cap_has(const char *list, const char *cap)
{
	size_t		 n = strlen(cap), k;
	const char	*p;

	for (p = list; *p != '\0'; p += k) {
		p += strspn(p, " ");
		k = strcspn(p, " ");
		if (k >= n && strncmp(p, cap, n) == 0 &&
		    (k == n || p[n] == '='))
			return (1);
		if (k == 0)
			break;
	}
	return (0);
}

int
irc_is_channel(const char *target)
{
	return (target[0] != '\0' && strchr("#&+!", target[0]) != NULL);
}

/* Characters that may be part of a nick (RFC 2812 2.3.1 and digits). */
static int
irc_nickchar(char c)
{
	return (isalnum((unsigned char)c) || strchr("[]\\`_^{|}-", c) != NULL);
}

int
irc_mentions(const char *text, const char *nick, const char **rest)
{
	size_t		 n = strlen(nick);
	const char	*p;

	*rest = text;
	if (n == 0)
		return (0);
	if (strncasecmp(text, nick, n) == 0 &&
	    (text[n] == ':' || text[n] == ',')) {
		for (p = text + n + 1; *p == ' '; p++)
			;
		*rest = p;
		return (1);
	}
	for (p = text; (p = strcasestr(p, nick)) != NULL; p++)
		if ((p == text || !irc_nickchar(p[-1])) &&
		    !irc_nickchar(p[n]))
			return (1);
	return (0);
}
