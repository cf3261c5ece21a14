"""Assessment against a real dev server: a past period's complaints are read from Temporal visibility (search
attributes + memo, paged), schedules start cycles, and what-if simulation replays the period under another policy.

Complaints of a past month are imported with their own history (ComplaintClient.import_history), so a past
period needs no waiting; each module run uses a contract of its own so nothing else on the server is counted.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import pytest
import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.assessment import PAGE_SIZE, VisibilitySource
from plugin import CxSlaPlugin
from sla import events as ev
from sla.kpi import KpiName
from sla.names import complaints_query
from sla.periods import Cadence
from sla.reporting import CycleResult, cycle_workflow_id
from sla.vocabulary import Severity
from starter.client.assessment import AssessmentClient, schedule_id, simulate_period
from starter.client.complaints import ComplaintClient
from starter.service.metrics import cycle_completion_gauges, kpi_gauges
from starter.service.settings import Settings
from starter.service.worker_runtime import ensure_schedules
from tests.helpers.e2e import cli
from tests.helpers.policies import default_raw, write_policy
from tests.helpers.sinks import RecordingSink
from tests.helpers.temporal import task_queue

SEPTEMBER = datetime(2026, 9, 1, tzinfo=timezone.utc)
H = timedelta(hours=1)
COMPLAINTS = 36


def history(contract: str, i: int, received: datetime) -> list[ev._Event]:
    """A complaint handled elsewhere: acknowledged after 1 h (every 6th after 3 h), resolved the next day (some
    majors after 3 days), feedback from the resolved ones; every 12th withdrawn after acknowledgment."""
    cid = f"{contract}-{i:03d}"
    severity = [Severity.NORMAL, Severity.MAJOR, Severity.LOW][i % 3]
    ack = received + (3 * H if i % 6 == 0 else H)
    events: list[ev._Event] = [
        ev.Received(at=received, complaint_id=cid, contract=contract, severity=severity, channel="email",
                    customer_name="Wang Fang"),
        ev.Acknowledged(at=ack, by="desk"),
    ]
    if i % 12 == 11:
        return [*events, ev.Withdrawn(at=ack + H)]
    resolved = received + (72 * H if i % 9 == 1 else 24 * H)  # i % 9 == 1: majors, late for a 2-day target
    events += [
        ev.Triaged(at=ack + H),
        ev.Resolved(at=resolved, resolution="refund", first_contact=i % 2 == 0, handling_seconds=900),
        ev.ResultNotified(at=resolved + H),
        ev.FeedbackRecorded(at=resolved + 2 * H, csat=5 if i % 4 else 3),
    ]
    return events


@pytest.fixture(scope="module")
def contract() -> str:
    return f"vis-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def policy(contract, tmp_path_factory):
    raw = default_raw()
    raw["contracts"][contract] = raw["contracts"]["always-on"]
    strict = default_raw()
    strict["contracts"][contract] = strict["contracts"]["always-on"]
    strict["contracts"][contract]["targets"]["acknowledge"] = "2 working hours"
    strict["contracts"][contract]["severity"]["major"]["targets"]["resolve"] = "2 working days"
    folder = tmp_path_factory.mktemp("policy")
    return write_policy(raw, folder / "policy.toml"), write_policy(strict, folder / "strict.toml")[1]


@pytest.fixture(scope="module")
def sink() -> RecordingSink:
    """What the module's worker sent."""
    return RecordingSink()


@pytest_asyncio.fixture(scope="module")
async def service(dev_env, contract, policy, sink, tmp_path_factory):
    (path, parsed), _ = policy
    queue = task_queue()
    plugin = CxSlaPlugin(sink=sink, policy_path=path, report_dir=str(tmp_path_factory.mktemp("reports")))
    async with Worker(dev_env.client, task_queue=queue, plugins=[plugin]):
        complaints = ComplaintClient(dev_env.client, task_queue=queue, policy=parsed)
        yield complaints, AssessmentClient.of(complaints), queue, path


@pytest_asyncio.fixture(scope="module")
async def september(service, contract, dev_env):
    """The month's complaints imported (plus one before and one after it); the September cycle's result."""
    complaints, cycles, _, _ = service
    received = [SEPTEMBER + timedelta(days=i % 28, hours=9 + i % 5) for i in range(COMPLAINTS)]
    logs = [history(contract, i, at) for i, at in enumerate(received)]
    outside = [history(contract, 900, SEPTEMBER - timedelta(hours=3)), history(contract, 901, SEPTEMBER + timedelta(
        days=30, hours=2))]
    opened = await asyncio.gather(*(complaints.import_history(log) for log in logs + outside))
    assert all(o.created for o in opened)
    query = complaints_query(contract, SEPTEMBER, SEPTEMBER + timedelta(days=30))

    async def listed() -> int:
        return (await dev_env.client.count_workflows(f"{query} AND ExecutionStatus = 'Completed'")).count

    for _ in range(150):  # visibility is eventually consistent: bounded wait for every import to be listed
        if await listed() == COMPLAINTS:
            break
        await asyncio.sleep(0.2)
    assert await listed() == COMPLAINTS
    status, created = await cycles.start_cycle(contract, "2026-09")
    assert created
    handle = dev_env.client.get_workflow_handle(cycle_workflow_id(contract, "2026-09"), result_type=CycleResult)
    return logs, await handle.result()


