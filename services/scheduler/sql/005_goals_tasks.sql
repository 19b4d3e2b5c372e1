-- Goals and the task queue (notes/kernel.md 4.1, 4.2; goal/ and task/).
--
-- A goal's children go with it: the foreign key cascades, so a delete
-- removes the whole subtree in one statement, and a parent deleted while
-- a child is being attached makes that insert or update fail (23503)
-- instead of leaving an orphan.  Cycles are refused by goal/goal.c under
-- a transaction-scoped advisory lock, since a constraint cannot see them.
CREATE TABLE goals (
	id		uuid PRIMARY KEY,
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
	description	text NOT NULL DEFAULT ''
			    CHECK (length(description) <= 4096),
	parent_id	uuid REFERENCES goals (id) ON DELETE CASCADE,
	status		text NOT NULL DEFAULT 'pending' CHECK (status IN
			    ('pending', 'in_progress', 'completed',
			    'cancelled')),
	progress	integer NOT NULL DEFAULT 0
			    CHECK (progress BETWEEN 0 AND 100),
	agent_id	uuid,
	due_at		timestamptz,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX goals_parent ON goals (parent_id);

-- The task board.  A claim is a compare-and-set on status under FOR
-- UPDATE SKIP LOCKED, so any number of replicas hand out each pending task
-- once; the lease is claimed_at + [scheduler] task_claim_ttl_secs, after
-- which any replica's sweeper returns the task to pending.
CREATE TABLE tasks (
	id		uuid PRIMARY KEY,
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
	description	text NOT NULL DEFAULT ''
			    CHECK (length(description) <= 16384),
	status		text NOT NULL DEFAULT 'pending' CHECK (status IN
			    ('pending', 'in_progress', 'completed', 'failed',
			    'cancelled')),
	priority	integer NOT NULL DEFAULT 0,
	assigned_to	text NOT NULL DEFAULT '',	-- '': anyone
	created_by	text NOT NULL DEFAULT '',
	result		text,
	retry_count	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	claimed_at	timestamptz,
	completed_at	timestamptz,
	finished_at	timestamptz		-- completed, failed or cancelled
);
CREATE INDEX tasks_pending ON tasks (priority DESC, created_at, id)
    WHERE status = 'pending';
CREATE INDEX tasks_claimed ON tasks (claimed_at)
    WHERE status = 'in_progress';
CREATE INDEX tasks_finished ON tasks (finished_at)
    WHERE finished_at IS NOT NULL;
CREATE INDEX tasks_created ON tasks (created_at DESC, id);
