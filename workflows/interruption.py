"""ServiceInterruptionWorkflow: a reported outage; past the contract's threshold it is a major breach.

Started when an outage is reported, it sleeps on one timer until the next warning, breach or escalation and
completes when the service is restored. Its memo carries the interval for the availability KPI.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.engine_loop import RETRY_SUMMARY, evaluate_recorded, sleep_until

with workflow.unsafe.imports_passed_through():
    from datetime import datetime

    from pydantic import BaseModel, Field

    from activities.assessment import INTERRUPTION_MEMO_KEY
    from activities.evaluation import InterruptionEvaluateRequest, evaluate_service_interruption
    from sla.deadlines import DeadlineStatus
    from sla.interruptions import InterruptionEvaluation, InterruptionRecord, Restore
    from sla.policy import AssessmentPolicy
    from workflows import search_attributes as sa
    from workflows.notices import NoticeOutbox

ENGINE_RETRY_AFTER = timedelta(minutes=10)


class InterruptionRun(BaseModel):
    record: InterruptionRecord
    policy: AssessmentPolicy
    fired: dict[str, datetime] = Field(default_factory=dict)


class InterruptionStatus(BaseModel):
    outage_id: str
    contract: str
    state: str  # ongoing | restored
    started_at: datetime
    restored_at: datetime | None
    duration_seconds: float | None
    clock: DeadlineStatus | None
    major_breach: bool
    escalations: list[str]
    engine_error: str | None = None


@workflow.defn(name="ServiceInterruptionWorkflow")
class ServiceInterruptionWorkflow:
    @workflow.init
    def __init__(self, run: InterruptionRun) -> None:
        self._run = run
        self._evaluation: InterruptionEvaluation | None = None
        self._engine_error: str | None = None
        self._version = 0  # bumped by the restored update
        self._evaluated_version = -1
        self._outbox = NoticeOutbox(subject="interruption", subject_id=run.record.outage_id,
                                    contract=run.record.contract)

    @workflow.run
    async def run(self, run: InterruptionRun) -> InterruptionStatus:
        delivery = asyncio.create_task(self._outbox.run())
        self._upsert_memo()
        while True:
            await self._evaluate()
            if self._due():
                now = workflow.now()
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
        return self._status()

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

    @workflow.update
    async def restored(self, command: Restore) -> InterruptionStatus:
        at = command.restored_at or workflow.now()
        self._run.record = self._run.record.model_copy(update={"restored_at": at, "restored_by": command.by})
        self._version += 1
        version = self._version
        self._upsert_memo()
        await workflow.wait_condition(lambda: self._evaluated_version >= version and not self._due())
        return self._status()

    @restored.validator
    def _validate_restored(self, command: Restore) -> None:
        record = self._run.record
        if record.restored_at is not None:
            raise ApplicationError(f"interruption {record.outage_id} was already restored at "
                                   f"{record.restored_at.isoformat()}", type="InvalidTransition", non_retryable=True)
        at = command.restored_at or workflow.now()
        if at < record.started_at:
            raise ApplicationError(f"restored_at {at.isoformat()} is before the interruption started "
                                   f"({record.started_at.isoformat()})", type="ValueError", non_retryable=True)
        if at > workflow.now():
            raise ApplicationError(f"restored_at {at.isoformat()} is in the future", type="ValueError",
                                   non_retryable=True)

    @workflow.query
    def status(self) -> InterruptionStatus:
        return self._status()

    def _status(self) -> InterruptionStatus:
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
        workflow.upsert_memo({INTERRUPTION_MEMO_KEY: self._run.record.as_interruption().model_dump(mode="json")})
