"""The cx-sla worker process: CxSlaPlugin on a task queue, with one Prometheus scrape endpoint.

Run it with `cxsla worker` (or `python worker.py`); settings come from the environment, see README.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.notifications import LogSink, NotificationSink, WebhookSink
from plugin import CxSlaPlugin
from starter import connection
from starter.logs import configure_logging
from starter.settings import Settings

log = structlog.get_logger("cxsla.worker")


def metrics_runtime(host: str, port: int) -> Runtime:
    """SDK metrics and the workflows' domain counters, in Prometheus naming, on one endpoint."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"{host}:{port}",
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
            )
        )
    )


def notification_sink(settings: Settings) -> NotificationSink:
    if settings.webhook_url:
        return WebhookSink(settings.webhook_url, settings.webhook_secret)
    return LogSink()


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    runtime = metrics_runtime(settings.metrics_host, settings.metrics_port)
    codec = connection.payload_codec(settings)
    if codec.keyring.active is None:
        log.warning("no active codec key: customer data is stored in Temporal unencrypted",
                    hint="set CXSLA_CODEC_KEYS or CXSLA_CODEC_KEY_FILE (see README, Encryption)")
    client = await connection.connect(
        settings, plugins=[CxSlaPlugin(sink=notification_sink(settings), codec=codec)], runtime=runtime
    )
    worker = Worker(client, task_queue=settings.task_queue)
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        address=settings.temporal_address,
        namespace=settings.temporal_namespace,
        metrics=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
    )
    async with worker:
        await stop.wait()
    log.info("worker stopped")


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    configure_logging(settings.log_level)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(_main())


if __name__ == "__main__":
    main()
