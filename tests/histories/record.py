"""Golden histories of every cx-sla workflow, and what the workflow tests share (test policy, a fresh server).

Record the history of a new scenario (the other files stay byte-identical) with:

    .venv/bin/python -m tests.histories.record --only NAME [--only NAME ...]

Record every scenario of the current generation again (a workflow change that breaks their replay needs
`workflow.patched` first; histories of earlier releases, `*-golden-*`, are never rewritten) with:

    .venv/bin/python -m tests.histories.record

Each scenario runs against its own time-skipping test server and writes one JSON file per run,
named `<workflow id>.run<N>.json` (a complaint that continued as new has several runs).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.assessment import Listed, plan_search_attributes
from activities.attributes import cycle_search_attributes
from plugin import WORKFLOWS, CxSlaPlugin
from sla import commands as cmd
from sla.commands import OpenComplaint
from sla.cycles import CycleRun
from sla.interruptions import ReportInterruption, Restore, interruption_workflow_id
from sla.kpi import KpiName, Target
from sla.official_calendar import resolve_at
from sla.outcomes import MEMO_KEY, ComplaintOutcome
from sla.periods import Cadence, Period
from sla.plans import (
    Measure,
    Miss,
    PlanState,
    PlanStatus,
    RecordCycleResult,
    ReportProgress,
    RevisePlan,
    SubmitPlan,
    Trigger,
    new_plan_run,
    plan_id,
)
from sla.policy import CycleSpec, PolicyFile, ReportTo, parse_policy
from sla.status import ComplaintStatus
from sla.surveys import Scale, ScoreHistogram, SurveyBatch, SurveyChannel
from sla.vocabulary import ComplaintState, Severity
from starter.client.assessment import AssessmentClient
from starter.client.complaints import ComplaintClient, workflow_id
from starter.service.binaries import test_server
from tests.helpers.assessment import KnownWorkflows, assessment_worker, result_of
from tests.helpers.policies import write_policy
from tests.helpers.sinks import RecordingSink, RefusingSink
from tests.helpers.temporal import cxsla_worker
from workflows import search_attributes as sa
from workflows.cycle import AssessmentCycleWorkflow
from workflows.interruption import InterruptionStatus
from workflows.patches import ARCHIVE_ON_CLOSE_PATCH, ENGINE_IN_WORKFLOW_PATCH
from workflows.plan import ImprovementPlanWorkflow

HERE = Path(__file__).parent
CONTRACT = "fast"
# The scenarios below record today's workflows under ids that start with this; the files of earlier generations
# (`*-golden-*`, recorded before the engine and calendar moved into workflow code) stay as they were recorded
# and replay down the legacy paths (tests/workflows/test_replay.py lists them).
GENERATION = "v2"

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
            # The scenarios and workflow tests count only progress posts as progress (the rule before the switch);
            # tests/workflows/test_complaint_workflow.py turns it on where the handling plan counts.
            "plan_counts_as_progress": False,
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
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=test_server(),
                                                        plugins=[CxSlaPlugin()])
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
    run_id: str | None = started.first_execution_run_id or latest.run_id
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
    return await assert_no_workflow_task_failures(client, workflow_id(complaint_id))


async def assert_no_workflow_task_failures(client: Client, wid: str) -> list[WorkflowHistory]:
    """No run of the workflow `wid` (any type) ever failed a workflow task; returns its runs' histories."""
    histories = await run_histories(client, wid)
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
    cid = f"{GENERATION}-lifecycle"
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


async def archived_on_withdrawal(env: WorkflowEnvironment, c: ComplaintClient) -> str:
    """Reclassified with a reason, then withdrawn: the ended complaint is written to the archive before it
    completes (archive-on-close)."""
    cid = f"{GENERATION}-archived"
    await c.open(OpenComplaint(id=cid, contract=CONTRACT, severity="normal", channel="web", customer_id="C-9",
                               customer_name="Golden Customer", customer_contact="golden@example.cn"))
    await command(env, c, cid, "acknowledge", cmd.Acknowledge(by="amy"))
    await command(env, c, cid, "reclassify", cmd.Reclassify(by="sam", severity="major", reason="outage related"))
    await command(env, c, cid, "withdraw", cmd.Withdraw(by="sam", reason="customer withdrew"))
    final = await result_after(env, c.client, cid)
    assert final.state.value == "withdrawn"
    reclassified = next(t for t in final.timeline if t["type"] == "reclassified")
    assert reclassified["from_severity"] == "normal" and reclassified["reason"] == "outage related"
    histories = await run_histories(c.client, workflow_id(cid))
    assert "cxsla.archive_complaint" in activity_types_of(histories[-1])
    return cid


async def pause_extend_reclassify(env: WorkflowEnvironment, c: ComplaintClient) -> str:
    """Paused for the customer, extended, reclassified; the survey window closes it without feedback."""
    cid = f"{GENERATION}-pause-extend"
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
    cid = f"{GENERATION}-continued"
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


async def continued_with_long_notes(env: WorkflowEnvironment, c: ComplaintClient) -> str:
    """A complaint that continues as new every 3 events while its notes are long: each new run carries the long
    text as a marker naming the run whose history holds it (the `carry-elided-text` side of that patch)."""
    cid = f"{GENERATION}-elided"
    note = "客户反映的问题已转交维修部门处理，预计三个工作日内给出检测结论并电话告知客户。" * 3
    await c.open(OpenComplaint(id=cid, contract=CONTRACT, severity="normal"), continue_as_new_after_events=3)
    await settle(env, cid)
    for name, body in [
        ("acknowledge", cmd.Acknowledge()),
        ("post_progress", cmd.PostProgress(note=note)),
        ("post_progress", cmd.PostProgress(note=note)),
        ("post_progress", cmd.PostProgress(note=note)),
    ]:
        await command(env, c, cid, name, body)
    await command(env, c, cid, "withdraw", cmd.Withdraw(reason="customer withdrew"))
    final = await result_after(env, c.client, cid)
    assert final.state.value == "withdrawn"
    runs = await run_histories(c.client, workflow_id(cid))
    carried = runs[-1].events[0].workflow_execution_started_event_attributes.input.payloads[0].data.decode()
    assert len(runs) >= 2 and "[elided:" in carried  # the last run started with the marker, not the notes
    return cid


