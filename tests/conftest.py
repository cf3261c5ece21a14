"""The fixtures every folder shares: a time-skipping server and a real dev server (both from PyPI wheels; how
they start is in tests/helpers/temporal.py), and the `e2e` marking."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.helpers.temporal import new_dev_env, new_time_skipping_env

# Workers started by tests archive what ends into a database of this session, never into the checkout's .data/.
os.environ.setdefault("CXSLA_ARCHIVE_URL",
                      f"sqlite:///{tempfile.mkdtemp(prefix='cxsla-test-archive-')}/archive.sqlite")


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
    env = await new_dev_env()
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def own_dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server for one test: what exists before any other test has run (visibility counts over an empty
    namespace answer at once, not after every workflow the suite has left behind)."""
    env = await new_dev_env()
    yield env
    await env.shutdown()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that needs the dev server (directly or through a fixture) is end-to-end wherever it lives, so
    `-m "not e2e"` keeps the pure and time-skipping tests; modules that start other real services (subprocesses,
    a browser, Prometheus) declare `pytestmark = pytest.mark.e2e` themselves."""
    for item in items:
        if {"dev_env", "own_dev_env"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def anyio_backend():
    return "asyncio"
