/*
 * ad_conn.c - a non-blocking TCP (and TLS) line connection for adapters.
 */
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ad_conn.h"
#include "err.h"
#include "log.h"
#include "ssrf.h"

void
ad_conn_init(struct ad_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->co_fd = -1;
	ad_lines_init(&c->co_in, AD_CONN_LINE_MAX);
}

void
ad_conn_close(struct ad_conn *c)
{
	if (c->co_ssl != NULL)
		SSL_free(c->co_ssl);
	if (c->co_ctx != NULL)
		SSL_CTX_free(c->co_ctx);
	if (c->co_fd >= 0)
		close(c->co_fd);
	free(c->co_out);
	ad_lines_release(&c->co_in);
	ad_conn_init(c);
}

int
ad_conn_fd(const struct ad_conn *c)
{
	return (c->co_state == AD_CONN_CLOSED ? -1 : c->co_fd);
}

short
ad_conn_events(const struct ad_conn *c)
{
	switch (c->co_state) {
	case AD_CONN_CONNECTING:
		return (POLLOUT);
	case AD_CONN_HANDSHAKE:
		return (c->co_want_write ? POLLOUT : POLLIN);
	case AD_CONN_UP:
		return (POLLIN | (c->co_outlen > 0 || c->co_want_write ?
		    POLLOUT : 0));
	default:
		return (0);
	}
}

/* The first OpenSSL error queued, as text (and the queue emptied). */
static void
ad_conn_sslerr(char *err, size_t errlen, const char *what)
{
	unsigned long	e = ERR_get_error();
	char		buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, e != 0 ? buf : "closed");
	ERR_clear_error();
}

/*
 * The system's trust anchors.  The bundle file (what
 * SSL_CTX_set_default_verify_paths() loads) is some 140 certificates
 * parsed into every context: over a megabyte of an adapter's 2 MB.  The
 * hashed directory (Debian's /etc/ssl/certs, made by
 * update-ca-certificates) is read lazily instead: only the issuer a
 * handshake asks for is loaded.  SSL_CERT_FILE set, or a directory
 * without hashed names, keeps the bundle.
 */
static void
ad_conn_default_cas(SSL_CTX *ctx)
{
	static int	 hashed = -1;	/* the one thread's */
	const char	*dir;
	DIR		*d;
	struct dirent	*e;
	size_t		 n;

	if (hashed < 0) {
		hashed = 0;
		dir = getenv(X509_get_default_cert_dir_env());
		if (dir == NULL)
			dir = X509_get_default_cert_dir();
		if (getenv(X509_get_default_cert_file_env()) == NULL &&
		    (d = opendir(dir)) != NULL) {
			while (!hashed && (e = readdir(d)) != NULL) {
				n = strlen(e->d_name);
				hashed = n == 10 && e->d_name[8] == '.' &&
				    strspn(e->d_name, "0123456789abcdef") == 8;
			}
			closedir(d);
		}
	}
	if (hashed)
		SSL_CTX_set_default_verify_dir(ctx);
	else
		SSL_CTX_set_default_verify_paths(ctx);
}

/* Makes the TLS session for the connected socket. */
static int
ad_conn_tls(struct ad_conn *c, int flags, const char *ca_file, char *err,
    size_t errlen)
{
	struct sockaddr_storage	 ss;
	SSL_CTX			*ctx;
	SSL			*ssl;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		ad_conn_sslerr(err, errlen, "could not make a TLS context");
		return (-1);
	}
	c->co_ctx = ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (flags & AD_CONN_NOVERIFY)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (ca_file == NULL)
			ad_conn_default_cas(ctx);
		else if (SSL_CTX_load_verify_locations(ctx, ca_file,
		    NULL) != 1) {
			ad_conn_sslerr(err, errlen, "could not load the CA "
			    "file");
			return (-1);
		}
	}
	if ((ssl = SSL_new(ctx)) == NULL) {
		ad_conn_sslerr(err, errlen, "could not make a TLS session");
		return (-1);
	}
	c->co_ssl = ssl;
	SSL_set_fd(ssl, c->co_fd);
	if (ssrf_literal(c->co_host, &ss)) {
		/* An address: no SNI (RFC 6066 3), the certificate must
		 * name the address. */
		if (!(flags & AD_CONN_NOVERIFY))
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			    c->co_host);
	} else {
		SSL_set_tlsext_host_name(ssl, c->co_host);
		if (!(flags & AD_CONN_NOVERIFY))
			SSL_set1_host(ssl, c->co_host);
	}
	return (0);
}

/* Starts a connect to the next resolved address.  0, or -1 (err) when
 * none is left. */
