"""Assessment periods: `2026-11` (month), `2026-Q3` (quarter), `2026` (year), in a contract's time zone.

The agreements assess monthly (performance report), quarterly (satisfaction assessment and review) and yearly
(third-party survey); a period's bounds are local midnights of its calendar, so a Shanghai quarter ends at
16:00 UTC on its last day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone, tzinfo
from enum import Enum

from sla.calendar import BusinessCalendar

# A period's bounds are local midnights: of a calendar (its carried offsets, inside workflows) or of a zone.
Zone = BusinessCalendar | tzinfo


def _local(instant: datetime, zone: Zone) -> datetime:
    return zone.local(instant) if isinstance(zone, BusinessCalendar) else instant.astimezone(zone)


def _midnight(day: date, zone: Zone) -> datetime:
    if isinstance(zone, BusinessCalendar):
        return zone.to_utc(datetime.combine(day, time(0)))
    return datetime.combine(day, time(0), zone).astimezone(timezone.utc)


class Cadence(str, Enum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"


class PeriodError(ValueError):
    """A period that cannot be read."""


_PATTERNS = (
    (re.compile(r"^(?P<y>\d{4})-(?P<m>0[1-9]|1[0-2])$"), Cadence.MONTHLY),
    (re.compile(r"^(?P<y>\d{4})-Q(?P<q>[1-4])$", re.I), Cadence.QUARTERLY),
    (re.compile(r"^(?P<y>\d{4})$"), Cadence.ANNUAL),
)


@dataclass(frozen=True, order=True)
class Period:
    year: int
    cadence: Cadence
    index: int  # month 1-12, quarter 1-4, or 1 for a year

    @staticmethod
    def parse(text: str) -> Period:
        if not isinstance(text, str):
            raise PeriodError(f"cannot read period {text!r}: a period is text such as '2026-11', '2026-Q3' or '2026'")
        for pattern, cadence in _PATTERNS:
            if m := pattern.match(text.strip()):
                year = int(m["y"])
                if not 1970 <= year <= 2999:
                    raise PeriodError(f"period {text!r}: year out of range")
                index = (int(m["m"]) if cadence is Cadence.MONTHLY
                         else int(m["q"]) if cadence is Cadence.QUARTERLY else 1)
                return Period(year, cadence, index)
        raise PeriodError(f"cannot read period {text!r}: use 2026-11 (month), 2026-Q3 (quarter) or 2026 (year)")

    @staticmethod
    def containing(instant: datetime, cadence: Cadence, tz: Zone) -> Period:
        local = _local(instant, tz)
        if cadence is Cadence.MONTHLY:
            return Period(local.year, cadence, local.month)
        if cadence is Cadence.QUARTERLY:
            return Period(local.year, cadence, (local.month - 1) // 3 + 1)
        return Period(local.year, cadence, 1)

    def __str__(self) -> str:
        if self.cadence is Cadence.MONTHLY:
            return f"{self.year}-{self.index:02d}"
        if self.cadence is Cadence.QUARTERLY:
            return f"{self.year}-Q{self.index}"
        return f"{self.year}"

    def _first_month(self) -> int:
        return {Cadence.MONTHLY: self.index, Cadence.QUARTERLY: 3 * self.index - 2, Cadence.ANNUAL: 1}[self.cadence]

    def _months(self) -> int:
        return {Cadence.MONTHLY: 1, Cadence.QUARTERLY: 3, Cadence.ANNUAL: 12}[self.cadence]

    def first_day(self) -> date:
        return date(self.year, self._first_month(), 1)

    def next(self) -> Period:
        if self.cadence is Cadence.ANNUAL:
            return Period(self.year + 1, self.cadence, 1)
        last = 12 if self.cadence is Cadence.MONTHLY else 4
        return Period(self.year + 1, self.cadence, 1) if self.index == last else Period(
            self.year, self.cadence, self.index + 1)

    def previous(self) -> Period:
        if self.cadence is Cadence.ANNUAL:
            return Period(self.year - 1, self.cadence, 1)
        last = 12 if self.cadence is Cadence.MONTHLY else 4
        return Period(self.year - 1, self.cadence, last) if self.index == 1 else Period(
            self.year, self.cadence, self.index - 1)

    def start(self, tz: Zone) -> datetime:
        """First instant of the period (UTC), local midnight of its first day."""
        return _midnight(self.first_day(), tz)

    def end(self, tz: Zone) -> datetime:
        """First instant after the period (UTC): the next period's start."""
        return self.next().start(tz)

    def contains(self, instant: datetime, tz: Zone) -> bool:
        return self.start(tz) <= instant < self.end(tz)
