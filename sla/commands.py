"""Commands a desk or supervisor sends to a complaint, validated at the edge; each records one event.

The same models are the client's arguments and the workflow updates' payloads, so a bad field is refused by
pydantic before anything reaches Temporal.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sla import events as ev
from sla.events import Instant, Text
from sla.lifecycle import COMMANDS
from sla.vocabulary import Channel, ClockName, Remedy, Severity


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    by: str | None = Field(default=None, max_length=200, description="who acts (agent or supervisor name)")


class Acknowledge(Command):
    note: Text | None = None


class Triage(Command):
    category: str | None = Field(default=None, max_length=200)
    note: Text | None = None


class CommunicatePlan(Command):
    plan: Text | None = None


class PostProgress(Command):
    note: Text | None = None
    handling_seconds: int | None = Field(default=None, ge=0)


class AwaitCustomer(Command):
    reason: Text | None = None


class CustomerResponded(Command):
    note: Text | None = None


class Extend(Command):
    clock: ClockName = ClockName.RESOLVE
    until: Instant
    reason: Text = Field(min_length=1)


class Reclassify(Command):
    severity: Severity
    reason: Text | None = None


class Resolve(Command):
    resolution: Text = Field(min_length=1)
    remedy: Remedy | None = None
    first_contact: bool = False
    handling_seconds: int | None = Field(default=None, ge=0)


class NotifyResult(Command):
    note: Text | None = None


class Reopen(Command):
    reason: Text | None = None


class RecordFeedback(Command):
    csat: int = Field(ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    ces: int | None = Field(default=None, ge=1, le=7)
    comment: Text | None = None


class Withdraw(Command):
    reason: Text | None = None


COMMAND_MODELS: dict[str, type[Command]] = {
    "acknowledge": Acknowledge,
    "triage": Triage,
    "communicate_plan": CommunicatePlan,
    "post_progress": PostProgress,
    "await_customer": AwaitCustomer,
    "customer_responded": CustomerResponded,
    "extend": Extend,
    "reclassify": Reclassify,
    "resolve": Resolve,
    "notify_result": NotifyResult,
    "reopen": Reopen,
    "record_feedback": RecordFeedback,
    "withdraw": Withdraw,
}
assert COMMAND_MODELS.keys() == COMMANDS.keys()


def to_event(name: str, command: Command, at: datetime) -> ev._Event:
    """The event a command records, stamped with the time it was accepted."""
    event_type = COMMANDS[name][0]
    return event_type(at=at, **command.model_dump())


COMPLAINT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"


class OpenComplaint(BaseModel):
    """What a desk sends to open a complaint."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=200, pattern=COMPLAINT_ID_PATTERN)
    contract: str = Field(min_length=1)
    severity: Severity
    channel: Channel | None = None
    customer_id: str | None = Field(default=None, max_length=200)
    customer_name: str | None = Field(default=None, max_length=200, description="personal data: encrypted at rest")
    customer_contact: str | None = Field(
        default=None, max_length=320, description="phone or e-mail; personal data: encrypted at rest"
    )
    summary: Text | None = None
    received_at: Instant | None = None
    by: str | None = Field(default=None, max_length=200)

    def received(self, now: datetime) -> ev.Received:
        """The first event; refuses a receipt time in the future of `now`."""
        at = self.received_at or now
        if at > now:
            raise ValueError(f"received_at {at.isoformat()} is in the future (now {now.isoformat()})")
        return ev.Received(
            at=at, by=self.by, complaint_id=self.id, contract=self.contract, severity=self.severity,
            channel=self.channel, customer_id=self.customer_id, customer_name=self.customer_name,
            customer_contact=self.customer_contact, summary=self.summary,
        )
