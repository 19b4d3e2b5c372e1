/*
 * skill/ops.c - skills.*: the skills as the API shows them.
 *
 *	skills.list       GET  /api/skills[?category=&offset=&limit=]
 *	skills.get        GET  /api/skills/{name}
 *	skills.file       GET  /api/skills/{name}/file?path=
 *	skills.create     POST /api/skills/create
 *	skills.install    POST /api/skills/install
 *	skills.uninstall  POST /api/skills/uninstall
 *	skills.reload     POST /api/skills/reload
 *	skills.registry   GET  /api/skills/registry
 *	marketplace.search GET /api/marketplace/search?q=
 *
 * Every read and write goes to runtime.skills on the worker's own
 * connection; a write here drops this replica's snapshot, and the
 * version its trigger stamps tells the other replicas' turns.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "err.h"
#include "ops.h"
#include "skill/skill.h"
#include "svc.h"
#include "toml.h"

#define SKILL_LIST_MAX	1000	/* a page, at most */

static const char SQL_LIST[] =
	"SELECT name, manifest, prompt_context <> '' AS has_prompt_context, "
	"    source, enabled FROM skills ORDER BY name COLLATE \"C\"";
static const char SQL_GET[] =
	"SELECT name, manifest, prompt_context, files, source, enabled, "
	"    to_char(created_at AT TIME ZONE 'UTC', "
	"    'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS created_at, "
	"    to_char(updated_at AT TIME ZONE 'UTC', "
	"    'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS updated_at "
	"FROM skills WHERE name = $1";
/* One row: "deleted", or "bundled" (kept), or none (not found). */
static const char SQL_DELETE[] =
	"WITH d AS (DELETE FROM skills WHERE name = $1 "
	"    AND source <> 'bundled' RETURNING 'deleted'::text AS r) "
	"SELECT r FROM d UNION ALL "
	"SELECT 'bundled' FROM skills WHERE name = $1 AND source = 'bundled'";
static const char SQL_COUNT[] =
	"SELECT count(*) FROM skills WHERE enabled";

/* ---- views ------------------------------------------------------------ */

/* The fields the list and the detail share (new). */
static json_t *
view_common(json_t *row)
{
	json_t		*m = json_object_get(row, "manifest");
	json_t		*sk = json_object_get(m, "skill");
	const char	*src = json_string_value(json_object_get(row,
			    "source"));

	return (json_pack("{s:O, s:O, s:O, s:O, s:O, s:s, s:s, s:{s:s?}, "
	    "s:b, s:O}",
	    "name", json_object_get(row, "name"),
	    "description", json_object_get(sk, "description"),
	    "version", json_object_get(sk, "version"),
	    "author", json_object_get(sk, "author"),
	    "tags", json_object_get(sk, "tags"),
	    "runtime", skill_runtime_name(m),
	    "category", skill_category(m),
	    "source", "type", src,
	    "bundled", src != NULL && strcmp(src, "bundled") == 0,
	    "enabled", json_object_get(row, "enabled")));
}

static json_t *
list_view(json_t *row)
{
	json_t	*v = view_common(row);

	if (v == NULL || json_object_set_new(v, "tools_count", json_integer(
	    (json_int_t)json_array_size(json_object_get(json_object_get(
	    json_object_get(row, "manifest"), "tools"), "provided")))) != 0 ||
	    json_object_set(v, "has_prompt_context", json_object_get(row,
	    "has_prompt_context")) != 0) {
		json_decref(v);
		return (NULL);
	}
	return (v);
}

/* {dir: [paths]} of the supporting files ("." for those at the top). */
static json_t *
linked_files(json_t *files)
{
	json_t		*out = json_object(), *l, *v;
	const char	*path, *slash;
	char		 dir[SKILL_PATH_MAX + 1];

	json_object_foreach(files, path, v) {
		slash = strchr(path, '/');
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) :
		    1, slash ? path : ".");
		if ((l = json_object_get(out, dir)) == NULL) {
			l = json_array();
			json_object_set_new(out, dir, l);
		}
		json_array_append_new(l, json_string(path));
	}
	return (out);
}

