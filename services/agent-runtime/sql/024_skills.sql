-- Skills (skill/; issue 15): one row per skill, the truth every replica
-- serves.  manifest is the normalised skill.toml (skill_manifest_check()),
-- prompt_context the Markdown a turn's system prompt carries, files the
-- supporting texts ({"references/x.md": "..."}, small: skill/skill.h's
-- bounds).  source says where it came from: bundled (in the binary,
-- written at start), local (installed), created (POST /api/skills/create).
CREATE TABLE skills (
	name		text PRIMARY KEY
			    CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
	manifest	jsonb NOT NULL,
	prompt_context	text NOT NULL DEFAULT '',
	files		jsonb NOT NULL DEFAULT '{}',
	source		text NOT NULL
			    CHECK (source IN ('bundled', 'local', 'created')),
	enabled		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The version of the set: a write to skills stamps it with its
-- transaction's id (as catalog_version, sql/021).  A turn reads it in its
-- take (turn/session.c) and uses its replica's snapshot of the enabled
-- skills when that was read at the same version (skill/prompt.c), so the
-- skills cost a turn no statement of their own.  A row trigger: a write
-- that changes no row (the bundled set written again at start) leaves
-- the version, and every replica's snapshot, as they were.
CREATE TABLE skill_version (
	id	boolean PRIMARY KEY DEFAULT true CHECK (id),
	v	bigint NOT NULL
);
INSERT INTO skill_version (v) VALUES (txid_current());

CREATE FUNCTION skill_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE skill_version SET v = txid_current();
	RETURN NULL;
END
$$;
ALTER FUNCTION skill_version_bump() SET search_path FROM CURRENT;

CREATE TRIGGER skills_version AFTER INSERT OR UPDATE OR DELETE ON skills
    FOR EACH ROW EXECUTE FUNCTION skill_version_bump();
CREATE TRIGGER skills_version_truncate AFTER TRUNCATE ON skills
    FOR EACH STATEMENT EXECUTE FUNCTION skill_version_bump();
