"""Golden histories of ComplaintWorkflow, and what the workflow tests share (test policy, a fresh server).

Regenerate the histories (only when a workflow change is meant to break replay, which then needs
`workflow.patched`) with:

    .venv/bin/python -m tests.histories.record

Each scenario runs against its own time-skipping test server and writes one JSON file per run,
named `<workflow id>.run<N>.json` (a complaint that continued as new has several runs).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from plugin import CxSlaPlugin
from sla import commands as cmd
from sla.commands import OpenComplaint
from sla.policy import PolicyFile, parse_policy
from sla.status import ComplaintStatus
from starter.binaries import test_server
from starter.client import ComplaintClient, workflow_id
from tests.conftest import cxsla_worker
from tests.sinks import RecordingSink
from workflows import search_attributes as sa

HERE = Path(__file__).parent
CONTRACT = "fast"

# Wall-clock targets on a 24x7 UTC calendar: every clock of a complaint plays out in simulated minutes.
POLICY_RAW: dict = {
    "version": "test-1",
    "calendars": {
        "24x7": {
            "timezone": "UTC",
            "hours": ["00:00-24:00"],
            "workdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        }
    },
    "contracts": {
        CONTRACT: {
            "calendar": "24x7",
            "warn_at": [0.5, 0.8],
            "survey_window": "PT60S",
            "escalation": [
                {"after": "PT0S", "to": "team-lead"},
                {"after": "PT5S", "to": "supervisor"},
                {"after": "PT10S", "to": "manager"},
            ],
            "targets": {
                "acknowledge": "PT10S",
                "triage": "PT30S",
                "handling_plan": "PT40S",
                "progress_update": "PT20S",
                "resolve": "PT300S",
                "notify_result": "PT10S",
                "survey": "PT30S",
            },
            "severity": {
                "critical": {"targets": {"resolve": "PT60S"}, "major_breach": ["resolve"]},
                "major": {"targets": {"resolve": "PT90S"}, "major_breach": ["resolve"]},
                "low": {"targets": {"resolve": "PT600S"}},
            },
        }
    },
}


def test_policy() -> PolicyFile:
    return parse_policy(POLICY_RAW, source="test policy")


test_policy.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of its own (starts in ~0.1 s).

    One per test on purpose: the server's clock runs ahead of the wall clock by every skipped interval, while
    `ComplaintClient.open` stamps `Received` with the caller's wall clock, so a complaint opened on a server
    that has already skipped time would start in the (server's) past.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server(), plugins=[CxSlaPlugin()]
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={k.name: IndexedValueType.ValueType(k.indexed_value_type) for k in sa.ALL},
            )
        )
        yield env
    finally:
        await env.shutdown()


async def run_histories(client: Client, wid: str) -> list[WorkflowHistory]:
    """Every run of a workflow id, first to last (follows continue-as-new)."""
    latest = await client.get_workflow_handle(wid).fetch_history()
    started = latest.events[0].workflow_execution_started_event_attributes
    run_id = started.first_execution_run_id or latest.run_id
    histories = []
    while run_id:
        history = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
        assert len(histories) < 100, "continue-as-new chain does not end"
    return histories


async def result_after(env: WorkflowEnvironment, client: Client, complaint_id: str,
                       skip: timedelta = timedelta(0)) -> ComplaintStatus:
    """Skip `skip` of server time, then the workflow's result, which must be there by then.

    (`get_workflow_handle(...).result()` would not skip time: only handles from `start_workflow` do.)
    """
    if skip:
        await env.sleep(skip)
    handle = client.get_workflow_handle(workflow_id(complaint_id), result_type=ComplaintStatus)
    return await asyncio.wait_for(handle.result(), timeout=10)


async def settle(env: WorkflowEnvironment, complaint_id: str, *, limit: int = 250) -> None:
    """Wait until the complaint's workflow has no workflow task and no activity in flight, so what fired has
    been delivered. Time skipping runs timers promptly but an activity's real work (an HTTP call, a busy
    machine) can still be under way when `env.sleep` returns. Polls in 10 ms steps of server time."""
    request = DescribeWorkflowExecutionRequest(
        namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=workflow_id(complaint_id))
    )
    quiet = 0
    for _ in range(limit):
        described = await env.client.workflow_service.describe_workflow_execution(request)
        busy = bool(described.pending_activities) or described.HasField("pending_workflow_task")
        quiet = 0 if busy else quiet + 1
        if quiet == 2:
            return
        await env.sleep(timedelta(milliseconds=10))
    raise AssertionError(f"complaint {complaint_id} still busy after {limit} polls")


async def command(env: WorkflowEnvironment, c: ComplaintClient, complaint_id: str, name: str, body):
    """`c.command`, refusing to race a timer: a command that lands within a few milliseconds of the workflow's
    next timer can leave the time-skipping test server stuck ("invalid history builder state for action"
    when the workflow task cancels a timer that fired meanwhile). Tests pick instants clear of due times."""
    status = await c.status(complaint_id)
    if status.next_due_at is not None:
        gap = status.next_due_at - await env.get_current_time()
        assert not timedelta(0) <= gap < timedelta(milliseconds=300), (
            f"test timing: {name} would race {status.next_due_at.isoformat()} (in {gap}); move the test's instant"
        )
    return await c.command(complaint_id, name, body)


async def assert_no_task_failures(client: Client, complaint_id: str) -> list[WorkflowHistory]:
    """No run of the complaint's workflow ever failed a workflow task (a handler raised, nondeterminism...)."""
    histories = await run_histories(client, workflow_id(complaint_id))
    for history in histories:
        failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
        assert not failed, (
            f"workflow task failed in run {history.run_id}: "
            f"{failed[0].workflow_task_failed_event_attributes.failure.message}"
        )
    return histories


