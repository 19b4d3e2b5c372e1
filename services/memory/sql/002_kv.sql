-- Per-agent key-value memory (the kv_get / kv_set tools, memory.kv.*).
-- One row per (agent, key); the value is any JSON document.  Rows are not
-- tied to runtime.agents by a foreign key: the two schemas belong to
-- different services, and memory outlives a respawn under the same id.
CREATE TABLE kv (
	agent_id	uuid NOT NULL,
	key		text NOT NULL CHECK (length(key) BETWEEN 1 AND 1024),
	value		jsonb NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (agent_id, key)
);
