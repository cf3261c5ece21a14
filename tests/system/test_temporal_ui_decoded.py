"""Under `cxsla up` (what `make run` runs) the Temporal UI shows a complaint's input decoded: the UI is pointed at
the codec server, which decodes for this machine's browser without a token. Headless Debian Chromium, driven by
Playwright, opens the complaint's page; the screenshot goes to reports/screenshots/ for people to look at."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from starter.service.binaries import temporal_cli
from tests.helpers.e2e import CXSLA, as_local_user, cxsla_up

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: `make tools` installs Debian's chromium as root")]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing: pip install -e '.[dev]'")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
SUMMARY = "kettle sparks when switched on"


def test_the_temporal_ui_shows_a_complaints_input_decoded_under_cxsla_up(tmp_path):
    with cxsla_up(tmp_path) as up:
        opened = as_local_user(tmp_path, CXSLA, "--json", "complaint", "open", "--id", "ui-1", "--contract", "demo",
                               "--severity", "normal", "--summary", SUMMARY, "--address", up.address)
        assert opened.returncode == 0, opened.stderr
        described = as_local_user(tmp_path, temporal_cli(), "workflow", "describe", "-w", "complaint-ui-1",
                                  "--address", up.address, "-o", "json")
        run_id = json.loads(described.stdout)["workflowExecutionInfo"]["execution"]["runId"]
        # What the UI gets from Temporal is ciphertext: only the codec server can make it readable.
        raw = as_local_user(tmp_path, temporal_cli(), "workflow", "show", "-w", "complaint-ui-1",
                            "--address", up.address, "-o", "json").stdout
        encrypted = base64.b64encode(b"binary/encrypted").decode()  # metadata values are base64 in JSON
        assert SUMMARY not in raw and encrypted in raw

        url = f"http://127.0.0.1:{up.ui_port}/namespaces/default/workflows/complaint-ui-1/{run_id}/history"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / "temporal-ui-decoded-input.png"
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
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