static json_t *
detail_view(json_t *row)
{
	json_t		*m = json_object_get(row, "manifest"), *t, *tools, *v;
	const char	*prompt = json_string_value(json_object_get(row,
			    "prompt_context")) ?: "";
	char		 path[SKILL_NAME_MAX + 16];
	size_t		 i;

	if ((v = view_common(row)) == NULL || (tools = json_array()) == NULL)
		goto fail;
	json_array_foreach(json_object_get(json_object_get(m, "tools"),
	    "provided"), i, t)
		json_array_append_new(tools, json_pack("{s:O, s:O}", "name",
		    json_object_get(t, "name"), "description",
		    json_object_get(t, "description")));
	snprintf(path, sizeof(path), "skills/%s", json_string_value(
	    json_object_get(row, "name")));
	if (json_object_set_new(v, "tools", tools) != 0 ||
	    json_object_update_missing_new(v, json_pack("{s:O, s:b, s:I, "
	    "s:s, s:o, s:{s:[], s:i, s:i, s:i}, s:s, s:O, s:O, s:O}",
	    "license", json_object_get(json_object_get(m, "skill"), "license"),
	    "has_prompt_context", *prompt != '\0',
	    "prompt_context_length", (json_int_t)strlen(prompt),
	    "path", path,
	    "linked_files", linked_files(json_object_get(row, "files")),
	    "evolution", "versions", "use_count", 0, "evolution_count", 0,
	    "mutation_count", 0,
	    "prompt_context", prompt,
	    "requirements", json_object_get(m, "requirements"),
	    "created_at", json_object_get(row, "created_at"),
	    "updated_at", json_object_get(row, "updated_at"))) != 0)
		goto fail;
	return (v);
 fail:
	json_decref(v);
	return (NULL);
}

/* params.name, checked: the name, or NULL after a 400. */
static const char *
param_skill(const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*name, *e;
	json_t		*v;

	if ((name = svc_param_name(rq, rp)) == NULL)
		return (NULL);
	v = json_object_get(rq->mr_params, PARAM_NAME);
	if ((e = skill_name_problem(name, json_string_length(v))) != NULL) {
		svc_reply_error(rp, 400, "invalid skill name: %s", e);
		return (NULL);
	}
	return (name);
}

/* The row of skill name (new), or NULL after a 404 or a 503. */
static json_t *
row_get(struct svc_ctx *c, const char *name, struct svc_reply *rp)
{
	const char	*p[1] = { name };
	json_t		*row;
	int		 e = 0;

	row = db_one_json(db_exec(c->sc_db, SQL_GET, 1, p), &e);
	if (row == NULL) {
		if (e == SH_ENOTFOUND)
			svc_reply_not_found(rp, "Skill", name);
		else
			svc_reply_db_error(rp, c);
	}
	return (row);
}

/* ---- reads -------------------------------------------------------------- */

static void
op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*rows, *row, *v, *list = NULL, *cats = NULL;
	const char	*want, *cat;
	long long	 offset, limit, total = 0;
	size_t		 i, j;

	want = json_string_value(json_object_get(rq->mr_query, "category"));
	if (svc_query_int(rq, "offset", 0, 1000000000LL, 0, &offset, rp) != 0
	    || svc_query_int(rq, "limit", 1, SKILL_LIST_MAX, SKILL_LIST_MAX,
	    &limit, rp) != 0)
		return;
	if ((rows = svc_rows(c, SQL_LIST, 0, NULL, NULL, rp)) == NULL)
		return;
	list = json_array();
	cats = json_array();
	json_array_foreach(rows, i, row) {
		cat = skill_category(json_object_get(row, "manifest"));
		json_array_foreach(cats, j, v)
			if (strcmp(json_string_value(v), cat) == 0)
				break;
		if (j == json_array_size(cats))
			json_array_append_new(cats, json_string(cat));
		if (want != NULL && *want != '\0' && strcmp(want, cat) != 0)
			continue;
		if (total++ >= offset && total <= offset + limit)
			svc_list_add(&list, list_view(row));
	}
	json_decref(rows);
	if (list == NULL || cats == NULL) {
		json_decref(list);
		json_decref(cats);
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:o, s:I, s:I, s:I, s:o}",
	    "skills", list, "total", (json_int_t)total, "offset",
	    (json_int_t)offset, "limit", (json_int_t)limit, "categories",
	    cats));
}

