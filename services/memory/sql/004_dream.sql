-- Auto-dream's gaps (notes/extensions.md 9.2): a dream can be aborted
-- (manual dreams only), runs in a session of its own (which abort
-- interrupts), and keeps what the turn reported (usage, tool calls) and
-- the memories it touched, for the status' progress.
ALTER TABLE dreams DROP CONSTRAINT dreams_status_check;
ALTER TABLE dreams ADD CONSTRAINT dreams_status_check
	CHECK (status IN ('running', 'completed', 'failed', 'aborted'));
ALTER TABLE dreams
	ADD COLUMN manual		boolean NOT NULL DEFAULT false,
	ADD COLUMN session_id		uuid,
	ADD COLUMN input_tokens		bigint,
	ADD COLUMN output_tokens	bigint,
	ADD COLUMN iterations		integer,
	ADD COLUMN cost_usd		double precision,
	ADD COLUMN tool_use_count	integer NOT NULL DEFAULT 0,
	ADD COLUMN touched		jsonb NOT NULL DEFAULT '[]';
-- At most one dream running per agent (before, two manual triggers could
-- both run: the older ones are failed first), whichever replica started it: a
-- second trigger or claim finds the row and does not fire.
UPDATE dreams SET status = 'failed', ended_at = clock_timestamp(),
	error = 'superseded by a later dream' WHERE status = 'running' AND
	task_id NOT IN (SELECT DISTINCT ON (agent_id) task_id FROM dreams
	    WHERE status = 'running' ORDER BY agent_id, started_at DESC);
CREATE UNIQUE INDEX dreams_one_running ON dreams (agent_id)
	WHERE status = 'running';

-- The audit outbox (libshared/audit.h): the DreamConsolidation entry of a
-- dream commits with the row that records its end, and an opt-in change
-- with its ConfigChange entry.
CREATE TABLE audit_outbox (
	n		bigserial PRIMARY KEY,
	id		uuid NOT NULL UNIQUE,
	ts		text NOT NULL,
	agent_id	text NOT NULL,
	action		text NOT NULL,
	detail		text NOT NULL,
	outcome		text NOT NULL
);
