"""`cxsla up` (what `make run` runs): server + worker + API come up, print their URLs, and Ctrl-C stops them."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import urllib.request

import pytest

from tests.helpers.e2e import CXSLA, free_port, wait_for

pytestmark = pytest.mark.e2e  # `cxsla up` as a subprocess: dev server, worker and API


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_prints_urls_serves_metrics_and_stops_cleanly_on_ctrl_c(tmp_path):
    port, ui_port, metrics_port, api_port = free_port(), free_port(), free_port(), free_port()
    log = tmp_path / "up.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [CXSLA, "up", "--port", str(port), "--ui-port", str(ui_port), "--db", str(tmp_path / "t.db"),
             "--metrics-port", str(metrics_port), "--api-port", str(api_port)],
            stdout=sink, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
        try:
            wait_for(lambda: b"cx-sla is up" in log.read_bytes(), 90, "cxsla up banner")
            text = log.read_text()
            assert f"http://127.0.0.1:{ui_port}" in text
            assert f"http://127.0.0.1:{metrics_port}/metrics" in text
            body = wait_for(
                lambda: _scrape(metrics_port), 20, "metrics endpoint"
            )
            assert "temporal_" in body  # the SDK runtime's own metrics on the same endpoint
            # the worker put the assessment Schedules in place by itself: the overdue gauge counts from them
            for cadence in ("monthly", "quarterly", "annual"):
                series = f'cxsla_cycle_last_completed_timestamp_seconds{{cadence="{cadence}",contract="default"'

                def exported(series: str = series) -> bool:
                    return series in (_scrape(metrics_port) or "")
                wait_for(exported, 30, series)
            # The API is up with a first admin token (printed once; only its hash is on disk) and an
            # encryption key made for this laptop.
            assert f"http://127.0.0.1:{api_port}" in text
            printed = re.search(r"API token  (cxsla_\S+)", text)
            assert printed is not None, text
            token = printed.group(1)
            assert token not in (tmp_path / ".data" / "api-tokens").read_text()
            assert (tmp_path / ".data" / "codec-keys").exists()
            opened = _post(api_port, "/v1/complaints", token,
                           {"id": "up-1", "contract": "demo", "severity": "normal", "customer_name": "Zhao Lei"})
            assert opened["created"] is True and opened["timeline"][0]["by"] == "local-admin"
            process.send_signal(signal.SIGINT)
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:  # a failed assertion: still stop the dev server `up` started
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
    assert "stopped: API, worker and Temporal dev server" in log.read_text()
    assert not _listening(port) and not _listening(metrics_port) and not _listening(api_port)


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
