-- Approvals (approval/approval.h; notes/kernel.md 4.3).
--
-- One row per request: made by a turn about to run a gated tool (origin
-- 'turn') or by POST /api/approvals (origin 'manual').  A request is
-- decided once: the decision moves status away from 'pending' in one
-- statement guarded by status = 'pending', so two deciders (two
-- replicas, a decision racing the timeout) cannot both win.
--
-- A turn's request remembers the turn's idempotency key and a hash of
-- the call (tool and input): a keyed turn retried after its replica died
-- finds the request of the dead run and honours the decision taken on
-- it meanwhile (or waits on it still), instead of asking again.
CREATE TABLE approvals (
	id		uuid PRIMARY KEY,
	agent_id	uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	tool_name	text NOT NULL,
	description	text NOT NULL DEFAULT '',
	action_summary	text NOT NULL DEFAULT '',
	risk_level	text NOT NULL
			CHECK (risk_level IN ('Low', 'Medium', 'High',
			    'Critical')),
	payload		jsonb,
	status		text NOT NULL DEFAULT 'pending'
			CHECK (status IN ('pending', 'approved', 'rejected',
			    'timed_out', 'skipped', 'modified')),
	origin		text NOT NULL DEFAULT 'manual'
			CHECK (origin IN ('turn', 'manual')),
	requested_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	timeout_secs	integer NOT NULL CHECK (timeout_secs BETWEEN 1 AND 86400),
	expires_at	timestamptz NOT NULL,
	fallback	text NOT NULL DEFAULT 'deny'
			CHECK (fallback IN ('deny', 'skip')),
	session_id	uuid,
	tool_use_id	text,
	turn_key	text,
	call_hash	text,
	holder		text,
	decided_at	timestamptz,
	decided_by	text,
	reason		text,
	feedback	text,
	second_factor_used boolean NOT NULL DEFAULT false
);
CREATE INDEX approvals_pending ON approvals (agent_id, requested_at)
	WHERE status = 'pending';
CREATE INDEX approvals_turn_key ON approvals (turn_key, call_hash)
	WHERE turn_key IS NOT NULL;
CREATE INDEX approvals_session ON approvals (session_id, requested_at)
	WHERE session_id IS NOT NULL;

-- Every request and every decision, in order (notes: a 'pending' row on
-- submit and a second row on resolution).  Kept when the request goes.
CREATE TABLE approval_audit (
	n		bigserial PRIMARY KEY,
	approval_id	uuid NOT NULL,
	agent_id	uuid NOT NULL,
	tool_name	text NOT NULL,
	risk_level	text NOT NULL,
	decision	text NOT NULL,
	decided_by	text,
	reason		text,
	second_factor_used boolean NOT NULL DEFAULT false,
	at		timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX approval_audit_approval ON approval_audit (approval_id);
