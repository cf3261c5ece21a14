"""A notification sink that does nothing: the benchmark measures orchestration, not log or webhook I/O."""

from __future__ import annotations

from activities.notifications import Notice


class NullSink:
    def __init__(self) -> None:
        self.delivered = 0

    async def deliver(self, notice: Notice) -> None:
        self.delivered += 1
