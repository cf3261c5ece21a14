"""The assessment routes over real HTTP against a real dev server: roles, survey rows reduced to histograms with
personal columns dropped, cycles, reports, plans and interruptions, problem+json on refusals."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import pytest_asyncio

from tests.helpers.service import Service, Tokens, service_settings

CONTRACT = "always-on"
PROBLEM = "application/problem+json"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(dev_env, tmp_path_factory):
    tokens = Tokens()
    settings = service_settings(dev_env.client.service_client.config.target_host,
                                tmp_path_factory.mktemp("api-assessment"), tokens)
    with Service(settings) as service:
        yield service, tokens


def _client(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=service.url, timeout=60)


async def test_cycles_need_admin_to_start_and_take_survey_rows_without_personal_data(api):
    service, tokens = api
    async with _client(service) as http:
        rows: list[dict[str, str | int]] = [{"CSAT": 5}]
        no_cycle = await http.post(f"/v1/cycles/{CONTRACT}/2031-Q3/surveys", json={"channel": "email",
                                   "responses": rows}, headers=Tokens.header(tokens.supervisor))
        assert no_cycle.status_code == 404 and "an admin starts it" in no_cycle.json()["detail"], no_cycle.text
        assert (await http.get(f"/v1/cycles/{CONTRACT}/2031-Q3", headers=Tokens.header(tokens.agent))
                ).status_code == 404  # the import started nothing
        body = {"contract": CONTRACT, "period": "2031-Q2"}
        assert (await http.post("/v1/cycles", json=body)).status_code == 401
        refused = await http.post("/v1/cycles", json=body, headers=Tokens.header(tokens.supervisor))
        assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
        started = await http.post("/v1/cycles", json=body, headers=Tokens.header(tokens.admin))
        assert started.status_code == 201 and started.json()["phase"] in ("planning", "accepting_surveys")
        again = await http.post("/v1/cycles", json=body, headers=Tokens.header(tokens.admin))
        assert again.status_code == 200 and again.json()["created"] is False

        rows = [{"name": "Li Lei", "phone": "+86 139 1111 2222", "CSAT": 5, "nps": 10, "comment": "great"},
                {"name": "Han Meimei", "phone": "+86 139 3333 4444", "CSAT": 2, "nps": "", "comment": "slow"}]
        url = f"/v1/cycles/{CONTRACT}/2031-Q2/surveys"
        assert (await http.post(url, json={"channel": "email", "responses": rows},
                                headers=Tokens.header(tokens.agent))).status_code == 403
        imported = await http.post(url, json={"channel": "email", "responses": rows},
                                   headers=Tokens.header(tokens.supervisor))
        assert imported.status_code == 200, imported.text
        assert imported.json()["duplicate"] is False and imported.json()["responses"] == 2
        repeat = await http.post(url, json={"channel": "email", "responses": rows},
                                 headers=Tokens.header(tokens.supervisor))
        assert repeat.json()["duplicate"] is True  # same rows: same derived batch id, nothing changed
        bad = await http.post(url, json={"channel": "email", "responses": [{"csat": 9}]},
                              headers=Tokens.header(tokens.supervisor))
        assert bad.status_code == 422 and "row 1" in bad.json()["detail"] and "csat" in bad.json()["detail"]

        status = await http.get(f"/v1/cycles/{CONTRACT}/2031-Q2", headers=Tokens.header(tokens.agent))
        assert status.status_code == 200 and status.json()["responses"] == 2
        for secret in ("Li Lei", "139 1111", "great", "Han Meimei"):
            assert secret not in status.text
        report = await http.get(f"/v1/cycles/{CONTRACT}/2031-Q2/report", headers=Tokens.header(tokens.agent))
        assert report.status_code == 409 and "still" in report.json()["detail"]
        wrong = await http.get(f"/v1/cycles/{CONTRACT}/2031-13", headers=Tokens.header(tokens.agent))
        assert wrong.status_code == 422
        unknown = await http.post("/v1/cycles", json={"contract": "nope", "period": "2031-Q2"},
                                  headers=Tokens.header(tokens.admin))
        assert unknown.status_code == 422 and "unknown contract" in unknown.json()["detail"]


async def test_a_past_cycle_reports_in_every_format(api):
    service, tokens = api
    async with _client(service) as http:
        started = await http.post("/v1/cycles", json={"contract": CONTRACT, "period": "2020-03"},
                                  headers=Tokens.header(tokens.admin))
        assert started.status_code in (200, 201), started.text
        for _ in range(100):  # a past period is assessed at once; bounded wait for the worker
            report = await http.get(f"/v1/cycles/{CONTRACT}/2020-03/report?format=html",
                                    headers=Tokens.header(tokens.agent))
            if report.status_code == 200:
                break
            assert report.status_code == 409
            await asyncio.sleep(0.2)
        assert report.headers["content-type"].startswith("text/html") and "<svg" in report.text
        md = await http.get(f"/v1/cycles/{CONTRACT}/2020-03/report", headers=Tokens.header(tokens.agent))
        assert md.headers["content-type"].startswith("text/markdown") and "2020-03" in md.text
        doc = await http.get(f"/v1/cycles/{CONTRACT}/2020-03/report?format=json", headers=Tokens.header(tokens.agent))
        assert doc.json()["result"]["period"] == "2020-03"


async def test_retrying_a_cycle_is_for_admins_and_answers_its_status(api):
    service, tokens = api
    async with _client(service) as http:
        url = f"/v1/cycles/{CONTRACT}/2031-Q1"
        assert (await http.post(f"{url}/retry", headers=Tokens.header(tokens.admin))).status_code == 404
        started = await http.post("/v1/cycles", json={"contract": CONTRACT, "period": "2031-Q1"},
                                  headers=Tokens.header(tokens.admin))
        assert started.status_code in (200, 201), started.text
        refused = await http.post(f"{url}/retry", headers=Tokens.header(tokens.supervisor))
        assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
        retried = await http.post(f"{url}/retry", headers=Tokens.header(tokens.admin))
        assert retried.status_code == 200, retried.text
        assert retried.json()["waiting_for_fix"] is False and retried.json()["error"] is None
        shown = await http.get(url, headers=Tokens.header(tokens.agent))
        assert shown.json()["waiting_for_fix"] is False


async def test_a_closed_cycle_refuses_a_late_import_and_is_reassessed_by_an_admin(api):
    service, tokens = api
    admin, agent = Tokens.header(tokens.admin), Tokens.header(tokens.agent)
    async with _client(service) as http:
        url = f"/v1/cycles/{CONTRACT}/2019-11"
        started = await http.post("/v1/cycles", json={"contract": CONTRACT, "period": "2019-11"}, headers=admin)
        assert started.status_code in (200, 201), started.text
        for _ in range(100):  # a past period is assessed at once; bounded wait for the worker
            if (await http.get(f"{url}/report?format=json", headers=agent)).status_code == 200:
                break
            await asyncio.sleep(0.2)
        late = {"channel": "hotline", "responses": [{"csat": 5}, {"csat": 4}, {"csat": 1}]}
        refused = await http.post(f"{url}/surveys", json=late, headers=Tokens.header(tokens.supervisor))
        assert refused.status_code == 409 and "has closed" in refused.json()["detail"], refused.text
        body = {**late, "reason": "hotline export arrived late"}
        assert (await http.post(f"{url}/reassess", json=body, headers=Tokens.header(tokens.supervisor))
                ).status_code == 403
        blank = await http.post(f"{url}/reassess", json={**late, "reason": "  "}, headers=admin)
        assert blank.status_code == 422 and "reason" in blank.json()["detail"], blank.text
        again = await http.post(f"{url}/reassess", json=body, headers=admin)
        assert again.status_code == 200, again.text
        for _ in range(100):
            doc = await http.get(f"{url}/report?format=json", headers=agent)
            if doc.status_code == 200:
                break
            await asyncio.sleep(0.2)
        reassessment = doc.json()["result"]["reassessment"]
        assert reassessment["reason"] == "hotline export arrived late" and reassessment["by"]
        md = await http.get(f"{url}/report", headers=agent)
        assert f"by {reassessment['by']}: hotline export arrived late" in md.text
        repeat = await http.post(f"{url}/reassess", json=body, headers=admin)
        assert repeat.status_code == 409, repeat.text


async def test_outages_and_plans_through_the_api(api):
    service, tokens = api
    async with _client(service) as http:
        body = {"id": "api-db-1", "contract": CONTRACT, "summary": "database down"}
        assert (await http.post("/v1/outages", json=body, headers=Tokens.header(tokens.agent))).status_code == 403
        reported = await http.post("/v1/outages", json=body, headers=Tokens.header(tokens.supervisor))
        assert reported.status_code == 201 and reported.json()["state"] == "ongoing"
        shown = await http.get("/v1/outages/api-db-1", headers=Tokens.header(tokens.agent))
        assert shown.json()["clock"]["state"] == "running"
        restored = await http.post("/v1/outages/api-db-1/restore", json={}, headers=Tokens.header(tokens.supervisor))
        assert restored.status_code == 200 and restored.json()["state"] == "restored"
        again = await http.post("/v1/outages/api-db-1/restore", json={}, headers=Tokens.header(tokens.supervisor))
        assert again.status_code == 409 and again.headers["content-type"] == PROBLEM

        missing = await http.get("/v1/plans/plan-always-on-nothing", headers=Tokens.header(tokens.agent))
        assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
        listed = await http.get("/v1/plans", headers=Tokens.header(tokens.agent))
        assert listed.status_code == 200 and isinstance(listed.json(), list)
        incomplete = await http.post("/v1/plans/plan-always-on-csat/submit", headers=Tokens.header(tokens.supervisor),
                                     json={"root_cause": "x", "measures": [], "expected_effect": "y"})
        assert incomplete.status_code == 422 and "measures" in incomplete.text


@pytest.mark.parametrize("path", ["/v1/cycles/x/2031-Q2", "/v1/plans", "/v1/outages/x"])
async def test_reading_needs_a_token(api, path):
    service, _ = api
    async with _client(service) as http:
        response = await http.get(path)
        assert response.status_code == 401 and response.headers["content-type"] == PROBLEM
