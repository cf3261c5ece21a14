"""The policy file: calendars and contracts, validated so that every error names the offending key.

A contract's resolved policy (`ContractPolicy`, with its calendar inlined and a content version) is what a
complaint carries for its whole life; editing the file never changes running complaints by itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from sla.calendar_spec import CalendarSpec  # CalendarSpec: also a name of this module
from sla.calendar_spec import StrictModel as _Strict
from sla.durations import Duration, DurationKind, parse_duration
from sla.errors import plain
from sla.kpi_catalogue import DEFINITIONS, KpiName, Target, Unit
from sla.periods import Cadence
from sla.vocabulary import BreachClass, ClockName, Severity


class PolicyError(ValueError):
    """A policy file or contract that cannot be used; the message names the key."""


def _check_duration(text: str) -> str:
    parse_duration(text)  # DurationError is a ValueError: pydantic reports it under the key
    return text


DurationText = Annotated[str, AfterValidator(_check_duration)]


class EscalationStep(_Strict):
    after: DurationText  # measured from the breach, in the contract's calendar
    to: str


class SeverityRules(_Strict):
    targets: dict[ClockName, DurationText] = Field(default_factory=dict)
    major_breach: list[ClockName] = Field(default_factory=list)


CategoryName = Annotated[str, Field(min_length=1, max_length=200)]


class TargetSpec(_Strict):
    """`{ min = 85 }`, `{ max = 0.05 }`, or for time KPIs a duration: `{ max = "2 working hours" }`."""

    min: float | str | None = None
    max: float | str | None = None
    min_n: int = Field(1, ge=1)  # fewer answers/complaints than this: reported, not judged


def _seconds(value: float | str | None, key: str) -> float | None:
    if value is None or not isinstance(value, str):
        return value
    duration = parse_duration(value)
    if duration.kind not in (DurationKind.WALL, DurationKind.WORKING_HOURS):
        raise ValueError(f"{key}: {value!r} has no fixed length in seconds; use hours, e.g. '16 working hours'")
    return duration.length.total_seconds()


def _target(name: KpiName, spec: TargetSpec) -> Target:
    unit = DEFINITIONS[name][1]
    if unit is not Unit.SECONDS and (isinstance(spec.min, str) or isinstance(spec.max, str)):
        raise ValueError(f"{name.value}: a duration bound only fits a time KPI; give a number")
    try:
        return Target(min=_seconds(spec.min, "min"), max=_seconds(spec.max, "max"), min_n=spec.min_n)
    except ValidationError as exc:
        raise ValueError(plain(exc)) from None


class CycleSpec(_Strict):
    """One assessment cadence of a contract (001 §5.2 monthly report, 000 §3.4 quarterly, 003 §2.3.3 annual)."""

    grace: DurationText = "1 working day"  # after period end, for late survey batches and in-flight complaints
    report_within: DurationText = "5 working days"  # the report's own delivery deadline, from period end
    assess: list[KpiName] = Field(default_factory=list)  # targets checked (all KPIs are reported regardless)
    start_plans: bool = True  # a missed target starts an ImprovementPlanWorkflow
    # A cycle checking the third-party score that has none by its collection time: the yearly survey was not done.
    missing_survey: BreachClass = BreachClass.MAJOR


def assessed(cycles: dict[Cadence, CycleSpec]) -> set[KpiName]:
    """The KPIs some cycle checks: only their plans can close (a later cycle meeting the target closes one)."""
    return {kpi for cycle in cycles.values() for kpi in cycle.assess}


class NegativeFeedbackSpec(_Strict):
    """Significant negative feedback (000 §5.2): a complaint's answer at or below a score starts that KPI's plan.

    Written `{ csat = 1 }` (1 = very dissatisfied on 1-5); `nps` (0-10) may be added; `{}` starts none.
    """

    csat: int | None = Field(None, ge=1, le=5)
    nps: int | None = Field(None, ge=0, le=10)


# A missed response time or resolution rate is a minor breach (003 §4.1); only an unrectified third-party score
# (003 §4.2.3) and major complaints not resolved in time (003 §4.2.2) are major.
MAJOR_RECTIFICATION = frozenset({KpiName.THIRD_PARTY_SATISFACTION, KpiName.MAJOR_RESOLVED_IN_TIME})


class ImprovementSpec(_Strict):
    """Improvement-plan clocks (000 §5.2-5.4, 003 §4.2.3)."""

    submit_within: DurationText = "15 working days"  # after the report
    progress_every: DurationText = "6 months"
    rectify_within: DurationText = "3 months"  # after the report; missed: major breach
    on_major_complaint_breach: bool = True  # a critical/major complaint missing `resolve` starts one too
    on_negative_feedback: NegativeFeedbackSpec = Field(default_factory=lambda: NegativeFeedbackSpec(csat=1))
    # KPI -> class of a missed rectification, over the defaults (minor; major for MAJOR_RECTIFICATION)
    breach_class: dict[KpiName, BreachClass] = Field(default_factory=dict)

    def rectification_class(self, kpi: KpiName) -> BreachClass:
        """How grave it is when a plan on `kpi` is not rectified in time."""
        default = BreachClass.MAJOR if kpi in MAJOR_RECTIFICATION else BreachClass.MINOR
        return self.breach_class.get(kpi, default)


DAY_SECONDS = 86_400
MAX_HANDLING_SECONDS = 366 * DAY_SECONDS  # no contract may allow more: a handling time is summed into KPIs


class Limits(_Strict):
    """Bounds on what a complaint accepts: `[limits]` in the file sets them for every contract, `[contracts.X.limits]`
    for one (keys left out keep the file's or these defaults). They keep one request from freezing a clock or a
    cycle: a refusal names the field and the bound."""

    handling_seconds: int = Field(30 * DAY_SECONDS, ge=1, le=MAX_HANDLING_SECONDS)  # per progress or resolve
    received_within_days: int = Field(30, ge=0, le=366)  # how far back a live open may be received
    receipt_skew_seconds: int = Field(300, ge=0, le=3600)  # a desk clock this far ahead is taken as now
    extend_within_days: int = Field(365, ge=1, le=3 * 365)  # how far after receipt an extension may reach
    record_events: int = Field(5_000, ge=100, le=100_000)  # events in one complaint's record
    survey_batch_answers: int = Field(10_000, ge=1, le=100_000)  # answers in one survey import
    survey_batches: int = Field(1_000, ge=1, le=100_000)  # survey imports into one cycle


DEFAULT_LIMITS = Limits()


def merged_limits(*tables: Limits | None) -> Limits | None:
    """The limits of the later tables over the earlier (only the keys each sets); None when none is set, so a
    policy without `[limits]` keeps the version it had before limits existed."""
    given = [t for t in tables if t is not None]
    if not given:
        return None
    return Limits(**{k: v for t in given for k, v in t.model_dump(exclude_unset=True).items()})


class ReportTo(_Strict):
    """Who receives a contract's finished assessment reports (000 §3.4, 002 §2.3: results reported to the other
    party): e-mail with the HTML and Markdown attached, and/or the worker's webhook with the JSON."""

    email: list[Annotated[str, Field(pattern=r"^[^@\s,;<>]+@[^@\s,;<>]+$", max_length=254)]] = Field(
        default_factory=list, max_length=50)
    webhook: bool = False


