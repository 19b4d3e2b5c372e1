-- Approvals asked in the chat (chan_approve.c): an outbox row of kind
-- 'approval' holds the question twice, as text (a plain send, which says
-- to answer /approve <id> or /reject <id>) and as the interactive
-- message {text, buttons} of §1.3 sent instead to an adapter that
-- declared the "interactive" capability.
ALTER TABLE outbox ADD COLUMN interactive jsonb;
