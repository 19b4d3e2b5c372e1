/*
 * err.h - project-wide error codes and assertions.
 *
 * A function that can fail returns int: 0 on success, and on failure -1 or
 * one of the negative SH_E* codes below.  sh_strerror() names them.
 * SH_ASSERT is for programmer errors only, never for checking input.
 */
#ifndef SH_ERR_H
#define SH_ERR_H

#include <stdio.h>
#include <stdlib.h>

#define SH_OK		 0
#define SH_ERR		-1	/* generic failure, already logged */
#define SH_ENOMEM	-2	/* out of memory */
#define SH_ETIMEDOUT	-3	/* deadline passed */
#define SH_EPROTO	-4	/* malformed message or protocol violation */
#define SH_ETOOBIG	-5	/* size ceiling reached */
#define SH_EINVAL	-6	/* invalid argument or value */
#define SH_ENOTFOUND	-7	/* no such thing */
#define SH_EIO		-8	/* I/O or system call failure */
#define SH_EUNAVAIL	-9	/* peer (database, broker, service) unavailable */
#define SH_ECANCELED	-10	/* cancelled by the caller */

/* Returns a static string naming code (never NULL, thread-safe). */
const char	*sh_strerror(int code);

#define SH_ASSERT(x) do {						\
	if (!(x)) {							\
		fprintf(stderr, "%s:%d: assertion failed: %s\n",	\
		    __FILE__, __LINE__, #x);				\
		abort();						\
	}								\
} while (0)

#endif /* SH_ERR_H */