static void
op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*name;
	json_t		*row;

	if ((name = param_skill(rq, rp)) == NULL ||
	    (row = row_get(c, name, rp)) == NULL)
		return;
	svc_reply_json(rp, 200, detail_view(row));
	json_decref(row);
}

/* skills.file: a supporting file, or the two a skill always has: its
 * prompt_context.md and its skill.toml (the stored manifest). */
static void
op_file(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct buf	 b = BUF_INIT(SKILL_TOML_MAX);
	const char	*name, *path, *e, *content = NULL;
	json_t		*row, *m;

	if ((name = param_skill(rq, rp)) == NULL)
		return;
	path = json_string_value(json_object_get(rq->mr_query, "path"));
	if (path == NULL || *path == '\0') {
		svc_reply_error(rp, 400, "'path' is required");
		return;
	}
	if ((e = skill_path_problem(path)) != NULL) {
		svc_reply_error(rp, 400, "invalid path: %s", e);
		return;
	}
	if ((row = row_get(c, name, rp)) == NULL)
		return;
	m = json_object_get(row, "manifest");
	if (strcmp(path, "skill.toml") == 0) {
		/* What the manifest says, without the store's own fields. */
		if (toml_write_doc(&b, m) == 0)
			content = b.b_data;
	} else if (strcmp(path, "prompt_context.md") == 0)
		content = json_string_value(json_object_get(row,
		    "prompt_context"));
	else
		content = json_string_value(json_object_get(json_object_get(
		    row, "files"), path));
	if (content == NULL || (strcmp(path, "prompt_context.md") == 0 &&
	    *content == '\0')) {
		svc_reply_error(rp, 404, "File '%s' not found in skill '%s'",
		    path, name);
		goto done;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:s, s:b}", "name", name,
	    "path", path, "content", content, "truncated", 0));
 done:
	buf_release(&b);
	json_decref(row);
}

/* ---- writes ------------------------------------------------------------- */

static const char *const create_keys[] = {
	"name", "description", "prompt_context", "tags", "runtime",
	"manifest_toml", "skill_md", "files", NULL
};

/* The reference's body {name, description, prompt_context?, tags?,
 * runtime?} as a manifest document (new), or NULL after a 400. */
static json_t *
create_doc(json_t *body, struct svc_reply *rp)
{
	json_t		*name = json_object_get(body, "name");
	json_t		*desc = json_object_get(body, "description");
	json_t		*tags = json_object_get(body, "tags");
	json_t		*rt = json_object_get(body, "runtime");
	json_t		*pc = json_object_get(body, "prompt_context");
	const char	*e;

	if (!json_is_string(name)) {
		svc_reply_error(rp, 400, "'name' is required (a string)");
		return (NULL);
	}
	if ((e = skill_name_problem(json_string_value(name),
	    json_string_length(name))) != NULL) {
		svc_reply_error(rp, 400, "Failed to create skill: invalid "
		    "name: %s", e);
		return (NULL);
	}
	if (!json_is_string(desc) || json_string_length(desc) == 0) {
		svc_reply_error(rp, 400, "'description' is required (a "
		    "non-empty string)");
		return (NULL);
	}
	if ((pc != NULL && !json_is_string(pc)) || (rt != NULL &&
	    !json_is_string(rt)) || (tags != NULL && !json_is_array(tags))) {
		svc_reply_error(rp, 400, "'prompt_context' and 'runtime' are "
		    "strings, 'tags' an array of strings");
		return (NULL);
	}
	if (rt != NULL && strcmp(json_string_value(rt), "prompt_only") != 0 &&
	    strcmp(json_string_value(rt), "promptonly") != 0) {
		svc_reply_error(rp, 400, "Failed to create skill: runtime "
		    "'%.16s': only prompt-only skills can be created here",
		    json_string_value(rt));
		return (NULL);
	}
	return (json_pack("{s:{s:O, s:O, s:O*, s:s}, s:{s:O*}, s:O*}",
	    "skill", "name", name, "description", desc, "tags", tags,
	    "author", "agent-evolved",
	    "runtime", "type", rt,
	    "prompt_context", pc));
}

