"""What an assessment cycle reports (002 §2.3: method, results, problems, suggestions), as data.

The cycle workflow returns a `CycleResult`; reports in every format are rendered from it (sla/report_html.py),
so `cxsla report` can re-render any past cycle from Temporal without the report directory. `build_report` is
pure: the same cycle and the same earlier cycles always give the same words, so rewriting a report is idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum

from pydantic import BaseModel, Field

from sla.kpi import Assessment, KpiName, KpiValue, Target, Unit
from sla.names import cycle_workflow_id  # noqa: F401 - also a name of this module
from sla.periods import Cadence, Period, PeriodError
from sla.plans import PlanStatus
from sla.vocabulary import BreachClass


class Reassessment(BaseModel):
    """A closed cycle assessed again on purpose (`cxsla cycle reassess`): a late survey batch taken, the KPIs and
    the report recomputed, and the report says when, by whom and why."""

    at: datetime
    by: str
    reason: str
    batch_id: str  # the late survey batch it took
    first_delivered_at: datetime | None = None  # the report it replaces (its delivery stays the contractual one)


class CycleResult(BaseModel):
    contract: str
    period: str
    cadence: Cadence
    policy_version: str
    assessment: Assessment
    report_files: list[str] = Field(default_factory=list)  # where the worker wrote json/md/html
    report_due: datetime  # the report's delivery deadline
    report_delivered_at: datetime | None = None
    report_late: bool = False
    plans_started: list[str] = Field(default_factory=list)  # ImprovementPlanWorkflow ids
    plans_informed: list[str] = Field(default_factory=list)  # open plans told this cycle's figures
    missed_duties: list[str] = Field(default_factory=list)  # assessment duties not done, as breaches, in words
    reassessment: Reassessment | None = None


class TrendPoint(BaseModel):
    period: str
    value: float | None
    met: bool | None = None  # that cycle's verdict (None: no target checked, or too little data)


class Verdict(str, Enum):
    MET = "met"
    MISSED = "missed"
    NOT_JUDGED = "not judged"  # a target checked this cycle, but no data or too little
    NOT_CHECKED = "not checked"  # reported only: this cadence does not check its target (or it has none)


MARKS = {Verdict.MET: "✓", Verdict.MISSED: "✗", Verdict.NOT_JUDGED: "–", Verdict.NOT_CHECKED: ""}
LEGEND = "✓ met · ✗ missed · – checked but not judged (no data or too little) · blank: not checked this cycle"


class KpiRow(BaseModel):
    """One KPI as every view shows it (`cycle show`, the Markdown, HTML and JSON reports): one verdict each."""

    name: KpiName
    label: str
    obligation: str  # what the agreements ask, in words
    value: str
    target: str
    verdict: Verdict
    mark: str
    n: int
    pending: int | None = None  # complaints not yet decided, left out of n
    variant: str
    sources: str  # the seed clauses behind it


class PlanMeasure(BaseModel):
    action: str
    owner: str
    due: date
    state: str  # done | open | overdue (open past its due date on the day of the report)


class PlanSummary(BaseModel):
    """An open improvement plan as the report shows it (001 §5.2: the execution of the improvement measures)."""

    plan_id: str
    kpi: KpiName
    state: str
    version: int  # 0: not submitted yet
    measures: list[PlanMeasure] = Field(default_factory=list)


def plan_summary(status: PlanStatus, on: date) -> PlanSummary:
    measures = [PlanMeasure(action=m.action, owner=m.owner, due=m.due,
                            state="done" if m.done else "overdue" if m.due < on else "open") for m in status.measures]
    return PlanSummary(plan_id=status.plan_id, kpi=status.kpi, state=status.state.value, version=status.version,
                       measures=measures)


class CycleReport(BaseModel):
    """A cycle's report: the figures and the words around them."""

    result: CycleResult
    method: list[str]
    problems: list[str]
    suggestions: list[str]
    # Per assessed KPI: earlier cycles of the same contract and cadence, oldest first, then this one.
    trends: dict[KpiName, list[TrendPoint]] = Field(default_factory=dict)
    kpis: list[KpiRow] = Field(default_factory=list)
    plans: list[PlanSummary] = Field(default_factory=list)  # the contract's open plans when it was written
    # Per breach class, the ids of the period's archived complaints behind the count (at most 1,000 each; empty
    # without an archive).
    breach_complaints: dict[str, list[str]] = Field(default_factory=dict)


