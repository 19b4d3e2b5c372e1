-- A key's run: a fresh id each time the key is claimed anew (first use,
-- or reuse after it expired), kept when a retry takes over a run whose
-- replica died.  The turn's Message events take their ids from it
-- (turn/notify.c): the same across a takeover, new for a reused key.
ALTER TABLE turn_keys ADD COLUMN run uuid NOT NULL DEFAULT gen_random_uuid();
