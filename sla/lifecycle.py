"""The complaint state machine: which command is allowed when, and the state each event leads to.

Update validators call `check` before anything is recorded, so an invalid transition is refused with a
message and the complaint's history is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sla import events as ev
from sla.vocabulary import ComplaintState, Severity

S = ComplaintState
_OPEN = (S.RECEIVED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.AWAITING_CUSTOMER)
_HANDLING = (S.ACKNOWLEDGED, S.IN_PROGRESS)


class InvalidTransition(ValueError):
    """A command that the complaint's current state does not allow."""


@dataclass(frozen=True)
class Facts:
    """What the state machine needs to know beyond the state itself."""

    state: ComplaintState = S.RECEIVED
    severity: Severity = Severity.NORMAL
    category: str | None = None  # the nature given at triage or reclassification
    triaged: bool = False
    resolutions: int = 0
    result_notified: bool = False
    before_wait: ComplaintState = S.IN_PROGRESS
    assignee: str | None = None
    group: str | None = None


# command name -> (event type it records, states it is allowed in)
COMMANDS: dict[str, tuple[type, tuple[ComplaintState, ...]]] = {
    "acknowledge": (ev.Acknowledged, (S.RECEIVED,)),
    "triage": (ev.Triaged, _HANDLING),
    "communicate_plan": (ev.PlanCommunicated, _HANDLING),
    "post_progress": (ev.ProgressPosted, _HANDLING),
    "await_customer": (ev.AwaitingCustomer, _HANDLING),
    "customer_responded": (ev.CustomerResponded, (S.AWAITING_CUSTOMER,)),
    "extend": (ev.Extended, _OPEN),
    "reclassify": (ev.Reclassified, _OPEN),
    "resolve": (ev.Resolved, (S.ACKNOWLEDGED, S.IN_PROGRESS, S.AWAITING_CUSTOMER)),
    "notify_result": (ev.ResultNotified, (S.RESOLVED,)),
    "reopen": (ev.Reopened, (S.RESOLVED,)),
    "record_feedback": (ev.FeedbackRecorded, (S.RESOLVED,)),
    "withdraw": (ev.Withdrawn, _OPEN),
    "assign": (ev.Assigned, _OPEN),
}


def check(facts: Facts, command: str, event: ev._Event) -> None:
    """Raise InvalidTransition with a message a desk agent can act on."""
    if command not in COMMANDS:
        raise InvalidTransition(f"unknown command {command!r}; known: {', '.join(COMMANDS)}")
    expected_type, allowed = COMMANDS[command]
    if not isinstance(event, expected_type):
        raise InvalidTransition(f"command {command!r} needs a {expected_type.__name__} event")
    if facts.state not in allowed:
        hint = " (acknowledge it first)" if facts.state is S.RECEIVED else ""
        raise InvalidTransition(
            f"cannot {command.replace('_', ' ')} a complaint that is {facts.state.value}{hint}; "
            f"allowed in: {', '.join(s.value for s in allowed)}"
        )
    if command == "triage" and facts.triaged:
        raise InvalidTransition("complaint is already triaged; use reclassify to change its severity")
    if (command == "reclassify" and isinstance(event, ev.Reclassified)
            and event.severity in (None, facts.severity) and event.category in (None, facts.category)):
        already = [f"{facts.severity.value}" if event.severity else "", f"in category {facts.category!r}"
                   if event.category else ""]
        raise InvalidTransition(f"complaint is already {' and '.join(a for a in already if a)}")
    if command == "notify_result" and facts.result_notified:
        raise InvalidTransition("the customer has already been notified of this result")


def apply(facts: Facts, event: ev._Event) -> Facts:
    """The facts after `event` (events come from the log, so they are applied without checks)."""
    match event:
        case ev.Received(severity=severity):
            return Facts(severity=severity)
        case ev.Acknowledged():
            return replace(facts, state=S.ACKNOWLEDGED)
        case ev.Triaged(category=category):
            return replace(facts, state=S.IN_PROGRESS, triaged=True, category=category or facts.category)
        case ev.PlanCommunicated() | ev.ProgressPosted():
            return replace(facts, state=S.IN_PROGRESS)
        case ev.AwaitingCustomer():
            return replace(facts, state=S.AWAITING_CUSTOMER, before_wait=facts.state)
        case ev.CustomerResponded():
            return replace(facts, state=facts.before_wait)
        case ev.Reclassified(severity=severity, category=category):
            return replace(facts, severity=severity or facts.severity, category=category or facts.category)
        case ev.Resolved():
            return replace(facts, state=S.RESOLVED, resolutions=facts.resolutions + 1, result_notified=False)
        case ev.ResultNotified():
            return replace(facts, result_notified=True)
        case ev.Reopened():
            return replace(facts, state=S.IN_PROGRESS)
        case ev.FeedbackRecorded() | ev.Closed():
            return replace(facts, state=S.CLOSED)
        case ev.Withdrawn():
            return replace(facts, state=S.WITHDRAWN)
        case ev.Assigned(to=to, group=group):
            return replace(facts, assignee=to, group=group)
    return facts


def replay(events: list) -> Facts:
    facts = Facts()
    for event in events:
        facts = apply(facts, event)
    return facts