/* The skill a create body describes: its manifest (new) and prompt
 * (*promptp, new), or NULL after a 400. */
static json_t *
create_parse(json_t *body, char **promptp, struct svc_reply *rp)
{
	json_t		*toml = json_object_get(body, "manifest_toml");
	json_t		*md = json_object_get(body, "skill_md");
	json_t		*doc, *m = NULL, *pc = json_object_get(body,
			    "prompt_context");
	const char	*k;
	char		 err[512];
	int		 shapes = (toml != NULL) + (md != NULL);

	*promptp = NULL;
	if (shapes > 1 || (shapes == 1 && (json_object_get(body,
	    "description") != NULL || json_object_get(body, "tags") != NULL ||
	    json_object_get(body, "runtime") != NULL))) {
		svc_reply_error(rp, 400, "give one of: {name, description, "
		    "prompt_context?, tags?}, {manifest_toml, "
		    "prompt_context?}, {skill_md, name?}");
		return (NULL);
	}
	if (toml != NULL) {
		k = "manifest_toml";
		if (!json_is_string(toml) || json_object_get(body, "name") !=
		    NULL)
			goto badtype;
		m = skill_manifest_parse(json_string_value(toml),
		    json_string_length(toml), promptp, err, sizeof(err));
		/* A prompt_context beside the manifest is its
		 * prompt_context.md; the manifest's inline one wins. */
		if (m != NULL && *promptp == NULL && json_is_string(pc) &&
		    (*promptp = strdup(json_string_value(pc))) == NULL)
			goto nomem;
		if (m != NULL && pc != NULL && !json_is_string(pc)) {
			k = "prompt_context";
			goto badtype;
		}
	} else if (md != NULL) {
		k = "skill_md";
		if (!json_is_string(md) || pc != NULL ||
		    (json_object_get(body, "name") != NULL &&
		    !json_is_string(json_object_get(body, "name"))))
			goto badtype;
		m = skill_md_convert(json_string_value(md),
		    json_string_length(md), json_string_value(json_object_get(
		    body, "name")), promptp, err, sizeof(err));
	} else {
		if ((doc = create_doc(body, rp)) == NULL)
			return (NULL);
		m = skill_manifest_check(doc, promptp, err, sizeof(err));
		json_decref(doc);
	}
	if (m == NULL)
		svc_reply_error(rp, 400, "Failed to create skill: %s", err);
	return (m);
 badtype:
	svc_reply_error(rp, 400, "'%s' must be a string (and comes alone)", k);
	return (NULL);
 nomem:
	json_decref(m);
	svc_reply_error(rp, 500, "out of memory");
	return (NULL);
}

/*
 * Checks a skill (manifest m, prompt, files: borrowed) and stores it as
 * source: the files within their bounds, a prompt-only runtime, the scan
 * passed (a Critical finding refuses it with status blocked and the
 * findings), the name free.  0 with *warnp (new: the other findings),
 * or -1 after replying.  verb names the operation in error texts.
 */
