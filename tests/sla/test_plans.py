"""The improvement-plan engine (pure): what a missed rectification is worth, per KPI, as the seeds grade it."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest

from sla.kpi_catalogue import KpiName, Target
from sla.plans import RECTIFICATION, Miss, Trigger, evaluate_plan, new_plan_run
from sla.policy import load_policy, parse_policy
from sla.vocabulary import BreachClass, ClockState
from tests.helpers.calendars import calendar_of
from tests.helpers.policies import default_raw

T0 = datetime(2026, 4, 7, 2, 0, tzinfo=timezone.utc)  # a Tuesday, 10:00 in Shanghai


def rectification_after_deadline(policy, kpi: KpiName):
    """The plan's rectification clock four months after it opened (3 months to rectify, 003 §4.2.3)."""
    miss = Miss(trigger=Trigger.CYCLE, period="2026-Q1", value=80.0, target=Target(min=85))
    run = new_plan_run(policy=policy, kpi=kpi, miss=miss, at=T0)
    evaluation = evaluate_plan(policy, run.events, T0 + timedelta(days=120), {}, calendar=calendar_of(policy))
    return next(c for c in evaluation.clocks if c.name == RECTIFICATION), evaluation


@pytest.mark.parametrize(("kpi", "grade"), [
    # 003 §4.1: a missed response time or resolution rate, without a major loss, is a minor breach
    (KpiName.RESOLUTION_RATE, BreachClass.MINOR),
    (KpiName.FIRST_RESPONSE_P90, BreachClass.MINOR),
    (KpiName.COMPLIANCE_ACKNOWLEDGE, BreachClass.MINOR),
    (KpiName.CSAT, BreachClass.MINOR),
    # 003 §4.2.3: a third-party score under 85 not rectified within 3 months of the report is a major breach
    (KpiName.THIRD_PARTY_SATISFACTION, BreachClass.MAJOR),
    # 003 §4.2.2: major complaints not resolved in time are a major breach
    (KpiName.MAJOR_RESOLVED_IN_TIME, BreachClass.MAJOR),
])
def test_an_unrectified_plan_breaches_with_its_kpis_class_from_the_seeds(kpi, grade):
    policy = load_policy().assessment("default")
    assert policy.improvement.rectification_class(kpi) is grade
    clock, evaluation = rectification_after_deadline(policy, kpi)
    assert clock.state is ClockState.BREACHED and clock.breach_class is grade
    assert evaluation.major_breached is (grade is BreachClass.MAJOR)
    assert [d.breach_class for d in evaluation.due if d.id == f"{RECTIFICATION}#1:breach"] == [grade]


def test_a_contract_sets_a_kpis_rectification_class_in_its_policy():
    raw = copy.deepcopy(default_raw())
    raw["contracts"]["default"]["improvement"]["breach_class"] = {"resolution_rate": "major",
                                                                  "third_party_satisfaction": "minor"}
    policy = parse_policy(raw).assessment("default")
    assert policy.version != load_policy().assessment("default").version
    assert rectification_after_deadline(policy, KpiName.RESOLUTION_RATE)[0].breach_class is BreachClass.MAJOR
    assert rectification_after_deadline(policy, KpiName.THIRD_PARTY_SATISFACTION)[0].breach_class is BreachClass.MINOR
    assert rectification_after_deadline(policy, KpiName.CSAT)[0].breach_class is BreachClass.MINOR  # the default


def test_runs_from_before_the_setting_keep_a_major_rectification():
    policy = load_policy().assessment("default")
    miss = Miss(trigger=Trigger.CYCLE, period="2026-Q1", value=0.9, target=Target(min=0.95))
    run = new_plan_run(policy=policy, kpi=KpiName.RESOLUTION_RATE, miss=miss, at=T0)
    evaluation = evaluate_plan(policy, run.events, T0 + timedelta(days=120), {}, calendar=calendar_of(policy),
                               rectification_class=BreachClass.MAJOR)
    assert next(c for c in evaluation.clocks if c.name == RECTIFICATION).breach_class is BreachClass.MAJOR


def test_an_unknown_breach_class_names_its_key():
    raw = copy.deepcopy(default_raw())
    raw["contracts"]["default"]["improvement"]["breach_class"] = {"csat": "grave"}
    with pytest.raises(ValueError, match=r"improvement\.breach_class\.csat"):
        parse_policy(raw)
