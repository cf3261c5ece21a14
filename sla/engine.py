"""The SLA engine: (policy, events, now, fired actions) -> clock states, due actions, next due instant.

Pure and total: the workflow, the CLI's `show` and offline what-if simulation all call `evaluate`. Every action
has a deterministic id (`resolve#1:breach`, `acknowledge#1:escalate:2`, ...), so the caller can run each one
exactly once by remembering the ids it has fired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from sla import events as ev
from sla.calendar import WALL_CLOCK, BusinessCalendar
from sla.deadlines import ActionKind, Due, Span, duration, evaluate_clock
from sla.lifecycle import Facts, apply
from sla.policy import ContractPolicy
from sla.vocabulary import PAUSABLE_CLOCKS, BreachClass, ClockName, ClockState, ComplaintState, Kind, Severity

C = ClockName
_ZERO = timedelta(0)
Action = Due  # a complaint's actions are the same model as every other clock's
__all__ = ["Action", "ActionKind", "WALL_CLOCK", "evaluate", "check_extension"]


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
    provisional: bool = False  # computed on a calendar year nobody has published yet


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
    category: str | None = None
    clocks: list[ClockStatus]
    due: list[Action]  # due now and not fired yet, in due order
    next_due_at: datetime | None
    next_action: str | None = None  # id of what becomes due at next_due_at
    next_deadline: datetime | None  # earliest deadline of a running clock
    breaches: list[BreachRecord]
    escalations: list[EscalationRecord]
    breached: bool
    at_risk: bool  # a running clock has passed a warning threshold and is not breached
    provisional: bool = False  # a running clock's deadline lies in a year the calendar does not know officially
    # Positions in the event log of facts that arrived for a clock instance no longer current (a survey sent for a
    # resolution that was reopened since): recorded as they came, shown as stale, and they changed no clock.
    stale: list[int] = Field(default_factory=list)


@dataclass
class _Fold:
    """Clock instances and action sources built from the event log."""

    facts: Facts = field(default_factory=Facts)
    instances: list[Span] = field(default_factory=list)
    extension_notices: list[tuple[int, ev.Extended]] = field(default_factory=list)
    survey_triggers: list[tuple[int, datetime]] = field(default_factory=list)  # (survey instance, when)
    survey_sent_at: datetime | None = None
    stale: list[int] = field(default_factory=list)
    terminal_at: datetime | None = None
    inquiry: bool = False
    answered_at: datetime | None = None  # an inquiry's last answer (it closes then)

    def current(self, clock: ClockName) -> Span | None:
        for inst in reversed(self.instances):
            if inst.name == clock.value:
                return inst
        return None

    def start(self, clock: ClockName, at: datetime) -> None:
        previous = self.current(clock)
        index = previous.index + 1 if previous else 1
        self.instances.append(Span(clock.value, index, at))

    def meet(self, clock: ClockName, at: datetime) -> None:
        inst = self.current(clock)
        if inst and inst.open:
            inst.met_at = at

    def stop(self, clock: ClockName, at: datetime) -> None:
        inst = self.current(clock)
        if inst and inst.open:
            inst.stopped_at = at
            if inst.pauses and inst.pauses[-1][1] is None:
                inst.pauses[-1][1] = at

    def open_instances(self) -> list[Span]:
        return [inst for inst in self.instances if inst.open]


_PAUSABLE = frozenset(c.value for c in PAUSABLE_CLOCKS)


def _fold(events: list, *, plan_is_progress: bool = False) -> _Fold:
    """`plan_is_progress`: telling the customer the handling plan is the preliminary handling opinion that 000 §4.4
    accepts in place of a progress update, so it meets the running `progress_update` and starts the next one."""
    fold = _Fold()
    for position, event in enumerate(events):
        at = event.at
        match event:
            case ev.Received(kind=Kind.INQUIRY):
                fold.inquiry = True
                for clock in (C.ACKNOWLEDGE, C.RESOLVE):
                    fold.start(clock, at)
            case ev.Received():
                for clock in (C.ACKNOWLEDGE, C.TRIAGE, C.HANDLING_PLAN, C.PROGRESS_UPDATE, C.RESOLVE):
                    fold.start(clock, at)
            case ev.Acknowledged():
                fold.meet(C.ACKNOWLEDGE, at)
            case ev.Triaged():
                fold.meet(C.TRIAGE, at)
            case ev.PlanCommunicated():
                fold.meet(C.HANDLING_PLAN, at)
                if plan_is_progress and not fold.inquiry:
                    fold.meet(C.PROGRESS_UPDATE, at)
                    fold.start(C.PROGRESS_UPDATE, at)
            case ev.ProgressPosted() if not fold.inquiry:  # an inquiry has no progress clock
                fold.meet(C.PROGRESS_UPDATE, at)
                fold.start(C.PROGRESS_UPDATE, at)
            case ev.AwaitingCustomer():
                for inst in fold.open_instances():
                    if inst.name in _PAUSABLE:
                        inst.pauses.append([at, None])
            case ev.CustomerResponded():
                _resume_all(fold, at)
            case ev.Extended(clock=clock, until=until):
                current = fold.current(clock)
                if current and current.open:
                    current.extension = (at, until)
                fold.extension_notices.append((position, event))
            case ev.Resolved():
                _resume_all(fold, at)
                fold.meet(C.RESOLVE, at)
                for clock in (C.ACKNOWLEDGE, C.TRIAGE, C.HANDLING_PLAN, C.PROGRESS_UPDATE):
                    fold.stop(clock, at)
                if fold.inquiry:  # answered: no result notice or survey follows, and it closes
                    fold.answered_at = at
                else:
                    fold.start(C.NOTIFY_RESULT, at)
                    fold.start(C.SURVEY, at)
            case ev.ResultNotified():
                fold.meet(C.NOTIFY_RESULT, at)
                survey = fold.current(C.SURVEY)
                if survey and survey.open:
                    fold.survey_triggers.append((survey.index, at))
            case ev.SurveySent(instance=instance):
                survey = fold.current(C.SURVEY)
                if survey_is_current(survey, instance):
                    fold.meet(C.SURVEY, at)
                    fold.survey_sent_at = at
                else:
                    fold.stale.append(position)
            case ev.Reopened():
                fold.stop(C.NOTIFY_RESULT, at)
                fold.stop(C.SURVEY, at)
                fold.survey_sent_at = None
                fold.start(C.RESOLVE, at)
                if not fold.inquiry:
                    fold.start(C.PROGRESS_UPDATE, at)
            case ev.FeedbackRecorded() | ev.Closed() | ev.Withdrawn():
                for inst in fold.open_instances():
                    fold.stop(ClockName(inst.name), at)
                fold.terminal_at = at
        fold.facts = apply(fold.facts, event)
    return fold


def survey_is_current(survey: Span | None, instance: int | None) -> bool:
    """A sent survey counts only for the survey clock instance it was sent for, while that instance is open: one
    that returns after a reopen (or after a later resolution started another instance) is a stale fact."""
    return survey is not None and survey.open and instance in (None, survey.index)


def _resume_all(fold: _Fold, at: datetime) -> None:
    for inst in fold.open_instances():
        if inst.pauses and inst.pauses[-1][1] is None:
            inst.pauses[-1][1] = at


@dataclass
class _Instance:
    """One clock instance's share of an evaluation (what the memo keeps for an ended one)."""

    status: ClockStatus
    actions: list[Action]
    breach: BreachRecord | None
    escalations: list[EscalationRecord]


