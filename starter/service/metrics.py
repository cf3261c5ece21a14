"""Process-side metrics: the worker's Prometheus runtime, gauges read from Temporal visibility, and a bridge that
serves the SDK's metrics through prometheus-client (for a process whose one endpoint prometheus-client serves).

Every process exposes exactly one scrape endpoint:
- the worker: the SDK runtime's exporter (`prometheus_runtime`) carries the SDK's own metrics, the workflows'
  domain counters (workflow.metric_meter()) and the collector's gauges (runtime.metric_meter);
- the HTTP API: prometheus-client's `/metrics`, with `PrometheusClientBridge` feeding the Temporal client's
  metrics into the same registry under the same names as on the worker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BUFFERED_METRIC_KIND_HISTOGRAM,
    LogForwardingConfig,
    LoggingConfig,
    MetricBuffer,
    MetricBufferDurationFormat,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError

from sla import names
from sla.periods import Period, PeriodError
from sla.policy import PolicyFile
from sla.vocabulary import Channel, ClockName, ComplaintState, Severity
from workflows import metrics as m
from workflows import search_attributes as sa
from workflows.cycle import WAITING_FOR_FIX

log = structlog.get_logger("cxsla.metrics")

OPEN_STATES = tuple(s for s in ComplaintState if not s.terminal)


def prometheus_runtime(host: str, port: int) -> Runtime:
    """SDK metrics, domain counters and collector gauges in Prometheus naming, on one endpoint; the Rust core's
    own log lines are forwarded to Python logging (so they come out as JSON like everything else)."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
            metrics=PrometheusConfig(
                bind_address=f"{host}:{port}",
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
                histogram_bucket_overrides=m.bucket_overrides(),
            )
        )
    )


def preinitialize_counters(meter: MetricMeter, *, namespace: str, task_queue: str, policy: PolicyFile) -> int:
    """Export every domain counter at 0 for every contract (and severity, clock, level, channel) at start.

    Prometheus cannot see the first increment of a series that appears already at 1 (`increase()` needs a
    previous sample), and major breaches are exactly the rare first events an alert must not miss; a dashboard
    panel or alert over a series that does not exist yet shows "no data" instead of 0. The label set matches what
    `workflow.metric_meter()` adds (namespace, task_queue, workflow_type), so the workflows' later increments land
    on these very series. Returns the number of series.
    """
    def counters(workflow_type: str, *specs: m.MetricSpec) -> dict[str, Any]:
        wf = meter.with_additional_attributes(
            {"namespace": namespace, "task_queue": task_queue, "workflow_type": workflow_type})
        return {spec.name: wf.create_counter(spec.name, spec.help, spec.unit) for spec in specs}

    complaint = counters("ComplaintWorkflow", m.OPENED, m.CLOSED, m.BREACHES, m.CLOCK_OUTCOMES, m.WARNINGS,
                         m.ESCALATIONS, m.NOTIFICATION_FAILURES, m.ESCALATION_FAILURES, m.RETRIES)
    cycle = counters("AssessmentCycleWorkflow", m.CYCLES_COMPLETED)
    plan = counters("ImprovementPlanWorkflow", m.PLANS_STARTED)
    adds: list[tuple[Any, dict[str, str]]] = []
    for contract in policy.contracts:
        contract_policy = policy.contract(contract)
        levels = [str(level) for level in range(1, len(contract_policy.escalation) + 1)]
        adds += [(cycle[m.CYCLES_COMPLETED.name], {"contract": contract}),
                 (plan[m.PLANS_STARTED.name], {"contract": contract})]
        adds += [(complaint[m.RETRIES.name], {"contract": contract, "what": what})
                 for what in ("complaint", "delivery")]
        for severity in Severity:
            labels = {"contract": contract, "severity": severity.value}
            adds.append((complaint[m.CLOSED.name], labels))
            adds += [(complaint[m.OPENED.name], {**labels, "channel": channel})
                     for channel in (*(c.value for c in Channel), "unspecified")]
            for clock in ClockName:
                base = {**labels, "clock": clock.value}
                klass = contract_policy.breach_class(clock, severity).value
                adds += [(complaint[m.BREACHES.name], {**base, "class": klass}),
                         (complaint[m.NOTIFICATION_FAILURES.name], base), (complaint[m.WARNINGS.name], base)]
                adds += [(complaint[m.CLOCK_OUTCOMES.name], {**base, "outcome": o}) for o in ("met", "breached")]
                adds += [(complaint[spec.name], {**base, "level": level})
                         for spec in (m.ESCALATION_FAILURES, m.ESCALATIONS) for level in levels]
    for counter, labels in adds:
        counter.add(0, labels)
    # The one gauge activities set (on the first snapshot that differs from the file): 0 until then.
    snapshots = meter.with_additional_attributes({"namespace": namespace, "task_queue": task_queue}).create_gauge(
        m.POLICY_SNAPSHOTS_DIFFERING.name, m.POLICY_SNAPSHOTS_DIFFERING.help)
    for contract in policy.contracts:
        snapshots.set(0, {"contract": contract})
    return len(adds) + len(policy.contracts)


