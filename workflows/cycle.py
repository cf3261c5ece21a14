"""AssessmentCycleWorkflow: one contract's assessment of one period, and the plans its misses start.

During the period (and its grace time) it accepts survey batches; then it reads the period's complaint outcomes
and interruptions, computes the KPIs, tells open improvement plans the new figures, starts a plan for each missed
target that has none, and writes the report, which has a delivery deadline of its own (the one clock loop, beside
the steps). Its instants are computed in workflow code from the calendar data it carries, whenever it needs them.
A step that fails is retried with a capped backoff, its reason shown in `cycle show` and counted; a long retry
continues as new; `cxsla cycle start` on a waiting cycle tries again at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.assessment import (
        AssessmentActivities,
        CollectRequest,
        InformPlans,
        LaunchSettings,
    )
    from activities.attributes import cycle_search_attributes, plan_search_attributes
    from activities.reports import ReportActivities
    from sla import names
    from sla.calendar import BusinessCalendar, CalendarRefreshed, CalendarUpdate, compiled
    from sla.cycles import (
        REPORT_CLOCK,
        BatchReceipt,
        BatchSummary,
        CycleRun,
        CycleStatus,
        CycleTimes,
        LaunchCycle,
        cycle_times,
    )
    from sla.deadlines import ActionKind, DeadlineStatus, Due, Ladder, evaluate_deadline, split_due
    from sla.kpi import Assessment, KpiName
    from sla.periods import Period
    from sla.plans import Miss, Trigger, new_plan_run, plan_id
    from sla.reporting import CycleResult, cycle_workflow_id
    from sla.surveys import SurveyBatch, SurveyChannel
    from sla.vocabulary import BreachClass
    from workflows import metrics as m
    from workflows import search_attributes as sa
    from workflows.archiving import archive_record
    from workflows.calendar_data import fetch_calendar
    from workflows.clock_loop import ClockLoop, WakeTimer, backoff
    from workflows.legacy.cycle import LegacyCycle, legacy_launch
    from workflows.outbox import Outbox
    from workflows.patches import (
        ARCHIVE_ON_FINISH_PATCH,
        CLOCKS_IN_WORKFLOW_PATCH,
        CYCLE_WAITS_FOR_FIX_PATCH,
        REPORT_DELIVERY_PATCH,
        THIRD_PARTY_DUTY_PATCH,
    )


# Inside one attempt Temporal retries quickly; then the cycle shows the error and retries on its own clock.
PLAN_WORKFLOW = names.PLAN_WORKFLOW  # by name: the cycle never imports the plan workflow's module
STEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=1),
                         maximum_attempts=5)
CONTINUE_AS_NEW_HISTORY = 2_000
REPORT_DELIVERY = "report:deliver"  # the action id of the report's delivery to the contract's recipients
THIRD_PARTY_CLOCK = "third_party_survey"
THIRD_PARTY_MISSING = f"{THIRD_PARTY_CLOCK}#1:breach"
WAITING_FOR_FIX = "waiting_for_fix"  # CxState of a cycle whose step no retry can fix (the collector's gauge)
T = TypeVar("T")


@dataclass
class _Answer:
    due: list[Due]
    next_due_at: datetime | None
    status: DeadlineStatus


class _ReportClock:
    """The report's delivery deadline as a clock for the loop: warnings, breach, ladder, until delivered."""

    def __init__(self, cycle: AssessmentCycleWorkflow) -> None:
        self._cycle = cycle
        self.version = 0

    def evaluate(self, now: datetime) -> _Answer:
        cycle = self._cycle
        run, times = cycle._run, cycle._times()
        spec = run.policy.cycle(cycle._cadence)
        assert cycle._calendar is not None  # run() fetches it before the report clock starts
        status, actions = evaluate_deadline(
            name=REPORT_CLOCK, instance=1, start=times.end, target=spec.report_within, calendar=cycle._calendar,
            ended_at=cycle._first_delivery() or run.delivered_at, warn_at=run.policy.warn_at,
            ladder=Ladder.of(run.policy.escalation), breach_class=BreachClass.MINOR, fired=run.fired, now=now)
        due, next_at = split_due(actions, run.fired, now)
        return _Answer(due=due, next_due_at=next_at, status=status)

    def fire(self, due: list[Due], now: datetime) -> None:
        cycle = self._cycle
        for action in due:
            cycle._run.fired[action.id] = now
            cycle._metrics.fired(action.kind.value, contract=cycle._run.contract, severity="", clock=action.clock,
                                 level=action.level,
                                 breach_class=action.breach_class.value if action.breach_class else None)
            cycle._outbox.fire(action, now)

    def settle(self) -> None:
        pass

    def finished(self) -> bool:
        return self._cycle._run.delivered_at is not None


