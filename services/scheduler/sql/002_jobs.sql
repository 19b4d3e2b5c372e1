-- Schedules and cron jobs (job/): one store behind /api/schedules and
-- /api/cron/jobs.  A fire of a job's slot is a job_fires row whose unique
-- key (job_id, slot) makes it happen once whatever the number of replicas;
-- it is inserted in the transaction that advances the job's next_run.
CREATE TABLE jobs (
	id			uuid PRIMARY KEY,
	seq			bigint GENERATED ALWAYS AS IDENTITY,	-- list order
	agent_id		uuid NOT NULL,
	name			text NOT NULL,
	enabled			boolean NOT NULL DEFAULT true,
	kind			text NOT NULL
				    CHECK (kind IN ('cron', 'every', 'at')),
	cron_expr		text,
	tz			text,
	every_secs		integer,
	at_time			timestamptz,
	one_shot		boolean NOT NULL DEFAULT false,
	action			text NOT NULL CHECK (action IN
				    ('agent_turn', 'system_event', 'workflow')),
	message			text NOT NULL DEFAULT '',
	workflow_id		text,		-- action workflow: id or name
	workflow_input_json	jsonb,		-- and its input
	timeout_secs		integer,
	session_mode		text NOT NULL DEFAULT 'persistent'
				    CHECK (session_mode IN ('persistent', 'new')),
	catch_up		text NOT NULL DEFAULT 'once'
				    CHECK (catch_up IN ('skip', 'once', 'all')),
	max_failures		integer,	-- NULL: [scheduler] default
	delivery_json		jsonb,
	delivery_targets_json	jsonb NOT NULL DEFAULT '[]',
	peer_id			text,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	next_run		timestamptz,	-- NULL: nothing left to fire
	last_run		timestamptz,
	last_status		text,
	last_error		text,
	run_count		bigint NOT NULL DEFAULT 0,
	consecutive_errors	integer NOT NULL DEFAULT 0,
	auto_disabled		boolean NOT NULL DEFAULT false,
	disabled_reason		text,
	missed_fires		bigint NOT NULL DEFAULT 0
);
CREATE INDEX jobs_due ON jobs (next_run) WHERE enabled;
CREATE INDEX jobs_agent ON jobs (agent_id);

CREATE TABLE job_fires (
	id			uuid PRIMARY KEY,
	job_id			uuid NOT NULL REFERENCES jobs (id)
				    ON DELETE CASCADE,
	slot			timestamptz NOT NULL,
	manual			boolean NOT NULL DEFAULT false,
	state			text NOT NULL CHECK (state IN
				    ('running', 'ok', 'error')),
	claimed_by		text,
	lease_until		timestamptz,
	attempts		integer NOT NULL DEFAULT 1,
	session_id		uuid,
	fired_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at		timestamptz,
	duration_ms		bigint,
	result			text,
	error			text,
	UNIQUE (job_id, slot)
);
CREATE INDEX job_fires_lease ON job_fires (lease_until)
    WHERE state = 'running';
CREATE INDEX job_fires_finished ON job_fires (finished_at);
