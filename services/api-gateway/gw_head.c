/*
 * gw_head.c - the head of each request, seen on the wire before
 * libmicrohttpd parses it.
 *
 * libmicrohttpd 0.9.75 answers a Content-Length it cannot read ("-1",
 * "abc", more than 64 bits) itself, and its state machine then builds
 * that response's header block a second time into the same write: the
 * client gets two status lines and a body that does not match its
 * length.  No callback runs between its parse of the headers and that
 * write, so the gateway reads the bytes first: recv() is defined here,
 * ahead of the C library's (libmicrohttpd calls it through the dynamic
 * linker, which finds the executable's definition first; nng and libcurl
 * use other calls), and on a connection gw_conn.c tracks, the head of
 * each request is scanned for such a line.  One is answered the way the
 * reaper answers a slow client (gw_conn_refuse(): a complete 400 JSON on
 * the socket, then a half-close) and its bytes are withheld from
 * libmicrohttpd, which sees nothing more until the reaper shuts the read
 * side, and then closes.
 *
 * The scan reads lines as libmicrohttpd does: a line ends at LF or CRLF
 * (a lone CR is part of the line); empty lines before the request line
 * are skipped; the head ends at an empty line; a header's name is what
 * precedes its first colon, compared without case; its value starts
 * after spaces and tabs and runs to the end of the line.  A
 * Content-Length is readable when it is one or more digits and fits in
 * 64 bits.  A continuation line (obs-fold) is refused too, as RFC 9112
 * 5.2 allows: libmicrohttpd would glue it onto the header's name, so a
 * proxy in front and the gateway would disagree about the framing.
 * After the head the scan waits for the connection's next request
 * (gw_head_reset() from gw_conn_idle()), so a body is never scanned.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "gateway.h"

#define GW_HEAD_CL	"content-length"
#define GW_HEAD_CL_LEN	14
#define GW_HEAD_NOMATCH	0xff

enum gw_head_state {
	GH_LINE = 0,	/* at the start of a line */
	GH_NAME,	/* in a header's name */
	GH_LEAD,	/* the blanks before a Content-Length's value */
	GH_VALUE,	/* in a Content-Length's value */
	GH_SKIP,	/* in a line nothing is learnt from */
	GH_DONE		/* the head is over */
};

void
gw_head_reset(struct gw_head *h)
{
	memset(h, 0, sizeof(*h));
	h->gh_reqline = 1;
}

/* A line ended (at its LF).  0, or the status that refuses the head. */
static int
gw_head_eol(struct gw_head *h)
{
	int	state = h->gh_state;

	h->gh_state = GH_LINE;
	if (state == GH_LEAD || state == GH_VALUE) {
		if (!h->gh_digits || h->gh_nondigit) {
			h->gh_why = "invalid Content-Length";
			return (400);
		}
		if (h->gh_big) {
			h->gh_why = "request body too large: the Content-Length "
			    "does not fit in 64 bits";
			return (413);
		}
		return (0);
	}
	if (state == GH_LINE) {		/* an empty line */
		if (!h->gh_reqline)
			h->gh_state = GH_DONE;
		return (0);
	}
	h->gh_reqline = 0;
	return (0);
}

/* One byte of a line (not its LF).  0, or the status that refuses. */
static int
gw_head_byte(struct gw_head *h, unsigned char c)
{
	unsigned int	d;

	switch (h->gh_state) {
	case GH_LINE:
		if (h->gh_reqline) {
			h->gh_state = GH_SKIP;
			return (0);
		}
		if (c == ' ' || c == '\t') {
			h->gh_why = "obsolete line folding in the headers";
			return (400);
		}
		h->gh_state = GH_NAME;
		h->gh_match = 0;
		/* FALLTHROUGH */
	case GH_NAME:
		if (c == ':') {
			if (h->gh_match == GW_HEAD_CL_LEN) {
				h->gh_state = GH_LEAD;
				h->gh_val = 0;
				h->gh_digits = h->gh_nondigit = h->gh_big = 0;
			} else
				h->gh_state = GH_SKIP;
		} else if (h->gh_match < GW_HEAD_CL_LEN &&
		    tolower(c) == GW_HEAD_CL[h->gh_match])
			h->gh_match++;
		else
			h->gh_match = GW_HEAD_NOMATCH;
		return (0);
	case GH_LEAD:
		if (c == ' ' || c == '\t')
			return (0);
		h->gh_state = GH_VALUE;
		/* FALLTHROUGH */
	case GH_VALUE:
		if (c < '0' || c > '9') {
			h->gh_nondigit = 1;
			return (0);
		}
		d = c - '0';
		h->gh_digits = 1;
		if (h->gh_val > (UINT64_MAX - d) / 10)
			h->gh_big = 1;
		else
			h->gh_val = h->gh_val * 10 + d;
		return (0);
	default:
		return (0);
	}
}

int
gw_head_scan(struct gw_head *h, const unsigned char *p, size_t n)
{
	const unsigned char	*lf;
	size_t			 i;
	int			 rv = 0;

	for (i = 0; i < n && rv == 0 && h->gh_state != GH_DONE; i++) {
		if (h->gh_state == GH_SKIP) {
			/* Nothing to learn before the line's end (a CR in
			 * it, lone or not, changes nothing). */
			if ((lf = memchr(p + i, '\n', n - i)) == NULL)
				break;
			i = (size_t)(lf - p);
			h->gh_cr = 0;
			rv = gw_head_eol(h);
			continue;
		}
		if (h->gh_cr) {
			h->gh_cr = 0;
			if (p[i] == '\n') {
				rv = gw_head_eol(h);
				continue;
			}
			/* A lone CR is part of the line. */
			if ((rv = gw_head_byte(h, '\r')) != 0)
				break;
		}
		if (p[i] == '\r')
			h->gh_cr = 1;
		else if (p[i] == '\n')
			rv = gw_head_eol(h);
		else
			rv = gw_head_byte(h, p[i]);
	}
	return (rv);
}

/*
 * Every recv() of the process: libmicrohttpd's reads of its connections,
 * and the WebSocket thread's (a connection past its head: not scanned).
 */
ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	struct gw_conn	*gc;
	ssize_t		 n;

	n = recvfrom(fd, buf, len, flags, NULL, NULL);
	if (n <= 0 || (flags & MSG_PEEK) || (gc = gw_conn_by_fd(fd)) == NULL)
		return (n);
	if (gw_conn_withheld(gc, buf, (size_t)n) != 0) {
		errno = EAGAIN;
		return (-1);
	}
	return (n);
}
