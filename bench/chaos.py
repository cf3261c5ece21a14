"""Chaos: complaints live whole lifecycles while the worker is SIGKILLed and the server restarted; nothing is lost.

    python -m bench.chaos                                  # the documented run: 1,000 complaints
    python -m bench.chaos --complaints 200 --unit 0.5      # a quicker look
    tests/system/test_chaos.py                                    # 30 complaints, one kill, one server restart

One dev server (the venv's `temporal` binary, state in a SQLite file in a temp dir so a restart keeps it), one
cx-sla worker as a separate process (`python worker.py`, CXSLA_WEBHOOK_URL pointing at a receiver in this process),
and a policy with one contract, `chaos`, whose clocks run in seconds (acknowledge 20 s, resolve 150 s, survey window
30 s, escalation at +0 s and +10 s, all times `--unit` x these).

Each complaint follows a random script: acknowledged in time, late or never (then withdrawn), triaged, a plan,
progress posts, resolved, the result notified (in time or late), sometimes reopened and resolved again, then
feedback or the survey window closes it. Meanwhile the worker is SIGKILLed every 10-30 s and started again, the
server is stopped and started again (twice by default), and the receiver answers 503 to a random tenth of the
deliveries. Commands that meet a dead server are retried until the complaint shows them.

Afterwards, checked from the server's own records:
- every complaint ended as its script intends (closed, or withdrawn when never acknowledged);
- every breach, escalation and warning that the pure engine (`sla.engine.evaluate` over the complaint's final
  events at the end instant) says was due reached the receiver (answered 2xx) at least once;
- every notice delivered more than once carried the same idempotency key each time;
- no workflow task failed (no WorkflowTaskFailed in any run's history; UnhandledCommand, the server handing a task
  that completes the workflow back because a timer fired meanwhile, is a retry it asks for and is counted apart)
  and no workflow failed.

Figures (complaints, kills, restarts, deliveries expected / received / duplicates, task failures) go to stdout and
bench/results/chaos.json; `ok` is true only if every check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import tomli_w
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter

from bench import breach_latency
from bench.breach_latency import start_process, wait_for_pollers
from sla import commands as cmd
from sla.calendar import compiled
from sla.commands import OpenComplaint
from sla.deadlines import ActionKind
from sla.engine import evaluate
from sla.lifecycle import replay
from sla.policy import parse_policy
from sla.simulation import RecordedComplaint
from starter.client.complaints import ComplaintClient, workflow_id
from starter.service.binaries import temporal_cli
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "chaos.json"
CHECKED = (ActionKind.BREACH, ActionKind.ESCALATE, ActionKind.WARN)
# The server refuses a task that completes the workflow while a new event (a timer that fired, an update) came in
# during the task, and hands the task back with that event: a retry the server asks for, not a failure of the
# workflow code. Counted apart (task_failures_by_cause); every other cause is a task failure.
UNHANDLED_COMMAND = "WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND"
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[chaos {time.monotonic() - STARTED:6.0f} s] {message}", file=sys.stderr, flush=True)


# ---- the contract and the scripts -----------------------------------------------------------------------------
TARGETS = {"acknowledge": 20, "triage": 60, "handling_plan": 90, "progress_update": 40, "resolve": 150,
           "notify_result": 20, "survey": 20}


def chaos_policy(unit: float) -> dict:
    def iso(seconds: float) -> str:
        return f"PT{max(1, round(seconds * unit))}S"

    return {"version": "chaos", "calendars": {"24x7": {"timezone": "UTC"}},
            "contracts": {"chaos": {
                "calendar": "24x7", "warn_at": [0.5], "survey_window": iso(30),
                "escalation": [{"after": "PT0S", "to": "team-lead"}, {"after": iso(10), "to": "supervisor"}],
                "targets": {clock: iso(seconds) for clock, seconds in TARGETS.items()},
            }}}


@dataclass
class Script:
    cid: str
    opens_at: float  # seconds after the start
    steps: list[tuple[float, str, cmd.Command]]  # (seconds after opening, command, body)
    ends: str  # the state the script leads to


def script(cid: str, opens_at: float, rng: random.Random, unit: float) -> Script:
    u = lambda a, b: rng.uniform(a, b) * unit  # noqa: E731 - seconds of the contract's scale
    ack = TARGETS["acknowledge"]
    fate = rng.choices(["prompt", "late", "never"], weights=[60, 25, 15])[0]
    if fate == "never":  # breaches and escalates, then the customer withdraws
        return Script(cid, opens_at, [(u(2.2 * ack, 3 * ack), "withdraw", cmd.Withdraw(reason="gave up"))],
                      "withdrawn")
    t = u(1, 0.6 * ack) if fate == "prompt" else u(1.2 * ack, 2 * ack)
    steps: list[tuple[float, str, cmd.Command]] = [(t, "acknowledge", cmd.Acknowledge())]
    for name, body in (("triage", cmd.Triage()), ("communicate_plan", cmd.CommunicatePlan(plan="replace it"))):
        t += u(2, 15)
        steps.append((t, name, body))
    for _ in range(rng.randint(0, 2)):
        t += u(5, 45)
        steps.append((t, "post_progress", cmd.PostProgress(note="on it")))
    rounds = 2 if rng.random() < 0.1 else 1
    for n in range(rounds):
        t += u(5, 40)
        steps.append((t, "resolve", cmd.Resolve(resolution=f"fixed {n + 1}")))
        t += u(1, 1.5 * TARGETS["notify_result"])  # sometimes late: a breach
        steps.append((t, "notify_result", cmd.NotifyResult()))
        if n + 1 < rounds:
            t += u(1, 5)
            steps.append((t, "reopen", cmd.Reopen(reason="still broken")))
    if rng.random() < 0.5:
        t += u(1, 10)
        steps.append((t, "record_feedback", cmd.RecordFeedback(csat=5)))
    return Script(cid, opens_at, steps, "closed")


# ---- the webhook receiver -------------------------------------------------------------------------------------
class Receiver(breach_latency.Receiver):
    """Records every delivery (`arrivals`); answers 503 to a random `fail` share of them (the sink retries those)."""

    def __init__(self, rng: random.Random, fail: float = 0.1) -> None:
        super().__init__()
        self.rng, self.fail = rng, fail

    def answer(self, arrival: breach_latency.Arrival) -> int:
        return 503 if self.rng.random() < self.fail else 204


async def connect(address: str) -> Client:
    return await Client.connect(address, data_converter=pydantic_data_converter)


# ---- the processes --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevServer:
    """`temporal server start-dev` on a fixed port with its state in a SQLite file: stopped and started again, it
    comes back with every workflow it had."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = tmp / "server.log"
        self.args = [temporal_cli(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port),
                     "--headless", "--http-port", str(free_port()), "--metrics-port", str(free_port()),
                     "--db-filename", str(tmp / "chaos.db"), "--log-level", "error", *sa.cli_flags()]
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(*self.args, stdout=open(self.log, "ab"),
                                                         stderr=asyncio.subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                client = await connect(self.address)
                await client.count_workflows("WorkflowType = 'ComplaintWorkflow'")
                return
            except Exception:  # noqa: BLE001 - not up yet
                await asyncio.sleep(0.3)
        raise RuntimeError(f"dev server did not start: {self.log.read_text()[-2000:]}")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()  # this child only, by its handle
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def restart(self, down: float) -> None:
        await self.stop()
        await asyncio.sleep(down)
        await self.start()
        self.restarts += 1


class Worker:
    """The cx-sla worker process; `kill` is SIGKILL (no shutdown of any kind), and it is started again at once."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env, self.log = env, tmp / "worker.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.kills = self.starts = 0

    async def start(self) -> None:
        self.proc = await start_process([sys.executable, "worker.py"], self.env, self.log)
        self.starts += 1

    async def kill(self) -> None:
        assert self.proc is not None, "started first"
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
            self.kills += 1
        await self.start()

    async def keep_alive(self) -> None:
        """A worker that exits on its own (its server was gone too long) is started again."""
        while True:
            await asyncio.sleep(1)
            if self.proc is not None and self.proc.returncode is not None:
                log(f"worker exited with {self.proc.returncode}; starting it again")
                await self.start()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# ---- driving the complaints -----------------------------------------------------------------------------------
EVENT_OF = {"acknowledge": "acknowledged", "triage": "triaged", "communicate_plan": "plan_communicated",
            "post_progress": "progress_posted", "resolve": "resolved", "notify_result": "result_notified",
            "reopen": "reopened", "record_feedback": "feedback_recorded", "withdraw": "withdrawn"}


async def persist(what: str, attempt, applied=None, *, seconds: float = 900):
    """Run `attempt` until it succeeds or `applied()` says an earlier try took effect (its answer was lost to a
    dead server or worker)."""
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return await asyncio.wait_for(attempt(), 120)
        except Exception as exc:  # noqa: BLE001 - a dead server, a killed worker: tried again
            last = exc
        if applied is not None:
            try:
                if await asyncio.wait_for(applied(), 30):
                    return None
            except Exception:  # noqa: BLE001
                pass
        await asyncio.sleep(1 + random.random())
    raise RuntimeError(f"{what}: gave up after {seconds} s: {last}")


async def drive(complaints: ComplaintClient, s: Script, start: float, counts: Counter) -> None:
    await asyncio.sleep(max(0.0, start + s.opens_at - time.monotonic()))
    await persist(f"open {s.cid}", lambda: complaints.open(OpenComplaint(id=s.cid, contract="chaos",
                                                                         severity="normal")))
    opened = time.monotonic()
    seen: Counter = Counter()
    for at, name, body in s.steps:
        await asyncio.sleep(max(0.0, opened + at - time.monotonic()))
        seen[name] += 1
        wanted = seen[name]

        async def applied(name=name, wanted=wanted) -> bool:
            status = await complaints.status(s.cid)
            return sum(e["type"] == EVENT_OF[name] for e in status.timeline) >= wanted

        await persist(f"{name} {s.cid}", lambda name=name, body=body: complaints.command(s.cid, name, body),
                      applied)
        counts["commands"] += 1


async def chaos(worker: Worker, server: DevServer, *, until: float, kill_every: tuple[float, float],
                max_kills: int | None, restarts_at: list[float], down: float, rng: random.Random) -> None:
    """Kill the worker every 10-30 s and restart the server at the given instants, until `until`."""
    pending = sorted(restarts_at)
    next_kill = time.monotonic() + rng.uniform(*kill_every)
    while time.monotonic() < until:
        now = time.monotonic()
        if pending and now >= pending[0]:
            pending.pop(0)
            log("stopping the server")
            await server.restart(down)
            log(f"server back (restart {server.restarts})")
        elif now >= next_kill and (max_kills is None or worker.kills < max_kills):
            await worker.kill()
            log(f"worker SIGKILLed (kill {worker.kills}) and started again")
            next_kill = time.monotonic() + rng.uniform(*kill_every)
        await asyncio.sleep(0.2)


# ---- the checks ------------------------------------------------------------------------------------------------
async def wait_closed(client: Client, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    running = -1
    while time.monotonic() < deadline:
        try:
            running = (await client.count_workflows(
                "WorkflowType = 'ComplaintWorkflow' AND ExecutionStatus = 'Running'")).count
            if running == 0:
                return 0
        except Exception:  # noqa: BLE001
            pass
        await asyncio.sleep(2)
    return running


async def runs_of(client: Client, wid: str) -> list:
    """Every run's history of a workflow, newest first (following continue-as-new back to the first run)."""
    histories, run_id = [], None
    while True:
        history = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
        histories.append(history)
        previous = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            return histories
        run_id = previous


async def check(client: Client, scripts: list[Script], receiver: Receiver, end: datetime) -> dict:
    limit = asyncio.Semaphore(8)
    expected: dict[str, set[str]] = {}
    wrong_end: list[str] = []
    failures: list[str] = []
    causes: Counter = Counter()
    failed = 0

    async def one(s: Script) -> None:
        nonlocal failed
        async with limit:
            wid = workflow_id(s.cid)
            recorded = await persist(f"recorded {s.cid}", lambda: client.get_workflow_handle(wid).query(
                "recorded", result_type=RecordedComplaint), seconds=120)
            state = replay(recorded.events).state.value
            if state != s.ends:
                wrong_end.append(f"{s.cid}: {state} (script: {s.ends})")
            evaluation = evaluate(recorded.policy, recorded.events, end, {},
                                  calendar=compiled(recorded.calendar))
            expected[s.cid] = {a.id for a in evaluation.due if a.kind in CHECKED}
            for history in await runs_of(client, wid):
                for e in history.events:
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                        cause = WorkflowTaskFailedCause.Name(e.workflow_task_failed_event_attributes.cause)
                        causes[cause.removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")] += 1
                        if cause != UNHANDLED_COMMAND:
                            failures.append(f"{wid} event {e.event_id}: {cause} "
                                            f"{e.workflow_task_failed_event_attributes.failure.message[:200]}")
            described = await client.workflow_service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(namespace=client.namespace,
                                                 execution=WorkflowExecution(workflow_id=wid)))
            if WorkflowExecutionStatus(described.workflow_execution_info.status) != WorkflowExecutionStatus.COMPLETED:
                failed += 1

    await asyncio.gather(*(one(s) for s in scripts))
    accepted = [d.body for d in receiver.arrivals if 200 <= d.status < 300 and d.body.get("subject") == "complaint"]
    received: dict[str, set[str]] = defaultdict(set)
    for body in accepted:
        received[body["subject_id"]].add(body["action_id"])
    keys: dict[tuple[str | None, str | None], set[str | None]] = defaultdict(set)
    for d in receiver.arrivals:  # refused ones too: a retry repeats the key it was first sent with
        keys[(d.body.get("subject_id"), d.body.get("action_id"))].add(d.body.get("idempotency_key"))
    copies = Counter((b["subject_id"], b["action_id"]) for b in accepted)
    missing = sorted(f"{cid}/{a}" for cid, ids in expected.items() for a in ids - received[cid])
    return {
        "deliveries_expected": sum(len(ids) for ids in expected.values()),
        "deliveries_expected_received": sum(len(ids & received[cid]) for cid, ids in expected.items()),
        "deliveries_missing": len(missing), "missing_examples": missing[:20],
        "requests": len(receiver.arrivals), "answered_503": sum(d.status == 503 for d in receiver.arrivals),
        "accepted": len(accepted),
        "duplicates": sum(n - 1 for n in copies.values() if n > 1),
        "notices_delivered_more_than_once": sum(1 for n in copies.values() if n > 1),
        "keys_differing_between_copies": sum(1 for ks in keys.values() if len(ks) > 1),
        "task_failures": len(failures), "task_failure_examples": failures[:20],
        "task_failures_by_cause": dict(causes), "workflows_not_completed": failed,
        "wrong_end_state": len(wrong_end), "wrong_end_examples": wrong_end[:20],
    }


# ---- the run ---------------------------------------------------------------------------------------------------
async def run(*, complaints: int = 1000, unit: float = 1.0, open_over: float | None = None,
              kill_every: tuple[float, float] = (10, 30), max_kills: int | None = None, server_restarts: int = 2,
              down: float = 5, fail: float = 0.1, drain: float = 600, seed: int = 12) -> dict:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="cxsla-chaos-"))
    open_over = open_over if open_over is not None else complaints / 8
    scripts = [script(f"chaos-{i}", rng.uniform(0, open_over), rng, unit) for i in range(complaints)]
    scripted = max(s.opens_at + (s.steps[-1][0] if s.steps else 0) for s in scripts)
    policy_body = chaos_policy(unit)
    (tmp / "policy.toml").write_text(tomli_w.dumps(policy_body))
    server = DevServer(tmp)
    receiver = Receiver(random.Random(seed + 1), fail)
    await receiver.start()
    log(f"{complaints} complaints over {open_over:.0f} s, scripts end by {scripted:.0f} s; starting the server")
    await server.start()
    client = await connect(server.address)
    queue = "cxsla-chaos"
    worker = Worker({"TEMPORAL_ADDRESS": server.address, "CXSLA_POLICY": str(tmp / "policy.toml"),
                     "CXSLA_TASK_QUEUE": queue, "CXSLA_WEBHOOK_URL": receiver.url, "CXSLA_METRICS_PORT": "0",
                     "CXSLA_VISIBILITY_METRICS_INTERVAL": "0", "CXSLA_CODEC_KEY_FILE": str(tmp / "no-keys"),
                     "CXSLA_REPORT_DIR": str(tmp / "reports"), "CXSLA_LOG_LEVEL": "ERROR"}, tmp)
    counts: Counter = Counter()
    began = time.monotonic()
    keeper = None
    try:
        await worker.start()
        await wait_for_pollers(client, queue)
        keeper = asyncio.create_task(worker.keep_alive())
        complaints_client = ComplaintClient(client, task_queue=queue, policy=parse_policy(policy_body))
        start = time.monotonic()
        restarts_at = [start + scripted * (k + 1) / (server_restarts + 1) for k in range(server_restarts)]
        chaos_task = asyncio.create_task(chaos(worker, server, until=start + scripted, kill_every=kill_every,
                                               max_kills=max_kills, restarts_at=restarts_at, down=down, rng=rng))
        await asyncio.gather(*(drive(complaints_client, s, start, counts) for s in scripts))
        await chaos_task
        log(f"scripts done ({counts['commands']} commands); waiting for every complaint to close")
        running = await wait_closed(client, drain)
        log(f"{running} still running; checking")
        end = datetime.now(timezone.utc)
        results = await check(client, scripts, receiver, end)
    finally:
        if keeper is not None:
            keeper.cancel()
        await worker.stop()
        await server.stop()
        await receiver.stop()
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameters": {"complaints": complaints, "unit": unit, "open_over_s": round(open_over, 1),
                       "kill_every_s": list(kill_every), "max_kills": max_kills, "server_restarts": server_restarts,
                       "server_down_s": down, "fail_ratio": fail, "seed": seed, "cpus": os.cpu_count()},
        "complaints": complaints, "commands": counts["commands"], "worker_kills": worker.kills,
        "worker_starts": worker.starts, "server_restarts": server.restarts, "still_running": running,
        "elapsed_s": round(time.monotonic() - began, 1), **results,
    }
    results["ok"] = (running == 0 and results["deliveries_missing"] == 0 and results["task_failures"] == 0
                     and results["workflows_not_completed"] == 0 and results["wrong_end_state"] == 0
                     and results["keys_differing_between_copies"] == 0)
    if results["ok"]:
        shutil.rmtree(tmp, ignore_errors=True)
    else:  # the server's SQLite file and both logs, to look into
        results["kept"] = str(tmp)
    return results


