"""Calendar data for a clock that has none yet: a run started by a client that did not resolve it, or continued
from a run that started before calendars travelled with their clocks. Resolved once, by an activity (it reads the
`holidays` package), and carried from then on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.calendars import CalendarRequest, resolve_calendar
    from sla.calendar import CalendarData
    from sla.calendar_spec import CalendarSpec


class WithCalendar(Protocol):
    @property
    def calendar_name(self) -> str: ...

    @property
    def calendar(self) -> CalendarSpec: ...


async def fetch_calendar(policy: WithCalendar, at: datetime) -> CalendarData:
    return await workflow.execute_activity(
        resolve_calendar, CalendarRequest(name=policy.calendar_name, spec=policy.calendar, at=at),
        start_to_close_timeout=timedelta(seconds=30), summary="calendar data")