Memo = dict[str, tuple[tuple, _Instance]]


def evaluate(
    policy: ContractPolicy, events: list, now: datetime, fired: dict[str, datetime] | None = None, *,
    calendar: BusinessCalendar, memo: Memo | None = None,
) -> Evaluation:
    """Evaluate a complaint's event log at `now` on `calendar` (the data the complaint carries).

    `fired` maps action ids already run to when they ran. `memo` (a dict the caller keeps between calls) holds
    the answers for clock instances that have ended: once met or stopped, an instance's deadline, breach and
    actions no longer depend on `now`, so a complaint with hundreds of past progress instances evaluates only its
    open ones again. The answer is the same with or without it.
    """
    fired = fired or {}
    if not events or not isinstance(events[0], ev.Received):
        raise ValueError("a complaint's event log starts with a Received event")
    fold = _fold(events, plan_is_progress=bool(policy.plan_counts_as_progress))
    severity, category = fold.facts.severity, fold.facts.category
    ladder = [(duration(step.after), step.to) for step in policy.escalation]
    fired_by_instance: dict[str, list[tuple[str, datetime]]] = {}
    if memo is not None:
        for action_id, at in fired.items():
            fired_by_instance.setdefault(action_id.split(":", 1)[0], []).append((action_id, at))

    candidates: list[Action] = []
    clocks: list[ClockStatus] = []
    breaches: list[BreachRecord] = []
    escalations: list[EscalationRecord] = []
    at_risk = provisional = False

    for inst in fold.instances:
        key = None
        if memo is not None and not inst.open:
            key = (policy.version, calendar.digest, severity, category, inst.start, inst.met_at, inst.stopped_at,
                   inst.extension, tuple(tuple(p) for p in inst.pauses),
                   tuple(sorted(fired_by_instance.get(inst.id, ()))))
            kept = memo.get(inst.id)
            if kept is not None and kept[0] == key:
                part = kept[1]
                candidates.extend(part.actions)
                if part.breach is not None:
                    breaches.append(part.breach)
                escalations.extend(part.escalations)
                clocks.append(part.status)
                continue
        part = _evaluate_instance(inst, policy, severity, category, ladder, calendar, fired, now)
        if key is not None and memo is not None:
            memo[inst.id] = (key, part)
        candidates.extend(part.actions)
        if part.breach is not None:
            breaches.append(part.breach)
        escalations.extend(part.escalations)
        clocks.append(part.status)
        if part.status.state in (ClockState.RUNNING, ClockState.PAUSED):
            at_risk = at_risk or bool(part.status.warned)
            provisional = provisional or part.status.provisional

    for position, extended in fold.extension_notices:
        candidates.append(
            Action(id=f"extension:{position}:notify_customer", kind=ActionKind.NOTIFY_EXTENSION,
                   due_at=extended.at, clock=extended.clock.value, deadline=extended.until, detail=extended.reason)
        )
    for index, when in fold.survey_triggers:
        survey = next(i for i in fold.instances if i.name == C.SURVEY.value and i.index == index)
        if survey.open:  # not after a reopen or once feedback closed the complaint
            candidates.append(Action(id=f"survey#{index}:send", kind=ActionKind.SEND_SURVEY, due_at=when,
                                     clock=C.SURVEY.value))
    if fold.answered_at is not None and fold.terminal_at is None and fold.facts.state is ComplaintState.RESOLVED:
        candidates.append(Action(id="close", kind=ActionKind.CLOSE, due_at=fold.answered_at,
                                 detail="inquiry answered"))
    if fold.survey_sent_at is not None and fold.terminal_at is None:
        candidates.append(
            Action(id="close", kind=ActionKind.CLOSE,
                   due_at=calendar.add(fold.survey_sent_at, duration(policy.survey_window)),
                   detail="survey window ended without feedback")
        )

    candidates.sort(key=lambda a: (a.due_at, a.id))
    due = [a for a in candidates if a.due_at <= now and a.id not in fired]
    future = [a for a in candidates if a.due_at > now and a.id not in fired]
    running = [c.deadline for c in clocks if c.state is ClockState.RUNNING and c.deadline]
    return Evaluation(
        state=fold.facts.state,
        severity=severity,
        category=category,
        clocks=clocks,
        due=due,
        next_due_at=future[0].due_at if future else None,
        next_action=future[0].id if future else None,
        next_deadline=min(running) if running else None,
        breaches=breaches,
        escalations=escalations,
        breached=bool(breaches),
        at_risk=at_risk,
        provisional=provisional,
        stale=fold.stale,
    )


