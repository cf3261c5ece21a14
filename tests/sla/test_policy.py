"""The policy file: the shipped default loads, every error names its key, versions follow content."""

from __future__ import annotations

import copy
import re
import tomllib
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from sla.durations import Duration, parse_duration
from sla.kpi import KpiName, Target
from sla.periods import Cadence
from sla.policy import (
    ASSESSMENT_KEYS,
    AssessmentPolicy,
    ContractPolicy,
    PolicyError,
    default_policy_path,
    load_policy,
    parse_policy,
    resolve_extends,
)
from sla.vocabulary import BreachClass, ClockName, Severity
from tests.helpers.calendars import calendar_of


@pytest.fixture(scope="module")
def raw_default() -> dict:
    return tomllib.loads(default_policy_path().read_text(encoding="utf-8"))


def _mutated(raw: dict, change) -> dict:
    copied = copy.deepcopy(raw)
    change(copied)
    return copied


def _error(raw: dict) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(raw)
    return str(info.value)


# ---- the shipped default --------------------------------------------------------------------------------------
def test_default_policy_loads():
    policy = load_policy()
    assert policy.version == "2026.1"
    assert {"default", "always-on", "demo"} <= set(policy.contracts)
    assert set(policy.calendars) >= {"cn-standard", "24x7"}


def test_default_contract_carries_the_seed_values():
    contract = load_policy().contract("default")
    assert contract.name == "default"
    assert contract.calendar_name == "cn-standard"
    assert contract.calendar.timezone == "Asia/Shanghai"
    assert contract.calendar.holidays == "CN"
    assert contract.target(ClockName.ACKNOWLEDGE, Severity.NORMAL) == Duration.working_hours(2)
    assert contract.target(ClockName.TRIAGE, Severity.NORMAL) == Duration.working_hours(24)
    assert contract.target(ClockName.HANDLING_PLAN, Severity.NORMAL) == Duration.working_days(5)
    assert contract.target(ClockName.PROGRESS_UPDATE, Severity.NORMAL) == Duration.working_days(10)
    assert contract.target(ClockName.SURVEY, Severity.NORMAL) == Duration.working_days(7)
    assert contract.warn_at == [0.5, 0.8]
    assert [step.to for step in contract.escalation] == ["team-lead", "supervisor", "manager"]


@pytest.mark.parametrize(
    ("severity", "days"),
    [(Severity.CRITICAL, 2), (Severity.MAJOR, 5), (Severity.NORMAL, 10), (Severity.LOW, 15)],
)
def test_resolve_target_per_severity(severity, days):
    contract = load_policy().contract("default")
    assert contract.target(ClockName.RESOLVE, severity) == Duration.working_days(days)
    # severity overrides only touch resolve
    assert contract.target(ClockName.ACKNOWLEDGE, severity) == Duration.working_hours(2)


def test_breach_class_per_severity():
    contract = load_policy().contract("default")
    assert contract.breach_class(ClockName.RESOLVE, Severity.CRITICAL) is BreachClass.MAJOR
    assert contract.breach_class(ClockName.RESOLVE, Severity.MAJOR) is BreachClass.MAJOR
    assert contract.breach_class(ClockName.RESOLVE, Severity.NORMAL) is BreachClass.MINOR
    assert contract.breach_class(ClockName.ACKNOWLEDGE, Severity.CRITICAL) is BreachClass.MINOR


def test_every_target_in_every_shipped_contract_parses():
    policy = load_policy()
    for name in policy.contracts:
        contract = policy.contract(name)
        for severity in Severity:
            for clock in ClockName:
                contract.target(clock, severity)
        for step in contract.escalation:
            parse_duration(step.after)
        parse_duration(contract.survey_window)


def test_business_calendar_of_default_contract():
    cal = calendar_of(load_policy().contract("default"))
    assert cal.data.timezone == "Asia/Shanghai"
    assert cal.is_working_day(date(2025, 9, 28))  # Sunday make-up workday
    assert not cal.is_working_day(date(2025, 10, 1))  # National Day


