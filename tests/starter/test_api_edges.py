"""What a newcomer meets first over real HTTP (uvicorn on a loopback port, against the session dev server): the
interactive docs work offline, blank text is a 422 naming the field (never a 500), and a token added to the
tokens file after the API started is accepted without a restart."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
import pytest_asyncio

from starter.service.tokens import Role, TokenStore
from tests.helpers.service import Service, Tokens, service_settings

ASSET = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    return Tokens()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(dev_env, tmp_path_factory, tokens):
    settings = service_settings(dev_env.client.service_client.config.target_host, tmp_path_factory.mktemp("edges"),
                                tokens)
    with Service(settings, worker=False) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def http(service):
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_every_script_and_stylesheet_from_the_api_itself(http, page):
    response = await http.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assets = ASSET.findall(response.text)
    assert any(url.endswith(".js") for url in assets), response.text
    assert "http" not in response.text.replace(str(http.base_url), ""), "a URL to another host"
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        assert (await http.get(url)).status_code == 200, url


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/plans/plan-calm-csat/submit", {"root_cause": "   ", "expected_effect": "CSAT >= 85", "measures": [
        {"action": "callbacks", "owner": "desk lead", "due": "2027-02-01"}]}, "root_cause"),
    ("/v1/plans/plan-calm-csat/submit", {"root_cause": "slow", "expected_effect": "CSAT >= 85", "measures": [
        {"action": "callbacks", "owner": " \t", "due": "2027-02-01"}]}, "measures.0.owner"),
    ("/v1/plans/plan-calm-csat/progress", {"summary": "\n  "}, "summary"),
    ("/v1/plans/plan-calm-csat/progress", {"summary": ""}, "summary"),
    ("/v1/plans/plan-calm-csat/revise", {"root_cause": "slow", "expected_effect": "CSAT >= 85", "reason": " ",
                                         "measures": [{"action": "callbacks", "owner": "desk lead",
                                                       "due": "2027-02-01"}]}, "reason"),
    ("/v1/outages", {"id": "db-1", "contract": "default", "summary": "x" * 4001}, "summary"),
    ("/v1/outages/db-1/restore", {"note": "x" * 4001}, "note"),
])
async def test_text_the_command_refuses_is_a_422_naming_the_field(http, tokens, path, body, field):
    response = await http.post(path, json=body, headers=Tokens.header(tokens.supervisor))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == [field], problem
    assert problem["detail"].startswith(f"{field}: ") and "Value error" not in problem["detail"], problem


async def test_a_token_added_to_the_file_after_start_is_accepted_without_a_restart(http, service):
    token, _ = TokenStore.add_to_file(service.settings.api_tokens_file, "late-agent", Role.AGENT)
    headers = Tokens.header(token)
    deadline = time.monotonic() + 30
    while (response := await http.get("/v1/complaints/no-such-complaint", headers=headers)).status_code == 401:
        assert time.monotonic() < deadline, "the new token was not picked up"
        await asyncio.sleep(0.2)
    assert response.status_code == 404, response.text
