"""How AssessmentCycleWorkflow and ScheduledCycleWorkflow ran before cycles computed their own instants: kept so
that those runs replay.

See workflows/legacy/__init__.py; its commands must stay exactly as they were recorded.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.assessment import AssessmentActivities, CollectRequest, InformPlans
    from activities.attributes import plan_search_attributes
    from activities.evaluation import CycleTimesRequest, PeriodRequest, current_period, plan_cycle
    from activities.reports import ReportActivities
    from sla.cycles import REPORT_CLOCK, BatchSummary, CycleRun, CycleStatus, CycleTimes, LaunchCycle
    from sla.kpi import Assessment
    from sla.periods import Period
    from sla.plans import Miss, Trigger, new_plan_run, plan_id
    from sla.reporting import CycleResult, cycle_workflow_id
    from workflows import metrics as m
    from workflows import search_attributes as sa
    from workflows.legacy.notices import NoticeOutbox

KPI_MEMO_KEY = "cxsla.kpis"
RETRY_FOREVER = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5))
PLANNING_RETRY_AFTER = timedelta(hours=1)


class LegacyCycle:
    def __init__(self, run: CycleRun, *, plan_workflow: str, cycle_attributes) -> None:
        self._run = run
        self._cadence = Period.parse(run.period).cadence
        self._phase = "planning"
        self._times: CycleTimes | None = None
        self._assessment: Assessment | None = None
        self._result: CycleResult | None = None
        self._delivered = False
        self._error: str | None = None
        self._outbox = NoticeOutbox(subject="assessment_report", subject_id=workflow.info().workflow_id,
                                    contract=run.contract)
        self._metrics = m.WorkflowMetrics()
        self._plan_workflow = plan_workflow
        self._cycle_attributes = cycle_attributes

    @property
    def phase(self) -> str:
        return self._phase

    @property
    def collect_at(self) -> datetime | None:
        return self._times.collect_at if self._times else None

    async def run(self) -> CycleResult:
        run = self._run
        delivery = asyncio.create_task(self._outbox.run())
        self._times = await self._plan()
        self._set_phase("accepting_surveys")
        clock = asyncio.create_task(self._report_clock())
        await self._until(self._times.collect_at, f"collect {run.contract} {run.period} at "
                                                  f"{self._times.collect_at.isoformat()}")
        self._set_phase("collecting")
        collected = await workflow.execute_activity_method(
            AssessmentActivities.collect_and_assess,
            CollectRequest(policy=run.policy, period=run.period, start=self._times.start, end=self._times.end,
                           now=workflow.now(), batches=run.batches),
            start_to_close_timeout=timedelta(hours=2), heartbeat_timeout=timedelta(minutes=5),
            retry_policy=RETRY_FOREVER, summary=f"KPIs of {run.contract} {run.period}",
        )
        self._assessment = assessment = collected.assessment
        self._set_phase("reporting")
        informed, started = await self._plans(assessment)
        result = CycleResult(
            contract=run.contract, period=run.period, cadence=self._cadence, policy_version=run.policy.version,
            assessment=assessment, report_due=self._times.report_due, plans_started=started,
            plans_informed=informed,
        )
        now = workflow.now()  # the report says when it was delivered and whether it was late
        result = result.model_copy(update={"report_delivered_at": now, "report_late": now > self._times.report_due})
        files = await workflow.execute_activity_method(
            ReportActivities.write_report, result, start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RETRY_FOREVER, summary=f"report {run.contract} {run.period}",
        )
        self._delivered = True
        self._result = result.model_copy(update={"report_files": files})
        self._metrics.count(m.CYCLES_COMPLETED, {"contract": run.contract})
        workflow.upsert_memo({KPI_MEMO_KEY: {
            "period": run.period, "cadence": self._cadence.value, "missed": len(assessment.missed),
            "kpis": {k.name.value: k.value for k in assessment.kpis},
        }})
        self._set_phase("done")
        await clock
        await workflow.wait_condition(lambda: self._outbox.empty and workflow.all_handlers_finished())
        delivery.cancel()
        return self._result

    async def _plan(self) -> CycleTimes:
        while True:
            try:
                times = await workflow.execute_local_activity(
                    plan_cycle, CycleTimesRequest(policy=self._run.policy, period=self._run.period, now=workflow.now()),
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=5),
                )
                self._error = None
                return times
            except ActivityError as err:
                cause = err.cause
                self._error = cause.message if isinstance(cause, ApplicationError) else str(err)
                workflow.logger.error("cycle planning failed: %s", self._error)
                await workflow.sleep(PLANNING_RETRY_AFTER, summary="retry planning after calendar error")

    async def _until(self, instant: datetime, summary: str) -> None:
        while (left := instant - workflow.now()) > timedelta(0):
            await workflow.sleep(left, summary=summary)

    async def _report_clock(self) -> None:
        assert self._times is not None  # set before the report clock starts
        for action in self._times.report_actions:
            if action.id in self._run.fired:
                continue
            left = action.due_at - workflow.now()
            if left > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self._delivered, timeout=left,
                                                  timeout_summary=f"{REPORT_CLOCK} {action.id}")
                except TimeoutError:
                    pass
            if self._delivered:
                return
            now = workflow.now()
            self._run.fired[action.id] = now
            self._outbox.fire(action, now)

    async def _plans(self, assessment: Assessment) -> tuple[list[str], list[str]]:
        assessed = [k for k in assessment.kpis if k.name in assessment.assessed]
        informed = await workflow.execute_activity_method(
            AssessmentActivities.inform_plans,
            InformPlans(contract=self._run.contract, period=self._run.period,
                        results=[(k.name.value, k.value, k.met) for k in assessed]),
            start_to_close_timeout=timedelta(minutes=5), retry_policy=RETRY_FOREVER,
        )
        started: list[str] = []
        if not self._run.policy.cycle(self._cadence).start_plans:
            return informed, started
        for kpi in assessment.missed:
            pid = plan_id(self._run.contract, kpi.name)
            if pid in informed:
                continue
            miss = Miss(trigger=Trigger.CYCLE, period=self._run.period, value=kpi.value, target=kpi.target)
            plan = new_plan_run(policy=self._run.policy, kpi=kpi.name, miss=miss, at=workflow.now())
            try:
                await workflow.start_child_workflow(
                    self._plan_workflow, plan, id=pid, parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    search_attributes=plan_search_attributes(plan),
                    static_summary=f"improvement plan: {kpi.label} of {self._run.contract}",
                )
                started.append(pid)
            except WorkflowAlreadyStartedError:
                informed += await workflow.execute_activity_method(
                    AssessmentActivities.inform_plans,
                    InformPlans(contract=self._run.contract, period=self._run.period,
                                results=[(kpi.name.value, kpi.value, kpi.met)]),
                    start_to_close_timeout=timedelta(minutes=5), retry_policy=RETRY_FOREVER,
                )
        return informed, started

    def status(self) -> CycleStatus:
        times = self._times
        return CycleStatus(
            id=workflow.info().workflow_id, contract=self._run.contract, period=self._run.period,
            cadence=self._cadence, phase=self._phase, policy_version=self._run.policy.version,
            start=times.start if times else None, end=times.end if times else None,
            collect_at=times.collect_at if times else None, report_due=times.report_due if times else None,
            batches=[BatchSummary(batch_id=b.batch_id, channel=b.channel, responses=b.responses)
                     for b in self._run.batches],
            responses=sum(b.responses for b in self._run.batches),
            report_notices=sorted(self._run.fired), assessment=self._assessment, result=self._result,
            error=self._error,
        )

    def _set_phase(self, phase: str) -> None:
        self._phase = phase
        workflow.upsert_search_attributes([sa.STATE.value_set(phase)])


async def legacy_launch(launch: LaunchCycle, *, cycle_workflow: str, cycle_attributes) -> str:
    """ScheduledCycleWorkflow as it ran before: the worker's policy and the period through two activities."""
    policy = await workflow.execute_activity_method(
        AssessmentActivities.assessment_policy, launch.contract, start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(maximum_attempts=10),
    )
    period = await workflow.execute_local_activity(
        current_period, PeriodRequest(policy=policy, cadence=launch.cadence, now=workflow.now()),
        start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=5),
    )
    cycle_id = cycle_workflow_id(launch.contract, period)
    try:
        await workflow.start_child_workflow(
            cycle_workflow, CycleRun(contract=launch.contract, period=period, policy=policy),
            id=cycle_id, parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=cycle_attributes(launch.contract),
            static_summary=f"{launch.cadence.value} assessment of {launch.contract} for {period}",
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.info("cycle %s already exists", cycle_id)
    return cycle_id