@workflow.defn(name=names.CYCLE_WORKFLOW, sandboxed=False)
class AssessmentCycleWorkflow:
    @workflow.init
    def __init__(self, run: CycleRun) -> None:
        self._legacy = None if workflow.patched(CLOCKS_IN_WORKFLOW_PATCH) else LegacyCycle(
            run, plan_workflow=PLAN_WORKFLOW, cycle_attributes=cycle_search_attributes)
        self._run = run
        self._cadence = Period.parse(run.period).cadence
        self._phase = "planning"
        self._calendar: BusinessCalendar | None = compiled(run.calendar) if run.calendar else None
        self._metrics = m.WorkflowMetrics()
        self._outbox = Outbox(subject="assessment_report", subject_id=workflow.info().workflow_id,
                              contract=run.contract, metrics=self._metrics, pending=run.pending,
                              sequence=run.sequence)
        self._report = _ReportClock(self)
        self._report_loop: ClockLoop[_Answer] = ClockLoop(self._report, what="report", contract=run.contract,
                                                          metrics=self._metrics)
        self._result: CycleResult | None = None
        self._error: str | None = None
        self._error_since: datetime | None = None
        self._attempts = 0
        self._retry_at: datetime | None = None
        self._retry_now = False
        self._waits_for_fix = False  # runs since cycle-waits-for-fix: a final error waits for `cycle retry`
        self._waiting_for_fix = False
        self._version = 0  # bumped by a calendar refresh: the cycle's instants are computed again

    # ---- the steps ------------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, run: CycleRun) -> CycleResult:
        if self._legacy is not None:
            return await self._legacy.run()
        if workflow.patched(CYCLE_WAITS_FOR_FIX_PATCH):
            self._waits_for_fix = True
        if self._calendar is None:
            start = Period.parse(run.period).first_day()
            data = await fetch_calendar(run.policy, datetime(start.year, start.month, start.day,
                                                             tzinfo=workflow.now().tzinfo))
            run.calendar, self._calendar = data, compiled(data)
        self._outbox.start()  # notices a previous run left undelivered
        report_clock = asyncio.create_task(self._report_loop.run())
        await self._step("times", self._times_now)
        if run.assessment is None:
            self._set_phase("accepting_surveys")
            await self._until_collection()
            self._set_phase("collecting")
            collected = await self._step("collection", lambda: workflow.execute_activity_method(
                AssessmentActivities.collect_and_assess,
                CollectRequest(policy=run.policy, period=run.period, start=self._times().start,
                               end=self._times().end, now=workflow.now(), batches=run.batches),
                start_to_close_timeout=timedelta(hours=2), heartbeat_timeout=timedelta(minutes=5),
                retry_policy=STEP_RETRY, summary=f"KPIs of {run.contract} {run.period}"))
            run.assessment = collected.assessment
        self._third_party_duty()
        self._set_phase("reporting")
        assessment = run.assessment
        assert assessment is not None  # collected just above, or by an earlier run
        if run.informed is None:
            run.informed = await self._step("informing plans", lambda: self._inform(assessment, None))
        if run.started is None:
            run.started = await self._step("starting plans", self._start_plans)
        result = self._cycle_result()
        if run.delivered_at is None:
            now = workflow.now()  # the report says when it was delivered and whether it was late
            delivered = self._first_delivery() or now  # a re-assessment's report replaces one delivered earlier
            result = result.model_copy(update={"report_delivered_at": delivered,
                                               "report_late": delivered > self._times().report_due})
            run.report_files = await self._step("report", lambda: workflow.execute_activity_method(
                ReportActivities.write_report, result, start_to_close_timeout=timedelta(minutes=5),
                retry_policy=STEP_RETRY, summary=f"report {run.contract} {run.period}"))
            run.delivered_at = now
            self._report.version += 1
            if run.reassessment is None:
                self._metrics.count(m.CYCLES_COMPLETED, {"contract": run.contract})
            workflow.upsert_memo({names.KPI_MEMO: {
                "period": run.period, "cadence": self._cadence.value, "missed": len(run.assessment.missed),
                "kpis": {k.name.value: k.value for k in run.assessment.kpis},
            }})
        self._result = self._cycle_result()
        self._deliver_report()
        self._set_phase("done")
        await report_clock
        await workflow.wait_condition(lambda: not self._outbox.in_flight and not self._outbox.pending
                                      and workflow.all_handlers_finished())
        if workflow.patched(ARCHIVE_ON_FINISH_PATCH):
            await archive_record("cycle", workflow.info().workflow_id, run.contract,
                                 self._result.model_copy(update={"report_files": run.report_files}))
        return self._result

    def _third_party_duty(self) -> None:
        """A cycle that checks the third-party score and has none by its collection time: the yearly survey by an
        independent agency was not done (003 §2.3.3), a breach of the policy's class, notified like any other."""
        run = self._run
        if not workflow.patched(THIRD_PARTY_DUTY_PATCH) or THIRD_PARTY_MISSING in run.fired:
            return
        spec = run.policy.cycle(self._cadence)
        if KpiName.THIRD_PARTY_SATISFACTION not in spec.assess:
            return
        if any(b.channel is SurveyChannel.THIRD_PARTY for b in run.batches):
            return
        now, deadline = workflow.now(), self._times().collect_at
        run.fired[THIRD_PARTY_MISSING] = now
        self._metrics.fired("breach", contract=run.contract, severity="", clock=THIRD_PARTY_CLOCK, level=None,
                            breach_class=spec.missing_survey.value)
        self._outbox.fire(Due(id=THIRD_PARTY_MISSING, kind=ActionKind.BREACH, due_at=deadline, deadline=deadline,
                              clock=THIRD_PARTY_CLOCK, breach_class=spec.missing_survey), now)

    def _deliver_report(self) -> None:
        """The finished report to the contract's recipients (000 §3.4), once, through the outbox: keyed, retried
        until a sink takes it; the cycle completes only after that."""
        run = self._run
        if not workflow.patched(REPORT_DELIVERY_PATCH) or run.policy.report_to is None:
            return
        if REPORT_DELIVERY in run.fired or run.delivered_at is None:
            return
        run.fired[REPORT_DELIVERY] = workflow.now()
        self._outbox.fire(Due(id=REPORT_DELIVERY, kind=ActionKind.DELIVER_REPORT, due_at=run.delivered_at,
                              clock=REPORT_CLOCK, detail=f"assessment report {run.contract} {run.period}"),
                          workflow.now(), report_to=run.policy.report_to)
    def _first_delivery(self) -> datetime | None:
        """The delivery of the report a re-assessment replaces: the report clock ended then, and stays ended."""
        again = self._run.reassessment
        return again.first_delivered_at if again is not None else None

    def _times(self) -> CycleTimes:
        assert self._calendar is not None  # run() fetches it first; queries check it before asking
        return cycle_times(self._run.policy, self._run.period, self._calendar, workflow.now())

    async def _times_now(self) -> CycleTimes:
        return self._times()

    async def _until_collection(self) -> None:
        """Until the period's end plus grace (computed again after a calendar refresh)."""
        timer = WakeTimer()
        while workflow.now() < (collect_at := self._times().collect_at):
            timer.aim(collect_at, f"collect {self._run.contract} {self._run.period} at {collect_at.isoformat()}")
            version = self._version

            def woken(version: int = version) -> bool:
                return timer.rang or self._version != version
            await workflow.wait_condition(woken)
        timer.cancel()

    async def _step(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run one step until it succeeds: after each failed attempt the reason is shown and counted, and the
        cycle waits (1 min doubling to 1 h, or until `cycle start` asks again) before the next; a long wait
        continues as new at that point so the history stays small."""
        timer = WakeTimer()
        while True:
            try:
                value = await attempt()
            except (ActivityError, ApplicationError, ChildWorkflowError, ValueError, ArithmeticError) as err:
                cause = err.cause if isinstance(err, ActivityError | ChildWorkflowError) else err
                message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
                now = workflow.now()
                self._attempts += 1
                self._error = f"{what}: {message}"[:500]
                self._error_since = self._error_since or now
                self._metrics.count(m.RETRIES, {"contract": self._run.contract, "what": f"cycle {what}"})
                workflow.logger.error("cycle %s failed (attempt %d): %s", what, self._attempts, message)
                if self._waits_for_fix and isinstance(cause, ApplicationError) and cause.non_retryable:
                    await self._wait_for_fix(what, message)
                    continue
                self._retry_at = now + backoff(self._attempts)
                limit = self._run.continue_as_new_history or CONTINUE_AS_NEW_HISTORY
                if workflow.info().get_current_history_length() >= limit:
                    await workflow.wait_condition(lambda: not self._outbox.in_flight
                                                  and workflow.all_handlers_finished())
                    workflow.continue_as_new(self._run.model_copy(update={
                        "run": self._run.run + 1, "pending": self._outbox.pending,
                        "sequence": self._outbox.sequence}))
                timer.aim(self._retry_at, f"retry cycle {what} ({message[:60]})")
                self._retry_now = False
                await workflow.wait_condition(lambda: timer.rang or self._retry_now)
                timer.cancel()
                continue
            self._error, self._error_since, self._attempts, self._retry_at = None, None, 0, None
            return value

    async def _wait_for_fix(self, what: str, message: str) -> None:
        """A failure that says retrying cannot help (the same input fails the same way): no timer, no loop. `cycle
        show`, the API and the cxsla_cycles_waiting_for_fix gauge (CxState) say so until someone corrects the cause
        and asks again; the report clock keeps running meanwhile."""
        run = self._run
        self._error = (f"{what}: {message}; retrying will not help: correct the cause, then run `cxsla cycle retry "
                       f"--contract {run.contract} --period {run.period}`")[:500]
        self._waiting_for_fix, self._retry_at, self._retry_now = True, None, False
        workflow.upsert_search_attributes([sa.STATE.value_set(WAITING_FOR_FIX)])
        await workflow.wait_condition(lambda: self._retry_now)
        self._waiting_for_fix = False
        workflow.upsert_search_attributes([sa.STATE.value_set(self._phase)])

    async def _inform(self, assessment: Assessment, only: list | None) -> list[str]:
        kpis = only if only is not None else [k for k in assessment.kpis if k.name in assessment.assessed]
        return await workflow.execute_activity_method(
            AssessmentActivities.inform_plans,
            InformPlans(contract=self._run.contract, period=self._run.period,
                        results=[(k.name.value, k.value, k.met) for k in kpis]),
            start_to_close_timeout=timedelta(minutes=5), retry_policy=STEP_RETRY)

    async def _start_plans(self) -> list[str]:
        """Start a plan for each missed target that has none (when configured); a plan opened meanwhile (by a
        complaint's breach) takes this cycle's figure instead."""
        run = self._run
        started: list[str] = []
        if not run.policy.cycle(self._cadence).start_plans:
            return started
        assert run.assessment is not None and run.informed is not None  # collected and informed before this
        for kpi in run.assessment.missed:
            pid = plan_id(run.contract, kpi.name)
            if pid in run.informed:
                continue
            miss = Miss(trigger=Trigger.CYCLE, period=run.period, value=kpi.value, target=kpi.target)
            plan = new_plan_run(policy=run.policy, kpi=kpi.name, miss=miss, at=workflow.now(),
                                calendar=run.calendar)
            try:
                await workflow.start_child_workflow(
                    PLAN_WORKFLOW, plan, id=pid, parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    search_attributes=plan_search_attributes(plan),
                    static_summary=f"improvement plan: {kpi.label} of {run.contract}",
                )
                started.append(pid)
            except WorkflowAlreadyStartedError:
                run.informed = [*run.informed, *await self._inform(run.assessment, [kpi])]
        return started

    def _cycle_result(self) -> CycleResult:
        run = self._run
        result = CycleResult(
            contract=run.contract, period=run.period, cadence=self._cadence, policy_version=run.policy.version,
            assessment=run.assessment, report_due=self._times().report_due, plans_started=run.started or [],
            plans_informed=run.informed or [], reassessment=run.reassessment,
        )
        if THIRD_PARTY_MISSING in run.fired:
            cls = run.policy.cycle(self._cadence).missing_survey.value
            result = result.model_copy(update={"missed_duties": [
                f"No third-party satisfaction score was recorded by {self._times().collect_at.isoformat()}: the "
                f"yearly survey by an independent agency was not done, a {cls} breach."]})
        if run.delivered_at is not None:
            delivered = self._first_delivery() or run.delivered_at
            result = result.model_copy(update={"report_delivered_at": delivered,
                                               "report_late": delivered > result.report_due,
                                               "report_files": run.report_files or []})
        return result

    # ---- survey batches, retries, calendar ------------------------------------------------------------------
    @workflow.update
    def add_survey_batch(self, batch: SurveyBatch) -> BatchReceipt:
        duplicate = any(b.batch_id == batch.batch_id for b in self._run.batches)
        if not duplicate:
            self._run.batches.append(batch)
        return BatchReceipt(batch_id=batch.batch_id, duplicate=duplicate, batches=len(self._run.batches),
                            responses=sum(b.responses for b in self._run.batches))

    @add_survey_batch.validator
    def _validate_batch(self, batch: SurveyBatch) -> None:
        phase = self._legacy.phase if self._legacy is not None else self._phase
        if phase not in ("planning", "accepting_surveys"):
            collect_at = self._legacy.collect_at if self._legacy is not None else self._safe_collect_at()
            until = collect_at.isoformat() if collect_at else "the end of the grace time"
            raise ApplicationError(
                f"cycle {workflow.info().workflow_id} is {phase.replace('_', ' ')}; survey batches were "
                f"accepted until {until}", type="InvalidTransition", non_retryable=True)
        for existing in self._run.batches:
            if existing.batch_id == batch.batch_id and existing.fingerprint() != batch.fingerprint():
                raise ApplicationError(
                    f"batch {batch.batch_id!r} was already imported with other content; use a new batch id",
                    type="InvalidTransition", non_retryable=True)

    @workflow.update
    def retry(self) -> CycleStatus:
        """Try the step the cycle is waiting to retry now (`cxsla cycle retry`; `cxsla cycle start` on a waiting
        cycle too): the only way on for a step that waits for a fix."""
        self._retry_now = True
        self._waiting_for_fix = False
        return self.status()

    @workflow.update
    async def refresh_calendar(self, update: CalendarUpdate) -> CalendarRefreshed:
        """Take newer calendar data: the period's instants and the report clock are computed again."""
        cycle, current = workflow.info().workflow_id, self._run.calendar if self._legacy is None else None
        data = update.take(current, cycle, self._provisional)
        if isinstance(data, CalendarRefreshed):
            return data
        self._run.calendar, self._calendar = data, compiled(data)
        self._run.timeline.append({"type": "calendar_updated", "at": workflow.now().isoformat(), "by": update.by,
                                   "years": data.known_years()})
        self._version += 1
        self._report.version += 1
        version = self._report.version
        await workflow.wait_condition(lambda: self._report_loop.settled(version) or self._run.delivered_at is not None)
        return CalendarRefreshed(id=cycle, changed=True, provisional=self._provisional())

    # ---- views ----------------------------------------------------------------------------------------------
    @workflow.query
    def carried(self) -> CycleRun:
        """The cycle's whole state (policy snapshot, batches, fired report actions): what a re-assessment of the
        closed cycle starts from."""
        return self._run

    @workflow.query
    def status(self) -> CycleStatus:
        if self._legacy is not None:
            return self._legacy.status()
        run = self._run
        times = self._safe_times()
        failure = self._report_loop.failure
        return CycleStatus(
            id=workflow.info().workflow_id, contract=run.contract, period=run.period, cadence=self._cadence,
            phase=self._phase, policy_version=run.policy.version,
            start=times.start if times else None, end=times.end if times else None,
            collect_at=times.collect_at if times else None, report_due=times.report_due if times else None,
            batches=[BatchSummary(batch_id=b.batch_id, channel=b.channel, responses=b.responses)
                     for b in run.batches],
            responses=sum(b.responses for b in run.batches),
            report_notices=sorted(run.fired), assessment=run.assessment, result=self._result,
            error=self._error or (f"report clock: {failure.message}" if failure else None),
            error_since=self._error_since, attempts=self._attempts, retry_at=self._retry_at,
            waiting_for_fix=self._waiting_for_fix,
            provisional=self._provisional(), undelivered=self._outbox.undelivered(),
        )

    def _safe_times(self) -> CycleTimes | None:
        if self._calendar is None:
            return None
        try:
            return self._times()
        except Exception:  # noqa: BLE001 - a query must answer; the step shows the error
            return None

    def _safe_collect_at(self) -> datetime | None:
        times = self._safe_times()
        return times.collect_at if times else None

    def _provisional(self) -> bool:
        times = self._safe_times()
        if times is None or self._calendar is None:
            return False
        return self._calendar.provisional_between(times.start, times.report_due)

    def _set_phase(self, phase: str) -> None:
        if phase != self._phase:
            self._phase = phase
            workflow.upsert_search_attributes([sa.STATE.value_set(phase)])


@workflow.defn(name=names.SCHEDULED_CYCLE_WORKFLOW, sandboxed=False)
class ScheduledCycleWorkflow:
    """What a Temporal Schedule starts at the beginning of each period: the cycle `cycle-{contract}-{period}`.

    A schedule appends its own timestamp to the ids it starts, so it starts this launcher, which starts the cycle
    under its canonical id (a cycle already started by hand is left alone) and ends.
    """

    @workflow.run
    async def run(self, launch: LaunchCycle) -> str:
        if not workflow.patched(CLOCKS_IN_WORKFLOW_PATCH):
            return await legacy_launch(launch, cycle_workflow=names.CYCLE_WORKFLOW,
                                       cycle_attributes=cycle_search_attributes)
        settings: LaunchSettings = await workflow.execute_activity_method(
            AssessmentActivities.launch_settings, launch.contract, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=10),
        )
        period = str(Period.containing(workflow.now(), launch.cadence, compiled(settings.calendar)))
        cycle_id = cycle_workflow_id(launch.contract, period)
        try:
            await workflow.start_child_workflow(
                AssessmentCycleWorkflow.run,
                CycleRun(contract=launch.contract, period=period, policy=settings.policy, calendar=settings.calendar),
                id=cycle_id, parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                search_attributes=cycle_search_attributes(launch.contract),
                static_summary=f"{launch.cadence.value} assessment of {launch.contract} for {period}",
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("cycle %s already exists", cycle_id)
        return cycle_id
