"""Typed Python facade over Temporal for complaints: what the CLI and the HTTP API call.

Everything is validated here first, so a refused request never reaches Temporal.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import TypeAdapter, ValidationError
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from sla import events as ev
from sla import lifecycle, names
from sla.calendar import CalendarError, compiled
from sla.commands import COMMAND_MODELS, Command, OpenComplaint
from sla.complaint_run import ComplaintRun
from sla.engine import Evaluation, evaluate
from sla.errors import plain
from sla.official_calendar import YEARS_AHEAD, resolve, resolve_at
from sla.outcomes import MEMO_KEY, outcome_of
from sla.policy import AssessmentPolicy, ContractPolicy, PolicyError, PolicyFile, load_policy
from sla.status import ComplaintStatus, Opening
from starter.client.errors import CxSlaError, rpc_error, unreachable, update_error, workflow_error
from starter.client.reading import with_time_left
from starter.service import connection
from starter.service.codec import CodecError
from starter.service.settings import Settings
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow


@dataclass(frozen=True)
class Opened:
    status: ComplaintStatus
    created: bool  # False: the id existed and this is the existing complaint


workflow_id = names.complaint_workflow_id


def opening_attributes(contract: str, received: ev.Received, first: Evaluation) -> TypedSearchAttributes:
    """A new complaint's search attributes, as its first evaluation will find them (so it need not upsert)."""
    pairs = [
        SearchAttributePair(sa.CONTRACT, contract),
        SearchAttributePair(sa.SEVERITY, received.severity.value),
        SearchAttributePair(sa.STATE, first.state.value),
        SearchAttributePair(sa.BREACHED, first.breached),
        SearchAttributePair(sa.AT_RISK, first.at_risk),
        SearchAttributePair(sa.RECEIVED_AT, received.at),
        SearchAttributePair(sa.PROVISIONAL, first.provisional),
    ]
    if first.next_deadline is not None:
        pairs.append(SearchAttributePair(sa.NEXT_DEADLINE, first.next_deadline))
    return TypedSearchAttributes(pairs)


