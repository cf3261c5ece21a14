"""Policy durations: business time ("2 working hours", "5 working days") or wall-clock ("PT30S", "48h").

Agreements state deadlines in working time; demos and tests need seconds. One parser serves both so the
policy file can mix them and every error names what was wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from functools import lru_cache

from pydantic import TypeAdapter, ValidationError


class DurationKind(str, Enum):
    WORKING_HOURS = "working_hours"
    WORKING_DAYS = "working_days"
    WALL = "wall"
    MONTHS = "months"  # calendar months: the same local date and time N months later (clamped to month end)


class DurationError(ValueError):
    """A duration string that cannot be read."""


@dataclass(frozen=True, slots=True)
class Duration:
    kind: DurationKind
    # For WORKING_HOURS and WALL: the length. For WORKING_DAYS: days in `days`. For MONTHS: `months`.
    length: timedelta = timedelta(0)
    days: int = 0
    months: int = 0

    @staticmethod
    def working_hours(hours: float) -> Duration:
        return Duration(DurationKind.WORKING_HOURS, length=timedelta(hours=hours))

    @staticmethod
    def working_days(days: int) -> Duration:
        return Duration(DurationKind.WORKING_DAYS, days=days)

    @staticmethod
    def wall(length: timedelta) -> Duration:
        return Duration(DurationKind.WALL, length=length)

    @staticmethod
    def calendar_months(months: int) -> Duration:
        return Duration(DurationKind.MONTHS, months=months)

    def __str__(self) -> str:
        if self.kind is DurationKind.MONTHS:
            return f"{self.months} month{'s' if self.months != 1 else ''}"
        if self.kind is DurationKind.WORKING_DAYS:
            return f"{self.days} working day{'s' if self.days != 1 else ''}"
        if self.kind is DurationKind.WORKING_HOURS:
            hours = self.length / timedelta(hours=1)
            text = f"{hours:g}"
            return f"{text} working hour{'s' if hours != 1 else ''}"
        return _iso(self.length)


_BUSINESS = re.compile(
    r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?:working|business)\s+(?P<unit>minutes?|hours?|days?)\s*$", re.I
)
_ISO = TypeAdapter(timedelta)  # ISO-8601 durations, as pydantic reads them
_SHORT = re.compile(
    r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|sec|seconds?|m|min|minutes?|h|hours?|d|days?|w|weeks?)\s*$", re.I
)
_MONTHS = re.compile(r"^\s*(?P<n>\d+)\s*(?:calendar\s+)?months?\s*$", re.I)
_SHORT_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def parse_duration(text: str) -> Duration:
    """Read a policy duration; raises DurationError with the accepted forms on anything else."""
    if not isinstance(text, str):
        raise DurationError(f"a duration is text like '2 working hours', not {type(text).__name__}")
    return _cached(text)


@lru_cache(maxsize=2048)
def _cached(text: str) -> Duration:
    """Parsed once per process: clocks evaluate their policy's durations on every step."""
    try:
        return _parse_duration(text)
    except OverflowError as exc:  # e.g. '99999999999 days' does not fit a timedelta
        raise DurationError(f"duration {text!r} is too long") from exc


def _parse_duration(text: str) -> Duration:
    if not isinstance(text, str) or not text.strip():
        raise DurationError(f"empty duration {text!r}")
    if m := _BUSINESS.match(text):
        n = float(m["n"])
        unit = m["unit"].lower().rstrip("s")
        if unit == "day":
            if n != int(n):
                raise DurationError(f"{text!r}: working days must be a whole number")
            return Duration.working_days(int(n))
        return Duration.working_hours(n if unit == "hour" else n / 60)
    if m := _MONTHS.match(text):
        return Duration.calendar_months(int(m["n"]))
    if (iso := text.strip().upper()).startswith("P"):
        if {"Y", "M"} & set(iso.partition("T")[0]):
            raise DurationError(f"{text!r}: years and months are not fixed lengths; write calendar months like "
                                "'6 months'")
        try:
            return Duration.wall(_ISO.validate_python(iso))
        except ValidationError:
            pass  # the message below lists what is accepted
    if m := _SHORT.match(text):
        unit = m["unit"].lower()
        key = "ms" if unit == "ms" else unit[0]
        return Duration.wall(float(m["n"]) * _SHORT_UNITS[key])
    raise DurationError(
        f"cannot read duration {text!r}: use '2 working hours', '5 working days', ISO-8601 like 'PT30S', "
        "a wall-clock length like '48h', '30s', '14 days', or calendar months like '6 months'"
    )


def _iso(length: timedelta) -> str:
    total = length.total_seconds()
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "P" + (f"{int(days)}D" if days else "")
    time_part = (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
    if seconds:
        time_part += f"{seconds:g}S"
    if time_part:
        out += "T" + time_part
    return out if out != "P" else "PT0S"
