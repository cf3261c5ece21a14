"""The Grafana dashboard (deploy/grafana/dashboards/cxsla.json): every panel's PromQL parses (promql-parser, and
promtool when installed), names only metrics that exist — cx-sla's from the catalogue in workflows/metrics.py, the
SLO recording rules' outputs, and the Temporal SDK's, whose list below is checked against a live worker scrape —
uses only labels those metrics carry, and filters every contract-labelled metric by the `$contract` variable."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import urllib.request
import uuid
from datetime import timedelta
from functools import cache, partial
from pathlib import Path

import promql_parser as promql
import pytest
import yaml
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from starter.service.metrics import prometheus_runtime
from tests.helpers.e2e import free_port, until
from workflows import metrics as m

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "cxsla.json"
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
PROMTOOL = shutil.which("promtool")

# The Temporal SDK series the dashboard and the alert rules use, with the labels they may filter or group by.
# Names are the SDK's Prometheus names under starter.service.metrics.prometheus_runtime
# (counters_total_suffix, unit_suffix,
# durations_as_seconds); test_sdk_names_and_labels_are_on_a_live_worker_scrape proves each one against a real worker.
SDK_METRICS: dict[str, frozenset[str]] = {name: frozenset(labels) for name, labels in {
    "temporal_workflow_task_execution_failed_total": {"task_queue", "workflow_type", "failure_reason"},
    "temporal_workflow_task_schedule_to_start_latency_seconds_bucket": {"task_queue", "le"},
    "temporal_workflow_task_execution_latency_seconds_bucket": {"task_queue", "workflow_type", "le"},
    "temporal_workflow_task_queue_poll_succeed_total": {"task_queue"},
    "temporal_workflow_completed_total": {"task_queue", "workflow_type"},
    "temporal_activity_schedule_to_start_latency_seconds_bucket": {"task_queue", "le"},
    "temporal_activity_execution_latency_seconds_bucket": {"task_queue", "activity_type", "le"},
    "temporal_activity_execution_failed_total": {"task_queue", "activity_type"},
    "temporal_worker_task_slots_available": {"task_queue", "worker_type"},
    "temporal_worker_task_slots_used": {"task_queue", "worker_type"},
    "temporal_num_pollers": {"task_queue", "poller_type"},
    "temporal_sticky_cache_size": {"task_queue"},
    "temporal_sticky_cache_hit_total": {"task_queue"},
    "temporal_sticky_cache_miss_total": {"task_queue"},
    "temporal_sticky_cache_total_forced_eviction_total": {"task_queue"},
    "temporal_request_latency_seconds_bucket": {"operation", "le"},
}.items()}
PROMETHEUS_SERIES = {"up"}  # made by Prometheus itself for every target
TARGET_LABELS = {"instance", "job", "pod"}  # added by the scrape (deploy/prometheus/prometheus.yml, k8s relabelling)
WORKFLOW_METER_LABELS = {"namespace", "task_queue", "workflow_type", "service_name"}  # added by the SDK's meters

# Grafana's variables and the values the checks substitute (a sentinel for $contract, to see where it is used).
CONTRACT_SENTINEL = "contract_sentinel_regex"
BUILTIN_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1d", "__range_s": "86400"}


# ---- reading the dashboard --------------------------------------------------------------------------------------
def load(path: Path = DASHBOARD) -> dict:
    return json.loads(path.read_text())


def all_panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # a collapsed row keeps its panels inside
    return out


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, expr) for every PromQL target."""
    return [(f"panel {p['id']} {p['title']!r} target {t['refId']}", t["expr"])
            for p in all_panels(dashboard) for t in p.get("targets", [])]


