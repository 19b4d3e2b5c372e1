-- Workflows and their runs (workflow/; issue 9, part "workflows").
--
-- A definition is kept as the canonical JSON the create body was turned
-- into (workflow/def.c), so GET answers what was validated.
CREATE TABLE workflows (
	id		uuid PRIMARY KEY,
	name		text NOT NULL,
	description	text NOT NULL DEFAULT '',
	def_json	jsonb NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- A run is one row, written as it progresses: step_index is the next step
-- to run, ctx_json the executor's state after the last completed step
-- ({current_input, variables, n_outputs, loop_iter}), so a replica that
-- takes over an expired lease resumes where the lost one stopped.  The
-- definition is copied at start: an update never changes a running run.
-- claimed_by/lease_until: the replica running it; a pending run claimed
-- by a replica is its own for one lease, then anyone's.  idem_key makes a
-- caller's repeated workflows.run (a schedule's fire, a trigger) one run.
-- Runs outlive their workflow's delete (history), hence no foreign key.
CREATE TABLE workflow_runs (
	id		uuid PRIMARY KEY,
	workflow_id	uuid NOT NULL,
	workflow_name	text NOT NULL,
	def_json	jsonb NOT NULL,
	input		text NOT NULL,
	state		text NOT NULL CHECK (state IN ('pending', 'running',
			    'completed', 'failed', 'cancelled')),
	step_index	integer NOT NULL DEFAULT 0,
	ctx_json	jsonb NOT NULL DEFAULT '{}',
	step_results_json jsonb NOT NULL DEFAULT '[]',
	output		text,
	error		text,
	takeovers	integer NOT NULL DEFAULT 0,
	claimed_by	text,
	lease_until	timestamptz,
	deadline	timestamptz,
	depth		integer NOT NULL DEFAULT 0,
	idem_key	text UNIQUE,
	started_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	completed_at	timestamptz
);
CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow_id,
    started_at DESC);
-- What the pool threads look for: runs not yet finished.
CREATE INDEX workflow_runs_open ON workflow_runs (lease_until)
    WHERE state IN ('pending', 'running');
