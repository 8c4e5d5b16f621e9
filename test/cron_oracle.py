#!/usr/bin/env python3
"""Independent brute-force oracle for steward.next_runs() (src/cron.c).

The C code searches calendar fields cleverly and walks the zone's UTC-offset
segments.  This file shares none of that: it parses schedules with its own
(regex-based) parser, then for every local day that matches it tries each of
the 1440 wall-clock minutes, maps the matching ones to instants with
zoneinfo (fold=0 / fold=1) and applies the DST rules literally:

  * a wall time that exists once runs at that instant;
  * a wall time that exists twice (fall back) runs at both instants when the
    hour field is '*', and only at the first one when the hour field is
    restricted;
  * a wall time that does not exist (spring forward) has no run when the
    hour field is '*'; with a restricted hour field it runs at the first
    instant whose wall time is later than it (the end of the gap).

The runs are then de-duplicated, sorted, and those strictly after "after"
are kept.  Intervals are after + k * interval.

Usage:
  python3 test/cron_oracle.py [OUTFILE]
      Re-compute every golden row of expected/30_cron.out (or OUTFILE) and
      print PASS/FAIL per case; also check that every schedule the .out shows
      as rejected by steward.check_schedule() is rejected here too.
  python3 test/cron_oracle.py --psql [N] [SEED]
      Additionally compare N random schedules (default 300) against a running
      server through psql (PGHOST, PGPORT, PGUSER, PGDATABASE from the
      environment; the database needs the extension).

Exit status is 0 only if every check passes.
"""

import datetime as dt
import os
import random
import re
import subprocess
import sys
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc

FIELDS = [  # name, min, max, max used by '*' and 'a/n'
    ("minute", 0, 59, 59),
    ("hour", 0, 23, 23),
    ("day-of-month", 1, 31, 31),
    ("month", 1, 12, 12),
    ("day-of-week", 0, 7, 6),
]
MONTH_NAMES = "jan feb mar apr may jun jul aug sep oct nov dec".split()
DAY_NAMES = "sun mon tue wed thu fri sat".split()
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
MAX_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


class ScheduleError(Exception):
    def __init__(self, msg, field=None):
        super().__init__(msg)
        self.field = field


def _value(tok, idx):
    name, lo, hi, _ = FIELDS[idx]
    if tok.isdigit():
        v = int(tok)
        if not lo <= v <= hi:
            raise ScheduleError(f"{name} value {tok} out of range", name)
        return v
    names = MONTH_NAMES if idx == 3 else DAY_NAMES if idx == 4 else None
    if names and tok.lower() in names:
        return names.index(tok.lower()) + (1 if idx == 3 else 0)
    raise ScheduleError(f"{name} invalid value {tok!r}", name)


def _field(text, idx):
    name, lo, hi, star_hi = FIELDS[idx]
    values = set()
    for item in text.split(","):
        m = re.fullmatch(r"(\*|[0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?(?:/([0-9]+))?", item)
        if not m or (m.group(1) == "*" and m.group(2)):
            raise ScheduleError(f"{name} invalid element {item!r}", name)
        base, end, step = m.groups()
        if base == "*":
            a, b = lo, star_hi
        else:
            a = _value(base, idx)
            b = _value(end, idx) if end else a
            if b < a:
                raise ScheduleError(f"{name} reversed range {item!r}", name)
            if step is not None and end is None:
                b = max(a, star_hi)
        n = int(step) if step is not None else 1
        if n == 0:
            raise ScheduleError(f"{name} step 0", name)
        values.update(range(a, b + 1, n))
    if idx == 4 and 7 in values:
        values = (values - {7}) | {0}
    return values


