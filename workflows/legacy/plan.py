"""How ImprovementPlanWorkflow ran before its clocks moved into workflow code: kept so that those runs replay.

See workflows/legacy/__init__.py; its commands must stay exactly as they were recorded.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import cast

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.legacy.engine_loop import RETRY_SUMMARY, evaluate_recorded, sleep_until

with workflow.unsafe.imports_passed_through():
    from activities.evaluation import PlanEvaluateRequest, evaluate_improvement_plan
    from sla import plans as p
    from workflows import metrics as m
    from workflows import search_attributes as sa
    from workflows.legacy.notices import NoticeOutbox

ENGINE_RETRY_AFTER = timedelta(hours=1)


class LegacyPlan:
    def __init__(self, run: p.PlanRun) -> None:
        self._run = run
        self._facts = p.facts(run.events)
        self._evaluation: p.PlanEvaluation | None = None
        self._evaluated_events = 0
        self._engine_error: str | None = None
        self._outbox = NoticeOutbox(subject="improvement_plan", subject_id=run.plan_id, contract=self._facts.contract)
        self._metrics = m.WorkflowMetrics()
        self._attributes: dict[str, object] = {}

    async def run(self) -> p.PlanStatus:
        run = self._run
        if "started" not in run.counted:
            run.counted.append("started")
            self._metrics.count(m.PLANS_STARTED, {"contract": self._facts.contract})
        delivery = asyncio.create_task(self._outbox.run())
        while True:
            await self._evaluate()
            if self._due():
                now = workflow.now()
                assert self._evaluation is not None  # _due() saw one
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
        return self.status()

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

    def check(self, event: p._PlanEvent) -> bool:
        try:
            return p.check(self._facts, event)
        except p.PlanRejected as exc:
            raise ApplicationError(str(exc), type="PlanRejected", non_retryable=True) from None

    async def record(self, event: p._PlanEvent) -> p.PlanStatus:
        if self.check(event):
            self._run.events.append(cast("p.PlanEvent", event))  # a member of the union
            self._facts = p.facts(self._run.events)
            recorded = len(self._run.events)
            await workflow.wait_condition(lambda: self._evaluated_events >= recorded and not self._due())
        return self.status()

    def record_miss(self, miss: p.Miss) -> None:
        event = p.MissRecorded(at=workflow.now(), miss=miss)
        try:
            if p.check(self._facts, event):
                self._run.events.append(event)
                self._facts = p.facts(self._run.events)
        except p.PlanRejected as exc:
            workflow.logger.info("miss not recorded: %s", exc)

    def status(self) -> p.PlanStatus:
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
