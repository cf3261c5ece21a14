"""A command for a complaint Temporal no longer keeps but the archive does: the complaint is not unknown (`show`
finds it), it has ended, so the refusal is a conflict naming its final state, never "no complaint with id"."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from starter.client.complaints import ComplaintClient
from starter.client.errors import CxSlaError
from starter.service.archive import archive_of
from tests.helpers.archive import T0, archived, random_log
from tests.helpers.service import Tokens, service_settings


class GoneFromTemporal:
    """A Temporal client for which every complaint workflow was deleted (retention)."""

    def get_workflow_handle(self, workflow_id: str) -> Any:
        return self

    async def execute_update(self, *args: Any, **kwargs: Any) -> Any:
        raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")

    query = execute_update

    def fetch_history_events(self, *args: Any, **kwargs: Any) -> Any:
        raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")


@pytest.fixture
def complaints(tmp_path):
    store = archive_of(service_settings("127.0.0.1:1", tmp_path, Tokens(),
                                        archive_url=f"sqlite:///{tmp_path}/archive.sqlite"))
    store.save_complaints([archived(*random_log(random.Random(3), "H-01", T0))])
    yield ComplaintClient(cast(Client, GoneFromTemporal()), archive=store)
    store.dispose()


async def test_a_command_for_an_archived_complaint_is_a_conflict(complaints: ComplaintClient):
    state = (await complaints.status("H-01")).state.value
    with pytest.raises(CxSlaError) as refused:
        await complaints.command("H-01", "acknowledge", {"by": "amy"})
    assert refused.value.kind == "conflict"
    assert str(refused.value) == f"complaint H-01 is {state} and archived: it takes no more commands"
    with pytest.raises(CxSlaError) as unknown:
        await complaints.command("H-02", "acknowledge", {"by": "amy"})
    assert unknown.value.kind == "not_found" and str(unknown.value) == "no complaint with id 'H-02'"