# ---- scenarios recorded as golden histories --------------------------------------------------------------
async def lifecycle_with_breach(env: WorkflowEnvironment, c: ComplaintClient) -> str:
    """Critical complaint: acknowledge breached with the full ladder, every other clock met, feedback closes."""
    cid = "golden-lifecycle"
    await c.open(OpenComplaint(id=cid, contract=CONTRACT, severity="critical", channel="phone"))
    await env.sleep(timedelta(seconds=27.5))  # acknowledge breaches at 10 s; ladder at +0/+5/+10 s
    await settle(env, cid)
    await command(env, c, cid, "acknowledge", cmd.Acknowledge(by="amy"))
    await command(env, c, cid, "triage", cmd.Triage(by="amy", category="billing"))
    await command(env, c, cid, "communicate_plan", cmd.CommunicatePlan(by="amy", plan="refund"))
    await command(env, c, cid, "post_progress", cmd.PostProgress(by="amy", note="refund approved"))
    await command(env, c, cid, "resolve", cmd.Resolve(by="sam", resolution="refunded", remedy="compensation"))
    await command(env, c, cid, "notify_result", cmd.NotifyResult(by="amy"))
    await env.sleep(timedelta(seconds=2))  # survey goes out
    await settle(env, cid)
    await command(env, c, cid, "record_feedback", cmd.RecordFeedback(csat=4, nps=8, ces=2))
    final = await result_after(env, c.client, cid)
    assert final.state.value == "closed" and final.breached
    assert [(e.clock.value, e.level) for e in final.escalations if e.clock.value == "acknowledge"] == [
        ("acknowledge", 1), ("acknowledge", 2), ("acknowledge", 3)]
    assert "survey_sent" in [t["type"] for t in final.timeline]
    return cid


