"""The simple deadline clock of plans, reports and outages: hand-worked instants on a 24x7 UTC calendar, and a
warning that was never sent before its deadline passed is dropped (the breach supersedes it)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sla.deadlines import ActionKind, Ladder, Span, duration, evaluate_clock, evaluate_deadline, split_due
from sla.policy import parse_policy
from sla.vocabulary import BreachClass, ClockState
from tests.helpers.calendars import calendar_from

T0 = datetime(2027, 3, 1, tzinfo=timezone.utc)
H = timedelta(hours=1)
CAL = calendar_from(parse_policy({"calendars": {"utc": {"timezone": "UTC", "hours": ["00:00-24:00"],
                                                       "workdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
                                 "contracts": {}}).calendars["utc"], "utc")
LADDER = Ladder(steps=[("PT0S", "team-lead"), ("PT1H", "supervisor")])


def clock(now: datetime, fired: dict[str, datetime] | None = None, ended_at: datetime | None = None):
    """A 10-hour clock from T0 with warnings at 50 % and 80 %."""
    return evaluate_deadline(name="report_delivery", instance=1, start=T0, target="10 working hours", calendar=CAL,
                             ended_at=ended_at, warn_at=[0.5, 0.8], ladder=LADDER,
                             breach_class=BreachClass.MINOR, fired=fired or {}, now=now)


def timeline(actions) -> list[tuple[str, datetime]]:
    return [(a.id.removeprefix("report_delivery#1:"), a.due_at)
            for a in sorted(actions, key=lambda a: (a.due_at, a.id))]


def ids(actions) -> list[str]:
    return [action_id for action_id, _ in timeline(actions)]


def test_a_running_clock_has_its_warnings_breach_and_ladder_at_hand_worked_instants():
    status, actions = clock(T0 + H)
    assert status.state is ClockState.RUNNING and status.deadline == T0 + 10 * H
    assert timeline(actions) == [
        ("warn:50", T0 + 5 * H), ("warn:80", T0 + 8 * H), ("breach", T0 + 10 * H),
        ("escalate:1", T0 + 10 * H), ("escalate:2", T0 + 11 * H)]
    assert split_due(actions, {}, T0 + 6 * H) == ([a for a in actions if a.id.endswith("warn:50")], T0 + 8 * H)


def test_warnings_not_sent_by_the_deadline_are_dropped_and_the_breach_fires():
    # evaluated for the first time after the deadline: a cycle started for a long-past period, a worker down
    status, actions = clock(T0 + 10.5 * H)
    assert ids(actions) == ["breach", "escalate:1", "escalate:2"]
    due, next_at = split_due(actions, {}, T0 + 10.5 * H)
    assert [a.kind for a in due] == [ActionKind.BREACH, ActionKind.ESCALATE]
    assert next_at == T0 + 11 * H
    assert status.state is ClockState.BREACHED and status.warned == []


def test_warnings_already_sent_stay_recorded_after_the_deadline():
    fired = {"report_delivery#1:warn:50": T0 + 5 * H}
    status, actions = clock(T0 + 12 * H, fired=fired)
    assert ids(actions) == ["warn:50", "breach", "escalate:1", "escalate:2"]
    assert status.warned == [50]
    assert [a.id for a in split_due(actions, fired, T0 + 12 * H)[0]] == [
        "report_delivery#1:breach", "report_delivery#1:escalate:1", "report_delivery#1:escalate:2"]


def test_a_clock_met_in_time_keeps_its_earlier_warnings_and_has_no_breach():
    status, actions = clock(T0 + 20 * H, ended_at=T0 + 9 * H)
    assert ids(actions) == ["warn:50", "warn:80"] and status.state is ClockState.MET
    status, actions = clock(T0 + 20 * H, ended_at=T0 + 6 * H)
    assert ids(actions) == ["warn:50"]


def test_a_clock_met_late_is_a_breach_whose_unsent_warnings_are_dropped():
    status, actions = clock(T0 + 20 * H, ended_at=T0 + 10.5 * H)
    assert ids(actions) == ["breach", "escalate:1"]  # the second step came after it was met
    assert status.state is ClockState.BREACHED and status.met_at == T0 + 10.5 * H


def test_an_outage_breaching_at_two_on_a_saturday_escalates_in_working_time():
    """The outage threshold (4 h) runs on the wall clock; its escalation ladder runs on the contract calendar,
    like every complaint's: team-lead at the breach, supervisor 4 working hours later (Monday, over lunch),
    manager a working day later (Tuesday), not 06:00 on the Saturday."""
    from zoneinfo import ZoneInfo

    from sla.interruptions import InterruptionRecord, evaluate_interruption
    from sla.policy import load_policy
    from tests.helpers.calendars import calendar_of

    sh = ZoneInfo("Asia/Shanghai")
    policy = load_policy().assessment("default")
    started = datetime(2025, 3, 7, 22, tzinfo=sh)  # Friday 22:00: breached Saturday 02:00
    record = InterruptionRecord(outage_id="db-1", contract="default", started_at=started, reported_at=started)
    result = evaluate_interruption(policy, record, datetime(2025, 3, 12, tzinfo=sh), {},
                                   calendar=calendar_of(policy))
    assert result.clock.deadline == datetime(2025, 3, 8, 2, tzinfo=sh)
    ladder = [(a.to, a.due_at) for a in result.due if a.kind is ActionKind.ESCALATE]
    assert ladder == [("team-lead", datetime(2025, 3, 8, 2, tzinfo=sh)),
                      ("supervisor", datetime(2025, 3, 10, 14, tzinfo=sh)),
                      ("manager", datetime(2025, 3, 11, 9, tzinfo=sh))]
    # its warnings, like its threshold, are wall-clock: 50 % of 4 h after the start
    assert [a.due_at for a in result.due if a.kind is ActionKind.WARN] == []  # superseded by the breach
    early = evaluate_interruption(policy, record, datetime(2025, 3, 8, 0, 30, tzinfo=sh), {},
                                  calendar=calendar_of(policy))
    assert [a.due_at for a in early.due] == [datetime(2025, 3, 8, 0, 0, tzinfo=sh)]


# ---- a pause that starts exactly at the deadline instant --------------------------------------------------------
# The contract's rule (sla/deadlines.py, `_deadline`): the deadline is reached at its instant, so a wait for the
# customer that starts at that same instant comes too late to stop the clock: the breach stands, at the deadline,
# and the wait moves nothing. A wait that starts even one second earlier pauses the clock with that second left.
SECOND = timedelta(seconds=1)


def paused_clock(pause: list, now: datetime):
    """A 10-working-hour clock from T0 (deadline T0 + 10 h on the 24x7 calendar) with one wait."""
    span = Span(name="resolve", index=1, start=T0, pauses=[pause])
    return evaluate_clock(span, target=duration("10 working hours"), calendar=CAL, warn_at=[], ladder=[],
                          breach_class=BreachClass.MAJOR, fired={}, now=now)


def test_a_wait_starting_exactly_at_the_deadline_does_not_stop_the_breach():
    deadline = datetime(2027, 3, 1, 10, 0, tzinfo=timezone.utc)
    for pause in ([deadline, None], [deadline, deadline + 2 * H]):  # still waiting, and the wait over
        result = paused_clock(pause, now=deadline)
        assert result.deadline == deadline and result.remaining is None
        assert result.state is ClockState.BREACHED and result.breached_at == deadline
        due, _ = split_due(result.actions, {}, deadline)
        assert [(a.id, a.due_at) for a in due] == [("resolve#1:breach", deadline)]


def test_a_wait_starting_one_second_before_the_deadline_pauses_the_clock_with_that_second_left():
    deadline = datetime(2027, 3, 1, 10, 0, tzinfo=timezone.utc)
    waiting = paused_clock([deadline - SECOND, None], now=deadline + H)
    assert waiting.state is ClockState.PAUSED and waiting.deadline is None and waiting.remaining == SECOND
    assert waiting.breached_at is None and waiting.actions == []
    resumed = paused_clock([deadline - SECOND, deadline + 2 * H], now=deadline + 2 * H)
    assert resumed.state is ClockState.RUNNING and resumed.deadline == deadline + 2 * H + SECOND
