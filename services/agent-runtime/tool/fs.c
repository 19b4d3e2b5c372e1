/*
 * tool/fs.c - file_read, file_write and file_list inside the agent's
 * workspace.
 *
 * Every path is walked from the workspace's own directory fd, one
 * component at a time, with openat(..., O_NOFOLLOW): "..", absolute paths
 * and NUL bytes are refused before any I/O, and a symlink anywhere on the
 * way (even one pointing inside) fails the open, so neither a planted
 * symlink nor one swapped in during the walk can lead outside.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "tool/tool.h"

#define TOOL_READ_MAX	(TOOL_RESULT_MAX - 256)

static void
fs_err(char *err, size_t errlen, const char *path, int e)
{
	if (e == ELOOP || e == EMLINK)
		snprintf(err, errlen, "Access denied: '%s' goes through a "
		    "symlink (symlinks are not followed)", path);
	else if (e == ENOENT)
		snprintf(err, errlen, "No such file or directory: '%s'", path);
	else if (e == ENOTDIR)
		snprintf(err, errlen, "Not a directory on the way to '%s'",
		    path);
	else if (e == EISDIR)
		snprintf(err, errlen, "'%s' is a directory", path);
	else
		snprintf(err, errlen, "cannot open '%s': %s", path,
		    strerror(e));
}

static int
fs_is_symlink(int dfd, const char *name)
{
	struct stat	st;

	return (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode));
}

/* 1 if nothing but "/" and "." components follow e. */
static int
fs_is_last(const char *e, const char *end)
{
	const char	*s;

	while (e < end) {
		s = e + 1;
		for (e = s; e < end && *e != '/'; e++)
			;
		if (e - s > 1 || (e - s == 1 && s[0] != '.'))
			return (0);
	}
	return (1);
}

int
tool_path_open(const char *ws, const char *path, size_t pathlen, int flags,
    int mkdirs, char *err, size_t errlen)
{
	char		 comp[NAME_MAX + 1];
	const char	*s, *e, *end;
	size_t		 n;
	int		 dfd, fd, e2;

	if (path == NULL || strlen(path) != pathlen) {
		snprintf(err, errlen, "Path traversal denied: NUL byte in "
		    "path");
		return (-1);
	}
	if (pathlen > TOOL_PATH_MAX) {
		snprintf(err, errlen, "invalid parameter 'path': longer than "
		    "%d bytes", TOOL_PATH_MAX);
		return (-1);
	}
	if (path[0] == '/' || path[0] == '\\') {
		snprintf(err, errlen, "Path traversal denied: absolute paths "
		    "are not allowed ('%s'); use a path relative to the "
		    "workspace", path);
		return (-1);
	}
	/* Check every component before touching the file system. */
	end = path + pathlen;
	for (s = path; s < end; s = e + 1) {
		for (e = s; e < end && *e != '/'; e++)
			;
		n = (size_t)(e - s);
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			snprintf(err, errlen, "Path traversal denied: '..' in "
			    "'%s'", path);
			return (-1);
		}
		if (n > NAME_MAX) {
			snprintf(err, errlen, "invalid parameter 'path': a "
			    "component is longer than %d bytes", NAME_MAX);
			return (-1);
		}
		if (memchr(s, '\\', n) != NULL) {
			snprintf(err, errlen, "invalid parameter 'path': "
			    "backslashes are not allowed");
			return (-1);
		}
	}
	if ((dfd = open(ws, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "workspace unavailable: %s",
		    strerror(errno));
		return (-1);
	}
	for (s = path; s < end; s = e + 1) {
		for (e = s; e < end && *e != '/'; e++)
			;
		n = (size_t)(e - s);
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;	/* "a//b", "./a", "a/" */
		memcpy(comp, s, n);
		comp[n] = '\0';
		if (fs_is_last(e, end)) {
			fd = openat(dfd, comp, flags | O_NOFOLLOW | O_CLOEXEC,
			    0600);
			e2 = errno;
			if (fd == -1 && e2 == ENOTDIR && fs_is_symlink(dfd,
			    comp))
				e2 = ELOOP;
			close(dfd);
			if (fd == -1) {
				fs_err(err, errlen, path, e2);
				return (-1);
			}
			return (fd);
		}
		fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd == -1 && errno == ENOENT && mkdirs) {
			if (mkdirat(dfd, comp, 0700) != 0 && errno != EEXIST) {
				e2 = errno;
				close(dfd);
				fs_err(err, errlen, path, e2);
				return (-1);
			}
			fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		}
		e2 = errno;
		/* O_DIRECTORY wins over O_NOFOLLOW: say symlink. */
		if (fd == -1 && e2 == ENOTDIR && fs_is_symlink(dfd, comp))
			e2 = ELOOP;
		close(dfd);
		if (fd == -1) {
			fs_err(err, errlen, path, e2);
			return (-1);
		}
		dfd = fd;
	}
	/* The path named the workspace itself ("", ".", "./"). */
	if ((flags & O_DIRECTORY) == 0) {
		close(dfd);
		snprintf(err, errlen, "'%s' is a directory", path);
		return (-1);
	}
	return (dfd);
}

static int
fs_open(struct tool_ctx *tc, const char *path, size_t len, int flags,
    int mkdirs, struct tool_result *r)
{
	char	err[512 + TOOL_PATH_MAX];
	int	fd;

	if (tc->tc_workspace == NULL) {
		tool_result_set(r, 1, 1, "this agent has no workspace");
		return (-1);
	}
	if ((fd = tool_path_open(tc->tc_workspace, path, len, flags, mkdirs,
	    err, sizeof(err))) == -1)
		tool_result_set(r, 1, 0, "%s", err);
	return (fd);
}

