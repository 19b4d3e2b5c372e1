/*
 * waithttp - polls an HTTP endpoint until it answers 200; for cold-start
 * figures (make bench), where curl's own start-up (~5 ms) would swamp the
 * thing being measured.
 *
 *   waithttp [-b] [-m TEXT] [-s EPOCH] [-t TIMEOUT_MS] HOST:PORT PATH
 *
 * Sends "GET PATH" over a fresh connection every ~0.25 ms while the port
 * refuses and every ~1 ms while it answers something other than 200 (or,
 * with -m, a body without TEXT in it).  On the first such 200 it prints the elapsed milliseconds ("12.345") and, with
 * -b, the response body on a second line, and exits 0.  Elapsed time runs
 * from its own start, or from EPOCH when given: wall-clock seconds with a
 * fraction, as bash's $EPOCHREALTIME reads just before it forks the
 * programs under test.  Exits 1 on timeout (default 10000 ms) with the
 * last status on stderr, 2 on bad usage.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define WH_RESP_MAX	65536
#define WH_IO_MAX_MS	2000	/* one attempt's read/write deadline */

struct wh_resp {
	int	wr_status;	/* 0: no HTTP answer */
	char	wr_body[WH_RESP_MAX];
	char	wr_why[128];	/* why there was no answer */
};

static void
usage(void)
{
	fprintf(stderr, "usage: waithttp [-b] [-m TEXT] [-s EPOCH] "
	    "[-t TIMEOUT_MS] HOST:PORT PATH\n");
	exit(2);
}

static int64_t
wh_wall_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/* Parses "1732300000.123456" (or with a comma) into microseconds. */
static int
wh_parse_epoch(const char *s, int64_t *out)
{
	char		 sec[32], frac[7] = "000000";
	size_t		 n = strcspn(s, ".,");
	long long	 v, f;

	if (n == 0 || n >= sizeof(sec))
		return (-1);
	memcpy(sec, s, n);
	sec[n] = '\0';
	if (util_strtonum(sec, 0, 1LL << 40, &v) != 0)
		return (-1);
	if (s[n] != '\0') {
		s += n + 1;
		for (n = 0; n < 6 && s[n] != '\0'; n++)
			frac[n] = s[n];
		if (util_strtonum(frac, 0, 999999, &f) != 0)
			return (-1);
	} else
		f = 0;
	*out = v * 1000000 + f;
	return (0);
}

static void
wh_set_timeouts(int fd, int64_t ms)
{
	struct timeval	tv;

	if (ms > WH_IO_MAX_MS)
		ms = WH_IO_MAX_MS;
	if (ms < 1)
		ms = 1;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/*
 * One GET over a new connection.  Returns 0 with r->wr_status set when an
 * HTTP answer arrived, -1 with r->wr_why when none did.
 */
static int
wh_get(const struct addrinfo *ai, const char *host, const char *path,
    int64_t budget_ms, struct wh_resp *r)
{
	char		 req[1024];
	char		*hdr_end, *p;
	size_t		 len = 0, off;
	ssize_t		 n;
	int		 fd, reqlen, ret = -1;

	r->wr_status = 0;
	r->wr_body[0] = '\0';
	if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    ai->ai_protocol)) == -1) {
		snprintf(r->wr_why, sizeof(r->wr_why), "socket: %s",
		    strerror(errno));
		return (-1);
	}
	wh_set_timeouts(fd, budget_ms);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		snprintf(r->wr_why, sizeof(r->wr_why), "connect: %s",
		    strerror(errno));
		goto done;
	}
	reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: waithttp\r\nConnection: close\r\n\r\n", path, host);
	if (reqlen < 0 || (size_t)reqlen >= sizeof(req)) {
		snprintf(r->wr_why, sizeof(r->wr_why), "path too long");
		goto done;
	}
	for (off = 0; off < (size_t)reqlen; off += (size_t)n)
		if ((n = write(fd, req + off, (size_t)reqlen - off)) <= 0) {
			snprintf(r->wr_why, sizeof(r->wr_why), "write: %s",
			    n == 0 ? "closed" : strerror(errno));
			goto done;
		}
	/* Connection: close, so the answer ends at EOF. */
	while (len < sizeof(r->wr_body) - 1) {
		n = read(fd, r->wr_body + len, sizeof(r->wr_body) - 1 - len);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (len == 0) {
				snprintf(r->wr_why, sizeof(r->wr_why),
				    "read: %s", strerror(errno));
				goto done;
			}
			break;
		}
		len += (size_t)n;
	}
	r->wr_body[len] = '\0';
	if (strncmp(r->wr_body, "HTTP/1.", 7) != 0 || len < 12 ||
	    r->wr_body[8] != ' ') {
		snprintf(r->wr_why, sizeof(r->wr_why), "no HTTP answer");
		goto done;
	}
	r->wr_status = (int)strtol(r->wr_body + 9, NULL, 10);
	/* Keep only the body. */
	if ((hdr_end = strstr(r->wr_body, "\r\n\r\n")) != NULL) {
		p = hdr_end + 4;
		memmove(r->wr_body, p, strlen(p) + 1);
	} else
		r->wr_body[0] = '\0';
	ret = 0;
 done:
	close(fd);
	return (ret);
}

