"""Every `cxsla_*` metric that an alert rule or the Grafana dashboard reads exists on a freshly started worker's or
API's /metrics, before anything has happened: an alert over a series that does not exist yet cannot see the first
failure (`increase()` needs an earlier sample), and a panel shows "no data" instead of 0.

Exempt, because their first series is itself an observation: histograms (a first duration) and the last cycle's
KPI gauges (a KPI before any cycle completed would be a made-up number).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import httpx

from tests.helpers.e2e import CXSLA, free_port
from tests.helpers.service import Service, Tokens, service_settings
from workflows import metrics as m

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NAME = re.compile(r"\bcxsla_[a-z0-9_]+")


def used_metrics() -> set[str]:
    texts = [p.read_text() for p in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))]
    texts.append(json.dumps(json.loads((DEPLOY / "grafana" / "dashboards" / "cxsla.json").read_text())))
    return {name for text in texts for name in NAME.findall(text)}


def spec_of(name: str) -> m.MetricSpec:
    found = [spec for spec in m.CATALOGUE if name in spec.series]
    assert found, f"{name} is used by a rule or the dashboard but is not in workflows/metrics.py"
    return found[0]


def samples(text: str) -> Counter[str]:
    """Series per metric name in a Prometheus text exposition."""
    return Counter(re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines()
                   if line and not line.startswith("#"))


def scrape(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def worker_metrics(address: str, tmp_path: Path) -> str:
    """A `cxsla worker` on the shipped policy: its /metrics once the first visibility collection is in."""
    port = free_port()
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "CXSLA_TASK_QUEUE": f"exposed-{port}",
           "CXSLA_METRICS_PORT": str(port), "CXSLA_VISIBILITY_METRICS_INTERVAL": "1",
           "CXSLA_CODEC_KEY_FILE": str(tmp_path / "no-keys"), "CXSLA_REPORT_DIR": str(tmp_path / "reports")}
    env.pop("CXSLA_POLICY", None)
    with (tmp_path / "worker.log").open("ab") as log:
        worker = subprocess.Popen([CXSLA, "worker"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            text = scrape(f"http://127.0.0.1:{port}/metrics")
            if text and samples(text)["cxsla_open_complaints"] and samples(text)["cxsla_open_improvement_plans"]:
                return text
            assert time.monotonic() < deadline, "the worker's first visibility collection did not show up"
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)


def api_metrics(address: str, tmp_path: Path) -> str:
    with Service(service_settings(address, tmp_path, Tokens()), worker=False) as api:
        assert httpx.get(f"{api.url}/healthz").status_code == 200
        return httpx.get(f"{api.url}/metrics").text


def test_every_metric_an_alert_or_the_dashboard_reads_exists_from_the_start(own_dev_env, tmp_path):
    address = own_dev_env.client.service_client.config.target_host
    exposed = samples(worker_metrics(address, tmp_path)) + samples(api_metrics(address, tmp_path))
    kpis = {spec.name for spec in m.KPI_GAUGES}
    missing = []
    for name in sorted(used_metrics()):
        spec = spec_of(name)
        if spec.kind is m.Kind.HISTOGRAM or spec.name in kpis:
            continue
        if exposed[name] == 0:
            missing.append(name)
    assert missing == [], f"no series at start: {missing}"
    # the per-contract gauges and counters have one series per contract of the shipped policy at least
    assert exposed["cxsla_open_complaints"] >= 5 * 4 and exposed["cxsla_visibility_collect_failures_total"] == 1
