"""The one delivery outbox of every clock workflow: notices fired once, delivered in order, never silently lost.

The loop that fires an action records its id before anything is delivered, so a replay or a retried delivery
never fires it twice. Pending notices go out in batches through one activity (`cxsla.deliver`), in firing order;
one that fails stays pending with its last error and is tried again with a capped backoff, for as long as the
workflow lives: breaches, escalations, customer notices and surveys are never given up, a warning is given up once
its moment has clearly passed. The pending list (with attempts and errors) is what `show` lists as undelivered,
and it is carried through continue-as-new.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.clock_loop import WakeTimer, backoff

with workflow.unsafe.imports_passed_through():
    from activities.notifications import (
        DeliveryBatch,
        DeliveryReport,
        Notice,
        NotificationActivities,
        Pending,
        Subject,
        Undelivered,
    )
    from sla.deadlines import ActionKind, Due
    from sla.policy import ReportTo
    from workflows import metrics as m

# Inside one attempt Temporal retries the activity quickly; after that the workflow keeps the notice and retries
# it on its own clock, which shows the error in `show` and keeps the history small during a long outage.
ATTEMPT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
ATTEMPT_TIMEOUT = timedelta(minutes=3)
FIRST_REDELIVERY = timedelta(seconds=30)
LAST_REDELIVERY = timedelta(minutes=10)
WARNING_GIVE_UP_AFTER = timedelta(hours=12)
BATCH = 20


def idempotency_key(action_id: str) -> str:
    """`<workflow id>/<first run id>/<action id>`: stable across retries and continue-as-new, new for a workflow id
    used again (a second plan for the same KPI, a complaint id reused after retention)."""
    info = workflow.info()
    return f"{info.workflow_id}/{info.first_execution_run_id}/{action_id}"


class Outbox:
    def __init__(self, *, subject: Subject, subject_id: str, contract: str, metrics: m.WorkflowMetrics,
                 pending: list[Pending] | None = None, sequence: int = 0,
                 on_delivered: Callable[[Notice, str], None] | None = None,
                 on_settled: Callable[[], None] | None = None,
                 wanted: Callable[[Notice], bool] | None = None) -> None:
        self._subject, self._subject_id, self._contract = subject, subject_id, contract
        self._metrics = metrics
        self.pending: list[Pending] = list(pending or [])
        self.sequence = sequence
        self._on_delivered = on_delivered
        self._on_settled = on_settled  # after each batch's outcome is known (what is undelivered may have changed)
        self._wanted = wanted  # False for a notice that no longer applies (a survey for a reopened resolution)
        self._timer = WakeTimer()
        self._in_flight = False
        self._on_its_way: set[str] = set()  # action ids of the batch being delivered
        self._task: asyncio.Task | None = None

    @property
    def empty(self) -> bool:
        return not self.pending and not self._in_flight

    @property
    def in_flight(self) -> bool:
        return self._in_flight

    def fire(self, due: Due, fired_at: datetime, *, severity: str | None = None, assignee: str | None = None,
             group: str | None = None, report_to: ReportTo | None = None) -> Notice:
        self.sequence += 1
        notice = Notice(
            idempotency_key=idempotency_key(due.id), action_id=due.id, kind=due.kind, subject=self._subject,
            subject_id=self._subject_id, complaint_id=self._subject_id if self._subject == "complaint" else None,
            contract=self._contract, severity=severity, clock=due.clock, level=due.level, to=due.to,
            breach_class=due.breach_class, deadline=due.deadline, due_at=due.due_at, fired_at=fired_at,
            detail=due.detail, sequence=self.sequence, assignee=assignee, group=group, report_to=report_to,
        )
        self.pending.append(Pending(notice=notice))
        self.start()
        return notice

    def undelivered(self) -> list[Undelivered]:
        """Notices that failed at least once and are still pending (the rest are simply on their way)."""
        return [Undelivered(action_id=p.notice.action_id, kind=p.notice.kind, clock=p.notice.clock,
                            fired_at=p.notice.fired_at, attempts=p.attempts, last_error=p.last_error)
                for p in self.pending if p.attempts]

    def oldest_undelivered(self) -> datetime | None:
        failed = [p.notice.fired_at for p in self.pending if p.attempts]
        return min(failed) if failed else None

    def prune(self) -> list[Notice]:
        """Take back pending notices that no longer apply. One already on its way is left to arrive (what it reports
        then is recorded as a stale fact); if it fails, the next batch takes it back."""
        if self._wanted is None:
            return []
        dropped = [p for p in self.pending if p.notice.action_id not in self._on_its_way and not self._wanted(p.notice)]
        for item in dropped:
            self.pending.remove(item)
            workflow.logger.info("%s withdrawn: it no longer applies", item.notice.action_id)
        return [p.notice for p in dropped]

    def _ready(self) -> list[Pending]:
        self.prune()
        now = workflow.now()
        return [p for p in self.pending if p.retry_at is None or p.retry_at <= now][:BATCH]

    def start(self) -> None:
        """Make sure something delivers the pending notices. The delivering task ends when nothing is pending, so an
        idle workflow (the common case while a complaint waits for its next deadline) keeps no task for it."""
        if self.pending and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._deliver())

    async def _deliver(self) -> None:
        while self.pending:
            batch = self._ready()
            if not batch:
                retries = [p.retry_at for p in self.pending if p.retry_at is not None]
                self._timer.aim(min(retries) if retries else None, "redeliver undelivered notices")
                count = len(self.pending)

                def woken(count: int = count) -> bool:
                    return self._timer.rang or len(self.pending) != count
                await workflow.wait_condition(woken)
                continue
            self._in_flight = True
            self._on_its_way = {p.notice.action_id for p in batch}
            try:
                report = await workflow.execute_activity_method(
                    NotificationActivities.deliver, DeliveryBatch(notices=[p.notice for p in batch]),
                    start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=ATTEMPT_TIMEOUT,
                    retry_policy=ATTEMPT_RETRY, summary=", ".join(p.notice.action_id for p in batch)[:200],
                )
            except ActivityError as err:
                cause = err.cause
                message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
                report = DeliveryReport(failed={p.notice.action_id: message[:500] for p in batch})
            finally:
                self._in_flight = False
                self._on_its_way = set()
            self._settle(batch, report)

    def _settle(self, batch: list[Pending], report: DeliveryReport) -> None:
        now = workflow.now()
        for item in batch:
            action_id = item.notice.action_id
            if action_id in report.delivered:
                self.pending.remove(item)
                if self._on_delivered is not None:
                    self._on_delivered(item.notice, report.delivered[action_id])
                continue
            item.attempts += 1
            item.last_error = report.failed.get(action_id, "not delivered")
            labels = {"contract": self._contract, "what": "delivery"}
            self._metrics.count(m.RETRIES, labels)
            if item.notice.kind is ActionKind.WARN and now - item.notice.fired_at > WARNING_GIVE_UP_AFTER:
                self.pending.remove(item)  # a warning this late says nothing the breach will not say
                self._metrics.count(m.NOTIFICATION_FAILURES, {"contract": self._contract,
                                                              "severity": item.notice.severity or "",
                                                              "clock": item.notice.clock or ""})
                workflow.logger.warning("gave up delivering warning %s: %s", action_id, item.last_error)
                continue
            item.retry_at = now + backoff(item.attempts, FIRST_REDELIVERY, LAST_REDELIVERY)
            workflow.logger.warning("could not deliver %s (attempt %d): %s", action_id, item.attempts,
                                    item.last_error)
        if self._on_settled is not None:
            self._on_settled()