# What each KPI stands for in the agreements, in words, and the seed clauses it comes from (a "sources" column).
OBLIGATIONS: dict[KpiName, tuple[str, str]] = {
    KpiName.CSAT: ("customer satisfaction at or above the agreed score", "000 §3.3, §5.1; 001 §2.2.1"),
    KpiName.CSAT_MEAN: ("customer satisfaction, as the mean answer", "000 §3.3"),
    KpiName.NPS: ("net promoter score as an assessment indicator", "000 §3.3"),
    KpiName.CES: ("customer effort as an assessment indicator", "000 §3.3"),
    KpiName.CES_AGREE: ("customer effort, as the share finding it easy", "000 §3.3"),
    KpiName.THIRD_PARTY_SATISFACTION: ("a yearly third-party satisfaction survey at or above the agreed score",
                                       "003 §2.3.3, §4.2.3"),
    KpiName.FCR: ("complaints resolved at the first contact", "001 §1.3, §5.1.2"),
    KpiName.AHT: ("average handling time within the agreed time", "001 §2.2.2, §5.1.3"),
    KpiName.FIRST_RESPONSE_P50: ("a first response within the agreed time", "000 §2.2b; 001 §2.2.3; 003 §2.3.1"),
    KpiName.FIRST_RESPONSE_P90: ("a first response within the agreed time", "000 §2.2b; 001 §2.2.3; 003 §2.3.1"),
    KpiName.FIRST_RESPONSE_WALL_P50: ("a first response within the agreed time", "000 §2.2b; 001 §2.2.3"),
    KpiName.FIRST_RESPONSE_WALL_P90: ("a first response within the agreed time", "000 §2.2b; 001 §2.2.3"),
    KpiName.RESOLUTION_RATE: ("complaints resolved at the agreed rate", "003 §2.3.2"),
    KpiName.MAJOR_RESOLVED_IN_TIME: ("major complaints resolved in time", "003 §2.3.2, §4.2.2"),
    KpiName.COMPLIANCE_ACKNOWLEDGE: ("every complaint acknowledged in time", "000 §2.2b; 003 §2.3.1; 002 §1.2"),
    KpiName.COMPLIANCE_TRIAGE: ("handling started in time", "000 §4.2; 002 §1.3"),
    KpiName.COMPLIANCE_HANDLING_PLAN: ("the handling plan told to the customer in time", "000 §2.2d"),
    KpiName.COMPLIANCE_PROGRESS_UPDATE: ("a progress update at least as often as agreed", "000 §4.4; 003 §2.3.1"),
    KpiName.COMPLIANCE_RESOLVE: ("complaints resolved in time", "003 §4.2.2"),
    KpiName.COMPLIANCE_NOTIFY_RESULT: ("the customer told the result in time", "000 §4.3; 002 §1.4"),
    KpiName.COMPLIANCE_SURVEY: ("the satisfaction survey sent in time", "000 §3.2a"),
    KpiName.MAJOR_BREACHES: ("no serious failures of the agreement (major breaches)", "003 §4.2"),
    KpiName.MINOR_BREACHES: ("no missed response times or rates (minor breaches)", "003 §4.1"),
    KpiName.AVAILABILITY: ("service without long interruptions", "003 §1.3, §4.2.1"),
}
assert set(OBLIGATIONS) == set(KpiName)
_CLAUSES = re.compile(r"\s*\((?:seed )?\d{3} §[^)]*\)")


def in_words(text: str) -> str:
    """A text without seed clause numbers in brackets: those go in the sources column."""
    return _CLAUSES.sub("", text)


def kpi_verdict(kpi: KpiValue, assessed: Iterable[KpiName]) -> Verdict:
    """The one verdict of a KPI in a cycle: judged only when the cadence checks its target."""
    if kpi.name not in set(assessed):
        return Verdict.NOT_CHECKED
    return Verdict.MET if kpi.met else Verdict.MISSED if kpi.met is False else Verdict.NOT_JUDGED


