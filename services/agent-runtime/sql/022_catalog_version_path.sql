-- 021's trigger function names catalog_version without a schema, so a
-- write to provider_keys (or the other three tables) from a session whose
-- search_path lacks "runtime" -- psql, a restore -- failed with
-- "relation catalog_version does not exist".  The function now runs with
-- the search_path of this migration (runtime, public) whoever calls it.
ALTER FUNCTION catalog_version_bump() SET search_path FROM CURRENT;
