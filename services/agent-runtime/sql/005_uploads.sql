-- Files uploaded for an agent (POST /api/agents/{id}/upload), served back
-- by GET /api/uploads/{id} and turned into content blocks when a message
-- names them in "attachments".  The bytes live here, not on a replica's
-- disk, so any replica can serve them.  An agent's uploads go with it.
CREATE TABLE uploads (
	id		uuid PRIMARY KEY,
	agent_id	uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	filename	text NOT NULL,
	content_type	text NOT NULL,
	size		bigint NOT NULL CHECK (size >= 0),
	data		bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX uploads_agent_idx ON uploads (agent_id, created_at);
