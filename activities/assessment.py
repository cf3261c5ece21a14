"""Assessment I/O: a period's complaint outcomes and interruptions read from Temporal, plans told of results.

Complaint outcomes ride in each complaint's memo (sla/outcomes.py), so a cycle pages through visibility and folds
them into a bounded tally without replaying a single complaint. The pure KPI engine runs in the same activity:
only the small `Assessment` comes back into the cycle's history, never the 100,000-row input.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import structlog
from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.archive_store import ArchiveStore
from activities.attributes import plan_search_attributes
from sla import names
from sla.calendar import CalendarData, compiled
from sla.engine import evaluate
from sla.kpi import Assessment, Interruption, KpiName, PeriodTally, assess
from sla.official_calendar import resolve, resolve_at
from sla.outcomes import ComplaintOutcome, outcome_of
from sla.periods import Period
from sla.plans import (
    FeedbackPlanRequest,
    Miss,
    OpenPlanRequest,
    RecordCycleResult,
    Trigger,
    negative_feedback_misses,
    new_plan_run,
    plan_id,
)
from sla.policy import AssessmentPolicy, PolicyError, load_policy
from sla.simulation import RecordedComplaint
from sla.surveys import SurveyBatch

log = structlog.get_logger("cxsla.assessment")

PAGE_SIZE = 1000
KPI_ERROR = "KpiError"  # an ApplicationError type: the KPIs cannot be computed from what was collected
# A gauge of the catalogue (workflows/metrics.py), set here from what the activities see.
SNAPSHOTS_DIFFERING = "cxsla_policy_snapshots_differing"
SNAPSHOTS_DIFFERING_HELP = ("Policy snapshots that running plans and cycles decide on and that differ from this "
                            "worker's policy file (seen by its activities since it started; each is logged once)")
PLAN_WORKFLOW = names.PLAN_WORKFLOW


@dataclass
class Listed:
    """One workflow of a visibility listing: its memo, and whether it still runs (then its memo may be stale:
    a complaint writes its outcome memo when it closes)."""

    workflow_id: str
    memo: Mapping[str, Any]
    running: bool


class MemoSource(Protocol):
    """Pages of workflows (with their memos) matching a visibility query."""

    def pages(self, query: str) -> AsyncIterator[list[Listed]]: ...


class VisibilitySource:
    """Production source: `ListWorkflowExecutions`, `PAGE_SIZE` at a time, memos decoded by the client's codec."""

    def __init__(self, client: Client, page_size: int = PAGE_SIZE) -> None:
        self._client = client
        self._page_size = page_size

    async def pages(self, query: str) -> AsyncIterator[list[Listed]]:
        token: bytes | None = None
        while True:
            listing = self._client.list_workflows(query, page_size=self._page_size, next_page_token=token)
            await listing.fetch_next_page()
            yield [Listed(info.id, await info.memo(), info.status == WorkflowExecutionStatus.RUNNING)
                   for info in listing.current_page or []]
            token = listing.next_page_token
            if not token:
                return


async def live_outcome(client: Client, workflow_id: str, now: datetime) -> ComplaintOutcome | None:
    """A running complaint's outcome now, from its recorded events (query), evaluated here."""
    try:
        recorded = await client.get_workflow_handle(workflow_id).query("recorded", result_type=RecordedComplaint)
    except (RPCError, WorkflowQueryFailedError) as exc:
        log.warning("running complaint not readable; left out", workflow_id=workflow_id, error=str(exc)[:200])
        return None
    if recorded.calendar is not None:
        calendar = compiled(recorded.calendar)
    else:
        policy = recorded.policy
        calendar = compiled(resolve(policy.calendar_name, policy.calendar,
                                    range(recorded.events[0].at.year - 1, now.year + 2)))
    evaluation = evaluate(recorded.policy, recorded.events, now, recorded.fired, calendar=calendar)
    return outcome_of(recorded.events, evaluation)


SourceFactory = Callable[[Client], MemoSource]


class CollectRequest(BaseModel):
    policy: AssessmentPolicy
    period: str
    start: datetime
    end: datetime
    now: datetime
    batches: list[SurveyBatch]


class Collected(BaseModel):
    assessment: Assessment
    complaints_listed: int
    without_outcome: int  # complaints whose memo carries no outcome (opened by a worker before outcomes existed)
    pages: int
    seconds: float


class InformPlans(BaseModel):
    contract: str
    period: str
    results: list[tuple[str, float | None, bool | None]]  # (kpi, value, met) for every assessed target


class LaunchSettings(BaseModel):
    """What a scheduled cycle starts with: the worker's assessment policy and its calendar as data."""

    policy: AssessmentPolicy
    calendar: CalendarData


