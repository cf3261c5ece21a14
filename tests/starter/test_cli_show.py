"""What `cxsla complaint show` and `list` print, from a status built by the real engine: the timeline with each
entry's details (never the customer's name or contact), the time left per clock at the reader's now, warnings,
extensions, local times, and cells that fold instead of being cut on a narrow terminal."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from sla import events as ev
from sla.calendar import compiled
from sla.engine import evaluate
from sla.official_calendar import resolve_at
from sla.policy import load_policy
from sla.status import ComplaintStatus, brief, build_status
from sla.vocabulary import ClockName, Severity
from starter.cli.render import duration, list_table, status_view, zone
from starter.client.reading import status_document, with_time_left

RECEIVED = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # Monday 09:00 in Shanghai
UNTIL = datetime(2026, 4, 30, 10, 0, tzinfo=timezone.utc)


def a_status(now: datetime) -> ComplaintStatus:
    policy = load_policy().contract("default")
    events = [
        ev.Received(at=RECEIVED, complaint_id="T-9", contract="default", severity=Severity.MAJOR,
                    customer_name="Zhang Wei", customer_contact="+86 138 0000 0000", summary="router dead"),
        ev.Acknowledged(at=RECEIVED + timedelta(minutes=30), by="amy", note="called back"),
        ev.Triaged(at=RECEIVED + timedelta(hours=1), by="amy", category="network"),
        ev.Extended(at=RECEIVED + timedelta(hours=2), by="sam", clock=ClockName.RESOLVE, until=UNTIL,
                    reason="parts on order"),
        ev.AwaitingCustomer(at=RECEIVED + timedelta(hours=3), by="amy", reason="photos of the label"),
        ev.CustomerResponded(at=RECEIVED + timedelta(hours=4), by="amy"),
    ]
    calendar = resolve_at(policy.calendar_name, policy.calendar, RECEIVED)
    # the handling plan's first warning has gone out
    evaluation = evaluate(policy, events, now, {"handling_plan#1:warn:50": now}, calendar=compiled(calendar))
    return build_status(complaint_id="T-9", contract="default", policy_version=policy.version, events=events,
                        evaluation=evaluation, calendar=calendar.name, timezone=calendar.timezone)


NOW = RECEIVED + timedelta(days=2, hours=6)  # the handling plan is past half its time


def test_the_timeline_carries_every_entrys_details_but_not_the_customers_name_or_contact():
    timeline = a_status(NOW).timeline
    assert [e["type"] for e in timeline] == ["received", "acknowledged", "triaged", "extended", "awaiting_customer",
                                              "customer_responded"]
    assert timeline[1] == {"type": "acknowledged", "at": timeline[1]["at"], "by": "amy", "note": "called back"}
    assert timeline[3]["reason"] == "parts on order" and timeline[3]["clock"] == "resolve"
    assert timeline[0]["summary"] == "router dead"
    text = json.dumps(timeline)
    assert "Zhang Wei" not in text and "138 0000" not in text
    # a command's answer stays small: entries without their free text, with their other details
    answer = brief(a_status(NOW)).timeline
    assert not any(key in entry for entry in answer for key in ("note", "reason", "summary"))
    assert answer[2]["category"] == "network" and answer[3]["clock"] == "resolve"


def test_time_left_is_the_readers_own_for_running_clocks_and_the_working_time_left_for_paused_ones():
    document = a_status(NOW).public()
    assert all(c["remaining_seconds"] is None for c in document["clocks"] if c["state"] == "running")
    later = NOW + timedelta(minutes=5)
    read = with_time_left(document, later)
    for clock in read["clocks"]:
        if clock["state"] == "running":
            assert clock["remaining_seconds"] == (datetime.fromisoformat(clock["deadline"]) - later).total_seconds()
        elif clock["state"] == "met":
            assert clock["remaining_seconds"] is None
    overdue = with_time_left(document, UNTIL + timedelta(hours=1))
    resolve = next(c for c in overdue["clocks"] if c["name"] == "resolve")
    assert resolve["remaining_seconds"] == -3600
    assert document["clocks"][0]["remaining_seconds"] is None  # the document read is not changed


def test_the_status_read_without_models_is_the_public_document():
    status = a_status(NOW)
    payload = pydantic_data_converter.payload_converter.to_payloads([status])
    answer = DataConverter().payload_converter.from_payloads(payload)[0]  # what `show` gets from the query
    assert status_document(answer) == status.public()


def render(document: dict, width: int, tz: str = "Asia/Shanghai") -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(status_view(document, zone(tz), tz))
    return console.export_text()


def test_show_prints_local_times_time_left_warnings_extension_and_timeline():
    status = a_status(NOW)
    text = render(with_time_left(status.public(), NOW), 200)
    assert "times in Asia/Shanghai" in text
    assert "2026-03-02 09:00:00 +08:00" in text  # receipt, local
    assert "2026-04-30 18:00:00 +08:00 (extended)" in text  # the extended resolve deadline, marked
    assert "extended resolve#1 until 2026-04-30 18:00:00 +08:00" in text
    warned = [c for c in status.clocks if c.warned and c.state.value == "running"]
    assert warned, "the scenario should have a warned clock"
    assert f"warning {warned[0].name.value}#1: past {max(warned[0].warned)}% of its time" in text
    assert "reason: parts on order" in text and "category: network" in text
    assert "Zhang Wei" not in text
    resolve_left = duration((UNTIL - NOW).total_seconds())
    assert resolve_left in text
    assert "None" not in text and "True" not in text and "False" not in text


def test_times_follow_the_zone_asked_for():
    text = render(a_status(NOW).public(), 200, "UTC")
    assert "2026-03-02 01:00:00 UTC" in text and "+08:00" not in text
    with pytest.raises(ValueError, match="--tz: 'Mars/Olympus' is not a known time zone"):
        zone("Mars/Olympus")
    assert zone("Europe/Berlin") == ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("width", [80, 100])
def test_a_narrow_terminal_folds_cells_and_cuts_nothing(width):
    text = render(with_time_left(a_status(NOW).public(), NOW), width)
    assert "…" not in text
    assert all(len(line) <= width for line in text.splitlines())
    rows = [line.split("│") for line in text.splitlines() if line.startswith("│")]
    first = "".join(cells[1].strip() for cells in rows)  # a folded cell's pieces, joined back
    for name in ("acknowledge#1", "handling_plan#1", "progress_update#1", "resolve#1"):
        assert name in first
    last = " ".join(cells[-2].strip() for cells in rows)
    assert "reason: parts on order" in last


def test_list_cells_are_words_not_python_values():
    rows: list[dict[str, Any]] = [
        {"id": "T-1", "contract": "default", "severity": "major", "state": "acknowledged", "breached": True,
         "at_risk": False, "next_deadline": "2026-03-02T03:00:00+00:00", "workflow_status": "RUNNING"},
        {"id": "T-2", "contract": None, "severity": None, "state": None, "breached": False, "at_risk": True,
         "next_deadline": None, "workflow_status": None},
    ]
    console = Console(width=120, record=True, color_system=None)
    console.print(list_table(rows, zone("Asia/Shanghai"), RECEIVED))
    text = console.export_text()
    assert "None" not in text and "True" not in text and "False" not in text
    assert "2026-03-02 11:00:00 +08:00" in text and "2h 00m" in text
    assert "yes" in text and "no" in text


def test_durations_read_in_two_units():
    assert [duration(s) for s in (45, 750, 4 * 3600 + 300, 2 * 86400 + 3 * 3600 + 600, -90)] == [
        "45s", "12m 30s", "4h 05m", "2d 03h", "1m 30s"]


def test_the_header_names_a_category_and_an_inquiry_when_the_status_carries_them():
    document = {**a_status(NOW).public(), "category": "network", "kind": "inquiry"}
    assert "complaint T-9 · default · major · inquiry · network · in_progress" in render(document, 200)
    assert "complaint T-9 · default · major · in_progress" in render({**a_status(NOW).public(), "category": None}, 200)
