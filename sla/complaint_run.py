"""ComplaintRun: a complaint's whole state, the workflow's input and what continue-as-new carries forward.

In the core, not in a workflow module: the client builds it to start a complaint, and the workflow (which imports
it with pass-through) carries it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from sla import events as ev
from sla.calendar import CalendarData
from sla.notices import Pending
from sla.plans import FeedbackPlanRequest, OpenPlanRequest
from sla.policy import AssessmentPolicy, ContractPolicy


class ComplaintRun(BaseModel):
    """All of a complaint's state: the workflow input, and what continue-as-new carries forward."""

    complaint_id: str
    policy: ContractPolicy
    events: list[ev.Event]
    fired: dict[str, datetime] = Field(default_factory=dict)
    continue_as_new_after_events: int | None = None  # None: when the history grows long
    run: int = 1
    # Metric facts already counted ("acknowledge#1" outcome, "acknowledge#1:met" time), so a later run after
    # continue-as-new never counts them again.
    counted: list[str] = Field(default_factory=list)
    # Imported history (ComplaintClient.import_history): it happened elsewhere, so it adds to no live counter.
    imported: bool = False
    # The contract calendar resolved into data when the complaint opened (None in runs started before calendars
    # travelled with their clocks: the first run of the new code fetches it once).
    calendar: CalendarData | None = None
    pending: list[Pending] = Field(default_factory=list)  # notices not delivered yet
    sequence: int = 0  # notices fired so far
    plan_requests: list[OpenPlanRequest | FeedbackPlanRequest] = Field(default_factory=list)  # not sent yet
    open_nonce: str | None = None  # the request that started it (a repeated open carries another)
    # The contract's plan settings taken with `policy` (None when this complaint can start no plan, and in runs
    # opened before complaints carried them): the plans it starts keep them, not the worker's file.
    plan_policy: AssessmentPolicy | None = None
