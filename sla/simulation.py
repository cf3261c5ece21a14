"""What-if: the recorded events of a period's complaints replayed through the engine under another policy.

The engine is a pure function of (policy, events, now), so the same event logs that ran under the contract's
policy can be evaluated under a proposed one: which breaches would have happened, which targets would be met.
Survey scores do not depend on the policy and are left out; complaint-derived KPIs are compared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from sla.calendar import BusinessCalendar, CalendarData
from sla.engine import evaluate
from sla.events import Event
from sla.kpi import Assessment, KpiName, PeriodTally, Target, assess
from sla.outcomes import outcome_of
from sla.policy import ContractPolicy


class RecordedComplaint(BaseModel):
    """A complaint as it ran: its events, the policy it carried, the actions it fired (when)."""

    complaint_id: str
    policy: ContractPolicy
    events: list[Event]
    fired: dict[str, datetime]
    calendar: CalendarData | None = None  # None: recorded before calendars travelled with their clocks


FREE_TEXT = ("customer_name", "customer_contact", "summary", "note", "reason", "plan", "comment")


def without_personal_data(events: list) -> list:
    """The events with names, contacts and free text removed: what-if needs only types, times and flags."""
    out = []
    for event in events:
        # a required text (a closing's reason) becomes "-", so the copy still reads back as its event
        update = {name: "-" if type(event).model_fields[name].is_required() else None
                  for name in FREE_TEXT if getattr(event, name, None) is not None}
        if getattr(event, "resolution", None):
            update["resolution"] = "-"
        out.append(event.model_copy(update=update) if update else event)
    return out


class BreachCount(BaseModel):
    clock: str
    breach_class: str
    before: int
    after: int


class Simulation(BaseModel):
    contract: str
    period: str
    complaints: int
    recorded_policy_versions: list[str]
    proposed_policy_version: str
    breaches: list[BreachCount]
    before: Assessment
    after: Assessment
    changed_complaints: list[str]  # whose breaches differ (at most 50 listed)


def simulate(
    complaints: list[RecordedComplaint], *, proposed: ContractPolicy, contract: str, period: str, start: datetime,
    end: datetime, now: datetime, targets_before: dict[KpiName, Target], targets_after: dict[KpiName, Target],
    assessed: list[KpiName], calendar_before: Callable[[RecordedComplaint], BusinessCalendar],
    calendar_after: Callable[[RecordedComplaint], BusinessCalendar],
) -> Simulation:
    """`calendar_before`/`calendar_after` give the calendar each complaint ran on / would run on under `proposed`."""
    before_tally, after_tally = PeriodTally(decided_by=end), PeriodTally(decided_by=end)
    before_breaches: Counter = Counter()
    after_breaches: Counter = Counter()
    changed: list[str] = []
    for complaint in complaints:
        before = evaluate(complaint.policy, complaint.events, now, complaint.fired,
                          calendar=calendar_before(complaint))
        after = evaluate(proposed, complaint.events, now, calendar=calendar_after(complaint))
        before_tally.add(outcome_of(complaint.events, before))
        after_tally.add(outcome_of(complaint.events, after))
        b = Counter((x.clock.value, x.breach_class.value) for x in before.breaches)
        a = Counter((x.clock.value, x.breach_class.value) for x in after.breaches)
        before_breaches.update(b)
        after_breaches.update(a)
        if a != b and len(changed) < 50:
            changed.append(complaint.complaint_id)
    common: dict[str, Any] = dict(contract=contract, period=period, start=start, end=end, now=now, batches=[],
                                  interruptions=[], assessed=assessed)
    keys = sorted(set(before_breaches) | set(after_breaches))
    return Simulation(
        contract=contract, period=period, complaints=len(complaints),
        recorded_policy_versions=sorted({c.policy.version for c in complaints}),
        proposed_policy_version=proposed.version,
        breaches=[BreachCount(clock=c, breach_class=k, before=before_breaches[(c, k)], after=after_breaches[(c, k)])
                  for c, k in keys],
        before=assess(tally=before_tally, targets=targets_before, **common),
        after=assess(tally=after_tally, targets=targets_after, **common),
        changed_complaints=changed,
    )
