-- pg_steward tour, run by `make quickstart` in database "demo".
\pset pager off
CREATE EXTENSION pg_steward;

-- Which version is loaded?
SELECT steward.version();

-- Every steward.* setting, its value and what it does.
SELECT name, value, unit, context FROM steward.settings ORDER BY name;
