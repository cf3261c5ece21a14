"""`cxsla server|worker|api|codec-server|up`: run the service's processes."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import typer

from starter.cli.app import Globals, app, err, fail, globals_of
from starter.service.settings import Settings


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@app.command()
def server(
    port: int = typer.Option(7233), ui_port: int = typer.Option(8233, "--ui-port"),
    db: str = typer.Option(".data/temporal.db", help="SQLite file; kept across restarts."),
) -> None:
    """Run the embedded Temporal dev server (search attributes registered, UI on)."""
    from starter.service.server import DevServer, stop_process

    dev = DevServer(port=port, ui_port=ui_port, db=db)
    process = dev.start()
    # The server runs in its own session: SIGTERM to us must stop it too, or it outlives us.
    signal.signal(signal.SIGTERM, _interrupt)
    err.print(f"Temporal dev server on {dev.address}, UI {dev.ui_url}")
    try:
        sys.exit(process.wait())
    except KeyboardInterrupt:
        stop_process(process)


@app.command()
def worker(ctx: typer.Context, metrics_port: int = typer.Option(None, "--metrics-port")) -> None:
    """Run a cx-sla worker against --address (metrics on CXSLA_METRICS_PORT)."""
    from starter.service.worker_runtime import main as run_worker_process

    run_worker_process(_worker_settings(globals_of(ctx), metrics_port))


def _worker_settings(g: Globals, metrics_port: int | None) -> Settings:
    """Settings from the environment with the CLI's global options applied."""
    updates: dict[str, Any] = {"temporal_address": g.address, "temporal_namespace": g.namespace,
                               "task_queue": g.task_queue, "policy": g.policy}
    if metrics_port:
        updates["metrics_port"] = metrics_port
    return Settings().model_copy(update=updates)


@app.command()
def api(
    ctx: typer.Context, host: str = typer.Option(None, help="Bind address (CXSLA_API_HOST)."),
    port: int = typer.Option(None, help="Port (CXSLA_API_PORT)."),
) -> None:
    """Run the service-desk HTTP API against --address (OpenAPI at /openapi.json, docs at /docs)."""
    from starter.api import run_api
    from starter.service.logs import configure_logging

    settings = _service_settings(globals_of(ctx), api_host=host, api_port=port)
    configure_logging(settings.log_level)
    _serve_forever(lambda stop: run_api(settings, stop))


@app.command("codec-server")
def codec_server(
    host: str = typer.Option(None, help="Bind address (CXSLA_CODEC_SERVER_HOST)."),
    port: int = typer.Option(None, help="Port (CXSLA_CODEC_SERVER_PORT)."),
) -> None:
    """Serve /encode and /decode for the Temporal UI and `temporal --codec-endpoint` (supervisor token)."""
    from starter.api import serve
    from starter.service.codec_server import create_codec_app
    from starter.service.logs import configure_logging

    settings = _service_settings(None, codec_server_host=host, codec_server_port=port)
    configure_logging(settings.log_level)
    try:
        codec_app_ = create_codec_app(settings)
    except ValueError as exc:
        fail(str(exc))
    err.print(f"codec server on http://{settings.codec_server_host}:{settings.codec_server_port} "
              f"(CORS: {settings.codec_cors_origins})", highlight=False)
    _serve_forever(lambda stop: serve(codec_app_, stop, host=settings.codec_server_host,
                                      port=settings.codec_server_port))


def _service_settings(g: Globals | None, **updates: Any) -> Settings:
    settings = _worker_settings(g, None) if g else Settings()
    return settings.model_copy(update={k: v for k, v in updates.items() if v is not None})


def _serve_forever(run) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(stop)

    try:
        asyncio.run(main())
    except ValueError as exc:  # configuration (tokens, keys, TLS files, inbound mapping)
        fail(str(exc))


