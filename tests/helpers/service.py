"""A cx-sla service for HTTP tests: a worker and the API (uvicorn), optionally the codec server, in a
background thread with its own event loop, against a real Temporal server, on free loopback ports.

Running in its own thread lets async tests (on the session loop) and sync tests (schemathesis) drive it alike.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field

from temporalio.worker import Worker

from plugin import CxSlaPlugin
from starter.api import create_app, serve
from starter.service import connection
from starter.service.codec_server import create_codec_app
from starter.service.settings import Settings
from starter.service.tokens import Role, config_line, new_token
from tests.helpers.sinks import RecordingSink
from tests.helpers.temporal import task_queue

TEST_KEY = "t1:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="


def service_settings(
    address: str, tmp, tokens: Tokens, *, policy: str | None = None, inbound: str | None = None, **extra
) -> Settings:
    """Settings for a test service: its own task queue, a fixed test key, token hashes in a file; nothing
    from the environment or a `.env` leaks in."""
    (tmp / "tokens").write_text(tokens.config())
    values = dict(
        temporal_address=address, task_queue=task_queue(), policy=None, api_tokens=None,
        api_tokens_file=str(tmp / "tokens"), inbound_config=None, codec_keys=TEST_KEY, codec_active_key=None,
        codec_key_file=str(tmp / "no-key-file"), require_encryption=None, temporal_api_key=None,
        temporal_tls=None, temporal_tls_cert=None, temporal_tls_key=None, temporal_tls_ca=None,
        temporal_tls_server_name=None, log_level="WARNING", report_dir=str(tmp / "reports"),
    )
    if policy:
        (tmp / "policy.toml").write_text(policy)
        values["policy"] = str(tmp / "policy.toml")
    if inbound:
        (tmp / "inbound.toml").write_text(inbound)
        values["inbound_config"] = str(tmp / "inbound.toml")
    values.update(extra)
    return Settings(_env_file=None, **values)


@dataclass
class Tokens:
    """One token per role, plus the configuration text holding their hashes."""

    agent: str = field(default_factory=new_token)
    supervisor: str = field(default_factory=new_token)
    admin: str = field(default_factory=new_token)

    def config(self) -> str:
        return "\n".join([config_line("amy", Role.AGENT, self.agent),
                          config_line("sam", Role.SUPERVISOR, self.supervisor),
                          config_line("root", Role.ADMIN, self.admin)])

    @staticmethod
    def header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def _listen() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class Service:
    def __init__(self, settings: Settings, *, sink: RecordingSink | None = None, codec_server: bool = False,
                 worker: bool = True) -> None:
        self.settings = settings
        self.sink = sink or RecordingSink()
        self._codec_server = codec_server
        self._worker = worker
        self._api_sock = _listen()
        self._codec_sock = _listen() if codec_server else None
        self.url = f"http://127.0.0.1:{self._api_sock.getsockname()[1]}"
        self.codec_url = f"http://127.0.0.1:{self._codec_sock.getsockname()[1]}" if self._codec_sock else None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="cxsla-service")

    def __enter__(self) -> Service:
        self._thread.start()
        if not self._ready.wait(60) or self._error:
            self.__exit__()
            raise RuntimeError(f"service did not start: {self._error!r}")
        return self

    def __exit__(self, *exc) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        if self._thread.is_alive():
            raise RuntimeError("service thread did not stop")
        if self._error and exc == ():
            raise self._error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # noqa: BLE001 - reported to the test thread
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._worker:
            codec = connection.payload_codec(self.settings)
            plugin = CxSlaPlugin(sink=self.sink, codec=codec, policy_path=self.settings.policy,
                                 report_dir=self.settings.report_dir)
            client = await connection.connect(self.settings, plugins=[plugin])
            worker = Worker(client, task_queue=self.settings.task_queue)
        tasks = [serve(create_app(self.settings), self._stop, sock=self._api_sock, access_log=False)]
        if self._codec_sock:
            tasks.append(serve(create_codec_app(self.settings), self._stop, sock=self._codec_sock,
                               access_log=False))
        if self._worker:
            tasks.append(worker.run())
        running = [asyncio.create_task(t) for t in tasks]
        await self._until_serving()
        self._ready.set()
        await self._stop.wait()
        worker_task = running[-1] if self._worker else None
        if worker_task:
            await worker.shutdown()
        await asyncio.gather(*running)

    async def _until_serving(self) -> None:
        import httpx

        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("API did not answer /healthz")
