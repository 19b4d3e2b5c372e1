-- Live configuration (libshared/cfgsync.c): each change of config.toml
-- made through /api/config/set or /api/config/reload is a version, the
-- whole file's text; every process of the stack applies the newest one's
-- hot part (at an announcement, at start, and at a periodic check), so one
-- on another host or one that was down catches up from here.
CREATE TABLE config_versions (
	version		bigserial PRIMARY KEY,
	instance	text NOT NULL,
	origin		text NOT NULL CHECK (origin IN ('set', 'reload')),
	path		text,
	text		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);

-- The config changes' audit entries (libshared/audit.h), committed with
-- their version.
CREATE TABLE audit_outbox (
	n		bigserial PRIMARY KEY,
	id		uuid NOT NULL UNIQUE,
	ts		text NOT NULL,
	agent_id	text NOT NULL,
	action		text NOT NULL,
	detail		text NOT NULL,
	outcome		text NOT NULL
);
