-- Schedules: cron fields, macros and intervals (src/cron.c).
-- The golden table below is re-computed by an independent brute-force
-- implementation: python3 test/cron_oracle.py
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET client_min_messages = warning;
\pset format unaligned
\pset null '(null)'

CREATE TEMP TABLE cron_case (
	id int PRIMARY KEY,
	schedule text NOT NULL,
	tz text,
	after timestamptz NOT NULL,
	n int NOT NULL
);

INSERT INTO cron_case VALUES
-- syntax forms (UTC; 2026-01-01 is a Thursday)
(1, '* * * * *', 'UTC', '2026-01-01 00:00:30+00', 3),
(2, '* * * * *', 'UTC', '2026-01-01 00:00:00.000001+00', 2),
(3, '*/15 * * * *', 'UTC', '2026-01-01 00:00+00', 4),
(4, '5 * * * *', 'UTC', '2026-01-01 00:05+00', 3),
(5, '0,30 9-17 * * *', 'UTC', '2026-01-01 16:45+00', 4),
(6, '10-20/5 * * * *', 'UTC', '2026-01-01 00:12+00', 4),
(7, '7/20 * * * *', 'UTC', '2026-01-01 00:00+00', 4),
(8, '0 */6 * * *', 'UTC', '2026-01-01 00:00+00', 4),
(9, '0 9 * * 1-5', 'UTC', '2026-01-02 10:00+00', 4),
(10, '30 8 1 * *', 'UTC', '2026-01-01 09:00+00', 3),
(11, '0 0 1 JAN,jul *', 'UTC', '2026-01-01 00:00+00', 3),
(12, '0 12 * FEB-apr MON', 'UTC', '2026-01-01 00:00+00', 4),
(13, '0 0 * * SUN', 'UTC', '2026-01-01 00:00+00', 3),
(14, '0 0 * * 7', 'UTC', '2026-01-01 00:00+00', 3),
(15, '0 0 * * 5-7', 'UTC', '2026-01-01 00:00+00', 4),
(16, '0 0 * * 1-7', 'UTC', '2026-01-01 00:00+00', 4),
(17, '0 0 * * sat,SUN', 'UTC', '2026-01-01 00:00+00', 4),
(18, '0 0 * * */2', 'UTC', '2026-01-01 00:00+00', 4),
(19, '0 0 * * 1/2', 'UTC', '2026-01-01 00:00+00', 4),
(20, '0 0 13 * 5', 'UTC', '2026-02-01 00:00+00', 5),
(21, '0 0 1,15 * 3', 'UTC', '2026-01-01 00:00+00', 5),
(22, '0 0 */10 * *', 'UTC', '2026-01-01 00:00+00', 4),
(23, '0 0 31 * *', 'UTC', '2026-01-01 00:00+00', 4),
(24, '0 0 29 2 *', 'UTC', '2026-01-01 00:00+00', 4),
(25, '0 0 29 2 1', 'UTC', '2026-01-01 00:00+00', 6),
(26, '0 0 29 2 mon', 'UTC', '2028-02-20 00:00+00', 4),
(27, '0 0 29 2 *', 'UTC', '2096-03-01 00:00+00', 2),
(28, '0 0 1 */3 *', 'UTC', '2026-01-01 00:00+00', 4),
(29, '59 23 31 12 *', 'UTC', '2026-06-01 00:00+00', 2),
(30, '0 0 30 2 1', 'UTC', '2026-01-01 00:00+00', 3),
(31, '  0   12  *  *  *  ', 'UTC', '2026-01-01 12:00+00', 2),
(32, '0-59/30 0-23/12 1-31/15 1-12/6 *', 'UTC', '2026-01-01 00:00+00', 5),
(33, '1,2,3-5,10-20/5,59 * * * *', 'UTC', '2026-01-01 00:00+00', 8),
(34, '0 0 * * 0,7', 'UTC', '2026-01-01 00:00+00', 2),
(35, '15 14 1 * *', 'UTC', '2026-01-01 00:00+00', 3),
(36, '0 22 * * 1-5', 'UTC', '2026-01-02 23:00+00', 3),
(37, '0 4 8-14 * *', 'UTC', '2026-01-13 05:00+00', 3),
(38, '0 0 * 2 *', 'UTC', '2026-02-27 00:00+00', 3),
(39, '*/5 * * * *', 'UTC', '2026-12-31 23:57+00', 3),
(40, '0 0 1 OCT-DEC *', 'UTC', '2026-01-01 00:00+00', 4),
-- macros
(41, '@yearly', 'UTC', '2026-01-01 00:00+00', 2),
(42, '@annually', 'UTC', '2026-06-01 00:00+00', 2),
(43, '@monthly', 'UTC', '2026-01-31 00:00+00', 3),
(44, '@weekly', 'UTC', '2026-01-01 00:00+00', 3),
(45, '@daily', 'UTC', '2026-01-01 00:00+00', 3),
(46, '@midnight', 'UTC', '2026-01-01 00:00+00', 2),
(47, '@hourly', 'UTC', '2026-01-01 00:00+00', 3),
(48, '@DAILY', 'Europe/Berlin', '2026-03-28 12:00+00', 3),
-- intervals (absolute time, unaffected by DST)
(49, '30 seconds', 'UTC', '2026-01-01 00:00:10.5+00', 3),
(50, '1 second', 'UTC', '2026-01-01 00:00+00', 3),
(51, '90 seconds', 'UTC', '2026-01-01 00:00+00', 3),
(52, '5 minutes', 'UTC', '2026-01-01 00:01+00', 3),
(53, '1 minute', 'UTC', '2026-01-01 00:00+00', 2),
(54, '2 hours', 'UTC', '2026-01-01 00:00+00', 3),
(55, '1 HOUR', 'UTC', '2026-01-01 00:00+00', 2),
(56, '1 day', 'Europe/Berlin', '2026-03-28 12:00+00', 3),
(57, '3 days', 'America/New_York', '2026-10-30 12:00+00', 3),
(58, '  10   minutes  ', 'UTC', '2026-01-01 00:00+00', 2),
-- Europe/Berlin, 2026-03-29 01:00 UTC: 02:00 CET -> 03:00 CEST
(59, '30 2 * * *', 'Europe/Berlin', '2026-03-27 12:00+00', 4),
(60, '0 2 * * *', 'Europe/Berlin', '2026-03-28 12:00+00', 3),
(61, '*/20 2 * * *', 'Europe/Berlin', '2026-03-28 00:00+00', 6),
(62, '0 2,3 * * *', 'Europe/Berlin', '2026-03-28 12:00+00', 4),
(63, '30 * * * *', 'Europe/Berlin', '2026-03-28 23:00+00', 4),
(64, '*/15 * * * *', 'Europe/Berlin', '2026-03-29 00:40+00', 4),
(65, '30 1-3 * * *', 'Europe/Berlin', '2026-03-28 22:00+00', 4),
(66, '0 3 * * *', 'Europe/Berlin', '2026-03-28 12:00+00', 2),
(67, '0 2 29 3 *', 'Europe/Berlin', '2026-01-01 00:00+00', 2),
(68, '59 1 29 3 *', 'Europe/Berlin', '2026-01-01 00:00+00', 1),
(69, '* 2 29 3 *', 'Europe/Berlin', '2026-03-29 00:58+00', 3),
(70, '* * 29 3 *', 'Europe/Berlin', '2026-03-29 00:58+00', 3),
-- Europe/Berlin, 2026-10-25 01:00 UTC: 03:00 CEST -> 02:00 CET
(71, '30 2 * * *', 'Europe/Berlin', '2026-10-24 12:00+00', 3),
(72, '30 * * * *', 'Europe/Berlin', '2026-10-24 23:00+00', 4),
(73, '*/30 2 * * *', 'Europe/Berlin', '2026-10-24 23:50+00', 4),
(74, '0 * * * *', 'Europe/Berlin', '2026-10-24 22:30+00', 5),
(75, '45 2 * * *', 'Europe/Berlin', '2026-10-25 01:10+00', 2),
(76, '45 * * * *', 'Europe/Berlin', '2026-10-25 01:10+00', 2),
(77, '0 3 * * *', 'Europe/Berlin', '2026-10-24 12:00+00', 2),
(78, '0 2 * * 0', 'Europe/Berlin', '2026-10-18 12:00+00', 2),
(79, '* 2 25 10 *', 'Europe/Berlin', '2026-10-25 00:58+00', 3),
(80, '* * 25 10 *', 'Europe/Berlin', '2026-10-25 00:58+00', 4),
-- America/New_York, 2026-03-08 07:00 UTC: 02:00 EST -> 03:00 EDT
(81, '30 2 * * *', 'America/New_York', '2026-03-07 00:00+00', 3),
(82, '*/30 * * * *', 'America/New_York', '2026-03-08 06:15+00', 3),
(83, '0 2 * * 0', 'America/New_York', '2026-03-01 12:00+00', 2),
(84, '30 * 8 3 *', 'America/New_York', '2026-03-08 04:00+00', 4),
-- America/New_York, 2026-11-01 06:00 UTC: 02:00 EDT -> 01:00 EST
(85, '30 1 * * *', 'America/New_York', '2026-10-31 12:00+00', 2),
(86, '30 * * * *', 'America/New_York', '2026-11-01 04:00+00', 4),
(87, '0 1-2 * * *', 'America/New_York', '2026-11-01 04:00+00', 3),
(88, '0 0-3 1 11 *', 'America/New_York', '2026-11-01 00:00+00', 4),
-- Australia/Lord_Howe, 2026-04-04 15:00 UTC: 02:00 +11 -> 01:30 +10:30
(89, '45 1 * * *', 'Australia/Lord_Howe', '2026-04-03 12:00+00', 3),
(90, '*/15 1 * * *', 'Australia/Lord_Howe', '2026-04-04 13:50+00', 5),
(91, '15,45 * * * *', 'Australia/Lord_Howe', '2026-04-04 13:00+00', 6),
(92, '0,30 * * * *', 'Australia/Lord_Howe', '2026-04-04 13:50+00', 5),
(93, '30 2 * * *', 'Australia/Lord_Howe', '2026-04-04 12:00+00', 2),
-- Australia/Lord_Howe, 2026-10-03 15:30 UTC: 02:00 +10:30 -> 02:30 +11
(94, '15 2 * * *', 'Australia/Lord_Howe', '2026-10-02 12:00+00', 3),
(95, '*/10 2 * * *', 'Australia/Lord_Howe', '2026-10-03 15:00+00', 4),
(96, '*/10 * * * *', 'Australia/Lord_Howe', '2026-10-03 15:05+00', 4),
(97, '45 2 * * *', 'Australia/Lord_Howe', '2026-10-03 12:00+00', 2),
(98, '0 2 4 10 *', 'Australia/Lord_Howe', '2026-01-01 00:00+00', 2),
-- other zones and edges
(99, '0 9 * * *', 'Asia/Kolkata', '2026-01-01 00:00+00', 2),
(100, '0 9 * * *', 'Asia/Kathmandu', '2026-01-01 00:00+00', 2),
(101, '0 0 * * *', 'Pacific/Chatham', '2026-04-03 00:00+00', 3),
(102, '0 0 * * *', 'America/Havana', '2026-03-06 12:00+00', 3),
(103, '30 23 * * *', 'America/Santiago', '2026-04-03 12:00+00', 3),
(104, '30 * * * *', 'America/Santiago', '2026-04-05 01:00+00', 4),
(105, '0 0 * * *', 'America/Santiago', '2026-09-05 12:00+00', 2),
(106, '30 2 * * *', 'Europe/Berlin', '2099-03-27 12:00+00', 3),
(107, '30 2 * * *', 'America/New_York', '1999-04-03 00:00+00', 2),
(108, '0 0 * * *', 'UTC', '1969-12-31 12:00+00', 3),
(109, '0 0 * * *', 'EST5EDT', '2026-03-07 12:00+00', 3),
(110, '0 0 * * *', NULL, '2026-01-01 00:00+00', 2),
(111, '0 12 * * *', 'UTC', '2026-01-01 00:00+00', 0);

