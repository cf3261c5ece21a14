"""schemathesis runs the API's own OpenAPI document against the running API (real HTTP, real Temporal): no
5xx, every status code, content type, header and body as declared, schema-violating input refused, and every
route that declares bearer auth refusing requests without it. Bounded: a few examples per operation and mode,
derandomised so a failure reproduces."""

from __future__ import annotations

import hashlib
import hmac
import os
import time

import pytest_asyncio
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.service import Service, Tokens, service_settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, ignored_auth]
EXAMPLES = 8
INBOUND = """
[sources.desk]
secret_env = "CXSLA_TEST_DESK_SECRET"
[sources.desk.fields]
id = "id"
severity = "severity"
[sources.desk.constants]
contract = "always-on"
"""
SECRET = "schemathesis-desk-secret"
EXISTING = "st-existing-1"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(dev_env, tmp_path_factory):
    os.environ["CXSLA_TEST_DESK_SECRET"] = SECRET
    tokens = Tokens()
    settings_ = service_settings(dev_env.client.service_client.config.target_host,
                                 tmp_path_factory.mktemp("schemathesis"), tokens, inbound=INBOUND)
    with Service(settings_) as service:
        auth = Tokens.header(tokens.admin)
        opened = requests.post(f"{service.url}/v1/complaints", headers=auth, timeout=30,
                               json={"id": EXISTING, "contract": "always-on", "severity": "normal"})
        assert opened.status_code in (200, 201), opened.text
        yield service, auth


def _signed(case, base_url: str, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """The generated body as it would be sent, and headers carrying its HMAC signature."""
    sent = case.as_transport_kwargs(base_url=base_url, headers=headers)
    prepared = requests.Request(method=sent["method"], url=sent["url"], headers=sent["headers"],
                                params=sent.get("params"), json=sent.get("json"), data=sent.get("data")).prepare()
    raw = prepared.body or b""
    body = raw.encode() if isinstance(raw, str) else raw
    assert isinstance(body, bytes), type(body)  # json= and data= prepare to text or bytes, never a stream
    stamp = str(int(time.time()))
    signature = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {**headers, "X-Cxsla-Signature": signature, "X-Cxsla-Timestamp": stamp}, body


def test_the_api_keeps_its_openapi_contract(api):
    service, auth = api
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), [result.err() for result in results if isinstance(result, Err)]
    # health 2, complaints: open + list + status + bulk + export 5, commands 14; cycles: start, schedules, show, report,
    # surveys, third-party, retry, reassess 8; plans: list, show, submit, revise, progress 5; outages: report, show,
    # restore 3; calendars: status, refresh 2; inbound 1
    assert len(operations) == 40
    session = requests.Session()

    def examples(operation, mode: GenerationMode, fixed: dict) -> int:
        """Send one variant's generated requests and validate the answers; how many were sent."""
        sent = 0

        @given(case=operation.as_strategy(generation_mode=mode, **fixed))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            nonlocal sent
            if mode is GenerationMode.POSITIVE and operation.path == "/v1/complaints" and \
                    operation.method.upper() == "POST" and isinstance(case.body, dict):
                case.body["contract"] = "always-on"  # reach Temporal, not only the policy check
                case.body.pop("received_at", None)
            headers, extra = dict(auth), {}
            if operation.path.startswith("/v1/inbound"):
                headers, extra["data"] = _signed(case, service.url, headers)
            case.call_and_validate(base_url=service.url, session=session, headers=headers, checks=CHECKS, **extra)
            sent += 1

        try:
            run()
        except Unsatisfiable:
            # No parameters and no body (the health probes): there is nothing to make invalid.
            assert mode is GenerationMode.NEGATIVE and operation.path in ("/healthz", "/readyz")
        return sent

    ran = 0
    for operation in operations:
        has_id = any(p.name == "complaint_id" for p in operation.path_parameters)
        variants: list[tuple[GenerationMode, dict[str, dict[str, str]]]] = [
            (GenerationMode.POSITIVE, {}), (GenerationMode.NEGATIVE, {})]
        if has_id:
            variants.append((GenerationMode.POSITIVE, {"path_parameters": {"complaint_id": EXISTING}}))
        for mode, fixed in variants:
            ran += examples(operation, mode, fixed)
    assert ran >= len(operations) * 3  # every operation really sent requests
