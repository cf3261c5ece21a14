"""`cxsla complaint ...`: open complaints and move them through their lifecycle."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import typer

from sla.vocabulary import Channel, ClockName, Kind, Remedy, Severity
from starter.cli.app import (
    BY,
    Globals,
    acting,
    app,
    client_of,
    emit,
    fail,
    globals_of,
    out,
    parse_instant,
    run,
    since,
)

if TYPE_CHECKING:
    from sla.status import ComplaintStatus

ID = typer.Argument(..., help="Complaint id.")
TZ = typer.Option(None, "--tz", help="Time zone of the times shown (IANA name such as Asia/Shanghai, or UTC); "
                                     "default: the zone of the contract's calendar.")
complaint_app = typer.Typer(no_args_is_help=True, help="Open complaints and move them through their lifecycle.")
app.add_typer(complaint_app, name="complaint")


def _zone_or_exit(name: str | None):
    from starter.cli.render import zone

    try:
        return zone(name)
    except ValueError as exc:
        fail(str(exc), 2)


def _print_document(g: Globals, document: dict[str, Any], tz: str | None = None, note: str | None = None) -> None:
    """One complaint's status document (show's, or a command's answer) as JSON or for people."""
    if g.json:
        emit(g, document)
        return
    from starter.cli.render import status_view

    zone_name = tz or document.get("timezone") or "UTC"
    if note:
        out.print(note)
    out.print(status_view(document, _zone_or_exit(zone_name), zone_name), highlight=False)
    if document.get("archived"):
        out.print(f"read from the archive (archived {document['archived'].get('at')}): Temporal no longer keeps the "
                  f"workflow", highlight=False)


def _print_status(g: Globals, status: ComplaintStatus, note: str | None = None) -> None:
    _print_document(g, status.public(), note=note)


@complaint_app.command("open")
def complaint_open(
    ctx: typer.Context,
    id: str = typer.Option(..., "--id", help="Complaint id (the desk's ticket id)."),
    contract: str = typer.Option(..., help="Contract whose policy applies."),
    severity: Severity = typer.Option(..., help="critical|major|normal|low"),
    kind: Kind = typer.Option(Kind.COMPLAINT, help="complaint|inquiry (an inquiry has only the acknowledge and "
                                                   "resolve clocks, 000 §2.2b)"),
    channel: Channel = typer.Option(None, help="phone|email|web|chat|social"),
    customer_id: str = typer.Option(None, "--customer-id"),
    customer_name: str = typer.Option(None, "--customer-name", help="Personal data: stored encrypted."),
    customer_contact: str = typer.Option(None, "--customer-contact", help="Personal data: stored encrypted."),
    summary: str = typer.Option(None),
    received_at: str = typer.Option(None, "--received-at", help="ISO-8601 with offset; default now."),
    by: str = typer.Option(None, "--by"),
) -> None:
    """Open a complaint; an existing id returns the existing complaint (exit 0)."""
    from pydantic import ValidationError

    from sla.commands import OpenComplaint
    from sla.errors import plain
    from sla.policy import PolicyError, load_policy
    from starter.service.tokens import Role

    g = globals_of(ctx)
    try:
        request = OpenComplaint(
            id=id, contract=contract, severity=severity, kind=kind, channel=channel, customer_id=customer_id,
            customer_name=customer_name, customer_contact=customer_contact, summary=summary,
            received_at=parse_instant(received_at, "--received-at"), by=by,
        )
        policy = load_policy(g.policy).contract(contract)  # refuse bad input before connecting
        request.received(datetime.now(timezone.utc), policy.bounds)
    except ValidationError as exc:
        fail(plain(exc), 2)
    except (ValueError, PolicyError) as exc:
        fail(str(exc), 2)
    request = request.model_copy(update={"by": acting(g, Role.AGENT, by)})

    async def go():
        client = await client_of(g)
        return await client.open(request)

    opened = run(go())
    if g.json:
        emit(g, {**opened.status.public(), "created": opened.created})
    else:
        _print_status(g, opened.status, "opened" if opened.created else f"complaint {id} already exists")


