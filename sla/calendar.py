"""Business calendar: which instants count as working time, and deadline arithmetic in that time.

A calendar is plain data (`CalendarData`): the time zone's UTC offsets, the daily working windows, the weekly
workdays, and per year the official holidays and make-up workdays as explicit dates. A clock carries that data
from the moment it starts, so its deadlines never depend on the installed `holidays` or tzdata versions, and a
workflow can compute them in its own code and replay them identically years later. Resolving a policy's calendar
into data (looking up the `holidays` package and the zone) lives in `sla.official_calendar`, never here.

A year the data does not cover officially is *provisional*: it is computed from the weekly pattern plus the
extra days, and every clock whose span touches it says so. Nothing is refused because of the calendar.
"""

from __future__ import annotations

import calendar as calendar_module
import hashlib
from bisect import bisect_right
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sla.durations import Duration, DurationKind

_SEARCH_LIMIT_DAYS = 3 * 366
_DAY = 86400


class CalendarError(ValueError):
    """A calendar question that cannot be answered truthfully."""


class OfficialYear(BaseModel):
    """One year's official schedule: days off on weekdays and weekend days worked (China's make-up workdays)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()
    source: Literal["package", "policy"]


class CalendarData(BaseModel):
    """A calendar resolved into data: everything deadline arithmetic needs, nothing looked up later."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    timezone: str  # the zone's name, for people; the arithmetic uses `offsets`
    # (from this UTC instant on, the zone's UTC offset in seconds), ascending; the first also applies before it
    offsets: tuple[tuple[datetime, int], ...] = Field(min_length=1)
    windows: tuple[tuple[int, int], ...] = Field(min_length=1)  # [open, close) in seconds after local midnight
    workdays: tuple[int, ...]  # Monday = 0
    # Where official years come from (a `holidays` country code or "policy"); None: the weekly pattern and the
    # extra days are the whole truth, so no year is provisional.
    official: str | None = None
    years: dict[int, OfficialYear] = Field(default_factory=dict)
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def known_years(self) -> list[int]:
        return sorted(self.years)

    def with_years(self, years: dict[int, OfficialYear], *, extra_holidays: tuple[date, ...],
                   extra_workdays: tuple[date, ...], official: str | None) -> CalendarData:
        """This calendar with newer official years (and extra days) merged in: a year present in both takes the
        new schedule, a year only here keeps its own (a clock that started then keeps its past deadlines)."""
        merged = {**self.years, **years}
        return self.model_copy(update={
            "years": dict(sorted(merged.items())), "extra_holidays": tuple(sorted(set(extra_holidays))),
            "extra_workdays": tuple(sorted(set(extra_workdays))), "official": official or self.official,
        })


