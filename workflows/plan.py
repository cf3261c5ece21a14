"""ImprovementPlanWorkflow: one improvement plan's submission, progress and rectification clocks.

Like a complaint: updates append events, a local activity asks the pure plan engine what is due, due actions fire
once by id and are delivered through an in-order outbox, one durable timer sleeps until the next due instant.
It completes as effective when a later assessment cycle reports the target met.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.engine_loop import RETRY_SUMMARY, evaluate_recorded, sleep_until

with workflow.unsafe.imports_passed_through():
    from activities.evaluation import PlanEvaluateRequest, evaluate_improvement_plan
    from sla import plans as p
    from workflows import metrics as m
    from workflows import search_attributes as sa
    from workflows.notices import NoticeOutbox

ENGINE_RETRY_AFTER = timedelta(hours=1)


@workflow.defn(name="ImprovementPlanWorkflow")
class ImprovementPlanWorkflow:
    @workflow.init
    def __init__(self, run: p.PlanRun) -> None:
        self._run = run
        self._facts = p.facts(run.events)
        self._evaluation: p.PlanEvaluation | None = None
        self._evaluated_events = 0
        self._engine_error: str | None = None
        self._outbox = NoticeOutbox(subject="improvement_plan", subject_id=run.plan_id, contract=self._facts.contract)
        self._metrics = m.WorkflowMetrics()
        self._attributes: dict[str, object] = {}

    @workflow.run
    async def run(self, run: p.PlanRun) -> p.PlanStatus:
        if "started" not in run.counted:
            run.counted.append("started")
            self._metrics.count(m.PLANS_STARTED, {"contract": self._facts.contract})
        delivery = asyncio.create_task(self._outbox.run())
        while True:
            await self._evaluate()
            if self._due():
                now = workflow.now()
                for action in self._evaluation.due:
                    self._run.fired[action.id] = now
                    self._outbox.fire(action, now)
                continue
            self._upsert_search_attributes()
            if self._facts.state.terminal:
                break
            await self._sleep()
        await workflow.wait_condition(lambda: self._outbox.empty and workflow.all_handlers_finished())
        delivery.cancel()
        return self._status()

    async def _evaluate(self) -> None:
        count = len(self._run.events)
        self._evaluation, self._engine_error = await evaluate_recorded(
            evaluate_improvement_plan,
            PlanEvaluateRequest(policy=self._run.policy, events=self._run.events, fired=self._run.fired,
                                now=workflow.now()),
            "plan", self._evaluation,
        )
        self._evaluated_events = count

    def _due(self) -> bool:
        return self._engine_error is None and self._evaluation is not None and bool(self._evaluation.due)

    async def _sleep(self) -> None:
        if self._engine_error:
            summary, timeout = RETRY_SUMMARY, ENGINE_RETRY_AFTER
        elif self._evaluation and self._evaluation.next_due_at:
            summary = f"plan clock due at {self._evaluation.next_due_at.isoformat()}"
            timeout = self._evaluation.next_due_at - workflow.now()
        else:
            summary, timeout = "next command", None
        await sleep_until(timeout, summary, lambda: len(self._run.events) > self._evaluated_events)

    # ---- commands -------------------------------------------------------------------------------------------
    def _check(self, event: p._PlanEvent) -> bool:
        try:
            return p.check(self._facts, event)
        except p.PlanRejected as exc:
            raise ApplicationError(str(exc), type="PlanRejected", non_retryable=True) from None

    async def _record(self, event: p._PlanEvent) -> p.PlanStatus:
        if self._check(event):
            self._run.events.append(event)
            self._facts = p.facts(self._run.events)
            recorded = len(self._run.events)
            await workflow.wait_condition(lambda: self._evaluated_events >= recorded and not self._due())
        return self._status()

    @workflow.update
    async def submit_plan(self, command: p.SubmitPlan) -> p.PlanStatus:
        return await self._record(command.event(workflow.now()))

    @submit_plan.validator
    def _validate_submit(self, command: p.SubmitPlan) -> None:
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
        event = p.MissRecorded(at=workflow.now(), miss=miss)
        try:
            if p.check(self._facts, event):
                self._run.events.append(event)
                self._facts = p.facts(self._run.events)
        except p.PlanRejected as exc:
            workflow.logger.info("miss not recorded: %s", exc)

    @workflow.query
    def status(self) -> p.PlanStatus:
        return self._status()

    def _status(self) -> p.PlanStatus:
        return p.plan_status(self._run, self._evaluation, self._engine_error)

    def _upsert_search_attributes(self) -> None:
        breached = bool(self._evaluation and self._evaluation.breached)
        wanted = {sa.STATE.name: (sa.STATE, self._facts.state.value), sa.BREACHED.name: (sa.BREACHED, breached)}
        changes = []
        for name, (key, value) in wanted.items():
            if self._attributes.get(name) != value:
                self._attributes[name] = value
                changes.append(key.value_set(value))
        if changes:
            workflow.upsert_search_attributes(changes)
