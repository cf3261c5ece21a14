"""The KPI engine: complaint outcomes, survey histograms and outages of one period in, KPIs against targets out.

Everything is exact (fractions, whole-second counts) and mergeable, so a cycle over 100,000 complaints folds
them page by page in bounded memory, and any two partial tallies combine into the same result. Each KPI says
which variant it is (000 §3.3, 001 §1.3/§5.1, 003 §2.3.2): the agreements name the KPIs but not the formulas.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

# The catalogue's names stay importable from here: callers that compute KPIs need both.
from sla.kpi_catalogue import DEFINITIONS, KpiName, Target, Unit, compliance_kpi
from sla.outcomes import MAJOR_SEVERITIES, ClockTally, ComplaintOutcome
from sla.surveys import Scale, ScoreHistogram, SurveyBatch, SurveyChannel, merge_all
from sla.vocabulary import BreachClass, ClockName, Kind, Remedy, Severity

# ---- the tally of a period's complaints ---------------------------------------------------------------------
UNCATEGORISED = "uncategorised"


class CategoryCounts(BaseModel):
    """One category's complaints in a period (002 §1.3: complaints by nature), for the report's breakdown."""

    complaints: int = 0
    resolved: int = 0
    breached: int = 0  # complaints with at least one breach

    def plus(self, other: CategoryCounts) -> CategoryCounts:
        return CategoryCounts(complaints=self.complaints + other.complaints, resolved=self.resolved + other.resolved,
                              breached=self.breached + other.breached)


class PeriodTally(BaseModel):
    """Aggregate of complaint outcomes: `add` folds one in place, `merge` combines two (associative).

    `decided_by` (the period's end) makes the resolution rate count only complaints decided by then; without it
    every complaint not withdrawn counts, as an open one would at the end of time.
    """

    decided_by: datetime | None = None
    # Inquiries and requests (000 §2.2b) are no complaints: counted apart, with their first-response clock only.
    inquiries: int = 0
    inquiry_acknowledge: ClockTally = Field(default_factory=ClockTally)
    complaints: int = 0
    withdrawn: int = 0
    resolved: int = 0
    first_contact: int = 0
    reopened: int = 0
    handled: int = 0
    handling_seconds: int = 0
    unacknowledged: int = 0
    major_complaints: int = 0
    major_decided: int = 0
    major_in_time: int = 0
    decided: int = 0  # not withdrawn, and resolved or past the resolve deadline by `decided_by`
    decided_resolved: int = 0  # of those, resolved by then
    first_response_business: dict[int, int] = Field(default_factory=dict)  # whole seconds -> complaints
    first_response_wall: dict[int, int] = Field(default_factory=dict)
    by_severity: dict[Severity, int] = Field(default_factory=dict)
    remedies: dict[Remedy, int] = Field(default_factory=dict)
    at_fault: int = 0  # resolved as the provider's fault (000 §4.5)
    at_fault_without_remedy: int = 0
    by_category: dict[str, CategoryCounts] = Field(default_factory=dict)
    clocks: dict[ClockName, ClockTally] = Field(default_factory=dict)
    breaches: dict[BreachClass, int] = Field(default_factory=dict)
    feedback_csat: ScoreHistogram = Field(default_factory=lambda: ScoreHistogram(scale=Scale.CSAT))
    feedback_nps: ScoreHistogram = Field(default_factory=lambda: ScoreHistogram(scale=Scale.NPS))
    feedback_ces: ScoreHistogram = Field(default_factory=lambda: ScoreHistogram(scale=Scale.CES))

    def add(self, outcome: ComplaintOutcome) -> None:
        if outcome.kind is Kind.INQUIRY:
            self.inquiries += 1
            self.inquiry_acknowledge = self.inquiry_acknowledge.add(
                outcome.clocks.get(ClockName.ACKNOWLEDGE, ClockTally()))
            return
        self.complaints += 1
        _bump(self.by_severity, outcome.severity)
        if outcome.withdrawn:
            self.withdrawn += 1
        else:
            decided, resolved = (outcome.decided_by(self.decided_by) if self.decided_by is not None
                                 else (True, outcome.resolved))
            self.decided += decided
            self.decided_resolved += resolved
        if outcome.resolved:
            self.resolved += 1
            if outcome.resolved_at_first_contact:
                self.first_contact += 1
        if outcome.reopened:
            self.reopened += 1
        if outcome.remedy is not None:
            _bump(self.remedies, outcome.remedy)
        if outcome.at_fault:
            self.at_fault += 1
            self.at_fault_without_remedy += outcome.remedy is None
        category = outcome.category or UNCATEGORISED
        self.by_category[category] = self.by_category.get(category, CategoryCounts()).plus(CategoryCounts(
            complaints=1, resolved=int(outcome.resolved), breached=int(bool(sum(outcome.breaches.values())))))
        if outcome.handling_seconds is not None:
            self.handled += 1
            self.handling_seconds += outcome.handling_seconds
        if outcome.first_response_business_seconds is None:
            self.unacknowledged += 1
        else:
            _bump(self.first_response_business, _whole(outcome.first_response_business_seconds))
            _bump(self.first_response_wall, _whole(outcome.first_response_seconds or 0.0))
        if outcome.severity in MAJOR_SEVERITIES:
            self.major_complaints += 1
            if outcome.resolved_in_time is not None:
                self.major_decided += 1
                self.major_in_time += outcome.resolved_in_time
        for clock, tally in outcome.clocks.items():
            self.clocks[clock] = self.clocks.get(clock, ClockTally()).add(tally)
        for breach_class, count in outcome.breaches.items():
            _bump(self.breaches, breach_class, count)
        for scale, score in ((Scale.CSAT, outcome.csat), (Scale.NPS, outcome.nps), (Scale.CES, outcome.ces)):
            if score is not None:
                name = f"feedback_{scale.value}"
                setattr(self, name, getattr(self, name).merge(ScoreHistogram(scale=scale, counts={score: 1})))

    def merge(self, other: PeriodTally) -> PeriodTally:
        if self.decided_by != other.decided_by and self.complaints and other.complaints:
            raise ValueError("tallies decided at different instants do not merge")
        out = self.model_copy(deep=True)
        out.decided_by = self.decided_by or other.decided_by
        for name in ("complaints", "withdrawn", "resolved", "first_contact", "reopened", "handled",
                     "handling_seconds", "unacknowledged", "major_complaints", "major_decided", "major_in_time",
                     "decided", "decided_resolved", "at_fault", "at_fault_without_remedy", "inquiries"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        for name in ("first_response_business", "first_response_wall", "by_severity", "remedies", "breaches"):
            target = getattr(out, name)
            for key, count in getattr(other, name).items():
                _bump(target, key, count)
        for clock, tally in other.clocks.items():
            out.clocks[clock] = out.clocks.get(clock, ClockTally()).add(tally)
        out.inquiry_acknowledge = self.inquiry_acknowledge.add(other.inquiry_acknowledge)
        for category, counts in other.by_category.items():
            out.by_category[category] = out.by_category.get(category, CategoryCounts()).plus(counts)
        for scale in Scale:
            name = f"feedback_{scale.value}"
            setattr(out, name, getattr(self, name).merge(getattr(other, name)))
        return out

    @staticmethod
    def of(outcomes: Iterable[ComplaintOutcome], decided_by: datetime | None = None) -> PeriodTally:
        tally = PeriodTally(decided_by=decided_by)
        for outcome in outcomes:
            tally.add(outcome)
        return tally


def _bump(counts: dict, key, by: int = 1) -> None:
    counts[key] = counts.get(key, 0) + by


def _whole(seconds: float) -> int:
    return int(math.floor(seconds + 0.5))


class Interruption(BaseModel):
    """A reported service interruption (ServiceInterruptionWorkflow); open ones have no `restored_at`."""

    model_config = ConfigDict(extra="ignore")
    outage_id: str
    contract: str
    started_at: datetime
    restored_at: datetime | None = None


# ---- formulas -------------------------------------------------------------------------------------------------
def round_half_away(value: Fraction) -> int:
    return int(math.copysign(math.floor(abs(value) + Fraction(1, 2)), value))


def csat_share(h: ScoreHistogram) -> Fraction | None:
    share = h.share(4, 5)
    return None if share is None else share * 100


def csat_mean_score(h: ScoreHistogram) -> Fraction | None:
    mean = h.mean()
    return None if mean is None else (mean - 1) / 4 * 100


def nps(h: ScoreHistogram) -> int | None:
    if not h.n:
        return None
    promoters, detractors = h.share(9, 10), h.share(0, 6)
    assert promoters is not None and detractors is not None  # the histogram has answers
    return round_half_away((promoters - detractors) * 100)


def ces_agree(h: ScoreHistogram) -> Fraction | None:
    share = h.share(5, 7)
    return None if share is None else share * 100


def percentile(counts: Mapping[int, int], p: float) -> int | None:
    """Nearest-rank percentile of a value->count histogram (the smallest value with rank >= ceil(p/100 n))."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is not within 0..100")
    n = sum(counts.values())
    if not n:
        return None
    rank = max(1, math.ceil(Fraction(str(p)) / 100 * n))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable")