def test_contract_policy_survives_a_json_round_trip():
    # a complaint carries its ContractPolicy in workflow state: it must come back identical
    contract = load_policy().contract("default")
    again = ContractPolicy.model_validate_json(contract.model_dump_json())
    assert again == contract
    assert again.version == contract.version
    start = datetime(2025, 9, 30, 17, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert calendar_of(again).add(start, Duration.working_hours(2)) == calendar_of(contract).add(
        start, Duration.working_hours(2)
    )


def test_unknown_contract_raises_policy_error_naming_known_ones():
    with pytest.raises(PolicyError, match=r"unknown contract 'nope'.*default") as info:
        load_policy().contract("nope")
    assert "always-on" in str(info.value)


# ---- versions ---------------------------------------------------------------------------------------------------
def test_version_is_stable_for_same_content(raw_default):
    a = parse_policy(copy.deepcopy(raw_default)).contract("default")
    b = parse_policy(copy.deepcopy(raw_default)).contract("default")
    assert a.version == b.version
    assert a.version.startswith("2026.1+")


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r["contracts"]["default"]["targets"].__setitem__("acknowledge", "3 working hours"),
        lambda r: r["contracts"]["default"]["severity"]["critical"]["targets"].__setitem__("resolve", "3 working days"),
        lambda r: r["contracts"]["default"].__setitem__("warn_at", [0.75]),
        lambda r: r["contracts"]["default"]["escalation"][1].__setitem__("to", "duty-manager"),
        lambda r: r["contracts"]["default"].__setitem__("survey_window", "21 days"),
        lambda r: r["calendars"]["cn-standard"].__setitem__("hours", ["08:30-12:00", "13:00-17:30"]),
        lambda r: r["calendars"]["cn-standard"].__setitem__("extra_holidays", [date(2025, 12, 31)]),
        lambda r: r.__setitem__("version", "2026.2"),
    ],
)
def test_version_changes_when_content_changes(raw_default, change):
    before = parse_policy(copy.deepcopy(raw_default)).contract("default").version
    after = parse_policy(_mutated(raw_default, change)).contract("default").version
    assert after != before


def test_version_ignores_other_contracts(raw_default):
    before = parse_policy(copy.deepcopy(raw_default)).contract("default").version
    changed = _mutated(raw_default, lambda r: r["contracts"]["demo"]["targets"].__setitem__("acknowledge", "PT5S"))
    assert parse_policy(changed).contract("default").version == before


# ---- errors name the key ----------------------------------------------------------------------------------------
def test_bad_timezone_names_the_key(raw_default):
    message = _error(_mutated(raw_default,
                              lambda r: r["calendars"]["cn-standard"].__setitem__("timezone", "Mars/Olympus")))
    assert "calendars.cn-standard.timezone" in message
    assert "Mars/Olympus" in message


def test_bad_duration_names_contract_and_clock(raw_default):
    message = _error(_mutated(raw_default,
                              lambda r: r["contracts"]["default"]["targets"].__setitem__("triage", "soon")))
    assert "contracts.default.targets.triage" in message
    assert "'soon'" in message


def test_bad_severity_duration_names_the_key(raw_default):
    message = _error(
        _mutated(
            raw_default,
            # always-on extends default: its own table is merged over default's, and errors name always-on's key
            lambda r: r["contracts"]["always-on"].__setitem__(
                "severity", {"major": {"targets": {"resolve": "5 working weeks"}}}),
        )
    )
    assert "contracts.always-on.severity.major.targets.resolve" in message


def test_overlong_duration_is_a_policy_error(raw_default):
    message = _error(
        _mutated(raw_default, lambda r: r["contracts"]["default"]["targets"].__setitem__("survey", "99999999999 days"))
    )
    assert "contracts.default.targets.survey" in message


def test_bad_escalation_duration_names_the_step(raw_default):
    message = _error(
        _mutated(raw_default, lambda r: r["contracts"]["demo"]["escalation"].append({"after": "later", "to": "ceo"}))
    )
    assert "contracts.demo.escalation.3.after" in message


def test_unknown_calendar_names_the_key(raw_default):
    message = _error(_mutated(raw_default, lambda r: r["contracts"]["default"].__setitem__("calendar", "moon")))
    assert "contracts.default.calendar" in message
    assert "'moon'" in message
    assert "cn-standard" in message  # lists what is defined


def test_missing_clock_target_names_contract_and_clock(raw_default):
    message = _error(_mutated(raw_default, lambda r: r["contracts"]["default"]["targets"].pop("survey")))
    assert "contracts.default" in message
    assert "survey" in message


