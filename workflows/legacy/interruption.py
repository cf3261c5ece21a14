"""How ServiceInterruptionWorkflow ran before its clock moved into workflow code: kept so that those runs replay.

See workflows/legacy/__init__.py; its commands must stay exactly as they were recorded.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

from workflows.legacy.engine_loop import RETRY_SUMMARY, evaluate_recorded, sleep_until

with workflow.unsafe.imports_passed_through():
    from activities.evaluation import InterruptionEvaluateRequest, evaluate_service_interruption
    from sla.interruptions import MEMO_KEY, InterruptionEvaluation, InterruptionRun, InterruptionStatus, Restore
    from workflows import search_attributes as sa
    from workflows.legacy.notices import NoticeOutbox

ENGINE_RETRY_AFTER = timedelta(minutes=10)


class LegacyInterruption:
    def __init__(self, run: InterruptionRun) -> None:
        self._run = run
        self._evaluation: InterruptionEvaluation | None = None
        self._engine_error: str | None = None
        self._version = 0  # bumped by the restored update
        self._evaluated_version = -1
        self._outbox = NoticeOutbox(subject="interruption", subject_id=run.record.outage_id,
                                    contract=run.record.contract)

    async def run(self) -> InterruptionStatus:
        delivery = asyncio.create_task(self._outbox.run())
        self._upsert_memo()
        while True:
            await self._evaluate()
            if self._due():
                now = workflow.now()
                assert self._evaluation is not None  # _due() saw one
                for action in self._evaluation.due:
                    self._run.fired[action.id] = now
                    self._outbox.fire(action, now)
                continue
            breached = bool(self._evaluation and self._evaluation.clock.breached_at)
            workflow.upsert_search_attributes([sa.BREACHED.value_set(breached)])
            if self._run.record.restored_at is not None:
                break
            await self._sleep()
        workflow.upsert_search_attributes([sa.STATE.value_set("restored")])
        await workflow.wait_condition(lambda: self._outbox.empty and workflow.all_handlers_finished())
        delivery.cancel()
        return self.status()

    async def _evaluate(self) -> None:
        version = self._version
        self._evaluation, self._engine_error = await evaluate_recorded(
            evaluate_service_interruption,
            InterruptionEvaluateRequest(policy=self._run.policy, record=self._run.record, fired=self._run.fired,
                                        now=workflow.now()),
            "interruption", self._evaluation,
        )
        self._evaluated_version = version

    def _due(self) -> bool:
        return self._engine_error is None and self._evaluation is not None and bool(self._evaluation.due)

    async def _sleep(self) -> None:
        if self._engine_error:
            summary, timeout = RETRY_SUMMARY, ENGINE_RETRY_AFTER
        elif self._evaluation and self._evaluation.next_due_at:
            summary = f"interruption clock due at {self._evaluation.next_due_at.isoformat()}"
            timeout = self._evaluation.next_due_at - workflow.now()
        else:
            summary, timeout = "restored", None
        await sleep_until(timeout, summary, lambda: self._version > self._evaluated_version)

    async def restored(self, command: Restore) -> InterruptionStatus:
        at = command.restored_at or workflow.now()
        self._run.record = self._run.record.model_copy(update={"restored_at": at, "restored_by": command.by})
        self._version += 1
        version = self._version
        self._upsert_memo()
        await workflow.wait_condition(lambda: self._evaluated_version >= version and not self._due())
        return self.status()

    def status(self) -> InterruptionStatus:
        record, evaluation = self._run.record, self._evaluation
        clock = evaluation.clock if evaluation else None
        return InterruptionStatus(
            outage_id=record.outage_id, contract=record.contract,
            state="restored" if record.restored_at else "ongoing", started_at=record.started_at,
            restored_at=record.restored_at,
            duration_seconds=(record.restored_at - record.started_at).total_seconds() if record.restored_at else None,
            clock=clock, major_breach=bool(clock and clock.breached_at),
            escalations=sorted(k for k in self._run.fired if ":escalate:" in k),
            engine_error=self._engine_error,
        )

    def _upsert_memo(self) -> None:
        workflow.upsert_memo({MEMO_KEY: self._run.record.as_interruption().model_dump(mode="json")})