def kpi_rows(assessment: Assessment) -> list[KpiRow]:
    rows = []
    for k in assessment.kpis:
        verdict = kpi_verdict(k, assessment.assessed)
        obligation, sources = OBLIGATIONS[k.name]
        rows.append(KpiRow(name=k.name, label=k.label, obligation=obligation, value=format_value(k.unit, k.value),
                           target=format_target(k.unit, k.target), verdict=verdict, mark=MARKS[verdict], n=k.n,
                           variant=in_words(k.variant), sources=sources, pending=k.pending))
    return rows


# KPIs trended in every report, assessed or not: the headline figures a reader compares across cycles.
ALWAYS_TRENDED: tuple[KpiName, ...] = (KpiName.CSAT, KpiName.NPS, KpiName.RESOLUTION_RATE)

_FIRST_LINE = ("review first-line staffing against the hours complaints arrive, route the queue so new "
               "complaints reach a free agent at once, and acknowledge automatically where the channel allows")
# One concrete measure per KPI, offered when its target is missed (the improvement plan's owner decides).
SUGGESTIONS: dict[KpiName, str] = {
    KpiName.CSAT: "run a root-cause review of the detractor comments of this period and call back the "
                  "customers who answered 1-3 to close the loop",
    KpiName.CSAT_MEAN: "run a root-cause review of the lowest-scored answers and follow up by phone with the "
                       "customers behind them",
    KpiName.NPS: "interview a sample of detractors (0-6) about the reason for their score and fix the most "
                 "frequent reason first",
    KpiName.CES: "map the complaint path for the steps customers repeat (re-explaining, hand-offs, chasing) "
                 "and remove the most frequent one",
    KpiName.CES_AGREE: "give every complaint one named contact and cut hand-offs between teams",
    KpiName.THIRD_PARTY_SATISFACTION: "share the third-party survey's lowest-scored items with the teams "
                                      "concerned and plan one measure per item",
    KpiName.FCR: "extend first-line agents' authority (refund/replacement limits) and the knowledge base for "
                 "the complaint categories most often passed on",
    KpiName.AHT: "review the longest-handled complaints for waiting on other teams and add answer templates "
                 "for the most frequent categories",
    KpiName.FIRST_RESPONSE_P50: _FIRST_LINE,
    KpiName.FIRST_RESPONSE_P90: _FIRST_LINE + "; look at the slowest tenth: which channel and hour",
    KpiName.FIRST_RESPONSE_WALL_P50: _FIRST_LINE + "; cover evenings and weekends if complaints wait overnight",
    KpiName.FIRST_RESPONSE_WALL_P90: _FIRST_LINE + "; cover evenings and weekends if complaints wait overnight",
    KpiName.RESOLUTION_RATE: "hold a weekly supervisor review of every open complaint older than its "
                             "handling-plan deadline and clear the backlog by owner",
    KpiName.MAJOR_RESOLVED_IN_TIME: "assign a supervisor to every critical/major complaint at triage and review "
                                    "them daily until resolved",
    KpiName.COMPLIANCE_ACKNOWLEDGE: _FIRST_LINE,
    KpiName.COMPLIANCE_TRIAGE: "classify complaints at intake with a short severity checklist so triage does "
                               "not wait for a specialist",
    KpiName.COMPLIANCE_HANDLING_PLAN: "use a handling-plan template and have the supervisor check plans due "
                                      "within a day",
    KpiName.COMPLIANCE_PROGRESS_UPDATE: "send progress updates from a scheduled reminder per open complaint "
                                        "rather than on the agent's initiative",
    KpiName.COMPLIANCE_RESOLVE: "escalate earlier (lower the resolve warning fraction) and add a supervisor "
                                "review of ageing complaints",
    KpiName.COMPLIANCE_NOTIFY_RESULT: "notify the customer of the result in the same step as resolving",
    KpiName.COMPLIANCE_SURVEY: "check survey dispatch failures and send the survey automatically on close",
    KpiName.MAJOR_BREACHES: "review every major breach with the teams involved and record one preventive "
                            "measure each",
    KpiName.MINOR_BREACHES: "group the minor breaches by clock and fix the clock with the most first",
    KpiName.AVAILABILITY: "hold a post-incident review of each interruption and track its actions to closure",
}
assert set(SUGGESTIONS) == set(KpiName)


