/*
 * skill/skill.h - skills (issue 15, step 1; notes/extensions.md 1.1-1.5):
 * Markdown guidance an agent's system prompt carries, with a manifest and
 * small supporting files.
 *
 * A skill is a row of runtime.skills (sql/024_skills.sql): its name, the
 * normalised manifest (skill_manifest_parse()), its prompt context, its
 * files ({path: text}), its source (bundled, local, created), enabled and
 * timestamps.  The table is the truth, so every replica serves the same
 * set.  Bundled skills are ours (skill/bundled/<name>/), embedded at build
 * time by deploy/file2c.sh and written to the table at start
 * (skill_bundled_sync()).
 *
 * Two formats come in: our skill.toml (strict: an unknown key, a missing
 * one or a bad value is an error naming it) and OpenClaw's SKILL.md (YAML
 * front matter and a Markdown body), converted into the first.  Every
 * way in runs the scan of notes 1.4 (skill/scan.c) before anything is
 * stored: a Critical finding refuses the skill, with the findings.
 *
 * Turns read the enabled skills from a per-replica snapshot (skill/
 * prompt.c) tagged with runtime.skill_version, which the session's take
 * reads in the statement it already makes: a turn whose version matches
 * the snapshot costs no query.
 *
 * Everything here is thread-safe; the parsers touch no database.
 */
#ifndef SKILL_H
#define SKILL_H

#include <stddef.h>

#include <jansson.h>

#include "embed.h"
#include "svc.h"

struct buf;
struct db;
struct sh_config;

#define SKILL_NAME_MAX		64		/* bytes of a name */
#define SKILL_DESC_MAX		1024		/* bytes of a description */
#define SKILL_PROMPT_MAX	160000		/* bytes of a prompt context */
#define SKILL_TOML_MAX		(256 * 1024)	/* bytes of a skill.toml */
#define SKILL_MD_MAX		(1024 * 1024)	/* bytes of a SKILL.md */
#define SKILL_FILES_MAX		32		/* supporting files */
#define SKILL_FILE_MAX		(256 * 1024)	/* bytes of one */
#define SKILL_FILES_TOTAL	(1024 * 1024)	/* bytes of all of them */
#define SKILL_PATH_MAX		255		/* bytes of a file's path */
#define SKILL_TAGS_MAX		32
#define SKILL_TOOLS_MAX		64		/* tools.provided entries */

/* ---- names and the manifest (skill/manifest.c) ----------------------- */

/* NULL when s (n bytes: a JSON string may hold a NUL) is a valid skill
 * name -- 1 to SKILL_NAME_MAX of [a-z0-9_-], starting with a letter or a
 * digit, not a route's word -- else why not (static text). */
const char *skill_name_problem(const char *s, size_t n);

/*
 * Parses and checks a skill.toml (text[0..len)): every key known, every
 * required one present, every value of its type and within its bounds.
 * Returns the normalised manifest (new):
 *	{skill: {name, version, description, author, license, tags},
 *	 runtime: {type, entry}, tools: {provided: [{name, description,
 *	 input_schema}]}, requirements: {tools, capabilities, timeout_secs},
 *	 config, config_vars: [{key, description, default}],
 *	 env_passthrough}
 * and *promptp the inline prompt_context (new; NULL when none).  NULL on
 * failure, err saying why ("line N: ..." for TOML syntax).
 */
json_t	*skill_manifest_parse(const char *text, size_t len, char **promptp,
	    char *err, size_t errlen);
/* Checks an already parsed manifest document (borrowed) as above:
 * the normalised manifest (new), or NULL with err. */
json_t	*skill_manifest_check(json_t *doc, char **promptp, char *err,
	    size_t errlen);
/*
 * Converts an OpenClaw SKILL.md (text[0..len), at most SKILL_MD_MAX):
 * front matter between "---" lines (name, description, version, author,
 * license, tags; other keys and nested blocks are OpenClaw's and are
 * dropped), then the Markdown body, the prompt context (*promptp, new).
 * The name is the front matter's, else fallback (may be NULL),
 * lowercased with spaces made '-'.  Runtime prompt-only, tags
 * "openclaw-compat" and "prompt-only" first.  The normalised manifest
 * (new), or NULL with err.
 */
json_t	*skill_md_convert(const char *text, size_t len, const char *fallback,
	    char **promptp, char *err, size_t errlen);
/* The manifest's name (borrowed from m). */
const char *skill_manifest_name(json_t *m);
/* The category: the first tag that is not a platform tag, else
 * "general" (borrowed from m or static). */
const char *skill_category(json_t *m);
/* The runtime as the API prints it ("prompt_only", "python", ...;
 * static). */
const char *skill_runtime_name(json_t *m);
/* Checks files ({path: text}, borrowed; NULL is none): at most
 * SKILL_FILES_MAX, each path relative (skill_path_problem()), each text
 * without NUL and at most SKILL_FILE_MAX, all at most SKILL_FILES_TOTAL.
 * 0, or -1 with err. */
int	 skill_files_check(json_t *files, char *err, size_t errlen);
/* NULL when path is a safe relative path inside a skill: components of
 * [A-Za-z0-9._-] separated by '/', none empty, none starting with '.',
 * at most SKILL_PATH_MAX bytes; else why not (static text). */
const char *skill_path_problem(const char *path);

/* ---- a directory (skill/dir.c) --------------------------------------- */

