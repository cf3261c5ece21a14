"""Improvement plans (000 §5.2-5.4, 003 §4.2.3): events in, clocks and due actions out, like a complaint.

A plan opens when a cycle misses a target, a critical/major complaint misses `resolve`, or a customer's feedback
is significantly negative. It must be submitted (root cause, measures with owner and due date, expected effect)
within `submit_within` of the report, report progress at least every `progress_every`, and see the target met
again within `rectify_within`, else a major breach. It closes as effective when a later cycle meets the target.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sla import names
from sla.calendar import BusinessCalendar, CalendarData
from sla.deadlines import ActionKind, DeadlineStatus, Due, Ladder, evaluate_deadline, split_due
from sla.events import Instant, Text
from sla.kpi_catalogue import KpiName, Target
from sla.notices import Pending, Undelivered
from sla.policy import AssessmentPolicy, NegativeFeedbackSpec
from sla.vocabulary import BreachClass, ClockState

SUBMISSION, PROGRESS, RECTIFICATION = "plan_submission", "plan_progress", "plan_rectification"


def plan_id(contract: str, kpi: KpiName) -> str:
    """One open plan per contract and KPI: a later miss of the same target is recorded on it."""
    return names.plan_workflow_id(contract, kpi.value)


class PlanState(str, Enum):
    AWAITING_PLAN = "awaiting_plan"
    IN_PROGRESS = "in_progress"
    EFFECTIVE = "effective"

    @property
    def terminal(self) -> bool:
        return self is PlanState.EFFECTIVE


class Trigger(str, Enum):
    CYCLE = "cycle"  # an assessment cycle missed the target
    COMPLAINT = "complaint"  # a critical/major complaint missed its resolve deadline
    FEEDBACK = "feedback"  # a complaint's customer answered at or below the contract's negative-feedback score


class _PlanEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: Instant
    by: str | None = None


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Required = Annotated[Text, AfterValidator(_not_blank)]


class Miss(BaseModel):
    """Why a plan is needed: which cycle missed by how much, or which complaint breached."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    trigger: Trigger
    period: str | None = None
    complaint_id: str | None = None
    value: float | None = None
    target: Target | None = None

    @property
    def key(self) -> str:
        return f"{self.trigger.value}:{self.period or self.complaint_id}"


def negative_feedback_misses(spec: NegativeFeedbackSpec, targets: Iterable[KpiName], *, complaint_id: str,
                             csat: int | None, nps: int | None) -> dict[KpiName, Miss]:
    """The plans one complaint's feedback starts (000 §5.2): each KPI answered at or below its negative score,
    among those the contract has a target for (a plan closes only when a later cycle meets that target)."""
    answers = {KpiName.CSAT: (csat, spec.csat), KpiName.NPS: (nps, spec.nps)}
    targeted = set(targets)
    return {kpi: Miss(trigger=Trigger.FEEDBACK, complaint_id=complaint_id, value=score)
            for kpi, (score, at_most) in answers.items()
            if kpi in targeted and score is not None and at_most is not None and score <= at_most}


# ---- what a complaint asks of plans ---------------------------------------------------------------------------
class OpenPlanRequest(BaseModel):
    contract: str
    kpi: str
    miss: Miss
    at: datetime  # when the complaint breached (or its customer answered)
    task_queue: str
    # True: the complaint decided from its own policy snapshot; False (requests of earlier runs): the worker's
    # policy decides whether major breaches start plans.
    decided: bool = False
    policy: AssessmentPolicy | None = None  # the complaint's plan settings (None: the worker's policy file)


class FeedbackPlanRequest(BaseModel):
    """A complaint's recorded feedback; the worker's policy decides whether it is significantly negative."""

    contract: str
    complaint_id: str
    csat: int | None
    nps: int | None
    at: datetime  # when the feedback was recorded
    task_queue: str


class PlanOpened(_PlanEvent):
    type: Literal["opened"] = "opened"
    plan_id: str
    contract: str
    kpi: KpiName
    miss: Miss


class MissRecorded(_PlanEvent):
    type: Literal["miss_recorded"] = "miss_recorded"
    miss: Miss


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    action: Required
    owner: Annotated[str, Field(max_length=200), AfterValidator(_not_blank)]
    due: date


class PlanSubmitted(_PlanEvent):
    type: Literal["submitted"] = "submitted"
    root_cause: Required
    measures: list[Measure] = Field(min_length=1)
    expected_effect: Required


