-- MCP servers the agents' tools come from (mcp/; issue 8).  One row per
-- server: its name (tools appear as mcp_<name>_<tool>), the catalog
-- template it was installed from (NULL for a raw spec), and the
-- normalised spec (mcp_spec_normalise(): transport, env, timeout_secs).
-- Every replica runs every row's server; version grows on each update so
-- the replicas see a change and restart that server.
CREATE TABLE mcp_servers (
	name		text PRIMARY KEY,
	template_id	text,
	spec		jsonb NOT NULL,
	-- The mcp_<prefix>_ of its tools: two names that differ only in
	-- case or '-' against '_' would offer the same tool names.
	tool_prefix	text NOT NULL UNIQUE GENERATED ALWAYS AS
			    (lower(replace(name, '-', '_'))) STORED,
	version		bigint NOT NULL DEFAULT 1,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);
