"""The SLA engine: (policy, events, now, fired actions) -> clock states, due actions, next due instant.

Pure and total: the workflow, the CLI's `show` and offline what-if simulation all call `evaluate`. Every action
has a deterministic id (`resolve#1:breach`, `acknowledge#1:escalate:2`, ...), so the caller can run each one
exactly once by remembering the ids it has fired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from sla import events as ev
from sla.calendar import BusinessCalendar
from sla.durations import Duration, DurationKind, parse_duration
from sla.lifecycle import Facts, apply
from sla.policy import ContractPolicy
from sla.vocabulary import PAUSABLE_CLOCKS, BreachClass, ClockName, ClockState, ComplaintState, Severity

C = ClockName
_ZERO = timedelta(0)
# A wall-clock target ("PT30S", "48h") runs around the clock even on a business calendar: its pauses and
# warnings are measured in wall time too.
_WALL_CLOCK = BusinessCalendar(
    name="wall-clock", tz=ZoneInfo("UTC"), windows=((time(0), None),), workdays=frozenset(range(7))
)
WALL_CLOCK = _WALL_CLOCK


class ActionKind(str, Enum):
    WARN = "warn"
    BREACH = "breach"
    ESCALATE = "escalate"
    NOTIFY_EXTENSION = "notify_extension"  # tell the customer a deadline moved (000 §4.4)
    SEND_SURVEY = "send_survey"
    CLOSE = "close"


class Action(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    kind: ActionKind
    due_at: datetime
    clock: ClockName | None = None
    level: int | None = None
    to: str | None = None
    breach_class: BreachClass | None = None
    deadline: datetime | None = None
    detail: str | None = None


class ClockStatus(BaseModel):
    name: ClockName
    instance: int
    state: ClockState
    started_at: datetime
    target: str
    deadline: datetime | None  # None while paused
    remaining_seconds: float | None = None  # business seconds left, while paused
    met_at: datetime | None = None
    # Working time the clock ran until it was met, pauses excluded (what "time to acknowledge" means in the
    # agreement); None until met.
    met_after_business_seconds: float | None = None
    breached_at: datetime | None = None
    warned: list[int] = []  # warning percentages that have fired
    extended_until: datetime | None = None


class BreachRecord(BaseModel):
    clock: ClockName
    instance: int
    model_config = ConfigDict(populate_by_name=True)
    breach_class: BreachClass = Field(alias="class")
    deadline: datetime
    at: datetime  # when it was noticed (fired); the deadline itself when not fired yet


class EscalationRecord(BaseModel):
    clock: ClockName
    instance: int
    level: int
    to: str
    at: datetime


class Evaluation(BaseModel):
    state: ComplaintState
    severity: Severity
    clocks: list[ClockStatus]
    due: list[Action]  # due now and not fired yet, in due order
    next_due_at: datetime | None
    next_action: str | None = None  # id of what becomes due at next_due_at
    next_deadline: datetime | None  # earliest deadline of a running clock
    breaches: list[BreachRecord]
    escalations: list[EscalationRecord]
    breached: bool
    at_risk: bool  # a running clock has passed a warning threshold and is not breached


@dataclass
class _Pause:
    start: datetime
    end: datetime | None = None


@dataclass
class _Instance:
    clock: ClockName
    index: int
    start: datetime
    pauses: list[_Pause] = field(default_factory=list)
    extension: tuple[datetime, datetime] | None = None  # (extended at, until)
    met_at: datetime | None = None
    stopped_at: datetime | None = None
    # filled by _resolve_deadline
    deadline: datetime | None = None
    remaining: timedelta | None = None
    segments: list[tuple[datetime, datetime]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.clock.value}#{self.index}"

    @property
    def ended_at(self) -> datetime | None:
        return self.met_at or self.stopped_at

    @property
    def open(self) -> bool:
        return self.ended_at is None


@dataclass
class _Fold:
    """Clock instances and action sources built from the event log."""

    facts: Facts = field(default_factory=Facts)
    instances: list[_Instance] = field(default_factory=list)
    extension_notices: list[tuple[int, ev.Extended]] = field(default_factory=list)
    survey_triggers: list[tuple[int, datetime]] = field(default_factory=list)  # (survey instance, when)
    survey_sent_at: datetime | None = None
    terminal_at: datetime | None = None

    def current(self, clock: ClockName) -> _Instance | None:
        for inst in reversed(self.instances):
            if inst.clock is clock:
                return inst
        return None

    def start(self, clock: ClockName, at: datetime) -> None:
        previous = self.current(clock)
        index = previous.index + 1 if previous else 1
        self.instances.append(_Instance(clock, index, at))

    def meet(self, clock: ClockName, at: datetime) -> None:
        inst = self.current(clock)
        if inst and inst.open:
            inst.met_at = at

    def stop(self, clock: ClockName, at: datetime) -> None:
        inst = self.current(clock)
        if inst and inst.open:
            inst.stopped_at = at
            if inst.pauses and inst.pauses[-1].end is None:
                inst.pauses[-1].end = at

    def open_instances(self) -> list[_Instance]:
        return [inst for inst in self.instances if inst.open]


def _fold(events: list) -> _Fold:
    fold = _Fold()
    for position, event in enumerate(events):
        at = event.at
        match event:
            case ev.Received():
                for clock in (C.ACKNOWLEDGE, C.TRIAGE, C.HANDLING_PLAN, C.PROGRESS_UPDATE, C.RESOLVE):
                    fold.start(clock, at)
            case ev.Acknowledged():
                fold.meet(C.ACKNOWLEDGE, at)
            case ev.Triaged():
                fold.meet(C.TRIAGE, at)
            case ev.PlanCommunicated():
                fold.meet(C.HANDLING_PLAN, at)
            case ev.ProgressPosted():
                fold.meet(C.PROGRESS_UPDATE, at)
                fold.start(C.PROGRESS_UPDATE, at)
            case ev.AwaitingCustomer():
                for inst in fold.open_instances():
                    if inst.clock in PAUSABLE_CLOCKS:
                        inst.pauses.append(_Pause(at))
            case ev.CustomerResponded():
                _resume_all(fold, at)
            case ev.Extended(clock=clock, until=until):
                inst = fold.current(clock)
                if inst and inst.open:
                    inst.extension = (at, until)
                fold.extension_notices.append((position, event))
            case ev.Resolved():
                _resume_all(fold, at)
                fold.meet(C.RESOLVE, at)
                for clock in (C.ACKNOWLEDGE, C.TRIAGE, C.HANDLING_PLAN, C.PROGRESS_UPDATE):
                    fold.stop(clock, at)
                fold.start(C.NOTIFY_RESULT, at)
                fold.start(C.SURVEY, at)
            case ev.ResultNotified():
                fold.meet(C.NOTIFY_RESULT, at)
                survey = fold.current(C.SURVEY)
                if survey and survey.open:
                    fold.survey_triggers.append((survey.index, at))
            case ev.SurveySent():
                fold.meet(C.SURVEY, at)
                fold.survey_sent_at = at
            case ev.Reopened():
                fold.stop(C.NOTIFY_RESULT, at)
                fold.stop(C.SURVEY, at)
                fold.survey_sent_at = None
                fold.start(C.RESOLVE, at)
                fold.start(C.PROGRESS_UPDATE, at)
            case ev.FeedbackRecorded() | ev.Closed() | ev.Withdrawn():
                for inst in fold.open_instances():
                    fold.stop(inst.clock, at)
                fold.terminal_at = at
        fold.facts = apply(fold.facts, event)
    return fold


def _resume_all(fold: _Fold, at: datetime) -> None:
    for inst in fold.open_instances():
        if inst.pauses and inst.pauses[-1].end is None:
            inst.pauses[-1].end = at


def _resolve_deadline(inst: _Instance, target: Duration, cal: BusinessCalendar) -> None:
    """Deadline after pauses and extension; the running segments that make up the clock's budget."""
    if inst.extension:
        extended_at, deadline = inst.extension
        # The extension is absolute: only waiting after it moves it again (a wait still open counts from it).
        pauses = [_Pause(max(p.start, extended_at), p.end) for p in inst.pauses
                  if p.end is None or p.end > extended_at]
    else:
        deadline = cal.add(inst.start, target)
        pauses = inst.pauses
    segments: list[tuple[datetime, datetime]] = []
    cursor = inst.start
    remaining = None
    for pause in pauses:
        if pause.start >= deadline:
            break  # paused after breaching: the breach stands
        segments.append((cursor, pause.start))
        left = cal.business_between(pause.start, deadline)
        if pause.end is None:
            remaining, deadline = left, None
            break
        cursor = pause.end
        deadline = cal.add_business(pause.end, left)
    if deadline is not None:
        segments.append((cursor, deadline))
    inst.deadline, inst.remaining, inst.segments = deadline, remaining, segments


