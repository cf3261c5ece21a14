"""Outbound notifications (warnings, breaches, escalations, customer notices, surveys) through a pluggable sink.

Every message carries an idempotency key made of the workflow id and the engine's action id, so a retried
activity or a re-delivered webhook can be recognised by the receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Literal, Protocol

import httpx
import structlog
from pydantic import BaseModel
from temporalio import activity

from sla.engine import ActionKind
from sla.vocabulary import BreachClass, ClockName

log = structlog.get_logger("cxsla.notify")

SIGNATURE_HEADER = "X-Cxsla-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class Notification(BaseModel):
    """No personal data: ids, contract, clock and times only."""

    idempotency_key: str
    action_id: str
    kind: ActionKind
    complaint_id: str
    contract: str
    severity: str
    clock: ClockName | None = None
    level: int | None = None
    to: str | None = None
    breach_class: BreachClass | None = None
    deadline: datetime | None = None
    due_at: datetime
    fired_at: datetime
    detail: str | None = None


class Notice(BaseModel):
    """A deadline notice about an improvement plan, an assessment report or a service interruption.

    Same delivery (sinks, idempotency key) and meaning of kind/level/class as a complaint's notification; the
    subject says what it is about. No personal data.
    """

    idempotency_key: str
    action_id: str
    kind: ActionKind
    subject: Literal["improvement_plan", "assessment_report", "interruption"]
    subject_id: str
    contract: str
    clock: str
    level: int | None = None
    to: str | None = None
    breach_class: BreachClass | None = None
    deadline: datetime | None = None
    due_at: datetime
    fired_at: datetime
    detail: str | None = None


class NotificationSink(Protocol):
    async def deliver(self, notification: Notification | Notice) -> None: ...


class LogSink:
    """Default sink: one structured log line per notification."""

    channel = "log"

    async def deliver(self, notification: Notification | Notice) -> None:
        fields = notification.model_dump(mode="json", exclude_none=True)
        if notification.kind is not ActionKind.WARN:
            fields.pop("detail", None)  # an extension's detail is the supervisor's free-text reason
        log.info("notification", **fields)


class WebhookSink:
    """POSTs JSON signed with HMAC-SHA256 of the raw body (header `X-Cxsla-Signature: sha256=<hex>`)."""

    channel = "webhook"

    def __init__(self, url: str, secret: str | None, *, timeout: float = 10.0) -> None:
        self.url = url
        self._secret = secret.encode() if secret else None
        self._timeout = timeout

    async def deliver(self, notification: Notification | Notice) -> None:
        body = json.dumps(notification.model_dump(mode="json"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: notification.idempotency_key}
        if self._secret:
            headers[SIGNATURE_HEADER] = "sha256=" + sign(self._secret, body)
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(self.url, content=body, headers=headers)
        if response.status_code >= 300:
            # Raising lets Temporal retry with backoff; the receiver dedupes on the idempotency key.
            raise RuntimeError(f"webhook {self.url} answered {response.status_code}")


def sign(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


class FanoutSink:
    """Delivers to every sink; if any fails, raises after trying them all, so Temporal retries the activity.

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

    async def deliver(self, notification: Notification | Notice) -> None:
        done = _delivered_by_previous_attempt()
        errors = []
        for name, sink in zip(self.names, self.sinks):
            if name in done:
                continue
            try:
                await sink.deliver(notification)
            except Exception as exc:  # noqa: BLE001 - every sink gets its chance; the failures are raised below
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            done.add(name)
            if activity.in_activity():
                activity.heartbeat(sorted(done))
        if errors:
            raise RuntimeError(f"{len(errors)} of {len(self.sinks)} sinks failed: " + "; ".join(errors))


def _delivered_by_previous_attempt() -> set[str]:
    details = activity.info().heartbeat_details if activity.in_activity() else []
    return {str(name) for name in details[-1]} if details and isinstance(details[-1], list) else set()


class NotificationActivities:
    def __init__(self, sink: NotificationSink) -> None:
        self._sink = sink

    @activity.defn(name="cxsla.notify")
    async def notify(self, notification: Notification) -> None:
        await self._sink.deliver(notification)

    @activity.defn(name="cxsla.notify_notice")
    async def notify_notice(self, notice: Notice) -> None:
        await self._sink.deliver(notice)

    @activity.defn(name="cxsla.send_survey")
    async def send_survey(self, notification: Notification) -> str:
        """Sends the satisfaction survey link through the same sink; returns the channel used."""
        await self._sink.deliver(notification)
        return getattr(self._sink, "channel", "log")