# ---- gauges from visibility ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    spec: m.MetricSpec
    labels: dict[str, str]
    value: float


GaugeSource = Callable[[Client], Awaitable[list[Sample]]]


def complaint_gauges(contracts: Sequence[str]) -> GaugeSource:
    """Open complaints by contract, state and severity, and at-risk ones by contract and severity (0 until there
    are any, so the series exist from the first collection).

    Temporal's visibility groups counts by ExecutionStatus only (GROUP BY on a custom search attribute is refused,
    checked against the dev server), so each combination is one count query: per contract 5 states x 4
    severities + 4.
    """

    async def source(client: Client) -> list[Sample]:
        base = f"{names.of_type(names.COMPLAINT_WORKFLOW)} AND ExecutionStatus = 'Running'"
        queries: list[tuple[m.MetricSpec, dict[str, str], str]] = []
        for contract in contracts:
            of_contract = f"{base} AND {sa.CONTRACT.name} = {names.quote(contract)}"
            for severity in Severity:
                sev = f"{sa.SEVERITY.name} = {names.quote(severity.value)}"
                labels = {"contract": contract, "severity": severity.value}
                for state in OPEN_STATES:
                    queries.append((m.OPEN_COMPLAINTS, {**labels, "state": state.value},
                                    f"{of_contract} AND {sa.STATE.name} = {names.quote(state.value)} AND {sev}"))
                queries.append((m.AT_RISK_COMPLAINTS, labels, f"{of_contract} AND {sa.AT_RISK.name} = true AND {sev}"))
        return await _counts(client, queries)

    return source


def improvement_plan_gauges(contracts: Sequence[str]) -> GaugeSource:
    """Running ImprovementPlanWorkflows per contract (0 until plans exist; they carry CxContract)."""

    async def source(client: Client) -> list[Sample]:
        base = f"{names.of_type(names.PLAN_WORKFLOW)} AND ExecutionStatus = 'Running'"
        return await _counts(client, [
            (m.OPEN_IMPROVEMENT_PLANS, {"contract": c}, f"{base} AND {sa.CONTRACT.name} = {names.quote(c)}")
            for c in contracts
        ])

    return source


def cycle_gauges(contracts: Sequence[str]) -> GaugeSource:
    """Running cycles per contract that wait for a fix (CxState `waiting_for_fix`): nothing retries them."""

    async def source(client: Client) -> list[Sample]:
        base = (f"{names.of_type(names.CYCLE_WORKFLOW)} AND ExecutionStatus = 'Running' "
                f"AND {sa.STATE.name} = {names.quote(WAITING_FOR_FIX)}")
        return await _counts(client, [
            (m.CYCLES_WAITING_FOR_FIX, {"contract": c}, f"{base} AND {sa.CONTRACT.name} = {names.quote(c)}")
            for c in contracts
        ])

    return source


def calendar_gauges(policy: PolicyFile, today: Callable[[], date] | None = None) -> GaugeSource:
    """How far each calendar in use is known officially (from this worker's policy and `holidays` package), and how
    many running clocks of each contract touch a year nobody has published yet."""
    from sla.official_calendar import official_horizon

    in_use = sorted({contract.calendar for contract in policy.contracts.values()})
    contracts = sorted(policy.contracts)
    today = today or (lambda: datetime.now(timezone.utc).date())

    async def source(client: Client) -> list[Sample]:
        samples = []
        for name in in_use:
            until, _ = official_horizon(policy.calendars[name], today())
            if until is not None:  # a calendar with no official schedule never runs out
                end = datetime.combine(until, time(23, 59, 59), tzinfo=timezone.utc)
                samples.append(Sample(m.CALENDAR_KNOWN_UNTIL, {"calendar": name}, end.timestamp()))
        base = f"ExecutionStatus = 'Running' AND {sa.PROVISIONAL.name} = true"
        samples += await _counts(client, [
            (m.PROVISIONAL_CLOCKS, {"contract": c}, f"{base} AND {sa.CONTRACT.name} = {names.quote(c)}")
            for c in contracts])
        return samples

    return source