def variable_values(dashboard: dict) -> dict[str, str]:
    values = dict(BUILTIN_VARIABLES)
    for var in dashboard["templating"]["list"]:
        if var["type"] == "custom":
            values[var["name"]] = var["current"]["value"]
        elif var["type"] == "query":
            values[var["name"]] = CONTRACT_SENTINEL if var["name"] == "contract" else (var.get("allValue") or ".*")
        else:
            raise AssertionError(f"variable {var['name']}: type {var['type']} is not handled by this test")
    return values


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's interpolation of `$name`, `${name}`, `${name:format}`, `[[name]]`; an unknown name is an error."""

    def one(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise KeyError(f"unknown dashboard variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(one, expr)


# ---- what exists ------------------------------------------------------------------------------------------------
@cache
def catalogue_series() -> dict[str, m.MetricSpec]:
    return {series: spec for spec in m.CATALOGUE for series in spec.series}


@cache
def recorded_series() -> frozenset[str]:
    return frozenset(rule["record"] for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
                     for rule in group["rules"] if "record" in rule)


def rule_expressions() -> list[tuple[str, str]]:
    return [(rule.get("alert") or rule["record"], rule["expr"]) for path in RULES
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def selectors(tree) -> list:
    found = []

    def visit(node):
        if isinstance(node, promql.VectorSelector):
            found.append(node)
        return True

    promql.walk(tree, visit)
    return found


def name_of(selector) -> str | None:
    if selector.name:
        return selector.name
    return next((x.value for x in selector.matchers.matchers if x.name == "__name__" and x.op == promql.MatchOp.Equal),
                None)


def known(name: str | None) -> bool:
    return (name in catalogue_series() or name in recorded_series() or name in SDK_METRICS
            or name in PROMETHEUS_SERIES)


def labels_of(name: str | None) -> set[str] | None:
    """The labels a series may carry, or None when this test does not know them (recording rules, `up`)."""
    if name in catalogue_series():
        spec = catalogue_series()[name]
        extra = {"le"} if name.endswith("_bucket") else set()
        return set(spec.labels) | extra | TARGET_LABELS | WORKFLOW_METER_LABELS
    if name in SDK_METRICS:
        return set(SDK_METRICS[name]) | TARGET_LABELS | {"namespace", "service_name"}
    return None


def problems(expr: str) -> list[str]:
    """What is wrong with one (substituted) expression: unknown metrics, labels the metric does not carry (in
    matchers and in `by (...)` of aggregations over known metrics). Raises ValueError if it does not parse."""
    tree = promql.parse(expr)
    found = []
    for sel in selectors(tree):
        name = name_of(sel)
        if not known(name):
            found.append(f"unknown metric {name!r}")
            continue
        allowed = labels_of(name)
        for matcher in sel.matchers.matchers:
            if allowed is not None and matcher.name not in allowed | {"__name__"}:
                found.append(f"{name} has no label {matcher.name!r}")

    def visit(node):
        if isinstance(node, promql.AggregateExpr) and node.modifier and node.modifier.type == promql.AggModifierType.By:
            label_sets = [labels_of(name_of(s)) for s in selectors(node.expr)]
            known_sets = [ls for ls in label_sets if ls is not None]
            if label_sets and len(known_sets) == len(label_sets):
                union = set[str]().union(*known_sets)
                found.extend(f"`by ({label})`: no metric under it has that label"
                             for label in node.modifier.labels if label not in union)
        return True

    promql.walk(tree, visit)
    return found


# ---- the dashboard ----------------------------------------------------------------------------------------------
DASH = load()
VALUES = variable_values(DASH)
QUERIES = queries(DASH)


def test_dashboard_structure():
    assert DASH["uid"] and DASH["title"] and DASH["schemaVersion"] >= 36
    panels = all_panels(DASH)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    graphs = [p for p in panels if p["type"] != "row"]
    assert len(graphs) >= 40
    for panel in graphs:
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] == datasource_uid(), panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"panel {panel['title']!r}: refIds repeat"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource_uid(), panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
    # no two panels cover the same grid cell
    cells: dict[tuple[int, int], str] = {}
    for panel in [p for p in DASH["panels"]]:
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def datasource_uid() -> str:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "cxsla.yml").read_text())
    (source,) = provisioned["datasources"]
    assert source["type"] == "prometheus"
    return source["uid"]


def test_variables():
    names = {v["name"] for v in DASH["templating"]["list"]}
    assert {"contract", "task_queue", "window"} <= names
    for var in DASH["templating"]["list"]:
        if var["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", var["query"]["query"])
        assert match, f"variable {var['name']}: expected label_values(metric, label)"
        metric, label = match.groups()
        assert known(metric) and label in (labels_of(metric) or set()), var["query"]["query"]
        assert var["definition"] == var["query"]["query"]
    contract = next(v for v in DASH["templating"]["list"] if v["name"] == "contract")
    assert contract["multi"] and contract["includeAll"] and contract["allValue"] == ".*"


