"""`cxsla up` (what `make run` runs): server + worker come up, print their URLs, and Ctrl-C stops both."""

from __future__ import annotations

import signal
import socket
import subprocess
import urllib.request

from tests.e2e import CXSLA, free_port, wait_for


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_prints_urls_serves_metrics_and_stops_cleanly_on_ctrl_c(tmp_path):
    port, ui_port, metrics_port = free_port(), free_port(), free_port()
    log = tmp_path / "up.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [CXSLA, "up", "--port", str(port), "--ui-port", str(ui_port), "--db", str(tmp_path / "t.db"),
             "--metrics-port", str(metrics_port)],
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
            process.send_signal(signal.SIGINT)
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert "stopped: worker and Temporal dev server" in log.read_text()
    assert not _listening(port) and not _listening(metrics_port)


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None
