"""Stale facts cannot act: an activity result that comes back for a clock instance no longer current (a survey sent
for a resolution that was reopened since) is recorded, shown as stale, and changes no clock; above all it never
closes a complaint that is being handled again.

Pure property test on the engine (random interleavings of commands and of survey results that return late), then
the same on a time-skipping server: a survey on its way when the complaint is reopened, and one still waiting for
its webhook, which the reopen takes back.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.notifications import Notice
from sla import commands as cmd
from sla import engine
from sla import events as ev
from sla.deadlines import ActionKind
from sla.lifecycle import InvalidTransition, apply, check, replay
from sla.policy import load_policy
from sla.vocabulary import ComplaintState, Severity
from starter.client.complaints import ComplaintClient
from tests.helpers.calendars import calendar_of
from tests.helpers.sinks import RecordingSink
from tests.helpers.temporal import cxsla_worker
from tests.histories.record import assert_no_task_failures, test_policy, time_skipping_server
from tests.workflows.test_complaint_workflow import Harness, kinds

UTC = timezone.utc
POLICY = load_policy().contract("always-on")
CALENDAR = calendar_of(POLICY)
S = timedelta(seconds=1)
COMMANDS = ["acknowledge", "triage", "post_progress", "resolve", "notify_result", "reopen", "survey_returns"]


def _event(command: str, at: datetime) -> ev._Event:
    return {
        "acknowledge": lambda: ev.Acknowledged(at=at),
        "triage": lambda: ev.Triaged(at=at),
        "post_progress": lambda: ev.ProgressPosted(at=at, note="working on it"),
        "resolve": lambda: ev.Resolved(at=at, resolution="fixed"),
        "notify_result": lambda: ev.ResultNotified(at=at),
        "reopen": lambda: ev.Reopened(at=at, reason="still broken"),
    }[command]()


def _evaluate(events, now, fired):
    return engine.evaluate(POLICY, events, now, fired, calendar=CALENDAR)


def test_a_survey_that_returns_after_a_reopen_is_stale_and_closes_nothing():
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    events = [ev.Received(at=t0, complaint_id="s", contract=POLICY.name, severity=Severity.NORMAL),
              ev.Acknowledged(at=t0 + S), ev.Resolved(at=t0 + 2 * S, resolution="fixed"),
              ev.ResultNotified(at=t0 + 3 * S), ev.Reopened(at=t0 + 4 * S),
              ev.SurveySent(at=t0 + 5 * S, instance=1)]
    without = _evaluate(events[:-1], t0 + 5 * S, {})
    late = _evaluate(events, t0 + timedelta(days=60), {})
    assert late.stale == [5]
    assert "close" not in [a.id for a in late.due] and late.state is ComplaintState.IN_PROGRESS
    assert _evaluate(events, t0 + 5 * S, {}).clocks == without.clocks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_late_survey_results_never_close_a_complaint_that_is_not_resolved(data):
    """Commands and survey results interleave at random; a survey result may return long after it was sent, across
    reopens and later resolutions. Whenever the engine closes the complaint, it is resolved, and a result recorded
    as stale changes no clock."""
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    events: list = [ev.Received(at=t0, complaint_id="p", contract=POLICY.name, severity=Severity.NORMAL)]
    facts = replay(events)
    fired: dict[str, datetime] = {}
    sent: list[int] = []  # survey instances whose send is on its way
    now = t0
    for _ in range(data.draw(st.integers(1, 25))):
        target = now + timedelta(minutes=data.draw(st.integers(0, 60 * 24 * 20)))
        for _ in range(100):  # wake at every due instant before the next step, as the workflow does
            result = _evaluate(events, now, fired)
            for due in result.due:
                fired[due.id] = now
                if due.kind is ActionKind.SEND_SURVEY:
                    sent.append(int(due.id.split("#", 1)[1].split(":", 1)[0]))
                elif due.kind is ActionKind.CLOSE:
                    assert facts.state is ComplaintState.RESOLVED, f"closed while {facts.state.value}: {events}"
                    events.append(ev.Closed(at=now, reason="survey window ended"))
                    facts = apply(facts, events[-1])
            if facts.state.terminal or result.next_due_at is None or result.next_due_at > target:
                break
            now = result.next_due_at
        if facts.state.terminal:
            return
        now = target
        command = data.draw(st.sampled_from(COMMANDS))
        if command == "survey_returns":
            if sent:
                instance = sent.pop(data.draw(st.integers(0, len(sent) - 1)))
                before = _evaluate(events, now, fired)
                events.append(ev.SurveySent(at=now, channel="webhook", instance=instance))
                after = _evaluate(events, now, fired)
                if len(events) - 1 in after.stale:
                    assert after.clocks == before.clocks and after.due == before.due
            continue
        event = _event(command, now)
        try:
            check(facts, command, event)
        except InvalidTransition:
            continue
        events.append(event)
        facts = apply(facts, event)


# ---- the workflow ----------------------------------------------------------------------------------------------
class HeldSurveys(RecordingSink):
    """Delivers everything at once except surveys, which wait for `release` (on their way) or fail while `down`."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.held = asyncio.Event()
        self.down = False

    async def deliver(self, notice: Notice) -> None:
        if notice.kind is ActionKind.SEND_SURVEY:
            if self.down:
                raise RuntimeError("survey webhook down")
            self.held.set()
            await self.release.wait()
        await super().deliver(notice)