def parse(text):
    """Return a dict describing the schedule, or raise ScheduleError."""
    toks = text.split()
    if toks and toks[0].startswith("@"):
        if len(toks) != 1 or toks[0].lower() not in MACROS:
            raise ScheduleError("unknown macro")
        toks = MACROS[toks[0].lower()].split()
    elif len(toks) == 2 and toks[1].isalpha() and toks[1].isascii():
        unit = toks[1].lower()
        unit = unit[:-1] if unit.endswith("s") else unit
        if unit not in UNITS:
            raise ScheduleError("unknown unit")
        if not re.fullmatch(r"-?[0-9]+", toks[0]):
            raise ScheduleError("count not an integer")
        n = int(toks[0])
        if n <= 0:
            raise ScheduleError("interval must be positive")
        usecs = n * UNITS[unit] * 1000000
        if usecs > 2**63 - 1:
            raise ScheduleError("interval out of range")
        return {"interval": dt.timedelta(microseconds=usecs)}
    if len(toks) != 5:
        raise ScheduleError("expected 5 fields")
    sets = [_field(t, i) for i, t in enumerate(toks)]
    s = {
        "interval": None,
        "minutes": sets[0], "hours": sets[1], "doms": sets[2],
        "months": sets[3], "dows": sets[4],
        "hour_r": toks[1] != "*", "dom_r": toks[2] != "*", "dow_r": toks[4] != "*",
    }
    if s["dom_r"] and not s["dow_r"]:
        if not any(d <= MAX_DAYS[m] for m in s["months"] for d in s["doms"]):
            raise ScheduleError("day-of-month never matches", "day-of-month")
    return s


def day_matches(s, d):
    if d.month not in s["months"]:
        return False
    dom = d.day in s["doms"]
    dow = (d.isoweekday() % 7) in s["dows"]
    if s["dom_r"] and s["dow_r"]:
        return dom or dow
    if s["dom_r"]:
        return dom
    if s["dow_r"]:
        return dow
    return True


def wall(t, tz):
    return t.astimezone(tz).replace(tzinfo=None)


def instants(w, tz):
    """All UTC instants whose wall-clock time in tz is the naive datetime w."""
    out = set()
    for fold in (0, 1):
        t = w.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if wall(t, tz) == w:
            out.add(t)
    return sorted(out)


def gap_end(w, tz):
    """First instant whose wall time is later than the nonexistent time w."""
    t = min(w.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1))
    t -= dt.timedelta(hours=1)
    while wall(t, tz) <= w:
        t += dt.timedelta(minutes=1)
    while wall(t - dt.timedelta(seconds=1), tz) > w:
        t -= dt.timedelta(seconds=1)
    return t


def next_runs(text, after, count, tzname):
    s = parse(text)
    if s["interval"] is not None:
        return [after + k * s["interval"] for k in range(1, count + 1)]
    tz = ZoneInfo(tzname or "UTC")
    runs = set()
    day = after.astimezone(tz).date() - dt.timedelta(days=2)
    last_day = day + dt.timedelta(days=366 * 30)
    while count > 0 and day < last_day:
        if day_matches(s, day):
            for minute_of_day in range(1440):
                h, m = divmod(minute_of_day, 60)
                if h not in s["hours"] or m not in s["minutes"]:
                    continue
                w = dt.datetime.combine(day, dt.time(h, m))
                found = instants(w, tz)
                if not found:
                    if s["hour_r"]:
                        runs.add(gap_end(w, tz))
                elif s["hour_r"]:
                    runs.add(found[0])
                else:
                    runs.update(found)
        day += dt.timedelta(days=1)
        later = sorted(t for t in runs if t > after)
        # no wall time of a later day can map before (its midnight - 2 days)
        if len(later) >= count and later[count - 1] < (
                dt.datetime.combine(day, dt.time()).replace(tzinfo=UTC)
                - dt.timedelta(days=2)):
            break
    return sorted(t for t in runs if t > after)[:count]


# --------------------------------------------------------------------------
# Formatting and parsing of psql output

def fmt_utc(t):
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_local(t, tzname):
    return t.astimezone(ZoneInfo(tzname or "UTC")).strftime("%m-%d %H:%M")


def parse_pg_timestamptz(text):
    text = text.strip()
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    return dt.datetime.fromisoformat(text)