def _send(ctx: typer.Context, complaint_id: str, name: str, payload: dict[str, Any]) -> None:
    """One command as the acting identity (with the API's role for it); bad input is refused first (exit 2)."""
    from pydantic import ValidationError

    from sla.commands import COMMAND_MODELS
    from sla.errors import plain
    from starter.service.tokens import role_for_command

    g = globals_of(ctx)
    fields = {k: v for k, v in payload.items() if v is not None and k != "by"}
    try:
        command = COMMAND_MODELS[name].model_validate(fields)
    except ValidationError as exc:
        fail(plain(exc), 2)
    command = command.model_copy(update={"by": acting(g, role_for_command(name), payload.get("by"))})

    async def go():
        client = await client_of(g)
        return await client.command(complaint_id, name, command)

    _print_status(g, run(go()))


@complaint_app.command("ack")
def complaint_ack(ctx: typer.Context, id: str = ID, by: str = BY, note: str = typer.Option(None)) -> None:
    """Acknowledge (first response to the customer)."""
    _send(ctx, id, "acknowledge", {"by": by, "note": note})


@complaint_app.command("triage")
def complaint_triage(
    ctx: typer.Context, id: str = ID, by: str = BY, category: str = typer.Option(None), note: str = typer.Option(None)
) -> None:
    """Classify and register the complaint; handling starts."""
    _send(ctx, id, "triage", {"by": by, "category": category, "note": note})


@complaint_app.command("plan")
def complaint_plan(ctx: typer.Context, id: str = ID, by: str = BY, plan: str = typer.Option(None)) -> None:
    """Record that the handling plan was told to the customer."""
    _send(ctx, id, "communicate_plan", {"by": by, "plan": plan})


@complaint_app.command("progress")
def complaint_progress(
    ctx: typer.Context, id: str = ID, by: str = BY, note: str = typer.Option(None),
    handling_seconds: int = typer.Option(None, "--handling-seconds", min=0),
) -> None:
    """Post a progress update to the customer (restarts the progress clock)."""
    _send(ctx, id, "post_progress", {"by": by, "note": note, "handling_seconds": handling_seconds})


@complaint_app.command("await")
def complaint_await(ctx: typer.Context, id: str = ID, by: str = BY, reason: str = typer.Option(None)) -> None:
    """Ask the customer for information (pauses triage, plan, progress and resolve clocks)."""
    _send(ctx, id, "await_customer", {"by": by, "reason": reason})


@complaint_app.command("responded")
def complaint_responded(ctx: typer.Context, id: str = ID, by: str = BY, note: str = typer.Option(None)) -> None:
    """The customer answered (resumes the paused clocks)."""
    _send(ctx, id, "customer_responded", {"by": by, "note": note})


@complaint_app.command("extend")
def complaint_extend(
    ctx: typer.Context, id: str = ID, by: str = BY,
    until: str = typer.Option(..., help="New deadline, ISO-8601 with offset."),
    reason: str = typer.Option(..., help="Why (told to the customer)."),
    clock: ClockName = typer.Option(ClockName.RESOLVE, help="Which clock to extend."),
) -> None:
    """Supervisor: move a deadline later, with a reason; the customer is notified."""
    _send(ctx, id, "extend", {"by": by, "until": parse_instant(until, "--until"), "reason": reason, "clock": clock})


@complaint_app.command("reclassify")
def complaint_reclassify(
    ctx: typer.Context, id: str = ID, by: str = BY, severity: Severity = typer.Option(None),
    category: str = typer.Option(None, help="The complaint's nature; the policy may set targets per category."),
    reason: str = typer.Option(None),
) -> None:
    """Change severity and/or category; targets are recomputed from the original receipt."""
    _send(ctx, id, "reclassify", {"by": by, "severity": severity, "category": category, "reason": reason})


