"""Significant negative feedback starts an improvement plan (000 §5.2): the pure decision, the policy section, and
complaints under the time-skipping server that start, add to, or leave alone the KPI's plan."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType

from sla import commands as cmd
from sla.commands import OpenComplaint
from sla.kpi import KpiName
from sla.plans import Miss, PlanState, Trigger, negative_feedback_misses, plan_id
from sla.policy import NegativeFeedbackSpec, PolicyError, load_policy, parse_policy
from starter.client.assessment import AssessmentClient
from starter.client.complaints import ComplaintClient, workflow_id
from starter.client.errors import CxSlaError
from tests.helpers.assessment import assessment_worker
from tests.helpers.policies import default_raw, write_policy

CONTRACT = "always-on"
QUIET = "always-on-quiet"  # the same contract with `on_negative_feedback = {}`
BOTH = [KpiName.CSAT, KpiName.NPS]


# ---- the pure decision ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("csat", "nps", "started"), [
    (1, None, [KpiName.CSAT]),        # very dissatisfied
    (2, None, []),                    # dissatisfied, not significantly
    (5, 2, [KpiName.NPS]),            # a strong detractor who liked the handling
    (5, 3, []),
    (1, 0, [KpiName.CSAT, KpiName.NPS]),
])
def test_answers_at_or_below_the_scores_start_their_kpis_plans(csat, nps, started):
    misses = negative_feedback_misses(NegativeFeedbackSpec(csat=1, nps=2), BOTH, complaint_id="c-9", csat=csat, nps=nps)
    assert list(misses) == started
    for kpi, miss in misses.items():
        assert miss == Miss(trigger=Trigger.FEEDBACK, complaint_id="c-9", value=csat if kpi is KpiName.CSAT else nps)
        assert miss.key == "feedback:c-9"


def test_no_plan_without_a_score_to_judge_by_or_a_target_to_close_it():
    spec = NegativeFeedbackSpec(csat=1, nps=2)
    assert negative_feedback_misses(NegativeFeedbackSpec(), BOTH, complaint_id="c", csat=1, nps=0) == {}
    # a plan closes when a later cycle meets its target: without one it could only ever breach
    assert list(negative_feedback_misses(spec, [KpiName.CSAT], complaint_id="c", csat=1, nps=0)) == [KpiName.CSAT]
    assert negative_feedback_misses(spec, [], complaint_id="c", csat=1, nps=0) == {}


# ---- the policy section ---------------------------------------------------------------------------------------------
def test_shipped_contracts_start_a_plan_on_a_very_dissatisfied_answer():
    for contract in ("default", "always-on"):
        spec = load_policy().assessment(contract).improvement.on_negative_feedback
        assert spec == NegativeFeedbackSpec(csat=1, nps=None)


def test_the_section_is_optional_and_an_empty_table_turns_it_off():
    raw = default_raw()
    del raw["contracts"]["default"]["improvement"]["on_negative_feedback"]
    raw["contracts"]["always-on"]["improvement"]["on_negative_feedback"] = {}
    policy = parse_policy(raw)
    assert policy.assessment("default").improvement.on_negative_feedback == NegativeFeedbackSpec(csat=1)
    assert policy.assessment("always-on").improvement.on_negative_feedback == NegativeFeedbackSpec()


@pytest.mark.parametrize(("value", "key"), [
    ({"csat": 6}, "csat"), ({"nps": -1}, "nps"), ({"ces": 2}, "ces"), ({"csat": "low"}, "csat"),
])
def test_bad_scores_are_refused_naming_the_key(value, key):
    raw = default_raw()
    raw["contracts"]["default"]["improvement"]["on_negative_feedback"] = value
    with pytest.raises(PolicyError, match=rf"contracts\.default\.improvement\.on_negative_feedback\.{key}:"):
        parse_policy(raw)


# ---- complaints on a worker -------------------------------------------------------------------------------------
@pytest.fixture
def feedback_policy(tmp_path):
    raw = default_raw()
    contract = raw["contracts"][CONTRACT]
    contract["kpi_targets"]["nps"] = {"min": 20}
    contract["improvement"]["on_negative_feedback"] = {"csat": 1, "nps": 2}
    quiet = raw["contracts"][QUIET] = dict(contract, improvement=dict(contract["improvement"]))
    quiet["improvement"]["on_negative_feedback"] = {}
    return write_policy(raw, tmp_path / "policy.toml")


async def plans_from_feedback(env, complaint_id: str) -> list[str]:
    """The plan ids the complaint's plan requests were answered with, once the complaint has closed (a closing
    complaint waits for them). The complaint decides from its own policy snapshot which answers are negative
    enough, so a satisfied customer causes no plan activity at all."""
    handle = env.client.get_workflow_handle(workflow_id(complaint_id))
    async with env.time_skipping_unlocked():
        await handle.result()
    events = [e async for e in handle.fetch_history_events()]
    scheduled = {e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                 and e.activity_task_scheduled_event_attributes.activity_type.name == "cxsla.open_plan_for_complaint"}
    plans = []
    for e in events:
        attrs = e.activity_task_completed_event_attributes
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED and attrs.scheduled_event_id in scheduled:
            plans.append((await env.client.data_converter.decode(attrs.result.payloads, [str]))[0])
    return plans


async def resolved_with_feedback(complaints: ComplaintClient, complaint_id: str, contract: str, **scores) -> None:
    await complaints.open(OpenComplaint(id=complaint_id, contract=contract, severity="normal"))
    await complaints.command(complaint_id, "acknowledge", cmd.Acknowledge())
    await complaints.command(complaint_id, "resolve", cmd.Resolve(resolution="refunded"))
    await complaints.command(complaint_id, "record_feedback", cmd.RecordFeedback(**scores))


async def test_negative_feedback_starts_one_plan_per_kpi_and_later_answers_add_to_it(
    own_time_skipping_env, tmp_path, feedback_policy,
):
    env = own_time_skipping_env
    policy_path, policy = feedback_policy
    async with assessment_worker(env.client, policy_path=policy_path, report_dir=tmp_path / "reports") as (queue, _):
        complaints = ComplaintClient(env.client, task_queue=queue, policy=policy)
        plans = AssessmentClient.of(complaints)
        csat_plan, nps_plan = plan_id(CONTRACT, KpiName.CSAT), plan_id(CONTRACT, KpiName.NPS)

        await resolved_with_feedback(complaints, "fb-1", CONTRACT, csat=1, nps=9)
        assert await plans_from_feedback(env, "fb-1") == [csat_plan]
        plan = await plans.plan_status(csat_plan)
        assert plan.state is PlanState.AWAITING_PLAN and plan.kpi is KpiName.CSAT
        assert [(m.trigger, m.complaint_id, m.value) for m in plan.misses] == [(Trigger.FEEDBACK, "fb-1", 1)]
        # submitted within 15 working days of the feedback; on this 24x7 calendar that is 15 whole days
        assert {c.name: c.deadline for c in plan.clocks}["plan_submission"] == plan.opened_at + timedelta(days=15)

        # a second very dissatisfied customer is recorded on the open plan, not a second plan
        await resolved_with_feedback(complaints, "fb-2", CONTRACT, csat=1)
        assert await plans_from_feedback(env, "fb-2") == [csat_plan]
        assert [m.complaint_id for m in (await plans.plan_status(csat_plan)).misses] == ["fb-1", "fb-2"]

        # satisfied enough, or a score that only reaches the NPS threshold
        await resolved_with_feedback(complaints, "fb-3", CONTRACT, csat=2, nps=7)
        assert await plans_from_feedback(env, "fb-3") == []
        await resolved_with_feedback(complaints, "fb-4", CONTRACT, csat=4, nps=2)
        assert await plans_from_feedback(env, "fb-4") == [nps_plan]
        assert [m.complaint_id for m in (await plans.plan_status(csat_plan)).misses] == ["fb-1", "fb-2"]
        assert [(m.complaint_id, m.value) for m in (await plans.plan_status(nps_plan)).misses] == [("fb-4", 2)]

        # a contract that turned the trigger off starts nothing
        await resolved_with_feedback(complaints, "fb-5", QUIET, csat=1, nps=0)
        assert await plans_from_feedback(env, "fb-5") == []
        with pytest.raises(CxSlaError, match="no workflow"):
            await plans.plan_status(plan_id(QUIET, KpiName.CSAT))
