"""The benchmark's baseline: the cheapest workflow that has the complaint lifecycle's shape.

Same seven update names as the happy path of ComplaintWorkflow, each a no-op returning a small int, one query
(the facade's `open` queries `status`), and completion after the last update. No timers, no activities, no
search attributes: whatever ComplaintWorkflow costs above this is the price of its own logic.

It lives in its own module with nothing but `temporalio` imported, because the workflow sandbox re-imports a
workflow's module for every run; importing the benchmark driver here would inflate the baseline.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

STEPS = ("acknowledge", "triage", "communicate_plan", "post_progress", "resolve", "notify_result", "record_feedback")


@workflow.defn(name="BenchBaseline")
class BaselineWorkflow:
    def __init__(self) -> None:
        self._done = 0

    @workflow.run
    async def run(self, case_id: str) -> int:
        await workflow.wait_condition(lambda: self._done >= len(STEPS))
        return self._done

    @workflow.query
    def status(self) -> int:
        return self._done

    def _step(self) -> int:
        self._done += 1
        return self._done

    @workflow.update
    async def acknowledge(self, command: dict[str, Any]) -> int:
        return self._step()

    @workflow.update
    async def triage(self, command: dict[str, Any]) -> int:
        return self._step()

    @workflow.update
    async def communicate_plan(self, command: dict[str, Any]) -> int:
        return self._step()

    @workflow.update
    async def post_progress(self, command: dict[str, Any]) -> int:
        return self._step()

    @workflow.update
    async def resolve(self, command: dict[str, Any]) -> int:
        return self._step()

    @workflow.update
    async def notify_result(self, command: dict[str, Any]) -> int:
        return self._step()

    @workflow.update
    async def record_feedback(self, command: dict[str, Any]) -> int:
        return self._step()