@app.command()
def up(
    ctx: typer.Context, port: int = typer.Option(7233), ui_port: int = typer.Option(8233, "--ui-port"),
    db: str = typer.Option(".data/temporal.db"), metrics_port: int = typer.Option(None, "--metrics-port"),
    api_port: int = typer.Option(None, "--api-port", help="HTTP API port (CXSLA_API_PORT, default 8080)."),
    codec_port: int = typer.Option(None, "--codec-port",
                                   help="Codec server port (CXSLA_CODEC_SERVER_PORT, default 8081)."),
) -> None:
    """Embedded Temporal server + worker + HTTP API + codec server in one process tree; Ctrl-C stops them all.

    On first start it writes a payload key (.data/codec-keys) and an admin API token (.data/api-tokens) unless
    keys and tokens are configured; the token is printed once. The Temporal UI decodes payloads through the codec
    server, which this user's browser on this machine may use without a token.
    """
    from starter.api import run_api, serve
    from starter.cli.identity import remove_up_marker, write_up_marker
    from starter.service.codec import load_keyring
    from starter.service.codec_server import create_codec_app
    from starter.service.logs import configure_logging
    from starter.service.server import DEV_RETENTION, DevServer, set_retention, stop_process, wait_until_serving
    from starter.service.tokens import Role, TokenStore
    from starter.service.worker_runtime import run_worker

    g = globals_of(ctx)
    settings = _worker_settings(g, metrics_port)
    updates: dict[str, Any] = {"codec_server_host": "127.0.0.1"}  # decoding without a token: loopback only
    if api_port:
        updates["api_port"] = api_port
    if codec_port:
        updates["codec_server_port"] = codec_port
    if "codec_cors_origins" not in settings.model_fields_set:  # the UI this command runs, on its port
        updates["codec_cors_origins"] = f"http://127.0.0.1:{ui_port},http://localhost:{ui_port}"
    settings = settings.model_copy(update=updates)
    codec_url = f"http://{settings.codec_server_host}:{settings.codec_server_port}"
    dev = DevServer(port=port, ui_port=ui_port, db=db, namespace=g.namespace, ui_codec_endpoint=codec_url)
    settings = settings.model_copy(update={"temporal_address": dev.address})
    configure_logging(settings.log_level)
    try:
        keyring = load_keyring(settings, create=True)
        new_token = None
        if not settings.api_tokens and not Path(settings.api_tokens_file).exists():
            new_token = TokenStore.create_file(settings.api_tokens_file, "local-admin", Role.ADMIN)
        codec_app = create_codec_app(settings, open_on_loopback=True)
    except ValueError as exc:
        fail(str(exc))
    listeners = ((settings.api_host, settings.api_port, "the API (--api-port)"),
                 (settings.codec_server_host, settings.codec_server_port, "the codec server (--codec-port)"),
                 (settings.metrics_host, settings.metrics_port, "metrics (--metrics-port)"))
    for host, port_, what in listeners:
        if _in_use(host, port_):
            fail(f"{host}:{port_} is in use: choose another port for {what}")
    process = dev.start()
    try:
        dev.wait_ready(process)
        # Tells the CLI in this directory that this dev server is ours: it may act as local-admin on it.
        write_up_marker(dev.address)

        async def main() -> None:
            await wait_until_serving(dev.address, g.namespace)
            await set_retention(dev.address, g.namespace)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            parts = asyncio.gather(
                run_worker(settings, stop), run_api(settings, stop),
                serve(codec_app, stop, host=settings.codec_server_host, port=settings.codec_server_port,
                      access_log=False))
            api_url = f"http://{settings.api_host}:{settings.api_port}"
            await _until_answering(f"{api_url}/healthz", parts)
            token_note = (f"\n  API token  {new_token}  (local-admin; shown once, hash kept in "
                          f"{settings.api_tokens_file})" if new_token else "")
            err.print(
                f"[bold green]cx-sla is up[/]\n"
                f"  Temporal   {dev.address} (namespace {g.namespace}, data {db}, closed workflows kept "
                f"{DEV_RETENTION.days} days)\n"
                f"  archive    {settings.archive_url}\n"
                f"  Temporal UI {dev.ui_url}  (payloads decoded through the codec server)\n"
                f"  codec      {codec_url}  (no token needed from this machine; elsewhere supervisor tokens)\n"
                f"  API        {api_url}  (docs {api_url}/docs, OpenAPI {api_url}/openapi.json)"
                f"{token_note}\n"
                f"  console    {api_url}/ui  (sign in with an API token)\n"
                f"  metrics    http://{settings.metrics_host}:{settings.metrics_port}/metrics\n"
                f"  encryption key {keyring.active if keyring else '-'} "
                f"({settings.codec_keys and 'CXSLA_CODEC_KEYS' or settings.codec_key_file})\n"
                f"  CLI        acts as local-admin on this server from this directory (CXSLA_TOKEN for anyone else)\n"
                f"  try        cxsla complaint open --id demo-1 --contract demo --severity normal\n"
                f"  stop       Ctrl-C",
                highlight=False, soft_wrap=True,
            )
            await parts

        asyncio.run(main())
    finally:
        remove_up_marker()
        stop_process(process)
        err.print("stopped: API, codec server, worker and Temporal dev server")


def _in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port (checked before anything starts, to say so plainly)."""
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


async def _until_answering(url: str, running: asyncio.Future, timeout: float = 60) -> None:
    """Wait until `url` answers (the banner then tells the truth); stop early if `running` ended (failed)."""
    import httpx

    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as http:
        while not running.done() and asyncio.get_running_loop().time() < deadline:
            try:
                if (await http.get(url, timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    if running.done():
        await running  # raises what stopped it
