"""ServiceInterruptionWorkflow: a reported outage; past the contract's threshold it is a major breach.

Started when an outage is reported, it runs the one clock loop (the deadline evaluated in workflow code on the
calendar data it carries) until the service is restored. Its memo carries the interval for the availability KPI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from sla import names
    from sla.calendar import BusinessCalendar, CalendarRefreshed, CalendarUpdate, compiled
    from sla.deadlines import Due
    from sla.interruptions import (
        MEMO_KEY,
        InterruptionEvaluation,
        InterruptionRun,
        InterruptionStatus,
        Restore,
        evaluate_interruption,
    )
    from workflows import metrics as m
    from workflows import search_attributes as sa
    from workflows.archiving import archive_record
    from workflows.calendar_data import fetch_calendar
    from workflows.clock_loop import ClockLoop
    from workflows.legacy.interruption import LegacyInterruption
    from workflows.outbox import Outbox
    from workflows.patches import ARCHIVE_ON_FINISH_PATCH, CLOCKS_IN_WORKFLOW_PATCH

__all__ = ["ServiceInterruptionWorkflow", "InterruptionRun", "InterruptionStatus"]
CONTINUE_AS_NEW_HISTORY = 2_000


@workflow.defn(name=names.INTERRUPTION_WORKFLOW, sandboxed=False)
class ServiceInterruptionWorkflow:
    @workflow.init
    def __init__(self, run: InterruptionRun) -> None:
        self._legacy = None if workflow.patched(CLOCKS_IN_WORKFLOW_PATCH) else LegacyInterruption(run)
        self._run = run
        self._calendar: BusinessCalendar | None = compiled(run.calendar) if run.calendar else None
        self._evaluation: InterruptionEvaluation | None = None
        self.version = 0
        self._metrics = m.WorkflowMetrics()
        contract = run.record.contract
        self._outbox = Outbox(subject="interruption", subject_id=run.record.outage_id, contract=contract,
                              metrics=self._metrics, pending=run.pending, sequence=run.sequence)
        self._loop: ClockLoop[InterruptionEvaluation] = ClockLoop(self, what="interruption", contract=contract,
                                                                  metrics=self._metrics)
        self._attributes: dict[str, object] = {}

    @workflow.run
    async def run(self, run: InterruptionRun) -> InterruptionStatus:
        if self._legacy is not None:
            return await self._legacy.run()
        if self._calendar is None:
            data = await fetch_calendar(run.policy, run.record.started_at)
            self._run.calendar, self._calendar = data, compiled(data)
        self._outbox.start()  # notices a previous run left undelivered
        self._upsert_memo()
        if await self._loop.run(hand_over=self._should_continue_as_new,
                                drained=lambda: not self._outbox.in_flight and workflow.all_handlers_finished()):
            workflow.continue_as_new(self._run.model_copy(update={
                "pending": self._outbox.pending, "sequence": self._outbox.sequence}))
        await workflow.wait_condition(lambda: not self._outbox.in_flight and not self._outbox.pending
                                      and workflow.all_handlers_finished())
        if workflow.patched(ARCHIVE_ON_FINISH_PATCH):
            await archive_record("outage", self._run.record.outage_id, self._run.record.contract, self._status())
        return self._status()

    # ---- the clock (what ClockLoop drives) ------------------------------------------------------------------
    def evaluate(self, now: datetime) -> InterruptionEvaluation:
        assert self._calendar is not None  # run() fetches it before the clock loop starts
        self._evaluation = evaluate_interruption(self._run.policy, self._run.record, now, self._run.fired,
                                                 calendar=self._calendar)
        return self._evaluation

    def fire(self, due: list[Due], now: datetime) -> None:
        for action in due:
            self._run.fired[action.id] = now
            self._metrics.fired(action.kind.value, contract=self._run.record.contract, severity="",
                                clock=action.clock, level=action.level,
                                breach_class=action.breach_class.value if action.breach_class else None)
            self._outbox.fire(action, now)

    def settle(self) -> None:
        evaluation = self._evaluation
        restored = self._run.record.restored_at is not None
        wanted: dict[Any, object] = {sa.BREACHED: bool(evaluation and evaluation.clock.breached_at),
                  sa.PROVISIONAL: bool(evaluation and evaluation.provisional) and not restored}
        if restored:
            wanted[sa.STATE] = "restored"
        sa.upsert_changed(self._attributes, wanted)

    def finished(self) -> bool:
        return self._run.record.restored_at is not None

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return info.get_current_history_length() >= CONTINUE_AS_NEW_HISTORY or info.is_continue_as_new_suggested()

    # ---- commands -------------------------------------------------------------------------------------------
    @workflow.update
    async def restored(self, command: Restore) -> InterruptionStatus:
        if self._legacy is not None:
            return await self._legacy.restored(command)
        at = command.restored_at or workflow.now()
        self._run.record = self._run.record.model_copy(update={"restored_at": at, "restored_by": command.by})
        self.version += 1
        version = self.version
        self._upsert_memo()
        await workflow.wait_condition(lambda: self._loop.settled(version))
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

    @workflow.update
    async def refresh_calendar(self, update: CalendarUpdate) -> CalendarRefreshed:
        """Take newer calendar data: recorded, the clock recomputed, fired actions stay fired."""
        outage, current = self._run.record.outage_id, self._run.calendar if self._legacy is None else None
        data = update.take(current, outage, self._provisional)
        if isinstance(data, CalendarRefreshed):
            return data
        self._run.calendar, self._calendar = data, compiled(data)
        self._run.calendar_updates.append({"type": "calendar_updated", "at": workflow.now().isoformat(),
                                           "by": update.by, "years": data.known_years()})
        self.version += 1
        version = self.version
        await workflow.wait_condition(lambda: self._loop.settled(version))
        return CalendarRefreshed(id=outage, changed=True, provisional=self._provisional())

    @workflow.query
    def status(self) -> InterruptionStatus:
        return self._legacy.status() if self._legacy is not None else self._status()

    def _provisional(self) -> bool:
        return bool(self._evaluation and self._evaluation.provisional)

    def _status(self) -> InterruptionStatus:
        record, evaluation = self._run.record, self._evaluation
        clock = evaluation.clock if evaluation else None
        failure = self._loop.failure
        return InterruptionStatus(
            outage_id=record.outage_id, contract=record.contract,
            state="restored" if record.restored_at else "ongoing", started_at=record.started_at,
            restored_at=record.restored_at,
            duration_seconds=(record.restored_at - record.started_at).total_seconds() if record.restored_at else None,
            clock=clock, major_breach=bool(clock and clock.breached_at),
            escalations=sorted(k for k in self._run.fired if ":escalate:" in k),
            engine_error=failure.message if failure else None, provisional=self._provisional(),
            undelivered=self._outbox.undelivered(),
        )

    def _upsert_memo(self) -> None:
        workflow.upsert_memo({MEMO_KEY: self._run.record.as_interruption().model_dump(mode="json")})
