"""Service interruptions (003 §1.3, §4.2.1): an outage longer than the contract's threshold is a major breach.

Its duration also feeds the availability KPI of the cycles whose periods it overlaps.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sla import names
from sla.calendar import BusinessCalendar, CalendarData
from sla.deadlines import DeadlineStatus, Due, Ladder, evaluate_deadline, split_due
from sla.events import InputInstant, Instant, Text
from sla.kpi import Interruption
from sla.notices import Pending, Undelivered
from sla.policy import AssessmentPolicy
from sla.vocabulary import BreachClass

CLOCK = "interruption"
MEMO_KEY = names.INTERRUPTION_MEMO
OUTAGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
interruption_workflow_id = names.outage_workflow_id


class ReportInterruption(BaseModel):
    """What an operator sends to report an outage (edge validation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=200, pattern=OUTAGE_ID_PATTERN)
    contract: str = Field(min_length=1)
    started_at: InputInstant | None = None  # default: now
    summary: Text | None = None
    by: str | None = Field(default=None, max_length=200)


class Restore(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    restored_at: InputInstant | None = None  # default: now
    note: Text | None = None
    by: str | None = Field(default=None, max_length=200)


class InterruptionRecord(BaseModel):
    """A reported interruption's state: input of the workflow and what continue-as-new would carry."""

    outage_id: str
    contract: str
    started_at: Instant
    reported_at: Instant
    restored_at: Instant | None = None
    summary: Text | None = None
    reported_by: str | None = None
    restored_by: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> InterruptionRecord:
        if self.started_at > self.reported_at:
            raise ValueError("an interruption cannot start after it is reported")
        if self.restored_at is not None and self.restored_at < self.started_at:
            raise ValueError("restored_at is before the interruption started")
        return self

    def as_interruption(self) -> Interruption:
        return Interruption(outage_id=self.outage_id, contract=self.contract, started_at=self.started_at,
                            restored_at=self.restored_at)


class InterruptionEvaluation(BaseModel):
    clock: DeadlineStatus
    due: list[Due]
    next_due_at: datetime | None
    duration_seconds: float | None

    @property
    def provisional(self) -> bool:
        return self.clock.provisional


class InterruptionRun(BaseModel):
    """The ServiceInterruptionWorkflow's whole state: its input, and what continue-as-new carries."""

    record: InterruptionRecord
    policy: AssessmentPolicy
    fired: dict[str, datetime] = Field(default_factory=dict)
    # The contract calendar as data (None in runs started before calendars travelled with their clocks).
    calendar: CalendarData | None = None
    pending: list[Pending] = Field(default_factory=list)
    sequence: int = 0
    calendar_updates: list[dict] = Field(default_factory=list)  # timeline entries of calendar refreshes


class InterruptionStatus(BaseModel):
    outage_id: str
    contract: str
    state: str  # ongoing | restored
    started_at: datetime
    restored_at: datetime | None
    duration_seconds: float | None
    clock: DeadlineStatus | None
    major_breach: bool
    escalations: list[str]
    engine_error: str | None = None
    provisional: bool = False
    undelivered: list[Undelivered] = Field(default_factory=list)


def evaluate_interruption(policy: AssessmentPolicy, record: InterruptionRecord, now: datetime,
                          fired: dict[str, datetime], *, calendar: BusinessCalendar) -> InterruptionEvaluation:
    status, actions = evaluate_deadline(
        name=CLOCK, instance=1, start=record.started_at, target=policy.interruption.major_after,
        calendar=calendar, ended_at=record.restored_at, warn_at=policy.warn_at,
        ladder=Ladder.of(policy.escalation), breach_class=BreachClass.MAJOR, fired=fired, now=now,
    )
    due, next_due_at = split_due(actions, fired, now)
    duration = (record.restored_at - record.started_at).total_seconds() if record.restored_at else None
    return InterruptionEvaluation(clock=status, due=due, next_due_at=next_due_at, duration_seconds=duration)
