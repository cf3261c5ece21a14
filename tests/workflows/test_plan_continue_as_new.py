"""Issue 12, bounded history: an improvement plan continues as new, carries only what its clocks need, and a notice
retried across the hand-over keeps its idempotency key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio import activity

from activities.assessment import plan_search_attributes
from activities.notifications import Notice
from sla.kpi import KpiName, Target
from sla.plans import (
    Measure,
    Miss,
    PlanRun,
    PlanState,
    PlanStatus,
    RecordCycleResult,
    ReportProgress,
    SubmitPlan,
    Trigger,
    new_plan_run,
)
from starter.client.assessment import AssessmentClient
from tests.helpers.assessment import assessment_worker, result_of
from tests.helpers.policies import default_raw, write_policy
from tests.helpers.sinks import RecordingSink
from tests.histories.record import assert_no_workflow_task_failures, run_histories
from workflows.plan import ImprovementPlanWorkflow

CONTRACT = "always-on"
H = timedelta(hours=1)


class FlakyWarnings(RecordingSink):
    """Refuses warnings while `down`, remembering the key of every attempt and the run that made it."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.attempts: list[tuple[str, str, str | None]] = []

    async def deliver(self, notice: Notice) -> None:
        self.attempts.append((notice.action_id, notice.idempotency_key, activity.info().workflow_run_id))
        if self.down and notice.kind.value == "warn":
            raise ConnectionError("warning webhook down")
        await super().deliver(notice)


@pytest.fixture
def policy(tmp_path):
    raw = default_raw()
    raw["contracts"][CONTRACT]["improvement"].update(
        submit_within="PT10H", progress_every="PT200H", rectify_within="PT400H")
    return write_policy(raw, tmp_path / "policy.toml")


async def test_a_plan_hands_over_with_progress_text_left_behind_and_notice_keys_kept(own_time_skipping_env,
                                                                                     tmp_path, policy):
    env, (path, parsed) = own_time_skipping_env, policy
    sink = FlakyWarnings()
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path, sink=sink) as (queue, _):
        plans = AssessmentClient(env.client, task_queue=queue, policy=parsed)
        miss = Miss(trigger=Trigger.CYCLE, period="2026-Q4", value=80.0, target=Target(min=85))
        run = new_plan_run(policy=parsed.assessment(CONTRACT), kpi=KpiName.CSAT, miss=miss,
                           at=await env.get_current_time())
        run.continue_as_new_after_events = 3
        handle = await env.client.start_workflow(ImprovementPlanWorkflow.run, run, id=run.plan_id, task_queue=queue,
                                                 search_attributes=plan_search_attributes(run))
        first_run = handle.result_run_id
        await env.sleep(5 * H + timedelta(minutes=5))  # the submission's 50 % warning fires and is refused
        assert sink.attempts and {a for a, _, _ in sink.attempts} == {"plan_submission#1:warn:50"}

        root_cause = "一线分派规则不清，复杂投诉在二线队列中等待无人认领。" * 100
        await plans.submit_plan(handle.id, SubmitPlan(
            root_cause=root_cause, expected_effect="CSAT back above 85",
            measures=[Measure(action="give the queue an owner", owner="desk manager", due="2027-03-01")]))
        summary = "整改措施进展" * 666 + "中文字符"  # 4,000 characters
        for n in range(12):
            await plans.report_progress(handle.id, ReportProgress(summary=summary, by=f"owner-{n % 3}"))
            if n % 3 == 2:  # a hand-over waits for a quiet outbox: the refused warning's attempt ends in 3 min
                await env.sleep(timedelta(minutes=15))
        status = await plans.plan_status(handle.id)
        assert status.progress_reports == 12 and status.submitted is not None
        assert status.submitted.root_cause == root_cause  # carried whole: `plan show` prints it

        sink.down = False
        await env.sleep(H)  # the warning, carried as undelivered, is retried by a later run
        await plans.client.get_workflow_handle(handle.id).execute_update(
            "record_cycle_result", RecordCycleResult(period="2027-01", value=90.0, met=True))
        closed = await result_of(env, handle.id, PlanStatus)
        assert closed.state is PlanState.EFFECTIVE and closed.progress_reports == 12

        runs = await run_histories(env.client, handle.id)
        assert len(runs) >= 4 and runs[0].run_id == first_run  # 14 events, a hand-over every 3
        for history in runs:
            payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
            assert sum(p.ByteSize() for p in payloads) < 64 * 1024  # 12 summaries whole would be 144 KB
        (last,) = await env.client.data_converter.decode(payloads, [PlanRun])
        summaries = [e.summary for e in last.events if e.type == "progress_reported"]
        assert summaries and all(s.startswith("[elided: 4000 characters, kept in the workflow history of run ")
                                 for s in summaries)

        warn = [(key, run_id) for action, key, run_id in sink.attempts if action == "plan_submission#1:warn:50"]
        assert {key for key, _ in warn} == {f"{handle.id}/{first_run}/plan_submission#1:warn:50"}
        assert len({run_id for _, run_id in warn}) >= 3  # retried by later runs, under the first run's key
        delivered = [n for n in sink.notifications if n.action_id == "plan_submission#1:warn:50"]
        assert len(delivered) == 1
        assert all(n.idempotency_key.startswith(f"{handle.id}/{first_run}/") for n in sink.notifications)
        await assert_no_workflow_task_failures(env.client, handle.id)
