"""Bounds on every input (issue 12): one request must not freeze a clock or page a manager for last month.

Each refusal is one plain sentence naming the field and the bound: a 422 problem from the API (no pydantic text,
no link to pydantic's site), a non-zero exit from the CLI. The API runs in process over a ComplaintClient whose
Temporal client is never reached: every refusal here happens before it would be.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from sla import commands as cmd
from sla import events as ev
from sla.errors import plain
from sla.policy import DEFAULT_LIMITS, Limits, PolicyError, parse_policy
from starter.api.app import create_app
from starter.api.edge import MAX_BODY_BYTES
from starter.client.complaints import ComplaintClient
from tests.helpers.policies import SMALL
from tests.helpers.service import Tokens, service_settings

UTC = timezone.utc
NOW = datetime(2026, 3, 3, 9, tzinfo=UTC)
HUGE = 10 ** 400
FAR = ["0001-01-01T00:00:00+08:00", "9999-12-31T23:00:00-08:00"]


def _refusal(exc: ValidationError) -> str:
    text = plain(exc)
    assert "pydantic" not in text and "\n" not in text, text
    return text


# ---- the models ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["post_progress", "resolve"])
def test_handling_seconds_has_a_hard_bound(name):
    fields = {"resolution": "fixed"} if name == "resolve" else {}
    with pytest.raises(ValidationError) as info:
        cmd.COMMAND_MODELS[name].model_validate({"handling_seconds": HUGE, **fields})
    assert _refusal(info.value).startswith("handling_seconds: ")


@pytest.mark.parametrize("value", FAR)
def test_a_timestamp_far_outside_2000_2100_is_a_plain_refusal_not_an_overflow(value):
    with pytest.raises(ValidationError) as info:
        cmd.Extend(until=value, reason="r")
    assert _refusal(info.value) == "until: timestamps must fall within the years 2000-2100"
    with pytest.raises(ValidationError):
        cmd.OpenComplaint(id="x", contract="t", severity="low", received_at=value)


def test_a_live_open_is_received_within_the_limit_and_not_ahead_beyond_the_skew():
    def received(at: datetime, limits: Limits = DEFAULT_LIMITS) -> datetime:
        return cmd.OpenComplaint(id="x", contract="t", severity="low", received_at=at).received(NOW, limits).at

    assert received(NOW - timedelta(days=29)) == NOW - timedelta(days=29)
    assert received(NOW + timedelta(seconds=30)) == NOW  # a desk clock a little ahead
    with pytest.raises(ValueError, match="received_at: a live open may be at most 30 days old; .*import_history"):
        received(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="received_at: in the future"):
        received(NOW + timedelta(hours=1))
    assert received(NOW - timedelta(days=80), Limits(received_within_days=90)) == NOW - timedelta(days=80)


def test_contract_limits_bound_handling_time_extension_reach_and_record_size():
    limits = Limits()
    received = NOW
    cmd.check_limits(cmd.PostProgress(handling_seconds=30 * 86_400), limits, received_at=received, events=3)
    with pytest.raises(ValueError, match=r"^handling_seconds: at most 2592000 \(30 days\)$"):
        cmd.check_limits(cmd.PostProgress(handling_seconds=30 * 86_400 + 1), limits, received_at=received, events=3)
    cmd.check_limits(cmd.Extend(until=NOW + timedelta(days=365), reason="r"), limits, received_at=received, events=3)
    with pytest.raises(ValueError, match="until: an extension reaches at most 365 days after the complaint"):
        cmd.check_limits(cmd.Extend(until=NOW + timedelta(days=366), reason="r"), limits, received_at=received,
                         events=3)
    with pytest.raises(ValueError, match="limit of 5000 events"):
        cmd.check_limits(cmd.Acknowledge(), limits, received_at=received, events=5_000)
    # a full record still takes what brings the complaint to a close
    for closing in (cmd.Resolve(resolution="fixed"), cmd.NotifyResult(), cmd.RecordFeedback(csat=4),
                    cmd.Withdraw(reason="customer withdrew")):
        cmd.check_limits(closing, limits, received_at=received, events=5_000)


def test_the_year_bound_refuses_new_input_but_a_recorded_event_from_an_older_release_still_reads():
    far = datetime(2200, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ValidationError, match="2000-2100"):
        cmd.Extend(until=far, reason="r")
    recorded = ev.Extended(at=NOW, clock="resolve", until=far, reason="r")  # an older release accepted this
    assert recorded.until == far


# ---- the policy ---------------------------------------------------------------------------------------------
def test_limits_come_from_the_file_then_the_contract_and_absent_limits_keep_the_version():
    plain_policy = parse_policy(SMALL)
    assert plain_policy.contract("t").limits is None and plain_policy.contract("t").bounds == Limits()
    with_file = parse_policy({**SMALL, "limits": {"handling_seconds": 3600, "received_within_days": 7}})
    contract = {**SMALL["contracts"]["t"], "limits": {"received_within_days": 2}}
    both = parse_policy({**with_file.model_dump(mode="json", exclude_unset=True),
                         "contracts": {"t": contract}, "calendars": SMALL["calendars"],
                         "limits": {"handling_seconds": 3600, "received_within_days": 7}})
    assert with_file.contract("t").bounds.handling_seconds == 3600
    assert both.contract("t").bounds.handling_seconds == 3600
    assert both.contract("t").bounds.received_within_days == 2
    assert both.limits_of("t").received_within_days == 2
    assert plain_policy.contract("t").version != with_file.contract("t").version
    with pytest.raises(PolicyError, match="handling_seconds"):
        parse_policy({**SMALL, "limits": {"handling_seconds": HUGE}})


# ---- the API ------------------------------------------------------------------------------------------------
@pytest.fixture
async def api(tmp_path):
    tokens = Tokens()
    settings = service_settings("127.0.0.1:1", tmp_path, tokens)
    client = ComplaintClient(None, policy=parse_policy(SMALL))  # type: ignore[arg-type]  # never reached
    app = create_app(settings, complaints_client=client)
    app.state.complaints = client
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http, Tokens.header(tokens.agent), Tokens.header(tokens.supervisor)


def _plain_422(response: httpx.Response, *needles: str) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "pydantic" not in response.text and "errors.pydantic.dev" not in response.text, response.text
    for needle in needles:
        assert needle in detail, (needle, detail)
    return detail


async def test_api_refuses_unbounded_values_with_a_422_sentence(api):
    http, agent, supervisor = api
    big = '{"handling_seconds": 1' + "0" * 400 + "}"
    response = await http.post("/v1/complaints/c1/post_progress", content=big,
                               headers={**agent, "Content-Type": "application/json"})
    _plain_422(response, "handling_seconds")
    for value in FAR:
        response = await http.post("/v1/complaints/c1/extend", headers=supervisor,
                                   json={"until": value, "reason": "r"})
        _plain_422(response, "until: timestamps must fall within the years 2000-2100")
        response = await http.post("/v1/complaints", headers=agent,
                                   json={"id": "c2", "contract": "t", "severity": "low", "received_at": value})
        _plain_422(response, "received_at")


async def test_api_refuses_a_live_open_received_months_ago(api):
    http, agent, _ = api
    response = await http.post("/v1/complaints", headers=agent, json={
        "id": "c3", "contract": "t", "severity": "low", "received_at": "2020-01-01T00:00:00+00:00"})
    _plain_422(response, "received_at: a live open may be at most 30 days old", "import_history")


# ---- the CLI ------------------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    cxsla = Path(sys.executable).with_name("cxsla")
    return subprocess.run([str(cxsla), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "TEMPORAL_ADDRESS": "127.0.0.1:1"})


@pytest.mark.e2e  # runs the `cxsla` CLI as a process
def test_cli_refuses_an_old_live_open_and_a_far_timestamp_before_connecting():
    old = _cli("complaint", "open", "--id", "c4", "--contract", "default", "--severity", "low",
               "--received-at", "2020-01-01T00:00:00+00:00")
    assert old.returncode != 0 and "at most 30 days old" in old.stderr + old.stdout, old
    far = _cli("complaint", "open", "--id", "c5", "--contract", "default", "--severity", "low",
               "--received-at", FAR[0])
    output = far.stderr + far.stdout
    assert far.returncode != 0 and "received_at: timestamps must fall within the years 2000-2100" in output, far
    assert "pydantic" not in output


# ---- the HTTP edge ------------------------------------------------------------------------------------------
async def test_a_large_body_is_413_before_the_token_is_checked_declared_or_streamed(api):
    http, agent, _ = api
    declared = await http.post("/v1/complaints", content=b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}",
                               headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and "larger than" in declared.json()["detail"], declared.text

    async def chunks():
        for _ in range(MAX_BODY_BYTES // 65_536 + 2):
            yield b" " * 65_536

    streamed = await http.post("/v1/complaints", content=chunks(),
                               headers={**agent, "Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text


async def test_a_wrong_content_type_is_415_and_unreadable_json_is_400(api):
    http, agent, _ = api
    wrong = await http.post("/v1/complaints", content=b"id=c6", headers={**agent, "Content-Type": "text/plain"})
    assert wrong.status_code == 415 and wrong.headers["content-type"].startswith("application/problem+json")
    unreadable = await http.post("/v1/complaints", content=b'{"id": "x",',
                                 headers={**agent, "Content-Type": "application/json"})
    assert unreadable.status_code == 400 and "not valid JSON" in unreadable.json()["detail"], unreadable.text
    empty = await http.post("/v1/complaints", headers=agent)  # no body at all: the route says what is missing
    assert empty.status_code == 422, empty.text


async def test_every_route_with_a_body_declares_400_413_415_and_metric_methods_are_bounded(api):
    http, agent, _ = api
    spec = (await http.get("/openapi.json")).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(operation["responses"]), (method, path)
    await http.request("BREW", "/v1/complaints", headers=agent)
    metrics = (await http.get("/metrics")).text
    assert 'method="BREW"' not in metrics and 'method="other"' in metrics
