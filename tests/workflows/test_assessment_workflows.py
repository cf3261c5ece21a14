"""Improvement plans, service interruptions and cycle edges under the time-skipping server (business-time clocks
of days and months play out in simulated time)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from temporalio.testing import ActivityEnvironment

from activities.assessment import AssessmentActivities, plan_search_attributes
from activities.notifications import Notice
from sla.interruptions import ReportInterruption, Restore
from sla.kpi import KpiName, Target
from sla.plans import (
    Measure,
    Miss,
    OpenPlanRequest,
    PlanState,
    PlanStatus,
    RecordCycleResult,
    ReportProgress,
    RevisePlan,
    SubmitPlan,
    Trigger,
    new_plan_run,
)
from sla.reporting import CycleResult, cycle_workflow_id
from sla.surveys import Scale, ScoreHistogram, SurveyBatch, SurveyChannel
from sla.vocabulary import BreachClass
from starter.client.assessment import AssessmentClient
from starter.client.errors import CxSlaError
from tests.helpers.assessment import KnownWorkflows, assessment_worker, result_of
from tests.helpers.policies import default_raw, write_policy
from workflows.interruption import InterruptionStatus
from workflows.plan import ImprovementPlanWorkflow

CONTRACT = "always-on"
H = timedelta(hours=1)


@pytest.fixture
def policy(tmp_path):
    raw = default_raw()
    improvement = raw["contracts"][CONTRACT]["improvement"]
    improvement.update(submit_within="10 working hours", progress_every="PT20H", rectify_within="PT60H")
    return write_policy(raw, tmp_path / "policy.toml")


def notices(sink, subject_id: str) -> list[Notice]:
    return [n for n in sink.notifications if isinstance(n, Notice) and n.subject_id == subject_id]


async def start_plan(env, queue: str, assessment, kpi=KpiName.CSAT):
    miss = Miss(trigger=Trigger.CYCLE, period="2026-Q4", value=80.0, target=Target(min=85))
    run = new_plan_run(policy=assessment, kpi=kpi, miss=miss, at=await env.get_current_time())
    return await env.client.start_workflow(ImprovementPlanWorkflow.run, run, id=run.plan_id, task_queue=queue,
                                           search_attributes=plan_search_attributes(run))


async def test_a_plan_not_submitted_in_time_breaches_and_escalates_in_ladder_order(own_time_skipping_env, tmp_path,
                                                                                    policy):
    env, (path, parsed) = own_time_skipping_env, policy
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path) as (queue, sink):
        handle = await start_plan(env, queue, parsed.assessment(CONTRACT))
        await env.sleep(10 * H + 24 * H + timedelta(minutes=5))  # deadline + the whole ladder (0 h, 4 h, 1 day)
        status = await handle.query(ImprovementPlanWorkflow.status)
        submission = next(c for c in status.clocks if c.name == "plan_submission")
        assert submission.state.value == "breached" and submission.deadline == status.opened_at + 10 * H
        assert [(e.level, e.to) for e in status.escalations if e.clock == "plan_submission"] == [
            (1, "team-lead"), (2, "supervisor"), (3, "manager")]
        # each step fires when the loop wakes at its instant (milliseconds later: the evaluation runs first)
        late = [(e.at - submission.deadline) for e in status.escalations if e.clock == "plan_submission"]
        assert [round(d.total_seconds()) for d in late] == [0, 4 * 3600, 24 * 3600]
        sent = [n.action_id for n in notices(sink, handle.id) if n.clock == "plan_submission"]
        assert sent == ["plan_submission#1:warn:50", "plan_submission#1:warn:80", "plan_submission#1:breach",
                        "plan_submission#1:escalate:1", "plan_submission#1:escalate:2", "plan_submission#1:escalate:3"]
        breach = next(n for n in notices(sink, handle.id) if n.kind.value == "breach")
        assert breach.breach_class is BreachClass.MINOR and breach.subject == "improvement_plan"

        # Submitting late still counts; the breach stands.
        plans = AssessmentClient(env.client, task_queue=queue, policy=parsed)
        submitted = await plans.submit_plan(handle.id, SubmitPlan(
            root_cause="slow first-line routing", expected_effect="CSAT back above 85",
            measures=[Measure(action="re-route", owner="ops lead", due="2027-03-01")]))
        assert submitted.state is PlanState.IN_PROGRESS and submitted.breaches[0].clock == "plan_submission"


async def test_an_unrectified_resolution_rate_plan_is_a_minor_breach_and_a_later_met_cycle_closes_it(
        own_time_skipping_env, tmp_path, policy):
    """A missed resolution rate left unrectified is minor (003 §4.1: a missed rate with no major loss); the
    contract could make it major with `improvement.breach_class`."""
    env, (path, parsed) = own_time_skipping_env, policy
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path) as (queue, sink):
        plans = AssessmentClient(env.client, task_queue=queue, policy=parsed)
        handle = await start_plan(env, queue, parsed.assessment(CONTRACT), kpi=KpiName.RESOLUTION_RATE)
        await env.sleep(timedelta(minutes=7))
        status = await plans.submit_plan(handle.id, SubmitPlan(
            root_cause="backlog", expected_effect="95 % resolved",
            measures=[Measure(action="weekend shift", owner="desk manager", due="2027-02-01")]))
        assert status.clocks[0].state.value == "met"
        await env.sleep(15 * H)
        status = await plans.report_progress(handle.id, ReportProgress(summary="shift staffed", measures_done=[0]))
        assert status.progress_reports == 1
        # A cycle that still misses the target: recorded once even when told twice (a retried activity).
        miss = RecordCycleResult(period="2027-01", value=0.9, met=False)
        await plans.client.get_workflow_handle(handle.id).execute_update("record_cycle_result", miss)
        again = await plans.client.get_workflow_handle(handle.id).execute_update(
            "record_cycle_result", miss, result_type=PlanStatus)
        assert [r.period for r in again.cycle_results] == ["2027-01"]

        await env.sleep(60 * H)  # past the rectification deadline (60 h after the report)
        status = await plans.plan_status(handle.id)
        rectification = next(c for c in status.clocks if c.name == "plan_rectification")
        assert rectification.state.value == "breached" and rectification.breach_class is BreachClass.MINOR
        sent = [n for n in notices(sink, handle.id) if n.kind.value == "breach" and n.clock == "plan_rectification"]
        assert len(sent) == 1 and sent[0].breach_class is BreachClass.MINOR

        await plans.client.get_workflow_handle(handle.id).execute_update(
            "record_cycle_result", RecordCycleResult(period="2027-02", value=0.97, met=True))
        closed = await result_of(env, handle.id, PlanStatus)
        assert closed.state is PlanState.EFFECTIVE and closed.effective_at is not None
        # the second progress report was never made either (20 h after the first): a minor breach
        assert {b.clock: b.breach_class.value for b in closed.breaches} == {
            "plan_rectification": "minor", "plan_progress": "minor"}
        with pytest.raises(CxSlaError, match="closed"):
            await plans.report_progress(handle.id, ReportProgress(summary="late"))


async def test_plan_commands_are_validated_before_anything_is_recorded(own_time_skipping_env, tmp_path, policy):
    env, (path, parsed) = own_time_skipping_env, policy
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path) as (queue, _):
        plans = AssessmentClient(env.client, task_queue=queue, policy=parsed)
        handle = await start_plan(env, queue, parsed.assessment(CONTRACT), kpi=KpiName.FCR)
        with pytest.raises(CxSlaError, match="not been submitted"):
            await plans.report_progress(handle.id, ReportProgress(summary="early"))
        with pytest.raises(ValueError):
            SubmitPlan(root_cause=" ", expected_effect="x", measures=[])
        submitted = await plans.submit_plan(handle.id, SubmitPlan(
            root_cause="scripts", expected_effect="FCR 70 %",
            measures=[Measure(action="new scripts", owner="trainer", due="2027-01-15")]))
        assert submitted.submitted is not None
        with pytest.raises(CxSlaError, match="already submitted"):
            await plans.submit_plan(handle.id, SubmitPlan(
                root_cause="again", expected_effect="x", measures=[Measure(action="a", owner="b", due="2027-01-15")]))
        with pytest.raises(CxSlaError, match="measures_done"):
            await plans.report_progress(handle.id, ReportProgress(summary="oops", measures_done=[3]))
        status = await plans.plan_status(handle.id)
        assert status.progress_reports == 0 and status.state is PlanState.IN_PROGRESS


async def test_an_interruption_past_its_threshold_is_a_major_breach_and_restoring_ends_it(
        own_time_skipping_env, tmp_path, policy):
    env, (path, parsed) = own_time_skipping_env, policy
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path) as (queue, sink):
        outages = AssessmentClient(env.client, task_queue=queue, policy=parsed)
        now = await env.get_current_time()
        outages.clock = lambda: now
        status, created = await outages.report_outage(ReportInterruption(id="db-1", contract=CONTRACT,
                                                                         started_at=now - H))
        assert status.clock is not None
        assert created and status.state == "ongoing" and status.clock.deadline == now + 3 * H
        again, created = await outages.report_outage(ReportInterruption(id="db-1", contract=CONTRACT))
        assert not created and again.started_at == now - H
        await env.sleep(3 * H + timedelta(minutes=7))
        status = await outages.outage_status("db-1")
        assert status.major_breach and status.escalations == ["interruption#1:escalate:1"]
        with pytest.raises(CxSlaError, match="in the future"):
            await outages.restore_outage("db-1", Restore(restored_at=now + 30 * H))
        restored = await outages.restore_outage("db-1", Restore())
        assert restored.duration_seconds is not None
        assert restored.state == "restored" and restored.duration_seconds > 4 * 3600
        final = await result_of(env, "outage-db-1", InterruptionStatus)
        assert final.restored_at == restored.restored_at
        sent = [n.action_id for n in notices(sink, "db-1")]
        assert sent[:3] == ["interruption#1:warn:50", "interruption#1:warn:80", "interruption#1:breach"]
        assert next(n for n in notices(sink, "db-1") if n.kind.value == "breach").breach_class is BreachClass.MAJOR
        with pytest.raises(CxSlaError, match="closed|already restored"):
            await outages.restore_outage("db-1", Restore())


async def test_a_cycle_dedupes_batches_refuses_conflicts_and_closes_its_door_when_collecting(
    own_time_skipping_env, tmp_path, policy,
):
    env, (path, parsed) = own_time_skipping_env, policy
    known = KnownWorkflows(env.client, [])
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "r", known=known) as (queue, _):
        now = await env.get_current_time()
        period = f"{(now + timedelta(days=40)).year}-{(now + timedelta(days=40)).month:02d}"
        cycles = AssessmentClient(env.client, task_queue=queue, policy=parsed)
        batch = SurveyBatch(batch_id="b1", channel=SurveyChannel.EMAIL,
                            csat=ScoreHistogram(scale=Scale.CSAT, counts={5: 3, 1: 1}))
        with pytest.raises(CxSlaError, match="an admin starts it") as refused:
            await cycles.import_survey(CONTRACT, period, batch)  # an import never starts a cycle
        assert refused.value.kind == "not_found"
        await cycles.start_cycle(CONTRACT, period)
        assert (await cycles.import_survey(CONTRACT, period, batch)).duplicate is False
        assert (await cycles.import_survey(CONTRACT, period, batch)).duplicate is True
        other = batch.model_copy(update={"csat": ScoreHistogram(scale=Scale.CSAT, counts={5: 4})})
        with pytest.raises(CxSlaError, match="other content"):
            await cycles.import_survey(CONTRACT, period, other)
        with pytest.raises(CxSlaError, match="cannot read period"):
            await cycles.start_cycle(CONTRACT, "2026-13")
        with pytest.raises(CxSlaError, match="unknown contract"):
            await cycles.start_cycle("nope", period)
        status = await cycles.cycle_status(CONTRACT, period)
        assert status.responses == 4 and status.phase == "accepting_surveys"
        with pytest.raises(CxSlaError, match="still accepting"):
            await cycles.cycle_result(CONTRACT, period)

        result = await result_of(env, cycle_workflow_id(CONTRACT, period), CycleResult)
        csat = result.assessment.kpi(KpiName.CSAT)
        assert csat.value == 75.0 and csat.n == 4 and result.assessment.complaints == 0
        with pytest.raises(CxSlaError, match="has closed") as late:
            await cycles.import_survey(CONTRACT, period, batch.model_copy(update={"batch_id": "b2"}))
        assert late.value.kind == "conflict"
        assert sorted(p.name for p in (tmp_path / "r" / CONTRACT).iterdir()) == [
            f"{period}.html", f"{period}.json", f"{period}.md"]
        report = await cycles.report(CONTRACT, period, "md")
        assert "CSAT" in report or "satisfaction" in report.lower()


async def test_a_cycle_for_a_long_past_period_reports_late_without_stale_warnings(own_time_skipping_env, tmp_path,
                                                                                  policy):
    env, (path, parsed) = own_time_skipping_env, policy
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "r",
                                 known=KnownWorkflows(env.client, [])) as (queue, sink):
        now = await env.get_current_time()
        past = now - timedelta(days=100)
        period = f"{past.year}-{past.month:02d}"
        cycles = AssessmentClient(env.client, task_queue=queue, policy=parsed)
        await cycles.start_cycle(CONTRACT, period)
        result = await result_of(env, cycle_workflow_id(CONTRACT, period), CycleResult)
        assert result.report_late and result.report_delivered_at > result.report_due
        # the breach and every ladder step are due at once; the 50 %/80 % warnings would only be noise now
        ladder = parsed.assessment(CONTRACT).escalation
        fired = (await cycles.cycle_status(CONTRACT, period)).report_notices
        assert fired == sorted(
            ["report_delivery#1:breach"] + [f"report_delivery#1:escalate:{n}" for n in range(1, len(ladder) + 1)])
        assert sorted(n.action_id for n in notices(sink, cycle_workflow_id(CONTRACT, period))) == fired


async def test_a_major_breach_opens_no_plan_where_no_cycle_assesses_major_resolved_in_time(tmp_path):
    """Such a plan could never close (only a later cycle meeting the target closes it): neither the complaint's
    snapshot nor the worker opens it, whatever an older snapshot decided."""
    raw = default_raw()
    for cycle in raw["contracts"][CONTRACT]["cycles"].values():
        cycle["assess"] = [k for k in cycle["assess"] if k != KpiName.MAJOR_RESOLVED_IN_TIME.value]
    path, parsed = write_policy(raw, tmp_path / "policy.toml")
    assert parsed.contract(CONTRACT).plan_on_major_breach is False
    activities = AssessmentActivities(policy_path=path)
    for decided in (True, False):
        request = OpenPlanRequest(contract=CONTRACT, kpi=KpiName.MAJOR_RESOLVED_IN_TIME.value, decided=decided,
                                  miss=Miss(trigger=Trigger.COMPLAINT, complaint_id="major-1"),
                                  at=datetime(2026, 1, 5, tzinfo=timezone.utc), task_queue="nobody-polls")
        assert await ActivityEnvironment().run(activities.open_plan_for_complaint, request) is None


async def test_a_plan_is_revised_only_once_submitted_and_keeps_every_version(own_time_skipping_env, tmp_path,
                                                                             policy):
    env, (path, parsed) = own_time_skipping_env, policy
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path) as (queue, _):
        plans = AssessmentClient(env.client, task_queue=queue, policy=parsed)
        handle = await start_plan(env, queue, parsed.assessment(CONTRACT))
        revision = RevisePlan(root_cause="scripts unclear", expected_effect="CSAT 85", reason="review of 3 March",
                              measures=[Measure(action="rewrite scripts", owner="quality", due="2027-03-01")])
        with pytest.raises(CxSlaError, match="not been submitted"):
            await plans.revise_plan(handle.id, revision)
        await plans.submit_plan(handle.id, SubmitPlan(
            root_cause="slow callbacks", expected_effect="CSAT 85",
            measures=[Measure(action="callback in 4 h", owner="desk", due="2027-02-01")]))
        await env.sleep(2 * H)
        status = await plans.revise_plan(handle.id, revision)
        assert status.version == 2 and status.submitted is not None
        assert [m.action for m in status.submitted.measures] == ["callback in 4 h"]  # version 1 kept
        assert [m.action for m in status.measures] == ["rewrite scripts"]  # version 2 in force
        assert [t["type"] for t in status.timeline] == ["opened", "submitted", "revised"]
        # measure indexes refer to the version in force; a revision restarts the progress clock
        with pytest.raises(CxSlaError, match="measures 0-0"):
            await plans.report_progress(handle.id, ReportProgress(summary="x", measures_done=[1]))
        progress = [c for c in status.clocks if c.name == "plan_progress"]
        assert [c.state.value for c in progress] == ["met", "running"]
        assert progress[1].started_at == status.revisions[0].at
