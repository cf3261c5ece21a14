"""Engine evaluation as a local activity, so each result is recorded in history.

Recording it means a newer engine, `holidays` release or tzdata can ship without breaking the replay of
complaints that are already running: replay reads the recorded answer instead of recomputing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from sla.calendar import CalendarError
from sla.deadlines import Due, Ladder, evaluate_deadline
from sla.durations import parse_duration
from sla.engine import Evaluation, evaluate
from sla.events import Event
from sla.interruptions import InterruptionEvaluation, InterruptionRecord, evaluate_interruption
from sla.periods import Cadence, Period
from sla.plans import PlanEvaluation, PlanEvent, evaluate_plan
from sla.policy import AssessmentPolicy, ContractPolicy
from sla.vocabulary import BreachClass


@contextmanager
def engine_errors() -> Iterator[None]:
    """A calendar or policy error becomes non-retryable: retrying cannot help until the deployment changes, so
    the workflow records the message and tries again later."""
    try:
        yield
    except (CalendarError, ValueError) as exc:
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc


class EvaluateRequest(BaseModel):
    policy: ContractPolicy
    events: list[Event]
    fired: dict[str, datetime]
    now: datetime


@activity.defn(name="cxsla.evaluate_complaint")
async def evaluate_complaint(request: EvaluateRequest) -> Evaluation:
    """Async on purpose: a few milliseconds of pure CPU, no executor needed by plugin users."""
    with engine_errors():
        return evaluate(request.policy, request.events, request.now, request.fired)


# ---- the other pure evaluations, recorded the same way -----------------------------------------------------------
class PlanEvaluateRequest(BaseModel):
    policy: AssessmentPolicy
    events: list[PlanEvent]
    fired: dict[str, datetime]
    now: datetime


@activity.defn(name="cxsla.evaluate_plan")
async def evaluate_improvement_plan(request: PlanEvaluateRequest) -> PlanEvaluation:
    with engine_errors():
        return evaluate_plan(request.policy, request.events, request.now, request.fired)


class InterruptionEvaluateRequest(BaseModel):
    policy: AssessmentPolicy
    record: InterruptionRecord
    fired: dict[str, datetime]
    now: datetime


@activity.defn(name="cxsla.evaluate_interruption")
async def evaluate_service_interruption(request: InterruptionEvaluateRequest) -> InterruptionEvaluation:
    with engine_errors():
        return evaluate_interruption(request.policy, request.record, request.now, request.fired)


class CycleTimesRequest(BaseModel):
    policy: AssessmentPolicy
    period: str
    now: datetime


class CycleTimes(BaseModel):
    """A cycle's instants: the period, when to collect (end + grace), and its report clock's actions."""

    start: datetime
    end: datetime
    collect_at: datetime
    report_due: datetime
    report_actions: list[Due]


REPORT_CLOCK = "report_delivery"


@activity.defn(name="cxsla.plan_cycle")
async def plan_cycle(request: CycleTimesRequest) -> CycleTimes:
    with engine_errors():
        period = Period.parse(request.period)
        spec = request.policy.cycle(period.cadence)
        cal = request.policy.business_calendar()
        start, end = period.start(cal.tz), period.end(cal.tz)
        collect_at = cal.add(end, parse_duration(spec.grace))
        status, actions = evaluate_deadline(
            name=REPORT_CLOCK, instance=1, start=end, target=spec.report_within, calendar=cal, ended_at=None,
            warn_at=request.policy.warn_at, ladder=Ladder.of(request.policy.escalation),
            breach_class=BreachClass.MINOR, fired={}, now=request.now,
        )
    return CycleTimes(start=start, end=end, collect_at=collect_at, report_due=status.deadline,
                      report_actions=sorted(actions, key=lambda a: (a.due_at, a.id)))


class PeriodRequest(BaseModel):
    policy: AssessmentPolicy
    cadence: Cadence
    now: datetime


@activity.defn(name="cxsla.current_period")
async def current_period(request: PeriodRequest) -> str:
    """The period of `cadence` containing `now` in the contract's time zone (what a schedule's run assesses)."""
    return str(Period.containing(request.now, request.cadence, request.policy.business_calendar().tz))
