-- Inter-agent communication (comms/): who spawned whom, and the events of
-- agents talking to each other (issue 8, "Comms").
--
-- parent_id is set when an agent spawns another with the agent_spawn tool
-- (GET /api/comms/topology draws it as a ParentChild edge).  A parent's
-- delete leaves its children as roots.
ALTER TABLE agents ADD COLUMN parent_id uuid
	REFERENCES agents (id) ON DELETE SET NULL;

-- One row per event: a message from one agent to another (the
-- agent_send tool, POST /api/comms/send), a delegated task and its answer
-- (POST /api/comms/task), a spawn by an agent.  Names are kept as they
-- were when it happened, so the event still reads after a rename or a
-- delete; the ids are not foreign keys for the same reason.  seq orders
-- them across replicas; every insert prunes to the newest COMMS_KEEP.
CREATE TABLE comms_events (
	seq		bigserial PRIMARY KEY,
	id		uuid NOT NULL UNIQUE,
	kind		text NOT NULL CHECK (kind IN ('AgentMessage',
			    'AgentSpawned', 'TaskPosted', 'TaskCompleted')),
	source_id	uuid,
	source_name	text NOT NULL,
	target_id	uuid,
	target_name	text NOT NULL,
	detail		text NOT NULL,
	at		timestamptz NOT NULL DEFAULT clock_timestamp()
);