async def collect(client: Client, source: MemoSource, request: CollectRequest, *, archive: ArchiveStore | None,
                  heartbeat: Callable[[dict], None] = lambda _: None) -> Collected:
    """The period's KPIs. With an archive: the ended complaints aggregated in SQL, plus the few still running
    (listed from visibility, evaluated now) that the archive does not hold yet, so Temporal's retention cannot
    change a report. Without one: every complaint of the period listed from `source` (their memos)."""
    started = time.monotonic()
    tally, listed, missing, pages = PeriodTally(decided_by=request.end), 0, 0, 0
    contract = request.policy.name
    live = asyncio.Semaphore(16)
    query = names.complaints_query(contract, request.start, request.end)
    if archive is not None:
        tally = await asyncio.to_thread(archive.tally, contract, request.start, request.end)
        listed = tally.complaints
        query += " AND ExecutionStatus = 'Running'"

    async def outcome_of_listed(item: Listed) -> ComplaintOutcome | _Counted | None:
        raw = item.memo.get(names.OUTCOME_MEMO)
        if item.running:
            async with live:
                outcome = await live_outcome(client, item.workflow_id, request.now)
            if outcome is not None and archive is not None and await asyncio.to_thread(
                    archive.has, outcome.complaint_id, outcome.received_at):
                return _COUNTED  # archived as it ended, moments before its workflow completes: counted in SQL
            return outcome
        if archive is not None:
            return _COUNTED  # ended: the archive has it
        try:
            return ComplaintOutcome.model_validate(raw) if raw is not None else None
        except ValidationError:
            return None

    async for page in source.pages(query):
        pages += 1
        outcomes = await asyncio.gather(*(outcome_of_listed(item) for item in page))
        for outcome in outcomes:
            if isinstance(outcome, _Counted):
                continue
            listed += 1
            if outcome is None:
                missing += 1
                continue
            if outcome.contract != contract or not request.start <= outcome.received_at < request.end:
                continue  # the query selects these already; a memo is checked all the same
            tally.add(outcome)
        heartbeat({"pages": pages, "complaints": listed})
    interruptions: dict[str, Interruption] = {}
    if archive is not None:
        for document in await asyncio.to_thread(archive.records_of, "outage", contract):
            interruptions[document["outage_id"]] = Interruption.model_validate(document)
    async for page in source.pages(names.interruptions_query(contract)):
        for item in page:
            raw = item.memo.get(names.INTERRUPTION_MEMO)
            if raw is not None and raw.get("contract") == contract:
                found = Interruption.model_validate(raw)
                interruptions[found.outage_id] = found
    overlapping = [i for i in interruptions.values() if i.started_at < request.end
                   and (i.restored_at is None or i.restored_at > request.start)]
    cadence = Period.parse(request.period).cadence
    try:
        assessment = assess(
            contract=contract, period=request.period, start=request.start, end=request.end, now=request.now,
            tally=tally, batches=request.batches, interruptions=overlapping, targets=request.policy.targets,
            assessed=request.policy.cycle(cadence).assess,
        )
    except (ArithmeticError, ValueError) as exc:  # the same input fails the same way: no retry can help
        raise ApplicationError(
            f"the KPIs of {contract} {request.period} cannot be computed from the figures collected "
            f"({type(exc).__name__}: {str(exc)[:200]})", type=KPI_ERROR, non_retryable=True) from None
    if missing:
        log.warning("complaints without an outcome memo were left out", contract=contract,
                    period=request.period, count=missing)
    return Collected(assessment=assessment, complaints_listed=listed, without_outcome=missing, pages=pages,
                     seconds=round(time.monotonic() - started, 3))


class _Counted:
    """A listed complaint the archive's tally already holds."""


_COUNTED = _Counted()