def undelivered_gauges(contracts: Sequence[str], now: Callable[[], datetime] | None = None) -> GaugeSource:
    """Undelivered notifications per contract and the age of the oldest, from what each complaint publishes
    (CxUndelivered, CxOldestUndelivered, set only while it has some). Read from visibility rather than counted by
    the workflows, so every worker replica exports the same value however complaints move between them (a gauge a
    worker set would stay at its last value on that worker after the complaint moved on). Only complaints with
    something undelivered are listed: none on a normal day, one page per thousand during an outage."""
    now = now or (lambda: datetime.now(timezone.utc))

    async def source(client: Client) -> list[Sample]:
        count = {c: 0.0 for c in contracts}
        oldest: dict[str, datetime] = {}
        query = f"ExecutionStatus = 'Running' AND {sa.OLDEST_UNDELIVERED.name} IS NOT NULL"
        async for info in client.list_workflows(query, page_size=1000):
            attributes = info.typed_search_attributes
            contract, fired = attributes.get(sa.CONTRACT), attributes.get(sa.OLDEST_UNDELIVERED)
            if contract is None or fired is None:
                continue
            count[contract] = count.get(contract, 0.0) + float(attributes.get(sa.UNDELIVERED) or 1)
            oldest[contract] = min(fired, oldest.get(contract, fired))
        instant = now()
        return [sample for contract in sorted(count) for sample in (
            Sample(m.UNDELIVERED_NOTIFICATIONS, {"contract": contract}, count[contract]),
            Sample(m.OLDEST_UNDELIVERED, {"contract": contract},
                   max(0.0, (instant - oldest[contract]).total_seconds()) if contract in oldest else 0.0))]

    return source


def cycle_completion_gauges(policy: PolicyFile) -> GaugeSource:
    """When each contract's last cycle of each cadence completed (its report delivered), so an alert can tell a
    cycle that never ran; before the first one, when the cadence's Schedule was created (the alert's clock starts
    there); absent for a cadence with neither."""
    wanted = {name: [c.value for c in spec.cycles] for name, spec in sorted(policy.contracts.items()) if spec.cycles}

    async def source(client: Client) -> list[Sample]:
        samples = []
        for contract, cadences in wanted.items():
            latest: dict[str, datetime] = {}
            prefix = names.cycle_workflow_id(contract, "")
            query = (f"{names.of_type(names.CYCLE_WORKFLOW)} AND ExecutionStatus = 'Completed' "
                     f"AND {sa.CONTRACT.name} = {names.quote(contract)}")
            async for info in client.list_workflows(query, page_size=1000):
                try:
                    cadence = Period.parse(info.id.removeprefix(prefix)).cadence.value
                except PeriodError:
                    continue  # a cycle started under another id (tests' golden runs)
                if info.close_time is not None and (cadence not in latest or info.close_time > latest[cadence]):
                    latest[cadence] = info.close_time
            for cadence in cadences:
                at = latest.get(cadence) or await _schedule_created(client, names.schedule_id(contract, cadence))
                if at is not None:
                    samples.append(Sample(m.LAST_CYCLE_COMPLETED, {"contract": contract, "cadence": cadence},
                                          at.timestamp()))
        return samples

    return source


async def _schedule_created(client: Client, schedule_id: str) -> datetime | None:
    try:
        return (await client.get_schedule_handle(schedule_id).describe()).info.created_at
    except RPCError:
        return None


