"""Typed facade for assessment cycles, survey imports, improvement plans and service interruptions.

The CLI and the HTTP API call this; like `ComplaintClient`, it validates everything before Temporal is called,
so a refused request changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.attributes import cycle_search_attributes
from activities.reports import contract_plans, previous_cycles
from sla import names
from sla.calendar import compiled
from sla.cycles import BatchReceipt, CycleRun, CycleStatus, LaunchCycle, ReassessCycle
from sla.errors import plain
from sla.interruptions import (
    InterruptionRecord,
    InterruptionRun,
    InterruptionStatus,
    ReportInterruption,
    Restore,
    interruption_workflow_id,
)
from sla.kpi import KpiName
from sla.official_calendar import YEARS_AHEAD, resolve, resolve_at
from sla.periods import Cadence, Period, PeriodError
from sla.plans import PlanStatus, RecordCycleResult, ReportProgress, RevisePlan, SubmitPlan, plan_id
from sla.policy import AssessmentPolicy, PolicyError, PolicyFile
from sla.report_html import Format, render
from sla.reporting import CycleResult, Reassessment, build_report, cycle_workflow_id
from sla.simulation import RecordedComplaint, Simulation, simulate
from sla.surveys import SurveyBatch, third_party_score
from starter.client.complaints import FILTER_VALUE, ComplaintClient
from starter.client.errors import CxSlaError, rpc_error, update_error, workflow_error
from workflows import search_attributes as sa
from workflows.cycle import AssessmentCycleWorkflow, ScheduledCycleWorkflow
from workflows.interruption import ServiceInterruptionWorkflow
from workflows.plan import ImprovementPlanWorkflow

# When each cadence's schedule fires, in the contract's time zone: just after the period begins.
SCHEDULE_MONTHS = {
    Cadence.MONTHLY: [ScheduleRange(1, 12)],
    Cadence.QUARTERLY: [ScheduleRange(1), ScheduleRange(4), ScheduleRange(7), ScheduleRange(10)],
    Cadence.ANNUAL: [ScheduleRange(1)],
}


class ThirdPartyRecorded(BaseModel):
    recorded_on: str  # the cycle's id, or the plan's for a re-survey
    score: float
    agency: str
    duplicate: bool = False  # the same agency's same score for the cycle again: nothing changed
    resurvey: str | None = None  # the label the plan recorded it under (`2026-R1`)
    met: bool | None = None  # a re-survey against the target
    plan_state: str | None = None


def schedule_id(contract: str, cadence: Cadence) -> str:
    return names.schedule_id(contract, cadence.value)


def cycle_schedule(policy: AssessmentPolicy, cadence: Cadence, task_queue: str) -> Schedule:
    """The Schedule that starts a contract's cycles of one cadence, just after each period begins."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledCycleWorkflow.run, LaunchCycle(contract=policy.name, cadence=cadence),
            id=names.cycle_launch_id(policy.name, cadence.value), task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(
                second=[ScheduleRange(0)], minute=[ScheduleRange(5)], hour=[ScheduleRange(0)],
                day_of_month=[ScheduleRange(1)], month=SCHEDULE_MONTHS[cadence],
                comment=f"{cadence.value} assessment of {policy.name}",
            )],
            time_zone_name=policy.calendar.timezone,
        ),
    )