class PlanRevised(_PlanEvent):
    """A new version of a submitted plan after a review (001 §3.2.5); the earlier versions are kept."""

    type: Literal["revised"] = "revised"
    root_cause: Required
    measures: list[Measure] = Field(min_length=1)
    expected_effect: Required
    reason: Required


class ProgressReported(_PlanEvent):
    type: Literal["progress_reported"] = "progress_reported"
    summary: Required
    measures_done: list[int] = Field(default_factory=list)  # indexes into the submitted measures


class CycleResultRecorded(_PlanEvent):
    type: Literal["cycle_result"] = "cycle_result"
    period: str
    value: float | None
    met: bool | None  # None: not enough data to judge


class PlanCalendarUpdated(_PlanEvent):
    """Newer calendar data reached the plan; its clocks were recomputed."""

    type: Literal["calendar_updated"] = "calendar_updated"
    calendar: str
    digest: str
    years: list[int]


PlanEvent = Annotated[
    PlanOpened | MissRecorded | PlanSubmitted | ProgressReported | CycleResultRecorded | PlanCalendarUpdated
    | PlanRevised,
    Field(discriminator="type"),
]


class PlanRejected(ValueError):
    """A plan command that its state does not allow, with the reason."""


class PlanFacts(BaseModel):
    plan_id: str
    contract: str
    kpi: KpiName
    state: PlanState
    opened_at: datetime
    misses: list[Miss]
    submitted: PlanSubmitted | None
    progress: list[ProgressReported]
    cycle_results: list[CycleResultRecorded]
    effective_at: datetime | None
    revisions: list[PlanRevised] = Field(default_factory=list)

    @property
    def current(self) -> PlanSubmitted | PlanRevised | None:
        """The plan in force: the latest revision, or the submission."""
        return self.revisions[-1] if self.revisions else self.submitted

    def measures_done(self) -> set[int]:
        """Measures of the plan in force reported done since it took force."""
        current = self.current
        if current is None:
            return set()
        return {i for p in self.progress if p.at >= current.at for i in p.measures_done}

    def has_result_for(self, period: str) -> bool:
        return any(r.period == period for r in self.cycle_results)

    def has_miss(self, miss: Miss) -> bool:
        return any(m.key == miss.key for m in self.misses)


def facts(events: list) -> PlanFacts:
    opened = events[0]
    if not isinstance(opened, PlanOpened):
        raise ValueError("a plan's event log starts with a PlanOpened event")
    misses, progress, results, revisions = [opened.miss], [], [], []
    submitted = effective_at = None
    for event in events[1:]:
        match event:
            case MissRecorded():
                misses.append(event.miss)
            case PlanSubmitted():
                submitted = event
            case ProgressReported():
                progress.append(event)
            case PlanRevised():
                revisions.append(event)
            case CycleResultRecorded():
                results.append(event)
                if event.met and effective_at is None:
                    effective_at = event.at
    state = (PlanState.EFFECTIVE if effective_at else
             PlanState.IN_PROGRESS if submitted else PlanState.AWAITING_PLAN)
    return PlanFacts(plan_id=opened.plan_id, contract=opened.contract, kpi=opened.kpi, state=state,
                     opened_at=opened.at, misses=misses, submitted=submitted, progress=progress,
                     cycle_results=results, effective_at=effective_at, revisions=revisions)


def check(current: PlanFacts, event: _PlanEvent) -> bool:
    """Raise PlanRejected for a command the plan cannot take; False for a repeat to be ignored (idempotent)."""
    if current.state.terminal:
        raise PlanRejected(f"plan {current.plan_id} is closed as effective and takes no more commands")
    match event:
        case PlanSubmitted():
            if current.submitted is not None:
                raise PlanRejected(f"plan {current.plan_id} was already submitted at "
                                   f"{current.submitted.at.isoformat()}; report progress instead")
        case ProgressReported():
            if current.submitted is None:
                raise PlanRejected(f"plan {current.plan_id} has not been submitted yet; submit it first")
            measures = (current.current or current.submitted).measures
            bad = [i for i in event.measures_done if not 0 <= i < len(measures)]
            if bad:
                last = len(measures) - 1
                raise PlanRejected(f"measures_done {bad}: the plan has measures 0-{last}")
        case PlanRevised():
            if current.submitted is None:
                raise PlanRejected(f"plan {current.plan_id} has not been submitted yet; submit it first")
        case CycleResultRecorded():
            if current.has_result_for(event.period):
                return False
        case MissRecorded():
            if current.has_miss(event.miss):
                return False
    return True