# ---- formatting in a KPI's unit -------------------------------------------------------------------------------
def format_seconds(seconds: float) -> str:
    """`2h`, `2h 05m`, `4m 10s`, `45s`: a deadline reader thinks in hours and minutes, not in 7500 seconds."""
    total = int(round(seconds))
    sign = "-" if total < 0 else ""
    total = abs(total)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{sign}{h}h" + (f" {m:02d}m" if m or s else "") + (f" {s:02d}s" if s else "")
    if m:
        return f"{sign}{m}m" + (f" {s:02d}s" if s else "")
    return f"{sign}{s}s"


def format_value(unit: Unit, value: float | None) -> str:
    """A KPI value as a reader expects it: scores with 1 decimal, ratios as %, seconds as h/m/s."""
    if value is None:
        return "no data"
    if unit is Unit.SCORE:
        return f"{value:.1f}"
    if unit is Unit.NPS:
        return f"{value:+.0f}" if round(value) else "0"
    if unit is Unit.RATIO:
        return f"{value * 100:.1f} %"
    if unit is Unit.SECONDS:
        return format_seconds(value)
    return f"{value:.0f}"


def format_target(unit: Unit, target: Target | None) -> str:
    if target is None:
        return "–"
    if target.min is not None:
        return f"≥ {format_value(unit, target.min)}"
    return f"≤ {format_value(unit, target.max)}"


def format_n(kpi: KpiValue | KpiRow) -> str:
    """What a figure stands on: `39`, or `39 (+2 pending)` where complaints not yet decided were left out."""
    return f"{kpi.n} (+{kpi.pending} pending)" if kpi.pending else str(kpi.n)


def verdict(kpi: KpiValue) -> str:
    return "met" if kpi.met else "missed" if kpi.met is False else "not judged"


# ---- the report ---------------------------------------------------------------------------------------------
def build_report(result: CycleResult, previous: Iterable[CycleResult],
                 plans: Iterable[PlanStatus] = ()) -> CycleReport:
    """The report of one cycle; `previous` may hold any earlier cycles (others are ignored, order is free);
    `plans` the contract's improvement plans (the open ones are shown with their measures)."""
    earlier = _earlier_cycles(result, previous)
    on = (result.report_delivered_at or result.assessment.computed_at).date()
    return CycleReport(
        result=result,
        method=_method(result),
        problems=_problems(result),
        suggestions=_suggestions(result),
        trends=_trends(result, earlier),
        kpis=kpi_rows(result.assessment),
        plans=[plan_summary(p, on) for p in sorted(plans, key=lambda p: p.plan_id) if not p.state.terminal],
    )


def _earlier_cycles(result: CycleResult, previous: Iterable[CycleResult]) -> list[CycleResult]:
    """Same contract and cadence, strictly earlier, one per period, oldest first."""
    try:
        this = Period.parse(result.period)
    except PeriodError:
        return []
    by_period: dict[Period, CycleResult] = {}
    for cycle in previous:
        try:
            period = Period.parse(cycle.period)
        except PeriodError:
            continue
        if cycle.contract == result.contract and period.cadence is this.cadence and period < this:
            by_period.setdefault(period, cycle)
    return [by_period[p] for p in sorted(by_period)]


