"""The KPI engine: every formula against a hand-worked example, tallies and targets, and hypothesis properties.

Each example writes its arithmetic in a comment, so a failing figure can be checked with pencil and paper.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sla.kpi import (
    DEFINITIONS,
    UNCATEGORISED,
    Assessment,
    Interruption,
    KpiName,
    PeriodTally,
    Target,
    Unit,
    assess,
    availability,
    ces_agree,
    compliance_kpi,
    csat_mean_score,
    csat_share,
    nps,
    percentile,
    ratio,
    round_half_away,
)
from sla.outcomes import ClockTally, ComplaintOutcome
from sla.surveys import Scale, ScoreHistogram, SurveyBatch, SurveyChannel
from sla.vocabulary import BreachClass, Channel, ClockName, ComplaintState, Remedy, Severity

C = ClockName
K = KpiName
S = ComplaintState
UTC = timezone.utc
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)  # 30 days = 2,592,000 s
HOUR = timedelta(hours=1)


def hist(scale: Scale, counts: dict[int, int]) -> ScoreHistogram:
    return ScoreHistogram(scale=scale, counts=counts)


def csat(counts):
    return hist(Scale.CSAT, counts)


def nps_h(counts):
    return hist(Scale.NPS, counts)


def ces(counts):
    return hist(Scale.CES, counts)


_ids = itertools.count()


def oc(state=S.RECEIVED, severity=Severity.NORMAL, **kw) -> ComplaintOutcome:
    """A complaint outcome with only the facts a test cares about."""
    return ComplaintOutcome(complaint_id=f"c-{next(_ids)}", contract="t", severity=severity, received_at=START,
                            state=state, **kw)


def resolved(**kw) -> ComplaintOutcome:
    return oc(state=S.RESOLVED, resolutions=1, **kw)


def run_assess(tally=None, batches=(), interruptions=(), targets=None, assessed=None, now=END + HOUR,
               start=START, end=END) -> Assessment:
    targets = targets or {}
    return assess(contract="t", period="2026-11", start=start, end=end, now=now, tally=tally or PeriodTally(),
                  batches=batches, interruptions=interruptions, targets=targets,
                  assessed=list(targets) if assessed is None else assessed)


def value(a: Assessment, name: KpiName):
    return a.kpi(name).value


# ---- survey formulas ------------------------------------------------------------------------------------------------
def test_csat_share():
    # 7 of 10 answers are 4-5 (4 fives, 3 fours; 1 three, 1 two, 1 one) -> 70.0
    assert csat_share(csat({5: 4, 4: 3, 3: 1, 2: 1, 1: 1})) == 70
    # 2 of 3 -> 66.67 (exact: 200/3)
    assert csat_share(csat({5: 1, 4: 1, 1: 1})) == Fraction(200, 3)
    assert csat_share(csat({})) is None


def test_csat_mean_score():
    # answers 5, 5, 4, 1: mean 15/4 = 3.75; (3.75 - 1) / 4 x 100 = 68.75
    assert csat_mean_score(csat({5: 2, 4: 1, 1: 1})) == Fraction(6875, 100)
    # all 1s -> 0; all 5s -> 100; all 3s -> 50
    assert csat_mean_score(csat({1: 7})) == 0
    assert csat_mean_score(csat({5: 7})) == 100
    assert csat_mean_score(csat({3: 2})) == 50
    assert csat_mean_score(csat({})) is None


def test_nps():
    # 5 promoters (9-10), 2 passives (7-8), 3 detractors (0-6) of 10 -> 50 % - 30 % = 20
    assert nps(nps_h({10: 3, 9: 2, 8: 1, 7: 1, 6: 1, 3: 1, 0: 1})) == 20
    assert nps(nps_h({10: 5})) == 100
    assert nps(nps_h({0: 2, 6: 3})) == -100
    assert nps(nps_h({7: 3, 8: 1})) == 0  # passives only
    assert nps(nps_h({})) is None


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({9: 1, 8: 7}, 13),  # 1 promoter of 8: 12.5 -> 13 (half away from zero)
        ({6: 1, 8: 7}, -13),  # 1 detractor of 8: -12.5 -> -13
        ({10: 1, 7: 39}, 3),  # 1 of 40: 2.5 -> 3
        ({0: 1, 7: 39}, -3),  # -2.5 -> -3
        ({10: 1, 7: 199}, 1),  # 1 of 200: 0.5 -> 1
        ({0: 1, 7: 199}, -1),  # -0.5 -> -1
        ({10: 1, 7: 2}, 33),  # 1 of 3: 33.33 -> 33
        ({10: 2, 7: 1}, 67),  # 2 of 3: 66.67 -> 67
        ({0: 2, 7: 1}, -67),  # -66.67 -> -67
        ({10: 3, 0: 1, 8: 4}, 25),  # 3/8 - 1/8 = 25 % exactly
        ({10: 1, 5: 1, 8: 6}, 0),  # one promoter and one detractor cancel
    ],
)
def test_nps_rounds_half_away_from_zero(counts, expected):
    assert nps(nps_h(counts)) == expected
    assert isinstance(nps(nps_h(counts)), int)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(Fraction(5, 2), 3), (Fraction(-5, 2), -3), (Fraction(25, 2), 13), (Fraction(-25, 2), -13),
     (Fraction(1, 2), 1), (Fraction(-1, 2), -1), (Fraction(49, 100), 0), (Fraction(-49, 100), 0),
     (Fraction(0), 0), (Fraction(7), 7), (Fraction(-7), -7), (Fraction(151, 100), 2), (Fraction(-249, 100), -2)],
)
def test_round_half_away(value, expected):
    assert round_half_away(value) == expected
    assert type(round_half_away(value)) is int


def test_ces_mean_and_agreement():
    # answers 7, 7, 5, 3: mean 22/4 = 5.5; 3 of 4 agree (5-7) -> 75.0
    h = ces({7: 2, 5: 1, 3: 1})
    assert h.mean() == Fraction(11, 2)
    assert ces_agree(h) == 75
    # 4 (neutral) does not agree: 1 of 2 -> 50
    assert ces_agree(ces({4: 1, 5: 1})) == 50
    assert ces_agree(ces({})) is None


# ---- percentiles -----------------------------------------------------------------------------------------------------
def test_nearest_rank_percentile_odd_n():
    values = {10: 1, 20: 1, 30: 1, 40: 1, 50: 1}
    # n = 5: p50 rank ceil(2.5) = 3 -> 30; p90 rank ceil(4.5) = 5 -> 50; p20 rank ceil(1.0) = 1 -> 10
    assert percentile(values, 50) == 30
    assert percentile(values, 90) == 50
    assert percentile(values, 20) == 10
    assert percentile(values, 21) == 20  # rank ceil(1.05) = 2


def test_nearest_rank_percentile_even_n():
    values = {10: 1, 20: 1, 30: 1, 40: 1}
    # n = 4: p50 rank ceil(2.0) = 2 -> 20 (nearest rank does not average 20 and 30); p90 rank ceil(3.6) = 4 -> 40
    assert percentile(values, 50) == 20
    assert percentile(values, 90) == 40
    assert percentile(values, 75) == 30  # rank 3
    # n = 10 values 1..10: p90 rank 9 -> 9; p50 rank 5 -> 5
    ten = {v: 1 for v in range(1, 11)}
    assert percentile(ten, 90) == 9
    assert percentile(ten, 50) == 5


def test_percentile_of_counted_values():
    # 5, 5, 5, 100: p50 rank 2 -> 5; p90 rank ceil(3.6) = 4 -> 100; p75 rank 3 -> 5
    counts = {100: 1, 5: 3}
    assert percentile(counts, 50) == 5
    assert percentile(counts, 75) == 5
    assert percentile(counts, 90) == 100


def test_percentile_edges():
    counts = {3: 2, 9: 1}
    assert percentile(counts, 0) == 3  # rank at least 1
    assert percentile(counts, 100) == 9
    assert percentile({42: 1}, 90) == 42
    assert percentile({}, 50) is None
    # 90 % of 10 is exactly rank 9: no float noise pushing it to 10
    assert percentile({v: 1 for v in range(10)}, 90.0) == 8


def test_ratio():
    assert ratio(3, 4) == Fraction(3, 4)
    assert ratio(0, 5) == 0
    assert ratio(0, 0) is None


# ---- availability ----------------------------------------------------------------------------------------------------
def outage(start: datetime, end: datetime | None, oid="o") -> Interruption:
    return Interruption(outage_id=oid, contract="t", started_at=start, restored_at=end)


NOV = lambda day, hour=0: datetime(2026, 11, day, hour, tzinfo=UTC)  # noqa: E731


def test_availability_without_interruptions_is_one():
    assert availability([], START, END, END) == 1


def test_availability_counts_overlaps_once_and_clips_to_the_period():
    interruptions = [
        outage(NOV(2, 10), NOV(2, 12), "a"),  # 10:00-12:00
        outage(NOV(2, 11), NOV(2, 13), "b"),  # overlaps a: the union 10:00-13:00 is 3 h
        outage(NOV(2, 10) + timedelta(minutes=30), NOV(2, 11), "c"),  # inside a: nothing more
        outage(datetime(2026, 10, 31, 23, tzinfo=UTC), NOV(1, 1), "d"),  # 1 h of it inside the period
        outage(datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 21, tzinfo=UTC), "e"),  # before: 0
        outage(NOV(30, 22), None, "f"),  # still open: 2 h to the period end
    ]
    # 3 h + 1 h + 2 h = 6 h = 21,600 s of 30 days = 2,592,000 s -> 1 - 1/120 = 119/120
    assert availability(interruptions, START, END, END + 5 * HOUR) == Fraction(119, 120)


def test_availability_of_a_period_still_running():
    now = NOV(16)  # 15 days = 1,296,000 s into the period
    interruptions = [
        outage(NOV(2, 10), NOV(2, 12), "a"),
        outage(NOV(2, 11), NOV(2, 13), "b"),  # union with a: 3 h
        outage(NOV(15, 22), None, "open"),  # open: 2 h until now
    ]
    # 5 h = 18,000 s of 1,296,000 s -> 1 - 1/72 = 71/72
    assert availability(interruptions, START, END, now) == Fraction(71, 72)
    # an interruption open since before the period: down the whole time so far
    assert availability([outage(datetime(2026, 10, 30, tzinfo=UTC), None)], START, END, now) == 0


def test_availability_before_the_period_started_is_one():
    assert availability([outage(NOV(2), None)], START, END, START) == 1
    assert availability([outage(NOV(2), None)], START, END, START - HOUR) == 1


def test_availability_counts_a_contained_report_after_a_longer_one_once():
    # a long outage 01:00-10:00, a short report inside it 02:00-03:00, then a later one 09:00-11:00
    interruptions = [outage(NOV(1, 1), NOV(1, 10)), outage(NOV(1, 2), NOV(1, 3)), outage(NOV(1, 9), NOV(1, 11))]
    # union 01:00-11:00 = 10 h of 30 days = 720 h -> 1 - 10/720 = 71/72
    assert availability(interruptions, START, END, END) == Fraction(71, 72)


def test_availability_with_sub_second_interruptions_is_exact():
    # 3 outages of 1.1 s: 3.3 s of 2,592,000 s
    interruptions = [outage(NOV(d), NOV(d) + timedelta(seconds=1, microseconds=100_000)) for d in (3, 4, 5)]
    assert availability(interruptions, START, END, END) == 1 - Fraction(33, 25_920_000)


# ---- targets ---------------------------------------------------------------------------------------------------------
def test_target_min_and_max_bounds_are_inclusive():
    at_least = Target(min=85)
    assert at_least.met_by(85) and at_least.met_by(100)
    assert not at_least.met_by(84.99)
    at_most = Target(max=7200)
    assert at_most.met_by(7200) and at_most.met_by(0)
    assert not at_most.met_by(7200.5)
    # 19 of 20 resolved is exactly 95 %: meets "min = 0.95" despite float noise
    assert Target(min=0.95).met_by(float(Fraction(19, 20)))
    assert Target(min=0.95).met_by(float(Fraction(57, 60)))
    assert not Target(min=0.95).met_by(float(Fraction(56, 59)))
    assert str(at_least) == ">= 85" and str(at_most) == "<= 7200"


@pytest.mark.parametrize("bounds", [{}, {"min": 1, "max": 2}])
def test_target_needs_exactly_one_bound(bounds):
    with pytest.raises(ValidationError, match="exactly one of min or max"):
        Target(**bounds)


def test_target_min_n_must_be_positive():
    with pytest.raises(ValidationError):
        Target(min=1, min_n=0)


def test_assess_applies_targets_with_min_n():
    # CSAT from one batch: 17 of 20 are 4-5 -> 85.0, exactly at the bound
    batch = SurveyBatch(batch_id="b", channel=SurveyChannel.EMAIL, csat=csat({5: 10, 4: 7, 2: 3}))
    targets = {K.CSAT: Target(min=85, min_n=20), K.CSAT_MEAN: Target(min=90), K.NPS: Target(min=0, min_n=5)}
    a = run_assess(batches=[batch], targets=targets)
    assert a.kpi(K.CSAT).value == 85.0 and a.kpi(K.CSAT).n == 20 and a.kpi(K.CSAT).met is True
    # mean (50 + 28 + 6) / 20 = 4.2 -> (4.2 - 1) / 4 x 100 = 80 < 90
    assert a.kpi(K.CSAT_MEAN).value == pytest.approx(80.0) and a.kpi(K.CSAT_MEAN).met is False
    assert a.kpi(K.NPS).value is None and a.kpi(K.NPS).met is None  # no NPS data: not judged
    assert [k.name for k in a.missed] == [K.CSAT_MEAN]
    # one answer short of min_n: reported, not judged
    short = SurveyBatch(batch_id="b", channel=SurveyChannel.EMAIL, csat=csat({5: 10, 4: 7, 2: 2}))
    b = run_assess(batches=[short], targets=targets)
    assert b.kpi(K.CSAT).n == 19 and b.kpi(K.CSAT).met is None
    assert b.kpi(K.CSAT).target == Target(min=85, min_n=20)


def test_only_assessed_targets_count_as_missed():
    batch = SurveyBatch(batch_id="b", channel=SurveyChannel.EMAIL, csat=csat({1: 4}))
    targets = {K.CSAT: Target(min=85), K.CSAT_MEAN: Target(min=85)}
    a = run_assess(batches=[batch], targets=targets, assessed=[K.CSAT, K.NPS])
    assert a.assessed == [K.CSAT]  # NPS has no target: dropped
    assert a.kpi(K.CSAT_MEAN).met is False  # still compared and reported ...
    assert [k.name for k in a.missed] == [K.CSAT]  # ... but only assessed targets are missed


# ---- the tally ------------------------------------------------------------------------------------------------------
def test_tally_adds_an_outcome():
    tally = PeriodTally.of([
        resolved(severity=Severity.MAJOR, first_contact=True, remedy=Remedy.REPLACEMENT, handling_seconds=600,
                 first_response_seconds=5400.4, first_response_business_seconds=1800.5, resolved_in_time=True,
                 clocks={C.ACKNOWLEDGE: ClockTally(met=1), C.RESOLVE: ClockTally(met=1)},
                 breaches={BreachClass.MINOR: 2}, csat=5, nps=10, ces=6),
        oc(state=S.WITHDRAWN),
    ])
    assert tally.complaints == 2 and tally.withdrawn == 1 and tally.resolved == 1 and tally.first_contact == 1
    assert tally.handled == 1 and tally.handling_seconds == 600
    assert tally.unacknowledged == 1
    assert tally.first_response_business == {1801: 1}  # whole seconds, half up
    assert tally.first_response_wall == {5400: 1}
    assert tally.major_complaints == 1 and tally.major_decided == 1 and tally.major_in_time == 1
    assert tally.by_severity == {Severity.MAJOR: 1, Severity.NORMAL: 1}
    assert tally.remedies == {Remedy.REPLACEMENT: 1}
    assert tally.clocks == {C.ACKNOWLEDGE: ClockTally(met=1), C.RESOLVE: ClockTally(met=1)}
    assert tally.breaches == {BreachClass.MINOR: 2}
    assert tally.feedback_csat.counts == {5: 1}
    assert tally.feedback_nps.counts == {10: 1}
    assert tally.feedback_ces.counts == {6: 1}


def test_tally_json_round_trip():
    tally = PeriodTally.of([resolved(csat=4, clocks={C.RESOLVE: ClockTally(met=1)},
                                     first_response_business_seconds=60, first_response_seconds=60)])
    assert PeriodTally.model_validate_json(tally.model_dump_json()) == tally


def test_merge_does_not_change_its_inputs():
    a = PeriodTally.of([resolved(csat=5, clocks={C.RESOLVE: ClockTally(met=1)})])
    b = PeriodTally.of([oc(csat=1, clocks={C.RESOLVE: ClockTally(breached=1)})])
    a_before, b_before = a.model_copy(deep=True), b.model_copy(deep=True)
    merged = a.merge(b)
    assert merged.clocks[C.RESOLVE] == ClockTally(met=1, breached=1)
    assert (a, b) == (a_before, b_before)


# ---- complaint KPIs in an assessment ---------------------------------------------------------------------------------
def test_fcr():
    tally = PeriodTally.of([
        resolved(first_contact=True),  # counts
        resolved(first_contact=True),  # counts
        oc(state=S.CLOSED, resolutions=2, reopened=1, first_contact=True),  # reopened: resolved, not at first contact
        resolved(first_contact=False),  # resolved later
        oc(state=S.IN_PROGRESS, resolutions=1, reopened=1, first_contact=True),  # open again: not resolved
        oc(state=S.WITHDRAWN),
    ])
    # 2 resolved at first contact and never reopened / 4 resolved -> 0.5
    a = run_assess(tally)
    assert value(a, K.FCR) == 0.5 and a.kpi(K.FCR).n == 4


def test_aht():
    tally = PeriodTally.of([resolved(handling_seconds=600), resolved(handling_seconds=900),
                            oc(state=S.IN_PROGRESS, handling_seconds=1500), resolved()])
    # (600 + 900 + 1500) s / 3 complaints that reported handling time -> 1000 s
    a = run_assess(tally)
    assert value(a, K.AHT) == 1000.0 and a.kpi(K.AHT).n == 3
    assert a.kpi(K.AHT).unit is Unit.SECONDS


def test_first_response_percentiles_business_and_wall():
    pairs = [(60, 60), (120, 3000), (180, 240), (240, 86400), (300, 300)]  # (business s, wall s)
    tally = PeriodTally.of([oc(first_response_business_seconds=b, first_response_seconds=w) for b, w in pairs]
                           + [oc()])  # one not acknowledged: no first response
    a = run_assess(tally)
    # business 60, 120, 180, 240, 300 (n = 5): p50 rank 3 -> 180; p90 rank 5 -> 300
    assert value(a, K.FIRST_RESPONSE_P50) == 180 and value(a, K.FIRST_RESPONSE_P90) == 300
    # wall 60, 240, 300, 3000, 86400: p50 -> 300; p90 -> 86400
    assert value(a, K.FIRST_RESPONSE_WALL_P50) == 300 and value(a, K.FIRST_RESPONSE_WALL_P90) == 86400
    assert a.kpi(K.FIRST_RESPONSE_P50).n == 5
    # even n: add a sixth (business 360): p50 rank 3 -> 180, p90 rank ceil(5.4) = 6 -> 360
    tally.add(oc(first_response_business_seconds=360, first_response_seconds=360))
    b = run_assess(tally)
    assert value(b, K.FIRST_RESPONSE_P50) == 180 and value(b, K.FIRST_RESPONSE_P90) == 360


def test_first_response_target_in_working_seconds():
    tally = PeriodTally.of([oc(first_response_business_seconds=s, first_response_seconds=s * 10)
                            for s in (600,) * 9 + (7200,)])
    # p90 of nine 600 s and one 7200 s: rank 9 -> 600; a p90 of exactly 2 working hours would still meet
    a = run_assess(tally, targets={K.FIRST_RESPONSE_P90: Target(max=7200)})
    assert value(a, K.FIRST_RESPONSE_P90) == 600 and a.kpi(K.FIRST_RESPONSE_P90).met is True
    tally.add(oc(first_response_business_seconds=7200.4, first_response_seconds=1))
    # 11 values: rank ceil(9.9) = 10 -> 7200 (7200.4 s is counted as 7200 whole seconds), exactly at the bound
    b = run_assess(tally, targets={K.FIRST_RESPONSE_P90: Target(max=7200)})
    assert value(b, K.FIRST_RESPONSE_P90) == 7200 and b.kpi(K.FIRST_RESPONSE_P90).met is True


def test_resolution_rate_excludes_withdrawn():
    tally = PeriodTally.of([resolved() for _ in range(5)] + [oc(state=S.CLOSED, resolutions=1)]
                           + [oc(state=S.IN_PROGRESS), oc(state=S.AWAITING_CUSTOMER)]
                           + [oc(state=S.WITHDRAWN), oc(state=S.WITHDRAWN)])
    # 10 received, 2 withdrawn: 6 resolved (5 resolved + 1 closed) / 8 -> 0.75
    a = run_assess(tally, targets={K.RESOLUTION_RATE: Target(min=0.95)})
    assert value(a, K.RESOLUTION_RATE) == 0.75 and a.kpi(K.RESOLUTION_RATE).n == 8
    assert a.kpi(K.RESOLUTION_RATE).met is False
    assert (a.complaints, a.withdrawn, a.resolved) == (10, 2, 6)


def test_resolution_rate_exactly_at_95_percent_meets():
    tally = PeriodTally.of([resolved() for _ in range(19)] + [oc(state=S.IN_PROGRESS), oc(state=S.WITHDRAWN)])
    # 19 / (21 - 1) = 0.95
    a = run_assess(tally, targets={K.RESOLUTION_RATE: Target(min=0.95)})
    assert value(a, K.RESOLUTION_RATE) == 0.95 and a.kpi(K.RESOLUTION_RATE).met is True


# 003 §2.3.2 resolution rate >= 95 % (the shipped target), over the complaints decided by the period's end.
def test_resolution_rate_counts_only_complaints_decided_by_period_end():
    due_later = END + 9 * 24 * HOUR  # received late in the period: the resolve deadline lies in the next one
    outcomes = ([resolved(resolved_at=END - 24 * HOUR, resolve_deadline=END + HOUR) for _ in range(38)]
                + [oc(state=S.IN_PROGRESS, resolve_deadline=END - 48 * HOUR)]  # overdue at period end: a miss
                + [oc(state=S.IN_PROGRESS, resolve_deadline=due_later) for _ in range(2)]  # pending
                + [oc(state=S.WITHDRAWN)])
    target = {K.RESOLUTION_RATE: Target(min=0.95)}
    # counted the old way, every open complaint is a miss: 38 / 41 = 92.7 % -> a false miss
    old = run_assess(PeriodTally.of(outcomes), targets=target)
    assert old.kpi(K.RESOLUTION_RATE).met is False and old.kpi(K.RESOLUTION_RATE).n == 41
    # decided by the period's end: 38 / 39 = 97.4 %, two pending
    a = run_assess(PeriodTally.of(outcomes, decided_by=END), targets=target)
    rate = a.kpi(K.RESOLUTION_RATE)
    assert rate.value == pytest.approx(38 / 39) and rate.n == 39 and rate.pending == 2 and rate.met is True
    assert a.pending == 2 and (a.complaints, a.withdrawn, a.resolved) == (42, 1, 38)
    assert a.kpi(K.CSAT).pending is None  # pending is a resolution-rate figure


def test_resolved_after_period_end_is_pending_or_a_miss_by_its_deadline():
    target = {K.RESOLUTION_RATE: Target(min=0.95)}
    in_grace = resolved(resolved_at=END + HOUR, resolve_deadline=END + 48 * HOUR)  # not decided at END
    late = resolved(resolved_at=END + HOUR, resolve_deadline=END - HOUR)  # unresolved past its deadline at END
    a = run_assess(PeriodTally.of([in_grace, late], decided_by=END), targets=target)
    assert a.kpi(K.RESOLUTION_RATE).value == 0 and a.kpi(K.RESOLUTION_RATE).n == 1 and a.pending == 1
    # a memo written before resolution times were kept: resolved counts as decided and resolved
    b = run_assess(PeriodTally.of([resolved()], decided_by=END), targets=target)
    assert b.kpi(K.RESOLUTION_RATE).value == 1 and b.pending == 0
    # only pending complaints: no figure to judge
    c = run_assess(PeriodTally.of([in_grace], decided_by=END), targets=target)
    assert c.kpi(K.RESOLUTION_RATE).value is None and c.kpi(K.RESOLUTION_RATE).met is None


def test_tallies_decided_at_one_instant_merge_and_others_refuse():
    a, b = PeriodTally.of([resolved()], decided_by=END), PeriodTally.of([oc()], decided_by=END)
    assert PeriodTally().merge(a).merge(b) == PeriodTally.of([resolved(), oc()], decided_by=END)
    assert a.merge(b).decided == 1 and a.merge(b).decided_by == END
    with pytest.raises(ValueError, match="different instants"):
        a.merge(PeriodTally.of([oc()], decided_by=START))


def test_complaints_are_broken_down_by_category():
    outcomes = ([resolved(category="billing") for _ in range(3)]
                + [oc(category="billing", breaches={BreachClass.MINOR: 2})]
                + [resolved(category="delivery", breaches={BreachClass.MAJOR: 1}), oc()])
    a = run_assess(PeriodTally.of(outcomes))
    assert {k: (c.complaints, c.resolved, c.breached) for k, c in a.by_category.items()} == {
        "billing": (4, 3, 1), "delivery": (1, 1, 1), UNCATEGORISED: (1, 0, 0)}
    assert list(a.by_category) == sorted(a.by_category)
    halves = PeriodTally.of(outcomes[:3]).merge(PeriodTally.of(outcomes[3:]))
    assert halves.by_category == PeriodTally.of(outcomes).by_category


def test_at_fault_complaints_and_their_remedies_are_counted():
    outcomes = [resolved(at_fault=True, remedy=Remedy.COMPENSATION), resolved(at_fault=True, remedy=Remedy.UPGRADE),
                resolved(at_fault=True), resolved(remedy=Remedy.REPLACEMENT), resolved()]
    a = run_assess(PeriodTally.of(outcomes[:2]).merge(PeriodTally.of(outcomes[2:])))
    assert (a.at_fault, a.at_fault_without_remedy) == (3, 1)
    assert a.remedies == {Remedy.COMPENSATION: 1, Remedy.UPGRADE: 1, Remedy.REPLACEMENT: 1}


def test_inquiries_are_counted_apart_with_their_first_response():
    from sla.vocabulary import Kind

    inquiries = [resolved(kind=Kind.INQUIRY, clocks={C.ACKNOWLEDGE: ClockTally(met=1)}) for _ in range(3)]
    inquiries.append(oc(kind=Kind.INQUIRY, clocks={C.ACKNOWLEDGE: ClockTally(breached=1)}))
    a = run_assess(PeriodTally.of([*inquiries, resolved(), oc()]), targets={K.RESOLUTION_RATE: Target(min=0.95)})
    assert (a.inquiries, a.inquiry_acknowledge.met, a.inquiry_acknowledge.breached) == (4, 3, 1)
    assert (a.complaints, a.resolved) == (2, 1) and a.kpi(K.RESOLUTION_RATE).n == 2
    assert a.kpi(K.COMPLIANCE_ACKNOWLEDGE).n == 0  # the complaints' clock only


def test_major_resolved_in_time():
    tally = PeriodTally.of([
        resolved(severity=Severity.CRITICAL, resolved_in_time=True),  # in time
        resolved(severity=Severity.MAJOR, resolved_in_time=True),  # in time
        resolved(severity=Severity.MAJOR, resolved_in_time=False),  # resolved late
        oc(state=S.IN_PROGRESS, severity=Severity.CRITICAL, resolved_in_time=False),  # open, already breached
        oc(state=S.IN_PROGRESS, severity=Severity.MAJOR, resolved_in_time=None),  # open, not yet due: excluded
        oc(state=S.WITHDRAWN, severity=Severity.MAJOR),  # withdrawn before its deadline: excluded
        resolved(severity=Severity.NORMAL, resolved_in_time=False),  # not a major complaint
    ])
    # 2 in time / 4 decided (2 in time, 1 late, 1 open breached) -> 0.5
    a = run_assess(tally, targets={K.MAJOR_RESOLVED_IN_TIME: Target(min=1.0)})
    assert value(a, K.MAJOR_RESOLVED_IN_TIME) == 0.5 and a.kpi(K.MAJOR_RESOLVED_IN_TIME).n == 4
    assert a.kpi(K.MAJOR_RESOLVED_IN_TIME).met is False
    assert tally.major_complaints == 6


def test_major_resolved_in_time_all_in_time_meets_100_percent():
    tally = PeriodTally.of([resolved(severity=Severity.MAJOR, resolved_in_time=True)] * 3
                           + [oc(state=S.IN_PROGRESS, severity=Severity.CRITICAL)])
    a = run_assess(tally, targets={K.MAJOR_RESOLVED_IN_TIME: Target(min=1.0)})
    assert value(a, K.MAJOR_RESOLVED_IN_TIME) == 1.0 and a.kpi(K.MAJOR_RESOLVED_IN_TIME).met is True


def test_compliance_per_clock_and_breaches_by_class():
    tally = PeriodTally.of([
        oc(clocks={C.ACKNOWLEDGE: ClockTally(met=1), C.RESOLVE: ClockTally(met=1)}),
        oc(clocks={C.ACKNOWLEDGE: ClockTally(met=1), C.RESOLVE: ClockTally(breached=1)},
           breaches={BreachClass.MAJOR: 1}),
        oc(clocks={C.ACKNOWLEDGE: ClockTally(breached=1), C.PROGRESS_UPDATE: ClockTally(met=3, breached=1)},
           breaches={BreachClass.MINOR: 2}),
        oc(clocks={C.ACKNOWLEDGE: ClockTally(met=1), C.RESOLVE: ClockTally(met=1, breached=1)},
           breaches={BreachClass.MINOR: 1}),
    ])
    a = run_assess(tally)
    # acknowledge: 3 met of 4 decided -> 0.75; resolve: 2 of 4 -> 0.5; progress_update: 3 of 4 -> 0.75
    assert value(a, K.COMPLIANCE_ACKNOWLEDGE) == 0.75 and a.kpi(K.COMPLIANCE_ACKNOWLEDGE).n == 4
    assert value(a, K.COMPLIANCE_RESOLVE) == 0.5 and a.kpi(K.COMPLIANCE_RESOLVE).n == 4
    assert value(a, K.COMPLIANCE_PROGRESS_UPDATE) == 0.75
    # no decided instance of triage: no figure
    assert value(a, K.COMPLIANCE_TRIAGE) is None and a.kpi(K.COMPLIANCE_TRIAGE).n == 0
    # breaches: 1 major, 2 + 1 = 3 minor
    assert value(a, K.MAJOR_BREACHES) == 1 and value(a, K.MINOR_BREACHES) == 3
    assert a.breaches == {BreachClass.MAJOR: 1, BreachClass.MINOR: 3}
    assert {compliance_kpi(c) for c in C} <= set(K)


def test_availability_kpi_in_an_assessment():
    interruptions = [outage(NOV(2, 10), NOV(2, 12), "a"), outage(NOV(2, 11), NOV(2, 13), "b")]
    # 3 h of 720 h -> 1 - 1/240 = 0.99583...
    a = run_assess(interruptions=interruptions, targets={K.AVAILABILITY: Target(min=0.999)})
    assert value(a, K.AVAILABILITY) == pytest.approx(239 / 240)
    assert a.kpi(K.AVAILABILITY).met is False
    assert a.interruptions == 2
    # a running period counts until now: 3 h of the first 240 h -> 1 - 1/80
    b = run_assess(interruptions=interruptions, now=NOV(11))
    assert value(b, K.AVAILABILITY) == pytest.approx(79 / 80)


def test_availability_target_is_judged_in_a_period_without_interruptions():
    # No outage at all is the best availability there is: 1.0 meets "min = 0.999", it is not "no data".
    a = run_assess(targets={K.AVAILABILITY: Target(min=0.999)})
    assert value(a, K.AVAILABILITY) == 1.0
    assert a.kpi(K.AVAILABILITY).met is True


# ---- survey KPIs in an assessment ------------------------------------------------------------------------------------
def test_survey_kpis_merge_channels_and_complaint_feedback_but_not_third_party():
    email = SurveyBatch(batch_id="e1", channel=SurveyChannel.EMAIL, csat=csat({5: 3, 4: 2, 2: 1}),
                        nps=nps_h({10: 2, 9: 1, 7: 1, 3: 2}), ces=ces({7: 2, 3: 1}))
    sms = SurveyBatch(batch_id="s1", channel=SurveyChannel.SMS, csat=csat({1: 2}), ces=ces({5: 1}))
    third = SurveyBatch(batch_id="t1", channel=SurveyChannel.THIRD_PARTY, csat=csat({5: 1, 3: 1}),
                        nps=nps_h({0: 10}))
    tally = PeriodTally.of([resolved(csat=4, nps=8, ces=6), resolved(csat=3)])
    a = run_assess(tally, batches=[email, sms, third])
    # CSAT answers: email 5,5,5,4,4,2 + sms 1,1 + feedback 4,3 = 10; 4-5: 6 -> 60.0
    assert value(a, K.CSAT) == 60.0 and a.kpi(K.CSAT).n == 10
    # mean (15 + 8 + 2 + 2 + 4 + 3) / 10 = 3.4 -> (3.4 - 1) / 4 x 100 = 60.0
    assert value(a, K.CSAT_MEAN) == pytest.approx(60.0)
    # NPS answers: 10,10,9,7,3,3 + feedback 8 = 7; promoters 3, detractors 2 -> 1/7 = 14.29 -> 14
    assert value(a, K.NPS) == 14 and a.kpi(K.NPS).n == 7
    # CES answers: 7,7,3 + 5 + 6 = 5; mean 28/5 = 5.6; agree 4 of 5 -> 80
    assert value(a, K.CES) == pytest.approx(5.6) and value(a, K.CES_AGREE) == 80.0
    # third-party: (5 + 3) / 2 = 4 -> (4 - 1) / 4 x 100 = 75.0
    assert value(a, K.THIRD_PARTY_SATISFACTION) == 75.0 and a.kpi(K.THIRD_PARTY_SATISFACTION).n == 2
    summary = {c.channel: c for c in a.channels}
    assert set(summary) == {SurveyChannel.EMAIL, SurveyChannel.SMS, SurveyChannel.THIRD_PARTY,
                            SurveyChannel.COMPLAINT}
    assert summary[SurveyChannel.EMAIL].responses == 6 and summary[SurveyChannel.EMAIL].batches == 1
    assert summary[SurveyChannel.EMAIL].csat == pytest.approx(500 / 6)  # 5 of 6
    assert summary[SurveyChannel.EMAIL].nps == 17  # 3/6 - 2/6 = 16.67 -> 17
    assert summary[SurveyChannel.SMS].csat == 0.0 and summary[SurveyChannel.SMS].nps is None
    assert summary[SurveyChannel.COMPLAINT].batches == 0 and summary[SurveyChannel.COMPLAINT].responses == 2
    assert summary[SurveyChannel.COMPLAINT].csat == 50.0
    assert summary[SurveyChannel.THIRD_PARTY].nps == -100


def test_empty_assessment_reports_every_kpi_without_data():
    a = run_assess()
    assert [k.name for k in a.kpis] == list(KpiName)
    for kpi in a.kpis:
        assert (kpi.label, kpi.unit, kpi.variant) == DEFINITIONS[kpi.name]
        if kpi.name is K.AVAILABILITY:
            assert kpi.value == 1.0
        elif kpi.name in (K.MAJOR_BREACHES, K.MINOR_BREACHES):
            assert kpi.value == 0
        else:
            assert kpi.value is None, kpi.name
    assert a.channels == [] and a.missed == []


def test_assessment_survives_a_json_round_trip():
    tally = PeriodTally.of([resolved(csat=4, first_contact=True, first_response_business_seconds=60,
                                     first_response_seconds=90, clocks={C.ACKNOWLEDGE: ClockTally(met=1)})])
    a = run_assess(tally, targets={K.CSAT: Target(min=85)})
    again = Assessment.model_validate_json(a.model_dump_json())
    assert again == a and again.missed == a.missed


# ---- properties ------------------------------------------------------------------------------------------------------
def histograms(scale: Scale, max_count=30):
    low, high = scale.bounds
    return st.dictionaries(st.integers(low, high), st.integers(0, max_count), max_size=high - low + 1).map(
        lambda counts: ScoreHistogram(scale=scale, counts=counts))


@settings(max_examples=300, deadline=None)
@given(histograms(Scale.NPS, max_count=1000))
def test_nps_is_a_whole_number_within_plus_minus_100(h):
    score = nps(h)
    if h.n == 0:
        assert score is None
    else:
        assert isinstance(score, int) and -100 <= score <= 100
        exact = Fraction(100 * (h.counts.get(9, 0) + h.counts.get(10, 0)
                                - sum(h.counts.get(s, 0) for s in range(7))), h.n)
        assert abs(score - exact) <= Fraction(1, 2)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 10_000), st.integers(1, 5), min_size=1, max_size=20),
       st.floats(0, 100), st.floats(0, 100))
def test_percentile_is_monotone_in_p_and_one_of_the_values(counts, p, q):
    low, high = sorted((p, q))
    at_low, at_high = percentile(counts, low), percentile(counts, high)
    assert at_low is not None and at_high is not None  # counts is never empty
    assert at_low <= at_high
    assert at_low in counts
    assert min(counts) <= at_low <= max(counts)


CLOCK_TALLIES = st.dictionaries(
    st.sampled_from(list(ClockName)),
    st.builds(ClockTally, met=st.integers(0, 3), breached=st.integers(0, 3)), max_size=4)
SECONDS = st.one_of(st.none(), st.floats(0, 10 * 86400, allow_nan=False))


@st.composite
def outcomes(draw) -> ComplaintOutcome:
    state = draw(st.sampled_from(list(ComplaintState)))
    resolutions = draw(st.integers(0, 3))
    acknowledged = draw(st.booleans())
    return ComplaintOutcome(
        complaint_id=f"c-{draw(st.integers(0, 10**6))}",
        contract="t",
        severity=draw(st.sampled_from(list(Severity))),
        channel=draw(st.one_of(st.none(), st.sampled_from(list(Channel)))),
        received_at=START + timedelta(seconds=draw(st.integers(0, 30 * 86400))),
        state=state,
        first_response_seconds=draw(SECONDS) if acknowledged else None,
        first_response_business_seconds=draw(st.floats(0, 86400, allow_nan=False)) if acknowledged else None,
        resolutions=resolutions,
        reopened=draw(st.integers(0, 2)),
        first_contact=draw(st.booleans()),
        remedy=draw(st.one_of(st.none(), st.sampled_from(list(Remedy)))),
        handling_seconds=draw(st.one_of(st.none(), st.integers(0, 100_000))),
        resolved_in_time=draw(st.one_of(st.none(), st.booleans())),
        clocks=draw(CLOCK_TALLIES),
        breaches=draw(st.dictionaries(st.sampled_from(list(BreachClass)), st.integers(0, 4))),
        csat=draw(st.one_of(st.none(), st.integers(1, 5))),
        nps=draw(st.one_of(st.none(), st.integers(0, 10))),
        ces=draw(st.one_of(st.none(), st.integers(1, 7))),
    )


OUTCOME_LISTS = st.lists(outcomes(), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OUTCOME_LISTS, OUTCOME_LISTS)
def test_tallying_a_concatenation_equals_merging_the_tallies(a, b):
    assert PeriodTally.of(a + b) == PeriodTally.of(a).merge(PeriodTally.of(b))
    assert PeriodTally.of(a).merge(PeriodTally()) == PeriodTally.of(a)
    assert PeriodTally().merge(PeriodTally.of(a)) == PeriodTally.of(a)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OUTCOME_LISTS, OUTCOME_LISTS, OUTCOME_LISTS)
def test_tally_merge_is_associative_and_commutative(a, b, c):
    ta, tb, tc = PeriodTally.of(a), PeriodTally.of(b), PeriodTally.of(c)
    assert ta.merge(tb).merge(tc) == ta.merge(tb.merge(tc))
    assert ta.merge(tb) == tb.merge(ta)


@st.composite
def batches(draw) -> SurveyBatch:
    present = draw(st.lists(st.sampled_from(list(Scale)), min_size=1, max_size=3, unique=True))
    fields = {}
    for scale in present:
        low, high = scale.bounds
        fields[scale.value] = ScoreHistogram(scale=scale, counts=draw(
            st.dictionaries(st.integers(low, high), st.integers(1, 20), min_size=1, max_size=high - low + 1)))
    channel = draw(st.sampled_from([c for c in SurveyChannel if c is not SurveyChannel.COMPLAINT]))
    return SurveyBatch(batch_id=f"b{draw(st.integers(0, 999))}", channel=channel, **fields)


@st.composite
def interruptions(draw) -> Interruption:
    started = START + timedelta(microseconds=draw(st.integers(-5 * 86400 * 10**6, 35 * 86400 * 10**6)))
    length = draw(st.one_of(st.none(), st.integers(0, 3 * 86400 * 10**6)))
    restored = None if length is None else started + timedelta(microseconds=length)
    return Interruption(outage_id="o", contract="t", started_at=started, restored_at=restored)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OUTCOME_LISTS, st.lists(batches(), max_size=4), st.lists(interruptions(), max_size=6),
       st.integers(-2 * 86400, 40 * 86400))
def test_every_kpi_stays_within_its_unit(outcomes_, batches_, interruptions_, now_offset):
    a = run_assess(PeriodTally.of(outcomes_), batches=batches_, interruptions=interruptions_,
                   now=START + timedelta(seconds=now_offset))
    for kpi in a.kpis:
        if kpi.value is None:
            continue
        if kpi.unit is Unit.RATIO:
            assert 0 <= kpi.value <= 1, kpi
        elif kpi.unit is Unit.NPS:
            assert -100 <= kpi.value <= 100 and kpi.value == int(kpi.value), kpi
        elif kpi.name is K.CES:
            assert 1 <= kpi.value <= 7, kpi
        elif kpi.unit is Unit.SCORE:
            assert 0 <= kpi.value <= 100, kpi
        else:
            assert kpi.value >= 0, kpi
        assert kpi.n >= 0


@settings(max_examples=150, deadline=None)
@given(st.lists(interruptions(), max_size=8), st.integers(-2 * 86400, 40 * 86400))
def test_availability_is_a_ratio_and_never_rises_with_more_interruptions(interruptions_, now_offset):
    now = START + timedelta(seconds=now_offset)
    values = [availability(interruptions_[:i], START, END, now) for i in range(len(interruptions_) + 1)]
    assert all(0 <= v <= 1 for v in values)
    assert values == sorted(values, reverse=True)
    # the order of the reports does not matter
    assert availability(list(reversed(interruptions_)), START, END, now) == values[-1]
