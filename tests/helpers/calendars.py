"""Calendars for tests: a policy's calendar resolved into data, as a clock would carry it."""

from __future__ import annotations

from sla.calendar import BusinessCalendar, compiled
from sla.official_calendar import published_years, resolve
from sla.policy import AssessmentPolicy, CalendarSpec, ContractPolicy

YEARS = range(2020, 2031)  # what the tests' instants reach; years the package does not know stay provisional


def last_published_cn_year() -> int:
    """The last year the installed `holidays` data decrees China's schedule for: later years are provisional."""
    known = published_years("CN")
    assert known is not None, "the holidays package carries China's decreed schedule"
    return known[1]


def calendar_of(policy: ContractPolicy | AssessmentPolicy, years: range = YEARS) -> BusinessCalendar:
    return compiled(resolve(policy.calendar_name, policy.calendar, years))


def calendar_from(spec: CalendarSpec, name: str = "calendar", years: range = YEARS) -> BusinessCalendar:
    return compiled(resolve(name, spec, years))
