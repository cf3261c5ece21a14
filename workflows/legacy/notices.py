"""How plans, reports and interruptions delivered notices before the one outbox: one activity per notice.

Kept for the runs recorded then (see workflows/legacy/__init__.py); its commands must stay as they were.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.notifications import Notice, NotificationActivities
    from sla.deadlines import ActionKind, Due
    from workflows import metrics as m
    from workflows.legacy.complaint import DELIVERY_GIVE_UP_AFTER, DELIVERY_RETRY

Subject = Literal["improvement_plan", "assessment_report", "interruption"]


class NoticeOutbox:
    def __init__(self, *, subject: Subject, subject_id: str, contract: str) -> None:
        self._subject, self._subject_id, self._contract = subject, subject_id, contract
        self._items: list[Notice] = []
        self._metrics = m.WorkflowMetrics()

    @property
    def empty(self) -> bool:
        return not self._items

    def fire(self, due: Due, fired_at: datetime) -> None:
        labels = {"contract": self._contract, "severity": "", "clock": due.clock or ""}
        if due.kind is ActionKind.BREACH:
            assert due.breach_class is not None  # every breach has a class
            self._metrics.count(m.BREACHES, {**labels, "class": due.breach_class.value})
            workflow.logger.warning("breach %s (%s)", due.id, due.breach_class.value)
        elif due.kind is ActionKind.ESCALATE:
            self._metrics.count(m.ESCALATIONS, {**labels, "level": str(due.level)})
        elif due.kind is ActionKind.WARN:
            self._metrics.count(m.WARNINGS, labels)
        if due.kind is ActionKind.CLOSE:
            return
        self._items.append(Notice(
            idempotency_key=f"{workflow.info().workflow_id}/{due.id}", action_id=due.id, kind=due.kind,
            subject=self._subject, subject_id=self._subject_id, contract=self._contract, clock=due.clock,
            level=due.level, to=due.to, breach_class=due.breach_class, deadline=due.deadline, due_at=due.due_at,
            fired_at=fired_at, detail=due.detail,
        ))

    async def run(self) -> None:
        """Deliver forever (cancel the task when done), one at a time, in firing order."""
        while True:
            await workflow.wait_condition(lambda: bool(self._items))
            item = self._items[0]
            try:
                await workflow.execute_activity_method(
                    NotificationActivities.notify_notice, item, start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=DELIVERY_GIVE_UP_AFTER, retry_policy=DELIVERY_RETRY,
                )
            except ActivityError as err:
                labels = {"contract": self._contract, "severity": "", "clock": item.clock or ""}
                self._metrics.count(m.NOTIFICATION_FAILURES, labels)
                if item.kind is ActionKind.ESCALATE:
                    self._metrics.count(m.ESCALATION_FAILURES, {**labels, "level": str(item.level)})
                workflow.logger.warning("gave up delivering %s: %s", item.action_id, err)
            self._items.pop(0)
