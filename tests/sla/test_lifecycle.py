"""The complaint state machine: allowed commands, refused ones with a message an agent can act on."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sla import events as ev
from sla.lifecycle import COMMANDS, Facts, InvalidTransition, apply, check, replay
from sla.vocabulary import ClockName, ComplaintState, Severity

T0 = datetime(2025, 3, 3, tzinfo=timezone.utc)
S = ComplaintState


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def received(severity=Severity.NORMAL):
    return ev.Received(at=T0, complaint_id="c-1", contract="t", severity=severity)


def command_event(command: str, hours: float = 1.0, **fields):
    """A well-formed event for `command`."""
    when = at(hours)
    defaults: dict[str, dict[str, Any]] = {
        "extend": {"clock": ClockName.RESOLVE, "until": at(hours + 100), "reason": "complex case"},
        "reclassify": {"severity": Severity.CRITICAL},
        "resolve": {"resolution": "refunded"},
        "record_feedback": {"csat": 4},
    }
    event_type = COMMANDS[command][0]
    return event_type(at=when, **{**defaults.get(command, {}), **fields})


def run(*commands: str) -> Facts:
    """Replay Received plus the given commands, checking each one."""
    facts = replay([received()])
    for i, command in enumerate(commands, start=1):
        event = command_event(command, hours=i)
        check(facts, command, event)
        facts = apply(facts, event)
    return facts


def refused(facts: Facts, command: str, **fields) -> str:
    with pytest.raises(InvalidTransition) as info:
        check(facts, command, command_event(command, **fields))
    return str(info.value)


# ---- the happy path ----------------------------------------------------------------------------------------------
def test_full_happy_path_states():
    facts = replay([received()])
    assert facts.state is S.RECEIVED
    steps = [
        ("acknowledge", S.ACKNOWLEDGED),
        ("triage", S.IN_PROGRESS),
        ("communicate_plan", S.IN_PROGRESS),
        ("await_customer", S.AWAITING_CUSTOMER),
        ("customer_responded", S.IN_PROGRESS),
        ("post_progress", S.IN_PROGRESS),
        ("extend", S.IN_PROGRESS),
        ("reclassify", S.IN_PROGRESS),
        ("resolve", S.RESOLVED),
        ("notify_result", S.RESOLVED),
        ("record_feedback", S.CLOSED),
    ]
    for i, (command, state) in enumerate(steps, start=1):
        event = command_event(command, hours=i)
        check(facts, command, event)
        facts = apply(facts, event)
        assert facts.state is state, command
    assert facts.triaged
    assert facts.result_notified
    assert facts.resolutions == 1
    assert facts.severity is Severity.CRITICAL
    assert facts.state.terminal


def test_customer_responded_returns_to_the_state_before_waiting():
    facts = run("acknowledge", "await_customer")
    assert facts.state is S.AWAITING_CUSTOMER
    facts = apply(facts, command_event("customer_responded"))
    assert facts.state is S.ACKNOWLEDGED


def test_reopen_then_resolve_again_allows_a_second_notification():
    facts = run("acknowledge", "resolve", "notify_result", "reopen")
    assert facts.state is S.IN_PROGRESS
    facts = apply(facts, command_event("resolve", hours=10))
    assert facts.resolutions == 2
    assert not facts.result_notified
    check(facts, "notify_result", command_event("notify_result", hours=11))


def test_resolve_is_allowed_while_awaiting_customer():
    facts = run("acknowledge", "await_customer")
    check(facts, "resolve", command_event("resolve"))


def test_withdraw_allowed_while_open():
    for prefix in [(), ("acknowledge",), ("acknowledge", "triage"), ("acknowledge", "await_customer")]:
        facts = run(*prefix)
        check(facts, "withdraw", command_event("withdraw"))
        assert apply(facts, command_event("withdraw")).state is S.WITHDRAWN


def test_system_events_close_the_complaint():
    facts = run("acknowledge", "resolve", "notify_result")
    assert apply(facts, ev.Closed(at=at(30), reason="survey window ended")).state is S.CLOSED
    # SurveySent does not change the state
    assert apply(facts, ev.SurveySent(at=at(30))).state is S.RESOLVED


# ---- refusals ----------------------------------------------------------------------------------------------------
def test_resolve_a_withdrawn_complaint():
    message = refused(run("acknowledge", "withdraw"), "resolve")
    assert "cannot resolve a complaint that is withdrawn" in message
    assert "allowed in" in message
    assert "in_progress" in message


def test_triage_twice():
    message = refused(run("acknowledge", "triage"), "triage")
    assert "already triaged" in message
    assert "reclassify" in message  # points to the command that does what the agent wants


def test_triage_again_after_reopen_is_still_refused():
    message = refused(run("acknowledge", "triage", "resolve", "reopen"), "triage")
    assert "already triaged" in message


def test_notify_twice():
    message = refused(run("acknowledge", "resolve", "notify_result"), "notify_result")
    assert "already been notified" in message


def test_customer_responded_when_not_awaiting():
    message = refused(run("acknowledge", "triage"), "customer_responded")
    assert "cannot customer responded a complaint that is in_progress" in message
    assert "awaiting_customer" in message


def test_commands_before_acknowledgement_hint_at_acknowledging():
    facts = run()
    for command in ("triage", "communicate_plan", "post_progress", "await_customer", "resolve"):
        message = refused(facts, command)
        assert "received" in message
        assert "acknowledge it first" in message, command


def test_acknowledge_twice():
    message = refused(run("acknowledge"), "acknowledge")
    assert "acknowledged" in message
    assert "allowed in: received" in message


def test_await_twice():
    message = refused(run("acknowledge", "await_customer"), "await_customer")
    assert "awaiting_customer" in message


def test_post_progress_while_awaiting_customer():
    message = refused(run("acknowledge", "await_customer"), "post_progress")
    assert "awaiting_customer" in message


def test_notify_before_resolution():
    message = refused(run("acknowledge", "triage"), "notify_result")
    assert "cannot notify result a complaint that is in_progress" in message
    assert "resolved" in message


def test_reopen_requires_resolved():
    message = refused(run("acknowledge"), "reopen")
    assert "allowed in: resolved" in message


def test_feedback_requires_resolved():
    message = refused(run("acknowledge", "triage"), "record_feedback")
    assert "allowed in: resolved" in message


def test_reclassify_to_the_same_severity():
    message = refused(run("acknowledge"), "reclassify", severity=Severity.NORMAL)
    assert "already normal" in message


def test_category_is_set_at_triage_and_changed_by_reclassify_alone():
    facts = apply(run("acknowledge"), command_event("triage", 2, category="billing"))
    assert facts.category == "billing" and facts.severity is Severity.NORMAL
    assert "already in category 'billing'" in refused(facts, "reclassify", severity=None, category="billing")
    assert "already normal and in category 'billing'" in refused(facts, "reclassify", severity=Severity.NORMAL,
                                                                  category="billing")
    event = command_event("reclassify", 3, severity=None, category="delivery")
    check(facts, "reclassify", event)
    moved = apply(facts, event)
    assert (moved.category, moved.severity) == ("delivery", Severity.NORMAL)
    # a severity change keeps the category
    assert apply(moved, command_event("reclassify", 4)).category == "delivery"


def test_reclassify_command_needs_a_severity_or_a_category():
    from pydantic import ValidationError

    from sla.commands import Reclassify

    with pytest.raises(ValidationError, match="severity or category: give the new severity"):
        Reclassify()
    with pytest.raises(ValidationError):
        Reclassify(category="")
    assert Reclassify(category="billing").severity is None


@pytest.mark.parametrize("command", sorted(set(COMMANDS)))
def test_nothing_is_allowed_on_a_closed_complaint(command):
    facts = run("acknowledge", "resolve", "record_feedback")
    assert facts.state is S.CLOSED
    message = refused(facts, command)
    assert "closed" in message


@pytest.mark.parametrize("command", sorted(set(COMMANDS)))
def test_nothing_is_allowed_on_a_withdrawn_complaint(command):
    facts = run("withdraw")
    message = refused(facts, command)
    assert "withdrawn" in message


def test_resolved_complaint_cannot_be_withdrawn_extended_or_resolved_again():
    facts = run("acknowledge", "resolve")
    for command in ("withdraw", "extend", "reclassify", "resolve", "triage", "post_progress"):
        assert "resolved" in refused(facts, command)


def test_unknown_command():
    with pytest.raises(InvalidTransition, match="unknown command 'escalate'.*acknowledge"):
        check(run(), "escalate", ev.Acknowledged(at=T0))


def test_wrong_event_type_for_command():
    with pytest.raises(InvalidTransition, match="needs a Resolved event"):
        check(run("acknowledge"), "resolve", ev.Acknowledged(at=at(1)))


def test_invalid_transition_is_a_value_error():
    # update validators surface ValueErrors as rejections
    assert issubclass(InvalidTransition, ValueError)


def test_events_validate_their_fields():
    with pytest.raises(ValueError, match="time zone"):
        ev.Acknowledged(at=datetime(2025, 3, 3, 10))
    with pytest.raises(ValueError):
        ev.Extended(at=T0, clock=ClockName.RESOLVE, until=at(5), reason="")
    with pytest.raises(ValueError):
        ev.FeedbackRecorded(at=T0, csat=6)
    # timestamps are normalised to UTC
    local = ev.Acknowledged(at=datetime.fromisoformat("2025-09-30T17:00:00+08:00"))
    assert local.at == datetime(2025, 9, 30, 9, tzinfo=timezone.utc)
    assert local.at.utcoffset() == timedelta(0)


# ---- 000 §4.5: a complaint verified as our fault gets a remedy ----------------------------------------------------
def test_an_at_fault_resolution_needs_a_remedy_where_the_contract_says_so():
    from sla.commands import Resolve, check_policy
    from sla.policy import load_policy

    policy = load_policy().contract("default")
    assert policy.at_fault_needs_remedy is True  # on by default
    with pytest.raises(ValueError, match="^remedy: a complaint verified as our fault"):
        check_policy(Resolve(resolution="refunded", at_fault=True), policy)
    check_policy(Resolve(resolution="refunded", at_fault=True, remedy="compensation"), policy)
    check_policy(Resolve(resolution="explained the bill"), policy)  # not at fault: no remedy owed
    for switch in (False, None):  # off, or a snapshot from before the switch
        check_policy(Resolve(resolution="refunded", at_fault=True),
                     policy.model_copy(update={"at_fault_needs_remedy": switch}))
