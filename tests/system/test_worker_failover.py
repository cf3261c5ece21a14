"""Two `cxsla worker` processes on one task queue share the complaints; one is SIGKILLed while every deadline is
still pending, and the survivor finishes them all: each breach and escalation fires once, is delivered to a real
webhook receiver once per idempotency key, and is recorded shortly after its deadline — also for the complaints
the killed worker had cached (they reach the survivor once the sticky queue's schedule-to-start timeout, the SDK
default of 10 s, gives up on the dead worker; `worker.py` does not change it)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from sla.commands import OpenComplaint
from sla.vocabulary import Severity
from starter.client.complaints import ComplaintClient
from starter.service.settings import Settings
from tests.helpers.e2e import CXSLA, WebhookReceiver, cli_json, free_port, wait_for

pytestmark = pytest.mark.e2e  # cxsla workers as subprocesses, killed on purpose

# Every complaint must be acknowledged within 20 s and nobody does. Receipt times are set in the past so that the
# 10 % warnings are already due when a complaint opens (each worker delivers some before the kill) and the
# deadlines pass 10..18 s after the complaints open, one every ~0.4 s, with the ladder 0 s and 2 s later.
TARGET = timedelta(seconds=20)
FIRST_DEADLINE, SPREAD = timedelta(seconds=10), timedelta(seconds=8)
STICKY_TIMEOUT = timedelta(seconds=10)  # temporalio Worker(sticky_queue_schedule_to_start_timeout) default
SLACK = timedelta(seconds=3)  # a loaded 2-core machine notices a due timer within this
N = 20
POLICY = """
version = "failover"
[calendars.24x7]
timezone = "UTC"
[contracts.shared]
calendar = "24x7"
warn_at = [0.1]
survey_window = "PT30S"
escalation = [{ after = "PT0S", to = "team-lead" }, { after = "PT2S", to = "supervisor" }]
[contracts.shared.targets]
acknowledge = "PT20S"
triage = "PT1H"
handling_plan = "PT1H"
progress_update = "PT1H"
resolve = "PT2H"
notify_result = "PT1H"
survey = "PT1H"
"""
ACTIONS = ("acknowledge#1:warn:10", "acknowledge#1:breach", "acknowledge#1:escalate:1", "acknowledge#1:escalate:2")


@contextmanager
def _worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A `cxsla worker` process, stopped by its pid when the block ends (unless the test killed it already)."""
    with log.open("ab") as out:
        process = subprocess.Popen([CXSLA, "worker"], env={**os.environ, **env}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def _total(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of one metric in a Prometheus text exposition whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if match:
            found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(match.group(2))
    return total


async def _pollers(address: str, queue: str) -> set[str]:
    client = await Client.connect(address)
    answer = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    ))
    return {poller.identity for poller in answer.pollers}


async def _open_all(settings: Settings, policy: Path, queue: str, received: dict[str, datetime]) -> None:
    facade = await ComplaintClient.connect(settings=settings, task_queue=queue, policy_path=str(policy))
    opened = await asyncio.gather(*(
        facade.open(OpenComplaint(id=cid, contract="shared", severity=Severity.NORMAL, received_at=at))
        for cid, at in received.items()
    ))
    assert all(o.created for o in opened)


async def _task_completions(address: str, ids: list[str]) -> dict[str, list[tuple[datetime, str, str]]]:
    """Per complaint: (when, identity, kind) of every workflow and activity task completed in its history.

    Completions, not starts: a task the server hands to the killed worker's last, dead poll is started in its
    name and then times out; what counts is who finished the work."""
    client = await Client.connect(address)

    async def one(cid: str) -> list[tuple[datetime, str, str]]:
        history = await client.get_workflow_handle(f"complaint-{cid}").fetch_history()
        rows = []
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                who, kind = event.workflow_task_completed_event_attributes.identity, "workflow"
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                who, kind = event.activity_task_completed_event_attributes.identity, "activity"
            else:
                continue
            rows.append((event.event_time.ToDatetime(tzinfo=timezone.utc), who, kind))
        return rows

    return dict(zip(ids, await asyncio.gather(*(one(cid) for cid in ids)), strict=True))


