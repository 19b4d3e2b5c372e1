/*
 * skill/store.c - the bundled skills and the writes to runtime.skills
 * (sql/024_skills.sql).
 *
 * Bundled skills are directories under skill/bundled/, embedded by
 * deploy/file2c.sh as "<skill>/<path>": a skill.toml (or an OpenClaw
 * SKILL.md, converted as any other would be), a prompt_context.md and
 * supporting files.  skill_init() parses and scans them once; every
 * replica then writes them at start (skill_bundled_sync()) in one
 * statement that changes only rows whose content differs, so a restart
 * of an unchanged build leaves the set's version alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "db.h"
#include "log.h"
#include "skill/skill.h"

#define SQLSTATE_UNIQUE	"23505"

/* $1: [{name, manifest, prompt_context, files}].  Bundled rows not in
 * the set (a skill a newer build dropped) go; a name another source
 * holds stays that source's. */
static const char SQL_SYNC[] =
	"WITH b AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS "
	"    x(name text, manifest jsonb, prompt_context text, files jsonb)), "
	"d AS (DELETE FROM skills WHERE source = 'bundled' "
	"    AND name NOT IN (SELECT name FROM b)) "
	"INSERT INTO skills (name, manifest, prompt_context, files, source) "
	"SELECT name, manifest, prompt_context, files, 'bundled' FROM b "
	"ON CONFLICT (name) DO UPDATE SET manifest = EXCLUDED.manifest, "
	"    prompt_context = EXCLUDED.prompt_context, "
	"    files = EXCLUDED.files, updated_at = clock_timestamp() "
	"WHERE skills.source = 'bundled' AND (skills.manifest, "
	"    skills.prompt_context, skills.files) IS DISTINCT FROM "
	"    (EXCLUDED.manifest, EXCLUDED.prompt_context, EXCLUDED.files)";
static const char SQL_INSERT[] =
	"INSERT INTO skills (name, manifest, prompt_context, files, source) "
	"VALUES ($1, $2::jsonb, $3, $4::jsonb, $5)";

/* The bundled set, parsed and scanned (skill_init()). */
static json_t	*bundled;

/* The bundled skill dir (n bytes of a name), parsed: {name, manifest,
 * prompt_context, files} (new), or NULL (logged). */
static json_t *
bundled_load(const char *dir, size_t n)
{
	const struct embed_file	*f, *toml = NULL, *md = NULL;
	json_t			*m = NULL, *files = json_object(), *out = NULL;
	json_t			*findings = json_array();
	const char		*path, *prompt_md = NULL;
	char			*prompt = NULL, *text = NULL, err[256];

	if (files == NULL || findings == NULL)
		goto done;
	for (f = skill_bundled_files; f->ef_name != NULL; f++) {
		if (strncmp(f->ef_name, dir, n) != 0 || f->ef_name[n] != '/')
			continue;
		path = f->ef_name + n + 1;
		if (strcmp(path, "skill.toml") == 0)
			toml = f;
		else if (strcmp(path, "SKILL.md") == 0)
			md = f;
		else if (strcmp(path, "prompt_context.md") == 0)
			prompt_md = f->ef_text;
		else if (json_object_set_new(files, path, json_string(
		    f->ef_text)) != 0)
			goto done;
	}
	/* A skill.toml wins over a SKILL.md, as at load in the reference. */
	if (toml != NULL)
		m = skill_manifest_parse(toml->ef_text, toml->ef_len, &prompt,
		    err, sizeof(err));
	else if (md != NULL && (text = strndup(dir, n)) != NULL)
		m = skill_md_convert(md->ef_text, md->ef_len, text, &prompt,
		    err, sizeof(err));
	else
		snprintf(err, sizeof(err), "no skill.toml or SKILL.md");
	if (m == NULL) {
		log_warnx("bundled skill '%.*s': %s", (int)n, dir, err);
		goto done;
	}
	if (prompt == NULL && prompt_md != NULL && (prompt = strdup(prompt_md))
	    == NULL)
		goto done;
	if (skill_files_check(files, err, sizeof(err)) != 0) {
		log_warnx("bundled skill '%.*s': %s", (int)n, dir, err);
		goto done;
	}
	if (skill_scan(m, prompt, files, findings) != 0) {
		free(text);
		text = skill_findings_text(findings, "Critical");
		log_warnx("bundled skill '%.*s' fails the scan: %s", (int)n,
		    dir, text ? text : "out of memory");
		goto done;
	}
	out = json_pack("{s:s, s:O, s:s, s:O}", "name", skill_manifest_name(m),
	    "manifest", m, "prompt_context", prompt ? prompt : "", "files",
	    files);
 done:
	json_decref(m);
	json_decref(files);
	json_decref(findings);
	free(prompt);
	free(text);
	return (out);
}

