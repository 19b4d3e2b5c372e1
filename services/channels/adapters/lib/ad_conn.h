/*
 * ad_conn.h - a line-oriented client connection to a platform over TCP,
 * optionally TLS (OpenSSL), never blocking the adapter's loop (IRC; later
 * IMAP and SMTP): the connect and the TLS handshake progress as poll()
 * reports, what is written is queued (bounded) and flushed as the socket
 * takes it, and what is read is handed out in lines.
 *
 * The name is resolved with getaddrinfo(), which blocks: a literal
 * address or a local resolver keeps that short.  Every address is checked
 * with ssrf_addr_blocked(): a loopback, private or link-local platform is
 * refused unless the caller allows it (<PREFIX>_ALLOW_LOOPBACK), and a
 * cloud metadata address always is.
 *
 * A struct ad_conn is embedded in the adapter's state (ad_conn_init()
 * once); ad_conn_open() after ad_conn_close() reuses it.
 */
#ifndef AD_CONN_H
#define AD_CONN_H

#include <sys/socket.h>

#include <stddef.h>

#include "adapter.h"

#define AD_CONN_OUT_MAX		(256 * 1024)	/* queued output, bytes */
#define AD_CONN_LINE_MAX	8192		/* an input line, bytes */
#define AD_CONN_ADDRS		8		/* addresses tried in turn */

enum ad_conn_state {
	AD_CONN_CLOSED = 0,
	AD_CONN_CONNECTING,	/* TCP connect in progress */
	AD_CONN_HANDSHAKE,	/* TLS handshake in progress */
	AD_CONN_UP,
};

struct ad_conn {
	enum ad_conn_state	 co_state;
	int			 co_fd;
	void			*co_ctx;	/* SSL_CTX *, or NULL */
	void			*co_ssl;	/* SSL *, or NULL */
	int			 co_want_write;	/* TLS wants POLLOUT */
	char			*co_out;
	size_t			 co_outlen;
	size_t			 co_outcap;
	struct ad_lines		 co_in;
	char			 co_host[256];
	int			 co_port;
	struct sockaddr_storage	 co_addr[AD_CONN_ADDRS];	/* resolved */
	socklen_t		 co_addrlen[AD_CONN_ADDRS];
	int			 co_naddr;
	int			 co_next;	/* the next one to try */
};

/* Options of ad_conn_open(). */
#define AD_CONN_TLS		0x1	/* TLS on connect */
#define AD_CONN_NOVERIFY	0x2	/* accept any certificate */
#define AD_CONN_ALLOW_PRIVATE	0x4	/* loopback and private allowed */

void	 ad_conn_init(struct ad_conn *c);
/*
 * Starts connecting to host:port (each address the name resolves to in
 * turn, until one accepts).  ca_file (PEM, or NULL for the
 * system's) is what a TLS certificate is verified against.  0 (in
 * progress: poll ad_conn_events() and call ad_conn_io()), or -1 with why
 * in err (the name did not resolve, an address is refused, no socket).
 */
int	 ad_conn_open(struct ad_conn *c, const char *host, int port,
	    int flags, const char *ca_file, char *err, size_t errlen);
/* The fd to poll (-1 when closed) and the events to poll it for. */
int	 ad_conn_fd(const struct ad_conn *c);
short	 ad_conn_events(const struct ad_conn *c);
/*
 * Progresses the connection after poll() said revents: finishes the
 * connect and the handshake, flushes the queue, reads and calls fn for
 * each complete line (fn must not close c: it sets a flag for the
 * caller to act on after the call).  0 while it stands, -1 when it failed or the peer
 * closed it (why in err; the caller then ad_conn_close()s).
 */
int	 ad_conn_io(struct ad_conn *c, int revents, ad_line_fn fn, void *arg,
	    char *err, size_t errlen);
/*
 * Queues n bytes (written before anything later; sent as soon as the
 * connection is up).  0, or SH_ETOOBIG past AD_CONN_OUT_MAX or SH_ENOMEM
 * (nothing queued).
 */
int	 ad_conn_write(struct ad_conn *c, const char *data, size_t n);
/*
 * Upgrades a connection that is up and without TLS to TLS (STARTTLS in
 * IMAP, SMTP, XMPP): called once the server has said to go ahead, with
 * nothing queued to write.  Input buffered but not yet handed out is
 * discarded (it came before the handshake: an attacker's, RFC 3207 4.2).
 * The handshake then progresses in ad_conn_io() like one on connect.
 * 0, or -1 (why in err; the caller closes).
 */
int	 ad_conn_starttls(struct ad_conn *c, int flags, const char *ca_file,
	    char *err, size_t errlen);
/* The next n bytes read are handed to fn as they are (ad_lines_raw()). */
void	 ad_conn_raw(struct ad_conn *c, size_t n);
/* Tries to send what is queued now, without waiting (best effort, for a
 * QUIT before close). */
void	 ad_conn_flush(struct ad_conn *c);
void	 ad_conn_close(struct ad_conn *c);

#endif /* AD_CONN_H */
