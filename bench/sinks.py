"""A notification sink that does nothing: the benchmark measures orchestration, not log or webhook I/O."""

from __future__ import annotations

from activities.notifications import Notification


class NullSink:
    def __init__(self) -> None:
        self.delivered = 0

    async def deliver(self, notification: Notification) -> None:
        self.delivered += 1
