"""The one deadline evaluator: every clock's deadline, warnings, breach and escalation ladder.

Complaint clocks (which pause, extend and restart), improvement-plan clocks, a report's delivery clock and an
outage's threshold are all spans of time with a target. This module turns one span into its deadline and its
actions, with deterministic ids (`resolve#1:breach`, `plan_submission#1:escalate:2`, ...), so a caller runs each
action exactly once by remembering the ids it fired, and every breach means the same thing to notifications,
metrics and alerts. The escalation ladder always runs on the contract's calendar (a breach at 02:00 on a
Saturday escalates "4 working hours" later on Monday); a wall-clock target's warnings run on the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from sla.calendar import WALL_CLOCK, BusinessCalendar
from sla.durations import Duration, DurationKind, parse_duration
from sla.vocabulary import BreachClass, ClockState

_ZERO = timedelta(0)


class ActionKind(str, Enum):
    WARN = "warn"
    BREACH = "breach"
    ESCALATE = "escalate"
    NOTIFY_EXTENSION = "notify_extension"  # tell the customer a deadline moved (000 §4.4)
    SEND_SURVEY = "send_survey"
    CLOSE = "close"
    DELIVER_REPORT = "deliver_report"  # a finished assessment report to the contract's recipients (000 §3.4)


class Due(BaseModel):
    """An action of a clock; `id` is deterministic, so the caller runs it exactly once."""

    model_config = ConfigDict(frozen=True)
    id: str
    kind: ActionKind
    due_at: datetime
    clock: str | None = None
    level: int | None = None
    to: str | None = None
    breach_class: BreachClass | None = None
    deadline: datetime | None = None
    detail: str | None = None


class DeadlineStatus(BaseModel):
    """A plan's, report's or outage's clock as `show` prints it."""

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
    provisional: bool = False  # computed on a calendar year nobody has published yet


class Ladder(BaseModel):
    """Escalation steps `(after the breach, to whom)`, in the contract's calendar."""

    steps: list[tuple[str, str]]

    @staticmethod
    def of(steps: Sequence) -> Ladder:
        return Ladder(steps=[(s.after, s.to) for s in steps])

    def parsed(self) -> list[tuple[Duration, str]]:
        return [(duration(after), to) for after, to in self.steps]


duration = parse_duration  # cached: every evaluation of every clock reads its policy's durations

@dataclass
class Span:
    """What happened to one clock instance: when it started, waited, was extended, and ended."""

    name: str
    index: int
    start: datetime
    pauses: list[list[datetime | None]] = field(default_factory=list)  # [start, end or None while waiting]
    extension: tuple[datetime, datetime] | None = None  # (extended at, until): the deadline becomes `until`
    met_at: datetime | None = None
    stopped_at: datetime | None = None

    @property
    def id(self) -> str:
        return f"{self.name}#{self.index}"

    @property
    def ended_at(self) -> datetime | None:
        return self.met_at or self.stopped_at

    @property
    def open(self) -> bool:
        return self.ended_at is None


@dataclass
class ClockResult:
    span: Span
    target: Duration
    breach_class: BreachClass
    deadline: datetime | None  # None while paused
    remaining: timedelta | None  # working time left, while paused
    state: ClockState
    breached_at: datetime | None
    warned: list[int]
    escalations: list[tuple[int, str, datetime]]  # (level, to, when) fired or due by now
    actions: list[Due]  # every action of the clock, fired or not, due or future
    met_after: timedelta | None  # working time it ran until met, pauses excluded
    provisional: bool


def evaluate_clock(
    span: Span, *, target: Duration, calendar: BusinessCalendar, warn_at: Sequence[float],
    ladder: Sequence[tuple[Duration, str]], breach_class: BreachClass, fired: Mapping[str, datetime], now: datetime,
) -> ClockResult:
    """The clock's deadline, state and actions at `now`.

    An action after the clock ended never becomes due. A warning not sent by the time its clock breached (a worker
    down, a complaint received long ago, a cycle started for a past period) is dropped: the breach supersedes it.
    A breach that fired stands even when a later extension or reclassification moved the deadline.
    """
    clock_cal = WALL_CLOCK if target.kind is DurationKind.WALL else calendar
    deadline, remaining, segments = _deadline(span, target, clock_cal)
    ended = span.ended_at

    def live_at(instant: datetime) -> bool:
        return ended is None or ended > instant

    prefix = span.id
    actions: list[Due] = []
    breach_id = f"{prefix}:breach"
    breach_live = deadline is not None and live_at(deadline)
    # the breach is due or done: unsent warnings are moot
    superseded = breach_live and deadline is not None and deadline <= now

    warned = []
    for fraction in warn_at:
        pct = round(fraction * 100)
        action_id = f"{prefix}:warn:{pct}"
        when = _at_fraction(segments, remaining, fraction, clock_cal)
        if when is None or not live_at(when) or (superseded and action_id not in fired):
            continue
        actions.append(Due(id=action_id, kind=ActionKind.WARN, due_at=when, clock=span.name, deadline=deadline,
                           detail=f"{pct}% of {target} used"))
        if action_id in fired:
            warned.append(pct)

    if breach_live:
        actions.append(Due(id=breach_id, kind=ActionKind.BREACH, due_at=deadline, clock=span.name,
                           breach_class=breach_class, deadline=deadline))
    breached_at = None
    if (breach_live and deadline is not None and deadline <= now) or breach_id in fired:
        breached_at = fired.get(breach_id, deadline)

    escalations = []
    for level, (after, to) in enumerate(ladder, start=1):
        esc_id = f"{prefix}:escalate:{level}"
        when = calendar.add(deadline, after) if breach_live and deadline is not None else None
        if when is not None and live_at(when):
            actions.append(Due(id=esc_id, kind=ActionKind.ESCALATE, due_at=when, clock=span.name, level=level,
                               to=to, breach_class=breach_class, deadline=deadline))
        elif esc_id not in fired:
            continue
        at = fired.get(esc_id, when)  # None only when neither fired nor due (skipped above)
        if at is not None and (esc_id in fired or at <= now):
            escalations.append((level, to, at))

    if breached_at is not None:
        state = ClockState.BREACHED
    elif span.met_at is not None:
        state = ClockState.MET
    elif span.stopped_at is not None:
        state = ClockState.STOPPED
    elif deadline is None:
        state = ClockState.PAUSED
    else:
        state = ClockState.RUNNING
    met_after = _business_used(span, clock_cal, span.met_at) if span.met_at else None
    # The deadline itself (or, while paused, the time so far) computed on a year nobody has published yet.
    provisional = clock_cal is calendar and calendar.provisional_between(span.start, max(deadline or now, span.start))
    return ClockResult(span=span, target=target, breach_class=breach_class, deadline=deadline, remaining=remaining,
                       state=state, breached_at=breached_at, warned=warned, escalations=escalations,
                       actions=actions, met_after=met_after, provisional=provisional)


