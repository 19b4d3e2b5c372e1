/*
 * files/files.c - the operations on uploads and on an agent's workspace
 * files:
 *
 *	uploads.create		POST /api/agents/{id}/upload; the gateway has
 *				parsed the multipart body into {filename,
 *				content_type, data (base64)}
 *	uploads.get		GET /api/uploads/{file_id}; answers the bytes
 *				as base64 ("data"), which the gateway decodes
 *				and serves with their content type
 *	agents.files_list	GET /api/agents/{id}/files
 *	agents.files_get	GET /api/agents/{id}/files/{name}
 *	agents.files_put	PUT /api/agents/{id}/files/{name}
 *	agents.files_delete	DELETE /api/agents/{id}/files/{filename}
 *
 * Workspace files are the regular files at the top of the agent's
 * workspace (tool_workspace()).  A name is one path component
 * (upload_name_check()), and every access goes through a descriptor of
 * the workspace directory with openat(O_NOFOLLOW), renameat and unlinkat,
 * so neither "..", a '/' nor a symbolic link planted in the workspace
 * leads outside it.  A write goes to a temporary file renamed over the
 * name, so a reader never sees half a file.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/agent.h"
#include "err.h"
#include "files/upload.h"
#include "log.h"
#include "ops.h"
#include "tool/tool.h"
#include "util.h"

#define FILES_MAX		UPLOAD_MAX	/* bytes of one workspace file */
#define FILES_LIST_MAX		1000
#define FILES_TMP_PREFIX	".lf-tmp-"
#define SQLSTATE_FOREIGN_KEY	"23503"

#define FILES_TS(col)							\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS " col

static const char SQL_UPLOAD_INSERT[] =
	"INSERT INTO uploads (id, agent_id, filename, content_type, size, "
	"    data) "
	"VALUES ($1::uuid, $2::uuid, $3, $4, $5::bigint, decode($6, 'base64')) "
	"RETURNING " FILES_TS("created_at");
static const char SQL_UPLOAD_GET[] =
	"SELECT id::text AS file_id, agent_id::text AS agent_id, filename, "
	"    content_type, size, " FILES_TS("created_at") ", "
	"    translate(encode(data, 'base64'), E'\\n', '') AS data "
	"FROM uploads WHERE id = $1::uuid";

/* ---- input ----------------------------------------------------------- */

/* A string that holds no NUL (jansson strings may). */
static int
files_plain(json_t *v)
{
	return (json_is_string(v) &&
	    strlen(json_string_value(v)) == json_string_length(v));
}

/* params.name, a valid file name. */
static int
files_param_name(const struct msg_req *rq, struct svc_reply *rp,
    const char **out)
{
	json_t	*v = json_object_get(rq->mr_params, PARAM_NAME);
	char	 err[UPLOAD_ERRLEN];

	if (!files_plain(v)) {
		svc_reply_error(rp, 400, "Invalid file name");
		return (-1);
	}
	if (upload_name_check(json_string_value(v), err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "Invalid file name: %s", err);
		return (-1);
	}
	*out = json_string_value(v);
	return (0);
}

/*
 * The agent's workspace directory as a descriptor (caller closes), or -1
 * after replying (400/404 for the agent, 500 if the directory cannot be
 * made).  id receives the agent id.
 */
static int
files_open_workspace(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, char id[UTIL_UUID_LEN])
{
	json_t		*row;
	const char	*name;
	char		 path[PATH_MAX];
	int		 fd = -1;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    (row = agent_fetch(c, id, 0, rp)) == NULL)
		return (-1);
	name = json_string_value(json_object_get(row, "name"));
	if (name == NULL || tool_workspace(c->sc_cfg, name, path,
	    sizeof(path)) != 0 || (fd = open(path, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_warn("workspace of agent %s ('%s')", id,
		    name != NULL ? name : "?");
		svc_reply_error(rp, 500, "the agent's workspace is "
		    "unavailable");
	}
	json_decref(row);
	return (fd);
}

/* Replies for a failed file system call on name. */
static void
files_reply_errno(struct svc_reply *rp, int err, const char *name,
    const char *what)
{
	switch (err) {
	case ENOENT:
		svc_reply_error(rp, 404, "File not found");
		break;
	case ELOOP:
		svc_reply_error(rp, 400, "'%s' is a symbolic link", name);
		break;
	case EISDIR:
	case ENOTDIR:
	case EPERM:
		svc_reply_error(rp, 400, "'%s' is not a regular file", name);
		break;
	case EACCES:
		svc_reply_error(rp, 403, "'%s' is not accessible", name);
		break;
	default:
		log_warnx("%s '%s': %s", what, name, strerror(err));
		svc_reply_error(rp, 500, "could not %s '%s'", what, name);
		break;
	}
}

/* ---- workspace files ------------------------------------------------- */

struct files_ent {
	char		*fe_name;
	long long	 fe_size;
	int64_t		 fe_mtime_ms;
};

static int
files_ent_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct files_ent *)a)->fe_name,
	    ((const struct files_ent *)b)->fe_name));
}