async def reopened_with_survey_undelivered(stage: Stage) -> str:
    """The survey webhook is down when the complaint is resolved: the survey fails (so the complaint publishes
    that it has an undelivered notice), then the complaint is reopened while the survey still waits, and the
    webhook comes back. Since `stale-survey` the reopen takes the survey back; before it, it was delivered."""
    env, c = stage.env, stage.complaints
    cid = f"{GENERATION}-held-survey"
    await c.open(OpenComplaint(id=cid, contract=CONTRACT, severity="normal"))
    for name, body in (("acknowledge", cmd.Acknowledge()), ("triage", cmd.Triage()),
                       ("communicate_plan", cmd.CommunicatePlan()), ("resolve", cmd.Resolve(resolution="a")),
                       ("notify_result", cmd.NotifyResult())):
        await command(env, c, cid, name, body)
    await env.sleep(timedelta(seconds=200))  # one delivery attempt (3 min of quick retries) fails
    await command(env, c, cid, "reopen", cmd.Reopen(reason="still broken"))
    await env.sleep(timedelta(seconds=400))
    cast(RefusingSink, stage.sink).down = False
    await env.sleep(timedelta(minutes=12))  # past the longest wait between two delivery attempts
    await settle(env, cid)
    if (await c.status(cid)).state.value not in ("closed", "withdrawn"):
        await command(env, c, cid, "withdraw", cmd.Withdraw(reason="customer withdrew"))
    await result_after(env, c.client, cid)
    return workflow_id(cid)


# ---- the assessment side: a complaint that opens a plan, a cycle, a plan, an interruption ------------------
GOLDEN_CONTRACT = GENERATION
H = timedelta(hours=1)
MIN = timedelta(minutes=1)

# One contract with hour-scale clocks on a 24x7 UTC calendar, complaint and assessment sections alike. The
# scenarios below run a worker that reads it from a policy file, so a plan opened by a complaint breach (an
# activity: it takes the worker's policy) gets these settings too. Commands land minutes away from every clock's
# instants: the time-skipping server rejects a workflow task that cancels a timer firing at that very instant.
GOLDEN_POLICY_RAW: dict = {
    "version": "golden-1",
    "calendars": {
        "24x7": {
            "timezone": "UTC",
            "hours": ["00:00-24:00"],
            "workdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        }
    },
    "contracts": {
        GOLDEN_CONTRACT: {
            "calendar": "24x7",
            "warn_at": [0.5, 0.8],
            "survey_window": "PT12H",
            "escalation": [
                {"after": "PT0S", "to": "team-lead"},
                {"after": "PT1H", "to": "supervisor"},
                {"after": "PT2H", "to": "manager"},
            ],
            "targets": {
                "acknowledge": "PT1H",
                "triage": "PT4H",
                "handling_plan": "PT8H",
                "progress_update": "PT6H",
                "resolve": "PT48H",
                "notify_result": "PT2H",
                "survey": "PT4H",
            },
            "severity": {
                "critical": {"targets": {"resolve": "PT3H"}, "major_breach": ["resolve"]},
                "major": {"targets": {"resolve": "PT5H"}, "major_breach": ["resolve"]},
            },
            "kpi_targets": {
                "csat": {"min": 85},
                "resolution_rate": {"min": 0.95},
                "major_resolved_in_time": {"min": 1.0},
            },
            "cycles": {
                # the report is written at period end + 6 h, before its own clock's first warning (+24 h)
                "monthly": {"grace": "PT6H", "report_within": "PT48H",
                            "assess": ["csat", "resolution_rate", "major_resolved_in_time"], "start_plans": True},
            },
            "improvement": {"submit_within": "PT10H", "progress_every": "PT20H", "rectify_within": "PT60H",
                            "on_major_complaint_breach": True},
            "interruption": {"major_after": "PT4H"},
        }
    },
}


def golden_policy() -> PolicyFile:
    return parse_policy(GOLDEN_POLICY_RAW, source="golden policy")


@dataclass
class Stage:
    """What a scenario plays with: a fresh time-skipping server and clients on a worker's task queue."""

    env: WorkflowEnvironment
    complaints: ComplaintClient
    assessments: AssessmentClient
    known: KnownWorkflows  # the memos an assessment cycle reads (the test server has no visibility listing)
    sink: RecordingSink

    async def now(self) -> datetime:
        """The server's time, which the clients then take as theirs (they stamp receipts and reports with it)."""
        now = await self.env.get_current_time()
        self.complaints.clock = self.assessments.clock = lambda: now
        return now


@dataclass(frozen=True)
class Scenario:
    name: str  # for `--only NAME`
    play: Callable[[Stage], Awaitable[str]]  # returns the id of the workflow whose runs are recorded
    golden_policy: bool = False  # GOLDEN_POLICY_RAW from a policy file, a report directory, known memos
    sink: Callable[[], RecordingSink] = RecordingSink
    known: Callable[[Client], KnownWorkflows] = lambda client: KnownWorkflows(client, [])


def _complaint_scenario(name: str, play: Callable[[WorkflowEnvironment, ComplaintClient], Awaitable[str]]) -> Scenario:
    async def run(stage: Stage) -> str:
        return workflow_id(await play(stage.env, stage.complaints))

    return Scenario(name, run)


async def skip_to(env: WorkflowEnvironment, instant: datetime) -> None:
    now = await env.get_current_time()
    if instant > now:
        await env.sleep(instant - now)


async def settle_workflow(env: WorkflowEnvironment, wid: str, *, limit: int = 250) -> None:
    """`settle` for any workflow id."""
    request = DescribeWorkflowExecutionRequest(namespace=env.client.namespace,
                                               execution=WorkflowExecution(workflow_id=wid))
    quiet = 0
    for _ in range(limit):
        described = await env.client.workflow_service.describe_workflow_execution(request)
        busy = bool(described.pending_activities) or described.HasField("pending_workflow_task")
        quiet = 0 if busy else quiet + 1
        if quiet == 2:
            return
        await env.sleep(timedelta(milliseconds=10))
    raise AssertionError(f"{wid} still busy after {limit} polls")


async def clear_of_timers(env: WorkflowEnvironment, next_due_at: datetime | None, what: str) -> None:
    """Refuse to send a command within a minute before a workflow's next timer (see `command`)."""
    if next_due_at is not None:
        gap = next_due_at - await env.get_current_time()
        assert not timedelta(0) <= gap < MIN, (
            f"test timing: {what} would race {next_due_at.isoformat()} (in {gap}); move the scenario's instant")


async def memo_of(client: Client, wid: str) -> dict:
    """A workflow's memo, decoded (a raw describe: the typed one chokes on the test server's datetime attributes)."""
    response = await client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=wid)))
    fields = response.workflow_execution_info.memo.fields
    return {key: (await client.data_converter.decode([payload]))[0] for key, payload in fields.items()}