class AssessmentClient:
    def __init__(self, client: Client, *, task_queue: str = "cxsla", policy: PolicyFile,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.client = client
        self.task_queue = task_queue
        self.policy = policy
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    @staticmethod
    def of(complaints: ComplaintClient) -> AssessmentClient:
        """Share a connected ComplaintClient's connection, queue, policy and clock."""
        return AssessmentClient(complaints.client, task_queue=complaints.task_queue, policy=complaints.policy,
                                clock=complaints.clock)

    # ---- cycles ---------------------------------------------------------------------------------------------
    def _cycle_policy(self, contract: str, period: str) -> tuple[AssessmentPolicy, Period]:
        _check_name("contract", contract)
        try:
            parsed = Period.parse(period)
            policy = self.policy.assessment(contract)
            policy.cycle(parsed.cadence)
        except (PeriodError, PolicyError) as exc:
            raise CxSlaError(str(exc)) from None
        return policy, parsed

    async def start_cycle(self, contract: str, period: str) -> tuple[CycleStatus, bool]:
        """Start the cycle `cycle-{contract}-{period}`; an existing one is returned (`created` False)."""
        created = await self._ensure_cycle(contract, period)
        return await self._planned_status(contract, period), created

    async def _planned_status(self, contract: str, period: str) -> CycleStatus:
        """The status of a cycle just started, once it has computed its instants (or failed to)."""
        delay = 0.02
        for _ in range(40):  # a query can beat the cycle's first task, which computes its instants
            status = await self.cycle_status(contract, period)
            if status.phase != "planning" or status.error:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        return status

    async def reassess_cycle(self, contract: str, period: str, batch: SurveyBatch,
                             command: ReassessCycle) -> CycleStatus:
        """Assess a closed cycle again with a late survey batch: a new run of the same cycle id, on the policy
        snapshot, batches and report-clock actions of the closed one, whose recomputed report says when, by whom
        and why. Refused before anything starts for a cycle that is missing, still running, or did not complete,
        and for a batch it already holds."""
        _, parsed = self._cycle_policy(contract, period)
        self._check_size(contract, batch)
        handle = self.client.get_workflow_handle(cycle_workflow_id(contract, str(parsed)))
        try:
            described = await handle.describe()
            if described.status == WorkflowExecutionStatus.RUNNING:
                raise CxSlaError(f"cycle {handle.id} is still running: import into it while it accepts surveys, "
                                 f"or re-assess it once it has closed", "conflict")
            if described.status != WorkflowExecutionStatus.COMPLETED:
                ended = described.status.name.lower() if described.status else "unknown"
                raise CxSlaError(f"cycle {handle.id} did not complete ({ended}); start it again (cxsla cycle "
                                 f"start) instead", "conflict")
            closed = await handle.query(AssessmentCycleWorkflow.carried)
        except RPCError as exc:
            raise await workflow_error(exc, handle, subject=handle.id, missing=(
                f"no {parsed.cadence.value} cycle of {contract} for {parsed}; only a closed cycle is "
                f"re-assessed")) from None
        except WorkflowQueryFailedError as exc:
            raise CxSlaError(f"cycle {handle.id} cannot be read back for a re-assessment: {exc}",
                             "unavailable") from None
        if any(b.batch_id == batch.batch_id for b in closed.batches):
            raise CxSlaError(f"batch {batch.batch_id!r} is already in cycle {handle.id}", "conflict")
        self._check_room(contract, handle.id, [b.batch_id for b in closed.batches], batch)
        again = Reassessment(at=self.clock(), by=command.by or "unknown", reason=command.reason,
                             batch_id=batch.batch_id, first_delivered_at=closed.delivered_at)
        run = CycleRun(contract=closed.contract, period=closed.period, policy=closed.policy,
                       calendar=closed.calendar, batches=[*closed.batches, batch], fired=closed.fired,
                       timeline=closed.timeline, reassessment=again)
        try:
            await self.client.start_workflow(
                AssessmentCycleWorkflow.run, run, id=handle.id, task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=cycle_search_attributes(contract),
                static_summary=f"re-assessment of {contract} for {parsed}: {command.reason}"[:200],
            )
        except WorkflowAlreadyStartedError:
            raise CxSlaError(f"cycle {handle.id} is being re-assessed already", "conflict") from None
        except RPCError as exc:
            raise rpc_error(exc, handle.id) from None
        return await self._planned_status(contract, period)

    async def _ensure_cycle(self, contract: str, period: str) -> bool:
        policy, parsed = self._cycle_policy(contract, period)
        created = True
        try:
            first_day = parsed.first_day()
            calendar = resolve_at(policy.calendar_name, policy.calendar,
                                  datetime(first_day.year, first_day.month, first_day.day, tzinfo=timezone.utc))
            await self.client.start_workflow(
                AssessmentCycleWorkflow.run,
                CycleRun(contract=contract, period=str(parsed), policy=policy, calendar=calendar),
                id=cycle_workflow_id(contract, str(parsed)), task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                search_attributes=cycle_search_attributes(contract),
                static_summary=f"{parsed.cadence.value} assessment of {contract} for {parsed}",
            )
        except WorkflowAlreadyStartedError:
            created = False
            await self._retry_waiting_cycle(cycle_workflow_id(contract, str(parsed)))
        except RPCError as exc:
            raise rpc_error(exc, cycle_workflow_id(contract, str(parsed))) from None
        return created

    async def _retry_waiting_cycle(self, workflow_id: str) -> None:
        """A cycle that exists and waits to retry a failed step is asked to try again now."""
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            status = await handle.query(AssessmentCycleWorkflow.status)
            if status.error:
                await handle.execute_update(AssessmentCycleWorkflow.retry)
        except (RPCError, WorkflowUpdateFailedError):
            return  # closed, or a cycle recorded before it could retry on request: start_cycle shows its status

    async def retry_cycle(self, contract: str, period: str) -> CycleStatus:
        """Ask the cycle to try its failed step again now: the way on for a cycle that waits for a fix, once the
        cause is corrected (a cycle with nothing failing is left as it is)."""
        _, parsed = self._cycle_policy(contract, period)
        handle = self.client.get_workflow_handle(cycle_workflow_id(contract, str(parsed)))
        try:
            return await handle.execute_update(AssessmentCycleWorkflow.retry)
        except WorkflowUpdateFailedError as exc:
            raise update_error(exc, handle.id, CONFLICTS) from None
        except RPCError as exc:
            raise await _refused(exc, handle) from None

    async def cycle_status(self, contract: str, period: str) -> CycleStatus:
        _, parsed = self._cycle_policy(contract, period)
        handle = self.client.get_workflow_handle(cycle_workflow_id(contract, str(parsed)))
        try:
            return await handle.query(AssessmentCycleWorkflow.status)
        except RPCError as exc:
            raise await _refused(exc, handle) from None

    async def cycle_result(self, contract: str, period: str) -> CycleResult:
        """The finished cycle's figures; refused while the cycle is still running."""
        _, parsed = self._cycle_policy(contract, period)
        handle = self.client.get_workflow_handle(cycle_workflow_id(contract, str(parsed)), result_type=CycleResult)
        try:
            description = await handle.describe()
            if description.status == WorkflowExecutionStatus.RUNNING:
                status = await handle.query(AssessmentCycleWorkflow.status)
                raise CxSlaError(f"cycle {handle.id} is still {status.phase.replace('_', ' ')} (collects at "
                                 f"{status.collect_at.isoformat() if status.collect_at else '?'})", "conflict")
            if description.status != WorkflowExecutionStatus.COMPLETED:
                ended = description.status.name.lower() if description.status else "unknown"
                raise CxSlaError(f"cycle {handle.id} ended {ended}", "conflict")
            return await handle.result()
        except RPCError as exc:
            raise await _refused(exc, handle) from None

    async def import_survey(self, contract: str, period: str, batch: SurveyBatch) -> BatchReceipt:
        """Add a batch to the period's running cycle; a repeated batch id is a no-op. An import never starts a
        cycle (admins do): a period without one, or whose cycle has closed, is refused before anything changes."""
        _, parsed = self._cycle_policy(contract, period)
        self._check_size(contract, batch)
        handle = self.client.get_workflow_handle(cycle_workflow_id(contract, str(parsed)))
        try:
            described = await handle.describe()
            if described.status != WorkflowExecutionStatus.RUNNING:
                ended = described.status.name.lower() if described.status else "unknown"
                raise CxSlaError(f"cycle {handle.id} has closed ({ended}); its report no "
                                 f"longer takes survey answers", "conflict")
            status = await handle.query(AssessmentCycleWorkflow.status)
        except RPCError as exc:
            raise await workflow_error(exc, handle, subject=handle.id, missing=(
                f"no {parsed.cadence.value} cycle of {contract} for {parsed}; an admin starts it "
                f"(cxsla cycle start), then import")) from None
        self._check_room(contract, handle.id, [b.batch_id for b in status.batches], batch)
        return await _update(handle, "add_survey_batch", batch, BatchReceipt)

    async def record_third_party(self, contract: str, period: str, score: float, agency: str,
                                 by: str | None = None) -> ThirdPartyRecorded:
        """An agency's overall score (003 §2.3.3): into the period's cycle while it takes surveys; once it has
        reported, as the re-survey that verifies the open third-party plan within its rectification window."""
        policy, parsed = self._cycle_policy(contract, period)
        try:
            batch = third_party_score(contract, str(parsed), score, agency)
        except ValidationError as exc:
            raise CxSlaError(plain(exc)) from None
        handle = self.client.get_workflow_handle(cycle_workflow_id(contract, str(parsed)))
        try:
            described = await handle.describe()
            accepting = described.status == WorkflowExecutionStatus.RUNNING and (
                await handle.query(AssessmentCycleWorkflow.status)).phase in ("planning", "accepting_surveys")
        except RPCError as exc:
            raise await workflow_error(exc, handle, subject=handle.id, missing=(
                f"no {parsed.cadence.value} cycle of {contract} for {parsed}; an admin starts it "
                f"(cxsla cycle start), then record the score")) from None
        if accepting:
            receipt = await self.import_survey(contract, str(parsed), batch)
            return ThirdPartyRecorded(recorded_on=handle.id, score=score, agency=batch.agency or agency,
                                      duplicate=receipt.duplicate)
        pid = plan_id(contract, KpiName.THIRD_PARTY_SATISFACTION)
        plan = await self.plan_status(pid)
        if plan.state.terminal:
            raise CxSlaError(f"cycle {handle.id} has reported and plan {pid} is closed; the score has nowhere to go",
                             "conflict")
        target = policy.targets.get(KpiName.THIRD_PARTY_SATISFACTION)
        label = f"{parsed}-R{1 + sum(1 for r in plan.cycle_results if r.period.startswith(f'{parsed}-R'))}"
        command = RecordCycleResult(period=label, value=score, met=target.met_by(score) if target else None,
                                    by=(by or f"third-party agency {batch.agency}")[:200])
        status = await _update(self.client.get_workflow_handle(pid), "record_cycle_result", command, PlanStatus)
        return ThirdPartyRecorded(recorded_on=pid, score=score, agency=batch.agency or agency, resurvey=label,
                                  met=command.met, plan_state=status.state.value)
    def _check_size(self, contract: str, batch: SurveyBatch) -> None:
        limit = self.policy.limits_of(contract).survey_batch_answers
        if batch.responses > limit:
            raise CxSlaError(f"responses: one survey import holds at most {limit} answers")

    def _check_room(self, contract: str, cycle_id: str, held: list[str], batch: SurveyBatch) -> None:
        """A cycle takes a bounded number of survey imports (a repeat of one it holds changes nothing)."""
        limit = self.policy.limits_of(contract).survey_batches
        if len(held) >= limit and batch.batch_id not in held:
            raise CxSlaError(f"cycle {cycle_id} holds its limit of {limit} survey imports", "conflict")

    async def report(self, contract: str, period: str, fmt: Format) -> str:
        """Render a finished cycle's report from Temporal (trends from the earlier cycles), any format."""
        result = await self.cycle_result(contract, period)
        return render(build_report(result, await previous_cycles(self.client, result),
                                   await contract_plans(self.client, result)), fmt)

    async def schedule_cycles(self, contracts: list[str] | None = None) -> list[dict[str, Any]]:
        """Create or update one Temporal Schedule per contract and cadence (idempotent)."""
        wanted = contracts or sorted(self.policy.contracts)
        done = []
        for contract in wanted:
            try:
                policy = self.policy.assessment(contract)
            except PolicyError as exc:
                raise CxSlaError(str(exc)) from None
            for cadence in policy.cycles:
                sid = schedule_id(contract, cadence)
                schedule = cycle_schedule(policy, cadence, self.task_queue)
                try:
                    await self.client.create_schedule(sid, schedule)
                    done.append({"schedule_id": sid, "contract": contract, "cadence": cadence.value,
                                 "created": True})
                except ScheduleAlreadyRunningError:
                    async def replace(current: ScheduleUpdateInput,
                                      schedule: Schedule = schedule) -> ScheduleUpdate:
                        # an operator's pause (and its note) stays: every worker start runs this
                        schedule.state = current.description.schedule.state
                        return ScheduleUpdate(schedule=schedule)

                    await self.client.get_schedule_handle(sid).update(replace)
                    done.append({"schedule_id": sid, "contract": contract, "cadence": cadence.value,
                                 "created": False})
                except RPCError as exc:
                    raise rpc_error(exc, sid) from None
        return done

    # ---- improvement plans ----------------------------------------------------------------------------------
    async def plan_status(self, pid: str) -> PlanStatus:
        _check_name("plan", pid)
        handle = self.client.get_workflow_handle(pid)
        try:
            return await handle.query(ImprovementPlanWorkflow.status)
        except RPCError as exc:
            raise await _refused(exc, handle) from None

    async def submit_plan(self, pid: str, command: SubmitPlan) -> PlanStatus:
        _check_name("plan", pid)
        return await _update(self.client.get_workflow_handle(pid), "submit_plan", command, PlanStatus)

    async def revise_plan(self, pid: str, command: RevisePlan) -> PlanStatus:
        _check_name("plan", pid)
        return await _update(self.client.get_workflow_handle(pid), "revise_plan", command, PlanStatus)

    async def report_progress(self, pid: str, command: ReportProgress) -> PlanStatus:
        _check_name("plan", pid)
        return await _update(self.client.get_workflow_handle(pid), "report_progress", command, PlanStatus)

    async def list_plans(self, *, contract: str | None = None, open_only: bool = True) -> list[dict[str, Any]]:
        clauses = [names.of_type(names.PLAN_WORKFLOW)]
        if contract:
            _check_name("contract", contract)
            clauses.append(f"{sa.CONTRACT.name} = {names.quote(contract)}")
        if open_only:
            clauses.append("ExecutionStatus = 'Running'")
        try:
            return [{
                "plan_id": info.id, "contract": info.typed_search_attributes.get(sa.CONTRACT),
                "state": info.typed_search_attributes.get(sa.STATE),
                "breached": bool(info.typed_search_attributes.get(sa.BREACHED)),
                "workflow_status": info.status.name if info.status else None,
            } async for info in self.client.list_workflows(" AND ".join(clauses), limit=1000)]
        except RPCError as exc:
            raise rpc_error(exc, "cannot list plans") from None

    # ---- service interruptions ------------------------------------------------------------------------------
    async def report_outage(self, request: ReportInterruption) -> tuple[InterruptionStatus, bool]:
        now = self.clock()
        try:
            policy = self.policy.assessment(request.contract)
            record = InterruptionRecord(
                outage_id=request.id, contract=request.contract, started_at=request.started_at or now,
                reported_at=now, summary=request.summary, reported_by=request.by)
        except (PolicyError, ValueError) as exc:
            raise CxSlaError(str(exc)) from None
        wid = interruption_workflow_id(request.id)
        created = True
        try:
            await self.client.start_workflow(
                ServiceInterruptionWorkflow.run,
                InterruptionRun(record=record, policy=policy,
                                calendar=resolve_at(policy.calendar_name, policy.calendar, record.started_at)),
                id=wid,
                task_queue=self.task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(sa.CONTRACT, request.contract),
                    SearchAttributePair(sa.STATE, "ongoing"),
                    SearchAttributePair(sa.BREACHED, False),
                ]),
                static_summary=f"service interruption {request.id} of {request.contract}",
            )
        except WorkflowAlreadyStartedError:
            created = False
        except RPCError as exc:
            raise rpc_error(exc, wid) from None
        return await self._first_outage_status(request.id), created

    async def _first_outage_status(self, outage_id: str) -> InterruptionStatus:
        """The status once the workflow has evaluated its clock (a query can beat its first evaluation)."""
        delay = 0.02
        for _ in range(40):
            status = await self.outage_status(outage_id)
            if status.clock is not None or status.engine_error:
                return status
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        return status

    async def restore_outage(self, outage_id: str, command: Restore) -> InterruptionStatus:
        _check_name("outage", outage_id)
        handle = self.client.get_workflow_handle(interruption_workflow_id(outage_id))
        return await _update(handle, "restored", command, InterruptionStatus)

    async def outage_status(self, outage_id: str) -> InterruptionStatus:
        _check_name("outage", outage_id)
        handle = self.client.get_workflow_handle(interruption_workflow_id(outage_id))
        try:
            return await handle.query(ServiceInterruptionWorkflow.status)
        except RPCError as exc:
            raise await _refused(exc, handle) from None


