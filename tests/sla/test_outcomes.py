"""Complaint outcomes for assessment, derived from real engine evaluations of event logs.

Like tests/sla/test_engine.py, most logs run on a small 24x7 UTC policy (a working hour is an hour) so every figure
can be checked by hand; first response times also run on the shipped cn-standard calendar, where working and
wall-clock time differ.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from sla import engine
from sla import events as ev
from sla.outcomes import MAJOR_SEVERITIES, ClockTally, ComplaintOutcome, outcome_of
from sla.policy import load_policy, parse_policy
from sla.vocabulary import BreachClass, Channel, ClockName, ComplaintState, Remedy, Severity
from tests.helpers.calendars import calendar_of

C = ClockName
UTC = timezone.utc
SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday

SMALL = {
    "version": "t1",
    "calendars": {"utc": {"timezone": "UTC"}},
    "contracts": {
        "t": {
            "calendar": "utc",
            "survey_window": "10h",
            "targets": {
                "acknowledge": "2 working hours",
                "triage": "4h",
                "handling_plan": "10h",
                "progress_update": "5h",
                "resolve": "20h",
                "notify_result": "3h",
                "survey": "6h",
            },
            "severity": {
                "critical": {"targets": {"resolve": "8h"}, "major_breach": ["resolve"]},
                "major": {"targets": {"resolve": "12h"}, "major_breach": ["resolve"]},
            },
        }
    },
}
POLICY = parse_policy(SMALL).contract("t")


def evaluate(policy, events, now, fired=None):
    return engine.evaluate(policy, events, now, fired, calendar=calendar_of(policy))


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def received(severity=Severity.NORMAL, at=T0):
    return ev.Received(at=at, complaint_id="c-1", contract="t", severity=severity, channel=Channel.PHONE,
                       customer_name="Zhang San", customer_contact="13800000000", summary="broken unit")


def outcome(events, now_hours, policy=POLICY) -> ComplaintOutcome:
    return outcome_of(events, evaluate(policy, events, h(now_hours)))


def tallies(o: ComplaintOutcome) -> dict[ClockName, tuple[int, int]]:
    return {name: (t.met, t.breached) for name, t in o.clocks.items() if t.met or t.breached}


# ---- the happy path -------------------------------------------------------------------------------------------------
HAPPY = [
    received(),
    ev.Acknowledged(at=h(1)),
    ev.Triaged(at=h(2)),
    ev.PlanCommunicated(at=h(3)),
    ev.ProgressPosted(at=h(4), handling_seconds=600),
    ev.Resolved(at=h(6), resolution="replaced", remedy=Remedy.COMPENSATION, first_contact=True,
                handling_seconds=900),
    ev.ResultNotified(at=h(7)),
    ev.SurveySent(at=h(8)),
    ev.FeedbackRecorded(at=h(9), csat=5, nps=9, ces=6, comment="thanks, Zhang San"),
]


def test_happy_path_outcome():
    o = outcome(HAPPY, 10)
    assert o.complaint_id == "c-1" and o.contract == "t"
    assert o.severity is Severity.NORMAL and o.channel is Channel.PHONE
    assert o.received_at == T0
    assert o.state is ComplaintState.CLOSED
    assert o.acknowledged_at == h(1)
    assert o.first_response_seconds == 3600.0
    assert o.first_response_business_seconds == 3600.0  # 24x7: a working hour is an hour
    assert o.resolutions == 1 and o.reopened == 0
    assert o.first_contact is True and o.remedy is Remedy.COMPENSATION
    assert o.handling_seconds == 1500  # 600 on the progress post + 900 on the resolution
    assert o.resolved_in_time is True
    assert o.resolved and o.resolved_at_first_contact and not o.withdrawn
    # progress_update#1 met by the plan at h3, #2 by the post at h4; #3 (started h4) stopped by the resolution
    assert tallies(o) == {C.ACKNOWLEDGE: (1, 0), C.TRIAGE: (1, 0), C.HANDLING_PLAN: (1, 0),
                          C.PROGRESS_UPDATE: (2, 0), C.RESOLVE: (1, 0), C.NOTIFY_RESULT: (1, 0), C.SURVEY: (1, 0)}
    assert o.breaches == {}
    assert (o.csat, o.nps, o.ces) == (5, 9, 6)
    assert o.resolved_at == h(6) and o.resolve_deadline == h(20)  # SMALL: resolve in 20 h
    assert o.at_fault is False


def test_at_fault_and_remedy_of_the_last_resolution():
    events = [*HAPPY[:5], ev.Resolved(at=h(6), resolution="refunded", at_fault=True, remedy=Remedy.COMPENSATION)]
    o = outcome(events, 7)
    assert o.at_fault is True and o.remedy is Remedy.COMPENSATION
    from sla.status import build_status

    status = build_status(complaint_id="c-1", contract="t", policy_version="v", events=events,
                          evaluation=evaluate(POLICY, events, h(7)))
    assert status.timeline[-1] == {"type": "resolved", "at": h(6).isoformat(), "by": None, "at_fault": True,
                                   "remedy": "compensation", "resolution": "refunded", "first_contact": False}
    assert "at_fault" not in status.timeline[-2]


def test_resolve_deadline_and_resolution_time_decide_the_outcome_at_a_period_end():
    open_one = outcome([received(), ev.Acknowledged(at=h(1))], 30)
    assert open_one.resolved_at is None and open_one.resolve_deadline == h(20)
    assert open_one.decided_by(h(19)) == (False, False)  # still within its deadline: pending
    assert open_one.decided_by(h(20)) == (True, False)  # deadline passed unresolved: a miss
    done = outcome(HAPPY, 10)
    assert done.decided_by(h(5)) == (False, False) and done.decided_by(h(6)) == (True, True)
    reopened = outcome([*HAPPY[:6], ev.Reopened(at=h(7))], 8)
    assert reopened.resolved_at is None and reopened.resolve_deadline == h(27)  # resolve#2 from the reopen


def test_outcome_carries_no_personal_data():
    dumped = outcome(HAPPY, 10).model_dump_json()
    for text in ("Zhang San", "13800000000", "broken unit", "thanks", "replaced"):
        assert text not in dumped


def test_outcome_survives_the_memo_round_trip_and_ignores_newer_fields():
    o = outcome(HAPPY, 10)
    data = o.model_dump(mode="json")
    assert ComplaintOutcome.model_validate(data) == o
    data["written_by_a_newer_worker"] = 1
    assert ComplaintOutcome.model_validate(data) == o


def test_no_handling_reported_is_none_not_zero():
    events = [received(), ev.Acknowledged(at=h(1)), ev.Resolved(at=h(2), resolution="done")]
    o = outcome(events, 2)
    assert o.handling_seconds is None
    assert o.first_contact is False and o.remedy is None
    assert o.state is ComplaintState.RESOLVED and o.resolved and not o.resolved_at_first_contact
    assert (o.csat, o.nps, o.ces) == (None, None, None)
    # reported as zero: handled, with zero seconds
    zero = [received(), ev.Acknowledged(at=h(1)), ev.Resolved(at=h(2), resolution="done", handling_seconds=0)]
    assert outcome(zero, 2).handling_seconds == 0


def test_feedback_without_nps_or_ces():
    events = [*HAPPY[:-1], ev.FeedbackRecorded(at=h(9), csat=2)]
    o = outcome(events, 9)
    assert (o.csat, o.nps, o.ces) == (2, None, None)


# ---- first response -------------------------------------------------------------------------------------------------
def test_breached_acknowledge():
    events = [received(), ev.Acknowledged(at=h(3))]  # due at h2
    o = outcome(events, 3)
    assert o.acknowledged_at == h(3)
    assert o.first_response_seconds == 10800.0
    assert o.first_response_business_seconds == 10800.0
    assert tallies(o) == {C.ACKNOWLEDGE: (0, 1)}  # triage, plan, progress, resolve: running, not decided
    assert o.breaches == {BreachClass.MINOR: 1}
    assert o.resolved_in_time is None and not o.resolved


def test_unacknowledged_complaint_past_its_deadline_counts_the_breach():
    o = outcome([received()], 2.5)
    assert o.acknowledged_at is None
    assert o.first_response_seconds is None and o.first_response_business_seconds is None
    assert tallies(o) == {C.ACKNOWLEDGE: (0, 1)}
    assert o.state is ComplaintState.RECEIVED


def test_nothing_decided_before_any_deadline():
    o = outcome([received()], 1.5)
    assert tallies(o) == {} and o.breaches == {}
    assert o.resolved_in_time is None


def test_first_response_wall_vs_working_time_on_the_cn_calendar():
    default = load_policy().contract("default")  # cn-standard: 09:00-12:00, 13:00-18:00, Mon-Fri, CN holidays
    friday = datetime(2025, 3, 7, 17, tzinfo=SH)
    monday = datetime(2025, 3, 10, 9, 30, tzinfo=SH)
    events = [ev.Received(at=friday, complaint_id="c-2", contract="default", severity=Severity.NORMAL),
              ev.Acknowledged(at=monday)]
    o = outcome_of(events, evaluate(default, events, monday))
    # wall: Fri 17:00 -> Mon 09:30 = 64.5 h; working: Fri 17:00-18:00 + Mon 09:00-09:30 = 1.5 h
    assert o.first_response_seconds == 64.5 * 3600
    assert o.first_response_business_seconds == 1.5 * 3600
    assert tallies(o) == {C.ACKNOWLEDGE: (1, 0)}  # 2 working hours: met


def test_acknowledge_exactly_at_the_deadline_is_in_time():
    o = outcome([received(), ev.Acknowledged(at=h(2))], 2)
    assert tallies(o) == {C.ACKNOWLEDGE: (1, 0)}
    assert o.first_response_seconds == 7200.0


# ---- reopen and withdraw --------------------------------------------------------------------------------------------
REOPENED = [
    received(),
    ev.Acknowledged(at=h(1)),
    ev.Triaged(at=h(1.5)),
    ev.PlanCommunicated(at=h(2)),
    ev.Resolved(at=h(3), resolution="reset", first_contact=True, handling_seconds=300),
    ev.ResultNotified(at=h(3.5)),
    ev.Reopened(at=h(4)),
]


def test_reopened_and_still_open():
    o = outcome(REOPENED, 5)
    assert o.state is ComplaintState.IN_PROGRESS
    assert o.resolutions == 1 and o.reopened == 1
    assert not o.resolved and not o.resolved_at_first_contact
    assert o.resolved_in_time is None  # resolve#2 runs until h24
    assert o.clocks[C.RESOLVE] == ClockTally(met=1, breached=0)


def test_reopened_then_resolved_again():
    events = [*REOPENED, ev.Resolved(at=h(10), resolution="replaced", first_contact=True, handling_seconds=1200)]
    o = outcome(events, 10)
    assert o.state is ComplaintState.RESOLVED
    assert o.resolutions == 2 and o.reopened == 1
    assert o.first_contact is True  # the last resolution said so ...
    assert o.resolved and not o.resolved_at_first_contact  # ... but it was reopened: not first-contact resolution
    assert o.handling_seconds == 1500
    assert o.resolved_in_time is True
    # resolve#1 met at h3, resolve#2 (h4 + 20h) met at h10; notify_result#1 met; survey#1 stopped by the reopen;
    # progress_update#1 met by the plan, #2 stopped by the first resolution, #3 (reopened at h4, + 5h) breached
    # at h9
    assert tallies(o) == {C.ACKNOWLEDGE: (1, 0), C.TRIAGE: (1, 0), C.HANDLING_PLAN: (1, 0),
                          C.PROGRESS_UPDATE: (1, 1), C.RESOLVE: (2, 0), C.NOTIFY_RESULT: (1, 0)}
    assert o.clocks[C.SURVEY] == ClockTally(met=0, breached=0)
    assert o.breaches == {BreachClass.MINOR: 1}


def test_withdrawn():
    events = [received(), ev.Acknowledged(at=h(1)), ev.Withdrawn(at=h(2), reason="solved it myself")]
    o = outcome(events, 30)
    assert o.state is ComplaintState.WITHDRAWN and o.withdrawn
    assert not o.resolved and o.resolutions == 0
    assert o.resolved_in_time is None
    # every other clock was stopped by the withdrawal: nothing breaches afterwards
    assert tallies(o) == {C.ACKNOWLEDGE: (1, 0)}
    assert o.breaches == {}


def test_withdrawn_before_acknowledgment():
    o = outcome([received(), ev.Withdrawn(at=h(0.5))], 30)
    assert o.acknowledged_at is None and o.first_response_business_seconds is None
    assert tallies(o) == {}


# ---- major complaints -----------------------------------------------------------------------------------------------
MAJOR_OPEN = [
    received(Severity.CRITICAL),
    ev.Acknowledged(at=h(1)),
    ev.Triaged(at=h(2)),
    ev.PlanCommunicated(at=h(3)),
    ev.ProgressPosted(at=h(4)),
]


def test_major_complaint_open_before_its_resolve_deadline_is_undecided():
    o = outcome(MAJOR_OPEN, 7.5)  # resolve due at h8
    assert o.severity in MAJOR_SEVERITIES
    assert o.resolved_in_time is None
    assert o.breaches == {}


def test_major_complaint_whose_resolve_deadline_passed_while_open():
    o = outcome(MAJOR_OPEN, 10)
    assert o.state is ComplaintState.IN_PROGRESS
    assert o.resolved_in_time is False
    # resolve (8h, major) breached at h8; progress_update#1 met by the plan, #2 by the post at h4, #3 (h4 + 5h)
    # breached at h9 (minor)
    assert o.clocks[C.RESOLVE] == ClockTally(met=0, breached=1)
    assert o.clocks[C.PROGRESS_UPDATE] == ClockTally(met=2, breached=1)
    assert o.breaches == {BreachClass.MAJOR: 1, BreachClass.MINOR: 1}


def test_major_complaint_resolved_late_stays_not_in_time():
    events = [*MAJOR_OPEN, ev.Resolved(at=h(12), resolution="late fix")]
    o = outcome(events, 12)
    assert o.state is ComplaintState.RESOLVED and o.resolved
    assert o.resolved_in_time is False
    assert o.clocks[C.RESOLVE] == ClockTally(met=0, breached=1)


def test_major_complaint_resolved_in_time():
    events = [*MAJOR_OPEN, ev.Resolved(at=h(7), resolution="fixed")]
    assert outcome(events, 30).resolved_in_time is True


def test_reclassified_to_major_uses_the_current_severity():
    events = [received(), ev.Acknowledged(at=h(1)), ev.Reclassified(at=h(2), severity=Severity.MAJOR)]
    o = outcome(events, 13)  # major resolve: 12h from receipt
    assert o.severity is Severity.MAJOR
    assert o.resolved_in_time is False
    # major: resolve (h12); minor: triage (h4), progress_update (h5), handling_plan (h10)
    assert o.breaches == {BreachClass.MAJOR: 1, BreachClass.MINOR: 3}


def test_log_must_start_with_received():
    evaluation = evaluate(POLICY, HAPPY, h(10))
    with pytest.raises(ValueError, match="Received"):
        outcome_of([ev.Acknowledged(at=h(1))], evaluation)
