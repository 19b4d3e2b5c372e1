-- The audit outbox (libshared/audit.h): a change to a schedule, trigger,
-- workflow or goal inserts its entry here in its own transaction
-- (core/audit.c); the relay sends the rows to the audit service
-- (audit.append) and deletes them once the chain has them.
CREATE TABLE audit_outbox (
	n		bigserial PRIMARY KEY,
	id		uuid NOT NULL UNIQUE,
	ts		text NOT NULL,
	agent_id	text NOT NULL,
	action		text NOT NULL,
	detail		text NOT NULL,
	outcome		text NOT NULL
);