@pytest.mark.parametrize("where,expr", QUERIES, ids=[w for w, _ in QUERIES])
def test_query_parses_and_names_what_exists(where, expr):
    substituted = substitute(expr, VALUES)
    assert "$" not in substituted
    assert problems(substituted) == [], where
    for value in (".*", "default|enterprise"):  # what Grafana sends for All and for a multi-selection
        promql.parse(substitute(expr, {**VALUES, "contract": value}))


def test_every_contract_labelled_metric_is_filtered_by_the_contract_variable():
    unfiltered = []
    for where, expr in QUERIES:
        for sel in selectors(promql.parse(substitute(expr, VALUES))):
            name = name_of(sel)
            spec = catalogue_series().get(name) if name is not None else None
            if spec is None or "contract" not in spec.labels:
                continue
            if not any(x.name == "contract" and x.op == promql.MatchOp.Re and x.value == CONTRACT_SENTINEL
                       for x in sel.matchers.matchers):
                unfiltered.append(f"{where}: {name_of(sel)}")
    assert unfiltered == []


def test_every_catalogue_metric_is_on_the_dashboard():
    used = {name_of(sel) for _, expr in QUERIES for sel in selectors(promql.parse(substitute(expr, VALUES)))}
    missing = [spec.exported for spec in m.CATALOGUE if not set(spec.series) & used]
    assert missing == []
    # time-to histograms are read as quantiles, business and wall-clock alike
    quantiled = {name_of(sel) for _, expr in QUERIES if "histogram_quantile" in expr
                 for sel in selectors(promql.parse(substitute(expr, VALUES)))}
    api_latency = next(spec for spec in m.CATALOGUE if spec.name == "cxsla_api_request_duration")
    for spec in (m.TIME_TO_ACK, m.TIME_TO_ACK_BUSINESS, m.TIME_TO_RESOLVE, m.TIME_TO_RESOLVE_BUSINESS, api_latency):
        assert f"{spec.exported}_bucket" in quantiled, spec.exported
    # Temporal queue health: failures, schedule-to-start, slots, sticky cache, workers up
    for name in ("temporal_workflow_task_execution_failed_total",
                 "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
                 "temporal_worker_task_slots_available", "temporal_sticky_cache_size", "up"):
        assert name in used, name


@pytest.mark.skipif(PROMTOOL is None,
                    reason="promtool not installed (make test installs Debian's prometheus package as root)")
def test_promtool_parses_every_query(tmp_path):
    def check(exprs: list[str]) -> subprocess.CompletedProcess:
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}
        path = tmp_path / "dashboard.rules.yml"
        path.write_text(yaml.safe_dump(rules, sort_keys=False))
        assert PROMTOOL is not None
        return subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)

    result = check([substitute(expr, VALUES) for _, expr in QUERIES])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(QUERIES)} rules found" in result.stdout
    # and the harness does catch a broken expression
    assert check(["sum(rate(cxsla_breaches_total[5m])"]).returncode != 0


def test_the_checks_catch_mistakes():
    assert problems("sum(rate(cxsla_breach_total[5m]))") == ["unknown metric 'cxsla_breach_total'"]
    assert problems('sum by (klass) (rate(cxsla_breaches_total{contract=~"x"}[5m]))') == [
        "`by (klass)`: no metric under it has that label"]
    assert problems('cxsla_open_complaints{channel="x"}') == ["cxsla_open_complaints has no label 'channel'"]
    assert problems("temporal_workflow_task_failed_total") == ["unknown metric 'temporal_workflow_task_failed_total'"]
    assert problems("histogram_quantile(0.9, sum by (le) (rate(cxsla_time_to_resolve_seconds_bucket[5m])))") == []
    with pytest.raises(ValueError):
        problems("sum(rate(cxsla_breaches_total[5m])")
    with pytest.raises(ValueError):
        problems("rate(cxsla_breaches_total)")
    with pytest.raises(KeyError):
        substitute("rate(cxsla_breaches_total[$windw])", VALUES)


def test_alert_and_recording_rules_name_only_known_metrics():
    """The rules and the dashboard share one list of SDK names, so the live scrape below covers the rules too."""
    for name, expr in rule_expressions():
        assert problems(expr) == [], name
    sdk_in_rules = {name_of(sel) for _, expr in rule_expressions() for sel in selectors(promql.parse(expr))
                    if (name_of(sel) or "").startswith("temporal_")}
    assert sdk_in_rules and sdk_in_rules <= SDK_METRICS.keys()


