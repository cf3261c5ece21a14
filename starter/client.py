"""Typed Python facade over Temporal for complaints: what the CLI (and later the HTTP API) call.

Everything is validated here first, so a refused request never reaches Temporal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from plugin import CxSlaPlugin
from sla.calendar import CalendarError
from sla.commands import COMMAND_MODELS, Command, OpenComplaint
from sla.engine import evaluate
from sla.policy import PolicyError, PolicyFile, load_policy
from sla.status import ComplaintStatus
from workflows import search_attributes as sa
from workflows.complaint import ComplaintRun, ComplaintWorkflow


class CxSlaError(Exception):
    """A request refused with a message for the person who sent it."""


@dataclass(frozen=True)
class Opened:
    status: ComplaintStatus
    created: bool  # False: the id existed and this is the existing complaint


def workflow_id(complaint_id: str) -> str:
    return f"complaint-{complaint_id}"


class ComplaintClient:
    def __init__(self, client: Client, *, task_queue: str = "cxsla", policy: PolicyFile | None = None) -> None:
        self.client = client
        self.task_queue = task_queue
        self.policy = policy or load_policy()

    @staticmethod
    async def connect(
        address: str = "localhost:7233", *, namespace: str = "default", task_queue: str = "cxsla",
        policy_path: str | None = None,
    ) -> ComplaintClient:
        try:
            policy = load_policy(policy_path)
        except PolicyError as exc:
            raise CxSlaError(str(exc)) from None
        try:
            client = await Client.connect(address, namespace=namespace, plugins=[CxSlaPlugin()])
        except RuntimeError as exc:
            raise CxSlaError(f"cannot reach Temporal at {address} (namespace {namespace}): {exc}") from None
        return ComplaintClient(client, task_queue=task_queue, policy=policy)

    async def open(
        self, request: OpenComplaint, *, continue_as_new_after_events: int | None = None
    ) -> Opened:
        """Open a complaint; an id that exists returns the existing complaint (`created=False`)."""
        now = datetime.now(timezone.utc)
        try:
            policy = self.policy.contract(request.contract)
            received = request.received(now)
            evaluate(policy, [received], now)  # refuse a calendar the engine cannot compute before starting
        except (PolicyError, CalendarError, ValueError) as exc:
            raise CxSlaError(str(exc)) from None
        run = ComplaintRun(
            complaint_id=request.id, policy=policy, events=[received],
            continue_as_new_after_events=continue_as_new_after_events,
        )
        try:
            await self.client.start_workflow(
                ComplaintWorkflow.run,
                run,
                id=workflow_id(request.id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(sa.CONTRACT, policy.name),
                    SearchAttributePair(sa.SEVERITY, request.severity.value),
                    SearchAttributePair(sa.STATE, "received"),
                    SearchAttributePair(sa.BREACHED, False),
                    SearchAttributePair(sa.AT_RISK, False),
                    SearchAttributePair(sa.RECEIVED_AT, received.at),
                ]),
                static_summary=f"{policy.name} {request.severity.value} complaint {request.id}",
            )
            created = True
        except WorkflowAlreadyStartedError:
            created = False
        return Opened(status=await self._first_status(request.id), created=created)

    async def _first_status(self, complaint_id: str) -> ComplaintStatus:
        """The status once the workflow has evaluated its clocks (a query can beat its first evaluation)."""
        delay = 0.02
        for _ in range(40):
            status = await self.status(complaint_id)
            if status.clocks or status.engine_error or status.state.terminal:
                return status
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        return status

    async def command(self, complaint_id: str, name: str, command: Command | dict[str, Any]) -> ComplaintStatus:
        """Send one command (an update); invalid input or transition raises CxSlaError, nothing recorded."""
        model = COMMAND_MODELS.get(name)
        if model is None:
            raise CxSlaError(f"unknown command {name!r}; known: {', '.join(COMMAND_MODELS)}")
        if not isinstance(command, model):
            try:
                command = model.model_validate(command)
            except ValueError as exc:
                raise CxSlaError(str(exc)) from None
        handle = self.client.get_workflow_handle(workflow_id(complaint_id))
        try:
            return await handle.execute_update(name, command, result_type=ComplaintStatus)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            raise CxSlaError(f"complaint {complaint_id}: {message}") from None
        except RPCError as exc:
            raise CxSlaError(_rpc_message(complaint_id, exc)) from None

    async def status(self, complaint_id: str) -> ComplaintStatus:
        handle = self.client.get_workflow_handle(workflow_id(complaint_id))
        try:
            return await handle.query(ComplaintWorkflow.status)
        except RPCError as exc:
            raise CxSlaError(_rpc_message(complaint_id, exc)) from None

    async def list(
        self, *, state: str | None = None, contract: str | None = None, breached: bool = False,
        at_risk: bool = False, limit: int = 1000,
    ) -> list[dict[str, Any]]:
        clauses = ["WorkflowType = 'ComplaintWorkflow'"]
        if state:
            clauses.append(f"{sa.STATE.name} = {_quote(state)}")
        if contract:
            clauses.append(f"{sa.CONTRACT.name} = {_quote(contract)}")
        if breached:
            clauses.append(f"{sa.BREACHED.name} = true")
        if at_risk:
            clauses.append(f"{sa.AT_RISK.name} = true")
        rows = []
        async for info in self.client.list_workflows(" AND ".join(clauses), limit=limit):
            attrs = info.typed_search_attributes
            deadline = attrs.get(sa.NEXT_DEADLINE)
            rows.append({
                "id": info.id.removeprefix("complaint-"),
                "state": attrs.get(sa.STATE),
                "severity": attrs.get(sa.SEVERITY),
                "contract": attrs.get(sa.CONTRACT),
                "breached": bool(attrs.get(sa.BREACHED)),
                "at_risk": bool(attrs.get(sa.AT_RISK)),
                "next_deadline": deadline.isoformat() if deadline else None,
                "workflow_status": info.status.name if info.status else None,
            })
        return rows


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _rpc_message(complaint_id: str, exc: RPCError) -> str:
    if "not found" in str(exc).lower():
        return f"no complaint with id {complaint_id!r}"
    return f"complaint {complaint_id}: {exc}"
