"""The breach-latency baseline: a bare timer workflow that posts one notice when its timer fires.

    python -m bench.timer_worker --address HOST:PORT --task-queue Q --webhook URL

It sleeps until its deadline and then delivers one `Notice` through the same `WebhookSink` the cx-sla worker uses,
from a worker with the same capacity settings (CXSLA_WORKER_*), so the difference between the two runs of
bench.breach_latency is what a complaint costs above a timer and a POST. Runs until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.notifications import WebhookSink
    from sla.deadlines import ActionKind
    from sla.notices import Notice


class TimerJob(BaseModel):
    id: str
    deadline: datetime


class TimerFired(BaseModel):
    id: str
    deadline: datetime
    fired_at: datetime


@workflow.defn(name="BenchBareTimer")
class BareTimerWorkflow:
    @workflow.run
    async def run(self, job: TimerJob) -> None:
        delay = job.deadline - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay)
        fired = TimerFired(id=job.id, deadline=job.deadline, fired_at=workflow.now())
        await workflow.execute_activity("bench.post_timer", fired, start_to_close_timeout=timedelta(seconds=30))


class Poster:
    def __init__(self, url: str) -> None:
        self._sink = WebhookSink(url, None)

    @activity.defn(name="bench.post_timer")
    async def post(self, fired: TimerFired) -> None:
        await self._sink.deliver(Notice(
            idempotency_key=f"timer-{fired.id}", action_id="timer#1:breach", kind=ActionKind.BREACH,
            subject="complaint", subject_id=fired.id, contract="timer", clock="timer", deadline=fired.deadline,
            due_at=fired.deadline, fired_at=fired.fired_at))


async def serve(args: argparse.Namespace) -> None:
    from starter.service.settings import Settings
    from starter.service.worker_runtime import cache_bytecode, worker_options

    cache_bytecode()
    client = await Client.connect(args.address, data_converter=pydantic_data_converter)
    poster = Poster(args.webhook)
    options = worker_options(Settings())
    async with Worker(client, task_queue=args.task_queue, workflows=[BareTimerWorkflow], activities=[poster.post],
                      **options):
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--webhook", required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
