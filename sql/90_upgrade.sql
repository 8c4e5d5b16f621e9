-- Upgrade path: installing the oldest shipped version and updating to the
-- default one must give exactly the objects of a fresh install.
CREATE FUNCTION pg_temp.steward_objects()
RETURNS TABLE (object text, definition text)
LANGUAGE sql AS $$
	SELECT pg_describe_object(d.classid, d.objid, 0),
	       CASE d.classid
	         WHEN 'pg_proc'::regclass THEN pg_get_functiondef(d.objid)
	         WHEN 'pg_class'::regclass THEN
	           coalesce(pg_get_viewdef(d.objid),
	                    (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
	                                       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
	                                       ', ' ORDER BY a.attnum)
	                       FROM pg_attribute a
	                      WHERE a.attrelid = d.objid AND a.attnum > 0 AND NOT a.attisdropped))
	       END
	  FROM pg_depend d
	  JOIN pg_extension e ON e.oid = d.refobjid
	 WHERE d.refclassid = 'pg_extension'::regclass
	   AND d.deptype = 'e' AND e.extname = 'pg_steward'
$$;

CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.steward_objects();
SELECT count(*) > 0 AS has_objects FROM fresh;

SELECT version AS oldest
  FROM pg_available_extension_versions
 WHERE name = 'pg_steward'
 ORDER BY string_to_array(version, '.')::int[]
 LIMIT 1 \gset

SET client_min_messages = warning;
DROP EXTENSION pg_steward CASCADE;
CREATE EXTENSION pg_steward VERSION :'oldest';
ALTER EXTENSION pg_steward UPDATE;
RESET client_min_messages;

SELECT extversion = (SELECT default_version FROM pg_available_extensions
                      WHERE name = 'pg_steward') AS at_default_version
  FROM pg_extension WHERE extname = 'pg_steward';

-- Objects missing after the upgrade, or different from a fresh install.
(SELECT 'missing' AS problem, * FROM fresh
 EXCEPT SELECT 'missing', * FROM pg_temp.steward_objects())
UNION ALL
(SELECT 'extra', * FROM pg_temp.steward_objects()
 EXCEPT SELECT 'extra', * FROM fresh)
ORDER BY 2;

-- A second update is a no-op.
ALTER EXTENSION pg_steward UPDATE;