class CalendarUpdate(BaseModel):
    """Newer official years (and extra days) of one calendar, sent to the live clocks that use it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    calendar: str
    official: str | None = None
    years: dict[int, OfficialYear] = Field(default_factory=dict)
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()
    by: str | None = Field(default=None, max_length=200)

    @staticmethod
    def of(data: CalendarData, *, by: str | None = None) -> CalendarUpdate:
        return CalendarUpdate(calendar=data.name, official=data.official, years=data.years,
                              extra_holidays=data.extra_holidays, extra_workdays=data.extra_workdays, by=by)

    def apply(self, data: CalendarData) -> CalendarData:
        """`data` with this update merged in (the zone, hours and weekly pattern stay as the clock started)."""
        return data.with_years(self.years, extra_holidays=self.extra_holidays, extra_workdays=self.extra_workdays,
                               official=self.official)

    def take(self, current: CalendarData | None, subject: str,
             provisional: Callable[[], bool]) -> CalendarData | CalendarRefreshed:
        """What a live clock does with this update: the data to take, or its answer when it takes nothing (it
        carries no calendar data, uses another calendar, or already has exactly this)."""
        if current is None:
            return CalendarRefreshed(id=subject, changed=False, provisional=False,
                                     note="started before calendars travelled with their clocks")
        if self.calendar != current.name:
            return CalendarRefreshed(id=subject, changed=False, provisional=provisional(),
                                     note=f"uses calendar {current.name}")
        data = self.apply(current)
        if data == current:
            return CalendarRefreshed(id=subject, changed=False, provisional=provisional())
        return data


class CalendarRefreshed(BaseModel):
    """What one live clock did with a calendar update."""

    id: str
    changed: bool
    provisional: bool  # a running clock still touches a year nobody has published
    note: str | None = None


def wall_clock_data() -> CalendarData:
    """Around the clock in UTC: what wall-clock targets ("PT30S", "48h") run on."""
    return CalendarData(name="wall-clock", timezone="UTC", offsets=((datetime(1970, 1, 1, tzinfo=timezone.utc), 0),),
                        windows=((0, _DAY),), workdays=tuple(range(7)))


class BusinessCalendar:
    """Working time of one calendar's data; instants in are timezone-aware, instants out are UTC."""

    def __init__(self, data: CalendarData) -> None:
        self.data = data
        self.name = data.name
        self.digest = data.digest
        self._transitions = [instant.astimezone(timezone.utc) for instant, _ in data.offsets]
        self._offsets = [offset for _, offset in data.offsets]
        self._workdays = frozenset(data.workdays)
        self._extra_holidays = frozenset(data.extra_holidays)
        self._extra_workdays = frozenset(data.extra_workdays)
        self._official_off = frozenset(d for year in data.years.values() for d in year.holidays)
        self._official_on = frozenset(d for year in data.years.values() for d in year.workdays)
        self._known_years = frozenset(data.years)
        self._windows_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BusinessCalendar) and other.data == self.data

    __hash__ = None  # type: ignore[assignment]

    # ---- the zone ---------------------------------------------------------------------------------------------
    def offset_at(self, instant: datetime) -> timedelta:
        """The zone's UTC offset at a UTC instant."""
        index = max(bisect_right(self._transitions, instant) - 1, 0)
        return timedelta(seconds=self._offsets[index])

    def local(self, instant: datetime) -> datetime:
        """`instant` as naive local wall time of this calendar."""
        _require_aware(instant)
        utc = instant.astimezone(timezone.utc)
        return (utc + self.offset_at(utc)).replace(tzinfo=None)

    def local_date(self, instant: datetime) -> date:
        return self.local(instant).date()

    def to_utc(self, local: datetime) -> datetime:
        """A naive local wall time as a UTC instant: the earlier one when the clocks went back, and for a time
        skipped when they went forward the offset before the change (as zoneinfo does with fold=0)."""
        naive = local.replace(tzinfo=timezone.utc)
        candidates = []
        for index, offset in enumerate(self._offsets):
            utc = naive - timedelta(seconds=offset)
            starts = self._transitions[index] if index else None
            ends = self._transitions[index + 1] if index + 1 < len(self._transitions) else None
            if (starts is None or utc >= starts) and (ends is None or utc < ends):
                candidates.append(utc)
        if candidates:
            return min(candidates)
        before = self.offset_at(naive - timedelta(days=1))  # in a gap: the offset in force before it
        return naive - before

    @property
    def utc_offsets(self) -> list[tuple[datetime, timedelta]]:
        return [(t, timedelta(seconds=o)) for t, o in zip(self._transitions, self._offsets, strict=True)]

    # ---- days -------------------------------------------------------------------------------------------------
    def is_working_day(self, day: date) -> bool:
        if day in self._extra_holidays:
            return False
        if day in self._extra_workdays:
            return True
        if day in self._official_on:
            return True
        if day in self._official_off:
            return False
        return day.weekday() in self._workdays

    def is_provisional(self, day: date) -> bool:
        """True when the day's year has an official schedule that this calendar's data does not carry."""
        return self.data.official is not None and day.year not in self._known_years

    def provisional_between(self, start: datetime, end: datetime) -> bool:
        """Does any day from `start` to `end` (local dates, both included) fall in a provisional year?"""
        if self.data.official is None:
            return False
        first, last = sorted((self.local_date(start).year, self.local_date(end).year))
        return any(year not in self._known_years for year in range(first, last + 1))

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
    def _day_windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The day's working windows as UTC instants (empty on a non-working day)."""
        cached = self._windows_cache.get(day)
        if cached is not None:
            return cached
        windows: tuple[tuple[datetime, datetime], ...] = ()
        if self.is_working_day(day):
            midnight = datetime.combine(day, time(0))
            windows = tuple(
                (self.to_utc(midnight + timedelta(seconds=open_s)), self.to_utc(midnight + timedelta(seconds=close_s)))
                for open_s, close_s in self.data.windows
            )
        if len(self._windows_cache) > 4096:
            self._windows_cache.clear()
        self._windows_cache[day] = windows
        return windows

    def _windows_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows that end after `instant`, clipped to start no earlier than it, in order."""
        _require_aware(instant)
        instant = instant.astimezone(timezone.utc)  # results are UTC whatever zone the caller used
        day = self.local_date(instant)
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
        day = self.local_date(start)
        # Position = working time elapsed since the day's first opening.
        day_open = self._day_windows(day)[0][0]
        position = self.business_between(day_open, start)
        for _ in range(days):
            day = self._next_working_day(day)
        target_open = self._day_windows(day)[0][0]
        return self.add_business(target_open, position)

    def add_months(self, instant: datetime, months: int) -> datetime:
        """The same local date and time `months` later in this calendar's zone (31 Jan + 1 month = 28/29 Feb)."""
        local = self.local(instant)
        year, month = divmod(local.month - 1 + months, 12)
        year, month = local.year + year, month + 1
        day = min(local.day, calendar_module.monthrange(year, month)[1])
        return self.to_utc(local.replace(year=year, month=month, day=day))

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


WALL_CLOCK = BusinessCalendar(wall_clock_data())


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise CalendarError(f"instant {instant.isoformat()} has no time zone")


_COMPILED: dict[str, BusinessCalendar] = {}


def compiled(data: CalendarData) -> BusinessCalendar:
    """The shared calculator of `data`: complaints of one contract carry equal data and share one (with its cache
    of working windows). Safe to share across workflows: it only memoises pure answers."""
    key = data.digest  # a hash of the data's JSON: compiled once per run, not per evaluation
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) >= 64:
            _COMPILED.pop(next(iter(_COMPILED)))
        found = _COMPILED[key] = BusinessCalendar(data)
    return found