def _evaluate_instance(inst: Span, policy: ContractPolicy, severity: Severity, category: str | None, ladder: list,
                       calendar: BusinessCalendar, fired: dict[str, datetime], now: datetime) -> _Instance:
    clock = ClockName(inst.name)
    target = policy.target(clock, severity, category)
    result = evaluate_clock(inst, target=target, calendar=calendar, warn_at=policy.warn_at, ladder=ladder,
                            breach_class=policy.breach_class(clock, severity, category), fired=fired, now=now)
    breach = None
    if result.breached_at is not None:
        breach = BreachRecord(clock=clock, instance=inst.index, breach_class=result.breach_class,
                              deadline=result.deadline or result.breached_at, at=result.breached_at)
    status = ClockStatus(
        name=clock, instance=inst.index, state=result.state, started_at=inst.start, target=str(target),
        deadline=result.deadline,
        remaining_seconds=result.remaining.total_seconds() if result.remaining is not None else None,
        met_at=inst.met_at, breached_at=result.breached_at, warned=result.warned,
        met_after_business_seconds=result.met_after.total_seconds() if result.met_after is not None else None,
        extended_until=inst.extension[1] if inst.extension else None, provisional=result.provisional,
    )
    return _Instance(status=status, actions=result.actions, breach=breach,
                     escalations=[EscalationRecord(clock=clock, instance=inst.index, level=level, to=to, at=when)
                                  for level, to, when in result.escalations])


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