# gauge of the last cycle's value -> KPI (per-clock compliance is one gauge with a `clock` label)
KPI_OF_GAUGE = {
    "cxsla_kpi_csat_score": "csat", "cxsla_kpi_nps_score": "nps", "cxsla_kpi_ces_score": "ces",
    "cxsla_kpi_fcr_ratio": "fcr", "cxsla_kpi_aht": "aht", "cxsla_kpi_first_response_p50": "first_response_p50",
    "cxsla_kpi_first_response_p90": "first_response_p90", "cxsla_kpi_resolution_rate_ratio": "resolution_rate",
    "cxsla_kpi_major_resolved_in_time_ratio": "major_resolved_in_time",
    "cxsla_kpi_availability_ratio": "availability",
}
RECENT_CYCLES = 12  # how far back a KPI without data in the latest cycles is looked for


def kpi_gauges(contracts: Sequence[str]) -> GaugeSource:
    """Each contract's KPIs from its most recent completed cycles (the cycle's memo): per KPI, the latest cycle
    that had data for it, so a monthly report without surveys does not blank the quarterly CSAT."""
    specs = {spec.name: spec for spec in m.KPI_GAUGES}

    async def source(client: Client) -> list[Sample]:
        samples: list[Sample] = []
        for contract in contracts:
            query = (f"{names.of_type(names.CYCLE_WORKFLOW)} AND ExecutionStatus = 'Completed' "
                     f"AND {sa.CONTRACT.name} = {names.quote(contract)}")
            latest: dict[str, float] = {}
            missed: float | None = None
            async for info in client.list_workflows(query, limit=RECENT_CYCLES):
                memo = (await info.memo()).get(names.KPI_MEMO) or {}
                if missed is None and "missed" in memo:
                    missed = float(memo["missed"])
                for kpi, value in (memo.get("kpis") or {}).items():
                    if value is not None:
                        latest.setdefault(kpi, float(value))
            for gauge, kpi in KPI_OF_GAUGE.items():
                if kpi in latest:
                    samples.append(Sample(specs[gauge], {"contract": contract}, latest[kpi]))
            for clock in ClockName:
                value = latest.get(f"compliance_{clock.value}")
                if value is not None:
                    samples.append(Sample(specs["cxsla_kpi_clock_compliance_ratio"],
                                          {"contract": contract, "clock": clock.value}, value))
            if missed is not None:
                samples.append(Sample(specs["cxsla_kpi_targets_missed"], {"contract": contract}, missed))
        return samples

    return source


async def _counts(client: Client, queries: list[tuple[m.MetricSpec, dict[str, str], str]]) -> list[Sample]:
    limit = asyncio.Semaphore(4)  # gentle on the visibility store

    async def one(spec: m.MetricSpec, labels: dict[str, str], query: str) -> Sample:
        async with limit:
            return Sample(spec, labels, float((await client.count_workflows(query)).count))

    return list(await asyncio.gather(*(one(*q) for q in queries)))


class VisibilityCollector:
    """Sets gauges from Temporal visibility every `interval` seconds through an SDK meter (so they appear on the
    worker's one endpoint). Every worker replica exports the same values: aggregate them with `max`.

    `sources` are async functions returning samples; later work adds its own (e.g. the last cycle's KPIs).
    """

    def __init__(self, client: Client, meter: MetricMeter, *, interval: float,
                 sources: Iterable[GaugeSource]) -> None:
        self._client = client
        self._interval = interval
        self._sources = list(sources)
        self._meter = meter
        self._gauges: dict[str, Any] = {}
        self._failures = meter.create_counter(m.COLLECTOR_FAILURES.name, m.COLLECTOR_FAILURES.help)
        self._failures.add(0)  # exported from the start, so its alert and panel see the first failure
        self.collections = 0

    async def collect_once(self) -> list[Sample]:
        samples = [s for source in self._sources for s in await source(self._client)]
        for sample in samples:
            gauge = self._gauges.get(sample.spec.name)
            if gauge is None:
                # The SDK exporter adds no unit suffix to gauges: give the name Prometheus must see (with `_seconds`,
                # which the alert rules and the dashboard query) and no unit.
                gauge = self._meter.create_gauge_float(sample.spec.exported, sample.spec.help)
                self._gauges[sample.spec.name] = gauge
            gauge.set(sample.value, sample.labels)
        self.collections += 1
        return samples

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.collect_once()
            except Exception as exc:  # noqa: BLE001 - visibility hiccups must not stop the worker
                self._failures.add(1)
                log.warning("visibility collection failed", error=type(exc).__name__, detail=str(exc)[:200])
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
            except TimeoutError:
                pass


