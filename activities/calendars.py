"""Calendar data for a clock that has none yet: resolved here, outside workflow code, then carried by the clock.

A run continued from one that started before calendars travelled with their clocks asks for it once.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from temporalio import activity

from sla.calendar import CalendarData
from sla.calendar_spec import CalendarSpec
from sla.official_calendar import resolve_at


class CalendarRequest(BaseModel):
    name: str
    spec: CalendarSpec
    at: datetime  # when the clock started


@activity.defn(name="cxsla.resolve_calendar")
async def resolve_calendar(request: CalendarRequest) -> CalendarData:
    return resolve_at(request.name, request.spec, request.at)
