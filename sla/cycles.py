"""An assessment cycle's instants: its period in the contract's zone, when to collect, and its report's clock.

Pure: the cycle workflow computes them in its own code, on the calendar data it carries, whenever it needs them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sla.calendar import BusinessCalendar, CalendarData
from sla.deadlines import Due, Ladder, evaluate_deadline
from sla.durations import parse_duration
from sla.kpi import Assessment
from sla.notices import Pending, Undelivered
from sla.periods import Cadence, Period
from sla.policy import AssessmentPolicy
from sla.reporting import CycleResult, Reassessment
from sla.surveys import SurveyBatch, SurveyChannel
from sla.vocabulary import BreachClass


class CycleTimes(BaseModel):
    """A cycle's instants: the period, when to collect (end + grace), and its report clock's actions."""

    start: datetime
    end: datetime
    collect_at: datetime
    report_due: datetime
    report_actions: list[Due]


REPORT_CLOCK = "report_delivery"


def cycle_times(policy: AssessmentPolicy, period_text: str, calendar: BusinessCalendar, now: datetime) -> CycleTimes:
    period = Period.parse(period_text)
    spec = policy.cycle(period.cadence)
    start, end = period.start(calendar), period.end(calendar)
    collect_at = calendar.add(end, parse_duration(spec.grace))
    status, actions = evaluate_deadline(
        name=REPORT_CLOCK, instance=1, start=end, target=spec.report_within, calendar=calendar, ended_at=None,
        warn_at=policy.warn_at, ladder=Ladder.of(policy.escalation), breach_class=BreachClass.MINOR, fired={},
        now=now,
    )
    return CycleTimes(start=start, end=end, collect_at=collect_at, report_due=status.deadline,
                      report_actions=sorted(actions, key=lambda a: (a.due_at, a.id)))


class CycleRun(BaseModel):
    """The cycle's whole state (input, and what continue-as-new carries): its contract's assessment policy
    snapshot, the batches so far, and how far it got."""

    contract: str
    period: str
    policy: AssessmentPolicy
    batches: list[SurveyBatch] = Field(default_factory=list)
    fired: dict[str, datetime] = Field(default_factory=dict)
    # The contract calendar as data (None in runs started before calendars travelled with their clocks).
    calendar: CalendarData | None = None
    pending: list[Pending] = Field(default_factory=list)
    sequence: int = 0
    run: int = 1
    assessment: Assessment | None = None  # once collected
    informed: list[str] | None = None  # plans told the figures, once done
    started: list[str] | None = None  # plans started, once done
    delivered_at: datetime | None = None  # the report's delivery
    report_files: list[str] | None = None
    timeline: list[dict] = Field(default_factory=list)  # calendar refreshes and retries, for people
    continue_as_new_history: int | None = None  # None: the workflow's own threshold (tests pass a small one)
    reassessment: Reassessment | None = None  # a closed cycle assessed again: its report clock ended back then


class ReassessCycle(BaseModel):
    """`cxsla cycle reassess`: why a closed cycle takes a late survey batch (said in the recomputed report)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: str = Field(min_length=1, max_length=1000)
    by: str | None = Field(default=None, max_length=200)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class BatchReceipt(BaseModel):
    batch_id: str
    duplicate: bool  # already imported with the same content: nothing changed
    batches: int
    responses: int


class BatchSummary(BaseModel):
    batch_id: str
    channel: SurveyChannel
    responses: int


class CycleStatus(BaseModel):
    id: str
    contract: str
    period: str
    cadence: Cadence
    phase: str  # planning | accepting_surveys | collecting | reporting | done
    policy_version: str
    start: datetime | None = None
    end: datetime | None = None
    collect_at: datetime | None = None
    report_due: datetime | None = None
    batches: list[BatchSummary]
    responses: int
    report_notices: list[str]  # report-clock actions fired (warnings, breach, escalations)
    assessment: Assessment | None = None
    result: CycleResult | None = None
    error: str | None = None  # why the cycle is waiting to try a step again (it retries by itself)
    error_since: datetime | None = None
    attempts: int = 0  # failed attempts of the step it is retrying
    retry_at: datetime | None = None
    # The step failed in a way retrying cannot fix (e.g. KPIs that cannot be computed): the cycle waits, without
    # retrying, until someone corrects the cause and runs `cxsla cycle retry` (the report clock keeps running).
    waiting_for_fix: bool = False
    provisional: bool = False  # its instants touch a calendar year nobody has published yet
    undelivered: list[Undelivered] = Field(default_factory=list)


class LaunchCycle(BaseModel):
    contract: str
    cadence: Cadence
