"""The public view of a complaint: what `status` answers and `cxsla complaint show --json` prints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from sla import events as ev
from sla.notices import Undelivered
from sla.engine import BreachRecord, ClockStatus, EscalationRecord, Evaluation
from sla.vocabulary import ComplaintState, Severity


class ComplaintStatus(BaseModel):
    id: str
    contract: str
    policy_version: str
    severity: Severity
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
    undelivered: list[Undelivered] = []  # notices that failed and are being retried

    def public(self) -> dict[str, Any]:
        """JSON document for CLI/API consumers (`class`, not `breach_class`)."""
        return self.model_dump(mode="json", by_alias=True)


def build_status(
    *, complaint_id: str, contract: str, policy_version: str, events: list, evaluation: Evaluation,
    engine_error: str | None = None, undelivered: list[Undelivered] | None = None, calendar: str | None = None,
) -> ComplaintStatus:
    received = events[0]
    assert isinstance(received, ev.Received)
    return ComplaintStatus(
        id=complaint_id,
        contract=contract,
        policy_version=policy_version,
        severity=evaluation.severity,
        state=evaluation.state,
        received_at=received.at,
        clocks=evaluation.clocks,
        breaches=evaluation.breaches,
        escalations=evaluation.escalations,
        breached=evaluation.breached,
        at_risk=evaluation.at_risk,
        next_deadline=evaluation.next_deadline,
        next_due_at=evaluation.next_due_at,
        timeline=[{"type": e.type, "at": e.at.isoformat(), "by": e.by} for e in events],
        engine_error=engine_error,
        provisional=evaluation.provisional,
        calendar=calendar,
        undelivered=undelivered or [],
    )
