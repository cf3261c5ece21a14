"""Issue 12: KPIs that cannot be computed (here a memo an older release wrote with 10^400 handling seconds: the
arithmetic overflows every time) are a non-retryable error the cycle shows and waits on, not a silent loop; once
the cause is corrected, `cxsla cycle retry` takes it on."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from activities.attributes import cycle_search_attributes
from sla import names
from sla.cycles import CycleRun
from sla.official_calendar import resolve_at
from sla.reporting import CycleResult
from starter.client.assessment import AssessmentClient
from tests.helpers.assessment import assessment_worker, result_of
from tests.helpers.policies import default_raw, write_policy
from tests.histories.record import UncomputableMemos, assert_no_workflow_task_failures
from workflows.cycle import WAITING_FOR_FIX, AssessmentCycleWorkflow

CONTRACT = "always-on"


async def cx_state(env, wid: str) -> str:
    response = await env.client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
        namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=wid)))
    payload = response.workflow_execution_info.search_attributes.indexed_fields[names.STATE]
    return (await env.client.data_converter.decode([payload]))[0]


async def test_a_kpi_error_no_retry_can_fix_is_shown_and_waits_for_cycle_retry(own_time_skipping_env, tmp_path):
    env = own_time_skipping_env
    path, policy = write_policy(default_raw(), tmp_path / "policy.toml")
    memos = UncomputableMemos(env.client, CONTRACT, datetime(2026, 10, 5, tzinfo=timezone.utc))
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "reports", known=memos) as (
            queue, _):
        assessment = policy.assessment(CONTRACT)
        run = CycleRun(contract=CONTRACT, period="2026-10", policy=assessment,
                       calendar=resolve_at(assessment.calendar_name, assessment.calendar,
                                           datetime(2026, 10, 1, tzinfo=timezone.utc)))
        wid = f"cycle-{CONTRACT}-2026-10"
        await env.client.start_workflow(AssessmentCycleWorkflow.run, run, id=wid, task_queue=queue,
                                        search_attributes=cycle_search_attributes(CONTRACT))
        await env.sleep(timedelta(hours=6))  # a past period: collection is due at once, and fails
        cycles = AssessmentClient(env.client, task_queue=queue, policy=policy)
        status = await cycles.cycle_status(CONTRACT, "2026-10")
        assert status.phase == "collecting" and status.waiting_for_fix
        assert status.error is not None and "OverflowError" in status.error
        assert f"cxsla cycle retry --contract {CONTRACT} --period 2026-10" in status.error
        assert status.attempts == 1 and status.retry_at is None  # six hours later: tried once, no timer
        assert memos.listings == 1  # the activity itself did not retry either
        assert await cx_state(env, wid) == WAITING_FOR_FIX  # what the collector's gauge and the alert count

        memos.fixed = True
        asked = await cycles.retry_cycle(CONTRACT, "2026-10")
        assert not asked.waiting_for_fix
        result = await result_of(env, wid, CycleResult)
        assert result.assessment is not None and memos.listings == 2
        aht = next(k for k in result.assessment.kpis if k.name.value == "aht")
        assert aht.value == 3600
        final = await cycles.cycle_status(CONTRACT, "2026-10")
        assert final.error is None and final.phase == "done" and not final.waiting_for_fix
        assert await cx_state(env, wid) == "done"
        await assert_no_workflow_task_failures(env.client, wid)
