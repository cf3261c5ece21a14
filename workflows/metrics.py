"""The catalogue of cx-sla's Prometheus metrics, and the replay-safe instruments workflows record through.

Every `cxsla_` metric is declared here once: the workflows create their instruments from it, the worker sizes
histogram buckets from it, the visibility collector sets its gauges from it, and the tests check the dashboard and
alert rules against it. Names are given to the SDK meter without suffixes; the worker's Prometheus exporter
(`counters_total_suffix`, `unit_suffix`) adds `_total` to counters and `_seconds` to metrics whose unit is seconds,
which `MetricSpec.exported` reproduces.

Labels are bounded sets only (contract, severity, clock, class, level, channel, state, outcome) — never a complaint,
workflow or customer id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from temporalio import workflow
from temporalio.common import MetricCounter, MetricHistogramFloat

from activities.assessment import SNAPSHOTS_DIFFERING, SNAPSHOTS_DIFFERING_HELP


class Kind(str, Enum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"


class Source(str, Enum):
    WORKFLOW = "workflow"  # workflow.metric_meter(): silent on replay
    COLLECTOR = "collector"  # the worker's periodic visibility collector (starter/service/metrics.py)
    ACTIVITY = "activity"  # activity.metric_meter(), from what an activity sees
    RESERVED = "reserved"  # named now, emitted by later work (assessment cycles, plans, the HTTP API)


# Seconds to about a month: acknowledgments take minutes to hours, resolutions days to weeks.
DURATION_BUCKETS = (
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0,
    432000.0, 864000.0, 1296000.0, 2592000.0,
)


@dataclass(frozen=True)
class MetricSpec:
    name: str  # as given to the meter: no `_total` and no unit suffix
    kind: Kind
    help: str
    labels: tuple[str, ...]
    source: Source
    unit: str | None = None
    buckets: tuple[float, ...] | None = None

    @property
    def exported(self) -> str:
        """The name Prometheus sees (the family name; histograms add `_bucket`, `_sum`, `_count`)."""
        name = f"{self.name}_{self.unit}" if self.unit else self.name
        return f"{name}_total" if self.kind is Kind.COUNTER else name

    @property
    def series(self) -> tuple[str, ...]:
        if self.kind is Kind.HISTOGRAM:
            return tuple(f"{self.exported}{s}" for s in ("_bucket", "_sum", "_count"))
        return (self.exported,)


_C, _H, _G = Kind.COUNTER, Kind.HISTOGRAM, Kind.GAUGE
_W, _V, _R = Source.WORKFLOW, Source.COLLECTOR, Source.RESERVED
_CS = ("contract", "severity")

# ---- complaints: counted by ComplaintWorkflow once per fact, never again on replay ----------------------------
OPENED = MetricSpec("cxsla_complaints_opened", _C, "Complaints opened", (*_CS, "channel"), _W)
CLOSED = MetricSpec("cxsla_complaints_closed", _C, "Complaints closed or withdrawn", _CS, _W)
CLOCK_OUTCOMES = MetricSpec(
    "cxsla_clock_outcomes", _C, "SLA clock instances decided: outcome met (in time) or breached, once each",
    (*_CS, "clock", "outcome"), _W,
)
BREACHES = MetricSpec("cxsla_breaches", _C, "SLA clock breaches noticed", (*_CS, "clock", "class"), _W)
WARNINGS = MetricSpec("cxsla_warnings", _C, "SLA clock warnings sent", (*_CS, "clock"), _W)
ESCALATIONS = MetricSpec("cxsla_escalations", _C, "Escalation steps fired", (*_CS, "clock", "level"), _W)
NOTIFICATION_FAILURES = MetricSpec(
    "cxsla_notification_failures", _C, "Notifications given up on after retrying (escalations included)",
    (*_CS, "clock"), _W,
)
RETRIES = MetricSpec(
    "cxsla_retries", _C, "Retry rounds of work a clock workflow could not finish (what: an evaluation, a delivery, "
    "a cycle's collection or report); the reason shows in show and the API", ("contract", "what"), _W,
)
ESCALATION_FAILURES = MetricSpec(
    "cxsla_escalation_failures", _C, "Escalation notices given up on after retrying", (*_CS, "clock", "level"), _W,
)
TIME_TO_ACK = MetricSpec(
    "cxsla_time_to_acknowledge", _H, "Wall-clock time from receipt to acknowledgment", _CS, _W, "seconds",
    DURATION_BUCKETS,
)
TIME_TO_ACK_BUSINESS = MetricSpec(
    "cxsla_time_to_acknowledge_business", _H, "Working time from receipt to acknowledgment (the SLA's measure)",
    _CS, _W, "seconds", DURATION_BUCKETS,
)
TIME_TO_RESOLVE = MetricSpec(
    "cxsla_time_to_resolve", _H, "Wall-clock time from the start of a resolve clock (receipt or reopening) to the "
    "resolution", _CS, _W, "seconds", DURATION_BUCKETS,
)
TIME_TO_RESOLVE_BUSINESS = MetricSpec(
    "cxsla_time_to_resolve_business", _H, "Working time to resolution, time waiting for the customer excluded",
    _CS, _W, "seconds", DURATION_BUCKETS,
)

# ---- assessment: counted by AssessmentCycleWorkflow / ImprovementPlanWorkflow (breaches of plans, reports and
# interruptions count in cxsla_breaches_total too, with clock plan_*/report_delivery/interruption, severity "") ----
CYCLES_COMPLETED = MetricSpec("cxsla_cycles_completed", _C, "Assessment cycles completed", ("contract",), _W)
PLANS_STARTED = MetricSpec(
    "cxsla_improvement_plans_started", _C,
    "Improvement plans started (missed targets, major complaint breaches, negative feedback)",
    ("contract",), _W,
)

# ---- from Temporal visibility, by the worker's collector (every worker exports the same values: use max) -------
OPEN_COMPLAINTS = MetricSpec(
    "cxsla_open_complaints", _G, "Running complaints by contract, state and severity (Temporal visibility)",
    ("contract", "state", "severity"), _V,
)
AT_RISK_COMPLAINTS = MetricSpec(
    "cxsla_at_risk_complaints", _G, "Running complaints past a warning threshold and not breached",
    ("contract", "severity"), _V,
)
OPEN_IMPROVEMENT_PLANS = MetricSpec(
    "cxsla_open_improvement_plans", _G, "Running ImprovementPlanWorkflows by contract", ("contract",), _V,
)
PROVISIONAL_CLOCKS = MetricSpec(
    "cxsla_provisional_clocks", _G, "Running complaints, plans, cycles and outages with a clock on a calendar year "
    "nobody has published yet (computed from the weekly pattern until `cxsla calendar refresh`)", ("contract",), _V,
)
CALENDAR_KNOWN_UNTIL = MetricSpec(
    "cxsla_calendar_known_until_timestamp", _G, "The last instant a calendar in use knows officially (from the "
    "holidays package or the policy); later days are provisional", ("calendar",), _V, "seconds",
)
UNDELIVERED_NOTIFICATIONS = MetricSpec(
    "cxsla_undelivered_notifications", _G, "Notifications of running complaints that failed at least once and are "
    "still being retried (breaches and escalations never give up; `show` lists them)", ("contract",), _V,
)
OLDEST_UNDELIVERED = MetricSpec(
    "cxsla_oldest_undelivered", _G, "Age of the oldest undelivered notification of a running complaint, since it "
    "was fired (0 when none)", ("contract",), _V, "seconds",
)
LAST_CYCLE_COMPLETED = MetricSpec(
    "cxsla_cycle_last_completed_timestamp", _G, "When the last assessment cycle of a contract and cadence completed "
    "(its report delivered); before the first one, when its Schedule was created", ("contract", "cadence"), _V,
    "seconds",
)
CYCLES_WAITING_FOR_FIX = MetricSpec(
    "cxsla_cycles_waiting_for_fix", _G, "Running assessment cycles stopped on an error no retry can fix (e.g. KPIs "
    "that cannot be computed); `cxsla cycle show` says why, `cxsla cycle retry` goes on once it is corrected",
    ("contract",), _V,
)
POLICY_SNAPSHOTS_DIFFERING = MetricSpec(SNAPSHOTS_DIFFERING, _G, SNAPSHOTS_DIFFERING_HELP, ("contract",),
                                        Source.ACTIVITY)
COLLECTOR_FAILURES = MetricSpec(
    "cxsla_visibility_collect_failures", _C, "Visibility collections that failed (gauges kept their last value)",
    (), _V,
)

# ---- the last completed assessment cycle's KPIs per contract, from visibility (the collector) ---------------
KPI_GAUGES = (
    MetricSpec("cxsla_kpi_csat_score", _G, "CSAT of the last cycle (share of 4-5 answers, 0-100)", ("contract",), _V),
    MetricSpec("cxsla_kpi_nps_score", _G, "NPS of the last cycle (-100..100)", ("contract",), _V),
    MetricSpec("cxsla_kpi_ces_score", _G, "CES 2.0 mean of the last cycle (1-7)", ("contract",), _V),
    MetricSpec("cxsla_kpi_fcr_ratio", _G, "First-contact resolution of the last cycle (0-1)", ("contract",), _V),
    MetricSpec("cxsla_kpi_aht", _G, "Average handling time of the last cycle", ("contract",), _V, "seconds"),
    MetricSpec("cxsla_kpi_first_response_p50", _G, "Median first response (working time), last cycle",
               ("contract",), _V, "seconds"),
    MetricSpec("cxsla_kpi_first_response_p90", _G, "p90 first response (working time), last cycle",
               ("contract",), _V, "seconds"),
    MetricSpec("cxsla_kpi_resolution_rate_ratio", _G, "Resolution rate of the last cycle (0-1)", ("contract",), _V),
    MetricSpec("cxsla_kpi_major_resolved_in_time_ratio", _G, "Major complaints resolved in time, last cycle (0-1)",
               ("contract",), _V),
    MetricSpec("cxsla_kpi_clock_compliance_ratio", _G, "SLA compliance per clock of the last cycle (0-1)",
               ("contract", "clock"), _V),
    MetricSpec("cxsla_kpi_availability_ratio", _G, "Service availability of the last cycle (0-1)", ("contract",),
               _V),
    MetricSpec("cxsla_kpi_targets_missed", _G, "KPI targets missed by the last cycle", ("contract",), _V),
)
RESERVED = (
    MetricSpec("cxsla_api_requests", _C, "HTTP API requests (prometheus-client in the API process)",
               ("route", "method", "status"), _R),
    MetricSpec("cxsla_api_request_duration", _H, "HTTP API request latency", ("route", "method"), _R, "seconds"),
)

CATALOGUE: tuple[MetricSpec, ...] = (
    OPENED, CLOSED, CLOCK_OUTCOMES, BREACHES, WARNINGS, ESCALATIONS, NOTIFICATION_FAILURES, ESCALATION_FAILURES,
    RETRIES,
    TIME_TO_ACK, TIME_TO_ACK_BUSINESS, TIME_TO_RESOLVE, TIME_TO_RESOLVE_BUSINESS,
    CYCLES_COMPLETED, PLANS_STARTED,
    OPEN_COMPLAINTS, AT_RISK_COMPLAINTS, OPEN_IMPROVEMENT_PLANS, PROVISIONAL_CLOCKS, CALENDAR_KNOWN_UNTIL,
    UNDELIVERED_NOTIFICATIONS, OLDEST_UNDELIVERED, COLLECTOR_FAILURES, POLICY_SNAPSHOTS_DIFFERING,
    CYCLES_WAITING_FOR_FIX, LAST_CYCLE_COMPLETED,
    *KPI_GAUGES,
    *RESERVED,
)


def bucket_overrides() -> dict[str, list[float]]:
    """`PrometheusConfig(histogram_bucket_overrides=...)` for the SDK exporter (keys are meter names)."""
    return {spec.name: list(spec.buckets) for spec in CATALOGUE if spec.buckets}


class WorkflowMetrics:
    """Instruments on `workflow.metric_meter()`: it records nothing while a workflow replays, so a worker that
    rebuilds a complaint from history (restart, cache eviction, another worker taking over) never counts again.
    Create inside workflow code only."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._enabled = enabled
        # Created on first use: most runs touch two or three of them, and every open complaint holds its own.
        self._counters: dict[str, MetricCounter] = {}
        self._histograms: dict[str, MetricHistogramFloat] = {}

    def count(self, spec: MetricSpec, labels: dict[str, str]) -> None:
        if self._enabled:
            counter = self._counters.get(spec.name)
            if counter is None:
                counter = self._counters[spec.name] = workflow.metric_meter().create_counter(
                    spec.name, spec.help, spec.unit)
            counter.add(1, _checked(spec, labels))

    def fired(self, kind: str, *, contract: str, severity: str, clock: str | None, breach_class: str | None,
              level: int | None) -> None:
        """Count one fired action of any clock: complaints, plans, reports and outages alike, so one alert covers
        every major breach (plans, reports and outages have no severity: "")."""
        labels = {"contract": contract, "severity": severity, "clock": clock or ""}
        if kind == "breach":
            self.count(BREACHES, {**labels, "class": breach_class or ""})
        elif kind == "escalate":
            self.count(ESCALATIONS, {**labels, "level": str(level)})
        elif kind == "warn":
            self.count(WARNINGS, labels)

    def observe(self, spec: MetricSpec, value: float, labels: dict[str, str]) -> None:
        if self._enabled:
            histogram = self._histograms.get(spec.name)
            if histogram is None:
                histogram = self._histograms[spec.name] = workflow.metric_meter().create_histogram_float(
                    spec.name, spec.help, spec.unit)
            histogram.record(value, _checked(spec, labels))


def _checked(spec: MetricSpec, labels: dict[str, str]) -> dict[str, str]:
    """Exactly the declared labels: a slip in the code must neither fail the workflow task nor add a label."""
    if set(labels) != set(spec.labels):
        workflow.logger.error("metric %s takes labels %s, got %s", spec.name, spec.labels, sorted(labels))
    return {name: labels.get(name, "") for name in spec.labels}