static int
admit(struct svc_ctx *c, struct svc_reply *rp, json_t *m, const char *prompt,
    json_t *files, const char *source, int blocked, const char *verb,
    json_t **warnp)
{
	json_t		*findings = NULL;
	const char	*name = skill_manifest_name(m), *rt;
	char		*text = NULL, err[256];
	int		 crit, rv, ret = -1;

	*warnp = NULL;
	if (skill_files_check(files, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "Failed to %s skill: %s", verb, err);
		goto done;
	}
	if (prompt != NULL && strlen(prompt) > SKILL_PROMPT_MAX) {
		svc_reply_error(rp, 400, "Failed to %s skill: the prompt "
		    "context is at most %d bytes", verb, SKILL_PROMPT_MAX);
		goto done;
	}
	rt = skill_runtime_name(m);
	if (strcmp(rt, "prompt_only") != 0) {
		/* Refused rather than stored and never run. */
		svc_reply_error(rp, 400, "Failed to %s skill: runtime '%s' "
		    "cannot run here yet: only prompt-only skills can be "
		    "%sd", verb, rt, verb);
		goto done;
	}
	/* The scan, before anything is stored. */
	if ((findings = json_array()) == NULL ||
	    (crit = skill_scan(m, prompt, files, findings)) < 0) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	if (crit > 0) {
		text = skill_findings_text(findings, "Critical");
		svc_reply_json(rp, blocked, json_pack("{s:s+++, s:O}",
		    "error", blocked == 403 ? "Security blocked: skill '" :
		    "Failed to create skill: '", name, "' is blocked by the "
		    "security scan: ", text ? text : "", "findings", findings));
		goto done;
	}
	rv = skill_store_insert(c->sc_db, m, prompt, files, source);
	if (rv == SKILL_EEXIST) {
		svc_reply_error(rp, 409, "Skill '%s' already exists", name);
		goto done;
	}
	if (rv != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	*warnp = findings;
	findings = NULL;
	ret = 0;
 done:
	free(text);
	json_decref(findings);
	return (ret);
}

static void
op_create(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*body = rq->mr_body, *m = NULL, *warn;
	const char	*name;
	char		*prompt = NULL;

	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return;
	}
	if (svc_known_fields(body, create_keys, rp) != 0 ||
	    (m = create_parse(body, &prompt, rp)) == NULL)
		return;
	name = skill_manifest_name(m);
	if (admit(c, rp, m, prompt, json_object_get(body, "files"), "created",
	    400, "create", &warn) == 0)
		svc_reply_json(rp, 201, json_pack("{s:s, s:s, s:s, s:O, s:s+, "
		    "s:s++, s:o}", "status", "created", "skill", name, "name",
		    name, "version", json_object_get(json_object_get(m,
		    "skill"), "version"), "path", "skills/", name, "message",
		    "Skill '", name, "' created", "warnings", warn));
	free(prompt);
	json_decref(m);
}

/* skills.install: a skill directory on this host, from the registry
 * checkout (HOME/registry/skills/<name>: {name}) or HOME/skills
 * ({source: <absolute path>}); nothing else is read. */

static const char *const install_keys[] = {
	"name", "source", "verify", "hand", NULL
};

/* 0 when path, resolved into rpath (PATH_MAX), is an entry directly
 * under HOME-relative root, resolved. */
static int
under(const char *home, const char *root, const char *path, char *rpath)
{
	char	dir[PATH_MAX], rroot[PATH_MAX];
	size_t	n;

	if (snprintf(dir, sizeof(dir), "%s/%s", home, root) >=
	    (int)sizeof(dir) || realpath(dir, rroot) == NULL ||
	    realpath(path, rpath) == NULL)
		return (-1);
	n = strlen(rroot);
	return (strncmp(rpath, rroot, n) == 0 && rpath[n] == '/' &&
	    strchr(rpath + n + 1, '/') == NULL ? 0 : -1);
}