class InterruptionSpec(_Strict):
    major_after: DurationText = "4h"  # 003 §1.3, §4.2.1: longer is a major breach


ASSESSMENT_KEYS = {"kpi_targets", "cycles", "improvement", "interruption"}


class ContractSpec(_Strict):
    """A contract as written in the file (calendar by name)."""

    calendar: str
    targets: dict[ClockName, DurationText]
    severity: dict[Severity, SeverityRules] = Field(default_factory=dict)
    # Per nature of the complaint (002 §1.3: time limits by nature and urgency), the category given at triage or
    # reclassification: its targets override the severity's, its major_breach clocks add to them.
    category: dict[CategoryName, SeverityRules] = Field(default_factory=dict)
    warn_at: list[float] = Field(default_factory=lambda: [0.5, 0.8])
    escalation: list[EscalationStep] = Field(default_factory=list)
    survey_window: DurationText = "14 days"
    # 000 §4.4 asks for "a preliminary handling opinion or a progress update": the handling plan told to the customer
    # is such an opinion, so it meets `progress_update` and restarts it.
    plan_counts_as_progress: bool = True
    # 000 §4.5: a complaint verified as the provider's fault gets a remedy; resolving one without is refused.
    at_fault_needs_remedy: bool = True
    kpi_targets: dict[KpiName, TargetSpec] = Field(default_factory=dict)
    cycles: dict[Cadence, CycleSpec] = Field(default_factory=dict)
    improvement: ImprovementSpec = Field(default_factory=ImprovementSpec)
    interruption: InterruptionSpec = Field(default_factory=InterruptionSpec)
    limits: Limits | None = None
    report_to: ReportTo | None = None

    @field_validator("kpi_targets")
    @classmethod
    def _targets_fit_their_kpi(cls, value: dict[KpiName, TargetSpec]) -> dict[KpiName, TargetSpec]:
        for name, spec in value.items():
            try:
                _target(name, spec)
            except ValueError as exc:
                message = str(exc).removeprefix("Value error, ")
                raise ValueError(f"{name.value}: {message}") from None
        return value

    @model_validator(mode="after")
    def _assessed_targets_exist(self) -> ContractSpec:
        for cadence, cycle in self.cycles.items():
            missing = [k.value for k in cycle.assess if k not in self.kpi_targets]
            if missing:
                raise ValueError(f"cycles.{cadence.value}.assess: no kpi_targets for {missing}")
        return self

    @field_validator("warn_at")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in value):
            raise ValueError("warning fractions must be between 0 and 1 (exclusive)")
        if len({round(f * 100) for f in value}) != len(set(value)):
            # warning action ids carry the whole percentage: two fractions must not share one
            raise ValueError("warning fractions must differ by whole percentages (e.g. 0.5, 0.8)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _every_clock_has_a_target(self) -> ContractSpec:
        for sev in Severity:
            overrides = self.severity.get(sev, SeverityRules()).targets
            missing = [c.value for c in ClockName if c not in self.targets and c not in overrides]
            if missing:
                raise ValueError(f"no target for clock(s) {missing} at severity {sev.value!r}")
        return self


class ContractPolicy(_Strict):
    """A contract with its calendar inlined: everything a complaint needs, carried in its workflow state."""

    name: str
    version: str
    calendar_name: str
    calendar: CalendarSpec
    targets: dict[ClockName, DurationText]
    severity: dict[Severity, SeverityRules] = Field(default_factory=dict)
    category: dict[str, SeverityRules] = Field(default_factory=dict)  # empty in snapshots taken before categories
    warn_at: list[float]
    escalation: list[EscalationStep]
    survey_window: DurationText
    # None in snapshots taken before the switch existed: those complaints keep counting only progress posts.
    plan_counts_as_progress: bool | None = None
    at_fault_needs_remedy: bool | None = None  # None in snapshots taken before: nothing refused
    # What the complaint itself decides about improvement plans (None in snapshots taken before it did).
    plan_on_major_breach: bool | None = None  # a critical/major complaint missing `resolve` opens one
    plans_on_negative_feedback: dict[KpiName, int] | None = None  # KPI -> score at or below which an answer opens one
    limits: Limits | None = None  # None: the defaults (and in snapshots taken before limits existed)

    @property
    def bounds(self) -> Limits:
        return self.limits or DEFAULT_LIMITS

    def target(self, clock: ClockName, severity: Severity, category: str | None = None) -> Duration:
        for rules in (self.category.get(category) if category else None, self.severity.get(severity)):
            if rules is not None and clock in rules.targets:
                return parse_duration(rules.targets[clock])
        return parse_duration(self.targets[clock])

    def breach_class(self, clock: ClockName, severity: Severity, category: str | None = None) -> BreachClass:
        for rules in (self.category.get(category) if category else None, self.severity.get(severity)):
            if rules is not None and clock in rules.major_breach:
                return BreachClass.MAJOR
        return BreachClass.MINOR


class AssessmentPolicy(_Strict):
    """What assessment cycles, improvement plans and interruptions of one contract carry (a snapshot)."""

    name: str
    version: str
    calendar_name: str
    calendar: CalendarSpec
    warn_at: list[float]
    escalation: list[EscalationStep]
    targets: dict[KpiName, Target]
    cycles: dict[Cadence, CycleSpec]
    improvement: ImprovementSpec
    interruption: InterruptionSpec
    report_to: ReportTo | None = None  # None: reports stay in the report folder (and snapshots from before)

    def assesses(self, kpi: KpiName) -> bool:
        """Some cycle checks this KPI's target (so a plan opened for it can close)."""
        return kpi in assessed(self.cycles)

    def cycle(self, cadence: Cadence) -> CycleSpec:
        spec = self.cycles.get(cadence)
        if spec is None:
            known = ", ".join(c.value for c in self.cycles) or "none"
            raise PolicyError(f"contract {self.name!r} has no {cadence.value} cycle (configured: {known})")
        return spec


class PolicyFile(_Strict):
    version: str = "unversioned"
    calendars: dict[str, CalendarSpec]
    contracts: dict[str, ContractSpec]
    limits: Limits | None = None  # for every contract; a contract's own `limits` table overrides key by key

    @field_validator("calendars")
    @classmethod
    def _known_countries(cls, value: dict[str, CalendarSpec]) -> dict[str, CalendarSpec]:
        # Checked here, where a file is read, not on CalendarSpec: that model is also decoded inside workflows,
        # which must never import the holidays package.
        from sla.official_calendar import known_country

        for name, spec in value.items():
            if spec.holidays is not None and not known_country(spec.holidays):
                raise ValueError(f"{name}.holidays: unknown holiday country {spec.holidays!r} "
                                 "(a code of the 'holidays' package, e.g. 'CN')")
        return value

    @model_validator(mode="after")
    def _calendars_exist(self) -> PolicyFile:
        for name, contract in self.contracts.items():
            if contract.calendar not in self.calendars:
                raise ValueError(
                    f"contracts.{name}.calendar: unknown calendar {contract.calendar!r} "
                    f"(defined: {sorted(self.calendars)})"
                )
        return self

    def limits_of(self, name: str) -> Limits:
        """The bounds that apply to contract `name` (the defaults for a contract not in the file)."""
        spec = self.contracts.get(name)
        return merged_limits(self.limits, spec.limits if spec else None) or DEFAULT_LIMITS

    def contract(self, name: str) -> ContractPolicy:
        spec = self.contracts.get(name)
        if spec is None:
            raise PolicyError(f"unknown contract {name!r}; known contracts: {', '.join(sorted(self.contracts))}")
        body = spec.model_dump(mode="json", exclude={"calendar", "limits", "report_to", *ASSESSMENT_KEYS})
        if not body["category"]:  # in the version only when set, like limits
            del body["category"]
        limits = merged_limits(self.limits, spec.limits)
        if limits is not None:  # in the version only when set: a file without limits keeps its versions
            body["limits"] = limits.model_dump()
        negative = spec.improvement.on_negative_feedback
        # Only for a KPI some cycle assesses: a plan closes when a later cycle meets its target.
        body["plan_on_major_breach"] = (spec.improvement.on_major_complaint_breach
                                        and KpiName.MAJOR_RESOLVED_IN_TIME in assessed(spec.cycles))
        body["plans_on_negative_feedback"] = {
            kpi.value: score for kpi, score in ((KpiName.CSAT, negative.csat), (KpiName.NPS, negative.nps))
            if score is not None and kpi in spec.kpi_targets
        }
        calendar = self.calendars[spec.calendar]
        digest = hashlib.sha256(
            json.dumps([body, calendar.model_dump(mode="json")], sort_keys=True).encode()
        ).hexdigest()[:12]
        return ContractPolicy(
            name=name,
            version=f"{self.version}+{digest}",
            calendar_name=spec.calendar,
            calendar=calendar,
            **body,
        )


    def assessment(self, name: str) -> AssessmentPolicy:
        spec = self.contracts.get(name)
        if spec is None:
            raise PolicyError(f"unknown contract {name!r}; known contracts: {', '.join(sorted(self.contracts))}")
        calendar = self.calendars[spec.calendar]
        body = {
            "warn_at": spec.warn_at,
            "escalation": [step.model_dump() for step in spec.escalation],
            "targets": {k.value: _target(k, t).model_dump() for k, t in spec.kpi_targets.items()},
            # without missing_survey where it is not set, so files that do not set it keep their versions
            "cycles": {c.value: cycle.model_dump(mode="json", exclude=None if "missing_survey" in cycle.model_fields_set
                                                 else {"missing_survey"}) for c, cycle in spec.cycles.items()},
            # without breach_class when it is not set, so files that do not set it keep their versions
            "improvement": spec.improvement.model_dump(mode="json",
                                                       exclude=None if spec.improvement.breach_class
                                                       else {"breach_class"}),
            "interruption": spec.interruption.model_dump(),
        }
        if spec.report_to is not None:  # in the version only when set: files without it keep their versions
            body["report_to"] = spec.report_to.model_dump()
        digest = hashlib.sha256(
            json.dumps([body, calendar.model_dump(mode="json")], sort_keys=True).encode()
        ).hexdigest()[:12]
        return AssessmentPolicy(name=name, version=f"{self.version}+{digest}", calendar_name=spec.calendar,
                                calendar=calendar, **body)


def default_policy_path() -> Path:
    return Path(__file__).parent / "policies" / "default.toml"


def load_policy(path: str | Path | None = None) -> PolicyFile:
    """Read and validate a policy file (the shipped default when `path` is None)."""
    path = Path(path) if path else default_policy_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PolicyError(f"policy file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from exc
    return parse_policy(raw, source=str(path))


def resolve_extends(raw: dict) -> dict:
    """The file with every `extends = "<contract>"` written out: the contract starts as a copy of the named one
    and its own keys override (tables merged key by key, lists and values replaced). The input is not changed."""
    contracts = raw.get("contracts")
    if not isinstance(contracts, dict) or not any(isinstance(c, dict) and "extends" in c for c in contracts.values()):
        return raw
    resolved: dict[str, dict] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> dict:
        if name in resolved:
            return resolved[name]
        own = contracts[name]
        if not isinstance(own, dict) or "extends" not in own:
            resolved[name] = own
            return own
        base = own["extends"]
        field = f"contracts.{name}.extends"
        if not isinstance(base, str):
            raise PolicyError(f"{field}: the name of another contract, e.g. extends = \"default\"")
        if base not in contracts:
            raise PolicyError(f"{field}: unknown contract {base!r} (defined: {sorted(contracts)})")
        if base in chain or base == name:
            circle = " -> ".join([*chain[chain.index(base):], name, base] if base in chain else [name, base])
            raise PolicyError(f"{field}: contracts extend each other in a circle ({circle})")
        body = _merged(resolve(base, (*chain, name)), {k: v for k, v in own.items() if k != "extends"})
        resolved[name] = body
        return body

    return {**raw, "contracts": {name: resolve(name, ()) for name in contracts}}


def _merged(base: dict, own: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_policy(raw: dict, *, source: str = "policy") -> PolicyFile:
    try:
        raw = resolve_extends(raw)
    except PolicyError as exc:
        raise PolicyError(f"{source}: {exc}") from None
    try:
        return PolicyFile.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(f"{source}: {plain(exc)}") from None
