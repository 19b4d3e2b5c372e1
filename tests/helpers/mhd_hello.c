/*
 * mhd_hello - the floor for the gateway's throughput figures (make bench).
 *
 *   mhd_hello PORT [THREADS]
 *
 * A bare libmicrohttpd server on 127.0.0.1:PORT that answers every request
 * with 200 {"status":"ok"}.  It is set up the way the gateway is (an
 * internal epoll thread pool of THREADS, default 2, and the same
 * connection limit and idle timeout as the [api] defaults in cfg.c), so
 * that the difference between the two is the gateway's own work: routing,
 * auth, headers, the bus round trip.  SIGINT or SIGTERM stops it, exit 0.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "util.h"

#define HELLO_BODY		"{\"status\":\"ok\"}"
#define HELLO_MAX_CONNS		1024	/* api.max_connections */
#define HELLO_CONN_TIMEOUT	10	/* api.connection_timeout_secs */
#define HELLO_MEM_LIMIT		(32 * 1024)

/* Built once and shared by every request (MHD reference-counts it). */
static struct MHD_Response	*hello_resp;

static void
usage(void)
{
	fprintf(stderr, "usage: mhd_hello PORT [THREADS]\n");
	exit(2);
}

static enum MHD_Result
hello_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	static int	marker;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;

	/* First call: headers only.  Then swallow any body, then answer. */
	if (*req_cls == NULL) {
		*req_cls = &marker;
		return (MHD_YES);
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return (MHD_YES);
	}
	return (MHD_queue_response(conn, MHD_HTTP_OK, hello_resp));
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon	*d;
	struct sockaddr_in	 sin;
	sigset_t		 set;
	long long		 port, threads = 2;
	int			 sig;

	if (argc < 2 || argc > 3)
		usage();
	if (util_strtonum(argv[1], 1, 65535, &port) != 0)
		usage();
	if (argc == 3 && util_strtonum(argv[2], 1, 64, &threads) != 0)
		usage();

	/* Blocked before MHD starts, so its threads inherit the mask and
	 * only sigwait() below sees the signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	hello_resp = MHD_create_response_from_buffer(strlen(HELLO_BODY),
	    (void *)(uintptr_t)HELLO_BODY, MHD_RESPMEM_PERSISTENT);
	if (hello_resp == NULL ||
	    MHD_add_response_header(hello_resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json") != MHD_YES) {
		fprintf(stderr, "mhd_hello: could not build the response\n");
		return (1);
	}

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, hello_handler, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HELLO_MAX_CONNS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HELLO_CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HELLO_MEM_LIMIT,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)511,
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "mhd_hello: could not listen on "
		    "127.0.0.1:%lld\n", port);
		MHD_destroy_response(hello_resp);
		return (1);
	}

	sigdelset(&set, SIGPIPE);
	while (sigwait(&set, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
		;
	MHD_stop_daemon(d);
	MHD_destroy_response(hello_resp);
	return (0);
}