@complaint_app.command("resolve")
def complaint_resolve(
    ctx: typer.Context, id: str = ID, by: str = BY, resolution: str = typer.Option(...),
    remedy: Remedy = typer.Option(None), first_contact: bool = typer.Option(False, "--first-contact"),
    at_fault: bool = typer.Option(False, "--at-fault", help="Verified as our fault: the contract may require a "
                                                            "--remedy."),
    handling_seconds: int = typer.Option(None, "--handling-seconds", min=0),
) -> None:
    """Supervisor: record the solution (and remedy, for verified at-fault complaints)."""
    _send(ctx, id, "resolve", {"by": by, "resolution": resolution, "remedy": remedy, "at_fault": at_fault,
                               "first_contact": first_contact, "handling_seconds": handling_seconds})


@complaint_app.command("notify")
def complaint_notify(ctx: typer.Context, id: str = ID, by: str = BY, note: str = typer.Option(None)) -> None:
    """Record that the customer was told the result (the survey follows)."""
    _send(ctx, id, "notify_result", {"by": by, "note": note})


@complaint_app.command("reopen")
def complaint_reopen(ctx: typer.Context, id: str = ID, by: str = BY, reason: str = typer.Option(None)) -> None:
    """Supervisor: reopen a resolved complaint (resolve and notify clocks restart)."""
    _send(ctx, id, "reopen", {"by": by, "reason": reason})


@complaint_app.command("feedback")
def complaint_feedback(
    ctx: typer.Context, id: str = ID, by: str = BY,
    csat: int = typer.Option(..., min=1, max=5), nps: int = typer.Option(None, min=0, max=10),
    ces: int = typer.Option(None, min=1, max=7), comment: str = typer.Option(None),
) -> None:
    """Record the customer's satisfaction feedback (closes the complaint)."""
    _send(ctx, id, "record_feedback", {"by": by, "csat": csat, "nps": nps, "ces": ces, "comment": comment})


@complaint_app.command("withdraw")
def complaint_withdraw(ctx: typer.Context, id: str = ID, by: str = BY, reason: str = typer.Option(None)) -> None:
    """The customer withdrew the complaint (all clocks stop)."""
    _send(ctx, id, "withdraw", {"by": by, "reason": reason})


@complaint_app.command("assign")
def complaint_assign(
    ctx: typer.Context, id: str = ID, by: str = BY,
    to: str = typer.Option(None, "--to", help="The agent who owns it (their identity)."),
    group: str = typer.Option(None, "--group", help="The desk or queue that owns it."),
    note: str = typer.Option(None),
) -> None:
    """Give the complaint an owner (agent, group or both); recorded in its timeline."""
    _send(ctx, id, "assign", {"by": by, "to": to, "group": group, "note": note})


@complaint_app.command("show")
def complaint_show(ctx: typer.Context, id: str = ID, tz: str = TZ) -> None:
    """Clocks with the time left on each, warnings, extensions, breaches, escalations and the whole timeline."""
    from sla.names import complaint_workflow_id
    from starter.client.errors import CxSlaError
    from starter.client.reading import read_status, reader, with_time_left
    from starter.service.settings import Settings

    g = globals_of(ctx)
    if tz:
        _zone_or_exit(tz)  # a bad zone is refused before anything is asked
    settings = Settings().model_copy(update={"temporal_address": g.address, "temporal_namespace": g.namespace})

    async def go():
        try:
            return await read_status(await reader(settings), id, complaint_workflow_id(id))
        except CxSlaError as exc:
            if exc.kind != "not_found":
                raise
            document = await _archived(settings, id)  # Temporal no longer keeps it: the archive may
            if document is None:
                raise
            return document

    document = with_time_left(run(go()), datetime.now(timezone.utc))
    _print_document(g, document, tz)


async def _archived(settings: Any, complaint_id: str) -> dict[str, Any] | None:
    """The archived complaint's status document; imported only for a complaint Temporal no longer keeps."""
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from activities.archive_store import ArchiveError
    from starter.client.errors import CxSlaError
    from starter.service.archive import archive_of

    try:
        return await asyncio.to_thread(archive_of(settings).status, complaint_id)
    except (SQLAlchemyError, ArchiveError) as exc:
        raise CxSlaError(f"the archive cannot be read: {str(exc).splitlines()[0][:200]}", "unavailable") from None