def patches_of(history: WorkflowHistory) -> list[str]:
    """The `workflow.patched` ids recorded in a history (its patch markers), in order."""
    ids = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            attributes = event.marker_recorded_event_attributes
            if attributes.marker_name == "core_patch":
                ids.append(json.loads(attributes.details["patch-data"].payloads[0].data)["id"])
    return ids


def activity_types_of(history: WorkflowHistory) -> list[str]:
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


def event_types_of(history: WorkflowHistory) -> set[str]:
    return {EventType.Name(e.event_type) for e in history.events}


async def play_complaint(stage: Stage, cid: str, severity: str, steps: list[tuple[timedelta, str, Any]]):
    """Open a golden-contract complaint, send each command at its offset from receipt, and return its result."""
    env, c = stage.env, stage.complaints
    await stage.now()
    opened = await c.open(OpenComplaint(id=cid, contract=GOLDEN_CONTRACT, severity=severity, channel="phone"))
    for at, name, body in steps:
        await skip_to(env, opened.status.received_at + at)
        await settle(env, cid)
        await command(env, c, cid, name, body)
    return await result_after(env, c.client, cid)


async def complaint_major_breach(stage: Stage) -> str:
    """Critical complaint whose resolve deadline passes: a major breach with the full ladder, which opens an
    improvement plan (activity `cxsla.open_plan_for_complaint`, signal-with-start); the KPI outcome rides in the
    memo all along. Resolved late, result notified, feedback closes it."""
    c = stage.complaints
    cid = f"{GENERATION}-major-breach"
    final = await play_complaint(stage, cid, "critical", [
        (17 * MIN, "acknowledge", cmd.Acknowledge(by="amy")),
        (27 * MIN, "triage", cmd.Triage(by="amy", category="network")),
        (37 * MIN, "communicate_plan", cmd.CommunicatePlan(by="amy", plan="replace the router")),
        (H + 7 * MIN, "post_progress", cmd.PostProgress(by="amy", note="router ordered")),
        # resolve (3 h) breached at 3 h: major; ladder at +0/+1/+2 h
        (5 * H + 17 * MIN, "resolve", cmd.Resolve(by="sam", resolution="router replaced", remedy="compensation")),
        (5 * H + 27 * MIN, "notify_result", cmd.NotifyResult(by="amy")),
        (5 * H + 37 * MIN, "record_feedback", cmd.RecordFeedback(csat=2, nps=3, ces=5)),  # the survey went out
    ])
    assert final.state.value == "closed"
    assert [(b.clock.value, b.breach_class.value) for b in final.breaches] == [("resolve", "major")]
    assert [(e.clock.value, e.level) for e in final.escalations] == [("resolve", 1), ("resolve", 2), ("resolve", 3)]
    wid = workflow_id(cid)
    outcome = (await memo_of(c.client, wid))[MEMO_KEY]
    assert (outcome["complaint_id"], outcome["state"], outcome["resolved_in_time"], outcome["csat"]) == (
        cid, "closed", False, 2)
    plan = await stage.assessments.plan_status(plan_id(GOLDEN_CONTRACT, KpiName.MAJOR_RESOLVED_IN_TIME))
    assert [(m.trigger.value, m.complaint_id) for m in plan.misses] == [("complaint", cid)]
    (history,) = await run_histories(c.client, wid)
    assert patches_of(history) == [ENGINE_IN_WORKFLOW_PATCH, ARCHIVE_ON_CLOSE_PATCH]
    assert "cxsla.open_plan_for_complaint" in activity_types_of(history)
    assert "EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED" in event_types_of(history)  # upsert_memo
    return wid


async def complaint_negative_feedback(stage: Stage) -> str:
    """A normal complaint handled in time whose customer answers 1 of 5: significant negative feedback (000 §5.2)
    starts the CSAT improvement plan (the complaint decides from its policy snapshot; activity
    `cxsla.open_plan_for_complaint`, signal-with-start)."""
    c = stage.complaints
    cid = f"{GENERATION}-negative-feedback"
    final = await play_complaint(stage, cid, "normal", [
        (17 * MIN, "acknowledge", cmd.Acknowledge(by="amy")),
        (37 * MIN, "resolve", cmd.Resolve(by="sam", resolution="refunded", first_contact=True)),
        (47 * MIN, "notify_result", cmd.NotifyResult(by="amy")),
        (57 * MIN, "record_feedback", cmd.RecordFeedback(csat=1, nps=0, comment="never again")),
    ])
    assert final.state.value == "closed" and not final.breaches
    plan = await stage.assessments.plan_status(plan_id(GOLDEN_CONTRACT, KpiName.CSAT))
    assert [(m.trigger.value, m.complaint_id, m.value) for m in plan.misses] == [("feedback", cid, 1)]
    wid = workflow_id(cid)
    (history,) = await run_histories(c.client, wid)
    assert patches_of(history) == [ENGINE_IN_WORKFLOW_PATCH, ARCHIVE_ON_CLOSE_PATCH]
    assert "cxsla.open_plan_for_complaint" in activity_types_of(history)
    return wid


