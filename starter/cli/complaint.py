"""`cxsla complaint ...`: open complaints and move them through their lifecycle."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from sla.commands import Assign, OpenComplaint
from sla.errors import plain
from sla.policy import PolicyError, load_policy
from sla.status import ComplaintStatus
from sla.vocabulary import Channel, ClockName, Kind, Remedy, Severity
from starter.cli.app import BY, Globals, app, client_of, emit, fail, globals_of, out, parse_instant, run, since, when
from starter.service.archive import EXPORT_FORMATS, ArchiveError, Filters, archive_of, export_lines
from starter.service.settings import Settings

ID = typer.Argument(..., help="Complaint id.")
complaint_app = typer.Typer(no_args_is_help=True, help="Open complaints and move them through their lifecycle.")
app.add_typer(complaint_app, name="complaint")


def status_table(status: ComplaintStatus) -> Table:
    category = f" · {status.category}" if status.category else ""
    table = Table(title=f"complaint {status.id} · {status.contract} · {status.severity.value}{category} · "
                        f"{status.state.value}")
    for column in ("clock", "state", "target", "deadline (UTC)", "met", "breached"):
        table.add_column(column)
    for clock in status.clocks:
        deadline = when(clock.deadline) + (" (provisional)" if clock.provisional else "")
        table.add_row(
            f"{clock.name.value}#{clock.instance}", clock.state.value, clock.target, deadline,
            when(clock.met_at), when(clock.breached_at),
        )
    return table


PROVISIONAL_NOTE = ("  provisional: computed on a year whose official holidays are not published yet (weekly pattern "
                    "only); publish the year and run `cxsla calendar refresh`")


def _print_status(g: Globals, status: ComplaintStatus, note: str | None = None) -> None:
    if g.json:
        emit(g, status.public())
        return
    if note:
        out.print(note)
    out.print(status_table(status))
    for breach in status.breaches:
        out.print(f"  breach {breach.clock.value} ({breach.breach_class.value}) at {when(breach.at)}")
    for step in status.escalations:
        out.print(f"  escalated {step.clock.value} level {step.level} → {step.to} at {when(step.at)}")
    if any(clock.provisional for clock in status.clocks):
        out.print(PROVISIONAL_NOTE, highlight=False)
    for entry in status.timeline:
        extra = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("type", "at", "by"))
        out.print(f"  {entry['at']} {entry['type']} by {entry['by'] or '-'}" + (f": {extra}" if extra else ""),
                  highlight=False)
    if status.archived:
        out.print(f"  archived at {status.archived.get('at')} (Temporal no longer keeps the workflow)",
                  highlight=False)
    if status.engine_error:
        out.print(f"  [bold red]clocks not evaluated:[/] {status.engine_error} (retrying)", highlight=False)
    for item in status.undelivered:
        out.print(f"  undelivered {item.action_id} since {when(item.fired_at)} ({item.attempts} attempts): "
                  f"{item.last_error}", highlight=False)


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

    async def go():
        client = await client_of(g)
        return await client.open(request)

    opened = run(go())
    if g.json:
        emit(g, {**opened.status.public(), "created": opened.created})
    else:
        _print_status(g, opened.status, "opened" if opened.created else f"complaint {id} already exists")


def _send(ctx: typer.Context, complaint_id: str, name: str, payload: dict[str, Any]) -> None:
    g = globals_of(ctx)

    async def go():
        client = await client_of(g)
        return await client.command(complaint_id, name, {k: v for k, v in payload.items() if v is not None})

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
    try:
        Assign(to=to, group=group, note=note, by=by)  # refuse before connecting
    except ValidationError as exc:
        fail(plain(exc), 2)
    _send(ctx, id, "assign", {"by": by, "to": to, "group": group, "note": note})


@complaint_app.command("show")
def complaint_show(ctx: typer.Context, id: str = ID) -> None:
    """Clocks, breaches, escalations and timeline of one complaint."""
    g = globals_of(ctx)

    async def go():
        client = await client_of(g)
        return await client.status(id)

    _print_status(g, run(go()))


@complaint_app.command("list")
def complaint_list(
    ctx: typer.Context,
    state: str = typer.Option(
        None, help="received|acknowledged|in_progress|awaiting_customer|resolved|closed|withdrawn"),
    contract: str = typer.Option(None),
    breached: bool = typer.Option(False, "--breached", help="Only complaints with a breach."),
    at_risk: bool = typer.Option(False, "--at-risk", help="Only complaints past a warning threshold."),
    limit: int = typer.Option(1000, min=1),
    assignee: str = typer.Option(None, "--assignee", help="Only complaints assigned to this agent."),
    severity: Severity = typer.Option(None, help="critical|major|normal|low"),
    category: str = typer.Option(None, help="Triage category (searches the archive of ended complaints)."),
    customer_id: str = typer.Option(None, "--customer-id", help="Searches the archive of ended complaints."),
    received_from: str = typer.Option(None, "--received-from", help="Received at or after (date or ISO-8601)."),
    received_to: str = typer.Option(None, "--received-to", help="Received before (date or ISO-8601)."),
) -> None:
    """Complaints Temporal keeps (visibility), then ended ones from the archive that it no longer keeps."""
    g = globals_of(ctx)
    start, end = since(received_from, "--received-from"), since(received_to, "--received-to")

    async def go():
        client = await client_of(g)
        return await client.list(state=state, contract=contract, breached=breached, at_risk=at_risk, limit=limit,
                                 severity=severity.value if severity else None, category=category,
                                 customer_id=customer_id, received_from=start, received_to=end, assignee=assignee)

    rows = run(go())
    table = Table()
    for column in ("id", "contract", "severity", "state", "breached", "at_risk", "next_deadline"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("id", "contract", "severity", "state", "breached", "at_risk",
                                               "next_deadline")))
    emit(g, rows, table)


@complaint_app.command("export")
def complaint_export(
    ctx: typer.Context,
    received_from: str = typer.Option(..., "--from", help="Received at or after (date or ISO-8601)."),
    received_to: str = typer.Option(..., "--to", help="Received before (date or ISO-8601)."),
    fmt: str = typer.Option("csv", "--format", help="csv|jsonl"),
    contract: str = typer.Option(None),
    personal: bool = typer.Option(False, "--personal", help="Include the customer's name, contact and summary."),
    output: str = typer.Option(None, "-o", "--output", help="File to write (default stdout)."),
) -> None:
    """The archived complaints received in a period, with their audit trails, for a spreadsheet or an auditor."""
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