int
main(int argc, char **argv)
{
	static struct wh_resp	 r;
	struct addrinfo		 hints, *ai = NULL;
	struct timespec		 nap;
	char			 host[256], *colon;
	const char		*path, *match = NULL;
	int64_t			 t0_us, elapsed_us, deadline_us, left_ms;
	long long		 timeout_ms = 10000;
	int			 ch, body = 0, gai, ok = 0;

	t0_us = wh_wall_us();
	while ((ch = getopt(argc, argv, "bm:s:t:")) != -1) {
		switch (ch) {
		case 'b':
			body = 1;
			break;
		case 'm':
			match = optarg;
			break;
		case 's':
			if (wh_parse_epoch(optarg, &t0_us) != 0)
				usage();
			break;
		case 't':
			if (util_strtonum(optarg, 1, 3600000, &timeout_ms) != 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	path = argv[optind + 1];
	snprintf(host, sizeof(host), "%s", argv[optind]);
	if ((colon = strrchr(host, ':')) == NULL || path[0] != '/')
		usage();
	*colon = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((gai = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
		fprintf(stderr, "waithttp: '%s': %s\n", argv[optind],
		    gai_strerror(gai));
		return (2);
	}
	*colon = ':';

	deadline_us = wh_wall_us() + timeout_ms * 1000;
	snprintf(r.wr_why, sizeof(r.wr_why), "no attempt");
	for (;;) {
		left_ms = (deadline_us - wh_wall_us()) / 1000;
		if (left_ms <= 0)
			break;
		if (wh_get(ai, host, path, left_ms, &r) == 0 &&
		    r.wr_status == 200 &&
		    (match == NULL || strstr(r.wr_body, match) != NULL)) {
			ok = 1;
			break;
		}
		/* Refused: the listener is not there yet, retry soon. */
		nap.tv_sec = 0;
		nap.tv_nsec = r.wr_status == 0 ? 250000 : 1000000;
		nanosleep(&nap, NULL);
	}
	elapsed_us = wh_wall_us() - t0_us;
	freeaddrinfo(ai);
	if (!ok) {
		if (r.wr_status != 0)
			fprintf(stderr, "waithttp: no 200 from http://%s%s in "
			    "%lld ms (last: status %d %.200s)\n", host, path,
			    timeout_ms, r.wr_status, r.wr_body);
		else
			fprintf(stderr, "waithttp: no 200 from http://%s%s in "
			    "%lld ms (last: %s)\n", host, path, timeout_ms,
			    r.wr_why);
		return (1);
	}
	printf("%.3f\n", (double)elapsed_us / 1000.0);
	if (body)
		printf("%s\n", r.wr_body);
	return (0);
}
