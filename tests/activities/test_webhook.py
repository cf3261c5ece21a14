"""WebhookSink against a real HTTP receiver: JSON body, idempotency key, HMAC signature, retry after a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from activities.notifications import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, WebhookSink
from sla.commands import OpenComplaint
from starter.client.complaints import ComplaintClient, workflow_id
from tests.helpers.temporal import cxsla_worker
from tests.histories.record import (
    CONTRACT,
    assert_no_task_failures,
    settle,
    test_policy,
    time_skipping_server,
)

SECRET = "s3cret-for-tests"
KEY, SIGNATURE = IDEMPOTENCY_HEADER.lower(), SIGNATURE_HEADER.lower()  # headers are case-insensitive
S = timedelta(seconds=1)


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    answered: int

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)  # status codes to answer first, then 200
    deliveries: list[Delivery] = field(default_factory=list)
    refuse_once: list[bytes] = field(default_factory=list)  # a body containing one is answered 503, once each
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_key(self, key: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.headers.get(KEY) == key]

    def accepted(self) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.answered == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                code = state.answers.pop(0) if state.answers else 200
                for part in [p for p in state.refuse_once if p in body][:1]:
                    state.refuse_once.remove(part)
                    code = 503
                state.deliveries.append(Delivery(body, {k.lower(): v for k, v in self.headers.items()}, code))
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/cxsla"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def signature_ok(delivery: Delivery, secret: str = SECRET) -> bool:
    header = delivery.headers.get(SIGNATURE, "")
    expected = "sha256=" + hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header, expected)


async def key_of(env, complaint_id: str, action_id: str) -> str:
    """`<workflow id>/<first run id>/<action id>`: the key a receiver dedupes on."""
    response = await env.client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
        namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=workflow_id(complaint_id))))
    first = response.workflow_execution_info.first_run_id or response.workflow_execution_info.execution.run_id
    return f"{workflow_id(complaint_id)}/{first}/{action_id}"


async def test_breach_is_posted_as_signed_json_with_an_idempotency_key(receiver: Receiver):
    async with time_skipping_server() as env:
        async with cxsla_worker(env.client, sink=WebhookSink(receiver.url, SECRET)) as queue:
            c = ComplaintClient(env.client, task_queue=queue, policy=test_policy())
            r = (await c.open(OpenComplaint(id="w1", contract=CONTRACT, severity="major"))).status.received_at
            await env.sleep(r + 12.5 * S - await env.get_current_time())  # acknowledge breached at 10 s
            await settle(env, "w1")

            key = await key_of(env, "w1", "acknowledge#1:breach")
            [breach] = receiver.by_key(key)
            assert breach.answered == 200
            assert breach.headers["content-type"] == "application/json"
            body = breach.json
            assert (body["action_id"], body["kind"], body["complaint_id"], body["clock"], body["breach_class"]) == (
                "acknowledge#1:breach", "breach", "w1", "acknowledge", "minor")
            assert body["idempotency_key"] == key and body["severity"] == "major" and body["contract"] == CONTRACT
            assert signature_ok(breach)
            assert not signature_ok(breach, secret="another secret")

            # everything so far, in firing order, each once, each signed, numbered in firing order
            acknowledge = [d.json for d in receiver.accepted() if d.json["clock"] == "acknowledge"]
            assert [n["action_id"] for n in acknowledge] == [
                "acknowledge#1:warn:50", "acknowledge#1:warn:80", "acknowledge#1:breach",
                "acknowledge#1:escalate:1"]
            sequence = [n["sequence"] for n in acknowledge]
            assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
            keys = [d.headers[KEY] for d in receiver.deliveries]
            assert len(keys) == len(set(keys))
            prefix = key.rsplit("/", 1)[0]
            assert all(k == f"{prefix}/{d.json['action_id']}" for k, d in zip(keys, receiver.deliveries, strict=True))
            assert all(signature_ok(d) for d in receiver.deliveries)
            await assert_no_task_failures(env.client, "w1")


async def test_a_failed_delivery_is_retried_with_the_same_key_and_body(receiver: Receiver):
    receiver.answers = [500]
    async with time_skipping_server() as env:
        async with cxsla_worker(env.client, sink=WebhookSink(receiver.url, SECRET)) as queue:
            c = ComplaintClient(env.client, task_queue=queue, policy=test_policy())
            r = (await c.open(OpenComplaint(id="w2", contract=CONTRACT, severity="normal"))).status.received_at
            await env.sleep(r + 12.5 * S - await env.get_current_time())
            await settle(env, "w2")

            first, second = receiver.deliveries[:2]
            assert (first.answered, second.answered) == (500, 200)
            assert first.json["action_id"] == "acknowledge#1:warn:50"
            assert first.headers[KEY] == second.headers[KEY] == await key_of(env, "w2", "acknowledge#1:warn:50")
            assert first.body == second.body and signature_ok(first) and signature_ok(second)
            # later notifications are delivered once each, in firing order
            accepted = [d.json["action_id"] for d in receiver.accepted() if d.json["clock"] == "acknowledge"]
            assert accepted == ["acknowledge#1:warn:50", "acknowledge#1:warn:80", "acknowledge#1:breach",
                                "acknowledge#1:escalate:1"]
            assert len(receiver.by_key(await key_of(env, "w2", "acknowledge#1:breach"))) == 1
            await assert_no_task_failures(env.client, "w2")


async def test_without_a_secret_nothing_is_signed(receiver: Receiver):
    async with time_skipping_server() as env:
        async with cxsla_worker(env.client, sink=WebhookSink(receiver.url, None)) as queue:
            c = ComplaintClient(env.client, task_queue=queue, policy=test_policy())
            r = (await c.open(OpenComplaint(id="w3", contract=CONTRACT, severity="normal"))).status.received_at
            await env.sleep(r + 5.5 * S - await env.get_current_time())
            await settle(env, "w3")
            [warn] = receiver.deliveries
            assert warn.json["action_id"] == "acknowledge#1:warn:50"
            assert warn.headers[KEY] == await key_of(env, "w3", "acknowledge#1:warn:50")
            assert SIGNATURE not in warn.headers