SELECT c.id, c.schedule, c.tz, c.after, c.n, r.runs_utc, r.runs_local
  FROM cron_case c,
       LATERAL (SELECT string_agg(to_char(t, 'YYYY-MM-DD HH24:MI:SS'), ', ' ORDER BY i) AS runs_utc,
                       string_agg(to_char(t AT TIME ZONE coalesce(c.tz, 'UTC'), 'MM-DD HH24:MI'), ', ' ORDER BY i) AS runs_local
                  FROM steward.next_runs(c.schedule, c.after, c.n, c.tz) WITH ORDINALITY AS x(t, i)) r
 ORDER BY c.id;

-- many runs across DST transitions: strictly increasing, whole minutes
SELECT count(*) AS runs,
       bool_and(t > prev OR prev IS NULL) AS increasing,
       bool_and(extract(second FROM t) = 0) AS whole_minutes
  FROM (SELECT t, lag(t) OVER (ORDER BY i) AS prev
          FROM steward.next_runs('*/7 * * * *', '2026-01-01 00:00+00', 100000,
                                 'Australia/Lord_Howe') WITH ORDINALITY AS x(t, i)) s;
SELECT count(*) AS runs,
       bool_and(to_char(t AT TIME ZONE 'Europe/Berlin', 'MM-DD HH24:MI') = '02-29 00:00') AS all_feb_29,
       max(t) AS last
  FROM steward.next_runs('0 0 29 2 *', '2000-01-01 00:00+00', 1000, 'Europe/Berlin') AS t;

