"""A year nobody has published yet never stops a clock (time-skipping server, the shipped policy).

December 2026: the `holidays` package knows China's schedule only to 2026. A complaint received on 28 December
opens and runs on the weekly pattern for 2027, flagged provisional; once an operator publishes 2027 in the policy
and the calendar is refreshed, its deadlines move to the published days (a weekday holiday pushes one, a make-up
Saturday pulls one in) and the flag clears. A cycle for 2026-Q4 completes; a cycle whose step keeps failing
retries, continues as new and never fails; a supervisor may extend into an unknown year.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowHandle

from activities.attributes import cycle_search_attributes
from sla import commands as cmd
from sla.calendar import CalendarUpdate
from sla.commands import OpenComplaint
from sla.cycles import CycleRun
from sla.official_calendar import resolve, resolve_at
from sla.policy import parse_policy
from sla.reporting import CycleResult
from sla.status import ComplaintStatus
from starter.client.assessment import AssessmentClient
from starter.client.complaints import ComplaintClient, workflow_id
from tests.helpers.assessment import KnownWorkflows, assessment_worker, result_of
from tests.helpers.calendars import last_published_cn_year
from tests.helpers.policies import default_raw, write_policy
from tests.helpers.sinks import RecordingSink
from tests.helpers.temporal import cxsla_worker
from tests.histories.record import assert_no_task_failures, assert_no_workflow_task_failures, run_histories, settle
from workflows.complaint import ComplaintWorkflow
from workflows.cycle import AssessmentCycleWorkflow

SH = ZoneInfo("Asia/Shanghai")
# This test's own 2027 schedule (the real one is the State Council's): New Year's Day a Friday, two weekday
# holidays mid-January, and Saturday 9 January worked instead.
PUBLISHED_2027 = {"holidays": ["2027-01-01", "2027-01-14", "2027-01-15"], "workdays": ["2027-01-09"]}

pytestmark = pytest.mark.skipif(last_published_cn_year() >= 2027,
                                reason="the installed holidays package already knows 2027")


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SH)


def published_policy():
    raw = default_raw()
    raw["calendars"]["cn-standard"]["years"] = {"2027": PUBLISHED_2027}
    return parse_policy(raw)


async def skip_to(env, instant: datetime) -> None:
    gap = instant - await env.get_current_time()
    assert gap > timedelta(0), f"already past {instant.isoformat()}"
    await env.sleep(gap)


def clock(status: ComplaintStatus, name: str):
    return [c for c in status.clocks if c.name.value == name][-1]


async def refresh(handle: WorkflowHandle, policy) -> bool:
    """What `cxsla calendar refresh` sends each live clock (the time-skipping server cannot list workflows)."""
    data = resolve("cn-standard", policy.calendars["cn-standard"], range(2025, 2030))
    answer = await handle.execute_update(ComplaintWorkflow.refresh_calendar, CalendarUpdate.of(data, by="ops"))
    return answer.changed


async def test_a_complaint_received_before_the_new_year_is_provisional_until_the_year_is_published(
    own_time_skipping_env,
):
    env = own_time_skipping_env
    sink = RecordingSink()
    await skip_to(env, sh(2026, 12, 28, 10, 0))
    async with cxsla_worker(env.client, sink=sink) as queue:
        # the shipped policy, with extensions allowed past a year so that one can reach a year nobody published
        shipped = parse_policy({**default_raw(), "limits": {"extend_within_days": 800}})
        now = await env.get_current_time()
        desk = ComplaintClient(env.client, task_queue=queue, policy=shipped, clock=lambda: now)

        a = (await desk.open(OpenComplaint(id="dec-28", contract="default", severity="low",
                                              received_at=sh(2026, 12, 28, 10, 0)))).status
        assert clock(a, "acknowledge").deadline == sh(2026, 12, 28, 12, 0) and not clock(a, "acknowledge").provisional
        # 15 working days on the weekly pattern for 2027: New Year's Day counts until the year is published
        resolve_clock = clock(a, "resolve")
        assert resolve_clock.deadline == sh(2027, 1, 18, 10, 0) and resolve_clock.provisional
        assert a.provisional and a.public()["clocks"][-1]["provisional"] is True
        for name, body in (("acknowledge", cmd.Acknowledge(by="amy")), ("triage", cmd.Triage(by="amy")),
                           ("communicate_plan", cmd.CommunicatePlan(by="amy"))):
            await desk.command("dec-28", name, body)

        # The clocks run meanwhile: a complaint opened on Friday 8 January at 17:00 is due Monday 10:00.
        await skip_to(env, sh(2027, 1, 8, 17, 0))
        now = await env.get_current_time()
        desk.clock = lambda: now
        b = (await desk.open(OpenComplaint(id="jan-8", contract="default", severity="normal",
                                              received_at=sh(2027, 1, 8, 17, 0)))).status
        assert clock(b, "acknowledge").deadline == sh(2027, 1, 11, 10, 0) and clock(b, "acknowledge").provisional

        # 2027 is published in the policy; the live clocks take it
        policy = published_policy()
        handle_a = env.client.get_workflow_handle(workflow_id("dec-28"))
        handle_b = env.client.get_workflow_handle(workflow_id("jan-8"))
        assert await refresh(handle_a, policy) and await refresh(handle_b, policy)
        a, b = await desk.status("dec-28"), await desk.status("jan-8")
        # two weekday holidays push the resolution two working days later
        assert clock(a, "resolve").deadline == sh(2027, 1, 20, 10, 0) and not clock(a, "resolve").provisional
        # the make-up Saturday pulls the acknowledgment in to Saturday 10:00
        assert clock(b, "acknowledge").deadline == sh(2027, 1, 9, 10, 0) and not b.provisional
        assert not a.provisional
        assert [e["type"] for e in a.timeline][-1] == "calendar_updated"
        # refreshing twice changes nothing the second time
        assert not await refresh(handle_a, policy)
        assert [e["type"] for e in (await desk.status("dec-28")).timeline].count("calendar_updated") == 1

        # the pulled-in deadline is enforced on the Saturday
        await skip_to(env, sh(2027, 1, 9, 10, 30))
        await settle(env, "jan-8")
        breach = next(n for n in sink.notifications if n.action_id == "acknowledge#1:breach"
                      and n.subject_id == "jan-8")
        assert breach.deadline == sh(2027, 1, 9, 10, 0)

        # a supervisor may extend into a year nobody knows yet: accepted, and flagged
        extended = await desk.command("dec-28", "extend", cmd.Extend(
            clock="resolve", until=sh(2028, 3, 1, 12, 0), reason="waiting for the regulator", by="sup"))
        assert clock(extended, "resolve").deadline == sh(2028, 3, 1, 12, 0)
        assert clock(extended, "resolve").provisional and extended.provisional
        for cid in ("dec-28", "jan-8"):
            await assert_no_task_failures(env.client, cid)


async def test_a_cycle_for_2026_q4_completes_on_a_provisional_grace_day(own_time_skipping_env, tmp_path):
    env = own_time_skipping_env
    path, policy = write_policy(default_raw(), tmp_path / "policy.toml")
    known = KnownWorkflows(env.client, [])
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "reports", known=known) as (
            queue, _):
        assessment = policy.assessment("default")
        now = await env.get_current_time()
        run = CycleRun(contract="default", period="2026-Q4", policy=assessment,
                       calendar=resolve_at(assessment.calendar_name, assessment.calendar, datetime(
                           2026, 10, 1, tzinfo=timezone.utc)))
        handle = await env.client.start_workflow(AssessmentCycleWorkflow.run, run, id="cycle-default-2026-Q4",
                                                 task_queue=queue,
                                                 search_attributes=cycle_search_attributes("default"))
        status = await handle.query(AssessmentCycleWorkflow.status)
        # the quarter ends at midnight 1 January in Shanghai; one working day of grace on the weekly pattern
        assert status.end == sh(2027, 1, 1) and status.collect_at == sh(2027, 1, 4, 9, 0)
        assert status.provisional and status.error is None
        assert now < status.collect_at
        result: CycleResult = await asyncio.wait_for(handle.result(), timeout=60)
        assert result.period == "2026-Q4" and result.report_delivered_at is not None
        await assert_no_workflow_task_failures(env.client, handle.id)


class FlakySource(KnownWorkflows):
    """Visibility that fails until told to work again."""

    def __init__(self, client) -> None:
        super().__init__(client, [])
        self.broken = True
        self.calls = 0

    async def pages(self, query: str):
        self.calls += 1
        if self.broken:
            raise RuntimeError("visibility store unavailable")
        async for page in super().pages(query):
            yield page


async def test_a_cycle_whose_collection_keeps_failing_retries_continues_as_new_and_never_fails(
    own_time_skipping_env, tmp_path,
):
    env = own_time_skipping_env
    path, policy = write_policy(default_raw(), tmp_path / "policy.toml")
    source = FlakySource(env.client)
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "reports", known=source) as (
            queue, _):
        assessment = policy.assessment("always-on")
        run = CycleRun(contract="always-on", period="2026-10", policy=assessment, continue_as_new_history=60,
                       calendar=resolve_at(assessment.calendar_name, assessment.calendar,
                                           datetime(2026, 10, 1, tzinfo=timezone.utc)))
        wid = "cycle-always-on-2026-10"
        await env.client.start_workflow(AssessmentCycleWorkflow.run, run, id=wid, task_queue=queue,
                                        search_attributes=cycle_search_attributes("always-on"))
        await env.sleep(timedelta(hours=6))  # a past period: collection is due at once, and fails
        status = await env.client.get_workflow_handle(wid).query(AssessmentCycleWorkflow.status)
        assert status.phase == "collecting" and "visibility store unavailable" in status.error
        assert status.attempts >= 2 and status.retry_at is not None
        assert len(await run_histories(env.client, wid)) >= 2  # it continued as new while retrying
        source.broken = False
        waiting = await env.client.get_workflow_handle(wid).query(AssessmentCycleWorkflow.status)
        assert waiting.retry_at - await env.get_current_time() > timedelta(minutes=1)
        # `cxsla cycle start` for the same period asks the waiting cycle to try again now
        cycles = AssessmentClient(env.client, task_queue=queue, policy=policy)
        status, created = await cycles.start_cycle("always-on", "2026-10")
        assert not created
        result = await result_of(env, wid, CycleResult)
        assert result.period == "2026-10" and result.assessment is not None
        assert result.report_delivered_at < waiting.retry_at  # it did not wait out its backoff
        final = await env.client.get_workflow_handle(wid).query(AssessmentCycleWorkflow.status)
        assert final.error is None and final.phase == "done"
        await assert_no_workflow_task_failures(env.client, wid)
