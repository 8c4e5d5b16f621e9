-- Core: version and settings.

CREATE FUNCTION steward.version()
RETURNS text
AS 'MODULE_PATHNAME', 'steward_version'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION steward.version() IS
'version of the loaded pg_steward library';

-- The first statement loads the library so the steward.* settings exist even
-- in a session of a server that does not preload it.
CREATE FUNCTION steward.settings_internal(
	OUT name text, OUT value text, OUT unit text, OUT context text,
	OUT description text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT steward.version();
SELECT s.name, s.setting, s.unit, s.context, s.short_desc
  FROM pg_catalog.pg_settings s
 WHERE s.name LIKE 'steward.%'
 ORDER BY s.name;
$$;

CREATE VIEW steward.settings AS
SELECT name, value, unit, context, description
  FROM steward.settings_internal();

COMMENT ON VIEW steward.settings IS
'the steward.* settings with their current value, unit, context and description';

GRANT USAGE ON SCHEMA steward TO PUBLIC;
GRANT SELECT ON steward.settings TO PUBLIC;
