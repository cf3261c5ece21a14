"""A complaint's status as a person reads it: the workflow answers what it knows (deadlines), the reader adds what
only the reader knows (its own now), so the time left is never frozen into a query answer or a history.

Kept free of the pydantic models and the workflow code: `cxsla complaint show` reads through here, and starting
a command-line process is most of what it costs (see bench/cli_latency.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from starter.client.errors import CxSlaError, unreachable, workflow_error
from starter.service import connection
from starter.service.settings import Settings

STATUS_QUERY = "status"  # ComplaintWorkflow.status


def with_time_left(document: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The status document (`ComplaintStatus.public()`) with `remaining_seconds` of each running clock set to the
    seconds from `now` to its deadline (negative once it passed). A paused clock keeps what the engine gives it,
    the working seconds it had left when paused: its deadline is unknown until it resumes."""
    clocks = []
    for clock in document.get("clocks", []):
        if clock.get("state") == "running" and clock.get("deadline"):
            deadline = datetime.fromisoformat(clock["deadline"])
            clock = {**clock, "remaining_seconds": round((deadline - now).total_seconds(), 3)}
        clocks.append(clock)
    return {**document, "clocks": clocks}


def status_document(answer: dict[str, Any]) -> dict[str, Any]:
    """The status query's answer, read without its model, as `ComplaintStatus.public()` prints it (a breach's
    class under its public name)."""
    breaches = [{("class" if k == "breach_class" else k): v for k, v in b.items()} for b in answer.get("breaches", [])]
    return {**answer, "breaches": breaches}


async def reader(settings: Settings) -> Client:
    """A client that reads (connection.connect_reader), or the refusal saying why there is none."""
    try:
        return await connection.connect_reader(settings)
    except (ValueError, RuntimeError) as exc:
        raise unreachable(settings.temporal_address, settings.temporal_namespace, exc) from None


async def read_status(client: Client, complaint_id: str, workflow_id: str) -> dict[str, Any]:
    """The complaint's status document from a client whose data converter reads JSON without models."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        answer = await handle.query(STATUS_QUERY)
    except RPCError as exc:
        raise await workflow_error(exc, handle, subject=f"complaint {complaint_id}",
                                   missing=f"no complaint with id {complaint_id!r}") from None
    except ValueError as exc:  # CodecError: a payload under a key this process does not have
        raise CxSlaError(f"complaint {complaint_id}: {exc}", "unavailable") from None
    return status_document(answer)
