"""A notification sink that remembers what it was given (in-process; the webhook test uses real HTTP)."""

from __future__ import annotations

from activities.notifications import Notice


class RecordingSink:
    def __init__(self) -> None:
        self.received: list[Notice] = []

    async def deliver(self, notice: Notice) -> None:
        self.received.append(notice)

    @property
    def notifications(self) -> list[Notice]:
        return self.received

    def ids(self, complaint_id: str | None = None) -> list[str]:
        return [n.action_id for n in self.received
                if complaint_id is None or (n.subject == "complaint" and n.subject_id == complaint_id)]
