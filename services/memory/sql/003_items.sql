-- Proactive memory (notes/kernel.md 7.2): items an agent (or a user) keeps
-- and searches, their edit history, and relations between entities.
--
-- Search is PostgreSQL full-text search over a generated tsvector (GIN),
-- ranked with ts_rank, plus pg_trgm similarity (GIN trigram index) for
-- near-duplicates and for matches FTS misses (typos, partial words).
-- pg_trgm ships with Debian's postgresql package (contrib).  It goes in
-- public, which every service's search_path ends with.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

-- agent_id is not a foreign key: agents live in another service's schema.
-- NULL agent_id is the shared (global) namespace.  Deletes are soft
-- (deleted_at) so the history keeps its subject; cleanup purges them.
CREATE TABLE items (
	id		uuid PRIMARY KEY,
	agent_id	uuid,
	user_id		text CHECK (length(user_id) BETWEEN 1 AND 256),
	level		text NOT NULL DEFAULT 'session'
			    CHECK (level IN ('user', 'session', 'agent')),
	category	text CHECK (length(category) BETWEEN 1 AND 128),
	content		text NOT NULL CHECK (length(content) BETWEEN 1 AND 65536),
	metadata	jsonb NOT NULL DEFAULT '{}'::jsonb,
	source		text CHECK (length(source) <= 256),
	confidence	double precision NOT NULL DEFAULT 1.0
			    CHECK (confidence >= 0 AND confidence <= 1),
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	accessed_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	access_count	bigint NOT NULL DEFAULT 0,
	deleted_at	timestamptz,
	tsv		tsvector GENERATED ALWAYS AS
			    (to_tsvector('english'::regconfig, content)) STORED
);
CREATE INDEX items_tsv ON items USING gin (tsv) WHERE deleted_at IS NULL;
CREATE INDEX items_trgm ON items USING gin (content gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX items_agent ON items (agent_id, created_at DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX items_user ON items (user_id, created_at DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX items_deleted ON items (deleted_at) WHERE deleted_at IS NOT NULL;

-- One row per change of an item: ADD, UPDATE, DELETE, MERGE (consolidation).
CREATE TABLE item_history (
	seq		bigserial PRIMARY KEY,
	item_id		uuid NOT NULL REFERENCES items (id) ON DELETE CASCADE,
	event		text NOT NULL
			    CHECK (event IN ('ADD', 'UPDATE', 'DELETE', 'MERGE')),
	old_content	text,
	new_content	text,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX item_history_item ON item_history (item_id, seq);

-- The knowledge graph: (source) -[relation]-> (target), per agent.
CREATE TABLE relations (
	id		uuid PRIMARY KEY,
	agent_id	uuid NOT NULL,
	source		text NOT NULL CHECK (length(source) BETWEEN 1 AND 512),
	relation	text NOT NULL CHECK (length(relation) BETWEEN 1 AND 128),
	target		text NOT NULL CHECK (length(target) BETWEEN 1 AND 512),
	confidence	double precision NOT NULL DEFAULT 1.0
			    CHECK (confidence >= 0 AND confidence <= 1),
	metadata	jsonb NOT NULL DEFAULT '{}'::jsonb,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	UNIQUE (agent_id, source, relation, target)
);

-- Auto-dream (notes/extensions.md 9.2): per agent, whether it opted in here
-- and its last consolidation; the dreams themselves, one row each.
CREATE TABLE dreams (
	task_id		uuid PRIMARY KEY,
	agent_id	uuid NOT NULL,
	status		text NOT NULL
			    CHECK (status IN ('running', 'completed', 'failed')),
	started_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	ended_at	timestamptz,
	response	text,
	error		text,
	before_count	bigint,
	after_count	bigint
);
CREATE INDEX dreams_agent ON dreams (agent_id, started_at DESC);

-- Opt-in per agent (PUT /api/auto-dream/agents/{id}/enabled).
CREATE TABLE dream_agents (
	agent_id	uuid PRIMARY KEY,
	enabled		boolean NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Periodic jobs every replica may run: the one whose UPDATE moves
-- last_run wins the period (maint.c).
CREATE TABLE maintenance (
	job		text PRIMARY KEY,
	last_run	timestamptz NOT NULL
);
INSERT INTO maintenance (job, last_run) VALUES ('decay', '-infinity');