CSAT_EMAIL = SurveyBatch(batch_id="golden-email", channel=SurveyChannel.EMAIL,
                         csat=ScoreHistogram(scale=Scale.CSAT, counts={5: 4, 4: 2, 2: 3, 1: 1}),
                         nps=ScoreHistogram(scale=Scale.NPS, counts={10: 2, 8: 3, 3: 5}))
CSAT_SMS = SurveyBatch(batch_id="golden-sms", channel=SurveyChannel.SMS,
                       csat=ScoreHistogram(scale=Scale.CSAT, counts={5: 2, 3: 2}),
                       ces=ScoreHistogram(scale=Scale.CES, counts={6: 2, 2: 2}))
CSAT_WEB = SurveyBatch(batch_id="golden-web", channel=SurveyChannel.WEB,
                       csat=ScoreHistogram(scale=Scale.CSAT, counts={4: 3, 1: 3}))


async def cycle_missed_target(stage: Stage) -> str:
    """A monthly cycle of this month: three survey batches (one sent twice, one refused for other content under
    its id), CSAT 55 misses 85, so the cycle starts the CSAT improvement plan (a child) and writes its report."""
    env, a = stage.env, stage.assessments
    now = await stage.now()
    policy = a.policy.assessment(GOLDEN_CONTRACT)
    period = str(Period.containing(now, Cadence.MONTHLY, ZoneInfo(policy.calendar.timezone)))
    wid = f"cycle-{GENERATION}-missed-target"  # not cycle_workflow_id(...): a file's name must not carry a date
    calendar = resolve_at(policy.calendar_name, policy.calendar, now)
    handle = await env.client.start_workflow(
        AssessmentCycleWorkflow.run,
        CycleRun(contract=GOLDEN_CONTRACT, period=period, policy=policy, calendar=calendar), id=wid,
        task_queue=a.task_queue, search_attributes=cycle_search_attributes(GOLDEN_CONTRACT),
    )
    receipt = await handle.execute_update(AssessmentCycleWorkflow.add_survey_batch, CSAT_EMAIL)
    assert not receipt.duplicate and receipt.responses == 10
    receipt = await handle.execute_update(AssessmentCycleWorkflow.add_survey_batch, CSAT_SMS)
    assert not receipt.duplicate and receipt.batches == 2
    assert (await handle.execute_update(AssessmentCycleWorkflow.add_survey_batch, CSAT_EMAIL)).duplicate
    try:
        await handle.execute_update(AssessmentCycleWorkflow.add_survey_batch,
                                    CSAT_EMAIL.model_copy(update={"csat": CSAT_WEB.csat}))
        raise AssertionError("a batch id imported with other content was accepted")
    except WorkflowUpdateFailedError as exc:
        assert "other content" in str(exc.cause)
    await env.sleep(H)  # collection is at period end + 6 h: later batches still count
    receipt = await handle.execute_update(AssessmentCycleWorkflow.add_survey_batch, CSAT_WEB)
    assert receipt.batches == 3 and receipt.responses == 20
    result = await asyncio.wait_for(handle.result(), timeout=60)
    csat = result.assessment.kpi(KpiName.CSAT)
    assert csat.value == 55.0 and csat.met is False  # 11 of 20 answers 4 or 5
    assert [k.name for k in result.assessment.missed] == [KpiName.CSAT]
    pid = plan_id(GOLDEN_CONTRACT, KpiName.CSAT)
    assert result.plans_started == [pid] and result.report_files and not result.report_late
    plan = await a.plan_status(pid)
    assert plan.state is PlanState.AWAITING_PLAN and plan.misses[0].period == period
    return wid


async def cycle_report_delivered(stage: Stage) -> str:
    """A monthly cycle of a contract whose policy names report recipients: since `report-delivery` the finished
    report goes through the outbox (action `report:deliver`, with its recipients) before the cycle completes."""
    env, a = stage.env, stage.assessments
    now = await stage.now()
    policy = a.policy.assessment(GOLDEN_CONTRACT).model_copy(
        update={"report_to": ReportTo(email=["cx-lead@client.example.cn"], webhook=True)})
    period = str(Period.containing(now, Cadence.MONTHLY, ZoneInfo(policy.calendar.timezone)))
    wid = f"cycle-{GENERATION}-report-delivery"
    handle = await env.client.start_workflow(
        AssessmentCycleWorkflow.run,
        CycleRun(contract=GOLDEN_CONTRACT, period=period, policy=policy,
                 calendar=resolve_at(policy.calendar_name, policy.calendar, now)), id=wid,
        task_queue=a.task_queue, search_attributes=cycle_search_attributes(GOLDEN_CONTRACT),
    )
    await handle.execute_update(AssessmentCycleWorkflow.add_survey_batch, CSAT_WEB)
    result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.report_files and not result.report_late
    [sent] = [n for n in stage.sink.notifications if n.subject_id == wid and n.action_id == "report:deliver"]
    assert sent.report_to is not None and sent.report_to.email == ["cx-lead@client.example.cn"]
    return wid