class ComplaintClient:
    def __init__(
        self, client: Client, *, task_queue: str = "cxsla", policy: PolicyFile | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.policy = policy or load_policy()
        # What "now" is when checking receipt times; tests on a time-skipping server pass the server's clock.
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    @staticmethod
    async def connect(
        address: str | None = None, *, namespace: str | None = None, task_queue: str | None = None,
        policy_path: str | None = None, settings: Settings | None = None,
    ) -> ComplaintClient:
        """Connect as every cx-sla process does (starter.service.connection): TLS, API key and codec keys come from
        `settings` (default: the environment); explicit arguments override its address, namespace, queue."""
        settings = settings or Settings()
        overrides = {"temporal_address": address, "temporal_namespace": namespace, "task_queue": task_queue}
        settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        try:
            policy = load_policy(policy_path or settings.policy)
        except PolicyError as exc:
            raise CxSlaError(str(exc)) from None
        try:
            client = await connection.connect(settings)
        except (ValueError, RuntimeError) as exc:  # settings (CodecError, bad TLS files) or an unreachable server
            raise unreachable(settings.temporal_address, settings.temporal_namespace, exc) from None
        return ComplaintClient(client, task_queue=settings.task_queue, policy=policy)

    async def open(
        self, request: OpenComplaint, *, continue_as_new_after_events: int | None = None
    ) -> Opened:
        """Open a complaint; an id that exists returns the existing complaint (`created=False`)."""
        now = self.clock()
        try:
            policy = self.policy.contract(request.contract)
            received = request.received(now, policy.bounds)
            calendar = resolve_at(policy.calendar_name, policy.calendar, received.at)
            first = evaluate(policy, [received], now, calendar=compiled(calendar))
        except (PolicyError, CalendarError, ValueError) as exc:
            raise CxSlaError(str(exc)) from None
        nonce = uuid.uuid4().hex
        run = ComplaintRun(
            complaint_id=request.id, policy=policy, events=[received], calendar=calendar,
            continue_as_new_after_events=continue_as_new_after_events, open_nonce=nonce,
            plan_policy=self._plan_policy(policy),
        )
        # One round trip: the workflow starts (or is found) and answers once its clocks are evaluated.
        start = WithStartWorkflowOperation(
            ComplaintWorkflow.run, run, id=workflow_id(request.id), task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=opening_attributes(policy.name, received, first),
            memo={MEMO_KEY: outcome_of([received], first).model_dump(mode="json")},
            static_summary=f"{policy.name} {request.severity.value} complaint {request.id}",
        )
        opening = Opening(nonce=nonce, contract=policy.name, severity=request.severity,
                          channel=request.channel.value if request.channel else None, customer_id=request.customer_id)
        try:
            answer = await self.client.execute_update_with_start_workflow(
                ComplaintWorkflow.opened, opening, start_workflow_operation=start)
        except WorkflowAlreadyStartedError:  # closed under this id: the closed complaint is the answer
            return Opened(status=await self.status(request.id), created=False)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            raise CxSlaError(message, "conflict") from None
        except RPCError as exc:
            raise rpc_error(exc, f"complaint {request.id}") from None
        except CodecError as exc:
            raise CxSlaError(f"complaint {request.id}: {exc}", "unavailable") from None
        return Opened(status=self.read_now(answer.status), created=answer.created)

    def _plan_policy(self, policy: ContractPolicy) -> AssessmentPolicy | None:
        """The plan settings a complaint carries beside its contract policy, from the same file: only when it may
        start a plan (a major resolve breach or negative feedback), so other complaints carry nothing more."""
        if not (policy.plan_on_major_breach or policy.plans_on_negative_feedback):
            return None
        return self.policy.assessment(policy.name)

    async def import_history(self, events: list, *, wait: bool = True) -> Opened | None:
        """Import a complaint handled elsewhere (a desk's history) with its own timestamps, so cycles, reports and
        what-if simulation see it. Actions already due are recorded as having happened at their due time, not
        sent now: nobody is escalated for last year. The same id imported twice returns the existing one.
        With `wait` False (bulk imports) it returns None as soon as the workflow is started.
        """
        now = self.clock()
        try:
            events = [ev_adapter.validate_python(e) for e in events]
            received = events[0] if events else None
            if not isinstance(received, ev.Received):
                raise ValueError("an imported complaint starts with a 'received' event")
            policy = self.policy.contract(received.contract)
            facts = lifecycle.Facts()
            for position, event in enumerate(events):
                if position and event.at < events[position - 1].at:
                    raise ValueError(f"event {position} ({event.type}) is earlier than the one before it")
                if event.at > now:
                    raise ValueError(f"event {position} ({event.type}) is in the future")
                if position:
                    lifecycle.check(facts, _command_of(event), event)
                facts = lifecycle.apply(facts, event)
            calendar = resolve(policy.calendar_name, policy.calendar,
                               range(received.at.year - 1, max(received.at.year, now.year) + YEARS_AHEAD + 1))
            fired = {a.id: a.due_at for a in evaluate(policy, events, now, calendar=compiled(calendar)).due}
        except (PolicyError, CalendarError, ValueError) as exc:
            raise CxSlaError(f"cannot import: {exc}") from None
        run = ComplaintRun(complaint_id=received.complaint_id, policy=policy, events=events, fired=fired,
                           imported=True, calendar=calendar, plan_policy=self._plan_policy(policy))
        try:
            await self.client.start_workflow(
                ComplaintWorkflow.run, run, id=workflow_id(received.complaint_id), task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(sa.CONTRACT, policy.name),
                    SearchAttributePair(sa.SEVERITY, received.severity.value),
                    SearchAttributePair(sa.STATE, facts.state.value),
                    SearchAttributePair(sa.BREACHED, False),
                    SearchAttributePair(sa.AT_RISK, False),
                    SearchAttributePair(sa.RECEIVED_AT, received.at),
                ]),
                static_summary=f"{policy.name} {received.severity.value} complaint {received.complaint_id} (imported)",
            )
            created = True
        except WorkflowAlreadyStartedError:
            created = False
        except RPCError as exc:
            raise rpc_error(exc, f"complaint {received.complaint_id}") from None
        if not wait:
            return None
        return Opened(status=await self._settled_status(received.complaint_id), created=created)

    async def _settled_status(self, complaint_id: str) -> ComplaintStatus:
        """An imported complaint may complete at once: its result, else its evaluated status."""
        handle = self.client.get_workflow_handle(workflow_id(complaint_id), result_type=ComplaintStatus)
        try:
            if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
                return await handle.result()
        except RPCError as exc:
            raise await _refused(exc, handle, complaint_id) from None
        return await self._first_status(complaint_id)

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
        """Send one command (an update); invalid input or transition raises CxSlaError, nothing recorded.
        Answers with the complaint's status after the command, brief (sla.status.brief): `status` for all of it."""
        model = COMMAND_MODELS.get(name)
        if model is None:
            raise CxSlaError(f"unknown command {name!r}; known: {', '.join(COMMAND_MODELS)}")
        if not isinstance(command, model):
            try:
                command = model.model_validate(command)
            except ValidationError as exc:
                raise CxSlaError(plain(exc)) from None
        handle = self.client.get_workflow_handle(workflow_id(complaint_id))
        try:
            return self.read_now(await handle.execute_update(name, command, result_type=ComplaintStatus))
        except WorkflowUpdateFailedError as exc:
            raise update_error(exc, f"complaint {complaint_id}", CONFLICTS) from None
        except RPCError as exc:
            raise await _refused(exc, handle, complaint_id) from None
        except CodecError as exc:
            raise CxSlaError(f"complaint {complaint_id}: {exc}", "unavailable") from None

    def read_now(self, status: ComplaintStatus) -> ComplaintStatus:
        """The status with each running clock's time left at this client's now (reading.with_time_left)."""
        return ComplaintStatus.model_validate(with_time_left(status.public(), self.clock()))

    async def status(self, complaint_id: str) -> ComplaintStatus:
        handle = self.client.get_workflow_handle(workflow_id(complaint_id))
        try:
            return self.read_now(await handle.query(ComplaintWorkflow.status))
        except RPCError as exc:
            raise await _refused(exc, handle, complaint_id) from None
        except CodecError as exc:
            raise CxSlaError(f"complaint {complaint_id}: {exc}", "unavailable") from None

    async def assign(self, complaint_id: str, to: str | None = None, group: str | None = None, *,
                     by: str | None = None, note: str | None = None) -> ComplaintStatus:
        """Give the complaint an owner (agent, group or both), recorded in its timeline as `assigned`."""
        fields = {"to": to, "group": group, "by": by, "note": note}
        return await self.command(complaint_id, "assign", {k: v for k, v in fields.items() if v is not None})

    async def list(
        self, *, state: str | None = None, contract: str | None = None, breached: bool = False,
        at_risk: bool = False, limit: int = 1000, severity: str | None = None, assignee: str | None = None,
    ) -> list[dict[str, Any]]:
        query = list_query(state=state, contract=contract, breached=breached, at_risk=at_risk, severity=severity,
                           assignee=assignee)
        try:
            return [_row(info) async for info in self.client.list_workflows(query, limit=limit)]
        except RPCError as exc:
            raise rpc_error(exc, "cannot list complaints") from None

    async def rows(self, query: str, *, limit: int) -> builtins.list[dict[str, Any]]:
        """The rows of a visibility query built from sla.names (the console's board and reports), each with its
        workflow id: `list` with filters beyond its own."""
        try:
            return [{**_row(info), "workflow_id": info.id} async for info in self.client.list_workflows(query,
                                                                                                      limit=limit)]
        except RPCError as exc:
            raise rpc_error(exc, "cannot list workflows") from None

    async def page(
        self, *, state: str | None = None, contract: str | None = None, breached: bool = False,
        at_risk: bool = False, page_size: int = 50, page_token: bytes | None = None, assignee: str | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], bytes | None]:  # `list` here is the method above
        """One page of `list`, and the token of the next page (None: this was the last)."""
        query = list_query(state=state, contract=contract, breached=breached, at_risk=at_risk, assignee=assignee)
        pages = self.client.list_workflows(query, page_size=page_size, next_page_token=page_token)
        try:
            await pages.fetch_next_page()
        except RPCError as exc:
            raise rpc_error(exc, "cannot list complaints") from None
        return [_row(info) for info in pages.current_page or []], pages.next_page_token