static void
op_install(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*body = rq->mr_body, *m = NULL, *files = NULL, *warn;
	json_t		*name = json_object_get(body, "name");
	json_t		*source = json_object_get(body, "source");
	json_t		*verify = json_object_get(body, "verify");
	const char	*home = c->sc_cfg->home_dir, *n, *e, *base;
	char		 dir[PATH_MAX], err[512], *prompt = NULL;
	int		 status;

	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return;
	}
	if (svc_known_fields(body, install_keys, rp) != 0)
		return;
	if (json_object_get(body, "hand") != NULL) {
		svc_reply_error(rp, 400, "'hand': installing into a hand is "
		    "not supported yet");
		return;
	}
	if (verify != NULL && !json_is_boolean(verify)) {
		svc_reply_error(rp, 400, "'verify' must be a boolean (the scan "
		    "always runs)");
		return;
	}
	if ((name == NULL) == (source == NULL)) {
		svc_reply_error(rp, 400, "give one of 'name' (a skill of the "
		    "registry checkout) and 'source' (a directory under "
		    "$LIBREFANG_HOME/skills)");
		return;
	}
	if (name != NULL) {
		n = json_string_value(name);
		/* The registry's directory names: the reference's rule. */
		if (n == NULL || json_string_length(name) == 0 ||
		    json_string_length(name) > SKILL_NAME_MAX ||
		    strlen(n) != json_string_length(name) || strspn(n,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-") != strlen(n) || *n == '-' || *n == '_') {
			svc_reply_error(rp, 400, "'name' must be 1-64 letters, "
			    "digits, '-' or '_', starting with a letter or a "
			    "digit");
			return;
		}
		snprintf(dir, sizeof(dir), "%s/registry/skills/%s", home, n);
	} else {
		n = json_string_value(source);
		if (n == NULL || *n != '/' || json_string_length(source) >=
		    sizeof(dir) || strlen(n) != json_string_length(source)) {
			svc_reply_error(rp, 400, "'source' must be an absolute "
			    "path");
			return;
		}
		/* The directory read is the resolved one. */
		if (under(home, "skills", n, dir) != 0 &&
		    under(home, "registry/skills", n, dir) != 0) {
			svc_reply_error(rp, 400, "'source' must be a skill "
			    "directory directly under $LIBREFANG_HOME/skills or "
			    "$LIBREFANG_HOME/registry/skills");
			return;
		}
	}
	base = strrchr(dir, '/') + 1;
	if (skill_dir_load(dir, base, &m, &prompt, &files, &status, err,
	    sizeof(err)) != 0) {
		if (status == 404)
			svc_reply_error(rp, 404, "Skill '%.64s' not found in "
			    "the registry", base);
		else
			svc_reply_error(rp, status, "%s%s", status == 403 ? "" :
			    "Failed to install skill: ", err);
		goto done;
	}
	if ((e = skill_manifest_name(m)) != NULL && admit(c, rp, m, prompt,
	    files, "local", 403, "install", &warn) == 0)
		svc_reply_json(rp, 201, json_pack("{s:s, s:s, s:s, s:O, s:o}",
		    "status", "installed", "skill", e, "name", e, "version",
		    json_object_get(json_object_get(m, "skill"), "version"),
		    "warnings", warn));
 done:
	free(prompt);
	json_decref(files);
	json_decref(m);
}

/* ---- the registry checkout ---------------------------------------------- */

static int
by_name(const void *a, const void *b)
{
	json_t	*const *x = a, *const *y = b;

	return (strcmp(json_string_value(json_object_get(*x, "name")) ?: "",
	    json_string_value(json_object_get(*y, "name")) ?: ""));
}

/* The registry's skills sorted by name, each with is_installed (new), or
 * NULL after a 503 or a 500. */
static json_t *
registry(struct svc_ctx *c, struct svc_reply *rp)
{
	json_t	*reg, *rows, *e, *r, *out, **v;
	size_t	 i, j, n;
	int	 inst;

	if ((rows = svc_rows(c, "SELECT name FROM skills", 0, NULL, NULL,
	    rp)) == NULL)
		return (NULL);
	reg = skill_registry_read(c->sc_cfg->home_dir);
	n = json_array_size(reg);
	out = json_array();
	if (reg == NULL || out == NULL || (v = calloc(n + 1,
	    sizeof(*v))) == NULL) {
		json_decref(rows);
		json_decref(reg);
		json_decref(out);
		svc_reply_error(rp, 500, "out of memory");
		return (NULL);
	}
	json_array_foreach(reg, i, e)
		v[i] = e;
	qsort(v, n, sizeof(*v), by_name);
	for (i = 0; i < n; i++) {
		inst = 0;
		json_array_foreach(rows, j, r)
			inst |= json_equal(json_object_get(r, "name"),
			    json_object_get(v[i], "name"));
		json_object_set_new(v[i], "is_installed", json_boolean(inst));
		json_array_append(out, v[i]);
	}
	free(v);
	json_decref(rows);
	json_decref(reg);
	return (out);
}

/* skills.registry: GET /api/skills/registry. */
static void
op_registry(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t	*l;

	(void)rq;
	if ((l = registry(c, rp)) != NULL)
		svc_reply_list(rp, "skills", l);
}

