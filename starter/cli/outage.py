"""`cxsla outage ...`: service interruptions: open, restore, show."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from sla.errors import plain
from sla.interruptions import InterruptionStatus, ReportInterruption, Restore
from sla.policy import PolicyError, load_policy
from starter.cli.app import (
    BY,
    CONTRACT,
    Globals,
    acting,
    app,
    assessments_of,
    emit,
    fail,
    globals_of,
    out,
    parse_instant,
    run,
    when,
)
from starter.service.tokens import Role

outage_app = typer.Typer(no_args_is_help=True, help="Service interruptions: open, restore, show.")
app.add_typer(outage_app, name="outage")


def _print_outage(g: Globals, status: InterruptionStatus, note: str | None = None) -> None:
    if g.json:
        emit(g, status.model_dump(mode="json", by_alias=True))
        return
    if note:
        out.print(note)
    clock = status.clock
    out.print(f"interruption {status.outage_id} ({status.contract}): {status.state}, since {when(status.started_at)}"
              + (f", restored {when(status.restored_at)} after {status.duration_seconds:,.0f}s"
                 if status.restored_at else "")
              + (f"; major breach at {when(clock.breached_at)}" if clock and clock.breached_at else
                 f"; major breach at {when(clock.deadline)} unless restored" if clock else ""))


@outage_app.command("open")
def outage_open(
    ctx: typer.Context, id: str = typer.Option(..., "--id"), contract: str = CONTRACT, by: str = BY,
    started_at: str = typer.Option(None, "--started-at", help="ISO-8601 with offset; default now."),
    summary: str = typer.Option(None),
) -> None:
    """Report a service interruption; past the contract's threshold (default 4 h) it is a major breach."""
    g = globals_of(ctx)
    try:
        request = ReportInterruption(id=id, contract=contract, started_at=parse_instant(started_at, "--started-at"),
                                     summary=summary, by=by)
        load_policy(g.policy).assessment(contract)
    except (ValidationError, PolicyError) as exc:
        fail(plain(exc) if isinstance(exc, ValidationError) else str(exc), 2)
    request = request.model_copy(update={"by": acting(g, Role.SUPERVISOR, by)})

    async def go():
        return await (await assessments_of(g)).report_outage(request)

    status, created = run(go())
    if g.json:
        emit(g, {**status.model_dump(mode="json", by_alias=True), "created": created})
    else:
        _print_outage(g, status, "reported" if created else f"interruption {id} already exists")


@outage_app.command("restore")
def outage_restore(
    ctx: typer.Context, id: str = typer.Argument(...), by: str = BY,
    restored_at: str = typer.Option(None, "--restored-at", help="ISO-8601 with offset; default now."),
    note: str = typer.Option(None),
) -> None:
    """The service is back: ends the interruption and records its duration."""
    g = globals_of(ctx)
    command = Restore(restored_at=parse_instant(restored_at, "--restored-at"), note=note,
                      by=acting(g, Role.SUPERVISOR, by))

    async def go():
        return await (await assessments_of(g)).restore_outage(id, command)

    _print_outage(g, run(go()))


@outage_app.command("show")
def outage_show(ctx: typer.Context, id: str = typer.Argument(...)) -> None:
    """An interruption's state, duration and breach."""
    g = globals_of(ctx)

    async def go():
        return await (await assessments_of(g)).outage_status(id)

    _print_outage(g, run(go()))
