"""One deadline with warnings, a breach and an escalation ladder: the clock of plans, reports and outages.

Complaint clocks pause, extend and reclassify (sla/engine.py); the clocks of improvement plans, assessment
reports and service interruptions only start, end and pass. This is that simpler clock, with the same action
ids and meaning, so notifications, metrics and alerts treat every breach alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sla.calendar import BusinessCalendar
from sla.durations import Duration, DurationKind, parse_duration
from sla.engine import WALL_CLOCK, ActionKind
from sla.vocabulary import BreachClass, ClockState


class Due(BaseModel):
    """An action of a deadline clock; `id` is deterministic, so the caller runs it exactly once."""

    model_config = ConfigDict(frozen=True)
    id: str
    kind: ActionKind
    due_at: datetime
    clock: str
    level: int | None = None
    to: str | None = None
    breach_class: BreachClass | None = None
    deadline: datetime | None = None
    detail: str | None = None


class DeadlineStatus(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    name: str
    instance: int
    state: ClockState
    target: str
    started_at: datetime
    deadline: datetime
    met_at: datetime | None = None
    breached_at: datetime | None = None
    breach_class: BreachClass = Field(alias="class")
    warned: list[int] = Field(default_factory=list)
    escalated: list[int] = Field(default_factory=list)  # ladder levels that fired


class Ladder(BaseModel):
    """Escalation steps `(after the breach, to whom)` in the contract's calendar."""

    steps: list[tuple[str, str]]

    @staticmethod
    def of(steps: Sequence) -> Ladder:
        return Ladder(steps=[(s.after, s.to) for s in steps])


def evaluate_deadline(
    *, name: str, instance: int, start: datetime, target: str | Duration, calendar: BusinessCalendar,
    ended_at: datetime | None, stopped: bool = False, warn_at: Sequence[float], ladder: Ladder,
    breach_class: BreachClass, fired: Mapping[str, datetime], now: datetime,
) -> tuple[DeadlineStatus, list[Due]]:
    """The clock's status at `now` and every action it has (fired or not, due or future).

    `ended_at` is when the clock was met (or stopped when `stopped`); an action after that never becomes due.
    A warning not sent by the time the deadline passes (a cycle started for a long-past period, a worker down)
    is dropped: the breach supersedes it.
    """
    duration = parse_duration(target) if isinstance(target, str) else target
    if duration.kind is DurationKind.WALL:
        calendar = WALL_CLOCK  # "4h" runs around the clock: its warnings too (as complaint clocks do)
    deadline = calendar.add(start, duration)
    prefix = f"{name}#{instance}"
    actions: list[Due] = []

    def live(at: datetime) -> bool:
        return ended_at is None or ended_at > at

    budget = calendar.business_between(start, deadline)
    for fraction in warn_at:
        pct = round(fraction * 100)
        when = calendar.add_business(start, budget * fraction) if budget.total_seconds() > 0 else start
        action_id = f"{prefix}:warn:{pct}"
        superseded = deadline <= now and action_id not in fired and live(deadline)
        if live(when) and not superseded:
            actions.append(Due(id=action_id, kind=ActionKind.WARN, due_at=when, clock=name,
                               deadline=deadline, detail=f"{pct}% of {duration} used"))
    breached_at = None
    if live(deadline):
        actions.append(Due(id=f"{prefix}:breach", kind=ActionKind.BREACH, due_at=deadline, clock=name,
                           breach_class=breach_class, deadline=deadline))
        for level, (after, to) in enumerate(ladder.steps, start=1):
            when = calendar.add(deadline, parse_duration(after))
            if live(when):
                actions.append(Due(id=f"{prefix}:escalate:{level}", kind=ActionKind.ESCALATE, due_at=when,
                                   clock=name, level=level, to=to, breach_class=breach_class, deadline=deadline))
        if deadline <= now:
            breached_at = fired.get(f"{prefix}:breach", deadline)
    elif f"{prefix}:breach" in fired:
        breached_at = fired[f"{prefix}:breach"]

    if breached_at is not None:
        state = ClockState.BREACHED
    elif ended_at is not None:
        state = ClockState.STOPPED if stopped else ClockState.MET
    else:
        state = ClockState.RUNNING
    status = DeadlineStatus(
        name=name, instance=instance, state=state, target=str(duration), started_at=start, deadline=deadline,
        met_at=None if stopped else ended_at, breached_at=breached_at, breach_class=breach_class,
        warned=[int(a.id.rsplit(":", 1)[1]) for a in actions if a.kind is ActionKind.WARN and a.id in fired],
        escalated=[a.level for a in actions if a.kind is ActionKind.ESCALATE and a.id in fired],
    )
    return status, actions


def split_due(actions: list[Due], fired: Mapping[str, datetime], now: datetime) -> tuple[list[Due], datetime | None]:
    """(actions due now and not fired, in order; the instant the next one becomes due)."""
    actions = sorted(actions, key=lambda a: (a.due_at, a.id))
    due = [a for a in actions if a.due_at <= now and a.id not in fired]
    future = [a.due_at for a in actions if a.due_at > now and a.id not in fired]
    return due, (future[0] if future else None)