async def cycle_third_party_missing(stage: Stage) -> str:
    """An annual cycle that checks the third-party score, for last year, with no score recorded: since
    `third-party-duty` the missing yearly survey is a breach of the policy's class, notified through the outbox."""
    env, a = stage.env, stage.assessments
    now = await stage.now()
    base = a.policy.assessment(GOLDEN_CONTRACT)
    policy = base.model_copy(update={
        "targets": {**base.targets, KpiName.THIRD_PARTY_SATISFACTION: Target(min=85)},
        "cycles": {**base.cycles, Cadence.ANNUAL: CycleSpec(grace="PT6H", report_within="PT48H",
                                                             assess=[KpiName.THIRD_PARTY_SATISFACTION],
                                                             start_plans=False)}})
    wid = f"cycle-{GENERATION}-third-party-missing"
    handle = await env.client.start_workflow(
        AssessmentCycleWorkflow.run,
        CycleRun(contract=GOLDEN_CONTRACT, period=str(now.year - 1), policy=policy,
                 calendar=resolve_at(policy.calendar_name, policy.calendar, now)), id=wid,
        task_queue=a.task_queue, search_attributes=cycle_search_attributes(GOLDEN_CONTRACT),
    )
    result = await asyncio.wait_for(handle.result(), timeout=60)
    assert len(result.missed_duties) == 1 and "major breach" in result.missed_duties[0]
    [sent] = [n for n in stage.sink.notifications if n.subject_id == wid and n.clock == "third_party_survey"]
    assert sent.kind.value == "breach" and sent.breach_class is not None and sent.breach_class.value == "major"
    return wid


async def start_golden_plan(stage: Stage, kpi: KpiName, value: float, target: Target, *,
                            continue_as_new_after_events: int | None = None, wid: str | None = None,
                            ) -> tuple[datetime, Period, WorkflowHandle[Any, PlanStatus]]:
    """The golden contract's plan for `kpi`, opened now by last month's cycle missing `target` with `value`
    (under id `wid` when given, else the plan's canonical id)."""
    a = stage.assessments
    policy = a.policy.assessment(GOLDEN_CONTRACT)
    t0 = await stage.now()
    month = Period.containing(t0, Cadence.MONTHLY, ZoneInfo(policy.calendar.timezone))
    miss = Miss(trigger=Trigger.CYCLE, period=str(month.previous()), value=value, target=target)
    run = new_plan_run(policy=policy, kpi=kpi, miss=miss, at=t0,
                       calendar=resolve_at(policy.calendar_name, policy.calendar, t0))
    run.continue_as_new_after_events = continue_as_new_after_events
    handle = await stage.env.client.start_workflow(ImprovementPlanWorkflow.run, run, id=wid or run.plan_id,
                                                   task_queue=a.task_queue,
                                                   search_attributes=plan_search_attributes(run))
    return t0, month, handle


async def plan_breach_then_effective(stage: Stage) -> str:
    """An improvement plan: a complaint's miss signalled, submitted in time (after a warning), one progress report,
    a cycle still missing the target, the next progress report missed (minor breach, full ladder), then a cycle
    meeting the target closes it as effective before the rectification deadline."""
    env, a = stage.env, stage.assessments
    t0, month, handle = await start_golden_plan(stage, KpiName.RESOLUTION_RATE, 0.8, Target(min=0.95))

    async def at(offset: timedelta, what: str) -> None:
        await skip_to(env, t0 + offset)
        await settle_workflow(env, handle.id)
        await clear_of_timers(env, (await handle.query(ImprovementPlanWorkflow.status)).next_due_at, what)

    await at(7 * MIN, "record_miss")
    await handle.signal(ImprovementPlanWorkflow.record_miss,
                        Miss(trigger=Trigger.COMPLAINT, complaint_id=f"{GENERATION}-x"))
    await at(6 * H + 7 * MIN, "submit_plan")  # submission (10 h) warned at 5 h
    submitted = await a.submit_plan(handle.id, SubmitPlan(
        root_cause="tickets wait for a second-line queue nobody owns", expected_effect="95 % resolved again",
        measures=[Measure(action="give the queue an owner", owner="desk manager", due=(t0 + 48 * H).date()),
                  Measure(action="weekend shift", owner="ops lead", due=(t0 + 96 * H).date())], by="pat"))
    assert submitted.state is PlanState.IN_PROGRESS and len(submitted.misses) == 2
    await at(12 * H + 7 * MIN, "report_progress")
    progress = await a.report_progress(handle.id, ReportProgress(summary="queue owned", measures_done=[0], by="pat"))
    assert progress.progress_reports == 1
    await at(14 * H + 7 * MIN, "record_cycle_result (missed)")
    await handle.execute_update(ImprovementPlanWorkflow.record_cycle_result,
                                RecordCycleResult(period=str(month), value=0.9, met=False, by="assessment-cycle"))
    # the next progress report (20 h after the first) is never made: breached at ~32 h, ladder at +0/+1/+2 h
    await at(35 * H + 7 * MIN, "record_cycle_result (met)")
    status = await handle.query(ImprovementPlanWorkflow.status)
    assert [(e.clock, e.level) for e in status.escalations] == [("plan_progress", 1), ("plan_progress", 2),
                                                               ("plan_progress", 3)]
    await handle.execute_update(ImprovementPlanWorkflow.record_cycle_result,
                                RecordCycleResult(period=str(month.next()), value=0.97, met=True,
                                                  by="assessment-cycle"))
    closed = await asyncio.wait_for(handle.result(), timeout=60)
    assert closed.state is PlanState.EFFECTIVE and [r.met for r in closed.cycle_results] == [False, True]
    assert {b.clock: b.breach_class.value for b in closed.breaches} == {"plan_progress": "minor"}
    return handle.id


async def golden_plan(stage: Stage, wid: str, kpi: KpiName, value: float, target: Target):
    """A plan of the golden contract opened now under id `wid` for a miss of the previous month; returns its
    handle, its opening instant, this month and `at(offset, what)`, which moves to that instant clear of timers."""
    env = stage.env
    t0, month, handle = await start_golden_plan(stage, kpi, value, target, wid=wid)

    async def at(offset: timedelta, what: str) -> None:
        await skip_to(env, t0 + offset)
        await settle_workflow(env, wid)
        await clear_of_timers(env, (await handle.query(ImprovementPlanWorkflow.status)).next_due_at, what)

    return handle, t0, month, at


