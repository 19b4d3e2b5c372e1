-- The audit outbox (libshared/audit.h): audit_record() inserts an entry
-- here in the transaction of the action it records; the relay sends the
-- rows to the audit service (audit.append) and deletes them once the
-- chain has them.
CREATE TABLE audit_outbox (
	n		bigserial PRIMARY KEY,
	id		uuid NOT NULL UNIQUE,
	ts		text NOT NULL,
	agent_id	text NOT NULL,
	action		text NOT NULL,
	detail		text NOT NULL,
	outcome		text NOT NULL
);