int
skill_init(void)
{
	const struct embed_file	*f;
	const char		*slash, *last = NULL;
	size_t			 n, lastn = 0;
	json_t			*s;

	if ((bundled = json_array()) == NULL)
		return (-1);
	/* Sorted by name: a skill's files are together. */
	for (f = skill_bundled_files; f->ef_name != NULL; f++) {
		if ((slash = strchr(f->ef_name, '/')) == NULL)
			continue;
		n = (size_t)(slash - f->ef_name);
		if (last != NULL && n == lastn && strncmp(last, f->ef_name, n)
		    == 0)
			continue;
		last = f->ef_name;
		lastn = n;
		if ((s = bundled_load(f->ef_name, n)) != NULL &&
		    json_array_append_new(bundled, s) != 0)
			return (-1);
	}
	return (0);
}

json_t *
skill_bundled(void)
{
	return (bundled);
}

void
skill_fini(void)
{
	json_decref(bundled);
	bundled = NULL;
}

int
skill_bundled_sync(struct db *db)
{
	const char	*p[1];
	char		*js;
	int		 ret;

	if (bundled == NULL)
		return (0);
	if ((js = json_dumps(bundled, JSON_COMPACT)) == NULL)
		return (-1);
	p[0] = js;
	if ((ret = db_cmd(db, SQL_SYNC, 1, p)) != 0)
		log_warnx("could not write the bundled skills: %s",
		    db_errmsg(db));
	free(js);
	skill_snapshot_drop();
	return (ret);
}

int
skill_start(const struct sh_config *cfg)
{
	struct db	*db;
	char		 conninfo[2048];
	int		 ret;

	if (skill_init() != 0)
		return (-1);
	db_conninfo(cfg->database_url, cfg->home_dir, conninfo,
	    sizeof(conninfo));
	if ((db = db_open(conninfo, "runtime")) == NULL)
		return (-1);
	/* Not fatal: skills.reload writes them too. */
	ret = skill_bundled_sync(db);
	db_close(db);
	if (ret == 0)
		log_info("skills: %zu bundled", json_array_size(bundled));
	return (0);
}

int
skill_store_insert(struct db *db, json_t *manifest, const char *prompt,
    json_t *files, const char *source)
{
	const char	*p[5];
	char		*mj, *fj = NULL;
	int		 ret = -1;

	mj = json_dumps(manifest, JSON_COMPACT);
	fj = files != NULL ? json_dumps(files, JSON_COMPACT) : strdup("{}");
	if (mj == NULL || fj == NULL)
		goto done;
	p[0] = skill_manifest_name(manifest);
	p[1] = mj;
	p[2] = prompt != NULL ? prompt : "";
	p[3] = fj;
	p[4] = source;
	if (db_cmd(db, SQL_INSERT, 5, p) == 0)
		ret = 0;
	else if (strcmp(db_sqlstate(db), SQLSTATE_UNIQUE) == 0)
		ret = SKILL_EEXIST;
	skill_snapshot_drop();
 done:
	free(mj);
	free(fj);
	return (ret);
}
