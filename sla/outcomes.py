"""A complaint's outcome for assessment: the facts the KPIs need, without personal data.

`outcome_of` derives it from the event log and the engine's evaluation; the complaint workflow keeps it in its
memo, so an assessment cycle reads every complaint of a period from Temporal visibility without replaying one.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sla import events as ev
from sla import names
from sla.engine import Evaluation
from sla.vocabulary import BreachClass, Channel, ClockName, ClockState, ComplaintState, Kind, Remedy, Severity

MEMO_KEY = names.OUTCOME_MEMO
MAJOR_SEVERITIES = frozenset({Severity.CRITICAL, Severity.MAJOR})


class ClockTally(BaseModel):
    """Decided instances of one clock: met in time, or breached (a breach stands once its deadline passed)."""

    model_config = ConfigDict(extra="forbid")
    met: int = 0
    breached: int = 0

    def add(self, other: ClockTally) -> ClockTally:
        return ClockTally(met=self.met + other.met, breached=self.breached + other.breached)


class ComplaintOutcome(BaseModel):
    model_config = ConfigDict(extra="ignore")  # memos written by newer workers may carry more

    complaint_id: str
    contract: str
    severity: Severity
    kind: Kind = Kind.COMPLAINT
    channel: Channel | None = None
    received_at: datetime
    state: ComplaintState
    acknowledged_at: datetime | None = None
    first_response_seconds: float | None = None  # wall clock, receipt to acknowledgment
    first_response_business_seconds: float | None = None  # working time (the agreement's measure)
    resolutions: int = 0
    resolved_at: datetime | None = None  # the last resolution, while it stands (None in memos written before)
    # The current resolve clock's deadline (None while it is paused): whether it had passed by a period's end
    # decides whether an unresolved complaint counts against the resolution rate or is still pending.
    resolve_deadline: datetime | None = None
    reopened: int = 0
    first_contact: bool = False  # the last resolution was at first contact
    remedy: Remedy | None = None
    at_fault: bool = False  # the last resolution found the complaint to be the provider's fault (000 §4.5)
    handling_seconds: int | None = None  # reported by agents on progress posts and resolutions
    # None until decided: False once any resolve deadline passed unmet, True once resolved without a breach.
    resolved_in_time: bool | None = None
    category: str | None = None  # the nature given at triage or reclassification (002 §1.3)
    clocks: dict[ClockName, ClockTally] = Field(default_factory=dict)
    breaches: dict[BreachClass, int] = Field(default_factory=dict)
    csat: int | None = None
    nps: int | None = None
    ces: int | None = None

    @property
    def withdrawn(self) -> bool:
        return self.state is ComplaintState.WITHDRAWN

    @property
    def resolved(self) -> bool:
        """Resolved now (a reopened complaint counts again only once it is resolved again)."""
        return self.resolutions > 0 and self.state in (ComplaintState.RESOLVED, ComplaintState.CLOSED)

    def decided_by(self, end: datetime) -> tuple[bool, bool]:
        """(decided, resolved) at `end` for the resolution rate: a complaint is decided once resolved, or once its
        resolve deadline has passed unresolved; until then it is pending, neither a success nor a miss."""
        resolved = self.resolved and (self.resolved_at is None or self.resolved_at <= end)
        overdue = self.resolve_deadline is not None and self.resolve_deadline <= end
        return resolved or overdue, resolved

    @property
    def resolved_at_first_contact(self) -> bool:
        return self.resolved and self.first_contact and self.reopened == 0


def outcome_of(events: list, evaluation: Evaluation) -> ComplaintOutcome:
    received = events[0]
    if not isinstance(received, ev.Received):
        raise ValueError("a complaint's event log starts with a Received event")
    handling: int | None = None
    resolutions = reopened = 0
    resolved_at: datetime | None = None
    first_contact = at_fault = False
    remedy = None
    feedback: ev.FeedbackRecorded | None = None
    for event in events:
        seconds = getattr(event, "handling_seconds", None)
        if seconds is not None:
            handling = (handling or 0) + seconds
        match event:
            case ev.Resolved():
                resolutions += 1
                resolved_at = event.at
                first_contact, remedy, at_fault = event.first_contact, event.remedy, event.at_fault
            case ev.Reopened():
                reopened += 1
            case ev.FeedbackRecorded():
                feedback = event

    clocks: dict[ClockName, ClockTally] = {}
    for clock in evaluation.clocks:
        tally = clocks.setdefault(clock.name, ClockTally())
        if clock.state is ClockState.MET:
            tally.met += 1
        elif clock.state is ClockState.BREACHED:
            tally.breached += 1
    breaches: dict[BreachClass, int] = {}
    for breach in evaluation.breaches:
        breaches[breach.breach_class] = breaches.get(breach.breach_class, 0) + 1

    ack = next((c for c in evaluation.clocks if c.name is ClockName.ACKNOWLEDGE and c.met_at), None)
    resolve_clock = next((c for c in reversed(evaluation.clocks) if c.name is ClockName.RESOLVE), None)
    resolve = clocks.get(ClockName.RESOLVE, ClockTally())
    resolved_now = resolutions > 0 and evaluation.state in (ComplaintState.RESOLVED, ComplaintState.CLOSED)
    in_time = False if resolve.breached else (True if resolved_now else None)
    return ComplaintOutcome(
        complaint_id=received.complaint_id,
        contract=received.contract,
        severity=evaluation.severity,
        kind=received.kind,
        channel=received.channel,
        received_at=received.at,
        state=evaluation.state,
        acknowledged_at=ack.met_at if ack else None,
        first_response_seconds=(ack.met_at - ack.started_at).total_seconds() if ack and ack.met_at else None,
        first_response_business_seconds=ack.met_after_business_seconds if ack else None,
        resolutions=resolutions,
        resolved_at=resolved_at if resolved_now else None,
        resolve_deadline=resolve_clock.deadline if resolve_clock else None,
        reopened=reopened,
        first_contact=first_contact,
        remedy=remedy,
        at_fault=at_fault,
        handling_seconds=handling,
        resolved_in_time=in_time,
        category=evaluation.category,
        clocks=clocks,
        breaches=breaches,
        csat=feedback.csat if feedback else None,
        nps=feedback.nps if feedback else None,
        ces=feedback.ces if feedback else None,
    )
