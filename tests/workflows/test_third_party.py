"""The annual third-party survey (003 §2.3.3, §4.2.3) on the `always-on` contract (the shipped numbers around the
clock): an agency's overall score is recorded, 82 misses the target of 85 and opens a plan whose rectification is
a major breach, a re-survey at 88 within the rectification window closes it as effective; a year with no score by
collection time is a breach of its own, notified."""

from __future__ import annotations

from datetime import timedelta

from activities.notifications import Notice
from sla.kpi import KpiName
from sla.plans import Measure, PlanState, PlanStatus, SubmitPlan, plan_id
from sla.reporting import CycleResult, build_report, cycle_workflow_id
from sla.vocabulary import BreachClass
from starter.client.assessment import AssessmentClient
from tests.helpers.assessment import KnownWorkflows, assessment_worker, result_of
from tests.helpers.policies import default_raw, write_policy

CONTRACT = "always-on"
AGENCY = "Horizon Research"


async def test_a_year_without_a_third_party_score_is_a_major_breach_and_notifies(own_time_skipping_env, tmp_path):
    env = own_time_skipping_env
    path, parsed = write_policy(default_raw(), tmp_path / "policy.toml")
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "r",
                                 known=KnownWorkflows(env.client, [])) as (queue, sink):
        period = str((await env.get_current_time()).year - 1)
        await AssessmentClient(env.client, task_queue=queue, policy=parsed).start_cycle(CONTRACT, period)
        result = await result_of(env, cycle_workflow_id(CONTRACT, period), CycleResult)
    [breach] = [n for n in sink.notifications if isinstance(n, Notice) and n.clock == "third_party_survey"]
    assert breach.kind.value == "breach" and breach.breach_class is BreachClass.MAJOR
    assert breach.subject == "assessment_report" and breach.subject_id == cycle_workflow_id(CONTRACT, period)
    assert result.assessment.kpi(KpiName.THIRD_PARTY_SATISFACTION).value is None
    report = build_report(result, [])
    assert any("yearly survey by an independent agency was not done, a major breach" in p for p in report.problems)


async def test_an_agency_score_under_85_opens_a_plan_that_a_resurvey_in_the_window_closes(own_time_skipping_env,
                                                                                           tmp_path):
    env = own_time_skipping_env
    path, parsed = write_policy(default_raw(), tmp_path / "policy.toml")
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "r",
                                 known=KnownWorkflows(env.client, [])) as (queue, sink):
        cycles = AssessmentClient(env.client, task_queue=queue, policy=parsed)
        cycles.clock = lambda: now
        now = await env.get_current_time()
        period = str(now.year)
        await cycles.start_cycle(CONTRACT, period)
        first = await cycles.record_third_party(CONTRACT, period, 82, AGENCY)
        assert first.recorded_on == cycle_workflow_id(CONTRACT, period) and not first.duplicate
        assert (await cycles.record_third_party(CONTRACT, period, 82, AGENCY)).duplicate
        result = await result_of(env, cycle_workflow_id(CONTRACT, period), CycleResult)
        score = result.assessment.kpi(KpiName.THIRD_PARTY_SATISFACTION)
        assert (score.value, score.n, score.met) == (82.0, 1, False)
        pid = plan_id(CONTRACT, KpiName.THIRD_PARTY_SATISFACTION)
        assert result.plans_started == [pid] and result.missed_duties == []
        plan = await cycles.plan_status(pid)
        rectification = next(c for c in plan.clocks if c.name == "plan_rectification")
        assert rectification.breach_class is BreachClass.MAJOR  # 003 §4.2.3
        await cycles.submit_plan(pid, SubmitPlan(
            root_cause="slow callbacks", expected_effect="85 again",
            measures=[Measure(action="callbacks", owner="desk", due="2027-03-01")]))
        await env.sleep(timedelta(days=30))  # within the 3 months to rectify
        resurvey = await cycles.record_third_party(CONTRACT, period, 88, AGENCY)
        assert (resurvey.recorded_on, resurvey.resurvey, resurvey.met) == (pid, f"{period}-R1", True)
        closed = await result_of(env, pid, PlanStatus)
    assert closed.state is PlanState.EFFECTIVE and closed.breaches == []
    assert [(r.period, r.value, r.met) for r in closed.cycle_results] == [(f"{period}-R1", 88.0, True)]
    assert not [n for n in sink.notifications if isinstance(n, Notice) and n.clock == "third_party_survey"]