def _deadline(span: Span, target: Duration, cal: BusinessCalendar
              ) -> tuple[datetime | None, timedelta | None, list[tuple[datetime, datetime]]]:
    """(deadline after pauses and extension, working time left while paused, the running segments)."""
    if span.extension:
        extended_at, deadline = span.extension
        # The extension is absolute: only waiting after it moves it again (a wait still open counts from it).
        pauses = [[max(p[0] or extended_at, extended_at), p[1]]  # a pause always has its start
                  for p in span.pauses if p[1] is None or p[1] > extended_at]
    else:
        deadline = cal.add(span.start, target)
        pauses = span.pauses
    segments: list[tuple[datetime, datetime]] = []
    cursor = span.start
    remaining = None
    for start, end in pauses:
        assert start is not None  # a pause always has its start; only its end may be open
        if start >= deadline:
            break  # paused after breaching: the breach stands
        segments.append((cursor, start))
        left = cal.business_between(start, deadline)
        if end is None:
            return None, left, segments
        cursor = end
        deadline = cal.add_business(end, left)
    segments.append((cursor, deadline))
    return deadline, remaining, segments


def _business_used(span: Span, cal: BusinessCalendar, until: datetime) -> timedelta:
    """Working time the clock ran from its start until `until`, time spent paused excluded."""
    used = cal.business_between(span.start, until)
    for start, end in span.pauses:
        assert start is not None  # a pause always has its start; only its end may be open
        if start >= until:
            break
        used -= cal.business_between(start, min(end or until, until))
    return used


def _at_fraction(segments: list[tuple[datetime, datetime]], remaining: timedelta | None, fraction: float,
                 cal: BusinessCalendar) -> datetime | None:
    """When `fraction` of the clock's working-time budget has been used (None while not knowable yet)."""
    lengths = [cal.business_between(a, b) for a, b in segments]
    budget = sum(lengths, _ZERO) + (remaining or _ZERO)
    goal = budget * fraction
    for (a, _), length in zip(segments, lengths, strict=True):
        if goal <= length:
            return cal.add_business(a, goal) if goal > _ZERO else a
        goal -= length
    return None


def deadline_status(result: ClockResult, fired: Mapping[str, datetime]) -> DeadlineStatus:
    """The result as a plan's, report's or outage's clock (these never pause, so the deadline is known)."""
    span = result.span
    return DeadlineStatus(
        name=span.name, instance=span.index, state=result.state, target=str(result.target), started_at=span.start,
        deadline=result.deadline, met_at=span.met_at, breached_at=result.breached_at,
        breach_class=result.breach_class, warned=result.warned,
        escalated=[a.level for a in result.actions if a.kind is ActionKind.ESCALATE and a.id in fired],
        provisional=result.provisional,
    )


def evaluate_deadline(
    *, name: str, instance: int, start: datetime, target: str | Duration, calendar: BusinessCalendar,
    ended_at: datetime | None, stopped: bool = False, warn_at: Sequence[float], ladder: Ladder,
    breach_class: BreachClass, fired: Mapping[str, datetime], now: datetime,
) -> tuple[DeadlineStatus, list[Due]]:
    """A clock that only starts, ends and passes (plans, reports, outages): its status and every action."""
    span = Span(name=name, index=instance, start=start,
                met_at=None if stopped else ended_at, stopped_at=ended_at if stopped else None)
    result = evaluate_clock(span, target=duration(target) if isinstance(target, str) else target,
                            calendar=calendar, warn_at=warn_at, ladder=ladder.parsed(), breach_class=breach_class,
                            fired=fired, now=now)
    return deadline_status(result, fired), result.actions


def split_due(actions: list[Due], fired: Mapping[str, datetime], now: datetime) -> tuple[list[Due], datetime | None]:
    """(actions due now and not fired, in order; the instant the next one becomes due)."""
    actions = sorted(actions, key=lambda a: (a.due_at, a.id))
    due = [a for a in actions if a.due_at <= now and a.id not in fired]
    future = [a.due_at for a in actions if a.due_at > now and a.id not in fired]
    return due, (future[0] if future else None)