def test_two_workers_share_complaints_and_killing_one_loses_nothing(dev_env, tmp_path):
    address = dev_env.client.service_client.config.target_host
    run = uuid.uuid4().hex[:8]
    queue = f"failover-{run}"
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    no_keys = str(tmp_path / "no-codec-keys")
    env = {"TEMPORAL_ADDRESS": address, "CXSLA_POLICY": str(policy), "CXSLA_TASK_QUEUE": queue,
           "CXSLA_CODEC_KEY_FILE": no_keys, "CXSLA_REPORT_DIR": str(tmp_path / "reports")}
    ids = [f"fo-{run}-{i:02d}" for i in range(N)]

    with WebhookReceiver() as hook, ExitStack() as stack:
        ports = [free_port(), free_port()]
        workers = [
            stack.enter_context(_worker({**env, "CXSLA_METRICS_PORT": str(port), "CXSLA_WEBHOOK_URL": hook.url,
                                         "CXSLA_VISIBILITY_METRICS_INTERVAL": "0"}, tmp_path / f"worker{n}.log"))
            for n, port in enumerate(ports)
        ]
        identity = {w.pid: f"{w.pid}@" for w in workers}  # the SDK's default worker identity is "pid@host"
        # Both workers poll the queue before anything is opened, so both can be handed work.

        def both_polling() -> bool:
            if any(w.poll() is not None for w in workers):
                return True  # a worker died: fail below with its log
            pollers = asyncio.run(_pollers(address, queue))
            return all(any(p.startswith(identity[w.pid]) for p in pollers) for w in workers)

        wait_for(both_polling, 30, "both workers polling the task queue")
        assert all(w.poll() is None for w in workers), [(tmp_path / f"worker{n}.log").read_text() for n in (0, 1)]

        t0 = datetime.now(timezone.utc)
        deadline = {cid: t0 + FIRST_DEADLINE + SPREAD * i / (N - 1) for i, cid in enumerate(ids)}
        settings = Settings(temporal_address=address, codec_key_file=no_keys)
        asyncio.run(_open_all(settings, policy, queue, {cid: d - TARGET for cid, d in deadline.items()}))

        # Both took work: each counted the complaints it opened and delivered their (already due) warnings.
        def per_worker() -> list[tuple[float, float]] | None:
            texts = [text for text in (_scrape(port) for port in ports) if text is not None]
            if len(texts) < len(ports):
                return None
            counts = [(_total(t, "cxsla_complaints_opened_total", task_queue=queue),
                       _total(t, "temporal_activity_execution_latency_seconds_count", task_queue=queue,
                              activity_type="cxsla.deliver")) for t in texts]
            return counts if sum(o for o, _ in counts) == N and sum(d for _, d in counts) == N else None

        counts = wait_for(per_worker, 20, f"{N} opens and {N} warnings counted by the two workers")
        assert all(opened > 0 for opened, _ in counts), f"one worker took every complaint: {counts}"
        assert [opened for opened, _ in counts] == [delivered for _, delivered in counts], counts
        assert sorted(n["action_id"] for n in hook.notifications()) == ["acknowledge#1:warn:10"] * N

        # Kill the busier worker while every deadline is still pending and nothing is in flight.
        victim_index = 0 if counts[0][0] >= counts[1][0] else 1
        victim, survivor = workers[victim_index], workers[1 - victim_index]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed_at = datetime.now(timezone.utc)
        assert killed_at < min(deadline.values()) - timedelta(seconds=1), (
            "the machine was too slow to kill the worker before the first deadline")

        # keys are <workflow id>/<first run id>/<action id>
        expected = {(f"complaint-{cid}", action) for cid in ids for action in ACTIONS}

        def delivered_pairs() -> list[tuple[str, str]]:
            return [(n["idempotency_key"].split("/", 1)[0], n["action_id"]) for n in hook.notifications()]

        def all_delivered() -> bool:
            return set(delivered_pairs()) >= expected

        wait_for(all_delivered, 60, f"all {len(expected)} notifications")
        survivor_text = wait_for(lambda: _scrape(ports[1 - victim_index]), 10, "the survivor's /metrics")
        assert survivor.poll() is None

        # Nothing lost, nothing extra: every key once. (Delivery is at-least-once with an idempotency key, but
        # nothing was in flight when the worker died, so a second delivery would mean an action fired twice.)
        keys = [n["idempotency_key"] for n in hook.notifications()]
        assert set(delivered_pairs()) == expected
        assert len(keys) == len(set(keys)) == len(expected), sorted(k for k in keys if keys.count(k) > 1)
        # The survivor decided every breach and escalation, the killed worker's complaints' included, once each.
        assert _total(survivor_text, "cxsla_breaches_total", task_queue=queue, clock="acknowledge") == N
        assert _total(survivor_text, "cxsla_escalations_total", task_queue=queue) == 2 * N
        assert _total(survivor_text, "cxsla_clock_outcomes_total", task_queue=queue, outcome="breached") == N
        assert _total(survivor_text, "cxsla_complaints_opened_total", task_queue=queue) == counts[1 - victim_index][0]

        # Which complaints the killed worker had, and who finished them: task completions in Temporal's history.
        tasks = asyncio.run(_task_completions(address, ids))
        dead, alive = identity[victim.pid], identity[survivor.pid]
        orphaned = {cid for cid, rows in tasks.items() if rows[0][1].startswith(dead)}
        assert len(orphaned) == counts[victim_index][0] and 0 < len(orphaned) < N, orphaned
        for cid, rows in tasks.items():
            story = [(round((at - killed_at).total_seconds(), 2), who, kind) for at, who, kind in rows]
            after = [(kind, who) for at, who, kind in rows if at > killed_at]
            assert all(who.startswith(alive) for _, who in after), (cid, dead, story)
            assert {kind for kind, _ in after} == {"workflow", "activity"}, (cid, dead, story)

        # Every complaint's status (through the CLI) lists its one breach and both steps, at the deadline or
        # shortly after it: within SLACK on the survivor, within the sticky timeout for the orphaned ones.
        with ThreadPoolExecutor(4) as pool:
            shown = pool.map(lambda cid: cli_json("complaint", "show", cid, env=env), ids)
            statuses = dict(zip(ids, shown, strict=True))
        late = {}
        for cid, status in statuses.items():
            ack = next(c for c in status["clocks"] if c["name"] == "acknowledge")
            assert ack["state"] == "breached", (cid, ack)
            due = datetime.fromisoformat(ack["deadline"])
            assert abs(due - deadline[cid]) < timedelta(milliseconds=1), (cid, due, deadline[cid])
            [breach] = status["breaches"]
            assert (breach["clock"], breach["class"]) == ("acknowledge", "minor"), (cid, breach)
            steps = status["escalations"]
            assert [(s["clock"], s["level"], s["to"]) for s in steps] == [
                ("acknowledge", 1, "team-lead"), ("acknowledge", 2, "supervisor")], (cid, steps)
            # The survivor notices a due timer at once; an orphaned complaint's timer task waits for the sticky
            # queue's schedule-to-start timeout (counted from when it fell due, or at worst from the kill).
            bound = SLACK + (STICKY_TIMEOUT if cid in orphaned else timedelta(0))
            for what, at, due_at in [("breach", breach["at"], due), ("escalate:1", steps[0]["at"], due),
                                     ("escalate:2", steps[1]["at"], due + timedelta(seconds=2))]:
                at = datetime.fromisoformat(at)
                assert due_at <= at <= due_at + bound, (cid, what, at - due_at, cid in orphaned)
            late[cid] = datetime.fromisoformat(breach["at"]) - due
        assert max(late[c] for c in set(ids) - orphaned) <= SLACK, late
