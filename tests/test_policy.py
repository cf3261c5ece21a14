"""The policy file: the shipped default loads, every error names its key, versions follow content."""

from __future__ import annotations

import copy
import tomllib
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from sla.durations import Duration, parse_duration
from sla.policy import ContractPolicy, PolicyError, default_policy_path, load_policy, parse_policy
from sla.vocabulary import BreachClass, ClockName, Severity


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
    cal = load_policy().contract("default").business_calendar()
    assert cal.tz == ZoneInfo("Asia/Shanghai")
    assert cal.is_working_day(date(2025, 9, 28))  # Sunday make-up workday
    assert not cal.is_working_day(date(2025, 10, 1))  # National Day


def test_contract_policy_survives_a_json_round_trip():
    # a complaint carries its ContractPolicy in workflow state: it must come back identical
    contract = load_policy().contract("default")
    again = ContractPolicy.model_validate_json(contract.model_dump_json())
    assert again == contract
    assert again.version == contract.version
    start = datetime(2025, 9, 30, 17, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert again.business_calendar().add(start, Duration.working_hours(2)) == contract.business_calendar().add(
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
    message = _error(_mutated(raw_default, lambda r: r["calendars"]["cn-standard"].__setitem__("timezone", "Mars/Olympus")))
    assert "calendars.cn-standard.timezone" in message
    assert "Mars/Olympus" in message


def test_bad_duration_names_contract_and_clock(raw_default):
    message = _error(_mutated(raw_default, lambda r: r["contracts"]["default"]["targets"].__setitem__("triage", "soon")))
    assert "contracts.default.targets.triage" in message
    assert "'soon'" in message


def test_bad_severity_duration_names_the_key(raw_default):
    message = _error(
        _mutated(
            raw_default,
            lambda r: r["contracts"]["always-on"]["severity"]["major"]["targets"].__setitem__("resolve", "5 working weeks"),
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
        '[calendars.utc]\ntimezone = "UTC"\n[contracts.x]\ncalendar = "utc"\n[contracts.x.targets]\nacknowledge = "soon"\n',
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
    cal = contract.business_calendar()
    assert cal.is_working_day(date(2025, 10, 1))  # no holidays, every weekday