# ApplicationError types from the workflow's validators that mean "not in this state" rather than bad input.
CONFLICTS = frozenset({"InvalidTransition"})


FILTER_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


def list_query(
    *, state: str | None, contract: str | None, breached: bool, at_risk: bool, severity: str | None = None,
    assignee: str | None = None,
) -> str:
    """The visibility query behind `list` and `page` (search attributes only: they never carry personal data).
    `at_risk` means "needs attention": past a warning threshold, or already breached (a breached clock is no longer
    at risk, it is worse); `breached` alone narrows to the breached ones.

    Filter values are names, checked before they go into the query text: quoting alone is not enough for
    every visibility store (the SQLite one fails on some escaped quotes).
    """
    for option, value in (("state", state), ("contract", contract), ("severity", severity)):
        if value is not None and not FILTER_VALUE.fullmatch(value):
            raise CxSlaError(f"{option}: {value[:40]!r} is not a name (letters, digits, . _ : -)")
    clauses = [names.of_type(names.COMPLAINT_WORKFLOW)]
    if state:
        clauses.append(f"{sa.STATE.name} = {names.quote(state)}")
    if contract:
        clauses.append(f"{sa.CONTRACT.name} = {names.quote(contract)}")
    if severity:
        clauses.append(f"{sa.SEVERITY.name} = {names.quote(severity)}")
    if breached:
        clauses.append(f"{sa.BREACHED.name} = true")
    if at_risk and not breached:
        clauses.append(f"({sa.AT_RISK.name} = true OR {sa.BREACHED.name} = true)")
    if assignee is not None:
        if not re.fullmatch(ev.ASSIGNEE_PATTERN.strip("^$"), assignee) or len(assignee) > 100:
            raise CxSlaError(f"assignee: {assignee[:40]!r} is not a name (letters, digits, . _ @ : -)")
        clauses.append(f"{sa.ASSIGNEE.name} = {names.quote(assignee)}")
    return " AND ".join(clauses)