async def pause_extend_reclassify(env: WorkflowEnvironment, c: ComplaintClient) -> str:
    """Paused for the customer, extended, reclassified; the survey window closes it without feedback."""
    cid = "golden-pause-extend"
    opened = await c.open(OpenComplaint(id=cid, contract=CONTRACT, severity="normal", channel="email"))
    await command(env, c, cid, "acknowledge", cmd.Acknowledge(by="amy"))
    await command(env, c, cid, "triage", cmd.Triage(by="amy"))
    await command(env, c, cid, "await_customer", cmd.AwaitCustomer(by="amy", reason="need invoice number"))
    await env.sleep(timedelta(seconds=30))
    await settle(env, cid)
    await command(env, c, cid, "customer_responded", cmd.CustomerResponded(note="INV-1"))
    await command(env, c, cid, "reclassify", cmd.Reclassify(severity="major", reason="regulator copied"))
    until = opened.status.received_at + timedelta(minutes=10)
    await command(env, c, cid, "extend", cmd.Extend(clock="resolve", until=until, reason="needs a site visit"))
    await env.sleep(timedelta(seconds=52.5))  # handling_plan and progress_update breach (after the pause)
    await settle(env, cid)
    await command(env, c, cid, "communicate_plan", cmd.CommunicatePlan())
    await command(env, c, cid, "resolve", cmd.Resolve(by="sam", resolution="replaced", remedy="replacement"))
    await command(env, c, cid, "notify_result", cmd.NotifyResult())
    final = await result_after(env, c.client, cid, timedelta(seconds=65))  # the survey window (60 s) closes it
    kinds = [t["type"] for t in final.timeline]
    assert {"awaiting_customer", "customer_responded", "reclassified", "extended", "survey_sent"} <= set(kinds)
    assert kinds[-1] == "closed" and final.severity.value == "major"
    return cid


async def continued_as_new(env: WorkflowEnvironment, c: ComplaintClient) -> str:
    """A complaint that continues as new every 3 events, with a breach fired before the first hand-over."""
    cid = "golden-continued"
    await c.open(OpenComplaint(id=cid, contract=CONTRACT, severity="major"), continue_as_new_after_events=3)
    await env.sleep(timedelta(seconds=12))
    await settle(env, cid)
    for name, body in [
        ("acknowledge", cmd.Acknowledge()),
        ("triage", cmd.Triage()),
        ("communicate_plan", cmd.CommunicatePlan()),
        ("post_progress", cmd.PostProgress()),
        ("await_customer", cmd.AwaitCustomer()),
        ("customer_responded", cmd.CustomerResponded()),
        ("post_progress", cmd.PostProgress()),
    ]:
        await command(env, c, cid, name, body)
    await env.sleep(timedelta(seconds=5))
    await settle(env, cid)
    await command(env, c, cid, "withdraw", cmd.Withdraw(reason="customer withdrew"))
    final = await result_after(env, c.client, cid)
    assert final.state.value == "withdrawn" and len(final.timeline) == 9
    assert len(await run_histories(c.client, workflow_id(cid))) == 3
    return cid


SCENARIOS: list[Callable[[WorkflowEnvironment, ComplaintClient], Awaitable[str]]] = [
    lifecycle_with_breach,
    pause_extend_reclassify,
    continued_as_new,
]


async def record(
    scenario: Callable[[WorkflowEnvironment, ComplaintClient], Awaitable[str]], out: Path
) -> list[Path]:
    """Run one scenario on a fresh server; write and return one JSON file per run."""
    async with time_skipping_server() as env:
        async with cxsla_worker(env.client, sink=RecordingSink()) as queue:
            client = ComplaintClient(env.client, task_queue=queue, policy=test_policy())
            cid = await scenario(env, client)
            histories = await assert_no_task_failures(env.client, cid)
    written = []
    for n, history in enumerate(histories, start=1):
        path = out / f"{history.workflow_id}.run{n}.json"
        path.write_text(history.to_json() + "\n", encoding="utf-8")
        written.append(path)
    return written


def history_files(directory: Path = HERE) -> list[Path]:
    return sorted(directory.glob("*.json"))


def workflow_id_of(path: Path) -> str:
    return path.name.split(".run")[0]


async def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in history_files(out):
        old.unlink()
    for scenario in SCENARIOS:
        for path in await record(scenario, out):
            print(f"{datetime.now(timezone.utc):%H:%M:%S} wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
