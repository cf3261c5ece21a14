"""Deliveries outlast outages: a webhook down for longer than a day still gets every breach and escalation once it is
back, with the idempotency key it was first tried with; while it is down the complaint publishes its oldest
undelivered notice (CxOldestUndelivered, CxUndelivered), which the worker's collector turns into the gauges that
alert CxSlaNotificationUndelivered reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import cast

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.notifications import Notice
from sla.commands import OpenComplaint
from starter.client.complaints import ComplaintClient, workflow_id
from starter.service.metrics import undelivered_gauges
from tests.helpers.e2e import until
from tests.helpers.sinks import RecordingSink
from tests.helpers.temporal import cxsla_worker
from tests.histories.record import CONTRACT, assert_no_task_failures, settle, test_policy, time_skipping_server
from workflows import search_attributes as sa

S = timedelta(seconds=1)


class Outage(RecordingSink):
    """A webhook that refuses everything while `down`; `attempts` counts every try, refused or not."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.attempts: list[Notice] = []

    async def deliver(self, notice: Notice) -> None:
        self.attempts.append(notice)
        if self.down:
            raise ConnectionError("webhook unreachable")
        await super().deliver(notice)


async def _published(env, cid: str) -> set[str]:
    described = await env.client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
        namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=workflow_id(cid))))
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    return {name for name in (sa.OLDEST_UNDELIVERED.name, sa.UNDELIVERED.name)
            if name in fields and fields[name].data not in (b"", b"null")}


async def _holds(read, wanted: set[str]) -> bool:
    return wanted <= await read()


async def test_a_webhook_down_for_more_than_a_day_still_gets_the_breach_and_escalations():
    async with time_skipping_server() as env:
        sink = Outage()
        async with cxsla_worker(env.client, sink=sink) as queue:
            client = ComplaintClient(env.client, task_queue=queue, policy=test_policy())
            await client.open(OpenComplaint(id="out1", contract=CONTRACT, severity="normal"))
            await env.sleep(10 * 60 * S)  # the acknowledge clock (10 s) breached and escalated; every try failed

            async def undelivered() -> set[str]:  # the last failed attempt may still be on its way to the workflow
                return {u.action_id for u in (await client.status("out1")).undelivered}

            await until(lambda: _holds(undelivered, {"acknowledge#1:breach", "acknowledge#1:escalate:3"}), 30,
                        "the breach and the last escalation listed as undelivered")
            both = {sa.OLDEST_UNDELIVERED.name, sa.UNDELIVERED.name}
            await until(lambda: _holds(lambda: _published(env, "out1"), both), 30, "the undelivered attributes")

            await env.sleep(timedelta(hours=26))  # longer than the old one-day give-up
            status = await client.status("out1")
            assert "acknowledge#1:breach" in {u.action_id for u in status.undelivered}
            assert not sink.received

            sink.down = False
            await env.sleep(15 * 60 * S)  # one capped backoff (10 min) later, everything pending goes out
            await settle(env, "out1")
            delivered = {n.action_id: n for n in sink.received}
            for action in ("acknowledge#1:breach", "acknowledge#1:escalate:1", "acknowledge#1:escalate:2",
                           "acknowledge#1:escalate:3", "resolve#1:breach"):
                assert action in delivered, sorted(delivered)
                first_try = next(n for n in sink.attempts if n.action_id == action)
                assert delivered[action].idempotency_key == first_try.idempotency_key
            status = await client.status("out1")
            assert status.undelivered == []
            assert await _published(env, "out1") == set()
            await assert_no_task_failures(env.client, "out1")


@dataclass
class _Listed:
    typed_search_attributes: TypedSearchAttributes


class _Visibility:
    def __init__(self, rows: list[_Listed]) -> None:
        self.rows, self.queries = rows, list[str]()

    async def list_workflows(self, query: str, page_size: int = 1000):
        self.queries.append(query)
        for row in self.rows:
            yield row


def _row(contract: str, oldest: datetime, count: int) -> _Listed:
    return _Listed(TypedSearchAttributes([SearchAttributePair(sa.CONTRACT, contract),
                                          SearchAttributePair(sa.OLDEST_UNDELIVERED, oldest),
                                          SearchAttributePair(sa.UNDELIVERED, count)]))


async def test_the_collector_sums_undelivered_and_ages_the_oldest_per_contract():
    now = datetime(2026, 5, 4, 12, tzinfo=timezone.utc)
    visibility = _Visibility([_row("a", now - 20 * 60 * S, 2), _row("a", now - 30 * S, 1),
                              _row("b", now - 5 * S, 4)])
    samples = await undelivered_gauges(["a", "b", "c"], now=lambda: now)(cast(Client, visibility))
    values = {(s.spec.exported, s.labels["contract"]): s.value for s in samples}
    assert values == {
        ("cxsla_undelivered_notifications", "a"): 3, ("cxsla_oldest_undelivered_seconds", "a"): 1200,
        ("cxsla_undelivered_notifications", "b"): 4, ("cxsla_oldest_undelivered_seconds", "b"): 5,
        ("cxsla_undelivered_notifications", "c"): 0, ("cxsla_oldest_undelivered_seconds", "c"): 0,
    }
    assert visibility.queries == ["ExecutionStatus = 'Running' AND CxOldestUndelivered IS NOT NULL"]