async def plan_minor_rectification(stage: Stage) -> str:
    """A resolution-rate plan submitted and reported on in time whose target is not met again within the
    rectification window: since `plan-breach-class` that is a minor breach (003 §4.1), with the full ladder; a
    later cycle meeting the target closes it as effective."""
    a = stage.assessments
    wid = f"plan-{GENERATION}-minor-rectification"  # the resolution-rate plan of `plan` has the canonical id
    handle, t0, month, at = await golden_plan(stage, wid, KpiName.RESOLUTION_RATE, 0.8, Target(min=0.95))
    await at(H + 7 * MIN, "submit_plan")
    await a.submit_plan(wid, SubmitPlan(
        root_cause="second-line queue unowned", expected_effect="95 % resolved again",
        measures=[Measure(action="give the queue an owner", owner="desk manager", due=(t0 + 48 * H).date())]))
    for hours in (19, 37, 55):  # progress every 20 h, each in time
        await at(hours * H + 7 * MIN, "report_progress")
        await a.report_progress(wid, ReportProgress(summary=f"queue owned, hour {hours}"))
    await at(63 * H + 7 * MIN, "record_cycle_result (met)")  # rectification (60 h) breached, ladder at +0/+1/+2 h
    status = await handle.query(ImprovementPlanWorkflow.status)
    assert [(e.clock, e.level) for e in status.escalations] == [("plan_rectification", n) for n in (1, 2, 3)]
    await handle.execute_update(ImprovementPlanWorkflow.record_cycle_result,
                                RecordCycleResult(period=str(month.next()), value=0.97, met=True,
                                                  by="assessment-cycle"))
    closed = await asyncio.wait_for(handle.result(), timeout=60)
    assert closed.state is PlanState.EFFECTIVE
    assert {b.clock: b.breach_class.value for b in closed.breaches} == {"plan_rectification": "minor"}
    return wid


async def plan_revised(stage: Stage) -> str:
    """A plan submitted, revised after a review (since `plan-revision`: a second version, the first kept), a
    measure of the revision reported done, and closed as effective by a cycle meeting the target."""
    a = stage.assessments
    wid = f"plan-{GENERATION}-revised"
    handle, t0, month, at = await golden_plan(stage, wid, KpiName.CSAT, 70.0, Target(min=85))
    due = (t0 + 48 * H).date()
    await at(H + 7 * MIN, "submit_plan")
    await a.submit_plan(wid, SubmitPlan(root_cause="callbacks late", expected_effect="CSAT 85 again",
                                        measures=[Measure(action="callback within a day", owner="desk", due=due)]))
    await at(5 * H + 7 * MIN, "revise_plan")
    revised = await a.revise_plan(wid, RevisePlan(
        root_cause="callbacks late and scripts unclear", expected_effect="CSAT 85 again", by="cx manager",
        reason="the review found the scripts confuse customers",
        measures=[Measure(action="callback within 4 hours", owner="desk lead", due=due),
                  Measure(action="rewrite the refund script", owner="quality", due=due)]))
    assert revised.version == 2 and revised.submitted is not None and len(revised.submitted.measures) == 1
    await at(9 * H + 7 * MIN, "report_progress")
    progress = await a.report_progress(wid, ReportProgress(summary="script rewritten", measures_done=[1]))
    assert [(m.action, m.done) for m in progress.measures] == [("callback within 4 hours", False),
                                                               ("rewrite the refund script", True)]
    await at(11 * H + 7 * MIN, "record_cycle_result (met)")
    await handle.execute_update(ImprovementPlanWorkflow.record_cycle_result,
                                RecordCycleResult(period=str(month), value=88.0, met=True, by="assessment-cycle"))
    closed = await asyncio.wait_for(handle.result(), timeout=60)
    assert closed.state is PlanState.EFFECTIVE and [r.reason for r in closed.revisions] == [
        "the review found the scripts confuse customers"]
    return wid


class UncomputableMemos(KnownWorkflows):
    """One closed complaint whose outcome memo, as a release before the bounds could write it (10^400 handling
    seconds), no KPI arithmetic can take (AHT overflows a float), until `fixed`."""

    def __init__(self, client: Client, contract: str, received_at: datetime | None = None) -> None:
        super().__init__(client, [])
        self.contract, self.received_at = contract, received_at
        self.fixed = False
        self.listings = 0

    async def pages(self, query: str) -> AsyncIterator[list[Listed]]:
        if "ComplaintWorkflow" not in query:
            yield []
            return
        assert self.received_at is not None, "set received_at to a time in the cycle's period"
        self.listings += 1
        outcome = ComplaintOutcome(complaint_id="legacy-1", contract=self.contract, severity=Severity.NORMAL,
                                   state=ComplaintState.CLOSED, resolutions=1, received_at=self.received_at,
                                   handling_seconds=3600 if self.fixed else 10**400)
        yield [Listed("complaint-legacy-1", {MEMO_KEY: outcome.model_dump(mode="json")}, False)]