def _check_name(option: str, value: str) -> None:
    if not FILTER_VALUE.fullmatch(value or ""):
        raise CxSlaError(f"{option}: {str(value)[:40]!r} is not a name (letters, digits, . _ : -)")


# ApplicationError types from the workflows' validators that mean "not in this state" rather than bad input.
CONFLICTS = frozenset({"InvalidTransition", "PlanRejected"})


async def _update(handle, name: str, argument, result_type):
    try:
        return await handle.execute_update(name, argument, result_type=result_type)
    except WorkflowUpdateFailedError as exc:
        raise update_error(exc, handle.id, CONFLICTS) from None
    except RPCError as exc:
        raise await _refused(exc, handle) from None


async def _refused(exc: RPCError, handle) -> CxSlaError:
    return await workflow_error(exc, handle, subject=handle.id, missing=f"no workflow {handle.id!r}")


async def _recorded(client: Client, workflow_id: str, limit: asyncio.Semaphore) -> RecordedComplaint:
    async with limit:
        return await client.get_workflow_handle(workflow_id).query("recorded", result_type=RecordedComplaint)


async def simulate_period(assessments: AssessmentClient, proposed: PolicyFile, contract: str,
                          period: str) -> Simulation:
    """Replay the period's complaints (from Temporal) under `proposed`; see sla/simulation.py."""
    current, parsed = assessments._cycle_policy(contract, period)
    try:
        new_contract = proposed.contract(contract)
        new_assessment = proposed.assessment(contract)
    except PolicyError as exc:
        raise CxSlaError(f"proposed policy: {exc}") from None
    years = range(parsed.year - 1, parsed.year + YEARS_AHEAD + 1)
    zone = compiled(resolve(current.calendar_name, current.calendar, years))
    start, end = parsed.start(zone), parsed.end(zone)
    try:
        query = names.complaints_query(contract, start, end)
        ids = [info.id async for info in assessments.client.list_workflows(query)]
        limit = asyncio.Semaphore(16)
        recorded = await asyncio.gather(*(_recorded(assessments.client, wid, limit) for wid in ids))
    except RPCError as exc:
        raise rpc_error(exc, "cannot read the period's complaints") from None
    assessed = current.cycles[parsed.cadence].assess
    proposed_calendar = compiled(resolve(new_contract.calendar_name, new_contract.calendar, years))

    def before(complaint: RecordedComplaint):
        if complaint.calendar is not None:
            return compiled(complaint.calendar)
        return compiled(resolve(complaint.policy.calendar_name, complaint.policy.calendar, years))

    return simulate(
        list(recorded), proposed=new_contract, contract=contract, period=str(parsed), start=start, end=end,
        now=assessments.clock(), targets_before=current.targets, targets_after=new_assessment.targets,
        assessed=assessed, calendar_before=before, calendar_after=lambda _: proposed_calendar,
    )