static int
ad_conn_dial(struct ad_conn *c, char *err, size_t errlen)
{
	int	i, fd;

	if (c->co_fd >= 0) {
		close(c->co_fd);
		c->co_fd = -1;
	}
	while ((i = c->co_next) < c->co_naddr) {
		c->co_next++;
		if ((fd = socket(c->co_addr[i].ss_family, SOCK_STREAM |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
			snprintf(err, errlen, "could not make a socket: %s",
			    strerror(errno));
			continue;
		}
		if (connect(fd, (struct sockaddr *)&c->co_addr[i],
		    c->co_addrlen[i]) != 0 && errno != EINPROGRESS) {
			snprintf(err, errlen, "could not connect to '%s:%d': "
			    "%s", c->co_host, c->co_port, strerror(errno));
			close(fd);
			continue;
		}
		c->co_fd = fd;
		c->co_state = AD_CONN_CONNECTING;
		return (0);
	}
	return (-1);
}

int
ad_conn_open(struct ad_conn *c, const char *host, int port, int flags,
    const char *ca_file, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	const char	*why;
	char		 svc[16];
	int		 rv, ret = -1;

	ad_conn_close(c);
	snprintf(c->co_host, sizeof(c->co_host), "%s", host);
	c->co_port = port;
	snprintf(svc, sizeof(svc), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rv = getaddrinfo(host, svc, &hints, &res)) != 0) {
		snprintf(err, errlen, "could not resolve '%s': %s", host,
		    gai_strerror(rv));
		goto done;
	}
	/* Every address must pass, not only the one used: a name that
	 * also resolves to a private address is refused whole. */
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ssrf_addr_metadata(ai->ai_addr)) {
			snprintf(err, errlen, "'%s' is a %s; refused", host,
			    SSRF_WHY_METADATA);
			goto done;
		}
		if ((why = ssrf_addr_blocked(ai->ai_addr)) != NULL &&
		    !(flags & AD_CONN_ALLOW_PRIVATE)) {
			snprintf(err, errlen, "'%s' is a %s; refused without "
			    "the allow-loopback switch", host, why);
			goto done;
		}
		if (c->co_naddr < AD_CONN_ADDRS &&
		    ai->ai_addrlen <= sizeof(c->co_addr[0])) {
			memcpy(&c->co_addr[c->co_naddr], ai->ai_addr,
			    ai->ai_addrlen);
			c->co_addrlen[c->co_naddr++] = ai->ai_addrlen;
		}
	}
	snprintf(err, errlen, "no address for '%s'", host);
	if (ad_conn_dial(c, err, errlen) != 0)
		goto done;
	if ((flags & AD_CONN_TLS) && ad_conn_tls(c, flags, ca_file, err,
	    errlen) != 0)
		goto done;
	ret = 0;
 done:
	if (res != NULL)
		freeaddrinfo(res);
	if (ret != 0)
		ad_conn_close(c);
	return (ret);
}

int
ad_conn_write(struct ad_conn *c, const char *data, size_t n)
{
	size_t	 cap;
	char	*nb;

	if (c->co_outlen + n > AD_CONN_OUT_MAX)
		return (SH_ETOOBIG);
	if (c->co_outlen + n > c->co_outcap) {
		cap = c->co_outcap ? c->co_outcap : 1024;
		while (cap < c->co_outlen + n)
			cap *= 2;
		if ((nb = realloc(c->co_out, cap)) == NULL)
			return (SH_ENOMEM);
		c->co_out = nb;
		c->co_outcap = cap;
	}
	memcpy(c->co_out + c->co_outlen, data, n);
	c->co_outlen += n;
	return (0);
}

/* Sends what the socket takes of the queue.  0, or -1 (err). */
static int
ad_conn_send(struct ad_conn *c, char *err, size_t errlen)
{
	ssize_t	w;
	int	e;

	c->co_want_write = 0;
	while (c->co_outlen > 0) {
		if (c->co_ssl != NULL) {
			ERR_clear_error();
			w = SSL_write(c->co_ssl, c->co_out, (int)c->co_outlen);
			if (w <= 0) {
				e = SSL_get_error(c->co_ssl, (int)w);
				if (e == SSL_ERROR_WANT_WRITE) {
					c->co_want_write = 1;
					return (0);
				}
				if (e == SSL_ERROR_WANT_READ)
					return (0);
				ad_conn_sslerr(err, errlen, "TLS write");
				return (-1);
			}
		} else if ((w = send(c->co_fd, c->co_out, c->co_outlen,
		    MSG_NOSIGNAL)) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return (0);
			snprintf(err, errlen, "write: %s", strerror(errno));
			return (-1);
		}
		memmove(c->co_out, c->co_out + w, c->co_outlen - (size_t)w);
		c->co_outlen -= (size_t)w;
	}
	return (0);
}