def check_golden(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    header = "id|schedule|tz|after|n|runs_utc|runs_local"
    passed = failed = 0
    try:
        start = lines.index(header) + 1
    except ValueError:
        print(f"FAIL: no golden table header in {path}")
        return 0, 1
    for line in lines[start:]:
        if re.fullmatch(r"\(\d+ rows?\)", line):
            break
        cid, sched, tzname, after, n, runs_utc, runs_local = line.split("|")
        tzname = None if tzname == "(null)" else tzname
        after_t = parse_pg_timestamptz(after)
        want = next_runs(sched, after_t, int(n), tzname)
        want_utc = ", ".join(fmt_utc(t) for t in want) or "(null)"
        want_local = ", ".join(fmt_local(t, tzname) for t in want) or "(null)"
        label = f"case {cid}: {sched!r} after {after} in {tzname or 'default'}"
        if want_utc == runs_utc and want_local == runs_local:
            passed += 1
            print(f"PASS {label}")
        else:
            failed += 1
            print(f"FAIL {label}\n  got:    {runs_utc}\n  oracle: {want_utc}"
                  f"\n  got local:    {runs_local}\n  oracle local: {want_local}")

    # Every schedule shown as rejected must be rejected here too.
    for i, line in enumerate(lines):
        m = re.fullmatch(r"SELECT steward\.check_schedule\('(.*)'\);", line)
        if not m:
            continue
        sched = m.group(1).replace("''", "'")
        c_error = i + 1 < len(lines) and lines[i + 1].startswith("ERROR:")
        try:
            parse(sched)
            py_error = None
        except ScheduleError as e:
            py_error = e
        ok = c_error == (py_error is not None)
        if ok and py_error is not None and py_error.field:
            ok = f" {py_error.field} field " in lines[i + 1]
        label = f"check_schedule({sched!r}) {'rejected' if c_error else 'accepted'}"
        if ok:
            passed += 1
            print(f"PASS {label}")
        else:
            failed += 1
            print(f"FAIL {label}; oracle: {py_error or 'accepted'}")
    return passed, failed


# --------------------------------------------------------------------------
# Random comparison against a live server

FUZZ_ZONES = [
    "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
    "America/Havana", "America/Santiago", "Pacific/Chatham",
    "Africa/Casablanca", "Antarctica/Troll", "Europe/London", "Asia/Tehran",
    "Pacific/Apia", "America/St_Johns", "Asia/Kolkata", "Europe/Dublin",
    "Australia/Adelaide", "America/Nuuk", "Asia/Gaza", "Europe/Moscow",
]


def rand_field(rng, idx):
    name, lo, hi, star_hi = FIELDS[idx]
    if idx == 1:
        hot = [0, 1, 2, 3, 23, 22, 12]
    elif idx == 2:
        hot = [1, 5, 13, 28, 29, 30, 31]
    else:
        hot = list(range(lo, hi + 1))

    def val():
        v = rng.choice(hot) if rng.random() < 0.7 else rng.randint(lo, hi)
        if idx == 3 and rng.random() < 0.3:
            return MONTH_NAMES[v - 1].upper() if rng.random() < 0.5 else MONTH_NAMES[v - 1]
        if idx == 4 and v < 7 and rng.random() < 0.3:
            return DAY_NAMES[v].capitalize()
        return str(v)

    def element():
        r = rng.random()
        if r < 0.35:
            return val()
        if r < 0.55:
            a, b = sorted(rng.sample(range(lo, hi + 1), 2))
            return f"{a}-{b}"
        if r < 0.7:
            return f"*/{rng.randint(1, max(2, star_hi // 2))}"
        if r < 0.85:
            a, b = sorted(rng.sample(range(lo, hi + 1), 2))
            return f"{a}-{b}/{rng.randint(1, 4)}"
        return f"{rng.randint(lo, star_hi)}/{rng.randint(1, 7)}"

    star_p = {0: 0.15, 1: 0.45, 2: 0.65, 3: 0.7, 4: 0.65}[idx]
    if rng.random() < star_p:
        return "*"
    return ",".join(element() for _ in range(rng.choice([1, 1, 1, 2, 3])))


ODD_TOKENS = ["60", "24", "0", "32", "13", "8", "7", "foo", "*/0", "5-1", "1,,2",
              "Jan", "sun", "31", "30", "29", "-", "/5", "1-", "*/", "**", "7-7",
              "L", "?", "2/0", "1-3/", "dec-jan", "Sat-Sun", "1-7", "0-7/7", "31,30"]


def rand_schedule(rng):
    r = rng.random()
    if r < 0.05:
        return rng.choice(list(MACROS) + ["@Hourly", "@never", "@daily *"])
    if r < 0.1:
        unit = rng.choice(["second", "seconds", "minute", "minutes", "hour", "hours",
                           "day", "days", "Days", "week"])
        return f"{rng.choice([rng.randint(1, 500), 0, -3, 'x'])} {unit}"
    fields = [rand_field(rng, i) for i in range(5)]
    if rng.random() < 0.2:
        fields[rng.randrange(5)] = rng.choice(ODD_TOKENS)
    if rng.random() < 0.05:
        fields.pop()
    return " ".join(fields)


def rand_after(rng, tzname):
    tz = ZoneInfo(tzname)
    for _ in range(60):
        d = dt.datetime(rng.randint(1975, 2045), 1, 1, tzinfo=UTC) + \
            dt.timedelta(days=rng.randint(0, 364))
        if d.astimezone(tz).utcoffset() != (d + dt.timedelta(days=1)).astimezone(tz).utcoffset():
            lo, hi = d, d + dt.timedelta(days=1)
            while hi - lo > dt.timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            return hi + dt.timedelta(minutes=rng.randint(-240, 240), seconds=rng.choice([0, 0, 30]))
    return dt.datetime(rng.randint(1975, 2045), 1, 1, tzinfo=UTC) + \
        dt.timedelta(minutes=rng.randint(0, 525600))


def psql(sql):
    out = subprocess.run(["psql", "-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1"],
                         input=sql, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def check_psql(n, seed):
    rng = random.Random(seed)
    cases = []
    while len(cases) < n:
        sched = rand_schedule(rng)
        tzname = rng.choice(FUZZ_ZONES)
        cases.append((len(cases) + 1, sched, tzname, rand_after(rng, tzname),
                      rng.choice([1, 2, 3, 5, 8, 20])))

    def lit(s):
        return "'" + s.replace("'", "''") + "'"

    # 1. validity agrees
    valid_fn = ("CREATE FUNCTION pg_temp.valid(s text) RETURNS bool LANGUAGE plpgsql AS $$"
                "BEGIN PERFORM steward.check_schedule(s); RETURN true; "
                "EXCEPTION WHEN invalid_parameter_value THEN RETURN false; END $$;\n")
    rows = psql(valid_fn + "SELECT id, pg_temp.valid(s) FROM (VALUES " +
                ",".join(f"({c[0]},{lit(c[1])})" for c in cases) + ") v(id, s) ORDER BY id;")
    c_valid = {int(r.split("|")[0]): r.split("|")[1] == "t" for r in rows}
    passed = failed = 0
    good = []
    for c in cases:
        try:
            parse(c[1])
            ok = True
        except ScheduleError:
            ok = False
        if ok != c_valid[c[0]]:
            failed += 1
            print(f"FAIL random {c[0]}: {c[1]!r} valid in C: {c_valid[c[0]]}, oracle: {ok}")
        elif ok:
            good.append(c)
    # 2. runs agree
    rows = psql("SELECT v.id, string_agg(to_char(r.t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), ', ' ORDER BY r.i) "
                "FROM (VALUES " +
                ",".join(f"({c[0]},{lit(c[1])},{lit(c[2])},{lit(c[3].isoformat())}::timestamptz,{c[4]})"
                         for c in good) +
                ") v(id, s, tz, after, n) LEFT JOIN LATERAL steward.next_runs(v.s, v.after, v.n, v.tz) "
                "WITH ORDINALITY r(t, i) ON true GROUP BY v.id ORDER BY v.id;")
    got = {int(r.split("|")[0]): r.split("|")[1] for r in rows}
    for c in good:
        want = ", ".join(t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                         for t in next_runs(c[1], c[3], c[4], c[2]))
        label = f"random {c[0]}: {c[1]!r} after {c[3].isoformat()} in {c[2]} x{c[4]}"
        if got[c[0]] == want:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {label}\n  got:    {got[c[0]]}\n  oracle: {want}")
    print(f"random cases: {passed} pass, {failed} fail ({len(cases) - len(good)} invalid schedules agreed)")
    return passed, failed


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    args = argv[1:]
    use_psql = "--psql" in args
    if use_psql:
        i = args.index("--psql")
        extra = args[i + 1:]
        args = args[:i]
        n = int(extra[0]) if extra else 300
        seed = int(extra[1]) if len(extra) > 1 else 1
    path = args[0] if args else os.path.join(here, "..", "expected", "30_cron.out")
    passed, failed = check_golden(path)
    print(f"golden file: {passed} pass, {failed} fail")
    if use_psql:
        p, f = check_psql(n, seed)
        passed += p
        failed += f
    print("ALL PASS" if failed == 0 else f"{failed} FAILED")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