class AssessmentActivities:
    def __init__(self, *, policy_path: str | None = None, source: SourceFactory | None = None,
                 archive: ArchiveStore | Callable[[], ArchiveStore] | None = None) -> None:
        """`archive` (or a function opening it): where cycles read ended complaints; a custom `source` (tests,
        a team's own listing) is read whole instead."""
        self._policy_path = policy_path
        self._source = source or VisibilitySource
        self._archive = archive if source is None else None
        self._differing: dict[str, set[str]] = {}  # contract -> snapshot versions seen that differ from the file

    @activity.defn(name="cxsla.collect_and_assess")
    async def collect_and_assess(self, request: CollectRequest) -> Collected:
        """Reads only: a retry starts over and gets the same answer (heartbeats show progress)."""
        self._note_snapshot(request.policy)
        archive = self._archive() if callable(self._archive) else self._archive
        client = activity.client()
        return await collect(client, self._source(client), request, archive=archive, heartbeat=activity.heartbeat)

    @activity.defn(name="cxsla.inform_plans")
    async def inform_plans(self, request: InformPlans) -> list[str]:
        """Tell each open plan of the contract its KPI's figure; returns the plans that took it."""
        client = activity.client()
        informed = []
        for kpi, value, met in request.results:
            pid = plan_id(request.contract, KpiName(kpi))
            handle = client.get_workflow_handle(pid)
            try:
                await handle.execute_update(
                    "record_cycle_result",
                    RecordCycleResult(period=request.period, value=value, met=met, by="assessment-cycle"))
            except RPCError as exc:
                if "not found" in str(exc).lower() or "already completed" in str(exc).lower():
                    continue  # no open plan for this KPI
                raise
            except WorkflowUpdateFailedError as exc:
                log.info("plan refused the cycle result", plan=pid, reason=str(exc.cause))
                continue
            informed.append(pid)
        return informed

    @activity.defn(name="cxsla.open_plan_for_complaint")
    async def open_plan_for_complaint(self, request: OpenPlanRequest) -> str | None:
        """Start the KPI's plan, or record the miss on the open one; None when a complaint's breach asks and the
        contract does not start plans on complaint breaches, or no cycle of it assesses the KPI (such a plan could
        never close)."""
        if request.policy is not None:  # the complaint's snapshot decides, as it decides the complaint
            self._note_snapshot(request.policy)
        policy = request.policy or self._assessment_policy(request.contract)
        kpi = KpiName(request.kpi)
        if request.miss.trigger is Trigger.COMPLAINT and not (
                policy.assesses(kpi) and (request.decided or policy.improvement.on_major_complaint_breach)):
            return None
        return await self._start_or_record(policy, kpi, request.miss, request.at, request.task_queue)

    @activity.defn(name="cxsla.open_plans_for_feedback")
    async def open_plans_for_feedback(self, request: FeedbackPlanRequest) -> list[str]:
        """The plans a significantly negative answer starts or adds to (000 §5.2); none for other answers."""
        policy = self._assessment_policy(request.contract)
        misses = negative_feedback_misses(policy.improvement.on_negative_feedback, policy.targets,
                                          complaint_id=request.complaint_id, csat=request.csat, nps=request.nps)
        return [await self._start_or_record(policy, kpi, miss, request.at, request.task_queue)
                for kpi, miss in misses.items()]

    async def _start_or_record(self, policy: AssessmentPolicy, kpi: KpiName, miss: Miss, at: datetime,
                               task_queue: str) -> str:
        """Signal-with-start: a new plan, or the miss recorded on the one already open for this KPI."""
        calendar = resolve_at(policy.calendar_name, policy.calendar, at)
        run = new_plan_run(policy=policy, kpi=kpi, miss=miss, at=at, calendar=calendar)
        await activity.client().start_workflow(
            PLAN_WORKFLOW, run, id=run.plan_id, task_queue=task_queue,
            start_signal="record_miss", start_signal_args=[miss],
            search_attributes=plan_search_attributes(run),
        )
        return run.plan_id

    @activity.defn(name="cxsla.launch_settings")
    async def launch_settings(self, contract: str) -> LaunchSettings:
        """The contract's assessment settings and calendar, resolved now (a scheduled cycle's snapshot)."""
        policy = self._assessment_policy(contract)
        calendar = resolve_at(policy.calendar_name, policy.calendar, datetime.now(timezone.utc))
        return LaunchSettings(policy=policy, calendar=calendar)

    @activity.defn(name="cxsla.assessment_policy")
    async def assessment_policy(self, contract: str) -> AssessmentPolicy:
        """The contract's assessment settings from this worker's policy file (a snapshot for the cycle)."""
        return self._assessment_policy(contract)

    def _note_snapshot(self, snapshot: AssessmentPolicy) -> None:
        """Say once (a log line, and the gauge) that a workflow decides on settings this worker's file no longer
        has: the workflow keeps its snapshot, but whoever edited the file may expect otherwise."""
        try:
            current = load_policy(self._policy_path).assessment(snapshot.name).version
        except PolicyError:
            current = None  # the file has no such contract (or is unreadable): it differs too
        seen = self._differing.setdefault(snapshot.name, set())
        if current == snapshot.version or snapshot.version in seen:
            return
        seen.add(snapshot.version)
        log.warning("policy file differs from a snapshot in use; the workflow keeps its snapshot",
                    contract=snapshot.name, snapshot_version=snapshot.version, file_version=current,
                    workflow_id=activity.info().workflow_id)
        activity.metric_meter().create_gauge(SNAPSHOTS_DIFFERING, SNAPSHOTS_DIFFERING_HELP).set(
            len(seen), {"contract": snapshot.name})

    def _assessment_policy(self, contract: str) -> AssessmentPolicy:
        try:
            return load_policy(self._policy_path).assessment(contract)
        except PolicyError as exc:
            raise ApplicationError(str(exc), type="PolicyError", non_retryable=True) from None
