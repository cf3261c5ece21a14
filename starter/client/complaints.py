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
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.archive_store import ArchiveError, ArchiveStore, Filters
from activities.assessment import live_outcome
from sla import events as ev
from sla import lifecycle, names
from sla.archive import ArchiveComplaint
from sla.calendar import CalendarError, compiled
from sla.commands import COMMAND_MODELS, Command, OpenComplaint
from sla.complaint_run import ComplaintRun
from sla.engine import Evaluation, evaluate
from sla.errors import plain
from sla.official_calendar import YEARS_AHEAD, resolve, resolve_at
from sla.outcomes import MEMO_KEY, ComplaintOutcome, outcome_of
from sla.policy import AssessmentPolicy, ContractPolicy, PolicyError, PolicyFile, load_policy
from sla.status import ComplaintStatus, Opening
from starter.client.errors import CxSlaError, rpc_error, unreachable, update_error, workflow_error
from starter.client.reading import with_time_left
from starter.service import connection
from starter.service.archive import archive_of
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
        clock: Callable[[], datetime] | None = None, archive: ArchiveStore | None = None,
    ) -> None:
        self.client = client
        # Where ended complaints are read once Temporal has deleted their workflows (None: Temporal only).
        self.archive = archive
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
        return ComplaintClient(client, task_queue=settings.task_queue, policy=policy, archive=archive_of(settings))

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
        """From the workflow while Temporal keeps it, else from the archive."""
        handle = self.client.get_workflow_handle(workflow_id(complaint_id))
        try:
            return self.read_now(await handle.query(ComplaintWorkflow.status))
        except RPCError as exc:
            error = await _refused(exc, handle, complaint_id)
            if error.kind == "not_found":
                archived = await self.archived(complaint_id)
                if archived is not None:
                    return archived
            raise error from None
        except CodecError as exc:
            raise CxSlaError(f"complaint {complaint_id}: {exc}", "unavailable") from None

    async def assign(self, complaint_id: str, to: str | None = None, group: str | None = None, *,
                     by: str | None = None, note: str | None = None) -> ComplaintStatus:
        """Give the complaint an owner (agent, group or both), recorded in its timeline as `assigned`."""
        fields = {"to": to, "group": group, "by": by, "note": note}
        return await self.command(complaint_id, "assign", {k: v for k, v in fields.items() if v is not None})

    async def archived(self, complaint_id: str) -> ComplaintStatus | None:
        """The complaint as the archive keeps it (None: not archived, or no archive configured)."""
        if self.archive is None:
            return None
        document = await self._from_archive(self.archive.status, complaint_id)
        return ComplaintStatus.model_validate(document) if document is not None else None

    async def _from_archive(self, read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(read, *args, **kwargs)
        except (SQLAlchemyError, ArchiveError) as exc:
            raise CxSlaError(f"the archive cannot be read: {str(exc).splitlines()[0][:200]}", "unavailable") from None

    async def list(
        self, *, state: str | None = None, contract: str | None = None, breached: bool = False,
        at_risk: bool = False, limit: int = 1000, severity: str | None = None, category: str | None = None,
        customer_id: str | None = None, received_from: datetime | None = None, received_to: datetime | None = None,
        assignee: str | None = None,
    ) -> list[dict[str, Any]]:
        """Complaints Temporal still keeps (visibility), then archived ones it no longer does, up to `limit`.
        Category and customer id are not search attributes (a customer id is not sent to visibility): with
        either, only the archive (ended complaints) is searched."""
        rows: builtins.list[dict[str, Any]] = []
        if category is None and customer_id is None:
            query = list_query(state=state, contract=contract, breached=breached, at_risk=at_risk,
                               severity=severity, received_from=received_from, received_to=received_to,
                               assignee=assignee)
            try:
                rows = [_row(info) async for info in self.client.list_workflows(query, limit=limit)]
            except RPCError as exc:
                raise rpc_error(exc, "cannot list complaints") from None
        if self.archive is None or at_risk or assignee is not None or len(rows) >= limit:
            return rows
        seen = {row["id"] for row in rows}
        filters = Filters(contract=contract, state=state, severity=severity, category=category,
                          customer_id=customer_id, received_from=received_from, received_to=received_to,
                          breached=True if breached else None)
        after: tuple[datetime, str] | None = None
        while len(rows) < limit:
            page = await self._from_archive(self.archive.summaries, filters, limit=min(limit, 500), after=after)
            rows += [archived_row(item) for item in page if item["id"] not in seen][:limit - len(rows)]
            if len(page) < min(limit, 500):
                break
            after = (datetime.fromisoformat(page[-1]["received_at"]), page[-1]["id"])
        return rows

    async def archive_ended(self, *, contract: str | None = None) -> tuple[int, int]:
        """Archive the ended complaints Temporal still keeps that the archive lacks (those that ended before it
        existed): their events as the `recorded` query gives them (personal data and free text removed), clocks,
        breaches, escalations and memo outcome. Returns (archived now, already archived)."""
        if self.archive is None:
            raise CxSlaError("no archive is configured (CXSLA_ARCHIVE_URL)", "unavailable")
        query = list_query(state=None, contract=contract, breached=False, at_risk=False)
        done = present = 0
        try:
            async for info in self.client.list_workflows(f"{query} AND ExecutionStatus = 'Completed'"):
                complaint_id = names.complaint_id_of(info.id)
                first_run = info.raw_info.first_run_id or info.run_id
                if await self._from_archive(self.archive.has_run, complaint_id, first_run):
                    present += 1
                    continue
                outcome = (await info.memo()).get(MEMO_KEY)
                if outcome is None:
                    continue  # ended before outcomes were kept: nothing a cycle could count
                await self._archive_queried(info.id, info.run_id, first_run, ComplaintOutcome.model_validate(outcome))
                done += 1
        except RPCError as exc:
            raise rpc_error(exc, "cannot list ended complaints") from None
        return done, present

    async def snapshot(self, complaint_id: str) -> ComplaintStatus:
        """Archive an open complaint as it stands (marked a snapshot: cycles leave it out, and the record it
        writes when it ends replaces it); personal data and free text are left out, as the `recorded` query
        gives its events."""
        if self.archive is None:
            raise CxSlaError("no archive is configured (CXSLA_ARCHIVE_URL)", "unavailable")
        handle = self.client.get_workflow_handle(workflow_id(complaint_id))
        try:
            description = await handle.describe()
            outcome = await live_outcome(self.client, handle.id, datetime.now(timezone.utc))
        except RPCError as exc:
            raise await _refused(exc, handle, complaint_id) from None
        if outcome is None:
            raise CxSlaError(f"complaint {complaint_id} could not be read to archive it", "unavailable")
        first_run = description.raw_description.workflow_execution_info.first_run_id or description.run_id
        return await self._archive_queried(handle.id, description.run_id, first_run, outcome, snapshot=True)

    async def _archive_queried(self, wid: str, run_id: str, first_run: str, outcome: ComplaintOutcome, *,
                               snapshot: bool = False) -> ComplaintStatus:
        assert self.archive is not None  # the callers check
        handle = self.client.get_workflow_handle(wid, run_id=run_id)
        status = await handle.query(ComplaintWorkflow.status)
        recorded = await handle.query(ComplaintWorkflow.recorded)
        item = ArchiveComplaint(
            complaint_id=names.complaint_id_of(wid), workflow_id=wid, first_run_id=first_run, run_id=run_id,
            archived_at=datetime.now(timezone.utc), events=recorded.events, status=status, outcome=outcome,
            fired=recorded.fired, snapshot=snapshot)
        await self._from_archive(self.archive.save_complaint, item)
        return status

    async def archived_page(self, filters: Filters, *, page_size: int = 50,
                            after: tuple[datetime, str] | None = None) -> builtins.list[dict[str, Any]]:
        """One page of archived complaints, newest received first, after (received_at, id) of the last one."""
        if self.archive is None:
            raise CxSlaError("no archive is configured (CXSLA_ARCHIVE_URL)", "unavailable")
        return [archived_row(item) for item in
                await self._from_archive(self.archive.summaries, filters, limit=page_size, after=after)]

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
        at_risk: bool = False, page_size: int = 50, page_token: bytes | None = None, severity: str | None = None,
        received_from: datetime | None = None, received_to: datetime | None = None, assignee: str | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], bytes | None]:  # `list` here is the method above
        """One page of what Temporal keeps, and the token of the next page (None: this was the last)."""
        query = list_query(state=state, contract=contract, breached=breached, at_risk=at_risk, severity=severity,
                           received_from=received_from, received_to=received_to, assignee=assignee)
        pages = self.client.list_workflows(query, page_size=page_size, next_page_token=page_token)
        try:
            await pages.fetch_next_page()
        except RPCError as exc:
            raise rpc_error(exc, "cannot list complaints") from None
        return [_row(info) for info in pages.current_page or []], pages.next_page_token


