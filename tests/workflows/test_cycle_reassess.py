"""Issue 12: a late survey import into a closed cycle is refused before anything starts; an explicit
re-assessment takes it, recomputes the KPIs and the report, and the report says when, by whom and why."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sla.cycles import CycleRun, ReassessCycle
from sla.kpi import KpiName
from sla.official_calendar import resolve_at
from sla.reporting import CycleResult
from sla.surveys import Scale, ScoreHistogram, SurveyBatch, SurveyChannel
from starter.client.assessment import AssessmentClient
from starter.client.errors import CxSlaError
from tests.helpers.assessment import KnownWorkflows, assessment_worker, result_of
from tests.helpers.policies import default_raw, write_policy
from tests.histories.record import assert_no_workflow_task_failures, run_histories
from workflows.cycle import AssessmentCycleWorkflow

CONTRACT = "always-on"
PERIOD = "2026-10"
LATE = SurveyBatch(batch_id="hotline-late", channel=SurveyChannel.HOTLINE,
                   csat=ScoreHistogram(scale=Scale.CSAT, counts={5: 30, 4: 10, 2: 5, 1: 5}))


async def test_a_closed_cycle_is_reassessed_on_purpose_and_its_report_says_so(own_time_skipping_env, tmp_path):
    env = own_time_skipping_env
    path, policy = write_policy(default_raw(), tmp_path / "policy.toml")
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "reports",
                                 known=KnownWorkflows(env.client, [])) as (queue, sink):
        cycles = AssessmentClient(env.client, task_queue=queue, policy=policy)
        command = ReassessCycle(reason="the hotline's October export arrived after the report", by="qa-lead")
        with pytest.raises(CxSlaError, match="no monthly cycle") as missing:
            await cycles.reassess_cycle(CONTRACT, PERIOD, LATE, command)
        assert missing.value.kind == "not_found"

        assessment = policy.assessment(CONTRACT)
        run = CycleRun(contract=CONTRACT, period=PERIOD, policy=assessment,
                       calendar=resolve_at(assessment.calendar_name, assessment.calendar,
                                           datetime(2026, 10, 1, tzinfo=timezone.utc)))
        wid = f"cycle-{CONTRACT}-{PERIOD}"
        handle = await env.client.start_workflow(AssessmentCycleWorkflow.run, run, id=wid, task_queue=queue)
        first = await handle.result()
        assert first.assessment.kpi(KpiName.CSAT).value is None and first.reassessment is None
        notices = [n.action_id for n in sink.notifications if n.subject == "assessment_report"]
        assert notices  # a long past period: its report was late

        with pytest.raises(CxSlaError, match="has closed") as refused:  # what `survey import` says
            await cycles.import_survey(CONTRACT, PERIOD, LATE)
        assert refused.value.kind == "conflict"
        assert len(await run_histories(env.client, wid)) == 1  # nothing was started

        cycles.clock = lambda: datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc)
        status = await cycles.reassess_cycle(CONTRACT, PERIOD, LATE, command)
        assert status.id == wid and [b.batch_id for b in status.batches] == ["hotline-late"]
        again = await result_of(env, wid, CycleResult)
        assert again.reassessment is not None and again.reassessment.by == "qa-lead"
        assert again.reassessment.first_delivered_at == first.report_delivered_at
        assert again.report_delivered_at == first.report_delivered_at and again.report_late
        assert again.assessment.kpi(KpiName.CSAT).value == 80.0 and again.policy_version == first.policy_version
        report = await cycles.report(CONTRACT, PERIOD, "md")
        assert ("Re-assessed on 2026-12-03T09:30:00+00:00 by qa-lead: the hotline's October export arrived after "
                "the report (late survey batch hotline-late taken; this report replaces the one delivered "
                f"{first.report_delivered_at.isoformat()})") in report.replace("&#x27;", "'")
        # the report clock ended with the first report: the re-assessment sent none of its notices again
        assert [n.action_id for n in sink.notifications if n.subject == "assessment_report"] == notices

        with pytest.raises(CxSlaError, match="already in cycle") as repeated:
            await cycles.reassess_cycle(CONTRACT, PERIOD, LATE, command)
        assert repeated.value.kind == "conflict"
        latest = await env.client.get_workflow_handle(wid).describe()
        assert latest.run_id != handle.result_run_id  # a new run of the same cycle id
        await assert_no_workflow_task_failures(env.client, wid)
