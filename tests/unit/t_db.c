/*
 * t_db.c - db.c's bounds without a PostgreSQL: a server that accepts and
 * never answers (a frozen postmaster, a host behind a dead link) costs a
 * call its connect_timeout, then the connection backs off and the next
 * calls fail at once; a server that lets a client in, then goes silent
 * (SIGSTOP) costs a statement its timeout and 2 s; a refused connection
 * fails at once and does not back off; db_unavailable() says which
 * failures were the database's absence.
 */
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "tap.h"
#include "util.h"

/* A listening socket on 127.0.0.1 that never accepts: the kernel
 * completes the handshake (backlog), nobody answers.  Its port in *port;
 * the fd, or -1. */
static int
silent_listener(int *port)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return (-1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		close(fd);
		return (-1);
	}
	*port = ntohs(sin.sin_port);
	return (fd);
}

static int
test_silent_server_bounded(void)
{
	struct db	*db;
	char		 ci[128];
	uint64_t	 t0, ms;
	int		 fd, port;

	T_OK((fd = silent_listener(&port)) >= 0);
	/* connect_timeout 2 s is libpq's least. */
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=x user=x "
	    "connect_timeout=2", port);
	T_OK((db = db_open(ci, "t")) != NULL);
	t0 = util_now_ms();
	T_OK(db_exec(db, "SELECT 1", 0, NULL) == NULL);
	ms = util_now_ms() - t0;
	printf("# a silent server: the call failed after %llu ms (%s)\n",
	    (unsigned long long)ms, db_errmsg(db));
	/* libpq ends connect_timeout at a whole second of time(): 2 s
	 * waits 1 to 2 s, as the second it starts in has gone by. */
	T_OK(ms >= 900 && ms < 5000);
	T_EQ_INT(db_unavailable(db), 1);
	/* Backed off: the next call does not wait again. */
	t0 = util_now_ms();
	T_OK(db_exec(db, "SELECT 1", 0, NULL) == NULL);
	ms = util_now_ms() - t0;
	T_OK(ms < 200);
	T_EQ_INT(db_unavailable(db), 1);
	db_close(db);
	close(fd);
	return (0);
}

/* Reads exactly n bytes; 0 or -1. */
static int
read_n(int fd, void *b, size_t n)
{
	ssize_t	r;
	size_t	off = 0;

	while (off < n) {
		if ((r = read(fd, (char *)b + off, n - off)) <= 0)
			return (-1);
		off += (size_t)r;
	}
	return (0);
}

/*
 * The server side of one connection that lets the client in (no TLS, no
 * password: AuthenticationOk, ReadyForQuery) and then answers nothing,
 * reading until the client goes.
 */
static void *
frozen_server(void *arg)
{
	static const unsigned char ok[] = { 'R', 0, 0, 0, 8, 0, 0, 0, 0,
	    'Z', 0, 0, 0, 5, 'I' };
	unsigned char	 len[4], buf[512];
	uint32_t	 n;
	int		 lfd = *(int *)arg, fd;

	if ((fd = accept(lfd, NULL, NULL)) < 0)
		return (NULL);
	if (read_n(fd, len, 4) == 0) {
		n = (uint32_t)len[0] << 24 | (uint32_t)len[1] << 16 |
		    (uint32_t)len[2] << 8 | len[3];
		if (n >= 8 && n - 4 <= sizeof(buf) &&
		    read_n(fd, buf, n - 4) == 0 &&
		    write(fd, ok, sizeof(ok)) == (ssize_t)sizeof(ok))
			while (read(fd, buf, sizeof(buf)) > 0)
				;
	}
	close(fd);
	return (NULL);
}

static int
test_frozen_after_connect(void)
{
	struct db	*db;
	pthread_t	 th;
	char		 ci[160];
	uint64_t	 t0, ms;
	int		 fd, port;

	T_OK((fd = silent_listener(&port)) >= 0);
	T_OK(pthread_create(&th, NULL, frozen_server, &fd) == 0);
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=x user=x "
	    "sslmode=disable gssencmode=disable", port);
	T_OK((db = db_open(ci, "t")) != NULL);
	db_set_timeout(db, 300);
	t0 = util_now_ms();
	T_OK(db_exec(db, "SELECT 1", 0, NULL) == NULL);
	ms = util_now_ms() - t0;
	printf("# a server silent after the startup: the call failed after "
	    "%llu ms (%s)\n", (unsigned long long)ms, db_errmsg(db));
	/* The timeout (300 ms) and the 2 s grace, then dropped. */
	T_OK(ms >= 2000 && ms < 4000);
	T_EQ_INT(db_unavailable(db), 1);
	T_OK(strstr(db_errmsg(db), "did not answer") != NULL);
	db_close(db);	/* the server's read ends: the thread ends */
	pthread_join(th, NULL);
	close(fd);
	return (0);
}

static int
test_refused_fast(void)
{
	struct db	*db;
	char		 ci[128];
	uint64_t	 t0, ms;
	int		 fd, port, i;

	/* A port just freed: nothing listens there. */
	T_OK((fd = silent_listener(&port)) >= 0);
	close(fd);
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=x user=x",
	    port);
	T_OK((db = db_open(ci, "t")) != NULL);
	t0 = util_now_ms();
	for (i = 0; i < 5; i++) {
		T_OK(db_exec(db, "SELECT 1", 0, NULL) == NULL);
		T_EQ_INT(db_unavailable(db), 1);
	}
	ms = util_now_ms() - t0;
	/* Each tried (no backoff after a fast failure), each at once. */
	T_OK(ms < 1000);
	T_OK(strstr(db_errmsg(db), "refused") != NULL);
	/* A statement sent without waiting fails the same way, at once,
	 * and leaves the handle usable. */
	T_EQ_INT(db_send(db, "SELECT 1", 0, NULL), -1);
	T_EQ_INT(db_unavailable(db), 1);
	T_OK(db_exec(db, "SELECT 1", 0, NULL) == NULL);
	db_close(db);
	return (0);
}

static const struct tap_case cases[] = {
	{ "a server that accepts and never answers: bounded, then backed "
	    "off", test_silent_server_bounded },
	{ "a server silent after letting the client in: the statement's "
	    "timeout and 2 s", test_frozen_after_connect },
	{ "a refused connection fails at once, every time", test_refused_fast },
	{ NULL, NULL }
};

int
main(void)
{
	log_init("t_db", LOG_LVL_ERROR, 0);
	return (tap_main(cases));
}
