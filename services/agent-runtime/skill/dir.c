/*
 * skill/dir.c - a skill directory read for an install: skill.toml (or
 * SKILL.md), prompt_context.md and the supporting files, with the
 * supply-chain rules of notes/extensions.md 1.4 applied as it is read.
 *
 * Everything is opened relative to the directory's descriptor with
 * O_NOFOLLOW, and every entry is looked at with AT_SYMLINK_NOFOLLOW: a
 * symbolic link anywhere refuses the skill (it could point out of the
 * directory), as does a *.pth file (a Python start-up hook).  Hidden
 * entries, .git, node_modules and target are not read.  Nothing is
 * written: the caller stores what this returns, after the scan.
 *
 * The registry checkout's listing reads only each directory's
 * skill.toml or SKILL.md, the same way.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "err.h"
#include "skill/skill.h"

#define DIR_DEPTH_MAX	4

/* Reads regular file name (under dfd) of at most max bytes as text:
 * 0 with *out (new), or -1 with err.  O_NONBLOCK: a FIFO put in the
 * file's place is refused, never waited on. */
static int
read_text(int dfd, const char *name, const char *path, size_t max,
    char **out, char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf = NULL;
	ssize_t		 r;
	size_t		 n = 0;
	int		 fd;

	*out = NULL;
	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "could not read '%s': %s", path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a regular file", path);
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, errlen, "'%s' is larger than %zu bytes", path,
		    max);
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* Bounded by the size fstat saw: a file growing meanwhile is cut,
	 * never read past max. */
	while (n < (size_t)st.st_size && (r = read(fd, buf + n,
	    (size_t)st.st_size - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	if (strlen(buf) != n) {
		snprintf(err, errlen, "'%s' is not text (it holds a NUL)",
		    path);
		goto fail;
	}
	close(fd);
	*out = buf;
	return (0);
 fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return (-1);
}

struct dir_load {
	json_t	*dl_files;	/* {path: text} */
	char	*dl_toml, *dl_md, *dl_prompt;
	size_t	 dl_total;
};

/* 1 for a *.pth name, any case. */
static int
is_pth(const char *name)
{
	size_t	n = strlen(name);

	return (n >= 4 && strcasecmp(name + n - 4, ".pth") == 0);
}

static int
walk(int dfd, const char *prefix, int depth, struct dir_load *dl,
    int *statusp, char *err, size_t errlen)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	json_t		*v;
	char		 path[SKILL_PATH_MAX + 2], *text;
	int		 sub, ret = -1;

	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		snprintf(err, errlen, "could not read '%s': %s", *prefix ?
		    prefix : ".", strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "node_modules")
		    == 0 || strcmp(de->d_name, "target") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ?
		    "/" : "", de->d_name) >= (int)sizeof(path) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) !=
		    0) {
			snprintf(err, errlen, "could not read '%.64s...'",
			    path);
			goto done;
		}
		if (S_ISLNK(st.st_mode)) {
			*statusp = 403;
			snprintf(err, errlen, "Security blocked: '%s' "
			    "[symlink-escape]: a symbolic link", path);
			goto done;
		}
		if (S_ISDIR(st.st_mode)) {
			if (depth >= DIR_DEPTH_MAX)
				continue;
			if ((sub = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
			    walk(sub, path, depth + 1, dl, statusp, err,
			    errlen) != 0) {
				if (sub < 0)
					snprintf(err, errlen, "could not read "
					    "'%s': %s", path, strerror(errno));
				goto done;
			}
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (is_pth(de->d_name)) {
			*statusp = 403;
			snprintf(err, errlen, "Security blocked: '%s' "
			    "[pth-import-hijack]: a Python path hook", path);
			goto done;
		}
		if (depth == 0 && strcmp(de->d_name, "skill.toml") == 0) {
			if (read_text(dirfd(d), de->d_name, path,
			    SKILL_TOML_MAX, &dl->dl_toml, err, errlen) != 0)
				goto done;
			continue;
		}
		if (depth == 0 && strcmp(de->d_name, "SKILL.md") == 0) {
			if (read_text(dirfd(d), de->d_name, path, SKILL_MD_MAX,
			    &dl->dl_md, err, errlen) != 0)
				goto done;
			continue;
		}
		if (depth == 0 && strcmp(de->d_name, "prompt_context.md") == 0) {
			if (read_text(dirfd(d), de->d_name, path,
			    SKILL_PROMPT_MAX, &dl->dl_prompt, err, errlen) != 0)
				goto done;
			continue;
		}
		if (json_object_size(dl->dl_files) >= SKILL_FILES_MAX) {
			snprintf(err, errlen, "more than %d supporting files",
			    SKILL_FILES_MAX);
			goto done;
		}
		if (read_text(dirfd(d), de->d_name, path, SKILL_FILE_MAX,
		    &text, err, errlen) != 0)
			goto done;
		dl->dl_total += strlen(text);
		v = json_string(text);
		free(text);
		if (v == NULL) {
			snprintf(err, errlen, "'%s' is not UTF-8 text", path);
			goto done;
		}
		if (dl->dl_total > SKILL_FILES_TOTAL) {
			json_decref(v);
			snprintf(err, errlen, "the supporting files hold more "
			    "than %d bytes", SKILL_FILES_TOTAL);
			goto done;
		}
		json_object_set_new(dl->dl_files, path, v);
	}
	ret = 0;
 done:
	closedir(d);
	return (ret);
}

