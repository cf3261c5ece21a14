"""/v1/calendars: how far each business calendar is known officially, and sending newer data to live clocks.

Anyone with a token reads the status; an admin refreshes (after publishing a year in the policy file the API
reads, or upgrading the holidays package).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from sla.commands import COMPLAINT_ID_PATTERN
from starter.api.problems import ProblemError, known_query_only, responses
from starter.api.security import require
from starter.client.calendars import CalendarStatus, RefreshReport, calendar_status, refresh_calendar
from starter.client.complaints import ComplaintClient
from starter.service.tokens import Principal, Role

router = APIRouter(prefix="/v1", tags=["calendars"], dependencies=[Depends(known_query_only)])


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    calendar: str | None = Field(default=None, min_length=1, max_length=200, pattern=COMPLAINT_ID_PATTERN,
                                 description="Default: every calendar a contract uses.")


@router.get("/calendars", response_model=list[CalendarStatus], responses=responses(401, 403, 503),
            summary="Per calendar: the last day known officially, from where, and the contracts using it (agent)")
async def calendars(request: Request,
                    principal: Annotated[Principal, Depends(require(Role.AGENT))]) -> list[CalendarStatus]:
    complaints: ComplaintClient = request.app.state.complaints
    return calendar_status(complaints.policy, datetime.now(timezone.utc).date())


@router.post("/calendars/refresh", response_model=list[RefreshReport], responses=responses(400, 401, 403, 422, 503),
             summary="Send the policy's calendar data to every live clock that uses it (admin, idempotent)")
async def refresh(body: RefreshBody, request: Request,
                  principal: Annotated[Principal, Depends(require(Role.ADMIN))]) -> list[RefreshReport]:
    complaints: ComplaintClient = request.app.state.complaints
    policy = complaints.policy
    if body.calendar is not None and body.calendar not in policy.calendars:
        raise ProblemError(422, "validation-error", f"calendar: unknown calendar {body.calendar!r}; known: "
                                           f"{', '.join(sorted(policy.calendars))}")
    names = [body.calendar] if body.calendar else sorted({c.calendar for c in policy.contracts.values()})
    return [await refresh_calendar(complaints.client, policy, name, task_queue=complaints.task_queue,
                                   by=principal.identity) for name in names]