/*
 * Reads the skill directory dir (an absolute path): skill.toml, else a
 * SKILL.md converted (fallback: the name when it has none), the prompt
 * (inline, else prompt_context.md) and the supporting files (hidden
 * entries, node_modules and target skipped; four levels deep at most), each
 * bounded as skill_files_check() bounds them.  0 with *mp, *promptp (may
 * be NULL) and *filesp (all new); else -1 with *statusp (404: no such
 * directory; 403: a symbolic link or a *.pth file, the supply-chain
 * rules; 400: anything else) and err.
 */
int	 skill_dir_load(const char *dir, const char *fallback, json_t **mp,
	    char **promptp, json_t **filesp, int *statusp, char *err,
	    size_t errlen);

#define SKILL_REGISTRY_MAX	1000	/* registry entries listed */

/* The skills of the registry checkout, $home/registry/skills/<dir>/
 * with a skill.toml or a SKILL.md that parses (others are left out), in
 * directory order: [{name, description, version, author, tags,
 * install_id (the directory), runtime}] (new; empty when there is no
 * checkout; NULL on ENOMEM). */
json_t	*skill_registry_read(const char *home);

/* ---- the scan (skill/scan.c; notes 1.4) ------------------------------ */

/*
 * Scans text (NUL-terminated) as the notes' prompt-content scanner does:
 * lowercased, literal patterns over the raw text, the text without
 * invisible characters and with them made spaces (and, when there are
 * any, without any whitespace for the multi-word patterns); key-shaped
 * secrets; a curl or wget line piped to a shell; invisible characters;
 * the size.  Appends each finding once to findings as {severity
 * ("Critical", "Warning", "Info"), message} (where is prefixed to the
 * message when not NULL).  Returns how many Critical ones it appended,
 * or -1 on ENOMEM.
 */
int	 skill_scan_text(const char *text, const char *where, json_t *findings);
/* Scans a whole skill: its description, prompt context (may be NULL),
 * each provided tool's name and description, and each file whose name
 * ends in .md, .toml or .prompt (the supply-chain rule).  As above. */
int	 skill_scan(json_t *manifest, const char *prompt, json_t *files,
	    json_t *findings);
/* text without the invisible characters the scan reports as Warning
 * (those of emoji sequences stay); new, NULL on ENOMEM. */
char	*skill_strip_invisible(const char *text);
/* The findings' messages of severity (NULL: all) joined by "; ", each
 * after its where (new), for an error text. */
char	*skill_findings_text(json_t *findings, const char *severity);

/* ---- the store and the bundled set (skill/store.c) ------------------- */

/* The bundled skills: files under skill/bundled/, named
 * "<skill>/<path>", sorted by name (generated). */
extern const struct embed_file skill_bundled_files[];

/* Parses and scans every bundled skill once (at start; a skill that
 * fails is logged and left out).  0, or -1 on ENOMEM. */
int	 skill_init(void);
/* The bundled skills skill_init() kept, [{name, manifest,
 * prompt_context, files}] (borrowed; NULL before it). */
json_t	*skill_bundled(void);
/* skill_init(), then the bundled set written with a connection of its
 * own (a failure there is logged: skills.reload writes it too).  0, or
 * -1 on ENOMEM. */
int	 skill_start(const struct sh_config *cfg);
void	 skill_fini(void);
/* Writes the bundled set into the table with db (rows whose content
 * differs are updated; a skill of another source keeps its name).
 * 0, or -1 (logged). */
int	 skill_bundled_sync(struct db *db);
#define SKILL_EEXIST	-120	/* the name is taken */

/* Inserts a skill (manifest, prompt, files borrowed; source "local" or
 * "created").  0, SKILL_EEXIST, or -1 (db_errmsg). */
int	 skill_store_insert(struct db *db, json_t *manifest, const char *prompt,
	    json_t *files, const char *source);

/* ---- turns (skill/prompt.c) ------------------------------------------ */

/*
 * Appends the "## Skills" section for an agent with manifest am
 * (borrowed) to b: the enabled skills its "skills" list selects (empty:
 * all; skills_disabled: none), grouped by category with their
 * descriptions, then each one's prompt context between markers that say
 * it is third-party reference (notes 1.3: 16,000 characters each, the
 * section bounded).  ver is runtime.skill_version as the session's take
 * read it (0: unknown); the snapshot answers when it has that version,
 * else db reads it (one statement).  0, or -1 when the skills could not
 * be read (logged; the prompt goes without them).
 */
int	 skill_prompt(struct buf *b, json_t *am, long long ver, struct db *db);
/* How agent manifest am picks its skills: "none" (skills_disabled),
 * "all" (no skills list) or "allowlist" -- the prompt's rule, and what
 * the agent's views say. */
const char *skill_mode(json_t *am);
/* The names of the enabled skills (new array, sorted), read with db;
 * NULL when the table could not be read. */
json_t	*skill_enabled_names(struct db *db);
/* Makes rows ([{name, manifest, prompt_context}] in name order,
 * borrowed: the shape of skill_bundled()) this replica's snapshot at version ver, as if read
 * from the table (tests and the bench).  0, or -1 on ENOMEM. */
int	 skill_snapshot_load(json_t *rows, long long ver);
/* Forgets this replica's snapshot (after a write through it). */
void	 skill_snapshot_drop(void);

/* The module's operation table (skill/ops.c), NULL-ended. */
extern const struct svc_op skill_ops[];

#endif /* SKILL_H */
