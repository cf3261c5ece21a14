"""ImprovementPlanWorkflow: one improvement plan's submission, progress and rectification clocks.

Like a complaint: updates append events, the pure plan engine runs in workflow code on the policy and calendar data
the plan carries, due actions fire once by id and go out through the outbox, one durable timer sleeps until the next
due instant. It completes as effective when a later assessment cycle reports the target met.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from sla import events as ev
    from sla import names
    from sla import plans as p
    from sla.calendar import BusinessCalendar, CalendarRefreshed, CalendarUpdate, compiled
    from sla.deadlines import ActionKind, Due
    from sla.vocabulary import BreachClass
    from workflows import metrics as m
    from workflows import search_attributes as sa
    from workflows.archiving import archive_record
    from workflows.calendar_data import fetch_calendar
    from workflows.clock_loop import ClockLoop
    from workflows.legacy.plan import LegacyPlan
    from workflows.outbox import Outbox
    from workflows.patches import (
        ARCHIVE_ON_FINISH_PATCH,
        CLOCKS_IN_WORKFLOW_PATCH,
        PLAN_BOUNDED_CARRY_PATCH,
        PLAN_BREACH_CLASS_PATCH,
        PLAN_REVISION_PATCH,
    )

CONTINUE_AS_NEW_HISTORY = 2_000
# A run that has recorded this many events hands over: each wake-up of an evicted plan replays every evaluation
# of its run, and the events are what the next run's input carries.
CONTINUE_AS_NEW_EVENTS = 200


@workflow.defn(name=names.PLAN_WORKFLOW, sandboxed=False)
class ImprovementPlanWorkflow:
    @workflow.init
    def __init__(self, run: p.PlanRun) -> None:
        self._legacy = None if workflow.patched(CLOCKS_IN_WORKFLOW_PATCH) else LegacyPlan(run)
        self._run = run
        self._facts = p.facts(run.events)
        self._events_at_start = len(run.events)
        self._calendar: BusinessCalendar | None = compiled(run.calendar) if run.calendar else None
        self._evaluation: p.PlanEvaluation | None = None
        self.version = 0
        self._metrics = m.WorkflowMetrics()
        self._outbox = Outbox(subject="improvement_plan", subject_id=run.plan_id, contract=self._facts.contract,
                              metrics=self._metrics, pending=run.pending, sequence=run.sequence)
        self._loop: ClockLoop[p.PlanEvaluation] = ClockLoop(self, what="improvement_plan",
                                                            contract=self._facts.contract, metrics=self._metrics)
        self._attributes: dict[str, object] = {}
        self._revisable = False  # runs started before revisions existed refuse them

    @workflow.run
    async def run(self, run: p.PlanRun) -> p.PlanStatus:
        if self._legacy is not None:
            return await self._legacy.run()
        self._revisable = bool(workflow.patched(PLAN_REVISION_PATCH))
        if self._calendar is None:
            data = await fetch_calendar(run.policy, self._facts.opened_at)
            self._run.calendar, self._calendar = data, compiled(data)
        if "started" not in run.counted:
            run.counted.append("started")
            self._metrics.count(m.PLANS_STARTED, {"contract": self._facts.contract})
        self._outbox.start()  # notices a previous run left undelivered
        if await self._loop.run(hand_over=self._should_continue_as_new, drained=self._drained):
            workflow.continue_as_new(self._carried())
        await workflow.wait_condition(lambda: self._drained() and not self._outbox.pending)
        if workflow.patched(ARCHIVE_ON_FINISH_PATCH):
            await archive_record("plan", self._run.plan_id, self._facts.contract, self._status())
        return self._status()

    # ---- the clock (what ClockLoop drives) ------------------------------------------------------------------
    def evaluate(self, now: datetime) -> p.PlanEvaluation:
        assert self._calendar is not None  # run() fetches it before the clock loop starts
        # before the patch every missed rectification was major; since, its KPI's class in the policy
        rectification = None if workflow.patched(PLAN_BREACH_CLASS_PATCH) else BreachClass.MAJOR
        self._evaluation = p.evaluate_plan(self._run.policy, self._run.events, now, self._run.fired,
                                           calendar=self._calendar, rectification_class=rectification)
        return self._evaluation

    def fire(self, due: list[Due], now: datetime) -> None:
        for action in due:
            self._run.fired[action.id] = now
            self._metrics.fired(action.kind.value, contract=self._facts.contract, severity="", clock=action.clock,
                                level=action.level,
                                breach_class=action.breach_class.value if action.breach_class else None)
            if action.kind is not ActionKind.CLOSE:
                self._outbox.fire(action, now)

    def settle(self) -> None:
        evaluation = self._evaluation
        wanted = {sa.STATE: self._facts.state.value, sa.BREACHED: bool(evaluation and evaluation.breached),
                  sa.PROVISIONAL: bool(evaluation and evaluation.provisional) and not self._facts.state.terminal}
        sa.upsert_changed(self._attributes, wanted)

    def finished(self) -> bool:
        return self._facts.state.terminal

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        if info.get_current_history_length() >= CONTINUE_AS_NEW_HISTORY or info.is_continue_as_new_suggested():
            return True
        if not workflow.patched(PLAN_BOUNDED_CARRY_PATCH):
            return False
        limit = self._run.continue_as_new_after_events or CONTINUE_AS_NEW_EVENTS
        return len(self._run.events) - self._events_at_start >= limit

    def _carried(self) -> p.PlanRun:
        """What the next run needs: the events with long progress summaries left in this run's history (no clock
        reads them; the submitted plan, which `plan show` prints, is carried whole), fired ids, undelivered
        notices. Notice keys use the first run's id, so a notice retried by the next run keeps its key."""
        carried: dict[str, object] = {"run": self._run.run + 1, "pending": self._outbox.pending,
                                      "sequence": self._outbox.sequence}
        if workflow.patched(PLAN_BOUNDED_CARRY_PATCH):
            where = f"the workflow history of run {self._run.run}"
            carried["events"] = [ev.with_text_elided(event, where) if isinstance(event, p.ProgressReported)
                                 else event for event in self._run.events]
        return self._run.model_copy(update=carried)

    def _drained(self) -> bool:
        return not self._outbox.in_flight and workflow.all_handlers_finished()

    # ---- commands -------------------------------------------------------------------------------------------
    def _check(self, event: p._PlanEvent) -> bool:
        if self._legacy is not None:
            return self._legacy.check(event)
        try:
            return p.check(self._facts, event)
        except p.PlanRejected as exc:
            raise ApplicationError(str(exc), type="PlanRejected", non_retryable=True) from None

    async def _record(self, event: p._PlanEvent) -> p.PlanStatus:
        if self._legacy is not None:
            return await self._legacy.record(event)
        if self._check(event):
            self._append(event)
            version = self.version
            await workflow.wait_condition(lambda: self._loop.settled(version))
        return self._status()

    def _append(self, event: p._PlanEvent) -> None:
        self._run.events.append(cast("p.PlanEvent", event))  # a member of the union
        self._facts = p.facts(self._run.events)
        self.version += 1

    @workflow.update
    async def submit_plan(self, command: p.SubmitPlan) -> p.PlanStatus:
        return await self._record(command.event(workflow.now()))

    @submit_plan.validator
    def _validate_submit(self, command: p.SubmitPlan) -> None:
        self._check(command.event(workflow.now()))

    @workflow.update
    async def revise_plan(self, command: p.RevisePlan) -> p.PlanStatus:
        """A new version of the submitted plan after a review; the earlier versions stay in its history."""
        return await self._record(command.event(workflow.now()))

    @revise_plan.validator
    def _validate_revision(self, command: p.RevisePlan) -> None:
        if self._legacy is not None or not self._revisable:
            raise ApplicationError(f"plan {workflow.info().workflow_id} was started by an earlier release and "
                                   "cannot be revised; report progress instead", type="PlanRejected",
                                   non_retryable=True)
        self._check(command.event(workflow.now()))

    @workflow.update
    async def report_progress(self, command: p.ReportProgress) -> p.PlanStatus:
        return await self._record(command.event(workflow.now()))

    @report_progress.validator
    def _validate_progress(self, command: p.ReportProgress) -> None:
        self._check(command.event(workflow.now()))

    @workflow.update
    async def record_cycle_result(self, command: p.RecordCycleResult) -> p.PlanStatus:
        """Idempotent per period: a cycle retried after a timeout does not record its figure twice."""
        return await self._record(command.event(workflow.now()))

    @record_cycle_result.validator
    def _validate_cycle_result(self, command: p.RecordCycleResult) -> None:
        self._check(command.event(workflow.now()))

    @workflow.signal
    def record_miss(self, miss: p.Miss) -> None:
        """Signal-with-start target for complaint breaches: total, so a bad or late signal never fails a task."""
        if self._legacy is not None:
            self._legacy.record_miss(miss)
            return
        event = p.MissRecorded(at=workflow.now(), miss=miss)
        try:
            if p.check(self._facts, event):
                self._append(event)
        except p.PlanRejected as exc:
            workflow.logger.info("miss not recorded: %s", exc)

    @workflow.update
    async def refresh_calendar(self, update: CalendarUpdate) -> CalendarRefreshed:
        """Take newer calendar data: recorded in the timeline, clocks recomputed, fired actions stay fired."""
        current = self._run.calendar if self._legacy is None else None
        data = update.take(current, self._run.plan_id, self._provisional)
        if isinstance(data, CalendarRefreshed):
            return data
        self._run.calendar, self._calendar = data, compiled(data)
        self._append(p.PlanCalendarUpdated(at=workflow.now(), by=update.by, calendar=data.name,
                                           digest=data.digest, years=data.known_years()))
        version = self.version
        await workflow.wait_condition(lambda: self._loop.settled(version))
        return CalendarRefreshed(id=self._run.plan_id, changed=True, provisional=self._provisional())

    @workflow.query
    def status(self) -> p.PlanStatus:
        return self._legacy.status() if self._legacy is not None else self._status()

    def _provisional(self) -> bool:
        return bool(self._evaluation and self._evaluation.provisional)

    def _status(self) -> p.PlanStatus:
        failure = self._loop.failure
        return p.plan_status(self._run, self._evaluation, failure.message if failure else None,
                             undelivered=self._outbox.undelivered())