/* Reads the regular files of directory dfd (borrowed) into *entsp. */
static int
files_scan(int dfd, struct files_ent **entsp, size_t *np, int *more)
{
	struct files_ent	*ents = NULL, *e;
	struct dirent		*de;
	struct stat		 st;
	DIR			*d;
	size_t			 n = 0, cap = 0;
	int			 fd;

	*more = 0;
	if ((fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return (-1);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, FILES_TMP_PREFIX,
		    strlen(FILES_TMP_PREFIX)) == 0 ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == FILES_LIST_MAX) {
			*more = 1;
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			if ((e = reallocarray(ents, cap, sizeof(*e))) == NULL)
				goto fail;
			ents = e;
		}
		if ((ents[n].fe_name = strdup(de->d_name)) == NULL)
			goto fail;
		ents[n].fe_size = (long long)st.st_size;
		ents[n].fe_mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
		    st.st_mtim.tv_nsec / 1000000;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(ents, n, sizeof(*ents), files_ent_cmp);
	*entsp = ents;
	*np = n;
	return (0);
fail:
	closedir(d);
	while (n > 0)
		free(ents[--n].fe_name);
	free(ents);
	return (-1);
}

static void
op_files_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct files_ent	*ents = NULL;
	json_t			*files, *o, *name;
	char			 id[UTIL_UUID_LEN], ts[32];
	size_t			 n = 0, i;
	int			 dfd, more;

	if ((dfd = files_open_workspace(c, rq, rp, id)) == -1)
		return;
	if (files_scan(dfd, &ents, &n, &more) != 0) {
		log_warn("%s: workspace of agent %s", __func__, id);
		svc_reply_error(rp, 500, "could not list the workspace");
		close(dfd);
		return;
	}
	close(dfd);
	files = json_array();
	for (i = 0; i < n; i++) {
		/* A name that is not UTF-8 cannot be shown in JSON. */
		if ((name = json_string(ents[i].fe_name)) == NULL)
			continue;
		util_rfc3339(ents[i].fe_mtime_ms, ts);
		o = json_pack("{s:o, s:I, s:s}", "name", name, "size_bytes",
		    (json_int_t)ents[i].fe_size, "modified_at", ts);
		if (o == NULL || json_array_append_new(files, o) != 0) {
			json_decref(files);
			files = NULL;
			break;
		}
	}
	for (i = 0; i < n; i++)
		free(ents[i].fe_name);
	free(ents);
	svc_reply_json(rp, 200, files == NULL ? NULL : json_pack("{s:s, s:o, "
	    "s:I, s:b}", "agent_id", id, "files", files, "total",
	    (json_int_t)json_array_size(files), "truncated", more));
}