-- defaults, NULL arguments and infinity
SELECT count(*) FROM steward.next_runs('@hourly');
SELECT count(*) FROM steward.next_runs(NULL);
SELECT count(*) FROM steward.next_runs('@daily', NULL);
SELECT count(*) FROM steward.next_runs('@daily', '2026-01-01', NULL);
SELECT count(*) FROM steward.next_runs('@daily', 'infinity');
SELECT steward.check_schedule(NULL) IS NULL AS null_ok;
SELECT steward.check_schedule(E'0\t12 * * *\n');
SELECT steward.check_schedule('*/1 0-23 1-31 1-12 0-7');

-- errors
SELECT steward.check_schedule('61 * * * *');
SELECT steward.check_schedule('* 24 * * *');
SELECT steward.check_schedule('* * 0 * *');
SELECT steward.check_schedule('* * 32 * *');
SELECT steward.check_schedule('* * * 13 *');
SELECT steward.check_schedule('* * * 0 *');
SELECT steward.check_schedule('* * * * 8');
SELECT steward.check_schedule('* * * * FOO');
SELECT steward.check_schedule('* * * JANUARY *');
SELECT steward.check_schedule('JAN * * * *');
SELECT steward.check_schedule('*/0 * * * *');
SELECT steward.check_schedule('* 0-23/0 * * *');
SELECT steward.check_schedule('30-10 * * * *');
SELECT steward.check_schedule('* * * DEC-JAN *');
SELECT steward.check_schedule('* * * * SAT-SUN');
SELECT steward.check_schedule('1,,2 * * * *');
SELECT steward.check_schedule('5-x * * * *');
SELECT steward.check_schedule('*/ * * * *');
SELECT steward.check_schedule('*-5 * * * *');
SELECT steward.check_schedule('-1 * * * *');
SELECT steward.check_schedule('99999999999 * * * *');
SELECT steward.check_schedule('0 0 30 2 *');
SELECT steward.check_schedule('0 0 31 4,6,9,11 *');
SELECT steward.check_schedule('* * * *');
SELECT steward.check_schedule('* * * * * *');
SELECT steward.check_schedule('');
SELECT steward.check_schedule('@fortnightly');
SELECT steward.check_schedule('@daily 5');
SELECT steward.check_schedule('0 minutes');
SELECT steward.check_schedule('-5 minutes');
SELECT steward.check_schedule('5 weeks');
SELECT steward.check_schedule('x minutes');
SELECT steward.check_schedule('1.5 hours');
SELECT steward.check_schedule('99999999999999999999 days');
SELECT steward.check_schedule('106751992 days');
SELECT * FROM steward.next_runs('@daily', '2026-01-01', 1, 'Mars/Base');
SELECT * FROM steward.next_runs('@daily', '2026-01-01', -1);
SELECT * FROM steward.next_runs('@daily', '2026-01-01', 100001);
SELECT * FROM steward.next_runs('@daily', '-infinity');
