"""Benchmark: an assessment cycle over 10,000 and 100,000 closed complaints on a dev server.

For each size, one dev server (its own, started here, SQLite on disk) holds that many closed complaints of one
past month, imported with their own history (ComplaintClient.import_history: the same workflows, memos and archive
records a live desk leaves behind; the archive is a SQLite file of its own next to the server's). Then, in the same
run and on the same server, two measurements:

  (a) baseline: list the month's complaints through visibility and decode every memo — the listing a cycle did
      before the archive, and nothing else (run before and after (b); their mean is the baseline);
  (b) the cycle: AssessmentCycleWorkflow for that month, end to end (SQL aggregates over the archive + the
      month's still-running complaints from visibility + KPI fold + plans + report).

`--fill archive` writes the sizes' complaints straight into the archive (the same histories, evaluated here) and
imports nothing into Temporal: it measures the cycle over an archive of that size in minutes instead of the hour
an import of 100,000 takes; there is then no listing to compare with (visibility holds nothing).

Reported: seconds and complaints per second of each, the cycle's collection time as recorded by its activity,
and the process's peak RSS above its level before the phase (the worker and its activity run in this process;
sampled every 20 ms from /proc). Nothing asserts a time; figures go to stdout and bench/results/cycle.json.

Imports run 48 at a time, each lane waiting for its complaint to complete, on a worker outside the sandbox and a
server whose SQLite skips fsync: on 2 cores about 28 a second, so 10,000 take ~6 minutes and 100,000 an hour.
Measured 2026-12-03 (2 cores, SQLite in /dev/shm): 10,000 -> listing 13.0 s, cycle 12.0 s (0.93x); 100,000 ->
listing 213 s, cycle 227 s (1.06x), peak RSS above start 24.9 MB listing, 0.7 MB cycle, 3.6 GB of SQLite.
The listing itself slows per complaint as the server's visibility table grows (772/s at 10k, 469/s at 100k).

    python -m bench.cycle                 # 10,000 and 100,000
    python -m bench.cycle --sizes 2000    # quick look
    python -m bench.cycle --db-dir /dev/shm   # server file in tmpfs when the disk is slow (3 GB or more at 100k)
    python -m bench.cycle --sizes 10000 100000 --fill archive   # the cycle over archives of these sizes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.archive_store import ArchiveStore
from activities.assessment import VisibilitySource
from bench.sinks import NullSink
from plugin import CxSlaPlugin
from sla import events as ev
from sla.archive import ArchiveComplaint
from sla.calendar import compiled
from sla.engine import evaluate
from sla.names import complaints_query
from sla.official_calendar import resolve
from sla.outcomes import outcome_of
from sla.policy import ContractPolicy, load_policy
from sla.reporting import CycleResult, cycle_workflow_id
from sla.status import build_status
from sla.vocabulary import Severity
from starter.client.assessment import AssessmentClient
from starter.client.complaints import ComplaintClient, workflow_id
from starter.client.errors import CxSlaError
from starter.service.binaries import temporal_cli
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cycle.json"
CONTRACT = "always-on"
MONTH = datetime(2026, 6, 1, tzinfo=timezone.utc)
PERIOD = "2026-06"
H = timedelta(hours=1)
# The bench's server needs no crash safety: a write-ahead log without fsync took its CPU per imported complaint
# from 34 to 27 ms (1,000 imports), for the listing and the cycle alike.
PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"]


STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:7.0f} s] {message}", file=sys.stderr, flush=True)


def history(i: int) -> list[ev._Event]:
    """A varied closed complaint: acknowledged in 1-3 h, resolved in 1-6 days, some at first contact, feedback."""
    received = MONTH + timedelta(minutes=(i * 37) % (29 * 24 * 60))
    severity = list(Severity)[i % 4]
    ack = received + H * (1 + i % 3)
    resolved = received + timedelta(days=1 + i % 6)
    return [
        ev.Received(at=received, complaint_id=f"bench-{i:06d}", contract=CONTRACT, severity=severity, channel="web"),
        ev.Acknowledged(at=ack),
        ev.Triaged(at=ack + H),
        ev.Resolved(at=resolved, resolution="fixed", first_contact=i % 3 == 0, handling_seconds=300 + i % 900),
        ev.ResultNotified(at=resolved + H),
        ev.FeedbackRecorded(at=resolved + 2 * H, csat=1 + i % 5, nps=i % 11),
    ]


class PeakRss:
    """Peak resident memory of this process above its level at start, sampled from /proc/self/statm."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self.start = self.peak = self._rss()

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def __enter__(self) -> PeakRss:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def above_start_mb(self) -> float:
        return round((self.peak - self.start) / 2**20, 1)


