"""The public view of a complaint: what `status` answers and `cxsla complaint show --json` prints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from sla import events as ev
from sla.engine import BreachRecord, ClockStatus, EscalationRecord, Evaluation
from sla.notices import Undelivered
from sla.vocabulary import ComplaintState, Kind, Severity


class ComplaintStatus(BaseModel):
    id: str
    contract: str
    policy_version: str
    severity: Severity
    kind: Kind = Kind.COMPLAINT
    category: str | None = None  # the nature given at triage or reclassification: it may set its own targets
    state: ComplaintState
    received_at: datetime
    clocks: list[ClockStatus]
    breaches: list[BreachRecord]
    escalations: list[EscalationRecord]
    breached: bool
    at_risk: bool
    next_deadline: datetime | None
    next_due_at: datetime | None
    timeline: list[dict[str, Any]]
    engine_error: str | None = None
    provisional: bool = False  # a running clock touches a calendar year nobody has published yet
    calendar: str | None = None
    timezone: str | None = None  # the calendar's zone: where the complaint's people read its times
    undelivered: list[Undelivered] = []  # notices that failed and are being retried
    assignee: str | None = None  # the agent who owns it (assign)
    group: str | None = None  # the desk or queue that owns it
    # True in a command's answer: only the latest instance of each clock (and any still running or paused) and the
    # last BRIEF_TIMELINE timeline entries; `status`/`show` give everything.
    brief: bool = False
    # Read from the archive (the workflow is gone from Temporal): when and which run was archived, its category.
    archived: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        """JSON document for CLI/API consumers (`class`, not `breach_class`)."""
        return self.model_dump(mode="json", by_alias=True)


def build_status(
    *, complaint_id: str, contract: str, policy_version: str, events: list, evaluation: Evaluation,
    engine_error: str | None = None, undelivered: list[Undelivered] | None = None, calendar: str | None = None,
    timezone: str | None = None,
) -> ComplaintStatus:
    received = events[0]
    assert isinstance(received, ev.Received)
    assigned = next((e for e in reversed(events) if isinstance(e, ev.Assigned)), None)
    return ComplaintStatus(
        id=complaint_id,
        contract=contract,
        policy_version=policy_version,
        severity=evaluation.severity,
        kind=received.kind,
        category=evaluation.category,
        state=evaluation.state,
        received_at=received.at,
        clocks=evaluation.clocks,
        breaches=evaluation.breaches,
        escalations=evaluation.escalations,
        breached=evaluation.breached,
        at_risk=evaluation.at_risk,
        next_deadline=evaluation.next_deadline,
        next_due_at=evaluation.next_due_at,
        timeline=_timeline(events, set(evaluation.stale)),
        engine_error=engine_error,
        provisional=evaluation.provisional,
        calendar=calendar,
        timezone=timezone,
        undelivered=undelivered or [],
        assignee=assigned.to if assigned else None,
        group=assigned.group if assigned else None,
    )


def _timeline(events: list, stale: set[int]) -> list[dict[str, Any]]:
    """Every event as it was recorded, with what it said (its fields: clock, until, severity, note, reason, ...;
    never the customer's name or contact) and, for a reclassification, the severity it changed (`from_severity`); a
    fact that came for a clock instance no longer current says so."""
    entries, severity = [], None
    for position, event in enumerate(events):
        entry = {"type": event.type, "at": event.at.isoformat(), "by": event.by}
        entry.update(event.model_dump(mode="json", exclude=_NOT_DETAIL, exclude_none=True))
        if isinstance(event, ev.Resolved) and not (event.at_fault or event.remedy):
            entry.pop("at_fault", None)  # said only of a complaint verified as our fault (or given a remedy)
        if isinstance(event, ev.Reclassified) and severity is not None and event.severity is not None:
            entry["from_severity"] = severity.value
        if isinstance(event, ev.Received | ev.Reclassified) and event.severity is not None:
            severity = event.severity
        if position in stale:
            entry["stale"] = True
        entries.append(entry)
    return entries


def timeline_of(events: list, stale: set[int] | None = None) -> list[dict[str, Any]]:
    """The timeline of recorded events (the archive reads complaints back through this too)."""
    return _timeline(events, stale or set())


# The customer's name and contact stay in the event log (encrypted): a status is read by every desk role.
_NOT_DETAIL = {"type", "at", "by", "stale", "customer_name", "customer_contact"}
BRIEF_TIMELINE = 20


def brief(status: ComplaintStatus) -> ComplaintStatus:
    """A command's answer: bounded whatever the complaint's length, because every answer stays in its history
    (answering with all clocks and the whole timeline grew a long complaint's history with the square of its
    commands). The clocks that matter now are all there; `show` reads the rest."""
    latest = {}
    for clock in status.clocks:
        latest[clock.name] = clock
    clocks = [c for c in status.clocks if latest[c.name] is c or c.state.value in ("running", "paused")]
    # Entries without their free text: it would make every answer up to BRIEF_TIMELINE notes long.
    timeline = [{k: v for k, v in entry.items() if k not in ev.FREE_TEXT}
                for entry in status.timeline[-BRIEF_TIMELINE:]]
    return status.model_copy(update={"clocks": clocks, "timeline": timeline,
                                     "breaches": status.breaches[-BRIEF_TIMELINE:],
                                     "escalations": status.escalations[-BRIEF_TIMELINE:], "brief": True})


class Opening(BaseModel):
    """What an open asks of the complaint it starts or finds: the request's nonce (the run started by this very
    request carries it) and the fields a repeated open must agree on."""

    nonce: str
    contract: str
    severity: Severity
    channel: str | None = None
    customer_id: str | None = None


class OpenAnswer(BaseModel):
    created: bool  # this request started the complaint (False: it existed)
    status: ComplaintStatus