int
ad_conn_starttls(struct ad_conn *c, int flags, const char *ca_file,
    char *err, size_t errlen)
{
	if (c->co_state != AD_CONN_UP || c->co_ssl != NULL ||
	    c->co_outlen > 0) {
		snprintf(err, errlen, "cannot start TLS now");
		return (-1);
	}
	if (ad_conn_tls(c, flags, ca_file, err, errlen) != 0)
		return (-1);
	/* What the server sent before the handshake is not to be trusted
	 * after it. */
	c->co_in.lr_len = 0;
	c->co_in.lr_skipping = 0;
	c->co_in.lr_raw = 0;
	c->co_state = AD_CONN_HANDSHAKE;
	/* The ClientHello is ours to send: poll for writing first. */
	c->co_want_write = 1;
	return (0);
}

void
ad_conn_raw(struct ad_conn *c, size_t n)
{
	ad_lines_raw(&c->co_in, n);
}

void
ad_conn_flush(struct ad_conn *c)
{
	char	err[128];

	if (c->co_state == AD_CONN_UP)
		(void)ad_conn_send(c, err, sizeof(err));
}

/* Reads everything the socket has now.  0, or -1 (err: closed or
 * failed). */
static int
ad_conn_recv(struct ad_conn *c, ad_line_fn fn, void *arg, char *err,
    size_t errlen)
{
	char	buf[4096];
	ssize_t	n;
	int	e;

	for (;;) {
		if (c->co_ssl != NULL) {
			ERR_clear_error();
			n = SSL_read(c->co_ssl, buf, sizeof(buf));
			if (n <= 0) {
				e = SSL_get_error(c->co_ssl, (int)n);
				if (e == SSL_ERROR_WANT_READ)
					return (0);
				if (e == SSL_ERROR_WANT_WRITE) {
					c->co_want_write = 1;
					return (0);
				}
				if (e == SSL_ERROR_ZERO_RETURN) {
					snprintf(err, errlen, "closed by the "
					    "server");
					return (-1);
				}
				ad_conn_sslerr(err, errlen, "TLS read");
				return (-1);
			}
		} else if ((n = recv(c->co_fd, buf, sizeof(buf), 0)) <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return (0);
			snprintf(err, errlen, "%s", n == 0 ?
			    "closed by the server" : strerror(errno));
			return (-1);
		}
		if (ad_lines_feed(&c->co_in, buf, (size_t)n, fn, arg) != 0) {
			snprintf(err, errlen, "out of memory");
			return (-1);
		}
	}
}

int
ad_conn_io(struct ad_conn *c, int revents, ad_line_fn fn, void *arg,
    char *err, size_t errlen)
{
	socklen_t	len = sizeof(int);
	int		soerr = 0, rv, e;

	switch (c->co_state) {
	case AD_CONN_CONNECTING:
		if (getsockopt(c->co_fd, SOL_SOCKET, SO_ERROR, &soerr,
		    &len) != 0 || soerr != 0) {
			snprintf(err, errlen, "could not connect to '%s:%d': "
			    "%s", c->co_host, c->co_port,
			    strerror(soerr ? soerr : errno));
			/* The next address, if the name has one. */
			if (ad_conn_dial(c, err, errlen) != 0)
				return (-1);
			if (c->co_ssl != NULL)
				SSL_set_fd(c->co_ssl, c->co_fd);
			return (0);
		}
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return (0);
		c->co_state = c->co_ssl != NULL ? AD_CONN_HANDSHAKE :
		    AD_CONN_UP;
		if (c->co_state == AD_CONN_UP)
			return (ad_conn_send(c, err, errlen));
		/* FALLTHROUGH */
	case AD_CONN_HANDSHAKE:
		ERR_clear_error();
		if ((rv = SSL_connect(c->co_ssl)) != 1) {
			e = SSL_get_error(c->co_ssl, rv);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE) {
				c->co_want_write = e == SSL_ERROR_WANT_WRITE;
				return (0);
			}
			ad_conn_sslerr(err, errlen, "TLS handshake");
			return (-1);
		}
		c->co_want_write = 0;
		c->co_state = AD_CONN_UP;
		if (ad_conn_send(c, err, errlen) != 0)
			return (-1);
		return (ad_conn_recv(c, fn, arg, err, errlen));
	case AD_CONN_UP:
		if (ad_conn_send(c, err, errlen) != 0)
			return (-1);
		if (revents & (POLLIN | POLLERR | POLLHUP))
			return (ad_conn_recv(c, fn, arg, err, errlen));
		return (0);
	default:
		snprintf(err, errlen, "not connected");
		return (-1);
	}
}