async def _resolved_and_notified(h: Harness, cid: str) -> None:
    await h.open(cid)
    for name, body in (("acknowledge", cmd.Acknowledge()), ("triage", cmd.Triage()),
                       ("communicate_plan", cmd.CommunicatePlan()), ("resolve", cmd.Resolve(resolution="a")),
                       ("notify_result", cmd.NotifyResult())):
        await h.cmd(cid, name, body)


async def test_a_survey_on_its_way_during_a_reopen_is_recorded_stale_and_the_complaint_stays_open():
    async with time_skipping_server() as env:
        sink = HeldSurveys()
        async with cxsla_worker(env.client, sink=sink) as queue:
            h = Harness(env, ComplaintClient(env.client, task_queue=queue, policy=test_policy()), sink)
            await _resolved_and_notified(h, "st1")
            await asyncio.wait_for(sink.held.wait(), 30)  # the survey activity is running
            await h.cmd("st1", "reopen", cmd.Reopen(reason="still broken"))
            sink.release.set()
            for _ in range(100):
                status = await h.c.status("st1")
                if "survey_sent" in kinds(status):
                    break
                await asyncio.sleep(0.1)
            entry = [e for e in status.timeline if e["type"] == "survey_sent"]
            assert entry and entry[0].get("stale") is True, status.timeline
            await h.sleep(200 * S)  # far past the 60 s survey window
            status = await h.c.status("st1")
            assert status.state.value == "in_progress" and "closed" not in kinds(status)
            await assert_no_task_failures(env.client, "st1")


async def test_a_reopen_takes_back_a_survey_still_waiting_for_its_webhook():
    async with time_skipping_server() as env:
        sink = HeldSurveys()
        sink.down = True
        async with cxsla_worker(env.client, sink=sink) as queue:
            h = Harness(env, ComplaintClient(env.client, task_queue=queue, policy=test_policy()), sink)
            await _resolved_and_notified(h, "st2")
            await env.sleep(200 * S)  # one attempt (3 min of quick retries) fails; not h.sleep: it waits for deliveries
            assert [u.action_id for u in (await h.c.status("st2")).undelivered] == ["survey#1:send"]
            await h.cmd("st2", "reopen", cmd.Reopen(reason="still broken"))
            await env.sleep(400 * S)  # an attempt on its way when the reopen came fails, then it is taken back
            assert (await h.c.status("st2")).undelivered == []
            sink.down = False
            await h.sleep(200 * S)
            status = await h.c.status("st2")
            assert status.state.value == "in_progress" and "survey_sent" not in kinds(status)
            assert "survey#1:send" not in h.ids("st2")  # (its clock breached: nothing was sent in time)
            await assert_no_task_failures(env.client, "st2")
