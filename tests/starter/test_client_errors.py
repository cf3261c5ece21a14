"""Temporal's refusals reach people as the facade's error by what they mean, not by what their text says: a
namespace that does not exist is a configuration error, a complaint that does not exist is "not found", and a
complaint that has closed refuses commands as a conflict."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from sla.commands import OpenComplaint
from starter.client.complaints import ComplaintClient
from starter.client.errors import CxSlaError
from tests.helpers.temporal import cxsla_worker


async def test_a_missing_namespace_is_a_configuration_error_not_a_missing_complaint(dev_env):
    config = dev_env.client.config()
    client = await Client.connect(dev_env.client.service_client.config.target_host, namespace="no-such-namespace",
                                  data_converter=config["data_converter"])
    complaints = ComplaintClient(client)
    with pytest.raises(CxSlaError, match="namespace 'no-such-namespace' does not exist.*TEMPORAL_NAMESPACE") as err:
        await complaints.status("T-1")
    assert err.value.kind == "unavailable"
    with pytest.raises(CxSlaError, match="namespace 'no-such-namespace'") as err:
        await complaints.list()
    assert err.value.kind == "unavailable"


async def test_a_missing_complaint_is_not_found_and_a_closed_one_refuses_commands_as_a_conflict(dev_env):
    async with cxsla_worker(dev_env.client) as queue:
        complaints = ComplaintClient(dev_env.client, task_queue=queue)
        with pytest.raises(CxSlaError, match="no complaint with id 'nobody'") as err:
            await complaints.command("nobody", "acknowledge", {"by": "amy"})
        assert err.value.kind == "not_found"
        opened = await complaints.open(OpenComplaint(id="errors-1", contract="default", severity="normal"))
        await complaints.command(opened.status.id, "withdraw", {"by": "amy"})
        await dev_env.client.get_workflow_handle("complaint-errors-1").result()
        with pytest.raises(CxSlaError, match="complaint errors-1 is closed") as err:
            await complaints.command("errors-1", "acknowledge", {"by": "amy"})
        assert err.value.kind == "conflict"
