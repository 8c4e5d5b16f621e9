-- Core objects, privileges and settings.
BEGIN;
SELECT plan(9);

SELECT has_schema('steward');
SELECT has_function('steward', 'version', ARRAY[]::text[]);
SELECT is(steward.version(),
          (SELECT extversion::text FROM pg_extension WHERE extname = 'pg_steward'),
          'library and installed script have the same version');
SELECT has_view('steward', 'settings', 'view steward.settings exists');
SELECT set_eq(
	'SELECT name FROM steward.settings',
	'SELECT name FROM pg_settings WHERE name LIKE ''steward.%''',
	'settings view lists every steward.* setting');
SELECT ok((SELECT count(*) FROM steward.settings WHERE description IS NULL OR description = '') = 0,
          'every setting has a description');
SELECT is((SELECT value FROM steward.settings WHERE name = 'steward.enabled'), 'on',
          'scheduler is enabled by default');

-- Settings are reloaded by SIGHUP, not changed per session.
SELECT throws_ok($$SELECT set_config('steward.naptime', '500', false)$$,
                 '55P02', NULL, 'steward.naptime cannot be set per session');

-- An ordinary role can read the settings view.
CREATE ROLE steward_tap_reader;
SET LOCAL ROLE steward_tap_reader;
SELECT ok((SELECT count(*) FROM steward.settings) > 0, 'ordinary roles can read steward.settings');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
