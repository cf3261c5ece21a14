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


class RefusingSink(RecordingSink):
    """Refuses the notices of the given kinds while `down` (a webhook that fails for them), records the rest."""

    def __init__(self, kinds: frozenset[str] = frozenset({"send_survey"})) -> None:
        super().__init__()
        self.kinds = kinds
        self.down = True

    async def deliver(self, notice: Notice) -> None:
        if self.down and notice.kind.value in self.kinds:
            raise ConnectionError(f"{notice.kind.value} webhook down")
        await super().deliver(notice)
