-- Migrations: versioned schema changes, their history, the linter.

CREATE TYPE steward.lint_finding AS (
	rule		text,
	severity	text,
	statement	int,
	location	int,
	message		text,
	hint		text
);

COMMENT ON TYPE steward.lint_finding IS
'a finding of the migration linter: rule, severity (error, warning, info), statement number, byte offset, message, hint';

CREATE FUNCTION steward.migration_lint(sql text)
RETURNS SETOF steward.lint_finding
AS 'MODULE_PATHNAME', 'steward_migration_lint'
LANGUAGE C VOLATILE STRICT;
-- No SET search_path: unqualified names in the linted SQL are resolved as
-- the caller's migration would resolve them; nothing is executed.

COMMENT ON FUNCTION steward.migration_lint(text) IS
'check SQL against the migration safety rules, with the live catalog';
