"""Domain events: a complaint is the append-only list of these; everything else is computed from it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sla.vocabulary import Channel, ClockName, Kind, Remedy, Severity

# Every instant a complaint, cycle or plan records lies within these years: a deadline computed from one far
# outside them cannot be found in any calendar, and converting year 1 or 9999 to UTC overflows.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _utc(value: datetime) -> datetime:
    """Any zoned instant, in UTC: what a recorded event holds (an older release may have recorded one outside
    today's bounds, and its workflow must still read it back)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps need a time zone (e.g. 2025-09-30T17:00:00+08:00)")
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # year 1 at +08:00 is not in UTC
        raise ValueError(f"timestamps must fall within the years {FIRST_YEAR}-{LAST_YEAR}") from None


def _bounded_utc(value: datetime) -> datetime:
    """An instant someone sends now: within the years every calendar and KPI can compute with."""
    if value.tzinfo is not None and value.utcoffset() is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"timestamps must fall within the years {FIRST_YEAR}-{LAST_YEAR}")
    return _utc(value)


Instant = Annotated[datetime, AfterValidator(_utc)]
InputInstant = Annotated[datetime, AfterValidator(_bounded_utc)]  # commands and requests, not recorded events
Text = Annotated[str, Field(max_length=4000)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: Instant
    by: str | None = None


class Received(_Event):
    type: Literal["received"] = "received"
    complaint_id: str
    contract: str
    severity: Severity
    kind: Kind = Kind.COMPLAINT
    channel: Channel | None = None
    customer_id: str | None = None
    # Personal data: kept only in the event log (encrypted by the payload codec), never in search attributes,
    # status views, logs or notifications.
    customer_name: str | None = None
    customer_contact: str | None = None
    summary: Text | None = None


class Acknowledged(_Event):
    type: Literal["acknowledged"] = "acknowledged"
    note: Text | None = None


class Triaged(_Event):
    type: Literal["triaged"] = "triaged"
    category: str | None = None
    note: Text | None = None


class PlanCommunicated(_Event):
    type: Literal["plan_communicated"] = "plan_communicated"
    plan: Text | None = None


class ProgressPosted(_Event):
    type: Literal["progress_posted"] = "progress_posted"
    note: Text | None = None
    handling_seconds: int | None = Field(default=None, ge=0)


class AwaitingCustomer(_Event):
    type: Literal["awaiting_customer"] = "awaiting_customer"
    reason: Text | None = None


class CustomerResponded(_Event):
    type: Literal["customer_responded"] = "customer_responded"
    note: Text | None = None


class Extended(_Event):
    type: Literal["extended"] = "extended"
    clock: ClockName
    until: Instant
    reason: Text = Field(min_length=1)


class Reclassified(_Event):
    type: Literal["reclassified"] = "reclassified"
    severity: Severity | None = None  # None: the severity stays (only the category changed)
    category: str | None = None  # None: the category stays
    reason: Text | None = None


class Resolved(_Event):
    type: Literal["resolved"] = "resolved"
    resolution: Text = Field(min_length=1)
    remedy: Remedy | None = None
    at_fault: bool = False  # verified as the provider's fault (000 §4.5): a remedy is owed
    first_contact: bool = False
    handling_seconds: int | None = Field(default=None, ge=0)


class ResultNotified(_Event):
    type: Literal["result_notified"] = "result_notified"
    note: Text | None = None


class SurveySent(_Event):
    type: Literal["survey_sent"] = "survey_sent"
    channel: str | None = None
    # The survey clock instance it was sent for; a send that returns after a reopen is stale and changes no clock.
    # None in events recorded before instances were tracked: those meet whatever survey clock is open.
    instance: int | None = None


class CalendarUpdated(_Event):
    """Newer calendar data (an official year published) reached this complaint; its clocks were recomputed."""

    type: Literal["calendar_updated"] = "calendar_updated"
    calendar: str
    digest: str
    years: list[int]  # the official years the complaint's calendar now knows


class FeedbackRecorded(_Event):
    type: Literal["feedback_recorded"] = "feedback_recorded"
    csat: int = Field(ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    ces: int | None = Field(default=None, ge=1, le=7)
    comment: Text | None = None


class Reopened(_Event):
    type: Literal["reopened"] = "reopened"
    reason: Text | None = None


# Who owns a complaint: an agent (identity, as in `by`) and/or a group (a desk or queue). Names only: they are
# published as the CxAssignee search attribute and on notifications.
ASSIGNEE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:-]*$"
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=ASSIGNEE_PATTERN)]


class Assigned(_Event):
    """Ownership changed: `to` (an agent) and `group` replace the previous assignment (either may be None)."""

    type: Literal["assigned"] = "assigned"
    to: Name | None = None
    group: Name | None = None
    note: Text | None = None


class Withdrawn(_Event):
    type: Literal["withdrawn"] = "withdrawn"
    reason: Text | None = None


class Closed(_Event):
    type: Literal["closed"] = "closed"
    reason: str


FREE_TEXT = ("summary", "note", "plan", "reason", "resolution", "comment")
E = TypeVar("E", bound=BaseModel)  # a complaint's or a plan's event
KEPT_TEXT = 64  # free text up to this long is carried whole
ELIDED = "[elided: "


def with_text_elided(event: E, where: str) -> E:
    """The event with each long free text replaced by a marker saying where it is kept (`where`: a run's history).
    What continue-as-new carries: no clock reads free text, and carrying every note made a long complaint's (or
    plan's) run input outgrow Temporal's payload limit."""
    update = {}
    for name in FREE_TEXT:
        value = getattr(event, name, None)
        if isinstance(value, str) and len(value) > KEPT_TEXT and not value.startswith(ELIDED):
            update[name] = f"{ELIDED}{len(value)} characters, kept in {where}]"
    return event.model_copy(update=update) if update else event


Event = Annotated[
    Received
    | Acknowledged
    | Triaged
    | PlanCommunicated
    | ProgressPosted
    | AwaitingCustomer
    | CustomerResponded
    | Extended
    | Reclassified
    | Resolved
    | ResultNotified
    | SurveySent
    | FeedbackRecorded
    | Reopened
    | Withdrawn
    | Closed
    | CalendarUpdated
    | Assigned,
    Field(discriminator="type"),
]
