"""Under `cxsla up` (what `make run` runs) the Temporal UI shows a complaint's input decoded: the UI is pointed at
the codec server, which decodes for this machine's browser without a token. Headless Debian Chromium, driven by
Playwright, opens the complaint's page; the screenshot goes to reports/screenshots/ for people to look at."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from starter.service.binaries import temporal_cli
from tests.helpers.e2e import CXSLA, free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: `make tools` installs Debian's chromium as root")]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing: pip install -e '.[dev]'")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
SUMMARY = "kettle sparks when switched on"


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXSLA_")}  # a local user, no token
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_the_temporal_ui_shows_a_complaints_input_decoded_under_cxsla_up(tmp_path):
    port, ui_port, metrics_port, api_port, codec_port = (free_port() for _ in range(5))
    log = tmp_path / "up.log"
    with log.open("wb") as sink:
        up = subprocess.Popen(
            [CXSLA, "up", "--port", str(port), "--ui-port", str(ui_port), "--db", str(tmp_path / "t.db"),
             "--metrics-port", str(metrics_port), "--api-port", str(api_port), "--codec-port", str(codec_port)],
            stdout=sink, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
        try:
            wait_for(lambda: b"cx-sla is up" in log.read_bytes(), 90, "cxsla up banner")
            address = f"127.0.0.1:{port}"
            opened = _run(tmp_path, CXSLA, "--json", "complaint", "open", "--id", "ui-1", "--contract", "demo",
                          "--severity", "normal", "--summary", SUMMARY, "--address", address)
            assert opened.returncode == 0, opened.stderr
            described = _run(tmp_path, temporal_cli(), "workflow", "describe", "-w", "complaint-ui-1",
                             "--address", address, "-o", "json")
            run_id = json.loads(described.stdout)["workflowExecutionInfo"]["execution"]["runId"]
            # What the UI gets from Temporal is ciphertext: only the codec server can make it readable.
            raw = _run(tmp_path, temporal_cli(), "workflow", "show", "-w", "complaint-ui-1", "--address", address,
                       "-o", "json").stdout
            encrypted = base64.b64encode(b"binary/encrypted").decode()  # metadata values are base64 in JSON
            assert SUMMARY not in raw and encrypted in raw

            url = f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/complaint-ui-1/{run_id}/history"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shot = SCREENSHOTS / "temporal-ui-decoded-input.png"
            with sync_api.sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                     args=["--no-sandbox", "--disable-gpu"])
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1100})
                    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
                    # The input panel shows the decoded run input: the complaint's own id and contract.
                    page.get_by_text('"complaint_id": "ui-1"').first.wait_for(timeout=60_000)
                    body = page.inner_text("body")
                    page.screenshot(path=str(shot))
                finally:
                    browser.close()
            assert '"name": "demo"' in body and "binary/encrypted" not in body
            assert shot.stat().st_size > 10_000
            print(f"screenshot: {shot}")
        finally:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(30)
            except subprocess.TimeoutExpired:
                up.kill()
