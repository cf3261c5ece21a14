"""Engine evaluations as local activities: how runs recorded by an earlier release asked the engine.

Those runs recorded each answer in history, so replaying them reads the recorded answer and never recomputes it;
while they are still running they keep asking here. The calendar is resolved from the policy snapshot they carry,
leniently: a year nobody has published is provisional, never an error that freezes their clocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from sla.calendar import BusinessCalendar, CalendarError, compiled
from sla.cycles import CycleTimes, cycle_times
from sla.engine import Evaluation, evaluate
from sla.events import Event
from sla.interruptions import InterruptionEvaluation, InterruptionRecord, evaluate_interruption
from sla.official_calendar import resolve
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


def snapshot_calendar(policy: ContractPolicy | AssessmentPolicy, first: datetime, last: datetime) -> BusinessCalendar:
    """The calendar of a policy snapshot for the years from `first` to two years after `last`."""
    start = first.astimezone(timezone.utc).year - 1
    end = last.astimezone(timezone.utc).year + 2
    return compiled(resolve(policy.calendar_name, policy.calendar, range(start, end + 1)))


class EvaluateRequest(BaseModel):
    policy: ContractPolicy
    events: list[Event]
    fired: dict[str, datetime]
    now: datetime


@activity.defn(name="cxsla.evaluate_complaint")
async def evaluate_complaint(request: EvaluateRequest) -> Evaluation:
    """Async on purpose: a few milliseconds of pure CPU, no executor needed by plugin users."""
    with engine_errors():
        calendar = snapshot_calendar(request.policy, request.events[0].at, request.now)
        return evaluate(request.policy, request.events, request.now, request.fired, calendar=calendar)


class PlanEvaluateRequest(BaseModel):
    policy: AssessmentPolicy
    events: list[PlanEvent]
    fired: dict[str, datetime]
    now: datetime


@activity.defn(name="cxsla.evaluate_plan")
async def evaluate_improvement_plan(request: PlanEvaluateRequest) -> PlanEvaluation:
    with engine_errors():
        calendar = snapshot_calendar(request.policy, request.events[0].at, request.now)
        # runs of the first release keep the class every rectification had then
        return evaluate_plan(request.policy, request.events, request.now, request.fired, calendar=calendar,
                             rectification_class=BreachClass.MAJOR)


class InterruptionEvaluateRequest(BaseModel):
    policy: AssessmentPolicy
    record: InterruptionRecord
    fired: dict[str, datetime]
    now: datetime


@activity.defn(name="cxsla.evaluate_interruption")
async def evaluate_service_interruption(request: InterruptionEvaluateRequest) -> InterruptionEvaluation:
    with engine_errors():
        calendar = snapshot_calendar(request.policy, request.record.started_at, request.now)
        return evaluate_interruption(request.policy, request.record, request.now, request.fired, calendar=calendar)


class CycleTimesRequest(BaseModel):
    policy: AssessmentPolicy
    period: str
    now: datetime


@activity.defn(name="cxsla.plan_cycle")
async def plan_cycle(request: CycleTimesRequest) -> CycleTimes:
    with engine_errors():
        calendar = snapshot_calendar(request.policy, Period.parse(request.period).start(timezone.utc), request.now)
        return cycle_times(request.policy, request.period, calendar, request.now)


class PeriodRequest(BaseModel):
    policy: AssessmentPolicy
    cadence: Cadence
    now: datetime


@activity.defn(name="cxsla.current_period")
async def current_period(request: PeriodRequest) -> str:
    """The period of `cadence` containing `now` in the contract's time zone (what a schedule's run assesses)."""
    calendar = snapshot_calendar(request.policy, request.now, request.now)
    return str(Period.containing(request.now, request.cadence, calendar))

