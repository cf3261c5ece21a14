"""What waking an evicted complaint costs: the CPU to replay its history, by history length.

    python -m bench.wakeup                 # complaints with 10, 50, 100, 200 progress posts
    python -m bench.wakeup --posts 400

A worker that no longer holds a complaint in its cache rebuilds it from history when its next task arrives (a
timer, a command): it replays every past task, and with the engine in workflow code every past evaluation runs
again. This measures that replay for complaints of growing length, recorded on a time-skipping server (each
progress post a command a few minutes after the previous one, with the notices it fires), and as the baseline
the replay of a minimal workflow's history of the same number of updates (bench.baseline). The complaint
continues as new once its history reaches workflows.complaint.CONTINUE_AS_NEW_HISTORY events, which bounds the
replay; figures are per run (the last run of each complaint). Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

import plugin
from bench.sinks import NullSink
from sla import commands as cmd
from sla.commands import OpenComplaint
from starter.client.complaints import ComplaintClient, workflow_id
from tests.helpers.temporal import cxsla_worker
from tests.histories.record import CONTRACT, run_histories, settle, test_policy, time_skipping_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "wakeup.json"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def complaint_history(env, client: ComplaintClient, posts: int) -> tuple[WorkflowHistory, int]:
    cid = f"wake-{posts}"
    await client.open(OpenComplaint(id=cid, contract=CONTRACT, severity="low"))
    await client.command(cid, "acknowledge", cmd.Acknowledge(by="amy"))
    await client.command(cid, "triage", cmd.Triage(by="amy"))
    for n in range(posts):
        await env.sleep(timedelta(seconds=12))  # the progress clock's 50 % warning (10 s) fires between posts
        await settle(env, cid)
        await client.command(cid, "post_progress", cmd.PostProgress(by="amy", note=f"update {n}"))
    histories = await run_histories(client.client, workflow_id(cid))
    return histories[-1], len(histories)


@workflow.defn(name="BenchCountingUpdates", sandboxed=False)
class CountingWorkflow:
    """The baseline: takes any number of no-op updates (like bench.baseline's, outside the sandbox like
    cx-sla's workflows), so its replay is the cost of the same history shape without any clock logic."""

    def __init__(self) -> None:
        self._steps = 0

    @workflow.run
    async def run(self, name: str) -> int:
        await workflow.wait_condition(lambda: self._steps < 0)
        return self._steps

    @workflow.update
    async def step(self, payload: dict) -> int:
        self._steps += 1
        return self._steps


async def baseline_history(env, queue: str, updates: int) -> WorkflowHistory:
    handle = await env.client.start_workflow(CountingWorkflow.run, "b", id=f"wake-base-{updates}", task_queue=queue)
    for n in range(updates):
        await handle.execute_update(CountingWorkflow.step, {"n": n})
    history = await handle.fetch_history()
    await handle.terminate("measured")
    return history


async def run(post_counts: list[int], dump: Path | None = None) -> dict:
    out: dict[str, list] = {"runs": []}
    async with time_skipping_server() as env:
        from temporalio.worker import Worker

        async with cxsla_worker(env.client, sink=NullSink()) as queue:
            client = ComplaintClient(env.client, task_queue=queue, policy=test_policy())
            base_queue = f"{queue}-base"
            async with Worker(env.client, task_queue=base_queue, workflows=[CountingWorkflow]):
                for posts in post_counts:
                    history, runs = await complaint_history(env, client, posts)
                    if dump is not None:
                        (dump / f"wake-{posts}.json").write_text(history.to_json())
                    base = await baseline_history(env, base_queue, len([
                        e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")
                    ]))
                    complaint_s = await _median_replay(history, plugin.WORKFLOWS)
                    base_s = await _median_replay(base, [CountingWorkflow])
                    row = {"progress_posts": posts, "runs": runs, "events_last_run": len(history.events),
                           "replay_cpu_ms": round(complaint_s * 1000, 2),
                           "baseline_events": len(base.events), "baseline_replay_cpu_ms": round(base_s * 1000, 2)}
                    print(f"[bench] {row}", file=sys.stderr, flush=True)
                    out["runs"].append(row)
    return out


async def _median_replay(history: WorkflowHistory, workflows: list[type], repeat: int = 20) -> float:
    """CPU seconds of one replay: the same history replayed `repeat` times by one replayer (its own start-up, a
    worker's, is not a wake-up's cost), this process's CPU (Python and the SDK core's threads) divided."""
    replayer = Replayer(workflows=workflows, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)  # warm: imports, converters
    async def histories():
        for _ in range(repeat):
            yield history

    started = cpu()
    results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
    spent = cpu() - started
    failures = [f for f in results.replay_failures.values() if f is not None]
    if failures:
        raise RuntimeError(failures[0])
    return spent / repeat


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wakeup", description=__doc__.splitlines()[0])
    parser.add_argument("--posts", default="10,50,100,200", help="progress posts per complaint, comma-separated")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sys.dont_write_bytecode = False
    results = asyncio.run(run([int(p) for p in args.posts.split(",")]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'posts':>6}{'runs':>6}{'events':>8}{'replay ms':>11}{'baseline events':>17}{'baseline ms':>13}")
    for r in results["runs"]:
        print(f"{r['progress_posts']:>6}{r['runs']:>6}{r['events_last_run']:>8}{r['replay_cpu_ms']:>11}"
              f"{r['baseline_events']:>17}{r['baseline_replay_cpu_ms']:>13}")


if __name__ == "__main__":
    main()
