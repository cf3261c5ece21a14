"""A notification sink that remembers what it was given (in-process; the webhook test uses real HTTP)."""

from __future__ import annotations

from activities.notifications import Notification


class RecordingSink:
    def __init__(self) -> None:
        self.received: list[Notification] = []

    async def deliver(self, notification: Notification) -> None:
        self.received.append(notification)

    def ids(self, complaint_id: str | None = None) -> list[str]:
        return [n.action_id for n in self.received if complaint_id in (None, n.complaint_id)]