int
skill_dir_load(const char *dir, const char *fallback, json_t **mp,
    char **promptp, json_t **filesp, int *statusp, char *err, size_t errlen)
{
	struct dir_load	 dl;
	char		*prompt = NULL;
	int		 dfd, ret = -1;

	*mp = NULL;
	*promptp = NULL;
	*filesp = NULL;
	*statusp = 400;
	memset(&dl, 0, sizeof(dl));
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		*statusp = errno == ENOENT || errno == ENOTDIR ? 404 : 400;
		snprintf(err, errlen, "no skill directory at '%s'", dir);
		return (-1);
	}
	if ((dl.dl_files = json_object()) == NULL) {
		close(dfd);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	if (walk(dfd, "", 0, &dl, statusp, err, errlen) != 0)
		goto done;
	*statusp = 400;
	if (dl.dl_toml != NULL)
		*mp = skill_manifest_parse(dl.dl_toml, strlen(dl.dl_toml),
		    &prompt, err, errlen);
	else if (dl.dl_md != NULL)
		*mp = skill_md_convert(dl.dl_md, strlen(dl.dl_md), fallback,
		    &prompt, err, errlen);
	else
		snprintf(err, errlen, "the directory has no skill.toml and no "
		    "SKILL.md");
	if (*mp == NULL)
		goto done;
	/* The manifest's inline prompt, else prompt_context.md. */
	if (prompt == NULL) {
		prompt = dl.dl_prompt;
		dl.dl_prompt = NULL;
	}
	*promptp = prompt;
	*filesp = dl.dl_files;
	dl.dl_files = NULL;
	ret = 0;
 done:
	json_decref(dl.dl_files);
	free(dl.dl_toml);
	free(dl.dl_md);
	free(dl.dl_prompt);
	return (ret);
}

/* The manifest of directory dir (under rfd) from its skill.toml or
 * SKILL.md alone (new), or NULL. */
static json_t *
entry_manifest(int rfd, const char *dir)
{
	json_t	*m = NULL;
	char	*text = NULL, *prompt = NULL, err[256], path[300];
	int	 dfd;

	if ((dfd = openat(rfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return (NULL);
	snprintf(path, sizeof(path), "%s/skill.toml", dir);
	if (read_text(dfd, "skill.toml", path, SKILL_TOML_MAX, &text, err,
	    sizeof(err)) == 0)
		m = skill_manifest_parse(text, strlen(text), &prompt, err,
		    sizeof(err));
	else if (read_text(dfd, "SKILL.md", path, SKILL_MD_MAX, &text, err,
	    sizeof(err)) == 0)
		m = skill_md_convert(text, strlen(text), dir, &prompt, err,
		    sizeof(err));
	close(dfd);
	free(text);
	free(prompt);
	return (m);
}

json_t *
skill_registry_read(const char *home)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	json_t		*out = json_array(), *m, *sk;
	char		 root[PATH_MAX];
	int		 rfd;

	if (out == NULL || snprintf(root, sizeof(root), "%s/registry/skills",
	    home) >= (int)sizeof(root))
		return (out);
	if ((rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(rfd)) == NULL) {
		if (rfd >= 0)
			close(rfd);
		return (out);	/* no checkout: nothing in it */
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
		    (m = entry_manifest(dirfd(d), de->d_name)) == NULL)
			continue;
		sk = json_object_get(m, "skill");
		json_array_append_new(out, json_pack("{s:O, s:O, s:O, s:O, s:O, "
		    "s:s, s:s}", "name", json_object_get(sk, "name"),
		    "description", json_object_get(sk, "description"),
		    "version", json_object_get(sk, "version"),
		    "author", json_object_get(sk, "author"),
		    "tags", json_object_get(sk, "tags"),
		    "install_id", de->d_name,
		    "runtime", skill_runtime_name(m)));
		json_decref(m);
		if (json_array_size(out) >= SKILL_REGISTRY_MAX)
			break;
	}
	closedir(d);
	return (out);
}
