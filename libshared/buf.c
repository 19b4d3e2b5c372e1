/*
 * buf.c - growable buffer with a ceiling.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

void
buf_init(struct buf *b, size_t max)
{
	b->b_data = NULL;
	b->b_len = 0;
	b->b_cap = 0;
	b->b_max = max;
}

int
buf_add(struct buf *b, const void *data, size_t len)
{
	size_t	 need, ncap;
	char	*n;

	if (len > b->b_max || b->b_len > b->b_max - len) {
		buf_release(b);
		return (SH_ETOOBIG);
	}
	need = b->b_len + len + 1;
	if (need > b->b_cap) {
		ncap = b->b_cap ? b->b_cap : 64;
		while (ncap < need)
			ncap *= 2;
		if (ncap > b->b_max + 1)
			ncap = b->b_max + 1;
		if ((n = realloc(b->b_data, ncap)) == NULL) {
			buf_release(b);
			return (SH_ENOMEM);
		}
		b->b_data = n;
		b->b_cap = ncap;
	}
	if (len > 0)
		memcpy(b->b_data + b->b_len, data, len);
	b->b_len += len;
	b->b_data[b->b_len] = '\0';
	return (0);
}

int
buf_adds(struct buf *b, const char *s)
{
	return (buf_add(b, s, strlen(s)));
}

int
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	 small[256], *big;
	int	 n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf_release(b);
		return (SH_EINVAL);
	}
	if ((size_t)n < sizeof(small))
		return (buf_add(b, small, (size_t)n));
	if ((big = malloc((size_t)n + 1)) == NULL) {
		buf_release(b);
		return (SH_ENOMEM);
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = buf_add(b, big, (size_t)n);
	free(big);
	return (rc);
}

void
buf_reset(struct buf *b)
{
	b->b_len = 0;
	if (b->b_data != NULL)
		b->b_data[0] = '\0';
}

void
buf_release(struct buf *b)
{
	free(b->b_data);
	b->b_data = NULL;
	b->b_len = 0;
	b->b_cap = 0;
}

char *
buf_detach(struct buf *b)
{
	char	*d = b->b_data;

	if (d == NULL)
		d = strdup("");
	b->b_data = NULL;
	b->b_len = 0;
	b->b_cap = 0;
	return (d);
}
