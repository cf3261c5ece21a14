"""Outbound notices (warnings, breaches, escalations, customer notices, surveys) through a pluggable sink.

Every notice carries an idempotency key made of the workflow id, the id of the first run of that workflow and the
engine's action id: the same across retries and continue-as-new, different for a second plan or a complaint id
reused after retention, so a receiver can drop what it has seen. It also carries a per-subject sequence number,
so a receiver can put notices back in firing order when a retry delivers one late.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx
import structlog
from pydantic import BaseModel, Field
from temporalio import activity

from sla.deadlines import ActionKind
from sla.notices import Notice, Pending, Subject, Undelivered

__all__ = ["Notice", "Pending", "Subject", "Undelivered", "NotificationSink", "LogSink", "WebhookSink", "FanoutSink",
           "DeliveryBatch", "DeliveryReport", "NotificationActivities", "sign"]

log = structlog.get_logger("cxsla.notify")

SIGNATURE_HEADER = "X-Cxsla-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class NotificationSink(Protocol):
    async def deliver(self, notice: Notice) -> None: ...


class LogSink:
    """Default sink: one structured log line per notice."""

    channel = "log"

    async def deliver(self, notice: Notice) -> None:
        log.info("notification", **{k: v for k, v in notice.public().items() if v is not None})


class WebhookSink:
    """POSTs JSON signed with HMAC-SHA256 of the raw body (header `X-Cxsla-Signature: sha256=<hex>`).

    One HTTP client (and its connection pool) serves every delivery of the worker: a breach at the deadline should
    not wait for a new TCP and TLS handshake.
    """

    channel = "webhook"

    def __init__(self, url: str, secret: str | None, *, timeout: float = 10.0) -> None:
        self.url = url
        self._secret = secret.encode() if secret else None
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(timeout=self._timeout,
                                             limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
        return self._client

    async def deliver(self, notice: Notice) -> None:
        fields: dict[str, Any] = notice.public()
        if notice.kind is ActionKind.DELIVER_REPORT:
            if notice.report_to is None or not notice.report_to.webhook:
                return  # this contract's reports go by e-mail only
            fields["report"] = json.loads((notice.attachments or {}).get("json") or "null")
        body = json.dumps(fields, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: notice.idempotency_key}
        if self._secret:
            headers[SIGNATURE_HEADER] = "sha256=" + sign(self._secret, body)
        response = await self._http().post(self.url, content=body, headers=headers)
        if response.status_code >= 300:
            raise DeliveryError(f"webhook {self.url} answered {response.status_code}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class DeliveryError(RuntimeError):
    """A receiver refused or could not be reached; the notice is tried again later."""


def sign(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


class FanoutSink:
    """Delivers to every sink; if any fails, raises after trying them all, so the notice is tried again.

    A retry skips the sinks that already delivered: their names are heartbeated after each success and a retried
    attempt reads them back from the previous attempt's heartbeat details. That is best effort (a worker that dies
    before its heartbeat reaches the server loses it), so every sink carries the idempotency key to its receiver
    (webhook `Idempotency-Key` header and body field, e-mail `Message-ID` and `X-Cxsla-Idempotency-Key`, log field):
    a second delivery can always be recognised and dropped.
    """

    def __init__(self, sinks: list[NotificationSink]) -> None:
        self.sinks = sinks
        channels = [getattr(s, "channel", type(s).__name__) for s in sinks]
        self.names = [f"{i}:{channel}" for i, channel in enumerate(channels)]  # what a retry skips
        self.channel = "+".join(channels)

    async def deliver(self, notice: Notice) -> None:
        done = _delivered_by_previous_attempt(notice.action_id)
        errors = []
        for name, sink in zip(self.names, self.sinks, strict=True):
            if name in done:
                continue
            try:
                await sink.deliver(notice)
            except Exception as exc:  # noqa: BLE001 - every sink gets its chance; the failures are raised below
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            done.add(name)
            if activity.in_activity():
                activity.heartbeat({"action_id": notice.action_id, "sinks": sorted(done)})
        if errors:
            raise DeliveryError(f"{len(errors)} of {len(self.sinks)} sinks failed: " + "; ".join(errors))


def _delivered_by_previous_attempt(action_id: str) -> set[str]:
    details = activity.info().heartbeat_details if activity.in_activity() else []
    last = details[-1] if details else None
    if isinstance(last, list):  # the shape heartbeated before batches existed
        return {str(name) for name in last}
    if isinstance(last, dict) and last.get("action_id") == action_id:
        return {str(name) for name in last.get("sinks", [])}
    return set()


class DeliveryBatch(BaseModel):
    notices: list[Notice] = Field(min_length=1)


class DeliveryReport(BaseModel):
    """Per notice of a batch: delivered (with the channel used) or not (with why)."""

    delivered: dict[str, str] = Field(default_factory=dict)  # action id -> channel
    failed: dict[str, str] = Field(default_factory=dict)  # action id -> error


Attach = Callable[[Notice], Awaitable[dict[str, str]]]


class NotificationActivities:
    def __init__(self, sink: NotificationSink, *, attach: Attach | None = None) -> None:
        """`attach` renders a finished report (format -> text) for a `deliver_report` notice."""
        self._sink = sink
        self._attach = attach

    @property
    def channel(self) -> str:
        return getattr(self._sink, "channel", "log")

    @activity.defn(name="cxsla.deliver")
    async def deliver(self, batch: DeliveryBatch) -> DeliveryReport:
        """Deliver a batch in firing order. A notice that fails does not hold up the ones after it (each carries
        its sequence number); when every one fails the receiver is down, so the activity raises and Temporal
        retries it with backoff before the workflow records the error and tries again later."""
        report = DeliveryReport()
        for notice in batch.notices:
            try:
                if notice.kind is ActionKind.DELIVER_REPORT and self._attach is not None:
                    notice = notice.model_copy(update={"attachments": await self._attach(notice)})
                await self._sink.deliver(notice)
            except Exception as exc:  # noqa: BLE001 - reported per notice; the workflow keeps it and retries
                report.failed[notice.action_id] = f"{type(exc).__name__}: {exc}"[:500]
            else:
                report.delivered[notice.action_id] = self.channel
        if not report.delivered:
            raise DeliveryError("; ".join(dict.fromkeys(report.failed.values())))
        return report

    # ---- one notice per activity: what workflows recorded before batches schedule, kept for their replay ----
    @activity.defn(name="cxsla.notify")
    async def notify(self, notice: Notice) -> None:
        await self._sink.deliver(notice)

    @activity.defn(name="cxsla.notify_notice")
    async def notify_notice(self, notice: Notice) -> None:
        await self._sink.deliver(notice)

    @activity.defn(name="cxsla.send_survey")
    async def send_survey(self, notice: Notice) -> str:
        """Sends the satisfaction survey link through the same sink; returns the channel used."""
        await self._sink.deliver(notice)
        return self.channel
