"""Archived complaints built from real engine evaluations of event logs (no server needed), for the store tests
and the cycle benchmark."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from sla import events as ev
from sla.archive import ArchiveComplaint
from sla.engine import evaluate
from sla.outcomes import outcome_of
from sla.policy import ContractPolicy, parse_policy
from sla.status import build_status
from tests.helpers.calendars import calendar_of

UTC = timezone.utc
POLICY_RAW = {
    "version": "archive-1",
    "calendars": {"utc": {"timezone": "UTC"}},
    "contracts": {
        "a": {
            "calendar": "utc",
            "survey_window": "10h",
            "targets": {"acknowledge": "2 working hours", "triage": "4h", "handling_plan": "10h",
                        "progress_update": "5h", "resolve": "20h", "notify_result": "3h", "survey": "6h"},
            "severity": {"critical": {"targets": {"resolve": "8h"}, "major_breach": ["resolve"]},
                         "major": {"targets": {"resolve": "12h"}, "major_breach": ["resolve"]}},
        }
    },
}
POLICY: ContractPolicy = parse_policy(POLICY_RAW).contract("a")
CALENDAR = calendar_of(POLICY)
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def archived(events: list, now: datetime, *, run: str = "run-1", policy: ContractPolicy = POLICY) -> ArchiveComplaint:
    evaluation = evaluate(policy, events, now, {}, calendar=CALENDAR)
    received = events[0]
    status = build_status(complaint_id=received.complaint_id, contract=policy.name, policy_version=policy.version,
                          events=events, evaluation=evaluation, calendar=policy.calendar_name)
    fired = {due.id: due.due_at for due in evaluation.due}
    return ArchiveComplaint(complaint_id=received.complaint_id, workflow_id=f"complaint-{received.complaint_id}",
                            first_run_id=run, run_id=run, archived_at=now, events=events, status=status,
                            outcome=outcome_of(events, evaluation), fired=fired)


def random_log(rng: random.Random, cid: str, received_at: datetime) -> tuple[list, datetime]:
    """A plausible complaint log (acknowledged late or not, resolved or withdrawn, reopened, feedback), and the
    instant it ended."""
    h = timedelta(hours=1)
    severity = rng.choice(["critical", "major", "normal", "low"])
    kind = "inquiry" if rng.random() < 0.1 else "complaint"
    events: list = [ev.Received(at=received_at, complaint_id=cid, contract="a", severity=severity, kind=kind,
                                channel=rng.choice(["phone", "email", "web"]), customer_id=f"C-{rng.randrange(50)}",
                                customer_name="Zhang Wei", customer_contact="+86 138 0000 0000")]
    t = received_at
    if rng.random() < 0.1:
        t += h * rng.uniform(0.1, 30)
        events.append(ev.Withdrawn(at=t, by="sam", reason="customer withdrew"))
        return events, t
    if rng.random() < 0.95:
        t += h * rng.uniform(0.05, 4)
        events.append(ev.Acknowledged(at=t, by="amy"))
    t += h * rng.uniform(0.1, 3)
    events.append(ev.Triaged(at=t, by="amy", category=rng.choice(["billing", "delivery", "quality"])))
    t += h * rng.uniform(0.1, 25)
    remedy = rng.choice(["compensation", "replacement", None])
    events.append(ev.Resolved(at=t, by="sam", resolution="fixed", remedy=remedy, at_fault=rng.random() < 0.3,
                              first_contact=rng.random() < 0.4, handling_seconds=rng.choice([None, 600, 1800])))
    if rng.random() < 0.1:
        t += h
        events.append(ev.Reopened(at=t, by="sam", reason="not fixed"))
        t += h * rng.uniform(1, 10)
        events.append(ev.Resolved(at=t, by="sam", resolution="fixed again"))
    t += h * rng.uniform(0.1, 4)
    events.append(ev.ResultNotified(at=t, by="amy"))
    if rng.random() < 0.7:
        t += h
        events.append(ev.FeedbackRecorded(at=t, csat=rng.randint(1, 5), nps=rng.choice([None, rng.randint(0, 10)]),
                                          ces=rng.choice([None, rng.randint(1, 7)])))
    return events, t