# ---- the SDK names, against a live worker -----------------------------------------------------------------------
@activity.defn(name="cxsla.probe_flaky")
async def flaky_activity() -> str:
    if activity.info().attempt == 1:
        raise RuntimeError("first attempt fails on purpose")
    return "ok"


@workflow.defn(name="CxSlaMetricsProbe", sandboxed=False)
class ProbeWorkflow:
    """An activity that fails once, then a wait for a signal: activity failures, sticky-cache traffic."""

    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(flaky_activity, start_to_close_timeout=timedelta(seconds=10),
                                        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)))
        await workflow.wait_condition(lambda: self.go)
        return "done"

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@workflow.defn(name="CxSlaMetricsProbeBroken", sandboxed=False)
class BrokenWorkflow:
    """Fails every workflow task (as a nondeterminism or a bug would)."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("fails the workflow task on purpose")


def _scrape(port: int) -> dict[str, set[str]]:
    """Series name -> label names seen, from the worker's endpoint."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    seen: dict[str, set[str]] = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s", line)
        assert match is not None, line
        labels = set(re.findall(r'([a-zA-Z_]\w*)="', match.group(2) or ""))
        seen.setdefault(match.group(1), set()).update(labels)
    return seen


async def test_sdk_names_and_labels_are_on_a_live_worker_scrape(dev_env):
    """A worker with cx-sla's Prometheus runtime: one workflow at a time (sticky hits), then several with room to
    cache one (forced evictions), an activity failing once and a workflow whose tasks fail. Every SDK name above
    must then be on the endpoint, with the labels the dashboard and the rules use. The API process bridges the
    client's metrics under the same names (tests/starter/test_api.py reads temporal_request_* there)."""
    port = free_port()
    client = await Client.connect(dev_env.client.service_client.config.target_host,
                                  namespace=dev_env.client.namespace, runtime=prometheus_runtime("127.0.0.1", port))
    queue = f"probe-{uuid.uuid4().hex[:8]}"

    async def waiting(handle: WorkflowHandle) -> bool:
        """Its activity succeeded (after the failed attempt) and the task after it completed: it waits, cached."""
        kinds = [e.event_type for e in (await handle.fetch_history()).events]
        return EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in kinds and (
            kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)

    async def failing(handle: WorkflowHandle) -> bool:
        return any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
                   for e in (await handle.fetch_history()).events)

    def missing_series() -> dict[str, list[str]]:
        seen = _scrape(port)
        return {name: sorted(labels - seen.get(name, set())) for name, labels in SDK_METRICS.items()
                if name not in seen or not labels <= seen[name]}

    async with Worker(client, task_queue=queue, workflows=[ProbeWorkflow, BrokenWorkflow],
                      activities=[flaky_activity], max_cached_workflows=1, max_concurrent_workflow_tasks=2):
        first = await client.start_workflow(ProbeWorkflow.run, id=f"{queue}-a", task_queue=queue)
        await until(lambda: waiting(first), 30, "the first probe to wait for its signal")
        await first.signal(ProbeWorkflow.proceed)
        assert await first.result() == "done"
        others = [await client.start_workflow(ProbeWorkflow.run, id=f"{queue}-{i}", task_queue=queue)
                  for i in range(3)]
        broken = await client.start_workflow(BrokenWorkflow.run, id=f"{queue}-broken", task_queue=queue)
        try:
            for handle in others:  # three waiting with room to cache one: evictions
                await until(partial(waiting, handle), 30, f"{handle.id} to wait for its signal")
            await until(lambda: failing(broken), 30, "a failed workflow task")
            for handle in others:
                await handle.signal(ProbeWorkflow.proceed)
            for handle in others:
                assert await asyncio.wait_for(handle.result(), 30) == "done"
            await until(lambda: not missing_series(), 20,
                        lambda: f"SDK series (or their labels) on a live worker's endpoint: {missing_series()}", 0.5)
        finally:
            await broken.terminate("probe done")
    seen = _scrape(port)
    # the same endpoint carries no misspelling of what the dashboard expects
    assert "temporal_workflow_task_execution_failed" not in seen and "temporal_sticky_cache_size_total" not in seen