async def cycle_waits_for_fix(stage: Stage) -> str:
    """A monthly cycle whose collection finds a memo no KPI arithmetic can take: it waits, without a timer, until
    the memo is corrected and `retry` is asked (the `cycle-waits-for-fix` side of that patch)."""
    env, a = stage.env, stage.assessments
    memos = cast(UncomputableMemos, stage.known)
    now = await stage.now()
    policy = a.policy.assessment(GOLDEN_CONTRACT)
    period = str(Period.containing(now, Cadence.MONTHLY, ZoneInfo(policy.calendar.timezone)))
    wid = f"cycle-{GENERATION}-waits-for-fix"  # not cycle_workflow_id(...): a file's name must not carry a date
    handle = await env.client.start_workflow(
        AssessmentCycleWorkflow.run,
        CycleRun(contract=GOLDEN_CONTRACT, period=period, policy=policy,
                 calendar=resolve_at(policy.calendar_name, policy.calendar, now)),
        id=wid, task_queue=a.task_queue, search_attributes=cycle_search_attributes(GOLDEN_CONTRACT))
    await settle_workflow(env, wid)
    times = await handle.query(AssessmentCycleWorkflow.status)
    assert times.start is not None and times.collect_at is not None
    memos.received_at = times.start + H
    await skip_to(env, times.collect_at + H)
    await settle_workflow(env, wid)
    waiting = await handle.query(AssessmentCycleWorkflow.status)
    assert waiting.waiting_for_fix and waiting.retry_at is None and memos.listings == 1, waiting
    await skip_to(env, times.collect_at + 3 * H)  # nothing retries by itself
    assert memos.listings == 1
    memos.fixed = True
    await handle.execute_update(AssessmentCycleWorkflow.retry)
    result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.assessment is not None and memos.listings == 2
    return wid


async def plan_continued(stage: Stage) -> str:
    """An improvement plan that continues as new every 3 events (the `plan-bounded-carry` side of that patch): its
    long progress summaries stay in the history of the run that recorded them, the next run carries a marker; a
    cycle meeting the target closes it."""
    env, a = stage.env, stage.assessments
    t0, month, handle = await start_golden_plan(stage, KpiName.CSAT, 70.0, Target(min=85),
                                                continue_as_new_after_events=3)
    await settle_workflow(env, handle.id)
    await a.submit_plan(handle.id, SubmitPlan(
        root_cause="surveys reach customers before the repair is verified", expected_effect="CSAT above 85",
        measures=[Measure(action="survey after verification", owner="cx lead", due=(t0 + 48 * H).date())]))
    summary = "回访流程已调整，维修完成并经客户确认后再发送满意度调查。" * 4
    for _ in range(4):
        await a.report_progress(handle.id, ReportProgress(summary=summary, by="pat"))
        await settle_workflow(env, handle.id)
    await handle.execute_update(ImprovementPlanWorkflow.record_cycle_result,
                                RecordCycleResult(period=str(month), value=90.0, met=True, by="assessment-cycle"))
    closed = await result_of(env, handle.id, PlanStatus)
    assert closed.state is PlanState.EFFECTIVE and closed.progress_reports == 4
    runs = await run_histories(env.client, handle.id)
    carried = runs[-1].events[0].workflow_execution_started_event_attributes.input.payloads[0].data.decode()
    assert len(runs) >= 2 and "[elided:" in carried and "surveys reach customers" in carried
    return handle.id


async def outage_major_breach(stage: Stage) -> str:
    """A service interruption reported an hour after it began (and reported again: the same one), past its 4 h
    threshold: warnings, a major breach and the full ladder; restored, it ends with its duration."""
    env, a = stage.env, stage.assessments
    t0 = await stage.now()
    outage = f"{GENERATION}-major"
    _, created = await a.report_outage(ReportInterruption(
        id=outage, contract=GOLDEN_CONTRACT, started_at=t0 - H, summary="core router down", by="noc"))
    assert created
    wid = interruption_workflow_id(outage)
    await settle_workflow(env, wid)  # the status answered with the start can precede the first evaluation
    status = await a.outage_status(outage)
    assert status.clock is not None
    assert status.state == "ongoing" and status.clock.deadline == t0 + 3 * H
    _, created = await a.report_outage(ReportInterruption(id=outage, contract=GOLDEN_CONTRACT))
    assert not created
    await skip_to(env, t0 + 5 * H + 30 * MIN)  # warnings at 1 h and 2.2 h, breach at 3 h, ladder at 3 h, 4 h, 5 h
    await settle_workflow(env, wid)
    status = await a.outage_status(outage)
    assert status.major_breach and status.escalations == [f"interruption#1:escalate:{n}" for n in (1, 2, 3)]
    await stage.now()
    restored = await a.restore_outage(outage, Restore(note="router replaced", by="noc"))
    assert restored.duration_seconds is not None
    assert restored.state == "restored" and restored.duration_seconds >= 6.5 * 3600
    final = await result_of(env, wid, InterruptionStatus)
    assert final.restored_at == restored.restored_at and final.major_breach
    assert "EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED" in event_types_of((await run_histories(env.client, wid))[0])
    return wid


async def outage_archived(stage: Stage) -> str:
    """A short interruption, restored within its threshold: its record goes to the archive before it completes
    (archive-on-finish)."""
    env, a = stage.env, stage.assessments
    t0 = await stage.now()
    outage = f"{GENERATION}-archived"
    await a.report_outage(ReportInterruption(id=outage, contract=GOLDEN_CONTRACT, started_at=t0 - MIN, by="noc"))
    wid = interruption_workflow_id(outage)
    await settle_workflow(env, wid)
    await skip_to(env, t0 + 30 * MIN)
    await settle_workflow(env, wid)
    await a.restore_outage(outage, Restore(note="link back", by="noc"))
    final = await result_of(env, wid, InterruptionStatus)
    assert final.state == "restored" and not final.major_breach
    assert "cxsla.archive_record" in activity_types_of((await run_histories(env.client, wid))[-1])
    return wid


