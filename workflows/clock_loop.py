"""The one loop every clock workflow runs: evaluate, fire what is due, sleep until the next due instant.

Complaints, improvement plans, a cycle's report and outages all ask a pure evaluator (in `sla/`, run right here in
workflow code on the data the workflow carries) what is due now and when the next thing falls due; due actions
fire once by id; then one durable timer sleeps until that instant or until a command changes what the evaluator
sees. The timer is kept while the instant stays the same and restarted only when it moves (the samples'
`UpdatableTimer`). An evaluation that fails never fails the workflow task: the loop keeps the last good answer,
shows the reason, counts it, and tries again with a capped backoff (sooner when a command or a calendar refresh
arrives).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sla.deadlines import Due
    from workflows import metrics as m

FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=1)


def backoff(failures: int, first: timedelta = FIRST_RETRY, cap: timedelta = LAST_RETRY) -> timedelta:
    """first, 2x first, 4x first, ... capped (failures counts from 1)."""
    return min(first * (2 ** min(max(failures - 1, 0), 20)), cap)


class WakeTimer:
    """One durable timer aimed at an instant.

    Aimed at the same instant again, it is kept. Aimed later, it is kept too (`keep_earlier`): it wakes the
    workflow early, which re-aims it then. A command usually moves a complaint's next due instant later (its
    acknowledgment met, the next clock's warning is further off), and several commands often come within the
    hour; keeping the timer costs one early wake-up instead of a cancel and a new timer at every command. Aimed
    earlier, it is replaced.
    """

    def __init__(self, *, keep_earlier: bool = False) -> None:
        self._at: datetime | None = None
        self._task: asyncio.Task | None = None
        self._keep_earlier = keep_earlier

    def aim(self, at: datetime | None, summary: str) -> None:
        if self._task is not None and self._task.done():
            self._task, self._at = None, None
        if at == self._at:
            return
        if self._keep_earlier and self._task is not None and (at is None or (self._at is not None and self._at < at)):
            return  # the running timer fires first; the workflow aims again when it does
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._at = at
        if at is not None:
            delay = max(at - workflow.now(), timedelta(milliseconds=1))
            self._task = asyncio.create_task(workflow.sleep(delay, summary=summary))

    @property
    def rang(self) -> bool:
        return self._task is not None and self._task.done()

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task, self._at = None, None


class Answer(Protocol):
    """What an evaluator answers (complaint, plan and outage evaluations all have these)."""

    due: list[Due]
    next_due_at: datetime | None


A = TypeVar("A", bound=Answer, covariant=True)  # a clock only produces answers


class Clock(Protocol[A]):
    """The workflow side of the loop."""

    version: int  # bumped by every command, signal or refresh that changes what `evaluate` sees

    def evaluate(self, now: datetime) -> A: ...

    def fire(self, due: list[Due], now: datetime) -> None: ...

    def settle(self) -> None: ...  # nothing is due: publish search attributes and memo

    def finished(self) -> bool: ...


@dataclass
class Failure:
    message: str
    since: datetime
    attempts: int
    retry_at: datetime


class ClockLoop(Generic[A]):
    """Drives one `Clock`; `what` names it in timer summaries, logs and the retry metric."""

    def __init__(self, clock: Clock[A], *, what: str, contract: str, metrics: m.WorkflowMetrics) -> None:
        self._clock = clock
        self._what = what
        self._contract = contract
        self._metrics = metrics
        self._timer = WakeTimer(keep_earlier=True)
        self.answer: A | None = None
        self.failure: Failure | None = None
        self.evaluated_version = -1

    # ---- one step ---------------------------------------------------------------------------------------------
    def evaluate(self) -> None:
        version = self._clock.version
        now = workflow.now()
        try:
            self.answer = self._clock.evaluate(now)
        except Exception as exc:  # noqa: BLE001 - pure code failing must never fail the workflow task
            attempts = self.failure.attempts + 1 if self.failure else 1
            message = f"{type(exc).__name__}: {exc}"[:500]
            self.failure = Failure(message=message, since=self.failure.since if self.failure else now,
                                   attempts=attempts, retry_at=now + backoff(attempts))
            self._metrics.count(m.RETRIES, {"contract": self._contract, "what": self._what})
            workflow.logger.error("%s evaluation failed (attempt %d): %s", self._what, attempts, message)
        else:
            self.failure = None
        self.evaluated_version = version

    @property
    def due(self) -> list[Due]:
        if self.failure is not None or self.answer is None:
            return []
        return self.answer.due

    def settled(self, version: int) -> bool:
        """Has the loop evaluated everything up to `version` and fired what that made due?"""
        return self.evaluated_version >= version and not self.due

    # ---- the loop ---------------------------------------------------------------------------------------------
    async def run(self, *, hand_over: Callable[[], bool] | None = None, drained: Callable[[], bool] | None = None
                  ) -> bool:
        """Until the clock is finished (False), or until `hand_over()` asks for continue-as-new and the workflow
        is `drained()` at a quiet point (True)."""
        while True:
            self.evaluate()
            if self.due:
                self._clock.fire(self.due, workflow.now())
                continue  # evaluate again, so what just fired shows
            self._clock.settle()
            if self._clock.finished():
                return False  # a timer still set is dropped with the run: cancelling it would be one more event
            if hand_over is not None and hand_over():
                ready = drained or (lambda: True)
                if await self.sleep(until=ready) and ready() and self._clock.version == self.evaluated_version:
                    return True
                continue  # a command or a due instant came first: handle it, then try again
            await self.sleep()

    async def sleep(self, *, until: Callable[[], bool] | None = None) -> bool:
        """Until the next due instant (or retry), a change of version, or `until()`; True when `until` woke it."""
        if self.failure is not None:
            at, summary = self.failure.retry_at, f"retry {self._what} evaluation ({self.failure.message[:60]})"
        elif self.answer is not None and self.answer.next_due_at is not None:
            at = self.answer.next_due_at
            summary = f"{getattr(self.answer, 'next_action', None) or self._what} at {at.isoformat()}"
        else:
            at, summary = None, "next command"
        self._timer.aim(at, summary)
        extra = until or (lambda: False)
        await workflow.wait_condition(
            lambda: self._timer.rang or self._clock.version != self.evaluated_version or extra())
        return not self._timer.rang and self._clock.version == self.evaluated_version and extra()