class PlanEvaluation(BaseModel):
    state: PlanState
    clocks: list[DeadlineStatus]
    due: list[Due]
    next_due_at: datetime | None
    breached: bool
    major_breached: bool
    provisional: bool = False


def evaluate_plan(policy: AssessmentPolicy, events: list, now: datetime, fired: dict[str, datetime], *,
                  calendar: BusinessCalendar, rectification_class: BreachClass | None = None) -> PlanEvaluation:
    """`rectification_class` None: the policy's class for the plan's KPI (runs that predate the setting pass
    major, the class every rectification had then)."""
    plan = facts(events)
    cal = calendar
    spec = policy.improvement
    ladder = Ladder.of(policy.escalation)
    common: dict[str, Any] = dict(calendar=cal, warn_at=policy.warn_at, ladder=ladder, fired=fired, now=now)
    closed_at = plan.effective_at
    clocks, actions = [], []

    status, acts = evaluate_deadline(
        name=SUBMISSION, instance=1, start=plan.opened_at, target=spec.submit_within,
        ended_at=plan.submitted.at if plan.submitted else closed_at, stopped=plan.submitted is None,
        breach_class=BreachClass.MINOR, **common)
    clocks.append(status)
    actions.extend(acts)

    if plan.submitted is not None:
        # a revision is reported to the other party like progress: it restarts the progress clock too
        starts = sorted([plan.submitted.at, *(r.at for r in plan.revisions), *(p.at for p in plan.progress)])
        for index, start in enumerate(starts, start=1):
            ended = starts[index] if index < len(starts) else closed_at
            status, acts = evaluate_deadline(
                name=PROGRESS, instance=index, start=start, target=spec.progress_every, ended_at=ended,
                stopped=index == len(starts), breach_class=BreachClass.MINOR, **common)
            clocks.append(status)
            actions.extend(acts)

    status, acts = evaluate_deadline(
        name=RECTIFICATION, instance=1, start=plan.opened_at, target=spec.rectify_within, ended_at=closed_at,
        breach_class=rectification_class or spec.rectification_class(plan.kpi), **common)
    clocks.append(status)
    actions.extend(acts)

    if closed_at is not None:
        actions.append(Due(id="close", kind=ActionKind.CLOSE, due_at=closed_at, clock=RECTIFICATION,
                           detail="a later cycle met the target"))
    due, next_due_at = split_due(actions, fired, now)
    breached = [c for c in clocks if c.state is ClockState.BREACHED]
    return PlanEvaluation(
        state=plan.state, clocks=clocks, due=due, next_due_at=next_due_at, breached=bool(breached),
        major_breached=any(c.breach_class is BreachClass.MAJOR for c in breached),
        provisional=any(c.provisional for c in clocks if c.state is ClockState.RUNNING),
    )


class PlanRun(BaseModel):
    """All of a plan's state: the ImprovementPlanWorkflow's input and what continue-as-new carries."""

    plan_id: str
    policy: AssessmentPolicy
    events: list[PlanEvent]
    fired: dict[str, datetime] = Field(default_factory=dict)
    counted: list[str] = Field(default_factory=list)  # metric facts already counted
    # The contract calendar as data (None in runs started before calendars travelled with their clocks).
    calendar: CalendarData | None = None
    pending: list[Pending] = Field(default_factory=list)  # notices not delivered yet
    sequence: int = 0
    run: int = 1
    continue_as_new_after_events: int | None = None  # None: the workflow's own bound (tests pass a small one)


def new_plan_run(*, policy: AssessmentPolicy, kpi: KpiName, miss: Miss, at: datetime,
                 calendar: CalendarData | None = None) -> PlanRun:
    pid = plan_id(policy.name, kpi)
    return PlanRun(plan_id=pid, policy=policy, calendar=calendar,
                   events=[PlanOpened(at=at, plan_id=pid, contract=policy.name, kpi=kpi, miss=miss)])