# ApplicationError types from the workflow's validators that mean "not in this state" rather than bad input.
CONFLICTS = frozenset({"InvalidTransition"})


FILTER_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


def list_query(*, state: str | None, contract: str | None, breached: bool, at_risk: bool,
               severity: str | None = None, received_from: datetime | None = None,
               received_to: datetime | None = None, assignee: str | None = None) -> str:
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
    if received_from is not None:
        clauses.append(f"{sa.RECEIVED_AT.name} >= {names.instant(received_from.astimezone(timezone.utc))}")
    if received_to is not None:
        clauses.append(f"{sa.RECEIVED_AT.name} < {names.instant(received_to.astimezone(timezone.utc))}")
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


def archived_row(item: dict[str, Any]) -> dict[str, Any]:
    """An archived summary in the shape of a visibility row (plus `archived`, `category`, `received_at`)."""
    return {"id": item["id"], "state": item["state"], "severity": item["severity"], "contract": item["contract"],
            "breached": item["breached"], "at_risk": False, "next_deadline": None, "workflow_status": None,
            "archived": True, "category": item["category"], "received_at": item["received_at"]}


async def _refused(exc: RPCError, handle: Any, complaint_id: str) -> CxSlaError:
    return await workflow_error(exc, handle, subject=f"complaint {complaint_id}",
                                missing=f"no complaint with id {complaint_id!r}")
