-- The agent registry.  This table is the only one: every replica of
-- agent-runtime reads and writes it directly, so they never disagree.
--
-- manifest is the normalised manifest (agent_manifest.c) and the source of
-- truth; manifest_toml renders it as TOML; source_toml keeps the last text
-- a client submitted, byte for byte (NULL for agents made by clone).
-- version grows on every write and guards read-modify-write updates.
CREATE TABLE agents (
	id		uuid PRIMARY KEY,
	name		text NOT NULL,
	state		text NOT NULL DEFAULT 'running'
			CHECK (state IN ('running', 'suspended')),
	mode		text NOT NULL DEFAULT 'full'
			CHECK (mode IN ('observe', 'assist', 'full')),
	manifest	jsonb NOT NULL CHECK (jsonb_typeof(manifest) = 'object'),
	manifest_toml	text NOT NULL,
	source_toml	text,
	identity	jsonb NOT NULL DEFAULT '{}'
			CHECK (jsonb_typeof(identity) = 'object'),
	session_id	uuid NOT NULL,
	version		bigint NOT NULL DEFAULT 1,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	last_active	timestamptz NOT NULL DEFAULT clock_timestamp(),
	CONSTRAINT agents_name_key UNIQUE (name)
);

CREATE INDEX agents_created_at_idx ON agents (created_at, id);