/* Reads all of fd (a regular file of size bytes) into a new buffer. */
static unsigned char *
files_read_fd(int fd, size_t size, size_t *lenp)
{
	unsigned char	*data;
	size_t		 len = 0;
	ssize_t		 r;

	if ((data = malloc(size + 1)) == NULL)
		return (NULL);
	/* Stop at the size seen: a file growing meanwhile is cut there. */
	while (len < size) {
		if ((r = read(fd, data + len, size - len)) < 0) {
			if (errno == EINTR)
				continue;
			free(data);
			return (NULL);
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	data[len] = '\0';
	*lenp = len;
	return (data);
}

static void
op_files_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct stat	 st;
	unsigned char	*data = NULL;
	const char	*name;
	char		 id[UTIL_UUID_LEN], *b64;
	json_t		*content, *o;
	size_t		 len;
	int		 dfd, fd;

	if (files_param_name(rq, rp, &name) != 0 ||
	    (dfd = files_open_workspace(c, rq, rp, id)) == -1)
		return;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		files_reply_errno(rp, errno, name, "read");
		close(dfd);
		return;
	}
	close(dfd);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		svc_reply_error(rp, 400, "'%s' is not a regular file", name);
		goto done;
	}
	if (st.st_size > FILES_MAX) {
		svc_reply_error(rp, 400, "'%s' is too large to read here: "
		    "%lld bytes (the limit is %d)", name,
		    (long long)st.st_size, FILES_MAX);
		goto done;
	}
	if ((data = files_read_fd(fd, (size_t)st.st_size, &len)) == NULL) {
		files_reply_errno(rp, errno, name, "read");
		goto done;
	}
	/* Text as it is; anything that is not UTF-8 as base64. */
	if ((content = json_stringn((char *)data, len)) != NULL)
		o = json_pack("{s:s, s:o, s:I}", "name", name, "content",
		    content, "size_bytes", (json_int_t)len);
	else if ((b64 = upload_b64_encode(data, len)) != NULL) {
		o = json_pack("{s:s, s:s, s:s, s:I}", "name", name, "content",
		    b64, "encoding", "base64", "size_bytes", (json_int_t)len);
		free(b64);
	} else
		o = NULL;
	svc_reply_json(rp, 200, o);
done:
	free(data);
	close(fd);
}

static const char *const files_put_keys[] = { "content", "encoding", NULL };

static void
op_files_put(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t			*body = rq->mr_body, *content;
	unsigned char		*decoded = NULL;
	const unsigned char	*data;
	const char		*name, *enc;
	char			 id[UTIL_UUID_LEN], tmp[64], uuid[UTIL_UUID_LEN];
	size_t			 len;
	int			 dfd = -1, fd, rv, err;

	if (files_param_name(rq, rp, &name) != 0 ||
	    agent_body_keys(body, files_put_keys, rp) != 0 ||
	    agent_get_str(body, "encoding", 1, 16, &enc, rp) != 0)
		return;
	content = json_object_get(body, "content");
	if (!json_is_string(content)) {
		svc_reply_error(rp, 400, "'content' must be a string");
		return;
	}
	data = (const unsigned char *)json_string_value(content);
	len = json_string_length(content);
	if (enc != NULL && strcasecmp(enc, "base64") == 0) {
		if ((rv = upload_b64_decode((const char *)data, len, &decoded,
		    &len)) != 0) {
			svc_reply_error(rp, rv == SH_ENOMEM ? 500 : 400,
			    rv == SH_ENOMEM ? "out of memory" :
			    "'content' is not valid base64");
			return;
		}
		data = decoded;
	} else if (enc != NULL && strcasecmp(enc, "utf-8") != 0 &&
	    strcasecmp(enc, "utf8") != 0) {
		svc_reply_error(rp, 400, "'encoding' must be \"utf-8\" or "
		    "\"base64\"");
		return;
	}
	if (len > FILES_MAX) {
		svc_reply_error(rp, 413, "file too large: %zu bytes (the limit "
		    "is %d)", len, FILES_MAX);
		goto done;
	}
	if ((dfd = files_open_workspace(c, rq, rp, id)) == -1)
		goto done;
	util_uuid4(uuid);
	snprintf(tmp, sizeof(tmp), "%s%s", FILES_TMP_PREFIX, uuid);
	if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		files_reply_errno(rp, errno, name, "write");
		goto done;
	}
	rv = upload_write_all(fd, data, len);
	err = errno;
	if (close(fd) != 0 && rv == 0) {
		rv = -1;
		err = errno;
	}
	/* rename() replaces a symbolic link itself, never its target. */
	if (rv == 0 && renameat(dfd, tmp, dfd, name) != 0) {
		rv = -1;
		err = errno;
	}
	if (rv != 0) {
		unlinkat(dfd, tmp, 0);
		files_reply_errno(rp, err, name, "write");
		goto done;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:I}", "status", "saved",
	    "name", name, "size_bytes", (json_int_t)len));
done:
	if (dfd != -1)
		close(dfd);
	free(decoded);
}

static void
op_files_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*name;
	char		 id[UTIL_UUID_LEN];
	int		 dfd;

	if (files_param_name(rq, rp, &name) != 0 ||
	    (dfd = files_open_workspace(c, rq, rp, id)) == -1)
		return;
	/* unlinkat() of a symbolic link removes the link only. */
	if (unlinkat(dfd, name, 0) != 0)
		files_reply_errno(rp, errno, name, "delete");
	else
		svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status",
		    "deleted", "name", name));
	close(dfd);
}

