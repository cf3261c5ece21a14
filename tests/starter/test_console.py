"""The console's rules without a browser or Temporal: sign-in and cookie flags, CSRF and origin checks on every
form, the role check with the API's sentence, board filters as a visibility query, clock bars and form values.
(tests/system/test_console_browser.py drives the same pages in chromium against a real server.)"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from sla import lifecycle
from sla.commands import Command, OpenComplaint, to_event
from sla.engine import evaluate
from sla.policy import parse_policy
from sla.status import ComplaintStatus, build_status
from sla.vocabulary import ClockName
from starter.api import create_app
from starter.api.console import views as v
from starter.client.complaints import ComplaintClient
from starter.client.errors import CxSlaError
from tests.helpers.calendars import calendar_of
from tests.helpers.service import Tokens, service_settings
from tests.histories.record import POLICY_RAW

T0 = datetime(2026, 12, 4, 8, tzinfo=timezone.utc)


class FakeComplaints(ComplaintClient):
    """Complaints held in memory and evaluated by the real engine: what the console reads and sends."""

    def __init__(self) -> None:
        super().__init__(None, policy=parse_policy(POLICY_RAW, source="test"))  # type: ignore[arg-type]
        self.events: dict[str, list] = {}
        self.sent: list[tuple[str, str, Command]] = []
        self.queries: list[str] = []
        self.fired: dict[str, dict[str, datetime]] = {}
        self.now = T0

    def add(self, cid: str, **fields: Any) -> None:
        self.events[cid] = [OpenComplaint(id=cid, contract="fast", severity="normal", **fields).received(self.now)]

    async def status(self, complaint_id: str) -> ComplaintStatus:
        if complaint_id not in self.events:
            raise CxSlaError(f"no complaint with id {complaint_id!r}", "not_found")
        policy = self.policy.contract("fast")
        events = self.events[complaint_id]
        calendar = calendar_of(policy)
        fired = self.fired.setdefault(complaint_id, {})
        for action in evaluate(policy, events, self.now, fired, calendar=calendar).due:  # fired, as the workflow does
            fired[action.id] = self.now
        evaluation = evaluate(policy, events, self.now, fired, calendar=calendar)
        return build_status(complaint_id=complaint_id, contract="fast", policy_version="1", events=events,
                            evaluation=evaluation)

    async def command(self, complaint_id: str, name: str, command: Command | dict[str, Any]) -> ComplaintStatus:
        assert isinstance(command, Command)
        await self.status(complaint_id)  # an unknown id is refused as the client refuses it
        events = self.events[complaint_id]
        event = to_event(name, command, self.now)
        try:
            lifecycle.check(lifecycle.replay(events), name, event)
        except lifecycle.InvalidTransition as exc:
            raise CxSlaError(str(exc), "conflict") from None
        events.append(event)
        self.sent.append((complaint_id, name, command))
        return await self.status(complaint_id)

    async def rows(self, query: str, *, limit: int) -> list[dict[str, Any]]:
        self.queries.append(query)
        out = []
        for cid in self.events:
            status = await self.status(cid)
            out.append({"id": cid, "state": status.state.value, "severity": "normal", "contract": "fast",
                        "breached": status.breached, "at_risk": status.at_risk, "assignee": status.assignee,
                        "next_deadline": status.next_deadline.isoformat() if status.next_deadline else None,
                        "workflow_status": "RUNNING", "workflow_id": f"complaint-{cid}"})
        return out


@pytest.fixture
async def console(tmp_path):
    tokens = Tokens()
    fake = FakeComplaints()
    fake.add("c-1", customer_id="C-9", summary="router reboots")
    fake.add("c-2")
    app = create_app(service_settings("127.0.0.1:1", tmp_path, tokens), complaints_client=fake)
    app.state.complaints = fake
    fake.app = app  # type: ignore[attr-defined]  # for the test that revokes a token
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        yield http, tokens, fake


async def sign_in(http: httpx.AsyncClient, token: str) -> str:
    """Sign in; the session's CSRF token (from the board's sign-out form)."""
    form = await http.get("/ui/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    signed = await http.post("/ui/signin", data={"csrf": csrf, "token": token, "next": "/ui/board"})
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/board", signed.text
    board = await http.get("/ui/board")
    return re.search(r'name="csrf" value="([^"]+)"', board.text).group(1)  # type: ignore[union-attr]


async def test_sign_in_sets_a_strict_http_only_session_cookie_and_refuses_forged_forms(console):
    http, tokens, _ = console
    assert (await http.get("/ui/board")).headers["location"].startswith("/ui/signin?next=%2Fui%2Fboard")
    form = await http.get("/ui/signin")
    assert "default-src 'self'" in form.headers["content-security-policy"]
    cookie = form.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    wrong = await http.post("/ui/signin", data={"csrf": "guess", "token": tokens.agent})
    assert wrong.status_code == 403 and "cxsla_session" not in wrong.headers.get("set-cookie", "")
    assert "renewed" in wrong.text  # and the form's token with it
    csrf = re.search(r'name="csrf" value="([^"]+)"', wrong.text).group(1)  # type: ignore[union-attr]
    unknown = await http.post("/ui/signin", data={"csrf": csrf, "token": "not-a-token"})
    assert unknown.status_code == 401 and "not known" in unknown.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', unknown.text).group(1)  # type: ignore[union-attr]
    elsewhere = await http.post("/ui/signin", data={"csrf": csrf, "token": tokens.agent, "next": "https://evil/"},
                                headers={"Origin": "http://console"})
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/ui/board"  # never off-site
    session = elsewhere.headers["set-cookie"].lower()
    assert session.startswith("cxsla_session=") and "httponly" in session and "samesite=strict" in session


async def test_signing_out_or_revoking_the_token_ends_the_session(console, tmp_path):
    http, tokens, fake = console
    csrf = await sign_in(http, tokens.agent)
    out = await http.post("/ui/signout", data={"csrf": csrf})
    assert out.status_code == 303 and (await http.get("/ui/board")).status_code == 303
    await sign_in(http, tokens.agent)
    assert (await http.get("/ui/board")).status_code == 200
    (tmp_path / "tokens").write_text(tokens.config().replace(tokens.config().splitlines()[0], "# amy revoked"))
    fake.app.state.tokens.reload()  # (a changed file is noticed within seconds too)
    assert (await http.get("/ui/board")).headers["location"].startswith("/ui/signin")


async def test_every_form_needs_its_session_csrf_token_and_the_same_origin(console):
    http, tokens, fake = console
    csrf = await sign_in(http, tokens.agent)
    assert (await http.post("/ui/complaints/c-1/acknowledge", data={})).status_code == 403
    assert (await http.post("/ui/complaints/c-1/acknowledge", data={"csrf": csrf + "x"})).status_code == 403
    cross = await http.post("/ui/complaints/c-1/acknowledge", data={"csrf": csrf},
                            headers={"Origin": "https://elsewhere.example"})
    assert cross.status_code == 403 and fake.sent == []
    done = await http.post("/ui/complaints/c-1/acknowledge", data={"csrf": csrf, "note": "called back"},
                           headers={"Origin": "http://console"})
    assert done.status_code == 303 and done.headers["location"] == "/ui/complaints/c-1?done=acknowledge"
    assert [(cid, name, cmd.by) for cid, name, cmd in fake.sent] == [("c-1", "acknowledge", "amy")]


async def test_an_agent_sees_no_supervisor_action_and_is_refused_one_with_the_apis_sentence(console):
    http, tokens, fake = console
    csrf = await sign_in(http, tokens.agent)
    await http.post("/ui/complaints/c-1/acknowledge", data={"csrf": csrf})
    page = await http.get("/ui/complaints/c-1")
    offered = re.findall(r"<summary>([^<]+)</summary>", page.text)
    assert "Triage" in offered and "Assign" in offered and "Resolve" not in offered and "Extend" not in offered
    refused = await http.post("/ui/complaints/c-1/resolve", data={"csrf": csrf, "resolution": "fixed"})
    assert refused.status_code == 403 and "amy has role agent; this needs supervisor or higher" in refused.text
    again = await http.post("/ui/complaints/c-1/acknowledge", data={"csrf": csrf})
    assert again.status_code == 409 and "cannot acknowledge a complaint that is acknowledged" in again.text
    nobody = await http.post("/ui/complaints/c-1/assign", data={"csrf": csrf, "to": ""})
    assert nobody.status_code == 422 and "to: name an agent" in nobody.text
    assert [name for _, name, _ in fake.sent] == ["acknowledge"]


async def test_board_filters_become_one_visibility_query_and_bulk_reports_each_complaint(console):
    http, tokens, fake = console
    csrf = await sign_in(http, tokens.supervisor)
    board = await http.get("/ui/board", params={"contract": "fast", "at_risk": "1", "breached": "1", "mine": "1"})
    assert board.status_code == 200
    assert fake.queries[-1] == ("WorkflowType = 'ComplaintWorkflow' AND CxContract = 'fast' AND CxAssignee = 'sam' "
                                "AND ExecutionStatus = 'Running' AND (CxAtRisk = true OR CxBreached = true)")
    bad = await http.get("/ui/board", params={"assignee": "x' OR '1'='1"})
    assert bad.status_code == 422 and "assignee: use letters" in bad.text
    found = await http.get("/ui/board/rows", params={"q": "C-9"})
    assert 'data-id="c-1"' in found.text and 'data-id="c-2"' not in found.text
    found = await http.get("/ui/board/rows", params={"q": "REBOOT"})
    assert 'data-id="c-1"' in found.text
    result = await http.post("/ui/board/bulk", data={"csrf": csrf, "action": "assign", "ids": ["c-1", "c-2", "c-3"],
                                                     "to": "amy", "group": "desk"})
    assert result.status_code == 200
    assert "c-1: done" in result.text and "c-2: done" in result.text and "c-3: refused (404)" in result.text
    assert [(cid, name) for cid, name, _ in fake.sent] == [("c-1", "assign"), ("c-2", "assign")]


def test_clock_bars_mark_warnings_pauses_extensions_and_breaches():
    fake = FakeComplaints()
    fake.add("c")
    events = fake.events["c"]
    events.append(to_event("acknowledge", fake_command("acknowledge"), T0 + timedelta(seconds=2)))
    events.append(to_event("await_customer", fake_command("await_customer"), T0 + timedelta(seconds=3)))
    events.append(to_event("customer_responded", fake_command("customer_responded"), T0 + timedelta(seconds=8)))
    until = T0 + timedelta(seconds=500)
    events.append(to_event("extend", fake_command("extend", until=until, reason="parts"), T0 + timedelta(seconds=9)))
    fake.now = T0 + timedelta(seconds=31)  # both triage warnings fire (50 % and 80 % of 30 s, plus the 5 s pause)
    asyncio.run(fake.status("c"))
    fake.now = T0 + timedelta(seconds=45)
    status = asyncio.run(fake.status("c"))
    bars = {bar.name: bar for bar in v.clock_bars(status, fake.now)}
    triage = bars["triage"]  # 30 s target, paused 5 s: breached at 35 s, warned at 50 % and 80 %
    kinds = [m.kind for m in triage.marks]
    assert kinds.count("warning") == 2 and "pause" in kinds and "breach" in kinds and "now" in kinds
    pause = next(m for m in triage.marks if m.kind == "pause")
    assert pause.ended and pause.width > 0 and pause.x < next(m.x for m in triage.marks if m.kind == "breach")
    assert "BREACHED" in triage.words and "paused" in triage.words
    resolve = bars["resolve"]
    assert any(m.kind == "extension" for m in resolve.marks) and resolve.extended_until == until
    assert "pause" not in [m.kind for m in bars["acknowledge"].marks]  # acknowledge never pauses


def fake_command(name: str, **fields: Any) -> Command:
    from sla.commands import COMMAND_MODELS

    return COMMAND_MODELS[name](**fields)


def test_form_values_read_local_times_with_the_browsers_offset():
    values = v.form_values("extend", {"until": "2026-12-05T10:30", "reason": " r ", "clock": "resolve"}, 480)
    assert values == {"until": "2026-12-05T10:30:00+08:00", "reason": "r", "clock": "resolve"}
    assert v.form_values("resolve", {"resolution": "x", "first_contact": "1", "remedy": ""}, None) == {
        "resolution": "x", "first_contact": True}
    assert {f.name: f.kind for f in v.form_fields("resolve")}["at_fault"] == "checkbox"
    assert [f.name for f in v.form_fields("assign")] == ["to", "group", "note"]
    assert ClockName.RESOLVE.value in v.form_fields("extend")[0].choices