E = TypeVar("E", bound=ev._Event)


def _the(event_type: type[E], event: ev._Event) -> E:
    """The event as the type its place in a history() log has."""
    assert isinstance(event, event_type), event
    return event


def _expected(logs: list[list[ev._Event]]) -> dict[KpiName, float]:
    kept = [log for log in logs if not isinstance(log[-1], ev.Withdrawn)]
    acks = sorted((log[1].at - log[0].at).total_seconds() for log in logs)
    resolved = [log for log in kept if any(isinstance(e, ev.Resolved) for e in log)]
    target_h = {Severity.NORMAL: 240, Severity.MAJOR: 120, Severity.LOW: 360}
    major = [log for log in resolved if _the(ev.Received, log[0]).severity is Severity.MAJOR]
    in_time = [log for log in major if (log[3].at - log[0].at) <= target_h[Severity.MAJOR] * H]
    feedback = [_the(ev.FeedbackRecorded, log[-1]).csat for log in resolved]
    return {
        KpiName.RESOLUTION_RATE: len(resolved) / len(kept),
        KpiName.FCR: sum(1 for log in resolved if _the(ev.Resolved, log[3]).first_contact) / len(resolved),
        KpiName.AHT: 900.0,
        KpiName.FIRST_RESPONSE_P90: acks[math.ceil(0.9 * len(acks)) - 1],
        KpiName.FIRST_RESPONSE_P50: acks[math.ceil(0.5 * len(acks)) - 1],
        KpiName.COMPLIANCE_ACKNOWLEDGE: sum(1 for a in acks if a <= 7200) / len(acks),
        KpiName.MAJOR_RESOLVED_IN_TIME: len(in_time) / len(major),
        KpiName.CSAT: 100 * sum(1 for c in feedback if c >= 4) / len(feedback),
    }


async def test_a_past_period_is_read_from_visibility_and_assessed(september):
    logs, result = september
    got = {k.name: k for k in result.assessment.kpis}
    assert result.assessment.complaints == COMPLAINTS  # the ones before and after September are not counted
    assert result.assessment.withdrawn == sum(isinstance(log[-1], ev.Withdrawn) for log in logs)
    for name, value in _expected(logs).items():
        assert got[name].value == pytest.approx(value), name
    assert got[KpiName.COMPLIANCE_ACKNOWLEDGE].met is False  # 6 of 36 acknowledged after 3 h: 83 % < 95 %
    assert KpiName.COMPLIANCE_ACKNOWLEDGE in {k.name for k in result.assessment.missed}
    assert result.plans_started == []  # the monthly performance report does not start plans
    assert result.report_delivered_at is not None and len(result.report_files) == 3


async def test_the_worker_exports_the_last_cycle_kpis_as_gauges(september, contract, dev_env):
    _, result = september
    samples = {(s.spec.name, tuple(sorted(s.labels.items()))): s.value
               for s in await kpi_gauges([contract])(dev_env.client)}
    key = (("contract", contract),)
    assert samples[("cxsla_kpi_resolution_rate_ratio", key)] == result.assessment.kpi(KpiName.RESOLUTION_RATE).value
    assert samples[("cxsla_kpi_targets_missed", key)] == len(result.assessment.missed)
    compliance = samples[("cxsla_kpi_clock_compliance_ratio", (("clock", "acknowledge"), ("contract", contract)))]
    assert compliance == result.assessment.kpi(KpiName.COMPLIANCE_ACKNOWLEDGE).value


async def test_imported_history_is_not_sent_again_and_keeps_its_breaches(service, september, sink, contract,
                                                                          dev_env):
    complaints, _, _, _ = service
    late = await complaints.status(f"{contract}-000")  # acknowledged after 3 h: a breach at its deadline
    breach = next(b for b in late.breaches if b.clock.value == "acknowledge")
    assert breach.at == breach.deadline  # recorded as it happened, not as now
    assert "Wang Fang" not in json.dumps(late.public())
    with pytest.raises(Exception, match="earlier than|future|cannot import"):
        await complaints.import_history([history(contract, 950, SEPTEMBER)[1]])
    # Every imported complaint has completed (the fixture waited for that), so anything it would send has been
    # delivered: its warnings, breaches and escalations happened elsewhere and reach nobody now.
    assert sink.ids(f"{contract}-000") == []
    assert [n.action_id for n in sink.received if n.subject == "complaint"] == []
    assert [n for n in sink.received if n.subject == "assessment_report"]  # the same sink: the late report's


