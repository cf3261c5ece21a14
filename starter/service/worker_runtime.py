"""The cx-sla worker: CxSlaPlugin on a task queue, with one Prometheus scrape endpoint.

`cxsla worker`, `cxsla up` and `python worker.py` all run it from here; settings come from the environment, see
README.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from datetime import timedelta
from pathlib import Path

import structlog
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.archive_store import store_for
from activities.email import SmtpSink
from activities.notifications import FanoutSink, LogSink, NotificationSink, WebhookSink
from activities.survey import CustomerSurveySink
from plugin import CxSlaPlugin
from sla.policy import PolicyError, PolicyFile, load_policy
from starter.service import connection
from starter.service.logs import configure_logging
from starter.service.metrics import (
    VisibilityCollector,
    calendar_gauges,
    complaint_gauges,
    cycle_completion_gauges,
    cycle_gauges,
    improvement_plan_gauges,
    kpi_gauges,
    preinitialize_counters,
    prometheus_runtime,
    undelivered_gauges,
)
from starter.service.settings import Settings

log = structlog.get_logger("cxsla.worker")


def notification_sink(settings: Settings) -> NotificationSink:
    """Webhook and/or e-mail when configured (both: each gets every notification), else the log."""
    sinks: list[NotificationSink] = []
    if settings.webhook_url:
        sinks.append(WebhookSink(settings.webhook_url, settings.webhook_secret))
    if settings.smtp_host:
        mailer = SmtpSink(
            settings.smtp_host, port=settings.smtp_port_or_default, security=settings.smtp_security,
            sender=settings.smtp_from or "", default_to=settings.smtp_to, routes=settings.smtp_routes,
            username=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        )
        sinks.append(mailer)
        if settings.survey_secret and settings.survey_url:  # the survey to the customer, over the same server
            sinks.append(CustomerSurveySink(mailer, secret=settings.survey_secret.get_secret_value().encode(),
                                            base_url=settings.survey_url,
                                            valid_for=timedelta(days=settings.survey_link_days)))
    if not sinks:
        return LogSink()
    return sinks[0] if len(sinks) == 1 else FanoutSink(sinks)


def worker_options(settings: Settings) -> dict:
    """The `Worker` capacity settings (CXSLA_WORKER_*; sizing advice in deploy/README.md)."""
    return {
        "max_cached_workflows": settings.worker_max_cached_workflows,
        "max_concurrent_workflow_tasks": settings.worker_workflow_tasks,
        "max_concurrent_activities": settings.worker_activities,
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(settings.worker_workflow_pollers),
        "activity_task_poller_behavior": PollerBehaviorSimpleMaximum(settings.worker_activity_pollers),
        "sticky_queue_schedule_to_start_timeout": timedelta(seconds=settings.worker_sticky_timeout),
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_shutdown_grace),
    }


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    runtime = prometheus_runtime(settings.metrics_host, settings.metrics_port)
    codec = connection.payload_codec(settings)
    if codec.keyring.active is None:
        log.warning("no active codec key: customer data is stored in Temporal unencrypted",
                    hint="set CXSLA_CODEC_KEYS or CXSLA_CODEC_KEY_FILE (see README, Encryption)")
    archive = store_for(settings.archive_url, codec.keyring)
    revision = await asyncio.to_thread(archive.migrate)  # the schema the activities write, before any runs
    plugin = CxSlaPlugin(sink=notification_sink(settings), codec=codec, policy_path=settings.policy,
                         report_dir=settings.report_dir, archive=archive)
    client = await connection.connect(settings, plugins=[plugin], runtime=runtime)
    worker = Worker(client, task_queue=settings.task_queue, **worker_options(settings))
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        address=settings.temporal_address,
        namespace=settings.temporal_namespace,
        metrics=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
        archive=f"{archive.engine.dialect.name} at revision {revision}",
    )
    policy = _policy(settings)
    if policy is not None:
        preinitialize_counters(runtime.metric_meter, namespace=settings.temporal_namespace,
                               task_queue=settings.task_queue, policy=policy)
    scheduling = None
    if policy is not None and settings.schedule_cycles and not await ensure_schedules(client, settings, policy):
        scheduling = asyncio.create_task(keep_trying_schedules(client, settings, policy, stop))
    async with worker:
        # Everything loaded so far (the SDK, pydantic schemas, holiday tables) lives as long as the process: keep it
        # out of every later full garbage collection, whose pause grows with the objects it must walk.
        gc.collect()
        gc.freeze()
        if settings.visibility_metrics_interval > 0:
            contracts = sorted(policy.contracts) if policy else []
            collector = VisibilityCollector(
                client, runtime.metric_meter, interval=settings.visibility_metrics_interval,
                sources=[complaint_gauges(contracts), improvement_plan_gauges(contracts), kpi_gauges(contracts),
                         undelivered_gauges(contracts), cycle_gauges(contracts),
                         *([calendar_gauges(policy), cycle_completion_gauges(policy)] if policy else [])],
            )
            await collector.run(stop)
        else:
            await stop.wait()
    if scheduling is not None:
        scheduling.cancel()
    log.info("worker stopped")


async def ensure_schedules(client: Client, settings: Settings, policy: PolicyFile,
                           contracts: list[str] | None = None) -> bool:
    """Create the Schedules that start every contract's cycles, or bring existing ones up to the policy (a pause
    stays), so that assessment runs without anyone scheduling it. False when Temporal refused: the worker runs on
    and tries again."""
    from starter.client.assessment import AssessmentClient
    from starter.client.errors import CxSlaError

    try:
        rows = await AssessmentClient(client, task_queue=settings.task_queue, policy=policy).schedule_cycles(contracts)
    except CxSlaError as exc:
        log.warning("assessment schedules not created yet", error=str(exc)[:300])
        return False
    log.info("assessment schedules in place", schedules=len(rows), created=sum(1 for r in rows if r["created"]))
    return True


async def keep_trying_schedules(client: Client, settings: Settings, policy: PolicyFile, stop: asyncio.Event,
                                first_wait: float = 5.0, longest_wait: float = 300.0) -> None:
    wait = first_wait
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
            return
        except TimeoutError:
            pass
        if await ensure_schedules(client, settings, policy):
            return
        wait = min(wait * 2, longest_wait)


def _policy(settings: Settings) -> PolicyFile | None:
    """The contracts the worker pre-initialises series for (complaints carry their own policy regardless)."""
    try:
        return load_policy(settings.policy)
    except PolicyError as exc:
        log.warning("policy unreadable: no pre-initialised counters or per-contract gauges", error=str(exc))
        return None


def cache_bytecode(directory: str = ".data/pycache") -> None:
    """The workflow sandbox imports each workflow's module afresh for every run it starts or wakes; without
    compiled bytecode that is a compile per run. With PYTHONDONTWRITEBYTECODE set, cache it outside the source
    tree instead of not at all."""
    if sys.dont_write_bytecode:
        sys.pycache_prefix = sys.pycache_prefix or str(Path(directory).resolve())
        sys.dont_write_bytecode = False


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    cache_bytecode()
    configure_logging(settings.log_level)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(_main())

