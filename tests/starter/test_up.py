"""`cxsla up` (what `make run` runs): server + worker + API come up, print their URLs, and Ctrl-C stops them."""

from __future__ import annotations

import json
import os
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
    port, ui_port, metrics_port, api_port, codec_port = (free_port() for _ in range(5))
    log = tmp_path / "up.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [CXSLA, "up", "--port", str(port), "--ui-port", str(ui_port), "--db", str(tmp_path / "t.db"),
             "--metrics-port", str(metrics_port), "--api-port", str(api_port), "--codec-port", str(codec_port)],
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
            # The codec server the UI is pointed at decodes for this machine's UI without a token.
            assert f"codec      http://127.0.0.1:{codec_port}" in text
            decoded = _decode(codec_port, {"Origin": f"http://127.0.0.1:{ui_port}"})
            assert decoded == {}  # nothing to decode, but not refused
            # The CLI in the same directory, without a token, acts as local-admin on this server only.
            acted = _cli(tmp_path, "--json", "complaint", "ack", "up-1", "--address", f"127.0.0.1:{port}")
            assert acted.returncode == 0, acted.stderr
            assert json.loads(acted.stdout)["timeline"][-1]["by"] == "local-admin"
            elsewhere = _cli(tmp_path, "complaint", "ack", "up-1", "--address", f"127.0.0.1:{free_port()}")
            assert elsewhere.returncode == 1 and "who is acting?" in elsewhere.stderr
            process.send_signal(signal.SIGINT)
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:  # a failed assertion: still stop the dev server `up` started
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
    assert "stopped: API, codec server, worker and Temporal dev server" in log.read_text()
    assert not (tmp_path / ".data" / "cxsla-up.json").exists()
    after = _cli(tmp_path, "complaint", "ack", "up-1", "--address", f"127.0.0.1:{port}")
    assert after.returncode == 1 and "who is acting?" in after.stderr
    assert not any(map(_listening, (port, metrics_port, api_port, codec_port)))


def _cli(cwd, *args: str) -> subprocess.CompletedProcess:
    """`cxsla` as someone without a token would run it in `cwd`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXSLA_")}
    return subprocess.run([CXSLA, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


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