def _business_used(inst: _Instance, cal: BusinessCalendar, until: datetime) -> timedelta:
    """Working time the clock ran from its start until `until`, time spent paused excluded."""
    used = cal.business_between(inst.start, until)
    for pause in inst.pauses:
        if pause.start >= until:
            break
        used -= cal.business_between(pause.start, min(pause.end or until, until))
    return used


def _instant_at_fraction(inst: _Instance, fraction: float, cal: BusinessCalendar) -> datetime | None:
    """When `fraction` of the clock's working-time budget has been used (None while not knowable yet)."""
    lengths = [cal.business_between(a, b) for a, b in inst.segments]
    budget = sum(lengths, _ZERO) + (inst.remaining or _ZERO)
    goal = budget * fraction
    for (a, _), length in zip(inst.segments, lengths):
        if goal <= length:
            return cal.add_business(a, goal) if goal > _ZERO else a
        goal -= length
    return None


def evaluate(
    policy: ContractPolicy, events: list, now: datetime, fired: dict[str, datetime] | None = None
) -> Evaluation:
    """Evaluate a complaint's event log at `now`. `fired` maps action ids already run to when they ran."""
    fired = fired or {}
    if not events or not isinstance(events[0], ev.Received):
        raise ValueError("a complaint's event log starts with a Received event")
    cal = policy.business_calendar()
    fold = _fold(events)
    severity = fold.facts.severity
    ladder = [(parse_duration(step.after), step.to) for step in policy.escalation]

    candidates: list[Action] = []
    clocks: list[ClockStatus] = []
    breaches: list[BreachRecord] = []
    escalations: list[EscalationRecord] = []
    at_risk = False

    for inst in fold.instances:
        target = policy.target(inst.clock, severity)
        clock_cal = _WALL_CLOCK if target.kind is DurationKind.WALL else cal
        _resolve_deadline(inst, target, clock_cal)
        ended = inst.ended_at
        breach_class = policy.breach_class(inst.clock, severity)

        def live_at(instant: datetime, *, ended=ended) -> bool:
            """Was the clock still unmet and not stopped at `instant`?"""
            return ended is None or ended > instant

        warned = []
        for fraction in policy.warn_at:
            pct = round(fraction * 100)
            when = _instant_at_fraction(inst, fraction, clock_cal)
            if when is not None and live_at(when):
                action_id = f"{inst.id}:warn:{pct}"
                candidates.append(
                    Action(id=action_id, kind=ActionKind.WARN, due_at=when, clock=inst.clock,
                           deadline=inst.deadline, detail=f"{pct}% of {target} used")
                )
                if action_id in fired:
                    warned.append(pct)

        breached_at = None
        breach_id = f"{inst.id}:breach"
        breach_fired = fired.get(breach_id)
        breach_live = inst.deadline is not None and live_at(inst.deadline)
        if breach_live:
            candidates.append(
                Action(id=breach_id, kind=ActionKind.BREACH, due_at=inst.deadline, clock=inst.clock,
                       breach_class=breach_class, deadline=inst.deadline)
            )
        # A breach that fired stands, even when a later reclassification or extension moved the deadline.
        if (breach_live and inst.deadline <= now) or breach_fired is not None:
            breached_at = breach_fired or inst.deadline
            breaches.append(
                BreachRecord(clock=inst.clock, instance=inst.index, breach_class=breach_class,
                             deadline=inst.deadline or breached_at, at=breached_at)
            )
        for level, (after, to) in enumerate(ladder, start=1):
            esc_id = f"{inst.id}:escalate:{level}"
            when = cal.add(inst.deadline, after) if breach_live else None
            if when is not None and live_at(when):
                candidates.append(
                    Action(id=esc_id, kind=ActionKind.ESCALATE, due_at=when, clock=inst.clock, level=level,
                           to=to, breach_class=breach_class, deadline=inst.deadline)
                )
            elif esc_id not in fired:
                continue
            if esc_id in fired or when <= now:
                escalations.append(
                    EscalationRecord(clock=inst.clock, instance=inst.index, level=level, to=to,
                                     at=fired.get(esc_id, when))
                )

        state = _clock_state(inst, breached_at, now)
        if state in (ClockState.RUNNING, ClockState.PAUSED) and warned:
            at_risk = True
        clocks.append(
            ClockStatus(
                name=inst.clock, instance=inst.index, state=state, started_at=inst.start, target=str(target),
                deadline=inst.deadline,
                remaining_seconds=inst.remaining.total_seconds() if inst.remaining is not None else None,
                met_at=inst.met_at, breached_at=breached_at, warned=warned,
                met_after_business_seconds=(
                    _business_used(inst, clock_cal, inst.met_at).total_seconds() if inst.met_at else None
                ),
                extended_until=inst.extension[1] if inst.extension else None,
            )
        )

    for position, extended in fold.extension_notices:
        candidates.append(
            Action(id=f"extension:{position}:notify_customer", kind=ActionKind.NOTIFY_EXTENSION,
                   due_at=extended.at, clock=extended.clock, deadline=extended.until, detail=extended.reason)
        )
    for index, when in fold.survey_triggers:
        survey = next(i for i in fold.instances if i.clock is C.SURVEY and i.index == index)
        if survey.open:  # not after a reopen or once feedback closed the complaint
            candidates.append(Action(id=f"survey#{index}:send", kind=ActionKind.SEND_SURVEY, due_at=when,
                                     clock=C.SURVEY))
    if fold.survey_sent_at is not None and fold.terminal_at is None:
        candidates.append(
            Action(id="close", kind=ActionKind.CLOSE, due_at=cal.add(fold.survey_sent_at,
                   parse_duration(policy.survey_window)), detail="survey window ended without feedback")
        )

    candidates.sort(key=lambda a: (a.due_at, a.id))
    due = [a for a in candidates if a.due_at <= now and a.id not in fired]
    future = [a for a in candidates if a.due_at > now and a.id not in fired]
    running = [c.deadline for c in clocks if c.state is ClockState.RUNNING and c.deadline]
    return Evaluation(
        state=fold.facts.state,
        severity=severity,
        clocks=clocks,
        due=due,
        next_due_at=future[0].due_at if future else None,
        next_action=future[0].id if future else None,
        next_deadline=min(running) if running else None,
        breaches=breaches,
        escalations=escalations,
        breached=bool(breaches),
        at_risk=at_risk,
    )


def _clock_state(inst: _Instance, breached_at: datetime | None, now: datetime) -> ClockState:
    if breached_at is not None:
        return ClockState.BREACHED
    if inst.met_at is not None:
        return ClockState.MET
    if inst.stopped_at is not None:
        return ClockState.STOPPED
    if inst.deadline is None:
        return ClockState.PAUSED
    return ClockState.RUNNING


def check_extension(evaluation: Evaluation, clock: ClockName, until: datetime, now: datetime) -> None:
    """Refuse an extension that would not move a live deadline later (raises ValueError with the reason)."""
    current = [c for c in evaluation.clocks if c.name is clock]
    status = current[-1] if current else None
    if status is None or status.state not in (ClockState.RUNNING, ClockState.PAUSED):
        state = status.state.value if status else "not started"
        raise ValueError(
            f"cannot extend clock {clock.value!r}: it is {state}; only a running or paused clock can be extended"
        )
    if until <= now:
        raise ValueError(f"extension to {until.isoformat()} is not in the future")
    if status.deadline is not None and until <= status.deadline:
        raise ValueError(
            f"extension to {until.isoformat()} does not move the deadline {status.deadline.isoformat()} later"
        )
