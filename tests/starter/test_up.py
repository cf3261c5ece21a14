"""`cxsla up` (what `make run` runs): server + worker + API come up, print their URLs, and Ctrl-C stops them."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.request

import pytest

from starter.service.binaries import temporal_cli
from tests.helpers.e2e import CXSLA, as_local_user, cxsla_up, free_port, wait_for

pytestmark = pytest.mark.e2e  # `cxsla up` as a subprocess: dev server, worker and API


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_prints_urls_serves_metrics_and_stops_cleanly_on_ctrl_c(tmp_path):
    with cxsla_up(tmp_path) as up:
        text = up.log.read_text()
        assert f"http://127.0.0.1:{up.ui_port}" in text
        assert f"http://127.0.0.1:{up.metrics_port}/metrics" in text
        body = wait_for(lambda: _scrape(up.metrics_port), 20, "metrics endpoint")
        assert "temporal_" in body  # the SDK runtime's own metrics on the same endpoint
        # the worker put the assessment Schedules in place by itself: the overdue gauge counts from them
        for cadence in ("monthly", "quarterly", "annual"):
            series = f'cxsla_cycle_last_completed_timestamp_seconds{{cadence="{cadence}",contract="default"'

            def exported(series: str = series) -> bool:
                return series in (_scrape(up.metrics_port) or "")
            wait_for(exported, 30, series)
        # The API is up with a first admin token (printed once; only its hash is on disk) and an
        # encryption key made for this laptop.
        assert f"http://127.0.0.1:{up.api_port}" in text
        printed = re.search(r"API token  (cxsla_\S+)", text)
        assert printed is not None, text
        token = printed.group(1)
        assert token not in (tmp_path / ".data" / "api-tokens").read_text()
        assert (tmp_path / ".data" / "codec-keys").exists()
        opened = _post(up.api_port, "/v1/complaints", token,
                       {"id": "up-1", "contract": "demo", "severity": "normal", "customer_name": "Zhao Lei"})
        assert opened["created"] is True and opened["timeline"][0]["by"] == "local-admin"
        assert f"console    http://127.0.0.1:{up.api_port}/ui" in text  # make run serves the web console
        with urllib.request.urlopen(f"http://127.0.0.1:{up.api_port}/ui/signin", timeout=10) as page:
            assert page.status == 200 and b'<label for="token">API token</label>' in page.read()
        # Closed workflows are archived before they complete, so the dev server keeps them a week, not forever.
        assert "closed workflows kept 7 days" in text and "archive    sqlite:///" in text
        described = subprocess.run(
            [temporal_cli(), "operator", "namespace", "describe", "--address", up.address, "--namespace", "default",
             "-o", "json"], capture_output=True, text=True, timeout=30, check=True)
        assert json.loads(described.stdout)["config"]["workflowExecutionRetentionTtl"] == "604800s"
        # The codec server the UI is pointed at decodes for this machine's UI without a token.
        assert f"codec      http://127.0.0.1:{up.codec_port}" in text
        decoded = _decode(up.codec_port, {"Origin": f"http://127.0.0.1:{up.ui_port}"})
        assert decoded == {}  # nothing to decode, but not refused
        # The CLI in the same directory, without a token, acts as local-admin on this server only.
        acted = as_local_user(tmp_path, CXSLA, "--json", "complaint", "ack", "up-1", "--address", up.address)
        assert acted.returncode == 0, acted.stderr
        assert json.loads(acted.stdout)["timeline"][-1]["by"] == "local-admin"
        elsewhere = as_local_user(tmp_path, CXSLA, "complaint", "ack", "up-1", "--address", f"127.0.0.1:{free_port()}")
        assert elsewhere.returncode == 1 and "who is acting?" in elsewhere.stderr
    assert up.returncode == 0
    assert "stopped: API, codec server, worker and Temporal dev server" in up.log.read_text()
    assert not (tmp_path / ".data" / "cxsla-up.json").exists()
    after = as_local_user(tmp_path, CXSLA, "complaint", "ack", "up-1", "--address", up.address)
    assert after.returncode == 1 and "who is acting?" in after.stderr
    assert not any(map(_listening, (up.port, up.metrics_port, up.api_port, up.codec_port)))


def _decode(port: int, headers: dict[str, str]) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/decode", data=b'{"payloads": []}', method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def _post(port: int, path: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