/* ---- uploads --------------------------------------------------------- */

static const char *const upload_create_keys[] = {
	"filename", "content_type", "data", NULL
};

static void
op_upload_create(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*body = rq->mr_body, *row, *data;
	PGresult	*res;
	unsigned char	*bytes;
	const char	*fname, *ctype, *p[6];
	char		 aid[UTIL_UUID_LEN], fid[UTIL_UUID_LEN];
	char		 err[UPLOAD_ERRLEN], size[32], url[64];
	size_t		 len;
	int		 rv;

	if (svc_param_agent_id(rq, rp, aid) != 0 ||
	    agent_body_keys(body, upload_create_keys, rp) != 0 ||
	    agent_get_str(body, "filename", 0, UPLOAD_NAME_MAX, &fname,
	    rp) != 0 ||
	    agent_get_str(body, "content_type", 1, UPLOAD_CTYPE_MAX, &ctype,
	    rp) != 0)
		return;
	if (fname == NULL || !files_plain(json_object_get(body,
	    "filename"))) {
		svc_reply_error(rp, 400, "'filename' is required");
		return;
	}
	if (upload_name_check(fname, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "Invalid file name: %s", err);
		return;
	}
	if (ctype == NULL || *ctype == '\0')
		ctype = "application/octet-stream";
	else if (upload_ctype_check(ctype, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "Invalid content type: %s", err);
		return;
	}
	data = json_object_get(body, "data");
	if (!json_is_string(data)) {
		svc_reply_error(rp, 400, "'data' must be a base64 string");
		return;
	}
	if (json_string_length(data) > (size_t)UPLOAD_MAX / 3 * 4 + 4) {
		svc_reply_error(rp, 413, "file too large (the limit is %d "
		    "bytes)", UPLOAD_MAX);
		return;
	}
	if ((rv = upload_b64_decode(json_string_value(data),
	    json_string_length(data), &bytes, &len)) != 0) {
		svc_reply_error(rp, rv == SH_ENOMEM ? 500 : 400, "%s",
		    rv == SH_ENOMEM ? "out of memory" :
		    "'data' is not valid base64");
		return;
	}
	free(bytes);
	if (len > UPLOAD_MAX) {
		svc_reply_error(rp, 413, "file too large: %zu bytes (the limit "
		    "is %d)", len, UPLOAD_MAX);
		return;
	}
	if ((row = agent_fetch(c, aid, 0, rp)) == NULL)
		return;
	json_decref(row);

	util_uuid4(fid);
	snprintf(size, sizeof(size), "%zu", len);
	p[0] = fid;
	p[1] = aid;
	p[2] = fname;
	p[3] = ctype;
	p[4] = size;
	p[5] = json_string_value(data);
	if ((res = db_exec(c->sc_db, SQL_UPLOAD_INSERT, 6, p)) == NULL) {
		if (strcmp(db_sqlstate(c->sc_db), SQLSTATE_FOREIGN_KEY) == 0)
			svc_reply_error(rp, 404, "Agent not found");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	snprintf(url, sizeof(url), "/api/uploads/%s", fid);
	svc_reply_json(rp, 201, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}",
	    "file_id", fid, "filename", fname, "content_type", ctype,
	    "agent_id", aid, "size", (json_int_t)len, "url", url,
	    "created_at", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : ""));
	PQclear(res);
}

static void
op_upload_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;
	const char	*fid = json_string_value(json_object_get(rq->mr_params,
			    PARAM_ID));

	if (fid == NULL || !util_uuid_valid(fid)) {
		svc_reply_error(rp, 400, "Invalid file ID");
		return;
	}
	if ((res = db_exec(c->sc_db, SQL_UPLOAD_GET, 1, &fid)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) != 1)
		svc_reply_error(rp, 404, "File not found");
	else
		svc_reply_json(rp, 200, db_row_json(res, 0));
	PQclear(res);
}

const struct svc_op upload_ops[] = {
	{ OP_UPLOADS_CREATE,		op_upload_create },
	{ OP_UPLOADS_GET,		op_upload_get },
	{ OP_AGENTS_FILES_LIST,		op_files_list },
	{ OP_AGENTS_FILES_GET,		op_files_get },
	{ OP_AGENTS_FILES_PUT,		op_files_put },
	{ OP_AGENTS_FILES_DELETE,	op_files_delete },
	{ NULL,				NULL }
};
