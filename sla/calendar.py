"""Business calendar: which instants count as working time, and deadline arithmetic in that time.

Working time is a set of daily windows (e.g. 09:00-12:00 and 13:00-18:00) on working days. A working day is a
configured weekday that is not an official holiday, or an official make-up workday (China moves weekends to
bridge holidays), with extra holidays/workdays on top. Official data comes from the `holidays` package; a
year whose make-up days are not published yet is refused rather than guessed.
"""

from __future__ import annotations

import calendar as calendar_module
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from sla.durations import Duration, DurationKind

# Countries whose official calendar moves weekends around holidays by annual decree: a year counts as known
# only once its make-up workdays are in the `holidays` data.
_DECREED_SCHEDULES = {"CN"}
_SEARCH_LIMIT_DAYS = 3 * 366


class CalendarError(ValueError):
    """A calendar question that cannot be answered truthfully."""


class YearNotPublished(CalendarError):
    """The official holiday schedule of this year is not known yet."""


@dataclass(frozen=True)
class BusinessCalendar:
    """Working time of one calendar; times in and out are timezone-aware datetimes."""

    name: str
    tz: ZoneInfo
    windows: tuple[tuple[time, time | None], ...]  # (open, close); close None means midnight (24:00)
    workdays: frozenset[int]  # Monday=0
    country: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    # ---- days -------------------------------------------------------------------------------------------------
    def is_working_day(self, day: date) -> bool:
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        if self.country:
            official = _official_holidays(self.country, day.year)
            if day in official.weekend_workdays:
                return True
            if day in official:
                return False
        return day.weekday() in self.workdays

    def working_days(self, start: date, end: date) -> list[date]:
        """Working dates from `start` to `end`, both included."""
        out = []
        day = start
        while day <= end:
            if self.is_working_day(day):
                out.append(day)
            day += timedelta(days=1)
        return out

    # ---- instants ---------------------------------------------------------------------------------------------
    def _day_windows(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The day's working windows as UTC instants (empty on a non-working day)."""
        if not self.is_working_day(day):
            return
        for open_t, close_t in self.windows:
            start = datetime.combine(day, open_t, self.tz)
            end = (
                datetime.combine(day + timedelta(days=1), time(0), self.tz)
                if close_t is None
                else datetime.combine(day, close_t, self.tz)
            )
            yield start.astimezone(timezone.utc), end.astimezone(timezone.utc)

    def _windows_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows that end after `instant`, clipped to start no earlier than it, in order."""
        _require_aware(instant)
        instant = instant.astimezone(timezone.utc)  # results are UTC whatever zone the caller used
        day = instant.astimezone(self.tz).date()
        for _ in range(_SEARCH_LIMIT_DAYS):
            for start, end in self._day_windows(day):
                if end > instant:
                    yield max(start, instant), end
            day += timedelta(days=1)
        raise CalendarError(f"calendar {self.name!r} has no working time within {_SEARCH_LIMIT_DAYS} days")

    def next_opening(self, instant: datetime) -> datetime:
        """`instant` itself when it is working time, else the start of the next working window."""
        return next(self._windows_from(instant))[0]

    def add_business(self, instant: datetime, length: timedelta) -> datetime:
        """The instant after `length` of working time has passed from `instant`."""
        if length < timedelta(0):
            raise CalendarError("cannot add a negative business duration")
        remaining = length
        for start, end in self._windows_from(instant):
            if remaining <= end - start:
                return start + remaining
            remaining -= end - start
        raise AssertionError("unreachable")

    def business_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time inside [a, b); negative when b is before a."""
        if b < a:
            return -self.business_between(b, a)
        total = timedelta(0)
        for start, end in self._windows_from(a):
            if start >= b:
                break
            total += min(end, b) - start
        return total

    def add(self, instant: datetime, duration: Duration) -> datetime:
        """Deadline arithmetic for any policy duration."""
        if duration.length == timedelta(0) and duration.days == 0 and duration.months == 0:
            return instant.astimezone(timezone.utc)  # "at breach" means at the breach, even after hours
        if duration.kind is DurationKind.WALL:
            return (instant + duration.length).astimezone(timezone.utc)
        if duration.kind is DurationKind.MONTHS:
            return self.add_months(instant, duration.months)
        if duration.kind is DurationKind.WORKING_HOURS:
            return self.add_business(instant, duration.length)
        return self.add_working_days(instant, duration.days)

    def add_working_days(self, instant: datetime, days: int) -> datetime:
        """The same position in the working day, `days` working days later; off-hours count from the next opening."""
        start = self.next_opening(instant)
        day = start.astimezone(self.tz).date()
        # Position = working time elapsed since the day's first opening.
        day_open = next(iter(self._day_windows(day)))[0]
        position = self.business_between(day_open, start)
        for _ in range(days):
            day = self._next_working_day(day)
        target_open = next(iter(self._day_windows(day)))[0]
        return self.add_business(target_open, position)

    def add_months(self, instant: datetime, months: int) -> datetime:
        """The same local date and time `months` later in this calendar's zone (31 Jan + 1 month = 28/29 Feb)."""
        _require_aware(instant)
        local = instant.astimezone(self.tz)
        year, month = divmod(local.month - 1 + months, 12)
        year, month = local.year + year, month + 1
        day = min(local.day, calendar_module.monthrange(year, month)[1])
        moved = datetime.combine(date(year, month, day), local.timetz().replace(tzinfo=None), self.tz)
        return moved.astimezone(timezone.utc)

    def _next_working_day(self, day: date) -> date:
        for _ in range(_SEARCH_LIMIT_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise CalendarError(f"calendar {self.name!r} has no working day within {_SEARCH_LIMIT_DAYS} days")

    def business_length(self, duration: Duration, anchor: datetime) -> timedelta:
        """How much working time `duration` spans when started at `anchor` (used for pauses and warnings)."""
        if duration.kind is DurationKind.WORKING_HOURS:
            return duration.length
        return self.business_between(anchor, self.add(anchor, duration))


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise CalendarError(f"instant {instant.isoformat()} has no time zone")


@lru_cache(maxsize=256)
def _official_holidays(country: str, year: int):
    if country in _DECREED_SCHEDULES:
        first, last = published_years(country)
        if not first <= year <= last:
            raise YearNotPublished(
                f"the official {country} holiday schedule for {year} is not published in the installed "
                f"'holidays' data (known: {first}-{last}); refusing to guess its make-up workdays - upgrade the "
                "'holidays' package once the State Council has published them"
            )
    try:
        return holidays_lib.country_holidays(country, years=year, language="en_US")
    except NotImplementedError as exc:
        raise CalendarError(f"unknown holiday country {country!r}") from exc


@lru_cache(maxsize=16)
def published_years(country: str) -> tuple[int, int]:
    """First and last year whose make-up workdays the `holidays` data carries."""
    probe = holidays_lib.country_holidays(country, years=range(1990, 2100), language="en_US")
    years = sorted({d.year for d in probe.weekend_workdays})
    if not years:
        raise CalendarError(f"no published make-up workdays for {country!r}")
    return years[0], years[-1]
