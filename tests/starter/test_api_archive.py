"""The archive over HTTP (in process, no Temporal needed for what the archive alone answers): archived complaints
listed with the archive's filters and cursor, and the export, whose personal fields only a supervisor gets."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from fastapi.testclient import TestClient
from temporalio.client import Client

from starter.api import create_app
from starter.client.complaints import ComplaintClient
from starter.service.archive import archive_of
from tests.helpers.archive import T0, archived, random_log
from tests.helpers.service import Tokens, service_settings

H = timedelta(hours=1)


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory, tokens: Tokens) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("api-archive")
    settings = service_settings("127.0.0.1:1", tmp, tokens, archive_url=f"sqlite:///{tmp}/archive.sqlite")
    store = archive_of(settings)
    rng = random.Random(7)
    store.save_complaints([archived(*random_log(rng, f"H-{n:02}", T0 + n * H)) for n in range(30)])
    complaints = ComplaintClient(cast(Client, None), archive=store)  # the routes below never reach Temporal
    with TestClient(create_app(settings, complaints_client=complaints)) as client:
        yield client
    store.dispose()


def test_archived_complaints_page_by_cursor_with_filters(http: TestClient, tokens: Tokens):
    seen, cursor = [], None
    while True:
        params: dict = {"archived": "true", "limit": 7, **({"cursor": cursor} if cursor else {})}
        response = http.get("/v1/complaints", params=params, headers={"Authorization": f"Bearer {tokens.agent}"})
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        assert all(item["archived"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"H-{n:02}" for n in reversed(range(30))]
    billing = http.get("/v1/complaints", params={"category": "billing", "limit": 100},
                       headers={"Authorization": f"Bearer {tokens.agent}"}).json()["items"]
    assert billing and {item["category"] for item in billing} == {"billing"}
    other = http.get("/v1/complaints", params={"archived": "true", "severity": "critical", "cursor": page_cursor(
        http, tokens)}, headers={"Authorization": f"Bearer {tokens.agent}"})
    assert other.status_code == 400  # a cursor from other filters


def page_cursor(http: TestClient, tokens: Tokens) -> str:
    return http.get("/v1/complaints", params={"archived": "true", "limit": 1},
                    headers={"Authorization": f"Bearer {tokens.agent}"}).json()["next_cursor"]


def test_export_gives_personal_fields_to_supervisors_only(http: TestClient, tokens: Tokens):
    params = {"from": "2026-01-05T00:00:00Z", "to": "2026-01-05T10:00:00Z"}
    agent = http.get("/v1/complaints/export", params=params, headers={"Authorization": f"Bearer {tokens.agent}"})
    assert agent.status_code == 200 and agent.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(agent.text)))
    assert [r["id"] for r in rows] == [f"H-{n:02}" for n in range(10)]
    assert "customer_name" not in rows[0] and "Zhang Wei" not in agent.text
    assert json.loads(rows[0]["timeline"])[0]["type"] == "received"
    supervisor = http.get("/v1/complaints/export", params={**params, "format": "jsonl"},
                          headers={"Authorization": f"Bearer {tokens.supervisor}"})
    lines = [json.loads(line) for line in supervisor.text.splitlines()]
    assert len(lines) == 10 and {line["customer_name"] for line in lines} == {"Zhang Wei"}


@pytest.mark.parametrize("params", [{"from": "2026-01-05T00:00:00"}, {"from": "x", "to": "y"},
                                    {"from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z", "format": "xls"}])
def test_export_refuses_bad_input_naming_the_field(http: TestClient, tokens: Tokens, params: dict):
    response = http.get("/v1/complaints/export", params=params, headers={"Authorization": f"Bearer {tokens.agent}"})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
