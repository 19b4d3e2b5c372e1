-- The version of what users changed in the catalog (provider keys and
-- URLs, model aliases, custom models; catalog/catalog.c): any statement
-- that writes one of those tables stamps it with its transaction's id.
-- A turn reads it in its take (turn/session.c) and resolves its models
-- from what this replica last read at that version, without a query
-- of its own.  A transaction id names one state of the tables, also
-- after a restore brings an older one back.
CREATE TABLE catalog_version (
	id	boolean PRIMARY KEY DEFAULT true CHECK (id),
	v	bigint NOT NULL
);
INSERT INTO catalog_version (v) VALUES (txid_current());

CREATE FUNCTION catalog_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE catalog_version SET v = txid_current();
	RETURN NULL;
END
$$;

CREATE TRIGGER provider_keys_version AFTER INSERT OR UPDATE OR DELETE
    OR TRUNCATE ON provider_keys
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
CREATE TRIGGER provider_urls_version AFTER INSERT OR UPDATE OR DELETE
    OR TRUNCATE ON provider_urls
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
CREATE TRIGGER model_aliases_version AFTER INSERT OR UPDATE OR DELETE
    OR TRUNCATE ON model_aliases
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
CREATE TRIGGER custom_models_version AFTER INSERT OR UPDATE OR DELETE
    OR TRUNCATE ON custom_models
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
