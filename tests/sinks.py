"""A notification sink that remembers what it was given (in-process; the webhook test uses real HTTP)."""

from __future__ import annotations

from activities.notifications import Notice, Notification


class RecordingSink:
    def __init__(self) -> None:
        self.received: list[Notification | Notice] = []

    async def deliver(self, notification: Notification | Notice) -> None:
        self.received.append(notification)

    @property
    def notifications(self) -> list[Notification | Notice]:
        return self.received

    def ids(self, complaint_id: str | None = None) -> list[str]:
        return [n.action_id for n in self.received if complaint_id in (None, getattr(n, "complaint_id", None))]