int
tool_file_read(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct stat	 st;
	const char	*path;
	char		*data = NULL;
	size_t		 len, got = 0;
	ssize_t		 n;
	int		 fd, rv;

	if (tool_arg_str(in, "path", 1, &path, &len, r) != 0)
		return (0);
	if ((fd = fs_open(tc, path, len, O_RDONLY | O_NONBLOCK, 0, r)) == -1)
		return (0);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return (tool_result_set(r, 1, 0, "'%s' is not a regular file",
		    path));
	}
	if ((data = malloc(TOOL_READ_MAX + 1)) == NULL) {
		close(fd);
		return (SH_ENOMEM);
	}
	while (got < TOOL_READ_MAX) {
		n = read(fd, data + got, TOOL_READ_MAX - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = tool_result_set(r, 1, 1, "cannot read '%s': %s",
			    path, strerror(errno));
			close(fd);
			free(data);
			return (rv);
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got == TOOL_READ_MAX && st.st_size > (off_t)got) {
		/* Cut on a line if one is near, and say so. */
		char	note[128];
		int	nl;

		nl = snprintf(note, sizeof(note), "\n[truncated: showing the "
		    "first %zu of %lld bytes]", got, (long long)st.st_size);
		while (got + (size_t)nl > TOOL_READ_MAX)
			got--;
		memcpy(data + got, note, (size_t)nl);
		got += (size_t)nl;
	}
	rv = tool_result_take(r, 0, 0, data, got);
	free(data);
	return (rv);
}

int
tool_file_write(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct stat	 st;
	const char	*path, *content;
	size_t		 len, clen, off = 0;
	ssize_t		 n;
	int		 fd;

	if (tool_arg_str(in, "path", 1, &path, &len, r) != 0 ||
	    tool_arg_str(in, "content", 1, &content, &clen, r) != 0)
		return (0);
	if (clen > TOOL_FILE_WRITE_MAX)
		return (tool_result_set(r, 1, 0, "invalid parameter 'content': "
		    "larger than %d bytes", TOOL_FILE_WRITE_MAX));
	/* No O_TRUNC yet: a hard link to a file elsewhere is refused
	 * before anything is changed. */
	if ((fd = fs_open(tc, path, len, O_WRONLY | O_CREAT | O_NONBLOCK, 1,
	    r)) == -1)
		return (0);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return (tool_result_set(r, 1, 0, "'%s' is not a regular file",
		    path));
	}
	if (st.st_nlink > 1) {
		close(fd);
		return (tool_result_set(r, 1, 0, "Access denied: '%s' has "
		    "other hard links", path));
	}
	if (ftruncate(fd, 0) != 0)
		goto fail;
	while (off < clen) {
		n = write(fd, content + off, clen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return (tool_result_set(r, 0, 0, "Successfully wrote %zu bytes to %s",
	    clen, path));
 fail:
	n = errno;
	if (fd != -1)
		close(fd);
	return (tool_result_set(r, 1, 1, "cannot write '%s': %s", path,
	    strerror((int)n)));
}

static int
fs_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

int
tool_file_list(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct buf	 b = BUF_INIT(TOOL_RESULT_MAX);
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	const char	*path;
	char		**names = NULL, **nn, *s;
	size_t		 len, n = 0, cap = 0, i;
	long long	 limit = TOOL_FILE_LIST_MAX, offset = 0;
	int		 fd, isdir, rv = 0;

	if (tool_arg_str(in, "path", 0, &path, &len, r) != 0 ||
	    tool_arg_int(in, "limit", 1, TOOL_FILE_LIST_MAX, &limit, r) != 0 ||
	    tool_arg_int(in, "offset", 0, 1000000000LL, &offset, r) != 0)
		return (0);
	if (path == NULL)
		path = ".", len = 1;
	if ((fd = fs_open(tc, path, len, O_RDONLY | O_DIRECTORY, 0, r)) == -1)
		return (0);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return (tool_result_set(r, 1, 1, "cannot list '%s': %s", path,
		    strerror(errno)));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN && fstatat(dirfd(d), de->d_name,
		    &st, AT_SYMLINK_NOFOLLOW) == 0)
			isdir = S_ISDIR(st.st_mode);
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nn = reallocarray(names, cap, sizeof(*names))) ==
			    NULL)
				goto nomem;
			names = nn;
		}
		if (asprintf(&s, "%s%s", de->d_name, isdir ? "/" : "") < 0)
			goto nomem;
		names[n++] = s;
	}
	closedir(d);
	d = NULL;
	if (n > 0)
		qsort(names, n, sizeof(*names), fs_cmp);
	for (i = (size_t)offset; i < n && i < (size_t)offset + (size_t)limit;
	    i++)
		if (buf_addf(&b, "%s\n", names[i]) != 0)
			break;
	if (n == 0)
		buf_adds(&b, "(empty directory)\n");
	else if ((size_t)offset > 0 || n > (size_t)limit)
		buf_addf(&b, "--- showing %zu of %zu entries (offset: %lld) "
		    "---\n", i > (size_t)offset ? i - (size_t)offset : 0, n,
		    offset);
	rv = tool_result_take(r, 0, 0, b.b_data ? b.b_data : "", b.b_len);
	goto done;
 nomem:
	rv = SH_ENOMEM;
 done:
	if (d != NULL)
		closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	buf_release(&b);
	return (rv);
}