_EVENT_COMMANDS = {event_type: name for name, (event_type, _) in lifecycle.COMMANDS.items()}
ev_adapter = TypeAdapter(ev.Event)


def _command_of(event: ev.Event) -> str:
    name = _EVENT_COMMANDS.get(type(event))
    if name is None:
        raise ValueError(f"a {event.type!r} event cannot be imported (the workflow records it itself)")
    return name


def _row(info: Any) -> dict[str, Any]:
    attrs = info.typed_search_attributes
    deadline = attrs.get(sa.NEXT_DEADLINE)
    return {
        "id": names.complaint_id_of(info.id),
        "state": attrs.get(sa.STATE),
        "severity": attrs.get(sa.SEVERITY),
        "contract": attrs.get(sa.CONTRACT),
        "breached": bool(attrs.get(sa.BREACHED)),
        "at_risk": bool(attrs.get(sa.AT_RISK)),
        "next_deadline": deadline.isoformat() if deadline else None,
        "workflow_status": info.status.name if info.status else None,
        "assignee": attrs.get(sa.ASSIGNEE),
    }


async def _refused(exc: RPCError, handle: Any, complaint_id: str) -> CxSlaError:
    return await workflow_error(exc, handle, subject=f"complaint {complaint_id}",
                                missing=f"no complaint with id {complaint_id!r}")