def test_missing_resolve_is_fine_when_every_severity_overrides_it(raw_default):
    # the default contract sets resolve for all four severities, so the base target may go
    changed = _mutated(raw_default, lambda r: r["contracts"]["default"]["targets"].pop("resolve"))
    contract = parse_policy(changed).contract("default")
    assert contract.target(ClockName.RESOLVE, Severity.LOW) == Duration.working_days(15)


def test_missing_resolve_for_one_severity_names_that_severity(raw_default):
    def change(r):
        r["contracts"]["demo"]["targets"].pop("resolve")

    message = _error(_mutated(raw_default, change))
    assert "contracts.demo" in message
    assert "resolve" in message
    assert "normal" in message


def test_unknown_clock_name_is_refused(raw_default):
    message = _error(_mutated(raw_default, lambda r: r["contracts"]["default"]["targets"].__setitem__("lunch", "1h")))
    assert "contracts.default.targets.lunch" in message


def test_unknown_severity_is_refused(raw_default):
    message = _error(_mutated(raw_default, lambda r: r["contracts"]["default"]["severity"].__setitem__("urgent", {})))
    assert "contracts.default.severity.urgent" in message


def test_unknown_key_is_refused(raw_default):
    message = _error(_mutated(raw_default, lambda r: r["contracts"]["default"].__setitem__("warn_after", [0.5])))
    assert "contracts.default.warn_after" in message


@pytest.mark.parametrize("fractions", [[0.0], [1.0], [0.5, 1.2], [-0.1]])
def test_warning_fractions_out_of_range(raw_default, fractions):
    message = _error(_mutated(raw_default, lambda r: r["contracts"]["default"].__setitem__("warn_at", fractions)))
    assert "contracts.default.warn_at" in message


def test_warning_fractions_sharing_a_percentage_are_refused(raw_default):
    # warning action ids are '<clock>#n:warn:<percent>': 0.501 and 0.502 would share 'warn:50'
    message = _error(_mutated(raw_default, lambda r: r["contracts"]["default"].__setitem__("warn_at", [0.501, 0.502])))
    assert "contracts.default.warn_at" in message


def test_warning_fractions_are_sorted_and_deduplicated(raw_default):
    changed = _mutated(raw_default, lambda r: r["contracts"]["default"].__setitem__("warn_at", [0.9, 0.5, 0.5]))
    assert parse_policy(changed).contract("default").warn_at == [0.5, 0.9]


@pytest.mark.parametrize(
    ("hours", "needle"),
    [
        (["09:00-12:00", "11:00-13:00"], "overlap"),
        (["13:00-18:00", "09:00-12:00"], "overlap"),
        (["18:00-09:00"], "ends before it starts"),
        (["9 to 5"], "not like"),
        ([], "at least one"),
    ],
)
def test_bad_working_hours(raw_default, hours, needle):
    message = _error(_mutated(raw_default, lambda r: r["calendars"]["cn-standard"].__setitem__("hours", hours)))
    assert "calendars.cn-standard.hours" in message
    assert needle in message


def test_bad_weekday(raw_default):
    message = _error(_mutated(raw_default, lambda r: r["calendars"]["24x7"].__setitem__("workdays", ["mon", "funday"])))
    assert "calendars.24x7.workdays" in message
    assert "funday" in message


def test_several_problems_are_all_reported(raw_default):
    def change(r):
        r["calendars"]["cn-standard"]["timezone"] = "Nowhere/Land"
        r["contracts"]["default"]["targets"]["triage"] = "soon"

    message = _error(_mutated(raw_default, change))
    assert "calendars.cn-standard.timezone" in message
    assert "contracts.default.targets.triage" in message


def test_load_policy_missing_file(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "absent.toml")