class PlanBreach(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    clock: str
    instance: int
    breach_class: BreachClass = Field(alias="class")
    deadline: datetime
    at: datetime


class PlanEscalation(BaseModel):
    clock: str
    instance: int
    level: int
    to: str
    at: datetime


class MeasureState(BaseModel):
    """A measure of the plan in force, as reports show it: done once a progress report says so."""

    index: int
    action: str
    owner: str
    due: date
    done: bool


class PlanStatus(BaseModel):
    """What `cxsla plan show` prints and the plan's `status` query answers."""

    plan_id: str
    contract: str
    kpi: KpiName
    state: PlanState
    policy_version: str
    opened_at: datetime
    misses: list[Miss]
    submitted: PlanSubmitted | None
    progress_reports: int
    last_progress_at: datetime | None
    cycle_results: list[CycleResultRecorded]
    effective_at: datetime | None
    clocks: list[DeadlineStatus]
    breaches: list[PlanBreach]
    escalations: list[PlanEscalation]
    next_due_at: datetime | None
    engine_error: str | None = None
    provisional: bool = False  # a running clock touches a calendar year nobody has published yet
    undelivered: list[Undelivered] = Field(default_factory=list)
    timeline: list[dict] = Field(default_factory=list)
    revisions: list[PlanRevised] = Field(default_factory=list)  # later versions; `submitted` is the first
    version: int = 0  # 0 not submitted, 1 as submitted, 2+ revised
    measures: list[MeasureState] = Field(default_factory=list)  # of the version in force

    def public(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


def plan_status(run: PlanRun, evaluation: PlanEvaluation | None, engine_error: str | None = None,
                undelivered: list[Undelivered] | None = None) -> PlanStatus:
    plan = facts(run.events)
    clocks = evaluation.clocks if evaluation else []
    ladder = {level: step.to for level, step in enumerate(run.policy.escalation, start=1)}
    breaches = [PlanBreach(clock=c.name, instance=c.instance, breach_class=c.breach_class, deadline=c.deadline,
                           at=c.breached_at) for c in clocks if c.breached_at is not None]
    escalations = []
    for action_id, at in sorted(run.fired.items(), key=lambda item: (item[1], item[0])):
        head, _, tail = action_id.partition(":escalate:")
        if tail:
            name, _, instance = head.partition("#")
            escalations.append(PlanEscalation(clock=name, instance=int(instance), level=int(tail),
                                              to=ladder.get(int(tail), "?"), at=at))
    return PlanStatus(
        plan_id=plan.plan_id, contract=plan.contract, kpi=plan.kpi, state=plan.state,
        policy_version=run.policy.version, opened_at=plan.opened_at, misses=plan.misses, submitted=plan.submitted,
        progress_reports=len(plan.progress), last_progress_at=plan.progress[-1].at if plan.progress else None,
        cycle_results=plan.cycle_results, effective_at=plan.effective_at, clocks=clocks, breaches=breaches,
        escalations=escalations, next_due_at=evaluation.next_due_at if evaluation else None,
        engine_error=engine_error, provisional=bool(evaluation and evaluation.provisional),
        undelivered=undelivered or [],
        timeline=[{"type": e.type, "at": e.at.isoformat(), "by": e.by} for e in run.events],
        revisions=plan.revisions, version=(1 + len(plan.revisions)) if plan.submitted else 0,
        measures=measure_states(plan),
    )


def measure_states(plan: PlanFacts) -> list[MeasureState]:
    current, done = plan.current, plan.measures_done()
    return [MeasureState(index=i, action=m.action, owner=m.owner, due=m.due, done=i in done)
            for i, m in enumerate(current.measures)] if current else []


# ---- commands (edge validation; each records one event) ---------------------------------------------------------
class _PlanCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    by: str | None = Field(default=None, max_length=200)


class SubmitPlan(_PlanCommand):
    root_cause: Required
    measures: list[Measure] = Field(min_length=1)
    expected_effect: Required

    def event(self, at: datetime) -> PlanSubmitted:
        return PlanSubmitted(at=at, **self.model_dump())


class RevisePlan(_PlanCommand):
    root_cause: Required
    measures: list[Measure] = Field(min_length=1)
    expected_effect: Required
    reason: Required  # what the review found

    def event(self, at: datetime) -> PlanRevised:
        return PlanRevised(at=at, **self.model_dump())


class ReportProgress(_PlanCommand):
    summary: Required
    measures_done: list[int] = Field(default_factory=list)

    def event(self, at: datetime) -> ProgressReported:
        return ProgressReported(at=at, **self.model_dump())


class RecordCycleResult(_PlanCommand):
    period: str = Field(min_length=4, max_length=7)
    value: float | None = None
    met: bool | None = None

    def event(self, at: datetime) -> CycleResultRecorded:
        return CycleResultRecorded(at=at, **self.model_dump())
