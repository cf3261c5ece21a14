"""The HTTP API over real HTTP (uvicorn on a loopback port) against the session dev server, with a worker on
its own task queue: every route, every role refusal, idempotent open under concurrent duplicates, cursor
pages, problem+json on bad input (and nothing reaching Temporal), the inbound webhook adapter."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import pytest_asyncio

from sla.commands import COMMAND_MODELS
from tests.helpers.e2e import until
from tests.helpers.service import Service, Tokens, service_settings

POLICY = """
version = "api-test"
[calendars.24x7]
timezone = "UTC"
[contracts.calm]
calendar = "24x7"
survey_window = "1h"
[contracts.calm.targets]
acknowledge = "PT1H"
triage = "PT1H"
handling_plan = "PT1H"
progress_update = "PT1H"
resolve = "PT2H"
notify_result = "PT1H"
survey = "PT1H"
[contracts.fast]
extends = "calm"
[contracts.fast.targets]
acknowledge = "PT1S"
[contracts.risky]
extends = "calm"
warn_at = [0.001]
[contracts.paged]
extends = "calm"
"""

INBOUND = """
[sources.helpdesk]
secret_env = "CXSLA_TEST_HELPDESK_SECRET"
signature_header = "X-Helpdesk-Signature"
[sources.helpdesk.fields]
id = "ticket.id"
severity = "ticket.priority"
summary = "ticket.subject"
customer_id = "ticket.requester.id"
customer_name = "ticket.requester.name"
customer_contact = "ticket.requester.email"
channel = "ticket.via"
[sources.helpdesk.constants]
contract = "calm"
[sources.helpdesk.values.severity]
urgent = "critical"
high = "major"
normal = "normal"
low = "low"
[sources.helpdesk.values.channel]
mail = "email"
phone = "phone"
"""
INBOUND_SECRET = "helpdesk-shared-secret"
PROBLEM = "application/problem+json"
NAME, CONTACT = "Li Xiaoming", "li.xiaoming@example.cn"


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    return Tokens()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(dev_env, tmp_path_factory, tokens):
    import os

    os.environ["CXSLA_TEST_HELPDESK_SECRET"] = INBOUND_SECRET
    settings = service_settings(dev_env.client.service_client.config.target_host, tmp_path_factory.mktemp("api"),
                                tokens, policy=POLICY, inbound=INBOUND)
    with Service(settings) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def http(service):
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        yield client


def uid(prefix: str = "api") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def count(dev_env, complaint_id: str) -> int:
    return (await dev_env.client.count_workflows(f"WorkflowId = 'complaint-{complaint_id}'")).count


async def history_length(dev_env, complaint_id: str) -> int:
    history = await dev_env.client.get_workflow_handle(f"complaint-{complaint_id}").fetch_history()
    return len(history.events)


def assert_problem(response: httpx.Response, status: int, *needles: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    problem = response.json()
    assert problem["status"] == status and problem["title"] and problem["detail"], problem
    for needle in needles:
        assert needle in problem["detail"], (needle, problem)
    return problem


async def test_openapi_has_every_route_and_health_answers(http):
    spec = (await http.get("/openapi.json")).json()
    paths = spec["paths"]
    for name in COMMAND_MODELS:
        operation = paths[f"/v1/complaints/{{complaint_id}}/{name}"]["post"]
        assert operation["security"] == [{"HTTPBearer": []}]
        assert PROBLEM in operation["responses"]["422"]["content"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert "by" not in json.dumps(spec["components"]["schemas"][f"{COMMAND_MODELS[name].__name__}Body"])
        assert body
    assert {"/v1/complaints", "/v1/complaints/{complaint_id}", "/v1/inbound/{source}", "/healthz",
            "/readyz"} <= set(paths)
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).json() == {"status": "ready"}


async def test_every_command_route_moves_a_complaint_and_records_the_token_identity(http, tokens, service):
    agent, supervisor = Tokens.header(tokens.agent), Tokens.header(tokens.supervisor)
    cid = uid()
    opened = await http.post("/v1/complaints", headers=agent, json={
        "id": cid, "contract": "calm", "severity": "normal", "channel": "phone", "customer_id": "C-1",
        "customer_name": NAME, "customer_contact": CONTACT, "summary": "the router keeps rebooting"})
    assert opened.status_code == 201, opened.text
    assert opened.headers["location"] == f"/v1/complaints/{cid}"
    assert opened.json()["created"] is True and opened.json()["state"] == "received"
    assert NAME not in opened.text and CONTACT not in opened.text  # status views carry no personal data

    later = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    steps = [
        ("acknowledge", agent, None, "acknowledged"),
        ("assign", agent, {"to": "amy", "group": "hardware-desk"}, "acknowledged"),
        ("triage", agent, {"category": "hardware"}, "in_progress"),
        ("communicate_plan", agent, {"plan": "replace the unit"}, "in_progress"),
        ("post_progress", agent, {"note": "unit shipped", "handling_seconds": 600}, "in_progress"),
        ("await_customer", agent, {"reason": "delivery address"}, "awaiting_customer"),
        ("customer_responded", agent, {}, "in_progress"),
        ("extend", supervisor, {"clock": "resolve", "until": later, "reason": "parts on back order"}, "in_progress"),
        ("reclassify", supervisor, {"severity": "major", "reason": "second outage"}, "in_progress"),
        # 000 §4.5: verified as our fault, so a remedy is owed: refused without one (nothing recorded)
        ("resolve", supervisor, {"resolution": "unit replaced", "at_fault": True}, 422),
        ("resolve", supervisor, {"resolution": "unit replaced", "at_fault": True, "remedy": "replacement"},
         "resolved"),
        ("reopen", supervisor, {"reason": "still rebooting"}, "in_progress"),
        ("resolve", supervisor, {"resolution": "firmware fixed"}, "resolved"),
        ("notify_result", agent, {"note": "told by phone"}, "resolved"),
        ("record_feedback", agent, {"csat": 5, "nps": 9, "comment": "fine now"}, "closed"),
    ]
    for name, who, body, state in steps:
        response = await http.post(f"/v1/complaints/{cid}/{name}", headers=who,
                                   **({"json": body} if body is not None else {}))
        if isinstance(state, int):
            assert response.status_code == state and "remedy" in response.json()["detail"], response.text
            continue
        assert response.status_code == 200, (name, response.text)
        assert response.json()["state"] == state, (name, response.json()["state"])

    status = (await http.get(f"/v1/complaints/{cid}", headers=agent)).json()
    by = {event["type"]: event["by"] for event in status["timeline"]}
    assert by["received"] == by["acknowledged"] == by["feedback_recorded"] == "amy"
    assert by["extended"] == by["reclassified"] == by["resolved"] == by["reopened"] == "sam"
    assert status["severity"] == "major"
    resolutions = [e for e in status["timeline"] if e["type"] == "resolved"]
    assert [(e.get("at_fault"), e.get("remedy")) for e in resolutions] == [(True, "replacement"), (None, None)]
    assert (status["assignee"], status["group"]) == ("amy", "hardware-desk")
    assigned = [event for event in status["timeline"] if event["type"] == "assigned"]
    assert assigned == [{"type": "assigned", "at": assigned[0]["at"], "by": "amy", "to": "amy",
                         "group": "hardware-desk"}]

    async def in_amys_queue() -> bool:
        page = (await http.get("/v1/complaints", headers=agent, params={"assignee": "amy", "limit": 500})).json()
        return any(row["id"] == cid and row["assignee"] == "amy" for row in page["items"])

    await until(in_amys_queue, 10, "the complaint listed under assignee amy")  # visibility lags a moment
    assert_problem(await http.post(f"/v1/complaints/{cid}/assign", headers=agent, json={}), 422, "to:")
    refused = await http.get("/v1/complaints", headers=agent, params={"assignee": "amy' OR 1=1"})
    assert refused.status_code == 422 and "assignee" in refused.json()["detail"]

    withdrawn = uid()
    await http.post("/v1/complaints", headers=agent, json={"id": withdrawn, "contract": "calm", "severity": "low"})
    response = await http.post(f"/v1/complaints/{withdrawn}/withdraw", headers=supervisor,
                               json={"reason": "customer cancelled"})
    assert response.status_code == 200 and response.json()["state"] == "withdrawn"
    done = {name for name, *_ in steps} | {"withdraw"}
    assert done == set(COMMAND_MODELS)

    # Personal data never reaches notifications (the worker's sink saw this complaint's messages).
    sent = [n.model_dump_json() for n in service.sink.notifications if n.complaint_id == cid]
    assert sent and not any(NAME in text or CONTACT in text for text in sent)


async def test_roles_refuse_with_401_and_403_and_record_nothing(http, tokens, dev_env):
    agent, supervisor, admin = (Tokens.header(t) for t in (tokens.agent, tokens.supervisor, tokens.admin))
    cid = uid()
    assert (await http.post("/v1/complaints", headers=agent,
                            json={"id": cid, "contract": "calm", "severity": "normal"})).status_code == 201
    assert (await http.post(f"/v1/complaints/{cid}/acknowledge", headers=agent)).status_code == 200
    before = await history_length(dev_env, cid)

    spec = (await http.get("/openapi.json")).json()
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/complaints"):
            continue
        for method in operations:
            url = path.replace("{complaint_id}", cid)
            for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
                response = await http.request(method, url, headers=headers, json={})
                problem = assert_problem(response, 401)
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert "token" in problem["detail"]

    until = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    supervisor_only = {"resolve": {"resolution": "x"}, "extend": {"until": until, "reason": "r"},
                       "reopen": {}, "reclassify": {"severity": "major"}, "withdraw": {}}
    for name, body in supervisor_only.items():
        response = await http.post(f"/v1/complaints/{cid}/{name}", headers=agent, json=body)
        assert_problem(response, 403, "amy has role agent", "supervisor")
    assert await history_length(dev_env, cid) == before  # refused requests never reached Temporal

    # Supervisors and admins may do what agents may.
    assert (await http.post(f"/v1/complaints/{cid}/triage", headers=supervisor)).status_code == 200
    response = await http.post(f"/v1/complaints/{cid}/resolve", headers=admin, json={"resolution": "done"})
    assert response.status_code == 200
    last = response.json()["timeline"][-1]
    assert (last["type"], last["by"]) == ("resolved", "root")


async def test_concurrent_duplicate_opens_start_exactly_one_workflow(http, tokens, dev_env):
    agent = Tokens.header(tokens.agent)
    cid = uid("dup")
    body = {"id": cid, "contract": "calm", "severity": "major"}
    responses = await asyncio.gather(*(http.post("/v1/complaints", headers=agent, json=body) for _ in range(20)))
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201], [r.text for r in responses]
    assert [r.json()["created"] for r in responses].count(True) == 1
    assert {r.json()["id"] for r in responses} == {cid}
    assert await count(dev_env, cid) == 1

    # An Idempotency-Key header alone names the complaint; repeats return it.
    key = str(uuid.uuid4())
    keyed = await asyncio.gather(*(
        http.post("/v1/complaints", headers={**agent, "Idempotency-Key": key},
                  json={"contract": "calm", "severity": "low"}) for _ in range(10)))
    assert sorted(r.status_code for r in keyed) == [200] * 9 + [201]
    assert await count(dev_env, key) == 1
    clash = await http.post("/v1/complaints", headers={**agent, "Idempotency-Key": key},
                            json={"id": uid(), "contract": "calm", "severity": "low"})
    assert_problem(clash, 422, "Idempotency-Key")


async def test_bad_input_gets_problem_json_naming_the_field_and_nothing_reaches_temporal(http, tokens, dev_env):
    agent, supervisor = Tokens.header(tokens.agent), Tokens.header(tokens.supervisor)
    future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    refused = {
        "unknown-contract": ({"contract": "nope", "severity": "low"}, "nope"),
        "bad-severity": ({"contract": "calm", "severity": "urgent"}, "severity:"),
        "by-in-body": ({"contract": "calm", "severity": "low", "by": "mallory"}, "by: set from your token"),
        "future": ({"contract": "calm", "severity": "low", "received_at": future}, "in the future"),
        "naive-time": ({"contract": "calm", "severity": "low", "received_at": "2025-01-01T00:00:00"},
                       "received_at:"),
        "long-name": ({"contract": "calm", "severity": "low", "customer_name": "x" * 201}, "customer_name:"),
        "extra": ({"contract": "calm", "severity": "low", "colour": "red"}, "colour:"),
    }
    for label, (body, needle) in refused.items():
        cid = uid(label)
        problem = assert_problem(await http.post("/v1/complaints", headers=agent, json={"id": cid, **body}), 422,
                                 needle)
        if problem["type"].endswith("validation-error"):
            assert problem["errors"], problem
        assert await count(dev_env, cid) == 0, label
    assert_problem(await http.post("/v1/complaints", headers=agent, json={"contract": "calm", "severity": "low"}),
                   422, "id")
    malformed = await http.post("/v1/complaints", headers={**agent, "Content-Type": "application/json"},
                                content=b'{"id": "x",')
    assert_problem(malformed, 400, "not valid JSON")
    assert_problem(await http.post("/v1/complaints", headers=agent,
                                   json={"id": "bad id!", "contract": "calm", "severity": "low"}), 422, "id:")

    cid = uid()
    await http.post("/v1/complaints", headers=agent, json={"id": cid, "contract": "calm", "severity": "normal"})
    before = await history_length(dev_env, cid)
    assert_problem(await http.post(f"/v1/complaints/{cid}/resolve", headers=supervisor, json={"resolution": "x"}),
                   409, "acknowledge it first")
    assert_problem(await http.post(f"/v1/complaints/{cid}/record_feedback", headers=agent, json={"csat": 9}),
                   422, "csat")
    assert_problem(await http.post(f"/v1/complaints/{cid}/resolve", headers=supervisor, json={}), 422,
                   "resolution")
    assert_problem(await http.post(f"/v1/complaints/{cid}/extend", headers=supervisor,
                                   json={"until": "soon", "reason": "r"}), 422, "until")
    assert await history_length(dev_env, cid) == before

    assert_problem(await http.get("/v1/complaints/no-such-complaint", headers=agent), 404, "no complaint")
    assert_problem(await http.post("/v1/complaints/no-such-complaint/acknowledge", headers=agent), 404,
                   "no complaint")
    assert_problem(await http.get("/v1/complaints/bad%20id", headers=agent), 422, "complaint_id")
    assert_problem(await http.post(f"/v1/complaints/{cid}/explode", headers=agent), 404)
    assert_problem(await http.delete(f"/v1/complaints/{cid}", headers=agent), 405)
    assert_problem(await http.get("/v1/complaints", headers=agent, params={"limit": 0}), 422, "limit")
    assert_problem(await http.get("/v1/complaints", headers=agent, params={"state": "lost"}), 422, "state")


async def test_list_filters_and_cursor_pages(http, tokens):
    agent = Tokens.header(tokens.agent)
    run = uuid.uuid4().hex[:6]
    ids = [f"page-{run}-{i}" for i in range(5)]
    for cid in ids:
        await http.post("/v1/complaints", headers=agent, json={"id": cid, "contract": "paged", "severity": "low"})
    for cid in ids[:2]:
        await http.post(f"/v1/complaints/{cid}/acknowledge", headers=agent)
    fast, risky = f"fast-{run}", f"risky-{run}"
    await http.post("/v1/complaints", headers=agent, json={"id": fast, "contract": "fast", "severity": "low"})
    await http.post("/v1/complaints", headers=agent, json={"id": risky, "contract": "risky", "severity": "low"})

    async def listed(**params) -> list[str]:
        response = await http.get("/v1/complaints", headers=agent, params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()["items"]]

    async def settled():
        return set(ids) <= set(await listed(contract="paged")) and \
            set(ids[:2]) <= set(await listed(contract="paged", state="acknowledged"))

    await until(settled, 20, "visibility of the opened complaints")
    assert set(await listed(contract="paged", state="acknowledged")) == set(ids[:2])
    await until(lambda: _contains(listed(breached="true"), fast), 20, "the fast complaint to breach")
    await until(lambda: _contains(listed(at_risk="true"), risky), 20, "the risky complaint to warn")
    assert fast not in await listed(contract="calm")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"contract": "paged", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/v1/complaints", headers=agent, params=params)).json()
        assert len(page["items"]) <= 2
        seen += [row["id"] for row in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        first_cursor = cursor
    assert sorted(seen) == sorted(set(seen)) and set(ids) <= set(seen) and pages >= 3
    assert_problem(await http.get("/v1/complaints", headers=agent,
                                  params={"contract": "calm", "limit": 2, "cursor": first_cursor}), 400, "cursor")
    assert_problem(await http.get("/v1/complaints", headers=agent, params={"cursor": "%%%"}), 400, "cursor")


async def test_bulk_applies_one_complaint_at_a_time_and_says_what_each_answered(http, tokens, dev_env):
    agent, supervisor = Tokens.header(tokens.agent), Tokens.header(tokens.supervisor)
    first, second, missing = uid("bulk"), uid("bulk"), uid("bulk")
    for cid in (first, second):
        await http.post("/v1/complaints", headers=agent, json={"id": cid, "contract": "calm", "severity": "low"})
    await http.post(f"/v1/complaints/{second}/acknowledge", headers=agent)

    acked = await http.post("/v1/complaints/bulk", headers=agent,
                            json={"action": "acknowledge", "ids": [first, second, missing]})
    assert acked.status_code == 200, acked.text
    results = {item["id"]: item for item in acked.json()["results"]}
    assert [item["id"] for item in acked.json()["results"]] == [first, second, missing]  # in the order sent
    assert results[first] == {"id": first, "ok": True, "status": 200, "state": "acknowledged", "detail": None}
    assert results[second]["status"] == 409 and "acknowledged" in results[second]["detail"]
    assert results[missing]["status"] == 404 and missing in results[missing]["detail"]
    assert (acked.json()["succeeded"], acked.json()["failed"]) == (1, 2)

    assigned = await http.post("/v1/complaints/bulk", headers=agent, json={
        "action": "assign", "ids": [first, second], "fields": {"to": "amy", "group": "desk-2"}})
    assert [item["ok"] for item in assigned.json()["results"]] == [True, True]
    status = (await http.get(f"/v1/complaints/{second}", headers=agent)).json()
    assert (status["assignee"], status["timeline"][-1]["by"]) == ("amy", "amy")

    # Refused as a whole: nothing reaches any complaint.
    before = await history_length(dev_env, first)
    later = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    extend = {"action": "extend", "ids": [first, second], "fields": {"until": later, "reason": "supplier outage"}}
    assert_problem(await http.post("/v1/complaints/bulk", headers=agent, json=extend), 403, "extend", "supervisor")
    assert_problem(await http.post("/v1/complaints/bulk", headers=supervisor, json={
        **extend, "fields": {"until": later}}), 422, "fields.reason")
    assert_problem(await http.post("/v1/complaints/bulk", headers=agent, json={
        "action": "assign", "ids": [first], "fields": {"to": "amy", "by": "someone"}}), 422, "fields.by")
    assert_problem(await http.post("/v1/complaints/bulk", headers=agent, json={
        "action": "acknowledge", "ids": [first, first]}), 422, "ids")
    assert_problem(await http.post("/v1/complaints/bulk", headers=agent, json={
        "action": "resolve", "ids": [first]}), 422, "action")
    assert await history_length(dev_env, first) == before

    extended = await http.post("/v1/complaints/bulk", headers=supervisor, json=extend)
    assert [item["ok"] for item in extended.json()["results"]] == [True, True], extended.text
    status = (await http.get(f"/v1/complaints/{first}", headers=agent)).json()
    assert status["timeline"][-1]["type"] == "extended" and status["timeline"][-1]["by"] == "sam"


async def _contains(rows, item) -> bool:
    return item in await rows


def _sign(body: bytes, secret: str = INBOUND_SECRET, at: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    signed = stamp.encode() + b"." + body
    return {"X-Helpdesk-Signature": "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest(),
            "X-Cxsla-Timestamp": stamp, "Content-Type": "application/json"}


async def test_inbound_webhook_maps_a_desk_payload_and_checks_its_signature(http, tokens, dev_env):
    ticket = uid("tkt")
    payload = {"ticket": {"id": ticket, "priority": "urgent", "subject": "no service since 9:00", "via": "mail",
                          "requester": {"id": 4711, "name": NAME, "email": CONTACT}}}
    body = json.dumps(payload).encode()
    created = await http.post("/v1/inbound/helpdesk", content=body, headers=_sign(body))
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["severity"] == "critical" and document["contract"] == "calm" and document["created"]
    assert document["timeline"][0]["by"] == "inbound:helpdesk"
    again = await http.post("/v1/inbound/helpdesk", content=body, headers=_sign(body))
    assert again.status_code == 200 and again.json()["created"] is False

    other = uid("tkt")
    body2 = json.dumps({"ticket": {**payload["ticket"], "id": other}}).encode()
    assert_problem(await http.post("/v1/inbound/helpdesk", content=body2, headers=_sign(body2, "wrong")), 401,
                   "X-Helpdesk-Signature")
    assert_problem(await http.post("/v1/inbound/helpdesk", content=body2,
                                   headers={"Content-Type": "application/json"}), 401)
    tampered = body2.replace(b"urgent", b"low")
    assert_problem(await http.post("/v1/inbound/helpdesk", content=tampered, headers=_sign(body2)), 401)
    assert_problem(await http.post("/v1/inbound/zendesk", content=body2, headers=_sign(body2)), 404, "zendesk")
    unmapped = json.dumps({"ticket": {**payload["ticket"], "id": other, "priority": "p9"}}).encode()
    problem = assert_problem(await http.post("/v1/inbound/helpdesk", content=unmapped, headers=_sign(unmapped)),
                             422, "ticket.priority")
    assert "p9" not in json.dumps(problem)  # the value sent is never echoed
    replayed = _sign(body2, at=int(time.time()) - 400)
    assert_problem(await http.post("/v1/inbound/helpdesk", content=body2, headers=replayed), 401, "5 minutes")
    body_only = {"X-Helpdesk-Signature": hmac.new(INBOUND_SECRET.encode(), body2, hashlib.sha256).hexdigest(),
                 "Content-Type": "application/json"}
    assert_problem(await http.post("/v1/inbound/helpdesk", content=body2, headers=body_only), 401,
                   "signatures now cover a timestamp")
    missing = json.dumps({"ticket": {"id": other, "subject": "x"}}).encode()
    assert_problem(await http.post("/v1/inbound/helpdesk", content=missing, headers=_sign(missing)), 422,
                   "severity")
    bad_id = json.dumps({"ticket": {**payload["ticket"], "id": "has space"}}).encode()
    assert_problem(await http.post("/v1/inbound/helpdesk", content=bad_id, headers=_sign(bad_id)), 422,
                   "from ticket.id")
    garbage = b"not json"
    assert_problem(await http.post("/v1/inbound/helpdesk", content=garbage, headers=_sign(garbage)), 400, "JSON")
    assert await count(dev_env, other) == 0


async def test_metrics_count_requests_by_route_template_and_carry_the_sdk_client_metrics(http, tokens):
    from prometheus_client.parser import text_string_to_metric_families

    cid = uid("metrics")
    agent = Tokens.header(tokens.agent)
    opened = await http.post("/v1/complaints", headers=agent,
                             json={"id": cid, "contract": "fast", "severity": "normal"})
    assert opened.status_code in (200, 201), opened.text
    assert (await http.get(f"/v1/complaints/{cid}", headers=agent)).status_code == 200
    assert (await http.get("/v1/complaints/no-such-complaint", headers=agent)).status_code == 404
    text = (await http.get("/metrics")).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}

    def value(name: str, **labels: str) -> float:
        return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))

    route = "/v1/complaints/{complaint_id}"
    assert value("cxsla_api_requests_total", route=route, method="GET", status="200") >= 1
    assert value("cxsla_api_requests_total", route=route, method="GET", status="404") >= 1
    assert value("cxsla_api_request_duration_seconds_count", route=route, method="GET") >= 2
    assert cid not in text  # labels carry route templates, never an id
    # the Temporal client's SDK metrics, with the worker's names (counters _total, durations _seconds)
    assert value("temporal_request_total", operation="QueryWorkflow") >= 1  # the GETs
    assert value("temporal_request_latency_seconds_count", operation="QueryWorkflow") >= 1


async def test_a_repeated_open_with_other_content_is_a_409_naming_the_difference(http, tokens, dev_env):
    agent = Tokens.header(tokens.agent)
    cid = uid("clash")
    body = {"id": cid, "contract": "calm", "severity": "major"}
    assert (await http.post("/v1/complaints", headers=agent, json=body)).status_code == 201
    assert (await http.post("/v1/complaints", headers=agent, json=body)).status_code == 200
    other = await http.post("/v1/complaints", headers=agent, json={**body, "severity": "low"})
    assert_problem(other, 409, "severity 'major' (asked 'low')")
    assert await count(dev_env, cid) == 1