async def import_all(complaints: ComplaintClient, n: int, concurrency: int = 48) -> float:
    """Import n complaints, each lane waiting for its complaint to complete before importing the next.

    Bounded in flight on purpose: started all at once, 100,000 imports queued that many first workflow tasks,
    the worker took over 5 s to pick each one up (timeouts, retries) and the server spent its core on a huge
    task backlog; completions fell to 15-17 a second.
    """
    started = time.perf_counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def lane() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            for attempt in range(6):  # a loaded dev server sometimes refuses a start; the import is idempotent
                try:
                    await complaints.import_history(history(i), wait=False)
                    break
                except CxSlaError as exc:
                    if attempt == 5:
                        raise
                    log(f"  import {i} refused ({exc}); retrying")
                    await asyncio.sleep(1 + attempt)
            await complaints.client.get_workflow_handle(workflow_id(f"bench-{i:06d}")).result()
            if i and i % 5000 == 0:
                log(f"  imported {i} ({i / (time.perf_counter() - started):.0f}/s)")

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - started


async def wait_listed(env: WorkflowEnvironment, query: str, n: int) -> float:
    """Until the worker has completed every imported complaint and visibility lists them; returns seconds."""
    started = time.perf_counter()
    deadline = started + 600 + n / 5  # the worker completes imports at tens per second on 2 cores
    last_log = started
    while True:
        done = (await env.client.count_workflows(f"{query} AND ExecutionStatus = 'Completed'")).count
        if done >= n:
            return time.perf_counter() - started
        if time.perf_counter() > deadline:
            raise RuntimeError(f"visibility lists {done} of {n} imported complaints as completed")
        if time.perf_counter() - last_log > 60:
            log(f"  {done} of {n} completed")
            last_log = time.perf_counter()
        # A count scans the SQLite visibility table (0.7 s at 100,000 rows): counted every second, the server
        # spent a large share of its one busy core answering the bench instead of completing imports.
        await asyncio.sleep(1.0 if n - done < 2_000 else 15.0)


async def listing(env: WorkflowEnvironment, query: str, n: int) -> tuple[float, PeakRss]:
    """The baseline: page through the period's complaints and decode every memo, nothing else."""
    with PeakRss() as rss:
        started = time.perf_counter()
        listed = 0
        async for page in VisibilitySource(env.client).pages(query):
            listed += len(page)
        seconds = time.perf_counter() - started
    assert listed == n, listed
    return seconds, rss


def fill_archive(store: ArchiveStore, n: int, policy: ContractPolicy) -> float:
    """The n complaints' archive records as their workflows would write them (evaluated here), in batches."""
    started = time.perf_counter()
    calendar = compiled(resolve(policy.calendar_name, policy.calendar, range(MONTH.year - 1, MONTH.year + 2)))
    now = MONTH + timedelta(days=60)
    batch: list[ArchiveComplaint] = []
    for i in range(n):
        events = history(i)
        evaluation = evaluate(policy, events, now, {}, calendar=calendar)
        status = build_status(complaint_id=f"bench-{i:06d}", contract=CONTRACT, policy_version=policy.version,
                              events=events, evaluation=evaluation)
        batch.append(ArchiveComplaint(
            complaint_id=f"bench-{i:06d}", workflow_id=workflow_id(f"bench-{i:06d}"), first_run_id=f"run-{i}",
            run_id=f"run-{i}", archived_at=events[-1].at, events=events, status=status,
            outcome=outcome_of(events, evaluation)))
        if len(batch) == 2_000 or i == n - 1:
            store.save_complaints(batch)
            batch = []
            if i and (i + 1) % 20_000 == 0:
                log(f"  archived {i + 1} ({(i + 1) / (time.perf_counter() - started):.0f}/s)")
    return time.perf_counter() - started