async def test_paging_reads_every_page(september, contract, dev_env):
    """Pages of 7 list every complaint of the month exactly once (cycles read 1000 at a time)."""
    assert PAGE_SIZE == 1000
    source = VisibilitySource(dev_env.client, page_size=7)
    pages = [page async for page in source.pages(complaints_query(contract, SEPTEMBER, SEPTEMBER + timedelta(days=30)))]
    ids = [item.memo["cxsla.outcome"]["complaint_id"] for page in pages for item in page]
    assert len(pages) == math.ceil(COMPLAINTS / 7) and sorted(ids) == sorted(set(ids)) and len(ids) == COMPLAINTS


async def test_simulating_a_stricter_policy_shows_the_breaches_it_would_add(service, september, contract, policy):
    _, cycles, _, _ = service
    _, strict = policy
    logs, _ = september
    result = await simulate_period(cycles, strict, contract, "2026-09")
    assert result.complaints == COMPLAINTS
    counts = {(b.clock, b.breach_class): (b.before, b.after) for b in result.breaches}
    slow_acks = sum(1 for log in logs if log[1].at - log[0].at > 2 * H)
    assert counts[("acknowledge", "minor")] == (slow_acks, slow_acks)
    # majors resolved after 3 days meet 5 working days but not the proposed 2
    late_majors = sum(1 for log in logs if log[0].severity is Severity.MAJOR and not isinstance(log[-1], ev.Withdrawn)
                      and log[3].at - log[0].at > 48 * H)
    assert late_majors > 0
    assert counts[("resolve", "major")] == (0, late_majors)
    before = result.before.kpi(KpiName.MAJOR_RESOLVED_IN_TIME)
    after = result.after.kpi(KpiName.MAJOR_RESOLVED_IN_TIME)
    assert after.value is not None
    assert before.value == 1.0 and after.value < 1.0 and after.met is False


async def test_the_cli_renders_the_report_and_runs_the_simulation(service, september, contract, policy, dev_env,
                                                                  tmp_path):
    _, _, queue, path = service
    env = {"TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host, "CXSLA_TASK_QUEUE": queue,
           "CXSLA_POLICY": path, "CXSLA_CODEC_KEY_FILE": str(tmp_path / "none")}
    md = cli("report", "--contract", contract, "--period", "2026-09", "--format", "md", env=env).stdout
    assert "First-contact resolution" in md and "2026-09" in md
    html = tmp_path / "r.html"
    cli("report", "--contract", contract, "--period", "2026-09", "--format", "html", "-o", str(html), env=env)
    assert "<svg" in html.read_text()
    strict_path = path.replace("policy.toml", "strict.toml")
    # in a thread: the worker answering the CLI's queries runs on this test's event loop
    doc = json.loads((await asyncio.to_thread(cli, "simulate", "--policy", strict_path, "--contract", contract,
                                              "--period", "2026-09", "--json", env=env)).stdout)
    assert doc["complaints"] == COMPLAINTS and doc["after"]["contract"] == contract
    bad = cli("report", "--contract", contract, "--period", "2026-13", env=env, check=False)
    assert bad.returncode != 0 and "cannot read period" in bad.stderr


async def test_schedules_are_idempotent_and_a_triggered_one_starts_the_current_cycle(service, contract, dev_env):
    _, cycles, _, _ = service
    first = await cycles.schedule_cycles([contract])
    assert {(r["cadence"], r["created"]) for r in first} == {("monthly", True), ("quarterly", True), ("annual", True)}
    again = await cycles.schedule_cycles([contract])
    assert {r["created"] for r in again} == {False}
    monthly = dev_env.client.get_schedule_handle(schedule_id(contract, Cadence.MONTHLY))
    description = await monthly.describe()
    assert description.schedule.spec.time_zone_name == "UTC"
    try:
        await monthly.trigger()
        now = datetime.now(timezone.utc)
        cycle_id = cycle_workflow_id(contract, f"{now.year}-{now.month:02d}")
        for _ in range(100):
            try:
                described = await dev_env.client.get_workflow_handle(cycle_id).describe()
                break
            except Exception:  # noqa: BLE001 - not started yet
                await asyncio.sleep(0.1)
        assert described.status == WorkflowExecutionStatus.RUNNING
        period = f"{now.year}-{now.month:02d}"
        status = await cycles.cycle_status(contract, period)
        for _ in range(300):  # its first task plans the period (a local activity): a loaded machine takes a while
            if status.phase != "planning":
                break
            await asyncio.sleep(0.1)
            status = await cycles.cycle_status(contract, period)
        assert status.phase == "accepting_surveys"
        await dev_env.client.get_workflow_handle(cycle_id).terminate("test over")
    finally:
        for row in first:
            await dev_env.client.get_schedule_handle(row["schedule_id"]).delete()