def report(r: dict) -> str:
    return "\n".join([
        f"chaos: {r['complaints']} complaints, {r['commands']} commands, {r['elapsed_s']} s",
        f"  worker SIGKILLs {r['worker_kills']} (starts {r['worker_starts']}), server restarts {r['server_restarts']}",
        f"  deliveries expected {r['deliveries_expected']}, received {r['deliveries_expected_received']}, "
        f"missing {r['deliveries_missing']}",
        f"  requests {r['requests']} (503 answered {r['answered_503']}), accepted {r['accepted']}, duplicates "
        f"{r['duplicates']} ({r['notices_delivered_more_than_once']} notices), keys differing "
        f"{r['keys_differing_between_copies']}",
        f"  task failures {r['task_failures']} (every WorkflowTaskFailed by cause: {r['task_failures_by_cause']}), "
        f"workflows not completed {r['workflows_not_completed']}, "
        f"wrong end state {r['wrong_end_state']}, still running {r['still_running']}",
        f"  ok: {r['ok']}",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=1000)
    parser.add_argument("--unit", type=float, default=1.0, help="scale of every clock and script time")
    parser.add_argument("--open-over", type=float, default=None, help="seconds over which complaints open (N/8)")
    parser.add_argument("--server-restarts", type=int, default=2)
    parser.add_argument("--fail", type=float, default=0.1, help="share of deliveries answered 503")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = asyncio.run(run(complaints=args.complaints, unit=args.unit, open_over=args.open_over,
                              server_restarts=args.server_restarts, fail=args.fail, seed=args.seed))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"\nfigures written to {args.output}")
    sys.exit(0 if results["ok"] else 1)


if __name__ == "__main__":
    main()
