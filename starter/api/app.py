"""The service-desk HTTP API (`cxsla api`, and part of `cxsla up`): FastAPI on uvicorn over ComplaintClient.

Routers are listed in ROUTERS; a new area (assessment cycles, surveys, plans, outages) adds its router there.
/metrics serves the app's own registry: request counts and latency per route template, plus the Temporal client's
SDK metrics (through starter.service.metrics.PrometheusClientBridge), so this process has one scrape endpoint.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, contextmanager

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi_offline import FastAPIOffline

from sla.policy import load_policy
from starter.api import assessment, bulk, calendars, complaints, console, health, inbound, problems, survey
from starter.api.edge import EdgeLimits
from starter.client.complaints import ComplaintClient
from starter.service import connection
from starter.service.archive import archive_of
from starter.service.inbound import load_sources
from starter.service.metrics import ApiMetrics, PrometheusClientBridge
from starter.service.settings import Settings
from starter.service.tokens import ReloadingTokens

log = structlog.get_logger("cxsla.api")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

ROUTERS: list[APIRouter] = [health.router, complaints.router, assessment.router, calendars.router, inbound.router,
                            bulk.router, survey.router]

DESCRIPTION = """\
Open complaints and move them through their lifecycle from a service desk.

Authenticate with `Authorization: Bearer <token>` (tokens from `cxsla token new`). Roles: **agent** opens, assigns,
acknowledges, triages, communicates the plan, posts progress, waits for and records the customer's answer,
notifies the result and records feedback; **supervisor** also resolves, extends, reopens, reclassifies and
withdraws; **admin** may do everything. The acting identity is recorded as `by` in the complaint's events.

Assessment: anyone with a token reads cycles, reports, plans and interruptions; **supervisors** import survey
answers, submit and report on improvement plans, report and restore service interruptions; **admins** start
cycles and manage their schedules.

Calendars: anyone with a token reads how far each calendar is known officially (`GET /v1/calendars`); **admins**
send newly published years to the live clocks (`POST /v1/calendars/refresh`).

Errors are RFC 9457 problem documents (`application/problem+json`).
"""


def create_app(settings: Settings | None = None, *, complaints_client: ComplaintClient | None = None) -> FastAPI:
    """The API app; configuration errors (tokens, inbound mapping, policy, TLS, keys) are raised here, before
    anything listens. Without `complaints_client` it connects (lazily) on startup with the settings."""
    settings = settings or Settings()
    tokens = ReloadingTokens(settings)
    sources = load_sources(settings.inbound_config)
    bridge = None
    if complaints_client is None:
        policy = load_policy(settings.policy)
        plugin = connection.plugin(settings)  # codec keys are checked now, not at the first request
        bridge = PrometheusClientBridge()
    api_metrics = ApiMetrics(bridge)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if complaints_client is None:
            assert bridge is not None  # made above whenever there is no client
            client = await connection.connect(settings, plugins=[plugin], lazy=True, runtime=bridge.runtime)
            app.state.complaints = ComplaintClient(client, task_queue=settings.task_queue, policy=policy,
                                                   archive=archive_of(settings))
        else:
            app.state.complaints = complaints_client
        if not tokens:
            log.warning("no API tokens configured: every /v1 request is refused",
                        hint="cxsla token new --role agent --identity NAME")
        yield

    # /docs and /redoc load Swagger UI and ReDoc from the assets fastapi-offline ships, not from a CDN, so they
    # work where the API runs without internet access.
    app = FastAPIOffline(title="cx-sla service-desk API", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.inbound = sources
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)
    console.install(app)  # the web console at /ui

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        method = request.method if request.method in KNOWN_METHODS else "other"  # a client invents no label
        api_metrics.observe(getattr(route, "path", "unmatched"), method, response.status_code,
                            time.perf_counter() - started)
        return response

    app.add_middleware(EdgeLimits)  # outermost: refuses before routing, auth and parsing

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = api_metrics.render()
        return Response(body, media_type=content_type)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = problems.as_problem_json(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self):  # the process that embeds the server owns the signals
        yield


async def serve(
    app: FastAPI, stop: asyncio.Event, *, host: str = "127.0.0.1", port: int = 8080,
    sock: socket.socket | None = None, access_log: bool = True,
) -> None:
    """Serve `app` until `stop` is set (then finish in-flight requests); raises if it cannot start."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=access_log, lifespan="on")
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock] if sock else None))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    try:
        await serving
    except SystemExit:  # uvicorn's answer to a port it cannot bind: said plainly below, not as an exit
        pass
    if not server.started:
        raise RuntimeError(f"could not listen on {host}:{port} (see the log above)")


async def run_api(settings: Settings, stop: asyncio.Event) -> None:
    app = create_app(settings)
    log.info("api starting", url=f"http://{settings.api_host}:{settings.api_port}",
             docs=f"http://{settings.api_host}:{settings.api_port}/docs",
             console=f"http://{settings.api_host}:{settings.api_port}/ui")
    loop = asyncio.get_running_loop()
    try:  # `kill -HUP` re-reads the tokens file at once (a changed file is also noticed on its own)
        loop.add_signal_handler(signal.SIGHUP, app.state.tokens.reload)
        hup = True
    except (NotImplementedError, RuntimeError, ValueError):  # no SIGHUP here, or not the main thread
        hup = False
    try:
        await serve(app, stop, host=settings.api_host, port=settings.api_port)
    finally:
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)
    log.info("api stopped")
