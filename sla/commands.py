"""Commands a desk or supervisor sends to a complaint, validated at the edge; each records one event.

The same models are the client's arguments and the workflow updates' payloads, so a bad field is refused by
pydantic before anything reaches Temporal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sla import events as ev
from sla.events import InputInstant, Name, Text
from sla.lifecycle import COMMANDS
from sla.policy import DEFAULT_LIMITS, MAX_HANDLING_SECONDS, ContractPolicy, Limits
from sla.vocabulary import Channel, ClockName, Kind, Remedy, Severity


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
    handling_seconds: int | None = Field(default=None, ge=0, le=MAX_HANDLING_SECONDS)


class AwaitCustomer(Command):
    reason: Text | None = None


class CustomerResponded(Command):
    note: Text | None = None


class Extend(Command):
    clock: ClockName = ClockName.RESOLVE
    until: InputInstant
    reason: Text = Field(min_length=1)


class Reclassify(Command):
    severity: Severity | None = None
    category: str | None = Field(default=None, min_length=1, max_length=200)
    reason: Text | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Reclassify:
        if self.severity is None and self.category is None:
            raise ValueError("severity or category: give the new severity, the new category, or both")
        return self


class Resolve(Command):
    resolution: Text = Field(min_length=1)
    remedy: Remedy | None = None
    at_fault: bool = False  # verified as the provider's fault and affecting the customer (000 §4.5)
    first_contact: bool = False
    handling_seconds: int | None = Field(default=None, ge=0, le=MAX_HANDLING_SECONDS)


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


class Assign(Command):
    """Give the complaint an owner: an agent (`to`), a group, or both; the assignment replaces the previous one."""

    to: Name | None = Field(default=None, description="the agent who owns it (their identity)")
    group: Name | None = Field(default=None, description="the desk or queue that owns it")
    note: Text | None = None

    @model_validator(mode="after")
    def _someone(self) -> Assign:
        if self.to is None and self.group is None:
            raise ValueError("to: name an agent (to) or a group (group) to assign the complaint to")
        return self


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
    "assign": Assign,
}
assert COMMAND_MODELS.keys() == COMMANDS.keys()


def to_event(name: str, command: Command, at: datetime) -> ev._Event:
    """The event a command records, stamped with the time it was accepted."""
    event_type = COMMANDS[name][0]
    return event_type(at=at, **command.model_dump())


def check_limits(command: Command, limits: Limits, *, received_at: datetime, events: int) -> None:
    """Refuse (ValueError, one sentence naming the field and the bound) what the contract's limits do not allow:
    a value the pydantic model accepts may still be beyond what this contract's KPIs and calendars can take."""
    if events >= limits.record_events and not isinstance(command, (Resolve, NotifyResult, RecordFeedback, Withdraw)):
        raise ValueError(f"the complaint's record holds its limit of {limits.record_events} events; "
                         "it takes only the commands that bring it to a close")
    seconds = getattr(command, "handling_seconds", None)
    if seconds is not None and seconds > limits.handling_seconds:
        raise ValueError(f"handling_seconds: at most {limits.handling_seconds} ({_days(limits.handling_seconds)})")
    if isinstance(command, Extend):
        reach = received_at + timedelta(days=limits.extend_within_days)
        if command.until > reach:
            raise ValueError(f"until: an extension reaches at most {limits.extend_within_days} days after the "
                             f"complaint was received ({reach.isoformat()})")


def check_policy(command: Command, policy: ContractPolicy) -> None:
    """Refuse (ValueError naming the field) what the complaint's contract forbids beyond state and limits."""
    if isinstance(command, Resolve) and command.at_fault and command.remedy is None and policy.at_fault_needs_remedy:
        raise ValueError("remedy: a complaint verified as our fault is resolved with a remedy (compensation, "
                         "upgrade or replacement)")


def _days(seconds: int) -> str:
    return f"{seconds / 86_400:g} days"


COMPLAINT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"


class OpenComplaint(BaseModel):
    """What a desk sends to open a complaint."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=200, pattern=COMPLAINT_ID_PATTERN)
    contract: str = Field(min_length=1)
    severity: Severity
    kind: Kind = Field(default=Kind.COMPLAINT, description="complaint, or inquiry (first response and answer only)")
    channel: Channel | None = None
    customer_id: str | None = Field(default=None, max_length=200)
    customer_name: str | None = Field(default=None, max_length=200, description="personal data: encrypted at rest")
    customer_contact: str | None = Field(
        default=None, max_length=320, description="phone or e-mail; personal data: encrypted at rest"
    )
    summary: Text | None = None
    received_at: InputInstant | None = None
    by: str | None = Field(default=None, max_length=200)

    def received(self, now: datetime, limits: Limits = DEFAULT_LIMITS) -> ev.Received:
        """The first event of a live complaint. A receipt time ahead of `now` by a desk's clock skew is taken as
        now; further ahead is refused, and so is one older than the limit: its clocks have long breached, and
        opening it live would send every warning and breach at once (`import_history` records them, silently)."""
        at = self.received_at or now
        if at > now + timedelta(seconds=limits.receipt_skew_seconds):
            raise ValueError(f"received_at: in the future (now {now.isoformat()}; at most "
                             f"{limits.receipt_skew_seconds} seconds ahead is taken as now)")
        if at < now - timedelta(days=limits.received_within_days):
            raise ValueError(f"received_at: a live open may be at most {limits.received_within_days} days old; "
                             "import an older complaint with its history (import_history), which notifies nobody")
        at = min(at, now)
        return ev.Received(
            at=at, by=self.by, complaint_id=self.id, contract=self.contract, severity=self.severity, kind=self.kind,
            channel=self.channel, customer_id=self.customer_id, customer_name=self.customer_name,
            customer_contact=self.customer_contact, summary=self.summary,
        )