def _method(result: CycleResult) -> list[str]:
    a = result.assessment
    again = result.reassessment
    lines = [] if again is None else [
        f"Re-assessed on {again.at.isoformat()} by {again.by}: {again.reason} (late survey batch "
        f"{again.batch_id} taken; this report replaces the one delivered "
        f"{again.first_delivered_at.isoformat() if again.first_delivered_at else 'earlier'})."]
    lines += [
        f"Period {result.period} ({result.cadence.value}): from {a.start.isoformat()} to {a.end.isoformat()} "
        f"(UTC), computed at {a.computed_at.isoformat()} under policy version {result.policy_version}.",
        f"Complaint data: the outcomes of the {a.complaints} complaints of contract {a.contract} received in the "
        f"period, read from Temporal (complaint workflows' search attributes and memo); {a.resolved} resolved, "
        f"{a.withdrawn} withdrawn." + (f" By severity: {_counts(a.by_severity)}." if a.by_severity else ""),
        "Cohort: complaints received in the period, whatever their state at computation; a clock counts as "
        "breached once its deadline has passed, open items included. The resolution rate counts only complaints "
        "decided by the period's end (resolved, or past their resolve deadline)"
        + (f"; {a.pending} complaint{'s' if a.pending != 1 else ''} still within the deadline "
           f"{'are' if a.pending != 1 else 'is'} reported as pending." if a.pending else "."),
    ]
    surveyed = [c for c in a.channels if c.responses]
    if surveyed:
        parts = [
            f"{c.channel.value}: {c.responses} responses" + (f" in {c.batches} batches" if c.batches else "")
            for c in surveyed
        ]
        lines.append("Survey data, as score histograms per channel (no personal data): " + "; ".join(parts) + ".")
    else:
        lines.append("Survey data: no survey answers were imported or recorded for this period.")
    lines.append(f"Service interruptions: {a.interruptions} reported for the contract (interruption workflows); "
                 "availability counts their time inside the period, overlaps once.")
    if a.assessed:
        lines.append("Targets checked this cycle: " + ", ".join(a.kpi(k).label for k in a.assessed if _has(a, k))
                     + ".")
    for kpi in a.kpis:
        lines.append(f"{kpi.label}: {in_words(kpi.variant)}.")
    return lines


def _problems(result: CycleResult) -> list[str]:
    a = result.assessment
    lines = [
        f"{k.label} missed its target: {format_value(k.unit, k.value)} against {format_target(k.unit, k.target)} "
        f"(n = {k.n})."
        for k in a.missed
    ]
    if a.at_fault_without_remedy:
        n = a.at_fault_without_remedy
        lines.append(f"{n} complaint{'s' if n != 1 else ''} verified as our fault "
                     f"{'were' if n != 1 else 'was'} resolved without a remedy for the customer.")
    lines += result.missed_duties
    major = a.breaches.get(BreachClass.MAJOR, 0)
    if major:
        lines.append(f"{major} major breach{'es' if major != 1 else ''} in the period: serious failures of the "
                     "agreement (a major complaint not resolved in time, a long interruption, a target not "
                     "rectified).")
    late = result.report_late or (
        result.report_delivered_at is not None and result.report_delivered_at > result.report_due)
    if late:
        delivered = result.report_delivered_at.isoformat() if result.report_delivered_at else "not yet"
        lines.append(f"This report is late: due {result.report_due.isoformat()}, delivered {delivered}.")
    for name in a.assessed:
        if not _has(a, name):
            continue
        k = a.kpi(name)
        if k.met is not None:
            continue
        if k.value is None:
            lines.append(f"{k.label}: no data this period, so its target could not be judged.")
        else:
            need = k.target.min_n if k.target else 1
            lines.append(f"{k.label}: too little data to judge ({format_value(k.unit, k.value)} from n = {k.n}, "
                         f"at least {need} needed).")
    return lines


def _suggestions(result: CycleResult) -> list[str]:
    a = result.assessment
    lines = [f"{k.label}: {SUGGESTIONS[k.name]}." for k in a.missed]
    lines += [f"An improvement plan was started: {plan}." for plan in result.plans_started]
    if result.plans_informed:
        lines.append("Open improvement plans given this cycle's figures, to be checked by their owners: "
                     + ", ".join(result.plans_informed) + ".")
    if not a.missed:
        lines.append("Every target checked this cycle was met: keep the current measures and watch the trends.")
    return lines


def _trends(result: CycleResult, earlier: list[CycleResult]) -> dict[KpiName, list[TrendPoint]]:
    a = result.assessment
    names = [k for k in a.assessed if _has(a, k)]
    names += [k for k in ALWAYS_TRENDED if k not in names and _has(a, k)]
    trends: dict[KpiName, list[TrendPoint]] = {}
    for name in names:
        points = []
        for cycle in [*earlier, result]:
            kpi = next((k for k in cycle.assessment.kpis if k.name is name), None)
            points.append(TrendPoint(period=cycle.period, value=kpi.value if kpi else None,
                                     met=kpi.met if kpi else None))
        trends[name] = points
    return trends


def _has(a: Assessment, name: KpiName) -> bool:
    return any(k.name is name for k in a.kpis)


def _counts(counts: dict) -> str:
    return ", ".join(f"{getattr(key, 'value', key)} {n}" for key, n in counts.items())
