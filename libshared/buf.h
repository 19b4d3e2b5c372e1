/*
 * buf.h - a growable byte buffer with a hard ceiling (curl's dynbuf).
 *
 * b_data is always NUL-terminated when non-NULL.  An append that would
 * pass b_max fails with SH_ETOOBIG, and any failed append resets the
 * buffer, so callers only propagate the error.
 */
#ifndef SH_BUF_H
#define SH_BUF_H

#include <stddef.h>

struct buf {
	char	*b_data;
	size_t	 b_len;
	size_t	 b_cap;
	size_t	 b_max;
};

#define BUF_INIT(max)	{ NULL, 0, 0, (max) }

void	 buf_init(struct buf *b, size_t max);
int	 buf_add(struct buf *b, const void *data, size_t len);
int	 buf_adds(struct buf *b, const char *s);
int	 buf_addf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Empties the buffer, keeping its memory. */
void	 buf_reset(struct buf *b);
/* Frees the memory; the buffer may be used again. */
void	 buf_release(struct buf *b);
/* Returns the data (new, caller frees; "" if empty) and empties b. */
char	*buf_detach(struct buf *b);

#endif /* SH_BUF_H */
