"""The KPI catalogue: every KPI's name, unit and stated variant, and what a target is.

A leaf of the core (it imports only the vocabulary): the policy file validates its targets against this, and the
KPI maths (sla/kpi.py) computes the figures it names, so reading a policy never pulls in the formulas.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sla.vocabulary import ClockName


class KpiName(str, Enum):
    CSAT = "csat"
    CSAT_MEAN = "csat_mean"
    NPS = "nps"
    CES = "ces"
    CES_AGREE = "ces_agree"
    THIRD_PARTY_SATISFACTION = "third_party_satisfaction"
    FCR = "fcr"
    AHT = "aht"
    FIRST_RESPONSE_P50 = "first_response_p50"
    FIRST_RESPONSE_P90 = "first_response_p90"
    FIRST_RESPONSE_WALL_P50 = "first_response_wall_p50"
    FIRST_RESPONSE_WALL_P90 = "first_response_wall_p90"
    RESOLUTION_RATE = "resolution_rate"
    MAJOR_RESOLVED_IN_TIME = "major_resolved_in_time"
    COMPLIANCE_ACKNOWLEDGE = "compliance_acknowledge"
    COMPLIANCE_TRIAGE = "compliance_triage"
    COMPLIANCE_HANDLING_PLAN = "compliance_handling_plan"
    COMPLIANCE_PROGRESS_UPDATE = "compliance_progress_update"
    COMPLIANCE_RESOLVE = "compliance_resolve"
    COMPLIANCE_NOTIFY_RESULT = "compliance_notify_result"
    COMPLIANCE_SURVEY = "compliance_survey"
    MAJOR_BREACHES = "major_breaches"
    MINOR_BREACHES = "minor_breaches"
    AVAILABILITY = "availability"


class Unit(str, Enum):
    SCORE = "score"  # 0-100 (CES: 1-7)
    NPS = "nps"  # -100..100
    RATIO = "ratio"  # 0-1
    SECONDS = "seconds"
    COUNT = "count"


def compliance_kpi(clock: ClockName) -> KpiName:
    return KpiName(f"compliance_{clock.value}")


# name -> (label, unit, variant stated in the report)
DEFINITIONS: dict[KpiName, tuple[str, Unit, str]] = {
    KpiName.CSAT: ("Customer satisfaction (CSAT)", Unit.SCORE,
                   "share of 4-5 answers on the 1-5 scale, x100; all channels but third-party, "
                   "complaint feedback included"),
    KpiName.CSAT_MEAN: ("CSAT mean", Unit.SCORE, "mean answer on the 1-5 scale mapped to 0-100 as (mean-1)/4x100"),
    KpiName.NPS: ("Net Promoter Score", Unit.NPS,
                  "% promoters (9-10) minus % detractors (0-6), rounded half away from zero to a whole number"),
    KpiName.CES: ("Customer effort (CES 2.0)", Unit.SCORE, "mean agreement on the 1-7 scale, higher = easier"),
    KpiName.CES_AGREE: ("CES agreement", Unit.SCORE, "share of 5-7 answers on the 1-7 scale, x100"),
    KpiName.THIRD_PARTY_SATISFACTION: ("Third-party satisfaction score", Unit.SCORE,
                                       "third-party survey CSAT mean on 0-100, (mean-1)/4x100 (003 §2.3.3)"),
    KpiName.FCR: ("First-contact resolution", Unit.RATIO,
                  "resolved at first contact and never reopened / resolved, complaints received in the period"),
    KpiName.AHT: ("Average handling time", Unit.SECONDS,
                  "handling seconds reported by agents (progress posts, resolutions) / complaints that reported any"),
    KpiName.FIRST_RESPONSE_P50: ("First response, median (working time)", Unit.SECONDS,
                                 "nearest-rank median of receipt-to-acknowledgment working seconds"),
    KpiName.FIRST_RESPONSE_P90: ("First response, p90 (working time)", Unit.SECONDS,
                                 "nearest-rank 90th percentile of receipt-to-acknowledgment working seconds"),
    KpiName.FIRST_RESPONSE_WALL_P50: ("First response, median (wall clock)", Unit.SECONDS,
                                      "nearest-rank median of receipt-to-acknowledgment wall-clock seconds"),
    KpiName.FIRST_RESPONSE_WALL_P90: ("First response, p90 (wall clock)", Unit.SECONDS,
                                      "nearest-rank 90th percentile of receipt-to-acknowledgment wall-clock seconds"),
    KpiName.RESOLUTION_RATE: ("Resolution rate", Unit.RATIO,
                              "resolved by the period's end / complaints decided by then (resolved, or past their "
                              "resolve deadline); the rest are pending; withdrawn excluded (003 §2.3.2)"),
    KpiName.MAJOR_RESOLVED_IN_TIME: ("Major complaints resolved in time", Unit.RATIO,
                                     "critical+major complaints resolved without a resolve breach / those decided "
                                     "(resolved, or a resolve deadline passed) (003 §2.3.2, §4.2.2)"),
    **{
        compliance_kpi(clock): (f"SLA compliance: {clock.value}", Unit.RATIO,
                                "clock instances met in time / decided (met, or deadline passed - open breached "
                                "items included)")
        for clock in ClockName
    },
    KpiName.MAJOR_BREACHES: ("Major breaches", Unit.COUNT, "breaches classed major (003 §4.2)"),
    KpiName.MINOR_BREACHES: ("Minor breaches", Unit.COUNT, "breaches classed minor (003 §4.1)"),
    KpiName.AVAILABILITY: ("Service availability", Unit.RATIO,
                           "1 - reported interruption time inside the period / period length (003 §1.3)"),
}
assert set(DEFINITIONS) == set(KpiName)


class Target(BaseModel):
    """A KPI target: at least `min` or at most `max` (in the KPI's unit), assessed with at least `min_n` data."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min: float | None = None
    max: float | None = None
    min_n: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _one_bound(self) -> Target:
        if (self.min is None) == (self.max is None):
            raise ValueError("a target has exactly one of min or max")
        return self

    def met_by(self, value: float) -> bool:
        # A tiny tolerance: a ratio of exactly 0.95 computed from fractions must meet "min = 0.95".
        if self.min is not None:
            return value >= self.min - 1e-9
        assert self.max is not None  # the validator requires exactly one of min or max
        return value <= self.max + 1e-9

    def __str__(self) -> str:
        return f">= {self.min:g}" if self.min is not None else f"<= {self.max:g}"
