"""Helpers for end-to-end tests: free ports, a real webhook receiver, the cxsla CLI as a subprocess."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from starter.service.tokens import Role, config_line

CXSLA = str(Path(sys.executable).parent / "cxsla")

# Who the tests act as through the CLI: `--by NAME` acts with NAME's token, any other command as `e2e-admin`
# (the CLI records the token's identity as `by` and applies the API's role rules; starter.cli.identity).
PEOPLE = {"e2e-admin": Role.ADMIN, "amy": Role.AGENT, "sam": Role.SUPERVISOR, "sup": Role.SUPERVISOR,
          "ops": Role.ADMIN}


def token_of(name: str) -> str:
    return "cxsla_e2e_" + hashlib.sha256(name.encode()).hexdigest()[:32]


PEOPLE_TOKENS = ",".join(config_line(name, role, token_of(name)) for name, role in PEOPLE.items())


def acting_as(args: tuple[str, ...], env: dict[str, str]) -> dict[str, str]:
    """The token settings that make `cxsla *args` act as the person its `--by` names (else e2e-admin)."""
    by = args[args.index("--by") + 1] if "--by" in args[:-1] else "e2e-admin"
    if by not in PEOPLE or "CXSLA_TOKEN" in env:
        return {}
    tokens = ",".join(filter(None, [env.get("CXSLA_API_TOKENS"), PEOPLE_TOKENS]))
    return {"CXSLA_API_TOKENS": tokens, "CXSLA_TOKEN": token_of(by)}


@dataclass
class Up:
    """A running `cxsla up` and its ports; `returncode` once it stopped."""

    port: int
    ui_port: int
    metrics_port: int
    api_port: int
    codec_port: int
    log: Path
    returncode: int | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def cxsla_up(cwd: Path) -> Iterator[Up]:
    """`cxsla up` started in `cwd` on free ports, once its banner is out; Ctrl-C (SIGINT) stops it after."""
    port, ui_port, metrics_port, api_port, codec_port = (free_port() for _ in range(5))
    up = Up(port, ui_port, metrics_port, api_port, codec_port, log=cwd / "up.log")
    with up.log.open("wb") as sink:
        process = subprocess.Popen(
            [CXSLA, "up", "--port", str(up.port), "--ui-port", str(up.ui_port), "--db", str(cwd / "t.db"),
             "--metrics-port", str(up.metrics_port), "--api-port", str(up.api_port),
             "--codec-port", str(up.codec_port)],
            stdout=sink, stderr=subprocess.STDOUT, cwd=cwd,
        )
        try:
            wait_for(lambda: b"cx-sla is up" in up.log.read_bytes() or process.poll() is not None, 90,
                     "cxsla up banner")
            assert process.poll() is None, f"cxsla up exited {process.returncode}:\n{up.log.read_text()[-3000:]}"
            yield up
        finally:
            process.send_signal(signal.SIGINT)
            try:
                up.returncode = process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def as_local_user(cwd: Path, *command: str) -> subprocess.CompletedProcess:
    """`command` run in `cwd` by someone with no cx-sla settings (no token): what `cxsla up`'s user types."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXSLA_")}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def free_port() -> int:
    """A port nothing listens on, chosen below the kernel's ephemeral range: a port the kernel hands out itself
    (as the dev servers under test do for their internal services) could be taken again before our process binds
    it, and the two would collide."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    while True:
        port = _PORTS.randrange(max(1024, low - 12000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


_PORTS = random.Random()


class WebhookReceiver:
    """A real HTTP server on loopback that records every POST (body, headers)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[dict] = []
        self._fail_left = fail_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    if receiver._fail_left > 0:
                        receiver._fail_left -= 1
                        self.send_response(500)
                        self.end_headers()
                        return
                    receiver.requests.append({"body": body, "headers": dict(self.headers)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def notifications(self) -> list[dict]:
        with self._lock:
            return [json.loads(r["body"]) for r in self.requests]


def cli(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {})}
    result = subprocess.run([CXSLA, *args], capture_output=True, text=True, timeout=60,
                            env={**env, **acting_as(args, env)})
    if check and result.returncode != 0:
        raise AssertionError(f"cxsla {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def cli_json(*args: str, env: dict[str, str] | None = None):
    return json.loads(cli(*args, "--json", env=env).stdout)


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2):
    """Poll a condition with a deadline (the system under test decides when; we only bound the wait)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def until(predicate: Callable[[], object], timeout: float, what: str | Callable[[], str],
                interval: float = 0.2):
    """`wait_for` for async tests: the predicate may be a coroutine function; the event loop runs meanwhile.
    `what` may be a function, to say what was still missing at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        await asyncio.sleep(interval)