async def one_size(n: int, db_dir: str | None, fill: str = "import") -> dict:
    log(f"size {n}: starting a dev server")
    # A file, not the server's in-memory SQLite: 100,000 closed workflows outgrew that at 24 GB. On a slow disk
    # the server waits on fsync (imports fell from 88/s to 17/s); --db-dir /dev/shm keeps the file in tmpfs.
    folder = tempfile.mkdtemp(prefix="cxsla-bench-", dir=db_dir)
    archive = ArchiveStore(f"sqlite:///{folder}/archive.sqlite")
    archive.migrate()
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(),
        plugins=[CxSlaPlugin()], search_attributes=list(sa.ALL),
        dev_server_log_level="error", dev_server_extra_args=["--db-filename", f"{folder}/temporal.db", *PRAGMAS],
    )
    queue = f"bench-cycle-{uuid.uuid4().hex[:8]}"

    def worker(**options) -> Worker:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The same plugin type", UserWarning)
            return Worker(env.client, task_queue=queue, plugins=[CxSlaPlugin(
                sink=NullSink(), report_dir=str(ROOT / "bench" / "results" / "reports"), archive=archive)],
                max_concurrent_activities=200, **options)

    try:
        complaints = ComplaintClient(env.client, task_queue=queue, policy=load_policy())
        query = complaints_query(CONTRACT, MONTH, MONTH + timedelta(days=30))
        # Setup, not measured: the same workflow code completes the imports outside the sandbox, whose
        # per-run module isolation cost the bench process more CPU than the server spent on each complaint.
        if fill == "archive":
            import_seconds, drain_seconds = await asyncio.to_thread(fill_archive, archive, n,
                                                                    complaints.policy.contract(CONTRACT)), 0.0
            log(f"size {n}: archived directly in {import_seconds:.1f} s")
        else:
            async with worker(workflow_runner=UnsandboxedWorkflowRunner()):
                import_seconds = await import_all(complaints, n)
                log(f"size {n}: imported in {import_seconds:.1f} s")
                drain_seconds = await wait_listed(env, query, n)
        async with worker():
            log(f"size {n}: all completed and listed after another {drain_seconds:.0f} s")
            baseline_seconds = again_seconds = 0.0
            baseline_rss = again_rss = None
            if fill == "import":
                baseline_seconds, baseline_rss = await listing(env, query, n)
                log(f"size {n}: baseline listing {baseline_seconds:.1f} s")

            cycles = AssessmentClient.of(complaints)
            with PeakRss() as cycle_rss:
                started = time.perf_counter()
                await cycles.start_cycle(CONTRACT, PERIOD)
                result: CycleResult = await env.client.get_workflow_handle(
                    cycle_workflow_id(CONTRACT, PERIOD), result_type=CycleResult).result()
                cycle_seconds = time.perf_counter() - started
            assert result.assessment.complaints == n, result.assessment.complaints
            log(f"size {n}: cycle {cycle_seconds:.1f} s")
            if fill == "import":
                # the baseline again after the cycle: the first listing may have warmed the server for the second
                again_seconds, again_rss = await listing(env, query, n)
                log(f"size {n}: baseline listing again {again_seconds:.1f} s")
            history_events = len([e async for e in env.client.get_workflow_handle(
                cycle_workflow_id(CONTRACT, PERIOD)).fetch_history_events()])
        db_bytes = sum(p.stat().st_size for p in Path(folder).iterdir() if not p.name.startswith("archive"))
        archive_bytes = sum(p.stat().st_size for p in Path(folder).glob("archive.sqlite*"))
    finally:
        archive.dispose()
        await env.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    listed = baseline_seconds + again_seconds
    return {
        "complaints": n,
        "fill": fill,
        "import": {"seconds": round(import_seconds, 1), "per_second": round(n / import_seconds, 1),
                   "completed_after_seconds": round(import_seconds + drain_seconds)},
        "server_db_mb": round(db_bytes / 2**20),
        "archive_db_mb": round(archive_bytes / 2**20),
        "baseline_listing": None if baseline_rss is None or again_rss is None else {
            "seconds": round(listed / 2, 2), "runs_seconds": [round(baseline_seconds, 2), round(again_seconds, 2)],
            "per_second": round(2 * n / listed),
            "peak_rss_above_start_mb": max(baseline_rss.above_start_mb, again_rss.above_start_mb)},
        "cycle": {"seconds": round(cycle_seconds, 2), "per_second": round(n / cycle_seconds),
                  "peak_rss_above_start_mb": cycle_rss.above_start_mb, "history_events": history_events,
                  "kpis": {k.name.value: k.value for k in result.assessment.kpis if k.value is not None}},
        "cycle_over_baseline": round(2 * cycle_seconds / listed, 2) if listed else None,
    }


def report(results: dict) -> str:
    lines = [f"cx-sla cycle benchmark ({results['environment']['cpus']} CPUs, temporalio "
             f"{results['environment']['temporalio']})", "",
             f"{'complaints':>12}{'fill':>9}{'fill/s':>8}{'listing s':>11}{'cycle s':>9}{'cycle/listing':>15}"
             f"{'listing MB':>12}{'cycle MB':>10}{'events':>8}"]
    for r in results["sizes"]:
        listing_ = r["baseline_listing"] or {"seconds": "-", "peak_rss_above_start_mb": "-"}
        lines.append(f"{r['complaints']:>12,}{r['fill']:>9}{r['import']['per_second']:>8}{listing_['seconds']:>11}"
                     f"{r['cycle']['seconds']:>9}{r['cycle_over_baseline'] or '-':>15}"
                     f"{listing_['peak_rss_above_start_mb']:>12}"
                     f"{r['cycle']['peak_rss_above_start_mb']:>10}{r['cycle']['history_events']:>8}")
    lines.append("")
    lines.append("MB: peak RSS of the bench process (worker + activity) above its level before the phase.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    sys.dont_write_bytecode = False  # the sandbox re-imports workflow modules: let them be cached (see lifecycle)
    parser = argparse.ArgumentParser(prog="python -m bench.cycle", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--db-dir", help="where the dev server keeps its SQLite file (default: the temp dir)")
    parser.add_argument("--fill", choices=["import", "archive"], default="import",
                        help="import through Temporal (default), or write the archive directly (no listing)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "temporalio": metadata.version("temporalio")},
        "db_dir": args.db_dir or tempfile.gettempdir(),
        "sizes": [],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        results["sizes"].append(asyncio.run(one_size(n, args.db_dir, args.fill)))
        RESULTS.write_text(json.dumps(results, indent=2))  # after each size: a long run keeps what it measured
    print(report(results))


if __name__ == "__main__":
    main()
