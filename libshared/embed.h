/*
 * embed.h - text files compiled into a program.
 *
 * deploy/file2c.sh turns files into a table of these, so a service needs
 * no data files at run time (agent templates, the model catalog, the
 * dashboard).
 */
#ifndef SH_EMBED_H
#define SH_EMBED_H

#include <stddef.h>

struct embed_file {
	const char	*ef_name;	/* path under the embedded directory */
	const char	*ef_text;	/* NUL-terminated */
	size_t		 ef_len;	/* bytes, without the NUL */
	/* file2c.sh -z: the text's `gzip -9n` copy; else NULL, 0 */
	const char	*ef_gz;
	size_t		 ef_gzlen;
};

#endif /* SH_EMBED_H */