# ---- the SDK's metrics through prometheus-client ------------------------------------------------------------------
# The SDK exporter's default duration buckets are not exposed; these cover RPC and task latencies.
DEFAULT_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class PrometheusClientBridge:
    """A prometheus-client collector fed by a Temporal `Runtime`'s metric buffer.

    Build the process's Temporal client with `bridge.runtime`; register the bridge in the registry that the
    process's `/metrics` serves. Names follow the worker's exporter: counters `_total`, seconds `_seconds`.
    """

    def __init__(self, *, buckets: dict[str, Sequence[float]] | None = None, buffer_size: int = 100_000) -> None:
        self.buffer = MetricBuffer(buffer_size, duration_format=MetricBufferDurationFormat.SECONDS)
        self.runtime = Runtime(telemetry=TelemetryConfig(metrics=self.buffer))
        self._buckets = {**m.bucket_overrides(), **(buckets or {})}
        self._lock = threading.Lock()  # collect() may run in prometheus-client's server thread
        self._families: dict[str, dict[str, Any]] = {}

    def _drain(self) -> None:
        for update in self.buffer.retrieve_updates():
            metric = update.metric
            family = self._families.setdefault(metric.name, {
                "kind": metric.kind, "unit": metric.unit, "help": metric.description or metric.name, "series": {},
            })
            key = tuple(sorted((k, str(v)) for k, v in update.attributes.items()))
            series = family["series"]
            if metric.kind == BUFFERED_METRIC_KIND_COUNTER:
                series[key] = series.get(key, 0) + update.value
            elif metric.kind == BUFFERED_METRIC_KIND_GAUGE:
                series[key] = update.value
            else:
                bounds = self._buckets.get(metric.name, DEFAULT_SECONDS_BUCKETS)
                counts, total, n = series.get(key, ([0] * len(bounds), 0.0, 0))
                counts = [c + (update.value <= b) for c, b in zip(counts, bounds, strict=True)]
                series[key] = (counts, total + update.value, n + 1)

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        with self._lock:
            self._drain()
            families = {name: {**f, "series": dict(f["series"])} for name, f in self._families.items()}
        for name, family in sorted(families.items()):
            unit = family["unit"]
            full = f"{name}_seconds" if unit in ("s", "seconds") else (f"{name}_{unit}" if unit else name)
            series = family["series"]
            labels = sorted({k for key in series for k, _ in key})
            out: Any  # the families' add_metric differ; the kind picks the matching call below
            if family["kind"] == BUFFERED_METRIC_KIND_COUNTER:
                out = CounterMetricFamily(full, family["help"], labels=labels)
            elif family["kind"] == BUFFERED_METRIC_KIND_GAUGE:
                out = GaugeMetricFamily(full, family["help"], labels=labels)
            else:
                out = HistogramMetricFamily(full, family["help"], labels=labels)
            for key, value in series.items():
                values = [dict(key).get(label, "") for label in labels]
                if family["kind"] == BUFFERED_METRIC_KIND_HISTOGRAM:
                    counts, total, n = value
                    bounds = self._buckets.get(name, DEFAULT_SECONDS_BUCKETS)
                    buckets = [(_le(b), c) for b, c in zip(bounds, counts, strict=True)] + [("+Inf", n)]
                    out.add_metric(values, buckets, total)
                else:
                    out.add_metric(values, value)
            yield out


def _le(bound: float) -> str:
    return repr(float(bound))


# ---- the HTTP API's own metrics -----------------------------------------------------------------------------------
class ApiMetrics:
    """One prometheus-client registry per API app: request counts and latency by route template (bounded), plus the
    Temporal client's SDK metrics when `bridge` is given. Serve `render()` at `/metrics`."""

    def __init__(self, bridge: PrometheusClientBridge | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        requests, duration = _spec("cxsla_api_requests"), _spec("cxsla_api_request_duration")
        self.requests = Counter(requests.name, requests.help, list(requests.labels), registry=self.registry)
        self.duration = Histogram(f"{duration.name}_seconds", duration.help, list(duration.labels),
                                  registry=self.registry)
        if bridge is not None:
            self.registry.register(bridge)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.duration.labels(route=route, method=method).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _spec(name: str) -> m.MetricSpec:
    return next(spec for spec in m.CATALOGUE if spec.name == name)
