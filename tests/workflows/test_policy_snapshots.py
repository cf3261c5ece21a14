"""Issue 12, one policy source per workflow: a plan a complaint starts takes the plan settings the complaint was
opened with (the client's file), not the worker's; the worker says once, in its log and a gauge, that its file
differs from a snapshot in use."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs
from temporalio.client import WorkflowHistory
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import ActivityEnvironment

from activities.assessment import SNAPSHOTS_DIFFERING, AssessmentActivities
from sla.cycles import LaunchCycle
from sla.kpi import KpiName
from sla.periods import Cadence
from sla.plans import Miss, OpenPlanRequest, PlanRun, Trigger, plan_id
from sla.reporting import CycleResult
from starter.client.assessment import AssessmentClient
from starter.client.complaints import ComplaintClient
from tests.helpers.assessment import KnownWorkflows, assessment_worker, result_of
from tests.helpers.policies import default_raw, write_policy
from tests.workflows.test_negative_feedback import plans_from_feedback, resolved_with_feedback
from workflows import metrics as m
from workflows.cycle import ScheduledCycleWorkflow

CONTRACT = "always-on"
DIFFERS = "policy file differs from a snapshot in use; the workflow keeps its snapshot"


def policies(tmp_path):
    """The worker's file (the shipped settings) and the client's (plans due within 10 hours)."""
    worker = write_policy(default_raw(), tmp_path / "worker.toml")
    raw = default_raw()
    raw["contracts"][CONTRACT]["improvement"]["submit_within"] = "PT10H"
    client = write_policy(raw, tmp_path / "client.toml")
    return worker, client


def warnings_of(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e.get("event") == DIFFERS]


async def test_a_plan_a_complaint_starts_keeps_the_complaints_snapshot(own_time_skipping_env, tmp_path):
    env = own_time_skipping_env
    (worker_path, worker_policy), (_, client_policy) = policies(tmp_path)
    snapshot = client_policy.assessment(CONTRACT)
    assert snapshot.version != worker_policy.assessment(CONTRACT).version
    with capture_logs() as logs:
        async with assessment_worker(env.client, policy_path=worker_path, report_dir=tmp_path / "r") as (queue, _):
            complaints = ComplaintClient(env.client, task_queue=queue, policy=client_policy)
            await resolved_with_feedback(complaints, "snap-1", CONTRACT, csat=1)
            assert await plans_from_feedback(env, "snap-1") == [plan_id(CONTRACT, KpiName.CSAT)]
            plan = await AssessmentClient.of(complaints).plan_status(plan_id(CONTRACT, KpiName.CSAT))
            assert plan.policy_version == snapshot.version
            assert {c.name: c.deadline for c in plan.clocks}["plan_submission"] == plan.opened_at + timedelta(hours=10)
            await resolved_with_feedback(complaints, "snap-2", CONTRACT, csat=1)  # the same snapshot again
            assert await plans_from_feedback(env, "snap-2") == [plan_id(CONTRACT, KpiName.CSAT)]
    (warning,) = warnings_of(logs)  # once, however often the snapshot is seen
    assert warning["snapshot_version"] == snapshot.version
    assert warning["file_version"] == worker_policy.assessment(CONTRACT).version
    assert warning["log_level"] == "warning" and warning["contract"] == CONTRACT


async def test_the_worker_counts_each_differing_snapshot_once(own_time_skipping_env, tmp_path):
    env = own_time_skipping_env
    (worker_path, worker_policy), (_, client_policy) = policies(tmp_path)
    buffer = MetricBuffer(1000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    activity_env = ActivityEnvironment(client=env.client)
    activity_env.metric_meter = runtime.metric_meter
    activities = AssessmentActivities(policy_path=worker_path)

    def request(policy) -> OpenPlanRequest:
        return OpenPlanRequest(contract=CONTRACT, kpi=KpiName.MAJOR_RESOLVED_IN_TIME.value, decided=True,
                               miss=Miss(trigger=Trigger.COMPLAINT, complaint_id="major-1"), policy=policy,
                               at=datetime(2026, 1, 5, tzinfo=timezone.utc), task_queue="nobody-polls")

    with capture_logs() as logs:
        for policy in (client_policy, client_policy, worker_policy):
            started = await activity_env.run(activities.open_plan_for_complaint,
                                             request(policy.assessment(CONTRACT)))
            assert started == plan_id(CONTRACT, KpiName.MAJOR_RESOLVED_IN_TIME)
    assert len(warnings_of(logs)) == 1
    gauge = [(u.value, dict(u.attributes)) for u in buffer.retrieve_updates() if u.metric.name == SNAPSHOTS_DIFFERING]
    assert [(value, labels["contract"]) for value, labels in gauge] == [(1, CONTRACT)]
    assert m.POLICY_SNAPSHOTS_DIFFERING.name == SNAPSHOTS_DIFFERING
    # the plan was started with the request's snapshot, not the worker's file
    history: WorkflowHistory = await env.client.get_workflow_handle(started).fetch_history()
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    (run,) = await env.client.data_converter.decode(payloads, [PlanRun])
    assert run.policy.version == client_policy.assessment(CONTRACT).version


async def test_a_scheduled_cycle_decides_on_the_snapshot_it_took_at_launch(own_time_skipping_env, tmp_path):
    """The launcher reads the worker's file once, through an activity recorded in its history; the cycle then
    carries that snapshot to its report, whatever the file says by then (and the worker says so, once)."""
    env = own_time_skipping_env
    raw = default_raw()
    path, launched = write_policy(raw, tmp_path / "worker.toml")
    with capture_logs() as logs:
        async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "r",
                                     known=KnownWorkflows(env.client, [])) as (queue, _):
            cycle_id = await env.client.execute_workflow(
                ScheduledCycleWorkflow.run, LaunchCycle(contract="demo", cadence=Cadence.MONTHLY),
                id="cycle-launch-demo-snapshot", task_queue=queue)
            raw["contracts"]["demo"]["kpi_targets"]["csat"] = {"min": 95}
            _, edited = write_policy(raw, Path(path))
            result = await result_of(env, cycle_id, CycleResult)
    assert result.policy_version == launched.assessment("demo").version != edited.assessment("demo").version
    assert next(k.target for k in result.assessment.kpis if k.name is KpiName.CSAT).min == 85
    # The cycle may have run every step before the file changed (a loaded machine) and then had nothing to warn
    # about; when a step ran after, it warned once, naming the snapshot (the plan test above always warns).
    warnings = warnings_of(logs)
    assert len(warnings) <= 1
    for warning in warnings:
        assert warning["snapshot_version"] == launched.assessment("demo").version
        assert warning["workflow_id"] == cycle_id