def test_load_policy_invalid_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[calendars\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(path)


def test_load_policy_error_names_the_file(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        '[calendars.utc]\ntimezone = "UTC"\n[contracts.x]\ncalendar = "utc"\n'
        '[contracts.x.targets]\nacknowledge = "soon"\n',
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert str(path) in str(info.value)
    assert "contracts.x.targets.acknowledge" in str(info.value)


def test_minimal_policy_file_round_trip(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        """
version = "t"
[calendars.utc]
timezone = "UTC"
[contracts.x]
calendar = "utc"
[contracts.x.targets]
acknowledge = "PT30S"
triage = "PT2M"
handling_plan = "PT3M"
progress_update = "PT2M"
resolve = "PT10M"
notify_result = "PT1M"
survey = "PT1M"
""",
        encoding="utf-8",
    )
    contract = load_policy(path).contract("x")
    assert contract.warn_at == [0.5, 0.8]  # defaults
    assert contract.escalation == []
    assert contract.survey_window == "14 days"
    cal = calendar_of(contract)
    assert cal.is_working_day(date(2025, 10, 1))  # no holidays, every weekday


# ---- assessment sections: KPI targets, cycles, improvement plans, interruptions --------------------------------------
_K = KpiName


def _default(r: dict) -> dict:
    return r["contracts"]["default"]


def test_default_assessment_targets_are_the_seed_values():
    assessment = load_policy().assessment("default")
    assert assessment.name == "default"
    assert assessment.calendar_name == "cn-standard"
    assert assessment.version.startswith("2026.1+")
    assert assessment.targets == {
        _K.CSAT: Target(min=85),
        _K.THIRD_PARTY_SATISFACTION: Target(min=85),
        _K.RESOLUTION_RATE: Target(min=0.95),
        _K.MAJOR_RESOLVED_IN_TIME: Target(min=1.0),
        _K.FIRST_RESPONSE_P90: Target(max=7200),  # "2 working hours" in working seconds
        _K.AHT: Target(max=1800),  # "PT30M"
        _K.FCR: Target(min=0.7),
        _K.COMPLIANCE_ACKNOWLEDGE: Target(min=0.95),
        _K.COMPLIANCE_RESOLVE: Target(min=0.95),
    }


def test_default_assessment_cycles():
    assessment = load_policy().assessment("default")
    assert set(assessment.cycles) == {Cadence.MONTHLY, Cadence.QUARTERLY, Cadence.ANNUAL}
    monthly = assessment.cycle(Cadence.MONTHLY)
    assert monthly.assess == [_K.RESOLUTION_RATE, _K.MAJOR_RESOLVED_IN_TIME, _K.FIRST_RESPONSE_P90, _K.AHT, _K.FCR,
                              _K.COMPLIANCE_ACKNOWLEDGE]
    assert monthly.start_plans is False  # the monthly performance report informs; it starts no plans
    assert (monthly.grace, monthly.report_within) == ("1 working day", "5 working days")
    quarterly = assessment.cycle(Cadence.QUARTERLY)
    assert quarterly.assess == [_K.CSAT, _K.RESOLUTION_RATE, _K.MAJOR_RESOLVED_IN_TIME, _K.FIRST_RESPONSE_P90,
                                _K.AHT, _K.FCR, _K.COMPLIANCE_ACKNOWLEDGE, _K.COMPLIANCE_RESOLVE]
    assert quarterly.start_plans is True
    annual = assessment.cycle(Cadence.ANNUAL)
    assert annual.assess == [_K.THIRD_PARTY_SATISFACTION]
    assert (annual.grace, annual.report_within) == ("5 working days", "10 working days")


def test_default_improvement_and_interruption():
    assessment = load_policy().assessment("default")
    assert assessment.improvement.submit_within == "15 working days"
    assert assessment.improvement.progress_every == "6 months"
    assert assessment.improvement.rectify_within == "3 months"
    assert assessment.improvement.on_major_complaint_breach is True
    assert parse_duration(assessment.improvement.progress_every) == Duration.calendar_months(6)
    assert assessment.interruption.major_after == "4h"
    assert assessment.warn_at == [0.5, 0.8]
    assert [step.to for step in assessment.escalation] == ["team-lead", "supervisor", "manager"]
    assert calendar_of(assessment) == calendar_of(load_policy().contract("default"))


def test_always_on_and_demo_assessments():
    policy = load_policy()
    assert policy.assessment("always-on").targets == policy.assessment("default").targets
    demo = policy.assessment("demo")
    assert set(demo.targets) == {_K.CSAT, _K.RESOLUTION_RATE, _K.MAJOR_RESOLVED_IN_TIME}
    assert set(demo.cycles) == {Cadence.MONTHLY}
    assert demo.improvement.submit_within == "PT2M" and demo.interruption.major_after == "PT1M"


def test_every_assessment_duration_in_every_shipped_contract_parses():
    policy = load_policy()
    for name in policy.contracts:
        assessment = policy.assessment(name)
        for cycle in assessment.cycles.values():
            parse_duration(cycle.grace)
            parse_duration(cycle.report_within)
            assert set(cycle.assess) <= set(assessment.targets)
        for text in (assessment.improvement.submit_within, assessment.improvement.progress_every,
                     assessment.improvement.rectify_within, assessment.interruption.major_after):
            parse_duration(text)


def test_assessment_defaults_when_the_sections_are_absent(raw_default):
    raw = _mutated(raw_default, lambda r: [_default(r).pop(key) for key in ASSESSMENT_KEYS])
    assessment = parse_policy(raw).assessment("default")
    assert assessment.targets == {} and assessment.cycles == {}
    assert assessment.improvement.submit_within == "15 working days"
    assert assessment.improvement.rectify_within == "3 months"
    assert assessment.interruption.major_after == "4h"
    with pytest.raises(PolicyError, match=r"contract 'default' has no quarterly cycle \(configured: none\)"):
        assessment.cycle(Cadence.QUARTERLY)


def test_missing_cycle_names_the_configured_ones():
    with pytest.raises(PolicyError, match=r"'demo' has no annual cycle \(configured: monthly\)"):
        load_policy().assessment("demo").cycle(Cadence.ANNUAL)


def test_unknown_contract_assessment_is_a_policy_error():
    with pytest.raises(PolicyError, match=r"unknown contract 'nope'.*default"):
        load_policy().assessment("nope")


def test_assessment_policy_survives_a_json_round_trip():
    assessment = load_policy().assessment("default")
    again = AssessmentPolicy.model_validate_json(assessment.model_dump_json())
    assert again == assessment


def test_assess_naming_a_kpi_without_a_target_is_refused(raw_default):
    message = _error(_mutated(raw_default, lambda r: _default(r)["cycles"]["quarterly"]["assess"].append("nps")))
    assert "contracts.default" in message
    assert "cycles.quarterly.assess" in message
    assert "'nps'" in message


def test_duration_bound_on_a_non_time_kpi_is_refused(raw_default):
    message = _error(_mutated(raw_default, lambda r: _default(r)["kpi_targets"].__setitem__(
        "csat", {"min": "85 working hours"})))
    assert "contracts.default.kpi_targets" in message
    assert "csat" in message and "duration bound only fits a time KPI" in message


@pytest.mark.parametrize("bound", ["3 working days", "6 months"])
def test_bound_without_a_fixed_length_in_seconds_is_refused(raw_default, bound):
    message = _error(_mutated(raw_default, lambda r: _default(r)["kpi_targets"].__setitem__("aht", {"max": bound})))
    assert "contracts.default.kpi_targets" in message
    assert f"{bound!r} has no fixed length in seconds" in message


def test_bound_error_names_the_kpi(raw_default):
    message = _error(_mutated(raw_default, lambda r: _default(r)["kpi_targets"].__setitem__(
        "aht", {"max": "3 working days"})))
    assert "aht" in message


def test_duration_bounds_in_hours_become_seconds(raw_default):
    raw = _mutated(raw_default, lambda r: _default(r)["kpi_targets"].update(
        first_response_p50={"max": "0.5 working hours"}, first_response_wall_p90={"max": "48h", "min_n": 30}))
    targets = parse_policy(raw).assessment("default").targets
    assert targets[_K.FIRST_RESPONSE_P50] == Target(max=1800)
    assert targets[_K.FIRST_RESPONSE_WALL_P90] == Target(max=172800, min_n=30)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [({"min": 1, "max": 2}, "exactly one of min or max"), ({}, "exactly one of min or max"),
     ({"min": 85, "min_n": 0}, "kpi_targets.csat.min_n"), ({"min": 85, "below": 1}, "kpi_targets.csat.below")],
)
def test_bad_targets_are_refused(raw_default, spec, needle):
    message = _error(_mutated(raw_default, lambda r: _default(r)["kpi_targets"].__setitem__("csat", spec)))
    assert needle in message


def test_unknown_kpi_and_cadence_are_refused(raw_default):
    message = _error(_mutated(raw_default, lambda r: _default(r)["kpi_targets"].__setitem__("happiness", {"min": 1})))
    assert "contracts.default.kpi_targets.happiness" in message
    message = _error(_mutated(raw_default, lambda r: _default(r)["cycles"].__setitem__("weekly", {})))
    assert "contracts.default.cycles.weekly" in message and "quarterly" in message


@pytest.mark.parametrize(
    ("section", "key"),
    [("improvement", "submit_within"), ("improvement", "progress_every"), ("improvement", "rectify_within"),
     ("interruption", "major_after")],
)
def test_bad_plan_and_interruption_durations_name_the_key(raw_default, section, key):
    message = _error(_mutated(raw_default, lambda r: _default(r)[section].__setitem__(key, "soon")))
    assert f"contracts.default.{section}.{key}" in message and "'soon'" in message


def test_bad_cycle_duration_names_the_key(raw_default):
    message = _error(_mutated(raw_default, lambda r: _default(r)["cycles"]["annual"].__setitem__("grace", "soon")))
    assert "contracts.default.cycles.annual.grace" in message


# ---- versions: the complaint policy digest covers only what a complaint decides -------------------------------------
def test_assessment_sections_touch_the_complaint_policy_only_where_a_complaint_decides(raw_default):
    # Interruptions are nothing a complaint decides, nor which cycle assesses what, beyond one fact: whether some
    # cycle assesses major_resolved_in_time (a plan a major breach opens can close only then).
    with_sections = parse_policy(copy.deepcopy(raw_default)).contract("default")
    without = parse_policy(_mutated(raw_default, lambda r: _default(r).pop("interruption")))
    assert without.contract("default") == with_sections
    only_annual = parse_policy(_mutated(raw_default, lambda r: [_default(r)["cycles"].pop(c)
                                                                for c in ("monthly", "quarterly")]))
    assert only_annual.contract("default").plan_on_major_breach is False
    assert not only_annual.assessment("default").assesses(KpiName.MAJOR_RESOLVED_IN_TIME)
    assert only_annual.assessment("default").assesses(KpiName.THIRD_PARTY_SATISFACTION)
    assert with_sections.plan_on_major_breach and load_policy().assessment("default").assesses(
        KpiName.MAJOR_RESOLVED_IN_TIME)
    # Which answers open a plan, and whether a major breach does, travel in the complaint's snapshot.
    assert with_sections.plans_on_negative_feedback == {KpiName.CSAT: 1} and with_sections.plan_on_major_breach
    no_targets = parse_policy(_mutated(raw_default, lambda r: [_default(r).pop(k) for k in ("kpi_targets", "cycles")]))
    bare = no_targets.contract("default")
    assert bare.plans_on_negative_feedback == {} and bare.plan_on_major_breach is False
    assert bare.version != with_sections.version


@pytest.mark.parametrize(
    "change",
    [
        lambda r: _default(r)["kpi_targets"].__setitem__("csat", {"min": 90}),
        lambda r: _default(r)["kpi_targets"].__setitem__("nps", {"min": 30}),
        lambda r: _default(r)["cycles"]["quarterly"].__setitem__("grace", "2 working days"),
        lambda r: _default(r)["cycles"]["monthly"].__setitem__("start_plans", True),
        lambda r: _default(r)["improvement"].__setitem__("rectify_within", "6 months"),
        lambda r: _default(r)["interruption"].__setitem__("major_after", "2h"),
    ],
)
def test_editing_assessment_sections_changes_only_the_assessment_version(raw_default, change):
    before = parse_policy(copy.deepcopy(raw_default))
    after = parse_policy(_mutated(raw_default, change))
    assert after.contract("default").version == before.contract("default").version
    assert after.assessment("default").version != before.assessment("default").version


def test_assessment_version_is_stable_and_follows_the_calendar(raw_default):
    a = parse_policy(copy.deepcopy(raw_default)).assessment("default")
    b = parse_policy(copy.deepcopy(raw_default)).assessment("default")
    assert a.version == b.version
    moved = _mutated(raw_default, lambda r: r["calendars"]["cn-standard"].__setitem__("extra_holidays",
                                                                                      [date(2025, 12, 31)]))
    assert parse_policy(moved).assessment("default").version != a.version
    other = _mutated(raw_default, lambda r: r["contracts"]["demo"]["kpi_targets"].__setitem__("csat", {"min": 1}))
    assert parse_policy(other).assessment("default").version == a.version


def test_category_rules_load_and_version_the_complaint_policy(raw_default):
    raw = _mutated(raw_default, lambda r: _default(r).__setitem__(
        "category", {"billing": {"targets": {"resolve": "5 working days"}, "major_breach": ["resolve"]}}))
    contract = parse_policy(raw).contract("default")
    assert contract.category["billing"].targets == {ClockName.RESOLVE: "5 working days"}
    assert contract.version != load_policy().contract("default").version
    bad = _mutated(raw_default, lambda r: _default(r).__setitem__(
        "category", {"billing": {"targets": {"resolve": "soon"}}}))
    assert "contracts.default.category.billing.targets.resolve" in _error(bad)


# ---- extends ----------------------------------------------------------------------------------------------------
# The shipped contracts' versions: complaints, plans and cycles carry them, and golden histories replay with them.
SHIPPED_VERSIONS = {
    "default": ("2026.1+03f2700837c3", "2026.1+9d3b34ad032e"),
    "always-on": ("2026.1+184d1939ad7c", "2026.1+9cb6b69e3f92"),
    "demo": ("2026.1+45be278ead67", "2026.1+f36820baf272"),
}


def test_always_on_is_default_on_another_calendar_and_resolves_as_when_spelled_out(raw_default):
    assert raw_default["contracts"]["always-on"] == {"extends": "default", "calendar": "24x7"}
    policy = load_policy()
    assert {name: (policy.contract(name).version, policy.assessment(name).version) for name in policy.contracts} \
        == SHIPPED_VERSIONS
    calendar_fields = {"name", "version", "calendar_name", "calendar"}
    assert policy.contract("always-on").model_dump(exclude=calendar_fields) \
        == policy.contract("default").model_dump(exclude=calendar_fields)
    assert policy.assessment("always-on").model_dump(exclude=calendar_fields) \
        == policy.assessment("default").model_dump(exclude=calendar_fields)
    assert policy.contract("always-on").calendar_name == "24x7"
    spelled_out = copy.deepcopy(raw_default)
    spelled_out["contracts"]["always-on"] = dict(copy.deepcopy(raw_default["contracts"]["default"]), calendar="24x7")
    assert parse_policy(spelled_out) == policy


def test_extends_merges_tables_key_by_key_and_replaces_lists(raw_default):
    raw = _mutated(raw_default, lambda r: r["contracts"].__setitem__("strict", {
        "extends": "always-on", "warn_at": [0.9], "targets": {"acknowledge": "1 working hour"},
        "severity": {"major": {"targets": {"resolve": "3 working days"}}},
    }))
    strict, default = parse_policy(raw).contract("strict"), load_policy().contract("default")
    assert strict.calendar_name == "24x7"  # through always-on
    assert strict.warn_at == [0.9]
    assert strict.targets[ClockName.ACKNOWLEDGE] == "1 working hour"
    assert strict.targets[ClockName.TRIAGE] == default.targets[ClockName.TRIAGE]
    assert strict.severity[Severity.MAJOR].targets[ClockName.RESOLVE] == "3 working days"
    assert strict.severity[Severity.MAJOR].major_breach == [ClockName.RESOLVE]  # kept from default's table
    assert strict.severity[Severity.CRITICAL] == default.severity[Severity.CRITICAL]
    assert raw["contracts"]["strict"]["extends"] == "always-on"  # the input is left as written
    assert resolve_extends(raw)["contracts"]["strict"].get("extends") is None


def test_extends_of_an_unknown_contract_names_the_field(raw_default):
    message = _error(_mutated(raw_default, lambda r: r["contracts"]["always-on"].__setitem__("extends", "nope")))
    assert "contracts.always-on.extends: unknown contract 'nope'" in message
    assert message.count(".") <= 3 and ";" not in message  # one plain sentence


@pytest.mark.parametrize("circle", [{"a": "b", "b": "a"}, {"a": "a"}, {"a": "b", "b": "c", "c": "a"}])
def test_contracts_extending_each_other_in_a_circle_are_refused(raw_default, circle):
    def change(r):
        for name, base in circle.items():
            r["contracts"][name] = {"extends": base}
    message = _error(_mutated(raw_default, change))
    assert re.fullmatch(r"policy: contracts\.[abc]\.extends: contracts extend each other in a circle \(a( -> [abc])+\)",
                        message), message
