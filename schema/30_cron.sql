-- Schedules: cron expressions, @macros and fixed intervals (src/cron.c).

-- Not STRICT: a NULL time zone selects the steward.timezone setting.  A NULL
-- schedule, "after" or count returns no rows.
CREATE FUNCTION steward.next_runs(
	schedule text,
	after timestamptz DEFAULT now(),
	count integer DEFAULT 5,
	timezone text DEFAULT NULL)
RETURNS SETOF timestamptz
AS 'MODULE_PATHNAME', 'steward_next_runs'
LANGUAGE C STABLE PARALLEL SAFE ROWS 5;

COMMENT ON FUNCTION steward.next_runs(text, timestamptz, integer, text) IS
'next "count" (0-100000) run times of a schedule strictly after "after", in '
'"timezone" (default: the steward.timezone setting); a schedule is five cron '
'fields, a macro such as @daily, or an interval such as ''5 minutes''';

CREATE FUNCTION steward.check_schedule(schedule text)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_check_schedule'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION steward.check_schedule(text) IS
'raise an error (SQLSTATE 22023) if a schedule is not valid';