/* 1 if hay holds needle, ignoring ASCII case. */
static int
has_ci(const char *hay, const char *needle)
{
	return (hay != NULL && strcasestr(hay, needle) != NULL);
}

/* marketplace.search: GET /api/marketplace/search?q=: the registry
 * checkout's skills whose name or description holds q (any case; none:
 * all).  No network. */
static void
op_market_search(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*l, *e, *out;
	const char	*q = json_string_value(json_object_get(rq->mr_query,
			    "q")) ?: "";
	size_t		 i;

	if ((l = registry(c, rp)) == NULL)
		return;
	out = json_array();
	json_array_foreach(l, i, e) {
		if (*q != '\0' && !has_ci(json_string_value(json_object_get(e,
		    "name")), q) && !has_ci(json_string_value(json_object_get(
		    e, "description")), q))
			continue;
		svc_list_add(&out, json_pack("{s:O, s:O, s:O, s:O, s:i, s:i, "
		    "s:s, s:O, s:O}", "name", json_object_get(e, "name"),
		    "description", json_object_get(e, "description"),
		    "author", json_object_get(e, "author"),
		    "version", json_object_get(e, "version"),
		    "downloads", 0, "stars", 0, "url", "",
		    "install_id", json_object_get(e, "install_id"),
		    "is_installed", json_object_get(e, "is_installed")));
	}
	json_decref(l);
	if (out == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:o, s:I, s:i}", "results", out,
	    "total", (json_int_t)json_array_size(out), "page", 1));
}

static const char *const uninstall_keys[] = { "name", NULL };

static void
op_uninstall(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*body = rq->mr_body, *rows;
	json_t		*name = json_object_get(body, "name");
	const char	*e, *p[1], *r;

	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return;
	}
	if (svc_known_fields(body, uninstall_keys, rp) != 0)
		return;
	if (!json_is_string(name)) {
		svc_reply_error(rp, 400, "'name' is required (a string)");
		return;
	}
	if ((e = skill_name_problem(json_string_value(name),
	    json_string_length(name))) != NULL) {
		svc_reply_error(rp, 400, "invalid skill name: %s", e);
		return;
	}
	p[0] = json_string_value(name);
	if ((rows = svc_rows(c, SQL_DELETE, 1, p, NULL, rp)) == NULL)
		return;
	skill_snapshot_drop();
	r = json_string_value(json_object_get(json_array_get(rows, 0), "r"));
	if (r == NULL)
		svc_reply_not_found(rp, "Skill", p[0]);
	else if (strcmp(r, "bundled") == 0)
		svc_reply_error(rp, 400, "Skill '%s' is bundled and cannot be "
		    "uninstalled", p[0]);
	else
		svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:s, s:s++}",
		    "status", "uninstalled", "skill", p[0], "name", p[0],
		    "message", "Skill '", p[0], "' uninstalled"));
	json_decref(rows);
}

/* skills.reload: the bundled set written again (a build's own, were the
 * table restored from an older one), this replica's snapshot dropped;
 * the count of enabled skills. */
static void
op_reload(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	PGresult	*res;
	long long	 n = 0;

	(void)rq;
	if (skill_bundled_sync(c->sc_db) != 0 ||
	    (res = db_exec(c->sc_db, SQL_COUNT, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	(void)util_strtonum(PQgetvalue(res, 0, 0), 0, INT64_MAX, &n);
	PQclear(res);
	svc_reply_json(rp, 200, json_pack("{s:s, s:I}", "status", "reloaded",
	    "count", (json_int_t)n));
}

const struct svc_op skill_ops[] = {
	{ OP_SKILLS_LIST, op_list },
	{ OP_SKILLS_GET, op_get },
	{ OP_SKILLS_FILE, op_file },
	{ OP_SKILLS_CREATE, op_create },
	{ OP_SKILLS_INSTALL, op_install },
	{ OP_SKILLS_UNINSTALL, op_uninstall },
	{ OP_SKILLS_RELOAD, op_reload },
	{ OP_SKILLS_REGISTRY, op_registry },
	{ OP_MARKETPLACE_SEARCH, op_market_search },
	{ NULL, NULL }
};
