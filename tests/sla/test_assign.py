"""Ownership: an assign names an agent and/or a group, replaces the previous assignment, changes no clock, and
shows in the status, the timeline and the notices' e-mail body."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from activities.email import body_fields
from sla import events as ev
from sla.commands import Assign, to_event
from sla.deadlines import ActionKind
from sla.engine import evaluate
from sla.errors import plain
from sla.lifecycle import InvalidTransition, check, replay
from sla.notices import Notice
from sla.policy import parse_policy
from sla.status import brief, build_status
from sla.vocabulary import Severity
from tests.helpers.calendars import calendar_of
from tests.histories.record import POLICY_RAW

T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def test_an_assign_names_someone_with_a_plain_name():
    assert Assign(to="amy").group is None and Assign(group="billing").to is None
    with pytest.raises(ValidationError) as nobody:
        Assign()
    assert plain(nobody.value) == "to: name an agent (to) or a group (group) to assign the complaint to"
    with pytest.raises(ValidationError) as odd:
        Assign(to="amy smith; drop")
    assert plain(odd.value).startswith("to: String should match pattern")
    with pytest.raises(ValidationError):
        Assign(group="g" * 101)


def _events() -> list:
    received = ev.Received(at=T0, complaint_id="A-1", contract="fast", severity=Severity.NORMAL,
                           customer_name="Zhang Wei", customer_contact="+86 138", summary="router")
    return [received,
            to_event("assign", Assign(by="sam", to="amy", group="billing"), T0 + timedelta(seconds=1)),
            to_event("assign", Assign(by="sam", group="refunds", note="refund desk"), T0 + timedelta(seconds=2))]


def test_the_last_assignment_holds_and_no_clock_moves():
    events = _events()
    facts = replay(events)
    assert (facts.assignee, facts.group) == (None, "refunds")
    policy = parse_policy(POLICY_RAW, source="test").contract("fast")
    calendar = calendar_of(policy)
    now = T0 + timedelta(seconds=3)
    with_assign = evaluate(policy, events, now, calendar=calendar)
    without = evaluate(policy, events[:1], now, calendar=calendar)
    assert with_assign.clocks == without.clocks and with_assign.next_due_at == without.next_due_at


def test_a_closed_complaint_takes_no_assignment():
    events = [*_events(), ev.Withdrawn(at=T0 + timedelta(seconds=3))]
    with pytest.raises(InvalidTransition, match="cannot assign a complaint that is withdrawn"):
        check(replay(events), "assign", ev.Assigned(at=T0 + timedelta(seconds=4), to="amy"))


def test_status_and_timeline_say_who_owns_it_and_what_each_event_said():
    events = _events()
    policy = parse_policy(POLICY_RAW, source="test").contract("fast")
    evaluation = evaluate(policy, events, T0 + timedelta(seconds=3), calendar=calendar_of(policy))
    status = build_status(complaint_id="A-1", contract="fast", policy_version="1", events=events,
                          evaluation=evaluation)
    assert (status.assignee, status.group) == (None, "refunds")
    received, first, second = status.timeline
    assert "customer_name" not in received and "customer_contact" not in received
    assert received["summary"] == "router"
    assert (first["to"], first["group"], first["by"]) == ("amy", "billing", "sam")
    assert second["note"] == "refund desk" and "to" not in second
    # a command's answer stays small: its timeline leaves out free text (the note), keeps the short facts
    assert brief(status).timeline[-1] == {"type": "assigned", "at": second["at"], "by": "sam", "group": "refunds"}


def test_the_e_mail_of_a_notice_names_the_owner():
    notice = Notice(idempotency_key="k", action_id="acknowledge#1:breach", kind=ActionKind.BREACH,
                    complaint_id="A-1", contract="fast", clock="acknowledge", due_at=T0, fired_at=T0,
                    assignee="amy", group="billing")
    fields = body_fields(notice)
    assert (fields["assignee"], fields["group"]) == ("amy", "billing")
    assert "assignee" not in body_fields(notice.model_copy(update={"assignee": None}))
