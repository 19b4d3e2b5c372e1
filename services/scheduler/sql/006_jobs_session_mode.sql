-- A job without its own session_mode follows its agent's manifest
-- (notes/kernel.md 3.4: "job override, else manifest"): NULL now means
-- that, and agent-runtime decides from the manifest (caller session_key).
ALTER TABLE jobs ALTER COLUMN session_mode DROP NOT NULL;
ALTER TABLE jobs ALTER COLUMN session_mode DROP DEFAULT;
