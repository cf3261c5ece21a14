"""Resolving a policy calendar into `CalendarData`: the only place that reads the `holidays` package and tzdata.

Clients, the API and activities call it when a clock starts (or when an operator refreshes live clocks); the
workflows never do: they compute on the data they were given. An official year comes from the policy
(`[calendars.NAME.years.YYYY]`) when the operator published it there, else from the `holidays` package when the
package knows it, else it is left out of the data and the calendar treats it as provisional.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from sla.calendar import CalendarData, CalendarError, OfficialYear
from sla.calendar_spec import WEEKDAYS, CalendarSpec, parse_window

# Countries whose official calendar moves weekends around holidays by annual decree: a year counts as known
# only once its make-up workdays are in the `holidays` data (China publishes next year's in November).
DECREED_SCHEDULES = frozenset({"CN"})
# Years a clock's data covers: its start year (and the one before, for instants near New Year in other zones)
# through this many years after it. Later instants are provisional until a refresh brings them.
YEARS_AHEAD = 2
# The zone's offsets are kept further ahead: a daylight-saving change is known by rule, unlike a holiday.
OFFSET_YEARS_AHEAD = 12


def years_around(instant: datetime, ahead: int = YEARS_AHEAD) -> range:
    year = instant.astimezone(timezone.utc).year
    return range(year - 1, year + ahead + 1)


def resolve(name: str, spec: CalendarSpec, years: range) -> CalendarData:
    """The calendar `name` as data for `years` (official schedules, offsets, windows, weekly pattern)."""
    official: dict[int, OfficialYear] = {}
    weekly = frozenset(WEEKDAYS.index(d) for d in spec.workdays)
    for year in years:
        if year in spec.years:
            given = spec.years[year]
            official[year] = OfficialYear(holidays=tuple(sorted(given.holidays)),
                                          workdays=tuple(sorted(given.workdays)), source="policy")
        elif spec.holidays and package_knows(spec.holidays, year):
            table = _country_year(spec.holidays, year)
            # Only the days that change the weekly answer: the data rides in every clock's workflow input.
            off = sorted(d for d in table if d.weekday() in weekly)
            on = sorted(d for d in getattr(table, "weekend_workdays", ()) if d.year == year)
            official[year] = OfficialYear(holidays=tuple(off), workdays=tuple(on), source="package")
    windows = []
    for text in spec.hours:
        open_t, close_t = parse_window(text)
        windows.append((_seconds(open_t), 86400 if close_t is None else _seconds(close_t)))
    return CalendarData(
        name=name, timezone=spec.timezone,
        offsets=zone_offsets(spec.timezone, years.start, years.start + 1 + OFFSET_YEARS_AHEAD),
        windows=tuple(windows), workdays=tuple(sorted(weekly)),
        official=spec.holidays or ("policy" if spec.years else None), years=official,
        extra_holidays=tuple(sorted(spec.extra_holidays)), extra_workdays=tuple(sorted(spec.extra_workdays)),
    )


def resolve_at(name: str, spec: CalendarSpec, instant: datetime) -> CalendarData:
    """The data a clock starting at `instant` carries."""
    return resolve(name, spec, years_around(instant))


def _seconds(value: time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


# ---- the holidays package ----------------------------------------------------------------------------------------
@lru_cache(maxsize=512)
def _country_year(country: str, year: int):
    try:
        return holidays_lib.country_holidays(country, years=year, language="en_US")
    except NotImplementedError as exc:
        raise CalendarError(f"unknown holiday country {country!r}") from exc


@lru_cache(maxsize=16)
def published_years(country: str) -> tuple[int, int] | None:
    """First and last year the `holidays` data carries for a decreed schedule; None: known by rule every year."""
    if country not in DECREED_SCHEDULES:
        return None
    try:
        probe = holidays_lib.country_holidays(country, years=range(1990, 2100), language="en_US")
    except NotImplementedError as exc:
        raise CalendarError(f"unknown holiday country {country!r}") from exc
    years = sorted({d.year for d in probe.weekend_workdays})
    if not years:
        return None
    return years[0], years[-1]


def package_knows(country: str, year: int) -> bool:
    known = published_years(country)
    return known is None or known[0] <= year <= known[1]


def known_country(country: str) -> bool:
    try:
        _country_year(country, 2026)
    except CalendarError:
        return False
    return True


def official_horizon(spec: CalendarSpec, today: date) -> tuple[date | None, str]:
    """(the last day the calendar knows officially, where it comes from); (None, ...) when never provisional.

    The horizon is where a run of known years starting at today's year ends: the package's last published
    year, carried further by consecutive years the policy publishes.
    """
    if not spec.holidays and not spec.years:
        return None, "weekly pattern"
    source = "policy"
    if spec.holidays:
        known = published_years(spec.holidays)
        if known is None:
            return None, f"holidays package ({spec.holidays}, by rule)"
        last, source = known[1], f"holidays package {holidays_lib.__version__}"
    else:
        last = today.year - 1
    while last + 1 in spec.years:
        last, source = last + 1, "policy"
    return date(last, 12, 31), source


# ---- the zone ----------------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def zone_offsets(zone: str, first_year: int, last_year: int) -> tuple[tuple[datetime, int], ...]:
    """(UTC instant, offset seconds) at the first instant of `first_year` and at every change up to `last_year`."""
    tz = ZoneInfo(zone)
    start = datetime(first_year, 1, 1, tzinfo=timezone.utc)
    end = datetime(last_year + 1, 1, 1, tzinfo=timezone.utc)

    def offset(at: datetime) -> int:
        utc_offset = at.astimezone(tz).utcoffset()
        assert utc_offset is not None  # a ZoneInfo always knows its offset
        return int(utc_offset.total_seconds())

    out = [(start, offset(start))]
    cursor = start
    while cursor < end:
        nxt = cursor + timedelta(hours=6)
        if offset(nxt) != out[-1][1]:
            lo, hi = cursor, nxt  # the change lies in (lo, hi]: find its second
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if offset(mid) == out[-1][1]:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, offset(hi)))
        cursor = nxt
    return tuple(out)


def window_time(seconds: int) -> str:
    return "24:00" if seconds >= 86400 else f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"