async def assigned_then_reassigned(stage: Stage) -> str:
    """Assigned to an agent and a group, then to a group alone: both in the timeline, CxAssignee follows, and the
    notices fired while the first assignment held name its owner."""
    env, c, cid = stage.env, stage.complaints, f"{GENERATION}-assigned"
    await c.open(OpenComplaint(id=cid, contract=CONTRACT, severity="normal", channel="web"))
    await command(env, c, cid, "assign", cmd.Assign(by="sam", to="amy", group="billing"))
    described = await c.client.get_workflow_handle(workflow_id(cid)).describe()
    assert described.typed_search_attributes.get(sa.ASSIGNEE) == "amy"
    await env.sleep(timedelta(seconds=12.5))  # acknowledge warns at 5 s and 8 s, breaches at 10 s
    await settle(env, cid)
    await command(env, c, cid, "acknowledge", cmd.Acknowledge(by="amy"))
    await command(env, c, cid, "assign", cmd.Assign(by="sam", group="refunds", note="refund desk takes it"))
    described = await c.client.get_workflow_handle(workflow_id(cid)).describe()
    assert described.typed_search_attributes.get(sa.ASSIGNEE) is None
    await command(env, c, cid, "withdraw", cmd.Withdraw(by="sam", reason="customer withdrew"))
    final = await result_after(env, c.client, cid)
    assigned = [t for t in final.timeline if t["type"] == "assigned"]
    assert [(t["by"], t.get("to"), t.get("group")) for t in assigned] == [
        ("sam", "amy", "billing"), ("sam", None, "refunds")]
    assert (final.assignee, final.group) == (None, "refunds")
    breach = [n for n in stage.sink.received if n.action_id == "acknowledge#1:breach"]
    assert [(n.assignee, n.group) for n in breach] == [("amy", "billing")]
    return workflow_id(cid)


SCENARIOS: list[Scenario] = [
    _complaint_scenario("lifecycle", lifecycle_with_breach),
    _complaint_scenario("pause-extend", pause_extend_reclassify),
    _complaint_scenario("continued", continued_as_new),
    _complaint_scenario("elided", continued_with_long_notes),
    Scenario("held-survey", reopened_with_survey_undelivered, sink=RefusingSink),
    Scenario("major-breach", complaint_major_breach, golden_policy=True),
    Scenario("negative-feedback", complaint_negative_feedback, golden_policy=True),
    Scenario("cycle", cycle_missed_target, golden_policy=True),
    Scenario("plan", plan_breach_then_effective, golden_policy=True),
    Scenario("plan-continued", plan_continued, golden_policy=True),
    Scenario("cycle-waits-for-fix", cycle_waits_for_fix, golden_policy=True,
             known=lambda client: UncomputableMemos(client, GOLDEN_CONTRACT)),
    Scenario("outage", outage_major_breach, golden_policy=True),
    Scenario("plan-minor", plan_minor_rectification, golden_policy=True),
    Scenario("cycle-report", cycle_report_delivered, golden_policy=True),
    Scenario("plan-revised", plan_revised, golden_policy=True),
    Scenario("cycle-third-party", cycle_third_party_missing, golden_policy=True),
    _complaint_scenario("archived", archived_on_withdrawal),
    Scenario("outage-archived", outage_archived, golden_policy=True),
    Scenario("assigned", assigned_then_reassigned),
]


@asynccontextmanager
async def _stage(env: WorkflowEnvironment, scenario: Scenario) -> AsyncIterator[Stage]:
    sink = scenario.sink()
    known = scenario.known(env.client)
    if not scenario.golden_policy:  # the complaint scenarios' worker, exactly as it always was
        async with cxsla_worker(env.client, sink=sink) as queue:
            complaints = ComplaintClient(env.client, task_queue=queue, policy=test_policy())
            yield Stage(env, complaints, AssessmentClient.of(complaints), known, sink)
        return
    with tempfile.TemporaryDirectory(prefix="cxsla-golden-") as tmp:
        path, policy = write_policy(GOLDEN_POLICY_RAW, Path(tmp) / "policy.toml")
        async with assessment_worker(env.client, policy_path=path, report_dir=Path(tmp) / "reports", known=known,
                                     sink=sink) as (queue, _):
            complaints = ComplaintClient(env.client, task_queue=queue, policy=policy)
            yield Stage(env, complaints, AssessmentClient.of(complaints), known, sink)


async def record(scenario: Scenario, out: Path) -> list[Path]:
    """Run one scenario on a fresh server; write and return one JSON file per run (replacing that workflow's)."""
    async with time_skipping_server() as env:
        async with _stage(env, scenario) as stage:
            wid = await scenario.play(stage)
            histories = await assert_no_workflow_task_failures(env.client, wid)
    for stale in out.glob(f"{glob.escape(wid)}.run*.json"):
        stale.unlink()
    written = []
    for n, history in enumerate(histories, start=1):
        path = out / f"{history.workflow_id}.run{n}.json"
        path.write_text(history.to_json() + "\n", encoding="utf-8")
        written.append(path)
    return written


def history_files(directory: Path = HERE) -> list[Path]:
    return sorted(directory.glob("*.json"))


def current_generation(path: Path) -> bool:
    """Recorded by today's scenarios (the other files are frozen histories of earlier releases)."""
    return f"-{GENERATION}-" in path.name


def workflow_id_of(path: Path) -> str:
    return path.name.split(".run")[0]


def history_of(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(workflow_id_of(path), path.read_text())


def replayer() -> Replayer:
    """Today's workflows, as a worker would run them (the plugin's converter)."""
    return Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)


async def main(out: Path = HERE, only: list[str] | None = None) -> None:
    """Record the scenarios named in `only` (their files replaced, every other file untouched), or all of them
    (the current generation's files replaced; histories of earlier releases are never touched)."""
    out.mkdir(parents=True, exist_ok=True)
    if only is None:
        for old in history_files(out):
            if current_generation(old):
                old.unlink()
    for s in SCENARIOS:
        if only is None or s.name in only:
            for path in await record(s, out):
                print(f"{datetime.now(timezone.utc):%H:%M:%S} wrote {path}", file=sys.stderr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.histories.record",
        description="Record golden workflow histories. Without --only every scenario is recorded again (files of "
                    "earlier releases stay).")
    parser.add_argument("out", nargs="?", type=Path, default=HERE, help=f"directory (default {HERE})")
    parser.add_argument("--only", action="append", metavar="NAME", choices=[s.name for s in SCENARIOS],
                        help="record this scenario only, leaving the other files as they are (repeatable): "
                             + ", ".join(s.name for s in SCENARIOS))
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main(args.out, args.only))
