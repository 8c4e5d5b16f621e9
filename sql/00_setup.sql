-- Install the extension; every later test file relies on it.
SET client_min_messages = warning;
CREATE EXTENSION pg_steward;
RESET client_min_messages;

-- The library and the installed SQL objects agree on the version.
SELECT steward.version() = extversion AS version_matches
  FROM pg_extension WHERE extname = 'pg_steward';

SELECT extrelocatable, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'pg_steward';

-- The extension's schema cannot be moved.
ALTER EXTENSION pg_steward SET SCHEMA public;
