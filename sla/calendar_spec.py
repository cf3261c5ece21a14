"""A calendar as the policy file writes it: time zone, working hours, weekdays, holidays, published years.

Kept apart from the rest of the policy: resolving a calendar into data (sla/official_calendar.py) needs only
this, and the policy file needs that resolver to check holiday countries when it reads a file.
"""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class StrictModel(BaseModel):
    """Policy models: unknown keys are refused (a typo never passes silently) and values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class YearSpec(StrictModel):
    """One year's official schedule as the operator publishes it (before the `holidays` package has it)."""

    holidays: tuple[date, ...] = ()  # official days off
    workdays: tuple[date, ...] = ()  # weekend days worked instead (make-up workdays)

    @model_validator(mode="after")
    def _disjoint(self) -> YearSpec:
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"{[d.isoformat() for d in both]} are both holidays and workdays")
        return self


class CalendarSpec(StrictModel):
    timezone: str = "UTC"
    hours: tuple[str, ...] = ("00:00-24:00",)
    workdays: tuple[str, ...] = tuple(WEEKDAYS)
    holidays: str | None = None
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()
    years: dict[int, YearSpec] = Field(default_factory=dict)  # official schedules the policy publishes itself

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("workdays")
    @classmethod
    def _weekday_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [d for d in value if d.lower()[:3] not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown weekday(s) {bad}; use {WEEKDAYS}")
        if not value:
            raise ValueError("at least one weekday must be a working day")
        return tuple(d.lower()[:3] for d in value)

    @field_validator("hours")
    @classmethod
    def _windows(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parsed = [parse_window(w) for w in value]
        if not parsed:
            raise ValueError("at least one working-hours window is needed")
        for (_, prev_close), (nxt_open, _) in zip(parsed, parsed[1:], strict=False):  # neighbours: one shorter
            if prev_close is None or nxt_open < prev_close:
                raise ValueError("working-hours windows must be in order and must not overlap")
        return value

    @field_validator("years")
    @classmethod
    def _years(cls, value: dict[int, YearSpec]) -> dict[int, YearSpec]:
        for year, spec in value.items():
            if not 2000 <= year <= 2100:
                raise ValueError(f"{year}: a year from 2000 to 2100")
            strays = [d.isoformat() for d in (*spec.holidays, *spec.workdays) if d.year != year]
            if strays:
                raise ValueError(f"{year}: {strays} are not in {year}")
        return dict(sorted(value.items()))


def parse_window(text: str) -> tuple[time, time | None]:
    try:
        start_text, end_text = (part.strip() for part in text.split("-"))
        start = time.fromisoformat(start_text)
        end = None if end_text == "24:00" else time.fromisoformat(end_text)
    except ValueError as exc:
        raise ValueError(f"working-hours window {text!r} is not like '09:00-12:00'") from exc
    if end is not None and end <= start:
        raise ValueError(f"working-hours window {text!r} ends before it starts")
    return start, end
