"""Calendars for tests: a policy's calendar resolved into data, as a clock would carry it."""

from __future__ import annotations

from sla.calendar import BusinessCalendar, compiled
from sla.official_calendar import resolve
from sla.policy import AssessmentPolicy, CalendarSpec, ContractPolicy

YEARS = range(2020, 2031)  # what the tests' instants reach; years the package does not know stay provisional


def calendar_of(policy: ContractPolicy | AssessmentPolicy, years: range = YEARS) -> BusinessCalendar:
    return compiled(resolve(policy.calendar_name, policy.calendar, years))


def calendar_from(spec: CalendarSpec, name: str = "calendar", years: range = YEARS) -> BusinessCalendar:
    return compiled(resolve(name, spec, years))