async def test_the_worker_puts_the_schedules_in_place_and_exports_when_each_cadence_last_completed(
        service, september, contract, policy, dev_env):
    """Assessment runs by itself: a starting worker creates the Schedules (again: nothing changes, an operator's
    pause stays), and the gauge an alert watches says when each cadence last completed, or before the first cycle
    when its Schedule was created."""
    _, _, queue, _ = service
    (_, parsed), _ = policy
    settings = Settings(task_queue=queue)
    assert await ensure_schedules(dev_env.client, settings, parsed, [contract])
    handles = {c: dev_env.client.get_schedule_handle(schedule_id(contract, c)) for c in Cadence}
    try:
        await handles[Cadence.MONTHLY].pause(note="held by ops")
        assert await ensure_schedules(dev_env.client, settings, parsed, [contract])
        state = (await handles[Cadence.MONTHLY].describe()).schedule.state
        assert state.paused and state.note == "held by ops"
        created = {c: (await h.describe()).info.created_at for c, h in handles.items()}
        samples = {s.labels["cadence"]: s.value for s in await cycle_completion_gauges(parsed)(dev_env.client)
                   if s.labels["contract"] == contract}
        september_closed = (await dev_env.client.get_workflow_handle(
            cycle_workflow_id(contract, "2026-09")).describe()).close_time
        assert september_closed is not None
        assert samples == {"monthly": september_closed.timestamp(),
                           "quarterly": created[Cadence.QUARTERLY].timestamp(),
                           "annual": created[Cadence.ANNUAL].timestamp()}
    finally:
        for handle in handles.values():
            await handle.delete()


async def test_the_cli_imports_surveys_without_personal_columns_and_works_outages(service, contract, dev_env, tmp_path):
    _, _, queue, path = service
    env = {"TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host, "CXSLA_TASK_QUEUE": queue,
           "CXSLA_POLICY": path, "CXSLA_CODEC_KEY_FILE": str(tmp_path / "none")}

    async def run(*args, check=True):
        return await asyncio.to_thread(cli, *args, env=env, check=check)

    answers = tmp_path / "answers.csv"
    answers.write_text("name,phone,CSAT,nps,comment\nZhao Lei,+86 137 0000 1111,5,9,fast\n"
                       "Qian Li,+86 137 0000 2222,2,,too slow\n", encoding="utf-8")
    args = ("survey", "import", str(answers), "--contract", contract, "--period", "2031-05", "--channel", "sms")
    no_cycle = await run(*args, check=False)  # an import never starts a cycle
    assert no_cycle.returncode != 0 and "an admin starts it" in no_cycle.stderr, no_cycle.stderr
    await run("cycle", "start", "--contract", contract, "--period", "2031-05")
    first = json.loads((await run(*args, "--json")).stdout)
    assert first["duplicate"] is False and first["answers_in_file"] == 2
    assert json.loads((await run(*args, "--json")).stdout)["duplicate"] is True  # same file: nothing changes
    shown = (await run("cycle", "show", "--contract", contract, "--period", "2031-05", "--json")).stdout
    assert json.loads(shown)["responses"] == 2
    for secret in ("Zhao Lei", "137 0000", "too slow"):
        assert secret not in shown
    raw = json.dumps([str(e) async for e in dev_env.client.get_workflow_handle(
        cycle_workflow_id(contract, "2031-05")).fetch_history_events()])
    for secret in ("Zhao Lei", "137 0000", "too slow"):  # not even inside the raw history
        assert secret not in raw
    bad = tmp_path / "bad.csv"
    bad.write_text("csat\n6\n")
    refused = await run("survey", "import", str(bad), "--contract", contract, "--period", "2031-05", "--channel",
                        "sms", check=False)
    assert refused.returncode == 2 and "row 1" in refused.stderr and "csat" in refused.stderr

    opened = json.loads((await run("outage", "open", "--id", f"{contract}-o1", "--contract", contract,
                                   "--summary", "gateway down", "--json")).stdout)
    assert opened["created"] is True and opened["clock"]["state"] == "running"
    restored = json.loads((await run("outage", "restore", f"{contract}-o1", "--json")).stdout)
    assert restored["state"] == "restored" and restored["duration_seconds"] >= 0
    again = await run("outage", "restore", f"{contract}-o1", check=False)
    assert again.returncode == 1 and "closed" in again.stderr
    missing = await run("plan", "show", f"plan-{contract}-csat", check=False)
    assert missing.returncode == 1 and "no workflow" in missing.stderr
    await dev_env.client.get_workflow_handle(cycle_workflow_id(contract, "2031-05")).terminate("test over")