@complaint_app.command("list")
def complaint_list(
    ctx: typer.Context,
    state: str = typer.Option(
        None, help="received|acknowledged|in_progress|awaiting_customer|resolved|closed|withdrawn"),
    contract: str = typer.Option(None),
    severity: Severity = typer.Option(None, help="critical|major|normal|low"),
    breached: bool = typer.Option(False, "--breached", help="Only complaints with a breach."),
    at_risk: bool = typer.Option(False, "--at-risk", help="Complaints that need attention: past a warning "
                                                           "threshold or breached (with --breached: breached only)."),
    limit: int = typer.Option(1000, min=1),
    assignee: str = typer.Option(None, "--assignee", help="Only complaints assigned to this agent."),
    tz: str = typer.Option(None, "--tz", help="Time zone of the deadlines shown; default: the zone of the "
                                              "listed contracts' calendar when they share one, else UTC."),
    category: str = typer.Option(None, help="Triage category (searches the archive of ended complaints)."),
    customer_id: str = typer.Option(None, "--customer-id", help="Searches the archive of ended complaints."),
    received_from: str = typer.Option(None, "--received-from", help="Received at or after (date or ISO-8601)."),
    received_to: str = typer.Option(None, "--received-to", help="Received before (date or ISO-8601)."),
) -> None:
    """Complaints Temporal keeps (visibility), nearest deadline first, then ended ones from the archive that it no
    longer keeps."""
    from starter.cli.render import list_table

    g = globals_of(ctx)
    if tz:
        _zone_or_exit(tz)
    start, end = since(received_from, "--received-from"), since(received_to, "--received-to")

    async def go():
        client = await client_of(g)
        rows = await client.list(state=state, contract=contract, breached=breached, at_risk=at_risk, limit=limit,
                                 severity=severity.value if severity else None, assignee=assignee, category=category,
                                 customer_id=customer_id, received_from=start, received_to=end)
        policy = client.policy
        zones = {policy.calendars[policy.contracts[r["contract"]].calendar].timezone
                 for r in rows if r.get("contract") in policy.contracts}
        return rows, zones

    rows, zones = run(go())
    rows.sort(key=lambda row: (row["next_deadline"] is None, row["next_deadline"] or "", row["id"]))
    if g.json:
        emit(g, rows)
        return
    zone_name = tz or (zones.pop() if len(zones) == 1 else "UTC")
    out.print(f"{len(rows)} complaint(s) · times in {zone_name}", highlight=False)
    out.print(list_table(rows, _zone_or_exit(zone_name), datetime.now(timezone.utc)))


@complaint_app.command("export")
def complaint_export(
    ctx: typer.Context,
    received_from: str = typer.Option(..., "--from", help="Received at or after (date or ISO-8601)."),
    received_to: str = typer.Option(..., "--to", help="Received before (date or ISO-8601)."),
    fmt: str = typer.Option("csv", "--format", help="csv|jsonl"),
    contract: str = typer.Option(None),
    personal: bool = typer.Option(False, "--personal", help="Include the customer's name and contact."),
    output: str = typer.Option(None, "-o", "--output", help="File to write (default stdout)."),
) -> None:
    """The archived complaints received in a period, with their audit trails, for a spreadsheet or an auditor."""
    import sys

    from sqlalchemy.exc import SQLAlchemyError

    from activities.archive_store import EXPORT_FORMATS, ArchiveError, Filters, export_lines
    from starter.service.archive import archive_of
    from starter.service.settings import Settings

    if fmt not in EXPORT_FORMATS:
        fail(f"--format: {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}", 2)
    filters = Filters(contract=contract, received_from=since(received_from, "--from"),
                      received_to=since(received_to, "--to"))
    store = archive_of(Settings())
    lines = export_lines(store.export(filters, personal=personal), fmt, personal=personal)
    try:
        if output:
            with open(output, "w", encoding="utf-8", newline="") as handle:
                handle.writelines(lines)
        else:
            sys.stdout.writelines(lines)
    except (SQLAlchemyError, ArchiveError) as exc:
        fail(f"the archive cannot be read: {str(exc).splitlines()[0][:200]}")