def ratio(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


_MICROSECOND = timedelta(microseconds=1)


def availability(interruptions: Iterable[Interruption], start: datetime, end: datetime, now: datetime) -> Fraction:
    """1 - interrupted time inside [start, min(end, now)) / that length; overlapping reports count once."""
    horizon = min(end, now)
    length = horizon - start
    if length <= timedelta(0):
        return Fraction(1)
    spans = sorted(
        (max(i.started_at, start), min(i.restored_at or horizon, horizon)) for i in interruptions
    )
    down, cursor = timedelta(0), start
    for a, b in spans:
        a = max(a, cursor)
        if b > a:
            down += b - a
            cursor = b
    # whole microseconds: exact, unlike float seconds
    return 1 - Fraction(down // _MICROSECOND, length // _MICROSECOND)


# ---- the assessment ---------------------------------------------------------------------------------------------
class KpiValue(BaseModel):
    name: KpiName
    label: str
    unit: Unit
    variant: str
    value: float | None  # None: no data
    n: int  # answers, complaints or clock instances behind the value
    # Complaints left out of the value because nothing decided them by the period's end (resolution rate only).
    pending: int | None = None
    target: Target | None = None
    met: bool | None = None  # None: no target, or not enough data to judge


class ChannelSummary(BaseModel):
    channel: SurveyChannel
    batches: int
    responses: int
    csat: float | None
    nps: int | None
    ces: float | None


class Assessment(BaseModel):
    """A cycle's figures (seed 002 §2.3: method, results, problems, suggestions are rendered from this)."""

    contract: str
    period: str
    start: datetime
    end: datetime
    computed_at: datetime
    kpis: list[KpiValue]
    channels: list[ChannelSummary]
    complaints: int
    withdrawn: int
    resolved: int
    pending: int = 0  # not withdrawn, unresolved, and still within the resolve deadline at the period's end
    by_severity: dict[Severity, int]
    remedies: dict[Remedy, int]
    breaches: dict[BreachClass, int]
    interruptions: int
    by_category: dict[str, CategoryCounts] = Field(default_factory=dict)
    at_fault: int = 0  # complaints resolved as the provider's fault (000 §4.5)
    at_fault_without_remedy: int = 0
    inquiries: int = 0  # inquiries and requests received in the period (not in the complaint figures)
    inquiry_acknowledge: ClockTally = Field(default_factory=ClockTally)  # their first responses, met or late
    assessed: list[KpiName]  # targets checked by this cycle

    @property
    def missed(self) -> list[KpiValue]:
        return [k for k in self.kpis if k.name in self.assessed and k.met is False]

    def kpi(self, name: KpiName) -> KpiValue:
        return next(k for k in self.kpis if k.name is name)


def _third_party(batches: list[SurveyBatch], answers: ScoreHistogram) -> tuple[Fraction | None, int]:
    """The agencies' overall scores (mean of them, n = agencies) when any reported one; else their answers'."""
    overall = [Fraction(str(b.overall)) for b in batches if b.overall is not None]
    if overall:
        return sum(overall, Fraction(0)) / len(overall), len(overall)
    return csat_mean_score(answers), answers.n


def assess(
    *, contract: str, period: str, start: datetime, end: datetime, now: datetime, tally: PeriodTally,
    batches: Iterable[SurveyBatch], interruptions: Iterable[Interruption], targets: Mapping[KpiName, Target],
    assessed: Iterable[KpiName],
) -> Assessment:
    batches = list(batches)
    interruptions = list(interruptions)
    assessed = [k for k in assessed if k in targets]
    general = [b for b in batches if b.channel is not SurveyChannel.THIRD_PARTY]
    third = [b for b in batches if b.channel is SurveyChannel.THIRD_PARTY]
    csat = merge_all(Scale.CSAT, [*(b.csat for b in general), tally.feedback_csat])
    nps_h = merge_all(Scale.NPS, [*(b.nps for b in general), tally.feedback_nps])
    ces = merge_all(Scale.CES, [*(b.ces for b in general), tally.feedback_ces])
    third_csat = merge_all(Scale.CSAT, (b.csat for b in third))
    answered = tally.complaints - tally.unacknowledged
    pending = tally.complaints - tally.withdrawn - tally.decided
    major = tally.breaches.get(BreachClass.MAJOR, 0)
    minor = tally.breaches.get(BreachClass.MINOR, 0)

    values: dict[KpiName, tuple[Fraction | int | None, int]] = {
        KpiName.CSAT: (csat_share(csat), csat.n),
        KpiName.CSAT_MEAN: (csat_mean_score(csat), csat.n),
        KpiName.NPS: (nps(nps_h), nps_h.n),
        KpiName.CES: (ces.mean(), ces.n),
        KpiName.CES_AGREE: (ces_agree(ces), ces.n),
        KpiName.THIRD_PARTY_SATISFACTION: _third_party(third, third_csat),
        KpiName.FCR: (ratio(tally.first_contact, tally.resolved), tally.resolved),
        KpiName.AHT: (ratio(tally.handling_seconds, tally.handled), tally.handled),
        KpiName.FIRST_RESPONSE_P50: (percentile(tally.first_response_business, 50), answered),
        KpiName.FIRST_RESPONSE_P90: (percentile(tally.first_response_business, 90), answered),
        KpiName.FIRST_RESPONSE_WALL_P50: (percentile(tally.first_response_wall, 50), answered),
        KpiName.FIRST_RESPONSE_WALL_P90: (percentile(tally.first_response_wall, 90), answered),
        KpiName.RESOLUTION_RATE: (ratio(tally.decided_resolved, tally.decided), tally.decided),
        KpiName.MAJOR_RESOLVED_IN_TIME: (ratio(tally.major_in_time, tally.major_decided), tally.major_decided),
        KpiName.MAJOR_BREACHES: (major, tally.complaints),
        KpiName.MINOR_BREACHES: (minor, tally.complaints),
        KpiName.AVAILABILITY: (availability(interruptions, start, end, now), len(interruptions)),
    }
    for clock in ClockName:
        t = tally.clocks.get(clock, ClockTally())
        values[compliance_kpi(clock)] = (ratio(t.met, t.met + t.breached), t.met + t.breached)

    kpis = []
    for name in KpiName:
        label, unit, variant = DEFINITIONS[name]
        raw, n = values[name]
        value = None if raw is None else float(raw)
        target = targets.get(name)
        met = None
        # Availability's n counts interruptions, not data behind the figure: a period without any is judged too.
        enough = n >= target.min_n if target is not None and name is not KpiName.AVAILABILITY else True
        if target is not None and value is not None and enough:
            met = target.met_by(value)
        kpis.append(KpiValue(name=name, label=label, unit=unit, variant=variant, value=value, n=n, target=target,
                             met=met, pending=pending if name is KpiName.RESOLUTION_RATE else None))

    channels = []
    for channel in SurveyChannel:
        of_channel = [b for b in batches if b.channel is channel]
        if channel is SurveyChannel.COMPLAINT:
            histograms: tuple[ScoreHistogram, ...] = (tally.feedback_csat, tally.feedback_nps, tally.feedback_ces)
            count = 0
        else:
            histograms = tuple(merge_all(s, (getattr(b, s.value) for b in of_channel)) for s in Scale)
            count = len(of_channel)
        c, p, e = histograms
        responses = max(h.n for h in histograms)
        if not responses:
            continue
        share, mean = csat_share(c), e.mean()
        channels.append(ChannelSummary(channel=channel, batches=count, responses=responses,
                                       csat=None if share is None else float(share), nps=nps(p),
                                       ces=None if mean is None else float(mean)))

    return Assessment(
        contract=contract, period=period, start=start, end=end, computed_at=now, kpis=kpis, channels=channels,
        complaints=tally.complaints, withdrawn=tally.withdrawn, resolved=tally.resolved, pending=pending,
        by_severity=dict(tally.by_severity), remedies=dict(tally.remedies), breaches=dict(tally.breaches),
        by_category={k: tally.by_category[k] for k in sorted(tally.by_category)},
        at_fault=tally.at_fault, at_fault_without_remedy=tally.at_fault_without_remedy,
        inquiries=tally.inquiries, inquiry_acknowledge=tally.inquiry_acknowledge,
        interruptions=len(interruptions), assessed=assessed,
    )
