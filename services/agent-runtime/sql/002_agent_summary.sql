-- The few manifest fields a list shows, computed once per write by a
-- trigger.  Reading them from the manifest itself decompressed the whole
-- (TOASTed) jsonb once per field per row on every GET /api/agents.
-- (A generated column cannot be used: jsonb_build_object is not immutable.)
ALTER TABLE agents ADD COLUMN summary jsonb;

CREATE FUNCTION agents_set_summary() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	m jsonb := NEW.manifest;
BEGIN
	NEW.summary := jsonb_build_object(
		'model', jsonb_build_object(
			'provider', m->'model'->'provider',
			'model', m->'model'->'model'),
		'description', m->'description',
		'tags', m->'tags');
	RETURN NEW;
END
$$;

CREATE TRIGGER agents_summary BEFORE INSERT OR UPDATE OF manifest ON agents
	FOR EACH ROW EXECUTE FUNCTION agents_set_summary();

UPDATE agents SET manifest = manifest;
